/* sd_notify for the whole process: READY=1, RELOADING=1, STOPPING=1, a
 * STATUS= line about the threads, and WATCHDOG=1 while every worker's
 * event loop answers the pings main's loop sends it. */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "figures.h"
#include "log.h"
#include "notify.h"
#include "thread.h"
#include "tl_build.h"
#include "worker.h"
#include "xmalloc.h"

#ifdef TL_HAVE_SYSTEMD
#include <systemd/sd-daemon.h>
#endif

/* How often STATUS= is refreshed. */
#define NOTIFY_STATUS_SECS 5

static struct {
	bool on;          /* $NOTIFY_SOCKET is set and this build can use it */
	bool send_failed; /* the last datagram was refused, and said so */
	struct event *status;
	struct event *watchdog;
	int nworkers;
	/* Per worker: when main sent the oldest ping it has not answered,
	 * and whether it was logged as stuck. */
	long long *asked_ms;
	bool *stuck;
} nt;

/* CLOCK_MONOTONIC in microseconds, as MONOTONIC_USEC= wants it. */
static uint64_t
notify_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

/* One datagram to the manager; a manager that is gone is not our error. */
static void __attribute__((format(printf, 1, 2)))
notify_send(const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	if (!nt.on)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
#ifdef TL_HAVE_SYSTEMD
	int r = sd_notify(0, msg);

	/* Once per outage: it would repeat at every ping. */
	if (r < 0 && !nt.send_failed)
		log_warnx("cannot notify $NOTIFY_SOCKET: %s", strerror(-r));
	nt.send_failed = r < 0;
#endif
}

/* "2 workers, 7 threads, 3 connections, 1234 commands". */
static void
notify_status_line(char *buf, size_t len)
{
	struct obs_reading r;

	obs_read(&r, OBS_SINCE_START);
	snprintf(buf, len,
	    "%d workers, %d threads, %" PRIu64 " connections, %" PRIu64
	    " commands",
	    nt.nworkers, thread_count(), obs_total(&r, OBS_CONN_curr_conns),
	    obs_total(&r, OBS_CONN_cmds));
	obs_reading_free(&r);
}

/* Every NOTIFY_STATUS_SECS: what systemctl status shows. */
static void
notify_status_cb(evutil_socket_t fd, short what, void *arg)
{
	char status[256];

	notify_status_line(status, sizeof status);
	notify_send("STATUS=%s", status);
}

/* Worker i answered every ping up to the one sent now, or has not. */
static bool
notify_check_worker(int i, long long now)
{
	const char *name = thread_get(ROLE_WORKER, i)->name;

	/* A stall the stall watchdog holds counts as well as a ping lost:
	 * stall_ms may be shorter than the interval. */
	if (!worker_answered(i) || worker_stalled(i)) {
		if (!nt.stuck[i])
			log_warnx("watchdog: %s has not run its event loop for "
			          "%lld ms; not notifying the watchdog",
			    name, now - nt.asked_ms[i]);
		nt.stuck[i] = true;
		return false;
	}
	if (nt.stuck[i])
		log_notice("watchdog: %s runs its event loop again after "
		           "%lld ms",
		    name, now - nt.asked_ms[i]);
	nt.stuck[i] = false;
	nt.asked_ms[i] = now;
	return true;
}

/* Half the watchdog interval: WATCHDOG=1 only if every worker's loop
 * answered the last ping; then ping them all again. */
static void
notify_watchdog_cb(evutil_socket_t fd, short what, void *arg)
{
	long long now = (long long)(notify_now_us() / 1000);
	bool all = true;

	for (int i = 0; i < nt.nworkers; i++) {
		all = notify_check_worker(i, now) && all;
		worker_ping(i);
	}
	if (all)
		notify_send("WATCHDOG=1");
}

/* A persistent timer on base every us microseconds. */
static struct event *
notify_timer(struct event_base *base, uint64_t us, event_callback_fn cb)
{
	struct timeval tv = {
	    (time_t)(us / 1000000), (suseconds_t)(us % 1000000)};
	struct event *ev = event_new(base, -1, EV_PERSIST, cb, NULL);

	if (ev == NULL || event_add(ev, &tv) == -1)
		fatalx("cannot add a notify timer");
	return ev;
}

/* The watchdog's pings, if systemd asked for them (WatchdogSec=). */
static void
notify_watchdog_start(struct event_base *base)
{
	uint64_t usec = 0;
	long long now = (long long)(notify_now_us() / 1000);

#ifdef TL_HAVE_SYSTEMD
	if (sd_watchdog_enabled(0, &usec) <= 0)
		return;
#endif
	if (usec < 2) /* half of it must be a timer, not a busy loop */
		return;
	nt.asked_ms = xcalloc((size_t)nt.nworkers, sizeof *nt.asked_ms);
	nt.stuck = xcalloc((size_t)nt.nworkers, sizeof *nt.stuck);
	for (int i = 0; i < nt.nworkers; i++) {
		nt.asked_ms[i] = now;
		worker_ping(i);
	}
	nt.watchdog = notify_timer(base, usec / 2, notify_watchdog_cb);
	log_notice("watchdog: %" PRIu64 " ms, notified every %" PRIu64
	           " ms while all %d workers run their event loops",
	    usec / 1000, usec / 2000, nt.nworkers);
}

void
notify_ready(struct event_base *base, bool daemonized)
{
	char status[256];

#ifdef TL_HAVE_SYSTEMD
	nt.on = getenv("NOTIFY_SOCKET") != NULL;
#endif
	if (!nt.on)
		return;
	nt.nworkers = thread_role_count(ROLE_WORKER);
	notify_status_line(status, sizeof status);
	if (daemonized)
		notify_send(
		    "READY=1\nSTATUS=%s\nMAINPID=%d", status, (int)getpid());
	else
		notify_send("READY=1\nSTATUS=%s", status);
	nt.status = notify_timer(
	    base, NOTIFY_STATUS_SECS * 1000000ULL, notify_status_cb);
	notify_watchdog_start(base);
}

void
notify_reloading(void)
{
	notify_send("RELOADING=1\nMONOTONIC_USEC=%" PRIu64
	            "\nSTATUS=reopening the log file",
	    notify_now_us());
}

void
notify_reloaded(void)
{
	char status[256];

	if (!nt.on)
		return;
	notify_status_line(status, sizeof status);
	notify_send("READY=1\nSTATUS=%s", status);
}

void
notify_stopping(void)
{
	notify_send("STOPPING=1\nSTATUS=stopping");
	if (nt.status != NULL)
		event_del(nt.status);
	if (nt.watchdog != NULL)
		event_del(nt.watchdog);
}

void
notify_free(void)
{
	if (nt.status != NULL)
		event_free(nt.status);
	if (nt.watchdog != NULL)
		event_free(nt.watchdog);
	free(nt.asked_ms);
	free(nt.stuck);
	memset(&nt, 0, sizeof nt);
}
