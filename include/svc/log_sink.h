/* The system log sinks: syslog datagrams on a unix socket and the systemd
 * journal. Called by the logger thread only; each call that can lose a
 * line returns 0 or -errno, so the logger can count and say it. */
#ifndef TL_LOG_SINK_H
#define TL_LOG_SINK_H

#include <stdbool.h>

struct log_line;

/* Connect to syslogd's socket (/dev/log), anew if connected; 0 or -errno.
 */
int log_sink_syslog_open(const char *path);
void log_sink_syslog_close(void);
/* Send one line; -errno when syslogd did not take it. */
int log_sink_syslog(const struct log_line *);
/* Whether this build can write to the journal (meson -Dsystemd). */
bool log_sink_journald_available(void);
/* 0 when the journal's socket is there; sd_journal_send drops lines
 * silently when it is not. */
int log_sink_journald_check(void);
/* -errno when the journal refused the line. */
int log_sink_journald(const struct log_line *);

#endif
