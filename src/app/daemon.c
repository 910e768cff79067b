/* Detaching from the terminal, telling the starting parent when the
 * server is ready, and the pidfile, locked for the process's life. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "daemon.h"
#include "xmalloc.h"

static int ready_fd = -1;
static char *pidfile_path;
static int pidfile_fd = -1;

/* Parent side: relay the child's stderr until it closes, then exit 0 if
 * the child said it is ready, else with the child's status. */
static void __attribute__((noreturn))
daemon_wait_child(pid_t pid, int errfd, int rfd)
{
	char buf[4096];
	ssize_t n;
	int status;

	while ((n = read(errfd, buf, sizeof buf)) != 0) {
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1)
			break;
		(void)!write(STDERR_FILENO, buf, (size_t)n);
	}
	do
		n = read(rfd, buf, 1);
	while (n == -1 && errno == EINTR);
	if (n == 1)
		_exit(0);
	if (waitpid(pid, &status, 0) == -1 || !WIFEXITED(status))
		_exit(1);
	_exit(WEXITSTATUS(status) ? WEXITSTATUS(status) : 1);
}

/* Fork and detach; the parent waits in daemon_wait_child. */
void
daemon_detach(void)
{
	int errp[2], readyp[2], null;
	pid_t pid;

	if (pipe2(errp, O_CLOEXEC) == -1 || pipe2(readyp, O_CLOEXEC) == -1) {
		perror("threadlined: pipe");
		exit(1);
	}
	switch ((pid = fork())) {
	case -1:
		perror("threadlined: fork");
		exit(1);
	case 0:
		break;
	default:
		close(errp[1]);
		close(readyp[1]);
		daemon_wait_child(pid, errp[0], readyp[0]);
	}
	close(errp[0]);
	close(readyp[0]);
	setsid();
	/* Hold no directory busy; every path was made absolute. */
	if (chdir("/") == -1) {
		perror("threadlined: chdir /");
		exit(1);
	}
	/* Start-up errors reach the parent, which prints them. */
	dup2(errp[1], STDERR_FILENO);
	close(errp[1]);
	if ((null = open("/dev/null", O_RDWR)) != -1) {
		dup2(null, STDIN_FILENO);
		dup2(null, STDOUT_FILENO);
		close(null);
	}
	ready_fd = readyp[1];
}

/* Tell the waiting parent we listen, and let go of its stderr. */
void
daemon_ready(void)
{
	int null;

	if (ready_fd == -1)
		return;
	(void)!write(ready_fd, "R", 1);
	close(ready_fd);
	ready_fd = -1;
	/* Closing the parent's view of our stderr lets it exit. */
	if ((null = open("/dev/null", O_WRONLY)) != -1) {
		dup2(null, STDERR_FILENO);
		close(null);
	}
}

/* The pid a pidfile holds, 0 if none yet: its holder may be between
 * truncating it and writing, so a moment is given for the number to
 * appear. */
static long
daemon_pidfile_holder(int fd)
{
	char buf[32];
	ssize_t n;

	for (int tries = 0; tries < 50; tries++) {
		n = pread(fd, buf, sizeof buf - 1, 0);
		if (n > 0 && buf[n - 1] == '\n') {
			buf[n] = '\0';
			return strtol(buf, NULL, 10);
		}
		usleep(10000);
	}
	return 0;
}

/* One lock, held for the process's life, makes the pidfile ours: opened
 * without truncating, so that a running holder's pid stays readable, then
 * locked, and only then emptied and written. A file nobody holds locked
 * is stale (its writer died) and is taken over. */
int
daemon_pidfile_open(const char *path, char *err, size_t errlen)
{
	char line[32];
	int fd, n;

	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (fd == -1) {
		snprintf(err, errlen, "cannot create pidfile %s: %s", path,
		    strerror(errno));
		return -1;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) == -1) {
		if (errno == EWOULDBLOCK)
			snprintf(err, errlen,
			    "pidfile %s is held by running process %ld; is "
			    "threadlined already running?",
			    path, daemon_pidfile_holder(fd));
		else
			snprintf(err, errlen, "cannot lock pidfile %s: %s",
			    path, strerror(errno));
		close(fd);
		return -1;
	}
	n = snprintf(line, sizeof line, "%ld\n", (long)getpid());
	if (ftruncate(fd, 0) == -1 || pwrite(fd, line, (size_t)n, 0) != n) {
		snprintf(err, errlen, "cannot write pidfile %s: %s", path,
		    strerror(errno));
		close(fd);
		return -1;
	}
	pidfile_fd = fd;
	pidfile_path = xstrdup(path);
	return 0;
}

/* Remove the pidfile if it is still the one we locked: a file put in its
 * place by someone else is theirs. */
void
daemon_pidfile_remove(void)
{
	struct stat ours, there;

	if (pidfile_path == NULL)
		return;
	if (fstat(pidfile_fd, &ours) == 0 && stat(pidfile_path, &there) == 0 &&
	    ours.st_dev == there.st_dev && ours.st_ino == there.st_ino)
		unlink(pidfile_path);
	close(pidfile_fd);
	free(pidfile_path);
	pidfile_path = NULL;
	pidfile_fd = -1;
}
