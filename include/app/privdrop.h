/* Root only for as long as binding takes: started as root, threadlined
 * requires a user to become (-u), checked at start-up, and switches to it
 * once the listeners and the log file are open. */
#ifndef TL_PRIVDROP_H
#define TL_PRIVDROP_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* Resolve the user; -1 with a message when started as root without one,
 * or when the user does not exist. Not root: nothing to do. */
int privdrop_check(const char *user, char *err, size_t errlen);
/* The user and group privdrop_switch will become; false when it will stay
 * who it is. */
bool privdrop_target(uid_t *, gid_t *);
/* Become that user for good; -1 with a message if that fails. */
int privdrop_switch(char *err, size_t errlen);

#endif
