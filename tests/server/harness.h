/* Black-box harness for the server tests: starts the real threadlined
 * binary (named by $THREADLINED) in a per-test temp dir, waits on its log
 * with deadlines, talks to it over TCP, and always cleans up. Helpers that
 * cannot go on fail the running Check test with a message. */
#ifndef TL_HARNESS_H
#define TL_HARNESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Longest wait of any kind, in milliseconds. */
#define HARNESS_DEADLINE_MS 10000
/* Poll interval while waiting for a file or a process. */
#define HARNESS_POLL_MS  10
#define HARNESS_PATH_MAX 512

struct harness_server {
	pid_t pid;
	int port;
	char log[HARNESS_PATH_MAX];
};

/* Fixtures. The tcase ones run in the Check runner: they make the temp dir
 * and remove it, killing whatever the test left running. The test ones run
 * in the test process. */
void harness_tcase_setup(void);
void harness_tcase_teardown(void);
void harness_test_setup(void);
void harness_test_teardown(void);

/* A suite run one test per tcase, so each test gets a fresh temp dir. NULL
 * fixtures are the harness's own; tests is NULL-terminated. Returns the
 * exit status for main. */
struct harness_suite {
	const char *name;
	void (*setup)(void);          /* in the test process */
	void (*teardown)(void);       /* in the test process */
	void (*tcase_teardown)(void); /* in the runner, after the test */
	int timeout;                  /* seconds per test */
	/* The suite's server: harness_test_teardown stops it, and fails
	 * unless it exits 0, when the test left it running. */
	struct harness_server *server;
};
int harness_run_suite(const struct harness_suite *, const TTest *tests[]);
/* Say "SKIP: why" and count the running test as skipped: a suite that
 * skipped any and failed none exits 77, which meson shows as SKIP. */
void harness_skip(const char *, ...) __attribute__((format(printf, 1, 2)));

const char *harness_dir(void);
void harness_path(char *, size_t, const char *);
long long harness_now_ms(void);
void harness_nap(void);

/* Processes. args exclude the program; output goes to DIR/tag.out and
 * DIR/tag.err. Exit codes are 0..255, or 128 + signal. */
pid_t harness_spawn(const char *, const char *const[]);
pid_t harness_spawn_prog(const char *, const char *, const char *const[]);
bool harness_which(const char *, char *, size_t);
int harness_wait(pid_t, int);
int harness_run(const char *, const char *const[]);
/* As harness_run, for any program. */
int harness_run_prog(const char *, const char *, const char *const[]);
/* Wait for pid (prog, started as tag) to exit; its exit code. At the
 * deadline it is killed and the test fails. */
int harness_wait_exit(pid_t, const char *, const char *);
/* $THREADLINE, the threadline client; the test fails when it is unset. */
const char *harness_client_bin(void);
int harness_kill_children(void);

/* The server: started in the foreground with -p 0 -t N --log-file DIR/tag.log
 * and extra args, or attached to (a daemon) by pid and log path. */
void harness_server_start(
    struct harness_server *, const char *, int, const char *const[]);
void harness_server_attach(struct harness_server *, pid_t, const char *);
int harness_server_stop(struct harness_server *);

/* Debian's memcached, the peer replies are compared with: on the Unix
 * socket DIR/sock (it cannot report a port it picked) with -U 0, args,
 * and -u root as root. Returns once it accepts connections; false, and the
 * test skipped, when memcached is not installed. Stopping one not started
 * does nothing. */
struct harness_memcached {
	pid_t pid;
	char sock[HARNESS_PATH_MAX];
};
bool harness_memcached_start(
    struct harness_memcached *, const char *, const char *const[]);
int harness_memcached_stop(struct harness_memcached *);

/* A server replies are compared on: threadlined on a TCP port, or
 * memcached on a Unix socket (port 0). */
struct harness_peer {
	const char *name;
	int port;
	const char *sock;
};
/* A connection to the peer, closed at teardown if still open; -1 when
 * its Unix socket refuses. */
int harness_peer_connect(const struct harness_peer *);
/* The peers of a reply catalogue: peers[0] threadlined tl, peers[1]
 * memcached with -t 2 -m 64 on DIR/mc.sock, started into mc where
 * installed (else the test skips). Returns how many there are. */
int harness_peers(struct harness_peer peers[2], const struct harness_server *tl,
    struct harness_memcached *mc);

/* Files: read whole (NULL when missing), write, and wait for content. */
char *harness_file_read(const char *);
void harness_file_write(const char *, const char *);
bool harness_file_wait(const char *, const char *, int);
bool harness_file_wait_re(const char *, const char *, char *, size_t, int);
size_t harness_count(const char *, const char *);
size_t harness_count_in(const char *, const char *);
bool harness_line_with(const char *, const char *, char *, size_t);
bool harness_line_field(const char *, int, char *, size_t);
bool harness_last_line(const char *, char *, size_t);

/* /proc. */
bool harness_proc_comm(pid_t, pid_t, char *, size_t);
bool harness_thread_named(pid_t, const char *, pid_t *);
size_t harness_thread_comms(pid_t, char (*)[16], size_t);
char harness_proc_state(pid_t, pid_t);

/* Clients. Receives stop at the terminator, at count bytes, at EOF or at
 * the deadline; the buffer is always NUL-terminated. */
int harness_connect(int);
/* As harness_connect, with the receive buffer set to bytes before it
 * connects, so the window the server sees is small from the start. */
int harness_connect_rcvbuf(int, int);
/* A connection to the Unix socket path, closed at teardown if still open;
 * -1 when nothing listens there. */
int harness_connect_unix(const char *);
void harness_close(int);
int harness_local_port(int);
void harness_send(int, const void *, size_t);
void harness_sends(int, const char *);
/* Write all of buf, blocking; 0, or the errno of the failure. It asserts
 * nothing, so threads other than the test's may call it. */
int harness_write_all(int, const void *, size_t);
size_t harness_recv(int, char *, size_t, const char *, size_t, int, bool *);
size_t harness_recv_all(int, char *, size_t, int, bool *);
void harness_cmd(int, const char *, const char *, char *, size_t);
/* A request of len bytes on a connection of its own (Connection:
 * close): the whole response into resp, which must end and start with a
 * status line; the status code. */
int harness_http(int port, const char *req, size_t len, char *resp, size_t cap);
/* A new connection stores and reads back key "probeN": the server still
 * serves. */
void harness_serves(int port, int n);
bool harness_stat(const char *, const char *, char *, size_t);
/* Big-endian fields, as the binary protocol's packets have them. */
void harness_put16(unsigned char *, unsigned);
void harness_put32(unsigned char *, uint32_t);
void harness_put64(unsigned char *, uint64_t);
unsigned harness_get16(const unsigned char *);
uint32_t harness_get32(const unsigned char *);
uint64_t harness_get64(const unsigned char *);

/* The TCP port pid listens on, from its socket inodes in /proc, for a
 * server whose log cannot be read; 0 if none yet. */
int harness_proc_listen_port(pid_t);
/* DIR/tag.ext, read whole ("" when missing); free it. */
char *harness_output(const char *, const char *);

/* The port of the admin thread the server logged it serves HTTP on. */
int harness_admin_port(const struct harness_server *);

#endif
