/* Inside the proto floor: what its files share: the config and callbacks
 * proto_init() was given, and one request of the text protocol, classic
 * or meta, as its line is read once (split into tokens, its command
 * looked up) and handed to the command. Not for other floors. */
#ifndef TL_PROTO_REQ_H
#define TL_PROTO_REQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

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

/* Who asked, at the head of an audit line (a change to the server, a
 * refusal): fields of their own in the JSON format. */
#define AUDIT_FMT    "conn=%d peer=%s "
#define AUDIT_CTX(c) (c)->peer ? (c)->fd : -1, (c)->peer ? (c)->peer : "-"
#define AUDIT(r)     AUDIT_CTX((r)->ctx)

/* Replies many commands give. */
#define REPLY_ERROR      "ERROR\r\n"
#define REPLY_BAD_FORMAT "CLIENT_ERROR bad command line format\r\n"

/* Reply the string literal lit, unless the request is noreply. */
#define REPLY(r, lit)                                                          \
	do {                                                                   \
		if (!(r)->noreply)                                             \
			obuf_add((r)->out, lit, sizeof lit - 1);               \
	} while (0)
/* A reply chosen at run time. */
#define REPLY_STR(r, str)                                                      \
	do {                                                                   \
		if (!(r)->noreply)                                             \
			obuf_adds((r)->out, str);                              \
	} while (0)

/* The argument checks the commands share, in proto_cmd.c. Whether the
 * last token is "noreply" (memcached's set_noreply_maybe). */
bool cmd_has_noreply(const struct request *);
/* A key of 1..250 bytes; else the bad format error is answered. */
bool cmd_key_arg(struct request *, const struct token *);
/* An exptime as memcached reads it; else its error is answered. */
bool cmd_exptime_arg(struct request *, const struct token *, int32_t *);
/* The commands naming one key in tok[1]: ntok tokens or one more, then
 * noreply, then the key. False once an error is answered. */
bool cmd_keyed_args(struct request *, int ntok);

/* get flavours: cmd_get's arg. */
#define GET_CAS   1
#define GET_TOUCH 2

/* The commands on items, in proto_cmd.c; arg as commands[] gives it. */
void cmd_get(struct request *, int flavour);
void cmd_store(struct request *, int op);
void cmd_delete(struct request *, int);
void cmd_arith(struct request *, int incr);
void cmd_touch(struct request *, int);
/* The commands on the server, in proto_admin.c. */
void cmd_stats(struct request *, int);
void cmd_flush_all(struct request *, int);
void cmd_cache_memlimit(struct request *, int);
void cmd_version(struct request *, int);
void cmd_quit(struct request *, int);
void cmd_shutdown(struct request *, int);
void cmd_verbosity(struct request *, int);
void cmd_debug(struct request *, int);
/* memcached's answer to a command it does not know, in proto_text.c. */
void cmd_unknown(struct request *);
void cmd_access_log(struct request *, int);
void cmd_watch(struct request *, int);
void cmd_slabs(struct request *, int);
void cmd_lru_crawler(struct request *, int);

/* Run meta command which of r: 'g' mg, 's' ms, 'd' md, 'a' ma, 'n' mn,
 * 'e' me. It says in r how much of what follows the line it used, or
 * that it needs more. */
void meta_command(struct request *, int which);

#endif
