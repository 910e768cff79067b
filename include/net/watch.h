/* Live logs over TCP: after "watch [level=L] [thread=NAME|ROLE]
 * [category=general|access|slow]" a connection is a stream of log lines. The
 * logger copies matching lines into each watcher's bounded buffer and
 * calls its wake hook; the owner then pulls them into its output. A
 * watcher that does not read loses lines, never the logger's time or
 * unbounded memory: the stream then shows how many were skipped. */
#ifndef TL_WATCH_H
#define TL_WATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "log_filter.h"

struct obuf;
struct watcher;

/* Most bytes a watcher may have waiting, in its buffer and its output
 * together. */
#define WATCH_BUF_MAX (256 * 1024)

/* Attach a watcher for the lines f lets through. wake(arg) is called from
 * the logger thread when lines wait, under the watchers' lock: it must not
 * block, and the watcher is not stopped while it runs. */
struct watcher *watch_start(
    const struct log_filter *, void (*)(void *), void *);
void watch_stop(struct watcher *);
/* Move what waits into out; called by the owner. True when lines stayed
 * behind because out was full. */
bool watch_pull(struct watcher *, struct obuf *);

/* Logger side: offer one line, formatted (n bytes at line) by format, to
 * every watcher, then wake the ones that got lines. */
void watch_publish(const struct log_line *, const char *, size_t,
    size_t (*)(char *, size_t, const struct log_line *));
void watch_wake(void);
/* Lines skipped for watchers that read too slowly, since start. */
uint64_t watch_skipped(void);
/* Lines given to watchers, since start. */
uint64_t watch_sent(void);
/* How many watchers are attached. */
int watch_count(void);

#endif
