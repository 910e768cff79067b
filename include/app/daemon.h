/* Detaching from the terminal and the pidfile. */
#ifndef TL_DAEMON_H
#define TL_DAEMON_H

#include <stddef.h>

/* Fork; the parent relays the child's start-up errors and exits with 0 only
 * once the child calls daemon_ready(). Returns in the child. */
void daemon_detach(void);
void daemon_ready(void);
/* Take the pidfile: locked for the process's life, then our pid written;
 * -1 with a message when another live process holds it or it cannot be
 * written. */
int daemon_pidfile_open(const char *, char *, size_t);
/* Remove it at exit, only if it is still the one this process holds. */
void daemon_pidfile_remove(void);

#endif
