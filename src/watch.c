#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/queue.h>
#include <unistd.h>

#include <event2/event.h>

#include "conn.h"
#include "log.h"
#include "logger.h"
#include "service.h"
#include "watch.h"
#include "xmalloc.h"

struct watcher {
	struct conn *conn;
	struct event *ev; /* the eventfd, in the owning worker's base */
	int efd;
	/* Filters: lines up to level, of one thread or role, of one
	 * category. */
	int level;
	int role; /* -1: any, or match by name */
	char thread[16];
	int category; /* -1: any */
	/* Shared with the logger, under lock. */
	pthread_mutex_t lock;
	char *buf;
	size_t len;
	unsigned long long skipped;
	bool pending; /* the logger's: lines added since the last wake */
	LIST_ENTRY(watcher) entry;
};

/* The list is walked by the logger and changed by workers. */
static pthread_mutex_t watch_lock = PTHREAD_MUTEX_INITIALIZER;
static LIST_HEAD(, watcher) watchers = LIST_HEAD_INITIALIZER(watchers);
static _Atomic int nwatchers;
/* Lines skipped for slow watchers, all watchers together ("stats
 * threads", logger:watch_skipped). */
static _Atomic uint64_t nskipped;

int
watch_count(void)
{
	return atomic_load_explicit(&nwatchers, memory_order_relaxed);
}

static void
watch_event_cb(evutil_socket_t fd, short what, void *arg)
{
	struct watcher *w = arg;
	eventfd_t v;

	(void)eventfd_read(fd, &v);
	conn_kick(w->conn);
}

/* One "key=value" filter into w; -1 if it is not one we know. */
static int
watch_filter(struct watcher *w, const char *tok, size_t len)
{
	char val[32];
	const char *eq = memchr(tok, '=', len);
	size_t klen, vlen;

	if (eq == NULL)
		return -1;
	klen = (size_t)(eq - tok);
	vlen = len - klen - 1;
	if (vlen == 0 || vlen >= sizeof val)
		return -1;
	memcpy(val, eq + 1, vlen);
	val[vlen] = '\0';
	if (klen == 5 && memcmp(tok, "level", 5) == 0)
		return (w->level = log_level_parse(val)) == -1 ? -1 : 0;
	if (klen == 8 && memcmp(tok, "category", 8) == 0) {
		if (strcmp(val, "access") == 0)
			w->category = LOG_CAT_ACCESS;
		else if (strcmp(val, "general") == 0)
			w->category = LOG_CAT_GENERAL;
		else
			return -1;
		return 0;
	}
	if (klen == 6 && memcmp(tok, "thread", 6) == 0) {
		for (int r = 0; r < ROLE_COUNT; r++)
			if (strcmp(val, service_role_name(r)) == 0) {
				w->role = r;
				return 0;
			}
		for (int i = 0; i < service_count(); i++)
			if (strcmp(val, service_at(i)->name) == 0) {
				memcpy(w->thread, service_at(i)->name,
				    sizeof w->thread);
				return 0;
			}
	}
	return -1;
}

int
watch_start(
    struct conn *c, const char *args, size_t len, char *err, size_t errlen)
{
	struct watcher *w = xcalloc(1, sizeof *w);
	const char *p = args, *end = args + len;

	w->level = LOG_LVL_DEBUG;
	w->role = -1;
	w->category = -1;
	while (p < end) {
		const char *tok;

		while (p < end && *p == ' ')
			p++;
		if (p == end)
			break;
		tok = p;
		while (p < end && *p != ' ')
			p++;
		if (watch_filter(w, tok, (size_t)(p - tok)) == -1) {
			snprintf(err, errlen,
			    "bad watch filter '%.*s': expected level=LEVEL, "
			    "thread=NAME|ROLE or category=general|access",
			    (int)(p - tok > 64 ? 64 : p - tok), tok);
			free(w);
			return -1;
		}
	}
	w->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (w->efd == -1) {
		snprintf(err, errlen, "cannot watch: out of file descriptors");
		free(w);
		return -1;
	}
	w->conn = c;
	w->buf = xmalloc(WATCH_BUF_MAX);
	pthread_mutex_init(&w->lock, NULL);
	w->ev = event_new(event_get_base(c->ev), w->efd, EV_READ | EV_PERSIST,
	    watch_event_cb, w);
	if (w->ev == NULL)
		fatalx("out of memory for a watch event");
	event_add(w->ev, NULL);
	c->watch = w;
	pthread_mutex_lock(&watch_lock);
	LIST_INSERT_HEAD(&watchers, w, entry);
	atomic_fetch_add(&nwatchers, 1);
	pthread_mutex_unlock(&watch_lock);
	return 0;
}

void
watch_stop(struct conn *c)
{
	struct watcher *w = c->watch;

	pthread_mutex_lock(&watch_lock);
	LIST_REMOVE(w, entry);
	atomic_fetch_sub(&nwatchers, 1);
	pthread_mutex_unlock(&watch_lock);
	event_free(w->ev);
	close(w->efd);
	pthread_mutex_destroy(&w->lock);
	free(w->buf);
	free(w);
	c->watch = NULL;
}

bool
watch_pull(struct conn *c)
{
	struct watcher *w = c->watch;
	bool left = false;

	/* Leave lines with the watcher (where they are bounded) while the
	 * client has not taken the last batch. */
	pthread_mutex_lock(&w->lock);
	if (obuf_pending(&c->out) >= WATCH_BUF_MAX / 2)
		left = w->len > 0;
	else if (w->len > 0) {
		obuf_add(&c->out, w->buf, w->len);
		w->len = 0;
	}
	pthread_mutex_unlock(&w->lock);
	return left;
}

static bool
watch_matches(const struct watcher *w, const struct log_line *l)
{
	if (l->level > w->level)
		return false;
	if (w->category != -1 && l->category != w->category)
		return false;
	if (w->role != -1)
		return l->role == w->role;
	return w->thread[0] == '\0' || strcmp(w->thread, l->thread) == 0;
}

/* "N lines skipped" in the stream's own format, as the logger's line. */
static size_t
watch_marker(
    char *buf, size_t cap, unsigned long long skipped, const struct log_line *l)
{
	char msg[128];
	struct log_line m = {.ts = l->ts,
	    .level = LOG_LVL_WARN,
	    .category = LOG_CAT_GENERAL,
	    .thread = "logger",
	    .role = ROLE_LOGGER,
	    .msg = msg};

	m.len = (size_t)snprintf(msg, sizeof msg,
	    "watch: %llu lines skipped, the client reads too slowly", skipped);
	return logger_format_line(buf, cap, &m);
}

uint64_t
watch_skipped(void)
{
	return atomic_load_explicit(&nskipped, memory_order_relaxed);
}

void
watch_publish(const struct log_line *l, const char *line, size_t n)
{
	struct watcher *w;

	if (watch_count() == 0)
		return;
	pthread_mutex_lock(&watch_lock);
	LIST_FOREACH(w, &watchers, entry)
	{
		if (!watch_matches(w, l))
			continue;
		pthread_mutex_lock(&w->lock);
		if (w->skipped > 0 &&
		    WATCH_BUF_MAX - w->len >= LOG_LINE_MAX + n) {
			w->len += watch_marker(
			    w->buf + w->len, LOG_LINE_MAX, w->skipped, l);
			w->skipped = 0;
		}
		if (w->skipped == 0 && WATCH_BUF_MAX - w->len >= n) {
			memcpy(w->buf + w->len, line, n);
			w->len += n;
			w->pending = true;
		} else {
			w->skipped++;
			atomic_fetch_add_explicit(
			    &nskipped, 1, memory_order_relaxed);
		}
		pthread_mutex_unlock(&w->lock);
	}
	pthread_mutex_unlock(&watch_lock);
}

void
watch_wake(void)
{
	struct watcher *w;

	if (watch_count() == 0)
		return;
	pthread_mutex_lock(&watch_lock);
	LIST_FOREACH(w, &watchers, entry)
	if (w->pending) {
		w->pending = false;
		(void)!eventfd_write(w->efd, 1);
	}
	pthread_mutex_unlock(&watch_lock);
}
