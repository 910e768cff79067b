/* threadline top in a real terminal: tmux runs it against a server with
 * traffic; the test reads the screen (capture-pane) and types keys
 * (send-keys), at 132 columns and at 60, where no line may wrap. */
#include <check.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

static char tmux[HARNESS_PATH_MAX];
static char sock[HARNESS_PATH_MAX];

/* Run tmux on the test's own server socket; its exit code, its output in
 * DIR/tag.out. */
static int
tmux_run(const char *tag, const char *const args[])
{
	const char *argv[16] = {"-S", sock};
	int n = 2, code;
	pid_t pid;

	for (int i = 0; args[i] != NULL; i++)
		argv[n++] = args[i];
	argv[n] = NULL;
	pid = harness_spawn_prog(tmux, tag, argv);
	code = harness_wait(pid, HARNESS_DEADLINE_MS);
	ck_assert_msg(code != -1, "tmux %s did not end", tag);
	return code;
}

/* The screen now. */
static char *
screen(void)
{
	const char *args[] = {"capture-pane", "-p", "-t", "top", NULL};

	ck_assert_int_eq(tmux_run("capture", args), 0);
	return harness_output("capture", "out");
}

/* Wait until the screen holds want; the screen then. traffic, if not -1,
 * gets requests meanwhile, so rates have something to show. */
static char *
screen_wait(const char *want, int traffic)
{
	long long deadline = harness_now_ms() + HARNESS_DEADLINE_MS;
	char reply[256], *s;

	for (;;) {
		s = screen();
		if (strstr(s, want) != NULL)
			return s;
		ck_assert_msg(harness_now_ms() < deadline,
		    "the screen never showed '%s':\n%s", want, s);
		free(s);
		if (traffic != -1)
			for (int i = 0; i < 200; i++)
				harness_cmd(traffic, "set k 0 0 1\r\nx\r\n",
				    "\r\n", reply, sizeof reply);
		else
			harness_nap();
	}
}

/* The OPS/S column of worker-0's row, or -1. */
static int
worker0_ops(const char *s)
{
	const char *row = strstr(s, "\nworker-0 ");
	char name[16], role[16], state[4], tid[16], time[16];
	double cpu;
	int ops;

	if (row == NULL || sscanf(row + 1, "%15s %15s %3s %15s %lf %15s %d",
	                       name, role, state, tid, &cpu, time, &ops) != 7)
		return -1;
	return ops;
}

/* Every thread gets a row; the sort follows the keys; traffic shows as
 * ops/s of the worker that serves it; q quits and gives the terminal
 * back. */
START_TEST(test_top_under_tmux)
{
	struct harness_server srv;
	const char *client;
	char cmd[HARNESS_PATH_MAX + 64], *s;
	int traffic;

	if (!harness_which("tmux", tmux, sizeof tmux)) {
		harness_skip("tmux is not installed");
		return;
	}
	client = harness_client_bin();
	harness_path(sock, sizeof sock, "tmux.sock");
	harness_server_start(&srv, "srv", 1, NULL);
	snprintf(cmd, sizeof cmd, "%s -p %d top -d 0.3", client, srv.port);
	{
		const char *args[] = {"new-session", "-d", "-s", "top", "-x",
		    "132", "-y", "30", cmd, NULL};

		ck_assert_int_eq(tmux_run("new", args), 0);
	}
	s = screen_wait("sort: cpu", -1);
	for (const char *t = "threadlined"; t != NULL;
	     t = strcmp(t, "threadlined") == 0 ? "logger"
	         : strcmp(t, "logger") == 0    ? "accept"
	         : strcmp(t, "accept") == 0    ? "maint"
	         : strcmp(t, "maint") == 0     ? "worker-0"
	                                       : NULL)
		ck_assert_msg(strstr(s, t) != NULL, "no row of %s:\n%s", t, s);
	free(s);
	{
		const char *args[] = {"send-keys", "-t", "top", "o", NULL};

		ck_assert_int_eq(tmux_run("key-o", args), 0);
	}
	free(screen_wait("sort: ops", -1));
	/* With one worker, the traffic is worker-0's: its rate shows. */
	traffic = harness_connect(srv.port);
	for (;;) {
		s = screen_wait("\nworker-0 ", traffic);
		if (worker0_ops(s) > 10)
			break;
		free(s);
		for (int i = 0; i < 200; i++) {
			char reply[64];

			harness_cmd(traffic, "get k\r\n", "END\r\n", reply,
			    sizeof reply);
		}
	}
	/* Sorted by ops/s, the busy worker comes first. */
	ck_assert_msg(strstr(s, "P99(us)   DROPS\nworker-0 ") != NULL,
	    "worker-0 is not first:\n%s", s);
	free(s);
	harness_close(traffic);
	{
		const char *keys[] = {"send-keys", "-t", "top", "q", NULL};
		const char *has[] = {"has-session", "-t", "top", NULL};
		long long deadline = harness_now_ms() + HARNESS_DEADLINE_MS;

		ck_assert_int_eq(tmux_run("key-q", keys), 0);
		/* The session ends with top. */
		while (tmux_run("has", has) == 0) {
			ck_assert_msg(harness_now_ms() < deadline,
			    "top did not quit on q");
			harness_nap();
		}
	}
	ck_assert_int_eq(harness_server_stop(&srv), 0);
}
END_TEST

/* Whether a line of s (capture-pane -J: wrapped rows joined) is wider
 * than cols; the first such line in line. */
static bool
wider_than(const char *s, size_t cols, char *line, size_t len)
{
	for (const char *p = s, *nl; (nl = strchr(p, '\n')) != NULL; p = nl + 1)
		if ((size_t)(nl - p) > cols) {
			snprintf(line, len, "%.*s", (int)(nl - p), p);
			return true;
		}
	return false;
}

/* In a 60-column terminal every line is cut to 60 (none wraps into the
 * next row); the summary is there with the server's figures (a set and a
 * get that hit, a miss: 50.0% of gets hit; one item); each thread row
 * has its state and cumulative CPU time. */
START_TEST(test_top_narrow)
{
	const char *join[] = {"capture-pane", "-p", "-J", "-t", "top", NULL};
	struct harness_server srv;
	char cmd[HARNESS_PATH_MAX + 64], reply[256], wide[256], *s;
	int fd;

	if (!harness_which("tmux", tmux, sizeof tmux)) {
		harness_skip("tmux is not installed");
		return;
	}
	harness_path(sock, sizeof sock, "tmux.sock");
	harness_server_start(&srv, "srv", 2, NULL);
	fd = harness_connect(srv.port);
	harness_cmd(fd, "set k 0 0 1\r\nx\r\nget k\r\nget nope\r\n",
	    "END\r\nEND\r\n", reply, sizeof reply);
	harness_close(fd);
	snprintf(cmd, sizeof cmd, "%s -p %d top -d 0.3", harness_client_bin(),
	    srv.port);
	{
		const char *args[] = {"new-session", "-d", "-s", "top", "-x",
		    "60", "-y", "30", cmd, NULL};

		ck_assert_int_eq(tmux_run("new", args), 0);
	}
	free(screen_wait("(answered by", -1));
	ck_assert_int_eq(tmux_run("capture", join), 0);
	s = harness_output("capture", "out");
	ck_assert_msg(!wider_than(s, 60, wide, sizeof wide),
	    "a line wider than 60 columns: '%s' in:\n%s", wide, s);
	ck_assert_msg(strstr(s, "\nops/s ") != NULL &&
	                  strstr(s, "  hit 50.0%  mem ") != NULL &&
	                  strstr(s, "/64M  items 1") != NULL &&
	                  strstr(s, "\nconns ") != NULL &&
	                  strstr(s, "  up 00:00:") != NULL &&
	                  strstr(s, "  version ") != NULL,
	    "no summary:\n%s", s);
	ck_assert_msg(strstr(s, "\nTHREAD          ROLE   S     TID   CPU%     "
	                        "TIME+     OPS/S\n") != NULL,
	    "no header with S, TIME+ and OPS/S in 60 columns:\n%s", s);
	/* Each row starts with a thread's name, state and TIME+. */
	for (const char *t = "\nworker-1 "; t != NULL;
	     t = strcmp(t, "\nworker-1 ") == 0 ? "\nlogger " : NULL) {
		const char *row = strstr(s, t);
		char name[16], role[16], state[4], tid[16], time[16];
		double cpu;

		ck_assert_msg(row != NULL, "no row %s:\n%s", t + 1, s);
		ck_assert_msg(sscanf(row + 1, "%15s %15s %3s %15s %lf %15s",
		                  name, role, state, tid, &cpu, time) == 6 &&
		                  strlen(state) == 1 &&
		                  strchr("RSDI", state[0]) != NULL &&
		                  strchr(time, ':') != NULL &&
		                  strchr(time, '.') != NULL,
		    "row %s: state '%s', time '%s'", t + 1, state, time);
	}
	free(s);
	{
		const char *keys[] = {"send-keys", "-t", "top", "q", NULL};

		ck_assert_int_eq(tmux_run("key-q", keys), 0);
	}
	ck_assert_int_eq(harness_server_stop(&srv), 0);
}
END_TEST

/* The tmux server outlives the test if the test fails. */
static void
teardown(void)
{
	const char *args[] = {"kill-server", NULL};

	if (tmux[0] != '\0' && sock[0] != '\0' && access(sock, F_OK) == 0)
		tmux_run("kill", args);
}

int
main(void)
{
	const TTest *tests[] = {test_top_under_tmux, test_top_narrow, NULL};

	return harness_run_suite(
	    &(struct harness_suite){
	        .name = "top", .teardown = teardown, .timeout = 60},
	    tests);
}
