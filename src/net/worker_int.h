/* The net floor's private view of a worker, shared by worker.c (the
 * threads, their queues) and stall.c (the watchdog that reads their
 * heartbeats); included by src/net/ alone. */
#ifndef TL_WORKER_INT_H
#define TL_WORKER_INT_H

#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <sys/queue.h>

#include <event2/event.h>

#include "addr.h"
#include "bufpool.h"
#include "cache.h"
#include "conn.h"
#include "hotkeys.h"
#include "thread.h"

struct worker_msg {
	int fd; /* -1: stop */
	char peer[ADDR_MAX];
	STAILQ_ENTRY(worker_msg) entry;
};

/* What a stalled worker's signal handler saw: its stack and request. */
#define WORKER_FRAMES   32
#define WORKER_LINE_MAX 128
/* How long the watchdog waits for the handler's answer. */
#define WORKER_SNAP_WAIT_MS 200

struct worker_snap {
	/* The watchdog counts want up, then signals; the handler fills the
	 * rest and sets done to want: each publishes what it wrote. */
	_Atomic unsigned want, done;
	void *frames[WORKER_FRAMES];
	int nframes;
	int fd; /* -1: no connection */
	char peer[ADDR_MAX];
	char line[WORKER_LINE_MAX];
	size_t linelen;
	bool has_line; /* false: binary, or between requests */
};

/* The watchdog's own view of a worker (its thread alone). */
struct worker_watch {
	unsigned long turn; /* the heartbeat last seen */
	long long since_ms; /* when it was first seen */
	bool stalled;
};

struct worker {
	struct thread *thread;
	struct event_base *base;
	struct conn_owner own; /* what its connections use of it */
	struct conn_counters counters;
	struct cache_stats cstats; /* what its requests did to the cache */
	struct proto_latency lat;  /* how long its requests took */
	struct hotkeys hot;        /* the keys its requests asked most */
	int efd;
	/* Set by the logger's wake of a watcher here. */
	_Atomic bool watch_due;
	/* The watchdog's question (main counts up) and this loop's answer. */
	_Atomic unsigned long ping, pong;
	struct worker_beat beat;
	struct worker_snap snap;
	struct worker_watch watch;
	struct event *notify;
	struct event *tick; /* once a second: connection timeouts */
	struct event *deadline;
	bool stopping;
	/* The accept thread appends, the worker takes. */
	pthread_mutex_t qlock;
	STAILQ_HEAD(, worker_msg) queue;
	/* Changed by the worker only; the lock is for "stats conns" readers
	 * in other workers, never taken by two workers on the request path. */
	pthread_mutex_t conns_lock;
	struct conn_list conns;
	/* Read and reply buffers for connections with bytes in flight. */
	struct bufpool pool;
};

extern struct worker *workers;
extern int nworkers;
/* The calling worker, for the stall signal's handler. */
extern _Thread_local struct worker *worker_self;

/* The signal the watchdog sends a stalled worker for its stack. */
#define WORKER_STALL_SIG (SIGRTMIN)

#endif
