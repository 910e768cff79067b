/* The ASCII protocol without sockets: bytes in, reply bytes out. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bufpool.h"
#include "cache.h"
#include "counter.h"
#include "log.h"
#include "log_event.h"
#include "obuf.h"
#include "proto_slowlog.h"
#include "proto_text.h"
#include "tl_build.h"
#include "unit.h"

#define V "VERSION " TL_WIRE_VERSION "\r\n"

static struct obuf out;
static enum proto_action action;
static size_t used;
static struct cache_stats cst;
static struct proto_ctx ctx;
static char *flat;

/* What the protocol asked of its hooks. */
static struct {
	char group[32];
	int stats;
} asked;

static int
stats_hook(const char *group, size_t len, struct obuf *o)
{
	asked.stats++;
	snprintf(asked.group, sizeof asked.group, "%.*s", (int)len, group);
	if (len == 8 && memcmp(group, "nonsense", 8) == 0)
		return -1;
	obuf_printf(o, "STAT group %s\r\nEND\r\n", asked.group);
	return 0;
}

static void
setup(void)
{
	memset(&asked, 0, sizeof asked);
	proto_init(&(struct proto_config){0},
	    &(struct proto_callbacks){.stats = stats_hook});
	obuf_init(&out, NULL);
	log_set_level(LOG_LVL_WARN); /* keep stderr quiet */
	ck_assert_int_eq(cache_init(&(struct cache_config){
	                     .limit = 8 << 20, .item_max = 1024 * 1024}),
	    0);
	memset(&cst, 0, sizeof cst);
	memset(&ctx, 0, sizeof ctx);
	ctx.st = &cst;
}

static void
teardown(void)
{
	obuf_free(&out);
	free(flat);
	flat = NULL;
	cache_free();
}

/* Run len bytes of in through one connection's protocol state, the
 * reply left in out. */
static void
run(const char *in, size_t len)
{
	obuf_free(&out);
	used = proto_text_process(&ctx, in, len, &out, &action);
}

/* The reply in out, text and referenced values in order, as a string;
 * out is left empty. */
static const char *
drain(void)
{
	struct iovec iov[64];
	size_t n = 0;
	int k;

	free(flat);
	flat = malloc(obuf_pending(&out) + 1);
	while (obuf_pending(&out) > 0) {
		size_t got = 0;

		k = obuf_iov(&out, iov, 64);
		for (int i = 0; i < k; i++) {
			memcpy(flat + n + got, iov[i].iov_base, iov[i].iov_len);
			got += iov[i].iov_len;
		}
		n += got;
		obuf_consume(&out, got);
	}
	flat[n] = '\0';
	return flat;
}

/* Feed len bytes of in; return the reply as a string. */
static const char *
feed(const char *in, size_t len)
{
	run(in, len);
	return drain();
}
#define FEED(s) feed(s, strlen(s))

START_TEST(test_version_and_unknown)
{
	ck_assert_str_eq(FEED("version\r\n"), V);
	ck_assert_uint_eq(used, 9);
	ck_assert_str_eq(FEED("version extra\n"), V);
	ck_assert_str_eq(FEED("VERSION\r\n"), "ERROR\r\n");
	ck_assert_str_eq(FEED("bogus\r\n"), "ERROR\r\n");
	ck_assert_str_eq(FEED("\r\n"), "ERROR\r\n");
	ck_assert_str_eq(FEED("stats nonsense\r\n"), "ERROR\r\n");
	ck_assert_int_eq(action, PROTO_CONTINUE);
}
END_TEST

START_TEST(test_pipelined_in_order)
{
	ck_assert_str_eq(
	    FEED("version\r\nbogus\r\nversion\r\n"), V "ERROR\r\n" V);
}
END_TEST

START_TEST(test_partial_line_waits)
{
	ck_assert_str_eq(FEED("vers"), "");
	ck_assert_uint_eq(used, 0);
	ck_assert_str_eq(FEED("version\r\nver"), V);
	ck_assert_uint_eq(used, 9);
}
END_TEST

START_TEST(test_verbosity)
{
	ck_assert_str_eq(FEED("verbosity\r\n"), "ERROR\r\n");
	/* As that many -v: 1 each connection (info), 0 the default. */
	ck_assert_str_eq(FEED("verbosity 1\r\n"), "OK\r\n");
	ck_assert_int_eq(log_verbosity, LOG_LVL_INFO);
	ck_assert_str_eq(FEED("verbosity 0 noreply\r\n"), "");
	ck_assert_int_eq(log_verbosity, LOG_LVL_NOTICE);
	ck_assert_str_eq(FEED("verbosity x\r\n"),
	    "CLIENT_ERROR bad command line format\r\n");
	ck_assert_str_eq(FEED("verbosity -1\r\n"),
	    "CLIENT_ERROR bad command line format\r\n");
	ck_assert_str_eq(FEED("verbosity 99999999999999999999\r\n"),
	    "CLIENT_ERROR bad command line format\r\n");
	ck_assert_str_eq(FEED("verbosity 1 2 3\r\n"), "ERROR\r\n");
	ck_assert_int_eq(log_verbosity, LOG_LVL_NOTICE);
	/* A number is no thread's name: memcached ignores it, as here. */
	ck_assert_str_eq(FEED("verbosity 1 2\r\n"), "OK\r\n");
	ck_assert_int_eq(log_verbosity, LOG_LVL_INFO);
	ck_assert_str_eq(FEED("verbosity 0 2 noreply\r\n"), "ERROR\r\n");
	ck_assert_int_eq(log_verbosity, LOG_LVL_INFO);
	ck_assert_str_eq(FEED("verbosity 0 +2\r\n"), "OK\r\n");
	ck_assert_int_eq(log_verbosity, LOG_LVL_NOTICE);
	/* A name is looked up, with noreply after it too. */
	ck_assert_str_eq(FEED("verbosity 1 nosuch\r\n"),
	    "CLIENT_ERROR no such thread or role\r\n");
	ck_assert_str_eq(FEED("verbosity 1 nosuch noreply\r\n"), "");
	ck_assert_str_eq(FEED("verbosity 1 nosuch junk\r\n"), "ERROR\r\n");
	ck_assert_int_eq(log_verbosity, LOG_LVL_NOTICE);
}
END_TEST

START_TEST(test_quit_stops_processing)
{
	ck_assert_str_eq(FEED("version\r\nquit\r\nversion\r\n"), V);
	ck_assert_int_eq(action, PROTO_QUIT);
	ck_assert_uint_eq(used, 15);
}
END_TEST

/* An HTTP request line stops everything after it, unanswered, as in
 * memcached; a known command ending in HTTP/ is still that command. */
START_TEST(test_http_request_line)
{
	static const char *const lines[] = {"POST / HTTP/1.1\r\nflush_all\r\n",
	    "GET / HTTP/1.0\r\nversion\r\n", "HTTP/1.0\r\nversion\r\n"};

	for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++) {
		ck_assert_str_eq(FEED(lines[i]), "");
		ck_assert_int_eq(action, PROTO_HTTP);
	}
	ck_assert_str_eq(FEED("set / HTTP/1.1\r\n"), "ERROR\r\n");
	ck_assert_int_eq(action, PROTO_CONTINUE);
	ck_assert_str_eq(FEED("POST / http/1.1\r\n"), "ERROR\r\n");
}
END_TEST

START_TEST(test_line_too_long)
{
	size_t n = PROTO_LINE_MAX + 1;
	char *line = malloc(n);

	memset(line, 'x', n);
	/* Without a newline yet: dropped, as memcached, without a reply. */
	ck_assert_str_eq(feed(line, n), "");
	ck_assert_int_eq(action, PROTO_TOO_LONG);
	/* Whatever came before it in the same read is answered. */
	{
		char both[PROTO_LINE_MAX + 32] = "mn\r\n";
		size_t at = strlen(both);

		memset(both + at, 'x', sizeof both - at);
		ck_assert_str_eq(feed(both, sizeof both), "MN\r\n");
		ck_assert_int_eq(action, PROTO_TOO_LONG);
	}
	/* gat is no get here: memcached drops it too. */
	memcpy(line, "gat 0 ", 6);
	ck_assert_str_eq(feed(line, n), "");
	ck_assert_int_eq(action, PROTO_TOO_LONG);
	/* A get after 100 spaces is not one any more; after 3 it is. */
	memset(line, ' ', n);
	memcpy(line + 101, "get ", 4);
	ck_assert_str_eq(feed(line, n), "");
	ck_assert_int_eq(action, PROTO_TOO_LONG);
	memset(line, 'k', n);
	memcpy(line, "   get ", 7);
	ck_assert_str_eq(feed(line, n), "");
	ck_assert_int_eq(action, PROTO_CONTINUE);
	/* With its end, a long line is refused with a reply. */
	memset(line, 'x', n);
	line[n - 1] = '\n';
	{
		char *longer = malloc(n + 1);

		memset(longer, 'x', n + 1);
		longer[n] = '\n';
		ck_assert_str_eq(
		    feed(longer, n + 1), "CLIENT_ERROR line too long\r\n");
		ck_assert_int_eq(action, PROTO_CLOSE);
		free(longer);
	}
	/* Exactly at the limit is still a line. */
	line[PROTO_LINE_MAX] = '\n';
	ck_assert_str_eq(feed(line, n), "ERROR\r\n");
	ck_assert_int_eq(action, PROTO_CONTINUE);
	free(line);
}
END_TEST

START_TEST(test_key_lists_may_be_long)
{
	size_t n = 100000;
	char *line = malloc(n + 2);

	memset(line, 'k', n);
	memcpy(line, "gets ", 5);
	for (size_t i = 10; i < n; i += 10)
		line[i] = ' ';
	ck_assert_str_eq(feed(line, n), "");
	ck_assert_int_eq(action, PROTO_CONTINUE);
	ck_assert_uint_eq(used, 0);
	free(line);
}
END_TEST

/* get, gets, gat and gats, and only they, take more than 24 tokens and
 * lines past PROTO_LINE_MAX. */
START_TEST(test_retrieval_commands)
{
	static const char *const names[] = {"get", "gets", "gat 0", "gats 0"};
	static const char *const others[] = {"getx", "touch", "delete"};
	char line[PROTO_LINE_MAX + 64];

	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
		int n = snprintf(line, sizeof line, "%s", names[i]);

		for (int k = 0; k < 30; k++)
			n += snprintf(
			    line + n, sizeof line - (size_t)n, " k%d", k);
		memcpy(line + n, "\r\n", 3);
		ck_assert_str_eq(FEED(line), "END\r\n");
		memset(line + n, 'k', sizeof line - (size_t)n);
		/* With no line end yet, only get and gets may be that
		 * long (memcached). */
		ck_assert_str_eq(feed(line, sizeof line), "");
		ck_assert_int_eq(
		    action, i < 2 ? PROTO_CONTINUE : PROTO_TOO_LONG);
	}
	for (size_t i = 0; i < sizeof others / sizeof others[0]; i++) {
		int n = snprintf(line, sizeof line, "%s", others[i]);

		for (int k = 0; k < 30; k++)
			n += snprintf(
			    line + n, sizeof line - (size_t)n, " k%d", k);
		memcpy(line + n, "\r\n", 3);
		ck_assert_str_eq(FEED(line), "ERROR\r\n");
		memset(line + n, 'k', sizeof line - (size_t)n);
		ck_assert_str_eq(feed(line, sizeof line), "");
		ck_assert_int_eq(action, PROTO_TOO_LONG);
	}
}
END_TEST

/* "stats [GROUP]" is the server's to answer, through the hook. */
START_TEST(test_stats_goes_to_the_hook)
{
	ck_assert_str_eq(FEED("stats\r\n"), "STAT group \r\nEND\r\n");
	ck_assert_str_eq(
	    FEED("stats threads\r\n"), "STAT group threads\r\nEND\r\n");
	ck_assert_str_eq(FEED("stats nonsense\r\n"), "ERROR\r\n");
	ck_assert_int_eq(asked.stats, 3);
	proto_init(&(struct proto_config){0}, &(struct proto_callbacks){0});
	ck_assert_str_eq(FEED("stats\r\n"), "ERROR\r\n");
	ck_assert_int_eq(asked.stats, 3);
}
END_TEST

/* What the connection carries out comes back as an action. */
/* access_log on|off switches the access lines for every connection. */
START_TEST(test_access_log_switch)
{
	bool was = log_access_enabled();

	ck_assert_str_eq(FEED("access_log on\r\n"), "OK\r\n");
	ck_assert(log_access_enabled());
	ck_assert_str_eq(FEED("access_log off\r\n"), "OK\r\n");
	ck_assert(!log_access_enabled());
	ck_assert_str_eq(FEED("access_log on noreply\r\n"), "");
	ck_assert(log_access_enabled());
	ck_assert_str_eq(FEED("access_log\r\naccess_log yes\r\n"
	                      "access_log on off\r\n"),
	    "CLIENT_ERROR usage: access_log on|off\r\n"
	    "CLIENT_ERROR usage: access_log on|off\r\n"
	    "CLIENT_ERROR usage: access_log on|off\r\n");
	atomic_store(&log_access_on, was);
}
END_TEST

/* A failed add or ms ME is a use of the item, not a read: me and mg h
 * say it was not fetched, as memcached's. */
START_TEST(test_failed_add_unfetched)
{
	const char *r;

	ck_assert_str_eq(FEED("set a 0 0 1\r\nA\r\nadd a 0 0 1\r\nB\r\n"),
	    "STORED\r\nNOT_STORED\r\n");
	r = FEED("me a\r\n");
	ck_assert_msg(strstr(r, " fetch=no ") != NULL, "%s", r);
	ck_assert_str_eq(FEED("ms a 1 ME\r\nB\r\nmg a h\r\nmg a h v\r\n"),
	    "NS\r\nHD h0\r\nVA 1 h1\r\nA\r\n");
	r = FEED("me a\r\n");
	ck_assert_msg(strstr(r, " fetch=yes ") != NULL, "%s", r);
}
END_TEST

/* lru_crawler metadump: memcached's lines for every item, its errors. */
START_TEST(test_metadump)
{
	const char *r;
	char *all;

	ck_assert_str_eq(FEED("set a%b 0 0 1\r\nx\r\n"), "STORED\r\n");
	r = FEED("lru_crawler metadump all\r\n");
	ck_assert_msg(strncmp(r, "key=a%25b exp=-1 la=", 20) == 0, "%s", r);
	ck_assert_ptr_nonnull(strstr(r, " cas=1 fetch=no cls=1 size="));
	ck_assert_str_eq(r + strlen(r) - 6, "\nEND\r\n");
	all = strdup(r);
	ck_assert_str_eq(FEED("lru_crawler metadump 1\r\n"), all);
	free(all);
	ck_assert_str_eq(FEED("lru_crawler metadump 2\r\n"), "END\r\n");
	ck_assert_str_eq(FEED("lru_crawler metadump 999\r\n"),
	    "BADCLASS invalid class id\r\n");
	ck_assert_str_eq(FEED("lru_crawler metadump\r\n"), "ERROR\r\n");
	/* Not after another request in the same read, as memcached. */
	ck_assert_str_eq(FEED("mg zz v\r\nlru_crawler metadump all\r\n"),
	    "EN\r\nERROR cannot pipeline other commands before metadump\r\n");
	ck_assert_str_eq(
	    FEED("delete zz noreply\r\nlru_crawler metadump all\r\n"),
	    "ERROR cannot pipeline other commands before metadump\r\n");
	ck_assert_str_eq(FEED("lru_crawler tocrawl 1\r\n"), "OK\r\n");
	/* Nor the flushed items, still in the table, nor the expired. */
	ck_assert_str_eq(FEED("flush_all\r\n"), "OK\r\n");
	ck_assert_str_eq(FEED("set e 0 -1 1\r\nx\r\n"), "STORED\r\n");
	ck_assert_str_eq(FEED("lru_crawler metadump all\r\n"), "END\r\n");
	ck_assert_str_eq(FEED("set b 0 0 1\r\nx\r\n"), "STORED\r\n");
	r = FEED("lru_crawler metadump all\r\n");
	ck_assert_msg(strncmp(r, "key=b exp=-1 ", 13) == 0, "%s", r);
	proto_init(&(struct proto_config){.no_dump = true},
	    &(struct proto_callbacks){0});
	ck_assert_str_eq(FEED("lru_crawler metadump all\r\n"),
	    "ERROR metadump not allowed\r\n");
}
END_TEST

/* A maint hook that records what it was asked. */
static bool fake_crawler = true;
static unsigned fake_last_op = 99, fake_last_arg;
static bool fake_want[256];

static int
fake_maint(enum proto_maint_op op, unsigned arg, const bool *want)
{
	fake_last_op = op;
	fake_last_arg = arg;
	switch (op) {
	case PROTO_CRAWLER_ENABLED:
		return fake_crawler;
	case PROTO_CRAWLER_ENABLE:
		if (fake_crawler)
			return -1;
		fake_crawler = true;
		return 0;
	case PROTO_CRAWLER_DISABLE:
		fake_crawler = false;
		return 0;
	case PROTO_CRAWL:
		memcpy(fake_want, want, sizeof fake_want);
		return 0;
	default:
		return 0;
	}
}

/* lru_crawler's and slabs' maintenance commands reach the hook with what
 * they parsed; a disabled crawler refuses crawl and metadump. */
START_TEST(test_maint_commands)
{
	proto_init(&(struct proto_config){0},
	    &(struct proto_callbacks){.maint = fake_maint});
	ck_assert_str_eq(FEED("lru_crawler crawl 1,,3\r\n"), "OK\r\n");
	ck_assert_uint_eq(fake_last_op, PROTO_CRAWL);
	ck_assert(fake_want[1] && !fake_want[2] && fake_want[3]);
	ck_assert_str_eq(
	    FEED("lru_crawler crawl 64\r\n"), "BADCLASS invalid class id\r\n");
	ck_assert_str_eq(FEED("lru_crawler sleep 250\r\n"), "OK\r\n");
	ck_assert_uint_eq(fake_last_op, PROTO_CRAWLER_SLEEP);
	ck_assert_uint_eq(fake_last_arg, 250);
	ck_assert_str_eq(FEED("lru_crawler sleep 1000001\r\n"),
	    "CLIENT_ERROR sleep must be one second or less\r\n");
	ck_assert_str_eq(FEED("lru_crawler enable\r\n"),
	    "ERROR failed to start lru crawler thread\r\n");
	ck_assert_str_eq(FEED("lru_crawler disable\r\n"), "OK\r\n");
	ck_assert_str_eq(FEED("lru_crawler crawl all\r\n"),
	    "CLIENT_ERROR lru crawler disabled\r\n");
	ck_assert_str_eq(FEED("lru_crawler metadump all\r\n"),
	    "CLIENT_ERROR lru crawler disabled\r\n");
	ck_assert_str_eq(FEED("lru_crawler enable\r\n"), "OK\r\n");
	ck_assert_str_eq(FEED("slabs automove 2\r\n"), "OK\r\n");
	ck_assert_uint_eq(fake_last_op, PROTO_AUTOMOVE);
	ck_assert_uint_eq(fake_last_arg, 2);
	ck_assert_str_eq(FEED("slabs automove 3\r\n"), "ERROR\r\n");
	ck_assert_str_eq(FEED("slabs automove 0 noreply\r\n"), "");
	ck_assert_str_eq(FEED("slabs reassign 1 1\r\n"),
	    "SAME src and dst class are identical\r\n");
	ck_assert_str_eq(FEED("slabs reassign x 1\r\n"),
	    "CLIENT_ERROR bad command line format\r\n");
	proto_init(&(struct proto_config){0}, &(struct proto_callbacks){0});
}
END_TEST

START_TEST(test_actions)
{
	ck_assert_str_eq(FEED("flush_all\r\n"), "OK\r\n");
	ck_assert_uint_eq(stat_get(&cst.cmd_flush), 1);
	ck_assert_str_eq(FEED("version\r\nquit\r\nversion\r\n"), V);
	ck_assert_int_eq(action, PROTO_QUIT);
	/* Without a connection there is nothing to stream to. */
	ck_assert_str_eq(FEED("watch\r\n"), "ERROR\r\n");
	ck_assert_int_eq(action, PROTO_CONTINUE);
	ctx.peer = "127.0.0.1:5";
	ck_assert_str_eq(
	    FEED("watch level=warn category=access\r\n"), "OK\r\n");
	ck_assert_int_eq(action, PROTO_WATCH);
	ck_assert_int_eq(ctx.watch.level, LOG_LVL_WARN);
	ck_assert_uint_eq(ctx.watch.categories, 1u << LOG_CAT_ACCESS);
	/* memcached's watcher words ask for its events. */
	ck_assert_str_eq(
	    FEED("watch fetchers mutations evictions connevents rawcmds\r\n"),
	    "OK\r\n");
	ck_assert_uint_eq(ctx.watch.categories,
	    1u << LOG_EV_FETCH | 1u << LOG_EV_MUTATION | 1u << LOG_EV_EVICTION |
	        1u << LOG_EV_CONN | LOG_FILTER_NOTHING);
	ck_assert_ptr_nonnull(strstr(FEED("watch deletions\r\n"),
	    "CLIENT_ERROR bad watch filter 'deletions'"));
	ck_assert_ptr_nonnull(strstr(FEED("watch level=loud\r\n"),
	    "CLIENT_ERROR bad watch filter 'level=loud'"));
	ck_assert_int_eq(action, PROTO_CONTINUE);
	proto_init(&(struct proto_config){.shutdown = true},
	    &(struct proto_callbacks){0});
	ck_assert_str_eq(FEED("shutdown\r\nversion\r\n"), "");
	ck_assert_int_eq(action, PROTO_SHUTDOWN);
}
END_TEST

START_TEST(test_storage_and_retrieval)
{
	ck_assert_str_eq(FEED("set k 7 0 3\r\nabc\r\n"), "STORED\r\n");
	ck_assert_str_eq(FEED("get k nope k\r\n"),
	    "VALUE k 7 3\r\nabc\r\nVALUE k 7 3\r\n"
	    "abc\r\nEND\r\n");
	ck_assert_str_eq(FEED("add k 0 0 1\r\nx\r\n"), "NOT_STORED\r\n");
	ck_assert_str_eq(FEED("replace nope 0 0 1\r\nx\r\n"), "NOT_STORED\r\n");
	ck_assert_str_eq(FEED("append k 0 0 2\r\nde\r\n"), "STORED\r\n");
	ck_assert_str_eq(FEED("prepend k 0 0 1\r\n_\r\n"), "STORED\r\n");
	ck_assert_str_eq(FEED("get k\r\n"), "VALUE k 7 6\r\n_abcde\r\nEND\r\n");
	ck_assert_str_eq(FEED("append nope 0 0 1\r\nx\r\n"), "NOT_STORED\r\n");
	ck_assert_str_eq(FEED("set e 0 0 0\r\n\r\nget e\r\n"),
	    "STORED\r\nVALUE e 0 0\r\n\r\nEND\r\n");
	ck_assert_str_eq(FEED("delete k\r\ndelete k\r\nget k\r\n"),
	    "DELETED\r\nNOT_FOUND\r\nEND\r\n");
	ck_assert_str_eq(FEED("delete e 0\r\n"), "DELETED\r\n");
	ck_assert_uint_eq(stat_get(&cst.cmd_set), 7);
	ck_assert_uint_eq(stat_get(&cst.delete_hits), 2);
}
END_TEST

START_TEST(test_cas)
{
	char cmd[128];
	const char *r;
	unsigned long long cas;

	FEED("set c 0 0 1\r\na\r\n");
	r = FEED("gets c\r\n");
	ck_assert_int_eq(sscanf(r, "VALUE c 0 1 %llu\r\n", &cas), 1);
	snprintf(cmd, sizeof cmd, "cas c 0 0 1 %llu\r\nb\r\n", cas + 1);
	ck_assert_str_eq(FEED(cmd), "EXISTS\r\n");
	snprintf(cmd, sizeof cmd, "cas c 0 0 1 %llu\r\nb\r\n", cas);
	ck_assert_str_eq(FEED(cmd), "STORED\r\n");
	ck_assert_str_eq(FEED(cmd), "EXISTS\r\n");
	ck_assert_str_eq(FEED("cas nope 0 0 1 1\r\nb\r\n"), "NOT_FOUND\r\n");
	ck_assert_uint_eq(stat_get(&cst.cas_hits), 1);
	ck_assert_uint_eq(stat_get(&cst.cas_badval), 2);
	ck_assert_uint_eq(stat_get(&cst.cas_misses), 1);
}
END_TEST

START_TEST(test_arith)
{
	ck_assert_str_eq(FEED("incr n 1\r\n"), "NOT_FOUND\r\n");
	FEED("set n 0 0 3\r\n100\r\n");
	ck_assert_str_eq(FEED("decr n 1\r\n"), "99\r\n");
	/* In place, padded like memcached. */
	ck_assert_str_eq(FEED("get n\r\n"), "VALUE n 0 3\r\n99 \r\nEND\r\n");
	ck_assert_str_eq(FEED("decr n 1000\r\n"), "0\r\n");
	ck_assert_str_eq(
	    FEED("set n 0 0 20\r\n18446744073709551615\r\nincr n 2\r\n"),
	    "STORED\r\n1\r\n");
	ck_assert_str_eq(FEED("incr n abc\r\n"),
	    "CLIENT_ERROR invalid numeric delta argument\r\n");
	ck_assert_str_eq(FEED("incr n -1\r\n"),
	    "CLIENT_ERROR invalid numeric delta argument\r\n");
	FEED("set t 0 0 2\r\nhi\r\n");
	ck_assert_str_eq(FEED("incr t 1\r\n"),
	    "CLIENT_ERROR cannot increment or decrement non-numeric value\r\n");
	ck_assert_str_eq(FEED("incr n 1 noreply\r\nget n\r\n"),
	    "VALUE n 0 20\r\n2"
	    "                   "
	    "\r\nEND\r\n");
	/* A reply still holding the old value: a copy, same length. */
	ck_assert_str_eq(
	    FEED("set p 0 0 3\r\n100\r\nget p\r\ndecr p 95\r\nget p\r\n"),
	    "STORED\r\nVALUE p 0 3\r\n100\r\nEND\r\n5\r\n"
	    "VALUE p 0 3\r\n5  \r\nEND\r\n");
}
END_TEST

/* A value is read as memcached's strtoull reads it: leading white space,
 * a sign, leading zeros, and anything after a white space byte pass; a
 * negative number, overflow and other trailing bytes do not. */
START_TEST(test_arith_values_as_strtoull)
{
	static const char *const ok[][2] = {{" 12", "13"}, {"+5", "6"},
	    {"12 abc", "13"}, {"-0", "1"}, {"1\t2", "2"}, {"\n5", "6"},
	    {"00000000000000000000000000000000012", "13"},
	    {"-18446744073709551615", "2"}};
	static const char *const bad[] = {
	    "-1", "18446744073709551616", "5-", "- 5", " ", "+", "x1"};
	char req[128], want[64];

	for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
		snprintf(req, sizeof req, "set v 0 0 %zu\r\n%s\r\nincr v 1\r\n",
		    strlen(ok[i][0]), ok[i][0]);
		snprintf(want, sizeof want, "STORED\r\n%s\r\n", ok[i][1]);
		ck_assert_str_eq(FEED(req), want);
	}
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		snprintf(req, sizeof req, "set v 0 0 %zu\r\n%s\r\ndecr v 1\r\n",
		    strlen(bad[i]), bad[i]);
		ck_assert_str_eq(FEED(req),
		    "STORED\r\nCLIENT_ERROR cannot increment or decrement "
		    "non-numeric value\r\n");
	}
	/* ma reads the value the same way; a delta may have any number of
	 * leading zeros, as memcached's token is read whole. */
	ck_assert_str_eq(FEED("set v 0 0 3\r\n 12\r\nma v v\r\n"),
	    "STORED\r\nVA 2\r\n13\r\n");
	memset(req, '0', 100);
	memcpy(req, "incr v ", 7);
	memcpy(req + 100, "1\r\n", 4);
	ck_assert_str_eq(feed(req, 104), "14\r\n");
}
END_TEST

/* memcached's strtoul/strtol rules: '+' and "-0" pass, flags keep their
 * low 32 bits, exptime its low 32 bits (9999999999 is in 2014). */
START_TEST(test_numbers_as_memcached)
{
	ck_assert_str_eq(FEED("set f 4294967297 0 1\r\nx\r\nget f\r\n"),
	    "STORED\r\nVALUE f 1 1\r\nx\r\nEND\r\n");
	ck_assert_str_eq(FEED("set f -1 0 1\r\nx\r\n"),
	    "CLIENT_ERROR bad command line format\r\nERROR\r\n");
	ck_assert_str_eq(FEED("set f -0 +0 +1\r\ny\r\nget f\r\n"),
	    "STORED\r\nVALUE f 0 1\r\ny\r\nEND\r\n");
	ck_assert_str_eq(FEED("set f 0 9999999999 1\r\nx\r\nget f\r\n"),
	    "STORED\r\nEND\r\n");
	ck_assert_str_eq(FEED("set f 0 0 1x\r\n"),
	    "CLIENT_ERROR bad command line format\r\n");
	ck_assert_str_eq(FEED("set f 0 0 18446744073709551616\r\n"),
	    "CLIENT_ERROR bad command line format\r\n");
	ck_assert_str_eq(FEED("cache_memlimit abc\r\n"), "ERROR\r\n");
	ck_assert_str_eq(FEED("cache_memlimit +64\r\n"), "OK\r\n");
	ck_assert_str_eq(FEED("delete a b c d\r\n"), "ERROR\r\n");
}
END_TEST

/* noreply counts as the last token, as memcached's set_noreply_maybe:
 * with too few words before it the error it silences is the argument's;
 * a word count out of range is ERROR all the same. */
START_TEST(test_noreply_last_token)
{
	ck_assert_str_eq(FEED("touch  0 noreply\r\n"), "");
	ck_assert_str_eq(FEED("decr  +3 noreply\r\n"), "");
	ck_assert_str_eq(FEED("append  1 0 1 noreply\r\n"), "");
	ck_assert_str_eq(FEED("cas k 0 0 1 noreply\r\n"), "");
	ck_assert_str_eq(FEED("delete noreply\r\n"), "NOT_FOUND\r\n");
	ck_assert_str_eq(FEED("delete a b noreply\r\n"), "");
	ck_assert_str_eq(FEED("delete a 0 0 noreply\r\n"), "ERROR\r\n");
	ck_assert_str_eq(FEED("flush_all 0 0 noreply\r\n"), "ERROR\r\n");
	ck_assert_uint_eq(stat_get(&cst.cmd_flush), 0);
	ck_assert_str_eq(FEED("cache_memlimit 1 2 noreply\r\n"), "ERROR\r\n");
	ck_assert_str_eq(FEED("cache_memlimit noreply\r\n"), "");
	ck_assert_str_eq(FEED("touch noreply\r\n"), "ERROR\r\n");
	/* Under -F too, and a refused flush_all is counted, as there. */
	proto_init(&(struct proto_config){.no_flush = true},
	    &(struct proto_callbacks){0});
	ck_assert_str_eq(FEED("flush_all noreply\r\n"), "");
	ck_assert_str_eq(
	    FEED("flush_all\r\n"), "CLIENT_ERROR flush_all not allowed\r\n");
	ck_assert_uint_eq(stat_get(&cst.cmd_flush), 2);
}
END_TEST

START_TEST(test_data_block_framing)
{
	/* The block arrives later: nothing consumed, need says how much. */
	ck_assert_str_eq(FEED("set k 0 0 10\r\n01234"), "");
	ck_assert_uint_eq(used, 0);
	ck_assert_uint_eq(ctx.need, 14 + 12);
	ck_assert_str_eq(FEED("set k 0 0 10\r\n0123456789\r\n"), "STORED\r\n");
	/* Longer than declared: the error, then the rest parsed as a line. */
	ck_assert_str_eq(FEED("set k 0 0 1\r\nabc\r\n"),
	    "CLIENT_ERROR bad data chunk\r\nERROR\r\n");
	/* Too large: refused and swallowed across feeds, even split. */
	ck_assert_str_eq(FEED("set big 0 0 2000000\r\nxx"),
	    "SERVER_ERROR object too large for cache\r\n");
	ck_assert_uint_eq(ctx.skip, 2000000);
	ctx.skip = 3;
	ck_assert_str_eq(FEED("x\r\nversion\r\n"), V);
	ck_assert_str_eq(FEED("set k 0 0 -1\r\n"),
	    "CLIENT_ERROR bad command line format\r\n");
	ck_assert_str_eq(FEED("set k abc 0 1\r\n"),
	    "CLIENT_ERROR bad command line format\r\n");
	ck_assert_str_eq(FEED("set k 0 0\r\n"), "ERROR\r\n");
	ck_assert_str_eq(FEED("set k 0 0 1 noreply\r\nz\r\nget k\r\n"),
	    "VALUE k 0 1\r\nz\r\nEND\r\n");
}
END_TEST

START_TEST(test_keys)
{
	char line[400];

	memset(line, 'k', sizeof line);
	memcpy(line, "get ", 4);
	memcpy(line + 4 + 250, "\r\n", 2);
	ck_assert_str_eq(feed(line, 4 + 252), "END\r\n");
	memcpy(line + 4 + 251, "\r\n", 2);
	ck_assert_str_eq(
	    feed(line, 4 + 253), "CLIENT_ERROR bad command line format\r\n");
	/* Control bytes are key bytes, as in memcached. */
	ck_assert_str_eq(FEED("set a\x01\x10"
	                      "b 0 0 1\r\nv\r\nget a\x01\x10"
	                      "b\r\n"),
	    "STORED\r\nVALUE a\x01\x10"
	    "b 0 1\r\nv\r\nEND\r\n");
	ck_assert_str_eq(FEED("get\r\n"), "ERROR\r\n");
}
END_TEST

START_TEST(test_expiry_touch_flush)
{
	ck_assert_str_eq(
	    FEED("set x 0 -1 1\r\na\r\nget x\r\n"), "STORED\r\nEND\r\n");
	ck_assert_str_eq(FEED("set y 0 1000 1\r\nb\r\ntouch y 0\r\n"),
	    "STORED\r\nTOUCHED\r\n");
	ck_assert_str_eq(FEED("touch nope 0\r\n"), "NOT_FOUND\r\n");
	ck_assert_ptr_nonnull(strstr(FEED("gats 100 y\r\n"), "VALUE y 0 1 "));
	ck_assert_ptr_nonnull(strstr(flat, "\r\nb\r\nEND\r\n"));
	ck_assert_str_eq(FEED("flush_all\r\nget y\r\n"), "OK\r\nEND\r\n");
	ck_assert_str_eq(FEED("flush_all noreply\r\n"), "");
	ck_assert_str_eq(FEED("flush_all x\r\n"),
	    "CLIENT_ERROR invalid exptime argument\r\n");
	/* Negative or past delays flush now; memcached's 32-bit parse. */
	ck_assert_str_eq(FEED("set z 0 0 1\r\nc\r\nflush_all -1\r\nget z\r\n"),
	    "STORED\r\nOK\r\nEND\r\n");
	ck_assert_str_eq(FEED("flush_all 0 0 0\r\n"), "ERROR\r\n");
	ck_assert_uint_eq(stat_get(&cst.get_flushed), 2);
}
END_TEST

/* The meta commands: replies, q, the end of a pipeline. */
START_TEST(test_meta_basic)
{
	ck_assert_str_eq(FEED("mn\r\nmn a b\r\n"), "MN\r\nMN\r\n");
	ck_assert_str_eq(FEED("ms m1 2 F3 T0 k Oz\r\nhi\r\n"), "HD km1 Oz\r\n");
	ck_assert_str_eq(
	    FEED("mg m1 v f s t k q\r\n"), "VA 2 f3 s2 t-1 km1\r\nhi\r\n");
	ck_assert_str_eq(FEED("mg nope q\r\nmg nope k\r\nmg m1 q\r\nmn\r\n"),
	    "EN knope\r\nHD\r\nMN\r\n");
	ck_assert_str_eq(FEED("md m1 q\r\nmd m1 q\r\nmn\r\n"), "NF\r\nMN\r\n");
	ck_assert_str_eq(FEED("me\r\nmg\r\nme nope\r\n"),
	    "CLIENT_ERROR bad command line format\r\nERROR\r\nEN\r\n");
}
END_TEST

/* Flag errors, in memcached's words and order. */
START_TEST(test_meta_flag_errors)
{
	char line[256];
	int n;

	ck_assert_str_eq(
	    FEED("mg k v v\r\n"), "CLIENT_ERROR duplicate flag\r\n");
	ck_assert_str_eq(FEED("mg k zz\r\n"), "CLIENT_ERROR invalid flag\r\n");
	ck_assert_str_eq(
	    FEED("mg k Nx zz\r\n"), "CLIENT_ERROR invalid flag\r\n");
	ck_assert_str_eq(FEED("mg k Tx\r\n"),
	    "CLIENT_ERROR bad token in command line format\r\n");
	ck_assert_str_eq(
	    FEED("md k x\r\n"), "CLIENT_ERROR invalid or duplicate flag\r\n");
	ck_assert_str_eq(FEED("ma k Mx\r\n"),
	    "CLIENT_ERROR invalid mode for ma M token\r\n");
	/* More than 24 tokens: the meta command answers, not the framing. */
	n = snprintf(line, sizeof line, "mg k");
	for (int i = 0; i < 30; i++)
		n += snprintf(line + n, sizeof line - (size_t)n, " P%d", i);
	memcpy(line + n, "\r\n", 2);
	ck_assert_str_eq(feed(line, (size_t)n + 2),
	    "CLIENT_ERROR options flags are too long\r\n");
}
END_TEST

/* ms: the data block waits for more input; after a flag error it is
 * swallowed, after a bad length it is read as a command. */
START_TEST(test_meta_set_framing)
{
	static const char part[] = "ms f1 5 c\r\nab";

	ck_assert_str_eq(feed(part, sizeof part - 1), "");
	ck_assert_uint_eq(used, 0);
	ck_assert_str_eq(FEED("ms f1 2 zz\r\nmn\r\nmn\r\n"),
	    "CLIENT_ERROR invalid flag\r\nMN\r\n");
	ck_assert_str_eq(FEED("ms f1 x\r\nmn\r\n"),
	    "CLIENT_ERROR bad command line format\r\nMN\r\n");
	ck_assert_str_eq(FEED("ms f1 2\r\nabcd\r\n"),
	    "CLIENT_ERROR bad data chunk\r\nERROR\r\n");
	ck_assert_str_eq(FEED("ms f1 2 ME\r\nab\r\nms f1 2 ME\r\nab\r\n"
	                      "ms f1 2 MA\r\ncd\r\nmg f1 v\r\n"),
	    "HD\r\nNS\r\nHD\r\nVA 4\r\nabcd\r\n");
}
END_TEST

/* Base64 keys, decoded as memcached decodes them, answered in base64. */
START_TEST(test_meta_base64)
{
	ck_assert_str_eq(
	    FEED("ms Zm9vYg== 1 b k\r\nx\r\n"), "HD kZm9vYg== b\r\n");
	ck_assert_str_eq(FEED("mg foob k v\r\n"), "VA 1 kZm9vYg== b\r\nx\r\n");
	ck_assert_str_eq(FEED("mg QQ== b k\r\nmg A=== b\r\nmg abc b\r\n"),
	    "EN kQQ== b\r\nCLIENT_ERROR error decoding key\r\n"
	    "CLIENT_ERROR error decoding key\r\n");
}
END_TEST

/* The win token: N and R hand out W once, Z to the others; md I marks the
 * item stale. ma counts, creates with N and J, checks C. */
START_TEST(test_meta_win_and_arith)
{
	ck_assert_str_eq(
	    FEED("mg w N30 s\r\nmg w N30 s\r\n"), "HD s0 W\r\nHD s0 Z\r\n");
	ck_assert_str_eq(FEED("ms w 1\r\nx\r\nmd w I\r\nmg w\r\nmg w\r\n"),
	    "HD\r\nHD\r\nHD X W\r\nHD Z X\r\n");
	ck_assert_str_eq(FEED("ma n\r\nma n N0 J5 v\r\nma n D10 v\r\n"
	                      "ma n MD D100 v\r\nma n C1\r\nma n q\r\n"),
	    "NF\r\nVA 1\r\n5\r\nVA 2\r\n15\r\nVA 1\r\n0\r\nEX\r\n");
	/* As memcached: an empty value is refused before the CAS is
	 * compared, and a CAS of 0 matches nothing, even with I. */
	ck_assert_str_eq(FEED("ms e 0\r\n\r\nma e C99 v\r\n"),
	    "HD\r\nCLIENT_ERROR cannot increment or decrement non-numeric "
	    "value\r\n");
	ck_assert_str_eq(FEED("ms s 1\r\nA\r\nms s 1 I C0\r\nB\r\nmg s v\r\n"),
	    "HD\r\nEX\r\nVA 1\r\nA\r\n");
}
END_TEST

/* Store under key a value of n bytes of c. */
static void
set_value(const char *key, size_t n, char c)
{
	char *req = malloc(n + 64);
	int h = snprintf(req, 64, "set %s 0 0 %zu\r\n", key, n);

	memset(req + h, c, n);
	memcpy(req + h + n, "\r\n", 2);
	ck_assert_str_eq(feed(req, (size_t)h + n + 2), "STORED\r\n");
	free(req);
}

/* The reply "VALUE key 0 n" and n bytes of c appended to buf at *len. */
static void
want_value(char *buf, size_t *len, const char *key, size_t n, char c)
{
	*len += (size_t)sprintf(buf + *len, "VALUE %s 0 %zu\r\n", key, n);
	memset(buf + *len, c, n);
	*len += n;
	*len += (size_t)sprintf(buf + *len, "\r\n");
}

/* The iovecs of out's pending reply. */
static int
pending_iovs(void)
{
	struct iovec iov[64];

	return obuf_iov(&out, iov, 64);
}

/* A value of OBUF_COPY_MAX bytes is copied into the reply text, one of
 * a byte more is referenced; both come out the same. */
START_TEST(test_small_values_copied)
{
	char want[4 * OBUF_COPY_MAX];
	size_t len = 0;

	set_value("a", OBUF_COPY_MAX, 'a');
	set_value("b", OBUF_COPY_MAX + 1, 'b');
	run("get a\r\n", 7);
	ck_assert_int_eq(pending_iovs(), 1);
	want_value(want, &len, "a", OBUF_COPY_MAX, 'a');
	memcpy(want + len, "END\r\n", 6);
	ck_assert_str_eq(drain(), want);
	run("get b\r\n", 7);
	ck_assert_int_eq(pending_iovs(), 3);
	len = 0;
	want_value(want, &len, "b", OBUF_COPY_MAX + 1, 'b');
	memcpy(want + len, "END\r\n", 6);
	ck_assert_str_eq(drain(), want);
	/* Referenced between copied ones, in order. */
	run("get a b a\r\n", 11);
	ck_assert_int_eq(pending_iovs(), 3);
	len = 0;
	want_value(want, &len, "a", OBUF_COPY_MAX, 'a');
	want_value(want, &len, "b", OBUF_COPY_MAX + 1, 'b');
	want_value(want, &len, "a", OBUF_COPY_MAX, 'a');
	memcpy(want + len, "END\r\n", 6);
	ck_assert_str_eq(drain(), want);
}
END_TEST

/* With a worker's pool buffer, a multi-get of 100 small values is one
 * piece of text: one iovec. */
START_TEST(test_multiget_one_iovec)
{
	static char line[2048], want[100 * 160];
	struct bufpool pool;
	size_t n = 3, len = 0;
	char key[16];

	bufpool_init(&pool, 16384, 4);
	obuf_free(&out);
	obuf_init(&out, &pool);
	memcpy(line, "get", 3);
	for (int i = 0; i < 100; i++) {
		snprintf(key, sizeof key, "k%03d", i);
		set_value(key, 100, (char)('A' + i % 26));
		n += (size_t)sprintf(line + n, " %s", key);
		want_value(want, &len, key, 100, (char)('A' + i % 26));
	}
	memcpy(line + n, "\r\n", 3);
	memcpy(want + len, "END\r\n", 6);
	run(line, n + 2);
	ck_assert_int_eq(pending_iovs(), 1);
	ck_assert_str_eq(drain(), want);
	obuf_free(&out);
	ck_assert_uint_eq(pool.out, 0);
	bufpool_free(&pool);
}
END_TEST

/* A small value is copied only into the room the text buffer has (4 KiB
 * at first without a pool), else referenced; the text grows for the
 * next header and copying goes on. The bytes come out in order. */
START_TEST(test_copy_only_into_room)
{
	char want[8 * 1100];
	size_t len = 0;

	for (int i = 0; i < 8; i++) {
		char key[8];

		snprintf(key, sizeof key, "r%d", i);
		set_value(key, 1000, (char)('a' + i));
		want_value(want, &len, key, 1000, (char)('a' + i));
	}
	memcpy(want + len, "END\r\n", 6);
	run("get r0 r1 r2 r3 r4 r5 r6 r7\r\n", 30);
	/* 4 values and the 5th header in 4093 bytes; the 5th value by
	 * reference; the rest in the grown text. */
	ck_assert_int_eq(pending_iovs(), 3);
	ck_assert_str_eq(drain(), want);
}
END_TEST

START_TEST(test_shutdown_disabled)
{
	ck_assert_str_eq(
	    FEED("shutdown\r\n"), "ERROR: shutdown not enabled\r\n");
}
END_TEST

/* debug sleep: unknown (and HTTP's close) unless the config allows it;
 * then it sleeps and answers OK, a bad form the format error. */
START_TEST(test_debug_sleep)
{
	ck_assert_str_eq(FEED("debug sleep 1\r\n"), "ERROR\r\n");
	FEED("debug / HTTP/1.1\r\n");
	ck_assert_int_eq(action, PROTO_HTTP);
	proto_init(&(struct proto_config){.debug = true},
	    &(struct proto_callbacks){0});
	ck_assert_str_eq(FEED("debug sleep 1\r\n"), "OK\r\n");
	ck_assert_str_eq(FEED("debug sleep x\r\ndebug nap 1\r\n"),
	    "CLIENT_ERROR bad command line format\r\n"
	    "CLIENT_ERROR bad command line format\r\n");
}
END_TEST

/* The slow log keeps the last PROTO_SLOWLOG_MAX, newest first; a reset
 * empties it and ids go on. */
START_TEST(test_slowlog_ring)
{
	static struct proto_slow got[PROTO_SLOWLOG_MAX + 1];
	uint64_t first;
	size_t n;

	proto_slowlog_reset();
	for (unsigned i = 0; i < PROTO_SLOWLOG_MAX + 5; i++) {
		struct proto_slow *e = proto_slowlog_next();

		e->us = i;
		proto_slowlog_commit();
	}
	n = proto_slowlog_read(got, PROTO_SLOWLOG_MAX + 1);
	ck_assert_uint_eq(n, PROTO_SLOWLOG_MAX);
	first = got[0].id;
	ck_assert_uint_eq(got[0].us, PROTO_SLOWLOG_MAX + 4);
	for (size_t i = 0; i < n; i++) {
		ck_assert_uint_eq(got[i].id, first - i);
		ck_assert_uint_eq(got[i].us, PROTO_SLOWLOG_MAX + 4 - i);
	}
	ck_assert_uint_eq(proto_slowlog_read(got, 3), 3);
	ck_assert_uint_eq(got[2].id, first - 2);
	proto_slowlog_reset();
	ck_assert_uint_eq(proto_slowlog_read(got, 10), 0);
	proto_slowlog_next()->us = 7;
	proto_slowlog_commit();
	ck_assert_uint_eq(proto_slowlog_read(got, 10), 1);
	ck_assert_uint_eq(got[0].id, first + 1);
	ck_assert_uint_eq(got[0].us, 7);
}
END_TEST

int
main(void)
{
	const TTest *tests[] = {test_slowlog_ring, test_version_and_unknown,
	    test_debug_sleep, test_pipelined_in_order, test_partial_line_waits,
	    test_verbosity, test_quit_stops_processing, test_http_request_line,
	    test_line_too_long, test_key_lists_may_be_long,
	    test_retrieval_commands, test_stats_goes_to_the_hook, test_actions,
	    test_metadump, test_maint_commands, test_failed_add_unfetched,
	    test_storage_and_retrieval, test_cas, test_arith,
	    test_arith_values_as_strtoull, test_numbers_as_memcached,
	    test_noreply_last_token, test_data_block_framing, test_keys,
	    test_expiry_touch_flush, test_shutdown_disabled, test_meta_basic,
	    test_meta_flag_errors, test_meta_set_framing, test_meta_base64,
	    test_meta_win_and_arith, test_access_log_switch,
	    test_small_values_copied, test_multiget_one_iovec,
	    test_copy_only_into_room, NULL};

	return unit_run(
	    &(struct unit_suite){
	        .name = "proto_text", .setup = setup, .teardown = teardown},
	    tests);
}
