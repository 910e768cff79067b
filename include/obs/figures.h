/*
 * Every figure the server exports, one row each: its counter block and
 * field, counter or gauge, its names in the reports (memcached's STAT
 * name in "stats", its name in "stats threads" and /threads, its
 * Prometheus family summed and per thread) and the help Prometheus
 * prints. A block's rows stand beside the block where it has a header
 * of its own (CONN_COUNTERS_ROWS in conn.h...); the cache's are here,
 * against the store's CACHE_STATS_FIELDS, until the store declares them.
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

/* memcached_exporter's one family of every command's outcome. */
#define OBS_HELP_COMMANDS                                                      \
	"Total number of all requests broken down by command (get, set, "      \
	"etc.) and status."
#define OBS_CMD(c, s)                                                          \
	.prom = "memcached_commands_total",                                    \
	.labels = "command=\"" c "\",status=\"" s "\"",                        \
	.help = OBS_HELP_COMMANDS

/* struct cache_stats, in its order: "stats" and a worker's "stats
 * threads" lines go by it. */
#define OBS_CACHE_ROWS(X)                                                      \
	X(cmd_get, COUNTER, .stat = "cmd_get", .thread = "cmd_get",            \
	    .help = "Get requests: each key of a get counts.")                 \
	X(cmd_set, COUNTER, .stat = "cmd_set", .thread = "cmd_set",            \
	    OBS_CMD("set", "hit"))                                             \
	X(cmd_flush, COUNTER, .stat = "cmd_flush", .thread = "cmd_flush",      \
	    OBS_CMD("flush", "hit"))                                           \
	X(cmd_touch, COUNTER, .stat = "cmd_touch", .thread = "cmd_touch",      \
	    .help = "Touch requests.")                                         \
	X(cmd_meta, COUNTER, .stat = "cmd_meta", .thread = "cmd_meta",         \
	    .help = "Meta requests.")                                          \
	X(get_hits, COUNTER, .stat = "get_hits", .thread = "get_hits",         \
	    OBS_CMD("get", "hit"))                                             \
	X(get_misses, COUNTER, .stat = "get_misses", .thread = "get_misses",   \
	    OBS_CMD("get", "miss"))                                            \
	X(get_expired, COUNTER, .stat = "get_expired",                         \
	    .thread = "get_expired",                                           \
	    .help = "Gets that found the item expired.")                       \
	X(get_flushed, COUNTER, .stat = "get_flushed",                         \
	    .thread = "get_flushed",                                           \
	    .help = "Gets that found the item flushed.")                       \
	X(delete_misses, COUNTER, .stat = "delete_misses",                     \
	    .thread = "delete_misses", OBS_CMD("delete", "miss"))              \
	X(delete_hits, COUNTER, .stat = "delete_hits",                         \
	    .thread = "delete_hits", OBS_CMD("delete", "hit"))                 \
	X(incr_misses, COUNTER, .stat = "incr_misses",                         \
	    .thread = "incr_misses", OBS_CMD("incr", "miss"))                  \
	X(incr_hits, COUNTER, .stat = "incr_hits", .thread = "incr_hits",      \
	    OBS_CMD("incr", "hit"))                                            \
	X(decr_misses, COUNTER, .stat = "decr_misses",                         \
	    .thread = "decr_misses", OBS_CMD("decr", "miss"))                  \
	X(decr_hits, COUNTER, .stat = "decr_hits", .thread = "decr_hits",      \
	    OBS_CMD("decr", "hit"))                                            \
	X(cas_misses, COUNTER, .stat = "cas_misses", .thread = "cas_misses",   \
	    OBS_CMD("cas", "miss"))                                            \
	X(cas_hits, COUNTER, .stat = "cas_hits", .thread = "cas_hits",         \
	    OBS_CMD("cas", "hit"))                                             \
	X(cas_badval, COUNTER, .stat = "cas_badval", .thread = "cas_badval",   \
	    OBS_CMD("cas", "badval"))                                          \
	X(touch_hits, COUNTER, .stat = "touch_hits", .thread = "touch_hits",   \
	    OBS_CMD("touch", "hit"))                                           \
	X(touch_misses, COUNTER, .stat = "touch_misses",                       \
	    .thread = "touch_misses", OBS_CMD("touch", "miss"))                \
	X(store_too_large, COUNTER, .stat = "store_too_large",                 \
	    .thread = "store_too_large",                                       \
	    .help = "Stores refused: larger than the item size limit.")        \
	X(store_no_memory, COUNTER, .stat = "store_no_memory",                 \
	    .thread = "store_no_memory",                                       \
	    .help = "Stores refused: no memory, nothing to evict.")            \
	X(auth_cmds, COUNTER, .stat = "auth_cmds", .thread = "auth_cmds",      \
	    .help = "Authentication requests.")                                \
	X(auth_errors, COUNTER, .stat = "auth_errors",                         \
	    .thread = "auth_errors", .help = "Authentications refused.")       \
	X(total_items, COUNTER, .stat = "total_items",                         \
	    .thread = "total_items", .prom = "memcached_items_total",          \
	    .help = "Total number of items stored during the life of this "    \
	            "instance.")                                               \
	X(expired_unfetched, COUNTER, .stat = "expired_unfetched",             \
	    .thread = "expired_unfetched",                                     \
	    .help = "Items that expired never read.")                          \
	X(evicted_unfetched, COUNTER, .stat = "evicted_unfetched",             \
	    .thread = "evicted_unfetched",                                     \
	    .help = "Items evicted never read.")                               \
	X(evictions, COUNTER, .stat = "evictions", .thread = "evictions",      \
	    .prom = "memcached_items_evicted_total",                           \
	    .help = "Total number of valid items removed from cache to free "  \
	            "memory for new items.")                                   \
	X(reclaimed, COUNTER, .stat = "reclaimed", .thread = "reclaimed",      \
	    .prom = "memcached_items_reclaimed_total",                         \
	    .help = "Total number of times an entry was stored using memory "  \
	            "from an expired entry.")                                  \
	X(crawler_reclaimed, COUNTER, .stat = "crawler_reclaimed",             \
	    .thread = "crawler_reclaimed",                                     \
	    .help = "Expired items the crawler removed.")                      \
	X(slabs_moved, COUNTER, .stat = "slabs_moved",                         \
	    .thread = "slabs_moved", .help = "Pages moved between classes.")

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

/* Each row's id: OBS_<block>_<field>. */
#define OBS_ID_CONN(f, ...)   OBS_CONN_##f,
#define OBS_ID_CACHE(f, ...)  OBS_CACHE_##f,
#define OBS_ID_ACCEPT(f, ...) OBS_ACCEPT_##f,
#define OBS_ID_LOGGER(f, ...) OBS_LOGGER_##f,
#define OBS_ID_LOG(f, ...)    OBS_LOG_##f,
#define OBS_ID_ADMIN(f, ...)  OBS_ADMIN_##f,
#define OBS_ID_MAINT(f, ...)  OBS_MAINT_##f,
enum obs_row_id {
	CONN_COUNTERS_ROWS(OBS_ID_CONN) OBS_CACHE_ROWS(OBS_ID_CACHE)
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
