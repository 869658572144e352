/* SPDX-License-Identifier: MIT */
/*
 * loglevel.h - the one log vocabulary of the engines: they log through a
 * callback of their ops table with one of these levels, and the daemon maps
 * them to its own output (daemon/log.h uses the same enum).
 */
#ifndef VMSVC_ENGINE_LOGLEVEL_H
#define VMSVC_ENGINE_LOGLEVEL_H

#include <stdarg.h>

enum log_level { LOG_LVL_ERR = 0, LOG_LVL_WARN, LOG_LVL_INFO, LOG_LVL_DEBUG };

/* The log callback of vu_ops and vsk_ops: one line, without a newline. */
typedef void eng_log_fn(void *opaque, enum log_level level, const char *fmt, va_list ap);

#endif
