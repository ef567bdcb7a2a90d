"""The guard's Prometheus credentials end to end: a real Prometheus that
requires HTTP basic auth (its web config), and a bearer-token gate in front
of it. The guard must authenticate (no HTTP 401 while the credentials are
right, 401 when they are wrong) and never show the password or token: not on
its status page, not in /metrics, not in any log line.

Run by scripts/test.sh:
    FEATURE_FLAGS_BIN=target/debug/feature_flags python -m pytest flags-cli/tests/guard_credentials
"""

from __future__ import annotations

import base64
import re
import subprocess
import sys
import threading
import urllib.error
import urllib.request
import warnings
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
from e2e_support import BIN, PROMETHEUS, require, send_body, start_prometheus, stop, wait_for  # noqa: E402

USER = "guard"
PASSWORD = "Pq8Lr/Zx5Tn?Wm3Kd#Yh7Jc"  # holds / ? # so the URL must encode it
TOKEN = "Tk4Hj7Lm2Nb9"
ENCODED = urllib.request.quote(PASSWORD, safe="")


def bcrypt(password: str) -> str:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import crypt  # glibc's crypt makes bcrypt hashes ($2b$)

        return crypt.crypt(password, crypt.mksalt(crypt.METHOD_BLOWFISH))


def basic_header(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


@pytest.fixture
def prometheus(tmp_path):
    require(PROMETHEUS, "prometheus")
    web = tmp_path / "web.yml"
    web.write_text(f"basic_auth_users:\n  {USER}: '{bcrypt(PASSWORD)}'\n")
    with start_prometheus("global:\n  scrape_interval: 1s\nscrape_configs: []\n", tmp_path,
                          args=[f"--web.config.file={web}"],
                          headers={"Authorization": basic_header(USER, PASSWORD)}) as server:
        # Without credentials Prometheus refuses: the auth is real.
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(server.url + "/api/v1/query?query=1", timeout=5)
        assert refused.value.code == 401
        yield server.url


@pytest.fixture
def bearer_gate(prometheus):
    """A gate that lets a request through to Prometheus (with the basic
    credentials) only when it carries `Authorization: Bearer TOKEN`."""
    seen = {"authorized": 0, "refused": 0}

    class Gate(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            if self.headers.get("Authorization") != f"Bearer {TOKEN}":
                seen["refused"] += 1
                self.send_response(401)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            seen["authorized"] += 1
            request = urllib.request.Request(prometheus + self.path,
                                             headers={"Authorization": basic_header(USER, PASSWORD)})
            with urllib.request.urlopen(request, timeout=5) as r:
                send_body(self, r.read())

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Gate)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", seen
    finally:
        server.shutdown()


class Guard:
    """A guard on a flag file with one running plan, its output collected."""

    def __init__(self, tmp: Path, *source: str):
        tmp.mkdir(exist_ok=True)
        flags = tmp / "flags.json"
        flags.write_text('{"version": 1, "flags": {"gpt": {"enabled": true, "rollout_percentage": 0}}}\n')
        out = subprocess.run([BIN, "--file", str(flags), "--feature", "gpt", "--plan", "25:1h,100",
                              "--window", "3s", "--start"], capture_output=True, text=True, timeout=30)
        assert out.returncode == 0, out.stderr
        self.proc = subprocess.Popen(
            [BIN, "--file", str(flags), "--guard", "--interval", "1s", "--listen", "127.0.0.1:0",
             "--selector", '{job="bot"}', "--memory-limit", "1000000000", *source],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
        self.lines: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()
        found = wait_for("the status page address",
                         lambda: next((l for l in list(self.lines) if "status page" in l), None), 10)
        self.status = re.search(r"http://\S+/", found).group(0)

    def _read(self):
        for line in iter(self.proc.stdout.readline, ""):
            self.lines.append(line.rstrip("\n"))

    def checks(self, n: int) -> None:
        wait_for(f"{n} checks", lambda: sum("gpt" in l for l in list(self.lines)) >= n, 20)

    def get(self, path: str) -> str:
        with urllib.request.urlopen(self.status + path, timeout=5) as r:
            return r.read().decode()

    def everything(self) -> str:
        return "\n".join([self.get(""), self.get("metrics"), *self.lines])

    def close(self):
        stop(self.proc)


def assert_hidden(text: str, *secrets: str) -> None:
    for secret in secrets:
        # Each piece between separators is distinctive (5+ characters).
        for part in re.split(r"[/?#]", secret):
            assert len(part) >= 5 and part not in text, f"{part!r} shown:\n{text}"


def run_guard(tmp_path, *source: str) -> str:
    guard = Guard(tmp_path, *source)
    try:
        guard.checks(3)
        return guard.everything()
    finally:
        guard.close()


def test_basic_auth_from_the_url_is_sent_and_masked(tmp_path, prometheus):
    host = prometheus.removeprefix("http://")
    text = run_guard(tmp_path, "--prometheus", f"http://{USER}:{ENCODED}@{host}")
    assert "HTTP 401" not in text, text
    assert f"http://{USER}:***@{host}" in text, text
    assert_hidden(text, PASSWORD, ENCODED)
    # A wrong password is refused by Prometheus, and not shown either.
    wrong = run_guard(tmp_path / "wrong", "--prometheus", f"http://{USER}:Wr0ngPw@{host}")
    assert "HTTP 401" in wrong, wrong
    assert_hidden(wrong, "Wr0ngPw")


def test_basic_auth_password_from_a_file(tmp_path, prometheus):
    host = prometheus.removeprefix("http://")
    secret = tmp_path / "password"
    secret.write_text(PASSWORD + "\n")
    secret.chmod(0o600)
    text = run_guard(tmp_path, "--prometheus", f"http://{USER}@{host}", "--prometheus-password-file", str(secret))
    assert "HTTP 401" not in text, text
    assert_hidden(text, PASSWORD)


def test_bearer_token_from_a_file(tmp_path, bearer_gate):
    gate, seen = bearer_gate
    token = tmp_path / "token"
    token.write_text(TOKEN + "\n")
    text = run_guard(tmp_path, "--prometheus", gate, "--prometheus-bearer-token-file", str(token))
    assert "HTTP 401" not in text, text
    assert seen["authorized"] >= 3 and seen["refused"] == 0, seen
    assert_hidden(text, TOKEN)


def test_bad_credential_options_are_refused_without_the_secret(tmp_path, prometheus):
    host = prometheus.removeprefix("http://")
    missing = tmp_path / "missing"
    for args, words in [
        (["--prometheus", f"http://{USER}:{PASSWORD}@{host}"], "percent-encoded"),
        (["--prometheus", f"http://{USER}:{ENCODED}@{host}", "--prometheus-password-file", str(missing)],
         "not both"),
        (["--prometheus", f"http://{host}", "--prometheus-password-file", str(missing)], "needs the user"),
        (["--prometheus", f"http://{host}", "--prometheus-bearer-token-file", str(missing)], "missing"),
    ]:
        out = subprocess.run([BIN, "--file", str(tmp_path / "flags.json"), "--guard", "--once",
                              "--selector", "{}", *args], capture_output=True, text=True, timeout=30)
        assert out.returncode == 2, (args, out.stdout, out.stderr)
        assert words in out.stderr, (args, out.stderr)
        assert_hidden(out.stdout + out.stderr, PASSWORD, ENCODED)
