/* Logs that cannot silently break, run as an operator runs the server:
 * started as root with -u nobody in a directory only nobody can use,
 * rotated by the real logrotate with the shipped
 * config/logrotate.d/threadlined; a reopen that fails, syslog and the
 * journal with nothing listening, and a write cut short by a file size
 * limit are counted in logger:lines_failed, said, and retried. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <regex.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "harness.h"
#include "tl_build.h"

#define BUFSZ       16384
#define ROTATIONS   4
#define ROT_KEYS    200 /* sets between two rotations */
#define SHIPPED_LOG "/var/log/threadlined/threadlined.log"
#define SHIPPED_PID "/run/threadlined/threadlined.pid"

static uid_t nobody_uid;
static gid_t nobody_gid;

/* The test dir belongs to nobody, mode 0700: only nobody (and root) can
 * use it, as /var/log/threadlined under LogsDirectory=. */
static void
test_dir_for_nobody(void)
{
	/* The test process has one thread. */
	// cppcheck-suppress getpwnamCalled
	struct passwd *pw = getpwnam("nobody");

	ck_assert_msg(geteuid() == 0, "these tests start the server as root");
	ck_assert_msg(pw != NULL, "no user nobody");
	nobody_uid = pw->pw_uid;
	nobody_gid = pw->pw_gid;
	ck_assert_int_eq(chown(harness_dir(), nobody_uid, nobody_gid), 0);
	ck_assert_int_eq(chmod(harness_dir(), 0700), 0);
}

/* Start threadlined as root with -u nobody, the log file DIR/srv.log, the
 * pidfile DIR/srv.pid and extra args, through the program and arguments
 * of wrap (NULL: none), which execs the rest; wait until it is ready. */
static void
test_start_in(struct harness_server *srv, const char *const wrap[],
    const char *const extra[])
{
	const char *args[48];
	char log[HARNESS_PATH_MAX], pid[HARNESS_PATH_MAX];
	const char *bin = getenv("THREADLINED"), *prog = bin;
	int n = 0;

	ck_assert_msg(bin != NULL, "THREADLINED is not set");
	harness_path(log, sizeof log, "srv.log");
	harness_path(pid, sizeof pid, "srv.pid");
	if (wrap != NULL) {
		prog = wrap[0];
		for (int i = 1; wrap[i] != NULL; i++)
			args[n++] = wrap[i];
		args[n++] = bin;
	}
	{
		const char *fixed[] = {"-u", "nobody", "-p", "0", "-t", "2",
		    "--admin", "127.0.0.1:0", "--access-log", "--log-file", log,
		    "-P", pid};

		for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++)
			args[n++] = fixed[i];
	}
	for (int i = 0; extra != NULL && extra[i] != NULL; i++)
		args[n++] = extra[i];
	args[n] = NULL;
	harness_server_attach(srv, harness_spawn_prog(prog, "srv", args), log);
}

static void
test_start(struct harness_server *srv, const char *const extra[])
{
	test_start_in(srv, NULL, extra);
}

/* A numeric STAT of "stats threads", -1 if it is missing. */
static long long
test_thread_stat(int port, const char *name)
{
	char buf[BUFSZ], val[64];
	int fd = harness_connect(port);

	harness_cmd(fd, "stats threads\r\n", "END\r\n", buf, sizeof buf);
	harness_close(fd);
	if (!harness_stat(buf, name, val, sizeof val))
		return -1;
	return atoll(val);
}

/* Set keys PREFIX0 .. PREFIX(n-1) on one connection. */
static void
test_sets(int port, const char *prefix, int n)
{
	char req[128], buf[256];
	int fd = harness_connect(port);

	for (int i = 0; i < n; i++) {
		snprintf(req, sizeof req, "set %s%d 0 0 1\r\nx\r\n", prefix, i);
		harness_cmd(fd, req, "\r\n", buf, sizeof buf);
		ck_assert_str_eq(buf, "STORED\r\n");
	}
	harness_close(fd);
}

/* Wait until DIR/srv.err holds want. */
static void
test_wait_stderr(const char *want)
{
	long long deadline = harness_now_ms() + HARNESS_DEADLINE_MS;
	char *err;

	for (;;) {
		err = harness_output("srv", "err");
		if (harness_count(err, want) > 0)
			break;
		ck_assert_msg(harness_now_ms() < deadline,
		    "'%s' not on stderr: %s", want, err);
		free(err);
		harness_nap();
	}
	free(err);
}

/* Poll until logger:lines_failed reaches at least want; returns it. */
static long long
test_wait_failed(int port, long long want)
{
	long long deadline = harness_now_ms() + HARNESS_DEADLINE_MS, n;

	while ((n = test_thread_stat(port, "logger:lines_failed")) < want) {
		ck_assert_msg(harness_now_ms() < deadline,
		    "logger:lines_failed %lld, want %lld", n, want);
		harness_nap();
	}
	return n;
}

/* A datagram socket bound at path that nobody may send to. */
static int
test_dgram_bind(const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	ck_assert(fd != -1);
	ck_assert(strlen(path) < sizeof sa.sun_path);
	strcpy(sa.sun_path, path);
	ck_assert_msg(bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0,
	    "bind %s: %s", path, strerror(errno));
	ck_assert_int_eq(chmod(path, 0666), 0);
	return fd;
}

/* Send sets until fd receives a datagram holding want (the sink's retry
 * comes with a line); the datagram in buf. */
static void
test_dgram_wait(int port, int fd, const char *want, char *buf, size_t cap)
{
	long long deadline = harness_now_ms() + 3 * HARNESS_DEADLINE_MS;

	for (;;) {
		ssize_t n;

		test_sets(port, "retry", 1);
		while ((n = recv(fd, buf, cap - 1, MSG_DONTWAIT)) > 0) {
			buf[n] = '\0';
			if (memmem(buf, (size_t)n, want, strlen(want)))
				return;
		}
		ck_assert_msg(
		    harness_now_ms() < deadline, "no datagram with '%s'", want);
		harness_nap();
	}
}

/* Poll until logger:lines_written reaches at least want. */
static void
test_wait_written(int port, long long want)
{
	long long deadline = harness_now_ms() + HARNESS_DEADLINE_MS, n;

	while ((n = test_thread_stat(port, "logger:lines_written")) < want) {
		ck_assert_msg(harness_now_ms() < deadline,
		    "logger:lines_written %lld, want %lld", n, want);
		harness_nap();
	}
}

/* The shipped logrotate file with its two paths made the test's, nothing
 * else changed, in DIR/logrotate.conf. */
static void
test_logrotate_conf(char *conf, size_t len)
{
	const char *dir = getenv("TL_CONFIG_DIR");
	char path[HARNESS_PATH_MAX], log[HARNESS_PATH_MAX];
	char pid[HARNESS_PATH_MAX], *text, *out, *o;
	const char *from[] = {SHIPPED_LOG, SHIPPED_PID};
	const char *to[] = {log, pid};

	ck_assert_msg(dir != NULL, "TL_CONFIG_DIR is not set");
	snprintf(path, sizeof path, "%s/logrotate.d/threadlined", dir);
	ck_assert_msg((text = harness_file_read(path)) != NULL, "no %s", path);
	harness_path(log, sizeof log, "srv.log");
	harness_path(pid, sizeof pid, "srv.pid");
	/* A few names, each replaced by a path of at most HARNESS_PATH_MAX. */
	out = o = calloc(1, strlen(text) + 16 * HARNESS_PATH_MAX);
	ck_assert(out != NULL);
	for (const char *p = text; *p != '\0';) {
		size_t i;

		for (i = 0; i < 2; i++)
			if (strncmp(p, from[i], strlen(from[i])) == 0)
				break;
		if (i < 2) {
			o = stpcpy(o, to[i]);
			p += strlen(from[i]);
		} else
			*o++ = *p++;
	}
	ck_assert_msg(strstr(out, log) != NULL && strstr(out, pid) != NULL,
	    "the shipped logrotate file names neither %s nor %s", SHIPPED_LOG,
	    SHIPPED_PID);
	harness_path(conf, len, "logrotate.conf");
	harness_file_write(conf, out);
	/* logrotate ignores a config others can write. */
	ck_assert_int_eq(chmod(conf, 0644), 0);
	free(out);
	free(text);
}

/* logrotate -f -s DIR/logrotate.state CONF; it must exist and succeed. */
static void
test_logrotate_run(const char *conf, int round)
{
	char prog[HARNESS_PATH_MAX], state[HARNESS_PATH_MAX], tag[32];
	char *err;
	const char *args[] = {"-f", "-s", state, conf, NULL};
	int code;

	if (!harness_which("logrotate", prog, sizeof prog))
		snprintf(prog, sizeof prog, "/usr/sbin/logrotate");
	ck_assert_msg(access(prog, X_OK) == 0,
	    "logrotate is not installed (Debian package logrotate)");
	harness_path(state, sizeof state, "logrotate.state");
	snprintf(tag, sizeof tag, "logrotate%d", round);
	code = harness_wait(
	    harness_spawn_prog(prog, tag, args), HARNESS_DEADLINE_MS);
	err = harness_output(tag, "err");
	ck_assert_msg(code == 0, "logrotate exited with %d: %s", code, err);
	free(err);
}

/* The text of DIR/name, through zcat when it ends in .gz; NULL if
 * missing. */
static char *
test_read_log(const char *name)
{
	char path[HARNESS_PATH_MAX], tag[64];
	const char *args[] = {path, NULL};
	size_t len = strlen(name);

	harness_path(path, sizeof path, name);
	if (access(path, F_OK) == -1)
		return NULL;
	if (len < 3 || strcmp(name + len - 3, ".gz") != 0)
		return harness_file_read(path);
	snprintf(tag, sizeof tag, "zcat-%s", name);
	ck_assert_int_eq(
	    harness_wait(harness_spawn_prog("/bin/zcat", tag, args),
	        HARNESS_DEADLINE_MS),
	    0);
	return harness_output(tag, "out");
}

/* Each line of text is one record: it starts with a timestamp, and holds
 * no second one (two records merged). */
static void
test_whole_lines(const char *name, const char *text)
{
	regex_t rx;

	ck_assert_int_eq(regcomp(&rx,
	                     "[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:"
	                     "[0-9]{2}\\.[0-9]+Z ",
	                     REG_EXTENDED | REG_NOSUB),
	    0);
	for (const char *p = text; *p != '\0';) {
		const char *nl = strchr(p, '\n');
		size_t len = nl != NULL ? (size_t)(nl - p) : strlen(p);
		char line[1024];

		snprintf(line, sizeof line, "%.*s", (int)len, p);
		ck_assert_msg(nl != NULL, "%s ends mid-line: %s", name, line);
		ck_assert_msg(len > 28 && regexec(&rx, line, 0, NULL, 0) == 0 &&
		                  regexec(&rx, line + 27, 0, NULL, 0) != 0,
		    "%s: not one whole record: %s", name, line);
		p = nl + 1;
	}
	regfree(&rx);
}

/* Rotate four times with the shipped logrotate file as the server runs
 * as nobody: every request's access line is in exactly one file. */
START_TEST(test_rotate_as_nobody)
{
	static const char *const files[] = {"srv.log", "srv.log.1",
	    "srv.log.2.gz", "srv.log.3.gz", "srv.log.4.gz"};
	struct harness_server srv;
	char conf[HARNESS_PATH_MAX], prefix[32], key[64], *text[5];
	struct stat st;
	long long written;
	size_t per_file[5] = {0};

	test_dir_for_nobody();
	test_start(&srv, NULL);
	ck_assert_int_eq(stat(srv.log, &st), 0);
	ck_assert_msg(st.st_uid == nobody_uid && st.st_gid == nobody_gid,
	    "log file owned by %d:%d, not nobody", (int)st.st_uid,
	    (int)st.st_gid);
	test_logrotate_conf(conf, sizeof conf);
	for (int r = 0; r <= ROTATIONS; r++) {
		snprintf(prefix, sizeof prefix, "r%d_", r);
		test_sets(srv.port, prefix, ROT_KEYS);
		written = test_thread_stat(srv.port, "logger:lines_written");
		if (r == ROTATIONS)
			break;
		test_logrotate_run(conf, r);
		/* The server made the new file itself, as nobody. */
		ck_assert_msg(harness_file_wait(srv.log, "reopened log file",
		                  HARNESS_DEADLINE_MS),
		    "no new %s after rotation %d", srv.log, r + 1);
		test_wait_written(srv.port, written + 1);
	}
	/* The last set's line is in the current file. */
	snprintf(key, sizeof key, " key=r%d_%d ", ROTATIONS, ROT_KEYS - 1);
	ck_assert_msg(harness_file_wait(srv.log, key, HARNESS_DEADLINE_MS),
	    "the server no longer writes %s", srv.log);
	for (size_t f = 0; f < 5; f++) {
		text[f] = test_read_log(files[f]);
		ck_assert_msg(text[f] != NULL, "no %s after %d rotations",
		    files[f], ROTATIONS);
		test_whole_lines(files[f], text[f]);
		per_file[f] = harness_count(text[f], " info access conn=");
	}
	for (int r = 0; r <= ROTATIONS; r++)
		for (int i = 0; i < ROT_KEYS; i++) {
			size_t seen = 0;

			snprintf(key, sizeof key, " key=r%d_%d ", r, i);
			for (size_t f = 0; f < 5; f++)
				seen += harness_count(text[f], key);
			ck_assert_msg(
			    seen == 1, "%s in %zu files' lines", key, seen);
		}
	fprintf(stderr,
	    "rotation: access lines srv.log %zu, .1 %zu, .2.gz %zu, "
	    ".3.gz %zu, .4.gz %zu\n",
	    per_file[0], per_file[1], per_file[2], per_file[3], per_file[4]);
	for (size_t f = 0; f < 5; f++)
		free(text[f]);
	ck_assert_int_eq(test_thread_stat(srv.port, "logger:lines_failed"), 0);
	ck_assert_int_eq(harness_server_stop(&srv), 0);
}
END_TEST

/* A reopen nobody cannot do (the directory made read-only) is said on
 * stderr, counted, retried, and said again when it works. */
START_TEST(test_reopen_fails)
{
	struct harness_server srv;
	char old[HARNESS_PATH_MAX], want[HARNESS_PATH_MAX + 64], *err;
	long long failed, now;

	test_dir_for_nobody();
	test_start(&srv, NULL);
	harness_path(old, sizeof old, "srv.log.1");
	ck_assert_int_eq(chmod(harness_dir(), 0500), 0);
	ck_assert_int_eq(rename(srv.log, old), 0);
	ck_assert_int_eq(kill(srv.pid, SIGHUP), 0);
	snprintf(want, sizeof want,
	    "log file %s: reopening failed: Permission denied", srv.log);
	ck_assert_msg(harness_file_wait(old, want, HARNESS_DEADLINE_MS),
	    "'%s' not in %s", want, old);
	test_wait_stderr(want);
	test_sets(srv.port, "lost", 20);
	test_wait_failed(srv.port, 20);
	/* Fixed: the next retry opens the file. */
	ck_assert_int_eq(chmod(harness_dir(), 0700), 0);
	ck_assert_msg(harness_file_wait(srv.log, "works again after reopening",
	                  HARNESS_DEADLINE_MS),
	    "no recovery line in %s", srv.log);
	failed = test_thread_stat(srv.port, "logger:lines_failed");
	test_sets(srv.port, "kept", 20);
	ck_assert(
	    harness_file_wait(srv.log, " key=kept19 ", HARNESS_DEADLINE_MS));
	now = test_thread_stat(srv.port, "logger:lines_failed");
	ck_assert_msg(now == failed,
	    "lines_failed grew from %lld to %lld "
	    "after the reopen worked",
	    failed, now);
	err = harness_output("srv", "err");
	ck_assert_msg(harness_count(err, "reopening failed") == 1,
	    "'reopening failed' %zu times on stderr: %s",
	    harness_count(err, "reopening failed"), err);
	free(err);
	ck_assert_int_eq(harness_server_stop(&srv), 0);
}
END_TEST

/* Wait until the file at path holds want, reading fd meanwhile as a
 * syslogd or journald would: a sink's socket that fills blocks it. */
static bool
test_drain_until(int fd, const char *path, const char *want)
{
	long long deadline = harness_now_ms() + HARNESS_DEADLINE_MS;
	char buf[8192];

	for (;;) {
		char *text;
		bool found;

		while (recv(fd, buf, sizeof buf, MSG_DONTWAIT) > 0)
			;
		text = harness_file_read(path);
		found = text != NULL && strstr(text, want) != NULL;
		free(text);
		if (found)
			return true;
		if (harness_now_ms() > deadline)
			return false;
		harness_nap();
	}
}

/* syslog with nothing listening: said, counted, retried; once a syslogd
 * listens, lines reach it and the recovery is said. */
START_TEST(test_syslog_unheard)
{
	char sock[HARNESS_PATH_MAX], buf[4096], want[64];
	const char *args[] = {"--syslog", "--syslog-socket", sock, NULL};
	struct harness_server srv;
	long long failed;
	int fd;

	test_dir_for_nobody();
	harness_path(sock, sizeof sock, "syslog.sock");
	test_start(&srv, args);
	test_wait_stderr(
	    "syslog: connecting failed: No such file or directory");
	ck_assert(harness_file_wait(
	    srv.log, "syslog: connecting failed", HARNESS_DEADLINE_MS));
	test_sets(srv.port, "unheard", 20);
	failed = test_wait_failed(srv.port, 20);
	fd = test_dgram_bind(sock);
	snprintf(want, sizeof want, "threadlined[%d]: ", (int)srv.pid);
	test_dgram_wait(srv.port, fd, want, buf, sizeof buf);
	ck_assert_msg(test_drain_until(fd, srv.log,
	                  "syslog works again after connecting failed"),
	    "no recovery line in %s", srv.log);
	ck_assert_msg(strncmp(buf, "<", 1) == 0, "not RFC 3164: %s", buf);
	ck_assert(test_thread_stat(srv.port, "logger:lines_failed") >= failed);
	close(fd);
	ck_assert_int_eq(harness_server_stop(&srv), 0);
}
END_TEST

/* --journald with no journal (a private /run in a mount namespace): said,
 * counted; once a journal socket is there, lines reach it. */
START_TEST(test_journal_unheard)
{
	const char *wrap[] = {"/usr/bin/unshare", "-m", "/bin/sh", "-c",
	    "mount --make-rprivate / && mount -t tmpfs tmpfs /run && "
	    "exec \"$0\" \"$@\"",
	    NULL};
	const char *args[] = {"--journald", NULL};
	struct harness_server srv;
	char path[HARNESS_PATH_MAX], buf[8192];
	int fd;

#ifndef TL_HAVE_SYSTEMD
	ck_abort_msg("this build has no libsystemd: no journal to test");
#endif
	test_dir_for_nobody();
	test_start_in(&srv, wrap, args);
	test_wait_stderr("journal: sending failed: No such file or directory");
	test_sets(srv.port, "unheard", 20);
	test_wait_failed(srv.port, 20);
	/* Its /run, seen from outside the namespace. */
	snprintf(path, sizeof path, "/proc/%d/root/run/systemd", (int)srv.pid);
	ck_assert_int_eq(mkdir(path, 0755), 0);
	snprintf(path, sizeof path, "/proc/%d/root/run/systemd/journal",
	    (int)srv.pid);
	ck_assert_int_eq(mkdir(path, 0755), 0);
	snprintf(path, sizeof path, "/proc/%d/root/run/systemd/journal/socket",
	    (int)srv.pid);
	fd = test_dgram_bind(path);
	test_dgram_wait(srv.port, fd, "MESSAGE=", buf, sizeof buf);
	ck_assert_msg(test_drain_until(fd, srv.log,
	                  "journal works again after sending failed"),
	    "no recovery line in %s", srv.log);
	close(fd);
	ck_assert_int_eq(harness_server_stop(&srv), 0);
}
END_TEST

/* A write cut short by a full disk (a 64 KiB tmpfs in the server's own
 * mount namespace, filled by the test) leaves no half line for the next
 * write to continue once space returns. */
START_TEST(test_short_write)
{
	/* Room for "/proc/PID/root" before the test's paths. */
	char script[HARNESS_PATH_MAX * 2], disk[HARNESS_PATH_MAX - 64];
	char log[HARNESS_PATH_MAX - 64], pid[HARNESS_PATH_MAX];
	char seen[HARNESS_PATH_MAX], filler[HARNESS_PATH_MAX], block[4096];
	const char *bin = getenv("THREADLINED");
	const char *args[] = {"-m", "/bin/sh", "-c", script, bin, "-u",
	    "nobody", "-p", "0", "-t", "2", "--admin", "127.0.0.1:0",
	    "--access-log", "--log-file", log, "-P", pid, NULL};
	struct harness_server srv;
	char *text;
	int fd;

	ck_assert_msg(bin != NULL, "THREADLINED is not set");
	test_dir_for_nobody();
	harness_path(disk, sizeof disk, "disk");
	ck_assert_int_eq(mkdir(disk, 0700), 0);
	harness_path(log, sizeof log, "disk/srv.log");
	harness_path(pid, sizeof pid, "srv.pid");
	snprintf(script, sizeof script,
	    "mount --make-rprivate / && mount -t tmpfs -o "
	    "size=64k,mode=0700,uid=%d,gid=%d tmpfs '%s' && exec \"$0\" "
	    "\"$@\"",
	    (int)nobody_uid, (int)nobody_gid, disk);
	srv.pid = harness_spawn_prog("/usr/bin/unshare", "srv", args);
	/* The tmpfs, seen from outside the namespace. */
	snprintf(seen, sizeof seen, "/proc/%d/root%s", (int)srv.pid, log);
	harness_server_attach(&srv, srv.pid, seen);
	snprintf(filler, sizeof filler, "/proc/%d/root%s/filler", (int)srv.pid,
	    disk);
	ck_assert((fd = open(filler, O_WRONLY | O_CREAT, 0600)) != -1);
	memset(block, 'f', sizeof block);
	while (write(fd, block, sizeof block) > 0)
		;
	while (write(fd, block, 1) > 0)
		;
	ck_assert_int_eq(errno, ENOSPC);
	close(fd);
	test_sets(srv.port, "cut", 40);
	test_wait_failed(srv.port, 1);
	test_wait_stderr("writing failed: No space left on device");
	ck_assert_int_eq(unlink(filler), 0);
	test_sets(srv.port, "after", 20);
	ck_assert(
	    harness_file_wait(seen, " key=after19 ", HARNESS_DEADLINE_MS));
	text = harness_file_read(seen);
	test_whole_lines("srv.log", text);
	free(text);
	ck_assert_int_eq(harness_server_stop(&srv), 0);
}
END_TEST

/* Run every test; exit status 1 if any failed. */
int
main(void)
{
	const TTest *tests[] = {test_rotate_as_nobody, test_reopen_fails,
	    test_syslog_unheard, test_journal_unheard, test_short_write, NULL};

	return harness_run_suite(
	    &(struct harness_suite){.name = "logrotate", .timeout = 120},
	    tests);
}
