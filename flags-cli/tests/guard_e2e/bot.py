"""A test bot for the guard's end-to-end tests: synthetic traffic through the
real `feature_flags` package, outcomes and complaints recorded as a bot does,
and /metrics served by prometheus_client (with process_resident_memory_bytes).

    python bot.py --flags FILE --flag NAME --port 0 --control CONTROL.json

The control file (re-read every 0.2 s) sets the traffic: messages per second,
the error share and the answer time of the `on` and `off` cohorts, and
complaints per second. The bot prints `listening PORT` once it serves, and
writes the share of `on` answers of each 0.5 s to --shares (one JSON line
each) so a test can watch the rollout reach the users, and to --flips a JSON
line each time an answer differs from the one before (the fleet's tests time
an edit's propagation with a flag at 0 % or 100 %).
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time

import prometheus_client

import feature_flags
import feature_flags.prometheus

DEFAULTS = {
    "rate": 400,
    "on_error": 0.01,
    "off_error": 0.01,
    "on_seconds": 0.2,
    "off_seconds": 0.2,
    "complaints_per_second": 0.0,
}


def read_control(path: str | None, current: dict) -> dict:
    if not path:
        return current
    try:
        with open(path, encoding="utf-8") as f:
            return {**DEFAULTS, **json.load(f)}
    except (OSError, ValueError):
        return current  # being rewritten: keep the last good one


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--flags", required=True)
    parser.add_argument("--flag", required=True)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--control")
    parser.add_argument("--shares")
    parser.add_argument("--flips")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--no-process-metrics", action="store_true",
                        help="export no process_resident_memory_bytes (a bot whose memory the guard cannot see)")
    args = parser.parse_args()
    if args.no_process_metrics:
        prometheus_client.REGISTRY.unregister(prometheus_client.PROCESS_COLLECTOR)

    rng = random.Random(args.seed)
    with feature_flags.FlagStore(args.flags) as flags:
        feature_flags.prometheus.register(flags)
        server, _thread = prometheus_client.start_http_server(args.port, addr="127.0.0.1")
        print(f"listening {server.server_port}", flush=True)
        shares = open(args.shares, "a", encoding="utf-8") if args.shares else None
        flips = open(args.flips, "a", encoding="utf-8") if args.flips else None
        last_answer = None

        control = read_control(args.control, dict(DEFAULTS))
        next_control = time.monotonic()
        tick = 0.01
        owed = 0.0
        complaints_owed = 0.0
        window_on = window_all = 0
        window_start = time.monotonic()
        while True:
            started = time.monotonic()
            if started >= next_control:
                control = read_control(args.control, control)
                next_control = started + 0.2
            owed += control["rate"] * tick
            while owed >= 1:
                owed -= 1
                user = rng.randrange(1, 10**12)
                msg = flags.for_message(user_id=user, chat_id=user, chat_type="private")
                on = msg.is_enabled(args.flag)
                if flips and on != last_answer:
                    flips.write(json.dumps({"t": time.time(), "on": on}) + "\n")
                    flips.flush()
                    last_answer = on
                cohort = "on" if on else "off"
                error = rng.random() < control[f"{cohort}_error"]
                msg.record(error=error, seconds=float(control[f"{cohort}_seconds"]))
                window_all += 1
                window_on += on
            complaints_owed += control["complaints_per_second"] * tick
            while complaints_owed >= 1:
                complaints_owed -= 1
                flags.complaint(args.flag, user_id=rng.randrange(1, 10**12))
            if shares and started - window_start >= 0.5:
                share = window_on / window_all if window_all else None
                shares.write(json.dumps({"t": time.time(), "on": window_on, "all": window_all, "share": share}) + "\n")
                shares.flush()
                window_on = window_all = 0
                window_start = started
            time.sleep(max(0.0, tick - (time.monotonic() - started)))


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(0)
