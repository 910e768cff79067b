#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "counter.h"
#include "log.h"
#include "log_ring.h"
#include "log_sink.h"
#include "logger.h"
#include "thread.h"
#include "watch.h"
#include "xmalloc.h"

#define LOGGER_BATCH (64 * 1024)
/* Lines below notice do not wake the logger one by one (a wake-up is a
 * syscall in the worker and a context switch): it collects them on this
 * tick, or when a ring holds LOG_KICK_LINES. */
#define LOGGER_TICK_MS 100
/* While lines flow, wake this often, so a wake-up writes a big batch. */
#define LOGGER_TICK_BUSY_MS 20
/* A long drain frees slots this often. */
#define LOGGER_PUBLISH_LINES 256

static struct {
	int efd;
	int file_fd;
	char *file_path;
	int format; /* LOG_FORMAT_TEXT or LOG_FORMAT_JSON */
	bool syslog;
	bool journald;
	/* Highest level copied to stderr; -1 for none. */
	_Atomic int stderr_level;
	_Atomic int running;
	struct logger_counters counters;
	_Atomic int sleeping;
	_Atomic int stop;
	_Atomic int reopen;
	_Atomic int exit_status; /* 0, or status + 1 to exit with */
	int failing;             /* a write failed; said so once */
	int reopen_failing;      /* a reopen failed; said so once */
	char batch[LOGGER_BATCH];
	size_t batch_len;
	unsigned batch_lines;
} lg = {.efd = -1, .file_fd = -1, .stderr_level = LOG_LVL_DEBUG};

/* A line worth writing soon was queued: wake the logger if it sleeps. */
static void
logger_kick(void)
{
	if (atomic_load(&lg.sleeping) && atomic_exchange(&lg.sleeping, 0))
		(void)!eventfd_write(lg.efd, 1);
}

/* Append, never truncate: what earlier runs logged stays. */
static int
logger_open_file(const char *path)
{
	return open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
}

int
logger_open(const struct logger_config *cfg, char *err, size_t errlen)
{
	lg.efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (lg.efd == -1) {
		snprintf(err, errlen, "eventfd: %s", strerror(errno));
		return -1;
	}
	if (cfg->file != NULL) {
		lg.file_fd = logger_open_file(cfg->file);
		if (lg.file_fd == -1) {
			snprintf(err, errlen, "cannot open log file %s: %s",
			    cfg->file, strerror(errno));
			return -1;
		}
		lg.file_path = xstrdup(cfg->file);
	}
	lg.format = cfg->format;
	lg.syslog = cfg->syslog;
	lg.journald = cfg->journald;
	if (lg.journald && !log_sink_journald_available()) {
		snprintf(err, errlen,
		    "journald logging requested, but this build has no "
		    "libsystemd support");
		return -1;
	}
	if (lg.syslog)
		log_sink_syslog_open();
	lg.stderr_level = cfg->use_stderr ? LOG_LVL_DEBUG : LOG_LVL_ERROR;
	return 0;
}

void
logger_stderr_level(int level)
{
	atomic_store(&lg.stderr_level, level);
}

struct logger_counters *
logger_counters(void)
{
	return &lg.counters;
}

/* Write all of buf to fd; -1 with errno on failure. */
static int
logger_write_all(int fd, const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, buf, len);

		if (n == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Write the batch to stderr and the file, counting its lines written or
 * failed. */
static void
logger_flush_batch(void)
{
	int all_stderr = lg.stderr_level >= LOG_LVL_DEBUG;
	int failed = 0;

	if (lg.batch_len == 0)
		return;
	if (all_stderr &&
	    logger_write_all(STDERR_FILENO, lg.batch, lg.batch_len) == -1)
		failed = errno;
	if (lg.file_fd != -1 &&
	    logger_write_all(lg.file_fd, lg.batch, lg.batch_len) == -1)
		failed = errno;
	if (failed) {
		stat_add(&lg.counters.lines_failed, lg.batch_lines);
		if (!lg.failing) {
			char msg[256];
			int n = snprintf(msg, sizeof msg,
			    "logger: writing log failed: %s; counting failed "
			    "lines in stats threads\n",
			    strerror(failed));
			(void)!write(STDERR_FILENO, msg, (size_t)n);
		}
		lg.failing = 1;
	} else {
		stat_add(&lg.counters.lines_written, lg.batch_lines);
		lg.failing = 0;
	}
	lg.batch_len = 0;
	lg.batch_lines = 0;
}

size_t
logger_format_line(char *buf, size_t cap, const struct log_line *l)
{
	return lg.format == LOG_FORMAT_JSON ? log_format_json(buf, cap, l)
	                                    : log_format_text(buf, cap, l);
}

/* A memcached watcher event goes to its watchers only, as memcached
 * prints it. */
static void
logger_add_event(const struct log_line *l)
{
	char line[LOG_MSG_MAX + 1];

	memcpy(line, l->msg, l->len);
	line[l->len] = '\n';
	watch_publish(l, line, l->len + 1, logger_format_line);
}

/* Format one line of from's into the batch and hand it to the other
 * sinks and the watchers. */
static void
logger_add(const struct thread *from, const struct log_rec *rec)
{
	struct log_line l = {.ts = rec->ts,
	    .level = rec->level,
	    .category = rec->category,
	    .thread = from->name,
	    .role = (int)from->role,
	    .tid = atomic_load_explicit(&from->tid, memory_order_relaxed),
	    .file = rec->file,
	    .line = rec->line,
	    .func = rec->func,
	    .msg = rec->msg,
	    .len = rec->len};
	char *line;
	size_t n;

	if (rec->category >= LOG_CAT_EVENTS) {
		logger_add_event(&l);
		return;
	}
	if (LOGGER_BATCH - lg.batch_len < LOG_LINE_MAX)
		logger_flush_batch();
	line = lg.batch + lg.batch_len;
	n = logger_format_line(line, LOG_LINE_MAX, &l);
	if (lg.stderr_level < LOG_LVL_DEBUG && rec->level <= lg.stderr_level)
		(void)!write(STDERR_FILENO, line, n);
	if (lg.syslog)
		log_sink_syslog(&l);
	if (lg.journald && log_sink_journald(&l) == -1)
		stat_add(&lg.counters.lines_failed, 1);
	watch_publish(&l, line, n, logger_format_line);
	lg.batch_len += n;
	lg.batch_lines++;
}

/* Whether a was stamped before b. */
static int
ts_before(const struct timespec *a, const struct timespec *b)
{
	return a->tv_sec < b->tv_sec ||
	       (a->tv_sec == b->tv_sec && a->tv_nsec < b->tv_nsec);
}

/* The slots of lines in the batch are free again. */
static void
logger_publish(int nthreads)
{
	for (int i = 0; i < nthreads; i++) {
		struct log_ring *r = thread_at(i)->ring;

		atomic_store_explicit(&r->tail, r->taken, memory_order_release);
	}
}

/* Lines dropped from full rings since the last drain get a line of the
 * logger's own. */
static void
logger_report_drops(int nthreads)
{
	for (int i = 0; i < nthreads; i++) {
		struct thread *s = thread_at(i);
		struct log_ring *r = s->ring;
		uint64_t dropped = log_ring_dropped(r);

		if (dropped != r->dropped_reported) {
			log_warnx("%llu lines dropped from %s",
			    (unsigned long long)(dropped - r->dropped_reported),
			    s->name);
			r->dropped_reported = dropped;
		}
	}
}

/* Write every queued line of every thread, oldest first across threads so
 * the log reads in time order; returns how many. */
static unsigned
logger_drain(void)
{
	int nthreads = thread_count();
	unsigned total = 0;

	for (int i = 0; i < nthreads; i++) {
		struct log_ring *r = thread_at(i)->ring;

		r->snap = atomic_load(&r->head);
		r->taken = atomic_load_explicit(&r->tail, memory_order_relaxed);
	}
	for (;;) {
		struct thread *next = NULL;
		const struct log_rec *oldest = NULL;

		for (int i = 0; i < nthreads; i++) {
			struct thread *s = thread_at(i);
			struct log_ring *r = s->ring;
			uint32_t t = r->taken;
			const struct log_rec *rec;

			if (t == r->snap)
				continue;
			rec = &r->recs[t % LOG_RING_SLOTS];
			if (oldest == NULL ||
			    ts_before(&rec->ts, &oldest->ts)) {
				oldest = rec;
				next = s;
			}
		}
		if (next == NULL)
			break;
		logger_add(next, oldest);
		next->ring->taken++;
		if (++total % LOGGER_PUBLISH_LINES == 0)
			logger_publish(nthreads);
	}
	logger_publish(nthreads);
	logger_report_drops(nthreads);
	logger_flush_batch();
	watch_wake();
	return total;
}

/* SIGHUP: logrotate moved the file; open the path anew. */
static void
logger_do_reopen(void)
{
	int fd;

	if (lg.file_path == NULL)
		return;
	fd = logger_open_file(lg.file_path);
	if (fd == -1) {
		int error = errno;

		/* The log goes on to the old file, which may be deleted:
		 * stderr is where someone can see this. */
		if (!lg.reopen_failing) {
			char msg[512];
			int n = snprintf(msg, sizeof msg,
			    "logger: cannot reopen log file %s: %s; still "
			    "writing to the file it names no more\n",
			    lg.file_path, strerror(error));

			(void)!write(STDERR_FILENO, msg,
			    (size_t)n < sizeof msg ? (size_t)n
			                           : sizeof msg - 1);
		}
		lg.reopen_failing = 1;
		errno = error;
		log_warn("cannot reopen log file %s, keeping the old one",
		    lg.file_path);
		return;
	}
	lg.reopen_failing = 0;
	close(lg.file_fd);
	lg.file_fd = fd;
	log_notice("reopened log file %s", lg.file_path);
}

static void logger_flush_exit(int) __attribute__((noreturn));

static const struct log_drain logger_drain_hooks = {
    .wake = logger_kick, .flush_exit = logger_flush_exit};

void
logger_main(struct thread *self)
{
	struct pollfd pfd = {.fd = lg.efd, .events = POLLIN};
	eventfd_t v;
	int status;

	atomic_store_explicit(&lg.running, 1, memory_order_release);
	log_set_drain(&logger_drain_hooks);
	thread_ready();
	if (lg.file_path != NULL)
		log_notice("writing log to %s%s", lg.file_path,
		    lg.stderr_level >= LOG_LVL_DEBUG ? " and stderr" : "");
	else if (lg.stderr_level >= LOG_LVL_DEBUG)
		log_notice("writing log to stderr");
	else
		log_notice("no log file configured: only errors reach stderr");
	for (;;) {
		unsigned n = logger_drain();

		if ((status = atomic_load(&lg.exit_status)) != 0)
			_exit(status - 1);
		if (atomic_exchange(&lg.reopen, 0)) {
			logger_do_reopen();
			continue;
		}
		if (atomic_load(&lg.stop))
			break;
		/* Sleep even when lines keep coming: waking per line or two
		 * would cost the workers more than the lines. A stop, reopen
		 * or exit wrote the eventfd, so poll returns at once; a notice
		 * or a ring half full wakes us once we announced sleep, and a
		 * line pushed just before waits at most a tick. */
		atomic_store(&lg.sleeping, 1);
		(void)poll(
		    &pfd, 1, n > 0 ? LOGGER_TICK_BUSY_MS : LOGGER_TICK_MS);
		(void)eventfd_read(lg.efd, &v);
		atomic_store(&lg.sleeping, 0);
	}
	log_set_drain(NULL);
	atomic_store_explicit(&lg.running, 0, memory_order_release);
	logger_drain();
	if (lg.file_fd != -1)
		close(lg.file_fd);
	lg.file_fd = -1;
	free(lg.file_path);
	lg.file_path = NULL;
}

/* Wake the logger whether or not it announced sleep. */
static void
logger_wake(void)
{
	atomic_store(&lg.sleeping, 0);
	(void)!eventfd_write(lg.efd, 1);
}

void
logger_reopen(void)
{
	atomic_store(&lg.reopen, 1);
	logger_wake();
}

void
logger_stop(void)
{
	atomic_store(&lg.stop, 1);
	logger_wake();
}

/* After the logger thread is joined: the wake-up descriptor outlives it,
 * since logger_stop's wake may reach it after the thread saw the flag. */
void
logger_close(void)
{
	if (lg.efd != -1)
		close(lg.efd);
	lg.efd = -1;
}

/* Write what is queued and end the process; how fatal() exits. */
static void
logger_flush_exit(int status)
{
	struct timespec ts = {0, 10 * 1000 * 1000};
	struct thread *self = thread_self();

	if (!atomic_load_explicit(&lg.running, memory_order_acquire))
		_exit(status);
	if (self != NULL && self->role == ROLE_LOGGER) {
		logger_drain();
		_exit(status);
	}
	atomic_store(&lg.exit_status, status + 1);
	logger_wake();
	/* The logger exits the process once it has written everything; give
	 * up on it after two seconds. */
	for (int i = 0; i < 200; i++)
		nanosleep(&ts, NULL);
	_exit(status);
}
