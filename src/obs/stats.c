/* The replies of "stats" and its groups, rendered from the table of
 * figures (figures.h) read since "stats reset". */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "accept.h"
#include "cache.h"
#include "figures.h"
#include "latency.h"
#include "log_ring.h"
#include "maint.h"
#include "obs.h"
#include "obuf.h"
#include "proto_text.h"
#include "stats.h"
#include "stats_detail.h"
#include "stats_hotkeys.h"
#include "thread.h"
#include "tl_build.h"
#include "watch.h"
#include "worker.h"
#include "xmalloc.h"

/* pid to max_connections: the process, before any counter. */
static void
stats_process(struct obuf *out, const struct obs_reading *r)
{
	struct rusage ru;

	(void)r;
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
	    "STAT max_connections %d\r\n",
	    (int)getpid(), obs_uptime(), (long long)time(NULL), TL_WIRE_VERSION,
	    event_get_version(), (int)(8 * sizeof(void *)),
	    (long)ru.ru_utime.tv_sec, (long)ru.ru_utime.tv_usec,
	    (long)ru.ru_stime.tv_sec, (long)ru.ru_stime.tv_usec,
	    obs_config()->max_conns);
}

/* Each connection has one struct conn, made at accept and freed at
 * close: memcached's connection_structures are the open ones. */
static void
stats_structures(struct obuf *out, const struct obs_reading *r)
{
	obuf_printf(out, "STAT connection_structures %llu\r\n",
	    (unsigned long long)obs_total(r, OBS_CONN_curr_conns));
}

/* memcached's reserve of descriptors: none is kept. */
static void
stats_reserved_fds(struct obuf *out, const struct obs_reading *r)
{
	(void)r;
	obuf_adds(out, "STAT reserved_fds 0\r\n");
}

static void
stats_accepting(struct obuf *out, const struct obs_reading *r)
{
	(void)r;
	obuf_printf(out, "STAT accepting_conns %d\r\n", !accept_paused());
}

static void
stats_nthreads(struct obuf *out, const struct obs_reading *r)
{
	(void)r;
	obuf_printf(out, "STAT threads %d\r\n", thread_role_count(ROLE_WORKER));
}

static void
stats_watchers(struct obuf *out, const struct obs_reading *r)
{
	(void)r;
	obuf_printf(out, "STAT log_watchers %d\r\n", watch_count());
}

static void
stats_version(struct obuf *out, const struct obs_reading *r)
{
	(void)r;
	obuf_printf(out, "STAT threadline_version %s\r\n", TL_VERSION);
}

/* memcached's rebalancer and crawler lines: a page move moves the page's
 * items to free chunks of their class (rescues), evicts those that find
 * none (evictions_nomem) or is refused while one is being read
 * (busy_items); moves run inline, never in the background of a reply. */
static void
stats_maint(struct obuf *out, const struct obs_reading *r)
{
	struct maint_state m;

	(void)r;
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

/* The classes' crawler counters, the reclaims made inline and the
 * cache's levels. Every eviction and every reclaim at a store is made
 * inline by the worker storing: memcached's direct reclaims. */
static void
stats_cache_tail(struct obuf *out, const struct obs_reading *r)
{
	struct cache_class_stats *cs = obs_classes(r->view);
	uint64_t checked = 0, reflocked = 0, direct = 0;
	struct cache_totals t;

	for (int i = 0; i < cache_class_count(); i++) {
		checked += cs[i].crawler_items_checked;
		reflocked += cs[i].lrutail_reflocked;
	}
	free(cs);
	for (int i = 0; i < thread_role_count(ROLE_WORKER); i++)
		direct += obs_value(r, OBS_CACHE_evictions, i) +
		          obs_value(r, OBS_CACHE_reclaimed, i);
	cache_totals(&t);
	obuf_printf(out,
	    "STAT crawler_items_checked %llu\r\n"
	    "STAT lrutail_reflocked %llu\r\n"
	    "STAT direct_reclaims %llu\r\n"
	    "STAT malloc_fails %llu\r\n"
	    "STAT limit_maxbytes %llu\r\n"
	    "STAT bytes %llu\r\n"
	    "STAT curr_items %llu\r\n",
	    (unsigned long long)checked, (unsigned long long)reflocked,
	    (unsigned long long)direct, (unsigned long long)cache_alloc_fails(),
	    (unsigned long long)t.limit, (unsigned long long)t.bytes,
	    (unsigned long long)t.curr_items);
}

/* A line of "stats": a row, every row of a block, or what no row holds. */
struct stats_line {
	enum { STATS_ROW, STATS_BLOCK, STATS_FN } what;
	int id; /* the row or the block */
	void (*fn)(struct obuf *, const struct obs_reading *);
};
#define STATS_ROW(id)                                                          \
	{                                                                      \
		STATS_ROW, id, NULL                                            \
	}
#define STATS_BLOCK(b)                                                         \
	{                                                                      \
		STATS_BLOCK, b, NULL                                           \
	}
#define STATS_FN(fn)                                                           \
	{                                                                      \
		STATS_FN, 0, fn                                                \
	}

/* memcached's order. A row with a STAT name that is not here follows. */
static const struct stats_line stats_lines[] = {
    STATS_FN(stats_process),
    STATS_ROW(OBS_CONN_curr_conns),
    STATS_ROW(OBS_CONN_total_conns),
    STATS_ROW(OBS_ACCEPT_rejected),
    STATS_FN(stats_structures),
    STATS_ROW(OBS_CACHE_response_obj_oom),
    STATS_ROW(OBS_CONN_read_buf_oom),
    STATS_FN(stats_reserved_fds),
    STATS_ROW(OBS_CONN_http_refused),
    STATS_ROW(OBS_CONN_cmds),
    STATS_ROW(OBS_CONN_bytes_read),
    STATS_ROW(OBS_CONN_bytes_written),
    STATS_FN(stats_accepting),
    STATS_ROW(OBS_ACCEPT_pauses),
    STATS_ROW(OBS_ACCEPT_paused_us),
    STATS_FN(stats_nthreads),
    STATS_ROW(OBS_CONN_conn_yields),
    STATS_ROW(OBS_CONN_idle_kicks),
    STATS_ROW(OBS_LOG_dropped),
    STATS_ROW(OBS_LOGGER_lines_written),
    STATS_ROW(OBS_LOG_watch_skipped),
    STATS_ROW(OBS_LOG_watch_sent),
    STATS_FN(stats_watchers),
    STATS_BLOCK(OBS_ADMIN),
    STATS_FN(stats_version),
    STATS_BLOCK(OBS_CACHE),
    STATS_FN(stats_maint),
    STATS_FN(stats_cache_tail),
};
#define STATS_NLINES (sizeof stats_lines / sizeof stats_lines[0])

static void
stats_row(struct obuf *out, const struct obs_reading *r, int id)
{
	obuf_printf(out, "STAT %s %llu\r\n", obs_rows[id].stat,
	    (unsigned long long)obs_total(r, id));
}

/* Whether stats_lines[] names row id, itself or by its block. */
static bool
stats_listed(int id)
{
	for (size_t i = 0; i < STATS_NLINES; i++)
		if ((stats_lines[i].what == STATS_ROW &&
		        stats_lines[i].id == id) ||
		    (stats_lines[i].what == STATS_BLOCK &&
		        stats_lines[i].id == (int)obs_rows[id].block))
			return true;
	return false;
}

void
stats_general(struct obuf *out)
{
	struct obs_reading r;

	obs_read(&r, OBS_SINCE_RESET);
	for (size_t i = 0; i < STATS_NLINES; i++) {
		const struct stats_line *l = &stats_lines[i];

		if (l->what == STATS_ROW)
			stats_row(out, &r, l->id);
		else if (l->what == STATS_FN)
			l->fn(out, &r);
		else
			for (int id = 0; id < OBS_NROWS; id++)
				if ((int)obs_rows[id].block == l->id &&
				    obs_rows[id].stat != NULL)
					stats_row(out, &r, id);
	}
	for (int id = 0; id < OBS_NROWS; id++)
		if (obs_rows[id].stat != NULL && !stats_listed(id))
			stats_row(out, &r, id);
	obs_reading_free(&r);
	obuf_adds(out, "END\r\n");
}

/* Thread tid's utime and stime in clock ticks, from its stat. */
static int
stats_thread_ticks(int tid, unsigned long long *ut, unsigned long long *st)
{
	char path[64], buf[1024], *p;
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
	        "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", ut,
	        st) != 2)
		return -1;
	return 0;
}

/* Nanoseconds thread tid has run, the first field of its schedstat;
 * -1 on a kernel without it (no CONFIG_SCHED_INFO). */
static int
stats_thread_runtime(int tid, uint64_t *ns)
{
	char path[64];
	unsigned long long v;
	FILE *f;
	int ok;

	snprintf(path, sizeof path, "/proc/self/task/%d/schedstat", tid);
	if ((f = fopen(path, "re")) == NULL)
		return -1;
	ok = fscanf(f, "%llu", &v) == 1;
	fclose(f);
	if (!ok)
		return -1;
	*ns = v;
	return 0;
}

/*
 * Each thread's last split of its run time into user and system. The
 * ticks of stat have 10 ms steps, schedstat's run time nanoseconds but no
 * modes: the run time is split as the ticks split, and neither part may
 * go back (as the kernel's cputime_adjust keeps them), or a Prometheus
 * rate() of a mode would see a counter reset. Readers are the workers
 * ("stats threads") and admin, hence the lock.
 */
struct stats_cpu_split {
	int tid;
	uint64_t user_ns, sys_ns;
};
static pthread_mutex_t stats_cpu_lock = PTHREAD_MUTEX_INITIALIZER;
static struct stats_cpu_split *stats_cpu_splits;
static size_t stats_cpu_nsplits;

/* tid's split, a new one at 0 the first time; under stats_cpu_lock. */
static struct stats_cpu_split *
stats_cpu_split_of(int tid)
{
	struct stats_cpu_split *s;

	for (size_t i = 0; i < stats_cpu_nsplits; i++)
		if (stats_cpu_splits[i].tid == tid)
			return &stats_cpu_splits[i];
	stats_cpu_splits = xreallocarray(
	    stats_cpu_splits, stats_cpu_nsplits + 1, sizeof *stats_cpu_splits);
	s = &stats_cpu_splits[stats_cpu_nsplits++];
	*s = (struct stats_cpu_split){.tid = tid};
	return s;
}

/* Split run time rt (ns) as the ticks ut:st split, neither part below
 * its last value; until the first tick it is all user time. */
static void
stats_cpu_advance(struct stats_cpu_split *s, uint64_t rt, unsigned long long ut,
    unsigned long long st)
{
	uint64_t us, sy = 0;

	if (rt <= s->user_ns + s->sys_ns)
		return;
	if (ut + st > 0)
		sy = (uint64_t)((long double)rt * st / (ut + st));
	if (sy < s->sys_ns)
		sy = s->sys_ns;
	us = rt - sy;
	if (us < s->user_ns) {
		us = s->user_ns;
		sy = rt - us;
	}
	s->user_ns = us;
	s->sys_ns = sy;
}

int
stats_thread_cpu(int tid, double *user, double *sys)
{
	unsigned long long ut, st;
	struct stats_cpu_split *s;
	uint64_t rt;

	if (stats_thread_ticks(tid, &ut, &st) == -1)
		return -1;
	if (stats_thread_runtime(tid, &rt) == -1) {
		long hz = sysconf(_SC_CLK_TCK);

		*user = (double)ut / (double)hz;
		*sys = (double)st / (double)hz;
		return 0;
	}
	pthread_mutex_lock(&stats_cpu_lock);
	s = stats_cpu_split_of(tid);
	stats_cpu_advance(s, rt, ut, st);
	*user = (double)s->user_ns / 1e9;
	*sys = (double)s->sys_ns / 1e9;
	pthread_mutex_unlock(&stats_cpu_lock);
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
	struct obs_lat *l = obs_latency(OBS_SINCE_RESET);
	struct lat_snap *total = xcalloc(PROTO_CLS_COUNT, sizeof *total);
	struct lat_snap s;

	for (int i = 0; i < thread_count(); i++) {
		const struct thread *t = thread_at(i);
		char prefix[48];

		if (t->role != ROLE_WORKER)
			continue;
		snprintf(prefix, sizeof prefix, "%s:", t->name);
		for (int cls = 0; cls < PROTO_CLS_COUNT; cls++) {
			obs_lat_snap(&l[t->index * PROTO_CLS_COUNT + cls], &s);
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
	free(total);
	free(l);
	obuf_adds(out, "END\r\n");
}

/* The kernel's one-letter state of a thread of ours (R, S, D...), '?' if
 * it cannot be read. */
static char
stats_thread_state(int tid)
{
	char path[64], buf[512], *p;
	FILE *f;
	size_t n;

	snprintf(path, sizeof path, "/proc/self/task/%d/stat", tid);
	if ((f = fopen(path, "re")) == NULL)
		return '?';
	n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = '\0';
	/* After the last ')' of the name, a space, then the state. */
	if ((p = strrchr(buf, ')')) == NULL || p[1] != ' ' || p[2] == '\0')
		return '?';
	return p[2];
}

/* One thread's lines: who it is, its CPU time and log drops, then the
 * rows of its blocks that name a "stats threads" line; a worker's
 * latency last. */
static void
stats_thread(struct obuf *out, const struct thread *t,
    const struct obs_reading *r, const struct obs_lat *lat)
{
	const char *n = t->name;
	double user = 0, sys = 0;
	struct lat_snap all;

	stats_thread_cpu(t->tid, &user, &sys);
	obuf_printf(out,
	    "STAT %s:role %s\r\n"
	    "STAT %s:tid %d\r\n"
	    "STAT %s:cpu_user %.6f\r\n"
	    "STAT %s:cpu_system %.6f\r\n",
	    n, thread_role_name(t->role), n, (int)t->tid, n, user, n, sys);
	obuf_printf(out, "STAT %s:state %c\r\n", n, stats_thread_state(t->tid));
	stats_thread_line(out, t, "log_dropped", log_ring_dropped(t->ring));
	for (int id = 0; id < OBS_NROWS; id++) {
		int i = obs_block_instance(obs_rows[id].block, t);

		if (obs_rows[id].thread != NULL && i >= 0)
			stats_thread_line(
			    out, t, obs_rows[id].thread, obs_value(r, id, i));
	}
	if (t->role == ROLE_WORKER) {
		obs_lat_worker(lat, t->index, &all);
		stats_thread_line(
		    out, t, "latency_p50_us", lat_quantile(&all, 0.5));
		stats_thread_line(
		    out, t, "latency_p99_us", lat_quantile(&all, 0.99));
	}
}

void
stats_threads(struct obuf *out)
{
	struct obs_lat *lat = obs_latency(OBS_SINCE_RESET);
	struct obs_reading r;

	obs_read(&r, OBS_SINCE_RESET);
	for (int i = 0; i < thread_count(); i++)
		stats_thread(out, thread_at(i), &r, lat);
	obs_reading_free(&r);
	free(lat);
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

/* A counter of class i, "STAT items:I:name N". */
#define STATS_ITEMS_LINE(f)                                                    \
	obuf_printf(out, "STAT items:%d:" #f " %llu\r\n", i + 1,               \
	    (unsigned long long)cs->f);

/* "stats items" of class i: cs since reset. */
static void
stats_items_class(struct obuf *out, int i, const struct cache_class_stats *cs)
{
	obuf_printf(out,
	    "STAT items:%d:number %llu\r\n"
	    "STAT items:%d:age 0\r\n"
	    "STAT items:%d:mem_requested %llu\r\n",
	    i + 1, (unsigned long long)cs->items, i + 1, i + 1,
	    (unsigned long long)cs->mem_requested);
	STATS_ITEMS_LINE(evicted)
	STATS_ITEMS_LINE(evicted_nonzero)
	obuf_printf(out, "STAT items:%d:evicted_time %llu\r\n", i + 1,
	    (unsigned long long)cs->evicted_time);
	STATS_ITEMS_LINE(outofmemory)
	obuf_printf(out, "STAT items:%d:tailrepairs 0\r\n", i + 1);
	OBS_CLASS_TAIL(STATS_ITEMS_LINE)
}
#undef STATS_ITEMS_LINE

/* "stats items": every class holding items or having counted something
 * since start; the last number is the items too large for a chunk.
 * CLOCK keeps no LRU: no number_hot... or age_hot... line, age (the LRU
 * tail's idle time) is 0, and so is tailrepairs (no refcount repair at
 * the tail). */
void
stats_items(struct obuf *out)
{
	struct cache_class_stats *all = obs_classes(OBS_SINCE_START);
	struct cache_class_stats *since = obs_classes(OBS_SINCE_RESET);

	for (int i = 0; i < cache_class_count(); i++) {
		const struct cache_class_stats *cs = &all[i];

		if (cs->items == 0 && cs->pages == 0 && cs->evicted == 0 &&
		    cs->outofmemory == 0 && cs->reclaimed == 0 &&
		    cs->crawler_reclaimed == 0)
			continue;
		stats_items_class(out, i, &since[i]);
	}
	free(all);
	free(since);
	obuf_adds(out, "END\r\n");
}

/* "stats sizes": memcached answers so unless started with track_sizes,
 * which has no counterpart here. */
static void
stats_sizes(struct obuf *out)
{
	obuf_adds(out, "STAT sizes_status disabled\r\nEND\r\n");
}

/* "stats reset": the counters memcached resets (commands, connections
 * made and refused, bytes, evictions, the classes' counters, per thread
 * and in total) and the per-prefix detail start again from 0. No counter
 * is written: each has one writer, its owner; replies subtract what
 * obs_reset() noted. */
static void
stats_reset(struct obuf *out)
{
	obs_reset();
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
	if (glen == 7 && memcmp(g, "hotkeys", 7) == 0) {
		stats_hotkeys(p, end, out);
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
