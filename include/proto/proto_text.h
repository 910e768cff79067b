/* The memcached ASCII protocol: framing of request lines and data blocks,
 * and the commands. Plain functions over byte buffers: bytes in, replies
 * and an action out, no socket and no thread table. What only the server
 * knows (its stats, its maintenance) comes in through proto_callbacks,
 * memcached's switches through proto_config. */
#ifndef TL_PROTO_TEXT_H
#define TL_PROTO_TEXT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#include "hotkeys.h"
#include "latency.h"
#include "log_filter.h"

struct obuf;
struct cache_stats;

/* Longest request line, as memcached. */
#define PROTO_LINE_MAX 2048
/* Key lists of get/gets/gat/gats: room for 10,000 keys of 250 bytes. */
#define PROTO_KEYS_LINE_MAX (4 * 1024 * 1024)
/* Leading spaces a get line with no end yet may have and still be one. */
#define PROTO_OPEN_SPACES_MAX 100

enum proto_action {
	PROTO_CONTINUE,
	PROTO_QUIT,     /* flush the output, then close */
	PROTO_CLOSE,    /* after an error: flush, then drain input and close */
	PROTO_WATCH,    /* stream the log lines ctx->watch lets through */
	PROTO_HTTP,     /* an HTTP request: close at once, answer nothing */
	PROTO_SHUTDOWN, /* stop the server, then as PROTO_QUIT */
	PROTO_TOO_LONG, /* a line past the limit, no end yet: close, no reply */
};

/* What "stats detail" counts per key prefix. */
enum proto_detail {
	PROTO_DETAIL_GET, /* a key of a get, gets, gat or gats */
	PROTO_DETAIL_SET, /* a storage command's key */
	PROTO_DETAIL_DEL,
};

/* The classes requests are timed in: get (get, gets, gat, gats), set
 * (set, add, replace, append, prepend, cas), delete, arith (incr, decr),
 * touch, meta (mg, ms, md, ma, mn, me) and other (the rest, unknown
 * commands and empty lines included). */
enum proto_class {
	PROTO_CLS_GET,
	PROTO_CLS_SET,
	PROTO_CLS_DELETE,
	PROTO_CLS_ARITH,
	PROTO_CLS_TOUCH,
	PROTO_CLS_META,
	PROTO_CLS_OTHER,
	PROTO_CLS_COUNT
};

/* A class's name in "stats latency": "get", "set"... */
const char *proto_class_name(int);

/* A thread's request latencies, one histogram per class; written by the
 * thread answering the requests alone. */
struct proto_latency {
	struct lat_hist cls[PROTO_CLS_COUNT];
};

/* memcached's -B; auto: each connection's first byte says (0x80:
 * binary). */
enum proto_binding {
	PROTO_BIND_ASCII,
	PROTO_BIND_AUTO,
	PROTO_BIND_BINARY,
};

/* The maintenance commands the server's background thread carries out:
 * "lru_crawler enable|disable|crawl|sleep|tocrawl" and "slabs automove". */
enum proto_maint_op {
	PROTO_CRAWLER_ENABLED, /* 1 if the crawler is on, else 0 */
	PROTO_CRAWLER_ENABLE,  /* 0, or -1 when it already is */
	PROTO_CRAWLER_DISABLE,
	PROTO_CRAWL,         /* want: the classes; 0, or -1 when one runs */
	PROTO_CRAWLER_SLEEP, /* arg: microseconds between shards */
	PROTO_CRAWLER_TOCRAWL,
	PROTO_AUTOMOVE, /* arg: 0, 1 or 2 */
};

/* memcached's switches the protocol obeys, set once before any request. */
struct proto_config {
	bool shutdown; /* -A: whether "shutdown" may stop the server */
	bool no_cas;   /* -C: gets shows CAS 0, cas answers EXISTS */
	bool no_flush; /* -F: flush_all is refused */
	bool no_dump;  /* -X: stats cachedump and metadump are refused */
	bool no_watch; /* -W: watch is refused */
	/* A request that takes this many microseconds or more is logged
	 * (warn, a few lines a second per worker at most); 0: none. */
	unsigned long long slow_us;
	/* -B: which protocol a connection speaks. */
	enum proto_binding binding;
	/* Tests' commands (debug sleep); otherwise they are unknown. */
	bool debug;
};

/* What only the server has, lent to the protocol: its calls into the
 * floors above. Each may be NULL. */
struct proto_callbacks {
	/* Answer "stats" (group of length 0) or "stats GROUP [ARGS]" (the
	 * line from GROUP on); -1 for a group it does not know. NULL: every
	 * stats is ERROR. */
	int (*stats)(const char *group, size_t len, struct obuf *);
	/* A key was read (hit: found), stored or deleted, while
	 * proto_detail_wanted(); NULL: none. */
	void (*detail)(enum proto_detail, const char *, size_t, bool hit);
	/* Carry out a maintenance command (want: indexed by memcached's
	 * class id, for PROTO_CRAWL); NULL: the crawler is on and every
	 * command succeeds without effect. */
	int (*maint)(enum proto_maint_op, unsigned arg, const bool *want);
};

/* "stats detail on": whether the detail callback is called, read at each
 * call site so that a request pays one load while detail is off. */
extern _Atomic bool proto_detail_on;

static inline bool
proto_detail_wanted(void)
{
	return atomic_load_explicit(&proto_detail_on, memory_order_relaxed);
}
/* Turn it on (once proto_init() has a detail callback) or off. */
void proto_detail_set(bool);

/* One connection's protocol state; lives as long as the connection. */
struct proto_ctx {
	/* For access lines and "watch"; peer NULL when driven without a
	 * connection. */
	int fd;
	const char *peer;
	struct log_filter watch;   /* what PROTO_WATCH asks for */
	struct cache_stats *st;    /* the answering thread's counters */
	struct proto_latency *lat; /* its latencies; NULL: not timed */
	struct hotkeys *hot;       /* its hot keys; NULL: not counted */
	unsigned long cmds;        /* requests handled by the last call */
	/* memcached's -R, the connection's to set: requests one call answers
	 * at most; 0: no limit. */
	unsigned long max_cmds;
	size_t need;             /* bytes the next request needs buffered */
	unsigned long long skip; /* data bytes still to discard */
	bool binary;             /* speaks the binary protocol */
	bool decided;            /* binary is known */
	bool authed;             /* -Y: the client gave good credentials */
	const char *auth_reply;  /* -Y: the reply not yet sent, or NULL */
	struct proto_dump *dump; /* a metadump under way, or NULL */
	/* The text request being answered, for the stall watchdog's signal
	 * handler on this thread; the caller sets it NULL after each call,
	 * when the buffer may move. */
	const char *line;
	size_t linelen;
};

/* Answer every complete request in buf; return the bytes consumed. When a
 * request waits for more input, ctx->need says how many bytes (from the
 * unconsumed part) it needs. Stops early when *action is no longer
 * PROTO_CONTINUE, when much output waits unsent in out, or after
 * ctx->max_cmds requests. */
size_t proto_text_process(struct proto_ctx *, const char *, size_t,
    struct obuf *, enum proto_action *);
/* The protocol's settings and the server's callbacks, for the text and
 * binary protocols alike; before any request. */
void proto_init(const struct proto_config *, const struct proto_callbacks *);
/* lru_crawler metadump answers in chunks: the command gives the first;
 * while ctx->dump is set no other request is answered, and the
 * connection asks for each next chunk once its output has drained. True
 * while more is to come; the last chunk ends with "END". One dump at a
 * time server-wide: another meanwhile is answered BUSY. */
bool proto_dump_more(struct proto_ctx *, struct obuf *);
/* The connection goes away in the middle of a dump: end it. */
void proto_dump_stop(struct proto_ctx *);
/* The largest ctx->need can become. */
size_t proto_text_buffer_max(void);

#endif
