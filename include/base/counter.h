/* Statistics counters: written by the owning thread only and read by
 * whoever answers a stats request, hence relaxed atomics and no lock. */
#ifndef TL_COUNTER_H
#define TL_COUNTER_H

#include <stdatomic.h>
#include <stdint.h>

static inline void
stat_add(_Atomic uint64_t *c, uint64_t n)
{
	/* Single writer: a plain load and store, no locked instruction. */
	atomic_store_explicit(c,
	    atomic_load_explicit(c, memory_order_relaxed) + n,
	    memory_order_relaxed);
}

static inline uint64_t
stat_get(_Atomic uint64_t *c)
{
	return atomic_load_explicit(c, memory_order_relaxed);
}

#endif
