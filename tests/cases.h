/* The reply catalogues' runner: reads a file of cases (tests/cases/text.cases,
 * whose format each file's opening comment gives), strictly, failing the
 * running Check test with file:line at the first line it cannot take, and
 * runs each case on a connection of its own to each peer, in the file's
 * order: later cases see earlier ones' items. */
#ifndef TL_CASES_H
#define TL_CASES_H

#include <stdbool.h>
#include <stddef.h>

#include "harness.h"

/* What ends a case's pipeline: a "version" request (its VERSION line) or
 * an "mn" (its MN). */
enum cases_sentinel {
	CASES_VERSION,
	CASES_MN,
};

/* How a reply is compared with the expected one: '#' in it matching a run
 * of digits, or the reply normalised the meta way (cases_normalise) and
 * then compared as is. */
enum cases_match {
	CASES_DIGITS,
	CASES_META,
};

/* A case: a request and the reply it must get, each of explicit length
 * (they may hold NUL bytes). */
struct cases_case {
	char *name;
	/* Of its "case" line. */
	int line;
	char *req;
	size_t reqlen;
	char *want;
	size_t wantlen;
	/* The "last" directive: it must be the file's last case. */
	bool last;
};

struct cases_file {
	const char *path;
	enum cases_sentinel sentinel;
	enum cases_match match;
	struct cases_case *cases;
	size_t n;
};

/* Read and check the file at path (NULL: the test fails, its variable is
 * unset) into f; free it with cases_free. */
void cases_load(struct cases_file *f, const char *path);
void cases_free(struct cases_file *f);
/* Every case of f on each of the peers; the test fails at the first reply
 * that does not match. */
void cases_run(
    const struct cases_file *f, const struct harness_peer *peers, int npeers);
/* Send req and the sentinel's request on fd; read until the reply of every
 * such request req holds and of the trailing one are in. The reply's length
 * without the trailing one; who names the exchange in a failure. */
size_t cases_exchange(enum cases_sentinel, int fd, const char *req,
    size_t reqlen, char *buf, size_t cap, const char *who);
/* The len bytes of got normalised the meta way (meta.cases says how), into
 * out (NUL-terminated). */
void cases_normalise(const char *got, size_t len, char *out, size_t cap);

#endif
