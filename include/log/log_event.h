/* memcached's watcher events: "watch fetchers mutations evictions
 * connevents" streams one line per item fetched, item stored, item evicted
 * and connection opened or closed, in memcached's own format
 * ("ts=... gid=... type=item_get key=..."), for the tools that read it.
 * A thread formats an event only while a watcher wants its kind; the line
 * goes to those watchers alone, never to the log's sinks. */
#ifndef TL_LOG_EVENT_H
#define TL_LOG_EVENT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "log.h"

/* Each kind is a log category of its own, after the log's. */
enum log_event {
	LOG_EV_FETCH = LOG_CAT_EVENTS, /* "fetchers" */
	LOG_EV_MUTATION,               /* "mutations" */
	LOG_EV_EVICTION,               /* "evictions" */
	LOG_EV_CONN,                   /* "connevents" */
	LOG_EV_END
};

/* Bit (1 << kind) set while some watcher wants that kind. */
extern _Atomic unsigned log_events_wanted;

static inline bool
log_event_wanted(enum log_event e)
{
	return atomic_load_explicit(&log_events_wanted, memory_order_relaxed) &
	       (1u << e);
}

/* A watcher of the kinds in mask (bits 1 << kind) came (delta 1) or went
 * (delta -1). */
void log_event_watchers(unsigned mask, int delta);
/* The events of memcached's table (log_event.c), each with what its
 * format takes; the key is URI-encoded here. An item_get (fetchers): a
 * look-up that found an item of class cls and size bytes, or not. */
void log_event_item_get(
    const char *key, size_t, bool found, unsigned cls, int fd, uint32_t size);
/* An item_store (mutations): status and cmd in memcached's words. */
void log_event_item_store(const char *key, size_t, const char *status,
    const char *cmd, long ttl, unsigned cls, int fd, unsigned long long size);
/* An eviction (evictions): a live item that left to make room; ttl is
 * the seconds it had left (-1: none), idle those since its last use. */
void log_event_eviction(const char *key, size_t, bool fetched, long long ttl,
    long long idle, unsigned cls);
/* A conn_new (reason NULL) or conn_close (connevents) of the connection
 * on fd from peer ("host:port", "[v6]:port"); reason in memcached's
 * words. */
void log_event_conn(const char *peer, int fd, const char *reason);
/* Room for a key of up to 250 bytes URI-encoded, and its NUL. */
#define LOG_EVENT_KEY_MAX (250 * 3 + 1)
/* The n bytes of key as memcached's events print it, URI-encoded (bytes
 * other than A-Z a-z 0-9 - . _ ~ as %XX), into dst of LOG_EVENT_KEY_MAX
 * bytes; returns dst. */
const char *log_event_key(char *dst, const char *key, size_t n);
/* The kind memcached's watch argument names, or -1. */
int log_event_parse(const char *);

#endif
