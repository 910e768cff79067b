/* The logger thread: the only writer of log output. Each thread owns a
 * bounded single-producer queue (a log ring) that the logger drains. */
#ifndef TL_LOGGER_H
#define TL_LOGGER_H

#include <stdint.h>
#include <time.h>

struct service;
struct log_ring;

/* Slots per thread; a full ring drops the line and counts it. */
#define LOG_RING_SLOTS 512

struct log_ring *log_ring_new(void);
void log_ring_free(struct log_ring *);
/* Queue one line; -1 when the ring is full (the line is counted dropped). */
int log_ring_push(
    struct log_ring *, const struct timespec *, int, const char *, size_t);
uint64_t log_ring_dropped(struct log_ring *);

/* Open the sinks before any thread starts, so a bad path fails start-up.
 * file may be NULL; use_stderr writes to fd 2 as well. */
int logger_open(const char *file, int use_stderr, char *err, size_t errlen);
void logger_main(struct service *);
int logger_running(void);
/* Copy lines up to this level to stderr; -1 for none. */
void logger_stderr_level(int);
/* Called from the main thread on SIGHUP. */
void logger_reopen(void);
/* Drain every ring, close the sinks and return from logger_main. */
void logger_stop(void);
/* Write what is queued and terminate the process; used by fatal(). */
void logger_flush_exit(int) __attribute__((noreturn));
/* Wake the logger after a push. */
void logger_kick(void);

#endif
