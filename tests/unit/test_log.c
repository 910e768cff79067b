/* Log formatting, levels, per-thread rings and the logger thread. */
#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
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

/* Access and slow-request lines are all fields: members of their own,
 * typed, no empty msg; what a client named (key, cmd) stays a string
 * even when it reads as a number. The text keeps its words. */
START_TEST(test_format_fields)
{
	static const char acc[] = "conn=9 peer=127.0.0.1:7 cmd=get keys=1 "
	                          "key=123 result=hit us=42";
	static const char slow[] = "conn=9 peer=127.0.0.1:7 cmd=007 keys=0 "
	                           "us=1500 suppressed=3";
	struct log_line l =
	    line_of(0, 0, "worker-0", LOG_LVL_INFO, acc, sizeof acc - 1);
	char buf[LOG_LINE_MAX];
	size_t n;

	l.category = LOG_CAT_ACCESS;
	n = log_format_json(buf, sizeof buf, &l);
	buf[n] = '\0';
	ck_assert_str_eq(buf,
	    "{\"ts\":\"1970-01-01T00:00:00.000000Z\",\"level\":\"info\","
	    "\"thread\":\"worker-0\",\"tid\":4242,\"category\":\"access\","
	    "\"conn\":9,\"peer\":\"127.0.0.1:7\",\"cmd\":\"get\","
	    "\"keys\":1,\"key\":\"123\",\"result\":\"hit\",\"us\":42}\n");
	l = line_of(0, 0, "worker-1", LOG_LVL_WARN, slow, sizeof slow - 1);
	l.category = LOG_CAT_SLOW;
	n = log_format_json(buf, sizeof buf, &l);
	buf[n] = '\0';
	ck_assert_str_eq(buf,
	    "{\"ts\":\"1970-01-01T00:00:00.000000Z\",\"level\":\"warn\","
	    "\"thread\":\"worker-1\",\"tid\":4242,\"category\":\"slow\","
	    "\"conn\":9,\"peer\":\"127.0.0.1:7\",\"cmd\":\"007\","
	    "\"keys\":0,\"us\":1500,\"suppressed\":3}\n");
	n = log_format_text(buf, sizeof buf, &l);
	buf[n] = '\0';
	ck_assert_str_eq(buf,
	    "1970-01-01T00:00:00.000000Z worker-1 warn slow request: conn=9 "
	    "peer=127.0.0.1:7 cmd=007 keys=0 us=1500 suppressed=3\n");
	ck_assert_int_eq(log_category_parse("slow"), LOG_CAT_SLOW);
	ck_assert_int_eq(log_category_parse("access"), LOG_CAT_ACCESS);
	ck_assert_int_eq(log_category_parse("general"), LOG_CAT_GENERAL);
	ck_assert_int_eq(log_category_parse("fetchers"), -1);
	ck_assert_str_eq(log_category_name(LOG_CAT_SLOW), "slow");
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

/* Line number seq's message: its number, then bytes that depend on it,
 * len bytes in all. */
static size_t
msg_of(char *buf, unsigned seq, size_t len)
{
	int n = snprintf(buf, len + 1, "%u.", seq);

	for (size_t i = (size_t)n; i < len; i++)
		buf[i] = (char)('a' + (seq + i) % 26);
	return len;
}

/* Lengths from a byte up to the longest kept, often the longest. */
static size_t
len_of(unsigned seq)
{
	return seq % 3 == 0 ? LOG_MSG_MAX : 8 + (seq * 37) % 200;
}

/* Take up to max records of the snapshot, checking each is line *next
 * whole; returns how many. */
static unsigned
take_checked(struct log_ring *r, unsigned *next, unsigned max)
{
	char want[LOG_MSG_MAX + 1];
	const struct log_rec *rec;
	unsigned n = 0;

	while (n < max && (rec = log_ring_peek(r)) != NULL) {
		unsigned seq = (unsigned)strtoul(rec->msg, NULL, 10);
		size_t len = msg_of(want, seq, len_of(seq));

		ck_assert_uint_ge(seq, *next);
		ck_assert_uint_eq(rec->len, len);
		ck_assert_int_eq(memcmp(rec->msg, want, len), 0);
		ck_assert_int_eq(rec->line, (int)seq);
		*next = seq + 1;
		log_ring_take(r);
		n++;
	}
	return n;
}

/* Push line seq. */
static enum log_ring_pushed
push_seq(struct log_ring *r, unsigned seq)
{
	char msg[LOG_MSG_MAX + 1];
	struct log_line l = line_of(seq, 0, "t", LOG_LVL_INFO, msg, 0);

	l.len = msg_of(msg, seq, len_of(seq));
	l.line = (int)seq;
	return log_ring_push(r, &l);
}

/* Bytes of the ring's buffer in memory. */
static size_t
resident(const struct log_ring *r)
{
	static unsigned char vec[LOG_RING_MAX / 4096 + 1];
	size_t page = (size_t)sysconf(_SC_PAGESIZE), n = 0;

	ck_assert_int_eq(mincore(r->buf, LOG_RING_MAX, vec), 0);
	for (size_t i = 0; i < LOG_RING_MAX / page; i++)
		n += vec[i] & 1;
	return n * page;
}

/* Drain everything, as the logger does, at now_ms. */
static void
drain_all(struct log_ring *r, unsigned *next, long long now_ms)
{
	log_ring_snap(r);
	take_checked(r, next, UINT32_MAX);
	log_ring_publish(r);
	log_ring_tune(r, now_ms);
}

START_TEST(test_ring_idle_footprint)
{
	struct log_ring *r = log_ring_new();
	unsigned seq = 0, next = 0;
	long long now = 0;

	/* A thread that logs a little each tick wraps its ring many
	 * times and keeps no more than its least size. */
	for (int tick = 0; tick < 4000; tick++) {
		for (int i = 0; i < 5; i++)
			ck_assert_int_eq(push_seq(r, seq++), LOG_RING_QUEUED);
		drain_all(r, &next, now += 100);
	}
	ck_assert_uint_eq(next, seq);
	ck_assert_uint_eq(log_ring_dropped(r), 0);
	ck_assert_uint_eq(atomic_load(&r->limit), LOG_RING_MIN);
	ck_assert_uint_le(resident(r), LOG_RING_MIN);
	ck_assert_uint_le(sizeof *r + resident(r), LOG_RING_IDLE_MAX);
	log_ring_free(r);
}
END_TEST

START_TEST(test_ring_grows_and_gives_back)
{
	struct log_ring *r = log_ring_new();
	unsigned seq = 0, next = 0;
	long long now = 0;

	/* A burst: every drain comes only when the ring says it is half
	 * full, as it doubles, and it drops nothing. */
	for (int i = 0; i < 10000; i++) {
		enum log_ring_pushed p = push_seq(r, seq++);

		ck_assert_int_ne(p, LOG_RING_DROPPED);
		if (p == LOG_RING_WAKE)
			drain_all(r, &next, now += 20);
	}
	ck_assert_uint_eq(atomic_load(&r->limit), LOG_RING_MAX);
	ck_assert_uint_gt(resident(r), LOG_RING_MAX / 2);
	/* Then quiet: the thread logs nothing, yet its pages go back. */
	drain_all(r, &next, now += 20);
	for (int i = 0; i < 3; i++)
		drain_all(r, &next, now += LOG_RING_QUIET_MS);
	ck_assert_uint_eq(next, seq);
	ck_assert_uint_eq(atomic_load(&r->limit), LOG_RING_MIN);
	ck_assert_uint_le(resident(r), LOG_RING_IDLE_MAX - sizeof *r);
	/* And it still works, from wherever the producer stood. */
	for (int i = 0; i < 1000; i++) {
		ck_assert_int_ne(push_seq(r, seq++), LOG_RING_DROPPED);
		if (i % 20 == 19)
			drain_all(r, &next, now += 20);
	}
	drain_all(r, &next, now += LOG_RING_QUIET_MS);
	drain_all(r, &next, now += LOG_RING_QUIET_MS);
	ck_assert_uint_eq(next, seq);
	ck_assert_uint_le(resident(r), LOG_RING_IDLE_MAX - sizeof *r);
	log_ring_free(r);
}
END_TEST

START_TEST(test_ring_grows_before_it_wraps)
{
	struct log_ring *r = log_ring_new();
	unsigned seq = 0, next = 0;
	uint32_t last = 0;

	/* The consumer stays 3,000 bytes behind (past an eighth of the
	 * least size, short of a quarter): at the end of the lap the ring
	 * grows instead of wrapping, which would leave the producer only
	 * the room up to the consumer if the drain then stalled. */
	while (atomic_load(&r->head) < LOG_RING_MIN + 4096) {
		ck_assert_int_ne(push_seq(r, seq++), LOG_RING_DROPPED);
		ck_assert_uint_ge(atomic_load(&r->head), last);
		last = atomic_load(&r->head);
		while (atomic_load(&r->head) - atomic_load(&r->tail) > 3000) {
			log_ring_snap(r);
			ck_assert_uint_eq(take_checked(r, &next, 1), 1);
			log_ring_publish(r);
		}
	}
	ck_assert_uint_eq(atomic_load(&r->limit), 2 * LOG_RING_MIN);
	log_ring_free(r);
}
END_TEST

START_TEST(test_ring_shrinks_in_steps)
{
	struct log_ring *r = log_ring_new();
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	unsigned seq = 0, next = 0;
	long long now = 0;

	for (int i = 0; i < 10000; i++)
		if (push_seq(r, seq++) == LOG_RING_WAKE)
			drain_all(r, &next, now += 20);
	ck_assert_uint_eq(atomic_load(&r->limit), LOG_RING_MAX);
	drain_all(r, &next, now += 20);
	/* Quiet but for one drain of 5,000 bytes: down to 64 KiB, the
	 * pages around the head kept; then, the head where it was, down
	 * to the least, and the pages up to 64 KiB go back too. */
	while (atomic_load(&r->head) - atomic_load(&r->tail) < 5000 &&
	       atomic_load(&r->head) >= atomic_load(&r->tail))
		ck_assert_int_ne(push_seq(r, seq++), LOG_RING_DROPPED);
	drain_all(r, &next, now += LOG_RING_QUIET_MS);
	ck_assert_uint_eq(atomic_load(&r->limit), 4 * LOG_RING_MIN);
	drain_all(r, &next, now += LOG_RING_QUIET_MS);
	ck_assert_uint_eq(atomic_load(&r->limit), LOG_RING_MIN);
	ck_assert_uint_eq(next, seq);
	ck_assert_uint_le(resident(r), LOG_RING_MIN + 2 * page);
	log_ring_free(r);
}
END_TEST

START_TEST(test_ring_access_floor)
{
	struct log_ring *r = log_ring_new();
	struct log_line l = line_of(0, 0, "t", LOG_LVL_INFO, "cmd=get", 7);
	unsigned next = 0;
	long long now = 0;

	/* The first access line makes room for a burst at once; the room
	 * stays while access lines come, and goes once they stop. */
	l.category = LOG_CAT_ACCESS;
	ck_assert_int_eq(log_ring_push(r, &l), LOG_RING_WAKE);
	ck_assert_uint_eq(atomic_load(&r->limit), LOG_RING_ACCESS_MIN);
	for (int i = 0; i < 4; i++) {
		ck_assert_int_eq(log_ring_push(r, &l), LOG_RING_QUEUED);
		log_ring_snap(r);
		while (log_ring_peek(r) != NULL)
			log_ring_take(r);
		log_ring_publish(r);
		log_ring_tune(r, now += LOG_RING_QUIET_MS);
		ck_assert_uint_eq(atomic_load(&r->limit), LOG_RING_ACCESS_MIN);
	}
	drain_all(r, &next, now += LOG_RING_QUIET_MS);
	ck_assert_uint_eq(atomic_load(&r->limit), LOG_RING_MIN);
	log_ring_free(r);
}
END_TEST

START_TEST(test_ring_wraps_intact)
{
	struct log_ring *r = log_ring_new();
	unsigned seq = 0, next = 0, wraps = 0, full = 0;
	uint32_t last = 0;

	/* Long and short lines, the consumer taking a few now and then:
	 * the producer wraps with the consumer on its lap and a lap
	 * behind, the ring grows as it fills, and every line comes out
	 * whole and in order. */
	while (seq < 40000) {
		if (push_seq(r, seq) == LOG_RING_DROPPED) {
			/* Full: make room and push the same line again. */
			full++;
			log_ring_snap(r);
			ck_assert_uint_gt(take_checked(r, &next, 7), 0);
			log_ring_publish(r);
			continue;
		}
		seq++;
		if (atomic_load(&r->head) < last)
			wraps++;
		last = atomic_load(&r->head);
		if (seq % 5 == 0) {
			log_ring_snap(r);
			take_checked(r, &next, 3);
			log_ring_publish(r);
		}
	}
	log_ring_snap(r);
	take_checked(r, &next, UINT32_MAX);
	ck_assert_uint_eq(next, seq);
	ck_assert_uint_eq(log_ring_dropped(r), full);
	ck_assert_uint_gt(full, 0);
	ck_assert_uint_gt(wraps, 10);
	log_ring_free(r);
}
END_TEST

START_TEST(test_ring_drops_exactly)
{
	struct log_ring *r = log_ring_new();
	char msg[2 * LOG_MSG_MAX];
	struct log_line l = line_of(0, 0, "t", LOG_LVL_INFO, msg, 100);
	const size_t n = LOG_REC_SIZE(100);
	/* Nothing drained: the ring grows to its most, and from the start
	 * a record fits if a wrap mark still fits after it; the start
	 * itself is where the consumer stands. */
	const unsigned fit = (LOG_RING_MAX - LOG_REC_ALIGN) / n;
	const struct log_rec *rec;

	memset(msg, 'x', sizeof msg);
	for (unsigned i = 0; i < fit; i++)
		ck_assert_int_ne(log_ring_push(r, &l), LOG_RING_DROPPED);
	ck_assert_uint_eq(atomic_load(&r->limit), LOG_RING_MAX);
	for (int i = 0; i < 5; i++)
		ck_assert_int_eq(log_ring_push(r, &l), LOG_RING_DROPPED);
	ck_assert_uint_eq(log_ring_dropped(r), 5);
	/* Three records taken: two fit at the start, the third would
	 * reach the consumer. */
	log_ring_snap(r);
	for (int i = 0; i < 3; i++) {
		ck_assert_ptr_nonnull(log_ring_peek(r));
		log_ring_take(r);
	}
	log_ring_publish(r);
	ck_assert_int_eq(log_ring_push(r, &l), LOG_RING_WAKE);
	ck_assert_int_eq(log_ring_push(r, &l), LOG_RING_WAKE);
	ck_assert_int_eq(log_ring_push(r, &l), LOG_RING_DROPPED);
	ck_assert_uint_eq(log_ring_dropped(r), 6);
	/* Every record kept comes out, then the ring is empty. */
	log_ring_snap(r);
	for (unsigned i = 3; i < fit + 2; i++) {
		ck_assert_ptr_nonnull(rec = log_ring_peek(r));
		ck_assert_uint_eq(rec->len, 100);
		log_ring_take(r);
	}
	ck_assert_ptr_null(log_ring_peek(r));
	log_ring_publish(r);
	/* A message of LOG_MSG_MAX bytes fits whole; a longer one is cut
	 * to that. */
	l.len = LOG_MSG_MAX;
	ck_assert_int_eq(log_ring_push(r, &l), LOG_RING_QUEUED);
	l.len = sizeof msg;
	msg[LOG_MSG_MAX] = 'y';
	ck_assert_int_eq(log_ring_push(r, &l), LOG_RING_QUEUED);
	log_ring_snap(r);
	for (int i = 0; i < 2; i++) {
		ck_assert_ptr_nonnull(rec = log_ring_peek(r));
		ck_assert_uint_eq(rec->len, LOG_MSG_MAX);
		ck_assert_int_eq(memcmp(rec->msg, msg, LOG_MSG_MAX), 0);
		log_ring_take(r);
	}
	ck_assert_ptr_null(log_ring_peek(r));
	ck_assert_uint_eq(log_ring_dropped(r), 6);
	log_ring_free(r);
}
END_TEST

struct ring_feed {
	struct log_ring *r;
	unsigned lines;
	_Atomic int done;
};

/* The producer side of test_ring_threads. */
static void *
ring_feed_main(void *arg)
{
	struct ring_feed *f = arg;

	for (unsigned seq = 0; seq < f->lines; seq++)
		(void)push_seq(f->r, seq);
	atomic_store(&f->done, 1);
	return NULL;
}

START_TEST(test_ring_threads)
{
	struct ring_feed f = {.r = log_ring_new(), .lines = 20000};
	unsigned next = 0, got = 0;
	long long now = 0;
	pthread_t t;

	/* A producer against a consumer that drains, grows and trims the
	 * ring as it runs (a fast clock: windows end every few drains).
	 * Lines may drop, but those that arrive are whole and in order,
	 * and none is lost uncounted. */
	ck_assert_int_eq(pthread_create(&t, NULL, ring_feed_main, &f), 0);
	for (int done = 0; !done;) {
		done = atomic_load(&f.done);
		log_ring_snap(f.r);
		got += take_checked(f.r, &next, UINT32_MAX);
		log_ring_publish(f.r);
		log_ring_tune(f.r, now += LOG_RING_QUIET_MS / 3);
	}
	ck_assert_int_eq(pthread_join(t, NULL), 0);
	log_ring_snap(f.r);
	got += take_checked(f.r, &next, UINT32_MAX);
	ck_assert_uint_eq(got + log_ring_dropped(f.r), f.lines);
	ck_assert_uint_gt(got, 0);
	log_ring_free(f.r);
}
END_TEST

/* Read a whole file into a NUL-terminated buffer. */
static char *
slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	char *buf;
	long len;
	size_t n;

	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(fseek(f, 0, SEEK_END), 0);
	ck_assert_int_ge(len = ftell(f), 0);
	rewind(f);
	buf = calloc(1, (size_t)len + 1);
	n = fread(buf, 1, (size_t)len, f);
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
	unsigned queued = 0;
	char *text;

	/* Fill main's ring before the logger runs: the overflow is counted
	 * and reported by the logger under its own name. */
	while (log_ring_push(self->ring, &l) != LOG_RING_DROPPED)
		queued++;
	for (int i = 0; i < 2; i++)
		ck_assert_int_eq(
		    log_ring_push(self->ring, &l), LOG_RING_DROPPED);
	/* No line of main's own may join the count. */
	log_set_level(LOG_LVL_WARN);
	ck_assert_int_eq(thread_start(logger, logger_main), 0);
	text = stop_logger(logger, path);
	snprintf(want, sizeof want, " logger warn 3 lines dropped from %s\n",
	    self->name);
	ck_assert_ptr_nonnull(strstr(text, want));
	ck_assert_uint_ge(stat_get(&logger_counters()->lines_written), queued);
	free(text);
	log_threads_free();
	threads_free();
}
END_TEST

int
main(void)
{
	const TTest *tests[] = {test_format_text, test_format_escapes,
	    test_format_truncates, test_format_json, test_format_fields,
	    test_format_json_worst_case_fits, test_levels,
	    test_ring_idle_footprint, test_ring_grows_and_gives_back,
	    test_ring_grows_before_it_wraps, test_ring_shrinks_in_steps,
	    test_ring_access_floor, test_ring_wraps_intact,
	    test_ring_drops_exactly, test_ring_threads,
	    test_logger_writes_lines_of_the_caller, test_logger_reports_drops,
	    NULL};

	return unit_run(
	    &(struct unit_suite){.name = "log", .timeout = 60}, tests);
}
