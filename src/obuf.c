#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "obuf.h"
#include "xmalloc.h"

/* Most replies fit; big ones grow the buffer by doubling. */
#define OBUF_INITIAL 4096

void
obuf_init(struct obuf *b)
{
	memset(b, 0, sizeof *b);
}

void
obuf_free(struct obuf *b)
{
	free(b->data);
	obuf_init(b);
}

/* Make room for n more bytes. */
static void
obuf_reserve(struct obuf *b, size_t n)
{
	size_t cap;

	if (b->cap - b->len >= n)
		return;
	if (b->off > 0) {
		memmove(b->data, b->data + b->off, b->len - b->off);
		b->len -= b->off;
		b->off = 0;
		if (b->cap - b->len >= n)
			return;
	}
	cap = b->cap ? b->cap : OBUF_INITIAL;
	while (cap - b->len < n)
		cap *= 2;
	b->data = xrealloc(b->data, cap);
	b->cap = cap;
}

void
obuf_add(struct obuf *b, const void *p, size_t n)
{
	obuf_reserve(b, n);
	memcpy(b->data + b->len, p, n);
	b->len += n;
}

void
obuf_adds(struct obuf *b, const char *s)
{
	obuf_add(b, s, strlen(s));
}

void
obuf_printf(struct obuf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	obuf_reserve(b, 256);
	va_start(ap, fmt);
	n = vsnprintf(b->data + b->len, b->cap - b->len, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n >= b->cap - b->len) {
		obuf_reserve(b, (size_t)n + 1);
		va_start(ap, fmt);
		vsnprintf(b->data + b->len, b->cap - b->len, fmt, ap);
		va_end(ap);
	}
	b->len += (size_t)n;
}

void
obuf_consume(struct obuf *b, size_t n)
{
	b->off += n;
	if (b->off < b->len)
		return;
	b->off = b->len = 0;
	/* An idle connection should not pin a large reply's memory. */
	if (b->cap > 4 * OBUF_INITIAL) {
		free(b->data);
		b->data = NULL;
		b->cap = 0;
	}
}
