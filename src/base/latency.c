/* Latency histograms of single-writer counters, log-linear buckets. */
#include <stdint.h>

#include "latency.h"

uint64_t
lat_bucket_low(unsigned b)
{
	unsigned e, sub;

	if (b < 2 * LAT_SUB)
		return b;
	if (b >= LAT_BUCKETS - 1)
		return (uint64_t)1 << LAT_TOP_LOG2;
	e = b / LAT_SUB + LAT_SUB_LOG2 - 1;
	sub = b % LAT_SUB;
	return (uint64_t)(LAT_SUB + sub) << (e - LAT_SUB_LOG2);
}

uint64_t
lat_bucket_high(unsigned b)
{
	/* The overflow bucket has no end: the max stands for it. */
	return b >= LAT_BUCKETS - 1 ? UINT64_MAX : lat_bucket_low(b + 1);
}

void
lat_merge(struct lat_snap *into, const struct lat_snap *s)
{
	for (unsigned b = 0; b < LAT_BUCKETS; b++)
		into->bucket[b] += s->bucket[b];
	into->count += s->count;
	if (s->max_us > into->max_us)
		into->max_us = s->max_us;
}

void
lat_finish(struct lat_snap *s)
{
	unsigned top = 0;

	s->count = 0;
	for (unsigned b = 0; b < LAT_BUCKETS; b++)
		if (s->bucket[b] != 0) {
			s->count += s->bucket[b];
			top = b;
		}
	if (s->count == 0)
		s->max_us = 0;
	else if (s->max_us >= lat_bucket_high(top))
		s->max_us = lat_bucket_high(top) - 1;
	else if (s->max_us < lat_bucket_low(top))
		/* Buckets raced ahead of the max while read: trust them. */
		s->max_us = lat_bucket_high(top) - 1;
}

uint64_t
lat_quantile(const struct lat_snap *s, double q)
{
	uint64_t rank, seen = 0;

	if (s->count == 0)
		return 0;
	/* The rank of the sample at q, counting from 1. */
	rank = (uint64_t)(q * (double)s->count + 0.999999);
	if (rank < 1)
		rank = 1;
	if (rank > s->count)
		rank = s->count;
	for (unsigned b = 0; b < LAT_BUCKETS; b++) {
		seen += s->bucket[b];
		if (seen >= rank) {
			uint64_t hi = lat_bucket_high(b) - 1;

			return hi < s->max_us ? hi : s->max_us;
		}
	}
	return s->max_us;
}
