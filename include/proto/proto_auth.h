/* memcached's ASCII authentication (-Y): a file of user:password lines,
 * loaded at start-up and again on SIGHUP, and the check of a client's
 * credentials against it. The table is shared by every worker; a reload
 * swaps it whole, so a check sees the old file or the new one. */
#ifndef TL_PROTO_AUTH_H
#define TL_PROTO_AUTH_H

#include <stdbool.h>
#include <stddef.h>

#include "proto_text.h"

/* Read path; on success replace the table and return the users in it. A
 * file that cannot be read, a line without ':' (a blank one included) or
 * a file with no user leave the table as it was: -1 and one sentence in
 * err. */
int proto_auth_load(const char *path, char *err, size_t errlen);
/* Whether a file was loaded: connections then start unauthenticated. */
bool proto_auth_enabled(void);
/* Whether user and pass are a line of the file. */
bool proto_auth_check(
    const char *user, size_t ulen, const char *pass, size_t plen);
/* Forget the table (tests, exit). */
void proto_auth_free(void);

/* For proto_text.c: a request before authentication, as memcached's -Y:
 * only "set ANY FLAGS EXPTIME LEN" whose value is "user password" is
 * read, anything else answered CLIENT_ERROR unauthenticated. Returns the
 * bytes taken, 0 when more are needed. */
size_t proto_auth_request(
    struct proto_ctx *, const char *, size_t, enum proto_action *);
/* Send the one reply memcached keeps before authentication. */
void proto_auth_flush(struct proto_ctx *, struct obuf *);

#endif
