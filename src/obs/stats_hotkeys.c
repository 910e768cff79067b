/* Each worker's hot keys, read from its Space-Saving tables: the top N
 * by requests, then by bytes sent, with their counts and error bounds;
 * keys URI-encoded as memcached's watcher events print them, since a
 * binary protocol key may hold any byte. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <event2/buffer.h>

#include "hotkeys.h"
#include "log_event.h"
#include "obuf.h"
#include "stats_hotkeys.h"
#include "thread.h"
#include "worker.h"

static const char *const stats_hotkeys_by[HOTKEYS_BY] = {
    [HOTKEYS_REQUESTS] = "requests",
    [HOTKEYS_BYTES] = "bytes",
};

bool
stats_hotkeys_arg(const char *s, size_t len, unsigned *n)
{
	unsigned long v = 0;

	if (len == 0 || len > 9)
		return false;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (unsigned long)(s[i] - '0');
	}
	if (v == 0)
		return false;
	*n = v > HOTKEYS_CAP ? HOTKEYS_CAP : (unsigned)v;
	return true;
}

/* One worker's lines of one measure. */
static void
stats_hotkeys_lines(
    struct obuf *out, const struct thread *t, enum hotkeys_by by, unsigned n)
{
	struct hotkeys_entry top[HOTKEYS_CAP];
	char key[LOG_EVENT_KEY_MAX];
	uint64_t total;
	unsigned k;

	k = hotkeys_top(worker_hotkeys(t->index), by, top, n, &total);
	obuf_printf(out, "STAT %s:%s_total %llu\r\n", t->name,
	    stats_hotkeys_by[by], (unsigned long long)total);
	for (unsigned i = 0; i < k; i++)
		obuf_printf(out, "STAT %s:%s:%u %s count=%llu error=%llu\r\n",
		    t->name, stats_hotkeys_by[by], i + 1,
		    log_event_key(key, top[i].key, top[i].nkey),
		    (unsigned long long)top[i].count,
		    (unsigned long long)top[i].error);
}

void
stats_hotkeys(const char *args, const char *end, struct obuf *out)
{
	unsigned n = STATS_HOTKEYS_DEFAULT;
	const char *w;

	while (args < end && *args == ' ')
		args++;
	w = args;
	while (args < end && *args != ' ')
		args++;
	if (args > w && !stats_hotkeys_arg(w, (size_t)(args - w), &n)) {
		obuf_adds(out, "CLIENT_ERROR bad command line\r\n");
		return;
	}
	while (args < end && *args == ' ')
		args++;
	if (args < end) {
		obuf_adds(out, "CLIENT_ERROR bad command line\r\n");
		return;
	}
	for (int i = 0; i < thread_count(); i++) {
		const struct thread *t = thread_at(i);

		if (t->role != ROLE_WORKER)
			continue;
		for (int by = 0; by < HOTKEYS_BY; by++)
			stats_hotkeys_lines(out, t, by, n);
	}
	obuf_adds(out, "END\r\n");
}

/* One worker's measure as a JSON member: "requests":{"total":T,"top":[...]} */
static void
stats_hotkeys_member(
    struct evbuffer *b, const struct thread *t, enum hotkeys_by by, unsigned n)
{
	struct hotkeys_entry top[HOTKEYS_CAP];
	char key[LOG_EVENT_KEY_MAX];
	uint64_t total;
	unsigned k;

	k = hotkeys_top(worker_hotkeys(t->index), by, top, n, &total);
	evbuffer_add_printf(b, "%s\"%s\":{\"total\":%llu,\"top\":[",
	    by > 0 ? "," : "", stats_hotkeys_by[by], (unsigned long long)total);
	for (unsigned i = 0; i < k; i++)
		evbuffer_add_printf(b,
		    "%s{\"rank\":%u,\"key\":\"%s\",\"count\":%llu,"
		    "\"error\":%llu}",
		    i > 0 ? "," : "", i + 1,
		    log_event_key(key, top[i].key, top[i].nkey),
		    (unsigned long long)top[i].count,
		    (unsigned long long)top[i].error);
	evbuffer_add_printf(b, "]}");
}

void
stats_hotkeys_json(struct evbuffer *b, unsigned n)
{
	bool first = true;

	evbuffer_add_printf(
	    b, "{\"capacity\":%u,\"n\":%u,\"workers\":[", HOTKEYS_CAP, n);
	for (int i = 0; i < thread_count(); i++) {
		const struct thread *t = thread_at(i);

		if (t->role != ROLE_WORKER)
			continue;
		evbuffer_add_printf(
		    b, "%s{\"thread\":\"%s\",", first ? "" : ",", t->name);
		first = false;
		for (int by = 0; by < HOTKEYS_BY; by++)
			stats_hotkeys_member(b, t, by, n);
		evbuffer_add_printf(b, "}");
	}
	evbuffer_add_printf(b, "]}\n");
}
