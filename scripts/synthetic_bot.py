#!/usr/bin/env python3
"""A bot process that serves synthetic traffic and its Prometheus metrics.

    python scripts/synthetic_bot.py --flags FILE --flag NAME... [--seconds 120] [--rate 400]

Used by scripts/dashboard_live_proof.py: it evaluates the --flag flags for random
users, as a bot handling messages would, reports each message's outcome (error
or not, and how long it took) and some complaints, and serves `/metrics`
(prometheus_client, with the flags' families registered) on 127.0.0.1 at a
free port, which it prints as its first line: `port N`. Messages come from
private chats, groups and supergroups (CHAT_TYPES), and one in BETA_SHARE from
a user the bot knows to be in the `beta_testers` group, so that the outcome
segments (via group or rollout, by chat type) all have traffic.

Each flag's cohort behaves as the FLAG_BEHAVIOUR table says, so the
dashboard's cohort panels have a difference to show. Durations are drawn, not
slept: a message costs microseconds. The process stops by itself after
--seconds.
"""

from __future__ import annotations

import argparse
import random
import sys
import time

import feature_flags
import feature_flags.prometheus
from prometheus_client import start_http_server

# flag -> cohort -> (error share, typical seconds); a flag not listed gets
# DEFAULT_BEHAVIOUR in both cohorts.
FLAG_BEHAVIOUR = {
    # A healthy rollout: the feature is a little slower, no more errors.
    "new_gpt_model": {"on": (0.01, 0.4), "off": (0.01, 0.25)},
    # A broken one: a third of the messages that get it fail.
    "enhanced_video_download": {"on": (0.3, 1.5), "off": (0.01, 1.0)},
}
DEFAULT_BEHAVIOUR = (0.01, 0.2)
# Chat types and how often a message comes from each.
CHAT_TYPES = (("private", 0.6), ("group", 0.2), ("supergroup", 0.2))
# Share of the messages whose user is a beta tester (groups=["beta_testers"]).
BETA_SHARE = 0.1
# flag -> complaints a second. Few for the healthy rollout: its complaints
# trigger (10 an hour) must not trip during a proof.
COMPLAINTS_PER_SECOND = {"new_gpt_model": 0.05, "enhanced_video_download": 2.0}


def outcome(rng: random.Random, behaviour: tuple[float, float]) -> tuple[bool, float]:
    error_share, typical = behaviour
    return rng.random() < error_share, rng.expovariate(1 / typical)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--flags", required=True)
    parser.add_argument("--seconds", type=float, default=120)
    parser.add_argument("--rate", type=float, default=400, help="messages a second")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--flag", action="append", required=True, help="a flag the handlers ask about")
    args = parser.parse_args()

    rng = random.Random(args.seed)
    flags = feature_flags.FlagStore(args.flags)
    feature_flags.prometheus.register(flags)
    server, _ = start_http_server(0, addr="127.0.0.1")
    print(f"port {server.server_port}", flush=True)

    can_record = hasattr(flags.for_message(user_id=1, chat_id=1, chat_type="private"), "record")
    can_complain = hasattr(flags, "complaint")
    if not (can_record and can_complain):
        print("note: this feature_flags has no outcomes API (Message.record, FlagStore.complaint): "
              "serving decisions only", file=sys.stderr, flush=True)

    deadline = time.monotonic() + args.seconds
    tick = 0.05
    per_tick = max(1, round(args.rate * tick))
    complaint_debt = dict.fromkeys(COMPLAINTS_PER_SECOND, 0.0)
    while time.monotonic() < deadline:
        started = time.monotonic()
        for _ in range(per_tick):
            user = rng.randrange(1, 10**9)
            (chat_type,) = rng.choices([t for t, _ in CHAT_TYPES], [w for _, w in CHAT_TYPES])
            chat_id = user if chat_type == "private" else -1_000_000_000_000 - rng.randrange(1000)
            groups = ["beta_testers"] if rng.random() < BETA_SHARE else []
            msg = flags.for_message(user_id=user, chat_id=chat_id, chat_type=chat_type, groups=groups)
            # Each message is about one feature (a command, a voice note...):
            # the handler asks about that flag only, so only it is exposed
            # and the outcome counts for it alone.
            name = rng.choice(args.flag)
            cohort = "on" if msg.is_enabled(name) else "off"
            error, seconds = outcome(rng, FLAG_BEHAVIOUR.get(name, {}).get(cohort, DEFAULT_BEHAVIOUR))
            if can_record:
                msg.record(error=error, seconds=seconds)
        if can_complain:
            for name, per_second in COMPLAINTS_PER_SECOND.items():
                complaint_debt[name] += per_second * tick
                while complaint_debt[name] >= 1:
                    complaint_debt[name] -= 1
                    flags.complaint(name, user_id=rng.randrange(1, 10**9))
        time.sleep(max(0.0, tick - (time.monotonic() - started)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
