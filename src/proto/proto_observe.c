/* What the protocol reports of each request besides its reply: its
 * latency, the access and slow-request lines, memcached's watcher
 * events; the same for the text, meta and binary commands. */
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include "cache.h"
#include "log.h"
#include "log_event.h"
#include "proto_observe.h"
#include "proto_req.h"
#include "proto_slowlog.h"
#include "proto_text.h"
#include "proto_tok.h"
#include "ratelimit.h"
#include "thread.h"

/* At most this many slow-request lines a second per worker and
 * protocol. */
#define PROTO_SLOW_PER_SEC 10

const char *
proto_class_name(int cls)
{
	static const char *const names[PROTO_CLS_COUNT] = {
	    [PROTO_CLS_GET] = "get",
	    [PROTO_CLS_SET] = "set",
	    [PROTO_CLS_DELETE] = "delete",
	    [PROTO_CLS_ARITH] = "arith",
	    [PROTO_CLS_TOUCH] = "touch",
	    [PROTO_CLS_META] = "meta",
	    [PROTO_CLS_OTHER] = "other",
	};

	return cls >= 0 && cls < PROTO_CLS_COUNT ? names[cls] : "other";
}

/* Append s to the line at *p, bounded by end. */
static void
observe_put(char **p, const char *end, const char *s, size_t n)
{
	if (n > (size_t)(end - *p))
		n = (size_t)(end - *p);
	memcpy(*p, s, n);
	*p += n;
}

/* Append v, in decimal, to the line at *p, bounded by end. */
static void
observe_num(char **p, const char *end, long long v)
{
	char num[24], *d;

	if (v < 0) {
		observe_put(p, end, "-", 1);
		v = -v;
	}
	d = tok_fmt_u64(num + sizeof num, (uint64_t)v);
	observe_put(p, end, d, (size_t)(num + sizeof num - d));
}

/* "conn=FD peer=ADDR cmd=NAME keys=K[ key=K]" at *p, bounded by end: what
 * the access and slow-request lines begin with. The key's bytes go as
 * they are: the log's formats escape them (text: control bytes as \xNN
 * and "\" as "\\"; JSON: as a string), and a key holds no space, so the
 * field stays one word. */
static void
observe_request(const struct proto_ctx *c, const struct proto_seen *s, char **p,
    const char *end)
{
	observe_put(p, end, "conn=", 5);
	observe_num(p, end, c->peer ? c->fd : -1);
	observe_put(p, end, " peer=", 6);
	observe_put(
	    p, end, c->peer ? c->peer : "-", c->peer ? strlen(c->peer) : 1);
	observe_put(p, end, " cmd=", 5);
	observe_put(p, end, s->cmd, s->ncmd > 32 ? 32 : s->ncmd);
	observe_put(p, end, " keys=", 6);
	observe_num(p, end, s->nkeys);
	/* A command without a key has no key field: "-" could be one. */
	if (s->key == NULL)
		return;
	observe_put(p, end, " key=", 5);
	observe_put(
	    p, end, s->key, s->nkey < CACHE_KEY_MAX ? s->nkey : CACHE_KEY_MAX);
}

/* A slow request into the slow log, whether or not its line is
 * written. */
static void
observe_slowlog(
    const struct proto_ctx *c, const struct proto_seen *s, uint64_t us)
{
	const struct thread *self = thread_self();
	struct timespec ts;
	struct proto_slow *e;
	size_t n;

	clock_gettime(CLOCK_REALTIME, &ts);
	e = proto_slowlog_next();
	e->ts = ts;
	e->us = us;
	e->conn = c->peer ? c->fd : -1;
	e->nkeys = s->nkeys;
	memcpy(e->thread, self != NULL ? self->name : "-",
	    self != NULL ? sizeof e->thread : 2);
	n = c->peer ? strlen(c->peer) : 0;
	n = n < sizeof e->peer ? n : sizeof e->peer - 1;
	memcpy(e->peer, c->peer ? c->peer : "-", n ? n : 1);
	e->peer[n ? n : 1] = '\0';
	n = s->ncmd < sizeof e->cmd ? s->ncmd : sizeof e->cmd - 1;
	memcpy(e->cmd, s->cmd, n);
	e->cmd[n] = '\0';
	if (s->key != NULL) {
		e->nkey =
		    (unsigned char)(s->nkey < CACHE_KEY_MAX ? s->nkey
		                                            : CACHE_KEY_MAX);
		memcpy(e->key, s->key, e->nkey);
	}
	proto_slowlog_commit();
}

/* One warn line, category slow, for a request slower than slow_us: all
 * fields, formatted once, by hand; rate-limited per thread and protocol,
 * the lines left out counted in the next one written. */
static void
observe_slow(const struct proto_ctx *c, const struct proto_seen *s,
    long long now, uint64_t us)
{
	static _Thread_local struct ratelimit limit[2];
	struct ratelimit *rl = &limit[c->binary];
	char line[CACHE_KEY_MAX + 200], *w = line, *end = line + sizeof line;

	observe_slowlog(c, s, us);
	if (!log_enabled(LOG_LVL_WARN))
		return;
	/* Windows of whole seconds, as the clock reads them. */
	if (!ratelimit_allow(rl, now / 1000000000, 1, PROTO_SLOW_PER_SEC))
		return;
	observe_request(c, s, &w, end);
	observe_put(&w, end, " us=", 4);
	observe_num(&w, end, (long long)us);
	observe_put(&w, end, " suppressed=", 12);
	observe_num(&w, end, (long long)ratelimit_take_suppressed(rl));
	log_emit_raw(LOG_LVL_WARN, LOG_CAT_SLOW, __FILE__, __LINE__, __func__,
	    line, (size_t)(w - line));
}

/* One access line per command: who asked what, how it went, how long it
 * took. Formatted by hand: this runs once per request. */
static void
observe_access(
    const struct proto_ctx *c, const struct proto_seen *s, uint64_t us)
{
	char line[CACHE_KEY_MAX + 200], *w = line, *end = line + sizeof line;

	observe_request(c, s, &w, end);
	observe_put(&w, end, " result=", 8);
	observe_put(&w, end, s->res, s->nres);
	observe_put(&w, end, " us=", 4);
	observe_num(&w, end, (long long)us);
	log_access_raw(line, (size_t)(w - line));
}

void
proto_observe_lines(const struct proto_ctx *c, bool access, bool slow,
    long long now, uint64_t us, proto_describe_fn *describe, const void *arg)
{
	struct proto_seen s;

	describe(arg, &s);
	if (access)
		observe_access(c, &s, us);
	if (slow)
		observe_slow(c, &s, now, us);
}

void
proto_observe_hot(const struct proto_ctx *c, const char *key, size_t nkey,
    const struct item *sent)
{
	hotkeys_count_request(
	    c->hot, key, nkey, sent != NULL ? item_nbytes(sent) : 0);
}

void
proto_observe_fetch(const struct proto_ctx *ctx, const char *key, size_t nkey,
    const struct item *it)
{
	log_event_item_get(key, nkey, it != NULL, it ? item_class_id(it) : 0,
	    ctx->fd, it ? item_nbytes(it) : 0);
}

void
proto_observe_store(const struct proto_ctx *ctx, int op, const char *key,
    size_t nkey, int res, unsigned cls, long ttl, uint64_t size,
    const struct cache_seen *seen)
{
	static const char *const ops[] = {[CACHE_SET] = "set",
	    [CACHE_ADD] = "add",
	    [CACHE_REPLACE] = "replace",
	    [CACHE_APPEND] = "append",
	    [CACHE_PREPEND] = "prepend",
	    [CACHE_CAS] = "cas",
	    [CACHE_CAS_STALE] = "cas"};
	const char *status = res == CACHE_STORED      ? "stored"
	                     : res == CACHE_EXISTS    ? "exists"
	                     : res == CACHE_NOT_FOUND ? "not_found"
	                                              : "not_stored";

	if (log_event_wanted(LOG_EV_FETCH))
		log_event_item_get(
		    key, nkey, seen->found, seen->cls, ctx->fd, seen->nbytes);
	if (!log_event_wanted(LOG_EV_MUTATION))
		return;
	/* memcached's size is the stored item's: the joined value. */
	if (res == CACHE_STORED && (op == CACHE_APPEND || op == CACHE_PREPEND))
		size += seen->nbytes;
	log_event_item_store(key, nkey, status, ops[op], ttl, cls, ctx->fd,
	    (unsigned long long)size);
}
