/* Inside the proto floor: what is seen of each request besides its reply,
 * for the text, meta and binary commands alike: memcached's watcher
 * events. Not for other floors. */
#ifndef TL_PROTO_OBSERVE_H
#define TL_PROTO_OBSERVE_H

#include <stddef.h>
#include <stdint.h>

struct cache_seen;
struct item;
struct proto_ctx;

/* memcached's item_get event; the caller checks log_event_wanted()
 * first. it NULL: a miss. */
void proto_event_fetch(
    const struct proto_ctx *, const char *, size_t, const struct item *);
/* A store of op (enum cache_store_op) ended with res (enum cache_result);
 * cls as item_class_id(). As memcached: its look-up (what it saw) as an
 * item_get to fetchers, the store as an item_store to mutations; it
 * checks log_event_wanted() itself. */
void proto_event_store(const struct proto_ctx *, int op, const char *, size_t,
    int res, unsigned cls, long ttl, uint64_t size, const struct cache_seen *);

#endif
