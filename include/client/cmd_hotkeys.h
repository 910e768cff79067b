/* threadline hotkeys: each worker's hottest keys, as "stats hotkeys"
 * counts them. */
#ifndef TL_CMD_HOTKEYS_H
#define TL_CMD_HOTKEYS_H

#include "client.h"

/* hotkeys [N]: argv[0] is "hotkeys"; the exit status. */
int cmd_hotkeys(struct client *, int, char **);

#endif
