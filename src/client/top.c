/* threadline top: every thread's figures, redrawn every -d seconds. */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "top.h"

/* What a row shows, worked out from two "stats threads" a period apart. */
struct top_row {
	struct thread_row t;
	double cpu_pct; /* of one CPU, over the last period */
	double ops;     /* commands per second, workers only */
	double conns, p99, drops;
};

/* The sort keys: the letter that picks one, its name, and its column. */
static const struct top_key {
	char letter;
	const char *name;
} top_keys[] = {
    {'c', "cpu"},
    {'o', "ops"},
    {'n', "conns"},
    {'p', "p99"},
    {'d', "drops"},
    {'t', "thread"},
};
#define TOP_NKEYS (sizeof top_keys / sizeof top_keys[0])

static struct termios top_saved;
static int top_raw;
static int top_sort;

/* Give the terminal back as it was. */
static void
top_restore(void)
{
	if (top_raw) {
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &top_saved);
		top_raw = 0;
	}
}

static void
top_signal(int sig)
{
	top_restore();
	signal(sig, SIG_DFL);
	raise(sig);
}

/* Keys without Enter and without echo, when stdin is a terminal. */
static void
top_keys_raw(void)
{
	struct termios t;

	if (!isatty(STDIN_FILENO) || tcgetattr(STDIN_FILENO, &top_saved) == -1)
		return;
	t = top_saved;
	t.c_lflag &= ~(tcflag_t)(ICANON | ECHO);
	t.c_cc[VMIN] = 0;
	t.c_cc[VTIME] = 0;
	if (tcsetattr(STDIN_FILENO, TCSAFLUSH, &t) == -1)
		return;
	top_raw = 1;
	atexit(top_restore);
	signal(SIGINT, top_signal);
	signal(SIGTERM, top_signal);
}

static double
top_num(const char *s)
{
	return strcmp(s, "-") == 0 ? -1 : strtod(s, NULL);
}

static double
top_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The value a row sorts by. */
static double
top_key_value(const struct top_row *r)
{
	switch (top_keys[top_sort].letter) {
	case 'o':
		return r->ops;
	case 'n':
		return r->conns;
	case 'p':
		return r->p99;
	case 'd':
		return r->drops;
	default:
		return r->cpu_pct;
	}
}

/* Largest first; by name for "thread", and to break ties. */
static int
top_compare(const void *a, const void *b)
{
	const struct top_row *x = a, *y = b;
	double vx, vy;

	if (top_keys[top_sort].letter != 't') {
		vx = top_key_value(x);
		vy = top_key_value(y);
		if (vx != vy)
			return vx < vy ? 1 : -1;
	}
	return strcmp(x->t.name, y->t.name);
}

/* A number, or "-" where the role has none. */
static void
top_cell(char *buf, size_t len, double v, const char *fmt)
{
	if (v < 0)
		snprintf(buf, len, "-");
	else
		snprintf(buf, len, fmt, v);
}

static void
top_draw(const struct client *c, struct top_row *rows, int n, double period,
    const char *answered)
{
	qsort(rows, (size_t)n, sizeof *rows, top_compare);
	if (isatty(STDOUT_FILENO))
		fputs("\033[H\033[2J", stdout);
	printf("threadline top  %s:%s  every %gs  sort: %s  "
	       "(c cpu, o ops, n conns, p p99, d drops, t thread; q quits)\n\n",
	    c->host, c->port, period, top_keys[top_sort].name);
	printf("%-15s %-7s %8s %6s %9s %6s %9s %7s\n", "THREAD", "ROLE", "TID",
	    "CPU%", "OPS/S", "CONNS", "P99(us)", "DROPS");
	for (int i = 0; i < n; i++) {
		char ops[16], conns[16], p99[16], drops[16];

		top_cell(ops, sizeof ops, rows[i].ops, "%.0f");
		top_cell(conns, sizeof conns, rows[i].conns, "%.0f");
		top_cell(p99, sizeof p99, rows[i].p99, "%.0f");
		top_cell(drops, sizeof drops, rows[i].drops, "%.0f");
		printf("%-15s %-7s %8s %6.1f %9s %6s %9s %7s\n", rows[i].t.name,
		    rows[i].t.role, rows[i].t.tid, rows[i].cpu_pct, ops, conns,
		    p99, drops);
	}
	printf("\n(answered by %s)\n", answered);
	fflush(stdout);
}

/* This period's rates against the last sample, by thread name. */
static void
top_rates(struct top_row *rows, int n, const struct thread_row *prev, int nprev,
    double dt)
{
	for (int i = 0; i < n; i++) {
		struct top_row *r = &rows[i];
		double cmds = top_num(r->t.cmds);

		r->conns = top_num(r->t.conns);
		r->p99 = top_num(r->t.p99);
		r->drops = top_num(r->t.dropped);
		r->cpu_pct = 0;
		r->ops = cmds < 0 ? -1 : 0;
		for (int k = 0; k < nprev && dt > 0; k++) {
			if (strcmp(prev[k].name, r->t.name) != 0)
				continue;
			r->cpu_pct = (r->t.cpu - prev[k].cpu) / dt * 100;
			if (cmds >= 0)
				r->ops = (cmds - top_num(prev[k].cmds)) / dt;
		}
	}
}

/* Wait until the deadline for keys; 1 when q asks to quit, and the sort
 * may change meanwhile (then the screen is drawn again at once). */
static int
top_wait(const struct client *c, struct top_row *rows, int n, double period,
    const char *answered, double deadline)
{
	double left;

	while ((left = deadline - top_seconds()) > 0) {
		struct pollfd pfd = {.fd = STDIN_FILENO, .events = POLLIN};
		char ch;

		if (!top_raw) {
			struct timespec ts = {
			    (time_t)left, (long)((left - (time_t)left) * 1e9)};

			nanosleep(&ts, NULL);
			return 0;
		}
		if (poll(&pfd, 1, (int)(left * 1000) + 1) <= 0 ||
		    read(STDIN_FILENO, &ch, 1) != 1)
			continue;
		if (ch == 'q')
			return 1;
		for (size_t k = 0; k < TOP_NKEYS; k++)
			if (top_keys[k].letter == ch) {
				top_sort = (int)k;
				top_draw(c, rows, n, period, answered);
			}
	}
	return 0;
}

int
cmd_top(struct client *c, int argc, char **argv)
{
	static struct thread_row prev[CLIENT_THREADS_MAX],
	    now[CLIENT_THREADS_MAX];
	static struct top_row rows[CLIENT_THREADS_MAX];
	double period = 1, when, last = 0;
	long count = 0;
	int nprev = 0;
	char answered[64];

	for (int i = 1; i < argc; i += 2) {
		if (i + 1 == argc)
			die(EXIT_USAGE, "top: %s needs a value", argv[i]);
		if (strcmp(argv[i], "-d") == 0) {
			period = strtod(argv[i + 1], NULL);
			if (period < 0.1 || period > 3600)
				die(EXIT_USAGE, "top: -d takes 0.1 to 3600 s");
		} else if (strcmp(argv[i], "-n") == 0) {
			count = strtol(argv[i + 1], NULL, 10);
			if (count < 1)
				die(EXIT_USAGE, "top: -n takes a count >= 1");
		} else if (strcmp(argv[i], "-s") == 0) {
			size_t k;

			for (k = 0; k < TOP_NKEYS; k++)
				if (strcmp(argv[i + 1], top_keys[k].name) == 0)
					break;
			if (k == TOP_NKEYS)
				die(EXIT_USAGE,
				    "top: -s takes cpu, ops, conns, p99, drops "
				    "or thread");
			top_sort = (int)k;
		} else
			die(EXIT_USAGE, "top: unknown option %s", argv[i]);
	}
	top_keys_raw();
	for (long iter = 0; count == 0 || iter < count; iter++) {
		int n = client_threads(c, now, answered, sizeof answered);

		when = top_seconds();
		for (int i = 0; i < n; i++)
			rows[i].t = now[i];
		top_rates(rows, n, prev, nprev, last > 0 ? when - last : 0);
		top_draw(c, rows, n, period, answered);
		memcpy(prev, now, sizeof now[0] * (size_t)n);
		nprev = n;
		last = when;
		if ((count == 0 || iter + 1 < count) &&
		    top_wait(c, rows, n, period, answered, when + period))
			break;
	}
	top_restore();
	return 0;
}
