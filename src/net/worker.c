/* Worker threads: a libevent base each, their queues and counters. */
#include <errno.h>
#include <execinfo.h>
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
#include "xmalloc.h"

/* How long a stopping worker waits for replies to reach slow clients. */
#define WORKER_STOP_SECS 5

struct worker_msg {
	int fd; /* -1: stop */
	char peer[ADDR_MAX];
	STAILQ_ENTRY(worker_msg) entry;
};

/* A buffer holds a burst of pipelined requests or replies; a worker keeps
 * enough for its busy connections at once (1 MiB). */
#define WORKER_BUF_SIZE  16384
#define WORKER_BUFS_KEPT 64

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

static struct worker *workers;
static int nworkers;
static struct worker_hooks hooks;
static struct event *stall_timer;
static long long stall_ms;
/* The signal the watchdog sends a stalled worker for its stack. */
#define WORKER_STALL_SIG (SIGRTMIN)
/* The calling worker, for that signal's handler. */
static _Thread_local struct worker *worker_self;

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

/* The stalled worker's thread, interrupted by the watchdog: where it is
 * and what it serves, into its own snapshot. Async-signal-safe:
 * backtrace() was called once before (its first call loads libgcc). */
static void
worker_stall_handler(int sig)
{
	struct worker *w = worker_self;
	struct worker_snap *s;
	struct conn *c;
	unsigned want;
	int saved = errno;

	if (w == NULL)
		return;
	s = &w->snap;
	want = atomic_load_explicit(&s->want, memory_order_acquire);
	s->nframes = backtrace(s->frames, WORKER_FRAMES);
	s->fd = -1;
	s->has_line = false;
	c = atomic_load_explicit(&w->beat.cur, memory_order_relaxed);
	if (c != NULL) {
		s->fd = c->fd;
		memcpy(s->peer, c->peer, sizeof s->peer);
		if (c->proto.line != NULL) {
			s->linelen = c->proto.linelen < sizeof s->line
			                 ? c->proto.linelen
			                 : sizeof s->line;
			memcpy(s->line, c->proto.line, s->linelen);
			s->has_line = true;
		}
	}
	atomic_store_explicit(&s->done, want, memory_order_release);
	errno = saved;
}

/* Up to cap bytes of s into buf, the unprintable ones as \xNN. */
static void
worker_escape(const char *s, size_t len, char *buf, size_t cap)
{
	size_t o = 0;

	for (size_t i = 0; i < len && o + 5 < cap; i++) {
		unsigned char ch = (unsigned char)s[i];

		if (ch > ' ' && ch < 0x7f && ch != '\\')
			buf[o++] = (char)ch;
		else
			o += (size_t)snprintf(buf + o, cap - o, "\\x%02x", ch);
	}
	buf[o] = '\0';
}

/* "cmd=get key=foo" from the request line, or what stands in for it. */
static void
worker_stall_request(const struct worker_snap *s, char *buf, size_t cap)
{
	char cmd[64], key[WORKER_LINE_MAX * 4 + 1];
	size_t i = 0, at, n;

	if (s->fd == -1) {
		snprintf(buf, cap,
		    "no connection (the worker's own timer "
		    "or wake-up)");
		return;
	}
	if (!s->has_line) {
		snprintf(buf, cap,
		    "conn=%d peer=%s cmd=- key=- (binary, or between requests)",
		    s->fd, s->peer);
		return;
	}
	while (i < s->linelen && s->line[i] == ' ')
		i++;
	for (at = i; i < s->linelen && s->line[i] != ' '; i++)
		;
	n = i - at < 15 ? i - at : 15;
	worker_escape(s->line + at, n, cmd, sizeof cmd);
	while (i < s->linelen && s->line[i] == ' ')
		i++;
	for (at = i; i < s->linelen && s->line[i] != ' '; i++)
		;
	worker_escape(s->line + at, i - at, key, sizeof key);
	snprintf(buf, cap, "conn=%d peer=%s cmd=%s key=%s", s->fd, s->peer,
	    cmd[0] ? cmd : "-", key[0] ? key : "-");
}

/* The stack as "fn+0x1a <- fn2+0x40 ...", innermost first, without the
 * handler's own frame and the kernel's trampoline. */
static void
worker_stall_stack(const struct worker_snap *s, char *buf, size_t cap)
{
	char **names;
	size_t o = 0;

	buf[0] = '\0';
	if (s->nframes <= 2 ||
	    (names = backtrace_symbols(s->frames, s->nframes)) == NULL) {
		snprintf(buf, cap, "unknown");
		return;
	}
	for (int i = 2; i < s->nframes && o + 1 < cap; i++) {
		const char *n = names[i], *open = strchr(n, '('),
		           *close = open ? strchr(open, ')') : NULL;
		int len;

		/* "file(fn+0x1a) [addr]": the function; "file(+0x1a)", one
		 * not exported: the file's name and the offset, for
		 * addr2line; neither: the address. */
		if (open != NULL && close != NULL && close > open + 1) {
			const char *base = memrchr(n, '/', (size_t)(open - n));
			int blen;

			base = base != NULL ? base + 1 : n;
			blen = open[1] == '+' ? (int)(open - base) : 0;
			len = snprintf(buf + o, cap - o, "%s%.*s%.*s",
			    o ? " <- " : "", blen, base,
			    (int)(close - open - 1), open + 1);
		} else
			len = snprintf(buf + o, cap - o, "%s%p",
			    o ? " <- " : "", s->frames[i]);
		if (len < 0)
			break;
		o += (size_t)len;
	}
	free(names);
}

/* Ask the stalled w for its stack and request and log them. */
static void
worker_stall_report(struct worker *w, long long ms)
{
	struct worker_snap *s = &w->snap;
	unsigned want =
	    atomic_load_explicit(&s->want, memory_order_relaxed) + 1;
	char req[WORKER_LINE_MAX * 5 + ADDR_MAX + 128], stack[900];
	struct timespec tick = {0, 1000000};
	int waited = 0;

	atomic_store_explicit(&s->want, want, memory_order_release);
	if (pthread_kill(w->thread->pthread, WORKER_STALL_SIG) == 0)
		while (atomic_load_explicit(&s->done, memory_order_acquire) !=
		           want &&
		       waited++ < WORKER_SNAP_WAIT_MS)
			nanosleep(&tick, NULL);
	if (atomic_load_explicit(&s->done, memory_order_acquire) != want) {
		log_warnx("stall: %s has been in one callback for %lld ms; "
		          "its stack did not come",
		    w->thread->name, ms);
		return;
	}
	worker_stall_request(s, req, sizeof req);
	worker_stall_stack(s, stack, sizeof stack);
	log_warnx("stall: %s has been in one callback for %lld ms: %s; "
	          "stack: %s",
	    w->thread->name, ms, req, stack);
}

static long long
worker_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The watchdog's tick: a heartbeat odd and unchanged since stall_ms is a
 * stall, said once; its end is said when the heartbeat moves. */
static void
workers_watch_cb(evutil_socket_t fd, short what, void *arg)
{
	long long now = worker_now_ms();

	for (int i = 0; i < nworkers; i++) {
		struct worker *w = &workers[i];
		struct worker_watch *d = &w->watch;
		unsigned long turn =
		    atomic_load_explicit(&w->beat.turn, memory_order_relaxed);

		if (turn != d->turn || (turn & 1) == 0) {
			if (d->stalled) {
				log_notice(
				    "stall: %s is back in its event loop "
				    "after %lld ms or more",
				    w->thread->name, now - d->since_ms);
				atomic_store_explicit(&w->counters.stalled, 0,
				    memory_order_relaxed);
			}
			d->turn = turn;
			d->since_ms = now;
			d->stalled = false;
			continue;
		}
		if (d->stalled || now - d->since_ms < stall_ms)
			continue;
		d->stalled = true;
		stat_add(&w->counters.stalls, 1);
		atomic_store_explicit(
		    &w->counters.stalled, 1, memory_order_relaxed);
		worker_stall_report(w, now - d->since_ms);
	}
}

void
workers_watchdog(struct event_base *base, unsigned ms)
{
	struct sigaction sa;
	void *frame;
	long long period;

	if (ms == 0)
		return;
	stall_ms = ms;
	(void)backtrace(&frame, 1);
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = worker_stall_handler;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = SA_RESTART;
	if (sigaction(WORKER_STALL_SIG, &sa, NULL) == -1)
		fatal("sigaction");
	/* A stall is seen within a quarter of stall_ms, at most 250 ms. */
	period = ms / 4 < 5 ? 5 : ms / 4 > 250 ? 250 : ms / 4;
	stall_timer = event_new(base, -1, EV_PERSIST, workers_watch_cb, NULL);
	if (stall_timer == NULL ||
	    event_add(stall_timer, &(struct timeval){(time_t)(period / 1000),
	                               (suseconds_t)(period % 1000) * 1000}) ==
	        -1)
		fatalx("cannot add the stall watchdog's timer");
}

void
workers_watchdog_stop(void)
{
	if (stall_timer != NULL)
		event_free(stall_timer);
	stall_timer = NULL;
}

/* Main's thread: whether the watchdog holds worker idx stalled now. */
bool
worker_stalled(int i)
{
	return stat_get(&workers[i].counters.stalled) != 0;
}
