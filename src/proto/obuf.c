/* Output buffers: reply text, and item values sent by reference. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bufpool.h"
#include "cache.h"
#include "obuf.h"
#include "xmalloc.h"

/* Most replies fit; big ones grow the buffer by doubling. */
#define OBUF_INITIAL      4096
#define OBUF_REFS_INITIAL 16

void
obuf_init(struct obuf *b, struct bufpool *pool)
{
	memset(b, 0, sizeof *b);
	b->pool = pool;
}

/* Give the text buffer back: to the pool it came from, else to malloc. */
static void
obuf_drop_data(struct obuf *b)
{
	if (b->pooled)
		bufpool_put(b->pool, b->data);
	else
		free(b->data);
	b->data = NULL;
	b->cap = 0;
	b->pooled = false;
}

void
obuf_free(struct obuf *b)
{
	for (size_t i = b->ref0; i < b->nrefs; i++)
		cache_release(b->refs[i].it);
	free(b->refs);
	obuf_drop_data(b);
	obuf_init(b, b->pool);
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
		for (size_t i = b->ref0; i < b->nrefs; i++)
			b->refs[i].pos -= b->off;
		b->len -= b->off;
		b->off = 0;
		if (b->cap - b->len >= n)
			return;
	}
	if (b->cap == 0 && b->pool != NULL && n <= b->pool->size &&
	    (b->data = bufpool_get(b->pool)) != NULL) {
		b->cap = b->pool->size;
		b->pooled = true;
		return;
	}
	cap = b->cap ? b->cap : OBUF_INITIAL;
	while (cap - b->len < n)
		cap *= 2;
	if (b->pooled) {
		/* Grown past the pool's size: malloc's from now on. */
		bufpool_detach(b->pool);
		b->pooled = false;
	}
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
obuf_add_item(struct obuf *b, struct item *it, const char *p, size_t len)
{
	/* A small value is copied: the kernel pays more for an iovec than
	 * the copy costs, and the item goes back at once. Only into room
	 * the text has: growing it would copy the text again. */
	if (len <= OBUF_COPY_MAX && b->cap - b->len >= len) {
		memcpy(b->data + b->len, p, len);
		b->len += len;
		cache_release(it);
		return;
	}
	if (b->nrefs == b->refcap) {
		if (b->ref0 > 0) {
			memmove(b->refs, b->refs + b->ref0,
			    (b->nrefs - b->ref0) * sizeof *b->refs);
			b->nrefs -= b->ref0;
			b->ref0 = 0;
		} else {
			b->refcap =
			    b->refcap ? b->refcap * 2 : OBUF_REFS_INITIAL;
			b->refs =
			    xreallocarray(b->refs, b->refcap, sizeof *b->refs);
		}
	}
	b->refs[b->nrefs++] =
	    (struct obuf_ref){.pos = b->len, .p = p, .len = len, .it = it};
	b->refbytes += len;
}

int
obuf_iov(const struct obuf *b, struct iovec *iov, int max)
{
	size_t t = b->off;
	int n = 0;

	for (size_t i = b->ref0; i < b->nrefs && n < max; i++) {
		const struct obuf_ref *r = &b->refs[i];
		size_t skip = i == b->ref0 ? b->refoff : 0;

		if (r->pos > t) {
			iov[n++] = (struct iovec){b->data + t, r->pos - t};
			t = r->pos;
			if (n == max)
				return n;
		}
		iov[n++] = (struct iovec){(char *)r->p + skip, r->len - skip};
	}
	if (n < max && b->len > t &&
	    (b->ref0 == b->nrefs || b->refs[b->nrefs - 1].pos <= t))
		iov[n++] = (struct iovec){b->data + t, b->len - t};
	return n;
}

/* Everything is out. An idle connection pins no memory: with a pool the
 * buffers go back at once, without one only a large reply's. */
static void
obuf_reset(struct obuf *b)
{
	b->off = b->len = 0;
	b->ref0 = b->nrefs = 0;
	b->refoff = 0;
	if (b->pool != NULL || b->cap > 4 * OBUF_INITIAL)
		obuf_drop_data(b);
	if (b->pool != NULL || b->refcap > 4 * OBUF_REFS_INITIAL) {
		free(b->refs);
		b->refs = NULL;
		b->refcap = 0;
	}
}

void
obuf_consume(struct obuf *b, size_t n)
{
	while (n > 0) {
		struct obuf_ref *r =
		    b->ref0 < b->nrefs ? &b->refs[b->ref0] : NULL;
		size_t take;

		if (r == NULL || b->off < r->pos) {
			size_t end = r ? r->pos : b->len;

			take = end - b->off < n ? end - b->off : n;
			b->off += take;
		} else {
			take = r->len - b->refoff < n ? r->len - b->refoff : n;
			b->refoff += take;
			b->refbytes -= take;
			if (b->refoff == r->len) {
				cache_release(r->it);
				b->ref0++;
				b->refoff = 0;
			}
		}
		n -= take;
	}
	if (b->off == b->len && b->ref0 == b->nrefs)
		obuf_reset(b);
}

bool
obuf_pool_empty(const struct obuf *b)
{
	return b->cap == 0 && b->pool != NULL && b->pool->limit > 0 &&
	       b->pool->out >= b->pool->limit;
}
