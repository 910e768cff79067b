/* threadlined --help-man: the option list of threadlined(8) and the
 * settings of threadlined.conf(5), in mdoc(7), from the table of settings
 * and the commands of config.c. */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "manpage.h"
#include "settings.h"

/* Text as mdoc text lines: backslashes escaped, a sentence per line
 * (mandoc's style), words wrapped before column 80, no line that starts
 * like a request. */
static void
manpage_text(FILE *f, const char *text)
{
	int at = 0;

	while (*text != '\0') {
		size_t n = strcspn(text, " ");
		bool stop = n > 0 && text[n - 1] == '.' && text[n] == ' ';

		if (at > 0 && at + 1 + (int)n > 79) {
			fputc('\n', f);
			at = 0;
		} else if (at > 0) {
			fputc(' ', f);
			at++;
		}
		if (at == 0 && (*text == '.' || *text == '\''))
			at += fprintf(f, "\\&");
		for (size_t i = 0; i < n; i++)
			at += text[i] == '\\' ? fprintf(f, "\\e")
			                      : fprintf(f, "%c", text[i]);
		text += n;
		text += strspn(text, " ");
		if (stop && *text != '\0') {
			fputc('\n', f);
			at = 0;
		}
	}
	fputs(".\n", f);
}

/* ".Fl p , Fl \-port Ar PORT": the option's names as mdoc macros. */
static void
manpage_option_names(FILE *f, struct config_option o)
{
	if (o.shortopt != 0) {
		fprintf(f, "Fl %c", o.shortopt);
		if (o.argname != NULL)
			fprintf(f, " Ar %s", o.argname);
		fputs(" , ", f);
	}
	fprintf(f, "Fl \\-%s", o.longopt);
	if (o.argname != NULL)
		fprintf(f, " Ar %s", o.argname);
}

/* Every option of the command line, as --help lists them. */
static void
manpage_options(FILE *f)
{
	fputs(".Bl -tag -width Ds\n", f);
	for (size_t k = 0; k < config_noptions(); k++) {
		struct config_option o = config_option(k);
		const struct setting *s = config_option_setting(k);

		if (o.longopt == NULL)
			continue;
		fputs(".It ", f);
		manpage_option_names(f, o);
		fputc('\n', f);
		manpage_text(f, o.help);
		if (s == NULL)
			continue;
		if (s->argname == NULL)
			fprintf(f, "Sets\n.Cm %s\nin\n.Ic [%s]\nto\n.Ql %s .\n",
			    s->key, s->section, s->optval);
		else
			fprintf(f, "The setting\n.Cm %s\nin\n.Ic [%s] .\n",
			    s->key, s->section);
	}
	fputs(".El\n", f);
}

/* One setting: its key, what it is for, its values, its default and the
 * option that sets it too. */
static void
manpage_setting(FILE *f, const struct setting *s)
{
	fprintf(f, ".It Cm %s\n", s->key);
	manpage_text(f, s->help);
	fputs(".Pp\nValue:\n", f);
	manpage_text(f, settings_expect(s));
	if (s->def != NULL && s->def[0] != '\0')
		fprintf(f, "Default:\n.Ql %s .\n", s->def);
	else
		fputs("Default: none.\n", f);
	if (s->longopt != NULL) {
		fputs("Option:\n", f);
		if (s->shortopt != 0)
			fprintf(f, ".Fl %c ,\n", s->shortopt);
		if (s->argname == NULL)
			fprintf(f, ".Fl \\-%s\n(sets\n.Ql %s ) .\n", s->longopt,
			    s->optval);
		else
			fprintf(
			    f, ".Fl \\-%s Ar %s .\n", s->longopt, s->argname);
	}
	fprintf(f, "In\n.Ic stats settings :\n.Cm %s .\n", s->stat);
}

/* Whether a setting before i is in section: it was listed already. */
static bool
manpage_section_seen(size_t i, const char *section)
{
	for (size_t j = 0; j < i; j++)
		if (strcmp(settings[j].section, section) == 0)
			return true;
	return false;
}

/* Every setting, one subsection per config file section, in the order
 * the sections first appear in the table. */
static void
manpage_settings(FILE *f)
{
	for (size_t i = 0; i < SETTINGS_COUNT; i++) {
		const char *section = settings[i].section;

		if (manpage_section_seen(i, section))
			continue;
		fprintf(f, ".Ss [%s] section\n.Bl -tag -width Ds\n", section);
		for (size_t j = i; j < SETTINGS_COUNT; j++)
			if (strcmp(settings[j].section, section) == 0)
				manpage_setting(f, &settings[j]);
		fputs(".El\n", f);
	}
}

/* --help-man PART. */
int
manpage_print(FILE *f, const char *part)
{
	if (strcmp(part, "options") == 0)
		manpage_options(f);
	else if (strcmp(part, "settings") == 0)
		manpage_settings(f);
	else
		return -1;
	return 0;
}
