/* Logs that cannot silently break, run as an operator runs the server:
 * started as root with -u nobody in a directory only nobody can use,
 * rotated by the real logrotate with the shipped
 * config/logrotate.d/threadlined; a reopen that fails, syslog and the
 * journal with nothing listening, and a write cut short by a file size
 * limit are counted in logger:lines_failed, said, and retried. */
#include <check.h>
#include <errno.h>
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
 * pidfile DIR/srv.pid, and extra args; wait until it is ready. */
static void
test_start(struct harness_server *srv, const char *const extra[])
{
	const char *args[32] = {"-u", "nobody", "-p", "0", "-t", "2", "--admin",
	    "127.0.0.1:0", "--access-log", "--log-file", NULL, "-P", NULL};
	char log[HARNESS_PATH_MAX], pid[HARNESS_PATH_MAX];
	const char *bin = getenv("THREADLINED");
	int n = 13;

	ck_assert_msg(bin != NULL, "THREADLINED is not set");
	harness_path(log, sizeof log, "srv.log");
	harness_path(pid, sizeof pid, "srv.pid");
	args[10] = log;
	args[12] = pid;
	for (int i = 0; extra != NULL && extra[i] != NULL; i++)
		args[n++] = extra[i];
	args[n] = NULL;
	harness_server_attach(srv, harness_spawn_prog(bin, "srv", args), log);
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
	out = o = calloc(1, strlen(text) * 4 + 1);
	ck_assert(out != NULL);
	regex_t rx;

	ck_assert_int_eq(regcomp(&rx,
	                     "[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:"
	                     "[0-9]{2}\\.[0-9]+Z ",
	                     REG_EXTENDED | REG_NOSUB),
	    0);
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
	long long deadline, failed, now;

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
	deadline = harness_now_ms() + HARNESS_DEADLINE_MS;
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
	test_sets(srv.port, "lost", 20);
	deadline = harness_now_ms() + HARNESS_DEADLINE_MS;
	while (
	    (failed = test_thread_stat(srv.port, "logger:lines_failed")) < 20) {
		ck_assert_msg(harness_now_ms() < deadline,
		    "logger:lines_failed %lld after 20 lines the file missed",
		    failed);
		harness_nap();
	}
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

/* Run every test; exit status 1 if any failed. */
int
main(void)
{
	const TTest *tests[] = {test_rotate_as_nobody, test_reopen_fails, NULL};

	return harness_run_suite(
	    &(struct harness_suite){.name = "logrotate", .timeout = 120},
	    tests);
}
