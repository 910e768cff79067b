/* Worker threads: each owns an event_base and its connections for their
 * whole life. */
#ifndef TL_WORKER_H
#define TL_WORKER_H

#include <sys/socket.h>

struct service;
struct obuf;

void workers_init(int);
void workers_free(void);
void worker_main(struct service *);
/* Hand a new connection to worker idx; called by the accept thread. */
void worker_dispatch(int idx, int fd, const struct sockaddr *, socklen_t);
/* Close every connection once its replies are sent, then stop. */
void workers_stop(void);
/* conn.c reports a closed connection to its worker. */
struct worker;
struct conn;
void worker_conn_closed(struct worker *, struct conn *);
/* "stats conns" lines for every connection of every worker. */
void workers_stats_conns(struct obuf *);

#endif
