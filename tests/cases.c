/* The reply catalogues' runner: the strict reader of tests/cases/ files and
 * the loop that sends each case to each peer and compares its reply. */
#include <check.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cases.h"

#define CASES_REPLY_MAX (64 * 1024)
#define CASES_NAME_MAX  63

/* Where the reader is. */
struct cases_reader {
	struct cases_file *f;
	int line;
	/* The case being read, or NULL before the first. */
	struct cases_case *c;
	/* Whether the file's header set its sentinel and match. */
	bool sentinel, match;
};

/* Fail the test at the reader's line. */
static void __attribute__((format(printf, 2, 3), noreturn))
cases_fail(const struct cases_reader *r, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	ck_abort_msg("%s:%d: %s", r->f->path, r->line, msg);
	abort();
}

/* Append n bytes to *buf of *len. */
static void
cases_append(char **buf, size_t *len, const char *p, size_t n)
{
	char *more = realloc(*buf, *len + n + 1);

	ck_assert_ptr_nonnull(more);
	memcpy(more + *len, p, n);
	*len += n;
	more[*len] = '\0';
	*buf = more;
}

/* The value of hex digit c, or -1. */
static int
cases_hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* The bytes of a request or reply line's text (after "> " or "< ") onto
 * *buf: printable ASCII as is, "\\" a backslash, "\xhh" a byte, and CR LF
 * at the end unless the text ends in a lone backslash. */
static void
cases_text(const struct cases_reader *r, const char *text, size_t n, char **buf,
    size_t *len)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)text[i];
		int hi, lo;

		if (ch < 0x20 || ch > 0x7e)
			cases_fail(
			    r, "byte 0x%02x as is: write it \\x%02x", ch, ch);
		if (ch != '\\') {
			cases_append(buf, len, text + i, 1);
			continue;
		}
		if (i + 1 == n)
			return;
		if (text[i + 1] == '\\') {
			cases_append(buf, len, "\\", 1);
			i++;
			continue;
		}
		if (text[i + 1] != 'x' || i + 3 >= n ||
		    (hi = cases_hexval(text[i + 2])) == -1 ||
		    (lo = cases_hexval(text[i + 3])) == -1)
			cases_fail(r,
			    "an escape is \\\\, \\xhh (two lower-case "
			    "hex digits) or a \\ ending the line");
		ch = (unsigned char)(hi << 4 | lo);
		cases_append(buf, len, (const char *)&ch, 1);
		i += 3;
	}
	cases_append(buf, len, "\r\n", 2);
}

/* A header line: "sentinel version|mn" or "match digits|meta". */
static void
cases_header(struct cases_reader *r, const char *line)
{
	if (r->f->n > 0)
		cases_fail(r, "\"%s\" after the first case", line);
	if (strncmp(line, "sentinel ", 9) == 0 && !r->sentinel) {
		if (strcmp(line + 9, "version") == 0)
			r->f->sentinel = CASES_VERSION;
		else if (strcmp(line + 9, "mn") == 0)
			r->f->sentinel = CASES_MN;
		else
			cases_fail(r, "sentinel is version or mn");
		r->sentinel = true;
	} else if (strncmp(line, "match ", 6) == 0 && !r->match) {
		if (strcmp(line + 6, "digits") == 0)
			r->f->match = CASES_DIGITS;
		else if (strcmp(line + 6, "meta") == 0)
			r->f->match = CASES_META;
		else
			cases_fail(r, "match is digits or meta");
		r->match = true;
	} else if (strncmp(line, "sentinel ", 9) == 0 ||
	           strncmp(line, "match ", 6) == 0)
		cases_fail(
		    r, "a second %.*s line", (int)strcspn(line, " "), line);
	else
		cases_fail(r, "not a line of the format: %s", line);
}

/* The checks at the end of a case, or of the file (c NULL). */
static void
cases_close(const struct cases_reader *r)
{
	const struct cases_case *c = r->c;

	if (c == NULL)
		return;
	if (c->reqlen == 0)
		cases_fail(r, "case %s (line %d) has no request line (\">\")",
		    c->name, c->line);
	if (c->wantlen == 0)
		cases_fail(r, "case %s (line %d) has no reply line (\"<\")",
		    c->name, c->line);
}

/* "case NAME": a new case, after the checks of the one before. */
static void
cases_begin(struct cases_reader *r, const char *name)
{
	struct cases_file *f = r->f;
	struct cases_case *more;
	size_t n = strlen(name);

	if (!r->sentinel || !r->match)
		cases_fail(r, "a case before the sentinel and match lines");
	cases_close(r);
	if (r->c != NULL && r->c->last)
		cases_fail(r, "a case after %s, which is \"last\"", r->c->name);
	if (n == 0 || n > CASES_NAME_MAX ||
	    strspn(name, "abcdefghijklmnopqrstuvwxyz"
	                 "0123456789_") != n)
		cases_fail(
		    r, "a name is 1 to %d of a-z, 0-9 and _", CASES_NAME_MAX);
	for (size_t i = 0; i < f->n; i++)
		if (strcmp(f->cases[i].name, name) == 0)
			cases_fail(r, "case %s again (line %d)", name,
			    f->cases[i].line);
	more = realloc(f->cases, (f->n + 1) * sizeof *more);
	ck_assert_ptr_nonnull(more);
	f->cases = more;
	r->c = &f->cases[f->n++];
	*r->c = (struct cases_case){.line = r->line};
	r->c->name = strdup(name);
	ck_assert_ptr_nonnull(r->c->name);
}

/* One line of the file, its newline replaced by a NUL. */
static void
cases_line(struct cases_reader *r, const char *line, size_t n)
{
	struct cases_case *c = r->c;

	if (n == 0 || line[0] == '#')
		return;
	if (line[n - 1] == ' ' || line[n - 1] == '\t')
		cases_fail(r, "white space ends the line: write the last "
		              "\\x20 or \\x09");
	if (line[0] == '>' || line[0] == '<') {
		if (n > 1 && line[1] != ' ')
			cases_fail(
			    r, "%c then a space, then the text", line[0]);
		if (c == NULL)
			cases_fail(r, "a request or reply line before a case");
		if (line[0] == '>' && c->wantlen > 0)
			cases_fail(r, "a request line after a reply line");
		if (line[0] == '>')
			cases_text(r, line + 2 - (n == 1), n - 2 + (n == 1),
			    &c->req, &c->reqlen);
		else
			cases_text(r, line + 2 - (n == 1), n - 2 + (n == 1),
			    &c->want, &c->wantlen);
		return;
	}
	if (memchr(line, '\0', n) != NULL)
		cases_fail(r, "a NUL byte");
	if (strncmp(line, "case ", 5) == 0)
		cases_begin(r, line + 5);
	else if (strcmp(line, "last") == 0 && c != NULL && c->reqlen == 0)
		c->last = true;
	else if (c == NULL)
		cases_header(r, line);
	else
		cases_fail(r, "not a line of the format: %s", line);
}

/* The whole file at path, NUL-terminated; its length in *len. */
static char *
cases_read(const char *path, size_t *len)
{
	char *buf = NULL, chunk[8192];
	FILE *fp = fopen(path, "r");
	size_t n;

	ck_assert_msg(fp != NULL, "open %s: %s", path, strerror(errno));
	*len = 0;
	while ((n = fread(chunk, 1, sizeof chunk, fp)) > 0)
		cases_append(&buf, len, chunk, n);
	ck_assert_msg(!ferror(fp), "read %s", path);
	fclose(fp);
	return buf;
}

void
cases_load(struct cases_file *f, const char *path)
{
	struct cases_reader r = {.f = f};
	char *text, *p, *end, *nl;
	size_t len;

	ck_assert_msg(path != NULL, "TL_CASES is unset (meson test sets it)");
	*f = (struct cases_file){.path = path};
	text = cases_read(path, &len);
	for (p = text, end = text + len; p < end; p = nl + 1) {
		r.line++;
		if ((nl = memchr(p, '\n', (size_t)(end - p))) == NULL)
			cases_fail(&r, "no newline at the end of the file");
		*nl = '\0';
		cases_line(&r, p, (size_t)(nl - p));
	}
	cases_close(&r);
	if (f->n == 0)
		cases_fail(&r, "no case");
	free(text);
}

void
cases_free(struct cases_file *f)
{
	for (size_t i = 0; i < f->n; i++) {
		free(f->cases[i].name);
		free(f->cases[i].req);
		free(f->cases[i].want);
	}
	free(f->cases);
	*f = (struct cases_file){0};
}

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
	for (int p = 0; p < npeers; p++)
		for (size_t i = 0; i < f->n; i++)
			cases_run_one(f, &f->cases[i], &peers[p]);
	printf("%s: %zu cases, %d servers\n", f->path, f->n, npeers);
}
