/* The admin thread's JSON pages. */
#ifndef TL_JSON_H
#define TL_JSON_H

struct evbuffer;

/* GET /status: who runs, since when, with which settings and threads. */
void json_status(struct evbuffer *);
/* GET /threads: every thread, its CPU time, level and counters, counted
 * since start ("stats reset" changes only what stats shows). */
void json_threads(struct evbuffer *);
/* GET /slowlog: the last n slow requests, newest first. */
void json_slowlog(struct evbuffer *, size_t n);

#endif
