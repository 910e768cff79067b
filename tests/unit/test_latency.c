/* Latency histograms: bucket boundaries, percentiles from known samples,
 * merging, and the protocol counting each request in its class. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "cache.h"
#include "latency.h"
#include "log.h"
#include "obuf.h"
#include "proto_text.h"
#include "unit.h"

/* A snapshot of h, as stats reads one. */
static void
snap(struct lat_hist *h, struct lat_snap *s)
{
	for (unsigned b = 0; b < LAT_BUCKETS; b++)
		s->bucket[b] = stat_get(&h->bucket[b]);
	s->max_us = stat_get(&h->max_us);
	lat_finish(s);
}

START_TEST(test_buckets)
{
	/* Single microseconds below 8, then 4 buckets per power of two. */
	for (uint64_t us = 0; us < 8; us++) {
		ck_assert_uint_eq(lat_bucket(us), us);
		ck_assert_uint_eq(lat_bucket_low((unsigned)us), us);
		ck_assert_uint_eq(lat_bucket_high((unsigned)us), us + 1);
	}
	ck_assert_uint_eq(lat_bucket(8), 8);
	ck_assert_uint_eq(lat_bucket(9), 8);
	ck_assert_uint_eq(lat_bucket(10), 9);
	ck_assert_uint_eq(lat_bucket(15), 11);
	ck_assert_uint_eq(lat_bucket(16), 12);
	ck_assert_uint_eq(lat_bucket_low(11), 14);
	ck_assert_uint_eq(lat_bucket_high(11), 16);
	ck_assert_uint_eq(LAT_BUCKETS, 93);
	ck_assert_uint_eq(lat_bucket((1u << 24) - 1), LAT_BUCKETS - 2);
	ck_assert_uint_eq(lat_bucket(1u << 24), LAT_BUCKETS - 1);
	ck_assert_uint_eq(lat_bucket(UINT64_MAX), LAT_BUCKETS - 1);
	ck_assert_uint_eq(lat_bucket_high(LAT_BUCKETS - 1), UINT64_MAX);
	/* Every value lies in its bucket, and the buckets tile the line. */
	for (unsigned b = 0; b + 1 < LAT_BUCKETS; b++)
		ck_assert_uint_eq(lat_bucket_high(b), lat_bucket_low(b + 1));
	for (uint64_t us = 1; us < (1u << 25); us = us * 3 / 2 + 1) {
		unsigned b = lat_bucket(us);

		ck_assert_uint_le(lat_bucket_low(b), us);
		ck_assert(us < lat_bucket_high(b));
		/* 4 per power of two: a bucket is at most a quarter of its
		 * low end wide. */
		if (b >= 8 && b < LAT_BUCKETS - 1)
			ck_assert_uint_le(
			    lat_bucket_high(b) - lat_bucket_low(b),
			    lat_bucket_low(b) / 4);
	}
}
END_TEST

START_TEST(test_quantiles)
{
	static struct lat_hist h;
	struct lat_snap s;

	memset(&h, 0, sizeof h);
	snap(&h, &s);
	ck_assert_uint_eq(s.count, 0);
	ck_assert_uint_eq(lat_quantile(&s, 0.5), 0);
	/* 1..1000 us, once each. */
	for (uint64_t us = 1; us <= 1000; us++)
		lat_record(&h, us);
	snap(&h, &s);
	ck_assert_uint_eq(s.count, 1000);
	ck_assert_uint_eq(s.max_us, 1000);
	/* The 500th is 500, in [448, 512): the bucket's top is 511. */
	ck_assert_uint_eq(lat_quantile(&s, 0.5), 511);
	/* The 900th, in [896, 1024), is bounded by the max. */
	ck_assert_uint_eq(lat_quantile(&s, 0.9), 1000);
	ck_assert_uint_eq(lat_quantile(&s, 0.999), 1000);
	ck_assert_uint_eq(lat_quantile(&s, 0.001), 1);
	/* Exact in the single-microsecond buckets. */
	memset(&h, 0, sizeof h);
	for (int i = 0; i < 90; i++)
		lat_record(&h, 3);
	for (int i = 0; i < 10; i++)
		lat_record(&h, 7);
	snap(&h, &s);
	ck_assert_uint_eq(lat_quantile(&s, 0.5), 3);
	ck_assert_uint_eq(lat_quantile(&s, 0.9), 3);
	ck_assert_uint_eq(lat_quantile(&s, 0.91), 7);
	ck_assert_uint_eq(lat_quantile(&s, 0.99), 7);
	/* Past the last bucket's start: the max stands for it. */
	lat_record(&h, 30000000);
	snap(&h, &s);
	ck_assert_uint_eq(lat_quantile(&s, 1.0), 30000000);
	ck_assert_uint_eq(s.max_us, 30000000);
}
END_TEST

START_TEST(test_merge)
{
	static struct lat_hist a, b;
	struct lat_snap sa, sb, all;

	memset(&a, 0, sizeof a);
	memset(&b, 0, sizeof b);
	for (int i = 0; i < 100; i++)
		lat_record(&a, 2);
	for (int i = 0; i < 100; i++)
		lat_record(&b, 100);
	snap(&a, &sa);
	snap(&b, &sb);
	memset(&all, 0, sizeof all);
	lat_merge(&all, &sa);
	lat_merge(&all, &sb);
	lat_finish(&all);
	ck_assert_uint_eq(all.count, 200);
	ck_assert_uint_eq(all.max_us, 100);
	ck_assert_uint_eq(lat_quantile(&all, 0.5), 2);
	ck_assert_uint_eq(lat_quantile(&all, 0.51), 100);
	/* A max older than the buckets (a "stats reset" in between) is
	 * bounded by the highest bucket counted. */
	sb.max_us = 5000;
	sb.bucket[lat_bucket(100)] = 0;
	sb.bucket[lat_bucket(20)] = 1;
	lat_finish(&sb);
	ck_assert_uint_eq(sb.max_us, lat_bucket_high(lat_bucket(20)) - 1);
}
END_TEST

START_TEST(test_proto_classes)
{
	static struct proto_latency lat;
	struct cache_stats cst;
	struct proto_ctx ctx;
	struct obuf out;
	enum proto_action action;
	const char in[] = "set a 0 0 1\r\nx\r\nget a\r\ngets a b\r\n"
	                  "delete a\r\nincr n 1\r\ntouch a 0\r\nmn\r\n"
	                  "version\r\nbogus\r\n\r\nset b 0 0 5\r\nab";
	static const unsigned want[PROTO_CLS_COUNT] = {[PROTO_CLS_GET] = 2,
	    [PROTO_CLS_SET] = 1,
	    [PROTO_CLS_DELETE] = 1,
	    [PROTO_CLS_ARITH] = 1,
	    [PROTO_CLS_TOUCH] = 1,
	    [PROTO_CLS_META] = 1,
	    [PROTO_CLS_OTHER] = 3};

	log_set_level(LOG_LVL_WARN);
	ck_assert_int_eq(cache_init(&(struct cache_config){
	                     .limit = 8 << 20, .item_max = 1024 * 1024}),
	    0);
	proto_init(&(struct proto_config){0}, &(struct proto_callbacks){0});
	obuf_init(&out, NULL);
	memset(&cst, 0, sizeof cst);
	memset(&ctx, 0, sizeof ctx);
	memset(&lat, 0, sizeof lat);
	ctx.st = &cst;
	ctx.lat = &lat;
	/* The last set waits for its data: not counted until it is here. */
	proto_text_process(&ctx, in, sizeof in - 1, &out, &action);
	for (int c = 0; c < PROTO_CLS_COUNT; c++) {
		struct lat_snap s;

		snap(&lat.cls[c], &s);
		ck_assert_msg(s.count == want[c], "%s: %llu",
		    proto_class_name(c), (unsigned long long)s.count);
	}
	ck_assert_str_eq(proto_class_name(PROTO_CLS_ARITH), "arith");
	obuf_free(&out);
	cache_free();
}
END_TEST

int
main(void)
{
	const TTest *tests[] = {
	    test_buckets, test_quantiles, test_merge, test_proto_classes, NULL};

	return unit_run(&(struct unit_suite){.name = "latency"}, tests);
}
