/* A limit on how often a line is logged: at most burst lines a period,
 * the ones left out counted for the next line let through to say. Each
 * limit is written by one thread. */
#ifndef TL_RATELIMIT_H
#define TL_RATELIMIT_H

#include <stdbool.h>

struct ratelimit {
	long long start; /* the window's, in the caller's unit of time */
	unsigned n;      /* lines let through in it; 0: no window yet */
	unsigned long suppressed;
};

/* Whether a line at now may go: a window opens at the first line past the
 * last one's period. False counts the line left out. */
static inline bool
ratelimit_allow(
    struct ratelimit *rl, long long now, long long period, unsigned burst)
{
	if (rl->n == 0 || now - rl->start >= period) {
		rl->start = now;
		rl->n = 0;
	}
	if (rl->n == burst) {
		rl->suppressed++;
		return false;
	}
	rl->n++;
	return true;
}

/* The lines left out since the last one let through; counts anew. */
static inline unsigned long
ratelimit_take_suppressed(struct ratelimit *rl)
{
	unsigned long n = rl->suppressed;

	rl->suppressed = 0;
	return n;
}

#endif
