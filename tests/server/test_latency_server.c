/* Request latencies against the real server: "stats latency" counts each
 * worker's requests per class, its percentiles are ordered, "stats reset"
 * starts them again, and "stats threads" shows each worker's p50 and
 * p99. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

#define REPLY_MAX (256 * 1024)

static struct harness_server srv;
static char reply[REPLY_MAX];

/* The number "STAT key N" gives in r; fails when it is missing. */
static unsigned long long
num(const char *r, const char *key)
{
	char v[64];

	ck_assert_msg(harness_stat(r, key, v, sizeof v), "no STAT %s", key);
	return strtoull(v, NULL, 10);
}

/* "stats latency", read over a connection of its own. */
static void
latency(void)
{
	int fd = harness_connect(srv.port);

	harness_cmd(fd, "stats latency\r\n", "END\r\n", reply, sizeof reply);
	harness_close(fd);
}

/* p50 <= p90 <= p99 <= p999 <= max for the histogram named prefix. */
static void
check_order(const char *prefix)
{
	static const char *const q[] = {
	    "p50_us", "p90_us", "p99_us", "p999_us", "max_us"};
	char key[96];
	unsigned long long last = 0;

	for (size_t i = 0; i < sizeof q / sizeof q[0]; i++) {
		unsigned long long v;

		snprintf(key, sizeof key, "%s:%s", prefix, q[i]);
		v = num(reply, key);
		ck_assert_msg(v >= last, "%s %llu < %llu", key, v, last);
		last = v;
	}
}

/* n requests of each kind on fd, read one by one. */
static void
drive(int fd, int n)
{
	char req[128];

	for (int i = 0; i < n; i++) {
		snprintf(req, sizeof req, "set k%d 0 0 1\r\nx\r\n", i);
		harness_cmd(fd, req, "\r\n", reply, sizeof reply);
		snprintf(req, sizeof req, "get k%d\r\n", i);
		harness_cmd(fd, req, "END\r\n", reply, sizeof reply);
	}
	harness_cmd(fd, "incr k0 1\r\n", "\r\n", reply, sizeof reply);
	harness_cmd(fd, "delete k0\r\n", "\r\n", reply, sizeof reply);
	harness_cmd(fd, "touch k1 0\r\n", "\r\n", reply, sizeof reply);
	harness_cmd(fd, "mn\r\n", "MN\r\n", reply, sizeof reply);
	/* A pipeline: each request ends where the next begins. */
	harness_cmd(fd, "get k1\r\nget k2\r\nget k3\r\n", "END\r\nVALUE k3",
	    reply, sizeof reply);
}

START_TEST(test_counts_per_worker)
{
	static const char *const cls[] = {
	    "get", "set", "delete", "arith", "touch", "meta", "other"};
	unsigned long long w0, w1;
	int a, b;

	harness_server_start(&srv, "srv", 2, NULL);
	/* Connections go round-robin: two in a row land on both workers. */
	a = harness_connect(srv.port);
	b = harness_connect(srv.port);
	drive(a, 10);
	drive(b, 20);
	harness_close(a);
	harness_close(b);
	latency();
	w0 = num(reply, "worker-0:get:count");
	w1 = num(reply, "worker-1:get:count");
	ck_assert_msg((w0 == 13 && w1 == 23) || (w0 == 23 && w1 == 13),
	    "gets per worker: %llu and %llu", w0, w1);
	ck_assert_uint_eq(num(reply, "get:count"), 36);
	ck_assert_uint_eq(num(reply, "set:count"), 30);
	ck_assert_uint_eq(
	    num(reply, "worker-0:set:count") + num(reply, "worker-1:set:count"),
	    30);
	ck_assert_uint_eq(num(reply, "arith:count"), 2);
	ck_assert_uint_eq(num(reply, "delete:count"), 2);
	ck_assert_uint_eq(num(reply, "touch:count"), 2);
	ck_assert_uint_eq(num(reply, "meta:count"), 2);
	for (size_t i = 0; i < sizeof cls / sizeof cls[0]; i++) {
		char prefix[64];

		check_order(cls[i]);
		snprintf(prefix, sizeof prefix, "worker-0:%s", cls[i]);
		check_order(prefix);
		snprintf(prefix, sizeof prefix, "worker-1:%s", cls[i]);
		check_order(prefix);
	}
	ck_assert_ptr_nonnull(strstr(reply, "STAT thread worker-"));
	/* stats threads: each worker's p50 and p99 over every class. */
	a = harness_connect(srv.port);
	harness_cmd(a, "stats threads\r\n", "END\r\n", reply, sizeof reply);
	ck_assert_uint_le(num(reply, "worker-0:latency_p50_us"),
	    num(reply, "worker-0:latency_p99_us"));
	ck_assert_uint_le(num(reply, "worker-1:latency_p50_us"),
	    num(reply, "worker-1:latency_p99_us"));
	/* A reset starts the counts again; the stats requests before it
	 * (class other) are gone with the rest. */
	harness_cmd(a, "stats reset\r\n", "RESET\r\n", reply, sizeof reply);
	harness_close(a);
	latency();
	ck_assert_uint_eq(num(reply, "get:count"), 0);
	ck_assert_uint_eq(num(reply, "get:p99_us"), 0);
	ck_assert_uint_eq(num(reply, "get:max_us"), 0);
	ck_assert_uint_eq(num(reply, "other:count"), 1); /* the reset */
	a = harness_connect(srv.port);
	harness_cmd(a, "get k5\r\n", "END\r\n", reply, sizeof reply);
	harness_close(a);
	latency();
	ck_assert_uint_eq(num(reply, "get:count"), 1);
	check_order("get");
}
END_TEST

/* slow_us 1: every request is slow (its time is rounded up), so the
 * lines and the rate limit are checked without timing luck. A pipeline of
 * 50 requests on one worker logs 10 in its second; one more a second
 * later logs, with the 40 left out; nothing goes unaccounted. */
START_TEST(test_slow_log)
{
	static const char *const args[] = {"--slow-us", "1", NULL};
	char req[50 * 32], *p = req, line[1024];
	const char *text, *s;
	size_t lines = 0;
	unsigned long suppressed = 0;
	int fd;

	harness_server_start(&srv, "srv", 1, args);
	fd = harness_connect(srv.port);
	/* The first is logged, whatever the second: a key with a control
	 * byte and a backslash, which the log's text format escapes. */
	p += sprintf(p, "get a\001b\\c\r\n");
	for (int i = 1; i < 50; i++)
		p += sprintf(p, "get k%02d\r\n", i);
	harness_cmd(fd, req, "END\r\n", reply, sizeof reply);
	/* Everything answered: the 50th END is there. */
	while (harness_count(reply, "END\r\n") < 50) {
		size_t n = strlen(reply);
		bool eof;

		harness_recv(fd, reply + n, sizeof reply - n, "END\r\n", 0,
		    HARNESS_DEADLINE_MS, &eof);
	}
	/* Past the rate limit's second: the next slow request logs again. */
	nanosleep(&(struct timespec){1, 100 * 1000 * 1000}, NULL);
	harness_cmd(fd, "touch last 0\r\n", "\r\n", reply, sizeof reply);
	ck_assert_msg(
	    harness_file_wait(srv.log, "key=last", HARNESS_DEADLINE_MS),
	    "no slow line for the last request");
	harness_close(fd);
	text = harness_file_read(srv.log);
	ck_assert(harness_line_with(text, "key=last", line, sizeof line));
	ck_assert_msg(
	    strstr(line, " worker-0 warn slow request: conn=") != NULL, "%s",
	    line);
	ck_assert_msg(
	    strstr(line, " cmd=touch keys=1 key=last us=") != NULL, "%s", line);
	/* The peer is the client's address. */
	ck_assert_msg(strstr(line, " peer=127.0.0.1:") != NULL, "%s", line);
	for (s = text; (s = strstr(s, "slow request: ")) != NULL; s++) {
		const char *q = strstr(s, " suppressed=");

		ck_assert_ptr_nonnull(q);
		suppressed += strtoul(q + 12, NULL, 10);
		lines++;
	}
	/* 51 requests: each has a line or is counted in one. */
	ck_assert_uint_eq(lines + suppressed, 51);
	ck_assert_msg(lines <= 20 && suppressed >= 31,
	    "%zu lines, %lu suppressed: the limit is 10 a second", lines,
	    suppressed);
	ck_assert_msg(
	    strstr(text, "cmd=get keys=1 key=a\\x01b\\\\c us=") != NULL, "%s",
	    text);
	free((void *)text);
}
END_TEST

/* access_log on|off: lines appear only while on, each with its key; the
 * sequence is closed by a request logged after the others, so what is
 * missing is known missing, not late. */
START_TEST(test_access_switch)
{
	char *text, line[1024];
	int fd;

	harness_server_start(&srv, "srv", 2, NULL);
	fd = harness_connect(srv.port);
	harness_cmd(fd, "get off1\r\n", "END\r\n", reply, sizeof reply);
	harness_cmd(fd, "access_log on\r\n", "\r\n", reply, sizeof reply);
	ck_assert_str_eq(reply, "OK\r\n");
	harness_cmd(fd, "set on1 0 0 1\r\nx\r\n", "\r\n", reply, sizeof reply);
	harness_cmd(fd, "gat 0 on1 on2\r\n", "END\r\n", reply, sizeof reply);
	harness_cmd(fd, "access_log off\r\n", "\r\n", reply, sizeof reply);
	ck_assert_str_eq(reply, "OK\r\n");
	harness_cmd(fd, "get off2\r\n", "END\r\n", reply, sizeof reply);
	harness_cmd(fd, "access_log maybe\r\n", "\r\n", reply, sizeof reply);
	ck_assert_str_eq(reply, "CLIENT_ERROR usage: access_log on|off\r\n");
	harness_cmd(fd, "access_log on noreply\r\nmn\r\n", "MN\r\n", reply,
	    sizeof reply);
	ck_assert_str_eq(reply, "MN\r\n");
	harness_cmd(fd, "get last\r\n", "END\r\n", reply, sizeof reply);
	ck_assert(harness_file_wait(srv.log, "key=last", HARNESS_DEADLINE_MS));
	harness_close(fd);
	text = harness_file_read(srv.log);
	ck_assert_ptr_null(strstr(text, "key=off"));
	ck_assert(harness_line_with(text, " key=on1 ", line, sizeof line));
	ck_assert_msg(
	    strstr(line, " info access conn=") != NULL &&
	        strstr(line, " cmd=set keys=1 key=on1 result=stored "),
	    "%s", line);
	/* gat: the first key, after the exptime. */
	ck_assert_ptr_nonnull(
	    strstr(text, " cmd=gat keys=2 key=on1 result=partial us="));
	ck_assert_ptr_nonnull(strstr(text, " cmd=mn keys=0 result=mn "));
	ck_assert_uint_eq(
	    harness_count(text, "access log turned on by a client"), 2);
	ck_assert_uint_eq(
	    harness_count(text, "access log turned off by a client"), 1);
	free(text);
}
END_TEST

int
main(void)
{
	const TTest *tests[] = {
	    test_counts_per_worker, test_slow_log, test_access_switch, NULL};

	return harness_run_suite(
	    &(struct harness_suite){
	        .name = "latency_server", .server = &srv, .timeout = 120},
	    tests);
}
