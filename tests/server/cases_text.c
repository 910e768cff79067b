/* The catalogues' runner: each case sent to each peer on a connection of
 * its own, with its sentinel, and its reply compared; binary files go to
 * cases_bin.c. */
#include <check.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "cases.h"

#define CASES_REPLY_MAX (64 * 1024)

/* How many lines of text start with word; *last is the last such line. */
static int
cases_count_lines(
    const char *text, size_t len, const char *word, const char **last)
{
	const char *p = text, *end = text + len, *nl;
	size_t n = strlen(word);
	int count = 0;

	for (; p < end; p = nl + 1) {
		if ((size_t)(end - p) >= n && memcmp(p, word, n) == 0) {
			count++;
			*last = p;
		}
		if ((nl = memchr(p, '\n', (size_t)(end - p))) == NULL)
			break;
	}
	return count;
}

/* cases_exchange with "version": done when every VERSION line the request
 * asked for and the trailing one have come in whole. Fails on EOF or the
 * deadline. */
static size_t
cases_exchange_version(int fd, const char *req, size_t reqlen, char *buf,
    size_t cap, const char *who)
{
	const char *last = NULL;
	int want = cases_count_lines(req, reqlen, "version", &last) + 1;
	size_t len = 0, n;
	bool eof = false;

	harness_send(fd, req, reqlen);
	harness_sends(fd, "version\r\n");
	for (;;) {
		buf[len] = '\0';
		if (len >= 2 && memcmp(buf + len - 2, "\r\n", 2) == 0 &&
		    cases_count_lines(buf, len, "VERSION ", &last) == want)
			return (size_t)(last - buf);
		ck_assert_msg(!eof && len + 1 < cap,
		    "%s: no version reply after the case (%s): %.*s", who,
		    eof ? "closed" : "reply too long", (int)len, buf);
		n = harness_recv(fd, buf + len, cap - len, "\r\n", 0,
		    HARNESS_DEADLINE_MS, &eof);
		ck_assert_msg(n > 0 || eof, "%s: timed out after: %.*s", who,
		    (int)len, buf);
		len += n;
	}
}

/* How many "MN\r\n" lines are in text. */
static int
cases_count_mn(const char *text, size_t len)
{
	int n = 0;

	for (size_t i = 0; i + 4 <= len; i++)
		if ((i == 0 || text[i - 1] == '\n') &&
		    memcmp(text + i, "MN\r\n", 4) == 0)
			n++;
	return n;
}

/* How many "mn" requests are in req. */
static int
cases_count_mn_req(const char *req, size_t len)
{
	int n = 0;

	for (size_t i = 0; i + 2 <= len; i++)
		if ((i == 0 || req[i - 1] == '\n') &&
		    memcmp(req + i, "mn", 2) == 0 &&
		    (i + 2 == len || req[i + 2] == '\r' || req[i + 2] == ' '))
			n++;
	return n;
}

/* cases_exchange with "mn": done when the MN of every mn the request holds
 * and the trailing one are in. */
static size_t
cases_exchange_mn(int fd, const char *req, size_t reqlen, char *buf, size_t cap,
    const char *who)
{
	int want = cases_count_mn_req(req, reqlen) + 1;
	size_t len = 0, n;
	bool eof = false;

	harness_send(fd, req, reqlen);
	harness_sends(fd, "mn\r\n");
	for (;;) {
		buf[len] = '\0';
		if (len >= 4 && memcmp(buf + len - 4, "MN\r\n", 4) == 0 &&
		    cases_count_mn(buf, len) == want)
			return len - 4;
		ck_assert_msg(!eof && len + 1 < cap,
		    "%s: no MN after the case (%s): %.*s", who,
		    eof ? "closed" : "reply too long", (int)len, buf);
		n = harness_recv(fd, buf + len, cap - len - 1, "\r\n", 0,
		    HARNESS_DEADLINE_MS, &eof);
		ck_assert_msg(n > 0 || eof, "%s: timed out after: %.*s", who,
		    (int)len, buf);
		len += n;
	}
}

size_t
cases_exchange(enum cases_sentinel s, int fd, const char *req, size_t reqlen,
    char *buf, size_t cap, const char *who)
{
	if (s == CASES_MN)
		return cases_exchange_mn(fd, req, reqlen, buf, cap, who);
	return cases_exchange_version(fd, req, reqlen, buf, cap, who);
}

/* want with '#' matching one or more digits. */
static bool
cases_digits_match(
    const char *want, size_t wantlen, const char *got, size_t len)
{
	const char *end = got + len, *wend = want + wantlen;

	for (; want < wend; want++) {
		if (*want == '#') {
			if (got == end || *got < '0' || *got > '9')
				return false;
			while (got < end && *got >= '0' && *got <= '9')
				got++;
		} else if (got == end || *got++ != *want)
			return false;
	}
	return got == end;
}

/* Whether got[i] starts one of the words whose number the meta match
 * normalises; the word's length, or 0. */
static size_t
cases_meta_prefix(const char *got, size_t i, size_t len)
{
	static const char *const words[] = {
	    "cas=", "la=", "cls=", "size=", "exp="};

	if (i + 2 < len && got[i] == ' ' &&
	    (got[i + 1] == 'c' || got[i + 1] == 't' || got[i + 1] == 'l') &&
	    got[i + 2] >= '0' && got[i + 2] <= '9')
		return 2;
	for (size_t w = 0; w < sizeof words / sizeof words[0]; w++) {
		size_t n = strlen(words[w]);

		if (i + n < len && memcmp(got + i, words[w], n) == 0 &&
		    !(memcmp(words[w], "exp=", 4) == 0 && i + n + 2 < len &&
		        memcmp(got + i + n, "-1 ", 3) == 0))
			return n;
	}
	return 0;
}

void
cases_normalise(const char *got, size_t len, char *out, size_t cap)
{
	size_t o = 0;

	for (size_t i = 0; i < len && o + 2 < cap;) {
		size_t n = cases_meta_prefix(got, i, len);

		if (n == 0) {
			out[o++] = got[i++];
			continue;
		}
		memcpy(out + o, got + i, n);
		o += n;
		i += n;
		if (i < len && got[i] == '-')
			i++;
		while (i < len && got[i] >= '0' && got[i] <= '9')
			i++;
		out[o++] = '#';
	}
	out[o] = '\0';
}

/* Case c on a new connection to peer p. */
static void
cases_run_one(const struct cases_file *f, const struct cases_case *c,
    const struct harness_peer *p)
{
	static char buf[CASES_REPLY_MAX], norm[CASES_REPLY_MAX];
	int fd = harness_peer_connect(p);
	size_t n;

	ck_assert_int_ne(fd, -1);
	n = cases_exchange(
	    f->sentinel, fd, c->req, c->reqlen, buf, sizeof buf, c->name);
	if (f->match == CASES_DIGITS)
		ck_assert_msg(cases_digits_match(c->want, c->wantlen, buf, n),
		    "%s:%d: %s, case %s:\nwant: %s\ngot:  %.*s", f->path,
		    c->line, p->name, c->name, c->want, (int)n, buf);
	else {
		cases_normalise(buf, n, norm, sizeof norm);
		ck_assert_msg(strlen(norm) == c->wantlen &&
		                  memcmp(norm, c->want, c->wantlen) == 0,
		    "%s:%d: %s, case %s:\nwant: %s\ngot:  %s", f->path, c->line,
		    p->name, c->name, c->want, norm);
	}
	harness_close(fd);
}

void
cases_run(
    const struct cases_file *f, const struct harness_peer *peers, int npeers)
{
	if (f->match == CASES_BINARY)
		cases_run_binary(f, peers, npeers);
	else
		for (int p = 0; p < npeers; p++)
			for (size_t i = 0; i < f->n; i++)
				cases_run_one(f, &f->cases[i], &peers[p]);
	printf("%s: %zu cases, %d servers\n", f->path, f->n, npeers);
}

void
cases_run_file(const char *path, const struct harness_peer *peers, int npeers)
{
	struct cases_file f;

	cases_load(&f, path);
	cases_run(&f, peers, npeers);
	cases_free(&f);
}
