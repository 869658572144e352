/* SPDX-License-Identifier: MIT */
/* log.h - vmsvcd's leveled logging to stderr ("vmsvcd: <level>: message"). */
#ifndef VMSVCD_LOG_H
#define VMSVCD_LOG_H

#include "loglevel.h" /* enum log_level, shared with the engines */

/* Messages above this level are dropped (default INFO; --verbose gives DEBUG). */
void log_set_level(enum log_level level);
/* The highest level logged now (skip formatting above it). */
enum log_level log_level_max(void);
void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The same with a va_list, for engines that log through a callback. */
void log_vmsg(enum log_level level, const char *fmt, va_list ap);

#define log_err(...)   log_msg(LOG_LVL_ERR, __VA_ARGS__)
#define log_warn(...)  log_msg(LOG_LVL_WARN, __VA_ARGS__)
#define log_info(...)  log_msg(LOG_LVL_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_LVL_DEBUG, __VA_ARGS__)

#endif
