/* The table of settings, as tmux's options-table.c: one entry per setting
 * names its key in the config file, its command-line option, its type and
 * range, where struct config keeps it, its default and what it is for.
 * The file, the command line, --help, --help-config (docs/configuration.md)
 * and "stats settings" all read it. */
#ifndef TL_SETTINGS_H
#define TL_SETTINGS_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"
#include "obs.h"

enum setting_type {
	SETTING_INT,    /* an int in [min, max] */
	SETTING_SIZE,   /* a size_t in [min, max]; k or m if .suffix */
	SETTING_BOOL,   /* yes/no, true/false, 1/0 */
	SETTING_STRING, /* a char *, not empty */
	SETTING_PATH,   /* a char *; empty: none (NULL) */
	SETTING_LEVEL,  /* a log level in an int; unset: -1 */
	SETTING_ENUM,   /* an int, the index of one of .choices */
	SETTING_LISTEN, /* the listen list: listen[] and nlisten */
};

struct setting {
	const char *section; /* [section] of the config file */
	const char *key;
	int shortopt;        /* 0: none */
	const char *longopt; /* NULL: the config file only */
	const char *argname; /* NULL: the option takes none and sets .optval */
	const char *optval;
	enum setting_type type;
	long long min, max;         /* SETTING_INT, SETTING_SIZE */
	bool suffix;                /* SETTING_SIZE: k and m allowed */
	bool octal;                 /* SETTING_INT: read and printed in octal */
	const char *const *choices; /* SETTING_ENUM, NULL-terminated */
	size_t offset;              /* in struct config */
	const char *def;            /* as the file spells it; NULL: unset */
	const char *expect;         /* after "bad value ... expected" */
	const char *stat;           /* its name in "stats settings" */
	const char *help;           /* one line */
	bool secret; /* printed as "(hidden)" when set: stats are unguarded */
};

/* The entries of settings[]; settings.c does not build with another. */
#define SETTINGS_COUNT 51
extern const struct setting settings[];

/* The setting under [section] key, or NULL. */
const struct setting *settings_find(const char *, const char *);
/* Whether any setting is in [section]. */
bool settings_section_exists(const char *);
/* Parse a value into the config; -1 with "bad value ..." in err. */
int settings_set(
    struct config *, const struct setting *, const char *, char *, size_t);
/* Free what a setting holds and leave it unset. */
void settings_clear(struct config *, const struct setting *);
/* The value as the file would spell it, unset as the given word; free it. */
char *settings_format(
    const struct config *, const struct setting *, const char *);
/* What a value must be, for errors and the documentation. */
const char *settings_expect(const struct setting *);
/* What obs reads of c (which must outlive it) and its settings iterator
 * over the table. */
void settings_obs_config(const struct config *, struct obs_config *);

#endif
