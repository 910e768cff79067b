/* threadlined: start-up, signals and shutdown. The main thread keeps the
 * program's name; every other thread has a role in procs[], which says
 * what it runs and how it stops. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/thread.h>

#include "accept.h"
#include "admin.h"
#include "cache.h"
#include "preflight.h"
#include "proto_auth.h"
#include "config.h"
#include "conn.h"
#include "daemon.h"
#include "log.h"
#include "logger.h"
#include "maint.h"
#include "notify.h"
#include "obs.h"
#include "privdrop.h"
#include "proto_bin.h"
#include "proto_text.h"
#include "settings.h"
#include "stats.h"
#include "stats_detail.h"
#include "thread.h"
#include "tl_build.h"
#include "worker.h"
#include "xmalloc.h"

/* What each role runs and how it is told to stop, in start-up order; they
 * stop in the reverse order, each once the one after it has. */
static const struct proc {
	enum thread_role role;
	void (*main)(struct thread *);
	void (*stop)(void);
	const char *stopping; /* what "shutdown:" says as it stops */
} procs[] = {
    {ROLE_LOGGER, logger_main, logger_stop, "complete, flushing the log"},
    {ROLE_MAINT, maint_main, maint_stop, NULL},
    {ROLE_WORKER, worker_main, workers_stop,
        "closing connections once their replies are sent"},
    {ROLE_ACCEPT, accept_main, accept_stop, "stopping accept"},
    {ROLE_ADMIN, admin_main, admin_stop, NULL},
};
#define NPROCS (sizeof procs / sizeof procs[0])

static const int signals[] = {SIGTERM, SIGINT, SIGHUP, SIGUSR1};

static struct event_base *main_base;
static struct event *main_sigev[sizeof signals / sizeof signals[0]];

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

/* -Y's file, read again on SIGHUP as memcached does. */
static const char *main_auth_file;

/* Read the auth file again; a bad one leaves the users as they were. */
static void
main_auth_reload(void)
{
	char err[512];
	int n;

	if (main_auth_file == NULL)
		return;
	if ((n = proto_auth_load(main_auth_file, err, sizeof err)) == -1)
		log_warnx("%s; the users read before stay", err);
	else
		log_notice(
		    "auth file %s read again: %d users", main_auth_file, n);
}

static void
main_signal_cb(evutil_socket_t sig, short what, void *arg)
{
	switch (sig) {
	case SIGHUP:
		log_notice("received SIGHUP, reopening the log file");
		notify_reloading();
		logger_reopen();
		main_auth_reload();
		notify_reloaded();
		break;
	case SIGUSR1:
		/* memcached 1.6's graceful stop; ours always is: replies
		 * are sent, then the connections closed. */
		log_notice("received SIGUSR1, shutting down gracefully");
		event_base_loopbreak(main_base);
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

/* What the start-up line says when no file was read. */
static const char *main_no_file = "(built-in)";

/* The file to read: --config's, none for --config '', else the installed
 * one, which may be missing (built-in defaults then, and the start-up
 * line says so); a --config file that is missing is an error. */
static const char *
main_config_file(int argc, char **argv)
{
	const char *file = config_find_file_arg(argc, argv);

	if (file != NULL)
		return *file != '\0' ? file : NULL;
	if (access(TL_CONFIG_FILE, F_OK) == -1 && errno == ENOENT) {
		main_no_file = "(built-in: no " TL_CONFIG_FILE ")";
		return NULL;
	}
	return TL_CONFIG_FILE;
}

/* Read settings; exits 2 on a bad one, 0 after --help or --version.
 * Under --check-config every problem is reported and counted instead. */
static void
main_configure(struct config *cfg, int argc, char **argv)
{
	const char *file = main_config_file(argc, argv);
	char err[512];
	int r;

	config_defaults(cfg);
	cfg->check_only = config_find_check_arg(argc, argv);
	if (file != NULL && config_load_file(cfg, file, err, sizeof err)) {
		if (!cfg->check_only) {
			fprintf(stderr, "threadlined: %s\n", err);
			exit(2);
		}
		config_problem(cfg, "%s", err);
	}
	if ((r = config_parse_args(cfg, argc, argv, err, sizeof err)) == 1) {
		config_print(cfg, stdout);
		exit(0);
	}
	if (r == -1) {
		fprintf(stderr, "threadlined: %s (see --help)\n", err);
		exit(2);
	}
	if (config_validate(cfg, err, sizeof err) == -1) {
		if (!cfg->check_only) {
			fprintf(stderr, "threadlined: %s\n", err);
			exit(2);
		}
		config_problem(cfg, "%s", err);
	}
	if (cfg->threads == 0) {
		long n = sysconf(_SC_NPROCESSORS_ONLN);

		cfg->threads = n < 1 ? 1 : (n > 256 ? 256 : (int)n);
	}
	main_absolute(&cfg->log_file);
	main_absolute(&cfg->log_syslog_socket);
	main_absolute(&cfg->pidfile);
	main_absolute(&cfg->auth_file);
	main_absolute(&cfg->unix_socket);
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
	    cfg->config_file ? cfg->config_file : main_no_file, cfg->threads,
	    cfg->max_conns, cfg->port, cfg->memory_mb, cfg->item_max,
	    cfg->evict ? "yes" : "no", cfg->request_timeout, cfg->write_timeout,
	    cfg->idle_timeout, cfg->user ? cfg->user : "-",
	    log_level_name(cfg->log_level), cfg->log_file ? cfg->log_file : "-",
	    cfg->pidfile ? cfg->pidfile : "-", cfg->daemonize ? "yes" : "no");
	if (cfg->ignored != NULL)
		log_notice("memcached options ignored: %s", cfg->ignored);
}

/* -k and -r, as memcached: a failed mlockall is a warning, a core limit
 * that cannot be raised is fatal. */
static void
main_limits(const struct config *cfg)
{
	struct rlimit rl;

	if (cfg->coredumps && (getrlimit(RLIMIT_CORE, &rl) == -1 ||
	                          (rl.rlim_cur = rl.rlim_max,
	                              setrlimit(RLIMIT_CORE, &rl) == -1) ||
	                          rl.rlim_max == 0))
		fatalx("-r: cannot raise the core file size limit");
	if (cfg->lock_memory && mlockall(MCL_CURRENT | MCL_FUTURE) == -1)
		log_warn("-k: mlockall failed, memory stays pageable");
}

/* Start every thread of p's role. */
static void
main_start(const struct proc *p)
{
	for (int i = 0; i < thread_role_count(p->role); i++) {
		struct thread *t = thread_get(p->role, i);
		int error = thread_start(t, p->main);

		if (error != 0) {
			errno = error;
			fatal("cannot start thread %s", t->name);
		}
		log_info("thread %s started tid=%d role=%s", t->name,
		    (int)t->tid, thread_role_name(t->role));
	}
}

static void
main_stop(const struct proc *p)
{
	if (p->stopping != NULL)
		log_notice("shutdown: %s", p->stopping);
	p->stop();
	for (int i = 0; i < thread_role_count(p->role); i++) {
		struct thread *t = thread_get(p->role, i);

		thread_join(t);
		/* Once the logger is gone a line would only reach stderr. */
		if (p->role != ROLE_LOGGER)
			log_info("thread %s stopped", t->name);
	}
}

/* A client's "shutdown" stops the server as an operator's SIGTERM does. */
static void
main_shutdown_request(void)
{
	kill(getpid(), SIGTERM);
}

/* --check-config: what start-up would refuse before it touches anything,
 * beyond what reading the settings reported: exit 2 if anything was. */
static int
main_check(struct config *cfg)
{
	preflight_run(cfg);
	if (cfg->problems > 0)
		return 2;
	printf("configuration OK\n");
	return 0;
}

/* Daemonize, write the pidfile, check the user to run as: what must
 * happen before any thread starts. Returns an exit status, or 0. */
static int
main_prepare(const struct config *cfg)
{
	char err[512];

	if (cfg->auth_file != NULL) {
		if (proto_auth_load(cfg->auth_file, err, sizeof err) == -1) {
			fprintf(stderr, "threadlined: %s\n", err);
			return 1;
		}
		main_auth_file = cfg->auth_file;
	}
	if (privdrop_check(cfg->user, err, sizeof err) == -1) {
		fprintf(stderr, "threadlined: %s\n", err);
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	if (cfg->daemonize)
		daemon_detach();
	if (cfg->pidfile != NULL &&
	    daemon_pidfile_open(cfg->pidfile, err, sizeof err) == -1) {
		fprintf(stderr, "threadlined: %s\n", err);
		return 1;
	}
	log_on_fatal(daemon_pidfile_remove);
	return 0;
}

/* The thread table with each thread's log level, and the logger running.
 * Returns an exit status, or 0. */
static int
main_start_logging(const struct config *cfg)
{
	int counts[ROLE_COUNT] = {[ROLE_LOGGER] = 1,
	    [ROLE_ACCEPT] = 1,
	    [ROLE_WORKER] = cfg->threads,
	    [ROLE_MAINT] = 1,
	    [ROLE_ADMIN] = cfg->admin_listen != NULL};
	uid_t uid = (uid_t)-1;
	gid_t gid = (gid_t)-1;
	char err[512];

	/* Opened as root, so a bad path fails start-up here; a file it
	 * creates is the run user's, who must reopen it after a rotation. */
	if (!privdrop_target(&uid, &gid)) {
		uid = (uid_t)-1;
		gid = (gid_t)-1;
	}
	if (threads_init(counts) == -1) {
		fprintf(stderr, "threadlined: out of memory for threads\n");
		return 1;
	}
	log_threads_init();
	for (int r = 0; r < ROLE_COUNT; r++)
		if (cfg->role_level[r] != -1)
			log_set_thread_level(
			    thread_role_name(r), cfg->role_level[r]);
	atomic_store(&log_access_on, cfg->log_access);
	if (logger_open(&(struct logger_config){.file = cfg->log_file,
	                    .format = cfg->log_format,
	                    .use_stderr = main_log_to_stderr(cfg),
	                    .file_uid = uid,
	                    .file_gid = gid,
	                    .syslog = cfg->log_syslog,
	                    .syslog_socket = cfg->log_syslog_socket,
	                    .journald = cfg->log_journald},
	        err, sizeof err)) {
		fprintf(stderr, "threadlined: %s\n", err);
		log_threads_free();
		threads_free();
		return 1;
	}
	main_start(&procs[0]);
	return 0;
}

/* libevent in threads, the main event base and the signals it handles. */
static void
main_events(void)
{
	event_set_log_callback(main_libevent_log);
	if (evthread_use_pthreads() == -1)
		fatalx("libevent has no pthreads support");
	if ((main_base = event_base_new()) == NULL)
		fatalx("cannot create the main event base");
	/* Handle signals before any client can connect. */
	for (size_t i = 0; i < sizeof signals / sizeof signals[0]; i++) {
		main_sigev[i] =
		    evsignal_new(main_base, signals[i], main_signal_cb, NULL);
		if (main_sigev[i] == NULL ||
		    evsignal_add(main_sigev[i], NULL) == -1)
			fatalx("cannot handle signal %d", signals[i]);
	}
}

/* The store, the protocol, the listeners; then root is dropped. */
static void
main_setup_service(const struct config *cfg)
{
	struct obs_config ocfg;
	char err[512];

	settings_obs_config(cfg, &ocfg);
	obs_init(&ocfg);
	if (cache_init(&(struct cache_config){.limit = cfg->memory_mb << 20,
	        .item_max = cfg->item_max,
	        .no_evict = !cfg->evict,
	        .no_cas = !cfg->cas,
	        .temporary_ttl = cfg->temporary_ttl}) == -1)
		fatalx("cannot set up the cache");
	struct proto_config proto = {.shutdown = cfg->enable_shutdown,
	    .no_cas = !cfg->cas,
	    .no_flush = !cfg->flush_enabled,
	    .no_dump = !cfg->dump_enabled,
	    .no_watch = !cfg->watch_enabled,
	    .slow_us = (unsigned long long)cfg->slow_us,
	    .binding = (enum proto_binding)cfg->protocol,
	    .debug = cfg->debug_commands};

	proto_init(&proto, &(struct proto_callbacks){.stats = stats_answer,
	                       .detail = stats_detail_record,
	                       .maint = maint_command});
	if (cfg->no_crawler)
		maint_command(PROTO_CRAWLER_DISABLE, 0, NULL);
	conn_set_timeouts(
	    &(struct conn_timeouts){.request = cfg->request_timeout,
	        .write = cfg->write_timeout,
	        .idle = cfg->idle_timeout});
	conn_set_reqs_per_event((unsigned)cfg->reqs_per_event);
	workers_init(&(struct worker_hooks){.conn_closed = accept_conn_closed,
	    .shutdown = main_shutdown_request,
	    .read_buf_limit = cfg->read_buf_mb << 20,
	    .hotkeys_sample = (unsigned)cfg->hotkeys_sample});
	if (accept_init(
	        &(struct accept_config){
	            .listen = (const char *const *)cfg->listen,
	            .nlisten = cfg->nlisten,
	            .port = cfg->port,
	            .max_conns = cfg->max_conns,
	            .unix_socket = cfg->unix_socket,
	            .unix_mask = cfg->unix_mask,
	            .backlog = cfg->backlog},
	        err, sizeof err) == -1)
		fatalx("%s", err);
	if (cfg->admin_listen != NULL && admin_init(err, sizeof err) == -1)
		fatalx("%s", err);
	/* Ports bound, log file open: root is no longer needed. */
	if (privdrop_switch(err, sizeof err) == -1)
		fatalx("%s", err);
}

int
main(int argc, char **argv)
{
	struct config cfg;
	size_t i;
	int status;

	main_configure(&cfg, argc, argv);
	if (cfg.check_only) {
		status = main_check(&cfg);
		config_free(&cfg);
		return status;
	}
	log_set_level(cfg.log_level);
	if ((status = main_prepare(&cfg)) != 0 ||
	    (status = main_start_logging(&cfg)) != 0) {
		daemon_pidfile_remove();
		config_free(&cfg);
		return status;
	}
	main_events();
	main_log_startup(&cfg);
	main_limits(&cfg);
	main_setup_service(&cfg);
	for (i = 1; i < NPROCS; i++)
		main_start(&procs[i]);
	log_notice(
	    "ready: %d threads, %d workers", thread_count(), cfg.threads);
	/* In main's loop: maint's crawls would blind it. */
	workers_watchdog(main_base, (unsigned)cfg.stall_ms);
	notify_ready(main_base, cfg.daemonize);
	daemon_ready();
	logger_stderr_level(cfg.daemonize              ? -1
	                    : main_log_to_stderr(&cfg) ? LOG_LVL_DEBUG
	                                               : LOG_LVL_ERROR);

	event_base_dispatch(main_base);
	notify_stopping();

	for (i = NPROCS; i-- > 0;)
		main_stop(&procs[i]);
	logger_close();
	for (i = 0; i < sizeof signals / sizeof signals[0]; i++)
		event_free(main_sigev[i]);
	notify_free();
	workers_watchdog_stop();
	admin_free();
	accept_free();
	workers_free();
	event_base_free(main_base);
	cache_free();
	daemon_pidfile_remove();
	log_threads_free();
	threads_free();
	config_free(&cfg);
	libevent_global_shutdown();
	return 0;
}
