/* The shard lock's release, for the files above memory (cache_mem.c
 * takes no shard lock): an inline of the table's, apart from cache_int.h
 * so that memory does not see the table. */
#ifndef TL_CACHE_TABLE_H
#define TL_CACHE_TABLE_H

#include <pthread.h>

#include "cache_int.h"

/* Large items the table let go of under a shard lock, through hnext,
 * released once it is let go (shard_unlock): the last reference of one
 * may unmap it, and the shard's readers of other keys are not to wait on
 * that. The calling thread's: it holds one shard lock at a time. */
extern _Thread_local struct item *shard_dropped;

void shard_release_dropped(void);

/* Let s's lock go, then the large items shard_unlink kept meanwhile. */
static inline void
shard_unlock(struct shard *s)
{
	pthread_mutex_unlock(&s->lock);
	if (shard_dropped != NULL)
		shard_release_dropped();
}

#endif
