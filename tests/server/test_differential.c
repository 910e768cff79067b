/* A differential fuzzer: from fixed seeds (our own PRNG, the same on every
 * machine) random sequences of classic, meta and binary requests over a
 * small key space, bad inputs among them, are sent to threadlined and to
 * Debian's memcached 1.6.18, each seed on fresh instances of both, and the
 * replies are compared byte for byte after normalising what differs by
 * nature:
 * - CAS values: each server numbers its items from its own counter, so a
 *   CAS is mapped, per server, to the order in which it was first seen
 *   (in text, gets/gats' fifth VALUE token and meta's c flag; in binary
 *   the header's CAS field). A request naming a CAS names it by that
 *   order, and each server gets its own number for it;
 * - meta's t flag (seconds left): a second may tick between the two
 *   servers' answers, so a positive TTL reads "t+";
 * - version and stats are not sent: their bodies differ by nature.
 * Requests go in small batches, each ended by a fence (mn, or a binary
 * NOOP with an opaque of its own) whose reply ends the batch; every read
 * has a deadline, and a batch that reaches it on both servers alike (a
 * data block that swallowed the fence) starts new connections.
 *
 * TL_DIFF_SEEDS=N runs seeds 1..N (default: the list below), TL_DIFF_OPS
 * the requests per seed, TL_DIFF_SEED=S seed S alone. A divergence prints
 * the seed, the request's index, its bytes (escaped) and both replies. */
#include <check.h>
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness.h"

#define BUF_MAX     (256 * 1024)
#define REQ_MAX     4096
#define BATCH_MAX   4
#define CAS_SEEN    4096
#define KEYS        6
#define SENTINEL    0xfeedfaceu
#define READ_MS     1500
#define OPS_DEFAULT 1500
/* A CAS no server has handed out yet. */
#define CAS_BOGUS 987654321ULL

/* Seeds run by default; a seed that found a bug is kept here. */
static const uint64_t default_seeds[] = {1, 2, 3};

/* splitmix64. */
static uint64_t rng_state;

static uint64_t
rng(void)
{
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static unsigned
rnd(unsigned n)
{
	return (unsigned)(rng() % n);
}

static bool
chance(unsigned pct)
{
	return rnd(100) < pct;
}

/* One server: threadlined over TCP, memcached over a Unix socket. */
struct peer {
	struct harness_peer srv;
	int text, bin; /* connections, -1 when closed */
	uint64_t cas[CAS_SEEN];
	size_t ncas;
};

static struct peer peers[2];

static void
peer_close(int *fd)
{
	if (*fd == -1)
		return;
	harness_close(*fd);
	*fd = -1;
}

/* Escape bytes for a message. */
static void
escape(const char *p, size_t n, char *out, size_t cap)
{
	size_t w = 0;

	for (size_t i = 0; i < n && w + 5 < cap; i++) {
		unsigned char c = (unsigned char)p[i];

		if (c == '\r')
			w += (size_t)snprintf(out + w, cap - w, "\\r");
		else if (c == '\n')
			w += (size_t)snprintf(out + w, cap - w, "\\n\n");
		else if (c >= 0x20 && c < 0x7f && c != '\\')
			out[w++] = (char)c;
		else
			w += (size_t)snprintf(out + w, cap - w, "\\x%02x", c);
	}
	out[w] = '\0';
}

/* The index of v in p's first-seen list, added if new. */
static size_t
cas_index(struct peer *p, uint64_t v)
{
	for (size_t i = 0; i < p->ncas; i++)
		if (p->cas[i] == v)
			return i;
	if (p->ncas < CAS_SEEN)
		p->cas[p->ncas++] = v;
	return p->ncas - 1;
}

/* The CAS a request names: the idx-th seen (by this server), or bogus. */
static uint64_t
cas_value(const struct peer *p, long idx)
{
	if (idx < 0 || (size_t)idx >= p->ncas)
		return CAS_BOGUS;
	return p->cas[idx];
}

/* A CAS reference for a request: one seen, mostly, else a bogus one. The
 * count seen is the same on both servers until they diverge. */
static long
pick_cas(void)
{
	size_t n = peers[0].ncas;

	if (n == 0 || chance(15))
		return -1;
	if (chance(60))
		return (long)(n - 1 - rnd(n < 3 ? (unsigned)n : 3));
	return (long)rnd((unsigned)n);
}

/* ---- Requests ---- */

/* A text request holds "\x01N\x01" where CAS number N (first-seen order)
 * goes; a binary one, its CAS reference in cas. */
struct req {
	bool binary;
	char text[REQ_MAX];
	size_t len;
	/* binary */
	uint8_t op;
	char key[300];
	unsigned char ext[20];
	uint8_t extlen;
	char val[64];
	long cas;    /* -2: none */
	bool closes; /* a malformed packet: the server closes */
	bool alone;  /* sent in a batch of its own */
};

static const char *const keys[KEYS] = {"k0", "k1", "k2", "k3", "k4", "n5"};

static const char *
pick_key(void)
{
	return keys[rnd(KEYS)];
}

static void add(struct req *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
add(struct req *r, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(r->text + r->len, sizeof r->text - r->len, fmt, ap);
	va_end(ap);
	ck_assert(n >= 0 && r->len + (size_t)n < sizeof r->text);
	r->len += (size_t)n;
}

static void
add_cas(struct req *r)
{
	add(r, "\x01%ld\x01", pick_cas());
}

/* A value: letters and digits that no reply line starts with. */
static void
pick_value(char *out, size_t cap)
{
	/* No '-': for a number past 2^63 memcached looks for a minus sign
	 * with strchr from the value on, past its end into whatever the slab
	 * holds next, and a stale "-1" there makes the number non-numeric
	 * (1.6.18's safe_strtoull on unterminated item data); we read the
	 * value only. */
	static const char *const nums[] = {"0", "1", "42", "007",
	    "18446744073709551615", "18446744073709551614",
	    "18446744073709551616", "12a", " 5", "99999999999999999999"};
	size_t n;

	if (chance(35)) {
		snprintf(out, cap, "%s", nums[rnd(sizeof nums / sizeof *nums)]);
		return;
	}
	n = rnd(12);
	if (n >= cap)
		n = cap - 1;
	for (size_t i = 0; i < n; i++)
		out[i] = "abdefghijxyz0123456789"[rnd(22)];
	out[n] = '\0';
}

static const char *
pick_flags(void)
{
	static const char *const f[] = {
	    "0", "0", "1", "123", "4294967295", "65535"};

	return f[rnd(sizeof f / sizeof *f)];
}

/* Expiry: none, far future, or already past. */
static const char *
pick_exptime(void)
{
	static const char *const e[] = {"0", "0", "3600", "86400", "-1"};

	return e[rnd(sizeof e / sizeof *e)];
}

static const char *
pick_delta(void)
{
	static const char *const d[] = {"1", "1", "0", "7", "1000",
	    "18446744073709551615", "18446744073709551616", "abc", "-1",
	    "12345678901234567890"};

	return d[rnd(sizeof d / sizeof *d)];
}

static void
gen_storage(struct req *r)
{
	static const char *const cmds[] = {
	    "set", "add", "replace", "append", "prepend", "cas"};
	const char *cmd = cmds[rnd(6)];
	char val[32];

	pick_value(val, sizeof val);
	add(r, "%s %s %s %s %zu", cmd, pick_key(), pick_flags(), pick_exptime(),
	    strlen(val));
	if (strcmp(cmd, "cas") == 0) {
		add(r, " ");
		add_cas(r);
	}
	if (chance(15))
		add(r, " noreply");
	add(r, "\r\n%s\r\n", val);
}

static void
gen_retrieval(struct req *r)
{
	static const char *const cmds[] = {"get", "gets", "gat", "gats"};
	unsigned c = rnd(4), n = 1 + rnd(4);

	add(r, "%s", cmds[c]);
	if (c >= 2)
		add(r, " %s", pick_exptime());
	for (unsigned i = 0; i < n; i++)
		add(r, " %s", pick_key());
	add(r, "\r\n");
}

/* Meta flags: mostly valid, some invalid or malformed. */
static void
add_meta_flags(struct req *r, const char *const *valid, size_t nvalid, bool mg)
{
	static const char *const bad[] = {"x", "Z", "!", "E5", "T", "Nabc",
	    "Tabc", "C", "Oaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "MX", "F",
	    "Fz"};
	unsigned n = rnd(5);

	for (unsigned i = 0; i < n; i++) {
		if (chance(8)) {
			const char *b = bad[rnd(sizeof bad / sizeof *bad)];

			/* mg with an opaque past 32 bytes: memcached applies
			 * N and T before it answers the error, we change
			 * nothing (README, "Where we differ"). */
			if (!(mg && b[0] == 'O'))
				add(r, " %s", b);
			continue;
		}
		const char *f = valid[rnd((unsigned)nvalid)];

		if (strcmp(f, "C") == 0) {
			add(r, " C");
			add_cas(r);
		} else
			add(r, " %s", f);
	}
}

/* Base64 of a key, for meta's b flag. */
static void
b64(const char *in, char *out)
{
	static const char t[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t n = strlen(in), w = 0;

	for (size_t i = 0; i < n; i += 3) {
		unsigned v = (unsigned char)in[i] << 16;

		if (i + 1 < n)
			v |= (unsigned char)in[i + 1] << 8;
		if (i + 2 < n)
			v |= (unsigned char)in[i + 2];
		out[w++] = t[v >> 18 & 63];
		out[w++] = t[v >> 12 & 63];
		out[w++] = i + 1 < n ? t[v >> 6 & 63] : '=';
		out[w++] = i + 2 < n ? t[v & 63] : '=';
	}
	out[w] = '\0';
}

/* The key of a meta request, with b (base64) now and then. */
static void
add_meta_key(struct req *r)
{
	const char *key = pick_key();
	char enc[32];

	if (chance(10)) {
		b64(key, enc);
		add(r, " %s b", enc);
	} else
		add(r, " %s", key);
}

static void
gen_meta(struct req *r)
{
	/* No l: mg's last access differs on purpose (README). */
	static const char *const mg[] = {"c", "f", "h", "k", "O17", "q", "s",
	    "t", "v", "v", "v", "N3600", "R30", "T3600", "T0", "E"};
	static const char *const ms[] = {"c", "F5", "F4294967295", "I", "k",
	    "O9", "q", "T3600", "T-1", "MS", "ME", "MA", "MP", "MR", "C", "MA"};
	static const char *const md[] = {"q", "C", "I", "k", "O3", "T30"};
	static const char *const ma[] = {"N3600", "J13", "D5",
	    "D18446744073709551615", "T3600", "M+", "M-", "MI", "MD", "MX", "q",
	    "t", "c", "v", "k", "O5", "C"};
	char val[32];

	switch (rnd(5)) {
	case 0:
		add(r, "mg");
		add_meta_key(r);
		add_meta_flags(r, mg, sizeof mg / sizeof *mg, true);
		add(r, "\r\n");
		break;
	case 1:
		pick_value(val, sizeof val);
		add(r, "ms");
		add_meta_key(r);
		add(r, " %zu", strlen(val));
		add_meta_flags(r, ms, sizeof ms / sizeof *ms, false);
		add(r, "\r\n%s\r\n", val);
		break;
	case 2:
		add(r, "md");
		add_meta_key(r);
		add_meta_flags(r, md, sizeof md / sizeof *md, false);
		add(r, "\r\n");
		break;
	case 3:
		add(r, "ma");
		add_meta_key(r);
		add_meta_flags(r, ma, sizeof ma / sizeof *ma, false);
		add(r, "\r\n");
		break;
	default:
		add(r, "mn\r\n");
	}
}

static void
gen_bad(struct req *r)
{
	static const char *const bad[] = {"set k0 0 0 abc\r\n", "get\r\n",
	    "gets\r\n", "set k0 abc 0 1\r\nx\r\n", "foo\r\n", "GET k0\r\n",
	    "\r\n", "incr k0\r\n", "incr k0 1 2 3\r\n",
	    "incr n5 1 noreply x\r\n", "delete k0 0\r\n", "delete k0 5\r\n",
	    "delete k0 noreply x\r\n", "touch k0\r\n", "touch k0 abc\r\n",
	    "set k0 0 0 1 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0\r\nx\r\n",
	    "set k0 0 0 -1\r\n", "set k0 0 0 2\r\nabcd\r\n",
	    "cas k0 0 0 1\r\nx\r\n", "cas k0 0 0 1 abc\r\nx\r\n", "gat\r\n",
	    "gat abc k0\r\n", "gat 0\r\n", "mg\r\n", "ms k0\r\n",
	    "ms k0 abc\r\n", "ms k0 -1\r\n", "ma\r\n", "md\r\n",
	    "flush_all abc\r\n", "flush_all 0 0 0\r\n", "decr k0 abc\r\n",
	    "set k0 0 0 4294967296\r\n", "set k0 4294967296 0 1\r\nx\r\n",
	    "set k0 -1 0 1\r\nx\r\n", "append k0 0 0\r\n",
	    "get k0 k1 k2 k3 k4 k0 k1 k2 k3 k4 k0 k1 k2 k3 k4 k0 k1 k2 k3 k4 "
	    "k0 k1 k2 k3 k4 k0\r\n",
	    "mg k0 v v v v v v v v v v v v v v v v v v v v v v v v v v\r\n",
	    "cas\r\n", "add k0\r\n", "replace\r\n", "prepend k0 0\r\n"};
	const char *s = bad[rnd(sizeof bad / sizeof *bad)];

	if (chance(15)) {
		static const char *const cmds[] = {
		    "get", "delete", "incr", "touch", "mg", "md", "ma"};
		const char *c = cmds[rnd(7)];

		/* memcached drops the replies pipelined before a get
		 * whose key is too long; we answer them (README, "Where we
		 * differ"): such a get goes alone. */
		r->alone = strcmp(c, "get") == 0;
		add(r, "%s ", c);
		for (unsigned i = 0, n = 250 + rnd(3); i < n; i++)
			add(r, "a");
		if (strcmp(c, "incr") == 0 || strcmp(c, "touch") == 0)
			add(r, " 1");
		add(r, "\r\n");
		return;
	}
	add(r, "%s", s);
}

static uint32_t
pick_bexp(void)
{
	static const uint32_t e[] = {0, 0, 3600, 86400};

	return e[rnd(4)];
}

static void
gen_binary(struct req *r)
{
	static const uint8_t gets[] = {0x00, 0x09, 0x0c, 0x0d};
	static const uint8_t stores[] = {0x01, 0x02, 0x03, 0x11, 0x12, 0x13};
	static const uint8_t dels[] = {0x04, 0x14};
	static const uint8_t arith[] = {0x05, 0x06, 0x15, 0x16};
	static const uint8_t cats[] = {0x0e, 0x0f, 0x19, 0x1a};
	static const uint8_t gats[] = {0x1d, 0x1e, 0x23, 0x24};
	static const uint64_t deltas[] = {
	    1, 0, 7, UINT64_MAX, 18446744073709551610ULL};
	static const uint64_t inits[] = {0, 10, UINT64_MAX};

	r->binary = true;
	r->cas = -2;
	snprintf(r->key, sizeof r->key, "%s", pick_key());
	switch (rnd(8)) {
	case 0:
		r->op = gets[rnd(4)];
		break;
	case 1:
		r->op = stores[rnd(6)];
		harness_put32(
		    r->ext, (uint32_t)strtoul(pick_flags(), NULL, 10));
		harness_put32(r->ext + 4, pick_bexp());
		r->extlen = 8;
		pick_value(r->val, sizeof r->val);
		if (chance(25))
			r->cas = pick_cas();
		break;
	case 2:
		r->op = dels[rnd(2)];
		if (chance(20))
			r->cas = pick_cas();
		break;
	case 3:
		r->op = arith[rnd(4)];
		harness_put64(r->ext, deltas[rnd(5)]);
		harness_put64(r->ext + 8, inits[rnd(3)]);
		harness_put32(
		    r->ext + 16, chance(30) ? 0xffffffffu : pick_bexp());
		r->extlen = 20;
		if (chance(15))
			r->cas = pick_cas();
		break;
	case 4:
		r->op = cats[rnd(4)];
		pick_value(r->val, sizeof r->val);
		if (chance(15))
			r->cas = pick_cas();
		break;
	case 5:
		r->op = 0x1c;
		harness_put32(r->ext, pick_bexp());
		r->extlen = 4;
		break;
	case 6:
		r->op = gats[rnd(4)];
		harness_put32(r->ext, pick_bexp());
		r->extlen = 4;
		break;
	default:
		if (chance(10)) { /* a get with extras: closed */
			r->op = 0x00;
			r->extlen = 4;
			memset(r->ext, 0, 4);
			r->closes = true;
		} else if (chance(50)) {
			r->op = 0x08; /* flush */
			r->key[0] = '\0';
		} else {
			r->op = 0x0a; /* noop */
			r->key[0] = '\0';
		}
	}
}

static void
gen(struct req *r)
{
	unsigned k = rnd(100);

	memset(r, 0, sizeof *r);
	r->cas = -2;
	if (k < 28)
		gen_storage(r);
	else if (k < 43)
		gen_retrieval(r);
	else if (k < 50) {
		add(r, "%s %s %s%s\r\n", chance(50) ? "incr" : "decr",
		    chance(60) ? "n5" : pick_key(), pick_delta(),
		    chance(15) ? " noreply" : "");
	} else if (k < 53)
		add(r, "touch %s %s%s\r\n", pick_key(), pick_exptime(),
		    chance(15) ? " noreply" : "");
	else if (k < 58)
		add(r, "delete %s%s\r\n", pick_key(),
		    chance(15) ? " noreply" : "");
	else if (k < 59)
		add(r, "flush_all%s\r\n",
		    chance(30) ? " noreply" : (chance(50) ? " 0" : ""));
	else if (k < 75)
		gen_meta(r);
	else if (k < 82)
		gen_bad(r);
	else
		gen_binary(r);
}

/* The bytes a request sends to p: CAS references resolved. */
static size_t
req_bytes(const struct req *r, const struct peer *p, char *out, size_t cap)
{
	size_t w = 0;

	if (r->binary) {
		unsigned char *b = (unsigned char *)out;
		size_t nk = strlen(r->key), nv = strlen(r->val);

		ck_assert(24 + r->extlen + nk + nv <= cap);
		memset(b, 0, 24);
		b[0] = 0x80;
		b[1] = r->op;
		b[2] = (unsigned char)(nk >> 8);
		b[3] = (unsigned char)nk;
		b[4] = r->extlen;
		harness_put32(b + 8, (uint32_t)(r->extlen + nk + nv));
		harness_put32(b + 12, 0x100u);
		harness_put64(b + 16, r->cas == -2 ? 0 : cas_value(p, r->cas));
		memcpy(b + 24, r->ext, r->extlen);
		memcpy(b + 24 + r->extlen, r->key, nk);
		memcpy(b + 24 + r->extlen + nk, r->val, nv);
		return 24 + r->extlen + nk + nv;
	}
	for (size_t i = 0; i < r->len; i++) {
		if (r->text[i] == '\x01') {
			long idx = strtol(r->text + i + 1, NULL, 10);

			w += (size_t)snprintf(out + w, cap - w, "%llu",
			    (unsigned long long)cas_value(p, idx));
			i = (size_t)(strchr(r->text + i + 1, '\x01') - r->text);
			continue;
		}
		ck_assert(w + 1 < cap);
		out[w++] = r->text[i];
	}
	return w;
}

/* ---- Replies ---- */

/* Lines after the first whose first word is MN: fence reached. */
static size_t
count_mn(const char *buf, size_t len)
{
	size_t n = 0;

	for (size_t i = 0; i + 4 <= len; i++)
		if ((i == 0 || buf[i - 1] == '\n') &&
		    memcmp(buf + i, "MN\r\n", 4) == 0)
			n++;
	return n;
}

/* Binary: the fence's reply is in buf. */
static bool
bin_fenced(const unsigned char *buf, size_t len)
{
	size_t at = 0;

	while (at + 24 <= len) {
		size_t body = harness_get32(buf + at + 8);

		if (buf[at + 1] == 0x0a &&
		    harness_get32(buf + at + 12) == SENTINEL)
			return true;
		at += 24 + body;
	}
	return false;
}

/* Read from fd until the fence (mns: the count of MN lines wanted, or a
 * binary fence), EOF or the deadline. */
static size_t
read_reply(int fd, bool binary, size_t mns, char *buf, size_t cap, bool *eof,
    bool *late)
{
	long long deadline = harness_now_ms() + READ_MS;
	size_t len = 0;

	*eof = *late = false;
	for (;;) {
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		long long left = deadline - harness_now_ms();
		ssize_t n;

		if (binary ? bin_fenced((unsigned char *)buf, len)
		           : count_mn(buf, len) >= mns)
			return len;
		if (left <= 0 || len + 1 >= cap) {
			*late = true;
			return len;
		}
		n = poll(&pfd, 1, (int)left);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			continue;
		n = recv(fd, buf + len, cap - 1 - len, MSG_DONTWAIT);
		if (n == -1 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n <= 0) {
			*eof = true;
			return len;
		}
		len += (size_t)n;
	}
}

/* A meta reply line's first word. */
static bool
meta_line(const char *l)
{
	static const char *const w[] = {
	    "HD", "VA", "EN", "NS", "EX", "NF", "MN"};

	for (size_t i = 0; i < sizeof w / sizeof *w; i++) {
		size_t n = strlen(w[i]);

		if (strncmp(l, w[i], n) == 0 && (l[n] == ' ' || l[n] == '\r'))
			return true;
	}
	return false;
}

static bool
all_digits(const char *s, size_t n)
{
	if (n == 0)
		return false;
	for (size_t i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return false;
	return true;
}

/* A value without its spaces, compacted in place; its new length.
 * memcached decrements in place, padded with spaces, unless another
 * reference holds the item (a reply still queued), then it stores the
 * number unpadded; which one depends on when its replies were written,
 * and the padding lives on through append and prepend. We always pad
 * (README). Generated values hold no space but " 5"'s, so spaces are
 * left out on both sides. */
static size_t
unpadded(char *v, size_t n)
{
	size_t w = 0;

	for (size_t r = 0; r < n; r++)
		if (v[r] != ' ')
			v[w++] = v[r];
	return w;
}

/* Normalise a text reply line by line (see the file comment). */
static size_t
norm_text(struct peer *p, char *in, size_t len, char *out, size_t cap)
{
	size_t w = 0, i = 0;

	while (i < len && w + 64 < cap) {
		const char *e = memchr(in + i, '\n', len - i);
		size_t ll = e ? (size_t)(e - (in + i)) + 1 : len - i;
		char line[REQ_MAX];

		if (ll >= sizeof line)
			ll = sizeof line - 1;
		memcpy(line, in + i, ll);
		line[ll] = '\0';
		i += ll;
		if (strncmp(line, "VALUE ", 6) == 0 || meta_line(line)) {
			/* word by word */
			bool value =
			    line[0] == 'V' && line[1] == 'A' && line[2] == 'L';
			bool va = !value && line[0] == 'V';
			int word = 0, lenword = value ? 3 : va ? 1 : -1;
			size_t j = 0, dlen = 0, dtrim = 0;

			if (lenword >= 0) {
				char *d = in + i;
				const char *de = memchr(d, '\n', len - i);

				if (de != NULL && de > d && de[-1] == '\r') {
					dlen = (size_t)(de - d) - 1;
					dtrim = unpadded(d, dlen);
				}
			}

			while (j < ll) {
				size_t s = j, n;

				while (
				    j < ll && line[j] != ' ' && line[j] != '\r')
					j++;
				n = j - s;
				if (word == lenword && dtrim != dlen)
					w += (size_t)snprintf(
					    out + w, cap - w, "%zu", dtrim);
				else if (value && word == 4 &&
				         all_digits(line + s, n))
					w += (size_t)snprintf(out + w, cap - w,
					    "#%zu",
					    cas_index(p,
					        strtoull(line + s, NULL, 10)));
				else if (!value && word > 0 && line[s] == 'c' &&
				         all_digits(line + s + 1, n - 1))
					w += (size_t)snprintf(out + w, cap - w,
					    "c#%zu",
					    cas_index(p, strtoull(line + s + 1,
					                     NULL, 10)));
				else if (!value && word > 0 && line[s] == 't' &&
				         all_digits(line + s + 1, n - 1) &&
				         strtoull(line + s + 1, NULL, 10) > 0)
					w += (size_t)snprintf(
					    out + w, cap - w, "t+");
				else {
					memcpy(out + w, line + s, n);
					w += n;
				}
				if (j < ll && w + 2 < cap)
					out[w++] = line[j++];
				word++;
			}
			if (dtrim != dlen && w + dtrim + 2 < cap) {
				memcpy(out + w, in + i, dtrim);
				w += dtrim;
				memcpy(out + w, "\r\n", 2);
				w += 2;
				i += dlen + 2;
			}
			continue;
		}
		if (w + ll >= cap)
			break;
		memcpy(out + w, line, ll);
		w += ll;
	}
	out[w] = '\0';
	return w;
}

/* Normalise binary packets into escaped text, one a line. */
static size_t
norm_bin(struct peer *p, unsigned char *in, size_t len, char *out, size_t cap)
{
	size_t w = 0, at = 0;

	while (at + 24 <= len && w + 128 < cap) {
		size_t body = harness_get32(in + at + 8), n = 24 + body,
		       body0 = body;
		uint64_t cas = harness_get64(in + at + 16);

		if (at + n > len)
			n = len - at;
		w += (size_t)snprintf(out + w, cap - w, "[op %02x st %04x cas ",
		    in[at + 1], (unsigned)(in[at + 6] << 8 | in[at + 7]));
		if (cas == 0)
			w += (size_t)snprintf(out + w, cap - w, "0] ");
		else
			w += (size_t)snprintf(
			    out + w, cap - w, "#%zu] ", cas_index(p, cas));
		harness_put64(in + at + 16, 0);
		if (in[at + 6] == 0 && in[at + 7] == 0 &&
		    at + n == at + 24 + body) {
			size_t skip = 24 + in[at + 4] +
			              ((size_t)in[at + 2] << 8 | in[at + 3]);

			if (skip < n) {
				size_t t =
				    unpadded((char *)in + at + skip, n - skip);

				harness_put32(in + at + 8,
				    (uint32_t)(body - (n - skip - t)));
				n = skip + t;
				body = n - 24;
			}
		}
		escape((char *)in + at, n, out + w, cap - w);
		w += strlen(out + w);
		if (w + 2 < cap)
			out[w++] = '\n';
		at += 24 + body0;
	}
	if (at < len)
		w += (size_t)snprintf(
		    out + w, cap - w, "[%zu stray bytes]", len - at);
	out[w] = '\0';
	return w;
}

/* ---- The run ---- */

static void
reconnect(struct peer *p, bool binary)
{
	int *fd = binary ? &p->bin : &p->text;

	peer_close(fd);
	*fd = harness_peer_connect(&p->srv);
	ck_assert_msg(*fd != -1, "%s: cannot connect", p->srv.name);
}

/* Is line a (memcached's) and b (ours) the minus scan's mark: memcached
 * calls a number past 2^63 non-numeric when a '-' follows its value in
 * memory (see pick_value; item headers and stale chunk bytes can hold
 * one), where we count? */
static bool
minus_scan_line(const char *a, size_t na, const char *b, size_t nb)
{
	static const char nonnum[] =
	    "CLIENT_ERROR cannot increment or decrement non-numeric value\r\n";

	if (na == sizeof nonnum - 1 && memcmp(a, nonnum, na) == 0)
		return nb > 2 && all_digits(b, nb - 2);
	/* binary: "[op 05 st 0006" against "[op 05 st 0000" */
	return na > 14 && nb > 14 && memcmp(a, "[op ", 4) == 0 &&
	       memcmp(a, b, 10) == 0 && strchr("01", a[4]) != NULL &&
	       strchr("56", a[5]) != NULL && memcmp(a + 10, "0006", 4) == 0 &&
	       memcmp(b + 10, "0000", 4) == 0;
}

/* Do the replies differ only by the minus scan? */
static bool
minus_scan(const char *a, const char *b)
{
	bool seen = false;

	while (*a != '\0' && *b != '\0') {
		const char *ea = strchr(a, '\n'), *eb = strchr(b, '\n');
		size_t na = ea ? (size_t)(ea - a) + 1 : strlen(a);
		size_t nb = eb ? (size_t)(eb - b) + 1 : strlen(b);

		if (na != nb || memcmp(a, b, na) != 0) {
			if (!minus_scan_line(a, na, b, nb))
				return false;
			seen = true;
		}
		a += na;
		b += nb;
	}
	return seen && *a == '\0' && *b == '\0';
}

/* Run one batch on both; false (after printing) on a divergence. */
static bool
run_batch(
    uint64_t seed, unsigned first, struct req *batch, unsigned n, bool *stop)
{
	static char raw[BUF_MAX], norm[2][BUF_MAX], sent[2][REQ_MAX * 8];
	size_t slen[2];
	bool binary = batch[0].binary, closes = false;
	bool eof[2], late[2];

	for (unsigned i = 0; i < n; i++)
		closes |= batch[i].closes;
	for (int s = 0; s < 2; s++) {
		struct peer *p = &peers[s];
		int *fd = binary ? &p->bin : &p->text;
		size_t w = 0, mns = 1, got;

		if (*fd == -1)
			reconnect(p, binary);
		for (unsigned i = 0; i < n; i++) {
			size_t b = req_bytes(
			    &batch[i], p, sent[s] + w, sizeof sent[s] - w);

			if (!binary && b == 4 &&
			    memcmp(sent[s] + w, "mn\r\n", 4) == 0)
				mns++;
			w += b;
		}
		slen[s] = w;
		if (binary) {
			unsigned char *f = (unsigned char *)sent[s] + w;

			memset(f, 0, 24);
			f[0] = 0x80;
			f[1] = 0x0a;
			harness_put32(f + 12, SENTINEL);
			w += 24;
		} else {
			memcpy(sent[s] + w, "mn\r\n", 4);
			w += 4;
		}
		if (send(*fd, sent[s], w, MSG_NOSIGNAL) != (ssize_t)w) {
			eof[s] = true;
			late[s] = false;
			strcpy(norm[s], "[send failed]");
			peer_close(fd);
			continue;
		}
		got = read_reply(
		    *fd, binary, mns, raw, sizeof raw, &eof[s], &late[s]);
		if (binary)
			norm_bin(p, (unsigned char *)raw, got, norm[s],
			    sizeof norm[s] - 32);
		else
			norm_text(p, raw, got, norm[s], sizeof norm[s] - 32);
		if (eof[s])
			strcat(norm[s], "[EOF]");
		if (late[s])
			strcat(norm[s], "[no fence]");
		if (eof[s] || late[s])
			peer_close(fd);
	}
	(void)closes;
	if (getenv("TL_DIFF_TRACE") != NULL) {
		static char t[2][BUF_MAX];

		escape(sent[1], slen[1], t[0], sizeof t[0]);
		if (binary)
			strcpy(t[1], norm[1]);
		else
			escape(norm[1], strlen(norm[1]), t[1], sizeof t[1]);
		printf("%u: %s=> %s\n", first, t[0], t[1]);
	}
	if (strcmp(norm[0], norm[1]) == 0)
		return true;
	if (minus_scan(norm[1], norm[0])) {
		/* memcached's own bug, not ours; the stores now differ, so
		 * the seed ends here. */
		printf("seed %llu: memcached's minus scan at request %u; the "
		       "seed ends there\n",
		    (unsigned long long)seed, first);
		*stop = true;
		return true;
	}
	{
		static char e[3][BUF_MAX];

		escape(sent[1], slen[1], e[0], sizeof e[0]);
		for (int k = 0; k < 2; k++)
			if (binary)
				strcpy(e[2 - k], norm[k]);
			else
				escape(norm[k], strlen(norm[k]), e[2 - k],
				    sizeof e[2 - k]);
		printf("DIVERGENCE: seed %llu, requests %u..%u (%s)\n"
		       "request bytes (to memcached):\n%s\n"
		       "memcached:\n%s\nthreadlined:\n%s\n---\n",
		    (unsigned long long)seed, first, first + n - 1,
		    binary ? "binary" : "text", e[0], e[1], e[2]);
		fflush(stdout);
	}
	return false;
}

static unsigned
env_num(const char *name, unsigned dflt)
{
	const char *v = getenv(name);

	return v != NULL && *v != '\0' ? (unsigned)strtoul(v, NULL, 10) : dflt;
}

/* One seed on fresh servers: 1 when the replies agree throughout, 0 when
 * they diverge, -1 (skipped) when memcached is not installed. */
static int
run_seed(uint64_t seed, unsigned ops)
{
	static struct req batch[BATCH_MAX];
	struct harness_server tl;
	struct harness_memcached mc;
	char tag[32];
	bool ok = true, stop = false;
	unsigned i = 0;

	snprintf(tag, sizeof tag, "mc%llu.sock", (unsigned long long)seed);
	if (!harness_memcached_start(
	        &mc, tag, (const char *const[]){"-t", "2", "-m", "64", NULL}))
		return -1;
	snprintf(tag, sizeof tag, "tl%llu", (unsigned long long)seed);
	harness_server_start(&tl, tag, 2, NULL);
	peers[0] =
	    (struct peer){.srv = {.name = "threadlined", .port = tl.port},
	        .text = -1,
	        .bin = -1};
	peers[1] = (struct peer){.srv = {.name = "memcached", .sock = mc.sock},
	    .text = -1,
	    .bin = -1};
	rng_state = seed * 0x2545f4914f6cdd1dULL;
	while (i < ops && ok && !stop) {
		unsigned n = 0, want = 1 + rnd(BATCH_MAX);

		/* A batch is one protocol; it ends early on a switch. */
		while (n < want && i + n < ops) {
			gen(&batch[n]);
			if (n > 0 && (batch[n].binary != batch[0].binary ||
			                 batch[n].alone)) {
				n++;
				break;
			}
			n++;
			if (batch[0].alone)
				break;
		}
		if (n > 1 && (batch[n - 1].binary != batch[0].binary ||
		                 batch[n - 1].alone)) {
			ok = run_batch(seed, i, batch, n - 1, &stop);
			i += n - 1;
			if (!ok || stop)
				break;
			batch[0] = batch[n - 1];
			n = 1;
		}
		ok = run_batch(seed, i, batch, n, &stop);
		i += n;
	}
	for (int s = 0; s < 2; s++) {
		peer_close(&peers[s].text);
		peer_close(&peers[s].bin);
	}
	harness_memcached_stop(&mc);
	ck_assert_int_eq(harness_server_stop(&tl), 0);
	return ok;
}

START_TEST(test_differential)
{
	unsigned nseeds = env_num("TL_DIFF_SEEDS", 0);
	unsigned ops = env_num("TL_DIFF_OPS", OPS_DEFAULT);
	unsigned one = env_num("TL_DIFF_SEED", 0);
	unsigned failed = 0,
	         runs = sizeof default_seeds / sizeof *default_seeds;

	if (one != 0)
		runs = 1;
	else if (nseeds != 0)
		runs = nseeds;
	for (unsigned r = 0; r < runs; r++) {
		uint64_t seed = one != 0      ? one
		                : nseeds != 0 ? r + 1
		                              : default_seeds[r];
		int agreed = run_seed(seed, ops);

		if (agreed == -1)
			return;
		failed += agreed == 0;
	}
	printf("differential: %u seeds x %u requests, %u diverged\n", runs, ops,
	    failed);
	ck_assert_msg(
	    failed == 0, "%u of %u seeds diverged (see above)", failed, runs);
}
END_TEST

int
main(void)
{
	const TTest *tests[] = {test_differential, NULL};
	unsigned seeds = env_num("TL_DIFF_SEEDS", 3);
	unsigned ops = env_num("TL_DIFF_OPS", OPS_DEFAULT);

	return harness_run_suite(
	    &(struct harness_suite){.name = "differential",
	        .timeout = (int)(120 + seeds * (ops / 50 + 5))},
	    tests);
}
