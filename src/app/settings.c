/* The table of settings and what each type of value parses, prints and
 * frees. A new setting is one entry here and a field in struct config. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "log.h"
#include "logger.h"
#include "settings.h"
#include "xmalloc.h"

#define SETTINGS_STR(x)  SETTINGS_STR_(x)
#define SETTINGS_STR_(x) #x

/* The names of enum log_format, in its order. */
static const char *const settings_log_formats[] = {
    [LOG_FORMAT_TEXT] = "text",
    [LOG_FORMAT_JSON] = "json",
    NULL,
};

/* memcached's -B, in the order of enum proto_binding. */
static const char *const settings_protocols[] = {
    "ascii", "auto", "binary", NULL};

/* The level of every thread of one role, over the global "level". */
#define SETTINGS_ROLE_LEVEL(role, name, what)                                  \
	{                                                                      \
		.section = "log", .key = "level_" name, .type = SETTING_LEVEL, \
		.offset = offsetof(struct config, role_level[role]),           \
		.stat = "log_level_" name,                                     \
		.help = "lowest level of " what "; unset: level applies",      \
	}

const struct setting settings[] = {
    {
        .section = "server",
        .key = "listen",
        .shortopt = 'l',
        .longopt = "listen",
        .argname = "ADDRS",
        .type = SETTING_LISTEN,
        .offset = offsetof(struct config, listen),
        .def = "127.0.0.1",
        .stat = "inter",
        .help = "addresses to listen on; those without a port use port",
    },
    {
        .section = "server",
        .key = "port",
        .shortopt = 'p',
        .longopt = "port",
        .argname = "PORT",
        .type = SETTING_INT,
        .min = 0,
        .max = 65535,
        .offset = offsetof(struct config, port),
        .def = SETTINGS_STR(ADDR_DEFAULT_PORT),
        .expect = "a port number 0..65535",
        .stat = "tcpport",
        .help = "TCP port of the listen addresses that name none; 0 lets "
                "the kernel pick one, which the log shows",
    },
    {
        .section = "server",
        .key = "threads",
        .shortopt = 't',
        .longopt = "threads",
        .argname = "N",
        .type = SETTING_INT,
        .min = 0,
        .max = 256,
        .offset = offsetof(struct config, threads),
        .def = "0",
        .expect = "0 (one per CPU) to 256",
        .stat = "num_threads",
        .help = "worker threads; 0: one per online CPU",
    },
    {
        .section = "server",
        .key = "max_connections",
        .shortopt = 'c',
        .longopt = "conn-limit",
        .argname = "N",
        .type = SETTING_INT,
        .min = 1,
        .max = 1000000,
        .offset = offsetof(struct config, max_conns),
        .def = "1024",
        .expect = "1..1000000",
        .stat = "maxconns",
        .help = "simultaneous client connections; more are answered "
                "\"ERROR Too many open connections\" and closed",
    },
    {
        .section = "server",
        .key = "request_timeout",
        .longopt = "request-timeout",
        .argname = "S",
        .type = SETTING_INT,
        .min = 0,
        .max = 86400,
        .offset = offsetof(struct config, request_timeout),
        .def = "30",
        .expect = "seconds, 0 (off) to 86400",
        .stat = "request_timeout",
        .help = "close a client whose request stays incomplete this many "
                "seconds; 0: off",
    },
    {
        .section = "server",
        .key = "write_timeout",
        .longopt = "write-timeout",
        .argname = "S",
        .type = SETTING_INT,
        .min = 0,
        .max = 86400,
        .offset = offsetof(struct config, write_timeout),
        .def = "30",
        .expect = "seconds, 0 (off) to 86400",
        .stat = "write_timeout",
        .help = "close a client that reads none of its replies for this "
                "many seconds; 0: off",
    },
    {
        .section = "server",
        .key = "idle_timeout",
        .longopt = "idle-timeout",
        .argname = "S",
        .type = SETTING_INT,
        .min = 0,
        .max = 86400,
        .offset = offsetof(struct config, idle_timeout),
        .def = "0",
        .expect = "seconds, 0 (off) to 86400",
        .stat = "idle_timeout",
        .help = "close a connection idle this many seconds; 0: off, as "
                "memcached",
    },
    {
        .section = "server",
        .key = "read_buf_mem_limit",
        .longopt = "read-buf-mem-limit",
        .argname = "MB",
        .type = SETTING_SIZE,
        .min = 0,
        .max = 1 << 20,
        .offset = offsetof(struct config, read_buf_mb),
        .def = "0",
        .expect = "megabytes, 0 (no limit) to 1048576",
        .stat = "read_buf_mem_limit",
        .help = "memcached's read_buf_mem_limit (-o read_buf_mem_limit=MB): "
                "the connections' 16 KiB read buffers, split between the "
                "workers (at least one each); a connection that finds none "
                "left is closed (stats: read_buf_oom); 0: no limit",
    },
    {
        .section = "server",
        .key = "daemonize",
        .shortopt = 'd',
        .longopt = "daemon",
        .optval = "yes",
        .type = SETTING_BOOL,
        .offset = offsetof(struct config, daemonize),
        .def = "no",
        .stat = "daemonize",
        .help = "detach from the terminal once listening",
    },
    {
        .section = "server",
        .key = "pidfile",
        .shortopt = 'P',
        .longopt = "pidfile",
        .argname = "FILE",
        .type = SETTING_PATH,
        .offset = offsetof(struct config, pidfile),
        .stat = "pidfile",
        .help = "write the process id to this file, removed at exit",
    },
    {
        .section = "server",
        .key = "auth_file",
        .shortopt = 'Y',
        .longopt = "auth-file",
        .argname = "FILE",
        .type = SETTING_PATH,
        .offset = offsetof(struct config, auth_file),
        .stat = "auth_enabled_ascii",
        .help = "memcached's ASCII authentication: a file of user:password "
                "lines; a connection must first send \"set KEY 0 0 LEN\" "
                "with \"user password\" as the value; read again on SIGHUP",
    },
    {
        .section = "server",
        .key = "user",
        .shortopt = 'u',
        .longopt = "user",
        .argname = "USER",
        .type = SETTING_STRING,
        .offset = offsetof(struct config, user),
        .expect = "a user name",
        .stat = "user",
        .help = "started as root: run as this user once the ports and the "
                "log file are open (\"root\" keeps root)",
    },
    {
        .section = "server",
        .key = "enable_shutdown",
        .shortopt = 'A',
        .longopt = "enable-shutdown",
        .optval = "yes",
        .type = SETTING_BOOL,
        .offset = offsetof(struct config, enable_shutdown),
        .def = "no",
        .stat = "shutdown_command",
        .help = "accept the \"shutdown\" command, which stops the server "
                "(memcached's -A)",
    },
    {
        .section = "server",
        .key = "unix_socket",
        .shortopt = 's',
        .longopt = "unix-socket",
        .argname = "FILE",
        .type = SETTING_PATH,
        .offset = offsetof(struct config, unix_socket),
        .stat = "domain_socket",
        .help = "listen on this UNIX socket instead of TCP: listen and port "
                "are not used, as memcached's -s",
    },
    {
        .section = "server",
        .key = "unix_mask",
        .shortopt = 'a',
        .longopt = "unix-mask",
        .argname = "MASK",
        .type = SETTING_INT,
        .min = 0,
        .max = 0777,
        .octal = true,
        .offset = offsetof(struct config, unix_mask),
        .def = "700",
        .expect = "an octal mode, 0..777",
        .stat = "umask",
        .help = "mode of the UNIX socket, in octal",
    },
    {
        .section = "server",
        .key = "udp_port",
        .shortopt = 'U',
        .longopt = "udp-port",
        .argname = "PORT",
        .type = SETTING_INT,
        .min = 0,
        .max = 0,
        .offset = offsetof(struct config, udp_port),
        .def = "0",
        .expect = "0 (off): threadline has no UDP",
        .stat = "udpport",
        .help = "memcached's UDP port: only 0, off, is accepted",
    },
    {
        .section = "server",
        .key = "listen_backlog",
        .shortopt = 'b',
        .longopt = "listen-backlog",
        .argname = "N",
        .type = SETTING_INT,
        .min = 1,
        .max = 65535,
        .offset = offsetof(struct config, backlog),
        .def = "1024",
        .expect = "1..65535",
        .stat = "tcp_backlog",
        .help = "connections the kernel queues before they are accepted",
    },
    {
        .section = "server",
        .key = "max_reqs_per_event",
        .shortopt = 'R',
        .longopt = "max-reqs-per-event",
        .argname = "N",
        .type = SETTING_INT,
        .min = 1,
        .max = 1000000,
        .offset = offsetof(struct config, reqs_per_event),
        .def = "20",
        .expect = "1..1000000",
        .stat = "reqs_per_event",
        .help = "requests of one connection answered per read before the "
                "others get their turn",
    },
    {
        .section = "server",
        .key = "hotkeys_sample",
        .longopt = "hotkeys-sample",
        .argname = "N",
        .type = SETTING_INT,
        .min = 0,
        .max = 1000000,
        .offset = offsetof(struct config, hotkeys_sample),
        .def = "32",
        .expect = "0 (off) to 1000000",
        .stat = "hotkeys_sample",
        .help = "stats hotkeys counts one request in N at random, N "
                "times over; 1: every one, counts within their error "
                "bounds; 0: off",
    },
    {
        .section = "server",
        .key = "protocol",
        .shortopt = 'B',
        .longopt = "protocol",
        .argname = "NAME",
        .type = SETTING_ENUM,
        .choices = settings_protocols,
        .offset = offsetof(struct config, protocol),
        .def = "auto",
        .expect = "ascii, auto or binary",
        .stat = "binding_protocol",
        .help = "memcached's protocol choice: auto reads each "
                "connection's first byte (0x80: binary); -Y makes it "
                "ascii and refuses another",
    },
    {
        .section = "server",
        .key = "lock_memory",
        .shortopt = 'k',
        .longopt = "lock-memory",
        .optval = "yes",
        .type = SETTING_BOOL,
        .offset = offsetof(struct config, lock_memory),
        .def = "no",
        .stat = "lock_memory",
        .help = "lock all memory in RAM (mlockall); a failure is a warning",
    },
    {
        .section = "server",
        .key = "enable_coredumps",
        .shortopt = 'r',
        .longopt = "enable-coredumps",
        .optval = "yes",
        .type = SETTING_BOOL,
        .offset = offsetof(struct config, coredumps),
        .def = "no",
        .stat = "enable_coredumps",
        .help = "raise the core file size limit to its maximum",
    },
    {
        .section = "cache",
        .key = "memory_limit",
        .shortopt = 'm',
        .longopt = "memory-limit",
        .argname = "MB",
        .type = SETTING_SIZE,
        .min = 1,
        .max = 1 << 20,
        .offset = offsetof(struct config, memory_mb),
        .def = "64",
        .expect = "megabytes, 1..1048576",
        .stat = "maxbytes",
        .help = "memory for items in megabytes, keys, values and per-item "
                "overhead counted",
    },
    {
        .section = "cache",
        .key = "item_size_max",
        .shortopt = 'I',
        .longopt = "max-item-size",
        .argname = "N",
        .type = SETTING_SIZE,
        .min = 1024,
        .max = CONFIG_ITEM_MAX_LIMIT,
        .suffix = true,
        .offset = offsetof(struct config, item_max),
        .def = "1m",
        .expect = "bytes, 1k..64m (suffix k or m allowed)",
        .stat = "item_size_max",
        .help = "largest item (key and value) in bytes",
    },
    {
        .section = "cache",
        .key = "evict",
        .shortopt = 'M',
        .longopt = "disable-evictions",
        .optval = "no",
        .type = SETTING_BOOL,
        .offset = offsetof(struct config, evict),
        .def = "yes",
        .stat = "evictions",
        .help = "when memory is full, evict the least recently used items; "
                "no: refuse stores with \"SERVER_ERROR out of memory\"",
    },
    {
        .section = "cache",
        .key = "temporary_ttl",
        .longopt = "temporary-ttl",
        .argname = "SECONDS",
        .type = SETTING_INT,
        .min = 0,
        .max = 2592000,
        .offset = offsetof(struct config, temporary_ttl),
        .def = "0",
        .expect = "seconds, 0 (off) to 2592000",
        .stat = "temporary_ttl",
        .help = "memcached's temporary LRU (-o temporary_ttl=N): an item "
                "that expires within N seconds is never evicted, it frees "
                "itself; 0: off",
    },
    {
        .section = "cache",
        .key = "cas",
        .shortopt = 'C',
        .longopt = "disable-cas",
        .optval = "no",
        .type = SETTING_BOOL,
        .offset = offsetof(struct config, cas),
        .def = "yes",
        .stat = "cas_enabled",
        .help = "no: gets shows CAS 0 and cas answers EXISTS, as "
                "memcached -C",
    },
    {
        .section = "cache",
        .key = "flush_all",
        .shortopt = 'F',
        .longopt = "disable-flush-all",
        .optval = "no",
        .type = SETTING_BOOL,
        .offset = offsetof(struct config, flush_enabled),
        .def = "yes",
        .stat = "flush_enabled",
        .help = "no: flush_all is refused",
    },
    {
        .section = "cache",
        .key = "dump",
        .shortopt = 'X',
        .longopt = "disable-dumping",
        .optval = "no",
        .type = SETTING_BOOL,
        .offset = offsetof(struct config, dump_enabled),
        .def = "yes",
        .stat = "dump_enabled",
        .help = "no: stats cachedump is refused",
    },
    {
        .section = "cache",
        .key = "prefix_delimiter",
        .shortopt = 'D',
        .longopt = "prefix-delimiter",
        .argname = "CHAR",
        .type = SETTING_STRING,
        .offset = offsetof(struct config, prefix_delimiter),
        .def = ":",
        .expect = "a character",
        .stat = "prefix_delimiter",
        .help = "what ends a key's prefix in per-prefix stats (memcached's "
                "-D)",
    },
    {
        .section = "log",
        .key = "file",
        .longopt = "log-file",
        .argname = "FILE",
        .type = SETTING_PATH,
        .offset = offsetof(struct config, log_file),
        .stat = "log_file",
        .help = "also write the log to this file, reopened on SIGHUP",
    },
    {
        .section = "log",
        .key = "format",
        .longopt = "log-format",
        .argname = "FMT",
        .type = SETTING_ENUM,
        .choices = settings_log_formats,
        .offset = offsetof(struct config, log_format),
        .def = "text",
        .expect = "text or json",
        .stat = "log_format",
        .help = "format of stderr, the file and \"watch\" streams",
    },
    {
        .section = "log",
        .key = "level",
        .longopt = "log-level",
        .argname = "LVL",
        .type = SETTING_LEVEL,
        .offset = offsetof(struct config, log_level),
        .def = "notice",
        .stat = "log_level",
        .help = "lowest level written: notice logs start, stop, warnings "
                "and errors, info each connection too; -v, -vv, -vvv set "
                "it; \"verbosity\" changes it at run time",
    },
    {
        .section = "log",
        .key = "watch",
        .shortopt = 'W',
        .longopt = "disable-watch",
        .optval = "no",
        .type = SETTING_BOOL,
        .offset = offsetof(struct config, watch_enabled),
        .def = "yes",
        .stat = "watch_enabled",
        .help = "no: the watch command is refused",
    },
    SETTINGS_ROLE_LEVEL(ROLE_MAIN, "main", "the main thread"),
    SETTINGS_ROLE_LEVEL(ROLE_LOGGER, "logger", "the logger thread"),
    SETTINGS_ROLE_LEVEL(ROLE_ACCEPT, "accept", "the accept thread"),
    SETTINGS_ROLE_LEVEL(ROLE_WORKER, "worker", "the worker threads"),
    SETTINGS_ROLE_LEVEL(ROLE_MAINT, "maint", "the maint thread"),
    SETTINGS_ROLE_LEVEL(ROLE_ADMIN, "admin", "the admin thread"),
    {
        .section = "log",
        .key = "syslog",
        .longopt = "syslog",
        .optval = "yes",
        .type = SETTING_BOOL,
        .offset = offsetof(struct config, log_syslog),
        .def = "no",
        .stat = "log_syslog",
        .help = "also send every line to syslog, facility daemon",
    },
    {
        .section = "log",
        .key = "syslog_socket",
        .longopt = "syslog-socket",
        .argname = "PATH",
        .type = SETTING_PATH,
        .offset = offsetof(struct config, log_syslog_socket),
        .def = "/dev/log",
        .stat = "log_syslog_socket",
        .help = "the unix datagram socket syslog lines are sent to",
    },
    {
        .section = "log",
        .key = "journald",
        .longopt = "journald",
        .optval = "yes",
        .type = SETTING_BOOL,
        .offset = offsetof(struct config, log_journald),
        .def = "no",
        .stat = "log_journald",
        .help = "also send every line to the systemd journal",
    },
    {
        .section = "log",
        .key = "access",
        .longopt = "access-log",
        .optval = "yes",
        .type = SETTING_BOOL,
        .offset = offsetof(struct config, log_access),
        .def = "no",
        .stat = "log_access",
        .help = "log one line per command, category access, at level info",
    },
    {
        .section = "admin",
        .key = "listen",
        .longopt = "admin",
        .argname = "ADDR",
        .type = SETTING_PATH,
        .offset = offsetof(struct config, admin_listen),
        .expect = "HOST:PORT; empty: off",
        .stat = "admin_listen",
        .help = "where the admin thread serves HTTP (/status, /threads, "
                "/metrics); port 0 lets the kernel pick one, which the log "
                "shows; unset (the default): no admin thread",
    },
    {
        .section = "admin",
        .key = "max_connections",
        .type = SETTING_INT,
        .min = 1,
        .max = 1024,
        .offset = offsetof(struct config, admin_max_conns),
        .def = "32",
        .expect = "1..1024",
        .stat = "admin_max_connections",
        .help = "admin connections open at once (the 16 /logs streams "
                "leave room for as many requests); the admin port accepts "
                "no more until one closes",
    },
    {
        .section = "admin",
        .key = "allow_hosts",
        .type = SETTING_PATH,
        .offset = offsetof(struct config, admin_allow_hosts),
        .expect = "host names, comma-separated; empty: none",
        .stat = "admin_allow_hosts",
        .help = "Host header names the admin thread answers besides "
                "loopback names and its listen address; others get 421",
    },
    {
        .section = "admin",
        .key = "token",
        .type = SETTING_PATH,
        .offset = offsetof(struct config, admin_token),
        .expect = "a token; empty: none",
        .stat = "admin_token",
        .help = "when set, every admin request but /metrics needs "
                "\"Authorization: Bearer TOKEN\"; config file only, so "
                "that ps does not show it",
        .secret = true,
    },
    {
        .section = "log",
        .key = "slow_us",
        .longopt = "slow-us",
        .argname = "US",
        .type = SETTING_INT,
        .min = 0,
        .max = 60000000,
        .offset = offsetof(struct config, slow_us),
        .def = "0",
        .expect = "microseconds, 0 (off) to 60000000",
        .stat = "log_slow_us",
        .help = "log a warn line for each request that takes this many "
                "microseconds or more, 10 a second per worker at most; 0: "
                "off",
    },
    {
        .section = "server",
        .key = "stall_ms",
        .longopt = "stall-ms",
        .argname = "MS",
        .type = SETTING_INT,
        .min = 0,
        .max = 3600000,
        .offset = offsetof(struct config, stall_ms),
        .def = "1000",
        .expect = "milliseconds, 0 (off) to 3600000",
        .stat = "stall_ms",
        .help = "a worker in one callback this long is stalled: one warn "
                "line names it, its request and its stack, and the "
                "systemd watchdog is not notified until it is back; 0: off",
    },
    {
        .section = "server",
        .key = "debug_commands",
        .longopt = "enable-debug-commands",
        .optval = "yes",
        .type = SETTING_BOOL,
        .offset = offsetof(struct config, debug_commands),
        .def = "no",
        .stat = "debug_commands",
        .help = "accept \"debug sleep MS\", which stalls a worker, for "
                "tests; otherwise it is an unknown command",
    },
};
_Static_assert(sizeof settings / sizeof settings[0] == SETTINGS_COUNT,
    "SETTINGS_COUNT is not the number of settings");

/* A linear search: the table is small and read at start-up only. */
const struct setting *
settings_find(const char *section, const char *key)
{
	for (size_t i = 0; i < SETTINGS_COUNT; i++)
		if (strcmp(settings[i].section, section) == 0 &&
		    strcmp(settings[i].key, key) == 0)
			return &settings[i];
	return NULL;
}

/* Tells "unknown section" from "unknown key". */
bool
settings_section_exists(const char *section)
{
	for (size_t i = 0; i < SETTINGS_COUNT; i++)
		if (strcmp(settings[i].section, section) == 0)
			return true;
	return false;
}

/* Where struct config keeps the setting. */
static void *
settings_field(const struct config *c, const struct setting *s)
{
	return (char *)c + s->offset;
}

/* The setting's own words, or its type's. */
const char *
settings_expect(const struct setting *s)
{
	static const char *const by_type[] = {
	    [SETTING_BOOL] = "yes or no",
	    [SETTING_PATH] = "a path; empty: none",
	    [SETTING_LEVEL] = "error, warn, notice, info or debug",
	    [SETTING_LISTEN] =
	        "HOST, HOST:PORT or [IPV6]:PORT, comma-separated",
	};

	return s->expect != NULL ? s->expect : by_type[s->type];
}

/* The one message of a value its type refuses; returns -1. */
static int
settings_bad(const struct setting *s, const char *v, char *err, size_t errlen)
{
	snprintf(err, errlen, "bad value '%s' for %s: expected %s", v, s->key,
	    settings_expect(s));
	return -1;
}

/* A decimal number with nothing after it; with suffix, a size as
 * memcached's -I takes it: digits, then k or m. */
static int
settings_number(const char *v, bool suffix, long long *out)
{
	char *end;
	unsigned long long n;

	if (!suffix) {
		errno = 0;
		*out = strtoll(v, &end, 10);
		return errno != 0 || end == v || *end != '\0' ? -1 : 0;
	}
	if (*v < '0' || *v > '9')
		return -1;
	errno = 0;
	n = strtoull(v, &end, 10);
	if (errno != 0)
		return -1;
	if (*end == 'k' || *end == 'K') {
		n *= 1024;
		end++;
	} else if (*end == 'm' || *end == 'M') {
		n *= 1024 * 1024;
		end++;
	}
	if (*end != '\0' || n > LLONG_MAX)
		return -1;
	*out = (long long)n;
	return 0;
}

/* Octal digits only, as memcached's -a reads its mask. */
static int
settings_octal(const char *v, long long *out)
{
	char *end;

	if (*v < '0' || *v > '7')
		return -1;
	errno = 0;
	*out = strtoll(v, &end, 8);
	return errno != 0 || *end != '\0' ? -1 : 0;
}

/* An int in [min, max]. */
static int
settings_parse_int(struct config *c, const struct setting *s, const char *v,
    char *err, size_t errlen)
{
	long long n;
	int bad =
	    s->octal ? settings_octal(v, &n) : settings_number(v, false, &n);

	if (bad || n < s->min || n > s->max)
		return settings_bad(s, v, err, errlen);
	*(int *)settings_field(c, s) = (int)n;
	return 0;
}

/* A size_t in [min, max]. */
static int
settings_parse_size(struct config *c, const struct setting *s, const char *v,
    char *err, size_t errlen)
{
	long long n;

	if (settings_number(v, s->suffix, &n) || n < s->min || n > s->max)
		return settings_bad(s, v, err, errlen);
	*(size_t *)settings_field(c, s) = (size_t)n;
	return 0;
}

/* yes/no, true/false (any case) or 1/0. */
static int
settings_parse_bool(struct config *c, const struct setting *s, const char *v,
    char *err, size_t errlen)
{
	bool *b = settings_field(c, s);

	if (!strcasecmp(v, "yes") || !strcasecmp(v, "true") || !strcmp(v, "1"))
		*b = true;
	else if (!strcasecmp(v, "no") || !strcasecmp(v, "false") ||
	         !strcmp(v, "0"))
		*b = false;
	else
		return settings_bad(s, v, err, errlen);
	return 0;
}

/* A path; the empty string, as "pidfile =" in the file, unsets it. */
static int
settings_parse_path(struct config *c, const struct setting *s, const char *v,
    char *err, size_t errlen)
{
	char **p = settings_field(c, s);

	free(*p);
	*p = *v == '\0' ? NULL : xstrdup(v);
	return 0;
}

/* A string that may not be empty, as a user name. */
static int
settings_parse_string(struct config *c, const struct setting *s, const char *v,
    char *err, size_t errlen)
{
	if (*v == '\0')
		return settings_bad(s, v, err, errlen);
	return settings_parse_path(c, s, v, err, errlen);
}

/* A level by name or by memcached's verbosity number. */
static int
settings_parse_level(struct config *c, const struct setting *s, const char *v,
    char *err, size_t errlen)
{
	int level = log_level_parse(v);

	if (level == -1)
		return settings_bad(s, v, err, errlen);
	*(int *)settings_field(c, s) = level;
	return 0;
}

/* One of the choices, exactly; stored as its index. */
static int
settings_parse_enum(struct config *c, const struct setting *s, const char *v,
    char *err, size_t errlen)
{
	for (int i = 0; s->choices[i] != NULL; i++)
		if (strcmp(v, s->choices[i]) == 0) {
			*(int *)settings_field(c, s) = i;
			return 0;
		}
	return settings_bad(s, v, err, errlen);
}

/* Replace the listen list with the comma-separated addresses in v. */
static int
settings_parse_listen(struct config *c, const struct setting *s, const char *v,
    char *err, size_t errlen)
{
	char *copy = xstrdup(v), *tok, *save = NULL;
	char host[256];
	int port;

	settings_clear(c, s);
	for (tok = strtok_r(copy, ", ", &save); tok != NULL;
	     tok = strtok_r(NULL, ", ", &save)) {
		if (c->nlisten == CONFIG_MAX_LISTEN) {
			snprintf(err, errlen, "more than %d listen addresses",
			    CONFIG_MAX_LISTEN);
			goto fail;
		}
		if (addr_split(tok, 0, host, sizeof host, &port)) {
			snprintf(err, errlen,
			    "bad listen address '%s': expected HOST, HOST:PORT "
			    "or [IPV6]:PORT",
			    tok);
			goto fail;
		}
		c->listen[c->nlisten++] = xstrdup(tok);
	}
	free(copy);
	if (c->nlisten == 0) {
		snprintf(err, errlen, "listen needs at least one address");
		return -1;
	}
	return 0;
fail:
	free(copy);
	return -1;
}

/* Hand the value to the parser of the setting's type. */
int
settings_set(struct config *c, const struct setting *s, const char *v,
    char *err, size_t errlen)
{
	static int (*const parse[])(struct config *, const struct setting *,
	    const char *, char *, size_t) = {
	    [SETTING_INT] = settings_parse_int,
	    [SETTING_SIZE] = settings_parse_size,
	    [SETTING_BOOL] = settings_parse_bool,
	    [SETTING_STRING] = settings_parse_string,
	    [SETTING_PATH] = settings_parse_path,
	    [SETTING_LEVEL] = settings_parse_level,
	    [SETTING_ENUM] = settings_parse_enum,
	    [SETTING_LISTEN] = settings_parse_listen,
	};

	return parse[s->type](c, s, v, err, errlen);
}

/* Strings and the listen list are freed; levels go back to -1, the rest
 * to zero. */
void
settings_clear(struct config *c, const struct setting *s)
{
	void *field = settings_field(c, s);

	switch (s->type) {
	case SETTING_STRING:
	case SETTING_PATH:
		free(*(char **)field);
		*(char **)field = NULL;
		break;
	case SETTING_LISTEN:
		for (int i = 0; i < c->nlisten; i++)
			free(c->listen[i]);
		c->nlisten = 0;
		break;
	case SETTING_LEVEL:
		*(int *)field = -1;
		break;
	case SETTING_INT:
	case SETTING_ENUM:
		*(int *)field = 0;
		break;
	case SETTING_SIZE:
		*(size_t *)field = 0;
		break;
	case SETTING_BOOL:
		*(bool *)field = false;
		break;
	}
}

/* The listen list as the file spells it, comma-separated. */
static char *
settings_format_listen(const struct config *c, const char *unset)
{
	size_t len = 1;
	char *s;

	if (c->nlisten == 0)
		return xstrdup(unset);
	for (int i = 0; i < c->nlisten; i++)
		len += strlen(c->listen[i]) + 1;
	s = xmalloc(len);
	s[0] = '\0';
	for (int i = 0; i < c->nlisten; i++) {
		if (i > 0)
			strcat(s, ",");
		strcat(s, c->listen[i]);
	}
	return s;
}

/* Ints and sizes in decimal, bools as yes or no, levels and choices by
 * name. */
char *
settings_format(
    const struct config *c, const struct setting *s, const char *unset)
{
	const void *field = settings_field(c, s);
	const char *str = NULL;
	char *out;
	int n;

	switch (s->type) {
	case SETTING_INT:
		if (s->octal)
			xasprintf(&out, "%o", (unsigned)*(const int *)field);
		else
			xasprintf(&out, "%d", *(const int *)field);
		return out;
	case SETTING_SIZE:
		xasprintf(&out, "%zu", *(const size_t *)field);
		return out;
	case SETTING_BOOL:
		str = *(const bool *)field ? "yes" : "no";
		break;
	case SETTING_STRING:
	case SETTING_PATH:
		str = *(char *const *)field;
		if (str != NULL && s->secret)
			str = "(hidden)";
		break;
	case SETTING_LEVEL:
		n = *(const int *)field;
		str = n == -1 ? NULL : log_level_name(n);
		break;
	case SETTING_ENUM:
		str = s->choices[*(const int *)field];
		break;
	case SETTING_LISTEN:
		return settings_format_listen(c, unset);
	}
	return xstrdup(str != NULL ? str : unset);
}

/* obs's settings iterator over the table, arg the config. */
static bool
settings_obs_setting(
    const void *arg, size_t i, const char *unset, struct obs_setting *o)
{
	const struct setting *s = &settings[i];

	if (i >= SETTINGS_COUNT)
		return false;
	o->section = s->section;
	o->key = s->key;
	o->stat = s->stat;
	o->path = s->type == SETTING_PATH;
	o->value = unset != NULL ? settings_format(arg, s, unset) : NULL;
	return true;
}

void
settings_obs_config(const struct config *c, struct obs_config *o)
{
	*o = (struct obs_config){.max_conns = c->max_conns,
	    .unix_socket = c->unix_socket,
	    .auth_file = c->auth_file,
	    .prefix_delimiter = c->prefix_delimiter,
	    .config_file = c->config_file,
	    .read_buf_mb = c->read_buf_mb,
	    .temporary_ttl = c->temporary_ttl,
	    .evict = c->evict,
	    .protocol = c->protocol,
	    .admin_listen = c->admin_listen,
	    .admin_token = c->admin_token,
	    .admin_allow_hosts = c->admin_allow_hosts,
	    .admin_max_conns = c->admin_max_conns,
	    .admin_port = CONFIG_ADMIN_PORT,
	    .setting = settings_obs_setting,
	    .setting_arg = c};
}
