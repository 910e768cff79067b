/* The reply catalogues' runner: reads a file of cases (tests/server/cases/:
 * text.cases, meta.cases, binary.cases, each opening with its format and
 * rules), strictly, failing the running Check test with file:line at the
 * first line it cannot take, and runs each case on a connection of its
 * own to each peer, in the file's order: later cases see earlier ones'
 * items. */
#ifndef TL_CASES_H
#define TL_CASES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "harness.h"

/* What ends a case's pipeline: a "version" request (its VERSION line),
 * an "mn" (its MN) or a binary NOOP (its reply). */
enum cases_sentinel {
	CASES_VERSION,
	CASES_MN,
	CASES_NOOP,
};

/* How a reply is compared: with the expected one, '#' in it matching a
 * run of digits, or after the meta normalisation (cases_normalise); or,
 * for binary packets, normalised and with the other server's reply (there
 * is no expected one). */
enum cases_match {
	CASES_DIGITS,
	CASES_META,
	CASES_BINARY,
};

/* A request packet of the binary protocol. body_extra is added to the
 * body length the packet claims, for lying packets; magic 0 is 0x80. */
struct cases_pkt {
	uint8_t op;
	uint8_t magic;
	const char *key;
	size_t keylen;
	const char *ext;
	uint8_t extlen;
	const char *val;
	size_t vallen;
	uint64_t cas;
	int body_extra;
	uint32_t opaque;
};
/* A packet's CAS, in a case: the key's CAS now (read first with a GETK),
 * or that plus 1000. */
#define CASES_CAS_NOW   UINT64_MAX
#define CASES_CAS_WRONG (UINT64_MAX - 1)

/* A case: a request and the reply it must get, each of explicit length
 * (they may hold NUL bytes), or the request's binary packets. */
struct cases_case {
	char *name;
	/* Of its "case" line. */
	int line;
	char *req;
	size_t reqlen;
	char *want;
	size_t wantlen;
	struct cases_pkt *pkts;
	size_t npkts;
	/* The "last" directive: it must be the file's last case. */
	bool last;
	/* The "closes" directive: the server closes the connection, so no
	 * sentinel follows the packets and the reply is read to EOF. */
	bool closes;
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
 * that does not match (binary: that differs between the two peers). */
void cases_run(
    const struct cases_file *f, const struct harness_peer *peers, int npeers);
/* Load the file at path, run it on the peers, free it: a catalogue's test. */
void cases_run_file(
    const char *path, const struct harness_peer *peers, int npeers);
/* cases_run of a binary file: the two servers' normalised replies compared
 * case by case (cases_bin.c). */
void cases_run_binary(
    const struct cases_file *f, const struct harness_peer *peers, int npeers);
/* Send req and the sentinel's request on fd; read until the reply of every
 * such request req holds and of the trailing one are in. The reply's length
 * without the trailing one; who names the exchange in a failure. */
size_t cases_exchange(enum cases_sentinel, int fd, const char *req,
    size_t reqlen, char *buf, size_t cap, const char *who);
/* The len bytes of got normalised the meta way (meta.cases says how), into
 * out (NUL-terminated). */
void cases_normalise(const char *got, size_t len, char *out, size_t cap);
/* Packet p into buf; its length. */
size_t cases_pkt_build(unsigned char *buf, const struct cases_pkt *p);
/* Read one response packet from fd into buf; its length, 0 at EOF. */
size_t cases_pkt_read(int fd, unsigned char *buf, size_t cap, const char *who);

#endif
