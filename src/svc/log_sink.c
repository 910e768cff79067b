/* The system log sinks: syslog datagrams on a unix socket (RFC 3164, as
 * syslog(3) frames them) and the systemd journal. Both report failure, so
 * the logger can count what they lose. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "log_sink.h"
#include "tl_build.h"

#ifdef TL_HAVE_SYSTEMD
#include <systemd/sd-journal.h>
#endif

/* Where sd_journal_send writes; it says nothing when the socket is gone. */
#define LOG_SINK_JOURNAL_SOCKET "/run/systemd/journal/socket"
/* A syslogd that takes no datagram for this long loses the line rather
 * than stall every thread's log. */
#define LOG_SINK_SEND_TIMEOUT_MS 100

/* syslog priorities by our level. */
static const int syslog_prio[] = {
    [LOG_LVL_FATAL] = LOG_CRIT,
    [LOG_LVL_ERROR] = LOG_ERR,
    [LOG_LVL_WARN] = LOG_WARNING,
    [LOG_LVL_NOTICE] = LOG_NOTICE,
    [LOG_LVL_INFO] = LOG_INFO,
    [LOG_LVL_DEBUG] = LOG_DEBUG,
};

static struct {
	int fd;
	struct sockaddr_un addr;
} sys = {.fd = -1};

int
log_sink_syslog_open(const char *path)
{
	struct timeval tv = {0, LOG_SINK_SEND_TIMEOUT_MS * 1000};
	int error;

	log_sink_syslog_close();
	sys.addr.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof sys.addr.sun_path)
		return -ENAMETOOLONG;
	snprintf(sys.addr.sun_path, sizeof sys.addr.sun_path, "%s", path);
	if ((sys.fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0)) == -1)
		return -errno;
	(void)setsockopt(sys.fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
	if (connect(sys.fd, (struct sockaddr *)&sys.addr, sizeof sys.addr) ==
	    -1) {
		error = errno;
		log_sink_syslog_close();
		return -error;
	}
	return 0;
}

void
log_sink_syslog_close(void)
{
	if (sys.fd != -1)
		close(sys.fd);
	sys.fd = -1;
}

/* "<PRI>Mmm dd hh:mm:ss threadlined[pid]: " then the text line without
 * its timestamp: syslogd stamps the host; the thread name leads the
 * message so it survives any relay. Control bytes are escaped as in the
 * text format. */
int
log_sink_syslog(const struct log_line *l)
{
	char line[LOG_LINE_MAX], dgram[LOG_LINE_MAX + 64], stamp[32];
	struct tm tm;
	size_t n;
	int len;

	if (sys.fd == -1)
		return -ENOTCONN;
	n = log_format_text(line, sizeof line, l);
	/* Drop the timestamp ("...Z ") and the newline. */
	line[n - 1] = '\0';
	localtime_r(&l->ts.tv_sec, &tm);
	strftime(stamp, sizeof stamp, "%b %e %T", &tm);
	len = snprintf(dgram, sizeof dgram, "<%d>%s threadlined[%d]: %s",
	    LOG_DAEMON | syslog_prio[l->level], stamp, (int)getpid(),
	    line + 28);
	if (len >= (int)sizeof dgram)
		len = (int)sizeof dgram - 1;
	while (send(sys.fd, dgram, (size_t)len, MSG_NOSIGNAL) == -1)
		if (errno != EINTR)
			return -errno;
	return 0;
}

int
log_sink_journald_check(void)
{
	struct stat st;

	if (stat(LOG_SINK_JOURNAL_SOCKET, &st) == -1)
		return -errno;
	return S_ISSOCK(st.st_mode) ? 0 : -ENOTSOCK;
}

#ifdef TL_HAVE_SYSTEMD
bool
log_sink_journald_available(void)
{
	return true;
}

/* At most this many of a line's leading key=value words become journal
 * fields of their own. */
#define JOURNAL_WORDS_MAX 16

/* Append one "NAME=value" field at *n in buf (cap bytes) and its iovec;
 * prefix and name (upper-cased) make NAME. */
static void
journal_field(char *buf, size_t *n, size_t cap, struct iovec *iov, int *niov,
    const char *name, size_t nname, const char *v, size_t nv)
{
	size_t at = *n, i;

	if (at + 11 + nname + 1 + nv > cap)
		return;
	memcpy(buf + at, "THREADLINE_", 11);
	for (i = 0; i < nname; i++)
		buf[at + 11 + i] = (char)(name[i] - (name[i] == '_' ? 0 : 32));
	buf[at + 11 + nname] = '=';
	memcpy(buf + at + 12 + nname, v, nv);
	iov[*niov].iov_base = buf + at;
	iov[(*niov)++].iov_len = 12 + nname + nv;
	*n = at + 12 + nname + nv;
}

int
log_sink_journald(const struct log_line *l)
{
	char buf[2 * LOG_MSG_MAX + 1024];
	struct iovec iov[9 + JOURNAL_WORDS_MAX];
	const char *m = l->msg;
	size_t len = l->len, n = 0, adv, klen, vlen;
	int niov = 0, r;

	/* The fixed fields, each its own iovec in buf. */
#define FIXED(...)                                                             \
	do {                                                                   \
		int w = snprintf(buf + n, sizeof buf - n, __VA_ARGS__);        \
		iov[niov].iov_base = buf + n;                                  \
		iov[niov++].iov_len = (size_t)w;                               \
		n += (size_t)w;                                                \
	} while (0)
	FIXED("MESSAGE=%.*s", (int)l->len, l->msg);
	FIXED("PRIORITY=%d", syslog_prio[l->level]);
	FIXED("THREAD_NAME=%s", l->thread);
	FIXED("TID=%d", (int)l->tid);
	FIXED("CODE_FILE=%s", l->file);
	FIXED("CODE_LINE=%d", l->line);
	FIXED("CODE_FUNC=%s", l->func);
	FIXED("SYSLOG_IDENTIFIER=threadlined");
	FIXED("THREADLINE_CATEGORY=%s", log_category_name(l->category));
#undef FIXED
	/* conn=27 peer=... key=k: THREADLINE_CONN=27, THREADLINE_PEER=... */
	for (int i = 0; i < JOURNAL_WORDS_MAX &&
	                (adv = log_field(m, len, &klen, &vlen)) > 0;
	     i++) {
		if (!(klen == 8 && memcmp(m, "category", 8) == 0))
			journal_field(buf, &n, sizeof buf, iov, &niov, m, klen,
			    m + klen + 1, vlen);
		m += adv;
		len -= adv;
	}
	r = sd_journal_sendv(iov, niov);
	return r < 0 ? r : 0;
}
#else
bool
log_sink_journald_available(void)
{
	return false;
}

int
log_sink_journald(const struct log_line *l)
{
	(void)l;
	return -ENOSYS;
}
#endif
