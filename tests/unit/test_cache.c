/* The store without sockets: operations, memory limit and eviction order,
 * references outliving removal, expiry and flush, and the maint pass. */
#include <check.h>
#include <limits.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cache.h"
#include "counter.h"
#include "unit.h"

static struct cache_stats st;

static void
setup_temporary(size_t limit, bool no_evict, int temporary_ttl)
{
	memset(&st, 0, sizeof st);
	ck_assert_int_eq(cache_init(&(struct cache_config){.limit = limit,
	                     .item_max = 1024 * 1024,
	                     .no_evict = no_evict,
	                     .temporary_ttl = temporary_ttl,
	                     .nshards = 4}),
	    0);
}

static void
setup_sized(size_t limit, bool no_evict)
{
	setup_temporary(limit, no_evict, 0);
}

static void
setup(void)
{
	setup_sized(64 << 20, false);
}

static void
teardown(void)
{
	cache_free();
}

/* Store key=value with op; returns the result. */
static enum cache_result
put(const char *key, const char *value, enum cache_store_op op, uint64_t cas)
{
	enum cache_result res;
	struct item *it =
	    cache_alloc(key, strlen(key), 0, 0, strlen(value), &res, &st);

	if (it == NULL)
		return res;
	memcpy(item_value(it), value, strlen(value));
	return cache_store(it, op, cas, &st);
}

/* The value stored under key, or NULL; static buffer. */
static const char *
value_of(const char *key)
{
	static char buf[4096];
	struct item *it = cache_get(key, strlen(key), false, 0, &st);

	if (it == NULL)
		return NULL;
	memcpy(buf, item_value(it), item_nbytes(it));
	buf[item_nbytes(it)] = '\0';
	cache_release(it);
	return buf;
}

START_TEST(test_store_ops)
{
	struct item *it;
	uint64_t cas;

	ck_assert_int_eq(put("a", "1", CACHE_ADD, 0), CACHE_STORED);
	ck_assert_int_eq(put("a", "2", CACHE_ADD, 0), CACHE_NOT_STORED);
	ck_assert_int_eq(put("b", "2", CACHE_REPLACE, 0), CACHE_NOT_STORED);
	ck_assert_int_eq(put("a", "3", CACHE_REPLACE, 0), CACHE_STORED);
	ck_assert_str_eq(value_of("a"), "3");
	ck_assert_int_eq(put("a", "4", CACHE_APPEND, 0), CACHE_STORED);
	ck_assert_int_eq(put("a", "2", CACHE_PREPEND, 0), CACHE_STORED);
	ck_assert_str_eq(value_of("a"), "234");
	it = cache_get("a", 1, false, 0, &st);
	cas = it->cas;
	ck_assert_uint_eq(item_nbytes(it), 3);
	ck_assert_uint_eq(item_flags(it), 0);
	cache_release(it);
	ck_assert_int_eq(put("a", "x", CACHE_CAS, cas + 1), CACHE_EXISTS);
	ck_assert_int_eq(put("a", "x", CACHE_CAS, cas), CACHE_STORED);
	ck_assert_int_eq(put("nope", "x", CACHE_CAS, 1), CACHE_NOT_FOUND);
	ck_assert_int_eq(cache_delete("a", 1, &st), CACHE_OK);
	ck_assert_int_eq(cache_delete("a", 1, &st), CACHE_NOT_FOUND);
	ck_assert_ptr_null(value_of("a"));
}
END_TEST

START_TEST(test_cas_unique_and_rising)
{
	uint64_t last = 0;

	for (int i = 0; i < 100; i++) {
		struct item *it;

		put("k", "v", CACHE_SET, 0);
		it = cache_get("k", 1, false, 0, &st);
		ck_assert_uint_gt(it->cas, last);
		last = it->cas;
		cache_release(it);
	}
}
END_TEST

START_TEST(test_reference_outlives_delete)
{
	struct item *it;

	put("r", "held", CACHE_SET, 0);
	it = cache_get("r", 1, false, 0, &st);
	ck_assert_int_eq(cache_delete("r", 1, &st), CACHE_OK);
	put("r", "new!", CACHE_SET, 0);
	/* The reader still sees the bytes it fetched. */
	ck_assert_int_eq(memcmp(item_value(it), "held", 4), 0);
	cache_release(it);
	ck_assert_str_eq(value_of("r"), "new!");
}
END_TEST

START_TEST(test_arith)
{
	uint64_t v;
	struct item *held;

	ck_assert_int_eq(
	    cache_arith("n", 1, true, 1, &v, &st), CACHE_NOT_FOUND);
	put("n", "10", CACHE_SET, 0);
	ck_assert_int_eq(cache_arith("n", 1, false, 3, &v, &st), CACHE_OK);
	ck_assert_uint_eq(v, 7);
	ck_assert_str_eq(value_of("n"), "7 ");
	/* A reader holds it: a new item, the reader's bytes unchanged. */
	held = cache_get("n", 1, false, 0, &st);
	ck_assert_int_eq(cache_arith("n", 1, true, 100, &v, &st), CACHE_OK);
	ck_assert_uint_eq(v, 107);
	ck_assert_int_eq(memcmp(item_value(held), "7 ", 2), 0);
	cache_release(held);
	ck_assert_str_eq(value_of("n"), "107");
	ck_assert_int_eq(cache_arith("n", 1, false, 1000, &v, &st), CACHE_OK);
	ck_assert_uint_eq(v, 0);
	put("n", "18446744073709551615", CACHE_SET, 0);
	ck_assert_int_eq(cache_arith("n", 1, true, 1, &v, &st), CACHE_OK);
	ck_assert_uint_eq(v, 0);
	put("s", "12abc", CACHE_SET, 0);
	ck_assert_int_eq(
	    cache_arith("s", 1, true, 1, &v, &st), CACHE_NON_NUMERIC);
	ck_assert_uint_eq(stat_get(&st.incr_hits), 2);
	ck_assert_uint_eq(stat_get(&st.incr_misses), 1);
	ck_assert_uint_eq(stat_get(&st.decr_hits), 2);
}
END_TEST

START_TEST(test_exptime_rules)
{
	time_t now = 1800000000;

	ck_assert_int_eq(cache_exptime(0, now), 0);
	ck_assert_int_eq(cache_exptime(10, now), now + 10);
	ck_assert_int_eq(
	    cache_exptime(CACHE_REL_MAX, now), now + CACHE_REL_MAX);
	ck_assert_int_eq(cache_exptime(now + 5, now), now + 5);
	ck_assert_int_le(cache_exptime(now - 5, now), now);
	ck_assert_int_le(cache_exptime(-1, now), now);
}
END_TEST

START_TEST(test_expired_is_gone)
{
	enum cache_result res;
	struct item *it = cache_alloc(
	    "e", 1, 0, cache_exptime(-1, cache_now()), 1, &res, &st);

	item_value(it)[0] = 'x';
	ck_assert_int_eq(cache_store(it, CACHE_SET, 0, &st), CACHE_STORED);
	ck_assert_ptr_null(value_of("e"));
	ck_assert_uint_eq(stat_get(&st.get_expired), 1);
	ck_assert_uint_eq(stat_get(&st.expired_unfetched), 1);
}
END_TEST

START_TEST(test_flush_all)
{
	struct cache_totals t;

	put("a", "1", CACHE_SET, 0);
	put("b", "2", CACHE_SET, 0);
	cache_flush_all(0);
	put("c", "3", CACHE_SET, 0);
	ck_assert_ptr_null(value_of("a"));
	ck_assert_str_eq(value_of("c"), "3");
	/* b is still in the table until a reader, maint or a crawl finds it. */
	ck_assert_uint_eq(
	    cache_crawl(NULL, 0, cache_shard_count(), NULL, &st), 1);
	cache_totals(&t);
	ck_assert_uint_eq(t.curr_items, 1);
	/* A delayed flush leaves items alone until its time comes. */
	cache_flush_all(cache_now() + 1000);
	ck_assert_str_eq(value_of("c"), "3");
	cache_flush_all(1000);
	ck_assert_str_eq(value_of("c"), "3");
}
END_TEST

/* Put key, flush, then run one look-up: memcached counts the flushed
 * item it met in get_flushed whatever the command. */
#define FLUSHED_BY(what)                                                       \
	do {                                                                   \
		uint64_t before = stat_get(&st.get_flushed);                   \
                                                                               \
		put("f", "5", CACHE_SET, 0);                                   \
		cache_flush_all(0);                                            \
		what;                                                          \
		ck_assert_msg(stat_get(&st.get_flushed) == before + 1,         \
		    "%s: get_flushed %llu, not %llu", #what,                   \
		    (unsigned long long)stat_get(&st.get_flushed),             \
		    (unsigned long long)before + 1);                           \
	} while (0)

START_TEST(test_flushed_counted_everywhere)
{
	struct cache_mget_info mi;
	struct cache_marith_info ai;
	struct cache_debug d;
	uint64_t v;

	FLUSHED_BY(ck_assert_ptr_null(value_of("f")));
	FLUSHED_BY(ck_assert_ptr_null(cache_get("f", 1, true, 0, &st)));
	FLUSHED_BY(ck_assert_ptr_null(
	    cache_mget("f", 1, &(struct cache_mget){0}, &mi, &st)));
	FLUSHED_BY(
	    ck_assert_int_eq(cache_touch("f", 1, 0, &st), CACHE_NOT_FOUND));
	FLUSHED_BY(ck_assert_int_eq(
	    cache_arith("f", 1, true, 1, &v, &st), CACHE_NOT_FOUND));
	FLUSHED_BY(ck_assert_int_eq(
	    cache_marith(
	        "f", 1, &(struct cache_marith){.incr = true}, &ai, &st),
	    CACHE_NOT_FOUND));
	FLUSHED_BY(
	    ck_assert_int_eq(cache_delete("f", 1, &st), CACHE_NOT_FOUND));
	FLUSHED_BY(ck_assert_int_eq(
	    cache_mdelete("f", 1, false, 0, false, false, 0, &st),
	    CACHE_NOT_FOUND));
	FLUSHED_BY(ck_assert_int_eq(put("f", "6", CACHE_SET, 0), CACHE_STORED));
	FLUSHED_BY(
	    ck_assert_int_eq(put("f", "6", CACHE_APPEND, 0), CACHE_NOT_STORED));
	FLUSHED_BY(ck_assert(!cache_debug("f", 1, &d, &st)));
	FLUSHED_BY(cache_drop("f", 1, &st));
	/* Each counted once, and get_expired not at all. */
	ck_assert_uint_eq(stat_get(&st.get_expired), 0);
}
END_TEST

/* A store, a delete, an incr over an expired item count get_expired, as
 * memcached's. */
START_TEST(test_expired_counted_everywhere)
{
	enum cache_result res;
	uint64_t v;

	for (int i = 0; i < 3; i++) {
		struct item *it = cache_alloc(
		    "x", 1, 0, cache_exptime(-1, cache_now()), 1, &res, &st);

		item_value(it)[0] = '1';
		ck_assert_int_eq(
		    cache_store(it, CACHE_SET, 0, &st), CACHE_STORED);
		if (i == 0)
			put("x", "2", CACHE_ADD, 0);
		else if (i == 1)
			cache_delete("x", 1, &st);
		else
			cache_arith("x", 1, true, 1, &v, &st);
		ck_assert_uint_eq(stat_get(&st.get_expired), (uint64_t)i + 1);
		cache_delete("x", 1, &st);
	}
	ck_assert_uint_eq(stat_get(&st.get_flushed), 0);
}
END_TEST

/* What maint does right after a flush_all leaves the flushed items for
 * the reads that follow; within a few seconds it takes them. */
START_TEST(test_reclaim_after_flush_waits)
{
	struct cache_totals t;
	long long end;
	size_t n = 0;

	put("g", "1", CACHE_SET, 0);
	put("h", "2", CACHE_SET, 0);
	cache_flush_all(0);
	ck_assert_uint_eq(cache_reclaim(1024, &st), 0);
	ck_assert_ptr_null(value_of("g"));
	ck_assert_uint_eq(stat_get(&st.get_flushed), 1);
	for (end = cache_now() + 5; n == 0 && cache_now() <= end;) {
		n = cache_reclaim(1024, &st);
		if (n == 0)
			nanosleep(
			    &(struct timespec){0, 10 * 1000 * 1000}, NULL);
	}
	ck_assert_uint_eq(n, 1);
	cache_totals(&t);
	ck_assert_uint_eq(t.curr_items, 0);
}
END_TEST

/* A flush at once takes a CAS of its own, as memcached's: the next store
 * gets the one after it. */
START_TEST(test_flush_takes_a_cas)
{
	uint64_t a, b;

	ck_assert_int_eq(put("a", "1", CACHE_SET, 0), CACHE_STORED);
	a = cache_get("a", 1, false, 0, &st)->cas;
	cache_release(cache_get("a", 1, false, 0, &st));
	cache_release(cache_get("a", 1, false, 0, &st));
	cache_flush_all(0);
	ck_assert_int_eq(put("b", "1", CACHE_SET, 0), CACHE_STORED);
	b = cache_get("b", 1, false, 0, &st)->cas;
	cache_release(cache_get("b", 1, false, 0, &st));
	cache_release(cache_get("b", 1, false, 0, &st));
	ck_assert_uint_eq(b, a + 2);
	/* A delayed one takes none. */
	cache_flush_all(1000);
	ck_assert_int_eq(put("c", "1", CACHE_SET, 0), CACHE_STORED);
	ck_assert_uint_eq(cache_get("c", 1, false, 0, &st)->cas, b + 1);
	cache_release(cache_get("c", 1, false, 0, &st));
	cache_release(cache_get("c", 1, false, 0, &st));
}
END_TEST

/* An absolute time before the start flushes nothing (memcached's
 * oldest_live of 0), but, unlike memcached's, leaves an earlier flush's
 * items flushed; one past but after the start (memcached's, a minute
 * before it) flushes now. */
START_TEST(test_flush_before_start)
{
	put("a", "1", CACHE_SET, 0);
	cache_flush_all(CACHE_REL_MAX + 1);
	ck_assert_str_eq(value_of("a"), "1");
	cache_flush_all(cache_now() - 3600);
	ck_assert_str_eq(value_of("a"), "1");
	cache_flush_all(cache_now() - 30);
	ck_assert_ptr_null(value_of("a"));
	put("b", "1", CACHE_SET, 0);
	cache_flush_all(0);
	cache_flush_all(CACHE_REL_MAX + 1);
	ck_assert_ptr_null(value_of("b"));
	/* Nor does a delayed flush bring them back. */
	put("c", "1", CACHE_SET, 0);
	cache_flush_all(0);
	cache_flush_all(1000);
	ck_assert_ptr_null(value_of("c"));
}
END_TEST

/* flush_all 1 takes effect at once, and, as memcached's, so do the stores
 * of the rest of that second; under -C a flush at once does the same.
 * Tried again when the clock turned a second during a try. */
static bool
stored_in_flush_second_lives(time_t delay)
{
	for (int tries = 0; tries < 10; tries++) {
		time_t t0 = cache_now();
		const char *v;

		put("s", "1", CACHE_SET, 0);
		cache_flush_all(delay);
		ck_assert_ptr_null(value_of("s"));
		put("s", "2", CACHE_SET, 0);
		v = value_of("s");
		if (cache_now() == t0)
			return v != NULL;
	}
	ck_abort_msg("the clock turned a second in every try");
	return false;
}

START_TEST(test_flush_second)
{
	ck_assert(stored_in_flush_second_lives(0));
	ck_assert(!stored_in_flush_second_lives(1));
	teardown();
	memset(&st, 0, sizeof st);
	ck_assert_int_eq(cache_init(&(struct cache_config){.limit = 8 << 20,
	                     .item_max = 1024 * 1024,
	                     .no_cas = true,
	                     .nshards = 4}),
	    0);
	ck_assert(!stored_in_flush_second_lives(0));
}
END_TEST

START_TEST(test_lru_eviction)
{
	char key[32], value[1000];
	struct cache_totals t;
	int n;

	teardown();
	setup_sized(256 * 1024, false);
	memset(value, 'v', sizeof value - 1);
	value[sizeof value - 1] = '\0';
	put("first", value, CACHE_SET, 0);
	for (n = 0; n < 1000; n++) {
		snprintf(key, sizeof key, "key:%d", n);
		ck_assert_int_eq(put(key, value, CACHE_SET, 0), CACHE_STORED);
		cache_totals(&t);
		ck_assert_uint_le(t.bytes, t.limit);
	}
	ck_assert_uint_gt(stat_get(&st.evictions), 0);
	/* The oldest went first, the newest stay. */
	ck_assert_ptr_null(value_of("first"));
	ck_assert_ptr_nonnull(value_of("key:999"));
	cache_totals(&t);
	/* Every item is charged its whole chunk (1240 bytes for these), so
	 * fewer than limit / 1 KB fit. */
	ck_assert_uint_lt(t.curr_items, 256);
	ck_assert_uint_gt(t.curr_items, 150);
	cache_set_limit(64 * 1024);
	cache_totals(&t);
	ck_assert_uint_le(t.bytes, 64 * 1024);
}
END_TEST

/* Store key with a TTL of ttl seconds and a value of n bytes. */
static void
put_ttl(const char *key, long long ttl, size_t n)
{
	enum cache_result res;
	struct item *it = cache_alloc(
	    key, strlen(key), 0, cache_exptime(ttl, cache_now()), n, &res, &st);

	ck_assert_ptr_nonnull(it);
	memset(item_value(it), 'v', n);
	ck_assert_int_eq(cache_store(it, CACHE_SET, 0, &st), CACHE_STORED);
}

/* With temporary_ttl (memcached's -o temporary_ttl=N), an item that
 * expires within N seconds is never evicted, even unread while the cache
 * fills with longer-lived ones (memcached's t/lru-maintainer.t canary);
 * without it, that item goes first. */
START_TEST(test_temporary_ttl)
{
	char key[32];

	for (int ttl = 61; ttl >= 0; ttl -= 61) {
		teardown();
		setup_temporary(256 * 1024, false, ttl);
		put_ttl("canary", 30, 1000);
		for (int n = 0; n < 1000; n++) {
			snprintf(key, sizeof key, "key:%d", n);
			put_ttl(key, 3600, 1000);
		}
		ck_assert_uint_gt(stat_get(&st.evictions), 0);
		if (ttl > 0)
			ck_assert_ptr_nonnull(value_of("canary"));
		else
			ck_assert_ptr_null(value_of("canary"));
	}
}
END_TEST

/* A class counter summed over every class. */
static uint64_t
classes_sum(size_t offset)
{
	uint64_t total = 0;

	for (int i = 0; i < cache_class_count(); i++) {
		struct cache_class_stats cs;

		cache_class_stats(i, &cs);
		total += *(uint64_t *)((char *)&cs + offset);
	}
	return total;
}

/* memcached's crawler_items_checked: each item maint's pass looks at;
 * lrutail_reflocked: each victim the eviction passes over because it is
 * being read, which then stays. */
START_TEST(test_checked_and_reflocked)
{
	char key[32], value[1000];
	struct item *held;

	put("a", "1", CACHE_SET, 0);
	put("b", "2", CACHE_SET, 0);
	put("c", "3", CACHE_SET, 0);
	ck_assert_uint_eq(cache_reclaim(1024, &st), 0);
	ck_assert_uint_eq(classes_sum(offsetof(
	                      struct cache_class_stats, crawler_items_checked)),
	    3);
	teardown();
	setup_sized(256 * 1024, false);
	memset(value, 'v', sizeof value - 1);
	value[sizeof value - 1] = '\0';
	put("held", value, CACHE_SET, 0);
	held = cache_get("held", 4, false, 0, &st);
	ck_assert_ptr_nonnull(held);
	ck_assert_uint_eq(
	    classes_sum(offsetof(struct cache_class_stats, lrutail_reflocked)),
	    0);
	for (int n = 0; n < 1000; n++) {
		snprintf(key, sizeof key, "key:%d", n);
		ck_assert_int_eq(put(key, value, CACHE_SET, 0), CACHE_STORED);
	}
	ck_assert_uint_gt(
	    classes_sum(offsetof(struct cache_class_stats, lrutail_reflocked)),
	    0);
	cache_release(held);
	ck_assert_ptr_nonnull(value_of("held"));
}
END_TEST

START_TEST(test_no_evict)
{
	char key[32], value[1000];
	enum cache_result res = CACHE_STORED;
	int n;

	teardown();
	setup_sized(64 * 1024, true);
	memset(value, 'v', sizeof value - 1);
	value[sizeof value - 1] = '\0';
	for (n = 0; n < 1000 && res == CACHE_STORED; n++) {
		snprintf(key, sizeof key, "key:%d", n);
		res = put(key, value, CACHE_SET, 0);
	}
	ck_assert_int_eq(res, CACHE_NO_MEMORY);
	ck_assert_uint_eq(stat_get(&st.evictions), 0);
	ck_assert_ptr_nonnull(value_of("key:0"));
}
END_TEST

START_TEST(test_too_large)
{
	enum cache_result res;
	char key[300];

	ck_assert_ptr_null(cache_alloc("k", 1, 0, 0, 1024 * 1024, &res, &st));
	ck_assert_int_eq(res, CACHE_TOO_LARGE);
	cache_release(cache_alloc("k", 1, 0, 0, 1024 * 1024 - 1, &res, &st));
	memset(key, 'k', sizeof key);
	ck_assert_ptr_null(cache_alloc(key, 251, 0, 0, 1, &res, &st));
}
END_TEST

/* A flood of large items never pushes small ones out of their class's
 * first page, and items of one size that nobody reads leave in the order
 * they came. */
START_TEST(test_large_flood_keeps_small)
{
	static char big[100 * 1024 + 1];
	char key[32];
	int first_kept = -1;

	teardown();
	setup_sized(8 << 20, false);
	for (int n = 0; n < 500; n++) {
		snprintf(key, sizeof key, "small:%d", n);
		ck_assert_int_eq(put(key, "tiny", CACHE_SET, 0), CACHE_STORED);
	}
	memset(big, 'b', sizeof big - 1);
	for (int n = 0; n < 200; n++) {
		snprintf(key, sizeof key, "big:%d", n);
		ck_assert_int_eq(put(key, big, CACHE_SET, 0), CACHE_STORED);
	}
	ck_assert_uint_gt(stat_get(&st.evictions), 0);
	for (int n = 0; n < 500; n++) {
		snprintf(key, sizeof key, "small:%d", n);
		ck_assert_msg(value_of(key) != NULL, "%s evicted", key);
	}
	/* Oldest first: the kept ones are the newest, in one run. */
	for (int n = 0; n < 200; n++) {
		struct item *it;

		snprintf(key, sizeof key, "big:%d", n);
		it = cache_get(key, strlen(key), false, 0, &st);
		if (it != NULL) {
			ck_assert_uint_eq(item_nbytes(it), sizeof big - 1);
			cache_release(it);
			if (first_kept < 0)
				first_kept = n;
		}
		ck_assert_msg(first_kept < 0 || it != NULL,
		    "%s evicted, big:%d kept", key, first_kept);
	}
	ck_assert_int_gt(first_kept, 100);
}
END_TEST

/* A limit too small to give every size class a page still stores every
 * size: a class with nothing takes another's page. */
START_TEST(test_small_limit_every_size)
{
	static char value[16 * 1024];
	char key[32];
	enum cache_result res;

	teardown();
	setup_sized(1 << 20, false);
	memset(value, 'v', sizeof value);
	for (int round = 0; round < 3; round++)
		for (size_t n = 1; n < sizeof value - 64; n += n / 8 + 1) {
			struct item *it;

			snprintf(key, sizeof key, "size:%zu", n);
			it = cache_alloc(key, strlen(key), 0, 0, n, &res, &st);
			ck_assert_msg(it != NULL, "%zu bytes: %d", n, res);
			memcpy(item_value(it), value, n);
			ck_assert_int_eq(
			    cache_store(it, CACHE_SET, 0, &st), CACHE_STORED);
			it = cache_get(key, strlen(key), false, 0, &st);
			ck_assert_msg(it != NULL, "%s gone at once", key);
			ck_assert_uint_eq(item_nbytes(it), n);
			cache_release(it);
		}
}
END_TEST

/* An expired item found on the way is removed, and the lookup goes on
 * for its own key: it used to return whatever followed in the chain. */
START_TEST(test_expired_in_chain)
{
	enum cache_result res;
	char key[32], want[32];
	struct item *it;

	it = cache_alloc(
	    "x", 1, 0, cache_exptime(-1, cache_now()), 1, &res, &st);
	memcpy(item_value(it), "X", 1);
	ck_assert_int_eq(cache_store(it, CACHE_SET, 0, &st), CACHE_STORED);
	for (int n = 0; n < 4000; n++) {
		snprintf(key, sizeof key, "y%d", n);
		ck_assert_int_eq(put(key, key, CACHE_SET, 0), CACHE_STORED);
	}
	ck_assert_ptr_null(value_of("x"));
	ck_assert_int_eq(put("x", "new", CACHE_ADD, 0), CACHE_STORED);
	ck_assert_str_eq(value_of("x"), "new");
	for (int n = 0; n < 4000; n++) {
		snprintf(key, sizeof key, "y%d", n);
		snprintf(want, sizeof want, "y%d", n);
		ck_assert_str_eq(value_of(key), want);
	}
}
END_TEST

/* A chunk freed goes back to its own class: overwriting one key forever
 * evicts nothing and holds on to no memory. */
START_TEST(test_overwrite_reuses_chunk)
{
	char value[1001];
	struct cache_totals t;

	teardown();
	setup_sized(8 << 20, false);
	memset(value, 'o', sizeof value - 1);
	value[sizeof value - 1] = '\0';
	for (int n = 0; n < 20000; n++)
		ck_assert_int_eq(put("one", value, CACHE_SET, 0), CACHE_STORED);
	ck_assert_uint_eq(stat_get(&st.evictions), 0);
	cache_totals(&t);
	ck_assert_uint_eq(t.curr_items, 1);
	ck_assert_uint_le(t.mapped, 64 * 1024);
}
END_TEST

/* Replacing an item that has others behind it in its hash chain keeps
 * them: the lost chain tail was the use after free of issue 10 (evicted
 * items still reachable from a bucket). 4,000 keys in 4 shards of 64
 * buckets make long chains before the table grows. */
START_TEST(test_replace_keeps_chain)
{
	char key[32];
	struct cache_totals t;

	for (int round = 0; round < 3; round++)
		for (int n = 0; n < 4000; n++) {
			snprintf(key, sizeof key, "chain:%d", n);
			ck_assert_int_eq(
			    put(key, round == 2 ? "new" : "old", CACHE_SET, 0),
			    CACHE_STORED);
		}
	for (int n = 0; n < 4000; n++) {
		snprintf(key, sizeof key, "chain:%d", n);
		ck_assert_str_eq(value_of(key), "new");
		ck_assert_int_eq(cache_delete(key, strlen(key), &st), CACHE_OK);
	}
	cache_totals(&t);
	ck_assert_uint_eq(t.curr_items, 0);
}
END_TEST

/* Writers and readers on the same keys from several threads: every value
 * read is one some writer wrote, whole. */
static void *
hammer(void *arg)
{
	struct cache_stats mine = {0};
	int id = (int)(intptr_t)arg;

	for (int i = 0; i < 20000; i++) {
		char key[8], val[32];
		enum cache_result res;
		struct item *it;
		int n;

		snprintf(key, sizeof key, "k%d", i % 16);
		n = snprintf(val, sizeof val, "%d:%d:%d", id, i, id ^ i);
		it =
		    cache_alloc(key, strlen(key), 0, 0, (size_t)n, &res, &mine);
		memcpy(item_value(it), val, (size_t)n);
		cache_store(it, CACHE_SET, 0, &mine);
		it = cache_get(key, strlen(key), false, 0, &mine);
		if (it != NULL) {
			int a, b, c;

			memcpy(val, item_value(it), item_nbytes(it));
			val[item_nbytes(it)] = '\0';
			cache_release(it);
			if (sscanf(val, "%d:%d:%d", &a, &b, &c) != 3 ||
			    (a ^ b) != c)
				return (void *)1;
		}
		if (cache_arith("ctr", 3, true, 1, &(uint64_t){0}, &mine) !=
		    CACHE_OK)
			return (void *)1;
	}
	return NULL;
}

/* Fill n items of a value of len bytes under keys PREFIX0...; the class
 * id (memcached's) they went to. */
static unsigned
fill_class(const char *prefix, int n, size_t len)
{
	char key[32], *v = malloc(len + 1);
	struct cache_debug d;

	memset(v, 'v', len);
	v[len] = 0;
	for (int i = 0; i < n; i++) {
		snprintf(key, sizeof key, "%s%d", prefix, i);
		ck_assert_int_eq(put(key, v, CACHE_SET, 0), CACHE_STORED);
	}
	free(v);
	snprintf(key, sizeof key, "%s0", prefix);
	ck_assert(cache_debug(key, strlen(key), &d, &st));
	return d.cls;
}

/* slabs reassign: a page leaves its class with its items evicted and the
 * destination gets one; the global pool (0) holds pages given to it. */
START_TEST(test_reassign_moves_page)
{
	unsigned src = fill_class("big", 3000, 1000), dst;
	unsigned before = cache_class_pages((int)src), items = 0;
	char key[32];

	dst = fill_class("small", 1, 10);
	ck_assert_uint_ge(before, 3);
	ck_assert_uint_eq(cache_class_pages((int)dst), 1);
	ck_assert_uint_eq(
	    cache_reassign((int)src, (int)src, &st), CACHE_REASSIGN_SAME);
	ck_assert_uint_eq(
	    cache_reassign(999, (int)dst, &st), CACHE_REASSIGN_BADCLASS);
	ck_assert_uint_eq(
	    cache_reassign((int)dst, (int)src, &st), CACHE_REASSIGN_NOSPARE);
	ck_assert_uint_eq(
	    cache_reassign(0, (int)dst, &st), CACHE_REASSIGN_NOSPARE);
	/* A class that has no page gets the one moved: the next size. */
	dst++;
	ck_assert_uint_eq(cache_class_pages((int)dst), 0);
	ck_assert_uint_eq(
	    cache_reassign((int)src, (int)dst, &st), CACHE_REASSIGN_OK);
	ck_assert_uint_eq(cache_class_pages((int)src), before - 1);
	ck_assert_uint_eq(cache_class_pages((int)dst), 1);
	ck_assert_uint_eq(atomic_load(&st.slabs_moved), 1);
	ck_assert_uint_gt(cache_reassign_evicted(), 0);
	for (int i = 0; i < 3000; i++) {
		snprintf(key, sizeof key, "big%d", i);
		items += value_of(key) != NULL;
	}
	ck_assert_uint_eq(items, 3000 - cache_reassign_evicted());
	/* Two pages to the pool, then one back. */
	ck_assert_uint_eq(cache_reassign((int)src, 0, &st), CACHE_REASSIGN_OK);
	ck_assert_uint_eq(cache_reassign((int)src, 0, &st), CACHE_REASSIGN_OK);
	ck_assert_uint_eq(cache_pool_pages(), 2);
	ck_assert_uint_eq(cache_reassign(0, (int)dst, &st), CACHE_REASSIGN_OK);
	ck_assert_uint_eq(cache_pool_pages(), 1);
}
END_TEST

/* A page with an item someone reads is not moved: BUSY, counted, the
 * pages unchanged; once read, the move goes through. */
START_TEST(test_reassign_busy)
{
	unsigned src = fill_class("big", 3000, 1000), pages;
	static struct item *held[3000];
	char key[32];
	int n = 0;

	pages = cache_class_pages((int)src);
	for (int i = 0; i < 3000; i++) {
		snprintf(key, sizeof key, "big%d", i);
		if ((held[n] = cache_get(key, strlen(key), false, 0, &st)))
			n++;
	}
	ck_assert_uint_eq(
	    cache_reassign((int)src, 1, &st), CACHE_REASSIGN_BUSY);
	ck_assert_uint_eq(cache_class_pages((int)src), pages);
	ck_assert_uint_eq(cache_reassign_busy(), 1);
	while (n > 0)
		cache_release(held[--n]);
	ck_assert_uint_eq(cache_reassign((int)src, 1, &st), CACHE_REASSIGN_OK);
	ck_assert_uint_eq(cache_class_pages((int)src), pages - 1);
}
END_TEST

/* A size shift within a small limit: OLD_N values of 11,000 bytes fill
 * it, then NEW_N values of NEW_LEN bytes come in a burst. */
#define SHIFT_LIMIT (16u << 20)
#define OLD_N       1400
#define OLD_LEN     11000

/* The value of key PREFIXi: its own bytes, so a moved item that lands
 * on another's chunk shows. */
static void
shift_value(char *v, const char *prefix, int i, size_t len)
{
	for (size_t j = 0; j < len; j++)
		v[j] = (char)('a' + (prefix[0] + i * 7 + (int)j) % 26);
}

static void
shift_put(const char *prefix, int i, size_t len)
{
	char key[32];
	enum cache_result res;
	struct item *it;

	snprintf(key, sizeof key, "%s%d", prefix, i);
	it = cache_alloc(key, strlen(key), 0, 0, len, &res, &st);
	ck_assert_ptr_nonnull(it);
	shift_value(item_value(it), prefix, i, len);
	ck_assert_int_eq(cache_store(it, CACHE_SET, 0, &st), CACHE_STORED);
}

/* 1 when PREFIXi holds its value, 0 when it is missing; a wrong value
 * fails the test. */
static int
shift_has(const char *prefix, int i, size_t len)
{
	char key[32], *v = malloc(len);
	struct item *it;

	snprintf(key, sizeof key, "%s%d", prefix, i);
	if ((it = cache_get(key, strlen(key), false, 0, &st)) == NULL) {
		free(v);
		return 0;
	}
	shift_value(v, prefix, i, len);
	ck_assert_uint_eq(item_nbytes(it), len);
	ck_assert_msg(
	    memcmp(item_value(it), v, len) == 0, "%s: wrong value", key);
	cache_release(it);
	free(v);
	return 1;
}

/* Wait (5 s at most) until no store took a chunk of key's class for
 * long enough for rebalancing to call it idle. */
static void
shift_wait_idle(const char *key)
{
	struct cache_debug d;

	ck_assert(cache_debug(key, strlen(key), &d, &st));
	for (int i = 0; i < 500 && !cache_class_idle((int)d.cls); i++)
		nanosleep(
		    &(struct timespec){.tv_nsec = 10 * 1000 * 1000}, NULL);
	ck_assert(cache_class_idle((int)d.cls));
}

/* The old size fills the limit; every second one is deleted. */
static void
shift_fill_old(bool delete_half)
{
	teardown();
	setup_sized(SHIFT_LIMIT, false);
	for (int i = 0; i < OLD_N; i++)
		shift_put("old", i, OLD_LEN);
	ck_assert_uint_eq(stat_get(&st.evictions), 0);
	for (int i = 0; delete_half && i < OLD_N; i += 2) {
		char key[32];

		snprintf(key, sizeof key, "old%d", i);
		ck_assert_int_eq(cache_delete(key, strlen(key), &st), CACHE_OK);
	}
}

/* slabs-reassign2.t's shift: half the old size deleted, a burst of 7,000
 * bytes takes the pages the old size's free chunks can empty, its items
 * moved into them; nothing is evicted, every value stays right. */
START_TEST(test_shift_compacts)
{
	int n = 0;

	shift_fill_old(true);
	for (int i = 0; i < 600; i++)
		shift_put("new", i, 7000);
	for (int i = 0; i < 600; i++)
		n += shift_has("new", i, 7000);
	ck_assert_int_eq(n, 600);
	ck_assert_uint_eq(stat_get(&st.evictions), 0);
	for (int i = 1; i < OLD_N; i += 2)
		ck_assert_int_eq(shift_has("old", i, OLD_LEN), 1);
	ck_assert_uint_gt(cache_reassign_rescued(), 0);
}
END_TEST

/* The old size read once and idle, then a burst of OLD_N values of
 * 3,000 bytes; how many of each are held after. */
static void
shift_burst(bool rebalance, int *held_new, int *held_old)
{
	shift_fill_old(false);
	cache_rebalance_enable(rebalance);
	for (int i = 0; i < OLD_N; i++)
		ck_assert_int_eq(shift_has("old", i, OLD_LEN), 1);
	shift_wait_idle("old0");
	for (int i = 0; i < OLD_N; i++)
		shift_put("new", i, 3000);
	*held_new = *held_old = 0;
	for (int i = 0; i < OLD_N; i++) {
		*held_new += shift_has("new", i, 3000);
		*held_old += shift_has("old", i, OLD_LEN);
	}
}

/* slabs-reassign-chunked.t's shift: the burst takes the idle size's
 * pages once their items went unread for a turn of its hand, and keeps
 * its values; the old size keeps what the new one does not need. With
 * rebalancing off (slabs automove 0) the burst evicts its own instead. */
START_TEST(test_shift_takes_idle)
{
	int held_new, held_old;

	shift_burst(false, &held_new, &held_old);
	ck_assert_int_lt(held_new, OLD_N / 2);
	shift_burst(true, &held_new, &held_old);
	ck_assert_int_ge(held_new, OLD_N * 9 / 10);
	ck_assert_int_gt(held_old, OLD_N / 3);
	ck_assert_uint_gt(cache_reassign_evicted(), 0);
}
END_TEST

/* An idle class with over two pages' worth of free chunks gives pages
 * to the global pool at a tick, its items moved; classes growing take
 * them back. */
START_TEST(test_shift_pool)
{
	unsigned pool;

	shift_fill_old(true);
	shift_wait_idle("old1");
	pool = cache_rebalance_tick(&st);
	ck_assert_uint_ge(pool, 4);
	ck_assert_uint_eq(cache_pool_pages(), pool);
	for (int i = 1; i < OLD_N; i += 2)
		ck_assert_int_eq(shift_has("old", i, OLD_LEN), 1);
	for (int i = 0; i < 1000; i++)
		shift_put("new", i, 7000);
	ck_assert_uint_eq(cache_pool_pages(), 0);
	ck_assert_uint_eq(stat_get(&st.evictions), 0);
}
END_TEST

/* cache_crawl reclaims the dead items of the classes asked for alone. */
/* A store over its key's flushed item counts it reclaimed, as memcached's
 * t/issue_183.t reads with its crawler off. */
START_TEST(test_store_reclaims_dead)
{
	uint64_t before;

	put("r", "1", CACHE_SET, 0);
	cache_flush_all(0);
	before = stat_get(&st.reclaimed);
	ck_assert_int_eq(put("r", "2", CACHE_SET, 0), CACHE_STORED);
	ck_assert_uint_eq(stat_get(&st.reclaimed), before + 1);
	ck_assert_int_eq(put("r", "3", CACHE_SET, 0), CACHE_STORED);
	ck_assert_uint_eq(stat_get(&st.reclaimed), before + 1);
}
END_TEST

/* cache_crawl reclaims the dead items of the classes asked for alone,
 * and looks at no more of a class than its bound (memcached's lru_crawler
 * tocrawl). */
START_TEST(test_crawl_classes)
{
	unsigned big = fill_class("big", 10, 1000),
	         small = fill_class("small", 10, 10);
	unsigned left[256] = {0};
	size_t checked;

	cache_flush_all(0);
	left[small] = 3;
	ck_assert_uint_eq(
	    cache_crawl(left, 0, cache_shard_count(), &checked, &st), 3);
	ck_assert_uint_eq(checked, 3);
	ck_assert_uint_eq(left[small], 0);
	left[small] = UINT_MAX;
	ck_assert_uint_eq(
	    cache_crawl(left, 0, cache_shard_count(), &checked, &st), 7);
	ck_assert_uint_eq(checked, 7);
	left[big] = UINT_MAX;
	ck_assert_uint_eq(
	    cache_crawl(left, 0, cache_shard_count(), NULL, &st), 10);
}
END_TEST

START_TEST(test_concurrent)
{
	pthread_t th[4];
	void *bad;

	put("ctr", "0", CACHE_SET, 0);
	for (int i = 0; i < 4; i++)
		pthread_create(&th[i], NULL, hammer, (void *)(intptr_t)i);
	for (int i = 0; i < 4; i++) {
		pthread_join(th[i], &bad);
		ck_assert_ptr_null(bad);
	}
	ck_assert_str_eq(value_of("ctr"), "80000");
}
END_TEST

/* In a full cache of one shard, an append, an incr that must copy the
 * value, mg's vivify and ma's make what they store with the shard's lock
 * let go, so eviction may take the shard's other items (never the one
 * they work on): under the lock, with every victim in the shard, they
 * found no memory. */
START_TEST(test_grow_in_full_shard)
{
	char key[32], value[1001], more[2001];
	struct cache_mget_info mi;
	struct cache_marith_info ai;
	struct item *it, *held;
	uint64_t v;
	int n;

	teardown();
	memset(&st, 0, sizeof st);
	ck_assert_int_eq(
	    cache_init(&(struct cache_config){
	        .limit = 4 << 20, .item_max = 1024 * 1024, .nshards = 1}),
	    0);
	memset(value, 'v', sizeof value - 1);
	value[sizeof value - 1] = '\0';
	memset(more, 'm', sizeof more - 1);
	more[sizeof more - 1] = '\0';
	for (n = 0; stat_get(&st.evictions) == 0; n++) {
		snprintf(key, sizeof key, "key:%d", n);
		ck_assert_int_eq(put(key, value, CACHE_SET, 0), CACHE_STORED);
	}
	/* Held, so that the pages dropped for the others keep it. */
	held = cache_get(key, strlen(key), false, 0, &st);
	it = cache_mget(
	    "viv", 3, &(struct cache_mget){.vivify = true}, &mi, &st);
	ck_assert_ptr_nonnull(it);
	ck_assert(mi.created);
	cache_release(it);
	ck_assert_int_eq(put(key, more, CACHE_APPEND, 0), CACHE_STORED);
	ck_assert_uint_eq(strlen(value_of(key)), 3000);
	cache_release(held);
	memset(value, ' ', sizeof value - 1);
	value[0] = '5';
	ck_assert_int_eq(put("ctr", value, CACHE_SET, 0), CACHE_STORED);
	/* A reader holds it: the new value goes to a copy. */
	held = cache_get("ctr", 3, false, 0, &st);
	ck_assert_int_eq(cache_arith("ctr", 3, true, 1, &v, &st), CACHE_OK);
	ck_assert_uint_eq(v, 6);
	cache_release(held);
	ck_assert_int_eq(
	    cache_marith("ctr", 3,
	        &(struct cache_marith){.incr = true, .delta = 1}, &ai, &st),
	    CACHE_OK);
	ck_assert_uint_eq(ai.value, 7);
}
END_TEST

/* A dump's function, which reads the item it is handed back from the
 * cache: it is called with no lock held. */
static void
dump_reads(void *arg, const struct cache_debug *d)
{
	struct item *it = cache_get(d->key, d->nkey, false, 0, &st);

	ck_assert_ptr_nonnull(it);
	ck_assert_uint_eq(item_nbytes(it), d->nbytes);
	cache_release(it);
	(*(unsigned *)arg)++;
}

/* cache_class_dump hands every item of a class over, in batches, up to
 * its limit, large items too, and with no lock held. */
START_TEST(test_class_dump)
{
	static char big[600 * 1024];
	char key[32];
	struct item *it;
	unsigned seen = 0;
	int cls, n;

	for (n = 0; n < 200; n++) {
		snprintf(key, sizeof key, "key:%03d", n);
		ck_assert_int_eq(put(key, "vvvv", CACHE_SET, 0), CACHE_STORED);
	}
	it = cache_get("key:000", 7, false, 0, &st);
	cls = (int)item_class_id(it) - 1;
	cache_release(it);
	ck_assert_uint_eq(cache_class_dump(cls, 0, dump_reads, &seen), 200);
	ck_assert_uint_eq(seen, 200);
	ck_assert_uint_eq(cache_class_dump(cls, 150, dump_reads, &seen), 150);
	ck_assert_uint_eq(seen, 350);
	memset(big, 'b', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	ck_assert_int_eq(put("big1", big, CACHE_SET, 0), CACHE_STORED);
	ck_assert_int_eq(put("big2", big, CACHE_SET, 0), CACHE_STORED);
	ck_assert_uint_eq(
	    cache_class_dump(cache_class_count() - 1, 0, dump_reads, &seen), 2);
	ck_assert_uint_eq(
	    cache_class_dump(cache_class_count() - 1, 1, dump_reads, &seen), 1);
	ck_assert_uint_eq(seen, 353);
}
END_TEST

/* Store key with flags and a value of n bytes of v, or of 'v' if v is
 * NULL. */
static void
put_flags(const char *key, uint32_t flags, const char *v, size_t n)
{
	enum cache_result res;
	struct item *it = cache_alloc(key, strlen(key), flags, 0, n, &res, &st);

	ck_assert_ptr_nonnull(it);
	if (v != NULL)
		memcpy(item_value(it), v, n);
	else
		memset(item_value(it), 'v', n);
	ck_assert_int_eq(cache_store(it, CACHE_SET, 0, &st), CACHE_STORED);
}

/* The chunk size of the class key's item is in, and its size. */
static size_t
chunk_of(const char *key, size_t *size)
{
	struct cache_class_stats cs;
	struct cache_debug d;

	ck_assert(cache_debug(key, strlen(key), &d, &st));
	ck_assert_int_eq(cache_class_stats((int)d.cls - 1, &cs), 0);
	*size = d.size;
	return cs.chunk_size;
}

/* bench/vs-memcached --items's item, a 100-byte value under a 12-byte
 * key: 144 bytes with the 32-byte header, in a 144-byte chunk (160 with
 * the 39-byte header and a stored "\r\n"). Flags other than 0 take 4
 * bytes more, and come back as they went in, through append, incr and
 * touch too. */
START_TEST(test_item_chunk)
{
	struct item *it;
	size_t size;
	uint64_t v;

	put_flags("key:00000000", 0, NULL, 100);
	put_flags("key:00000001", 0xdeadbeef, NULL, 100);
	ck_assert_uint_eq(chunk_of("key:00000000", &size), 144);
	ck_assert_uint_eq(size, 144);
	ck_assert_uint_eq(chunk_of("key:00000001", &size), 152);
	ck_assert_uint_eq(size, 148);
	it = cache_get("key:00000001", 12, false, 0, &st);
	ck_assert_uint_eq(item_flags(it), 0xdeadbeef);
	ck_assert_uint_eq(item_nbytes(it), 100);
	ck_assert_uint_eq(item_value(it)[99], 'v');
	cache_release(it);
	put_flags("n", 7, "9", 1);
	ck_assert_int_eq(put("n", "9", CACHE_APPEND, 0), CACHE_STORED);
	ck_assert_int_eq(cache_arith("n", 1, true, 1, &v, &st), CACHE_OK);
	ck_assert_uint_eq(v, 100);
	ck_assert_int_eq(cache_touch("n", 1, cache_now() + 60, &st), CACHE_OK);
	it = cache_get("n", 1, false, 0, &st);
	ck_assert_uint_eq(item_flags(it), 7);
	ck_assert_uint_eq(item_nbytes(it), 3);
	ck_assert_int_eq(memcmp(item_value(it), "100", 3), 0);
	cache_release(it);
}
END_TEST

/* bench/vs-memcached --items in process: 100-byte values under keys
 * key:%08d fill 64 MiB until they evict, and 5% more. At least 1.30 times
 * what memcached 1.6.18 holds (349,504 in its 192-byte chunks) stay:
 * 465,984 did in 144-byte chunks, 419,392 in 160-byte ones. */
START_TEST(test_items_in_64m)
{
	char key[32], value[101];
	struct cache_totals t;
	int n, first = 0;

	memset(value, 'v', 100);
	value[100] = '\0';
	for (n = 0; first == 0 || n < first + first / 20; n++) {
		snprintf(key, sizeof key, "key:%08d", n);
		ck_assert_int_eq(put(key, value, CACHE_SET, 0), CACHE_STORED);
		if (first == 0 && stat_get(&st.evictions) > 0)
			first = n;
	}
	cache_totals(&t);
	ck_assert_uint_le(t.mapped, t.limit);
	ck_assert_uint_ge(t.curr_items * 100, 349504 * 130);
}
END_TEST

/* A full count of references (65,535: the table's and 65,534 replies
 * pending on the item at once) gives the next readers copies of their
 * own, with the item's key, value, flags, CAS and class; they outlive its
 * delete, and everything goes once released. */
static unsigned
refs_full_copies(size_t n)
{
	enum { HELD = 65534 };
	struct item **held = malloc(HELD * sizeof *held), *cp, *cp2;
	struct cache_mget_info info;
	struct cache_totals t;
	unsigned cls;

	put_flags("r", 42, NULL, n);
	for (int i = 0; i < HELD; i++) {
		held[i] = cache_get("r", 1, false, 0, &st);
		ck_assert_ptr_eq(held[i], held[0]);
	}
	cp = cache_get("r", 1, false, 0, &st);
	cp2 = cache_mget(
	    "r", 1, &(struct cache_mget){.no_bump = true}, &info, &st);
	ck_assert_ptr_ne(cp, held[0]);
	ck_assert_ptr_ne(cp2, held[0]);
	ck_assert_ptr_ne(cp2, cp);
	ck_assert_uint_eq(item_nbytes(cp), n);
	ck_assert_uint_eq(item_flags(cp), 42);
	ck_assert_uint_eq(cp->cas, held[0]->cas);
	ck_assert_uint_eq(info.cas, held[0]->cas);
	ck_assert_uint_eq(item_class_id(cp), item_class_id(held[0]));
	ck_assert_uint_eq(cp->nkey, 1);
	ck_assert_int_eq(memcmp(item_key(cp2), "r", 1), 0);
	ck_assert_int_eq(memcmp(item_value(cp), item_value(held[0]), n), 0);
	cls = item_class_id(held[0]);
	ck_assert_int_eq(cache_delete("r", 1, &st), CACHE_OK);
	for (int i = 0; i < HELD; i++)
		cache_release(held[i]);
	cache_release(cp);
	ck_assert_uint_eq(item_value(cp2)[n - 1], 'v');
	cache_release(cp2);
	free(held);
	cache_totals(&t);
	ck_assert_uint_eq(t.curr_items, 0);
	return cls;
}

START_TEST(test_refs_full_copies)
{
	struct cache_class_stats cs;

	/* The chunk is back: no reference was lost. */
	ck_assert_int_eq(
	    cache_class_stats((int)refs_full_copies(100) - 1, &cs), 0);
	ck_assert_uint_eq(cs.used_chunks, 0);
	/* An item with a mapping of its own, whose length is ahead of it. */
	ck_assert_uint_eq(refs_full_copies(600 * 1024), 0);
}
END_TEST

int
main(void)
{
	const TTest *tests[] = {test_store_ops, test_temporary_ttl,
	    test_reassign_moves_page, test_reassign_busy, test_shift_compacts,
	    test_shift_takes_idle, test_shift_pool, test_crawl_classes,
	    test_store_reclaims_dead, test_cas_unique_and_rising,
	    test_reference_outlives_delete, test_arith, test_exptime_rules,
	    test_expired_is_gone, test_flush_all,
	    test_flushed_counted_everywhere, test_expired_counted_everywhere,
	    test_reclaim_after_flush_waits, test_flush_takes_a_cas,
	    test_flush_before_start, test_flush_second, test_lru_eviction,
	    test_checked_and_reflocked, test_no_evict, test_too_large,
	    test_large_flood_keeps_small, test_small_limit_every_size,
	    test_expired_in_chain, test_overwrite_reuses_chunk,
	    test_replace_keeps_chain, test_concurrent, test_grow_in_full_shard,
	    test_class_dump, test_item_chunk, test_items_in_64m,
	    test_refs_full_copies, NULL};

	return unit_run(&(struct unit_suite){.name = "cache",
	                    .setup = setup,
	                    .teardown = teardown,
	                    .timeout = 60},
	    tests);
}
