/*
 * Every figure the server exports, one row each: its counter block and
 * field, counter or gauge, its names in the reports (memcached's STAT
 * name in "stats", its name in "stats threads" and /threads, its
 * Prometheus family summed and per thread) and the help Prometheus
 * prints. A block's rows stand beside the block where it has a header
 * of its own (CONN_COUNTERS_ROWS in conn.h, CACHE_STATS_ROWS in
 * cache.h...).
 * One reader copies every block once per reply, since start or since
 * "stats reset", whose baseline is a copy of each block under one lock.
 */
#ifndef TL_FIGURES_H
#define TL_FIGURES_H

#include <stddef.h>
#include <stdint.h>

#include "accept.h"
#include "admin_guard.h"
#include "cache.h"
#include "conn.h"
#include "latency.h"
#include "logger.h"
#include "proto_text.h"
#include "thread.h"

/* What maint's own "stats threads" lines show of its cache counters. */
#define OBS_MAINT_ROWS(X)                                                      \
	X(crawler_reclaimed, COUNTER, .thread = "crawler_reclaimed",           \
	    .help = "Expired items maint's crawler removed.")                  \
	X(expired_unfetched, COUNTER, .thread = "expired_unfetched",           \
	    .help = "Of them, those never read.")

/* Totals the log rings and the watchers keep, not counter blocks. */
#define OBS_LOG_ROWS(X)                                                        \
	X(dropped, COUNTER, .stat = "log_worker_dropped",                      \
	    .thread = "lines_dropped",                                         \
	    .help = "Log lines the threads' rings dropped, full.")             \
	X(watch_skipped, COUNTER, .stat = "log_watcher_skipped",               \
	    .thread = "watch_skipped",                                         \
	    .help = "Log lines watchers skipped, behind.")                     \
	X(watch_sent, COUNTER, .stat = "log_watcher_sent",                     \
	    .help = "Log lines sent to watchers.")

/* OBS_LOG's block, filled by the reader from the rings and watch. */
struct obs_log_counts {
#define OBS_LOG_FIELD(f, ...) uint64_t f;
	OBS_LOG_ROWS(OBS_LOG_FIELD)
#undef OBS_LOG_FIELD
};

/* The counter blocks, in the order a thread's lines go: a worker's
 * connection counters before its cache's. */
enum obs_block {
	OBS_CONN,   /* struct conn_counters, per worker */
	OBS_CACHE,  /* struct cache_stats, per worker, then maint's */
	OBS_ACCEPT, /* struct accept_counters */
	OBS_LOGGER, /* struct logger_counters */
	OBS_LOG,    /* OBS_LOG_ROWS */
	OBS_ADMIN,  /* struct admin_guard_counters */
	OBS_MAINT,  /* maint's struct cache_stats */
	OBS_BLOCKS
};

enum obs_kind {
	OBS_COUNTER, /* counts up; "stats reset" starts it again */
	OBS_GAUGE,   /* a level now; no reset moves it */
};

struct obs_row {
	enum obs_block block;
	unsigned field; /* the counter's index in its block */
	enum obs_kind kind;
	const char *stat;   /* "STAT name" of "stats"; NULL: none */
	const char *thread; /* "STAT thread:name" of "stats threads" */
	const char *json;   /* its member in /threads */
	const char *prom;   /* /metrics' family, summed over the block */
	const char *labels; /* of the sample in prom's family; NULL: none */
	const char *help;
	const char *prom_thread; /* /metrics' family with one per thread */
	const char *thread_help;
};

/* The counters of a class (struct cache_class_stats) that "stats items"
 * prints after outofmemory and tailrepairs, in memcached's order. */
#define OBS_CLASS_TAIL(X)                                                      \
	X(reclaimed)                                                           \
	X(expired_unfetched)                                                   \
	X(evicted_unfetched)                                                   \
	X(crawler_reclaimed)                                                   \
	X(crawler_items_checked)                                               \
	X(lrutail_reflocked)

/* Each row's id: OBS_<block>_<field>. */
#define OBS_ID_CONN(f, ...)   OBS_CONN_##f,
#define OBS_ID_CACHE(f, ...)  OBS_CACHE_##f,
#define OBS_ID_ACCEPT(f, ...) OBS_ACCEPT_##f,
#define OBS_ID_LOGGER(f, ...) OBS_LOGGER_##f,
#define OBS_ID_LOG(f, ...)    OBS_LOG_##f,
#define OBS_ID_ADMIN(f, ...)  OBS_ADMIN_##f,
#define OBS_ID_MAINT(f, ...)  OBS_MAINT_##f,
enum obs_row_id {
	CONN_COUNTERS_ROWS(OBS_ID_CONN) CACHE_STATS_ROWS(OBS_ID_CACHE)
	    ACCEPT_COUNTERS_ROWS(OBS_ID_ACCEPT)
	        LOGGER_COUNTERS_ROWS(OBS_ID_LOGGER) OBS_LOG_ROWS(OBS_ID_LOG)
	            ADMIN_GUARD_COUNTERS_ROWS(OBS_ID_ADMIN)
	                OBS_MAINT_ROWS(OBS_ID_MAINT) OBS_NROWS
};

/* Every row, by block in the order of enum obs_block (figures.c). */
extern const struct obs_row obs_rows[OBS_NROWS];

/* The role of the threads that count in block b. */
enum thread_role obs_block_role(enum obs_block);
/* The instance of block b that thread t counts in; -1: none. */
int obs_block_instance(enum obs_block, const struct thread *);

enum obs_view {
	OBS_SINCE_START,
	OBS_SINCE_RESET, /* counters less their "stats reset" baseline */
};

/* Every block's counters, read once: n[b] instances of each. */
struct obs_reading {
	enum obs_view view;
	int n[OBS_BLOCKS];
	uint64_t *v[OBS_BLOCKS]; /* n[b] copies of block b, one after another */
};

void obs_read(struct obs_reading *, enum obs_view);
void obs_reading_free(struct obs_reading *);
/* Row id of instance i. */
uint64_t obs_value(const struct obs_reading *, enum obs_row_id, int);
/* Row id summed over its block's instances. */
uint64_t obs_total(const struct obs_reading *, enum obs_row_id);

/* One worker's histogram of one class, read. */
struct obs_lat {
	uint64_t bucket[LAT_BUCKETS];
	uint64_t sum_us;
	uint64_t max_us; /* a gauge: since start in both views */
};

/* Every worker's histograms, [worker * PROTO_CLS_COUNT + class]; free
 * it. */
struct obs_lat *obs_latency(enum obs_view);
/* h as a snapshot for lat_quantile. */
void obs_lat_snap(const struct obs_lat *, struct lat_snap *);
/* Worker w's classes merged. */
void obs_lat_worker(const struct obs_lat *, int, struct lat_snap *);

/* Every size class's figures, counters in view; cache_class_count() of
 * them; free it. */
struct cache_class_stats *obs_classes(enum obs_view);

/* "stats reset": every counter's baseline is what it reads now. */
void obs_reset(void);

#endif
