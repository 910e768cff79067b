/* An open-loop load generator for memcached-protocol servers. */
#define _POSIX_C_SOURCE 200809L

#include <sys/socket.h>
#include <sys/un.h>

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>

/* 32 sub-buckets per power of two: at most 1/32 relative error. */
#define HIST_SUB_BITS 5
#define HIST_SUB      (1 << HIST_SUB_BITS)
#define HIST_BUCKETS  (2 * HIST_SUB + (63 - HIST_SUB_BITS) * HIST_SUB)

#define NS_PER_S 1000000000ULL

enum openloop_kind { OPENLOOP_GET, OPENLOOP_SET };

/* A request sent and not yet answered, in send order. */
struct openloop_req {
	uint64_t sched;
	int kind;
	int values;
};

struct openloop_thread;

struct openloop_conn {
	struct openloop_thread *th;
	int fd;
	struct event *rev;
	struct event *wev;
	struct event *timer;
	struct evbuffer *in;
	struct evbuffer *out;
	uint64_t next;
	uint64_t rng;
	int sending;

	struct openloop_req *q;
	size_t qcap;
	size_t qhead;
	size_t qlen;
};

struct openloop_thread {
	pthread_t tid;
	struct event_base *base;
	struct event *check;
	struct openloop_conn *conns;
	int nconns;
	uint64_t hist[HIST_BUCKETS];
	uint64_t lag[HIST_BUCKETS];
	uint64_t max;
	uint64_t requests;
	uint64_t errors;
	uint64_t in_window;
	uint64_t sent;
};

/* The settings, read-only once the threads start. */
static struct {
	const char *server;
	int conns;
	int threads;
	double rate;
	double duration;
	double warmup;
	double drain;
	double set_ratio;
	long keys;
	long vsize;
	int multi;
	int pipeline;
	int outstanding;
	int binary;
	double zipf;
	int uniform;
	uint64_t seed;

	double *cdf; /* -z: the popularity of keys 0..k-1, cumulated */

	uint64_t start;
	uint64_t measure;
	uint64_t end;
	uint64_t deadline;
	char *value;
} openloop = {
    .conns = 64,
    .threads = 2,
    .duration = 10,
    .warmup = 2,
    .drain = 5,
    .set_ratio = 0.1,
    .keys = 10000,
    .vsize = 100,
    .multi = 1,
    .pipeline = 1,
    .seed = 1,
};

/* Start-up failures and a broken stream end the run: no figure is better. */
static void
openloop_fatal(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("openloop: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	exit(1);
}

/* Nanoseconds on the monotonic clock, not libevent's cached time. */
static uint64_t
openloop_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * NS_PER_S + (uint64_t)ts.tv_nsec;
}

/* xorshift64*: fast, and each connection has its own stream. */
static uint64_t
openloop_rand(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 2685821657736338717ULL;
}

/* Uniform in (0, 1]: never 0, so its log is finite. */
static double
openloop_unit(uint64_t *s)
{
	return ((openloop_rand(s) >> 11) + 1) * (1.0 / 9007199254740992.0);
}

/* The bucket of v: exact below 64, then 32 per power of two. */
static int
hist_index(uint64_t v)
{
	int msb, shift;

	if (v < 2 * HIST_SUB)
		return (int)v;
	msb = 63 - __builtin_clzll(v);
	shift = msb - HIST_SUB_BITS;
	return 2 * HIST_SUB + (shift - 1) * HIST_SUB +
	       (int)((v >> shift) - HIST_SUB);
}

/* The highest value that falls in bucket i, as HdrHistogram reports. */
static uint64_t
hist_top(int i)
{
	int shift;
	uint64_t m;

	if (i < 2 * HIST_SUB)
		return (uint64_t)i;
	shift = (i - 2 * HIST_SUB) / HIST_SUB + 1;
	m = (uint64_t)((i - 2 * HIST_SUB) % HIST_SUB + HIST_SUB);
	return ((m + 1) << shift) - 1;
}

/* A bucket's top, but never above the largest value recorded. */
static uint64_t
hist_percentile(const uint64_t *h, uint64_t total, double p, uint64_t max)
{
	uint64_t want, seen = 0;
	int i;

	if (total == 0)
		return 0;
	want = (uint64_t)ceil(p * (double)total);
	if (want == 0)
		want = 1;
	for (i = 0; i < HIST_BUCKETS; i++) {
		seen += h[i];
		if (seen >= want)
			return hist_top(i) < max ? hist_top(i) : max;
	}
	return max;
}

/* A slot at the tail of the queue of unanswered requests, grown by doubling. */
static struct openloop_req *
conn_push(struct openloop_conn *c)
{
	struct openloop_req *nq;
	size_t i, ncap;

	if (c->qlen == c->qcap) {
		ncap = c->qcap ? 2 * c->qcap : 64;
		if ((nq = calloc(ncap, sizeof *nq)) == NULL)
			openloop_fatal("out of memory");
		for (i = 0; i < c->qlen; i++)
			nq[i] = c->q[(c->qhead + i) % c->qcap];
		free(c->q);
		c->q = nq;
		c->qcap = ncap;
		c->qhead = 0;
	}
	return &c->q[(c->qhead + c->qlen++) % c->qcap];
}

/* One reply is complete: count it if its request was in the window. */
static void
conn_done(struct openloop_conn *c, int error)
{
	struct openloop_thread *th = c->th;
	struct openloop_req *r = &c->q[c->qhead];
	uint64_t now, lat;

	c->qhead = (c->qhead + 1) % c->qcap;
	c->qlen--;
	if (r->sched < openloop.measure || r->sched >= openloop.end)
		return;
	now = openloop_now();
	if (now < openloop.end)
		th->in_window++;
	if (error) {
		th->errors++;
		return;
	}
	lat = now > r->sched ? now - r->sched : 0;
	th->hist[hist_index(lat)]++;
	if (lat > th->max)
		th->max = lat;
	th->requests++;
}

/* A 16-bit and a 32-bit number in network order. */
static unsigned
be16(const unsigned char *p)
{
	return (unsigned)p[0] << 8 | p[1];
}

static uint32_t
be32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | p[3];
}

/* -b: as many whole binary replies as the input holds. A get's must be
 * its value of the size asked, a set's a success; -1 on a broken stream. */
static int
conn_parse_binary(struct openloop_conn *c)
{
	unsigned char h[24];
	struct openloop_req *r;
	size_t body, value;
	int bad;

	while (c->qlen > 0) {
		r = &c->q[c->qhead];
		if (evbuffer_copyout(c->in, h, sizeof h) < (ev_ssize_t)sizeof h)
			return 0;
		if (h[0] != 0x81)
			return -1;
		body = be32(h + 8);
		if (evbuffer_get_length(c->in) < sizeof h + body)
			return 0;
		evbuffer_drain(c->in, sizeof h + body);
		value = body - h[4] - be16(h + 2);
		bad = be16(h + 6) != 0 ||
		      h[1] != (r->kind == OPENLOOP_SET ? 0x01 : 0x00) ||
		      (r->kind == OPENLOOP_GET &&
		          value != (size_t)openloop.vsize);
		conn_done(c, bad);
	}
	return evbuffer_get_length(c->in) > 0 ? -1 : 0;
}

/* Parses as many whole replies as the input holds; -1 on a broken stream. */
static int
conn_parse(struct openloop_conn *c)
{
	struct evbuffer_ptr eol;
	struct openloop_req *r;
	size_t len, need;
	char line[512], key[256];
	unsigned flags;
	long bytes;

	while (c->qlen > 0) {
		r = &c->q[c->qhead];
		eol = evbuffer_search_eol(
		    c->in, NULL, &len, EVBUFFER_EOL_CRLF_STRICT);
		if (eol.pos < 0) {
			if (evbuffer_get_length(c->in) > sizeof line)
				return -1;
			return 0;
		}
		if ((size_t)eol.pos >= sizeof line)
			return -1;
		evbuffer_copyout(c->in, line, (size_t)eol.pos);
		line[eol.pos] = '\0';
		if (r->kind == OPENLOOP_SET) {
			evbuffer_drain(c->in, (size_t)eol.pos + len);
			conn_done(c, strcmp(line, "STORED") != 0);
			continue;
		}
		if (strcmp(line, "END") == 0) {
			evbuffer_drain(c->in, (size_t)eol.pos + len);
			conn_done(c, r->values > openloop.multi);
			continue;
		}
		if (sscanf(line, "VALUE %255s %u %ld", key, &flags, &bytes) !=
		        3 ||
		    bytes < 0) {
			/* An error line ends this request; the stream goes on.
			 */
			evbuffer_drain(c->in, (size_t)eol.pos + len);
			conn_done(c, 1);
			continue;
		}
		need = (size_t)eol.pos + len + (size_t)bytes + 2;
		if (evbuffer_get_length(c->in) < need)
			return 0;
		evbuffer_drain(c->in, (size_t)eol.pos + len + (size_t)bytes);
		evbuffer_copyout(c->in, line, 2);
		evbuffer_drain(c->in, 2);
		if (line[0] != '\r' || line[1] != '\n')
			return -1;
		if (bytes != openloop.vsize || ++r->values > openloop.multi)
			r->values = openloop.multi + 1;
	}
	return evbuffer_get_length(c->in) > 0 ? -1 : 0;
}

/* Writes what the socket takes; the rest waits for it to be writable. */
static void
conn_flush(struct openloop_conn *c)
{
	if (evbuffer_get_length(c->out) == 0)
		return;
	if (evbuffer_write(c->out, c->fd) < 0 && errno != EAGAIN &&
	    errno != EINTR)
		openloop_fatal("write: %s", strerror(errno));
	if (evbuffer_get_length(c->out) > 0)
		event_add(c->wev, NULL);
}

static void conn_topup(struct openloop_conn *, uint64_t);

/* Replies arrived: read them and match them to their requests. */
static void
conn_readcb(evutil_socket_t fd, short what, void *arg)
{
	struct openloop_conn *c = arg;
	int n;

	(void)what;
	n = evbuffer_read(c->in, fd, 65536);
	if (n == 0)
		openloop_fatal("the server closed a connection");
	if (n < 0) {
		if (errno == EAGAIN || errno == EINTR)
			return;
		openloop_fatal("read: %s", strerror(errno));
	}
	if ((openloop.binary ? conn_parse_binary(c) : conn_parse(c)) == -1)
		openloop_fatal("a reply that is not memcached's %s protocol",
		    openloop.binary ? "binary" : "text");
	if (openloop.outstanding > 0 && c->sending)
		conn_topup(c, openloop_now());
}

/* The socket drained: send what was left over. */
static void
conn_writecb(evutil_socket_t fd, short what, void *arg)
{
	struct openloop_conn *c = arg;

	(void)fd;
	(void)what;
	conn_flush(c);
}

/* The gap to the next send (of -P requests): exponential (Poisson
 * arrivals) or fixed. */
static uint64_t
conn_gap(struct openloop_conn *c)
{
	double per = openloop.rate / openloop.conns / openloop.pipeline;

	if (openloop.uniform)
		return (uint64_t)(NS_PER_S / per);
	return (uint64_t)(-log(openloop_unit(&c->rng)) * NS_PER_S / per);
}

/* The next key: uniform, or of Zipf popularity by bisecting the CDF. */
static long
conn_key(struct openloop_conn *c)
{
	double u;
	long lo = 0, hi = openloop.keys - 1, mid;

	if (openloop.cdf == NULL)
		return (long)(openloop_rand(&c->rng) % (uint64_t)openloop.keys);
	u = openloop_unit(&c->rng);
	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (openloop.cdf[mid] < u)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* A binary get or set of key:k, as memcached's binary protocol frames
 * it: no extras for a get, flags and expiry (0 and 0) for a set. */
static void
conn_binary(struct openloop_conn *c, int kind, long k)
{
	unsigned char h[32] = {0x80}; /* the header, then the extras: 0, 0 */
	char key[32];
	size_t nkey, extras = kind == OPENLOOP_SET ? 8 : 0;
	size_t value = kind == OPENLOOP_SET ? (size_t)openloop.vsize : 0;
	uint32_t body;

	nkey = (size_t)snprintf(key, sizeof key, "key:%08ld", k);
	body = (uint32_t)(extras + nkey + value);
	h[1] = kind == OPENLOOP_SET ? 0x01 : 0x00;
	h[3] = (unsigned char)nkey;
	h[4] = (unsigned char)extras;
	h[8] = (unsigned char)(body >> 24);
	h[9] = (unsigned char)(body >> 16);
	h[10] = (unsigned char)(body >> 8);
	h[11] = (unsigned char)body;
	evbuffer_add(c->out, h, 24 + extras);
	evbuffer_add(c->out, key, nkey);
	evbuffer_add(c->out, openloop.value, value);
}

/* Queues the request scheduled at c->next: a set or a get of -g keys. */
static void
conn_request(struct openloop_conn *c, uint64_t now)
{
	struct openloop_thread *th = c->th;
	struct openloop_req *r;
	long k;
	int i;

	r = conn_push(c);
	th->sent++;
	r->sched = c->next;
	r->values = 0;
	if (c->next >= openloop.measure && now > c->next)
		th->lag[hist_index(now - c->next)]++;
	else if (c->next >= openloop.measure)
		th->lag[0]++;
	k = conn_key(c);
	r->kind = openloop_unit(&c->rng) <= openloop.set_ratio ? OPENLOOP_SET
	                                                       : OPENLOOP_GET;
	if (openloop.binary) {
		conn_binary(c, r->kind, k);
		return;
	}
	if (r->kind == OPENLOOP_SET) {
		evbuffer_add_printf(
		    c->out, "set key:%08ld 0 0 %ld\r\n", k, openloop.vsize);
		evbuffer_add(
		    c->out, openloop.value, (size_t)openloop.vsize + 2);
		return;
	}
	evbuffer_add_printf(c->out, "get key:%08ld", k);
	for (i = 1; i < openloop.multi; i++) {
		k = conn_key(c);
		evbuffer_add_printf(c->out, " key:%08ld", k);
	}
	evbuffer_add(c->out, "\r\n", 2);
}

/* -O: a closed loop, to find the saturation. Keeps the connection's
 * outstanding requests at most -O, topped up as replies come in, with
 * no schedule: a timer per send would make the client the bottleneck. */
static void
conn_topup(struct openloop_conn *c, uint64_t now)
{
	int i;

	if (now >= openloop.end) {
		c->sending = 0;
		return;
	}
	while (c->qlen + (size_t)openloop.pipeline <=
	       (size_t)openloop.outstanding) {
		c->next = now;
		for (i = 0; i < openloop.pipeline; i++)
			conn_request(c, now);
	}
	conn_flush(c);
}

/* Sends every request whose time has come, then sleeps until the next. */
static void
conn_timercb(evutil_socket_t fd, short what, void *arg)
{
	struct openloop_conn *c = arg;
	struct timeval tv;
	uint64_t now, wait;
	int i;

	(void)fd;
	(void)what;
	now = openloop_now();
	if (openloop.outstanding > 0) {
		conn_topup(c, now);
		return;
	}
	while (c->next <= now && c->next < openloop.end) {
		for (i = 0; i < openloop.pipeline; i++)
			conn_request(c, now);
		c->next += conn_gap(c);
	}
	conn_flush(c);
	if (c->next >= openloop.end) {
		c->sending = 0;
		return;
	}
	wait = c->next - now;
	tv.tv_sec = (time_t)(wait / NS_PER_S);
	tv.tv_usec = (suseconds_t)(wait % NS_PER_S / 1000);
	evtimer_add(c->timer, &tv);
}

/* Stops the loop once every reply is in, or at the drain deadline. */
static void
thread_checkcb(evutil_socket_t fd, short what, void *arg)
{
	struct openloop_thread *th = arg;
	uint64_t now = openloop_now();
	int i, busy = 0;

	(void)fd;
	(void)what;
	for (i = 0; i < th->nconns; i++)
		if (th->conns[i].sending || th->conns[i].qlen > 0)
			busy = 1;
	if (busy && now < openloop.deadline)
		return;
	/* Measured requests still unanswered count as errors. */
	for (i = 0; i < th->nconns; i++) {
		struct openloop_conn *c = &th->conns[i];
		size_t j;

		for (j = 0; j < c->qlen; j++) {
			uint64_t s = c->q[(c->qhead + j) % c->qcap].sched;

			if (s >= openloop.measure && s < openloop.end)
				th->errors++;
		}
	}
	event_base_loopbreak(th->base);
}

/* A client thread: its connections' first timers, then its loop. */
static void *
thread_main(void *arg)
{
	struct openloop_thread *th = arg;
	struct timeval tv = {0, 100000};
	int i;

	th->check = event_new(th->base, -1, EV_PERSIST, thread_checkcb, th);
	event_add(th->check, &tv);
	for (i = 0; i < th->nconns; i++) {
		struct openloop_conn *c = &th->conns[i];
		uint64_t now = openloop_now(), wait;

		wait = c->next > now ? c->next - now : 0;
		tv.tv_sec = (time_t)(wait / NS_PER_S);
		tv.tv_usec = (suseconds_t)(wait % NS_PER_S / 1000);
		evtimer_add(c->timer, &tv);
	}
	event_base_dispatch(th->base);
	return NULL;
}

/* One blocking connect to -s, then non-blocking for the loop. */
static int
openloop_connect(void)
{
	struct addrinfo hints, *res, *ai;
	struct sockaddr_un sa;
	char host[256], *port;
	int fd = -1, one = 1, e;

	if (strchr(openloop.server, '/') != NULL) {
		memset(&sa, 0, sizeof sa);
		sa.sun_family = AF_UNIX;
		if (strlen(openloop.server) >= sizeof sa.sun_path)
			openloop_fatal("socket path too long");
		strcpy(sa.sun_path, openloop.server);
		if ((fd = socket(AF_UNIX, SOCK_STREAM, 0)) == -1 ||
		    connect(fd, (struct sockaddr *)&sa, sizeof sa) == -1)
			openloop_fatal(
			    "%s: %s", openloop.server, strerror(errno));
	} else {
		if (strlen(openloop.server) >= sizeof host)
			openloop_fatal("server name too long");
		strcpy(host, openloop.server);
		if ((port = strrchr(host, ':')) == NULL)
			openloop_fatal("-s wants HOST:PORT or a socket path");
		*port++ = '\0';
		memset(&hints, 0, sizeof hints);
		hints.ai_socktype = SOCK_STREAM;
		if ((e = getaddrinfo(host, port, &hints, &res)) != 0)
			openloop_fatal(
			    "%s: %s", openloop.server, gai_strerror(e));
		for (ai = res; ai != NULL; ai = ai->ai_next) {
			fd = socket(
			    ai->ai_family, ai->ai_socktype, ai->ai_protocol);
			if (fd == -1)
				continue;
			if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
				break;
			close(fd);
			fd = -1;
		}
		freeaddrinfo(res);
		if (fd == -1)
			openloop_fatal(
			    "%s: %s", openloop.server, strerror(errno));
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	}
	if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) == -1)
		openloop_fatal("fcntl: %s", strerror(errno));
	return fd;
}

/* -z: key k's weight is 1/(k+1)^s, so key 0 is the most popular. */
static void
openloop_zipf(void)
{
	double sum = 0;
	long k;

	openloop.cdf = calloc((size_t)openloop.keys, sizeof *openloop.cdf);
	if (openloop.cdf == NULL)
		openloop_fatal("out of memory");
	for (k = 0; k < openloop.keys; k++) {
		sum += pow((double)(k + 1), -openloop.zipf);
		openloop.cdf[k] = sum;
	}
	for (k = 0; k < openloop.keys; k++)
		openloop.cdf[k] /= sum;
	openloop.cdf[openloop.keys - 1] = 1.0;
}

/* The options, on a bad command line. */
static void
openloop_usage(void)
{
	fprintf(stderr,
	    "usage: openloop -s HOST:PORT|PATH -r RATE [-c conns] [-T "
	    "threads]\n"
	    "\t[-d seconds] [-w warmup] [-D drain] [-x set-ratio] [-k keys]\n"
	    "\t[-v value-bytes] [-g keys-per-get] [-P pipeline] [-z zipf]\n"
	    "\t[-O outstanding] [-b] [-u] [-S seed]\n");
	exit(2);
}

/* An option's number, at least min, or the usage. */
static double
openloop_number(const char *s, double min)
{
	char *end;
	double v;

	v = strtod(s, &end);
	if (*s == '\0' || *end != '\0' || !(v >= min))
		openloop_usage();
	return v;
}

/* Connects, runs the schedule on every thread, prints the one line. */
int
main(int argc, char **argv)
{
	struct openloop_thread *ths;
	struct event_config *cfg;
	uint64_t *hist, *lag, total = 0, lagtotal = 0, max = 0, errors = 0;
	uint64_t in_window = 0, sent = 0;
	double window;
	int ch, i, t;

	while ((ch = getopt(argc, argv, "s:r:c:T:d:w:D:x:k:v:g:P:O:z:buS:")) !=
	       -1) {
		switch (ch) {
		case 's':
			openloop.server = optarg;
			break;
		case 'r':
			openloop.rate = openloop_number(optarg, 1e-3);
			break;
		case 'c':
			openloop.conns = (int)openloop_number(optarg, 1);
			break;
		case 'T':
			openloop.threads = (int)openloop_number(optarg, 1);
			break;
		case 'd':
			openloop.duration = openloop_number(optarg, 1e-3);
			break;
		case 'w':
			openloop.warmup = openloop_number(optarg, 0);
			break;
		case 'D':
			openloop.drain = openloop_number(optarg, 0);
			break;
		case 'x':
			openloop.set_ratio = openloop_number(optarg, 0);
			break;
		case 'k':
			openloop.keys = (long)openloop_number(optarg, 1);
			break;
		case 'v':
			openloop.vsize = (long)openloop_number(optarg, 0);
			break;
		case 'g':
			openloop.multi = (int)openloop_number(optarg, 1);
			break;
		case 'P':
			openloop.pipeline = (int)openloop_number(optarg, 1);
			break;
		case 'O':
			openloop.outstanding = (int)openloop_number(optarg, 1);
			break;
		case 'z':
			openloop.zipf = openloop_number(optarg, 0);
			break;
		case 'b':
			openloop.binary = 1;
			break;
		case 'u':
			openloop.uniform = 1;
			break;
		case 'S':
			openloop.seed = (uint64_t)openloop_number(optarg, 0);
			break;
		default:
			openloop_usage();
		}
	}
	if (openloop.server == NULL || openloop.rate == 0 || optind != argc ||
	    openloop.set_ratio > 1 || openloop.multi > 100 ||
	    (openloop.binary && openloop.multi > 1) ||
	    (openloop.outstanding > 0 &&
	        openloop.outstanding < openloop.pipeline))
		openloop_usage();
	if (openloop.zipf > 0)
		openloop_zipf();
	if (openloop.threads > openloop.conns)
		openloop.threads = openloop.conns;

	if ((openloop.value = malloc((size_t)openloop.vsize + 2)) == NULL)
		openloop_fatal("out of memory");
	memset(openloop.value, 'v', (size_t)openloop.vsize);
	memcpy(openloop.value + openloop.vsize, "\r\n", 2);

	if ((ths = calloc((size_t)openloop.threads, sizeof *ths)) == NULL)
		openloop_fatal("out of memory");
	for (t = 0; t < openloop.threads; t++) {
		struct openloop_thread *th = &ths[t];

		/* Timers to the microsecond: the schedule is the measurement.
		 */
		if ((cfg = event_config_new()) == NULL)
			openloop_fatal("event_config_new failed");
		event_config_set_flag(cfg, EVENT_BASE_FLAG_NOLOCK);
		event_config_set_flag(cfg, EVENT_BASE_FLAG_PRECISE_TIMER);
		if ((th->base = event_base_new_with_config(cfg)) == NULL)
			openloop_fatal("event_base_new failed");
		event_config_free(cfg);
		th->nconns = openloop.conns / openloop.threads +
		             (t < openloop.conns % openloop.threads);
		th->conns = calloc((size_t)th->nconns, sizeof *th->conns);
		if (th->conns == NULL)
			openloop_fatal("out of memory");
	}

	/* Connections dealt to the threads in turn; the start is common. */
	openloop.start = openloop_now() + NS_PER_S / 5;
	for (i = 0; i < openloop.conns; i++) {
		struct openloop_thread *th = &ths[i % openloop.threads];
		struct openloop_conn *c = &th->conns[i / openloop.threads];

		c->th = th;
		c->fd = openloop_connect();
		c->in = evbuffer_new();
		c->out = evbuffer_new();
		c->rev = event_new(
		    th->base, c->fd, EV_READ | EV_PERSIST, conn_readcb, c);
		c->wev = event_new(th->base, c->fd, EV_WRITE, conn_writecb, c);
		c->timer = evtimer_new(th->base, conn_timercb, c);
		if (c->in == NULL || c->out == NULL || c->rev == NULL ||
		    c->wev == NULL || c->timer == NULL)
			openloop_fatal("out of memory");
		event_add(c->rev, NULL);
		c->rng = (openloop.seed + 1) * 0x9e3779b97f4a7c15ULL +
		         (uint64_t)i * 0xbf58476d1ce4e5b9ULL;
		if (c->rng == 0)
			c->rng = 1;
		c->sending = 1;
		/* Uniform spacing staggers the connections across one gap. */
		if (openloop.uniform)
			c->next = openloop.start + conn_gap(c) * (uint64_t)i /
			                               (uint64_t)openloop.conns;
		else
			c->next = openloop.start + conn_gap(c);
	}
	openloop.start =
	    openloop_now() > openloop.start ? openloop_now() : openloop.start;
	openloop.measure =
	    openloop.start + (uint64_t)(openloop.warmup * NS_PER_S);
	openloop.end =
	    openloop.measure + (uint64_t)(openloop.duration * NS_PER_S);
	openloop.deadline =
	    openloop.end + (uint64_t)(openloop.drain * NS_PER_S);

	for (t = 0; t < openloop.threads; t++)
		if (pthread_create(&ths[t].tid, NULL, thread_main, &ths[t]) !=
		    0)
			openloop_fatal("pthread_create failed");
	for (t = 0; t < openloop.threads; t++)
		pthread_join(ths[t].tid, NULL);

	hist = ths[0].hist;
	lag = ths[0].lag;
	for (t = 0; t < openloop.threads; t++) {
		for (i = 0; i < HIST_BUCKETS; i++) {
			if (t > 0) {
				hist[i] += ths[t].hist[i];
				lag[i] += ths[t].lag[i];
			}
			lagtotal += ths[t].lag[i];
		}
		total += ths[t].requests;
		errors += ths[t].errors;
		in_window += ths[t].in_window;
		sent += ths[t].sent;
		if (ths[t].max > max)
			max = ths[t].max;
	}
	window = openloop.duration;
	printf("offered=%.0f achieved=%.0f requests=%llu errors=%llu "
	       "p50_us=%.1f p99_us=%.1f p99.9_us=%.1f max_us=%.1f "
	       "sendlag_p99_us=%.1f sent=%llu\n",
	    openloop.rate, (double)in_window / window,
	    (unsigned long long)total, (unsigned long long)errors,
	    hist_percentile(hist, total, 0.50, max) / 1e3,
	    hist_percentile(hist, total, 0.99, max) / 1e3,
	    hist_percentile(hist, total, 0.999, max) / 1e3, max / 1e3,
	    hist_percentile(lag, lagtotal, 0.99, UINT64_MAX) / 1e3,
	    (unsigned long long)sent);
	return 0;
}
