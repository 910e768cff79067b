/* Logging for every thread. A call formats the message in the calling
 * thread and queues it, with that thread's identity, to the logger thread;
 * it never blocks. A disabled level costs one branch. */
#ifndef TL_LOG_H
#define TL_LOG_H

#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <time.h>

enum log_level {
	LOG_LVL_FATAL,
	LOG_LVL_ERROR,
	LOG_LVL_WARN,
	LOG_LVL_NOTICE,
	LOG_LVL_INFO,
	LOG_LVL_DEBUG,
};

/* Longest message kept; longer ones are cut and end in "...". */
#define LOG_MSG_MAX 1000

extern _Atomic int log_verbosity;

const char *log_level_name(int);
int log_level_parse(const char *);
void log_set_level(int);

void log_emit(int, const char *, ...) __attribute__((format(printf, 2, 3)));
void log_vemit(int, const char *, va_list);
/* Like log_emit but appends ": strerror(errno)". */
void log_emit_errno(int, const char *, ...)
    __attribute__((format(printf, 2, 3)));

#define log_enabled(lvl)                                                       \
	((lvl) <= atomic_load_explicit(&log_verbosity, memory_order_relaxed))
#define log_at(lvl, ...)                                                       \
	do {                                                                   \
		if (log_enabled(lvl))                                          \
			log_emit(lvl, __VA_ARGS__);                            \
	} while (0)

#define log_error(...)  log_at(LOG_LVL_ERROR, __VA_ARGS__)
#define log_warnx(...)  log_at(LOG_LVL_WARN, __VA_ARGS__)
#define log_notice(...) log_at(LOG_LVL_NOTICE, __VA_ARGS__)
#define log_info(...)   log_at(LOG_LVL_INFO, __VA_ARGS__)
#define log_debug(...)  log_at(LOG_LVL_DEBUG, __VA_ARGS__)
#define log_warn(...)                                                          \
	do {                                                                   \
		if (log_enabled(LOG_LVL_WARN))                                 \
			log_emit_errno(LOG_LVL_WARN, __VA_ARGS__);             \
	} while (0)

/* Log, flush every queued line, exit 1. For start-up failures and broken
 * invariants only. fatal() appends strerror(errno). */
void fatal(const char *, ...) __attribute__((format(printf, 1, 2), noreturn));
void fatalx(const char *, ...) __attribute__((format(printf, 1, 2), noreturn));
/* Called by fatal()/fatalx() after queueing the message, before exiting. */
void log_on_fatal(void (*)(void));

/* Format one text line: "<RFC 3339 UTC, us> <thread> <level> <msg>\n".
 * Control bytes in msg are escaped as \xNN. Returns the length written,
 * truncating to fit cap (which must be at least 64). */
size_t log_format_text(char *, size_t, const struct timespec *, const char *,
    int, const char *, size_t);

#endif
