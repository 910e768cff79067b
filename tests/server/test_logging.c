/* Black-box tests of the log: JSON validity, the syslog and journald sinks,
 * watch filters and slow watchers, a failing log file, per-thread
 * verbosity, the threadline client and log rotation. Every wait polls with
 * a deadline; see harness.h. */
#include <check.h>
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <regex.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "tl_build.h"

#define BUFSZ        65536
#define PYTHON       "/usr/bin/python3"
#define JOURNAL_DIR  "/run/systemd/journal"
#define JOURNAL_SOCK JOURNAL_DIR "/socket"
#define MARKER       "lines skipped, the client reads too slowly"
/* Names of the files the runner removes should the test die early. */
#define CLEANUP_LIST "cleanup.list"

/* Say why a test does not apply, counted as a skip, and leave it. */
#define SKIP(...)                                                              \
	do {                                                                   \
		harness_skip(__VA_ARGS__);                                     \
		return;                                                        \
	} while (0)

/* Wait until path holds needle, failing at the deadline. */
static void
test_wait_log(const char *path, const char *needle)
{
	ck_assert_msg(harness_file_wait(path, needle, HARNESS_DEADLINE_MS),
	    "'%s' not in %s after %d ms", needle, path, HARNESS_DEADLINE_MS);
}

/* Send "version" and expect its reply: the connection is served. */
static void
test_version(int fd)
{
	char buf[256];

	harness_cmd(fd, "version\r\n", "\r\n", buf, sizeof buf);
	ck_assert_msg(strncmp(buf, "VERSION ", 8) == 0, "version: %s", buf);
}

/* Which worker answers fd, from the first STAT of "stats". */
static void
test_worker_of(int fd, char *name, size_t len)
{
	char buf[BUFSZ];

	harness_cmd(fd, "stats\r\n", "END\r\n", buf, sizeof buf);
	ck_assert_msg(harness_stat(buf, "thread", name, len),
	    "no STAT thread in: %s", buf);
	ck_assert_msg(strncmp(name, "worker-", 7) == 0, "answered by %s", name);
}

/* One short connection: connect, version, close; its local port. */
static int
test_short_conn(int port)
{
	int fd = harness_connect(port), local = harness_local_port(fd);

	test_version(fd);
	harness_close(fd);
	return local;
}

/* The fd the server gave a client, from its "opened" log line. */
static int
test_conn_fd(const char *log, int local_port)
{
	char re[128], fd[16];

	snprintf(re, sizeof re, "conn=([0-9]+) peer=127\\.0\\.0\\.1:%d opened",
	    local_port);
	ck_assert_msg(
	    harness_file_wait_re(log, re, fd, sizeof fd, HARNESS_DEADLINE_MS),
	    "no line matching %s in %s", re, log);
	return atoi(fd);
}

/* A numeric STAT of "stats threads", -1 if it is missing. */
static long long
test_thread_stat(int fd, const char *name)
{
	char buf[BUFSZ], val[64];

	harness_cmd(fd, "stats threads\r\n", "END\r\n", buf, sizeof buf);
	if (!harness_stat(buf, name, val, sizeof val))
		return -1;
	return atoll(val);
}

/* Start $THREADLINED with args whose log the harness cannot read; wait
 * until it listens. */
static void
test_server_spawn(
    struct harness_server *srv, const char *tag, const char *const args[])
{
	long long deadline = harness_now_ms() + HARNESS_DEADLINE_MS;
	int status;

	memset(srv, 0, sizeof *srv);
	srv->pid = harness_spawn(tag, args);
	while ((srv->port = harness_proc_listen_port(srv->pid)) == 0) {
		if (waitpid(srv->pid, &status, WNOHANG) == srv->pid) {
			srv->pid = 0;
			ck_abort_msg("threadlined (%s) exited with status %d "
			             "before listening",
			    tag, status);
		}
		ck_assert_msg(harness_now_ms() < deadline,
		    "threadlined (%s) not listening after %d ms", tag,
		    HARNESS_DEADLINE_MS);
		harness_nap();
	}
}

/* RSS of a process in kB, from /proc/PID/status. */
static long
test_rss_kb(pid_t pid)
{
	char path[64], line[256];
	long kb = -1;
	FILE *f;

	snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
	f = fopen(path, "r");
	ck_assert_msg(f != NULL, "open %s: %s", path, strerror(errno));
	while (kb == -1 && fgets(line, sizeof line, f) != NULL)
		if (sscanf(line, "VmRSS: %ld kB", &kb) != 1)
			kb = -1;
	fclose(f);
	ck_assert_msg(kb > 0, "no VmRSS in %s", path);
	return kb;
}

/* Whether every line of text is a whole text-format log line. */
static bool
test_whole_lines(const char *text, char *bad, size_t len)
{
	static const char *const re =
	    "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{6}"
	    "Z "
	    "(threadlined|logger|maint|accept|admin|worker-[0-9]+) "
	    "(fatal|error|warn|notice|info|debug) ";
	const char *p = text, *nl;
	regex_t rx;
	bool ok = true;

	ck_assert(regcomp(&rx, re, REG_EXTENDED | REG_NOSUB) == 0);
	while (ok && *p != '\0') {
		char line[2048];

		/* A last line without its newline was cut. */
		if ((nl = strchr(p, '\n')) == NULL) {
			snprintf(bad, len, "unterminated: %.200s", p);
			ok = false;
			break;
		}
		snprintf(line, sizeof line, "%.*s", (int)(nl - p), p);
		if (regexec(&rx, line, 0, NULL, 0) != 0) {
			snprintf(bad, len, "%.200s", line);
			ok = false;
		}
		p = nl + 1;
	}
	regfree(&rx);
	return ok;
}

/* Remember a path ("f PATH" file, "d PATH" dir) that the runner removes
 * if the test dies before it cleans up itself. */
static void
test_cleanup_note(char kind, const char *path)
{
	char list[HARNESS_PATH_MAX];
	FILE *f;

	harness_path(list, sizeof list, CLEANUP_LIST);
	f = fopen(list, "a");
	ck_assert_msg(f != NULL, "open %s: %s", list, strerror(errno));
	fprintf(f, "%c %s\n", kind, path);
	fclose(f);
}

/* Remove what the cleanup list names, newest first, and forget it. Runs
 * in the test and in the runner, so it uses no Check assertion. */
static void
test_cleanup_run(void)
{
	char list[HARNESS_PATH_MAX], lines[16][HARNESS_PATH_MAX + 4];
	int n = 0;
	FILE *f;

	if (harness_dir()[0] == '\0')
		return;
	snprintf(list, sizeof list, "%s/%s", harness_dir(), CLEANUP_LIST);
	if ((f = fopen(list, "r")) == NULL)
		return;
	while (n < 16 && fgets(lines[n], sizeof lines[n], f) != NULL) {
		lines[n][strcspn(lines[n], "\n")] = '\0';
		n++;
	}
	fclose(f);
	while (n-- > 0) {
		if (lines[n][0] == 'f')
			(void)unlink(lines[n] + 2);
		else if (lines[n][0] == 'd')
			(void)rmdir(lines[n] + 2);
	}
	(void)unlink(list);
}

/* Runner teardown: the system paths first, then the harness's own. */
static void
test_tcase_teardown(void)
{
	test_cleanup_run();
	harness_tcase_teardown();
}

/* Datagrams received by a thread, so a sender never blocks on a full
 * queue (net.unix.max_dgram_qlen is small) while the test waits on
 * something else. */
#define DGRAM_MAX 4096
struct dgram_sink {
	int fd;
	pthread_t thread;
	pthread_mutex_t lock;
	atomic_bool stop;
	char *buf;
	size_t len, cap;
	size_t start[DGRAM_MAX + 1];
	size_t n;
};

/* The sink's thread: receive until told to stop. */
static void *
dgram_reader(void *arg)
{
	struct dgram_sink *s = arg;
	static char pkt[65536];

	while (!atomic_load(&s->stop)) {
		struct pollfd pfd = {.fd = s->fd, .events = POLLIN};
		ssize_t n;

		if (poll(&pfd, 1, HARNESS_POLL_MS) <= 0)
			continue;
		if ((n = recv(s->fd, pkt, sizeof pkt, MSG_DONTWAIT)) <= 0)
			continue;
		pthread_mutex_lock(&s->lock);
		if (s->n < DGRAM_MAX && s->cap - s->len > (size_t)n) {
			memcpy(s->buf + s->len, pkt, (size_t)n);
			s->len += (size_t)n;
			s->buf[s->len++] = '\0';
			s->start[++s->n] = s->len;
		}
		pthread_mutex_unlock(&s->lock);
	}
	return NULL;
}

/* Bind a datagram socket at path (noting it for clean-up) and start
 * reading it. */
static void
dgram_open(struct dgram_sink *s, const char *path)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};

	memset(s, 0, sizeof *s);
	s->cap = 4 << 20;
	s->buf = malloc(s->cap);
	ck_assert_ptr_nonnull(s->buf);
	pthread_mutex_init(&s->lock, NULL);
	snprintf(sun.sun_path, sizeof sun.sun_path, "%s", path);
	s->fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	ck_assert_msg(s->fd != -1, "socket: %s", strerror(errno));
	/* Noted only once bound: a path that was not ours stays. */
	ck_assert_msg(bind(s->fd, (struct sockaddr *)&sun, sizeof sun) == 0,
	    "bind %s: %s", path, strerror(errno));
	test_cleanup_note('f', path);
	ck_assert(pthread_create(&s->thread, NULL, dgram_reader, s) == 0);
}

/* Stop reading and close the socket (its path is the caller's). */
static void
dgram_close(struct dgram_sink *s)
{
	atomic_store(&s->stop, true);
	pthread_join(s->thread, NULL);
	close(s->fd);
	free(s->buf);
}

/* Wait for a datagram holding every one of needles; copy it to out. */
static bool
dgram_wait(
    struct dgram_sink *s, const char *const needles[], char *out, size_t len)
{
	long long deadline = harness_now_ms() + HARNESS_DEADLINE_MS;
	size_t next = 0;

	for (;;) {
		bool found = false;

		pthread_mutex_lock(&s->lock);
		for (; !found && next < s->n; next++) {
			const char *d = s->buf + s->start[next];
			size_t k = 0;

			while (needles[k] != NULL && strstr(d, needles[k]))
				k++;
			if (needles[k] == NULL) {
				snprintf(out, len, "%s", d);
				found = true;
			}
		}
		pthread_mutex_unlock(&s->lock);
		if (found)
			return true;
		if (harness_now_ms() > deadline)
			return false;
		harness_nap();
	}
}

/* The value of "KEY=value" on its own line of a journal datagram. */
static bool
journal_field(const char *d, const char *key, char *val, size_t len)
{
	size_t klen = strlen(key);
	const char *p = d;

	while (*p != '\0') {
		const char *nl = strchr(p, '\n');
		size_t n = nl ? (size_t)(nl - p) : strlen(p);

		if (n > klen && memcmp(p, key, klen) == 0 && p[klen] == '=') {
			snprintf(val, len, "%.*s", (int)(n - klen - 1),
			    p + klen + 1);
			return true;
		}
		p += n + (nl != NULL);
	}
	return false;
}

/* Every JSON line parses, whatever bytes clients sent, and access lines
 * carry their worker and all their fields. */
START_TEST(test_json_valid)
{
	static const char *const checker =
	    "import json,re,sys\n"
	    "acc=0\n"
	    "for l in open(sys.argv[1],encoding='utf-8',errors='strict'):\n"
	    "  assert l.endswith('\\n'),l\n"
	    "  o=json.loads(l)\n"
	    "  for k in ('ts','level','thread','tid','category'):\n"
	    "    assert k in o,(k,l)\n"
	    "  assert ('msg' in o)==(o['category'] not in "
	    "('access','slow')),l\n"
	    "  if o['category']!='access': continue\n"
	    "  acc+=1\n"
	    "  assert re.fullmatch(r'worker-[0-9]+',o['thread']),l\n"
	    "  for k in ('conn','peer','cmd','keys','result','us'):\n"
	    "    assert k in o,(k,l)\n"
	    "  for k in ('conn','keys','us'):\n"
	    "    assert type(o[k]) is int,(k,l)\n"
	    "assert acc>=int(sys.argv[2]),('access lines',acc)\n";
	/* Each ends the way memcached answers it. */
	static const struct {
		const char *req;
		size_t len;
		const char *reply;
	} reqs[] = {
#define R(s, r) {s, sizeof s - 1, r}
	    R("set k 0 0 1\r\nv\r\n", "STORED\r\n"),
	    R("get k\r\n", "END\r\n"),
	    R("get missing\r\n", "END\r\n"),
	    R("bogus\r\n", "ERROR\r\n"),
	    R("\x00\x01\x02\xff\xfe junk\r\n", "ERROR\r\n"),
	    R("get \xff\xfe\xc0\xafkey\x01\x7f\r\n", "END\r\n"),
	    R("get a\"b\\c\r\n", "END\r\n"),
	    R("set \xed\xa0\x80k 0 0 1\r\nv\r\n", "STORED\r\n"),
	    R("\xc3\x28\xe2\x82 k\r\n", "ERROR\r\n"),
	    R("\"q\\\"\t\x1b[31m\r\n", "ERROR\r\n"),
	    R("conn=5 msg=x ts=1\r\n", "ERROR\r\n"),
	    R("\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac"
	      "\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac"
	      "\xe2\x82\xac\xe2\x82\xac\r\n",
	        "ERROR\r\n"),
	    R("a\rb\r\n", "ERROR\r\n"),
#undef R
	};
	struct harness_server srv;
	char log[HARNESS_PATH_MAX], port[16], buf[BUFSZ], junk[4096];
	char nacc[16], *err;
	const char *args[] = {"-p", "0", "-t", "2", "--log-file", log,
	    "--log-format", "json", "--access-log", NULL};
	int fd, code;
	bool eof;

	harness_path(log, sizeof log, "srv.log");
	/* The harness waits for text lines; this log is JSON. */
	memset(&srv, 0, sizeof srv);
	srv.pid = harness_spawn("srv", args);
	ck_assert_msg(harness_file_wait_re(log,
	                  "\"msg\":\"listening on [^ \"]*:([0-9]+)\"", port,
	                  sizeof port, HARNESS_DEADLINE_MS),
	    "no listening line in %s", log);
	test_wait_log(log, "\"msg\":\"ready: ");
	srv.port = atoi(port);

	fd = harness_connect(srv.port);
	for (size_t i = 0; i < sizeof reqs / sizeof reqs[0]; i++) {
		harness_send(fd, reqs[i].req, reqs[i].len);
		harness_recv(fd, buf, sizeof buf, reqs[i].reply, 0,
		    HARNESS_DEADLINE_MS, &eof);
		ck_assert_msg(strstr(buf, reqs[i].reply) != NULL,
		    "request %zu: want %s, got '%s'%s", i, reqs[i].reply, buf,
		    eof ? " (EOF)" : "");
	}
	test_version(fd);
	harness_close(fd);
	/* Binary junk past the line limit: the server gives up on it. Not
	 * from 0x80, which begins a binary protocol request. */
	for (size_t i = 0; i < sizeof junk; i++)
		junk[i] = (char)(0x81 + i % 0x7f);
	fd = harness_connect(srv.port);
	harness_send(fd, junk, sizeof junk);
	harness_recv_all(fd, buf, sizeof buf, HARNESS_DEADLINE_MS, &eof);
	ck_assert_msg(eof, "connection with junk still open: '%s'", buf);
	harness_close(fd);
	ck_assert_int_eq(harness_server_stop(&srv), 0);

	{
		const char *py[] = {"-c",
		    "import json,sys; [json.loads(l) for l in "
		    "open(sys.argv[1])]",
		    log, NULL};

		code = harness_run_prog(PYTHON, "py", py);
		err = harness_output("py", "err");
		ck_assert_msg(code == 0, "json.loads failed (%d) on %s: %s",
		    code, log, err);
		free(err);
	}
	{
		/* One access line per request above, plus version. */
		const char *py[] = {"-c", checker, log, nacc, NULL};

		snprintf(
		    nacc, sizeof nacc, "%zu", sizeof reqs / sizeof reqs[0] + 1);
		code = harness_run_prog(PYTHON, "check", py);
		err = harness_output("check", "err");
		ck_assert_msg(
		    code == 0, "bad JSON access lines in %s: %s", log, err);
		free(err);
	}
}
END_TEST

/* --syslog: datagrams to the syslog socket (one in the test dir, so the
 * machine's syslogd does not matter) carry the ident and the thread name.
 */
START_TEST(test_syslog)
{
	char sock[HARNESS_PATH_MAX];
	/* -v: the info lines it waits for. */
	const char *args[] = {"-v", "--syslog", "--syslog-socket", sock, NULL};
	struct harness_server srv;
	struct dgram_sink sink;
	char want_peer[64], want_msg[128], text[4096], line[1024];
	char thread[32], *log;
	int local;

	harness_path(sock, sizeof sock, "syslog.sock");
	dgram_open(&sink, sock);
	harness_server_start(&srv, "srv", 2, args);
	local = test_short_conn(srv.port);

	/* The file names the worker; syslog must name the same one. */
	snprintf(
	    want_peer, sizeof want_peer, "peer=127.0.0.1:%d opened", local);
	test_wait_log(srv.log, want_peer);
	log = harness_file_read(srv.log);
	ck_assert(harness_line_with(log, want_peer, line, sizeof line));
	ck_assert(harness_line_field(line, 1, thread, sizeof thread));
	free(log);
	ck_assert_msg(
	    strncmp(thread, "worker-", 7) == 0, "opened by %s", thread);
	snprintf(want_msg, sizeof want_msg, "]: %s info conn=", thread);
	{
		char ident[64];
		const char *needles[] = {want_peer, want_msg, ident, NULL};

		/* LOG_DAEMON | LOG_INFO, then ident[pid]. */
		snprintf(
		    ident, sizeof ident, "threadlined[%d]: ", (int)srv.pid);
		ck_assert_msg(dgram_wait(&sink, needles, text, sizeof text),
		    "no syslog datagram with '%s', '%s' and '%s'", ident,
		    want_msg, want_peer);
		ck_assert_msg(strncmp(text, "<30>", 4) == 0,
		    "priority of an info line in daemon is not <30>: %s", text);
	}
	ck_assert_int_eq(harness_server_stop(&srv), 0);
	dgram_close(&sink);
	test_cleanup_run();
}
END_TEST

/* --journald: native-protocol datagrams with the thread and call site. */
START_TEST(test_journald)
{
	/* -v: the info lines it waits for. */
	const char *args[] = {"-v", "--journald", NULL};
	static const char *const dirs[] = {"/run/systemd", JOURNAL_DIR};
	struct harness_server srv;
	struct dgram_sink sink;
	char want_peer[64], msg[96], text[8192], val[256];
	pid_t tid;
	int local;

#ifndef TL_HAVE_SYSTEMD
	SKIP("journald: this build has no libsystemd");
#endif
	if (geteuid() != 0)
		SKIP("journald: not root, cannot bind %s", JOURNAL_SOCK);
	if (access(JOURNAL_SOCK, F_OK) == 0 || errno != ENOENT)
		SKIP("journald: %s exists; not taking over the journal",
		    JOURNAL_SOCK);
	for (size_t i = 0; i < sizeof dirs / sizeof dirs[0]; i++) {
		if (mkdir(dirs[i], 0755) == 0)
			test_cleanup_note('d', dirs[i]);
		else
			ck_assert_msg(errno == EEXIST, "mkdir %s: %s", dirs[i],
			    strerror(errno));
	}
	dgram_open(&sink, JOURNAL_SOCK);
	harness_server_start(&srv, "srv", 2, args);
	local = test_short_conn(srv.port);

	snprintf(
	    want_peer, sizeof want_peer, "peer=127.0.0.1:%d opened\n", local);
	{
		const char *needles[] = {"MESSAGE=conn=", want_peer, NULL};

		ck_assert_msg(dgram_wait(&sink, needles, text, sizeof text),
		    "no journal datagram with MESSAGE=conn=... %s", want_peer);
	}
	ck_assert_msg(journal_field(text, "THREAD_NAME", val, sizeof val),
	    "no THREAD_NAME in: %s", text);
	ck_assert_msg(strncmp(val, "worker-", 7) == 0, "THREAD_NAME=%s on: %s",
	    val, text);
	/* TID is the kernel's id of the thread named THREAD_NAME. */
	ck_assert_msg(harness_thread_named(srv.pid, val, &tid),
	    "no thread %s in the server", val);
	snprintf(msg, sizeof msg, "%d", (int)tid);
	ck_assert_msg(
	    journal_field(text, "TID", val, sizeof val), "no TID in: %s", text);
	ck_assert_str_eq(val, msg);
	ck_assert_msg(journal_field(text, "PRIORITY", val, sizeof val),
	    "no PRIORITY in: %s", text);
	ck_assert_str_eq(val, "6");
	ck_assert_msg(journal_field(text, "CODE_FILE", val, sizeof val) &&
	                  strstr(val, ".c") != NULL,
	    "no CODE_FILE in: %s", text);
	ck_assert_msg(
	    journal_field(text, "CODE_LINE", val, sizeof val) && atoi(val) > 0,
	    "no CODE_LINE in: %s", text);
	ck_assert_msg(
	    journal_field(text, "CODE_FUNC", val, sizeof val) && val[0] != '\0',
	    "no CODE_FUNC in: %s", text);
	ck_assert_msg(journal_field(text, "SYSLOG_IDENTIFIER", val, sizeof val),
	    "no SYSLOG_IDENTIFIER in: %s", text);
	ck_assert_str_eq(val, "threadlined");
	ck_assert_msg(
	    journal_field(text, "THREADLINE_CATEGORY", val, sizeof val),
	    "no THREADLINE_CATEGORY in: %s", text);
	ck_assert_str_eq(val, "general");
	/* The line's leading words are fields of their own. */
	ck_assert_msg(journal_field(text, "THREADLINE_CONN", val, sizeof val) &&
	                  atoi(val) > 0,
	    "no THREADLINE_CONN in: %s", text);
	snprintf(msg, sizeof msg, "127.0.0.1:%d", local);
	ck_assert_msg(journal_field(text, "THREADLINE_PEER", val, sizeof val),
	    "no THREADLINE_PEER in: %s", text);
	ck_assert_str_eq(val, msg);
	ck_assert_int_eq(harness_server_stop(&srv), 0);
	dgram_close(&sink);
	test_cleanup_run();
	ck_assert_int_eq(access(JOURNAL_SOCK, F_OK), -1);
}
END_TEST

/* A watcher's stream so far: "OK\r\n", then lines. */
struct watch_stream {
	int fd;
	char buf[BUFSZ];
	size_t len;
};

/* Start watching with filters; expect OK. */
static void
watch_open(struct watch_stream *w, int port, const char *filters)
{
	char req[128];

	w->fd = harness_connect(port);
	snprintf(
	    req, sizeof req, "watch%s%s\r\n", filters[0] ? " " : "", filters);
	/* Exactly the reply: log lines may follow it at once. */
	harness_sends(w->fd, req);
	harness_recv(
	    w->fd, w->buf, sizeof w->buf, NULL, 4, HARNESS_DEADLINE_MS, NULL);
	ck_assert_msg(
	    strcmp(w->buf, "OK\r\n") == 0, "%s: got '%s'", req, w->buf);
	w->len = 0;
	w->buf[0] = '\0';
}

/* Read what is there, for up to ms. */
static void
watch_read(struct watch_stream *w, int ms)
{
	ck_assert_msg(w->len + 1 < sizeof w->buf, "watch stream overflow");
	w->len += harness_recv(
	    w->fd, w->buf + w->len, sizeof w->buf - w->len, NULL, 0, ms, NULL);
}

/* Read until the stream holds needle n times. */
static void
watch_wait(struct watch_stream *w, const char *needle, size_t n)
{
	long long deadline = harness_now_ms() + HARNESS_DEADLINE_MS;

	while (harness_count(w->buf, needle) < n) {
		ck_assert_msg(harness_now_ms() < deadline,
		    "watch stream has '%s' %zu times, not %zu: %s", needle,
		    harness_count(w->buf, needle), n, w->buf);
		watch_read(w, HARNESS_POLL_MS);
	}
}

/* Every whole line of the stream has field i equal to want (or, when
 * prefix, starting with it); how many lines there are. */
static size_t
watch_check_field(
    const struct watch_stream *w, int i, const char *want, bool prefix)
{
	const char *p = w->buf, *nl;
	size_t n = 0;

	while ((nl = strchr(p, '\n')) != NULL) {
		char line[2048], f[64];

		snprintf(line, sizeof line, "%.*s", (int)(nl - p), p);
		ck_assert_msg(harness_line_field(line, i, f, sizeof f),
		    "malformed watch line: %s", line);
		ck_assert_msg(prefix ? strncmp(f, want, strlen(want)) == 0
		                     : strcmp(f, want) == 0,
		    "watch line with field %d '%s', not '%s': %s", i, f, want,
		    line);
		n++;
		p = nl + 1;
	}
	return n;
}

/* Several watchers at once, each seeing only what its filters select. */
START_TEST(test_watch_filters)
{
	/* -v: the info lines it waits for. */
	const char *args[] = {"-v", "--access-log", NULL};
	static struct watch_stream a, b, c;
	struct harness_server srv;
	const char *p, *nl;
	int nconns = 6;

	harness_server_start(&srv, "srv", 2, args);
	watch_open(&a, srv.port, "thread=worker-0");
	watch_open(&b, srv.port, "category=access level=info");
	watch_open(&c, srv.port, "thread=accept");
	for (int i = 0; i < nconns; i++)
		test_short_conn(srv.port);
	/* Round robin: half of the connections land on worker-0. */
	watch_wait(&a, "closed by client", (size_t)nconns / 2);
	watch_wait(&b, "cmd=version", (size_t)nconns);
	watch_wait(&c, "accepted, handing to", (size_t)nconns);
	ck_assert_uint_ge(watch_check_field(&a, 1, "worker-0", false), 3);
	ck_assert_uint_ge(watch_check_field(&b, 1, "worker-", true), 6);
	ck_assert_uint_ge(watch_check_field(&b, 2, "info", false), 6);
	/* Field 3 is the message: access lines have "access " before it. */
	for (p = b.buf; (nl = strchr(p, '\n')) != NULL; p = nl + 1) {
		char line[2048], f[64];

		snprintf(line, sizeof line, "%.*s", (int)(nl - p), p);
		ck_assert(harness_line_field(line, 3, f, sizeof f));
		ck_assert_msg(strncmp(f, "access conn=", 12) == 0,
		    "not an access line on the access watcher: %s", line);
	}
	ck_assert_msg(strstr(b.buf, " worker-0 info access ") != NULL &&
	                  strstr(b.buf, " worker-1 info access ") != NULL,
	    "access watcher did not see both workers: %s", b.buf);
	ck_assert_uint_ge(watch_check_field(&c, 1, "accept", false), 6);
	ck_assert_int_eq(harness_server_stop(&srv), 0);
}
END_TEST

/* Send n pipelined "version" commands and read all n replies. */
static void
test_versions(int fd, int n)
{
	static char req[1000 * 9], buf[1000 * 16 + 1];
	size_t got = 0, want;

	ck_assert_int_le(n, 1000);
	for (int i = 0; i < n; i++)
		memcpy(req + i * 9, "version\r\n", 9);
	harness_send(fd, req, (size_t)n * 9);
	want = (size_t)n * strlen("VERSION " TL_WIRE_VERSION "\r\n");
	while (got < want) {
		size_t r = harness_recv(fd, buf, sizeof buf, NULL, want - got,
		    HARNESS_DEADLINE_MS, NULL);

		ck_assert_msg(
		    r > 0, "replies stopped after %zu of %zu bytes", got, want);
		got += r;
	}
}

/* A watcher that stops reading costs bounded memory, never stalls other
 * clients, and learns how many lines it missed. */
START_TEST(test_stalled_watcher)
{
	const char *args[] = {"--access-log", NULL};
	static char buf[BUFSZ + 256];
	struct harness_server srv;
	char reply[16];
	long before, after;
	long long deadline;
	int w, fd, batches = 100;
	size_t keep = 0;
	bool found = false;

	harness_server_start(&srv, "srv", 2, args);
	w = harness_connect_rcvbuf(srv.port, 4096);
	harness_sends(w, "watch level=debug\r\n");
	/* Exactly the reply: log lines may follow it at once. */
	harness_recv(
	    w, reply, sizeof reply, NULL, 4, HARNESS_DEADLINE_MS, NULL);
	ck_assert_str_eq(reply, "OK\r\n");
	fd = harness_connect(srv.port);
	test_version(fd);
	before = test_rss_kb(srv.pid);
	/* 100k access lines of ~100 bytes: far beyond what the watcher's
	 * 256 KiB, its output buffer and both socket buffers hold. */
	for (int i = 0; i < batches; i++) {
		test_versions(fd, 1000);
		test_version(fd);
	}
	/* How much reaches the watcher depends on how many lines the logger
	 * kept up with (a slow machine drops some at the rings): go on
	 * until the server says it skipped lines for the watcher. */
	for (deadline = harness_now_ms() + HARNESS_DEADLINE_MS * 3;;) {
		static char stats[16384];
		const char *p;

		harness_cmd(
		    fd, "stats threads\r\n", "END\r\n", stats, sizeof stats);
		p = strstr(stats, "STAT logger:watch_skipped ");
		ck_assert_msg(p != NULL, "no watch_skipped in stats threads");
		if (atoll(p + strlen("STAT logger:watch_skipped ")) > 0)
			break;
		ck_assert_msg(harness_now_ms() < deadline,
		    "the stalled watcher never overflowed");
		test_versions(fd, 1000);
	}
	after = test_rss_kb(srv.pid);
	ck_assert_msg(after - before < 64 * 1024,
	    "RSS grew from %ld kB to %ld kB with a stalled watcher", before,
	    after);

	/* Now read; the marker comes with the first line after the backlog
	 * drained, so keep producing lines. */
	deadline = harness_now_ms() + HARNESS_DEADLINE_MS * 3;
	while (!found && harness_now_ms() < deadline) {
		size_t n = harness_recv(
		    w, buf + keep, sizeof buf - keep, NULL, 0, 50, NULL);

		found = strstr(buf, MARKER) != NULL;
		if (n == 0)
			test_version(fd);
		/* Keep a tail so a marker split across reads is found. */
		keep += n;
		if (!found && keep > 512) {
			memmove(buf, buf + keep - 512, 512);
			keep = 512;
			buf[keep] = '\0';
		}
	}
	ck_assert_msg(found, "no '%s' in the stalled watcher's stream", MARKER);
	{
		char line[512], re[] = "logger warn watch: ([0-9]+) " MARKER;
		regex_t rx;
		regmatch_t m[2];
		const char *p = strstr(buf, MARKER);

		while (p > buf && p[-1] != '\n')
			p--;
		snprintf(line, sizeof line, "%.*s", (int)strcspn(p, "\n"), p);
		ck_assert(regcomp(&rx, re, REG_EXTENDED) == 0);
		ck_assert_msg(regexec(&rx, line, 2, m, 0) == 0,
		    "bad marker line: %s", line);
		regfree(&rx);
		ck_assert_msg(atoll(line + m[1].rm_so) > 0, "marker: %s", line);
	}
	test_version(fd);
	harness_close(w);
	ck_assert_int_eq(harness_server_stop(&srv), 0);
}
END_TEST

/* --log-file /dev/full: requests are served, failures counted, said once. */
START_TEST(test_dev_full)
{
	/* -v: each short connection's info lines are more failing writes. */
	const char *args[] = {
	    "-v", "-p", "0", "-t", "2", "--log-file", "/dev/full", NULL};
	struct harness_server srv;
	long long deadline, failed;
	char buf[256], *err;
	int fd;

	test_server_spawn(&srv, "srv", args);
	fd = harness_connect(srv.port);
	harness_cmd(fd, "set k 0 0 2\r\nhi\r\n", "\r\n", buf, sizeof buf);
	ck_assert_str_eq(buf, "STORED\r\n");
	harness_cmd(fd, "get k\r\n", "END\r\n", buf, sizeof buf);
	ck_assert_str_eq(buf, "VALUE k 0 2\r\nhi\r\nEND\r\n");
	deadline = harness_now_ms() + HARNESS_DEADLINE_MS;
	while ((failed = test_thread_stat(fd, "logger:lines_failed")) <= 0) {
		ck_assert_msg(harness_now_ms() < deadline,
		    "logger:lines_failed still %lld", failed);
		harness_nap();
	}
	/* More failing writes after the first: still one message. */
	for (int i = 0; i < 20; i++)
		test_short_conn(srv.port);
	deadline = harness_now_ms() + HARNESS_DEADLINE_MS;
	while (test_thread_stat(fd, "logger:lines_failed") <= failed) {
		ck_assert_msg(harness_now_ms() < deadline,
		    "logger:lines_failed stuck at %lld", failed);
		harness_nap();
	}
	test_version(fd);
	harness_close(fd);
	ck_assert_int_eq(harness_server_stop(&srv), 0);
	err = harness_output("srv", "err");
	ck_assert_msg(harness_count(err, ": writing failed: ") == 1,
	    "'writing failed' %zu times on stderr: %s",
	    harness_count(err, ": writing failed: "), err);
	free(err);
}
END_TEST

/* Poll "stats" until curr_connections is n. */
static void
test_wait_conns(int fd, int n)
{
	long long deadline = harness_now_ms() + HARNESS_DEADLINE_MS;
	char buf[BUFSZ], val[32];

	for (;;) {
		harness_cmd(fd, "stats\r\n", "END\r\n", buf, sizeof buf);
		ck_assert(
		    harness_stat(buf, "curr_connections", val, sizeof val));
		if (atoi(val) == n)
			return;
		ck_assert_msg(harness_now_ms() < deadline,
		    "curr_connections %s, not %d", val, n);
		harness_nap();
	}
}

/* "verbosity LEVEL THREAD" changes one worker only; "verbosity LEVEL"
 * resets them all. */
START_TEST(test_per_thread_verbosity)
{
	struct harness_server srv;
	char buf[256], w[2][32], needle[128], *log;
	int ctl, conn[2], fd[2], late;
	size_t debug_lines;

	/* -v: the info lines it waits for. */
	harness_server_start(&srv, "srv", 2, (const char *const[]){"-v", NULL});
	ctl = harness_connect(srv.port);
	harness_cmd(
	    ctl, "verbosity debug worker-1\r\n", "\r\n", buf, sizeof buf);
	ck_assert_str_eq(buf, "OK\r\n");
	test_wait_log(srv.log, " log level of worker-1 set to debug");
	for (int i = 0; i < 2; i++) {
		conn[i] = harness_connect(srv.port);
		test_worker_of(conn[i], w[i], sizeof w[i]);
		fd[i] = test_conn_fd(srv.log, harness_local_port(conn[i]));
	}
	ck_assert_msg(strcmp(w[0], w[1]) != 0, "both connections on %s", w[0]);
	/* Worker-0's request first: its lines are queued before
	 * worker-1's, so once those are in the file, so are these. */
	if (strcmp(w[0], "worker-0") != 0) {
		int t = conn[0];

		conn[0] = conn[1];
		conn[1] = t;
		t = fd[0];
		fd[0] = fd[1];
		fd[1] = t;
	}
	test_version(conn[0]);
	test_version(conn[1]);
	/* stats and version: two commands, each read parsed then done. */
	snprintf(needle, sizeof needle,
	    " worker-1 debug conn=%d conn_parse_cmd -> conn_waiting", fd[1]);
	log = NULL;
	{
		long long deadline = harness_now_ms() + HARNESS_DEADLINE_MS;

		while (harness_count_in(srv.log, needle) < 2) {
			ck_assert_msg(harness_now_ms() < deadline,
			    "'%s' not twice in %s", needle, srv.log);
			harness_nap();
		}
	}
	log = harness_file_read(srv.log);
	ck_assert_msg(strstr(log, " worker-0 debug ") == NULL,
	    "worker-0 logs debug lines though only worker-1 was set");
	snprintf(needle, sizeof needle,
	    " worker-1 debug conn=%d conn_waiting -> ", fd[1]);
	ck_assert_msg(strstr(log, needle) != NULL, "no '%s'", needle);
	debug_lines = harness_count(log, " debug ");
	free(log);

	harness_cmd(ctl, "verbosity warn\r\n", "\r\n", buf, sizeof buf);
	ck_assert_str_eq(buf, "OK\r\n");
	/* At warn, neither debug from worker-1 nor info anywhere. */
	test_version(conn[0]);
	test_version(conn[1]);
	late = test_short_conn(srv.port);
	/* Its close must be handled at warn too, before the level goes
	 * back up: wait until the server counts it gone. */
	test_wait_conns(ctl, 3);
	/* A notice at info marks the end of the quiet stretch. */
	harness_cmd(ctl, "verbosity info\r\n", "\r\n", buf, sizeof buf);
	ck_assert_str_eq(buf, "OK\r\n");
	test_wait_log(srv.log, " log level set to info");
	log = harness_file_read(srv.log);
	ck_assert_msg(harness_count(log, " debug ") == debug_lines,
	    "debug lines went on after 'verbosity warn': %zu, then %zu",
	    debug_lines, harness_count(log, " debug "));
	snprintf(needle, sizeof needle, "peer=127.0.0.1:%d ", late);
	ck_assert_msg(strstr(log, needle) == NULL,
	    "info lines about a connection made after 'verbosity warn' (%s): "
	    "%s",
	    needle, strstr(log, needle));
	free(log);
	ck_assert_int_eq(harness_server_stop(&srv), 0);
}
END_TEST

/* Run threadline -p PORT args; its exit code, output in DIR/tag.out. */
static int
test_client(const char *tag, int port, const char *const args[])
{
	const char *argv[16] = {"-p"};
	char p[16];
	int n = 2;

	snprintf(p, sizeof p, "%d", port);
	argv[1] = p;
	for (int i = 0; args[i] != NULL && n < 15; i++)
		argv[n++] = args[i];
	argv[n] = NULL;
	return harness_run_prog(harness_client_bin(), tag, argv);
}

/* threadline: exit codes and output of each command. */
START_TEST(test_client_commands)
{
	static const struct {
		const char *tag;
		const char *args[5];
		int code;
		const char *out; /* in its stdout, if not NULL */
	} cases[] = {
	    {"ping", {"ping"}, 0, "answered"},
	    {"stats", {"stats"}, 0, "thread worker-"},
	    {"threads", {"threads"}, 0, "THREAD"},
	    {"set", {"set", "k", "v"}, 0, NULL},
	    {"get", {"get", "k"}, 0, NULL},
	    {"miss", {"get", "missing"}, 1, NULL},
	    {"verb", {"verbosity", "info", "worker-0"}, 0, NULL},
	    {"nosuch", {"verbosity", "info", "nosuch"}, 1, NULL},
	};
	struct harness_server srv;
	char *out, *err;
	pid_t watch;
	int code, port, sock;
	long long deadline;

	harness_server_start(&srv, "srv", 2, NULL);
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		code = test_client(cases[i].tag, srv.port, cases[i].args);
		out = harness_output(cases[i].tag, "out");
		err = harness_output(cases[i].tag, "err");
		ck_assert_msg(code == cases[i].code,
		    "threadline %s: exit %d, want %d; out '%s' err '%s'",
		    cases[i].tag, code, cases[i].code, out, err);
		ck_assert_msg(
		    cases[i].out == NULL || strstr(out, cases[i].out) != NULL,
		    "threadline %s: no '%s' in '%s'", cases[i].tag,
		    cases[i].out, out);
		free(out);
		free(err);
	}
	/* The value's bytes alone: a newline only on a terminal. */
	out = harness_output("get", "out");
	ck_assert_str_eq(out, "v");
	free(out);
	/* threads: a header, then a row per thread. */
	out = harness_output("threads", "out");
	ck_assert_msg(strncmp(out, "THREAD ", 7) == 0, "threads: %s", out);
	ck_assert_msg(strstr(out, "\nmaint ") && strstr(out, "\naccept ") &&
	                  strstr(out, "\nworker-0 ") &&
	                  strstr(out, "\nworker-1 "),
	    "threads lacks a row: %s", out);
	free(out);
	out = harness_output("nosuch", "err");
	ck_assert_msg(strstr(out, "no such thread or role") != NULL,
	    "verbosity nosuch says: %s", out);
	free(out);

	/* A port nobody listens on: bound, never listening, so not reused. */
	sock = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	{
		struct sockaddr_in sin = {.sin_family = AF_INET,
		    .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};

		ck_assert(bind(sock, (struct sockaddr *)&sin, sizeof sin) == 0);
	}
	port = harness_local_port(sock);
	{
		const char *a[] = {"ping", NULL};

		code = test_client("refused", port, a);
		ck_assert_int_eq(code, 3);
	}
	close(sock);
	{
		const char *a[] = {NULL}, *b[] = {"bogus", NULL},
		           *c[] = {"get", NULL};

		ck_assert_int_eq(test_client("usage0", srv.port, a), 2);
		ck_assert_int_eq(test_client("usage1", srv.port, b), 2);
		ck_assert_int_eq(test_client("usage2", srv.port, c), 2);
	}

	{
		char p[16];
		const char *a[] = {"-p", p, "watch", NULL};
		char path[HARNESS_PATH_MAX];

		snprintf(p, sizeof p, "%d", srv.port);
		watch = harness_spawn_prog(harness_client_bin(), "watch", a);
		harness_path(path, sizeof path, "watch.out");
		/* Lines only flow once it watches: keep making some. */
		deadline = harness_now_ms() + HARNESS_DEADLINE_MS;
		while (!harness_file_wait(path, " worker-", 0)) {
			ck_assert_msg(harness_now_ms() < deadline,
			    "threadline watch printed no worker line");
			test_short_conn(srv.port);
			harness_file_wait(path, " worker-", 50);
		}
		ck_assert_int_eq(kill(watch, SIGTERM), 0);
		ck_assert_int_ne(harness_wait(watch, HARNESS_DEADLINE_MS), -1);
	}
	ck_assert_int_eq(harness_server_stop(&srv), 0);
}
END_TEST

/* The log rotation test's client: sets in its own thread, gated so each
 * rotation happens with commands in flight. */
#define ROT_FILES    5
#define ROT_PER_STEP 600
#define ROT_CMDS     (ROT_PER_STEP * (ROT_FILES + 1))
struct hammer {
	int fd;
	atomic_int done;
	atomic_int rotated;
	char error[256];
};

/* Send ROT_CMDS sets one by one, each with its own key. */
static void *
hammer_main(void *arg)
{
	struct hammer *h = arg;
	long long deadline;
	char req[64], buf[64];

	for (int i = 0; i < ROT_CMDS; i++) {
		size_t len = 0;

		deadline = harness_now_ms() + HARNESS_DEADLINE_MS;
		/* Run at most one step ahead of the rotations. */
		while (i >= (atomic_load(&h->rotated) + 1) * ROT_PER_STEP &&
		       atomic_load(&h->rotated) < ROT_FILES) {
			if (harness_now_ms() > deadline) {
				snprintf(h->error, sizeof h->error,
				    "no rotation at command %d", i);
				return NULL;
			}
			harness_nap();
		}
		snprintf(req, sizeof req, "set k%d 0 0 1\r\nx\r\n", i);
		if (send(h->fd, req, strlen(req), MSG_NOSIGNAL) !=
		    (ssize_t)strlen(req)) {
			snprintf(h->error, sizeof h->error, "send %d: %s", i,
			    strerror(errno));
			return NULL;
		}
		while (len < 8) {
			struct pollfd pfd = {.fd = h->fd, .events = POLLIN};
			ssize_t n;

			if (poll(&pfd, 1, HARNESS_DEADLINE_MS) <= 0 ||
			    (n = recv(h->fd, buf + len, 8 - len, 0)) <= 0) {
				snprintf(h->error, sizeof h->error,
				    "no reply to set %d", i);
				return NULL;
			}
			len += (size_t)n;
		}
		if (memcmp(buf, "STORED\r\n", 8) != 0) {
			snprintf(h->error, sizeof h->error, "set %d: '%.8s'", i,
			    buf);
			return NULL;
		}
		atomic_store(&h->done, i + 1);
	}
	return NULL;
}

/* Rename and signal five times under load: no access line is lost or
 * written twice, and every file holds whole lines. */
START_TEST(test_logrotate)
{
	const char *args[] = {"--access-log", NULL};
	struct harness_server srv;
	static struct hammer h;
	char old[HARNESS_PATH_MAX], name[64], bad[512];
	size_t total = 0;
	pthread_t th;

	harness_server_start(&srv, "srv", 2, args);
	h.fd = harness_connect(srv.port);
	ck_assert(pthread_create(&th, NULL, hammer_main, &h) == 0);
	for (int k = 0; k < ROT_FILES; k++) {
		long long deadline = harness_now_ms() + HARNESS_DEADLINE_MS;

		/* Mid-step: commands before and after the rename. */
		while (atomic_load(&h.done) <
		           k * ROT_PER_STEP + ROT_PER_STEP / 2 &&
		       h.error[0] == '\0') {
			ck_assert_msg(harness_now_ms() < deadline,
			    "client stuck at %d", atomic_load(&h.done));
			harness_nap();
		}
		ck_assert_msg(h.error[0] == '\0', "client: %s", h.error);
		snprintf(name, sizeof name, "srv.log.%d", k);
		harness_path(old, sizeof old, name);
		ck_assert_msg(
		    rename(srv.log, old) == 0, "rename: %s", strerror(errno));
		ck_assert_int_eq(kill(srv.pid, SIGHUP), 0);
		atomic_store(&h.rotated, k + 1);
		test_wait_log(srv.log, "reopened log file");
	}
	pthread_join(th, NULL);
	ck_assert_msg(h.error[0] == '\0', "client: %s", h.error);
	ck_assert_int_eq(atomic_load(&h.done), ROT_CMDS);
	harness_close(h.fd);
	ck_assert_int_eq(harness_server_stop(&srv), 0);

	for (int k = 0; k <= ROT_FILES; k++) {
		char *text;
		size_t n;

		if (k < ROT_FILES) {
			snprintf(name, sizeof name, "srv.log.%d", k);
			harness_path(old, sizeof old, name);
		} else
			snprintf(old, sizeof old, "%s", srv.log);
		text = harness_file_read(old);
		ck_assert_msg(text != NULL, "%s is gone", old);
		ck_assert_msg(test_whole_lines(text, bad, sizeof bad),
		    "%s: not a whole log line: %s", old, bad);
		n = harness_count(text, " info access conn=");
		ck_assert_uint_eq(
		    n, harness_count(text, " cmd=set keys=1 key="));
		ck_assert_uint_eq(n, harness_count(text, " result=stored "));
		/* Every file but the first starts with the reopen. */
		ck_assert_msg(k == 0 || strstr(text, "reopened log file"),
		    "%s lacks the reopen line", old);
		total += n;
		free(text);
	}
	ck_assert_msg(total == ROT_CMDS,
	    "%zu access lines across the rotated files, want %d", total,
	    ROT_CMDS);
}
END_TEST

/* Run every test; exit status 1 if any failed. */
int
main(void)
{
	const TTest *tests[] = {test_json_valid, test_syslog, test_journald,
	    test_watch_filters, test_stalled_watcher, test_dev_full,
	    test_per_thread_verbosity, test_client_commands, test_logrotate,
	    NULL};

	return harness_run_suite(&(struct harness_suite){.name = "logging",
	                             .tcase_teardown = test_tcase_teardown,
	                             .timeout = 60},
	    tests);
}
