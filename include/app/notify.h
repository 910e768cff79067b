/* What the daemon tells systemd through $NOTIFY_SOCKET (sd_notify): ready,
 * reloading, stopping, a status line about the threads, and the watchdog,
 * which is pinged only while every worker's event loop answers. Without
 * libsystemd, or without $NOTIFY_SOCKET, every call does nothing. Main's
 * thread alone calls these. */
#ifndef TL_NOTIFY_H
#define TL_NOTIFY_H

#include <stdbool.h>

struct event_base;

/* Once every thread runs: the status and watchdog timers on base (main's
 * loop), then READY=1; MAINPID= too when daemonized, so that the pid
 * systemd watches is the one that serves. */
void notify_ready(struct event_base *, bool daemonized);
/* RELOADING=1 before the SIGHUP work, READY=1 after it. */
void notify_reloading(void);
void notify_reloaded(void);
/* STOPPING=1; the timers stop. */
void notify_stopping(void);
void notify_free(void);

#endif
