/* The services table: every thread of threadlined, its name, role and entry
 * point, and the identity of the calling thread. Start-up, the logger,
 * "stats threads" and the admin endpoint all read this one table. */
#ifndef TL_SERVICE_H
#define TL_SERVICE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/types.h>

#include "cache.h"

enum service_role {
	ROLE_MAIN,
	ROLE_LOGGER,
	ROLE_ACCEPT,
	ROLE_WORKER,
	ROLE_MAINT,
	ROLE_COUNT
};

/* Counters are written by the owning thread only and read by whoever
 * answers a stats request, hence relaxed atomics and no lock. */
struct service_stats {
	_Atomic uint64_t curr_conns;
	_Atomic uint64_t total_conns;
	_Atomic uint64_t cmds;
	_Atomic uint64_t bytes_read;
	_Atomic uint64_t bytes_written;
	_Atomic uint64_t http_refused; /* HTTP requests closed unanswered */
	_Atomic uint64_t accepted;
	_Atomic uint64_t rejected;
	_Atomic uint64_t lines_written;
	_Atomic uint64_t lines_failed;
};

struct log_ring;

struct service {
	char name[16]; /* the kernel's limit, NUL included */
	enum service_role role;
	int index; /* among its role */
	_Atomic pid_t tid;
	pthread_t thread;
	struct log_ring *ring; /* this thread's queue to the logger */
	_Atomic int log_level; /* lowest level this thread logs */
	struct service_stats stats;
	struct cache_stats cstats; /* what this thread did to the cache */
} __attribute__((aligned(64)));

static inline void
stat_add(_Atomic uint64_t *c, uint64_t n)
{
	/* Single writer: a plain load and store, no locked instruction. */
	atomic_store_explicit(c,
	    atomic_load_explicit(c, memory_order_relaxed) + n,
	    memory_order_relaxed);
}

static inline uint64_t
stat_get(_Atomic uint64_t *c)
{
	return atomic_load_explicit(c, memory_order_relaxed);
}

const char *service_role_name(enum service_role);

/* Build the table for nworkers workers and adopt the calling thread as
 * main. Threads are not started. */
void services_init(int nworkers);
void services_free(void);
int service_count(void);
struct service *service_at(int);
struct service *service_get(enum service_role, int);
int service_role_count(enum service_role);

/* Start s's thread and wait until it reports ready through
 * service_ready(). */
void service_start(struct service *);
void service_ready(void);
void service_join(struct service *);

/* The calling thread's identity; NULL in a thread not in the table. */
struct service *service_self(void);
const char *service_self_name(void);

#endif
