#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "accept.h"
#include "log.h"
#include "logger.h"
#include "maint.h"
#include "service.h"
#include "worker.h"
#include "xmalloc.h"

/* The one list of what runs: role name, how many, entry point. The main
 * thread keeps the program's name. Order is start-up order. */
static const struct service_def {
	enum service_role role;
	const char *name;
	void (*entry)(struct service *);
} service_defs[ROLE_COUNT] = {
    {ROLE_MAIN, "main", NULL},
    {ROLE_LOGGER, "logger", logger_main},
    {ROLE_MAINT, "maint", maint_main},
    {ROLE_WORKER, "worker", worker_main},
    {ROLE_ACCEPT, "accept", accept_main},
};

static struct service *services;
static int nservices;
static int role_counts[ROLE_COUNT];

static _Thread_local struct service *self;

/* Start-up handshake: service_start() waits until the thread calls
 * service_ready(). */
static pthread_mutex_t ready_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t ready_cond = PTHREAD_COND_INITIALIZER;
static struct service *ready_last;

static const struct service_def *
service_def(enum service_role role)
{
	for (int i = 0; i < ROLE_COUNT; i++)
		if (service_defs[i].role == role)
			return &service_defs[i];
	return NULL;
}

const char *
service_role_name(enum service_role role)
{
	const struct service_def *d = service_def(role);

	return d ? d->name : "unknown";
}

void
services_init(int nworkers)
{
	struct service *s;
	int i, k;

	role_counts[ROLE_MAIN] = 1;
	role_counts[ROLE_LOGGER] = 1;
	role_counts[ROLE_ACCEPT] = 1;
	role_counts[ROLE_MAINT] = 1;
	role_counts[ROLE_WORKER] = nworkers;
	nservices = 0;
	for (i = 0; i < ROLE_COUNT; i++)
		nservices += role_counts[i];
	services = aligned_alloc(64, sizeof *services * (size_t)nservices);
	if (services == NULL)
		fatalx("out of memory for the services table");
	memset(services, 0, sizeof *services * (size_t)nservices);

	s = services;
	for (i = 0; i < ROLE_COUNT; i++) {
		const struct service_def *d = &service_defs[i];

		for (k = 0; k < role_counts[d->role]; k++, s++) {
			s->role = d->role;
			s->index = k;
			s->ring = log_ring_new();
			atomic_init(&s->log_level, atomic_load(&log_verbosity));
			if (d->role == ROLE_MAIN)
				snprintf(s->name, sizeof s->name, "%s",
				    program_invocation_short_name);
			else if (role_counts[d->role] > 1 ||
			         d->role == ROLE_WORKER)
				snprintf(s->name, sizeof s->name, "%s-%d",
				    d->name, k);
			else
				snprintf(
				    s->name, sizeof s->name, "%s", d->name);
		}
	}
	self = &services[0];
	self->thread = pthread_self();
	self->tid = gettid();
	log_level_ptr = &self->log_level;
}

void
services_free(void)
{
	for (int i = 0; i < nservices; i++)
		log_ring_free(services[i].ring);
	free(services);
	services = NULL;
	nservices = 0;
	self = NULL;
	log_level_ptr = &log_verbosity;
}

int
service_count(void)
{
	return nservices;
}

struct service *
service_at(int i)
{
	return &services[i];
}

int
service_role_count(enum service_role role)
{
	return role_counts[role];
}

struct service *
service_get(enum service_role role, int index)
{
	for (int i = 0; i < nservices; i++)
		if (services[i].role == role && services[i].index == index)
			return &services[i];
	return NULL;
}

struct service *
service_self(void)
{
	return self;
}

const char *
service_self_name(void)
{
	return self ? self->name : "-";
}

/* Thread entry: identity first, so every line it logs carries its name. */
static void *
service_trampoline(void *arg)
{
	struct service *s = arg;
	sigset_t all;

	self = s;
	log_level_ptr = &s->log_level;
	s->tid = gettid();
	pthread_setname_np(pthread_self(), s->name);
	/* Signals are the main thread's business. */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL);
	service_def(s->role)->entry(s);
	return NULL;
}

void
service_start(struct service *s)
{
	int error;

	pthread_mutex_lock(&ready_lock);
	ready_last = NULL;
	error = pthread_create(&s->thread, NULL, service_trampoline, s);
	if (error != 0) {
		errno = error;
		fatal("cannot start thread %s", s->name);
	}
	while (ready_last != s)
		pthread_cond_wait(&ready_cond, &ready_lock);
	pthread_mutex_unlock(&ready_lock);
	log_info("thread %s started tid=%d role=%s", s->name, (int)s->tid,
	    service_role_name(s->role));
}

void
service_ready(void)
{
	pthread_mutex_lock(&ready_lock);
	ready_last = self;
	pthread_cond_broadcast(&ready_cond);
	pthread_mutex_unlock(&ready_lock);
}

void
service_join(struct service *s)
{
	pthread_join(s->thread, NULL);
	log_info("thread %s stopped", s->name);
}
