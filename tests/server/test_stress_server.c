/* A randomized, seeded stress of the server over the memcached text
 * protocol, checked against a model. CLIENTS threads, each on its own
 * connection (accept hands them to the workers in turn), own their keys
 * and send every storage, retrieval and arithmetic command, multi-key
 * gets, touch, delete and the odd flush_all, now and then with noreply
 * or pipelined. Each keeps an exact model of its keys and allows what a
 * cache may do and nothing else: a miss anywhere (eviction, another
 * client's flush_all), a hit only with the latest value written and never
 * after certain expiry, arithmetic and append/prepend exactly, CAS answers
 * that follow from the cas read, one cas per stored version, and "out of
 * memory" only for a large value while others are in flight. The server
 * runs with a small memory and item limit, so eviction runs all the time;
 * at the end, every key deleted, it must hold no item, still serve, take
 * a value as large as -I allows, have evicted, and its counters agree
 * with what the clients saw.
 *
 * Seeds: a fixed list, or STRESS_SEED=N for one. STRESS_SECONDS is the run
 * time of them all (default 6). Every failure names the seed, the client,
 * the command and the key's last commands. */
#include <check.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>

#include "harness.h"
#include "stress.h"

#define CLIENTS  6
#define KEYS     50
#define WORKERS  4
#define ITEM_MAX (512u << 10) /* -I: key and value */
#define KEY_MAX  250
/* Seconds after its expiry that an item may still be seen. */
#define SLACK 2
/* Commands in one pipelined batch, keys in one multi-key get, and the
 * largest value in a batch: its requests fit the socket buffers, so
 * sending them all before reading cannot stall on the replies. */
#define BATCH_MAX   8
#define MULTI_MAX   5
#define BATCH_VALUE 2048
/* Values up to this size are never refused for want of memory: whatever
 * the other clients have in flight, the server can evict for them. Larger
 * ones may be while requests in flight pin memory; once the server is
 * idle, it must take a value of any size. */
#define SMALL_MAX (64u << 10)
/* Operations per client whatever the clock says: enough data that the
 * server must evict, however slow the machine. */
#define MIN_OPS    600
#define CASLOG_MAX (1u << 20)
#define HIST       8
#define IN_CAP     (ITEM_MAX + 4096)
#define OUT_CAP    (ITEM_MAX + 65536)

static const uint64_t default_seeds[] = {1, 2};
/* Set by the first failure: every client stops, the report comes fast. */
static _Atomic bool stopping;
static uint64_t seeds[2];
static int nseeds;
static double seed_seconds;

enum op {
	OP_SET,
	OP_SETNUM,
	OP_ADD,
	OP_REPLACE,
	OP_APPEND,
	OP_PREPEND,
	OP_CAS,
	OP_GET,
	OP_GETS,
	OP_GAT,
	OP_GATS,
	OP_TOUCH,
	OP_INCR,
	OP_DECR,
	OP_DELETE,
	OP_TOO_LARGE,
	OP_FLUSH,
	OP_FLUSH_LATER,
	OP_COUNT
};

/* The command each op sends. */
static const char *const op_cmds[OP_COUNT] = {"set", "set", "add", "replace",
    "append", "prepend", "cas", "get", "gets", "gat", "gats", "touch", "incr",
    "decr", "delete", "set", "flush_all", "flush_all"};
/* Weights of the keyed operations; flush_all is drawn apart. */
static const unsigned op_weights[OP_TOO_LARGE + 1] = {
    20, 6, 6, 6, 5, 5, 8, 14, 8, 4, 3, 4, 5, 5, 6, 1};

struct hist {
	enum op op;
	char reply[24];
	uint32_t ver;
	size_t len;
	time_t exp, now;
};

struct key_model {
	bool present; /* written by us, not removed since as far as we know */
	struct stress_value v;
	time_t exp;        /* an upper bound; 0 never */
	uint32_t ver;      /* the version of v */
	uint32_t next_ver; /* every write attempt gets a fresh one */
	uint64_t cas; /* this version's cas once a gets saw it; 0 unknown */
	struct hist hist[HIST];
	unsigned nhist;
};

/* One command of a batch, as sent. */
struct cmd {
	enum op op;
	int nkeys;
	int keys[MULTI_MAX];
	bool noreply, wrong_cas;
	bool probe; /* a get after a joined store answered NOT_STORED */
	int ttl;
	struct stress_value v; /* what a store writes */
	uint32_t ver;
	uint64_t cas, delta;
};

/* What the clients saw that the server counts. */
struct seen {
	uint64_t hits, cas_hits, cas_badval, cas_misses;
	uint64_t incr_hits, incr_misses, decr_hits, decr_misses;
};

struct client {
	pthread_t thread;
	int id, fd;
	uint64_t seed, rng;
	long long deadline_ms;
	long ops;
	struct key_model keys[KEYS];
	char key[KEYS][KEY_MAX + 1];
	size_t nkey[KEYS];
	char *out, *in, *expect;
	size_t outlen, inoff, inlen;
	struct cmd batch[BATCH_MAX + 1];
	int nbatch;
	bool probe[KEYS];
	struct stress_caslog *log;
	size_t nlog;
	struct seen seen;
	char error[3072];
};

/* The realtime clock at the server's resolution: both read the same
 * kernel clock, so the server's "now" for a command lies between what
 * the client reads before sending it and after its reply. */
static time_t
coarse_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME_COARSE, &ts);
	return ts.tv_sec;
}

/* The first failure of a client, with what is needed to replay and
 * understand it: seed, client, operation count, key and its history. */
static void
client_fail(struct client *c, int k, const char *fmt, ...)
{
	size_t n;
	va_list ap;

	if (c->error[0] != '\0')
		return;
	atomic_store(&stopping, true);
	n = (size_t)snprintf(c->error, sizeof c->error,
	    "seed %" PRIu64 " client %d op %ld key %.40s: ", c->seed, c->id,
	    c->ops, k >= 0 ? c->key[k] : "-");
	va_start(ap, fmt);
	n += (size_t)vsnprintf(c->error + n, sizeof c->error - n, fmt, ap);
	va_end(ap);
	if (k < 0)
		return;
	for (unsigned i = c->keys[k].nhist > HIST ? c->keys[k].nhist - HIST : 0;
	     i < c->keys[k].nhist && n < sizeof c->error; i++) {
		const struct hist *h = &c->keys[k].hist[i % HIST];

		n += (size_t)snprintf(c->error + n, sizeof c->error - n,
		    "\n  then %s -> %s ver=%" PRIu32
		    " len=%zu exp=%lld now=%lld",
		    op_cmds[h->op], h->reply, h->ver, h->len, (long long)h->exp,
		    (long long)h->now);
	}
}

/* Remember what happened to key k for a later failure message. */
static void
note(struct client *c, int k, enum op op, const char *reply, time_t now)
{
	struct key_model *m = &c->keys[k];
	struct hist *h = &m->hist[m->nhist++ % HIST];

	*h = (struct hist){.op = op,
	    .ver = m->ver,
	    .len = m->present ? m->v.len : 0,
	    .exp = m->exp,
	    .now = now};
	snprintf(h->reply, sizeof h->reply, "%s", reply);
}

/* The bytes the model expects for v, into dst; its length. */
static size_t
value_render(
    const struct client *c, int k, const struct stress_value *v, char *dst)
{
	return stress_value_render(v, 'c', c->id, k, dst);
}

/* Is data (n bytes, flags) the model's value of key k? Numbers compare
 * as numbers after trailing spaces: incr and decr keep a value's length. */
static bool
value_check(struct client *c, int k, const char *data, size_t n, uint32_t flags,
    const char *what)
{
	const struct stress_value *v = &c->keys[k].v;
	size_t len = value_render(c, k, v, c->expect);

	if (flags != v->flags) {
		client_fail(c, k, "%s: flags %" PRIu32 ", want %" PRIu32, what,
		    flags, v->flags);
		return false;
	}
	if (stress_value_is(v, c->expect, len, data, n))
		return true;
	if (v->numeric)
		client_fail(c, k, "%s: value '%.*s', want the number %s", what,
		    (int)(n < 40 ? n : 40), data, c->expect);
	else
		client_fail(c, k, "%s: %zu bytes '%.*s', want %zu bytes '%.*s'",
		    what, n, (int)(n < 40 ? n : 40), data, len,
		    (int)(len < 40 ? len : 40), c->expect);
	return false;
}

/* May key k be found now? Written and not removed by us, and not
 * certainly expired. */
static bool
hit_ok(const struct key_model *m, time_t now)
{
	return m->present && (m->exp == 0 || now < m->exp + SLACK);
}

/* A hit where the model allows none fails; true when allowed. */
static bool
hit_check(struct client *c, int k, time_t now, const char *what)
{
	const struct key_model *m = &c->keys[k];

	if (hit_ok(m, now))
		return true;
	if (m->present)
		client_fail(c, k, "%s: hit %lld s after expiry at %lld", what,
		    (long long)(now - m->exp), (long long)m->exp);
	else
		client_fail(
		    c, k, "%s: hit on a key deleted or never stored", what);
	return false;
}

/* The key is surely not in the server now: a later hit is an error. */
static void
model_gone(struct key_model *m)
{
	m->present = false;
	m->cas = 0;
}

/* The expiry the server set for ttl, at the latest: it read its clock
 * before the reply the client has just read, at after. */
static time_t
exp_of(int ttl, time_t after)
{
	return ttl == 0 ? 0 : ttl < 0 ? 1 : after + ttl;
}

/* A gets saw cas for key k's current version: one cas per version, and
 * logged for the check across clients. */
static void
cas_seen(struct client *c, int k, uint64_t cas)
{
	struct key_model *m = &c->keys[k];

	if (cas == 0)
		client_fail(c, k, "gets: a hit without a cas");
	else if (m->cas != 0 && m->cas != cas)
		client_fail(c, k,
		    "gets: cas %" PRIu64 ", but this version had %" PRIu64
		    " and nothing wrote it since",
		    cas, m->cas);
	else {
		if (m->cas == 0 && c->nlog < CASLOG_MAX)
			c->log[c->nlog++] = (struct stress_caslog){.cas = cas,
			    .owner = (uint32_t)(c->id * KEYS + k),
			    .ver = m->ver};
		m->cas = cas;
	}
}

/* The whole request, however the socket takes it. */
static bool
send_all(struct client *c, const char *buf, size_t len)
{
	int error = harness_write_all(c->fd, buf, len);

	if (error != 0)
		client_fail(c, -1, "send: %s", strerror(error));
	return error == 0;
}

/* At least want unread bytes at c->in + c->inoff; the socket has a
 * receive timeout, so a server that stops answering fails the client. */
static bool
fill(struct client *c, size_t want)
{
	if (c->inlen - c->inoff >= want)
		return true;
	memmove(c->in, c->in + c->inoff, c->inlen - c->inoff);
	c->inlen -= c->inoff;
	c->inoff = 0;
	if (want > IN_CAP) {
		client_fail(c, -1, "a reply of %zu bytes", want);
		return false;
	}
	while (c->inlen < want) {
		ssize_t n = recv(c->fd, c->in + c->inlen, IN_CAP - c->inlen, 0);

		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0) {
			client_fail(c, -1, "recv: %s",
			    n == 0 ? "closed by the server" : strerror(errno));
			return false;
		}
		c->inlen += (size_t)n;
	}
	return true;
}

/* The next reply line without its CRLF, valid until the next read. */
static char *
read_line(struct client *c)
{
	for (;;) {
		char *p = c->in + c->inoff;
		char *end = memmem(p, c->inlen - c->inoff, "\r\n", 2);

		if (end != NULL) {
			*end = '\0';
			c->inoff = (size_t)(end + 2 - c->in);
			return p;
		}
		if (!fill(c, c->inlen - c->inoff + 1))
			return NULL;
	}
}

/* A value size up to max: mostly small (log-uniform to 64 KiB), some
 * empty, many at or just below -I so the server must evict. */
static size_t
size_pick(struct client *c, size_t max)
{
	unsigned r = (unsigned)(stress_rnd(&c->rng) % 100);
	size_t n;

	if (r < 5)
		return 0;
	if (r < 25) /* the limit itself, or just below */
		n = stress_rnd(&c->rng) % 2 ? 0 : stress_rnd(&c->rng) % 4096;
	else if (r < 30)
		n = stress_rnd(&c->rng) % (max / 2 + 1);
	else /* log-uniform up to 64 KiB */
		return stress_rnd(&c->rng) %
		       ((size_t)1 << (1 + stress_rnd(&c->rng) % 16)) %
		       (max + 1);
	return n > max ? 0 : max - n;
}

/* An exptime: mostly none, some already past, some a second or two
 * away (near enough to expire during the run), some far. */
static int
ttl_pick(struct client *c)
{
	static const int ttls[20] = {-1, -1000, 1, 1, 2, 2, 1000};

	return ttls[stress_rnd(&c->rng) % 20];
}

/* A key not yet in the batch; -1 when a few draws find none. */
static int
key_pick(struct client *c, const bool *used)
{
	for (int tries = 0; tries < 8; tries++) {
		int k = (int)(stress_rnd(&c->rng) % KEYS);

		if (!used[k])
			return k;
	}
	return -1;
}

/* Append a request for cmd to c->out. */
static void
cmd_render(struct client *c, const struct cmd *cmd)
{
	char *o = c->out + c->outlen;
	int k = cmd->keys[0];
	const char *nr = cmd->noreply ? " noreply" : "";
	const char *name = op_cmds[cmd->op];
	size_t len;

	switch (cmd->op) {
	case OP_GET:
	case OP_GETS:
	case OP_GAT:
	case OP_GATS:
		o += sprintf(o, "%s", name);
		if (cmd->op == OP_GAT || cmd->op == OP_GATS)
			o += sprintf(o, " %d", cmd->ttl);
		for (int i = 0; i < cmd->nkeys; i++)
			o += sprintf(o, " %s", c->key[cmd->keys[i]]);
		o += sprintf(o, "\r\n");
		break;
	case OP_TOUCH:
		o += sprintf(o, "touch %s %d%s\r\n", c->key[k], cmd->ttl, nr);
		break;
	case OP_INCR:
	case OP_DECR:
		o += sprintf(
		    o, "%s %s %" PRIu64 "\r\n", name, c->key[k], cmd->delta);
		break;
	case OP_DELETE:
		o += sprintf(o, "delete %s%s\r\n", c->key[k], nr);
		break;
	case OP_FLUSH:
		o += sprintf(o, "flush_all%s\r\n", nr);
		break;
	case OP_FLUSH_LATER:
		o += sprintf(o, "flush_all %d%s\r\n", cmd->ttl, nr);
		break;
	default:
		len = cmd->op == OP_TOO_LARGE ? ITEM_MAX - c->nkey[k] + 1
		                              : value_render(c, k, &cmd->v,
		                                    c->out + c->outlen + 512);
		o += sprintf(o, "%s %s %" PRIu32 " %d %zu", name, c->key[k],
		    cmd->v.flags, cmd->ttl, len);
		if (cmd->op == OP_CAS)
			o += sprintf(o, " %" PRIu64, cmd->cas);
		o += sprintf(o, "%s\r\n", nr);
		if (cmd->op == OP_TOO_LARGE)
			memset(o, 'z', len);
		else
			memmove(o, c->out + c->outlen + 512, len);
		memcpy(o + len, "\r\n", 2);
		o += len + 2;
		break;
	}
	c->outlen = (size_t)(o - c->out);
}

/* The value or segment a store of key k writes; a cas without a known
 * cas becomes the gets that learns one, an append that cannot grow the
 * value a set. */
static void
gen_store(struct client *c, struct cmd *cmd, bool small)
{
	int k = cmd->keys[0];
	struct key_model *m = &c->keys[k];
	size_t max = ITEM_MAX - c->nkey[k];

	if ((cmd->op == OP_APPEND || cmd->op == OP_PREPEND) && m->present &&
	    (m->v.numeric || m->v.nseg == STRESS_SEGS_MAX || m->v.len == max))
		cmd->op = OP_SET;
	if (cmd->op == OP_CAS && m->cas == 0) {
		/* No cas known for this version: read one first. */
		cmd->op = OP_GETS;
		return;
	}
	cmd->ver = ++m->next_ver;
	cmd->ttl = ttl_pick(c);
	cmd->v.flags =
	    stress_rnd(&c->rng) % 2 ? 0 : (uint32_t)stress_rnd(&c->rng);
	cmd->noreply = cmd->op == OP_SET && stress_rnd(&c->rng) % 8 == 0;
	if (cmd->op == OP_CAS) {
		cmd->wrong_cas = stress_rnd(&c->rng) % 8 == 0;
		cmd->cas =
		    m->cas ^
		    (cmd->wrong_cas ? 1 + stress_rnd(&c->rng) % 1000 : 0);
	}
	if (cmd->op == OP_SETNUM) {
		cmd->v.numeric = true;
		cmd->v.num = stress_num_pick(&c->rng);
		cmd->v.len = (size_t)snprintf(NULL, 0, "%" PRIu64, cmd->v.num);
		return;
	}
	if ((cmd->op == OP_APPEND || cmd->op == OP_PREPEND) && m->present)
		max -= m->v.len;
	if (small && max > BATCH_VALUE)
		max = BATCH_VALUE;
	cmd->v.nseg = 1;
	cmd->v.seg[0] = (struct stress_seg){
	    .ver = cmd->ver, .len = (uint32_t)size_pick(c, max)};
	cmd->v.len = cmd->v.seg[0].len;
}

/* One command for the batch, on keys not yet in it; false when none. */
static bool
gen_cmd(struct client *c, struct cmd *cmd, bool *used, bool small)
{
	unsigned total = 0, r = (unsigned)(stress_rnd(&c->rng) % 40000);
	int i, k;

	memset(cmd, 0, sizeof *cmd);
	if (r < 2 && !small) {
		cmd->op = r == 0 ? OP_FLUSH : OP_FLUSH_LATER;
		cmd->ttl = 1 + (int)(stress_rnd(&c->rng) % 2);
		cmd->noreply = stress_rnd(&c->rng) % 2;
		return true;
	}
	if ((k = key_pick(c, used)) == -1)
		return false;
	for (i = 0; i <= OP_TOO_LARGE; i++)
		total += op_weights[i];
	r = (unsigned)(stress_rnd(&c->rng) % total);
	for (i = 0; r >= op_weights[i]; i++)
		r -= op_weights[i];
	cmd->op = (enum op)i;
	cmd->keys[0] = k;
	cmd->nkeys = 1;
	used[k] = true;
	switch (cmd->op) {
	case OP_GET:
	case OP_GETS:
	case OP_GAT:
	case OP_GATS:
		cmd->ttl = ttl_pick(c);
		for (int n = (int)(stress_rnd(&c->rng) % MULTI_MAX); n > 0; n--)
			if ((k = key_pick(c, used)) != -1) {
				cmd->keys[cmd->nkeys++] = k;
				used[k] = true;
			}
		break;
	case OP_TOUCH:
	case OP_DELETE:
		cmd->ttl = ttl_pick(c);
		cmd->noreply = stress_rnd(&c->rng) % 4 == 0;
		break;
	case OP_INCR:
	case OP_DECR:
		cmd->delta = stress_num_pick(&c->rng);
		break;
	case OP_TOO_LARGE:
		if (small)
			cmd->op = OP_GET;
		break;
	default:
		gen_store(c, cmd, small);
		break;
	}
	return true;
}

/* A store's reply (or noreply) against the model, which then follows. */
static void
apply_store(struct client *c, const struct cmd *cmd, const char *reply,
    time_t now, time_t after)
{
	int k = cmd->keys[0];
	struct key_model *m = &c->keys[k];
	const char *what = op_cmds[cmd->op];
	bool stored = cmd->noreply || strcmp(reply, "STORED") == 0;
	bool not_stored = strcmp(reply, "NOT_STORED") == 0;

	if (strcmp(reply, "SERVER_ERROR out of memory storing object") == 0 &&
	    cmd->v.len > SMALL_MAX) {
		/* Refused; a set that cannot be stored drops the old value. */
		if (cmd->op == OP_SET || cmd->op == OP_SETNUM)
			model_gone(m);
		return;
	}
	switch (cmd->op) {
	case OP_TOO_LARGE:
		/* A set that cannot be stored drops the old value. */
		if (strcmp(reply, "SERVER_ERROR object too large for cache") !=
		    0)
			client_fail(c, k, "set over -I answered '%s'", reply);
		model_gone(m);
		return;
	case OP_SET:
	case OP_SETNUM:
		if (!stored)
			client_fail(c, k, "set answered '%s'", reply);
		break;
	case OP_ADD:
		/* Not stored: a hit, which leaves the old value in place. */
		if (not_stored)
			hit_check(c, k, now, what);
		else if (!stored)
			client_fail(c, k, "add answered '%s'", reply);
		break;
	case OP_CAS:
		if (strcmp(reply, "NOT_FOUND") == 0) {
			c->seen.cas_misses++;
			model_gone(m);
		} else if (strcmp(reply,
		               cmd->wrong_cas ? "EXISTS" : "STORED") == 0) {
			hit_check(c, k, now, what);
			if (cmd->wrong_cas)
				c->seen.cas_badval++;
			else
				c->seen.cas_hits++;
		} else
			client_fail(c, k, "cas with %s cas %" PRIu64 ": '%s'",
			    cmd->wrong_cas ? "a wrong" : "the right", cmd->cas,
			    reply);
		stored = stored && !cmd->wrong_cas;
		break;
	default: /* replace, append, prepend */
		if (stored)
			hit_check(c, k, now, what);
		else if (!not_stored)
			client_fail(c, k, "%s answered '%s'", what, reply);
		else if (cmd->op == OP_REPLACE || !m->present)
			model_gone(m);
		else if (m->v.len + cmd->v.len <= SMALL_MAX)
			c->probe[k] = true;
		/* Else maybe refused for memory: the old value may stay. */
		break;
	}
	if (!stored)
		return;
	if (cmd->op == OP_APPEND) {
		m->v.seg[m->v.nseg++] = cmd->v.seg[0];
		m->v.len += cmd->v.len;
	} else if (cmd->op == OP_PREPEND) {
		memmove(&m->v.seg[1], &m->v.seg[0],
		    (size_t)m->v.nseg * sizeof m->v.seg[0]);
		m->v.seg[0] = cmd->v.seg[0];
		m->v.nseg++;
		m->v.len += cmd->v.len;
	} else {
		m->v = cmd->v;
		m->exp = exp_of(cmd->ttl, after);
	}
	m->present = true;
	m->ver = cmd->ver;
	m->cas = 0;
}

/* get/gets/gat/gats: the VALUE blocks come in the order of the keys
 * asked for; a key without one missed. */
static void
read_values(struct client *c, const struct cmd *cmd, time_t now, time_t after)
{
	bool cas = cmd->op == OP_GETS || cmd->op == OP_GATS;
	const char *what = op_cmds[cmd->op];
	int next = 0;

	for (;;) {
		char key[KEY_MAX + 1], *line = read_line(c);
		unsigned long long flags, bytes, unique = 0;
		int n = 0, k, want = cas ? 4 : 3;
		const char *data;

		if (line == NULL)
			return;
		if (strcmp(line, "END") == 0)
			break;
		if (sscanf(line, "VALUE %250s %llu %llu %llu%n", key, &flags,
		        &bytes, &unique, &n) != want ||
		    (cas && line[n] != '\0')) {
			client_fail(c, cmd->keys[next < cmd->nkeys ? next : 0],
			    "%s: reply line '%.80s'", what, line);
			return;
		}
		while (next < cmd->nkeys &&
		       strcmp(c->key[cmd->keys[next]], key) != 0) {
			model_gone(&c->keys[cmd->keys[next]]);
			note(c, cmd->keys[next++], cmd->op, "miss", now);
		}
		if (next == cmd->nkeys) {
			client_fail(c, cmd->keys[0],
			    "%s: VALUE for key '%.40s', not asked for or out "
			    "of "
			    "order",
			    what, key);
			return;
		}
		k = cmd->keys[next++];
		if (!fill(c, (size_t)bytes + 2))
			return;
		data = c->in + c->inoff;
		c->inoff += (size_t)bytes + 2;
		if (memcmp(data + bytes, "\r\n", 2) != 0) {
			client_fail(c, k,
			    "%s: %llu bytes of data not ended by "
			    "CRLF",
			    what, bytes);
			return;
		}
		c->seen.hits++;
		if (hit_check(c, k, now, what) &&
		    value_check(
		        c, k, data, (size_t)bytes, (uint32_t)flags, what) &&
		    cas)
			cas_seen(c, k, unique);
		if (cmd->probe)
			client_fail(c, k,
			    "append or prepend answered NOT_STORED, but the "
			    "key "
			    "is there: no memory for the joined value");
		if (cmd->op == OP_GAT || cmd->op == OP_GATS)
			c->keys[k].exp = exp_of(cmd->ttl, after);
		note(c, k, cmd->op, "hit", now);
	}
	for (; next < cmd->nkeys; next++) {
		model_gone(&c->keys[cmd->keys[next]]);
		note(c, cmd->keys[next], cmd->op, "miss", now);
	}
}

/* incr and decr: the model's number plus or minus delta, wrapping and
 * flooring as memcached; the non-numeric error only for a value that is
 * not one. */
static void
apply_arith(
    struct client *c, const struct cmd *cmd, const char *reply, time_t now)
{
	int k = cmd->keys[0];
	struct key_model *m = &c->keys[k];
	bool incr = cmd->op == OP_INCR;
	const char *what = op_cmds[cmd->op];
	uint64_t want, got;
	char *end;

	if (strcmp(reply, "NOT_FOUND") == 0) {
		model_gone(m);
		*(incr ? &c->seen.incr_misses : &c->seen.decr_misses) += 1;
		return;
	}
	if (strcmp(reply, "CLIENT_ERROR cannot increment or decrement "
	                  "non-numeric value") == 0) {
		if (hit_check(c, k, now, what) && m->v.numeric)
			client_fail(c, k, "%s of %" PRIu64 ": non-numeric",
			    what, m->v.num);
		return;
	}
	errno = 0;
	got = strtoull(reply, &end, 10);
	if (reply[0] < '0' || reply[0] > '9' || *end != '\0' || errno != 0) {
		client_fail(c, k, "%s answered '%.80s'", what, reply);
		return;
	}
	*(incr ? &c->seen.incr_hits : &c->seen.decr_hits) += 1;
	want = incr ? m->v.num + cmd->delta
	            : (cmd->delta > m->v.num ? 0 : m->v.num - cmd->delta);
	if (hit_check(c, k, now, what) && !m->v.numeric)
		client_fail(c, k, "%s of a non-numeric value answered %" PRIu64,
		    what, got);
	else if (got != want)
		client_fail(c, k,
		    "%s %" PRIu64 " of %" PRIu64 ": %" PRIu64 ", want %" PRIu64,
		    what, cmd->delta, m->v.num, got, want);
	m->v.num = got;
	m->ver = ++m->next_ver;
	m->cas = 0;
}

/* touch, delete and flush_all: answer and model. */
static void
apply_other(struct client *c, const struct cmd *cmd, const char *reply,
    time_t now, time_t after)
{
	int k = cmd->keys[0];
	struct key_model *m = &c->keys[k];
	time_t exp = exp_of(cmd->ttl, after);

	switch (cmd->op) {
	case OP_TOUCH:
		if (cmd->noreply) {
			/* A hit took the new expiry, a miss removed it: allow
			 * the later of the two. */
			m->exp = m->exp == 0 || exp == 0 ? 0
			         : exp > m->exp          ? exp
			                                 : m->exp;
		} else if (strcmp(reply, "TOUCHED") == 0) {
			if (hit_check(c, k, now, "touch"))
				m->exp = exp;
		} else if (strcmp(reply, "NOT_FOUND") == 0)
			model_gone(m);
		else
			client_fail(c, k, "touch answered '%s'", reply);
		break;
	case OP_DELETE:
		if (strcmp(reply, "DELETED") == 0)
			hit_check(c, k, now, "delete");
		else if (!cmd->noreply && strcmp(reply, "NOT_FOUND") != 0)
			client_fail(c, k, "delete answered '%s'", reply);
		model_gone(m);
		break;
	default: /* flush_all: now, everything this client stored is gone */
		if (!cmd->noreply && strcmp(reply, "OK") != 0)
			client_fail(c, -1, "flush_all answered '%s'", reply);
		if (cmd->op == OP_FLUSH)
			for (int i = 0; i < KEYS; i++) {
				model_gone(&c->keys[i]);
				note(c, i, cmd->op, reply, now);
			}
		return;
	}
	note(c, k, cmd->op, reply, now);
}

/* Does this command answer with a single line we read first? */
static bool
cmd_has_line(const struct cmd *cmd)
{
	return !cmd->noreply && cmd->op != OP_GET && cmd->op != OP_GETS &&
	       cmd->op != OP_GAT && cmd->op != OP_GATS;
}

/* Send the batch, then read and check its replies in order. The model of
 * a noreply command is applied once a later reply proves it was done. */
static void
run_batch(struct client *c)
{
	time_t now = coarse_now(), after;
	int done = 0;

	c->outlen = 0;
	for (int i = 0; i < c->nbatch; i++)
		cmd_render(c, &c->batch[i]);
	if (!send_all(c, c->out, c->outlen))
		return;
	for (int i = 0; i < c->nbatch && c->error[0] == '\0'; i++) {
		const struct cmd *cmd = &c->batch[i];
		const char *line = "";

		if (cmd->noreply)
			continue;
		if (cmd_has_line(cmd) && (line = read_line(c)) == NULL)
			return;
		after = coarse_now();
		for (; done <= i; done++) {
			const struct cmd *d = &c->batch[done];
			const char *reply = done == i ? line : "noreply";

			switch (d->op) {
			case OP_GET:
			case OP_GETS:
			case OP_GAT:
			case OP_GATS:
				read_values(c, d, now, after);
				break;
			case OP_INCR:
			case OP_DECR:
				apply_arith(c, d, reply, now);
				note(c, d->keys[0], d->op, reply, now);
				break;
			case OP_TOUCH:
			case OP_DELETE:
			case OP_FLUSH:
			case OP_FLUSH_LATER:
				apply_other(c, d, reply, now, after);
				break;
			default:
				apply_store(c, d, reply, now, after);
				note(c, d->keys[0], d->op, reply, now);
				break;
			}
		}
	}
}

/* A batch: one command of any size, or several small ones on distinct
 * keys, pipelined. A noreply command is never last, so a reply follows
 * it. */
static void
step(struct client *c)
{
	bool used[KEYS] = {false};
	bool small = stress_rnd(&c->rng) % 4 == 0;
	int want = small ? 2 + (int)(stress_rnd(&c->rng) % (BATCH_MAX - 1)) : 1;

	c->nbatch = 0;
	while (
	    c->nbatch < want && gen_cmd(c, &c->batch[c->nbatch], used, small)) {
		c->nbatch++;
		if (c->batch[c->nbatch - 1].op == OP_FLUSH ||
		    c->batch[c->nbatch - 1].op == OP_FLUSH_LATER)
			break;
	}
	if (c->nbatch > 0 && c->batch[c->nbatch - 1].noreply)
		c->batch[c->nbatch++] = (struct cmd){
		    .op = OP_GET, .nkeys = 1, .keys = {c->batch[0].keys[0]}};
	run_batch(c);
	c->ops += c->nbatch;
	/* Append and prepend answer NOT_STORED for a miss and for a joined
	 * value they found no memory for; one that fits -I and is small
	 * enough never to be refused means the key is gone. */
	c->nbatch = 0;
	for (int k = 0; k < KEYS; k++)
		if (c->probe[k]) {
			c->probe[k] = false;
			c->batch[c->nbatch++] = (struct cmd){.op = OP_GET,
			    .nkeys = 1,
			    .keys = {k},
			    .probe = true};
		}
	if (c->nbatch > 0)
		run_batch(c);
}

/* Batches until the deadline and at least MIN_OPS, then every key
 * deleted, each answer checked. */
static void *
client_main(void *arg)
{
	struct client *c = arg;

	while (!atomic_load(&stopping) &&
	       (c->ops < MIN_OPS || stress_now_ms() < c->deadline_ms))
		step(c);
	/* Delete every key, checking each answer. */
	for (int k = 0; k < KEYS && !atomic_load(&stopping); k++) {
		c->nbatch = 1;
		c->batch[0] =
		    (struct cmd){.op = OP_DELETE, .nkeys = 1, .keys = {k}};
		run_batch(c);
	}
	return NULL;
}

/* A client's keys (some long, one the longest allowed), generator,
 * buffers and connection. */
static void
client_init(
    struct client *c, int id, uint64_t seed, long long deadline, int port)
{
	struct timeval tv = {.tv_sec = HARNESS_DEADLINE_MS / 1000 * 3};

	memset(c, 0, sizeof *c);
	c->id = id;
	c->seed = seed;
	c->rng = (seed + 1) * 0x9E3779B97F4A7C15ull ^ (uint64_t)(id + 1) << 56;
	c->deadline_ms = deadline;
	for (int k = 0; k < KEYS; k++) {
		/* Every tenth key is long; one is the longest allowed. */
		int n =
		    snprintf(c->key[k], sizeof c->key[k], "ss%d:%d:", id, k);

		if (k % 10 == 9) {
			memset(c->key[k] + n, 'x', (size_t)(KEY_MAX - k - n));
			n = KEY_MAX - k;
		}
		c->key[k][n] = '\0';
		c->nkey[k] = (size_t)n;
	}
	c->out = malloc(OUT_CAP);
	c->in = malloc(IN_CAP);
	c->expect = malloc(ITEM_MAX + 32);
	c->log = malloc(CASLOG_MAX * sizeof *c->log);
	ck_assert(c->out && c->in && c->expect && c->log);
	c->fd = harness_connect(port);
	ck_assert_int_eq(
	    setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv), 0);
}

/* No cas unique names two stored versions, across all clients. */
static void
check_cas_unique(uint64_t seed, const struct client *cs)
{
	struct stress_caslog *logs[CLIENTS];
	size_t counts[CLIENTS];

	for (int i = 0; i < CLIENTS; i++) {
		logs[i] = cs[i].log;
		counts[i] = cs[i].nlog;
	}
	stress_cas_unique(seed, "client", KEYS, logs, counts, CLIENTS);
}

/* A counter of a stats reply, as a number. */
static uint64_t
stat_of(const char *stats, const char *name)
{
	char val[64];

	ck_assert_msg(harness_stat(stats, name, val, sizeof val),
	    "no STAT %s in: %.200s", name, stats);
	return strtoull(val, NULL, 10);
}

/* Idle, the server takes a value as large as -I allows. */
static void
idle_set(int fd, uint64_t seed)
{
	size_t len = ITEM_MAX - 4;
	char *req = malloc(len + 64), reply[256];
	int n;

	ck_assert_ptr_nonnull(req);
	n = sprintf(req, "set idle 0 0 %zu\r\n", len);
	memset(req + n, 'i', len);
	memcpy(req + n + len, "\r\n", 3);
	harness_cmd(fd, req, "\r\n", reply, sizeof reply);
	free(req);
	ck_assert_msg(strcmp(reply, "STORED\r\n") == 0,
	    "seed %" PRIu64 ": idle, a set of %zu bytes: %s", seed, len, reply);
}

/* One seed against a fresh server. */
static void
stress_one(uint64_t seed)
{
	static struct client cs[CLIENTS];
	static char stats[16384];
	char tag[32];
	const char *args[] = {"-m", "8", "-I", "512k", NULL};
	long long deadline = stress_now_ms() + (long long)(seed_seconds * 1000);
	struct harness_server srv;
	struct seen sum = {0};
	int fd, i;

	snprintf(tag, sizeof tag, "srv-%" PRIu64, seed);
	harness_server_start(&srv, tag, WORKERS, args);
	for (i = 0; i < CLIENTS; i++) {
		client_init(&cs[i], i, seed, deadline, srv.port);
		ck_assert_int_eq(
		    pthread_create(&cs[i].thread, NULL, client_main, &cs[i]),
		    0);
	}
	for (i = 0; i < CLIENTS; i++)
		pthread_join(cs[i].thread, NULL);
	for (i = 0; i < CLIENTS; i++)
		ck_assert_msg(cs[i].error[0] == '\0', "%s", cs[i].error);
	check_cas_unique(seed, cs);
	for (i = 0; i < CLIENTS; i++) {
		sum.hits += cs[i].seen.hits;
		sum.cas_hits += cs[i].seen.cas_hits;
		sum.cas_badval += cs[i].seen.cas_badval;
		sum.cas_misses += cs[i].seen.cas_misses;
		sum.incr_hits += cs[i].seen.incr_hits;
		sum.incr_misses += cs[i].seen.incr_misses;
		sum.decr_hits += cs[i].seen.decr_hits;
		sum.decr_misses += cs[i].seen.decr_misses;
		harness_close(cs[i].fd);
		free(cs[i].out);
		free(cs[i].in);
		free(cs[i].expect);
		free(cs[i].log);
	}
	/* A server that always misses passes every check above. */
	ck_assert_msg(sum.hits > 0 && sum.cas_hits > 0 &&
	                  sum.incr_hits + sum.decr_hits > 0,
	    "seed %" PRIu64 ": %" PRIu64 " hits, %" PRIu64
	    " cas stored, %" PRIu64 " incr/decr hits",
	    seed, sum.hits, sum.cas_hits, sum.incr_hits + sum.decr_hits);
	/* Every key is deleted: once maint has reclaimed what expired or was
	 * flushed, no item is left. */
	fd = harness_connect(srv.port);
	for (long long end = harness_now_ms() + HARNESS_DEADLINE_MS;;
	     harness_nap()) {
		harness_cmd(fd, "stats\r\n", "END\r\n", stats, sizeof stats);
		if (stat_of(stats, "curr_items") == 0 || harness_now_ms() > end)
			break;
	}
	ck_assert_msg(stat_of(stats, "curr_items") == 0,
	    "seed %" PRIu64 ": %" PRIu64 " items left after deleting every key",
	    seed, stat_of(stats, "curr_items"));
	/* A client's flush_all DELAY may still be pending: in its last
	 * second it takes what is stored (memcached's oldest_live), the
	 * probe's set too. A flush at once supersedes it. */
	harness_cmd(fd, "flush_all\r\n", "OK\r\n", stats, sizeof stats);
	harness_serves(srv.port, 0);
	idle_set(fd, seed);
	harness_cmd(fd, "stats\r\n", "END\r\n", stats, sizeof stats);
	ck_assert_msg(stat_of(stats, "evictions") > 0,
	    "seed %" PRIu64 ": no evictions", seed);
	ck_assert_uint_le(
	    stat_of(stats, "curr_items"), stat_of(stats, "total_items"));
	ck_assert_uint_le(
	    stat_of(stats, "bytes"), stat_of(stats, "limit_maxbytes"));
#define CHECK_SEEN(f)                                                          \
	ck_assert_msg(stat_of(stats, #f) == sum.f,                             \
	    "seed %" PRIu64 ": STAT " #f " %" PRIu64 ", clients saw %" PRIu64, \
	    seed, stat_of(stats, #f), sum.f);
	CHECK_SEEN(cas_hits)
	CHECK_SEEN(cas_badval)
	CHECK_SEEN(cas_misses)
	CHECK_SEEN(incr_hits)
	CHECK_SEEN(incr_misses)
	CHECK_SEEN(decr_hits)
	CHECK_SEEN(decr_misses)
#undef CHECK_SEEN
	harness_close(fd);
	ck_assert_int_eq(harness_server_stop(&srv), 0);
}

/* Every seed, each against a fresh server. */
START_TEST(test_stress_server)
{
	for (int i = 0; i < nseeds; i++)
		stress_one(seeds[i]);
}
END_TEST

/* One test, with a timeout that fits every seed. */
int
main(void)
{
	const TTest *tests[] = {test_stress_server, NULL};

	nseeds = stress_seeds(seeds, default_seeds,
	    (int)(sizeof default_seeds / sizeof default_seeds[0]),
	    &seed_seconds);
	/* MIN_OPS under TSan on a slow machine, then the checks, per seed. */
	return harness_run_suite(
	    &(struct harness_suite){.name = "stress_server",
	        .timeout = (int)(seed_seconds * nseeds) + 120 * nseeds},
	    tests);
}
