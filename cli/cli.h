/* SPDX-License-Identifier: MIT */
/*
 * cli.h - the vmsvc command: one dispatcher (vmsvc.c) with a table of
 * subcommands, one file per subcommand (cmd-*.c).
 *
 * Exit codes of every subcommand: EXIT_OK (0) success, EXIT_FAIL (1) the
 * operation failed, EXIT_USAGE (2) the command line was wrong.
 */
#ifndef VMSVC_CLI_H
#define VMSVC_CLI_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <vmsvc/vmsvc.h>

enum { EXIT_OK = 0, EXIT_FAIL = 1, EXIT_USAGE = 2 };

/* A subcommand: argv[0] is its own name ("service"). Returns an exit code. */
struct cli_command {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *summary;
};

/* Prints "vmsvc: <message>\n" to stderr (printf format). */
void cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Prints "vmsvc: <message>\nTry 'vmsvc <cmd> --help'.\n" and returns
 * EXIT_USAGE, for "return cli_usage_error(...)". */
int cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* True if argv[i] for some i in [1, argc) is "--help" or "-h". */
bool cli_wants_help(int argc, char **argv);

/* The config folder: $VMSVC_CONFIG_DIR, else /etc/vmsvc (or --config-dir). */
const char *cli_config_dir(void);
/* The runtime folder: $VMSVC_RUNTIME_DIR, else /run/vmsvc (or --runtime-dir). */
const char *cli_runtime_dir(void);

/* --- cli-parse.c: what the command line names --- */
/* Parses a u32 in decimal or 0x hex. Returns 0, -EINVAL or -ERANGE; prints nothing. */
int cli_parse_u32(const char *s, uint32_t *out);
/* Parses a GUID; on failure prints "'X' is not a GUID (...)" and returns -EINVAL. */
int cli_parse_guid(const char *s, hv_guid_t *out);
/* A service on the command line: a registered name, a GUID or a vsock port.
 * Sets *id and a label for messages ("'echo'", a GUID, "port 5000").
 * Prints why and returns -ENOENT when it is none of these. */
int cli_resolve_service(const char *arg, hv_guid_t *id, char *label, size_t size);
/* A VM on the command line: 'loopback', 'parent', a VmId or a VM's name.
 * Sets *id and a label ("VM 'g1'"); prints why and returns -ENOENT. */
int cli_resolve_vm(const char *arg, hv_guid_t *id, char *label, size_t size);
/* A label for a peer's VmId: "VM 'g1'", "the host (loopback)", ... */
void cli_vm_label(const hv_guid_t *vm, char *label, size_t size);
struct vmt_table;
struct vmt_vm;
/* A VM of table t by name or VmId; NULL after saying why (the file is
 * broken, or no such VM: the ones that exist are listed). */
const struct vmt_vm *cli_find_vm(const struct vmt_table *t, const char *key);

/* --- cli-config.c: for the subcommands that read the config folder --- */
struct conf_problems;
struct json_object;
/* Prints each problem as "vmsvc: warning: FILE:LINE: MESSAGE" to stderr,
 * then how many WHAT ("service", "VM") entries are skipped. */
void cli_print_problems(const struct conf_problems *p, const char *what);
/* Prints o, pretty, to stdout, with a newline. */
void cli_print_json(struct json_object *o);
/* For getopt_long with an optstring starting with ':': reports the option
 * that c ('?' or ':') is about and returns EXIT_USAGE. */
int cli_option_error(const char *cmd, int c, char **argv);

/* A line of 'list': NAME, an id (GUID, VmId), a number (port, CID), a
 * state, a fifth column (owner, connections) and, for tables with a sixth
 * column (vm's HEARTBEAT), that one. */
struct cli_row {
	const char *name;
	hv_guid_t id;
	uint32_t number;
	const char *state;
	char last[160];
	char extra[48];
};

/* A subcommand family over one config table (service, vm). The callbacks
 * get an entry of the table (struct reg_service, struct vmt_vm). */
struct cli_table {
	const char *cmd;   /* "service": for messages and 'Try vmsvc CMD --help' */
	const char *dir;   /* the table's folder in CONFIG ("services.d") */
	const char *what;  /* "service": in the skipped-entries summary */
	const char *needs; /* "a service NAME or GUID": what show and the like take */
	void (*usage)(FILE *out);
	const char *columns[6]; /* the header of 'list' (the sixth one optional) */
	const char *(*name)(const void *entry);
	void (*row)(const void *entry, struct cli_row *row);
	struct json_object *(*json)(const void *entry); /* list --json, show --json */
	void (*show)(const void *entry);		/* show without --json */
};
/* A subcommand of a family: argv[0] is its name ("add"). */
struct cli_subcommand {
	const char *name;
	int (*run)(int argc, char **argv);
};
/* Runs the subcommand argv[1] of the family (or --help); n entries in sub. */
int cli_table_dispatch(const struct cli_table *c, const struct cli_subcommand *sub, size_t n,
		       int argc, char **argv);
/* Handles what getopt_long returned beyond a subcommand's own options:
 * --help (usage on stdout, EXIT_OK) or an error (EXIT_USAGE). */
int cli_table_getopt_done(const struct cli_table *c, int opt, char **argv);
/* Parses [--json] (if allow_json) and exactly nargs positionals, which
 * start at optind. Returns -1 to go on, or an exit code. */
int cli_table_parse_simple(const struct cli_table *c, int argc, char **argv, bool allow_json,
			   bool *json, int nargs);
/* For the result r of loading the table: says that the folder cannot be
 * read and returns EXIT_FAIL, or prints the problems p and returns 0. */
int cli_table_loaded(const struct cli_table *c, int r, const struct conf_problems *p);
/* Says that the table's folder cannot be written (err: negative errno). */
void cli_table_write_error(const struct cli_table *c, int err);
/* 'list': the n entries at(t, 0) ... at(t, n - 1) as a JSON array, or as
 * a header and a line each, the NAME column as wide as the longest name. */
void cli_table_list(const struct cli_table *c, const void *t, size_t n,
		    const void *(*at)(const void *t, size_t i), bool json);
/* 'show': one entry as JSON or as c->show prints it. */
void cli_table_show(const struct cli_table *c, const void *entry, bool json);

/* --- cli-daemon.c: talking to vmsvcd --- */
/* Prints why vmsvcd could not be reached (err: negative errno of ctl_call). */
void cli_daemon_error(int err);
/* The VM's state as vmsvcd reports it ("stopped", "connected", "running")
 * and its open connections; "stopped", 0 when vmsvcd is not running. */
void cli_vm_state(const char *name, const char **state, unsigned *connections);
/* VM name's entry in vmsvcd's status reply (asked once per process), or
 * NULL when vmsvcd does not run, refuses (a warning is printed) or does
 * not know the VM. Borrowed: valid until the process ends. */
struct json_object *cli_vm_status(const char *name);
/* VM name's entry in a status reply, or NULL. Borrowed from status. */
struct json_object *cli_status_find(struct json_object *status, const char *name);
/* Sends vmsvcd the request {"op": op} (5 s): 0 and *reply (the caller
 * puts it), or a negative errno: ctl_call's, -EACCES when vmsvcd refused
 * for want of permission, -EPROTO when it refused otherwise (*reply then
 * holds the refusal). */
int cli_daemon_call(const char *op, struct json_object **reply);
/* cli_daemon_call("status"): vmsvcd's status now (not cached). */
int cli_daemon_status_now(struct json_object **reply);

/* --- cli-ic.c: integration services (heartbeat, shutdown, session) --- */
/* vmsvcd's status word in human words ("no-contact" -> "No Contact");
 * an unknown word as it is, NULL as "-". */
const char *cli_ic_word(const char *status);
/* A status for a table: the word, with the heartbeat's application state
 * when it is OK: "OK (critical)", and also "OK (healthy)" if healthy_too. */
void cli_ic_status_text(const char *status, const char *app, bool healthy_too, char *buf,
			size_t size);
/* A VM's heartbeat object: vmsvcd's (from status) or, when vmsvcd does not
 * tell, the config's view of a VM without QEMU: {"status": "off"} or
 * {"status": "disabled"}. A new reference: the caller puts it. */
struct json_object *cli_hb_object(const struct vmt_vm *vm);
/* Prints the heartbeat lines of 'vm show' (status, last beat, uptime,
 * boot id, guest OS, ...: what hb holds). */
void cli_hb_print(struct json_object *hb);
/* VM vm's integration services as vmsvcd's "integration" operation lists
 * them, or, when vmsvcd does not answer, as the registry and vms.d say
 * (statuses Off or Disabled). A new reference: the caller puts it. */
struct json_object *cli_ic_services(const struct vmt_vm *vm);
/* Prints services as a table: NAME SHORT ENABLED STATUS, and GUID PORT if
 * ids; each line starts with indent. */
void cli_ic_print_table(struct json_object *services, const char *indent, bool ids);
/* ms as people read a duration: "0.4 s", "12 s", "5 min 3 s", "2 h 13 min",
 * "3 d 4 h". */
void cli_format_ms(uint64_t ms, char *buf, size_t size);

/* --- cli-openmetrics.c: vmsvc stats --format=openmetrics --- */
/* Prints vmsvcd's "stats" and "status" replies (without "ok") as
 * OpenMetrics text: vmsvc_* families, then "# EOF". */
void cli_openmetrics_print(FILE *out, struct json_object *stats, struct json_object *status);

/* --- cli-hv.c: for the subcommands that connect or listen (nc, listen) --- */
/* Prints what an hv_connect (or, listening, hv_bind/hv_listen) errno means
 * for VM vm and service svc, and what to do about it. */
void cli_explain_hv_error(int err, const hv_guid_t *vm, const char *vlabel, const hv_guid_t *svc,
			  const char *slabel, bool listening);
/* Copies in to sock and sock to out until both ends are done; the end of
 * in becomes shutdown(SHUT_WR). Returns an exit code. */
int cli_bridge(int sock, int in, int out);

/* --- cli-tty.c: the host terminal of exec -t and shell --- */
struct winsize;
/* Raw mode on terminal fd (restored by cli_tty_restore, also at exit). 0 or -errno. */
int cli_tty_raw(int fd);
/* Gives the terminal its settings from before cli_tty_raw back (no-op otherwise). */
void cli_tty_restore(void);
/* The terminal's size: 0, or -errno when fd is no terminal (or says 0x0). */
int cli_tty_size(int fd, struct winsize *ws);

/* --- cli-session.c: VM Session requests (exec, shell) through vmsvcd; the
 * stream itself is cli-conn.h's, shared with cp --- */
/* Exit codes of exec and shell for vmsvc's own failures (as env and docker),
 * and for a time limit that ran out (as timeout(1); vm shutdown too). */
enum {
	EXIT_TIMED_OUT = 124,
	EXIT_SESSION_FAIL = 125,
	EXIT_CANNOT_EXEC = 126,
	EXIT_NOT_FOUND = 127
};
struct cli_session {
	const char *cmd;   /* "exec", "shell": for messages */
	const char *vm;	   /* name or VmId, as vmsvcd takes it */
	const char *user;  /* guest user (name or uid); NULL: the agent's default */
	const char *cwd;   /* NULL: the user's home */
	const char **argv; /* argc + NULL (empty for a login shell) */
	uint32_t argc;
	const char **env; /* "NAME=VALUE" */
	uint32_t envc;
	uint32_t flags;	     /* SESS_EXEC_* */
	uint32_t timeout_ms; /* 0: none */
	bool shell;	     /* SIGTERM and SIGHUP end the session instead of being forwarded */
};
/* Runs the request to its end: the command's exit status, 128+N for a
 * signal, or EXIT_SESSION_FAIL / EXIT_CANNOT_EXEC / EXIT_NOT_FOUND with a
 * message on stderr. */
int cli_session_run(const struct cli_session *s);

/* --- cli-progress.c: a progress bar on stderr (one line redrawn with \r) --- */
struct xfer_progress;
struct cli_progress {
	const char *name;
	uint64_t total; /* 0: as the progress says (what META announced so far) */
	uint64_t t0, last;
};
void cli_progress_start(struct cli_progress *b, const char *name, uint64_t total);
/* Redraws at most 4 times a second; final: the last state and a newline. */
void cli_progress_draw(struct cli_progress *b, const struct xfer_progress *p, bool final);

/* --- cli-copy.c: one vmsvc cp request (PUT or GET) through vmsvcd --- */
struct cli_copy {
	const char *vm;
	bool put;	    /* host -> guest */
	const char *local;  /* PUT: the source; GET: the destination */
	const char *remote; /* the guest path */
	uint32_t flags;	    /* SESS_PUT_* */
	bool progress;	    /* draw a progress bar on stderr */
};
/* Copies one source: EXIT_OK, EXIT_FAIL (with a message: nothing
 * uncommitted is left), EXIT_SESSION_FAIL (no session), or 128+N when
 * signal N interrupted it. */
int cli_copy_run(const struct cli_copy *q);

int cmd_exec(int argc, char **argv);
int cmd_cp(int argc, char **argv);
int cmd_shell(int argc, char **argv);
int cmd_nc(int argc, char **argv);
int cmd_listen(int argc, char **argv);
int cmd_stats(int argc, char **argv);
int cmd_guid(int argc, char **argv);
int cmd_service(int argc, char **argv);
int cmd_vm(int argc, char **argv);
/* vmsvc vm integration, vmsvc vm shutdown (argv[0] is the subcommand). */
int cmd_vm_integration(int argc, char **argv);
int cmd_vm_shutdown(int argc, char **argv);
/* vmsvc vm freeze, vmsvc vm thaw (cmd-vm-freeze.c). */
int cmd_vm_freeze(int argc, char **argv);
int cmd_vm_thaw(int argc, char **argv);
/* VM vm's freeze state as vmsvcd tells it ({"state", "mounts",
 * "thaw_in_ms"}), a new reference, or NULL; and its 'vm show' line. */
struct json_object *cli_fz_object(const char *vm);
void cli_fz_print(const char *vm);
/* VM key (a name or VmId) of CONFIG/vms.d: 0 with *vm in *t (the caller
 * frees *t), or EXIT_FAIL after saying why; the folder's warnings printed. */
int cli_vm_load(const char *key, struct vmt_table **t, const struct vmt_vm **vm);
/* vmsvc vm libvirt-xml (cmd-vm-libvirt.c; the static CLI has a stub that
 * says it lacks it). */
int cmd_vm_libvirt_xml(int argc, char **argv);
/* The values of QEMU's -chardev and -device options that give VM name its
 * vsock device on RUNDIR/vms/NAME.vhost (commas escaped for QEMU). Returns
 * 0 with two strings the caller frees, or -ENOMEM. */
int cli_vm_qemu_vsock(const char *name, char **chardev, char **device);

#endif /* VMSVC_CLI_H */
