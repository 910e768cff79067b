/* Detaching from the terminal and the pidfile. */
#ifndef TL_DAEMON_H
#define TL_DAEMON_H

#include <stddef.h>

/* Fork; the parent relays the child's start-up errors and exits with 0 only
 * once the child calls daemon_ready(). Returns in the child. */
void daemon_detach(void);
void daemon_ready(void);
int daemon_pidfile_open(const char *, char *, size_t);
void daemon_pidfile_remove(void);

#endif
