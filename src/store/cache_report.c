/* The store's reports: totals, class stats, dumps, the crawl. */
#include <stdlib.h>
#include <string.h>

#include "cache_int.h"
#include "cache_table.h"
#include "counter.h"
#include "xmalloc.h"

void
cache_totals(struct cache_totals *t)
{
	t->curr_items = 0;
	for (unsigned i = 0; i < cache.nshards; i++)
		t->curr_items += atomic_load_explicit(
		    &cache.shards[i].count, memory_order_relaxed);
	t->bytes =
	    atomic_load_explicit(&cache.item_bytes, memory_order_relaxed);
	t->limit = atomic_load_explicit(&cache.limit, memory_order_relaxed);
	t->mapped = atomic_load_explicit(&cache.mapped, memory_order_relaxed);
	t->page_size = SLAB_PAGE;
	t->pages = 0;
	for (unsigned i = 0; i < cache.nclasses; i++)
		t->pages += cache.classes[i].npages;
}

int
cache_class_count(void)
{
	return (int)cache.nclasses + 1;
}

/* A copy of what a class has counted. */
static void
class_counts_copy(struct cache_class_stats *cs, struct class_counts *cc)
{
	cs->evicted = atomic_load_explicit(&cc->evicted, memory_order_relaxed);
	cs->evicted_nonzero =
	    atomic_load_explicit(&cc->evicted_nonzero, memory_order_relaxed);
	cs->evicted_unfetched =
	    atomic_load_explicit(&cc->evicted_unfetched, memory_order_relaxed);
	cs->reclaimed =
	    atomic_load_explicit(&cc->reclaimed, memory_order_relaxed);
	cs->expired_unfetched =
	    atomic_load_explicit(&cc->expired_unfetched, memory_order_relaxed);
	cs->crawler_reclaimed =
	    atomic_load_explicit(&cc->crawler_reclaimed, memory_order_relaxed);
	cs->crawler_items_checked = atomic_load_explicit(
	    &cc->crawler_items_checked, memory_order_relaxed);
	cs->lrutail_reflocked =
	    atomic_load_explicit(&cc->lrutail_reflocked, memory_order_relaxed);
	cs->evicted_time =
	    atomic_load_explicit(&cc->evicted_time, memory_order_relaxed);
	cs->outofmemory =
	    atomic_load_explicit(&cc->outofmemory, memory_order_relaxed);
}

int
cache_class_stats(int cls, struct cache_class_stats *cs)
{
	struct slab_class *c;

	memset(cs, 0, sizeof *cs);
	if (cls < 0 || cls > (int)cache.nclasses)
		return -1;
	if (cls == (int)cache.nclasses) {
		cs->items = atomic_load_explicit(
		    &cache.large_count, memory_order_relaxed);
		cs->mem_requested = atomic_load_explicit(
		    &cache.large_bytes, memory_order_relaxed);
		class_counts_copy(cs, &cache.large_counts);
		return 0;
	}
	c = &cache.classes[cls];
	/* Under the class lock, so the chunk counts add up. */
	pthread_mutex_lock(&c->lock);
	cs->chunk_size = c->size;
	cs->chunks_per_page = c->per_page;
	cs->pages = c->npages;
	cs->total_chunks = (uint64_t)c->npages * c->per_page;
	cs->free_chunks = c->nfree;
	cs->free_chunks_end = c->npages > 0 ? c->carve_left : 0;
	cs->malloced = c->charged;
	pthread_mutex_unlock(&c->lock);
	cs->used_chunks =
	    cs->total_chunks - cs->free_chunks - cs->free_chunks_end;
	cs->items = atomic_load_explicit(&c->items, memory_order_relaxed);
	cs->mem_requested =
	    atomic_load_explicit(&c->bytes, memory_order_relaxed);
	class_counts_copy(cs, &c->counts);
	return 0;
}

uint64_t
cache_alloc_fails(void)
{
	return atomic_load_explicit(&cache.alloc_fails, memory_order_relaxed);
}

/* The items a dump copies under a class's lock before it lets it go and
 * hands them to the caller's function, which formats them. */
#define DUMP_BATCH 64

/* Copy the linked item it into *d, read under its shard lock; false when
 * it is not linked or that lock is taken (the caller holds a class or the
 * large lock, and only tries it). */
static bool
class_dump_copy(struct item *it, struct cache_debug *d)
{
	struct shard *s;
	bool linked;

	if (!(atomic_load_explicit(&it->state, memory_order_acquire) &
	        ITEM_LINKED))
		return false;
	s = shard_of(cache_hash(item_key(it), it->nkey));
	if (pthread_mutex_trylock(&s->lock) != 0)
		return false;
	linked = atomic_load_explicit(&it->state, memory_order_relaxed) &
	         ITEM_LINKED;
	if (linked)
		item_debug(it, d);
	pthread_mutex_unlock(&s->lock);
	return linked;
}

/* Up to want linked items of c into d, from its chunk *at on (its pages
 * one after the other), under its lock, which keeps every chunk where it
 * is meanwhile; *at moves past what was looked at, *end says none is
 * left. */
static unsigned
class_dump_batch(struct slab_class *c, size_t *at, struct cache_debug *d,
    unsigned want, bool *end)
{
	unsigned n = 0;

	pthread_mutex_lock(&c->lock);
	for (; n < want && *at < (size_t)c->npages * c->per_page; (*at)++)
		n += class_dump_copy(
		    (struct item *)(c->pages[*at / c->per_page].base +
		                    *at % c->per_page * c->size),
		    &d[n]);
	*end = *at >= (size_t)c->npages * c->per_page;
	pthread_mutex_unlock(&c->lock);
	return n;
}

/* The large items, up to limit (0: all), copied under the large lock and
 * handed to fn once it is let go. */
static unsigned
large_dump(unsigned limit, cache_dump_fn fn, void *arg)
{
	size_t cap =
	    atomic_load_explicit(&cache.large_count, memory_order_relaxed);
	struct cache_debug *d;
	unsigned n = 0;

	if (limit != 0 && limit < cap)
		cap = limit;
	if (cap == 0)
		return 0;
	/* A large item is half a page at least: a copy of each costs less
	 * than a thousandth of what they hold. */
	d = xreallocarray(NULL, cap, sizeof *d);
	pthread_mutex_lock(&cache.large_lock);
	for (struct large *l = cache.large_head; l != NULL && n < cap;
	     l = l->next)
		n += class_dump_copy(large_item(l), &d[n]);
	pthread_mutex_unlock(&cache.large_lock);
	for (unsigned i = 0; i < n; i++)
		fn(arg, &d[i]);
	free(d);
	return n;
}

unsigned
cache_class_dump(int cls, unsigned limit, cache_dump_fn fn, void *arg)
{
	struct cache_debug *d;
	size_t at = 0;
	unsigned n = 0;
	bool end = false;

	if (cls < 0 || cls > (int)cache.nclasses)
		return 0;
	if (cls == (int)cache.nclasses)
		return large_dump(limit, fn, arg);
	/* fn formats with no lock held: a class's stores do not wait on a
	 * dump of it. */
	d = xreallocarray(NULL, DUMP_BATCH, sizeof *d);
	while (!end && (limit == 0 || n < limit)) {
		unsigned want = limit == 0 || limit - n > DUMP_BATCH
		                    ? DUMP_BATCH
		                    : limit - n;
		unsigned got =
		    class_dump_batch(&cache.classes[cls], &at, d, want, &end);

		for (unsigned i = 0; i < got; i++)
			fn(arg, &d[i]);
		n += got;
	}
	free(d);
	return n;
}

/* Whether want takes the item's class; want NULL takes all. */
static bool
crawl_wants(const bool *want, const struct item *it)
{
	return want == NULL || want[item_class_id(it)];
}

/* What memcached's metadump leaves out: the flushed items, and the
 * expired ones (those expiring this second it still shows). */
static bool
dump_skips(const struct item *it, time_t now)
{
	return (it->exptime != 0 && it->exptime < now) || item_flushed(it, now);
}

/* The buckets a dump looks at under one hold of a shard's lock. */
#define DUMP_BUCKETS_PER_LOCK 4096

size_t
cache_dump_next(struct cache_dump_cursor *cur, const bool *want,
    struct cache_debug *out, size_t cap)
{
	time_t now = cache_now();
	size_t n = 0;

	while (n < cap && cur->shard < cache.nshards) {
		struct shard *s = &cache.shards[cur->shard];
		unsigned seen = 0;
		bool end;

		pthread_mutex_lock(&s->lock);
		while (n < cap && cur->bucket <= s->mask &&
		       seen++ < DUMP_BUCKETS_PER_LOCK) {
			struct item *it = s->buckets[cur->bucket];
			size_t k = 0;

			for (; it != NULL && k < cur->skip; it = it->hnext)
				k++;
			for (; it != NULL && n < cap; it = it->hnext, k++)
				if (crawl_wants(want, it) &&
				    !dump_skips(it, now))
					item_debug(it, &out[n++]);
			if (it != NULL) {
				cur->skip = k; /* the chain goes on next time */
				break;
			}
			cur->bucket++;
			cur->skip = 0;
		}
		end = cur->bucket > s->mask;
		pthread_mutex_unlock(&s->lock);
		if (end) {
			cur->shard++;
			cur->bucket = 0;
			cur->skip = 0;
		}
	}
	return n;
}

unsigned
cache_shard_count(void)
{
	return cache.nshards;
}

size_t
cache_crawl(unsigned *left, unsigned from, unsigned to, size_t *checked,
    struct cache_stats *st)
{
	time_t now = cache_now();
	size_t n = 0, seen = 0;

	for (unsigned i = from; i < to && i < cache.nshards; i++) {
		struct shard *s = &cache.shards[i];

		pthread_mutex_lock(&s->lock);
		for (size_t b = 0; b <= s->mask; b++)
			n += shard_reap(
			    s, &s->buckets[b], now, true, left, &seen, st);
		shard_unlock(s);
	}
	if (checked)
		*checked = seen;
	return n;
}

unsigned
cache_pool_pages(void)
{
	return atomic_load_explicit(&cache.pool_pages, memory_order_relaxed);
}

uint64_t
cache_reassign_busy(void)
{
	return atomic_load_explicit(&cache.reassign_busy, memory_order_relaxed);
}

uint64_t
cache_reassign_evicted(void)
{
	return atomic_load_explicit(
	    &cache.reassign_evicted, memory_order_relaxed);
}

unsigned
cache_class_pages(int id)
{
	if (id < 1 || id > (int)cache.nclasses)
		return 0;
	return atomic_load_explicit(
	    &cache.classes[id - 1].npages, memory_order_relaxed);
}

unsigned
cache_class_evictions(uint64_t *ev, unsigned n)
{
	unsigned i;

	for (i = 0; i < n && i <= cache.nclasses; i++)
		ev[i] = atomic_load_explicit(
		    i == 0 ? &cache.large_counts.evicted
		           : &cache.classes[i - 1].counts.evicted,
		    memory_order_relaxed);
	return i;
}

uint64_t
cache_reassign_rescued(void)
{
	return atomic_load_explicit(
	    &cache.reassign_rescued, memory_order_relaxed);
}

bool
cache_class_idle(int id)
{
	if (id < 1 || id > (int)cache.nclasses)
		return false;
	return class_idle(&cache.classes[id - 1], mono_ms());
}
