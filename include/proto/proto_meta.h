/* Inside the proto floor: what proto_text.c shares with proto_meta.c, the
 * meta commands (mg, ms, md, ma, mn, me). Not for other floors. */
#ifndef TL_PROTO_META_H
#define TL_PROTO_META_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct obuf;
struct proto_ctx;

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
