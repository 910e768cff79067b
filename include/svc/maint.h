/* The maint thread: reclaims expired and flushed items in the background
 * so their memory returns without waiting for a client to touch them
 * (memcached's LRU crawler), runs the crawls "lru_crawler crawl" asks for,
 * and moves pages between size classes when evictions show the mix of
 * sizes has shifted ("slabs automove", memcached's rebalancer). */
#ifndef TL_MAINT_H
#define TL_MAINT_H

#include <stdbool.h>
#include <stdint.h>

#include "proto_text.h"

struct cache_stats;
struct thread;

void maint_main(struct thread *);
/* What its passes did to the cache. */
struct cache_stats *maint_cache_stats(void);
void maint_stop(void);
/* proto_callbacks.maint: lru_crawler's and slabs automove's commands. */
int maint_command(enum proto_maint_op, unsigned arg, const bool *want);

/* What stats prints of it, memcached's names. */
struct maint_state {
	bool crawler;      /* lru_crawler */
	unsigned sleep_us; /* lru_crawler_sleep */
	unsigned tocrawl;  /* lru_crawler_tocrawl */
	unsigned automove; /* slab_automove */
	bool running;      /* lru_crawler_running */
	uint64_t starts;   /* lru_crawler_starts */
	uint64_t moves;    /* pages automove moved */
};
void maint_state(struct maint_state *);

#endif
