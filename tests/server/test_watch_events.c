/* memcached's watcher events over "watch": "watch fetchers mutations
 * evictions connevents" streams item fetches, stores, evictions and
 * connections in memcached's own line format, checked field by field
 * against Debian's memcached, and never reaches the log file. */
#include <check.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

/* What a client does while a watcher watches: a store, a hit, a miss, a
 * meta set and get, a refused append, then it leaves. */
static const char client_requests[] =
    "set foo 5 0 3\r\nbar\r\nget foo nope\r\nms baz 2 T60\r\nhi\r\n"
    "mg baz v\r\nappend bar 0 0 1\r\nx\r\n";
static const char client_replies[] = "STORED\r\nVALUE foo 5 3\r\nbar\r\nEND\r\n"
                                     "HD\r\nVA 2\r\nhi\r\nNOT_STORED\r\n";

/* A connection to a server on a TCP port, or on a Unix socket. */
static int
peer_connect(int port, const char *sock)
{
	int fd =
	    sock != NULL ? harness_connect_unix(sock) : harness_connect(port);

	ck_assert_msg(fd != -1, "nothing listens on %s", sock);
	return fd;
}

/* Send reqs as a client of a server (port, or sock when not NULL) while a
 * watcher of args watches, until the replies end with replies' last line
 * and are replies; the stream up to and with the line holding last goes to
 * buf. */
static void
watch_run(int port, const char *sock, const char *args, const char *reqs,
    const char *replies, const char *last, char *buf, size_t cap)
{
	int w = peer_connect(port, sock);
	int c;
	char req[128], reply[512];
	const char *end = replies + strlen(replies) - 2;
	bool eof;

	while (end > replies && end[-1] != '\n')
		end--;

	snprintf(req, sizeof req, "watch%s%s\r\n", args[0] ? " " : "", args);
	harness_cmd(w, req, "OK\r\n", reply, sizeof reply);
	ck_assert_str_eq(reply, "OK\r\n");
	c = peer_connect(port, sock);
	harness_cmd(c, reqs, end, reply, sizeof reply);
	ck_assert_str_eq(reply, replies);
	harness_close(c);
	harness_recv(w, buf, cap, last, 0, HARNESS_DEADLINE_MS, &eof);
	ck_assert_msg(strstr(buf, last) != NULL, "no '%s' in: %s", last, buf);
	harness_close(w);
}

/* watch_run with the client of client_requests. */
static void
watch_exchange(int port, const char *sock, const char *args, const char *last,
    char *buf, size_t cap)
{
	watch_run(
	    port, sock, args, client_requests, client_replies, last, buf, cap);
}

/* The line of buf with type=TYPE and, if not NULL, key=KEY; its field
 * names ("ts gid type key ...") into names. */
static bool
event_line(const char *buf, const char *type, const char *key, char *line,
    size_t cap, char *names, size_t ncap)
{
	char t[64], k[300];
	const char *p = buf;

	snprintf(t, sizeof t, " type=%s ", type);
	snprintf(k, sizeof k, " key=%s ", key ? key : "");
	while (*p != '\0') {
		const char *nl = strchr(p, '\n');
		size_t len = nl ? (size_t)(nl - p) : strlen(p);

		if (len < cap) {
			memcpy(line, p, len);
			line[len] = '\0';
			if (strstr(line, t) &&
			    (key == NULL || strstr(line, k))) {
				char copy[1024], *tok, *save = NULL;

				snprintf(copy, sizeof copy, "%s", line);
				names[0] = '\0';
				for (tok = strtok_r(copy, " ", &save); tok;
				     tok = strtok_r(NULL, " ", &save)) {
					char *eq = strchr(tok, '=');

					if (eq != NULL)
						*eq = '\0';
					snprintf(names + strlen(names),
					    ncap - strlen(names), "%s%s",
					    names[0] ? " " : "", tok);
				}
				return true;
			}
		}
		if (nl == NULL)
			break;
		p = nl + 1;
	}
	return false;
}

/* Every event a client causes comes in memcached's format, with the
 * values the requests imply; none reaches the log file. */
START_TEST(test_events_of_a_client)
{
	struct harness_server srv;
	char buf[8192], line[1024], names[256], *log;

	harness_server_start(&srv, "srv", 1, NULL);
	watch_exchange(srv.port, NULL, "fetchers mutations connevents",
	    "type=conn_close", buf, sizeof buf);
	ck_assert_msg(strncmp(buf, "ts=", 3) == 0, "stream: %s", buf);
	ck_assert(event_line(
	    buf, "conn_new", NULL, line, sizeof line, names, sizeof names));
	ck_assert_ptr_nonnull(strstr(line, " rip=127.0.0.1 rport="));
	ck_assert(event_line(
	    buf, "item_store", "foo", line, sizeof line, names, sizeof names));
	ck_assert_ptr_nonnull(
	    strstr(line, " status=stored cmd=set ttl=0 clsid="));
	ck_assert_ptr_nonnull(strstr(line, " size=3"));
	/* After the set's own look-up, a miss. */
	ck_assert_ptr_nonnull(
	    strstr(buf, " type=item_get key=foo status=found clsid="));
	ck_assert(event_line(
	    buf, "item_get", "nope", line, sizeof line, names, sizeof names));
	ck_assert_ptr_nonnull(strstr(line, " status=not_found clsid=0 cfd="));
	ck_assert(event_line(
	    buf, "item_store", "bar", line, sizeof line, names, sizeof names));
	ck_assert_ptr_nonnull(strstr(line, " status=not_stored cmd=append "));
	ck_assert(event_line(
	    buf, "conn_close", NULL, line, sizeof line, names, sizeof names));
	ck_assert_ptr_nonnull(strstr(line, " reason=normal "));
	/* Counted as memcached counts them. */
	{
		int fd = harness_connect(srv.port);
		char stats[8192], v[32];

		harness_cmd(fd, "stats\r\n", "END\r\n", stats, sizeof stats);
		ck_assert(harness_stat(stats, "log_watcher_sent", v, sizeof v));
		ck_assert_int_ge(atoi(v), 8);
		close(fd);
	}
	ck_assert_int_eq(harness_server_stop(&srv), 0);
	log = harness_file_read(srv.log);
	ck_assert_ptr_nonnull(log);
	ck_assert_ptr_null(strstr(log, "type=item_"));
	free(log);
}
END_TEST

/* An item evicted to make room is an "eviction" event, unfetched. */
START_TEST(test_eviction_event)
{
	const char *args[] = {"-m", "8", NULL};
	struct harness_server srv;
	static char value[100 * 1024 + 64], buf[65536];
	int w, c;
	bool eof;
	char reply[64];

	harness_server_start(&srv, "srv", 1, args);
	w = harness_connect(srv.port);
	harness_cmd(w, "watch evictions\r\n", "OK\r\n", reply, sizeof reply);
	c = harness_connect(srv.port);
	for (int i = 0; i < 200; i++) {
		int n = snprintf(
		    value, sizeof value, "set k%d 0 0 %d\r\n", i, 100 * 1024);

		memset(value + n, 'v', 100 * 1024);
		memcpy(value + n + 100 * 1024, "\r\n", 2);
		harness_send(c, value, (size_t)n + 100 * 1024 + 2);
		harness_recv(c, reply, sizeof reply, "\r\n", 0,
		    HARNESS_DEADLINE_MS, &eof);
		ck_assert_str_eq(reply, "STORED\r\n");
	}
	harness_recv(
	    w, buf, sizeof buf, "clsid=", 0, HARNESS_DEADLINE_MS, &eof);
	ck_assert_msg(
	    strstr(buf, " type=eviction key=k0 fetch=no ttl=-1 la=") != NULL,
	    "stream: %s", buf);
	close(c);
	close(w);
	ck_assert_int_eq(harness_server_stop(&srv), 0);
}
END_TEST

/* A bare "watch" streams what "watch fetchers" does: the client's
 * fetches, no stores, no connections, no log lines. */
static void
bare_watch_check(int port, const char *sock, const char *who)
{
	static char buf[8192];
	char line[1024], names[256];

	watch_exchange(
	    port, sock, "", "type=item_get key=baz", buf, sizeof buf);
	ck_assert_msg(strncmp(buf, "ts=", 3) == 0, "%s: %s", who, buf);
	ck_assert_msg(event_line(buf, "item_get", "foo", line, sizeof line,
	                  names, sizeof names),
	    "%s: no fetch of foo: %s", who, buf);
	ck_assert_msg(event_line(buf, "item_get", "nope", line, sizeof line,
	                  names, sizeof names),
	    "%s: no fetch of nope: %s", who, buf);
	ck_assert_msg(strstr(buf, "type=item_store") == NULL &&
	                  strstr(buf, "type=conn_") == NULL,
	    "%s: more than fetches: %s", who, buf);
}

/* memcached as the watch tests want it: one worker, the socket 0700. */
static bool
memcached_start(struct harness_memcached *mc)
{
	return harness_memcached_start(mc, "mc.sock",
	    (const char *const[]){"-a", "0700", "-t", "1", NULL});
}

/* check on memcached where it is installed, then on threadlined. */
static void
check_both(void (*check)(int port, const char *sock, const char *who))
{
	struct harness_server srv;
	struct harness_memcached mc;

	if (memcached_start(&mc))
		check(0, mc.sock, "memcached");
	harness_server_start(&srv, "srv", 1, NULL);
	check(srv.port, NULL, "threadlined");
	ck_assert_int_eq(harness_server_stop(&srv), 0);
}

/* Bare "watch" is "watch fetchers", in memcached and here. */
START_TEST(test_bare_watch_is_fetchers)
{
	check_both(bare_watch_check);
}
END_TEST

/* Keys with bytes a terminal or a line reader acts on, stored, got and
 * missed; one is binary, from base64 ("eAp5" is "x\ny"). */
static const char odd_requests[] =
    "set a#b/c%d 0 0 1\r\nx\r\nset \033[31mred 0 0 1\r\nx\r\n"
    "ms eAp5 1 b\r\nz\r\nmg eAp5 b v\r\nmg a#b/c%d v\r\nget \303\251\r\n";
static const char odd_replies[] =
    "STORED\r\nSTORED\r\nHD\r\nVA 1\r\nz\r\nVA 1\r\nx\r\nEND\r\n";

/* Each odd key comes URI-encoded as memcached's uriencode() has it, the
 * binary one decoded first; no byte of a key comes raw. */
static void
odd_keys_check(int port, const char *sock, const char *who)
{
	static const struct {
		const char *type, *key;
	} want[] = {
	    {"item_store", "a%23b%2Fc%25d"},
	    {"item_get", "a%23b%2Fc%25d"},
	    {"item_store", "%1B%5B31mred"},
	    {"item_store", "x%0Ay"},
	    {"item_get", "x%0Ay"},
	    {"item_get", "%C3%A9"},
	};
	static char buf[8192];
	char line[1024], names[256];

	watch_run(port, sock, "fetchers mutations", odd_requests, odd_replies,
	    "key=%C3%A9", buf, sizeof buf);
	for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
		ck_assert_msg(event_line(buf, want[i].type, want[i].key, line,
		                  sizeof line, names, sizeof names),
		    "%s: no %s key=%s: %s", who, want[i].type, want[i].key,
		    buf);
	ck_assert_msg(strchr(buf, '\033') == NULL, "%s: raw ESC: %s", who, buf);
	for (const char *p = buf; *p != '\0'; p = strchr(p, '\n') + 1) {
		ck_assert_msg(strncmp(p, "ts=", 3) == 0,
		    "%s: a line not an event: %s", who, p);
		if (strchr(p, '\n') == NULL)
			break;
	}
}

/* Keys are URI-encoded in events, in memcached and here. */
START_TEST(test_keys_uri_encoded)
{
	check_both(odd_keys_check);
}
END_TEST

/* Every storage command, classic and meta, on a key there and on one
 * not there. */
static const char store_requests[] =
    "set s1 0 0 1\r\nx\r\nset s1 0 0 1\r\ny\r\nadd s1 0 0 1\r\nx\r\n"
    "add a1 0 0 1\r\nx\r\nreplace r1 0 0 1\r\nx\r\n"
    "replace s1 0 0 1\r\nz\r\nappend p1 0 0 1\r\nx\r\n"
    "append s1 0 0 1\r\nx\r\nprepend s1 0 0 1\r\nx\r\n"
    "cas s1 0 0 1 99\r\nx\r\ncas c1 0 0 1 1\r\nx\r\nms m1 1\r\nx\r\n"
    "ms s1 1 MA\r\nx\r\nms m2 1 ME\r\nx\r\nms e1 1 MR\r\nw\r\n"
    "mn\r\n";
static const char store_replies[] =
    "STORED\r\nSTORED\r\nNOT_STORED\r\nSTORED\r\nNOT_STORED\r\n"
    "STORED\r\nNOT_STORED\r\nSTORED\r\nSTORED\r\nEXISTS\r\n"
    "NOT_FOUND\r\nHD\r\nHD\r\nHD\r\nNS\r\nMN\r\n";

/* The item_ events of buf, one a line, without the fields that differ
 * between servers and runs (ts gid clsid cfd), into out. */
static void
item_events(const char *buf, char *out, size_t cap)
{
	out[0] = '\0';
	for (const char *p = buf; *p != '\0';) {
		size_t len = strcspn(p, "\n");
		char line[1024], *tok, *save = NULL;

		snprintf(line, sizeof line, "%.*s", (int)len, p);
		if (strstr(line, " type=item_") != NULL) {
			for (tok = strtok_r(line, " ", &save); tok;
			     tok = strtok_r(NULL, " ", &save))
				if (strncmp(tok, "ts=", 3) != 0 &&
				    strncmp(tok, "gid=", 4) != 0 &&
				    strncmp(tok, "clsid=", 6) != 0 &&
				    strncmp(tok, "cfd=", 4) != 0)
					snprintf(out + strlen(out),
					    cap - strlen(out), "%s ", tok);
			snprintf(out + strlen(out), cap - strlen(out), "\n");
		}
		p += len;
		if (*p == '\n')
			p++;
	}
}

/* A store looks its key up first, and memcached logs that as an
 * item_get to fetchers before the item_store: the same events, in the
 * same order, from memcached and here. */
START_TEST(test_store_looks_up_as_memcached)
{
	struct harness_server srv;
	struct harness_memcached mc;
	static char buf[16384], want[8192], got[8192];

	if (!memcached_start(&mc))
		return;
	watch_run(0, mc.sock, "fetchers mutations", store_requests,
	    store_replies, "type=item_store key=e1 ", buf, sizeof buf);
	item_events(buf, want, sizeof want);
	ck_assert_msg(strstr(want, "type=item_get key=s1 status=not_found "
	                           "size=0 \ntype=item_store key=s1 ") == want,
	    "memcached: %s", want);
	harness_server_start(&srv, "srv", 1, NULL);
	watch_run(srv.port, NULL, "fetchers mutations", store_requests,
	    store_replies, "type=item_store key=e1 ", buf, sizeof buf);
	item_events(buf, got, sizeof got);
	ck_assert_str_eq(got, want);
	ck_assert_int_eq(harness_server_stop(&srv), 0);
}
END_TEST

/* Send n pipelined misses of a 250-byte key of '%', each an item_get of
 * some 850 bytes once encoded, and read their n replies. */
static void
long_misses(int fd, int n)
{
	static char req[256 * 1000], reply[5 * 1000 + 1];
	size_t len = 0, got = 0;
	bool eof;

	ck_assert_int_le(n, 1000);
	for (int i = 0; i < n; i++) {
		memcpy(req + len, "get ", 4);
		memset(req + len + 4, '%', 250);
		memcpy(req + len + 254, "\r\n", 2);
		len += 256;
	}
	harness_send(fd, req, len);
	while (got < (size_t)n * 5) {
		size_t r = harness_recv(fd, reply, (size_t)n * 5 - got + 1,
		    NULL, (size_t)n * 5 - got, HARNESS_DEADLINE_MS, &eof);

		ck_assert_msg(r > 0, "replies stopped after %zu bytes", got);
		got += r;
	}
}

/* A watcher of memcached's events that falls behind is told how many it
 * missed as memcached tells it: a line "skipped=N". */
START_TEST(test_skipped_as_memcached)
{
	static char buf[65536 + 1];
	struct harness_server srv;
	char reply[16], line[64];
	long long deadline;
	size_t keep = 0;
	const char *p = NULL;
	regex_t rx;
	int w, fd;

	harness_server_start(&srv, "srv", 1, NULL);
	/* A watcher that takes little at a time: 4 KiB of receive buffer. */
	w = harness_connect_rcvbuf(srv.port, 4096);
	harness_sends(w, "watch fetchers\r\n");
	/* Exactly the reply: events may follow it at once. */
	harness_recv(
	    w, reply, sizeof reply, NULL, 4, HARNESS_DEADLINE_MS, NULL);
	ck_assert_str_eq(reply, "OK\r\n");
	fd = harness_connect(srv.port);
	/* Until the server says it skipped lines for the watcher. */
	for (deadline = harness_now_ms() + HARNESS_DEADLINE_MS * 3;;) {
		static char stats[16384];
		const char *s;

		long_misses(fd, 1000);
		harness_cmd(
		    fd, "stats threads\r\n", "END\r\n", stats, sizeof stats);
		s = strstr(stats, "STAT logger:watch_skipped ");
		ck_assert_msg(s != NULL, "no watch_skipped in stats threads");
		if (atoll(s + strlen("STAT logger:watch_skipped ")) > 0)
			break;
		ck_assert_msg(harness_now_ms() < deadline,
		    "the stalled watcher never overflowed");
	}
	/* Now read; the marker comes before the first event after the
	 * backlog drained, so keep making events. */
	deadline = harness_now_ms() + HARNESS_DEADLINE_MS * 3;
	while (harness_now_ms() < deadline) {
		size_t n = harness_recv(
		    w, buf + keep, sizeof buf - 1 - keep, NULL, 0, 50, NULL);

		if ((p = strstr(buf, "skipped=")) != NULL &&
		    strchr(p, '\n') != NULL)
			break;
		p = NULL;
		if (n == 0)
			long_misses(fd, 1);
		/* Keep a tail so a marker split across reads is found. */
		keep += n;
		if (keep > 4096) {
			memmove(buf, buf + keep - 1024, 1024);
			keep = 1024;
			buf[keep] = '\0';
		}
	}
	ck_assert_msg(p != NULL, "no skipped= in the stalled watcher's stream");
	ck_assert_msg(p == buf || p[-1] == '\n', "skipped= not a line: %s", p);
	snprintf(line, sizeof line, "%.*s", (int)strcspn(p, "\n"), p);
	ck_assert(regcomp(&rx, "^skipped=[1-9][0-9]*$", REG_EXTENDED) == 0);
	ck_assert_msg(regexec(&rx, line, 0, NULL, 0) == 0, "marker: %s", line);
	regfree(&rx);
	harness_close(w);
	harness_close(fd);
	ck_assert_int_eq(harness_server_stop(&srv), 0);
}
END_TEST

/* Each event type has memcached's fields in memcached's order: the same
 * client against Debian's memcached and against threadlined. */
START_TEST(test_fields_as_memcached)
{
	static const struct {
		const char *type, *key;
	} kinds[] = {
	    {"item_get", "foo"},
	    {"item_get", "nope"},
	    {"item_store", "foo"},
	    {"item_store", "baz"},
	    {"item_get", "baz"},
	    {"conn_new", NULL},
	    {"conn_close", NULL},
	};
	struct harness_server srv;
	struct harness_memcached memcached;
	static char mc[8192], tl[8192];
	char line[1024], want[256], got[256];

	if (!memcached_start(&memcached))
		return;
	watch_exchange(0, memcached.sock, "fetchers mutations connevents",
	    "type=conn_close", mc, sizeof mc);
	harness_server_start(&srv, "srv", 1, NULL);
	watch_exchange(srv.port, NULL, "fetchers mutations connevents",
	    "type=conn_close", tl, sizeof tl);
	for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
		ck_assert_msg(event_line(mc, kinds[i].type, kinds[i].key, line,
		                  sizeof line, want, sizeof want),
		    "memcached sent no %s: %s", kinds[i].type, mc);
		ck_assert_msg(event_line(tl, kinds[i].type, kinds[i].key, line,
		                  sizeof line, got, sizeof got),
		    "threadlined sent no %s: %s", kinds[i].type, tl);
		ck_assert_msg(strcmp(want, got) == 0,
		    "%s: memcached's fields '%s', ours '%s'", kinds[i].type,
		    want, got);
	}
	ck_assert_int_eq(harness_server_stop(&srv), 0);
}
END_TEST

int
main(void)
{
	const TTest *tests[] = {test_events_of_a_client, test_eviction_event,
	    test_fields_as_memcached, test_bare_watch_is_fetchers,
	    test_keys_uri_encoded, test_skipped_as_memcached,
	    test_store_looks_up_as_memcached, NULL};

	return harness_run_suite(
	    &(struct harness_suite){.name = "watch_events", .timeout = 60},
	    tests);
}
