/* The accept thread: owns the listeners and hands connections to workers. */
#ifndef TL_ACCEPT_H
#define TL_ACCEPT_H

#include <stdatomic.h>
#include <stdint.h>

/* The listen backlog unless configured, memcached's default. */
#define ACCEPT_BACKLOG 1024
/* Listen specs at most; each may resolve to two addresses. */
#define ACCEPT_MAX_SPECS 16

struct obuf;
struct thread;

struct accept_config {
	const char *const *listen; /* "host", "host:port", "[v6]:port" */
	int nlisten;               /* 0: 127.0.0.1 */
	int port;                  /* where a spec names none */
	int max_conns;
	const char *unix_socket; /* set: listen there only, as memcached -s */
	int unix_mask;           /* the socket's mode */
	int backlog;             /* 0: ACCEPT_BACKLOG */
};

/* Written by the accept thread only; rows as CONN_COUNTERS_ROWS. */
#define ACCEPT_COUNTERS_ROWS(X)                                                \
	X(accepted, COUNTER, .thread = "accepted", .json = "accepted",         \
	    .help = "Connections accepted.")                                   \
	X(rejected, COUNTER, .stat = "rejected_connections",                   \
	    .thread = "rejected", .json = "rejected",                          \
	    .prom = "memcached_connections_rejected_total",                    \
	    .help = "Total number of connections rejected due to hitting the " \
	            "memcached's -c limit in maxconns_fast mode.")             \
	X(pauses, COUNTER, .stat = "listen_disabled_num",                      \
	    .prom = "memcached_connections_listener_disabled_total",           \
	    .help = "Number of times that the server ran out of file "         \
	            "descriptors and disabled its listener.")                  \
	X(paused_us, COUNTER, .stat = "time_in_listen_disabled_us",            \
	    .help = "Time spent paused, counted when a pause ended.")

struct accept_counters {
#define ACCEPT_COUNTERS_FIELD(f, ...) _Atomic uint64_t f;
	ACCEPT_COUNTERS_ROWS(ACCEPT_COUNTERS_FIELD)
#undef ACCEPT_COUNTERS_FIELD
};

/* Bind every listen address; on failure err says which and why. */
int accept_init(const struct accept_config *, char *, size_t);
void accept_free(void);
void accept_main(struct thread *);
void accept_stop(void);
/* A worker closed a connection: frees a slot, may resume accepting. */
void accept_conn_closed(void);
int accept_paused(void);
/* Listener i's address as text ("host:port", "unix:PATH"); NULL past the
 * last. Set before the threads start, read-only after. */
const char *accept_listener(int);
struct accept_counters *accept_counters(void);
void accept_stats_conns(struct obuf *);

#endif
