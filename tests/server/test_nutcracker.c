/* Scale-out: three threadlined instances behind Debian's nutcracker
 * (twemproxy) with config/nutcracker.yml, only its addresses changed: the
 * instances on ports the kernel picks, nutcracker on a UNIX socket in the
 * test's dir, its stats on another. Keys spread over all three; one killed
 * is ejected and the other two serve; restarted on its port, it is taken
 * back when the retry timeout has passed. */
#include <check.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

#define INSTANCES 3
#define KEYS      10000
/* Requests pipelined at once: nutcracker answers them in order. */
#define BATCH 100
/* The instance killed and restarted: threadline-2. */
#define VICTIM 1

/* A client connection to nutcracker, and what it has read. */
struct proxy {
	int fd;
	char in[65536];
	size_t len;
};

/* What a batch got: stored or hit, missed, or SERVER_ERROR. */
struct tally {
	int ok, miss, errors;
	char error[128];
	long long last_error; /* when the last SERVER_ERROR came, in ms */
};

enum op { OP_SET, OP_GET };

static struct harness_server inst[INSTANCES];
static pid_t nc_pid;
static char nc_sock[HARNESS_PATH_MAX], nc_stats[HARNESS_PATH_MAX];

/* Replace the one occurrence of from in *text with to: the shipped file
 * must still have the addresses the test knows. */
static void
subst(char **text, const char *from, const char *to)
{
	char *p = strstr(*text, from), *out;

	ck_assert_msg(p != NULL && strstr(p + 1, from) == NULL,
	    "config/nutcracker.yml must name %s once", from);
	ck_assert(asprintf(&out, "%.*s%s%s", (int)(p - *text), *text, to,
	              p + strlen(from)) != -1);
	free(*text);
	*text = out;
}

/* DIR/nutcracker.yml from config/nutcracker.yml with the test's
 * addresses; the file's server_retry_timeout, in ms. */
static int
nc_config(const char *path)
{
	const char *dir = getenv("TL_CONFIG_DIR"), *p;
	char src[HARNESS_PATH_MAX], from[64], to[HARNESS_PATH_MAX + 32];
	char *text;
	int retry;

	ck_assert_msg(dir != NULL, "TL_CONFIG_DIR is not set");
	snprintf(src, sizeof src, "%s/nutcracker.yml", dir);
	ck_assert_msg((text = harness_file_read(src)) != NULL, "no %s", src);
	snprintf(to, sizeof to, "listen: %s 0600", nc_sock);
	subst(&text, "listen: 127.0.0.1:22122", to);
	for (int i = 0; i < INSTANCES; i++) {
		snprintf(from, sizeof from, "127.0.0.1:113%d1:1", i + 1);
		snprintf(to, sizeof to, "127.0.0.1:%d:1", inst[i].port);
		subst(&text, from, to);
	}
	ck_assert_msg((p = strstr(text, "server_retry_timeout:")) != NULL,
	    "config/nutcracker.yml has no server_retry_timeout");
	retry = atoi(p + strlen("server_retry_timeout:"));
	ck_assert_int_gt(retry, 0);
	harness_file_write(path, text);
	free(text);
	return retry;
}

/* nutcracker's path; the test fails without it, as tools/dev installs
 * it. Debian puts it in /usr/sbin, which a user's PATH may lack. */
static void
nc_path(char *bin, size_t len)
{
	if (harness_which("nutcracker", bin, len))
		return;
	snprintf(bin, len, "/usr/sbin/nutcracker");
	ck_assert_msg(access(bin, X_OK) == 0,
	    "nutcracker is not installed (tools/dev deps installs it)");
}

/* A connection to the UNIX socket path; -1 while nothing listens. */
static int
unix_connect(const char *path)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	ck_assert_int_ne(fd, -1);
	snprintf(sun.sun_path, sizeof sun.sun_path, "%s", path);
	if (connect(fd, (struct sockaddr *)&sun, sizeof sun) == -1) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Check the config as nutcracker reads it, start nutcracker on it and wait
 * until its socket takes connections. Every listener in the test's dir:
 * the stats too (-a with a path makes it a UNIX socket; -s is then
 * unused), and its log and pidfile, which Debian's build would put in
 * /var/log/nutcracker and /run/nutcracker. */
static void
nc_start(const char *conf, const char *bin)
{
	char log[HARNESS_PATH_MAX], pid[HARNESS_PATH_MAX], *out;
	const char *test[] = {"-t", "-c", conf, NULL};
	const char *args[] = {"-c", conf, "-o", log, "-p", pid, "-a", nc_stats,
	    "-s", "22222", "-i", "100", NULL};
	long long deadline;
	int code, fd;

	code = harness_wait(
	    harness_spawn_prog(bin, "nutcracker-t", test), HARNESS_DEADLINE_MS);
	out = harness_output("nutcracker-t", "err");
	ck_assert_msg(code == 0, "nutcracker -t: exit %d: %s", code, out);
	free(out);
	harness_path(log, sizeof log, "nutcracker.log");
	harness_path(pid, sizeof pid, "nutcracker.pid");
	nc_pid = harness_spawn_prog(bin, "nutcracker", args);
	deadline = harness_now_ms() + HARNESS_DEADLINE_MS;
	while ((fd = unix_connect(nc_sock)) == -1) {
		ck_assert_msg(harness_wait(nc_pid, 0) == -1,
		    "nutcracker exited; its log: %s", harness_file_read(log));
		ck_assert_msg(harness_now_ms() < deadline,
		    "nutcracker not listening on %s after %d ms", nc_sock,
		    HARNESS_DEADLINE_MS);
		harness_nap();
	}
	close(fd);
}

/* nutcracker's pool counter "server_ejects", from its stats socket. */
static int
nc_ejects(void)
{
	char buf[16384];
	const char *p;
	bool eof;
	int fd = unix_connect(nc_stats);

	ck_assert_msg(fd != -1, "no nutcracker stats on %s", nc_stats);
	harness_recv_all(fd, buf, sizeof buf, HARNESS_DEADLINE_MS, &eof);
	close(fd);
	ck_assert_msg((p = strstr(buf, "\"server_ejects\":")) != NULL,
	    "no server_ejects in nutcracker's stats: %s", buf);
	return atoi(p + strlen("\"server_ejects\":"));
}

/* server_ejects once nutcracker's stats (aggregated every 100 ms) show at
 * least one. */
static int
nc_ejects_seen(void)
{
	long long deadline = harness_now_ms() + HARNESS_DEADLINE_MS;
	int n;

	while ((n = nc_ejects()) < 1) {
		ck_assert_msg(harness_now_ms() < deadline,
		    "nutcracker's stats show no eject after %d ms",
		    HARNESS_DEADLINE_MS);
		harness_nap();
	}
	return n;
}

/* An instance's curr_items, asked on its own port. */
static long long
instance_items(int i)
{
	char buf[16384], val[32];
	int fd = harness_connect(inst[i].port);

	harness_cmd(fd, "stats\r\n", "END\r\n", buf, sizeof buf);
	harness_close(fd);
	ck_assert_msg(harness_stat(buf, "curr_items", val, sizeof val),
	    "no curr_items from threadline-%d", i + 1);
	return atoll(val);
}

/* Read more of nutcracker's replies; fail at EOF or the deadline. */
static void
proxy_fill(struct proxy *px)
{
	long long deadline = harness_now_ms() + HARNESS_DEADLINE_MS;
	ssize_t n;

	ck_assert_msg(px->len < sizeof px->in, "reply larger than the buffer");
	for (;;) {
		struct pollfd pfd = {.fd = px->fd, .events = POLLIN};
		long long left = deadline - harness_now_ms();

		ck_assert_msg(left > 0, "no reply from nutcracker in %d ms",
		    HARNESS_DEADLINE_MS);
		if (poll(&pfd, 1, (int)left) <= 0)
			continue;
		n = recv(px->fd, px->in + px->len, sizeof px->in - px->len,
		    MSG_DONTWAIT);
		if (n == -1 && (errno == EINTR || errno == EAGAIN))
			continue;
		ck_assert_msg(n > 0, "nutcracker closed the connection: %s",
		    n == 0 ? "EOF" : strerror(errno));
		px->len += (size_t)n;
		return;
	}
}

/* Take n bytes of input, then CRLF, into out (NUL-terminated). */
static void
proxy_take(struct proxy *px, char *out, size_t n)
{
	while (px->len < n + 2)
		proxy_fill(px);
	ck_assert_msg(
	    memcmp(px->in + n, "\r\n", 2) == 0, "value not followed by CRLF");
	memcpy(out, px->in, n);
	out[n] = '\0';
	px->len -= n + 2;
	memmove(px->in, px->in + n + 2, px->len);
}

/* The next reply line, without its CRLF. */
static void
proxy_line(struct proxy *px, char *line, size_t cap)
{
	char *nl;

	while ((nl = memchr(px->in, '\n', px->len)) == NULL)
		proxy_fill(px);
	ck_assert_msg(
	    nl > px->in && nl[-1] == '\r' && (size_t)(nl - px->in) < cap,
	    "bad reply line from nutcracker");
	proxy_take(px, line, (size_t)(nl - px->in - 1));
}

/* The value stored under key: made from it, so a get can check it. */
static void
value_of(const char *key, char *value, size_t len)
{
	snprintf(value, len, "value-of-%s", key);
}

/* One reply: counts a success, a miss, or a SERVER_ERROR (the first
 * kept); anything else fails the test. */
static void
proxy_reply(struct proxy *px, enum op op, const char *key, struct tally *t)
{
	char line[512], want[128], got[512], k[300];
	size_t n;

	proxy_line(px, line, sizeof line);
	if (strncmp(line, "SERVER_ERROR", 12) == 0) {
		if (t->errors++ == 0)
			snprintf(t->error, sizeof t->error, "%.100s", line);
		t->last_error = harness_now_ms();
		return;
	}
	if (op == OP_SET) {
		ck_assert_msg(
		    strcmp(line, "STORED") == 0, "set %s: %s", key, line);
		t->ok++;
		return;
	}
	if (strcmp(line, "END") == 0) {
		t->miss++;
		return;
	}
	ck_assert_msg(sscanf(line, "VALUE %299s 0 %zu", k, &n) == 2 &&
	                  strcmp(k, key) == 0 && n < sizeof got,
	    "get %s: %s", key, line);
	proxy_take(px, got, n);
	value_of(key, want, sizeof want);
	ck_assert_msg(strcmp(got, want) == 0, "get %s: value %s", key, got);
	proxy_line(px, line, sizeof line);
	ck_assert_msg(strcmp(line, "END") == 0, "get %s: then %s", key, line);
	t->ok++;
}

/* Keys prefix first .. first + n - 1, pipelined BATCH at a time; what
 * they got is added to t. */
static void
proxy_run(struct proxy *px, enum op op, const char *prefix, int first, int n,
    struct tally *t)
{
	char req[BATCH * 160], key[64], value[128];

	for (int b = first; b < first + n; b += BATCH) {
		int end = b + BATCH < first + n ? b + BATCH : first + n;
		size_t len = 0;

		for (int i = b; i < end; i++) {
			snprintf(key, sizeof key, "%s%05d", prefix, i);
			value_of(key, value, sizeof value);
			if (op == OP_SET)
				len += (size_t)snprintf(req + len,
				    sizeof req - len,
				    "set %s 0 0 %zu\r\n%s\r\n", key,
				    strlen(value), value);
			else
				len += (size_t)snprintf(req + len,
				    sizeof req - len, "get %s\r\n", key);
		}
		harness_send(px->fd, req, len);
		for (int i = b; i < end; i++) {
			snprintf(key, sizeof key, "%s%05d", prefix, i);
			proxy_reply(px, op, key, t);
		}
	}
}

/* Wait until the instance started as pid listens (true) or exits
 * (false). */
static bool
instance_listening(pid_t pid, const char *log, int i)
{
	long long deadline = harness_now_ms() + HARNESS_DEADLINE_MS;
	int status;

	for (;;) {
		if (harness_file_wait(log, " listening on ", 0))
			return true;
		if (waitpid(pid, &status, WNOHANG) == pid)
			return false;
		ck_assert_msg(harness_now_ms() < deadline,
		    "threadline-%d not listening after %d ms", i + 1,
		    HARNESS_DEADLINE_MS);
		harness_nap();
	}
}

/* Start instance i again on the port it had, which nutcracker's config
 * names. Its listener has SO_REUSEADDR (libevent's LEV_OPT_REUSEABLE), so
 * the killed instance's connections in TIME_WAIT do not hold the port;
 * what can is a socket of another program that took the port meanwhile
 * (the kernel hands out the same range for ephemeral ports). That goes
 * when it closes: try again until the deadline, and fail saying so.
 * Returns the number of tries. */
static int
instance_restart(int i)
{
	long long deadline = harness_now_ms() + HARNESS_DEADLINE_MS;
	char tag[32], log[HARNESS_PATH_MAX], port[16], threads[] = "2", *err;
	const char *args[] = {
	    "-p", port, "-t", threads, "--log-file", log, NULL};
	int old = inst[i].port;
	pid_t pid;

	snprintf(port, sizeof port, "%d", old);
	for (int tries = 1;; tries++) {
		snprintf(tag, sizeof tag, "inst%d-again%d", i + 1, tries);
		snprintf(log, sizeof log, "%s/%s.log", harness_dir(), tag);
		pid = harness_spawn(tag, args);
		if (instance_listening(pid, log, i)) {
			harness_server_attach(&inst[i], pid, log);
			ck_assert_int_eq(inst[i].port, old);
			return tries;
		}
		err = harness_output(tag, "err");
		ck_assert_msg(strstr(err, "Address already in use") != NULL &&
		                  harness_now_ms() < deadline,
		    "threadline-%d cannot listen on its port %d again (try "
		    "%d): %s",
		    i + 1, old, tries, err);
		free(err);
		harness_nap();
	}
}

/* The run: what each phase saw, for the next phases and the figures. */
struct pool {
	struct proxy px;
	int retry;                  /* server_retry_timeout, ms */
	long long items[INSTANCES]; /* of the first 10,000 keys */
	long long live;             /* of those, on the two not killed */
	struct tally window;        /* from the kill to the eject */
	long long t_kill, t_up, t_back;
	int tries;      /* starts until the port was free */
	int stale;      /* keys set while ejected, then missed */
	long long back; /* of 10,000 new keys, on the restarted one */
};

/* Three instances, nutcracker in front, a client connection to it. */
static void
pool_start(struct pool *pl)
{
	char bin[HARNESS_PATH_MAX], conf[HARNESS_PATH_MAX], tag[16];

	nc_path(bin, sizeof bin);
	for (int i = 0; i < INSTANCES; i++) {
		snprintf(tag, sizeof tag, "inst%d", i + 1);
		harness_server_start(&inst[i], tag, 2, NULL);
	}
	harness_path(nc_sock, sizeof nc_sock, "nutcracker.sock");
	harness_path(nc_stats, sizeof nc_stats, "nutcracker-stats.sock");
	harness_path(conf, sizeof conf, "nutcracker.yml");
	pl->retry = nc_config(conf);
	nc_start(conf, bin);
	pl->px.fd = unix_connect(nc_sock);
	ck_assert_int_ne(pl->px.fd, -1);
}

/* 10,000 keys through the proxy land on all three, at least 20% each,
 * and all read back. */
static void
pool_spread(struct pool *pl)
{
	struct tally t = {0};

	proxy_run(&pl->px, OP_SET, "a:", 0, KEYS, &t);
	ck_assert_msg(t.ok == KEYS, "%d of %d sets stored; first error: %s",
	    t.ok, KEYS, t.error);
	for (int i = 0; i < INSTANCES; i++) {
		pl->items[i] = instance_items(i);
		ck_assert_msg(pl->items[i] >= KEYS / 5,
		    "threadline-%d holds %lld of %d keys, under 20%%", i + 1,
		    pl->items[i], KEYS);
		pl->live += i == VICTIM ? 0 : pl->items[i];
	}
	ck_assert_int_eq(pl->live + pl->items[VICTIM], KEYS);
	memset(&t, 0, sizeof t);
	proxy_run(&pl->px, OP_GET, "a:", 0, KEYS, &t);
	ck_assert_msg(t.ok == KEYS,
	    "%d of %d read back (%d misses, %d errors: %s)", t.ok, KEYS, t.miss,
	    t.errors, t.error);
}

/* SIGKILL one. Reads of the old keys on it get SERVER_ERROR until
 * nutcracker ejects it, then they miss, and only they: the keys on the
 * live two still hit (consistent hashing). Whole passes over the 10,000,
 * so that each asks every part of the ring. Then a full pass of new keys
 * with no error. nutcracker tries the dead one again server_retry_timeout
 * after the eject, so this must end before that; the eject came after the
 * kill. */
static void
pool_kill(struct pool *pl)
{
	struct tally t;
	int status;

	pl->t_kill = harness_now_ms();
	ck_assert_int_eq(kill(inst[VICTIM].pid, SIGKILL), 0);
	ck_assert_int_eq(
	    waitpid(inst[VICTIM].pid, &status, 0), inst[VICTIM].pid);
	inst[VICTIM].pid = 0;
	for (;;) {
		memset(&t, 0, sizeof t);
		proxy_run(&pl->px, OP_GET, "a:", 0, KEYS, &t);
		if (t.errors == 0)
			break;
		if (pl->window.errors == 0)
			memcpy(pl->window.error, t.error, sizeof t.error);
		pl->window.errors += t.errors;
		pl->window.last_error = t.last_error;
		ck_assert_msg(
		    harness_now_ms() < pl->t_kill + HARNESS_DEADLINE_MS,
		    "not ejected %d ms after SIGKILL: %d errors (%s)",
		    HARNESS_DEADLINE_MS, pl->window.errors, pl->window.error);
	}
	ck_assert_msg(t.ok == pl->live && t.miss == pl->items[VICTIM],
	    "old keys after the eject: %d hits, %d misses (want %lld, %lld)",
	    t.ok, t.miss, pl->live, pl->items[VICTIM]);
	memset(&t, 0, sizeof t);
	proxy_run(&pl->px, OP_SET, "c:", 0, KEYS, &t);
	proxy_run(&pl->px, OP_GET, "c:", 0, KEYS, &t);
	ck_assert_msg(t.ok == 2 * KEYS,
	    "full pass after the eject: %d of %d ok, %d misses, %d errors "
	    "(%s), %lld ms after the kill",
	    t.ok, 2 * KEYS, t.miss, t.errors, t.error,
	    harness_now_ms() - pl->t_kill);
	ck_assert_msg(harness_now_ms() < pl->t_kill + pl->retry,
	    "the passes after the kill took %lld ms, longer than "
	    "server_retry_timeout (%d ms): a retry may have hit them",
	    harness_now_ms() - pl->t_kill, pl->retry);
	ck_assert_int_eq(nc_ejects_seen(), 1);
}

/* Restarted on its port: once the retry timeout has passed, new keys land
 * on it again, their share of them. The keys set while it was out that
 * are its own again now miss: their copies on the other two are out of
 * the ring's reach. */
static void
pool_take_back(struct pool *pl)
{
	struct tally t = {0};
	long long before;

	pl->tries = instance_restart(VICTIM);
	pl->t_up = harness_now_ms();
	ck_assert_int_eq(instance_items(VICTIM), 0);
	for (int b = 0; instance_items(VICTIM) == 0; b++) {
		ck_assert_msg(harness_now_ms() <
		                  pl->t_kill + pl->retry + HARNESS_DEADLINE_MS,
		    "not taken back %lld ms after the kill (retry timeout %d "
		    "ms)",
		    harness_now_ms() - pl->t_kill, pl->retry);
		proxy_run(&pl->px, OP_SET, "d:", b * BATCH, BATCH, &t);
		ck_assert_msg(t.errors == 0, "restarted: %d errors (%s)",
		    t.errors, t.error);
		harness_nap();
	}
	pl->t_back = harness_now_ms();
	before = instance_items(VICTIM);
	memset(&t, 0, sizeof t);
	proxy_run(&pl->px, OP_SET, "e:", 0, KEYS, &t);
	proxy_run(&pl->px, OP_GET, "e:", 0, KEYS, &t);
	ck_assert_msg(t.ok == 2 * KEYS,
	    "after the take-back: %d of %d ok, %d misses, %d errors (%s)", t.ok,
	    2 * KEYS, t.miss, t.errors, t.error);
	pl->back = instance_items(VICTIM) - before;
	ck_assert_msg(pl->back >= KEYS / 5,
	    "taken back, threadline-2 got %lld of %d new keys", pl->back, KEYS);
	memset(&t, 0, sizeof t);
	proxy_run(&pl->px, OP_GET, "c:", 0, KEYS, &t);
	ck_assert_msg(t.errors == 0 && t.miss > 0 && t.ok + t.miss == KEYS,
	    "keys set while it was out: %d hits, %d misses, %d errors (%s)",
	    t.ok, t.miss, t.errors, t.error);
	pl->stale = t.miss;
	/* No failed retry: it was up before nutcracker tried it again. */
	ck_assert_int_eq(nc_ejects_seen(), 1);
}

START_TEST(test_nutcracker_pool)
{
	static struct pool pl;
	const struct tally *w = &pl.window;

	pool_start(&pl);
	pool_spread(&pl);
	pool_kill(&pl);
	pool_take_back(&pl);
	printf("nutcracker: %lld %lld %lld of %d keys on threadline-1..3; "
	       "SIGKILL threadline-2: %d errors (%s), the last %lld ms after "
	       "the kill; then %lld of %d old keys still hit; restarted on "
	       "port %d (%d tries), taken back %lld ms later, %lld ms after "
	       "the kill (server_retry_timeout %d ms); %lld of %d new keys "
	       "on it; %d of %d keys set while it was out miss\n",
	    pl.items[0], pl.items[1], pl.items[2], KEYS, w->errors,
	    w->errors > 0 ? w->error : "none",
	    w->errors > 0 ? w->last_error - pl.t_kill : 0, pl.live, KEYS,
	    inst[VICTIM].port, pl.tries, pl.t_back - pl.t_up,
	    pl.t_back - pl.t_kill, pl.retry, pl.back, KEYS, pl.stale, KEYS);
	close(pl.px.fd);
	for (int i = 0; i < INSTANCES; i++)
		ck_assert_int_eq(harness_server_stop(&inst[i]), 0);
	ck_assert_int_eq(kill(nc_pid, SIGTERM), 0);
	ck_assert_int_ne(harness_wait(nc_pid, HARNESS_DEADLINE_MS), -1);
}
END_TEST

int
main(void)
{
	const TTest *tests[] = {test_nutcracker_pool, NULL};

	return harness_run_suite(
	    &(struct harness_suite){.name = "nutcracker", .timeout = 300},
	    tests);
}
