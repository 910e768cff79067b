#include <errno.h>
#include <getopt.h>
#include <ini.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "config.h"
#include "log.h"
#include "logger.h"
#include "tl_build.h"
#include "xmalloc.h"

void
config_defaults(struct config *c)
{
	memset(c, 0, sizeof *c);
	c->port = ADDR_DEFAULT_PORT;
	c->threads = 0;
	c->max_conns = 1024;
	c->request_timeout = 30;
	c->write_timeout = 30;
	c->log_level = LOG_LVL_INFO;
	c->memory_mb = 64;
	c->item_max = 1024 * 1024;
	c->evict = true;
	for (int r = 0; r < ROLE_COUNT; r++)
		c->role_level[r] = -1;
}

static void
config_clear_listen(struct config *c)
{
	for (int i = 0; i < c->nlisten; i++)
		free(c->listen[i]);
	c->nlisten = 0;
}

void
config_free(struct config *c)
{
	config_clear_listen(c);
	free(c->config_file);
	free(c->pidfile);
	free(c->user);
	free(c->log_file);
	memset(c, 0, sizeof *c);
}

static void
config_set_str(char **dst, const char *v)
{
	free(*dst);
	*dst = *v == '\0' ? NULL : xstrdup(v);
}

/* A decimal integer in [min, max] with nothing after it. */
static int
config_int(const char *v, long min, long max, int *out)
{
	char *end;
	long n;

	errno = 0;
	n = strtol(v, &end, 10);
	if (errno != 0 || end == v || *end != '\0' || n < min || n > max)
		return -1;
	*out = (int)n;
	return 0;
}

/* A size in bytes with an optional k or m suffix, as memcached's -I. */
static int
config_size(const char *v, size_t min, size_t max, size_t *out)
{
	char *end;
	unsigned long long n;

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
	if (*end != '\0' || n < min || n > max)
		return -1;
	*out = (size_t)n;
	return 0;
}

static int
config_bool(const char *v, bool *out)
{
	if (!strcasecmp(v, "yes") || !strcasecmp(v, "true") || !strcmp(v, "1"))
		*out = true;
	else if (!strcasecmp(v, "no") || !strcasecmp(v, "false") ||
	         !strcmp(v, "0"))
		*out = false;
	else
		return -1;
	return 0;
}

/* Replace the listen list with the comma-separated addresses in v. */
static int
config_listen(struct config *c, const char *v, char *err, size_t errlen)
{
	char *copy = xstrdup(v), *tok, *save = NULL;
	char host[256];
	int port;

	config_clear_listen(c);
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

/* One setting, from the file or the command line. */
static int
config_set(struct config *c, const char *section, const char *key,
    const char *v, char *err, size_t errlen)
{
	int level; /* also any int setting on its way in */

#define BAD(what)                                                              \
	do {                                                                   \
		snprintf(err, errlen, "bad value '%s' for %s: expected %s", v, \
		    key, what);                                                \
		return -1;                                                     \
	} while (0)

	if (strcmp(section, "server") == 0) {
		if (strcmp(key, "listen") == 0)
			return config_listen(c, v, err, errlen);
		if (strcmp(key, "port") == 0) {
			if (config_int(v, 0, 65535, &c->port))
				BAD("a port number 0..65535");
			return 0;
		}
		if (strcmp(key, "threads") == 0) {
			if (config_int(v, 0, 256, &c->threads))
				BAD("0 (one per CPU) to 256");
			return 0;
		}
		if (strcmp(key, "max_connections") == 0) {
			if (config_int(v, 1, 1000000, &c->max_conns))
				BAD("1..1000000");
			return 0;
		}
		if (strcmp(key, "request_timeout") == 0) {
			if (config_int(v, 0, 86400, &c->request_timeout))
				BAD("seconds, 0 (off) to 86400");
			return 0;
		}
		if (strcmp(key, "write_timeout") == 0) {
			if (config_int(v, 0, 86400, &c->write_timeout))
				BAD("seconds, 0 (off) to 86400");
			return 0;
		}
		if (strcmp(key, "idle_timeout") == 0) {
			if (config_int(v, 0, 86400, &c->idle_timeout))
				BAD("seconds, 0 (off) to 86400");
			return 0;
		}
		if (strcmp(key, "daemonize") == 0) {
			if (config_bool(v, &c->daemonize))
				BAD("yes or no");
			return 0;
		}
		if (strcmp(key, "pidfile") == 0) {
			config_set_str(&c->pidfile, v);
			return 0;
		}
		if (strcmp(key, "user") == 0) {
			if (*v == '\0')
				BAD("a user name");
			config_set_str(&c->user, v);
			return 0;
		}
		if (strcmp(key, "enable_shutdown") == 0) {
			if (config_bool(v, &c->enable_shutdown))
				BAD("yes or no");
			return 0;
		}
	} else if (strcmp(section, "cache") == 0) {
		if (strcmp(key, "memory_limit") == 0) {
			if (config_int(v, 1, 1 << 20, &level))
				BAD("megabytes, 1..1048576");
			c->memory_mb = (size_t)level;
			return 0;
		}
		if (strcmp(key, "item_size_max") == 0) {
			if (config_size(
			        v, 1024, CONFIG_ITEM_MAX_LIMIT, &c->item_max))
				BAD("bytes, 1k..64m (suffix k or m allowed)");
			return 0;
		}
		if (strcmp(key, "evict") == 0) {
			if (config_bool(v, &c->evict))
				BAD("yes or no");
			return 0;
		}
	} else if (strcmp(section, "log") == 0) {
		if (strcmp(key, "file") == 0) {
			config_set_str(&c->log_file, v);
			return 0;
		}
		if (strcmp(key, "level") == 0) {
			if ((level = log_level_parse(v)) == -1)
				BAD("error, warn, notice, info or debug");
			c->log_level = level;
			return 0;
		}
		if (strncmp(key, "level_", 6) == 0)
			for (int r = 0; r < ROLE_COUNT; r++)
				if (strcmp(key + 6, thread_role_name(r)) == 0) {
					if ((level = log_level_parse(v)) == -1)
						BAD("error, warn, notice, info "
						    "or "
						    "debug");
					c->role_level[r] = level;
					return 0;
				}
		if (strcmp(key, "format") == 0) {
			if (strcmp(v, "text") == 0)
				c->log_format = LOG_FORMAT_TEXT;
			else if (strcmp(v, "json") == 0)
				c->log_format = LOG_FORMAT_JSON;
			else
				BAD("text or json");
			return 0;
		}
		if (strcmp(key, "syslog") == 0) {
			if (config_bool(v, &c->log_syslog))
				BAD("yes or no");
			return 0;
		}
		if (strcmp(key, "journald") == 0) {
			if (config_bool(v, &c->log_journald))
				BAD("yes or no");
			return 0;
		}
		if (strcmp(key, "access") == 0) {
			if (config_bool(v, &c->log_access))
				BAD("yes or no");
			return 0;
		}
	} else {
		snprintf(err, errlen, "unknown section [%s]", section);
		return -1;
	}
	snprintf(err, errlen, "unknown key '%s' in section [%s]", key, section);
	return -1;
#undef BAD
}

struct config_file_ctx {
	struct config *c;
	char msg[256];
};

static int
config_ini_handler(
    void *user, const char *section, const char *key, const char *value)
{
	struct config_file_ctx *ctx = user;

	if (value == NULL) {
		snprintf(
		    ctx->msg, sizeof ctx->msg, "key '%s' has no value", key);
		return 0;
	}
	return config_set(
	           ctx->c, section, key, value, ctx->msg, sizeof ctx->msg) == 0;
}

int
config_load_file(struct config *c, const char *path, char *err, size_t errlen)
{
	struct config_file_ctx ctx = {.c = c};
	int line;

	ini_stop_on_first_error = true;
	line = ini_parse(path, config_ini_handler, &ctx);
	if (line == -1) {
		snprintf(
		    err, errlen, "%s: cannot open: %s", path, strerror(errno));
		return -1;
	}
	if (line == -2) {
		snprintf(err, errlen, "%s: out of memory", path);
		return -1;
	}
	if (line > 0) {
		snprintf(err, errlen, "%s:%d: %s", path, line,
		    ctx.msg[0] ? ctx.msg : "syntax error");
		return -1;
	}
	config_set_str(&c->config_file, path);
	return 0;
}

enum {
	OPT_CHECK = 256,
	OPT_LOG_LEVEL,
	OPT_LOG_FORMAT,
	OPT_SYSLOG,
	OPT_JOURNALD,
	OPT_ACCESS_LOG,
	OPT_REQUEST_TIMEOUT,
	OPT_WRITE_TIMEOUT,
	OPT_IDLE_TIMEOUT,
};

static const struct option config_longopts[] = {
    {"listen", required_argument, NULL, 'l'},
    {"port", required_argument, NULL, 'p'},
    {"threads", required_argument, NULL, 't'},
    {"max-conns", required_argument, NULL, 'c'},
    {"daemon", no_argument, NULL, 'd'},
    {"pidfile", required_argument, NULL, 'P'},
    {"user", required_argument, NULL, 'u'},
    {"log-file", required_argument, NULL, 'L'},
    {"log-level", required_argument, NULL, OPT_LOG_LEVEL},
    {"log-format", required_argument, NULL, OPT_LOG_FORMAT},
    {"syslog", no_argument, NULL, OPT_SYSLOG},
    {"journald", no_argument, NULL, OPT_JOURNALD},
    {"access-log", no_argument, NULL, OPT_ACCESS_LOG},
    {"request-timeout", required_argument, NULL, OPT_REQUEST_TIMEOUT},
    {"write-timeout", required_argument, NULL, OPT_WRITE_TIMEOUT},
    {"idle-timeout", required_argument, NULL, OPT_IDLE_TIMEOUT},
    {"memory-limit", required_argument, NULL, 'm'},
    {"max-item-size", required_argument, NULL, 'I'},
    {"disable-evictions", no_argument, NULL, 'M'},
    {"config", required_argument, NULL, 'f'},
    {"check-config", no_argument, NULL, OPT_CHECK},
    {"help", no_argument, NULL, 'h'},
    {"version", no_argument, NULL, 'V'},
    {NULL, 0, NULL, 0},
};
static const char config_shortopts[] = ":l:p:t:c:dP:u:L:m:I:Mf:hV";

void
config_usage(FILE *f)
{
	fprintf(f,
	    "usage: threadlined [options]\n"
	    "  -f, --config FILE     read settings from FILE (INI)\n"
	    "      --check-config    validate the settings and exit\n"
	    "  -l, --listen ADDRS    listen on ADDRS, comma-separated HOST,\n"
	    "                        HOST:PORT or [IPV6]:PORT (127.0.0.1)\n"
	    "  -p, --port PORT       default TCP port (%d; 0 picks one)\n"
	    "  -t, --threads N       worker threads (one per online CPU)\n"
	    "  -c, --max-conns N     simultaneous connections (1024)\n"
	    "      --request-timeout S  close a client whose request stays\n"
	    "                        incomplete S seconds (30; 0 off)\n"
	    "      --write-timeout S close a client that reads none of its\n"
	    "                        replies for S seconds (30; 0 off)\n"
	    "      --idle-timeout S  close a client idle S seconds (0, off)\n"
	    "  -m, --memory-limit MB cache memory (64)\n"
	    "  -I, --max-item-size N largest item, bytes, k or m suffix (1m)\n"
	    "  -M, --disable-evictions\n"
	    "                        when full, refuse stores instead of\n"
	    "                        evicting\n"
	    "  -d, --daemon          detach from the terminal\n"
	    "  -P, --pidfile FILE    write the pid to FILE\n"
	    "  -u, --user USER       started as root: run as USER once the\n"
	    "                        ports and the log file are open\n"
	    "  -L, --log-file FILE   also log to FILE (reopened on SIGHUP)\n"
	    "      --log-level LVL   error, warn, notice, info or debug "
	    "(info)\n"
	    "      --log-format FMT  text or json (text)\n"
	    "      --syslog          also log to syslog\n"
	    "      --journald        also log to the systemd journal\n"
	    "      --access-log      log one line per command\n"
	    "  -h, --help            show this help\n"
	    "  -V, --version         show the version\n",
	    ADDR_DEFAULT_PORT);
}

const char *
config_find_file_arg(int argc, char **argv)
{
	const char *file = NULL;
	int ch;

	opterr = 0;
	optind = 0;
	while ((ch = getopt_long(
	            argc, argv, config_shortopts, config_longopts, NULL)) != -1)
		if (ch == 'f')
			file = optarg;
	return file;
}

int
config_parse_args(
    struct config *c, int argc, char **argv, char *err, size_t errlen)
{
	const char *key, *section;
	int ch;

	opterr = 0;
	optind = 0;
	while ((ch = getopt_long(argc, argv, config_shortopts, config_longopts,
	            NULL)) != -1) {
		section = "server";
		switch (ch) {
		case 'l':
			key = "listen";
			break;
		case 'p':
			key = "port";
			break;
		case 't':
			key = "threads";
			break;
		case 'c':
			key = "max_connections";
			break;
		case 'P':
			key = "pidfile";
			break;
		case 'u':
			key = "user";
			break;
		case 'd':
			c->daemonize = true;
			continue;
		case 'm':
			section = "cache";
			key = "memory_limit";
			break;
		case 'I':
			section = "cache";
			key = "item_size_max";
			break;
		case 'M':
			c->evict = false;
			continue;
		case 'L':
			section = "log";
			key = "file";
			break;
		case OPT_LOG_LEVEL:
			section = "log";
			key = "level";
			break;
		case OPT_LOG_FORMAT:
			section = "log";
			key = "format";
			break;
		case OPT_SYSLOG:
			c->log_syslog = true;
			continue;
		case OPT_JOURNALD:
			c->log_journald = true;
			continue;
		case OPT_ACCESS_LOG:
			c->log_access = true;
			continue;
		case OPT_REQUEST_TIMEOUT:
			key = "request_timeout";
			break;
		case OPT_WRITE_TIMEOUT:
			key = "write_timeout";
			break;
		case OPT_IDLE_TIMEOUT:
			key = "idle_timeout";
			break;
		case 'f':
			continue; /* read before the other options */
		case OPT_CHECK:
			c->check_only = true;
			continue;
		case 'h':
			config_usage(stdout);
			return 1;
		case 'V':
			printf("threadlined %s\n", TL_VERSION);
			return 1;
		case ':':
			snprintf(err, errlen, "option %s needs an argument",
			    argv[optind - 1]);
			return -1;
		default:
			snprintf(
			    err, errlen, "unknown option %s", argv[optind - 1]);
			return -1;
		}
		if (config_set(c, section, key, optarg, err, errlen) == -1)
			return -1;
	}
	if (optind < argc) {
		snprintf(err, errlen, "unexpected argument '%s'", argv[optind]);
		return -1;
	}
	return 0;
}
