/* Pages between size classes: "slabs automove" recovering the cache after
 * the working set's size shifts, as bench/size-shift measures it. The
 * server starts with -m 64; 5,100 values of 11 KB fill it, then the same
 * number of 3 KB values are set round after round until every one reads
 * back, with a deadline: memcached 1.6.18 reads back 288 a round for ten
 * rounds here, threadlined without moving pages 911. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

#define KEYS     5100
#define OLD_SIZE (11 * 1024)
#define NEW_SIZE (3 * 1024)
#define BATCH    100
/* Rounds take about a second each on a loaded machine; automove moves a
 * page a second. */
#define RECOVER_MS (90 * 1000)

static struct harness_server srv;
static char req[BATCH * (OLD_SIZE + 64)], reply[BATCH * (OLD_SIZE + 64)];

/* Key i's value of n bytes: its number, then a pattern of it. */
static void
fill(char *buf, const char *prefix, int i, size_t n)
{
	int head = snprintf(buf, n, "%s:%d:", prefix, i);

	for (size_t j = (size_t)head; j < n; j++)
		buf[j] = (char)('a' + (i + (int)j) % 26);
}

/* Set every key prefix:N to its value of n bytes, BATCH a send. */
static void
set_all(int fd, const char *prefix, size_t n)
{
	for (int lo = 0; lo < KEYS; lo += BATCH) {
		size_t len = 0, got;

		for (int i = lo; i < lo + BATCH && i < KEYS; i++) {
			len += (size_t)sprintf(
			    req + len, "set %s:%d 0 0 %zu\r\n", prefix, i, n);
			fill(req + len, prefix, i, n);
			memcpy(req + len + n, "\r\n", 2);
			len += n + 2;
		}
		harness_send(fd, req, len);
		/* "STORED\r\n" each, 8 bytes. */
		got = harness_recv(fd, reply, sizeof reply, NULL,
		    8 * (size_t)(lo + BATCH < KEYS ? BATCH : KEYS - lo),
		    HARNESS_DEADLINE_MS, NULL);
		for (size_t k = 0; k < got; k += 8)
			ck_assert_msg(memcmp(reply + k, "STORED\r\n", 8) == 0,
			    "set %s: %.*s", prefix, 8, reply + k);
		ck_assert_uint_gt(got, 0);
	}
}

/* How many prefix:N read back, each checked byte for byte. */
static int
read_back(int fd, const char *prefix, size_t n)
{
	static char want[OLD_SIZE];
	char line[64];
	int hits = 0;

	for (int i = 0; i < KEYS; i++) {
		size_t head;

		snprintf(line, sizeof line, "get %s:%d\r\n", prefix, i);
		harness_sends(fd, line);
		harness_recv(fd, reply, sizeof reply, NULL, 5,
		    HARNESS_DEADLINE_MS, NULL);
		if (memcmp(reply, "END\r\n", 5) == 0)
			continue;
		head = (size_t)snprintf(
		    line, sizeof line, "VALUE %s:%d 0 %zu\r\n", prefix, i, n);
		harness_recv(fd, reply + 5, sizeof reply - 5, NULL,
		    head + n + 7 - 5, HARNESS_DEADLINE_MS, NULL);
		fill(want, prefix, i, n);
		ck_assert_msg(
		    memcmp(reply, line, head) == 0 &&
		        memcmp(reply + head, want, n) == 0 &&
		        memcmp(reply + head + n, "\r\nEND\r\n", 7) == 0,
		    "get %s:%d: a wrong reply", prefix, i);
		hits++;
	}
	return hits;
}

/* After an 11 KB -> 3 KB shift, automove hands the old size's pages to
 * the new one until the whole new working set is held. */
START_TEST(test_automove_recovers)
{
	const char *args[] = {"-m", "64", NULL};
	char buf[16384], v[64];
	int fd, hits = 0, rounds = 0;
	long long deadline;

	harness_server_start(&srv, "srv", 2, args);
	fd = harness_connect(srv.port);
	harness_cmd(fd, "slabs automove 1\r\n", "\r\n", buf, sizeof buf);
	ck_assert_str_eq(buf, "OK\r\n");
	set_all(fd, "old", OLD_SIZE);
	ck_assert_int_gt(read_back(fd, "old", OLD_SIZE), KEYS / 2);
	deadline = harness_now_ms() + RECOVER_MS;
	while (hits < KEYS && harness_now_ms() < deadline) {
		set_all(fd, "new", NEW_SIZE);
		hits = read_back(fd, "new", NEW_SIZE);
		rounds++;
	}
	ck_assert_msg(hits == KEYS, "%d of %d read back after %d rounds", hits,
	    KEYS, rounds);
	harness_cmd(fd, "stats\r\n", "END\r\n", buf, sizeof buf);
	ck_assert(harness_stat(buf, "slabs_moved", v, sizeof v));
	ck_assert_int_gt(atoi(v), 0);
	harness_close(fd);
}
END_TEST

/* slabs reassign by hand: a page of the full class goes to another, its
 * items evicted, and stats counts it. */
START_TEST(test_reassign_by_hand)
{
	const char *args[] = {"-m", "64", NULL};
	char buf[16384], v[64];
	int fd, before;

	harness_server_start(&srv, "srv", 2, args);
	fd = harness_connect(srv.port);
	harness_cmd(fd, "slabs automove 0\r\n", "\r\n", buf, sizeof buf);
	ck_assert_str_eq(buf, "OK\r\n");
	set_all(fd, "old", OLD_SIZE);
	before = read_back(fd, "old", OLD_SIZE);
	harness_cmd(fd, "slabs reassign -1 1\r\n", "\r\n", buf, sizeof buf);
	ck_assert_str_eq(buf, "OK\r\n");
	ck_assert_int_lt(read_back(fd, "old", OLD_SIZE), before);
	harness_cmd(fd, "stats\r\n", "END\r\n", buf, sizeof buf);
	ck_assert(harness_stat(buf, "slabs_moved", v, sizeof v));
	ck_assert_int_eq(atoi(v), 1);
	ck_assert(
	    harness_stat(buf, "slab_reassign_evictions_nomem", v, sizeof v));
	ck_assert_int_eq(atoi(v), before - read_back(fd, "old", OLD_SIZE));
	harness_close(fd);
}
END_TEST

/* -o no_modern and no_lru_crawler start the crawler off, as memcached's
 * t/lru-crawler.t expects; lru_crawler enable turns it on. */
START_TEST(test_no_crawler_at_start)
{
	const char *off[][3] = {{"-o", "no_modern", NULL},
	    {"-o", "no_lru_crawler", NULL}, {"-o", "modern", NULL}};
	const char *names[] = {"no_modern", "no_lru_crawler", "modern"};
	char buf[16384], v[64];

	for (int i = 0; i < 3; i++) {
		int fd;

		harness_server_start(&srv, names[i], 2, off[i]);
		fd = harness_connect(srv.port);
		harness_cmd(
		    fd, "stats settings\r\n", "END\r\n", buf, sizeof buf);
		ck_assert(harness_stat(buf, "lru_crawler", v, sizeof v));
		ck_assert_str_eq(v, i < 2 ? "no" : "yes");
		harness_cmd(
		    fd, "lru_crawler enable\r\n", "\r\n", buf, sizeof buf);
		ck_assert_str_eq(buf, i < 2
		                          ? "OK\r\n"
		                          : "ERROR failed to start lru crawler "
		                            "thread\r\n");
		harness_close(fd);
		ck_assert_int_eq(harness_server_stop(&srv), 0);
	}
}
END_TEST

int
main(void)
{
	const TTest *tests[] = {test_automove_recovers, test_reassign_by_hand,
	    test_no_crawler_at_start, NULL};

	return harness_run_suite(
	    &(struct harness_suite){
	        .name = "slabs", .server = &srv, .timeout = 300},
	    tests);
}
