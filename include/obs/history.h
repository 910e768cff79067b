/* The server's own history of its figures: the admin thread samples every
 * thread's counters once a second into a fixed ring of HISTORY_SAMPLES,
 * served as JSON at /history, so a page reloaded shows the past at once
 * and its rates come from the server's sample times. */
#ifndef TL_HISTORY_H
#define TL_HISTORY_H

#include <stddef.h>

struct event_base;
struct evbuffer;
struct evkeyvalq;

/* Samples kept: 16 minutes at one a second. */
#define HISTORY_SAMPLES 960

/* Take the first reading and sample on base every second from now on. */
void history_init(struct event_base *);
void history_free(void);
/* The bytes the ring and its last reading hold, fixed at init. */
size_t history_bytes(void);
/* GET /history[?since=MS]: the samples, oldest first, those after
 * since's server time alone when it is given. */
void history_json(struct evbuffer *, struct evkeyvalq *);

#endif
