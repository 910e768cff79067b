/* Levels, the log_* calls and fatal: every line names its thread. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "log_ring.h"
#include "thread.h"

_Atomic int log_verbosity = LOG_LVL_INFO;
_Atomic bool log_access_on;

static const struct log_drain *_Atomic log_drain;
/* Run before a fatal exit, e.g. to remove the pidfile. */
static void (*fatal_hook)(void);

static int
log_clamp(int level)
{
	if (level < LOG_LVL_ERROR)
		return LOG_LVL_ERROR;
	return level > LOG_LVL_DEBUG ? LOG_LVL_DEBUG : level;
}

int
log_level_global(void)
{
	return atomic_load_explicit(&log_verbosity, memory_order_relaxed);
}

void
log_set_level(int level)
{
	level = log_clamp(level);
	atomic_store_explicit(&log_verbosity, level, memory_order_relaxed);
	for (int i = 0; i < thread_count(); i++)
		atomic_store_explicit(
		    &thread_at(i)->log_level, level, memory_order_relaxed);
}

int
log_set_thread_level(const char *name, int level)
{
	int matched = 0;

	for (int i = 0; i < thread_count(); i++) {
		struct thread *s = thread_at(i);

		if (strcmp(s->name, name) == 0 ||
		    strcmp(thread_role_name(s->role), name) == 0) {
			atomic_store_explicit(&s->log_level, log_clamp(level),
			    memory_order_relaxed);
			matched++;
		}
	}
	return matched;
}

void
log_threads_init(void)
{
	for (int i = 0; i < thread_count(); i++) {
		if ((thread_at(i)->ring = log_ring_new()) == NULL)
			fatalx("out of memory for the log rings");
		atomic_init(
		    &thread_at(i)->log_level, atomic_load(&log_verbosity));
	}
}

void
log_threads_free(void)
{
	for (int i = 0; i < thread_count(); i++) {
		log_ring_free(thread_at(i)->ring);
		thread_at(i)->ring = NULL;
	}
}

void
log_set_drain(const struct log_drain *d)
{
	atomic_store_explicit(&log_drain, d, memory_order_release);
}

/* Before the logger runs (start-up) and after it stopped, write directly. */
static void
log_write_direct(const struct log_line *l)
{
	char line[LOG_LINE_MAX];

	(void)!write(
	    STDERR_FILENO, line, log_format_text(line, sizeof line, l));
}

/* Format the message; returns its length, marking a cut with "...". */
static size_t
log_vformat(char *msg, const char *fmt, va_list ap)
{
	int n = vsnprintf(msg, LOG_MSG_MAX + 1, fmt, ap);

	if (n < 0)
		return 0;
	if (n > LOG_MSG_MAX) {
		memcpy(msg + LOG_MSG_MAX - 3, "...", 3);
		return LOG_MSG_MAX;
	}
	return (size_t)n;
}

static void
log_submit(int level, int category, const char *file, int line,
    const char *func, const char *msg, size_t len)
{
	struct thread *self = thread_self();
	const struct log_drain *d =
	    atomic_load_explicit(&log_drain, memory_order_acquire);
	enum log_ring_pushed queued;
	struct log_line l = {.level = level,
	    .category = category,
	    .thread = self ? self->name : "-",
	    .role = self ? (int)self->role : -1,
	    .tid = self ? self->tid : 0,
	    .file = file,
	    .line = line,
	    .func = func,
	    .msg = msg,
	    .len = len};

	clock_gettime(CLOCK_REALTIME, &l.ts);
	if (self == NULL || self->ring == NULL || d == NULL) {
		/* memcached's events are for watchers, and there are none. */
		if (category < LOG_CAT_EVENTS)
			log_write_direct(&l);
		return;
	}
	queued = log_ring_push(self->ring, &l);
	if (queued == LOG_RING_WAKE ||
	    (queued == LOG_RING_QUEUED && level <= LOG_LVL_NOTICE))
		d->wake();
}

void
log_emit_at(int level, int category, const char *file, int line,
    const char *func, const char *fmt, ...)
{
	char msg[LOG_MSG_MAX + 1];
	int saved = errno;
	va_list ap;
	size_t n;

	va_start(ap, fmt);
	n = log_vformat(msg, fmt, ap);
	va_end(ap);
	log_submit(level, category, file, line, func, msg, n);
	errno = saved;
}

void
log_emit_raw(int level, int category, const char *file, int line,
    const char *func, const char *msg, size_t len)
{
	int saved = errno;

	log_submit(level, category, file, line, func, msg,
	    len < LOG_MSG_MAX ? len : LOG_MSG_MAX);
	errno = saved;
}

void
log_emit_errno_at(int level, const char *file, int line, const char *func,
    const char *fmt, ...)
{
	char msg[LOG_MSG_MAX + 1];
	int saved = errno;
	va_list ap;
	size_t n;

	va_start(ap, fmt);
	n = log_vformat(msg, fmt, ap);
	va_end(ap);
	snprintf(msg + n, sizeof msg - n, ": %s", strerror(saved));
	log_submit(level, LOG_CAT_GENERAL, file, line, func, msg, strlen(msg));
	errno = saved;
}

void
log_on_fatal(void (*hook)(void))
{
	fatal_hook = hook;
}

void
log_fatal_at(int with_errno, const char *file, int line, const char *func,
    const char *fmt, ...)
{
	const struct log_drain *d;
	char msg[LOG_MSG_MAX + 1];
	int saved = errno;
	va_list ap;
	size_t n;

	va_start(ap, fmt);
	n = log_vformat(msg, fmt, ap);
	va_end(ap);
	if (with_errno)
		snprintf(msg + n, sizeof msg - n, ": %s", strerror(saved));
	log_submit(
	    LOG_LVL_FATAL, LOG_CAT_GENERAL, file, line, func, msg, strlen(msg));
	d = atomic_load_explicit(&log_drain, memory_order_acquire);
	if (fatal_hook != NULL)
		fatal_hook();
	if (d != NULL)
		d->flush_exit(1);
	_exit(1);
}
