/* Inside the proto floor: what proto_text.c shares with proto_meta.c, the
 * meta commands (mg, ms, md, ma, mn, me). Not for other floors. */
#ifndef TL_PROTO_META_H
#define TL_PROTO_META_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct item;
struct obuf;
struct proto_ctx;

struct token {
	const char *s;
	size_t len;
};

/* memcached's number readers, in proto_text.c: -1 when t is not one. */
int tok_u64(const struct token *, uint64_t *);
int tok_u32(const struct token *, uint32_t *);
int tok_i32(const struct token *, int32_t *);
bool tok_next(const char **, const char *, struct token *);

/* memcached's watcher events, in proto_text.c; the caller checks
 * log_event_wanted() first. it NULL: a miss. */
void proto_event_fetch(
    const struct proto_ctx *, const char *, size_t, const struct item *);
/* A store of op (enum cache_store_op) ended with res (enum cache_result);
 * cls as item_class_id(). As memcached: its look-up (what it saw) as an
 * item_get to fetchers, the store as an item_store to mutations; it
 * checks log_event_wanted() itself. */
void proto_event_store(const struct proto_ctx *, int op, const char *, size_t,
    int res, unsigned cls, long ttl, uint64_t size, const struct cache_seen *);

/* One meta request: its line and what follows it; the command says how
 * much of that it used, or that it needs more. */
struct meta_req {
	struct proto_ctx *ctx;
	struct obuf *out;
	const char *line; /* the request line, command name included */
	size_t linelen;
	const char *data; /* what follows the line in the buffer */
	size_t avail;
	size_t used;  /* bytes of data consumed */
	bool more;    /* the data block is not all here yet */
	bool noreply; /* q: the nominal reply was suppressed */
};

/* Run meta command which: 'g' mg, 's' ms, 'd' md, 'a' ma, 'n' mn, 'e'
 * me. */
void meta_command(struct meta_req *, int which);

#endif
