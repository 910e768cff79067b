/* Settings from built-in defaults, then the config file, then the command
 * line. struct config is app's alone: each floor below is handed its own
 * copy of what it needs at init (proto_config, obs_config...), which it
 * may keep in a file-scope variable of its own. */
#ifndef TL_CONFIG_H
#define TL_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "accept.h"
#include "addr.h"
#include "thread.h"

#define CONFIG_MAX_LISTEN ACCEPT_MAX_SPECS

struct config {
	char *config_file;
	char *listen[CONFIG_MAX_LISTEN]; /* "host", "host:port", "[v6]:port" */
	int nlisten;
	int port;
	int threads;
	int max_conns;
	int request_timeout; /* seconds; 0: no limit */
	int write_timeout;
	int idle_timeout;
	int log_level;
	bool daemonize;
	bool check_only;
	/* --help, --help-config, --help-man: what to print instead of
	 * serving (config_print), and --help-man's argument. */
	enum config_print {
		CONFIG_PRINT_NONE,
		CONFIG_PRINT_HELP,
		CONFIG_PRINT_HELP_CONFIG,
		CONFIG_PRINT_HELP_MAN
	} print;
	const char *print_arg;
	char *pidfile;
	char *auth_file; /* -Y: memcached's user:password file */
	char *user;      /* to run as after binding, when started as root */
	char *log_file;
	int log_format; /* enum log_format */
	bool log_syslog;
	char *log_syslog_socket;
	bool log_journald;
	bool log_access;            /* one line per command */
	int slow_us;                /* log requests this slow; 0: none */
	int role_level[ROLE_COUNT]; /* per role; -1: the global level */
	bool enable_shutdown;
	int stall_ms;        /* a worker this long in one callback is stalled */
	bool debug_commands; /* "debug sleep" for tests */
	size_t memory_mb;    /* cache memory limit */
	size_t item_max;     /* largest key + value, bytes */
	bool evict;          /* false: out of memory errors instead (-M) */
	int temporary_ttl;   /* items expiring this soon are not evicted */
	/* memcached's options that mean something here. */
	char *unix_socket; /* -s: listen there instead of on TCP */
	int unix_mask;     /* -a: its mode */
	int udp_port;      /* -U: only 0, we have no UDP */
	int backlog;       /* -b */
	int reqs_per_event;
	int hotkeys_sample;  /* one request in this many among the hot keys */
	size_t read_buf_mb;  /* memcached's read_buf_mem_limit; 0: none */
	int protocol;        /* -B: enum proto_binding (ascii, auto, binary) */
	bool protocol_given; /* -B or protocol= was set, not the default */
	bool cas;            /* false: -C */
	bool flush_enabled;
	bool dump_enabled;
	bool watch_enabled;
	bool no_crawler;        /* -o no_lru_crawler or no_modern */
	char *prefix_delimiter; /* -D */
	bool lock_memory;       /* -k */
	bool coredumps;         /* -r */
	int verbose;            /* how many -v */
	int problems;           /* --check-config: those reported so far */
	char *admin_listen;     /* the admin thread's HTTP address; NULL: off */
	char *admin_token;      /* bearer token for all but /metrics; or NULL */
	int admin_max_conns;    /* admin connections open at once */
	char *admin_allow_hosts; /* Host names allowed besides loopback */
	char
	    *ignored; /* memcached options accepted but ignored, for a notice */
};

#define CONFIG_ITEM_MAX_LIMIT (64 * 1024 * 1024)
/* The admin port of an address that names none. */
#define CONFIG_ADMIN_PORT 11312

/* What the command line sees of a command or a setting. */
struct config_option {
	int shortopt;
	const char *longopt; /* NULL: none, the setting is the file's only */
	const char *argname; /* NULL: takes no argument */
	const char *help;
	int has_arg; /* getopt_long's, for the long option */
};

struct setting;

void config_defaults(struct config *);
void config_free(struct config *);
/* Note that the protocol was chosen, not defaulted: -Y turns a default
 * into ascii and refuses a choice of another (config_validate). */
void config_note_given(struct config *, const struct setting *);
/* Errors are written to err as "file:line: message"; returns -1. A key
 * given twice is one. Under --check-config (check_only) every bad line is
 * reported (config_problem) and only a file that cannot be read fails. */
int config_load_file(struct config *, const char *, char *, size_t);
/* What no single setting can refuse, as memcached refuses it:
 * item_size_max above half of memory_limit, -Y with a protocol other than
 * ascii chosen. -1 with a message; -Y alone makes the protocol ascii. */
int config_validate(struct config *, char *, size_t);
/* --check-config: one problem on stderr, "threadlined: MESSAGE", counted
 * in problems. */
void config_problem(struct config *, const char *, ...)
    __attribute__((format(printf, 2, 3)));
/* Returns 0, -1 on a bad argument (message in err, naming the option as
 * typed), or 1 when --help or --version printed and the program should
 * exit 0. Under --check-config every bad argument is reported
 * (config_problem) and parsing goes on. */
int config_parse_args(struct config *, int, char **, char *, size_t);
/* The --config argument, if any, found before full parsing. */
const char *config_find_file_arg(int, char **);
/* The options of the command line, commands first, then the settings:
 * how many, option k, and the setting it sets (NULL for a command). */
size_t config_noptions(void);
struct config_option config_option(size_t);
const struct setting *config_option_setting(size_t);
/* Whether --check-config is given, found before full parsing: the file is
 * then read reporting every problem. */
bool config_find_check_arg(int, char **);
/* --help: every option, from the table of settings. */
void config_usage(FILE *);
/* --help-config: every setting in Markdown, as docs/configuration.md. */
void config_markdown(FILE *);
/* Print what c->print asks for on f (help.c); cmdline.c checked
 * --help-man's argument. */
void config_print(const struct config *, FILE *);

#endif
