/* threadline top: the server's threads live, as top -H shows a process's
 * threads, but by the server's own names and roles. */
#ifndef TL_TOP_H
#define TL_TOP_H

#include "client.h"

/* top [-d SECONDS] [-n COUNT] [-s cpu|ops|conns|p99|drops|thread]; the
 * exit status. */
int cmd_top(struct client *, int, char **);

#endif
