/* The binary catalogue's packets: built, sent, read back and normalised,
 * and the two servers' replies compared case by case. */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "cases.h"

#define CASES_BINARY_MAX (256 * 1024)
/* The opaque of the NOOP that ends a binary case. */
#define CASES_NOOP_OPAQUE 0xfeedfaceu

size_t
cases_pkt_build(unsigned char *buf, const struct cases_pkt *p)
{
	size_t nk = p->keylen, nv = p->vallen;

	memset(buf, 0, 24);
	buf[0] = p->magic ? p->magic : 0x80;
	buf[1] = p->op;
	harness_put16(buf + 2, (unsigned)nk);
	buf[4] = p->extlen;
	harness_put32(
	    buf + 8, (uint32_t)((long)(p->extlen + nk + nv) + p->body_extra));
	harness_put32(buf + 12, p->opaque);
	harness_put64(buf + 16, p->cas);
	if (p->ext != NULL)
		memcpy(buf + 24, p->ext, p->extlen);
	if (p->key != NULL)
		memcpy(buf + 24 + p->extlen, p->key, nk);
	if (p->val != NULL)
		memcpy(buf + 24 + p->extlen + nk, p->val, nv);
	return 24 + p->extlen + nk + nv;
}

size_t
cases_pkt_read(int fd, unsigned char *buf, size_t cap, const char *who)
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

/* The CAS of key (n bytes) now, read with a GETK on fd. */
static uint64_t
cases_cas_now(int fd, const char *key, size_t n, const char *who)
{
	unsigned char req[512], res[4096];

	harness_send(fd, req,
	    cases_pkt_build(
	        req, &(struct cases_pkt){
	                 .op = 0x0c, .key = key, .keylen = n, .opaque = 7}));
	ck_assert(cases_pkt_read(fd, res, sizeof res, who) > 0);
	return harness_get64(res + 16);
}

/* Append packet p to out, normalised as binary.cases says: a CAS kept as
 * zero or nonzero, VERSION's body a mark, a stat reply left out. */
static size_t
cases_pkt_normalise(unsigned char *p, size_t len, char *out, size_t cap)
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

/* Binary case c on a new connection to peer; the normalised reply in
 * out. The packets' opaques count from 0x1000; a NOOP of opaque
 * CASES_NOOP_OPAQUE follows them unless the case closes. */
static size_t
cases_run_packets(const struct cases_file *f, const struct cases_case *c,
    const struct harness_peer *peer, char *out, size_t cap)
{
	static unsigned char req[CASES_BINARY_MAX], res[CASES_BINARY_MAX];
	int fd = harness_peer_connect(peer);
	size_t n = 0, len = 0, got;

	ck_assert_int_ne(fd, -1);
	for (size_t i = 0; i < c->npkts; i++) {
		struct cases_pkt p = c->pkts[i];

		if (p.cas == CASES_CAS_NOW || p.cas == CASES_CAS_WRONG) {
			p.cas = cases_cas_now(fd, p.key, p.keylen, c->name);
			if (c->pkts[i].cas == CASES_CAS_WRONG)
				p.cas += 1000;
		}
		p.opaque = 0x1000u + (unsigned)i;
		n += cases_pkt_build(req + n, &p);
	}
	if (!c->closes)
		n += cases_pkt_build(req + n, &(struct cases_pkt){.op = 0x0a,
		                                  .opaque = CASES_NOOP_OPAQUE});
	harness_send(fd, req, n);
	for (;;) {
		got = cases_pkt_read(fd, res, sizeof res, c->name);
		if (got == 0) {
			ck_assert_msg(c->closes, "%s:%d: %s, case %s: closed",
			    f->path, c->line, peer->name, c->name);
			len += (size_t)snprintf(out + len, cap - len, "[EOF]");
			break;
		}
		if (!c->closes && res[1] == 0x0a &&
		    harness_get32(res + 12) == CASES_NOOP_OPAQUE)
			break;
		len += cases_pkt_normalise(res, got, out + len, cap - len);
	}
	harness_close(fd);
	return len;
}

/* Bytes as hex, for a failure's message. */
static void
cases_hex(const char *p, size_t n, char *out, size_t cap)
{
	size_t w = 0;

	for (size_t i = 0; i < n && w + 4 < cap; i++)
		w += (size_t)snprintf(out + w, cap - w,
		    p[i] >= 0x20 && p[i] < 0x7f ? "%c" : "\\x%02x",
		    (unsigned char)p[i]);
	out[w] = '\0';
}

void
cases_run_binary(
    const struct cases_file *f, const struct harness_peer *peers, int npeers)
{
	static char got[2][CASES_BINARY_MAX], hg[2][8192];
	size_t len[2];

	for (size_t i = 0; i < f->n; i++) {
		const struct cases_case *c = &f->cases[i];

		for (int p = 0; p < npeers; p++)
			len[p] = cases_run_packets(
			    f, c, &peers[p], got[p], sizeof got[p]);
		if (npeers < 2)
			continue;
		cases_hex(got[0], len[0], hg[0], sizeof hg[0]);
		cases_hex(got[1], len[1], hg[1], sizeof hg[1]);
		ck_assert_msg(
		    len[0] == len[1] && memcmp(got[0], got[1], len[0]) == 0,
		    "%s:%d: case %s:\nmemcached:   %s\nthreadlined: %s",
		    f->path, c->line, c->name, hg[1], hg[0]);
	}
}
