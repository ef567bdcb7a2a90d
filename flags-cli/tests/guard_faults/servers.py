"""Small metrics servers that misbehave on purpose, for the guard's
fault-injection tests: a bot's `/metrics` (the exposition flags-core
writes, counters advancing on every scrape) that can drop, spoil or cut
what it sends, and a Prometheus query API that answers from a table.
Each runs in a thread of the test process on 127.0.0.1.
"""

from __future__ import annotations

import json
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from e2e_support import send_body  # noqa: E402

BOUNDS = ["0.025", "0.05", "0.1", "0.25", "0.5", "1.0", "2.0", "5.0", "10.0", "30.0"]


class Cohort:
    def __init__(self, ok=0.0, errors=0.0, slow=0.0):
        self.ok, self.errors, self.slow = ok, errors, slow


class FakeBot:
    """One bot process exporting flag `gpt`. Each scrape first adds `step`
    (on_ok, on_err, off_ok, off_err, on_slow, off_slow) to the counters.
    `spoil(n, lines) -> lines` edits scrape n's lines (n from 1); `cut(n)`
    says whether scrape n is sent without Content-Length and cut off in
    the middle of its last number."""

    def __init__(self, step: dict, start_errors: float = 0.0, memory: float = 2e8):
        self.step = step
        self.on = Cohort(errors=start_errors)
        self.off = Cohort()
        self.complaints = 0.0
        self.memory = memory
        self.start_time = 1.7e9
        self.scrapes = 0
        self.spoil = None
        self.cut = None
        self.lock = threading.Lock()
        self.server = serve(self._handler())
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/metrics"

    def restart(self) -> None:
        """A new process: every counter from zero, a new start time."""
        with self.lock:
            self.on, self.off = Cohort(), Cohort()
            self.complaints = 0.0
            self.start_time += 1000

    def _advance(self) -> None:
        s = self.step
        self.on.ok += s.get("on_ok", 0)
        self.on.errors += s.get("on_err", 0)
        self.on.slow += s.get("on_slow", 0)
        self.off.ok += s.get("off_ok", 0)
        self.off.errors += s.get("off_err", 0)
        self.off.slow += s.get("off_slow", 0)

    def lines(self) -> list[str]:
        out = ["# TYPE feature_flags_outcomes_total counter"]
        for name, c in (("on", self.on), ("off", self.off)):
            out.append(f'feature_flags_outcomes_total{{flag="gpt",cohort="{name}",result="ok"}} {c.ok}')
            out.append(f'feature_flags_outcomes_total{{flag="gpt",cohort="{name}",result="error"}} {c.errors}')
        out.append("# TYPE feature_flags_outcome_duration_seconds histogram")
        for name, c in (("on", self.on), ("off", self.off)):
            total = c.ok + c.errors
            for i, le in enumerate(BOUNDS):
                # Fast answers take 0.2 s, slow ones 7 s.
                n = 0.0 if i < 3 else (total - c.slow if i < 8 else total)
                out.append(f'feature_flags_outcome_duration_seconds_bucket{{flag="gpt",cohort="{name}",le="{le}"}} {n}')
            out.append(f'feature_flags_outcome_duration_seconds_bucket{{flag="gpt",cohort="{name}",le="+Inf"}} {total}')
            out.append(f'feature_flags_outcome_duration_seconds_count{{flag="gpt",cohort="{name}"}} {total}')
        out.append(f'feature_flags_complaints_total{{flag="gpt"}} {self.complaints}')
        out.append(f"process_resident_memory_bytes {self.memory}")
        out.append(f"process_start_time_seconds {self.start_time}")
        return out

    def _handler(self):
        bot = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802
                with bot.lock:
                    bot.scrapes += 1
                    n = bot.scrapes
                    bot._advance()
                    lines = bot.lines()
                    if bot.spoil:
                        lines = bot.spoil(n, lines)
                    cut = bool(bot.cut and bot.cut(n))
                body = ("\n".join(lines) + "\n").encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4")
                if cut:
                    # No Content-Length: the reply ends where the
                    # connection does, in the middle of the last number.
                    body = body[: body.rstrip(b"\n").rfind(b" ") + 2]
                else:
                    self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        return Handler

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class FakePrometheus:
    """Answers `/api/v1/query` from `answer(query) -> list of (labels,
    value)`; every other path is 404."""

    def __init__(self, answer):
        self.answer = answer
        self.queries: list[str] = []
        prom = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802
                url = urllib.parse.urlparse(self.path)
                if url.path != "/api/v1/query":
                    self.send_error(404)
                    return
                query = urllib.parse.parse_qs(url.query).get("query", [""])[0]
                prom.queries.append(query)
                now = time.time()
                result = [{"metric": labels, "value": [now, value]} for labels, value in prom.answer(query)]
                send_body(self, json.dumps({"status": "success",
                                            "data": {"resultType": "vector", "result": result}}).encode())

            def log_message(self, *args):
                pass

        self.server = serve(Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def healthy_prometheus(query: str, buckets: bool = True, off: int = 1000) -> list[tuple[dict, str]]:
    """A fleet of two healthy bots at 600 MB each, as Prometheus sums it:
    1000 `on` outcomes (1 % errors) and `off` ones in the window."""
    if query.startswith("max(timestamp("):
        return [({}, str(time.time()))]
    if "by (flag, cohort, result)" in query:
        return [({"flag": "gpt", "cohort": c, "result": r}, str(v * n / 1000))
                for c, n in (("on", 1000), ("off", off)) for r, v in (("ok", 990), ("error", 10))]
    if "by (flag, cohort, le)" in query:
        if not buckets:
            return []
        return [({"flag": "gpt", "cohort": c, "le": le}, "0" if i < 3 else str(n))
                for c, n in (("on", 1000), ("off", off)) for i, le in enumerate(BOUNDS + ["+Inf"])]
    if "feature_flags_complaints_total" in query:
        return [({"flag": "gpt"}, "0")]
    if "process_resident_memory_bytes" in query:
        return [({"instance": f"bot{i}:9100"}, "6e8") for i in range(2)]
    if query.startswith("sum(increase("):
        return [({}, "1000")]
    return []


def serve(handler) -> ThreadingHTTPServer:
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server
