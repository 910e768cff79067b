/* Inside the proto floor: what is seen of each request besides its reply,
 * for the text, meta and binary commands alike: its latency, its access
 * line and slow-request line, memcached's watcher events. Not for other
 * floors. */
#ifndef TL_PROTO_OBSERVE_H
#define TL_PROTO_OBSERVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "hotkeys.h"
#include "latency.h"
#include "log.h"
#include "proto_req.h"
#include "proto_text.h"

struct cache_seen;
struct item;

/* What the access and slow-request lines say of a request. */
struct proto_seen {
	const char *cmd; /* its command's name, "-" for none */
	size_t ncmd;
	const char *key; /* its first key; NULL: it names none */
	size_t nkey;
	unsigned nkeys;  /* keys asked for */
	const char *res; /* how it went: "stored", "miss", "none"... */
	size_t nres;
	char buf[24]; /* room for a cmd or res made up */
};

/* A request's describe hook: fills in what the lines say of arg. */
typedef void proto_describe_fn(const void *arg, struct proto_seen *);

/* Monotonic nanoseconds: requests are timed between these. */
static inline long long
proto_observe_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* The access line (access) and slow-request line (slow) of a request
 * that ended at now after us microseconds, with what describe says of
 * it. */
void proto_observe_lines(const struct proto_ctx *, bool access, bool slow,
    long long now, uint64_t us, proto_describe_fn *, const void *);

/* A request of class cls that began at start (ns) ended: its latency is
 * counted, and its access line and slow-request line written when they
 * are on, with what describe says of it (asked only then). Returns when
 * it ended: one clock read per request, each ends where the next one
 * begins. Inline: every request of every protocol passes here. */
static inline long long
proto_observe(const struct proto_ctx *c, enum proto_class cls, long long start,
    proto_describe_fn *describe, const void *arg)
{
	long long now = proto_observe_now();
	/* Rounded up: a microsecond bucket reads "at most", and any request
	 * that took time is over a threshold of 1. */
	uint64_t us = now > start ? ((uint64_t)(now - start) + 999) / 1000 : 0;
	bool access = log_access_enabled();
	bool slow = proto_cfg.slow_us != 0 && us >= proto_cfg.slow_us;

	if (c->lat != NULL)
		lat_record(&c->lat->cls[cls], us);
	if (access || slow)
		proto_observe_lines(c, access, slow, now, us, describe, arg);
	return now;
}

/* Count a key among the thread's hot keys, sent's value as the bytes
 * sent (NULL: none). */
void proto_observe_hot(
    const struct proto_ctx *, const char *, size_t, const struct item *sent);

/* A key was fetched, its reply sending sent's value (NULL: a miss, or
 * no value asked for), or stored (NULL): one of the thread's requests
 * for hot keys. Inline: every key of every get passes here, and most
 * pass on at once. */
static inline void
proto_observe_key(const struct proto_ctx *c, const char *key, size_t nkey,
    const struct item *sent)
{
	if (c->hot != NULL && hotkeys_due(c->hot))
		proto_observe_hot(c, key, nkey, sent);
}

/* memcached's item_get event; the caller checks log_event_wanted()
 * first. it NULL: a miss. */
void proto_observe_fetch(
    const struct proto_ctx *, const char *, size_t, const struct item *);
/* A store of op (enum cache_store_op) ended with res (enum cache_result);
 * cls as item_class_id(). As memcached: its look-up (what it saw) as an
 * item_get to fetchers, the store as an item_store to mutations; it
 * checks log_event_wanted() itself. */
void proto_observe_store(const struct proto_ctx *, int op, const char *, size_t,
    int res, unsigned cls, long ttl, uint64_t size, const struct cache_seen *);

#endif
