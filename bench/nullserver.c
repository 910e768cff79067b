/* A null responder: frames memcached text requests and answers them
 * validly, storing nothing. One read and one write per ready event, no
 * store, no log, no stats: the floor a server of that design cannot
 * beat, for bench/openloop-vs. Built with -DNULL_URING (and -luring) its
 * workers run on io_uring instead of libevent: each loop turn submits
 * every connection's receive and send and waits in one io_uring_enter,
 * which says what a server would gain by leaving epoll. */
#define _POSIX_C_SOURCE 200809L

#include <sys/socket.h>

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <event2/event.h>
#ifdef NULL_URING
#include <liburing.h>
#endif

#define NULL_READ_MIN (16 * 1024)
#define BUF_LIT(b, s) buf_add((b), (s), sizeof(s) - 1)

struct null_worker {
	pthread_t tid;
	struct event_base *base;
	struct event *notify;
	int pipe[2];
#ifdef NULL_URING
	struct io_uring ring;
	int newfd; /* the pipe's read lands here */
#endif
};

struct null_buf {
	char *p;
	size_t off;
	size_t len;
	size_t cap;
};

struct null_conn {
	int fd;
	struct event *rev;
	struct event *wev;
	struct null_buf in;
	struct null_buf out;
};

static struct {
	int threads;
	long vsize;
	char *value;
	char get_tail[32]; /* " 0 BYTES\r\n" after a VALUE's key */
	char gets_tail[32];
	size_t nget_tail;
	size_t ngets_tail;
	struct null_worker *workers;
} nullsrv = {
    .threads = 2,
    .vsize = 100,
};

static void
null_fatal(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("nullserver: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	exit(1);
}

/* Room for n more bytes after the data, moving the data to the front
 * first. */
static void
buf_reserve(struct null_buf *b, size_t n)
{
	if (b->off > 0) {
		memmove(b->p, b->p + b->off, b->len);
		b->off = 0;
	}
	if (b->cap - b->len >= n)
		return;
	while (b->cap - b->len < n)
		b->cap = b->cap ? 2 * b->cap : NULL_READ_MIN;
	if ((b->p = realloc(b->p, b->cap)) == NULL)
		null_fatal("out of memory");
}

static void
buf_add(struct null_buf *b, const void *d, size_t n)
{
	if (b->cap - b->off - b->len < n)
		buf_reserve(b, n);
	memcpy(b->p + b->off + b->len, d, n);
	b->len += n;
}

static void
conn_close(struct null_conn *c)
{
	if (c->rev != NULL)
		event_free(c->rev);
	if (c->wev != NULL)
		event_free(c->wev);
	close(c->fd);
	free(c->in.p);
	free(c->out.p);
	free(c);
}

/* The replies to a get or gets of the keys after the command word,
 * without printf: a real server would not format either. */
static void
reply_get(struct null_conn *c, const char *p, const char *end, int cas)
{
	const char *k;

	for (;;) {
		while (p < end && *p == ' ')
			p++;
		if (p == end)
			break;
		for (k = p; p < end && *p != ' '; p++)
			;
		if (p - k > 250)
			break;
		BUF_LIT(&c->out, "VALUE ");
		buf_add(&c->out, k, (size_t)(p - k));
		if (cas)
			buf_add(&c->out, nullsrv.gets_tail, nullsrv.ngets_tail);
		else
			buf_add(&c->out, nullsrv.get_tail, nullsrv.nget_tail);
		buf_add(&c->out, nullsrv.value, (size_t)nullsrv.vsize + 2);
	}
	BUF_LIT(&c->out, "END\r\n");
}

/* The n-th space-separated word of the line, as a number; -1 if none. */
static long
line_word(const char *p, const char *end, int n)
{
	char num[24];
	const char *w;
	size_t len;

	for (;;) {
		while (p < end && *p == ' ')
			p++;
		for (w = p; p < end && *p != ' '; p++)
			;
		if (w == p)
			return -1;
		if (n-- == 0)
			break;
	}
	len = (size_t)(p - w);
	if (len >= sizeof num)
		return -1;
	memcpy(num, w, len);
	num[len] = '\0';
	return strtol(num, NULL, 10);
}

/* Answers every whole request in the input; 0 when the rest is a part,
 * -1 on a line too long to be a request. */
static int
conn_process(struct null_conn *c)
{
	char *p, *nl, *end;
	size_t linelen;
	long bytes;
	int noreply;

	while (c->in.len > 0) {
		p = c->in.p + c->in.off;
		if ((nl = memchr(p, '\n', c->in.len)) == NULL)
			return c->in.len > 8192 ? -1 : 0;
		linelen = (size_t)(nl - p) + 1;
		end = nl > p && nl[-1] == '\r' ? nl - 1 : nl;
		noreply = end - p > 8 && memcmp(end - 8, " noreply", 8) == 0;
		if (strncmp(p, "get ", 4) == 0) {
			reply_get(c, p + 4, end, 0);
		} else if (strncmp(p, "gets ", 5) == 0) {
			reply_get(c, p + 5, end, 1);
		} else if (strncmp(p, "set ", 4) == 0 ||
		           strncmp(p, "add ", 4) == 0 ||
		           strncmp(p, "replace ", 8) == 0 ||
		           strncmp(p, "append ", 7) == 0 ||
		           strncmp(p, "prepend ", 8) == 0 ||
		           strncmp(p, "cas ", 4) == 0) {
			/* The data block follows: wait until it is all here. */
			if ((bytes = line_word(p, end, 4)) < 0) {
				BUF_LIT(&c->out,
				    "CLIENT_ERROR bad command line format\r\n");
			} else {
				if (c->in.len < linelen + (size_t)bytes + 2)
					return 0;
				linelen += (size_t)bytes + 2;
				if (!noreply)
					BUF_LIT(&c->out, "STORED\r\n");
			}
		} else if (strncmp(p, "delete ", 7) == 0) {
			if (!noreply)
				BUF_LIT(&c->out, "DELETED\r\n");
		} else if (strncmp(p, "version", 7) == 0) {
			BUF_LIT(&c->out, "VERSION null\r\n");
		} else {
			BUF_LIT(&c->out, "ERROR\r\n");
		}
		c->in.off += linelen;
		c->in.len -= linelen;
	}
	return 0;
}

#ifndef NULL_URING
/* One write of what is pending; the rest when the socket drains, and
 * no reading meanwhile. */
static void
conn_flush(struct null_conn *c)
{
	ssize_t n;

	if (c->out.len == 0)
		return;
	n = write(c->fd, c->out.p + c->out.off, c->out.len);
	if (n > 0) {
		c->out.off += (size_t)n;
		c->out.len -= (size_t)n;
	} else if (n < 0 && errno != EAGAIN && errno != EINTR) {
		c->out.len = 0;
		return;
	}
	if (c->out.len == 0) {
		c->out.off = 0;
		return;
	}
	event_del(c->rev);
	event_add(c->wev, NULL);
}

static void
conn_readcb(evutil_socket_t fd, short what, void *arg)
{
	struct null_conn *c = arg;
	ssize_t n;

	(void)what;
	buf_reserve(&c->in, NULL_READ_MIN);
	n = read(fd, c->in.p + c->in.len, c->in.cap - c->in.len);
	if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
		conn_close(c);
		return;
	}
	if (n < 0)
		return;
	c->in.len += (size_t)n;
	if (conn_process(c) == -1) {
		conn_close(c);
		return;
	}
	conn_flush(c);
}

static void
conn_writecb(evutil_socket_t fd, short what, void *arg)
{
	struct null_conn *c = arg;

	(void)fd;
	(void)what;
	conn_flush(c);
	if (c->out.len == 0)
		event_add(c->rev, NULL);
}

/* A new connection's descriptor from the accept loop. */
static void
worker_notifycb(evutil_socket_t fd, short what, void *arg)
{
	struct null_worker *w = arg;
	struct null_conn *c;
	int cfd;

	(void)what;
	if (read(fd, &cfd, sizeof cfd) != sizeof cfd)
		return;
	if ((c = calloc(1, sizeof *c)) == NULL)
		null_fatal("out of memory");
	c->fd = cfd;
	c->rev = event_new(w->base, cfd, EV_READ | EV_PERSIST, conn_readcb, c);
	c->wev = event_new(w->base, cfd, EV_WRITE, conn_writecb, c);
	if (c->rev == NULL || c->wev == NULL)
		null_fatal("out of memory");
	event_add(c->rev, NULL);
}

static void *
worker_main(void *arg)
{
	struct null_worker *w = arg;

	event_base_dispatch(w->base);
	return NULL;
}
#else
/* What a completion is for: the low bits of its user data. */
enum { URING_NEWFD, URING_RECV, URING_SEND };
#define URING_DEPTH 4096

static struct io_uring_sqe *
uring_sqe(struct io_uring *ring)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(ring);

	if (sqe == NULL) {
		io_uring_submit(ring);
		if ((sqe = io_uring_get_sqe(ring)) == NULL)
			null_fatal("io_uring: no submission entry");
	}
	return sqe;
}

static void
uring_recv(struct io_uring *ring, struct null_conn *c)
{
	struct io_uring_sqe *sqe = uring_sqe(ring);

	buf_reserve(&c->in, NULL_READ_MIN);
	io_uring_prep_recv(
	    sqe, c->fd, c->in.p + c->in.len, c->in.cap - c->in.len, 0);
	io_uring_sqe_set_data64(sqe, (uintptr_t)c | URING_RECV);
}

/* As the libevent loop: no reading while replies wait for the socket, so
 * the output does not move under a send in flight. */
static void
uring_send(struct io_uring *ring, struct null_conn *c)
{
	struct io_uring_sqe *sqe = uring_sqe(ring);

	io_uring_prep_send(sqe, c->fd, c->out.p + c->out.off, c->out.len, 0);
	io_uring_sqe_set_data64(sqe, (uintptr_t)c | URING_SEND);
}

static void
uring_newfd(struct null_worker *w)
{
	struct io_uring_sqe *sqe = uring_sqe(&w->ring);

	io_uring_prep_read(sqe, w->pipe[0], &w->newfd, sizeof w->newfd, 0);
	io_uring_sqe_set_data64(sqe, URING_NEWFD);
}

static void
uring_done(struct null_worker *w, uint64_t data, int res)
{
	struct null_conn *c = (struct null_conn *)(uintptr_t)(data & ~3ull);

	switch (data & 3) {
	case URING_NEWFD:
		if (res == sizeof w->newfd) {
			if ((c = calloc(1, sizeof *c)) == NULL)
				null_fatal("out of memory");
			c->fd = w->newfd;
			uring_recv(&w->ring, c);
		}
		uring_newfd(w);
		break;
	case URING_RECV:
		if (res <= 0) {
			conn_close(c);
			break;
		}
		c->in.len += (size_t)res;
		if (conn_process(c) == -1) {
			conn_close(c);
			break;
		}
		if (c->out.len > 0)
			uring_send(&w->ring, c);
		else
			uring_recv(&w->ring, c);
		break;
	case URING_SEND:
		if (res < 0) {
			conn_close(c);
			break;
		}
		c->out.off += (size_t)res;
		c->out.len -= (size_t)res;
		if (c->out.len > 0) {
			uring_send(&w->ring, c);
			break;
		}
		c->out.off = 0;
		uring_recv(&w->ring, c);
		break;
	}
}

static void *
worker_main(void *arg)
{
	struct null_worker *w = arg;
	struct io_uring_cqe *cqe;
	unsigned head, n;

	uring_newfd(w);
	for (;;) {
		if (io_uring_submit_and_wait(&w->ring, 1) < 0)
			continue;
		n = 0;
		io_uring_for_each_cqe(&w->ring, head, cqe)
		{
			uring_done(w, io_uring_cqe_get_data64(cqe), cqe->res);
			n++;
		}
		io_uring_cq_advance(&w->ring, n);
	}
	return NULL;
}
#endif

static void
null_usage(void)
{
	fprintf(stderr, "usage: nullserver -p PORT [-l ADDR] [-t threads] "
	                "[-v value-bytes]\n");
	exit(2);
}

/* Listens, starts the workers, and accepts: each connection goes to the
 * next worker in turn, as memcached deals them. */
int
main(int argc, char **argv)
{
	struct sockaddr_in sa;
	const char *addr = "127.0.0.1";
	int ch, fd, cfd, one = 1, port = -1, next = 0, i;

	while ((ch = getopt(argc, argv, "p:l:t:v:")) != -1) {
		switch (ch) {
		case 'p':
			port = atoi(optarg);
			break;
		case 'l':
			addr = optarg;
			break;
		case 't':
			nullsrv.threads = atoi(optarg);
			break;
		case 'v':
			nullsrv.vsize = atol(optarg);
			break;
		default:
			null_usage();
		}
	}
	if (port < 0 || port > 65535 || nullsrv.threads < 1 ||
	    nullsrv.vsize < 0 || optind != argc)
		null_usage();
	signal(SIGPIPE, SIG_IGN);
	if ((nullsrv.value = malloc((size_t)nullsrv.vsize + 2)) == NULL)
		null_fatal("out of memory");
	memset(nullsrv.value, 'v', (size_t)nullsrv.vsize);
	memcpy(nullsrv.value + nullsrv.vsize, "\r\n", 2);
	nullsrv.nget_tail = (size_t)snprintf(nullsrv.get_tail,
	    sizeof nullsrv.get_tail, " 0 %ld\r\n", nullsrv.vsize);
	nullsrv.ngets_tail = (size_t)snprintf(nullsrv.gets_tail,
	    sizeof nullsrv.gets_tail, " 0 %ld 1\r\n", nullsrv.vsize);

	nullsrv.workers =
	    calloc((size_t)nullsrv.threads, sizeof *nullsrv.workers);
	if (nullsrv.workers == NULL)
		null_fatal("out of memory");
	for (i = 0; i < nullsrv.threads; i++) {
		struct null_worker *w = &nullsrv.workers[i];

		if (pipe(w->pipe) == -1)
			null_fatal("worker set-up failed");
#ifdef NULL_URING
		if ((errno = -io_uring_queue_init(URING_DEPTH, &w->ring, 0)) !=
		    0)
			null_fatal("io_uring_queue_init: %s", strerror(errno));
#else
		if ((w->base = event_base_new()) == NULL)
			null_fatal("worker set-up failed");
		w->notify = event_new(w->base, w->pipe[0], EV_READ | EV_PERSIST,
		    worker_notifycb, w);
		event_add(w->notify, NULL);
#endif
		if (pthread_create(&w->tid, NULL, worker_main, w) != 0)
			null_fatal("pthread_create failed");
	}

	memset(&sa, 0, sizeof sa);
	sa.sin_family = AF_INET;
	sa.sin_port = htons((unsigned short)port);
	if (inet_pton(AF_INET, addr, &sa.sin_addr) != 1)
		null_fatal("%s: not an IPv4 address", addr);
	if ((fd = socket(AF_INET, SOCK_STREAM, 0)) == -1 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) == -1 ||
	    bind(fd, (struct sockaddr *)&sa, sizeof sa) == -1 ||
	    listen(fd, 1024) == -1)
		null_fatal("listen on %s:%d: %s", addr, port, strerror(errno));
	for (;;) {
		if ((cfd = accept(fd, NULL, NULL)) == -1) {
			struct timespec ts = {0, 10000000};

			/* Out of descriptors: wait for some to close. */
			if (errno == EMFILE || errno == ENFILE)
				nanosleep(&ts, NULL);
			if (errno == EINTR || errno == ECONNABORTED ||
			    errno == EMFILE || errno == ENFILE)
				continue;
			null_fatal("accept: %s", strerror(errno));
		}
		setsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
		if (fcntl(cfd, F_SETFL, fcntl(cfd, F_GETFL) | O_NONBLOCK) == -1)
			null_fatal("fcntl: %s", strerror(errno));
		if (write(nullsrv.workers[next].pipe[1], &cfd, sizeof cfd) !=
		    sizeof cfd)
			null_fatal("worker pipe: %s", strerror(errno));
		next = (next + 1) % nullsrv.threads;
	}
}
