/* The admin thread's /metrics: every figure in Prometheus's text format,
 * memcached_exporter's names where memcached has the figure. */
#ifndef TL_PROM_H
#define TL_PROM_H

struct evbuffer;

/* Counters count since start: "stats reset" does not move them back. */
void prom_metrics(struct evbuffer *);

#endif
