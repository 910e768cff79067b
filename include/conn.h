/* One client connection, owned by one worker for its whole life. */
#ifndef TL_CONN_H
#define TL_CONN_H

#include <stdatomic.h>
#include <stdbool.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <time.h>

#include "obuf.h"
#include "proto_text.h"

struct bufpool;
struct event_base;
struct service;
struct worker;
struct watcher;

/* Where a connection is; shown by "stats conns" with memcached's names. */
enum conn_state {
	CONN_WAITING,   /* idle, waiting for a request */
	CONN_READ,      /* part of a request is buffered */
	CONN_PARSE_CMD, /* answering requests */
	CONN_WRITE,     /* replies wait for the socket */
	CONN_CLOSING,   /* last reply sent, draining the client's input */
	CONN_STATE_MAX
};

/* Address text: "[v6]:port" or "v4:port". */
#define CONN_ADDR_MAX 64

struct conn {
	int fd;
	struct worker *worker;
	struct service *svc; /* the owning worker's identity */
	/* One event, for reading or for writing: a connection that waits
	 * for the client to read its replies reads no more requests. */
	struct event *ev;
	short ev_what; /* EV_READ, EV_WRITE, or 0 when neither */
	struct event *linger;
	char peer[CONN_ADDR_MAX];
	struct bufpool *pool; /* the worker's: rbuf while bytes are in */
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
	const char *close_reason; /* set when closing was decided */
	bool linger_after;        /* drain input before closing */
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
/* Close c if it outstayed a limit; from the owner's once-a-second tick. */
void conn_tick(struct conn *);
void conn_addr_format(const struct sockaddr *, socklen_t, char *, size_t);
struct conn *conn_new(struct event_base *, struct worker *, struct service *,
    struct bufpool *, int, const char *);
/* Stop reading; close once pending output is written. */
void conn_shutdown(struct conn *, const char *);
/* Answer what is buffered and send what is due, as when input arrives. */
void conn_kick(struct conn *);
/* Close now, logging why. */
void conn_close(struct conn *, const char *);
const char *conn_state_name(int);
/* "stats conns" lines; safe from any thread while the owner's list lock is
 * held. */
void conn_stats(struct conn *, struct obuf *);

#endif
