/* The threadline CLI ($THREADLINE): its usage, --help and --version, an
 * unknown command named, THREADLINE_HOST/PORT and -s, what it refuses
 * before sending anything, every command on items and stats groups, values
 * larger than its buffer or read from stdin, write errors, watch until the
 * server goes, control bytes escaped, colours on a terminal, and its
 * answers to a server that misbehaves
 * (a scripted one in this process: cut replies, unexpected replies, a line
 * longer than it takes). Exit statuses: 0 done, 1 the server answered an
 * error or a miss, 2 usage, 3 no connection or it broke. Every wait polls
 * with a deadline; see harness.h. */
#include <check.h>
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "tl_build.h"

#define BUFSZ 65536
/* A DNS label may hold 63 bytes: a longer one fails in the resolver
 * before any query is sent, so no name server is asked. */
#define UNRESOLVABLE                                                           \
	"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" \
	".invalid"

/* Start threadline [-p PORT] args (port 0: no -p). */
static pid_t
test_client_start(const char *tag, int port, const char *const args[])
{
	const char *argv[16];
	char p[16];
	int n = 0;

	if (port != 0) {
		snprintf(p, sizeof p, "%d", port);
		argv[n++] = "-p";
		argv[n++] = p;
	}
	for (int i = 0; args[i] != NULL; i++) {
		ck_assert_int_lt(n, 15);
		argv[n++] = args[i];
	}
	argv[n] = NULL;
	return harness_spawn_prog(harness_client_bin(), tag, argv);
}

/* Run threadline to its end: it must exit with code, and its stderr be
 * "threadline: " err "\n" (err NULL: stderr not checked; "": empty). */
static void
test_client_expect(const char *tag, int port, const char *const args[],
    int code, const char *err)
{
	int got = harness_wait_exit(
	    test_client_start(tag, port, args), "threadline", tag);
	char *text = harness_output(tag, "err"), want[1024];

	ck_assert_msg(got == code,
	    "threadline %s: exit %d, want %d; stderr: %s", tag, got, code,
	    text);
	if (err != NULL && err[0] != '\0') {
		snprintf(want, sizeof want, "threadline: %s\n", err);
		ck_assert_msg(strcmp(text, want) == 0,
		    "threadline %s: stderr '%s', want '%s'", tag, text, want);
	} else if (err != NULL)
		ck_assert_msg(
		    text[0] == '\0', "threadline %s: stderr '%s'", tag, text);
	free(text);
}

/* A port nobody listens on: bound, never listening, so not reused while
 * the returned socket is open. */
static int
test_dead_port(int *sock)
{
	struct sockaddr_in sin = {
	    .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};

	*sock = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ne(*sock, -1);
	ck_assert_int_eq(bind(*sock, (struct sockaddr *)&sin, sizeof sin), 0);
	return harness_local_port(*sock);
}

/* -h, --help, -V and --version exit 0 with the usage or the version on
 * stdout; a bad option, no command or one with the wrong number of
 * arguments exit 2 with the usage on stderr, an unknown command with its
 * name, before connecting (the port is dead, so a connection attempt would
 * exit 3). */
START_TEST(test_usage)
{
	static const struct {
		const char *args[5]; /* NULL-terminated */
	} bad[] = {
	    {{"-x", "ping"}},
	    {{NULL}},
	    {{"threads", "extra"}},
	    {{"ping", "extra"}},
	    {{"get"}},
	    {{"set", "k", "v", "extra"}},
	    {{"delete"}},
	    {{"delete", "a", "b"}},
	    {{"incr"}},
	    {{"decr", "k", "1", "2"}},
	    {{"touch", "k"}},
	    {{"flush", "1", "2"}},
	    {{"verbosity"}},
	    {{"verbosity", "info", "worker-0", "extra"}},
	};
	static const char *const helps[] = {"-h", "--help"};
	static const char *const versions[] = {"-V", "--version"};
	char tag[32], *out, *err;
	int sock, port = test_dead_port(&sock);

	for (size_t i = 0; i < 2; i++) {
		const char *help[] = {helps[i], NULL};
		const char *version[] = {versions[i], NULL};

		test_client_expect("help", port, help, 0, "");
		out = harness_output("help", "out");
		ck_assert_msg(strncmp(out,
		                  "usage: threadline [-H host] [-p port] "
		                  "[-s socket] command [args]\n",
		                  64) == 0,
		    "%s: %s", helps[i], out);
		ck_assert_msg(strstr(out, "THREADLINE_PORT") != NULL &&
		                  strstr(out, "exit status: 0 done") != NULL,
		    "%s: %s", helps[i], out);
		free(out);
		test_client_expect("version", port, version, 0, "");
		out = harness_output("version", "out");
		ck_assert_str_eq(out, "threadline " TL_VERSION "\n");
		free(out);
	}
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		snprintf(tag, sizeof tag, "bad%zu", i);
		test_client_expect(tag, port, bad[i].args, 2, NULL);
		err = harness_output(tag, "err");
		out = harness_output(tag, "out");
		ck_assert_msg(
		    strstr(err, "usage: threadline [-H host]") != NULL,
		    "%s: no usage on stderr: %s", tag, err);
		ck_assert_msg(out[0] == '\0', "%s: stdout '%s'", tag, out);
		free(err);
		free(out);
	}
	{
		const char *bogus[] = {"bogus", NULL};

		test_client_expect("bogus", port, bogus, 2,
		    "unknown command 'bogus' (see --help)");
	}
	/* A port that is no port is a usage error, not a failed connection. */
	{
		const char *badport[] = {"-p", "abc", "ping", NULL};

		test_client_expect(
		    "badport", port, badport, 2, "bad port 'abc': 0 to 65535");
	}
	close(sock);
}
END_TEST

/* No server: a port that refuses and a host that does not resolve exit 3
 * and say which. */
START_TEST(test_no_server)
{
	const char *ping[] = {"ping", NULL};
	const char *nohost[] = {"-H", UNRESOLVABLE, "ping", NULL};
	char want[128];
	int sock, port = test_dead_port(&sock);

	snprintf(want, sizeof want,
	    "cannot connect to 127.0.0.1 port %d: Connection refused", port);
	test_client_expect("refused", port, ping, 3, want);
	test_client_expect("nohost", port, nohost, 3,
	    "cannot resolve " UNRESOLVABLE ": Name or service not known");
	close(sock);
}
END_TEST

/* Run threadline -p PORT args under sh, redir (say "> /dev/full") applied
 * to it; its exit code, stderr checked as test_client_expect does. */
static void
test_client_sh(const char *tag, int port, const char *redir,
    const char *const args[], int code, const char *err)
{
	const char *argv[20] = {"-c", NULL, harness_client_bin(), "-p"};
	char script[HARNESS_PATH_MAX + 64], p[16], want[1024], *text;
	int n = 5, got;

	snprintf(script, sizeof script, "exec \"$0\" \"$@\" %s", redir);
	snprintf(p, sizeof p, "%d", port);
	argv[1] = script;
	argv[4] = p;
	for (int i = 0; args[i] != NULL; i++) {
		ck_assert_int_lt(n, 19);
		argv[n++] = args[i];
	}
	argv[n] = NULL;
	got = harness_wait_exit(
	    harness_spawn_prog("/bin/sh", tag, argv), "threadline", tag);
	text = harness_output(tag, "err");
	ck_assert_msg(got == code,
	    "threadline %s: exit %d, want %d; stderr: %s", tag, got, code,
	    text);
	snprintf(want, sizeof want, "%s%s%s", err[0] ? "threadline: " : "", err,
	    err[0] ? "\n" : "");
	ck_assert_msg(strcmp(text, want) == 0,
	    "threadline %s: stderr '%s', want '%s'", tag, text, want);
	free(text);
}

/* Run threadline args against port: exit code, stderr as
 * test_client_expect, and stdout exactly out. */
static void
test_client_out(const char *tag, int port, const char *const args[], int code,
    const char *err, const char *out)
{
	char *text;

	test_client_expect(tag, port, args, code, err);
	text = harness_output(tag, "out");
	ck_assert_msg(strcmp(text, out) == 0,
	    "threadline %s: stdout '%s', want '%s'", tag, text, out);
	free(text);
}

/* THREADLINE_PORT and THREADLINE_HOST are the defaults, -p and -H win
 * over them, a bad port in them is a usage error; -s talks over a Unix
 * socket. */
START_TEST(test_env_and_socket)
{
	const char *ping[] = {"ping", NULL};
	const char *nohost[] = {"-H", UNRESOLVABLE, "ping", NULL};
	struct harness_server srv;
	char port[16], want[HARNESS_PATH_MAX + 64], sock[HARNESS_PATH_MAX],
	    log[HARNESS_PATH_MAX];
	char *out;
	int dead, deadport = test_dead_port(&dead), fd;
	pid_t pid;

	harness_server_start(&srv, "srv", 1, NULL);
	snprintf(port, sizeof port, "%d", srv.port);
	ck_assert_int_eq(setenv("THREADLINE_PORT", port, 1), 0);
	test_client_expect("envport", 0, ping, 0, "");
	out = harness_output("envport", "out");
	snprintf(
	    want, sizeof want, "127.0.0.1:%d answered \"VERSION ", srv.port);
	ck_assert_msg(strncmp(out, want, strlen(want)) == 0, "ping: %s", out);
	free(out);
	ck_assert_int_eq(setenv("THREADLINE_HOST", UNRESOLVABLE, 1), 0);
	test_client_expect("envhost", 0, ping, 3,
	    "cannot resolve " UNRESOLVABLE ": Name or service not known");
	ck_assert_int_eq(setenv("THREADLINE_HOST", "127.0.0.1", 1), 0);
	/* -p wins: the dead port refuses. */
	snprintf(want, sizeof want,
	    "cannot connect to 127.0.0.1 port %d: Connection refused",
	    deadport);
	test_client_expect("pwins", deadport, ping, 3, want);
	ck_assert_int_eq(setenv("THREADLINE_HOST", UNRESOLVABLE, 1), 0);
	test_client_expect("Hwins", 0,
	    (const char *const[]){"-H", "127.0.0.1", "ping", NULL}, 0, "");
	ck_assert_int_eq(setenv("THREADLINE_PORT", "abc", 1), 0);
	test_client_expect("envbad", 0, nohost, 2,
	    "bad port 'abc' in THREADLINE_PORT: 0 to 65535");
	unsetenv("THREADLINE_PORT");
	unsetenv("THREADLINE_HOST");
	ck_assert_int_eq(harness_server_stop(&srv), 0);
	close(dead);

	/* A server on a Unix socket alone. */
	harness_path(sock, sizeof sock, "tl.sock");
	harness_path(log, sizeof log, "unix.log");
	pid = harness_spawn("unix", (const char *const[]){"-s", sock, "-t", "1",
	                                "--log-file", log, NULL});
	ck_assert(
	    harness_file_wait(log, " notice ready: ", HARNESS_DEADLINE_MS));
	ck_assert_int_ne(fd = harness_connect_unix(sock), -1);
	harness_close(fd);
	test_client_expect("unixset", 0,
	    (const char *const[]){"-s", sock, "set", "k", "over unix", NULL}, 0,
	    "");
	test_client_out("unixget", 0,
	    (const char *const[]){"-s", sock, "get", "k", NULL}, 0, "",
	    "over unix");
	harness_path(log, sizeof log, "nosuch.sock");
	snprintf(want, sizeof want,
	    "cannot connect to %s: No such file or directory", log);
	test_client_expect("unixnone", 0,
	    (const char *const[]){"-s", log, "ping", NULL}, 3, want);
	ck_assert_int_eq(kill(pid, SIGTERM), 0);
	ck_assert_int_eq(harness_wait(pid, HARNESS_DEADLINE_MS), 0);
}
END_TEST

/* The value of key and its ttl as mg reports it (t-1: none). */
static void
test_mg(int fd, const char *key, char *reply, size_t len)
{
	char req[300];

	snprintf(req, sizeof req, "mg %s f t v\r\n", key);
	harness_cmd(fd, req, "\r\n", reply, len);
}

/* delete, incr, decr, touch, flush and get of several keys, as the server
 * answers them: misses and errors on stderr with exit 1, results on
 * stdout. */
START_TEST(test_item_commands)
{
	struct harness_server srv;
	char reply[512], want[128];
	int fd, ttl = 0;

	harness_server_start(&srv, "srv", 1, NULL);
	fd = harness_connect(srv.port);
	test_client_expect("set", srv.port,
	    (const char *const[]){
	        "set", "--flags", "7", "--ttl=1000", "k", "hello", NULL},
	    0, "");
	test_mg(fd, "k", reply, sizeof reply);
	ck_assert_msg(
	    sscanf(reply, "VA 5 f7 t%d", &ttl) == 1 && ttl > 900 && ttl <= 1000,
	    "after set --flags 7 --ttl 1000: %s", reply);
	/* After "--", a value may look like an option. */
	test_client_expect("dashdash", srv.port,
	    (const char *const[]){"set", "--", "d", "--ttl", NULL}, 0, "");
	test_client_out("getdash", srv.port,
	    (const char *const[]){"get", "d", NULL}, 0, "", "--ttl");
	test_client_expect("badflags", srv.port,
	    (const char *const[]){"set", "--flags", "-1", "k", "v", NULL}, 2,
	    "set: --flags takes 0 to 4294967295");
	test_client_expect("badopt", srv.port,
	    (const char *const[]){"set", "--cas", "1", "k", "v", NULL}, 2,
	    "set: unknown option --cas");
	test_client_expect("touch", srv.port,
	    (const char *const[]){"touch", "k", "5000", NULL}, 0, "");
	test_mg(fd, "k", reply, sizeof reply);
	ck_assert_msg(sscanf(reply, "VA 5 f7 t%d", &ttl) == 1 && ttl > 4000,
	    "after touch k 5000: %s", reply);
	test_client_expect("touchmiss", srv.port,
	    (const char *const[]){"touch", "nope", "10", NULL}, 1,
	    "nope: not found");
	test_client_expect("touchbad", srv.port,
	    (const char *const[]){"touch", "k", "soon", NULL}, 2,
	    "bad ttl 'soon': a number");
	harness_cmd(fd, "set n 0 0 1\r\n5\r\n", "\r\n", reply, sizeof reply);
	test_client_out("incr", srv.port,
	    (const char *const[]){"incr", "n", "10", NULL}, 0, "", "15\n");
	test_client_out("decr", srv.port,
	    (const char *const[]){"decr", "n", NULL}, 0, "", "14\n");
	test_client_out("incrmiss", srv.port,
	    (const char *const[]){"incr", "nope", NULL}, 1, "nope: not found",
	    "");
	test_client_out("incrtext", srv.port,
	    (const char *const[]){"incr", "k", NULL}, 1,
	    "server says: CLIENT_ERROR cannot increment or decrement "
	    "non-numeric value",
	    "");
	test_client_expect("incrbad", srv.port,
	    (const char *const[]){"incr", "n", "-3", NULL}, 2,
	    "bad amount '-3': a number");
	/* Several keys: each hit after a "==> KEY <==" line, misses on
	 * stderr, exit 1 if any missed. */
	test_client_out("multi", srv.port,
	    (const char *const[]){"get", "k", "nope", "n", NULL}, 1,
	    "nope: not found", "==> k <==\nhello\n\n==> n <==\n14\n");
	test_client_out("multihit", srv.port,
	    (const char *const[]){"get", "n", "k", NULL}, 0, "",
	    "==> n <==\n14\n\n==> k <==\nhello\n");
	/* gets: flags and cas in each header, even of one key. */
	harness_cmd(fd, "gets k\r\n", "END\r\n", reply, sizeof reply);
	ck_assert_msg(sscanf(reply, "VALUE k 7 5 %d", &ttl) == 1, "%s", reply);
	snprintf(want, sizeof want, "==> k flags=7 cas=%d <==\nhello\n", ttl);
	test_client_out("gets", srv.port,
	    (const char *const[]){"gets", "k", "nope", NULL}, 1,
	    "nope: not found", want);
	test_client_expect("delete", srv.port,
	    (const char *const[]){"delete", "k", NULL}, 0, "");
	test_client_expect("deleteagain", srv.port,
	    (const char *const[]){"delete", "k", NULL}, 1, "k: not found");
	test_client_expect("flushlater", srv.port,
	    (const char *const[]){"flush", "3600", NULL}, 0, "");
	test_client_out("stillthere", srv.port,
	    (const char *const[]){"get", "n", NULL}, 0, "", "14");
	test_client_expect(
	    "flush", srv.port, (const char *const[]){"flush", NULL}, 0, "");
	test_client_out("flushed", srv.port,
	    (const char *const[]){"get", "n", NULL}, 1, "n: not found", "");
	test_client_expect("flushbad", srv.port,
	    (const char *const[]){"flush", "later", NULL}, 2,
	    "bad delay 'later': a number");
	harness_close(fd);
	ck_assert_int_eq(harness_server_stop(&srv), 0);
}
END_TEST

/* set KEY with no value reads stdin, bytes exactly (line ends, NULs); a
 * 1.1 MB value is refused by a server at -I 1m with its SERVER_ERROR and
 * exit 1, and stored by one at -I 2m. A value that cannot be written out
 * (stdout is /dev/full) exits 1 and says so. */
START_TEST(test_set_stdin_and_write_errors)
{
	enum { BIG = 1100000 };
	static char big[BIG + 1];
	struct harness_server srv, large;
	char path[HARNESS_PATH_MAX], redir[HARNESS_PATH_MAX + 8], *out;
	FILE *f;

	harness_path(path, sizeof path, "value.in");
	ck_assert_ptr_nonnull(f = fopen(path, "wb"));
	fwrite("two\r\nlines\0\n", 1, 13, f);
	fclose(f);
	snprintf(redir, sizeof redir, "< %s", path);
	harness_server_start(&srv, "srv", 1, NULL);
	test_client_sh("stdin", srv.port, redir,
	    (const char *const[]){"set", "k", NULL}, 0, "");
	test_client_expect("getstdin", srv.port,
	    (const char *const[]){"get", "k", NULL}, 0, "");
	harness_path(path, sizeof path, "getstdin.out");
	ck_assert_ptr_nonnull(f = fopen(path, "rb"));
	ck_assert_uint_eq(fread(big, 1, sizeof big, f), 13);
	fclose(f);
	ck_assert(memcmp(big, "two\r\nlines\0\n", 13) == 0);

	test_client_sh("full", srv.port, "> /dev/full",
	    (const char *const[]){"get", "k", NULL}, 1,
	    "writing to stdout: No space left on device");
	test_client_sh("fullstats", srv.port, "> /dev/full",
	    (const char *const[]){"stats", NULL}, 1,
	    "writing to stdout: No space left on device");
	test_client_sh("fullhelp", srv.port, "> /dev/full",
	    (const char *const[]){"--help", NULL}, 1,
	    "writing to stdout: No space left on device");

	memset(big, 'v', BIG);
	harness_path(path, sizeof path, "big.in");
	harness_file_write(path, big);
	snprintf(redir, sizeof redir, "< %s", path);
	test_client_sh("big", srv.port, redir,
	    (const char *const[]){"set", "big", NULL}, 1,
	    "server says: SERVER_ERROR object too large for cache");
	ck_assert_int_eq(harness_server_stop(&srv), 0);
	harness_server_start(
	    &large, "large", 1, (const char *const[]){"-I", "2m", NULL});
	test_client_sh("big2m", large.port, redir,
	    (const char *const[]){"set", "big", NULL}, 0, "");
	test_client_expect("getbig", large.port,
	    (const char *const[]){"get", "big", NULL}, 0, "");
	out = harness_output("getbig", "out");
	ck_assert_uint_eq(strlen(out), BIG);
	ck_assert(strcmp(out, big) == 0);
	free(out);
	ck_assert_int_eq(harness_server_stop(&large), 0);
}
END_TEST

/* Every stats group goes to the server as asked: the rows without
 * "STAT ", a group's one-word answer printed, the server's error on
 * stderr with exit 1. */
START_TEST(test_stats_groups)
{
	static const struct {
		const char *args[4];
		int code;
		const char *err, *has; /* has: in stdout */
	} cases[] = {
	    {{"stats", "settings"}, 0, "", "\nitem_size_max 1048576\n"},
	    {{"stats", "latency"}, 0, "", ":p99_us "},
	    {{"stats", "slabs"}, 0, "", "active_slabs "},
	    {{"stats", "items"}, 0, "", "items:"},
	    {{"stats", "sizes"}, 0, "", ""},
	    {{"stats", "conns"}, 0, "", ":state conn_"},
	    {{"stats", "threads"}, 0, "", "worker-0:state "},
	    {{"stats", "detail", "on"}, 0, "", "OK\n"},
	    {{"stats", "detail", "dump"}, 0, "", "PREFIX k "},
	    {{"stats", "reset"}, 0, "", "RESET\n"},
	    {{"stats", "bogus"}, 1, "server says: ERROR", ""},
	    {{"stats", "a b"}, 2, "bad stats arguments", ""},
	};
	struct harness_server srv;
	char tag[32], reply[64], *out;
	int fd;

	harness_server_start(&srv, "srv", 1, NULL);
	fd = harness_connect(srv.port);
	harness_cmd(fd, "set k:1 0 0 1\r\nx\r\n", "\r\n", reply, sizeof reply);
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		snprintf(tag, sizeof tag, "stats%zu", i);
		if (i == 8) /* detail is on: count a get of prefix k */
			harness_cmd(
			    fd, "get k:1\r\n", "END\r\n", reply, sizeof reply);
		test_client_expect(
		    tag, srv.port, cases[i].args, cases[i].code, cases[i].err);
		out = harness_output(tag, "out");
		ck_assert_msg(strstr(out, cases[i].has) != NULL &&
		                  strstr(out, "STAT ") == NULL,
		    "%s %s: stdout '%s'", cases[i].args[1], cases[i].args[2],
		    out);
		free(out);
	}
	harness_close(fd);
	ck_assert_int_eq(harness_server_stop(&srv), 0);
}
END_TEST

/* "STAT name VALUE" of a stats reply on fd, as a number; -1 if absent. */
static long long
test_stat(int fd, const char *cmd, const char *name)
{
	char buf[BUFSZ], val[64];

	harness_cmd(fd, cmd, "END\r\n", buf, sizeof buf);
	return harness_stat(buf, name, val, sizeof val) ? atoll(val) : -1;
}

/* Arguments that would break the request line are refused with exit 2
 * before anything is sent: the server counts no get, set or verbosity,
 * and no watcher. */
START_TEST(test_refused_arguments)
{
	static char longkey[252], longthread[130], longfilter[1100];
	static const struct {
		const char *tag;
		const char *args[4];
		const char *err;
	} cases[] = {
	    {"getspace", {"get", "a b"},
	        "bad key: 1 to 250 bytes, no spaces "
	        "or line ends"},
	    {"getempty", {"get", ""},
	        "bad key: 1 to 250 bytes, no spaces or "
	        "line ends"},
	    {"getcrlf", {"get", "a\r\nflush_all"},
	        "bad key: 1 to 250 bytes, "
	        "no spaces or line ends"},
	    {"setlong", {"set", longkey, "v"},
	        "bad key: 1 to 250 bytes, no "
	        "spaces or line ends"},
	    {"verbspace", {"verbosity", "in fo"}, "bad verbosity arguments"},
	    {"verbthread", {"verbosity", "info", "a\nb"},
	        "bad verbosity arguments"},
	    {"verblong", {"verbosity", "info", longthread},
	        "bad verbosity arguments"},
	    {"watchlong", {"watch", longfilter}, "watch filters too long"},
	};
	struct harness_server srv;
	int fd;

	memset(longkey, 'k', sizeof longkey - 1);
	memset(longthread, 't', sizeof longthread - 1);
	memset(longfilter, 'f', sizeof longfilter - 1);
	/* -v: at info, a watch that started would say so. */
	harness_server_start(&srv, "srv", 1, (const char *const[]){"-v", NULL});
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
		test_client_expect(
		    cases[i].tag, srv.port, cases[i].args, 2, cases[i].err);
	fd = harness_connect(srv.port);
	ck_assert_int_eq(test_stat(fd, "stats\r\n", "cmd_get"), 0);
	ck_assert_int_eq(test_stat(fd, "stats\r\n", "cmd_set"), 0);
	ck_assert_int_eq(test_stat(fd, "stats\r\n", "curr_items"), 0);
	harness_close(fd);
	ck_assert_int_eq(harness_server_stop(&srv), 0);
	ck_assert_uint_eq(harness_count_in(srv.log, "log level set"), 0);
	ck_assert_uint_eq(harness_count_in(srv.log, "log level of"), 0);
	ck_assert_uint_eq(harness_count_in(srv.log, "now watching the log"), 0);
}
END_TEST

/* get of a value four times the client's 64 KiB buffer, holding line
 * ends of its own: stdout is exactly the value's bytes. */
START_TEST(test_get_large_value)
{
	enum { LEN = 256 * 1024 + 7 };
	const char *args[] = {"get", "big", NULL};
	struct harness_server srv;
	char hdr[64], buf[64], path[HARNESS_PATH_MAX], *value, *out;
	FILE *f;
	size_t n;
	int fd;

	value = malloc(LEN);
	ck_assert_ptr_nonnull(value);
	for (size_t i = 0; i < LEN; i++)
		value[i] = i % 1000 == 998   ? '\r'
		           : i % 1000 == 999 ? '\n'
		                             : (char)('a' + i % 26);
	harness_server_start(&srv, "srv", 1, NULL);
	fd = harness_connect(srv.port);
	snprintf(hdr, sizeof hdr, "set big 0 0 %d\r\n", LEN);
	harness_sends(fd, hdr);
	harness_send(fd, value, LEN);
	harness_cmd(fd, "\r\n", "\r\n", buf, sizeof buf);
	ck_assert_str_eq(buf, "STORED\r\n");
	harness_close(fd);
	test_client_expect("get", srv.port, args, 0, "");
	harness_path(path, sizeof path, "get.out");
	out = malloc(LEN + 16);
	ck_assert_ptr_nonnull(out);
	ck_assert_ptr_nonnull(f = fopen(path, "rb"));
	n = fread(out, 1, LEN + 16, f);
	fclose(f);
	ck_assert_uint_eq(n, LEN);
	ck_assert_msg(memcmp(out, value, LEN) == 0, "value differs");
	free(out);
	free(value);
	ck_assert_int_eq(harness_server_stop(&srv), 0);
}
END_TEST

/* Whether every whole line of text has a level of notice or above in its
 * third field; at least one line. */
static bool
test_notice_or_above(const char *text)
{
	static const char *const levels[] = {
	    " fatal ", " error ", " warn ", " notice "};
	const char *p = text, *nl;
	int lines = 0;

	while ((nl = strchr(p, '\n')) != NULL) {
		char line[1024], *sp;
		bool ok = false;

		snprintf(line, sizeof line, "%.*s", (int)(nl - p), p);
		p = nl + 1;
		lines++;
		/* "TIME THREAD LEVEL ...": the level starts after the
		 * second space. */
		if ((sp = strchr(line, ' ')) == NULL ||
		    (sp = strchr(sp + 1, ' ')) == NULL)
			return false;
		for (size_t i = 0; i < sizeof levels / sizeof levels[0]; i++)
			ok |= strncmp(sp, levels[i], strlen(levels[i])) == 0;
		if (!ok)
			return false;
	}
	return lines > 0;
}

/* watch level=notice category=general prints only such lines, as they
 * come, until the server shuts down: then it exits 3 saying the
 * connection closed. */
START_TEST(test_watch_until_shutdown)
{
	const char *args[] = {
	    "watch", "level=notice", "category=general", NULL};
	struct harness_server srv;
	char path[HARNESS_PATH_MAX], buf[256], *out;
	pid_t watch;
	int fd, code;

	/* -v: the info lines it waits for. */
	harness_server_start(&srv, "srv", 1, (const char *const[]){"-v", NULL});
	watch = test_client_start("watch", srv.port, args);
	ck_assert(harness_file_wait(
	    srv.log, "now watching the log", HARNESS_DEADLINE_MS));
	/* An info line it must not print, then a notice it must. */
	fd = harness_connect(srv.port);
	harness_cmd(fd, "verbosity debug\r\n", "\r\n", buf, sizeof buf);
	ck_assert_str_eq(buf, "OK\r\n");
	harness_close(fd);
	harness_path(path, sizeof path, "watch.out");
	ck_assert_msg(harness_file_wait(
	                  path, " log level set to debug", HARNESS_DEADLINE_MS),
	    "watch did not print the notice");
	ck_assert_int_eq(harness_server_stop(&srv), 0);
	code = harness_wait_exit(watch, "threadline", "watch");
	out = harness_output("watch", "err");
	ck_assert_msg(code == 3, "watch exited %d: %s", code, out);
	ck_assert_str_eq(out, "threadline: connection to 127.0.0.1 closed\n");
	free(out);
	out = harness_output("watch", "out");
	ck_assert_msg(
	    test_notice_or_above(out), "watch printed below notice: %s", out);
	free(out);
}
END_TEST

/* Filters the server does not take: exit 1 with the server's reason. */
START_TEST(test_watch_bad_filters)
{
	static const struct {
		const char *filter;
		const char *shown; /* as the server quotes it */
	} cases[] = {
	    {"level=loud", "level=loud"},
	    {"category=other", "category=other"},
	    {"thread=nosuch", "thread=nosuch"},
	    {"level", "level"},
	    {"level=", "level="},
	    {"colour=red", "colour=red"},
	};
	struct harness_server srv;
	char tag[32], want[256];

	/* -v: at info, a watch that started would say so. */
	harness_server_start(&srv, "srv", 1, (const char *const[]){"-v", NULL});
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		const char *args[] = {
		    "watch", "level=info", cases[i].filter, NULL};

		snprintf(tag, sizeof tag, "filter%zu", i);
		snprintf(want, sizeof want,
		    "server says: CLIENT_ERROR bad watch filter '%s': "
		    "expected level=LEVEL, thread=NAME|ROLE or "
		    "category=general|access|slow",
		    cases[i].shown);
		test_client_expect(tag, srv.port, args, 1, want);
	}
	ck_assert_int_eq(harness_server_stop(&srv), 0);
	ck_assert_uint_eq(harness_count_in(srv.log, "now watching the log"), 0);
}
END_TEST

/* Run threadline args on a new terminal; returns its pid and the
 * terminal's master side in *master. */
static pid_t
test_client_on_tty(int port, const char *const args[], int *master)
{
	const char *argv[16] = {harness_client_bin(), "-p"};
	char p[16];
	int n = 2;
	pid_t pid;

	snprintf(p, sizeof p, "%d", port);
	argv[n++] = p;
	for (int i = 0; args[i] != NULL && n < 15; i++)
		argv[n++] = args[i];
	argv[n] = NULL;
	fflush(NULL);
	pid = forkpty(master, NULL, NULL, NULL);
	ck_assert_msg(pid != -1, "forkpty: %s", strerror(errno));
	if (pid == 0) {
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	return pid;
}

/* Read the terminal until it shows needle, or it closes (false), or the
 * deadline (false). */
static bool
test_tty_wait(
    int master, char *buf, size_t cap, size_t *len, const char *needle)
{
	long long deadline = harness_now_ms() + HARNESS_DEADLINE_MS;

	for (;;) {
		struct pollfd pfd = {.fd = master, .events = POLLIN};
		long long left = deadline - harness_now_ms();
		ssize_t n;

		if (strstr(buf, needle) != NULL)
			return true;
		if (left <= 0 || *len + 1 >= cap)
			return false;
		if (poll(&pfd, 1, (int)left) <= 0)
			continue;
		n = read(master, buf + *len, cap - 1 - *len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			return false; /* EIO: the client is gone */
		*len += (size_t)n;
		buf[*len] = '\0';
	}
}

/* On a terminal, watch colours the level of a notice line from the
 * server (bold) and get ends the value with a newline. */
START_TEST(test_tty)
{
	static char buf[BUFSZ];
	const char *watch[] = {"watch", NULL}, *get[] = {"get", "k", NULL};
	struct harness_server srv;
	char reply[256];
	size_t len = 0;
	int master, fd;
	pid_t pid;

	/* -v: the info lines it waits for. */
	harness_server_start(&srv, "srv", 1, (const char *const[]){"-v", NULL});
	pid = test_client_on_tty(srv.port, watch, &master);
	ck_assert(harness_file_wait(
	    srv.log, "now watching the log", HARNESS_DEADLINE_MS));
	fd = harness_connect(srv.port);
	harness_cmd(fd, "verbosity info\r\nset k 0 0 2\r\nhi\r\n", "STORED\r\n",
	    reply, sizeof reply);
	ck_assert_str_eq(reply, "OK\r\nSTORED\r\n");
	harness_close(fd);
	buf[0] = '\0';
	ck_assert_msg(test_tty_wait(master, buf, sizeof buf, &len,
	                  " \033[1mnotice\033[0m conn="),
	    "no bold notice on the terminal: %s", buf);
	kill(pid, SIGKILL);
	ck_assert_int_eq(harness_wait(pid, HARNESS_DEADLINE_MS), 128 + SIGKILL);
	close(master);

	pid = test_client_on_tty(srv.port, get, &master);
	len = 0;
	buf[0] = '\0';
	test_tty_wait(master, buf, sizeof buf, &len, "\n");
	ck_assert_int_eq(harness_wait(pid, HARNESS_DEADLINE_MS), 0);
	close(master);
	/* The terminal turns "\n" into "\r\n". */
	ck_assert_str_eq(buf, "hi\r\n");
	ck_assert_int_eq(harness_server_stop(&srv), 0);
}
END_TEST

/* A scripted server: listens on 127.0.0.1, port in *port. */
static int
test_fake_listen(int *port)
{
	struct sockaddr_in sin = {
	    .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	ck_assert_int_ne(fd, -1);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sin, sizeof sin), 0);
	ck_assert_int_eq(listen(fd, 4), 0);
	*port = harness_local_port(fd);
	return fd;
}

/* Accept one client within the deadline. */
static int
test_fake_accept(int lfd)
{
	struct pollfd pfd = {.fd = lfd, .events = POLLIN};
	int fd;

	ck_assert_msg(poll(&pfd, 1, HARNESS_DEADLINE_MS) == 1,
	    "the client did not connect");
	fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	ck_assert_msg(fd != -1, "accept: %s", strerror(errno));
	return fd;
}

/* Write what we can of buf; the client may be gone before the end. */
static void
test_fake_write(int fd, const char *buf, size_t len)
{
	long long deadline = harness_now_ms() + HARNESS_DEADLINE_MS;

	while (len > 0 && harness_now_ms() < deadline) {
		struct pollfd pfd = {.fd = fd, .events = POLLOUT};
		ssize_t n;

		if (poll(&pfd, 1, 100) <= 0)
			continue;
		n = send(fd, buf, len, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n == -1 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n <= 0)
			return;
		buf += n;
		len -= (size_t)n;
	}
}

/* Against a scripted server: each request is read whole and checked,
 * then the reply written (and the connection closed, if the case says
 * so, before the client is done); the client's exit code, stderr and
 * stdout are what a person at the terminal would need. */
START_TEST(test_misbehaving_server)
{
	static char too_long[70000];
	static const struct {
		const char *tag;
		const char *args[4];
		const char *request;
		const char *reply; /* NULL: too_long */
		bool close;        /* close before the client is done */
		int code;
		const char *err; /* after "threadline: "; "" none */
		const char *out;
	} cases[] = {
	    {"noreply", {"ping"}, "version\r\n", "", true, 3,
	        "connection to 127.0.0.1 closed", ""},
	    {"error", {"ping"}, "version\r\n", "SERVER_ERROR busy\r\n", false,
	        1, "server says: SERVER_ERROR busy", ""},
	    {"bogus", {"get", "k"}, "get k\r\n", "BOGUS\r\n", false, 1,
	        "unexpected reply: BOGUS", ""},
	    {"bare_lf", {"get", "k"}, "get k\r\n", "END\n", false, 1,
	        "k: not found", ""},
	    {"cut", {"get", "k"}, "get k\r\n", "VALUE k 0 10\r\nabc", true, 3,
	        "connection to 127.0.0.1 closed", NULL},
	    {"trailer", {"get", "k"}, "get k\r\n",
	        "VALUE k 0 3\r\nabc\r\nJUNK\r\n", false, 1,
	        "unexpected reply: JUNK", "abc"},
	    {"deleteodd", {"delete", "k"}, "delete k\r\n", "EXISTS\r\n", false,
	        1, "unexpected reply: EXISTS", ""},
	    {"incrodd", {"incr", "k"}, "incr k 1\r\n", "12x\r\n", false, 1,
	        "unexpected reply: 12x", ""},
	    {"notstored", {"set", "k", "v"}, "set k 0 0 1\r\nv\r\n",
	        "NOT_STORED\r\n", false, 1, "not stored: NOT_STORED", ""},
	    {"watchbusy", {"watch"}, "watch level=debug\r\n", "BUSY\r\n", false,
	        1, "unexpected reply to watch: BUSY", ""},
	    {"verbother", {"verbosity", "info"}, "verbosity info\r\n",
	        "WHAT\r\n", false, 1, "", ""},
	    {"toolong", {"stats"}, "stats\r\n", NULL, false, 3,
	        "line from the server too long", ""},
	    {"stats", {"stats"}, "stats\r\n",
	        "STAT pid 1\r\nnot a stat\r\nEND\r\n", false, 0, "",
	        "pid 1\nnot a stat\n"},
	    {"threads", {"threads"}, "stats threads\r\n",
	        "STAT thread worker-0\r\n"
	        "STAT nocolon\r\n"
	        "STAT w:nospace\r\n"
	        "STAT averyverylongthreadname:role worker\r\n"
	        "STAT w:role worker\r\n"
	        "STAT w:tid 7\r\n"
	        "STAT w:state D\r\n"
	        "STAT w:cpu_user 1.5\r\n"
	        "STAT w:cpu_system 0.25\r\n"
	        "STAT w:curr_connections 3\r\n"
	        "STAT w:cmds 9\r\n"
	        "STAT w:log_dropped 2\r\n"
	        "STAT w:other 1\r\n"
	        "END\r\n",
	        false, 0, "",
	        "THREAD          ROLE    S      TID    CPU(s)  CONNS         "
	        "CMDS  DROPPED\n"
	        "w               worker  D        7      1.75      3           "
	        " "
	        "9        2\n"
	        "(answered by worker-0)\n"},
	};
	char req[256], tag[64], want[256], *text;
	int lfd, fd, port;
	size_t want_len, got;
	pid_t pid;
	bool eof;

	memset(too_long, 'x', sizeof too_long);
	lfd = test_fake_listen(&port);
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		snprintf(tag, sizeof tag, "%s", cases[i].tag);
		pid = test_client_start(tag, port, cases[i].args);
		fd = test_fake_accept(lfd);
		want_len = strlen(cases[i].request);
		got = harness_recv(fd, req, sizeof req, NULL, want_len,
		    HARNESS_DEADLINE_MS, &eof);
		ck_assert_msg(
		    got == want_len && memcmp(req, cases[i].request, got) == 0,
		    "%s: the client sent '%s'", tag, req);
		if (cases[i].reply != NULL)
			test_fake_write(
			    fd, cases[i].reply, strlen(cases[i].reply));
		else
			test_fake_write(fd, too_long, sizeof too_long);
		if (cases[i].close)
			close(fd);
		ck_assert_int_eq(
		    harness_wait_exit(pid, "threadline", tag), cases[i].code);
		if (!cases[i].close)
			close(fd);
		text = harness_output(tag, "err");
		if (cases[i].err[0] != '\0')
			snprintf(want, sizeof want, "threadline: %s\n",
			    cases[i].err);
		else
			want[0] = '\0';
		ck_assert_msg(strcmp(text, want) == 0,
		    "%s: stderr '%s', want '%s'", tag, text, want);
		free(text);
		text = harness_output(tag, "out");
		ck_assert_msg(
		    cases[i].out == NULL || strcmp(text, cases[i].out) == 0,
		    "%s: stdout '%s', want '%s'", tag, text, cases[i].out);
		free(text);
	}
	close(lfd);
}
END_TEST

/* On a terminal, each level has its colour, in text lines (the third
 * field) and JSON lines (the "level" member); other levels, lines of
 * another shape and lines off a terminal stay as they came. Against a
 * scripted server, so the lines are known to the byte. */
START_TEST(test_tty_colours)
{
	static const char stream[] =
	    "OK\r\n"
	    "T worker-0 notice hello\n"
	    "T worker-0 info plain\n"
	    "T accept error bad\n"
	    "T maint warn careful\n"
	    "T logger fatal gone\n"
	    "T worker-1 debug noisy\n"
	    "{\"ts\":\"T\",\"level\":\"warn\",\"msg\":\"x\"}\n"
	    "{\"ts\":\"T\",\"level\":\"info\",\"msg\":\"y\"}\n"
	    "oneword\n"
	    "two words\n";
	static const char want[] =
	    "T worker-0 \033[1mnotice\033[0m hello\r\n"
	    "T worker-0 info plain\r\n"
	    "T accept \033[31merror\033[0m bad\r\n"
	    "T maint \033[33mwarn\033[0m careful\r\n"
	    "T logger \033[1;31mfatal\033[0m gone\r\n"
	    "T worker-1 \033[2mdebug\033[0m noisy\r\n"
	    "{\"ts\":\"T\",\"level\":\"\033[33mwarn\033[0m\",\"msg\":\"x\"}\r\n"
	    "{\"ts\":\"T\",\"level\":\"info\",\"msg\":\"y\"}\r\n"
	    "oneword\r\n"
	    "two words\r\n"
	    "threadline: connection to 127.0.0.1 closed\r\n";
	const char *watch[] = {"watch", NULL};
	static char buf[BUFSZ];
	char req[64], *out;
	int lfd, fd, port, master;
	size_t len = 0;
	pid_t pid;
	bool eof;

	lfd = test_fake_listen(&port);
	/* On a terminal. */
	pid = test_client_on_tty(port, watch, &master);
	fd = test_fake_accept(lfd);
	harness_recv(fd, req, sizeof req, "\r\n", 0, HARNESS_DEADLINE_MS, &eof);
	ck_assert_str_eq(req, "watch level=debug\r\n");
	test_fake_write(fd, stream, sizeof stream - 1);
	buf[0] = '\0';
	ck_assert_msg(test_tty_wait(master, buf, sizeof buf, &len, "two words"),
	    "the terminal shows: %s", buf);
	close(fd);
	ck_assert_msg(
	    test_tty_wait(master, buf, sizeof buf, &len, "closed\r\n"),
	    "the terminal shows: %s", buf);
	ck_assert_int_eq(harness_wait(pid, HARNESS_DEADLINE_MS), 3);
	close(master);
	ck_assert_str_eq(buf, want);
	/* Off a terminal: no colour at all. */
	pid = test_client_start("plain", port, watch);
	fd = test_fake_accept(lfd);
	harness_recv(fd, req, sizeof req, "\r\n", 0, HARNESS_DEADLINE_MS, &eof);
	ck_assert_str_eq(req, "watch level=debug\r\n");
	test_fake_write(fd, stream, sizeof stream - 1);
	close(fd);
	ck_assert_int_eq(harness_wait_exit(pid, "threadline", "plain"), 3);
	out = harness_output("plain", "out");
	/* The lines as they came, after the watch's OK. */
	ck_assert_str_eq(out, stream + strlen("OK\r\n"));
	free(out);
	close(lfd);
}
END_TEST

/* Control bytes in streamed lines come out escaped, on a terminal and
 * off it, so a key holding ESC cannot drive the terminal: \xHH, \t and \r.
 * Against a scripted server, so the bytes are known. */
START_TEST(test_watch_escapes)
{
	static const char stream[] =
	    "OK\r\n"
	    "T worker-0 info key=\033[2J\033]0;owned\007 tab\there\rcr\x7f\n";
	static const char want[] =
	    "T worker-0 info key=\\x1b[2J\\x1b]0;owned\\x07 tab\\there\\rcr"
	    "\\x7f\n";
	const char *watch[] = {"watch", NULL};
	static char buf[BUFSZ];
	char req[64], *out;
	int lfd, fd, port, master;
	size_t len = 0;
	pid_t pid;
	bool eof;

	lfd = test_fake_listen(&port);
	pid = test_client_start("plain", port, watch);
	fd = test_fake_accept(lfd);
	harness_recv(fd, req, sizeof req, "\r\n", 0, HARNESS_DEADLINE_MS, &eof);
	test_fake_write(fd, stream, sizeof stream - 1);
	close(fd);
	ck_assert_int_eq(harness_wait_exit(pid, "threadline", "plain"), 3);
	out = harness_output("plain", "out");
	ck_assert_str_eq(out, want);
	free(out);
	pid = test_client_on_tty(port, watch, &master);
	fd = test_fake_accept(lfd);
	harness_recv(fd, req, sizeof req, "\r\n", 0, HARNESS_DEADLINE_MS, &eof);
	test_fake_write(fd, stream, sizeof stream - 1);
	buf[0] = '\0';
	ck_assert_msg(test_tty_wait(master, buf, sizeof buf, &len, "x7f\r\n"),
	    "the terminal shows: %s", buf);
	close(fd);
	ck_assert_msg(
	    strstr(buf, "\033") == NULL && strstr(buf, "\007") == NULL,
	    "control bytes reached the terminal: %s", buf);
	kill(pid, SIGKILL);
	harness_wait(pid, HARNESS_DEADLINE_MS);
	close(master);
	close(lfd);
}
END_TEST

/* Run every test; exit status 1 if any failed. */
int
main(void)
{
	const TTest *tests[] = {test_usage, test_no_server, test_env_and_socket,
	    test_item_commands, test_set_stdin_and_write_errors,
	    test_stats_groups, test_refused_arguments, test_get_large_value,
	    test_watch_until_shutdown, test_watch_bad_filters, test_tty,
	    test_misbehaving_server, test_tty_colours, test_watch_escapes,
	    NULL};

	return harness_run_suite(
	    &(struct harness_suite){.name = "client", .timeout = 60}, tests);
}
