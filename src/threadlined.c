/* threadlined: start-up, signals and shutdown. The main thread keeps the
 * program's name; every other thread comes from the services table. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/thread.h>

#include "accept.h"
#include "cache.h"
#include "config.h"
#include "conn.h"
#include "daemon.h"
#include "log.h"
#include "logger.h"
#include "maint.h"
#include "privdrop.h"
#include "proto_text.h"
#include "service.h"
#include "stats.h"
#include "tl_build.h"
#include "worker.h"
#include "xmalloc.h"

static struct event_base *main_base;

/* Route libevent's own warnings into our log, under the calling thread. */
static void
main_libevent_log(int severity, const char *msg)
{
	switch (severity) {
	case EVENT_LOG_DEBUG:
		log_debug("libevent: %s", msg);
		break;
	case EVENT_LOG_MSG:
		log_info("libevent: %s", msg);
		break;
	case EVENT_LOG_WARN:
		log_warnx("libevent: %s", msg);
		break;
	default:
		log_error("libevent: %s", msg);
	}
}

static void
main_signal_cb(evutil_socket_t sig, short what, void *arg)
{
	switch (sig) {
	case SIGHUP:
	case SIGUSR1:
		log_notice("received SIG%s, reopening the log file",
		    sigabbrev_np(sig));
		logger_reopen();
		break;
	default:
		log_notice("received SIG%s, shutting down", sigabbrev_np(sig));
		event_base_loopbreak(main_base);
	}
}

/* In the foreground the whole log goes to stderr unless it goes
 * somewhere else: under systemd stderr is the journal, and a second copy
 * of every line would cost the logger and the reader. Errors always reach
 * stderr. */
static bool
main_log_to_stderr(const struct config *cfg)
{
	return !cfg->daemonize && cfg->log_file == NULL && !cfg->log_syslog &&
	       !cfg->log_journald;
}

/* Relative paths would break once a daemon leaves its directory. */
static void
main_absolute(char **path)
{
	char cwd[4096], *abs;

	if (*path == NULL || **path == '/')
		return;
	if (getcwd(cwd, sizeof cwd) == NULL)
		return;
	xasprintf(&abs, "%s/%s", cwd, *path);
	free(*path);
	*path = abs;
}

/* Read settings; exits 2 on a bad one, 0 after --help or --version. */
static void
main_configure(struct config *cfg, int argc, char **argv)
{
	const char *file = config_find_file_arg(argc, argv);
	char err[512];
	int r;

	config_defaults(cfg);
	if (file != NULL && config_load_file(cfg, file, err, sizeof err)) {
		fprintf(stderr, "threadlined: %s\n", err);
		exit(2);
	}
	if ((r = config_parse_args(cfg, argc, argv, err, sizeof err)) == 1)
		exit(0);
	if (r == -1) {
		fprintf(stderr, "threadlined: %s\n", err);
		config_usage(stderr);
		exit(2);
	}
	if (cfg->threads == 0) {
		long n = sysconf(_SC_NPROCESSORS_ONLN);

		cfg->threads = n < 1 ? 1 : (n > 256 ? 256 : (int)n);
	}
	main_absolute(&cfg->log_file);
	main_absolute(&cfg->pidfile);
}

static void
main_log_startup(const struct config *cfg)
{
	log_notice("threadlined %s starting, pid %d, libevent %s (%s)",
	    TL_VERSION, (int)getpid(), event_get_version(),
	    event_base_get_method(main_base));
	log_notice("config: file=%s threads=%d max_connections=%d port=%d "
	           "memory_limit=%zuMB item_size_max=%zu evict=%s "
	           "request_timeout=%d write_timeout=%d idle_timeout=%d "
	           "user=%s log_level=%s log_file=%s pidfile=%s daemonize=%s",
	    cfg->config_file ? cfg->config_file : "(built-in)", cfg->threads,
	    cfg->max_conns, cfg->port, cfg->memory_mb, cfg->item_max,
	    cfg->evict ? "yes" : "no", cfg->request_timeout, cfg->write_timeout,
	    cfg->idle_timeout, cfg->user ? cfg->user : "-",
	    log_level_name(cfg->log_level), cfg->log_file ? cfg->log_file : "-",
	    cfg->pidfile ? cfg->pidfile : "-", cfg->daemonize ? "yes" : "no");
}

int
main(int argc, char **argv)
{
	static const int signals[] = {SIGTERM, SIGINT, SIGHUP, SIGUSR1};
	struct event *sigev[sizeof signals / sizeof signals[0]];
	struct config cfg;
	char err[512];
	size_t i;
	int n;

	main_configure(&cfg, argc, argv);
	if (cfg.check_only) {
		printf("configuration OK\n");
		config_free(&cfg);
		return 0;
	}
	log_set_level(cfg.log_level);
	if (privdrop_check(cfg.user, err, sizeof err) == -1) {
		fprintf(stderr, "threadlined: %s\n", err);
		config_free(&cfg);
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	if (cfg.daemonize)
		daemon_detach();
	if (cfg.pidfile != NULL &&
	    daemon_pidfile_open(cfg.pidfile, err, sizeof err) == -1) {
		fprintf(stderr, "threadlined: %s\n", err);
		config_free(&cfg);
		return 1;
	}
	log_on_fatal(daemon_pidfile_remove);

	services_init(cfg.threads);
	for (n = 0; n < ROLE_COUNT; n++)
		if (cfg.role_level[n] != -1)
			log_set_thread_level(
			    service_role_name(n), cfg.role_level[n]);
	atomic_store(&log_access_on, cfg.log_access);
	if (logger_open(&(struct logger_config){.file = cfg.log_file,
	                    .format = cfg.log_format,
	                    .use_stderr = main_log_to_stderr(&cfg),
	                    .syslog = cfg.log_syslog,
	                    .journald = cfg.log_journald},
	        err, sizeof err)) {
		fprintf(stderr, "threadlined: %s\n", err);
		daemon_pidfile_remove();
		services_free();
		config_free(&cfg);
		return 1;
	}
	service_start(service_get(ROLE_LOGGER, 0));

	event_set_log_callback(main_libevent_log);
	if (evthread_use_pthreads() == -1)
		fatalx("libevent has no pthreads support");
	if ((main_base = event_base_new()) == NULL)
		fatalx("cannot create the main event base");
	/* Handle signals before any client can connect. */
	for (i = 0; i < sizeof signals / sizeof signals[0]; i++) {
		sigev[i] =
		    evsignal_new(main_base, signals[i], main_signal_cb, NULL);
		if (sigev[i] == NULL || evsignal_add(sigev[i], NULL) == -1)
			fatalx("cannot handle signal %d", signals[i]);
	}
	main_log_startup(&cfg);
	stats_init(&cfg);
	if (cache_init(&(struct cache_config){.limit = cfg.memory_mb << 20,
	        .item_max = cfg.item_max,
	        .no_evict = !cfg.evict}) == -1)
		fatalx("cannot set up the cache");
	proto_text_enable_shutdown(cfg.enable_shutdown);
	service_start(service_get(ROLE_MAINT, 0));
	conn_set_timeouts(
	    &(struct conn_timeouts){.request = cfg.request_timeout,
	        .write = cfg.write_timeout,
	        .idle = cfg.idle_timeout});
	workers_init(cfg.threads);
	if (accept_init(&cfg, err, sizeof err) == -1)
		fatalx("%s", err);
	/* Ports bound, log file open: root is no longer needed. */
	if (privdrop_switch(err, sizeof err) == -1)
		fatalx("%s", err);

	for (n = 0; n < service_count(); n++) {
		struct service *s = service_at(n);

		if (s->role == ROLE_WORKER)
			service_start(s);
	}
	service_start(service_get(ROLE_ACCEPT, 0));

	log_notice(
	    "ready: %d threads, %d workers", service_count(), cfg.threads);
	daemon_ready();
	logger_stderr_level(cfg.daemonize              ? -1
	                    : main_log_to_stderr(&cfg) ? LOG_LVL_DEBUG
	                                               : LOG_LVL_ERROR);

	event_base_dispatch(main_base);

	log_notice("shutdown: stopping accept");
	accept_stop();
	service_join(service_get(ROLE_ACCEPT, 0));
	log_notice("shutdown: closing connections once their replies are sent");
	workers_stop();
	for (n = 0; n < service_count(); n++) {
		struct service *s = service_at(n);

		if (s->role == ROLE_WORKER)
			service_join(s);
	}
	maint_stop();
	service_join(service_get(ROLE_MAINT, 0));
	log_notice("shutdown: complete, flushing the log");
	logger_stop();
	pthread_join(service_get(ROLE_LOGGER, 0)->thread, NULL);
	logger_close();

	for (i = 0; i < sizeof signals / sizeof signals[0]; i++)
		event_free(sigev[i]);
	accept_free();
	workers_free();
	event_base_free(main_base);
	cache_free();
	daemon_pidfile_remove();
	services_free();
	config_free(&cfg);
	libevent_global_shutdown();
	return 0;
}
