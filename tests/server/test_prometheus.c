/* /metrics' conventions (the client libraries' process_ metrics, the
 * build info, memcached_exporter's names, per-thread CPU finer than a
 * tick), then a real Prometheus server (Debian's prometheus) scrapes the
 * admin thread's /metrics, and its query API then answers with a series
 * of one named thread. */
#include <check.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "tl_build.h"

#define RESP_MAX (256 * 1024)

static char resp[RESP_MAX];

/* A port free now, for a program that takes no port 0. */
static int
free_port(void)
{
	struct sockaddr_in sin = {
	    .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof sin;
	int fd = socket(AF_INET, SOCK_STREAM, 0), port;

	ck_assert_int_ne(fd, -1);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sin, sizeof sin), 0);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
	port = ntohs(sin.sin_port);
	close(fd);
	return port;
}

/* GET path from port; the status code, the response in resp; 0 when
 * nothing listens yet. */
static int
http_get(int port, const char *path)
{
	struct sockaddr_in sin = {.sin_family = AF_INET,
	    .sin_port = htons((uint16_t)port),
	    .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	char req[1024];
	int fd = socket(AF_INET, SOCK_STREAM, 0), code = 0;
	bool eof;

	ck_assert_int_ne(fd, -1);
	if (connect(fd, (struct sockaddr *)&sin, sizeof sin) == -1) {
		close(fd);
		return 0;
	}
	snprintf(req, sizeof req,
	    "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
	    path);
	harness_send(fd, req, strlen(req));
	harness_recv_all(fd, resp, sizeof resp, HARNESS_DEADLINE_MS, &eof);
	close(fd);
	if (sscanf(resp, "HTTP/1.%*d %d ", &code) != 1)
		return 0;
	return code;
}

/* The value of the sample line "name value" of the body in resp; the
 * test fails when there is none. */
static double
sample(const char *name)
{
	char want[512];
	const char *p;

	snprintf(want, sizeof want, "\n%s ", name);
	p = strstr(resp, want);
	ck_assert_msg(p != NULL, "/metrics has no %s", name);
	return strtod(p + strlen(want), NULL);
}

/* A thread's CPU seconds in mode m (0 user, 1 system) from resp. */
static double
thread_cpu(const char *thread, const char *role, int m)
{
	char name[256];

	snprintf(name, sizeof name,
	    "threadline_thread_cpu_seconds_total{thread=\"%s\","
	    "role=\"%s\",mode=\"%s\"}",
	    thread, role, m == 0 ? "user" : "system");
	return sample(name);
}

/* The process_ metrics of the client libraries, threadline_build_info,
 * memcached_exporter's yielded and listener-disabled counters (-R 1 and
 * a pipeline make it yield), and each thread's CPU time in nanoseconds:
 * every thread has run, so none shows 0, as 10 ms ticks would. */
START_TEST(test_conventions)
{
	const char *threads[][2] = {{"threadlined", "main"},
	    {"logger", "logger"}, {"accept", "accept"}, {"maint", "maint"},
	    {"worker-0", "worker"}, {"admin", "admin"}};
	char text[16384], want[256], *statm, path[64];
	long page = sysconf(_SC_PAGESIZE);
	double now = (double)time(NULL), fds, rss, yields, disabled;
	double before[6][2];
	struct harness_server srv;
	unsigned long long size = 0, res = 0;
	bool fine = false;
	int aport, fd;

	harness_server_start(
	    &srv, "srv", 1, (const char *const[]){"-R", "1", NULL});
	aport = harness_admin_port(&srv);
	fd = harness_connect(srv.port);
	harness_cmd(fd, "get a\r\nget b\r\nget c\r\nget d\r\n",
	    "END\r\nEND\r\nEND\r\nEND\r\n", text, sizeof text);

	ck_assert_int_eq(http_get(aport, "/metrics"), 200);
	ck_assert(sample("process_cpu_seconds_total") > 0);
	fds = sample("process_open_fds");
	ck_assert_msg(
	    fds >= 3 && fds < sample("process_max_fds"), "open fds %g", fds);
	snprintf(path, sizeof path, "/proc/%d/statm", (int)srv.pid);
	statm = harness_file_read(path);
	ck_assert_ptr_nonnull(statm);
	ck_assert_int_eq(sscanf(statm, "%llu %llu", &size, &res), 2);
	free(statm);
	rss = sample("process_resident_memory_bytes");
	ck_assert_msg(rss > 0.5 * (double)(res * page) &&
	                  rss < 2.0 * (double)(res * page),
	    "rss %g, statm %llu pages", rss, res);
	ck_assert_double_eq_tol(sample("process_virtual_memory_bytes"),
	    (double)(size * page), (double)(size * page) / 4);
	ck_assert_double_eq_tol(sample("process_start_time_seconds"), now, 30);
	snprintf(want, sizeof want,
	    "threadline_build_info{version=\"%s\",memcached_version=\"%s\","
	    "libevent=\"",
	    TL_VERSION, TL_WIRE_VERSION);
	ck_assert_msg(strstr(resp, want) != NULL, "no %s", want);
	yields = sample("memcached_connections_yielded_total");
	disabled = sample("memcached_connections_listener_disabled_total");
	ck_assert_msg(yields > 0, "no yields");
	harness_cmd(fd, "stats\r\n", "END\r\n", text, sizeof text);
	ck_assert(harness_stat(text, "conn_yields", want, sizeof want));
	ck_assert_double_eq(yields, strtod(want, NULL));
	ck_assert(harness_stat(text, "listen_disabled_num", want, sizeof want));
	ck_assert_double_eq(disabled, strtod(want, NULL));
	ck_assert_ptr_nonnull(
	    strstr(resp, "# TYPE memcached_connections_yielded_total counter"));
	ck_assert_ptr_nonnull(strstr(resp,
	    "# TYPE memcached_connections_listener_disabled_total counter"));

	if (access("/proc/self/schedstat", R_OK) != 0) {
		harness_close(fd);
		ck_assert_int_eq(harness_server_stop(&srv), 0);
		harness_skip("no schedstat in /proc (CONFIG_SCHED_INFO)");
		return;
	}
	/* Ticks make every figure a multiple of 10 ms, nanoseconds almost
	 * never: one not a multiple to the microsecond will do. */
	for (size_t i = 0; i < 6; i++) {
		double all;

		before[i][0] = thread_cpu(threads[i][0], threads[i][1], 0);
		before[i][1] = thread_cpu(threads[i][0], threads[i][1], 1);
		all = before[i][0] + before[i][1];
		ck_assert_msg(all > 0, "%s: no CPU time", threads[i][0]);
		if ((long long)(all * 1e6 + 0.5) % 10000 != 0)
			fine = true;
	}
	ck_assert_msg(fine, "every thread's CPU time is whole ticks");
	/* Neither mode goes back from one scrape to the next. */
	harness_cmd(fd, "set k 0 0 1\r\nx\r\n", "\r\n", text, sizeof text);
	ck_assert_int_eq(http_get(aport, "/metrics"), 200);
	for (size_t i = 0; i < 6; i++)
		for (int m = 0; m < 2; m++)
			ck_assert_msg(thread_cpu(threads[i][0], threads[i][1],
			                  m) >= before[i][m],
			    "%s went back", threads[i][0]);
	harness_close(fd);
	ck_assert_int_eq(harness_server_stop(&srv), 0);
}
END_TEST

START_TEST(test_prometheus_scrapes)
{
	struct harness_server srv;
	char prom[HARNESS_PATH_MAX], conf[HARNESS_PATH_MAX],
	    data[HARNESS_PATH_MAX], text[1024], flag[3][HARNESS_PATH_MAX + 32];
	char rules[HARNESS_PATH_MAX], dash[HARNESS_PATH_MAX],
	    script[HARNESS_PATH_MAX], *err;
	const char *cdir = getenv("TL_CONFIG_DIR"),
	           *tdir = getenv("TL_CLIENTS_DIR");
	long long deadline;
	int aport, pport, fd, status;

	if (!harness_which("prometheus", prom, sizeof prom)) {
		harness_skip("prometheus is not installed");
		return;
	}
	ck_assert(cdir != NULL && tdir != NULL);
	snprintf(
	    rules, sizeof rules, "%s/prometheus/threadline-rules.yml", cdir);
	snprintf(dash, sizeof dash, "%s/grafana/threadline.json", cdir);
	snprintf(script, sizeof script, "%s/grafana_queries.py", tdir);
	harness_server_start(&srv, "srv", 2, NULL);
	aport = harness_admin_port(&srv);
	/* Commands, so the worker series has something to count. */
	fd = harness_connect(srv.port);
	harness_cmd(fd, "set k 0 0 1\r\nx\r\n", "\r\n", text, sizeof text);
	harness_close(fd);

	harness_path(conf, sizeof conf, "prometheus.yml");
	snprintf(text, sizeof text,
	    "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
	    "rule_files:\n  - %s\n"
	    "scrape_configs:\n  - job_name: threadline\n"
	    "    static_configs:\n      - targets: ['127.0.0.1:%d']\n",
	    rules, aport);
	harness_file_write(conf, text);
	harness_path(data, sizeof data, "prom-data");
	pport = free_port();
	snprintf(flag[0], sizeof flag[0], "--config.file=%s", conf);
	snprintf(flag[1], sizeof flag[1], "--storage.tsdb.path=%s", data);
	snprintf(flag[2], sizeof flag[2], "--web.listen-address=127.0.0.1:%d",
	    pport);
	harness_spawn_prog(prom, "prometheus",
	    (const char *const[]){flag[0], flag[1], flag[2], NULL});

	/* Prometheus scrapes every second; its API then has worker-0's
	 * commands, labelled with the thread and its role. */
	deadline = harness_now_ms() + 3 * HARNESS_DEADLINE_MS;
	for (;;) {
		int code = http_get(pport,
		    "/api/v1/query?query=threadline_thread_commands_total"
		    "%7Bthread%3D%22worker-0%22%7D");

		if (code == 200 && strstr(resp, "\"thread\":\"worker-0\"") &&
		    strstr(resp, "\"role\":\"worker\"") &&
		    strstr(resp, "\"job\":\"threadline\""))
			break;
		ck_assert_msg(harness_now_ms() < deadline,
		    "prometheus never had worker-0's series (last %d): %s",
		    code, resp);
		harness_nap();
	}
	/* And it saw the target up, scraping memcached_exporter's names. */
	ck_assert_int_eq(
	    http_get(pport, "/api/v1/query?query=memcached_up"), 200);
	ck_assert_msg(strstr(resp, "\"value\":[") && strstr(resp, ",\"1\"]"),
	    "memcached_up is not 1: %s", resp);
	/* The shipped dashboard's every query draws a series there, and the
	 * shipped rules are evaluated without error. */
	snprintf(text, sizeof text, "%d", pport);
	status =
	    harness_wait(harness_spawn_prog("/usr/bin/python3", "grafana",
	                     (const char *const[]){script, dash, text, NULL}),
	        3 * HARNESS_DEADLINE_MS);
	err = harness_output("grafana", "err");
	ck_assert_msg(status == 0, "grafana_queries.py: %d: %s", status, err);
	free(err);
	ck_assert_int_eq(harness_server_stop(&srv), 0);
}
END_TEST

int
main(void)
{
	const TTest *tests[] = {
	    test_conventions, test_prometheus_scrapes, NULL};

	return harness_run_suite(
	    &(struct harness_suite){.name = "prometheus", .timeout = 90},
	    tests);
}
