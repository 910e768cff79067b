/* Logging for every thread. A call formats the message in the calling
 * thread and queues it, with that thread's identity and the call site, on
 * the thread's own ring (log_ring.h) for the drain (the logger thread) to
 * write; it never blocks. A disabled level costs a few loads and a branch:
 * each thread reads its own level from its entry in the thread table. */
#ifndef TL_LOG_H
#define TL_LOG_H

#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <time.h>

#include "log_line.h"
#include "thread.h"

enum log_level {
	LOG_LVL_FATAL,
	LOG_LVL_ERROR,
	LOG_LVL_WARN,
	LOG_LVL_NOTICE,
	LOG_LVL_INFO,
	LOG_LVL_DEBUG,
};

/* Access lines (one per command) are switched on and off on their own;
 * they and slow-request lines are all fields (key=value words), which the
 * JSON format writes as members. */
enum log_category {
	LOG_CAT_GENERAL,
	LOG_CAT_ACCESS,
	LOG_CAT_SLOW,
	/* This and after: memcached's watcher events (log_event.h). */
	LOG_CAT_EVENTS,
};

/* The level of threads without one of their own, and the default. */
extern _Atomic int log_verbosity;
extern _Atomic bool log_access_on;

static inline int
log_level_self(void)
{
	struct thread *t = thread_self();

	return atomic_load_explicit(
	    t ? &t->log_level : &log_verbosity, memory_order_relaxed);
}

/* Who writes queued lines. Until one is set (start-up), after it is
 * cleared (shutdown) and in threads outside the table, lines go straight
 * to stderr. */
struct log_drain {
	/* A line worth writing soon was queued. */
	void (*wake)(void);
	/* Write everything queued, then end the process with status. */
	void (*flush_exit)(int) __attribute__((noreturn));
};
void log_set_drain(const struct log_drain *);
/* Give every thread in the table its ring and the global level; after
 * threads_init(). */
void log_threads_init(void);
void log_threads_free(void);

const char *log_level_name(int);
/* A level from its name ("debug") or memcached's verbosity number; -1 when
 * it is neither. */
int log_level_parse(const char *);
/* memcached's verbosity number N as a level, as N -v's set it: 0 notice
 * (start, stop, warnings), 1 and 2 info (each connection; -vv's access
 * lines are a switch of their own), 3 and up debug; and back. */
int log_level_of_verbosity(unsigned long);
int log_verbosity_of_level(int);
const char *log_category_name(int);
/* A category from its name; -1 for none of general, access, slow. */
int log_category_parse(const char *);
/* The global level; each thread has its own (log_level_self()). */
int log_level_global(void);
/* Set every thread's level. */
void log_set_level(int);
/* Set the level of one thread ("worker-1") or of a role ("worker"); returns
 * how many threads matched. */
int log_set_thread_level(const char *, int);

void log_emit_at(int, int, const char *, int, const char *, const char *, ...)
    __attribute__((format(printf, 6, 7)));
/* A message formatted by the caller (len bytes), for hot paths that
 * cannot afford printf. */
void log_emit_raw(
    int, int, const char *, int, const char *, const char *, size_t);
/* Like log_emit_at but appends ": strerror(errno)". */
void log_emit_errno_at(int, const char *, int, const char *, const char *, ...)
    __attribute__((format(printf, 5, 6)));

#define log_enabled(lvl) ((lvl) <= log_level_self())
#define log_at(lvl, ...)                                                       \
	do {                                                                   \
		if (log_enabled(lvl))                                          \
			log_emit_at(lvl, LOG_CAT_GENERAL, __FILE__, __LINE__,  \
			    __func__, __VA_ARGS__);                            \
	} while (0)

#define log_error(...)  log_at(LOG_LVL_ERROR, __VA_ARGS__)
#define log_warnx(...)  log_at(LOG_LVL_WARN, __VA_ARGS__)
#define log_notice(...) log_at(LOG_LVL_NOTICE, __VA_ARGS__)
#define log_info(...)   log_at(LOG_LVL_INFO, __VA_ARGS__)
#define log_debug(...)  log_at(LOG_LVL_DEBUG, __VA_ARGS__)
#define log_warn(...)                                                          \
	do {                                                                   \
		if (log_enabled(LOG_LVL_WARN))                                 \
			log_emit_errno_at(LOG_LVL_WARN, __FILE__, __LINE__,    \
			    __func__, __VA_ARGS__);                            \
	} while (0)
#define log_access_enabled()                                                   \
	atomic_load_explicit(&log_access_on, memory_order_relaxed)
#define log_access_raw(msg, len)                                               \
	log_emit_raw(LOG_LVL_INFO, LOG_CAT_ACCESS, __FILE__, __LINE__,         \
	    __func__, msg, len)

/* One leading "key=value " token of a message (key of [a-z_], value
 * without spaces): its length with its space, 0 if there is none. */
size_t log_field(const char *, size_t, size_t *klen, size_t *vlen);

/* Log, flush every queued line, exit 1. For start-up failures and broken
 * invariants only. fatal() appends strerror(errno). */
void log_fatal_at(int, const char *, int, const char *, const char *, ...)
    __attribute__((format(printf, 5, 6), noreturn));
#define fatal(...)  log_fatal_at(1, __FILE__, __LINE__, __func__, __VA_ARGS__)
#define fatalx(...) log_fatal_at(0, __FILE__, __LINE__, __func__, __VA_ARGS__)
/* Called by fatal()/fatalx() after queueing the message, before exiting. */
void log_on_fatal(void (*)(void));

/* Format one line into buf, which holds LOG_LINE_MAX bytes; returns its
 * length, "\n" included. Text: "<RFC 3339 UTC, us> <thread> <level>
 * [access |slow request: ]<msg>", control bytes escaped as \xNN. JSON:
 * one object with ts, level, thread, tid, category, the message's leading
 * key=value tokens as members (decimal numbers as numbers, but key, cmd
 * and peer always strings), and msg unless nothing is left of it; valid
 * JSON for any message bytes. */
size_t log_format_text(char *, size_t, const struct log_line *);
size_t log_format_json(char *, size_t, const struct log_line *);

#endif
