/* threadline's connection to the server: lines and stats rows. */
#include <errno.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "client.h"

void
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

/* A Unix socket at c->path. */
static void
client_connect_unix(struct client *c)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};

	if (strlen(c->path) >= sizeof sun.sun_path)
		die(EXIT_USAGE, "socket path too long: %s", c->path);
	strcpy(sun.sun_path, c->path);
	if ((c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1 ||
	    connect(c->fd, (struct sockaddr *)&sun, sizeof sun) == -1)
		die(EXIT_CONN, "cannot connect to %s: %s", c->path,
		    strerror(errno));
}

void
client_connect(struct client *c)
{
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res, *ai;
	int error, saved = 0;

	if (c->path != NULL) {
		client_connect_unix(c);
		return;
	}
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

/* All of s, or -1 with errno when the server stopped taking it. */
int
client_try_send(struct client *c, const char *s, size_t n)
{
	while (n > 0) {
		ssize_t w = write(c->fd, s, n);

		if (w == -1 && errno == EINTR)
			continue;
		if (w == -1)
			return -1;
		s += w;
		n -= (size_t)w;
	}
	return 0;
}

void
client_send(struct client *c, const char *s, size_t n)
{
	if (client_try_send(c, s, n) == -1)
		die(EXIT_CONN, "sending to %s: %s", client_name(c),
		    strerror(errno));
}

/* The server as the user named it: the socket's path or the host. */
const char *
client_name(const struct client *c)
{
	return c->path != NULL ? c->path : c->host;
}

/* The next line without its "\r\n", in a buffer valid until the next
 * call; exits if the server closes first. */
char *
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
			die(EXIT_CONN, "connection to %s closed%s%s",
			    client_name(c), n ? ": " : "",
			    n ? strerror(errno) : "");
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
void
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
				    client_name(c));
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
void
client_check(const char *line)
{
	if (strncmp(line, "ERROR", 5) == 0 ||
	    strncmp(line, "CLIENT_ERROR", 12) == 0 ||
	    strncmp(line, "SERVER_ERROR", 12) == 0)
		die(EXIT_ANSWER, "server says: %s", line);
}

/* The row for name, added if new. */
static struct thread_row *
thread_row(struct thread_row *rows, int *n, const char *name, size_t len)
{
	for (int i = 0; i < *n; i++)
		if (strlen(rows[i].name) == len &&
		    memcmp(rows[i].name, name, len) == 0)
			return &rows[i];
	if (*n == CLIENT_THREADS_MAX || len >= sizeof rows->name)
		return NULL;
	memset(&rows[*n], 0, sizeof rows[*n]);
	memcpy(rows[*n].name, name, len);
	strcpy(rows[*n].conns, "-");
	strcpy(rows[*n].cmds, "-");
	strcpy(rows[*n].dropped, "-");
	strcpy(rows[*n].p99, "-");
	rows[*n].state = '-';
	return &rows[(*n)++];
}

int
client_threads(
    struct client *c, struct thread_row *rows, char *answered, size_t alen)
{
	int nrows = 0;
	size_t n;
	char *line, *colon, *sp;

	answered[0] = '\0';
	client_send(c, "stats threads\r\n", 15);
	while (strcmp(line = client_line(c, &n), "END") != 0) {
		struct thread_row *r;

		client_check(line);
		if (strncmp(line, "STAT thread ", 12) == 0) {
			snprintf(answered, alen, "%s", line + 12);
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
		else if (strcmp(colon, "state") == 0)
			r->state = sp[0] != '\0' ? sp[0] : '-';
		else if (strcmp(colon, "latency_p99_us") == 0)
			snprintf(r->p99, sizeof r->p99, "%s", sp);
	}
	return nrows;
}
