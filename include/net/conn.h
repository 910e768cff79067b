/* One client connection, owned by one worker for its whole life. */
#ifndef TL_CONN_H
#define TL_CONN_H

#include <stdatomic.h>
#include <stdint.h>
#include <stdbool.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <time.h>

#include "addr.h"
#include "obuf.h"
#include "proto_text.h"

struct bufpool;
struct cache_stats;
struct conn;
struct event_base;
struct thread;
struct watcher;

/* Where a connection is; shown by "stats conns" with memcached's names. */
enum conn_state {
	CONN_WAITING,   /* idle, waiting for a request */
	CONN_READ,      /* part of a request line is buffered */
	CONN_NREAD,     /* a request line is in, its value is not */
	CONN_PARSE_CMD, /* answering requests */
	CONN_WRITE,     /* replies wait for the socket */
	CONN_CLOSING,   /* last reply sent, draining the client's input */
	CONN_STATE_MAX
};

/* Why a connection closes: conn.c's table gives each its log text and
 * the word memcached's conn_close event says ("normal", "idle_timeout",
 * "shutdown", "error"). */
enum conn_why {
	CONN_OPEN, /* not closing */
	CONN_BY_CLIENT,
	CONN_ON_QUIT,
	CONN_BY_SHUTDOWN,
	CONN_AT_DEADLINE,
	CONN_IDLE,            /* conn_close's arg: the limit's seconds */
	CONN_WRITE_STALLED,   /* arg: the limit's seconds */
	CONN_REQUEST_STALLED, /* arg: the limit's seconds */
	CONN_WRITE_ERROR,     /* arg: errno */
	CONN_READ_ERROR,      /* arg: errno */
	CONN_NO_RBUF,
	CONN_HTTP,
	CONN_TOO_LONG,
	CONN_PROTO_ERROR,
	CONN_WHY_MAX
};

/*
 * A worker's connection counters, written by the worker only (stalls
 * and stalled by the stall watchdog alone), one row each: X(field, COUNTER or
 * GAUGE, its names in the reports obs renders: .stat in "stats", .thread in
 * "stats threads", .json in /threads, .prom in /metrics summed and .prom_thread
 * per worker, with their .help and .thread_help). A row is all it takes to add
 * one.
 */
#define CONN_COUNTERS_ROWS(X)                                                  \
	X(curr_conns, GAUGE, .stat = "curr_connections",                       \
	    .thread = "curr_connections", .json = "connections",               \
	    .prom = "memcached_current_connections",                           \
	    .help = "Current number of open connections.",                     \
	    .prom_thread = "threadline_thread_connections",                    \
	    .thread_help = "Connections each worker has open.")                \
	X(total_conns, COUNTER, .stat = "total_connections",                   \
	    .thread = "total_connections", .json = "total_connections",        \
	    .prom = "memcached_connections_total",                             \
	    .help = "Total number of connections opened since the server "     \
	            "started running.")                                        \
	X(cmds, COUNTER, .stat = "cmd_total", .thread = "cmds",                \
	    .json = "commands", .help = "Commands answered.",                  \
	    .prom_thread = "threadline_thread_commands_total",                 \
	    .thread_help = "Commands each worker answered.")                   \
	X(bytes_read, COUNTER, .stat = "bytes_read", .thread = "bytes_read",   \
	    .json = "bytes_read", .prom = "memcached_read_bytes_total",        \
	    .help = "Total number of bytes read by this server from network.", \
	    .prom_thread = "threadline_thread_read_bytes_total",               \
	    .thread_help = "Bytes each worker read from its connections.")     \
	X(bytes_written, COUNTER, .stat = "bytes_written",                     \
	    .thread = "bytes_written", .json = "bytes_written",                \
	    .prom = "memcached_written_bytes_total",                           \
	    .help = "Total number of bytes sent by this server to network.",   \
	    .prom_thread = "threadline_thread_written_bytes_total",            \
	    .thread_help = "Bytes each worker wrote to its connections.")      \
	X(http_refused, COUNTER, .stat = "http_requests_refused",              \
	    .thread = "http_refused",                                          \
	    .help = "HTTP requests closed unanswered.")                        \
	X(read_buf_oom, COUNTER, .stat = "read_buf_oom",                       \
	    .help = "Connections closed: no read buffer left.")                \
	X(conn_yields, COUNTER, .stat = "conn_yields",                         \
	    .thread = "conn_yields",                                           \
	    .prom = "memcached_connections_yielded_total",                     \
	    .help = "Total number of connections yielded running due to "      \
	            "hitting the memcached's -R limit.")                       \
	X(idle_kicks, COUNTER, .stat = "idle_kicks", .thread = "idle_kicks",   \
	    .help = "Connections closed for idling past the limit.")           \
	X(stalls, COUNTER, .thread = "stalls", .json = "stalls",               \
	    .help = "Callbacks that ran past stall_ms.",                       \
	    .prom_thread = "threadline_thread_stalls_total",                   \
	    .thread_help = "Times each worker stayed in one callback past "    \
	                   "stall_ms.")                                        \
	X(stalled, GAUGE, .thread = "stalled", .json = "stalled",              \
	    .help = "Workers in one callback past stall_ms now.",              \
	    .prom_thread = "threadline_thread_stalled",                        \
	    .thread_help = "1 while the worker is in one callback past "       \
	                   "stall_ms.")

struct conn_counters {
#define CONN_COUNTERS_FIELD(f, ...) _Atomic uint64_t f;
	CONN_COUNTERS_ROWS(CONN_COUNTERS_FIELD)
#undef CONN_COUNTERS_FIELD
};

/* A worker's heartbeat, written by the worker alone: turn is odd while
 * one of its callbacks runs (the stall watchdog sees it not change), cur
 * the connection it serves then, for the worker's own signal handler. */
struct worker_beat {
	_Atomic unsigned long turn;
	struct conn *_Atomic cur;
};

/* Into a callback, serving c (or none), and out of it: two plain stores
 * on the request path. */
static inline void
worker_beat_enter(struct worker_beat *b, struct conn *c)
{
	atomic_store_explicit(&b->cur, c, memory_order_relaxed);
	atomic_store_explicit(&b->turn,
	    atomic_load_explicit(&b->turn, memory_order_relaxed) + 1,
	    memory_order_relaxed);
}

static inline void
worker_beat_leave(struct worker_beat *b)
{
	atomic_store_explicit(&b->turn,
	    atomic_load_explicit(&b->turn, memory_order_relaxed) + 1,
	    memory_order_relaxed);
}

/* What a connection has from the worker that owns it. */
struct conn_owner {
	struct event_base *base;
	const struct thread *thread; /* named in "stats conns" */
	struct bufpool *pool;        /* rbuf and output while bytes are in */
	struct conn_counters *counters;
	struct cache_stats *cstats;
	struct proto_latency *lat; /* its requests' latencies */
	struct worker_beat *beat;  /* its heartbeat */
	struct hotkeys *hot;       /* its requests' hot keys */
	void *arg;                 /* passed to the hooks */
	/* c is closed and about to be freed. */
	void (*closed)(struct conn *, void *);
	/* A watch starts: watch_wake(arg) is its wake hook. */
	void (*watch_wake)(void *);
	/* A client asked the server to stop ("shutdown"). */
	void (*shutdown)(void);
};

struct conn {
	int fd;
	const struct conn_owner *own;
	/* One event, for reading or for writing: a connection that waits
	 * for the client to read its replies reads no more requests. */
	struct event *ev;
	short ev_what; /* EV_READ, EV_WRITE, or 0 when neither */
	struct event *linger;
	char peer[ADDR_MAX];
	char *rbuf;
	size_t rlen;
	size_t rcap;
	struct obuf out;
	struct proto_ctx proto;
	struct watcher *watch; /* set once the client sent "watch" */
	/* Read by "stats conns" from other threads. */
	_Atomic int state;
	_Atomic time_t last_cmd; /* CLOCK_MONOTONIC seconds */
	time_t read_since;  /* the pending request's start, or last answer */
	time_t write_since; /* replies blocked since, or last progress */
	enum conn_why close_why; /* CONN_OPEN until closing was decided */
	bool linger_after;       /* drain input before closing */
	TAILQ_ENTRY(conn) entry;
};
TAILQ_HEAD(conn_list, conn);

/* Limits in seconds on a stalled client; 0 turns one off. */
struct conn_timeouts {
	int request; /* a started request must complete within */
	int write;   /* blocked replies must make progress within */
	int idle;    /* a connection with no request may stay open */
};

void conn_set_timeouts(const struct conn_timeouts *);
/* memcached's -R: a connection that answered this many requests in one
 * turn lets the others go first; 0: no limit. Its own setting alone: each
 * connection hands it to the protocol as proto_ctx.max_cmds. */
void conn_set_reqs_per_event(unsigned);
/* Close c if it outstayed a limit; from the owner's once-a-second tick. */
void conn_tick(struct conn *);
struct conn *conn_new(const struct conn_owner *, int, const char *);
/* Stop reading; close once pending output is written. */
void conn_shutdown(struct conn *, enum conn_why);
/* Answer what is buffered and send what is due, as when input arrives. */
void conn_kick(struct conn *);
/* Close now, logging why, with its arg (enum conn_why says which take
 * one). */
void conn_close(struct conn *, enum conn_why, int arg);
const char *conn_state_name(int);
/* "stats conns" lines; safe from any thread while the owner's list lock is
 * held. */
void conn_stats(struct conn *, struct obuf *);
/* The connection's descriptor: what "stats conns" orders by. */
int conn_fd(const struct conn *);

#endif
