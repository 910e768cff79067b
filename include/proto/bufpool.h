/* Buffers of one size kept for reuse by the thread that owns the pool: a
 * connection takes one while it has bytes in flight and gives it back
 * when it drains, so an idle connection holds none. Not thread-safe. */
#ifndef TL_BUFPOOL_H
#define TL_BUFPOOL_H

#include <stddef.h>

struct bufpool {
	size_t size;   /* bytes per buffer */
	unsigned keep; /* buffers kept at most; the rest are freed */
	unsigned n;
	char **free;
};

void bufpool_init(struct bufpool *, size_t size, unsigned keep);
void bufpool_free(struct bufpool *);
/* A buffer of pool->size bytes. */
char *bufpool_get(struct bufpool *);
void bufpool_put(struct bufpool *, char *);

#endif
