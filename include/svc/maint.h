/* The maint thread: reclaims expired and flushed items in the background
 * so their memory returns without waiting for a client to touch them. */
#ifndef TL_MAINT_H
#define TL_MAINT_H

struct cache_stats;
struct thread;

void maint_main(struct thread *);
/* What its passes did to the cache. */
struct cache_stats *maint_cache_stats(void);
/* Run a pass now (after flush_all). */
void maint_kick(void);
void maint_stop(void);

#endif
