#include <stdlib.h>

#include "bufpool.h"
#include "xmalloc.h"

void
bufpool_init(struct bufpool *p, size_t size, unsigned keep)
{
	p->size = size;
	p->keep = keep;
	p->n = 0;
	p->free = xcalloc(keep, sizeof *p->free);
}

void
bufpool_free(struct bufpool *p)
{
	while (p->n > 0)
		free(p->free[--p->n]);
	free(p->free);
	p->free = NULL;
}

char *
bufpool_get(struct bufpool *p)
{
	return p->n > 0 ? p->free[--p->n] : xmalloc(p->size);
}

void
bufpool_put(struct bufpool *p, char *buf)
{
	if (p->n < p->keep)
		p->free[p->n++] = buf;
	else
		free(buf);
}
