/* threadline: the command-line client for people at a terminal. It speaks
 * the same ASCII protocol as any memcached client, and knows our
 * additions (stats threads, watch, per-thread verbosity). */
#include <errno.h>
#include <getopt.h>
#include <netdb.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "addr.h"
#include "tl_build.h"

/* Exit statuses, as the usage says. */
#define EXIT_ANSWER 1 /* the server answered with an error or a miss */
#define EXIT_USAGE  2
#define EXIT_CONN   3 /* no connection, or it broke */

#define CLIENT_LINE_MAX (64 * 1024)

struct client {
	int fd;
	const char *host;
	const char *port;
	char buf[CLIENT_LINE_MAX];
	size_t len;
};

static void __attribute__((noreturn, format(printf, 2, 3)))
die(int status, const char *fmt, ...)
{
	va_list ap;

	fputs("threadline: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(status);
}

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: threadline [-H host] [-p port] command [args]\n"
	    "commands:\n"
	    "  stats                  the server's stats\n"
	    "  threads                one line per thread: role, tid, cpu,\n"
	    "                         connections, commands, dropped lines\n"
	    "  watch [filters]        follow the log; filters: level=LEVEL\n"
	    "                         thread=NAME|ROLE "
	    "category=general|access\n"
	    "  ping                   check the server answers, and how fast\n"
	    "  get KEY                print KEY's value\n"
	    "  set KEY VALUE          store VALUE under KEY\n"
	    "  verbosity LEVEL [THREAD]\n"
	    "                         set the log level, of one thread or "
	    "role\n"
	    "exit status: 0 done, 1 the server answered an error or a miss,\n"
	    "2 usage, 3 cannot connect or the connection broke\n"
	    "defaults: -H 127.0.0.1 -p %d\n",
	    ADDR_DEFAULT_PORT);
}

static void
client_connect(struct client *c)
{
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res, *ai;
	int error, saved = 0;

	if ((error = getaddrinfo(c->host, c->port, &hints, &res)) != 0)
		die(EXIT_CONN, "cannot resolve %s: %s", c->host,
		    gai_strerror(error));
	c->fd = -1;
	for (ai = res; ai != NULL && c->fd == -1; ai = ai->ai_next) {
		c->fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC,
		    ai->ai_protocol);
		if (c->fd == -1)
			continue;
		if (connect(c->fd, ai->ai_addr, ai->ai_addrlen) == -1) {
			saved = errno;
			close(c->fd);
			c->fd = -1;
		}
	}
	freeaddrinfo(res);
	if (c->fd == -1)
		die(EXIT_CONN, "cannot connect to %s port %s: %s", c->host,
		    c->port, strerror(saved));
}

static void
client_send(struct client *c, const char *s, size_t n)
{
	while (n > 0) {
		ssize_t w = write(c->fd, s, n);

		if (w == -1 && errno == EINTR)
			continue;
		if (w == -1)
			die(EXIT_CONN, "sending to %s: %s", c->host,
			    strerror(errno));
		s += w;
		n -= (size_t)w;
	}
}

/* The next line without its "\r\n", in a buffer valid until the next
 * call; exits if the server closes first. */
static char *
client_line(struct client *c, size_t *lenp)
{
	static char line[CLIENT_LINE_MAX];
	char *nl;
	ssize_t n;

	while ((nl = memchr(c->buf, '\n', c->len)) == NULL) {
		if (c->len == sizeof c->buf)
			die(EXIT_CONN, "line from the server too long");
		n = read(c->fd, c->buf + c->len, sizeof c->buf - c->len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			die(EXIT_CONN, "connection to %s closed%s%s", c->host,
			    n ? ": " : "", n ? strerror(errno) : "");
		c->len += (size_t)n;
	}
	*lenp = (size_t)(nl - c->buf);
	memcpy(line, c->buf, *lenp);
	if (*lenp > 0 && line[*lenp - 1] == '\r')
		(*lenp)--;
	line[*lenp] = '\0';
	c->len -= (size_t)(nl + 1 - c->buf);
	memmove(c->buf, nl + 1, c->len);
	return line;
}

/* A value of n bytes to f, and its "\r\n" consumed. */
static void
client_value(struct client *c, size_t n, FILE *f)
{
	size_t want = n + 2;

	while (want > 0) {
		size_t take, value;

		if (c->len == 0) {
			ssize_t r = read(c->fd, c->buf, sizeof c->buf);

			if (r == -1 && errno == EINTR)
				continue;
			if (r <= 0)
				die(EXIT_CONN, "connection to %s closed",
				    c->host);
			c->len = (size_t)r;
		}
		take = c->len < want ? c->len : want;
		/* Of what is taken, the part before the final "\r\n". */
		value = want - 2 < take ? want - 2 : take;
		if (want <= 2)
			value = 0;
		fwrite(c->buf, 1, value, f);
		memmove(c->buf, c->buf + take, c->len - take);
		c->len -= take;
		want -= take;
	}
}

/* A reply that is an error: say it and exit. */
static void
client_check(const char *line)
{
	if (strncmp(line, "ERROR", 5) == 0 ||
	    strncmp(line, "CLIENT_ERROR", 12) == 0 ||
	    strncmp(line, "SERVER_ERROR", 12) == 0)
		die(EXIT_ANSWER, "server says: %s", line);
}

static int
cmd_stats(struct client *c)
{
	size_t n;
	char *line;

	client_send(c, "stats\r\n", 7);
	while (strcmp(line = client_line(c, &n), "END") != 0) {
		client_check(line);
		if (strncmp(line, "STAT ", 5) == 0)
			line += 5;
		puts(line);
	}
	return 0;
}

struct thread_row {
	char name[16];
	char role[16];
	char tid[16];
	double cpu;
	char conns[24];
	char cmds[24];
	char dropped[24];
};

/* The row for name, added if new. */
static struct thread_row *
thread_row(struct thread_row *rows, int *n, const char *name, size_t len)
{
	for (int i = 0; i < *n; i++)
		if (strlen(rows[i].name) == len &&
		    memcmp(rows[i].name, name, len) == 0)
			return &rows[i];
	if (*n == 256 || len >= sizeof rows->name)
		return NULL;
	memset(&rows[*n], 0, sizeof rows[*n]);
	memcpy(rows[*n].name, name, len);
	strcpy(rows[*n].conns, "-");
	strcpy(rows[*n].cmds, "-");
	return &rows[(*n)++];
}

static int
cmd_threads(struct client *c)
{
	static struct thread_row rows[256];
	int nrows = 0;
	size_t n;
	char *line, *colon, *sp, *answered = NULL;

	client_send(c, "stats threads\r\n", 15);
	while (strcmp(line = client_line(c, &n), "END") != 0) {
		struct thread_row *r;

		client_check(line);
		if (strncmp(line, "STAT thread ", 12) == 0) {
			free(answered);
			answered = strdup(line + 12);
			continue;
		}
		if (strncmp(line, "STAT ", 5) != 0 ||
		    (colon = strchr(line + 5, ':')) == NULL ||
		    (sp = strchr(colon, ' ')) == NULL)
			continue;
		*sp++ = '\0';
		r = thread_row(
		    rows, &nrows, line + 5, (size_t)(colon - (line + 5)));
		if (r == NULL)
			continue;
		colon++;
		if (strcmp(colon, "role") == 0)
			snprintf(r->role, sizeof r->role, "%s", sp);
		else if (strcmp(colon, "tid") == 0)
			snprintf(r->tid, sizeof r->tid, "%s", sp);
		else if (strcmp(colon, "cpu_user") == 0 ||
		         strcmp(colon, "cpu_system") == 0)
			r->cpu += strtod(sp, NULL);
		else if (strcmp(colon, "curr_connections") == 0)
			snprintf(r->conns, sizeof r->conns, "%s", sp);
		else if (strcmp(colon, "cmds") == 0)
			snprintf(r->cmds, sizeof r->cmds, "%s", sp);
		else if (strcmp(colon, "log_dropped") == 0)
			snprintf(r->dropped, sizeof r->dropped, "%s", sp);
	}
	printf("%-15s %-7s %8s %9s %6s %12s %8s\n", "THREAD", "ROLE", "TID",
	    "CPU(s)", "CONNS", "CMDS", "DROPPED");
	for (int i = 0; i < nrows; i++)
		printf("%-15s %-7s %8s %9.2f %6s %12s %8s\n", rows[i].name,
		    rows[i].role, rows[i].tid, rows[i].cpu, rows[i].conns,
		    rows[i].cmds, rows[i].dropped);
	if (answered != NULL)
		printf("(answered by %s)\n", answered);
	free(answered);
	return 0;
}

/* ANSI colour of a level name; NULL for none. */
static const char *
level_colour(const char *level, size_t len)
{
	static const struct {
		const char *name;
		const char *colour;
	} colours[] = {
	    {"fatal", "\033[1;31m"},
	    {"error", "\033[31m"},
	    {"warn", "\033[33m"},
	    {"notice", "\033[1m"},
	    {"debug", "\033[2m"},
	};

	for (size_t i = 0; i < sizeof colours / sizeof colours[0]; i++)
		if (strlen(colours[i].name) == len &&
		    memcmp(colours[i].name, level, len) == 0)
			return colours[i].colour;
	return NULL;
}

/* Print a streamed line, its level coloured on a terminal. The level is
 * the third field of a text line or the "level" member of a JSON one. */
static void
watch_print(const char *line, size_t n, int tty)
{
	const char *lv = NULL, *colour = NULL, *end;

	if (tty && line[0] == '{' && (lv = strstr(line, "\"level\":\"")))
		lv += 9;
	else if (tty && (lv = strchr(line, ' ')) && (lv = strchr(lv + 1, ' ')))
		lv++;
	if (lv != NULL && (end = strpbrk(lv, " \"")) != NULL)
		colour = level_colour(lv, (size_t)(end - lv));
	if (colour == NULL) {
		fwrite(line, 1, n, stdout);
		putchar('\n');
	} else
		printf("%.*s%s%.*s\033[0m%s\n", (int)(lv - line), line, colour,
		    (int)(end - lv), lv, end);
	fflush(stdout);
}

static int
cmd_watch(struct client *c, int argc, char **argv)
{
	char req[1024];
	size_t n, len = 5;
	char *line;
	int tty = isatty(STDOUT_FILENO);

	memcpy(req, "watch", 5);
	for (int i = 0; i < argc; i++) {
		if (len + strlen(argv[i]) + 4 > sizeof req)
			die(EXIT_USAGE, "watch filters too long");
		len += (size_t)sprintf(req + len, " %s", argv[i]);
	}
	memcpy(req + len, "\r\n", 2);
	client_send(c, req, len + 2);
	line = client_line(c, &n);
	client_check(line);
	if (strcmp(line, "OK") != 0)
		die(EXIT_ANSWER, "unexpected reply to watch: %s", line);
	for (;;) {
		line = client_line(c, &n);
		watch_print(line, n, tty);
	}
}

static int
cmd_ping(struct client *c)
{
	struct timespec t0, t1;
	size_t n;
	char *line;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	client_send(c, "version\r\n", 9);
	line = client_line(c, &n);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	client_check(line);
	printf("%s:%s answered \"%s\" in %.3f ms\n", c->host, c->port, line,
	    (double)(t1.tv_sec - t0.tv_sec) * 1e3 +
	        (double)(t1.tv_nsec - t0.tv_nsec) / 1e6);
	return 0;
}

/* Keys travel inside a request line: refuse what would break it. */
static void
check_key(const char *key)
{
	size_t n = strlen(key);

	if (n == 0 || n > 250 || strpbrk(key, " \r\n") != NULL)
		die(EXIT_USAGE, "bad key: 1 to 250 bytes, no spaces or line "
		                "ends");
}

static int
cmd_get(struct client *c, const char *key)
{
	char req[300], *line;
	size_t n;
	unsigned flags;
	unsigned long bytes;

	check_key(key);
	client_send(
	    c, req, (size_t)snprintf(req, sizeof req, "get %s\r\n", key));
	line = client_line(c, &n);
	client_check(line);
	if (strcmp(line, "END") == 0)
		die(EXIT_ANSWER, "%s: not found", key);
	if (sscanf(line, "VALUE %*s %u %lu", &flags, &bytes) != 2)
		die(EXIT_ANSWER, "unexpected reply: %s", line);
	client_value(c, bytes, stdout);
	if (isatty(STDOUT_FILENO))
		putchar('\n');
	line = client_line(c, &n);
	return strcmp(line, "END") == 0 ? 0 : EXIT_ANSWER;
}

static int
cmd_set(struct client *c, const char *key, const char *value)
{
	char req[320], *line;
	size_t n, vlen = strlen(value);

	check_key(key);
	client_send(c, req,
	    (size_t)snprintf(req, sizeof req, "set %s 0 0 %zu\r\n", key, vlen));
	client_send(c, value, vlen);
	client_send(c, "\r\n", 2);
	line = client_line(c, &n);
	client_check(line);
	if (strcmp(line, "STORED") != 0)
		die(EXIT_ANSWER, "not stored: %s", line);
	return 0;
}

static int
cmd_verbosity(struct client *c, const char *level, const char *thread)
{
	char req[128], *line;
	size_t n;

	if (strpbrk(level, " \r\n") || (thread && strpbrk(thread, " \r\n")))
		die(EXIT_USAGE, "bad verbosity arguments");
	n = (size_t)snprintf(req, sizeof req, "verbosity %s%s%s\r\n", level,
	    thread ? " " : "", thread ? thread : "");
	if (n >= sizeof req)
		die(EXIT_USAGE, "bad verbosity arguments");
	client_send(c, req, n);
	line = client_line(c, &n);
	client_check(line);
	return strcmp(line, "OK") == 0 ? 0 : EXIT_ANSWER;
}

int
main(int argc, char **argv)
{
	static char port[16];
	struct client c = {.host = "127.0.0.1", .port = port};
	const char *cmd;
	int ch;

	snprintf(port, sizeof port, "%d", ADDR_DEFAULT_PORT);
	while ((ch = getopt(argc, argv, "+H:p:hV")) != -1) {
		switch (ch) {
		case 'H':
			c.host = optarg;
			break;
		case 'p':
			if (addr_port(optarg, &(int){0}) == -1)
				die(EXIT_USAGE, "bad port '%s': 0 to 65535",
				    optarg);
			c.port = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("threadline %s\n", TL_VERSION);
			return 0;
		default:
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	argc -= optind;
	argv += optind;
	if (argc == 0) {
		usage(stderr);
		return EXIT_USAGE;
	}
	cmd = argv[0];
	if (!((strcmp(cmd, "stats") == 0 && argc == 1) ||
	        (strcmp(cmd, "threads") == 0 && argc == 1) ||
	        (strcmp(cmd, "ping") == 0 && argc == 1) ||
	        strcmp(cmd, "watch") == 0 ||
	        (strcmp(cmd, "get") == 0 && argc == 2) ||
	        (strcmp(cmd, "set") == 0 && argc == 3) ||
	        (strcmp(cmd, "verbosity") == 0 && (argc == 2 || argc == 3)))) {
		usage(stderr);
		return EXIT_USAGE;
	}
	signal(SIGPIPE, SIG_IGN);
	client_connect(&c);
	if (strcmp(cmd, "stats") == 0)
		return cmd_stats(&c);
	if (strcmp(cmd, "threads") == 0)
		return cmd_threads(&c);
	if (strcmp(cmd, "watch") == 0)
		return cmd_watch(&c, argc - 1, argv + 1);
	if (strcmp(cmd, "ping") == 0)
		return cmd_ping(&c);
	if (strcmp(cmd, "get") == 0)
		return cmd_get(&c, argv[1]);
	if (strcmp(cmd, "set") == 0)
		return cmd_set(&c, argv[1], argv[2]);
	return cmd_verbosity(&c, argv[1], argc == 3 ? argv[2] : NULL);
}
