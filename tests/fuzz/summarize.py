"""Summarises one tests/fuzz/run.sh run and decides the verdict (exit 0 = clean, 1 = problem).

Reads, in the run's output directory:
- requests.jsonl: every HTTP exchange graphqler made (written by graphqler_recorded.py);
- graphqler/compiled/introspection_result.json: the schema's queries and mutations;
- graphqler/pass*/stats.txt: graphqler's own status-code counts;
- server.log: the server's JSON log (LOG_FORMAT=json, tower_http=debug) plus its stderr;
- metrics.txt: /metrics scraped just before the server was stopped.
Problems: server died, /healthz stopped answering, any 5xx (graphqler side, server log or
metrics), any INTERNAL_SERVER_ERROR code in a response, an "internal error" or a panic in the log.
"""

import argparse
import collections
import json
import re
import sys
from pathlib import Path

from graphql import parse
from graphql.language import ast as gast


def top_level_fields(body):
    """(operation type, [top-level field names]) of a recorded request body, or (None, [])."""
    try:
        query = json.loads(body).get("query") or ""
        doc = parse(query)
    except Exception:
        return None, []
    for d in doc.definitions:
        if isinstance(d, gast.OperationDefinitionNode):
            names = [s.name.value for s in d.selection_set.selections if isinstance(s, gast.FieldNode)]
            return d.operation.value, names
    return None, []


def schema_operations(out):
    path = out / "graphqler" / "compiled" / "introspection_result.json"
    try:
        schema = json.loads(path.read_text())["data"]["__schema"]
    except Exception:
        return {}, {}
    types = {t["name"]: t for t in schema["types"]}
    ops = {}
    for kind, key in (("query", "queryType"), ("mutation", "mutationType")):
        root = schema.get(key)
        if root:
            ops[kind] = sorted(f["name"] for f in types[root["name"]]["fields"] or [])
    return ops.get("query", []), ops.get("mutation", [])


def graphqler_stats(out):
    """Sum of the status-code tables in every pass's stats.txt."""
    total = collections.Counter()
    for stats in sorted((out / "graphqler").glob("pass*/stats.txt")):
        text = stats.read_text()
        m = re.search(r"=+HTTP Status Codes=+\n(.*?)\n=+Successful Nodes", text, re.S)
        if not m:
            continue
        try:
            table = json.loads(m.group(1))
        except json.JSONDecodeError:
            continue
        for code, per_node in table.items():
            total[str(code)] += sum(per_node.values())
    return total


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("--alive", type=int, required=True)
    ap.add_argument("--healthy", type=int, required=True)
    ap.add_argument("--passes", type=int, default=0)
    ap.add_argument("--seconds", type=int, default=0)
    a = ap.parse_args()
    out = a.out
    problems = []

    # ---- graphqler's side: every exchange it made ----
    exchanges = []
    req_log = out / "requests.jsonl"
    if req_log.exists():
        for line in req_log.read_text(encoding="utf-8", errors="replace").splitlines():
            try:
                exchanges.append(json.loads(line))
            except json.JSONDecodeError:
                pass
    by_status = collections.Counter(str(e["status"]) for e in exchanges)
    sent = collections.defaultdict(collections.Counter)  # kind -> field -> requests
    ok = collections.defaultdict(set)  # kind -> fields that returned data without errors
    bad = []
    codes = collections.Counter()  # GraphQL error codes in the responses
    for e in exchanges:
        kind, fields = top_level_fields(e.get("request") or "")
        for f in fields:
            sent[kind or "?"][f] += 1
        resp = e.get("response") or ""
        try:
            body = json.loads(resp)
        except json.JSONDecodeError:
            body = None
        if isinstance(body, dict):
            for err in body.get("errors") or []:
                code = ((err or {}).get("extensions") or {}).get("code") if isinstance(err, dict) else None
                codes[code or "(no code)"] += 1
        if isinstance(body, dict) and e["status"] == 200 and not body.get("errors") and isinstance(body.get("data"), dict):
            for f in fields:
                if body["data"].get(f) is not None:
                    ok[kind or "?"].add(f)
        if e["status"] >= 500 or "INTERNAL_SERVER_ERROR" in resp:
            bad.append(e)

    queries, mutations = schema_operations(out)
    introspection = sum(1 for e in exchanges if "__schema" in (e.get("request") or ""))

    # ---- the server's own log ----
    srv_status = collections.Counter()
    srv_bad = []
    srv_lines = 0
    log_path = out / "server.log"
    for raw in (log_path.read_text(encoding="utf-8", errors="replace").splitlines() if log_path.exists() else []):
        srv_lines += 1
        try:
            rec = json.loads(raw)
        except json.JSONDecodeError:
            rec = None
        if rec is None:  # stderr (a panic message, a startup error)
            if "panicked" in raw or "INTERNAL_SERVER_ERROR" in raw or "internal error" in raw:
                srv_bad.append(raw)
            continue
        fields = rec.get("fields") or {}
        msg = str(fields.get("message", ""))
        status = fields.get("status")
        if msg == "finished processing request" and status is not None:
            try:
                srv_status[str(int(status))] += 1
            except (TypeError, ValueError):
                srv_status[str(status)] += 1
        try:
            status_int = int(status) if status is not None else 0
        except (TypeError, ValueError):
            status_int = 0
        if (
            status_int >= 500
            or msg == "response failed"
            or msg == "internal error"
            or "INTERNAL_SERVER_ERROR" in raw
            or "panicked" in raw
        ):
            srv_bad.append(raw)

    # ---- /metrics, as a third count ----
    metrics_status = collections.Counter()
    metrics_path = out / "metrics.txt"
    if metrics_path.exists():
        for line in metrics_path.read_text().splitlines():
            m = re.match(r'evenntify_http_requests_total\{[^}]*status="(\d+)"[^}]*\}\s+([0-9.e+]+)', line)
            if m:
                metrics_status[m.group(1)] += int(float(m.group(2)))

    gq_stats = graphqler_stats(out)

    # ---- verdict ----
    if not a.alive:
        problems.append("the server process died during the run")
    if not a.healthy:
        problems.append("/healthz did not answer after the run")
    if not exchanges:
        problems.append("graphqler sent no requests (see graphqler*.out)")
    if bad:
        problems.append(f"{len(bad)} response(s) to graphqler were 5xx or carried INTERNAL_SERVER_ERROR")
    if srv_bad:
        problems.append(f"{len(srv_bad)} server log line(s) show a 5xx, an internal error or a panic")
    for source, counts in (("graphqler stats.txt", gq_stats), ("server /metrics", metrics_status), ("server log", srv_status)):
        fives = sum(n for code, n in counts.items() if code.isdigit() and int(code) >= 500)
        if fives:
            problems.append(f"{source} counts {fives} 5xx response(s)")

    def fmt(counter):
        return ", ".join(f"{k}: {v}" for k, v in sorted(counter.items())) or "none"

    p = print
    p("")
    p("==== graphqler fuzz summary ====")
    p(f"graphqler: {a.passes} fuzz pass(es) in {a.seconds}s; {len(exchanges)} HTTP requests "
      f"({introspection} introspection), by status: {fmt(by_status)}")
    p(f"GraphQL error codes in those responses: {fmt(codes)}")
    p(f"graphqler stats.txt (first attempts only, no retries): {fmt(gq_stats)}")
    p(f"server log (every HTTP response, incl. run.sh's own setup calls): {fmt(srv_status)}")
    p(f"server /metrics evenntify_http_requests_total: {fmt(metrics_status)}")
    for kind, names in (("query", queries), ("mutation", mutations)):
        hit = sent.get(kind, {})
        p(f"{kind} fields covered: {sum(1 for n in names if n in hit)}/{len(names)}; "
          f"answered without errors: {sum(1 for n in names if n in ok.get(kind, set()))}/{len(names)}")
        p("  " + ", ".join(f"{n}×{hit[n]}{'' if n in ok.get(kind, set()) else ' (always errors)'}" for n in names if n in hit))
        missed = [n for n in names if n not in hit]
        if missed:
            p("  never sent: " + ", ".join(missed))
    for e in bad[:10]:
        p(f"  5xx/INTERNAL_SERVER_ERROR: status {e['status']}; request: {e.get('request')}; response: {(e.get('response') or '')[:300]}")
    for line in srv_bad[:10]:
        p(f"  server log: {line[:600]}")
    if problems:
        p("VERDICT: FAIL — " + "; ".join(problems))
        p(f"details: {out}")
        return 1
    p("VERDICT: PASS — no 5xx, no INTERNAL_SERVER_ERROR, server alive and /healthz answering")
    p(f"details: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
