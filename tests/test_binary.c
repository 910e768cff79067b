/* The binary protocol's reply catalogue: request packets sent to the real
 * threadlined and, where Debian's memcached is installed (tools/dev
 * installs it), to memcached 1.6.18 too, each case on its own connection,
 * in order, so both servers hold the same items; the two replies must be
 * the same bytes. Two fields are normalised, and only those: a CAS (each
 * server numbers its items from its own counter: a CAS is kept as zero or
 * nonzero) and the body of VERSION (memcached's release against ours, a
 * version of the same form). Stat packets carry figures and names that
 * differ by nature (pid, uptime, memory; threadlined's own figures): a
 * stat reply is compared by its status and its terminating packet.
 * Each case's packets are followed by a NOOP whose reply ends the case,
 * unless the case closes the connection, read then to its end. */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

/* The cases name only the fields they set. */
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

#define REPLY_MAX (256 * 1024)
#define PKT_MAX   8
/* The opaque of the NOOP that ends a case. */
#define SENTINEL 0xfeedfaceu
/* A CAS field meaning: the key's CAS now, read first with a GETK. */
#define CAS_NOW   UINT64_MAX
#define CAS_WRONG (UINT64_MAX - 1)

/* One request packet. ext holds extlen bytes; body_extra is added to the
 * body length the packet claims, for lying packets. */
struct bpkt {
	uint8_t op;
	const char *key;
	const char *ext;
	uint8_t extlen;
	const char *val;
	uint64_t cas;
	int body_extra;
	int magic; /* 0: 0x80 */
};

struct bcase {
	const char *name;
	struct bpkt pkt[PKT_MAX];
	bool closes; /* the server closes: no sentinel */
};

/* Extras: flags 0xdeadbeef, expiry 0 (set/add/replace). */
#define SETX "\xde\xad\xbe\xef\0\0\0\0", 8
/* flags 0, expiry 0. */
#define SETX0 "\0\0\0\0\0\0\0\0", 8
/* incr/decr: delta 1, initial 10, expiry 0. */
#define INCRX "\0\0\0\0\0\0\0\x01\0\0\0\0\0\0\0\x0a\0\0\0\0", 20
/* delta 5, no creation (expiry all ones). */
#define INCRNX "\0\0\0\0\0\0\0\x05\0\0\0\0\0\0\0\0\xff\xff\xff\xff", 20
/* A key of 260 bytes: past memcached's 250. */
#define TEN "0123456789"
#define KEY260                                                                 \
	TEN TEN TEN TEN TEN TEN TEN TEN TEN TEN TEN TEN TEN TEN TEN TEN TEN    \
	    TEN TEN TEN TEN TEN TEN TEN TEN TEN
/* An expiry of an hour. */
#define EXP1H "\0\0\x0e\x10", 4

static const struct bcase cases[] = {
    {"noop", {{0x0a}}},
    {"version", {{0x0b}}},
    {"get_miss", {{0x00, "nokey"}}},
    {"getk_miss", {{0x0c, "nokey"}}},
    {"getq_miss_getkq_miss", {{0x09, "nokey"}, {0x0d, "nokey2"}}},
    {"set_get", {{0x01, "k1", SETX, "hello"}, {0x00, "k1"}}},
    {"getk_hit", {{0x0c, "k1"}}},
    {"getq_hit", {{0x09, "k1"}}},
    {"getkq_hit_miss", {{0x0d, "k1"}, {0x0d, "zz"}, {0x0d, "k1"}}},
    {"setq_silent", {{0x11, "k2", SETX0, "v2"}, {0x00, "k2"}}},
    {"add_exists", {{0x02, "k1", SETX0, "x"}}},
    {"addq_exists", {{0x12, "k1", SETX0, "x"}}},
    {"add_new", {{0x02, "k3", SETX0, "three"}}},
    {"addq_new", {{0x12, "k4", SETX0, "four"}}},
    {"replace_miss", {{0x03, "nokey", SETX0, "x"}}},
    {"replaceq_miss", {{0x13, "nokey", SETX0, "x"}}},
    {"replace_hit", {{0x03, "k3", SETX, "new3"}, {0x0c, "k3"}}},
    {"replaceq_hit", {{0x13, "k3", SETX0, "n3"}, {0x00, "k3"}}},
    {"set_cas_wrong", {{0x01, "k1", SETX0, "x", CAS_WRONG}}},
    {"set_cas_right", {{0x01, "k1", SETX0, "cas", CAS_NOW}, {0x00, "k1"}}},
    {"set_cas_miss", {{0x01, "nokey", SETX0, "x", 12345}}},
    {"add_cas", {{0x02, "k9", SETX0, "x", 12345}}},
    {"append_miss", {{0x0e, "nokey", NULL, 0, "x"}}},
    {"appendq_miss", {{0x19, "nokey", NULL, 0, "x"}}},
    {"append_hit", {{0x0e, "k1", NULL, 0, "++"}, {0x00, "k1"}}},
    {"prepend_hit", {{0x0f, "k1", NULL, 0, "--"}, {0x00, "k1"}}},
    {"appendq_prependq",
        {{0x19, "k1", NULL, 0, "A"}, {0x1a, "k1", NULL, 0, "P"}, {0x00, "k1"}}},
    {"append_cas_wrong", {{0x0e, "k1", NULL, 0, "x", CAS_WRONG}}},
    {"delete_miss", {{0x04, "nokey"}}},
    {"deleteq_miss", {{0x14, "nokey"}}},
    {"delete_cas_wrong", {{0x04, "k3", .cas = CAS_WRONG}}},
    {"delete_hit", {{0x04, "k3"}, {0x00, "k3"}}},
    {"deleteq_hit", {{0x14, "k4"}, {0x00, "k4"}}},
    {"incr_create", {{0x05, "n1", INCRX}, {0x00, "n1"}}},
    {"incr_hit", {{0x05, "n1", INCRX}}},
    {"decr_hit", {{0x06, "n1", INCRX}}},
    {"incrq_decrq", {{0x15, "n1", INCRX}, {0x16, "n1", INCRX}}},
    {"decr_below_zero", {{0x06, "n1", INCRNX}, {0x06, "n1", INCRNX}}},
    {"incr_nocreate", {{0x05, "n2", INCRNX}}},
    {"incrq_nocreate", {{0x15, "n2", INCRNX}}},
    {"incr_non_numeric", {{0x05, "k1", INCRX}}},
    {"incr_cas_wrong", {{0x05, "n1", INCRX, .cas = CAS_WRONG}}},
    {"incr_cas_right", {{0x05, "n1", INCRX, .cas = CAS_NOW}}},
    {"decr_create", {{0x06, "n3", INCRX}}},
    {"touch_miss", {{0x1c, "nokey", EXP1H}}},
    {"touch_hit", {{0x1c, "k1", EXP1H}}},
    {"gat_hit_miss", {{0x1d, "k1", EXP1H}, {0x1d, "nokey", EXP1H}}},
    {"gatk_hit_miss", {{0x23, "k1", EXP1H}, {0x23, "nokey", EXP1H}}},
    {"gatq_gatkq", {{0x1e, "k1", EXP1H}, {0x1e, "nokey", EXP1H},
                       {0x24, "k1", EXP1H}, {0x24, "nokey", EXP1H}}},
    {"empty_value", {{0x01, "e1", SETX0, ""}, {0x0c, "e1"}}},
    {"binary_key", {{0x01, "a b\r\n", SETX0, "v"}, {0x0c, "a b\r\n"}}},
    {"stat_unknown", {{0x10, "nosuchgroup"}}},
    {"stat_detail_bad", {{0x10, "detail xyz"}}},
    {"stat_reset", {{0x10, "reset"}}},
    {"stat_detail_on_off", {{0x10, "detail on"}, {0x10, "detail off"}}},
    {"stat_general", {{0x10}}},
    {"stat_settings", {{0x10, "settings"}}},
    {"stat_items", {{0x10, "items"}}},
    {"stat_slabs", {{0x10, "slabs"}}},
    {"stat_sizes", {{0x10, "sizes"}}},
    {"stat_conns", {{0x10, "conns"}}},
    /* memcached swallows the body length after the extras it read:
     * four bytes more than the packet, here "PPPP". */
    {"verbosity_unknown",
        {{0x1b, NULL, "\0\0\0\x01", 4, "PPPP", .body_extra = -4}}},
    {"unknown_opcode", {{0x42}}},
    {"unknown_swallows_body", {{0x42, NULL, NULL, 0, "abc"}}},
    {"sasl_list_mechs", {{0x20}}},
    {"flushq", {{0x18}, {0x00, "k1"}}},
    {"flush_delay", {{0x08, NULL, "\0\0\0\0", 4}}},
    {"set_after_flush", {{0x01, "f1", SETX0, "v"}, {0x00, "f1"}}},
    {"flush", {{0x08}, {0x00, "f1"}}},
    {"get_with_extras", {{0x00, "k1", "\0\0\0\0", 4}}, true},
    {"get_no_key", {{0x00}}, true},
    {"set_no_extras", {{0x01, "k1", NULL, 0, "v"}}, true},
    {"incr_short_extras", {{0x05, "n1", "\0\0\0\0", 4}}, true},
    {"version_with_body", {{0x0b, NULL, NULL, 0, "x"}}, true},
    {"noop_with_key", {{0x0a, "k"}}, true},
    {"delete_with_value", {{0x04, "k1", NULL, 0, "v"}}, true},
    {"touch_no_extras", {{0x1c, "k1"}}, true},
    {"stat_with_extras", {{0x10, NULL, "\0\0\0\0", 4}}, true},
    {"key_longer_than_body", {{0x00, "abc", .body_extra = -2}}, true},
    {"key_too_long", {{0x00, KEY260}}, true},
    {"quit", {{0x07}}, true},
    {"quitq", {{0x17}}, true},
    {"get_then_quit", {{0x00, "k2"}, {0x07}}, true},
    {"bad_magic_after_binary", {{0x0a}, {0x0a, .magic = 0x81}}, true},
};

static struct harness_server tl;

/* One request packet into buf; its length. */
static size_t
pkt_build(unsigned char *buf, uint8_t op, const char *key, const char *ext,
    uint8_t extlen, const char *val, uint64_t cas, int body_extra,
    uint32_t opaque, int magic)
{
	size_t nk = key ? strlen(key) : 0, nv = val ? strlen(val) : 0;

	memset(buf, 0, 24);
	buf[0] = magic ? (unsigned char)magic : 0x80;
	buf[1] = op;
	harness_put16(buf + 2, (unsigned)nk);
	buf[4] = extlen;
	harness_put32(
	    buf + 8, (uint32_t)((long)(extlen + nk + nv) + body_extra));
	harness_put32(buf + 12, opaque);
	harness_put64(buf + 16, cas);
	if (ext != NULL)
		memcpy(buf + 24, ext, extlen);
	if (key != NULL)
		memcpy(buf + 24 + extlen, key, nk);
	if (val != NULL)
		memcpy(buf + 24 + extlen + nk, val, nv);
	return 24 + extlen + nk + nv;
}

/* Read one response packet into buf; its length, 0 at EOF. */
static size_t
pkt_read(int fd, unsigned char *buf, size_t cap, const char *who)
{
	bool eof = false;
	size_t n, body;

	n = harness_recv(
	    fd, (char *)buf, cap, NULL, 24, HARNESS_DEADLINE_MS, &eof);
	if (n == 0 && eof)
		return 0;
	ck_assert_msg(n == 24, "%s: a header of %zu bytes%s", who, n,
	    eof ? " then EOF" : " (timed out)");
	body = harness_get32(buf + 8);
	ck_assert_msg(24 + body <= cap, "%s: body of %zu", who, body);
	if (body > 0) {
		n = harness_recv(fd, (char *)buf + 24, cap - 24, NULL, body,
		    HARNESS_DEADLINE_MS, &eof);
		ck_assert_msg(n == body, "%s: body %zu of %zu", who, n, body);
	}
	return 24 + body;
}

/* The CAS of key now, read with a GETK on fd. */
static uint64_t
cas_now(int fd, const char *key, const char *who)
{
	unsigned char req[512], res[4096];

	harness_send(
	    fd, req, pkt_build(req, 0x0c, key, NULL, 0, NULL, 0, 0, 7, 0));
	ck_assert(pkt_read(fd, res, sizeof res, who) > 0);
	return harness_get64(res + 16);
}

/* Append packet p to out, normalised (see the file comment). */
static size_t
pkt_normalise(unsigned char *p, size_t len, char *out, size_t cap)
{
	size_t keylen = (size_t)p[2] << 8 | p[3];

	if (harness_get64(p + 16) != 0)
		harness_put64(p + 16, 1);
	if (p[1] == 0x0b && p[7] == 0) /* VERSION's body */
		return (size_t)snprintf(out, cap, "[version packet]\n");
	if (p[1] == 0x10 && keylen > 0 && p[7] == 0) /* a stat: left out */
		return 0;
	if (len > cap)
		len = cap;
	memcpy(out, p, len);
	return len;
}

/* Run case c on a new connection to peer; the normalised reply in out. */
static size_t
run_case(const struct harness_peer *peer, const struct bcase *c, char *out,
    size_t cap)
{
	static unsigned char req[REPLY_MAX], res[REPLY_MAX];
	int fd = harness_peer_connect(peer);
	size_t n = 0, len = 0, got;

	ck_assert_int_ne(fd, -1);
	for (int i = 0; i < PKT_MAX && (c->pkt[i].op || c->pkt[i].key ||
	                                   i == 0 || c->pkt[i].magic);
	     i++) {
		const struct bpkt *p = &c->pkt[i];
		uint64_t cas = p->cas;

		if (cas == CAS_NOW || cas == CAS_WRONG) {
			cas = cas_now(fd, p->key, c->name);
			if (p->cas == CAS_WRONG)
				cas += 1000;
		}
		n +=
		    pkt_build(req + n, p->op, p->key, p->ext, p->extlen, p->val,
		        cas, p->body_extra, 0x1000u + (unsigned)i, p->magic);
	}
	if (!c->closes)
		n += pkt_build(
		    req + n, 0x0a, NULL, NULL, 0, NULL, 0, 0, SENTINEL, 0);
	harness_send(fd, req, n);
	for (;;) {
		got = pkt_read(fd, res, sizeof res, c->name);
		if (got == 0) {
			ck_assert_msg(c->closes, "%s, case %s: closed",
			    peer->name, c->name);
			len += (size_t)snprintf(out + len, cap - len, "[EOF]");
			break;
		}
		if (!c->closes && res[1] == 0x0a &&
		    harness_get32(res + 12) == SENTINEL)
			break;
		len += pkt_normalise(res, got, out + len, cap - len);
	}
	harness_close(fd);
	return len;
}

static void
setup(void)
{
	harness_test_setup();
	harness_server_start(&tl, "tl", 2, NULL);
}

/* Bytes as hex, for a failure's message. */
static void
hex(const char *p, size_t n, char *out, size_t cap)
{
	size_t w = 0;

	for (size_t i = 0; i < n && w + 4 < cap; i++)
		w += (size_t)snprintf(out + w, cap - w,
		    p[i] >= 0x20 && p[i] < 0x7f ? "%c" : "\\x%02x",
		    (unsigned char)p[i]);
	out[w] = '\0';
}

START_TEST(test_catalogue)
{
	static char got[2][REPLY_MAX], hg[2][8192];
	struct harness_peer peers[2];
	struct harness_memcached mc;
	size_t len[2];
	int npeers = harness_peers(peers, &tl, &mc);

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		for (int p = 0; p < npeers; p++)
			len[p] = run_case(
			    &peers[p], &cases[i], got[p], sizeof got[p]);
		if (npeers < 2)
			continue;
		hex(got[0], len[0], hg[0], sizeof hg[0]);
		hex(got[1], len[1], hg[1], sizeof hg[1]);
		ck_assert_msg(
		    len[0] == len[1] && memcmp(got[0], got[1], len[0]) == 0,
		    "case %s:\nmemcached:   %s\nthreadlined: %s", cases[i].name,
		    hg[1], hg[0]);
	}
	printf("binary catalogue: %zu cases, %d servers\n",
	    sizeof cases / sizeof cases[0], npeers);
}
END_TEST

/* A server of its own with -B mode; its port. */
static int
binding_server(struct harness_server *srv, const char *mode)
{
	const char *args[] = {"-B", mode, NULL};

	harness_server_start(srv, mode, 1, args);
	return srv->port;
}

/* -B binary: an ASCII request (once a header's length is in) closes the
 * connection without a word, as memcached's; stats settings says binary. */
START_TEST(test_binding_binary)
{
	struct harness_server srv;
	unsigned char req[64], res[256];
	char buf[256];
	bool eof = false;
	size_t n;
	int fd;

	fd = harness_connect(binding_server(&srv, "binary"));
	/* A header's worth: memcached reads 24 bytes before it looks. */
	harness_sends(fd, "version\r\nversion\r\nversion\r\n");
	n = harness_recv(
	    fd, buf, sizeof buf, NULL, 1, HARNESS_DEADLINE_MS, &eof);
	ck_assert_msg(
	    n == 0 && eof, "-B binary answered ASCII: %.*s", (int)n, buf);
	harness_close(fd);
	fd = harness_connect(srv.port);
	harness_send(
	    fd, req, pkt_build(req, 0x0a, NULL, NULL, 0, NULL, 0, 0, 9, 0));
	n = pkt_read(fd, res, sizeof res, "noop");
	ck_assert_msg(n == 24 && res[0] == 0x81 && res[1] == 0x0a, "noop");
	harness_close(fd);
	ck_assert_int_eq(harness_server_stop(&srv), 0);
}
END_TEST

/* -B ascii: the binary header is read as a line (memcached's reads it so
 * too: a NUL ends it), and stats settings says ascii; the default says
 * auto-negotiate, as memcached's. */
START_TEST(test_binding_ascii)
{
	struct harness_server srv;
	char buf[8192];
	int fd;

	fd = harness_connect(binding_server(&srv, "ascii"));
	harness_send(fd, "\x80\x0b\0\0\r\n", 6);
	harness_cmd(fd, "", "\r\n", buf, sizeof buf);
	ck_assert_str_eq(buf, "ERROR\r\n");
	harness_cmd(fd, "stats settings\r\n", "END\r\n", buf, sizeof buf);
	ck_assert_msg(
	    strstr(buf, "\r\nSTAT binding_protocol ascii\r\n"), "%s", buf);
	harness_close(fd);
	ck_assert_int_eq(harness_server_stop(&srv), 0);
	fd = harness_connect(tl.port);
	harness_cmd(fd, "stats settings\r\n", "END\r\n", buf, sizeof buf);
	ck_assert_msg(
	    strstr(buf, "\r\nSTAT binding_protocol auto-negotiate\r\n"), "%s",
	    buf);
	harness_close(fd);
}
END_TEST

/* A value past item_size_max is refused with Too large. and swallowed;
 * the connection goes on (memcached: the same bytes, sent once the value
 * is swallowed). */
START_TEST(test_too_large)
{
	static unsigned char req[3 << 20], res[256];
	static char val[(2 << 20) + 1];
	size_t n;
	int fd = harness_connect(tl.port);

	memset(val, 'x', sizeof val - 1);
	n = pkt_build(req, 0x01, "big", "\0\0\0\0\0\0\0\0", 8, val, 0, 0, 5, 0);
	n += pkt_build(req + n, 0x0a, NULL, NULL, 0, NULL, 0, 0, 6, 0);
	harness_send(fd, req, n);
	n = pkt_read(fd, res, sizeof res, "set");
	ck_assert_msg(n == 34 && res[7] == 0x03 &&
	                  memcmp(res + 24, "Too large.", 10) == 0,
	    "set of 2 MB");
	n = pkt_read(fd, res, sizeof res, "noop");
	ck_assert_msg(n == 24 && res[1] == 0x0a && harness_get32(res + 12) == 6,
	    "noop after");
	harness_close(fd);
}
END_TEST

/* Binary requests get the text protocol's access and slow-request
 * lines, by the worker that answered. */
START_TEST(test_access_log)
{
	const char *args[] = {"-vv", "--access-log", "--slow-us", "1", NULL};
	struct harness_server srv;
	unsigned char req[256], res[256];
	size_t n;
	int fd;

	harness_server_start(&srv, "acc", 1, args);
	fd = harness_connect(srv.port);
	n = pkt_build(req, 0x01, "ak", "\0\0\0\0\0\0\0\0", 8, "v", 0, 0, 1, 0);
	n += pkt_build(req + n, 0x00, "ak", NULL, 0, NULL, 0, 0, 2, 0);
	n += pkt_build(req + n, 0x09, "nokey", NULL, 0, NULL, 0, 0, 3, 0);
	n += pkt_build(req + n, 0x0a, NULL, NULL, 0, NULL, 0, 0, 4, 0);
	harness_send(fd, req, n);
	for (int i = 0; i < 3; i++)
		ck_assert(pkt_read(fd, res, sizeof res, "reply") > 0);
	ck_assert(harness_file_wait(
	    srv.log, "worker-0 info access conn=", HARNESS_DEADLINE_MS));
	ck_assert_msg(harness_file_wait(srv.log,
	                  " cmd=set keys=1 key=ak result=stored us=",
	                  HARNESS_DEADLINE_MS),
	    "no set line");
	ck_assert(harness_file_wait(
	    srv.log, " cmd=get keys=1 key=ak result=hit", HARNESS_DEADLINE_MS));
	ck_assert(harness_file_wait(srv.log,
	    " cmd=getq keys=1 key=nokey result=miss", HARNESS_DEADLINE_MS));
	ck_assert(harness_file_wait(
	    srv.log, " cmd=noop keys=0 key=- result=ok", HARNESS_DEADLINE_MS));
	ck_assert(harness_file_wait(
	    srv.log, "worker-0 warn slow request: conn=", HARNESS_DEADLINE_MS));
	harness_close(fd);
	ck_assert_int_eq(harness_server_stop(&srv), 0);
}
END_TEST

int
main(void)
{
	const TTest *tests[] = {test_catalogue, test_binding_binary,
	    test_binding_ascii, test_too_large, test_access_log, NULL};

	return harness_run_suite(&(struct harness_suite){.name = "binary",
	                             .setup = setup,
	                             .server = &tl,
	                             .timeout = 120},
	    tests);
}
