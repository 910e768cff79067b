#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "accept.h"
#include "admin_guard.h"
#include "cache.h"
#include "conn.h"
#include "counter.h"
#include "latency.h"
#include "log.h"
#include "log_ring.h"
#include "logger.h"
#include "maint.h"
#include "obuf.h"
#include "proto_text.h"
#include "obs.h"
#include "stats.h"
#include "stats_detail.h"
#include "thread.h"
#include "tl_build.h"
#include "watch.h"
#include "worker.h"
#include "xmalloc.h"

/*
 * "stats reset". Each counter has one writer, its owner, so the reset
 * writes none: it notes what every counter reads then, and replies show
 * what they count since. Gauges (connections, items, bytes) are not
 * counters and stay as they are.
 */
#define STATS_BASE_MIN 1024
static pthread_mutex_t stats_base_lock = PTHREAD_MUTEX_INITIALIZER;
static struct stats_base {
	const _Atomic uint64_t *c;
	uint64_t v;
} * stats_base;            /* open addressing by counter address */
static size_t stats_nbase; /* slots, a power of two; 0: no reset yet */
static struct cache_class_stats *stats_class_base;
static int stats_class_nbase;
static uint64_t stats_log_dropped_base, stats_watch_skipped_base,
    stats_watch_sent_base;

/* The slot of counter c in the table of nslots. */
static struct stats_base *
stats_base_slot(struct stats_base *tab, size_t nslots, const void *c)
{
	size_t i = ((uintptr_t)c >> 3) * 0x9e3779b97f4a7c15ull & (nslots - 1);

	while (tab[i].c != NULL && tab[i].c != c)
		i = (i + 1) & (nslots - 1);
	return &tab[i];
}

/* What counter c has counted since the last reset. */
static uint64_t
stats_read(_Atomic uint64_t *c)
{
	uint64_t v = stat_get(c), base = 0;

	pthread_mutex_lock(&stats_base_lock);
	if (stats_nbase > 0) {
		struct stats_base *b =
		    stats_base_slot(stats_base, stats_nbase, c);

		base = b->c != NULL ? b->v : 0;
	}
	pthread_mutex_unlock(&stats_base_lock);
	return v >= base ? v - base : 0;
}

/* One connection counter summed over the workers. */
static uint64_t
stats_conn_sum(size_t offset)
{
	uint64_t total = 0;

	for (int i = 0; i < thread_role_count(ROLE_WORKER); i++)
		total += stats_read(
		    (_Atomic uint64_t *)((char *)worker_counters(i) + offset));
	return total;
}
#define SUM(field) stats_conn_sum(offsetof(struct conn_counters, field))

/* Connections open now: a gauge, which a reset leaves alone. Each has
 * one struct conn, made at accept and freed at close: memcached's
 * connection_structures. */
static uint64_t
stat_get_curr_conns(void)
{
	uint64_t total = 0;

	for (int i = 0; i < thread_role_count(ROLE_WORKER); i++)
		total += stat_get(&worker_counters(i)->curr_conns);
	return total;
}

/* One cache counter summed over the threads that use the cache: the
 * workers and maint. */
static uint64_t
stats_cache_sum(size_t offset)
{
	uint64_t total = stats_read(
	    (_Atomic uint64_t *)((char *)maint_cache_stats() + offset));

	for (int i = 0; i < thread_role_count(ROLE_WORKER); i++)
		total += stats_read(
		    (_Atomic uint64_t *)((char *)worker_cache_stats(i) +
		                         offset));
	return total;
}
#define CSUM(field) stats_cache_sum(offsetof(struct cache_stats, field))

/* A class counter since the last reset. */
static uint64_t
stats_class_since(int cls, size_t offset, const struct cache_class_stats *cs)
{
	uint64_t v = *(const uint64_t *)((const char *)cs + offset), b = 0;

	pthread_mutex_lock(&stats_base_lock);
	if (stats_class_base != NULL && cls < stats_class_nbase)
		b = *(const uint64_t *)((const char *)&stats_class_base[cls] +
		                        offset);
	pthread_mutex_unlock(&stats_base_lock);
	return v >= b ? v - b : 0;
}

/* A class counter summed over the classes, since the last reset. */
static uint64_t
stats_classes_since(size_t offset)
{
	uint64_t total = 0;

	for (int i = 0; i < cache_class_count(); i++) {
		struct cache_class_stats cs;

		cache_class_stats(i, &cs);
		total += stats_class_since(i, offset, &cs);
	}
	return total;
}

/* A cache counter summed over the workers alone: what they did while
 * serving requests, not maint in the background. */
static uint64_t
stats_cache_workers(size_t offset)
{
	uint64_t total = 0;

	for (int i = 0; i < thread_role_count(ROLE_WORKER); i++)
		total += stats_read(
		    (_Atomic uint64_t *)((char *)worker_cache_stats(i) +
		                         offset));
	return total;
}

/* memcached's rebalancer and crawler lines: a page move moves the page's
 * items to free chunks of their class (rescues), evicts those that find
 * none (evictions_nomem) or is refused while one is being read
 * (busy_items); moves run inline, never in the background of a reply. */
static void
stats_maint(struct obuf *out)
{
	struct maint_state m;

	maint_state(&m);
	obuf_printf(out,
	    "STAT slab_reassign_rescues %llu\r\n"
	    "STAT slab_reassign_chunk_rescues 0\r\n"
	    "STAT slab_reassign_evictions_nomem %llu\r\n"
	    "STAT slab_reassign_inline_reclaim 0\r\n"
	    "STAT slab_reassign_busy_items %llu\r\n"
	    "STAT slab_reassign_busy_deletes 0\r\n"
	    "STAT slab_reassign_running 0\r\n"
	    "STAT lru_crawler_running %d\r\n"
	    "STAT lru_crawler_starts %llu\r\n"
	    "STAT slab_global_page_pool %u\r\n",
	    (unsigned long long)cache_reassign_rescued(),
	    (unsigned long long)cache_reassign_evicted(),
	    (unsigned long long)cache_reassign_busy(), m.running ? 1 : 0,
	    (unsigned long long)m.starts, cache_pool_pages());
}

static void
stats_cache(struct obuf *out)
{
	struct cache_totals t;

	cache_totals(&t);
#define STATS_CACHE_LINE(f)                                                    \
	obuf_printf(out, "STAT " #f " %llu\r\n",                               \
	    (unsigned long long)stats_cache_sum(                               \
	        offsetof(struct cache_stats, f)));
	CACHE_STATS_FIELDS(STATS_CACHE_LINE)
#undef STATS_CACHE_LINE
	stats_maint(out);
	/* Every eviction and every reclaim at a store is made inline by
	 * the worker storing: memcached's direct reclaims. */
	obuf_printf(out,
	    "STAT crawler_items_checked %llu\r\n"
	    "STAT lrutail_reflocked %llu\r\n"
	    "STAT direct_reclaims %llu\r\n"
	    "STAT malloc_fails %llu\r\n"
	    "STAT limit_maxbytes %llu\r\n"
	    "STAT bytes %llu\r\n"
	    "STAT curr_items %llu\r\n",
	    (unsigned long long)stats_classes_since(
	        offsetof(struct cache_class_stats, crawler_items_checked)),
	    (unsigned long long)stats_classes_since(
	        offsetof(struct cache_class_stats, lrutail_reflocked)),
	    (unsigned long long)(stats_cache_workers(
	                             offsetof(struct cache_stats, evictions)) +
	                         stats_cache_workers(
	                             offsetof(struct cache_stats, reclaimed))),
	    (unsigned long long)cache_alloc_fails(),
	    (unsigned long long)t.limit, (unsigned long long)t.bytes,
	    (unsigned long long)t.curr_items);
}

/* Lines the threads' log rings dropped, since start. */
static uint64_t
stats_log_dropped_all(void)
{
	uint64_t total = 0;

	for (int i = 0; i < thread_count(); i++)
		total += log_ring_dropped(thread_at(i)->ring);
	return total;
}

/* A total kept outside a counter, since the last reset. */
static uint64_t
stats_since(uint64_t v, const uint64_t *base)
{
	uint64_t b;

	pthread_mutex_lock(&stats_base_lock);
	b = *base;
	pthread_mutex_unlock(&stats_base_lock);
	return v >= b ? v - b : 0;
}

static uint64_t
stats_log_dropped(void)
{
	return stats_since(stats_log_dropped_all(), &stats_log_dropped_base);
}

void
stats_general(struct obuf *out)
{
	struct admin_guard_counters *ac = admin_guard_counters();
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	obuf_printf(out,
	    "STAT pid %d\r\n"
	    "STAT uptime %lld\r\n"
	    "STAT time %lld\r\n"
	    "STAT version %s\r\n"
	    "STAT libevent %s\r\n"
	    "STAT pointer_size %d\r\n"
	    "STAT rusage_user %ld.%06ld\r\n"
	    "STAT rusage_system %ld.%06ld\r\n"
	    "STAT max_connections %d\r\n"
	    "STAT curr_connections %llu\r\n"
	    "STAT total_connections %llu\r\n"
	    "STAT rejected_connections %llu\r\n"
	    "STAT connection_structures %llu\r\n"
	    "STAT read_buf_oom %llu\r\n"
	    "STAT reserved_fds 0\r\n"
	    "STAT http_requests_refused %llu\r\n"
	    "STAT cmd_total %llu\r\n"
	    "STAT bytes_read %llu\r\n"
	    "STAT bytes_written %llu\r\n"
	    "STAT accepting_conns %d\r\n"
	    "STAT listen_disabled_num %llu\r\n"
	    "STAT time_in_listen_disabled_us %llu\r\n"
	    "STAT threads %d\r\n"
	    "STAT conn_yields %llu\r\n"
	    "STAT idle_kicks %llu\r\n"
	    "STAT log_worker_dropped %llu\r\n"
	    "STAT log_worker_written %llu\r\n"
	    "STAT log_watcher_skipped %llu\r\n"
	    "STAT log_watcher_sent %llu\r\n"
	    "STAT log_watchers %d\r\n"
	    "STAT admin_curr_connections %llu\r\n"
	    "STAT admin_total_connections %llu\r\n"
	    "STAT admin_listen_disabled_num %llu\r\n"
	    "STAT admin_header_timeouts %llu\r\n"
	    "STAT admin_refused_hosts %llu\r\n"
	    "STAT threadline_version %s\r\n",
	    (int)getpid(), obs_uptime(), (long long)time(NULL), TL_WIRE_VERSION,
	    event_get_version(), (int)(8 * sizeof(void *)),
	    (long)ru.ru_utime.tv_sec, (long)ru.ru_utime.tv_usec,
	    (long)ru.ru_stime.tv_sec, (long)ru.ru_stime.tv_usec,
	    obs_config()->max_conns, (unsigned long long)SUM(curr_conns),
	    (unsigned long long)SUM(total_conns),
	    (unsigned long long)stats_read(&accept_counters()->rejected),
	    (unsigned long long)stat_get_curr_conns(),
	    (unsigned long long)SUM(read_buf_oom),
	    (unsigned long long)SUM(http_refused),
	    (unsigned long long)SUM(cmds), (unsigned long long)SUM(bytes_read),
	    (unsigned long long)SUM(bytes_written), !accept_paused(),
	    (unsigned long long)stats_read(&accept_counters()->pauses),
	    (unsigned long long)stats_read(&accept_counters()->paused_us),
	    thread_role_count(ROLE_WORKER),
	    (unsigned long long)SUM(conn_yields),
	    (unsigned long long)SUM(idle_kicks),
	    (unsigned long long)stats_log_dropped(),
	    (unsigned long long)stats_read(&logger_counters()->lines_written),
	    (unsigned long long)stats_since(
	        watch_skipped(), &stats_watch_skipped_base),
	    (unsigned long long)stats_since(
	        watch_sent(), &stats_watch_sent_base),
	    watch_count(), (unsigned long long)stat_get(&ac->curr_conns),
	    (unsigned long long)stats_read(&ac->total_conns),
	    (unsigned long long)stats_read(&ac->listen_disabled),
	    (unsigned long long)stats_read(&ac->header_timeouts),
	    (unsigned long long)stats_read(&ac->bad_hosts), TL_VERSION);
	stats_cache(out);
	obuf_adds(out, "END\r\n");
}

int
stats_thread_cpu(int tid, double *user, double *sys)
{
	char path[64], buf[1024], *p;
	unsigned long long ut, st;
	long hz = sysconf(_SC_CLK_TCK);
	FILE *f;
	size_t n;

	snprintf(path, sizeof path, "/proc/self/task/%d/stat", tid);
	if ((f = fopen(path, "re")) == NULL)
		return -1;
	n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = '\0';
	/* The name may hold spaces and parentheses: fields follow the last
	 * ')'. utime and stime are fields 14 and 15, 11 and 12 after it. */
	if ((p = strrchr(buf, ')')) == NULL ||
	    sscanf(p + 2,
	        "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut,
	        &st) != 2)
		return -1;
	*user = (double)ut / (double)hz;
	*sys = (double)st / (double)hz;
	return 0;
}

/* A counter line of "stats threads": "STAT <thread>:<name> <value>". */
static void
stats_thread_line(
    struct obuf *out, const struct thread *t, const char *name, uint64_t v)
{
	obuf_printf(
	    out, "STAT %s:%s %llu\r\n", t->name, name, (unsigned long long)v);
}

/* Worker w's latencies of class cls since the last reset. */
static void
stats_latency_read(int w, int cls, struct lat_snap *s)
{
	struct lat_hist *h = &worker_latency(w)->cls[cls];

	for (unsigned b = 0; b < LAT_BUCKETS; b++)
		s->bucket[b] = stats_read(&h->bucket[b]);
	s->max_us = stat_get(&h->max_us);
	lat_finish(s);
}

/* Worker w's latencies of every class together. */
static void
stats_latency_worker(int w, struct lat_snap *all)
{
	struct lat_snap s;

	memset(all, 0, sizeof *all);
	for (int cls = 0; cls < PROTO_CLS_COUNT; cls++) {
		stats_latency_read(w, cls, &s);
		lat_merge(all, &s);
	}
	lat_finish(all);
}

/* The lines of one histogram: "STAT <prefix>count N", the percentiles
 * and the max. */
static void
stats_latency_lines(struct obuf *out, const char *prefix, const char *cls,
    const struct lat_snap *s)
{
	obuf_printf(out,
	    "STAT %s%s:count %llu\r\n"
	    "STAT %s%s:p50_us %llu\r\n"
	    "STAT %s%s:p90_us %llu\r\n"
	    "STAT %s%s:p99_us %llu\r\n"
	    "STAT %s%s:p999_us %llu\r\n"
	    "STAT %s%s:max_us %llu\r\n",
	    prefix, cls, (unsigned long long)s->count, prefix, cls,
	    (unsigned long long)lat_quantile(s, 0.5), prefix, cls,
	    (unsigned long long)lat_quantile(s, 0.9), prefix, cls,
	    (unsigned long long)lat_quantile(s, 0.99), prefix, cls,
	    (unsigned long long)lat_quantile(s, 0.999), prefix, cls,
	    (unsigned long long)s->max_us);
}

/* "stats latency": per worker and class, then per class over all
 * workers, how many requests and how long they took, in microseconds.
 * A percentile is the upper end of its bucket, no more than the max. */
static void
stats_latency(struct obuf *out)
{
	static struct lat_snap total[PROTO_CLS_COUNT];
	static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
	struct lat_snap s;

	/* The totals are large: one set, for one reader at a time. */
	pthread_mutex_lock(&lock);
	memset(total, 0, sizeof total);
	for (int i = 0; i < thread_count(); i++) {
		const struct thread *t = thread_at(i);
		char prefix[48];

		if (t->role != ROLE_WORKER)
			continue;
		snprintf(prefix, sizeof prefix, "%s:", t->name);
		for (int cls = 0; cls < PROTO_CLS_COUNT; cls++) {
			stats_latency_read(t->index, cls, &s);
			stats_latency_lines(
			    out, prefix, proto_class_name(cls), &s);
			lat_merge(&total[cls], &s);
		}
	}
	for (int cls = 0; cls < PROTO_CLS_COUNT; cls++) {
		lat_finish(&total[cls]);
		stats_latency_lines(
		    out, "", proto_class_name(cls), &total[cls]);
	}
	pthread_mutex_unlock(&lock);
	obuf_adds(out, "END\r\n");
}

static void
stats_thread_worker(struct obuf *out, const struct thread *t)
{
	struct lat_snap all;

	struct conn_counters *c = worker_counters(t->index);
	struct cache_stats *cs = worker_cache_stats(t->index);

	stats_thread_line(out, t, "curr_connections", stat_get(&c->curr_conns));
	stats_thread_line(
	    out, t, "total_connections", stats_read(&c->total_conns));
	stats_thread_line(out, t, "cmds", stats_read(&c->cmds));
	stats_thread_line(out, t, "bytes_read", stats_read(&c->bytes_read));
	stats_thread_line(
	    out, t, "bytes_written", stats_read(&c->bytes_written));
	stats_thread_line(out, t, "http_refused", stats_read(&c->http_refused));
	stats_thread_line(out, t, "conn_yields", stats_read(&c->conn_yields));
	stats_thread_line(out, t, "idle_kicks", stats_read(&c->idle_kicks));
#define STATS_THREAD_LINE(f) stats_thread_line(out, t, #f, stats_read(&cs->f));
	CACHE_STATS_FIELDS(STATS_THREAD_LINE)
#undef STATS_THREAD_LINE
	stats_latency_worker(t->index, &all);
	stats_thread_line(out, t, "latency_p50_us", lat_quantile(&all, 0.5));
	stats_thread_line(out, t, "latency_p99_us", lat_quantile(&all, 0.99));
}

static void
stats_thread_maint(struct obuf *out, const struct thread *t)
{
	struct cache_stats *cs = maint_cache_stats();

	stats_thread_line(
	    out, t, "crawler_reclaimed", stats_read(&cs->crawler_reclaimed));
	stats_thread_line(
	    out, t, "expired_unfetched", stats_read(&cs->expired_unfetched));
}

static void
stats_thread_accept(struct obuf *out, const struct thread *t)
{
	stats_thread_line(
	    out, t, "accepted", stats_read(&accept_counters()->accepted));
	stats_thread_line(
	    out, t, "rejected", stats_read(&accept_counters()->rejected));
}

static void
stats_thread_logger(struct obuf *out, const struct thread *t)
{
	struct logger_counters *c = logger_counters();

	stats_thread_line(
	    out, t, "lines_written", stats_read(&c->lines_written));
	stats_thread_line(out, t, "lines_failed", stats_read(&c->lines_failed));
	stats_thread_line(out, t, "lines_dropped", stats_log_dropped());
	stats_thread_line(out, t, "watch_skipped",
	    stats_since(watch_skipped(), &stats_watch_skipped_base));
}

/* What only threads of a role count, asked of the module that owns it. */
static void (*const stats_thread_role[ROLE_COUNT])(
    struct obuf *, const struct thread *) = {
    [ROLE_WORKER] = stats_thread_worker,
    [ROLE_MAINT] = stats_thread_maint,
    [ROLE_ACCEPT] = stats_thread_accept,
    [ROLE_LOGGER] = stats_thread_logger,
};

void
stats_threads(struct obuf *out)
{
	for (int i = 0; i < thread_count(); i++) {
		const struct thread *t = thread_at(i);
		double user = 0, sys = 0;
		const char *n = t->name;

		stats_thread_cpu(t->tid, &user, &sys);
		obuf_printf(out,
		    "STAT %s:role %s\r\n"
		    "STAT %s:tid %d\r\n"
		    "STAT %s:cpu_user %.6f\r\n"
		    "STAT %s:cpu_system %.6f\r\n",
		    n, thread_role_name(t->role), n, (int)t->tid, n, user, n,
		    sys);
		stats_thread_line(
		    out, t, "log_dropped", log_ring_dropped(t->ring));
		if (stats_thread_role[t->role] != NULL)
			stats_thread_role[t->role](out, t);
	}
	obuf_adds(out, "END\r\n");
}

/* memcached's verbosity: 0 by default, 1 with -v, 3 at debug. */
static void
stats_settings_verbosity(struct obuf *out)
{
	obuf_printf(out, "%d", log_verbosity_of_level(log_level_global()));
}

/* -s: memcached says NULL when there is none, not nothing. */
static void
stats_settings_domain_socket(struct obuf *out)
{
	obuf_adds(out, obs_config()->unix_socket != NULL &&
	                       obs_config()->unix_socket[0] != '\0'
	                   ? obs_config()->unix_socket
	                   : "NULL");
}

/* -Y's file, or "no". */
static void
stats_settings_auth(struct obuf *out)
{
	obuf_adds(out,
	    obs_config()->auth_file != NULL ? obs_config()->auth_file : "no");
}

/* The workers running, once 0 ("one per CPU") is resolved. */
static void
stats_settings_num_threads(struct obuf *out)
{
	obuf_printf(out, "%d", thread_role_count(ROLE_WORKER));
}

/* The delimiter "stats detail" cuts prefixes at (-D). */
static void
stats_settings_key_prefix(struct obuf *out)
{
	obuf_adds(out, stats_detail_delimiter());
}

/* The global level now: "verbosity" changes it. */
static void
stats_settings_log_level(struct obuf *out)
{
	obuf_adds(out, log_level_name(log_level_global()));
}

/* The file read at start-up: where settings came from, not one of them;
 * no line without one. */
static void
stats_settings_config_file(struct obuf *out)
{
	if (obs_config()->config_file != NULL)
		obuf_printf(
		    out, "STAT config_file %s\r\n", obs_config()->config_file);
}

static void
stats_settings_detail_enabled(struct obuf *out)
{
	obuf_adds(out, stats_detail_enabled() ? "yes" : "no");
}

/* The largest chunk: larger items get a mapping of their own. */
static void
stats_settings_slab_chunk_max(struct obuf *out)
{
	struct cache_class_stats cs;

	cache_class_stats(cache_class_count() - 2, &cs);
	obuf_printf(out, "%zu", cs.chunk_size);
}

/* The cache's limit in bytes now: "cache_memlimit" changes it. */
/* memcached prints it in bytes. */
static void
stats_settings_read_buf(struct obuf *out)
{
	obuf_printf(out, "%zu", obs_config()->read_buf_mb << 20);
}

static void
stats_settings_maxbytes(struct obuf *out)
{
	struct cache_totals t;

	cache_totals(&t);
	obuf_printf(out, "%llu", (unsigned long long)t.limit);
}

/* What "slabs automove" and "lru_crawler" set last. */
static void
stats_settings_automove(struct obuf *out)
{
	struct maint_state m;

	maint_state(&m);
	obuf_printf(out, "%u", m.automove);
}

static void
stats_settings_crawler(struct obuf *out)
{
	struct maint_state m;

	maint_state(&m);
	obuf_adds(out, m.crawler ? "yes" : "no");
}

static void
stats_settings_crawler_sleep(struct obuf *out)
{
	struct maint_state m;

	maint_state(&m);
	obuf_printf(out, "%u", m.sleep_us);
}

static void
stats_settings_crawler_tocrawl(struct obuf *out)
{
	struct maint_state m;

	maint_state(&m);
	obuf_printf(out, "%u", m.tocrawl);
}

/* memcached's temporary LRU is on when -o temporary_ttl is given. */
static void
stats_settings_temp_lru(struct obuf *out)
{
	obuf_adds(out, obs_config()->temporary_ttl > 0 ? "yes" : "no");
}

/* Off, memcached prints its default, 61. */
static void
stats_settings_temporary_ttl(struct obuf *out)
{
	obuf_printf(out, "%d",
	    obs_config()->temporary_ttl > 0 ? obs_config()->temporary_ttl : 61);
}

/* memcached's spelling of the evict setting. */
static void
stats_settings_evictions(struct obuf *out)
{
	obuf_adds(out, obs_config()->evict ? "on" : "off");
}

/* memcached's word for -B; ours is the option's. */
static void
stats_settings_binding(struct obuf *out)
{
	static const char *const names[] = {
	    "ascii", "auto-negotiate", "binary"};

	obuf_adds(out,
	    names[obs_config()->protocol >= 0 && obs_config()->protocol <= 2
	              ? obs_config()->protocol
	              : 1]);
}

/* The lines memcached prints, in its order and under its names, which
 * tools read. A setting of the table whose stats name is here prints
 * here, as configured unless value shows what runs now (levels, threads
 * and the memory limit change after start-up) or memcached's spelling;
 * the other settings follow under their own names. */
static const struct stats_setting {
	const char *name;
	const char *fixed;
	void (*value)(struct obuf *);
} stats_memcached_settings[] = {
    {"maxconns", NULL, NULL},
    {"tcpport", NULL, NULL},
    {"udpport", "0", NULL},
    {"inter", NULL, NULL},
    {"verbosity", NULL, stats_settings_verbosity},
    {"num_threads", NULL, stats_settings_num_threads},
    {"tcp_backlog", NULL, NULL},
    {"maxconns_fast", "yes", NULL},
    {"log_level", NULL, stats_settings_log_level},
    {"log_file", NULL, NULL},
    {"pidfile", NULL, NULL},
    {"daemonize", NULL, NULL},
    {"maxbytes", NULL, stats_settings_maxbytes},
    /* -S is refused at start-up: SASL is never on. */
    {"auth_enabled_sasl", "no", NULL},
    {"auth_enabled_ascii", NULL, stats_settings_auth},
    {"item_size_max", NULL, NULL},
    {"evictions", NULL, stats_settings_evictions},
    {"domain_socket", NULL, stats_settings_domain_socket},
    {"cas_enabled", NULL, NULL},
    {"binding_protocol", NULL, stats_settings_binding},
    {"shutdown_command", NULL, NULL},
    {"stat_key_prefix", NULL, stats_settings_key_prefix},
    {"detail_enabled", NULL, stats_settings_detail_enabled},
    {"slab_reassign", "yes", NULL},
    {"slab_automove", NULL, stats_settings_automove},
    {"slab_chunk_max", NULL, stats_settings_slab_chunk_max},
    {"lru_crawler", NULL, stats_settings_crawler},
    {"lru_crawler_sleep", NULL, stats_settings_crawler_sleep},
    {"lru_crawler_tocrawl", NULL, stats_settings_crawler_tocrawl},
    {"dump_enabled", NULL, NULL},
    {"temp_lru", NULL, stats_settings_temp_lru},
    {"temporary_ttl", NULL, stats_settings_temporary_ttl},
    {"read_buf_mem_limit", NULL, stats_settings_read_buf},
    {"track_sizes", "no", NULL},
};
#define STATS_NMEMCACHED                                                       \
	(sizeof stats_memcached_settings / sizeof stats_memcached_settings[0])

/* The memcached line named name, or NULL. */
static const struct stats_setting *
stats_settings_memcached(const char *name)
{
	for (size_t i = 0; i < STATS_NMEMCACHED; i++)
		if (strcmp(stats_memcached_settings[i].name, name) == 0)
			return &stats_memcached_settings[i];
	return NULL;
}

/* "STAT name value" of a setting of the table; an unset one says unset,
 * an unset path has no line (memcached has none of ours to copy). */
static void
stats_settings_table_line(struct obuf *out, size_t i, const char *unset)
{
	const struct obs_config *cfg = obs_config();
	struct obs_setting s;

	cfg->setting(cfg->setting_arg, i, unset, &s);
	if (!s.path || strcmp(s.value, unset) != 0)
		obuf_printf(out, "STAT %s %s\r\n", s.stat, s.value);
	free(s.value);
}

/* memcached's lines first, then the rest of the table of settings. */
void
stats_settings(struct obuf *out)
{
	const struct obs_config *cfg = obs_config();
	struct obs_setting s;

	for (size_t i = 0; i < STATS_NMEMCACHED; i++) {
		const struct stats_setting *m = &stats_memcached_settings[i];

		if (m->fixed == NULL && m->value == NULL) {
			for (size_t j = 0;
			     cfg->setting(cfg->setting_arg, j, NULL, &s); j++)
				if (strcmp(s.stat, m->name) == 0)
					stats_settings_table_line(
					    out, j, "NULL");
			continue;
		}

		obuf_printf(out, "STAT %s ", m->name);
		if (m->fixed != NULL)
			obuf_adds(out, m->fixed);
		else
			m->value(out);
		obuf_adds(out, "\r\n");
	}
	stats_settings_config_file(out);
	for (size_t j = 0; cfg->setting(cfg->setting_arg, j, NULL, &s); j++)
		if (stats_settings_memcached(s.stat) == NULL)
			stats_settings_table_line(out, j, "-");
	obuf_adds(out, "END\r\n");
}

void
stats_conns(struct obuf *out)
{
	accept_stats_conns(out);
	workers_stats_conns(out);
	obuf_adds(out, "END\r\n");
}

/* "stats slabs": the size classes that have pages, memcached's lines.
 * Commands are not counted per class here, so its per-class get_hits,
 * cmd_set... lines are not printed. */
void
stats_slabs(struct obuf *out)
{
	uint64_t malloced = 0;
	int active = 0;

	for (int i = 0; i < cache_class_count() - 1; i++) {
		struct cache_class_stats cs;

		cache_class_stats(i, &cs);
		malloced += cs.malloced;
		if (cs.pages == 0)
			continue;
		active++;
		obuf_printf(out,
		    "STAT %d:chunk_size %zu\r\n"
		    "STAT %d:chunks_per_page %u\r\n"
		    "STAT %d:total_pages %u\r\n"
		    "STAT %d:total_chunks %llu\r\n"
		    "STAT %d:used_chunks %llu\r\n"
		    "STAT %d:free_chunks %llu\r\n"
		    "STAT %d:free_chunks_end %llu\r\n"
		    "STAT %d:mem_requested %llu\r\n",
		    i + 1, cs.chunk_size, i + 1, cs.chunks_per_page, i + 1,
		    cs.pages, i + 1, (unsigned long long)cs.total_chunks, i + 1,
		    (unsigned long long)cs.used_chunks, i + 1,
		    (unsigned long long)cs.free_chunks, i + 1,
		    (unsigned long long)cs.free_chunks_end, i + 1,
		    (unsigned long long)cs.mem_requested);
	}
	obuf_printf(out,
	    "STAT active_slabs %d\r\n"
	    "STAT total_malloced %llu\r\n",
	    active, (unsigned long long)malloced);
	obuf_adds(out, "END\r\n");
}

/* The counters of "stats items" after outofmemory and tailrepairs,
 * memcached's names in memcached's order. */
#define STATS_ITEMS_FIELDS(X)                                                  \
	X(reclaimed)                                                           \
	X(expired_unfetched)                                                   \
	X(evicted_unfetched)                                                   \
	X(crawler_reclaimed)                                                   \
	X(crawler_items_checked)                                               \
	X(lrutail_reflocked)

/* A counter of class i, "STAT items:I:name N". */
#define STATS_ITEMS_LINE(f)                                                    \
	obuf_printf(out, "STAT items:%d:" #f " %llu\r\n", i + 1,               \
	    (unsigned long long)stats_class_since(                             \
	        i, offsetof(struct cache_class_stats, f), &cs));

/* "stats items": every class holding items or having counted something;
 * the last number is the items too large for a chunk. CLOCK keeps no
 * LRU: no number_hot... or age_hot... line, age (the LRU tail's idle
 * time) is 0, and so is tailrepairs (no refcount repair at the tail). */
void
stats_items(struct obuf *out)
{
	for (int i = 0; i < cache_class_count(); i++) {
		struct cache_class_stats cs;

		cache_class_stats(i, &cs);
		if (cs.items == 0 && cs.pages == 0 && cs.evicted == 0 &&
		    cs.outofmemory == 0 && cs.reclaimed == 0 &&
		    cs.crawler_reclaimed == 0)
			continue;
		obuf_printf(out,
		    "STAT items:%d:number %llu\r\n"
		    "STAT items:%d:age 0\r\n"
		    "STAT items:%d:mem_requested %llu\r\n",
		    i + 1, (unsigned long long)cs.items, i + 1, i + 1,
		    (unsigned long long)cs.mem_requested);
		STATS_ITEMS_LINE(evicted)
		STATS_ITEMS_LINE(evicted_nonzero)
		obuf_printf(out, "STAT items:%d:evicted_time %llu\r\n", i + 1,
		    (unsigned long long)cs.evicted_time);
		STATS_ITEMS_LINE(outofmemory)
		obuf_printf(out, "STAT items:%d:tailrepairs 0\r\n", i + 1);
		STATS_ITEMS_FIELDS(STATS_ITEMS_LINE)
	}
	obuf_adds(out, "END\r\n");
}
#undef STATS_ITEMS_LINE

/* "stats sizes": memcached answers so unless started with track_sizes,
 * which has no counterpart here. */
static void
stats_sizes(struct obuf *out)
{
	obuf_adds(out, "STAT sizes_status disabled\r\nEND\r\n");
}

/* Note what counter c reads now as its zero. Lock held. */
static void
stats_base_note(_Atomic uint64_t *c)
{
	struct stats_base *b = stats_base_slot(stats_base, stats_nbase, c);

	b->c = c;
	b->v = stat_get(c);
}

/* Every counter of a block of them (a struct of counters only). */
static void
stats_base_block(void *block, size_t size)
{
	for (size_t o = 0; o < size; o += sizeof(_Atomic uint64_t))
		stats_base_note((_Atomic uint64_t *)((char *)block + o));
}

/* "stats reset": the counters memcached resets (commands, connections
 * made and refused, bytes, evictions, the classes' counters, per thread
 * and in total) and the per-prefix detail start again from 0. */
static void
stats_reset(struct obuf *out)
{
	int nworkers = thread_role_count(ROLE_WORKER);
	int nclasses = cache_class_count();
	/* Two slots per counter at least: probes stay short. */
	size_t need =
	    (size_t)(nworkers + 1) *
	        (sizeof(struct conn_counters) + sizeof(struct cache_stats) +
	            sizeof(struct proto_latency)) /
	        sizeof(_Atomic uint64_t) * 2 +
	    STATS_BASE_MIN;
	size_t n = STATS_BASE_MIN;

	while (n < need)
		n *= 2;
	pthread_mutex_lock(&stats_base_lock);
	if (n != stats_nbase) {
		free(stats_base);
		stats_base = xcalloc(n, sizeof *stats_base);
		stats_nbase = n;
	} else
		memset(stats_base, 0, n * sizeof *stats_base);
	for (int i = 0; i < nworkers; i++) {
		struct conn_counters *c = worker_counters(i);

		stats_base_block(c, sizeof *c);
		/* A gauge: the count of open connections stays. */
		stats_base_slot(stats_base, stats_nbase, &c->curr_conns)->v = 0;
		stats_base_block(
		    worker_cache_stats(i), sizeof(struct cache_stats));
		/* Histograms are counters; each max is a gauge and stays. */
		stats_base_block(
		    worker_latency(i), sizeof(struct proto_latency));
		for (int cls = 0; cls < PROTO_CLS_COUNT; cls++)
			stats_base_slot(stats_base, stats_nbase,
			    &worker_latency(i)->cls[cls].max_us)
			    ->v = 0;
	}
	stats_base_block(maint_cache_stats(), sizeof(struct cache_stats));
	stats_base_block(accept_counters(), sizeof(struct accept_counters));
	stats_base_block(logger_counters(), sizeof(struct logger_counters));
	stats_base_block(
	    admin_guard_counters(), sizeof(struct admin_guard_counters));
	if (stats_class_nbase != nclasses) {
		free(stats_class_base);
		stats_class_base =
		    xcalloc((size_t)nclasses, sizeof *stats_class_base);
		stats_class_nbase = nclasses;
	}
	for (int i = 0; i < nclasses; i++)
		cache_class_stats(i, &stats_class_base[i]);
	stats_log_dropped_base = stats_log_dropped_all();
	stats_watch_skipped_base = watch_skipped();
	stats_watch_sent_base = watch_sent();
	pthread_mutex_unlock(&stats_base_lock);
	stats_detail_clear();
	obuf_adds(out, "RESET\r\n");
}

/* memcached's cap on a cachedump reply, in bytes. */
#define STATS_DUMP_MAX (2u << 20)

/* One "ITEM key [N b; T s]" line of "stats cachedump". */
struct stats_dump {
	struct obuf *out;
	size_t start; /* of the reply in out */
	bool full;
};

static void
stats_dump_item(void *arg, const struct cache_debug *it)
{
	struct stats_dump *d = arg;

	/* memcached's cap on a dump's reply. */
	if (d->full || d->out->len - d->start > STATS_DUMP_MAX) {
		d->full = true;
		return;
	}
	obuf_printf(d->out, "ITEM %.*s [%u b; %u s]\r\n", (int)it->nkey,
	    it->key, it->nbytes, it->exptime);
}

/* A decimal number of up to 32 bits, the whole of t. */
static bool
stats_arg_u32(const char *t, size_t len, unsigned *v)
{
	char buf[16], *end;
	unsigned long n;

	if (len == 0 || len >= sizeof buf || t[0] < '0' || t[0] > '9')
		return false;
	memcpy(buf, t, len);
	buf[len] = '\0';
	errno = 0;
	n = strtoul(buf, &end, 10);
	if (errno != 0 || *end != '\0' || n > UINT32_MAX)
		return false;
	*v = (unsigned)n;
	return true;
}

/* The next space-separated word of [*p, end), into *w and *wlen. */
static bool
stats_word(const char **p, const char *end, const char **w, size_t *wlen)
{
	while (*p < end && **p == ' ')
		(*p)++;
	*w = *p;
	while (*p < end && **p != ' ')
		(*p)++;
	*wlen = (size_t)(*p - *w);
	return *wlen > 0;
}

/* "stats cachedump CLASS LIMIT": keys, sizes and expiry times (unix
 * seconds, 0 for none) of the items of one class, LIMIT at most (0:
 * all), as memcached; memcached's classes are numbered from 1. */
static void
stats_cachedump(const char *args, const char *end, struct obuf *out)
{
	struct stats_dump d = {out, out->len, false};
	const char *w1, *w2;
	size_t l1, l2;
	unsigned cls, limit;

	if (!stats_word(&args, end, &w1, &l1) ||
	    !stats_word(&args, end, &w2, &l2) || !stats_arg_u32(w1, l1, &cls) ||
	    !stats_arg_u32(w2, l2, &limit)) {
		obuf_adds(out, "CLIENT_ERROR bad command line\r\n");
		return;
	}
	if (cls > (unsigned)cache_class_count()) {
		obuf_adds(out, "CLIENT_ERROR Illegal slab id\r\n");
		return;
	}
	if (cls > 0)
		cache_class_dump((int)cls - 1, limit, stats_dump_item, &d);
	obuf_adds(out, "END\r\n");
}

/* "stats detail on|off|dump". */
static void
stats_detail(const char *args, const char *end, struct obuf *out)
{
	const char *w;
	size_t l;

	if (!stats_word(&args, end, &w, &l))
		l = 0;
	if (l == 2 && memcmp(w, "on", 2) == 0) {
		stats_detail_set(true);
		obuf_adds(out, "OK\r\n");
	} else if (l == 3 && memcmp(w, "off", 3) == 0) {
		stats_detail_set(false);
		obuf_adds(out, "OK\r\n");
	} else if (l == 4 && memcmp(w, "dump", 4) == 0) {
		stats_detail_dump(out);
		obuf_adds(out, "END\r\n");
	} else
		obuf_adds(
		    out, "CLIENT_ERROR usage: stats detail on|off|dump\r\n");
}

int
stats_answer(const char *line, size_t len, struct obuf *out)
{
	/* named: the reply's first line names the answering thread. First,
	 * not last: clients read the last line before END as the group's
	 * last entry (memcached's t/watcher_connid.t takes its connection's
	 * id from it in "stats conns"). */
	static const struct {
		const char *name;
		void (*fn)(struct obuf *);
		bool named;
	} groups[] = {
	    {"", stats_general, true},
	    {"settings", stats_settings, true},
	    {"items", stats_items, true},
	    {"slabs", stats_slabs, true},
	    {"sizes", stats_sizes, false},
	    {"reset", stats_reset, false},
	    {"threads", stats_threads, true},
	    {"conns", stats_conns, true},
	    {"latency", stats_latency, true},
	};
	const char *p = line, *end = line + len, *g;
	size_t glen;

	/* memcached reads the group and ignores what follows it, but for
	 * the groups that take arguments. */
	if (!stats_word(&p, end, &g, &glen))
		glen = 0;
	if (glen == 6 && memcmp(g, "detail", 6) == 0) {
		stats_detail(p, end, out);
		return 0;
	}
	if (glen == 9 && memcmp(g, "cachedump", 9) == 0) {
		stats_cachedump(p, end, out);
		return 0;
	}
	for (size_t i = 0; i < sizeof groups / sizeof groups[0]; i++)
		if (strlen(groups[i].name) == glen &&
		    memcmp(groups[i].name, g, glen) == 0) {
			if (groups[i].named)
				obuf_printf(out, "STAT thread %s\r\n",
				    thread_self_name());
			groups[i].fn(out);
			return 0;
		}
	return -1;
}
