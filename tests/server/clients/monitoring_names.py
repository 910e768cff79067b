#!/usr/bin/python3
"""Every metric the shipped Grafana dashboard and alert rules query must be
on /metrics. Usage: monitoring_names.py DASHBOARD.json RULES.yml METRICS
GRAFANA_RULES_OUT. Checks the dashboard's shape (unique panel ids, every
query with a refId and an expression on the ${datasource} variable),
extracts the metric names from every expression (Grafana's and the
rules'), and fails naming those the scrape METRICS lacks. It writes each
Grafana expression, its variables filled in, as a recording rule to
GRAFANA_RULES_OUT, so that promtool check rules parses them too."""
import json
import re
import sys

import yaml

# PromQL's words that look like names but are not metrics.
KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right",
            "and", "or", "unless", "bool", "offset", "inf", "nan"}


def fill(expr):
    """Grafana's variables as Prometheus would get them."""
    expr = expr.replace("$__rate_interval", "1m").replace("$__interval", "1m")
    return re.sub(r"\$\{?(\w+)\}?", ".+", expr)


def names(expr):
    """The metric names of a PromQL expression."""
    e = re.sub(r'"(\\.|[^"\\])*"', '""', fill(expr))
    e = re.sub(r"\{[^}]*\}", " ", e)
    e = re.sub(r"\[[^\]]*\]", " ", e)
    e = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*"
               r"\([^)]*\)", " ", e)
    found = set()
    for m in re.finditer(r"(?<![\w.])[a-zA-Z_:][a-zA-Z0-9_:]*", e):
        word = m.group(0)
        if word.lower() in KEYWORDS or re.match(r"\s*\(", e[m.end():]):
            continue
        found.add(word)
    return found


def dashboard_exprs(path):
    d = json.load(open(path))
    ids, exprs = set(), []
    assert d.get("title") and d.get("uid"), "dashboard without title or uid"
    variables = {v["name"] for v in d["templating"]["list"]}
    assert {"datasource", "instance"} <= variables, variables
    for p in d["panels"]:
        assert p["id"] not in ids, "panel id %d twice" % p["id"]
        ids.add(p["id"])
        assert {"h", "w", "x", "y"} <= set(p["gridPos"]), p["title"]
        if p["type"] == "row":
            continue
        assert p["datasource"]["uid"] == "${datasource}", p["title"]
        assert p["targets"], "panel %s has no query" % p["title"]
        refs = [t["refId"] for t in p["targets"]]
        assert len(set(refs)) == len(refs), p["title"]
        for t in p["targets"]:
            assert t["expr"].strip(), p["title"]
            assert 'instance=~"$instance"' in t["expr"], \
                "%s: %s ignores $instance" % (p["title"], t["expr"])
            exprs.append(("%s/%s" % (p["title"], t["refId"]), t["expr"]))
    for v in d["templating"]["list"]:
        if v["type"] == "query":
            exprs.append(("variable " + v["name"], v["query"]["query"]))
    return exprs


def rule_exprs(path):
    exprs = []
    for g in yaml.safe_load(open(path))["groups"]:
        for r in g["rules"]:
            exprs.append((r.get("alert") or r.get("record"), r["expr"]))
    return exprs


def main():
    dash, rules, metrics, out = sys.argv[1:5]
    scraped = set()
    for line in open(metrics):
        if line.strip() and not line.startswith("#"):
            scraped.add(re.match(r"[a-zA-Z_:][a-zA-Z0-9_:]*", line).group(0))
    grafana = dashboard_exprs(dash)
    alerts = rule_exprs(rules)
    assert len(alerts) >= 5, alerts
    missing, used = [], set()
    for where, expr in grafana + alerts:
        # label_values(metric, label) is Grafana's, not PromQL.
        m = re.match(r"label_values\((\w+),", expr)
        found = {m.group(1)} if m else names(expr)
        assert found, "%s: no metric in %s" % (where, expr)
        used |= found
        missing += ["%s: %s" % (where, n) for n in found - scraped]
    if missing:
        sys.exit("not on /metrics:\n  " + "\n  ".join(missing))
    rules_out = [{"record": "grafana:expr_%d" % i, "expr": fill(e)}
                 for i, (_, e) in enumerate(grafana)
                 if not e.startswith("label_values(")]
    yaml.safe_dump({"groups": [{"name": "grafana", "rules": rules_out}]},
                   open(out, "w"))
    print("%d expressions, %d metrics, all on /metrics: %s"
          % (len(grafana) + len(alerts), len(used), " ".join(sorted(used))))


main()
