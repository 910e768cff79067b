/* The slow log: a ring of the last slow requests under one lock, taken
 * only by slow requests and by readers. */
#include <pthread.h>
#include <string.h>

#include "proto_slowlog.h"

static pthread_mutex_t slowlog_lock = PTHREAD_MUTEX_INITIALIZER;
static struct proto_slow slowlog[PROTO_SLOWLOG_MAX];
static uint64_t slowlog_next = 1; /* the next entry's id */
static size_t slowlog_count;

struct proto_slow *
proto_slowlog_next(void)
{
	struct proto_slow *e;

	pthread_mutex_lock(&slowlog_lock);
	e = &slowlog[slowlog_next % PROTO_SLOWLOG_MAX];
	e->id = slowlog_next;
	e->nkey = 0;
	return e;
}

void
proto_slowlog_commit(void)
{
	slowlog_next++;
	if (slowlog_count < PROTO_SLOWLOG_MAX)
		slowlog_count++;
	pthread_mutex_unlock(&slowlog_lock);
}

size_t
proto_slowlog_read(struct proto_slow *out, size_t n)
{
	size_t i;

	pthread_mutex_lock(&slowlog_lock);
	if (n > slowlog_count)
		n = slowlog_count;
	for (i = 0; i < n; i++)
		out[i] = slowlog[(slowlog_next - 1 - i) % PROTO_SLOWLOG_MAX];
	pthread_mutex_unlock(&slowlog_lock);
	return n;
}

void
proto_slowlog_reset(void)
{
	pthread_mutex_lock(&slowlog_lock);
	slowlog_count = 0;
	pthread_mutex_unlock(&slowlog_lock);
}

void
proto_slowlog_key_text(const struct proto_slow *e, char *buf)
{
	static const char hex[] = "0123456789abcdef";
	size_t n = 0;

	if (e->nkey == 0) {
		memcpy(buf, "-", 2);
		return;
	}
	for (size_t i = 0; i < e->nkey; i++) {
		unsigned char c = (unsigned char)e->key[i];

		if (c <= 0x20 || c >= 0x7f || c == '\\') {
			buf[n++] = '\\';
			buf[n++] = 'x';
			buf[n++] = hex[c >> 4];
			buf[n++] = hex[c & 15];
		} else
			buf[n++] = (char)c;
	}
	buf[n] = '\0';
}
