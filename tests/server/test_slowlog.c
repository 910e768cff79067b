/* Logs as data: the slow log on the wire (stats slowlog) and on the
 * admin port (/slowlog), slow-request and audit lines as JSON members,
 * audit lines that say who asked. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

#define PYTHON    "/usr/bin/python3"
#define REPLY_MAX (64 * 1024)
/* A set of this many bytes copies them into the item: never under the
 * 1 us threshold, on any machine. */
#define BIG 1000000

static struct harness_server srv;
static char reply[REPLY_MAX];

/* Store key with a BIG value on fd: a request that is always slow. */
static void
set_big(int fd, const char *key)
{
	static char big[BIG];
	char line[64];

	memset(big, 'v', sizeof big);
	snprintf(line, sizeof line, "set %s 0 0 %d\r\n", key, BIG);
	harness_sends(fd, line);
	harness_send(fd, big, sizeof big);
	harness_cmd(fd, "\r\n", "\r\n", reply, sizeof reply);
	ck_assert_str_eq(reply, "STORED\r\n");
}

/* Run python's code on arg, failing with its stderr. */
static void
python_check(const char *tag, const char *code, const char *arg)
{
	const char *py[] = {"-c", code, arg, NULL};
	int rc = harness_run_prog(PYTHON, tag, py);
	char *err = harness_output(tag, "err");

	ck_assert_msg(rc == 0, "%s failed (%d) on %s: %s", tag, rc, arg, err);
	free(err);
}

/* stats slowlog [N|reset]: newest first, each entry with its thread,
 * conn, peer, command, key (escaped to one word) and us; a bad N is a
 * CLIENT_ERROR; reset empties it. */
START_TEST(test_stats_slowlog)
{
	static const char usage[] = "CLIENT_ERROR usage: stats slowlog "
	                            "[N|reset], N from 0 to 128\r\n";
	const char *args[] = {"--slow-us", "1", NULL};
	char want[128], *second;
	unsigned long id1, id2;
	int fd, lport;

	harness_server_start(&srv, "srv", 1, args);
	fd = harness_connect(srv.port);
	lport = harness_local_port(fd);
	set_big(fd, "first");
	set_big(fd, "k\xc3\xa9");
	harness_cmd(fd, "stats slowlog 2\r\n", "END\r\n", reply, sizeof reply);
	ck_assert_msg(strncmp(reply, "STAT ", 5) == 0, "%s", reply);
	id2 = strtoul(reply + 5, NULL, 10);
	second = strstr(reply, "\r\nSTAT ");
	ck_assert_msg(second != NULL, "one entry: %s", reply);
	id1 = strtoul(second + 7, NULL, 10);
	ck_assert_uint_eq(id2, id1 + 1);
	snprintf(
	    want, sizeof want, " peer=127.0.0.1:%d cmd=set keys=1 ", lport);
	ck_assert_msg(strstr(reply, want) != NULL, "%s", reply);
	ck_assert_msg(strstr(reply, " thread=worker-0 conn=") != NULL &&
	                  strstr(reply, " key=k\\xc3\\xa9 us=") < second &&
	                  strstr(reply, " key=k\\xc3\\xa9 us=") != NULL &&
	                  strstr(second, " key=first us=") != NULL,
	    "%s", reply);
	ck_assert_msg(strstr(reply, " time=") != NULL, "%s", reply);
	ck_assert_str_eq(reply + strlen(reply) - 5, "END\r\n");
	ck_assert_uint_eq(harness_count(reply, "STAT "), 2);

	harness_cmd(fd, "stats slowlog 0\r\n", "END\r\n", reply, sizeof reply);
	ck_assert_str_eq(reply, "END\r\n");
	harness_cmd(fd, "stats slowlog x\r\n", "\r\n", reply, sizeof reply);
	ck_assert_str_eq(reply, usage);
	harness_cmd(fd, "stats slowlog 129\r\n", "\r\n", reply, sizeof reply);
	ck_assert_str_eq(reply, usage);
	harness_cmd(fd, "stats slowlog 1 2\r\n", "\r\n", reply, sizeof reply);
	ck_assert_str_eq(reply, usage);
	harness_cmd(fd, "stats slowlog reset\r\n", "\r\n", reply, sizeof reply);
	ck_assert_str_eq(reply, "RESET\r\n");
	/* What came before the reset is gone; what may come after (the
	 * reset, this stats) is not a set. */
	harness_cmd(
	    fd, "stats slowlog 128\r\n", "END\r\n", reply, sizeof reply);
	ck_assert_msg(strstr(reply, " cmd=set ") == NULL, "%s", reply);
	harness_close(fd);
}
END_TEST

/* GET /slowlog?n=N: JSON, typed, newest first; a bad n is a 400. */
START_TEST(test_http_slowlog)
{
	static const char check[] =
	    "import json,sys\n"
	    "t=open(sys.argv[1],'rb').read().decode()\n"
	    "o=json.loads(t[t.index('\\r\\n\\r\\n')+4:])\n"
	    "assert o['max']==128,o\n"
	    "s=o['slowlog']\n"
	    "assert len(s)==2,s\n"
	    "assert [e['key'] for e in s]==['two','one'],s\n"
	    "assert s[0]['id']==s[1]['id']+1,s\n"
	    "for e in s:\n"
	    "  assert e['cmd']=='set' and e['keys']==1,e\n"
	    "  assert e['thread']=='worker-0',e\n"
	    "  assert e['peer'].startswith('127.0.0.1:'),e\n"
	    "  for k in ('id','conn','us'): assert type(e[k]) is int,(k,e)\n"
	    "  assert e['us']>=1 and type(e['time']) is float,e\n";
	const char *args[] = {"--slow-us", "1", NULL};
	static const char req[] =
	    "GET /slowlog?n=2 HTTP/1.1\r\n"
	    "Host: 127.0.0.1\r\nConnection: close\r\n\r\n";
	static const char bad[] =
	    "GET /slowlog?n=200 HTTP/1.1\r\n"
	    "Host: 127.0.0.1\r\nConnection: close\r\n\r\n";
	char path[HARNESS_PATH_MAX];
	int fd, port;

	harness_server_start(&srv, "srv", 1, args);
	port = harness_admin_port(&srv);
	fd = harness_connect(srv.port);
	set_big(fd, "one");
	set_big(fd, "two");
	harness_close(fd);
	ck_assert_int_eq(
	    harness_http(port, req, sizeof req - 1, reply, sizeof reply), 200);
	harness_path(path, sizeof path, "slowlog.http");
	harness_file_write(path, reply);
	python_check("slowlog", check, path);
	ck_assert_int_eq(
	    harness_http(port, bad, sizeof bad - 1, reply, sizeof reply), 400);
	ck_assert_ptr_nonnull(strstr(reply, "n must be a number"));
}
END_TEST

/* In JSON, slow-request lines are category slow, all members, typed;
 * audit lines carry conn and peer (and the key) as members. */
START_TEST(test_json_members)
{
	static const char check[] =
	    "import json,sys\n"
	    "L=[json.loads(l) for l in open(sys.argv[1])]\n"
	    "slow=[o for o in L if o['category']=='slow']\n"
	    "big=[o for o in slow if o.get('key')=='big']\n"
	    "assert len(big)==1,slow\n"
	    "b=big[0]\n"
	    "assert 'msg' not in b and b['level']=='warn',b\n"
	    "assert b['cmd']=='set' and b['keys']==1,b\n"
	    "for k in ('conn','us','suppressed'): assert type(b[k]) is int,b\n"
	    "assert b['us']>=1 and b['peer'].startswith('127.0.0.1:'),b\n"
	    "def audit(m):\n"
	    "  a=[o for o in L if o.get('msg','').startswith(m)]\n"
	    "  assert len(a)==1,(m,a)\n"
	    "  a=a[0]\n"
	    "  assert a['conn']==b['conn'] and a['peer']==b['peer'],(a,b)\n"
	    "  return a\n"
	    "audit('flush_all')\n"
	    "audit('log level set to info')\n"
	    "audit('access log turned on by a client')\n"
	    "audit('memory limit set to 64 MB')\n"
	    "a=audit('not stored: a value of 2000000 bytes is larger')\n"
	    "assert a['key']=='huge' and a['level']=='warn',a\n"
	    "audit('shutdown requested by a client')\n";
	struct harness_server js;
	char log[HARNESS_PATH_MAX], port[16];
	const char *args[] = {"-p", "0", "-t", "1", "--log-file", log,
	    "--log-format", "json", "--slow-us", "1", "-A", NULL};
	static char huge[2000000];
	int fd;

	harness_path(log, sizeof log, "json.log");
	memset(&js, 0, sizeof js);
	js.pid = harness_spawn("json", args);
	ck_assert_msg(harness_file_wait_re(log,
	                  "\"msg\":\"listening on [^ \"]*:([0-9]+)\"", port,
	                  sizeof port, HARNESS_DEADLINE_MS),
	    "no listening line in %s", log);
	ck_assert(
	    harness_file_wait(log, "\"msg\":\"ready: ", HARNESS_DEADLINE_MS));
	js.port = atoi(port);
	fd = harness_connect(js.port);
	/* Slow lines are rate-limited (10 a second): the big set first. */
	set_big(fd, "big");
	harness_cmd(fd,
	    "verbosity 1\r\naccess_log on\r\naccess_log off\r\n"
	    "flush_all\r\ncache_memlimit 64\r\n",
	    "OK\r\nOK\r\nOK\r\nOK\r\nOK\r\n", reply, sizeof reply);
	memset(huge, 'h', sizeof huge);
	harness_sends(fd, "set huge 0 0 2000000\r\n");
	harness_send(fd, huge, sizeof huge);
	harness_cmd(fd, "\r\n", "\r\n", reply, sizeof reply);
	ck_assert_msg(strstr(reply, "SERVER_ERROR") != NULL, "%s", reply);
	harness_sends(fd, "shutdown\r\n");
	ck_assert_int_eq(harness_wait(js.pid, HARNESS_DEADLINE_MS), 0);
	harness_close(fd);
	python_check("members", check, log);
}
END_TEST

int
main(void)
{
	const TTest *tests[] = {
	    test_stats_slowlog, test_http_slowlog, test_json_members, NULL};

	return harness_run_suite(
	    &(struct harness_suite){
	        .name = "slowlog", .server = &srv, .timeout = 120},
	    tests);
}
