/* memcached 1.6's meta commands: mg, ms, md, ma, mn and me, answered as
 * memcached 1.6.18 answers them, byte for byte (its protocol.txt and the
 * binary itself are the reference). A request is a two-letter command, a
 * key and flags of one letter each, some with a token glued on ("T30",
 * "Oabc"); replies are a two-letter code and the flags asked for, in the
 * order asked. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cache.h"
#include "counter.h"
#include "log_event.h"
#include "obuf.h"
#include "proto_observe.h"
#include "proto_req.h"
#include "proto_text.h"
#include "proto_tok.h"

/* memcached's MFLAG_MAX_OPT_LENGTH, counted as it counts: the tokens plus
 * its terminal one. */
#define META_NTOK_MAX 20
/* Opaque tokens ('O' included) up to this long are echoed. */
#define META_OPAQUE_MAX 32
/* A reply line: the code, a size, every flag with its number, an opaque
 * token and a key in base64. */
#define META_LINE_MAX 1024

static const char meta_bad_format[] = "CLIENT_ERROR bad command line format";
static const char meta_bad_token[] =
    "CLIENT_ERROR bad token in command line format";

/* The request's tokens (memcached's tokenizer keeps PROTO_MAX_TOKENS,
 * more than a request may have: META_NTOK_MAX), and its key, decoded when
 * the b flag asks. */
struct meta_line {
	const struct token *tok;
	int ntok;
	const char *key;
	size_t nkey;
	char keybuf[CACHE_KEY_MAX]; /* the key decoded from base64 */
};

/* What the flags ask for. Times are absolute, as cache_exptime makes
 * them. */
struct meta_flags {
	bool error; /* a flag's token was bad; the error string says which */
	bool binary, quiet, value, no_bump, stale;
	bool touch, vivify, recache, has_cas;
	bool recache_after_touch; /* R came after T */
	char mode;
	time_t exptime, vivify_exptime, recache_time;
	time_t created_exptime; /* of N or T, whichever came last */
	uint32_t client_flags;
	uint64_t cas, delta, initial;
};

/* The line being built for a reply. */
struct meta_out {
	char buf[META_LINE_MAX];
	char *p;
};

/* The base64 alphabet, RFC 4648 without line breaks, as memcached's. */
static const char meta_b64[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* The value of base64 digit c, 0 for the padding '=', -1 for what is not
 * one (which memcached's decoder skips). */
static int
meta_b64_digit(unsigned char c)
{
	const char *d;

	if (c == '=')
		return 0;
	if (c == '\0' || (d = strchr(meta_b64, c)) == NULL)
		return -1;
	return (int)(d - meta_b64);
}

/* Decode n bytes of base64 at s into out as memcached does: bytes outside
 * the alphabet are skipped, the digits must come in fours, padding ends
 * the key. The decoded length; 0 when it does not decode. */
static size_t
meta_b64_decode(const char *s, size_t n, char *out)
{
	size_t count = 0, len = 0;
	int block[4], pad = 0, k = 0;

	for (size_t i = 0; i < n; i++)
		count += meta_b64_digit((unsigned char)s[i]) >= 0;
	if (count == 0 || count % 4 != 0)
		return 0;
	for (size_t i = 0; i < n; i++) {
		int v = meta_b64_digit((unsigned char)s[i]);

		if (v < 0)
			continue;
		pad += s[i] == '=';
		block[k++] = v;
		if (k < 4)
			continue;
		out[len++] = (char)(block[0] << 2 | block[1] >> 4);
		out[len++] = (char)(block[1] << 4 | block[2] >> 2);
		out[len++] = (char)(block[2] << 6 | block[3]);
		k = 0;
		if (pad > 2)
			return 0;
		if (pad > 0) {
			len -= (size_t)pad;
			break;
		}
	}
	return len;
}

/* Encode n bytes at s as base64 at p, with padding; returns the end. */
static char *
meta_b64_encode(const char *s, size_t n, char *p)
{
	const unsigned char *u = (const unsigned char *)s;

	for (size_t i = 0; i < n; i += 3) {
		unsigned v = (unsigned)u[i] << 16;

		v |= i + 1 < n ? (unsigned)u[i + 1] << 8 : 0;
		v |= i + 2 < n ? u[i + 2] : 0;
		*p++ = meta_b64[v >> 18 & 63];
		*p++ = meta_b64[v >> 12 & 63];
		*p++ = i + 1 < n ? meta_b64[v >> 6 & 63] : '=';
		*p++ = i + 2 < n ? meta_b64[v & 63] : '=';
	}
	return p;
}

/* The line as proto_text.c split it; the key as sent. */
static void
meta_split(const struct request *m, struct meta_line *l)
{
	l->tok = m->tok;
	l->ntok = m->ntok;
	if (l->ntok > 1) {
		l->key = l->tok[1].s;
		l->nkey = l->tok[1].len;
	}
}

/* An error line, shown even under q. */
static void
meta_error(struct request *m, const char *msg)
{
	m->noreply = false;
	obuf_adds(m->out, msg);
	obuf_add(m->out, "\r\n", 2);
}

/* A time flag's token as cache_exptime makes it; false when it is not a
 * number. */
static bool
meta_time_arg(const struct token *t, time_t *out)
{
	struct token n = {t->s + 1, t->len - 1};
	int32_t e;

	if (tok_i32(&n, &e) == -1)
		return false;
	*out = cache_exptime(e, cache_now());
	return true;
}

/* A number flag's token (C, D, J), as memcached's safe_strtoull. */
static bool
meta_u64_arg(const struct token *t, uint64_t *out)
{
	return tok_u64(&(struct token){t->s + 1, t->len - 1}, out) == 0;
}

/* Read the flags from token first on, as memcached's preparse: a repeated
 * flag or an unknown one stops at once; a bad token sets f->error and
 * goes on, so a later stop overrides its message. -1 with *err on an
 * error. Decodes a base64 key (b) into l->keybuf. */
static int
meta_flags_parse(
    struct meta_line *l, int first, struct meta_flags *f, const char **err)
{
	bool seen[128] = {false}, touched = false;

	*f = (struct meta_flags){.delta = 1};
	for (int i = first; i < l->ntok; i++) {
		const struct token *t = &l->tok[i];
		unsigned char o = (unsigned char)t->s[0];

		if (o >= 127 || seen[o]) {
			*err = "CLIENT_ERROR duplicate flag";
			return -1;
		}
		seen[o] = true;
		switch (o) {
		case 'b':
			/* Decoded from the token as sent: its length was
			 * checked as sent, too. */
			l->nkey = meta_b64_decode(
			    l->tok[1].s, l->tok[1].len, l->keybuf);
			l->key = l->keybuf;
			f->binary = true;
			if (l->nkey == 0) {
				*err = "CLIENT_ERROR error decoding key";
				f->error = true;
			}
			break;
		case 'N':
			f->vivify = true;
			if (!meta_time_arg(t, &f->vivify_exptime)) {
				*err = meta_bad_token;
				f->error = true;
			} else
				f->created_exptime = f->vivify_exptime;
			break;
		case 'T':
			if (!meta_time_arg(t, &f->exptime)) {
				*err = meta_bad_token;
				f->error = true;
			} else {
				f->touch = touched = true;
				f->created_exptime = f->exptime;
			}
			break;
		case 'R':
			f->recache = true;
			f->recache_after_touch = touched;
			if (!meta_time_arg(t, &f->recache_time)) {
				*err = meta_bad_token;
				f->error = true;
			}
			break;
		case 'v':
			f->value = true;
			break;
		case 'u':
			f->no_bump = true;
			break;
		case 'q':
			f->quiet = true;
			break;
		case 'I':
			f->stale = true;
			break;
		case 'F':
			/* memcached leaves the message as it was. */
			if (tok_u32(&(struct token){t->s + 1, t->len - 1},
			        &f->client_flags) == -1)
				f->error = true;
			break;
		case 'C':
			if (!meta_u64_arg(t, &f->cas)) {
				*err = meta_bad_token;
				f->error = true;
			} else
				f->has_cas = true;
			break;
		case 'M':
			if (t->len != 2) {
				*err = "CLIENT_ERROR incorrect length for M "
				       "token";
				f->error = true;
			} else
				f->mode = t->s[1];
			break;
		case 'J':
			if (!meta_u64_arg(t, &f->initial)) {
				*err = "CLIENT_ERROR invalid numeric initial "
				       "value";
				f->error = true;
			}
			break;
		case 'D':
			if (!meta_u64_arg(t, &f->delta)) {
				*err = "CLIENT_ERROR invalid numeric delta "
				       "value";
				f->error = true;
			}
			break;
		/* Known, answered later or ignored (P and L are for
		 * proxies). */
		case 'O':
		case 'P':
		case 'L':
		case 'k':
		case 's':
		case 't':
		case 'c':
		case 'f':
		case 'l':
		case 'h':
			break;
		default:
			*err = "CLIENT_ERROR invalid flag";
			return -1;
		}
	}
	return f->error ? -1 : 0;
}

/* Whether every opaque token is short enough to echo. */
static bool
meta_opaque_ok(const struct meta_line *l, int first)
{
	for (int i = first; i < l->ntok; i++)
		if (l->tok[i].s[0] == 'O' && l->tok[i].len > META_OPAQUE_MAX)
			return false;
	return true;
}

/* Start a reply line with its code. */
static void
meta_out_start(struct meta_out *o, const char *code)
{
	size_t n = strlen(code);

	memcpy(o->buf, code, n);
	o->p = o->buf + n;
}

/* " X": a flag letter. */
static void
meta_out_flag(struct meta_out *o, char c)
{
	*o->p++ = ' ';
	*o->p++ = c;
}

/* A number, in decimal, at the end of the line. */
static void
meta_out_num(struct meta_out *o, long long v)
{
	o->p += snprintf(o->p, 24, "%lld", v);
}

/* An unsigned number, in decimal, at the end of the line. */
static void
meta_out_u64(struct meta_out *o, uint64_t v)
{
	o->p += snprintf(o->p, 24, "%llu", (unsigned long long)v);
}

/* " kKEY", or " kBASE64 b" for a binary key. */
static void
meta_out_key(struct meta_out *o, const char *key, size_t nkey, bool binary)
{
	meta_out_flag(o, 'k');
	if (binary) {
		o->p = meta_b64_encode(key, nkey, o->p);
		meta_out_flag(o, 'b');
	} else {
		memcpy(o->p, key, nkey);
		o->p += nkey;
	}
}

/* " Otoken": the opaque flag echoed whole. */
static void
meta_out_token(struct meta_out *o, const struct token *t)
{
	*o->p++ = ' ';
	memcpy(o->p, t->s, t->len);
	o->p += t->len;
}

/* The line with its "\r\n", into the output. */
static void
meta_out_end(struct request *m, struct meta_out *o)
{
	*o->p++ = '\r';
	*o->p++ = '\n';
	obuf_add(m->out, o->buf, (size_t)(o->p - o->buf));
}

/* A reply that echoes only the opaque and key flags (misses, failures). */
static void
meta_reply_plain(struct request *m, const struct meta_line *l,
    const struct meta_flags *f, const char *code)
{
	struct meta_out o;

	meta_out_start(&o, code);
	for (int i = 2; i < l->ntok; i++)
		if (l->tok[i].s[0] == 'O')
			meta_out_token(&o, &l->tok[i]);
		else if (l->tok[i].s[0] == 'k')
			meta_out_key(&o, l->key, l->nkey, f->binary);
	meta_out_end(m, &o);
}

/* A TTL as mg and ma answer it: -1 for none, else seconds left. */
static void
meta_out_ttl(struct meta_out *o, uint32_t exptime)
{
	if (exptime == 0)
		meta_out_num(o, -1);
	else
		meta_out_u64(o, (uint32_t)(exptime - (uint32_t)cache_now()));
}

/* The checks every keyed meta command starts with, in memcached's order:
 * a key (else ERROR), its length, the number of flags. False once an
 * error is answered. */
static bool
meta_line_ok(struct request *m, const struct meta_line *l, const char *many)
{
	if (l->ntok < 2) {
		meta_error(m, "ERROR");
		return false;
	}
	if (l->tok[1].len > CACHE_KEY_MAX) {
		meta_error(m, meta_bad_format);
		return false;
	}
	if (l->ntok + 1 > META_NTOK_MAX) {
		meta_error(m, many);
		return false;
	}
	return true;
}

/* mg key flags: a hit answers VA (with v) or HD and the flags asked for;
 * a miss EN, silent under q. */
static void
meta_get(struct request *m, struct meta_line *l)
{
	const char *err = meta_bad_format;
	struct cache_mget_info info;
	struct meta_flags f;
	struct meta_out o;
	struct item *it;
	uint32_t exptime;

	if (!meta_line_ok(m, l, "CLIENT_ERROR options flags are too long"))
		return;
	if (meta_flags_parse(l, 2, &f, &err) == -1) {
		meta_error(m, err);
		return;
	}
	m->noreply = f.quiet;
	/* memcached finds a long opaque while answering, after the lookup
	 * made its changes; here before, so it makes none. */
	if (!meta_opaque_ok(l, 2)) {
		meta_error(m, "CLIENT_ERROR opaque token too long");
		return;
	}
	it = cache_mget(l->key, l->nkey,
	    &(struct cache_mget){.vivify = f.vivify,
	        .vivify_exptime = f.created_exptime,
	        .touch = f.touch,
	        .exptime = f.exptime,
	        .recache = f.recache,
	        .recache_time = f.recache_time,
	        .recache_after_touch = f.recache_after_touch,
	        .no_bump = f.no_bump},
	    &info, m->ctx->st);
	proto_observe_key(m->ctx, l->key, l->nkey, f.value ? it : NULL);
	if (log_event_wanted(LOG_EV_FETCH))
		proto_observe_fetch(m->ctx, l->key, l->nkey, it);
	if (it == NULL) {
		if (!f.quiet)
			meta_reply_plain(m, l, &f, "EN");
		return;
	}
	if (f.value) {
		meta_out_start(&o, "VA ");
		meta_out_u64(&o, item_nbytes(it));
	} else
		meta_out_start(&o, "HD");
	/* The TTL as it stands where t is among the flags: T and N before
	 * it have changed it. */
	exptime = info.exptime;
	for (int i = 2; i < l->ntok; i++) {
		const struct token *t = &l->tok[i];

		switch (t->s[0]) {
		case 'T':
			exptime = (uint32_t)f.exptime;
			break;
		case 'N':
			if (info.created)
				exptime = (uint32_t)f.vivify_exptime;
			break;
		case 's':
			meta_out_flag(&o, 's');
			meta_out_u64(&o, item_nbytes(it));
			break;
		case 't':
			meta_out_flag(&o, 't');
			meta_out_ttl(&o, exptime);
			break;
		case 'c':
			meta_out_flag(&o, 'c');
			meta_out_u64(&o, info.cas);
			break;
		case 'f':
			meta_out_flag(&o, 'f');
			meta_out_u64(&o, item_flags(it));
			break;
		case 'l':
			meta_out_flag(&o, 'l');
			meta_out_u64(&o, info.la);
			break;
		case 'h':
			meta_out_flag(&o, 'h');
			*o.p++ = info.fetched ? '1' : '0';
			break;
		case 'O':
			meta_out_token(&o, t);
			break;
		case 'k':
			meta_out_key(
			    &o, item_key(it), it->nkey, info.binary_key);
			break;
		}
	}
	if (info.token_sent)
		meta_out_flag(&o, 'Z');
	if (info.stale)
		meta_out_flag(&o, 'X');
	if (info.won)
		meta_out_flag(&o, 'W');
	meta_out_end(m, &o);
	/* The value by reference, then the "\r\n" the item does not store. */
	if (f.value && item_nbytes(it) > 0)
		obuf_add_item(m->out, it, item_value(it), item_nbytes(it));
	else
		cache_release(it);
	if (f.value)
		obuf_add(m->out, "\r\n", 2);
}

/* ms's mode flag as a store operation; -1 for an unknown mode. */
static int
meta_set_op(const struct meta_flags *f)
{
	int op;

	switch (f->mode) {
	case 0:
	case 'S':
		op = CACHE_SET;
		break;
	case 'E':
		op = CACHE_ADD;
		break;
	case 'A':
		op = CACHE_APPEND;
		break;
	case 'P':
		op = CACHE_PREPEND;
		break;
	case 'R':
		op = CACHE_REPLACE;
		break;
	default:
		return -1;
	}
	/* As memcached: a CAS turns set and replace into cas (and I into
	 * its stale variant); add ignores it; append and prepend check it
	 * themselves. */
	if (f->has_cas && (op == CACHE_SET || op == CACHE_REPLACE))
		op = f->stale ? CACHE_CAS_STALE : CACHE_CAS;
	return op;
}

/* ms's reply to what the store said, with the flags asked for. */
static void
meta_set_reply(struct request *m, const struct meta_line *l,
    const struct meta_flags *f, enum cache_result res, uint64_t cas)
{
	static const char *const codes[] = {[CACHE_STORED] = "HD",
	    [CACHE_NOT_STORED] = "NS",
	    [CACHE_EXISTS] = "EX",
	    [CACHE_NOT_FOUND] = "NF"};
	struct meta_out o;

	if (res == CACHE_STORED && f->quiet)
		return;
	meta_out_start(&o, codes[res]);
	for (int i = 3; i < l->ntok; i++)
		if (l->tok[i].s[0] == 'O')
			meta_out_token(&o, &l->tok[i]);
		else if (l->tok[i].s[0] == 'k')
			meta_out_key(&o, l->key, l->nkey, f->binary);
		else if (l->tok[i].s[0] == 'c') {
			meta_out_flag(&o, 'c');
			meta_out_u64(&o, cas);
		}
	meta_out_end(m, &o);
}

/* The data block of an ms that failed is swallowed, not read as
 * commands; a set that failed drops the old value, as memcached does. */
static void
meta_set_failed(struct request *m, const struct meta_line *l, int32_t vlen,
    const char *err, bool drop)
{
	meta_error(m, err);
	if (drop)
		cache_drop(l->key, l->nkey, m->ctx->st);
	m->ctx->skip = (unsigned long long)vlen + 2;
}

/* ms key datalen flags, then the data block. */
static void
meta_set(struct request *m, struct meta_line *l)
{
	const char *err = meta_bad_format;
	struct meta_flags f;
	struct cache_seen seen;
	enum cache_result res;
	struct item *it;
	uint64_t cas;
	int32_t vlen;
	unsigned cls;
	int op;

	if (!meta_line_ok(m, l, "CLIENT_ERROR options flags too long"))
		return;
	/* Without a length the data block cannot be told from commands:
	 * it is not swallowed. */
	if (l->ntok == 2 || tok_i32(&l->tok[2], &vlen) == -1 || vlen < 0 ||
	    vlen > INT32_MAX - 2) {
		meta_error(m, meta_bad_format);
		return;
	}
	if (meta_flags_parse(l, 3, &f, &err) == -1) {
		meta_set_failed(m, l, vlen, err, false);
		return;
	}
	m->noreply = f.quiet;
	if ((op = meta_set_op(&f)) == -1) {
		meta_set_failed(m, l, vlen,
		    "CLIENT_ERROR invalid mode for ms M token", false);
		return;
	}
	if (!meta_opaque_ok(l, 3)) {
		meta_set_failed(
		    m, l, vlen, "CLIENT_ERROR opaque token too long", false);
		return;
	}
	if (l->nkey + (uint64_t)vlen > cache_item_max()) {
		meta_set_failed(m, l, vlen,
		    "SERVER_ERROR object too large for cache", true);
		return;
	}
	if (m->avail < (size_t)vlen + 2) {
		m->ctx->need = (size_t)vlen + 2;
		m->more = true;
		return;
	}
	m->used = (size_t)vlen + 2;
	stat_add(&m->ctx->st->cmd_set, 1);
	if (memcmp(m->data + vlen, "\r\n", 2) != 0) {
		meta_error(m, "CLIENT_ERROR bad data chunk");
		return;
	}
	it = cache_alloc(l->key, l->nkey, f.client_flags, f.exptime,
	    (size_t)vlen, &res, m->ctx->st);
	if (it == NULL) {
		meta_error(m, "SERVER_ERROR out of memory storing object");
		cache_drop(l->key, l->nkey, m->ctx->st);
		return;
	}
	memcpy(item_value(it), m->data, (size_t)vlen);
	if (f.binary)
		cache_item_mark_binary_key(it);
	cls = item_class_id(it);
	res = cache_store_cas(it, op, f.cas, &cas, &seen, m->ctx->st);
	meta_set_reply(m, l, &f, res, cas);
	proto_observe_key(m->ctx, l->key, l->nkey, NULL);
	if (log_event_wanted(LOG_EV_MUTATION) || log_event_wanted(LOG_EV_FETCH))
		proto_observe_store(m->ctx, op, l->key, l->nkey, res, cls,
		    f.exptime ? (long)f.exptime - (long)cache_now() : 0,
		    (uint64_t)vlen, &seen);
}

/* md key flags: delete, or with I mark stale. */
static void
meta_delete(struct request *m, struct meta_line *l)
{
	const char *err = meta_bad_format;
	enum cache_result res;
	struct meta_flags f;

	if (!meta_line_ok(m, l, "CLIENT_ERROR options flags too long"))
		return;
	if (meta_flags_parse(l, 2, &f, &err) == -1) {
		meta_error(m, "CLIENT_ERROR invalid or duplicate flag");
		return;
	}
	m->noreply = f.quiet;
	if (!meta_opaque_ok(l, 2)) {
		meta_error(m, "CLIENT_ERROR opaque token too long");
		return;
	}
	res = cache_mdelete(l->key, l->nkey, f.has_cas, f.cas, f.stale, f.touch,
	    f.exptime, m->ctx->st);
	if (res == CACHE_OK && f.quiet)
		return;
	meta_reply_plain(m, l, &f,
	    res == CACHE_OK       ? "HD"
	    : res == CACHE_EXISTS ? "EX"
	                          : "NF");
}

/* ma's reply on success: HD, or VA and the number with v. */
static void
meta_arith_reply(struct request *m, const struct meta_line *l,
    const struct meta_flags *f, const struct cache_marith_info *info)
{
	char num[24];
	int len =
	    snprintf(num, sizeof num, "%llu", (unsigned long long)info->value);
	uint32_t exptime = info->exptime;
	struct meta_out o;

	if (f->value) {
		meta_out_start(&o, "VA ");
		meta_out_num(&o, len);
	} else
		meta_out_start(&o, "HD");
	for (int i = 2; i < l->ntok; i++) {
		const struct token *t = &l->tok[i];

		switch (t->s[0]) {
		case 'c':
			meta_out_flag(&o, 'c');
			meta_out_u64(&o, info->cas);
			break;
		case 't':
			meta_out_flag(&o, 't');
			meta_out_ttl(&o, exptime);
			break;
		case 'T':
			exptime = (uint32_t)f->exptime;
			break;
		case 'N':
			if (info->created)
				exptime = (uint32_t)f->vivify_exptime;
			break;
		case 'O':
			meta_out_token(&o, t);
			break;
		case 'k':
			meta_out_key(&o, l->key, l->nkey, f->binary);
			break;
		}
	}
	if (f->value) {
		memcpy(o.p, "\r\n", 2);
		memcpy(o.p + 2, num, (size_t)len);
		o.p += 2 + len;
	}
	meta_out_end(m, &o);
}

/* ma key flags: incr or decr, creating on a miss with N. */
static void
meta_arith(struct request *m, struct meta_line *l)
{
	const char *err = meta_bad_format;
	struct cache_marith_info info;
	enum cache_result res;
	struct meta_flags f;
	bool incr;

	if (!meta_line_ok(m, l, "CLIENT_ERROR options flags too long"))
		return;
	if (meta_flags_parse(l, 2, &f, &err) == -1) {
		meta_error(m, "CLIENT_ERROR invalid or duplicate flag");
		return;
	}
	m->noreply = f.quiet;
	if (f.mode != 0 && strchr("I+D-", f.mode) == NULL) {
		meta_error(m, "CLIENT_ERROR invalid mode for ma M token");
		return;
	}
	incr = f.mode != 'D' && f.mode != '-';
	res = cache_marith(l->key, l->nkey,
	    &(struct cache_marith){.incr = incr,
	        .delta = f.delta,
	        .cas = f.has_cas ? f.cas : 0,
	        .vivify = f.vivify,
	        .initial = f.initial,
	        .vivify_exptime = f.created_exptime,
	        .touch = f.touch,
	        .exptime = f.exptime},
	    &info, m->ctx->st);
	/* As memcached, a long opaque is found while answering: after the
	 * number changed, and not before an error about the value. */
	if ((res == CACHE_OK || res == CACHE_NOT_FOUND ||
	        res == CACHE_EXISTS) &&
	    !meta_opaque_ok(l, 2)) {
		meta_error(m, "CLIENT_ERROR opaque token too long");
		return;
	}
	switch (res) {
	case CACHE_OK:
		/* As memcached: q hides a success, not a creation. */
		if (!f.quiet || info.created)
			meta_arith_reply(m, l, &f, &info);
		break;
	case CACHE_NOT_FOUND:
		meta_reply_plain(m, l, &f, "NF");
		break;
	case CACHE_EXISTS:
		meta_reply_plain(m, l, &f, "EX");
		break;
	case CACHE_NON_NUMERIC:
		meta_error(m, "CLIENT_ERROR cannot increment or decrement "
		              "non-numeric value");
		break;
	default:
		meta_error(m, info.missed ? "SERVER_ERROR Out of memory "
		                            "allocating new item"
		                          : "SERVER_ERROR out of memory");
		break;
	}
}

/* me key [b]: memcached's debug line, with our item's numbers: exp (as
 * memcached computes it: seconds since the expiry, -1 for none), la,
 * cas, fetch, cls (our size class, from 1; 0 for an item with a mapping
 * of its own) and size (our header, key and value). Counted in cmd_meta
 * once its key is read, found or not: memcached 1.6.18 counts there and
 * only there (mg, ms, md, ma and mn are not in it). */
static void
meta_debug(struct request *m, struct meta_line *l)
{
	struct cache_debug d;
	struct meta_out o;
	time_t now = cache_now();

	if (l->ntok < 2 || l->tok[1].len > CACHE_KEY_MAX) {
		meta_error(m, meta_bad_format);
		return;
	}
	if (l->ntok >= 3 && l->tok[2].len == 1 && l->tok[2].s[0] == 'b') {
		l->nkey = meta_b64_decode(l->key, l->nkey, l->keybuf);
		l->key = l->keybuf;
		if (l->nkey == 0) {
			meta_error(m, meta_bad_format);
			return;
		}
	}
	stat_add(&m->ctx->st->cmd_meta, 1);
	if (!cache_debug(l->key, l->nkey, &d, m->ctx->st)) {
		obuf_add(m->out, "EN\r\n", 4);
		return;
	}
	meta_out_start(&o, "ME ");
	if (d.binary_key)
		o.p = meta_b64_encode(d.key, d.nkey, o.p);
	else {
		memcpy(o.p, d.key, d.nkey);
		o.p += d.nkey;
	}
	o.p += snprintf(o.p, 160,
	    " exp=%d la=%llu cas=%llu fetch=%s cls=%u size=%zu",
	    d.exptime == 0 ? -1 : (int)((uint32_t)now - d.exptime),
	    (unsigned long long)((uint32_t)now - d.atime),
	    (unsigned long long)d.cas, d.fetched ? "yes" : "no", d.cls, d.size);
	meta_out_end(m, &o);
}

void
meta_command(struct request *m, int which)
{
	struct meta_line l = {.ntok = 0};

	meta_split(m, &l);
	switch (which) {
	case 'g':
		meta_get(m, &l);
		break;
	case 's':
		meta_set(m, &l);
		break;
	case 'd':
		meta_delete(m, &l);
		break;
	case 'a':
		meta_arith(m, &l);
		break;
	case 'e':
		meta_debug(m, &l);
		break;
	default:
		/* mn: flags and all, only "MN": the end of a pipeline. */
		obuf_add(m->out, "MN\r\n", 4);
		break;
	}
}
