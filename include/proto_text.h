/* The memcached ASCII protocol: framing of request lines and dispatch of
 * commands. Plain functions over byte buffers, testable without sockets. */
#ifndef TL_PROTO_TEXT_H
#define TL_PROTO_TEXT_H

#include <stddef.h>

struct obuf;
struct conn;

/* Longest request line, as memcached. */
#define PROTO_LINE_MAX 2048
/* Key lists of get/gets/gat/gats: room for 10,000 keys of 250 bytes. */
#define PROTO_KEYS_LINE_MAX (4 * 1024 * 1024)

enum proto_action {
	PROTO_CONTINUE,
	PROTO_QUIT,  /* flush the output, then close */
	PROTO_CLOSE, /* after an error: flush, then drain input and close */
};

struct proto_ctx {
	struct conn *conn;  /* NULL when driven without a connection */
	unsigned long cmds; /* requests handled by the last call */
};

/* Answer every complete request in buf; return the bytes consumed. Stops
 * early when *action becomes PROTO_CLOSE. */
size_t proto_text_process(struct proto_ctx *, const char *, size_t,
    struct obuf *, enum proto_action *);

#endif
