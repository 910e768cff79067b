/* Each worker's hot keys, by requests and by bytes sent: "stats hotkeys
 * [N]" and the admin port's /hotkeys. */
#ifndef TL_STATS_HOTKEYS_H
#define TL_STATS_HOTKEYS_H

#include <stdbool.h>
#include <stddef.h>

struct evbuffer;
struct obuf;

/* How many keys a reply names per worker and measure when not told. */
#define STATS_HOTKEYS_DEFAULT 10

/* N of "stats hotkeys [N]" or "?n=N", the whole of [s, s + len): 1 and
 * up, more than a table holds read as all it holds. False: not one. */
bool stats_hotkeys_arg(const char *s, size_t len, unsigned *n);
/* "stats hotkeys [N]": the arguments after the group, [args, end). */
void stats_hotkeys(const char *args, const char *end, struct obuf *);
/* /hotkeys: the top n of each worker as JSON. */
void stats_hotkeys_json(struct evbuffer *, unsigned n);

#endif
