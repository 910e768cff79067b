/* The admin thread: HTTP/1.1 on its own address, for operators and
 * monitoring: /status, /threads and /metrics, read from the counters each
 * module keeps, as stats does; /history, their last 16 minutes sampled
 * each second; /logs, live log lines as Server-Sent Events, and / , a
 * dashboard of all of them. */
#ifndef TL_ADMIN_H
#define TL_ADMIN_H

#include <stddef.h>

struct thread;

/* Bind obs_config()'s admin_listen; on failure err says which and why.
 * Not called when the admin thread is off. */
int admin_init(char *, size_t);
void admin_free(void);
void admin_main(struct thread *);
void admin_stop(void);
/* The dashboard GET / serves: src/obs/dashboard.html, built in by
 * tools/embed. It loads the server's history (/history, whose rates come
 * from the server's sample times) at first paint and what is new every
 * second with /threads, charts it on a time axis and tails /logs through
 * EventSource; ?thread=, ?level= and ?token= in its address set the
 * filters and the token. */
extern const unsigned char admin_dashboard_html[];
extern const size_t admin_dashboard_html_len;

#endif
