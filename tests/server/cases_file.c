/* The reply catalogues' reader: a file of cases read strictly, failing the
 * running Check test with file:line at the first line it cannot take. */
#include <check.h>
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cases.h"

#define CASES_NAME_MAX 63

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
