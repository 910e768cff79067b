/* Settings from built-in defaults, then the config file, then the command
 * line, each through the table of settings.c; and what --help and
 * --help-config print of that table. */
#include <errno.h>
#include <getopt.h>
#include <ini.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "log.h"
#include "settings.h"
#include "tl_build.h"
#include "xmalloc.h"

/* Every setting as its table entry's default spells it. */
void
config_defaults(struct config *c)
{
	char err[256];

	memset(c, 0, sizeof *c);
	for (size_t i = 0; i < SETTINGS_COUNT; i++) {
		settings_clear(c, &settings[i]);
		if (settings[i].def != NULL &&
		    settings_set(c, &settings[i], settings[i].def, err,
		        sizeof err) == -1)
			fatalx("the default of %s: %s", settings[i].key, err);
	}
}

/* Free what the settings hold; the config is zeroed. */
void
config_free(struct config *c)
{
	for (size_t i = 0; i < SETTINGS_COUNT; i++)
		settings_clear(c, &settings[i]);
	free(c->config_file);
	memset(c, 0, sizeof *c);
}

/* One key of the file; a section or a key the table lacks is an error. */
static int
config_set(struct config *c, const char *section, const char *key,
    const char *v, char *err, size_t errlen)
{
	const struct setting *s = settings_find(section, key);

	if (s != NULL)
		return settings_set(c, s, v, err, errlen);
	if (!settings_section_exists(section))
		snprintf(err, errlen, "unknown section [%s]", section);
	else
		snprintf(err, errlen, "unknown key '%s' in section [%s]", key,
		    section);
	return -1;
}

struct config_file_ctx {
	struct config *c;
	char msg[256];
};

/* inih's callback: returns 0 to stop at the first bad line. */
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

/* Read the INI file over what is set; stops at the first bad line. */
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
	free(c->config_file);
	c->config_file = xstrdup(path);
	return 0;
}

/* -f was read before the other options (config_find_file_arg). */
static int
config_cmd_file(struct config *c)
{
	return 0;
}

/* --check-config: parse everything, serve nothing. */
static int
config_cmd_check(struct config *c)
{
	c->check_only = true;
	return 0;
}

/* --help */
static int
config_cmd_help(struct config *c)
{
	config_usage(stdout);
	return 1;
}

/* --help-config */
static int
config_cmd_help_config(struct config *c)
{
	config_markdown(stdout);
	return 1;
}

/* --version */
static int
config_cmd_version(struct config *c)
{
	printf("threadlined %s\n", TL_VERSION);
	return 1;
}

/* The options that set nothing: what to read and what to do instead of
 * serving. run returns 0 to go on, 1 when the program should exit 0. */
static const struct config_command {
	int shortopt;
	const char *longopt;
	const char *argname;
	const char *help;
	int (*run)(struct config *);
} config_commands[] = {
    {'f', "config", "FILE",
        "read settings from FILE (INI); the options override it",
        config_cmd_file},
    {0, "check-config", NULL, "validate the settings and exit",
        config_cmd_check},
    {'h', "help", NULL, "show this help", config_cmd_help},
    {0, "help-config", NULL,
        "print every setting, its key, option, values and default, in "
        "Markdown",
        config_cmd_help_config},
    {'V', "version", NULL, "show the version", config_cmd_version},
};
#define CONFIG_NCOMMANDS (sizeof config_commands / sizeof config_commands[0])
#define CONFIG_NOPTIONS  (CONFIG_NCOMMANDS + SETTINGS_COUNT)

/* What the command line sees of a command or a setting. */
struct config_option {
	int shortopt;
	const char *longopt; /* NULL: none, the setting is the file's only */
	const char *argname; /* NULL: takes no argument */
	const char *help;
};

/* Option k of the command line: the commands, then the settings. */
static struct config_option
config_option(size_t k)
{
	const struct config_command *cmd;
	const struct setting *s;

	if (k < CONFIG_NCOMMANDS) {
		cmd = &config_commands[k];
		return (struct config_option){
		    cmd->shortopt, cmd->longopt, cmd->argname, cmd->help};
	}
	s = &settings[k - CONFIG_NCOMMANDS];
	return (struct config_option){
	    s->shortopt, s->longopt, s->argname, s->help};
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
	struct option longopts[CONFIG_NOPTIONS + 1];
	char shortopts[1 + 2 * CONFIG_NOPTIONS + 1];
};

/* Fill getopt_long's tables from the commands and the table of settings. */
static void
config_getopt_init(struct config_getopt *g)
{
	size_t nlong = 0, nshort = 0;

	memset(g, 0, sizeof *g);
	g->shortopts[nshort++] = ':';
	for (size_t k = 0; k < CONFIG_NOPTIONS; k++) {
		struct config_option o = config_option(k);
		int has_arg = o.argname ? required_argument : no_argument;

		if (o.longopt != NULL)
			g->longopts[nlong++] = (struct option){
			    o.longopt, has_arg, NULL, config_option_val(k)};
		if (o.shortopt != 0) {
			g->shortopts[nshort++] = (char)o.shortopt;
			if (o.argname != NULL)
				g->shortopts[nshort++] = ':';
		}
	}
}

/* Do what option ch, as getopt_long returned it, says: 0 to go on, 1 when
 * the program should exit 0, -1 on a bad one. */
static int
config_apply_option(
    struct config *c, int ch, char **argv, char *err, size_t errlen)
{
	const struct setting *s;
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
		return config_commands[k].run(c);
	s = &settings[k - CONFIG_NCOMMANDS];
	return settings_set(c, s, s->argname ? optarg : s->optval, err, errlen);
}

/* The -f argument, read first: the file comes before the other options. */
const char *
config_find_file_arg(int argc, char **argv)
{
	struct config_getopt g;
	const char *file = NULL;
	int ch;

	config_getopt_init(&g);
	opterr = 0;
	optind = 0;
	while (
	    (ch = getopt_long(argc, argv, g.shortopts, g.longopts, NULL)) != -1)
		if (ch == 'f')
			file = optarg;
	return file;
}

/* Every option in turn; the last of a setting wins, as in the file. */
int
config_parse_args(
    struct config *c, int argc, char **argv, char *err, size_t errlen)
{
	struct config_getopt g;
	int ch, r;

	config_getopt_init(&g);
	opterr = 0;
	optind = 0;
	while (
	    (ch = getopt_long(argc, argv, g.shortopts, g.longopts, NULL)) != -1)
		if ((r = config_apply_option(c, ch, argv, err, errlen)) != 0)
			return r;
	if (optind < argc) {
		snprintf(err, errlen, "unexpected argument '%s'", argv[optind]);
		return -1;
	}
	return 0;
}

/* Write text from column col on, words wrapped before column 80. */
static void
config_wrap(FILE *f, int col, int at, const char *text)
{
	while (*text != '\0') {
		int n = (int)strcspn(text, " ");

		if (at > col && at + 1 + n > 79) {
			fprintf(f, "\n%*s", col, "");
			at = col;
		} else if (at > col) {
			fputc(' ', f);
			at++;
		}
		fprintf(f, "%.*s", n, text);
		at += n;
		text += n;
		text += strspn(text, " ");
	}
	fputc('\n', f);
}

/* "-p, --port PORT", "--syslog"; pad lines up long options without a
 * letter under those with one. */
static void
config_option_name(struct config_option o, bool pad, char *buf, size_t len)
{
	char letter[8] = "";

	if (o.shortopt != 0)
		snprintf(letter, sizeof letter, "-%c, ", o.shortopt);
	else if (pad)
		snprintf(letter, sizeof letter, "    ");
	snprintf(buf, len, "%s--%s%s%s", letter, o.longopt,
	    o.argname ? " " : "", o.argname ? o.argname : "");
}

/* One option of --help; a setting adds its default, or the value an
 * option without argument sets. */
static void
config_usage_option(FILE *f, size_t k)
{
	struct config_option o = config_option(k);
	const struct setting *s =
	    k < CONFIG_NCOMMANDS ? NULL : &settings[k - CONFIG_NCOMMANDS];
	char name[64], *text;
	int at;

	config_option_name(o, true, name, sizeof name);
	at = fprintf(f, "  %s", name);
	if (at > 22) {
		fputc('\n', f);
		at = 0;
	}
	fprintf(f, "%*s", 24 - at, "");
	if (s != NULL && s->argname == NULL)
		xasprintf(&text, "%s (sets %s=%s)", o.help, s->key, s->optval);
	else if (s != NULL && s->def != NULL)
		xasprintf(&text, "%s (%s)", o.help, s->def);
	else
		text = xstrdup(o.help);
	config_wrap(f, 24, 24, text);
	free(text);
}

/* --help: every option the table and the commands have. */
void
config_usage(FILE *f)
{
	fprintf(f, "usage: threadlined [options]\n");
	for (size_t k = 0; k < CONFIG_NOPTIONS; k++)
		if (config_option(k).longopt != NULL)
			config_usage_option(f, k);
	config_wrap(f, 0, 0,
	    "Every setting is also a key of the config file, and some are "
	    "only that: threadlined --help-config lists them all.");
}

/* One row of a section's table in --help-config. */
static void
config_markdown_setting(FILE *f, const struct setting *s)
{
	char name[64], *option, *def;

	if (s->longopt == NULL)
		option = xstrdup("");
	else {
		config_option_name((struct config_option){s->shortopt,
		                       s->longopt, s->argname, s->help},
		    false, name, sizeof name);
		if (s->argname == NULL)
			xasprintf(&option, "`%s` sets %s", name, s->optval);
		else
			xasprintf(&option, "`%s`", name);
	}
	if (s->def == NULL)
		def = xstrdup("none");
	else
		xasprintf(&def, "`%s`", s->def);
	fprintf(f, "| `%s` | %s | %s | %s | `%s` | %s |\n", s->key, option,
	    settings_expect(s), def, s->stat, s->help);
	free(option);
	free(def);
}

/* What --help-config says before the tables. */
static const char config_markdown_intro[] =
    "# Configuration\n"
    "\n"
    "<!-- The output of `threadlined --help-config`, made from the table "
    "in\n"
    "     src/app/settings.c; tests/test_config.c fails when they differ. "
    "-->\n"
    "\n"
    "threadlined takes its settings from built-in defaults, then from the "
    "INI file\n"
    "named by `-f FILE`, then from the command line, each overriding the "
    "one\n"
    "before. An unknown section or key, or a bad value, stops start-up "
    "with\n"
    "`file:line: message` and exit status 2; `threadlined --check-config -f "
    "FILE`\n"
    "checks a file. A bool takes yes/no, true/false or 1/0; a level also "
    "takes\n"
    "memcached's verbosity, 0 (warn) to 3 (debug).\n"
    "\n"
    "`stats settings` shows each setting under its name in the Stats "
    "column.\n"
    "Under memcached's names it shows what memcached would: `maxbytes` in "
    "bytes,\n"
    "`log_level` and `num_threads` as they run, `evictions` on or off. In "
    "the\n"
    "lines memcached lacks, an unset value shows as `-`.\n";

/* --help-config: one table of settings per section, then the commands. */
void
config_markdown(FILE *f)
{
	const char *section = NULL;

	fputs(config_markdown_intro, f);
	for (size_t i = 0; i < SETTINGS_COUNT; i++) {
		if (section == NULL || strcmp(section, settings[i].section)) {
			section = settings[i].section;
			fprintf(f,
			    "\n## [%s]\n\n"
			    "| Key | Option | Value | Default | Stats | "
			    "Description |\n"
			    "| --- | --- | --- | --- | --- | --- |\n",
			    section);
		}
		config_markdown_setting(f, &settings[i]);
	}
	fprintf(f, "\n## Command line only\n\n"
	           "| Option | Description |\n"
	           "| --- | --- |\n");
	for (size_t k = 0; k < CONFIG_NCOMMANDS; k++) {
		char name[64];

		config_option_name(config_option(k), false, name, sizeof name);
		fprintf(f, "| `%s` | %s |\n", name, config_commands[k].help);
	}
}
