/* --check-config: the user to run as, the directories that user must
 * write, the addresses to listen on, each checked as start-up and the
 * running server would use them, every problem reported. */
#include <errno.h>
#include <netdb.h>
#include <pwd.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "addr.h"
#include "preflight.h"
#include "privdrop.h"

/* Who the server runs as once started: the user it becomes from root, or
 * whoever starts it. */
struct preflight_who {
	bool other; /* started as root, runs as someone else */
	uid_t uid;
	gid_t gid;
	char name[64];
};

/* The run user, as privdrop will find it; false if it cannot. */
static bool
preflight_user(struct config *cfg, struct preflight_who *who)
{
	struct passwd *pw;
	char err[256];

	memset(who, 0, sizeof *who);
	if (privdrop_check(cfg->user, err, sizeof err) == -1) {
		config_problem(cfg, "%s", err);
		return false;
	}
	if (geteuid() != 0 || (pw = getpwnam(cfg->user)) == NULL ||
	    pw->pw_uid == 0)
		return true;
	who->other = true;
	who->uid = pw->pw_uid;
	who->gid = pw->pw_gid;
	snprintf(who->name, sizeof who->name, "%s", cfg->user);
	return true;
}

/* Whether who may access path with mode: as root for someone else, in a
 * child that becomes them, since their groups count too. */
static bool
preflight_access(const struct preflight_who *who, const char *path, int mode)
{
	pid_t pid;
	int status;

	if (!who->other)
		return access(path, mode) == 0;
	if ((pid = fork()) == -1)
		return access(path, mode) == 0;
	if (pid == 0)
		_exit(initgroups(who->name, who->gid) == -1 ||
		              setgid(who->gid) == -1 ||
		              setuid(who->uid) == -1 || access(path, mode) == -1
		          ? 1
		          : 0);
	while (waitpid(pid, &status, 0) == -1 && errno == EINTR)
		;
	return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

/* A file the server creates, rewrites or removes while it runs as who:
 * its directory must exist and take new names (the log is reopened after
 * rotation, the pidfile removed at exit), the file itself, if there, be
 * writable. */
static void
preflight_file(struct config *cfg, const struct preflight_who *who,
    const char *what, const char *path)
{
	char *dir = strdup(path), *slash;
	const char *as = who->other ? who->name : "this user";
	struct stat st;

	if (dir == NULL)
		return;
	slash = strrchr(dir, '/');
	if (slash == dir)
		slash[1] = '\0';
	else if (slash != NULL)
		*slash = '\0';
	else
		strcpy(dir, ".");
	if (stat(dir, &st) == -1)
		config_problem(cfg, "%s %s: directory %s: %s", what, path, dir,
		    strerror(errno));
	else if (!S_ISDIR(st.st_mode))
		config_problem(
		    cfg, "%s %s: %s is not a directory", what, path, dir);
	else if (!preflight_access(who, dir, W_OK | X_OK))
		config_problem(cfg,
		    "%s %s: %s cannot create or remove files in %s", what, path,
		    as, dir);
	else if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
		config_problem(cfg, "%s %s: is a directory", what, path);
	else if (access(path, F_OK) == 0 && !preflight_access(who, path, W_OK))
		config_problem(
		    cfg, "%s %s: %s cannot write it", what, path, as);
	free(dir);
}

/* An address that must parse and resolve, as the listener resolves it. */
static void
preflight_address(
    struct config *cfg, const char *what, const char *spec, int defport)
{
	struct addrinfo hints = {.ai_family = AF_UNSPEC,
	                    .ai_socktype = SOCK_STREAM,
	                    .ai_flags = AI_PASSIVE | AI_NUMERICSERV},
	                *res;
	char host[256], port[16];
	int p, error;

	if (addr_split(spec, defport, host, sizeof host, &p) == -1) {
		config_problem(cfg,
		    "%s address '%s' does not parse: expected "
		    "HOST, HOST:PORT or [IPV6]:PORT",
		    what, spec);
		return;
	}
	snprintf(port, sizeof port, "%d", p);
	if ((error = getaddrinfo(host[0] ? host : NULL, port, &hints, &res)) !=
	    0) {
		config_problem(cfg, "%s address '%s' does not resolve: %s",
		    what, spec, gai_strerror(error));
		return;
	}
	freeaddrinfo(res);
}

void
preflight_run(struct config *cfg)
{
	struct preflight_who who;

	if (preflight_user(cfg, &who)) {
		if (cfg->log_file != NULL)
			preflight_file(cfg, &who, "log file", cfg->log_file);
		if (cfg->pidfile != NULL)
			preflight_file(cfg, &who, "pidfile", cfg->pidfile);
	}
	if (cfg->unix_socket == NULL)
		for (int i = 0; i < cfg->nlisten; i++)
			preflight_address(
			    cfg, "listen", cfg->listen[i], cfg->port);
	if (cfg->admin_listen != NULL)
		preflight_address(
		    cfg, "admin", cfg->admin_listen, CONFIG_ADMIN_PORT);
	if (cfg->ignored != NULL)
		fprintf(stderr,
		    "threadlined: notice: memcached options that will be "
		    "ignored: %s\n",
		    cfg->ignored);
}
