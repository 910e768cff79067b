/* The memcached binary protocol: 24-byte request headers, their extras,
 * key and value, answered with memcached 1.6's response packets. The same
 * store, counters, access and slow-request lines as proto_text.c; the
 * same config and callbacks (proto_init's) and the same per-connection
 * state. */
#ifndef TL_PROTO_BIN_H
#define TL_PROTO_BIN_H

#include <stddef.h>

#include "proto_text.h"

/* The first byte of a binary request. */
#define PROTO_BIN_MAGIC 0x80

/* As proto_text_process, for a connection speaking the binary protocol. */
size_t proto_bin_process(struct proto_ctx *, const char *, size_t,
    struct obuf *, enum proto_action *);
/* Either protocol, as proto_config.binding says: under auto the connection's
 * first byte chooses, once. */
size_t proto_bin_serve(struct proto_ctx *, const char *, size_t, struct obuf *,
    enum proto_action *);
/* Whether what is buffered is a request whose line (or binary header) is
 * in and whose value is not: memcached's conn_nread. */
bool proto_awaits_value(const struct proto_ctx *, const char *, size_t);

#endif
