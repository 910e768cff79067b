/*
 * The admin thread: libevent's evhttp on an address of its own, answering
 * GET /status and /threads in JSON from the thread table, the settings and
 * the counters each module owns. It lives in app, not svc, because what it
 * reports is app's: the table of settings, the parsed config and the
 * process's uptime that stats keeps.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "accept.h"
#include "addr.h"
#include "admin.h"
#include "config.h"
#include "conn.h"
#include "counter.h"
#include "log.h"
#include "log_ring.h"
#include "logger.h"
#include "settings.h"
#include "stats.h"
#include "thread.h"
#include "tl_build.h"
#include "worker.h"

/* A request's headers and a GET's body are small: anything larger is not
 * an admin request. */
#define ADMIN_MAX_HEADERS 8192
#define ADMIN_MAX_BODY    1024
/* Seconds a client may take to send a request or read a reply. */
#define ADMIN_TIMEOUT 10

static struct {
	struct event_base *base;
	struct evhttp *http;
	const struct config *cfg;
	char name[ADDR_MAX];
} adm;

struct admin_page {
	const char *path;
	const char *type; /* Content-Type */
	void (*fn)(struct evbuffer *);
};

/* s as a JSON string, quotes included. */
static void
admin_json_str(struct evbuffer *b, const char *s)
{
	evbuffer_add(b, "\"", 1);
	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			evbuffer_add_printf(b, "\\%c", c);
		else if (c < 0x20)
			evbuffer_add_printf(b, "\\u%04x", c);
		else
			evbuffer_add(b, s, 1);
	}
	evbuffer_add(b, "\"", 1);
}

/* "name":"value" with a comma before all but the first. */
static void
admin_json_member(struct evbuffer *b, bool first, const char *k, const char *v)
{
	if (!first)
		evbuffer_add(b, ",", 1);
	admin_json_str(b, k);
	evbuffer_add(b, ":", 1);
	admin_json_str(b, v);
}

/* GET /status: who runs, since when, with which settings and threads. */
static void
admin_status(struct evbuffer *b)
{
	evbuffer_add_printf(b, "{\"served_by\":");
	admin_json_str(b, thread_self_name());
	evbuffer_add_printf(b,
	    ",\"version\":\"%s\",\"wire_version\":\"%s\",\"pid\":%d,"
	    "\"uptime\":%lld,\"settings\":{",
	    TL_VERSION, TL_WIRE_VERSION, (int)getpid(), stats_uptime());
	for (size_t i = 0; i < SETTINGS_COUNT; i++) {
		const struct setting *s = &settings[i];
		char key[128], *v = settings_format(adm.cfg, s, "");

		snprintf(key, sizeof key, "%s.%s", s->section, s->key);
		admin_json_member(b, i == 0, key, v);
		free(v);
	}
	evbuffer_add_printf(b, "},\"threads\":[");
	for (int i = 0; i < thread_count(); i++) {
		const struct thread *t = thread_at(i);

		evbuffer_add_printf(b, "%s{\"name\":", i == 0 ? "" : ",");
		admin_json_str(b, t->name);
		evbuffer_add_printf(b, ",\"role\":\"%s\",\"tid\":%d}",
		    thread_role_name(t->role), (int)t->tid);
	}
	evbuffer_add_printf(b, "]}\n");
}

/* A counter member of a thread's object. */
static void
admin_json_u64(struct evbuffer *b, const char *k, uint64_t v)
{
	evbuffer_add_printf(b, ",\"%s\":%llu", k, (unsigned long long)v);
}

/* What a thread's role counts, asked of the module that owns it. */
static void
admin_thread_counters(struct evbuffer *b, const struct thread *t)
{
	switch (t->role) {
	case ROLE_WORKER: {
		struct conn_counters *c = worker_counters(t->index);

		admin_json_u64(b, "connections", stat_get(&c->curr_conns));
		admin_json_u64(
		    b, "total_connections", stat_get(&c->total_conns));
		admin_json_u64(b, "commands", stat_get(&c->cmds));
		admin_json_u64(b, "bytes_read", stat_get(&c->bytes_read));
		admin_json_u64(b, "bytes_written", stat_get(&c->bytes_written));
		break;
	}
	case ROLE_LOGGER:
		admin_json_u64(b, "lines_written",
		    stat_get(&logger_counters()->lines_written));
		admin_json_u64(b, "lines_failed",
		    stat_get(&logger_counters()->lines_failed));
		break;
	case ROLE_ACCEPT:
		admin_json_u64(
		    b, "accepted", stat_get(&accept_counters()->accepted));
		admin_json_u64(
		    b, "rejected", stat_get(&accept_counters()->rejected));
		break;
	default:
		break;
	}
}

/* GET /threads: every thread, its CPU time, level and counters, counted
 * since start ("stats reset" changes only what stats shows). */
static void
admin_threads(struct evbuffer *b)
{
	evbuffer_add_printf(b, "{\"served_by\":");
	admin_json_str(b, thread_self_name());
	evbuffer_add_printf(b, ",\"threads\":[");
	for (int i = 0; i < thread_count(); i++) {
		const struct thread *t = thread_at(i);
		double user = 0, sys = 0;

		stats_thread_cpu(t->tid, &user, &sys);
		evbuffer_add_printf(b, "%s{\"name\":", i == 0 ? "" : ",");
		admin_json_str(b, t->name);
		evbuffer_add_printf(b,
		    ",\"role\":\"%s\",\"tid\":%d,\"cpu_user\":%.6f,"
		    "\"cpu_system\":%.6f,\"log_level\":\"%s\"",
		    thread_role_name(t->role), (int)t->tid, user, sys,
		    log_level_name(atomic_load_explicit(
		        &t->log_level, memory_order_relaxed)));
		admin_json_u64(b, "log_dropped", log_ring_dropped(t->ring));
		admin_thread_counters(b, t);
		evbuffer_add(b, "}", 1);
	}
	evbuffer_add_printf(b, "]}\n");
}

static const struct admin_page admin_pages[] = {
    {"/status", "application/json", admin_status},
    {"/threads", "application/json", admin_threads},
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

/* Every request: find the page, check the method, answer. */
static void
admin_cb(struct evhttp_request *req, void *arg)
{
	struct evkeyvalq *out = evhttp_request_get_output_headers(req);
	const char *path =
	    evhttp_uri_get_path(evhttp_request_get_evhttp_uri(req));
	const struct admin_page *page = NULL;
	enum evhttp_cmd_type method = evhttp_request_get_command(req);
	struct evbuffer *b;

	evhttp_add_header(out, "X-Served-By", thread_self_name());
	for (size_t i = 0; i < sizeof admin_pages / sizeof admin_pages[0]; i++)
		if (path != NULL && strcmp(path, admin_pages[i].path) == 0)
			page = &admin_pages[i];
	if (page == NULL) {
		admin_reply_text(req, HTTP_NOTFOUND, "Not Found", "not found");
		return;
	}
	if (method != EVHTTP_REQ_GET && method != EVHTTP_REQ_HEAD) {
		evhttp_add_header(out, "Allow", "GET, HEAD");
		admin_reply_text(req, HTTP_BADMETHOD, "Method Not Allowed",
		    "method not allowed");
		return;
	}
	b = evbuffer_new();
	page->fn(b);
	evhttp_add_header(out, "Content-Type", page->type);
	evhttp_send_reply(req, HTTP_OK, "OK", b);
	evbuffer_free(b);
	log_debug("admin: %s %s 200", method == EVHTTP_REQ_GET ? "GET" : "HEAD",
	    page->path);
}

int
admin_init(const struct config *cfg, char *err, size_t errlen)
{
	struct evhttp_bound_socket *bound;
	struct sockaddr_storage ss;
	socklen_t sslen = sizeof ss;
	char host[256];
	int port;

	adm.cfg = cfg;
	if (addr_split(cfg->admin_listen, CONFIG_ADMIN_PORT, host, sizeof host,
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
	return 0;
}

void
admin_free(void)
{
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
	log_notice("admin stopped listening");
}

void
admin_stop(void)
{
	if (adm.base != NULL)
		event_base_loopbreak(adm.base);
}
