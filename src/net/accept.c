/* The accept thread: listeners, and each new connection to a worker. */
#include <errno.h>
#include <pthread.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/listener.h>

#include "accept.h"
#include "addr.h"
#include "counter.h"
#include "log.h"
#include "obuf.h"
#include "thread.h"
#include "worker.h"

#define ACCEPT_MAX_LISTENERS (ACCEPT_MAX_SPECS * 2)
/* Retry interval while out of file descriptors, in case no connection of
 * ours closes to free one. */
#define ACCEPT_RETRY_SECS 1

static const char accept_busy_reply[] = "ERROR Too many open connections\r\n";

static struct {
	struct event_base *base;
	struct evconnlistener *listeners[ACCEPT_MAX_LISTENERS];
	char names[ACCEPT_MAX_LISTENERS][ADDR_MAX];
	int nlisteners;
	int max_conns;
	int backlog;
	int nworkers;
	unsigned next_worker;
	_Atomic int open; /* handed to workers, not yet closed */
	_Atomic int paused;
	struct accept_counters counters;
	/* Pausing repeats as each freed descriptor is taken again: one line
	 * per minute at most, with the pauses so far (also in stats). */
	struct timespec pause_logged_at;
	struct timespec paused_at; /* when the pause going on began */
	bool pause_logged;
	struct event *resume;
	struct thread *thread;
	/* Guards the listeners against "stats conns" readers at shutdown. */
	pthread_mutex_t lock;
} acc = {.lock = PTHREAD_MUTEX_INITIALIZER};

static void accept_cb(
    struct evconnlistener *, evutil_socket_t, struct sockaddr *, int, void *);
static void accept_error_cb(struct evconnlistener *, void *);
static void accept_resume_cb(evutil_socket_t, short, void *);

/* Bind one listen spec; each address it resolves to gets a listener. */
static int
accept_bind(const char *spec, int defport, char *err, size_t errlen)
{
	struct addrinfo hints = {.ai_family = AF_UNSPEC,
	    .ai_socktype = SOCK_STREAM,
	    .ai_flags = AI_PASSIVE};
	struct addrinfo *res, *ai;
	char host[256], port[16];
	int p, error;

	if (addr_split(spec, defport, host, sizeof host, &p) == -1) {
		snprintf(err, errlen, "bad listen address '%s'", spec);
		return -1;
	}
	snprintf(port, sizeof port, "%d", p);
	if ((error = getaddrinfo(host, port, &hints, &res)) != 0) {
		snprintf(err, errlen, "cannot resolve listen address %s: %s",
		    spec, gai_strerror(error));
		return -1;
	}
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		unsigned flags = LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE |
		                 LEV_OPT_CLOSE_ON_EXEC;
		struct evconnlistener *l;
		struct sockaddr_storage ss;
		socklen_t sslen = sizeof ss;

		if (acc.nlisteners == ACCEPT_MAX_LISTENERS) {
			snprintf(err, errlen, "too many listen addresses");
			goto fail;
		}
		if (ai->ai_family == AF_INET6)
			flags |= LEV_OPT_BIND_IPV6ONLY;
		l = evconnlistener_new_bind(acc.base, accept_cb, NULL, flags,
		    acc.backlog, ai->ai_addr, (int)ai->ai_addrlen);
		if (l == NULL) {
			addr_format(
			    ai->ai_addr, ai->ai_addrlen, host, sizeof host);
			snprintf(err, errlen, "cannot listen on %s: %s", host,
			    strerror(errno));
			goto fail;
		}
		evconnlistener_set_error_cb(l, accept_error_cb);
		/* Port 0 asks the kernel; record the port it gave. */
		getsockname(
		    evconnlistener_get_fd(l), (struct sockaddr *)&ss, &sslen);
		addr_format((struct sockaddr *)&ss, sslen,
		    acc.names[acc.nlisteners], ADDR_MAX);
		acc.listeners[acc.nlisteners++] = l;
	}
	freeaddrinfo(res);
	return 0;
fail:
	freeaddrinfo(res);
	return -1;
}

/* Listen on the UNIX socket path with mode mask; a stale socket left
 * there is removed first, as memcached does, anything else is not. */
static int
accept_bind_unix(const char *path, int mask, char *err, size_t errlen)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	struct evconnlistener *l;
	struct stat st;

	if (strlen(path) >= sizeof sun.sun_path) {
		snprintf(err, errlen, "UNIX socket path too long: %s", path);
		return -1;
	}
	strcpy(sun.sun_path, path);
	if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode))
		unlink(path);
	l = evconnlistener_new_bind(acc.base, accept_cb, NULL,
	    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, acc.backlog,
	    (struct sockaddr *)&sun, (int)sizeof sun);
	if (l == NULL) {
		snprintf(err, errlen, "cannot listen on %s: %s", path,
		    strerror(errno));
		return -1;
	}
	/* chmod rather than umask: the logger thread already runs, and a
	 * umask is the whole process's. */
	if (chmod(path, (mode_t)mask) == -1) {
		snprintf(err, errlen, "cannot set the mode of %s: %s", path,
		    strerror(errno));
		evconnlistener_free(l);
		return -1;
	}
	evconnlistener_set_error_cb(l, accept_error_cb);
	snprintf(acc.names[acc.nlisteners], ADDR_MAX, "unix:%s", path);
	acc.listeners[acc.nlisteners++] = l;
	return 0;
}

int
accept_init(const struct accept_config *cfg, char *err, size_t errlen)
{
	acc.max_conns = cfg->max_conns;
	acc.backlog = cfg->backlog > 0 ? cfg->backlog : ACCEPT_BACKLOG;
	acc.nworkers = thread_role_count(ROLE_WORKER);
	acc.thread = thread_get(ROLE_ACCEPT, 0);
	/* Workers wake this base from their threads: it keeps its locks. */
	acc.base = event_base_new();
	if (acc.base == NULL) {
		snprintf(err, errlen, "cannot create the accept event base");
		return -1;
	}
	acc.resume = event_new(acc.base, -1, 0, accept_resume_cb, NULL);
	if (acc.resume == NULL) {
		snprintf(err, errlen, "out of memory for events");
		return -1;
	}
	if (cfg->unix_socket != NULL)
		return accept_bind_unix(
		    cfg->unix_socket, cfg->unix_mask, err, errlen);
	if (cfg->nlisten == 0)
		return accept_bind("127.0.0.1", cfg->port, err, errlen);
	for (int i = 0; i < cfg->nlisten; i++)
		if (accept_bind(cfg->listen[i], cfg->port, err, errlen) == -1)
			return -1;
	return 0;
}

void
accept_free(void)
{
	for (int i = 0; i < acc.nlisteners; i++)
		evconnlistener_free(acc.listeners[i]);
	acc.nlisteners = 0;
	if (acc.resume != NULL)
		event_free(acc.resume);
	acc.resume = NULL;
	if (acc.base != NULL)
		event_base_free(acc.base);
	acc.base = NULL;
}

void
accept_main(struct thread *self)
{
	for (int i = 0; i < acc.nlisteners; i++)
		log_notice("listening on %s", acc.names[i]);
	thread_ready();
	event_base_dispatch(acc.base);
	pthread_mutex_lock(&acc.lock);
	for (int i = 0; i < acc.nlisteners; i++)
		evconnlistener_free(acc.listeners[i]);
	log_notice("stopped listening (%d listeners closed)", acc.nlisteners);
	acc.nlisteners = 0;
	pthread_mutex_unlock(&acc.lock);
}

void
accept_stop(void)
{
	event_base_loopbreak(acc.base);
}

static void
accept_reject(evutil_socket_t fd, const char *peer)
{
	/* Counted first, so a client that sees the close also sees it in
	 * stats. Best effort: a fresh socket has room for one short line. */
	stat_add(&acc.counters.rejected, 1);
	(void)!write(fd, accept_busy_reply, sizeof accept_busy_reply - 1);
	close(fd);
	log_warnx("conn=%d peer=%s rejected: too many open connections (%d)",
	    (int)fd, peer, acc.max_conns);
}

static void
accept_cb(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa,
    int salen, void *arg)
{
	struct thread *w;
	char peer[ADDR_MAX];
	int idx;

	addr_format(sa, (socklen_t)salen, peer, sizeof peer);
	if (atomic_fetch_add(&acc.open, 1) >= acc.max_conns) {
		atomic_fetch_sub(&acc.open, 1);
		accept_reject(fd, peer);
		return;
	}
	/* Replies go out as soon as they are written, as memcached's: with
	 * Nagle, a pipeline's second reply waits for the client's delayed
	 * ACK of the first, 40 ms. */
	if (sa->sa_family == AF_INET || sa->sa_family == AF_INET6)
		(void)setsockopt(
		    fd, IPPROTO_TCP, TCP_NODELAY, &(int){1}, sizeof(int));
	idx = (int)(acc.next_worker++ % (unsigned)acc.nworkers);
	w = thread_get(ROLE_WORKER, idx);
	stat_add(&acc.counters.accepted, 1);
	log_info(
	    "conn=%d peer=%s accepted, handing to %s", (int)fd, peer, w->name);
	worker_dispatch(idx, fd, sa, (socklen_t)salen);
}

static void
accept_pause(void)
{
	struct timeval tv = {ACCEPT_RETRY_SECS, 0};
	struct timespec now;

	for (int i = 0; i < acc.nlisteners; i++)
		evconnlistener_disable(acc.listeners[i]);
	atomic_store(&acc.paused, 1);
	stat_add(&acc.counters.pauses, 1);
	clock_gettime(CLOCK_MONOTONIC, &now);
	acc.paused_at = now;
	if (!acc.pause_logged ||
	    now.tv_sec - acc.pause_logged_at.tv_sec >= 60) {
		log_warnx("out of file descriptors with %d connections open: "
		          "pausing accept until one closes (%llu pauses in "
		          "all, at most one line a minute)",
		    atomic_load(&acc.open),
		    (unsigned long long)stat_get(&acc.counters.pauses));
		acc.pause_logged_at = now;
		acc.pause_logged = true;
	}
	event_add(acc.resume, &tv);
}

static void
accept_error_cb(struct evconnlistener *l, void *arg)
{
	int error = EVUTIL_SOCKET_ERROR();

	switch (error) {
	case EMFILE:
	case ENFILE:
	case ENOBUFS:
	case ENOMEM:
		/* Pause, or the listener stays readable and we spin. */
		accept_pause();
		break;
	default:
		errno = error;
		log_warn("accept failed");
	}
}

static void
accept_resume_cb(evutil_socket_t fd, short what, void *arg)
{
	struct timespec now;

	if (!atomic_exchange(&acc.paused, 0))
		return;
	clock_gettime(CLOCK_MONOTONIC, &now);
	stat_add(&acc.counters.paused_us,
	    (uint64_t)((now.tv_sec - acc.paused_at.tv_sec) * 1000000 +
	               (now.tv_nsec - acc.paused_at.tv_nsec) / 1000));
	event_del(acc.resume);
	for (int i = 0; i < acc.nlisteners; i++)
		evconnlistener_enable(acc.listeners[i]);
	log_info("resuming accept");
}

void
accept_conn_closed(void)
{
	atomic_fetch_sub(&acc.open, 1);
	if (atomic_load(&acc.paused))
		event_active(acc.resume, EV_TIMEOUT, 1);
}

int
accept_paused(void)
{
	return atomic_load(&acc.paused);
}

const char *
accept_listener(int i)
{
	return i >= 0 && i < acc.nlisteners ? acc.names[i] : NULL;
}

struct accept_counters *
accept_counters(void)
{
	return &acc.counters;
}

void
accept_stats_conns(struct obuf *out)
{
	pthread_mutex_lock(&acc.lock);
	for (int i = 0; i < acc.nlisteners; i++) {
		int fd = evconnlistener_get_fd(acc.listeners[i]);
		struct sockaddr_storage ss;
		socklen_t sslen = sizeof ss;
		char name[ADDR_STATS_MAX] = "?:<AF 0>";

		if (getsockname(fd, (struct sockaddr *)&ss, &sslen) == 0)
			addr_format_stats(
			    (struct sockaddr *)&ss, sslen, name, sizeof name);
		obuf_printf(out,
		    "STAT %d:addr %s\r\n"
		    "STAT %d:state conn_listening\r\n"
		    "STAT %d:thread %s\r\n",
		    fd, name, fd, fd, acc.thread->name);
	}
	pthread_mutex_unlock(&acc.lock);
}
