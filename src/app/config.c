/* Settings from built-in defaults, then the config file, each through
 * the table of settings.c; what no single setting refuses. The command
 * line is cmdline.c's, --help's text help.c's. */
#include <errno.h>
#include <ini.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "proto_text.h"
#include "settings.h"
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
	free(c->ignored);
	memset(c, 0, sizeof *c);
}

void
config_note_given(struct config *c, const struct setting *s)
{
	if (s->offset == offsetof(struct config, protocol))
		c->protocol_given = true;
}

/* One key of the file; a section or a key the table lacks is an error. */
static int
config_set(struct config *c, const char *section, const char *key,
    const char *v, char *err, size_t errlen)
{
	const struct setting *s = settings_find(section, key);

	if (s != NULL) {
		config_note_given(c, s);
		return settings_set(c, s, v, err, errlen);
	}
	if (!settings_section_exists(section))
		snprintf(err, errlen, "unknown section [%s]", section);
	else
		snprintf(err, errlen, "unknown key '%s' in section [%s]", key,
		    section);
	return -1;
}

/* --check-config: one problem, counted. */
void
config_problem(struct config *c, const char *fmt, ...)
{
	va_list ap;

	fputs("threadlined: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	c->problems++;
}

struct config_file_ctx {
	struct config *c;
	const char *path;
	FILE *f;
	int line;                 /* of the line inih is reading */
	int seen[SETTINGS_COUNT]; /* the line that set each, or 0 */
	int bad;                  /* the first bad line, or 0 */
	char msg[256];
};

/* inih's reader: fgets that counts, as inih counts, one line per call. */
static char *
config_read_line(char *str, int num, void *stream)
{
	struct config_file_ctx *ctx = stream;

	ctx->line++;
	return fgets(str, num, ctx->f);
}

/* One key of the line being read: a key the table lacks or that an
 * earlier line set is an error, as a bad value is. */
static int
config_file_key(struct config_file_ctx *ctx, const char *section,
    const char *key, const char *value)
{
	const struct setting *s = settings_find(section, key);
	size_t i = s != NULL ? (size_t)(s - settings) : 0;

	if (value == NULL) {
		snprintf(
		    ctx->msg, sizeof ctx->msg, "key '%s' has no value", key);
		return -1;
	}
	if (s != NULL && ctx->seen[i] != 0) {
		snprintf(ctx->msg, sizeof ctx->msg,
		    "key '%s' in [%s] given twice, first on line %d", key,
		    section, ctx->seen[i]);
		return -1;
	}
	if (config_set(
	        ctx->c, section, key, value, ctx->msg, sizeof ctx->msg) == -1)
		return -1;
	ctx->seen[i] = ctx->line;
	return 0;
}

/* inih's callback: at start-up the first bad line stops the parse; under
 * --check-config each is reported and the parse goes on. */
static int
config_ini_handler(
    void *user, const char *section, const char *key, const char *value)
{
	struct config_file_ctx *ctx = user;

	if (config_file_key(ctx, section, key, value) == 0)
		return 1;
	if (ctx->bad == 0)
		ctx->bad = ctx->line;
	if (!ctx->c->check_only)
		return 0;
	config_problem(ctx->c, "%s:%d: %s", ctx->path, ctx->line, ctx->msg);
	ctx->msg[0] = '\0';
	return 1;
}

/* Read the INI file over what is set. */
int
config_load_file(struct config *c, const char *path, char *err, size_t errlen)
{
	struct config_file_ctx ctx = {.c = c, .path = path};
	int line;

	if ((ctx.f = fopen(path, "re")) == NULL) {
		snprintf(
		    err, errlen, "%s: cannot open: %s", path, strerror(errno));
		return -1;
	}
	ini_stop_on_first_error = !c->check_only;
	line =
	    ini_parse_stream(config_read_line, &ctx, config_ini_handler, &ctx);
	fclose(ctx.f);
	if (line == -2) {
		snprintf(err, errlen, "%s: out of memory", path);
		return -1;
	}
	/* A line inih refused itself reached no handler. */
	if (line > 0 && line != ctx.bad && c->check_only)
		config_problem(c, "%s:%d: syntax error", path, line);
	else if (line > 0 && !c->check_only) {
		snprintf(err, errlen, "%s:%d: %s", path, line,
		    ctx.msg[0] ? ctx.msg : "syntax error");
		return -1;
	}
	free(c->config_file);
	c->config_file = xstrdup(path);
	return 0;
}

/* What no single setting refuses, as memcached refuses it at start-up:
 * an item size limit above half of the memory limit; ASCII
 * authentication tokens (-Y) with a protocol other than ascii chosen.
 * -Y without a protocol chosen makes it ascii, as in memcached. */
int
config_validate(struct config *c, char *err, size_t errlen)
{
	if (c->item_max > (c->memory_mb << 20) / 2) {
		snprintf(err, errlen,
		    "item_size_max %zu is above half of memory_limit (%zu MB): "
		    "lower -I or raise -m",
		    c->item_max, c->memory_mb);
		return -1;
	}
	if (c->auth_file != NULL && c->protocol_given &&
	    c->protocol != PROTO_BIND_ASCII) {
		snprintf(err, errlen,
		    "-B %s: the binary protocol cannot be allowed with ASCII "
		    "authentication tokens (-Y): use -B ascii or no -B",
		    c->protocol == PROTO_BIND_BINARY ? "binary" : "auto");
		return -1;
	}
	if (c->auth_file != NULL)
		c->protocol = PROTO_BIND_ASCII;
	return 0;
}
