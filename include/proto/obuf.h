/* A connection's pending output: reply text is appended to one buffer,
 * small item values are copied into it, larger ones referenced in place
 * (the item held until its bytes are sent); the connection writes the
 * whole in as few calls as IOV_MAX allows. */
#ifndef TL_OBUF_H
#define TL_OBUF_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/uio.h>

struct bufpool;
struct item;

/* An item's bytes, sent after the text before pos. */
struct obuf_ref {
	size_t pos;
	const char *p;
	size_t len;
	struct item *it;
};

struct obuf {
	char *data;
	size_t off; /* first unsent text byte */
	size_t len;
	size_t cap;
	struct obuf_ref *refs;
	size_t ref0;   /* first unsent reference */
	size_t refoff; /* bytes of refs[ref0] already sent */
	size_t nrefs;
	size_t refcap;
	size_t refbytes;      /* unsent bytes in references */
	struct bufpool *pool; /* where the text buffer comes from, or NULL */
	bool pooled;          /* data is the pool's */
};

/* With a pool, the buffers are taken when output starts and given back
 * when all of it is sent. */
void obuf_init(struct obuf *, struct bufpool *);
/* The reply would need a buffer of the pool and it has none left
 * (read_buf_mem_limit): what memcached's get refuses. Text is still
 * taken, from malloc. */
bool obuf_pool_empty(const struct obuf *);
void obuf_free(struct obuf *);
void obuf_add(struct obuf *, const void *, size_t);
void obuf_adds(struct obuf *, const char *);
void obuf_printf(struct obuf *, const char *, ...)
    __attribute__((format(printf, 2, 3)));
/* Values up to this many bytes are copied when the text buffer has room
 * for them (bench/iovec-copy.c measures where copying stops paying). */
#define OBUF_COPY_MAX 1024

/* Queue len (> 0) bytes at p, which stay valid while the caller's reference on
 * it is held; the obuf takes that reference over and releases it once the
 * bytes are sent (or the obuf is freed), or copies them and releases it at
 * once (OBUF_COPY_MAX). */
void obuf_add_item(struct obuf *, struct item *, const char *, size_t);
static inline size_t
obuf_pending(const struct obuf *b)
{
	return b->len - b->off + b->refbytes;
}
/* Fill iov with the unsent bytes in order; returns the entries used. */
int obuf_iov(const struct obuf *, struct iovec *, int);
/* Mark n bytes sent; releases memory and items once they are. */
void obuf_consume(struct obuf *, size_t);

#endif
