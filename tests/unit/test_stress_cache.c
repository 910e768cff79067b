/* A randomized, seeded stress of the store, checked against a model.
 * THREADS threads hammer the whole API while a maint thread reclaims in a
 * loop; the memory limit is small and values reach the item limit, so
 * eviction runs all the time. Each thread owns its keys and keeps an exact
 * model of them, allowing what a cache may do and nothing else: a miss
 * anywhere (eviction, another thread's flush_all), a hit only with the
 * latest value written, never after certain expiry, arithmetic and
 * append/prepend exactly, CAS answers that follow from the cas read, CAS
 * uniques naming one stored version each, references keeping their bytes,
 * and a refusal for want of memory only of a large item while others are
 * in flight. At the end the counters agree with the answers, the memory
 * counted never passed the limit, deleting every key leaves nothing, and
 * the idle store takes an item of any size.
 *
 * A second case moves pages between size classes (slabs reassign) while
 * threads set and read many keys of several sizes: a hit always has the
 * key's bytes, the limit holds, and pages did move. A third shifts the
 * sizes written while threads read, so pages move on demand and go to
 * the global pool, items rescued under the readers.
 *
 * Seeds: a fixed list, or STRESS_SEED=N for one. STRESS_SECONDS is the run
 * time of them all (default 6), for long runs: STRESS_SECONDS=1800. Every
 * failure names the seed, the thread, the operation and the key's last
 * operations, so it can be replayed. */
#include <check.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cache.h"
#include "counter.h"
#include "stress.h"
#include "unit.h"

#define THREADS  4
#define KEYS     50
#define LIMIT    (8u << 20)
#define ITEM_MAX (1u << 20)
/* Seconds after its expiry that an item may still be seen. */
#define SLACK 2
/* Items kept referenced across later operations are at most this large,
 * so the references pin a bounded share of the limit. */
#define HELD_MAX (64u << 10)
/* Items up to this size are never refused for want of memory: whatever
 * the other threads hold in flight, the store can evict for them. Larger
 * ones may be while requests in flight pin memory (each thread may hold
 * two items of up to ITEM_MAX during an append); once the store is idle,
 * it must take an item of any size. */
#define SMALL_MAX (64u << 10)
/* Operations per thread whatever the clock says: the checks at the end do
 * not depend on how fast the machine is. */
#define MIN_OPS 1000
/* CAS log entries per thread; enough for minutes of running. */
#define CASLOG_MAX (1u << 20)
#define HIST       8

static const uint64_t default_seeds[] = {1, 2};
/* Set by the first failure: every thread stops, the report comes fast. */
static _Atomic bool stopping;
static uint64_t seeds[2];
static int nseeds;
static double seed_seconds;

enum op {
	OP_SET,
	OP_SETNUM,
	OP_ADD,
	OP_REPLACE,
	OP_APPEND,
	OP_PREPEND,
	OP_CAS,
	OP_GET,
	OP_GETS,
	OP_GAT,
	OP_TOUCH,
	OP_INCR,
	OP_DECR,
	OP_DELETE,
	OP_ABANDON,
	OP_FLUSH,
	OP_FLUSH_LATER,
	OP_LIMIT,
	OP_COUNT
};

static const char *const op_names[OP_COUNT] = {"set", "setnum", "add",
    "replace", "append", "prepend", "cas", "get", "gets", "gat", "touch",
    "incr", "decr", "delete", "abandon", "flush_all", "flush_all_later",
    "set_limit"};
/* Weights of the common operations; the rare ones are drawn apart. */
static const unsigned op_weights[OP_ABANDON + 1] = {
    20, 6, 6, 6, 5, 5, 8, 16, 8, 5, 4, 5, 5, 6, 1};

static const char *const res_names[] = {"OK", "STORED", "NOT_STORED", "EXISTS",
    "NOT_FOUND", "NO_MEMORY", "TOO_LARGE", "NON_NUMERIC"};

struct hist {
	enum op op;
	int res; /* a cache_result; reads and flushes report OK */
	uint32_t ver;
	size_t len;
	time_t exp, now;
};

struct key_model {
	bool present; /* written by us, not removed since as far as we know */
	struct stress_value v;
	time_t exp;        /* absolute; 0 never */
	uint32_t ver;      /* the version of v */
	uint32_t next_ver; /* every write attempt gets a fresh one */
	uint64_t cas; /* this version's cas once a gets saw it; 0 unknown */
	struct hist hist[HIST];
	unsigned nhist;
};

struct worker {
	pthread_t thread;
	int id;
	uint64_t seed, rng;
	long long deadline_ms;
	long ops;
	struct cache_stats st, want;
	struct key_model keys[KEYS];
	char key[KEYS][CACHE_KEY_MAX + 1];
	size_t nkey[KEYS];
	char *buf, *expect; /* ITEM_MAX each */
	struct stress_caslog *log;
	size_t nlog;
	struct item *held;
	struct stress_value held_v;
	int held_key, held_left;
	int limit_left;
	uint64_t hits, cas_stored, arith_hits;
	char error[3072];
};

struct maint {
	pthread_t thread;
	_Atomic bool stop;
	struct cache_stats st;
	uint64_t mapped_max; /* the most memory seen counted against limit */
};

/* A failure message naming everything needed to replay and understand
 * it; only the first failure of a thread is kept. */
static void
model_fail(struct worker *w, int k, const char *fmt, ...)
{
	size_t n;
	va_list ap;

	if (w->error[0] != '\0')
		return;
	atomic_store(&stopping, true);
	n = (size_t)snprintf(w->error, sizeof w->error,
	    "seed %" PRIu64 " thread %d op %ld key %.40s: ", w->seed, w->id,
	    w->ops, k >= 0 ? w->key[k] : "-");
	va_start(ap, fmt);
	n += (size_t)vsnprintf(w->error + n, sizeof w->error - n, fmt, ap);
	va_end(ap);
	if (k < 0)
		return;
	for (unsigned i = w->keys[k].nhist > HIST ? w->keys[k].nhist - HIST : 0;
	     i < w->keys[k].nhist && n < sizeof w->error; i++) {
		const struct hist *h = &w->keys[k].hist[i % HIST];

		n += (size_t)snprintf(w->error + n, sizeof w->error - n,
		    "\n  then %s -> %s ver=%" PRIu32
		    " len=%zu exp=%lld now=%lld",
		    op_names[h->op], res_names[h->res], h->ver, h->len,
		    (long long)h->exp, (long long)h->now);
	}
}

/* Remember what happened to key k for a later failure message. */
static void
note(struct worker *w, int k, enum op op, enum cache_result res, time_t now)
{
	struct key_model *m = &w->keys[k];
	struct hist *h = &m->hist[m->nhist++ % HIST];

	*h = (struct hist){.op = op,
	    .res = (int)res,
	    .ver = m->ver,
	    .len = m->present ? m->v.len : 0,
	    .exp = m->exp,
	    .now = now};
}

/* The bytes the model expects for v, into dst; its length. */
static size_t
value_render(
    const struct worker *w, int k, const struct stress_value *v, char *dst)
{
	return stress_value_render(v, 't', w->id, k, dst);
}

/* Does the item hold value v? Numbers compare as numbers after trailing
 * spaces, as incr and decr keep a value's length. */
static bool
value_check(struct worker *w, int k, const struct stress_value *v,
    struct item *it, const char *what)
{
	const char *got = item_value(it);
	size_t len = value_render(w, k, v, w->expect);

	if (item_flags(it) != v->flags) {
		model_fail(w, k, "%s: flags %" PRIu32 ", want %" PRIu32, what,
		    item_flags(it), v->flags);
		return false;
	}
	if (stress_value_is(v, w->expect, len, got, item_nbytes(it)))
		return true;
	if (v->numeric)
		model_fail(w, k, "%s: value '%.*s', want the number %s", what,
		    (int)(item_nbytes(it) < 40 ? item_nbytes(it) : 40), got,
		    w->expect);
	else
		model_fail(w, k, "%s: %zu bytes '%.*s', want %zu bytes '%.*s'",
		    what, item_nbytes(it),
		    (int)(item_nbytes(it) < 40 ? item_nbytes(it) : 40), got,
		    len, (int)(len < 40 ? len : 40), w->expect);
	return false;
}

/* May key k be found now? Written and not removed by us, and not
 * certainly expired. */
static bool
hit_ok(const struct key_model *m, time_t now)
{
	return m->present && (m->exp == 0 || now < m->exp + SLACK);
}

/* A hit where the model allows none fails; true when allowed. */
static bool
hit_check(struct worker *w, int k, time_t now, const char *what)
{
	const struct key_model *m = &w->keys[k];

	if (hit_ok(m, now))
		return true;
	if (m->present)
		model_fail(w, k, "%s: hit %lld s after expiry at %lld", what,
		    (long long)(now - m->exp), (long long)m->exp);
	else
		model_fail(
		    w, k, "%s: hit on a key deleted or never stored", what);
	return false;
}

/* A hit read through cache_get: allowed, and exactly the model's value. */
static bool
hit_read(struct worker *w, int k, struct item *it, time_t now, const char *what)
{
	w->hits++;
	if (it->nkey != w->nkey[k] ||
	    memcmp(item_key(it), w->key[k], w->nkey[k]) != 0) {
		model_fail(w, k, "%s: the item of key '%.*s'", what,
		    (int)(it->nkey < 40 ? it->nkey : 40), item_key(it));
		return false;
	}
	return hit_check(w, k, now, what) &&
	       value_check(w, k, &w->keys[k].v, it, what);
}

/* The key is surely not in the store now: a later hit is an error. */
static void
model_gone(struct key_model *m)
{
	m->present = false;
	m->cas = 0;
}

/* A gets saw cas for key k's current version: one cas per version, and
 * logged for the check across threads. */
static void
cas_seen(struct worker *w, int k, uint64_t cas)
{
	struct key_model *m = &w->keys[k];

	if (cas == 0) {
		model_fail(w, k, "gets: a hit without a cas");
		return;
	}
	if (m->cas != 0 && m->cas != cas) {
		model_fail(w, k,
		    "gets: cas %" PRIu64 ", but this version had %" PRIu64
		    " and nothing wrote it since",
		    cas, m->cas);
		return;
	}
	if (m->cas == 0 && w->nlog < CASLOG_MAX)
		w->log[w->nlog++] = (struct stress_caslog){.cas = cas,
		    .owner = (uint32_t)(w->id * KEYS + k),
		    .ver = m->ver};
	m->cas = cas;
}

/* A value size up to max: mostly small (log-uniform to 64 KiB), some
 * empty, some at or just below the limit. */
static size_t
size_pick(struct worker *w, size_t max)
{
	unsigned r = (unsigned)(stress_rnd(&w->rng) % 100);
	size_t n;

	if (r < 5)
		return 0;
	if (r < 10) /* the limit itself, or just below */
		n = stress_rnd(&w->rng) % 2 ? 0 : stress_rnd(&w->rng) % 4096;
	else if (r < 14)
		n = stress_rnd(&w->rng) % (max / 2 + 1);
	else /* log-uniform up to 64 KiB */
		return stress_rnd(&w->rng) %
		       ((size_t)1 << (1 + stress_rnd(&w->rng) % 16)) %
		       (max + 1);
	return n > max ? 0 : max - n;
}

/* An expiry: mostly none, some already past, some a second or two
 * away (near enough to expire during the run), some far. */
static time_t
ttl_pick(struct worker *w, time_t now)
{
	switch (stress_rnd(&w->rng) % 20) {
	case 0:
	case 1:
		return cache_exptime(
		    -1 - (long long)(stress_rnd(&w->rng) % 1000), now);
	case 2:
	case 3:
		return cache_exptime(1, now);
	case 4:
	case 5:
		return cache_exptime(2, now);
	case 6:
		return cache_exptime(1000, now);
	default:
		return 0;
	}
}

/* Client flags: zero or any 32 bits, kept through every update. */
static uint32_t
flags_pick(struct worker *w)
{
	return stress_rnd(&w->rng) % 2 ? 0 : (uint32_t)stress_rnd(&w->rng);
}

/* The next operation, by weight; flush_all and set_limit rarely, as
 * they disturb every thread. */
static enum op
op_pick(struct worker *w)
{
	unsigned total = 0, r;
	int i;

	r = (unsigned)(stress_rnd(&w->rng) % 10000);
	if (r < 2)
		return OP_FLUSH;
	if (r < 4)
		return OP_FLUSH_LATER;
	if (r < 8 && w->id == 0)
		return OP_LIMIT;
	for (i = 0; i <= OP_ABANDON; i++)
		total += op_weights[i];
	r = (unsigned)(stress_rnd(&w->rng) % total);
	for (i = 0; r >= op_weights[i]; i++)
		r -= op_weights[i];
	return (enum op)i;
}

/* Allocate and store key k's bytes w->buf[0..len); the result, with
 * an allocation failure as the caller's to judge. */
static enum cache_result
put(struct worker *w, int k, enum cache_store_op op, size_t len, uint32_t flags,
    time_t exp, uint64_t cas)
{
	enum cache_result res;
	struct item *it =
	    cache_alloc(w->key[k], w->nkey[k], flags, exp, len, &res, &w->st);

	if (it == NULL)
		return res;
	memcpy(item_value(it), w->buf, len);
	return cache_store(it, op, cas, &w->st);
}

/* An answer the model does not allow for op. */
static void
unexpected(struct worker *w, int k, enum op op, enum cache_result res)
{
	model_fail(w, k, "%s answered %s", op_names[op], res_names[res]);
}

/* Append and prepend answer NOT_STORED for a miss and for a joined value
 * they found no memory for; the joined value fits the limit here and is
 * small enough never to be refused, so the key must be gone. */
static void
joined_probe(struct worker *w, int k, enum op op, size_t len, time_t now)
{
	struct item *it = cache_get(w->key[k], w->nkey[k], false, 0, &w->st);

	if (it == NULL) {
		model_gone(&w->keys[k]);
		return;
	}
	if (hit_read(w, k, it, now, "get after a joined store"))
		model_fail(w, k,
		    "%s answered NOT_STORED, but the key is there: no memory "
		    "for the joined value of %zu bytes",
		    op_names[op], w->keys[k].v.len + len);
	cache_release(it);
}

/* set, add, replace and cas of a new value, append and prepend of a new
 * segment: the answer against the model, which then follows it. */
static void
do_store(struct worker *w, int k, enum op op, time_t now)
{
	struct key_model *m = &w->keys[k];
	size_t max = ITEM_MAX - w->nkey[k];
	struct stress_value v = {.flags = flags_pick(w)};
	time_t exp = ttl_pick(w, now);
	uint32_t ver = ++m->next_ver;
	bool joined = op == OP_APPEND || op == OP_PREPEND;
	bool wrong_cas = false;
	enum cache_store_op sop;
	enum cache_result res;
	uint64_t cas = 0;
	size_t len;

	if (joined && m->present &&
	    (m->v.numeric || m->v.nseg == STRESS_SEGS_MAX || m->v.len == max))
		op = OP_SET;
	joined = op == OP_APPEND || op == OP_PREPEND;
	if (op == OP_CAS) {
		/* A cas from an earlier gets of this version, or a fresh gets;
		 * now and then one known to be wrong. */
		if (m->cas != 0 && stress_rnd(&w->rng) % 2)
			cas = m->cas;
		else {
			struct item *it =
			    cache_get(w->key[k], w->nkey[k], false, 0, &w->st);

			if (it == NULL) {
				model_gone(m);
				note(w, k, OP_GETS, CACHE_NOT_FOUND, now);
				return;
			}
			if (hit_read(w, k, it, now, "gets before cas"))
				cas_seen(w, k, it->cas);
			cache_release(it);
			cas = m->cas;
			note(w, k, OP_GETS, CACHE_OK, now);
			if (w->error[0] != '\0')
				return;
		}
		wrong_cas = stress_rnd(&w->rng) % 8 == 0;
		if (wrong_cas)
			cas ^= 1 + stress_rnd(&w->rng) % 1000;
	}
	if (op == OP_SETNUM) {
		v.numeric = true;
		v.num = stress_num_pick(&w->rng);
		len = (size_t)sprintf(w->buf, "%" PRIu64, v.num);
		v.len = len;
	} else {
		if (joined && m->present)
			max -= m->v.len;
		v.nseg = 1;
		v.seg[0] = (struct stress_seg){
		    .ver = ver, .len = (uint32_t)size_pick(w, max)};
		v.len = len = v.seg[0].len;
		value_render(w, k, &v, w->buf);
	}
	sop = op == OP_ADD       ? CACHE_ADD
	      : op == OP_REPLACE ? CACHE_REPLACE
	      : op == OP_APPEND  ? CACHE_APPEND
	      : op == OP_PREPEND ? CACHE_PREPEND
	      : op == OP_CAS     ? CACHE_CAS
	                         : CACHE_SET;
	res = put(w, k, sop, len, v.flags, exp, cas);
	if (res == CACHE_NO_MEMORY && len > SMALL_MAX) {
		/* Nothing was stored: the old value stays. */
		note(w, k, op, res, now);
		return;
	}
	if (res == CACHE_TOO_LARGE || res == CACHE_NO_MEMORY) {
		model_fail(w, k, "%s of %zu bytes (limit %u with the key): %s",
		    op_names[op], len, ITEM_MAX, res_names[res]);
		return;
	}
	switch (op) {
	case OP_SET:
	case OP_SETNUM:
		if (res != CACHE_STORED)
			unexpected(w, k, op, res);
		break;
	case OP_ADD:
		/* Not stored: a hit, which leaves the old value in place. */
		if (res == CACHE_NOT_STORED)
			hit_check(w, k, now, "add");
		else if (res != CACHE_STORED)
			unexpected(w, k, op, res);
		break;
	case OP_REPLACE:
	case OP_APPEND:
	case OP_PREPEND:
		if (res == CACHE_STORED)
			hit_check(w, k, now, op_names[op]);
		else if (res != CACHE_NOT_STORED)
			unexpected(w, k, op, res);
		else if (!joined || !m->present)
			model_gone(m);
		else if (m->v.len + len <= SMALL_MAX)
			joined_probe(w, k, op, len, now);
		/* Else maybe refused for memory: the old value may stay. */
		break;
	default: /* OP_CAS: nothing else writes this key */
		if (res == CACHE_NOT_FOUND)
			model_gone(m);
		else if (res == (wrong_cas ? CACHE_EXISTS : CACHE_STORED))
			hit_check(w, k, now, "cas");
		else
			model_fail(w, k,
			    "cas with %s cas %" PRIu64 " answered %s",
			    wrong_cas ? "a wrong" : "the right", cas,
			    res_names[res]);
		stat_add(res == CACHE_STORED   ? &w->want.cas_hits
		         : res == CACHE_EXISTS ? &w->want.cas_badval
		                               : &w->want.cas_misses,
		    1);
		w->cas_stored += res == CACHE_STORED;
		break;
	}
	if (res == CACHE_STORED) {
		if (op == OP_APPEND) {
			m->v.seg[m->v.nseg++] = v.seg[0];
			m->v.len += len;
		} else if (op == OP_PREPEND) {
			memmove(&m->v.seg[1], &m->v.seg[0],
			    (size_t)m->v.nseg * sizeof m->v.seg[0]);
			m->v.seg[0] = v.seg[0];
			m->v.nseg++;
			m->v.len += len;
		} else {
			m->v = v;
			m->exp = exp;
		}
		m->present = true;
		m->ver = ver;
		m->cas = 0;
	}
	note(w, k, op, res, now);
}

/* get, gets and gat: a miss, or exactly the model's value. */
static void
do_read(struct worker *w, int k, enum op op, time_t now)
{
	struct key_model *m = &w->keys[k];
	time_t exp = op == OP_GAT ? ttl_pick(w, now) : 0;
	struct item *it = cache_get(w->key[k], w->nkey[k], op == OP_GAT,
	    op == OP_GAT ? exp : 0, &w->st);

	if (it == NULL) {
		model_gone(m);
		note(w, k, op, CACHE_NOT_FOUND, now);
		return;
	}
	if (hit_read(w, k, it, now, op_names[op]) && op == OP_GETS)
		cas_seen(w, k, it->cas);
	if (op == OP_GAT)
		m->exp = exp;
	note(w, k, op, CACHE_OK, now);
	/* Keep a small one referenced for a while: its bytes must survive
	 * whatever happens to the key meanwhile. */
	if (w->held == NULL && item_nbytes(it) <= HELD_MAX &&
	    stress_rnd(&w->rng) % 4 == 0) {
		w->held = it;
		w->held_v = m->v;
		w->held_key = k;
		w->held_left = 1 + (int)(stress_rnd(&w->rng) % 16);
		return;
	}
	cache_release(it);
}

/* touch: a hit takes the new expiry, a miss means gone. */
static void
do_touch(struct worker *w, int k, time_t now)
{
	struct key_model *m = &w->keys[k];
	time_t exp = ttl_pick(w, now);
	enum cache_result res = cache_touch(w->key[k], w->nkey[k], exp, &w->st);

	if (res == CACHE_OK) {
		if (hit_check(w, k, now, "touch"))
			m->exp = exp;
	} else if (res == CACHE_NOT_FOUND)
		model_gone(m);
	else
		unexpected(w, k, OP_TOUCH, res);
	note(w, k, OP_TOUCH, res, now);
}

/* incr and decr: the model's number plus or minus delta, wrapping and
 * flooring as memcached; NON_NUMERIC only for a value that is not one. */
static void
do_arith(struct worker *w, int k, enum op op, time_t now)
{
	struct key_model *m = &w->keys[k];
	bool incr = op == OP_INCR;
	uint64_t delta = stress_num_pick(&w->rng), got = 0, want;
	enum cache_result res =
	    cache_arith(w->key[k], w->nkey[k], incr, delta, &got, &w->st);

	if (res == CACHE_NOT_FOUND) {
		model_gone(m);
		stat_add(incr ? &w->want.incr_misses : &w->want.decr_misses, 1);
	} else if (res == CACHE_NON_NUMERIC) {
		if (hit_check(w, k, now, op_names[op]) && m->v.numeric)
			model_fail(w, k, "%s of %" PRIu64 ": non-numeric",
			    op_names[op], m->v.num);
	} else if (res == CACHE_OK) {
		stat_add(incr ? &w->want.incr_hits : &w->want.decr_hits, 1);
		w->arith_hits++;
		want = incr ? m->v.num + delta
		            : (delta > m->v.num ? 0 : m->v.num - delta);
		if (hit_check(w, k, now, op_names[op]) && !m->v.numeric)
			model_fail(w, k,
			    "%s of a non-numeric value answered %" PRIu64,
			    op_names[op], got);
		else if (got != want)
			model_fail(w, k,
			    "%s %" PRIu64 " of %" PRIu64 ": %" PRIu64
			    ", want %" PRIu64,
			    op_names[op], delta, m->v.num, got, want);
		m->v.num = got;
		m->ver = ++m->next_ver;
		m->cas = 0;
	} else
		unexpected(w, k, op, res);
	note(w, k, op, res, now);
}

/* delete: a hit only where one is allowed; gone either way. */
static void
do_delete(struct worker *w, int k, time_t now)
{
	enum cache_result res = cache_delete(w->key[k], w->nkey[k], &w->st);

	if (res == CACHE_OK) {
		hit_check(w, k, now, "delete");
		stat_add(&w->want.delete_hits, 1);
	} else if (res == CACHE_NOT_FOUND)
		stat_add(&w->want.delete_misses, 1);
	else
		unexpected(w, k, OP_DELETE, res);
	model_gone(&w->keys[k]);
	note(w, k, OP_DELETE, res, now);
}

/* An item allocated and dropped unstored, as for a client that leaves
 * mid-value; and one too large, refused. */
static void
do_abandon(struct worker *w, int k)
{
	size_t max = ITEM_MAX - w->nkey[k];
	enum cache_result res;
	size_t len = size_pick(w, max);
	struct item *it =
	    cache_alloc(w->key[k], w->nkey[k], 0, 0, len, &res, &w->st);

	if (it != NULL)
		cache_release(it);
	else if (res != CACHE_NO_MEMORY || len <= SMALL_MAX)
		model_fail(w, k, "alloc of %zu bytes: %s", len, res_names[res]);
	it = cache_alloc(w->key[k], w->nkey[k], 0, 0, max + 1, &res, &w->st);
	if (it != NULL || res != CACHE_TOO_LARGE)
		model_fail(w, k, "alloc of one byte over the limit: %s",
		    it ? "an item" : res_names[res]);
}

/* The held reference still shows the bytes it was read with. */
static void
held_drop(struct worker *w)
{
	value_check(w, w->held_key, &w->held_v, w->held, "held reference");
	cache_release(w->held);
	w->held = NULL;
}

/* One random operation on one random key of this thread. */
static void
step(struct worker *w)
{
	int k = (int)(stress_rnd(&w->rng) % KEYS);
	time_t now = cache_now();
	enum op op = op_pick(w);

	switch (op) {
	case OP_GET:
	case OP_GETS:
	case OP_GAT:
		do_read(w, k, op, now);
		break;
	case OP_TOUCH:
		do_touch(w, k, now);
		break;
	case OP_INCR:
	case OP_DECR:
		do_arith(w, k, op, now);
		break;
	case OP_DELETE:
		do_delete(w, k, now);
		break;
	case OP_ABANDON:
		do_abandon(w, k);
		break;
	case OP_FLUSH:
		/* Everything this thread stored before is gone. */
		cache_flush_all(0);
		for (int i = 0; i < KEYS; i++) {
			model_gone(&w->keys[i]);
			note(w, i, op, CACHE_OK, now);
		}
		break;
	case OP_FLUSH_LATER:
		cache_flush_all(now + 1 + (time_t)(stress_rnd(&w->rng) % 2));
		break;
	case OP_LIMIT:
		cache_set_limit(LIMIT / 4 * 3);
		w->limit_left = 50;
		break;
	default:
		do_store(w, k, op, now);
		break;
	}
	if (w->limit_left > 0 && --w->limit_left == 0)
		cache_set_limit(LIMIT);
	if (w->held != NULL && --w->held_left == 0)
		held_drop(w);
	w->ops++;
}

/* A thread: operations until the deadline and at least MIN_OPS, or the
 * first model violation. */
static void *
worker_main(void *arg)
{
	struct worker *w = arg;

	while (!atomic_load(&stopping) &&
	       (w->ops < MIN_OPS || stress_now_ms() < w->deadline_ms))
		step(w);
	if (w->held != NULL)
		held_drop(w);
	if (w->limit_left > 0)
		cache_set_limit(LIMIT);
	return NULL;
}

/* What the maint thread does, as often as it can, while the workers
 * run; it also watches the memory counted against the limit. */
static void *
maint_main(void *arg)
{
	struct maint *mt = arg;
	struct timespec pause = {0, 200 * 1000};
	struct cache_totals t;

	while (!atomic_load(&mt->stop)) {
		cache_reclaim(64, &mt->st);
		cache_totals(&t);
		if (t.mapped > mt->mapped_max)
			mt->mapped_max = t.mapped;
		nanosleep(&pause, NULL);
	}
	return NULL;
}

/* No cas unique names two stored versions, across all threads. */
static void
check_cas_unique(uint64_t seed, const struct worker *ws)
{
	struct stress_caslog *logs[THREADS];
	size_t counts[THREADS];

	for (int i = 0; i < THREADS; i++) {
		logs[i] = ws[i].log;
		counts[i] = ws[i].nlog;
	}
	stress_cas_unique(seed, "thread", KEYS, logs, counts, THREADS);
}

/* The counters the model can predict exactly, per thread. */
static void
check_counters(uint64_t seed, struct worker *w)
{
#define CHECK_COUNTER(f)                                                       \
	ck_assert_msg(stat_get(&w->st.f) == stat_get(&w->want.f),              \
	    "seed %" PRIu64 " thread %d: " #f " %" PRIu64 ", want %" PRIu64,   \
	    seed, w->id, stat_get(&w->st.f), stat_get(&w->want.f));
	CHECK_COUNTER(delete_hits)
	CHECK_COUNTER(delete_misses)
	CHECK_COUNTER(incr_hits)
	CHECK_COUNTER(incr_misses)
	CHECK_COUNTER(decr_hits)
	CHECK_COUNTER(decr_misses)
	CHECK_COUNTER(cas_hits)
	CHECK_COUNTER(cas_badval)
	CHECK_COUNTER(cas_misses)
#undef CHECK_COUNTER
}

/* Idle, the store takes an item of any size. */
static void
idle_store(uint64_t seed, size_t len)
{
	enum cache_result res;
	struct item *it = cache_alloc("idle", 4, 0, 0, len, &res, NULL);

	if (it != NULL) {
		memset(item_value(it), 'i', len);
		res = cache_store(it, CACHE_SET, 0, NULL);
	}
	ck_assert_msg(res == CACHE_STORED,
	    "seed %" PRIu64 ": idle, an item of %zu bytes: %s", seed, len,
	    res_names[res]);
}

/* A thread's keys (some long, one the longest allowed), generator and
 * buffers. */
static void
worker_init(struct worker *w, int id, uint64_t seed, long long deadline)
{
	memset(w, 0, sizeof *w);
	w->id = id;
	w->seed = seed;
	w->rng = (seed + 1) * 0x9E3779B97F4A7C15ull ^ (uint64_t)(id + 1) << 56;
	w->deadline_ms = deadline;
	for (int k = 0; k < KEYS; k++) {
		/* Every tenth key is long; one is the longest allowed. */
		int n =
		    snprintf(w->key[k], sizeof w->key[k], "st%d:%d:", id, k);

		if (k % 10 == 9) {
			memset(w->key[k] + n, 'x',
			    (size_t)(CACHE_KEY_MAX - k - n));
			n = CACHE_KEY_MAX - k;
		}
		w->key[k][n] = '\0';
		w->nkey[k] = (size_t)n;
	}
	w->buf = malloc(ITEM_MAX);
	w->expect = malloc(ITEM_MAX + 32);
	w->log = malloc(CASLOG_MAX * sizeof *w->log);
	ck_assert(w->buf && w->expect && w->log);
}

/* A small store: eviction runs all the time. */
static void
setup(void)
{
	ck_assert_int_eq(cache_init(&(struct cache_config){
	                     .limit = LIMIT, .item_max = ITEM_MAX}),
	    0);
}

/* Whatever the test left in the store goes. */
static void
teardown(void)
{
	cache_free();
}

/* One seed: the threads and maint run, then every check. */
START_TEST(test_stress)
{
	static struct worker ws[THREADS];
	uint64_t seed = seeds[_i], hits = 0, cas_stored = 0, arith = 0;
	uint64_t evictions = 0;
	long long deadline = stress_now_ms() + (long long)(seed_seconds * 1000);
	struct maint mt = {0};
	struct cache_stats st = {0};
	struct cache_totals t;
	int i;

	ck_assert_int_eq(pthread_create(&mt.thread, NULL, maint_main, &mt), 0);
	for (i = 0; i < THREADS; i++) {
		worker_init(&ws[i], i, seed, deadline);
		ck_assert_int_eq(
		    pthread_create(&ws[i].thread, NULL, worker_main, &ws[i]),
		    0);
	}
	for (i = 0; i < THREADS; i++)
		pthread_join(ws[i].thread, NULL);
	atomic_store(&mt.stop, true);
	pthread_join(mt.thread, NULL);
	for (i = 0; i < THREADS; i++)
		ck_assert_msg(ws[i].error[0] == '\0', "%s", ws[i].error);
	check_cas_unique(seed, ws);
	for (i = 0; i < THREADS; i++) {
		check_counters(seed, &ws[i]);
		hits += ws[i].hits;
		cas_stored += ws[i].cas_stored;
		arith += ws[i].arith_hits;
		evictions += stat_get(&ws[i].st.evictions);
	}
	/* A store that always misses passes every check above; one that
	 * never fills never evicts. The limit (never above LIMIT here) holds
	 * whatever the mix of sizes. */
	ck_assert_msg(hits > 0 && cas_stored > 0 && arith > 0 && evictions > 0,
	    "seed %" PRIu64 ": %" PRIu64 " hits, %" PRIu64
	    " cas stored, %" PRIu64 " incr/decr hits, %" PRIu64 " evictions",
	    seed, hits, cas_stored, arith, evictions);
	ck_assert_msg(mt.mapped_max <= LIMIT,
	    "seed %" PRIu64 ": %" PRIu64 " bytes counted against a limit of %u",
	    seed, mt.mapped_max, LIMIT);
	/* Every key deleted: nothing is left once reclaimed. */
	for (i = 0; i < THREADS; i++)
		for (int k = 0; k < KEYS; k++)
			cache_delete(ws[i].key[k], ws[i].nkey[k], &st);
	for (int pass = 0; pass < 16 && cache_reclaim(1u << 20, &st) > 0;
	     pass++)
		;
	cache_totals(&t);
	ck_assert_msg(t.curr_items == 0 && t.bytes == 0,
	    "seed %" PRIu64 ": %" PRIu64 " items of %" PRIu64
	    " bytes left after deleting every key",
	    seed, t.curr_items, t.bytes);
	ck_assert_uint_eq(t.limit, LIMIT);
	idle_store(seed, 1);
	idle_store(seed, ITEM_MAX - 4);
	for (i = 0; i < THREADS; i++) {
		free(ws[i].buf);
		free(ws[i].expect);
		free(ws[i].log);
	}
}
END_TEST

#define MOVE_KEYS   4000
#define MOVE_LIMIT  (16u << 20)
#define MOVE_ROUNDS 20000

struct mover {
	_Atomic bool stop;
	uint64_t rng, moves, busy;
	uint64_t mapped_max;
};

/* Key i's value: its length and bytes follow from i alone. */
static size_t
move_value(int i, char *buf)
{
	size_t len = 100 + (size_t)(i % 7) * 700;

	for (size_t j = 0; j < len; j++)
		buf[j] = (char)('a' + (i + (int)j) % 26);
	return len;
}

/* Sets and gets over MOVE_KEYS keys; a hit must hold the key's bytes. */
static void *
move_worker(void *arg)
{
	uint64_t rng = (uint64_t)(uintptr_t)arg * 0x9E3779B97F4A7C15ull + 1;
	static _Thread_local char want[8192];
	char key[32];
	long bad = 0;

	for (int r = 0; r < MOVE_ROUNDS; r++) {
		int i = (int)(stress_rnd(&rng) % MOVE_KEYS);
		size_t len = move_value(i, want);
		int n = snprintf(key, sizeof key, "mv%d", i);
		enum cache_result res;
		struct item *it;

		if (stress_rnd(&rng) % 2) {
			it = cache_alloc(key, (size_t)n, 0, 0, len, &res, NULL);
			if (it != NULL) {
				memcpy(item_value(it), want, len);
				cache_store(it, CACHE_SET, 0, NULL);
			}
		} else if ((it = cache_get(key, (size_t)n, false, 0, NULL))) {
			bad += item_nbytes(it) != len ||
			       memcmp(item_value(it), want, len) != 0;
			cache_release(it);
		}
	}
	return (void *)(intptr_t)bad;
}

/* Moves pages from the class holding most to a random one, as fast as
 * it can, and watches the memory counted. */
static void *
move_mover(void *arg)
{
	struct mover *m = arg;
	struct cache_stats st = {0};
	struct cache_totals t;

	while (!atomic_load(&m->stop)) {
		int dst = 1 + (int)(stress_rnd(&m->rng) % 40);
		enum cache_reassign r = cache_reassign(-1, dst, &st);

		m->moves += r == CACHE_REASSIGN_OK;
		m->busy += r == CACHE_REASSIGN_BUSY;
		cache_totals(&t);
		if (t.mapped > m->mapped_max)
			m->mapped_max = t.mapped;
	}
	return NULL;
}

/* Page moves under concurrent sets and gets: no torn or foreign value,
 * the limit holds, pages moved. */
START_TEST(test_stress_page_moves)
{
	pthread_t th[THREADS], mt;
	struct mover m = {.rng = 42};
	long bad = 0;

	cache_free();
	ck_assert_int_eq(cache_init(&(struct cache_config){
	                     .limit = MOVE_LIMIT, .item_max = ITEM_MAX}),
	    0);
	ck_assert_int_eq(pthread_create(&mt, NULL, move_mover, &m), 0);
	for (int i = 0; i < THREADS; i++)
		ck_assert_int_eq(pthread_create(&th[i], NULL, move_worker,
		                     (void *)(uintptr_t)(i + 1)),
		    0);
	for (int i = 0; i < THREADS; i++) {
		void *rv;

		pthread_join(th[i], &rv);
		bad += (long)(intptr_t)rv;
	}
	atomic_store(&m.stop, true);
	pthread_join(mt, NULL);
	ck_assert_msg(bad == 0, "%ld reads saw a wrong value", bad);
	ck_assert_msg(m.moves > 0, "no page moved (%" PRIu64 " busy)", m.busy);
	ck_assert_msg(m.mapped_max <= MOVE_LIMIT,
	    "%" PRIu64 " bytes counted against a limit of %u", m.mapped_max,
	    MOVE_LIMIT);
}
END_TEST

/* The size shift under threads: keys of old sizes are written, then only
 * read and deleted while new sizes are written, so the old classes go
 * idle and their pages move on demand (compacted, or cold ones taken) and
 * at the ticks of a maint-like thread, items rescued while others read
 * them. */
#define SHIFT_MS 1500

struct shifter {
	_Atomic bool stop;
	_Atomic bool shifted; /* the workers write the new sizes */
	uint64_t mapped_max;
	unsigned pooled;
};

/* Key PREFIXi's value; its length follows from i and the size set. */
static size_t
shift_value(const char *prefix, int i, char *buf)
{
	size_t len = prefix[0] == 'o' ? 100 + (size_t)(i % 4) * 900
	                              : 4000 + (size_t)(i % 3) * 1100;

	for (size_t j = 0; j < len; j++)
		buf[j] = (char)('a' + (prefix[0] + i + (int)j) % 26);
	return len;
}

static void *
shift_worker(void *arg)
{
	struct shifter *sh = arg;
	uint64_t rng = (uint64_t)(uintptr_t)&rng | 1;
	static _Thread_local char want[8192];
	char key[32];
	long bad = 0;

	while (!atomic_load(&sh->stop)) {
		bool shifted = atomic_load(&sh->shifted);
		int i = (int)(stress_rnd(&rng) % MOVE_KEYS);
		unsigned op = (unsigned)(stress_rnd(&rng) % 8);
		const char *prefix = shifted && op < 4 ? "new" : "old";
		size_t len = shift_value(prefix, i, want);
		int n = snprintf(key, sizeof key, "%s%d", prefix, i);
		enum cache_result res;
		struct item *it;

		if (op < 2 || (!shifted && op < 4)) {
			it = cache_alloc(key, (size_t)n, 0, 0, len, &res, NULL);
			if (it != NULL) {
				memcpy(item_value(it), want, len);
				cache_store(it, CACHE_SET, 0, NULL);
			}
		} else if (shifted && op == 7)
			cache_delete(key, (size_t)n, NULL);
		else if ((it = cache_get(key, (size_t)n, false, 0, NULL))) {
			bad += item_nbytes(it) != len ||
			       memcmp(item_value(it), want, len) != 0;
			cache_release(it);
		}
	}
	return (void *)(intptr_t)bad;
}

/* maint's part: the rebalance tick, often; watches the memory counted. */
static void *
shift_ticker(void *arg)
{
	struct shifter *sh = arg;
	struct cache_stats st = {0};
	struct cache_totals t;

	while (!atomic_load(&sh->stop)) {
		sh->pooled += cache_rebalance_tick(&st);
		cache_totals(&t);
		if (t.mapped > sh->mapped_max)
			sh->mapped_max = t.mapped;
		nanosleep(&(struct timespec){0, 5 * 1000 * 1000}, NULL);
	}
	return NULL;
}

START_TEST(test_stress_size_shift)
{
	pthread_t th[THREADS], tt;
	struct shifter sh = {0};
	long bad = 0;

	cache_free();
	ck_assert_int_eq(cache_init(&(struct cache_config){
	                     .limit = MOVE_LIMIT, .item_max = ITEM_MAX}),
	    0);
	ck_assert_int_eq(pthread_create(&tt, NULL, shift_ticker, &sh), 0);
	for (int i = 0; i < THREADS; i++)
		ck_assert_int_eq(
		    pthread_create(&th[i], NULL, shift_worker, &sh), 0);
	nanosleep(&(struct timespec){0, 500 * 1000 * 1000}, NULL);
	atomic_store(&sh.shifted, true);
	nanosleep(&(struct timespec){SHIFT_MS / 1000,
	              (SHIFT_MS % 1000) * 1000 * 1000},
	    NULL);
	atomic_store(&sh.stop, true);
	for (int i = 0; i < THREADS; i++) {
		void *rv;

		pthread_join(th[i], &rv);
		bad += (long)(intptr_t)rv;
	}
	pthread_join(tt, NULL);
	fprintf(stderr,
	    "size shift: %" PRIu64 " rescued, %" PRIu64
	    " evicted by moves, %u pages to the pool\n",
	    cache_reassign_rescued(), cache_reassign_evicted(), sh.pooled);
	ck_assert_msg(bad == 0, "%ld reads saw a wrong value", bad);
	ck_assert_msg(sh.mapped_max <= MOVE_LIMIT,
	    "%" PRIu64 " bytes counted against a limit of %u", sh.mapped_max,
	    MOVE_LIMIT);
}
END_TEST

/* One forked test per seed. */
int
main(void)
{
	const TTest *tests[] = {
	    test_stress_page_moves, test_stress_size_shift, NULL};

	nseeds = stress_seeds(seeds, default_seeds,
	    (int)(sizeof default_seeds / sizeof default_seeds[0]),
	    &seed_seconds);
	/* MIN_OPS under TSan on a slow machine, then the checks. */
	return unit_run(&(struct unit_suite){.name = "stress_cache",
	                    .setup = setup,
	                    .teardown = teardown,
	                    .timeout = seed_seconds + 120,
	                    .loop = test_stress,
	                    .loops = nseeds},
	    tests);
}
