/* The text protocol's commands on the server rather than on items:
 * stats, flush_all, cache_memlimit, version, quit, shutdown, verbosity,
 * access_log, watch, slabs, and lru_crawler with its metadump. */
#include <errno.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cache.h"
#include "counter.h"
#include "log.h"
#include "log_event.h"
#include "log_filter.h"
#include "obuf.h"
#include "proto_req.h"
#include "proto_slowlog.h"
#include "proto_text.h"
#include "proto_tok.h"
#include "tl_build.h"
#include "xmalloc.h"

/* flush_all [delay] [noreply] */
void
cmd_flush_all(struct request *r, int arg)
{
	int32_t delay = 0;

	/* As memcached: too many words is ERROR even with noreply; a word
	 * after the delay other than noreply is ignored, and a delay in the
	 * past (or negative) means now. Counted even when refused. */
	if (r->ntok > 3) {
		REPLY(r, REPLY_ERROR);
		return;
	}
	r->noreply = cmd_has_noreply(r);
	stat_add(&r->ctx->st->cmd_flush, 1);
	if (proto_cfg.no_flush) {
		REPLY(r, "CLIENT_ERROR flush_all not allowed\r\n");
		return;
	}
	if (r->ntok != 1 + r->noreply &&
	    !cmd_exptime_arg(r, &r->tok[1], &delay))
		return;
	cache_flush_all(delay);
	if (delay > 0)
		log_notice(AUDIT_FMT "flush_all in %d", AUDIT(r), (int)delay);
	else
		log_notice(AUDIT_FMT "flush_all", AUDIT(r));
	REPLY(r, "OK\r\n");
}

/* cache_memlimit MB [noreply] */
void
cmd_cache_memlimit(struct request *r, int arg)
{
	uint32_t mb;

	/* memcached answers a bad number with a bare ERROR here, and a bad
	 * count of words before it looks for noreply. */
	if (r->ntok != 2 && r->ntok != 3) {
		REPLY(r, REPLY_ERROR);
		return;
	}
	r->noreply = cmd_has_noreply(r);
	if (tok_u32(&r->tok[1], &mb) == -1) {
		REPLY(r, REPLY_ERROR);
		return;
	}
	if (mb < 8) {
		REPLY(r, "MEMLIMIT_TOO_SMALL cannot set maxbytes to less than "
		         "8m\r\n");
		return;
	}
	cache_set_limit((size_t)mb << 20);
	log_notice(
	    AUDIT_FMT "memory limit set to %u MB", AUDIT(r), (unsigned)mb);
	REPLY(r, "OK\r\n");
}

/* version: the memcached release whose protocol we speak, and ours. */
void
cmd_version(struct request *r, int arg)
{
	REPLY(r, "VERSION " TL_WIRE_VERSION "\r\n");
}

/* debug sleep MS: the worker sleeps, for the stall watchdog's tests;
 * unknown unless the server was started with debug commands. */
void
cmd_debug(struct request *r, int arg)
{
	struct timespec ts;
	uint32_t ms;

	if (!proto_cfg.debug) {
		cmd_unknown(r);
		return;
	}
	if (r->ntok != 3 || !tok_is(&r->tok[1], "sleep") ||
	    tok_u32(&r->tok[2], &ms) == -1 || ms > 600000) {
		REPLY(r, REPLY_BAD_FORMAT);
		return;
	}
	log_notice("debug sleep %u ms", (unsigned)ms);
	ts.tv_sec = (time_t)(ms / 1000);
	ts.tv_nsec = (long)(ms % 1000) * 1000000;
	/* The watchdog's signal interrupts it: sleep what is left. */
	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
	REPLY(r, "OK\r\n");
}

/* quit: close once the replies before it are sent. */
void
cmd_quit(struct request *r, int arg)
{
	*r->action = PROTO_QUIT;
}

/* shutdown [graceful] stops the server, when the config allows it. Ours
 * is always memcached's graceful one: replies already made are sent. */
void
cmd_shutdown(struct request *r, int arg)
{
	if (!proto_cfg.shutdown) {
		REPLY(r, "ERROR: shutdown not enabled\r\n");
		return;
	}
	if (r->ntok > 2 || (r->ntok == 2 && !tok_is(&r->tok[1], "graceful"))) {
		REPLY(r, "CLIENT_ERROR invalid shutdown mode\r\n");
		return;
	}
	log_notice(AUDIT_FMT "shutdown requested by a client", AUDIT(r));
	*r->action = PROTO_SHUTDOWN;
}

/* verbosity LEVEL [THREAD]: LEVEL is memcached's number (as -v's:
 * log_level_of_verbosity) or a level name; THREAD, our extension, a
 * thread's name or a role, limits the change to those threads. A number
 * there is what memcached reads: a word it ignores ("verbosity 1 2" sets
 * every thread), as it does not name a thread. */
void
cmd_verbosity(struct request *r, int arg)
{
	char name[32];
	uint32_t n;
	int level;
	/* memcached takes 2 or 3 words; THREAD noreply make a 4th, ours. */
	bool thread = r->ntok >= 3 && r->ntok <= 4 &&
	              !tok_is(&r->tok[2], "noreply") &&
	              tok_u32(&r->tok[2], &n) == -1;

	if (r->ntok < 2 || r->ntok > 3 + thread) {
		REPLY(r, REPLY_ERROR);
		return;
	}
	/* As memcached, "verbosity noreply" is a bad level, answered
	 * silently. */
	r->noreply = cmd_has_noreply(r);
	if (r->ntok == 4 && !r->noreply) {
		REPLY(r, REPLY_ERROR);
		return;
	}
	if (tok_u32(&r->tok[1], &n) == 0)
		level = log_level_of_verbosity(n);
	else if (r->tok[1].len < sizeof name) {
		memcpy(name, r->tok[1].s, r->tok[1].len);
		name[r->tok[1].len] = '\0';
		level = log_level_parse(name);
	} else
		level = -1;
	if (level == -1) {
		REPLY(r, REPLY_BAD_FORMAT);
		return;
	}
	if (!thread) {
		log_set_level(level);
		log_notice(AUDIT_FMT "log level set to %s", AUDIT(r),
		    log_level_name(level));
		REPLY(r, "OK\r\n");
		return;
	}
	snprintf(name, sizeof name, "%.*s",
	    (int)(r->tok[2].len < 31 ? r->tok[2].len : 31), r->tok[2].s);
	if (r->tok[2].len >= 16 || log_set_thread_level(name, level) == 0) {
		REPLY(r, "CLIENT_ERROR no such thread or role\r\n");
		return;
	}
	log_notice(AUDIT_FMT "log level of %s set to %s", AUDIT(r), name,
	    log_level_name(level));
	REPLY(r, "OK\r\n");
}

/* access_log on|off [noreply]: ours, memcached has none; turns the access
 * lines ([log] access) on or off in every worker from the next request. */
void
cmd_access_log(struct request *r, int arg)
{
	bool on;

	r->noreply = cmd_has_noreply(r);
	if (r->ntok != 2 + r->noreply ||
	    (!tok_is(&r->tok[1], "on") && !tok_is(&r->tok[1], "off"))) {
		REPLY(r, "CLIENT_ERROR usage: access_log on|off\r\n");
		return;
	}
	on = tok_is(&r->tok[1], "on");
	atomic_store_explicit(&log_access_on, on, memory_order_relaxed);
	log_notice(AUDIT_FMT "access log turned %s by a client", AUDIT(r),
	    on ? "on" : "off");
	REPLY(r, "OK\r\n");
}

/* watch [level=L] [thread=NAME|ROLE] [category=C]: from here on the
 * connection receives log lines; memcached's event words (fetchers...)
 * stream its events instead, and a bare "watch" is "watch fetchers" as
 * in memcached. */
void
cmd_watch(struct request *r, int arg)
{
	const char *args = r->tok[0].s + r->tok[0].len;
	char err[256];

	if (r->ctx->peer == NULL) {
		REPLY(r, REPLY_ERROR);
		return;
	}
	if (proto_cfg.no_watch) {
		REPLY(r, "CLIENT_ERROR watch commands not allowed\r\n");
		return;
	}
	if (log_filter_parse(&r->ctx->watch, args,
	        (size_t)(r->line + r->linelen - args), err, sizeof err) == -1) {
		obuf_printf(r->out, "CLIENT_ERROR %s\r\n", err);
		return;
	}
	if (r->ntok == 1)
		r->ctx->watch.categories = 1u << LOG_EV_FETCH;
	REPLY(r, "OK\r\n");
	*r->action = PROTO_WATCH;
}

/* Items a metadump copies out of the store per chunk: its output, a few
 * KB (at most ~55 KB with the longest keys), mostly fits in one pooled
 * 16 KiB buffer, reused from chunk to chunk. */
#define PROTO_DUMP_CHUNK 64

/* A metadump under way: where the walk stands, the classes asked for and
 * room for one chunk's copies. One at a time, as in memcached. */
struct proto_dump {
	struct cache_dump_cursor cur;
	bool want[256];
	struct cache_debug items[PROTO_DUMP_CHUNK];
};
static atomic_bool proto_dumping;

/* One "key=... exp=... la=... cas=... fetch=... cls=... size=..." line of
 * lru_crawler metadump, the key URI-encoded, as memcached writes it. */
static void
proto_metadump_item(struct obuf *out, const struct cache_debug *d)
{
	static const char hexdigits[] = "0123456789ABCDEF";
	char key[CACHE_KEY_MAX * 3], *k = key;

	for (size_t i = 0; i < d->nkey; i++) {
		unsigned char c = (unsigned char)d->key[i];

		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || strchr("-_.~", c) != NULL) {
			*k++ = (char)c;
			continue;
		}
		*k++ = '%';
		*k++ = hexdigits[c >> 4];
		*k++ = hexdigits[c & 15];
	}
	obuf_printf(out,
	    "key=%.*s exp=%lld la=%u cas=%llu fetch=%s cls=%u size=%zu\n",
	    (int)(k - key), key, d->exptime ? (long long)d->exptime : -1LL,
	    d->atime, (unsigned long long)d->cas, d->fetched ? "yes" : "no",
	    d->cls, d->size);
}

bool
proto_dump_more(struct proto_ctx *ctx, struct obuf *out)
{
	struct proto_dump *dp = ctx->dump;
	size_t n;

	if (dp == NULL)
		return false;
	/* The shard locks are held while copying only, not here. */
	n = cache_dump_next(&dp->cur, dp->want, dp->items, PROTO_DUMP_CHUNK);
	for (size_t i = 0; i < n; i++)
		proto_metadump_item(out, &dp->items[i]);
	if (n == PROTO_DUMP_CHUNK)
		return true;
	obuf_add(out, "END\r\n", 5);
	proto_dump_stop(ctx);
	return false;
}

void
proto_dump_stop(struct proto_ctx *ctx)
{
	if (ctx->dump == NULL)
		return;
	free(ctx->dump);
	ctx->dump = NULL;
	atomic_store_explicit(&proto_dumping, false, memory_order_release);
}

/* The server's maintenance hook, or what answers without one. */
static int
proto_maint(enum proto_maint_op op, unsigned arg, const bool *want)
{
	if (proto_cb.maint == NULL)
		return op == PROTO_CRAWLER_ENABLED;
	return proto_cb.maint(op, arg, want);
}

static const char reply_crawler_off[] = "CLIENT_ERROR lru crawler disabled\r\n";

/* Memcached's crawlable class ids: 1 to 63, whatever the classes are. */
#define PROTO_CRAWL_IDS 64

/* lru_crawler crawl all|ID[,ID...]: a reclaim pass by maint over those
 * classes, which answers at once as memcached's crawler does. Empty items
 * of the list (",1", "1,") are passed over, as memcached's strtok. */
static void
lru_crawler_crawl(struct request *r)
{
	bool want[256] = {false};
	const char *p = r->tok[2].s, *end = p + r->tok[2].len;

	if (!proto_maint(PROTO_CRAWLER_ENABLED, 0, NULL)) {
		REPLY(r, reply_crawler_off);
		return;
	}
	if (tok_is(&r->tok[2], "all"))
		memset(want, true, sizeof want);
	else
		while (p < end) {
			const char *comma = memchr(p, ',', (size_t)(end - p));
			struct token id = {
			    p, (size_t)((comma ? comma : end) - p)};
			uint32_t v;

			p = comma ? comma + 1 : end;
			if (id.len == 0)
				continue;
			if (tok_u32(&id, &v) == -1 || v == 0 ||
			    v >= PROTO_CRAWL_IDS) {
				REPLY(r, "BADCLASS invalid class id\r\n");
				return;
			}
			want[v] = true;
		}
	if (proto_maint(PROTO_CRAWL, 0, want) == -1)
		REPLY(r, "BUSY currently processing crawler request\r\n");
	else
		REPLY(r, "OK\r\n");
}

/* lru_crawler sleep US | tocrawl N: the crawl's pace and its bound. */
static void
lru_crawler_set(struct request *r, enum proto_maint_op op)
{
	uint32_t v;

	if (tok_u32(&r->tok[2], &v) == -1) {
		REPLY(r, REPLY_BAD_FORMAT);
		return;
	}
	if (op == PROTO_CRAWLER_SLEEP && v > 1000000) {
		REPLY(r, "CLIENT_ERROR sleep must be one second or less\r\n");
		return;
	}
	proto_maint(op, v, NULL);
	REPLY(r, "OK\r\n");
}

/* lru_crawler's subcommands but metadump, as memcached parses them. */
static void
lru_crawler_tune(struct request *r)
{
	if (r->ntok == 3 && tok_is(&r->tok[1], "crawl"))
		lru_crawler_crawl(r);
	else if (r->ntok == 3 && tok_is(&r->tok[1], "tocrawl"))
		lru_crawler_set(r, PROTO_CRAWLER_TOCRAWL);
	else if (r->ntok == 3 && tok_is(&r->tok[1], "sleep"))
		lru_crawler_set(r, PROTO_CRAWLER_SLEEP);
	else if (r->ntok == 2 && tok_is(&r->tok[1], "enable"))
		REPLY_STR(
		    r, proto_maint(PROTO_CRAWLER_ENABLE, 0, NULL) == -1
		           ? "ERROR failed to start lru crawler thread\r\n"
		           : "OK\r\n");
	else if (r->ntok == 2 && tok_is(&r->tok[1], "disable"))
		REPLY_STR(r, proto_maint(PROTO_CRAWLER_DISABLE, 0, NULL) == -1
		                 ? "ERROR failed to stop lru crawler thread\r\n"
		                 : "OK\r\n");
	else
		REPLY(r, REPLY_ERROR);
}

/* slabs reassign SRC DST: move a page between size classes now, its items
 * evicted. */
static void
slabs_reassign(struct request *r)
{
	static const char *const replies[] = {
	    [CACHE_REASSIGN_OK] = "OK\r\n",
	    [CACHE_REASSIGN_BUSY] =
	        "BUSY currently processing reassign request\r\n",
	    [CACHE_REASSIGN_BADCLASS] =
	        "BADCLASS invalid src or dst class id\r\n",
	    [CACHE_REASSIGN_NOSPARE] =
	        "NOSPARE source class has no spare pages\r\n",
	    [CACHE_REASSIGN_SAME] = "SAME src and dst class are identical\r\n",
	};
	int32_t src, dst;

	if (tok_i32(&r->tok[2], &src) == -1 ||
	    tok_i32(&r->tok[3], &dst) == -1) {
		REPLY(r, REPLY_BAD_FORMAT);
		return;
	}
	REPLY_STR(r, replies[cache_reassign(src, dst, r->ctx->st)]);
}

/* slabs automove 0|1|2 [noreply]: maint's background rebalancing. */
static void
slabs_automove(struct request *r)
{
	uint32_t level;

	r->noreply = cmd_has_noreply(r);
	if (tok_is(&r->tok[2], "ratio")) {
		/* memcached's window ratio: taken, nothing here uses it. */
		REPLY_STR(r, r->ntok < 4 || tok_is(&r->tok[3], "noreply")
		                 ? REPLY_ERROR
		                 : "OK\r\n");
		return;
	}
	if (tok_u32(&r->tok[2], &level) == -1) {
		REPLY(r, REPLY_BAD_FORMAT);
		return;
	}
	if (level > 2) {
		REPLY(r, REPLY_ERROR);
		return;
	}
	proto_maint(PROTO_AUTOMOVE, level, NULL);
	REPLY(r, "OK\r\n");
}

/* slabs reassign|automove ... */
void
cmd_slabs(struct request *r, int arg)
{
	(void)arg;
	if (r->ntok == 4 && tok_is(&r->tok[1], "reassign"))
		slabs_reassign(r);
	else if (r->ntok >= 3 && tok_is(&r->tok[1], "automove"))
		slabs_automove(r);
	else
		REPLY(r, REPLY_ERROR);
}

/* lru_crawler metadump all|hash|ID[,ID...]: every item's metadata, for
 * memcached-tool's dump and keys. As memcached's crawler, the store is
 * walked a chunk at a time while the client reads (proto_dump_more), one
 * dump at a time server-wide. Its other subcommands tune memcached's
 * crawler. */
void
cmd_lru_crawler(struct request *r, int arg)
{
	bool want[256] = {false};
	int n = cache_class_count();
	const char *p, *end;
	bool busy = false;

	if (r->ntok != 3 || !tok_is(&r->tok[1], "metadump")) {
		lru_crawler_tune(r);
		return;
	}
	if (!proto_maint(PROTO_CRAWLER_ENABLED, 0, NULL)) {
		REPLY(r, reply_crawler_off);
		return;
	}
	if (proto_cfg.no_dump) {
		REPLY(r, "ERROR metadump not allowed\r\n");
		return;
	}
	/* memcached refuses a dump behind replies not yet sent: any request
	 * before it in the same read, even one that answers nothing. */
	if (r->ctx->cmds > 0 || obuf_pending(r->out) > 0) {
		REPLY(r, "ERROR cannot pipeline other commands before "
		         "metadump\r\n");
		return;
	}
	if (tok_is(&r->tok[2], "all") || tok_is(&r->tok[2], "hash"))
		memset(want, true, sizeof want);
	else
		for (p = r->tok[2].s, end = p + r->tok[2].len; p < end;) {
			const char *comma = memchr(p, ',', (size_t)(end - p));
			struct token id = {
			    p, (size_t)((comma ? comma : end) - p)};
			uint32_t v;

			/* memcached's classes count from 1; 0 holds our
			 * items too large for a chunk. */
			if (tok_u32(&id, &v) == -1 || v >= (uint32_t)n) {
				REPLY(r, "BADCLASS invalid class id\r\n");
				return;
			}
			want[v] = true;
			p = comma ? comma + 1 : end;
		}
	if (!atomic_compare_exchange_strong(&proto_dumping, &busy, true)) {
		REPLY(r, "BUSY currently processing crawler request\r\n");
		return;
	}
	r->ctx->dump = xcalloc(1, sizeof *r->ctx->dump);
	memcpy(r->ctx->dump->want, want, sizeof want);
	proto_dump_more(r->ctx, r->out);
}

/* stats slowlog [N|reset]: the last N slow requests (10 unless said),
 * newest first, one line each. */
static void
stats_slowlog(struct request *r)
{
	static const char usage[] = "CLIENT_ERROR usage: stats slowlog "
	                            "[N|reset], N from 0 to 128\r\n";
	struct proto_slow *e;
	char *key;
	uint32_t want = 10;
	size_t n;

	if (r->ntok == 3 && tok_is(&r->tok[2], "reset")) {
		proto_slowlog_reset();
		REPLY(r, "RESET\r\n");
		return;
	}
	if (r->ntok > 3 || (r->ntok == 3 && (tok_u32(&r->tok[2], &want) == -1 ||
	                                        want > PROTO_SLOWLOG_MAX))) {
		REPLY(r, usage);
		return;
	}
	e = xcalloc(PROTO_SLOWLOG_MAX, sizeof *e);
	key = xmalloc(PROTO_SLOWLOG_KEY_TEXT);
	n = proto_slowlog_read(e, want);
	for (size_t i = 0; i < n; i++) {
		proto_slowlog_key_text(&e[i], key);
		obuf_printf(r->out,
		    "STAT %llu time=%lld.%06ld thread=%s conn=%d peer=%s "
		    "cmd=%s keys=%u key=%s us=%llu\r\n",
		    (unsigned long long)e[i].id, (long long)e[i].ts.tv_sec,
		    e[i].ts.tv_nsec / 1000, e[i].thread, e[i].conn, e[i].peer,
		    e[i].cmd, e[i].nkeys, key, (unsigned long long)e[i].us);
	}
	obuf_adds(r->out, "END\r\n");
	free(key);
	free(e);
}

/* stats [GROUP [ARGS]]: the server's to answer, through its hook, which
 * gets the line from the group on. */
void
cmd_stats(struct request *r, int arg)
{
	const struct token *group = r->ntok > 1 ? &r->tok[1] : NULL;
	const struct token *last = &r->tok[r->ntok - 1];

	if (proto_cfg.no_dump && group != NULL && tok_is(group, "cachedump")) {
		REPLY(r, "CLIENT_ERROR stats cachedump not allowed\r\n");
		return;
	}
	if (group != NULL && tok_is(group, "slowlog")) {
		stats_slowlog(r);
		return;
	}
	if (proto_cb.stats == NULL ||
	    proto_cb.stats(group ? group->s : "",
	        group ? (size_t)(last->s + last->len - group->s) : 0,
	        r->out) == -1)
		REPLY(r, REPLY_ERROR);
}
