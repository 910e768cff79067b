/* The store's eviction: CLOCK, taking a victim, making room, allocation. */
#include <string.h>

#include "cache_int.h"

/* memcached's temporary LRU: an item that expires within temporary_ttl
 * is left to expire, never evicted. memcached sorts by the TTL an item was
 * stored with; we keep no store time, and take what is left of it. */
static bool
item_temporary(const struct item *it, time_t now)
{
	return cache.temporary_ttl > 0 && it->exptime != 0 &&
	       (time_t)it->exptime - now <= cache.temporary_ttl &&
	       !item_dead(it, now);
}

/*
 * Unlink it if it is linked, nobody but the table holds it, and its shard
 * is free: the caller holds the lock of the chunk's owner (its class or
 * the large list) and only tries the shard's. True when it is out and the
 * caller owns its memory.
 */
static bool
try_take(struct item *it, time_t now, struct cache_stats *st, bool large)
{
	bool held;
	struct shard *s = shard_try_sole(it, &held);

	if (s == NULL) {
		/* memcached's lrutail_reflocked: a victim someone reads. */
		if (held)
			class_count(&class_counts_of(it)->lrutail_reflocked);
		return false;
	}
	count_victim(it, now, st);
	shard_detach(s, shard_slot_of(s, it), it, large);
	atomic_store_explicit(&it->refs, 0, memory_order_relaxed);
	pthread_mutex_unlock(&s->lock);
	return true;
}

/*
 * CLOCK over the class's chunks: an item read since the hand last passed
 * loses one use and stays; one with none left goes, unless someone is
 * reading it. Dead items go at once. Four turns of the hand bound the
 * search: three wear the largest use count down, the fourth takes the
 * item. Class lock held.
 */
static struct item *
clock_evict(struct slab_class *c, time_t now, struct cache_stats *st)
{
	size_t budget = (size_t)c->npages * c->per_page * 4;

	while (c->npages > 0 && budget-- > 0) {
		struct item *it = clock_next(c);
		uint8_t state =
		    atomic_load_explicit(&it->state, memory_order_acquire);

		if (!(state & ITEM_LINKED))
			continue;
		if (state & ITEM_FREQ) {
			atomic_fetch_sub_explicit(
			    &it->state, ITEM_FREQ1, memory_order_relaxed);
			continue;
		}
		if (item_temporary(it, now))
			continue;
		if (try_take(it, now, st, false)) {
			if (!item_dead(it, now))
				class_count(&c->counts.evicted_own);
			return it;
		}
	}
	return NULL;
}

/* The oldest large item nobody is reading leaves; false if none could. */
static bool
large_evict(time_t now, struct cache_stats *st)
{
	struct large *l;
	int scanned = 0;

	pthread_mutex_lock(&cache.large_lock);
	for (l = cache.large_tail; l != NULL && scanned < LARGE_SCAN_MAX;
	     l = l->prev, scanned++)
		if (!item_temporary(large_item(l), now) &&
		    try_take(large_item(l), now, st, true))
			break;
	pthread_mutex_unlock(&cache.large_lock);
	if (l == NULL || scanned == LARGE_SCAN_MAX)
		return false;
	item_free(large_item(l));
	return true;
}

/* Make the limit hold another need bytes: kept mappings go first, then a
 * page a class's free chunks can take the items of, then large items,
 * oldest first, then pages of the classes holding the most. */
static bool
make_room(size_t need, unsigned except, bool keep_first, time_t now,
    struct cache_stats *st)
{
	while (
	    atomic_load_explicit(&cache.mapped, memory_order_relaxed) + need >
	    atomic_load_explicit(&cache.limit, memory_order_relaxed)) {
		struct large *l = large_unpark(0);

		if (l != NULL) {
			size_t len = l->maplen;

			map_free(l, len);
			budget_give(len);
		} else if (!class_compact(except, now, st) &&
		           !large_evict(now, st) &&
		           !steal_page(except, keep_first, now, st))
			return false;
	}
	return true;
}

/* A victim of class ci's own CLOCK: its chunk, for the caller. */
static struct item *
slab_evict(unsigned ci, time_t now, struct cache_stats *st)
{
	struct slab_class *c = &cache.classes[ci];
	struct item *it;

	pthread_mutex_lock(&c->lock);
	it = clock_evict(c, now, st);
	pthread_mutex_unlock(&c->lock);
	return it;
}

/* A mapping of its own for an item of total bytes, as memory gives one;
 * while the limit has no room for it, room is made (unless -M) and
 * memory asked again. */
static struct item *
large_alloc(size_t total, time_t now, struct cache_stats *st)
{
	size_t len = large_len(total);
	struct item *it;
	bool full;

	/* Every class keeps a page while there is anything else to take; a
	 * store fails only when nothing at all could go. */
	while ((it = large_try(len, &full)) == NULL && full &&
	       !cache.no_evict &&
	       (make_room(len, SLAB_CLASS_MAX, true, now, st) ||
	           make_room(len, SLAB_CLASS_MAX, false, now, st)))
		;
	return it;
}

/*
 * A chunk of class ci, as memory gives one: a free one, or a new one
 * while the limit allows. Past the limit a class below its share makes
 * room at the others' expense (large items first); one at or above it
 * evicts its own. Then memory is asked again.
 */
static struct item *
slab_alloc(unsigned ci, time_t now, struct cache_stats *st)
{
	/* What carving one more chunk may charge. */
	size_t need = align_up(cache.classes[ci].size, SLAB_BLOCK);
	struct item *it = NULL;

	/* Room made can be taken by another thread before this one gets
	 * back to it: try again while room can be made. */
	for (int tries = 0; tries < 64; tries++) {
		bool below;

		it = chunk_try(ci, &below);
		/* At its share, memory other sizes do not use comes before
		 * its own items: at once, not at automove's next pass. */
		if (it == NULL && !below && class_rebalance(ci, now, st))
			continue;
		if (it == NULL && !cache.no_evict && !below)
			it = slab_evict(ci, now, st);
		if (it != NULL || cache.no_evict)
			return it;
		/* Every class keeps a page while there is anything else to
		 * take; in a small limit shared by many sizes, taking one's
		 * last page is better than refusing the store. */
		if (!make_room(need, ci, true, now, st) &&
		    !make_room(need, ci, false, now, st))
			return below ? slab_evict(ci, now, st) : NULL;
	}
	return NULL;
}

/* A chunk or mapping fresh from memory made an item of key with room for
 * nbytes of value; also when its class last stored. */
static struct item *
item_ready(struct item *it, const char *key, size_t nkey, uint32_t flags,
    time_t exptime, size_t nbytes)
{
	if (it->cls != CACHE_CLASS_LARGE) {
		_Atomic uint64_t *at = &cache.classes[it->cls].stored_ms;
		uint64_t ms = mono_ms();

		/* Written once a tick of the coarse clock at most. */
		if (atomic_load_explicit(at, memory_order_relaxed) != ms)
			atomic_store_explicit(at, ms, memory_order_relaxed);
	}
	it->hnext = NULL;
	it->cas = 0;
	atomic_init(&it->refs, 1);
	/* One use to start with: a new item outlives a turn of the hand, so
	 * one written to be read soon is there when it is (without it,
	 * memcaslap's reads after writes missed 0.6% as the cache filled). */
	atomic_store_explicit(
	    &it->state, ITEM_USED | ITEM_FREQ1, memory_order_relaxed);
	it->nkey = (uint8_t)nkey;
	item_set_len(it, nbytes);
	it->flagged = flags != 0;
	it->exptime = (uint32_t)exptime;
	memcpy(it->data, key, nkey);
	item_put_flags(it, flags);
	return it;
}

/* Whether a key and value of these lengths may be stored. */
static bool
item_fits(size_t nkey, size_t nbytes)
{
	return nkey <= CACHE_KEY_MAX && nkey + nbytes <= cache.item_max;
}

struct item *
cache_alloc(const char *key, size_t nkey, uint32_t flags, time_t exptime,
    size_t nbytes, enum cache_result *res, struct cache_stats *st)
{
	size_t total = item_total(nkey, nbytes, flags);
	time_t now = cache_now();
	struct item *it;

	if (!item_fits(nkey, nbytes)) {
		*res = CACHE_TOO_LARGE;
		return NULL;
	}
	it = total > cache.chunk_max ? large_alloc(total, now, st)
	                             : slab_alloc(class_for(total), now, st);
	if (it == NULL) {
		class_count(
		    total > cache.chunk_max
		        ? &cache.large_counts.outofmemory
		        : &cache.classes[class_for(total)].counts.outofmemory);
		*res = CACHE_NO_MEMORY;
		return NULL;
	}
	*res = CACHE_OK;
	return item_ready(it, key, nkey, flags, exptime, nbytes);
}

/* cache_alloc for a caller holding a shard lock: memory's one try, no
 * eviction or page move, which the shard's readers would wait on. NULL
 * and CACHE_NO_MEMORY, not counted, when memory has no room: the caller
 * lets its lock go and calls cache_alloc. */
struct item *
cache_alloc_held(const char *key, size_t nkey, uint32_t flags, time_t exptime,
    size_t nbytes, enum cache_result *res)
{
	size_t total = item_total(nkey, nbytes, flags);
	struct item *it;
	bool unused;

	if (!item_fits(nkey, nbytes)) {
		*res = CACHE_TOO_LARGE;
		return NULL;
	}
	it = total > cache.chunk_max ? large_try(large_len(total), &unused)
	                             : chunk_try(class_for(total), &unused);
	if (it == NULL) {
		*res = CACHE_NO_MEMORY;
		return NULL;
	}
	*res = CACHE_OK;
	return item_ready(it, key, nkey, flags, exptime, nbytes);
}

void
cache_set_limit(size_t limit)
{
	cache_share_set(limit);
	make_room(0, SLAB_CLASS_MAX, false, cache_now(), NULL);
}
