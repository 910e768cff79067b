/* The observation floor's own settings: what stats, /status and the admin
 * port read of the configuration, handed down by app at start-up (obs
 * sees no struct config), and the process's clock since then. */
#ifndef TL_OBS_H
#define TL_OBS_H

#include <stdbool.h>
#include <stddef.h>

/* One setting of app's table, as the reports print it. */
struct obs_setting {
	const char *section; /* [section] of the config file */
	const char *key;
	const char *stat; /* its name in "stats settings" */
	bool path;        /* a path: unset, it has no stats line */
	/* As the file would spell it, the caller frees; NULL when asked
	 * for the names alone. */
	char *value;
};

struct obs_config {
	int max_conns;
	const char *unix_socket;      /* -s; NULL or "": none */
	const char *auth_file;        /* -Y; NULL: none */
	const char *prefix_delimiter; /* -D; NULL or "": ':' */
	const char *config_file;      /* NULL: none read */
	size_t read_buf_mb;
	int temporary_ttl;
	bool evict;
	int protocol;             /* -B: 0 ascii, 1 auto, 2 binary */
	const char *admin_listen; /* NULL: no admin thread */
	const char *admin_token;  /* NULL: none asked */
	const char *admin_allow_hosts;
	int admin_max_conns;
	int admin_port; /* of an admin address that names none */
	/* The settings table, one at a time: setting i (from 0) into *s,
	 * its value spelling none as unset, or no value if unset is NULL;
	 * false past the last. */
	bool (*setting)(const void *arg, size_t i, const char *unset,
	    struct obs_setting *s);
	const void *setting_arg;
};

/* Keep cfg (its strings must live as long as the process) and start the
 * uptime clock. */
void obs_init(const struct obs_config *);
const struct obs_config *obs_config(void);
/* Seconds since obs_init(): the server's uptime. */
long long obs_uptime(void);

#endif
