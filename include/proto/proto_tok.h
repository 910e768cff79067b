/* Inside the proto floor: request lines split into tokens as memcached
 * splits them, numbers read as memcached reads them and written in
 * decimal. Not for other floors. */
#ifndef TL_PROTO_TOK_H
#define TL_PROTO_TOK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

struct token {
	const char *s;
	size_t len;
};

/* Whether t is the word s; inline, as the command look-up runs it for
 * every row it passes. */
static inline bool
tok_is(const struct token *t, const char *s)
{
	size_t n = strlen(s);

	return t->len == n && memcmp(t->s, s, n) == 0;
}

/* The next space-separated token from *p on, before end; false when only
 * spaces are left. */
static inline bool
tok_next(const char **p, const char *end, struct token *t)
{
	const char *s = *p;

	while (s < end && *s == ' ')
		s++;
	t->s = s;
	while (s < end && *s != ' ')
		s++;
	t->len = (size_t)(s - t->s);
	*p = s;
	return t->len > 0;
}

/* Split the len bytes at s on spaces as memcached's tokenizer does, into
 * at most max tokens; how many, or -1 when there are more (the first max
 * are kept). */
int tok_split(const char *, size_t, struct token *, int max);
/* memcached's number readers: -1 when t is not one. */
int tok_u64(const struct token *, uint64_t *);
int tok_u32(const struct token *, uint32_t *);
int tok_i32(const struct token *, int32_t *);
/* Decimal digits of n before end; returns where they start. */
char *tok_fmt_u64(char *end, uint64_t n);

#endif
