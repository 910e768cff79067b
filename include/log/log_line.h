/* One log record as the log's callers, rings and sinks pass it: a leaf,
 * so that the ring (log_ring.h) and the log (log.h) need not include each
 * other. */
#ifndef TL_LOG_LINE_H
#define TL_LOG_LINE_H

#include <stddef.h>
#include <sys/types.h>
#include <time.h>

/* Longest message kept; longer ones are cut and end in "...". */
#define LOG_MSG_MAX 1000
/* Room for any formatted line: in JSON every message byte may become six
 * and every field adds its quotes, so nothing is ever cut mid-escape. */
#define LOG_LINE_MAX (LOG_MSG_MAX * 10 + 256)

/* One record as sinks see it. */
struct log_line {
	struct timespec ts;
	int level;
	int category;
	const char *thread;
	int role; /* enum thread_role; -1 outside the thread table */
	pid_t tid;
	const char *file;
	int line;
	const char *func;
	const char *msg;
	size_t len;
};

#endif
