/* The stats groups tools read, against the real server: the exchange of
 * Prometheus' memcached_exporter (its vendored gomemcache's Stats and
 * StatsSettings: "stats", "stats slabs", "stats items", "stats settings"
 * on one connection, each read to END, every line "STAT key value" and
 * the values it parses numbers), Debian's memcached-tool, and counters
 * that must move. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

#define REPLY_MAX      (256 * 1024)
#define MEMCACHED_TOOL "/usr/share/memcached/scripts/memcached-tool"

static struct harness_server srv;
static char reply[REPLY_MAX];

/* Every line of a stats reply up to END splits, as gomemcache splits
 * it, in "STAT", a key and a value (settings: or 4 parts); none is
 * ERROR. */
static void
check_lines(const char *group, const char *r, int maxparts)
{
	const char *p = r;

	while (strncmp(p, "END\r\n", 5) != 0) {
		size_t len = strcspn(p, "\r\n");
		int parts = 1;

		ck_assert_msg(strncmp(p, "STAT ", 5) == 0,
		    "stats %s: line '%.*s' is no STAT line", group, (int)len,
		    p);
		for (size_t i = 0; i < len; i++)
			parts += p[i] == ' ';
		ck_assert_msg(parts == 3 || parts == maxparts,
		    "stats %s: line '%.*s' has %d parts", group, (int)len, p,
		    parts);
		p += len + 2;
	}
}

/* The value of key in r, which must be there and a number. */
static double
number(const char *r, const char *key)
{
	char v[64], *end;
	double d;

	ck_assert_msg(harness_stat(r, key, v, sizeof v), "no STAT %s", key);
	d = strtod(v, &end);
	ck_assert_msg(
	    *v != '\0' && *end == '\0', "STAT %s %s: not a number", key, v);
	return d;
}

START_TEST(test_exporter_exchange)
{
	/* What the exporter parses in "stats"; it fails the scrape when a
	 * value is not a number. */
	static const char *const general[] = {"uptime", "time", "get_hits",
	    "get_misses", "delete_hits", "delete_misses", "incr_hits",
	    "incr_misses", "decr_hits", "decr_misses", "cas_hits", "cas_misses",
	    "cas_badval", "touch_hits", "touch_misses", "cmd_flush", "cmd_set",
	    "bytes", "limit_maxbytes", "curr_items", "total_items",
	    "bytes_read", "bytes_written", "curr_connections",
	    "total_connections", "rejected_connections", "conn_yields",
	    "listen_disabled_num", "evictions", "reclaimed", "store_too_large",
	    "store_no_memory", "direct_reclaims", "crawler_reclaimed",
	    "accepting_conns", "rusage_user", "rusage_system", NULL};
	int fd;

	harness_server_start(&srv, "srv", 2, NULL);
	fd = harness_connect(srv.port);
	harness_cmd(
	    fd, "set a:1 0 0 3\r\nabc\r\n", "\r\n", reply, sizeof reply);
	harness_close(fd);
	fd = harness_connect(srv.port);
	harness_cmd(fd, "stats\r\n", "END\r\n", reply, sizeof reply);
	check_lines("", reply, 3);
	for (int i = 0; general[i] != NULL; i++)
		number(reply, general[i]);
	harness_cmd(fd, "stats settings\r\n", "END\r\n", reply, sizeof reply);
	check_lines("settings", reply, 4);
	ck_assert_double_eq(number(reply, "maxconns"), 1024);
	harness_cmd(fd, "stats slabs\r\n", "END\r\n", reply, sizeof reply);
	check_lines("slabs", reply, 3);
	ck_assert_ptr_nonnull(strstr(reply, ":chunk_size "));
	ck_assert_double_eq(number(reply, "active_slabs"), 1);
	ck_assert(number(reply, "total_malloced") > 0);
	harness_cmd(fd, "stats items\r\n", "END\r\n", reply, sizeof reply);
	check_lines("items", reply, 3);
	ck_assert_msg(strstr(reply, "STAT items:") != NULL &&
	                  strstr(reply, ":number 1\r\n") != NULL,
	    "no items:N:number 1 in '%s'", reply);
	harness_close(fd);
}
END_TEST

/* memcached-tool in view, with a deadline: exit 0 and its output. */
static char *
tool(const char *view, const char *want)
{
	char addr[64], tag[32];
	const char *args[3] = {addr, view, NULL};
	int code;
	char *out;

	snprintf(addr, sizeof addr, "127.0.0.1:%d", srv.port);
	snprintf(tag, sizeof tag, "tool-%s", view ? view : "display");
	code = harness_run_prog(MEMCACHED_TOOL, tag, args);
	ck_assert_msg(code == 0, "memcached-tool %s: exit %d", tag, code);
	out = harness_output(tag, "out");
	ck_assert_msg(strstr(out, want) != NULL,
	    "memcached-tool %s: no '%s' in '%s'", tag, want, out);
	return out;
}

START_TEST(test_memcached_tool)
{
	char big[4096 + 64];
	int fd;

	if (access(MEMCACHED_TOOL, X_OK) != 0 &&
	    access(MEMCACHED_TOOL, R_OK) != 0)
		return;
	harness_server_start(&srv, "srv", 2, NULL);
	fd = harness_connect(srv.port);
	snprintf(big, sizeof big, "set big 0 0 4000\r\n%04000d\r\n", 0);
	harness_cmd(fd, big, "\r\n", reply, sizeof reply);
	harness_cmd(fd, "set a 0 0 1\r\nx\r\n", "\r\n", reply, sizeof reply);
	harness_close(fd);
	free(tool(NULL, "Item_Size"));
	free(tool("stats", "curr_items"));
	free(tool("settings", "maxconns"));
	free(tool("sizes", "sizes_status"));
	/* dump and keys read "lru_crawler metadump all" to its END. */
	free(tool("dump", "add a 0 0 1"));
	free(tool("keys", "key=a exp=-1 la="));
}
END_TEST

/* One stats reply's counter on a new connection. */
static long long
counter(const char *name)
{
	int fd = harness_connect(srv.port);
	long long v;

	harness_cmd(fd, "stats\r\n", "END\r\n", reply, sizeof reply);
	harness_close(fd);
	v = (long long)number(reply, name);
	return v;
}

START_TEST(test_counters_move)
{
	static const char *const args[] = {"-M", "-m", "1", "-I", "2k", NULL};
	char set[512];
	long long deadline;
	int fd, refused = 0;

	harness_server_start(&srv, "srv", 2, args);
	fd = harness_connect(srv.port);
	/* Too large: the data is swallowed, the counter moves. */
	harness_cmd(fd, "set big 0 0 3000\r\n", "\r\n", reply, sizeof reply);
	ck_assert_str_eq(reply, "SERVER_ERROR object too large for cache\r\n");
	harness_close(fd);
	ck_assert_int_eq(counter("store_too_large"), 1);
	/* -M: a full cache refuses stores instead of evicting. */
	fd = harness_connect(srv.port);
	for (int i = 0; i < 20000 && refused == 0; i++) {
		snprintf(
		    set, sizeof set, "set k%d 0 0 200\r\n%0200d\r\n", i, i);
		harness_cmd(fd, set, "\r\n", reply, sizeof reply);
		refused = strstr(reply, "SERVER_ERROR out of memory") != NULL;
	}
	ck_assert_msg(refused, "the cache never filled");
	harness_close(fd);
	ck_assert_int_eq(counter("store_no_memory"), 1);
	ck_assert_int_eq(counter("evictions"), 0);
	ck_assert(harness_file_wait(srv.log,
	    "not stored: a value of 200 bytes "
	    "found no memory",
	    HARNESS_DEADLINE_MS));
	/* The expired go in maint's pass: reclaimed moves without a store. */
	fd = harness_connect(srv.port);
	harness_cmd(fd, "flush_all\r\n", "OK\r\n", reply, sizeof reply);
	harness_close(fd);
	deadline = harness_now_ms() + HARNESS_DEADLINE_MS;
	while (counter("reclaimed") == 0 && harness_now_ms() < deadline)
		harness_nap();
	ck_assert(counter("reclaimed") > 0);
	ck_assert(counter("crawler_reclaimed") > 0);
	/* A reset zeroes the counters, not the gauges. */
	fd = harness_connect(srv.port);
	harness_cmd(fd, "stats reset\r\n", "\r\n", reply, sizeof reply);
	ck_assert_str_eq(reply, "RESET\r\n");
	/* The connections counter() closed may still be on their way out
	 * in another worker: curr_connections is a gauge, so wait for it. */
	deadline = harness_now_ms() + HARNESS_DEADLINE_MS;
	for (;;) {
		harness_cmd(fd, "stats\r\n", "END\r\n", reply, sizeof reply);
		if (number(reply, "curr_connections") == 1 ||
		    harness_now_ms() >= deadline)
			break;
		harness_nap();
	}
	ck_assert_double_eq(number(reply, "store_too_large"), 0);
	ck_assert_double_eq(number(reply, "store_no_memory"), 0);
	ck_assert_double_eq(number(reply, "cmd_set"), 0);
	ck_assert_double_eq(number(reply, "reclaimed"), 0);
	ck_assert_double_eq(number(reply, "total_connections"), 0);
	ck_assert_double_eq(number(reply, "curr_connections"), 1);
	harness_close(fd);
}
END_TEST

START_TEST(test_detail_and_cachedump)
{
	int fd;

	harness_server_start(&srv, "srv", 2, NULL);
	fd = harness_connect(srv.port);
	harness_cmd(fd, "stats detail on\r\n", "\r\n", reply, sizeof reply);
	ck_assert_str_eq(reply, "OK\r\n");
	harness_cmd(
	    fd, "set foo:a 0 0 1\r\nx\r\n", "\r\n", reply, sizeof reply);
	harness_cmd(
	    fd, "get foo:a foo:b bar\r\n", "END\r\n", reply, sizeof reply);
	harness_cmd(fd, "delete foo:x\r\n", "\r\n", reply, sizeof reply);
	harness_cmd(
	    fd, "stats detail dump\r\n", "END\r\n", reply, sizeof reply);
	ck_assert_str_eq(
	    reply, "PREFIX foo get 2 hit 1 set 1 del 1\r\nEND\r\n");
	harness_cmd(fd, "stats detail\r\n", "\r\n", reply, sizeof reply);
	ck_assert_str_eq(
	    reply, "CLIENT_ERROR usage: stats detail on|off|dump\r\n");
	harness_cmd(fd, "stats items\r\n", "END\r\n", reply, sizeof reply);
	ck_assert_ptr_nonnull(strstr(reply, "STAT items:1:number 1\r\n"));
	harness_cmd(
	    fd, "stats cachedump 1 0\r\n", "END\r\n", reply, sizeof reply);
	ck_assert_str_eq(reply, "ITEM foo:a [1 b; 0 s]\r\nEND\r\n");
	harness_cmd(
	    fd, "stats cachedump 999 1\r\n", "\r\n", reply, sizeof reply);
	ck_assert_str_eq(reply, "CLIENT_ERROR Illegal slab id\r\n");
	harness_cmd(fd, "stats sizes\r\n", "END\r\n", reply, sizeof reply);
	ck_assert_str_eq(reply, "STAT sizes_status disabled\r\nEND\r\n");
	harness_cmd(fd, "stats nonsense\r\n", "\r\n", reply, sizeof reply);
	ck_assert_str_eq(reply, "ERROR\r\n");
	harness_cmd(fd, "stats reset\r\n", "\r\n", reply, sizeof reply);
	harness_cmd(
	    fd, "stats detail dump\r\n", "END\r\n", reply, sizeof reply);
	ck_assert_str_eq(reply, "END\r\n");
	harness_close(fd);
}
END_TEST

int
main(void)
{
	const TTest *tests[] = {test_exporter_exchange, test_memcached_tool,
	    test_counters_move, test_detail_and_cachedump, NULL};

	return harness_run_suite(
	    &(struct harness_suite){
	        .name = "stats_groups", .server = &srv, .timeout = 120},
	    tests);
}
