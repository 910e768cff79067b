/* The admin thread: HTTP for operators (/status, /threads, /metrics...).
 *
 * libevent's evhttp on an address of its own, answering GET /status and
 * /threads in JSON and /metrics for Prometheus, from the thread table, the
 * settings and the counters each module owns, /history, the last 16 minutes
 * of them (history.c), /logs, the log lines of a watch filter as Server-Sent
 * Events, and /, a dashboard of them all. It lives in
 * obs, above svc, because it reports every floor's figures.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "addr.h"
#include "admin.h"
#include "admin_guard.h"
#include "history.h"
#include "log.h"
#include "log_filter.h"
#include "obs.h"
#include "json.h"
#include "obuf.h"
#include "prom.h"
#include "proto_slowlog.h"
#include "stats_hotkeys.h"
#include "thread.h"
#include "watch.h"

/* A request's headers and a GET's body are small: anything larger is not
 * an admin request. */
#define ADMIN_MAX_HEADERS 8192
#define ADMIN_MAX_BODY    1024
/* Seconds a client may take to send a request or read a reply. */
#define ADMIN_TIMEOUT 10
/* Log streams open at once: each holds a watcher and its buffer. */
#define ADMIN_STREAMS 16
/* Seconds between keep-alive comments on a log stream: a quiet stream
 * still writes, and so finds out when its client has gone. */
#define ADMIN_KEEPALIVE_S 3

/* One GET /logs: a watcher whose lines the admin thread sends as
 * Server-Sent Events. */
struct admin_stream {
	struct evhttp_request *req; /* NULL: the slot is free */
	struct watcher *w;
	struct event *wake; /* activated by the logger thread */
	struct event *keepalive;
	struct obuf out;
};

static struct {
	struct event_base *base;
	struct evhttp *http;
	const struct obs_config *cfg;
	char name[ADDR_MAX];
	struct admin_stream streams[ADMIN_STREAMS];
} adm;

struct admin_page {
	const char *path;
	const char *type; /* Content-Type */
	void (*fn)(struct evbuffer *);
	/* Instead of fn: a reply that the page sends itself (a stream). */
	void (*start)(struct evhttp_request *, struct evkeyvalq *);
	bool open; /* served without the token: Prometheus scrapes it */
	/* Also takes the token as ?token=: EventSource and a browser's
	 * address bar cannot send headers. */
	bool query_token;
	/* Instead of fn: a page that reads the query; NULL, or why the
	 * query is refused (400). */
	const char *(*qfn)(struct evbuffer *, struct evkeyvalq *);
};

/* A short plain-text reply: errors. */
static void
admin_reply_text(
    struct evhttp_request *req, int code, const char *reason, const char *text)
{
	struct evbuffer *b = evbuffer_new();

	evhttp_add_header(evhttp_request_get_output_headers(req),
	    "Content-Type", "text/plain; charset=utf-8");
	evbuffer_add_printf(b, "%s\n", text);
	evhttp_send_reply(req, code, reason, b);
	evbuffer_free(b);
}

/* Whether h is the configured token, compared in time that does not
 * depend on where they differ. */
static bool
admin_token_is(const char *h)
{
	const char *token = adm.cfg->admin_token;
	size_t n;
	unsigned char diff = 0;

	if (h == NULL || (n = strlen(token)) != strlen(h))
		return false;
	for (size_t i = 0; i < n; i++)
		diff |= (unsigned char)(token[i] ^ h[i]);
	return diff == 0;
}

/* Whether req carries "Authorization: Bearer TOKEN" with the configured
 * token, or, for a page that takes it so, "?token=TOKEN". */
static bool
admin_authorized(struct evhttp_request *req, const struct admin_page *page,
    struct evkeyvalq *query)
{
	const char *h;

	if (adm.cfg->admin_token == NULL)
		return true;
	if (page->query_token &&
	    admin_token_is(evhttp_find_header(query, "token")))
		return true;
	h = evhttp_find_header(
	    evhttp_request_get_input_headers(req), "Authorization");
	if (h == NULL || strncmp(h, "Bearer ", 7) != 0)
		return false;
	return admin_token_is(h + 7);
}

/* Give the stream's slot back: no more wake-ups, no more lines. */
static void
admin_stream_release(struct admin_stream *s)
{
	/* The logger wakes under the watchers' lock, which watch_stop
	 * takes: after it, the event is no longer activated. */
	watch_stop(s->w);
	event_free(s->wake);
	event_free(s->keepalive);
	obuf_free(&s->out);
	s->w = NULL;
	s->req = NULL;
}

/* The client went (or the connection failed): the request is gone. */
static void
admin_stream_closed(struct evhttp_connection *evcon, void *arg)
{
	struct admin_stream *s = arg;
	struct evhttp_request *req = s->req;

	(void)evcon;
	if (req != NULL) {
		admin_stream_release(s);
		/* evhttp left the unfinished reply to us, detached from the
		 * connection: ending it frees it. */
		evhttp_send_reply_end(req);
		log_debug("admin: /logs stream closed");
	}
}

/* The watcher's wake hook, in the logger thread under the watchers' lock:
 * only hand the work to the admin thread's loop. */
static void
admin_stream_wake(void *arg)
{
	struct admin_stream *s = arg;

	event_active(s->wake, EV_READ, 1);
}

/* The last chunk reached the kernel: what the watcher held back while it
 * was on its way can follow. */
static void
admin_stream_sent(struct evhttp_connection *evcon, void *arg)
{
	struct admin_stream *s = arg;

	(void)evcon;
	if (s->req != NULL)
		event_active(s->wake, EV_READ, 1);
}

/* In the admin thread: move the watcher's lines to the client as events,
 * unless it has not read the last ones; the watcher then bounds them and
 * says how many it skipped. */
static void
admin_stream_pull(evutil_socket_t fd, short what, void *arg)
{
	struct admin_stream *s = arg;
	struct evhttp_connection *evcon = evhttp_request_get_connection(s->req);
	struct evbuffer *chunk;
	const char *p, *end, *nl;

	(void)fd;
	(void)what;
	if (evcon == NULL ||
	    evbuffer_get_length(bufferevent_get_output(
	        evhttp_connection_get_bufferevent(evcon))) >= WATCH_BUF_MAX)
		return;
	watch_pull(s->w, &s->out);
	if (obuf_pending(&s->out) == 0)
		return;
	chunk = evbuffer_new();
	p = s->out.data + s->out.off;
	end = s->out.data + s->out.len;
	/* The lines are whole and escaped: one line, one event. */
	for (; p < end && (nl = memchr(p, '\n', (size_t)(end - p))) != NULL;
	     p = nl + 1) {
		evbuffer_add(chunk, "data: ", 6);
		evbuffer_add(chunk, p, (size_t)(nl - p));
		evbuffer_add(chunk, "\n\n", 2);
	}
	obuf_consume(&s->out, (size_t)(p - (s->out.data + s->out.off)));
	if (evbuffer_get_length(chunk) > 0)
		evhttp_send_reply_chunk_with_cb(
		    s->req, chunk, admin_stream_sent, s);
	evbuffer_free(chunk);
}

/* Every ADMIN_KEEPALIVE_S: a comment line, which EventSource ignores.
 * A client that closed its end has sent a FIN that nothing reads while
 * the reply streams: seen, the socket is shut down so that this write
 * fails and evhttp closes the connection, giving the slot back. */
static void
admin_stream_keepalive(evutil_socket_t unused, short what, void *arg)
{
	static const char comment[] = ": keep-alive\n\n";
	struct admin_stream *s = arg;
	struct evhttp_connection *evcon = evhttp_request_get_connection(s->req);
	struct bufferevent *bev;
	struct evbuffer *chunk;
	evutil_socket_t fd;
	char c;

	(void)unused;
	(void)what;
	if (evcon == NULL)
		return;
	bev = evhttp_connection_get_bufferevent(evcon);
	fd = bufferevent_getfd(bev);
	if (fd != -1 && recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT) == 0) {
		log_debug("admin: /logs client gone");
		shutdown(fd, SHUT_RDWR);
	}
	if (evbuffer_get_length(bufferevent_get_output(bev)) > 0)
		return;
	chunk = evbuffer_new();
	evbuffer_add(chunk, comment, sizeof comment - 1);
	evhttp_send_reply_chunk(s->req, chunk);
	evbuffer_free(chunk);
}

/* GET /logs?level=L&thread=NAME|ROLE&category=general|access|slow: the log
 * lines the filter lets through, live, as Server-Sent Events. */
static void
admin_logs(struct evhttp_request *req, struct evkeyvalq *query)
{
	static const char *const keys[] = {"level", "thread", "category"};
	struct evkeyvalq *out = evhttp_request_get_output_headers(req);
	const struct timeval write_timeout = {ADMIN_TIMEOUT, 0};
	const struct timeval keepalive = {ADMIN_KEEPALIVE_S, 0};
	struct evhttp_connection *evcon;
	struct admin_stream *s = NULL;
	struct log_filter f;
	char text[256], err[256];
	size_t n = 0;

	text[0] = '\0';
	for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
		const char *v = evhttp_find_header(query, keys[i]);

		if (v != NULL && *v != '\0')
			n += (size_t)snprintf(text + n, sizeof text - n,
			    "%s%s=%s", n > 0 ? " " : "", keys[i], v);
		if (n >= sizeof text) {
			admin_reply_text(req, HTTP_BADREQUEST, "Bad Request",
			    "filter too long");
			return;
		}
	}
	if (log_filter_parse(&f, text, n, err, sizeof err) == -1) {
		admin_reply_text(req, HTTP_BADREQUEST, "Bad Request", err);
		return;
	}
	for (size_t i = 0; i < ADMIN_STREAMS && s == NULL; i++)
		if (adm.streams[i].req == NULL)
			s = &adm.streams[i];
	if (s == NULL) {
		admin_reply_text(req, HTTP_SERVUNAVAIL, "Service Unavailable",
		    "too many log streams");
		log_info(
		    "admin: /logs refused: %d streams open", ADMIN_STREAMS);
		return;
	}
	s->req = req;
	obuf_init(&s->out, NULL);
	s->wake = event_new(adm.base, -1, 0, admin_stream_pull, s);
	s->keepalive =
	    event_new(adm.base, -1, EV_PERSIST, admin_stream_keepalive, s);
	event_add(s->keepalive, &keepalive);
	evcon = evhttp_request_get_connection(req);
	admin_guard_set_closecb(req, admin_stream_closed, s);
	/* A stream is quiet while no line passes its filter: no read
	 * timeout, but a client that stops reading still times out. */
	bufferevent_set_timeouts(
	    evhttp_connection_get_bufferevent(evcon), NULL, &write_timeout);
	evhttp_add_header(out, "Content-Type", "text/event-stream");
	evhttp_add_header(out, "Cache-Control", "no-cache");
	evhttp_send_reply_start(req, HTTP_OK, "OK");
	s->w = watch_start(&f, admin_stream_wake, s);
	log_debug("admin: /logs stream '%s' opened", text);
}

/* GET /slowlog?n=N: the last N slow requests (10 unless said), newest
 * first. */
static const char *
admin_slowlog(struct evbuffer *b, struct evkeyvalq *query)
{
	const char *v = evhttp_find_header(query, "n");
	unsigned long n = 10;
	char *end;

	if (v != NULL) {
		n = strtoul(v, &end, 10);
		if (*v < '0' || *v > '9' || *end != '\0' ||
		    n > PROTO_SLOWLOG_MAX)
			return "n must be a number from 0 to 128";
	}
	json_slowlog(b, n);
	return NULL;
}

/* At stop: end every stream, in the admin thread, before evhttp goes. */
static void
admin_streams_end(void)
{
	for (size_t i = 0; i < ADMIN_STREAMS; i++) {
		struct admin_stream *s = &adm.streams[i];
		struct evhttp_request *req = s->req;

		if (req == NULL)
			continue;
		admin_guard_set_closecb(req, NULL, NULL);
		admin_stream_release(s);
		evhttp_send_reply_end(req);
	}
}

/* GET /hotkeys?n=N: each worker's hot keys, N of each measure (10 when
 * not told). */
static const char *
admin_hotkeys(struct evbuffer *b, struct evkeyvalq *query)
{
	const char *v = evhttp_find_header(query, "n");
	unsigned n = STATS_HOTKEYS_DEFAULT;

	if (v != NULL && !stats_hotkeys_arg(v, strlen(v), &n))
		return "n must be a number from 1";
	stats_hotkeys_json(b, n);
	return NULL;
}

/* GET /history?since=T: the samples after T. */
static const char *
admin_history(struct evbuffer *b, struct evkeyvalq *query)
{
	history_json(b, query);
	return NULL;
}

/* GET /: the dashboard, one page with all it needs inline. */
static void
admin_dashboard(struct evbuffer *b)
{
	evbuffer_add_reference(
	    b, admin_dashboard_html, admin_dashboard_html_len, NULL, NULL);
}

static const struct admin_page admin_pages[] = {
    {"/status", "application/json", json_status, NULL, false, false, NULL},
    {"/threads", "application/json", json_threads, NULL, false, false, NULL},
    {"/metrics", "text/plain; version=0.0.4; charset=utf-8", prom_metrics, NULL,
        true, false, NULL},
    {"/logs", "text/event-stream", NULL, admin_logs, false, true, NULL},
    {"/history", "application/json", NULL, NULL, false, false, admin_history},
    {"/slowlog", "application/json", NULL, NULL, false, false, admin_slowlog},
    {"/hotkeys", "application/json", NULL, NULL, false, false, admin_hotkeys},
    {"/", "text/html; charset=utf-8", admin_dashboard, NULL, false, true, NULL},
};

/* Find the page, check the method and the token, answer; true when the
 * page went on as a stream. */
static bool
admin_serve(struct evhttp_request *req)
{
	struct evkeyvalq *out = evhttp_request_get_output_headers(req);
	const char *path =
	    evhttp_uri_get_path(evhttp_request_get_evhttp_uri(req));
	const struct admin_page *page = NULL;
	enum evhttp_cmd_type method = evhttp_request_get_command(req);
	struct evkeyvalq query;
	const char *why = NULL;
	struct evbuffer *b;

	evhttp_add_header(out, "X-Served-By", thread_self_name());
	for (size_t i = 0; i < sizeof admin_pages / sizeof admin_pages[0]; i++)
		if (path != NULL && strcmp(path, admin_pages[i].path) == 0)
			page = &admin_pages[i];
	if (page == NULL) {
		admin_reply_text(req, HTTP_NOTFOUND, "Not Found", "not found");
		return false;
	}
	if (method != EVHTTP_REQ_GET && method != EVHTTP_REQ_HEAD) {
		evhttp_add_header(out, "Allow", "GET, HEAD");
		admin_reply_text(req, HTTP_BADMETHOD, "Method Not Allowed",
		    "method not allowed");
		return false;
	}
	evhttp_parse_query_str(
	    evhttp_uri_get_query(evhttp_request_get_evhttp_uri(req)), &query);
	if (!page->open && !admin_authorized(req, page, &query)) {
		evhttp_add_header(out, "WWW-Authenticate", "Bearer");
		admin_reply_text(
		    req, 401, "Unauthorized", "a bearer token is required");
		log_info("admin: %s refused: no valid token", page->path);
		evhttp_clear_headers(&query);
		return false;
	}
	if (page->start != NULL) {
		page->start(req, &query);
		evhttp_clear_headers(&query);
		return true;
	}
	b = evbuffer_new();
	if (page->qfn != NULL)
		why = page->qfn(b, &query);
	else
		page->fn(b);
	evhttp_clear_headers(&query);
	if (why != NULL) {
		evbuffer_free(b);
		admin_reply_text(req, HTTP_BADREQUEST, "Bad Request", why);
		log_debug("admin: %s refused: %s", page->path, why);
		return false;
	}
	evhttp_add_header(out, "Content-Type", page->type);
	evhttp_send_reply(req, HTTP_OK, "OK", b);
	evbuffer_free(b);
	log_debug("admin: %s %s 200", method == EVHTTP_REQ_GET ? "GET" : "HEAD",
	    page->path);
	return false;
}

/* Every request: its Host checked, answered; a connection that goes on
 * to a next request has a new deadline for it. */
static void
admin_cb(struct evhttp_request *req, void *arg)
{
	(void)arg;
	if (!admin_guard_request(req) || !admin_serve(req))
		admin_guard_replied(req);
}

int
admin_init(char *err, size_t errlen)
{
	const struct obs_config *cfg = obs_config();

	struct evhttp_bound_socket *bound;
	struct sockaddr_storage ss;
	socklen_t sslen = sizeof ss;
	char host[256];
	int port;

	adm.cfg = cfg;
	if (addr_split(cfg->admin_listen, cfg->admin_port, host, sizeof host,
	        &port) == -1) {
		snprintf(err, errlen, "bad admin listen address '%s'",
		    cfg->admin_listen);
		return -1;
	}
	/* main stops it from its own thread: the base keeps its locks. */
	if ((adm.base = event_base_new()) == NULL ||
	    (adm.http = evhttp_new(adm.base)) == NULL) {
		snprintf(err, errlen, "cannot create the admin event base");
		return -1;
	}
	evhttp_set_max_headers_size(adm.http, ADMIN_MAX_HEADERS);
	evhttp_set_max_body_size(adm.http, ADMIN_MAX_BODY);
	evhttp_set_timeout(adm.http, ADMIN_TIMEOUT);
	/* The methods evhttp knows reach admin_cb, which refuses all but
	 * GET and HEAD with a 405 that names the thread. */
	evhttp_set_allowed_methods(adm.http,
	    EVHTTP_REQ_GET | EVHTTP_REQ_HEAD | EVHTTP_REQ_POST |
	        EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE | EVHTTP_REQ_OPTIONS |
	        EVHTTP_REQ_TRACE | EVHTTP_REQ_CONNECT | EVHTTP_REQ_PATCH);
	evhttp_set_gencb(adm.http, admin_cb, NULL);
	if ((bound = evhttp_bind_socket_with_handle(
	         adm.http, host, (ev_uint16_t)port)) == NULL) {
		snprintf(err, errlen, "cannot listen on %s for admin: %m",
		    cfg->admin_listen);
		return -1;
	}
	/* Port 0 asks the kernel; record the port it gave. */
	getsockname(
	    evhttp_bound_socket_get_fd(bound), (struct sockaddr *)&ss, &sslen);
	addr_format((struct sockaddr *)&ss, sslen, adm.name, sizeof adm.name);
	history_init(adm.base);
	return admin_guard_init(
	    adm.base, adm.http, bound, cfg, host, err, errlen);
}

void
admin_free(void)
{
	admin_guard_free();
	history_free();
	if (adm.http != NULL)
		evhttp_free(adm.http);
	adm.http = NULL;
	if (adm.base != NULL)
		event_base_free(adm.base);
	adm.base = NULL;
}

void
admin_main(struct thread *self)
{
	log_notice("serving admin HTTP at %s", adm.name);
	thread_ready();
	event_base_dispatch(adm.base);
	admin_streams_end();
	log_notice("admin stopped listening");
}

void
admin_stop(void)
{
	if (adm.base != NULL)
		event_base_loopbreak(adm.base);
}
