/* The reply catalogues' runner: the strict reader of tests/server/cases/ files
 * and the loop that sends each case to each peer and compares its reply. */
#include <check.h>
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cases.h"

#define CASES_REPLY_MAX  (64 * 1024)
#define CASES_BINARY_MAX (256 * 1024)
/* The opaque of the NOOP that ends a binary case. */
#define CASES_NOOP_OPAQUE 0xfeedfaceu
#define CASES_NAME_MAX    63

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

/* The bytes of text, n long, onto *buf: printable ASCII as is, "\\" a
 * backslash, "\xhh" a byte. A line's text (line true) gets CR LF at the
 * end unless it ends in a lone backslash; a packet's field's does not. */
static void
cases_text(const struct cases_reader *r, const char *text, size_t n, bool line,
    char **buf, size_t *len)
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
		if (i + 1 == n && line)
			return;
		if (i + 1 < n && text[i + 1] == '\\') {
			cases_append(buf, len, "\\", 1);
			i++;
			continue;
		}
		if (i + 3 >= n || text[i + 1] != 'x' ||
		    (hi = cases_hexval(text[i + 2])) == -1 ||
		    (lo = cases_hexval(text[i + 3])) == -1)
			cases_fail(r,
			    "an escape is \\\\ or \\xhh (two lower-case "
			    "hex digits); a \\ may end a line");
		ch = (unsigned char)(hi << 4 | lo);
		cases_append(buf, len, (const char *)&ch, 1);
		i += 3;
	}
	if (line)
		cases_append(buf, len, "\r\n", 2);
}

/* The words of the header lines. */
static const struct {
	const char *word;
	enum cases_sentinel sentinel;
} cases_sentinels[] = {
    {"version", CASES_VERSION},
    {"mn", CASES_MN},
    {"noop", CASES_NOOP},
};
static const struct {
	const char *word;
	enum cases_match match;
} cases_matches[] = {
    {"digits", CASES_DIGITS},
    {"meta", CASES_META},
    {"binary", CASES_BINARY},
};

/* A header line: "sentinel WORD" or "match WORD". */
static void
cases_header(struct cases_reader *r, const char *line)
{
	size_t i;

	if (strncmp(line, "sentinel ", 9) == 0) {
		if (r->sentinel)
			cases_fail(r, "a second sentinel line");
		for (i = 0;
		     i < sizeof cases_sentinels / sizeof cases_sentinels[0] &&
		     strcmp(line + 9, cases_sentinels[i].word) != 0;
		     i++)
			;
		if (i == sizeof cases_sentinels / sizeof cases_sentinels[0])
			cases_fail(r, "sentinel is version, mn or noop");
		r->f->sentinel = cases_sentinels[i].sentinel;
		r->sentinel = true;
	} else if (strncmp(line, "match ", 6) == 0) {
		if (r->match)
			cases_fail(r, "a second match line");
		for (i = 0;
		     i < sizeof cases_matches / sizeof cases_matches[0] &&
		     strcmp(line + 6, cases_matches[i].word) != 0;
		     i++)
			;
		if (i == sizeof cases_matches / sizeof cases_matches[0])
			cases_fail(r, "match is digits, meta or binary");
		r->f->match = cases_matches[i].match;
		r->match = true;
	} else
		cases_fail(r, "not a line of the format: %s", line);
}

/* The checks at the end of a case, or of the file (c NULL). */
static void
cases_close(const struct cases_reader *r)
{
	const struct cases_case *c = r->c;

	if (c == NULL)
		return;
	if (r->f->match == CASES_BINARY) {
		if (c->npkts == 0)
			cases_fail(r, "case %s (line %d) has no packet line",
			    c->name, c->line);
		return;
	}
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
	if ((f->sentinel == CASES_NOOP) != (f->match == CASES_BINARY))
		cases_fail(r, "sentinel noop goes with match binary, and only "
		              "with it");
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

/* The binary protocol's opcodes by memcached's names (protocol_binary.h,
 * lower case); an opcode without one is written as hex. */
static const char *const cases_opnames[] = {
    [0x00] = "get",
    [0x01] = "set",
    [0x02] = "add",
    [0x03] = "replace",
    [0x04] = "delete",
    [0x05] = "increment",
    [0x06] = "decrement",
    [0x07] = "quit",
    [0x08] = "flush",
    [0x09] = "getq",
    [0x0a] = "noop",
    [0x0b] = "version",
    [0x0c] = "getk",
    [0x0d] = "getkq",
    [0x0e] = "append",
    [0x0f] = "prepend",
    [0x10] = "stat",
    [0x11] = "setq",
    [0x12] = "addq",
    [0x13] = "replaceq",
    [0x14] = "deleteq",
    [0x15] = "incrementq",
    [0x16] = "decrementq",
    [0x17] = "quitq",
    [0x18] = "flushq",
    [0x19] = "appendq",
    [0x1a] = "prependq",
    [0x1b] = "verbosity",
    [0x1c] = "touch",
    [0x1d] = "gat",
    [0x1e] = "gatq",
    [0x20] = "sasl_list_mechs",
    [0x21] = "sasl_auth",
    [0x22] = "sasl_step",
    [0x23] = "gatk",
    [0x24] = "gatkq",
};

/* "0xhh" of n bytes at tok: its value, or -1. */
static int
cases_hexbyte(const char *tok, size_t n)
{
	int hi, lo;

	if (n != 4 || tok[0] != '0' || tok[1] != 'x' ||
	    (hi = cases_hexval(tok[2])) == -1 ||
	    (lo = cases_hexval(tok[3])) == -1)
		return -1;
	return hi << 4 | lo;
}

/* A packet's opcode: its name, or 0xhh when it has none. */
static uint8_t
cases_opcode(const struct cases_reader *r, const char *tok, size_t n)
{
	size_t nops = sizeof cases_opnames / sizeof cases_opnames[0];
	int op = cases_hexbyte(tok, n);

	for (size_t i = 0; i < nops; i++)
		if (cases_opnames[i] != NULL && strlen(cases_opnames[i]) == n &&
		    memcmp(cases_opnames[i], tok, n) == 0)
			return (uint8_t)i;
	if (op == -1)
		cases_fail(
		    r, "an opcode is its name or 0xhh: %.*s", (int)n, tok);
	if ((size_t)op < nops && cases_opnames[op] != NULL)
		cases_fail(r, "opcode %.*s is written %s", (int)n, tok,
		    cases_opnames[op]);
	return (uint8_t)op;
}

/* ext=: pairs of lower-case hex digits, a dot between two pairs where the
 * fields of the extras meet. */
static void
cases_ext(
    const struct cases_reader *r, const char *v, size_t n, struct cases_pkt *p)
{
	char *buf = NULL;
	size_t len = 0;

	for (size_t i = 0; i < n;) {
		int hi, lo;
		unsigned char ch;

		if (v[i] == '.' && i > 0 && i + 1 < n && v[i + 1] != '.') {
			i++;
			continue;
		}
		if (i + 1 >= n || (hi = cases_hexval(v[i])) == -1 ||
		    (lo = cases_hexval(v[i + 1])) == -1)
			cases_fail(r, "ext= is pairs of lower-case hex digits, "
			              "dots between pairs");
		ch = (unsigned char)(hi << 4 | lo);
		cases_append(&buf, &len, (const char *)&ch, 1);
		i += 2;
	}
	if (len == 0 || len > 255)
		cases_fail(r, "ext= of 1 to 255 bytes");
	p->ext = buf;
	p->extlen = (uint8_t)len;
}

/* The decimal number of n digits at v, no leading zero, into *out; false
 * if it is not one or is past max. */
static bool
cases_number(
    const char *v, size_t n, unsigned long long max, unsigned long long *out)
{
	*out = 0;
	if (n == 0 || (v[0] == '0' && n > 1))
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned d = (unsigned)(v[i] - '0');

		if (v[i] < '0' || v[i] > '9' || *out > (max - d) / 10)
			return false;
		*out = *out * 10 + d;
	}
	return true;
}

/* One field=value of a packet line into p, the fields in the order of
 * fields[]; *at is how far that order has come. */
static void
cases_field(const struct cases_reader *r, const char *tok, size_t n,
    struct cases_pkt *p, size_t *at)
{
	static const char *const fields[] = {
	    "key", "ext", "val", "cas", "body", "magic"};
	const char *eq = memchr(tok, '=', n), *v;
	size_t f, vn;
	unsigned long long num;
	char *buf = NULL;
	size_t len = 0;

	for (f = 0; eq != NULL && f < sizeof fields / sizeof fields[0] &&
	            !(strlen(fields[f]) == (size_t)(eq - tok) &&
	                memcmp(fields[f], tok, (size_t)(eq - tok)) == 0);
	     f++)
		;
	if (eq == NULL || f == sizeof fields / sizeof fields[0])
		cases_fail(r,
		    "a packet's field is key=, ext=, val=, cas=, "
		    "body= or magic=: %.*s",
		    (int)n, tok);
	if (f < *at)
		cases_fail(r,
		    "%s= again or out of order (key ext val cas "
		    "body magic)",
		    fields[f]);
	*at = f + 1;
	v = eq + 1;
	vn = n - (size_t)(v - tok);
	switch (f) {
	case 0:
	case 2:
		cases_text(r, v, vn, false, &buf, &len);
		if (f == 0) {
			p->key = buf;
			p->keylen = len;
		} else {
			p->val = buf;
			p->vallen = len;
		}
		break;
	case 1:
		cases_ext(r, v, vn, p);
		break;
	case 3:
		if (vn == 3 && memcmp(v, "now", 3) == 0)
			p->cas = CASES_CAS_NOW;
		else if (vn == 5 && memcmp(v, "wrong", 5) == 0)
			p->cas = CASES_CAS_WRONG;
		else if (cases_number(v, vn, CASES_CAS_WRONG - 1, &num))
			p->cas = num;
		else
			cases_fail(r, "cas= is now, wrong or a number");
		break;
	case 4:
		if (vn < 2 || (v[0] != '+' && v[0] != '-') ||
		    !cases_number(v + 1, vn - 1, INT32_MAX, &num))
			cases_fail(r, "body= is + or -, then a number");
		p->body_extra = v[0] == '-' ? -(int)num : (int)num;
		break;
	default:
		if (cases_hexbyte(v, vn) == -1)
			cases_fail(r, "magic= is 0xhh");
		p->magic = (uint8_t)cases_hexbyte(v, vn);
		break;
	}
}

/* "packet OPCODE field=value...": a request packet of the case. */
static void
cases_packet(struct cases_reader *r, const char *line)
{
	struct cases_case *c = r->c;
	struct cases_pkt *more, p = {0};
	size_t at = 0, n;

	for (bool first = true; *line != '\0'; first = false) {
		n = strcspn(line, " ");
		if (n == 0)
			cases_fail(r, "one space between two fields");
		if (first)
			p.op = cases_opcode(r, line, n);
		else
			cases_field(r, line, n, &p, &at);
		line += n + (line[n] == ' ');
	}
	more = realloc(c->pkts, (c->npkts + 1) * sizeof *more);
	ck_assert_ptr_nonnull(more);
	c->pkts = more;
	c->pkts[c->npkts++] = p;
}

/* One line of the file, its newline replaced by a NUL. */
static void
cases_line(struct cases_reader *r, const char *line, size_t n)
{
	struct cases_case *c = r->c;
	bool binary = r->f->match == CASES_BINARY;

	if (n == 0 || line[0] == '#')
		return;
	if (line[n - 1] == ' ' || line[n - 1] == '\t')
		cases_fail(r, "white space ends the line: write the last "
		              "\\x20 or \\x09");
	if ((line[0] == '>' || line[0] == '<') && c != NULL && !binary) {
		if (n > 1 && line[1] != ' ')
			cases_fail(
			    r, "%c then a space, then the text", line[0]);
		if (line[0] == '>' && c->wantlen > 0)
			cases_fail(r, "a request line after a reply line");
		if (line[0] == '>')
			cases_text(r, line + 2 - (n == 1), n - 2 + (n == 1),
			    true, &c->req, &c->reqlen);
		else
			cases_text(r, line + 2 - (n == 1), n - 2 + (n == 1),
			    true, &c->want, &c->wantlen);
		return;
	}
	if (memchr(line, '\0', n) != NULL)
		cases_fail(r, "a NUL byte");
	if (strncmp(line, "case ", 5) == 0)
		cases_begin(r, line + 5);
	else if (strncmp(line, "packet ", 7) == 0 && c != NULL && binary)
		cases_packet(r, line + 7);
	else if (strcmp(line, "last") == 0 && c != NULL && c->reqlen == 0 &&
	         c->npkts == 0)
		c->last = true;
	else if (strcmp(line, "closes") == 0 && c != NULL && binary &&
	         c->npkts == 0)
		c->closes = true;
	else if (c == NULL)
		cases_header(r, line);
	else
		cases_fail(r, "not a line of the format here: %s", line);
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
		for (size_t j = 0; j < f->cases[i].npkts; j++) {
			free((void *)f->cases[i].pkts[j].key);
			free((void *)f->cases[i].pkts[j].ext);
			free((void *)f->cases[i].pkts[j].val);
		}
		free(f->cases[i].pkts);
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

/* Every binary case of f on each peer, the two servers' normalised
 * replies compared case by case. */
static void
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
