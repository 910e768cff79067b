/* Faults of the host, not of the client: the log file's directory
 * removed, file descriptors exhausted, SIGTERM under load. The server
 * keeps serving, says what happened once, and recovers when the fault goes
 * away. (The log on /dev/full is in test_logging.c.) */
#include <check.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"

/* The log file's directory disappears, then SIGHUP asks for a reopen: the
 * server says so once on stderr, keeps serving, and reopens once the
 * directory is back. */
START_TEST(test_log_dir_removed)
{
	char dir[HARNESS_PATH_MAX], log[HARNESS_PATH_MAX + 16];
	char err[HARNESS_PATH_MAX];
	const char *args[] = {"-p", "0", "-t", "2", "--log-file", log, NULL};
	struct harness_server srv;

	harness_path(dir, sizeof dir, "logs");
	ck_assert_int_eq(mkdir(dir, 0755), 0);
	snprintf(log, sizeof log, "%s/srv.log", dir);
	harness_server_attach(&srv, harness_spawn("srv", args), log);
	harness_serves(srv.port, 0);
	ck_assert_int_eq(unlink(log), 0);
	ck_assert_int_eq(rmdir(dir), 0);
	for (int i = 0; i < 3; i++) {
		ck_assert_int_eq(kill(srv.pid, SIGHUP), 0);
		harness_serves(srv.port, 1 + i);
	}
	harness_path(err, sizeof err, "srv.err");
	ck_assert(harness_file_wait(
	    err, ": reopening failed: ", HARNESS_DEADLINE_MS));
	/* Back: signals are handled in order, so once this reopen shows,
	 * the three before it were handled too. */
	ck_assert_int_eq(mkdir(dir, 0755), 0);
	ck_assert_int_eq(kill(srv.pid, SIGHUP), 0);
	ck_assert(
	    harness_file_wait(log, "reopened log file", HARNESS_DEADLINE_MS));
	ck_assert_uint_eq(harness_count_in(err, ": reopening failed: "), 1);
	harness_serves(srv.port, 9);
	ck_assert_int_eq(harness_server_stop(&srv), 0);
}
END_TEST

/* Out of file descriptors (RLIMIT_NOFILE 64): accept pauses and says so
 * once, the connections it has keep working, and the clients that waited
 * are served as others leave. */
START_TEST(test_fd_exhaustion)
{
	enum { CLIENTS = 100 };
	char log[HARNESS_PATH_MAX], bin[HARNESS_PATH_MAX], buf[64];
	const char *args[] = {"--nofile=64", getenv("THREADLINED"), "--config",
	    "", "-p", "0", "-t", "2", "--log-file", log,
	    geteuid() == 0 ? "-u" : NULL, "root", NULL};
	struct harness_server srv;
	int fds[CLIENTS], answered = 0;

	ck_assert_msg(harness_which("prlimit", bin, sizeof bin),
	    "prlimit (util-linux) is not installed");
	harness_path(log, sizeof log, "srv.log");
	harness_server_attach(&srv, harness_spawn_prog(bin, "srv", args), log);
	for (int i = 0; i < CLIENTS; i++) {
		fds[i] = harness_connect(srv.port); /* the backlog takes them */
		harness_sends(fds[i], "version\r\n");
	}
	ck_assert(harness_file_wait(
	    log, "out of file descriptors with", HARNESS_DEADLINE_MS));
	/* The first clients were accepted before the limit: answered. */
	harness_recv(
	    fds[0], buf, sizeof buf, "\r\n", 0, HARNESS_DEADLINE_MS, NULL);
	ck_assert_msg(
	    strncmp(buf, "VERSION ", 8) == 0, "first client: %s", buf);
	/* Half leave; every other one is answered in turn. */
	for (int i = 0; i < CLIENTS / 2; i++)
		harness_close(fds[i]);
	for (int i = CLIENTS / 2; i < CLIENTS; i++) {
		harness_recv(fds[i], buf, sizeof buf, "\r\n", 0,
		    HARNESS_DEADLINE_MS, NULL);
		ck_assert_msg(strncmp(buf, "VERSION ", 8) == 0,
		    "client %d after others left: '%s'", i, buf);
		answered++;
		harness_close(fds[i]);
	}
	ck_assert_int_eq(answered, CLIENTS / 2);
	harness_serves(srv.port, 0);
	ck_assert_uint_eq(
	    harness_count_in(log, "out of file descriptors with"), 1);
	ck_assert_int_eq(harness_server_stop(&srv), 0);
}
END_TEST

/* SIGTERM with requests in flight on many connections: every reply a
 * client gets is whole (the server never closes in the middle of one),
 * the log is flushed to its last line, and the exit status is 0. */
START_TEST(test_sigterm_under_load)
{
	enum { CONNS = 8, GETS = 2000 };
	static const char reply[] = "VALUE k 0 5\r\nvalue\r\nEND\r\n";
	static char req[GETS * 7], buf[GETS * (sizeof reply - 1) + 4096];
	struct harness_server srv;
	int fds[CONNS];
	char *text, last[256];

	harness_server_start(&srv, "srv", 2, NULL);
	fds[0] = harness_connect(srv.port);
	harness_cmd(fds[0], "set k 0 0 5\r\nvalue\r\n", "\r\n", buf, 64);
	ck_assert_str_eq(buf, "STORED\r\n");
	for (int i = 0; i < GETS; i++)
		memcpy(req + i * 7, "get k\r\n", 7);
	for (int c = 1; c < CONNS; c++)
		fds[c] = harness_connect(srv.port);
	for (int c = 0; c < CONNS; c++)
		harness_send(fds[c], req, sizeof req);
	ck_assert_int_eq(kill(srv.pid, SIGTERM), 0);
	for (int c = 0; c < CONNS; c++) {
		bool eof;
		size_t n = harness_recv_all(
		    fds[c], buf, sizeof buf, HARNESS_DEADLINE_MS, &eof);

		ck_assert_msg(eof, "connection %d not closed", c);
		ck_assert_msg(n % (sizeof reply - 1) == 0,
		    "connection %d: %zu bytes, not whole replies", c, n);
		for (size_t off = 0; off < n; off += sizeof reply - 1)
			ck_assert(
			    memcmp(buf + off, reply, sizeof reply - 1) == 0);
		harness_close(fds[c]);
	}
	ck_assert_int_eq(harness_wait(srv.pid, HARNESS_DEADLINE_MS), 0);
	srv.pid = 0;
	text = harness_file_read(srv.log);
	ck_assert(harness_last_line(text, last, sizeof last));
	ck_assert_msg(strstr(last, "shutdown: complete, flushing the log"),
	    "last line: %s", last);
	free(text);
}
END_TEST

int
main(void)
{
	const TTest *tests[] = {test_log_dir_removed, test_fd_exhaustion,
	    test_sigterm_under_load, NULL};

	return harness_run_suite(
	    &(struct harness_suite){.name = "faults", .timeout = 120}, tests);
}
