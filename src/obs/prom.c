/* GET /metrics: the Prometheus text format, memcached_exporter's names
 * where memcached has the figure, threadline_ ones per thread; a family
 * per row of the table of figures, in the order of prom_lines[]. */
#include <dirent.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "figures.h"
#include "log_ring.h"
#include "obs.h"
#include "prom.h"
#include "proto_text.h"
#include "stats.h"
#include "thread.h"
#include "tl_build.h"

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

static const char *
prom_type(const struct obs_row *row)
{
	return row->kind == OBS_GAUGE ? "gauge" : "counter";
}

/* A row's sample summed over its block; its family's lines first unless
 * the row before was of the same family (labelled samples). */
static void
prom_row(struct evbuffer *b, const struct obs_reading *r, int id,
    const char **family)
{
	const struct obs_row *row = &obs_rows[id];

	if (*family == NULL || strcmp(*family, row->prom) != 0)
		prom_family(b, row->prom, prom_type(row), row->help);
	*family = row->prom;
	if (row->labels != NULL)
		evbuffer_add_printf(b, "%s{%s} %llu\n", row->prom, row->labels,
		    (unsigned long long)obs_total(r, id));
	else
		evbuffer_add_printf(b, "%s %llu\n", row->prom,
		    (unsigned long long)obs_total(r, id));
}

/* A row's family of one sample per thread of its block's role. */
static void
prom_row_threads(struct evbuffer *b, const struct obs_reading *r, int id)
{
	const struct obs_row *row = &obs_rows[id];
	enum thread_role role = obs_block_role(row->block);

	prom_family(b, row->prom_thread, prom_type(row), row->thread_help);
	for (int i = 0; i < thread_role_count(role); i++) {
		const struct thread *t = thread_get(role, i);

		evbuffer_add_printf(b, "%s{thread=\"%s\",role=\"%s\"} %llu\n",
		    row->prom_thread, t->name, thread_role_name(t->role),
		    (unsigned long long)obs_value(
		        r, id, obs_block_instance(row->block, t)));
	}
}

/* The process: up, its age, version and CPU time, its connection
 * limit. */
static void
prom_process(struct evbuffer *b, const struct obs_reading *r)
{
	struct rusage ru;

	(void)r;
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
}

/* Field n (from 1) of /proc/self/stat as a number; 0 when unreadable. */
static unsigned long long
prom_self_stat(int n)
{
	char buf[1024], *p;
	unsigned long long v = 0;
	FILE *f;
	size_t len;

	if ((f = fopen("/proc/self/stat", "re")) == NULL)
		return 0;
	len = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[len] = '\0';
	/* Fields after the name's last ')' start at the third. */
	if ((p = strrchr(buf, ')')) == NULL)
		return 0;
	p++;
	for (int i = 3; i < n && p != NULL; i++)
		p = strchr(p + 1, ' ');
	if (p != NULL)
		sscanf(p, " %llu", &v);
	return v;
}

/* The boot time in seconds since the epoch, /proc/stat's btime. */
static unsigned long long
prom_boot_time(void)
{
	char line[256];
	unsigned long long v = 0;
	FILE *f;

	if ((f = fopen("/proc/stat", "re")) == NULL)
		return 0;
	while (fgets(line, sizeof line, f) != NULL)
		if (sscanf(line, "btime %llu", &v) == 1)
			break;
	fclose(f);
	return v;
}

/* Descriptors open now: /proc/self/fd's entries but the one reading it. */
static uint64_t
prom_open_fds(void)
{
	struct dirent *e;
	uint64_t n = 0;
	DIR *d;

	if ((d = opendir("/proc/self/fd")) == NULL)
		return 0;
	while ((e = readdir(d)) != NULL)
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n > 0 ? n - 1 : 0;
}

/* The process_ metrics every Prometheus client library exports, by
 * their names and meanings, for dashboards made for any process. */
static void
prom_client_process(struct evbuffer *b, const struct obs_reading *r)
{
	long page = sysconf(_SC_PAGESIZE), hz = sysconf(_SC_CLK_TCK);
	unsigned long long vsize, rss, start;
	struct rlimit rl;
	struct rusage ru;

	(void)r;
	getrusage(RUSAGE_SELF, &ru);
	prom_family(b, "process_cpu_seconds_total", "counter",
	    "Total user and system CPU time spent in seconds.");
	evbuffer_add_printf(b, "process_cpu_seconds_total %.6f\n",
	    (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
	        (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6);
	prom_metric(b, "process_open_fds", "gauge",
	    "Number of open file descriptors.", prom_open_fds());
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0)
		prom_metric(b, "process_max_fds", "gauge",
		    "Maximum number of open file descriptors.",
		    (uint64_t)rl.rlim_cur);
	/* stat's fields 22 to 24: start time in ticks after boot, vsize in
	 * bytes, rss in pages. */
	start = prom_self_stat(22);
	vsize = prom_self_stat(23);
	rss = prom_self_stat(24);
	prom_metric(b, "process_virtual_memory_bytes", "gauge",
	    "Virtual memory size in bytes.", vsize);
	prom_metric(b, "process_resident_memory_bytes", "gauge",
	    "Resident memory size in bytes.", rss * (uint64_t)page);
	prom_family(b, "process_start_time_seconds", "gauge",
	    "Start time of the process since unix epoch in seconds.");
	evbuffer_add_printf(b, "process_start_time_seconds %.2f\n",
	    (double)prom_boot_time() + (double)start / (double)hz);
}

/* Which build answers, as a constant 1 with labels (the convention of
 * Prometheus' own *_build_info). */
static void
prom_build_info(struct evbuffer *b, const struct obs_reading *r)
{
	(void)r;
	prom_family(b, "threadline_build_info", "gauge",
	    "A metric with a constant '1' value labelled by the version of "
	    "threadline, of the memcached protocol it speaks and of libevent.");
	evbuffer_add_printf(b,
	    "threadline_build_info{version=\"%s\",memcached_version=\"%s\","
	    "libevent=\"%s\"} 1\n",
	    TL_VERSION, TL_WIRE_VERSION, event_get_version());
}

/* The cache's levels: its limit, bytes and items. */
static void
prom_memory(struct evbuffer *b, const struct obs_reading *r)
{
	struct cache_totals ct;

	(void)r;
	cache_totals(&ct);
	prom_metric(b, "memcached_limit_bytes", "gauge",
	    "Number of bytes this server is allowed to use for storage.",
	    ct.limit);
	prom_metric(b, "memcached_current_bytes", "gauge",
	    "Current number of bytes used to store items.", ct.bytes);
	prom_metric(b, "memcached_current_items", "gauge",
	    "Current number of items stored by this instance.", ct.curr_items);
}

/* Every thread's CPU time and log drops. */
static void
prom_threads(struct evbuffer *b, const struct obs_reading *r)
{
	(void)r;
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
}

/* One worker's latencies of one class as a Prometheus histogram: le at
 * each power of two of microseconds (the edges of our buckets), in
 * seconds. */
static void
prom_latency_class(struct evbuffer *b, const struct thread *t, int cls,
    const struct obs_lat *h)
{
	const char *name = proto_class_name(cls);
	uint64_t cum = 0;
	unsigned k = 0;

	for (unsigned e = 0; e <= LAT_TOP_LOG2; e++) {
		uint64_t le = (uint64_t)1 << e;

		/* A bucket [low, high) of whole microseconds is <= le when
		 * high <= le + 1. */
		while (k < LAT_BUCKETS - 1 && lat_bucket_high(k) <= le + 1)
			cum += h->bucket[k++];
		evbuffer_add_printf(b,
		    "threadline_request_duration_seconds_bucket{thread=\"%s\","
		    "role=\"worker\",command=\"%s\",le=\"%.9g\"} %llu\n",
		    t->name, name, (double)le / 1e6, (unsigned long long)cum);
	}
	while (k < LAT_BUCKETS)
		cum += h->bucket[k++];
	evbuffer_add_printf(b,
	    "threadline_request_duration_seconds_bucket{thread=\"%s\","
	    "role=\"worker\",command=\"%s\",le=\"+Inf\"} %llu\n"
	    "threadline_request_duration_seconds_sum{thread=\"%s\","
	    "role=\"worker\",command=\"%s\"} %.6f\n"
	    "threadline_request_duration_seconds_count{thread=\"%s\","
	    "role=\"worker\",command=\"%s\"} %llu\n",
	    t->name, name, (unsigned long long)cum, t->name, name,
	    (double)h->sum_us / 1e6, t->name, name, (unsigned long long)cum);
}

/* Each worker's request latencies, by command class. */
static void
prom_latency(struct evbuffer *b, const struct obs_reading *r)
{
	struct obs_lat *l = obs_latency(OBS_SINCE_START);

	(void)r;
	prom_family(b, "threadline_request_duration_seconds", "histogram",
	    "Time each worker took to answer a request, by command class, "
	    "from the whole request read to its reply queued.");
	for (int w = 0; w < thread_role_count(ROLE_WORKER); w++)
		for (int cls = 0; cls < PROTO_CLS_COUNT; cls++)
			prom_latency_class(b, thread_get(ROLE_WORKER, w), cls,
			    &l[w * PROTO_CLS_COUNT + cls]);
	free(l);
}

/* A line of /metrics: a row summed, a row per thread, or what no row
 * holds. */
struct prom_line {
	enum { PROM_ROW, PROM_THREADS, PROM_FN } what;
	int id;
	void (*fn)(struct evbuffer *, const struct obs_reading *);
};
#define PROM_ROW(id)                                                           \
	{                                                                      \
		PROM_ROW, id, NULL                                             \
	}
#define PROM_THREADS(id)                                                       \
	{                                                                      \
		PROM_THREADS, id, NULL                                         \
	}
#define PROM_FN(fn)                                                            \
	{                                                                      \
		PROM_FN, 0, fn                                                 \
	}

/* memcached_exporter's order, then the threads'. A row with a family
 * that is not here follows them. */
static const struct prom_line prom_lines[] = {
    PROM_FN(prom_process),
    PROM_FN(prom_client_process),
    PROM_FN(prom_build_info),
    PROM_ROW(OBS_CONN_curr_conns),
    PROM_ROW(OBS_CONN_total_conns),
    PROM_ROW(OBS_ACCEPT_rejected),
    PROM_ROW(OBS_CONN_conn_yields),
    PROM_ROW(OBS_ACCEPT_pauses),
    PROM_ROW(OBS_CONN_bytes_read),
    PROM_ROW(OBS_CONN_bytes_written),
    PROM_FN(prom_memory),
    PROM_ROW(OBS_CACHE_total_items),
    PROM_ROW(OBS_CACHE_evictions),
    PROM_ROW(OBS_CACHE_reclaimed),
    PROM_ROW(OBS_CACHE_get_hits),
    PROM_ROW(OBS_CACHE_get_misses),
    PROM_ROW(OBS_CACHE_cmd_set),
    PROM_ROW(OBS_CACHE_delete_hits),
    PROM_ROW(OBS_CACHE_delete_misses),
    PROM_ROW(OBS_CACHE_incr_hits),
    PROM_ROW(OBS_CACHE_incr_misses),
    PROM_ROW(OBS_CACHE_decr_hits),
    PROM_ROW(OBS_CACHE_decr_misses),
    PROM_ROW(OBS_CACHE_cas_hits),
    PROM_ROW(OBS_CACHE_cas_misses),
    PROM_ROW(OBS_CACHE_cas_badval),
    PROM_ROW(OBS_CACHE_touch_hits),
    PROM_ROW(OBS_CACHE_touch_misses),
    PROM_ROW(OBS_CACHE_cmd_flush),
    PROM_FN(prom_threads),
    PROM_THREADS(OBS_CONN_cmds),
    PROM_THREADS(OBS_CONN_curr_conns),
    PROM_THREADS(OBS_CONN_bytes_read),
    PROM_THREADS(OBS_CONN_bytes_written),
    PROM_ROW(OBS_LOGGER_lines_written),
    PROM_ROW(OBS_LOGGER_lines_failed),
    PROM_FN(prom_latency),
};
#define PROM_NLINES (sizeof prom_lines / sizeof prom_lines[0])

/* Whether prom_lines[] has row id of that kind. */
static bool
prom_listed(int what, int id)
{
	for (size_t i = 0; i < PROM_NLINES; i++)
		if ((int)prom_lines[i].what == what && prom_lines[i].id == id)
			return true;
	return false;
}

void
prom_metrics(struct evbuffer *b)
{
	const char *family = NULL;
	struct obs_reading r;

	obs_read(&r, OBS_SINCE_START);
	for (size_t i = 0; i < PROM_NLINES; i++) {
		const struct prom_line *l = &prom_lines[i];

		if (l->what == PROM_ROW)
			prom_row(b, &r, l->id, &family);
		else if (l->what == PROM_THREADS)
			prom_row_threads(b, &r, l->id);
		else
			l->fn(b, &r);
		if (l->what != PROM_ROW)
			family = NULL;
	}
	for (int id = 0; id < OBS_NROWS; id++) {
		if (obs_rows[id].prom != NULL && !prom_listed(PROM_ROW, id))
			prom_row(b, &r, id, &family);
		if (obs_rows[id].prom_thread != NULL &&
		    !prom_listed(PROM_THREADS, id)) {
			prom_row_threads(b, &r, id);
			family = NULL;
		}
	}
	obs_reading_free(&r);
}
