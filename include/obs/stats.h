/* The replies of "stats" and its subcommands, from the counters each
 * module keeps of its own. */
#ifndef TL_STATS_H
#define TL_STATS_H

#include <stdbool.h>
#include <stddef.h>

struct obuf;

void stats_general(struct obuf *);
void stats_threads(struct obuf *);
void stats_settings(struct obuf *);
void stats_conns(struct obuf *);
void stats_slabs(struct obuf *);
void stats_items(struct obuf *);
/* The protocol's stats hook: "stats" (len 0) or "stats GROUP [ARGS]";
 * -1 for a group there is none of. */
int stats_answer(const char *, size_t, struct obuf *);
/* Seconds of user and system CPU the kernel charged to thread tid: its
 * run time from schedstat (ns), split into the modes as stat's ticks
 * split, each part never going back. */
int stats_thread_cpu(int, double *, double *);

#endif
