#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <xxhash.h>

#include "cache.h"
#include "log.h"
#include "service.h"
#include "xmalloc.h"

/* memcached's ITEM_UPDATE_INTERVAL: a hot item moves to the LRU head at
 * most once a minute, so reads rarely write shared memory. */
#define CACHE_BUMP_SECS       60
#define CACHE_SHARDS_DEFAULT  256
#define CACHE_BUCKETS_INITIAL 64

struct shard {
	pthread_mutex_t lock;
	struct item **buckets;
	size_t mask;
	_Atomic size_t count; /* read by stats without the lock */
	struct item *head, *tail;
	size_t reclaim_next; /* bucket the maint thread looks at next */
} __attribute__((aligned(64)));

static struct {
	struct shard *shards;
	unsigned nshards;
	unsigned shift; /* hash >> shift picks the shard */
	_Atomic size_t used;
	_Atomic size_t limit;
	size_t item_max;
	bool no_evict;
	_Atomic uint64_t next_cas;
	/* flush_all: items with a CAS at or below flush_cas are gone; with a
	 * delay, items stored before flush_at are gone from flush_at on. */
	_Atomic uint64_t flush_cas;
	_Atomic uint32_t flush_at;
	_Atomic unsigned evict_next; /* where the next eviction starts */
} cache;

size_t
cache_item_max(void)
{
	return cache.item_max;
}

time_t
cache_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME_COARSE, &ts);
	return ts.tv_sec;
}

time_t
cache_exptime(long long e, time_t now)
{
	if (e == 0)
		return 0;
	if (e < 0)
		return 1;
	if (e <= CACHE_REL_MAX)
		return now + (time_t)e;
	/* An absolute time already past expires at once, as memcached. */
	return e <= now ? 1 : (time_t)(e > UINT32_MAX ? UINT32_MAX : e);
}

int
cache_init(const struct cache_config *cfg)
{
	unsigned n = cfg->nshards ? cfg->nshards : CACHE_SHARDS_DEFAULT;

	if (n & (n - 1))
		return -1;
	cache.nshards = n;
	cache.shift = 64;
	while (n > 1) {
		cache.shift--;
		n >>= 1;
	}
	cache.shards = xcalloc(cache.nshards, sizeof *cache.shards);
	for (unsigned i = 0; i < cache.nshards; i++) {
		struct shard *s = &cache.shards[i];

		pthread_mutex_init(&s->lock, NULL);
		s->buckets = xcalloc(CACHE_BUCKETS_INITIAL, sizeof *s->buckets);
		s->mask = CACHE_BUCKETS_INITIAL - 1;
	}
	atomic_store(&cache.limit, cfg->limit);
	atomic_store(&cache.used, 0);
	atomic_store(&cache.next_cas, 0);
	atomic_store(&cache.flush_cas, 0);
	atomic_store(&cache.flush_at, 0);
	cache.item_max = cfg->item_max;
	cache.no_evict = cfg->no_evict;
	return 0;
}

static void
item_free(struct item *it)
{
	free(it);
}

void
cache_release(struct item *it)
{
	if (atomic_fetch_sub_explicit(&it->refs, 1, memory_order_acq_rel) == 1)
		item_free(it);
}

void
cache_free(void)
{
	for (unsigned i = 0; i < cache.nshards; i++) {
		struct shard *s = &cache.shards[i];
		struct item *it, *next;

		for (it = s->head; it != NULL; it = next) {
			next = it->next;
			cache_release(it);
		}
		free(s->buckets);
		pthread_mutex_destroy(&s->lock);
	}
	free(cache.shards);
	memset(&cache, 0, sizeof cache);
}

/* What an item really costs: the block malloc gave it and malloc's own
 * header, not just the bytes asked for. */
static size_t
item_charge(struct item *it)
{
	return malloc_usable_size(it) + sizeof(size_t);
}

static uint64_t
cache_hash(const char *key, size_t nkey)
{
	return XXH3_64bits(key, nkey);
}

static struct shard *
shard_of(uint64_t hash)
{
	return &cache.shards[cache.nshards > 1 ? hash >> cache.shift : 0];
}

static bool
item_expired(const struct item *it, time_t now)
{
	return it->exptime != 0 && it->exptime <= now;
}

static bool
item_flushed(const struct item *it, time_t now)
{
	uint32_t at =
	    atomic_load_explicit(&cache.flush_at, memory_order_relaxed);

	if (it->cas <=
	    atomic_load_explicit(&cache.flush_cas, memory_order_relaxed))
		return true;
	return at != 0 && at <= now && it->stime < at;
}

static struct item **
shard_slot(struct shard *s, uint64_t hash, const char *key, size_t nkey)
{
	struct item **pp = &s->buckets[hash & s->mask];

	for (; *pp != NULL; pp = &(*pp)->hnext)
		if ((*pp)->nkey == nkey &&
		    memcmp(item_key(*pp), key, nkey) == 0)
			break;
	return pp;
}

static void
lru_unlink(struct shard *s, struct item *it)
{
	if (it->prev)
		it->prev->next = it->next;
	else
		s->head = it->next;
	if (it->next)
		it->next->prev = it->prev;
	else
		s->tail = it->prev;
	it->prev = it->next = NULL;
}

static void
lru_push(struct shard *s, struct item *it)
{
	it->prev = NULL;
	it->next = s->head;
	if (s->head)
		s->head->prev = it;
	s->head = it;
	if (s->tail == NULL)
		s->tail = it;
}

/* Double the buckets when chains grow past 1.5 items on average. */
static void
shard_grow(struct shard *s)
{
	size_t n = (s->mask + 1) * 2;
	struct item **nb;

	if (atomic_load_explicit(&s->count, memory_order_relaxed) * 2 <
	    (s->mask + 1) * 3)
		return;
	nb = calloc(n, sizeof *nb);
	if (nb == NULL)
		return; /* longer chains, still correct */
	for (size_t i = 0; i <= s->mask; i++) {
		struct item *it = s->buckets[i], *next;

		for (; it != NULL; it = next) {
			uint64_t h = cache_hash(item_key(it), it->nkey);

			next = it->hnext;
			it->hnext = nb[h & (n - 1)];
			nb[h & (n - 1)] = it;
		}
	}
	free(s->buckets);
	s->buckets = nb;
	s->mask = n - 1;
}

/* Put it where *pp points (the slot its key hashes to), ahead of whatever
 * follows there: after shard_unlink that is the rest of the chain. The
 * table holds the reference the caller passes in. */
static void
shard_link(struct shard *s, struct item **pp, struct item *it, time_t now)
{
	it->hnext = *pp;
	*pp = it;
	it->linked = 1;
	it->atime = it->stime = (uint32_t)now;
	it->cas = atomic_fetch_add(&cache.next_cas, 1) + 1;
	lru_push(s, it);
	atomic_fetch_add_explicit(&s->count, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(
	    &cache.used, item_charge(it), memory_order_relaxed);
	shard_grow(s);
}

/* Take it out of the table; *pp points at it. Drops the table's
 * reference: readers holding their own keep the memory alive. */
static void
shard_unlink(struct shard *s, struct item **pp, struct item *it)
{
	*pp = it->hnext;
	it->hnext = NULL;
	it->linked = 0;
	lru_unlink(s, it);
	atomic_fetch_sub_explicit(&s->count, 1, memory_order_relaxed);
	atomic_fetch_sub_explicit(
	    &cache.used, item_charge(it), memory_order_relaxed);
	cache_release(it);
}

/* Replace old (at *pp) by it, keeping the chain intact. */
static void
shard_replace(struct shard *s, struct item **pp, struct item *old,
    struct item *it, time_t now)
{
	shard_unlink(s, pp, old);
	shard_link(s, pp, it, now);
}

/* Find key in s; an expired or flushed item is removed on the way and
 * reported through *gone (1 expired, 2 flushed) when gone is not NULL. */
static struct item **
shard_find(struct shard *s, uint64_t hash, const char *key, size_t nkey,
    time_t now, int *gone, struct cache_stats *st)
{
	struct item **pp = shard_slot(s, hash, key, nkey);
	struct item *it = *pp;
	int why = 0;

	if (it != NULL && item_flushed(it, now))
		why = 2;
	else if (it != NULL && item_expired(it, now)) {
		why = 1;
		if (!it->fetched && st)
			stat_add(&st->expired_unfetched, 1);
	}
	if (why != 0)
		shard_unlink(s, pp, it);
	if (gone)
		*gone = why;
	return pp;
}

/* Remove the least recently used item of s; false if s is empty. */
static bool
shard_evict_one(struct shard *s, time_t now, struct cache_stats *st)
{
	struct item *it = s->tail;
	struct item **pp;

	if (it == NULL)
		return false;
	pp = shard_slot(
	    s, cache_hash(item_key(it), it->nkey), item_key(it), it->nkey);
	if (item_expired(it, now) || item_flushed(it, now)) {
		if (st)
			stat_add(&st->reclaimed, 1);
		if (st && !it->fetched && item_expired(it, now))
			stat_add(&st->expired_unfetched, 1);
	} else if (st) {
		stat_add(&st->evictions, 1);
		if (!it->fetched)
			stat_add(&st->evicted_unfetched, 1);
	}
	shard_unlink(s, pp, it);
	return true;
}

/* Evict until the memory in use fits the limit, starting from the shard
 * the last eviction stopped at so every shard gives its share. One shard
 * lock at a time: no ordering between shard locks exists to get wrong. */
static void
cache_make_room(struct cache_stats *st)
{
	time_t now = cache_now();
	unsigned empty = 0;

	while (atomic_load_explicit(&cache.used, memory_order_relaxed) >
	           atomic_load_explicit(&cache.limit, memory_order_relaxed) &&
	       empty < cache.nshards) {
		unsigned i = atomic_fetch_add_explicit(
		                 &cache.evict_next, 1, memory_order_relaxed) &
		             (cache.nshards - 1);
		struct shard *s = &cache.shards[i];
		bool evicted;

		pthread_mutex_lock(&s->lock);
		evicted = shard_evict_one(s, now, st);
		pthread_mutex_unlock(&s->lock);
		empty = evicted ? 0 : empty + 1;
	}
}

struct item *
cache_alloc(const char *key, size_t nkey, uint32_t flags, time_t exptime,
    size_t nbytes, enum cache_result *res)
{
	struct item *it;

	if (nkey > CACHE_KEY_MAX || nkey + nbytes > cache.item_max) {
		*res = CACHE_TOO_LARGE;
		return NULL;
	}
	if (cache.no_evict &&
	    atomic_load_explicit(&cache.used, memory_order_relaxed) +
	            sizeof *it + nkey + nbytes + 2 >
	        atomic_load_explicit(&cache.limit, memory_order_relaxed)) {
		*res = CACHE_NO_MEMORY;
		return NULL;
	}
	it = xmalloc(sizeof *it + nkey + nbytes + 2);
	memset(it, 0, sizeof *it);
	atomic_init(&it->refs, 1);
	it->nkey = (uint8_t)nkey;
	it->nbytes = (uint32_t)nbytes;
	it->flags = flags;
	it->exptime = (uint32_t)exptime;
	memcpy(it->data, key, nkey);
	memcpy(item_value(it) + nbytes, "\r\n", 2);
	*res = CACHE_STORED;
	return it;
}

/* A copy of old's key, flags and expiry with room for nbytes of value. */
static struct item *
item_dup(const struct item *old, size_t nbytes, enum cache_result *res)
{
	return cache_alloc(
	    item_key(old), old->nkey, old->flags, old->exptime, nbytes, res);
}

enum cache_result
cache_store(struct item *it, enum cache_store_op op, uint64_t cas,
    struct cache_stats *st)
{
	uint64_t hash = cache_hash(item_key(it), it->nkey);
	struct shard *s = shard_of(hash);
	time_t now = cache_now();
	enum cache_result res = CACHE_STORED;
	struct item **pp, *old, *nw;

	pthread_mutex_lock(&s->lock);
	pp = shard_find(s, hash, item_key(it), it->nkey, now, NULL, st);
	old = *pp;
	switch (op) {
	case CACHE_SET:
		break;
	case CACHE_ADD:
		if (old != NULL) {
			/* memcached refreshes the existing item's place. */
			lru_unlink(s, old);
			lru_push(s, old);
			res = CACHE_NOT_STORED;
		}
		break;
	case CACHE_REPLACE:
		if (old == NULL)
			res = CACHE_NOT_STORED;
		break;
	case CACHE_CAS:
		if (old == NULL)
			res = CACHE_NOT_FOUND;
		else if (old->cas != cas)
			res = CACHE_EXISTS;
		if (st)
			stat_add(res == CACHE_STORED   ? &st->cas_hits
			         : res == CACHE_EXISTS ? &st->cas_badval
			                               : &st->cas_misses,
			    1);
		break;
	case CACHE_APPEND:
	case CACHE_PREPEND:
		if (old == NULL) {
			res = CACHE_NOT_STORED;
			break;
		}
		/* Too large or no memory for the joined value: memcached
		 * answers NOT_STORED. */
		nw = item_dup(old, (size_t)old->nbytes + it->nbytes, &res);
		if (nw == NULL) {
			res = CACHE_NOT_STORED;
			break;
		}
		if (op == CACHE_APPEND) {
			memcpy(item_value(nw), item_value(old), old->nbytes);
			memcpy(item_value(nw) + old->nbytes, item_value(it),
			    it->nbytes);
		} else {
			memcpy(item_value(nw), item_value(it), it->nbytes);
			memcpy(item_value(nw) + it->nbytes, item_value(old),
			    old->nbytes);
		}
		cache_release(it);
		it = nw;
		break;
	}
	if (res == CACHE_STORED) {
		if (old != NULL)
			shard_replace(s, pp, old, it, now);
		else
			shard_link(s, pp, it, now);
		if (st)
			stat_add(&st->total_items, 1);
	}
	pthread_mutex_unlock(&s->lock);
	if (res != CACHE_STORED)
		cache_release(it);
	else if (!cache.no_evict)
		cache_make_room(st);
	return res;
}

struct item *
cache_get(const char *key, size_t nkey, bool touch, time_t exptime,
    struct cache_stats *st)
{
	uint64_t hash = cache_hash(key, nkey);
	struct shard *s = shard_of(hash);
	time_t now = cache_now();
	struct item **pp, *it;
	int gone;

	pthread_mutex_lock(&s->lock);
	pp = shard_find(s, hash, key, nkey, now, &gone, st);
	it = *pp;
	if (it != NULL) {
		atomic_fetch_add_explicit(&it->refs, 1, memory_order_relaxed);
		it->fetched = 1;
		if (touch)
			it->exptime = (uint32_t)exptime;
		if ((uint32_t)now - it->atime >= CACHE_BUMP_SECS) {
			it->atime = (uint32_t)now;
			lru_unlink(s, it);
			lru_push(s, it);
		}
	}
	pthread_mutex_unlock(&s->lock);
	if (st == NULL)
		return it;
	if (touch) {
		stat_add(&st->cmd_touch, 1);
		stat_add(it ? &st->touch_hits : &st->touch_misses, 1);
	} else {
		stat_add(&st->cmd_get, 1);
		stat_add(it ? &st->get_hits : &st->get_misses, 1);
	}
	if (gone == 1)
		stat_add(&st->get_expired, 1);
	else if (gone == 2)
		stat_add(&st->get_flushed, 1);
	return it;
}

enum cache_result
cache_delete(const char *key, size_t nkey, struct cache_stats *st)
{
	uint64_t hash = cache_hash(key, nkey);
	struct shard *s = shard_of(hash);
	struct item **pp;
	bool hit;

	pthread_mutex_lock(&s->lock);
	pp = shard_find(s, hash, key, nkey, cache_now(), NULL, st);
	hit = *pp != NULL;
	if (hit)
		shard_unlink(s, pp, *pp);
	pthread_mutex_unlock(&s->lock);
	if (st)
		stat_add(hit ? &st->delete_hits : &st->delete_misses, 1);
	return hit ? CACHE_STORED : CACHE_NOT_FOUND;
}

enum cache_result
cache_touch(
    const char *key, size_t nkey, time_t exptime, struct cache_stats *st)
{
	uint64_t hash = cache_hash(key, nkey);
	struct shard *s = shard_of(hash);
	struct item **pp;
	bool hit;

	pthread_mutex_lock(&s->lock);
	pp = shard_find(s, hash, key, nkey, cache_now(), NULL, st);
	hit = *pp != NULL;
	if (hit) {
		(*pp)->exptime = (uint32_t)exptime;
		(*pp)->fetched = 1;
	}
	pthread_mutex_unlock(&s->lock);
	if (st) {
		stat_add(&st->cmd_touch, 1);
		stat_add(hit ? &st->touch_hits : &st->touch_misses, 1);
	}
	return hit ? CACHE_STORED : CACHE_NOT_FOUND;
}

/* memcached's rule: the value must be a decimal number, optionally
 * followed by spaces (what an in-place decr leaves behind). */
static bool
value_to_u64(const struct item *it, uint64_t *out)
{
	char buf[32], *end;
	const char *v = it->data + it->nkey;
	unsigned long long n;

	if (it->nbytes == 0 || it->nbytes >= sizeof buf)
		return false;
	memcpy(buf, v, it->nbytes);
	buf[it->nbytes] = '\0';
	if (buf[0] < '0' || buf[0] > '9')
		return false;
	errno = 0;
	n = strtoull(buf, &end, 10);
	if (errno != 0)
		return false;
	while (*end == ' ')
		end++;
	if (*end != '\0')
		return false;
	*out = n;
	return true;
}

enum cache_result
cache_arith(const char *key, size_t nkey, bool incr, uint64_t delta,
    uint64_t *value, struct cache_stats *st)
{
	uint64_t hash = cache_hash(key, nkey);
	struct shard *s = shard_of(hash);
	time_t now = cache_now();
	enum cache_result res = CACHE_STORED;
	struct item **pp, *it, *nw;
	char num[24];
	size_t len, keep;
	uint64_t v;

	pthread_mutex_lock(&s->lock);
	pp = shard_find(s, hash, key, nkey, now, NULL, st);
	it = *pp;
	if (it == NULL)
		res = CACHE_NOT_FOUND;
	else if (!value_to_u64(it, &v))
		res = CACHE_NON_NUMERIC;
	else {
		if (incr)
			v += delta; /* wraps at 2^64, as memcached */
		else
			v = delta > v ? 0 : v - delta;
		len = (size_t)snprintf(
		    num, sizeof num, "%llu", (unsigned long long)v);
		/* Like memcached, a number that fits keeps the value's length,
		 * padded with spaces. In place only when the table alone holds
		 * the item: a pending reply may still be sending the old one.
		 */
		keep = len <= it->nbytes ? it->nbytes : len;
		if (keep == it->nbytes && atomic_load_explicit(&it->refs,
		                              memory_order_acquire) == 1) {
			memcpy(item_value(it), num, len);
			memset(item_value(it) + len, ' ', keep - len);
			it->cas = atomic_fetch_add(&cache.next_cas, 1) + 1;
		} else if ((nw = item_dup(it, keep, &res)) != NULL) {
			memcpy(item_value(nw), num, len);
			memset(item_value(nw) + len, ' ', keep - len);
			shard_replace(s, pp, it, nw, now);
		}
		*value = v;
	}
	pthread_mutex_unlock(&s->lock);
	if (st && res != CACHE_NON_NUMERIC) {
		bool hit = res != CACHE_NOT_FOUND;

		stat_add(incr ? (hit ? &st->incr_hits : &st->incr_misses)
		              : (hit ? &st->decr_hits : &st->decr_misses),
		    1);
	}
	return res;
}

void
cache_flush_all(time_t when)
{
	if (when == 0 || when <= cache_now()) {
		atomic_store(&cache.flush_cas, atomic_load(&cache.next_cas));
		atomic_store(&cache.flush_at, 0);
	} else
		atomic_store(&cache.flush_at, (uint32_t)when);
}

void
cache_set_limit(size_t limit)
{
	atomic_store(&cache.limit, limit);
	cache_make_room(NULL);
}

size_t
cache_reclaim(unsigned budget, struct cache_stats *st)
{
	time_t now = cache_now();
	size_t n = 0;

	for (unsigned i = 0; i < cache.nshards; i++) {
		struct shard *s = &cache.shards[i];

		pthread_mutex_lock(&s->lock);
		for (unsigned b = 0; b < budget && b <= s->mask; b++) {
			struct item **pp =
			    &s->buckets[s->reclaim_next++ & s->mask];

			while (*pp != NULL) {
				struct item *it = *pp;

				if (!item_expired(it, now) &&
				    !item_flushed(it, now)) {
					pp = &it->hnext;
					continue;
				}
				if (!it->fetched && item_expired(it, now))
					stat_add(&st->expired_unfetched, 1);
				shard_unlink(s, pp, it);
				n++;
			}
		}
		pthread_mutex_unlock(&s->lock);
	}
	return n;
}

void
cache_totals(struct cache_totals *t)
{
	t->curr_items = 0;
	for (unsigned i = 0; i < cache.nshards; i++)
		t->curr_items += atomic_load_explicit(
		    &cache.shards[i].count, memory_order_relaxed);
	t->bytes = atomic_load_explicit(&cache.used, memory_order_relaxed);
	t->limit = atomic_load_explicit(&cache.limit, memory_order_relaxed);
}
