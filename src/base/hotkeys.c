/* Space-Saving counting of the heaviest keys: a chained hash table to
 * find a key, a min-heap over the counts to find the one to replace. */
#include <stdlib.h>
#include <string.h>

#include "hotkeys.h"

_Static_assert(HOTKEYS_CAP <= 255, "heap indices are bytes");
_Static_assert(HOTKEYS_KEY_MAX <= 255, "key lengths are bytes");

/* FNV-1a over 8-byte words: keys are short, this runs per request. */
static uint32_t
hotkeys_hash(const char *k, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ULL, w;

	for (; n >= 8; k += 8, n -= 8) {
		memcpy(&w, k, 8);
		h = (h ^ w) * 0x100000001b3ULL;
		h ^= h >> 29;
	}
	w = 0;
	memcpy(&w, k, n);
	h = (h ^ w ^ n) * 0x100000001b3ULL;
	h ^= h >> 32;
	return (uint32_t)h;
}

void
hotkeys_init(struct hotkeys *hk, unsigned every)
{
	hk->every = every;
	hk->skip = 1;
	hk->rng = 0x9e3779b97f4a7c15ULL;
	pthread_mutex_init(&hk->lock, NULL);
	hotkeys_clear(hk);
}

void
hotkeys_destroy(struct hotkeys *hk)
{
	pthread_mutex_destroy(&hk->lock);
}

void
hotkeys_clear(struct hotkeys *hk)
{
	pthread_mutex_lock(&hk->lock);
	for (unsigned b = 0; b < HOTKEYS_BY; b++) {
		hk->by[b].total = 0;
		hk->by[b].n = 0;
		memset(hk->by[b].bucket, 0xff, sizeof hk->by[b].bucket);
	}
	pthread_mutex_unlock(&hk->lock);
}

/* Swap heap places i and j. */
static void
hotkeys_swap(struct hotkeys_table *t, unsigned i, unsigned j)
{
	uint8_t a = t->heap[i], b = t->heap[j];

	t->heap[i] = b;
	t->heap[j] = a;
	t->e[b].heap = (uint16_t)i;
	t->e[a].heap = (uint16_t)j;
}

/* The count at heap place i grew: move it down past smaller children. */
static void
hotkeys_sink(struct hotkeys_table *t, unsigned i)
{
	for (;;) {
		unsigned l = 2 * i + 1, m = i;

		if (l < t->n && t->e[t->heap[l]].count < t->e[t->heap[m]].count)
			m = l;
		if (l + 1 < t->n &&
		    t->e[t->heap[l + 1]].count < t->e[t->heap[m]].count)
			m = l + 1;
		if (m == i)
			return;
		hotkeys_swap(t, i, m);
		i = m;
	}
}

/* A new count at heap place i: move it up past larger parents. */
static void
hotkeys_rise(struct hotkeys_table *t, unsigned i)
{
	while (i > 0) {
		unsigned up = (i - 1) / 2;

		/* i < t->n <= HOTKEYS_CAP, which cppcheck cannot see. */
		/* cppcheck-suppress arrayIndexOutOfBoundsCond */
		if (t->e[t->heap[up]].count <= t->e[t->heap[i]].count)
			return;
		hotkeys_swap(t, i, up);
		i = up;
	}
}

/* Take entry x out of its bucket's chain. */
static void
hotkeys_unlink(struct hotkeys_table *t, unsigned x)
{
	int16_t *p = &t->bucket[t->e[x].hash & (HOTKEYS_BUCKETS - 1)];

	while (*p != (int16_t)x)
		p = &t->e[*p].next;
	*p = t->e[x].next;
}

/* Count w more for the key of hash h in t. */
static void
hotkeys_count(struct hotkeys_table *t, uint32_t h, const char *key, size_t nkey,
    uint64_t w)
{
	int16_t *b, i;
	struct hotkeys_entry *e;
	unsigned x;

	t->total += w;
	b = &t->bucket[h & (HOTKEYS_BUCKETS - 1)];
	for (i = *b; i != -1; i = t->e[i].next) {
		e = &t->e[i];
		if (e->hash == h && e->nkey == nkey &&
		    memcmp(e->key, key, nkey) == 0) {
			e->count += w;
			hotkeys_sink(t, e->heap);
			return;
		}
	}
	if (t->n < HOTKEYS_CAP) {
		x = t->n;
		t->heap[x] = (uint8_t)x;
		t->e[x] = (struct hotkeys_entry){.heap = (uint16_t)x};
		t->n++;
	} else {
		/* The smallest goes; the newcomer may have had its count. */
		x = t->heap[0];
		hotkeys_unlink(t, x);
		t->e[x].error = t->e[x].count;
	}
	e = &t->e[x];
	e->count += w;
	e->hash = h;
	e->nkey = (uint8_t)nkey;
	memcpy(e->key, key, nkey);
	e->next = *b;
	*b = (int16_t)x;
	/* A new place is a leaf; a replaced one is the root. */
	hotkeys_rise(t, e->heap);
	hotkeys_sink(t, e->heap);
}

/* The gap to the next request counted: uniform in 1 .. 2 * every - 1,
 * so every on average, at random so that no pattern in the requests
 * lines up with it. */
static unsigned
hotkeys_gap(struct hotkeys *hk)
{
	uint64_t x = hk->rng;

	if (hk->every <= 1)
		return 1;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	hk->rng = x;
	return 1 + (unsigned)((x * 0x2545f4914f6cdd1dULL >> 33) %
	                      (2 * (uint64_t)hk->every - 1));
}

void
hotkeys_count_request(
    struct hotkeys *hk, const char *key, size_t nkey, uint64_t bytes)
{
	uint64_t w = hk->every;
	uint32_t h;

	hk->skip = hotkeys_gap(hk);
	if (nkey > HOTKEYS_KEY_MAX)
		nkey = HOTKEYS_KEY_MAX;
	h = hotkeys_hash(key, nkey);
	pthread_mutex_lock(&hk->lock);
	hotkeys_count(&hk->by[HOTKEYS_REQUESTS], h, key, nkey, w);
	if (bytes > 0)
		hotkeys_count(&hk->by[HOTKEYS_BYTES], h, key, nkey, bytes * w);
	pthread_mutex_unlock(&hk->lock);
}

/* Heaviest first, then by key, for qsort. */
static int
hotkeys_cmp(const void *a, const void *b)
{
	const struct hotkeys_entry *x = a, *y = b;
	size_t n = x->nkey < y->nkey ? x->nkey : y->nkey;
	int c;

	if (x->count != y->count)
		return x->count > y->count ? -1 : 1;
	if ((c = memcmp(x->key, y->key, n)) != 0)
		return c;
	return (int)x->nkey - (int)y->nkey;
}

unsigned
hotkeys_top(struct hotkeys *hk, enum hotkeys_by by, struct hotkeys_entry *out,
    unsigned n, uint64_t *total)
{
	struct hotkeys_table *t = &hk->by[by];
	struct hotkeys_entry all[HOTKEYS_CAP];
	unsigned k;

	pthread_mutex_lock(&hk->lock);
	k = t->n;
	memcpy(all, t->e, k * sizeof all[0]);
	if (total != NULL)
		*total = t->total;
	pthread_mutex_unlock(&hk->lock);
	qsort(all, k, sizeof all[0], hotkeys_cmp);
	if (n > k)
		n = k;
	memcpy(out, all, n * sizeof all[0]);
	return n;
}
