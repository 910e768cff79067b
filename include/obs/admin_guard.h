/* The admin port's connection policing (admin_guard.c): which Host names
 * it answers, how many connections it holds, how long a request's headers
 * may take, and a pause while the process is out of file descriptors.
 * Everything runs in the admin thread; the counters are read by stats. */
#ifndef TL_ADMIN_GUARD_H
#define TL_ADMIN_GUARD_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <event2/event.h>
#include <event2/http.h>

#include "obs.h"

/* Seconds from a connection's accept (or its last reply) to the end of
 * the next request's headers, however the bytes trickle in. */
#define ADMIN_GUARD_HEADERS_S 5

/* Written by the admin thread alone; rows as CONN_COUNTERS_ROWS. */
#define ADMIN_GUARD_COUNTERS_ROWS(X)                                           \
	X(curr_conns, GAUGE, .stat = "admin_curr_connections",                 \
	    .json = "connections", .help = "Admin connections open.")          \
	X(total_conns, COUNTER, .stat = "admin_total_connections",             \
	    .json = "total_connections", .help = "Admin connections made.")    \
	X(listen_disabled, COUNTER, .stat = "admin_listen_disabled_num",       \
	    .help = "Pauses of the admin listener: at the limit, out of fds.") \
	X(header_timeouts, COUNTER, .stat = "admin_header_timeouts",           \
	    .json = "header_timeouts",                                         \
	    .help = "Admin connections closed by the headers' deadline.")      \
	X(bad_hosts, COUNTER, .stat = "admin_refused_hosts",                   \
	    .json = "refused_hosts",                                           \
	    .help = "Admin requests refused for their Host header.")

struct admin_guard_counters {
#define ADMIN_GUARD_COUNTERS_FIELD(f, ...) _Atomic uint64_t f;
	ADMIN_GUARD_COUNTERS_ROWS(ADMIN_GUARD_COUNTERS_FIELD)
#undef ADMIN_GUARD_COUNTERS_FIELD
};

/* Police the connections of http, served on bound by base; listen_host is
 * the host part of the listen address. */
int admin_guard_init(struct event_base *, struct evhttp *,
    struct evhttp_bound_socket *, const struct obs_config *, const char *,
    char *, size_t);
/* Before evhttp_free: the listener goes with it. */
void admin_guard_free(void);
/* A request's headers arrived: stop its deadline. False when its Host
 * is not one of ours: the 421 is sent. */
bool admin_guard_request(struct evhttp_request *);
/* fn(evcon, arg) when req's connection closes (evhttp has one such
 * callback, which the guard takes); NULL: none. */
void admin_guard_set_closecb(struct evhttp_request *,
    void (*)(struct evhttp_connection *, void *), void *);
/* The reply is queued: the connection's next request has a deadline. */
void admin_guard_replied(struct evhttp_request *);
struct admin_guard_counters *admin_guard_counters(void);

#endif
