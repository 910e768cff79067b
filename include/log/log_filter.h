/* Which log lines a reader wants: "level=L thread=NAME|ROLE
 * category=general|access", as "watch" takes them. */
#ifndef TL_LOG_FILTER_H
#define TL_LOG_FILTER_H

#include <stdbool.h>
#include <stddef.h>

#include "log.h"

struct log_filter {
	int level;       /* lines up to this level */
	int role;        /* -1: any, or match by name */
	char thread[16]; /* empty: any */
	int category;    /* -1: any */
};

/* Parse space-separated filters (len bytes at args) into f; -1 with a
 * message in err on one it does not know. Nothing given lets every line
 * through. */
int log_filter_parse(struct log_filter *, const char *, size_t, char *, size_t);
bool log_filter_match(const struct log_filter *, const struct log_line *);

#endif
