/* Hot keys per worker against the real server: a skewed set of requests
 * on two connections, each answered by its own worker, and "stats
 * hotkeys", /hotkeys and "threadline hotkeys" each naming the hot key on
 * the worker that answered it, its count within its error bound. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

#define REPLY_MAX (256 * 1024)
#define PYTHON    "/usr/bin/python3"
#define HOT_GETS  300 /* gets of "hot", besides its one set */
#define COLD_KEYS 200 /* keys asked once each: more than a table holds */
#define VLEN      100

static struct harness_server srv;
/* Every request counted: the counts are within their bounds. */
static const char *const exact[] = {"--hotkeys-sample", "1", NULL};
static char reply[REPLY_MAX];

/* The worker that answers fd, from the first line of "stats threads". */
static void
worker_of(int fd, char name[16])
{
	harness_cmd(fd, "stats threads\r\n", "END\r\n", reply, sizeof reply);
	ck_assert_msg(sscanf(reply, "STAT thread %15s", name) == 1 &&
	                  strncmp(name, "worker-", 7) == 0,
	    "stats threads: %.80s", reply);
}

/* The skew: on fd, "hot" set once and asked HOT_GETS times, a third of
 * them in multi-gets with keys asked once each. */
static void
skewed_load(int fd)
{
	char req[256], value[VLEN + 1];

	memset(value, 'v', VLEN);
	value[VLEN] = '\0';
	snprintf(req, sizeof req, "set hot 0 0 %d\r\n%s\r\n", VLEN, value);
	harness_cmd(fd, req, "\r\n", reply, sizeof reply);
	ck_assert_str_eq(reply, "STORED\r\n");
	for (int i = 0; i < HOT_GETS; i++) {
		if (i % 3 == 0 && i / 3 < COLD_KEYS)
			snprintf(
			    req, sizeof req, "get c%d hot c%d\r\n", i, i + 1);
		else
			snprintf(req, sizeof req, "get hot\r\n");
		harness_cmd(fd, req, "END\r\n", reply, sizeof reply);
	}
}

/* STAT NAME:BY:RANK KEY count=C error=E of r, into *count and *error. */
static bool
hot_line(const char *r, const char *worker, const char *by, int rank,
    const char *key, unsigned long long *count, unsigned long long *error)
{
	char want[256];
	const char *p;

	snprintf(want, sizeof want, "STAT %s:%s:%d %s count=", worker, by, rank,
	    key);
	if ((p = strstr(r, want)) == NULL)
		return false;
	return sscanf(p + strlen(want), "%llu error=%llu", count, error) == 2;
}

START_TEST(test_stats_hotkeys)
{
	char w1[16], w2[16], line[128];
	unsigned long long c, e, truth = HOT_GETS + 1;
	int fd1, fd2;

	harness_server_start(&srv, "srv", 2, exact);
	fd1 = harness_connect(srv.port);
	fd2 = harness_connect(srv.port);
	worker_of(fd1, w1);
	worker_of(fd2, w2);
	ck_assert_msg(strcmp(w1, w2) != 0, "both on %s", w1);
	skewed_load(fd1);
	/* The other worker: a key of control bytes (meta's base64 key),
	 * asked more than the rest there. */
	for (int i = 0; i < 5; i++)
		harness_cmd(
		    fd2, "mg AQID b v\r\n", "\r\n", reply, sizeof reply);
	harness_cmd(fd2, "mg other v\r\n", "\r\n", reply, sizeof reply);

	harness_cmd(fd2, "stats hotkeys 3\r\n", "END\r\n", reply, sizeof reply);
	ck_assert_msg(hot_line(reply, w1, "requests", 1, "hot", &c, &e),
	    "no hot key first on %s: %s", w1, reply);
	ck_assert_msg(
	    c >= truth && c - e <= truth, "count=%llu error=%llu", c, e);
	/* Counted by value bytes sent: each of its gets sent VLEN. */
	ck_assert_msg(hot_line(reply, w1, "bytes", 1, "hot", &c, &e),
	    "no hot key first by bytes on %s: %s", w1, reply);
	ck_assert_msg(c >= HOT_GETS * VLEN && c - e <= HOT_GETS * VLEN,
	    "bytes count=%llu error=%llu", c, e);
	snprintf(line, sizeof line, "STAT %s:requests:4 ", w1);
	ck_assert_msg(strstr(reply, line) == NULL, "more than 3: %s", reply);
	/* Keys escaped as memcached's watcher events escape them. */
	ck_assert_msg(hot_line(reply, w2, "requests", 1, "%01%02%03", &c, &e) &&
	                  c == 5 && e == 0,
	    "no %%01%%02%%03 first on %s: %s", w2, reply);
	snprintf(line, sizeof line, "STAT %s:requests_total 6\r\n", w2);
	ck_assert_msg(strstr(reply, line) != NULL, "%s: %s", line, reply);
	snprintf(line, sizeof line, "STAT %s:requests:1 hot ", w2);
	ck_assert_msg(strstr(reply, line) == NULL, "hot on %s: %s", w2, reply);

	/* N is a number from 1; over the capacity it is all there is. */
	harness_cmd(fd2, "stats hotkeys 0\r\n", "\r\n", reply, sizeof reply);
	ck_assert_str_eq(reply, "CLIENT_ERROR bad command line\r\n");
	harness_cmd(fd2, "stats hotkeys x\r\n", "\r\n", reply, sizeof reply);
	ck_assert_str_eq(reply, "CLIENT_ERROR bad command line\r\n");
	harness_cmd(fd2, "stats hotkeys 1 2\r\n", "\r\n", reply, sizeof reply);
	ck_assert_str_eq(reply, "CLIENT_ERROR bad command line\r\n");
	harness_cmd(
	    fd2, "stats hotkeys 100000\r\n", "END\r\n", reply, sizeof reply);
	snprintf(line, sizeof line, "STAT %s:requests:64 ", w1);
	ck_assert_msg(strstr(reply, line) != NULL, "not 64: %s", reply);
	snprintf(line, sizeof line, "STAT %s:requests:65 ", w1);
	ck_assert_msg(strstr(reply, line) == NULL, "over 64: %s", reply);
	harness_close(fd1);
	harness_close(fd2);
}
END_TEST

/* GET path on the admin port; the status code, the response in reply. */
static int
http_get(int port, const char *path)
{
	char req[512];

	snprintf(req, sizeof req,
	    "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
	    path);
	return harness_http(port, req, strlen(req), reply, sizeof reply);
}

START_TEST(test_admin_hotkeys)
{
	char w1[16], path[HARNESS_PATH_MAX], code[1024], *err;
	const char *b;
	int fd, port, status;
	pid_t pid;

	harness_server_start(&srv, "srv", 2, exact);
	port = harness_admin_port(&srv);
	fd = harness_connect(srv.port);
	worker_of(fd, w1);
	skewed_load(fd);
	harness_close(fd);

	ck_assert_int_eq(http_get(port, "/hotkeys?n=0"), 400);
	ck_assert_int_eq(http_get(port, "/hotkeys?n=2"), 200);
	ck_assert_ptr_nonnull(
	    strstr(reply, "\r\nContent-Type: application/json\r\n"));
	ck_assert_ptr_nonnull(b = strstr(reply, "\r\n\r\n"));
	harness_path(path, sizeof path, "hotkeys.json");
	harness_file_write(path, b + 4);
	snprintf(code, sizeof code,
	    "import json, sys\n"
	    "d = json.load(open(sys.argv[1]))\n"
	    "assert d['capacity'] == 64 and d['n'] == 2, d\n"
	    "w = {x['thread']: x for x in d['workers']}\n"
	    "assert set(w) == {'worker-0', 'worker-1'}, d\n"
	    "r = w['%s']['requests']\n"
	    "assert len(r['top']) == 2, r\n"
	    "t = r['top'][0]\n"
	    "assert t['rank'] == 1 and t['key'] == 'hot', r\n"
	    "assert t['count'] >= %d >= t['count'] - t['error'], t\n"
	    "assert r['total'] == %d, r\n"
	    "assert w['%s']['bytes']['top'][0]['key'] == 'hot', d\n",
	    w1, HOT_GETS + 1, HOT_GETS + 1 + 2 * (HOT_GETS / 3), w1);
	pid = harness_spawn_prog(
	    PYTHON, "json", (const char *const[]){"-c", code, path, NULL});
	status = harness_wait(pid, HARNESS_DEADLINE_MS);
	err = harness_output("json", "err");
	ck_assert_msg(status == 0, "python3 exited %d: %s", status, err);
	free(err);
}
END_TEST

START_TEST(test_client_hotkeys)
{
	char w1[16], p[16], want[128];
	char *out;
	int fd, status;
	pid_t pid;

	harness_server_start(&srv, "srv", 2, exact);
	fd = harness_connect(srv.port);
	worker_of(fd, w1);
	skewed_load(fd);
	harness_close(fd);
	snprintf(p, sizeof p, "%d", srv.port);
	pid = harness_spawn_prog(harness_client_bin(), "hot",
	    (const char *const[]){"-p", p, "hotkeys", "2", NULL});
	status = harness_wait(pid, HARNESS_DEADLINE_MS);
	out = harness_output("hot", "out");
	ck_assert_msg(status == 0, "threadline exited %d", status);
	ck_assert_msg(strncmp(out, "WORKER ", 7) == 0, "%s", out);
	/* worker, rank, key, requests, error, bytes: the one key asked
	 * HOT_GETS + 1 times and sent HOT_GETS values. */
	snprintf(want, sizeof want, "\n%-10s %4d %-32s %12d ", w1, 1, "hot",
	    HOT_GETS + 1);
	ck_assert_msg(strstr(out, want) != NULL, "no '%s' in:\n%s", want, out);
	snprintf(want, sizeof want, " %14d\n", HOT_GETS * VLEN);
	ck_assert_msg(strstr(out, want) != NULL, "no bytes in:\n%s", out);
	free(out);
	pid = harness_spawn_prog(harness_client_bin(), "hot0",
	    (const char *const[]){"-p", p, "hotkeys", "0", NULL});
	ck_assert_int_eq(harness_wait(pid, HARNESS_DEADLINE_MS), 2);
}
END_TEST

int
main(void)
{
	const TTest *tests[] = {
	    test_stats_hotkeys, test_admin_hotkeys, test_client_hotkeys, NULL};

	return harness_run_suite(
	    &(struct harness_suite){
	        .name = "hotkeys", .server = &srv, .timeout = 120},
	    tests);
}
