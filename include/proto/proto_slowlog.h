/* The slow log: the last PROTO_SLOWLOG_MAX requests slower than the slow
 * request threshold, of every worker and protocol, in fixed memory, for
 * `stats slowlog` and the admin port's /slowlog. Written under a lock by
 * slow requests alone (those not rate-limited out of the log too), read
 * by copying. */
#ifndef TL_PROTO_SLOWLOG_H
#define TL_PROTO_SLOWLOG_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "addr.h"
#include "cache.h"

#define PROTO_SLOWLOG_MAX 128

struct proto_slow {
	uint64_t id; /* counted from 1 since start; survives a reset */
	struct timespec ts;
	uint64_t us;
	int conn; /* the connection's descriptor, -1 for none */
	unsigned nkeys;
	char thread[16];
	char peer[ADDR_MAX];
	char cmd[33];
	unsigned char nkey;
	char key[CACHE_KEY_MAX]; /* nkey bytes as the client sent them */
};

/* The next entry, zeroed but for its id, to fill in place (no copy on
 * the worker's path) under the slow log's lock until
 * proto_slowlog_commit(). */
struct proto_slow *proto_slowlog_next(void);
void proto_slowlog_commit(void);
/* Copy up to n entries, newest first, into out; returns how many. */
size_t proto_slowlog_read(struct proto_slow *out, size_t n);
/* An entry's key as one word, into buf (PROTO_SLOWLOG_KEY_TEXT bytes):
 * bytes other than printable ASCII, and "\\", as \\xNN; "-" for none. */
#define PROTO_SLOWLOG_KEY_TEXT (CACHE_KEY_MAX * 4 + 1)
void proto_slowlog_key_text(const struct proto_slow *, char *);
/* Forget every entry; ids go on counting. */
void proto_slowlog_reset(void);

#endif
