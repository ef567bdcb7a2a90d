#!/usr/bin/env python3
"""Instruction budgets: count instructions per operation under callgrind and
fail when a ratio to the tuned baseline, counted in the same run, exceeds its
budget (benches/instruction_budgets.toml).

    python3 benches/instructions.py                      # Rust rows only
    python3 benches/instructions.py --python target/py-venv/bin/python
    python3 benches/instructions.py --no-build --json out.json

Wall-clock time on a shared 2-core machine varies by a third from run to
run; instruction counts do not (two runs differ by a few dozen instructions
in millions). Each operation runs at two iteration counts, setup identical,
and the difference of the two totals over the difference of the counts is
the cost of one operation: no client requests or toggles needed in the
measured programs (benches/src/bin/instructions.rs and, for Python,
flags-ffi/python/bench/instructions.py).

Prints every operation's count and every ratio with its budget and goal;
exits 1 when a budget is exceeded, 2 when something could not be measured.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BUDGETS = ROOT / "benches" / "instruction_budgets.toml"
PY_SCRIPT = ROOT / "flags-ffi" / "python" / "bench" / "instructions.py"
COLLECTED = re.compile(r"==\d+== Collected : (\d+)")

# (small N, large N) per operation; multiples of the 1 024-message stream
# for the Rust message operations, so the difference is whole passes.
RUST_N = {"reload": (1, 5), "tuned_reload": (1, 5)}
RUST_DEFAULT_N = (1024, 1024 + 8192)
PY_N = {"py_is_enabled": (2000, 12000), "py_baseline_is_enabled": (2000, 12000)}
PY_DEFAULT_N = (1000, 4000)


def count(command: list[str], env: dict[str, str] | None = None) -> int:
    """Instructions the whole program executes (callgrind's `Ir`)."""
    result = subprocess.run(
        ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", *command],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    found = COLLECTED.findall(result.stderr)
    if result.returncode != 0 or not found:
        raise RuntimeError(
            f"{' '.join(command)} failed ({result.returncode}):\n{result.stderr[-3000:]}"
        )
    return int(found[-1])


def per_operation(command: list[str], ns: tuple[int, int], env=None) -> float:
    small, large = (count([*command, str(n)], env) for n in ns)
    return (large - small) / (ns[1] - ns[0])


def needed_operations(budgets: list[dict]) -> set[str]:
    names = set()
    for row in budgets:
        for key in ("op", "baseline"):
            names.update(re.findall(r"[a-z_0-9]+", row[key]))
    return {n for n in names if not n.isdigit()}


def evaluate(expression: str, counts: dict[str, float]) -> float:
    """`a`, `a - b` or `a / 10`: the few forms the budget file uses."""
    tokens = expression.split()
    value = counts[tokens[0]]
    for op, operand in zip(tokens[1::2], tokens[2::2]):
        rhs = float(operand) if operand.replace(".", "").isdigit() else counts[operand]
        value = {"-": value - rhs, "+": value + rhs, "/": value / rhs, "*": value * rhs}[op]
    return value


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--python", help="a Python with feature_flags and xxhash installed")
    parser.add_argument("--no-build", action="store_true", help="use the built binary")
    parser.add_argument("--json", help="also write the counts and ratios here")
    arguments = parser.parse_args()

    if shutil.which("valgrind") is None:
        print("error: valgrind is not installed (apt-get install valgrind)", file=sys.stderr)
        return 2
    config = tomllib.loads(BUDGETS.read_text(encoding="utf-8"))
    budgets = [b for b in config["budget"] if arguments.python or not b.get("python")]
    operations = sorted(needed_operations(budgets))

    target = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
    binary = target / "release" / "instructions"
    if not arguments.no_build:
        subprocess.run(
            ["cargo", "build", "--profile", "bench", "--locked", "-q", "-p", "benches",
             "--bin", "instructions"],
            cwd=ROOT,
            check=True,
        )
    python_env = {**os.environ, "PYTHONHASHSEED": "0", "PYTHONDONTWRITEBYTECODE": "1"}

    def measure(name: str) -> float:
        if name.startswith("py_"):
            command = [arguments.python, str(PY_SCRIPT), name]
            return per_operation(command, PY_N.get(name, PY_DEFAULT_N), python_env)
        return per_operation([str(binary), name], RUST_N.get(name, RUST_DEFAULT_N))

    # Two at a time: the machine has two cores, and counts do not depend on load.
    with ThreadPoolExecutor(max_workers=2) as pool:
        counts = dict(zip(operations, pool.map(measure, operations)))

    print("instructions per operation (callgrind, setup subtracted):")
    for name in operations:
        print(f"  {name:<24} {counts[name]:>12,.1f}")
    print()
    print(f"  {'ratio':<52} {'now':>7} {'budget':>7} {'goal':>7}")
    failed = []
    rows = []
    for row in budgets:
        ratio = evaluate(row["op"], counts) / evaluate(row["baseline"], counts)
        budget, goal = row.get("max"), row.get("goal")
        verdict = ""
        if budget is not None and ratio > budget:
            verdict = "  EXCEEDED"
            failed.append(row["name"])
        elif goal is not None:
            verdict = "  goal met" if ratio <= goal else ""
        show = lambda v: "-" if v is None else f"{v:.3f}"  # noqa: E731
        print(f"  {row['name']:<52} {ratio:>7.3f} {show(budget):>7} {show(goal):>7}{verdict}")
        rows.append({**row, "ratio": ratio})
    if arguments.json:
        Path(arguments.json).write_text(
            json.dumps({"instructions": counts, "ratios": rows}, indent=2), encoding="utf-8"
        )
    if failed:
        print(f"\nFAILED: over budget: {', '.join(failed)}", file=sys.stderr)
        return 1
    print(f"\nall {len(rows)} ratios within budget")
    return 0


if __name__ == "__main__":
    sys.exit(main())
