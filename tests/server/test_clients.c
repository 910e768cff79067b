/* Conformance with real memcached clients, against the real threadlined:
 * memccapable's ASCII and binary suites, a pymemcache round-trip script,
 * memcaslap with data verification (all from Debian packages that tools/dev
 * installs), and a concurrency test of our own: many clients on all workers
 * doing set/get/incr on overlapping keys. */
#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness.h"

#define WORKERS 4

/* The tools take seconds; allow a slow, loaded machine ten times that. */
#define TOOL_DEADLINE_MS 120000

static struct harness_server srv;

static void
setup(void)
{
	/* -m 256: memcaslap's objects fit, so no verify miss is an eviction. */
	const char *args[] = {"-m", "256", NULL};

	harness_test_setup();
	harness_server_start(&srv, "srv", WORKERS, args);
}

/* Run a tool (a name looked up on PATH, or a path) to completion as tag;
 * its exit code, its stdout in *out, and stdout and stderr together in
 * *all for failure messages. */
static int
tool_run(const char *prog, const char *tag, const char *const args[],
    char **out, char **all)
{
	char bin[HARNESS_PATH_MAX], path[HARNESS_PATH_MAX], *err;
	int code;

	if (strchr(prog, '/') != NULL)
		snprintf(bin, sizeof bin, "%s", prog);
	else
		ck_assert_msg(harness_which(prog, bin, sizeof bin),
		    "%s is not installed (tools/dev deps installs it)", prog);
	ck_assert_msg(access(bin, X_OK) == 0,
	    "%s is not installed (tools/dev deps installs it)", bin);
	code =
	    harness_wait(harness_spawn_prog(bin, tag, args), TOOL_DEADLINE_MS);
	ck_assert_msg(code != -1, "%s did not finish", tag);
	snprintf(path, sizeof path, "%s/%s.out", harness_dir(), tag);
	ck_assert_ptr_nonnull(*out = harness_file_read(path));
	snprintf(path, sizeof path, "%s/%s.err", harness_dir(), tag);
	err = harness_file_read(path);
	ck_assert(asprintf(all, "%s%s", *out, err ? err : "") != -1);
	free(err);
	return code;
}

START_TEST(test_memccapable)
{
	char port[16], *out, *all;
	const char *args[] = {"-a", "-h", "127.0.0.1", "-p", port, NULL};
	int code;

	snprintf(port, sizeof port, "%d", srv.port);
	code = tool_run("memccapable", "memccapable", args, &out, &all);
	ck_assert_msg(code == 0 && strstr(out, "All tests passed") != NULL &&
	                  strstr(out, "[FAIL]") == NULL,
	    "memccapable exit %d:\n%s", code, all);
	free(out);
	free(all);
}
END_TEST

/* How many times needle is in s. */
static size_t
count_of(const char *s, const char *needle)
{
	size_t n = 0;

	for (; (s = strstr(s, needle)) != NULL; s += strlen(needle))
		n++;
	return n;
}

/* memccapable -b: its 27 binary-protocol tests. */
START_TEST(test_memccapable_binary)
{
	char port[16], *out, *all;
	const char *args[] = {"-b", "-h", "127.0.0.1", "-p", port, NULL};
	int code;

	snprintf(port, sizeof port, "%d", srv.port);
	code = tool_run("memccapable", "memccapable", args, &out, &all);
	ck_assert_msg(code == 0 && strstr(out, "All tests passed") != NULL &&
	                  strstr(out, "[FAIL]") == NULL &&
	                  count_of(out, "[pass]") == 27,
	    "memccapable -b exit %d:\n%s", code, all);
	free(out);
	free(all);
}
END_TEST

START_TEST(test_pymemcache)
{
	char port[16], script[HARNESS_PATH_MAX], *out, *all;
	const char *dir = getenv("TL_CLIENTS_DIR");
	const char *args[] = {script, port, "1048576", NULL};
	int code;

	ck_assert_msg(dir != NULL, "TL_CLIENTS_DIR is not set");
	snprintf(script, sizeof script, "%s/pymemcache_roundtrip.py", dir);
	snprintf(port, sizeof port, "%d", srv.port);
	/* Debian's python3-pymemcache is for /usr/bin/python3, whatever
	 * python3 comes first on PATH. */
	code = tool_run("/usr/bin/python3", "pymemcache", args, &out, &all);
	ck_assert_msg(code == 0 && strstr(out, "all round-trips passed"),
	    "pymemcache exit %d:\n%s", code, all);
	free(out);
	free(all);
}
END_TEST

/* The number after "name: " in memcaslap's report, or -1. */
static long long
report_value(const char *out, const char *name)
{
	char want[64];
	const char *p;

	snprintf(want, sizeof want, "\n%s: ", name);
	if ((p = strstr(out, want)) == NULL)
		return -1;
	return strtoll(p + strlen(want), NULL, 10);
}

START_TEST(test_memcaslap_verify)
{
	char server[64], *out, *all;
	const char *args[] = {"-s", server, "-T", "2", "-c", "16", "-x",
	    "100000", "--verify=0.1", NULL};
	int code;

	snprintf(server, sizeof server, "127.0.0.1:%d", srv.port);
	code = tool_run("memcaslap", "memcaslap", args, &out, &all);
	ck_assert_msg(code == 0, "memcaslap exit %d:\n%s", code, all);
	ck_assert_msg(report_value(out, "cmd_get") > 0 &&
	                  report_value(out, "cmd_set") > 0,
	    "memcaslap ran nothing:\n%s", out);
	ck_assert_msg(report_value(out, "verify_failed") == 0 &&
	                  report_value(out, "verify_misses") == 0,
	    "memcaslap found bad data:\n%s", out);
	free(out);
	free(all);
}
END_TEST

/*
 * Concurrency: CLIENTS threads, each on its own connection (so on every
 * worker), set and get KEYS shared keys and incr two counters. A value is
 * self-describing ("writer round length" then a pattern derived from
 * them), so a reader can tell a value some writer wrote from a torn or
 * mixed one. The counters must end at exactly the sum of the increments.
 */
#define CLIENTS 16
#define ROUNDS  500
#define KEYS    32

struct client {
	pthread_t thread;
	int id, fd;
	char in[8192];
	size_t len;
	char error[512];
	_Atomic bool done;
};

static void
client_fail(struct client *c, const char *fmt, const char *detail)
{
	if (c->error[0] == '\0')
		snprintf(c->error, sizeof c->error, fmt, detail);
}

static bool
send_all(struct client *c, const char *buf, size_t len)
{
	int error = harness_write_all(c->fd, buf, len);

	if (error != 0)
		client_fail(c, "send: %s", strerror(error));
	return error == 0;
}

/* Make at least want bytes available; the socket has a receive timeout. */
static bool
fill(struct client *c, size_t want)
{
	while (c->len < want) {
		ssize_t n;

		if (want > sizeof c->in) {
			client_fail(c, "%s", "reply larger than the buffer");
			return false;
		}
		n = recv(c->fd, c->in + c->len, sizeof c->in - c->len, 0);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0) {
			client_fail(
			    c, "recv: %s", n == 0 ? "closed" : strerror(errno));
			return false;
		}
		c->len += (size_t)n;
	}
	return true;
}

/* The next reply line, without CRLF, into line; consumed from the input. */
static bool
read_line(struct client *c, char *line, size_t cap)
{
	char *nl;

	while ((nl = memchr(c->in, '\n', c->len)) == NULL)
		if (!fill(c, c->len + 1))
			return false;
	if ((size_t)(nl - c->in) >= cap || nl == c->in || nl[-1] != '\r') {
		client_fail(c, "%s", "bad reply line");
		return false;
	}
	memcpy(line, c->in, (size_t)(nl - c->in - 1));
	line[nl - c->in - 1] = '\0';
	c->len -= (size_t)(nl + 1 - c->in);
	memmove(c->in, nl + 1, c->len);
	return true;
}

/* The value writer w stores in round r: a header and a pattern. */
static size_t
make_value(char *buf, int w, int r)
{
	size_t len = (size_t)snprintf(buf, 64, "%d %d ", w, r);
	size_t total = 16 + (size_t)((w * 131 + r * 17) % 2000);

	for (size_t i = len; i < total; i++)
		buf[i] = (char)('a' + (w + r + (int)i) % 26);
	return total;
}

static bool
value_valid(const char *v, size_t len)
{
	char want[4096];
	int w, r;

	if (sscanf(v, "%d %d ", &w, &r) != 2 || w < 0 || w >= CLIENTS ||
	    r < 0 || r >= ROUNDS)
		return false;
	return make_value(want, w, r) == len && memcmp(want, v, len) == 0;
}

static bool
expect_line(struct client *c, const char *want)
{
	char line[128];

	if (!read_line(c, line, sizeof line))
		return false;
	if (strcmp(line, want) != 0) {
		client_fail(c, "unexpected reply: %s", line);
		return false;
	}
	return true;
}

/* get key: a miss, or a value some writer wrote whole. */
static bool
get_check(struct client *c, int k)
{
	char req[64], line[128], key[16];
	unsigned flags;
	size_t n;

	snprintf(req, sizeof req, "get k%d\r\n", k);
	if (!send_all(c, req, strlen(req)) || !read_line(c, line, sizeof line))
		return false;
	if (strcmp(line, "END") == 0)
		return true;
	if (sscanf(line, "VALUE %15s %u %zu", key, &flags, &n) != 3) {
		client_fail(c, "bad VALUE line: %s", line);
		return false;
	}
	if (!fill(c, n + 2))
		return false;
	if (!value_valid(c->in, n) || memcmp(c->in + n, "\r\n", 2) != 0) {
		client_fail(c, "%s", "a value no writer wrote");
		return false;
	}
	c->len -= n + 2;
	memmove(c->in, c->in + n + 2, c->len);
	return expect_line(c, "END");
}

static void *
client_main(void *arg)
{
	struct client *c = arg;
	char req[4096 + 64], line[64];

	for (int r = 0; r < ROUNDS && c->error[0] == '\0'; r++) {
		int k = (r * 7 + c->id) % KEYS;
		int head = snprintf(req, 64, "set k%d %d 0 ", k, c->id);
		char value[4096];
		size_t vlen = make_value(value, c->id, r);

		head += snprintf(req + head, 64, "%zu\r\n", vlen);
		memcpy(req + head, value, vlen);
		memcpy(req + head + vlen, "\r\n", 2);
		if (!send_all(c, req, (size_t)head + vlen + 2) ||
		    !expect_line(c, "STORED"))
			break;
		if (!get_check(c, (k + 1 + r) % KEYS))
			break;
		snprintf(req, sizeof req, "incr ctr 1\r\nincr ctr2 %d\r\n",
		    c->id + 1);
		if (!send_all(c, req, strlen(req)) ||
		    !read_line(c, line, sizeof line) ||
		    !read_line(c, line, sizeof line))
			break;
	}
	atomic_store(&c->done, true);
	return NULL;
}

static void
clients_start(struct client *clients)
{
	struct timeval tv = {.tv_sec = 60};

	for (int i = 0; i < CLIENTS; i++) {
		clients[i].id = i;
		clients[i].fd = harness_connect(srv.port);
		setsockopt(
		    clients[i].fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
		ck_assert_int_eq(pthread_create(&clients[i].thread, NULL,
		                     client_main, &clients[i]),
		    0);
	}
}

static void
clients_join(struct client *clients)
{
	for (int i = 0; i < CLIENTS; i++) {
		pthread_join(clients[i].thread, NULL);
		ck_assert_msg(clients[i].error[0] == '\0', "client %d: %s", i,
		    clients[i].error);
	}
}

START_TEST(test_concurrency)
{
	static struct client clients[CLIENTS];
	static char stats[16384];
	char buf[256];
	long long want2 = 0;

	harness_cmd(harness_connect(srv.port),
	    "set ctr 0 0 1\r\n0\r\nset ctr2 0 0 1\r\n0\r\n",
	    "STORED\r\nSTORED\r\n", buf, sizeof buf);
	for (int i = 0; i < CLIENTS; i++)
		want2 += (long long)(i + 1) * ROUNDS;
	clients_start(clients);
	clients_join(clients);
	harness_cmd(clients[0].fd, "incr ctr 0\r\n", "\r\n", buf, sizeof buf);
	ck_assert_int_eq(atoll(buf), (long long)CLIENTS * ROUNDS);
	harness_cmd(clients[0].fd, "incr ctr2 0\r\n", "\r\n", buf, sizeof buf);
	ck_assert_int_eq(atoll(buf), want2);
	/* Accept deals connections round-robin: every worker took part, each
	 * serving at least one client's commands. */
	harness_cmd(
	    clients[0].fd, "stats threads\r\n", "END\r\n", stats, sizeof stats);
	for (int w = 0; w < WORKERS; w++) {
		char name[64];
		const char *p;

		snprintf(name, sizeof name, "STAT worker-%d:cmds ", w);
		ck_assert_msg((p = strstr(stats, name)) != NULL, "no %s", name);
		ck_assert_int_ge(atoll(p + strlen(name)), 4 * ROUNDS);
	}
}
END_TEST

/* Reads a watch stream until the server closes it. */
static void *
watcher_main(void *arg)
{
	char buf[4096];
	int fd = *(int *)arg;

	while (recv(fd, buf, sizeof buf, 0) > 0)
		;
	return NULL;
}

/* The same clients while the log is reopened (SIGHUP), the cache
 * flushed and a watcher streams every line: every client still gets well
 * formed answers and values some writer wrote, and the server stops
 * cleanly (under ThreadSanitizer, any report fails that). */
START_TEST(test_storm)
{
	static struct client clients[CLIENTS];
	char buf[256];
	pthread_t watcher;
	int wfd = harness_connect(srv.port), ctl = harness_connect(srv.port);
	int storms = 0;

	harness_cmd(ctl, "verbosity debug\r\n", "OK\r\n", buf, sizeof buf);
	harness_cmd(wfd, "watch level=debug\r\n", "OK\r\n", buf, sizeof buf);
	ck_assert_int_eq(pthread_create(&watcher, NULL, watcher_main, &wfd), 0);
	clients_start(clients);
	/* Until the clients are done, and at least a few rounds. */
	for (;;) {
		bool running = false;

		for (int i = 0; i < CLIENTS; i++)
			running |= !atomic_load(&clients[i].done);
		if (!running && storms >= 20)
			break;
		ck_assert_int_eq(kill(srv.pid, SIGHUP), 0);
		harness_cmd(ctl, "flush_all\r\n", "OK\r\n", buf, sizeof buf);
		storms++;
		harness_nap();
	}
	clients_join(clients);
	harness_cmd(ctl, "version\r\n", "\r\n", buf, sizeof buf);
	ck_assert_msg(
	    strncmp(buf, "VERSION ", 8) == 0, "after the storm: %s", buf);
	shutdown(wfd, SHUT_RDWR);
	pthread_join(watcher, NULL);
}
END_TEST

int
main(void)
{
	const TTest *tests[] = {test_memccapable, test_memccapable_binary,
	    test_pymemcache, test_memcaslap_verify, test_concurrency,
	    test_storm, NULL};

	return harness_run_suite(&(struct harness_suite){.name = "clients",
	                             .setup = setup,
	                             .server = &srv,
	                             .timeout = 300},
	    tests);
}
