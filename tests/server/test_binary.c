/* The binary protocol: its reply catalogue, tests/server/cases/binary.cases
 * (the packets, and how the replies of threadlined and memcached 1.6.18 are
 * compared, are there), run by tests/server/cases_text.c; and what a catalogue
 * case cannot hold: -B, a value past item_size_max, the access log. */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cases.h"
#include "harness.h"

static struct harness_server tl;

static void
setup(void)
{
	harness_test_setup();
	harness_server_start(&tl, "tl", 2, NULL);
}

/* Every case of binary.cases ($TL_CASES), the two servers' replies
 * compared. */
START_TEST(test_catalogue)
{
	struct harness_peer peers[2];
	struct harness_memcached mc;
	int npeers = harness_peers(peers, &tl, &mc);

	cases_run_file(getenv("TL_CASES"), peers, npeers);
}
END_TEST

/* A server of its own with -B mode; its port. */
static int
binding_server(struct harness_server *srv, const char *mode)
{
	const char *args[] = {"-B", mode, NULL};

	harness_server_start(srv, mode, 1, args);
	return srv->port;
}

/* -B binary: an ASCII request (once a header's length is in) closes the
 * connection without a word, as memcached's; stats settings says binary. */
START_TEST(test_binding_binary)
{
	struct harness_server srv;
	unsigned char req[64], res[256];
	char buf[256];
	bool eof = false;
	size_t n;
	int fd;

	fd = harness_connect(binding_server(&srv, "binary"));
	/* A header's worth: memcached reads 24 bytes before it looks. */
	harness_sends(fd, "version\r\nversion\r\nversion\r\n");
	n = harness_recv(
	    fd, buf, sizeof buf, NULL, 1, HARNESS_DEADLINE_MS, &eof);
	ck_assert_msg(
	    n == 0 && eof, "-B binary answered ASCII: %.*s", (int)n, buf);
	harness_close(fd);
	fd = harness_connect(srv.port);
	harness_send(fd, req,
	    cases_pkt_build(req, &(struct cases_pkt){.op = 0x0a, .opaque = 9}));
	n = cases_pkt_read(fd, res, sizeof res, "noop");
	ck_assert_msg(n == 24 && res[0] == 0x81 && res[1] == 0x0a, "noop");
	harness_close(fd);
	ck_assert_int_eq(harness_server_stop(&srv), 0);
}
END_TEST

/* -B ascii: the binary header is read as a line (memcached's reads it so
 * too: a NUL ends it), and stats settings says ascii; the default says
 * auto-negotiate, as memcached's. */
START_TEST(test_binding_ascii)
{
	struct harness_server srv;
	char buf[8192];
	int fd;

	fd = harness_connect(binding_server(&srv, "ascii"));
	harness_send(fd, "\x80\x0b\0\0\r\n", 6);
	harness_cmd(fd, "", "\r\n", buf, sizeof buf);
	ck_assert_str_eq(buf, "ERROR\r\n");
	harness_cmd(fd, "stats settings\r\n", "END\r\n", buf, sizeof buf);
	ck_assert_msg(
	    strstr(buf, "\r\nSTAT binding_protocol ascii\r\n"), "%s", buf);
	harness_close(fd);
	ck_assert_int_eq(harness_server_stop(&srv), 0);
	fd = harness_connect(tl.port);
	harness_cmd(fd, "stats settings\r\n", "END\r\n", buf, sizeof buf);
	ck_assert_msg(
	    strstr(buf, "\r\nSTAT binding_protocol auto-negotiate\r\n"), "%s",
	    buf);
	harness_close(fd);
}
END_TEST

/* A value past item_size_max is refused with Too large. and swallowed;
 * the connection goes on (memcached: the same bytes, sent once the value
 * is swallowed). */
START_TEST(test_too_large)
{
	static unsigned char req[3 << 20], res[256];
	static char val[(2 << 20) + 1];
	size_t n;
	int fd = harness_connect(tl.port);

	memset(val, 'x', sizeof val - 1);
	n = cases_pkt_build(req, &(struct cases_pkt){.op = 0x01,
	                             .key = "big",
	                             .keylen = 3,
	                             .ext = "\0\0\0\0\0\0\0\0",
	                             .extlen = 8,
	                             .val = val,
	                             .vallen = sizeof val - 1,
	                             .opaque = 5});
	n += cases_pkt_build(
	    req + n, &(struct cases_pkt){.op = 0x0a, .opaque = 6});
	harness_send(fd, req, n);
	n = cases_pkt_read(fd, res, sizeof res, "set");
	ck_assert_msg(n == 34 && res[7] == 0x03 &&
	                  memcmp(res + 24, "Too large.", 10) == 0,
	    "set of 2 MB");
	n = cases_pkt_read(fd, res, sizeof res, "noop");
	ck_assert_msg(n == 24 && res[1] == 0x0a && harness_get32(res + 12) == 6,
	    "noop after");
	harness_close(fd);
}
END_TEST

/* Binary requests get the text protocol's access and slow-request
 * lines, by the worker that answered. */
START_TEST(test_access_log)
{
	const char *args[] = {"-vv", "--access-log", "--slow-us", "1", NULL};
	struct harness_server srv;
	unsigned char req[256], res[256];
	size_t n;
	int fd;

	harness_server_start(&srv, "acc", 1, args);
	fd = harness_connect(srv.port);
	n = cases_pkt_build(req, &(struct cases_pkt){.op = 0x01,
	                             .key = "ak",
	                             .keylen = 2,
	                             .ext = "\0\0\0\0\0\0\0\0",
	                             .extlen = 8,
	                             .val = "v",
	                             .vallen = 1,
	                             .opaque = 1});
	n += cases_pkt_build(req + n,
	    &(struct cases_pkt){.key = "ak", .keylen = 2, .opaque = 2});
	n += cases_pkt_build(
	    req + n, &(struct cases_pkt){
	                 .op = 0x09, .key = "nokey", .keylen = 5, .opaque = 3});
	n += cases_pkt_build(
	    req + n, &(struct cases_pkt){.op = 0x0a, .opaque = 4});
	harness_send(fd, req, n);
	for (int i = 0; i < 3; i++)
		ck_assert(cases_pkt_read(fd, res, sizeof res, "reply") > 0);
	ck_assert(harness_file_wait(
	    srv.log, "worker-0 info access conn=", HARNESS_DEADLINE_MS));
	ck_assert_msg(harness_file_wait(srv.log,
	                  " cmd=set keys=1 key=ak result=stored us=",
	                  HARNESS_DEADLINE_MS),
	    "no set line");
	ck_assert(harness_file_wait(
	    srv.log, " cmd=get keys=1 key=ak result=hit", HARNESS_DEADLINE_MS));
	ck_assert(harness_file_wait(srv.log,
	    " cmd=getq keys=1 key=nokey result=miss", HARNESS_DEADLINE_MS));
	ck_assert(harness_file_wait(
	    srv.log, " cmd=noop keys=0 result=ok", HARNESS_DEADLINE_MS));
	ck_assert(harness_file_wait(
	    srv.log, "worker-0 warn slow request: conn=", HARNESS_DEADLINE_MS));
	harness_close(fd);
	ck_assert_int_eq(harness_server_stop(&srv), 0);
}
END_TEST

int
main(void)
{
	const TTest *tests[] = {test_catalogue, test_binding_binary,
	    test_binding_ascii, test_too_large, test_access_log, NULL};

	return harness_run_suite(&(struct harness_suite){.name = "binary",
	                             .setup = setup,
	                             .server = &tl,
	                             .timeout = 120},
	    tests);
}
