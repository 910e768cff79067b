/* The maint thread: reclaims expired and flushed items in the background
 * so their memory returns without waiting for a client to touch them. */
#ifndef TL_MAINT_H
#define TL_MAINT_H

struct service;

void maint_main(struct service *);
/* Run a pass now (after flush_all). */
void maint_kick(void);
void maint_stop(void);

#endif
