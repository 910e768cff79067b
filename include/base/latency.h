/* Request latency histograms: log-linear buckets of microseconds, each
 * written by one thread with relaxed atomics (as counter.h) and merged by
 * whoever reads them. A bucket is a power-of-two range split in
 * LAT_SUB linear parts; below 2 * LAT_SUB us every microsecond has its
 * own bucket. The last bucket holds everything from 2^LAT_TOP_LOG2 us
 * (about 16.8 s) up. */
#ifndef TL_LATENCY_H
#define TL_LATENCY_H

#include <stdatomic.h>
#include <stdint.h>

#include "counter.h"

#define LAT_SUB_LOG2 2
#define LAT_SUB      (1 << LAT_SUB_LOG2)
#define LAT_TOP_LOG2 24
/* Buckets 0..2*LAT_SUB-1 are single microseconds; then LAT_SUB per power
 * of two from 2*LAT_SUB up to 2^LAT_TOP_LOG2; then the overflow bucket:
 * 8 + 21 * 4 + 1 = 93 of them. */
#define LAT_BUCKETS ((LAT_TOP_LOG2 - LAT_SUB_LOG2 + 1) * LAT_SUB + 1)

/* One histogram: a struct of counters only, so "stats reset" can note its
 * members as it notes any counter block; max_us is a gauge. */
struct lat_hist {
	_Atomic uint64_t bucket[LAT_BUCKETS];
	_Atomic uint64_t
	    sum_us; /* of every latency counted: Prometheus' _sum */
	_Atomic uint64_t max_us;
};

/* The bucket of a latency of us microseconds. */
static inline unsigned
lat_bucket(uint64_t us)
{
	unsigned e;

	if (us < 2 * LAT_SUB)
		return (unsigned)us;
	if (us >= (uint64_t)1 << LAT_TOP_LOG2)
		return LAT_BUCKETS - 1;
	e = 63u - (unsigned)__builtin_clzll(us); /* us in [2^e, 2^(e+1)) */
	return (e - LAT_SUB_LOG2) * LAT_SUB +
	       (unsigned)(us >> (e - LAT_SUB_LOG2));
}

/* Count one latency; the histogram's owner only. */
static inline void
lat_record(struct lat_hist *h, uint64_t us)
{
	stat_add(&h->bucket[lat_bucket(us)], 1);
	stat_add(&h->sum_us, us);
	if (us > stat_get(&h->max_us))
		atomic_store_explicit(&h->max_us, us, memory_order_relaxed);
}

/* A histogram read out of the counters: plain numbers, merged by adding. */
struct lat_snap {
	uint64_t bucket[LAT_BUCKETS];
	uint64_t count;
	uint64_t max_us; /* the largest seen; 0 when count is 0 */
};

/* The smallest latency bucket b holds, and the first it does not. */
uint64_t lat_bucket_low(unsigned b);
uint64_t lat_bucket_high(unsigned b);
/* Add a snapshot into another: the max of the maxima, the sums of the
 * rest. */
void lat_merge(struct lat_snap *into, const struct lat_snap *);
/* Set count from the buckets and bound max_us by the highest non-empty
 * bucket (a max seen before a "stats reset" may be older than them). */
void lat_finish(struct lat_snap *);
/* The q-quantile (0 < q <= 1) in microseconds: the upper end of the bucket
 * it falls in, but no more than the max; 0 when nothing was counted. */
uint64_t lat_quantile(const struct lat_snap *, double q);

#endif
