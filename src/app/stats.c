#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "accept.h"
#include "cache.h"
#include "config.h"
#include "conn.h"
#include "counter.h"
#include "log.h"
#include "log_ring.h"
#include "logger.h"
#include "maint.h"
#include "obuf.h"
#include "settings.h"
#include "stats.h"
#include "thread.h"
#include "tl_build.h"
#include "watch.h"
#include "worker.h"

static const struct config *stats_cfg;
static struct timespec stats_started;

void
stats_init(const struct config *cfg)
{
	stats_cfg = cfg;
	clock_gettime(CLOCK_MONOTONIC, &stats_started);
}

/* The answering thread names itself in every stats reply. */
static void
stats_end(struct obuf *out)
{
	obuf_printf(out, "STAT thread %s\r\nEND\r\n", thread_self_name());
}

/* One connection counter summed over the workers. */
static uint64_t
stats_conn_sum(size_t offset)
{
	uint64_t total = 0;

	for (int i = 0; i < thread_role_count(ROLE_WORKER); i++)
		total += stat_get(
		    (_Atomic uint64_t *)((char *)worker_counters(i) + offset));
	return total;
}
#define SUM(field) stats_conn_sum(offsetof(struct conn_counters, field))

/* One cache counter summed over the threads that use the cache: the
 * workers and maint. */
static uint64_t
stats_cache_sum(size_t offset)
{
	uint64_t total = stat_get(
	    (_Atomic uint64_t *)((char *)maint_cache_stats() + offset));

	for (int i = 0; i < thread_role_count(ROLE_WORKER); i++)
		total += stat_get(
		    (_Atomic uint64_t *)((char *)worker_cache_stats(i) +
		                         offset));
	return total;
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
	obuf_printf(out,
	    "STAT limit_maxbytes %llu\r\n"
	    "STAT bytes %llu\r\n"
	    "STAT curr_items %llu\r\n",
	    (unsigned long long)t.limit, (unsigned long long)t.bytes,
	    (unsigned long long)t.curr_items);
}

static uint64_t
stats_log_dropped(void)
{
	uint64_t total = 0;

	for (int i = 0; i < thread_count(); i++)
		total += log_ring_dropped(thread_at(i)->ring);
	return total;
}

void
stats_general(struct obuf *out)
{
	struct timespec now;
	struct rusage ru;

	clock_gettime(CLOCK_MONOTONIC, &now);
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
	    "STAT http_requests_refused %llu\r\n"
	    "STAT cmd_total %llu\r\n"
	    "STAT bytes_read %llu\r\n"
	    "STAT bytes_written %llu\r\n"
	    "STAT accepting_conns %d\r\n"
	    "STAT listen_disabled_num %llu\r\n"
	    "STAT threads %d\r\n"
	    "STAT log_worker_dropped %llu\r\n"
	    "STAT log_worker_written %llu\r\n",
	    (int)getpid(), (long long)(now.tv_sec - stats_started.tv_sec),
	    (long long)time(NULL), TL_WIRE_VERSION, event_get_version(),
	    (int)(8 * sizeof(void *)), (long)ru.ru_utime.tv_sec,
	    (long)ru.ru_utime.tv_usec, (long)ru.ru_stime.tv_sec,
	    (long)ru.ru_stime.tv_usec, stats_cfg->max_conns,
	    (unsigned long long)SUM(curr_conns),
	    (unsigned long long)SUM(total_conns),
	    (unsigned long long)stat_get(&accept_counters()->rejected),
	    (unsigned long long)SUM(http_refused),
	    (unsigned long long)SUM(cmds), (unsigned long long)SUM(bytes_read),
	    (unsigned long long)SUM(bytes_written), !accept_paused(),
	    (unsigned long long)stat_get(&accept_counters()->pauses),
	    thread_role_count(ROLE_WORKER),
	    (unsigned long long)stats_log_dropped(),
	    (unsigned long long)stat_get(&logger_counters()->lines_written));
	stats_cache(out);
	stats_end(out);
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

static void
stats_thread_worker(struct obuf *out, const struct thread *t)
{
	struct conn_counters *c = worker_counters(t->index);
	struct cache_stats *cs = worker_cache_stats(t->index);

	stats_thread_line(out, t, "curr_connections", stat_get(&c->curr_conns));
	stats_thread_line(
	    out, t, "total_connections", stat_get(&c->total_conns));
	stats_thread_line(out, t, "cmds", stat_get(&c->cmds));
	stats_thread_line(out, t, "bytes_read", stat_get(&c->bytes_read));
	stats_thread_line(out, t, "bytes_written", stat_get(&c->bytes_written));
	stats_thread_line(out, t, "http_refused", stat_get(&c->http_refused));
#define STATS_THREAD_LINE(f) stats_thread_line(out, t, #f, stat_get(&cs->f));
	CACHE_STATS_FIELDS(STATS_THREAD_LINE)
#undef STATS_THREAD_LINE
}

static void
stats_thread_maint(struct obuf *out, const struct thread *t)
{
	struct cache_stats *cs = maint_cache_stats();

	stats_thread_line(
	    out, t, "crawler_reclaimed", stat_get(&cs->crawler_reclaimed));
	stats_thread_line(
	    out, t, "expired_unfetched", stat_get(&cs->expired_unfetched));
}

static void
stats_thread_accept(struct obuf *out, const struct thread *t)
{
	stats_thread_line(
	    out, t, "accepted", stat_get(&accept_counters()->accepted));
	stats_thread_line(
	    out, t, "rejected", stat_get(&accept_counters()->rejected));
}

static void
stats_thread_logger(struct obuf *out, const struct thread *t)
{
	struct logger_counters *c = logger_counters();

	stats_thread_line(out, t, "lines_written", stat_get(&c->lines_written));
	stats_thread_line(out, t, "lines_failed", stat_get(&c->lines_failed));
	stats_thread_line(out, t, "lines_dropped", stats_log_dropped());
	stats_thread_line(out, t, "watch_skipped", watch_skipped());
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
	stats_end(out);
}

/* memcached's verbosity: 0 for warn and below, up to 3 for debug. */
static void
stats_settings_verbosity(struct obuf *out)
{
	int level = log_level_global();

	obuf_printf(out, "%d", level > LOG_LVL_WARN ? level - LOG_LVL_WARN : 0);
}

/* The workers running, once 0 ("one per CPU") is resolved. */
static void
stats_settings_num_threads(struct obuf *out)
{
	obuf_printf(out, "%d", thread_role_count(ROLE_WORKER));
}

/* The listen(2) backlog of every listener. */
static void
stats_settings_tcp_backlog(struct obuf *out)
{
	obuf_printf(out, "%d", ACCEPT_BACKLOG);
}

/* The global level now: "verbosity" changes it. */
static void
stats_settings_log_level(struct obuf *out)
{
	obuf_adds(out, log_level_name(log_level_global()));
}

/* The file read at start-up: where settings came from, not one of them. */
static void
stats_settings_config_file(struct obuf *out)
{
	obuf_adds(
	    out, stats_cfg->config_file ? stats_cfg->config_file : "NULL");
}

/* The cache's limit in bytes now: "cache_memlimit" changes it. */
static void
stats_settings_maxbytes(struct obuf *out)
{
	struct cache_totals t;

	cache_totals(&t);
	obuf_printf(out, "%llu", (unsigned long long)t.limit);
}

/* memcached's spelling of the evict setting. */
static void
stats_settings_evictions(struct obuf *out)
{
	obuf_adds(out, stats_cfg->evict ? "on" : "off");
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
    {"tcp_backlog", NULL, stats_settings_tcp_backlog},
    {"maxconns_fast", "yes", NULL},
    {"log_level", NULL, stats_settings_log_level},
    {"log_file", NULL, NULL},
    {"pidfile", NULL, NULL},
    {"daemonize", NULL, NULL},
    {"config_file", NULL, stats_settings_config_file},
    {"maxbytes", NULL, stats_settings_maxbytes},
    {"item_size_max", NULL, NULL},
    {"evictions", NULL, stats_settings_evictions},
    {"cas_enabled", "yes", NULL},
    {"shutdown_command", NULL, NULL},
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

/* "STAT name value" of a setting of the table; an unset one says unset. */
static void
stats_settings_table_line(
    struct obuf *out, const struct setting *s, const char *unset)
{
	char *v = settings_format(stats_cfg, s, unset);

	obuf_printf(out, "STAT %s %s\r\n", s->stat, v);
	free(v);
}

/* memcached's lines first, then the rest of the table of settings. */
void
stats_settings(struct obuf *out)
{
	for (size_t i = 0; i < STATS_NMEMCACHED; i++) {
		const struct stats_setting *m = &stats_memcached_settings[i];

		if (m->fixed == NULL && m->value == NULL) {
			for (size_t j = 0; j < SETTINGS_COUNT; j++)
				if (strcmp(settings[j].stat, m->name) == 0)
					stats_settings_table_line(
					    out, &settings[j], "NULL");
			continue;
		}
		obuf_printf(out, "STAT %s ", m->name);
		if (m->fixed != NULL)
			obuf_adds(out, m->fixed);
		else
			m->value(out);
		obuf_adds(out, "\r\n");
	}
	for (size_t j = 0; j < SETTINGS_COUNT; j++)
		if (stats_settings_memcached(settings[j].stat) == NULL)
			stats_settings_table_line(out, &settings[j], "-");
	stats_end(out);
}

void
stats_conns(struct obuf *out)
{
	accept_stats_conns(out);
	workers_stats_conns(out);
	stats_end(out);
}

int
stats_answer(const char *group, size_t len, struct obuf *out)
{
	static const struct {
		const char *name;
		void (*fn)(struct obuf *);
	} groups[] = {
	    {"", stats_general},
	    {"threads", stats_threads},
	    {"settings", stats_settings},
	    {"conns", stats_conns},
	};

	for (size_t i = 0; i < sizeof groups / sizeof groups[0]; i++)
		if (strlen(groups[i].name) == len &&
		    memcmp(groups[i].name, group, len) == 0) {
			groups[i].fn(out);
			return 0;
		}
	return -1;
}
