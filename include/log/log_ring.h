/* Each thread's bounded single-producer queue of log lines, in bytes; the
 * drain (the logger thread) is its single consumer. A record is a small
 * header and the message's own bytes, never split across the wrap: one
 * that does not fit before the end goes to the start, behind a wrap mark. */
#ifndef TL_LOG_RING_H
#define TL_LOG_RING_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "log_line.h"

/* The bytes a ring may use: a push that finds the ring a quarter full, or
 * that would wrap with the consumer an eighth behind, doubles them, up to
 * LOG_RING_MAX (lines come faster than the drain's tick takes them: the
 * access log, debug, a burst of connections) and wakes the drain, as one
 * that finds it half full does; an access line finds it at least
 * LOG_RING_ACCESS_MIN. The drain shrinks it to the least of its
 * sizes (LOG_RING_MIN and its doublings) of which no drain took an eighth
 * in the last LOG_RING_QUIET_MS, and gives the pages past that back to
 * the system. LOG_RING_MAX of address space is reserved per ring; only
 * the pages in use are resident. */
#define LOG_RING_MIN      (16 * 1024)
#define LOG_RING_MAX      (1024 * 1024)
#define LOG_RING_QUIET_MS 250
/* While access lines come (in bursts, at the request rate), a ring holds
 * at least this: room for a stalled drain before the first wrap. */
#define LOG_RING_ACCESS_MIN (256 * 1024)
#define LOG_RING_SIZES      7 /* LOG_RING_MIN << 6 == LOG_RING_MAX */
/* What an idle ring keeps resident at most: its least size, the pages a
 * push may be writing while the drain trims, and this struct. */
#define LOG_RING_IDLE_MAX (128 * 1024)

/* Records start on this boundary. */
#define LOG_REC_ALIGN 8
/* The record of a message of len bytes takes this many. */
#define LOG_REC_SIZE(len)                                                      \
	((sizeof(struct log_rec) + (len) + LOG_REC_ALIGN - 1) &                \
	    ~(size_t)(LOG_REC_ALIGN - 1))
#define LOG_REC_MAX LOG_REC_SIZE(LOG_MSG_MAX)
/* len of the mark that sends the reader back to the start. */
#define LOG_REC_WRAP 0xffff

struct log_rec {
	uint16_t len;
	uint8_t level;
	uint8_t category;
	int32_t line;
	int64_t ns;       /* CLOCK_REALTIME, in nanoseconds */
	const char *file; /* the call site: string literals */
	const char *func;
	char msg[];
};

/* What log_ring_push says. */
enum log_ring_pushed {
	LOG_RING_DROPPED = -1, /* full: the line is counted dropped */
	LOG_RING_QUEUED,
	/* Queued, and the drain should come now: the ring had to grow,
	 * or half of it waits. */
	LOG_RING_WAKE,
};

/* head and tail are byte offsets on separate cache lines; each side keeps
 * a private copy of the other's and refreshes it only when it must, and
 * the consumer publishes tail once per drain: the line is not what crosses
 * cores. head == tail is empty; the producer never catches up with tail. */
struct log_ring {
	char *buf; /* LOG_RING_MAX bytes, mapped once */
	/* Where the producer goes back to the start: read on every push,
	 * doubled by a push, lowered by the drain (a line rarely written). */
	_Atomic uint32_t limit;
	_Atomic uint32_t head __attribute__((aligned(64)));
	_Atomic uint64_t dropped;
	uint32_t tail_seen; /* tail as the producer last read it */
	uint32_t wrap_at;   /* where the producer last went to the start */
	_Atomic uint32_t tail __attribute__((aligned(64)));
	/* The consumer's own. */
	uint64_t dropped_reported;
	uint32_t snap;       /* head as last read */
	uint32_t taken;      /* where the next record is, not yet published */
	uint32_t drained;    /* bytes taken since the last log_ring_tune */
	uint32_t grown;      /* limit as the last tune saw it */
	bool access;         /* took an access line since the last tune */
	uint32_t dirty;      /* pages before this may be resident */
	uint32_t trimmed_at; /* head at the last trim that left pages */
	/* When each size was last too small (log_ring_tune). */
	long long busy_ms[LOG_RING_SIZES];
};

/* An empty ring, or NULL when out of memory. */
struct log_ring *log_ring_new(void);
void log_ring_free(struct log_ring *);
/* Queue one line, its message cut at LOG_MSG_MAX bytes. */
enum log_ring_pushed log_ring_push(struct log_ring *, const struct log_line *);
uint64_t log_ring_dropped(struct log_ring *);

/* The consumer's side. A drain takes a snapshot of what was pushed, peeks
 * at and takes records up to it, publishes what it took (the room is the
 * producer's again), and tunes the ring once done. */
void log_ring_snap(struct log_ring *);
/* The oldest record of the snapshot not taken, or NULL. */
const struct log_rec *log_ring_peek(struct log_ring *);
/* Take the record log_ring_peek returned. */
void log_ring_take(struct log_ring *);
void log_ring_publish(struct log_ring *);
/* After a drain, at now_ms (CLOCK_MONOTONIC): shrink the ring to what the
 * drains took, and give back the pages it no longer uses. */
void log_ring_tune(struct log_ring *, long long now_ms);

#endif
