/* memcached's classic commands on items: get, gets, gat, gats, the
 * storage commands (set, add, replace, append, prepend, cas), delete,
 * incr, decr and touch. */
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include "cache.h"
#include "counter.h"
#include "log.h"
#include "log_event.h"
#include "obuf.h"
#include "proto_observe.h"
#include "proto_req.h"
#include "proto_text.h"
#include "proto_tok.h"
#include "ratelimit.h"

static const char reply_too_large[] =
    "SERVER_ERROR object too large for cache\r\n";
static const char reply_no_memory[] =
    "SERVER_ERROR out of memory storing object\r\n";

/* "noreply" as the last token silences the reply, whatever the count of
 * tokens before it (memcached's set_noreply_maybe): "touch  0 noreply"
 * answers its bad exptime with nothing. */
bool
cmd_has_noreply(const struct request *r)
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
bool
cmd_key_arg(struct request *r, const struct token *key)
{
	if (!key_ok(key)) {
		REPLY(r, REPLY_BAD_FORMAT);
		return false;
	}
	return true;
}

/* An exptime as memcached reads it; else its error is answered. */
bool
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
bool
cmd_keyed_args(struct request *r, int ntok)
{
	if (r->ntok != ntok && r->ntok != ntok + 1) {
		REPLY(r, REPLY_ERROR);
		return false;
	}
	r->noreply = cmd_has_noreply(r);
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

/* "VALUE key flags bytes [cas]\r\n", then the value by reference (the
 * obuf takes the reference on it). The item does not store the value's
 * "\r\n": it goes ahead of what follows, a VALUE line (after is true:
 * one came before) or END; no call more per value. */
static void
reply_value(struct obuf *out, struct item *it, bool cas, bool after)
{
	char head[2 + CACHE_KEY_MAX + 80], *p = head;
	size_t n = item_nbytes(it);

	if (after) {
		*p++ = '\r';
		*p++ = '\n';
	}
	memcpy(p, "VALUE ", 6);
	p += 6;
	memcpy(p, item_key(it), it->nkey);
	p += it->nkey;
	*p++ = ' ';
	p = fmt_u64_at(p, item_flags(it));
	*p++ = ' ';
	p = fmt_u64_at(p, n);
	if (cas) {
		*p++ = ' ';
		p = fmt_u64_at(p, proto_cfg.no_cas ? 0 : it->cas);
	}
	*p++ = '\r';
	*p++ = '\n';
	obuf_add(out, head, (size_t)(p - head));
	if (n > 0)
		obuf_add_item(out, it, item_value(it), n);
	else
		cache_release(it);
}

/* get/gets key...; gat/gats exptime key... Keys are walked straight from
 * the line: their number is bounded by the line length, not by
 * PROTO_MAX_TOKENS. */
void
cmd_get(struct request *r, int flavour)
{
	const char *p = r->tok[0].s + r->tok[0].len, *q;
	const char *end = r->line + r->linelen;
	bool touch = flavour & GET_TOUCH, cas = flavour & GET_CAS;
	time_t exptime = 0;
	struct token key;

	if (r->ntok < 2) {
		REPLY(r, REPLY_ERROR);
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
		stat_add(&r->ctx->st->response_obj_oom, 1);
		REPLY(r, "SERVER_ERROR out of memory writing get response\r\n");
		return;
	}
	while (tok_next(&p, end, &key)) {
		struct item *it;

		it = cache_get(key.s, key.len, touch, exptime, r->ctx->st);
		proto_observe_key(r->ctx, key.s, key.len, it);
		if (log_event_wanted(LOG_EV_FETCH))
			proto_observe_fetch(r->ctx, key.s, key.len, it);
		if (proto_detail_wanted())
			proto_cb.detail(
			    PROTO_DETAIL_GET, key.s, key.len, it != NULL);
		r->nkeys++;
		if (it != NULL)
			reply_value(r->out, it, cas, r->hits++ > 0);
	}
	if (r->hits > 0)
		REPLY(r, "\r\nEND\r\n");
	else
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
		REPLY(r, REPLY_BAD_FORMAT);
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
	log_warnx(AUDIT_FMT "key=%.*s not stored: a value of %llu bytes %s "
	                    "(%lu more in the minute before, at most one line "
	                    "a minute)",
	    AUDIT(r), (int)r->tok[1].len, r->tok[1].s,
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
void
cmd_store(struct request *r, int op)
{
	struct store_args a;
	struct cache_seen seen;
	enum cache_result res;
	struct item *it;
	unsigned cls;

	if (!cmd_store_args(r, op, &a) || !cmd_store_data(r, op, a.bytes))
		return;
	if (proto_detail_wanted())
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
	proto_observe_key(r->ctx, r->tok[1].s, r->tok[1].len, NULL);
	if (log_event_wanted(LOG_EV_MUTATION) || log_event_wanted(LOG_EV_FETCH))
		proto_observe_store(r->ctx, op, r->tok[1].s, r->tok[1].len, res,
		    cls, a.exptime > 0 ? a.exptime : 0, a.bytes, &seen);
}

/* delete key [0] [noreply]: memcached still takes a zero hold time. */
void
cmd_delete(struct request *r, int arg)
{
	/* As memcached, a count out of range is answered even with
	 * noreply. */
	if (r->ntok < 2 || r->ntok > 4) {
		REPLY(r, REPLY_ERROR);
		return;
	}
	/* "delete noreply" is a delete of the key "noreply". */
	r->noreply = r->ntok > 2 && cmd_has_noreply(r);
	if (r->ntok > 3 + r->noreply ||
	    (r->ntok == 3 + r->noreply && !tok_is(&r->tok[2], "0"))) {
		REPLY(r, "CLIENT_ERROR bad command line format.  Usage: delete "
		         "<key> [noreply]\r\n");
		return;
	}
	if (!cmd_key_arg(r, &r->tok[1]))
		return;
	if (proto_detail_wanted())
		proto_cb.detail(
		    PROTO_DETAIL_DEL, r->tok[1].s, r->tok[1].len, true);
	if (cache_delete(r->tok[1].s, r->tok[1].len, r->ctx->st) == CACHE_OK)
		REPLY(r, "DELETED\r\n");
	else
		REPLY(r, "NOT_FOUND\r\n");
}

/* incr/decr key delta [noreply] */
void
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
void
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
