/* The one reader of every figure: each block copied once per reply, and
 * the "stats reset" baseline, a copy of each block under one lock. */
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "counter.h"
#include "figures.h"
#include "log_ring.h"
#include "maint.h"
#include "watch.h"
#include "worker.h"
#include "xmalloc.h"

/* Each block's size in counters and the instance i of it. */
struct obs_block_desc {
	size_t n;
	void *(*at)(int);
};

static void *
obs_at_conn(int i)
{
	return worker_counters(i);
}

/* The workers' cache counters, then maint's. */
static void *
obs_at_cache(int i)
{
	return i < thread_role_count(ROLE_WORKER) ? worker_cache_stats(i)
	                                          : maint_cache_stats();
}

static void *
obs_at_accept(int i)
{
	(void)i;
	return accept_counters();
}

static void *
obs_at_logger(int i)
{
	(void)i;
	return logger_counters();
}

static void *
obs_at_admin(int i)
{
	(void)i;
	return admin_guard_counters();
}

static void *
obs_at_maint(int i)
{
	(void)i;
	return maint_cache_stats();
}

static const struct obs_block_desc obs_blocks[OBS_BLOCKS] = {
    [OBS_CONN] = {sizeof(struct conn_counters) / 8, obs_at_conn},
    [OBS_CACHE] = {sizeof(struct cache_stats) / 8, obs_at_cache},
    [OBS_ACCEPT] = {sizeof(struct accept_counters) / 8, obs_at_accept},
    [OBS_LOGGER] = {sizeof(struct logger_counters) / 8, obs_at_logger},
    [OBS_LOG] = {sizeof(struct obs_log_counts) / 8, NULL},
    [OBS_ADMIN] = {sizeof(struct admin_guard_counters) / 8, obs_at_admin},
    [OBS_MAINT] = {sizeof(struct cache_stats) / 8, obs_at_maint},
};

/*
 * The baseline: what every counter read at the last "stats reset", in
 * the layout of a reading (gauges 0), the histograms and the classes;
 * each reset replaces it whole. A reply subtracts it under the lock, once.
 */
static pthread_mutex_t obs_base_lock = PTHREAD_MUTEX_INITIALIZER;
static struct obs_reading obs_base;
static bool obs_base_set;
static struct obs_lat *obs_base_lat;
static struct cache_class_stats *obs_base_cls;

/* How many instances block b has. */
static int
obs_block_count(enum obs_block b)
{
	int w = thread_role_count(ROLE_WORKER);

	return b == OBS_CONN ? w : b == OBS_CACHE ? w + 1 : 1;
}

/* The rings' drops and the watchers' totals, as a block. */
static void
obs_read_log(uint64_t *v)
{
	struct obs_log_counts *c = (struct obs_log_counts *)v;

	c->dropped = 0;
	for (int i = 0; i < thread_count(); i++)
		c->dropped += log_ring_dropped(thread_at(i)->ring);
	c->watch_skipped = watch_skipped();
	c->watch_sent = watch_sent();
}

/* Every block since start. */
static void
obs_read_now(struct obs_reading *r)
{
	for (int b = 0; b < OBS_BLOCKS; b++) {
		const struct obs_block_desc *d = &obs_blocks[b];

		r->n[b] = obs_block_count(b);
		r->v[b] = xcalloc((size_t)r->n[b] * d->n, sizeof(uint64_t));
		if (b == OBS_LOG) {
			obs_read_log(r->v[b]);
			continue;
		}
		for (int i = 0; i < r->n[b]; i++) {
			_Atomic uint64_t *c = d->at(i);

			for (size_t k = 0; k < d->n; k++)
				r->v[b][(size_t)i * d->n + k] = stat_get(&c[k]);
		}
	}
}

/* v less b, never below 0: a counter read before its baseline. */
static uint64_t
obs_since(uint64_t v, uint64_t b)
{
	return v >= b ? v - b : 0;
}

void
obs_read(struct obs_reading *r, enum obs_view view)
{
	r->view = view;
	obs_read_now(r);
	if (view != OBS_SINCE_RESET)
		return;
	pthread_mutex_lock(&obs_base_lock);
	for (int b = 0; obs_base_set && b < OBS_BLOCKS; b++)
		for (size_t k = 0; k < (size_t)r->n[b] * obs_blocks[b].n; k++)
			r->v[b][k] = obs_since(r->v[b][k], obs_base.v[b][k]);
	pthread_mutex_unlock(&obs_base_lock);
}

void
obs_reading_free(struct obs_reading *r)
{
	for (int b = 0; b < OBS_BLOCKS; b++) {
		free(r->v[b]);
		r->v[b] = NULL;
	}
}

uint64_t
obs_value(const struct obs_reading *r, enum obs_row_id id, int i)
{
	const struct obs_row *row = &obs_rows[id];

	return r
	    ->v[row->block][(size_t)i * obs_blocks[row->block].n + row->field];
}

uint64_t
obs_total(const struct obs_reading *r, enum obs_row_id id)
{
	uint64_t total = 0;

	for (int i = 0; i < r->n[obs_rows[id].block]; i++)
		total += obs_value(r, id, i);
	return total;
}

/* Every worker's histograms since start. */
static struct obs_lat *
obs_latency_now(void)
{
	int nw = thread_role_count(ROLE_WORKER);
	struct obs_lat *l = xcalloc((size_t)nw * PROTO_CLS_COUNT, sizeof *l);

	for (int w = 0; w < nw; w++)
		for (int cls = 0; cls < PROTO_CLS_COUNT; cls++) {
			struct lat_hist *h = &worker_latency(w)->cls[cls];
			struct obs_lat *o = &l[w * PROTO_CLS_COUNT + cls];

			for (unsigned b = 0; b < LAT_BUCKETS; b++)
				o->bucket[b] = stat_get(&h->bucket[b]);
			o->sum_us = stat_get(&h->sum_us);
			o->max_us = stat_get(&h->max_us);
		}
	return l;
}

struct obs_lat *
obs_latency(enum obs_view view)
{
	size_t n = (size_t)thread_role_count(ROLE_WORKER) * PROTO_CLS_COUNT;
	struct obs_lat *l = obs_latency_now();

	if (view != OBS_SINCE_RESET)
		return l;
	pthread_mutex_lock(&obs_base_lock);
	for (size_t i = 0; obs_base_set && i < n; i++) {
		for (unsigned b = 0; b < LAT_BUCKETS; b++)
			l[i].bucket[b] = obs_since(
			    l[i].bucket[b], obs_base_lat[i].bucket[b]);
		l[i].sum_us = obs_since(l[i].sum_us, obs_base_lat[i].sum_us);
	}
	pthread_mutex_unlock(&obs_base_lock);
	return l;
}

void
obs_lat_snap(const struct obs_lat *h, struct lat_snap *s)
{
	memcpy(s->bucket, h->bucket, sizeof s->bucket);
	s->max_us = h->max_us;
	lat_finish(s);
}

void
obs_lat_worker(const struct obs_lat *l, int w, struct lat_snap *all)
{
	struct lat_snap s;

	memset(all, 0, sizeof *all);
	for (int cls = 0; cls < PROTO_CLS_COUNT; cls++) {
		obs_lat_snap(&l[w * PROTO_CLS_COUNT + cls], &s);
		lat_merge(all, &s);
	}
	lat_finish(all);
}

/* The class figures that count; the others are levels. */
#define OBS_CLASS_COUNTERS(X)                                                  \
	X(evicted) X(evicted_nonzero) X(outofmemory) OBS_CLASS_TAIL(X)

struct cache_class_stats *
obs_classes(enum obs_view view)
{
	int n = cache_class_count();
	struct cache_class_stats *cs = xcalloc((size_t)n, sizeof *cs);

	for (int i = 0; i < n; i++)
		cache_class_stats(i, &cs[i]);
	if (view != OBS_SINCE_RESET)
		return cs;
	pthread_mutex_lock(&obs_base_lock);
	for (int i = 0; obs_base_set && i < n; i++) {
#define OBS_CLASS_SINCE(f) cs[i].f = obs_since(cs[i].f, obs_base_cls[i].f);
		OBS_CLASS_COUNTERS(OBS_CLASS_SINCE)
#undef OBS_CLASS_SINCE
	}
	pthread_mutex_unlock(&obs_base_lock);
	return cs;
}

void
obs_reset(void)
{
	struct obs_reading now;
	struct obs_lat *lat = obs_latency_now();
	struct cache_class_stats *cls = obs_classes(OBS_SINCE_START);

	obs_read_now(&now);
	/* A gauge's baseline is 0: its level shows as it is. */
	for (int id = 0; id < OBS_NROWS; id++)
		if (obs_rows[id].kind == OBS_GAUGE)
			for (int i = 0; i < now.n[obs_rows[id].block]; i++)
				now.v[obs_rows[id].block]
				     [(size_t)i *
				             obs_blocks[obs_rows[id].block].n +
				         obs_rows[id].field] = 0;
	pthread_mutex_lock(&obs_base_lock);
	obs_reading_free(&obs_base);
	obs_base = now;
	free(obs_base_lat);
	obs_base_lat = lat;
	free(obs_base_cls);
	obs_base_cls = cls;
	obs_base_set = true;
	pthread_mutex_unlock(&obs_base_lock);
}
