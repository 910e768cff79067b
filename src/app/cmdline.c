/* memcached's command line and ours: the commands (--help, -o, -v, ...),
 * getopt's tables made from them and from the settings table, and each
 * option applied to the config. */
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "log.h"
#include "proto_text.h"
#include "settings.h"
#include "tl_build.h"
#include "xmalloc.h"

/* --config was read before the other options (config_find_file_arg). */
static int
config_cmd_file(struct config *c, const char *arg, char *err, size_t errlen)
{
	return 0;
}

/* --check-config: parse everything, serve nothing. */
static int
config_cmd_check(struct config *c, const char *arg, char *err, size_t errlen)
{
	c->check_only = true;
	return 0;
}

/* --help, --help-config and --help-man print instead of serving: the
 * caller hands the config to config_print. */
static int
config_cmd_help(struct config *c, const char *arg, char *err, size_t errlen)
{
	c->print = CONFIG_PRINT_HELP;
	return 1;
}

static int
config_cmd_help_config(
    struct config *c, const char *arg, char *err, size_t errlen)
{
	c->print = CONFIG_PRINT_HELP_CONFIG;
	return 1;
}

/* --help-man options|settings: man/ splices it into its pages. */
static int
config_cmd_help_man(struct config *c, const char *arg, char *err, size_t errlen)
{
	if (strcmp(arg, "options") != 0 && strcmp(arg, "settings") != 0) {
		snprintf(err, errlen,
		    "bad value '%s' for --help-man: expected options or "
		    "settings",
		    arg);
		return -1;
	}
	c->print = CONFIG_PRINT_HELP_MAN;
	c->print_arg = arg;
	return 1;
}

/* --version */
static int
config_cmd_version(struct config *c, const char *arg, char *err, size_t errlen)
{
	printf("threadlined %s\n", TL_VERSION);
	return 1;
}

/* -i: memcached prints its licence; ours is in the source tree. */
static int
config_cmd_license(struct config *c, const char *arg, char *err, size_t errlen)
{
	printf("threadlined %s: see the LICENSE file of its source tree\n",
	    TL_VERSION);
	return 1;
}

/* -v, -vv, -vvv as memcached's: with none the level (notice by default)
 * logs start, stop, warnings and errors; -v adds each connection (info),
 * -vv each command (the access lines), -vvv the internals (debug). The
 * last of -v and --log-level wins; --verbose's argument is ignored, as
 * memcached ignores it. */
static int
config_cmd_verbose(struct config *c, const char *arg, char *err, size_t errlen)
{
	static const int levels[] = {
	    LOG_LVL_NOTICE, LOG_LVL_INFO, LOG_LVL_INFO, LOG_LVL_DEBUG};

	if (c->verbose < 3)
		c->verbose++;
	c->log_level = levels[c->verbose];
	if (c->verbose >= 2)
		c->log_access = true;
	return 0;
}

/* Name option in the start-up notice of what is ignored, once. */
static void
config_ignore(struct config *c, const char *option, const char *why)
{
	char *list, needle[64];

	snprintf(needle, sizeof needle, "%s (", option);
	if (c->ignored != NULL && strstr(c->ignored, needle) != NULL)
		return;
	if (c->ignored == NULL)
		xasprintf(&list, "%s (%s)", option, why);
	else
		xasprintf(&list, "%s; %s (%s)", c->ignored, option, why);
	free(c->ignored);
	c->ignored = list;
}

/* -f: memcached's slab growth factor, which must exceed 1. */
static int
config_cmd_factor(struct config *c, const char *arg, char *err, size_t errlen)
{
	char *end;
	double f = strtod(arg, &end);

	if (end == arg || *end != '\0' || !(f > 1.0)) {
		snprintf(err, errlen,
		    "bad value '%s' for -f: expected a factor above 1", arg);
		return -1;
	}
	config_ignore(c, "-f", "threadline's store sizes its classes itself");
	return 0;
}

/* -n: memcached's smallest chunk, a positive number of bytes. */
static int
config_cmd_min_size(struct config *c, const char *arg, char *err, size_t errlen)
{
	char *end;
	long n = strtol(arg, &end, 10);

	if (end == arg || *end != '\0' || n <= 0) {
		snprintf(err, errlen,
		    "bad value '%s' for -n: expected bytes above 0", arg);
		return -1;
	}
	config_ignore(c, "-n", "threadline's store sizes its classes itself");
	return 0;
}

/* -L: memcached preallocates its slabs in large pages. */
static int
config_cmd_large_pages(
    struct config *c, const char *arg, char *err, size_t errlen)
{
	config_ignore(c, "-L",
	    "threadline's store allocates its pages as it fills, with no "
	    "preallocation to put in large pages");
	return 0;
}

/* -N: memcached's NAPI ids route connections by receive queue. */
static int
config_cmd_napi(struct config *c, const char *arg, char *err, size_t errlen)
{
	config_ignore(
	    c, "-N", "threadline hands connections to workers round-robin");
	return 0;
}

/* -S, -Z, -e: what cannot be honoured and must not be ignored. */
static int
config_refuse(const char *what, char *err, size_t errlen)
{
	snprintf(err, errlen,
	    "%s: threadline does not support it, and will not start without "
	    "what it asks for",
	    what);
	return -1;
}

/* -S */
static int
config_cmd_sasl(struct config *c, const char *arg, char *err, size_t errlen)
{
	return config_refuse("-S (SASL authentication)", err, errlen);
}

/* -Z */
static int
config_cmd_ssl(struct config *c, const char *arg, char *err, size_t errlen)
{
	return config_refuse("-Z (TLS)", err, errlen);
}

/* -e */
static int
config_cmd_memory_file(
    struct config *c, const char *arg, char *err, size_t errlen)
{
	return config_refuse(
	    "-e (restartable cache in a memory file)", err, errlen);
}

/* What one memcached -o key means here. */
enum config_ext_kind {
	CONFIG_EXT_SETTING, /* sets the setting .what, "section.key" */
	CONFIG_EXT_ACCEPT,  /* what threadline does anyway */
	CONFIG_EXT_CRAWLER, /* the crawler's state at start: on, or off (no_) */
	CONFIG_EXT_IGNORE,  /* named in the notice, .what says why */
	CONFIG_EXT_REFUSE,  /* .what names it in the error */
};

/* memcached 1.6.18's extended options; a name ending in '_' is a
 * prefix. */
static const struct config_ext {
	const char *name;
	enum config_ext_kind kind;
	const char *what;
} config_exts[] = {
    {"idle_timeout", CONFIG_EXT_SETTING, "server.idle_timeout"},
    {"maxconns_fast", CONFIG_EXT_ACCEPT, NULL},
    {"modern", CONFIG_EXT_CRAWLER, NULL},
    {"no_modern", CONFIG_EXT_CRAWLER, NULL},
    {"lru_crawler", CONFIG_EXT_CRAWLER, NULL},
    {"no_lru_crawler", CONFIG_EXT_CRAWLER, NULL},
    {"no_maxconns_fast", CONFIG_EXT_IGNORE,
        "threadline always answers connections over the limit with an "
        "error and closes them"},
    {"watcher_logbuf_size", CONFIG_EXT_IGNORE,
        "threadline bounds a watcher by its output buffer"},
    {"worker_logbuf_size", CONFIG_EXT_IGNORE,
        "threadline sizes its log rings itself"},
    {"read_buf_mem_limit", CONFIG_EXT_SETTING, "server.read_buf_mem_limit"},
    {"hashpower", CONFIG_EXT_IGNORE,
        "threadline's store sizes its hash table itself"},
    {"hash_algorithm", CONFIG_EXT_IGNORE, "threadline's store uses xxhash"},
    {"no_hashexpand", CONFIG_EXT_IGNORE,
        "threadline's store sizes its hash table itself"},
    {"tail_repair_time", CONFIG_EXT_IGNORE,
        "threadline's store has no LRU tail locks to repair"},
    {"slab_", CONFIG_EXT_IGNORE, "threadline's store sizes its classes itself"},
    {"no_slab_", CONFIG_EXT_IGNORE,
        "threadline's store sizes its classes itself"},
    {"lru_", CONFIG_EXT_IGNORE,
        "threadline's store evicts by CLOCK over each size class, and its "
        "maint thread reclaims what expired"},
    {"no_lru_", CONFIG_EXT_IGNORE,
        "threadline's store evicts by CLOCK over each size class, and its "
        "maint thread reclaims what expired"},
    {"hot_", CONFIG_EXT_IGNORE,
        "threadline's store has no hot, warm and cold LRUs"},
    {"warm_", CONFIG_EXT_IGNORE,
        "threadline's store has no hot, warm and cold LRUs"},
    {"temporary_ttl", CONFIG_EXT_SETTING, "cache.temporary_ttl"},
    {"track_sizes", CONFIG_EXT_IGNORE, "threadline has no stats sizes"},
    {"inline_ascii_response", CONFIG_EXT_IGNORE,
        "threadline's replies reference the values in place"},
    {"no_inline_ascii_response", CONFIG_EXT_IGNORE,
        "threadline's replies reference the values in place"},
    {"sock_cookie_id", CONFIG_EXT_IGNORE, "threadline sets no socket cookies"},
    {"drop_privileges", CONFIG_EXT_IGNORE,
        "threadline drops root with -u, and has no seccomp filter"},
    {"no_drop_privileges", CONFIG_EXT_IGNORE,
        "threadline has no seccomp filter"},
    {"ext_", CONFIG_EXT_IGNORE,
        "threadline keeps every item in memory, it has no external storage"},
    {"ssl_", CONFIG_EXT_REFUSE, "TLS"},
};

/* The entry of config_exts for key, whole or by its prefix; NULL if
 * memcached has no such extended option. */
static const struct config_ext *
config_ext_find(const char *key, size_t len)
{
	for (size_t i = 0; i < sizeof config_exts / sizeof config_exts[0];
	     i++) {
		const char *name = config_exts[i].name;
		size_t n = strlen(name);

		if (name[n - 1] == '_' ? len > n && strncmp(key, name, n) == 0
		                       : len == n && strncmp(key, name, n) == 0)
			return &config_exts[i];
	}
	return NULL;
}

/* One key[=value] of -o. */
static int
config_ext_one(struct config *c, const char *opt, char *err, size_t errlen)
{
	const char *eq = strchr(opt, '=');
	size_t len = eq != NULL ? (size_t)(eq - opt) : strlen(opt);
	const struct config_ext *e = config_ext_find(opt, len);
	char name[80], what[96], section[16];
	const char *dot;

	snprintf(name, sizeof name, "-o %.*s", (int)len, opt);
	if (e == NULL) {
		snprintf(err, errlen, "unknown extended option '%.*s' in -o",
		    (int)len, opt);
		return -1;
	}
	switch (e->kind) {
	case CONFIG_EXT_SETTING:
		if (eq == NULL) {
			snprintf(err, errlen, "%s needs a value: %s=N", name,
			    name + 3);
			return -1;
		}
		dot = strchr(e->what, '.');
		snprintf(section, sizeof section, "%.*s", (int)(dot - e->what),
		    e->what);
		return settings_set(
		    c, settings_find(section, dot + 1), eq + 1, err, errlen);
	case CONFIG_EXT_ACCEPT:
		return 0;
	case CONFIG_EXT_CRAWLER:
		/* memcached's no_modern turns its crawler off among others. */
		c->no_crawler = strncmp(opt, "no_", 3) == 0;
		return 0;
	case CONFIG_EXT_IGNORE:
		config_ignore(c, name, e->what);
		return 0;
	case CONFIG_EXT_REFUSE:
		snprintf(what, sizeof what, "%s (%s)", name, e->what);
		return config_refuse(what, err, errlen);
	}
	return 0;
}

/* -o: memcached's comma-separated extended options. */
static int
config_cmd_extended(struct config *c, const char *arg, char *err, size_t errlen)
{
	char *copy = xstrdup(arg), *tok, *save = NULL;
	int r = 0;

	for (tok = strtok_r(copy, ",", &save); tok != NULL && r == 0;
	     tok = strtok_r(NULL, ",", &save))
		r = config_ext_one(c, tok, err, errlen);
	free(copy);
	return r;
}

/* The options that set no setting of the table: what to read, what to do
 * instead of serving, and memcached's options that are not settings here.
 * run returns 0 to go on, 1 when the program should exit 0, -1 with a
 * message in err. */
static const struct config_command {
	int shortopt;
	const char *longopt;
	const char *argname;
	bool optional; /* the long option's argument may be left out */
	const char *help;
	int (*run)(struct config *, const char *, char *, size_t);
} config_commands[] = {
    {0, "config", "FILE", false,
        "read settings from FILE (INI); the options override it",
        config_cmd_file},
    {0, "check-config", NULL, false, "validate the settings and exit",
        config_cmd_check},
    {'h', "help", NULL, false, "show this help", config_cmd_help},
    {0, "help-config", NULL, false,
        "print every setting, its key, option, values and default, in "
        "Markdown",
        config_cmd_help_config},
    {0, "help-man", "PART", false,
        "print the options or the settings (PART) as the man pages list "
        "them, in mdoc(7)",
        config_cmd_help_man},
    {'V', "version", NULL, false, "show the version", config_cmd_version},
    {'i', "license", NULL, false, "where the licence is, and exit",
        config_cmd_license},
    {'v', "verbose", NULL, true,
        "memcached's verbosity: -v logs each connection (level info), "
        "-vv each command too (the access lines), -vvv debug; without "
        "it: start, stop, warnings and errors",
        config_cmd_verbose},
    {'o', "extended", "OPTS", false,
        "memcached's extended options, comma-separated: idle_timeout=S "
        "sets idle_timeout; maxconns_fast and modern are what threadline "
        "does; those of memcached's internals are ignored with a notice; "
        "ssl_* is refused",
        config_cmd_extended},
    {'f', "slab-growth-factor", "N", false,
        "memcached's slab growth factor: accepted, ignored with a notice",
        config_cmd_factor},
    {'n', "slab-min-size", "N", false,
        "memcached's smallest chunk: accepted, ignored with a notice",
        config_cmd_min_size},
    {'L', "enable-largepages", NULL, false,
        "memcached's large pages: accepted, ignored with a notice",
        config_cmd_large_pages},
    {'N', "napi-ids", "N", false,
        "memcached's NAPI ids: accepted, ignored with a notice",
        config_cmd_napi},
    {'S', "enable-sasl", NULL, false,
        "memcached's SASL: refused, threadline cannot authenticate",
        config_cmd_sasl},
    {'Z', "enable-ssl", NULL, false,
        "memcached's TLS: refused, threadline has no TLS", config_cmd_ssl},
    {'e', "memory-file", "FILE", false,
        "memcached's restartable cache: refused, threadline's cache does "
        "not survive a restart",
        config_cmd_memory_file},
};
#define CONFIG_NCOMMANDS (sizeof config_commands / sizeof config_commands[0])
#define CONFIG_NOPTIONS  (CONFIG_NCOMMANDS + SETTINGS_COUNT)

/* Other long names of a setting's option, kept for command lines written
 * before it took memcached's name. */
static const struct config_alias {
	const char *alias;
	const char *longopt;
} config_aliases[] = {
    {"max-conns", "conn-limit"},
};
#define CONFIG_NALIASES (sizeof config_aliases / sizeof config_aliases[0])

/* How many options config_option numbers. */
size_t
config_noptions(void)
{
	return CONFIG_NOPTIONS;
}

/* The setting option k sets, or NULL when it is a command. */
const struct setting *
config_option_setting(size_t k)
{
	return k < CONFIG_NCOMMANDS ? NULL : &settings[k - CONFIG_NCOMMANDS];
}

/* Option k of the command line: the commands, then the settings. */
struct config_option
config_option(size_t k)
{
	const struct config_command *cmd;
	const struct setting *s;

	if (k < CONFIG_NCOMMANDS) {
		cmd = &config_commands[k];
		return (struct config_option){cmd->shortopt, cmd->longopt,
		    cmd->argname, cmd->help,
		    cmd->optional  ? optional_argument
		    : cmd->argname ? required_argument
		                   : no_argument};
	}
	s = &settings[k - CONFIG_NCOMMANDS];
	return (struct config_option){s->shortopt, s->longopt, s->argname,
	    s->help, s->argname ? required_argument : no_argument};
}

/* What getopt_long returns for option k: its letter, or 256 + k, past
 * every letter, when it has none. */
static int
config_option_val(size_t k)
{
	int shortopt = config_option(k).shortopt;

	return shortopt != 0 ? shortopt : 256 + (int)k;
}

/* getopt_long's view of the options; shortopts starts with ':' so that a
 * missing argument is told from an unknown option. */
struct config_getopt {
	struct option longopts[CONFIG_NOPTIONS + CONFIG_NALIASES + 1];
	char shortopts[1 + 2 * CONFIG_NOPTIONS + 1];
};

/* The long option of an alias, as its option's. */
static struct option
config_alias_option(const struct config_alias *a)
{
	for (size_t k = 0; k < CONFIG_NOPTIONS; k++) {
		struct config_option o = config_option(k);

		if (o.longopt != NULL && strcmp(o.longopt, a->longopt) == 0)
			return (struct option){
			    a->alias, o.has_arg, NULL, config_option_val(k)};
	}
	fatalx("alias --%s of no option --%s", a->alias, a->longopt);
}

/* Fill getopt_long's tables from the commands and the table of settings. */
static void
config_getopt_init(struct config_getopt *g)
{
	size_t nlong = 0, nshort = 0;

	memset(g, 0, sizeof *g);
	g->shortopts[nshort++] = ':';
	for (size_t k = 0; k < CONFIG_NOPTIONS; k++) {
		struct config_option o = config_option(k);

		if (o.longopt != NULL)
			g->longopts[nlong++] = (struct option){
			    o.longopt, o.has_arg, NULL, config_option_val(k)};
		if (o.shortopt != 0) {
			g->shortopts[nshort++] = (char)o.shortopt;
			if (o.argname != NULL)
				g->shortopts[nshort++] = ':';
		}
	}
	for (size_t i = 0; i < CONFIG_NALIASES; i++)
		g->longopts[nlong++] = config_alias_option(&config_aliases[i]);
}

/* -l given again adds to the list, as memcached's does; the first
 * replaces what the defaults and the file said. */
static int
config_add_listen(struct config *c, const struct setting *s, const char *v,
    char *err, size_t errlen)
{
	char *list = settings_format(c, s, ""), *both;
	int r;

	xasprintf(&both, "%s,%s", list, v);
	r = settings_set(c, s, both, err, errlen);
	free(both);
	free(list);
	return r;
}

/* The option getopt_long just read, as typed: "-m abc", "-mabc" or
 * "--memory-limit=abc" ("-u ''" for an empty word). A separate argument
 * is argv's next word. */
static void
config_typed(char **argv, char *buf, size_t len)
{
	const char *opt = argv[optind - 1];

	if (optarg != NULL && optarg == opt && optind >= 2)
		snprintf(buf, len, "%s %s", argv[optind - 2],
		    *optarg != '\0' ? optarg : "''");
	else
		snprintf(buf, len, "%s", opt);
}

/* A setting's value from the command line; a bad one names the option as
 * typed before what the setting says. */
static int
config_apply_setting(struct config *c, const struct setting *s, char **argv,
    bool *listened, char *err, size_t errlen)
{
	char typed[128], msg[256];
	int r;

	if (s->type == SETTING_LISTEN && *listened)
		r = config_add_listen(c, s, optarg, msg, sizeof msg);
	else
		r = settings_set(
		    c, s, s->argname ? optarg : s->optval, msg, sizeof msg);
	config_note_given(c, s);
	if (s->type == SETTING_LISTEN)
		*listened = true;
	if (r == -1) {
		config_typed(argv, typed, sizeof typed);
		snprintf(err, errlen, "%s: %s", typed, msg);
	}
	return r;
}

/* Do what option ch, as getopt_long returned it, says: 0 to go on, 1 when
 * the program should exit 0, -1 on a bad one. listened says whether a
 * listen option came before. */
static int
config_apply_option(struct config *c, int ch, char **argv, bool *listened,
    char *err, size_t errlen)
{
	size_t k;

	if (ch == ':') {
		snprintf(err, errlen, "option %s needs an argument",
		    argv[optind - 1]);
		return -1;
	}
	for (k = 0; k < CONFIG_NOPTIONS && config_option_val(k) != ch; k++)
		;
	if (ch == '?' || k == CONFIG_NOPTIONS) {
		snprintf(err, errlen, "unknown option %s", argv[optind - 1]);
		return -1;
	}
	if (k < CONFIG_NCOMMANDS)
		return config_commands[k].run(c, optarg, err, errlen);
	return config_apply_setting(
	    c, &settings[k - CONFIG_NCOMMANDS], argv, listened, err, errlen);
}

/* Whether the command line has the command run; arg gets its last
 * argument. The file and --check-config come before the other options. */
static bool
config_scan(int argc, char **argv,
    int (*run)(struct config *, const char *, char *, size_t), const char **arg)
{
	struct config_getopt g;
	bool found = false;
	int ch;

	config_getopt_init(&g);
	opterr = 0;
	optind = 0;
	while (
	    (ch = getopt_long(argc, argv, g.shortopts, g.longopts, NULL)) != -1)
		if (ch >= 256 && (size_t)(ch - 256) < CONFIG_NCOMMANDS &&
		    config_commands[ch - 256].run == run) {
			found = true;
			*arg = optarg;
		}
	return found;
}

/* The --config argument. */
const char *
config_find_file_arg(int argc, char **argv)
{
	const char *file = NULL;

	config_scan(argc, argv, config_cmd_file, &file);
	return file;
}

/* Whether --check-config is asked for. */
bool
config_find_check_arg(int argc, char **argv)
{
	const char *arg;

	return config_scan(argc, argv, config_cmd_check, &arg);
}

/* Every option in turn; the last of a setting wins, as in the file. */
int
config_parse_args(
    struct config *c, int argc, char **argv, char *err, size_t errlen)
{
	struct config_getopt g;
	bool listened = false;
	int ch, r;

	config_getopt_init(&g);
	opterr = 0;
	optind = 0;
	while (
	    (ch = getopt_long(argc, argv, g.shortopts, g.longopts, NULL)) != -1)
		if ((r = config_apply_option(
		         c, ch, argv, &listened, err, errlen)) == 1 ||
		    (r == -1 && !c->check_only))
			return r;
		else if (r == -1)
			config_problem(c, "%s", err);
	for (; optind < argc; optind++) {
		snprintf(err, errlen, "unexpected argument '%s'", argv[optind]);
		if (!c->check_only)
			return -1;
		config_problem(c, "%s", err);
	}
	return 0;
}
