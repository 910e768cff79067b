/* The store's private header: what its files share. Included by
 * src/store/ alone; callers see include/store/cache.h. */
/*
 * The files stand in layers: each calls only the files listed before it,
 * never one after (no circle of files):
 *   cache_mem.c     memory: size classes, pages, chunks, large mappings,
 *                   the budget
 *   cache_table.c   the hash table: shards, chains, find, link, unlink,
 *                   reclaim
 *   cache_page.c    page moves: emptying a page (rescue or evict),
 *                   compaction, cold steals, reassign, rebalance
 *   cache_evict.c   eviction: CLOCK, taking a victim, making room; and
 *                   cache_alloc, which asks it when memory has no room
 *   cache.c         start and end, and the operations: get, store,
 *                   arith, touch, delete, the meta commands, flush
 *   cache_report.c  reports: totals, class stats, dumps, the crawl
 * Memory gives one try at a chunk or a mapping (chunk_try, large_try);
 * the loop that makes room when there is none and tries again is
 * cache_alloc's, so memory never calls eviction, which frees through it.
 */
#ifndef TL_CACHE_INT_H
#define TL_CACHE_INT_H

#include <pthread.h>

#include <xxhash.h>

#include "cache.h"

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
 * Nothing is unmapped under a shard lock: a large item the table lets go
 * of is released once the lock is (shard_unlock). Nothing is evicted
 * under one either: an operation that needs memory while it holds one
 * (append, incr, a vivify) takes memory's one try, and when that finds
 * no room lets the lock go to evict (struct spare, cache.c; only after
 * four such rounds lost to other threads does it evict under it). A dump
 * copies items under the locks and has them formatted once they are let
 * go (cache_class_dump, cache_dump_next).
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

/* The classes' ids fit in struct item's 7 bits, below the two that are
 * not classes. */
_Static_assert(SLAB_CLASS_MAX <= CACHE_CLASS_COPY, "class ids");
_Static_assert(ITEM_HDR == 32, "struct item is 32 bytes ahead of its data");
/* Any chunk's value fits in struct item's 24-bit length. */
_Static_assert(SLAB_CHUNK_MAX < (1u << 24), "chunk lengths");
#define ITEM_REFS_MAX UINT16_MAX

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

/* Ahead of a large item in its mapping; the list is oldest last. Ahead
 * of a reader's copy too, for its length alone. */
struct large {
	struct large *prev, *next;
	size_t maplen;
	uint32_t atime;
	uint32_t nbytes;
};

/* The store's state, one for the process. */
struct cache_root {
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
};

extern struct cache_root cache;

enum gone { GONE_NOT, GONE_EXPIRED, GONE_FLUSHED };

/* What emptying a page does with its live items. */
enum drop {
	DROP_MOVE,   /* move them to the class's free chunks, or fail */
	DROP_RESCUE, /* move them, evicting those that find no room */
	DROP_EVICT,  /* evict them: the page was picked for its cold items */
};

static inline size_t
align_up(size_t n, size_t a)
{
	return (n + a - 1) / a * a;
}

/* Bytes an item of this key, value and flags needs, header included. */
static inline size_t
item_total(size_t nkey, size_t nbytes, uint32_t flags)
{
	return ITEM_HDR + nkey + nbytes + (flags != 0 ? sizeof flags : 0);
}

/* Bytes it takes. */
static inline size_t
item_size(const struct item *it)
{
	return ITEM_HDR + it->nkey + item_nbytes(it) +
	       (it->flagged ? sizeof(uint32_t) : 0);
}

/* A reader's reference, taken under its shard lock: counts go up only
 * there, so one seen below the max stays below it until the add. false
 * when it is full (ITEM_REFS_MAX): see item_hold. */
static inline bool
item_ref(struct item *it)
{
	if (atomic_load_explicit(&it->refs, memory_order_relaxed) ==
	    ITEM_REFS_MAX)
		return false;
	atomic_fetch_add_explicit(&it->refs, 1, memory_order_relaxed);
	return true;
}

static inline uint64_t
cache_hash(const char *key, size_t nkey)
{
	return XXH3_64bits(key, nkey);
}

static inline struct shard *
shard_of(uint64_t hash)
{
	return &cache.shards[cache.nshards > 1 ? hash >> cache.shift : 0];
}

static inline struct large *
large_of(struct item *it)
{
	return (struct large *)it - 1;
}

static inline struct item *
large_item(struct large *l)
{
	return (struct item *)(l + 1);
}

/* The value's length into a new item: a chunk's in the item, a large
 * one's in the header ahead of it. */
static inline void
item_set_len(struct item *it, size_t nbytes)
{
	if (it->cls == CACHE_CLASS_LARGE) {
		large_of(it)->nbytes = (uint32_t)nbytes;
		it->len = 0;
	} else
		it->len = (uint32_t)nbytes;
}

/* Flags into an item made for them: flagged when they are not 0. */
static inline void
item_put_flags(struct item *it, uint32_t flags)
{
	if (it->flagged)
		memcpy(it->data + it->nkey + item_nbytes(it), &flags,
		    sizeof flags);
}

/* The "stats items" counters of the class it belongs to. */
static inline struct class_counts *
class_counts_of(const struct item *it)
{
	return it->cls == CACHE_CLASS_LARGE ? &cache.large_counts
	                                    : &cache.classes[it->cls].counts;
}

/* One more in a class counter. */
static inline void
class_count(_Atomic uint64_t *c)
{
	atomic_fetch_add_explicit(c, 1, memory_order_relaxed);
}

static inline bool
item_expired(const struct item *it, time_t now)
{
	return it->exptime != 0 && it->exptime <= now;
}

/* memcached's item_is_flushed. Its item time is our atime: both the
 * second of the store or a later use, and a use after the flush took
 * effect finds the item flushed first. Shard lock held. */
static inline bool
item_flushed(const struct item *it, time_t now)
{
	uint32_t live;

	if (it->cas < atomic_load(&cache.flush_cas))
		return true;
	live = atomic_load(&cache.flush_live);
	return live != 0 && live <= now && it->atime <= live;
}

static inline bool
item_dead(const struct item *it, time_t now)
{
	return item_expired(it, now) || item_flushed(it, now);
}

/* The smallest class whose chunks hold total bytes; binary search. */
static inline unsigned
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

/* cache_mem.c */
void classes_init(void);
struct item *item_copy(const struct item *it);
void cache_share_set(size_t limit);
void budget_give(size_t n);
void map_free(void *p, size_t len);
void item_free(struct item *it);
void large_push(struct large *l);
void large_unlink(struct large *l);
struct item *clock_next(struct slab_class *c);
bool class_grow(struct slab_class *c);
char *page_used_end(const struct slab_class *c, unsigned i);
void page_unfree(struct slab_class *c, const char *page, const char *end);
void page_refree(struct slab_class *c, char *page, const char *end);
struct item *chunk_spare(struct slab_class *c, unsigned skip);
uint64_t mono_ms(void);
struct large *large_unpark(size_t len);
size_t large_len(size_t total);
struct item *chunk_try(unsigned ci, bool *below);
struct item *large_try(size_t len, bool *full);

/* cache_table.c */
struct item **shard_slot_of(struct shard *s, struct item *it);
void shard_link(struct shard *s, struct item **pp, struct item *it, time_t now);
void shard_detach(
    struct shard *s, struct item **pp, struct item *it, bool large_locked);
void shard_unlink(struct shard *s, struct item **pp, struct item *it);
void shard_replace(struct shard *s, struct item **pp, struct item *old,
    struct item *it, time_t now);
struct item **shard_lock_find(const char *key, size_t nkey, time_t now,
    struct shard **sp, enum gone *gone, struct cache_stats *st);
void count_victim(struct item *it, time_t now, struct cache_stats *st);
struct shard *shard_try_sole(struct item *it, bool *held);
size_t shard_reap(struct shard *s, struct item **pp, time_t now, bool flushed,
    unsigned *left, size_t *seen, struct cache_stats *st);
void item_debug(const struct item *it, struct cache_debug *d);

/* cache_page.c */
bool steal_page(
    unsigned except, bool keep_first, time_t now, struct cache_stats *st);
bool class_compact(unsigned except, time_t now, struct cache_stats *st);
bool class_idle(struct slab_class *c, uint64_t ms);
bool class_rebalance(unsigned ci, time_t now, struct cache_stats *st);

/* cache_evict.c */
struct item *cache_alloc_held(const char *key, size_t nkey, uint32_t flags,
    time_t exptime, size_t nbytes, enum cache_result *res);

/* A reference for a reader, under its shard lock: it, or when its count
 * is full a copy of it of the reader's own (item_copy). */
static inline struct item *
item_hold(struct item *it)
{
	return item_ref(it) ? it : item_copy(it);
}

#endif
