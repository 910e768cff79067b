/* systemd's side of $NOTIFY_SOCKET: the test binds the datagram socket,
 * starts the real server with it in the environment and reads what the
 * server says: READY=1 with its STATUS=, RELOADING=1 and READY=1 around
 * SIGHUP, WATCHDOG=1 at the interval, STOPPING=1, MAINPID= when detached.
 * A worker whose loop is stopped (ptrace of that one thread) stops the
 * watchdog pings, and the log names it; so does a worker the stall
 * watchdog holds stalled ("debug sleep"). */
#include <check.h>
#include <errno.h>
#include <poll.h>
#include <regex.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "tl_build.h"

/* WATCHDOG_USEC in the tests: pings every 500 ms. */
#define WATCHDOG_US "1000000"
#define WATCHDOG_MS 1000

static struct harness_server srv;
static int mgr = -1;

static void
teardown(void)
{
	if (srv.pid > 0)
		ck_assert_int_eq(harness_server_stop(&srv), 0);
	if (mgr != -1)
		close(mgr);
	mgr = -1;
	harness_test_teardown();
}

/* The manager's socket in the test dir, named in $NOTIFY_SOCKET for the
 * servers this test starts; watchdog_us sets $WATCHDOG_USEC too. */
static void
mgr_open(const char *watchdog_us)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};

	harness_path(sun.sun_path, sizeof sun.sun_path, "notify.sock");
	mgr = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	ck_assert_msg(mgr != -1, "socket: %s", strerror(errno));
	ck_assert_msg(bind(mgr, (struct sockaddr *)&sun, sizeof sun) == 0,
	    "bind %s: %s", sun.sun_path, strerror(errno));
	ck_assert_int_eq(setenv("NOTIFY_SOCKET", sun.sun_path, 1), 0);
	if (watchdog_us != NULL)
		ck_assert_int_eq(setenv("WATCHDOG_USEC", watchdog_us, 1), 0);
	else
		ck_assert_int_eq(unsetenv("WATCHDOG_USEC"), 0);
}

/* The next datagram within ms into buf; false at the deadline. Every one
 * read is printed, for the test log. */
static bool
mgr_recv(char *buf, size_t len, int ms)
{
	long long deadline = harness_now_ms() + ms;
	struct pollfd p = {.fd = mgr, .events = POLLIN};
	ssize_t n;

	for (;;) {
		long long left = deadline - harness_now_ms();

		if (left < 0 || poll(&p, 1, (int)left) == 0)
			return false;
		n = recv(mgr, buf, len - 1, MSG_DONTWAIT);
		if (n >= 0)
			break;
		ck_assert_msg(errno == EAGAIN || errno == EINTR, "recv: %s",
		    strerror(errno));
	}
	buf[n] = '\0';
	printf("%lld datagram: \"", harness_now_ms());
	for (const char *s = buf; *s != '\0'; s++)
		fputs(*s == '\n' ? "\\n" : (char[2]){*s, '\0'}, stdout);
	printf("\"\n");
	fflush(stdout);
	return true;
}

/* Whether text matches the extended regex re. */
static bool
mgr_match(const char *text, const char *re)
{
	regex_t r;
	bool ok;

	ck_assert_int_eq(regcomp(&r, re, REG_EXTENDED | REG_NOSUB), 0);
	ok = regexec(&r, text, 0, NULL, 0) == 0;
	regfree(&r);
	return ok;
}

/* Read datagrams until one matches re (whole datagram); those before it
 * must match skip (NULL: anything goes). */
static void
mgr_expect(const char *re, const char *skip, char *buf, size_t len)
{
	long long deadline = harness_now_ms() + HARNESS_DEADLINE_MS;

	for (;;) {
		int left = (int)(deadline - harness_now_ms());

		ck_assert_msg(mgr_recv(buf, len, left > 0 ? left : 0),
		    "no datagram matching %s within %d ms", re,
		    HARNESS_DEADLINE_MS);
		if (mgr_match(buf, re))
			return;
		ck_assert_msg(skip == NULL || mgr_match(buf, skip),
		    "datagram \"%s\" while waiting for %s", buf, re);
	}
}

/* What arrives between the messages a test waits for. */
#define SKIP_STATUS "^STATUS=[^\n]*$"
#define SKIP_PINGS  "^(WATCHDOG=1|STATUS=[^\n]*)$"
#define READY_RE                                                               \
	"^READY=1\nSTATUS=2 workers, [0-9]+ threads, [0-9]+ connections, "     \
	"[0-9]+ commands$"

/* Start srv with 2 workers and wait for READY=1 and its status. */
static void
start_ready(const char *watchdog_us)
{
	char buf[512];

	mgr_open(watchdog_us);
	harness_server_start(&srv, "srv", 2, NULL);
	mgr_expect(READY_RE, NULL, buf, sizeof buf);
	ck_assert_msg(mgr_match(buf, "0 connections, 0 commands$"),
	    "nothing was served yet: %s", buf);
}

/* READY=1 once listening, STATUS= refreshed with what was served,
 * RELOADING=1 and READY=1 around SIGHUP, STOPPING=1 on SIGTERM; no
 * watchdog pings when systemd asks for none. */
START_TEST(test_ready_reload_stop)
{
	char buf[512], reply[256];
	int fd;

	start_ready(NULL);
	harness_serves(srv.port, 0);
	fd = harness_connect(srv.port);
	harness_cmd(fd, "version\r\n", "\r\n", reply, sizeof reply);
	/* The periodic status counts the open connection and its commands. */
	mgr_expect("^STATUS=2 workers, [0-9]+ threads, 1 connections, "
	           "[1-9][0-9]* commands$",
	    SKIP_STATUS, buf, sizeof buf);

	ck_assert_int_eq(kill(srv.pid, SIGHUP), 0);
	mgr_expect("^RELOADING=1\nMONOTONIC_USEC=[1-9][0-9]*\nSTATUS=reopening "
	           "the log file$",
	    SKIP_STATUS, buf, sizeof buf);
	mgr_expect(READY_RE, NULL, buf, sizeof buf);
	harness_cmd(fd, "version\r\n", "\r\n", reply, sizeof reply);
	harness_close(fd);

	ck_assert_int_eq(harness_server_stop(&srv), 0);
	mgr_expect(
	    "^STOPPING=1\nSTATUS=stopping$", SKIP_STATUS, buf, sizeof buf);
	ck_assert_msg(!mgr_recv(buf, sizeof buf, 0), "after STOPPING: %s", buf);
}
END_TEST

/* WATCHDOG_USEC=1 s: WATCHDOG=1 every half second, never faster. */
START_TEST(test_watchdog_interval)
{
	char buf[512];
	long long first;

	start_ready(WATCHDOG_US);
	ck_assert(harness_file_wait(srv.log,
	    "watchdog: 1000 ms, notified every 500 ms while all 2 workers "
	    "run their event loops",
	    HARNESS_DEADLINE_MS));
	mgr_expect("^WATCHDOG=1$", SKIP_STATUS, buf, sizeof buf);
	first = harness_now_ms();
	for (int i = 0; i < 4; i++)
		mgr_expect("^WATCHDOG=1$", SKIP_STATUS, buf, sizeof buf);
	/* Timers fire late on a busy machine, never early. */
	ck_assert_int_ge(
	    harness_now_ms() - first, 4 * WATCHDOG_MS / 2 * 9 / 10);
	ck_assert_int_eq(harness_server_stop(&srv), 0);
	mgr_expect(
	    "^STOPPING=1\nSTATUS=stopping$", SKIP_PINGS, buf, sizeof buf);
}
END_TEST

/* Stop thread tid alone (PTRACE_INTERRUPT stops the tracee, not its
 * process), in its loop or wherever it is. */
static void
thread_freeze(pid_t tid)
{
	int st;

	ck_assert_msg(ptrace(PTRACE_SEIZE, tid, NULL, NULL) == 0,
	    "PTRACE_SEIZE %d: %s", (int)tid, strerror(errno));
	ck_assert_msg(ptrace(PTRACE_INTERRUPT, tid, NULL, NULL) == 0,
	    "PTRACE_INTERRUPT %d: %s", (int)tid, strerror(errno));
	ck_assert_int_eq(waitpid(tid, &st, __WALL), tid);
	ck_assert_msg(WIFSTOPPED(st), "thread %d: status %#x", (int)tid, st);
	ck_assert_int_eq(harness_proc_state(srv.pid, tid), 't');
}

/* A worker whose event loop does not run (its thread stopped by ptrace)
 * stops WATCHDOG=1 and is named in the log once; when it runs again it is
 * named again and the pings come back. */
/* The log holds more than n lines with text, before the deadline. */
static bool
log_count_above(const char *text, size_t n)
{
	struct timespec tenth = {0, 100 * 1000 * 1000};
	long long deadline = harness_now_ms() + HARNESS_DEADLINE_MS;

	while (harness_count_in(srv.log, text) <= n) {
		if (harness_now_ms() >= deadline)
			return false;
		nanosleep(&tenth, NULL);
	}
	return true;
}

START_TEST(test_watchdog_stuck_worker)
{
	const char *stuck_re = "watchdog: worker-1 has not run its event loop "
	                       "for [0-9]+ ms; not notifying the watchdog";
	char buf[512], line[512];
	size_t stalls, agains;
	pid_t tid;
	int statuses = 0;

	start_ready(WATCHDOG_US);
	mgr_expect("^WATCHDOG=1$", SKIP_STATUS, buf, sizeof buf);
	ck_assert(harness_thread_named(srv.pid, "worker-1", &tid));
	/* On a loaded machine a worker may miss a tick before it is frozen
	 * and log a stall of its own: count from here. */
	stalls = harness_count_in(srv.log, "has not run its event loop");
	agains = harness_count_in(srv.log, "runs its event loop again");
	thread_freeze(tid);
	ck_assert_msg(log_count_above("has not run its event loop", stalls),
	    "no watchdog line naming worker-1");
	ck_assert(
	    harness_file_wait_re(srv.log, stuck_re, line, sizeof line, 0));
	printf("log: %s\n", line);
	/* Pings sent before the line are queued by now: read them, then no
	 * more may come. Two status refreshes (5 s each) are the clock. */
	while (mgr_recv(buf, sizeof buf, 0))
		ck_assert_msg(mgr_match(buf, SKIP_PINGS), "%s", buf);
	while (statuses < 2) {
		mgr_expect(SKIP_STATUS, SKIP_STATUS, buf, sizeof buf);
		statuses++;
	}
	ck_assert_int_eq(harness_proc_state(srv.pid, tid), 't');
	ck_assert_uint_eq(
	    harness_count_in(srv.log, "has not run its event loop"),
	    stalls + 1);

	ck_assert_msg(ptrace(PTRACE_DETACH, tid, NULL, NULL) == 0,
	    "PTRACE_DETACH: %s", strerror(errno));
	ck_assert(log_count_above("runs its event loop again", agains));
	ck_assert(harness_file_wait_re(srv.log,
	    "watchdog: worker-1 runs its event loop again after [0-9]+ ms",
	    line, sizeof line, 0));
	printf("log: %s\n", line);
	mgr_expect("^WATCHDOG=1$", SKIP_STATUS, buf, sizeof buf);
	harness_serves(srv.port, 2);
}
END_TEST

/* A worker in one callback past stall_ms ("debug sleep") stops WATCHDOG=1
 * until the stall watchdog sees it back. */
START_TEST(test_watchdog_stalled_worker)
{
	const char *const args[] = {
	    "--stall-ms", "100", "--enable-debug-commands", NULL};
	char buf[512];
	long long deadline;
	int fd;

	mgr_open(WATCHDOG_US);
	harness_server_start(&srv, "srv", 2, args);
	mgr_expect(READY_RE, NULL, buf, sizeof buf);
	mgr_expect("^WATCHDOG=1$", SKIP_STATUS, buf, sizeof buf);
	fd = harness_connect(srv.port);
	harness_sends(fd, "debug sleep 4000\r\n");
	ck_assert(harness_file_wait(
	    srv.log, " warn stall: worker-", HARNESS_DEADLINE_MS));
	/* Those sent before the stall was held are queued by now; then none
	 * until it is over. */
	while (mgr_recv(buf, sizeof buf, 0))
		ck_assert_msg(mgr_match(buf, SKIP_PINGS), "%s", buf);
	deadline = harness_now_ms() + HARNESS_DEADLINE_MS;
	while (harness_count_in(srv.log, " is back in its event loop") == 0) {
		ck_assert_msg(harness_now_ms() < deadline, "no stall's end");
		if (mgr_recv(buf, sizeof buf, 100))
			ck_assert_msg(mgr_match(buf, SKIP_STATUS),
			    "%s while a worker is stalled", buf);
	}
	harness_cmd(fd, "", "OK\r\n", buf, sizeof buf);
	harness_close(fd);
	mgr_expect("^WATCHDOG=1$", SKIP_STATUS, buf, sizeof buf);
}
END_TEST

/* -d: the daemon's READY=1 names its own pid (MAINPID=), the one in the
 * pidfile, before the parent exits. */
START_TEST(test_daemon_mainpid)
{
	char pidfile[HARNESS_PATH_MAX], log[HARNESS_PATH_MAX], buf[512];
	char want[64], *text;
	pid_t pid;

	harness_path(pidfile, sizeof pidfile, "d.pid");
	harness_path(log, sizeof log, "d.log");
	mgr_open(NULL);
	{
		const char *const args[] = {"-d", "-P", pidfile, "-p", "0",
		    "-t", "2", "--log-file", log, NULL};

		ck_assert_int_eq(harness_run("d", args), 0);
	}
	text = harness_file_read(pidfile);
	ck_assert_ptr_nonnull(text);
	pid = (pid_t)atoi(text);
	free(text);
	ck_assert_int_gt(pid, 0);
	harness_server_attach(&srv, pid, log);
	/* The parent exited 0 only after READY=1 was sent: it is queued. */
	ck_assert(mgr_recv(buf, sizeof buf, 0));
	snprintf(want, sizeof want, "\nMAINPID=%d$", (int)pid);
	ck_assert_msg(mgr_match(buf, "^READY=1\nSTATUS=2 workers, ") &&
	                  mgr_match(buf, want),
	    "%s", buf);
	ck_assert_int_eq(harness_server_stop(&srv), 0);
	mgr_expect(
	    "^STOPPING=1\nSTATUS=stopping$", SKIP_STATUS, buf, sizeof buf);
}
END_TEST

/* A $NOTIFY_SOCKET nobody listens on: said once at warn, and served. */
START_TEST(test_no_manager)
{
	char path[HARNESS_PATH_MAX];

	harness_path(path, sizeof path, "nobody.sock");
	ck_assert_int_eq(setenv("NOTIFY_SOCKET", path, 1), 0);
	ck_assert_int_eq(setenv("WATCHDOG_USEC", WATCHDOG_US, 1), 0);
	harness_server_start(&srv, "srv", 2, NULL);
	ck_assert(harness_file_wait(srv.log,
	    " warn cannot notify $NOTIFY_SOCKET: No such file or directory",
	    HARNESS_DEADLINE_MS));
	harness_serves(srv.port, 0);
	/* READY=1 and STOPPING=1 at least were refused: one line. */
	ck_assert_int_eq(harness_server_stop(&srv), 0);
	ck_assert_uint_eq(harness_count_in(srv.log, "cannot notify"), 1);
}
END_TEST

int
main(void)
{
#ifndef TL_HAVE_SYSTEMD
	/* Without libsystemd the server sends nothing: meson's skip. */
	harness_skip("this build has no libsystemd, no notifications");
	return 77;
#endif
	const TTest *tests[] = {test_ready_reload_stop, test_watchdog_interval,
	    test_watchdog_stuck_worker, test_watchdog_stalled_worker,
	    test_daemon_mainpid, test_no_manager, NULL};

	return harness_run_suite(
	    &(struct harness_suite){
	        .name = "notify", .teardown = teardown, .timeout = 120},
	    tests);
}
