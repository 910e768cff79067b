/* The store's page moves: emptying, rescues, compaction, reassign. */
#include <string.h>

#include "cache_int.h"
#include "counter.h"

/* Move it into chunk to of the same class, keeping its place in the
 * table, its CAS and its marks, as memcached's rescues. Shard lock held;
 * only the table holds it, so nobody reads the old copy. */
static void
item_move(struct shard *s, struct item *it, struct item *to)
{
	struct item **pp = shard_slot_of(s, it);
	uint8_t state = atomic_load_explicit(&it->state, memory_order_relaxed);

	to->hnext = it->hnext;
	to->cas = it->cas;
	to->exptime = it->exptime;
	to->atime = it->atime;
	to->nkey = it->nkey;
	to->cls = it->cls;
	to->flagged = it->flagged;
	to->len = it->len;
	memcpy(to->data, it->data, item_size(it) - ITEM_HDR);
	atomic_store_explicit(&to->refs, 1, memory_order_relaxed);
	atomic_store_explicit(&to->state, state, memory_order_release);
	*pp = to;
	atomic_store_explicit(&it->refs, 0, memory_order_relaxed);
	atomic_store_explicit(&it->state, 0, memory_order_relaxed);
}

/*
 * Clear one item off page i of c, which is being emptied: a dead one goes
 * (reclaimed), a live one, as how says, moves to a free chunk elsewhere in
 * the class (memcached's slab_reassign_rescues) or is evicted
 * (slab_reassign_evictions_nomem). False when it must stay: someone reads
 * or writes it, its shard is busy, or it has nowhere to go. Class lock
 * held; the shard's is only tried.
 */
static bool
page_clear_item(struct slab_class *c, unsigned i, struct item *it, time_t now,
    struct cache_stats *st, enum drop how)
{
	bool ok = false, dead, held;
	struct shard *s = shard_try_sole(it, &held);
	struct item *to;

	if (s == NULL)
		return false;
	dead = item_dead(it, now);
	if (!dead && how != DROP_EVICT && (to = chunk_spare(c, i)) != NULL) {
		item_move(s, it, to);
		atomic_fetch_add_explicit(
		    &cache.reassign_rescued, 1, memory_order_relaxed);
		ok = true;
	} else if (dead || how != DROP_MOVE) {
		count_victim(it, now, st);
		shard_detach(s, shard_slot_of(s, it), it, false);
		atomic_store_explicit(&it->refs, 0, memory_order_relaxed);
		atomic_store_explicit(&it->state, 0, memory_order_relaxed);
		if (!dead)
			atomic_fetch_add_explicit(
			    &cache.reassign_evicted, 1, memory_order_relaxed);
		ok = true;
	}
	pthread_mutex_unlock(&s->lock);
	return ok;
}

/* Whether page i's items could all move to the class's other free
 * chunks: its used chunks against the spare ones. Class lock held. */
static bool
page_fits_elsewhere(const struct slab_class *c, unsigned i)
{
	char *page = c->pages[i].base, *end = page_used_end(c, i);
	size_t used = 0, spare = atomic_load(&c->nfree), mine = 0;

	for (char *p = page; p < end; p += c->size)
		if (atomic_load_explicit(
		        &((struct item *)p)->state, memory_order_relaxed) != 0)
			used++;
		else
			mine++; /* on the free list: not spare for it */
	if (i != c->npages - 1)
		spare += c->carve_left;
	return used <= spare - mine;
}

/*
 * Empty page i of c and hand its memory back to the system: dead items
 * go, live ones move to the class's free chunks on its other pages or are
 * evicted, as how says. An item being read or written keeps the page and
 * the call fails; what moved stays moved. Class lock held.
 */
static bool
class_drop_page(struct slab_class *c, unsigned i, time_t now,
    struct cache_stats *st, enum drop how)
{
	char *page = c->pages[i].base, *end = page_used_end(c, i);
	size_t charged = c->pages[i].charged;

	if (how == DROP_MOVE && !page_fits_elsewhere(c, i))
		return false;
	/* Its free chunks leave the list first, so nothing moves there. */
	page_unfree(c, page, end);
	for (char *p = page; p < end; p += c->size) {
		struct item *it = (struct item *)p;

		if (atomic_load_explicit(&it->state, memory_order_acquire) !=
		        0 &&
		    !page_clear_item(c, i, it, now, st, how)) {
			page_refree(c, page, end);
			return false;
		}
	}
	/* Only the last page is being carved: keep the order. */
	if (i == c->npages - 1)
		c->carve_left = 0;
	memmove(&c->pages[i], &c->pages[i + 1],
	    (c->npages - 1 - i) * sizeof *c->pages);
	c->npages--;
	if (c->hand_page > i)
		c->hand_page--;
	if (c->hand_page >= c->npages)
		c->hand_page = 0;
	c->hand_chunk = 0;
	c->charged -= charged;
	map_free(page, SLAB_PAGE);
	budget_give(charged);
	if (st)
		stat_add(&st->slabs_moved, 1);
	return true;
}

/* Give back a page of the class holding the most, else of the next, for
 * a class below its share or for a large item, its items evicted (the
 * hand's page: what that class would evict next). keep_first: leave
 * every class one page. */
bool
steal_page(unsigned except, bool keep_first, time_t now, struct cache_stats *st)
{
	bool tried[SLAB_CLASS_MAX] = {false}, done = false;
	unsigned floor = keep_first ? 1u : 0u;

	while (!done) {
		unsigned best = SLAB_CLASS_MAX;
		size_t most = 0;
		struct slab_class *c;

		for (unsigned i = 0; i < cache.nclasses; i++) {
			struct slab_class *k = &cache.classes[i];

			if (i != except && !tried[i] && k->npages > floor &&
			    k->charged > most) {
				most = k->charged;
				best = i;
			}
		}
		if (best == SLAB_CLASS_MAX)
			return false;
		tried[best] = true;
		c = &cache.classes[best];
		pthread_mutex_lock(&c->lock);
		/* The page the hand is on holds what it would evict next;
		 * one being read or written stays. */
		for (unsigned t = 0; t < 4 && !done && c->npages > floor; t++)
			done =
			    class_drop_page(c, (c->hand_page + t) % c->npages,
			        now, st, DROP_EVICT);
		pthread_mutex_unlock(&c->lock);
	}
	return true;
}

/* Empty up to tries pages of c from the hand on into its other free
 * chunks, evicting nothing; true when one went. Class lock held. */
static bool
class_compact_locked(
    struct slab_class *c, unsigned tries, time_t now, struct cache_stats *st)
{
	for (unsigned t = 0; t < tries && t < c->npages; t++)
		if (class_drop_page(
		        c, (c->hand_page + t) % c->npages, now, st, DROP_MOVE))
			return true;
	return false;
}

/*
 * Memory for class except without evicting anything: a page of the class
 * whose free chunks hold the most bytes, a page's worth at least, its
 * items moved into the free chunks of its other pages (memcached's
 * rebalancer rescuing them). A page with an item being read is passed
 * over.
 */
bool
class_compact(unsigned except, time_t now, struct cache_stats *st)
{
	unsigned best = SLAB_CLASS_MAX;
	size_t most = 0;
	bool done;

	for (unsigned i = 0; i < cache.nclasses; i++) {
		struct slab_class *k = &cache.classes[i];
		size_t nfree =
		    atomic_load_explicit(&k->nfree, memory_order_relaxed);

		if (i != except && nfree >= k->per_page &&
		    nfree * k->size > most) {
			most = nfree * k->size;
			best = i;
		}
	}
	if (best == SLAB_CLASS_MAX)
		return false;
	pthread_mutex_lock(&cache.classes[best].lock);
	done = class_compact_locked(&cache.classes[best], 4, now, st);
	pthread_mutex_unlock(&cache.classes[best].lock);
	return done;
}

/* No store took a chunk of c for CLASS_IDLE_MS, at ms (a store another
 * thread stamped later than ms was read is no older). */
bool
class_idle(struct slab_class *c, uint64_t ms)
{
	uint64_t at = atomic_load_explicit(&c->stored_ms, memory_order_relaxed);

	return at <= ms && ms - at >= CLASS_IDLE_MS;
}

/* The idle class holding the most pages, more than one, but except; or
 * NULL. */
static struct slab_class *
class_idle_most(unsigned except)
{
	struct slab_class *best = NULL;
	unsigned most = 1;
	uint64_t ms = mono_ms();

	for (unsigned i = 0; i < cache.nclasses; i++) {
		struct slab_class *k = &cache.classes[i];
		unsigned np =
		    atomic_load_explicit(&k->npages, memory_order_relaxed);

		if (i != except && np > most && class_idle(k, ms)) {
			most = np;
			best = k;
		}
	}
	return best;
}

/*
 * A page for class except, which would otherwise evict its own, from an
 * idle class: that class's CLOCK hand goes on up to STEAL_SCAN chunks,
 * taking a use from each item read since it last passed, and the first
 * page it crosses with none read (none since a turn of the hand ago) is
 * emptied, its items evicted: they are what its CLOCK would take next.
 * A burst of one size so takes the memory of sizes nobody writes and
 * reads no longer, at once; items that are read keep their page. Nothing
 * but the idle class's lock and, tried, shard locks.
 */
static bool
class_steal_cold(unsigned except, time_t now, struct cache_stats *st)
{
	struct slab_class *k = class_idle_most(except);
	bool done = false;

	if (k == NULL)
		return false;
	pthread_mutex_lock(&k->lock);
	/* Its own CLOCK moved the hand meanwhile: start the page again. */
	if (k->hand_page != k->sweep_page || k->hand_chunk != k->sweep_chunk)
		k->sweep_clean = false;
	for (unsigned n = 0; n < STEAL_SCAN && !done && k->npages > 1; n++) {
		unsigned pg;
		struct item *it;
		uint8_t state;

		if (k->hand_page >= k->npages) {
			k->hand_page = 0;
			k->hand_chunk = 0;
		}
		if (k->hand_chunk == 0)
			k->sweep_clean = true;
		pg = k->hand_page;
		it = clock_next(k);
		state = atomic_load_explicit(&it->state, memory_order_acquire);
		if ((state & ITEM_LINKED) && (state & ITEM_FREQ)) {
			atomic_fetch_sub_explicit(
			    &it->state, ITEM_FREQ1, memory_order_relaxed);
			k->sweep_clean = false;
		}
		if (k->hand_chunk == 0 && k->sweep_clean) {
			done = class_drop_page(k, pg, now, st, DROP_EVICT);
			k->sweep_clean = false;
		}
	}
	k->sweep_page = k->hand_page;
	k->sweep_chunk = k->hand_chunk;
	pthread_mutex_unlock(&k->lock);
	return done;
}

/* Memory for class ci, which is at its share and out of chunks, before
 * it evicts its own: compaction, else a cold page of an idle class. */
bool
class_rebalance(unsigned ci, time_t now, struct cache_stats *st)
{
	if (!atomic_load_explicit(&cache.rebalance, memory_order_relaxed))
		return false;
	return class_compact(ci, now, st) ||
	       (!cache.no_evict && class_steal_cold(ci, now, st));
}

/* The class (memcached's id) with the most pages but dst, or -1. */
static int
reassign_pick_any(int dst)
{
	unsigned most = 1;
	int best = -1;

	for (unsigned i = 0; i < cache.nclasses; i++) {
		unsigned np = atomic_load_explicit(
		    &cache.classes[i].npages, memory_order_relaxed);

		if ((int)i + 1 != dst && np > most) {
			most = np;
			best = (int)i + 1;
		}
	}
	return best;
}

/* Drop one page of c, trying each from the hand on, its items rescued
 * into the class's free chunks or evicted; reassign lock held. */
static bool
reassign_drop(struct slab_class *c, struct cache_stats *st)
{
	time_t now = cache_now();
	bool done = false;

	pthread_mutex_lock(&c->lock);
	for (unsigned t = 0, n = c->npages; t < n && !done && c->npages > 1;
	     t++)
		done = class_drop_page(
		    c, (c->hand_page + t) % c->npages, now, st, DROP_RESCUE);
	pthread_mutex_unlock(&c->lock);
	return done;
}

/* Give class c a fresh page of address space, carved (and charged) as its
 * stores need it; a page moved from elsewhere freed the budget for it. */
static void
reassign_grow(struct slab_class *c)
{
	pthread_mutex_lock(&c->lock);
	/* The page being carved keeps its place: carving goes on in the new
	 * one only once it is used up (carve_left 0 means it is). */
	if (c->carve_left == 0)
		class_grow(c);
	pthread_mutex_unlock(&c->lock);
}

static enum cache_reassign
reassign_locked(int src, int dst, struct cache_stats *st)
{
	int n = (int)cache.nclasses;

	if (src == dst)
		return CACHE_REASSIGN_SAME;
	if (src == -1)
		src = reassign_pick_any(dst);
	if (src < 0 || src > n || dst < 0 || dst > n)
		return CACHE_REASSIGN_BADCLASS;
	if ((src == 0 ? atomic_load(&cache.pool_pages)
	              : atomic_load(&cache.classes[src - 1].npages)) < 2)
		return CACHE_REASSIGN_NOSPARE;
	if (src == 0) {
		atomic_fetch_sub(&cache.pool_pages, 1);
		if (st)
			stat_add(&st->slabs_moved, 1);
	} else if (!reassign_drop(&cache.classes[src - 1], st)) {
		atomic_fetch_add_explicit(
		    &cache.reassign_busy, 1, memory_order_relaxed);
		return CACHE_REASSIGN_BUSY;
	}
	if (dst == 0)
		atomic_fetch_add(&cache.pool_pages, 1);
	else
		reassign_grow(&cache.classes[dst - 1]);
	return CACHE_REASSIGN_OK;
}

enum cache_reassign
cache_reassign(int src, int dst, struct cache_stats *st)
{
	enum cache_reassign r;

	if (pthread_mutex_trylock(&cache.reassign_lock) != 0)
		return CACHE_REASSIGN_BUSY;
	r = reassign_locked(src, dst, st);
	pthread_mutex_unlock(&cache.reassign_lock);
	return r;
}

void
cache_rebalance_enable(bool on)
{
	atomic_store(&cache.rebalance, on);
}

/* Return pages of idle class c to the global pool while it keeps
 * POOL_KEEP_PAGES pages' worth of free chunks, moving their items into
 * the others'; the lock is let go between pages. */
static unsigned
class_release(struct slab_class *c, time_t now, struct cache_stats *st)
{
	unsigned n = 0;
	bool done = true;

	while (done) {
		pthread_mutex_lock(&c->lock);
		done = c->npages > 0 &&
		       atomic_load(&c->nfree) >=
		           (size_t)c->per_page * POOL_KEEP_PAGES &&
		       class_compact_locked(c, 4, now, st);
		pthread_mutex_unlock(&c->lock);
		if (done) {
			atomic_fetch_add(&cache.pool_pages, 1);
			n++;
		}
	}
	return n;
}

unsigned
cache_rebalance_tick(struct cache_stats *st)
{
	time_t now = cache_now();
	uint64_t ms = mono_ms();
	unsigned n = 0;

	if (!atomic_load(&cache.rebalance))
		return 0;
	for (unsigned i = 0; i < cache.nclasses; i++)
		if (class_idle(&cache.classes[i], ms))
			n += class_release(&cache.classes[i], now, st);
	return n;
}
