/* Config file and command line parsing. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "log.h"

static char path[64];

/* Write text to a fresh temp file, named in path. */
static void
write_conf(const char *text)
{
	int fd;

	snprintf(path, sizeof path, "/tmp/tl-conf-XXXXXX");
	fd = mkstemp(path);
	ck_assert_int_ne(fd, -1);
	ck_assert_int_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
}

static void
teardown(void)
{
	if (path[0])
		unlink(path);
	path[0] = '\0';
}

START_TEST(test_defaults)
{
	struct config c;

	config_defaults(&c);
	ck_assert_int_eq(c.port, ADDR_DEFAULT_PORT);
	ck_assert_int_eq(c.max_conns, 1024);
	ck_assert_int_eq(c.log_level, LOG_LVL_INFO);
	ck_assert(!c.daemonize);
	config_free(&c);
}
END_TEST

START_TEST(test_file_values)
{
	struct config c;
	char err[256];

	write_conf("[server]\nlisten = 127.0.0.1, [::1]:11400\nport = 1234\n"
	           "threads = 3\nmax_connections = 10\ndaemonize = yes\n"
	           "[log]\nlevel = debug\nfile = /tmp/x.log\n");
	config_defaults(&c);
	ck_assert_int_eq(config_load_file(&c, path, err, sizeof err), 0);
	ck_assert_int_eq(c.nlisten, 2);
	ck_assert_str_eq(c.listen[1], "[::1]:11400");
	ck_assert_int_eq(c.port, 1234);
	ck_assert_int_eq(c.threads, 3);
	ck_assert_int_eq(c.max_conns, 10);
	ck_assert(c.daemonize);
	ck_assert_int_eq(c.log_level, LOG_LVL_DEBUG);
	ck_assert_str_eq(c.log_file, "/tmp/x.log");
	config_free(&c);
}
END_TEST

START_TEST(test_file_unknown_key)
{
	struct config c;
	char err[256], want[128];

	write_conf("[server]\nport = 1\nbogus = 2\n");
	config_defaults(&c);
	ck_assert_int_eq(config_load_file(&c, path, err, sizeof err), -1);
	snprintf(want, sizeof want,
	    "%s:3: unknown key 'bogus' in section [server]", path);
	ck_assert_str_eq(err, want);
	config_free(&c);
}
END_TEST

START_TEST(test_file_bad_values)
{
	static const char *const bad[] = {"port = x", "port = 70000",
	    "threads = -1", "max_connections = 0", "daemonize = maybe",
	    "listen = [::1", "port = 12abc"};
	struct config c;
	char err[256], text[128], want[128];

	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		snprintf(
		    text, sizeof text, "; comment\n[server]\n%s\n", bad[i]);
		write_conf(text);
		config_defaults(&c);
		ck_assert_int_eq(
		    config_load_file(&c, path, err, sizeof err), -1);
		snprintf(want, sizeof want, "%s:3: bad ", path);
		ck_assert_msg(strncmp(err, want, strlen(want)) == 0, "%s -> %s",
		    bad[i], err);
		config_free(&c);
		teardown();
	}
}
END_TEST

START_TEST(test_file_syntax_and_section)
{
	struct config c;
	char err[256], want[128];

	write_conf("[server\nport = 1\n");
	config_defaults(&c);
	ck_assert_int_eq(config_load_file(&c, path, err, sizeof err), -1);
	snprintf(want, sizeof want, "%s:1: syntax error", path);
	ck_assert_str_eq(err, want);
	config_free(&c);
	teardown();

	write_conf("[bogus]\nsize = 1\n");
	config_defaults(&c);
	ck_assert_int_eq(config_load_file(&c, path, err, sizeof err), -1);
	snprintf(want, sizeof want, "%s:2: unknown section [bogus]", path);
	ck_assert_str_eq(err, want);
	config_free(&c);
}
END_TEST

START_TEST(test_file_missing)
{
	struct config c;
	char err[256];

	config_defaults(&c);
	ck_assert_int_eq(
	    config_load_file(&c, "/nonexistent/tl.conf", err, sizeof err), -1);
	ck_assert_ptr_nonnull(strstr(err, "cannot open"));
	config_free(&c);
}
END_TEST

START_TEST(test_args_override_file)
{
	char *argv[] = {"threadlined", "-f", NULL, "-p", "999", "-t", "2",
	    "--log-level", "warn", "-d", NULL};
	struct config c;
	char err[256];

	write_conf("[server]\nport = 1234\nthreads = 4\n");
	argv[2] = path;
	ck_assert_str_eq(config_find_file_arg(10, argv), path);
	config_defaults(&c);
	ck_assert_int_eq(config_load_file(&c, path, err, sizeof err), 0);
	ck_assert_int_eq(config_parse_args(&c, 10, argv, err, sizeof err), 0);
	ck_assert_int_eq(c.port, 999);
	ck_assert_int_eq(c.threads, 2);
	ck_assert_int_eq(c.log_level, LOG_LVL_WARN);
	ck_assert(c.daemonize);
	config_free(&c);
}
END_TEST

START_TEST(test_args_errors)
{
	char *bad_port[] = {"threadlined", "-p", "nope", NULL};
	char *unknown[] = {"threadlined", "--frobnicate", NULL};
	char *missing[] = {"threadlined", "-p", NULL};
	char *extra[] = {"threadlined", "stray", NULL};
	struct config c;
	char err[256];

	config_defaults(&c);
	ck_assert_int_eq(
	    config_parse_args(&c, 3, bad_port, err, sizeof err), -1);
	ck_assert_str_eq(
	    err, "bad value 'nope' for port: expected a port number 0..65535");
	ck_assert_int_eq(
	    config_parse_args(&c, 2, unknown, err, sizeof err), -1);
	ck_assert_str_eq(err, "unknown option --frobnicate");
	ck_assert_int_eq(
	    config_parse_args(&c, 2, missing, err, sizeof err), -1);
	ck_assert_str_eq(err, "option -p needs an argument");
	ck_assert_int_eq(config_parse_args(&c, 2, extra, err, sizeof err), -1);
	ck_assert_str_eq(err, "unexpected argument 'stray'");
	config_free(&c);
}
END_TEST

START_TEST(test_split_listen)
{
	char host[64];
	int port;

	ck_assert_int_eq(
	    addr_split("10.0.0.1", 7, host, sizeof host, &port), 0);
	ck_assert_str_eq(host, "10.0.0.1");
	ck_assert_int_eq(port, 7);
	ck_assert_int_eq(
	    addr_split("localhost:81", 7, host, sizeof host, &port), 0);
	ck_assert_str_eq(host, "localhost");
	ck_assert_int_eq(port, 81);
	ck_assert_int_eq(
	    addr_split("[::1]:82", 7, host, sizeof host, &port), 0);
	ck_assert_str_eq(host, "::1");
	ck_assert_int_eq(port, 82);
	ck_assert_int_eq(addr_split("::", 7, host, sizeof host, &port), 0);
	ck_assert_str_eq(host, "::");
	ck_assert_int_eq(port, 7);
	ck_assert_int_eq(
	    addr_split("h:99999", 7, host, sizeof host, &port), -1);
	ck_assert_int_eq(addr_split(":80", 7, host, sizeof host, &port), -1);
	ck_assert_int_eq(addr_split("[::1]x", 7, host, sizeof host, &port), -1);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("config");
	TCase *tc = tcase_create("config");
	SRunner *sr;
	int failed;

	tcase_add_checked_fixture(tc, NULL, teardown);
	tcase_add_test(tc, test_defaults);
	tcase_add_test(tc, test_file_values);
	tcase_add_test(tc, test_file_unknown_key);
	tcase_add_test(tc, test_file_bad_values);
	tcase_add_test(tc, test_file_syntax_and_section);
	tcase_add_test(tc, test_file_missing);
	tcase_add_test(tc, test_args_override_file);
	tcase_add_test(tc, test_args_errors);
	tcase_add_test(tc, test_split_listen);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
