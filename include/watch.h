/* Live logs over TCP: "watch [level=L] [thread=NAME|ROLE]
 * [category=general|access]" turns a connection into a stream of log
 * lines. The logger copies matching lines into each watcher's bounded
 * buffer; the owning worker sends them. A watcher that does not read loses
 * lines, never the logger's time or unbounded memory: the stream then
 * shows how many were skipped. */
#ifndef TL_WATCH_H
#define TL_WATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct conn;
struct log_line;
struct watcher;

/* Most bytes a watcher may have waiting, in its buffer and its
 * connection's output together. */
#define WATCH_BUF_MAX (256 * 1024)

/* Parse the filters (the tokens after "watch") and attach a watcher to c,
 * in c's worker. -1 with a message in err on a bad filter. */
int watch_start(struct conn *, const char *, size_t, char *, size_t);
/* Detach c's watcher; the worker calls it when c closes. */
void watch_stop(struct conn *);
/* Move what waits for c into its output; called by its worker. True when
 * lines stayed behind because the output was full. */
bool watch_pull(struct conn *);

/* Logger side: offer one formatted line to every watcher, then wake the
 * ones that got lines. */
void watch_publish(const struct log_line *, const char *, size_t);
/* Lines skipped for watchers that read too slowly, since start. */
uint64_t watch_skipped(void);
void watch_wake(void);
/* How many watchers are attached. */
int watch_count(void);

#endif
