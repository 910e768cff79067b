/* The admin port's policing: Host names, a connection limit, deadlines.
 *
 * evhttp gives each connection a bufferevent made here (evhttp_set_bevcb) that
 * owns the descriptor: freed, it removes the descriptor's events before it
 * closes it, where evhttp's own closes first and leaves the removal to a
 * descriptor number that another thread may have been given meanwhile. Once
 * evhttp has made the connection around it, its close callback says when it
 * goes. That is where the connections are counted, the listener turned off at
 * the limit and on again, and each connection's deadline for its request's
 * headers kept. (A filter bufferevent would say when it is freed, but it
 * reports a reply written once it reaches the socket bufferevent below, and
 * evhttp then closes before the bytes are out.) The listener's accept errors
 * pause it while the process is out of descriptors. Requests whose Host is not
 * a name of this server are refused, against DNS rebinding.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include <event2/bufferevent.h>
#include <event2/buffer.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>

#include "admin_guard.h"
#include "counter.h"
#include "log.h"
#include "xmalloc.h"

/* Seconds between tries to accept while out of descriptors. */
#define ADMIN_GUARD_RETRY_S 1
/* A Host name and its port, at most. */
#define ADMIN_GUARD_HOST_MAX 256

/* One connection evhttp serves. */
struct admin_guard_conn {
	struct bufferevent *bev; /* the one evhttp reads and writes */
	struct event *deadline;  /* its request's headers are late */
	struct event *attach;    /* evhttp has made the connection */
	void (*closecb)(struct evhttp_connection *, void *); /* a page's */
	void *closearg;
	struct admin_guard_conn *next, **prevp;
};

static struct {
	struct evconnlistener *listener; /* NULL: being freed */
	const struct obs_config *cfg;
	char listen_host[ADMIN_GUARD_HOST_MAX];
	struct admin_guard_conn *conns;
	int nconns;
	bool out_of_fds;   /* paused until the retry timer */
	bool at_limit;     /* paused until a connection closes */
	bool pause_logged; /* the out of descriptors warning is out */
	struct event *retry;
	struct admin_guard_counters counters;
} guard;

/* The listener accepts while under the limit and not out of
 * descriptors; a pause counts once when it begins. */
static void
admin_guard_listen_update(void)
{
	bool was = guard.at_limit;

	if (guard.listener == NULL)
		return;
	guard.at_limit = guard.nconns >= guard.cfg->admin_max_conns;
	if (guard.at_limit && !was)
		stat_add(&guard.counters.listen_disabled, 1);
	if (guard.at_limit || guard.out_of_fds)
		evconnlistener_disable(guard.listener);
	else
		evconnlistener_enable(guard.listener);
}

/* The headers did not arrive in time: shut the socket down, so that evhttp
 * reads its end and frees the connection itself. */
static void
admin_guard_deadline_cb(evutil_socket_t unused, short what, void *arg)
{
	struct admin_guard_conn *c = arg;
	evutil_socket_t fd = bufferevent_getfd(c->bev);

	(void)unused;
	(void)what;
	if (fd == -1)
		return;
	shutdown(fd, SHUT_RDWR);
	stat_add(&guard.counters.header_timeouts, 1);
	log_info("admin: closing a connection whose request took over %d s",
	    ADMIN_GUARD_HEADERS_S);
}

/* Start c's deadline for its next request. */
static void
admin_guard_arm(struct admin_guard_conn *c)
{
	const struct timeval tv = {ADMIN_GUARD_HEADERS_S, 0};

	evtimer_add(c->deadline, &tv);
}

/* evhttp is freeing the connection: its slot is free. */
static void
admin_guard_closed(struct evhttp_connection *evcon, void *arg)
{
	struct admin_guard_conn *c = arg;

	if (c->closecb != NULL)
		c->closecb(evcon, c->closearg);
	event_free(c->deadline);
	event_free(c->attach);
	if (c->next != NULL)
		c->next->prevp = c->prevp;
	*c->prevp = c->next;
	free(c);
	guard.nconns--;
	atomic_store_explicit(&guard.counters.curr_conns,
	    (uint64_t)guard.nconns, memory_order_relaxed);
	admin_guard_listen_update();
}

/* Run once the accept callback has returned: evhttp has made the
 * connection and given the bufferevent its callbacks, with the connection
 * as their argument. */
static void
admin_guard_attach(evutil_socket_t unused, short what, void *arg)
{
	struct admin_guard_conn *c = arg;
	void *evcon = NULL;

	(void)unused;
	(void)what;
	bufferevent_getcb(c->bev, NULL, NULL, NULL, &evcon);
	if (evcon == NULL)
		fatalx("admin: a connection without its evhttp connection");
	evhttp_connection_set_closecb(evcon, admin_guard_closed, c);
}

/* evhttp's bevcb, for each connection it accepted: a socket bufferevent
 * that will own the descriptor. */
static struct bufferevent *
admin_guard_bev(struct event_base *base, void *arg)
{
	struct admin_guard_conn *c = xcalloc(1, sizeof *c);

	(void)arg;
	c->bev = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
	c->deadline = evtimer_new(base, admin_guard_deadline_cb, c);
	c->attach = event_new(base, -1, 0, admin_guard_attach, c);
	if (c->bev == NULL || c->deadline == NULL || c->attach == NULL)
		fatalx("admin: cannot make a connection's events");
	if ((c->next = guard.conns) != NULL)
		c->next->prevp = &c->next;
	guard.conns = c;
	c->prevp = &guard.conns;
	admin_guard_arm(c);
	event_active(c->attach, EV_TIMEOUT, 1);
	guard.nconns++;
	atomic_store_explicit(&guard.counters.curr_conns,
	    (uint64_t)guard.nconns, memory_order_relaxed);
	stat_add(&guard.counters.total_conns, 1);
	if (guard.pause_logged) {
		log_notice("admin: accepting again");
		guard.pause_logged = false;
	}
	admin_guard_listen_update();
	return c->bev;
}

/* The retry timer: try to accept again; the next error pauses again. */
static void
admin_guard_retry_cb(evutil_socket_t unused, short what, void *arg)
{
	(void)unused;
	(void)what;
	(void)arg;
	guard.out_of_fds = false;
	admin_guard_listen_update();
}

/* accept() failed. Out of descriptors, the pending connection stays in
 * the backlog and the listener would be woken for it at once, forever:
 * pause, say so once, and try again on a timer. */
static void
admin_guard_accept_error(struct evconnlistener *l, void *arg)
{
	const struct timeval tv = {ADMIN_GUARD_RETRY_S, 0};
	int err = EVUTIL_SOCKET_ERROR();

	(void)l;
	(void)arg;
	if (err != EMFILE && err != ENFILE && err != ENOBUFS && err != ENOMEM) {
		log_warnx("admin: accept: %s", strerror(err));
		return;
	}
	guard.out_of_fds = true;
	stat_add(&guard.counters.listen_disabled, 1);
	admin_guard_listen_update();
	if (!guard.pause_logged)
		log_warnx("admin: accept: %s; pausing accept, trying again "
		          "every %d s",
		    strerror(err), ADMIN_GUARD_RETRY_S);
	guard.pause_logged = true;
	evtimer_add(guard.retry, &tv);
}

int
admin_guard_init(struct event_base *base, struct evhttp *http,
    struct evhttp_bound_socket *bound, const struct obs_config *cfg,
    const char *listen_host, char *err, size_t errlen)
{
	guard.cfg = cfg;
	guard.listener = evhttp_bound_socket_get_listener(bound);
	snprintf(
	    guard.listen_host, sizeof guard.listen_host, "%s", listen_host);
	guard.retry = evtimer_new(base, admin_guard_retry_cb, NULL);
	if (guard.retry == NULL) {
		snprintf(err, errlen, "cannot create the admin retry timer");
		return -1;
	}
	evhttp_set_bevcb(http, admin_guard_bev, NULL);
	evconnlistener_set_error_cb(guard.listener, admin_guard_accept_error);
	return 0;
}

void
admin_guard_free(void)
{
	guard.listener = NULL;
	if (guard.retry != NULL)
		event_free(guard.retry);
	guard.retry = NULL;
}

/* The connection that carries req, or NULL (evhttp made its own). */
static struct admin_guard_conn *
admin_guard_conn_of(struct evhttp_request *req)
{
	struct evhttp_connection *evcon = evhttp_request_get_connection(req);
	struct bufferevent *bev;

	if (evcon == NULL)
		return NULL;
	bev = evhttp_connection_get_bufferevent(evcon);
	for (struct admin_guard_conn *c = guard.conns; c != NULL; c = c->next)
		if (c->bev == bev)
			return c;
	return NULL;
}

/* Whether name (no port) is in the comma-separated list. */
static bool
admin_guard_listed(const char *list, const char *name)
{
	size_t n = strlen(name);

	while (list != NULL && *list != '\0') {
		const char *end = strchrnul(list, ',');
		const char *p = list;
		size_t len;

		while (p < end && *p == ' ')
			p++;
		len = (size_t)(end - p);
		while (len > 0 && p[len - 1] == ' ')
			len--;
		if (len == n && n > 0 && strncasecmp(p, name, n) == 0)
			return true;
		list = *end != '\0' ? end + 1 : end;
	}
	return false;
}

/* Whether a Host header's value names this server: a loopback name or
 * address, the listen address or an allowed name, any port. */
static bool
admin_guard_host_ok(const char *host)
{
	char name[ADMIN_GUARD_HOST_MAX];
	const char *port, *colon;
	struct in6_addr a6;
	struct in_addr a4;
	size_t len, nlen = 0;
	bool v6 = host[0] == '[';

	if ((len = strlen(host)) == 0 || len >= sizeof name)
		return false;
	if (v6) {
		const char *close = strchr(host, ']');

		if (close == NULL)
			return false;
		nlen = (size_t)(close - host - 1);
		memcpy(name, host + 1, nlen);
		port = close + 1;
	} else {
		colon = strchr(host, ':');
		nlen = colon != NULL ? (size_t)(colon - host) : len;
		memcpy(name, host, nlen);
		port = host + nlen;
	}
	name[nlen] = '\0';
	if (*port != '\0' &&
	    (*port != ':' || port[1] == '\0' ||
	        strspn(port + 1, "0123456789") != strlen(port + 1)))
		return false;
	if (v6)
		return (inet_pton(AF_INET6, name, &a6) == 1 &&
		           IN6_IS_ADDR_LOOPBACK(&a6)) ||
		       strcasecmp(name, guard.listen_host) == 0;
	if (strcasecmp(name, "localhost") == 0 ||
	    (nlen > 10 && strcasecmp(name + nlen - 10, ".localhost") == 0))
		return true;
	if (inet_pton(AF_INET, name, &a4) == 1 &&
	    (ntohl(a4.s_addr) >> 24) == 127)
		return true;
	return strcasecmp(name, guard.listen_host) == 0 ||
	       admin_guard_listed(guard.cfg->admin_allow_hosts, name);
}

/* s for a log line: printable ASCII, at most 64 bytes. */
static void
admin_guard_escape(const char *s, char *out, size_t len)
{
	size_t n = 0;

	for (; *s != '\0' && n + 1 < len && n < 64; s++)
		out[n++] = (*s >= 0x20 && *s < 0x7f) ? *s : '?';
	out[n] = '\0';
}

bool
admin_guard_request(struct evhttp_request *req)
{
	struct admin_guard_conn *c = admin_guard_conn_of(req);
	const char *host =
	    evhttp_find_header(evhttp_request_get_input_headers(req), "Host");
	struct evbuffer *b;
	char shown[80];

	if (c != NULL)
		evtimer_del(c->deadline);
	/* HTTP/1.0 tools send none; browsers, which rebinding abuses,
	 * always do. */
	if (host == NULL || admin_guard_host_ok(host))
		return true;
	stat_add(&guard.counters.bad_hosts, 1);
	admin_guard_escape(host, shown, sizeof shown);
	log_info("admin: refused Host '%s'", shown);
	b = evbuffer_new();
	evbuffer_add_printf(b, "unknown Host; see [admin] allow_hosts\n");
	evhttp_add_header(evhttp_request_get_output_headers(req),
	    "Content-Type", "text/plain; charset=utf-8");
	evhttp_send_reply(req, 421, "Misdirected Request", b);
	evbuffer_free(b);
	return false;
}

void
admin_guard_set_closecb(struct evhttp_request *req,
    void (*fn)(struct evhttp_connection *, void *), void *arg)
{
	struct admin_guard_conn *c = admin_guard_conn_of(req);

	/* Every connection is made by admin_guard_bev. */
	if (c == NULL)
		fatalx("admin: a request on a connection the guard lost");
	else {
		c->closecb = fn;
		c->closearg = arg;
	}
}

void
admin_guard_replied(struct evhttp_request *req)
{
	struct admin_guard_conn *c = admin_guard_conn_of(req);

	if (c != NULL)
		admin_guard_arm(c);
}

struct admin_guard_counters *
admin_guard_counters(void)
{
	return &guard.counters;
}
