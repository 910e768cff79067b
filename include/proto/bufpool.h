/* Buffers of one size kept for reuse by the thread that owns the pool: a
 * connection takes one while it has bytes in flight and gives it back
 * when it drains, so an idle connection holds none. Not thread-safe. */
#ifndef TL_BUFPOOL_H
#define TL_BUFPOOL_H

#include <stddef.h>

struct bufpool {
	size_t size;    /* bytes per buffer */
	unsigned keep;  /* buffers kept at most; the rest are freed */
	unsigned limit; /* buffers out at once at most; 0: no limit */
	unsigned out;   /* given and not yet back */
	unsigned n;
	char **free;
};

void bufpool_init(struct bufpool *, size_t size, unsigned keep);
void bufpool_free(struct bufpool *);
/* A buffer of pool->size bytes; NULL when limit buffers are out. */
char *bufpool_get(struct bufpool *);
void bufpool_put(struct bufpool *, char *);
/* A buffer of the pool's was grown (realloc'ed) by its holder: no longer
 * the pool's, no longer counted against its limit. */
void bufpool_detach(struct bufpool *);

#endif
