#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "accept.h"
#include "cache.h"
#include "config.h"
#include "log.h"
#include "logger.h"
#include "obuf.h"
#include "service.h"
#include "stats.h"
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
	obuf_printf(out, "STAT thread %s\r\nEND\r\n", service_self_name());
}

/* Sum one counter over every thread of a role. */
static uint64_t
stats_sum(enum service_role role, size_t offset)
{
	uint64_t total = 0;

	for (int i = 0; i < service_count(); i++) {
		struct service *s = service_at(i);

		if (s->role == role)
			total += stat_get(
			    (_Atomic uint64_t *)((char *)&s->stats + offset));
	}
	return total;
}
#define SUM(role, field) stats_sum(role, offsetof(struct service_stats, field))

/* One cache counter summed over every thread. */
static uint64_t
stats_cache_sum(size_t offset)
{
	uint64_t total = 0;

	for (int i = 0; i < service_count(); i++)
		total += stat_get(
		    (_Atomic uint64_t *)((char *)&service_at(i)->cstats +
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

	for (int i = 0; i < service_count(); i++)
		total += log_ring_dropped(service_at(i)->ring);
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
	    (unsigned long long)SUM(ROLE_WORKER, curr_conns),
	    (unsigned long long)SUM(ROLE_WORKER, total_conns),
	    (unsigned long long)SUM(ROLE_ACCEPT, rejected),
	    (unsigned long long)SUM(ROLE_WORKER, http_refused),
	    (unsigned long long)SUM(ROLE_WORKER, cmds),
	    (unsigned long long)SUM(ROLE_WORKER, bytes_read),
	    (unsigned long long)SUM(ROLE_WORKER, bytes_written),
	    !accept_paused(), (unsigned long long)accept_pauses(),
	    service_role_count(ROLE_WORKER),
	    (unsigned long long)stats_log_dropped(),
	    (unsigned long long)SUM(ROLE_LOGGER, lines_written));
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

void
stats_threads(struct obuf *out)
{
	for (int i = 0; i < service_count(); i++) {
		struct service *s = service_at(i);
		struct service_stats *st = &s->stats;
		double user = 0, sys = 0;
		const char *n = s->name;

		stats_thread_cpu(s->tid, &user, &sys);
		obuf_printf(out,
		    "STAT %s:role %s\r\n"
		    "STAT %s:tid %d\r\n"
		    "STAT %s:cpu_user %.6f\r\n"
		    "STAT %s:cpu_system %.6f\r\n"
		    "STAT %s:log_dropped %llu\r\n",
		    n, service_role_name(s->role), n, (int)s->tid, n, user, n,
		    sys, n, (unsigned long long)log_ring_dropped(s->ring));
		switch (s->role) {
		case ROLE_WORKER:
			obuf_printf(out,
			    "STAT %s:curr_connections %llu\r\n"
			    "STAT %s:total_connections %llu\r\n"
			    "STAT %s:cmds %llu\r\n"
			    "STAT %s:bytes_read %llu\r\n"
			    "STAT %s:bytes_written %llu\r\n"
			    "STAT %s:http_refused %llu\r\n",
			    n, (unsigned long long)stat_get(&st->curr_conns), n,
			    (unsigned long long)stat_get(&st->total_conns), n,
			    (unsigned long long)stat_get(&st->cmds), n,
			    (unsigned long long)stat_get(&st->bytes_read), n,
			    (unsigned long long)stat_get(&st->bytes_written), n,
			    (unsigned long long)stat_get(&st->http_refused));
#define STATS_THREAD_LINE(f)                                                   \
	obuf_printf(out, "STAT %s:" #f " %llu\r\n", n,                         \
	    (unsigned long long)stat_get(&s->cstats.f));
			CACHE_STATS_FIELDS(STATS_THREAD_LINE)
#undef STATS_THREAD_LINE
			break;
		case ROLE_MAINT:
			obuf_printf(out,
			    "STAT %s:crawler_reclaimed %llu\r\n"
			    "STAT %s:expired_unfetched %llu\r\n",
			    n,
			    (unsigned long long)stat_get(
			        &s->cstats.crawler_reclaimed),
			    n,
			    (unsigned long long)stat_get(
			        &s->cstats.expired_unfetched));
			break;
		case ROLE_ACCEPT:
			obuf_printf(out,
			    "STAT %s:accepted %llu\r\n"
			    "STAT %s:rejected %llu\r\n",
			    n, (unsigned long long)stat_get(&st->accepted), n,
			    (unsigned long long)stat_get(&st->rejected));
			break;
		case ROLE_LOGGER:
			obuf_printf(out,
			    "STAT %s:lines_written %llu\r\n"
			    "STAT %s:lines_failed %llu\r\n"
			    "STAT %s:lines_dropped %llu\r\n"
			    "STAT %s:watch_skipped %llu\r\n",
			    n, (unsigned long long)stat_get(&st->lines_written),
			    n, (unsigned long long)stat_get(&st->lines_failed),
			    n, (unsigned long long)stats_log_dropped(), n,
			    (unsigned long long)watch_skipped());
			break;
		default:
			break;
		}
	}
	stats_end(out);
}

void
stats_settings(struct obuf *out)
{
	const struct config *c = stats_cfg;
	int level = log_verbosity;
	struct cache_totals t;

	cache_totals(&t);
	obuf_printf(out,
	    "STAT maxconns %d\r\n"
	    "STAT tcpport %d\r\n"
	    "STAT udpport 0\r\n",
	    c->max_conns, c->port);
	obuf_adds(out, "STAT inter ");
	if (c->nlisten == 0)
		obuf_adds(out, "127.0.0.1");
	for (int i = 0; i < c->nlisten; i++)
		obuf_printf(out, "%s%s", i ? "," : "", c->listen[i]);
	obuf_printf(out,
	    "\r\n"
	    "STAT verbosity %d\r\n"
	    "STAT num_threads %d\r\n"
	    "STAT tcp_backlog %d\r\n"
	    "STAT maxconns_fast yes\r\n"
	    "STAT log_level %s\r\n"
	    "STAT log_file %s\r\n"
	    "STAT pidfile %s\r\n"
	    "STAT daemonize %s\r\n"
	    "STAT config_file %s\r\n"
	    "STAT maxbytes %llu\r\n"
	    "STAT item_size_max %zu\r\n"
	    "STAT evictions %s\r\n"
	    "STAT cas_enabled yes\r\n"
	    "STAT shutdown_command %s\r\n",
	    level > LOG_LVL_WARN ? level - LOG_LVL_WARN : 0,
	    service_role_count(ROLE_WORKER), ACCEPT_BACKLOG,
	    log_level_name(level), c->log_file ? c->log_file : "NULL",
	    c->pidfile ? c->pidfile : "NULL", c->daemonize ? "yes" : "no",
	    c->config_file ? c->config_file : "NULL",
	    (unsigned long long)t.limit, cache_item_max(),
	    c->evict ? "on" : "off", c->enable_shutdown ? "yes" : "no");
	stats_end(out);
}

void
stats_conns(struct obuf *out)
{
	accept_stats_conns(out);
	workers_stats_conns(out);
	stats_end(out);
}
