/* Space-Saving's guarantees against an exact count of a seeded Zipf
 * stream: every key over total / capacity is present, and each count c
 * with error e brackets the true weight, c - e <= w <= c. */
#include <check.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hotkeys.h"
#include "unit.h"

#define NKEYS  5000
#define NDRAWS 200000

static uint64_t rng = 0x9e3779b97f4a7c15ULL;

/* xorshift64*: the same stream on every run. */
static double
uniform(void)
{
	rng ^= rng >> 12;
	rng ^= rng << 25;
	rng ^= rng >> 27;
	return (double)((rng * 0x2545f4914f6cdd1dULL) >> 11) /
	       9007199254740992.0;
}

/* Key ranks drawn by Zipf with exponent s over NKEYS keys, by inverting
 * the cumulative sums. */
static unsigned
zipf_draw(const double *cdf)
{
	double u = uniform();
	unsigned lo = 0, hi = NKEYS - 1;

	while (lo < hi) {
		unsigned mid = (lo + hi) / 2;

		if (cdf[mid] < u)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static void
check_against(struct hotkeys *t, enum hotkeys_by by, const uint64_t *exact,
    uint64_t total)
{
	struct hotkeys_entry top[HOTKEYS_CAP];
	uint64_t sum;
	unsigned n = hotkeys_top(t, by, top, HOTKEYS_CAP, &sum), hits = 0;
	char key[32];

	ck_assert_uint_eq(sum, total);

	ck_assert_uint_eq(n, HOTKEYS_CAP);
	for (unsigned i = 0; i < n; i++) {
		unsigned r;

		ck_assert(i == 0 || top[i - 1].count >= top[i].count);
		memcpy(key, top[i].key, top[i].nkey);
		key[top[i].nkey] = '\0';
		ck_assert_int_eq(sscanf(key, "key:%u", &r), 1);
		ck_assert_uint_le(top[i].count - top[i].error, exact[r]);
		ck_assert_uint_ge(top[i].count, exact[r]);
	}
	/* Every key over total / capacity is counted. */
	for (unsigned r = 0; r < NKEYS; r++) {
		bool found = false;

		if (exact[r] * HOTKEYS_CAP <= total)
			continue;
		hits++;
		snprintf(key, sizeof key, "key:%u", r);
		for (unsigned i = 0; i < n && !found; i++)
			found = top[i].nkey == strlen(key) &&
			        memcmp(top[i].key, key, top[i].nkey) == 0;
		ck_assert_msg(found, "%s (%llu of %llu) missing", key,
		    (unsigned long long)exact[r], (unsigned long long)total);
	}
	/* The stream is skewed enough for the test to mean something. */
	ck_assert_uint_ge(hits, 5);
}

/* A Zipf(0.99) stream of keys, each request sending a size of its key's
 * (bytes): both tables checked. */
START_TEST(test_zipf)
{
	static double cdf[NKEYS];
	static uint64_t count[NKEYS], bytes[NKEYS];
	struct hotkeys *hk = malloc(sizeof *hk);
	uint64_t total = 0, tbytes = 0;
	double sum = 0;
	char key[32];

	for (unsigned r = 0; r < NKEYS; r++)
		sum += 1 / pow(r + 1, 0.99);
	for (unsigned r = 0; r < NKEYS; r++)
		cdf[r] = (r ? cdf[r - 1] : 0) + 1 / pow(r + 1, 0.99) / sum;
	cdf[NKEYS - 1] = 1;
	hotkeys_init(hk, 1);
	for (unsigned d = 0; d < NDRAWS; d++) {
		unsigned r = zipf_draw(cdf);
		uint64_t size = 10 + (r * 7919) % 3000;
		int n = snprintf(key, sizeof key, "key:%u", r);

		count[r]++;
		bytes[r] += size;
		total++;
		tbytes += size;
		hotkeys_add(hk, key, (size_t)n, size);
	}
	check_against(hk, HOTKEYS_REQUESTS, count, total);
	check_against(hk, HOTKEYS_BYTES, bytes, tbytes);
	hotkeys_destroy(hk);
	free(hk);
}
END_TEST

/* Below capacity every count is exact, keys of any byte and longer than
 * the limit alike; a request that sent nothing weighs nothing in bytes;
 * top orders by count, then by key; clear forgets. */
START_TEST(test_exact)
{
	struct hotkeys *hk = malloc(sizeof *hk);
	struct hotkeys_entry top[4];
	char lng[300];
	uint64_t total;

	memset(lng, 'x', sizeof lng);
	hotkeys_init(hk, 1);
	for (int i = 0; i < 3; i++)
		hotkeys_add(hk, "a\0b", 3, 5);
	hotkeys_add(hk, "b", 1, 0);
	hotkeys_add(hk, "b", 1, 9);
	hotkeys_add(hk, "a", 1, 0);
	hotkeys_add(hk, "a", 1, 0);
	hotkeys_add(hk, lng, sizeof lng, 1);
	hotkeys_add(hk, lng, HOTKEYS_KEY_MAX, 1);
	ck_assert_uint_eq(hotkeys_top(hk, HOTKEYS_REQUESTS, top, 4, &total), 4);
	ck_assert_uint_eq(total, 9);
	ck_assert_uint_eq(top[0].count, 3);
	ck_assert_uint_eq(top[0].nkey, 3);
	ck_assert(memcmp(top[0].key, "a\0b", 3) == 0);
	ck_assert_uint_eq(top[1].count, 2);
	ck_assert(top[1].nkey == 1 && top[1].key[0] == 'a');
	ck_assert(top[2].nkey == 1 && top[2].key[0] == 'b');
	ck_assert_uint_eq(top[3].nkey, HOTKEYS_KEY_MAX);
	ck_assert_uint_eq(top[3].count, 2);
	for (unsigned i = 0; i < 4; i++)
		ck_assert_uint_eq(top[i].error, 0);
	ck_assert_uint_eq(hotkeys_top(hk, HOTKEYS_BYTES, top, 4, &total), 3);
	ck_assert_uint_eq(total, 26);
	ck_assert(top[0].count == 15 && top[0].nkey == 3);
	ck_assert(top[1].count == 9 && top[1].key[0] == 'b');
	ck_assert(top[2].count == 2 && top[2].nkey == HOTKEYS_KEY_MAX);
	ck_assert_uint_eq(hotkeys_top(hk, HOTKEYS_REQUESTS, top, 1, NULL), 1);
	hotkeys_clear(hk);
	ck_assert_uint_eq(hotkeys_top(hk, HOTKEYS_BYTES, top, 4, &total), 0);
	ck_assert_uint_eq(total, 0);
	hotkeys_destroy(hk);
	free(hk);
}
END_TEST

/* One request in 16 counted, 16 times over: the stream's three heaviest
 * keys come first, each estimated within a fifth of its true count (the
 * seeded stream and the table's own seed make it the same every run);
 * 0 counts nothing. */
START_TEST(test_sampled)
{
	static double cdf[NKEYS];
	static uint64_t count[NKEYS];
	struct hotkeys *hk = malloc(sizeof *hk), *off = malloc(sizeof *off);
	struct hotkeys_entry top[3];
	uint64_t total;
	double sum = 0;
	char key[32];

	for (unsigned r = 0; r < NKEYS; r++)
		sum += 1 / pow(r + 1, 0.99);
	for (unsigned r = 0; r < NKEYS; r++)
		cdf[r] = (r ? cdf[r - 1] : 0) + 1 / pow(r + 1, 0.99) / sum;
	cdf[NKEYS - 1] = 1;
	hotkeys_init(hk, 16);
	hotkeys_init(off, 0);
	for (unsigned d = 0; d < NDRAWS; d++) {
		unsigned r = zipf_draw(cdf);
		int n = snprintf(key, sizeof key, "key:%u", r);

		count[r]++;
		hotkeys_add(hk, key, (size_t)n, 100);
		hotkeys_add(off, key, (size_t)n, 100);
	}
	ck_assert_uint_eq(hotkeys_top(hk, HOTKEYS_REQUESTS, top, 3, &total), 3);
	ck_assert_msg(total > NDRAWS * 0.95 && total < NDRAWS * 1.05,
	    "total %llu", (unsigned long long)total);
	for (unsigned i = 0; i < 3; i++) {
		unsigned r;
		double want;

		memcpy(key, top[i].key, top[i].nkey);
		key[top[i].nkey] = '\0';
		ck_assert_int_eq(sscanf(key, "key:%u", &r), 1);
		ck_assert_uint_lt(r, 3);
		want = (double)count[r];
		ck_assert_msg(
		    top[i].count > want * 0.8 && top[i].count < want * 1.2,
		    "%s: %llu, true %.0f", key,
		    (unsigned long long)top[i].count, want);
	}
	ck_assert_uint_eq(
	    hotkeys_top(off, HOTKEYS_REQUESTS, top, 3, &total), 0);
	ck_assert_uint_eq(total, 0);
	hotkeys_destroy(hk);
	hotkeys_destroy(off);
	free(hk);
	free(off);
}
END_TEST

int
main(void)
{
	const TTest *tests[] = {test_exact, test_zipf, test_sampled, NULL};

	return unit_run(
	    &(struct unit_suite){.name = "hotkeys", .timeout = 60}, tests);
}
