/* One connection: reads, writes, its states and timeouts, its close. */
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include <event2/event.h>

#include "addr.h"
#include "bufpool.h"
#include "conn.h"
#include "counter.h"
#include "log.h"
#include "log_event.h"
#include "proto_bin.h"
#include "proto_text.h"
#include "thread.h"
#include "watch.h"
#include "xmalloc.h"

/* iovecs per writev: as many as the kernel takes, so that a turn's
 * replies (a multi-get of large values, a pipeline) go in one call. */
#define CONN_IOV IOV_MAX
/* How long a closing connection may keep sending before we hang up. */
#define CONN_LINGER_SECS 2

static const char *const conn_state_names[CONN_STATE_MAX] = {
    [CONN_WAITING] = "conn_waiting",
    [CONN_READ] = "conn_read",
    [CONN_NREAD] = "conn_nread",
    [CONN_PARSE_CMD] = "conn_parse_cmd",
    [CONN_WRITE] = "conn_write",
    [CONN_CLOSING] = "conn_closing",
};

/* Seconds; 0 turns a limit off. */
static struct conn_timeouts conn_limits = {.request = 30, .write = 30};
/* Requests per turn; 0: no limit. */
static unsigned conn_reqs_per_event;

static void conn_io_cb(evutil_socket_t, short, void *);
static void conn_drive(struct conn *);

/* The metadump chunks one turn of a connection sends. */
#define CONN_DUMP_CHUNKS 16

const char *
conn_state_name(int state)
{
	if (state < 0 || state >= CONN_STATE_MAX)
		return "conn_invalid";
	return conn_state_names[state];
}

static void
conn_set_state(struct conn *c, enum conn_state state)
{
	if (state >= CONN_STATE_MAX)
		fatalx("conn=%d: invalid state %d", c->fd, (int)state);
	if (atomic_load_explicit(&c->state, memory_order_relaxed) == (int)state)
		return;
	log_debug("conn=%d %s -> %s", c->fd,
	    conn_state_name(
	        atomic_load_explicit(&c->state, memory_order_relaxed)),
	    conn_state_name(state));
	atomic_store_explicit(&c->state, state, memory_order_relaxed);
}

static time_t
conn_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return ts.tv_sec;
}

void
conn_set_timeouts(const struct conn_timeouts *t)
{
	conn_limits = *t;
}

void
conn_set_reqs_per_event(unsigned n)
{
	conn_reqs_per_event = n;
}

/* -R: the turn is over with requests left. The connection's own event is
 * made active, so the loop comes back to it once every connection ready
 * before it had its turn, as memcached's conn_yields. */
static void
conn_yield(struct conn *c)
{
	stat_add(&c->own->counters->conn_yields, 1);
	log_debug("conn=%d yields, requests left", c->fd);
	event_active(c->ev, EV_TIMEOUT, 1);
}

/* A client that stalls holds a connection slot and its buffers; past the
 * limits it is closed. Watchers are exempt: their stream is bounded by
 * skipping lines instead. */
void
conn_tick(struct conn *c)
{
	time_t now = conn_now();
	int limit;

	if (c->watch != NULL || c->close_why != CONN_OPEN)
		return;
	switch (atomic_load_explicit(&c->state, memory_order_relaxed)) {
	case CONN_WRITE:
		limit = conn_limits.write;
		if (limit > 0 && now - c->write_since >= limit)
			conn_close(c, CONN_WRITE_STALLED, limit);
		break;
	case CONN_READ:
	case CONN_NREAD:
		limit = conn_limits.request;
		if (limit > 0 && now - c->read_since >= limit)
			conn_close(c, CONN_REQUEST_STALLED, limit);
		break;
	case CONN_WAITING:
		limit = conn_limits.idle;
		if (limit > 0 && now - atomic_load_explicit(&c->last_cmd,
		                           memory_order_relaxed) >=
		                     limit) {
			stat_add(&c->own->counters->idle_kicks, 1);
			conn_close(c, CONN_IDLE, limit);
		}
		break;
	}
}

/* What a reason's text takes: nothing, the limit's seconds, an errno. */
enum conn_why_arg {
	CONN_ARG_NONE,
	CONN_ARG_SECS,
	CONN_ARG_ERRNO,
};

/* Each reason's log text (a format of what it takes) and the word
 * memcached's conn_close event says for it. */
static const struct conn_why_row {
	const char *text;
	const char *word;
	enum conn_why_arg arg;
} conn_whys[CONN_WHY_MAX] = {
    [CONN_BY_CLIENT] = {"closed by client", "normal", CONN_ARG_NONE},
    [CONN_ON_QUIT] = {"closed on quit", "normal", CONN_ARG_NONE},
    [CONN_BY_SHUTDOWN] = {"closed by server shutdown", "shutdown",
        CONN_ARG_NONE},
    [CONN_AT_DEADLINE] = {"closed at shutdown deadline", "error",
        CONN_ARG_NONE},
    [CONN_IDLE] = {"closed: idle for %d s", "idle_timeout", CONN_ARG_SECS},
    [CONN_WRITE_STALLED] = {"closed: its replies waited %d s for the "
                            "client to read them",
        "error", CONN_ARG_SECS},
    [CONN_REQUEST_STALLED] = {"closed: a request stayed incomplete for %d s",
        "error", CONN_ARG_SECS},
    [CONN_WRITE_ERROR] = {"closed on write error: %s", "error", CONN_ARG_ERRNO},
    [CONN_READ_ERROR] = {"closed on read error: %s", "error", CONN_ARG_ERRNO},
    [CONN_NO_RBUF] = {"closed: no read buffer left (read_buf_mem_limit)",
        "error", CONN_ARG_NONE},
    [CONN_HTTP] = {"closed after an HTTP request", "error", CONN_ARG_NONE},
    [CONN_TOO_LONG] = {"closed after a request line too long", "error",
        CONN_ARG_NONE},
    [CONN_PROTO_ERROR] = {"closed after a protocol error", "error",
        CONN_ARG_NONE},
};

/* The log text of reason why with its argument, into buf. */
static const char *
conn_why_text(enum conn_why why, int arg, char *buf, size_t cap)
{
	const struct conn_why_row *w = &conn_whys[why];

	/* The row's format takes what its arg says, and nothing else. */
	if (w->arg == CONN_ARG_SECS)
		snprintf(buf, cap, w->text, arg);
	else if (w->arg == CONN_ARG_ERRNO)
		snprintf(buf, cap, w->text, strerror(arg));
	else
		return w->text;
	return buf;
}

struct conn *
conn_new(const struct conn_owner *own, int fd, const char *peer)
{
	struct conn *c = xcalloc(1, sizeof *c);

	c->fd = fd;
	c->own = own;
	snprintf(c->peer, sizeof c->peer, "%s", peer);
	obuf_init(&c->out, own->pool);
	c->proto.fd = fd;
	c->proto.peer = c->peer;
	c->proto.st = own->cstats;
	c->proto.lat = own->lat;
	c->proto.hot = own->hot;
	c->proto.max_cmds = conn_reqs_per_event;
	atomic_store(&c->last_cmd, conn_now());
	c->ev = event_new(own->base, fd, EV_READ | EV_PERSIST, conn_io_cb, c);
	if (c->ev == NULL)
		fatalx("out of memory for a connection event");
	c->ev_what = EV_READ;
	event_add(c->ev, NULL);
	if (log_event_wanted(LOG_EV_CONN))
		log_event_conn(c->peer, c->fd, NULL);
	return c;
}

/* Wait for the socket to be readable, writable (EV_READ, EV_WRITE), or
 * for nothing (0). */
static void
conn_wait(struct conn *c, short what)
{
	if (c->ev_what == what)
		return;
	event_del(c->ev);
	c->ev_what = what;
	if (what == 0)
		return;
	event_assign(c->ev, event_get_base(c->ev), c->fd, what | EV_PERSIST,
	    conn_io_cb, c);
	event_add(c->ev, NULL);
}

/* The read buffer goes back to the pool once every byte is answered. */
static void
conn_rbuf_drop(struct conn *c)
{
	if (c->rcap == c->own->pool->size)
		bufpool_put(c->own->pool, c->rbuf);
	else
		free(c->rbuf);
	c->rbuf = NULL;
	c->rcap = 0;
}

void
conn_close(struct conn *c, enum conn_why why, int arg)
{
	char text[128];

	log_info("conn=%d peer=%s %s", c->fd, c->peer,
	    conn_why_text(why, arg, text, sizeof text));
	if (log_event_wanted(LOG_EV_CONN))
		log_event_conn(c->peer, c->fd, conn_whys[why].word);
	if (c->watch != NULL)
		watch_stop(c->watch);
	proto_dump_stop(&c->proto);
	event_free(c->ev);
	if (c->linger != NULL)
		event_free(c->linger);
	close(c->fd);
	c->own->closed(c, c->own->arg);
	obuf_free(&c->out);
	if (c->rbuf != NULL)
		conn_rbuf_drop(c);
	free(c);
}

static void
conn_linger_cb(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;

	conn_close(c, c->close_why, 0);
}

/* Replies are out: close, or after an error let the client's remaining
 * input drain so the kernel does not reset the connection and destroy the
 * reply before the client reads it. */
static void
conn_finish(struct conn *c)
{
	struct timeval tv = {CONN_LINGER_SECS, 0};

	if (c->linger != NULL)
		return;
	conn_set_state(c, CONN_CLOSING);
	if (shutdown(c->fd, SHUT_WR) == -1) {
		conn_close(c, c->close_why, 0);
		return;
	}
	c->linger = evtimer_new(event_get_base(c->ev), conn_linger_cb, c);
	if (c->linger == NULL)
		fatalx("out of memory for a timer");
	evtimer_add(c->linger, &tv);
	conn_wait(c, EV_READ);
}

/* Write what is pending; 0 when all of it is out, 1 when the socket is
 * full, -1 when the connection was closed. */
static int
conn_flush(struct conn *c)
{
	struct iovec iov[CONN_IOV];
	bool progress = false;

	while (obuf_pending(&c->out) > 0) {
		int n_iov = obuf_iov(&c->out, iov, CONN_IOV);
		/* One piece, the usual reply now that small values are
		 * copied: write spares the kernel the iovec's import. */
		ssize_t n = n_iov == 1
		                ? write(c->fd, iov[0].iov_base, iov[0].iov_len)
		                : writev(c->fd, iov, n_iov);

		if (n == -1) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN) {
				/* The write timeout counts from the last
				 * progress. */
				if (progress ||
				    atomic_load_explicit(&c->state,
				        memory_order_relaxed) != CONN_WRITE)
					c->write_since = conn_now();
				conn_set_state(c, CONN_WRITE);
				conn_wait(c, EV_WRITE);
				return 1;
			}
			conn_close(c, CONN_WRITE_ERROR, errno);
			return -1;
		}
		stat_add(&c->own->counters->bytes_written, (uint64_t)n);
		obuf_consume(&c->out, (size_t)n);
		progress = true;
	}
	if (c->ev_what == EV_WRITE)
		conn_wait(c, 0);
	return 0;
}

/* Carry out what the requests ended with. */
static void
conn_act(struct conn *c, enum proto_action action)
{
	switch (action) {
	case PROTO_CONTINUE:
		break;
	case PROTO_WATCH:
		c->watch = watch_start(
		    &c->proto.watch, c->own->watch_wake, c->own->arg);
		log_info(
		    "conn=%d peer=%s now watching the log", c->fd, c->peer);
		break;
	case PROTO_HTTP:
		stat_add(&c->own->counters->http_refused, 1);
		log_warnx("conn=%d peer=%s sent an HTTP request: closing, "
		          "nothing of it runs",
		    c->fd, c->peer);
		c->close_why = CONN_HTTP;
		break;
	case PROTO_SHUTDOWN:
		c->own->shutdown();
		c->close_why = CONN_ON_QUIT;
		break;
	case PROTO_QUIT:
		c->close_why = CONN_ON_QUIT;
		break;
	case PROTO_TOO_LONG:
		log_info("conn=%d peer=%s sent a request line past %d bytes "
		         "with no line end: closing without a reply",
		    c->fd, c->peer, PROTO_LINE_MAX);
		c->close_why = CONN_TOO_LONG;
		break;
	case PROTO_CLOSE:
		c->close_why = CONN_PROTO_ERROR;
		c->linger_after = true;
		break;
	}
}

/* Answer the requests buffered; returns the bytes they took. */
static size_t
conn_answer(struct conn *c)
{
	struct proto_ctx *ctx = &c->proto;
	enum proto_action action;
	size_t used;

	conn_set_state(c, CONN_PARSE_CMD);
	used = proto_bin_serve(ctx, c->rbuf, c->rlen, &c->out, &action);
	/* The buffer moves now: the stall handler must not read it. */
	ctx->line = NULL;
	if (ctx->cmds > 0) {
		stat_add(&c->own->counters->cmds, ctx->cmds);
		atomic_store_explicit(
		    &c->last_cmd, conn_now(), memory_order_relaxed);
	}
	c->rlen -= used;
	memmove(c->rbuf, c->rbuf + used, c->rlen);
	conn_act(c, action);
	return used;
}

/* Nothing to send: wait for the next request. A request left incomplete
 * is timed from when it began, or from the last one answered: bytes
 * trickling in do not reset it. */
static void
conn_await(struct conn *c, bool progressed, int was)
{
	int state = CONN_WAITING;

	if (c->rlen == 0 && c->rbuf != NULL)
		conn_rbuf_drop(c);
	if (c->rlen > 0)
		state = proto_awaits_value(&c->proto, c->rbuf, c->rlen)
		            ? CONN_NREAD
		            : CONN_READ;
	if (c->rlen > 0 &&
	    (progressed || (was != CONN_READ && was != CONN_NREAD)))
		c->read_since = conn_now();
	conn_set_state(c, state);
	conn_wait(c, EV_READ);
}

/* Answer what is buffered and send the replies, as far as the socket
 * takes them. Closing the connection frees c. */
static void
conn_drive(struct conn *c)
{
	bool left, progressed = false, yield = false;
	int was = atomic_load_explicit(&c->state, memory_order_relaxed);
	unsigned long answered = 0;
	unsigned chunks = 0;
	size_t used = 0;

	for (;;) {
		left = false;
		if (c->watch != NULL) {
			/* A watcher's input is not requests any more. */
			c->rlen = 0;
			left = watch_pull(c->watch, &c->out);
		}
		if (c->proto.dump != NULL) {
			/* A metadump's next chunk once the last one is out;
			 * the requests behind it wait for its end, then one
			 * more turn answers them. */
			if (obuf_pending(&c->out) == 0) {
				proto_dump_more(&c->proto, &c->out);
				chunks++;
			}
			left = true;
		}
		used = 0;
		if (c->close_why == CONN_OPEN && c->rlen > 0 &&
		    c->proto.dump == NULL) {
			used = conn_answer(c);
			answered += c->proto.cmds;
		}
		progressed |= used > 0;
		if (conn_flush(c) != 0)
			return; /* closed, or the write callback goes on */
		if (c->close_why != CONN_OPEN) {
			if (c->linger_after)
				conn_finish(c);
			else
				conn_close(c, c->close_why, 0);
			return;
		}
		/* Stopped with requests left: at the output limit, go on; at
		 * the turn's limit, let the others go first. */
		if (used > 0 && c->rlen > 0 &&
		    (c->proto.binary || memchr(c->rbuf, '\n', c->rlen))) {
			if (conn_reqs_per_event == 0 ||
			    answered < conn_reqs_per_event)
				continue;
			yield = true;
			break;
		}
		/* A watcher's lines left behind while its output was full
		 * go now: nothing else would bring them once its buffer is
		 * full, since skipped lines wake nobody. */
		if (!left && c->proto.dump == NULL)
			break;
		/* A dump read as fast as it is made lets the others go
		 * every few chunks. */
		if (c->proto.dump != NULL && chunks >= CONN_DUMP_CHUNKS) {
			yield = true;
			break;
		}
	}
	conn_await(c, progressed, was);
	/* After conn_await: waiting anew would cancel the activation. */
	if (yield)
		conn_yield(c);
}

/* Room to read into: a pooled buffer, grown past the pool's size for long
 * key lists and large values, up to proto_text_buffer_max(). False when
 * the pool has none left (read_buf_mem_limit). */
static bool
conn_rbuf_reserve(struct conn *c)
{
	size_t want = c->rlen + c->own->pool->size / 4;
	size_t cap = c->rcap;

	if (c->rbuf == NULL) {
		if ((c->rbuf = bufpool_get(c->own->pool)) == NULL)
			return false;
		c->rcap = cap = c->own->pool->size;
	}
	if (c->proto.need > want)
		want = c->proto.need;
	if (want <= c->rcap)
		return true;
	while (cap < want)
		cap *= 2;
	if (cap > proto_text_buffer_max())
		cap = proto_text_buffer_max();
	if (c->rcap == c->own->pool->size)
		bufpool_detach(c->own->pool);
	c->rbuf = xrealloc(c->rbuf, cap);
	c->rcap = cap;
	return true;
}

static void
conn_read(struct conn *c, int fd)
{
	ssize_t n;

	if (c->linger != NULL) {
		/* Closing: discard until the client is done. */
		char sink[4096];

		n = read(fd, sink, sizeof sink);
		if (n == 0 || (n == -1 && errno != EAGAIN && errno != EINTR))
			conn_close(c, c->close_why, 0);
		return;
	}
	if (!conn_rbuf_reserve(c)) {
		/* As memcached: no read buffer, the connection goes. */
		stat_add(&c->own->counters->read_buf_oom, 1);
		conn_close(c, CONN_NO_RBUF, 0);
		return;
	}
	if (c->rlen == c->rcap)
		return; /* full of requests waiting for the socket */
	n = read(fd, c->rbuf + c->rlen, c->rcap - c->rlen);
	if (n == 0) {
		conn_close(c, CONN_BY_CLIENT, 0);
		return;
	}
	if (n == -1) {
		if (errno == EAGAIN || errno == EINTR) {
			if (c->rlen == 0)
				conn_rbuf_drop(c);
			return;
		}
		conn_close(c, CONN_READ_ERROR, errno);
		return;
	}
	stat_add(&c->own->counters->bytes_read, (uint64_t)n);
	c->rlen += (size_t)n;
	conn_drive(c); /* may free c */
}

static void
conn_io_cb(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;
	struct worker_beat *beat = c->own->beat;

	worker_beat_enter(beat, c);
	/* EV_TIMEOUT: the turn conn_yield gave up comes back. */
	if (what & (EV_WRITE | EV_TIMEOUT))
		conn_drive(c);
	else
		conn_read(c, fd); /* may free c */
	worker_beat_leave(beat);
}

void
conn_kick(struct conn *c)
{
	/* Writing already: the write callback goes on when the socket
	 * drains. */
	if (atomic_load_explicit(&c->state, memory_order_relaxed) ==
	        CONN_WRITE ||
	    c->close_why != CONN_OPEN)
		return;
	conn_drive(c);
}

void
conn_shutdown(struct conn *c, enum conn_why why)
{
	if (c->close_why == CONN_OPEN)
		c->close_why = why;
	if (obuf_pending(&c->out) == 0) {
		conn_close(c, c->close_why, 0);
		return;
	}
	if (c->ev_what == EV_READ)
		conn_wait(c, 0);
}

int
conn_fd(const struct conn *c)
{
	return c->fd;
}

void
conn_stats(struct conn *c, struct obuf *out)
{
	time_t idle = conn_now() -
	              atomic_load_explicit(&c->last_cmd, memory_order_relaxed);
	struct sockaddr_storage ss;
	socklen_t sslen = sizeof ss;
	char peer[ADDR_STATS_MAX] = "?:<AF 0>";
	char local[ADDR_STATS_MAX] = "?:<AF 0>";

	/* Asked for here rather than kept: "stats conns" is rare, and a
	 * connection's every byte is paid ten thousand times. */
	if (getpeername(c->fd, (struct sockaddr *)&ss, &sslen) == 0)
		addr_format_stats(
		    (struct sockaddr *)&ss, sslen, peer, sizeof peer);
	sslen = sizeof ss;
	if (getsockname(c->fd, (struct sockaddr *)&ss, &sslen) == 0)
		addr_format_stats(
		    (struct sockaddr *)&ss, sslen, local, sizeof local);

	obuf_printf(out,
	    "STAT %d:addr %s\r\n"
	    "STAT %d:listen_addr %s\r\n"
	    "STAT %d:state %s\r\n"
	    "STAT %d:secs_since_last_cmd %lld\r\n"
	    "STAT %d:thread %s\r\n",
	    c->fd, peer, c->fd, local, c->fd,
	    conn_state_name(
	        atomic_load_explicit(&c->state, memory_order_relaxed)),
	    c->fd, (long long)idle, c->fd, c->own->thread->name);
}
