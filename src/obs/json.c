/* The admin thread's JSON pages, /status and /threads. */
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <event2/buffer.h>

#include "figures.h"
#include "json.h"
#include "latency.h"
#include "log.h"
#include "log_ring.h"
#include "obs.h"
#include "proto_slowlog.h"
#include "stats.h"
#include "thread.h"
#include "tl_build.h"

/* s as a JSON string, quotes included. */
static void
json_str(struct evbuffer *b, const char *s)
{
	evbuffer_add(b, "\"", 1);
	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			evbuffer_add_printf(b, "\\%c", c);
		else if (c < 0x20)
			evbuffer_add_printf(b, "\\u%04x", c);
		else
			evbuffer_add(b, s, 1);
	}
	evbuffer_add(b, "\"", 1);
}

/* "name":"value" with a comma before all but the first. */
static void
json_member(struct evbuffer *b, bool first, const char *k, const char *v)
{
	if (!first)
		evbuffer_add(b, ",", 1);
	json_str(b, k);
	evbuffer_add(b, ":", 1);
	json_str(b, v);
}

/* GET /status: who runs, since when, with which settings and threads. */
void
json_status(struct evbuffer *b)
{
	const struct obs_config *cfg = obs_config();
	struct obs_setting s;

	evbuffer_add_printf(b, "{\"served_by\":");
	json_str(b, thread_self_name());
	evbuffer_add_printf(b,
	    ",\"version\":\"%s\",\"wire_version\":\"%s\",\"pid\":%d,"
	    "\"uptime\":%lld,\"settings\":{",
	    TL_VERSION, TL_WIRE_VERSION, (int)getpid(), obs_uptime());
	for (size_t i = 0; cfg->setting(cfg->setting_arg, i, "", &s); i++) {
		char key[128];

		snprintf(key, sizeof key, "%s.%s", s.section, s.key);
		json_member(b, i == 0, key, s.value);
		free(s.value);
	}
	evbuffer_add_printf(b, "},\"threads\":[");
	for (int i = 0; i < thread_count(); i++) {
		const struct thread *t = thread_at(i);

		evbuffer_add_printf(b, "%s{\"name\":", i == 0 ? "" : ",");
		json_str(b, t->name);
		evbuffer_add_printf(b, ",\"role\":\"%s\",\"tid\":%d}",
		    thread_role_name(t->role), (int)t->tid);
	}
	evbuffer_add_printf(b, "]}\n");
}

/* A counter member of a thread's object. */
static void
json_u64(struct evbuffer *b, const char *k, uint64_t v)
{
	evbuffer_add_printf(b, ",\"%s\":%llu", k, (unsigned long long)v);
}

/* What a thread's role counts: the rows of its blocks with a /threads
 * name, then a worker's latency. */
static void
json_thread_counters(struct evbuffer *b, const struct thread *t,
    const struct obs_reading *r, const struct obs_lat *lat)
{
	struct lat_snap all;

	for (int id = 0; id < OBS_NROWS; id++) {
		const struct obs_row *row = &obs_rows[id];
		int i = obs_block_instance(row->block, t);

		if (row->json != NULL && i >= 0)
			json_u64(b, row->json, obs_value(r, id, i));
	}
	if (t->role == ROLE_WORKER) {
		obs_lat_worker(lat, t->index, &all);
		json_u64(b, "p50_us", lat_quantile(&all, 0.5));
		json_u64(b, "p99_us", lat_quantile(&all, 0.99));
	}
}

/* GET /threads: every thread, its CPU time, level and counters, counted
 * since start ("stats reset" changes only what stats shows). */
void
json_threads(struct evbuffer *b)
{
	struct obs_reading r;
	struct obs_lat *lat = obs_latency(OBS_SINCE_START);

	obs_read(&r, OBS_SINCE_START);
	evbuffer_add_printf(b, "{\"served_by\":");
	json_str(b, thread_self_name());
	evbuffer_add_printf(b, ",\"threads\":[");
	for (int i = 0; i < thread_count(); i++) {
		const struct thread *t = thread_at(i);
		double user = 0, sys = 0;

		stats_thread_cpu(t->tid, &user, &sys);
		evbuffer_add_printf(b, "%s{\"name\":", i == 0 ? "" : ",");
		json_str(b, t->name);
		evbuffer_add_printf(b,
		    ",\"role\":\"%s\",\"tid\":%d,\"cpu_user\":%.6f,"
		    "\"cpu_system\":%.6f,\"log_level\":\"%s\"",
		    thread_role_name(t->role), (int)t->tid, user, sys,
		    log_level_name(atomic_load_explicit(
		        &t->log_level, memory_order_relaxed)));
		json_u64(b, "log_dropped", log_ring_dropped(t->ring));
		json_thread_counters(b, t, &r, lat);
		evbuffer_add(b, "}", 1);
	}
	evbuffer_add_printf(b, "]}\n");
	obs_reading_free(&r);
	free(lat);
}

void
json_slowlog(struct evbuffer *b, size_t n)
{
	struct proto_slow *e = calloc(PROTO_SLOWLOG_MAX, sizeof *e);
	char *key = malloc(PROTO_SLOWLOG_KEY_TEXT);

	if (e == NULL || key == NULL)
		n = 0;
	else
		n = proto_slowlog_read(e, n);
	evbuffer_add_printf(b, "{\"max\":%d,\"slowlog\":[", PROTO_SLOWLOG_MAX);
	for (size_t i = 0; i < n; i++) {
		proto_slowlog_key_text(&e[i], key);
		evbuffer_add_printf(b,
		    "%s{\"id\":%llu,\"time\":%lld.%06ld,\"thread\":",
		    i > 0 ? "," : "", (unsigned long long)e[i].id,
		    (long long)e[i].ts.tv_sec, e[i].ts.tv_nsec / 1000);
		json_str(b, e[i].thread);
		evbuffer_add_printf(b, ",\"conn\":%d,\"peer\":", e[i].conn);
		json_str(b, e[i].peer);
		evbuffer_add(b, ",\"cmd\":", 7);
		json_str(b, e[i].cmd);
		evbuffer_add_printf(b, ",\"keys\":%u,\"key\":", e[i].nkeys);
		if (e[i].nkey == 0)
			evbuffer_add(b, "null", 4);
		else
			json_str(b, key);
		evbuffer_add_printf(
		    b, ",\"us\":%llu}", (unsigned long long)e[i].us);
	}
	evbuffer_add(b, "]}\n", 3);
	free(key);
	free(e);
}
