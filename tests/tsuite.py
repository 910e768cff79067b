#!/usr/bin/python3
"""Other projects' test suites against a live server.

tsuite.py [--server threadlined|memcached] [--only FILE...] [--table]

memcached 1.6.18's t/ files run unmodified in their daemon mode
(T_MEMD_USE_DAEMON=127.0.0.1:PORT): one server per file, started with the
flags that file passes to new_memcached(), on a port picked at random, in
a directory of its own. Cache::Memcached::Fast's t/ runs against one
server (its t/Memd.pm reads MEMCACHED_SERVERS). The suites come from
tools/fetch-suites into $TL_SUITES_DIR; without them the test is skipped
(exit 77). Files in SKIP are not run, each with its reason; the runner
fails when a file it runs fails. --table prints the assertions passed
of each file (docs/compat.md's table).
"""
import glob
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

SUITES = os.environ.get("TL_SUITES_DIR", "")
THREADLINED = os.environ.get("THREADLINED", "")
MEMCACHED = "/usr/bin/memcached"
BASELINE = os.environ.get("TL_TSUITE_BASELINE") == "1"
FILE_TIMEOUT = 300

# What threadline does not do, or cannot be asked of a server in daemon
# mode; and what other branches are implementing (their files pass once
# that lands).
UDP = "UDP: threadline has no UDP listener"
TLS = "TLS: threadline has no TLS"
SASL = "SASL: threadline cannot authenticate over SASL"
EXT = "extstore: threadline has no external storage"
PROXY = "proxy: threadline has no Lua proxy"
OWN = "starts memcached's own binary (daemonize, restart, -s, flags at start-up)"
SLABS = "hard-codes memcached's slab classes, pages or memory accounting"
BINARY = "expected to pass once the binary protocol lands (r-binary)"
CRAWLER = "expected to pass once lru_crawler/slabs commands land (r-slabs)"
METADUMP = "expected to pass once metadump streaming lands (r-auth)"
AUTH = "expected to pass once ASCII auth lands (r-auth)"
LONGLINE = "expected to pass once the long-line close lands (r-auth)"
ITSELF = ("memcached 1.6.18 fails it too in daemon mode (debugtime, "
          "a fresh server's counters)")
FOUND = "a divergence this suite found, not fixed yet (see docs/compat.md)"
SKIP = {
    "64bit.t": ITSELF, "expirations.t": ITSELF, "flush-all.t": ITSELF,
    "stats.t": ITSELF, "watcher.t": ITSELF,
    "issue_67.t": OWN, "stats-conns.t": OWN, "issue_50.t": BINARY,
    "strtol-testing.t": CRAWLER, "issue_163.t": SLABS, "issue_29.t": SLABS,
    "issue_22.t": SLABS, "metaget.t": FOUND,
    "udp.t": UDP,
    "issue_70.t": UDP,
    "ssl_cert_refresh.t": TLS, "ssl_ports.t": TLS,
    "ssl_proto_version.t": TLS, "ssl_session_resumption.t": TLS,
    "ssl_settings.t": TLS, "ssl_verify_modes.t": TLS,
    "binary-sasl.t": SASL,
    "binary-extstore.t": EXT, "chunked-extstore.t": EXT,
    "error-extstore.t": EXT, "extstore-buckets.t": EXT,
    "extstore-jbod.t": EXT, "extstore.t": EXT,
    "proxy.t": PROXY,
    "daemonize.t": OWN, "restart.t": OWN, "unixsocket.t": OWN,
    "00-startup.t": OWN, "misbehave.t": OWN, "dyn-maxbytes.t": OWN,
    "shutdown.t": OWN, "conn-limits.t": OWN, "idle-timeout.t": OWN,
    "maxconns.t": OWN,
    "binary.t": BINARY, "binary-get.t": BINARY, "issue_108.t": BINARY,
    "ascii-auth.t": AUTH,
    "lru-crawler.t": METADUMP,
    "slabs_reassign.t": CRAWLER, "slabs-reassign2.t": CRAWLER,
    "slabs-reassign-chunked.t": CRAWLER, "lru-maintainer.t": CRAWLER,
    "line-lengths.t": LONGLINE,
    "evictions.t": SLABS, "lru.t": SLABS, "chunked-items.t": SLABS,
    "item_size_max.t": SLABS, "dash-M.t": SLABS, "slabhang.t": SLABS,
    "issue_42.t": SLABS, "issue_192.t": SLABS,
}

# Assertions a file may fail, by number, each with why.
EXPECTED = {}

# Flags threadlined refuses or memcached needs no help with: dropped from
# a file's flags (-l: we pick the address).
DROP = re.compile(r"^(-l|-U)$")


def free_port():
    while True:
        port = random.randint(20000, 60000)
        s = socket.socket()
        try:
            s.bind(("127.0.0.1", port))
            s.close()
            return port
        except OSError:
            s.close()


def file_flags(path):
    """The flags of the file's first new_memcached() with a literal."""
    text = open(path, encoding="latin-1").read()
    m = re.search(r"new_memcached\(\s*(['\"])(.*?)\1", text)
    if not m:
        return []
    flags = m.group(2).replace("$Bin", os.path.dirname(path))
    if "$" in flags:
        return []
    words = flags.split()
    out = []
    i = 0
    while i < len(words):
        if DROP.match(words[i]):
            i += 2
            continue
        out.append(words[i])
        i += 1
    return out


def wait_port(port, proc, deadline):
    while time.time() < deadline:
        if proc.poll() is not None:
            return False
        try:
            socket.create_connection(("127.0.0.1", port), 0.5).close()
            return True
        except OSError:
            time.sleep(0.05)
    return False


def start(server, flags, workdir, port=None):
    port = port or free_port()
    if server == "memcached":
        cmd = [MEMCACHED, "-l", "127.0.0.1", "-p", str(port), "-U", "0",
               "-u", "root"] + flags
    else:
        cmd = [THREADLINED, "--config", "", "-l", "127.0.0.1", "-p",
               str(port), "-u", "root"] + flags
    log = open(os.path.join(workdir, server + ".log"), "w")
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT,
                            cwd=workdir)
    if not wait_port(port, proc, time.time() + 10):
        proc.kill()
        proc.wait()
        return None, port
    return proc, port


def stop(proc):
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def tap(out):
    ok = len(re.findall(r"^ok \d+", out, re.M))
    bad = [int(n) for n in re.findall(r"^not ok (\d+)", out, re.M)]
    return ok, ok + len(bad), bad


def verdict(name, rc, bad, fdir):
    """A file passes when every assertion it failed is one EXPECTED
    names for it, and it ran to its end (Test::More exits with the
    number of failed assertions; a death or a short plan is more)."""
    unexpected = [n for n in bad if n not in EXPECTED.get(name, {})]
    if unexpected:
        return "FAILED (assertions %s, %s)" % (
            ",".join(str(n) for n in unexpected[:10]), fdir)
    if rc != min(len(bad), 254):
        return "FAILED (exit %d, %s)" % (rc, fdir)
    return ""


def run_perl(cmd, cwd, env, log):
    try:
        p = subprocess.run(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=FILE_TIMEOUT,
                           start_new_session=True)
        out, rc = p.stdout.decode("latin-1"), p.returncode
    except subprocess.TimeoutExpired as e:
        out = (e.stdout or b"").decode("latin-1") + "\n# timed out\n"
        rc = -1
    open(log, "w").write(out)
    return out, rc


def copy_of_memcached(workdir):
    """A copy of memcached's tree to run t/ in: MemcachedTest.pm wants
    a memcached-debug beside t/ (it reads its -h for what it supports)."""
    root = os.path.join(workdir, "memcached")
    src = os.path.join(SUITES, "memcached-1.6.18")
    os.mkdir(root)
    os.symlink(os.path.join(src, "t"), os.path.join(root, "t"))
    os.symlink(MEMCACHED, os.path.join(root, "memcached-debug"))
    os.symlink("/usr/bin/timeout", os.path.join(root, "timedrun"))
    return root


def run_memcached_t(server, workdir, only):
    root = copy_of_memcached(workdir)
    rows = []
    for path in sorted(glob.glob(os.path.join(root, "t", "*.t"))):
        name = os.path.basename(path)
        if only and name not in only:
            continue
        if name in SKIP and not only:
            rows.append((name, None, None, SKIP[name]))
            continue
        fdir = tempfile.mkdtemp(prefix=name + ".", dir=workdir)
        proc, port = start(server, file_flags(path), fdir)
        if proc is None:
            rows.append((name, 0, 0, "server did not start (see %s)" % fdir))
            continue
        env = dict(os.environ, T_MEMD_USE_DAEMON="127.0.0.1:%d" % port)
        out, rc = run_perl(["perl", "t/" + name], root, env,
                           os.path.join(fdir, "tap.log"))
        stop(proc)
        ok, total, bad = tap(out)
        rows.append((name, ok, total, verdict(name, rc, bad, fdir)))
        if BASELINE:
            print("%s not ok: %s" % (name, bad))
    return rows


def run_cmf(server, workdir):
    """Its t/Memd.pm names localhost:11211 and 127.0.0.1:11211: run the
    server and the files in a network namespace of their own (as root:
    unshare -n), where port 11211 is nobody else's."""
    out = subprocess.run(["unshare", "-n", sys.executable, __file__,
                          "--server", server, "--cmf-inside", workdir],
                         stdout=subprocess.PIPE).stdout.decode()
    rows = []
    for line in out.splitlines():
        name, ok, total, note = line.split("\t")
        if ok == "-":
            rows.append((name, None, None, note))
        else:
            rows.append((name, int(ok), int(total), note))
    return rows or [("Cache::Memcached::Fast", 0, 0, "FAILED: no result")]


def cmf_inside(server, workdir):
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    for name, ok, total, note in cmf_files(server, workdir):
        if ok is None:
            print("%s\t-\t-\t%s" % (name, note))
        else:
            print("%s\t%d\t%d\t%s" % (name, ok, total, note))
    return 0


# Cache::Memcached::Fast's files not run, each with why.
CMF_SKIP = {
    "perl-namespace.t": "checks the module's Perl symbol table (Debian's "
                        "build has ISA and dl_load_flags), not the server",
}


def cmf_files(server, workdir):
    src = glob.glob(os.path.join(SUITES, "Cache-Memcached-Fast-*"))
    if not src:
        return [("Cache::Memcached::Fast", 0, 0, "FAILED: not fetched")]
    fdir = tempfile.mkdtemp(prefix="cmf.", dir=workdir)
    proc, port = start(server, [], fdir, 11211)
    if proc is None:
        return [("Cache::Memcached::Fast", 0, 0, "server did not start")]
    rows = []
    env = dict(os.environ)
    for path in sorted(glob.glob(os.path.join(src[0], "t", "*.t"))):
        name = os.path.basename(path)
        if name in CMF_SKIP:
            rows.append(("C::M::F " + name, None, None, CMF_SKIP[name]))
            continue
        # The installed module, not the tarball's unbuilt one.
        out, rc = run_perl(["perl", "-It", "t/" + name], src[0], env,
                           os.path.join(fdir, name + ".log"))
        ok, total, _ = tap(out)
        if re.search(r"^1\.\.0 # SKIP Author", out, re.M):
            rc = 0
        rows.append(("C::M::F " + name, ok, total, "" if rc == 0 else
                     "FAILED (exit %d, %s)" % (rc, fdir)))
    stop(proc)
    return rows


def main():
    args = sys.argv[1:]
    server = "threadlined"
    only = []
    table = False
    while args:
        a = args.pop(0)
        if a == "--server":
            server = args.pop(0)
        elif a == "--table":
            table = True
        elif a == "--cmf-inside":
            return cmf_inside(server, args.pop(0))
        elif a == "--only":
            only = args
            args = []
    if not SUITES or not os.path.isdir(os.path.join(SUITES,
                                                    "memcached-1.6.18")):
        print("tsuite: no suites in TL_SUITES_DIR (run tools/fetch-suites)")
        return 77
    if server == "threadlined" and not THREADLINED:
        print("tsuite: THREADLINED not set")
        return 2
    workdir = tempfile.mkdtemp(prefix="tsuite.")
    rows = run_memcached_t(server, workdir, only)
    if not only:
        rows += run_cmf(server, workdir)
    failed = 0
    for name, ok, total, note in rows:
        if ok is None:
            print("%-28s skip  %s" % (name, note))
            continue
        print("%-28s %6d/%-6d %s" % (name, ok, total, note))
        if note:
            failed += 1
    ran = [r for r in rows if r[1] is not None]
    print("tsuite: %s: %d files run, %d failed, %d skipped; "
          "assertions %d/%d" % (server, len(ran), failed,
                                len(rows) - len(ran),
                                sum(r[1] for r in ran),
                                sum(r[2] for r in ran)))
    if failed == 0:
        shutil.rmtree(workdir, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
