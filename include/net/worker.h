/* Worker threads: each owns an event_base and its connections for their
 * whole life, and the counters of what they did. */
#ifndef TL_WORKER_H
#define TL_WORKER_H

#include <stdbool.h>
#include <sys/socket.h>

struct cache_stats;
struct conn_counters;
struct obuf;
struct hotkeys;
struct proto_latency;
struct thread;

/* What workers call outside the net floor's connections. */
struct worker_hooks {
	/* A connection closed (or one handed over was refused at stop). */
	void (*conn_closed)(void);
	/* A client asked the server to stop. */
	void (*shutdown)(void);
	/* memcached's read_buf_mem_limit: bytes of read buffers all workers
	 * may have out at once, split evenly; 0: no limit. */
	size_t read_buf_limit;
	/* Hot keys: one request in this many counted; 0: none. */
	unsigned hotkeys_sample;
};

/* One worker per thread of role worker in the table. */
void workers_init(const struct worker_hooks *);
void workers_free(void);
void worker_main(struct thread *);
/* Hand a new connection to worker idx; called by the accept thread. */
void worker_dispatch(int idx, int fd, const struct sockaddr *, socklen_t);
/* Close every connection once its replies are sent, then stop. */
void workers_stop(void);
/* The watchdog, from one thread: ask worker idx's event loop to answer
 * (through its wake-up, as a connection is handed over), and whether it
 * has answered the last ask. */
void worker_ping(int idx);
bool worker_answered(int idx);
/* The stall watchdog, a timer on base (main's): a worker in one callback
 * for ms or more is logged, with its request and stack, and counted; 0:
 * off. Its stop, before the base is freed. */
struct event_base;
void workers_watchdog(struct event_base *, unsigned ms);
void workers_watchdog_stop(void);
/* Whether the watchdog holds worker idx stalled now. */
bool worker_stalled(int idx);
/* Worker idx's counters, for stats. */
struct conn_counters *worker_counters(int);
struct cache_stats *worker_cache_stats(int);
struct proto_latency *worker_latency(int);
/* Worker i's hot keys, read under their lock. */
struct hotkeys *worker_hotkeys(int);
/* "stats conns" lines for every connection of every worker. */
void workers_stats_conns(struct obuf *);

#endif
