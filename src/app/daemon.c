#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
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

int
daemon_pidfile_open(const char *path, char *err, size_t errlen)
{
	char tmp[4096], line[32];
	int fd, n;
	FILE *f;

	/* A live holder keeps its pidfile locked. */
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) != -1) {
		if (flock(fd, LOCK_EX | LOCK_NB) == -1 &&
		    errno == EWOULDBLOCK) {
			long pid = 0;

			if ((f = fdopen(fd, "r")) != NULL) {
				if (fscanf(f, "%ld", &pid) != 1)
					pid = 0;
				fclose(f);
			} else
				close(fd);
			snprintf(err, errlen,
			    "pidfile %s is held by running process %ld; "
			    "is threadlined already running?",
			    path, pid);
			return -1;
		}
		close(fd);
	}
	/* Write beside it and rename, so readers never see a partial one. */
	snprintf(tmp, sizeof tmp, "%s.%ld.tmp", path, (long)getpid());
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd == -1) {
		snprintf(err, errlen, "cannot create pidfile %s: %s", path,
		    strerror(errno));
		return -1;
	}
	n = snprintf(line, sizeof line, "%ld\n", (long)getpid());
	if (flock(fd, LOCK_EX | LOCK_NB) == -1 ||
	    write(fd, line, (size_t)n) != n || rename(tmp, path) == -1) {
		snprintf(err, errlen, "cannot write pidfile %s: %s", path,
		    strerror(errno));
		unlink(tmp);
		close(fd);
		return -1;
	}
	pidfile_fd = fd;
	pidfile_path = xstrdup(path);
	return 0;
}

void
daemon_pidfile_remove(void)
{
	if (pidfile_path == NULL)
		return;
	unlink(pidfile_path);
	close(pidfile_fd);
	free(pidfile_path);
	pidfile_path = NULL;
	pidfile_fd = -1;
}
