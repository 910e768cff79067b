/* The protocol fuzzers' driver (fuzz_feed.h): one input cut into reads
 * and fed to a protocol as a connection feeds it. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

#include "cache.h"
#include "fuzz_feed.h"
#include "log.h"
#include "obuf.h"

static char *rbuf;
static size_t rcap;
/* The server's stats, as far as the parser can tell: a reply per group,
 * ERROR for one group. */
static int
stats_hook(const char *group, size_t len, struct obuf *out)
{
	if (len == 5 && memcmp(group, "bogus", 5) == 0)
		return -1;
	obuf_printf(out, "STAT group %.*s\r\nEND\r\n", (int)len, group);
	return 0;
}

static void
init_once(void)
{
	proto_init(&(struct proto_config){0},
	    &(struct proto_callbacks){.stats = stats_hook});
	log_set_level(LOG_LVL_FATAL);
	/* A small store, so eviction and the memory limit are reached. */
	if (cache_init(&(struct cache_config){
	        .limit = 8 << 20, .item_max = 2048}) == -1)
		abort();
	rcap = proto_text_buffer_max();
	if ((rbuf = malloc(rcap)) == NULL)
		abort();
}

/* Send nothing anywhere, but walk every reply vector as writev would. */
static void
drain(struct obuf *out)
{
	struct iovec iov[64];
	volatile unsigned char sink = 0;

	while (obuf_pending(out) > 0) {
		size_t got = 0;
		int k = obuf_iov(out, iov, 64);

		for (int i = 0; i < k; i++) {
			const unsigned char *p = iov[i].iov_base;

			if (iov[i].iov_len > 0)
				sink ^= p[0] ^ p[iov[i].iov_len - 1];
			got += iov[i].iov_len;
		}
		obuf_consume(out, got);
	}
	(void)sink;
}

/* Feed one input to process, cut into reads. */
int
fuzz_feed(const uint8_t *data, size_t size, fuzz_process_fn *process)
{
	static struct cache_stats st;
	struct proto_ctx ctx = {.st = &st};
	enum proto_action action = PROTO_CONTINUE;
	struct obuf out;
	size_t rlen = 0, off, used;
	uint32_t seed;

	if (rbuf == NULL)
		init_once();
	/* An earlier input's "verbosity" must not fill the output with log
	 * lines for every input after it. */
	log_set_level(LOG_LVL_FATAL);
	if (size < 2)
		return 0;
	/* The first two bytes choose how the rest is cut into reads. */
	seed = (uint32_t)data[0] << 8 | data[1];
	data += 2;
	size -= 2;
	obuf_init(&out, NULL);
	for (off = 0; off < size && action == PROTO_CONTINUE;) {
		size_t chunk;

		seed = seed * 1103515245u + 12345u;
		chunk = 1 + (seed >> 16) % 512;
		if (chunk > size - off)
			chunk = size - off;
		if (chunk > rcap - rlen)
			chunk = rcap - rlen;
		memcpy(rbuf + rlen, data + off, chunk);
		rlen += chunk;
		off += chunk;
		used = process(&ctx, rbuf, rlen, &out, &action);
		rlen -= used;
		memmove(rbuf, rbuf + used, rlen);
		drain(&out);
		/* A full buffer that no request can use would stall the
		 * connection for good. */
		if (rlen == rcap && action == PROTO_CONTINUE)
			abort();
	}
	obuf_free(&out);
	return 0;
}
