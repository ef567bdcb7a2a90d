"""End to end: alerts from the guard reach people, once.

Real processes on loopback, started by the test on free ports: a bot
(../guard_e2e/bot.py: the `feature_flags` package with synthetic traffic),
the `feature_flags` binary (guard and CLI), Prometheus evaluating
examples/prometheus/rules.yml and alerts.yml, and Alertmanager (Debian's
`prometheus-alertmanager`) with examples/alertmanager/alertmanager.yml and
its templates. Only the outside world is swapped: the Slack webhook URL
points at an HTTP receiver in this test, the SMTP smarthost at an SMTP
receiver in this test; timings are shortened (scrapes and evaluations every
second, `for:` durations a tenth, group waits and intervals 1-2 s) so that
every wait stays bounded.

Run by scripts/test.sh with the project's virtualenv:
    FEATURE_FLAGS_BIN=target/debug/feature_flags python -m pytest flags-cli/tests/alerts_e2e
"""

from __future__ import annotations

import email
import email.policy
import http.server
import json
import re
import shutil
import socketserver
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
from e2e_support import (  # noqa: E402, F401
    BIN, PROMETHEUS, ROOT, free_port, require, send_body, start_prometheus, stop, wait_for)

BOT = HERE.parent / "guard_e2e" / "bot.py"
ALERTMANAGER = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager") or "/usr/bin/prometheus-alertmanager"
RULES = ROOT / "examples" / "prometheus"
AM_EXAMPLE = ROOT / "examples" / "alertmanager"

GUARD_JOB = "feature-flags-guard"
MAX_BODY = 1 << 20  # a notification larger than this is a failure, not a memory cost
ROLLOUT_ALERTS = ("FeatureFlagRolloutErrorRate", "FeatureFlagRolloutSlow", "FeatureFlagComplaints")


def get(url: str, timeout: float = 5) -> str:
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.read(MAX_BODY).decode()


def reachable(url: str) -> bool:
    try:
        get(url, timeout=2)
        return True
    except OSError:
        return False


def sample(text: str, name: str, **labels: str) -> float | None:
    """One sample's value from a text exposition, by name and some labels."""
    for line in text.splitlines():
        if not line.startswith(name + "{") and not line.startswith(name + " "):
            continue
        if all(f'{k}="{v}"' in line for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return None


def humanize_percentage(v: float) -> str:
    """Prometheus' humanizePercentage: %.4g of the value times 100."""
    return f"{v * 100:.4g}%"


# ---- the outside world: Slack and SMTP, as receivers in this process -------


class Inbox:
    """What Alertmanager delivered: Slack webhook posts and emails."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.slack: list[dict] = []
        self.mails: list[email.message.EmailMessage] = []

    def slack_messages(self) -> list[dict]:
        """Each Slack post's attachment (title, text, color)."""
        with self.lock:
            return [a for post in self.slack for a in post.get("attachments", [])]

    def emails(self) -> list[tuple[str, str]]:
        with self.lock:
            mails = list(self.mails)
        return [(str(m["Subject"]), m.get_body(preferencelist=("plain",)).get_content()) for m in mails]


class SlackHandler(http.server.BaseHTTPRequestHandler):
    def do_POST(self) -> None:  # noqa: N802 (the stdlib's name)
        length = int(self.headers.get("Content-Length", "0"))
        if not 0 < length <= MAX_BODY:
            self.send_error(413)
            return
        body = json.loads(self.rfile.read(length))
        with self.server.inbox.lock:
            self.server.inbox.slack.append(body)
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args) -> None:
        pass


class SMTPHandler(socketserver.StreamRequestHandler):
    """Just enough SMTP for Alertmanager's email notifier: no TLS, no AUTH
    advertised (so it sends without either), one message per DATA."""

    timeout = 10

    def reply(self, line: str) -> None:
        self.wfile.write(line.encode() + b"\r\n")

    def handle(self) -> None:
        self.reply("220 localhost test SMTP")
        while True:
            line = self.rfile.readline(4096)
            if not line:
                return
            verb = line[:4].upper()
            if verb == b"EHLO":
                self.wfile.write(b"250-localhost\r\n250 8BITMIME\r\n")
            elif verb in (b"HELO", b"MAIL", b"RCPT", b"RSET", b"NOOP"):
                self.reply("250 OK")
            elif verb == b"DATA":
                self.reply("354 go ahead")
                data, size = [], 0
                while True:
                    chunk = self.rfile.readline(MAX_BODY)
                    size += len(chunk)
                    if not chunk or size > MAX_BODY:
                        return
                    if chunk in (b".\r\n", b".\n"):
                        break
                    data.append(chunk[1:] if chunk.startswith(b"..") else chunk)
                message = email.message_from_bytes(b"".join(data), policy=email.policy.default)
                with self.server.inbox.lock:
                    self.server.inbox.mails.append(message)
                self.reply("250 OK queued")
            elif verb == b"QUIT":
                self.reply("221 bye")
                return
            else:
                self.reply("502 not implemented")


class ThreadingHTTP(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True


class ThreadingTCP(socketserver.ThreadingMixIn, socketserver.TCPServer):
    daemon_threads = True
    allow_reuse_address = True


# ---- a guard's /metrics without the guard: for the rules and routes alone ---


class FakeGuard(http.server.BaseHTTPRequestHandler):
    """Serves `self.server.text()` at /metrics."""

    def do_GET(self) -> None:  # noqa: N802
        send_body(self, self.server.text().encode(), "text/plain; version=0.0.4")

    def log_message(self, *args) -> None:
        pass


def fake_guard_metrics(actions: dict[tuple[str, str, str], int], rollback: dict[tuple[str, str], tuple[float, float]]) -> str:
    """The guard's new action and rollback families, as it exports them:
    every (flag, action, trigger) from the first check, the last rollback's
    reading and threshold per (flag, trigger)."""
    lines = ["# TYPE feature_flags_guard_actions_total counter"]
    for (flag, action, trigger), n in sorted(actions.items()):
        lines.append(f'feature_flags_guard_actions_total{{flag="{flag}",action="{action}",trigger="{trigger}"}} {n}')
    lines.append("# TYPE feature_flags_guard_rollback_value gauge")
    for (flag, trigger), (value, _) in sorted(rollback.items()):
        lines.append(f'feature_flags_guard_rollback_value{{flag="{flag}",trigger="{trigger}"}} {value}')
    lines.append("# TYPE feature_flags_guard_rollback_threshold gauge")
    for (flag, trigger), (_, threshold) in sorted(rollback.items()):
        lines.append(f'feature_flags_guard_rollback_threshold{{flag="{flag}",trigger="{trigger}"}} {threshold}')
    lines.append("# TYPE feature_flags_guard_last_check_timestamp_seconds gauge")
    lines.append(f"feature_flags_guard_last_check_timestamp_seconds {time.time():.3f}")
    return "\n".join(lines) + "\n"


def every_action(flags: list[str]) -> dict[tuple[str, str, str], int]:
    actions = {}
    for flag in flags:
        actions[(flag, "advanced", "none")] = 0
        actions[(flag, "done", "none")] = 0
        for trigger in ("error_rate", "response_time", "memory_usage", "complaints"):
            actions[(flag, "rolled_back", trigger)] = 0
    return actions


# ---- the stack ----------------------------------------------------------------


def shortened_alerts(folder: Path) -> Path:
    """alerts.yml with every `for:` a tenth as long, at least 5 s (the
    rollback alert's wait for the bots to reload and be scraped): the
    expressions, labels and annotations are the ones under test."""
    text = (RULES / "alerts.yml").read_text()

    def tenth(m: re.Match) -> str:
        n, unit = int(m.group(2)), m.group(3)
        seconds = n * {"s": 1, "m": 60, "h": 3600}[unit]
        return f"{m.group(1)}{max(5, seconds // 10)}s"

    text, count = re.subn(r"^(\s+for: )(\d+)([smh])$", tenth, text, flags=re.M)
    assert count >= 3, "alerts.yml has fewer `for:` than expected: update this test"
    path = folder / "alerts.yml"
    path.write_text(text)
    return path


def alertmanager_config_for_test(folder: Path, slack_url: str, smtp_port: int) -> Path:
    """examples/alertmanager/alertmanager.yml with the Slack webhook and the
    smarthost pointed at this test, no TLS or login, and 1-2 s groupings.
    Each replaced line must be there, or the test would silently test
    something else."""
    text = (AM_EXAMPLE / "alertmanager.yml").read_text()
    (folder / "templates").mkdir()
    for tmpl in (AM_EXAMPLE / "templates").iterdir():
        shutil.copy(tmpl, folder / "templates" / tmpl.name)
    for pattern, replacement in [
        (r"^  slack_api_url_file: .*$", f"  slack_api_url: {slack_url}"),
        (r"^  smtp_smarthost: .*$", f"  smtp_smarthost: 127.0.0.1:{smtp_port}"),
        (r"^  smtp_auth_username: .*\n", ""),
        (r"^  smtp_auth_password_file: .*\n", ""),
        (r"^  smtp_require_tls: true$", "  smtp_require_tls: false"),
    ]:
        text, n = re.subn(pattern, replacement, text, flags=re.M)
        assert n == 1, f"alertmanager.yml: {pattern!r} matched {n} times"
    text, n = re.subn(r"^(\s+group_wait: ).*$", r"\g<1>1s", text, flags=re.M)
    assert n >= 2
    text, n = re.subn(r"^(\s+group_interval: ).*$", r"\g<1>2s", text, flags=re.M)
    assert n >= 2
    path = folder / "alertmanager.yml"
    path.write_text(text)
    return path


class Stack:
    """Receivers, Alertmanager and Prometheus for one test; the bot and the
    guard (or its stand-in) are added by the test."""

    def __init__(self, tmp: Path):
        self.tmp = tmp
        self.procs: list[tuple[str, subprocess.Popen]] = []
        self.servers: list[socketserver.BaseServer] = []
        self.inbox = Inbox()
        self.bot_port = free_port()
        self.guard_port = free_port()
        self.flags = tmp / "flags.json"
        self.flags.write_text('{"version": 1, "flags": {"gpt": {"enabled": true, "rollout_percentage": 0}}}\n')
        self.control = tmp / "control.json"
        self.traffic(on_error=0.01, off_error=0.01)

    # -- processes

    def start(self, name: str, argv: list[str]) -> subprocess.Popen:
        log = open(self.tmp / f"{name}.log", "wb")
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
        self.procs.append((name, proc))
        return proc

    def serve(self, server: socketserver.BaseServer) -> None:
        server.inbox = self.inbox
        self.servers.append(server)
        threading.Thread(target=server.serve_forever, daemon=True).start()

    def log(self, name: str) -> str:
        path = self.tmp / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def close(self) -> None:
        for _, proc in reversed(self.procs):
            stop(proc)
        for server in self.servers:
            server.shutdown()
            server.server_close()

    def start_receivers_and_alerting(self) -> None:
        require(PROMETHEUS, "prometheus")
        require(ALERTMANAGER, "prometheus-alertmanager")
        slack = ThreadingHTTP(("127.0.0.1", 0), SlackHandler)
        self.serve(slack)
        smtp = ThreadingTCP(("127.0.0.1", 0), SMTPHandler)
        self.serve(smtp)

        am_port = free_port()
        am_config = alertmanager_config_for_test(self.tmp, f"http://127.0.0.1:{slack.server_address[1]}/slack", smtp.server_address[1])
        self.start("alertmanager", [
            ALERTMANAGER, f"--config.file={am_config}", f"--storage.path={self.tmp / 'am-data'}",
            f"--web.listen-address=127.0.0.1:{am_port}", "--cluster.listen-address=", "--log.level=warn",
        ])
        self.am = f"http://127.0.0.1:{am_port}"

        config = {
            "global": {"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"},
            "rule_files": [str(RULES / "rules.yml"), str(shortened_alerts(self.tmp))],
            "alerting": {"alertmanagers": [{"static_configs": [{"targets": [f"127.0.0.1:{am_port}"]}]}]},
            "scrape_configs": [
                {"job_name": "bot", "static_configs": [{"targets": [f"127.0.0.1:{self.bot_port}"]}]},
                {"job_name": GUARD_JOB, "static_configs": [{"targets": [f"127.0.0.1:{self.guard_port}"]}]},
            ],
        }
        # JSON is YAML.
        prometheus = start_prometheus(json.dumps(config), self.tmp)
        self.procs.append(("prometheus", prometheus.proc))
        self.prometheus = prometheus.url
        wait_for("Alertmanager to be ready", lambda: reachable(self.am + "/-/ready"), 30)

    def traffic(self, **control) -> None:
        tmp = self.control.with_suffix(".tmp")
        tmp.write_text(json.dumps({"rate": 1000, **control}))
        tmp.replace(self.control)

    def start_bot(self) -> None:
        self.start("bot", [sys.executable, str(BOT), "--flags", str(self.flags), "--flag", "gpt",
                           "--port", str(self.bot_port), "--control", str(self.control)])
        wait_for("the bot to serve /metrics", lambda: reachable(f"http://127.0.0.1:{self.bot_port}/metrics"), 30)

    def cli(self, *args: str) -> str:
        out = subprocess.run([BIN, "--file", str(self.flags), *args], capture_output=True, text=True, timeout=30)
        assert out.returncode == 0, out.stderr
        return out.stdout

    # -- Prometheus and Alertmanager, asked

    def query(self, expr: str) -> list[dict]:
        url = self.prometheus + "/api/v1/query?" + urllib.parse.urlencode({"query": expr})
        reply = json.loads(get(url))
        assert reply["status"] == "success", reply
        return reply["data"]["result"]

    def firing(self, alertname: str, **labels: str) -> bool:
        selector = ",".join([f'alertname="{alertname}"', 'alertstate="firing"', *(f'{k}="{v}"' for k, v in labels.items())])
        return bool(self.query(f"ALERTS{{{selector}}}"))

    def am_alerts(self) -> list[dict]:
        return json.loads(get(self.am + "/api/v2/alerts"))

    def quiet_period(self) -> None:
        """Long enough for anything Alertmanager still had to send: its
        groups flush every 2 s here."""
        time.sleep(5)

    def diagnostics(self) -> str:
        parts = [f"--- {name} log ---\n" + "\n".join(self.log(name).splitlines()[-30:]) for name, _ in self.procs]
        parts.append(f"--- Slack: {json.dumps(self.inbox.slack, indent=1)[:4000]}")
        parts.append(f"--- email: {self.inbox.emails()!r:.4000}")
        return "\n".join(parts)


@pytest.fixture
def stack(tmp_path):
    s = Stack(tmp_path)
    try:
        yield s
        # pytest shows a test's output only when it fails: the logs and
        # what arrived, for that case.
        print(s.diagnostics())
    finally:
        s.close()


# ---- what the notifications must say ---------------------------------------


def rollback_messages(inbox: Inbox, flag: str) -> tuple[list[dict], list[tuple[str, str]]]:
    slack = [m for m in inbox.slack_messages() if f"{flag} rolled back by the guard" in m.get("title", "")]
    mails = [m for m in inbox.emails() if f"{flag} rolled back by the guard" in m[0]]
    return slack, mails


def check_rollback_notification(stack: Stack, flag: str, trigger: str, value: str, threshold: str, action: str) -> None:
    """Exactly one Slack message and one email for the rollback, each with
    the flag, the trigger, the reading against the threshold, what the guard
    did and the command to resume; none of the flag's rollout-health alerts
    (firing in Prometheus, muted in Alertmanager) delivered."""
    wait_for("the rollback's Slack message and email", lambda: all(rollback_messages(stack.inbox, flag)), 30)
    # The bots' own error-rate alert fires for the same flag: Alertmanager
    # gets it, and holds it back.
    wait_for("the flag's rollout error-rate alert to fire in Prometheus",
             lambda: stack.firing("FeatureFlagRolloutErrorRate", flag=flag), 40)

    def muted() -> bool:
        return any(a["labels"]["alertname"] == "FeatureFlagRolloutErrorRate" and a["labels"].get("flag") == flag
                   and a["status"]["inhibitedBy"] for a in stack.am_alerts())

    wait_for("Alertmanager to hold the error-rate alert back (inhibited)", muted, 15)
    stack.quiet_period()

    slack, mails = rollback_messages(stack.inbox, flag)
    assert len(slack) == 1, slack
    assert len(mails) == 1, mails
    expected = [
        f"Tripped: {trigger} {value} against its threshold {threshold}",
        f"The guard {action}.",
        f"Resume once fixed: feature_flags --feature {flag} --resume",
        "Status page: http://127.0.0.1:",
    ]
    for line in expected:
        assert line in slack[0]["text"], slack[0]
        assert line in mails[0][1], mails[0]
    assert slack[0]["title"].startswith(f"[CRITICAL] {flag} rolled back by the guard: {trigger} tripped"), slack[0]
    assert slack[0]["color"] == "danger", slack[0]
    assert mails[0][0] == slack[0]["title"], mails[0]
    # Every delivered alert names itself ("Alert: NAME"): none of the muted ones.
    delivered = [m["text"] for m in stack.inbox.slack_messages()] + [body for _, body in stack.inbox.emails()]
    assert all("Alert: " in text for text in delivered), delivered
    leaked = [text for text in delivered if any(f"Alert: {name} " in text for name in ROLLOUT_ALERTS)]
    assert leaked == [], leaked


# ---- the tests -------------------------------------------------------------


def guard_exports_actions(metrics: str) -> bool:
    """Whether this guard build exports the action counters by trigger from
    its first check (`feature_flags_guard_actions_total{...,trigger=...}`)."""
    return any(line.startswith("feature_flags_guard_actions_total{") and "trigger=" in line
               for line in metrics.splitlines())


def test_a_real_guard_rollback_notifies_once_and_mutes_the_rollout_alerts(stack):
    """bot + guard + Prometheus + Alertmanager: a bad phase rolled back."""
    stack.start_receivers_and_alerting()
    stack.start_bot()
    stack.cli("--feature", "gpt", "--plan", "25:1h,100", "--window", "3s", "--min-samples", "50",
              "--sustain", "2", "--start")
    stack.start("guard", [BIN, "--file", str(stack.flags), "--guard", "--interval", "1s",
                          "--listen", f"127.0.0.1:{stack.guard_port}",
                          "--scrape", f"http://127.0.0.1:{stack.bot_port}/metrics"])
    guard = f"http://127.0.0.1:{stack.guard_port}/metrics"

    def checked() -> str | None:
        metrics = get(guard) if reachable(guard) else ""
        return metrics if sample(metrics, "feature_flags_guard_checks_total") else None

    metrics = wait_for("the guard's first check", checked, 20)
    assert guard_exports_actions(metrics), (
        "the guard does not export feature_flags_guard_actions_total by flag, action and trigger "
        "from its first check")
    # Prometheus has seen the counters at 0 before anything happens: a
    # rollback is then an increase, as in production.
    wait_for("Prometheus to scrape the guard's rollback counter at 0", lambda: stack.query(
        f'feature_flags_guard_actions_total{{job="{GUARD_JOB}",flag="gpt",action="rolled_back",trigger="error_rate"}} == 0'), 20)
    stack.traffic(on_error=0.20, off_error=0.01)
    wait_for("the guard to roll gpt back", lambda: "rolled back" in stack.log("guard"), 30)
    metrics = get(guard)
    value = sample(metrics, "feature_flags_guard_rollback_value", flag="gpt", trigger="error_rate")
    threshold = sample(metrics, "feature_flags_guard_rollback_threshold", flag="gpt", trigger="error_rate")
    assert value is not None and threshold == 0.05, metrics
    assert json.loads(stack.flags.read_text())["flags"]["gpt"]["enabled"] is False
    check_rollback_notification(stack, "gpt", "error_rate", humanize_percentage(value), "5%",
                                "disabled it: the bots now serve it to nobody")


def test_the_rules_and_routes_on_a_stand_in_guard(stack):
    """The same path with the guard's /metrics served by this test (the new
    action and rollback families, as the guard exports them), beside a real
    bot whose `on` cohort fails: one rollback notification with the reading,
    the bots' rollout alert muted, and the info alerts batched into one
    message."""
    stack.start_receivers_and_alerting()
    state = {"actions": every_action(["gpt", "voice"]), "rollback": {}}
    fake = ThreadingHTTP(("127.0.0.1", stack.guard_port), FakeGuard)
    fake.text = lambda: fake_guard_metrics(state["actions"], state["rollback"])
    stack.serve(fake)
    stack.cli("--feature", "gpt", "--percentage", "25")
    stack.traffic(on_error=0.20, off_error=0.01)
    stack.start_bot()
    wait_for("Prometheus to count 100 `on` outcomes of gpt", lambda: stack.query(
        'job_flag_cohort:feature_flags_outcomes:increase5m{flag="gpt",cohort="on"} >= 100'), 20)
    wait_for("Prometheus to scrape the stand-in's counters at 0", lambda: stack.query(
        f'feature_flags_guard_actions_total{{job="{GUARD_JOB}",flag="gpt",action="rolled_back",trigger="error_rate"}} == 0'), 20)
    # What the guard does on a rollback: the flag off first, then its counters.
    stack.cli("--feature", "gpt", "--disable")
    state["rollback"] = {("gpt", "error_rate"): (0.2013, 0.05)}
    state["actions"] = {**state["actions"], ("gpt", "rolled_back", "error_rate"): 1,
                        ("voice", "advanced", "none"): 1, ("voice", "done", "none"): 1}
    wait_for("the bot to serve gpt disabled", lambda: sample(
        get(f"http://127.0.0.1:{stack.bot_port}/metrics"), "feature_flags_flag_enabled", flag="gpt") == 0, 10)
    check_rollback_notification(stack, "gpt", "error_rate", "20.13%", "5%",
                                "disabled it: the bots now serve it to nobody")
    # Info: the advance and the completion, in one batched message.
    info = [m for m in stack.inbox.slack_messages() if m["title"].startswith("[INFO]")]
    assert len(info) == 1, info
    assert "voice advanced" in info[0]["text"] and "voice finished its rollout plan" in info[0]["text"], info
    assert info[0]["title"] == f"[INFO] 2 alerts from {GUARD_JOB}", info
    assert not [m for m in stack.inbox.emails() if "voice" in m[0]], "info alerts must not be emailed"
