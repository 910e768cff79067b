/* The admin thread's /logs, /history and / against the real server, over
 * plain sockets: the Server-Sent Events headers, lines of the thread asked
 * for while traffic runs, a bad filter refused, the bound on streams, the
 * token taken from the query, the server's history of its samples, and the
 * dashboard page itself, also in headless Chromium. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"

#define RESP_MAX (64 * 1024)
/* The admin thread's bound on log streams. */
#define STREAMS 16

static struct harness_server srv;
static char resp[RESP_MAX];

/* Send GET path on a new connection, kept open; its socket. */
static int
get(int port, const char *path)
{
	char req[512];
	int fd = harness_connect(port);

	snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
	    path);
	harness_sends(fd, req);
	return fd;
}

/* The status of a whole response to GET path (Connection: close). */
static int
get_all(int port, const char *path)
{
	char req[512];
	int n = snprintf(req, sizeof req,
	    "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
	    path);

	return harness_http(port, req, (size_t)n, resp, sizeof resp);
}

/* Open and close connections to the cache until the stream on fd has a
 * line that has "what", or the deadline passes; the stream so far is in
 * resp. */
static bool
stream_until(int fd, int port, const char *what)
{
	long long deadline = harness_now_ms() + HARNESS_DEADLINE_MS;
	size_t n = 0;
	bool eof = false;

	while (harness_now_ms() < deadline && !eof) {
		char reply[64];
		int c = harness_connect(port);

		harness_cmd(
		    c, "set k 0 0 1\r\nv\r\n", "\r\n", reply, sizeof reply);
		harness_close(c);
		n += harness_recv(
		    fd, resp + n, sizeof resp - n - 1, what, 0, 100, &eof);
		if (strstr(resp, what) != NULL)
			return true;
	}
	return false;
}

/* /logs?thread=worker-0&level=info: an event stream of worker-0's lines,
 * and only of its. */
START_TEST(test_logs_stream)
{
	char *p;
	int port, fd;

	/* -v: the info lines the stream asks for. */
	harness_server_start(&srv, "srv", 2, (const char *const[]){"-v", NULL});
	port = harness_admin_port(&srv);
	fd = get(port, "/logs?thread=worker-0&level=info");
	ck_assert_msg(stream_until(fd, srv.port, " opened\n\n"),
	    "no line of worker-0 in the stream: %s", resp);
	harness_close(fd);
	ck_assert_msg(
	    strncmp(resp, "HTTP/1.1 200 OK\r\n", 17) == 0, "%s", resp);
	ck_assert_ptr_nonnull(
	    strstr(resp, "\r\nContent-Type: text/event-stream\r\n"));
	ck_assert_ptr_nonnull(strstr(resp, "\r\nCache-Control: no-cache\r\n"));
	ck_assert_ptr_nonnull(strstr(resp, "\r\nX-Served-By: admin\r\n"));
	ck_assert_ptr_nonnull(strstr(resp, "data: "));
	for (p = strstr(resp, "data: "); p != NULL;
	     p = strstr(p + 1, "data: ")) {
		char thread[32];

		ck_assert_msg(
		    sscanf(p, "data: %*s %31s", thread) == 1, "%s", p);
		ck_assert_msg(strcmp(thread, "worker-0") == 0,
		    "a line of %s in worker-0's stream: %s", thread, resp);
	}
}
END_TEST

/* A filter watch refuses is refused here too, with its message. */
START_TEST(test_logs_bad_filter)
{
	int port;

	harness_server_start(&srv, "srv", 1, NULL);
	port = harness_admin_port(&srv);
	ck_assert_int_eq(get_all(port, "/logs?level=loud"), 400);
	ck_assert_ptr_nonnull(strstr(resp, "bad watch filter 'level=loud'"));
	ck_assert_int_eq(get_all(port, "/logs?category=nope"), 400);
}
END_TEST

/* The status of GET path, from its headers alone (a stream does not
 * end); the connection is closed. */
static int
head_status(int port, const char *path)
{
	bool eof;
	int fd = get(port, path), code = 0;

	harness_recv(
	    fd, resp, sizeof resp, "\r\n\r\n", 0, HARNESS_DEADLINE_MS, &eof);
	harness_close(fd);
	ck_assert_msg(sscanf(resp, "HTTP/1.1 %d ", &code) == 1,
	    "no status line: %s", resp);
	return code;
}

/* Streams are bounded; one that ends gives its place back. */
START_TEST(test_logs_bound)
{
	int port, fds[STREAMS], code;
	char head[256];
	bool eof;
	long long deadline;

	harness_server_start(&srv, "srv", 1, NULL);
	port = harness_admin_port(&srv);
	for (int i = 0; i < STREAMS; i++) {
		fds[i] = get(port, "/logs?thread=maint");
		harness_recv(fds[i], head, sizeof head, "\r\n\r\n", 0,
		    HARNESS_DEADLINE_MS, &eof);
		ck_assert_msg(
		    strncmp(head, "HTTP/1.1 200", 12) == 0, "%s", head);
	}
	ck_assert_int_eq(head_status(port, "/logs"), 503);
	ck_assert_ptr_nonnull(strstr(resp, "too many log streams"));
	harness_close(fds[0]);
	deadline = harness_now_ms() + HARNESS_DEADLINE_MS;
	while ((code = head_status(port, "/logs")) == 503 &&
	       harness_now_ms() < deadline)
		harness_nap();
	ck_assert_int_eq(code, 200);
	for (int i = 1; i < STREAMS; i++)
		harness_close(fds[i]);
}
END_TEST

/* With [admin] token set, /logs and / take it as ?token= too. */
START_TEST(test_query_token)
{
	char conf[HARNESS_PATH_MAX];
	int port;

	harness_path(conf, sizeof conf, "admin.conf");
	harness_file_write(conf, "[admin]\ntoken = s3cret-t0ken\n");
	harness_server_start(
	    &srv, "srv", 1, (const char *const[]){"--config", conf, NULL});
	port = harness_admin_port(&srv);
	ck_assert_int_eq(head_status(port, "/logs"), 401);
	ck_assert_int_eq(head_status(port, "/logs?token=wrong-t0ken"), 401);
	ck_assert_int_eq(head_status(port, "/logs?token=s3cret-t0ken"), 200);
	ck_assert_int_eq(get_all(port, "/"), 401);
	ck_assert_int_eq(get_all(port, "/?token=s3cret-t0ken"), 200);
	/* The other pages want the header. */
	ck_assert_int_eq(get_all(port, "/status?token=s3cret-t0ken"), 401);
}
END_TEST

/* GET /: one HTML page that names the elements the dashboard fills and
 * loads nothing from elsewhere. */
START_TEST(test_page)
{
	int port;

	harness_server_start(&srv, "srv", 2, NULL);
	port = harness_admin_port(&srv);
	ck_assert_int_eq(get_all(port, "/"), 200);
	ck_assert_ptr_nonnull(
	    strstr(resp, "\r\nContent-Type: text/html; charset=utf-8\r\n"));
	ck_assert_ptr_nonnull(strstr(resp, "<!DOCTYPE html>"));
	ck_assert_ptr_nonnull(strstr(resp, "id=\"threads\" data-refreshes="));
	ck_assert_ptr_nonnull(strstr(resp, "id=\"logs\""));
	ck_assert_ptr_nonnull(strstr(resp, "<canvas id=\"chart\""));
	ck_assert_ptr_nonnull(strstr(resp, "new EventSource(url)"));
	ck_assert_ptr_nonnull(strstr(resp, "<div id=\"summary\">"));
	ck_assert_ptr_nonnull(strstr(resp, "get(\"/history?since=\""));
	ck_assert_ptr_null(strstr(resp, "src=\"http"));
	ck_assert_ptr_null(strstr(resp, "href=\"http"));
	ck_assert_int_eq(get_all(port, "/nothing"), 404);
}
END_TEST

/* The members "key":N of every sample in resp, in order; how many. */
static int
samples_of(const char *key, long long *v, int max)
{
	char pat[32];
	const char *p = strstr(resp, "\"samples\":[");
	int n = 0;

	snprintf(pat, sizeof pat, "\"%s\":", key);
	for (; p != NULL && n < max && (p = strstr(p, pat)) != NULL;
	     p += strlen(pat))
		v[n++] = strtoll(p + strlen(pat), NULL, 10);
	return n;
}

/* GET /history: the ring's shape, samples a second apart by the server's
 * clocks that count the traffic sent meanwhile, and ?since= giving only
 * what came after. */
START_TEST(test_history)
{
	long long t[64], wall[64], hits[64], misses[64], span[64], after[64];
	long long deadline;
	char want[128], reply[256], path[64];
	int port, n = 0, sum_hits, sum_misses;

	harness_server_start(&srv, "srv", 2, NULL);
	port = harness_admin_port(&srv);
	for (int i = 0; i < 5; i++) {
		int fd = harness_connect(srv.port);

		harness_cmd(fd, "set h 0 0 1\r\nx\r\nget h\r\nget none\r\n",
		    "x\r\nEND\r\nEND\r\n", reply, sizeof reply);
		harness_close(fd);
	}
	/* The traffic is in once the samples' hits add up to it. */
	deadline = harness_now_ms() + HARNESS_DEADLINE_MS;
	do {
		harness_nap();
		ck_assert_int_eq(get_all(port, "/history"), 200);
		n = samples_of("t", t, 64);
		sum_hits = sum_misses = 0;
		for (int i = 0; i < samples_of("hits", hits, 64); i++)
			sum_hits += (int)hits[i];
		for (int i = 0; i < samples_of("misses", misses, 64); i++)
			sum_misses += (int)misses[i];
	} while ((n < 3 || sum_hits < 5) && harness_now_ms() < deadline);
	ck_assert_msg(n >= 3 && sum_hits == 5 && sum_misses == 5,
	    "%d samples, %d hits, %d misses: %s", n, sum_hits, sum_misses,
	    resp);
	ck_assert_ptr_nonnull(
	    strstr(resp, "\r\nContent-Type: application/json\r\n"));
	snprintf(want, sizeof want, "{\"instance\":\"127.0.0.1:%d\"", srv.port);
	ck_assert_msg(strstr(resp, want) != NULL, "%s", resp);
	ck_assert_ptr_nonnull(strstr(resp, "\"capacity\":960,"));
	ck_assert_ptr_nonnull(strstr(resp, "\"interval_ms\":1000,"));
	ck_assert_ptr_nonnull(
	    strstr(resp, "\"workers\":[\"worker-0\",\"worker-1\"]"));
	ck_assert_ptr_nonnull(strstr(resp, "\"limit\":67108864,\"items\":1,"));
	ck_assert_ptr_nonnull(
	    strstr(resp, "\"total_hits\":5,\"total_misses\":5,"));
	/* The traffic took a second or two of the three: no gets, no ratio. */
	ck_assert_ptr_nonnull(strstr(resp, "\"hit_ratio\":null,"));
	ck_assert_ptr_nonnull(strstr(resp, "\"ops\":["));
	ck_assert_ptr_nonnull(strstr(resp, "\"p99_us\":["));
	ck_assert_ptr_nonnull(strstr(resp, "\"cpu\":["));
	ck_assert_ptr_null(strstr(resp, "-0.0"));
	ck_assert_int_eq(samples_of("wall", wall, 64), n);
	ck_assert_int_eq(samples_of("span_ms", span, 64), n);
	for (int i = 1; i < n; i++) {
		ck_assert_int_gt(t[i], t[i - 1]);
		ck_assert_int_gt(wall[i], wall[i - 1]);
		/* The span is the server's own time between the two. */
		ck_assert_int_eq(span[i], t[i] - t[i - 1]);
	}
	snprintf(path, sizeof path, "/history?since=%lld", t[n - 2]);
	ck_assert_int_eq(get_all(port, path), 200);
	ck_assert_int_ge(samples_of("t", after, 64), 1);
	ck_assert_int_eq(after[0], t[n - 1]);
}
END_TEST

/* The page in a real browser: headless Chromium, driven over its DevTools
 * protocol by tests/server/clients/dashboard_check.py while traffic flows, sees
 * every worker listed, the numbers refresh, a worker's ops/s above 0 and a
 * log tail of the one thread the page's filter names; its screenshot is
 * saved. */
START_TEST(test_in_chromium)
{
	const char *dir = getenv("TL_CLIENTS_DIR");
	char chromium[HARNESS_PATH_MAX], script[HARNESS_PATH_MAX], url[128],
	    png[HARNESS_PATH_MAX], png_reload[HARNESS_PATH_MAX],
	    png_480[HARNESS_PATH_MAX], cache_port[16], reply[256];
	long long deadline;
	struct stat st;
	pid_t pid;
	int port, code;

	if (!harness_which("chromium", chromium, sizeof chromium)) {
		harness_skip("chromium is not installed");
		return;
	}
	ck_assert_ptr_nonnull(dir);
	snprintf(script, sizeof script, "%s/dashboard_check.py", dir);
	/* -v: the workers' info lines make the page's log tail. */
	harness_server_start(&srv, "srv", 2, (const char *const[]){"-v", NULL});
	port = harness_admin_port(&srv);
	snprintf(url, sizeof url,
	    "http://127.0.0.1:%d/?thread=worker-0&level=info", port);
	harness_path(png, sizeof png, "dashboard.png");
	harness_path(png_reload, sizeof png_reload, "dashboard-reload.png");
	harness_path(png_480, sizeof png_480, "dashboard-480.png");
	snprintf(cache_port, sizeof cache_port, "%d", srv.port);
	pid = harness_spawn_prog("/usr/bin/python3", "chromium",
	    (const char *const[]){script, chromium, url, png,
	        "worker-0,worker-1", "worker-0", cache_port, png_reload,
	        png_480, NULL});
	/* Connections come and go, so both workers answer and log; a hit
	 * and a miss each time: the header's hit ratio is 50.0%. */
	deadline = harness_now_ms() + 12 * HARNESS_DEADLINE_MS;
	for (;;) {
		int fd = harness_connect(srv.port);

		harness_cmd(fd, "set a 0 0 1\r\nx\r\nget nosuch\r\nget a\r\n",
		    "x\r\nEND\r\n", reply, sizeof reply);
		harness_close(fd);
		if ((code = harness_wait(pid, 20)) != -1)
			break;
		ck_assert_msg(harness_now_ms() < deadline,
		    "the Chromium check did not end");
	}
	{
		char *err = harness_output("chromium", "err");

		ck_assert_msg(code == 0, "the dashboard in Chromium: %s", err);
		free(err);
	}
	ck_assert_int_eq(stat(png, &st), 0);
	ck_assert_int_gt(st.st_size, 10000);
}
END_TEST

int
main(void)
{
	const TTest *tests[] = {test_logs_stream, test_logs_bad_filter,
	    test_logs_bound, test_query_token, test_page, test_history,
	    test_in_chromium, NULL};

	return harness_run_suite(
	    &(struct harness_suite){
	        .name = "dashboard", .server = &srv, .timeout = 240},
	    tests);
}
