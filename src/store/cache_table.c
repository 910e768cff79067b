/* The store's hash table: shards and chains, find, link, unlink, reclaim. */
#include <stdlib.h>
#include <string.h>

#include "cache_int.h"
#include "cache_table.h"
#include "counter.h"
#include "log_event.h"

/* Whether the last flush took effect too lately for cache_reclaim to
 * take its items yet. */
static bool
flush_recent(time_t now)
{
	uint32_t since = atomic_load(&cache.flush_since);

	return since != 0 && now >= since && now - since < FLUSH_GRACE_SECS;
}

/* Where the table points at key in s, or the end of its chain. */
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

/* Where the table points at it; it must be linked in s. */
struct item **
shard_slot_of(struct shard *s, struct item *it)
{
	uint64_t hash = cache_hash(item_key(it), it->nkey);
	struct item **pp = &s->buckets[hash & s->mask];

	while (*pp != it)
		pp = &(*pp)->hnext;
	return pp;
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

/* Count it in or out of the shard, its class (or the large items) and
 * the cache's totals. */
static void
shard_account(struct shard *s, const struct item *it, bool in)
{
	/* Unsigned: adding the negation subtracts. */
	size_t one = in ? 1 : (size_t)-1;
	size_t bytes = one * item_size(it);
	bool large = it->cls == CACHE_CLASS_LARGE;

	atomic_fetch_add_explicit(
	    large ? &cache.large_count : &cache.classes[it->cls].items, one,
	    memory_order_relaxed);
	atomic_fetch_add_explicit(
	    large ? &cache.large_bytes : &cache.classes[it->cls].bytes, bytes,
	    memory_order_relaxed);
	atomic_fetch_add_explicit(&s->count, one, memory_order_relaxed);
	atomic_fetch_add_explicit(
	    &cache.item_bytes, bytes, memory_order_relaxed);
}

/* Put it where *pp points (the slot its key hashes to), ahead of whatever
 * follows there: after shard_detach that is the rest of the chain. The
 * table holds the reference the caller passes in. */
void
shard_link(struct shard *s, struct item **pp, struct item *it, time_t now)
{
	it->hnext = *pp;
	*pp = it;
	it->cas = atomic_fetch_add(&cache.next_cas, 1) + 1;
	it->atime = (uint32_t)now;
	if (it->cls == CACHE_CLASS_LARGE) {
		pthread_mutex_lock(&cache.large_lock);
		large_of(it)->atime = (uint32_t)now;
		large_push(large_of(it));
		pthread_mutex_unlock(&cache.large_lock);
	}
	shard_account(s, it, true);
	atomic_fetch_or_explicit(&it->state, ITEM_LINKED, memory_order_release);
	shard_grow(s);
}

/* Take it out of the table, *pp pointing at it, keeping the table's
 * reference for the caller. large_locked: the caller holds the large
 * lock (large eviction). */
void
shard_detach(
    struct shard *s, struct item **pp, struct item *it, bool large_locked)
{
	*pp = it->hnext;
	it->hnext = NULL;
	atomic_fetch_and_explicit(
	    &it->state, (uint8_t)~ITEM_LINKED, memory_order_relaxed);
	if (it->cls == CACHE_CLASS_LARGE) {
		if (!large_locked)
			pthread_mutex_lock(&cache.large_lock);
		large_unlink(large_of(it));
		if (!large_locked)
			pthread_mutex_unlock(&cache.large_lock);
	}
	shard_account(s, it, false);
}

_Thread_local struct item *shard_dropped;

/* Take it out of the table and drop the table's reference: readers
 * holding their own keep the memory alive. A large item's goes when the
 * shard's lock does. */
void
shard_unlink(struct shard *s, struct item **pp, struct item *it)
{
	shard_detach(s, pp, it, false);
	if (it->cls == CACHE_CLASS_LARGE) {
		it->hnext = shard_dropped;
		shard_dropped = it;
	} else
		cache_release(it);
}

/* Release the large items shard_unlink kept while a lock was held. */
void
shard_release_dropped(void)
{
	struct item *it;

	while ((it = shard_dropped) != NULL) {
		shard_dropped = it->hnext;
		it->hnext = NULL;
		cache_release(it);
	}
}

/* Replace old (at *pp) by it, keeping the chain intact. */
void
shard_replace(struct shard *s, struct item **pp, struct item *old,
    struct item *it, time_t now)
{
	shard_unlink(s, pp, old);
	shard_link(s, pp, it, now);
}

/* Find key in s; an expired or flushed item is removed on the way,
 * reported through *gone when gone is not NULL and counted in st's
 * get_flushed or get_expired: memcached counts them in every look-up by
 * key (retrievals, stores, deletes, touches, arithmetic, me). */
static struct item **
shard_find(struct shard *s, uint64_t hash, const char *key, size_t nkey,
    time_t now, enum gone *gone, struct cache_stats *st)
{
	struct item **pp = shard_slot(s, hash, key, nkey);
	struct item *it = *pp;
	enum gone why = GONE_NOT;

	if (it != NULL && item_flushed(it, now)) {
		why = GONE_FLUSHED;
		if (st)
			stat_add(&st->get_flushed, 1);
	} else if (it != NULL && item_expired(it, now)) {
		why = GONE_EXPIRED;
		if (st)
			stat_add(&st->get_expired, 1);
		if (!(atomic_load_explicit(&it->state, memory_order_relaxed) &
		        ITEM_FETCHED)) {
			class_count(&class_counts_of(it)->expired_unfetched);
			if (st)
				stat_add(&st->expired_unfetched, 1);
		}
	}
	/* *pp is now whatever followed it in the chain: look again. */
	if (why != GONE_NOT) {
		shard_unlink(s, pp, it);
		pp = shard_slot(s, hash, key, nkey);
	}
	if (gone)
		*gone = why;
	return pp;
}

/* Lock key's shard (into *sp, for the caller to unlock) and find key in
 * it as shard_find does. */
struct item **
shard_lock_find(const char *key, size_t nkey, time_t now, struct shard **sp,
    enum gone *gone, struct cache_stats *st)
{
	uint64_t hash = cache_hash(key, nkey);
	struct shard *s = shard_of(hash);

	pthread_mutex_lock(&s->lock);
	*sp = s;
	return shard_find(s, hash, key, nkey, now, gone, st);
}

/* Counts an item leaving to make room: reclaimed when it was dead
 * anyway, evicted otherwise. */
void
count_victim(struct item *it, time_t now, struct cache_stats *st)
{
	bool fetched = atomic_load_explicit(&it->state, memory_order_relaxed) &
	               ITEM_FETCHED;
	struct class_counts *cc = class_counts_of(it);

	if (item_dead(it, now)) {
		class_count(&cc->reclaimed);
		if (!fetched && item_expired(it, now))
			class_count(&cc->expired_unfetched);
	} else {
		class_count(&cc->evicted);
		atomic_store_explicit(&cc->evicted_time,
		    (uint64_t)((uint32_t)now - it->atime),
		    memory_order_relaxed);
		if (it->exptime != 0)
			class_count(&cc->evicted_nonzero);
		if (!fetched)
			class_count(&cc->evicted_unfetched);
	}
	if (st == NULL)
		return;
	if (item_dead(it, now)) {
		stat_add(&st->reclaimed, 1);
		if (!fetched && item_expired(it, now))
			stat_add(&st->expired_unfetched, 1);
	} else {
		stat_add(&st->evictions, 1);
		if (!fetched)
			stat_add(&st->evicted_unfetched, 1);
		if (log_event_wanted(LOG_EV_EVICTION))
			log_event_eviction(item_key(it), it->nkey, fetched,
			    it->exptime ? (long long)it->exptime - now : -1LL,
			    (long long)now - it->atime, item_class_id(it));
	}
}

/* The shard of it, locked, when it is linked and nobody but the table
 * holds it; NULL when not. The caller holds the lock of the chunk's
 * owner (its class or the large list), which orders before the shard's:
 * that lock is only tried. *held: it was linked, but read or written. */
struct shard *
shard_try_sole(struct item *it, bool *held)
{
	struct shard *s;
	uint8_t state;

	*held = false;
	if (!(atomic_load_explicit(&it->state, memory_order_acquire) &
	        ITEM_LINKED))
		return NULL;
	s = shard_of(cache_hash(item_key(it), it->nkey));
	if (pthread_mutex_trylock(&s->lock) != 0)
		return NULL;
	state = atomic_load_explicit(&it->state, memory_order_relaxed);
	if ((state & ITEM_LINKED) &&
	    atomic_load_explicit(&it->refs, memory_order_acquire) == 1)
		return s;
	*held = state & ITEM_LINKED;
	pthread_mutex_unlock(&s->lock);
	return NULL;
}

/* What me and the dumps show of it; its shard's lock is held. */
void
item_debug(const struct item *it, struct cache_debug *d)
{
	uint8_t state = atomic_load_explicit(&it->state, memory_order_relaxed);

	d->exptime = it->exptime;
	d->atime = it->atime;
	d->nbytes = (uint32_t)item_nbytes(it);
	d->cas = it->cas;
	d->fetched = state & ITEM_FETCHED;
	d->binary_key = state & ITEM_BINARY_KEY;
	d->cls = item_class_id(it);
	d->size = item_size(it);
	memcpy(d->key, item_key(it), it->nkey);
	d->nkey = it->nkey;
}

/* Take the dead items out of the chain at *pp, as maint's passes do:
 * the expired ones, and the flushed ones when flushed. Each item looked
 * at counts in its class's crawler_items_checked and in *seen; with left,
 * one whose class has no looks left there is passed over, and the others
 * take one. Shard lock held; returns how many went. */
size_t
shard_reap(struct shard *s, struct item **pp, time_t now, bool flushed,
    unsigned *left, size_t *seen, struct cache_stats *st)
{
	size_t n = 0;

	while (*pp != NULL) {
		struct item *it = *pp;
		unsigned *n_left =
		    left != NULL ? &left[item_class_id(it)] : NULL;

		if (n_left != NULL && *n_left == 0) {
			pp = &it->hnext;
			continue;
		}
		if (n_left != NULL)
			(*n_left)--;
		(*seen)++;
		class_count(&class_counts_of(it)->crawler_items_checked);
		if (!item_expired(it, now) &&
		    !(flushed && item_flushed(it, now))) {
			pp = &it->hnext;
			continue;
		}
		if (!(atomic_load_explicit(&it->state, memory_order_relaxed) &
		        ITEM_FETCHED) &&
		    item_expired(it, now)) {
			stat_add(&st->expired_unfetched, 1);
			class_count(&class_counts_of(it)->expired_unfetched);
		}
		class_count(&class_counts_of(it)->crawler_reclaimed);
		shard_unlink(s, pp, it);
		n++;
	}
	return n;
}

size_t
cache_reclaim(unsigned budget, struct cache_stats *st)
{
	time_t now = cache_now();
	bool flushed = !flush_recent(now);
	size_t n = 0, seen = 0;

	for (unsigned i = 0; i < cache.nshards; i++) {
		struct shard *s = &cache.shards[i];

		pthread_mutex_lock(&s->lock);
		for (unsigned b = 0; b < budget && b <= s->mask; b++)
			n += shard_reap(s,
			    &s->buckets[s->reclaim_next++ & s->mask], now,
			    flushed, NULL, &seen, st);
		shard_unlock(s);
	}
	return n;
}
