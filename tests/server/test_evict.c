/* Eviction as memcached does it. Each case reproduces one of memcached's own
 * tests and was first run by hand against Debian's memcached 1.6.18 (-t 2,
 * a Python client doing exactly what the case does); the numbers it gave are
 * in the comments. Every value is checked byte for byte, so a hit on a torn
 * or misplaced value fails as surely as a miss. */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

/* Largest value any case stores, and room for a whole set or get reply
 * around it. */
#define VALUE_MAX (1024 * 1024)
#define REPLY_MAX (VALUE_MAX + 512)

static struct harness_server srv;
static char value[VALUE_MAX], request[REPLY_MAX], expect[REPLY_MAX],
    reply[REPLY_MAX];

/* Each case needs its own memory limit, so it starts its own server. */
static int
start(const char *const args[])
{
	harness_server_start(&srv, "srv", 2, args);
	return harness_connect(srv.port);
}

/* A value that names its item and every 16-byte block's offset
 * ("    12   524288\n"), so a value swapped, torn or shifted never compares
 * equal. */
static void
fill(char *buf, int item, size_t n)
{
	char block[40];

	for (size_t off = 0; off < n; off += 16) {
		/* item < 10^6 and off < 10^8: 16 bytes. */
		snprintf(block, sizeof block, "%6d %8zu\n", item % 1000000,
		    off % 100000000);
		memcpy(buf + off, block, n - off < 16 ? n - off : 16);
	}
}

/* set key to the n bytes at val; anything but STORED fails the test. The
 * request goes in one send: a trailing "\r\n" sent on its own would wait
 * for the server's delayed ACK (Nagle), 40 ms a set. */
static void
store(int fd, const char *key, const char *val, size_t n)
{
	size_t head = (size_t)snprintf(
	    request, sizeof request, "set %s 0 0 %zu\r\n", key, n);
	char buf[256];

	memcpy(request + head, val, n);
	memcpy(request + head + n, "\r\n", 2);
	harness_send(fd, request, head + n + 2);
	harness_recv(fd, buf, sizeof buf, "\r\n", 0, HARNESS_DEADLINE_MS, NULL);
	ck_assert_msg(strcmp(buf, "STORED\r\n") == 0,
	    "set %s (%zu bytes): got '%.*s', want STORED", key, n,
	    (int)strcspn(buf, "\r\n"), buf);
}

/* get key: false on a miss, true on a hit with exactly the n bytes at val;
 * any other reply fails the test, naming the first byte that differs. */
static bool
fetch(int fd, const char *key, const char *val, size_t n)
{
	char line[320];
	size_t head, len, got, at = 0;

	snprintf(line, sizeof line, "get %s\r\n", key);
	harness_sends(fd, line);
	head = (size_t)snprintf(
	    expect, sizeof expect, "VALUE %s 0 %zu\r\n", key, n);
	memcpy(expect + head, val, n);
	memcpy(expect + head + n, "\r\nEND\r\n", 7);
	len = head + n + 7;
	/* A miss is all of its 5 bytes; a hit is longer, so reading 5 first
	 * never reads into the next reply. */
	got = harness_recv(
	    fd, reply, sizeof reply, NULL, 5, HARNESS_DEADLINE_MS, NULL);
	if (got == 5 && memcmp(reply, "END\r\n", 5) == 0)
		return false;
	if (got == 5)
		got += harness_recv(fd, reply + 5, sizeof reply - 5, NULL,
		    len - 5, HARNESS_DEADLINE_MS, NULL);
	while (at < got && at < len && reply[at] == expect[at])
		at++;
	ck_assert_msg(got == len && at == len,
	    "get %s: a %zu-byte reply, want %zu; first difference at byte %zu "
	    "(the value starts at %zu): got '%.16s', want '%.16s'",
	    key, got, len, at, head, reply + at, expect + at);
	return true;
}

/* memcached's t/chunked-items.t, its 'toast' part (there with -o
 * slab_chunk_max=16384, which memcached also passes without): after a
 * 38,892-byte pattern and five 400 KiB values, 100 values of 573,440 bytes
 * in a 48 MB cache, each read back at once. The store must make room by
 * evicting older items, never the one it is storing. memcached 1.6.18:
 * every set STORED and every get hit (23 evictions; 26 with the chunk
 * option). */
START_TEST(test_chunked_toast)
{
	const char *args[] = {"-m", "48", NULL};
	static const char phrase[] = "a big value that's > .5M and < 1M. ";
	int fd = start(args);
	char key[32];
	size_t n = 0;

	/* join(':', 1 .. 8000), as the original builds it. */
	for (int i = 1; i <= 8000; i++)
		n += (size_t)snprintf(
		    value + n, sizeof value - n, i == 1 ? "%d" : ":%d", i);
	store(fd, "pattern", value, n);
	ck_assert_msg(fetch(fd, "pattern", value, n), "get pattern missed");
	memset(value, 'x', 400 * 1024);
	for (int i = 1; i <= 5; i++) {
		snprintf(key, sizeof key, "foo%d", i);
		store(fd, key, value, 400 * 1024);
	}
	/* The phrase doubled while twice its length is under 1 MiB. */
	n = sizeof phrase - 1;
	memcpy(value, phrase, n);
	for (; n * 2 < VALUE_MAX; n *= 2)
		memcpy(value + n, value, n);
	ck_assert_uint_eq(n, 573440);
	for (int i = 1; i <= 100; i++) {
		snprintf(key, sizeof key, "toast%d", i);
		store(fd, key, value, n);
		ck_assert_msg(fetch(fd, key, value, n),
		    "set %s answered STORED, then get %s missed: the store "
		    "evicted the item it was storing",
		    key, key);
	}
	harness_close(fd);
}
END_TEST

/* In the spirit of memcached's t/lru.t: 100 values of 1 MiB - 250 bytes,
 * one after another, into a 64 MB cache. Eviction is oldest first, so what
 * stays is the newest run. memcached 1.6.18 keeps 63, item_37..item_99 (37
 * evictions), the same on every run; here the newest 50 must all stay and
 * at least 57 (90% of memcached's 63) in all. */
START_TEST(test_lru_order)
{
	const char *args[] = {"-m", "64", NULL};
	const size_t n = 1024 * 1024 - 250;
	int fd = start(args), kept = 0, first = -1;
	bool hit[100];
	char key[32];

	for (int i = 0; i < 100; i++) {
		snprintf(key, sizeof key, "item_%d", i);
		fill(value, i, n);
		store(fd, key, value, n);
	}
	for (int i = 0; i < 100; i++) {
		snprintf(key, sizeof key, "item_%d", i);
		fill(value, i, n);
		hit[i] = fetch(fd, key, value, n);
		kept += hit[i];
		if (hit[i] && first == -1)
			first = i;
	}
	printf("lru: %d of 100 items kept, the oldest item_%d (memcached "
	       "1.6.18: 63, item_37..item_99)\n",
	    kept, first);
	fflush(stdout);
	for (int i = 50; i < 100; i++)
		ck_assert_msg(hit[i],
		    "item_%d missed: the newest 50 (item_50..item_99) must all "
		    "stay; %d of 100 kept",
		    i, kept);
	ck_assert_msg(kept >= 57,
	    "only %d of 100 items kept, want at least 57 (memcached keeps 63)",
	    kept);
	harness_close(fd);
}
END_TEST

/* splitmix64: the same sizes on every run, and in the Python client that
 * checked this case against memcached. */
static uint64_t
next_rand(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15u);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
	return z ^ (z >> 31);
}

/* Mostly small values, some medium, one in ten near the 1 MiB limit, so
 * stores of every size meet a full cache. */
static size_t
mixed_size(uint64_t *s)
{
	uint64_t kind = next_rand(s) % 10, r = next_rand(s);

	if (kind < 6)
		return 1 + r % 2047;
	if (kind < 9)
		return 2048 + r % (128 * 1024 - 2048);
	return 128 * 1024 + r % (1000000 - 128 * 1024);
}

/* No store evicts the item it stores: 400 values of mixed sizes (seeded,
 * 30,012,050 bytes in all) through a 4 MB cache, each read back at once on
 * the same connection. memcached 1.6.18: every set STORED and every get
 * hit, with 53 evictions. */
START_TEST(test_mixed_sizes)
{
	const char *args[] = {"-m", "4", NULL};
	int fd = start(args);
	uint64_t seed = 42;
	char key[32], stats[8192], evictions[32];

	for (int i = 0; i < 400; i++) {
		size_t n = mixed_size(&seed);

		snprintf(key, sizeof key, "mix%d", i);
		fill(value, i, n);
		store(fd, key, value, n);
		ck_assert_msg(fetch(fd, key, value, n),
		    "set %s (%zu bytes) answered STORED, then get %s missed: "
		    "the store evicted the item it was storing",
		    key, n, key);
	}
	/* The case means something only if the cache did fill up. */
	harness_cmd(fd, "stats\r\n", "END\r\n", stats, sizeof stats);
	ck_assert(
	    harness_stat(stats, "evictions", evictions, sizeof evictions));
	ck_assert_msg(
	    atol(evictions) > 0, "no evictions: the cache never filled");
	harness_close(fd);
}
END_TEST

/* One server per case: each needs its own memory limit. */
int
main(void)
{
	const TTest *tests[] = {
	    test_chunked_toast, test_lru_order, test_mixed_sizes, NULL};

	/* The teardown stops each case's server: it must exit 0 after the
	 * churn. */
	return harness_run_suite(
	    &(struct harness_suite){
	        .name = "evict", .server = &srv, .timeout = 120},
	    tests);
}
