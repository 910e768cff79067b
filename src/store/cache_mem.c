/* The store's memory: size classes, pages, large mappings, the budget. */
#include <sys/mman.h>

#include <stdlib.h>
#include <string.h>

#include "cache_int.h"
#include "log.h"
#include "xmalloc.h"

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

/* The chunk sizes: 8 bytes apart up to SLAB_FINE_MAX, then a quarter
 * larger each, up to chunk_max. */
void
classes_init(void)
{
	size_t size = align_up(item_total(1, 0, 0), SLAB_ALIGN);
	unsigned n = 0;

	while (n < SLAB_CLASS_MAX) {
		struct slab_class *c = &cache.classes[n++];

		pthread_mutex_init(&c->lock, NULL);
		c->size = size;
		c->per_page = (unsigned)(SLAB_PAGE / size);
		if (size >= cache.chunk_max)
			break;
		size = size < SLAB_FINE_MAX
		           ? size + SLAB_ALIGN
		           : align_up(size + size / 4, SLAB_ALIGN);
		/* No class a few percent below the largest. */
		if (size > cache.chunk_max / 8 * 7)
			size = cache.chunk_max;
	}
	cache.nclasses = n;
	cache.chunk_max = cache.classes[n - 1].size;
}

/* The limit shared out evenly among the classes, from a block to a page
 * each: what a class may take back from the others. */
void
cache_share_set(size_t limit)
{
	size_t share = limit / cache.nclasses / SLAB_BLOCK * SLAB_BLOCK;

	atomic_store(&cache.limit, limit);
	atomic_store(&cache.share, share > SLAB_PAGE    ? SLAB_PAGE
	                           : share < SLAB_BLOCK ? SLAB_BLOCK
	                                                : share);
}

/* Take n bytes of the limit; false when they are not there. */
static bool
budget_take(size_t n)
{
	size_t used = atomic_load_explicit(&cache.mapped, memory_order_relaxed);

	do {
		if (used + n >
		    atomic_load_explicit(&cache.limit, memory_order_relaxed))
			return false;
	} while (!atomic_compare_exchange_weak_explicit(&cache.mapped, &used,
	    used + n, memory_order_relaxed, memory_order_relaxed));
	return true;
}

void
budget_give(size_t n)
{
	atomic_fetch_sub_explicit(&cache.mapped, n, memory_order_relaxed);
}

/* Fresh zeroed memory from the system; NULL when it has none. populate:
 * all of it at once, cheaper than a fault a page for memory about to be
 * filled. */
static void *
map_alloc(size_t len, bool populate)
{
	int flags = MAP_PRIVATE | MAP_ANONYMOUS | (populate ? MAP_POPULATE : 0);
	/* An anonymous mapping takes fd -1 (mmap(2)). */
	/* cppcheck-suppress invalidFunctionArg */
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, flags, -1, 0);

	if (p == MAP_FAILED)
		atomic_fetch_add_explicit(
		    &cache.alloc_fails, 1, memory_order_relaxed);

	/* The caller owns the mapping: returned, not leaked. */
	/* cppcheck-suppress memleak */
	return p == MAP_FAILED ? NULL : p;
}

void
map_free(void *p, size_t len)
{
	if (munmap(p, len) == -1)
		fatal("munmap");
}

/* Back to its class: the chunk is free for the next item. Class lock held. */
static void
chunk_put(struct slab_class *c, struct item *it)
{
	atomic_store_explicit(&it->state, 0, memory_order_relaxed);
	it->hnext = c->free;
	c->free = it;
	c->nfree++;
}

/* An item's memory, its last reference gone: a chunk back to its class, a
 * large mapping kept for the next large item or unmapped. */
void
item_free(struct item *it)
{
	struct slab_class *c;

	if (it->cls == CACHE_CLASS_COPY) {
		free(large_of(it));
		return;
	}
	if (it->cls == CACHE_CLASS_LARGE) {
		struct large *l = large_of(it);
		size_t len = l->maplen;

		pthread_mutex_lock(&cache.large_lock);
		if (cache.nparked < LARGE_PARK_MAX) {
			l->next = cache.parked;
			cache.parked = l;
			cache.nparked++;
			l = NULL;
		}
		pthread_mutex_unlock(&cache.large_lock);
		if (l != NULL) {
			map_free(l, len);
			budget_give(len);
		}
		return;
	}
	c = &cache.classes[it->cls];
	pthread_mutex_lock(&c->lock);
	chunk_put(c, it);
	pthread_mutex_unlock(&c->lock);
}

size_t
cache_item_far_nbytes(const struct item *it)
{
	return ((const struct large *)it - 1)->nbytes;
}

/*
 * A reader's copy of it, whose count is full (65,535 references: replies
 * pending on it at once, which only a client that never reads piles up),
 * freed by the reader's cache_release. It is outside the limit, as the
 * output buffer that holds it is, and never linked. Shard lock held.
 */
struct item *
item_copy(const struct item *it)
{
	struct large *l;
	struct item *cp;

	l = xmalloc(sizeof *l + item_size(it));
	*l = (struct large){.nbytes = (uint32_t)item_nbytes(it)};
	cp = large_item(l);
	cp->hnext = NULL;
	cp->cas = it->cas;
	cp->exptime = it->exptime;
	cp->atime = it->atime;
	atomic_init(&cp->refs, 1);
	atomic_init(&cp->state, ITEM_USED);
	cp->nkey = it->nkey;
	cp->cls = CACHE_CLASS_COPY;
	cp->flagged = it->flagged;
	cp->len = item_class_id(it);
	memcpy(cp->data, it->data, item_size(it) - ITEM_HDR);
	return cp;
}

void
cache_release(struct item *it)
{
	if (atomic_fetch_sub_explicit(&it->refs, 1, memory_order_acq_rel) == 1)
		item_free(it);
}

/* Put l at the head of the large items, the newest end. Large lock held. */
void
large_push(struct large *l)
{
	l->prev = NULL;
	l->next = cache.large_head;
	if (cache.large_head)
		cache.large_head->prev = l;
	cache.large_head = l;
	if (cache.large_tail == NULL)
		cache.large_tail = l;
}

/* Take l out of the large items. Large lock held. */
void
large_unlink(struct large *l)
{
	if (l->prev)
		l->prev->next = l->next;
	else
		cache.large_head = l->next;
	if (l->next)
		l->next->prev = l->prev;
	else
		cache.large_tail = l->prev;
	l->prev = l->next = NULL;
}

/* The chunk after the hand; advances it. Class lock held, npages > 0. */
struct item *
clock_next(struct slab_class *c)
{
	struct item *it;

	if (c->hand_page >= c->npages) {
		c->hand_page = 0;
		c->hand_chunk = 0;
	}
	it = (struct item *)(c->pages[c->hand_page].base +
	                     (size_t)c->hand_chunk * c->size);
	if (++c->hand_chunk == c->per_page) {
		c->hand_chunk = 0;
		c->hand_page++;
	}
	return it;
}

/* Charge the limit for the last page up to end bytes in; with evictions
 * off (-M), a class's first block may pass the limit, as memcached lets a
 * class have its first page: nothing would ever free one for it. */
static bool
class_charge(struct slab_class *c, size_t end)
{
	struct slab_page *pg = &c->pages[c->npages - 1];
	size_t want;

	if (end <= pg->charged)
		return true;
	want = align_up(end, SLAB_BLOCK) - pg->charged;
	if (pg->charged + want > SLAB_PAGE)
		want = SLAB_PAGE - pg->charged;
	if (!budget_take(want)) {
		if (!cache.no_evict || c->charged > 0)
			return false;
		atomic_fetch_add_explicit(
		    &cache.mapped, want, memory_order_relaxed);
	}
	pg->charged += want;
	c->charged += want;
	return true;
}

/* One page fewer in the global pool, if it has any: a class grew by it. */
static bool
pool_take(void)
{
	unsigned n = atomic_load(&cache.pool_pages);

	while (n > 0 &&
	       !atomic_compare_exchange_weak(&cache.pool_pages, &n, n - 1))
		;
	return n > 0;
}

/* A new page of address space for c, nothing charged yet. */
bool
class_grow(struct slab_class *c)
{
	char *page;

	if ((page = map_alloc(SLAB_PAGE, false)) == NULL)
		return false;
	if (c->npages == c->pages_cap) {
		c->pages_cap = c->pages_cap ? c->pages_cap * 2 : 4;
		c->pages =
		    xreallocarray(c->pages, c->pages_cap, sizeof *c->pages);
	}
	c->pages[c->npages++] = (struct slab_page){page, 0};
	c->carve = page;
	c->carve_left = c->per_page;
	return true;
}

/* A chunk of c from its free list, else carved from its last page (a new
 * one when that is used up) while the limit allows; marked taken before
 * the class lock goes, or a page drop would see it free. Class lock
 * held. */
static struct item *
chunk_get(struct slab_class *c)
{
	struct item *it = c->free;

	if (it != NULL) {
		c->free = it->hnext;
		c->nfree--;
	} else {
		if (c->carve_left == 0) {
			/* A whole page of address space only once a block
			 * of it can be had. */
			if (!budget_take(SLAB_BLOCK))
				return NULL;
			budget_give(SLAB_BLOCK);
			if (!class_grow(c))
				return NULL;
			/* The global pool's page, if it holds one. */
			pool_take();
		}
		if (!class_charge(
		        c, (size_t)(c->carve - c->pages[c->npages - 1].base) +
		               c->size))
			return NULL;
		it = (struct item *)c->carve;
		c->carve += c->size;
		c->carve_left--;
	}
	atomic_store_explicit(&it->state, ITEM_USED, memory_order_relaxed);
	it->cls = (uint8_t)(c - cache.classes);
	return it;
}

/* Where the chunks of page i of c that were ever used end: the last page
 * is carved up to c->carve. */
char *
page_used_end(const struct slab_class *c, unsigned i)
{
	char *page = c->pages[i].base;

	if (i == c->npages - 1 && c->carve_left > 0)
		return c->carve;
	return page + (size_t)c->per_page * c->size;
}

/* Take the free chunks of [page, end) off the free list. Class lock. */
void
page_unfree(struct slab_class *c, const char *page, const char *end)
{
	for (struct item **pp = &c->free; *pp != NULL;)
		if ((char *)*pp >= page && (char *)*pp < end) {
			*pp = (*pp)->hnext;
			c->nfree--;
		} else
			pp = &(*pp)->hnext;
}

/* Put the chunks of [page, end) nothing holds back on the free list: a
 * page that could not be emptied stays. Class lock held. */
void
page_refree(struct slab_class *c, char *page, const char *end)
{
	for (char *p = page; p < end; p += c->size)
		if (atomic_load_explicit(
		        &((struct item *)p)->state, memory_order_relaxed) == 0)
			chunk_put(c, (struct item *)p);
}

/* A free chunk of c off page skip for an item being moved: the free list
 * (which holds none of skip's), else the last page's uncarved rest while
 * the limit allows. Class lock held. */
struct item *
chunk_spare(struct slab_class *c, unsigned skip)
{
	if (c->free == NULL && (c->carve_left == 0 || skip == c->npages - 1))
		return NULL;
	return chunk_get(c);
}

/* Milliseconds of the coarse monotonic clock. */
uint64_t
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* A kept mapping of len bytes (any length if 0), or NULL. */
struct large *
large_unpark(size_t len)
{
	struct large **pp, *l;

	pthread_mutex_lock(&cache.large_lock);
	for (pp = &cache.parked; *pp != NULL; pp = &(*pp)->next)
		if (len == 0 || (*pp)->maplen == len)
			break;
	if ((l = *pp) != NULL) {
		*pp = l->next;
		cache.nparked--;
	}
	pthread_mutex_unlock(&cache.large_lock);
	return l;
}

/* Mapping lengths step by an eighth of their power of two (4 KiB at
 * least), so that a freed one fits the next item of about its size. */
size_t
large_len(size_t total)
{
	size_t len = sizeof(struct large) + total, step = OS_PAGE;

	while (step * 8 < len)
		step *= 2;
	return align_up(len, step);
}

/* One try at a chunk of class ci, nothing evicted: a free one, else one
 * carved while the limit allows. *below: whether the class holds less
 * than its share. */
struct item *
chunk_try(unsigned ci, bool *below)
{
	struct slab_class *c = &cache.classes[ci];
	struct item *it;

	pthread_mutex_lock(&c->lock);
	it = chunk_get(c);
	*below = c->charged <
	         atomic_load_explicit(&cache.share, memory_order_relaxed);
	pthread_mutex_unlock(&c->lock);
	return it;
}

/* One try at a mapping of len bytes for a large item, nothing evicted: a
 * kept one of that length, else a new one while the limit allows. *full:
 * the limit had no room (a refused mapping is not that). */
struct item *
large_try(size_t len, bool *full)
{
	struct large *l = large_unpark(len);

	*full = false;
	if (l == NULL) {
		if (!budget_take(len)) {
			*full = true;
			return NULL;
		}
		if ((l = map_alloc(len, true)) == NULL) {
			budget_give(len);
			return NULL;
		}
		l->maplen = len;
	}
	large_item(l)->cls = CACHE_CLASS_LARGE;
	return large_item(l);
}
