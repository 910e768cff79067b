/* What the two seeded stress tests share (test_stress_cache drives the
 * store, test_stress_server the server over TCP): their seeds and run
 * time from the environment, the random generator, and the model of a
 * value: a number, or segments each filled from (who, key, version), so
 * the bytes of another key or version show; and the check that no CAS
 * unique names two stored versions. Nothing here needs a floor. */
#ifndef TL_STRESS_H
#define TL_STRESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Segments a value may be built of by append and prepend. */
#define STRESS_SEGS_MAX 6

/* Seeds: STRESS_SEED=N alone, or the n defaults; into seeds (room for
 * n), their count returned. STRESS_SECONDS (default 6) is the run time
 * of them all: *each gets its share. */
int stress_seeds(
    uint64_t *seeds, const uint64_t *defaults, int n, double *each);
/* The monotonic clock in milliseconds, for a run's deadline. */
long long stress_now_ms(void);
/* xorshift64*: the one source of every random choice, per thread. */
uint64_t stress_rnd(uint64_t *);
/* A number for a value or a delta, near 0, near 2^64 or anywhere, so
 * incr wraps and decr floors. */
uint64_t stress_num_pick(uint64_t *);

struct stress_seg {
	uint32_t ver;
	uint32_t len;
};

struct stress_value {
	bool numeric;
	uint64_t num;
	uint32_t flags;
	int nseg;
	struct stress_seg seg[STRESS_SEGS_MAX];
	size_t len;
};

/* The bytes of value v of key k of thread or client id (its letter who:
 * 't' or 'c') into dst; their length. */
size_t stress_value_render(
    const struct stress_value *v, char who, int id, int k, char *dst);
/* Is data (n bytes) v, rendered as want (wantlen bytes)? Numbers compare
 * as numbers before trailing spaces: incr and decr keep a value's
 * length. */
bool stress_value_is(const struct stress_value *v, const char *want,
    size_t wantlen, const char *data, size_t n);

/* A CAS unique seen, and whose version it named. */
struct stress_caslog {
	uint64_t cas;
	uint32_t owner; /* thread or client * keys + key */
	uint32_t ver;
};

/* Fail unless each cas of the n logs names one version of one key; who
 * names the owners ("thread", "client") in the message. */
void stress_cas_unique(uint64_t seed, const char *who, unsigned keys,
    struct stress_caslog *const logs[], const size_t counts[], int n);

#endif
