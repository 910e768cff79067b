#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <xxhash.h>

#include "cache.h"
#include "counter.h"
#include "log.h"
#include "log_event.h"
#include "xmalloc.h"

/*
 * Locks, and the order they are taken in: a shard lock, then a class lock
 * or the large-item lock. Code holding a class or the large lock that
 * needs a shard (eviction) only tries it and moves on when it is taken, so
 * no thread ever waits in the other order. Two class locks are never held
 * at once.
 *
 * A page move (cache_reassign) takes the reassign lock first, then one
 * class lock at a time (the source's, released before the destination's),
 * under which it only tries shard locks, as eviction does: reassign, then
 * class, then (tried) shard. A store moving a page on demand (compaction,
 * a cold page of an idle class) and maint's tick do the same without the
 * reassign lock, letting their own class's lock go first; an item moved
 * (rescued) is copied under its tried shard lock, one item at a time.
 * maint's crawl takes one shard lock at a time and sleeps with none held.
 *
 * An item's life: a chunk is taken (ITEM_USED), filled, linked into its
 * shard (ITEM_LINKED, the table's reference), found by readers who take
 * references of their own, unlinked, and its chunk given back when the
 * last reference goes. The CLOCK hand reads ITEM_LINKED without the shard
 * lock to pick a candidate, then checks again under it.
 */

#define CACHE_SHARDS_DEFAULT  256
#define CACHE_BUCKETS_INITIAL 64
/* memcached's page size. A page is address space: what counts against
 * the limit is what has been carved into chunks, in blocks, so a class
 * with few items costs few bytes however coarse its page. */
#define SLAB_PAGE  (1u << 20)
#define SLAB_BLOCK (64u << 10)
/* Chunks go up to half a page, as memcached's slab_chunk_max; larger
 * items (to -I) get a mapping of their own. Carving reuses memory that
 * mapping would fault in and unmap on every store: with mappings from 16
 * KiB up, the churn benchmark filled 2.5 times slower than memcached. */
#define SLAB_CHUNK_MAX (512u << 10)
#define SLAB_ALIGN     8
/* Chunk sizes step by 8 bytes up to here (where most small items are, so
 * a 100-byte value wastes at most 7 bytes), then grow by a quarter. */
#define SLAB_FINE_MAX  256
#define SLAB_CLASS_MAX 96
#define OS_PAGE        4096u
/* An oldest-first large item moves back to the head at most once a
 * minute, as memcached's ITEM_UPDATE_INTERVAL. */
#define LARGE_BUMP_SECS 60
/* memcached's process_started is this many seconds before its start
 * (ITEM_UPDATE_INTERVAL and 2): an absolute flush_all time at or before
 * it flushes nothing. */
#define STARTED_BEFORE 62
/* A flush's items are left to the readers that come right after it for
 * at least a second (two seconds of the coarse clock) before
 * cache_reclaim takes them: each finds its item flushed and counts it in
 * get_flushed, as memcached's readers do before its maintainer comes by. */
#define FLUSH_GRACE_SECS 2
/* How far eviction looks for an item nobody is reading before it gives
 * up: four turns of the hand for CLOCK, this many large items. */
#define LARGE_SCAN_MAX 64
/* Freed large mappings kept for the next large item of the same length:
 * a fresh mapping faults in page by page, and unmapping one interrupts
 * every worker's CPU to flush its TLB, costing more than the copy. Kept
 * ones stay charged and are the first to go when room is needed. */
#define LARGE_PARK_MAX 32
/* Chunks of an idle class the cold sweep looks at for one store that
 * would evict its own: a bound on what that store pays. */
#define STEAL_SCAN 256
/* A class no store took a chunk of for this long is idle: its pages may
 * go to a burst of another size, or to the global pool. */
#define CLASS_IDLE_MS 500
/* A rebalance tick returns a class's pages to the global pool while it
 * keeps this many pages' worth of free chunks. */
#define POOL_KEEP_PAGES 2

#define ITEM_HDR     offsetof(struct item, data)
#define ITEM_USED    0x01 /* the chunk is taken */
#define ITEM_LINKED  0x02 /* in the table, which holds a reference */
#define ITEM_FETCHED 0x04 /* read since stored */
#define ITEM_FREQ    0x18 /* reads, saturating at 3: CLOCK's use count */
#define ITEM_FREQ1   0x08
/* The meta commands' marks. */
#define ITEM_STALE      0x20 /* invalidated (md I, ms C I): mg answers X */
#define ITEM_TOKEN      0x40 /* a win (W) was handed out: mg answers Z */
#define ITEM_BINARY_KEY 0x80 /* stored with a base64 key (ms b) */

#define CACHE_CLASS_LARGE 0xff

struct shard {
	pthread_mutex_t lock;
	struct item **buckets;
	size_t mask;
	_Atomic size_t count; /* read by stats without the lock */
	size_t reclaim_next;  /* bucket the maint thread looks at next */
} __attribute__((aligned(64)));

/* A class's "stats items" counters. Evictions are counted under the lock
 * of the chunk's owner, expiries under a shard lock and failed stores by
 * any worker: several writers, hence atomic adds (all are rare events). */
struct class_counts {
	_Atomic uint64_t evicted;
	_Atomic uint64_t evicted_nonzero; /* the item had an expiry */
	_Atomic uint64_t evicted_unfetched;
	_Atomic uint64_t reclaimed; /* dead items whose memory was taken */
	_Atomic uint64_t expired_unfetched;
	_Atomic uint64_t crawler_reclaimed;     /* by maint's background pass */
	_Atomic uint64_t crawler_items_checked; /* items that pass looked at */
	_Atomic uint64_t
	    lrutail_reflocked;        /* victims passed over: being read */
	_Atomic uint64_t outofmemory; /* stores that found no memory */
	/* Seconds the last item evicted had gone unread: a gauge, stored. */
	_Atomic uint64_t evicted_time;
	/* Live items the class's own CLOCK evicted for a store of its size:
	 * what automove reads, without the evictions page moves make. */
	_Atomic uint64_t evicted_own;
};

struct slab_page {
	char *base;
	size_t charged; /* bytes of it counted against the limit */
};

/* One chunk size. Chunks never carved yet are all zero (fresh mappings),
 * which reads as free: the hand skips them. */
struct slab_class {
	pthread_mutex_t lock;
	size_t size; /* chunk bytes */
	unsigned per_page;
	struct slab_page *pages;
	_Atomic unsigned npages; /* read by steal_page and stats unlocked */
	unsigned pages_cap;
	_Atomic size_t charged; /* over all pages */
	struct item *free;      /* chunks given back */
	char *carve;            /* the next never-used chunk of the last page */
	unsigned carve_left;
	unsigned hand_page; /* CLOCK: the chunk looked at next */
	unsigned hand_chunk;
	_Atomic size_t items; /* linked; read by stats */
	_Atomic size_t bytes; /* what the linked items hold; read by stats */
	/* Chunks on the free list: written under the lock, read by the
	 * classes looking for one to compact. */
	_Atomic size_t nfree;
	/* When a store last took a chunk of it (monotonic ms): idle after
	 * CLASS_IDLE_MS without (its own evictions come with stores). */
	_Atomic uint64_t stored_ms;
	/* Where the cold sweep (class_steal_cold) left the hand, and whether
	 * every item since the start of the hand's page was unread. */
	unsigned sweep_page, sweep_chunk;
	bool sweep_clean;
	struct class_counts counts;
} __attribute__((aligned(64)));

/* Ahead of a large item in its mapping; the list is oldest last. */
struct large {
	struct large *prev, *next;
	size_t maplen;
	uint32_t atime;
	uint32_t pad;
};

static struct {
	struct shard *shards;
	unsigned nshards;
	unsigned shift; /* hash >> shift picks the shard */
	struct slab_class classes[SLAB_CLASS_MAX];
	unsigned nclasses;
	size_t chunk_max;
	/* What a class may take from others for itself before it must
	 * evict its own: each size keeps some room whatever the others do,
	 * as memcached's first page per class, but within the limit. */
	_Atomic size_t share;
	pthread_mutex_t large_lock;
	struct large *large_head, *large_tail;
	_Atomic size_t large_count;
	struct large *parked; /* through next; large lock */
	unsigned nparked;
	_Atomic size_t large_bytes;
	struct class_counts large_counts;
	_Atomic uint64_t alloc_fails; /* mappings the system refused */
	_Atomic size_t mapped;        /* pages and large mappings */
	_Atomic size_t item_bytes;
	_Atomic size_t limit;
	size_t item_max;
	bool no_evict;
	bool no_cas;
	time_t started; /* memcached's process_started */
	int temporary_ttl;
	_Atomic uint64_t next_cas;
	/* flush_all, as memcached's oldest_live and oldest_cas: an item
	 * with a CAS below flush_cas is flushed, and from the second
	 * flush_live on (0: never) so is one last used at or before it.
	 * flush_since: the second the last flush took or takes effect.
	 * Written under flush_lock; read without it. */
	pthread_mutex_t flush_lock;
	_Atomic uint64_t flush_cas;
	_Atomic uint32_t flush_live;
	_Atomic uint32_t flush_since;
	/* Page moves: one at a time (tried: a second one is BUSY). */
	pthread_mutex_t reassign_lock;
	_Atomic unsigned pool_pages;
	_Atomic uint64_t reassign_busy;
	_Atomic uint64_t reassign_evicted;
	_Atomic uint64_t reassign_rescued;
	/* Pages move on demand (slabs automove above 0). */
	_Atomic bool rebalance;
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

static size_t
align_up(size_t n, size_t a)
{
	return (n + a - 1) / a * a;
}

/* Bytes an item of this key and value needs, header and "\r\n" included. */
static size_t
item_total(size_t nkey, size_t nbytes)
{
	return ITEM_HDR + nkey + nbytes + 2;
}

/* The chunk sizes: 8 bytes apart up to SLAB_FINE_MAX, then a quarter
 * larger each, up to chunk_max. */
static void
classes_init(void)
{
	size_t size = align_up(item_total(1, 0), SLAB_ALIGN);
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

/* The smallest class whose chunks hold total bytes; binary search. */
static unsigned
class_for(size_t total)
{
	unsigned lo = 0, hi = cache.nclasses - 1;

	while (lo < hi) {
		unsigned mid = (lo + hi) / 2;

		if (cache.classes[mid].size >= total)
			hi = mid;
		else
			lo = mid + 1;
	}
	return lo;
}

/* The limit shared out evenly among the classes, from a block to a page
 * each: what a class may take back from the others. */
static void
cache_share_set(size_t limit)
{
	size_t share = limit / cache.nclasses / SLAB_BLOCK * SLAB_BLOCK;

	atomic_store(&cache.limit, limit);
	atomic_store(&cache.share, share > SLAB_PAGE    ? SLAB_PAGE
	                           : share < SLAB_BLOCK ? SLAB_BLOCK
	                                                : share);
}

int
cache_init(const struct cache_config *cfg)
{
	unsigned n = cfg->nshards ? cfg->nshards : CACHE_SHARDS_DEFAULT;

	if (n & (n - 1))
		return -1;
	memset(&cache, 0, sizeof cache);
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
	cache.chunk_max = SLAB_CHUNK_MAX;
	classes_init();
	pthread_mutex_init(&cache.large_lock, NULL);
	pthread_mutex_init(&cache.reassign_lock, NULL);
	pthread_mutex_init(&cache.flush_lock, NULL);
	cache_share_set(cfg->limit);
	cache.item_max = cfg->item_max;
	cache.no_evict = cfg->no_evict;
	cache.no_cas = cfg->no_cas;
	cache.started = cache_now() - STARTED_BEFORE;
	cache.temporary_ttl = cfg->temporary_ttl;
	cache.rebalance = true;
	return 0;
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

static struct large *
large_of(struct item *it)
{
	return (struct large *)it - 1;
}

static struct item *
large_item(struct large *l)
{
	return (struct item *)(l + 1);
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

static void
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

static void
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
static void
item_free(struct item *it)
{
	struct slab_class *c;

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

void
cache_release(struct item *it)
{
	if (atomic_fetch_sub_explicit(&it->refs, 1, memory_order_acq_rel) == 1)
		item_free(it);
}

/* The "stats items" counters of the class it belongs to. */
static struct class_counts *
class_counts_of(const struct item *it)
{
	return it->cls == CACHE_CLASS_LARGE ? &cache.large_counts
	                                    : &cache.classes[it->cls].counts;
}

/* One more in a class counter. */
static void
class_count(_Atomic uint64_t *c)
{
	atomic_fetch_add_explicit(c, 1, memory_order_relaxed);
}

static bool
item_expired(const struct item *it, time_t now)
{
	return it->exptime != 0 && it->exptime <= now;
}

/* memcached's item_is_flushed. Its item time is our atime: both the
 * second of the store or a later use, and a use after the flush took
 * effect finds the item flushed first. Shard lock held. */
static bool
item_flushed(const struct item *it, time_t now)
{
	uint32_t live;

	if (it->cas < atomic_load(&cache.flush_cas))
		return true;
	live = atomic_load(&cache.flush_live);
	return live != 0 && live <= now && it->atime <= live;
}

static bool
item_dead(const struct item *it, time_t now)
{
	return item_expired(it, now) || item_flushed(it, now);
}

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
static struct item **
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

/* Put l at the head of the large items, the newest end. Large lock held. */
static void
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
static void
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

/* Count it in or out of the shard, its class (or the large items) and
 * the cache's totals. */
static void
shard_account(struct shard *s, const struct item *it, bool in)
{
	/* Unsigned: adding the negation subtracts. */
	size_t one = in ? 1 : (size_t)-1;
	size_t bytes = one * item_total(it->nkey, it->nbytes);
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
static void
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
static void
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

/* Take it out of the table and drop the table's reference: readers
 * holding their own keep the memory alive. */
static void
shard_unlink(struct shard *s, struct item **pp, struct item *it)
{
	shard_detach(s, pp, it, false);
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

enum gone { GONE_NOT, GONE_EXPIRED, GONE_FLUSHED };

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
static struct item **
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
static void
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
		if (log_event_wanted(LOG_EV_EVICTION)) {
			char k[LOG_EVENT_KEY_MAX];

			log_event(LOG_EV_EVICTION,
			    "type=eviction key=%s fetch=%s ttl=%lld la=%lld "
			    "clsid=%u",
			    log_event_key(k, item_key(it), it->nkey),
			    fetched ? "yes" : "no",
			    it->exptime ? (long long)it->exptime - now : -1LL,
			    (long long)now - it->atime, item_class_id(it));
		}
	}
}

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
	struct shard *s;
	bool taken = false;

	if (!(atomic_load_explicit(&it->state, memory_order_acquire) &
	        ITEM_LINKED))
		return false;
	s = shard_of(cache_hash(item_key(it), it->nkey));
	if (pthread_mutex_trylock(&s->lock) != 0)
		return false;
	if ((atomic_load_explicit(&it->state, memory_order_relaxed) &
	        ITEM_LINKED) &&
	    atomic_load_explicit(&it->refs, memory_order_acquire) == 1) {
		count_victim(it, now, st);
		shard_detach(s, shard_slot_of(s, it), it, large);
		atomic_store_explicit(&it->refs, 0, memory_order_relaxed);
		taken = true;
	} else if (atomic_load_explicit(&it->state, memory_order_relaxed) &
	           ITEM_LINKED)
		/* memcached's lrutail_reflocked: a victim someone reads. */
		class_count(&class_counts_of(it)->lrutail_reflocked);
	pthread_mutex_unlock(&s->lock);
	return taken;
}

/* The chunk after the hand; advances it. Class lock held, npages > 0. */
static struct item *
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
static bool
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
static char *
page_used_end(const struct slab_class *c, unsigned i)
{
	char *page = c->pages[i].base;

	if (i == c->npages - 1 && c->carve_left > 0)
		return c->carve;
	return page + (size_t)c->per_page * c->size;
}

/* Take the free chunks of [page, end) off the free list. Class lock. */
static void
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
static void
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
static struct item *
chunk_spare(struct slab_class *c, unsigned skip)
{
	if (c->free == NULL && (c->carve_left == 0 || skip == c->npages - 1))
		return NULL;
	return chunk_get(c);
}

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
	to->flags = it->flags;
	to->nbytes = it->nbytes;
	to->atime = it->atime;
	to->nkey = it->nkey;
	to->cls = it->cls;
	memcpy(to->data, it->data, (size_t)it->nkey + it->nbytes + 2);
	atomic_store_explicit(&to->refs, 1, memory_order_relaxed);
	atomic_store_explicit(&to->state, state, memory_order_release);
	*pp = to;
	atomic_store_explicit(&it->refs, 0, memory_order_relaxed);
	atomic_store_explicit(&it->state, 0, memory_order_relaxed);
}

/* What emptying a page does with its live items. */
enum drop {
	DROP_MOVE,   /* move them to the class's free chunks, or fail */
	DROP_RESCUE, /* move them, evicting those that find no room */
	DROP_EVICT,  /* evict them: the page was picked for its cold items */
};

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
	struct shard *s;
	struct item *to;
	bool ok = false, dead;

	if (!(atomic_load_explicit(&it->state, memory_order_acquire) &
	        ITEM_LINKED))
		return false;
	s = shard_of(cache_hash(item_key(it), it->nkey));
	if (pthread_mutex_trylock(&s->lock) != 0)
		return false;
	if (!(atomic_load_explicit(&it->state, memory_order_relaxed) &
	        ITEM_LINKED) ||
	    atomic_load_explicit(&it->refs, memory_order_acquire) != 1) {
		pthread_mutex_unlock(&s->lock);
		return false;
	}
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

/* Give back a page of the class holding the most, else of the next, for
 * a class below its share or for a large item, its items evicted (the
 * hand's page: what that class would evict next). keep_first: leave
 * every class one page. */
static bool
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
static bool
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

/* Milliseconds of the coarse monotonic clock. */
static uint64_t
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* No store took a chunk of c for CLASS_IDLE_MS, at ms (a store another
 * thread stamped later than ms was read is no older). */
static bool
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
static bool
class_rebalance(unsigned ci, time_t now, struct cache_stats *st)
{
	if (!atomic_load_explicit(&cache.rebalance, memory_order_relaxed))
		return false;
	return class_compact(ci, now, st) ||
	       (!cache.no_evict && class_steal_cold(ci, now, st));
}

/* A kept mapping of len bytes (any length if 0), or NULL. */
static struct large *
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

/* Mapping lengths step by an eighth of their power of two (4 KiB at
 * least), so that a freed one fits the next item of about its size. */
static size_t
large_len(size_t total)
{
	size_t len = sizeof(struct large) + total, step = OS_PAGE;

	while (step * 8 < len)
		step *= 2;
	return align_up(len, step);
}

/* A mapping of its own for an item of total bytes: a kept one of the same
 * length, else a new one once the limit has room (made unless -M). */
static struct item *
large_alloc(size_t total, time_t now, struct cache_stats *st)
{
	size_t len = large_len(total);
	struct large *l;

	if ((l = large_unpark(len)) != NULL)
		goto found;
	for (;;) {
		if (budget_take(len))
			break;
		/* Every class keeps a page while there is anything else to
		 * take; a store fails only when nothing at all could go. */
		if (cache.no_evict ||
		    (!make_room(len, SLAB_CLASS_MAX, true, now, st) &&
		        !make_room(len, SLAB_CLASS_MAX, false, now, st)))
			return NULL;
	}
	if ((l = map_alloc(len, true)) == NULL) {
		budget_give(len);
		return NULL;
	}
	l->maplen = len;
found:
	large_item(l)->cls = CACHE_CLASS_LARGE;
	return large_item(l);
}

/*
 * A chunk of class ci: a free one, or a new one while the limit allows.
 * Past the limit a class below its share makes room at the others'
 * expense (large items first); one at or above it evicts its own.
 */
static struct item *
slab_alloc(unsigned ci, time_t now, struct cache_stats *st)
{
	struct slab_class *c = &cache.classes[ci];
	/* What carving one more chunk may charge. */
	size_t need = align_up(c->size, SLAB_BLOCK);
	struct item *it = NULL;

	/* Room made can be taken by another thread before this one gets
	 * back to it: try again while room can be made. */
	for (int tries = 0; tries < 64; tries++) {
		bool below;

		pthread_mutex_lock(&c->lock);
		it = chunk_get(c);
		below = c->charged < atomic_load_explicit(
		                         &cache.share, memory_order_relaxed);
		pthread_mutex_unlock(&c->lock);
		/* At its share, memory other sizes do not use comes before
		 * its own items: at once, not at automove's next pass. */
		if (it == NULL && !below && class_rebalance(ci, now, st))
			continue;
		if (it == NULL && !cache.no_evict && !below) {
			pthread_mutex_lock(&c->lock);
			it = clock_evict(c, now, st);
			pthread_mutex_unlock(&c->lock);
		}
		if (it != NULL || cache.no_evict)
			return it;
		/* Every class keeps a page while there is anything else to
		 * take; in a small limit shared by many sizes, taking one's
		 * last page is better than refusing the store. */
		if (!make_room(need, ci, true, now, st) &&
		    !make_room(need, ci, false, now, st)) {
			if (!below)
				return NULL;
			pthread_mutex_lock(&c->lock);
			it = clock_evict(c, now, st);
			pthread_mutex_unlock(&c->lock);
			return it;
		}
	}
	return NULL;
}

struct item *
cache_alloc(const char *key, size_t nkey, uint32_t flags, time_t exptime,
    size_t nbytes, enum cache_result *res, struct cache_stats *st)
{
	size_t total = item_total(nkey, nbytes);
	time_t now = cache_now();
	struct item *it;

	if (nkey > CACHE_KEY_MAX || nkey + nbytes > cache.item_max) {
		*res = CACHE_TOO_LARGE;
		return NULL;
	}
	it = total > cache.chunk_max ? large_alloc(total, now, st)
	                             : slab_alloc(class_for(total), now, st);
	if (it != NULL && it->cls != CACHE_CLASS_LARGE) {
		_Atomic uint64_t *at = &cache.classes[it->cls].stored_ms;
		uint64_t ms = mono_ms();

		/* Written once a tick of the coarse clock at most. */
		if (atomic_load_explicit(at, memory_order_relaxed) != ms)
			atomic_store_explicit(at, ms, memory_order_relaxed);
	}
	if (it == NULL) {
		class_count(
		    total > cache.chunk_max
		        ? &cache.large_counts.outofmemory
		        : &cache.classes[class_for(total)].counts.outofmemory);
		*res = CACHE_NO_MEMORY;
		return NULL;
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
	it->nbytes = (uint32_t)nbytes;
	it->flags = flags;
	it->exptime = (uint32_t)exptime;
	memcpy(it->data, key, nkey);
	memcpy(item_value(it) + nbytes, "\r\n", 2);
	*res = CACHE_OK;
	return it;
}

/* A copy of old's key, flags and expiry with room for nbytes of value. */
static struct item *
item_dup(const struct item *old, size_t nbytes, enum cache_result *res,
    struct cache_stats *st)
{
	return cache_alloc(item_key(old), old->nkey, old->flags, old->exptime,
	    nbytes, res, st);
}

/* A use for CLOCK, without a write once the count is full; also the
 * item's last access, and when fetch, a read of it (mg's h, me's fetch,
 * evicted_unfetched). Shard lock held. */
static void
item_used(struct item *it, time_t now, bool fetch)
{
	uint8_t state = atomic_load_explicit(&it->state, memory_order_relaxed);
	uint8_t mark = fetch ? ITEM_FETCHED : 0;

	it->atime = (uint32_t)now;

	/* The hand may take a use away meanwhile: never past 3. */
	while ((state & ITEM_FREQ) != ITEM_FREQ &&
	       !atomic_compare_exchange_weak_explicit(&it->state, &state,
	           (uint8_t)((state + ITEM_FREQ1) | mark), memory_order_relaxed,
	           memory_order_relaxed))
		;
	if ((state & mark) != mark)
		atomic_fetch_or_explicit(
		    &it->state, mark, memory_order_relaxed);
}

/* Whether op may store over old (NULL when the key is missing), by
 * memcached's rules; counts what a cas found. Shard lock held. */
static enum cache_result
store_allowed(enum cache_store_op op, struct item *old, uint64_t cas,
    bool *stale, struct cache_stats *st)
{
	enum cache_result res = CACHE_STORED;

	*stale = false;

	switch (op) {
	case CACHE_SET:
		break;
	case CACHE_ADD:
		if (old != NULL) {
			/* memcached counts this as a use of the item
			 * (do_item_update), not as a read of it. */
			item_used(old, cache_now(), false);
			res = CACHE_NOT_STORED;
		}
		break;
	case CACHE_REPLACE:
		if (old == NULL)
			res = CACHE_NOT_STORED;
		break;
	case CACHE_APPEND:
	case CACHE_PREPEND:
		if (old == NULL)
			res = CACHE_NOT_STORED;
		else if (cas != 0 && old->cas != cas)
			res = CACHE_EXISTS;
		break;
	case CACHE_CAS:
	case CACHE_CAS_STALE:
		if (old == NULL)
			res = CACHE_NOT_FOUND;
		/* A CAS of 0 matches nothing, stale or not: memcached
		 * reads it as no CAS given, which a cas refuses. */
		else if (op == CACHE_CAS_STALE && cas != 0 && cas < old->cas)
			*stale = true;
		else if (old->cas != cas)
			res = CACHE_EXISTS;
		if (st)
			stat_add(res == CACHE_STORED   ? &st->cas_hits
			         : res == CACHE_EXISTS ? &st->cas_badval
			                               : &st->cas_misses,
			    1);
		break;
	}
	return res;
}

/* An item with old's value followed by part's (append) or preceded by it
 * (prepend), taking part's place and reference; NULL, part kept, when the
 * joined value is too large or finds no memory. Evicting for it never
 * takes old: its shard is locked here. */
static struct item *
store_join(
    struct item *old, struct item *part, bool append, struct cache_stats *st)
{
	struct item *head = append ? old : part, *tail = append ? part : old;
	enum cache_result res;
	struct item *nw =
	    item_dup(old, (size_t)old->nbytes + part->nbytes, &res, st);

	if (nw == NULL)
		return NULL;
	memcpy(item_value(nw), item_value(head), head->nbytes);
	memcpy(item_value(nw) + head->nbytes, item_value(tail), tail->nbytes);
	cache_release(part);
	return nw;
}

enum cache_result
cache_store(struct item *it, enum cache_store_op op, uint64_t cas,
    struct cache_stats *st)
{
	return cache_store_cas(it, op, cas, NULL, NULL, st);
}

enum cache_result
cache_store_cas(struct item *it, enum cache_store_op op, uint64_t cas,
    uint64_t *cas_out, struct cache_seen *seen, struct cache_stats *st)
{
	time_t now = cache_now();
	struct shard *s;
	enum gone gone;
	struct item **pp =
	    shard_lock_find(item_key(it), it->nkey, now, &s, &gone, st);
	struct item *old = *pp, *joined;
	bool stale;
	enum cache_result res = store_allowed(op, old, cas, &stale, st);

	/* The key's dead item made way for this store: memcached counts
	 * that memory as reclaimed (t/issue_183.t, with its crawler off). */
	if (gone != GONE_NOT) {
		class_count(&class_counts_of(it)->reclaimed);
		if (st != NULL)
			stat_add(&st->reclaimed, 1);
	}

	if (seen != NULL)
		*seen = (struct cache_seen){.found = old != NULL,
		    .cls = old ? item_class_id(old) : 0,
		    .nbytes = old ? old->nbytes : 0};
	if (res == CACHE_STORED &&
	    (op == CACHE_APPEND || op == CACHE_PREPEND)) {
		/* Too large or no memory for the joined value: memcached
		 * answers NOT_STORED. */
		joined = store_join(old, it, op == CACHE_APPEND, st);
		if (joined != NULL)
			it = joined;
		else
			res = CACHE_NOT_STORED;
	}
	if (stale) {
		/* As memcached: the stale value keeps the old one's expiry
		 * and win token. */
		it->exptime = old->exptime;
		atomic_fetch_or_explicit(&it->state,
		    ITEM_STALE | (atomic_load_explicit(
		                      &old->state, memory_order_relaxed) &
		                     ITEM_TOKEN),
		    memory_order_relaxed);
	}
	if (cas_out)
		*cas_out = 0;
	if (res == CACHE_STORED) {
		if (old != NULL)
			shard_replace(s, pp, old, it, now);
		else
			shard_link(s, pp, it, now);
		if (cas_out)
			*cas_out = it->cas;
		if (st)
			stat_add(&st->total_items, 1);
	}
	pthread_mutex_unlock(&s->lock);
	if (res != CACHE_STORED)
		cache_release(it);
	return res;
}

/* An oldest-first large item read moves back to the head, at most once a
 * minute. Shard lock held, so it stays linked meanwhile. */
static void
large_bump(struct item *it, time_t now)
{
	struct large *l = large_of(it);

	if ((uint32_t)now - l->atime < LARGE_BUMP_SECS)
		return;
	pthread_mutex_lock(&cache.large_lock);
	l->atime = (uint32_t)now;
	large_unlink(l);
	large_push(l);
	pthread_mutex_unlock(&cache.large_lock);
}

struct item *
cache_get(const char *key, size_t nkey, bool touch, time_t exptime,
    struct cache_stats *st)
{
	time_t now = cache_now();
	struct shard *s;
	struct item *it = *shard_lock_find(key, nkey, now, &s, NULL, st);

	if (it != NULL) {
		atomic_fetch_add_explicit(&it->refs, 1, memory_order_relaxed);
		item_used(it, now, true);
		if (touch)
			it->exptime = (uint32_t)exptime;
		if (it->cls == CACHE_CLASS_LARGE)
			large_bump(it, now);
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
	return it;
}

enum cache_result
cache_delete(const char *key, size_t nkey, struct cache_stats *st)
{
	time_t now = cache_now();
	struct shard *s;
	struct item **pp = shard_lock_find(key, nkey, now, &s, NULL, st);
	bool hit = *pp != NULL;

	if (hit)
		shard_unlink(s, pp, *pp);
	pthread_mutex_unlock(&s->lock);
	if (st)
		stat_add(hit ? &st->delete_hits : &st->delete_misses, 1);
	return hit ? CACHE_OK : CACHE_NOT_FOUND;
}

void
cache_drop(const char *key, size_t nkey, struct cache_stats *st)
{
	struct shard *s;
	struct item **pp =
	    shard_lock_find(key, nkey, cache_now(), &s, NULL, st);

	if (*pp != NULL)
		shard_unlink(s, pp, *pp);
	pthread_mutex_unlock(&s->lock);
}

enum cache_result
cache_touch(
    const char *key, size_t nkey, time_t exptime, struct cache_stats *st)
{
	time_t now = cache_now();
	struct shard *s;
	struct item **pp = shard_lock_find(key, nkey, now, &s, NULL, st);
	bool hit = *pp != NULL;

	if (hit) {
		(*pp)->exptime = (uint32_t)exptime;
		item_used(*pp, now, true);
	}
	pthread_mutex_unlock(&s->lock);
	if (st) {
		stat_add(&st->cmd_touch, 1);
		stat_add(hit ? &st->touch_hits : &st->touch_misses, 1);
	}
	return hit ? CACHE_OK : CACHE_NOT_FOUND;
}

/* Whether c is white space to strtoull in the C locale. */
static bool
value_space(char c)
{
	return c == ' ' || (c >= '\t' && c <= '\r');
}

/*
 * The value as memcached reads it: strtoull in base 10 over the value and
 * the "\r\n" after it, which may stop at white space or a NUL only
 * (leading white space, a sign and leading zeros are fine: " 12", "+5",
 * "-0", "12 abc", "1\t2"), refused on overflow, and, as safe_strtoull, when
 * the number is negative as a signed one and the string holds a '-'.
 * Scanned in place: a value may be a megabyte long.
 */
static bool
value_to_u64(const struct item *it, uint64_t *out)
{
	const char *p = it->data + it->nkey, *end = p + it->nbytes, *digits;
	bool neg = false;
	uint64_t n = 0;

	if (it->nbytes == 0)
		return false;
	while (p < end && value_space(*p))
		p++;
	if (p < end && (*p == '+' || *p == '-'))
		neg = *p++ == '-';
	for (digits = p; p < end && *p >= '0' && *p <= '9'; p++) {
		unsigned d = (unsigned)(*p - '0');

		if (n > (UINT64_MAX - d) / 10)
			return false; /* ERANGE */
		n = n * 10 + d;
	}
	/* Past the value come "\r\n": white space, so a number ending the
	 * value ends well. */
	if (p == digits || (p < end && *p != '\0' && !value_space(*p)))
		return false;
	if (neg)
		n = -n;
	if ((int64_t)n < 0 &&
	    (neg || memchr(p, '-', strnlen(p, (size_t)(end - p))) != NULL))
		return false;
	*out = n;
	return true;
}

/* v, in decimal, as the new value of the item at *pp. Like memcached, a
 * number that fits keeps the value's length, padded with spaces. In place
 * only when the table alone holds the item: a pending reply may still be
 * sending the old one. Shard lock held. */
static enum cache_result
arith_write(struct shard *s, struct item **pp, uint64_t v, time_t now,
    struct cache_stats *st)
{
	struct item *it = *pp, *nw;
	enum cache_result res = CACHE_OK;
	char num[24];
	size_t len =
	    (size_t)snprintf(num, sizeof num, "%llu", (unsigned long long)v);
	size_t keep = len <= it->nbytes ? it->nbytes : len;

	if (keep == it->nbytes &&
	    atomic_load_explicit(&it->refs, memory_order_acquire) == 1) {
		memcpy(item_value(it), num, len);
		memset(item_value(it) + len, ' ', keep - len);
		it->cas = atomic_fetch_add(&cache.next_cas, 1) + 1;
	} else if ((nw = item_dup(it, keep, &res, st)) != NULL) {
		memcpy(item_value(nw), num, len);
		memset(item_value(nw) + len, ' ', keep - len);
		shard_replace(s, pp, it, nw, now);
	}
	return res;
}

enum cache_result
cache_arith(const char *key, size_t nkey, bool incr, uint64_t delta,
    uint64_t *value, struct cache_stats *st)
{
	time_t now = cache_now();
	struct shard *s;
	struct item **pp = shard_lock_find(key, nkey, now, &s, NULL, st);
	enum cache_result res;
	uint64_t v;

	if (*pp == NULL)
		res = CACHE_NOT_FOUND;
	else if (!value_to_u64(*pp, &v))
		res = CACHE_NON_NUMERIC;
	else {
		if (incr)
			v += delta; /* wraps at 2^64, as memcached */
		else
			v = delta > v ? 0 : v - delta;
		res = arith_write(s, pp, v, now, st);
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

struct item *
cache_mget(const char *key, size_t nkey, const struct cache_mget *q,
    struct cache_mget_info *info, struct cache_stats *st)
{
	time_t now = cache_now();
	struct shard *s;
	struct item **pp = shard_lock_find(key, nkey, now, &s, NULL, st);
	struct item *it = *pp;
	enum cache_result res;
	uint8_t state;

	*info = (struct cache_mget_info){0};
	if (it == NULL && q->vivify) {
		/* Evicting for it never takes an item of this shard: it is
		 * locked here. */
		it = cache_alloc(key, nkey, 0, q->vivify_exptime, 0, &res, st);
		if (it != NULL) {
			shard_link(s, pp, it, now);
			info->created = true;
			if (st)
				stat_add(&st->total_items, 1);
		}
	}
	if (it != NULL) {
		state = atomic_load_explicit(&it->state, memory_order_relaxed);
		info->fetched = state & ITEM_FETCHED;
		info->binary_key = state & ITEM_BINARY_KEY;
		info->token_sent = state & ITEM_TOKEN;
		info->stale = state & ITEM_STALE;
		info->cas = it->cas;
		info->la = (uint32_t)now - it->atime;
		info->exptime = info->created ? 0 : it->exptime;
		if (q->touch && !info->created)
			it->exptime = (uint32_t)q->exptime;
		info->won = info->created;
		/* memcached's R: the expiry as it stands where R is in the
		 * flags, T's when T came first. */
		if (q->recache && !info->token_sent && !info->created) {
			uint32_t e = q->touch && q->recache_after_touch
			                 ? (uint32_t)q->exptime
			                 : info->exptime;

			if (e != 0 && e < (uint32_t)q->recache_time)
				info->won = true;
		}
		/* A stale item hands its win to the first who sees it. */
		if (info->stale && !info->token_sent)
			info->won = true;
		if (info->won)
			atomic_fetch_or_explicit(
			    &it->state, ITEM_TOKEN, memory_order_relaxed);
		if (!q->no_bump) {
			item_used(it, now, true);
			if (it->cls == CACHE_CLASS_LARGE)
				large_bump(it, now);
		}
		atomic_fetch_add_explicit(&it->refs, 1, memory_order_relaxed);
	}
	pthread_mutex_unlock(&s->lock);
	if (st == NULL)
		return it;
	/* As memcached's mg: a hit with T is a touch, anything else a get
	 * (a miss with T too); a vivified item counts as a hit. */
	if (q->touch && it != NULL) {
		stat_add(&st->cmd_touch, 1);
		stat_add(&st->touch_hits, 1);
	} else {
		stat_add(&st->cmd_get, 1);
		stat_add(it ? &st->get_hits : &st->get_misses, 1);
	}
	return it;
}

void
cache_item_mark_binary_key(struct item *it)
{
	atomic_fetch_or_explicit(
	    &it->state, ITEM_BINARY_KEY, memory_order_relaxed);
}

enum cache_result
cache_mdelete(const char *key, size_t nkey, bool has_cas, uint64_t cas,
    bool stale, bool touch, time_t exptime, struct cache_stats *st)
{
	time_t now = cache_now();
	struct shard *s;
	struct item **pp = shard_lock_find(key, nkey, now, &s, NULL, st);
	struct item *it = *pp;
	enum cache_result res = CACHE_OK;

	if (it == NULL)
		res = CACHE_NOT_FOUND;
	else if (has_cas && it->cas != cas)
		res = CACHE_EXISTS;
	else if (stale) {
		/* Kept, with a new CAS, for the next reader to win. */
		if (touch)
			it->exptime = (uint32_t)exptime;
		atomic_fetch_or_explicit(
		    &it->state, ITEM_STALE, memory_order_relaxed);
		atomic_fetch_and_explicit(
		    &it->state, (uint8_t)~ITEM_TOKEN, memory_order_relaxed);
		it->cas = atomic_fetch_add(&cache.next_cas, 1) + 1;
	} else
		shard_unlink(s, pp, it);
	pthread_mutex_unlock(&s->lock);
	/* memcached counts a CAS mismatch as a miss, marking stale as
	 * nothing. */
	if (st && !(res == CACHE_OK && stale))
		stat_add(
		    res == CACHE_OK ? &st->delete_hits : &st->delete_misses, 1);
	return res;
}

/* ma's miss with N: an item holding q->initial. Shard lock held, *pp the
 * key's empty slot. */
static enum cache_result
marith_create(struct shard *s, struct item **pp, const char *key, size_t nkey,
    const struct cache_marith *q, time_t now, struct cache_stats *st)
{
	char num[24];
	size_t len = (size_t)snprintf(
	    num, sizeof num, "%llu", (unsigned long long)q->initial);
	enum cache_result res;
	struct item *it =
	    cache_alloc(key, nkey, 0, q->vivify_exptime, len, &res, st);

	if (it == NULL)
		return res;
	memcpy(item_value(it), num, len);
	shard_link(s, pp, it, now);
	if (st)
		stat_add(&st->total_items, 1);
	return CACHE_OK;
}

enum cache_result
cache_marith(const char *key, size_t nkey, const struct cache_marith *q,
    struct cache_marith_info *info, struct cache_stats *st)
{
	time_t now = cache_now();
	struct shard *s;
	struct item **pp = shard_lock_find(key, nkey, now, &s, NULL, st);
	enum cache_result res = CACHE_OK;
	uint64_t v;

	*info = (struct cache_marith_info){0};
	info->missed = *pp == NULL;
	if (*pp == NULL && q->vivify) {
		res = marith_create(s, pp, key, nkey, q, now, st);
		info->created = res == CACHE_OK;
		v = q->initial;
	} else if (*pp == NULL)
		res = CACHE_NOT_FOUND;
	/* memcached refuses an empty value before it compares the CAS, a
	 * value that is not a number after. */
	else if ((*pp)->nbytes == 0)
		res = CACHE_NON_NUMERIC;
	else if (q->cas != 0 && (*pp)->cas != q->cas)
		res = CACHE_EXISTS;
	else if (!value_to_u64(*pp, &v))
		res = CACHE_NON_NUMERIC;
	else {
		info->exptime = (*pp)->exptime;
		if (q->incr)
			v += q->delta;
		else
			v = q->delta > v ? 0 : v - q->delta;
		res = arith_write(s, pp, v, now, st);
	}
	if (res == CACHE_OK) {
		/* arith_write may have replaced the item: *pp is the new. */
		if (q->touch && !info->created)
			(*pp)->exptime = (uint32_t)q->exptime;
		info->value = v;
		info->cas = (*pp)->cas;
	}
	pthread_mutex_unlock(&s->lock);
	if (st && !info->created &&
	    (res == CACHE_OK || res == CACHE_NOT_FOUND)) {
		bool hit = res == CACHE_OK;

		stat_add(q->incr ? (hit ? &st->incr_hits : &st->incr_misses)
		                 : (hit ? &st->decr_hits : &st->decr_misses),
		    1);
	}
	return res;
}

/* What me and the dumps show of it; its shard's lock is held. */
static void
item_debug(const struct item *it, struct cache_debug *d)
{
	uint8_t state = atomic_load_explicit(&it->state, memory_order_relaxed);

	d->exptime = it->exptime;
	d->atime = it->atime;
	d->nbytes = it->nbytes;
	d->cas = it->cas;
	d->fetched = state & ITEM_FETCHED;
	d->binary_key = state & ITEM_BINARY_KEY;
	d->cls = item_class_id(it);
	d->size = item_total(it->nkey, it->nbytes);
	memcpy(d->key, item_key(it), it->nkey);
	d->nkey = it->nkey;
}

bool
cache_debug(
    const char *key, size_t nkey, struct cache_debug *d, struct cache_stats *st)
{
	time_t now = cache_now();
	struct shard *s;
	struct item *it = *shard_lock_find(key, nkey, now, &s, NULL, st);

	if (it != NULL)
		item_debug(it, d);
	pthread_mutex_unlock(&s->lock);
	return it != NULL;
}

/* memcached's oldest_live for flush_all DELAY: once that second has
 * come, the items used at or before it are flushed. 0 for a time before
 * the start: such a flush flushes nothing. */
static time_t
flush_live_of(time_t delay, time_t now)
{
	time_t live = delay > CACHE_REL_MAX ? delay
	              : delay > 0           ? now + delay
	                                    : now;

	if (delay > CACHE_REL_MAX && delay <= cache.started)
		return 0;
	/* With CAS, a flush at once tells what it takes by CAS, and the
	 * items stored after it in its second live. */
	if (!cache.no_cas)
		live--;
	return live <= cache.started ? 0 : live;
}

void
cache_flush_all(time_t delay)
{
	time_t now = cache_now(), live;

	pthread_mutex_lock(&cache.flush_lock);
	live = flush_live_of(delay, now);
	/* A flush at once takes a CAS of its own, as memcached's
	 * get_cas_id(): what is stored next has a CAS above it. Unlike
	 * memcached's oldest_cas it stays in force whatever flush comes
	 * next, so a delayed flush does not bring back what this one took. */
	if (live <= now) {
		uint64_t cas = atomic_fetch_add(&cache.next_cas, 1) + 1;

		if (live != 0)
			atomic_store(&cache.flush_cas, cas);
	}
	if (live != 0)
		atomic_store(
		    &cache.flush_since, (uint32_t)(live > now ? live : now));
	atomic_store(&cache.flush_live, (uint32_t)live);
	pthread_mutex_unlock(&cache.flush_lock);
}

void
cache_set_limit(size_t limit)
{
	cache_share_set(limit);
	make_room(0, SLAB_CLASS_MAX, false, cache_now(), NULL);
}

size_t
cache_reclaim(unsigned budget, struct cache_stats *st)
{
	time_t now = cache_now();
	bool flushed = !flush_recent(now);
	size_t n = 0;

	for (unsigned i = 0; i < cache.nshards; i++) {
		struct shard *s = &cache.shards[i];

		pthread_mutex_lock(&s->lock);
		for (unsigned b = 0; b < budget && b <= s->mask; b++) {
			struct item **pp =
			    &s->buckets[s->reclaim_next++ & s->mask];

			while (*pp != NULL) {
				struct item *it = *pp;

				class_count(&class_counts_of(it)
				                 ->crawler_items_checked);
				if (!item_expired(it, now) &&
				    !(flushed && item_flushed(it, now))) {
					pp = &it->hnext;
					continue;
				}
				if (!(atomic_load_explicit(
				          &it->state, memory_order_relaxed) &
				        ITEM_FETCHED) &&
				    item_expired(it, now)) {
					stat_add(&st->expired_unfetched, 1);
					class_count(&class_counts_of(it)
					                 ->expired_unfetched);
				}
				class_count(
				    &class_counts_of(it)->crawler_reclaimed);
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
	t->bytes =
	    atomic_load_explicit(&cache.item_bytes, memory_order_relaxed);
	t->limit = atomic_load_explicit(&cache.limit, memory_order_relaxed);
	t->mapped = atomic_load_explicit(&cache.mapped, memory_order_relaxed);
	t->page_size = SLAB_PAGE;
	t->pages = 0;
	for (unsigned i = 0; i < cache.nclasses; i++)
		t->pages += cache.classes[i].npages;
}

void
cache_free(void)
{
	for (unsigned i = 0; i < cache.nshards; i++) {
		struct shard *s = &cache.shards[i];

		for (size_t b = 0; b <= s->mask; b++)
			while (s->buckets[b] != NULL)
				shard_unlink(s, &s->buckets[b], s->buckets[b]);
		free(s->buckets);
		pthread_mutex_destroy(&s->lock);
	}
	free(cache.shards);
	for (unsigned i = 0; i < cache.nclasses; i++) {
		struct slab_class *c = &cache.classes[i];

		for (unsigned p = 0; p < c->npages; p++)
			map_free(c->pages[p].base, SLAB_PAGE);
		free(c->pages);
		pthread_mutex_destroy(&c->lock);
	}
	while (cache.parked != NULL) {
		struct large *l = cache.parked;

		cache.parked = l->next;
		map_free(l, l->maplen);
	}
	pthread_mutex_destroy(&cache.large_lock);
	pthread_mutex_destroy(&cache.reassign_lock);
	memset(&cache, 0, sizeof cache);
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

/* Pass the linked item it to fn, read under its shard lock; false when
 * that lock is taken (the caller holds a class or the large lock, and
 * only tries it). */
static bool
class_dump_item(struct item *it, cache_dump_fn fn, void *arg)
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
	if (linked) {
		struct cache_debug d;

		item_debug(it, &d);
		fn(arg, &d);
	}
	pthread_mutex_unlock(&s->lock);
	return linked;
}

unsigned
cache_class_dump(int cls, unsigned limit, cache_dump_fn fn, void *arg)
{
	struct slab_class *c;
	unsigned n = 0;

	if (cls < 0 || cls > (int)cache.nclasses)
		return 0;
	if (cls == (int)cache.nclasses) {
		pthread_mutex_lock(&cache.large_lock);
		for (struct large *l = cache.large_head;
		     l != NULL && (limit == 0 || n < limit); l = l->next)
			n += class_dump_item(large_item(l), fn, arg);
		pthread_mutex_unlock(&cache.large_lock);
		return n;
	}
	/* The class lock keeps every chunk where it is meanwhile. */
	c = &cache.classes[cls];
	pthread_mutex_lock(&c->lock);
	for (unsigned p = 0; p < c->npages; p++)
		for (unsigned i = 0;
		     i < c->per_page && (limit == 0 || n < limit); i++)
			n += class_dump_item(
			    (struct item *)(c->pages[p].base +
			                    (size_t)i * c->size),
			    fn, arg);
	pthread_mutex_unlock(&c->lock);
	return n;
}

static bool crawl_wants(const bool *, const struct item *);

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

/* Whether want takes the item's class; want NULL takes all. */
static bool
crawl_wants(const bool *want, const struct item *it)
{
	return want == NULL || want[item_class_id(it)];
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
			for (struct item **pp = &s->buckets[b]; *pp != NULL;) {
				struct item *it = *pp;
				unsigned *n_left =
				    left != NULL ? &left[item_class_id(it)]
				                 : NULL;

				if (n_left != NULL && *n_left == 0) {
					pp = &it->hnext;
					continue;
				}
				if (n_left != NULL)
					(*n_left)--;
				seen++;
				class_count(&class_counts_of(it)
				                 ->crawler_items_checked);
				if (!item_dead(it, now)) {
					pp = &it->hnext;
					continue;
				}
				if (!(atomic_load_explicit(
				          &it->state, memory_order_relaxed) &
				        ITEM_FETCHED) &&
				    item_expired(it, now)) {
					stat_add(&st->expired_unfetched, 1);
					class_count(&class_counts_of(it)
					                 ->expired_unfetched);
				}
				class_count(
				    &class_counts_of(it)->crawler_reclaimed);
				shard_unlink(s, pp, it);
				n++;
			}
		pthread_mutex_unlock(&s->lock);
	}
	if (checked)
		*checked = seen;
	return n;
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

bool
cache_class_idle(int id)
{
	if (id < 1 || id > (int)cache.nclasses)
		return false;
	return class_idle(&cache.classes[id - 1], mono_ms());
}
