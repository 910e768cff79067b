/* A real Prometheus server (Debian's prometheus) scrapes the admin
 * thread's /metrics, and its query API then answers with a series of one
 * named thread. */
#include <check.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness.h"

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

START_TEST(test_prometheus_scrapes)
{
	struct harness_server srv;
	char prom[HARNESS_PATH_MAX], conf[HARNESS_PATH_MAX],
	    data[HARNESS_PATH_MAX], text[512], flag[3][HARNESS_PATH_MAX + 32];
	long long deadline;
	int aport, pport, fd;

	if (!harness_which("prometheus", prom, sizeof prom)) {
		harness_skip("prometheus is not installed");
		return;
	}
	harness_server_start(&srv, "srv", 2, NULL);
	aport = harness_admin_port(&srv);
	/* Commands, so the worker series has something to count. */
	fd = harness_connect(srv.port);
	harness_cmd(fd, "set k 0 0 1\r\nx\r\n", "\r\n", text, sizeof text);
	harness_close(fd);

	harness_path(conf, sizeof conf, "prometheus.yml");
	snprintf(text, sizeof text,
	    "global:\n  scrape_interval: 1s\n"
	    "scrape_configs:\n  - job_name: threadline\n"
	    "    static_configs:\n      - targets: ['127.0.0.1:%d']\n",
	    aport);
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
	ck_assert_int_eq(harness_server_stop(&srv), 0);
}
END_TEST

int
main(void)
{
	const TTest *tests[] = {test_prometheus_scrapes, NULL};

	return harness_run_suite(
	    &(struct harness_suite){.name = "prometheus", .timeout = 90},
	    tests);
}
