/* The shipped Grafana dashboard (config/grafana/threadline.json) and
 * Prometheus alert rules (config/prometheus/threadline-rules.yml):
 * promtool check rules passes on the rules, promtool test rules fires
 * each alert on synthetic series, and every metric the dashboard's and
 * the rules' expressions name is on a real server's /metrics. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

#define RESP_MAX (256 * 1024)
#define PYTHON   "/usr/bin/python3"

static struct harness_server srv;
static char resp[RESP_MAX];

/* $var/rel; the test fails when var is unset. */
static void
env_path(char *buf, size_t len, const char *var, const char *rel)
{
	const char *dir = getenv(var);

	ck_assert_msg(dir != NULL, "%s is not set", var);
	snprintf(buf, len, "%s/%s", dir, rel);
}

/* Run promtool with args; its exit code, its output in DIR/tag.*; -1
 * and the test skipped when promtool is not installed. */
static int
promtool(const char *tag, const char *const args[])
{
	char prog[HARNESS_PATH_MAX];

	if (!harness_which("promtool", prog, sizeof prog)) {
		harness_skip("promtool is not installed (Debian's prometheus)");
		return -1;
	}
	return harness_run_prog(prog, tag, args);
}

/* A promtool run that must exit 0, with what it said if not. */
static void
promtool_ok(const char *tag, const char *const args[])
{
	char *out, *err;
	int status;

	if ((status = promtool(tag, args)) == -1)
		return;
	out = harness_output(tag, "out");
	err = harness_output(tag, "err");
	ck_assert_msg(status == 0, "promtool %s %s: exit %d: %s%s", args[0],
	    args[1], status, out, err);
	free(out);
	free(err);
}

START_TEST(test_rules_check)
{
	char rules[HARNESS_PATH_MAX];

	env_path(rules, sizeof rules, "TL_CONFIG_DIR",
	    "prometheus/threadline-rules.yml");
	promtool_ok(
	    "check", (const char *const[]){"check", "rules", rules, NULL});
}
END_TEST

/* tests/server/threadline-rules.test.yml: each alert fires where its
 * series cross the threshold, with its labels and annotations, and not
 * on the series beside them. */
START_TEST(test_rules_fire)
{
	char tests[HARNESS_PATH_MAX];

	env_path(tests, sizeof tests, "TL_CLIENTS_DIR",
	    "../threadline-rules.test.yml");
	promtool_ok(
	    "test", (const char *const[]){"test", "rules", tests, NULL});
}
END_TEST

/* Traffic that moves the series the dashboard draws, then every name in
 * every expression must be on /metrics (monitoring_names.py); the
 * dashboard's expressions parse as PromQL (promtool, as rules). */
START_TEST(test_names_on_metrics)
{
	char dash[HARNESS_PATH_MAX], rules[HARNESS_PATH_MAX],
	    script[HARNESS_PATH_MAX], metrics[HARNESS_PATH_MAX],
	    out[HARNESS_PATH_MAX], reply[256], *err;
	const char *req = "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n"
	                  "Connection: close\r\n\r\n";
	const char *body;
	int fd, status;

	env_path(dash, sizeof dash, "TL_CONFIG_DIR", "grafana/threadline.json");
	env_path(rules, sizeof rules, "TL_CONFIG_DIR",
	    "prometheus/threadline-rules.yml");
	env_path(
	    script, sizeof script, "TL_CLIENTS_DIR", "monitoring_names.py");
	harness_server_start(&srv, "srv", 2, NULL);
	fd = harness_connect(srv.port);
	harness_cmd(fd, "set k 0 0 1\r\nv\r\n", "\r\n", reply, sizeof reply);
	harness_cmd(fd, "get k\r\n", "END\r\n", reply, sizeof reply);
	harness_cmd(fd, "get nokey\r\n", "END\r\n", reply, sizeof reply);
	harness_cmd(fd, "delete nokey\r\n", "\r\n", reply, sizeof reply);
	ck_assert_int_eq(harness_http(harness_admin_port(&srv), req,
	                     strlen(req), resp, sizeof resp),
	    200);
	ck_assert_ptr_nonnull(body = strstr(resp, "\r\n\r\n"));
	harness_path(metrics, sizeof metrics, "metrics.txt");
	harness_file_write(metrics, body + 4);
	harness_close(fd);

	harness_path(out, sizeof out, "grafana-rules.yml");
	status = harness_run_prog(PYTHON, "names",
	    (const char *const[]){script, dash, rules, metrics, out, NULL});
	err = harness_output("names", "err");
	ck_assert_msg(
	    status == 0, "monitoring_names.py: exit %d: %s", status, err);
	free(err);
	promtool_ok(
	    "grafana", (const char *const[]){"check", "rules", out, NULL});
}
END_TEST

int
main(void)
{
	const TTest *tests[] = {
	    test_rules_check, test_rules_fire, test_names_on_metrics, NULL};

	return harness_run_suite(
	    &(struct harness_suite){
	        .name = "monitoring", .timeout = 60, .server = &srv},
	    tests);
}
