#!/usr/bin/python3
"""Other projects' test suites against a live server.

tsuite.py [--server threadlined|memcached] [--only FILE...] [--table]

memcached 1.6.18's t/ files run unmodified as memcached runs them: each
new_memcached() starts the server under test with that call's flags (a
memcached-debug in the tree runs it), each file in a directory and a
network and mount namespace of its own (as root: unshare -n -m). Cache::Memcached::Fast's t/ runs against one
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
import re
import shutil
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

# The files not run: what threadline does not do.
UDP = "UDP: threadline has no UDP listener"
TLS = "TLS: threadline has no TLS"
SASL = "SASL: threadline cannot authenticate over SASL"
EXT = "extstore: threadline has no external storage"
PROXY = "proxy: threadline has no Lua proxy"
SLABS = "hard-codes memcached's slab classes, pages or memory accounting"
SKIP = {
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
    "item_size_max.t": SLABS, "slabhang.t": SLABS,
    "restart.t": ("memcached's warm restart from a memory file (-e): "
                  "threadline keeps no cache across a restart"),
    "issue_67.t": ("memcached's ports: default 11211, -p 0 turns TCP off, "
                   "-p -1 asks for any, UDP ports, MEMCACHED_PORT_FILENAME; "
                   "threadline's default is 11311 and its -p 0 asks the "
                   "kernel for a port"),
}

# Assertions a file may fail, by number (or "line N" of the file), each
# with why. memcached 1.6.18 fails the RELEASE ones too
# (TL_TSUITE_BASELINE=1 with --server memcached prints them).
RELEASE = ("debugtime, a command of memcached's debug build only: Debian's "
           "memcached fails it too")
CLASS1 = "names memcached's slab class 1 (our classes are not memcached's)"
CLASS31 = "names memcached's slab class 31 (our classes are not memcached's)"
MOVE = "moves pages between memcached's slab classes 31 and 25"
FAKED = ("memcached's test hook T_MEMD_INITIAL_MALLOC makes it believe 4 GiB "
         "are allocated, full before the first set")
MALLOCED = ("memcached's total_malloced counts the pages in its global "
            "pool; ours go back to the system and count no more")
CHUNKED = ("memcached's chunked items (slab_chunk_max): its class 17 holds "
           "them, ours has no page to give; no chunk rescues")
THREADLINE = "our extra first line, STAT thread worker-K (thread attribution)"
EXPECTED = {
    "00-startup.t": {20: ("-t 0 is threadline's default, one worker per "
                          "online CPU; memcached refuses it")},
    "64bit.t": dict.fromkeys([3, 5], FAKED),
    "conn-limits.t": dict.fromkeys([1, 2, 3, 4], (
        "memcached charges a response object per key of a get and per "
        "pipelined request against read_buf_mem_limit; threadline charges "
        "the bytes a reply takes, and a 500-key get of misses is one END")),
    "expirations.t": dict.fromkeys([3, 8, 16, 17, 36], RELEASE),
    "lru-maintainer.t": dict.fromkeys([122, 225], CLASS31),
    "stats-conns.t": {10: UDP},
    "stats.t": {1: THREADLINE, 32: CLASS1},
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


def start(server, workdir, port):
    if server == "memcached":
        cmd = [MEMCACHED, "-l", "127.0.0.1", "-p", str(port), "-U", "0",
               "-u", "root"]
    else:
        cmd = [THREADLINED, "--config", "", "-l", "127.0.0.1", "-p",
               str(port), "-u", "root"]
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
    if rc != min(len(bad), 254):
        return "FAILED (exit %d, %s)" % (rc, fdir)
    return ""


def run_perl(cmd, cwd, env, log, fds=()):
    try:
        p = subprocess.run(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=FILE_TIMEOUT,
                           start_new_session=True, pass_fds=fds)
        out, rc = p.stdout.decode("latin-1"), p.returncode
    except subprocess.TimeoutExpired as e:
        out = (e.stdout or b"").decode("latin-1") + "\n# timed out\n"
        rc = -1
    open(log, "w").write(out)
    return out, rc


# memcached-debug for t/: the server under test in place of memcached's
# debug build. Its -h is the server's own (the files read it for what the
# server supports; memcached's without the extstore options, which
# neither server is given storage for). -o relaxed_privileges is for a
# seccomp build, which neither is; both refuse it. The harness adds
# -U PORT to every TCP server whose -h is not memcached 1.1's: threadline
# has no UDP and refuses a UDP port, so its wrapper drops -U (the files
# that test UDP are in SKIP). The server's output goes to the log beside
# the file's TAP, opened outside the file's namespaces: its descriptor is
# in TL_LOG_FD.
WRAPPER = """#!/bin/bash
args=()
while [ $# -gt 0 ]; do
    case "$1" in
    -h) %(help)s; exit;;
    -o) if [ "$2" = relaxed_privileges ]; then shift 2; continue; fi;;
    %(drop)s
    esac
    args+=("$1")
    shift
done
exec >&"$TL_LOG_FD" 2>&1 {TL_LOG_FD}>&-
exec %(exe)s "${args[@]}"
"""


def copy_of_memcached(server, workdir):
    """A copy of memcached's tree to run t/ in: MemcachedTest.pm starts
    $builddir/timedrun 600 $builddir/memcached-debug ARGS for each
    new_memcached(), with cwd as $builddir."""
    root = os.path.join(workdir, "memcached")
    src = os.path.join(SUITES, "memcached-1.6.18")
    os.mkdir(root)
    os.symlink(os.path.join(src, "t"), os.path.join(root, "t"))
    if server == "memcached":
        words = {"help": MEMCACHED + " -h | grep -v ext_",
                 "exe": MEMCACHED, "drop": ""}
    else:
        words = {"help": THREADLINED + " -h",
                 "exe": THREADLINED + " --config ''",
                 "drop": "-U) shift 2; continue;;"}
    debug = os.path.join(root, "memcached-debug")
    with open(debug, "w") as f:
        f.write(WRAPPER % words)
    os.chmod(debug, 0o755)
    os.symlink("/usr/bin/timeout", os.path.join(root, "timedrun"))
    return root


# Each file runs in a network and mount namespace of its own: its servers'
# ports (picked at random by the file) are nobody else's, and what it
# makes under /tmp (memcached's t/ puts its unix sockets there) goes to
# a tmpfs of its own, laid over /tmp, which stays readable beneath (the
# build and the suites may be under /tmp).
ISOLATE = ("ip link set lo up && mount -t tmpfs tsuite /mnt && "
           "mkdir /mnt/up /mnt/work && mount -t overlay overlay -o "
           "lowerdir=/tmp,upperdir=/mnt/up,workdir=/mnt/work /tmp && "
           "exec perl \"t/$TL_FILE\"")


def run_memcached_t(server, workdir, only):
    root = copy_of_memcached(server, workdir)
    rows = []
    for path in sorted(glob.glob(os.path.join(root, "t", "*.t"))):
        name = os.path.basename(path)
        if only and name not in only:
            continue
        if name in SKIP and not only:
            rows.append((name, None, None, SKIP[name]))
            continue
        fdir = tempfile.mkdtemp(prefix=name + ".", dir=workdir)
        with open(os.path.join(fdir, "server.log"), "w") as slog:
            env = dict(os.environ, TL_FILE=name,
                       TL_LOG_FD=str(slog.fileno()))
            out, rc = run_perl(["unshare", "-n", "-m", "sh", "-c", ISOLATE],
                               root, env, os.path.join(fdir, "tap.log"),
                               (slog.fileno(),))
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
    proc, port = start(server, fdir, 11211)
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
    if os.geteuid() != 0:
        print("tsuite: needs root: each file runs in namespaces of its own "
              "(unshare -n -m)")
        return 77
    if server == "threadlined" and not THREADLINED:
        print("tsuite: THREADLINED not set")
        return 2
    workdir = tempfile.mkdtemp(prefix="tsuite.",
                               dir=os.environ.get("TL_TSUITE_DIR", "."))
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
