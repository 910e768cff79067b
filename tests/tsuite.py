#!/usr/bin/python3
"""Other projects' test suites against a live server.

tsuite.py [--server threadlined|memcached] [--only FILE...] [--table]

memcached 1.6.18's t/ files run unmodified in their daemon mode
(T_MEMD_USE_DAEMON=127.0.0.1:PORT): one server per file, started with the
flags that file passes to new_memcached(), on a port picked at random, in
a directory of its own. Cache::Memcached::Fast's t/ runs against one
server on 127.0.0.1:11211, the address its t/Memd.pm names, inside a
network namespace of its own. The suites come from tools/fetch-suites
into $TL_SUITES_DIR; without them the test is skipped (exit 77). Files
in SKIP are not run, each with its reason. A file fails when it fails an
assertion EXPECTED does not name for it, or stops short of its plan.
--table adds a row per file: assertions passed/run and the numbers of
those that failed (docs/compat.md's table); TL_TSUITE_BASELINE=1 prints
the failed numbers as a list.
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
TABLE = "--table" in sys.argv
FILE_TIMEOUT = 300

# The files not run: what threadline does not do, or what cannot be
# asked of a server in daemon mode.
UDP = "UDP: threadline has no UDP listener"
TLS = "TLS: threadline has no TLS"
SASL = "SASL: threadline cannot authenticate over SASL"
EXT = "extstore: threadline has no external storage"
PROXY = "proxy: threadline has no Lua proxy"
OWN = "starts memcached's own binary (daemonize, restart, -s, flags at start-up)"
SLABS = "hard-codes memcached's slab classes, pages or memory accounting"
SKIP = {
    "issue_67.t": OWN, "stats-conns.t": OWN,
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
    "00-startup.t": OWN,
    "shutdown.t": OWN, "conn-limits.t": OWN,
    "maxconns.t": OWN,
    "item_size_max.t": SLABS, "slabhang.t": SLABS,
}

# Assertions a file may fail, by number (or "line N" of the file), each
# with why. memcached 1.6.18
# fails the DAEMON ones too in daemon mode (TL_TSUITE_BASELINE=1 with
# --server memcached prints them): a file's later new_memcached() calls
# get the one running server, not one with their own flags.
DAEMON = "memcached 1.6.18 fails it too in daemon mode"
UNIX = ("daemon mode listens on TCP; the file wants a unix socket in "
        "stats settings domain_socket (memcached fails it too)")
CLASS1 = "names memcached's slab class 1 (our classes are not memcached's)"
MOVE = "moves pages between memcached's slab classes 31 and 25"
MALLOCED = ("memcached's total_malloced counts the pages in its global "
            "pool; ours go back to the system and count no more")
CHUNKED = ("memcached's chunked items (slab_chunk_max): its class 17 holds "
           "them, ours has no page to give; no chunk rescues")
THREADLINE = "our extra first line, STAT thread worker-K (thread attribution)"
FLUSHED = ("not fixed: maint frees flushed items at once, so the get after "
           "flush_all finds none to count in get_flushed")
EXPECTED = {
    "64bit.t": dict.fromkeys([3, 5], DAEMON),
    "expirations.t": dict.fromkeys([3, 8, 16, 17, 36], DAEMON),
    "flush-all.t": dict.fromkeys([3, 4, 7, 8, 11, 14, 17, 22, 27], DAEMON),
    "lru-maintainer.t": dict.fromkeys([45, 46, 47, 119, 120, 122, 225,
                                       226], DAEMON),
    "watcher.t": dict.fromkeys([26, 28, 29, 30], DAEMON),
    # Its number moves from run to run (5,231 to 5,285 assertions run):
    # named by its line.
    "binary.t": {"line 449": UNIX},
    "stats.t": {1: THREADLINE, 32: CLASS1, 80: UNIX, 111: FLUSHED},
    "lru-crawler.t": dict.fromkeys([92, 96, 97], CLASS1),
    "issue_22.t": dict.fromkeys([43, 84], CLASS1),
    "issue_29.t": {4: CLASS1},
    "issue_42.t": {11: CLASS1},
    "issue_163.t": {4: CLASS1},
    "dyn-maxbytes.t": {41: ("memcached's memory accounting: its 40 values "
                            "of 65 KiB fit in our -m 3, nothing evicted")},
    "slabs_reassign.t": dict.fromkeys([125, 127, 128, 129], MOVE),
    "slabs-reassign2.t": {9: MALLOCED},
    "slabs-reassign-chunked.t": dict.fromkeys([2, 3, 7], CHUNKED),
}

# Files that stop short of their plan against memcached too, with why.
SHORT = {
    "lru-crawler.t": "its end stops a server by pid, which daemon mode has "
                     "none of (memcached: the same death after 70,225)",
}

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
    """Assertions passed, run, and the failed ones: each by its number
    and, when Test::More names one in the file, its line ("line N")."""
    ok = len(re.findall(r"^ok \d+", out, re.M))
    bad = [(int(m.group(1)), m.group(2) and "line " + m.group(2))
           for m in re.finditer(r"^not ok (\d+).*\n(?:#.*?at t/\S+ "
                                r"line (\d+)\.)?", out, re.M)]
    return ok, ok + len(bad), bad


def verdict(name, rc, bad, fdir):
    """A file passes when every assertion it failed is one EXPECTED
    names for it, and it ran to its end (Test::More exits with the
    number of failed assertions; a death or a short plan is more)."""
    allowed = EXPECTED.get(name, {})
    unexpected = [n for n, line in bad
                  if n not in allowed and line not in allowed]
    if unexpected:
        return "FAILED (assertions %s, %s)" % (
            ",".join(str(n) for n in unexpected[:10]), fdir)
    if rc != min(len(bad), 254) and name not in SHORT:
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
    a memcached-debug beside t/ (it reads its -h for what it supports;
    in daemon mode it starts nothing)."""
    root = os.path.join(workdir, "memcached")
    src = os.path.join(SUITES, "memcached-1.6.18")
    os.mkdir(root)
    os.symlink(os.path.join(src, "t"), os.path.join(root, "t"))
    # Its -h without the extstore options: the files' extstore parts
    # (metaget.t's waits for items to leave memory) are for a server with
    # external storage, which neither server here is given.
    debug = os.path.join(root, "memcached-debug")
    with open(debug, "w") as f:
        f.write("#!/bin/sh\n%s \"$@\" | grep -v ext_\n" % MEMCACHED)
    os.chmod(debug, 0o755)
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
            print("%s not ok: %s" % (name, [n for n, _ in bad]))
        if TABLE:
            print("row\t%s\t%d/%d\t%s" % (name, ok, total, " ".join(
                str(n) for n, _ in bad)), flush=True)
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
    while args:
        a = args.pop(0)
        if a == "--server":
            server = args.pop(0)
        elif a == "--table":
            pass
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
