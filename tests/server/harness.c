/* Black-box harness for the server tests: processes, log polling, clients.
 *
 * Clean-up does not rely on the test getting to its end: a failed Check
 * assertion _exit()s the forked test process. So the runner makes the temp
 * dir and is a child subreaper: servers the test left behind (daemons too,
 * having left the test's process group) become its children, and its
 * unchecked teardown kills them and removes the dir. Foreground servers
 * also die with the test process (parent-death signal, and Check kills the
 * test's process group). */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <poll.h>
#include <regex.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

#define HARNESS_MAX_CLIENTS 256
#define HARNESS_MAX_ARGS    64
/* What meson takes for "skipped". */
#define HARNESS_EXIT_SKIP 77

static char harness_tmp[HARNESS_PATH_MAX];
static int harness_clients[HARNESS_MAX_CLIENTS];
static int harness_nclients;
/* harness_skip() calls, in memory the forked tests share with the runner. */
static int *harness_skips;
/* struct harness_suite's server. */
static struct harness_server *harness_suite_server;

/* Milliseconds on the monotonic clock. */
long long
harness_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Sleep one poll interval; only ever between two checks of a condition. */
void
harness_nap(void)
{
	struct timespec ts = {0, HARNESS_POLL_MS * 1000 * 1000};

	nanosleep(&ts, NULL);
}

/* Copy s into buf with control bytes escaped, for failure messages. */
static const char *
harness_escape(const char *s, char *buf, size_t len)
{
	size_t n = 0;

	for (; s != NULL && *s != '\0' && n + 5 < len; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '\r' || c == '\n') {
			buf[n++] = '\\';
			buf[n++] = c == '\r' ? 'r' : 'n';
		} else if (c < 0x20 || c >= 0x7f)
			n += (size_t)snprintf(buf + n, len - n, "\\x%02x", c);
		else
			buf[n++] = (char)c;
	}
	buf[n] = '\0';
	return buf;
}

/* Unlink one entry of the temp dir tree. */
static int
harness_rm_cb(const char *path, const struct stat *sb, int type, struct FTW *f)
{
	(void)sb;
	(void)f;
	if (type == FTW_DP)
		(void)rmdir(path);
	else
		(void)unlink(path);
	return 0;
}

/* Runner: make the test's temp dir; adopt whatever the test orphans. */
void
harness_tcase_setup(void)
{
	snprintf(
	    harness_tmp, sizeof harness_tmp, "/tmp/threadlined-test.XXXXXX");
	ck_assert_msg(
	    mkdtemp(harness_tmp) != NULL, "mkdtemp: %s", strerror(errno));
	ck_assert_msg(prctl(PR_SET_CHILD_SUBREAPER, 1) == 0,
	    "PR_SET_CHILD_SUBREAPER: %s", strerror(errno));
}

/* Runner: kill what the test left running, remove its temp dir. */
void
harness_tcase_teardown(void)
{
	harness_kill_children();
	if (harness_tmp[0] == '\0')
		return;
	if (getenv("TL_KEEP_TMP") != NULL)
		fprintf(stderr, "harness: kept %s\n", harness_tmp);
	else
		nftw(harness_tmp, harness_rm_cb, 16, FTW_DEPTH | FTW_PHYS);
	harness_tmp[0] = '\0';
}

/* Runner: each test in a tcase of its own; EXIT_FAILURE when one failed,
 * else 77 when one skipped a part. */
int
harness_run_suite(const struct harness_suite *h, const TTest *tests[])
{
	Suite *s = suite_create(h->name);
	SRunner *sr;
	int failed, skipped;
	int prot = PROT_READ | PROT_WRITE, flags = MAP_SHARED | MAP_ANONYMOUS;

	/* An anonymous mapping takes fd -1 (mmap(2)). */
	/* cppcheck-suppress invalidFunctionArg */
	harness_skips = mmap(NULL, sizeof(int), prot, flags, -1, 0);
	if (harness_skips == MAP_FAILED) {
		fprintf(stderr, "harness: mmap: %s\n", strerror(errno));
		return EXIT_FAILURE;
	}
	*harness_skips = 0;
	harness_suite_server = h->server;
	for (int i = 0; tests[i] != NULL; i++) {
		TCase *tc = tcase_create(tests[i]->name);

		tcase_add_unchecked_fixture(tc, harness_tcase_setup,
		    h->tcase_teardown ? h->tcase_teardown
		                      : harness_tcase_teardown);
		tcase_add_checked_fixture(tc,
		    h->setup ? h->setup : harness_test_setup,
		    h->teardown ? h->teardown : harness_test_teardown);
		tcase_set_timeout(tc, h->timeout);
		tcase_add_test(tc, tests[i]);
		suite_add_tcase(s, tc);
	}
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	skipped = *harness_skips;
	munmap(harness_skips, sizeof *harness_skips);
	harness_skips = NULL;
	if (failed != 0)
		return EXIT_FAILURE;
	if (skipped != 0) {
		printf("%s: %d part(s) skipped (SKIP lines above): not a "
		       "pass\n",
		    h->name, skipped);
		return HARNESS_EXIT_SKIP;
	}
	return EXIT_SUCCESS;
}

/* Test: say why a part of the test is not run, and count it. */
void
harness_skip(const char *fmt, ...)
{
	va_list ap;

	printf("SKIP: ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
	if (harness_skips != NULL)
		(*harness_skips)++;
}

/* Test: adopt orphaned daemons so they can be waited for. */
void
harness_test_setup(void)
{
	const char *bin = getenv("THREADLINED");

	ck_assert_msg(harness_tmp[0] != '\0', "no temp dir: missing fixture");
	ck_assert_msg(bin != NULL && access(bin, X_OK) == 0,
	    "THREADLINED must name the threadlined binary (is '%s')",
	    bin ? bin : "(unset)");
	ck_assert_msg(prctl(PR_SET_CHILD_SUBREAPER, 1) == 0,
	    "PR_SET_CHILD_SUBREAPER: %s", strerror(errno));
	harness_nclients = 0;
}

/* Test: stop the suite's server, close the clients, kill and reap every
 * other server still running. */
void
harness_test_teardown(void)
{
	if (harness_suite_server != NULL && harness_suite_server->pid > 0)
		ck_assert_int_eq(harness_server_stop(harness_suite_server), 0);
	while (harness_nclients > 0)
		harness_close(harness_clients[harness_nclients - 1]);
	harness_kill_children();
}

/* The test's temp dir. */
const char *
harness_dir(void)
{
	return harness_tmp;
}

/* DIR/name into buf. */
void
harness_path(char *buf, size_t len, const char *name)
{
	int n = snprintf(buf, len, "%s/%s", harness_tmp, name);

	ck_assert_msg(n > 0 && (size_t)n < len, "path too long: %s", name);
}

/* The parent pid in /proc/PID/stat; -1 when it cannot be read. */
static pid_t
harness_ppid(pid_t pid)
{
	char path[64], buf[1024], *p;
	ssize_t n;
	int fd, ppid;

	snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return -1;
	n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	/* The name may hold spaces and parentheses. */
	if ((p = strrchr(buf, ')')) == NULL ||
	    sscanf(p + 1, " %*c %d", &ppid) != 1)
		return -1;
	return ppid;
}

/* Send sig to every child of this process. */
static void
harness_signal_children(int sig)
{
	struct dirent *de;
	pid_t self = getpid();
	DIR *d;

	if ((d = opendir("/proc")) == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		char *end;
		long pid = strtol(de->d_name, &end, 10);

		if (*end != '\0' || pid <= 0)
			continue;
		if (harness_ppid((pid_t)pid) == self)
			(void)kill((pid_t)pid, sig);
	}
	closedir(d);
}

/* Kill and reap every child until none is left. As a subreaper we inherit
 * grandchildren whose parent dies, so none can be missed. */
int
harness_kill_children(void)
{
	long long deadline = harness_now_ms() + HARNESS_DEADLINE_MS;
	int reaped = 0, status;
	pid_t pid;

	for (;;) {
		harness_signal_children(SIGKILL);
		pid = waitpid(-1, &status, WNOHANG);
		if (pid > 0) {
			reaped++;
			continue;
		}
		if (pid == -1 && errno == EINTR)
			continue;
		if (pid == -1 || harness_now_ms() > deadline)
			break;
		harness_nap();
	}
	return reaped;
}

/* Exit code from a wait status: 0..255, or 128 + the signal. */
static int
harness_code(int status)
{
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return 255;
}

/* In the forked child: plain signal state, output to files, exec. */
static void __attribute__((noreturn)) harness_exec(
    const char *const argv[], const char *out, const char *err, pid_t parent)
{
	static const int sigs[] = {
	    SIGPIPE, SIGHUP, SIGTERM, SIGINT, SIGALRM, SIGCHLD, SIGUSR1};
	sigset_t none;
	int fd;

	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
		signal(sigs[i], SIG_DFL);
	/* Die with the test, should it die before stopping us. */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) == -1 || getppid() != parent)
		_exit(127);
	if ((fd = open("/dev/null", O_RDONLY)) == -1 ||
	    dup2(fd, STDIN_FILENO) == -1)
		_exit(127);
	if ((fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644)) == -1 ||
	    dup2(fd, STDOUT_FILENO) == -1)
		_exit(127);
	if ((fd = open(err, O_WRONLY | O_CREAT | O_TRUNC, 0644)) == -1 ||
	    dup2(fd, STDERR_FILENO) == -1)
		_exit(127);
	execv(argv[0], (char *const *)argv);
	dprintf(
	    STDERR_FILENO, "harness: exec %s: %s\n", argv[0], strerror(errno));
	_exit(127);
}

/* Start $THREADLINED with args; output to DIR/tag.out and DIR/tag.err. */
pid_t
harness_spawn(const char *tag, const char *const args[])
{
	const char *bin = getenv("THREADLINED");
	const char *argv[HARNESS_MAX_ARGS];
	int n = 0;

	ck_assert_msg(bin != NULL, "THREADLINED is not set");
	/* As root the server wants a user to become; the tests stay root so
	 * that their files and signals keep working. */
	if (geteuid() == 0) {
		argv[n++] = "-u";
		argv[n++] = "root";
	}
	/* Servers under test run side by side: each admin thread takes a
	 * port the kernel picks, unless the test's own arguments say. */
	argv[n++] = "--admin";
	argv[n++] = "127.0.0.1:0";
	/* Never an installed threadlined.conf; a test's --config wins. */
	argv[n++] = "--config";
	argv[n++] = "";
	for (int i = 0; args != NULL && args[i] != NULL; i++) {
		ck_assert_msg(n < HARNESS_MAX_ARGS - 1, "too many arguments");
		argv[n++] = args[i];
	}
	argv[n] = NULL;
	return harness_spawn_prog(bin, tag, argv);
}

/* As harness_spawn, for any program (a peer server, a client tool). */
pid_t
harness_spawn_prog(const char *prog, const char *tag, const char *const args[])
{
	const char *argv[HARNESS_MAX_ARGS];
	char out[HARNESS_PATH_MAX], err[HARNESS_PATH_MAX], name[128];
	pid_t pid, parent = getpid();
	int n = 0;

	argv[n++] = prog;
	for (int i = 0; args != NULL && args[i] != NULL; i++) {
		ck_assert_msg(n < HARNESS_MAX_ARGS - 1, "too many arguments");
		argv[n++] = args[i];
	}
	argv[n] = NULL;
	snprintf(name, sizeof name, "%s.out", tag);
	harness_path(out, sizeof out, name);
	snprintf(name, sizeof name, "%s.err", tag);
	harness_path(err, sizeof err, name);

	fflush(NULL);
	pid = fork();
	ck_assert_msg(pid != -1, "fork: %s", strerror(errno));
	if (pid == 0)
		harness_exec(argv, out, err, parent);
	return pid;
}

/* Find a program on $PATH; false when it is not installed. */
bool
harness_which(const char *name, char *path, size_t len)
{
	const char *dirs = getenv("PATH"), *p, *colon;

	for (p = dirs != NULL ? dirs : "/usr/bin:/bin"; *p != '\0';
	     p = *colon ? colon + 1 : colon) {
		colon = strchrnul(p, ':');
		snprintf(path, len, "%.*s/%s", (int)(colon - p), p, name);
		if (access(path, X_OK) == 0)
			return true;
	}
	return false;
}

/* Wait up to timeout_ms for pid to exit; its exit code, or -1 if it is
 * still running. */
int
harness_wait(pid_t pid, int timeout_ms)
{
	long long deadline = harness_now_ms() + timeout_ms;
	int status;
	pid_t r;

	for (;;) {
		r = waitpid(pid, &status, WNOHANG);
		if (r == pid)
			return harness_code(status);
		if (r == -1 && errno != EINTR)
			ck_abort_msg(
			    "waitpid %d: %s", (int)pid, strerror(errno));
		if (harness_now_ms() > deadline)
			return -1;
		harness_nap();
	}
}

/* Run $THREADLINED with args to completion; its exit code. */
int
harness_run(const char *tag, const char *const args[])
{
	return harness_wait_exit(harness_spawn(tag, args), "threadlined", tag);
}

/* Run prog with args to completion; its exit code. */
int
harness_run_prog(const char *prog, const char *tag, const char *const args[])
{
	return harness_wait_exit(
	    harness_spawn_prog(prog, tag, args), prog, tag);
}

/* Wait for pid's exit; kill it and fail at the deadline. */
int
harness_wait_exit(pid_t pid, const char *prog, const char *tag)
{
	int code = harness_wait(pid, HARNESS_DEADLINE_MS);

	if (code == -1) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		ck_abort_msg("%s (%s) still running after %d ms", prog, tag,
		    HARNESS_DEADLINE_MS);
	}
	return code;
}

/* The client binary the tests run. */
const char *
harness_client_bin(void)
{
	const char *bin = getenv("THREADLINE");

	ck_assert_msg(bin != NULL && access(bin, X_OK) == 0,
	    "THREADLINE must name the threadline binary (is '%s')",
	    bin ? bin : "(unset)");
	return bin;
}

/* The last len - 1 bytes of a file, escaped, for failure messages. */
static const char *
harness_tail(const char *path, char *buf, size_t len)
{
	char *text = harness_file_read(path);
	size_t n;

	if (text == NULL) {
		snprintf(buf, len, "(no %s)", path);
		return buf;
	}
	n = strlen(text);
	harness_escape(n > len / 2 ? text + n - len / 2 : text, buf, len);
	free(text);
	return buf;
}

/* First match of the extended regex re in text; match gets the first
 * subexpression, or the whole match when re has none. */
static bool
harness_re_find(const char *text, const char *re, char *match, size_t len)
{
	regmatch_t m[2];
	regex_t rx;
	int found, k;

	ck_assert_msg(regcomp(&rx, re, REG_EXTENDED | REG_NEWLINE) == 0,
	    "bad regex %s", re);
	found = regexec(&rx, text, 2, m, 0) == 0;
	if (found && match != NULL && len > 0) {
		k = rx.re_nsub > 0 && m[1].rm_so != -1 ? 1 : 0;
		snprintf(match, len, "%.*s", (int)(m[k].rm_eo - m[k].rm_so),
		    text + m[k].rm_so);
	}
	regfree(&rx);
	return found;
}

/* Start a foreground server: -p 0 -t threads --log-file DIR/tag.log, then
 * extra. */
void
harness_server_start(struct harness_server *srv, const char *tag, int threads,
    const char *const extra[])
{
	const char *args[HARNESS_MAX_ARGS] = {
	    "-p", "0", "-t", NULL, "--log-file"};
	char nthreads[16], log[HARNESS_PATH_MAX], name[128];
	int n = 6;

	snprintf(nthreads, sizeof nthreads, "%d", threads);
	snprintf(name, sizeof name, "%s.log", tag);
	harness_path(log, sizeof log, name);
	args[3] = nthreads;
	args[5] = log;
	for (int i = 0; extra != NULL && extra[i] != NULL; i++) {
		ck_assert_msg(n < HARNESS_MAX_ARGS - 1, "too many arguments");
		args[n++] = extra[i];
	}
	args[n] = NULL;
	harness_server_attach(srv, harness_spawn(tag, args), log);
}

/* Wait until the server pid logs its port and that it is ready: signals
 * are handled only from "ready" on, after "listening on". */
void
harness_server_attach(struct harness_server *srv, pid_t pid, const char *log)
{
	long long deadline = harness_now_ms() + HARNESS_DEADLINE_MS;
	char port[16], err[HARNESS_PATH_MAX], tail[1024];
	char *text;
	int status;

	memset(srv, 0, sizeof *srv);
	srv->pid = pid;
	snprintf(srv->log, sizeof srv->log, "%s", log);
	for (;;) {
		if ((text = harness_file_read(log)) != NULL) {
			bool ready =
			    harness_re_find(text,
			        " notice ready: [0-9]+ threads", NULL, 0) &&
			    harness_re_find(text,
			        " accept notice listening on "
			        "[^ ]*:([0-9]+)$",
			        port, sizeof port);

			free(text);
			if (ready)
				break;
		}
		if (waitpid(pid, &status, WNOHANG) == pid) {
			srv->pid = 0;
			/* DIR/tag.log was started with stderr in DIR/tag.err.
			 */
			snprintf(err, sizeof err, "%s", log);
			if (strlen(err) > 4)
				strcpy(err + strlen(err) - 4, ".err");
			ck_abort_msg("threadlined exited with %d before it was "
			             "ready; stderr ends: %s",
			    harness_code(status),
			    harness_tail(err, tail, sizeof tail));
		}
		ck_assert_msg(harness_now_ms() < deadline,
		    "threadlined not ready after %d ms; log ends: %s",
		    HARNESS_DEADLINE_MS, harness_tail(log, tail, sizeof tail));
		harness_nap();
	}
	srv->port = atoi(port);
	ck_assert_msg(srv->port > 0 && srv->port < 65536, "bad port %s", port);
}

/* Start memcached on DIR/sock and wait until it takes a connection. */
bool
harness_memcached_start(
    struct harness_memcached *mc, const char *sock, const char *const args[])
{
	const char *argv[HARNESS_MAX_ARGS] = {"-s", NULL, "-U", "0"};
	long long deadline = harness_now_ms() + HARNESS_DEADLINE_MS;
	char bin[HARNESS_PATH_MAX], err[HARNESS_PATH_MAX], tail[1024];
	int n = 4, fd, status;

	memset(mc, 0, sizeof *mc);
	if (!harness_which("memcached", bin, sizeof bin)) {
		harness_skip("memcached is not installed: nothing to compare "
		             "with");
		return false;
	}
	harness_path(mc->sock, sizeof mc->sock, sock);
	argv[1] = mc->sock;
	for (int i = 0; args != NULL && args[i] != NULL; i++) {
		ck_assert_msg(n < HARNESS_MAX_ARGS - 3, "too many arguments");
		argv[n++] = args[i];
	}
	/* memcached refuses to run as root without a user to become. */
	if (geteuid() == 0) {
		argv[n++] = "-u";
		argv[n++] = "root";
	}
	argv[n] = NULL;
	mc->pid = harness_spawn_prog(bin, "memcached", argv);
	while ((fd = harness_connect_unix(mc->sock)) == -1) {
		if (waitpid(mc->pid, &status, WNOHANG) == mc->pid) {
			mc->pid = 0;
			harness_path(err, sizeof err, "memcached.err");
			ck_abort_msg("memcached exited with %d before it "
			             "listened on %s; stderr ends: %s",
			    harness_code(status), mc->sock,
			    harness_tail(err, tail, sizeof tail));
		}
		ck_assert_msg(harness_now_ms() < deadline,
		    "memcached did not listen on %s", mc->sock);
		harness_nap();
	}
	harness_close(fd);
	return true;
}

/* SIGTERM, then wait; SIGKILL and fail if it does not exit in time.
 * Returns the exit code. */
int
harness_memcached_stop(struct harness_memcached *mc)
{
	pid_t pid = mc->pid;
	int code;

	if (pid <= 0)
		return 0;
	mc->pid = 0;
	ck_assert_msg(
	    kill(pid, SIGTERM) == 0, "kill %d: %s", (int)pid, strerror(errno));
	if ((code = harness_wait(pid, HARNESS_DEADLINE_MS)) == -1) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		ck_abort_msg("memcached %d still running %d ms after SIGTERM",
		    (int)pid, HARNESS_DEADLINE_MS);
	}
	return code;
}

/* A connection to a peer, by its port or its socket. */
int
harness_peer_connect(const struct harness_peer *p)
{
	return p->port != 0 ? harness_connect(p->port)
	                    : harness_connect_unix(p->sock);
}

/* threadlined, then memcached where it is installed. */
int
harness_peers(struct harness_peer peers[2], const struct harness_server *tl,
    struct harness_memcached *mc)
{
	int n = 0;

	peers[n++] =
	    (struct harness_peer){.name = "threadlined", .port = tl->port};
	if (harness_memcached_start(mc, "mc.sock",
	        (const char *const[]){"-t", "2", "-m", "64", NULL}))
		peers[n++] = (struct harness_peer){
		    .name = "memcached", .sock = mc->sock};
	return n;
}

/* Each live thread of pid as "name:wchan", for a stop that hangs. */
static void
harness_threads(pid_t pid, char *buf, size_t len)
{
	char path[320], name[32], wchan[64];
	struct dirent *d;
	size_t used = 0;
	DIR *dir;

	buf[0] = '\0';
	snprintf(path, sizeof path, "/proc/%d/task", (int)pid);
	if ((dir = opendir(path)) == NULL)
		return;
	while ((d = readdir(dir)) != NULL && used + 1 < len) {
		FILE *f;

		if (d->d_name[0] == '.')
			continue;
		snprintf(name, sizeof name, "?");
		snprintf(wchan, sizeof wchan, "?");
		snprintf(path, sizeof path, "/proc/%d/task/%s/comm", (int)pid,
		    d->d_name);
		if ((f = fopen(path, "r")) != NULL) {
			if (fscanf(f, "%31s", name) != 1)
				snprintf(name, sizeof name, "?");
			fclose(f);
		}
		snprintf(path, sizeof path, "/proc/%d/task/%s/wchan", (int)pid,
		    d->d_name);
		if ((f = fopen(path, "r")) != NULL) {
			if (fscanf(f, "%63s", wchan) != 1)
				snprintf(wchan, sizeof wchan, "?");
			fclose(f);
		}
		used += (size_t)snprintf(
		    buf + used, len - used, "%s:%s ", name, wchan);
	}
	closedir(dir);
}

/* SIGTERM, then wait; SIGKILL and fail if it does not exit in time.
 * Returns the exit code. */
int
harness_server_stop(struct harness_server *srv)
{
	pid_t pid = srv->pid;
	int code;

	ck_assert_msg(pid > 0, "server not running");
	ck_assert_msg(
	    kill(pid, SIGTERM) == 0, "kill %d: %s", (int)pid, strerror(errno));
	code = harness_wait(pid, HARNESS_DEADLINE_MS);
	if (code == -1) {
		char threads[1024], tail[1024];

		harness_threads(pid, threads, sizeof threads);
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		srv->pid = 0;
		ck_abort_msg(
		    "threadlined %d still running %d ms after SIGTERM; "
		    "threads: %s; log ends: %s",
		    (int)pid, HARNESS_DEADLINE_MS, threads,
		    harness_tail(srv->log, tail, sizeof tail));
	}
	srv->pid = 0;
	return code;
}

/* The whole file, NUL-terminated, malloc'd; NULL if it does not exist. */
char *
harness_file_read(const char *path)
{
	size_t len = 0, cap = 8192;
	char *buf;
	ssize_t n;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		ck_assert_msg(
		    errno == ENOENT, "open %s: %s", path, strerror(errno));
		return NULL;
	}
	buf = malloc(cap);
	ck_assert_ptr_nonnull(buf);
	for (;;) {
		if (cap - len < 4096) {
			char *more = realloc(buf, cap * 2);

			ck_assert_ptr_nonnull(more);
			buf = more;
			cap *= 2;
		}
		n = read(fd, buf + len, cap - len - 1);
		if (n == -1 && errno == EINTR)
			continue;
		ck_assert_msg(n != -1, "read %s: %s", path, strerror(errno));
		if (n == 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	buf[len] = '\0';
	return buf;
}

/* Create or replace a file with text. */
void
harness_file_write(const char *path, const char *text)
{
	size_t len = strlen(text);
	int fd;

	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	ck_assert_msg(fd != -1, "open %s: %s", path, strerror(errno));
	ck_assert_msg(write(fd, text, len) == (ssize_t)len, "write %s: %s",
	    path, strerror(errno));
	close(fd);
}

/* Poll until the file holds needle; false at the deadline. */
bool
harness_file_wait(const char *path, const char *needle, int timeout_ms)
{
	long long deadline = harness_now_ms() + timeout_ms;
	char *text;
	bool found;

	for (;;) {
		text = harness_file_read(path);
		found = text != NULL && strstr(text, needle) != NULL;
		free(text);
		if (found)
			return true;
		if (harness_now_ms() > deadline)
			return false;
		harness_nap();
	}
}

/* Poll until a line of the file matches the extended regex re; match gets
 * its first subexpression (or the whole match). False at the deadline. */
bool
harness_file_wait_re(
    const char *path, const char *re, char *match, size_t len, int timeout_ms)
{
	long long deadline = harness_now_ms() + timeout_ms;
	char *text;
	bool found;

	for (;;) {
		text = harness_file_read(path);
		found = text != NULL && harness_re_find(text, re, match, len);
		free(text);
		if (found)
			return true;
		if (harness_now_ms() > deadline)
			return false;
		harness_nap();
	}
}

/* Occurrences of needle in a file (0 if it does not exist). */
size_t
harness_count_in(const char *path, const char *needle)
{
	char *text = harness_file_read(path);
	size_t n = harness_count(text, needle);

	free(text);
	return n;
}

/* How many times needle occurs in text, without overlap. */
size_t
harness_count(const char *text, const char *needle)
{
	size_t n = 0, len = strlen(needle);
	const char *p = text;

	if (text == NULL || len == 0)
		return 0;
	while ((p = strstr(p, needle)) != NULL) {
		n++;
		p += len;
	}
	return n;
}

/* The first line of text holding needle, without its newline. */
bool
harness_line_with(const char *text, const char *needle, char *line, size_t len)
{
	const char *p, *start, *end;

	if (text == NULL || (p = strstr(text, needle)) == NULL)
		return false;
	for (start = p; start > text && start[-1] != '\n'; start--)
		;
	if ((end = strchr(p, '\n')) == NULL)
		end = p + strlen(p);
	snprintf(line, len, "%.*s", (int)(end - start), start);
	return true;
}

/* Field i of a log line "TIME THREAD LEVEL MESSAGE": 0 time, 1 thread,
 * 2 level, 3 the whole message. */
bool
harness_line_field(const char *line, int i, char *out, size_t len)
{
	const char *p = line, *end;

	for (int k = 0; k < i; k++) {
		if ((p = strchr(p, ' ')) == NULL)
			return false;
		p++;
	}
	if (i == 3)
		end = p + strlen(p);
	else if ((end = strchr(p, ' ')) == NULL)
		return false;
	snprintf(out, len, "%.*s", (int)(end - p), p);
	return true;
}

/* The last non-empty line of text. */
bool
harness_last_line(const char *text, char *line, size_t len)
{
	const char *end, *start;

	if (text == NULL)
		return false;
	end = text + strlen(text);
	while (end > text && end[-1] == '\n')
		end--;
	if (end == text)
		return false;
	for (start = end; start > text && start[-1] != '\n'; start--)
		;
	snprintf(line, len, "%.*s", (int)(end - start), start);
	return true;
}

/* The comm of a process (tid 0) or of one of its threads. */
bool
harness_proc_comm(pid_t pid, pid_t tid, char *buf, size_t len)
{
	char path[128];
	ssize_t n;
	int fd;

	if (tid == 0)
		snprintf(path, sizeof path, "/proc/%d/comm", (int)pid);
	else
		snprintf(path, sizeof path, "/proc/%d/task/%d/comm", (int)pid,
		    (int)tid);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return false;
	n = read(fd, buf, len - 1);
	close(fd);
	if (n <= 0)
		return false;
	buf[n] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
	return true;
}

/* The state letter (R, S, D, Z...) of a thread; 0 if it is gone. */
char
harness_proc_state(pid_t pid, pid_t tid)
{
	char path[128], buf[1024], *p;
	ssize_t n;
	int fd;

	snprintf(
	    path, sizeof path, "/proc/%d/task/%d/stat", (int)pid, (int)tid);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return 0;
	n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	if ((p = strrchr(buf, ')')) == NULL || p[1] != ' ')
		return 0;
	return p[2];
}

/* Whether pid has a thread whose comm is name; its tid in *tid. */
bool
harness_thread_named(pid_t pid, const char *name, pid_t *tid)
{
	char path[64], comm[32];
	struct dirent *de;
	bool found = false;
	DIR *d;

	snprintf(path, sizeof path, "/proc/%d/task", (int)pid);
	if ((d = opendir(path)) == NULL)
		return false;
	while (!found && (de = readdir(d)) != NULL) {
		pid_t t = (pid_t)atoi(de->d_name);

		if (t > 0 && harness_proc_comm(pid, t, comm, sizeof comm) &&
		    strcmp(comm, name) == 0) {
			found = true;
			if (tid != NULL)
				*tid = t;
		}
	}
	closedir(d);
	return found;
}

/* The comm of each thread of pid, at most max; how many there are. */
size_t
harness_thread_comms(pid_t pid, char (*comms)[16], size_t max)
{
	char path[64];
	struct dirent *de;
	size_t n = 0;
	DIR *d;

	snprintf(path, sizeof path, "/proc/%d/task", (int)pid);
	if ((d = opendir(path)) == NULL)
		return 0;
	while ((de = readdir(d)) != NULL) {
		pid_t t = (pid_t)atoi(de->d_name);

		if (t <= 0)
			continue;
		if (n < max && !harness_proc_comm(pid, t, comms[n], 16))
			continue;
		n++;
	}
	closedir(d);
	return n;
}

/* A TCP connection to 127.0.0.1:port, closed at teardown if still open. */
int
harness_connect(int port)
{
	return harness_connect_rcvbuf(port, 0);
}

/* The same with SO_RCVBUF set first, unless rcvbuf is 0. */
int
harness_connect_rcvbuf(int port, int rcvbuf)
{
	struct sockaddr_in sin = {.sin_family = AF_INET,
	    .sin_port = htons((uint16_t)port),
	    .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	int fd;

	ck_assert_msg(
	    harness_nclients < HARNESS_MAX_CLIENTS, "too many clients");
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert_msg(fd != -1, "socket: %s", strerror(errno));
	ck_assert_msg(rcvbuf == 0 || setsockopt(fd, SOL_SOCKET, SO_RCVBUF,
	                                 &rcvbuf, sizeof rcvbuf) == 0,
	    "SO_RCVBUF: %s", strerror(errno));
	if (connect(fd, (struct sockaddr *)&sin, sizeof sin) == -1) {
		int error = errno;

		close(fd);
		ck_abort_msg("connect to port %d: %s", port, strerror(error));
	}
	harness_clients[harness_nclients++] = fd;
	return fd;
}

/* A connection to the Unix socket path, closed at teardown if still
 * open; -1 when nothing listens there (yet). */
int
harness_connect_unix(const char *path)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	int fd;

	ck_assert_msg(strlen(path) < sizeof sun.sun_path,
	    "socket path too long: %s", path);
	ck_assert_msg(
	    harness_nclients < HARNESS_MAX_CLIENTS, "too many clients");
	strcpy(sun.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert_msg(fd != -1, "socket: %s", strerror(errno));
	if (connect(fd, (struct sockaddr *)&sun, sizeof sun) == -1) {
		close(fd);
		return -1;
	}
	harness_clients[harness_nclients++] = fd;
	return fd;
}

/* Close a client from harness_connect or harness_connect_unix. */
void
harness_close(int fd)
{
	for (int i = 0; i < harness_nclients; i++)
		if (harness_clients[i] == fd) {
			harness_clients[i] =
			    harness_clients[--harness_nclients];
			break;
		}
	close(fd);
}

/* The client's own port: the server logs it as peer=127.0.0.1:PORT. */
int
harness_local_port(int fd)
{
	struct sockaddr_in sin;
	socklen_t len = sizeof sin;

	ck_assert_msg(getsockname(fd, (struct sockaddr *)&sin, &len) == 0,
	    "getsockname: %s", strerror(errno));
	return ntohs(sin.sin_port);
}

/* Write all of buf within the deadline. */
void
harness_send(int fd, const void *buf, size_t len)
{
	long long deadline = harness_now_ms() + HARNESS_DEADLINE_MS;
	const char *p = buf;
	ssize_t n;

	while (len > 0) {
		struct pollfd pfd = {.fd = fd, .events = POLLOUT};
		long long left = deadline - harness_now_ms();

		ck_assert_msg(
		    left > 0, "send: timed out with %zu bytes left", len);
		if (poll(&pfd, 1, (int)left) <= 0)
			continue;
		n = send(fd, p, len, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n == -1 && (errno == EINTR || errno == EAGAIN))
			continue;
		ck_assert_msg(n > 0, "send: %s", strerror(errno));
		p += n;
		len -= (size_t)n;
	}
}

/* Write all of buf; no assertion, for client threads. */
int
harness_write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len > 0) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);

		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			return n == 0 ? EPIPE : errno;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Write a string. */
void
harness_sends(int fd, const char *s)
{
	harness_send(fd, s, strlen(s));
}

/* Read into buf until it holds term (if not NULL), count bytes (if not 0),
 * EOF (or a reset, also reported as EOF), or timeout_ms passed. Returns the
 * length; buf is NUL-terminated. */
size_t
harness_recv(int fd, char *buf, size_t cap, const char *term, size_t count,
    int timeout_ms, bool *eof)
{
	long long deadline = harness_now_ms() + timeout_ms;
	size_t len = 0, want;
	ssize_t n;

	if (eof != NULL)
		*eof = false;
	buf[0] = '\0';
	while (len + 1 < cap) {
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		long long left = deadline - harness_now_ms();

		if (term != NULL && strstr(buf, term) != NULL)
			break;
		if (count > 0 && len >= count)
			break;
		if (left <= 0)
			break;
		n = poll(&pfd, 1, (int)left);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		want = cap - 1 - len;
		if (count > 0 && count - len < want)
			want = count - len;
		n = recv(fd, buf + len, want, MSG_DONTWAIT);
		if (n == -1 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n <= 0) {
			if (eof != NULL &&
			    (n == 0 || errno == ECONNRESET || errno == EPIPE))
				*eof = true;
			break;
		}
		len += (size_t)n;
		buf[len] = '\0';
	}
	return len;
}

/* Read until EOF. */
size_t
harness_recv_all(int fd, char *buf, size_t cap, int timeout_ms, bool *eof)
{
	return harness_recv(fd, buf, cap, NULL, 0, timeout_ms, eof);
}

/* A request and its whole response; the status code. */
int
harness_http(int port, const char *req, size_t len, char *resp, size_t cap)
{
	bool eof;
	int fd = harness_connect(port), code = 0;

	harness_send(fd, req, len);
	harness_recv_all(fd, resp, cap, HARNESS_DEADLINE_MS, &eof);
	harness_close(fd);
	ck_assert_msg(eof, "no end of response: %s", resp);
	ck_assert_msg(sscanf(resp, "HTTP/1.1 %d ", &code) == 1,
	    "no status line: %s", resp);
	return code;
}

void
harness_serves(int port, int n)
{
	char req[128], want[128], buf[256];
	int fd = harness_connect(port);

	snprintf(req, sizeof req, "set probe%d 0 0 2\r\nok\r\nget probe%d\r\n",
	    n, n);
	snprintf(want, sizeof want,
	    "STORED\r\nVALUE probe%d 0 2\r\nok\r\nEND\r\n", n);
	harness_cmd(fd, req, "END\r\n", buf, sizeof buf);
	ck_assert_msg(strcmp(buf, want) == 0, "probe %d: %s", n, buf);
	harness_close(fd);
}

/* Send a request and read its reply up to term; fail if term never comes. */
void
harness_cmd(int fd, const char *req, const char *term, char *buf, size_t cap)
{
	char e1[128], e2[512];
	bool eof;

	harness_sends(fd, req);
	harness_recv(fd, buf, cap, term, 0, HARNESS_DEADLINE_MS, &eof);
	ck_assert_msg(strstr(buf, term) != NULL,
	    "reply to '%s' lacks '%s'%s: got '%s'",
	    harness_escape(req, e1, sizeof e1), term,
	    eof ? " (EOF)" : " (timeout)", harness_escape(buf, e2, sizeof e2));
}

/* The value of "STAT name VALUE" in a stats reply. */
bool
harness_stat(const char *reply, const char *name, char *val, size_t len)
{
	char key[128];
	const char *p = reply, *end;
	size_t klen;

	snprintf(key, sizeof key, "STAT %s ", name);
	klen = strlen(key);
	while ((p = strstr(p, key)) != NULL) {
		if (p == reply || p[-1] == '\n') {
			p += klen;
			end = p + strcspn(p, "\r\n");
			snprintf(val, len, "%.*s", (int)(end - p), p);
			return true;
		}
		p += klen;
	}
	return false;
}

void
harness_put16(unsigned char *p, unsigned v)
{
	p[0] = (unsigned char)(v >> 8);
	p[1] = (unsigned char)v;
}

void
harness_put32(unsigned char *p, uint32_t v)
{
	harness_put16(p, v >> 16);
	harness_put16(p + 2, v & 0xffff);
}

void
harness_put64(unsigned char *p, uint64_t v)
{
	harness_put32(p, (uint32_t)(v >> 32));
	harness_put32(p + 4, (uint32_t)v);
}

unsigned
harness_get16(const unsigned char *p)
{
	return (unsigned)p[0] << 8 | p[1];
}

uint32_t
harness_get32(const unsigned char *p)
{
	return (uint32_t)harness_get16(p) << 16 | harness_get16(p + 2);
}

uint64_t
harness_get64(const unsigned char *p)
{
	return (uint64_t)harness_get32(p) << 32 | harness_get32(p + 4);
}

/* The TCP port a server listens on, found through its socket inodes in
 * /proc: for servers whose log says nothing we can read. 0 if none yet.
 * The memcached listener is bound before the admin thread's, so it has
 * the lowest descriptor of the listening sockets. */
int
harness_proc_listen_port(pid_t pid)
{
	char path[64], link[64], line[512];
	unsigned long inodes[256], inode;
	int fds[256], best = -1;
	unsigned lport, state;
	size_t n = 0;
	struct dirent *de;
	int port = 0;
	DIR *d;
	FILE *f;

	snprintf(path, sizeof path, "/proc/%d/fd", (int)pid);
	if ((d = opendir(path)) == NULL)
		return 0;
	while ((de = readdir(d)) != NULL && n < 256) {
		char fdpath[320];
		ssize_t len;

		snprintf(fdpath, sizeof fdpath, "%s/%s", path, de->d_name);
		len = readlink(fdpath, link, sizeof link - 1);
		if (len <= 0)
			continue;
		link[len] = '\0';
		if (sscanf(link, "socket:[%lu]", &inode) == 1) {
			fds[n] = atoi(de->d_name);
			inodes[n++] = inode;
		}
	}
	closedir(d);
	snprintf(path, sizeof path, "/proc/%d/net/tcp", (int)pid);
	if ((f = fopen(path, "r")) == NULL)
		return 0;
	while (fgets(line, sizeof line, f) != NULL) {
		/* sl local rem st tx:rx tr:when retr uid timeout inode */
		if (sscanf(line,
		        " %*d: %*x:%x %*x:%*x %x %*x:%*x %*x:%*x %*x %*u "
		        "%*d %lu",
		        &lport, &state, &inode) != 3 ||
		    state != 0x0a)
			continue;
		for (size_t i = 0; i < n; i++)
			if (inodes[i] == inode &&
			    (best == -1 || fds[i] < best)) {
				best = fds[i];
				port = (int)lport;
			}
	}
	fclose(f);
	return port;
}

/* DIR/tag.ext, read whole ("" when missing), for assertions. */
char *
harness_output(const char *tag, const char *ext)
{
	char name[128], path[HARNESS_PATH_MAX], *text;

	snprintf(name, sizeof name, "%s.%s", tag, ext);
	harness_path(path, sizeof path, name);
	text = harness_file_read(path);
	return text != NULL ? text : strdup("");
}

/* The admin port the server logged. */
int
harness_admin_port(const struct harness_server *s)
{
	char port[16];

	ck_assert_msg(harness_file_wait_re(s->log,
	                  " admin notice serving admin HTTP at [^ ]*:([0-9]+)$",
	                  port, sizeof port, HARNESS_DEADLINE_MS),
	    "no admin HTTP line in %s", s->log);
	return atoi(port);
}
