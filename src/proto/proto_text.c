/* The memcached ASCII protocol: request lines and data blocks framed,
 * each line read once into a struct request and its command run; the
 * commands are in proto_cmd.c, proto_admin.c and proto_meta.c. */
#include <stdbool.h>
#include <stddef.h>
#include <string.h>

#include "cache.h"
#include "obuf.h"
#include "proto_auth.h"
#include "proto_observe.h"
#include "proto_req.h"
#include "proto_text.h"
#include "proto_tok.h"

/* Stop answering once this much output waits: a client that does not read
 * cannot make us buffer without bound. */
#define PROTO_OUT_HIGH (256 * 1024)

enum command_kind {
	CMD_OTHER,
	CMD_KEYED, /* names one key, for the access log */
	/* get/gets/gat/gats: a list of keys, walked from the line, which
	 * may pass PROTO_MAX_TOKENS and PROTO_LINE_MAX */
	CMD_RETRIEVAL,
	/* mg/ms/md/ma/mn/me: read by proto_meta.c from the line, which
	 * answers too many tokens itself, as memcached */
	CMD_META,
};

struct command {
	const char *name;
	void (*fn)(struct request *, int);
	int arg; /* passed through, e.g. which storage operation */
	enum command_kind kind;
	enum proto_class cls; /* what its latency counts as */
};

static void cmd_meta(struct request *, int);

/* Most frequent first: the table is searched in order. */
static const struct command commands[] = {
    {"get", cmd_get, 0, CMD_RETRIEVAL, PROTO_CLS_GET},
    {"set", cmd_store, CACHE_SET, CMD_KEYED, PROTO_CLS_SET},
    {"gets", cmd_get, GET_CAS, CMD_RETRIEVAL, PROTO_CLS_GET},
    {"delete", cmd_delete, 0, CMD_KEYED, PROTO_CLS_DELETE},
    {"incr", cmd_arith, 1, CMD_KEYED, PROTO_CLS_ARITH},
    {"decr", cmd_arith, 0, CMD_KEYED, PROTO_CLS_ARITH},
    {"add", cmd_store, CACHE_ADD, CMD_KEYED, PROTO_CLS_SET},
    {"replace", cmd_store, CACHE_REPLACE, CMD_KEYED, PROTO_CLS_SET},
    {"append", cmd_store, CACHE_APPEND, CMD_KEYED, PROTO_CLS_SET},
    {"prepend", cmd_store, CACHE_PREPEND, CMD_KEYED, PROTO_CLS_SET},
    {"cas", cmd_store, CACHE_CAS, CMD_KEYED, PROTO_CLS_SET},
    {"touch", cmd_touch, 0, CMD_KEYED, PROTO_CLS_TOUCH},
    {"gat", cmd_get, GET_TOUCH, CMD_RETRIEVAL, PROTO_CLS_GET},
    {"gats", cmd_get, GET_TOUCH | GET_CAS, CMD_RETRIEVAL, PROTO_CLS_GET},
    {"stats", cmd_stats, 0, CMD_OTHER, PROTO_CLS_OTHER},
    {"flush_all", cmd_flush_all, 0, CMD_OTHER, PROTO_CLS_OTHER},
    {"version", cmd_version, 0, CMD_OTHER, PROTO_CLS_OTHER},
    {"verbosity", cmd_verbosity, 0, CMD_OTHER, PROTO_CLS_OTHER},
    {"debug", cmd_debug, 0, CMD_OTHER, PROTO_CLS_OTHER},
    {"cache_memlimit", cmd_cache_memlimit, 0, CMD_OTHER, PROTO_CLS_OTHER},
    {"quit", cmd_quit, 0, CMD_OTHER, PROTO_CLS_OTHER},
    {"shutdown", cmd_shutdown, 0, CMD_OTHER, PROTO_CLS_OTHER},
    {"watch", cmd_watch, 0, CMD_OTHER, PROTO_CLS_OTHER},
    {"lru_crawler", cmd_lru_crawler, 0, CMD_OTHER, PROTO_CLS_OTHER},
    {"slabs", cmd_slabs, 0, CMD_OTHER, PROTO_CLS_OTHER},
    {"access_log", cmd_access_log, 0, CMD_OTHER, PROTO_CLS_OTHER},
    {"mg", cmd_meta, 'g', CMD_META, PROTO_CLS_META},
    {"ms", cmd_meta, 's', CMD_META, PROTO_CLS_META},
    {"md", cmd_meta, 'd', CMD_META, PROTO_CLS_META},
    {"ma", cmd_meta, 'a', CMD_META, PROTO_CLS_META},
    {"mn", cmd_meta, 'n', CMD_META, PROTO_CLS_META},
    {"me", cmd_meta, 'e', CMD_META, PROTO_CLS_META},
};

struct proto_config proto_cfg;
struct proto_callbacks proto_cb;
_Atomic bool proto_detail_on;

static const char reply_too_long[] = "CLIENT_ERROR line too long\r\n";

void
proto_init(const struct proto_config *cfg, const struct proto_callbacks *cb)
{
	proto_cfg = *cfg;
	proto_cb = *cb;
}

void
proto_detail_set(bool on)
{
	atomic_store(&proto_detail_on, on && proto_cb.detail != NULL);
}

size_t
proto_text_buffer_max(void)
{
	/* A storage line with its "\n", then the value and its "\r\n". */
	size_t data = PROTO_LINE_MAX + 1 + cache_item_max() + 2;

	return data > PROTO_KEYS_LINE_MAX + 2 ? data : PROTO_KEYS_LINE_MAX + 2;
}

/* The meta commands, in proto_meta.c: the line, and the data block after
 * it for ms. */
static void
cmd_meta(struct request *r, int which)
{
	meta_command(r, which);
	r->nkeys = which != 'n';
}

/* The command named by t, or NULL. */
static const struct command *
proto_command(const struct token *t)
{
	for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
		if (tok_is(t, commands[i].name))
			return &commands[i];
	return NULL;
}

/* Read the request line at line, len bytes before its "\n", once: its
 * end, its tokens and its command. memcached reads a request line as a C
 * string: a NUL ends it. */
static void
proto_read_line(struct request *r, const char *line, size_t len)
{
	const char *nul;

	r->line = line;
	r->linelen = len > 0 && line[len - 1] == '\r' ? len - 1 : len;
	if ((nul = memchr(line, '\0', r->linelen)) != NULL)
		r->linelen = (size_t)(nul - line);
	r->ntok = tok_split(r->line, r->linelen, r->tok, PROTO_MAX_TOKENS);
	r->too_many = r->ntok == -1;
	if (r->too_many)
		r->ntok = PROTO_MAX_TOKENS;
	r->cmd = r->ntok > 0 ? proto_command(&r->tok[0]) : NULL;
}

/* Retrieval commands carry key lists far longer than other lines: a line
 * that begins with one's name and a space may be that long. */
static size_t
proto_line_limit(const struct request *r)
{
	const struct token *name = &r->tok[0];

	/* The byte after the name is in the buffer: at worst the "\n". */
	return r->cmd != NULL && r->cmd->kind == CMD_RETRIEVAL &&
	               name->s == r->line && r->line[name->len] == ' '
	           ? PROTO_KEYS_LINE_MAX
	           : PROTO_LINE_MAX;
}

/* Run the request line's command. */
static void
proto_dispatch(struct request *r)
{
	r->noreply = false;
	r->used = 0;
	r->more = false;
	r->nkeys = r->hits = 0;
	/* Only retrieval commands may carry more than 24 tokens: they walk
	 * their keys from the line itself. */
	if (r->ntok == 0 ||
	    (r->too_many &&
	        (r->cmd == NULL || (r->cmd->kind != CMD_RETRIEVAL &&
	                               r->cmd->kind != CMD_META)))) {
		REPLY(r, REPLY_ERROR);
		return;
	}
	if (r->cmd != NULL) {
		r->nkeys = r->cmd->kind == CMD_KEYED;
		r->cmd->fn(r, r->cmd->arg);
		return;
	}
	cmd_unknown(r);
}

/* What memcached does with a command it does not know. */
void
cmd_unknown(struct request *r)
{
	/* A browser can be made to POST to any local port: its headers and
	 * body must never run as commands (memcached closes here too). */
	if (r->tok[r->ntok - 1].len >= 5 &&
	    memcmp(r->tok[r->ntok - 1].s, "HTTP/", 5) == 0) {
		*r->action = PROTO_HTTP;
		return;
	}
	REPLY(r, REPLY_ERROR);
}

/* A line with no end yet may grow past PROTO_LINE_MAX only if it is a get
 * or gets (after at most 100 spaces), as in memcached: anything else that
 * long is junk, and the connection goes without a reply. */
static size_t
proto_open_line_limit(const char *line, size_t len)
{
	size_t at = 0;

	while (at < len && line[at] == ' ')
		at++;
	if (at > PROTO_OPEN_SPACES_MAX)
		return PROTO_LINE_MAX;
	len -= at;
	line += at;
	if ((len >= 4 && memcmp(line, "get ", 4) == 0) ||
	    (len >= 5 && memcmp(line, "gets ", 5) == 0))
		return PROTO_KEYS_LINE_MAX;
	return PROTO_LINE_MAX;
}

/* What the access and slow-request lines say of request r (a struct
 * request): its command and first key, "-" when it names none, and its
 * result: the reply's first word, lower-cased ("stored", "not_found",
 * "client_error"), ok for a number, none or noreply for no reply, and for
 * retrievals hit, miss or partial. */
static void
proto_describe(const void *arg, struct proto_seen *s)
{
	const struct request *r = arg;
	size_t avail = r->out->len - r->out->off - r->reply_at;
	const char *p = avail ? r->out->data + r->out->off + r->reply_at : NULL;
	int i = r->cmd == NULL || r->cmd->kind == CMD_OTHER ? 0
	        : r->cmd->kind == CMD_RETRIEVAL && (r->cmd->arg & GET_TOUCH)
	            ? 2
	            : 1;
	size_t n = 0;

	s->cmd = r->ntok > 0 ? r->tok[0].s : "-";
	s->ncmd = r->ntok > 0 ? r->tok[0].len : 1;
	s->key = i == 0 || r->ntok <= i ? NULL : r->tok[i].s;
	s->nkey = s->key != NULL ? r->tok[i].len : 0;
	s->nkeys = r->nkeys;
	s->res = NULL;
	if (r->cmd != NULL && r->cmd->kind == CMD_RETRIEVAL && r->nkeys > 0)
		s->res = r->hits == 0          ? "miss"
		         : r->hits == r->nkeys ? "hit"
		                               : "partial";
	else if (avail == 0)
		s->res = r->noreply ? "noreply" : "none";
	else if (p[0] >= '0' && p[0] <= '9')
		s->res = "ok";
	if (s->res != NULL) {
		s->nres = strlen(s->res);
		return;
	}
	for (; n < avail && n < sizeof s->buf && p[n] != ' ' && p[n] != '\r';
	     n++)
		s->buf[n] =
		    (char)(p[n] >= 'A' && p[n] <= 'Z' ? p[n] + 32 : p[n]);
	s->res = s->buf;
	s->nres = n;
}

/* Run the request begun at start (ns), count its latency and write its
 * access line when those are on; returns when it ended, the start of the
 * next one in a pipeline. One that waits for more input is neither
 * counted nor logged: it runs again, whole, once the input is here. */
static long long
proto_run(struct request *r, long long start)
{
	r->reply_at = r->out->len - r->out->off;
	proto_dispatch(r);
	if (r->more)
		return start;
	return proto_observe(r->ctx,
	    r->cmd != NULL ? r->cmd->cls : PROTO_CLS_OTHER, start,
	    proto_describe, r);
}

size_t
proto_text_process(struct proto_ctx *ctx, const char *buf, size_t len,
    struct obuf *out, enum proto_action *action)
{
	struct request r = {.ctx = ctx, .out = out, .action = action};
	size_t pos = 0;
	long long start = 0; /* of the next request; 0: not read yet */

	*action = PROTO_CONTINUE;
	ctx->cmds = 0;
	ctx->need = 0;
	while (pos < len && *action == PROTO_CONTINUE && ctx->dump == NULL &&
	       obuf_pending(out) < PROTO_OUT_HIGH &&
	       (ctx->max_cmds == 0 || ctx->cmds < ctx->max_cmds)) {
		const char *line = buf + pos;
		const char *nl;
		size_t linelen;

		if (ctx->skip > 0) {
			size_t n =
			    ctx->skip < len - pos ? ctx->skip : len - pos;

			ctx->skip -= n;
			pos += n;
			continue;
		}
		if (!ctx->authed && proto_auth_enabled()) {
			size_t n =
			    proto_auth_request(ctx, line, len - pos, action);

			if (ctx->authed)
				proto_auth_flush(ctx, out);
			if (n == 0)
				break;
			pos += n;
			ctx->cmds++;
			continue;
		}
		nl = memchr(line, '\n', len - pos);
		linelen = nl ? (size_t)(nl - line) : len - pos;
		if (nl == NULL) {
			if (linelen > proto_open_line_limit(line, linelen)) {
				*action = PROTO_TOO_LONG;
				return len;
			}
			break;
		}
		/* One clock read per request: each ends where the next
		 * begins. */
		if (start == 0)
			start = proto_observe_now();
		proto_read_line(&r, line, linelen);
		ctx->line = line;
		ctx->linelen = linelen;
		if (linelen > proto_line_limit(&r)) {
			r.noreply =
			    false; /* the last request's, not this one's */
			REPLY(&r, reply_too_long);
			*action = PROTO_CLOSE;
			return len;
		}
		r.data = nl + 1;
		r.avail = len - pos - linelen - 1;
		start = proto_run(&r, start);
		if (r.more) {
			ctx->need += linelen + 1;
			break;
		}
		pos += linelen + 1 + r.used;
		ctx->cmds++;
	}
	proto_auth_flush(ctx, out);
	return pos;
}
