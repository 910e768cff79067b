/* memcached's watcher events: who wants which kind, and the formats of
 * the events, one table as memcached's logger.c default_entries[]. */
#include <stdarg.h>
#include <stdbool.h>
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

/* Queue one event: "ts=SECONDS.MICROS gid=N " and then fmt. */
static void
log_event_vemit(enum log_event e, const char *fmt, va_list ap)
{
	char msg[LOG_MSG_MAX + 1];
	struct timespec ts;
	int n;

	clock_gettime(CLOCK_REALTIME, &ts);
	/* memcached prints the microseconds without leading zeros. */
	n = snprintf(msg, sizeof msg, "ts=%lld.%ld gid=%llu ",
	    (long long)ts.tv_sec, ts.tv_nsec / 1000,
	    (unsigned long long)atomic_fetch_add_explicit(
	        &log_event_gid, 1, memory_order_relaxed) +
	        1);
	n += vsnprintf(msg + n, sizeof msg - (size_t)n, fmt, ap);
	if (n > LOG_MSG_MAX)
		n = LOG_MSG_MAX;
	log_emit_raw(
	    LOG_LVL_INFO, (int)e, __FILE__, __LINE__, __func__, msg, (size_t)n);
}

/* The events memcached's watchers are sent, as its logger.c entries. */
enum log_event_type {
	LOG_EVT_ITEM_GET,
	LOG_EVT_ITEM_STORE,
	LOG_EVT_EVICTION,
	LOG_EVT_CONN_NEW,
	LOG_EVT_CONN_CLOSE,
	LOG_EVT_COUNT
};

/* Each event's kind (what a watcher asks for) and its format after
 * "ts= gid=": memcached's words, to the byte. */
static const struct log_event_entry {
	enum log_event kind;
	const char *fmt;
} log_event_entries[LOG_EVT_COUNT] = {
    [LOG_EVT_ITEM_GET] = {LOG_EV_FETCH,
        "type=item_get key=%s status=%s clsid=%u cfd=%d size=%u"},
    [LOG_EVT_ITEM_STORE] = {LOG_EV_MUTATION,
        "type=item_store key=%s status=%s cmd=%s ttl=%ld clsid=%u cfd=%d "
        "size=%llu"},
    [LOG_EVT_EVICTION] = {LOG_EV_EVICTION,
        "type=eviction key=%s fetch=%s ttl=%lld la=%lld clsid=%u"},
    [LOG_EVT_CONN_NEW] = {LOG_EV_CONN,
        "type=conn_new rip=%.*s rport=%s transport=tcp cfd=%d"},
    [LOG_EVT_CONN_CLOSE] = {LOG_EV_CONN,
        "type=conn_close rip=%.*s rport=%s transport=tcp reason=%s cfd=%d"},
};

/* Queue an event of type t with its entry's format; the typed functions
 * below are its only callers, each passing what its format takes. */
static void
log_event_entry(enum log_event_type t, ...)
{
	va_list ap;

	va_start(ap, t);
	log_event_vemit(
	    log_event_entries[t].kind, log_event_entries[t].fmt, ap);
	va_end(ap);
}

void
log_event_item_get(const char *key, size_t nkey, bool found, unsigned cls,
    int fd, uint32_t size)
{
	char k[LOG_EVENT_KEY_MAX];

	log_event_entry(LOG_EVT_ITEM_GET, log_event_key(k, key, nkey),
	    found ? "found" : "not_found", cls, fd, size);
}

void
log_event_item_store(const char *key, size_t nkey, const char *status,
    const char *cmd, long ttl, unsigned cls, int fd, unsigned long long size)
{
	char k[LOG_EVENT_KEY_MAX];

	log_event_entry(LOG_EVT_ITEM_STORE, log_event_key(k, key, nkey), status,
	    cmd, ttl, cls, fd, size);
}

void
log_event_eviction(const char *key, size_t nkey, bool fetched, long long ttl,
    long long idle, unsigned cls)
{
	char k[LOG_EVENT_KEY_MAX];

	log_event_entry(LOG_EVT_EVICTION, log_event_key(k, key, nkey),
	    fetched ? "yes" : "no", ttl, idle, cls);
}

void
log_event_conn(const char *peer, int fd, const char *reason)
{
	const char *colon = strrchr(peer, ':');
	int hlen = colon ? (int)(colon - peer) : (int)strlen(peer);
	const char *host = peer;

	/* memcached's rip has no brackets round an IPv6 address. */
	if (host[0] == '[' && hlen >= 2) {
		host++;
		hlen -= 2;
	}
	if (reason == NULL)
		log_event_entry(
		    LOG_EVT_CONN_NEW, hlen, host, colon ? colon + 1 : "0", fd);
	else
		log_event_entry(LOG_EVT_CONN_CLOSE, hlen, host,
		    colon ? colon + 1 : "0", reason, fd);
}
