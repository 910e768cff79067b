/* Each thread's bounded single-producer queue of log lines; the drain (the
 * logger thread) is its single consumer. */
#ifndef TL_LOG_RING_H
#define TL_LOG_RING_H

#include <stdatomic.h>
#include <stdint.h>
#include <time.h>

#include "log_line.h"

/* Slots per thread; a full ring drops the line and counts it. Room for a
 * few busy ticks of the logger at 70,000 lines/s from one thread. */
#define LOG_RING_SLOTS 2048
/* A ring this full wakes the drain whatever the level. */
#define LOG_KICK_LINES (LOG_RING_SLOTS / 2)

struct log_rec {
	struct timespec ts;
	int level;
	int category;
	const char *file; /* the call site: string literals */
	const char *func;
	int line;
	unsigned len;
	char msg[LOG_MSG_MAX];
};

/* head and tail live on separate cache lines, each side keeps a private
 * copy of the other's index and refreshes it only when it must, and the
 * consumer publishes tail once per drain: the line is not what crosses
 * cores. */
struct log_ring {
	_Atomic uint32_t head __attribute__((aligned(64)));
	_Atomic uint64_t dropped;
	uint32_t tail_seen; /* tail as the producer last read it */
	_Atomic uint32_t tail __attribute__((aligned(64)));
	/* The consumer's own. */
	uint64_t dropped_reported;
	uint32_t snap;  /* head as last read */
	uint32_t taken; /* lines taken, not yet published */
	struct log_rec recs[LOG_RING_SLOTS];
};

/* An empty ring, or NULL when out of memory. */
struct log_ring *log_ring_new(void);
void log_ring_free(struct log_ring *);
/* Queue one line; returns the lines now queued, or -1 when the ring is
 * full (the line is counted dropped). */
int log_ring_push(struct log_ring *, const struct log_line *);
uint64_t log_ring_dropped(struct log_ring *);

#endif
