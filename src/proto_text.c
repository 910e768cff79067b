#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "obuf.h"
#include "proto_text.h"
#include "stats.h"
#include "tl_build.h"

/* Stop answering once this much output waits: a client that does not read
 * cannot make us buffer without bound. */
#define PROTO_OUT_HIGH (256 * 1024)
/* memcached's limit; the key lists of retrieval commands are walked
 * separately and are not bound by it. */
#define PROTO_MAX_TOKENS 24

struct token {
	const char *s;
	size_t len;
};

struct request {
	struct proto_ctx *ctx;
	struct obuf *out;
	struct token tok[PROTO_MAX_TOKENS];
	int ntok;
	enum proto_action *action;
};

struct command {
	const char *name;
	void (*fn)(struct request *);
};

static void cmd_quit(struct request *);
static void cmd_stats(struct request *);
static void cmd_verbosity(struct request *);
static void cmd_version(struct request *);

static const struct command commands[] = {
    {"quit", cmd_quit},
    {"stats", cmd_stats},
    {"verbosity", cmd_verbosity},
    {"version", cmd_version},
};

static const char reply_error[] = "ERROR\r\n";
static const char reply_bad_format[] =
    "CLIENT_ERROR bad command line format\r\n";
static const char reply_too_long[] = "CLIENT_ERROR line too long\r\n";

#define REPLY(r, lit) obuf_add((r)->out, lit, sizeof lit - 1)

static int
tok_is(const struct token *t, const char *s)
{
	size_t n = strlen(s);

	return t->len == n && memcmp(t->s, s, n) == 0;
}

/* A decimal unsigned number filling the whole token. */
static int
tok_uint(const struct token *t, unsigned long long *out)
{
	char buf[24], *end;

	if (t->len == 0 || t->len >= sizeof buf || t->s[0] == '-')
		return -1;
	memcpy(buf, t->s, t->len);
	buf[t->len] = '\0';
	errno = 0;
	*out = strtoull(buf, &end, 10);
	return errno != 0 || *end != '\0' ? -1 : 0;
}

/* Split on spaces as memcached does; -1 when there are too many tokens. */
static int
tokenize(struct request *r, const char *line, size_t len)
{
	size_t i = 0, start;

	r->ntok = 0;
	while (i < len) {
		while (i < len && line[i] == ' ')
			i++;
		if (i == len)
			break;
		if (r->ntok == PROTO_MAX_TOKENS)
			return -1;
		start = i;
		while (i < len && line[i] != ' ')
			i++;
		r->tok[r->ntok].s = line + start;
		r->tok[r->ntok].len = i - start;
		r->ntok++;
	}
	return 0;
}

/* "noreply" as the last token silences the reply. */
static int
noreply(struct request *r)
{
	return r->ntok > 1 && tok_is(&r->tok[r->ntok - 1], "noreply");
}

static void
cmd_version(struct request *r)
{
	REPLY(r, "VERSION " TL_VERSION "\r\n");
}

static void
cmd_quit(struct request *r)
{
	*r->action = PROTO_QUIT;
}

/* verbosity N: 0 warn, 1 notice, 2 info (the default), 3 and up debug. */
static void
cmd_verbosity(struct request *r)
{
	unsigned long long n;
	int quiet = noreply(r);

	if (r->ntok < 2 || r->ntok > 3 || (r->ntok == 3 && !quiet)) {
		REPLY(r, reply_error);
		return;
	}
	if (tok_uint(&r->tok[1], &n) == -1 || n > 0xffffffffULL) {
		REPLY(r, reply_bad_format);
		return;
	}
	log_set_level(LOG_LVL_WARN + (int)(n > 3 ? 3 : n));
	log_notice("log level set to %s", log_level_name(log_verbosity));
	if (!quiet)
		REPLY(r, "OK\r\n");
}

static void
cmd_stats(struct request *r)
{
	if (r->ntok == 1)
		stats_general(r->out);
	else if (tok_is(&r->tok[1], "threads"))
		stats_threads(r->out);
	else if (tok_is(&r->tok[1], "settings"))
		stats_settings(r->out);
	else if (tok_is(&r->tok[1], "conns"))
		stats_conns(r->out);
	else
		REPLY(r, reply_error);
}

static void
proto_dispatch(struct request *r, const char *line, size_t len)
{
	if (tokenize(r, line, len) == -1 || r->ntok == 0) {
		REPLY(r, reply_error);
		return;
	}
	for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
		if (tok_is(&r->tok[0], commands[i].name)) {
			commands[i].fn(r);
			return;
		}
	REPLY(r, reply_error);
}

/* Retrieval commands carry key lists far longer than other lines. */
static size_t
proto_line_limit(const char *line, size_t len)
{
	static const char *const keyed[] = {"get ", "gets ", "gat ", "gats "};

	for (size_t i = 0; i < sizeof keyed / sizeof keyed[0]; i++) {
		size_t n = strlen(keyed[i]);

		if (len >= n && memcmp(line, keyed[i], n) == 0)
			return PROTO_KEYS_LINE_MAX;
	}
	return PROTO_LINE_MAX;
}

size_t
proto_text_process(struct proto_ctx *ctx, const char *buf, size_t len,
    struct obuf *out, enum proto_action *action)
{
	struct request r = {.ctx = ctx, .out = out, .action = action};
	size_t pos = 0;

	*action = PROTO_CONTINUE;
	ctx->cmds = 0;
	while (pos < len && *action == PROTO_CONTINUE &&
	       obuf_pending(out) < PROTO_OUT_HIGH) {
		const char *line = buf + pos;
		const char *nl = memchr(line, '\n', len - pos);
		size_t linelen = nl ? (size_t)(nl - line) : len - pos;

		if (linelen > proto_line_limit(line, linelen)) {
			REPLY(&r, reply_too_long);
			*action = PROTO_CLOSE;
			return len;
		}
		if (nl == NULL)
			break;
		pos += linelen + 1;
		if (linelen > 0 && line[linelen - 1] == '\r')
			linelen--;
		proto_dispatch(&r, line, linelen);
		ctx->cmds++;
	}
	return pos;
}
