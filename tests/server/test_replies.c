/* The reply catalogue's test and the classic protocol's replies a
 * catalogue case cannot hold (sizes, a CAS read back, authentication).
 * The catalogue is tests/server/cases/text.cases: requests and the exact
 * replies memcached 1.6 gives them, byte for byte, run by
 * tests/server/cases_text.c against the real threadlined and, where Debian's
 * memcached is installed (tools/dev installs it), against memcached too, so the
 * catalogue itself is checked against the reference on every run. The tests
 * here compare both servers' replies the same way, one request a connection, a
 * "version" after it proving the connection still works. */
#include <check.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cases.h"
#include "harness.h"
#include "tl_build.h"

#define REPLY_MAX (64 * 1024)

static struct harness_server tl;
static struct harness_memcached mc;
static struct harness_peer peers[2];
static int npeers;

static void
setup(void)
{
	harness_test_setup();
	harness_server_start(&tl, "tl", 2, NULL);
	npeers = harness_peers(peers, &tl, &mc);
}

/* Every case of text.cases ($TL_CASES) on each server. */
START_TEST(test_catalogue)
{
	cases_run_file(getenv("TL_CASES"), peers, npeers);
}
END_TEST

/* One request on a new connection; the reply (NUL-terminated, without the
 * version sentinel) in buf. */
static size_t
ask(const struct harness_peer *p, const void *req, size_t len, char *buf,
    size_t cap)
{
	int fd = harness_peer_connect(p);
	size_t n;

	ck_assert_int_ne(fd, -1);
	n = cases_exchange(CASES_VERSION, fd, req, len, buf, cap, p->name);
	buf[n] = '\0';
	harness_close(fd);
	return n;
}

/* Larger than -I (1 MiB): refused, the data block swallowed rather than
 * read as commands, and an older value under the key gone. */
START_TEST(test_too_large)
{
	static const char head[] =
	    "set big 0 0 1\r\nx\r\nset big 0 0 2000000\r\n";
	static const char tail[] = "\r\nget big\r\n";
	size_t len = sizeof head - 1 + 2000000 + sizeof tail - 1;
	char *req = malloc(len), buf[256];

	ck_assert_ptr_nonnull(req);
	memcpy(req, head, sizeof head - 1);
	/* Lines that would be commands, were the block parsed. */
	for (size_t i = 0; i < 2000000; i++)
		req[sizeof head - 1 + i] = "get big\r\n"[i % 9];
	memcpy(req + len - (sizeof tail - 1), tail, sizeof tail - 1);
	for (int p = 0; p < npeers; p++) {
		ask(&peers[p], req, len, buf, sizeof buf);
		ck_assert_msg(strcmp(buf, "STORED\r\nSERVER_ERROR object too "
		                          "large for cache\r\nEND\r\n") == 0,
		    "%s: %s", peers[p].name, buf);
	}
	free(req);
}
END_TEST

/* Keys: 250 bytes are fine, 251 are not, in every command. One request
 * per connection: memcached 1.6.18 drops the replies queued before a get
 * whose key is too long ("set" then "get" of a 251-byte key pipelined
 * answers only one CLIENT_ERROR); threadlined answers every command. */
START_TEST(test_key_length)
{
	static const char *const reqs[][2] = {
	    {"set %s 0 0 1\r\nx\r\n",
	        "CLIENT_ERROR bad command line format\r\nERROR\r\n"},
	    {"get %s\r\n", "CLIENT_ERROR bad command line format\r\n"},
	    /* With "a" there: the error alone, no VALUE of "a" before it. */
	    {"set a%.0s 0 0 1\r\nx\r\n", "STORED\r\n"},
	    {"get a %s\r\n", "CLIENT_ERROR bad command line format\r\n"},
	    {"gets a b %s\r\n", "CLIENT_ERROR bad command line format\r\n"},
	    {"delete %s\r\n", "CLIENT_ERROR bad command line format\r\n"},
	    {"incr %s 1\r\n", "CLIENT_ERROR bad command line format\r\n"},
	    {"touch %s 0\r\n", "CLIENT_ERROR bad command line format\r\n"},
	};
	char key[252], req[1024], buf[2048], want[1024];

	memset(key, 'k', 251);
	key[251] = '\0';
	for (int p = 0; p < npeers; p++) {
		snprintf(req, sizeof req,
		    "set %.250s 0 0 1\r\nx\r\nget %.250s\r\n", key, key);
		snprintf(want, sizeof want,
		    "STORED\r\nVALUE %.250s 0 1\r\nx\r\nEND\r\n", key);
		ask(&peers[p], req, strlen(req), buf, sizeof buf);
		ck_assert_msg(
		    strcmp(buf, want) == 0, "%s: %s", peers[p].name, buf);
		for (size_t i = 0; i < sizeof reqs / sizeof reqs[0]; i++) {
			snprintf(req, sizeof req, reqs[i][0], key);
			ask(&peers[p], req, strlen(req), buf, sizeof buf);
			ck_assert_msg(strcmp(buf, reqs[i][1]) == 0,
			    "%s: %s: %s", peers[p].name, reqs[i][0], buf);
		}
	}
}
END_TEST

/* gets then cas with the unique it gave: stored once, then EXISTS. */
START_TEST(test_cas_roundtrip)
{
	char buf[512], req[256];
	unsigned long long unique;

	for (int p = 0; p < npeers; p++) {
		ask(&peers[p], "set cr 0 0 1\r\nx\r\ngets cr\r\n", 26, buf,
		    sizeof buf);
		ck_assert_msg(sscanf(buf, "STORED\r\nVALUE cr 0 1 %llu\r\n",
		                  &unique) == 1,
		    "%s: %s", peers[p].name, buf);
		snprintf(req, sizeof req,
		    "cas cr 0 0 1 %llu\r\ny\r\ncas cr 0 0 1 %llu\r\nz\r\n"
		    "cas cr 0 0 1 %llu noreply\r\nz\r\nget cr\r\n",
		    unique, unique, unique);
		ask(&peers[p], req, strlen(req), buf, sizeof buf);
		ck_assert_msg(strcmp(buf, "STORED\r\nEXISTS\r\nVALUE cr 0 1\r\n"
		                          "y\r\nEND\r\n") == 0,
		    "%s: %s", peers[p].name, buf);
	}
}
END_TEST

/* "version" answers memcached's line to the byte, a number alone that
 * Perl's version->parse takes (Cache::Memcached::Fast's tests die on
 * anything else); stats' version is that number too, and our own version
 * is threadlined's threadline_version line. */
START_TEST(test_version_plain)
{
	char buf[REPLY_MAX], val[64], perl[HARNESS_PATH_MAX];
	const char *args[] = {"-Mversion", "-e",
	    "version->parse($ARGV[0]) eq $ARGV[0] or exit 3", NULL, NULL};
	bool eof;

	ck_assert_msg(harness_which("perl", perl, sizeof perl),
	    "perl is not installed (tools/dev deps installs it)");
	for (int p = 0; p < npeers; p++) {
		int fd = harness_peer_connect(&peers[p]);

		ck_assert_int_ne(fd, -1);
		harness_sends(fd, "version\r\n");
		harness_recv(
		    fd, buf, sizeof buf, "\r\n", 0, HARNESS_DEADLINE_MS, &eof);
		ck_assert_msg(strcmp(buf, "VERSION 1.6.18\r\n") == 0, "%s: %s",
		    peers[p].name, buf);
		harness_close(fd);
		ask(&peers[p], "stats\r\n", 7, buf, sizeof buf);
		ck_assert_msg(harness_stat(buf, "version", val, sizeof val),
		    "%s: no version in %s", peers[p].name, buf);
		ck_assert_str_eq(val, "1.6.18");
		args[3] = val;
		ck_assert_int_eq(
		    harness_wait(harness_spawn_prog(perl, "perl", args),
		        HARNESS_DEADLINE_MS),
		    0);
	}
	ask(&peers[0], "stats\r\n", 7, buf, sizeof buf);
	ck_assert_msg(harness_stat(buf, "threadline_version", val, sizeof val),
	    "no threadline_version in %s", buf);
	ck_assert_str_eq(val, TL_VERSION);
}
END_TEST

/* The STAT names of a reply, in order, into names; how many. */
static int
stat_names(const char *reply, char names[][64], int cap)
{
	int n = 0;

	for (const char *p = reply; (p = strstr(p, "STAT ")) != NULL && n < cap;
	     p++)
		if (p == reply || p[-1] == '\n')
			sscanf(p + 5, "%63s", names[n++]);
	return n;
}

/* Where name is in names, or -1. */
static int
stat_index(char names[][64], int n, const char *name)
{
	for (int i = 0; i < n; i++)
		if (strcmp(names[i], name) == 0)
			return i;
	return -1;
}

/* Lines memcached 1.6.18 always prints, each in threadlined's reply and,
 * with memcached there, at memcached's place: next to the nearest line
 * before or after it in memcached's reply that threadlined prints too. */
START_TEST(test_stats_memcached_lines)
{
	static const struct {
		const char *req, *names[8];
	} groups[] = {
	    {"stats\r\n", {"cmd_meta", "lrutail_reflocked", NULL}},
	    {"stats settings\r\n",
	        {"domain_socket", "auth_enabled_sasl", NULL}},
	    {"stats items\r\n",
	        {"items:1:age", "items:1:evicted_time", "items:1:tailrepairs",
	            "items:1:crawler_items_checked",
	            "items:1:lrutail_reflocked", NULL}},
	};
	static char buf[2][REPLY_MAX], names[2][256][64];
	int n[2];

	for (size_t g = 0; g < sizeof groups / sizeof groups[0]; g++) {
		for (int p = 0; p < npeers; p++) {
			ask(&peers[p], "set sml 0 0 1\r\nx\r\n", 18, buf[p],
			    sizeof buf[p]);
			ask(&peers[p], groups[g].req, strlen(groups[g].req),
			    buf[p], sizeof buf[p]);
			n[p] = stat_names(buf[p], names[p], 256);
		}
		for (const char *const *w = groups[g].names; *w != NULL; w++) {
			int t = stat_index(names[0], n[0], *w), m, b, a;

			ck_assert_msg(
			    t != -1, "threadlined: no %s in %s", *w, buf[0]);
			if (npeers < 2)
				continue;
			m = stat_index(names[1], n[1], *w);
			ck_assert_msg(m != -1, "memcached: no %s", *w);
			for (b = m - 1; b >= 0 && stat_index(names[0], n[0],
			                              names[1][b]) == -1;
			     b--)
				;
			for (a = m + 1; a < n[1] && stat_index(names[0], n[0],
			                                names[1][a]) == -1;
			     a++)
				;
			ck_assert_msg(
			    (b >= 0 && t > 0 &&
			        strcmp(names[0][t - 1], names[1][b]) == 0) ||
			        (a < n[1] && t + 1 < n[0] &&
			            strcmp(names[0][t + 1], names[1][a]) == 0),
			    "%s: not beside %s or %s as in memcached", *w,
			    b >= 0 ? names[1][b] : "-",
			    a < n[1] ? names[1][a] : "-");
		}
	}
}
END_TEST

/* memcached 1.6.18 counts in cmd_meta the me requests whose key it reads
 * (found or not), and nothing else: not mg, ms, md, ma or mn. */
START_TEST(test_cmd_meta)
{
	static const char req[] = "mg cm1 v\r\nms cm1 1\r\nx\r\nma cm1\r\n"
	                          "md cm1\r\nmn\r\nme cm1\r\nme\r\n"
	                          "set cm2 0 0 1\r\nx\r\nme cm2\r\nme cm2 b\r\n"
	                          "me Y20y b\r\n";
	char buf[REPLY_MAX], before[32], after[32];

	for (int p = 0; p < npeers; p++) {
		ask(&peers[p], "stats\r\n", 7, buf, sizeof buf);
		ck_assert_msg(
		    harness_stat(buf, "cmd_meta", before, sizeof before),
		    "%s: no cmd_meta", peers[p].name);
		ask(&peers[p], req, sizeof req - 1, buf, sizeof buf);
		ask(&peers[p], "stats\r\n", 7, buf, sizeof buf);
		ck_assert(harness_stat(buf, "cmd_meta", after, sizeof after));
		ck_assert_msg(atoll(after) - atoll(before) == 3,
		    "%s: cmd_meta %s then %s", peers[p].name, before, after);
	}
}
END_TEST

/* quit answers nothing and closes; what came after it is not run. */
START_TEST(test_quit)
{
	char buf[256];
	bool eof;

	for (int p = 0; p < npeers; p++) {
		int fd = harness_peer_connect(&peers[p]);

		ck_assert_int_ne(fd, -1);
		harness_sends(fd, "set q1 0 0 1\r\nx\r\nquit\r\nget q1\r\n");
		harness_recv_all(
		    fd, buf, sizeof buf, HARNESS_DEADLINE_MS, &eof);
		ck_assert_msg(eof, "%s: still open after quit", peers[p].name);
		ck_assert_str_eq(buf, "STORED\r\n");
		harness_close(fd);
	}
}
END_TEST

/* -Y: memcached's ASCII authentication. Each step is one write, and its
 * reply is read whole before the next; "" expects nothing more before
 * the next step, EOF a close. Before authentication memcached keeps one
 * reply, which the next request of the same read overwrites. */
struct auth_step {
	const char *req;
	size_t reqlen;
	const char *want;
};

#define STEP(req, want)                                                        \
	{                                                                      \
		req, sizeof(req) - 1, want                                     \
	}
#define AUTH_EOF "<EOF>"

static const struct auth_case {
	const char *name;
	struct auth_step steps[4];
} auth_cases[] = {
    {"unauthenticated",
        {STEP("get foo\r\n", "CLIENT_ERROR unauthenticated\r\n"),
            STEP("quit\r\n", "CLIENT_ERROR unauthenticated\r\n"),
            STEP("set a 0 0\r\n", "CLIENT_ERROR unauthenticated\r\n"),
            STEP("SET a 0 0 7\r\n", "CLIENT_ERROR unauthenticated\r\n")}},
    {"bad_value", {STEP("set foo 0 0 2\r\nhi\r\n",
                       "CLIENT_ERROR bad authentication token format\r\n"),
                      STEP("set foo 0 0 7\r\nfoo barXX",
                          "CLIENT_ERROR bad command line termination\r\n"),
                      STEP("set a b c 7\r\nfoo\000bar\r\n",
                          "CLIENT_ERROR bad authentication token format\r\n"),
                      STEP("set foo 0 0 7\r\nfoo bab\r\n",
                          "CLIENT_ERROR authentication failure\r\n")}},
    {"authenticated", {STEP("set foo 0 0 7\r\nfoo bar\r\n", "STORED\r\n"),
                          STEP("set t 0 0 2\r\nhi\r\nget t\r\n",
                              "STORED\r\nVALUE t 0 2\r\nhi\r\nEND\r\n"),
                          STEP("set foo 0 0 7\r\nfoo bab\r\n", "STORED\r\n")}},
    {"second_user_noreply",
        {STEP("set  k  x  y  +12 noreply\r\n baaaz  quux\r\n", "STORED\r\n"),
            STEP("version\r\n", "VERSION 1.6.18\r\n")}},
    {"last_reply_of_a_read",
        {STEP("get foo\r\nquit\r\nset k 0 0 7\r\nfoo bab\r\n",
             "CLIENT_ERROR authentication failure\r\n"),
            STEP("get a\r\nset k 0 0 7\r\nfoo bar\r\nversion\r\n",
                "STORED\r\nVERSION 1.6.18\r\n")}},
};

/* One auth case on a new connection to p. */
static void
auth_run(const struct harness_peer *p, const struct auth_case *c)
{
	char buf[4096];
	int fd = harness_peer_connect(p);

	ck_assert_int_ne(fd, -1);
	for (size_t i = 0; i < 4 && c->steps[i].req != NULL; i++) {
		const struct auth_step *st = &c->steps[i];
		bool eof = false;
		size_t n;

		harness_send(fd, st->req, st->reqlen);
		if (strcmp(st->want, AUTH_EOF) == 0) {
			n = harness_recv_all(
			    fd, buf, sizeof buf, HARNESS_DEADLINE_MS, &eof);
			ck_assert_msg(n == 0 && eof,
			    "%s, case %s step %zu: want a close, got %s%s",
			    p->name, c->name, i, buf, eof ? "" : " (open)");
			break;
		}
		n = harness_recv(fd, buf, sizeof buf, NULL, strlen(st->want),
		    HARNESS_DEADLINE_MS, &eof);
		ck_assert_msg(
		    n == strlen(st->want) && memcmp(buf, st->want, n) == 0,
		    "%s, case %s step %zu:\nwant: %s\ngot:  %.*s", p->name,
		    c->name, i, st->want, (int)n, buf);
	}
	harness_close(fd);
}

/* auth_cmds and auth_errors of "stats" on p. */
static void
auth_counts(const struct harness_peer *p, long *cmds, long *errors)
{
	static char buf[REPLY_MAX];
	const char *at;
	int fd = harness_peer_connect(p);

	ck_assert_int_ne(fd, -1);
	harness_sends(fd, "set k 0 0 7\r\nfoo bar\r\n");
	harness_recv(
	    fd, buf, sizeof buf, "STORED\r\n", 0, HARNESS_DEADLINE_MS, NULL);
	harness_sends(fd, "stats\r\n");
	harness_recv(
	    fd, buf, sizeof buf, "END\r\n", 0, HARNESS_DEADLINE_MS, NULL);
	at = strstr(buf, "STAT auth_cmds ");
	ck_assert_msg(at != NULL, "%s: no auth_cmds", p->name);
	*cmds = strtol(at + 15, NULL, 10);
	at = strstr(buf, "\r\nSTAT auth_errors ");
	ck_assert_msg(at != NULL && strstr(buf, "STAT store_no_memory ") <
	                                strstr(buf, "STAT auth_cmds "),
	    "%s: auth_errors missing or out of memcached's order", p->name);
	*errors = strtol(at + 19, NULL, 10);
	harness_close(fd);
}

START_TEST(test_auth)
{
	char file[HARNESS_PATH_MAX], arg[HARNESS_PATH_MAX + 64];
	struct harness_server srv;
	struct harness_memcached amc;
	struct harness_peer ap[2];
	int n = 1;

	harness_path(file, sizeof file, "authfile");
	harness_file_write(file, "foo:bar\nbaaaz:quux\n");
	harness_server_start(
	    &srv, "auth", 2, (const char *const[]){"-Y", file, NULL});
	ap[0] = (struct harness_peer){.name = "threadlined", .port = srv.port};
	if (harness_memcached_start(&amc, "mc-auth.sock",
	        (const char *const[]){"-t", "2", "-m", "64", "-Y", file, NULL}))
		ap[n++] = (struct harness_peer){
		    .name = "memcached", .sock = amc.sock};
	for (int p = 0; p < n; p++) {
		long cmds, errors;

		for (size_t i = 0; i < sizeof auth_cases / sizeof auth_cases[0];
		     i++)
			auth_run(&ap[p], &auth_cases[i]);
		/* A line past 2048 bytes with no end: closed, no reply. */
		{
			static char line[3000];
			char buf[64];
			bool eof = false;
			int fd = harness_peer_connect(&ap[p]);

			memset(line, 'x', sizeof line);
			harness_send(fd, line, sizeof line);
			ck_assert_uint_eq(harness_recv_all(fd, buf, sizeof buf,
			                      HARNESS_DEADLINE_MS, &eof),
			    0);
			ck_assert_msg(
			    eof, "%s: open after a long line", ap[p].name);
			harness_close(fd);
		}
		/* Failures and successes checked; malformed ones not. */
		auth_counts(&ap[p], &cmds, &errors);
		ck_assert_msg(cmds == 6 && errors == 2,
		    "%s: auth_cmds %ld auth_errors %ld", ap[p].name, cmds,
		    errors);
	}
	{
		static char buf[REPLY_MAX];
		int fd = harness_connect(srv.port);

		snprintf(
		    arg, sizeof arg, "STAT auth_enabled_ascii %s\r\n", file);
		harness_sends(fd, "set k 0 0 7\r\nfoo bar\r\n");
		harness_recv(fd, buf, sizeof buf, "STORED\r\n", 0,
		    HARNESS_DEADLINE_MS, NULL);
		harness_cmd(
		    fd, "stats settings\r\n", "END\r\n", buf, sizeof buf);
		ck_assert_msg(strstr(buf, arg) != NULL, "no %s", arg);
		harness_close(fd);
	}
	ck_assert_int_eq(harness_server_stop(&srv), 0);
}
END_TEST

int
main(void)
{
	const TTest *tests[] = {test_catalogue, test_too_large, test_key_length,
	    test_cas_roundtrip, test_version_plain, test_stats_memcached_lines,
	    test_cmd_meta, test_quit, test_auth, NULL};

	return harness_run_suite(&(struct harness_suite){.name = "replies",
	                             .setup = setup,
	                             .server = &tl,
	                             .timeout = 120},
	    tests);
}
