#include <ctype.h>
#include <stdatomic.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cache.h"
#include "counter.h"
#include "log.h"
#include "log_event.h"
#include "obuf.h"
#include "proto_auth.h"
#include "proto_observe.h"
#include "proto_req.h"
#include "proto_text.h"
#include "proto_tok.h"
#include "ratelimit.h"
#include "tl_build.h"
#include "xmalloc.h"

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

static void cmd_access_log(struct request *, int);
static void cmd_arith(struct request *, int);
static void cmd_cache_memlimit(struct request *, int);
static void cmd_delete(struct request *, int);
static void cmd_flush_all(struct request *, int);
static void cmd_get(struct request *, int);
static void cmd_meta(struct request *, int);
static void cmd_quit(struct request *, int);
static void cmd_shutdown(struct request *, int);
static void cmd_stats(struct request *, int);
static void cmd_store(struct request *, int);
static void cmd_touch(struct request *, int);
static void cmd_verbosity(struct request *, int);
static void cmd_version(struct request *, int);
static void cmd_watch(struct request *, int);
static void cmd_lru_crawler(struct request *, int);
static void cmd_slabs(struct request *, int);

/* get flavours */
#define GET_CAS   1
#define GET_TOUCH 2

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

static const char reply_error[] = "ERROR\r\n";
static const char reply_bad_format[] =
    "CLIENT_ERROR bad command line format\r\n";
static const char reply_too_long[] = "CLIENT_ERROR line too long\r\n";
static const char reply_too_large[] =
    "SERVER_ERROR object too large for cache\r\n";
static const char reply_no_memory[] =
    "SERVER_ERROR out of memory storing object\r\n";

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

void
proto_init(const struct proto_config *cfg, const struct proto_callbacks *cb)
{
	proto_cfg = *cfg;
	proto_cb = *cb;
}

size_t
proto_text_buffer_max(void)
{
	/* A storage line with its "\n", then the value and its "\r\n". */
	size_t data = PROTO_LINE_MAX + 1 + cache_item_max() + 2;

	return data > PROTO_KEYS_LINE_MAX + 2 ? data : PROTO_KEYS_LINE_MAX + 2;
}

/* "noreply" as the last token silences the reply, whatever the count of
 * tokens before it (memcached's set_noreply_maybe): "touch  0 noreply"
 * answers its bad exptime with nothing. */
static bool
has_noreply(const struct request *r)
{
	return r->ntok > 1 && tok_is(&r->tok[r->ntok - 1], "noreply");
}

/* Keys are 1..250 bytes. Any other byte is allowed, as memcached does:
 * spaces cannot occur (they split tokens), and real clients send control
 * bytes (memcaslap prefixes its keys with 0x10). */
static bool
key_ok(const struct token *t)
{
	return t->len > 0 && t->len <= CACHE_KEY_MAX;
}

/* A key of 1..250 bytes; else the bad format error is answered. */
static bool
cmd_key_arg(struct request *r, const struct token *key)
{
	if (!key_ok(key)) {
		REPLY(r, reply_bad_format);
		return false;
	}
	return true;
}

/* An exptime as memcached reads it; else its error is answered. */
static bool
cmd_exptime_arg(struct request *r, const struct token *t, int32_t *e)
{
	if (tok_i32(t, e) == -1) {
		REPLY(r, "CLIENT_ERROR invalid exptime argument\r\n");
		return false;
	}
	return true;
}

/* What the commands naming one key in tok[1] check first: ntok tokens or
 * one more (memcached ignores any extra word but noreply), else ERROR;
 * then noreply, as the last token; then the key. False once an error is
 * answered. */
static bool
cmd_keyed_args(struct request *r, int ntok)
{
	if (r->ntok != ntok && r->ntok != ntok + 1) {
		REPLY(r, reply_error);
		return false;
	}
	r->noreply = has_noreply(r);
	return cmd_key_arg(r, &r->tok[1]);
}

/* Decimal digits of n at p; returns where they end. */
static char *
fmt_u64_at(char *p, uint64_t n)
{
	char num[24], *d = tok_fmt_u64(num + sizeof num, n);
	size_t len = (size_t)(num + sizeof num - d);

	memcpy(p, d, len);
	return p + len;
}

/* "VALUE key flags bytes [cas]\r\n", then the value by reference. */
static void
reply_value(struct obuf *out, struct item *it, bool cas)
{
	char head[CACHE_KEY_MAX + 80], *p = head;

	memcpy(p, "VALUE ", 6);
	p += 6;
	memcpy(p, item_key(it), it->nkey);
	p += it->nkey;
	*p++ = ' ';
	p = fmt_u64_at(p, it->flags);
	*p++ = ' ';
	p = fmt_u64_at(p, it->nbytes);
	if (cas) {
		*p++ = ' ';
		p = fmt_u64_at(p, proto_cfg.no_cas ? 0 : it->cas);
	}
	*p++ = '\r';
	*p++ = '\n';
	obuf_add(out, head, (size_t)(p - head));
	obuf_add_item(out, it, item_value(it), (size_t)it->nbytes + 2);
}

/* get/gets key...; gat/gats exptime key... Keys are walked straight from
 * the line: their number is bounded by the line length, not by
 * PROTO_MAX_TOKENS. */
static void
cmd_get(struct request *r, int flavour)
{
	const char *p = r->tok[0].s + r->tok[0].len, *q;
	const char *end = r->line + r->linelen;
	bool touch = flavour & GET_TOUCH, cas = flavour & GET_CAS;
	time_t exptime = 0;
	struct token key;

	if (r->ntok < 2) {
		REPLY(r, reply_error);
		return;
	}
	if (touch) {
		int32_t e;

		if (!cmd_exptime_arg(r, &r->tok[1], &e))
			return;
		exptime = cache_exptime(e, cache_now());
		p = r->tok[1].s + r->tok[1].len;
	}
	/* A bad key anywhere fails the whole command, as in memcached: no
	 * value goes out ahead of the error. */
	for (q = p; tok_next(&q, end, &key);)
		if (!cmd_key_arg(r, &key))
			return;
	/* read_buf_mem_limit: the reply would need a buffer none is left
	 * of; memcached's words. */
	if (obuf_pool_empty(r->out)) {
		REPLY(r, "SERVER_ERROR out of memory writing get response\r\n");
		return;
	}
	while (tok_next(&p, end, &key)) {
		struct item *it;

		it = cache_get(key.s, key.len, touch, exptime, r->ctx->st);
		if (log_event_wanted(LOG_EV_FETCH))
			proto_observe_fetch(r->ctx, key.s, key.len, it);
		if (proto_cb.detail != NULL)
			proto_cb.detail(
			    PROTO_DETAIL_GET, key.s, key.len, it != NULL);
		r->nkeys++;
		if (it != NULL) {
			r->hits++;
			reply_value(r->out, it, cas);
		}
	}
	REPLY(r, "END\r\n");
}

/* A storage command's numbers. */
struct store_args {
	uint32_t flags;
	int32_t exptime;
	uint64_t bytes; /* of the data block, without its "\r\n" */
	uint64_t cas;
};

/* set/add/replace/append/prepend key flags exptime bytes [noreply];
 * cas key flags exptime bytes cas [noreply]: the line's arguments. False
 * once an error is answered. */
static bool
cmd_store_args(struct request *r, int op, struct store_args *a)
{
	int32_t len;

	a->cas = 0;
	if (!cmd_keyed_args(r, op == CACHE_CAS ? 6 : 5))
		return false;
	if (tok_u32(&r->tok[2], &a->flags) ||
	    tok_i32(&r->tok[3], &a->exptime) || tok_i32(&r->tok[4], &len) ||
	    len < 0 || len > INT32_MAX - 2 ||
	    (op == CACHE_CAS && tok_u64(&r->tok[5], &a->cas))) {
		REPLY(r, reply_bad_format);
		return false;
	}
	a->bytes = (uint64_t)len;
	return true;
}

/* A set that fails drops the old value, as memcached does, so a stale
 * value does not outlive a failed update. */
static void
cmd_store_failed(struct request *r, int op)
{
	if (op == CACHE_SET)
		cache_drop(r->tok[1].s, r->tok[1].len, r->ctx->st);
}

/* A store refused for its size or for want of memory: counted, and
 * logged at most once a minute per worker and kind, with how many went
 * unlogged, so a client filling a full cache cannot flood the log. */
static void
cmd_store_refused(struct request *r, bool too_large, uint64_t bytes)
{
	static _Thread_local struct ratelimit limit[2];
	struct ratelimit *rl = &limit[too_large];

	stat_add(too_large ? &r->ctx->st->store_too_large
	                   : &r->ctx->st->store_no_memory,
	    1);
	if (!ratelimit_allow(rl, cache_now(), 60, 1))
		return;
	log_warnx("not stored: a value of %llu bytes %s (%lu more in the "
	          "minute before, at most one line a minute)",
	    (unsigned long long)bytes,
	    too_large ? "is larger than item_size_max"
	              : "found no memory, the cache is full",
	    ratelimit_take_suppressed(rl));
}

/* Whether the data block of bytes after the line is here, whole and ended
 * by "\r\n"; if not, more input is asked for or the error is answered. */
static bool
cmd_store_data(struct request *r, int op, uint64_t bytes)
{
	if (r->tok[1].len + bytes > cache_item_max()) {
		/* The data block is swallowed, not read as commands. */
		cmd_store_refused(r, true, bytes);
		REPLY(r, reply_too_large);
		cmd_store_failed(r, op);
		r->ctx->skip = bytes + 2;
		return false;
	}
	if (r->avail < bytes + 2) {
		r->ctx->need = bytes + 2;
		r->more = true;
		return false;
	}
	r->used = bytes + 2;
	stat_add(&r->ctx->st->cmd_set, 1);
	if (memcmp(r->data + bytes, "\r\n", 2) != 0) {
		REPLY(r, "CLIENT_ERROR bad data chunk\r\n");
		return false;
	}
	return true;
}

/* The reply to what cache_store said. */
static void
cmd_store_reply(struct request *r, enum cache_result res)
{
	switch (res) {
	case CACHE_STORED:
		REPLY(r, "STORED\r\n");
		break;
	case CACHE_NOT_STORED:
		REPLY(r, "NOT_STORED\r\n");
		break;
	case CACHE_EXISTS:
		REPLY(r, "EXISTS\r\n");
		break;
	case CACHE_NOT_FOUND:
		REPLY(r, "NOT_FOUND\r\n");
		break;
	case CACHE_TOO_LARGE:
		REPLY(r, reply_too_large);
		break;
	default:
		REPLY(r, reply_no_memory);
		break;
	}
}

/* The storage commands: the line, the data block after it, the store. */
static void
cmd_store(struct request *r, int op)
{
	struct store_args a;
	struct cache_seen seen;
	enum cache_result res;
	struct item *it;
	unsigned cls;

	if (!cmd_store_args(r, op, &a) || !cmd_store_data(r, op, a.bytes))
		return;
	if (proto_cb.detail != NULL)
		proto_cb.detail(
		    PROTO_DETAIL_SET, r->tok[1].s, r->tok[1].len, true);
	it = cache_alloc(r->tok[1].s, r->tok[1].len, a.flags,
	    cache_exptime(a.exptime, cache_now()), a.bytes, &res, r->ctx->st);
	if (it == NULL) {
		cmd_store_refused(r, res == CACHE_TOO_LARGE, a.bytes);
		REPLY(r, reply_no_memory);
		cmd_store_failed(r, op);
		return;
	}
	memcpy(item_value(it), r->data, a.bytes);
	/* Under -C no CAS matches, as memcached's cas answers EXISTS; the
	 * store's CAS values start at 1. */
	if (proto_cfg.no_cas)
		a.cas = 0;
	cls = item_class_id(it);
	res = cache_store_cas(it, op, a.cas, NULL, &seen, r->ctx->st);
	cmd_store_reply(r, res);
	if (log_event_wanted(LOG_EV_MUTATION) || log_event_wanted(LOG_EV_FETCH))
		proto_observe_store(r->ctx, op, r->tok[1].s, r->tok[1].len, res,
		    cls, a.exptime > 0 ? a.exptime : 0, a.bytes, &seen);
}

/* delete key [0] [noreply]: memcached still takes a zero hold time. */
static void
cmd_delete(struct request *r, int arg)
{
	/* As memcached, a count out of range is answered even with
	 * noreply. */
	if (r->ntok < 2 || r->ntok > 4) {
		REPLY(r, reply_error);
		return;
	}
	/* "delete noreply" is a delete of the key "noreply". */
	r->noreply = r->ntok > 2 && has_noreply(r);
	if (r->ntok > 3 + r->noreply ||
	    (r->ntok == 3 + r->noreply && !tok_is(&r->tok[2], "0"))) {
		REPLY(r, "CLIENT_ERROR bad command line format.  Usage: delete "
		         "<key> [noreply]\r\n");
		return;
	}
	if (!cmd_key_arg(r, &r->tok[1]))
		return;
	if (proto_cb.detail != NULL)
		proto_cb.detail(
		    PROTO_DETAIL_DEL, r->tok[1].s, r->tok[1].len, true);
	if (cache_delete(r->tok[1].s, r->tok[1].len, r->ctx->st) == CACHE_OK)
		REPLY(r, "DELETED\r\n");
	else
		REPLY(r, "NOT_FOUND\r\n");
}

/* incr/decr key delta [noreply] */
static void
cmd_arith(struct request *r, int incr)
{
	char num[24], *d;
	uint64_t delta, value;

	if (!cmd_keyed_args(r, 3))
		return;
	if (tok_u64(&r->tok[2], &delta) == -1) {
		REPLY(r, "CLIENT_ERROR invalid numeric delta argument\r\n");
		return;
	}
	switch (cache_arith(
	    r->tok[1].s, r->tok[1].len, incr, delta, &value, r->ctx->st)) {
	case CACHE_OK:
		if (r->noreply)
			break;
		d = tok_fmt_u64(num + sizeof num - 2, value);
		memcpy(num + sizeof num - 2, "\r\n", 2);
		obuf_add(r->out, d, (size_t)(num + sizeof num - d));
		break;
	case CACHE_NOT_FOUND:
		REPLY(r, "NOT_FOUND\r\n");
		break;
	case CACHE_NON_NUMERIC:
		REPLY(r, "CLIENT_ERROR cannot increment or decrement "
		         "non-numeric value\r\n");
		break;
	default:
		REPLY(r, "SERVER_ERROR out of memory\r\n");
		break;
	}
}

/* touch key exptime [noreply] */
static void
cmd_touch(struct request *r, int arg)
{
	int32_t e;

	if (!cmd_keyed_args(r, 3) || !cmd_exptime_arg(r, &r->tok[2], &e))
		return;
	if (cache_touch(r->tok[1].s, r->tok[1].len,
	        cache_exptime(e, cache_now()), r->ctx->st) == CACHE_OK)
		REPLY(r, "TOUCHED\r\n");
	else
		REPLY(r, "NOT_FOUND\r\n");
}

/* flush_all [delay] [noreply] */
static void
cmd_flush_all(struct request *r, int arg)
{
	int32_t delay = 0;

	/* As memcached: too many words is ERROR even with noreply; a word
	 * after the delay other than noreply is ignored, and a delay in the
	 * past (or negative) means now. Counted even when refused. */
	if (r->ntok > 3) {
		REPLY(r, reply_error);
		return;
	}
	r->noreply = has_noreply(r);
	stat_add(&r->ctx->st->cmd_flush, 1);
	if (proto_cfg.no_flush) {
		REPLY(r, "CLIENT_ERROR flush_all not allowed\r\n");
		return;
	}
	if (r->ntok != 1 + r->noreply &&
	    !cmd_exptime_arg(r, &r->tok[1], &delay))
		return;
	cache_flush_all(delay);
	if (delay > 0)
		log_info("flush_all in %d", (int)delay);
	else
		log_info("flush_all");
	REPLY(r, "OK\r\n");
}

/* cache_memlimit MB [noreply] */
static void
cmd_cache_memlimit(struct request *r, int arg)
{
	uint32_t mb;

	/* memcached answers a bad number with a bare ERROR here, and a bad
	 * count of words before it looks for noreply. */
	if (r->ntok != 2 && r->ntok != 3) {
		REPLY(r, reply_error);
		return;
	}
	r->noreply = has_noreply(r);
	if (tok_u32(&r->tok[1], &mb) == -1) {
		REPLY(r, reply_error);
		return;
	}
	if (mb < 8) {
		REPLY(r, "MEMLIMIT_TOO_SMALL cannot set maxbytes to less than "
		         "8m\r\n");
		return;
	}
	cache_set_limit((size_t)mb << 20);
	log_notice("memory limit set to %u MB", (unsigned)mb);
	REPLY(r, "OK\r\n");
}

/* version: the memcached release whose protocol we speak, and ours. */
static void
cmd_version(struct request *r, int arg)
{
	REPLY(r, "VERSION " TL_WIRE_VERSION "\r\n");
}

/* quit: close once the replies before it are sent. */
static void
cmd_quit(struct request *r, int arg)
{
	*r->action = PROTO_QUIT;
}

/* shutdown [graceful] stops the server, when the config allows it. Ours
 * is always memcached's graceful one: replies already made are sent. */
static void
cmd_shutdown(struct request *r, int arg)
{
	if (!proto_cfg.shutdown) {
		REPLY(r, "ERROR: shutdown not enabled\r\n");
		return;
	}
	if (r->ntok > 2 || (r->ntok == 2 && !tok_is(&r->tok[1], "graceful"))) {
		REPLY(r, "CLIENT_ERROR invalid shutdown mode\r\n");
		return;
	}
	log_notice("shutdown requested by a client");
	*r->action = PROTO_SHUTDOWN;
}

/* verbosity LEVEL [THREAD]: LEVEL is memcached's number (as -v's:
 * log_level_of_verbosity) or a level name; THREAD, our extension, a
 * thread's name or a role, limits the change to those threads. A number
 * there is what memcached reads: a word it ignores ("verbosity 1 2" sets
 * every thread), as it does not name a thread. */
static void
cmd_verbosity(struct request *r, int arg)
{
	char name[32];
	uint32_t n;
	int level;
	/* memcached takes 2 or 3 words; THREAD noreply make a 4th, ours. */
	bool thread = r->ntok >= 3 && r->ntok <= 4 &&
	              !tok_is(&r->tok[2], "noreply") &&
	              tok_u32(&r->tok[2], &n) == -1;

	if (r->ntok < 2 || r->ntok > 3 + thread) {
		REPLY(r, reply_error);
		return;
	}
	/* As memcached, "verbosity noreply" is a bad level, answered
	 * silently. */
	r->noreply = has_noreply(r);
	if (r->ntok == 4 && !r->noreply) {
		REPLY(r, reply_error);
		return;
	}
	if (tok_u32(&r->tok[1], &n) == 0)
		level = log_level_of_verbosity(n);
	else if (r->tok[1].len < sizeof name) {
		memcpy(name, r->tok[1].s, r->tok[1].len);
		name[r->tok[1].len] = '\0';
		level = log_level_parse(name);
	} else
		level = -1;
	if (level == -1) {
		REPLY(r, reply_bad_format);
		return;
	}
	if (!thread) {
		log_set_level(level);
		log_notice("log level set to %s", log_level_name(level));
		REPLY(r, "OK\r\n");
		return;
	}
	snprintf(name, sizeof name, "%.*s",
	    (int)(r->tok[2].len < 31 ? r->tok[2].len : 31), r->tok[2].s);
	if (r->tok[2].len >= 16 || log_set_thread_level(name, level) == 0) {
		REPLY(r, "CLIENT_ERROR no such thread or role\r\n");
		return;
	}
	log_notice("log level of %s set to %s", name, log_level_name(level));
	REPLY(r, "OK\r\n");
}

/* access_log on|off [noreply]: ours, memcached has none; turns the access
 * lines ([log] access) on or off in every worker from the next request. */
static void
cmd_access_log(struct request *r, int arg)
{
	bool on;

	r->noreply = has_noreply(r);
	if (r->ntok != 2 + r->noreply ||
	    (!tok_is(&r->tok[1], "on") && !tok_is(&r->tok[1], "off"))) {
		REPLY(r, "CLIENT_ERROR usage: access_log on|off\r\n");
		return;
	}
	on = tok_is(&r->tok[1], "on");
	atomic_store_explicit(&log_access_on, on, memory_order_relaxed);
	log_notice("access log turned %s by a client", on ? "on" : "off");
	REPLY(r, "OK\r\n");
}

/* watch [level=L] [thread=NAME|ROLE] [category=C]: from here on the
 * connection receives log lines; memcached's event words (fetchers...)
 * stream its events instead, and a bare "watch" is "watch fetchers" as
 * in memcached. */
static void
cmd_watch(struct request *r, int arg)
{
	const char *args = r->tok[0].s + r->tok[0].len;
	char err[256];

	if (r->ctx->peer == NULL) {
		REPLY(r, reply_error);
		return;
	}
	if (proto_cfg.no_watch) {
		REPLY(r, "CLIENT_ERROR watch commands not allowed\r\n");
		return;
	}
	if (log_filter_parse(&r->ctx->watch, args,
	        (size_t)(r->line + r->linelen - args), err, sizeof err) == -1) {
		obuf_printf(r->out, "CLIENT_ERROR %s\r\n", err);
		return;
	}
	if (r->ntok == 1)
		r->ctx->watch.categories = 1u << LOG_EV_FETCH;
	REPLY(r, "OK\r\n");
	*r->action = PROTO_WATCH;
}

/* The meta commands, in proto_meta.c: the line, and the data block after
 * it for ms. */
static void
cmd_meta(struct request *r, int which)
{
	meta_command(r, which);
	r->nkeys = which != 'n';
}

/* Items a metadump copies out of the store per chunk: its output, a few
 * KB (at most ~55 KB with the longest keys), mostly fits in one pooled
 * 16 KiB buffer, reused from chunk to chunk. */
#define PROTO_DUMP_CHUNK 64

/* A metadump under way: where the walk stands, the classes asked for and
 * room for one chunk's copies. One at a time, as in memcached. */
struct proto_dump {
	struct cache_dump_cursor cur;
	bool want[256];
	struct cache_debug items[PROTO_DUMP_CHUNK];
};
static atomic_bool proto_dumping;

/* One "key=... exp=... la=... cas=... fetch=... cls=... size=..." line of
 * lru_crawler metadump, the key URI-encoded, as memcached writes it. */
static void
proto_metadump_item(struct obuf *out, const struct cache_debug *d)
{
	static const char hexdigits[] = "0123456789ABCDEF";
	char key[CACHE_KEY_MAX * 3], *k = key;

	for (size_t i = 0; i < d->nkey; i++) {
		unsigned char c = (unsigned char)d->key[i];

		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || strchr("-_.~", c) != NULL) {
			*k++ = (char)c;
			continue;
		}
		*k++ = '%';
		*k++ = hexdigits[c >> 4];
		*k++ = hexdigits[c & 15];
	}
	obuf_printf(out,
	    "key=%.*s exp=%lld la=%u cas=%llu fetch=%s cls=%u size=%zu\n",
	    (int)(k - key), key, d->exptime ? (long long)d->exptime : -1LL,
	    d->atime, (unsigned long long)d->cas, d->fetched ? "yes" : "no",
	    d->cls, d->size);
}

bool
proto_dump_more(struct proto_ctx *ctx, struct obuf *out)
{
	struct proto_dump *dp = ctx->dump;
	size_t n;

	if (dp == NULL)
		return false;
	/* The shard locks are held while copying only, not here. */
	n = cache_dump_next(&dp->cur, dp->want, dp->items, PROTO_DUMP_CHUNK);
	for (size_t i = 0; i < n; i++)
		proto_metadump_item(out, &dp->items[i]);
	if (n == PROTO_DUMP_CHUNK)
		return true;
	obuf_add(out, "END\r\n", 5);
	proto_dump_stop(ctx);
	return false;
}

void
proto_dump_stop(struct proto_ctx *ctx)
{
	if (ctx->dump == NULL)
		return;
	free(ctx->dump);
	ctx->dump = NULL;
	atomic_store_explicit(&proto_dumping, false, memory_order_release);
}

/* The server's maintenance hook, or what answers without one. */
static int
proto_maint(enum proto_maint_op op, unsigned arg, const bool *want)
{
	if (proto_cb.maint == NULL)
		return op == PROTO_CRAWLER_ENABLED;
	return proto_cb.maint(op, arg, want);
}

static const char reply_crawler_off[] = "CLIENT_ERROR lru crawler disabled\r\n";

/* Memcached's crawlable class ids: 1 to 63, whatever the classes are. */
#define PROTO_CRAWL_IDS 64

/* lru_crawler crawl all|ID[,ID...]: a reclaim pass by maint over those
 * classes, which answers at once as memcached's crawler does. Empty items
 * of the list (",1", "1,") are passed over, as memcached's strtok. */
static void
lru_crawler_crawl(struct request *r)
{
	bool want[256] = {false};
	const char *p = r->tok[2].s, *end = p + r->tok[2].len;

	if (!proto_maint(PROTO_CRAWLER_ENABLED, 0, NULL)) {
		REPLY(r, reply_crawler_off);
		return;
	}
	if (tok_is(&r->tok[2], "all"))
		memset(want, true, sizeof want);
	else
		while (p < end) {
			const char *comma = memchr(p, ',', (size_t)(end - p));
			struct token id = {
			    p, (size_t)((comma ? comma : end) - p)};
			uint32_t v;

			p = comma ? comma + 1 : end;
			if (id.len == 0)
				continue;
			if (tok_u32(&id, &v) == -1 || v == 0 ||
			    v >= PROTO_CRAWL_IDS) {
				REPLY(r, "BADCLASS invalid class id\r\n");
				return;
			}
			want[v] = true;
		}
	if (proto_maint(PROTO_CRAWL, 0, want) == -1)
		REPLY(r, "BUSY currently processing crawler request\r\n");
	else
		REPLY(r, "OK\r\n");
}

/* lru_crawler sleep US | tocrawl N: the crawl's pace and its bound. */
static void
lru_crawler_set(struct request *r, enum proto_maint_op op)
{
	uint32_t v;

	if (tok_u32(&r->tok[2], &v) == -1) {
		REPLY(r, reply_bad_format);
		return;
	}
	if (op == PROTO_CRAWLER_SLEEP && v > 1000000) {
		REPLY(r, "CLIENT_ERROR sleep must be one second or less\r\n");
		return;
	}
	proto_maint(op, v, NULL);
	REPLY(r, "OK\r\n");
}

/* lru_crawler's subcommands but metadump, as memcached parses them. */
static void
lru_crawler_tune(struct request *r)
{
	if (r->ntok == 3 && tok_is(&r->tok[1], "crawl"))
		lru_crawler_crawl(r);
	else if (r->ntok == 3 && tok_is(&r->tok[1], "tocrawl"))
		lru_crawler_set(r, PROTO_CRAWLER_TOCRAWL);
	else if (r->ntok == 3 && tok_is(&r->tok[1], "sleep"))
		lru_crawler_set(r, PROTO_CRAWLER_SLEEP);
	else if (r->ntok == 2 && tok_is(&r->tok[1], "enable"))
		REPLY_STR(
		    r, proto_maint(PROTO_CRAWLER_ENABLE, 0, NULL) == -1
		           ? "ERROR failed to start lru crawler thread\r\n"
		           : "OK\r\n");
	else if (r->ntok == 2 && tok_is(&r->tok[1], "disable"))
		REPLY_STR(r, proto_maint(PROTO_CRAWLER_DISABLE, 0, NULL) == -1
		                 ? "ERROR failed to stop lru crawler thread\r\n"
		                 : "OK\r\n");
	else
		REPLY(r, reply_error);
}

/* slabs reassign SRC DST: move a page between size classes now, its items
 * evicted. */
static void
slabs_reassign(struct request *r)
{
	static const char *const replies[] = {
	    [CACHE_REASSIGN_OK] = "OK\r\n",
	    [CACHE_REASSIGN_BUSY] =
	        "BUSY currently processing reassign request\r\n",
	    [CACHE_REASSIGN_BADCLASS] =
	        "BADCLASS invalid src or dst class id\r\n",
	    [CACHE_REASSIGN_NOSPARE] =
	        "NOSPARE source class has no spare pages\r\n",
	    [CACHE_REASSIGN_SAME] = "SAME src and dst class are identical\r\n",
	};
	int32_t src, dst;

	if (tok_i32(&r->tok[2], &src) == -1 ||
	    tok_i32(&r->tok[3], &dst) == -1) {
		REPLY(r, reply_bad_format);
		return;
	}
	REPLY_STR(r, replies[cache_reassign(src, dst, r->ctx->st)]);
}

/* slabs automove 0|1|2 [noreply]: maint's background rebalancing. */
static void
slabs_automove(struct request *r)
{
	uint32_t level;

	r->noreply = has_noreply(r);
	if (tok_is(&r->tok[2], "ratio")) {
		/* memcached's window ratio: taken, nothing here uses it. */
		REPLY_STR(r, r->ntok < 4 || tok_is(&r->tok[3], "noreply")
		                 ? reply_error
		                 : "OK\r\n");
		return;
	}
	if (tok_u32(&r->tok[2], &level) == -1) {
		REPLY(r, reply_bad_format);
		return;
	}
	if (level > 2) {
		REPLY(r, reply_error);
		return;
	}
	proto_maint(PROTO_AUTOMOVE, level, NULL);
	REPLY(r, "OK\r\n");
}

/* slabs reassign|automove ... */
static void
cmd_slabs(struct request *r, int arg)
{
	(void)arg;
	if (r->ntok == 4 && tok_is(&r->tok[1], "reassign"))
		slabs_reassign(r);
	else if (r->ntok >= 3 && tok_is(&r->tok[1], "automove"))
		slabs_automove(r);
	else
		REPLY(r, reply_error);
}

/* lru_crawler metadump all|hash|ID[,ID...]: every item's metadata, for
 * memcached-tool's dump and keys. As memcached's crawler, the store is
 * walked a chunk at a time while the client reads (proto_dump_more), one
 * dump at a time server-wide. Its other subcommands tune memcached's
 * crawler. */
static void
cmd_lru_crawler(struct request *r, int arg)
{
	bool want[256] = {false};
	int n = cache_class_count();
	const char *p, *end;
	bool busy = false;

	if (r->ntok != 3 || !tok_is(&r->tok[1], "metadump")) {
		lru_crawler_tune(r);
		return;
	}
	if (!proto_maint(PROTO_CRAWLER_ENABLED, 0, NULL)) {
		REPLY(r, reply_crawler_off);
		return;
	}
	if (proto_cfg.no_dump) {
		REPLY(r, "ERROR metadump not allowed\r\n");
		return;
	}
	/* memcached refuses a dump behind replies not yet sent: any request
	 * before it in the same read, even one that answers nothing. */
	if (r->ctx->cmds > 0 || obuf_pending(r->out) > 0) {
		REPLY(r, "ERROR cannot pipeline other commands before "
		         "metadump\r\n");
		return;
	}
	if (tok_is(&r->tok[2], "all") || tok_is(&r->tok[2], "hash"))
		memset(want, true, sizeof want);
	else
		for (p = r->tok[2].s, end = p + r->tok[2].len; p < end;) {
			const char *comma = memchr(p, ',', (size_t)(end - p));
			struct token id = {
			    p, (size_t)((comma ? comma : end) - p)};
			uint32_t v;

			/* memcached's classes count from 1; 0 holds our
			 * items too large for a chunk. */
			if (tok_u32(&id, &v) == -1 || v >= (uint32_t)n) {
				REPLY(r, "BADCLASS invalid class id\r\n");
				return;
			}
			want[v] = true;
			p = comma ? comma + 1 : end;
		}
	if (!atomic_compare_exchange_strong(&proto_dumping, &busy, true)) {
		REPLY(r, "BUSY currently processing crawler request\r\n");
		return;
	}
	r->ctx->dump = xcalloc(1, sizeof *r->ctx->dump);
	memcpy(r->ctx->dump->want, want, sizeof want);
	proto_dump_more(r->ctx, r->out);
}

/* stats [GROUP [ARGS]]: the server's to answer, through its hook, which
 * gets the line from the group on. */
static void
cmd_stats(struct request *r, int arg)
{
	const struct token *group = r->ntok > 1 ? &r->tok[1] : NULL;
	const struct token *last = &r->tok[r->ntok - 1];

	if (proto_cfg.no_dump && group != NULL && tok_is(group, "cachedump")) {
		REPLY(r, "CLIENT_ERROR stats cachedump not allowed\r\n");
		return;
	}
	if (proto_cb.stats == NULL ||
	    proto_cb.stats(group ? group->s : "",
	        group ? (size_t)(last->s + last->len - group->s) : 0,
	        r->out) == -1)
		REPLY(r, reply_error);
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
		REPLY(r, reply_error);
		return;
	}
	if (r->cmd != NULL) {
		r->nkeys = r->cmd->kind == CMD_KEYED;
		r->cmd->fn(r, r->cmd->arg);
		return;
	}
	/* A browser can be made to POST to any local port: its headers and
	 * body must never run as commands (memcached closes here too). */
	if (r->tok[r->ntok - 1].len >= 5 &&
	    memcmp(r->tok[r->ntok - 1].s, "HTTP/", 5) == 0) {
		*r->action = PROTO_HTTP;
		return;
	}
	REPLY(r, reply_error);
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

/* The length of an auth set, read as memcached's safe_strtoul: digits,
 * then the token's end or a space character (its "\r"). */
static int
proto_auth_size(const struct token *t, uint32_t *size)
{
	unsigned long long v = 0;
	size_t i = 0;
	bool neg = false;

	if (i < t->len && (t->s[i] == '+' || t->s[i] == '-'))
		neg = t->s[i++] == '-';
	if (i == t->len || !isdigit((unsigned char)t->s[i]))
		return -1;
	for (; i < t->len && isdigit((unsigned char)t->s[i]); i++) {
		if (v > (ULLONG_MAX - 9) / 10)
			return -1;
		v = v * 10 + (unsigned)(t->s[i] - '0');
	}
	if (i < t->len && !isspace((unsigned char)t->s[i]))
		return -1;
	if (neg && v != 0)
		return -1;
	*size = (uint32_t)v; /* memcached keeps 32 bits of it */
	return 0;
}

/* Before authentication memcached keeps one reply, which each request
 * overwrites until it is sent: of a read's requests only the last is
 * answered. */
static void
proto_auth_reply(struct request *r, const char *reply)
{
	r->ctx->auth_reply = reply;
}

/* Send the reply proto_auth_reply kept. */
static void
proto_auth_flush(struct proto_ctx *ctx, struct obuf *out)
{
	if (ctx->auth_reply != NULL)
		obuf_adds(out, ctx->auth_reply);
	ctx->auth_reply = NULL;
}

/* The credentials of an auth set: "user pass" and its "\r\n". */
static void
proto_auth_value(struct request *r, const char *v, uint32_t size)
{
	struct token tok[2];
	int n;

	if (v[size] != '\r' || v[size + 1] != '\n') {
		proto_auth_reply(
		    r, "CLIENT_ERROR bad command line termination\r\n");
		return;
	}
	/* memcached reads the value as a C string. */
	n = tok_split(v, strnlen(v, size), tok, 2);
	if (n != -1 && n < 2) {
		proto_auth_reply(
		    r, "CLIENT_ERROR bad authentication token format\r\n");
		return;
	}
	stat_add(&r->ctx->st->auth_cmds, 1);
	if (!proto_auth_check(tok[0].s, tok[0].len, tok[1].s, tok[1].len)) {
		stat_add(&r->ctx->st->auth_errors, 1);
		proto_auth_reply(r, "CLIENT_ERROR authentication failure\r\n");
		return;
	}
	r->ctx->authed = true;
	proto_auth_reply(r, "STORED\r\n");
}

/* A request before authentication, as memcached's -Y: only "set ANY
 * FLAGS EXPTIME LEN" whose value is "user password" is read, anything
 * else answered CLIENT_ERROR unauthenticated. Returns the bytes taken, 0
 * when more are needed. */
static size_t
proto_auth(struct request *r, const char *buf, size_t len)
{
	const char *nl;
	struct token tok[5];
	size_t linelen;
	uint32_t size;
	int n;

	if (len < 2)
		return 0;
	nl = memchr(buf, '\n', len);
	if (nl == NULL) {
		if (len > PROTO_LINE_MAX) {
			*r->action = PROTO_TOO_LONG;
			return len;
		}
		return 0;
	}
	linelen = (size_t)(nl - buf);
	n = tok_split(buf, strnlen(buf, linelen), tok, 5);
	if ((n != -1 && n < 5) || !tok_is(&tok[0], "set") ||
	    proto_auth_size(&tok[4], &size) == -1) {
		proto_auth_reply(r, "CLIENT_ERROR unauthenticated\r\n");
		return linelen + 1;
	}
	if (len - linelen - 1 < (size_t)size + 2) {
		r->ctx->need = linelen + 1 + (size_t)size + 2;
		return 0;
	}
	proto_auth_value(r, nl + 1, size);
	return linelen + 1 + (size_t)size + 2;
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
			size_t n = proto_auth(&r, line, len - pos);

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
