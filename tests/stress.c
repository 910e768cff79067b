/* The stress tests' shared model and plumbing (stress.h). */
#include <check.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "stress.h"

int
stress_seeds(uint64_t *seeds, const uint64_t *defaults, int n, double *each)
{
	const char *seed = getenv("STRESS_SEED");
	const char *secs = getenv("STRESS_SECONDS");
	double total = secs ? strtod(secs, NULL) : 6;

	if (seed != NULL) {
		seeds[0] = strtoull(seed, NULL, 0);
		n = 1;
	} else
		memcpy(seeds, defaults, (size_t)n * sizeof *seeds);
	*each = (total > 0 ? total : 6) / n;
	return n;
}

long long
stress_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

uint64_t
stress_rnd(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 0x2545F4914F6CDD1Dull;
}

uint64_t
stress_num_pick(uint64_t *rng)
{
	switch (stress_rnd(rng) % 4) {
	case 0:
		return stress_rnd(rng) % 1000;
	case 1:
		return UINT64_MAX - stress_rnd(rng) % 1000;
	case 2:
		return stress_rnd(rng) % 4294967296u;
	default:
		return stress_rnd(rng);
	}
}

/* Segment (who id, key, version)'s bytes: a header naming them, then
 * letters from a generator they seed. */
static void
stress_seg_fill(char *dst, char who, int id, int k, const struct stress_seg *s)
{
	char head[48];
	size_t n = (size_t)snprintf(
	    head, sizeof head, "%c%dk%dv%" PRIu32 ":", who, id, k, s->ver);
	uint64_t x = ((uint64_t)id << 40 ^ (uint64_t)k << 32 ^ s->ver) *
	                 0x9E3779B97F4A7C15ull |
	             1;
	uint64_t r = 0;

	memcpy(dst, head, n < s->len ? n : s->len);
	for (size_t i = n; i < s->len; i++) {
		if ((i & 7) == 0 || i == n)
			r = stress_rnd(&x);
		dst[i] = (char)('a' + ((r >> ((i & 7) * 8)) & 15));
	}
}

size_t
stress_value_render(
    const struct stress_value *v, char who, int id, int k, char *dst)
{
	size_t len = 0;

	if (v->numeric)
		return (size_t)sprintf(dst, "%" PRIu64, v->num);
	for (int i = 0; i < v->nseg; i++) {
		stress_seg_fill(dst + len, who, id, k, &v->seg[i]);
		len += v->seg[i].len;
	}
	return len;
}

bool
stress_value_is(const struct stress_value *v, const char *want, size_t wantlen,
    const char *data, size_t n)
{
	size_t d = 0;

	if (!v->numeric)
		return n == wantlen && memcmp(data, want, n) == 0;
	while (d < n && data[d] >= '0' && data[d] <= '9')
		d++;
	for (size_t i = d; i < n; i++)
		if (data[i] != ' ')
			d = 0;
	return d == wantlen && memcmp(data, want, wantlen) == 0;
}

/* qsort order of CAS log entries: by cas. */
static int
stress_caslog_cmp(const void *a, const void *b)
{
	const struct stress_caslog *x = a, *y = b;

	return x->cas < y->cas ? -1 : x->cas > y->cas;
}

void
stress_cas_unique(uint64_t seed, const char *who, unsigned keys,
    struct stress_caslog *const logs[], const size_t counts[], int nlogs)
{
	size_t n = 0, total = 0;
	struct stress_caslog *all;

	for (int i = 0; i < nlogs; i++)
		total += counts[i];
	all = malloc((total + 1) * sizeof *all);
	ck_assert_ptr_nonnull(all);
	for (int i = 0; i < nlogs; i++) {
		memcpy(all + n, logs[i], counts[i] * sizeof *all);
		n += counts[i];
	}
	qsort(all, n, sizeof *all, stress_caslog_cmp);
	for (size_t i = 1; i < n; i++)
		ck_assert_msg(all[i].cas != all[i - 1].cas ||
		                  (all[i].owner == all[i - 1].owner &&
		                      all[i].ver == all[i - 1].ver),
		    "seed %" PRIu64 ": cas %" PRIu64
		    " names %s %u key %u version %u and %s %u key %u "
		    "version %u",
		    seed, all[i].cas, who, all[i - 1].owner / keys,
		    all[i - 1].owner % keys, all[i - 1].ver, who,
		    all[i].owner / keys, all[i].owner % keys, all[i].ver);
	free(all);
}
