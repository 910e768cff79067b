/* The memcached ASCII protocol: framing of request lines and data blocks,
 * and the commands. Plain functions over byte buffers, testable without
 * sockets. */
#ifndef TL_PROTO_TEXT_H
#define TL_PROTO_TEXT_H

#include <stdbool.h>
#include <stddef.h>

struct obuf;
struct conn;
struct cache_stats;

/* Longest request line, as memcached. */
#define PROTO_LINE_MAX 2048
/* Key lists of get/gets/gat/gats: room for 10,000 keys of 250 bytes. */
#define PROTO_KEYS_LINE_MAX (4 * 1024 * 1024)

enum proto_action {
	PROTO_CONTINUE,
	PROTO_QUIT,  /* flush the output, then close */
	PROTO_CLOSE, /* after an error: flush, then drain input and close */
	PROTO_WATCH, /* the connection now streams log lines */
	PROTO_HTTP,  /* an HTTP request: close at once, answer nothing */
};

/* One connection's protocol state; lives as long as the connection. */
struct proto_ctx {
	struct conn *conn;       /* NULL when driven without a connection */
	struct cache_stats *st;  /* the answering thread's counters */
	unsigned long cmds;      /* requests handled by the last call */
	size_t need;             /* bytes the next request needs buffered */
	unsigned long long skip; /* data bytes still to discard */
};

/* Answer every complete request in buf; return the bytes consumed. When a
 * request waits for more input, ctx->need says how many bytes (from the
 * unconsumed part) it needs. Stops early when *action becomes
 * PROTO_CLOSE. */
size_t proto_text_process(struct proto_ctx *, const char *, size_t,
    struct obuf *, enum proto_action *);
/* Whether the "shutdown" command may stop the server. */
void proto_text_enable_shutdown(bool);
/* The largest ctx->need can become. */
size_t proto_text_buffer_max(void);

#endif
