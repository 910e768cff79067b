/* The meta commands (mg, ms, md, ma, mn, me) against memcached 1.6.18 and
 * threadlined: the catalogue of tests/server/cases/meta.cases, run by
 * tests/server/cases_text.c, and what a catalogue case cannot hold (two
 * clients at once, the stats counters). Each request is followed by "mn", whose
 * MN says every reply is in; replies are normalised (cases_normalise, as
 * meta.cases says) the same way on both servers before they are
 * compared. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cases.h"
#include "harness.h"

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

/* Every case of meta.cases ($TL_CASES), on each server, normalised,
 * equals the expected reply. */
START_TEST(test_catalogue)
{
	cases_run_file(getenv("TL_CASES"), peers, npeers);
}
END_TEST

/* One request on connection fd; its reply, without the MN, in buf. */
static void
ask(int fd, const char *req, char *buf, size_t cap, const char *who)
{
	size_t n =
	    cases_exchange(CASES_MN, fd, req, strlen(req), buf, cap, who);

	buf[n] = '\0';
}

/* The recache flow with two clients: a miss with N hands the win to the
 * first (W), the other sees Z until the winner stores; md I makes the item
 * stale and hands the win to the next reader alone (X W, then Z X). */
START_TEST(test_two_clients)
{
	static const char *const steps[][3] = {
	    {"a", "mg wc N30 v t\r\n", "VA 0 t# W\r\n\r\n"},
	    {"b", "mg wc N30 v\r\n", "VA 0 Z\r\n\r\n"},
	    {"a", "ms wc 3 T60\r\nnew\r\n", "HD\r\n"},
	    {"b", "mg wc N30 v\r\n", "VA 3\r\nnew\r\n"},
	    {"a", "md wc I q\r\n", ""},
	    {"b", "mg wc v c\r\n", "VA 3 c# X W\r\nnew\r\n"},
	    {"a", "mg wc v\r\n", "VA 3 Z X\r\nnew\r\n"},
	    {"b", "ms wc 3 C1 I\r\nold\r\n", "HD\r\n"},
	    {"a", "mg wc v\r\n", "VA 3 Z X\r\nold\r\n"},
	    {"b", "ms wc 3\r\nnew\r\n", "HD\r\n"},
	    {"a", "mg wc v R30\r\n", "VA 3\r\nnew\r\n"},
	};
	char buf[1024], norm[1024];

	for (int p = 0; p < npeers; p++) {
		int a = harness_peer_connect(&peers[p]),
		    b = harness_peer_connect(&peers[p]);

		ck_assert(a != -1 && b != -1);
		for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++) {
			ask(steps[i][0][0] == 'a' ? a : b, steps[i][1], buf,
			    sizeof buf, peers[p].name);
			cases_normalise(buf, strlen(buf), norm, sizeof norm);
			ck_assert_msg(strcmp(norm, steps[i][2]) == 0,
			    "%s, step %zu (%s): want %s got %s", peers[p].name,
			    i, steps[i][1], steps[i][2], norm);
		}
		harness_close(a);
		harness_close(b);
	}
}
END_TEST

/* STAT name's value in a stats reply, or -1. */
static long long
stat_of(const char *stats, const char *name)
{
	char pat[64];
	const char *p;

	snprintf(pat, sizeof pat, "STAT %s ", name);
	p = strstr(stats, pat);
	return p ? strtoll(p + strlen(pat), NULL, 10) : -1;
}

/* The meta commands count where memcached counts them. */
START_TEST(test_stats)
{
	static const char *const names[] = {"cmd_get", "get_hits", "get_misses",
	    "cmd_set", "cmd_touch", "touch_hits", "touch_misses", "delete_hits",
	    "delete_misses", "incr_hits", "incr_misses", "decr_hits",
	    "decr_misses", "cas_hits", "cas_badval"};
	static const char req[] =
	    "ms st 1\r\n5\r\nmg st v\r\nmg nost\r\nmg st T30\r\nmg nost T30\r\n"
	    "ma st\r\nma st MD\r\nma nost\r\nma nost MD\r\nms st 1 C1\r\nx\r\n"
	    "md st\r\nmd st\r\nmd st q\r\n";
	static char buf[REPLY_MAX];
	long long seen[2][sizeof names / sizeof names[0]];

	for (int p = 0; p < npeers; p++) {
		int fd = harness_peer_connect(&peers[p]);
		size_t n;

		ck_assert_int_ne(fd, -1);
		ask(fd, req, buf, sizeof buf, peers[p].name);
		harness_sends(fd, "stats\r\n");
		n = harness_recv(fd, buf, sizeof buf, "END\r\n", 0,
		    HARNESS_DEADLINE_MS, NULL);
		buf[n] = '\0';
		for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
			seen[p][i] = stat_of(buf, names[i]);
			ck_assert_msg(seen[p][i] >= 0, "%s: no %s (%lld)",
			    peers[p].name, names[i], seen[p][i]);
		}
		harness_close(fd);
	}
	for (int p = 1; p < npeers; p++)
		for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
			ck_assert_msg(seen[p][i] == seen[0][i],
			    "%s: threadlined %lld, memcached %lld", names[i],
			    seen[0][i], seen[p][i]);
}
END_TEST

int
main(void)
{
	const TTest *tests[] = {
	    test_catalogue, test_two_clients, test_stats, NULL};

	return harness_run_suite(
	    &(struct harness_suite){
	        .name = "meta", .setup = setup, .server = &tl, .timeout = 120},
	    tests);
}
