/* Which lines a watcher wants: level, thread and category filters. */
#include <stdio.h>
#include <string.h>

#include "log_event.h"
#include "log_filter.h"
#include "thread.h"

/* One "key=value" filter into f; -1 if it is not one we know. */
static int
log_filter_one(struct log_filter *f, const char *tok, size_t len)
{
	char val[32];
	const char *eq = memchr(tok, '=', len);
	size_t klen, vlen;
	struct thread *t;
	int e;

	if (eq == NULL) {
		if (len >= sizeof val)
			return -1;
		memcpy(val, tok, len);
		val[len] = '\0';
		if (strcmp(val, "rawcmds") == 0)
			e = 31;
		else if ((e = log_event_parse(val)) == -1)
			return -1;
		f->categories |= 1u << e;
		return 0;
	}
	klen = (size_t)(eq - tok);
	vlen = len - klen - 1;
	if (vlen == 0 || vlen >= sizeof val)
		return -1;
	memcpy(val, eq + 1, vlen);
	val[vlen] = '\0';
	if (klen == 5 && memcmp(tok, "level", 5) == 0)
		return (f->level = log_level_parse(val)) == -1 ? -1 : 0;
	if (klen == 8 && memcmp(tok, "category", 8) == 0) {
		int c = log_category_parse(val);

		if (c == -1)
			return -1;
		f->categories |= 1u << c;
		return 0;
	}
	if (klen == 6 && memcmp(tok, "thread", 6) == 0) {
		if ((f->role = thread_role_parse(val)) != -1)
			return 0;
		if ((t = thread_find(val)) != NULL) {
			memcpy(f->thread, t->name, sizeof f->thread);
			return 0;
		}
	}
	return -1;
}

int
log_filter_parse(struct log_filter *f, const char *args, size_t len, char *err,
    size_t errlen)
{
	const char *p = args, *end = args + len;

	*f = (struct log_filter){.level = LOG_LVL_DEBUG, .role = -1};
	while (p < end) {
		const char *tok;

		while (p < end && *p == ' ')
			p++;
		if (p == end)
			break;
		tok = p;
		while (p < end && *p != ' ')
			p++;
		if (log_filter_one(f, tok, (size_t)(p - tok)) == -1) {
			snprintf(err, errlen,
			    "bad watch filter '%.*s': expected level=LEVEL, "
			    "thread=NAME|ROLE or category=general|access|slow",
			    (int)(p - tok > 64 ? 64 : p - tok), tok);
			return -1;
		}
	}
	return 0;
}

bool
log_filter_match(const struct log_filter *f, const struct log_line *l)
{
	unsigned want = f->categories
	                    ? f->categories
	                    : 1u << LOG_CAT_GENERAL | 1u << LOG_CAT_ACCESS |
	                          1u << LOG_CAT_SLOW;

	if (l->level > f->level)
		return false;
	if (!(want & 1u << l->category))
		return false;
	if (f->role != -1)
		return l->role == f->role;
	return f->thread[0] == '\0' || strcmp(f->thread, l->thread) == 0;
}
