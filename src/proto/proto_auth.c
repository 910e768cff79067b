/* memcached's ASCII authentication (-Y): the user:password table, the
 * check of credentials against it, and the requests of a connection not
 * yet authenticated. */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cache.h"
#include "counter.h"
#include "obuf.h"
#include "proto_auth.h"
#include "proto_text.h"
#include "proto_tok.h"
#include "xmalloc.h"

struct auth_user {
	char *user;
	size_t ulen;
	char *pass;
	size_t plen;
};

struct auth_table {
	char *data; /* the file; users point into it */
	size_t n;
	struct auth_user *users;
};

/* Swapped by the main thread on a reload, read by every worker. */
static pthread_mutex_t auth_lock = PTHREAD_MUTEX_INITIALIZER;
static struct auth_table *auth_table;
static atomic_bool auth_on;

static void
auth_table_free(struct auth_table *t)
{
	if (t == NULL)
		return;
	free(t->users);
	free(t->data);
	free(t);
}

/* Read the whole of path into a NUL-terminated buffer. */
static char *
auth_read(const char *path, size_t *len, char *err, size_t errlen)
{
	FILE *f = fopen(path, "r");
	char *data = NULL;
	size_t cap = 0, n = 0, got;

	if (f == NULL) {
		snprintf(err, errlen, "cannot open the auth file %s: %s", path,
		    strerror(errno));
		return NULL;
	}
	do {
		if (n + 4096 + 1 > cap) {
			cap = cap * 2 + 4096 + 1;
			data = xrealloc(data, cap);
		}
		got = fread(data + n, 1, cap - n - 1, f);
		n += got;
	} while (got > 0);
	if (ferror(f)) {
		snprintf(err, errlen, "cannot read the auth file %s: %s", path,
		    strerror(errno));
		fclose(f);
		free(data);
		return NULL;
	}
	fclose(f);
	data[n] = '\0';
	*len = n;
	return data;
}

/* Split data into users, as memcached reads the file: the user ends at
 * the first ':', the password at a line end. */
static int
auth_parse(struct auth_table *t, const char *path, size_t len, char *err,
    size_t errlen)
{
	char *p = t->data, *end = t->data + len;
	size_t cap = 0, line = 1;

	while (p < end) {
		char *nl = memchr(p, '\n', (size_t)(end - p));
		char *eol = nl != NULL ? nl : end;
		char *colon = memchr(p, ':', (size_t)(eol - p));
		struct auth_user *u;

		if (colon == NULL || memchr(p, '\0', (size_t)(eol - p))) {
			snprintf(err, errlen,
			    "%s:%zu: a malformed entry: it should be "
			    "user:password",
			    path, line);
			return -1;
		}
		if (t->n == cap) {
			cap = cap * 2 + 8;
			t->users = xrealloc(t->users, cap * sizeof *t->users);
		}
		u = &t->users[t->n++];
		u->user = p;
		u->ulen = (size_t)(colon - p);
		u->pass = colon + 1;
		u->plen = strcspn(u->pass, "\r\n");
		if (u->pass + u->plen > eol)
			u->plen = (size_t)(eol - u->pass);
		p = eol + 1;
		line++;
	}
	if (t->n == 0) {
		snprintf(err, errlen,
		    "%s: no user:password line: nobody could authenticate",
		    path);
		return -1;
	}
	return 0;
}

int
proto_auth_load(const char *path, char *err, size_t errlen)
{
	struct auth_table *t = xcalloc(1, sizeof *t), *old;
	size_t len;
	int n;

	t->data = auth_read(path, &len, err, errlen);
	if (t->data == NULL || auth_parse(t, path, len, err, errlen) == -1) {
		auth_table_free(t);
		return -1;
	}
	n = (int)t->n;
	pthread_mutex_lock(&auth_lock);
	old = auth_table;
	auth_table = t;
	pthread_mutex_unlock(&auth_lock);
	atomic_store(&auth_on, true);
	auth_table_free(old);
	return n;
}

bool
proto_auth_enabled(void)
{
	return atomic_load_explicit(&auth_on, memory_order_relaxed);
}

/* Compares all of both strings whatever differs, so that the time a check
 * takes tells nothing of where a guess went wrong. */
static bool
auth_same(const char *a, size_t alen, const char *b, size_t blen)
{
	unsigned char d = alen != blen;

	for (size_t i = 0; i < alen && i < blen; i++)
		d |= (unsigned char)(a[i] ^ b[i]);
	return d == 0;
}

bool
proto_auth_check(const char *user, size_t ulen, const char *pass, size_t plen)
{
	bool ok = false;

	pthread_mutex_lock(&auth_lock);
	for (size_t i = 0; auth_table != NULL && i < auth_table->n; i++) {
		const struct auth_user *u = &auth_table->users[i];

		/* Both compared, whichever differs: no timing tells which. */
		int same = (int)auth_same(user, ulen, u->user, u->ulen) &
		           (int)auth_same(pass, plen, u->pass, u->plen);

		if (same)
			ok = true;
	}
	pthread_mutex_unlock(&auth_lock);
	return ok;
}

void
proto_auth_free(void)
{
	pthread_mutex_lock(&auth_lock);
	auth_table_free(auth_table);
	auth_table = NULL;
	pthread_mutex_unlock(&auth_lock);
	atomic_store(&auth_on, false);
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
proto_auth_reply(struct proto_ctx *ctx, const char *reply)
{
	ctx->auth_reply = reply;
}

/* Send the reply proto_auth_reply kept. */
void
proto_auth_flush(struct proto_ctx *ctx, struct obuf *out)
{
	if (ctx->auth_reply != NULL)
		obuf_adds(out, ctx->auth_reply);
	ctx->auth_reply = NULL;
}

/* The credentials of an auth set: "user pass" and its "\r\n". */
static void
proto_auth_value(struct proto_ctx *ctx, const char *v, uint32_t size)
{
	struct token tok[2];
	int n;

	if (v[size] != '\r' || v[size + 1] != '\n') {
		proto_auth_reply(
		    ctx, "CLIENT_ERROR bad command line termination\r\n");
		return;
	}
	/* memcached reads the value as a C string. */
	n = tok_split(v, strnlen(v, size), tok, 2);
	if (n != -1 && n < 2) {
		proto_auth_reply(
		    ctx, "CLIENT_ERROR bad authentication token format\r\n");
		return;
	}
	stat_add(&ctx->st->auth_cmds, 1);
	if (!proto_auth_check(tok[0].s, tok[0].len, tok[1].s, tok[1].len)) {
		stat_add(&ctx->st->auth_errors, 1);
		proto_auth_reply(
		    ctx, "CLIENT_ERROR authentication failure\r\n");
		return;
	}
	ctx->authed = true;
	proto_auth_reply(ctx, "STORED\r\n");
}

/* A request before authentication, as memcached's -Y: only "set ANY
 * FLAGS EXPTIME LEN" whose value is "user password" is read, anything
 * else answered CLIENT_ERROR unauthenticated. Returns the bytes taken, 0
 * when more are needed. */
size_t
proto_auth_request(struct proto_ctx *ctx, const char *buf, size_t len,
    enum proto_action *action)
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
			*action = PROTO_TOO_LONG;
			return len;
		}
		return 0;
	}
	linelen = (size_t)(nl - buf);
	n = tok_split(buf, strnlen(buf, linelen), tok, 5);
	if ((n != -1 && n < 5) || !tok_is(&tok[0], "set") ||
	    proto_auth_size(&tok[4], &size) == -1) {
		proto_auth_reply(ctx, "CLIENT_ERROR unauthenticated\r\n");
		return linelen + 1;
	}
	if (len - linelen - 1 < (size_t)size + 2) {
		ctx->need = linelen + 1 + (size_t)size + 2;
		return 0;
	}
	proto_auth_value(ctx, nl + 1, size);
	return linelen + 1 + (size_t)size + 2;
}
