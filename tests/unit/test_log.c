/* Log formatting, levels, per-thread rings and the logger thread. */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "counter.h"
#include "log.h"
#include "log_ring.h"
#include "logger.h"
#include "thread.h"
#include "unit.h"

/* A line as the logger sees it. */
static struct log_line
line_of(time_t sec, long nsec, const char *thread, int level, const char *msg,
    size_t len)
{
	return (struct log_line){.ts = {sec, nsec},
	    .level = level,
	    .thread = thread,
	    .tid = 4242,
	    .msg = msg,
	    .len = len};
}

START_TEST(test_format_text)
{
	struct log_line l = line_of(1795852396, 123456789, "worker-2",
	    LOG_LVL_INFO, "conn=17 closed", 14);
	char buf[LOG_LINE_MAX];
	size_t n;

	n = log_format_text(buf, sizeof buf, &l);
	buf[n] = '\0';
	ck_assert_str_eq(
	    buf, "2026-11-28T07:53:16.123456Z worker-2 info conn=17 closed\n");
	l.category = LOG_CAT_ACCESS;
	n = log_format_text(buf, sizeof buf, &l);
	buf[n] = '\0';
	ck_assert_str_eq(buf, "2026-11-28T07:53:16.123456Z worker-2 info "
	                      "access conn=17 closed\n");
}
END_TEST

START_TEST(test_format_escapes)
{
	struct log_line l =
	    line_of(0, 0, "accept", LOG_LVL_WARN, "a\r\nb\\\x01", 6);
	char buf[LOG_LINE_MAX];
	size_t n;

	n = log_format_text(buf, sizeof buf, &l);
	buf[n] = '\0';
	ck_assert_str_eq(buf,
	    "1970-01-01T00:00:00.000000Z accept warn a\\x0d\\x0ab\\\\\\x01\n");
}
END_TEST

START_TEST(test_format_truncates)
{
	char msg[500], buf[100];
	struct log_line l = line_of(0, 0, "t", LOG_LVL_INFO, msg, sizeof msg);
	size_t n;

	memset(msg, 'x', sizeof msg);
	n = log_format_text(buf, sizeof buf, &l);
	ck_assert_uint_le(n, sizeof buf);
	ck_assert_int_eq(buf[n - 1], '\n');
}
END_TEST

START_TEST(test_format_json)
{
	static const char msg[] = "conn=17 peer=127.0.0.1:5 cmd=get ts=x "
	                          "closed \"by\" client\\ \x01\xff\xe2\x82\xac";
	struct log_line l = line_of(1795852396, 123456789, "worker-2",
	    LOG_LVL_INFO, msg, sizeof msg - 1);
	char buf[LOG_LINE_MAX];
	size_t n;

	n = log_format_json(buf, sizeof buf, &l);
	buf[n] = '\0';
	/* Leading key=value tokens become fields, numbers stay numbers,
	 * fixed fields cannot be shadowed, and any byte is valid JSON:
	 * 0xff (not UTF-8) becomes U+FFFD, the euro sign stays. */
	ck_assert_str_eq(buf,
	    "{\"ts\":\"2026-11-28T07:53:16.123456Z\",\"level\":\"info\","
	    "\"thread\":\"worker-2\",\"tid\":4242,\"category\":\"general\","
	    "\"conn\":17,\"peer\":\"127.0.0.1:5\",\"cmd\":\"get\","
	    "\"msg\":\"closed \\\"by\\\" client\\\\ \\u0001\xef\xbf\xbd"
	    "\xe2\x82\xac\"}\n");
}
END_TEST

START_TEST(test_format_json_worst_case_fits)
{
	char msg[LOG_MSG_MAX], buf[LOG_LINE_MAX];
	struct log_line l;
	size_t n;

	/* Every byte a control byte: six bytes each, still a whole line. */
	memset(msg, 1, sizeof msg);
	l = line_of(0, 0, "worker-0", LOG_LVL_INFO, msg, sizeof msg);
	n = log_format_json(buf, sizeof buf, &l);
	ck_assert_uint_lt(n, sizeof buf);
	ck_assert_uint_eq(n, strlen("{\"ts\":\"1970-01-01T00:00:00.000000Z\","
	                            "\"level\":\"info\",\"thread\":"
	                            "\"worker-0\",\"tid\":4242,\"category\":"
	                            "\"general\",\"msg\":\"\"}\n") +
	                         6 * sizeof msg);
	/* Every byte '=': fields at most as long as the message allows. */
	memset(msg, 'a', sizeof msg);
	for (size_t i = 1; i < sizeof msg; i += 4)
		memcpy(msg + i, "=\x01 ", 3);
	n = log_format_json(buf, sizeof buf, &l);
	ck_assert_uint_lt(n, sizeof buf);
	ck_assert_int_eq(buf[n - 1], '\n');
	ck_assert_int_eq(buf[n - 2], '}');
}
END_TEST

START_TEST(test_levels)
{
	ck_assert_int_eq(log_level_parse("error"), LOG_LVL_ERROR);
	ck_assert_int_eq(log_level_parse("WARN"), LOG_LVL_WARN);
	ck_assert_int_eq(log_level_parse("notice"), LOG_LVL_NOTICE);
	ck_assert_int_eq(log_level_parse("debug"), LOG_LVL_DEBUG);
	ck_assert_int_eq(log_level_parse("fatal"), -1);
	ck_assert_int_eq(log_level_parse("loud"), -1);
	ck_assert_str_eq(log_level_name(LOG_LVL_INFO), "info");
	log_set_level(LOG_LVL_WARN);
	ck_assert(log_enabled(LOG_LVL_WARN));
	ck_assert(!log_enabled(LOG_LVL_INFO));
	log_set_level(99);
	ck_assert_int_eq(log_verbosity, LOG_LVL_DEBUG);
	/* memcached's verbosity numbers, as that many -v: 0 is the
	 * default, 1 each connection, 3 the internals; and back. */
	ck_assert_int_eq(log_level_parse("0"), LOG_LVL_NOTICE);
	ck_assert_int_eq(log_level_parse("1"), LOG_LVL_INFO);
	ck_assert_int_eq(log_level_parse("2"), LOG_LVL_INFO);
	ck_assert_int_eq(log_level_parse("3"), LOG_LVL_DEBUG);
	ck_assert_int_eq(log_verbosity_of_level(LOG_LVL_WARN), 0);
	ck_assert_int_eq(log_verbosity_of_level(LOG_LVL_NOTICE), 0);
	ck_assert_int_eq(log_verbosity_of_level(LOG_LVL_INFO), 1);
	ck_assert_int_eq(log_verbosity_of_level(LOG_LVL_DEBUG), 3);
	ck_assert_int_eq(log_level_parse("7"), LOG_LVL_DEBUG);
	ck_assert_int_eq(log_level_parse("2x"), -1);
}
END_TEST

START_TEST(test_ring_drops_when_full)
{
	struct log_ring *r = log_ring_new();
	struct log_line l = line_of(0, 0, "t", LOG_LVL_INFO, "x", 1);

	/* Each push says how many lines wait. */
	for (int i = 0; i < LOG_RING_SLOTS; i++)
		ck_assert_int_eq(log_ring_push(r, &l), i + 1);
	for (int i = 0; i < 5; i++)
		ck_assert_int_eq(log_ring_push(r, &l), -1);
	ck_assert_uint_eq(log_ring_dropped(r), 5);
	log_ring_free(r);
}
END_TEST

/* Read a whole file into a NUL-terminated buffer. */
static char *
slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	char *buf = calloc(1, 1 << 20);
	size_t n;

	ck_assert_ptr_nonnull(f);
	n = fread(buf, 1, (1 << 20) - 1, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

/* Start a logger writing to a temp file named in path. */
static struct thread *
start_logger(char *path)
{
	static const int counts[ROLE_COUNT] = {[ROLE_LOGGER] = 1};
	struct thread *logger;
	char err[256];
	int fd;

	fd = mkstemp(path);
	ck_assert_int_ne(fd, -1);
	close(fd);
	ck_assert_int_eq(threads_init(counts), 0);
	log_threads_init();
	logger = thread_get(ROLE_LOGGER, 0);
	ck_assert_int_eq(
	    logger_open(&(struct logger_config){.file = path}, err, sizeof err),
	    0);
	log_set_level(LOG_LVL_INFO);
	return logger;
}

/* Stop the logger; every line queued before is in the file. */
static char *
stop_logger(struct thread *logger, const char *path)
{
	char *text;

	logger_stop();
	thread_join(logger);
	logger_close();
	text = slurp(path);
	unlink(path);
	return text;
}

START_TEST(test_logger_writes_lines_of_the_caller)
{
	char path[] = "/tmp/tl-log-XXXXXX", want[128];
	struct thread *logger = start_logger(path);
	const char *me = thread_self()->name;
	char *text;

	ck_assert_int_eq(thread_start(logger, logger_main), 0);
	log_info("hello from %s", "main");
	log_debug("not written");
	errno = ENOENT;
	log_warn("open %s", "x");
	ck_assert_int_eq(errno, ENOENT);
	text = stop_logger(logger, path);

	snprintf(want, sizeof want, " %s info hello from main\n", me);
	ck_assert_ptr_nonnull(strstr(text, want));
	snprintf(want, sizeof want,
	    " %s warn open x: No such file or directory\n", me);
	ck_assert_ptr_nonnull(strstr(text, want));
	ck_assert_ptr_null(strstr(text, "not written"));
	ck_assert_ptr_nonnull(strstr(text, " logger notice writing log to "));
	ck_assert_uint_ge(stat_get(&logger_counters()->lines_written), 3);
	free(text);
	log_threads_free();
	threads_free();
}
END_TEST

START_TEST(test_logger_reports_drops)
{
	char path[] = "/tmp/tl-log-XXXXXX", want[128];
	struct thread *logger = start_logger(path);
	struct thread *self = thread_self();
	struct log_line l = line_of(0, 0, "t", LOG_LVL_INFO, "filler", 6);
	char *text;

	/* Fill main's ring before the logger runs: the overflow is counted
	 * and reported by the logger under its own name. */
	for (int i = 0; i < LOG_RING_SLOTS + 3; i++)
		log_ring_push(self->ring, &l);
	/* No line of main's own may join the count. */
	log_set_level(LOG_LVL_WARN);
	ck_assert_int_eq(thread_start(logger, logger_main), 0);
	text = stop_logger(logger, path);
	snprintf(want, sizeof want, " logger warn 3 lines dropped from %s\n",
	    self->name);
	ck_assert_ptr_nonnull(strstr(text, want));
	ck_assert_uint_ge(
	    stat_get(&logger_counters()->lines_written), LOG_RING_SLOTS);
	free(text);
	log_threads_free();
	threads_free();
}
END_TEST

int
main(void)
{
	const TTest *tests[] = {test_format_text, test_format_escapes,
	    test_format_truncates, test_format_json,
	    test_format_json_worst_case_fits, test_levels,
	    test_ring_drops_when_full, test_logger_writes_lines_of_the_caller,
	    test_logger_reports_drops, NULL};

	return unit_run(&(struct unit_suite){.name = "log"}, tests);
}
