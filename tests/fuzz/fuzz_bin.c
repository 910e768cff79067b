/* libFuzzer harness for the binary protocol: arbitrary bytes, split into
 * reads of arbitrary sizes, go through proto_bin_process the way a
 * connection feeds it (fuzz_feed.c). Crashes, sanitizer reports and a
 * request that can neither finish nor fail in the largest buffer are
 * findings. */
#include <stddef.h>
#include <stdint.h>

#include "fuzz_feed.h"
#include "proto_bin.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	return fuzz_feed(data, size, proto_bin_process);
}
