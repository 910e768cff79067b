/* The heaviest keys of a stream in fixed memory: Space-Saving (Metwally,
 * Agrawal, El Abbadi, 2005), weighted, by requests and by bytes. A table
 * counts at most HOTKEYS_CAP keys; a key not counted takes the place of
 * the smallest, inheriting its count as its error, so each count c with
 * error e holds the key's true weight w within c - e <= w <= c, and every
 * key whose weight is over total / HOTKEYS_CAP is in the table. Those
 * bounds are of what is counted: with sampling (every > 1) one request
 * in every, at random, is counted with every times its weight, and the
 * counts are estimates of the stream's. One thread adds (its worker);
 * any thread may read: both take the lock, held by a counted add for a
 * few hundred instructions at most; an add skipped by the sampling takes
 * none. */
#ifndef TL_HOTKEYS_H
#define TL_HOTKEYS_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HOTKEYS_CAP     64
#define HOTKEYS_KEY_MAX 250 /* memcached's longest key */
#define HOTKEYS_BUCKETS 128 /* a power of two, twice HOTKEYS_CAP */

/* What a table weighs keys by. */
enum hotkeys_by {
	HOTKEYS_REQUESTS, /* 1 a request */
	HOTKEYS_BYTES,    /* the bytes its reply sent */
	HOTKEYS_BY
};

/* A key as counted; a reader's copy is sorted heaviest first. */
struct hotkeys_entry {
	uint64_t count;
	uint64_t error; /* count - error is a lower bound of its weight */
	uint32_t hash;
	uint16_t heap; /* its place in the min-heap */
	int16_t next;  /* in its bucket's chain, -1: the end */
	uint8_t nkey;
	char key[HOTKEYS_KEY_MAX];
};

struct hotkeys_table {
	uint64_t total; /* weight of every key added */
	unsigned n;     /* entries in use */
	int16_t bucket[HOTKEYS_BUCKETS];
	uint8_t heap[HOTKEYS_CAP]; /* entries by count, smallest first */
	struct hotkeys_entry e[HOTKEYS_CAP];
};

struct hotkeys {
	/* The adding thread's alone, read by no other. */
	unsigned every; /* one request in every counted; 0: none */
	unsigned skip;  /* requests to pass before the next counted */
	uint64_t rng;
	pthread_mutex_t lock;
	struct hotkeys_table by[HOTKEYS_BY];
};

/* every: count one request in every on average (1: each, 0: none). */
void hotkeys_init(struct hotkeys *, unsigned every);
void hotkeys_destroy(struct hotkeys *);
/* Count a request sampled by hotkeys_add. Cold: the call stays out of
 * the caller's loop (a multi-get's keys). */
void hotkeys_count_request(struct hotkeys *, const char *, size_t,
    uint64_t bytes) __attribute__((cold));

/* Whether the next request is one to count (hotkeys_count_request);
 * the adding thread's. Inline: every key of every request asks, most
 * only to be passed. */
static inline bool
hotkeys_due(struct hotkeys *hk)
{
	if (__builtin_expect(hk->skip > 1, 1)) {
		hk->skip--;
		return false;
	}
	return hk->every != 0;
}

/* A request for the key (its first HOTKEYS_KEY_MAX bytes) whose reply
 * sent bytes; 0 bytes leave the bytes table as it is. */
static inline void
hotkeys_add(struct hotkeys *hk, const char *key, size_t nkey, uint64_t bytes)
{
	if (hotkeys_due(hk))
		hotkeys_count_request(hk, key, nkey, bytes);
}
/* Copy the heaviest n at most by the measure into out, heaviest first
 * (equal counts by key); returns how many; *total (if not NULL) gets
 * the table's total. */
unsigned hotkeys_top(struct hotkeys *, enum hotkeys_by,
    struct hotkeys_entry *out, unsigned n, uint64_t *total);
/* Forget every key. */
void hotkeys_clear(struct hotkeys *);

#endif
