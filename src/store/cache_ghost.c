/* The store's admission: S3-FIFO's small queue and ghost (Yang et al.,
 * SOSP'23) over the CLOCK of each class's chunks; taking a victim, for
 * eviction and for page moves alike. */
#include <stdlib.h>
#include <string.h>

#include "cache_int.h"
#include "xmalloc.h"

/*
 * A new item enters its class's small queue, the last fifth of what the
 * class stored. When the class must evict and the queue is full, its
 * oldest entry goes if nobody used it since it came (a one-hit wonder
 * leaves after a fifth of the cache's turn, not a whole one), and its
 * key's hash enters the ghost; one that was used stays, for CLOCK. Until
 * the queue moves past it, CLOCK leaves an unused new item alone, so a
 * read soon after a write finds it wherever its chunk is. A key the ghost
 * remembers comes back straight to CLOCK: it was wanted again within a
 * cache's worth of stores.
 */

/* Bytes of -m per ghost slot of 8 bytes: the ghost is at most 1/64 of
 * -m (1.6%), at least half that, and holds a slot for every item of 512
 * bytes or more. */
#define GHOST_PER_SLOT 512
#define GHOST_MIN      1024
/* Entries between two counts of the items held, the ghost's memory. */
#define GHOST_RECOUNT 1024
#define PROBE_MIN_CAP 64

/* Sized once, from the limit at start: cache_memlimit leaves it. */
void
ghost_init(size_t limit)
{
	size_t n = GHOST_MIN;

	while (n * 2 <= limit / GHOST_PER_SLOT)
		n *= 2;
	cache.ghost = xcalloc(n, sizeof *cache.ghost);
	cache.ghost_mask = n - 1;
	atomic_store(&cache.ghost_window, 0);
}

void
ghost_free(void)
{
	free(cache.ghost);
	for (unsigned i = 0; i < cache.nclasses; i++)
		free(cache.classes[i].probe);
}

/* The items the classes hold: what the ghost remembers, in stores. */
static void
ghost_recount(void)
{
	size_t items = 0;

	for (unsigned i = 0; i < cache.nclasses; i++)
		items += atomic_load_explicit(
		    &cache.classes[i].items, memory_order_relaxed);
	atomic_store_explicit(&cache.ghost_window,
	    items > UINT32_MAX / 2 ? UINT32_MAX / 2 : (uint32_t)items,
	    memory_order_relaxed);
}

static uint32_t
cas_now(void)
{
	return (uint32_t)atomic_load_explicit(
	    &cache.next_cas, memory_order_relaxed);
}

/* The ghost's entry for hash: a fingerprint (never 0, an empty slot's)
 * from the bits the slot is not picked by, and the stamp. */
static uint64_t
ghost_entry(uint64_t hash, uint32_t stamp)
{
	return (uint64_t)((uint32_t)(hash >> 32) | 1) << 32 | stamp;
}

/* A key evicted unread: remembered for a while. */
void
ghost_add(uint64_t hash)
{
	if (atomic_fetch_add_explicit(
	        &cache.ghost_adds, 1, memory_order_relaxed) %
	        GHOST_RECOUNT ==
	    0)
		ghost_recount();
	atomic_store_explicit(&cache.ghost[hash & cache.ghost_mask],
	    ghost_entry(hash, cas_now()), memory_order_relaxed);
}

/* Whether the ghost remembers hash's key; it then forgets it. */
bool
ghost_take(uint64_t hash)
{
	_Atomic uint64_t *slot = &cache.ghost[hash & cache.ghost_mask];
	uint64_t e = atomic_load_explicit(slot, memory_order_relaxed);

	if (e >> 32 != ghost_entry(hash, 0) >> 32)
		return false;
	atomic_store_explicit(slot, 0, memory_order_relaxed);
	return cas_now() - (uint32_t)e <
	       atomic_load_explicit(&cache.ghost_window, memory_order_relaxed);
}

/* The small queue's share of the class: a fifth of its items, where
 * S3-FIFO has a tenth. A class's memory is not its share of the stores:
 * with a tenth, in -m 10 a read 300 stores after its write missed 16% of
 * the time (a fifth: 0.1%, as CLOCK), and at -m 200 the hit ratio is the
 * same to 0.03 points. */
size_t
probe_target(const struct slab_class *c)
{
	size_t items = atomic_load_explicit(&c->items, memory_order_relaxed);

	return items < 5 ? 1 : items / 5;
}

/* Twice the room, the entries in order from 0. */
static void
probe_grow(struct slab_class *c)
{
	size_t cap = c->probe_cap ? c->probe_cap * 2 : PROBE_MIN_CAP;
	struct probe *p = xreallocarray(NULL, cap, sizeof *p);

	for (size_t i = 0; i < c->probe_len; i++)
		p[i] = c->probe[(c->probe_head + i) % c->probe_cap];
	free(c->probe);
	c->probe = p;
	c->probe_cap = cap;
	c->probe_head = 0;
}

/* A new item of the class in its chunk: the queue's newest. What is
 * past the queue's share leaves it for CLOCK, which owes the class an
 * eviction for each unused one: the queue holds the last fifth of the
 * stores, and S3-FIFO's would hold all of them until the class is full.
 * Class lock held. */
void
probe_push(struct slab_class *c, struct item *it, uint64_t hash)
{
	size_t target = probe_target(c);
	struct probe p;

	while (c->probe_len > target) {
		uint8_t state = 0;

		probe_pop(c, &p);
		if (p.it != NULL)
			state = atomic_load_explicit(
			    &p.it->state, memory_order_relaxed);
		if ((state & (ITEM_LINKED | ITEM_USES)) == ITEM_LINKED &&
		    c->probe_debt < target * 5)
			c->probe_debt++;
	}
	if (c->probe_len == c->probe_cap)
		probe_grow(c);
	c->probe[(c->probe_head + c->probe_len++) % c->probe_cap] =
	    (struct probe){it, (uint32_t)hash, cas_now()};
}

/* The oldest entry out into *p; false when there is none. Class lock
 * held. */
bool
probe_pop(struct slab_class *c, struct probe *p)
{
	if (c->probe_len == 0)
		return false;
	*p = c->probe[c->probe_head];
	c->probe_head = (c->probe_head + 1) % c->probe_cap;
	c->probe_len--;
	return true;
}

/* Whether it came after the queue's oldest entry: the queue's to judge,
 * not CLOCK's. Class lock and the item's shard lock held (its CAS). */
bool
probe_young(const struct slab_class *c, const struct item *it)
{
	if (c->probe_len == 0)
		return false;
	return (int32_t)((uint32_t)it->cas - c->probe[c->probe_head].stamp) >=
	       0;
}

/* A page of the class is going: no entry may point into it. Class lock
 * held. */
void
probe_forget(struct slab_class *c, const char *page)
{
	for (size_t i = 0; i < c->probe_len; i++) {
		struct probe *p = &c->probe[(c->probe_head + i) % c->probe_cap];
		const char *at = (const char *)p->it;

		if (at >= page && at < page + SLAB_PAGE)
			p->it = NULL;
	}
}

/*
 * Unlink it if it is linked, nobody but the table holds it, and its shard
 * is free: the caller holds the lock of the chunk's owner (its class or
 * the large list) and only tries the shard's. With young, an item its
 * class's small queue has yet to judge stays too. True when it is out and
 * the caller owns its memory.
 */
bool
item_take(struct item *it, time_t now, struct cache_stats *st, bool large,
    const struct slab_class *young)
{
	bool held;
	struct shard *s = shard_try_sole(it, &held);

	if (s == NULL) {
		/* memcached's lrutail_reflocked: a victim someone reads. */
		if (held)
			class_count(&class_counts_of(it)->lrutail_reflocked);
		return false;
	}
	if (young != NULL && probe_young(young, it)) {
		pthread_mutex_unlock(&s->lock);
		return false;
	}
	count_victim(it, now, st);
	shard_detach(s, shard_slot_of(s, it), it, large);
	atomic_store_explicit(&it->refs, 0, memory_order_relaxed);
	pthread_mutex_unlock(&s->lock);
	return true;
}

/*
 * The small queue's oldest item nobody used since it came, its key into
 * the ghost; the used ones it passes leave the queue for CLOCK, and so do
 * those being read and those skip names. Entries whose chunk holds
 * another item now (the hash of its key tells) or none are dropped.
 * Unless all, it stops once the queue is below its share: its young items
 * are not evicted because the older ones were read. Class lock held: the
 * key of a linked item in a chunk of the class cannot change under it.
 */
struct item *
probe_evict(struct slab_class *c, time_t now, struct cache_stats *st, bool all,
    const struct probe_skip *skip)
{
	struct probe p;

	while ((all || c->probe_len >= probe_target(c)) && probe_pop(c, &p)) {
		struct item *it = p.it;
		uint8_t state;
		uint64_t hash;

		if (it == NULL ||
		    (skip != NULL && (const char *)it >= skip->page &&
		        (const char *)it < skip->page + SLAB_PAGE))
			continue;
		state = atomic_load_explicit(&it->state, memory_order_acquire);
		if (!(state & ITEM_LINKED) || (state & ITEM_USES))
			continue;
		hash = cache_hash(item_key(it), it->nkey);
		if ((uint32_t)hash != p.fp || item_temporary(it, now) ||
		    (skip != NULL && shard_of(hash) == skip->shard) ||
		    !item_take(it, now, st, false, NULL))
			continue;
		if (!item_dead(it, now)) {
			/* A page move's victim is not the class's own. */
			if (skip == NULL)
				class_count(&c->counts.evicted_own);
			ghost_add(hash);
		}
		return it;
	}
	return NULL;
}
