/* The threadline client's connection to a server: one socket, lines and
 * values read through one buffer, the exits its usage promises, and the
 * rows of "stats threads" that two of its commands show. */
#ifndef TL_CLIENT_H
#define TL_CLIENT_H

#include <stddef.h>
#include <stdio.h>

/* Exit statuses, as the usage says. */
/* 1: the server answered an error or a miss, or stdout failed. */
#define EXIT_ANSWER 1
#define EXIT_USAGE  2
#define EXIT_CONN   3 /* no connection, or it broke */

#define CLIENT_LINE_MAX (64 * 1024)

struct client {
	int fd;
	const char *host;
	const char *port;
	const char *path; /* a Unix socket instead, or NULL */
	char buf[CLIENT_LINE_MAX];
	size_t len;
};

void die(int, const char *, ...)
    __attribute__((noreturn, format(printf, 2, 3)));
void client_connect(struct client *);
void client_send(struct client *, const char *, size_t);
/* All of it, or -1 with errno when the server stopped taking it. */
int client_try_send(struct client *, const char *, size_t);
/* The server as the user named it: the socket's path or the host. */
const char *client_name(const struct client *);
/* The next line without its "\r\n", in a buffer valid until the next
 * call; exits if the server closes first. */
char *client_line(struct client *, size_t *);
/* A value of n bytes to f, and its "\r\n" consumed. */
void client_value(struct client *, size_t, FILE *);
/* A reply that is an error: say it and exit. */
void client_check(const char *);

/* One thread in "stats threads": what it is and its counters, "-" where
 * its role has none. */
struct thread_row {
	char name[16];
	char role[16];
	char tid[16];
	double cpu; /* user + system seconds */
	char conns[24];
	char cmds[24];
	char dropped[24];
	char p99[24]; /* request latency, microseconds, of workers */
	char state;   /* the kernel's R, S, D...; '-' if not told */
};

#define CLIENT_THREADS_MAX 256

/* Ask "stats threads"; rows in the server's order, their number returned;
 * the answering thread's name into answered. */
int client_threads(struct client *, struct thread_row *, char *, size_t);

#endif
