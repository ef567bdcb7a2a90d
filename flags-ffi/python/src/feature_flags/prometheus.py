"""Expose a FlagStore's metrics through prometheus_client.

    import feature_flags.prometheus

    feature_flags.prometheus.register(flags)   # the default REGISTRY, already served at /metrics

This module needs prometheus_client (`pip install prometheus-client`);
`import feature_flags` alone never imports it.

Each scrape makes one native call (`FlagStore.metrics_text()`) and reads its
text into prometheus_client metric families, so the series are exactly those
the Rust library renders for every other binding (see docs/bots.md "Metrics"):
`feature_flags_decisions_total{flag,outcome,reason}`,
`feature_flags_reloads_total{result}`, `feature_flags_last_reload_successful`,
the outcome families
`feature_flags_outcomes_total{flag,cohort,via,chat_type,result}`,
`feature_flags_outcome_duration_seconds{flag,cohort}` (a histogram) and
`feature_flags_complaints_total{flag}`, and the rest.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

try:
    from prometheus_client import REGISTRY, CollectorRegistry
    from prometheus_client.metrics_core import Metric
    from prometheus_client.parser import text_string_to_metric_families
except ImportError as missing:
    raise ImportError(
        "feature_flags.prometheus needs the prometheus_client package: "
        "pip install prometheus-client",
        name=missing.name,
    ) from missing

from feature_flags._native import ClosedError, FlagStore

__all__ = ["FAMILIES", "FlagCollector", "read_families", "register"]

#: Every family metrics_text() can render, as (name, type) with counter names
#: the way prometheus_client keeps them: without `_total`, which its
#: exposition adds back.
FAMILIES: tuple[tuple[str, str], ...] = (
    ("feature_flags_reloads", "counter"),
    ("feature_flags_last_reload_successful", "gauge"),
    ("feature_flags_last_reload_success_timestamp_seconds", "gauge"),
    ("feature_flags_generation", "gauge"),
    ("feature_flags_file_info", "gauge"),
    ("feature_flags_flag_enabled", "gauge"),
    ("feature_flags_flag_rollout_percentage", "gauge"),
    ("feature_flags_decisions", "counter"),
    ("feature_flags_unknown_flag_decisions", "counter"),
    ("feature_flags_outcomes", "counter"),
    ("feature_flags_outcome_duration_seconds", "histogram"),
    ("feature_flags_complaints", "counter"),
)

_HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count")


# The library's text, line by line: HELP then TYPE per family, samples with
# plain label values. prometheus_client's general parser takes about 14 us a
# sample (26 ms per scrape for 200 flags, holding the GIL the bot's event
# loop needs); reading this one shape takes under 3 us. Anything else (an
# escape, a timestamp, another type) goes to the general parser.
_LABEL_PAIR = r'[a-zA-Z_][a-zA-Z0-9_]*="[^"\\]*"'
_SAMPLE = re.compile(
    rf"([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{{({_LABEL_PAIR}(?:,{_LABEL_PAIR})*)\}})?"
    r" (-?[0-9][0-9.e+-]*|NaN|[+-]Inf)"
)
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="([^"\\]*)"')
_HELP = "# HELP "
_TYPE = "# TYPE "


def _number(text: str) -> float:
    # As prometheus_client's parser does: an int when the text is one.
    try:
        return int(text)
    except ValueError:
        return float(text)


def _read_library_text(text: str) -> list[Metric] | None:
    """The families of metrics_text() output, equal to what
    text_string_to_metric_families makes of it; None for any line outside
    the shape the library writes."""
    families: list[Metric] = []
    family: Metric | None = None
    help_name, help_text = "", ""
    sample_names: tuple[str, ...] = ()
    for line in text.splitlines():
        if line.startswith(_HELP):
            help_name, _, help_text = line[len(_HELP) :].partition(" ")
            if "\\" in help_text:
                return None
        elif line.startswith(_TYPE):
            name, _, kind = line[len(_TYPE) :].partition(" ")
            if name != help_name:
                return None
            if kind == "counter" and name.endswith("_total"):
                family = Metric(name[: -len("_total")], help_text, kind)
            elif kind == "gauge":
                family = Metric(name, help_text, kind)
            elif kind == "histogram":
                family = Metric(name, help_text, kind)
            else:
                return None
            families.append(family)
            if kind == "histogram":
                sample_names = tuple(name + suffix for suffix in _HISTOGRAM_SUFFIXES)
            else:
                sample_names = (name,)
        elif line:
            match = _SAMPLE.fullmatch(line)
            if family is None or match is None or match[1] not in sample_names:
                return None
            labels = dict(_LABEL.findall(match[2])) if match[2] else {}
            try:
                number = _number(match[3])
            except ValueError:
                return None
            family.add_sample(match[1], labels, number)
    return families


def read_families(text: str) -> list[Metric]:
    """Prometheus text as prometheus_client metric families (counters named
    without `_total`, as its registry expects)."""
    families = _read_library_text(text)
    if families is None:
        families = list(text_string_to_metric_families(text))
    return families


class FlagCollector:
    """A prometheus_client collector of one FlagStore's metrics.

    Register it once per registry; a second store in the same registry would
    produce the same series, so the registry refuses it (DuplicateTimeseries).
    A closed store contributes nothing, so closing it on shutdown cannot make
    a scrape fail.
    """

    def __init__(self, flags: FlagStore) -> None:
        if not isinstance(flags, FlagStore):
            raise TypeError(
                f"FlagCollector needs a feature_flags.FlagStore, not {type(flags).__name__}"
            )
        self.flags = flags

    def collect(self) -> Iterator[Metric]:
        try:
            text = self.flags.metrics_text()
        except ClosedError:
            return
        yield from read_families(text)

    def describe(self) -> list[Metric]:
        # The names are fixed, so registering needs no native call and no
        # scrape; the registry still sees them to refuse a duplicate.
        return [Metric(name, "", kind) for name, kind in FAMILIES]


def register(flags: FlagStore, registry: CollectorRegistry = REGISTRY) -> FlagCollector:
    """Adds `flags` to `registry` (default: prometheus_client's global one,
    which start_http_server and make_wsgi_app serve) and returns the
    collector, for `registry.unregister(collector)`."""
    collector = FlagCollector(flags)
    registry.register(collector)
    return collector
