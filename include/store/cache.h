/* The store: items keyed by up to 250 bytes, a memory limit with
 * eviction, CAS uniques and expiry. Shared by every worker: the hash table
 * is split into shards, each with its own lock, so workers touching
 * different keys do not contend. Plain functions, no sockets: the protocol
 * layer and the unit tests call them directly.
 *
 * Memory is pages of fixed-size chunks, one size class per page, as
 * memcached's slabs: whatever the mix of sizes, the memory in use never
 * passes the limit and never fragments. Items larger than half a page get
 * a mapping of their own, returned to the system when they go. Eviction
 * is per size class, CLOCK with a small use count (items read often
 * survive a sweep or three); the largest items leave oldest first. */
#ifndef TL_CACHE_H
#define TL_CACHE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#define CACHE_KEY_MAX 250
/* exptime values up to this many seconds are relative, as memcached. */
#define CACHE_REL_MAX (60 * 60 * 24 * 30)

/* An item's value is stored alone: the replies add its "\r\n". Readers
 * hold a reference (cache_get) and drop it with cache_release once the
 * bytes are written; the memory stays valid until then even if the item
 * is replaced or evicted meanwhile.
 *
 * The header is offsetof(struct item, data), 32 bytes (memcached's is 56
 * with its CAS): a 100-byte value under a 12-byte key fills a 144-byte
 * chunk, not 160 as with the 39 bytes it was. What it costs:
 * - client flags are stored only when not 0, after the value (flagged),
 *   4 bytes more: they never change once an item is made, so an item's
 *   size is known when it is allocated;
 * - the value's length is 24 bits, room for any chunk; an item with a
 *   mapping of its own (or a reader's copy) keeps its length in the
 *   header ahead of it, hence item_nbytes();
 * - refs is 16 bits, as memcached's refcount: a reader who finds it full
 *   gets a copy of the item of its own (cache_get and cache_mget do this;
 *   it takes 65,535 replies pending at once on one item);
 * - the "\r\n" is not stored: the replies append it from a constant.
 * exptime and atime stay in every item: touch and gat change exptime in
 * place, and atime is every item's (flush, mg's l, me's la). */
struct item {
	struct item *hnext; /* hash chain; the free list while free */
	uint64_t cas;
	uint32_t exptime;      /* unix seconds; 0 never */
	uint32_t atime;        /* last access, unix seconds (mg's l, me's la) */
	_Atomic uint16_t refs; /* the table's and the readers' */
	_Atomic uint8_t state; /* ITEM_* bits in cache_int.h */
	uint8_t nkey;
	/* Written when the chunk is taken and the item made, read only
	 * while it is held or linked. */
	uint32_t cls : 7;     /* size class, or CACHE_CLASS_COPY or _LARGE */
	uint32_t flagged : 1; /* flags (not 0) follow the value */
	/* The value's length, in a chunk; in a reader's copy the class id
	 * of the item it copies. */
	uint32_t len : 24;
	char data[]; /* key, then value, then flags if flagged */
};

/* Not a chunk of a class: a reader's copy (malloc'd) and an item with a
 * mapping of its own. Both have a header ahead of them (cache_int.h's
 * struct large) that holds their length. */
#define CACHE_CLASS_COPY  0x7e
#define CACHE_CLASS_LARGE 0x7f

/* The length of an item that is not in a chunk. */
size_t cache_item_far_nbytes(const struct item *);

static inline const char *
item_key(const struct item *it)
{
	return it->data;
}

static inline char *
item_value(struct item *it)
{
	return it->data + it->nkey;
}

/* The value's length. */
static inline size_t
item_nbytes(const struct item *it)
{
	return it->cls < CACHE_CLASS_COPY ? it->len : cache_item_far_nbytes(it);
}

/* The client flags, stored only when not 0 (unaligned after the value). */
static inline uint32_t
item_flags(const struct item *it)
{
	uint32_t f = 0;

	if (it->flagged)
		memcpy(&f, it->data + it->nkey + item_nbytes(it), sizeof f);
	return f;
}

/* The item's size class as memcached numbers them, from 1; items with a
 * mapping of their own are 0, as memcached's huge items are. */
static inline unsigned
item_class_id(const struct item *it)
{
	if (it->cls == CACHE_CLASS_COPY)
		return it->len;
	return it->cls == CACHE_CLASS_LARGE ? 0 : it->cls + 1u;
}

/* memcached_exporter's one family of every command's outcome. */
#define CACHE_HELP_COMMANDS                                                    \
	"Total number of all requests broken down by command (get, set, "      \
	"etc.) and status."
#define CACHE_PROM_CMD(c, s)                                                   \
	.prom = "memcached_commands_total",                                    \
	.labels = "command=\"" c "\",status=\"" s "\"",                        \
	.help = CACHE_HELP_COMMANDS

/* Per-thread counters, memcached's names and order, written by one
 * thread (the caller's), summed by stats. One row each, as
 * CONN_COUNTERS_ROWS in conn.h: X(field, COUNTER or GAUGE, its names in
 * the reports obs renders: .stat in "stats", .thread in "stats threads",
 * .prom and .labels in /metrics, with .help). "stats" and a worker's
 * "stats threads" lines go by their order. A row is all it takes to add
 * one. */
#define CACHE_STATS_ROWS(X)                                                    \
	X(cmd_get, COUNTER, .stat = "cmd_get", .thread = "cmd_get",            \
	    .help = "Get requests: each key of a get counts.")                 \
	X(cmd_set, COUNTER, .stat = "cmd_set", .thread = "cmd_set",            \
	    CACHE_PROM_CMD("set", "hit"))                                      \
	X(cmd_flush, COUNTER, .stat = "cmd_flush", .thread = "cmd_flush",      \
	    CACHE_PROM_CMD("flush", "hit"))                                    \
	X(cmd_touch, COUNTER, .stat = "cmd_touch", .thread = "cmd_touch",      \
	    .help = "Touch requests.")                                         \
	X(cmd_meta, COUNTER, .stat = "cmd_meta", .thread = "cmd_meta",         \
	    .help = "Meta requests.")                                          \
	X(get_hits, COUNTER, .stat = "get_hits", .thread = "get_hits",         \
	    CACHE_PROM_CMD("get", "hit"))                                      \
	X(get_misses, COUNTER, .stat = "get_misses", .thread = "get_misses",   \
	    CACHE_PROM_CMD("get", "miss"))                                     \
	X(get_expired, COUNTER, .stat = "get_expired",                         \
	    .thread = "get_expired",                                           \
	    .help = "Gets that found the item expired.")                       \
	X(get_flushed, COUNTER, .stat = "get_flushed",                         \
	    .thread = "get_flushed",                                           \
	    .help = "Gets that found the item flushed.")                       \
	X(delete_misses, COUNTER, .stat = "delete_misses",                     \
	    .thread = "delete_misses", CACHE_PROM_CMD("delete", "miss"))       \
	X(delete_hits, COUNTER, .stat = "delete_hits",                         \
	    .thread = "delete_hits", CACHE_PROM_CMD("delete", "hit"))          \
	X(incr_misses, COUNTER, .stat = "incr_misses",                         \
	    .thread = "incr_misses", CACHE_PROM_CMD("incr", "miss"))           \
	X(incr_hits, COUNTER, .stat = "incr_hits", .thread = "incr_hits",      \
	    CACHE_PROM_CMD("incr", "hit"))                                     \
	X(decr_misses, COUNTER, .stat = "decr_misses",                         \
	    .thread = "decr_misses", CACHE_PROM_CMD("decr", "miss"))           \
	X(decr_hits, COUNTER, .stat = "decr_hits", .thread = "decr_hits",      \
	    CACHE_PROM_CMD("decr", "hit"))                                     \
	X(cas_misses, COUNTER, .stat = "cas_misses", .thread = "cas_misses",   \
	    CACHE_PROM_CMD("cas", "miss"))                                     \
	X(cas_hits, COUNTER, .stat = "cas_hits", .thread = "cas_hits",         \
	    CACHE_PROM_CMD("cas", "hit"))                                      \
	X(cas_badval, COUNTER, .stat = "cas_badval", .thread = "cas_badval",   \
	    CACHE_PROM_CMD("cas", "badval"))                                   \
	X(touch_hits, COUNTER, .stat = "touch_hits", .thread = "touch_hits",   \
	    CACHE_PROM_CMD("touch", "hit"))                                    \
	X(touch_misses, COUNTER, .stat = "touch_misses",                       \
	    .thread = "touch_misses", CACHE_PROM_CMD("touch", "miss"))         \
	X(store_too_large, COUNTER, .stat = "store_too_large",                 \
	    .thread = "store_too_large",                                       \
	    .help = "Stores refused: larger than the item size limit.")        \
	X(store_no_memory, COUNTER, .stat = "store_no_memory",                 \
	    .thread = "store_no_memory",                                       \
	    .help = "Stores refused: no memory, nothing to evict.")            \
	X(auth_cmds, COUNTER, .stat = "auth_cmds", .thread = "auth_cmds",      \
	    .help = "Authentication requests.")                                \
	X(auth_errors, COUNTER, .stat = "auth_errors",                         \
	    .thread = "auth_errors", .help = "Authentications refused.")       \
	X(total_items, COUNTER, .stat = "total_items",                         \
	    .thread = "total_items", .prom = "memcached_items_total",          \
	    .help = "Total number of items stored during the life of this "    \
	            "instance.")                                               \
	X(expired_unfetched, COUNTER, .stat = "expired_unfetched",             \
	    .thread = "expired_unfetched",                                     \
	    .help = "Items that expired never read.")                          \
	X(evicted_unfetched, COUNTER, .stat = "evicted_unfetched",             \
	    .thread = "evicted_unfetched",                                     \
	    .help = "Items evicted never read.")                               \
	X(evictions, COUNTER, .stat = "evictions", .thread = "evictions",      \
	    .prom = "memcached_items_evicted_total",                           \
	    .help = "Total number of valid items removed from cache to free "  \
	            "memory for new items.")                                   \
	X(reclaimed, COUNTER, .stat = "reclaimed", .thread = "reclaimed",      \
	    .prom = "memcached_items_reclaimed_total",                         \
	    .help = "Total number of times an entry was stored using memory "  \
	            "from an expired entry.")                                  \
	X(crawler_reclaimed, COUNTER, .stat = "crawler_reclaimed",             \
	    .thread = "crawler_reclaimed",                                     \
	    .help = "Expired items the crawler removed.")                      \
	X(slabs_moved, COUNTER, .stat = "slabs_moved",                         \
	    .thread = "slabs_moved", .help = "Pages moved between classes.")   \
	X(response_obj_oom, COUNTER, .stat = "response_obj_oom",               \
	    .thread = "response_obj_oom",                                      \
	    .help =                                                            \
	        "Gets refused: no reply buffer left (read_buf_mem_limit).")

struct cache_stats {
#define CACHE_STATS_FIELD(f, ...) _Atomic uint64_t f;
	CACHE_STATS_ROWS(CACHE_STATS_FIELD)
#undef CACHE_STATS_FIELD
};

enum cache_store_op {
	CACHE_SET,
	CACHE_ADD,
	CACHE_REPLACE,
	CACHE_APPEND,
	CACHE_PREPEND,
	CACHE_CAS,
	/* ms with C and I: a cas, and when the given cas is older than the
	 * item's, stored anyway but marked stale, keeping its expiry */
	CACHE_CAS_STALE,
};

enum cache_result {
	CACHE_OK, /* deleted, touched, counted (incr/decr), allocated */
	CACHE_STORED,
	CACHE_NOT_STORED,
	CACHE_EXISTS,
	CACHE_NOT_FOUND,
	CACHE_NO_MEMORY, /* full and nothing could be evicted (or -M) */
	CACHE_TOO_LARGE, /* larger than the item size limit */
	CACHE_NON_NUMERIC,
};

struct cache_config {
	size_t limit;    /* bytes */
	size_t item_max; /* largest key + value accepted */
	bool no_evict;   /* -M */
	bool no_cas;     /* -C: flush_all cannot tell items apart by CAS */
	/* Seconds: an item expiring this soon is never evicted; 0: off. */
	int temporary_ttl;
	unsigned nshards; /* power of two; 0 picks a default */
};

int cache_init(const struct cache_config *);
void cache_free(void);

/* The largest key + value length accepted (-I). */
size_t cache_item_max(void);
/* Seconds since the epoch as the cache sees it (coarse clock). */
time_t cache_now(void);
/* memcached's exptime rules: 0 never, up to 30 days relative, larger is
 * absolute, negative already expired (returned as 1, a time long past). */
time_t cache_exptime(long long, time_t now);

/* A new unlinked item with room for nbytes of value (CACHE_OK); NULL when
 * it could never fit (CACHE_TOO_LARGE) or no memory could be found for it
 * (CACHE_NO_MEMORY). Making room evicts other items, never one being
 * stored; st counts the evictions. The caller fills item_value() then
 * calls cache_store, which consumes the reference. */
struct item *cache_alloc(const char *key, size_t nkey, uint32_t flags,
    time_t exptime, size_t nbytes, enum cache_result *, struct cache_stats *);
/* Link it under op's rules: CACHE_STORED, or memcached's NOT_STORED,
 * EXISTS (a cas that does not match) or NOT_FOUND (a cas of a missing
 * key). A nonzero cas also guards append and prepend, as memcached's. */
enum cache_result cache_store(
    struct item *, enum cache_store_op, uint64_t cas, struct cache_stats *);

/* Every look-up by key below (and cache_store's, cache_debug's) removes
 * the key's expired or flushed item and counts it in st's get_expired or
 * get_flushed, as memcached's do_item_get. */

/* A live item with a reference held, or NULL. Counts hits and misses in
 * st. exptime >= 0 also sets a new expiry (gat). */
struct item *cache_get(
    const char *, size_t, bool touch, time_t exptime, struct cache_stats *);
void cache_release(struct item *);

/* CACHE_OK, or CACHE_NOT_FOUND. */
enum cache_result cache_delete(const char *, size_t, struct cache_stats *);
/* What a failed set does to the old value: removed, counted as a look-up
 * and not as a delete. */
void cache_drop(const char *, size_t, struct cache_stats *);
/* A new expiry; CACHE_OK, or CACHE_NOT_FOUND. */
enum cache_result cache_touch(
    const char *, size_t, time_t exptime, struct cache_stats *);
/* incr/decr: CACHE_OK with the new value in *value, CACHE_NOT_FOUND or
 * CACHE_NON_NUMERIC; when the number outgrows the value and no item can
 * hold it, what cache_alloc said (*value set, nothing stored). */
enum cache_result cache_arith(const char *, size_t, bool incr, uint64_t delta,
    uint64_t *value, struct cache_stats *);
/*
 * What memcached's meta commands (mg, ms, md, ma, me) need beyond the
 * classic ones: an item's last access and whether it was read, a stale
 * mark (md I, ms C I) and a "win" handed out once to the client that is to
 * recache it (mg N, R; answered W, then Z to the others).
 */

/* mg: how to look up and what to change; times are absolute (cache_exptime). */
struct cache_mget {
	bool vivify;           /* N: create an empty item on a miss */
	time_t vivify_exptime; /* the created item's expiry */
	bool touch;            /* T: set exptime on a hit */
	time_t exptime;
	bool recache;             /* R: win when the expiry is before this */
	time_t recache_time;      /* (0: never) */
	bool recache_after_touch; /* R looks at T's expiry, not the old one */
	bool no_bump;             /* u: not a use: no fetched mark, no access */
};

/* What mg saw, before it changed anything. */
struct cache_mget_info {
	bool created;    /* vivified by this request */
	bool won;        /* W: this request is to recache */
	bool token_sent; /* Z: an earlier request was handed the win */
	bool stale;      /* X */
	bool fetched;    /* h */
	bool binary_key; /* stored by a request with a base64 key */
	uint64_t cas;
	uint32_t la;      /* seconds since the last access */
	uint32_t exptime; /* before T (0 for a created item) */
};

/* mg: the item with a reference held, or NULL; counts as get or, with T,
 * as touch. */
struct item *cache_mget(const char *, size_t, const struct cache_mget *,
    struct cache_mget_info *, struct cache_stats *);
/* ms with a base64 key: its k flag answers in base64. On a new unlinked
 * item. */
void cache_item_mark_binary_key(struct item *);
/* What a store found under its key, read under the key's lock: memcached
 * logs a store's look-up as a fetch. */
struct cache_seen {
	bool found;
	unsigned cls; /* item_class_id() */
	uint32_t nbytes;
};
/* cache_store, also giving the stored item's CAS in *cas_out (0 when not
 * stored) and, if seen is not NULL, what it found before. */
enum cache_result cache_store_cas(struct item *, enum cache_store_op,
    uint64_t cas, uint64_t *cas_out, struct cache_seen *seen,
    struct cache_stats *);
/* md: delete, or with stale mark it stale (a new CAS, the win token
 * cleared, exptime when touch). CACHE_OK, CACHE_NOT_FOUND, or
 * CACHE_EXISTS when has_cas and the item's CAS is another. */
enum cache_result cache_mdelete(const char *, size_t, bool has_cas,
    uint64_t cas, bool stale, bool touch, time_t exptime, struct cache_stats *);

/* ma: incr or decr by delta; a nonzero cas must match. On a miss with
 * vivify, created holding initial with vivify_exptime. touch sets exptime
 * on success. */
struct cache_marith {
	bool incr;
	uint64_t delta;
	uint64_t cas;
	bool vivify;
	uint64_t initial;
	time_t vivify_exptime;
	bool touch;
	time_t exptime;
};
struct cache_marith_info {
	uint64_t value;   /* the new value */
	uint64_t cas;     /* the item's new CAS */
	uint32_t exptime; /* before T (0 for a created item) */
	bool created;
	bool missed; /* the key was not there (created or not) */
};
/* CACHE_OK, CACHE_NOT_FOUND, CACHE_EXISTS, CACHE_NON_NUMERIC, or what
 * cache_alloc said when no item could hold the number. */
enum cache_result cache_marith(const char *, size_t,
    const struct cache_marith *, struct cache_marith_info *,
    struct cache_stats *);

/* me, dumps: an item's internals, without using it. */
struct cache_debug {
	uint32_t exptime, atime;
	uint32_t nbytes; /* the value's */
	uint64_t cas;
	bool fetched, binary_key;
	unsigned cls; /* size class, from 1 as memcached's slab ids */
	size_t size;  /* header, key, value and flags */
	char key[CACHE_KEY_MAX];
	size_t nkey;
};
/* false on a miss. */
bool cache_debug(
    const char *, size_t, struct cache_debug *, struct cache_stats *);

/* flush_all DELAY, as memcached's: DELAY 0 or below flushes now, up to
 * 30 days is relative, above an absolute time (one before the start
 * flushes nothing). Nothing is removed here: an item is flushed when it
 * is looked at (memcached's oldest_live). A delayed flush takes effect in
 * the second before DELAY's and takes the items used in that second too,
 * as does a flush at once under -C. An earlier flush's items stay
 * flushed whatever flush comes next (memcached's may come back). */
void cache_flush_all(time_t delay);
/* Change the limit at run time; evicts down to it. */
void cache_set_limit(size_t);

/* Remove expired and flushed items; returns how many. The maint thread
 * calls this; each call looks at up to budget hash buckets per shard,
 * going on where the previous call stopped. A flush's items are left for
 * a second or two after it takes effect, for the reads that follow it to
 * find and count. */
size_t cache_reclaim(unsigned budget, struct cache_stats *);

/* Reclaim the dead (expired, flushed) items of each class while left[]
 * (indexed by memcached's class id, item_class_id(): 0 the large items)
 * allows, one item looked at taking one, in the buckets of shards [from,
 * to): memcached's "lru_crawler crawl" (its tocrawl bound); NULL: every
 * class, no bound. Counted as the crawler's in the classes and in st.
 * Returns how many went; *checked (if not NULL) gets how many were looked
 * at. One shard lock at a time, none held on return. */
size_t cache_crawl(unsigned *left, unsigned from, unsigned to, size_t *checked,
    struct cache_stats *);
unsigned cache_shard_count(void);

/* "slabs reassign SRC DST": memcached's answers. */
enum cache_reassign {
	CACHE_REASSIGN_OK,
	CACHE_REASSIGN_BUSY,     /* another move runs, or the page is in use */
	CACHE_REASSIGN_BADCLASS, /* no such class */
	CACHE_REASSIGN_NOSPARE,  /* the source has fewer than two pages */
	CACHE_REASSIGN_SAME,
};
/* Move a page from class src to class dst (memcached's ids: 1 up; 0 the
 * global page pool; src -1: the class with most pages). The page's items
 * move to free chunks of their class where there are any (rescued), the
 * others are evicted, as memcached's are, and its memory returns to the
 * limit; one being read or written makes the move BUSY (the items already
 * moved or evicted stay so). dst gets a fresh page unless it is still carving
 * its last one, which the freed memory then lets it finish. st counts
 * slabs_moved. */
enum cache_reassign cache_reassign(int src, int dst, struct cache_stats *);
/* Pages given to the global pool (dst 0, or by cache_rebalance_tick)
 * and not taken back by a class growing. */
unsigned cache_pool_pages(void);
/* Moves refused busy so far (memcached's slab_reassign_busy_items) and
 * items evicted by moves (slab_reassign_evictions_nomem). */
uint64_t cache_reassign_busy(void);
uint64_t cache_reassign_evicted(void);
/* Items moved to a free chunk of their class when their page left it
 * (memcached's slab_reassign_rescues). */
uint64_t cache_reassign_rescued(void);
/*
 * Rebalancing on demand, as a production cache must do it within a
 * burst: a class at its share that is out of chunks first takes a page
 * whose items fit in the free chunks of their class's other pages (they
 * move there), else a page of an idle class (no store into it for half a
 * second) none of whose items were read since its CLOCK hand last
 * passed, and only then evicts its own. On unless
 * cache_rebalance_enable(false) (slabs automove 0).
 */
void cache_rebalance_enable(bool);
/* Once a second (maint): returns the pages of idle classes holding more
 * than two pages' worth of free chunks to the global pool, their items
 * moved; returns how many. */
unsigned cache_rebalance_tick(struct cache_stats *);
/* Whether memcached's class id (1 up) is idle, as rebalancing sees it. */
bool cache_class_idle(int);
/* Pages of memcached's class id (1 up); 0 for none. */
unsigned cache_class_pages(int);
/* The classes' evictions by their own CLOCK for stores of their size (not
 * those of page moves), indexed by memcached's id, n entries at most;
 * returns how many were written. For automove. */
unsigned cache_class_evictions(uint64_t *, unsigned n);

struct cache_totals {
	uint64_t curr_items;
	uint64_t bytes; /* what the items hold: headers, keys, values, flags */
	uint64_t limit;
	uint64_t mapped; /* pages and large items: what counts against limit */
	uint64_t pages;
	uint64_t page_size;
};
void cache_totals(struct cache_totals *);

/* One size class, as "stats slabs" and "stats items" show it. The last
 * class is the items too large for a chunk, each in a mapping of its own:
 * it has items and counters, no chunks or pages. */
struct cache_class_stats {
	size_t chunk_size;
	unsigned chunks_per_page;
	unsigned pages; /* of address space; malloced is what they cost */
	uint64_t total_chunks;
	uint64_t used_chunks;     /* holding an item, linked or being read */
	uint64_t free_chunks;     /* given back, on the free list */
	uint64_t free_chunks_end; /* never used yet, at the last page's end */
	uint64_t malloced;        /* bytes counted against the limit */
	uint64_t items;           /* linked */
	uint64_t mem_requested;   /* what the items hold: headers, keys, values,
	                             flags */
	uint64_t evicted;         /* live items that left to make room */
	uint64_t evicted_nonzero; /* of which had an expiry */
	uint64_t evicted_unfetched;
	uint64_t reclaimed; /* dead items whose memory a store took */
	uint64_t expired_unfetched;
	uint64_t crawler_reclaimed;     /* removed by cache_reclaim */
	uint64_t crawler_items_checked; /* looked at by cache_reclaim */
	uint64_t lrutail_reflocked; /* eviction's victims passed over: read */
	uint64_t outofmemory;       /* stores that found no memory */
	uint64_t evicted_time; /* seconds the last evicted item went unread */
};
/* Classes, the large items' included; numbered from 0. */
int cache_class_count(void);
/* A snapshot of class cls; -1 when there is none. */
int cache_class_stats(int, struct cache_class_stats *);
/* Mappings the system refused (stores that then found no memory). */
uint64_t cache_alloc_fails(void);
/* Up to limit (0: all) linked items of class cls, to fn in no particular
 * order: copies, taken under the locks and handed over once they are let
 * go. Items whose shard is busy are passed over. Returns how many fn
 * saw. */
typedef void (*cache_dump_fn)(void *, const struct cache_debug *);
unsigned cache_class_dump(int, unsigned, cache_dump_fn, void *);

/* Where a walk of the whole table stands: a shard, a bucket in it and
 * how many items of that bucket's chain were seen. Zeroed: the start. */
struct cache_dump_cursor {
	unsigned shard;
	size_t bucket;
	size_t skip;
};
/* Copy up to cap linked items of the classes want takes (indexed by
 * item_class_id(); NULL: all) from the cursor on, moving it past them;
 * as memcached's metadump, not the flushed ones nor the expired;
 * a shard's lock is held only while copying, a few thousand buckets at a
 * time. Fewer than cap: the walk is over. Items stored or removed
 * meanwhile may be seen or not, as in memcached's crawler. */
size_t cache_dump_next(
    struct cache_dump_cursor *, const bool *, struct cache_debug *, size_t);

#endif
