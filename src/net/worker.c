/* Worker threads: a libevent base each, their queues and counters. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/queue.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "addr.h"
#include "bufpool.h"
#include "cache.h"
#include "conn.h"
#include "counter.h"
#include "log.h"
#include "obuf.h"
#include "thread.h"
#include "worker.h"
#include "worker_int.h"
#include "xmalloc.h"

/* How long a stopping worker waits for replies to reach slow clients. */
#define WORKER_STOP_SECS 5

/* A buffer holds a burst of pipelined requests or replies; a worker keeps
 * enough for its busy connections at once (1 MiB). */
#define WORKER_BUF_SIZE  16384
#define WORKER_BUFS_KEPT 64

struct worker *workers;
int nworkers;
_Thread_local struct worker *worker_self;
static struct worker_hooks hooks;

static void worker_notify_cb(evutil_socket_t, short, void *);
static void worker_tick_cb(evutil_socket_t, short, void *);
static void worker_conn_closed(struct conn *, void *);
static void worker_watch_wake(void *);

void
workers_init(const struct worker_hooks *h)
{
	int n = thread_role_count(ROLE_WORKER);
	struct event_config *cfg;

	hooks = *h;
	workers = xcalloc((size_t)n, sizeof *workers);
	nworkers = n;
	cfg = event_config_new();
	if (cfg == NULL)
		fatalx("out of memory for event_config");
	/* A base belongs to one thread: skip libevent's locking. */
	event_config_set_flag(cfg, EVENT_BASE_FLAG_NOLOCK);
	for (int i = 0; i < n; i++) {
		struct worker *w = &workers[i];

		w->thread = thread_get(ROLE_WORKER, i);
		w->base = event_base_new_with_config(cfg);
		if (w->base == NULL)
			fatalx("cannot create the event base of %s",
			    w->thread->name);
		w->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		if (w->efd == -1)
			fatal("eventfd");
		w->notify = event_new(
		    w->base, w->efd, EV_READ | EV_PERSIST, worker_notify_cb, w);
		if (w->notify == NULL)
			fatalx("out of memory for events");
		event_add(w->notify, NULL);
		w->tick = event_new(w->base, -1, EV_PERSIST, worker_tick_cb, w);
		if (w->tick == NULL)
			fatalx("out of memory for events");
		event_add(w->tick, &(struct timeval){1, 0});
		pthread_mutex_init(&w->qlock, NULL);
		pthread_mutex_init(&w->conns_lock, NULL);
		STAILQ_INIT(&w->queue);
		TAILQ_INIT(&w->conns);
		bufpool_init(&w->pool, WORKER_BUF_SIZE, WORKER_BUFS_KEPT);
		hotkeys_init(&w->hot, h->hotkeys_sample);
		/* As memcached: limit / threads in buffers, at least one. */
		if (h->read_buf_limit > 0) {
			size_t k =
			    h->read_buf_limit / (size_t)n / WORKER_BUF_SIZE;

			w->pool.limit = k < 1 ? 1 : (unsigned)k;
		}
		w->own = (struct conn_owner){.base = w->base,
		    .thread = w->thread,
		    .pool = &w->pool,
		    .counters = &w->counters,
		    .cstats = &w->cstats,
		    .lat = &w->lat,
		    .beat = &w->beat,
		    .hot = &w->hot,
		    .arg = w,
		    .closed = worker_conn_closed,
		    .watch_wake = worker_watch_wake,
		    .shutdown = hooks.shutdown};
	}
	event_config_free(cfg);
}

void
workers_free(void)
{
	for (int i = 0; i < nworkers; i++) {
		struct worker *w = &workers[i];
		struct worker_msg *m;

		while ((m = STAILQ_FIRST(&w->queue)) != NULL) {
			STAILQ_REMOVE_HEAD(&w->queue, entry);
			if (m->fd != -1)
				close(m->fd);
			free(m);
		}
		if (w->deadline != NULL)
			event_free(w->deadline);
		event_free(w->notify);
		event_free(w->tick);
		event_base_free(w->base);
		close(w->efd);
		pthread_mutex_destroy(&w->qlock);
		pthread_mutex_destroy(&w->conns_lock);
		hotkeys_destroy(&w->hot);
		bufpool_free(&w->pool);
	}
	free(workers);
	workers = NULL;
	nworkers = 0;
}

void
worker_main(struct thread *self)
{
	struct worker *w = &workers[self->index];
	sigset_t stall;

	worker_self = w;
	sigemptyset(&stall);
	sigaddset(&stall, WORKER_STALL_SIG);
	pthread_sigmask(SIG_UNBLOCK, &stall, NULL);
	thread_ready();
	log_debug(
	    "event loop running, backend %s", event_base_get_method(w->base));
	event_base_dispatch(w->base);
	log_info("event loop stopped");
}

/* Queue a message to w and wake it; no lock is held across the write. */
static void
worker_post(struct worker *w, struct worker_msg *m)
{
	pthread_mutex_lock(&w->qlock);
	STAILQ_INSERT_TAIL(&w->queue, m, entry);
	pthread_mutex_unlock(&w->qlock);
	if (eventfd_write(w->efd, 1) == -1)
		log_warn("cannot wake %s", w->thread->name);
}

void
worker_dispatch(int idx, int fd, const struct sockaddr *sa, socklen_t len)
{
	struct worker_msg *m = xmalloc(sizeof *m);

	m->fd = fd;
	addr_format(sa, len, m->peer, sizeof m->peer);
	worker_post(&workers[idx], m);
}

static void
worker_tick_cb(evutil_socket_t fd, short what, void *arg)
{
	struct worker *w = arg;
	struct conn *c, *next;

	worker_beat_enter(&w->beat, NULL);
	for (c = TAILQ_FIRST(&w->conns); c != NULL; c = next) {
		next = TAILQ_NEXT(c, entry);
		conn_tick(c); /* may close c */
	}
	worker_beat_leave(&w->beat);
}

static void
worker_deadline_cb(evutil_socket_t fd, short what, void *arg)
{
	struct worker *w = arg;
	struct conn *c;

	log_warnx("%d connections still sending after %d seconds, closing",
	    (int)stat_get(&w->counters.curr_conns), WORKER_STOP_SECS);
	while ((c = TAILQ_FIRST(&w->conns)) != NULL)
		conn_close(c, CONN_AT_DEADLINE, 0);
}

/* Close each connection once its replies are out; stop when none is left. */
static void
worker_begin_stop(struct worker *w)
{
	struct timeval tv = {WORKER_STOP_SECS, 0};
	struct conn *c, *next;

	w->stopping = true;
	event_del(w->notify);
	for (c = TAILQ_FIRST(&w->conns); c != NULL; c = next) {
		next = TAILQ_NEXT(c, entry);
		conn_shutdown(c, CONN_BY_SHUTDOWN);
	}
	if (TAILQ_EMPTY(&w->conns)) {
		event_base_loopbreak(w->base);
		return;
	}
	w->deadline = evtimer_new(w->base, worker_deadline_cb, w);
	if (w->deadline == NULL)
		fatalx("out of memory for a timer");
	evtimer_add(w->deadline, &tv);
}

/* The logger's thread: lines wait for a watcher of w. */
static void
worker_watch_wake(void *arg)
{
	struct worker *w = arg;

	atomic_store(&w->watch_due, true);
	(void)!eventfd_write(w->efd, 1);
}

/* Send what waits for w's watchers. */
static void
worker_watch_pull(struct worker *w)
{
	struct conn *c, *next;

	for (c = TAILQ_FIRST(&w->conns); c != NULL; c = next) {
		next = TAILQ_NEXT(c, entry);
		if (c->watch != NULL)
			conn_kick(c); /* may close c */
	}
}

static void
worker_notify_cb(evutil_socket_t fd, short what, void *arg)
{
	struct worker *w = arg;
	struct worker_msg *m;
	eventfd_t v;
	STAILQ_HEAD(, worker_msg) batch = STAILQ_HEAD_INITIALIZER(batch);

	worker_beat_enter(&w->beat, NULL);
	(void)eventfd_read(w->efd, &v);
	atomic_store_explicit(&w->pong,
	    atomic_load_explicit(&w->ping, memory_order_acquire),
	    memory_order_release);
	if (atomic_exchange(&w->watch_due, false))
		worker_watch_pull(w);
	pthread_mutex_lock(&w->qlock);
	STAILQ_CONCAT(&batch, &w->queue);
	pthread_mutex_unlock(&w->qlock);

	while ((m = STAILQ_FIRST(&batch)) != NULL) {
		STAILQ_REMOVE_HEAD(&batch, entry);
		if (m->fd == -1 || w->stopping) {
			if (m->fd != -1) {
				close(m->fd);
				hooks.conn_closed();
			}
			free(m);
			if (!w->stopping)
				worker_begin_stop(w);
			continue;
		}
		struct conn *c = conn_new(&w->own, m->fd, m->peer);

		pthread_mutex_lock(&w->conns_lock);
		TAILQ_INSERT_TAIL(&w->conns, c, entry);
		pthread_mutex_unlock(&w->conns_lock);
		stat_add(&w->counters.curr_conns, 1);
		stat_add(&w->counters.total_conns, 1);
		log_info("conn=%d peer=%s opened", c->fd, c->peer);
		free(m);
	}
	worker_beat_leave(&w->beat);
}

static void
worker_conn_closed(struct conn *c, void *arg)
{
	struct worker *w = arg;

	/* The signal handler must not find it once it is freed. */
	if (atomic_load_explicit(&w->beat.cur, memory_order_relaxed) == c)
		atomic_store_explicit(&w->beat.cur, NULL, memory_order_relaxed);
	pthread_mutex_lock(&w->conns_lock);
	TAILQ_REMOVE(&w->conns, c, entry);
	pthread_mutex_unlock(&w->conns_lock);
	atomic_store_explicit(&w->counters.curr_conns,
	    stat_get(&w->counters.curr_conns) - 1, memory_order_relaxed);
	hooks.conn_closed();
	if (w->stopping && TAILQ_EMPTY(&w->conns))
		event_base_loopbreak(w->base);
}

void
workers_stop(void)
{
	for (int i = 0; i < nworkers; i++) {
		struct worker_msg *m = xcalloc(1, sizeof *m);

		m->fd = -1;
		worker_post(&workers[i], m);
	}
}

/* Main's thread: ask w's loop to answer through its wake-up. */
void
worker_ping(int i)
{
	struct worker *w = &workers[i];

	atomic_fetch_add_explicit(&w->ping, 1, memory_order_release);
	(void)!eventfd_write(w->efd, 1);
}

/* Main's thread: whether w's loop has run since the last worker_ping. */
bool
worker_answered(int i)
{
	struct worker *w = &workers[i];

	return atomic_load_explicit(&w->pong, memory_order_acquire) ==
	       atomic_load_explicit(&w->ping, memory_order_relaxed);
}

struct conn_counters *
worker_counters(int i)
{
	return &workers[i].counters;
}

struct cache_stats *
worker_cache_stats(int i)
{
	return &workers[i].cstats;
}

struct proto_latency *
worker_latency(int i)
{
	return &workers[i].lat;
}

struct hotkeys *
worker_hotkeys(int i)
{
	return &workers[i].hot;
}

/* Two connections in descriptor order, for qsort. */
static int
workers_conn_cmp(const void *a, const void *b)
{
	int fa = conn_fd(*(struct conn *const *)a),
	    fb = conn_fd(*(struct conn *const *)b);

	return (fa > fb) - (fa < fb);
}

/* Every worker's connections in descriptor order, as memcached lists
 * them: a client that takes its id from the last line finds its own, the
 * newest, whichever worker holds it. All the lists are locked at once, in
 * worker order, which every caller keeps; a worker only ever takes its
 * own otherwise. */
void
workers_stats_conns(struct obuf *out)
{
	struct conn **all = NULL, *c;
	size_t n = 0, cap = 0;

	for (int i = 0; i < nworkers; i++)
		pthread_mutex_lock(&workers[i].conns_lock);
	for (int i = 0; i < nworkers; i++)
		TAILQ_FOREACH(c, &workers[i].conns, entry) {
			if (n == cap) {
				cap = cap ? cap * 2 : 64;
				all = xreallocarray(all, cap, sizeof *all);
			}
			all[n++] = c;
		}
	if (n > 0)
		qsort(all, n, sizeof *all, workers_conn_cmp);
	for (size_t k = 0; k < n; k++)
		conn_stats(all[k], out);
	for (int i = nworkers - 1; i >= 0; i--)
		pthread_mutex_unlock(&workers[i].conns_lock);
	free(all);
}
