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

/* A worker's connection counters: written by the worker only. */
struct conn_counters {
	_Atomic uint64_t curr_conns;
	_Atomic uint64_t total_conns;
	_Atomic uint64_t cmds;
	_Atomic uint64_t bytes_read;
	_Atomic uint64_t bytes_written;
	_Atomic uint64_t http_refused; /* HTTP requests closed unanswered */
	_Atomic uint64_t read_buf_oom; /* closed: no read buffer left */
	_Atomic uint64_t idle_kicks;   /* closed for idling past the limit */
	_Atomic uint64_t
	    conn_yields; /* -R: turns given up with requests left */
};

/* What a connection has from the worker that owns it. */
struct conn_owner {
	struct event_base *base;
	const struct thread *thread; /* named in "stats conns" */
	struct bufpool *pool;        /* rbuf and output while bytes are in */
	struct conn_counters *counters;
	struct cache_stats *cstats;
	struct proto_latency *lat; /* its requests' latencies */
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
