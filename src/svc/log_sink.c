#include <stdio.h>
#include <syslog.h>

#include "log.h"
#include "log_sink.h"
#include "tl_build.h"

#ifdef TL_HAVE_SYSTEMD
#include <systemd/sd-journal.h>
#endif

/* syslog priorities by our level. */
static const int syslog_prio[] = {
    [LOG_LVL_FATAL] = LOG_CRIT,
    [LOG_LVL_ERROR] = LOG_ERR,
    [LOG_LVL_WARN] = LOG_WARNING,
    [LOG_LVL_NOTICE] = LOG_NOTICE,
    [LOG_LVL_INFO] = LOG_INFO,
    [LOG_LVL_DEBUG] = LOG_DEBUG,
};

void
log_sink_syslog_open(void)
{
	/* LOG_NDELAY connects now, before any privilege drop or chroot. */
	openlog("threadlined", LOG_PID | LOG_NDELAY, LOG_DAEMON);
}

/* syslog stamps time and host itself; the thread name leads the message
 * so it survives any relay. Control bytes are escaped as in the text
 * format. */
void
log_sink_syslog(const struct log_line *l)
{
	char line[LOG_LINE_MAX];
	size_t n;

	n = log_format_text(line, sizeof line, l);
	/* Drop the timestamp ("...Z ") and the newline. */
	line[n - 1] = '\0';
	syslog(syslog_prio[l->level], "%s", line + 28);
}

#ifdef TL_HAVE_SYSTEMD
bool
log_sink_journald_available(void)
{
	return true;
}

int
log_sink_journald(const struct log_line *l)
{
	return sd_journal_send("MESSAGE=%.*s", (int)l->len, l->msg,
	           "PRIORITY=%d", syslog_prio[l->level], "THREAD_NAME=%s",
	           l->thread, "TID=%d", (int)l->tid, "CODE_FILE=%s", l->file,
	           "CODE_LINE=%d", l->line, "CODE_FUNC=%s", l->func,
	           "SYSLOG_IDENTIFIER=threadlined", "THREADLINE_CATEGORY=%s",
	           log_category_name(l->category), NULL) < 0
	           ? -1
	           : 0;
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
	return -1;
}
#endif
