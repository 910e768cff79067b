/* "stats settings": memcached's lines in its order, then the rest of the
 * table of settings. */
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cache.h"
#include "log.h"
#include "maint.h"
#include "obs.h"
#include "obuf.h"
#include "stats.h"
#include "stats_detail.h"
#include "thread.h"

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
