/* The bad-input catalogue: what a hostile or broken client may send, each
 * with the exact reply it gets, and after each a second client on another
 * connection that must still be served correctly. Replies that memcached
 * also gives are in tests/server/test_replies.c, checked against memcached too
 * (an item past -I with its data block swallowed is there); these are the
 * cases about limits, timeouts and resources. */
#include <check.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

static struct harness_server srv;
static int tried;

/* After each case, a second client still gets right answers. */
static void
still_serving(void)
{
	harness_serves(srv.port, tried++);
}

static void
setup(void)
{
	harness_test_setup();
	harness_server_start(&srv, "srv", 2, NULL);
}

/* Replace the default server by one started with args. */
static void
restart(const char *const args[])
{
	ck_assert_int_eq(harness_server_stop(&srv), 0);
	harness_server_start(&srv, "srv2", 2, args);
}

struct bad_case {
	const char *name;
	const char *req;
	size_t reqlen;
	const char *want;
};

#define BAD(name, req, want)                                                   \
	{                                                                      \
		name, req, sizeof(req) - 1, want                               \
	}

#define K50 "kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk"

static const struct bad_case bad_cases[] = {
    BAD("key of 251 bytes", "get " K50 K50 K50 K50 K50 "k\r\n",
        "CLIENT_ERROR bad command line format\r\n"),
    BAD("key of 251 bytes in a set",
        "set " K50 K50 K50 K50 K50 "k 0 0 1\r\nx\r\n",
        "CLIENT_ERROR bad command line format\r\nERROR\r\n"),
    BAD("key with a space", "set a b 0 0 1\r\nx\r\n",
        "CLIENT_ERROR bad command line format\r\nERROR\r\n"),
    BAD("control bytes in a key (allowed, as memcached)",
        "set k\001\033\177 0 0 1\r\nx\r\nget k\001\033\177\r\n",
        "STORED\r\nVALUE k\001\033\177 0 1\r\nx\r\nEND\r\n"),
    BAD("bytes -1", "set a 0 0 -1\r\n",
        "CLIENT_ERROR bad command line format\r\n"),
    BAD("bytes 2^63", "set a 0 0 9223372036854775808\r\nx\r\n",
        "CLIENT_ERROR bad command line format\r\nERROR\r\n"),
    BAD("bytes not a number", "set a 0 0 ten\r\nx\r\n",
        "CLIENT_ERROR bad command line format\r\nERROR\r\n"),
    BAD("bytes with trailing garbage", "set a 0 0 1z\r\nx\r\n",
        "CLIENT_ERROR bad command line format\r\nERROR\r\n"),
    BAD("data block longer than declared", "set a 0 0 1\r\nxyz\r\nget a\r\n",
        "CLIENT_ERROR bad data chunk\r\nERROR\r\nEND\r\n"),
    BAD("data block shorter than declared",
        "set a 0 0 3\r\nab\r\n\r\nget a\r\n",
        "CLIENT_ERROR bad data chunk\r\nERROR\r\nEND\r\n"),
    BAD("binary junk", "\001\002\377\376\r\n", "ERROR\r\n"),
    BAD("NUL bytes end the line, as memcached", "get a\000junk\r\n\000set\r\n",
        "END\r\nERROR\r\n"),
    BAD("incr past 2^64 wraps",
        "set n 0 0 20\r\n18446744073709551615\r\nincr n 1\r\n",
        "STORED\r\n0\r\n"),
    BAD("decr below 0 stops at 0", "set m 0 0 1\r\n5\r\ndecr m 6\r\n",
        "STORED\r\n0\r\n"),
    BAD("exptime far past (absolute)", "set e 0 2592001 1\r\nx\r\nget e\r\n",
        "STORED\r\nEND\r\n"),
    BAD("exptime most negative", "set e 0 -2147483648 1\r\nx\r\nget e\r\n",
        "STORED\r\nEND\r\n"),
    BAD("exptime 2^31-1 (2038)", "set e 0 2147483647 1\r\nx\r\nget e\r\n",
        "STORED\r\nVALUE e 0 1\r\nx\r\nEND\r\n"),
};

START_TEST(test_catalogue)
{
	static char buf[4096];

	for (size_t i = 0; i < sizeof bad_cases / sizeof bad_cases[0]; i++) {
		const struct bad_case *c = &bad_cases[i];
		int fd = harness_connect(srv.port);
		size_t want = strlen(c->want), n;
		bool eof;

		harness_send(fd, c->req, c->reqlen);
		n = harness_recv(
		    fd, buf, sizeof buf, NULL, want, HARNESS_DEADLINE_MS, &eof);
		ck_assert_msg(n == want && memcmp(buf, c->want, want) == 0,
		    "%s: got '%.*s'", c->name, (int)n, buf);
		harness_close(fd);
		still_serving();
	}
}
END_TEST

/* A line past 2048 bytes with no end: the connection closed without a
 * reply, as memcached. */
START_TEST(test_oversized_line)
{
	char line[3000], buf[256];
	int fd = harness_connect(srv.port);
	bool eof;

	memset(line, 'a', sizeof line);
	harness_send(fd, line, sizeof line);
	harness_recv_all(fd, buf, sizeof buf, HARNESS_DEADLINE_MS, &eof);
	ck_assert_str_eq(buf, "");
	ck_assert(eof);
	harness_close(fd);
	still_serving();
}
END_TEST

/* get with 10,000 keys, 100 of them present: every hit, in order, once. */
START_TEST(test_multiget_10000)
{
	size_t cap = 10000 * 16 + 16, len = 0, n;
	char *req = malloc(cap), *want = malloc(8192), *got = malloc(65536);
	int fd = harness_connect(srv.port);
	size_t wlen = 0;
	bool eof;

	ck_assert(req && want && got);
	for (int i = 0; i < 100; i++) {
		char set[64], buf[32];

		snprintf(set, sizeof set, "set mk%d 0 0 1\r\n%d\r\n", i * 100,
		    i % 10);
		harness_cmd(fd, set, "\r\n", buf, sizeof buf);
		ck_assert_str_eq(buf, "STORED\r\n");
	}
	len = (size_t)snprintf(req, cap, "get");
	for (int i = 0; i < 10000; i++) {
		len += (size_t)snprintf(req + len, cap - len, " mk%d", i);
		if (i % 100 == 0)
			wlen += (size_t)snprintf(want + wlen, 8192 - wlen,
			    "VALUE mk%d 0 1\r\n%d\r\n", i, (i / 100) % 10);
	}
	len += (size_t)snprintf(req + len, cap - len, "\r\n");
	wlen += (size_t)snprintf(want + wlen, 8192 - wlen, "END\r\n");
	harness_send(fd, req, len);
	n = harness_recv(fd, got, 65536, NULL, wlen, HARNESS_DEADLINE_MS, &eof);
	ck_assert_msg(n == wlen && memcmp(got, want, wlen) == 0,
	    "10,000-key get: %zu bytes, want %zu", n, wlen);
	harness_close(fd);
	free(req);
	free(want);
	free(got);
	still_serving();
}
END_TEST

static long
rss_kb(pid_t pid)
{
	char path[64], line[128], *status;
	long kb = -1;

	snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
	if ((status = harness_file_read(path)) == NULL)
		return -1;
	if (harness_line_with(status, "VmRSS:", line, sizeof line))
		kb = atol(line + strlen("VmRSS:"));
	free(status);
	return kb;
}

/* Wait, asking on ctl, until a connection's replies stall (conn_write). */
static void
wait_conn_write(int ctl)
{
	static char conns[16384];

	for (long long end = harness_now_ms() + HARNESS_DEADLINE_MS;;) {
		harness_cmd(
		    ctl, "stats conns\r\n", "END\r\n", conns, sizeof conns);
		if (strstr(conns, ":state conn_write") != NULL)
			return;
		ck_assert_msg(harness_now_ms() < end, "never in conn_write");
		harness_nap();
	}
}

/* 100,000 pipelined gets of a 4 KiB value from a client that never reads:
 * the server's output for it stays bounded (it stops reading that client),
 * the write timeout closes it and says so in the log, and the memory comes
 * back. */
START_TEST(test_never_reads)
{
	/* -v: the close is an info line. */
	const char *args[] = {"-v", "--write-timeout", "2", NULL};
	static char value[4096 + 64];
	char buf[256], *req;
	size_t len = 0, sent = 0;
	long base, peak, after;
	int fd, ctl;

	restart(args);
	ctl = harness_connect(srv.port);
	memset(value, 'v', 4096);
	memcpy(value + 4096, "\r\n", 3);
	harness_sends(ctl, "set big 0 0 4096\r\n");
	harness_cmd(ctl, value, "\r\n", buf, sizeof buf);
	ck_assert_str_eq(buf, "STORED\r\n");
	base = rss_kb(srv.pid);
	req = malloc(100000 * 9);
	ck_assert_ptr_nonnull(req);
	for (int i = 0; i < 100000; i++, len += 9)
		memcpy(req + len, "get big\r\n", 9);
	fd = harness_connect(srv.port);
	/* Send until the server stops taking requests. */
	while (sent < len) {
		struct pollfd p = {.fd = fd, .events = POLLOUT};
		ssize_t n;

		if (poll(&p, 1, 1000) != 1)
			break;
		n = send(
		    fd, req + sent, len - sent, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n <= 0)
			break;
		sent += (size_t)n;
	}
	/* Measure while the server holds the stalled replies. */
	wait_conn_write(ctl);
	peak = rss_kb(srv.pid);
	ck_assert_msg(harness_file_wait(srv.log,
	                  "closed: its replies waited 2 s for the client to "
	                  "read them",
	                  HARNESS_DEADLINE_MS),
	    "the stalled client was not closed");
	harness_close(fd);
	after = rss_kb(srv.pid);
	printf("never-reading client: %zu of %zu request bytes taken; server "
	       "RSS %ld kB before, %ld kB stalled, %ld kB after\n",
	    sent, len, base, peak, after);
	/* Bounded: a few MiB of socket and reply buffers, not 100,000
	 * replies (400 MB). */
	ck_assert_int_lt(peak - base, 32 * 1024);
	ck_assert_int_lt(after - base, 8 * 1024);
	free(req);
	harness_close(ctl);
	still_serving();
}
END_TEST

/* Read a metadump from fd to its END: its lines, its bytes in *bytes. */
static size_t
dump_read(int fd, size_t *bytes)
{
	static char buf[65536];
	char tail[8] = "";
	size_t lines = 0, total = 0;

	for (long long end = harness_now_ms() + 30000;;) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		ssize_t n;

		ck_assert_msg(
		    harness_now_ms() < end, "no END after %zu bytes", total);
		if (poll(&p, 1, 1000) != 1)
			continue;
		n = recv(fd, buf, sizeof buf, 0);
		ck_assert_msg(n > 0, "EOF in the dump after %zu bytes", total);
		for (ssize_t i = 0; i < n; i++) {
			lines += buf[i] == '\n';
			memmove(tail, tail + 1, 4);
			tail[4] = buf[i];
		}
		total += (size_t)n;
		if (memcmp(tail, "END\r\n", 5) == 0)
			break;
	}
	*bytes = total;
	return lines - 1;
}

/* A metadump of 100,000 items (~20 MB) to a client reading slowly is
 * made as it reads, not whole in memory: the server's RSS grows by less
 * than a quarter of the dump while that client stalls; another dump
 * meanwhile is answered memcached's BUSY, other clients are served, and
 * once the first is read to its END, every item in it, a dump runs
 * again. */
START_TEST(test_metadump_slow_reader)
{
	enum { ITEMS = 100000, KEY = 150 };
	static char conns[16384];
	char buf[256], *req, *q;
	size_t bytes, got = 0, lines = 0;
	long base, peak;
	int fd, other, ctl;

	ctl = harness_connect(srv.port);
	req = malloc((size_t)ITEMS * (KEY + 40));
	ck_assert_ptr_nonnull(req);
	q = req;
	for (int i = 0; i < ITEMS; i++)
		q += sprintf(q, "set %0*d 0 0 1 noreply\r\nx\r\n", KEY, i);
	harness_send(ctl, req, (size_t)(q - req));
	free(req);
	harness_cmd(ctl, "version\r\n", "\r\n", buf, sizeof buf);
	ck_assert_msg(strncmp(buf, "VERSION ", 8) == 0, "%s", buf);
	harness_cmd(ctl, "stats\r\n", "END\r\n", conns, sizeof conns);
	ck_assert(harness_stat(conns, "curr_items", buf, sizeof buf));
	ck_assert_str_eq(buf, "100000");
	base = rss_kb(srv.pid);

	fd = harness_connect(srv.port);
	harness_sends(fd, "lru_crawler metadump all\r\n");
	/* Read a little, then stall until the server waits on the socket. */
	while (got < 65536) {
		size_t n = harness_recv(fd, buf, sizeof buf, NULL,
		    sizeof buf - 1, HARNESS_DEADLINE_MS, &(bool){false});

		ck_assert_uint_gt(n, 0);
		got += n;
		for (size_t i = 0; i < n; i++)
			lines += buf[i] == '\n';
	}
	wait_conn_write(ctl);
	peak = rss_kb(srv.pid);
	other = harness_connect(srv.port);
	harness_cmd(
	    other, "lru_crawler metadump all\r\n", "\r\n", buf, sizeof buf);
	ck_assert_str_eq(buf, "BUSY currently processing crawler request\r\n");
	still_serving();

	ck_assert_uint_eq(lines + dump_read(fd, &bytes), ITEMS);
	printf("metadump to a stalled reader: RSS %ld kB before, %ld kB "
	       "stalled; dump %zu bytes\n",
	    base, peak, bytes + got);
	ck_assert_int_lt((peak - base) * 1024, (long)((bytes + got) / 4));
	/* The whole dump arrived, and the next one runs (with
	 * still_serving's probe item). */
	harness_sends(other, "lru_crawler metadump all\r\n");
	ck_assert_uint_eq(dump_read(other, &bytes), ITEMS + 1);
	harness_close(other);
	harness_close(fd);
	harness_close(ctl);
	still_serving();
}
END_TEST

/* Wait until n connections but the observer hold half a request (state
 * conn_read), asking through the observer, which holds "stats" half sent:
 * it needs no read buffer more than its own. */
static void
rbuf_holders(int observer, int n)
{
	static char conns[65536];

	for (long long end = harness_now_ms() + HARNESS_DEADLINE_MS;;) {
		harness_cmd(observer, " conns\r\nstats", "END\r\n", conns,
		    sizeof conns);
		if ((int)harness_count(conns, ":state conn_read") >= n)
			return;
		ck_assert_msg(
		    harness_now_ms() < end, "%d holders never read", n);
		harness_nap();
	}
}

/* -o read_buf_mem_limit=1 with one worker: 1 MB / 1 / 16 KiB = 64
 * buffers, shared by read buffers and replies' text, as memcached's. 63
 * connections holding half a request each and a 64th reading a get leave
 * none for its reply: memcached's "SERVER_ERROR out of memory writing get
 * response". With 64 holders, a further connection finds no read buffer
 * and is closed, counted in stats read_buf_oom (the refused get in
 * response_obj_oom); stats settings says the limit in bytes. */
START_TEST(test_read_buf_limit)
{
	const char *args[] = {"-o", "read_buf_mem_limit=1", NULL};
	enum { BUFS = 64 };
	int hold[BUFS], fd;
	char buf[8192], val[64];
	bool eof = false;

	ck_assert_int_eq(harness_server_stop(&srv), 0);
	harness_server_start(&srv, "rbuf", 1, args);
	fd = harness_connect(srv.port);
	harness_cmd(fd, "set a 0 0 1\r\nx\r\nstats settings\r\n", "END\r\n",
	    buf, sizeof buf);
	ck_assert(harness_stat(buf, "read_buf_mem_limit", val, sizeof val));
	ck_assert_str_eq(val, "1048576");
	harness_close(fd);
	hold[0] = harness_connect(srv.port);
	harness_sends(hold[0], "stats");
	for (int i = 1; i < BUFS - 1; i++) {
		hold[i] = harness_connect(srv.port);
		harness_sends(hold[i], "version");
	}
	rbuf_holders(hold[0], BUFS - 2);
	fd = harness_connect(srv.port);
	harness_cmd(fd, "get a\r\n", "\r\n", buf, sizeof buf);
	ck_assert_str_eq(
	    buf, "SERVER_ERROR out of memory writing get response\r\n");
	harness_cmd(fd, "stats\r\n", "END\r\n", buf, sizeof buf);
	ck_assert(harness_stat(buf, "response_obj_oom", val, sizeof val));
	ck_assert_str_eq(val, "1");
	/* Answered, its read buffer went back: one more holder takes it. */
	hold[BUFS - 1] = harness_connect(srv.port);
	harness_sends(hold[BUFS - 1], "version");
	rbuf_holders(hold[0], BUFS - 1);
	harness_sends(fd, "version\r\n");
	harness_recv(fd, buf, sizeof buf, "\r\n", 0, HARNESS_DEADLINE_MS, &eof);
	ck_assert_msg(eof && buf[0] == '\0', "no read buffer, yet: %s", buf);
	harness_close(fd);
	harness_cmd(hold[0], "\r\n", "END\r\n", buf, sizeof buf);
	ck_assert(harness_stat(buf, "read_buf_oom", val, sizeof val));
	ck_assert_str_eq(val, "1");
	for (int i = 0; i < BUFS; i++)
		harness_close(hold[i]);
	still_serving();
}
END_TEST

/* A client that trickles a request a byte at a time, ten a second, never
 * finishing it: closed once the request timeout has passed since the
 * request began (bytes arriving do not extend it), and logged. */
START_TEST(test_slow_client)
{
	/* -v: the close is an info line. */
	const char *args[] = {"-v", "--request-timeout", "2", NULL};
	struct timespec tenth = {0, 100 * 1000 * 1000};
	long long deadline;
	char c = 'x';
	int fd;

	restart(args);
	fd = harness_connect(srv.port);
	harness_sends(fd, "set slow 0 0 1000\r\n");
	deadline = harness_now_ms() + HARNESS_DEADLINE_MS;
	for (;;) {
		struct pollfd p = {.fd = fd, .events = POLLIN};

		ck_assert_msg(harness_now_ms() < deadline,
		    "a trickling client was not closed");
		/* Closed: EOF (or a reset) to read, or a send that fails. */
		if (poll(&p, 1, 0) == 1 || send(fd, &c, 1, MSG_NOSIGNAL) != 1)
			break;
		nanosleep(&tenth, NULL);
	}
	ck_assert(harness_file_wait(srv.log,
	    "closed: a request stayed incomplete for 2 s",
	    HARNESS_DEADLINE_MS));
	harness_close(fd);
	still_serving();
}
END_TEST

/* -M: past the memory limit, stores fail with memcached's error and what
 * was stored stays. */
START_TEST(test_out_of_memory)
{
	const char *args[] = {"-m", "8", "-M", NULL};
	static char req[100 * 1024 + 64];
	char buf[128];
	int fd, stored = 0;

	restart(args);
	fd = harness_connect(srv.port);
	for (int i = 0; i < 200; i++) {
		int n =
		    snprintf(req, sizeof req, "set oom%d 0 0 102400\r\n", i);

		memset(req + n, 'o', 102400);
		memcpy(req + n + 102400, "\r\n", 2);
		harness_send(fd, req, (size_t)n + 102402);
		harness_recv(
		    fd, buf, sizeof buf, "\r\n", 0, HARNESS_DEADLINE_MS, NULL);
		if (strcmp(buf, "STORED\r\n") != 0) {
			ck_assert_str_eq(buf,
			    "SERVER_ERROR out of memory storing object\r\n");
			break;
		}
		stored++;
	}
	ck_assert_int_gt(stored, 10);
	ck_assert_int_lt(stored, 200);
	harness_cmd(fd, "get oom0\r\n", "END\r\n", req, sizeof req);
	ck_assert_msg(
	    strncmp(req, "VALUE oom0 0 102400\r\n", 21) == 0, "%.40s", req);
	harness_close(fd);
	still_serving();
}
END_TEST

/* A browser page can POST to any port on the host: a real HTTP client
 * posting a form of commands must have the connection closed at the
 * request line, nothing of it run, and the refusal logged and counted. */
START_TEST(test_http_post_refused)
{
	static const char script[] =
	    "import sys, urllib.request, urllib.error, http.client\n"
	    "body = b'a=1\\r\\nflush_all\\r\\nset planted 0 0 1\\r\\nX\\r\\n'\n"
	    "url = 'http://127.0.0.1:%s/' % sys.argv[1]\n"
	    "for req in (urllib.request.Request(url, data=body),\n"
	    "            urllib.request.Request(url)):\n"
	    "    try:\n"
	    "        urllib.request.urlopen(req, timeout=10)\n"
	    "        sys.exit('an HTTP reply came back')\n"
	    "    except (http.client.RemoteDisconnected,\n"
	    "            ConnectionResetError) as e:\n"
	    "        print('closed:', type(e).__name__)\n"
	    "    except urllib.error.URLError as e:\n"
	    "        if not isinstance(e.reason, ConnectionResetError):\n"
	    "            raise\n"
	    "        print('closed: reset')\n";
	char port[16], buf[256], line[512], stats[8192], *log;
	const char *args[] = {"-c", script, port, NULL};
	int fd = harness_connect(srv.port);

	harness_cmd(
	    fd, "set victim 0 0 5\r\nalive\r\n", "\r\n", buf, sizeof buf);
	ck_assert_str_eq(buf, "STORED\r\n");
	snprintf(port, sizeof port, "%d", srv.port);
	ck_assert_int_eq(
	    harness_wait(harness_spawn_prog("/usr/bin/python3", "urllib", args),
	        HARNESS_DEADLINE_MS),
	    0);
	harness_cmd(fd, "get victim planted\r\n", "END\r\n", buf, sizeof buf);
	ck_assert_str_eq(buf, "VALUE victim 0 5\r\nalive\r\nEND\r\n");
	harness_cmd(fd, "stats\r\n", "END\r\n", stats, sizeof stats);
	ck_assert(
	    harness_stat(stats, "http_requests_refused", buf, sizeof buf));
	ck_assert_str_eq(buf, "2");
	harness_close(fd);
	ck_assert(harness_file_wait(
	    srv.log, "sent an HTTP request", HARNESS_DEADLINE_MS));
	log = harness_file_read(srv.log);
	ck_assert(
	    harness_line_with(log, "sent an HTTP request", line, sizeof line));
	ck_assert_msg(strstr(line, " warn ") && strstr(line, "peer=127.0.0.1:"),
	    "%s", line);
	ck_assert_uint_eq(harness_count(log, "sent an HTTP request"), 2);
	free(log);
	still_serving();
}
END_TEST

/* The client hangs up in the middle of a data block: nothing is stored,
 * the log says the client closed, nobody else notices. */
START_TEST(test_close_mid_block)
{
	/* -v: the close is an info line. */
	const char *args[] = {"-v", NULL};
	char buf[64], want[128];
	int fd, port;

	restart(args);
	fd = harness_connect(srv.port);
	port = harness_local_port(fd);
	harness_sends(fd, "set half 0 0 100\r\nonly part of it");
	harness_close(fd);
	snprintf(want, sizeof want, "peer=127.0.0.1:%d closed by client", port);
	ck_assert(harness_file_wait(srv.log, want, HARNESS_DEADLINE_MS));
	fd = harness_connect(srv.port);
	harness_cmd(fd, "get half\r\n", "END\r\n", buf, sizeof buf);
	ck_assert_str_eq(buf, "END\r\n");
	harness_close(fd);
	still_serving();
}
END_TEST

int
main(void)
{
	const TTest *tests[] = {test_catalogue, test_oversized_line,
	    test_multiget_10000, test_never_reads, test_metadump_slow_reader,
	    test_read_buf_limit, test_slow_client, test_out_of_memory,
	    test_close_mid_block, test_http_post_refused, NULL};

	return harness_run_suite(&(struct harness_suite){.name = "badinput",
	                             .setup = setup,
	                             .server = &srv,
	                             .timeout = 120},
	    tests);
}
