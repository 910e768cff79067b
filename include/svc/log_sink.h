/* The system log sinks: syslog(3) and the systemd journal. Called by the
 * logger thread only. */
#ifndef TL_LOG_SINK_H
#define TL_LOG_SINK_H

#include <stdbool.h>

struct log_line;

void log_sink_syslog_open(void);
void log_sink_syslog(const struct log_line *);
/* Whether this build can write to the journal (meson -Dsystemd). */
bool log_sink_journald_available(void);
/* -1 when the journal refused the line. */
int log_sink_journald(const struct log_line *);

#endif
