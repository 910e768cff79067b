/* What the protocol reports of each request besides its reply:
 * memcached's watcher events. */
#include <stdbool.h>
#include <stdint.h>

#include "cache.h"
#include "log_event.h"
#include "proto_observe.h"
#include "proto_text.h"

/* memcached's item_get event: a look-up that found an item of class cls
 * and nbytes, or not. */
static void
proto_event_get(const struct proto_ctx *ctx, const char *key, size_t nkey,
    bool found, unsigned cls, uint32_t nbytes)
{
	char k[LOG_EVENT_KEY_MAX];

	log_event(LOG_EV_FETCH,
	    "type=item_get key=%s status=%s clsid=%u cfd=%d size=%u",
	    log_event_key(k, key, nkey), found ? "found" : "not_found", cls,
	    ctx->fd, nbytes);
}

void
proto_event_fetch(const struct proto_ctx *ctx, const char *key, size_t nkey,
    const struct item *it)
{
	proto_event_get(ctx, key, nkey, it != NULL, it ? item_class_id(it) : 0,
	    it ? it->nbytes : 0);
}

void
proto_event_store(const struct proto_ctx *ctx, int op, const char *key,
    size_t nkey, int res, unsigned cls, long ttl, uint64_t size,
    const struct cache_seen *seen)
{
	static const char *const ops[] = {[CACHE_SET] = "set",
	    [CACHE_ADD] = "add",
	    [CACHE_REPLACE] = "replace",
	    [CACHE_APPEND] = "append",
	    [CACHE_PREPEND] = "prepend",
	    [CACHE_CAS] = "cas",
	    [CACHE_CAS_STALE] = "cas"};
	char k[LOG_EVENT_KEY_MAX];
	const char *status = res == CACHE_STORED      ? "stored"
	                     : res == CACHE_EXISTS    ? "exists"
	                     : res == CACHE_NOT_FOUND ? "not_found"
	                                              : "not_stored";

	if (log_event_wanted(LOG_EV_FETCH))
		proto_event_get(
		    ctx, key, nkey, seen->found, seen->cls, seen->nbytes);
	if (!log_event_wanted(LOG_EV_MUTATION))
		return;
	/* memcached's size is the stored item's: the joined value. */
	if (res == CACHE_STORED && (op == CACHE_APPEND || op == CACHE_PREPEND))
		size += seen->nbytes;
	log_event(LOG_EV_MUTATION,
	    "type=item_store key=%s status=%s cmd=%s ttl=%ld clsid=%u cfd=%d "
	    "size=%llu",
	    log_event_key(k, key, nkey), status, ops[op], ttl, cls, ctx->fd,
	    (unsigned long long)size);
}
