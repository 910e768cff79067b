/* threadline top: every thread's figures, redrawn every -d seconds. */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
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

/* The server's own figures, from "stats", for the summary. */
struct top_summary {
	double uptime, conns, items, bytes, limit, hits, misses;
	char version[32];
};

static struct termios top_saved;
static int top_cols, top_lines; /* the terminal's size; 0: not one */
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

/* The terminal's size now, as it may have been resized. */
static void
top_size(void)
{
	struct winsize ws;

	top_cols = top_lines = 0;
	if (isatty(STDOUT_FILENO) &&
	    ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0) {
		top_cols = ws.ws_col;
		top_lines = ws.ws_row;
	}
}

/* One line, cut to the terminal's width: a line that wrapped would push
 * the screen's rows down into garbage. */
static void __attribute__((format(printf, 1, 2))) top_line(const char *fmt, ...)
{
	char buf[1024];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	/* Cut, and the spaces the cut leaves at the end with it. */
	if (top_cols > 0 && (size_t)top_cols < strlen(buf)) {
		int end = top_cols;

		while (end > 0 && buf[end - 1] == ' ')
			end--;
		buf[end] = '\0';
	}
	puts(buf);
}

/* A size in bytes, as top shows memory: 60B, 512K, 1.5M, 64G. */
static void
top_bytes(char *buf, size_t len, double b)
{
	static const char units[] = "KMGT";
	int u = 0;

	if (b < 1024) {
		snprintf(buf, len, "%.0fB", b);
		return;
	}
	b /= 1024;
	while (b >= 1024 && u < 3) {
		b /= 1024;
		u++;
	}
	snprintf(buf, len, b < 10 ? "%.1f%c" : "%.0f%c", b, units[u]);
}

/* CPU seconds as top's TIME+: minutes:seconds.hundredths. */
static void
top_time(char *buf, size_t len, double s)
{
	long cs = (long)(s * 100 + 0.5);

	snprintf(
	    buf, len, "%ld:%02ld.%02ld", cs / 6000, cs / 100 % 60, cs % 100);
}

/* The summary: the server's rate, hit ratio, memory, items, connections
 * and uptime. */
static void
top_draw_summary(const struct top_summary *sum, double ops)
{
	char used[16], limit[16], up[32], hit[16] = "-";
	double gets = sum->hits + sum->misses;
	long u = (long)sum->uptime;

	top_bytes(used, sizeof used, sum->bytes);
	top_bytes(limit, sizeof limit, sum->limit);
	if (u >= 86400)
		snprintf(up, sizeof up, "%ldd %02ld:%02ld", u / 86400,
		    u / 3600 % 24, u / 60 % 60);
	else
		snprintf(up, sizeof up, "%02ld:%02ld:%02ld", u / 3600,
		    u / 60 % 60, u % 60);
	if (gets > 0)
		snprintf(hit, sizeof hit, "%.1f%%", sum->hits / gets * 100);
	top_line("ops/s %.0f  hit %s  mem %s/%s  items %.0f", ops, hit, used,
	    limit, sum->items);
	top_line("conns %.0f  up %s  version %s", sum->conns, up, sum->version);
}

static void
top_draw(const struct client *c, struct top_row *rows, int n, double period,
    const char *answered, const struct top_summary *sum)
{
	double total = 0;
	int room;

	top_size();
	qsort(rows, (size_t)n, sizeof *rows, top_compare);
	for (int i = 0; i < n; i++)
		if (rows[i].ops > 0)
			total += rows[i].ops;
	if (isatty(STDOUT_FILENO))
		fputs("\033[H\033[2J", stdout);
	top_line("threadline top  %s%s%s  every %gs  sort: %s  "
	         "(c cpu, o ops, n conns, p p99, d drops, t thread; q quits)",
	    c->path != NULL ? c->path : c->host, c->path != NULL ? "" : ":",
	    c->path != NULL ? "" : c->port, period, top_keys[top_sort].name);
	top_draw_summary(sum, total);
	top_line("%s", "");
	top_line("%-15s %-6s %1s %7s %6s %9s %9s %6s %9s %7s", "THREAD", "ROLE",
	    "S", "TID", "CPU%", "TIME+", "OPS/S", "CONNS", "P99(us)", "DROPS");
	/* Seven lines besides the rows: the rows that do not fit are left
	 * out, the last sorted first. The columns up to OPS/S fit in 60. */
	room = top_lines > 0 ? top_lines - 7 : n;
	for (int i = 0; i < n && i < room; i++) {
		char ops[16], conns[16], p99[16], drops[16], time[32];

		top_cell(ops, sizeof ops, rows[i].ops, "%.0f");
		top_cell(conns, sizeof conns, rows[i].conns, "%.0f");
		top_cell(p99, sizeof p99, rows[i].p99, "%.0f");
		top_cell(drops, sizeof drops, rows[i].drops, "%.0f");
		top_time(time, sizeof time, rows[i].t.cpu);
		top_line("%-15s %-6s %c %7s %6.1f %9s %9s %6s %9s %7s",
		    rows[i].t.name, rows[i].t.role, rows[i].t.state,
		    rows[i].t.tid, rows[i].cpu_pct, time, ops, conns, p99,
		    drops);
	}
	top_line("%s", "");
	top_line("(answered by %s)", answered);
	fflush(stdout);
}

/* The summary's figures from one "stats". */
static void
top_read_summary(struct client *c, struct top_summary *sum)
{
	static const char *const names[] = {"uptime", "curr_connections",
	    "curr_items", "bytes", "limit_maxbytes", "get_hits", "get_misses"};
	double *const slots[] = {&sum->uptime, &sum->conns, &sum->items,
	    &sum->bytes, &sum->limit, &sum->hits, &sum->misses};
	char *line, *sp;
	size_t n;

	memset(sum, 0, sizeof *sum);
	strcpy(sum->version, "-");
	client_send(c, "stats\r\n", 7);
	while (strcmp(line = client_line(c, &n), "END") != 0) {
		client_check(line);
		if (strncmp(line, "STAT ", 5) != 0 ||
		    (sp = strchr(line + 5, ' ')) == NULL)
			continue;
		*sp++ = '\0';
		/* Ours, or memcached's where there is none. */
		if (strcmp(line + 5, "threadline_version") == 0 ||
		    (strcmp(line + 5, "version") == 0 &&
		        strcmp(sum->version, "-") == 0))
			snprintf(sum->version, sizeof sum->version, "%s", sp);
		for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
			if (strcmp(line + 5, names[i]) == 0)
				*slots[i] = strtod(sp, NULL);
	}
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
    const char *answered, const struct top_summary *sum, double deadline)
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
				top_draw(c, rows, n, period, answered, sum);
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
	struct top_summary sum;
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

		top_read_summary(c, &sum);
		when = top_seconds();
		for (int i = 0; i < n; i++)
			rows[i].t = now[i];
		top_rates(rows, n, prev, nprev, last > 0 ? when - last : 0);
		top_draw(c, rows, n, period, answered, &sum);
		memcpy(prev, now, sizeof now[0] * (size_t)n);
		nprev = n;
		last = when;
		if ((count == 0 || iter + 1 < count) &&
		    top_wait(c, rows, n, period, answered, &sum, when + period))
			break;
	}
	top_restore();
	return 0;
}
