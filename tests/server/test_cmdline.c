/* memcached 1.6.18's command lines, unchanged, on the real threadlined:
 * Debian's /etc/memcached.conf as its systemd wrapper turns it into
 * options, and the command lines people run memcached with. Each starts
 * and serves; what is ignored is named in the notice line, what is
 * refused exits 2 saying why, and -A, -C, -F, -X, -W, -s, -R and SIGUSR1
 * do what memcached's do. */
#include <check.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "harness.h"
#include "tl_build.h"

#define BUFSZ 8192
#define ARGS  64

/* Debian's /etc/memcached.conf as shipped, for a machine without it. */
static const char test_debian_shipped[] =
    "-d\nlogfile /var/log/memcached.log\n-m 64\n-p 11211\n-u memcache\n"
    "-l 127.0.0.1\n-P /var/run/memcached/memcached.pid\n";

/* version, set and get over fd: the server serves. */
static void
test_version_set_get(int fd)
{
	char buf[BUFSZ];

	harness_cmd(fd, "version\r\n", "\r\n", buf, sizeof buf);
	ck_assert_str_eq(buf, "VERSION " TL_WIRE_VERSION "\r\n");
	harness_cmd(fd, "set k 3 0 2\r\nhi\r\n", "\r\n", buf, sizeof buf);
	ck_assert_str_eq(buf, "STORED\r\n");
	harness_cmd(fd, "get k\r\n", "END\r\n", buf, sizeof buf);
	ck_assert_str_eq(buf, "VALUE k 3 2\r\nhi\r\nEND\r\n");
}

/* Start with args, check it serves and, if notice, that the ignored
 * options are named; the server is left running in srv. */
static void
test_start(
    struct harness_server *srv, const char *const args[], const char *notice)
{
	static int n;
	char tag[16];
	int fd;

	/* A tag, and a log, of its own: the harness finds the port in it. */
	snprintf(tag, sizeof tag, "srv%d", n++);
	harness_server_start(srv, tag, 2, args);
	fd = harness_connect(srv->port);
	test_version_set_get(fd);
	harness_close(fd);
	if (notice != NULL)
		ck_assert_msg(harness_file_wait(srv->log, notice, 0),
		    "the log lacks '%s'", notice);
}

/* Start, serve, stop with exit 0. */
static void
test_serves(const char *const args[], const char *notice)
{
	struct harness_server srv;

	test_start(&srv, args, notice);
	ck_assert_int_eq(harness_server_stop(&srv), 0);
}

/* Turn a memcached.conf into arguments as Debian's
 * systemd-memcached-wrapper does: comments and blank lines out, -d and
 * -h out, lines not starting with '-' (logfile) out, the rest split on
 * blanks as the shell splits its exec line. The port becomes 0 and the
 * pidfile one in the test's directory: the harness finds the port in the
 * log, and tests must not write to /var/run. Returns argc. */
static int
test_wrapper_args(char *text, const char *args[], char *pidfile)
{
	char *line, *save = NULL, *word, *wsave;
	int n = 0;

	for (line = strtok_r(text, "\n", &save); line != NULL;
	     line = strtok_r(NULL, "\n", &save)) {
		char *hash = strchr(line, '#');

		if (hash != NULL)
			*hash = '\0';
		line += strspn(line, " \t");
		if (*line != '-' || strncmp(line, "-d", 2) == 0 ||
		    strncmp(line, "-h", 2) == 0)
			continue;
		for (word = strtok_r(line, " \t", &wsave); word != NULL;
		     word = strtok_r(NULL, " \t", &wsave)) {
			ck_assert_int_lt(n, ARGS - 1);
			if (n > 0 && strcmp(args[n - 1], "-p") == 0)
				word = "0";
			else if (n > 0 && strcmp(args[n - 1], "-P") == 0)
				word = pidfile;
			args[n++] = word;
		}
	}
	args[n] = NULL;
	return n;
}

/* Debian's /etc/memcached.conf, its options unchanged but the port and
 * the pidfile's path: -m 64 -u memcache -l 127.0.0.1 -P FILE. */
START_TEST(test_debian_conf)
{
	char *text = harness_file_read("/etc/memcached.conf");
	char pidfile[HARNESS_PATH_MAX];
	const char *args[ARGS];
	struct harness_server srv;

	if (text == NULL)
		text = strdup(test_debian_shipped);
	harness_path(pidfile, sizeof pidfile, "memcached.pid");
	ck_assert_int_ge(test_wrapper_args(text, args, pidfile), 8);
	test_start(&srv, args, NULL);
	ck_assert_msg(access(pidfile, F_OK) == 0, "no pidfile %s", pidfile);
	ck_assert(harness_file_wait(srv.log, " user=memcache ", 0));
	ck_assert_int_eq(harness_server_stop(&srv), 0);
	free(text);
}
END_TEST

/* The command lines of memcached's own docs, distributions and
 * deployments, each served. */
START_TEST(test_common_lines)
{
	char pidfile[HARNESS_PATH_MAX];
	const char *classic[] = {"-m", "64", "-u", "memcache", "-l",
	    "127.0.0.1", "-P", pidfile, NULL};
	const char *systemd[] = {
	    "-U", "0", "-t", "4", "-c", "4096", "-m", "1024", NULL};
	const char *modern[] = {"-o", "modern", NULL};
	const char *idle[] = {
	    "-o", "idle_timeout=600,maxconns_fast", "-c", "100", NULL};
	const char *sized[] = {"-I", "2m", "-R", "40", "-B", "ascii", NULL};
	const char *longs[] = {"--memory-limit=128", "--conn-limit=64",
	    "--listen=127.0.0.1", "--threads=2", "--max-item-size=4m",
	    "--disable-evictions", "--listen-backlog=128", "--protocol=auto",
	    "--udp-port=0", NULL};
	const char *hardened[] = {"-k", "-r", "-b", "512", "-D", ":", NULL};

	harness_path(pidfile, sizeof pidfile, "classic.pid");
	test_serves(classic, NULL);
	test_serves(systemd, NULL);
	test_serves(modern, NULL);
	test_serves(idle, NULL);
	test_serves(sized, NULL);
	test_serves(longs, NULL);
	test_serves(hardened, NULL);
}
END_TEST

/* Verbosity as memcached's: with no -v a connection logs nothing, and
 * nothing is at info or below (start, stop, warnings, errors); -v logs the
 * connection opening and closing (info), -vv each command too (the
 * access lines), -vvv the internals (debug). The shipped config says the
 * same as no -v, and -v on the command line overrides it. */
START_TEST(test_verbose)
{
	static const struct {
		const char *opt, *level;
		bool shipped, conns, access, debug;
		int verbosity; /* what stats settings says, as memcached */
	} cases[] = {
	    {NULL, "notice", false, false, false, false, 0},
	    {"-v", "info", false, true, false, false, 1},
	    {"-vv", "info", false, true, true, false, 1},
	    {"-vvv", "debug", false, true, true, true, 3},
	    {NULL, "notice", true, false, false, false, 0},
	    {"-v", "info", true, true, false, false, 1},
	};
	const char *dir = getenv("TL_CONFIG_DIR");
	char conf[HARNESS_PATH_MAX];

	ck_assert_msg(dir != NULL, "TL_CONFIG_DIR is not set");
	snprintf(conf, sizeof conf, "%s/threadlined.conf", dir);
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		const char *args[4] = {cases[i].opt, NULL};
		struct harness_server srv;
		char want[64], reply[8192];
		int fd;

		if (cases[i].shipped) {
			args[0] = "--config";
			args[1] = conf;
			args[2] = cases[i].opt;
		}
		snprintf(want, sizeof want, " log_level=%s ", cases[i].level);
		test_start(&srv, args, want);
		fd = harness_connect(srv.port);
		harness_cmd(
		    fd, "stats settings\r\n", "END\r\n", reply, sizeof reply);
		harness_close(fd);
		snprintf(want, sizeof want, "STAT verbosity %d\r\n",
		    cases[i].verbosity);
		ck_assert_msg(strstr(reply, want) != NULL,
		    "case %zu: no %s in stats settings", i, want);
		/* Stopping flushes the log: all of it is there. */
		ck_assert_int_eq(harness_server_stop(&srv), 0);
		ck_assert_msg(
		    (harness_count_in(srv.log, " opened\n") > 0) ==
		            cases[i].conns &&
		        (harness_count_in(srv.log, " closed by client\n") >
		            0) == cases[i].conns,
		    "case %zu: connection lines %s", i,
		    cases[i].conns ? "missing" : "logged");
		ck_assert_msg((harness_count_in(srv.log, " info access ") >
		                  0) == cases[i].access,
		    "case %zu: access lines %s", i,
		    cases[i].access ? "missing" : "logged");
		ck_assert_msg((harness_count_in(srv.log, " debug ") > 0) ==
		                  cases[i].debug,
		    "case %zu: debug lines %s", i,
		    cases[i].debug ? "missing" : "logged");
		if (!cases[i].conns)
			ck_assert_msg(harness_count_in(srv.log, " info ") == 0,
			    "case %zu: info lines at level notice", i);
	}
}
END_TEST

/* memcached's internals are accepted and named once, with why. */
START_TEST(test_ignored_notice)
{
	const char *args[] = {"-f", "1.25", "-n", "48", "-L", "-o",
	    "hashpower=20,lru_maintainer,slab_reassign,ext_path=/x:1G", "-f",
	    "1.5", NULL};
	struct harness_server srv;

	test_start(&srv, args,
	    " notice memcached options ignored: -f (threadline's store sizes "
	    "its classes itself); -n (threadline's store sizes its classes "
	    "itself); -L (threadline's store allocates its pages as it fills");
	ck_assert_uint_eq(harness_count_in(srv.log, " -f ("), 1);
	ck_assert(harness_file_wait(srv.log,
	    "; -o hashpower (threadline's store sizes its hash table itself); "
	    "-o lru_maintainer (",
	    0));
	ck_assert(harness_file_wait(srv.log, "; -o slab_reassign (", 0));
	ck_assert(harness_file_wait(srv.log,
	    "; -o ext_path (threadline keeps every item in memory", 0));
	ck_assert_int_eq(harness_server_stop(&srv), 0);
}
END_TEST

/* What asks for security threadline cannot give stops start-up. */
START_TEST(test_refused)
{
	static const struct {
		const char *args[3];
		const char *want;
	} cases[] = {
	    {{"-S"}, "-S (SASL authentication): threadline does not support "
	             "it, and will not start without what it asks for"},
	    {{"-Z"}, "-Z (TLS)"},
	    {{"-e", "/dev/shm/mc"}, "-e (restartable cache"},
	    {{"-o", "ssl_chain_cert=/etc/c.pem"}, "-o ssl_chain_cert (TLS)"},
	    {{"-U", "11211"}, "for udp_port: expected 0 (off): threadline has "
	                      "no UDP"},
	};

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		const char *args[8] = {"-p", "0"};
		char tag[16], *err;

		for (int k = 0; cases[i].args[k] != NULL; k++)
			args[2 + k] = cases[i].args[k];
		snprintf(tag, sizeof tag, "refused%zu", i);
		ck_assert_int_eq(harness_run(tag, args), 2);
		err = harness_output(tag, "err");
		ck_assert_msg(strstr(err, cases[i].want) != NULL,
		    "%s: stderr lacks '%s': %s", cases[i].args[0],
		    cases[i].want, err);
		free(err);
	}
}
END_TEST

/* -A: a client's shutdown stops the server, exit 0; "shutdown graceful"
 * is memcached's other mode, any other word memcached's error. */
START_TEST(test_shutdown_enabled)
{
	const char *args[] = {"-A", NULL};
	struct harness_server srv;
	char buf[BUFSZ];
	bool eof;
	int fd;

	test_start(&srv, args, NULL);
	fd = harness_connect(srv.port);
	harness_cmd(fd, "shutdown foo\r\n", "\r\n", buf, sizeof buf);
	ck_assert_str_eq(buf, "CLIENT_ERROR invalid shutdown mode\r\n");
	harness_cmd(fd, "shutdown graceful now\r\n", "\r\n", buf, sizeof buf);
	ck_assert_str_eq(buf, "CLIENT_ERROR invalid shutdown mode\r\n");
	harness_sends(fd, "shutdown graceful\r\n");
	harness_recv_all(fd, buf, sizeof buf, HARNESS_DEADLINE_MS, &eof);
	ck_assert(eof);
	ck_assert_int_eq(harness_wait(srv.pid, HARNESS_DEADLINE_MS), 0);
	harness_close(fd);
}
END_TEST

/* -C, -F, -X, -W: memcached 1.6.18's replies, to the byte. */
START_TEST(test_disabled_commands)
{
	const char *args[] = {"-C", "-F", "-X", "-W", NULL};
	struct harness_server srv;
	char buf[BUFSZ];
	int fd;

	test_start(&srv, args, NULL);
	fd = harness_connect(srv.port);
	harness_cmd(fd, "gets k\r\n", "END\r\n", buf, sizeof buf);
	ck_assert_str_eq(buf, "VALUE k 3 2 0\r\nhi\r\nEND\r\n");
	harness_cmd(fd, "cas k 0 0 1 0\r\nx\r\n", "\r\n", buf, sizeof buf);
	ck_assert_str_eq(buf, "EXISTS\r\n");
	harness_cmd(fd, "cas nokey 0 0 1 0\r\nx\r\n", "\r\n", buf, sizeof buf);
	ck_assert_str_eq(buf, "NOT_FOUND\r\n");
	harness_cmd(fd, "flush_all\r\n", "\r\n", buf, sizeof buf);
	ck_assert_str_eq(buf, "CLIENT_ERROR flush_all not allowed\r\n");
	harness_cmd(fd, "stats cachedump 1 1\r\n", "\r\n", buf, sizeof buf);
	ck_assert_str_eq(buf, "CLIENT_ERROR stats cachedump not allowed\r\n");
	harness_cmd(fd, "watch\r\n", "\r\n", buf, sizeof buf);
	ck_assert_str_eq(buf, "CLIENT_ERROR watch commands not allowed\r\n");
	harness_cmd(fd, "get k\r\n", "END\r\n", buf, sizeof buf);
	ck_assert_str_eq(buf, "VALUE k 3 2\r\nhi\r\nEND\r\n");
	harness_close(fd);
	ck_assert_int_eq(harness_server_stop(&srv), 0);
}
END_TEST

/* -s FILE -a 0770: a UNIX socket of that mode, and no TCP listener. */
/* "stats conns" words a unix socket as memcached: the listener and each
 * connection's listen_addr unix:PATH, a client (which has no address)
 * ?:<AF 0>; a connection whose value is still to come is in conn_nread. */
static void
test_unix_conns(int fd, const struct sockaddr_un *sun, const char *path)
{
	char buf[BUFSZ], want[HARNESS_PATH_MAX + 32];
	int mid = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	ck_assert_int_eq(
	    connect(mid, (const struct sockaddr *)sun, sizeof *sun), 0);
	harness_sends(mid, "set foo 0 0 6\r\n");
	for (long long end = harness_now_ms() + HARNESS_DEADLINE_MS;;) {
		harness_cmd(fd, "stats conns\r\n", "END\r\n", buf, sizeof buf);
		if (strstr(buf, ":state conn_nread\r\n"))
			break;
		ck_assert_msg(harness_now_ms() < end,
		    "no connection in conn_nread: %s", buf);
		harness_nap();
	}
	snprintf(want, sizeof want, ":addr unix:%s\r\n", path);
	ck_assert_uint_eq(harness_count(buf, want), 1);
	snprintf(want, sizeof want, ":listen_addr unix:%s\r\n", path);
	ck_assert_uint_eq(harness_count(buf, want), 2);
	ck_assert_uint_eq(harness_count(buf, ":addr ?:<AF 0>\r\n"), 2);
	ck_assert_uint_eq(harness_count(buf, ":addr tcp:"), 0);
	close(mid);
}

START_TEST(test_unix_socket)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	char sock[HARNESS_PATH_MAX], log[HARNESS_PATH_MAX];
	const char *args[] = {
	    "-s", sock, "-a", "0770", "-t", "2", "--log-file", log, NULL};
	struct stat st;
	pid_t pid;
	int fd;

	harness_path(sock, sizeof sock, "mc.sock");
	harness_path(log, sizeof log, "srv.log");
	ck_assert_uint_lt(strlen(sock), sizeof sun.sun_path);
	strcpy(sun.sun_path, sock);
	pid = harness_spawn("srv", args);
	ck_assert_msg(
	    harness_file_wait(log, " notice ready: ", HARNESS_DEADLINE_MS),
	    "not ready");
	ck_assert(harness_file_wait(log, " listening on unix:", 0));
	ck_assert_uint_eq(harness_count_in(log, " listening on "), 1);
	ck_assert_int_eq(stat(sock, &st), 0);
	ck_assert(S_ISSOCK(st.st_mode));
	ck_assert_int_eq(st.st_mode & 0777, 0770);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ne(fd, -1);
	ck_assert_msg(connect(fd, (struct sockaddr *)&sun, sizeof sun) == 0,
	    "connect %s: %s", sock, strerror(errno));
	test_version_set_get(fd);
	test_unix_conns(fd, &sun, sock);
	close(fd);
	ck_assert_int_eq(kill(pid, SIGTERM), 0);
	ck_assert_int_eq(harness_wait(pid, HARNESS_DEADLINE_MS), 0);
}
END_TEST

/* -R 5: a pipeline of 100 gets on one connection is answered whole, the
 * connection yielding its turn after every 5. */
START_TEST(test_reqs_per_event)
{
	const char *args[] = {"-R", "5", "-vvv", NULL};
	struct harness_server srv;
	static char req[100 * 16], buf[100 * 64];
	size_t len = 0, got;
	bool eof;
	int fd;

	test_start(&srv, args, NULL);
	fd = harness_connect(srv.port);
	for (int i = 0; i < 100; i++)
		len += (size_t)snprintf(req + len, sizeof req - len,
		    "get k%d\r\n", i % 3 == 0 ? 0 : i);
	harness_sends(fd, "set k0 0 0 1\r\nv\r\n");
	harness_recv(fd, buf, sizeof buf, "\r\n", 0, HARNESS_DEADLINE_MS, &eof);
	harness_send(fd, req, len);
	got = harness_recv(fd, buf, sizeof buf, NULL, 34 * 22 + 66 * 5,
	    HARNESS_DEADLINE_MS, &eof);
	ck_assert_uint_eq(got, 34 * 22 + 66 * 5);
	ck_assert_uint_eq(harness_count(buf, "END\r\n"), 100);
	ck_assert_uint_eq(harness_count(buf, "VALUE k0 0 1\r\nv\r\n"), 34);
	ck_assert_msg(harness_file_wait(srv.log, " yields, requests left",
	                  HARNESS_DEADLINE_MS),
	    "no yield in the log");
	harness_close(fd);
	ck_assert_int_eq(harness_server_stop(&srv), 0);
}
END_TEST

/* SIGUSR1 stops gracefully, as memcached 1.6; SIGHUP only reopens. */
START_TEST(test_sigusr1)
{
	struct harness_server srv;
	int fd;

	test_start(&srv, NULL, NULL);
	ck_assert_int_eq(kill(srv.pid, SIGHUP), 0);
	ck_assert(harness_file_wait(
	    srv.log, "reopened log file", HARNESS_DEADLINE_MS));
	fd = harness_connect(srv.port);
	test_version_set_get(fd);
	harness_close(fd);
	ck_assert_int_eq(kill(srv.pid, SIGUSR1), 0);
	ck_assert_int_eq(harness_wait(srv.pid, HARNESS_DEADLINE_MS), 0);
	ck_assert(harness_file_wait(
	    srv.log, " notice received SIGUSR1, shutting down gracefully", 0));
}
END_TEST

/* Run every test; exit status 1 if any failed. */
int
main(void)
{
	const TTest *tests[] = {test_debian_conf, test_common_lines,
	    test_verbose, test_ignored_notice, test_refused,
	    test_shutdown_enabled, test_disabled_commands, test_unix_socket,
	    test_reqs_per_event, test_sigusr1, NULL};

	return harness_run_suite(
	    &(struct harness_suite){.name = "cmdline", .timeout = 120}, tests);
}
