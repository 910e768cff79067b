/* What --help and --help-config print of the settings table and the
 * commands. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "manpage.h"
#include "settings.h"
#include "tl_build.h"
#include "xmalloc.h"

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
	const struct setting *s = config_option_setting(k);
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
	for (size_t k = 0; k < config_noptions(); k++)
		if (config_option(k).longopt != NULL)
			config_usage_option(f, k);
	config_wrap(f, 0, 0,
	    "Every setting is also a key of the config file, and some are "
	    "only that: threadlined --help-config lists them all. Without "
	    "--config the file is " TL_CONFIG_FILE
	    ", if it exists; --config '' reads none.");
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
		                       s->longopt, s->argname, s->help, 0},
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
    "     src/app/settings.c; tests/unit/test_config.c fails when they differ. "
    "-->\n"
    "\n"
    "threadlined takes its settings from built-in defaults, then from the "
    "INI file\n"
    "named by `--config FILE`, then from the command line, each overriding "
    "the\n"
    "one before. Without `--config` the file is "
    "`SYSCONFDIR/threadlined.conf`\n"
    "(`/usr/local/etc` for the default prefix) if it exists, and built-in "
    "defaults\n"
    "alone if not; `--config ''` reads no file.\n"
    "An unknown section or key, a key given twice, or a bad "
    "value,\n"
    "stops start-up with `file:line: message` and exit status 2, as does\n"
    "`item_size_max` above half of `memory_limit`. `threadlined "
    "--check-config\n"
    "--config FILE` reports every problem it finds, one line each, and what "
    "start-up\n"
    "would refuse beyond the file (the user to run as, the log file's and "
    "the\n"
    "pidfile's directories, the addresses); it exits 2 if there is any. A "
    "bool\n"
    "takes yes/no, true/false or 1/0; a level also takes memcached's "
    "verbosity\n"
    "number as the `verbosity` command does: 0 notice, 1 and 2 info, 3 "
    "debug.\n"
    "\n"
    "The level is `notice` unless set: start, stop, warnings and errors. "
    "As\n"
    "memcached's, `-v` adds a line per connection (level `info`), `-vv` a "
    "line per\n"
    "command (the access lines), `-vvv` the internals (level `debug`); "
    "given on the\n"
    "command line they override the file.\n"
    "\n"
    "memcached 1.6.18's command line works unchanged: every option of "
    "`memcached -h`\n"
    "is accepted with its spelling and meaning. Those that tune memcached's "
    "own\n"
    "internals are named in one `notice` line at start-up as ignored, with "
    "why;\n"
    "those asking for security threadline cannot give (`-S`, `-Y`, `-Z`, "
    "`-e`,\n"
    "`-o ssl_*`) stop start-up with exit status 2.\n"
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
	for (size_t k = 0; config_option_setting(k) == NULL; k++) {
		struct config_option o = config_option(k);
		char name[64];

		config_option_name(o, false, name, sizeof name);
		fprintf(f, "| `%s` | %s |\n", name, o.help);
	}
}

void
config_print(const struct config *c, FILE *f)
{
	switch (c->print) {
	case CONFIG_PRINT_HELP:
		config_usage(f);
		break;
	case CONFIG_PRINT_HELP_CONFIG:
		config_markdown(f);
		break;
	case CONFIG_PRINT_HELP_MAN:
		manpage_print(f, c->print_arg);
		break;
	case CONFIG_PRINT_NONE:
		break;
	}
}
