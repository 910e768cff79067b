/* The memcached binary protocol: framing of request packets, the
 * commands, and the response packets, as memcached 1.6.18 answers them. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cache.h"
#include "counter.h"
#include "log.h"
#include "log_event.h"
#include "obuf.h"
#include "proto_bin.h"
#include "proto_observe.h"
#include "proto_req.h"
#include "tl_build.h"

/* Stop answering once this much output waits, as the text protocol. */
#define BIN_OUT_HIGH   (256 * 1024)
#define BIN_HEADER_LEN 24
#define BIN_RES_MAGIC  0x81

/* The opcodes memcached 1.6 knows. */
enum bin_op {
	BIN_GET = 0x00,
	BIN_SET = 0x01,
	BIN_ADD = 0x02,
	BIN_REPLACE = 0x03,
	BIN_DELETE = 0x04,
	BIN_INCR = 0x05,
	BIN_DECR = 0x06,
	BIN_QUIT = 0x07,
	BIN_FLUSH = 0x08,
	BIN_GETQ = 0x09,
	BIN_NOOP = 0x0a,
	BIN_VERSION = 0x0b,
	BIN_GETK = 0x0c,
	BIN_GETKQ = 0x0d,
	BIN_APPEND = 0x0e,
	BIN_PREPEND = 0x0f,
	BIN_STAT = 0x10,
	BIN_SETQ = 0x11,
	BIN_ADDQ = 0x12,
	BIN_REPLACEQ = 0x13,
	BIN_DELETEQ = 0x14,
	BIN_INCRQ = 0x15,
	BIN_DECRQ = 0x16,
	BIN_QUITQ = 0x17,
	BIN_FLUSHQ = 0x18,
	BIN_APPENDQ = 0x19,
	BIN_PREPENDQ = 0x1a,
	BIN_TOUCH = 0x1c,
	BIN_GAT = 0x1d,
	BIN_GATQ = 0x1e,
	BIN_GATK = 0x23,
	BIN_GATKQ = 0x24,
};

/* Response statuses. */
enum bin_status {
	BIN_OK = 0x00,
	BIN_ENOENT = 0x01,
	BIN_EEXISTS = 0x02,
	BIN_E2BIG = 0x03,
	BIN_EINVAL = 0x04,
	BIN_NOT_STORED = 0x05,
	BIN_DELTA_BADVAL = 0x06,
	BIN_AUTH_ERROR = 0x20,
	BIN_UNKNOWN = 0x81,
	BIN_ENOMEM = 0x82,
};

/* One request packet, its parts pointing into the input. */
struct bin_req {
	struct proto_ctx *ctx;
	struct obuf *out;
	enum proto_action *action;
	uint8_t op;   /* as sent */
	uint8_t base; /* the opcode without its quiet form */
	bool quiet;
	uint8_t extlen;
	uint16_t keylen;
	uint32_t bodylen;
	unsigned char opaque[4]; /* echoed as sent */
	uint64_t cas;
	const unsigned char *ext;
	const char *key;
	const char *val;
	size_t vlen;
	size_t used;     /* bytes of the input the request took */
	bool more;       /* it waits for more input */
	const char *res; /* for the access line */
	unsigned nkeys, hits;
};

/* What each opcode is called in the access log, its quiet form's base,
 * and its latency class. */
struct bin_command {
	const char *name;
	uint8_t base;
	bool quiet;
	enum proto_class cls;
};

static const struct bin_command bin_commands[256] = {
    [BIN_GET] = {"get", BIN_GET, false, PROTO_CLS_GET},
    [BIN_SET] = {"set", BIN_SET, false, PROTO_CLS_SET},
    [BIN_ADD] = {"add", BIN_ADD, false, PROTO_CLS_SET},
    [BIN_REPLACE] = {"replace", BIN_REPLACE, false, PROTO_CLS_SET},
    [BIN_DELETE] = {"delete", BIN_DELETE, false, PROTO_CLS_DELETE},
    [BIN_INCR] = {"incr", BIN_INCR, false, PROTO_CLS_ARITH},
    [BIN_DECR] = {"decr", BIN_DECR, false, PROTO_CLS_ARITH},
    [BIN_QUIT] = {"quit", BIN_QUIT, false, PROTO_CLS_OTHER},
    [BIN_FLUSH] = {"flush", BIN_FLUSH, false, PROTO_CLS_OTHER},
    [BIN_GETQ] = {"getq", BIN_GET, true, PROTO_CLS_GET},
    [BIN_NOOP] = {"noop", BIN_NOOP, false, PROTO_CLS_OTHER},
    [BIN_VERSION] = {"version", BIN_VERSION, false, PROTO_CLS_OTHER},
    [BIN_GETK] = {"getk", BIN_GETK, false, PROTO_CLS_GET},
    [BIN_GETKQ] = {"getkq", BIN_GETK, true, PROTO_CLS_GET},
    [BIN_APPEND] = {"append", BIN_APPEND, false, PROTO_CLS_SET},
    [BIN_PREPEND] = {"prepend", BIN_PREPEND, false, PROTO_CLS_SET},
    [BIN_STAT] = {"stat", BIN_STAT, false, PROTO_CLS_OTHER},
    [BIN_SETQ] = {"setq", BIN_SET, true, PROTO_CLS_SET},
    [BIN_ADDQ] = {"addq", BIN_ADD, true, PROTO_CLS_SET},
    [BIN_REPLACEQ] = {"replaceq", BIN_REPLACE, true, PROTO_CLS_SET},
    [BIN_DELETEQ] = {"deleteq", BIN_DELETE, true, PROTO_CLS_DELETE},
    [BIN_INCRQ] = {"incrq", BIN_INCR, true, PROTO_CLS_ARITH},
    [BIN_DECRQ] = {"decrq", BIN_DECR, true, PROTO_CLS_ARITH},
    [BIN_QUITQ] = {"quitq", BIN_QUIT, true, PROTO_CLS_OTHER},
    [BIN_FLUSHQ] = {"flushq", BIN_FLUSH, true, PROTO_CLS_OTHER},
    [BIN_APPENDQ] = {"appendq", BIN_APPEND, true, PROTO_CLS_SET},
    [BIN_PREPENDQ] = {"prependq", BIN_PREPEND, true, PROTO_CLS_SET},
    [BIN_TOUCH] = {"touch", BIN_TOUCH, false, PROTO_CLS_TOUCH},
    [BIN_GAT] = {"gat", BIN_GAT, false, PROTO_CLS_GET},
    [BIN_GATQ] = {"gatq", BIN_GAT, true, PROTO_CLS_GET},
    [BIN_GATK] = {"gatk", BIN_GATK, false, PROTO_CLS_GET},
    [BIN_GATKQ] = {"gatkq", BIN_GATK, true, PROTO_CLS_GET},
};

static void
put16(unsigned char *p, uint16_t v)
{
	p[0] = (unsigned char)(v >> 8);
	p[1] = (unsigned char)v;
}

static void
put32(unsigned char *p, uint32_t v)
{
	put16(p, (uint16_t)(v >> 16));
	put16(p + 2, (uint16_t)v);
}

static void
put64(unsigned char *p, uint64_t v)
{
	put32(p, (uint32_t)(v >> 32));
	put32(p + 4, (uint32_t)v);
}

static uint16_t
get16(const unsigned char *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t
get32(const unsigned char *p)
{
	return (uint32_t)get16(p) << 16 | get16(p + 2);
}

static uint64_t
get64(const unsigned char *p)
{
	return (uint64_t)get32(p) << 32 | get32(p + 4);
}

/* A response header for r with the opcode it was sent with. */
static void
bin_header(struct bin_req *r, uint16_t status, uint8_t extlen, uint16_t keylen,
    uint32_t bodylen, uint64_t cas)
{
	unsigned char h[BIN_HEADER_LEN];

	h[0] = BIN_RES_MAGIC;
	h[1] = r->op;
	put16(h + 2, keylen);
	h[4] = extlen;
	h[5] = 0;
	put16(h + 6, status);
	put32(h + 8, bodylen);
	memcpy(h + 12, r->opaque, 4);
	put64(h + 16, cas);
	obuf_add(r->out, h, sizeof h);
}

/* A success: sent unless the request is quiet. */
static void
bin_ok(struct bin_req *r, const void *body, uint32_t len, uint64_t cas,
    const char *res)
{
	r->res = res;
	if (r->quiet) {
		r->res = "noreply";
		return;
	}
	bin_header(r, BIN_OK, 0, 0, len, cas);
	if (body != NULL && len > 0)
		obuf_add(r->out, body, len);
}

/* An error, with memcached's text for it as the body; sent even for a
 * quiet request. */
static void
bin_error(struct bin_req *r, enum bin_status status)
{
	const char *text = "";

	switch (status) {
	case BIN_ENOENT:
		text = "Not found";
		r->res = "not_found";
		break;
	case BIN_EEXISTS:
		text = "Data exists for key.";
		r->res = "exists";
		break;
	case BIN_E2BIG:
		text = "Too large.";
		r->res = "too_large";
		break;
	case BIN_EINVAL:
		text = "Invalid arguments";
		r->res = "invalid";
		break;
	case BIN_NOT_STORED:
		text = "Not stored.";
		r->res = "not_stored";
		break;
	case BIN_DELTA_BADVAL:
		text = "Non-numeric server-side value for incr or decr";
		r->res = "non_numeric";
		break;
	case BIN_AUTH_ERROR:
		text = "Auth failure.";
		r->res = "auth_error";
		break;
	case BIN_UNKNOWN:
		text = "Unknown command";
		r->res = "unknown";
		break;
	case BIN_ENOMEM:
		text = "Out of memory";
		r->res = "no_memory";
		break;
	case BIN_OK:
		break;
	}
	bin_header(r, (uint16_t)status, 0, 0, (uint32_t)strlen(text), 0);
	obuf_add(r->out, text, strlen(text));
}

/* A malformed request: Invalid arguments, then the connection closes, as
 * memcached's. */
static void
bin_protocol_error(struct bin_req *r)
{
	bin_error(r, BIN_EINVAL);
	*r->action = PROTO_CLOSE;
}

/* get, getq, getk, getkq, touch, gat, gatq, gatk, gatkq. */
static void
bin_get(struct bin_req *r)
{
	bool touch =
	    r->base == BIN_TOUCH || r->base == BIN_GAT || r->base == BIN_GATK;
	bool with_key = r->base == BIN_GETK || r->base == BIN_GATK;
	time_t exptime = 0;
	unsigned char flags[4];
	struct item *it;
	uint32_t body;

	if (touch)
		exptime = cache_exptime(get32(r->ext), cache_now());
	it = cache_get(r->key, r->keylen, touch, exptime, r->ctx->st);
	proto_observe_key(r->ctx, r->key, r->keylen, it);
	if (log_event_wanted(LOG_EV_FETCH))
		proto_observe_fetch(r->ctx, r->key, r->keylen, it);
	if (proto_detail_wanted())
		proto_cb.detail(
		    PROTO_DETAIL_GET, r->key, r->keylen, it != NULL);
	r->nkeys = 1;
	if (it == NULL) {
		r->res = "miss";
		if (r->quiet)
			return;
		if (!with_key) {
			bin_error(r, BIN_ENOENT);
			r->res = "miss";
			return;
		}
		bin_header(r, BIN_ENOENT, 0, r->keylen, r->keylen, 0);
		obuf_add(r->out, r->key, r->keylen);
		return;
	}
	r->hits = 1;
	r->res = "hit";
	body = 4 + (with_key ? r->keylen : 0) +
	       (r->base == BIN_TOUCH ? 0 : item_nbytes(it));
	bin_header(r, BIN_OK, 4, with_key ? r->keylen : 0, body,
	    proto_cfg.no_cas ? 0 : it->cas);
	put32(flags, item_flags(it));
	obuf_add(r->out, flags, sizeof flags);
	if (with_key)
		obuf_add(r->out, r->key, r->keylen);
	if (r->base != BIN_TOUCH && item_nbytes(it) > 0)
		obuf_add_item(r->out, it, item_value(it), item_nbytes(it));
	else
		cache_release(it);
}

/* A value refused for its size or for want of memory: counted, the value
 * swallowed; a set drops the old value, as memcached's. */
static void
bin_store_refused(struct bin_req *r, bool too_large)
{
	stat_add(too_large ? &r->ctx->st->store_too_large
	                   : &r->ctx->st->store_no_memory,
	    1);
	bin_error(r, too_large ? BIN_E2BIG : BIN_ENOMEM);
	if (r->base == BIN_SET)
		cache_drop(r->key, r->keylen, r->ctx->st);
}

/* The value of a storage request: here whole, or asked for. False when
 * the request is answered or waits. */
static bool
bin_store_value(struct bin_req *r, size_t avail)
{
	size_t head = BIN_HEADER_LEN + r->extlen + r->keylen;

	r->vlen = r->bodylen - r->extlen - r->keylen;
	if ((uint64_t)r->keylen + r->vlen > cache_item_max()) {
		bin_store_refused(r, true);
		r->ctx->skip = r->vlen;
		return false;
	}
	if (avail < head + r->vlen) {
		r->ctx->need = head + r->vlen;
		r->more = true;
		return false;
	}
	r->val = r->key + r->keylen;
	r->used = head + r->vlen;
	return true;
}

/* The reply to a store, after memcached's: a refused add exists, a
 * refused replace is not found. */
static void
bin_store_reply(struct bin_req *r, enum cache_result res, uint64_t cas)
{
	switch (res) {
	case CACHE_STORED:
		bin_ok(r, NULL, 0, cas, "stored");
		break;
	case CACHE_EXISTS:
		bin_error(r, BIN_EEXISTS);
		break;
	case CACHE_NOT_FOUND:
		bin_error(r, BIN_ENOENT);
		break;
	case CACHE_NOT_STORED:
		bin_error(r, r->base == BIN_ADD       ? BIN_EEXISTS
		             : r->base == BIN_REPLACE ? BIN_ENOENT
		                                      : BIN_NOT_STORED);
		break;
	case CACHE_TOO_LARGE:
		bin_error(r, BIN_E2BIG);
		break;
	default:
		bin_error(r, BIN_ENOMEM);
		break;
	}
}

/* set, add, replace, append, prepend and their quiet forms. */
static void
bin_store(struct bin_req *r, size_t avail)
{
	bool append = r->base == BIN_APPEND || r->base == BIN_PREPEND;
	uint32_t flags = append ? 0 : get32(r->ext);
	uint32_t exptime = append ? 0 : get32(r->ext + 4);
	int op = r->base == BIN_SET       ? CACHE_SET
	         : r->base == BIN_ADD     ? CACHE_ADD
	         : r->base == BIN_REPLACE ? CACHE_REPLACE
	         : r->base == BIN_APPEND  ? CACHE_APPEND
	                                  : CACHE_PREPEND;
	struct cache_seen seen;
	enum cache_result res;
	uint64_t cas = 0;
	struct item *it;
	unsigned cls;

	r->nkeys = 1;
	if (!bin_store_value(r, avail))
		return;
	stat_add(&r->ctx->st->cmd_set, 1);
	if (proto_detail_wanted())
		proto_cb.detail(PROTO_DETAIL_SET, r->key, r->keylen, true);
	it = cache_alloc(r->key, r->keylen, flags,
	    cache_exptime(exptime, cache_now()), r->vlen, &res, r->ctx->st);
	if (it == NULL) {
		bin_store_refused(r, res == CACHE_TOO_LARGE);
		return;
	}
	memcpy(item_value(it), r->val, r->vlen);
	/* A CAS turns set, add and replace into a cas, as memcached. */
	if (r->cas != 0 && !append)
		op = CACHE_CAS;
	cls = item_class_id(it);
	res = cache_store_cas(it, op,
	    proto_cfg.no_cas && r->cas ? UINT64_MAX : r->cas, &cas, &seen,
	    r->ctx->st);
	bin_store_reply(r, res, proto_cfg.no_cas ? 0 : cas);
	proto_observe_key(r->ctx, r->key, r->keylen, NULL);
	if (log_event_wanted(LOG_EV_MUTATION) || log_event_wanted(LOG_EV_FETCH))
		proto_observe_store(r->ctx, op, r->key, r->keylen, res, cls,
		    (long)exptime, r->vlen, &seen);
}

/* delete, deleteq: a nonzero CAS must match. */
static void
bin_delete(struct bin_req *r)
{
	r->nkeys = 1;
	if (proto_detail_wanted())
		proto_cb.detail(PROTO_DETAIL_DEL, r->key, r->keylen, true);
	switch (cache_mdelete(r->key, r->keylen, r->cas != 0, r->cas, false,
	    false, 0, r->ctx->st)) {
	case CACHE_OK:
		bin_ok(r, NULL, 0, 0, "deleted");
		break;
	case CACHE_EXISTS:
		bin_error(r, BIN_EEXISTS);
		break;
	default:
		bin_error(r, BIN_ENOENT);
		break;
	}
}

/* incr, decr and their quiet forms: delta, initial value and expiry in
 * the extras; an expiry of all ones means no creation on a miss. */
static void
bin_arith(struct bin_req *r)
{
	uint32_t exptime = get32(r->ext + 16);
	struct cache_marith a = {.incr = r->base == BIN_INCR,
	    .delta = get64(r->ext),
	    .cas = r->cas,
	    .vivify = exptime != UINT32_MAX,
	    .initial = get64(r->ext + 8),
	    .vivify_exptime = cache_exptime(exptime, cache_now())};
	struct cache_marith_info info;
	unsigned char value[8];

	r->nkeys = 1;
	switch (cache_marith(r->key, r->keylen, &a, &info, r->ctx->st)) {
	case CACHE_OK:
		put64(value, info.value);
		bin_ok(r, value, sizeof value, proto_cfg.no_cas ? 0 : info.cas,
		    "ok");
		break;
	case CACHE_NOT_FOUND:
		bin_error(r, BIN_ENOENT);
		break;
	case CACHE_EXISTS:
		bin_error(r, BIN_EEXISTS);
		break;
	case CACHE_NON_NUMERIC:
		bin_error(r, BIN_DELTA_BADVAL);
		break;
	default:
		bin_error(r, BIN_ENOMEM);
		break;
	}
}

/* flush, flushq: an optional delay in the extras. */
static void
bin_flush(struct bin_req *r)
{
	uint32_t delay = r->extlen == 4 ? get32(r->ext) : 0;

	if (proto_cfg.no_flush) {
		bin_error(r, BIN_AUTH_ERROR);
		return;
	}
	stat_add(&r->ctx->st->cmd_flush, 1);
	cache_flush_all(delay);
	log_notice(AUDIT_FMT "flush_all%s", AUDIT_CTX(r->ctx),
	    delay > 0 ? " (delayed)" : "");
	bin_ok(r, NULL, 0, 0, "ok");
}

/* One stat packet: the name as key, the value as body. */
static void
bin_stat_packet(
    struct bin_req *r, const char *k, size_t nk, const char *v, size_t nv)
{
	bin_header(r, BIN_OK, 0, (uint16_t)nk, (uint32_t)(nk + nv), 0);
	obuf_add(r->out, k, nk);
	obuf_add(r->out, v, nv);
}

/* The text protocol's "STAT name value" lines of a stats reply as stat
 * packets; the thread line is ours and memcached has none. */
static void
bin_stat_lines(struct bin_req *r, const char *p, const char *end)
{
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *le = nl ? nl : end, *sp;

		if (le > p && le[-1] == '\r')
			le--;
		if (le - p > 5 && memcmp(p, "STAT ", 5) == 0 &&
		    (sp = memchr(p + 5, ' ', (size_t)(le - p - 5))) != NULL &&
		    !(sp - p - 5 == 6 && memcmp(p + 5, "thread", 6) == 0))
			bin_stat_packet(r, p + 5, (size_t)(sp - p - 5), sp + 1,
			    (size_t)(le - sp - 1));
		p = nl ? nl + 1 : end;
	}
}

/* Whether the stat key begins with word, as memcached compares. */
static bool
bin_stat_is(const struct bin_req *r, const char *word)
{
	size_t n = strlen(word);

	return r->keylen >= n && memcmp(r->key, word, n) == 0;
}

/* stat [GROUP]: one packet per figure, then an empty one. */
static void
bin_stat(struct bin_req *r)
{
	struct obuf tmp;
	size_t n;
	int rc;

	r->res = "ok";
	if (proto_cb.stats == NULL) {
		bin_error(r, BIN_ENOENT);
		return;
	}
	obuf_init(&tmp, NULL);
	if (r->keylen == 0)
		rc = proto_cb.stats("", 0, &tmp);
	else if (bin_stat_is(r, "reset"))
		rc = proto_cb.stats("reset", 5, &tmp), tmp.len = tmp.off;
	else if (bin_stat_is(r, "settings"))
		rc = proto_cb.stats("settings", 8, &tmp);
	else if (bin_stat_is(r, "detail")) {
		const char *sub = r->key + 6;
		size_t ns = r->keylen - 6;

		if (ns >= 5 && memcmp(sub, " dump", 5) == 0) {
			rc = proto_cb.stats("detail dump", 11, &tmp);
			bin_stat_packet(r, "detailed", 8, tmp.data + tmp.off,
			    tmp.len - tmp.off);
			tmp.len = tmp.off;
		} else if ((ns >= 3 && memcmp(sub, " on", 3) == 0) ||
		           (ns >= 4 && memcmp(sub, " off", 4) == 0)) {
			n = sub[2] == 'n' ? 9 : 10;
			rc = proto_cb.stats(
			    sub[2] == 'n' ? "detail on" : "detail off", n,
			    &tmp);
			tmp.len = tmp.off;
		} else
			rc = -1;
	} else {
		/* The groups of memcached's get_stats, matched whole;
		 * "conns" and the rest are the text protocol's alone. */
		static const char *const groups[] = {"items", "slabs", "sizes"};

		rc = -1;
		for (size_t i = 0; i < sizeof groups / sizeof groups[0]; i++)
			if (r->keylen == strlen(groups[i]) &&
			    memcmp(r->key, groups[i], r->keylen) == 0)
				rc = proto_cb.stats(groups[i], r->keylen, &tmp);
	}
	if (rc == -1) {
		obuf_free(&tmp);
		bin_error(r, BIN_ENOENT);
		return;
	}
	bin_stat_lines(r, tmp.data + tmp.off, tmp.data + tmp.len);
	obuf_free(&tmp);
	bin_header(r, BIN_OK, 0, 0, 0, 0);
}

/* Whether the request's lengths are what its opcode takes. */
static bool
bin_shape_ok(const struct bin_req *r)
{
	uint8_t e = r->extlen;
	uint16_t k = r->keylen;
	uint32_t b = r->bodylen;

	switch (r->base) {
	case BIN_VERSION:
	case BIN_NOOP:
	case BIN_QUIT:
		return e == 0 && k == 0 && b == 0;
	case BIN_FLUSH:
		return k == 0 && b == e && (e == 0 || e == 4);
	case BIN_SET:
	case BIN_ADD:
	case BIN_REPLACE:
		return e == 8 && k != 0 && b >= (uint32_t)k + 8;
	case BIN_GET:
	case BIN_GETK:
		return e == 0 && b == k && k > 0;
	case BIN_DELETE:
		return k > 0 && e == 0 && b == k;
	case BIN_INCR:
	case BIN_DECR:
		return k > 0 && e == 20 && b == (uint32_t)k + e;
	case BIN_APPEND:
	case BIN_PREPEND:
		return k > 0 && e == 0;
	case BIN_STAT:
		return e == 0;
	default: /* touch, gat, gatk */
		return e == 4 && k != 0;
	}
}

/* Run one request whose header, extras and key are buffered. */
static void
bin_dispatch(struct bin_req *r, size_t avail)
{
	const struct bin_command *c = &bin_commands[r->op];

	r->used = BIN_HEADER_LEN + r->extlen + r->keylen;
	if ((uint32_t)r->keylen + r->extlen > r->bodylen) {
		bin_error(r, BIN_UNKNOWN);
		*r->action = PROTO_CLOSE;
		return;
	}
	if (r->keylen > CACHE_KEY_MAX) {
		bin_protocol_error(r);
		return;
	}
	if (c->name == NULL) {
		/* memcached swallows the whole body after the extras and
		 * key it already read. */
		bin_error(r, BIN_UNKNOWN);
		r->ctx->skip = r->bodylen;
		return;
	}
	r->base = c->base;
	r->quiet = c->quiet;
	if (!bin_shape_ok(r)) {
		bin_protocol_error(r);
		return;
	}
	switch (r->base) {
	case BIN_GET:
	case BIN_GETK:
	case BIN_TOUCH:
	case BIN_GAT:
	case BIN_GATK:
		bin_get(r);
		break;
	case BIN_SET:
	case BIN_ADD:
	case BIN_REPLACE:
	case BIN_APPEND:
	case BIN_PREPEND:
		bin_store(r, avail);
		break;
	case BIN_DELETE:
		bin_delete(r);
		break;
	case BIN_INCR:
	case BIN_DECR:
		bin_arith(r);
		break;
	case BIN_FLUSH:
		bin_flush(r);
		break;
	case BIN_NOOP:
		r->quiet = false;
		bin_ok(r, NULL, 0, 0, "ok");
		break;
	case BIN_VERSION:
		bin_ok(r, TL_WIRE_VERSION, sizeof TL_WIRE_VERSION - 1, 0, "ok");
		break;
	case BIN_STAT:
		bin_stat(r);
		break;
	case BIN_QUIT:
		bin_ok(r, NULL, 0, 0, "ok");
		*r->action = PROTO_QUIT;
		break;
	}
}

/* What the access and slow-request lines say of r (a struct bin_req):
 * the opcode's name (its number for one memcached does not know), the
 * key as far as its first NUL, as printf's "%.*s" wrote it. */
static void
bin_describe(const void *arg, struct proto_seen *s)
{
	const struct bin_req *r = arg;
	const char *name = bin_commands[r->op].name;
	size_t nkey = r->keylen < CACHE_KEY_MAX ? r->keylen : CACHE_KEY_MAX;

	if (name == NULL) {
		snprintf(s->buf, sizeof s->buf, "0x%02x", r->op);
		name = s->buf;
	}
	s->cmd = name;
	s->ncmd = strlen(name);
	s->key = r->nkeys > 0 && r->keylen > 0 ? r->key : NULL;
	s->nkey = s->key != NULL ? strnlen(r->key, nkey) : 0;
	s->nkeys = r->nkeys;
	s->res = r->res ? r->res : "none";
	s->nres = strlen(s->res);
}

size_t
proto_bin_process(struct proto_ctx *ctx, const char *buf, size_t len,
    struct obuf *out, enum proto_action *action)
{
	size_t pos = 0;
	long long start = 0;

	*action = PROTO_CONTINUE;
	ctx->cmds = 0;
	ctx->need = 0;
	while (pos < len && *action == PROTO_CONTINUE &&
	       obuf_pending(out) < BIN_OUT_HIGH &&
	       (ctx->max_cmds == 0 || ctx->cmds < ctx->max_cmds)) {
		const unsigned char *h = (const unsigned char *)buf + pos;
		size_t avail = len - pos;
		struct bin_req r = {.ctx = ctx, .out = out, .action = action};

		if (ctx->skip > 0) {
			size_t n = ctx->skip < avail ? ctx->skip : avail;

			ctx->skip -= n;
			pos += n;
			continue;
		}
		if (avail < BIN_HEADER_LEN) {
			ctx->need = BIN_HEADER_LEN;
			break;
		}
		if (h[0] != PROTO_BIN_MAGIC) {
			/* memcached reads the whole header, then closes
			 * without a word. */
			*action = PROTO_CLOSE;
			return len;
		}
		r.op = h[1];
		r.keylen = get16(h + 2);
		r.extlen = h[4];
		r.bodylen = get32(h + 8);
		memcpy(r.opaque, h + 12, 4);
		r.cas = get64(h + 16);
		if (avail < (size_t)BIN_HEADER_LEN + r.extlen + r.keylen) {
			ctx->need =
			    (size_t)BIN_HEADER_LEN + r.extlen + r.keylen;
			break;
		}
		r.ext = h + BIN_HEADER_LEN;
		r.key = (const char *)r.ext + r.extlen;
		if (start == 0)
			start = proto_observe_now();
		bin_dispatch(&r, avail);
		if (r.more)
			break;
		start = proto_observe(ctx,
		    bin_commands[r.op].name ? bin_commands[r.op].cls
		                            : PROTO_CLS_OTHER,
		    start, bin_describe, &r);
		pos += r.used;
		ctx->cmds++;
	}
	return pos;
}

size_t
proto_bin_serve(struct proto_ctx *ctx, const char *buf, size_t len,
    struct obuf *out, enum proto_action *action)
{
	if (!ctx->decided && len > 0) {
		ctx->binary = proto_cfg.binding == PROTO_BIND_BINARY ||
		              (proto_cfg.binding == PROTO_BIND_AUTO &&
		                  (unsigned char)buf[0] == PROTO_BIN_MAGIC);
		ctx->decided = true;
	}
	return ctx->binary ? proto_bin_process(ctx, buf, len, out, action)
	                   : proto_text_process(ctx, buf, len, out, action);
}

bool
proto_awaits_value(const struct proto_ctx *ctx, const char *buf, size_t len)
{
	if (ctx->binary)
		return len >= BIN_HEADER_LEN;
	return memchr(buf, '\n', len) != NULL;
}
