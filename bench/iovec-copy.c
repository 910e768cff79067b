/*
 * Where copying a value into the reply stops paying (issue 20): a thread
 * writes replies of K values of S bytes each to a loopback TCP socket
 * that another thread drains, once as a writev of 2K+1 pieces (a 30-byte
 * header per value, the value in place, END) and once copied into one
 * buffer and written whole. It prints the writer's CPU time per reply
 * (CLOCK_THREAD_CPUTIME_ID: the kernel's send and the loopback's receive
 * run in it), the best of 5 rounds, and their ratio; then a reply of
 * one piece sent with writev and with write.
 *
 *	cc -O2 -pthread -o /tmp/iovec-copy bench/iovec-copy.c
 *	/tmp/iovec-copy 100 500	# K values a reply, replies a round
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#define VMAX 16384
#define HEAD 30

static int rfd;

static void *
drain(void *arg)
{
	static char buf[1 << 16];

	while (read(rfd, buf, sizeof buf) > 0)
		;
	return arg;
}

static double
cpu_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Writes that the socket takes whole: it is blocking. */
static void
send_iov(int fd, struct iovec *iov, int n)
{
	for (int o = 0; o < n; o += 1024)
		if (writev(fd, iov + o, n - o > 1024 ? 1024 : n - o) == -1)
			exit(1);
}

static int
connected(void)
{
	struct sockaddr_in sa = {
	    .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t sl = sizeof sa;
	int ls = socket(AF_INET, SOCK_STREAM, 0), fd, one = 1;

	if (ls == -1 || bind(ls, (struct sockaddr *)&sa, sizeof sa) == -1 ||
	    listen(ls, 1) == -1 ||
	    getsockname(ls, (struct sockaddr *)&sa, &sl) == -1 ||
	    (fd = socket(AF_INET, SOCK_STREAM, 0)) == -1 ||
	    connect(fd, (struct sockaddr *)&sa, sizeof sa) == -1 ||
	    (rfd = accept(ls, NULL, NULL)) == -1) {
		perror("iovec-copy: loopback");
		exit(1);
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	close(ls);
	return fd;
}

int
main(int argc, char **argv)
{
	static const int sizes[] = {
	    32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, VMAX};
	int k = argc > 1 ? atoi(argv[1]) : 10;
	int reps = argc > 2 ? atoi(argv[2]) : 2000;
	char head[HEAD], *vals, *out;
	struct iovec *iov;
	pthread_t th;
	int fd;

	if (k < 1 || reps < 1) {
		fprintf(stderr, "usage: iovec-copy [values [replies]]\n");
		return 2;
	}
	fd = connected();
	pthread_create(&th, NULL, drain, NULL);
	memset(head, 'h', sizeof head);
	vals = malloc((size_t)k * VMAX);
	out = malloc((size_t)k * (VMAX + HEAD) + 8);
	iov = malloc(sizeof *iov * (size_t)(2 * k + 1));
	if (vals == NULL || out == NULL || iov == NULL)
		return 1;
	memset(vals, 'v', (size_t)k * VMAX);
	for (size_t si = 0; si < sizeof sizes / sizeof sizes[0]; si++) {
		size_t s = (size_t)sizes[si];
		double ref = 1e9, copy = 1e9;

		for (int round = 0; round < 5; round++) {
			double t0 = cpu_now(), t1, t2;

			for (int r = 0; r < reps; r++) {
				int n = 0;

				for (int i = 0; i < k; i++) {
					iov[n++] = (struct iovec){head, HEAD};
					iov[n++] = (struct iovec){
					    vals + (size_t)i * VMAX, s};
				}
				iov[n++] = (struct iovec){head, 5};
				send_iov(fd, iov, n);
			}
			t1 = cpu_now();
			for (int r = 0; r < reps; r++) {
				size_t len = 0;

				for (int i = 0; i < k; i++) {
					memcpy(out + len, head, HEAD);
					memcpy(out + len + HEAD,
					    vals + (size_t)i * VMAX, s);
					len += HEAD + s;
				}
				memcpy(out + len, head, 5);
				iov[0] = (struct iovec){out, len + 5};
				send_iov(fd, iov, 1);
			}
			t2 = cpu_now();
			ref = t1 - t0 < ref ? t1 - t0 : ref;
			copy = t2 - t1 < copy ? t2 - t1 : copy;
		}
		printf("values=%d size=%zu by_reference_us=%.2f copied_us=%.2f "
		       "copied/by_reference=%.3f\n",
		    k, s, ref / reps * 1e6, copy / reps * 1e6, copy / ref);
	}
	/* One piece, as a 100-byte get's reply now is: writev or write. */
	for (int round = 0; round < 5; round++) {
		static double wv = 1e9, w = 1e9;
		double t0 = cpu_now(), t1, t2;

		iov[0] = (struct iovec){out, HEAD + 100};
		for (int r = 0; r < reps; r++)
			send_iov(fd, iov, 1);
		t1 = cpu_now();
		for (int r = 0; r < reps; r++)
			if (write(fd, out, HEAD + 100) == -1)
				return 1;
		t2 = cpu_now();
		wv = t1 - t0 < wv ? t1 - t0 : wv;
		w = t2 - t1 < w ? t2 - t1 : w;
		if (round == 4)
			printf("one piece of %d bytes: writev_us=%.3f "
			       "write_us=%.3f write/writev=%.3f\n",
			    HEAD + 100, wv / reps * 1e6, w / reps * 1e6,
			    w / wv);
	}
	return 0;
}
