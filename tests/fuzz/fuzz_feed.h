/* The driver the protocol fuzzers share: arbitrary bytes, split into reads
 * of arbitrary sizes, go through a protocol's process function the way a
 * connection feeds it (a bounded input buffer, consumed as answered,
 * replies drained after every read), over a small store and a stats hook
 * of the parser's own. Each fuzzer keeps its LLVMFuzzerTestOneInput and
 * its corpus, and names its protocol's process function. */
#ifndef TL_FUZZ_FEED_H
#define TL_FUZZ_FEED_H

#include <stddef.h>
#include <stdint.h>

#include "proto_text.h"

typedef size_t fuzz_process_fn(struct proto_ctx *, const char *, size_t,
    struct obuf *, enum proto_action *);

/* One input: the first two bytes choose how the rest is cut into reads.
 * proto_init runs before the first input. Crashes, sanitizer reports and a
 * request that can neither finish nor fail in the largest buffer (an
 * abort) are findings. Returns 0, as libFuzzer wants. */
int fuzz_feed(const uint8_t *, size_t, fuzz_process_fn *process);

#endif
