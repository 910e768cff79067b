/* Which log lines a reader wants: "level=L thread=NAME|ROLE
 * category=general|access|slow", as "watch" takes them, and memcached's
 * watcher words (fetchers, mutations, evictions, connevents, rawcmds),
 * which ask for its events (log_event.h) instead. */
#ifndef TL_LOG_FILTER_H
#define TL_LOG_FILTER_H

#include <stdbool.h>
#include <stddef.h>

#include "log.h"

/* A bit of categories that no line has: memcached's "rawcmds" (its proxy's
 * raw commands) is accepted and streams nothing. */
#define LOG_FILTER_NOTHING (1u << 31)

struct log_filter {
	int level;           /* lines up to this level */
	int role;            /* -1: any, or match by name */
	char thread[16];     /* empty: any */
	unsigned categories; /* bits 1 << category; 0: general, access, slow */
};

/* Parse space-separated filters (len bytes at args) into f; -1 with a
 * message in err on one it does not know. Nothing given lets every line
 * through. */
int log_filter_parse(struct log_filter *, const char *, size_t, char *, size_t);
bool log_filter_match(const struct log_filter *, const struct log_line *);

#endif
