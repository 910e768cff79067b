#!/usr/bin/python3
"""On a Prometheus that scrapes threadlined (its API on 127.0.0.1:PORT,
and the shipped alert rules loaded): every query of the Grafana dashboard
answers with at least one series, and every rule is evaluated and
healthy. Usage: grafana_queries.py DASHBOARD.json PORT. Polls until a
deadline, as series arrive with the scrapes."""
import json
import re
import sys
import time
import urllib.parse
import urllib.request

dash, port = sys.argv[1], sys.argv[2]
api = "http://127.0.0.1:%s/api/v1/" % port


def get(path):
    with urllib.request.urlopen(api + path, timeout=5) as r:
        return json.load(r)


def fill(expr):
    """Grafana's variables: a window of a few 1 s scrapes, every
    instance."""
    expr = expr.replace("$__rate_interval", "5s")
    return re.sub(r"\$\{?(\w+)\}?", ".+", expr)


pending = {}
for p in json.load(open(dash))["panels"]:
    for t in p.get("targets", []):
        pending["%s/%s" % (p["title"], t["refId"])] = fill(t["expr"])
total = len(pending)
deadline = time.time() + 25
while True:
    for k, e in list(pending.items()):
        r = get("query?query=" + urllib.parse.quote(e))
        assert r["status"] == "success", (k, e, r)
        if r["data"]["result"]:
            del pending[k]
    rules = [r for g in get("rules")["data"]["groups"] for r in g["rules"]]
    unevaluated = [r["name"] for r in rules
                   if r["health"] != "ok" or r["lastEvaluation"] <
                   "2000"]
    bad = [(r["name"], r.get("lastError")) for r in rules
           if r["health"] == "err"]
    assert not bad, bad
    if not pending and rules and not unevaluated:
        break
    if time.time() > deadline:
        sys.exit("no series for: %s; rules not evaluated: %s (of %d)"
                 % (pending, unevaluated, len(rules)))
    time.sleep(0.5)
print("%d queries with series, %d rules healthy" % (total, len(rules)))
