/* Tokens and numbers of memcached's request lines, read as memcached
 * reads them. */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "proto_text.h"
#include "proto_tok.h"

int
tok_split(const char *s, size_t len, struct token *tok, int max)
{
	const char *p = s;
	struct token t;
	int n = 0;

	while (tok_next(&p, s + len, &t)) {
		if (n == max)
			return -1;
		tok[n++] = t;
	}
	return n;
}

/*
 * Numbers are read as memcached reads them, so that the same requests get
 * the same replies: strtoull/strtol in base 10 (a leading '+' or "-0" is
 * fine, trailing garbage is not), then narrowed to 32 bits where memcached
 * narrows, keeping the low bits.
 */

/* t as a C string in buf, for strtoull/strtol; false when it is empty.
 * buf holds a whole request line: memcached reads any number of leading
 * zeros. */
static bool
tok_cstr(const struct token *t, char *buf, size_t cap)
{
	if (t->len == 0 || t->len >= cap)
		return false;
	memcpy(buf, t->s, t->len);
	buf[t->len] = '\0';
	return true;
}

/* Whether strtoull/strtol read a number from buf and stopped at its end
 * or at white space, as memcached's safe_strto* check. */
static bool
tok_end_ok(const char *buf, const char *end)
{
	return end != buf && (*end == '\0' || isspace((unsigned char)*end));
}

/* memcached's safe_strtoull: a '-' is refused unless the value is small. */
int
tok_u64(const struct token *t, uint64_t *out)
{
	char buf[PROTO_LINE_MAX + 1], *end;
	unsigned long long n;

	if (!tok_cstr(t, buf, sizeof buf))
		return -1;
	errno = 0;
	n = strtoull(buf, &end, 10);
	if (errno == ERANGE || !tok_end_ok(buf, end) ||
	    ((long long)n < 0 && strchr(buf, '-') != NULL))
		return -1;
	*out = n;
	return 0;
}

/* memcached's safe_strtoul into 32 bits (flags, memory limit, verbosity
 * level). */
int
tok_u32(const struct token *t, uint32_t *out)
{
	uint64_t n;

	if (tok_u64(t, &n) == -1)
		return -1;
	*out = (uint32_t)n;
	return 0;
}

/* memcached's safe_strtol into 32 bits (exptime, bytes, flush delay). */
int
tok_i32(const struct token *t, int32_t *out)
{
	char buf[PROTO_LINE_MAX + 1], *end;
	long n;

	if (!tok_cstr(t, buf, sizeof buf))
		return -1;
	errno = 0;
	n = strtol(buf, &end, 10);
	if (errno == ERANGE || !tok_end_ok(buf, end))
		return -1;
	*out = (int32_t)(uint32_t)(unsigned long)n;
	return 0;
}

char *
tok_fmt_u64(char *end, uint64_t n)
{
	do {
		*--end = (char)('0' + n % 10);
		n /= 10;
	} while (n != 0);
	return end;
}
