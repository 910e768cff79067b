#!/usr/bin/python3
"""Load the admin dashboard in headless Chromium and check its DOM.

dashboard_check.py CHROMIUM URL PNG WORKERS THREAD

Chromium runs headless with its DevTools protocol on a local port; this
script opens URL (the dashboard, with ?thread=THREAD), waits (30 s at most)
until the threads table has refreshed three times, has a row for every
worker in WORKERS (comma-separated), shows some worker's ops/s above 0
(the test drives traffic meanwhile), and the log pane holds lines, all of
THREAD's (the filter works); then it saves a screenshot to PNG. Exit 0
when all of that held, 1 with the reason otherwise.
"""

import base64
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request

import websocket

DEADLINE = 30.0


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


STATE = """(function () {
  var t = document.getElementById("threads");
  var rows = Array.from(document.querySelectorAll("tr[id^=row-]"))
    .map(function (r) { return r.id.slice(4); });
  var ops = {};
  rows.forEach(function (n) {
    var c = document.getElementById("ops-" + n);
    if (c) ops[n] = c.textContent;
  });
  var logs = Array.from(document.getElementById("logs").childNodes)
    .map(function (d) { return d.textContent; });
  return {refreshes: t ? Number(t.getAttribute("data-refreshes")) : 0,
          rows: rows, ops: ops, logs: logs};
})()"""


def main():
    chromium, url, png, workers, thread = sys.argv[1:6]
    workers = workers.split(",")
    profile = tempfile.mkdtemp(prefix="tl-chromium-")
    proc = subprocess.Popen(
        [chromium, "--headless=new", "--no-sandbox", "--disable-gpu",
         "--remote-debugging-port=0", "--remote-allow-origins=*",
         "--user-data-dir=" + profile, "--window-size=1280,900",
         "about:blank"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        page = Page(devtools_port(profile, proc))
        page.call("Page.enable")
        page.call("Page.navigate", url=url)
        end = time.monotonic() + DEADLINE
        why = "nothing yet"
        while time.monotonic() < end:
            s = page.eval(STATE) or {}
            busy = [w for w in workers
                    if s.get("ops", {}).get(w, "-") not in ("-", "0")]
            if s.get("refreshes", 0) < 3:
                why = "refreshed %s times" % s.get("refreshes")
            elif not all(w in s["rows"] for w in workers):
                why = "rows %s" % s["rows"]
            elif not busy:
                why = "no worker busy: %s" % s["ops"]
            elif not s["logs"]:
                why = "no log lines"
            elif not all((" %s " % thread) in l for l in s["logs"]):
                sys.exit("a line of another thread: %s" % s["logs"])
            else:
                shot = page.call("Page.captureScreenshot", format="png")
                with open(png, "wb") as f:
                    f.write(base64.b64decode(shot["data"]))
                print(json.dumps(s)[:2000])
                return 0
            time.sleep(0.2)
        sys.exit("the dashboard never got there: " + why)
    finally:
        proc.kill()
        proc.wait()
        shutil.rmtree(profile, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
