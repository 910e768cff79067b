/* The logger thread: the only writer of log output. Each thread owns a
 * bounded single-producer queue (a log ring) that the logger drains. */
#ifndef TL_LOGGER_H
#define TL_LOGGER_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

struct service;
struct log_ring;
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
	bool syslog;
	bool journald;
};

/* Slots per thread; a full ring drops the line and counts it. Room for a
 * few busy ticks of the logger at 70,000 lines/s from one thread. */
#define LOG_RING_SLOTS 2048

struct log_ring *log_ring_new(void);
void log_ring_free(struct log_ring *);
/* A ring this full wakes the logger whatever the level. */
#define LOG_KICK_LINES (LOG_RING_SLOTS / 2)

/* Queue one line; returns the lines now queued, or -1 when the ring is
 * full (the line is counted dropped). */
int log_ring_push(struct log_ring *, const struct log_line *);
uint64_t log_ring_dropped(struct log_ring *);

/* Open the sinks before any thread starts, so a bad path fails start-up. */
int logger_open(const struct logger_config *, char *err, size_t errlen);
void logger_main(struct service *);
int logger_running(void);
/* Copy lines up to this level to stderr; -1 for none. */
void logger_stderr_level(int);
/* Called from the main thread on SIGHUP and SIGUSR1. */
void logger_reopen(void);
/* Drain every ring, close the sinks and return from logger_main. */
void logger_stop(void);
/* Release what the logger thread used; after it has been joined. */
void logger_close(void);
/* Write what is queued and terminate the process; used by fatal(). */
void logger_flush_exit(int) __attribute__((noreturn));
/* Format l as the configured sinks do. */
size_t logger_format_line(char *, size_t, const struct log_line *);
/* Wake the logger after a push. */
void logger_kick(void);

#endif
