/* Each worker's pool of output buffers (read_buf_mem_limit). */
#include <stdlib.h>

#include "bufpool.h"
#include "xmalloc.h"

void
bufpool_init(struct bufpool *p, size_t size, unsigned keep)
{
	p->size = size;
	p->keep = keep;
	p->limit = 0;
	p->out = 0;
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
	if (p->limit > 0 && p->out >= p->limit)
		return NULL;
	p->out++;
	return p->n > 0 ? p->free[--p->n] : xmalloc(p->size);
}

void
bufpool_put(struct bufpool *p, char *buf)
{
	p->out--;
	if (p->n < p->keep)
		p->free[p->n++] = buf;
	else
		free(buf);
}

void
bufpool_detach(struct bufpool *p)
{
	p->out--;
}
