#include <pthread.h>
#include <stdbool.h>
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

static struct {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool stop;
	bool kick;
	bool ready;
	struct cache_stats cstats;
} mt = {.lock = PTHREAD_MUTEX_INITIALIZER};

struct cache_stats *
maint_cache_stats(void)
{
	return &mt.cstats;
}

void
maint_main(struct thread *self)
{
	pthread_condattr_t attr;
	struct timespec deadline;
	size_t n;

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
		    !mt.stop && !mt.kick &&
		    pthread_cond_timedwait(&mt.cond, &mt.lock, &deadline) == 0)
			;
		if (mt.stop)
			break;
		mt.kick = false;
		pthread_mutex_unlock(&mt.lock);
		n = cache_reclaim(MAINT_BUCKETS_PER_PASS, &mt.cstats);
		if (n > 0) {
			struct cache_totals t;

			/* Reclaimed, as those a store takes, and by the
			 * crawler, as memcached names its background pass. */
			stat_add(&mt.cstats.reclaimed, n);
			stat_add(&mt.cstats.crawler_reclaimed, n);
			cache_totals(&t);
			log_info("reclaimed %zu expired or flushed items; %llu "
			         "items, %llu bytes in use",
			    n, (unsigned long long)t.curr_items,
			    (unsigned long long)t.bytes);
		}
		pthread_mutex_lock(&mt.lock);
	}
	mt.ready = false;
	pthread_mutex_unlock(&mt.lock);
	pthread_cond_destroy(&mt.cond);
}

void
maint_kick(void)
{
	pthread_mutex_lock(&mt.lock);
	mt.kick = true;
	if (mt.ready)
		pthread_cond_signal(&mt.cond);
	pthread_mutex_unlock(&mt.lock);
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
