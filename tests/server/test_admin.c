/* The admin thread against the real server: its HTTP address from the
 * log, each page over a plain socket, JSON and the Prometheus format
 * checked by Debian's python3 (and promtool when installed),
 * bad requests refused, and the thread itself in /proc. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

#define RESP_MAX (256 * 1024)
#define PYTHON   "/usr/bin/python3"

static struct harness_server srv;
static char resp[RESP_MAX];

/* Send raw bytes on a connection of their own, the whole response in
 * resp; returns the status code. */
static int
http_raw(int port, const char *req, size_t len)
{
	return harness_http(port, req, len, resp, sizeof resp);
}

/* One request; its response names the admin thread. */
static int
http(int port, const char *method, const char *path, const char *headers)
{
	char req[1024];
	int code;

	snprintf(req, sizeof req,
	    "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n%s\r\n",
	    method, path, headers != NULL ? headers : "");
	code = http_raw(port, req, strlen(req));
	ck_assert_msg(strstr(resp, "\r\nX-Served-By: admin\r\n") != NULL,
	    "%s %s: no X-Served-By: %s", method, path, resp);
	return code;
}

/* The body of the response in resp. */
static const char *
body(void)
{
	const char *p = strstr(resp, "\r\n\r\n");

	ck_assert_msg(p != NULL, "no end of headers: %s", resp);
	return p + 4;
}

/* Run python3 code on the body (saved as DIR/tag.body, sys.argv[1]);
 * it exits non-zero, with a message, when a check fails. */
static void
python_check(const char *tag, const char *code)
{
	char path[HARNESS_PATH_MAX], name[128];
	pid_t pid;
	int status;
	char *err;

	snprintf(name, sizeof name, "%s.body", tag);
	harness_path(path, sizeof path, name);
	harness_file_write(path, body());
	pid = harness_spawn_prog(
	    PYTHON, tag, (const char *const[]){"-c", code, path, NULL});
	status = harness_wait(pid, HARNESS_DEADLINE_MS);
	err = harness_output(tag, "err");
	ck_assert_msg(
	    status == 0, "%s: python3 exited %d: %s", tag, status, err);
	free(err);
}

/* /status and /threads: JSON naming the thread that served them, every
 * thread of the process, every worker with its counters. */
START_TEST(test_status_and_threads)
{
	char reply[256];
	int port, fd;
	pid_t tid;

	harness_server_start(&srv, "srv", 3, NULL);
	port = harness_admin_port(&srv);
	ck_assert_msg(harness_thread_named(srv.pid, "admin", &tid),
	    "no thread named admin in /proc/%d/task", (int)srv.pid);
	fd = harness_connect(srv.port);
	harness_cmd(fd, "set k 0 0 1\r\nv\r\n", "\r\n", reply, sizeof reply);
	harness_cmd(fd, "get k\r\n", "END\r\n", reply, sizeof reply);
	harness_close(fd);

	ck_assert_int_eq(http(port, "GET", "/status", NULL), 200);
	ck_assert_ptr_nonnull(
	    strstr(resp, "\r\nContent-Type: application/json\r\n"));
	python_check("status",
	    "import json, os, sys\n"
	    "d = json.load(open(sys.argv[1]))\n"
	    "assert d['served_by'] == 'admin', d\n"
	    "assert isinstance(d['pid'], int) and d['uptime'] >= 0, d\n"
	    "assert d['version'], d\n"
	    "assert d['settings']['server.threads'] == '3', d\n"
	    "assert d['settings']['admin.listen'] == '127.0.0.1:0', d\n"
	    "names = {t['name']: t for t in d['threads']}\n"
	    "for n in ['threadlined', 'logger', 'accept', 'maint', "
	    "'worker-0', 'worker-1', 'worker-2', 'admin']:\n"
	    "    assert n in names, (n, names)\n"
	    "    assert names[n]['tid'] > 0, names[n]\n"
	    "assert names['admin']['role'] == 'admin', names\n");

	ck_assert_int_eq(http(port, "GET", "/threads", NULL), 200);
	python_check("threads",
	    "import json, sys\n"
	    "d = json.load(open(sys.argv[1]))\n"
	    "assert d['served_by'] == 'admin', d\n"
	    "ts = d['threads']\n"
	    "ws = [t for t in ts if t['role'] == 'worker']\n"
	    "assert sorted(t['name'] for t in ws) == "
	    "['worker-0', 'worker-1', 'worker-2'], ws\n"
	    "for t in ts:\n"
	    "    for k in ['name', 'role', 'tid', 'cpu_user', 'cpu_system', "
	    "'log_level', 'log_dropped']:\n"
	    "        assert k in t, (k, t)\n"
	    "    assert t['cpu_user'] >= 0 and t['cpu_system'] >= 0, t\n"
	    "for t in ws:\n"
	    "    for k in ['connections', 'commands', 'bytes_read', "
	    "'bytes_written', 'p50_us', 'p99_us']:\n"
	    "        assert k in t, (k, t)\n"
	    "assert sum(t['commands'] for t in ws) >= 2, ws\n"
	    "assert sum(t['bytes_read'] for t in ws) > 0, ws\n"
	    "lg = [t for t in ts if t['role'] == 'logger'][0]\n"
	    "assert lg['lines_written'] > 0, lg\n"
	    "assert any(t['name'] == 'admin' for t in ts), ts\n");
	ck_assert_int_eq(http(port, "HEAD", "/threads", NULL), 200);
}
END_TEST

/* /metrics: the Prometheus text format, every line a comment or a
 * sample of a family declared before it, memcached_exporter's names with
 * figures that moved, one CPU sample per thread and mode; promtool's
 * checks pass when it is installed. */
START_TEST(test_metrics)
{
	char reply[256], promtool[HARNESS_PATH_MAX],
	    cmd[2 * HARNESS_PATH_MAX + 32];
	char path[HARNESS_PATH_MAX], *err;
	int port, fd, status;

	harness_server_start(&srv, "srv", 2, NULL);
	port = harness_admin_port(&srv);
	fd = harness_connect(srv.port);
	harness_cmd(fd, "set k 0 0 1\r\nv\r\n", "\r\n", reply, sizeof reply);
	harness_cmd(fd, "get k\r\n", "END\r\n", reply, sizeof reply);
	harness_cmd(fd, "get nokey\r\n", "END\r\n", reply, sizeof reply);
	harness_cmd(fd, "delete nokey\r\n", "\r\n", reply, sizeof reply);

	ck_assert_int_eq(http(port, "GET", "/metrics", NULL), 200);
	ck_assert_ptr_nonnull(strstr(resp, "\r\nContent-Type: text/plain; "
	                                   "version=0.0.4; charset=utf-8\r\n"));
	python_check("metrics",
	    "import re, sys\n"
	    "types, samples = {}, {}\n"
	    "sample = re.compile(r'([a-z_]+)(\\{[^}]*\\})? "
	    "([0-9]+(\\.[0-9]+)?)$')\n"
	    "for l in open(sys.argv[1]).read().splitlines():\n"
	    "    if l.startswith('# HELP '):\n"
	    "        continue\n"
	    "    if l.startswith('# TYPE '):\n"
	    "        _, _, n, t = l.split(' ')\n"
	    "        assert t in ('counter', 'gauge', 'histogram'), l\n"
	    "        assert (t == 'counter') == n.endswith('_total'), l\n"
	    "        types[n] = t\n"
	    "        continue\n"
	    "    m = sample.match(l)\n"
	    "    assert m, 'bad line: ' + l\n"
	    "    fam = re.sub(r'_(bucket|sum|count)$', '', m.group(1))\n"
	    "    assert m.group(1) in types or types.get(fam) == "
	    "'histogram', 'undeclared: ' + l\n"
	    "    samples[m.group(1) + (m.group(2) or '')] = float(m.group(3))\n"
	    "def v(k):\n"
	    "    assert k in samples, (k, sorted(samples))\n"
	    "    return samples[k]\n"
	    "assert v('memcached_up') == 1\n"
	    "assert v('memcached_version{version=\"' + "
	    "[k for k in samples if k.startswith('memcached_version')][0]"
	    ".split('\"')[1] + '\"}') == 1\n"
	    "assert v('memcached_current_connections') >= 1\n"
	    "assert v('memcached_connections_total') >= 1\n"
	    "assert v('memcached_current_items') == 1\n"
	    "assert v('memcached_items_total') == 1\n"
	    "assert v('memcached_items_evicted_total') == 0\n"
	    "assert v('memcached_read_bytes_total') > 0\n"
	    "assert v('memcached_written_bytes_total') > 0\n"
	    "assert v('memcached_limit_bytes') == 64 << 20\n"
	    "assert v('memcached_current_bytes') > 0\n"
	    "assert v('memcached_max_connections') == 1024\n"
	    "assert v('memcached_uptime_seconds') >= 0\n"
	    "c = 'memcached_commands_total{command=\"%s\",status=\"%s\"}'\n"
	    "assert v(c % ('get', 'hit')) == 1\n"
	    "assert v(c % ('get', 'miss')) == 1\n"
	    "assert v(c % ('set', 'hit')) == 1\n"
	    "assert v(c % ('delete', 'miss')) == 1\n"
	    "for cmd in ['incr', 'decr', 'touch', 'cas']:\n"
	    "    assert v(c % (cmd, 'hit')) == 0\n"
	    "assert v(c % ('flush', 'hit')) == 0\n"
	    "h = 'threadline_request_duration_seconds_%s{thread=\"%s\","
	    "role=\"worker\",command=\"get\"%s}'\n"
	    "gets = sum(v(h % ('count', w, '')) for w in "
	    "['worker-0', 'worker-1'])\n"
	    "assert gets == 2, gets\n"
	    "for w in ['worker-0', 'worker-1']:\n"
	    "    assert v(h % ('bucket', w, ',le=\"+Inf\"')) == "
	    "v(h % ('count', w, ''))\n"
	    "    assert v(h % ('bucket', w, ',le=\"1e-06\"')) <= "
	    "v(h % ('bucket', w, ',le=\"16.777216\"'))\n"
	    "for t in ['threadlined', 'logger', 'accept', 'maint', "
	    "'worker-0', 'worker-1', 'admin']:\n"
	    "    r = [k for k in samples if k.startswith("
	    "'threadline_thread_cpu_seconds_total{thread=\"' + t + '\"')]\n"
	    "    assert len(r) == 2, (t, r)\n"
	    "    assert "
	    "any('threadline_thread_log_lines_dropped_total{thread=\"'"
	    " + t + '\"' in k for k in samples), t\n"
	    "w = 'threadline_thread_%s{thread=\"worker-%d\",role=\"worker\"}'\n"
	    "assert sum(v(w % ('commands_total', i)) for i in (0, 1)) == 4\n"
	    "assert sum(v(w % ('connections', i)) for i in (0, 1)) == 1\n"
	    "assert sum(v(w % ('read_bytes_total', i)) for i in (0, 1)) > 0\n"
	    "assert sum(v(w % ('written_bytes_total', i)) for i in (0, 1)) > "
	    "0\n"
	    "assert v('threadline_log_lines_written_total') > 0\n"
	    "assert v('threadline_log_lines_failed_total') == 0\n");
	harness_close(fd);

	if (!harness_which("promtool", promtool, sizeof promtool)) {
		harness_skip("promtool is not installed (Debian's prometheus)");
		return;
	}
	harness_path(path, sizeof path, "metrics.body");
	snprintf(cmd, sizeof cmd, "%s check metrics < %s", promtool, path);
	status = harness_wait(harness_spawn_prog("/bin/sh", "promtool",
	                          (const char *const[]){"-c", cmd, NULL}),
	    HARNESS_DEADLINE_MS);
	err = harness_output("promtool", "err");
	ck_assert_msg(
	    status == 0, "promtool check metrics: %d: %s", status, err);
	free(err);
}
END_TEST

/* Unknown paths and methods other than GET and HEAD are refused, in
 * short plain text; evhttp refuses what is not HTTP or too large. */
START_TEST(test_bad_requests)
{
	int port;

	harness_server_start(&srv, "srv", 1, NULL);
	port = harness_admin_port(&srv);
	ck_assert_int_eq(http(port, "GET", "/nope", NULL), 404);
	ck_assert_ptr_nonnull(strstr(resp, "\r\nContent-Type: text/plain"));
	ck_assert_str_eq(body(), "not found\n");
	ck_assert_int_eq(http(port, "POST", "/status", NULL), 405);
	ck_assert_ptr_nonnull(strstr(resp, "\r\nAllow: GET, HEAD\r\n"));
	ck_assert_int_eq(http(port, "DELETE", "/threads", NULL), 405);
	/* What evhttp refuses itself: a request line that is not HTTP,
	 * headers past the limit. */
	ck_assert_int_eq(http_raw(port, "GARBAGE\r\n\r\n", 11), 400);
	{
		static char big[16384];
		size_t n;

		n = (size_t)snprintf(big, sizeof big,
		    "GET /status HTTP/1.1\r\nHost: x\r\nX-Big: ");
		memset(big + n, 'a', 10000);
		n += 10000;
		memcpy(big + n, "\r\n\r\n", 4);
		n += 4;
		ck_assert_int_ge(http_raw(port, big, n), 400);
	}
	/* The server still serves both protocols. */
	ck_assert_int_eq(http(port, "GET", "/status", NULL), 200);
	harness_serves(srv.port, 1);
}
END_TEST

/* With [admin] token set, /status and /threads want it as a bearer
 * token, /metrics does not; neither stats settings nor /status shows it. */
START_TEST(test_token)
{
	char conf[HARNESS_PATH_MAX], reply[64 * 1024];
	int port, fd;

	harness_path(conf, sizeof conf, "admin.conf");
	harness_file_write(conf, "[admin]\ntoken = s3cret-t0ken\n");
	harness_server_start(
	    &srv, "srv", 1, (const char *const[]){"--config", conf, NULL});
	port = harness_admin_port(&srv);
	ck_assert_int_eq(http(port, "GET", "/status", NULL), 401);
	ck_assert_ptr_nonnull(strstr(resp, "\r\nWWW-Authenticate: Bearer\r\n"));
	ck_assert_int_eq(http(port, "GET", "/threads", NULL), 401);
	ck_assert_int_eq(http(port, "GET", "/status",
	                     "Authorization: Bearer wrong-t0ken\r\n"),
	    401);
	ck_assert_int_eq(
	    http(port, "GET", "/status", "Authorization: Bearer s3cret\r\n"),
	    401);
	ck_assert_int_eq(http(port, "GET", "/status",
	                     "Authorization: Bearer s3cret-t0ken\r\n"),
	    200);
	ck_assert_ptr_null(strstr(resp, "s3cret"));
	ck_assert_ptr_nonnull(strstr(resp, "\"admin.token\":\"(hidden)\""));
	ck_assert_int_eq(http(port, "GET", "/threads",
	                     "Authorization: Bearer s3cret-t0ken\r\n"),
	    200);
	ck_assert_int_eq(http(port, "GET", "/metrics", NULL), 200);
	fd = harness_connect(srv.port);
	harness_cmd(fd, "stats settings\r\n", "END\r\n", reply, sizeof reply);
	ck_assert_ptr_null(strstr(reply, "s3cret"));
	ck_assert_ptr_nonnull(strstr(reply, "STAT admin_token (hidden)\r\n"));
	harness_close(fd);
}
END_TEST

/* An empty address turns the admin thread off. */
START_TEST(test_admin_off)
{
	char *log;

	harness_server_start(
	    &srv, "srv", 1, (const char *const[]){"--admin", "", NULL});
	ck_assert(!harness_thread_named(srv.pid, "admin", NULL));
	log = harness_file_read(srv.log);
	ck_assert_ptr_null(strstr(log, "serving admin HTTP"));
	free(log);
	harness_serves(srv.port, 1);
}
END_TEST

int
main(void)
{
	const TTest *tests[] = {test_status_and_threads, test_metrics,
	    test_bad_requests, test_token, test_admin_off, NULL};

	return harness_run_suite(
	    &(struct harness_suite){
	        .name = "admin", .server = &srv, .timeout = 120},
	    tests);
}
