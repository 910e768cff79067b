/* Start-up of the real threadlined: what it refuses and how it says so.
 * A bad option or setting exits 2, a resource it cannot have (a port, a
 * log file, a pidfile, an address) exits 1; each says why on stderr and
 * prints nothing on stdout. Then the start-up options that do work but no
 * other test uses: --help and --version, relative paths, a stale pidfile,
 * per-role log levels and an IPv6 listener. Every wait polls with a
 * deadline; see harness.h. */
#include <check.h>
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"
#include "tl_build.h"

#define BUFSZ 4096
/* A DNS label may hold 63 bytes: a longer one fails in the resolver
 * before any query is sent, so no name server is asked. */
#define UNRESOLVABLE                                                           \
	"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" \
	".invalid"

/* DIR/tag.ext, read whole ("" when missing), for assertions. */
static char *
test_output(const char *tag, const char *ext)
{
	char name[128], path[HARNESS_PATH_MAX], *text;

	snprintf(name, sizeof name, "%s.%s", tag, ext);
	harness_path(path, sizeof path, name);
	text = harness_file_read(path);
	return text != NULL ? text : strdup("");
}

/* Run threadlined with args to its end: it must exit with code, print
 * nothing on stdout and say want on stderr. */
static void
test_refused(
    const char *tag, const char *const args[], int code, const char *want)
{
	int got = harness_run(tag, args);
	char *out = test_output(tag, "out"), *err = test_output(tag, "err");

	ck_assert_msg(got == code, "%s: exit %d, want %d; stderr: %s", tag, got,
	    code, err);
	ck_assert_msg(strstr(err, want) != NULL, "%s: stderr lacks '%s': %s",
	    tag, want, err);
	ck_assert_msg(out[0] == '\0', "%s: stdout not empty: %s", tag, out);
	free(out);
	free(err);
}

/* DIR/tag.err holds want. */
static void
test_err_has(const char *tag, const char *want)
{
	char *err = test_output(tag, "err");

	ck_assert_msg(strstr(err, want) != NULL, "%s: stderr lacks '%s': %s",
	    tag, want, err);
	free(err);
}

/* The lines of DIR/tag.err. */
static size_t
test_lines(const char *tag)
{
	char *err = test_output(tag, "err");
	size_t n = harness_count(err, "\n");

	free(err);
	return n;
}

/* DIR/tag.err is one line, ending in end. */
static void
test_one_line(const char *tag, const char *end)
{
	char *err = test_output(tag, "err");
	size_t n = strlen(err), e = strlen(end);

	ck_assert_msg(strchr(err, '\n') == err + n - 1,
	    "%s: stderr is not one line: %s", tag, err);
	ck_assert_msg(n >= e && strcmp(err + n - e, end) == 0,
	    "%s: stderr does not end in '%s': %s", tag, end, err);
	free(err);
}

/* Every bad command line exits 2 and names the option or value, before
 * anything starts: nothing is listening, no log file is made. */
START_TEST(test_bad_options)
{
	static const struct {
		const char *args[4];
		const char *want;
	} cases[] = {
	    {{"--bogus"}, "unknown option --bogus"},
	    {{"-p"}, "option -p needs an argument"},
	    {{"extra"}, "unexpected argument 'extra'"},
	    {{"-t", "257"}, "bad value '257' for threads"},
	    {{"-c", "0"}, "bad value '0' for max_connections"},
	    {{"--request-timeout", "-1"}, "bad value '-1' for request_timeout"},
	    {{"--write-timeout", "86401"},
	        "bad value '86401' for write_timeout"},
	    {{"--idle-timeout", "soon"}, "bad value 'soon' for idle_timeout"},
	    {{"-m", "0"}, "bad value '0' for memory_limit"},
	    {{"-I", "1x"}, "bad value '1x' for item_size_max"},
	    {{"-I", "512"}, "bad value '512' for item_size_max"},
	    {{"-I", "65m"}, "bad value '65m' for item_size_max"},
	    {{"-I", "k"}, "bad value 'k' for item_size_max"},
	    {{"-I", "99999999999999999999"},
	        "bad value '99999999999999999999' for item_size_max"},
	    {{"--log-level", "loud"}, "bad value 'loud' for level"},
	    {{"--log-format", "xml"}, "bad value 'xml' for format"},
	    {{"-u", ""}, "bad value '' for user"},
	    {{"-l", ""}, "listen needs at least one address"},
	    {{"-l", "[::1"}, "bad listen address '[::1'"},
	    {{"-l", "127.0.0.1:65536"}, "bad listen address '127.0.0.1:65536'"},
	    {{"-l", "1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17"},
	        "more than 16 listen addresses"},
	    /* The option as typed leads the line, in each spelling. */
	    {{"-m", "abc"}, "threadlined: -m abc: bad value 'abc'"},
	    {{"-mabc"}, "threadlined: -mabc: bad value 'abc'"},
	    {{"--memory-limit=abc"},
	        "threadlined: --memory-limit=abc: bad value 'abc'"},
	    {{"--memory-limit", "abc"},
	        "threadlined: --memory-limit abc: bad value 'abc'"},
	};
	char log[HARNESS_PATH_MAX], tag[32];

	harness_path(log, sizeof log, "never.log");
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		const char *args[16] = {"-p", "0", "--log-file", log};
		int n = 4;

		for (int k = 0; cases[i].args[k] != NULL; k++)
			args[n++] = cases[i].args[k];
		snprintf(tag, sizeof tag, "opt%zu", i);
		test_refused(tag, args, 2, cases[i].want);
		/* One line, pointing at --help rather than printing it. */
		test_one_line(tag, " (see --help)\n");
		ck_assert_msg(access(log, F_OK) == -1,
		    "%s: a refused start made the log file", tag);
	}
}
END_TEST

/* --check-config refuses what start-up would refuse: as root, a user to
 * run as that does not exist. */
START_TEST(test_check_config_user)
{
	const char *const args[] = {
	    "--check-config", "-u", "no-such-user-tl", NULL};

	if (geteuid() != 0) {
		harness_skip("the user is checked only as root");
		return;
	}
	test_refused("checkuser", args, 2,
	    "threadlined: cannot run as 'no-such-user-tl': no such user\n");
}
END_TEST

/* Every bad setting in a config file exits 2 and says FILE:LINE, the
 * value and the key; so do an unknown section, a line without "=" and a
 * file that is not there. */
START_TEST(test_bad_config_file)
{
	static const struct {
		const char *text;
		const char *want; /* after "FILE:" */
	} cases[] = {
	    {"[server]\nrequest_timeout = x\n",
	        "2: bad value 'x' for request_timeout"},
	    {"[server]\nwrite_timeout = 99999\n",
	        "2: bad value '99999' for write_timeout"},
	    {"[server]\nidle_timeout = -5\n",
	        "2: bad value '-5' for idle_timeout"},
	    {"[server]\nthreads = 1\nuser =\n", "3: bad value '' for user"},
	    {"[server]\ndaemonize = maybe\n",
	        "2: bad value 'maybe' for daemonize"},
	    {"[server]\nenable_shutdown = maybe\n",
	        "2: bad value 'maybe' for enable_shutdown"},
	    {"[server]\nlisten =\n", "2: listen needs at least one address"},
	    {"[cache]\nmemory_limit = 0\n",
	        "2: bad value '0' for memory_limit"},
	    {"[cache]\nitem_size_max = 1g\n",
	        "2: bad value '1g' for item_size_max"},
	    {"[cache]\nevict = maybe\n", "2: bad value 'maybe' for evict"},
	    {"[log]\nlevel = loud\n", "2: bad value 'loud' for level"},
	    {"[log]\nlevel_worker = loud\n",
	        "2: bad value 'loud' for level_worker"},
	    {"[log]\nlevel_nosuch = info\n",
	        "2: unknown key 'level_nosuch' in section [log]"},
	    {"[log]\nformat = xml\n", "2: bad value 'xml' for format"},
	    {"[log]\nsyslog = maybe\n", "2: bad value 'maybe' for syslog"},
	    {"[log]\njournald = maybe\n", "2: bad value 'maybe' for journald"},
	    {"[log]\naccess = maybe\n", "2: bad value 'maybe' for access"},
	    {"[nosuch]\nkey = 1\n", "2: unknown section [nosuch]"},
	    {"[server]\nthreads\n", "2: "},
	    {"[server]\nthreads = 1\n\nthreads = 2\n",
	        "4: key 'threads' in [server] given twice, first on line 2\n"},
	    {"[log]\nlevel = info\n[server]\nport = 0\n[log]\nlevel = warn\n",
	        "6: key 'level' in [log] given twice, first on line 2\n"},
	};
	char conf[HARNESS_PATH_MAX], want[HARNESS_PATH_MAX + 128], tag[32];
	const char *args[] = {"-p", "0", "--config", conf, NULL};

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		snprintf(tag, sizeof tag, "conf%zu", i);
		harness_path(conf, sizeof conf, "bad.conf");
		harness_file_write(conf, cases[i].text);
		snprintf(want, sizeof want, "threadlined: %s:%s", conf,
		    cases[i].want);
		test_refused(tag, args, 2, want);
	}
	harness_path(conf, sizeof conf, "none.conf");
	snprintf(want, sizeof want,
	    "threadlined: %s: cannot open: No such file or directory", conf);
	test_refused("noconf", args, 2, want);
}
END_TEST

/* item_size_max above half of memory_limit: memcached refuses it at
 * start-up, and so does threadlined, in one line, exit 2. Half is
 * allowed. */
START_TEST(test_item_size_vs_memory)
{
	const char *over[] = {"-p", "0", "-m", "1", NULL};
	const char *half[] = {"-m", "2", NULL};
	struct harness_server srv;

	test_refused("over", over, 2,
	    "threadlined: item_size_max 1048576 is above half of "
	    "memory_limit (1 MB): lower -I or raise -m\n");
	test_one_line("over", "raise -m\n");
	harness_server_start(&srv, "half", 1, half);
	harness_serves(srv.port, 0);
	ck_assert_int_eq(harness_server_stop(&srv), 0);
}
END_TEST

/* --check-config reports every problem, one line each, FILE:LINE where
 * there is a line, and exits 2: a key given twice, a bad value, a log
 * file and a pidfile in missing directories, item_size_max above half of
 * memory_limit, an address that does not resolve, a bad option; the
 * ignored memcached options are a notice. It starts nothing. */
START_TEST(test_check_config_every)
{
	char conf[HARNESS_PATH_MAX], pid[HARNESS_PATH_MAX];
	char log[HARNESS_PATH_MAX], want[2 * HARNESS_PATH_MAX + 128];
	const char *args[] = {"--check-config", "--config", conf, "-P", pid,
	    "-l", UNRESOLVABLE, "-f", "1.5", "-t", "x", NULL};
	const char *lines[] = {
	    "%s:3: key 'port' in [server] given twice, first on line 2\n",
	    "%s:4: bad value 'many' for threads: expected",
	    "%s:7: key 'level' in [log] given twice, first on line 6\n",
	    "log file %s: directory ",
	    "pidfile %s: directory ",
	    "item_size_max 1048576 is above half of memory_limit (1 MB)",
	    "listen address '" UNRESOLVABLE "' does not resolve: ",
	    "-t x: bad value 'x' for threads",
	    "notice: memcached options that will be ignored: -f (",
	};
	const char *arg[] = {conf, conf, conf, log, pid, "", "", "", ""};
	char *err;

	harness_path(conf, sizeof conf, "every.conf");
	harness_path(log, sizeof log, "nodir/srv.log");
	harness_path(pid, sizeof pid, "nopiddir/srv.pid");
	snprintf(want, sizeof want,
	    "[server]\nport = 0\nport = 1\nthreads = many\n[log]\n"
	    "level = info\nlevel = warn\nfile = %s\n[cache]\n"
	    "memory_limit = 1\n",
	    log);
	harness_file_write(conf, want);
	test_refused("every", args, 2, "threadlined: ");
	err = test_output("every", "err");
	for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++) {
		char line[HARNESS_PATH_MAX + 160];

		snprintf(line, sizeof line, lines[i], arg[i]);
		snprintf(want, sizeof want, "threadlined: %s", line);
		ck_assert_msg(strstr(err, want) != NULL,
		    "--check-config does not say '%s': %s", want, err);
	}
	/* Nothing else: one line per problem and the notice. */
	ck_assert_uint_eq(test_lines("every"), sizeof lines / sizeof lines[0]);
	free(err);
	ck_assert_msg(access(pid, F_OK) == -1 && access(log, F_OK) == -1,
	    "--check-config made a file");
}
END_TEST

/* --check-config with only ignored options: the notice, then OK, exit 0;
 * a good file and the shipped config as the harness runs it are OK. */
START_TEST(test_check_config_ok)
{
	const char *args[] = {"--check-config", "-f", "1.5", NULL};
	char *out;

	ck_assert_int_eq(harness_run("ok", args), 0);
	test_err_has("ok", "threadlined: notice: memcached options that will "
	                   "be ignored: -f (");
	out = test_output("ok", "out");
	ck_assert_str_eq(out, "configuration OK\n");
	free(out);
}
END_TEST

/* As root, --check-config asks whether the user to run as can write the
 * log file's and the pidfile's directories, and the log file: a
 * directory only root can write is refused for nobody, and accepted for
 * root. */
START_TEST(test_check_config_run_user)
{
	char dir[HARNESS_PATH_MAX], log[HARNESS_PATH_MAX];
	char pid[HARNESS_PATH_MAX], want[2 * HARNESS_PATH_MAX + 64];
	const char *nobody[] = {"--check-config", "-u", "nobody", "--log-file",
	    log, "-P", pid, NULL};
	const char *root[] = {
	    "--check-config", "--log-file", log, "-P", pid, NULL};

	if (geteuid() != 0) {
		harness_skip("the run user is checked only as root");
		return;
	}
	/* nobody may pass through the test's directory, not write in it. */
	ck_assert_int_eq(chmod(harness_dir(), 0711), 0);
	harness_path(dir, sizeof dir, "rootonly");
	ck_assert_int_eq(mkdir(dir, 0755), 0);
	harness_path(log, sizeof log, "rootonly/srv.log");
	harness_path(pid, sizeof pid, "rootonly/srv.pid");
	ck_assert_int_eq(harness_run("nobody", nobody), 2);
	snprintf(want, sizeof want,
	    "threadlined: log file %s: nobody cannot create or remove files "
	    "in %s\n",
	    log, dir);
	test_err_has("nobody", want);
	snprintf(want, sizeof want,
	    "threadlined: pidfile %s: nobody cannot create or remove files in "
	    "%s\n",
	    pid, dir);
	test_err_has("nobody", want);
	ck_assert_uint_eq(test_lines("nobody"), 2);
	/* A log file there that nobody cannot write, in a directory it can. */
	ck_assert_int_eq(chmod(dir, 0777), 0);
	harness_file_write(log, "");
	ck_assert_int_eq(chmod(log, 0644), 0);
	ck_assert_int_eq(harness_run("nobodyfile", nobody), 2);
	snprintf(want, sizeof want,
	    "threadlined: log file %s: nobody cannot write it\n", log);
	test_err_has("nobodyfile", want);
	ck_assert_uint_eq(test_lines("nobodyfile"), 1);
	ck_assert_int_eq(harness_run("root", root), 0);
}
END_TEST

/* --help prints the usage on stdout and --version the version, each
 * exiting 0 with nothing on stderr. */
/* -Y: a file that cannot be read, a malformed one, an empty one: one
 * line, exit 1, before anything listens. */
START_TEST(test_auth_file_refused)
{
	char missing[HARNESS_PATH_MAX], bad[HARNESS_PATH_MAX],
	    empty[HARNESS_PATH_MAX], want[2 * HARNESS_PATH_MAX];
	const char *args[] = {"-p", "0", "-u", "root", "-Y", NULL, NULL};
	char *err;

	harness_path(missing, sizeof missing, "no-such-authfile");
	harness_path(bad, sizeof bad, "bad-authfile");
	harness_path(empty, sizeof empty, "empty-authfile");
	harness_file_write(bad, "foo:bar\n\nbaaaz:quux\n");
	harness_file_write(empty, "");
	args[5] = missing;
	snprintf(want, sizeof want,
	    "threadlined: cannot open the auth file %s: No such file or "
	    "directory\n",
	    missing);
	test_refused("auth-missing", args, 1, want);
	args[5] = bad;
	snprintf(want, sizeof want,
	    "threadlined: %s:2: a malformed entry: it should be "
	    "user:password\n",
	    bad);
	test_refused("auth-bad", args, 1, want);
	args[5] = empty;
	snprintf(want, sizeof want,
	    "threadlined: %s: no user:password line: nobody could "
	    "authenticate\n",
	    empty);
	test_refused("auth-empty", args, 1, want);
	err = test_output("auth-empty", "err");
	ck_assert_str_eq(err, want);
	free(err);
}
END_TEST

/* -Y makes the protocol ascii, as memcached does, when -B is not given
 * (stats settings says so); with -B binary or -B auto memcached refuses
 * to start ("You cannot allow the BINARY protocol while using ascii
 * authentication tokens."): one line naming the option, exit 2, and
 * --check-config reports it too. -B ascii with -Y starts. */
START_TEST(test_auth_file_protocol)
{
	char file[HARNESS_PATH_MAX], buf[8192], val[64];
	const char *bin[] = {"-p", "0", "-Y", file, "-B", "binary", NULL};
	const char *aut[] = {"-p", "0", "-B", "auto", "-Y", file, NULL};
	const char *chk[] = {"--check-config", "-Y", file, "-B", "auto", NULL};
	const char *asc[] = {"-Y", file, "-B", "ascii", NULL};
	const char *none[] = {"-Y", file, NULL};
	const char *const *ok[] = {none, asc};
	struct harness_server srv;

	harness_path(file, sizeof file, "proto-authfile");
	harness_file_write(file, "foo:bar\n");
	test_refused("auth-bin", bin, 2,
	    "threadlined: -B binary: the binary protocol cannot be allowed "
	    "with ASCII authentication tokens (-Y): use -B ascii or no -B\n");
	test_one_line("auth-bin", "or no -B\n");
	test_refused("auth-auto", aut, 2,
	    "threadlined: -B auto: the binary protocol cannot be allowed "
	    "with ASCII authentication tokens (-Y)");
	test_one_line("auth-auto", "or no -B\n");
	test_refused("auth-check", chk, 2,
	    "threadlined: -B auto: the binary protocol cannot be allowed");
	for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
		int fd;

		harness_server_start(
		    &srv, i == 0 ? "auth-none" : "auth-asc", 1, ok[i]);
		fd = harness_connect(srv.port);
		harness_cmd(
		    fd, "set a 0 0 7\r\nfoo bar\r\n", "\r\n", buf, sizeof buf);
		ck_assert_str_eq(buf, "STORED\r\n");
		harness_cmd(
		    fd, "stats settings\r\n", "END\r\n", buf, sizeof buf);
		ck_assert(
		    harness_stat(buf, "binding_protocol", val, sizeof val));
		ck_assert_str_eq(val, "ascii");
		harness_close(fd);
		ck_assert_int_eq(harness_server_stop(&srv), 0);
	}
}
END_TEST

START_TEST(test_help_version)
{
	const char *help[] = {"--help", NULL}, *version[] = {"-V", NULL};
	char *out, *err;

	ck_assert_int_eq(harness_run("help", help), 0);
	out = test_output("help", "out");
	err = test_output("help", "err");
	ck_assert_msg(strncmp(out, "usage: threadlined [options]\n", 29) == 0,
	    "--help: %s", out);
	ck_assert_msg(strstr(out, "      --config FILE") != NULL &&
	                  strstr(out, "  -V, --version") != NULL,
	    "--help lacks an option: %s", out);
	ck_assert_str_eq(err, "");
	free(out);
	free(err);
	ck_assert_int_eq(harness_run("version", version), 0);
	out = test_output("version", "out");
	err = test_output("version", "err");
	ck_assert_str_eq(out, "threadlined " TL_VERSION "\n");
	ck_assert_str_eq(err, "");
	free(out);
	free(err);
}
END_TEST

/* A port another socket listens on: exit 1, saying which address could
 * not be had, on stderr and in the log; the pidfile goes with it. */
START_TEST(test_port_in_use)
{
	struct sockaddr_in sin = {
	    .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	char log[HARNESS_PATH_MAX], pid[HARNESS_PATH_MAX], spec[32];
	char want[96];
	const char *args[] = {
	    "-t", "1", "-l", spec, "--log-file", log, "-P", pid, NULL};
	int sock, port;

	sock = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ne(sock, -1);
	ck_assert_int_eq(bind(sock, (struct sockaddr *)&sin, sizeof sin), 0);
	ck_assert_int_eq(listen(sock, 1), 0);
	port = harness_local_port(sock);
	snprintf(spec, sizeof spec, "127.0.0.1:%d", port);
	harness_path(log, sizeof log, "taken.log");
	harness_path(pid, sizeof pid, "taken.pid");
	snprintf(want, sizeof want,
	    " fatal cannot listen on 127.0.0.1:%d: Address already in use",
	    port);
	test_refused("taken", args, 1, want);
	ck_assert_msg(harness_count_in(log, want) == 1,
	    "the log does not say '%s'", want);
	ck_assert_msg(access(pid, F_OK) == -1, "pidfile %s left behind", pid);
	close(sock);
}
END_TEST

/* A listen host that does not resolve: exit 1, naming it. */
START_TEST(test_listen_unresolvable)
{
	char log[HARNESS_PATH_MAX];
	const char *args[] = {
	    "-t", "1", "-l", UNRESOLVABLE ":0", "--log-file", log, NULL};

	harness_path(log, sizeof log, "nohost.log");
	test_refused("nohost", args, 1,
	    " fatal cannot resolve listen address " UNRESOLVABLE ":0: ");
}
END_TEST

/* A log file that cannot be opened, in a missing directory or being a
 * directory: exit 1 before any thread starts, naming the file and why. */
START_TEST(test_log_file_unwritable)
{
	char log[HARNESS_PATH_MAX], want[HARNESS_PATH_MAX + 64];
	const char *args[] = {"-p", "0", "-t", "1", "--log-file", log, NULL};

	harness_path(log, sizeof log, "missing/srv.log");
	snprintf(want, sizeof want,
	    "threadlined: cannot open log file %s: No such file or directory\n",
	    log);
	test_refused("nodir", args, 1, want);

	snprintf(log, sizeof log, "%s", harness_dir());
	snprintf(want, sizeof want,
	    "threadlined: cannot open log file %s: Is a directory\n", log);
	test_refused("isdir", args, 1, want);
}
END_TEST

/* A daemon whose start fails: the parent relays the child's message on
 * its own stderr and exits with the child's status. */
START_TEST(test_daemon_relays_failure)
{
	char log[HARNESS_PATH_MAX], want[HARNESS_PATH_MAX + 64];
	const char *args[] = {
	    "-d", "-p", "0", "-t", "1", "--log-file", log, NULL};

	harness_path(log, sizeof log, "missing/daemon.log");
	snprintf(want, sizeof want,
	    "threadlined: cannot open log file %s: No such file or directory\n",
	    log);
	test_refused("daemon", args, 1, want);
}
END_TEST

/* No file name in DIR that ends in .tmp: a failed pidfile leaves no
 * half-written one behind. */
static void
test_no_tmp_left(void)
{
	struct dirent *de;
	DIR *d = opendir(harness_dir());

	ck_assert_ptr_nonnull(d);
	while ((de = readdir(d)) != NULL) {
		size_t n = strlen(de->d_name);

		ck_assert_msg(n < 4 || strcmp(de->d_name + n - 4, ".tmp") != 0,
		    "%s left in the test dir", de->d_name);
	}
	closedir(d);
}

/* A pidfile that cannot be written, in a missing directory or where a
 * directory is: exit 1, naming it; no temporary file stays. */
START_TEST(test_pidfile_unwritable)
{
	char pid[HARNESS_PATH_MAX], log[HARNESS_PATH_MAX];
	char want[HARNESS_PATH_MAX + 64];
	const char *args[] = {
	    "-p", "0", "-t", "1", "--log-file", log, "-P", pid, NULL};

	harness_path(log, sizeof log, "srv.log");
	harness_path(pid, sizeof pid, "missing/srv.pid");
	/* It names the file asked for, not the temporary one beside it. */
	snprintf(want, sizeof want,
	    "threadlined: cannot create pidfile %s: No such file or "
	    "directory\n",
	    pid);
	test_refused("nodir", args, 1, want);

	harness_path(pid, sizeof pid, "piddir");
	ck_assert_int_eq(mkdir(pid, 0755), 0);
	snprintf(want, sizeof want,
	    "threadlined: cannot create pidfile %s: Is a directory\n", pid);
	test_refused("isdir", args, 1, want);
	test_no_tmp_left();
	/* Nor did either start log anything. */
	ck_assert_msg(access(log, F_OK) == -1, "a refused start logged");
}
END_TEST

/* A pidfile no live process holds is taken over: it then holds the new
 * server's pid, and is removed at exit. */
START_TEST(test_pidfile_stale)
{
	char pid[HARNESS_PATH_MAX], want[32], *text;
	const char *args[] = {"-P", pid, NULL};
	struct harness_server srv;

	harness_path(pid, sizeof pid, "stale.pid");
	harness_file_write(pid, "999999999\n");
	harness_server_start(&srv, "srv", 1, args);
	snprintf(want, sizeof want, "%d\n", (int)srv.pid);
	text = harness_file_read(pid);
	ck_assert_ptr_nonnull(text);
	ck_assert_str_eq(text, want);
	free(text);
	ck_assert_int_eq(harness_server_stop(&srv), 0);
	ck_assert_msg(access(pid, F_OK) == -1, "pidfile not removed at exit");
}
END_TEST

/* The refusal of a second server while pid holds pidfile. */
static void
test_held_msg(char *buf, size_t len, const char *pidfile, pid_t pid)
{
	snprintf(buf, len,
	    "threadlined: pidfile %s is held by running process %d; is "
	    "threadlined already running?\n",
	    pidfile, (int)pid);
}

/* pidfile holds pid, and nothing else. */
static void
test_pidfile_names(const char *pidfile, pid_t pid)
{
	char want[32], *text = harness_file_read(pidfile);

	snprintf(want, sizeof want, "%d\n", (int)pid);
	ck_assert_msg(text != NULL, "no pidfile %s", pidfile);
	ck_assert_str_eq(text, want);
	free(text);
}

/* A pidfile a running server holds: a second server with the same -P,
 * in the foreground or daemonized, exits 1 in one line naming the running
 * pid and leaves the file as it was; the owner removes it at exit. */
START_TEST(test_pidfile_held)
{
	char pid[HARNESS_PATH_MAX], log[HARNESS_PATH_MAX];
	char want[HARNESS_PATH_MAX + 128];
	const char *args[] = {"-P", pid, NULL};
	const char *fg[] = {
	    "-p", "0", "-t", "1", "--log-file", log, "-P", pid, NULL};
	const char *bg[] = {
	    "-d", "-p", "0", "-t", "1", "--log-file", log, "-P", pid, NULL};
	struct harness_server srv;

	harness_path(pid, sizeof pid, "held.pid");
	harness_path(log, sizeof log, "second.log");
	harness_server_start(&srv, "srv", 1, args);
	test_held_msg(want, sizeof want, pid, srv.pid);
	test_refused("fg", fg, 1, want);
	test_one_line("fg", "running?\n");
	test_refused("bg", bg, 1, want);
	test_one_line("bg", "running?\n");
	test_pidfile_names(pid, srv.pid);
	ck_assert_int_eq(harness_server_stop(&srv), 0);
	ck_assert_msg(access(pid, F_OK) == -1, "pidfile not removed at exit");
}
END_TEST

/* The pid in pidfile, once the file holds a whole line. */
static pid_t
test_pidfile_pid(const char *pidfile)
{
	long long deadline = harness_now_ms() + HARNESS_DEADLINE_MS;
	char *text;
	long n = 0;

	while ((text = harness_file_read(pidfile)) == NULL ||
	       strchr(text, '\n') == NULL) {
		free(text);
		ck_assert_msg(
		    harness_now_ms() < deadline, "no pid in %s", pidfile);
		harness_nap();
	}
	n = strtol(text, NULL, 10);
	free(text);
	ck_assert_int_gt(n, 1);
	return (pid_t)n;
}

/* The daemonized path: a -d server takes over a stale pidfile (a dead
 * pid, no lock), holds it as the daemon, refuses a second server naming
 * the daemon's pid, and removes it when stopped. */
START_TEST(test_pidfile_daemon)
{
	char pid[HARNESS_PATH_MAX], log[HARNESS_PATH_MAX];
	char log2[HARNESS_PATH_MAX], want[HARNESS_PATH_MAX + 128];
	const char *bg[] = {
	    "-d", "-p", "0", "-t", "1", "--log-file", log, "-P", pid, NULL};
	const char *second[] = {
	    "-d", "-p", "0", "-t", "1", "--log-file", log2, "-P", pid, NULL};
	struct harness_server srv;
	pid_t daemon;

	harness_path(pid, sizeof pid, "daemon.pid");
	harness_path(log, sizeof log, "daemon.log");
	harness_path(log2, sizeof log2, "second.log");
	harness_file_write(pid, "999999999\n");
	ck_assert_int_eq(harness_run("daemon", bg), 0);
	daemon = test_pidfile_pid(pid);
	ck_assert_msg(daemon != 999999999, "the stale pid was kept");
	ck_assert_msg(
	    kill(daemon, 0) == 0, "pidfile names %d, not running", (int)daemon);
	test_held_msg(want, sizeof want, pid, daemon);
	test_refused("second", second, 1, want);
	test_one_line("second", "running?\n");
	test_pidfile_names(pid, daemon);
	/* The daemon is the harness's to reap: it is a child subreaper. */
	harness_server_attach(&srv, daemon, log);
	ck_assert_int_eq(harness_server_stop(&srv), 0);
	ck_assert_msg(access(pid, F_OK) == -1, "pidfile not removed at exit");
}
END_TEST

/* Two servers started together with one -P: every time, one runs and
 * holds the pidfile, the other exits 1 naming it. A check and then a
 * rename let both run about a time in three. */
START_TEST(test_pidfile_race)
{
	char pid[HARNESS_PATH_MAX], log[2][HARNESS_PATH_MAX], tag[2][16];
	char name[48];
	char want[HARNESS_PATH_MAX + 128];
	const char *args[2][9];
	struct harness_server srv;

	harness_path(pid, sizeof pid, "race.pid");
	for (int round = 0; round < 20; round++) {
		long long deadline = harness_now_ms() + HARNESS_DEADLINE_MS;
		pid_t p[2];
		int code[2] = {-1, -1}, ran;

		unlink(pid);
		for (int i = 0; i < 2; i++) {
			snprintf(
			    tag[i], sizeof tag[i], "r%d%c", round, 'a' + i);
			snprintf(name, sizeof name, "%s.log", tag[i]);
			harness_path(log[i], sizeof log[i], name);
			const char *a[] = {"-p", "0", "-t", "1", "--log-file",
			    log[i], "-P", pid, NULL};
			memcpy(args[i], a, sizeof a);
		}
		p[0] = harness_spawn(tag[0], args[0]);
		p[1] = harness_spawn(tag[1], args[1]);
		/* Until one has exited: the other must then be running. */
		while (code[0] == -1 && code[1] == -1) {
			for (int i = 0; i < 2; i++)
				code[i] = harness_wait(p[i], 0);
			ck_assert_msg(harness_now_ms() < deadline,
			    "round %d: both servers run with one pidfile",
			    round);
		}
		ck_assert_msg(code[0] == -1 || code[1] == -1,
		    "round %d: both exited (%d, %d)", round, code[0], code[1]);
		ran = code[0] == -1 ? 0 : 1;
		ck_assert_msg(code[1 - ran] == 1, "round %d: exit %d, want 1",
		    round, code[1 - ran]);
		harness_server_attach(&srv, p[ran], log[ran]);
		test_pidfile_names(pid, p[ran]);
		test_held_msg(want, sizeof want, pid, p[ran]);
		test_err_has(tag[1 - ran], want);
		ck_assert_int_eq(harness_server_stop(&srv), 0);
		ck_assert_msg(access(pid, F_OK) == -1,
		    "round %d: pidfile not removed at exit", round);
	}
}
END_TEST

/* Only the owner removes the pidfile: a server whose pidfile was deleted
 * and taken by a second server leaves the second's in place at exit. */
START_TEST(test_pidfile_not_ours)
{
	char pid[HARNESS_PATH_MAX];
	const char *args[] = {"-P", pid, NULL};
	struct harness_server first, second;

	harness_path(pid, sizeof pid, "ours.pid");
	harness_server_start(&first, "first", 1, args);
	ck_assert_int_eq(unlink(pid), 0);
	harness_server_start(&second, "second", 1, args);
	test_pidfile_names(pid, second.pid);
	ck_assert_int_eq(harness_server_stop(&first), 0);
	test_pidfile_names(pid, second.pid);
	ck_assert_int_eq(harness_server_stop(&second), 0);
	ck_assert_msg(access(pid, F_OK) == -1, "pidfile not removed at exit");
}
END_TEST

/* Relative log and pid paths are made absolute from the directory it was
 * started in: the config line says so, and the files are there. */
START_TEST(test_relative_paths)
{
	const char *args[] = {"-p", "0", "-t", "1", "--log-file", "rel.log",
	    "-P", "rel.pid", NULL};
	char log[HARNESS_PATH_MAX], pid[HARNESS_PATH_MAX];
	char want[2 * HARNESS_PATH_MAX + 32];
	struct harness_server srv;

	ck_assert_int_eq(chdir(harness_dir()), 0);
	harness_path(log, sizeof log, "rel.log");
	harness_path(pid, sizeof pid, "rel.pid");
	harness_server_attach(&srv, harness_spawn("rel", args), log);
	snprintf(want, sizeof want, " log_file=%s pidfile=%s ", log, pid);
	ck_assert_msg(
	    harness_count_in(log, want) == 1, "config line lacks '%s'", want);
	ck_assert_int_eq(access(pid, F_OK), 0);
	harness_serves(srv.port, 0);
	ck_assert_int_eq(harness_server_stop(&srv), 0);
	ck_assert_msg(access(pid, F_OK) == -1, "pidfile not removed at exit");
}
END_TEST

/* [log] level_ROLE from a config file: with the global level at notice
 * and the accept thread's at info, accept's info lines are logged and a
 * worker's are not. */
START_TEST(test_role_level_from_file)
{
	char conf[HARNESS_PATH_MAX], needle[96];
	const char *args[] = {"--config", conf, NULL};
	struct harness_server srv;
	int fd, lport;

	harness_path(conf, sizeof conf, "roles.conf");
	harness_file_write(conf, "[log]\n"
	                         "level = notice\n"
	                         "level_accept = info\n");
	harness_server_start(&srv, "srv", 1, args);
	fd = harness_connect(srv.port);
	lport = harness_local_port(fd);
	harness_close(fd);
	snprintf(needle, sizeof needle, "peer=127.0.0.1:%d accepted", lport);
	ck_assert_msg(harness_file_wait(srv.log, needle, HARNESS_DEADLINE_MS),
	    "accept's info line '%s' not logged", needle);
	/* Stopping flushes the log: whatever the worker said is in it. */
	ck_assert_int_eq(harness_server_stop(&srv), 0);
	snprintf(needle, sizeof needle, "peer=127.0.0.1:%d opened", lport);
	ck_assert_msg(harness_count_in(srv.log, needle) == 0,
	    "the worker logged an info line at level notice");
	ck_assert_uint_eq(harness_count_in(srv.log, " worker-0 info "), 0);
}
END_TEST

/* -l [::1]:0: it listens on IPv6 loopback, says so with the address in
 * brackets, serves a client there (stats settings naming the address)
 * and logs it as [::1]:PORT. */
START_TEST(test_listen_ipv6)
{
	struct sockaddr_in6 sin6 = {
	    .sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT};
	/* -v: the accepted line names the peer. */
	const char *args[] = {"-l", "[::1]:0", "-v", NULL};
	struct harness_server srv;
	char buf[BUFSZ], needle[64];
	socklen_t len = sizeof sin6;
	int fd;
	bool eof;

	/* Where the host has no IPv6 loopback there is nothing to test. */
	fd = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd == -1 || bind(fd, (struct sockaddr *)&sin6, sizeof sin6) == -1) {
		harness_skip("no IPv6 loopback: %s", strerror(errno));
		if (fd != -1)
			close(fd);
		return;
	}
	close(fd);
	harness_server_start(&srv, "srv", 1, args);
	ck_assert_uint_eq(harness_count_in(srv.log, " listening on [::1]:"), 1);
	sin6.sin6_port = htons((uint16_t)srv.port);
	fd = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ne(fd, -1);
	ck_assert_int_eq(connect(fd, (struct sockaddr *)&sin6, sizeof sin6), 0);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sin6, &len), 0);
	harness_sends(fd, "version\r\n");
	harness_recv(fd, buf, sizeof buf, "\r\n", 0, HARNESS_DEADLINE_MS, &eof);
	ck_assert_str_eq(buf, "VERSION " TL_WIRE_VERSION "\r\n");
	/* stats settings gives the listen address as it was asked for. */
	harness_sends(fd, "stats settings\r\n");
	harness_recv(
	    fd, buf, sizeof buf, "END\r\n", 0, HARNESS_DEADLINE_MS, &eof);
	ck_assert_msg(strstr(buf, "\r\nSTAT inter [::1]:0\r\n") != NULL,
	    "stats settings: %s", buf);
	/* stats conns words it as memcached: tcp6:[::1]:PORT. */
	harness_cmd(fd, "stats conns\r\n", "END\r\n", buf, sizeof buf);
	snprintf(needle, sizeof needle, ":addr tcp6:[::1]:%d\r\n",
	    ntohs(sin6.sin6_port));
	ck_assert_msg(strstr(buf, needle), "no '%s' in: %s", needle, buf);
	snprintf(
	    needle, sizeof needle, ":listen_addr tcp6:[::1]:%d\r\n", srv.port);
	ck_assert_msg(strstr(buf, needle), "no '%s' in: %s", needle, buf);
	close(fd);
	snprintf(needle, sizeof needle, " peer=[::1]:%d accepted",
	    ntohs(sin6.sin6_port));
	ck_assert_msg(harness_file_wait(srv.log, needle, HARNESS_DEADLINE_MS),
	    "no '%s' in the log", needle);
	ck_assert_int_eq(harness_server_stop(&srv), 0);
}
END_TEST

/* Run every test; exit status 1 if any failed. */
int
main(void)
{
	const TTest *tests[] = {test_bad_options, test_check_config_user,
	    test_bad_config_file, test_auth_file_refused,
	    test_auth_file_protocol, test_help_version, test_port_in_use,
	    test_listen_unresolvable, test_log_file_unwritable,
	    test_daemon_relays_failure, test_pidfile_unwritable,
	    test_pidfile_stale, test_pidfile_held, test_pidfile_daemon,
	    test_pidfile_race, test_pidfile_not_ours, test_relative_paths,
	    test_role_level_from_file, test_listen_ipv6,
	    test_item_size_vs_memory, test_check_config_every,
	    test_check_config_ok, test_check_config_run_user, NULL};

	return harness_run_suite(
	    &(struct harness_suite){.name = "startup", .timeout = 60}, tests);
}
