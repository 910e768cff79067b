/* The stall watchdog: a worker kept in one callback ("debug sleep", with
 * --enable-debug-commands) past stall_ms is named in one warn line with
 * its connection, peer, command, key and stack, counted in "stats threads"
 * and /metrics, and said to be back when it returns; the other worker
 * serves meanwhile. Without the option "debug" is an unknown command. */
#include <check.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "harness.h"

static struct harness_server srv;

static void
teardown(void)
{
	if (srv.pid > 0)
		ck_assert_int_eq(harness_server_stop(&srv), 0);
	harness_test_teardown();
}

/* A stall's stack, from the sleep through the command to the loop:
 * static functions named too, with their lines where the build has them. */
static const char stack_re[] =
    "stack: .*nanosleep.* <- "
    "cmd_debug( \\(proto_admin\\.c:[0-9]+\\)|\\+0x[0-9a-f]+) <- .*"
    "conn_io_cb( \\(conn\\.c:[0-9]+\\)|\\+0x[0-9a-f]+) <- .*"
    "event_base_loop.* <- "
    "worker_main( \\(worker\\.c:[0-9]+\\)|\\+0x[0-9a-f]+)";

/* Whether text matches the extended regex re. */
static bool
matches(const char *text, const char *re)
{
	regex_t r;
	bool ok;

	ck_assert_int_eq(regcomp(&r, re, REG_EXTENDED | REG_NOSUB), 0);
	ok = regexec(&r, text, 0, NULL, 0) == 0;
	regfree(&r);
	return ok;
}

/* The line of srv's log with text, waited for. */
static void
log_line(const char *text, char *line, size_t len)
{
	char *log;

	ck_assert_msg(harness_file_wait(srv.log, text, HARNESS_DEADLINE_MS),
	    "no \"%s\" in the log", text);
	log = harness_file_read(srv.log);
	ck_assert(harness_line_with(log, text, line, len));
	free(log);
	printf("log: %s\n", line);
}

START_TEST(test_stall_named)
{
	const char *const args[] = {
	    "--stall-ms", "100", "--enable-debug-commands", NULL};
	const char *metrics = "GET /metrics HTTP/1.1\r\nHost: localhost\r\n"
	                      "Connection: close\r\n\r\n";
	const char *threads = "GET /threads HTTP/1.1\r\nHost: localhost\r\n"
	                      "Connection: close\r\n\r\n";
	static char reply[1 << 18];
	char line[2048], want[256], peer[64], name[16];
	int sleeper, other, aport;

	harness_server_start(&srv, "srv", 2, args);
	aport = harness_admin_port(&srv);
	/* Round-robin: two connections in a row are on both workers. */
	sleeper = harness_connect(srv.port);
	other = harness_connect(srv.port);
	harness_cmd(other, "version\r\n", "\r\n", reply, sizeof reply);
	harness_sends(sleeper, "debug sleep 6000\r\n");

	log_line("stall: worker-", line, sizeof line);
	ck_assert_msg(
	    matches(line,
	        " warn stall: worker-[01] has been in one callback "
	        "for [0-9]+ ms: conn=[0-9]+ peer=127\\.0\\.0\\.1:[0-9]+ "
	        "cmd=debug key=sleep; stack: "),
	    "%s", line);
	snprintf(peer, sizeof peer, " peer=127.0.0.1:%d ",
	    harness_local_port(sleeper));
	ck_assert_msg(strstr(line, peer) != NULL, "not %s: %s", peer, line);
	/* The stack runs from the sleep through the command to the loop. */
	ck_assert_msg(matches(line, stack_re), "%s", line);
	memcpy(name, strstr(line, "worker-"), 8);
	name[8] = '\0';

	/* Stalled now: the other worker answers, the gauge says it. */
	harness_cmd(other, "stats threads\r\n", "END\r\n", reply, sizeof reply);
	ck_assert_int_eq(
	    harness_count_in(srv.log, " is back in its event loop"), 0);
	snprintf(want, sizeof want, "STAT %s:stalls 1\r\n", name);
	ck_assert_msg(strstr(reply, want) != NULL, "%s", reply);
	snprintf(want, sizeof want, "STAT %s:stalled 1\r\n", name);
	ck_assert_msg(strstr(reply, want) != NULL, "%s", reply);

	harness_cmd(sleeper, "", "OK\r\n", reply, sizeof reply);
	snprintf(
	    want, sizeof want, "stall: %s is back in its event loop", name);
	log_line(want, line, sizeof line);
	ck_assert_msg(matches(line, " notice stall: worker-[01] is back in its "
	                            "event loop after [0-9]+ ms or more$"),
	    "%s", line);
	ck_assert_int_eq(harness_count_in(srv.log, " warn stall: "), 1);

	ck_assert_int_eq(
	    harness_http(aport, metrics, strlen(metrics), reply, sizeof reply),
	    200);
	snprintf(want, sizeof want,
	    "\nthreadline_thread_stalls_total{thread=\"%s\",role=\"worker\"} "
	    "1\n",
	    name);
	ck_assert_msg(strstr(reply, want) != NULL, "no %s", want);
	snprintf(want, sizeof want,
	    "\nthreadline_thread_stalled{thread=\"%s\",role=\"worker\"} 0\n",
	    name);
	ck_assert_msg(strstr(reply, want) != NULL, "no %s", want);
	/* /threads: the stalled worker's object alone counts one. */
	ck_assert_int_eq(
	    harness_http(aport, threads, strlen(threads), reply, sizeof reply),
	    200);
	ck_assert_msg(harness_count(reply, "\"stalls\":1,\"stalled\":0") == 1,
	    "%s", reply);
	ck_assert_msg(harness_count(reply, "\"stalls\":0,\"stalled\":0") == 1,
	    "%s", reply);
	harness_close(sleeper);
	harness_close(other);
}
END_TEST

/* Off by default: memcached's reply to a command it does not know, and
 * no sleep. */
START_TEST(test_debug_refused)
{
	char reply[256];
	int fd;

	harness_server_start(&srv, "srv", 2, NULL);
	fd = harness_connect(srv.port);
	harness_cmd(fd, "debug sleep 5000\r\nversion\r\n", "VERSION", reply,
	    sizeof reply);
	ck_assert_msg(strncmp(reply, "ERROR\r\nVERSION", 14) == 0, "%s", reply);
	harness_close(fd);
}
END_TEST

int
main(void)
{
	const TTest *tests[] = {test_stall_named, test_debug_refused, NULL};

	return harness_run_suite(
	    &(struct harness_suite){
	        .name = "stall", .teardown = teardown, .timeout = 120},
	    tests);
}
