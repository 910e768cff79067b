/* "stats detail": gets, hits, sets and deletes counted per key prefix. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "obs.h"
#include "obuf.h"
#include "proto_text.h"
#include "stats_detail.h"
#include "xmalloc.h"

/* Whether "stats detail on" counts per key prefix now: proto's flag,
 * which its call sites read before they call stats_detail_record. */
bool
stats_detail_enabled(void)
{
	return proto_detail_wanted();
}

void
stats_detail_set(bool on)
{
	proto_detail_set(on);
}

const char *
stats_detail_delimiter(void)
{
	const struct obs_config *cfg = obs_config();

	return cfg->prefix_delimiter != NULL && cfg->prefix_delimiter[0] != '\0'
	           ? cfg->prefix_delimiter
	           : ":";
}

/*
 * "stats detail": gets, hits, sets and deletes per key prefix (up to the
 * first ':'), as memcached's. Each worker counts in a table of its own
 * under a lock only "stats detail dump" and "stats reset" also take, so
 * workers never wait for each other.
 */
#define STATS_DETAIL_BUCKETS 256
/* Prefixes a worker keeps at most: a client picks them. */
#define STATS_DETAIL_MAX 4096

struct stats_prefix {
	struct stats_prefix *next;
	uint64_t get, hit, set, del;
	size_t len;
	char name[];
};

struct stats_detail_table {
	pthread_mutex_t lock;
	struct stats_detail_table *next; /* every worker's, for the dump */
	struct stats_prefix *buckets[STATS_DETAIL_BUCKETS];
	size_t n;
};

static pthread_mutex_t stats_detail_lock = PTHREAD_MUTEX_INITIALIZER;
static struct stats_detail_table *stats_detail_tables;
static _Thread_local struct stats_detail_table *stats_detail_mine;

/* The entry of prefix p in t, made if t has fewer than max; NULL if not.
 * Table lock held. */
static struct stats_prefix *
stats_detail_find(
    struct stats_detail_table *t, const char *p, size_t len, size_t max)
{
	size_t h = 5381;
	struct stats_prefix **pp, *e;

	for (size_t i = 0; i < len; i++)
		h = h * 33 + (unsigned char)p[i];
	pp = &t->buckets[h % STATS_DETAIL_BUCKETS];
	for (e = *pp; e != NULL; e = e->next)
		if (e->len == len && memcmp(e->name, p, len) == 0)
			return e;
	if (t->n >= max)
		return NULL;
	e = xcalloc(1, sizeof *e + len + 1);
	memcpy(e->name, p, len);
	e->len = len;
	e->next = *pp;
	*pp = e;
	t->n++;
	return e;
}

/* Empty t. Table lock held. */
static void
stats_detail_empty(struct stats_detail_table *t)
{
	for (int b = 0; b < STATS_DETAIL_BUCKETS; b++)
		while (t->buckets[b] != NULL) {
			struct stats_prefix *e = t->buckets[b];

			t->buckets[b] = e->next;
			free(e);
		}
	t->n = 0;
}

void
stats_detail_record(
    enum proto_detail op, const char *key, size_t nkey, bool hit)
{
	struct stats_detail_table *t = stats_detail_mine;
	const char *colon;
	struct stats_prefix *e;

	if (!stats_detail_enabled() ||
	    (colon = memchr(key, stats_detail_delimiter()[0], nkey)) == NULL)
		return;
	if (t == NULL) {
		t = xcalloc(1, sizeof *t);
		pthread_mutex_init(&t->lock, NULL);
		pthread_mutex_lock(&stats_detail_lock);
		t->next = stats_detail_tables;
		stats_detail_tables = t;
		pthread_mutex_unlock(&stats_detail_lock);
		stats_detail_mine = t;
	}
	pthread_mutex_lock(&t->lock);
	e = stats_detail_find(t, key, (size_t)(colon - key), STATS_DETAIL_MAX);
	if (e != NULL)
		switch (op) {
		case PROTO_DETAIL_GET:
			e->get++;
			e->hit += hit;
			break;
		case PROTO_DETAIL_SET:
			e->set++;
			break;
		case PROTO_DETAIL_DEL:
			e->del++;
			break;
		}
	pthread_mutex_unlock(&t->lock);
}

/* "PREFIX p get N hit N set N del N" per prefix, every worker's summed. */
void
stats_detail_dump(struct obuf *out)
{
	struct stats_detail_table sum = {.n = 0};

	pthread_mutex_lock(&stats_detail_lock);
	for (struct stats_detail_table *t = stats_detail_tables; t != NULL;
	     t = t->next) {
		pthread_mutex_lock(&t->lock);
		for (int b = 0; b < STATS_DETAIL_BUCKETS; b++)
			for (struct stats_prefix *e = t->buckets[b]; e != NULL;
			     e = e->next) {
				struct stats_prefix *s;

				/* Every worker may hold its own prefixes. */
				s = stats_detail_find(
				    &sum, e->name, e->len, SIZE_MAX);
				s->get += e->get;
				s->hit += e->hit;
				s->set += e->set;
				s->del += e->del;
			}
		pthread_mutex_unlock(&t->lock);
	}
	pthread_mutex_unlock(&stats_detail_lock);
	for (int b = 0; b < STATS_DETAIL_BUCKETS; b++)
		for (struct stats_prefix *e = sum.buckets[b]; e != NULL;
		     e = e->next)
			obuf_printf(out,
			    "PREFIX %s get %llu hit %llu set %llu del %llu\r\n",
			    e->name, (unsigned long long)e->get,
			    (unsigned long long)e->hit,
			    (unsigned long long)e->set,
			    (unsigned long long)e->del);
	stats_detail_empty(&sum);
}

/* Forget every prefix: "stats reset". */
void
stats_detail_clear(void)
{
	pthread_mutex_lock(&stats_detail_lock);
	for (struct stats_detail_table *t = stats_detail_tables; t != NULL;
	     t = t->next) {
		pthread_mutex_lock(&t->lock);
		stats_detail_empty(t);
		pthread_mutex_unlock(&t->lock);
	}
	pthread_mutex_unlock(&stats_detail_lock);
}
