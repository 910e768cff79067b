/* Inside the proto floor: what its files share: the config and callbacks
 * proto_init() was given, and one request of the text protocol, classic
 * or meta, as its line is read once (split into tokens, its command
 * looked up) and handed to the command. Not for other floors. */
#ifndef TL_PROTO_REQ_H
#define TL_PROTO_REQ_H

#include <stdbool.h>
#include <stddef.h>

#include "obuf.h"
#include "proto_text.h"
#include "proto_tok.h"

/* memcached's limit; the key lists of retrieval commands are walked
 * separately and are not bound by it. */
#define PROTO_MAX_TOKENS 24

/* proto_init()'s, read by the text and binary protocols alike. */
extern struct proto_config proto_cfg;
extern struct proto_callbacks proto_cb;

struct request {
	struct proto_ctx *ctx;
	struct obuf *out;
	struct token tok[PROTO_MAX_TOKENS];
	int ntok;
	bool too_many;    /* the line had more than PROTO_MAX_TOKENS */
	const char *line; /* the request line, without its end */
	size_t linelen;
	const char *data; /* what follows the line in the buffer */
	size_t avail;
	size_t used;               /* bytes of data the command consumed */
	bool more;                 /* the command needs more input */
	bool noreply;              /* replies suppressed */
	unsigned nkeys, hits;      /* of a retrieval, for the access log */
	size_t reply_at;           /* where its reply begins in out */
	const struct command *cmd; /* what the line asked for; NULL unknown */
	enum proto_action *action;
};

/* Run meta command which of r: 'g' mg, 's' ms, 'd' md, 'a' ma, 'n' mn,
 * 'e' me. It says in r how much of what follows the line it used, or
 * that it needs more. */
void meta_command(struct request *, int which);

#endif
