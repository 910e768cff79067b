/* The ring of once-a-second samples behind /history and the dashboard. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/keyvalq_struct.h>
#include <event2/http.h>

#include "accept.h"
#include "figures.h"
#include "history.h"
#include "latency.h"
#include "obs.h"
#include "stats.h"
#include "thread.h"
#include "tl_build.h"
#include "xmalloc.h"

/* One second of the whole server: counts over the second, levels at its
 * end. The per-thread figures are in the ring's arrays, at the same
 * index. */
struct history_sample {
	int64_t mono_ms;  /* CLOCK_MONOTONIC, since the ring started */
	int64_t wall_ms;  /* CLOCK_REALTIME, for the time axis */
	uint32_t span_ms; /* since the sample before: the rates' divisor */
	uint32_t hits, misses, evictions;
	uint64_t bytes, limit, items, conns;
};

static struct {
	struct event *tick;
	struct timespec start;
	int nthreads, nworkers;
	size_t head, len; /* the oldest sample and how many there are */
	struct history_sample *s;
	float *cpu;    /* [sample * nthreads]: percent of one CPU */
	uint32_t *ops; /* [sample * nworkers]: commands in the span */
	uint32_t *p99; /* [sample * nworkers]: µs, of the span's requests */
	/* The last reading, which the next sample subtracts. */
	int64_t last_ms;
	double *last_cpu;
	uint64_t *last_cmds;
	uint64_t last_hits, last_misses, last_evictions;
	struct obs_lat *last_lat;
} hist;

static int64_t
history_ms(clockid_t clk)
{
	struct timespec ts;

	clock_gettime(clk, &ts);
	if (clk == CLOCK_MONOTONIC) {
		ts.tv_sec -= hist.start.tv_sec;
		ts.tv_nsec -= hist.start.tv_nsec;
	}
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Thread i's CPU seconds, user and system; 0 before it has a tid. */
static double
history_cpu(int i)
{
	double user = 0, sys = 0;

	if (thread_at(i)->tid > 0)
		stats_thread_cpu(thread_at(i)->tid, &user, &sys);
	return user + sys;
}

/* Worker w's p99 over the requests since lat's predecessor. */
static uint32_t
history_p99(const struct obs_lat *now, const struct obs_lat *before, int w)
{
	struct lat_snap all, s;

	memset(&all, 0, sizeof all);
	for (int c = 0; c < PROTO_CLS_COUNT; c++) {
		const struct obs_lat *n = &now[w * PROTO_CLS_COUNT + c];
		const struct obs_lat *b = &before[w * PROTO_CLS_COUNT + c];

		memset(&s, 0, sizeof s);
		for (unsigned k = 0; k < LAT_BUCKETS; k++)
			s.bucket[k] = n->bucket[k] - b->bucket[k];
		s.max_us = n->max_us;
		lat_finish(&s);
		lat_merge(&all, &s);
	}
	lat_finish(&all);
	return (uint32_t)lat_quantile(&all, 0.99);
}

/* Read every counter as the baseline of the next sample; with record,
 * first store what changed since the last one. */
static void
history_read(bool record)
{
	struct obs_reading r;
	struct obs_lat *lat = obs_latency(OBS_SINCE_START);
	struct cache_totals t;
	int64_t now = history_ms(CLOCK_MONOTONIC);
	size_t at = (hist.head + hist.len) % HISTORY_SAMPLES;
	struct history_sample *s = &hist.s[at];
	uint64_t hits, misses, evictions;

	obs_read(&r, OBS_SINCE_START);
	cache_totals(&t);
	hits = obs_total(&r, OBS_CACHE_get_hits);
	misses = obs_total(&r, OBS_CACHE_get_misses);
	evictions = obs_total(&r, OBS_CACHE_evictions);
	if (record && now > hist.last_ms) {
		s->mono_ms = now;
		s->wall_ms = history_ms(CLOCK_REALTIME);
		s->span_ms = (uint32_t)(now - hist.last_ms);
		s->hits = (uint32_t)(hits - hist.last_hits);
		s->misses = (uint32_t)(misses - hist.last_misses);
		s->evictions = (uint32_t)(evictions - hist.last_evictions);
		s->bytes = t.bytes;
		s->limit = t.limit;
		s->items = t.curr_items;
		s->conns = obs_total(&r, OBS_CONN_curr_conns);
	}
	for (int i = 0; i < hist.nthreads; i++) {
		double cpu = history_cpu(i);

		/* A CPU time never runs back: no "-0.0" from rounding. */
		if (record && now > hist.last_ms)
			hist.cpu[at * (size_t)hist.nthreads + (size_t)i] =
			    cpu > hist.last_cpu[i]
			        ? (float)(100000.0 * (cpu - hist.last_cpu[i]) /
			                  (double)s->span_ms)
			        : 0.0f;
		hist.last_cpu[i] = cpu;
	}
	for (int w = 0; w < hist.nworkers; w++) {
		uint64_t cmds = obs_value(&r, OBS_CONN_cmds, w);
		size_t k = at * (size_t)hist.nworkers + (size_t)w;

		if (record && now > hist.last_ms) {
			hist.ops[k] = (uint32_t)(cmds - hist.last_cmds[w]);
			hist.p99[k] = history_p99(lat, hist.last_lat, w);
		}
		hist.last_cmds[w] = cmds;
	}
	if (record && now > hist.last_ms) {
		if (hist.len < HISTORY_SAMPLES)
			hist.len++;
		else
			hist.head = (hist.head + 1) % HISTORY_SAMPLES;
	}
	hist.last_ms = now;
	hist.last_hits = hits;
	hist.last_misses = misses;
	hist.last_evictions = evictions;
	memcpy(hist.last_lat, lat,
	    (size_t)hist.nworkers * PROTO_CLS_COUNT * sizeof *lat);
	free(lat);
	obs_reading_free(&r);
}

static void
history_tick(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	history_read(true);
}

void
history_init(struct event_base *base)
{
	const struct timeval second = {1, 0};
	size_t nt, nw;

	clock_gettime(CLOCK_MONOTONIC, &hist.start);
	hist.nthreads = thread_count();
	hist.nworkers = thread_role_count(ROLE_WORKER);
	nt = (size_t)hist.nthreads;
	nw = (size_t)hist.nworkers;
	hist.s = xcalloc(HISTORY_SAMPLES, sizeof *hist.s);
	hist.cpu = xcalloc(HISTORY_SAMPLES * nt, sizeof *hist.cpu);
	hist.ops = xcalloc(HISTORY_SAMPLES * nw, sizeof *hist.ops);
	hist.p99 = xcalloc(HISTORY_SAMPLES * nw, sizeof *hist.p99);
	hist.last_cpu = xcalloc(nt, sizeof *hist.last_cpu);
	hist.last_cmds = xcalloc(nw, sizeof *hist.last_cmds);
	hist.last_lat = xcalloc(nw * PROTO_CLS_COUNT, sizeof *hist.last_lat);
	history_read(false);
	hist.tick = event_new(base, -1, EV_PERSIST, history_tick, NULL);
	event_add(hist.tick, &second);
}

void
history_free(void)
{
	if (hist.tick != NULL)
		event_free(hist.tick);
	free(hist.s);
	free(hist.cpu);
	free(hist.ops);
	free(hist.p99);
	free(hist.last_cpu);
	free(hist.last_cmds);
	free(hist.last_lat);
	memset(&hist, 0, sizeof hist);
}

size_t
history_bytes(void)
{
	size_t nt = (size_t)hist.nthreads, nw = (size_t)hist.nworkers;

	return sizeof hist +
	       HISTORY_SAMPLES *
	           (sizeof *hist.s + nt * sizeof *hist.cpu +
	               nw * (sizeof *hist.ops + sizeof *hist.p99)) +
	       nt * sizeof *hist.last_cpu + nw * sizeof *hist.last_cmds +
	       nw * PROTO_CLS_COUNT * sizeof *hist.last_lat;
}

/* A rate: n in span_ms, per second. */
static double
history_rate(uint64_t n, uint32_t span_ms)
{
	return span_ms > 0 ? 1000.0 * (double)n / span_ms : 0;
}

/* One sample's object. */
static void
history_sample_json(struct evbuffer *b, size_t at)
{
	const struct history_sample *s = &hist.s[at];
	uint64_t gets = (uint64_t)s->hits + s->misses;

	evbuffer_add_printf(b,
	    "{\"t\":%lld,\"wall\":%lld,\"span_ms\":%u,\"hits\":%u,"
	    "\"misses\":%u,\"hit_ratio\":",
	    (long long)s->mono_ms, (long long)s->wall_ms, s->span_ms, s->hits,
	    s->misses);
	if (gets > 0)
		evbuffer_add_printf(b, "%.4f", (double)s->hits / (double)gets);
	else
		evbuffer_add_printf(b, "null");
	evbuffer_add_printf(b,
	    ",\"evictions\":%u,\"evictions_s\":%.1f,\"bytes\":%llu,"
	    "\"limit\":%llu,\"items\":%llu,\"connections\":%llu,\"ops\":[",
	    s->evictions, history_rate(s->evictions, s->span_ms),
	    (unsigned long long)s->bytes, (unsigned long long)s->limit,
	    (unsigned long long)s->items, (unsigned long long)s->conns);
	for (int w = 0; w < hist.nworkers; w++)
		evbuffer_add_printf(b, "%s%.1f", w ? "," : "",
		    history_rate(
		        hist.ops[at * (size_t)hist.nworkers + (size_t)w],
		        s->span_ms));
	evbuffer_add_printf(b, "],\"p99_us\":[");
	for (int w = 0; w < hist.nworkers; w++)
		evbuffer_add_printf(b, "%s%u", w ? "," : "",
		    hist.p99[at * (size_t)hist.nworkers + (size_t)w]);
	evbuffer_add_printf(b, "],\"cpu\":[");
	for (int i = 0; i < hist.nthreads; i++)
		evbuffer_add_printf(b, "%s%.1f", i ? "," : "",
		    (double)hist.cpu[at * (size_t)hist.nthreads + (size_t)i]);
	evbuffer_add_printf(b, "]}");
}

/* s as a JSON string's contents: a unix socket's path may hold any byte. */
static void
history_str(struct evbuffer *b, const char *s)
{
	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			evbuffer_add_printf(b, "\\%c", c);
		else if (c < 0x20)
			evbuffer_add_printf(b, "\\u%04x", c);
		else
			evbuffer_add(b, s, 1);
	}
}

void
history_json(struct evbuffer *b, struct evkeyvalq *query)
{
	const char *v = evhttp_find_header(query, "since");
	long long since = v != NULL ? strtoll(v, NULL, 10) : -1;
	const char *listen = accept_listener(0);
	bool first = true;

	/* The instance as the header names it: the first listener. */
	evbuffer_add(b, "{\"instance\":\"", 13);
	history_str(b, listen != NULL ? listen : "");
	evbuffer_add_printf(b,
	    "\",\"version\":\"%s\","
	    "\"wire_version\":\"%s\",\"uptime\":%lld,"
	    "\"interval_ms\":1000,\"capacity\":%d,\"bytes\":%zu,"
	    "\"now\":%lld,\"total_hits\":%llu,\"total_misses\":%llu,"
	    "\"total_evictions\":%llu,\"threads\":[",
	    TL_VERSION, TL_WIRE_VERSION, obs_uptime(), HISTORY_SAMPLES,
	    history_bytes(), (long long)history_ms(CLOCK_MONOTONIC),
	    (unsigned long long)hist.last_hits,
	    (unsigned long long)hist.last_misses,
	    (unsigned long long)hist.last_evictions);
	for (int i = 0; i < hist.nthreads; i++)
		evbuffer_add_printf(b, "%s{\"name\":\"%s\",\"role\":\"%s\"}",
		    i ? "," : "", thread_at(i)->name,
		    thread_role_name(thread_at(i)->role));
	evbuffer_add_printf(b, "],\"workers\":[");
	for (int w = 0; w < hist.nworkers; w++)
		evbuffer_add_printf(b, "%s\"%s\"", w ? "," : "",
		    thread_get(ROLE_WORKER, w)->name);
	evbuffer_add_printf(b, "],\"samples\":[");
	for (size_t i = 0; i < hist.len; i++) {
		size_t at = (hist.head + i) % HISTORY_SAMPLES;

		if (hist.s[at].mono_ms <= since)
			continue;
		if (!first)
			evbuffer_add(b, ",", 1);
		first = false;
		history_sample_json(b, at);
	}
	evbuffer_add_printf(b, "]}\n");
}
