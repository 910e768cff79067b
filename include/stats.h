/* The replies of "stats" and its subcommands. */
#ifndef TL_STATS_H
#define TL_STATS_H

struct obuf;
struct config;

void stats_init(const struct config *);
void stats_general(struct obuf *);
void stats_threads(struct obuf *);
void stats_settings(struct obuf *);
void stats_conns(struct obuf *);
/* Seconds of user and system CPU the kernel charged to thread tid. */
int stats_thread_cpu(int, double *, double *);

#endif
