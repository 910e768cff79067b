/* A connection's pending output: replies are appended here and written
 * with one writev per flush. */
#ifndef TL_OBUF_H
#define TL_OBUF_H

#include <stddef.h>

struct obuf {
	char *data;
	size_t off; /* first unsent byte */
	size_t len;
	size_t cap;
};

void obuf_init(struct obuf *);
void obuf_free(struct obuf *);
void obuf_add(struct obuf *, const void *, size_t);
void obuf_adds(struct obuf *, const char *);
void obuf_printf(struct obuf *, const char *, ...)
    __attribute__((format(printf, 2, 3)));
static inline size_t
obuf_pending(const struct obuf *b)
{
	return b->len - b->off;
}
/* Mark n bytes sent; releases memory once everything is. */
void obuf_consume(struct obuf *, size_t);

#endif
