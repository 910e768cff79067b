#!/usr/bin/python3
"""Load the admin dashboard in headless Chromium and check its DOM.

dashboard_check.py CHROMIUM URL PNG WORKERS THREAD CACHE_PORT [PNG_RELOAD
                   [PNG_480]]

Chromium runs headless with its DevTools protocol on a local port; this
script opens URL (the dashboard, with ?thread=THREAD) while the caller
drives traffic, and checks, each step polled with a generous deadline:

1. the threads table refreshes three times, has a row for every worker in
   WORKERS (comma-separated), some worker's ops/s is above 0, the log pane
   holds lines, all of THREAD's; the header names the instance
   (127.0.0.1:CACHE_PORT, in the title too) and its version, items, memory
   limit and hit ratio agree with "stats" on CACHE_PORT; no CPU reads
   "-0.0". Screenshot to PNG.
2. reloaded, the first paint already has the past: every chart has points,
   the ops chart as many as before the reload at least, and the header is
   filled. Screenshot to PNG_RELOAD.
3. at 480 px wide nothing overflows: no element reaches past the right
   edge and the page does not scroll sideways. Screenshot to PNG_480.
4. every level the menu offers is one /logs takes (200).
5. with the server's 16 log streams held by this script, the page says so.

Exit 0 when all of that held, 1 with the reason otherwise.

dashboard_check.py --shots CHROMIUM URL DIR takes the screenshots of docs/
instead (bench/dashboard-shots drives the traffic): DIR/dashboard-reload.png
at the first paint after a reload, DIR/dashboard.png 20 s later, both at
1280 px, and DIR/dashboard-480.png.
"""

import base64
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request

import websocket

DEADLINE = 30.0
STREAMS = 16
chromium_path = None


def devtools_port(profile, proc):
    path = os.path.join(profile, "DevToolsActivePort")
    end = time.monotonic() + DEADLINE
    while time.monotonic() < end:
        if proc.poll() is not None:
            sys.exit("chromium exited with %d" % proc.returncode)
        try:
            with open(path) as f:
                return int(f.readline())
        except (OSError, ValueError):
            time.sleep(0.1)
    sys.exit("chromium never opened its DevTools port")


class Page:
    def __init__(self, port):
        targets = json.load(urllib.request.urlopen(
            "http://127.0.0.1:%d/json/list" % port, timeout=10))
        url = [t for t in targets if t["type"] == "page"][0]
        self.ws = websocket.create_connection(
            url["webSocketDebuggerUrl"], timeout=10, suppress_origin=True)
        self.n = 0

    def call(self, method, **params):
        self.n += 1
        self.ws.send(json.dumps({"id": self.n, "method": method,
                                 "params": params}))
        while True:
            reply = json.loads(self.ws.recv())
            if reply.get("id") == self.n:
                if "error" in reply:
                    sys.exit("%s: %s" % (method, reply["error"]))
                return reply["result"]

    def eval(self, expr):
        r = self.call("Runtime.evaluate", expression=expr,
                      returnByValue=True)
        return r["result"].get("value")

    def shot(self, png, whole=False):
        """Save the viewport, or with whole the page's full height."""
        if png:
            extra = {}
            if whole:
                size = self.call("Page.getLayoutMetrics")["cssContentSize"]
                extra = {"captureBeyondViewport": True,
                         "clip": {"x": 0, "y": 0, "width": size["width"],
                                  "height": size["height"], "scale": 1}}
            s = self.call("Page.captureScreenshot", format="png", **extra)
            with open(png, "wb") as f:
                f.write(base64.b64decode(s["data"]))

    def until(self, what, test):
        """Poll test(state) until it returns None (done) or the deadline;
        it returns why it is not done yet."""
        end = time.monotonic() + DEADLINE
        why = "nothing yet"
        while time.monotonic() < end:
            s = self.eval(STATE) or {}
            why = test(s)
            if why is None:
                return s
            time.sleep(0.2)
        sys.exit("%s: never got there: %s" % (what, why))


STATE = """(function () {
  var t = document.getElementById("threads");
  var rows = Array.from(document.querySelectorAll("tr[id^=row-]"))
    .map(function (r) { return r.id.slice(4); });
  var ops = {}, cpu = {}, header = {}, points = {};
  rows.forEach(function (n) {
    var c = document.getElementById("ops-" + n);
    if (c) ops[n] = c.textContent;
    c = document.getElementById("cpu-" + n);
    if (c) cpu[n] = c.textContent;
  });
  document.querySelectorAll("#summary b").forEach(function (b) {
    header[b.id] = b.textContent;
  });
  var mem = document.getElementById("h-mem");
  header.used = mem.getAttribute("data-used");
  header.limit = mem.getAttribute("data-limit");
  document.querySelectorAll("canvas").forEach(function (c) {
    points[c.id] = Number(c.getAttribute("data-points"));
  });
  var logs = Array.from(document.querySelectorAll("#logs .line"))
    .map(function (d) { return d.textContent; });
  var w = document.documentElement.clientWidth, over = [];
  document.querySelectorAll("body *").forEach(function (e) {
    var r = e.getBoundingClientRect();
    if (r.width > 0 && r.right > w + 0.5 && !e.closest("#logs"))
      over.push(e.tagName + (e.id ? "#" + e.id : "") + " " + r.right);
  });
  var note = document.getElementById("log-note");
  return {refreshes: t ? Number(t.getAttribute("data-refreshes")) : 0,
          rows: rows, ops: ops, cpu: cpu, logs: logs, header: header,
          points: points, title: document.title,
          old: window.tlBeforeReload === true,
          samples: typeof hist === "object" && hist ? hist.samples.length : 0,
          levels: Array.from(document.getElementById("f-level").options)
            .map(function (o) { return o.value; }),
          width: w, scroll: document.documentElement.scrollWidth,
          over: over, note: note.textContent, noteClass: note.className};
})()"""


def stats(port):
    """memcached's "stats" on the cache port, as a dict."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(b"stats\r\n")
        data = b""
        while not data.endswith(b"END\r\n"):
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    out = {}
    for line in data.decode().split("\r\n"):
        f = line.split(" ")
        if len(f) == 3 and f[0] == "STAT":
            out[f[1]] = f[2]
    return out


def stream_open(host, port, level=None):
    """GET /logs on a socket of its own: the status and the socket."""
    s = socket.create_connection((host, port), timeout=10)
    path = "/logs" + ("?level=" + urllib.parse.quote(level) if level else "")
    s.sendall(("GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n" % path).encode())
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = s.recv(4096)
        if not chunk:
            break
        head += chunk
    m = re.match(rb"HTTP/1\.1 (\d+)", head)
    return (int(m.group(1)) if m else 0), s


def check_first(s, workers, thread, cache_port):
    """Why the first load is not yet as it should be; None when it is."""
    busy = [w for w in workers if s.get("ops", {}).get(w, "-") not in
            ("-", "0")]
    h = s.get("header", {})
    if s.get("refreshes", 0) < 3:
        return "refreshed %s times" % s.get("refreshes")
    if not all(w in s["rows"] for w in workers):
        return "rows %s" % s["rows"]
    if not busy:
        return "no worker busy: %s" % s["ops"]
    if not s["logs"]:
        return "no log lines"
    bad = [l for l in s["logs"] if (" %s " % thread) not in l]
    if bad:
        sys.exit("a line of another thread: %s" % bad)
    neg = [n for n, c in s["cpu"].items() if c.startswith("-")]
    if neg:
        sys.exit("a negative CPU: %s" % s["cpu"])
    instance = "127.0.0.1:%d" % cache_port
    if h.get("h-instance") != instance or instance not in s["title"]:
        sys.exit("instance %r, title %r, not %s" %
                 (h.get("h-instance"), s["title"], instance))
    st = stats(cache_port)
    if ("(memcached %s)" % st["version"]) not in h.get("h-version", ""):
        sys.exit("version %r, stats says %r" % (h.get("h-version"),
                                                st["version"]))
    if h.get("limit") != st["limit_maxbytes"]:
        sys.exit("limit %r, stats says %r" % (h.get("limit"),
                                              st["limit_maxbytes"]))
    if h.get("h-items") != st["curr_items"]:
        return "items %r, stats says %r" % (h.get("h-items"),
                                            st["curr_items"])
    hits, misses = int(st["get_hits"]), int(st["get_misses"])
    want = "%.1f%%" % (100.0 * hits / (hits + misses))
    if h.get("h-hit") != want:
        return "hit ratio %r, stats says %s" % (h.get("h-hit"), want)
    if not re.fullmatch(r"\d+", h.get("h-conns", "")) or \
            not re.fullmatch(r"[0-9.]+", h.get("h-evict", "")) or \
            not re.search(r"\d+s$|\d+m$|\d+h$", h.get("h-uptime", "")):
        return "header %s" % h
    return None


def check_reload(s, before):
    """The first paint after a reload: the past at once."""
    if s.get("old", True) or s.get("refreshes", 0) < 1:
        return "not painted yet"
    empty = [c for c, n in s["points"].items() if n == 0]
    if empty:
        sys.exit("charts without points after the reload: %s (%s)" %
                 (empty, s["points"]))
    if s["points"].get("chart", 0) < before:
        sys.exit("the ops chart has %d points after the reload, %d before" %
                 (s["points"].get("chart", 0), before))
    if any(v in ("", "\u2026") for v in s["header"].values()
           if isinstance(v, str)):
        sys.exit("header not filled at the first paint: %s" % s["header"])
    return None


def check_narrow(s):
    if s.get("width", 0) > 480:
        return "width %s" % s.get("width")
    if s.get("refreshes", 0) < 1:
        return "not painted"
    if s["over"] or s["scroll"] > s["width"]:
        sys.exit("at %d px: scrolls to %d, past the edge: %s" %
                 (s["width"], s["scroll"], s["over"][:10]))
    return None


def browser():
    profile = tempfile.mkdtemp(prefix="tl-chromium-")
    proc = subprocess.Popen(
        [chromium_path, "--headless=new", "--no-sandbox", "--disable-gpu",
         "--remote-debugging-port=0", "--remote-allow-origins=*",
         "--user-data-dir=" + profile, "--window-size=1280,1100",
         "about:blank"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return profile, proc


def shots(url, out):
    """The screenshots of docs/, of whatever traffic the server has."""
    profile, proc = browser()
    try:
        page = Page(devtools_port(profile, proc))
        page.call("Page.enable")
        page.call("Page.navigate", url=url)
        page.until("load", lambda s: None if s.get("refreshes", 0) >= 3
                   else "refreshed %s" % s.get("refreshes"))
        page.eval("window.tlBeforeReload = true")
        page.call("Page.reload")
        page.until("reload", lambda s: None if not s.get("old", True) and
                   s.get("refreshes", 0) >= 1 else "not painted")
        page.shot(os.path.join(out, "dashboard-reload.png"), True)
        # Then 20 s live, while the caller's next phase connects.
        end = time.monotonic() + 20
        while time.monotonic() < end:
            time.sleep(0.5)
        page.shot(os.path.join(out, "dashboard.png"), True)
        page.call("Emulation.setDeviceMetricsOverride", width=480,
                  height=1500, deviceScaleFactor=1, mobile=False)
        page.until("480 px", check_narrow)
        page.shot(os.path.join(out, "dashboard-480.png"), True)
        return 0
    finally:
        proc.kill()
        proc.wait()
        shutil.rmtree(profile, ignore_errors=True)


def main():
    global chromium_path
    if sys.argv[1] == "--shots":
        chromium_path = sys.argv[2]
        return shots(sys.argv[3], sys.argv[4])
    chromium, url, png, workers, thread, cache_port = sys.argv[1:7]
    chromium_path = chromium
    png_reload = sys.argv[7] if len(sys.argv) > 7 else None
    png_480 = sys.argv[8] if len(sys.argv) > 8 else None
    workers = workers.split(",")
    cache_port = int(cache_port)
    u = urllib.parse.urlsplit(url)
    admin = (u.hostname, u.port)
    profile, proc = browser()
    held = []
    try:
        page = Page(devtools_port(profile, proc))
        page.call("Page.enable")
        page.call("Page.navigate", url=url)
        s = page.until("first load", lambda s: check_first(
            s, workers, thread, cache_port))
        page.shot(png)
        before = s["points"]["chart"]
        page.eval("window.tlBeforeReload = true")
        page.call("Page.reload")
        page.until("reload", lambda s: check_reload(s, before))
        page.until("history", lambda s: None if s["refreshes"] >= 2 else
                   "refreshed %s" % s["refreshes"])
        page.shot(png_reload)

        page.call("Emulation.setDeviceMetricsOverride", width=480,
                  height=1400, deviceScaleFactor=1, mobile=False)
        page.until("480 px", check_narrow)
        page.shot(png_480)
        page.call("Emulation.clearDeviceMetricsOverride")

        for level in [l for l in s["levels"] if l]:
            code, sock = stream_open(*admin, level=level)
            sock.close()
            if code != 200:
                sys.exit("the menu's level %r: /logs answers %d" %
                         (level, code))

        # Hold every stream, the page's own closed and none reopened.
        page.eval("stream = function () {}; source.close()")
        end = time.monotonic() + DEADLINE
        while len(held) < STREAMS and time.monotonic() < end:
            code, sock = stream_open(*admin)
            if code == 200:
                held.append(sock)
            else:
                sock.close()
                time.sleep(0.5)
        if len(held) < STREAMS:
            sys.exit("held only %d log streams" % len(held))
        page.call("Page.reload")
        page.until("/logs full", lambda s: None if s.get("noteClass") == "full"
                   and "%d log streams" % STREAMS in s.get("note", "") else
                   "note %r" % s.get("note"))
        print(json.dumps(s)[:2000])
        return 0
    finally:
        for sock in held:
            sock.close()
        proc.kill()
        proc.wait()
        shutil.rmtree(profile, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
