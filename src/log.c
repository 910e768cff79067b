#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "log.h"
#include "logger.h"
#include "service.h"

_Atomic int log_verbosity = LOG_LVL_INFO;

static const char *const log_level_names[] = {
    [LOG_LVL_FATAL] = "fatal",
    [LOG_LVL_ERROR] = "error",
    [LOG_LVL_WARN] = "warn",
    [LOG_LVL_NOTICE] = "notice",
    [LOG_LVL_INFO] = "info",
    [LOG_LVL_DEBUG] = "debug",
};

const char *
log_level_name(int level)
{
	if (level < LOG_LVL_FATAL || level > LOG_LVL_DEBUG)
		return "unknown";
	return log_level_names[level];
}

/* Level from its name; -1 when there is no such level. */
int
log_level_parse(const char *s)
{
	for (int i = LOG_LVL_ERROR; i <= LOG_LVL_DEBUG; i++)
		if (strcasecmp(s, log_level_names[i]) == 0)
			return i;
	return -1;
}

void
log_set_level(int level)
{
	if (level < LOG_LVL_ERROR)
		level = LOG_LVL_ERROR;
	if (level > LOG_LVL_DEBUG)
		level = LOG_LVL_DEBUG;
	atomic_store_explicit(&log_verbosity, level, memory_order_relaxed);
}

size_t
log_format_text(char *buf, size_t cap, const struct timespec *ts,
    const char *thread, int level, const char *msg, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	struct tm tm;
	size_t n, i;
	int r;

	gmtime_r(&ts->tv_sec, &tm);
	r = snprintf(buf, cap, "%04d-%02d-%02dT%02d:%02d:%02d.%06ldZ %s %s ",
	    tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
	    tm.tm_sec, ts->tv_nsec / 1000, thread, log_level_name(level));
	n = r < 0 ? 0 : ((size_t)r < cap ? (size_t)r : cap - 1);
	/* Messages may quote client bytes: keep one record per line. */
	for (i = 0; i < len && n + 5 < cap; i++) {
		unsigned char c = (unsigned char)msg[i];

		if (c < 0x20 || c == 0x7f || c == '\\') {
			buf[n++] = '\\';
			if (c == '\\') {
				buf[n++] = '\\';
				continue;
			}
			buf[n++] = 'x';
			buf[n++] = hex[c >> 4];
			buf[n++] = hex[c & 15];
		} else
			buf[n++] = (char)c;
	}
	buf[n++] = '\n';
	return n;
}

/* Before the logger runs (start-up) and after it stopped, write directly. */
static void
log_write_direct(const struct timespec *ts, const char *thread, int level,
    const char *msg, size_t len)
{
	char line[LOG_MSG_MAX * 4 + 128];
	size_t n;

	n = log_format_text(line, sizeof line, ts, thread, level, msg, len);
	(void)!write(STDERR_FILENO, line, n);
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
log_submit(int level, const char *msg, size_t len)
{
	struct service *self = service_self();
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	if (self == NULL || !logger_running()) {
		log_write_direct(&ts, self ? self->name : "-", level, msg, len);
		return;
	}
	if (log_ring_push(self->ring, &ts, level, msg, len) == 0)
		logger_kick();
}

void
log_vemit(int level, const char *fmt, va_list ap)
{
	char msg[LOG_MSG_MAX + 1];
	int saved = errno;

	log_submit(level, msg, log_vformat(msg, fmt, ap));
	errno = saved;
}

void
log_emit(int level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vemit(level, fmt, ap);
	va_end(ap);
}

void
log_emit_errno(int level, const char *fmt, ...)
{
	char msg[LOG_MSG_MAX + 1];
	int saved = errno;
	va_list ap;
	size_t n;

	va_start(ap, fmt);
	n = log_vformat(msg, fmt, ap);
	va_end(ap);
	snprintf(msg + n, sizeof msg - n, ": %s", strerror(saved));
	log_submit(level, msg, strlen(msg));
	errno = saved;
}

/* Run before a fatal exit, e.g. to remove the pidfile. */
static void (*fatal_hook)(void);

void
log_on_fatal(void (*hook)(void))
{
	fatal_hook = hook;
}

static void __attribute__((noreturn))
vfatal(int with_errno, const char *fmt, va_list ap)
{
	char msg[LOG_MSG_MAX + 1];
	int saved = errno;
	size_t n;

	n = log_vformat(msg, fmt, ap);
	if (with_errno)
		snprintf(msg + n, sizeof msg - n, ": %s", strerror(saved));
	log_submit(LOG_LVL_FATAL, msg, strlen(msg));
	if (fatal_hook != NULL)
		fatal_hook();
	logger_flush_exit(1);
}

void
fatal(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vfatal(1, fmt, ap);
}

void
fatalx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vfatal(0, fmt, ap);
}
