/* Dropping root for the run user: groups, gid, uid, and no way back. */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "privdrop.h"

static struct {
	bool pending; /* root now, someone else after privdrop_switch */
	uid_t uid;
	gid_t gid;
	char name[64];
} priv;

int
privdrop_check(const char *user, char *err, size_t errlen)
{
	struct passwd *pw;

	if (user != NULL)
		snprintf(priv.name, sizeof priv.name, "%s", user);
	if (geteuid() != 0)
		return 0;
	if (user == NULL) {
		snprintf(err, errlen,
		    "refusing to run as root: name the user to run as with "
		    "-u USER or 'user' in [server] (-u root to stay root)");
		return -1;
	}
	errno = 0;
	if ((pw = getpwnam(user)) == NULL) {
		snprintf(err, errlen, "cannot run as '%s': %s", user,
		    errno != 0 ? strerror(errno) : "no such user");
		return -1;
	}
	priv.pending = pw->pw_uid != 0;
	priv.uid = pw->pw_uid;
	priv.gid = pw->pw_gid;
	return 0;
}

bool
privdrop_target(uid_t *uid, gid_t *gid)
{
	*uid = priv.uid;
	*gid = priv.gid;
	return priv.pending;
}

int
privdrop_switch(char *err, size_t errlen)
{
	if (!priv.pending) {
		if (geteuid() == 0)
			log_notice("running as root, as -u root asks");
		else if (priv.name[0] != '\0')
			log_notice("not started as root: user %s not needed, "
			           "running as uid %d",
			    priv.name, (int)geteuid());
		return 0;
	}
	/* glibc applies these to every thread of the process. */
	if (initgroups(priv.name, priv.gid) == -1 || setgid(priv.gid) == -1 ||
	    setuid(priv.uid) == -1) {
		snprintf(err, errlen, "cannot become user '%s': %s", priv.name,
		    strerror(errno));
		return -1;
	}
	/* A switch that can be undone is no switch. */
	if (setuid(0) != -1) {
		snprintf(err, errlen, "could regain root after becoming '%s'",
		    priv.name);
		return -1;
	}
	priv.pending = false;
	log_notice("running as user %s (uid %d, gid %d)", priv.name,
	    (int)priv.uid, (int)priv.gid);
	return 0;
}
