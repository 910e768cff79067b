/* Config file and command line parsing. */
#include <check.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "log.h"
#include "logger.h"
#include "settings.h"
#include "unit.h"

static char path[64];

/* Write text to a fresh temp file, named in path. */
static void
write_conf(const char *text)
{
	int fd;

	snprintf(path, sizeof path, "/tmp/tl-conf-XXXXXX");
	fd = mkstemp(path);
	ck_assert_int_ne(fd, -1);
	ck_assert_int_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
}

static void
teardown(void)
{
	if (path[0])
		unlink(path);
	path[0] = '\0';
}

START_TEST(test_defaults)
{
	struct config c;

	config_defaults(&c);
	ck_assert_int_eq(c.port, ADDR_DEFAULT_PORT);
	ck_assert_int_eq(c.max_conns, 1024);
	ck_assert_int_eq(c.log_level, LOG_LVL_NOTICE);
	ck_assert(!c.log_access);
	ck_assert(!c.daemonize);
	ck_assert_int_eq(c.nlisten, 1);
	ck_assert_str_eq(c.listen[0], "127.0.0.1");
	ck_assert_int_eq(c.request_timeout, 30);
	ck_assert_int_eq(c.idle_timeout, 0);
	ck_assert_uint_eq(c.memory_mb, 64);
	ck_assert_uint_eq(c.item_max, 1024 * 1024);
	ck_assert(c.evict);
	ck_assert_int_eq(c.log_format, LOG_FORMAT_TEXT);
	ck_assert_ptr_null(c.pidfile);
	ck_assert_ptr_null(c.user);
	for (int r = 0; r < ROLE_COUNT; r++)
		ck_assert_int_eq(c.role_level[r], -1);
	config_free(&c);
}
END_TEST

/* Every entry of the table is complete, unique, and its default parses
 * and prints back to what parses to the same. */
START_TEST(test_table)
{
	struct config c;
	char err[256], *v, *again;

	memset(&c, 0, sizeof c);
	for (size_t i = 0; i < SETTINGS_COUNT; i++) {
		const struct setting *s = &settings[i];

		ck_assert_msg(s->help != NULL && s->stat != NULL &&
		                  settings_expect(s) != NULL,
		    "%s: incomplete", s->key);
		ck_assert_ptr_eq(settings_find(s->section, s->key), s);
		ck_assert_msg((s->argname == NULL) == (s->optval != NULL) ||
		                  s->longopt == NULL,
		    "%s: an option takes an argument or sets a value", s->key);
		for (size_t j = 0; j < i; j++) {
			ck_assert_str_ne(s->stat, settings[j].stat);
			ck_assert(s->shortopt == 0 ||
			          s->shortopt != settings[j].shortopt);
			ck_assert(s->longopt == NULL ||
			          settings[j].longopt == NULL ||
			          strcmp(s->longopt, settings[j].longopt) != 0);
		}
		if (s->def == NULL)
			continue;
		ck_assert_msg(settings_set(&c, s, s->def, err, sizeof err) == 0,
		    "%s: %s", s->key, err);
		v = settings_format(&c, s, "-");
		ck_assert_int_eq(settings_set(&c, s, v, err, sizeof err), 0);
		again = settings_format(&c, s, "-");
		ck_assert_str_eq(again, v);
		free(again);
		free(v);
	}
	config_free(&c);
}
END_TEST

/* level_<role> keys are the roles of the thread table, each stored in its
 * own slot of role_level. */
START_TEST(test_role_level_keys)
{
	for (int r = 0; r < ROLE_COUNT; r++) {
		char key[64];
		const struct setting *s;

		snprintf(key, sizeof key, "level_%s", thread_role_name(r));
		ck_assert_msg(
		    (s = settings_find("log", key)) != NULL, "no %s", key);
		ck_assert_uint_eq(s->offset,
		    offsetof(struct config, role_level) + r * sizeof(int));
	}
}
END_TEST

START_TEST(test_file_values)
{
	struct config c;
	char err[256];

	write_conf("[server]\nlisten = 127.0.0.1, [::1]:11400\nport = 1234\n"
	           "threads = 3\nmax_connections = 10\ndaemonize = yes\n"
	           "[log]\nlevel = debug\nfile = /tmp/x.log\n");
	config_defaults(&c);
	ck_assert_int_eq(config_load_file(&c, path, err, sizeof err), 0);
	ck_assert_int_eq(c.nlisten, 2);
	ck_assert_str_eq(c.listen[1], "[::1]:11400");
	ck_assert_int_eq(c.port, 1234);
	ck_assert_int_eq(c.threads, 3);
	ck_assert_int_eq(c.max_conns, 10);
	ck_assert(c.daemonize);
	ck_assert_int_eq(c.log_level, LOG_LVL_DEBUG);
	ck_assert_str_eq(c.log_file, "/tmp/x.log");
	config_free(&c);
}
END_TEST

START_TEST(test_file_unknown_key)
{
	struct config c;
	char err[256], want[128];

	write_conf("[server]\nport = 1\nbogus = 2\n");
	config_defaults(&c);
	ck_assert_int_eq(config_load_file(&c, path, err, sizeof err), -1);
	snprintf(want, sizeof want,
	    "%s:3: unknown key 'bogus' in section [server]", path);
	ck_assert_str_eq(err, want);
	config_free(&c);
}
END_TEST

START_TEST(test_file_bad_values)
{
	static const char *const bad[] = {"port = x", "port = 70000",
	    "threads = -1", "max_connections = 0", "daemonize = maybe",
	    "listen = [::1", "port = 12abc"};
	struct config c;
	char err[256], text[128], want[128];

	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		snprintf(
		    text, sizeof text, "; comment\n[server]\n%s\n", bad[i]);
		write_conf(text);
		config_defaults(&c);
		ck_assert_int_eq(
		    config_load_file(&c, path, err, sizeof err), -1);
		snprintf(want, sizeof want, "%s:3: bad ", path);
		ck_assert_msg(strncmp(err, want, strlen(want)) == 0, "%s -> %s",
		    bad[i], err);
		config_free(&c);
		teardown();
	}
}
END_TEST

START_TEST(test_file_syntax_and_section)
{
	struct config c;
	char err[256], want[128];

	write_conf("[server\nport = 1\n");
	config_defaults(&c);
	ck_assert_int_eq(config_load_file(&c, path, err, sizeof err), -1);
	snprintf(want, sizeof want, "%s:1: syntax error", path);
	ck_assert_str_eq(err, want);
	config_free(&c);
	teardown();

	write_conf("[bogus]\nsize = 1\n");
	config_defaults(&c);
	ck_assert_int_eq(config_load_file(&c, path, err, sizeof err), -1);
	snprintf(want, sizeof want, "%s:2: unknown section [bogus]", path);
	ck_assert_str_eq(err, want);
	config_free(&c);
}
END_TEST

/* Per-role levels; a role there is none of is an unknown key. */
START_TEST(test_file_role_levels)
{
	struct config c;
	char err[256], want[128];

	write_conf("[log]\nlevel = warn\nlevel_worker = debug\n"
	           "level_maint = 1\n");
	config_defaults(&c);
	ck_assert_int_eq(config_load_file(&c, path, err, sizeof err), 0);
	ck_assert_int_eq(c.log_level, LOG_LVL_WARN);
	ck_assert_int_eq(c.role_level[ROLE_WORKER], LOG_LVL_DEBUG);
	ck_assert_int_eq(c.role_level[ROLE_MAINT], LOG_LVL_INFO);
	ck_assert_int_eq(c.role_level[ROLE_ACCEPT], -1);
	config_free(&c);
	teardown();

	write_conf("[log]\nlevel_bogus = debug\n");
	config_defaults(&c);
	ck_assert_int_eq(config_load_file(&c, path, err, sizeof err), -1);
	snprintf(want, sizeof want,
	    "%s:2: unknown key 'level_bogus' in section [log]", path);
	ck_assert_str_eq(err, want);
	config_free(&c);
}
END_TEST

START_TEST(test_file_missing)
{
	struct config c;
	char err[256];

	config_defaults(&c);
	ck_assert_int_eq(
	    config_load_file(&c, "/nonexistent/tl.conf", err, sizeof err), -1);
	ck_assert_ptr_nonnull(strstr(err, "cannot open"));
	config_free(&c);
}
END_TEST

START_TEST(test_args_override_file)
{
	char *argv[] = {"threadlined", "--config", NULL, "-p", "999", "-t", "2",
	    "--log-level", "warn", "-d", NULL};
	struct config c;
	char err[256];

	write_conf("[server]\nport = 1234\nthreads = 4\n");
	argv[2] = path;
	ck_assert_str_eq(config_find_file_arg(10, argv), path);
	config_defaults(&c);
	ck_assert_int_eq(config_load_file(&c, path, err, sizeof err), 0);
	ck_assert_int_eq(config_parse_args(&c, 10, argv, err, sizeof err), 0);
	ck_assert_int_eq(c.port, 999);
	ck_assert_int_eq(c.threads, 2);
	ck_assert_int_eq(c.log_level, LOG_LVL_WARN);
	ck_assert(c.daemonize);
	config_free(&c);
}
END_TEST

/* Every option of a setting, those without an argument too. */
START_TEST(test_args_every_option)
{
	char *argv[] = {"threadlined", "-l", "127.0.0.1,[::1]:7", "-c", "9",
	    "--request-timeout", "1", "--write-timeout", "2", "--idle-timeout",
	    "3", "-d", "-P", "/tmp/p", "-u", "nobody", "-m", "128", "-I", "2m",
	    "-M", "--log-file", "/tmp/l", "--log-format", "json", "--syslog",
	    "--journald", "--access-log", "--check", NULL};
	int argc = sizeof argv / sizeof argv[0] - 1;
	struct config c;
	char err[256];

	config_defaults(&c);
	ck_assert_int_eq(config_parse_args(&c, argc, argv, err, sizeof err), 0);
	ck_assert_int_eq(c.nlisten, 2);
	ck_assert_str_eq(c.listen[1], "[::1]:7");
	ck_assert_int_eq(c.max_conns, 9);
	ck_assert_int_eq(c.request_timeout, 1);
	ck_assert_int_eq(c.write_timeout, 2);
	ck_assert_int_eq(c.idle_timeout, 3);
	ck_assert(c.daemonize);
	ck_assert_str_eq(c.pidfile, "/tmp/p");
	ck_assert_str_eq(c.user, "nobody");
	ck_assert_uint_eq(c.memory_mb, 128);
	ck_assert_uint_eq(c.item_max, 2 * 1024 * 1024);
	ck_assert(!c.evict);
	ck_assert_str_eq(c.log_file, "/tmp/l");
	ck_assert_int_eq(c.log_format, LOG_FORMAT_JSON);
	ck_assert(c.log_syslog && c.log_journald && c.log_access);
	ck_assert(c.check_only);
	config_free(&c);
}
END_TEST

START_TEST(test_args_errors)
{
	char *bad_port[] = {"threadlined", "-p", "nope", NULL};
	char *unknown[] = {"threadlined", "--frobnicate", NULL};
	char *missing[] = {"threadlined", "-p", NULL};
	char *extra[] = {"threadlined", "stray", NULL};
	char *big[] = {"threadlined", "-I", "1g", NULL};
	char *nouser[] = {"threadlined", "-u", "", NULL};
	struct config c;
	char err[256];

	config_defaults(&c);
	ck_assert_int_eq(
	    config_parse_args(&c, 3, bad_port, err, sizeof err), -1);
	ck_assert_str_eq(err, "-p nope: bad value 'nope' for port: expected a "
	                      "port number 0..65535");
	ck_assert_int_eq(
	    config_parse_args(&c, 2, unknown, err, sizeof err), -1);
	ck_assert_str_eq(err, "unknown option --frobnicate");
	ck_assert_int_eq(
	    config_parse_args(&c, 2, missing, err, sizeof err), -1);
	ck_assert_str_eq(err, "option -p needs an argument");
	ck_assert_int_eq(config_parse_args(&c, 2, extra, err, sizeof err), -1);
	ck_assert_str_eq(err, "unexpected argument 'stray'");
	ck_assert_int_eq(config_parse_args(&c, 3, big, err, sizeof err), -1);
	ck_assert_str_eq(err, "-I 1g: bad value '1g' for item_size_max: "
	                      "expected bytes, 1k..64m (suffix k or m "
	                      "allowed)");
	ck_assert_int_eq(config_parse_args(&c, 3, nouser, err, sizeof err), -1);
	ck_assert_str_eq(
	    err, "-u '': bad value '' for user: expected a user name");
	config_free(&c);
}
END_TEST

/* memcached 1.6.18's options, as its -h spells them. */
START_TEST(test_args_memcached)
{
	char *argv[] = {"threadlined", "-s", "/tmp/mc.sock", "-a", "0770", "-U",
	    "0", "-b", "512", "-R", "40", "-B", "ascii", "-A", "-C", "-F", "-X",
	    "-W", "-D", "#", "-k", "-r", "-vv", "-o",
	    "idle_timeout=600,maxconns_fast,modern,hashpower=20,ext_path=/x:1G",
	    "-f", "1.25", "-n", "48", "-L", "-N", "2", "--conn-limit", "7",
	    "-l", "127.0.0.1", "-l", "::1", NULL};
	int argc = sizeof argv / sizeof argv[0] - 1;
	struct config c;
	char err[256];

	config_defaults(&c);
	ck_assert_msg(
	    config_parse_args(&c, argc, argv, err, sizeof err) == 0, "%s", err);
	ck_assert_str_eq(c.unix_socket, "/tmp/mc.sock");
	ck_assert_int_eq(c.unix_mask, 0770);
	ck_assert_int_eq(c.backlog, 512);
	ck_assert_int_eq(c.reqs_per_event, 40);
	ck_assert(c.enable_shutdown && !c.cas && !c.flush_enabled &&
	          !c.dump_enabled && !c.watch_enabled);
	ck_assert(c.lock_memory && c.coredumps);
	ck_assert_str_eq(c.prefix_delimiter, "#");
	/* -vv: memcached's per-command lines, ours the access lines. */
	ck_assert_int_eq(c.log_level, LOG_LVL_INFO);
	ck_assert(c.log_access);
	ck_assert_int_eq(c.idle_timeout, 600);
	ck_assert_int_eq(c.max_conns, 7);
	ck_assert_int_eq(c.nlisten, 2);
	ck_assert_str_eq(c.listen[1], "::1");
	ck_assert_str_eq(c.ignored,
	    "-o hashpower (threadline's store sizes its hash table itself); "
	    "-o ext_path (threadline keeps every item in memory, it has no "
	    "external storage); -f (threadline's store sizes its classes "
	    "itself); -n (threadline's store sizes its classes itself); -L "
	    "(threadline's store allocates its pages as it fills, with no "
	    "preallocation to put in large pages); -N (threadline hands "
	    "connections to workers round-robin)");
	config_free(&c);
}
END_TEST

/* What memcached does that threadline cannot is refused, with why. */
START_TEST(test_args_memcached_refused)
{
	static const struct {
		const char *args[3];
		const char *want;
	} cases[] = {
	    {{"-S"}, "-S (SASL authentication): threadline does not support"},
	    {{"-Z"}, "-Z (TLS): threadline does not support it"},
	    {{"-e", "/dev/shm/m"}, "-e (restartable cache in a memory file)"},
	    {{"-o", "ssl_chain_cert=/c"},
	        "-o ssl_chain_cert (TLS): threadline"},
	    {{"-U", "11211"},
	        "bad value '11211' for udp_port: expected 0 (off): threadline "
	        "has no UDP"},
	    {{"-B", "utf8"}, "bad value 'utf8' for protocol: expected "
	                     "ascii, auto or binary"},
	    {{"-o", "bogus"}, "unknown extended option 'bogus' in -o"},
	    {{"-o", "idle_timeout"}, "-o idle_timeout needs a value"},
	    {{"-f", "1.0"}, "bad value '1.0' for -f"},
	    {{"-n", "0"}, "bad value '0' for -n"},
	    {{"-R", "0"}, "bad value '0' for max_reqs_per_event"},
	    {{"-a", "8"}, "bad value '8' for unix_mask"},
	};
	struct config c;
	char err[256];

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char *argv[5] = {"threadlined"};
		int argc = 1;

		for (int k = 0; cases[i].args[k] != NULL; k++)
			argv[argc++] = (char *)cases[i].args[k];
		config_defaults(&c);
		ck_assert_int_eq(
		    config_parse_args(&c, argc, argv, err, sizeof err), -1);
		ck_assert_msg(strstr(err, cases[i].want) != NULL,
		    "%s: '%s' lacks '%s'", cases[i].args[0], err,
		    cases[i].want);
		config_free(&c);
	}
}
END_TEST

/* A file of the source tree, whole; NULL if it cannot be read. */
static char *
read_source(const char *rel)
{
	const char *dir = getenv("TL_SOURCE_DIR");
	char file[4096];
	char *text;
	long len;
	FILE *f;

	ck_assert_msg(dir != NULL, "TL_SOURCE_DIR is not set");
	snprintf(file, sizeof file, "%s/%s", dir, rel);
	if ((f = fopen(file, "r")) == NULL)
		return NULL;
	fseek(f, 0, SEEK_END);
	len = ftell(f);
	rewind(f);
	text = malloc((size_t)len + 1);
	ck_assert_ptr_nonnull(text);
	ck_assert_uint_eq(fread(text, 1, (size_t)len, f), (size_t)len);
	text[len] = '\0';
	fclose(f);
	return text;
}

/* docs/configuration.md is what --help-config prints of the table. */
START_TEST(test_docs_current)
{
	char *doc = read_source("docs/configuration.md"), *md = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&md, &len);

	ck_assert_ptr_nonnull(f);
	config_markdown(f);
	fclose(f);
	ck_assert_msg(doc != NULL && strcmp(doc, md) == 0,
	    "docs/configuration.md differs from the table of settings; "
	    "refresh it: build/src/threadlined --help-config > "
	    "docs/configuration.md");
	free(doc);
	free(md);
}
END_TEST

/* The shipped config loads, and turns the admin thread on, which the
 * built-in defaults leave off. */
START_TEST(test_shipped_config)
{
	const char *dir = getenv("TL_SOURCE_DIR");
	char file[4096], err[512];
	struct config c;

	ck_assert_msg(dir != NULL, "TL_SOURCE_DIR is not set");
	snprintf(file, sizeof file, "%s/config/threadlined.conf", dir);
	config_defaults(&c);
	ck_assert_ptr_null(c.admin_listen);
	ck_assert_int_eq(c.admin_max_conns, 32);
	ck_assert_msg(
	    config_load_file(&c, file, err, sizeof err) == 0, "%s", err);
	ck_assert_str_eq(c.user, "nobody");
	ck_assert_str_eq(c.admin_listen, "127.0.0.1:11312");
	/* As the built-in default: start, stop, warnings, errors. */
	ck_assert_int_eq(c.log_level, LOG_LVL_NOTICE);
	config_free(&c);
}
END_TEST

/* -v, -vv, -vvv as memcached's: info, info and the access lines, debug
 * and the access lines; over the file's level, and the last of them and
 * --log-level wins. */
START_TEST(test_args_verbose)
{
	static const struct {
		const char *args[3];
		int level;
		bool access;
	} cases[] = {
	    {{NULL}, LOG_LVL_WARN, false},
	    {{"-v"}, LOG_LVL_INFO, false},
	    {{"-vv"}, LOG_LVL_INFO, true},
	    {{"-v", "-v"}, LOG_LVL_INFO, true},
	    {{"-vvv"}, LOG_LVL_DEBUG, true},
	    {{"-vvvv"}, LOG_LVL_DEBUG, true},
	    {{"-v", "--log-level=error"}, LOG_LVL_ERROR, false},
	    {{"--log-level=error", "-v"}, LOG_LVL_INFO, false},
	};
	char err[256];

	write_conf("[log]\nlevel = warn\n");
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char *argv[4] = {"threadlined"};
		int argc = 1;
		struct config c;

		for (int k = 0; cases[i].args[k] != NULL; k++)
			argv[argc++] = (char *)cases[i].args[k];
		config_defaults(&c);
		ck_assert_int_eq(
		    config_load_file(&c, path, err, sizeof err), 0);
		ck_assert_int_eq(
		    config_parse_args(&c, argc, argv, err, sizeof err), 0);
		ck_assert_msg(c.log_level == cases[i].level &&
		                  c.log_access == cases[i].access,
		    "case %zu: level %d access %d", i, c.log_level,
		    c.log_access);
		config_free(&c);
	}
}
END_TEST

/* A key given twice in the file is refused at its second line, naming
 * the first; under --check-config every bad line is reported and the rest
 * of the file still read. */
START_TEST(test_file_duplicate_key)
{
	struct config c;
	char err[512], want[600];

	write_conf("[server]\nport = 1\n[cache]\nevict = no\n[server]\n"
	           "port = 2\nthreads = 3\n");
	config_defaults(&c);
	ck_assert_int_eq(config_load_file(&c, path, err, sizeof err), -1);
	snprintf(want, sizeof want,
	    "%s:6: key 'port' in [server] given twice, first on line 2", path);
	ck_assert_str_eq(err, want);
	config_free(&c);
	config_defaults(&c);
	c.check_only = true;
	ck_assert_int_eq(config_load_file(&c, path, err, sizeof err), 0);
	ck_assert_int_eq(c.problems, 1);
	ck_assert_int_eq(c.threads, 3);
	config_free(&c);
}
END_TEST

/* item_size_max above half of memory_limit is refused, as memcached
 * refuses it; half is allowed. */
START_TEST(test_validate_item_size)
{
	struct config c;
	char err[256];

	config_defaults(&c);
	ck_assert_int_eq(config_validate(&c, err, sizeof err), 0);
	c.memory_mb = 2;
	ck_assert_int_eq(config_validate(&c, err, sizeof err), 0);
	c.memory_mb = 1;
	ck_assert_int_eq(config_validate(&c, err, sizeof err), -1);
	ck_assert_str_eq(err, "item_size_max 1048576 is above half of "
	                      "memory_limit (1 MB): lower -I or raise -m");
	config_free(&c);
}
END_TEST

START_TEST(test_split_listen)
{
	char host[64];
	int port;

	ck_assert_int_eq(
	    addr_split("10.0.0.1", 7, host, sizeof host, &port), 0);
	ck_assert_str_eq(host, "10.0.0.1");
	ck_assert_int_eq(port, 7);
	ck_assert_int_eq(
	    addr_split("localhost:81", 7, host, sizeof host, &port), 0);
	ck_assert_str_eq(host, "localhost");
	ck_assert_int_eq(port, 81);
	ck_assert_int_eq(
	    addr_split("[::1]:82", 7, host, sizeof host, &port), 0);
	ck_assert_str_eq(host, "::1");
	ck_assert_int_eq(port, 82);
	ck_assert_int_eq(addr_split("::", 7, host, sizeof host, &port), 0);
	ck_assert_str_eq(host, "::");
	ck_assert_int_eq(port, 7);
	ck_assert_int_eq(
	    addr_split("h:99999", 7, host, sizeof host, &port), -1);
	ck_assert_int_eq(addr_split(":80", 7, host, sizeof host, &port), -1);
	ck_assert_int_eq(addr_split("[::1]x", 7, host, sizeof host, &port), -1);
}
END_TEST

int
main(void)
{
	const TTest *tests[] = {test_defaults, test_table, test_role_level_keys,
	    test_file_values, test_file_unknown_key, test_file_bad_values,
	    test_file_syntax_and_section, test_file_role_levels,
	    test_file_missing, test_args_override_file, test_args_every_option,
	    test_args_errors, test_args_memcached, test_args_memcached_refused,
	    test_docs_current, test_shipped_config, test_args_verbose,
	    test_file_duplicate_key, test_validate_item_size, test_split_listen,
	    NULL};

	return unit_run(
	    &(struct unit_suite){.name = "config", .teardown = teardown},
	    tests);
}
