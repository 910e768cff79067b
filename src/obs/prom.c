/* GET /metrics: the Prometheus text format of every figure, from the
 * counters each module owns. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/resource.h>

#include <event2/buffer.h>

#include "accept.h"
#include "cache.h"
#include "conn.h"
#include "counter.h"
#include "latency.h"
#include "log_ring.h"
#include "logger.h"
#include "maint.h"
#include "obs.h"
#include "prom.h"
#include "proto_text.h"
#include "stats.h"
#include "thread.h"
#include "tl_build.h"
#include "worker.h"

/* One cache counter summed over the threads that count it: the workers
 * and maint. */
static uint64_t
prom_cache_sum(size_t offset)
{
	uint64_t total = stat_get(
	    (_Atomic uint64_t *)((char *)maint_cache_stats() + offset));

	for (int i = 0; i < thread_role_count(ROLE_WORKER); i++)
		total += stat_get(
		    (_Atomic uint64_t *)((char *)worker_cache_stats(i) +
		                         offset));
	return total;
}
#define PROM_CSUM(f) prom_cache_sum(offsetof(struct cache_stats, f))

/* One connection counter summed over the workers. */
static uint64_t
prom_conn_sum(size_t offset)
{
	uint64_t total = 0;

	for (int i = 0; i < thread_role_count(ROLE_WORKER); i++)
		total += stat_get(
		    (_Atomic uint64_t *)((char *)worker_counters(i) + offset));
	return total;
}
#define PROM_SUM(f) prom_conn_sum(offsetof(struct conn_counters, f))

/* The # HELP and # TYPE lines of a metric family. */
static void
prom_family(
    struct evbuffer *b, const char *name, const char *type, const char *help)
{
	evbuffer_add_printf(
	    b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* A family of one sample without labels. */
static void
prom_metric(struct evbuffer *b, const char *name, const char *type,
    const char *help, uint64_t v)
{
	prom_family(b, name, type, help);
	evbuffer_add_printf(b, "%s %llu\n", name, (unsigned long long)v);
}

/* memcached_commands_total: memcached_exporter's commands and statuses. */
static void
prom_metrics_commands(struct evbuffer *b)
{
	static const struct {
		const char *command, *status;
		size_t offset;
	} cmds[] = {
#define PROM_CMD(c, s, f) {c, s, offsetof(struct cache_stats, f)}
	    PROM_CMD("get", "hit", get_hits),
	    PROM_CMD("get", "miss", get_misses),
	    PROM_CMD("set", "hit", cmd_set),
	    PROM_CMD("delete", "hit", delete_hits),
	    PROM_CMD("delete", "miss", delete_misses),
	    PROM_CMD("incr", "hit", incr_hits),
	    PROM_CMD("incr", "miss", incr_misses),
	    PROM_CMD("decr", "hit", decr_hits),
	    PROM_CMD("decr", "miss", decr_misses),
	    PROM_CMD("cas", "hit", cas_hits),
	    PROM_CMD("cas", "miss", cas_misses),
	    PROM_CMD("cas", "badval", cas_badval),
	    PROM_CMD("touch", "hit", touch_hits),
	    PROM_CMD("touch", "miss", touch_misses),
	    PROM_CMD("flush", "hit", cmd_flush),
#undef PROM_CMD
	};

	prom_family(b, "memcached_commands_total", "counter",
	    "Total number of all requests broken down by command (get, set, "
	    "etc.) and status.");
	for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++)
		evbuffer_add_printf(b,
		    "memcached_commands_total{command=\"%s\",status=\"%s\"} "
		    "%llu\n",
		    cmds[i].command, cmds[i].status,
		    (unsigned long long)prom_cache_sum(cmds[i].offset));
}

/* One sample per worker of a worker counter, labelled by thread. */
static void
prom_metrics_per_worker(struct evbuffer *b, const char *name, const char *type,
    const char *help, size_t offset)
{
	prom_family(b, name, type, help);
	for (int i = 0; i < thread_role_count(ROLE_WORKER); i++) {
		const struct thread *t = thread_get(ROLE_WORKER, i);

		evbuffer_add_printf(b, "%s{thread=\"%s\",role=\"%s\"} %llu\n",
		    name, t->name, thread_role_name(t->role),
		    (unsigned long long)stat_get(
		        (_Atomic uint64_t *)((char *)worker_counters(i) +
		                             offset)));
	}
}
#define PROM_PER_WORKER(b, name, type, help, f)                                \
	prom_metrics_per_worker(                                               \
	    b, name, type, help, offsetof(struct conn_counters, f))

/* The threads' families: CPU time and log drops of every thread, what
 * each worker served. */
static void
prom_metrics_threads(struct evbuffer *b)
{
	prom_family(b, "threadline_thread_cpu_seconds_total", "counter",
	    "CPU time the kernel charged to each thread, by mode.");
	for (int i = 0; i < thread_count(); i++) {
		const struct thread *t = thread_at(i);
		double user = 0, sys = 0;

		stats_thread_cpu(t->tid, &user, &sys);
		evbuffer_add_printf(b,
		    "threadline_thread_cpu_seconds_total{thread=\"%s\","
		    "role=\"%s\",mode=\"user\"} %.6f\n"
		    "threadline_thread_cpu_seconds_total{thread=\"%s\","
		    "role=\"%s\",mode=\"system\"} %.6f\n",
		    t->name, thread_role_name(t->role), user, t->name,
		    thread_role_name(t->role), sys);
	}
	prom_family(b, "threadline_thread_log_lines_dropped_total", "counter",
	    "Log lines each thread dropped because its ring was full.");
	for (int i = 0; i < thread_count(); i++) {
		const struct thread *t = thread_at(i);

		evbuffer_add_printf(b,
		    "threadline_thread_log_lines_dropped_total{thread=\"%s\","
		    "role=\"%s\"} %llu\n",
		    t->name, thread_role_name(t->role),
		    (unsigned long long)log_ring_dropped(t->ring));
	}
	PROM_PER_WORKER(b, "threadline_thread_commands_total", "counter",
	    "Commands each worker answered.", cmds);
	PROM_PER_WORKER(b, "threadline_thread_connections", "gauge",
	    "Connections each worker has open.", curr_conns);
	PROM_PER_WORKER(b, "threadline_thread_read_bytes_total", "counter",
	    "Bytes each worker read from its connections.", bytes_read);
	PROM_PER_WORKER(b, "threadline_thread_written_bytes_total", "counter",
	    "Bytes each worker wrote to its connections.", bytes_written);
	prom_metric(b, "threadline_log_lines_written_total", "counter",
	    "Log lines the logger wrote.",
	    stat_get(&logger_counters()->lines_written));
	prom_metric(b, "threadline_log_lines_failed_total", "counter",
	    "Log lines a sink meant to get them did not (a failed reopen, a "
	    "full disk, syslog or the journal not listening).",
	    stat_get(&logger_counters()->lines_failed));
}

/* One worker's latencies of one class as a Prometheus histogram: le at
 * each power of two of microseconds (the edges of our buckets), in
 * seconds. */
static void
prom_metrics_latency_class(struct evbuffer *b, const struct thread *t, int cls)
{
	struct lat_hist *h = &worker_latency(t->index)->cls[cls];
	const char *name = proto_class_name(cls);
	uint64_t cum = 0;
	unsigned k = 0;

	for (unsigned e = 0; e <= LAT_TOP_LOG2; e++) {
		uint64_t le = (uint64_t)1 << e;

		/* A bucket [low, high) of whole microseconds is <= le when
		 * high <= le + 1. */
		while (k < LAT_BUCKETS - 1 && lat_bucket_high(k) <= le + 1)
			cum += stat_get(&h->bucket[k++]);
		evbuffer_add_printf(b,
		    "threadline_request_duration_seconds_bucket{thread=\"%s\","
		    "role=\"worker\",command=\"%s\",le=\"%.9g\"} %llu\n",
		    t->name, name, (double)le / 1e6, (unsigned long long)cum);
	}
	while (k < LAT_BUCKETS)
		cum += stat_get(&h->bucket[k++]);
	evbuffer_add_printf(b,
	    "threadline_request_duration_seconds_bucket{thread=\"%s\","
	    "role=\"worker\",command=\"%s\",le=\"+Inf\"} %llu\n"
	    "threadline_request_duration_seconds_sum{thread=\"%s\","
	    "role=\"worker\",command=\"%s\"} %.6f\n"
	    "threadline_request_duration_seconds_count{thread=\"%s\","
	    "role=\"worker\",command=\"%s\"} %llu\n",
	    t->name, name, (unsigned long long)cum, t->name, name,
	    (double)stat_get(&h->sum_us) / 1e6, t->name, name,
	    (unsigned long long)cum);
}

/* Each worker's request latencies, by command class. */
static void
prom_metrics_latency(struct evbuffer *b)
{
	prom_family(b, "threadline_request_duration_seconds", "histogram",
	    "Time each worker took to answer a request, by command class, "
	    "from the whole request read to its reply queued.");
	for (int w = 0; w < thread_role_count(ROLE_WORKER); w++)
		for (int cls = 0; cls < PROTO_CLS_COUNT; cls++)
			prom_metrics_latency_class(
			    b, thread_get(ROLE_WORKER, w), cls);
}

/* GET /metrics: the Prometheus text format, memcached_exporter's names
 * where memcached has the figure, threadline_ ones per thread. Counters
 * count since start: "stats reset" does not move them back. */
void
prom_metrics(struct evbuffer *b)
{
	struct cache_totals ct;
	struct rusage ru;

	cache_totals(&ct);
	getrusage(RUSAGE_SELF, &ru);
	prom_metric(b, "memcached_up", "gauge",
	    "Could the memcached server be reached.", 1);
	prom_metric(b, "memcached_uptime_seconds", "gauge",
	    "Number of seconds since the server started.",
	    (uint64_t)obs_uptime());
	prom_family(b, "memcached_version", "gauge",
	    "The version of this memcached server.");
	evbuffer_add_printf(
	    b, "memcached_version{version=\"%s\"} 1\n", TL_WIRE_VERSION);
	prom_family(b, "memcached_process_user_cpu_seconds_total", "counter",
	    "Accumulated user time for this process.");
	evbuffer_add_printf(b,
	    "memcached_process_user_cpu_seconds_total %ld.%06ld\n",
	    (long)ru.ru_utime.tv_sec, (long)ru.ru_utime.tv_usec);
	prom_family(b, "memcached_process_system_cpu_seconds_total", "counter",
	    "Accumulated system time for this process.");
	evbuffer_add_printf(b,
	    "memcached_process_system_cpu_seconds_total %ld.%06ld\n",
	    (long)ru.ru_stime.tv_sec, (long)ru.ru_stime.tv_usec);
	prom_metric(b, "memcached_max_connections", "gauge",
	    "Maximum number of clients allowed.",
	    (uint64_t)obs_config()->max_conns);
	prom_metric(b, "memcached_current_connections", "gauge",
	    "Current number of open connections.", PROM_SUM(curr_conns));
	prom_metric(b, "memcached_connections_total", "counter",
	    "Total number of connections opened since the server started "
	    "running.",
	    PROM_SUM(total_conns));
	prom_metric(b, "memcached_connections_rejected_total", "counter",
	    "Total number of connections rejected due to hitting the "
	    "memcached's -c limit in maxconns_fast mode.",
	    stat_get(&accept_counters()->rejected));
	prom_metric(b, "memcached_read_bytes_total", "counter",
	    "Total number of bytes read by this server from network.",
	    PROM_SUM(bytes_read));
	prom_metric(b, "memcached_written_bytes_total", "counter",
	    "Total number of bytes sent by this server to network.",
	    PROM_SUM(bytes_written));
	prom_metric(b, "memcached_limit_bytes", "gauge",
	    "Number of bytes this server is allowed to use for storage.",
	    ct.limit);
	prom_metric(b, "memcached_current_bytes", "gauge",
	    "Current number of bytes used to store items.", ct.bytes);
	prom_metric(b, "memcached_current_items", "gauge",
	    "Current number of items stored by this instance.", ct.curr_items);
	prom_metric(b, "memcached_items_total", "counter",
	    "Total number of items stored during the life of this instance.",
	    PROM_CSUM(total_items));
	prom_metric(b, "memcached_items_evicted_total", "counter",
	    "Total number of valid items removed from cache to free memory "
	    "for new items.",
	    PROM_CSUM(evictions));
	prom_metric(b, "memcached_items_reclaimed_total", "counter",
	    "Total number of times an entry was stored using memory from an "
	    "expired entry.",
	    PROM_CSUM(reclaimed));
	prom_metrics_commands(b);
	prom_metrics_threads(b);
	prom_metrics_latency(b);
}
