/* The thread table: names, roles, tids, the calling thread's identity. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "thread.h"

static const char *const role_names[ROLE_COUNT] = {
    [ROLE_MAIN] = "main",
    [ROLE_LOGGER] = "logger",
    [ROLE_ACCEPT] = "accept",
    [ROLE_WORKER] = "worker",
    [ROLE_MAINT] = "maint",
    [ROLE_ADMIN] = "admin",
};

static struct thread *threads;
static int nthreads;
static int role_counts[ROLE_COUNT];

_Thread_local struct thread *thread_self_ptr;

/* Start-up handshake: thread_start() waits until the thread calls
 * thread_ready(). */
static pthread_mutex_t ready_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t ready_cond = PTHREAD_COND_INITIALIZER;
static struct thread *ready_last;

struct thread_start {
	struct thread *t;
	void (*entry)(struct thread *);
};

const char *
thread_role_name(enum thread_role role)
{
	return role >= 0 && role < ROLE_COUNT ? role_names[role] : "unknown";
}

int
thread_role_parse(const char *name)
{
	for (int r = 0; r < ROLE_COUNT; r++)
		if (strcmp(name, role_names[r]) == 0)
			return r;
	return -1;
}

int
threads_init(const int counts[ROLE_COUNT])
{
	struct thread *t;
	int r, k;

	nthreads = 0;
	for (r = 0; r < ROLE_COUNT; r++) {
		role_counts[r] = r == ROLE_MAIN ? 1 : counts[r];
		nthreads += role_counts[r];
	}
	threads = aligned_alloc(64, sizeof *threads * (size_t)nthreads);
	if (threads == NULL)
		return -1;
	memset(threads, 0, sizeof *threads * (size_t)nthreads);

	t = threads;
	for (r = 0; r < ROLE_COUNT; r++)
		for (k = 0; k < role_counts[r]; k++, t++) {
			t->role = r;
			t->index = k;
			/* The main thread keeps the program's name. */
			if (r == ROLE_MAIN)
				snprintf(t->name, sizeof t->name, "%s",
				    program_invocation_short_name);
			else if (role_counts[r] > 1 || r == ROLE_WORKER)
				snprintf(t->name, sizeof t->name, "%s-%d",
				    role_names[r], k);
			else
				snprintf(t->name, sizeof t->name, "%s",
				    role_names[r]);
		}
	thread_self_ptr = &threads[0];
	thread_self_ptr->pthread = pthread_self();
	thread_self_ptr->tid = gettid();
	return 0;
}

void
threads_free(void)
{
	free(threads);
	threads = NULL;
	nthreads = 0;
	thread_self_ptr = NULL;
}

int
thread_count(void)
{
	return nthreads;
}

struct thread *
thread_at(int i)
{
	return &threads[i];
}

int
thread_role_count(enum thread_role role)
{
	return role_counts[role];
}

struct thread *
thread_get(enum thread_role role, int index)
{
	for (int i = 0; i < nthreads; i++)
		if (threads[i].role == role && threads[i].index == index)
			return &threads[i];
	return NULL;
}

struct thread *
thread_find(const char *name)
{
	for (int i = 0; i < nthreads; i++)
		if (strcmp(threads[i].name, name) == 0)
			return &threads[i];
	return NULL;
}

const char *
thread_self_name(void)
{
	return thread_self_ptr ? thread_self_ptr->name : "-";
}

/* Identity first, so every line the thread logs carries its name. */
static void *
thread_trampoline(void *arg)
{
	struct thread_start start = *(struct thread_start *)arg;
	struct thread *t = start.t;
	sigset_t all;

	free(arg);
	thread_self_ptr = t;
	t->tid = gettid();
	pthread_setname_np(pthread_self(), t->name);
	/* Signals are the main thread's business. */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL);
	start.entry(t);
	return NULL;
}

int
thread_start(struct thread *t, void (*entry)(struct thread *))
{
	struct thread_start *start = malloc(sizeof *start);
	int error;

	if (start == NULL)
		return ENOMEM;
	start->t = t;
	start->entry = entry;
	pthread_mutex_lock(&ready_lock);
	ready_last = NULL;
	error = pthread_create(&t->pthread, NULL, thread_trampoline, start);
	if (error != 0) {
		pthread_mutex_unlock(&ready_lock);
		free(start);
		return error;
	}
	while (ready_last != t)
		pthread_cond_wait(&ready_cond, &ready_lock);
	pthread_mutex_unlock(&ready_lock);
	return 0;
}

void
thread_ready(void)
{
	pthread_mutex_lock(&ready_lock);
	ready_last = thread_self_ptr;
	pthread_cond_broadcast(&ready_cond);
	pthread_mutex_unlock(&ready_lock);
}

void
thread_join(struct thread *t)
{
	pthread_join(t->pthread, NULL);
}
