/* Live log streams: memcached's watch and the admin's /logs. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <unistd.h>

#include "counter.h"
#include "log.h"
#include "log_event.h"
#include "obuf.h"
#include "thread.h"
#include "watch.h"
#include "xmalloc.h"

struct watcher {
	struct log_filter filter;
	void (*wake)(void *);
	void *wake_arg;
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
/* Lines copied to watchers, all together: written by the logger only. */
static _Atomic uint64_t nsent;

int
watch_count(void)
{
	return atomic_load_explicit(&nwatchers, memory_order_relaxed);
}

struct watcher *
watch_start(const struct log_filter *f, void (*wake)(void *), void *arg)
{
	struct watcher *w = xcalloc(1, sizeof *w);

	w->filter = *f;
	w->wake = wake;
	w->wake_arg = arg;
	w->buf = xmalloc(WATCH_BUF_MAX);
	pthread_mutex_init(&w->lock, NULL);
	log_event_watchers(w->filter.categories, 1);
	pthread_mutex_lock(&watch_lock);
	LIST_INSERT_HEAD(&watchers, w, entry);
	atomic_fetch_add(&nwatchers, 1);
	pthread_mutex_unlock(&watch_lock);
	return w;
}

void
watch_stop(struct watcher *w)
{
	pthread_mutex_lock(&watch_lock);
	LIST_REMOVE(w, entry);
	atomic_fetch_sub(&nwatchers, 1);
	pthread_mutex_unlock(&watch_lock);
	log_event_watchers(w->filter.categories, -1);
	pthread_mutex_destroy(&w->lock);
	free(w->buf);
	free(w);
}

bool
watch_pull(struct watcher *w, struct obuf *out)
{
	bool left = false;

	/* Leave lines with the watcher (where they are bounded) while the
	 * client has not taken the last batch. */
	pthread_mutex_lock(&w->lock);
	if (obuf_pending(out) >= WATCH_BUF_MAX / 2)
		left = w->len > 0;
	else if (w->len > 0) {
		obuf_add(out, w->buf, w->len);
		w->len = 0;
	}
	pthread_mutex_unlock(&w->lock);
	return left;
}

/* "N lines skipped" in the stream's own format: memcached's
 * "skipped=N" line to a watcher of its events, else the logger's line in
 * the log's format. */
static size_t
watch_marker(char *buf, size_t cap, const struct watcher *w,
    const struct log_line *l,
    size_t (*format)(char *, size_t, const struct log_line *))
{
	const unsigned events =
	    ((1u << LOG_EV_END) - 1) & ~((1u << LOG_EV_FETCH) - 1);
	unsigned long long skipped = w->skipped;
	char msg[128];
	struct log_line m = {.ts = l->ts,
	    .level = LOG_LVL_WARN,
	    .category = LOG_CAT_GENERAL,
	    .thread = "logger",
	    .role = ROLE_LOGGER,
	    .msg = msg};

	if (w->filter.categories & events)
		return (size_t)snprintf(buf, cap, "skipped=%llu\n", skipped);
	m.len = (size_t)snprintf(msg, sizeof msg,
	    "watch: %llu lines skipped, the client reads too slowly", skipped);
	return format(buf, cap, &m);
}

uint64_t
watch_sent(void)
{
	return atomic_load_explicit(&nsent, memory_order_relaxed);
}

uint64_t
watch_skipped(void)
{
	return atomic_load_explicit(&nskipped, memory_order_relaxed);
}

void
watch_publish(const struct log_line *l, const char *line, size_t n,
    size_t (*format)(char *, size_t, const struct log_line *))
{
	struct watcher *w;

	if (watch_count() == 0)
		return;
	pthread_mutex_lock(&watch_lock);
	LIST_FOREACH(w, &watchers, entry) {
		if (!log_filter_match(&w->filter, l))
			continue;
		pthread_mutex_lock(&w->lock);
		if (w->skipped > 0 &&
		    WATCH_BUF_MAX - w->len >= LOG_LINE_MAX + n) {
			w->len += watch_marker(
			    w->buf + w->len, LOG_LINE_MAX, w, l, format);
			w->skipped = 0;
		}
		if (w->skipped == 0 && WATCH_BUF_MAX - w->len >= n) {
			memcpy(w->buf + w->len, line, n);
			w->len += n;
			w->pending = true;
			stat_add(&nsent, 1);
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
			w->wake(w->wake_arg);
		}
	pthread_mutex_unlock(&watch_lock);
}
