/* The maint thread: background reclaim, requested crawls, automove. */
#include <pthread.h>
#include <limits.h>
#include <stdbool.h>
#include <string.h>
#include <time.h>

#include "cache.h"
#include "counter.h"
#include "log.h"
#include "maint.h"
#include "thread.h"

/* A pass looks at this many hash buckets per shard, then sleeps a second:
 * a whole table of a few million items is covered within seconds, and no
 * shard lock is held for long. */
#define MAINT_BUCKETS_PER_PASS 4096
#define MAINT_INTERVAL_SECS    1
/* A class that gave a page away takes none for this many passes: pages
 * do not go back and forth. */
#define MAINT_HOLD_PASSES 30
/* Class ids automove looks at (memcached's, from 1; 0 the large items). */
#define MAINT_CLASSES 256
/* Pages automove may move in one pass: 1, 2. */
#define MAINT_MOVES_MAX        8
#define MAINT_MOVES_AGGRESSIVE 32

/* Locks: mt.lock alone, never held across a call into the cache (whose
 * own locks are then taken shard or class first) nor across a sleep. */
static struct {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool stop;
	bool ready;
	bool crawl;                /* a crawl waits for the thread */
	bool want[MAINT_CLASSES];  /* its classes; mt.lock */
	_Atomic bool crawler;      /* lru_crawler enable|disable */
	_Atomic bool running;      /* a crawl runs */
	_Atomic unsigned sleep_us; /* between shards of a crawl */
	_Atomic unsigned tocrawl;
	_Atomic unsigned automove;
	_Atomic uint64_t starts;
	_Atomic uint64_t moves;
	uint64_t last_ev[MAINT_CLASSES]; /* the maint thread's alone */
	/* The pass each class last gave a page away, and the count. */
	uint64_t gave[MAINT_CLASSES], passes;
	struct cache_stats cstats;
} mt = {.lock = PTHREAD_MUTEX_INITIALIZER,
    .crawler = true,
    .sleep_us = 100,
    .automove = 1};

struct cache_stats *
maint_cache_stats(void)
{
	return &mt.cstats;
}

/* The periodic pass: what expired or was flushed goes. */
static void
maint_reclaim(void)
{
	size_t n = cache_reclaim(MAINT_BUCKETS_PER_PASS, &mt.cstats);

	if (n > 0) {
		struct cache_totals t;

		/* Reclaimed, as those a store takes, and by the crawler, as
		 * memcached names its background pass. */
		stat_add(&mt.cstats.reclaimed, n);
		stat_add(&mt.cstats.crawler_reclaimed, n);
		cache_totals(&t);
		log_info("reclaimed %zu expired or flushed items; %llu items, "
		         "%llu bytes in use",
		    n, (unsigned long long)t.curr_items,
		    (unsigned long long)t.bytes);
	}
}

/* "lru_crawler crawl": every bucket of every shard, the classes asked for,
 * up to tocrawl items of each (0: all); after a shard that held some of
 * them, the crawler's sleep, taken with no lock held (memcached sleeps
 * between batches of items checked). */
static void
maint_crawl(const bool *want)
{
	unsigned nshards = cache_shard_count();
	unsigned tocrawl = atomic_load(&mt.tocrawl);
	unsigned left[MAINT_CLASSES];
	size_t n = 0;

	for (unsigned c = 0; c < MAINT_CLASSES; c++)
		left[c] = !want[c] ? 0 : tocrawl > 0 ? tocrawl : UINT_MAX;
	atomic_store(&mt.running, true);
	stat_add(&mt.starts, 1);
	for (unsigned i = 0; i < nshards; i++) {
		unsigned us = atomic_load(&mt.sleep_us);
		size_t checked;

		n += cache_crawl(left, i, i + 1, &checked, &mt.cstats);
		if (us > 0 && checked > 0 && i + 1 < nshards)
			nanosleep(&(struct timespec){.tv_sec = us / 1000000,
			              .tv_nsec = (long)(us % 1000000) * 1000},
			    NULL);
	}
	stat_add(&mt.cstats.reclaimed, n);
	stat_add(&mt.cstats.crawler_reclaimed, n);
	atomic_store(&mt.running, false);
	log_info(
	    "lru_crawler crawl: reclaimed %zu expired or flushed items", n);
}

/*
 * Automove: the class that evicted most since the last pass takes pages
 * from the class holding most pages that evicted none (automove 1) or
 * fewer than a quarter as many (2): as many as its evictions would have
 * filled, up to 8 a pass (32 at 2). When
 * the mix of sizes shifts, the old size's pages sit full of items nobody
 * asks for while the new size evicts its own: this hands them over.
 */
/* Pages that evicted items of class id would have filled, at least 1. */
static unsigned
maint_pages_for(unsigned id, uint64_t evicted)
{
	struct cache_class_stats cs;

	if (cache_class_stats((int)id - 1, &cs) == -1 ||
	    cs.chunks_per_page == 0)
		return 1;
	return (
	    unsigned)((evicted + cs.chunks_per_page - 1) / cs.chunks_per_page);
}

static void
maint_automove(void)
{
	unsigned level = atomic_load(&mt.automove), n, moves;
	uint64_t ev[MAINT_CLASSES], d[MAINT_CLASSES];
	int dst = -1;

	mt.passes++;
	if ((n = cache_rebalance_tick(&mt.cstats)) > 0)
		log_info("slabs automove: %u pages back to the global pool", n);
	n = cache_class_evictions(ev, MAINT_CLASSES);
	for (unsigned i = 0; i < n; i++) {
		bool held = mt.gave[i] != 0 &&
		            mt.passes - mt.gave[i] < MAINT_HOLD_PASSES;

		d[i] = ev[i] - mt.last_ev[i];
		mt.last_ev[i] = ev[i];
		if (i > 0 && !held && d[i] > 0 && (dst == -1 || d[i] > d[dst]))
			dst = (int)i;
	}
	if (level == 0 || dst == -1)
		return;
	moves = maint_pages_for((unsigned)dst, d[dst]);
	if (moves > (level == 2 ? MAINT_MOVES_AGGRESSIVE : MAINT_MOVES_MAX))
		moves = level == 2 ? MAINT_MOVES_AGGRESSIVE : MAINT_MOVES_MAX;
	while (moves-- > 0) {
		unsigned most = 1;
		int src = -1;

		for (unsigned i = 1; i < n; i++) {
			unsigned np = cache_class_pages((int)i);
			bool idle = level == 2 ? d[i] * 4 < d[dst] : d[i] == 0;

			if ((int)i != dst && idle && np > most) {
				most = np;
				src = (int)i;
			}
		}
		if (src == -1 ||
		    cache_reassign(src, dst, &mt.cstats) != CACHE_REASSIGN_OK)
			return;
		stat_add(&mt.moves, 1);
		mt.gave[src] = mt.passes;
		log_info(
		    "slabs automove: a page from class %d to %d", src, dst);
	}
}

void
maint_main(struct thread *self)
{
	pthread_condattr_t attr;
	struct timespec deadline;
	bool want[MAINT_CLASSES], crawl;

	(void)self;
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&mt.cond, &attr);
	pthread_condattr_destroy(&attr);
	pthread_mutex_lock(&mt.lock);
	mt.ready = true;
	thread_ready();
	while (!mt.stop) {
		clock_gettime(CLOCK_MONOTONIC, &deadline);
		deadline.tv_sec += MAINT_INTERVAL_SECS;
		while (
		    !mt.stop && !mt.crawl &&
		    pthread_cond_timedwait(&mt.cond, &mt.lock, &deadline) == 0)
			;
		if (mt.stop)
			break;
		crawl = mt.crawl;
		memcpy(want, mt.want, sizeof want);
		pthread_mutex_unlock(&mt.lock);
		if (atomic_load(&mt.crawler))
			maint_reclaim();
		if (crawl)
			maint_crawl(want);
		maint_automove();
		pthread_mutex_lock(&mt.lock);
		if (crawl)
			mt.crawl = false;
	}
	mt.ready = false;
	pthread_mutex_unlock(&mt.lock);
	pthread_cond_destroy(&mt.cond);
}

/* Queue a crawl of want's classes; -1 while one waits or runs. */
static int
maint_crawl_request(const bool *want)
{
	int rc = 0;

	pthread_mutex_lock(&mt.lock);
	if (mt.crawl)
		rc = -1;
	else {
		memcpy(mt.want, want, sizeof mt.want);
		mt.crawl = true;
		if (mt.ready)
			pthread_cond_signal(&mt.cond);
	}
	pthread_mutex_unlock(&mt.lock);
	return rc;
}

int
maint_command(enum proto_maint_op op, unsigned arg, const bool *want)
{
	switch (op) {
	case PROTO_CRAWLER_ENABLED:
		return atomic_load(&mt.crawler);
	case PROTO_CRAWLER_ENABLE:
		/* memcached: a second start fails. */
		return atomic_exchange(&mt.crawler, true) ? -1 : 0;
	case PROTO_CRAWLER_DISABLE:
		atomic_store(&mt.crawler, false);
		return 0;
	case PROTO_CRAWL:
		return maint_crawl_request(want);
	case PROTO_CRAWLER_SLEEP:
		atomic_store(&mt.sleep_us, arg);
		return 0;
	case PROTO_CRAWLER_TOCRAWL:
		atomic_store(&mt.tocrawl, arg);
		return 0;
	case PROTO_AUTOMOVE:
		atomic_store(&mt.automove, arg);
		cache_rebalance_enable(arg > 0);
		return 0;
	}
	return -1;
}

void
maint_state(struct maint_state *s)
{
	s->crawler = atomic_load(&mt.crawler);
	s->sleep_us = atomic_load(&mt.sleep_us);
	s->tocrawl = atomic_load(&mt.tocrawl);
	s->automove = atomic_load(&mt.automove);
	s->running = atomic_load(&mt.running);
	s->starts = atomic_load(&mt.starts);
	s->moves = atomic_load(&mt.moves);
}

void
maint_stop(void)
{
	pthread_mutex_lock(&mt.lock);
	mt.stop = true;
	if (mt.ready)
		pthread_cond_signal(&mt.cond);
	pthread_mutex_unlock(&mt.lock);
}
