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

static void usage_exit(void) __attribute__((noreturn));
static void flush_stdout(void);

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: threadline [-H host] [-p port] [-s socket] command [args]\n"
	    "commands:\n"
	    "  stats [GROUP [ARGS]]   the server's stats, or a group's: "
	    "settings,\n"
	    "                         latency, slabs, items, sizes, conns,\n"
	    "                         threads, detail dump, ...\n"
	    "  threads                one line per thread: role, state, tid,\n"
	    "                         cpu, connections, commands, dropped "
	    "lines\n"
	    "  watch [filters]        follow the log; filters: level=LEVEL\n"
	    "                         thread=NAME|ROLE "
	    "category=general|access\n"
	    "  top [-d S] [-n N] [-s KEY]\n"
	    "                         a summary, then the threads live: "
	    "state,\n"
	    "                         cpu %%, cpu time, ops/s, conns, p99,\n"
	    "                         drops; keys c o n p d t sort, q quits\n"
	    "  ping                   check the server answers, and how fast\n"
	    "  hotkeys [N]            each worker's top N keys (10):\n"
	    "                         requests, error bound, bytes sent\n"
	    "  get KEY...             print the values; of several keys, each\n"
	    "                         after a line \"==> KEY <==\"\n"
	    "  gets KEY...            each value after \"==> KEY flags=F cas=C "
	    "<==\"\n"
	    "  set [--flags N] [--ttl S] [--] KEY [VALUE]\n"
	    "                         store VALUE, or stdin, under KEY\n"
	    "  delete KEY             remove KEY\n"
	    "  incr KEY [N]           add N (default 1), print the result\n"
	    "  decr KEY [N]           subtract N (default 1), print the "
	    "result\n"
	    "  touch KEY TTL          give KEY a new time to live\n"
	    "  flush [DELAY]          invalidate every item, now or in DELAY "
	    "s\n"
	    "  verbosity LEVEL [THREAD]\n"
	    "                         set the log level, of one thread or "
	    "role\n"
	    "exit status: 0 done, 1 the server answered an error or a miss\n"
	    "(said on stderr), or stdout could not be written; 2 usage,\n"
	    "3 cannot connect or the connection broke\n"
	    "defaults: -H $THREADLINE_HOST or 127.0.0.1, -p $THREADLINE_PORT\n"
	    "or %d\n",
	    ADDR_DEFAULT_PORT);
}

/* A reply line other than the one wanted: an error the server said, or
 * what it did not say. */
static void
expect_line(struct client *c, const char *want, const char *key)
{
	size_t n;
	char *line = client_line(c, &n);

	client_check(line);
	if (strcmp(line, want) == 0)
		return;
	if (key != NULL && strcmp(line, "NOT_FOUND") == 0)
		die(EXIT_ANSWER, "%s: not found", key);
	die(EXIT_ANSWER, "unexpected reply: %s", line);
}

/* stats [GROUP [ARGS]]: the reply's lines without "STAT ", to END; a
 * group that answers one word (stats reset, stats detail on) prints it. */
static int
cmd_stats(struct client *c, int argc, char **argv)
{
	char req[1024];
	size_t n, len = 5;
	char *line;

	memcpy(req, "stats", 5);
	for (int i = 1; i < argc; i++) {
		if (strpbrk(argv[i], " \r\n") != NULL ||
		    len + strlen(argv[i]) + 4 > sizeof req)
			die(EXIT_USAGE, "bad stats arguments");
		len += (size_t)sprintf(req + len, " %s", argv[i]);
	}
	memcpy(req + len, "\r\n", 2);
	client_send(c, req, len + 2);
	for (int first = 1;; first = 0) {
		line = client_line(c, &n);
		if (strcmp(line, "END") == 0)
			break;
		client_check(line);
		if (strncmp(line, "STAT ", 5) == 0)
			line += 5;
		puts(line);
		if (first &&
		    (strcmp(line, "RESET") == 0 || strcmp(line, "OK") == 0))
			break;
	}
	return 0;
}

static int
cmd_threads(struct client *c, int argc, char **argv)
{
	static struct thread_row rows[CLIENT_THREADS_MAX];
	char answered[64];
	int nrows = client_threads(c, rows, answered, sizeof answered);

	(void)argc;
	(void)argv;
	printf("%-15s %-7s %1s %8s %9s %6s %12s %8s\n", "THREAD", "ROLE", "S",
	    "TID", "CPU(s)", "CONNS", "CMDS", "DROPPED");
	for (int i = 0; i < nrows; i++)
		printf("%-15s %-7s %c %8s %9.2f %6s %12s %8s\n", rows[i].name,
		    rows[i].role, rows[i].state, rows[i].tid, rows[i].cpu,
		    rows[i].conns, rows[i].cmds, rows[i].dropped);
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

/* Control bytes as \xHH (\t, \r as such), so what a client put in a
 * key cannot drive the terminal; the length of the result, at most 4n. */
static size_t
watch_escape(const char *line, size_t n, char *out)
{
	static const char hex[] = "0123456789abcdef";
	char *o = out;

	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)line[i];

		if (ch == '\t' || ch == '\r') {
			*o++ = '\\';
			*o++ = ch == '\t' ? 't' : 'r';
		} else if (ch < 0x20 || ch == 0x7f) {
			*o++ = '\\';
			*o++ = 'x';
			*o++ = hex[ch >> 4];
			*o++ = hex[ch & 0xf];
		} else
			*o++ = (char)ch;
	}
	*o = '\0';
	return (size_t)(o - out);
}

/* Print a streamed line, escaped, its level coloured on a terminal. The
 * level is the third field of a text line or the "level" member of a JSON
 * one. */
static void
watch_print(const char *raw, size_t rawlen, int tty)
{
	static char line[CLIENT_LINE_MAX * 4 + 1];
	const char *lv = NULL, *colour = NULL, *end;
	size_t n = watch_escape(raw, rawlen, line);

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
	flush_stdout();
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
	if (argc == 1)
		len += (size_t)sprintf(req + len, " level=debug");
	for (int i = 1; i < argc; i++) {
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
cmd_ping(struct client *c, int argc, char **argv)
{
	struct timespec t0, t1;
	size_t n;
	char *line;

	(void)argc;
	(void)argv;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	client_send(c, "version\r\n", 9);
	line = client_line(c, &n);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	client_check(line);
	if (c->path != NULL)
		printf("%s", c->path);
	else
		printf("%s:%s", c->host, c->port);
	printf(" answered \"%s\" in %.3f ms\n", line,
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

/* get KEY...: one key's value as its bytes; of several, each found one
 * after a line "==> KEY <==" and before a newline, as head(1) shows
 * files. gets KEY...: each after "==> KEY flags=F cas=C <==", one key as
 * several. A miss is said on stderr, and the exit is 1 if any missed. */
static int
cmd_get(struct client *c, int argc, char **argv)
{
	char req[2048], *line, key[256];
	size_t n, len;
	unsigned flags;
	unsigned long bytes;
	unsigned long long cas = 0;
	int gets = strcmp(argv[0], "gets") == 0;
	int multi = argc > 2 || gets, tty = isatty(STDOUT_FILENO), found = 0;
	int code = 0;
	char *hit = calloc((size_t)argc, 1);

	if (hit == NULL)
		die(EXIT_ANSWER, "out of memory");
	len = (size_t)sprintf(req, "%s", argv[0]);
	for (int i = 1; i < argc; i++) {
		check_key(argv[i]);
		if (len + strlen(argv[i]) + 4 > sizeof req)
			die(EXIT_USAGE, "too many keys");
		len += (size_t)sprintf(req + len, " %s", argv[i]);
	}
	memcpy(req + len, "\r\n", 2);
	client_send(c, req, len + 2);
	while (strcmp(line = client_line(c, &n), "END") != 0) {
		client_check(line);
		if (sscanf(line, "VALUE %255s %u %lu %llu", key, &flags, &bytes,
		        &cas) != 3 + gets)
			die(EXIT_ANSWER, "unexpected reply: %s", line);
		if (gets)
			printf("%s==> %s flags=%u cas=%llu <==\n",
			    found ? "\n" : "", key, flags, cas);
		else if (multi)
			printf("%s==> %s <==\n", found ? "\n" : "", key);
		client_value(c, bytes, stdout);
		if (multi || tty)
			putchar('\n');
		found++;
		for (int i = 1; i < argc; i++)
			if (!hit[i] && strcmp(argv[i], key) == 0) {
				hit[i] = 1;
				break;
			}
	}
	for (int i = 1; i < argc; i++)
		if (!hit[i]) {
			fprintf(stderr, "threadline: %s: not found\n", argv[i]);
			code = EXIT_ANSWER;
		}
	free(hit);
	return code;
}

/* set's --flags and --ttl, read before connecting. */
static unsigned long set_flags;
static long set_ttl;

/* "--flags N" and "--ttl S" (or "--flags=N") among args, removed; "--"
 * ends them, so a value may start with "--". The number of args left. */
static int
set_options(int argc, char **argv)
{
	int left = 1;

	for (int i = 1; i < argc; i++) {
		const char *name = argv[i], *val = NULL, *eq;
		char *end;
		size_t nlen;

		if (strcmp(name, "--") == 0) {
			while (++i < argc)
				argv[left++] = argv[i];
			break;
		}
		if (strncmp(name, "--", 2) != 0) {
			argv[left++] = argv[i];
			continue;
		}
		eq = strchr(name, '=');
		nlen = eq != NULL ? (size_t)(eq - name) : strlen(name);
		if (eq != NULL)
			val = eq + 1;
		else if (i + 1 < argc)
			val = argv[++i];
		else
			die(EXIT_USAGE, "set: %s needs a value", name);
		errno = 0;
		if (nlen == 7 && strncmp(name, "--flags", 7) == 0) {
			set_flags = strtoul(val, &end, 10);
			if (*val == '\0' || *val == '-' || *end != '\0' ||
			    errno != 0 || set_flags > 0xffffffffUL)
				die(EXIT_USAGE,
				    "set: --flags takes 0 to 4294967295");
		} else if (nlen == 5 && strncmp(name, "--ttl", 5) == 0) {
			set_ttl = strtol(val, &end, 10);
			if (*val == '\0' || *end != '\0' || errno != 0 ||
			    set_ttl < -1 || set_ttl > 0x7fffffffL)
				die(EXIT_USAGE, "set: --ttl takes -1 to "
				                "2147483647 seconds");
		} else
			die(EXIT_USAGE, "set: unknown option %.*s", (int)nlen,
			    name);
	}
	return left;
}

/* All of stdin, its length in *lenp. */
static char *
read_stdin(size_t *lenp)
{
	size_t cap = 65536, len = 0;
	char *buf = malloc(cap);
	ssize_t r;

	if (buf == NULL)
		die(EXIT_ANSWER, "out of memory");
	for (;;) {
		if (len == cap) {
			char *more = realloc(buf, cap *= 2);

			if (more == NULL)
				die(EXIT_ANSWER, "out of memory");
			buf = more;
		}
		r = read(STDIN_FILENO, buf + len, cap - len);
		if (r == -1 && errno == EINTR)
			continue;
		if (r == -1)
			die(EXIT_ANSWER, "reading stdin: %s", strerror(errno));
		if (r == 0)
			break;
		len += (size_t)r;
	}
	*lenp = len;
	return buf;
}

/* set [--flags N] [--ttl S] KEY [VALUE]: without VALUE, stdin's bytes. A
 * server that refuses a value may answer before it has all of it: its
 * answer is read even when the rest could not be sent. */
static int
cmd_set(struct client *c, int argc, char **argv)
{
	char req[320], *line, *value, *owned = NULL;
	size_t n, vlen;
	int sent;

	check_key(argv[1]);
	if (argc == 3) {
		value = argv[2];
		vlen = strlen(value);
	} else
		value = owned = read_stdin(&vlen);
	n = (size_t)snprintf(req, sizeof req, "set %s %lu %ld %zu\r\n", argv[1],
	    set_flags, set_ttl, vlen);
	sent = client_try_send(c, req, n) == 0 &&
	       client_try_send(c, value, vlen) == 0 &&
	       client_try_send(c, "\r\n", 2) == 0;
	free(owned);
	if (!sent && errno != EPIPE && errno != ECONNRESET)
		die(EXIT_CONN, "sending to %s: %s", client_name(c),
		    strerror(errno));
	line = client_line(c, &n);
	client_check(line);
	if (strcmp(line, "STORED") != 0)
		die(EXIT_ANSWER, "not stored: %s", line);
	return 0;
}

static int
cmd_delete(struct client *c, int argc, char **argv)
{
	char req[300];

	(void)argc;
	check_key(argv[1]);
	client_send(c, req,
	    (size_t)snprintf(req, sizeof req, "delete %s\r\n", argv[1]));
	expect_line(c, "DELETED", argv[1]);
	return 0;
}

/* A number as the protocol takes it: digits only, within its range. */
static const char *
check_number(const char *s, const char *what)
{
	size_t n = strspn(s, "0123456789");

	if (n == 0 || s[n] != '\0' || n > 20)
		die(EXIT_USAGE, "bad %s '%s': a number", what, s);
	return s;
}

/* incr|decr KEY [N]: the new value on stdout. */
static int
cmd_arith(struct client *c, int argc, char **argv)
{
	char req[320], *line;
	const char *by = argc == 3 ? check_number(argv[2], "amount") : "1";
	size_t n;

	check_key(argv[1]);
	client_send(c, req,
	    (size_t)snprintf(
	        req, sizeof req, "%s %s %s\r\n", argv[0], argv[1], by));
	line = client_line(c, &n);
	client_check(line);
	if (strcmp(line, "NOT_FOUND") == 0)
		die(EXIT_ANSWER, "%s: not found", argv[1]);
	if (line[0] == '\0' || strspn(line, "0123456789") != n)
		die(EXIT_ANSWER, "unexpected reply: %s", line);
	puts(line);
	return 0;
}

static int
cmd_touch(struct client *c, int argc, char **argv)
{
	char req[320];
	const char *ttl = argv[2];

	(void)argc;
	check_key(argv[1]);
	check_number(ttl + (ttl[0] == '-'), "ttl");
	client_send(c, req,
	    (size_t)snprintf(req, sizeof req, "touch %s %s\r\n", argv[1], ttl));
	expect_line(c, "TOUCHED", argv[1]);
	return 0;
}

/* flush [DELAY]: memcached's flush_all. */
static int
cmd_flush(struct client *c, int argc, char **argv)
{
	char req[64];

	client_send(c, req,
	    (size_t)snprintf(req, sizeof req, "flush_all%s%s\r\n",
	        argc == 2 ? " " : "",
	        argc == 2 ? check_number(argv[1], "delay") : ""));
	expect_line(c, "OK", NULL);
	return 0;
}
static int
cmd_verbosity(struct client *c, int argc, char **argv)
{
	const char *level = argv[1], *thread = argc == 3 ? argv[2] : NULL;
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

/* The commands: a name, its arguments' bounds (the name not counted; -1
 * none), what takes its options out before connecting (returning the
 * arguments left), and what runs it. */
static const struct command {
	const char *name;
	int min, max;
	int (*run)(struct client *, int, char **);
	int (*options)(int, char **);
} commands[] = {
    {"stats", 0, -1, cmd_stats, NULL},
    {"threads", 0, 0, cmd_threads, NULL},
    {"watch", 0, -1, cmd_watch, NULL},
    {"top", 0, -1, cmd_top, NULL},
    {"ping", 0, 0, cmd_ping, NULL},
    {"get", 1, -1, cmd_get, NULL},
    {"gets", 1, -1, cmd_get, NULL},
    {"set", 1, 2, cmd_set, set_options},
    {"delete", 1, 1, cmd_delete, NULL},
    {"incr", 1, 2, cmd_arith, NULL},
    {"decr", 1, 2, cmd_arith, NULL},
    {"touch", 2, 2, cmd_touch, NULL},
    {"flush", 0, 1, cmd_flush, NULL},
    {"verbosity", 1, 2, cmd_verbosity, NULL},
    {"hotkeys", 0, 1, cmd_hotkeys, NULL},
};

/* The command of that name; none is a usage error that names it. */
static const struct command *
command_find(const char *name)
{
	for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
		if (strcmp(name, commands[i].name) == 0)
			return &commands[i];
	die(EXIT_USAGE, "unknown command '%s' (see --help)", name);
}

static void
usage_exit(void)
{
	usage(stderr);
	exit(EXIT_USAGE);
}

/* A full disk or a closed pipe is said, not lost in stdio. */
static void
flush_stdout(void)
{
	if (fflush(stdout) == EOF || ferror(stdout))
		die(EXIT_ANSWER, "writing to stdout: %s",
		    errno != 0 ? strerror(errno) : "error");
}

static const char *
check_port(const char *port, const char *from)
{
	if (addr_port(port, &(int){0}) == -1)
		die(EXIT_USAGE, "bad port '%s'%s: 0 to 65535", port, from);
	return port;
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"help", no_argument, NULL, 'h'},
	    {"version", no_argument, NULL, 'V'},
	    {NULL, 0, NULL, 0},
	};
	static char port[16];
	struct client c = {.host = "127.0.0.1", .port = port};
	const struct command *cmd;
	const char *env;
	int ch, code;

	snprintf(port, sizeof port, "%d", ADDR_DEFAULT_PORT);
	if ((env = getenv("THREADLINE_HOST")) != NULL && env[0] != '\0')
		c.host = env;
	if ((env = getenv("THREADLINE_PORT")) != NULL && env[0] != '\0')
		c.port = check_port(env, " in THREADLINE_PORT");
	while (
	    (ch = getopt_long(argc, argv, "+H:p:s:hV", longopts, NULL)) != -1) {
		switch (ch) {
		case 'H':
			c.host = optarg;
			break;
		case 'p':
			c.port = check_port(optarg, "");
			break;
		case 's':
			c.path = optarg;
			break;
		case 'h':
			usage(stdout);
			flush_stdout();
			return 0;
		case 'V':
			printf("threadline %s\n", TL_VERSION);
			flush_stdout();
			return 0;
		default:
			usage_exit();
		}
	}
	argc -= optind;
	argv += optind;
	if (argc == 0)
		usage_exit();
	cmd = command_find(argv[0]);
	if (cmd->options != NULL)
		argc = cmd->options(argc, argv);
	if (argc - 1 < cmd->min || (cmd->max != -1 && argc - 1 > cmd->max))
		usage_exit();
	signal(SIGPIPE, SIG_IGN);
	client_connect(&c);
	code = cmd->run(&c, argc, argv);
	flush_stdout();
	return code;
}
