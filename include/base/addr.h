/* Socket addresses as text: "v4:port", "[v6]:port", and listen specs. */
#ifndef TL_ADDR_H
#define TL_ADDR_H

#include <stddef.h>
#include <sys/socket.h>

/* The port threadlined listens on and threadline asks by default. */
#define ADDR_DEFAULT_PORT 11311
/* Room for any formatted IP address. */
#define ADDR_MAX 64
/* Room for addr_format_stats's words: "unix:" and a sun_path. */
#define ADDR_STATS_MAX 128

/* A port: decimal digits only, 0..65535; -1 when s is none. */
int addr_port(const char *, int *);
void addr_format(const struct sockaddr *, socklen_t, char *, size_t);
/* The address as memcached's "stats conns" words it: tcp:HOST:PORT,
 * tcp6:[HOST]:PORT, unix:PATH. */
void addr_format_stats(const struct sockaddr *, socklen_t, char *, size_t);
/* Split "host", "host:port", "[v6]:port" or a bare IPv6 address into host
 * and port (defport when absent); -1 on a malformed spec. */
int addr_split(const char *, int, char *, size_t, int *);

#endif
