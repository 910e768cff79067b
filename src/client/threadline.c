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
#include "client.h"
#include "cmd_hotkeys.h"
#include "tl_build.h"
#include "top.h"

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
	    "category=general|access|slow\n"
	    "  top [-d S] [-n N] [-s KEY]\n"
	    "                         the threads live: cpu %%, ops/s, conns,\n"
	    "                         p99, drops; keys c o n p d t sort, q "
	    "quits\n"
	    "  ping                   check the server answers, and how fast\n"
	    "  hotkeys [N]            each worker's top N keys (10):\n"
	    "                         requests, error bound, bytes sent\n"
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

static int
cmd_threads(struct client *c)
{
	static struct thread_row rows[CLIENT_THREADS_MAX];
	char answered[64];
	int nrows = client_threads(c, rows, answered, sizeof answered);

	printf("%-15s %-7s %8s %9s %6s %12s %8s\n", "THREAD", "ROLE", "TID",
	    "CPU(s)", "CONNS", "CMDS", "DROPPED");
	for (int i = 0; i < nrows; i++)
		printf("%-15s %-7s %8s %9.2f %6s %12s %8s\n", rows[i].name,
		    rows[i].role, rows[i].tid, rows[i].cpu, rows[i].conns,
		    rows[i].cmds, rows[i].dropped);
	if (answered[0] != '\0')
		printf("(answered by %s)\n", answered);
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
	/* A bare "watch" is memcached's "watch fetchers": the whole log
	 * is level=debug. */
	if (argc == 0)
		len += (size_t)sprintf(req + len, " level=debug");
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
	        strcmp(cmd, "top") == 0 || strcmp(cmd, "watch") == 0 ||
	        strcmp(cmd, "hotkeys") == 0 ||
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
	if (strcmp(cmd, "top") == 0)
		return cmd_top(&c, argc, argv);
	if (strcmp(cmd, "ping") == 0)
		return cmd_ping(&c);
	if (strcmp(cmd, "hotkeys") == 0)
		return cmd_hotkeys(&c, argc, argv);
	if (strcmp(cmd, "get") == 0)
		return cmd_get(&c, argv[1]);
	if (strcmp(cmd, "set") == 0)
		return cmd_set(&c, argv[1], argv[2]);
	return cmd_verbosity(&c, argv[1], argc == 3 ? argv[2] : NULL);
}
