/* The stats replies: each group asks the modules that own the counters,
 * and the answering thread names itself. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cache.h"
#include "config.h"
#include "conn.h"
#include "log.h"
#include "obs.h"
#include "obuf.h"
#include "proto_text.h"
#include "settings.h"
#include "stats.h"
#include "stats_detail.h"
#include "thread.h"
#include "worker.h"
#include "unit.h"

static struct config cfg;
static struct obs_config ocfg;
static struct obuf out;
static char *text;

static void
conn_closed(void)
{
}

static void
setup(void)
{
	static const int counts[ROLE_COUNT] = {[ROLE_LOGGER] = 1,
	    [ROLE_ACCEPT] = 1,
	    [ROLE_WORKER] = 2,
	    [ROLE_MAINT] = 1};

	log_set_level(LOG_LVL_WARN);
	config_defaults(&cfg);
	ck_assert_int_eq(threads_init(counts), 0);
	log_threads_init();
	workers_init(&(struct worker_hooks){.conn_closed = conn_closed});
	settings_obs_config(&cfg, &ocfg);
	obs_init(&ocfg);
	/* "stats detail on" takes effect once proto has the callback. */
	proto_init(&(struct proto_config){0},
	    &(struct proto_callbacks){.detail = stats_detail_record});
	ck_assert_int_eq(cache_init(&(struct cache_config){
	                     .limit = 8 << 20, .item_max = 1024 * 1024}),
	    0);
	obuf_init(&out, NULL);
}

static void
teardown(void)
{
	obuf_free(&out);
	free(text);
	text = NULL;
	cache_free();
	workers_free();
	log_threads_free();
	threads_free();
	config_free(&cfg);
}

/* The reply to "stats GROUP" as a string; NULL for a group there is
 * none of. */
static const char *
ask(const char *group)
{
	obuf_free(&out);
	obuf_init(&out, NULL);
	if (stats_answer(group, strlen(group), &out) == -1)
		return NULL;
	free(text);
	text = strndup(out.data + out.off, out.len - out.off);
	return text;
}

/* r begins with the thread line want, its only one, and ends with END. */
static void
test_named_first(const char *r, const char *want)
{
	ck_assert_msg(strncmp(r, want, strlen(want)) == 0,
	    "does not begin with %s: %s", want, r);
	ck_assert_ptr_null(strstr(r + 1, "\nSTAT thread "));
	ck_assert_str_eq(r + strlen(r) - 5, "END\r\n");
}

START_TEST(test_groups_name_answering_thread)
{
	const char *r;
	char want[64];

	snprintf(want, sizeof want, "STAT thread %s\r\n", thread_self()->name);
	r = ask("");
	ck_assert_ptr_nonnull(strstr(r, "STAT pid "));
	ck_assert_ptr_nonnull(strstr(r, "STAT threads 2\r\n"));
	ck_assert_ptr_nonnull(strstr(r, "STAT max_connections 1024\r\n"));
	ck_assert_ptr_nonnull(strstr(r, "STAT curr_connections 0\r\n"));
	test_named_first(r, want);
	r = ask("threads");
	ck_assert_ptr_nonnull(strstr(r, "STAT worker-1:role worker\r\n"));
	ck_assert_ptr_nonnull(strstr(r, "STAT worker-0:cmds 0\r\n"));
	ck_assert_ptr_nonnull(strstr(r, "STAT logger:role logger\r\n"));
	ck_assert_ptr_nonnull(strstr(r, "STAT logger:lines_written 0\r\n"));
	ck_assert_ptr_nonnull(strstr(r, "STAT accept:accepted 0\r\n"));
	ck_assert_ptr_nonnull(strstr(r, "STAT maint:crawler_reclaimed 0\r\n"));
	test_named_first(r, want);
	r = ask("settings");
	ck_assert_ptr_nonnull(strstr(r, "STAT maxconns 1024\r\n"));
	ck_assert_ptr_nonnull(strstr(r, "STAT num_threads 2\r\n"));
	test_named_first(r, want);
	r = ask("conns");
	test_named_first(r, want);
	ck_assert_str_eq(r + strlen(want), "END\r\n");
	ck_assert_ptr_null(ask("nonsense"));
	ck_assert_ptr_null(ask("thread"));
}
END_TEST

/* A worker's cache counters reach both the total and its own line. */
START_TEST(test_counters_come_from_their_owners)
{
	struct cache_stats *cs = worker_cache_stats(1);

	cs->get_hits = 5;
	cs->cmd_get = 7;
	ck_assert_ptr_nonnull(strstr(ask(""), "STAT get_hits 5\r\n"));
	ck_assert_ptr_nonnull(strstr(ask(""), "STAT cmd_get 7\r\n"));
	ck_assert_ptr_nonnull(
	    strstr(ask("threads"), "STAT worker-1:get_hits 5\r\n"));
	ck_assert_ptr_nonnull(
	    strstr(ask("threads"), "STAT worker-0:get_hits 0\r\n"));
}
END_TEST

/* A class with an item shows in slabs and items, numbered from 1: a
 * 4-byte key and value fit the first, 40-byte chunks. */
START_TEST(test_slabs_and_items_from_the_store)
{
	enum cache_result res;
	struct item *it = cache_alloc("k", 1, 0, 0, 3, &res, NULL);
	const char *r;

	ck_assert_ptr_nonnull(it);
	memcpy(item_value(it), "abc", 3);
	ck_assert_int_eq(cache_store(it, CACHE_SET, 0, NULL), CACHE_STORED);
	r = ask("slabs");
	ck_assert_ptr_nonnull(strstr(r, "STAT 1:chunk_size 40\r\n"));
	ck_assert_ptr_nonnull(strstr(r, "STAT 1:used_chunks 1\r\n"));
	ck_assert_ptr_nonnull(strstr(r, "STAT active_slabs 1\r\n"));
	r = ask("items");
	ck_assert_ptr_nonnull(strstr(r, "STAT items:1:number 1\r\n"));
	ck_assert_ptr_nonnull(strstr(r, "STAT items:1:evicted 0\r\n"));
	ck_assert_ptr_nonnull(
	    strstr(ask("cachedump 1 0"), "ITEM k [3 b; 0 s]"));
}
END_TEST

/* A reset writes no counter (each has one writer): replies count from
 * what they read then; gauges stay. */
START_TEST(test_reset_counts_from_then)
{
	struct cache_stats *cs = worker_cache_stats(0);
	struct conn_counters *c = worker_counters(1);

	cs->cmd_get = 7;
	c->curr_conns = 2;
	c->total_conns = 5;
	ck_assert_str_eq(ask("reset"), "RESET\r\n");
	ck_assert_uint_eq(cs->cmd_get, 7);
	ck_assert_ptr_nonnull(strstr(ask(""), "STAT cmd_get 0\r\n"));
	ck_assert_ptr_nonnull(strstr(ask(""), "STAT total_connections 0\r\n"));
	ck_assert_ptr_nonnull(strstr(ask(""), "STAT curr_connections 2\r\n"));
	cs->cmd_get = 9;
	ck_assert_ptr_nonnull(strstr(ask(""), "STAT cmd_get 2\r\n"));
	ck_assert_ptr_nonnull(
	    strstr(ask("threads"), "STAT worker-0:cmd_get 2\r\n"));
}
END_TEST

/* Per-prefix counts only while on, and the arguments memcached takes. */
START_TEST(test_detail)
{
	const char *r, *n;

	stats_detail_record(PROTO_DETAIL_GET, "a:1", 3, true);
	ck_assert_str_eq(ask("detail dump"), "END\r\n");
	ck_assert_str_eq(ask("detail on"), "OK\r\n");
	stats_detail_record(PROTO_DETAIL_GET, "a:1", 3, true);
	stats_detail_record(PROTO_DETAIL_GET, "a:2", 3, false);
	stats_detail_record(PROTO_DETAIL_SET, "a:2", 3, true);
	stats_detail_record(PROTO_DETAIL_DEL, "nocolon", 7, true);
	ck_assert_str_eq(
	    ask("detail dump"), "PREFIX a get 2 hit 1 set 1 del 0\r\nEND\r\n");
	ck_assert_ptr_nonnull(
	    strstr(ask("settings"), "STAT detail_enabled yes\r\n"));
	ck_assert_str_eq(ask("detail off"), "OK\r\n");
	ck_assert_str_eq(
	    ask("detail"), "CLIENT_ERROR usage: stats detail on|off|dump\r\n");
	ask("reset");
	ck_assert_str_eq(ask("detail dump"), "END\r\n");
	ck_assert_str_eq(ask("sizes"), "STAT sizes_status disabled\r\nEND\r\n");
	ck_assert_str_eq(
	    ask("cachedump 1"), "CLIENT_ERROR bad command line\r\n");
	/* No socket: NULL as memcached says, and no other NULL. */
	r = ask("settings");
	n = strstr(r, "STAT domain_socket NULL\r\n");
	ck_assert_ptr_nonnull(n);
	ck_assert_ptr_eq(strstr(r, "NULL"), n + strlen("STAT domain_socket "));
	ck_assert_ptr_null(
	    strstr(n + strlen("STAT domain_socket NULL"), "NULL"));
}
END_TEST

int
main(void)
{
	const TTest *tests[] = {test_groups_name_answering_thread,
	    test_counters_come_from_their_owners,
	    test_slabs_and_items_from_the_store, test_reset_counts_from_then,
	    test_detail, NULL};

	return unit_run(
	    &(struct unit_suite){
	        .name = "stats", .setup = setup, .teardown = teardown},
	    tests);
}
