"""Runs graphqler (`python -m graphqler …`, same arguments) with every HTTP exchange recorded.

graphqler's own stats.txt counts status codes only for the first attempt of each node (its
retries are not counted) and its log does not tie a status to the exact body that was sent.
This wrapper adds a `requests` response hook to graphqler's HTTP session that appends one JSON
line per exchange to $FUZZ_REQUEST_LOG: status, the request body exactly as sent, and the start
(up to 200 kB) of the response. It also skips graphqler's 1200-dpi PNG of the dependency graph (slow, unused)
unless FUZZ_DRAW_GRAPH=1. And it teaches graphqler 2.1.9 the one custom scalar it does not
know, `Cents` (a signed 64-bit integer): graphqler raises "This custom scalar is supported at this
time" for it and never sends createEvent or topUpWallet; here it gets graphqler's own random
`Long` instead. Nothing else about graphqler changes.
"""

import json
import os
import runpy
import sys
import time

import graphqler.utils.request_utils as request_utils

LOG = os.environ.get("FUZZ_REQUEST_LOG")
_original_create_new_session = request_utils.create_new_session


def _record(response, *args, **kwargs):
    if not LOG:
        return response
    body = response.request.body
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    try:
        text = response.text
    except Exception as exc:  # pragma: no cover - diagnostics only
        text = f"<unreadable: {exc}>"
    line = {
        "t": time.time(),
        "pid": os.getpid(),
        "method": response.request.method,
        "url": response.request.url,
        "status": response.status_code,
        "request": body,
        "response": text[:200_000],
    }
    # One short append per exchange; graphqler fuzzes in a forked child process.
    with open(LOG, "a", encoding="utf-8") as f:
        f.write(json.dumps(line) + "\n")
    return response


def _create_new_session():
    session = _original_create_new_session()
    session.hooks.setdefault("response", []).append(_record)
    return session


request_utils.create_new_session = _create_new_session

if os.environ.get("FUZZ_DRAW_GRAPH") != "1":
    from graphqler.graph import GraphGenerator

    GraphGenerator.draw_dependency_graph = lambda self, *a, **k: None

# Custom scalars graphqler cannot generate → a scalar it can (its own generators).
SCALAR_ALIASES = {"Cents": "Long"}
import graphqler.fuzzer.fengine.materializers.materializer as materializer  # noqa: E402

_original_get_random_scalar = materializer.get_random_scalar


def _get_random_scalar(input_name, scalar_type, objects_bucket):
    return _original_get_random_scalar(input_name, SCALAR_ALIASES.get(scalar_type, scalar_type), objects_bucket)


materializer.get_random_scalar = _get_random_scalar

sys.argv = ["graphqler", *sys.argv[1:]]
runpy.run_module("graphqler", run_name="__main__", alter_sys=True)
