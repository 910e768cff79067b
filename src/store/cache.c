/* The store's operations: start, get, store, arith, delete, flush. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cache_int.h"
#include "cache_table.h"
#include "counter.h"
#include "xmalloc.h"

struct cache_root cache;

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

/* The times an operation lets its shard's lock go for memory before it
 * evicts under the lock: a bound on lost races, never reached alone. */
#define SPARE_ROUNDS 4

/*
 * An item an operation needs while it holds its key's shard lock. Under
 * the lock it takes memory's one try (cache_alloc_held), never eviction,
 * which every reader of the shard would wait on; when memory has no room
 * it says what it wants (want), lets the lock go while cache_alloc makes
 * one, evicting for it (spare_make), then looks the key up again and does
 * it all again with the item in hand.
 */
struct spare {
	struct item *it; /* made by cache_alloc, not used yet */
	size_t nbytes;
	uint32_t flags;
	time_t exptime;
	enum cache_result res; /* what cache_alloc said */
	bool want;             /* memory had no room under the lock */
	bool failed;           /* nor had cache_alloc for nbytes */
	int rounds;
};

/* An item of key with room for nbytes of value, for a caller holding
 * the key's shard lock: the spare when it is of that size, else memory's
 * one try. NULL, with sp->want set when memory had no room. */
static struct item *
spare_alloc(struct spare *sp, const char *key, size_t nkey, uint32_t flags,
    time_t exptime, size_t nbytes, enum cache_result *res,
    struct cache_stats *st)
{
	struct item *it = sp->it;

	/* Of that size: flags (not 0) take 4 bytes. */
	if (it != NULL && item_nbytes(it) == nbytes &&
	    it->flagged == (flags != 0)) {
		sp->it = NULL;
		item_put_flags(it, flags);
		it->exptime = (uint32_t)exptime;
		*res = CACHE_OK;
		return it;
	}
	if (sp->failed && sp->nbytes == nbytes &&
	    (sp->flags != 0) == (flags != 0)) {
		*res = sp->res;
		return NULL;
	}
	if (sp->rounds >= SPARE_ROUNDS)
		return cache_alloc(key, nkey, flags, exptime, nbytes, res, st);
	it = cache_alloc_held(key, nkey, flags, exptime, nbytes, res);
	if (it == NULL && *res == CACHE_NO_MEMORY) {
		sp->want = true;
		sp->nbytes = nbytes;
		sp->flags = flags;
		sp->exptime = exptime;
	}
	return it;
}

/* Let s's lock go and make the item sp wants, evicting if need be; hold
 * (the item the operation works on, or NULL) keeps a reference meanwhile
 * so that it is not what goes. The caller looks its key up again. */
static void
spare_make(struct shard *s, struct spare *sp, struct item *hold,
    const char *key, size_t nkey, struct cache_stats *st)
{
	/* A full count holds it as well: no reference is needed then. */
	if (hold != NULL && !item_ref(hold))
		hold = NULL;
	shard_unlock(s);
	if (sp->it != NULL)
		cache_release(sp->it);
	sp->it = cache_alloc(
	    key, nkey, sp->flags, sp->exptime, sp->nbytes, &sp->res, st);
	sp->failed = sp->it == NULL;
	sp->want = false;
	sp->rounds++;
	if (hold != NULL)
		cache_release(hold);
}

/* The spare the operation made and did not use goes back. */
static void
spare_drop(struct spare *sp)
{
	if (sp->it != NULL)
		cache_release(sp->it);
}

/* A copy of old's key, flags and expiry with room for nbytes of value;
 * old's shard lock held. */
static struct item *
item_dup(const struct item *old, size_t nbytes, struct spare *sp,
    enum cache_result *res, struct cache_stats *st)
{
	return spare_alloc(sp, item_key(old), old->nkey, item_flags(old),
	    old->exptime, nbytes, res, st);
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
 * joined value is too large or finds no memory (or sp wants it). Old's
 * shard lock held. */
static struct item *
store_join(struct item *old, struct item *part, bool append, struct spare *sp,
    struct cache_stats *st)
{
	struct item *head = append ? old : part, *tail = append ? part : old;
	enum cache_result res;
	struct item *nw =
	    item_dup(old, item_nbytes(old) + item_nbytes(part), sp, &res, st);

	if (nw == NULL)
		return NULL;
	memcpy(item_value(nw), item_value(head), item_nbytes(head));
	memcpy(item_value(nw) + item_nbytes(head), item_value(tail),
	    item_nbytes(tail));
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
	struct spare sp = {0};
	struct shard *s;
	enum gone gone;
	struct item **pp, *old, *joined;
	bool stale;
	enum cache_result res;

again:
	pp = shard_lock_find(item_key(it), it->nkey, now, &s, &gone, st);
	old = *pp;
	res = store_allowed(op, old, cas, &stale, st);

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
		    .nbytes = old ? (uint32_t)item_nbytes(old) : 0};
	if (res == CACHE_STORED &&
	    (op == CACHE_APPEND || op == CACHE_PREPEND)) {
		/* Too large or no memory for the joined value: memcached
		 * answers NOT_STORED. */
		joined = store_join(old, it, op == CACHE_APPEND, &sp, st);
		if (joined == NULL && sp.want) {
			spare_make(s, &sp, old, item_key(it), it->nkey, st);
			goto again;
		}
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
	shard_unlock(s);
	spare_drop(&sp);
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
		item_used(it, now, true);
		if (touch)
			it->exptime = (uint32_t)exptime;
		if (it->cls == CACHE_CLASS_LARGE)
			large_bump(it, now);
		it = item_hold(it);
	}
	shard_unlock(s);
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
	shard_unlock(s);
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
	shard_unlock(s);
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
	shard_unlock(s);
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
 * the "\r\n" memcached stores after it, which may stop at white space or
 * a NUL only (leading white space, a sign and leading zeros are fine:
 * " 12", "+5", "-0", "12 abc", "1\t2"), refused on overflow, and, as
 * safe_strtoull, when the number is negative as a signed one and the
 * string holds a '-'.
 * Scanned in place: a value may be a megabyte long.
 */
static bool
value_to_u64(const struct item *it, uint64_t *out)
{
	const char *p = it->data + it->nkey, *end = p + item_nbytes(it),
	           *digits;
	bool neg = false;
	uint64_t n = 0;

	if (p == end)
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
	/* Past memcached's value come "\r\n": white space, so a number
	 * ending the value ends well. */
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
    struct spare *sp, struct cache_stats *st)
{
	struct item *it = *pp, *nw;
	enum cache_result res = CACHE_OK;
	char num[24];
	size_t len =
	    (size_t)snprintf(num, sizeof num, "%llu", (unsigned long long)v);
	size_t keep = len <= item_nbytes(it) ? item_nbytes(it) : len;

	if (keep == item_nbytes(it) &&
	    atomic_load_explicit(&it->refs, memory_order_acquire) == 1) {
		memcpy(item_value(it), num, len);
		memset(item_value(it) + len, ' ', keep - len);
		it->cas = atomic_fetch_add(&cache.next_cas, 1) + 1;
	} else if ((nw = item_dup(it, keep, sp, &res, st)) != NULL) {
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
	struct spare sp = {0};
	struct shard *s;
	struct item **pp;
	enum cache_result res;
	uint64_t v;

again:
	pp = shard_lock_find(key, nkey, now, &s, NULL, st);
	if (*pp == NULL)
		res = CACHE_NOT_FOUND;
	else if (!value_to_u64(*pp, &v))
		res = CACHE_NON_NUMERIC;
	else {
		if (incr)
			v += delta; /* wraps at 2^64, as memcached */
		else
			v = delta > v ? 0 : v - delta;
		res = arith_write(s, pp, v, now, &sp, st);
		if (sp.want) {
			spare_make(s, &sp, *pp, key, nkey, st);
			goto again;
		}
		*value = v;
	}
	shard_unlock(s);
	spare_drop(&sp);
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
	struct spare sp = {0};
	struct shard *s;
	struct item **pp, *it;
	enum cache_result res;
	uint8_t state;

again:
	pp = shard_lock_find(key, nkey, now, &s, NULL, st);
	it = *pp;
	*info = (struct cache_mget_info){0};
	if (it == NULL && q->vivify) {
		it = spare_alloc(
		    &sp, key, nkey, 0, q->vivify_exptime, 0, &res, st);
		if (sp.want) {
			spare_make(s, &sp, NULL, key, nkey, st);
			goto again;
		}
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
		it = item_hold(it);
	}
	shard_unlock(s);
	spare_drop(&sp);
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
	shard_unlock(s);
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
    const struct cache_marith *q, time_t now, struct spare *sp,
    struct cache_stats *st)
{
	char num[24];
	size_t len = (size_t)snprintf(
	    num, sizeof num, "%llu", (unsigned long long)q->initial);
	enum cache_result res;
	struct item *it =
	    spare_alloc(sp, key, nkey, 0, q->vivify_exptime, len, &res, st);

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
	struct spare sp = {0};
	struct shard *s;
	struct item **pp;
	enum cache_result res = CACHE_OK;
	uint64_t v;

again:
	pp = shard_lock_find(key, nkey, now, &s, NULL, st);
	*info = (struct cache_marith_info){0};
	info->missed = *pp == NULL;
	if (*pp == NULL && q->vivify) {
		res = marith_create(s, pp, key, nkey, q, now, &sp, st);
		info->created = res == CACHE_OK;
		v = q->initial;
	} else if (*pp == NULL)
		res = CACHE_NOT_FOUND;
	/* memcached refuses an empty value before it compares the CAS, a
	 * value that is not a number after. */
	else if (item_nbytes(*pp) == 0)
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
		res = arith_write(s, pp, v, now, &sp, st);
	}
	if (sp.want) {
		spare_make(s, &sp, *pp, key, nkey, st);
		goto again;
	}
	if (res == CACHE_OK) {
		/* arith_write may have replaced the item: *pp is the new. */
		if (q->touch && !info->created)
			(*pp)->exptime = (uint32_t)q->exptime;
		info->value = v;
		info->cas = (*pp)->cas;
	}
	shard_unlock(s);
	spare_drop(&sp);
	if (st && !info->created &&
	    (res == CACHE_OK || res == CACHE_NOT_FOUND)) {
		bool hit = res == CACHE_OK;

		stat_add(q->incr ? (hit ? &st->incr_hits : &st->incr_misses)
		                 : (hit ? &st->decr_hits : &st->decr_misses),
		    1);
	}
	return res;
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
	shard_unlock(s);
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
cache_free(void)
{
	for (unsigned i = 0; i < cache.nshards; i++) {
		struct shard *s = &cache.shards[i];

		pthread_mutex_lock(&s->lock);
		for (size_t b = 0; b <= s->mask; b++)
			while (s->buckets[b] != NULL)
				shard_unlink(s, &s->buckets[b], s->buckets[b]);
		shard_unlock(s);
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
