#!/usr/bin/env python3
"""Runs every shell example of docs/operators.md and docs/fleet.md, so the
docs cannot drift from the tool.

Each ```sh block runs in order, in one shared state per document, under
`bash -e -o pipefail` with `feature_flags` on PATH (the binary under test):

- docs/operators.md against a temporary copy of examples/feature_flags.json
  ($FEATURE_FLAGS_FILE, also at ./config/feature_flags.json);
- docs/fleet.md against a throwaway PostgreSQL cluster (scripts/pg_cluster.py):
  $FEATURE_FLAGS_DATABASE_URL and $PROD are its database `bot` (the role
  `flags`, owner, with CREATEROLE); a second database, `staging`, holds the
  example with new_gpt_model at 50 % and stands for the docs' staging URL;
  ./staging/feature_flags.json is the same as a file.

A block fails the check on a non-zero exit, unless the line before its fence
is `<!-- expect: exit N -->` (then it must exit N). `<!-- not run: WHY -->`
skips it (it needs systemd, /etc, a Grafana...); WHY must be given.

    python3 scripts/check_doc_examples.py --feature-flags target/debug/feature_flags
"""

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "scripts"))

BLOCK_TIMEOUT = 30  # seconds for one block
FENCE = re.compile(r"^\s*```(\S*)\s*$")
MARK = re.compile(r"^\s*<!--\s*(not run|expect):\s*(.*?)\s*-->\s*$")


def blocks(path):
    """(line number, language, marker, body) of every fenced block."""
    lines = open(path, encoding="utf-8").read().split("\n")
    found, i = [], 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        start, lang = i, m.group(1)
        j = i + 1
        while j < len(lines) and not FENCE.match(lines[j]):
            j += 1
        if j == len(lines):
            raise SystemExit(f"{path}:{start + 1}: unclosed code fence")
        prev = start - 1
        while prev >= 0 and not lines[prev].strip():
            prev -= 1
        mark = MARK.match(lines[prev]) if prev >= 0 else None
        body = textwrap.dedent("\n".join(lines[start + 1:j]))
        found.append((start + 1, lang, mark.groups() if mark else None, body))
        i = j + 1
    return found


def run_doc(doc, env, cwd, substitutions):
    ran = skipped = 0
    failures = []
    for line, lang, mark, body in blocks(os.path.join(ROOT, doc)):
        if lang != "sh":
            continue
        expected = 0
        if mark and mark[0] == "not run":
            if not mark[1]:
                failures.append(f"{doc}:{line}: `not run` without a reason")
            skipped += 1
            continue
        if mark and mark[0] == "expect":
            m = re.fullmatch(r"exit (\d+)", mark[1])
            if not m:
                failures.append(f"{doc}:{line}: bad marker `expect: {mark[1]}` (expect: exit N)")
                continue
            expected = int(m.group(1))
        script = body
        for old, new in substitutions:
            script = script.replace(old, new)
        started = time.monotonic()
        try:
            out = subprocess.run(["bash", "-e", "-o", "pipefail", "-c", script], cwd=cwd, env=env,
                                 stdin=subprocess.DEVNULL, capture_output=True, text=True,
                                 timeout=BLOCK_TIMEOUT)
            code, text = out.returncode, out.stdout + out.stderr
        except subprocess.TimeoutExpired:
            code, text = "timeout", f"no exit within {BLOCK_TIMEOUT} s"
        ran += 1
        status = "ok" if code == expected else "FAILED"
        print(f"{status}: {doc}:{line} (exit {code}, expected {expected}, "
              f"{time.monotonic() - started:.1f} s)")
        if code != expected:
            failures.append(f"{doc}:{line}: exit {code}, expected {expected}\n--- block ---\n"
                            f"{script}\n--- output ---\n{text}")
    print(f"{doc}: {ran} blocks run, {skipped} not run (marked)")
    return failures


def tool_env(tmp, binary):
    bindir = os.path.join(tmp, "bin")
    os.makedirs(bindir)
    os.symlink(os.path.abspath(binary), os.path.join(bindir, "feature_flags"))
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("FEATURE_FLAGS_", "PG"))}
    env["PATH"] = bindir + os.pathsep + env.get("PATH", "")
    env["HOME"] = tmp
    config = os.path.join(tmp, "config")
    os.makedirs(config)
    shutil.copy(os.path.join(ROOT, "examples", "feature_flags.json"), config)
    return env, os.path.join(config, "feature_flags.json")


def operators(binary):
    with tempfile.TemporaryDirectory(prefix="doc-operators-") as tmp:
        env, file = tool_env(tmp, binary)
        env["FEATURE_FLAGS_FILE"] = file
        return run_doc("docs/operators.md", env, tmp,
                       [("/srv/bot/config/feature_flags.json", file)])


def fleet(binary):
    from pg_cluster import Cluster

    with tempfile.TemporaryDirectory(prefix="doc-fleet-") as tmp, Cluster.primary() as db:
        env, file = tool_env(tmp, binary)
        db.psql("ALTER ROLE flags CREATEROLE")
        db.psql("CREATE DATABASE staging OWNER flags")
        staging_url = db.url(db="staging")
        prod_url = db.url()
        staging_dir = os.path.join(tmp, "staging")
        os.makedirs(staging_dir)
        staging_file = os.path.join(staging_dir, "feature_flags.json")
        text = open(file, encoding="utf-8").read()
        changed = text.replace('"rollout_percentage": 10', '"rollout_percentage": 50', 1)
        assert changed != text, "the example no longer has new_gpt_model at 10 %"
        open(staging_file, "w", encoding="utf-8").write(changed)
        for args in (["--init"], ["--import", staging_file]):
            subprocess.run([binary, "--database", staging_url, *args], env=env, check=True,
                           capture_output=True, timeout=BLOCK_TIMEOUT)
        env["FEATURE_FLAGS_DATABASE_URL"] = prod_url
        env["PROD"] = prod_url
        return run_doc("docs/fleet.md", env, tmp,
                       [("postgres://flags@staging-db/bot", staging_url)])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--feature-flags", default=os.path.join(ROOT, "target/debug/feature_flags"))
    ap.add_argument("--only", choices=["operators", "fleet"])
    args = ap.parse_args()
    if not os.access(args.feature_flags, os.X_OK):
        raise SystemExit(f"error: {args.feature_flags} is not an executable; build it first")
    failures = []
    if args.only in (None, "operators"):
        failures += operators(args.feature_flags)
    if args.only in (None, "fleet"):
        failures += fleet(args.feature_flags)
    for f in failures:
        print("\n" + f, file=sys.stderr)
    if failures:
        raise SystemExit(f"{len(failures)} doc example(s) failed")
    print("every shell example ran as documented")


if __name__ == "__main__":
    main()
