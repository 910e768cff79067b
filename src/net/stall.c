/* The stall watchdog: a timer on main's loop reads each worker's
 * heartbeat; a worker held in one callback past stall_ms is counted, and
 * its stack and request, copied by its own thread in a signal handler,
 * are logged. */
#include <errno.h>
#include <execinfo.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <elfutils/libdwfl.h>

#include <event2/event.h>

#include "conn.h"
#include "counter.h"
#include "log.h"
#include "thread.h"
#include "worker.h"
#include "worker_int.h"

static struct event *stall_timer;
static long long stall_ms;

/* The stalled worker's thread, interrupted by the watchdog: where it is
 * and what it serves, into its own snapshot. Async-signal-safe:
 * backtrace() was called once before (its first call loads libgcc). */
static void
worker_stall_handler(int sig)
{
	struct worker *w = worker_self;
	struct worker_snap *s;
	struct conn *c;
	unsigned want;
	int saved = errno;

	if (w == NULL)
		return;
	s = &w->snap;
	want = atomic_load_explicit(&s->want, memory_order_acquire);
	s->nframes = backtrace(s->frames, WORKER_FRAMES);
	s->fd = -1;
	s->has_line = false;
	c = atomic_load_explicit(&w->beat.cur, memory_order_relaxed);
	if (c != NULL) {
		s->fd = c->fd;
		memcpy(s->peer, c->peer, sizeof s->peer);
		if (c->proto.line != NULL) {
			s->linelen = c->proto.linelen < sizeof s->line
			                 ? c->proto.linelen
			                 : sizeof s->line;
			memcpy(s->line, c->proto.line, s->linelen);
			s->has_line = true;
		}
	}
	atomic_store_explicit(&s->done, want, memory_order_release);
	errno = saved;
}

/* Up to cap bytes of s into buf, the unprintable ones as \xNN. */
static void
worker_escape(const char *s, size_t len, char *buf, size_t cap)
{
	size_t o = 0;

	for (size_t i = 0; i < len && o + 5 < cap; i++) {
		unsigned char ch = (unsigned char)s[i];

		if (ch > ' ' && ch < 0x7f && ch != '\\')
			buf[o++] = (char)ch;
		else
			o += (size_t)snprintf(buf + o, cap - o, "\\x%02x", ch);
	}
	buf[o] = '\0';
}

/* "cmd=get key=foo" from the request line, or what stands in for it. */
static void
worker_stall_request(const struct worker_snap *s, char *buf, size_t cap)
{
	char cmd[64], key[WORKER_LINE_MAX * 4 + 1];
	size_t i = 0, at, n;

	if (s->fd == -1) {
		snprintf(buf, cap,
		    "no connection (the worker's own timer "
		    "or wake-up)");
		return;
	}
	if (!s->has_line) {
		snprintf(buf, cap,
		    "conn=%d peer=%s cmd=- key=- (binary, or between requests)",
		    s->fd, s->peer);
		return;
	}
	while (i < s->linelen && s->line[i] == ' ')
		i++;
	for (at = i; i < s->linelen && s->line[i] != ' '; i++)
		;
	n = i - at < 15 ? i - at : 15;
	worker_escape(s->line + at, n, cmd, sizeof cmd);
	while (i < s->linelen && s->line[i] == ' ')
		i++;
	for (at = i; i < s->linelen && s->line[i] != ' '; i++)
		;
	worker_escape(s->line + at, i - at, key, sizeof key);
	snprintf(buf, cap, "conn=%d peer=%s cmd=%s key=%s", s->fd, s->peer,
	    cmd[0] ? cmd : "-", key[0] ? key : "-");
}

/* The process's modules, read at the first stall: their symbol tables
 * name static functions too, and their DWARF gives source lines. */
static Dwfl *stall_dwfl;

static Dwfl *
stall_modules(void)
{
	static const Dwfl_Callbacks cb = {
	    .find_elf = dwfl_linux_proc_find_elf,
	    .find_debuginfo = dwfl_standard_find_debuginfo,
	};

	if (stall_dwfl != NULL || (stall_dwfl = dwfl_begin(&cb)) == NULL)
		return stall_dwfl;
	if (dwfl_linux_proc_report(stall_dwfl, getpid()) != 0 ||
	    dwfl_report_end(stall_dwfl, NULL, NULL) != 0) {
		dwfl_end(stall_dwfl);
		stall_dwfl = NULL;
	}
	return stall_dwfl;
}

/* One frame: "fn (file.c:123)" with a source line, "fn+0x1a" without,
 * "module+0x1a" with no symbol, else the address. */
static int
stall_frame(Dwfl *d, void *frame, char *buf, size_t cap)
{
	/* A return address: the call is the byte before it. */
	Dwarf_Addr pc = (Dwarf_Addr)(uintptr_t)frame - 1, start;
	Dwfl_Module *m = d != NULL ? dwfl_addrmodule(d, pc) : NULL;
	const char *fn, *file, *mod, *slash;
	GElf_Off off;
	GElf_Sym sym;
	Dwfl_Line *l;
	int line, fnlen;

	if (m == NULL)
		return snprintf(buf, cap, "%p", frame);
	fn = dwfl_module_addrinfo(m, pc, &off, &sym, NULL, NULL, NULL);
	if (fn == NULL) {
		mod = dwfl_module_info(
		    m, NULL, &start, NULL, NULL, NULL, NULL, NULL);
		slash = mod != NULL ? strrchr(mod, '/') : NULL;
		return snprintf(buf, cap, "%s+0x%llx",
		    slash != NULL ? slash + 1
		    : mod != NULL ? mod
		                  : "?",
		    (unsigned long long)(pc + 1 - start));
	}
	/* "clock_nanosleep@GLIBC_2.2.5": the version is noise here. */
	fnlen = (int)strcspn(fn, "@");
	if ((l = dwfl_module_getsrc(m, pc)) != NULL &&
	    (file = dwfl_lineinfo(l, NULL, &line, NULL, NULL, NULL)) != NULL) {
		slash = strrchr(file, '/');
		return snprintf(buf, cap, "%.*s (%s:%d)", fnlen, fn,
		    slash != NULL ? slash + 1 : file, line);
	}
	return snprintf(
	    buf, cap, "%.*s+0x%llx", fnlen, fn, (unsigned long long)off + 1);
}

/* The stack as "fn (file.c:12) <- fn2+0x40 ...", innermost first,
 * without the handler's own frame and the kernel's trampoline. */
static void
worker_stall_stack(const struct worker_snap *s, char *buf, size_t cap)
{
	Dwfl *d = stall_modules();
	size_t o = 0;

	if (s->nframes <= 2) {
		snprintf(buf, cap, "unknown");
		return;
	}
	buf[0] = '\0';
	for (int i = 2; i < s->nframes && o + 5 < cap; i++) {
		int len;

		if (o > 0) {
			memcpy(buf + o, " <- ", 5);
			o += 4;
		}
		len = stall_frame(d, s->frames[i], buf + o, cap - o);
		if (len < 0)
			break;
		o += (size_t)len < cap - o ? (size_t)len : cap - o - 1;
	}
}

/* Ask the stalled w for its stack and request and log them. */
static void
worker_stall_report(struct worker *w, long long ms)
{
	struct worker_snap *s = &w->snap;
	unsigned want =
	    atomic_load_explicit(&s->want, memory_order_relaxed) + 1;
	char req[WORKER_LINE_MAX * 5 + ADDR_MAX + 128], stack[900];
	struct timespec tick = {0, 1000000};
	int waited = 0;

	atomic_store_explicit(&s->want, want, memory_order_release);
	if (pthread_kill(w->thread->pthread, WORKER_STALL_SIG) == 0)
		while (atomic_load_explicit(&s->done, memory_order_acquire) !=
		           want &&
		       waited++ < WORKER_SNAP_WAIT_MS)
			nanosleep(&tick, NULL);
	if (atomic_load_explicit(&s->done, memory_order_acquire) != want) {
		log_warnx("stall: %s has been in one callback for %lld ms; "
		          "its stack did not come",
		    w->thread->name, ms);
		return;
	}
	worker_stall_request(s, req, sizeof req);
	worker_stall_stack(s, stack, sizeof stack);
	log_warnx("stall: %s has been in one callback for %lld ms: %s; "
	          "stack: %s",
	    w->thread->name, ms, req, stack);
}

static long long
worker_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The watchdog's tick: a heartbeat odd and unchanged since stall_ms is a
 * stall, said once; its end is said when the heartbeat moves. */
static void
workers_watch_cb(evutil_socket_t fd, short what, void *arg)
{
	long long now = worker_now_ms();

	for (int i = 0; i < nworkers; i++) {
		struct worker *w = &workers[i];
		struct worker_watch *d = &w->watch;
		unsigned long turn =
		    atomic_load_explicit(&w->beat.turn, memory_order_relaxed);

		if (turn != d->turn || (turn & 1) == 0) {
			if (d->stalled) {
				log_notice(
				    "stall: %s is back in its event loop "
				    "after %lld ms or more",
				    w->thread->name, now - d->since_ms);
				atomic_store_explicit(&w->counters.stalled, 0,
				    memory_order_relaxed);
			}
			d->turn = turn;
			d->since_ms = now;
			d->stalled = false;
			continue;
		}
		if (d->stalled || now - d->since_ms < stall_ms)
			continue;
		d->stalled = true;
		stat_add(&w->counters.stalls, 1);
		atomic_store_explicit(
		    &w->counters.stalled, 1, memory_order_relaxed);
		worker_stall_report(w, now - d->since_ms);
	}
}

void
workers_watchdog(struct event_base *base, unsigned ms)
{
	struct sigaction sa;
	void *frame;
	long long period;

	if (ms == 0)
		return;
	stall_ms = ms;
	(void)backtrace(&frame, 1);
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = worker_stall_handler;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = SA_RESTART;
	if (sigaction(WORKER_STALL_SIG, &sa, NULL) == -1)
		fatal("sigaction");
	/* A stall is seen within a quarter of stall_ms, at most 250 ms. */
	period = ms / 4 < 5 ? 5 : ms / 4 > 250 ? 250 : ms / 4;
	stall_timer = event_new(base, -1, EV_PERSIST, workers_watch_cb, NULL);
	if (stall_timer == NULL ||
	    event_add(stall_timer, &(struct timeval){(time_t)(period / 1000),
	                               (suseconds_t)(period % 1000) * 1000}) ==
	        -1)
		fatalx("cannot add the stall watchdog's timer");
}

void
workers_watchdog_stop(void)
{
	if (stall_timer != NULL)
		event_free(stall_timer);
	stall_timer = NULL;
	if (stall_dwfl != NULL)
		dwfl_end(stall_dwfl);
	stall_dwfl = NULL;
}

/* Main's thread: whether the watchdog holds worker idx stalled now. */
bool
worker_stalled(int i)
{
	return stat_get(&workers[i].counters.stalled) != 0;
}
