/* "stats detail": gets (hit or not), sets and deletes counted per key
 * prefix, each worker in a table of its own, while it is on. */
#ifndef TL_STATS_DETAIL_H
#define TL_STATS_DETAIL_H

#include <stdbool.h>
#include <stddef.h>

#include "proto_text.h"

struct obuf;

/* The protocol's detail hook: count op of key, if detail is on and the
 * key has a prefix. */
void stats_detail_record(enum proto_detail, const char *, size_t, bool);
bool stats_detail_enabled(void);
void stats_detail_set(bool);
/* -D: what ends a key's prefix; ':' unless set. */
const char *stats_detail_delimiter(void);
/* "PREFIX p get N hit N set N del N" per prefix, every worker's summed. */
void stats_detail_dump(struct obuf *);
/* Forget every prefix: "stats reset". */
void stats_detail_clear(void);

#endif
