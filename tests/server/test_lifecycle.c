/* The running server's ends of connections and of itself that no other
 * test reaches: the shutdown command when enabled, the idle timeout, the
 * linger after a protocol error, the shutdown deadline for a client that
 * reads nothing, a client that resets while its replies are written, and the
 * log on stderr (reopened on SIGHUP, or failing on a full device). Every wait
 * polls with a deadline; see harness.h. */
#include <check.h>
#include <arpa/inet.h>
#include <dirent.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

#define BUFSZ 65536

/* Wait until path holds needle, failing at the deadline. */
static void
test_wait_log(const char *path, const char *needle)
{
	ck_assert_msg(harness_file_wait(path, needle, HARNESS_DEADLINE_MS),
	    "'%s' not in %s after %d ms", needle, path, HARNESS_DEADLINE_MS);
}

/* A numeric STAT of a stats command on a new connection; -1 if absent. */
static long long
test_stat(int port, const char *cmd, const char *name)
{
	char buf[BUFSZ], val[64];
	int fd = harness_connect(port);

	harness_cmd(fd, cmd, "END\r\n", buf, sizeof buf);
	harness_close(fd);
	return harness_stat(buf, name, val, sizeof val) ? atoll(val) : -1;
}

/* Poll "stats" until curr_connections is n (the asking one included). */
static void
test_wait_conns(int port, long long n)
{
	long long deadline = harness_now_ms() + HARNESS_DEADLINE_MS, got;

	while ((got = test_stat(port, "stats\r\n", "curr_connections")) != n) {
		ck_assert_msg(harness_now_ms() < deadline,
		    "curr_connections %lld, want %lld", got, n);
		harness_nap();
	}
}

/* With enable_shutdown = yes, a client's "shutdown" stops the server as
 * SIGTERM does: it exits 0 by itself, the log saying who asked. */
START_TEST(test_shutdown_command)
{
	char conf[HARNESS_PATH_MAX], buf[256];
	const char *args[] = {"--config", conf, NULL};
	struct harness_server srv;
	int fd, code;
	bool eof;

	harness_path(conf, sizeof conf, "shutdown.conf");
	harness_file_write(conf, "[server]\nenable_shutdown = yes\n");
	harness_server_start(&srv, "srv", 1, args);
	fd = harness_connect(srv.port);
	harness_sends(fd, "shutdown\r\n");
	harness_recv_all(fd, buf, sizeof buf, HARNESS_DEADLINE_MS, &eof);
	ck_assert_msg(eof, "no EOF after shutdown; got '%s'", buf);
	ck_assert_str_eq(buf, "");
	harness_close(fd);
	code = harness_wait(srv.pid, HARNESS_DEADLINE_MS);
	ck_assert_msg(code == 0, "exit %d after the shutdown command", code);
	srv.pid = 0;
	ck_assert_uint_eq(
	    harness_count_in(srv.log, " shutdown requested by a client"), 1);
	ck_assert_uint_eq(
	    harness_count_in(srv.log, "received SIGTERM, shutting down"), 1);
	ck_assert_uint_eq(
	    harness_count_in(srv.log, "shutdown: complete, flushing the log"),
	    1);
}
END_TEST

/* --idle-timeout 1: a connection silent after a command is closed and
 * the log says why; the server goes on serving new ones. */
START_TEST(test_idle_timeout)
{
	/* -v: the info lines it waits for. */
	const char *args[] = {"-v", "--idle-timeout", "1", NULL};
	struct harness_server srv;
	char buf[256], needle[96];
	int fd, lport;
	bool eof;

	harness_server_start(&srv, "srv", 1, args);
	fd = harness_connect(srv.port);
	lport = harness_local_port(fd);
	harness_cmd(fd, "version\r\n", "\r\n", buf, sizeof buf);
	harness_recv_all(fd, buf, sizeof buf, HARNESS_DEADLINE_MS, &eof);
	ck_assert_msg(eof, "idle connection still open; got '%s'", buf);
	ck_assert_str_eq(buf, "");
	harness_close(fd);
	snprintf(needle, sizeof needle,
	    "peer=127.0.0.1:%d closed: idle for 1 s", lport);
	test_wait_log(srv.log, needle);
	harness_serves(srv.port, 0);
	ck_assert_int_eq(harness_server_stop(&srv), 0);
}
END_TEST

/* After a protocol error the server sends its reply and EOF, then waits
 * for the client's EOF a bounded time: a client that never closes is
 * closed all the same, and its slot is free again. */
START_TEST(test_linger_bounded)
{
	struct harness_server srv;
	char line[3003], buf[256], needle[96];
	int fd, lport;
	bool eof;

	/* -v: the info lines it waits for. */
	harness_server_start(&srv, "srv", 1, (const char *const[]){"-v", NULL});
	fd = harness_connect(srv.port);
	lport = harness_local_port(fd);
	memset(line, 'x', 3000);
	memcpy(line + 3000, "\r\n", 3);
	harness_sends(fd, line);
	harness_recv_all(fd, buf, sizeof buf, HARNESS_DEADLINE_MS, &eof);
	ck_assert_str_eq(buf, "CLIENT_ERROR line too long\r\n");
	ck_assert_msg(eof, "no EOF after the error");
	/* fd stays open: the server closes on its own. */
	snprintf(needle, sizeof needle,
	    "peer=127.0.0.1:%d closed after a protocol error", lport);
	test_wait_log(srv.log, needle);
	test_wait_conns(srv.port, 1);
	harness_close(fd);
	ck_assert_int_eq(harness_server_stop(&srv), 0);
}
END_TEST

/* Store a value of len bytes under "big". */
static void
test_store_big(int port, size_t len)
{
	char hdr[64], buf[64], *value = malloc(len);
	int fd = harness_connect(port);

	ck_assert_ptr_nonnull(value);
	memset(value, 'v', len);
	snprintf(hdr, sizeof hdr, "set big 0 0 %zu\r\n", len);
	harness_sends(fd, hdr);
	harness_send(fd, value, len);
	free(value);
	harness_cmd(fd, "\r\n", "\r\n", buf, sizeof buf);
	ck_assert_str_eq(buf, "STORED\r\n");
	harness_close(fd);
}

/* A connection with a small receive buffer that asks for four copies of
 * "big" and reads none of them; returns once the replies have started,
 * so the requests were read. Its local port in *lport. */
static int
test_slow_reader(int port, int *lport)
{
	struct pollfd pfd = {.events = POLLIN};

	/* A small receive buffer, so replies back up. */
	pfd.fd = harness_connect_rcvbuf(port, 4096);
	*lport = harness_local_port(pfd.fd);
	harness_sends(pfd.fd, "get big\r\nget big\r\nget big\r\nget big\r\n");
	ck_assert_int_eq(poll(&pfd, 1, HARNESS_DEADLINE_MS), 1);
	return pfd.fd;
}

/* SIGTERM while a client reads none of 32 MB of replies: the server waits
 * for it 5 seconds, says so, closes it and exits 0. */
START_TEST(test_shutdown_deadline)
{
	/* -v: the info lines it waits for. */
	const char *args[] = {"-v", "-I", "16m", "-m", "128", NULL};
	struct harness_server srv;
	char needle[96];
	int slow, lport, code;

	harness_server_start(&srv, "srv", 1, args);
	test_store_big(srv.port, 8 << 20);
	slow = test_slow_reader(srv.port, &lport);
	ck_assert_int_eq(kill(srv.pid, SIGTERM), 0);
	code = harness_wait(srv.pid, HARNESS_DEADLINE_MS);
	ck_assert_msg(code == 0, "exit %d", code);
	srv.pid = 0;
	harness_close(slow);
	ck_assert_uint_eq(harness_count_in(srv.log,
	                      " warn 1 connections still sending after 5 "
	                      "seconds, closing"),
	    1);
	snprintf(needle, sizeof needle,
	    "peer=127.0.0.1:%d closed at shutdown deadline", lport);
	ck_assert_uint_eq(harness_count_in(srv.log, needle), 1);
}
END_TEST

/* A client that resets its connection while its replies are being
 * written: the write fails, the server says so for that peer, frees the
 * slot and goes on serving. */
START_TEST(test_reset_while_writing)
{
	/* -v: the info lines it waits for. */
	const char *args[] = {"-v", "-I", "16m", "-m", "128", NULL};
	struct linger lin = {.l_onoff = 1, .l_linger = 0};
	struct harness_server srv;
	char needle[96];
	int slow, lport;

	harness_server_start(&srv, "srv", 1, args);
	test_store_big(srv.port, 8 << 20);
	slow = test_slow_reader(srv.port, &lport);
	/* Linger 0: close sends a reset, not a FIN. */
	ck_assert_int_eq(
	    setsockopt(slow, SOL_SOCKET, SO_LINGER, &lin, sizeof lin), 0);
	harness_close(slow);
	snprintf(needle, sizeof needle,
	    "peer=127.0.0.1:%d closed on write error: ", lport);
	test_wait_log(srv.log, needle);
	test_wait_conns(srv.port, 1);
	harness_serves(srv.port, 0);
	ck_assert_int_eq(harness_server_stop(&srv), 0);
}
END_TEST

/* Without a log file the whole log goes to stderr; SIGHUP there has no
 * file to reopen, and the server goes on. */
START_TEST(test_log_on_stderr)
{
	const char *args[] = {"-p", "0", "-t", "1", NULL};
	struct harness_server srv;
	char err[HARNESS_PATH_MAX];

	harness_path(err, sizeof err, "srv.err");
	harness_server_attach(&srv, harness_spawn("srv", args), err);
	ck_assert_uint_eq(
	    harness_count_in(err, " logger notice writing log to stderr\n"), 1);
	ck_assert_int_eq(kill(srv.pid, SIGHUP), 0);
	test_wait_log(err, "received SIGHUP, reopening the log file");
	harness_serves(srv.port, 0);
	ck_assert_int_eq(harness_server_stop(&srv), 0);
	ck_assert_uint_eq(harness_count_in(err, "received SIGHUP"), 1);
	ck_assert_uint_eq(harness_count_in(err, "reopen"), 1);
	ck_assert_uint_eq(
	    harness_count_in(err, "shutdown: complete, flushing the log"), 1);
}
END_TEST

/* The log's only sink, stderr, is a full device: the server serves all
 * the same and counts every line as failed, none as written. */
START_TEST(test_stderr_full)
{
	const char *args[] = {"-p", "0", "-t", "1", NULL};
	long long deadline = harness_now_ms() + HARNESS_DEADLINE_MS, failed;
	struct harness_server srv = {0};
	char err[HARNESS_PATH_MAX];
	int status;

	/* The harness opens DIR/tag.err for stderr: here, /dev/full. */
	harness_path(err, sizeof err, "full.err");
	ck_assert_int_eq(symlink("/dev/full", err), 0);
	srv.pid = harness_spawn("full", args);
	while ((srv.port = harness_proc_listen_port(srv.pid)) == 0) {
		ck_assert_msg(waitpid(srv.pid, &status, WNOHANG) != srv.pid,
		    "exited with status %d before listening", status);
		ck_assert_msg(harness_now_ms() < deadline, "not listening");
		harness_nap();
	}
	harness_serves(srv.port, 0);
	while ((failed = test_stat(srv.port, "stats threads\r\n",
	            "logger:lines_failed")) <= 0) {
		ck_assert_msg(harness_now_ms() < deadline,
		    "logger:lines_failed still %lld", failed);
		harness_nap();
	}
	ck_assert_int_eq(
	    test_stat(srv.port, "stats threads\r\n", "logger:lines_written"),
	    0);
	harness_serves(srv.port, 1);
	ck_assert_int_eq(harness_server_stop(&srv), 0);
}
END_TEST

/* Run every test; exit status 1 if any failed. */
int
main(void)
{
	const TTest *tests[] = {test_shutdown_command, test_idle_timeout,
	    test_linger_bounded, test_shutdown_deadline,
	    test_reset_while_writing, test_log_on_stderr, test_stderr_full,
	    NULL};

	return harness_run_suite(
	    &(struct harness_suite){.name = "lifecycle", .timeout = 60}, tests);
}
