/* The logger thread: every ring drained into the sinks and watchers. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <time.h>
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
 * tick, or when a ring is half full (log_ring_push). */
#define LOGGER_TICK_MS 100
/* While lines flow, wake this often, so a wake-up writes a big batch. */
#define LOGGER_TICK_BUSY_MS 20
/* A long drain frees room this often. */
#define LOGGER_PUBLISH_LINES 256

/* A sink that fails is tried again after this, doubling up to the max. */
#define LOGGER_RETRY_MIN_MS 250
#define LOGGER_RETRY_MAX_MS 8000
/* A text line is at least its timestamp, thread, level and newline. */
#define LOGGER_BATCH_LINES (LOGGER_BATCH / 32)

/* One place the log goes, and whether it takes lines now. */
struct logger_sink {
	const char *name;   /* for the lines that say it fails */
	int error;          /* errno of the failure; 0 while it works */
	const char *what;   /* what failed: "writing", "reopening" ... */
	uint64_t missed;    /* lines it lost since it failed */
	long long retry_ms; /* when to try again, CLOCK_MONOTONIC */
	int backoff_ms;
};

static struct {
	int efd;
	int file_fd;
	char *file_path;
	char *file_name; /* "log file PATH" */
	uid_t file_uid;  /* owner of a file we create; -1 to keep ours */
	gid_t file_gid;
	int format; /* LOG_FORMAT_TEXT or LOG_FORMAT_JSON */
	bool syslog;
	char *syslog_socket; /* syslogd's socket */
	bool journald;
	/* Highest level copied to stderr; -1 for none. */
	_Atomic int stderr_level;
	_Atomic int running;
	struct logger_counters counters;
	_Atomic int sleeping;
	_Atomic int stop;
	_Atomic int reopen;
	_Atomic int exit_status; /* 0, or status + 1 to exit with */
	struct logger_sink file, sys, journal, err;
	int file_cut;     /* the file ends mid-line and cannot be truncated */
	bool file_reopen; /* a reopen failed: the fd is the old file's */
	/* Whole pages, given back once the log is quiet. */
	char batch[LOGGER_BATCH] __attribute__((aligned(4096)));
	bool batch_used;   /* since it was last given back */
	long long busy_ms; /* when the last drain wrote lines */
	size_t batch_len;
	unsigned batch_lines;
	/* Lines of the batch a system sink lost. */
	bool batch_missed[LOGGER_BATCH_LINES];
} lg = {.efd = -1,
    .file_fd = -1,
    .file_uid = (uid_t)-1,
    .file_gid = (gid_t)-1,
    .stderr_level = LOG_LVL_DEBUG,
    .file.name = "log file",
    .sys.name = "syslog",
    .journal.name = "journal",
    .err.name = "stderr"};

/* A line worth writing soon was queued: wake the logger if it sleeps. */
static void
logger_kick(void)
{
	if (atomic_load(&lg.sleeping) && atomic_exchange(&lg.sleeping, 0))
		(void)!eventfd_write(lg.efd, 1);
}

static long long
logger_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The sink lost lines: count them and, the first time, say so on every
 * other sink (the line goes through the logger's own ring) and stderr,
 * which sees errors unless daemonized. Retries back off. */
static void
logger_sink_failed(
    struct logger_sink *s, const char *what, int error, unsigned lines)
{
	s->missed += lines;
	if (s->error == 0) {
		s->error = error;
		s->what = what;
		s->backoff_ms = LOGGER_RETRY_MIN_MS;
		log_error("%s: %s failed: %s; counting the lines it misses in "
		          "lines_failed, retrying",
		    s->name, what, strerror(error));
	} else if (s->backoff_ms < LOGGER_RETRY_MAX_MS)
		s->backoff_ms *= 2;
	s->retry_ms = logger_now_ms() + s->backoff_ms;
}

/* The sink took a line again: say so once. */
static void
logger_sink_ok(struct logger_sink *s)
{
	if (s->error == 0)
		return;
	log_notice("%s works again after %s failed; %llu lines missed", s->name,
	    s->what, (unsigned long long)s->missed);
	s->error = 0;
	s->missed = 0;
}

/* Whether to give the sink a line: it works, or its retry is due. */
static bool
logger_sink_due(const struct logger_sink *s)
{
	return s->error == 0 || logger_now_ms() >= s->retry_ms;
}

/* Append, never truncate: what earlier runs logged stays. A file we
 * create belongs to the user we run as once root is dropped, so that
 * user can reopen it after a rotation. */
static int
logger_open_file(const char *path)
{
	int flags = O_WRONLY | O_APPEND | O_CLOEXEC;
	int fd;

	for (int tries = 0; tries < 3; tries++) {
		if ((fd = open(path, flags)) != -1 || errno != ENOENT)
			return fd;
		fd = open(path, flags | O_CREAT | O_EXCL, 0644);
		if (fd == -1 && errno == EEXIST)
			continue;
		if (fd != -1 && lg.file_uid != (uid_t)-1 &&
		    fchown(fd, lg.file_uid, lg.file_gid) == -1) {
			int error = errno;

			close(fd);
			errno = error;
			return -1;
		}
		return fd;
	}
	return -1;
}

int
logger_open(const struct logger_config *cfg, char *err, size_t errlen)
{
	int r;

	lg.efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (lg.efd == -1) {
		snprintf(err, errlen, "eventfd: %s", strerror(errno));
		return -1;
	}
	lg.file_uid = cfg->file_uid;
	lg.file_gid = cfg->file_gid;
	if (cfg->file != NULL) {
		lg.file_fd = logger_open_file(cfg->file);
		if (lg.file_fd == -1) {
			snprintf(err, errlen, "cannot open log file %s: %s",
			    cfg->file, strerror(errno));
			return -1;
		}
		lg.file_path = xstrdup(cfg->file);
		xasprintf(&lg.file_name, "log file %s", cfg->file);
		lg.file.name = lg.file_name;
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
	/* Connect now, before any privilege drop; with no syslogd yet the
	 * logger says so once it runs, and retries. */
	if (lg.syslog) {
		lg.syslog_socket = xstrdup(
		    cfg->syslog_socket ? cfg->syslog_socket : "/dev/log");
		if ((r = log_sink_syslog_open(lg.syslog_socket)) < 0) {
			lg.sys.error = -r;
			lg.sys.what = "connecting";
		}
	}
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

/* Write all of buf to fd; how much was written, with errno set if not
 * all. */
static size_t
logger_write_all(int fd, const char *buf, size_t len)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = write(fd, buf + done, len - done);

		if (n == -1) {
			if (errno == EINTR)
				continue;
			break;
		}
		done += (size_t)n;
	}
	return done;
}

/* Lines in buf[0, len). */
static unsigned
logger_count_lines(const char *buf, size_t len)
{
	unsigned n = 0;

	for (const char *p = buf;
	     (p = memchr(p, '\n', len - (size_t)(p - buf))); p++)
		n++;
	return n;
}

/* A write stopped mid-line (a full disk, a file size limit): cut the
 * file back to the end of the last whole line, so the next write starts
 * a line of its own and no record is left half. A file that cannot be
 * cut (not a regular file) gets a newline before the next write. */
static void
logger_file_cut(const char *buf, size_t done)
{
	const char *nl = done > 0 ? memrchr(buf, '\n', done) : NULL;
	size_t keep = nl != NULL ? (size_t)(nl - buf) + 1 : 0;
	off_t end;

	if (keep == done)
		return;
	if ((end = lseek(lg.file_fd, 0, SEEK_CUR)) == -1 ||
	    ftruncate(lg.file_fd, end - (off_t)(done - keep)) == -1)
		lg.file_cut = 1;
}

/* Write the batch to the file; how many of its first lines it holds. */
static unsigned
logger_write_file(void)
{
	size_t done;

	if (lg.file_cut) {
		if (logger_write_all(lg.file_fd, "\n", 1) != 1) {
			logger_sink_failed(
			    &lg.file, "writing", errno, lg.batch_lines);
			return 0;
		}
		lg.file_cut = 0;
	}
	done = logger_write_all(lg.file_fd, lg.batch, lg.batch_len);
	if (done == lg.batch_len)
		return lg.batch_lines;
	{
		int error = errno;
		unsigned whole = logger_count_lines(lg.batch, done);

		logger_file_cut(lg.batch, done);
		logger_sink_failed(
		    &lg.file, "writing", error, lg.batch_lines - whole);
		return whole;
	}
}

/* Write the batch to stderr and the file, counting each of its lines
 * written, or failed when a sink meant to get it did not. */
static void
logger_flush_batch(void)
{
	unsigned whole = lg.batch_lines, failed = 0;

	if (lg.batch_len == 0)
		return;
	if (lg.stderr_level >= LOG_LVL_DEBUG) {
		if (logger_write_all(STDERR_FILENO, lg.batch, lg.batch_len) !=
		    lg.batch_len) {
			logger_sink_failed(&lg.err, "writing", errno, whole);
			whole = 0;
		} else
			logger_sink_ok(&lg.err);
	}
	if (lg.file_fd != -1) {
		unsigned n = logger_write_file();

		/* The old file after a failed reopen is not the file the
		 * operator reads: its lines count as missed. */
		if (lg.file_reopen) {
			lg.file.missed += n;
			n = 0;
		} else if (n == lg.batch_lines)
			logger_sink_ok(&lg.file);
		if (n < whole)
			whole = n;
	}
	for (unsigned i = 0; i < lg.batch_lines; i++)
		if (i >= whole || lg.batch_missed[i])
			failed++;
	stat_add(&lg.counters.lines_failed, failed);
	stat_add(&lg.counters.lines_written, lg.batch_lines - failed);
	memset(lg.batch_missed, 0, lg.batch_lines * sizeof lg.batch_missed[0]);
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

/* Connect to syslogd anew, for a retry. */
static int
logger_syslog_reconnect(void)
{
	return log_sink_syslog_open(lg.syslog_socket);
}

/* Give l to a sink that may have nobody listening (syslog, the journal):
 * while it fails, a due retry reconnects first (the journal's check looks
 * for its socket, as sd_journal_send drops lines silently without one),
 * and a line it did not take is marked missed. */
static void
logger_add_remote(struct logger_sink *s, int (*reconnect)(void),
    int (*send)(const struct log_line *), const struct log_line *l)
{
	int r = 0;

	if (!logger_sink_due(s)) {
		s->missed++;
		lg.batch_missed[lg.batch_lines] = true;
		return;
	}
	if (s->error != 0)
		r = reconnect();
	if (r == 0)
		r = send(l);
	if (r < 0) {
		logger_sink_failed(s, "sending", -r, 1);
		lg.batch_missed[lg.batch_lines] = true;
	} else
		logger_sink_ok(s);
}

/* Before each drain: a journal whose socket went away is failing, though
 * sd_journal_send would say nothing. */
static void
logger_check_journal(void)
{
	int r;

	if (lg.journald && lg.journal.error == 0 &&
	    (r = log_sink_journald_check()) < 0)
		logger_sink_failed(&lg.journal, "sending", -r, 0);
}

/* Format one line of from's into the batch and hand it to the other
 * sinks and the watchers. */
static void
logger_add(const struct thread *from, const struct log_rec *rec)
{
	struct log_line l = {.ts = {(time_t)(rec->ns / 1000000000),
	                         (long)(rec->ns % 1000000000)},
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
	if (LOGGER_BATCH - lg.batch_len < LOG_LINE_MAX ||
	    lg.batch_lines == LOGGER_BATCH_LINES)
		logger_flush_batch();
	line = lg.batch + lg.batch_len;
	n = logger_format_line(line, LOG_LINE_MAX, &l);
	if (lg.stderr_level < LOG_LVL_DEBUG && rec->level <= lg.stderr_level)
		(void)!write(STDERR_FILENO, line, n);
	if (lg.syslog)
		logger_add_remote(
		    &lg.sys, logger_syslog_reconnect, log_sink_syslog, &l);
	if (lg.journald)
		logger_add_remote(&lg.journal, log_sink_journald_check,
		    log_sink_journald, &l);
	watch_publish(&l, line, n, logger_format_line);
	lg.batch_len += n;
	lg.batch_lines++;
}

/* The room of lines in the batch is free again. */
static void
logger_publish(int nthreads)
{
	for (int i = 0; i < nthreads; i++)
		log_ring_publish(thread_at(i)->ring);
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
	long long now;

	logger_check_journal();

	for (int i = 0; i < nthreads; i++)
		log_ring_snap(thread_at(i)->ring);
	for (;;) {
		struct thread *next = NULL;
		const struct log_rec *oldest = NULL;

		for (int i = 0; i < nthreads; i++) {
			struct thread *s = thread_at(i);
			const struct log_rec *rec = log_ring_peek(s->ring);

			if (rec != NULL &&
			    (oldest == NULL || rec->ns < oldest->ns)) {
				oldest = rec;
				next = s;
			}
		}
		if (next == NULL)
			break;
		logger_add(next, oldest);
		log_ring_take(next->ring);
		if (++total % LOGGER_PUBLISH_LINES == 0)
			logger_publish(nthreads);
	}
	logger_publish(nthreads);
	now = logger_now_ms();
	for (int i = 0; i < nthreads; i++)
		log_ring_tune(thread_at(i)->ring, now);
	logger_report_drops(nthreads);
	logger_flush_batch();
	watch_wake();
	return total;
}

/* SIGHUP, or a retry after a failed reopen: logrotate moved the file;
 * open the path anew. Until that works the lines go on to the old file,
 * which may be deleted, and count as failed. */
static void
logger_do_reopen(void)
{
	int fd;

	if (lg.file_path == NULL)
		return;
	if ((fd = logger_open_file(lg.file_path)) == -1) {
		lg.file_reopen = true;
		logger_sink_failed(&lg.file, "reopening", errno, 0);
		return;
	}
	close(lg.file_fd);
	lg.file_fd = fd;
	lg.file_cut = 0;
	lg.file_reopen = false;
	logger_sink_ok(&lg.file);
	log_notice("reopened log file %s", lg.file_path);
}

/* A reopen that failed is tried again once its back-off is over. */
static bool
logger_reopen_due(void)
{
	return lg.file_reopen && logger_sink_due(&lg.file);
}

/* After a drain that wrote n lines: once quiet as long as a ring takes
 * to shrink, the batch's pages go back to the system too. */
static void
logger_batch_idle(unsigned n)
{
	long long now = logger_now_ms();

	if (n > 0) {
		lg.batch_used = true;
		lg.busy_ms = now;
	} else if (lg.batch_used && now - lg.busy_ms >= LOG_RING_QUIET_MS) {
		(void)madvise(lg.batch, sizeof lg.batch, MADV_DONTNEED);
		lg.batch_used = false;
	}
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
	if (lg.sys.error != 0) {
		int error = lg.sys.error;

		lg.sys.error = 0;
		logger_sink_failed(&lg.sys, "connecting", error, 0);
	}
	for (;;) {
		unsigned n = logger_drain();

		logger_batch_idle(n);
		/* fatal() queued its line before it set the status, maybe
		 * after the drain above began: drain once more. */
		if ((status = atomic_load(&lg.exit_status)) != 0) {
			logger_drain();
			_exit(status - 1);
		}
		if (atomic_exchange(&lg.reopen, 0) || logger_reopen_due()) {
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
	free(lg.file_name);
	lg.file_name = NULL;
	lg.file.name = "log file";
	log_sink_syslog_close();
	free(lg.syslog_socket);
	lg.syslog_socket = NULL;
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
