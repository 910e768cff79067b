/* Each thread's queue of log lines, drained by the logger. */
#include <stdlib.h>
#include <string.h>

#include "counter.h"
#include "log_ring.h"

struct log_ring *
log_ring_new(void)
{
	return calloc(1, sizeof(struct log_ring));
}

void
log_ring_free(struct log_ring *r)
{
	free(r);
}

int
log_ring_push(struct log_ring *r, const struct log_line *l)
{
	uint32_t h = atomic_load_explicit(&r->head, memory_order_relaxed);
	uint32_t t = r->tail_seen;
	struct log_rec *rec;

	/* Look at the consumer's progress only when it matters: the ring
	 * seems full, or full enough to wake it. */
	if (h - t >= LOG_KICK_LINES)
		t = r->tail_seen =
		    atomic_load_explicit(&r->tail, memory_order_acquire);
	if (h - t >= LOG_RING_SLOTS) {
		stat_add(&r->dropped, 1);
		return -1;
	}
	rec = &r->recs[h % LOG_RING_SLOTS];
	rec->ts = l->ts;
	rec->level = l->level;
	rec->category = l->category;
	rec->file = l->file;
	rec->func = l->func;
	rec->line = l->line;
	rec->len = (unsigned)(l->len < LOG_MSG_MAX ? l->len : LOG_MSG_MAX);
	memcpy(rec->msg, l->msg, rec->len);
	/* seq_cst, as the logger's store to sleeping: a kick after this
	 * push sees the logger asleep if it announced it first. */
	atomic_store(&r->head, h + 1);
	return (int)(h + 1 - t);
}

uint64_t
log_ring_dropped(struct log_ring *r)
{
	return stat_get(&r->dropped);
}
