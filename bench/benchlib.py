"""Pieces shared by the benchmarks: servers started fresh and stopped on
exit, `stats` as a dict, memcaslap runs with the server's CPU time."""

import argparse
import os
import re
import shlex
import socket
import subprocess
import time


def log(msg):
    print(msg, flush=True)


def free_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class BenchError(Exception):
    pass


def parse_duration(text):
    """'10s', '10', '1m' -> (memcaslap string, seconds)."""
    m = re.fullmatch(r"\s*(\d+)\s*([smh]?)\s*", text)
    if not m:
        raise argparse.ArgumentTypeError("duration like 10s, 10 or 1m: %r" % text)
    n, unit = int(m.group(1)), m.group(2) or "s"
    if n <= 0:
        raise argparse.ArgumentTypeError("duration must be > 0")
    return ("%d%s" % (n, unit), n * {"s": 1, "m": 60, "h": 3600}[unit])


def positive_int(text):
    v = int(text)
    if v <= 0:
        raise argparse.ArgumentTypeError("must be > 0: %r" % text)
    return v


class Server:
    """One server process, started fresh, stopped on cleanup."""

    def __init__(self, label, binary, port, threads, workdir, extra=(),
                 memory=64, conns=4096):
        self.label = label
        self.binary = binary
        self.port = port
        self.proc = None
        self.logpath = os.path.join(workdir, label + ".log")
        args = [binary]
        if os.path.basename(binary).startswith("memcached"):
            # Debian's memcached refuses to run as root without -u.
            if os.geteuid() == 0:
                args += ["-u", "nobody"]
        elif self._accepts(binary, "--log-level"):
            args += ["--log-level", "warn"]
            # As root, threadlined too wants a user; the same as memcached's.
            if os.geteuid() == 0 and self._accepts(binary, "--user"):
                args += ["-u", "nobody"]
            # Two servers side by side would both want the admin port.
            if self._accepts(binary, "--admin"):
                args += ["--admin", ""]
            # A build that reads an installed config by default must not
            # read this machine's: the figures are of the defaults.
            if self._accepts(binary, "--config ''"):
                args += ["--config", ""]
        args += ["-l", "127.0.0.1", "-p", str(port), "-t", str(threads),
                 "-m", str(memory), "-c", str(conns)]
        args += list(extra)
        self.args = args

    @staticmethod
    def _accepts(binary, flag):
        try:
            r = subprocess.run([binary, "--help"], stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, timeout=5)
        except (OSError, subprocess.TimeoutExpired):
            return False
        return flag in r.stdout.decode("utf-8", "replace")

    def start(self, timeout=10.0):
        if not (os.path.isfile(self.binary) and os.access(self.binary, os.X_OK)):
            raise BenchError("%s: %s is not an executable file" % (self.label, self.binary))
        logf = open(self.logpath, "wb")
        try:
            # Own session: a Ctrl-C at the terminal reaches only this script,
            # which then stops the servers itself.
            self.proc = subprocess.Popen(self.args, stdin=subprocess.DEVNULL,
                                         stdout=logf, stderr=subprocess.STDOUT,
                                         start_new_session=True)
        finally:
            logf.close()
        deadline = time.monotonic() + timeout
        while True:
            rc = self.proc.poll()
            if rc is not None:
                raise BenchError(
                    "%s did not start: exited with status %s\n  command: %s\n"
                    "  its output:\n%s"
                    % (self.label, rc, shlex.join(self.args), self.log_tail()))
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    pass
                return
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise BenchError(
                    "%s did not accept connections on 127.0.0.1:%d within %.0fs\n"
                    "  command: %s\n  its output:\n%s"
                    % (self.label, self.port, timeout, shlex.join(self.args),
                       self.log_tail()))
            time.sleep(0.05)

    def log_tail(self, n=15):
        try:
            with open(self.logpath, "rb") as f:
                lines = f.read().decode("utf-8", "replace").splitlines()
        except OSError:
            return "    (no output)"
        return "\n".join("    | " + l for l in lines[-n:]) or "    (no output)"

    def state(self):
        """'running', or how it ended (exit status or signal) and its output."""
        if self.proc is None:
            return "not started"
        try:
            rc = self.proc.wait(timeout=1.0)
        except subprocess.TimeoutExpired:
            return "still running"
        how = ("killed by signal %d" % -rc) if rc < 0 else ("exited with status %d" % rc)
        return "%s\n  its output:\n%s" % (how, self.log_tail())

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def cpu_seconds(self):
        """utime+stime of the whole process (all threads), in seconds."""
        with open("/proc/%d/stat" % self.proc.pid) as f:
            data = f.read()
        # comm (field 2) may contain spaces; fields after ')' start at field 3.
        fields = data[data.rindex(")") + 2:].split()
        utime, stime = int(fields[14 - 3]), int(fields[15 - 3])
        return (utime + stime) / os.sysconf("SC_CLK_TCK")

    def stop(self):
        p = self.proc
        if p is None or p.poll() is not None:
            return
        try:
            p.terminate()
            p.wait(timeout=5)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(timeout=5)
        except ProcessLookupError:
            pass


def server_stats(port, timeout=5.0):
    """`stats` as a dict, or None if the server does not answer it."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
            s.sendall(b"stats\r\n")
            buf = b""
            while not (buf.endswith(b"END\r\n") or buf.endswith(b"ERROR\r\n")):
                chunk = s.recv(65536)
                if not chunk:
                    break
                buf += chunk
    except OSError:
        return None
    out = {}
    for line in buf.decode("utf-8", "replace").split("\r\n"):
        parts = line.split(" ", 2)
        if len(parts) == 3 and parts[0] == "STAT":
            out[parts[1]] = parts[2]
    return out or None


def stat_int(stats, name):
    try:
        return int(stats[name])
    except (TypeError, KeyError, ValueError):
        return None


# ---------------------------------------------------------------- memcaslap

def memcaslap_cmd(memcaslap, port, args, cfgpath, duration):
    return [memcaslap, "-s", "127.0.0.1:%d" % port, "-T", str(args.client_threads),
            "-c", str(args.conns), "-t", duration, "-X", "100", "-F", cfgpath]


def run_memcaslap(cmd, seconds):
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT)
    try:
        out, _ = proc.communicate(timeout=seconds + 60)
    except BaseException:
        proc.kill()
        proc.wait()
        raise
    text = out.decode("utf-8", "replace")
    m = re.search(r"Run time:\s*([\d.]+)s\s+Ops:\s*(\d+)\s+TPS:\s*(\d+)", text)
    if proc.returncode != 0 or not m:
        tail = "\n".join("    | " + l for l in text.splitlines()[-20:])
        raise BenchError("memcaslap failed (status %s, no final 'Run time ... TPS' line)\n"
                         "  command: %s\n  output:\n%s"
                         % (proc.returncode, shlex.join(cmd), tail))

    def grab(name):
        mm = re.search(r"^%s:\s*(\d+)" % name, text, re.M)
        return int(mm.group(1)) if mm else None

    return {"runtime": float(m.group(1)), "ops": int(m.group(2)),
            "tps": int(m.group(3)), "cmd_get": grab("cmd_get"),
            "cmd_set": grab("cmd_set"), "get_misses": grab("get_misses")}


def timed_run(server, cmd, seconds):
    if not server.alive():
        raise BenchError("%s is no longer running\n%s" % (server.label, server.log_tail()))
    st0 = server_stats(server.port)
    cpu0 = server.cpu_seconds()
    r = run_memcaslap(cmd, seconds)
    cpu1 = server.cpu_seconds()
    st1 = server_stats(server.port)
    if not server.alive():
        raise BenchError("%s died during the run\n%s" % (server.label, server.log_tail()))
    r["cpu_s"] = cpu1 - cpu0
    r["cpu_us_per_op"] = r["cpu_s"] * 1e6 / r["ops"] if r["ops"] else float("nan")
    # client-side hit ratio: memcaslap's get_misses over its cmd_get
    if r["cmd_get"]:
        r["hit_client"] = 1.0 - (r["get_misses"] or 0) / r["cmd_get"]
    else:
        r["hit_client"] = None
    # server-side hit ratio from `stats` deltas, when the server has them
    h0, h1 = stat_int(st0, "get_hits"), stat_int(st1, "get_hits")
    m0, m1 = stat_int(st0, "get_misses"), stat_int(st1, "get_misses")
    if None not in (h0, h1, m0, m1) and (h1 - h0) + (m1 - m0) > 0:
        r["hit_server"] = (h1 - h0) / ((h1 - h0) + (m1 - m0))
    else:
        r["hit_server"] = None
    return r


# ---------------------------------------------------------------- /proc, ratios

def proc_status_kib(pid, field):
    """A kB field of /proc/PID/status (VmRSS, VmHWM, ...) in KiB, or None."""
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return None


def fmt_ratio(a, b, digits=3):
    """a/b as text, 'n/a' when either is missing or b is 0."""
    if a is None or not b:
        return "n/a"
    return "%.*f" % (digits, a / b)


# ---------------------------------------------------------------- a raw client

class Client:
    """One text-protocol connection with a buffered reader for replies.

    Replies are parsed from an internal buffer (readline / readexact), so a
    pipeline of many replies costs one recv per megabyte, not per reply.
    """

    def __init__(self, port, timeout=60.0, label="server"):
        self.label = label
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = bytearray()
        self.pos = 0

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def send(self, data):
        self.sock.sendall(data)

    def _fill(self):
        if self.pos > (1 << 20):
            del self.buf[:self.pos]
            self.pos = 0
        chunk = self.sock.recv(1 << 20)
        if not chunk:
            raise BenchError("%s closed the connection" % self.label)
        self.buf += chunk

    def readline(self):
        """The next reply line, without its CRLF, as bytes."""
        while True:
            i = self.buf.find(b"\r\n", self.pos)
            if i >= 0:
                line = bytes(self.buf[self.pos:i])
                self.pos = i + 2
                return line
            self._fill()

    def readexact(self, n):
        while len(self.buf) - self.pos < n:
            self._fill()
        data = bytes(self.buf[self.pos:self.pos + n])
        self.pos += n
        return data

    def stats(self):
        """`stats` on this connection as a dict; other lines before it are
        returned too, as a list (stray replies)."""
        self.send(b"stats\r\n")
        out, stray = {}, []
        while True:
            line = self.readline()
            if line == b"END":
                return out, stray
            parts = line.split(b" ", 2)
            if len(parts) == 3 and parts[0] == b"STAT":
                out[parts[1].decode()] = parts[2].decode("utf-8", "replace")
            else:
                stray.append(line)


def add_server_args(ap, repo):
    """--threadlined and --memcached, as vs-memcached has them."""
    ap.add_argument("--threadlined", default=os.path.join(repo, "build", "src", "threadlined"),
                    help="threadlined binary (default build/src/threadlined)")
    ap.add_argument("--memcached", default="/usr/bin/memcached",
                    help="memcached binary (default /usr/bin/memcached)")


def wait_for_binary(path, label, wait_s):
    """build/src/threadlined may be mid-rebuild: wait up to wait_s for it."""
    deadline = time.monotonic() + wait_s
    while not (os.path.isfile(path) and os.access(path, os.X_OK)):
        if time.monotonic() > deadline:
            raise BenchError("%s: %s is not an executable file" % (label, path))
        time.sleep(1.0)
