/* The accept thread: owns the listeners and hands connections to workers. */
#ifndef TL_ACCEPT_H
#define TL_ACCEPT_H

#include <stdatomic.h>
#include <stdint.h>

/* The listen backlog unless configured, memcached's default. */
#define ACCEPT_BACKLOG 1024
/* Listen specs at most; each may resolve to two addresses. */
#define ACCEPT_MAX_SPECS 16

struct obuf;
struct thread;

struct accept_config {
	const char *const *listen; /* "host", "host:port", "[v6]:port" */
	int nlisten;               /* 0: 127.0.0.1 */
	int port;                  /* where a spec names none */
	int max_conns;
	const char *unix_socket; /* set: listen there only, as memcached -s */
	int unix_mask;           /* the socket's mode */
	int backlog;             /* 0: ACCEPT_BACKLOG */
};

/* Written by the accept thread only. */
struct accept_counters {
	_Atomic uint64_t accepted;
	_Atomic uint64_t rejected;  /* over max_conns */
	_Atomic uint64_t pauses;    /* for lack of file descriptors */
	_Atomic uint64_t paused_us; /* time spent paused, when it ended */
};

/* Bind every listen address; on failure err says which and why. */
int accept_init(const struct accept_config *, char *, size_t);
void accept_free(void);
void accept_main(struct thread *);
void accept_stop(void);
/* A worker closed a connection: frees a slot, may resume accepting. */
void accept_conn_closed(void);
int accept_paused(void);
struct accept_counters *accept_counters(void);
void accept_stats_conns(struct obuf *);

#endif
