/* The ASCII protocol without sockets: bytes in, reply bytes out. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "log.h"
#include "obuf.h"
#include "proto_text.h"
#include "service.h"
#include "stats.h"

static struct config cfg;
static struct obuf out;
static enum proto_action action;
static size_t used;

static void
setup(void)
{
	config_defaults(&cfg);
	services_init(2);
	stats_init(&cfg);
	obuf_init(&out);
	log_set_level(LOG_LVL_WARN); /* keep stderr quiet */
}

static void
teardown(void)
{
	obuf_free(&out);
	services_free();
	config_free(&cfg);
}

/* Feed len bytes of in; return the reply as a string. */
static const char *
feed(const char *in, size_t len)
{
	struct proto_ctx ctx = {0};

	obuf_free(&out);
	used = proto_text_process(&ctx, in, len, &out, &action);
	obuf_add(&out, "", 1);
	return out.data;
}
#define FEED(s) feed(s, strlen(s))

START_TEST(test_version_and_unknown)
{
	ck_assert_str_eq(FEED("version\r\n"), "VERSION 0.1.0\r\n");
	ck_assert_uint_eq(used, 9);
	ck_assert_str_eq(FEED("version extra\n"), "VERSION 0.1.0\r\n");
	ck_assert_str_eq(FEED("VERSION\r\n"), "ERROR\r\n");
	ck_assert_str_eq(FEED("bogus\r\n"), "ERROR\r\n");
	ck_assert_str_eq(FEED("\r\n"), "ERROR\r\n");
	ck_assert_str_eq(FEED("stats nonsense\r\n"), "ERROR\r\n");
	ck_assert_int_eq(action, PROTO_CONTINUE);
}
END_TEST

START_TEST(test_pipelined_in_order)
{
	ck_assert_str_eq(FEED("version\r\nbogus\r\nversion\r\n"),
	    "VERSION 0.1.0\r\nERROR\r\nVERSION 0.1.0\r\n");
}
END_TEST

START_TEST(test_partial_line_waits)
{
	ck_assert_str_eq(FEED("vers"), "");
	ck_assert_uint_eq(used, 0);
	ck_assert_str_eq(FEED("version\r\nver"), "VERSION 0.1.0\r\n");
	ck_assert_uint_eq(used, 9);
}
END_TEST

START_TEST(test_verbosity)
{
	ck_assert_str_eq(FEED("verbosity\r\n"), "ERROR\r\n");
	ck_assert_str_eq(FEED("verbosity 1\r\n"), "OK\r\n");
	ck_assert_int_eq(log_verbosity, LOG_LVL_NOTICE);
	ck_assert_str_eq(FEED("verbosity 0 noreply\r\n"), "");
	ck_assert_int_eq(log_verbosity, LOG_LVL_WARN);
	ck_assert_str_eq(FEED("verbosity x\r\n"),
	    "CLIENT_ERROR bad command line format\r\n");
	ck_assert_str_eq(FEED("verbosity -1\r\n"),
	    "CLIENT_ERROR bad command line format\r\n");
	ck_assert_str_eq(FEED("verbosity 99999999999999999999\r\n"),
	    "CLIENT_ERROR bad command line format\r\n");
	ck_assert_str_eq(FEED("verbosity 1 2 3\r\n"), "ERROR\r\n");
	ck_assert_int_eq(log_verbosity, LOG_LVL_WARN);
}
END_TEST

START_TEST(test_quit_stops_processing)
{
	ck_assert_str_eq(
	    FEED("version\r\nquit\r\nversion\r\n"), "VERSION 0.1.0\r\n");
	ck_assert_int_eq(action, PROTO_QUIT);
	ck_assert_uint_eq(used, 15);
}
END_TEST

START_TEST(test_line_too_long)
{
	size_t n = PROTO_LINE_MAX + 1;
	char *line = malloc(n);

	memset(line, 'x', n);
	/* Without a newline yet: refused as soon as it is over the limit. */
	ck_assert_str_eq(feed(line, n), "CLIENT_ERROR line too long\r\n");
	ck_assert_int_eq(action, PROTO_CLOSE);
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

START_TEST(test_stats_names_answering_thread)
{
	const char *r;
	char want[64];

	snprintf(want, sizeof want, "STAT thread %s\r\nEND\r\n",
	    service_self()->name);
	r = FEED("stats\r\n");
	ck_assert_ptr_nonnull(strstr(r, "STAT pid "));
	ck_assert_ptr_nonnull(strstr(r, "STAT threads 2\r\n"));
	ck_assert_ptr_nonnull(strstr(r, "STAT max_connections 1024\r\n"));
	ck_assert_str_eq(r + strlen(r) - strlen(want), want);
	r = FEED("stats threads\r\n");
	ck_assert_ptr_nonnull(strstr(r, "STAT worker-1:role worker\r\n"));
	ck_assert_ptr_nonnull(strstr(r, "STAT logger:role logger\r\n"));
	ck_assert_ptr_nonnull(strstr(r, "STAT accept:accepted 0\r\n"));
	ck_assert_str_eq(r + strlen(r) - strlen(want), want);
	r = FEED("stats settings\r\n");
	ck_assert_ptr_nonnull(strstr(r, "STAT maxconns 1024\r\n"));
	ck_assert_ptr_nonnull(strstr(r, "STAT num_threads 2\r\n"));
	ck_assert_str_eq(r + strlen(r) - strlen(want), want);
	ck_assert_str_eq(FEED("stats conns\r\n"), want);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("proto_text");
	TCase *tc = tcase_create("proto_text");
	SRunner *sr;
	int failed;

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_version_and_unknown);
	tcase_add_test(tc, test_pipelined_in_order);
	tcase_add_test(tc, test_partial_line_waits);
	tcase_add_test(tc, test_verbosity);
	tcase_add_test(tc, test_quit_stops_processing);
	tcase_add_test(tc, test_line_too_long);
	tcase_add_test(tc, test_key_lists_may_be_long);
	tcase_add_test(tc, test_stats_names_answering_thread);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
