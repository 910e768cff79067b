/* libFuzzer harness for the store: bytes pick operations, keys, sizes,
 * flags and expiry times, run in one thread against a fresh small cache
 * and a model of every key. A miss is always allowed (eviction), a hit
 * must be exactly the last value written, answers must follow from the
 * model, a reference must keep its bytes, CAS uniques must name one
 * version each, memory must stay within the limit, and deleting every key
 * must leave nothing. Any violation abort()s. */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cache.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

#define NKEYS    64
#define LIMIT    (4u << 20)
#define ITEM_MAX (256u << 10)
/* Seconds after its expiry that an item may still be seen. */
#define SLACK   2
#define CAS_LOG 1024

enum op {
	OP_SET,
	OP_ADD,
	OP_REPLACE,
	OP_APPEND,
	OP_PREPEND,
	OP_CAS,
	OP_CAS_WRONG,
	OP_GET,
	OP_GAT,
	OP_TOUCH,
	OP_INCR,
	OP_DECR,
	OP_DELETE,
	OP_SETNUM,
	OP_FLUSH,
	OP_FLUSH_LATER,
	OP_RECLAIM,
	OP_LIMIT,
	OP_HOLD,
	OP_ABANDON,
	OP_COUNT
};

/* What the model knows of a key's value: its bytes, or a number that
 * incr/decr wrote (padded with spaces to a length the store picks), or
 * nothing (an append to such a number). */
enum shape { SHAPE_BYTES, SHAPE_NUMBER, SHAPE_OPAQUE };

struct model {
	bool present;
	enum shape shape;
	uint64_t num;
	uint32_t flags;
	time_t exp;
	size_t len;
	uint8_t *val;
	uint32_t ver;
	uint64_t cas; /* this version's cas once read; 0 unknown */
};

struct input {
	const uint8_t *p;
	size_t n;
};

static struct model keys[NKEYS];
static char key_name[NKEYS][CACHE_KEY_MAX + 1];
static size_t key_len[NKEYS];
static uint8_t *scratch, *held_val;
static struct item *held;
static struct model held_model;
static unsigned held_key;
static struct cache_stats st;
static struct {
	uint64_t cas;
	unsigned key;
	uint32_t ver;
} cas_log[CAS_LOG];
static size_t ncas;

/* Up to four bytes of input as a number; zeros once it runs out. */
static uint32_t
take(struct input *in, unsigned bytes)
{
	uint32_t v = 0;

	for (unsigned i = 0; i < bytes && in->n > 0; i++, in->p++, in->n--)
		v |= (uint32_t)in->p[0] << (8 * i);
	return v;
}

/* Key names and the model's buffers, once for every input. */
static void
init_once(void)
{
	for (int k = 0; k < NKEYS; k++) {
		/* The last key is the longest allowed. */
		int n = snprintf(key_name[k], sizeof key_name[k], "k%d", k);

		if (k == NKEYS - 1) {
			memset(
			    key_name[k] + n, 'x', (size_t)(CACHE_KEY_MAX - n));
			n = CACHE_KEY_MAX;
		}
		key_name[k][n] = '\0';
		key_len[k] = (size_t)n;
		if ((keys[k].val = malloc(ITEM_MAX)) == NULL)
			abort();
	}
	if ((scratch = malloc(ITEM_MAX)) == NULL ||
	    (held_val = malloc(ITEM_MAX)) == NULL)
		abort();
}

/* A decimal number and nothing else, up to 20 digits that fit 64 bits:
 * what incr and decr surely take. Values that surely are not numbers are
 * empty or start with something else; the rest is left open. */
static int
number_of(const uint8_t *v, size_t n, uint64_t *out)
{
	char tmp[24], *end;

	if (n == 0 || v[0] < '0' || v[0] > '9')
		return 0;
	if (n > 20)
		return -1;
	for (size_t i = 0; i < n; i++)
		if (v[i] < '0' || v[i] > '9')
			return -1;
	memcpy(tmp, v, n);
	tmp[n] = '\0';
	errno = 0;
	*out = strtoull(tmp, &end, 10);
	return errno == 0 ? 1 : -1;
}

/* The item's value is the model's: exact bytes, or the number followed
 * by spaces only. */
static void
check_value(const struct model *m, unsigned k, struct item *it)
{
	const char *v = item_value(it);
	char num[24];
	size_t n;

	if (it->nkey != key_len[k] ||
	    memcmp(item_key(it), key_name[k], key_len[k]) != 0 ||
	    item_flags(it) != m->flags)
		abort();
	if (m->shape == SHAPE_BYTES &&
	    (item_nbytes(it) != m->len || memcmp(v, m->val, m->len) != 0))
		abort();
	if (m->shape != SHAPE_NUMBER)
		return;
	n = (size_t)snprintf(
	    num, sizeof num, "%llu", (unsigned long long)m->num);
	if (item_nbytes(it) < n || memcmp(v, num, n) != 0)
		abort();
	for (size_t i = n; i < item_nbytes(it); i++)
		if (v[i] != ' ')
			abort();
}

/* A hit must be allowed: stored, not removed, not certainly expired. */
static void
check_hit(const struct model *m, time_t now)
{
	if (!m->present || (m->exp != 0 && now >= m->exp + SLACK))
		abort();
}

/* A cas read for key k's current version: the same for the whole
 * version, and never one of another version. */
static void
saw_cas(unsigned k, uint64_t cas)
{
	struct model *m = &keys[k];

	if (cas == 0 || (m->cas != 0 && m->cas != cas))
		abort();
	if (m->cas != 0)
		return;
	for (size_t i = 0; i < ncas; i++)
		if (cas_log[i].cas == cas &&
		    (cas_log[i].key != k || cas_log[i].ver != m->ver))
			abort();
	if (ncas < CAS_LOG) {
		cas_log[ncas].cas = cas;
		cas_log[ncas].key = k;
		cas_log[ncas++].ver = m->ver;
	}
	m->cas = cas;
}

/* The key is surely not in the store now: a later hit aborts. */
static void
gone(struct model *m)
{
	m->present = false;
	m->cas = 0;
}

/* A new version of a key's model after a store. */
static void
wrote(struct model *m)
{
	m->present = true;
	m->ver++;
	m->cas = 0;
}

/* An expiry from a byte: none, already past, a second away or far. */
static time_t
ttl_of(uint32_t b, time_t now)
{
	switch (b % 6) {
	case 0:
		return cache_exptime(-1, now);
	case 1:
		return cache_exptime(1, now);
	case 2:
		return cache_exptime(1000, now);
	default:
		return 0;
	}
}

/* A size mostly small, some past the chunk sizes, some at the limit. */
static size_t
size_of(uint32_t b, size_t max)
{
	size_t n = b & 0x7fff;

	if (b & 0x8000)
		return n % 4096 > max ? 0 : max - n % 4096;
	return n > max ? max : n;
}

/* Bytes for version ver of key k: never digits first, so a value that
 * is not a number surely reads as one that is not. */
static void
fill(uint8_t *dst, size_t len, unsigned k, uint32_t ver)
{
	for (size_t i = 0; i < len; i++)
		dst[i] = (uint8_t)('a' + (k * 7 + ver * 13 + i) % 26);
}

/* Allocate key k with len bytes from src and store it with op. */
static enum cache_result
put(unsigned k, enum cache_store_op op, const uint8_t *src, size_t len,
    uint32_t flags, time_t exp, uint64_t cas)
{
	enum cache_result res;
	struct item *it =
	    cache_alloc(key_name[k], key_len[k], flags, exp, len, &res, &st);

	if (it == NULL) {
		/* Nothing but one held item is ever referenced: a cache
		 * that may evict always finds room. */
		if (res == CACHE_NO_MEMORY)
			abort();
		return res;
	}
	memcpy(item_value(it), src, len);
	return cache_store(it, op, cas, &st);
}

/* get, gat, and the read that holds a reference: a miss, or exactly
 * the model's value and this version's cas. */
static void
op_read(struct input *in, unsigned k, enum op op, time_t now)
{
	struct model *m = &keys[k];
	time_t exp = op == OP_GAT ? ttl_of(take(in, 1), now) : 0;
	struct item *it =
	    cache_get(key_name[k], key_len[k], op == OP_GAT, exp, &st);

	if (it == NULL) {
		gone(m);
		return;
	}
	/* The item of another key is the worst answer of all. */
	if (it->nkey != key_len[k] ||
	    memcmp(item_key(it), key_name[k], key_len[k]) != 0)
		abort();
	check_hit(m, now);
	check_value(m, k, it);
	saw_cas(k, it->cas);
	if (op == OP_GAT)
		m->exp = exp;
	if (op == OP_HOLD && held == NULL) {
		/* Kept until the next hold: its bytes must not change. */
		held = it;
		held_key = k;
		held_model = *m;
		held_model.val = held_val;
		memcpy(held_val, m->val, m->shape == SHAPE_BYTES ? m->len : 0);
		return;
	}
	cache_release(it);
}

/* set, add, replace, append, prepend and cas: the answer against the
 * model, which then follows it. */
static void
op_store(struct input *in, unsigned k, enum op op, time_t now)
{
	struct model *m = &keys[k];
	size_t max = ITEM_MAX - key_len[k];
	uint32_t flags = take(in, 1) * 0x01010101u;
	time_t exp = ttl_of(take(in, 1), now);
	size_t len = size_of(take(in, 2), max);
	bool joined = op == OP_APPEND || op == OP_PREPEND;
	enum cache_result res;
	uint64_t cas;

	if (joined && m->present &&
	    (m->shape == SHAPE_OPAQUE || len > max - m->len))
		op = OP_SET;
	joined = op == OP_APPEND || op == OP_PREPEND;
	if ((op == OP_CAS || op == OP_CAS_WRONG) && m->cas == 0) {
		/* A cas to send: read this version's first. */
		op_read(in, k, OP_GET, now);
		if (m->cas == 0)
			return;
	}
	cas = op == OP_CAS_WRONG ? m->cas ^ (1 + take(in, 1)) : m->cas;
	fill(scratch, len, k, m->ver + 1);
	res = put(k,
	    op == OP_ADD       ? CACHE_ADD
	    : op == OP_REPLACE ? CACHE_REPLACE
	    : op == OP_APPEND  ? CACHE_APPEND
	    : op == OP_PREPEND ? CACHE_PREPEND
	    : op == OP_SET     ? CACHE_SET
	                       : CACHE_CAS,
	    scratch, len, flags, exp, cas);
	switch (op) {
	case OP_SET:
		if (res != CACHE_STORED)
			abort();
		break;
	case OP_ADD:
		if (res == CACHE_NOT_STORED)
			check_hit(m, now);
		else if (res != CACHE_STORED)
			abort();
		break;
	case OP_CAS:
	case OP_CAS_WRONG:
		/* Nothing else changes the key: the cas read is right. */
		if (res == CACHE_NOT_FOUND)
			gone(m);
		else if (res == (op == OP_CAS ? CACHE_STORED : CACHE_EXISTS))
			check_hit(m, now);
		else
			abort();
		break;
	default: /* replace, append, prepend */
		if (res == CACHE_STORED)
			check_hit(m, now);
		else if (res != CACHE_NOT_STORED)
			abort();
		else if (!joined)
			gone(m);
		/* Append and prepend also answer NOT_STORED when they find
		 * no memory for the joined value: they may only evict from
		 * other shards than the key's, here a few. The old value
		 * may stay. */
		break;
	}
	if (res != CACHE_STORED)
		return;
	if (op == OP_APPEND) {
		if (m->shape == SHAPE_BYTES)
			memcpy(m->val + m->len, scratch, len);
		m->len += len;
	} else if (op == OP_PREPEND) {
		if (m->shape == SHAPE_BYTES) {
			memmove(m->val + len, m->val, m->len);
			memcpy(m->val, scratch, len);
		}
		m->len += len;
	} else {
		memcpy(m->val, scratch, len);
		m->len = len;
		m->shape = SHAPE_BYTES;
		m->flags = flags;
		m->exp = exp;
	}
	if (joined && m->shape == SHAPE_NUMBER)
		m->shape = SHAPE_OPAQUE;
	wrote(m);
}

/* A decimal number for incr and decr to work on. */
static void
op_setnum(struct input *in, unsigned k)
{
	struct model *m = &keys[k];
	uint64_t v = (uint64_t)take(in, 4) << 32 | take(in, 4);
	char num[24];
	size_t len = (size_t)snprintf(
	    num, sizeof num, "%llu", (unsigned long long)(v >> (v & 63)));

	if (put(k, CACHE_SET, (const uint8_t *)num, len, 0, 0, 0) !=
	    CACHE_STORED)
		abort();
	memcpy(m->val, num, len);
	m->len = len;
	m->shape = SHAPE_BYTES;
	m->flags = 0;
	m->exp = 0;
	wrote(m);
}

/* incr and decr: exact on a number, NON_NUMERIC on what surely is not
 * one, either on what the model leaves open. */
static void
op_arith(struct input *in, unsigned k, bool incr, time_t now)
{
	struct model *m = &keys[k];
	uint64_t delta = (uint64_t)take(in, 4) << (take(in, 1) & 32), got = 0,
	         v = m->num;
	int known = m->shape == SHAPE_NUMBER  ? 1
	            : m->shape == SHAPE_BYTES ? number_of(m->val, m->len, &v)
	                                      : -1;
	enum cache_result res =
	    cache_arith(key_name[k], key_len[k], incr, delta, &got, &st);

	if (res == CACHE_NOT_FOUND) {
		gone(m);
		return;
	}
	check_hit(m, now);
	if (res == CACHE_NON_NUMERIC) {
		if (known == 1)
			abort();
		return;
	}
	if (res != CACHE_OK || known == 0)
		abort();
	if (known == 1 && got != (incr ? v + delta : delta > v ? 0 : v - delta))
		abort();
	/* The store keeps at most the old length, padded: at most 20
	 * bytes of a number, or what it was. */
	m->num = got;
	m->shape = SHAPE_NUMBER;
	m->len = m->len > 20 ? m->len : 20;
	wrote(m);
}

/* touch: a hit takes the new expiry, a miss means gone. */
static void
op_touch(struct input *in, unsigned k, time_t now)
{
	struct model *m = &keys[k];
	time_t exp = ttl_of(take(in, 1), now);
	enum cache_result res = cache_touch(key_name[k], key_len[k], exp, &st);

	if (res == CACHE_OK) {
		check_hit(m, now);
		m->exp = exp;
	} else if (res == CACHE_NOT_FOUND)
		gone(m);
	else
		abort();
}

/* delete: a hit only where one is allowed; gone either way. */
static void
op_delete(unsigned k, time_t now)
{
	enum cache_result res = cache_delete(key_name[k], key_len[k], &st);

	if (res == CACHE_OK)
		check_hit(&keys[k], now);
	else if (res != CACHE_NOT_FOUND)
		abort();
	gone(&keys[k]);
}

/* An item dropped unstored, as for a client gone mid-value, and one a
 * byte too large, refused. */
static void
op_abandon(struct input *in, unsigned k)
{
	enum cache_result res;
	size_t max = ITEM_MAX - key_len[k];
	struct item *it = cache_alloc(key_name[k], key_len[k], 0, 0,
	    size_of(take(in, 2), max), &res, &st);

	if (it == NULL)
		abort();
	cache_release(it);
	if (cache_alloc(key_name[k], key_len[k], 0, 0, max + 1, &res, &st) !=
	        NULL ||
	    res != CACHE_TOO_LARGE)
		abort();
}

/* The held reference still shows the bytes it was read with. */
static void
drop_held(void)
{
	if (held == NULL)
		return;
	check_value(&held_model, held_key, held);
	cache_release(held);
	held = NULL;
}

/* One operation from the input; the limit holds after every one. */
static void
step(struct input *in)
{
	enum op op = (enum op)(take(in, 1) % OP_COUNT);
	unsigned k = take(in, 1) % NKEYS;
	time_t now = cache_now();
	struct cache_totals t;

	switch (op) {
	case OP_GET:
	case OP_GAT:
		op_read(in, k, op, now);
		break;
	case OP_HOLD:
		if (held != NULL)
			drop_held();
		else
			op_read(in, k, op, now);
		break;
	case OP_TOUCH:
		op_touch(in, k, now);
		break;
	case OP_INCR:
	case OP_DECR:
		op_arith(in, k, op == OP_INCR, now);
		break;
	case OP_DELETE:
		op_delete(k, now);
		break;
	case OP_SETNUM:
		op_setnum(in, k);
		break;
	case OP_FLUSH:
		cache_flush_all(0);
		for (int i = 0; i < NKEYS; i++)
			gone(&keys[i]);
		break;
	case OP_FLUSH_LATER:
		cache_flush_all(now + 1000);
		break;
	case OP_RECLAIM:
		cache_reclaim(1 + take(in, 1), &st);
		break;
	case OP_LIMIT:
		cache_set_limit(take(in, 1) % 2 ? LIMIT : LIMIT / 2);
		break;
	case OP_ABANDON:
		op_abandon(in, k);
		break;
	default:
		op_store(in, k, op, now);
		break;
	}
	cache_totals(&t);
	if (t.mapped > LIMIT)
		abort();
}

/* One input against a fresh store, then everything deleted: nothing
 * may be left. */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct input in = {data, size};
	struct cache_totals t;

	if (scratch == NULL)
		init_once();
	if (cache_init(&(struct cache_config){
	        .limit = LIMIT, .item_max = ITEM_MAX, .nshards = 2}) == -1)
		abort();
	for (int k = 0; k < NKEYS; k++)
		keys[k] = (struct model){.val = keys[k].val};
	ncas = 0;
	while (in.n > 0)
		step(&in);
	drop_held();
	/* Every key deleted: once reclaimed, nothing is left. */
	for (int k = 0; k < NKEYS; k++)
		cache_delete(key_name[k], key_len[k], &st);
	while (cache_reclaim(1u << 16, &st) > 0)
		;
	cache_totals(&t);
	if (t.curr_items != 0 || t.bytes != 0)
		abort();
	cache_free();
	return 0;
}
