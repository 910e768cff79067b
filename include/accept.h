/* The accept thread: owns the listeners and hands connections to workers. */
#ifndef TL_ACCEPT_H
#define TL_ACCEPT_H

#include <stdint.h>

#define ACCEPT_BACKLOG 1024

struct config;
struct service;
struct obuf;

/* Bind every listen address; on failure err says which and why. */
int accept_init(const struct config *, char *, size_t);
void accept_free(void);
void accept_main(struct service *);
void accept_stop(void);
/* A worker closed a connection: frees a slot, may resume accepting. */
void accept_conn_closed(void);
int accept_conns_open(void);
int accept_paused(void);
/* Times accepting was paused for lack of file descriptors. */
uint64_t accept_pauses(void);
void accept_stats_conns(struct obuf *);

#endif
