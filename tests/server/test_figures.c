/* The table of figures against the real server: every row is in each
 * report it names, under that name ("stats", "stats threads", /threads,
 * /metrics summed and per thread). */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "figures.h"
#include "harness.h"

#define RESP_MAX (512 * 1024)

static char stats[RESP_MAX], threads[RESP_MAX], json[RESP_MAX],
    metrics[RESP_MAX];

/* GET path from the admin port into buf. */
static void
get(int port, const char *path, char *buf)
{
	char req[256];

	snprintf(req, sizeof req,
	    "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
	    path);
	ck_assert_int_eq(
	    harness_http(port, req, strlen(req), buf, RESP_MAX), 200);
}

/* What "stats GROUP" answers, to END. */
static void
ask(int fd, const char *cmd, char *buf)
{
	harness_cmd(fd, cmd, "END\r\n", buf, RESP_MAX);
}

/* Whether text has a line that starts with want. */
static bool
has_line(const char *text, const char *want)
{
	size_t n = strlen(want);

	for (const char *p = text; p != NULL && *p != '\0';
	     p = strchr(p, '\n'), p = p != NULL ? p + 1 : NULL)
		if (strncmp(p, want, n) == 0)
			return true;
	return false;
}

/* Row r of the table in the reports it names. */
static void
check_row(const struct obs_row *r)
{
	char want[256];

	if (r->stat != NULL) {
		snprintf(want, sizeof want, "STAT %s ", r->stat);
		ck_assert_msg(has_line(stats, want), "stats has no %s", want);
	}
	if (r->thread != NULL) {
		const char *role = thread_role_name(obs_block_role(r->block));

		snprintf(want, sizeof want, "STAT %s%s:%s ", role,
		    obs_block_role(r->block) == ROLE_WORKER ? "-0" : "",
		    r->thread);
		ck_assert_msg(
		    has_line(threads, want), "stats threads has no %s", want);
	}
	if (r->json != NULL) {
		snprintf(want, sizeof want, ",\"%s\":", r->json);
		ck_assert_msg(
		    strstr(json, want) != NULL, "/threads has no %s", want);
	}
	if (r->prom != NULL) {
		snprintf(want, sizeof want, "%s%s%s%s ", r->prom,
		    r->labels != NULL ? "{" : "",
		    r->labels != NULL ? r->labels : "",
		    r->labels != NULL ? "}" : "");
		ck_assert_msg(
		    has_line(metrics, want), "/metrics has no %s", want);
		snprintf(want, sizeof want, "# TYPE %s %s", r->prom,
		    r->kind == OBS_GAUGE ? "gauge" : "counter");
		ck_assert_msg(
		    has_line(metrics, want), "/metrics has no %s", want);
	}
	if (r->prom_thread != NULL) {
		snprintf(want, sizeof want, "%s{thread=\"", r->prom_thread);
		ck_assert_msg(
		    has_line(metrics, want), "/metrics has no %s", want);
	}
}

START_TEST(test_every_row)
{
	struct harness_server srv;
	int fd, port;

	harness_server_start(&srv, "srv", 2, NULL);
	port = harness_admin_port(&srv);
	fd = harness_connect(srv.port);
	ask(fd, "stats\r\n", stats);
	ask(fd, "stats threads\r\n", threads);
	get(port, "/threads", json);
	get(port, "/metrics", metrics);
	for (int i = 0; i < OBS_NROWS; i++)
		check_row(&obs_rows[i]);
	harness_close(fd);
	ck_assert_int_eq(harness_server_stop(&srv), 0);
}
END_TEST

int
main(void)
{
	const TTest *tests[] = {test_every_row, NULL};

	return harness_run_suite(
	    &(struct harness_suite){.name = "figures", .timeout = 60}, tests);
}
