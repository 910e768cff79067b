/* The thread table: every thread of threadlined, its name, role, index and
 * kernel id, and the calling thread's identity. The table is data: what a
 * role runs, and when, is the program's (app/threadlined.c). */
#ifndef TL_THREAD_H
#define TL_THREAD_H

#include <pthread.h>
#include <stdatomic.h>
#include <sys/types.h>

enum thread_role {
	ROLE_MAIN,
	ROLE_LOGGER,
	ROLE_ACCEPT,
	ROLE_WORKER,
	ROLE_MAINT,
	ROLE_ADMIN,
	ROLE_COUNT
};

struct log_ring;

struct thread {
	char name[16]; /* the kernel's limit, NUL included */
	enum thread_role role;
	int index; /* among its role */
	_Atomic pid_t tid;
	pthread_t pthread;
	/* The log floor's, kept here because every log call reads them. */
	struct log_ring *ring; /* this thread's queue to the logger */
	_Atomic int log_level; /* lowest level this thread logs */
} __attribute__((aligned(64)));

/* The calling thread's entry, NULL in a thread not in the table; read
 * through thread_self(). */
extern _Thread_local struct thread *thread_self_ptr;

static inline struct thread *
thread_self(void)
{
	return thread_self_ptr;
}

/* The calling thread's name, "-" outside the table. */
const char *thread_self_name(void);
const char *thread_role_name(enum thread_role);
/* A role from its name; -1 when none has it. */
int thread_role_parse(const char *);

/* Build the table with counts[role] threads of each role (main is always
 * one) and adopt the calling thread as main. -1 when out of memory. */
int threads_init(const int counts[ROLE_COUNT]);
void threads_free(void);
int thread_count(void);
struct thread *thread_at(int);
struct thread *thread_get(enum thread_role, int);
int thread_role_count(enum thread_role);
/* The thread named name; NULL when none is. */
struct thread *thread_find(const char *);

/* Run entry in t's own thread, named and with signals blocked, and wait
 * until it calls thread_ready(). 0, or an errno value. */
int thread_start(struct thread *, void (*)(struct thread *));
void thread_ready(void);
void thread_join(struct thread *);

#endif
