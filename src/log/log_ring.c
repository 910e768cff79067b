/* Each thread's queue of log lines, in bytes, drained by the logger. */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "counter.h"
#include "log.h"
#include "log_ring.h"

/* No room for the record. */
#define LOG_RING_NONE UINT32_MAX
_Static_assert(
    LOG_RING_MIN << (LOG_RING_SIZES - 1) == LOG_RING_MAX, "a busy_ms per size");

/* In limit (a multiple of pages): the drain is trimming, do not grow. */
#define LOG_RING_FROZEN 1u

struct log_ring *
log_ring_new(void)
{
	int flags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE;
	struct log_ring *r;
	void *buf;

	if (posix_memalign((void **)&r, 64, sizeof *r) != 0)
		return NULL;
	/* Address space only: a page is resident once a record is in it.
	 * An anonymous mapping takes fd -1 (mmap(2)). */
	/* cppcheck-suppress invalidFunctionArg */
	buf = mmap(NULL, LOG_RING_MAX, PROT_READ | PROT_WRITE, flags, -1, 0);
	if (buf == MAP_FAILED) {
		free(r);
		return NULL;
	}
	memset(r, 0, sizeof *r);
	r->buf = buf;
	atomic_init(&r->limit, LOG_RING_MIN);
	r->dirty = r->grown = LOG_RING_MIN;
	r->trimmed_at = LOG_RING_NONE;
	return r;
}

void
log_ring_free(struct log_ring *r)
{
	if (r == NULL)
		return;
	munmap(r->buf, LOG_RING_MAX);
	free(r);
}

/* Bytes between the consumer at t and the producer at h. */
static uint32_t
log_ring_used(const struct log_ring *r, uint32_t h, uint32_t t)
{
	return h >= t ? h - t : r->wrap_at - t + h;
}

/* Where a record of n bytes goes with the producer at h and the consumer
 * at t, or LOG_RING_NONE. On the consumer's lap the room is up to limit,
 * less a wrap mark's place, then from the start up to t; a lap ahead, it
 * is up to t. Never up to t itself: that would read as empty. */
static uint32_t
log_ring_place(uint32_t h, uint32_t t, uint32_t n, uint32_t limit)
{
	if (h < t)
		return h + n < t ? h : LOG_RING_NONE;
	if (h + n + LOG_REC_ALIGN <= limit)
		return h;
	return n < t ? 0 : LOG_RING_NONE;
}

/* How full the ring must seem before the producer reads tail: enough to
 * grow it, or at its most, to wake the consumer. */
static uint32_t
log_ring_watch(uint32_t limit)
{
	return limit < LOG_RING_MAX ? limit / 4 : limit / 2;
}

/* The limit a push should grow the ring to, or 0. On the consumer's lap:
 * double when it is a quarter full, or when the producer would wrap with
 * the consumer an eighth behind; for an access line, at least
 * LOG_RING_ACCESS_MIN. Room now rather than drops while the drain wakes
 * up: a lap ahead of the consumer, the producer has only the room up to
 * it, however large the ring. */
static uint32_t
log_ring_grow_to(const struct log_ring *r, uint32_t h, uint32_t t, uint32_t n,
    uint32_t at, uint32_t limit, int category)
{
	uint32_t used = log_ring_used(r, h, t);

	if (limit >= LOG_RING_MAX || h < t)
		return 0;
	if (category == LOG_CAT_ACCESS && limit < LOG_RING_ACCESS_MIN)
		return LOG_RING_ACCESS_MIN;
	if (used + n >= limit / 4 || (at != h && used >= limit / 8))
		return limit * 2;
	return 0;
}

enum log_ring_pushed
log_ring_push(struct log_ring *r, const struct log_line *l)
{
	/* seq_cst, against log_ring_trim: a push that read an older limit
	 * is the only one that may write past the new one. */
	uint32_t lv = atomic_load(&r->limit), limit = lv & ~LOG_RING_FROZEN;
	uint32_t h = atomic_load_explicit(&r->head, memory_order_relaxed);
	uint32_t t = r->tail_seen, at, grow;
	bool grew = false;
	size_t len = l->len < LOG_MSG_MAX ? l->len : LOG_MSG_MAX;
	uint32_t n = (uint32_t)LOG_REC_SIZE(len);
	struct log_rec *rec;

	/* Look at the consumer's progress only when it matters: the ring
	 * seems full, or full enough to grow or to wake the consumer, or
	 * the producer wraps, or an access line finds the ring small. */
	at = log_ring_place(h, t, n, limit);
	if (at != h || log_ring_used(r, h, t) + n >= log_ring_watch(limit) ||
	    (l->category == LOG_CAT_ACCESS && limit < LOG_RING_ACCESS_MIN)) {
		t = r->tail_seen =
		    atomic_load_explicit(&r->tail, memory_order_acquire);
		at = log_ring_place(h, t, n, limit);
	}
	/* Not while the drain trims; if it just changed the limit, take
	 * its. */
	grow = log_ring_grow_to(r, h, t, n, at, limit, l->category);
	if (grow != 0 && !(lv & LOG_RING_FROZEN)) {
		if (atomic_compare_exchange_strong(&r->limit, &lv, grow)) {
			limit = grow;
			grew = true;
		} else
			limit = lv & ~LOG_RING_FROZEN;
		at = log_ring_place(h, t, n, limit);
	}
	if (at == LOG_RING_NONE) {
		stat_add(&r->dropped, 1);
		return LOG_RING_DROPPED;
	}
	if (at != h) {
		((struct log_rec *)(r->buf + h))->len = LOG_REC_WRAP;
		r->wrap_at = h;
	}
	rec = (struct log_rec *)(r->buf + at);
	rec->len = (uint16_t)len;
	rec->level = (uint8_t)l->level;
	rec->category = (uint8_t)l->category;
	rec->line = l->line;
	rec->ns = (int64_t)l->ts.tv_sec * 1000000000 + l->ts.tv_nsec;
	rec->file = l->file;
	rec->func = l->func;
	memcpy(rec->msg, l->msg, len);
	/* seq_cst, as the logger's store to sleeping: a kick after this
	 * push sees the logger asleep if it announced it first. */
	atomic_store(&r->head, at + n);
	/* Lines come faster than the drain's tick, or it is late. */
	return grew || log_ring_used(r, at + n, t) >= limit / 2
	           ? LOG_RING_WAKE
	           : LOG_RING_QUEUED;
}

uint64_t
log_ring_dropped(struct log_ring *r)
{
	return stat_get(&r->dropped);
}

void
log_ring_snap(struct log_ring *r)
{
	r->snap = atomic_load_explicit(&r->head, memory_order_acquire);
}

const struct log_rec *
log_ring_peek(struct log_ring *r)
{
	const struct log_rec *rec;

	if (r->taken == r->snap)
		return NULL;
	rec = (const struct log_rec *)(r->buf + r->taken);
	if (rec->len != LOG_REC_WRAP)
		return rec;
	/* A push writes its wrap mark and its record before head. */
	r->taken = 0;
	return r->taken == r->snap ? NULL : (const struct log_rec *)r->buf;
}

void
log_ring_take(struct log_ring *r)
{
	uint32_t n = (uint32_t)LOG_REC_SIZE(
	    ((const struct log_rec *)(r->buf + r->taken))->len);

	r->taken += n;
	r->drained += n;
	if (((const struct log_rec *)(r->buf + r->taken - n))->category ==
	    LOG_CAT_ACCESS)
		r->access = true;
}

void
log_ring_publish(struct log_ring *r)
{
	atomic_store_explicit(&r->tail, r->taken, memory_order_release);
}

static uint32_t
log_ring_page_down(uint32_t off)
{
	return off & ~(uint32_t)(sysconf(_SC_PAGESIZE) - 1);
}

static uint32_t
log_ring_page_up(uint32_t off)
{
	uint32_t page = (uint32_t)sysconf(_SC_PAGESIZE);

	return (off + page - 1) & ~(page - 1);
}

static void
log_ring_zap(struct log_ring *r, uint32_t from, uint32_t to)
{
	if (from < to)
		(void)madvise(r->buf + from, to - from, MADV_DONTNEED);
}

/* Set the limit to want, at most the limit now, and give back the pages
 * past it if the ring is empty. The limit is frozen meanwhile: a push
 * does not grow it. It was stored (seq_cst) before head is read here,
 * and a push reads it (seq_cst) before it writes: so a push that may
 * still use an older limit is the one that has not published its head
 * yet, and it writes at head (or at the start, below any limit). Its
 * pages stay until the next trim. */
static void
log_ring_trim(struct log_ring *r, uint32_t limit, uint32_t want)
{
	uint32_t h, lo, hi;

	if (!atomic_compare_exchange_strong(
	        &r->limit, &limit, want | LOG_RING_FROZEN))
		return; /* the producer grew it: no time to shrink */
	if (limit > r->dirty)
		r->dirty = limit;
	h = atomic_load(&r->head);
	/* The pages around the head stay resident until it moves, unless
	 * the limit went lower. */
	if (h == r->taken && (want < limit || h != r->trimmed_at)) {
		lo = log_ring_page_down(h);
		hi =
		    log_ring_page_up(h + (uint32_t)LOG_REC_MAX + LOG_REC_ALIGN);
		if (hi <= want || lo >= r->dirty) {
			log_ring_zap(r, want, r->dirty);
			r->dirty = want;
		} else {
			log_ring_zap(r, want, lo);
			log_ring_zap(r, hi > want ? hi : want, r->dirty);
			if (hi < r->dirty)
				r->dirty = hi;
			r->trimmed_at = h;
		}
	}
	atomic_store(&r->limit, want);
}

void
log_ring_tune(struct log_ring *r, long long now_ms)
{
	/* Only the consumer freezes it. */
	uint32_t limit = atomic_load_explicit(&r->limit, memory_order_relaxed);
	uint32_t want = limit, size;
	int k;

	/* A size is too small while drains took an eighth of it (a push
	 * grows the ring at a quarter), or while the producer grows past
	 * it. */
	for (k = 0, size = LOG_RING_MIN; size <= LOG_RING_MAX; k++, size *= 2)
		if (r->drained >= size / 8 ||
		    (r->access && size <= LOG_RING_ACCESS_MIN) ||
		    (limit > r->grown && size <= limit))
			r->busy_ms[k] = now_ms;
	r->grown = limit;
	r->drained = 0;
	r->access = false;
	for (k = 0, size = LOG_RING_MIN; size < limit; k++, size *= 2)
		if (now_ms - r->busy_ms[k] >= LOG_RING_QUIET_MS) {
			want = size;
			break;
		}
	if (want < limit ||
	    (r->dirty > limit && atomic_load_explicit(&r->head,
	                             memory_order_relaxed) != r->trimmed_at))
		log_ring_trim(r, limit, want);
}
