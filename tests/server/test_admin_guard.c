/* The admin port cannot be turned against the server: off unless asked
 * for, Host names checked, connections bounded and given a deadline for
 * their headers, accept paused out of descriptors, quiet log streams kept
 * alive and closed when their client goes, and (under TSan) no race
 * between its descriptors and the memcached port's. */
#include <check.h>
#include <dirent.h>
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"

#define RESP_MAX (64 * 1024)
/* Log streams the admin thread serves at once (admin.c). */
#define STREAMS 16
/* The server's deadline for a request's headers, and the keep-alive
 * interval of a log stream, both in seconds (admin_guard.h, admin.c). */
#define HEADERS_S   5
#define KEEPALIVE_S 3

static struct harness_server srv;
static char resp[RESP_MAX];

/* Start a server with these lines as its config file, with 2 workers. */
static void
start_with(const char *conf_text, const char *const extra[])
{
	char conf[HARNESS_PATH_MAX];
	const char *args[16] = {"--config", conf};
	int n = 2;

	harness_path(conf, sizeof conf, "srv.conf");
	harness_file_write(conf, conf_text);
	for (int i = 0; extra != NULL && extra[i] != NULL && n < 15; i++)
		args[n++] = extra[i];
	args[n] = NULL;
	harness_server_start(&srv, "srv", 2, args);
}

/* GET path with this Host line (NULL: none, as HTTP/1.0) on a connection
 * of its own; the status code, the response in resp. */
static int
get(int port, const char *path, const char *host)
{
	char req[512], hostline[300] = "";
	int fd, code = 0;
	bool eof;

	if (host != NULL)
		snprintf(hostline, sizeof hostline, "Host: %s\r\n", host);
	snprintf(req, sizeof req,
	    "GET %s HTTP/%s\r\n%sConnection: close\r\n\r\n", path,
	    host != NULL ? "1.1" : "1.0", hostline);
	fd = harness_connect(port);
	harness_sends(fd, req);
	harness_recv_all(fd, resp, sizeof resp, HARNESS_DEADLINE_MS, &eof);
	harness_close(fd);
	ck_assert_msg(sscanf(resp, "HTTP/1.%*d %d ", &code) == 1,
	    "GET %s (Host %s): no status line: '%s'", path,
	    host != NULL ? host : "none", resp);
	return code;
}

/* A STAT of the server's "stats", as a number. */
static long long
stat_of(const char *key)
{
	char reply[16384], val[64];
	int fd = harness_connect(srv.port);

	harness_cmd(fd, "stats\r\n", "END\r\n", reply, sizeof reply);
	harness_close(fd);
	ck_assert_msg(
	    harness_stat(reply, key, val, sizeof val), "no STAT %s", key);
	return atoll(val);
}

/* Wait until STAT key is want. */
static void
stat_wait(const char *key, long long want)
{
	long long deadline = harness_now_ms() + HARNESS_DEADLINE_MS, v;

	while ((v = stat_of(key)) != want) {
		ck_assert_msg(harness_now_ms() < deadline,
		    "STAT %s stays %lld, want %lld", key, v, want);
		harness_nap();
	}
}

/* How many TCP sockets pid listens on, IPv4 and IPv6: its socket inodes
 * in /proc/PID/fd, found in /proc/PID/net/tcp*. */
static int
listening_sockets(pid_t pid)
{
	static const char *const tables[] = {"tcp", "tcp6"};
	unsigned long inodes[512], inode;
	char path[64], link[64], line[512];
	struct dirent *de;
	size_t n = 0;
	int count = 0;
	DIR *d;

	snprintf(path, sizeof path, "/proc/%d/fd", (int)pid);
	ck_assert_ptr_nonnull(d = opendir(path));
	while ((de = readdir(d)) != NULL && n < 512) {
		char fdpath[320];
		ssize_t len;

		snprintf(fdpath, sizeof fdpath, "%s/%s", path, de->d_name);
		if ((len = readlink(fdpath, link, sizeof link - 1)) <= 0)
			continue;
		link[len] = '\0';
		if (sscanf(link, "socket:[%lu]", &inode) == 1)
			inodes[n++] = inode;
	}
	closedir(d);
	for (size_t t = 0; t < 2; t++) {
		unsigned state;
		FILE *f;

		snprintf(
		    path, sizeof path, "/proc/%d/net/%s", (int)pid, tables[t]);
		ck_assert_ptr_nonnull(f = fopen(path, "r"));
		while (fgets(line, sizeof line, f) != NULL) {
			if (sscanf(line,
			        " %*d: %*[0-9A-Fa-f]:%*x %*[0-9A-Fa-f]:%*x %x "
			        "%*x:%*x %*x:%*x %*x %*u %*d %lu",
			        &state, &inode) != 2 ||
			    state != 0x0a)
				continue;
			for (size_t i = 0; i < n; i++)
				count += inodes[i] == inode;
		}
		fclose(f);
	}
	return count;
}

/* A memcached command line alone (Debian's systemd wrapper's, no config
 * file) opens the memcached port and nothing else: no admin thread. */
START_TEST(test_memcached_line_no_admin)
{
	char log[HARNESS_PATH_MAX];
	const char *args[] = {"-p", "0", "-U", "0", "-m", "64", "-c", "1024",
	    "-t", "2", "--log-file", log, geteuid() == 0 ? "-u" : NULL, "root",
	    NULL};
	pid_t tid;

	harness_path(log, sizeof log, "srv.log");
	harness_server_attach(
	    &srv, harness_spawn_prog(getenv("THREADLINED"), "srv", args), log);
	ck_assert(harness_file_wait(log, " ready: ", HARNESS_DEADLINE_MS));
	harness_serves(srv.port, 0);
	ck_assert_int_eq(listening_sockets(srv.pid), 1);
	ck_assert_msg(!harness_thread_named(srv.pid, "admin", &tid),
	    "an admin thread runs without [admin] listen");
	ck_assert_uint_eq(harness_count_in(log, "admin HTTP"), 0);
}
END_TEST

/* Host names: loopback ones, the listen address and [admin] allow_hosts
 * are served, with or without a port; others get 421 and a log line, on
 * every page; no Host at all (HTTP/1.0) is served. */
START_TEST(test_host_check)
{
	static const char *const good[] = {"127.0.0.1", "127.0.0.1:80",
	    "127.8.9.10", "localhost", "LOCALHOST:11312", "dash.localhost",
	    "[::1]", "[::1]:11312", "cache.internal", "Cache.Internal:8080",
	    "other", NULL};
	static const char *const bad[] = {"evil.example", "evil.example:11312",
	    "localhost.evil.example", "127.0.0.1.nip.io", "[::2]", "10.0.0.1",
	    "", "cache.internal.evil", NULL};
	/* -v: the refusal is an info line. */
	static const char *const verbose[] = {"-v", NULL};
	char host[64];
	int port;

	start_with("[admin]\nallow_hosts = cache.internal, other\n", verbose);
	port = harness_admin_port(&srv);
	ck_assert_int_eq(get(port, "/status", "evil.example"), 421);
	ck_assert_ptr_nonnull(strstr(resp, "Misdirected Request"));
	ck_assert_ptr_null(strstr(resp, "\"settings\""));
	ck_assert_int_eq(get(port, "/logs?level=info", "evil.example"), 421);
	ck_assert_ptr_null(strstr(resp, "text/event-stream"));
	ck_assert(harness_file_wait(srv.log,
	    "admin: refused Host 'evil.example'", HARNESS_DEADLINE_MS));
	for (int i = 0; bad[i] != NULL; i++)
		ck_assert_msg(get(port, "/threads", bad[i]) == 421,
		    "Host '%s' served: %s", bad[i], resp);
	for (int i = 0; good[i] != NULL; i++)
		ck_assert_msg(get(port, "/threads", good[i]) == 200,
		    "Host '%s' refused: %s", good[i], resp);
	snprintf(host, sizeof host, "127.0.0.1:%d", port);
	ck_assert_int_eq(get(port, "/status", host), 200);
	ck_assert_int_eq(get(port, "/status", NULL), 200);
	ck_assert_int_eq(stat_of("admin_refused_hosts"), 10);
	ck_assert_int_eq(get(port, "/threads", "localhost"), 200);
	ck_assert_ptr_nonnull(strstr(resp, "\"refused_hosts\":10"));
}
END_TEST

/* At [admin] max_connections the admin port accepts no more: the next
 * client waits in the backlog and is served once one closes; stats count
 * them. */
START_TEST(test_connection_limit)
{
	enum { LIMIT = 4 };
	int fds[LIMIT], extra, port;
	bool eof;

	start_with("[admin]\nmax_connections = 4\n", NULL);
	port = harness_admin_port(&srv);
	ck_assert_int_eq(stat_of("admin_curr_connections"), 0);
	for (int i = 0; i < LIMIT; i++)
		fds[i] = harness_connect(port);
	stat_wait("admin_curr_connections", LIMIT);
	extra = harness_connect(port); /* the kernel's backlog takes it */
	harness_sends(extra,
	    "GET /status HTTP/1.1\r\nHost: localhost\r\nConnection: close"
	    "\r\n\r\n");
	ck_assert_uint_eq(
	    harness_recv(extra, resp, sizeof resp, NULL, 0, 300, &eof), 0);
	ck_assert_int_eq(stat_of("admin_total_connections"), LIMIT);
	ck_assert_int_ge(stat_of("admin_listen_disabled_num"), 1);
	harness_close(fds[0]);
	harness_recv_all(extra, resp, sizeof resp, HARNESS_DEADLINE_MS, &eof);
	ck_assert_msg(strncmp(resp, "HTTP/1.1 200 ", 13) == 0,
	    "the waiting client: '%s'", resp);
	harness_close(extra);
	for (int i = 1; i < LIMIT; i++)
		harness_close(fds[i]);
	stat_wait("admin_curr_connections", 0);
	ck_assert_int_eq(stat_of("admin_total_connections"), LIMIT + 1);
}
END_TEST

/* A slowloris: dozens of admin connections sending one header byte a
 * second. The deadline for their headers closes every one, however the
 * bytes trickle; meanwhile the memcached port answers at once. */
START_TEST(test_slowloris)
{
	enum { CONNS = 40 };
	static const char slow[] =
	    "GET /status HTTP/1.1\r\nHost: localhost\r\n"
	    "X-Padding: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n";
	int fds[CONNS], open_conns = CONNS, port, mc;
	long long start, closed_at = 0, worst_ms = 0, last_byte = 0;
	size_t sent = 0;
	char reply[256];

	start_with("[admin]\nmax_connections = 64\n", NULL);
	port = harness_admin_port(&srv);
	mc = harness_connect(srv.port);
	start = harness_now_ms();
	for (int i = 0; i < CONNS; i++)
		fds[i] = harness_connect(port);
	while (open_conns > 0) {
		long long t = harness_now_ms();

		ck_assert_msg(t - start < (HEADERS_S + 3) * 1000,
		    "%d slow connections still open after %lld ms", open_conns,
		    t - start);
		if (t - last_byte >= 1000 && sent < sizeof slow - 1) {
			for (int i = 0; i < CONNS; i++)
				if (fds[i] != -1)
					send(fds[i], slow + sent, 1,
					    MSG_NOSIGNAL | MSG_DONTWAIT);
			sent++;
			last_byte = t;
		}
		for (int i = 0; i < CONNS; i++) {
			char c;
			ssize_t n;

			if (fds[i] == -1)
				continue;
			n = recv(fds[i], &c, 1, MSG_DONTWAIT);
			if (n == 0 || (n == -1 && errno != EAGAIN)) {
				close(fds[i]);
				fds[i] = -1;
				open_conns--;
			} else
				ck_assert_msg(
				    n == -1, "a slow client got a reply");
		}
		t = harness_now_ms();
		harness_cmd(mc, "version\r\n", "\r\n", reply, sizeof reply);
		ck_assert_msg(
		    strncmp(reply, "VERSION ", 8) == 0, "version: %s", reply);
		if (harness_now_ms() - t > worst_ms)
			worst_ms = harness_now_ms() - t;
		harness_nap();
	}
	closed_at = harness_now_ms() - start;
	harness_close(mc);
	printf("slowloris: %d connections, 1 byte/s: all closed after %lld ms; "
	       "slowest memcached version reply %lld ms\n",
	    CONNS, closed_at, worst_ms);
	ck_assert_int_ge(closed_at, (HEADERS_S - 1) * 1000);
	ck_assert_int_lt(worst_ms, 500);
	ck_assert_int_eq(stat_of("admin_header_timeouts"), CONNS);
	ck_assert_int_eq(get(port, "/status", "localhost"), 200);
}
END_TEST

/* Open GET /logs with a filter; its headers read. */
static int
open_stream(int port, const char *filter)
{
	char req[256], buf[1024];
	int fd = harness_connect(port);

	snprintf(req, sizeof req,
	    "GET /logs?%s HTTP/1.1\r\nHost: localhost\r\n\r\n", filter);
	harness_sends(fd, req);
	harness_recv(
	    fd, buf, sizeof buf, "\r\n\r\n", 0, HARNESS_DEADLINE_MS, NULL);
	ck_assert_msg(
	    strncmp(buf, "HTTP/1.1 200 ", 13) == 0, "/logs: '%s'", buf);
	return fd;
}

/* Log streams that match nothing get a keep-alive comment; when their
 * clients close, the keep-alive finds out and the slots are given back. */
START_TEST(test_logs_keepalive)
{
	int fds[STREAMS], port, fd;
	bool eof;

	harness_server_start(&srv, "srv", 2, NULL);
	port = harness_admin_port(&srv);
	for (int i = 0; i < STREAMS; i++)
		fds[i] = open_stream(port, "level=error");
	ck_assert_int_eq(get(port, "/logs?level=error", "localhost"), 503);
	harness_recv(fds[0], resp, sizeof resp, ": keep-alive\n\n", 0,
	    HARNESS_DEADLINE_MS, &eof);
	ck_assert_msg(strstr(resp, ": keep-alive\n\n") != NULL,
	    "no keep-alive within %d ms: '%s'", HARNESS_DEADLINE_MS, resp);
	for (int i = 0; i < STREAMS; i++)
		harness_close(fds[i]);
	/* Within the harness's deadline: one keep-alive interval. */
	stat_wait("admin_curr_connections", 0);
	fd = open_stream(port, "level=error");
	harness_close(fd);
}
END_TEST

/* Out of descriptors, a client of the admin port: its listener pauses and
 * says so once, the admin thread does not spin, and it serves the client
 * once descriptors are back. */
START_TEST(test_admin_emfile)
{
	enum { CLIENTS = 80, ADMINS = 3 };
	char log[HARNESS_PATH_MAX], bin[HARNESS_PATH_MAX], path[64], buf[1024];
	const char *args[] = {"--nofile=64", getenv("THREADLINED"), "-p", "0",
	    "-t", "2", "--admin", "127.0.0.1:0", "--log-file", log,
	    geteuid() == 0 ? "-u" : NULL, "root", NULL};
	int fds[CLIENTS], admins[ADMINS], port;
	unsigned long long ut0, st0, ut1, st1;
	long long t0, size0;
	struct stat sb;
	pid_t tid;
	FILE *f;

	ck_assert_msg(harness_which("prlimit", bin, sizeof bin),
	    "prlimit (util-linux) is not installed");
	harness_path(log, sizeof log, "srv.log");
	harness_server_attach(&srv, harness_spawn_prog(bin, "srv", args), log);
	port = harness_admin_port(&srv);
	ck_assert(harness_thread_named(srv.pid, "admin", &tid));
	for (int i = 0; i < CLIENTS; i++)
		fds[i] = harness_connect(srv.port);
	ck_assert(harness_file_wait(
	    log, "out of file descriptors with", HARNESS_DEADLINE_MS));
	for (int i = 0; i < ADMINS; i++) {
		admins[i] = harness_connect(port);
		harness_sends(admins[i],
		    "GET /status HTTP/1.1\r\nHost: "
		    "localhost\r\nConnection: close\r\n\r\n");
	}
	ck_assert(harness_file_wait(
	    log, "admin: accept: Too many open files", HARNESS_DEADLINE_MS));
	/* Two seconds of it: the log barely grows, the thread sleeps. */
	snprintf(
	    path, sizeof path, "/proc/%d/task/%d/stat", (int)srv.pid, (int)tid);
	ck_assert_msg(stat(log, &sb) == 0, "stat %s: %s", log, strerror(errno));
	size0 = (long long)sb.st_size;
	ck_assert_ptr_nonnull(f = fopen(path, "r"));
	ck_assert_int_eq(fscanf(f,
	                     "%*d (%*[^)]) %*c %*d %*d %*d %*d %*d %*u "
	                     "%*u %*u %*u %*u %llu %llu",
	                     &ut0, &st0),
	    2);
	fclose(f);
	for (t0 = harness_now_ms(); harness_now_ms() - t0 < 2000;)
		harness_nap();
	ck_assert_ptr_nonnull(f = fopen(path, "r"));
	ck_assert_int_eq(fscanf(f,
	                     "%*d (%*[^)]) %*c %*d %*d %*d %*d %*d %*u "
	                     "%*u %*u %*u %*u %llu %llu",
	                     &ut1, &st1),
	    2);
	fclose(f);
	ck_assert_msg(stat(log, &sb) == 0, "stat %s: %s", log, strerror(errno));
	printf("admin out of fds for 2 s: log +%lld bytes, admin thread %llu "
	       "ticks of CPU\n",
	    (long long)sb.st_size - size0, ut1 + st1 - ut0 - st0);
	ck_assert_int_lt((long long)sb.st_size - size0, 4096);
	ck_assert_uint_lt(ut1 + st1 - ut0 - st0, 20);
	ck_assert_uint_eq(harness_count_in(log, "Error from accept"), 0);
	ck_assert_uint_eq(
	    harness_count_in(log, "admin: accept: Too many open files"), 1);
	for (int i = 0; i < CLIENTS; i++)
		harness_close(fds[i]);
	for (int i = 0; i < ADMINS; i++) {
		bool eof;

		harness_recv_all(
		    admins[i], buf, sizeof buf, HARNESS_DEADLINE_MS, &eof);
		ck_assert_msg(strncmp(buf, "HTTP/1.1 200 ", 13) == 0,
		    "admin client %d: '%s'", i, buf);
		harness_close(admins[i]);
	}
	ck_assert(harness_file_wait(
	    log, "admin: accepting again", HARNESS_DEADLINE_MS));
}
END_TEST

static atomic_bool churn_stop;

/* Clients that connect to the memcached port, ask, and go, until told.
 * Plain sockets: the harness's client table belongs to the test's main
 * thread. */
static void *
churn(void *arg)
{
	struct sockaddr_in sin = {.sin_family = AF_INET,
	    .sin_port = htons((uint16_t) * (int *)arg),
	    .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	char reply[64];

	while (!atomic_load(&churn_stop)) {
		int fd = socket(AF_INET, SOCK_STREAM, 0);

		if (fd == -1)
			continue;
		if (connect(fd, (struct sockaddr *)&sin, sizeof sin) == 0 &&
		    send(fd, "version\r\n", 9, MSG_NOSIGNAL) == 9)
			(void)recv(fd, reply, sizeof reply, 0);
		close(fd);
	}
	return NULL;
}

/* Admin requests with "Connection: close" while clients come and go on
 * the memcached port: descriptor numbers are reused between the threads
 * at once. TSan (the 'threads' suite) fails the stop on a race. */
START_TEST(test_close_churn)
{
	pthread_t t;
	int port;

	harness_server_start(&srv, "srv", 2, NULL);
	port = harness_admin_port(&srv);
	atomic_store(&churn_stop, false);
	ck_assert_int_eq(pthread_create(&t, NULL, churn, &srv.port), 0);
	for (int i = 0; i < 300; i++)
		ck_assert_int_eq(
		    get(port, i % 2 ? "/status" : "/nosuch", "localhost"),
		    i % 2 ? 200 : 404);
	atomic_store(&churn_stop, true);
	pthread_join(t, NULL);
	harness_serves(srv.port, 0);
}
END_TEST

int
main(void)
{
	const TTest *tests[] = {test_memcached_line_no_admin, test_host_check,
	    test_connection_limit, test_slowloris, test_logs_keepalive,
	    test_admin_emfile, test_close_churn, NULL};

	return harness_run_suite(
	    &(struct harness_suite){
	        .name = "admin_guard", .server = &srv, .timeout = 120},
	    tests);
}
