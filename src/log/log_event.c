#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "log_event.h"

_Atomic unsigned log_events_wanted;

/* Watchers per kind; the mask above is what the request path reads. */
static _Atomic int log_event_counts[LOG_EV_END];
/* memcached numbers every event it logs: "gid". */
static _Atomic uint64_t log_event_gid;

static const char *const log_event_names[LOG_EV_END] = {
    [LOG_EV_FETCH] = "fetchers",
    [LOG_EV_MUTATION] = "mutations",
    [LOG_EV_EVICTION] = "evictions",
    [LOG_EV_CONN] = "connevents",
};

int
log_event_parse(const char *word)
{
	for (int e = LOG_EV_FETCH; e < LOG_EV_END; e++)
		if (strcmp(word, log_event_names[e]) == 0)
			return e;
	return -1;
}

const char *
log_event_key(char *dst, const char *key, size_t n)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t d = 0;

	/* memcached's uriencode(): its unreserved set, upper-case digits,
	 * and a key that does not fit cut where it stops fitting. A key
	 * byte never reaches a watcher raw, so no CR, LF or ESC in one can
	 * forge or garble a line. */
	for (size_t i = 0; i < n && d + 4 <= LOG_EVENT_KEY_MAX; i++) {
		unsigned char c = (unsigned char)key[i];

		if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		    (c >= '0' && c <= '9') || c == '-' || c == '.' ||
		    c == '_' || c == '~')
			dst[d++] = (char)c;
		else {
			dst[d++] = '%';
			dst[d++] = hex[c >> 4];
			dst[d++] = hex[c & 15];
		}
	}
	dst[d] = '\0';
	return dst;
}

void
log_event_watchers(unsigned mask, int delta)
{
	for (int e = LOG_EV_FETCH; e < LOG_EV_END; e++) {
		if (!(mask & (1u << e)))
			continue;
		if (atomic_fetch_add(&log_event_counts[e], delta) + delta > 0)
			atomic_fetch_or(&log_events_wanted, 1u << e);
		else
			atomic_fetch_and(&log_events_wanted, ~(1u << e));
	}
}

void
log_event(enum log_event e, const char *fmt, ...)
{
	char msg[LOG_MSG_MAX + 1];
	struct timespec ts;
	va_list ap;
	int n;

	clock_gettime(CLOCK_REALTIME, &ts);
	/* memcached prints the microseconds without leading zeros. */
	n = snprintf(msg, sizeof msg, "ts=%lld.%ld gid=%llu ",
	    (long long)ts.tv_sec, ts.tv_nsec / 1000,
	    (unsigned long long)atomic_fetch_add_explicit(
	        &log_event_gid, 1, memory_order_relaxed) +
	        1);
	va_start(ap, fmt);
	n += vsnprintf(msg + n, sizeof msg - (size_t)n, fmt, ap);
	va_end(ap);
	if (n > LOG_MSG_MAX)
		n = LOG_MSG_MAX;
	log_emit_raw(
	    LOG_LVL_INFO, (int)e, __FILE__, __LINE__, __func__, msg, (size_t)n);
}
