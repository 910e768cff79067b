/* The logger thread: the only writer of log output. It drains every
 * thread's log ring (log_ring.h), oldest line first, into the sinks and
 * the watchers; while it runs it is the log's drain (log_set_drain). */
#ifndef TL_LOGGER_H
#define TL_LOGGER_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct thread;
struct log_line;

enum log_format {
	LOG_FORMAT_TEXT,
	LOG_FORMAT_JSON,
};

/* Where the log goes; several sinks at once are fine. */
struct logger_config {
	const char *file; /* NULL for none */
	int format;       /* of stderr, the file and watchers */
	bool use_stderr;  /* everything to fd 2 (else errors only) */
	uid_t file_uid;   /* owner of a log file we create; -1: ours */
	gid_t file_gid;
	bool syslog;
	const char *syslog_socket; /* NULL: /dev/log */
	bool journald;
};

/* Written by the logger only; rows as CONN_COUNTERS_ROWS. A line is
 * failed when a sink meant to get it did not: a write or send that
 * failed, a file that could not be reopened (the line went to the old
 * one), a sink waiting for a retry. */
#define LOGGER_COUNTERS_ROWS(X)                                                \
	X(lines_written, COUNTER, .stat = "log_worker_written",                \
	    .thread = "lines_written", .json = "lines_written",                \
	    .prom = "threadline_log_lines_written_total",                      \
	    .help = "Log lines the logger wrote.")                             \
	X(lines_failed, COUNTER, .thread = "lines_failed",                     \
	    .json = "lines_failed",                                            \
	    .prom = "threadline_log_lines_failed_total",                       \
	    .help = "Log lines a sink meant to get them did not (a failed "    \
	            "reopen, a full disk, syslog or the journal not "          \
	            "listening).")

struct logger_counters {
#define LOGGER_COUNTERS_FIELD(f, ...) _Atomic uint64_t f;
	LOGGER_COUNTERS_ROWS(LOGGER_COUNTERS_FIELD)
#undef LOGGER_COUNTERS_FIELD
};

/* Open the sinks before any thread starts, so a bad path fails start-up. */
int logger_open(const struct logger_config *, char *err, size_t errlen);
void logger_main(struct thread *);
struct logger_counters *logger_counters(void);
/* Copy lines up to this level to stderr; -1 for none. */
void logger_stderr_level(int);
/* Called from the main thread on SIGHUP and SIGUSR1. */
void logger_reopen(void);
/* Drain every ring, close the sinks and return from logger_main. */
void logger_stop(void);
/* Release what the logger thread used; after it has been joined. */
void logger_close(void);
/* Format l as the configured sinks do. */
size_t logger_format_line(char *, size_t, const struct log_line *);

#endif
