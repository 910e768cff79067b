/* The table of every exported figure, from each block's rows. */
#include <stddef.h>
#include <stdint.h>

#include "figures.h"

#define OBS_ROW(b, type, f, k, ...)                                            \
	{.block = b,                                                           \
	    .field = offsetof(type, f) / sizeof(uint64_t),                     \
	    .kind = OBS_##k,                                                   \
	    __VA_ARGS__},
#define OBS_ROW_CONN(f, k, ...)                                                \
	OBS_ROW(OBS_CONN, struct conn_counters, f, k, __VA_ARGS__)
#define OBS_ROW_CACHE(f, k, ...)                                               \
	OBS_ROW(OBS_CACHE, struct cache_stats, f, k, __VA_ARGS__)
#define OBS_ROW_ACCEPT(f, k, ...)                                              \
	OBS_ROW(OBS_ACCEPT, struct accept_counters, f, k, __VA_ARGS__)
#define OBS_ROW_LOGGER(f, k, ...)                                              \
	OBS_ROW(OBS_LOGGER, struct logger_counters, f, k, __VA_ARGS__)
#define OBS_ROW_LOG(f, k, ...)                                                 \
	OBS_ROW(OBS_LOG, struct obs_log_counts, f, k, __VA_ARGS__)
#define OBS_ROW_ADMIN(f, k, ...)                                               \
	OBS_ROW(OBS_ADMIN, struct admin_guard_counters, f, k, __VA_ARGS__)
#define OBS_ROW_MAINT(f, k, ...)                                               \
	OBS_ROW(OBS_MAINT, struct cache_stats, f, k, __VA_ARGS__)

const struct obs_row obs_rows[OBS_NROWS] = {CONN_COUNTERS_ROWS(OBS_ROW_CONN)
        CACHE_STATS_ROWS(OBS_ROW_CACHE) ACCEPT_COUNTERS_ROWS(OBS_ROW_ACCEPT)
            LOGGER_COUNTERS_ROWS(OBS_ROW_LOGGER) OBS_LOG_ROWS(OBS_ROW_LOG)
                ADMIN_GUARD_COUNTERS_ROWS(OBS_ROW_ADMIN)
                    OBS_MAINT_ROWS(OBS_ROW_MAINT)};

enum thread_role
obs_block_role(enum obs_block b)
{
	static const enum thread_role roles[OBS_BLOCKS] = {
	    [OBS_CONN] = ROLE_WORKER,
	    [OBS_CACHE] = ROLE_WORKER,
	    [OBS_ACCEPT] = ROLE_ACCEPT,
	    [OBS_LOGGER] = ROLE_LOGGER,
	    [OBS_LOG] = ROLE_LOGGER,
	    [OBS_ADMIN] = ROLE_ADMIN,
	    [OBS_MAINT] = ROLE_MAINT,
	};

	return roles[b];
}

int
obs_block_instance(enum obs_block b, const struct thread *t)
{
	if (t->role != obs_block_role(b))
		return -1;
	/* The blocks of one per worker are numbered as the workers. */
	return b == OBS_CONN || b == OBS_CACHE ? t->index : 0;
}
