"""metrics_text(), count_decisions, and the prometheus_client collector."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import threading

import feature_flags
import pytest
from support import DEADLINE_SECONDS, flag_file, replace_file, wait_until

# Under CONTEXT each flag decides one way, and together they cover every
# (outcome, reason) pair a defined flag can have.
CONTEXT = {"user_id": None, "chat_id": -100, "chat_type": "group", "groups": ("staff",)}
FLAGS = {
    "off": {"enabled": False},
    "excluded": {"enabled": True, "exclude_chats": ["-100"]},
    "private_only": {"enabled": True, "chat_types": ["private"]},
    "staff": {"enabled": True, "rollout_percentage": 0, "user_groups": ["staff"]},
    "everyone": {"enabled": True},
    "nobody_by_chat": {"enabled": True, "rollout_percentage": 0, "bucket_by": "chat"},
    "half_by_user": {"enabled": True, "rollout_percentage": 50},
}
DECIDES = {
    "off": ("off", "disabled"),
    "excluded": ("off", "chat_excluded"),
    "private_only": ("off", "chat_type"),
    "staff": ("on", "group"),
    "everyone": ("on", "rollout"),
    "nobody_by_chat": ("off", "rollout"),
    "half_by_user": ("off", "missing_key"),
}
PAIRS = [
    ("off", "disabled"),
    ("off", "chat_excluded"),
    ("off", "chat_type"),
    ("on", "group"),
    ("on", "rollout"),
    ("off", "rollout"),
    ("off", "missing_key"),
]
DECISION_FAMILIES = {"feature_flags_decisions_total", "feature_flags_unknown_flag_decisions_total"}

SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$")
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')

Series = tuple[str, frozenset[tuple[str, str]]]


def series(text: str) -> dict[Series, float]:
    """The samples of an exposition, by name and label set (a strict reader
    of the 0.0.4 text format, independent of prometheus_client)."""
    samples: dict[Series, float] = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        match = SAMPLE.match(line)
        assert match, f"not a sample line: {line!r}"
        name, labels, value = match.groups()
        key = (name, frozenset(LABEL.findall(labels or "")))
        assert key not in samples, f"duplicate series {key}"
        samples[key] = float(value)
    return samples


def value(samples: dict[Series, float], name: str, **labels: str) -> float:
    return samples[(name, frozenset(labels.items()))]


def decisions(samples: dict[Series, float], flag: str, outcome: str, reason: str) -> float:
    return value(
        samples, "feature_flags_decisions_total", flag=flag, outcome=outcome, reason=reason
    )


def families(text: str) -> dict[str, str]:
    return dict(re.findall(r"^# TYPE (\S+) (\S+)$", text, flags=re.MULTILINE))


# ---- metrics_text and counting -------------------------------------------------------


def test_counts_are_exact_after_evaluations_from_more_threads_than_stripes(make_file) -> None:
    # 12 threads: more than the library's 8 per-thread stripes, so some share one.
    threads_count, iterations = 12, 1000
    store = feature_flags.FlagStore(make_file(FLAGS), watch=False)
    # Switch threads often, so their calls interleave rather than run in turn.
    switch_interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)
    started = threading.Barrier(threads_count, timeout=DEADLINE_SECONDS)
    failures: list[str] = []

    def evaluate() -> None:
        try:
            started.wait()
            for _ in range(iterations):
                for name in FLAGS:
                    store.is_enabled(name, **CONTEXT)
                    store.evaluate(name, **CONTEXT)
                message = store.for_message(**CONTEXT)  # counts every flag once
                for name in FLAGS:
                    message.is_enabled(name)  # no native call: counts nothing
                store.is_enabled("not_in_the_file", **CONTEXT, default=True)
                store.evaluate("not_in_the_file", **CONTEXT)
        except Exception as error:  # noqa: BLE001 - reported by the main thread
            failures.append(repr(error))

    threads = [threading.Thread(target=evaluate) for _ in range(threads_count)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(DEADLINE_SECONDS)
    finally:
        sys.setswitchinterval(switch_interval)
    assert not any(thread.is_alive() for thread in threads)
    assert not failures, failures[:5]

    # Read after the threads ended: their counts outlive them.
    samples = series(store.metrics_text())
    calls = threads_count * iterations
    for name in FLAGS:
        for outcome, reason in PAIRS:
            want = 3 * calls if (outcome, reason) == DECIDES[name] else 0
            assert decisions(samples, name, outcome, reason) == want, (name, outcome, reason)
    assert value(samples, "feature_flags_unknown_flag_decisions_total") == 2 * calls
    decision_series = [key for key in samples if key[0] == "feature_flags_decisions_total"]
    assert len(decision_series) == len(FLAGS) * len(PAIRS)
    store.close()


def test_count_decisions_false_leaves_the_decision_families_out(make_file) -> None:
    path = make_file(FLAGS)
    with feature_flags.FlagStore(path, watch=False, count_decisions=False) as store:
        store.for_message(**CONTEXT)
        store.is_enabled("everyone", **CONTEXT)
        text = store.metrics_text()
    assert "decisions" not in text
    kinds = families(text)
    assert not DECISION_FAMILIES & set(kinds)
    assert kinds["feature_flags_reloads_total"] == "counter"
    assert kinds["feature_flags_last_reload_successful"] == "gauge"
    samples = series(text)
    assert value(samples, "feature_flags_flag_enabled", flag="off") == 0
    assert value(samples, "feature_flags_flag_rollout_percentage", flag="half_by_user") == 50


def test_decisions_are_counted_by_default(make_file) -> None:
    with feature_flags.FlagStore(make_file(FLAGS), watch=False) as store:
        store.is_enabled("everyone", **CONTEXT)
        assert decisions(series(store.metrics_text()), "everyone", "on", "rollout") == 1
    store = feature_flags.FlagStore.from_json(flag_file(FLAGS))
    store.evaluate("staff", **CONTEXT)
    assert decisions(series(store.metrics_text()), "staff", "on", "group") == 1
    store.close()


def test_count_decisions_is_keyword_only_and_checked(make_file) -> None:
    path = make_file(FLAGS)
    with pytest.raises(TypeError):
        feature_flags.FlagStore(path, True, False)  # type: ignore[misc]
    with pytest.raises(TypeError):
        feature_flags.FlagStore(path, count_decision=False)  # type: ignore[call-arg]


def test_reload_health_after_a_bad_file_and_after_recovery(make_file) -> None:
    path = make_file(FLAGS)
    with feature_flags.FlagStore(path, watch=False) as store:
        store.is_enabled("everyone", **CONTEXT)
        first = series(store.metrics_text())
        assert value(first, "feature_flags_reloads_total", result="success") == 1
        assert value(first, "feature_flags_reloads_total", result="failure") == 0
        assert value(first, "feature_flags_last_reload_successful") == 1
        assert value(first, "feature_flags_generation") == 1
        assert value(first, "feature_flags_file_info", fingerprint=store.fingerprint) == 1
        loaded_at = value(first, "feature_flags_last_reload_success_timestamp_seconds")
        assert loaded_at > 1.6e9

        replace_file(path, flag_file({"everyone": {"enabled": "yes"}}))
        with pytest.raises(feature_flags.FlagFileError):
            store.reload()
        broken = series(store.metrics_text())
        assert value(broken, "feature_flags_reloads_total", result="success") == 1
        assert value(broken, "feature_flags_reloads_total", result="failure") == 1
        assert value(broken, "feature_flags_last_reload_successful") == 0
        # The old version keeps serving, and the metrics describe it.
        assert value(broken, "feature_flags_generation") == 1
        assert value(broken, "feature_flags_last_reload_success_timestamp_seconds") == loaded_at
        assert value(broken, "feature_flags_flag_enabled", flag="off") == 0

        recovered_flags = {**FLAGS, "off": {"enabled": True}}
        replace_file(path, flag_file(recovered_flags))
        store.reload()
        store.is_enabled("everyone", **CONTEXT)
        recovered = series(store.metrics_text())
        assert value(recovered, "feature_flags_reloads_total", result="success") == 2
        assert value(recovered, "feature_flags_reloads_total", result="failure") == 1
        assert value(recovered, "feature_flags_last_reload_successful") == 1
        assert value(recovered, "feature_flags_generation") == 2
        assert value(recovered, "feature_flags_file_info", fingerprint=store.fingerprint) == 1
        assert len([key for key in recovered if key[0] == "feature_flags_file_info"]) == 1
        assert value(recovered, "feature_flags_flag_enabled", flag="off") == 1
        assert value(recovered, "feature_flags_last_reload_success_timestamp_seconds") >= loaded_at
        # A flag that the new version keeps keeps its counts.
        assert decisions(recovered, "everyone", "on", "rollout") == 2


def test_the_watcher_reports_a_bad_file_in_the_metrics(make_file) -> None:
    path = make_file(FLAGS)

    def last_reload_successful(store: feature_flags.FlagStore) -> float:
        return value(series(store.metrics_text()), "feature_flags_last_reload_successful")

    with feature_flags.FlagStore(path) as store:
        replace_file(path, "{")
        wait_until(lambda: last_reload_successful(store) == 0, "the watcher to fail a reload")
        assert value(series(store.metrics_text()), "feature_flags_generation") == 1
        replace_file(path, flag_file({"everyone": {"enabled": True}}))
        wait_until(lambda: last_reload_successful(store) == 1, "the watcher to recover")
        samples = series(store.metrics_text())
        assert value(samples, "feature_flags_generation") == 2
        assert value(samples, "feature_flags_reloads_total", result="failure") >= 1


def test_metrics_text_on_a_closed_store_raises_closed_error(make_file) -> None:
    store = feature_flags.FlagStore(make_file(FLAGS), watch=False)
    store.close()
    with pytest.raises(feature_flags.ClosedError):
        store.metrics_text()


def test_closing_while_threads_render_metrics_raises_only_closed_error(make_file) -> None:
    # metrics_text releases the GIL, so close() really runs during a render.
    store = feature_flags.FlagStore(make_file(FLAGS))
    threads_count = 4
    started = threading.Barrier(threads_count + 1, timeout=DEADLINE_SECONDS)
    outcomes: list[str] = []

    def render() -> None:
        started.wait()
        while True:
            try:
                assert "feature_flags_generation 1" in store.metrics_text()
            except feature_flags.ClosedError:
                outcomes.append("closed")
                return
            except Exception as error:  # noqa: BLE001 - reported by the main thread
                outcomes.append(repr(error))
                return

    threads = [threading.Thread(target=render) for _ in range(threads_count)]
    for thread in threads:
        thread.start()
    started.wait()
    store.close()
    for thread in threads:
        thread.join(DEADLINE_SECONDS)
    assert outcomes == ["closed"] * threads_count


def test_the_raw_text_passes_promtool(make_file) -> None:
    with feature_flags.FlagStore(make_file(FLAGS), watch=False) as store:
        store.for_message(**CONTEXT)
        promtool_check(store.metrics_text().encode())


# ---- without prometheus_client -------------------------------------------------------


def run_python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)


def test_importing_feature_flags_does_not_import_prometheus_client() -> None:
    result = run_python(
        "import sys, feature_flags\n"
        'feature_flags.FlagStore.from_json(\'{"version": 1, "flags": {}}\').metrics_text()\n'
        "assert 'prometheus_client' not in sys.modules, 'imported'\n"
    )
    assert result.returncode == 0, result.stderr


def test_the_collector_module_names_the_missing_package() -> None:
    # None in sys.modules makes `import prometheus_client` fail, as if not installed.
    result = run_python(
        "import sys\nsys.modules['prometheus_client'] = None\nimport feature_flags.prometheus\n"
    )
    assert result.returncode != 0
    assert "ImportError: feature_flags.prometheus needs the prometheus_client package" in (
        result.stderr
    )
    assert "pip install prometheus-client" in result.stderr


# ---- the prometheus_client collector -------------------------------------------------


@pytest.fixture
def prometheus():
    pytest.importorskip("prometheus_client", reason="prometheus_client is not installed")
    import feature_flags.prometheus

    return feature_flags.prometheus


@pytest.fixture
def counted_store(make_file):
    store = feature_flags.FlagStore(make_file(FLAGS), watch=False)
    for seconds in (0.01, 0.7, 3.0):
        message = store.for_message(**CONTEXT)
        for name in FLAGS:
            message.is_enabled(name)
        message.record(error=seconds > 1, seconds=seconds)
    store.complaint("everyone")
    store.is_enabled("not_in_the_file", **CONTEXT)
    yield store
    store.close()


def test_the_parser_reads_the_collector_families(prometheus, counted_store) -> None:
    from prometheus_client.parser import text_string_to_metric_families

    collected = list(prometheus.FlagCollector(counted_store).collect())
    # What the collector yields is what the parser makes of the text.
    parsed = list(text_string_to_metric_families(counted_store.metrics_text()))
    assert collected == parsed
    by_name = {family.name: family for family in collected}
    # prometheus_client names counter families without `_total`; their samples keep it.
    assert by_name["feature_flags_decisions"].type == "counter"
    assert by_name["feature_flags_reloads"].type == "counter"
    assert by_name["feature_flags_last_reload_successful"].type == "gauge"
    assert by_name["feature_flags_outcomes"].type == "counter"
    assert by_name["feature_flags_outcome_duration_seconds"].type == "histogram"
    assert by_name["feature_flags_complaints"].type == "counter"
    samples = {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in collected
        for sample in family.samples
    }
    assert samples == series(counted_store.metrics_text())
    assert decisions(samples, "staff", "on", "group") == 3
    assert value(samples, "feature_flags_unknown_flag_decisions_total") == 1


# Texts outside the library's shape, which the collector's quick reader must
# hand to prometheus_client's parser.
OTHER_TEXTS = [
    '# HELP x_total h\n# TYPE x_total counter\nx_total{a="q\\"uote"} 1\n',
    "# HELP x h\\n\n# TYPE x gauge\nx 1\n",
    "# HELP x h\n# TYPE x gauge\nx 1 1700000000000\n",
    "# HELP x h\n# TYPE x counter\nx 1\n",
    "# HELP x h\n# TYPE x summary\nx_count 1\nx_sum 2\n",
    "# HELP x h\n# TYPE x gauge\ny 1\n",
    "untyped_sample 1\n",
]


def test_the_quick_reader_matches_prometheus_client_parser(prometheus, counted_store) -> None:
    from prometheus_client.parser import text_string_to_metric_families

    empty = feature_flags.FlagStore.from_json(flag_file({}))
    library_texts = [
        counted_store.metrics_text(),
        empty.metrics_text(),
        feature_flags.FlagStore.from_json(flag_file(FLAGS)).metrics_text(),
    ]
    for text in library_texts:
        # The library's own text takes the quick path...
        assert prometheus._read_library_text(text) is not None, text
    for text in OTHER_TEXTS:
        # ...anything else the general parser.
        assert prometheus._read_library_text(text) is None, text
    for text in library_texts + OTHER_TEXTS:
        assert prometheus.read_families(text) == list(text_string_to_metric_families(text)), text
    empty.close()


def test_generate_latest_shows_every_series_under_its_own_name(prometheus, counted_store) -> None:
    from prometheus_client import CollectorRegistry, generate_latest

    registry = CollectorRegistry()
    prometheus.register(counted_store, registry)
    exposition = generate_latest(registry).decode()
    lines = exposition.splitlines()
    assert 'feature_flags_decisions_total{flag="everyone",outcome="on",reason="rollout"} 3.0' in (
        lines
    )
    assert 'feature_flags_reloads_total{result="success"} 1.0' in lines
    assert "feature_flags_last_reload_successful 1.0" in lines
    assert "# TYPE feature_flags_decisions_total counter" in lines
    assert "# TYPE feature_flags_reloads_total counter" in lines
    assert "_total_total" not in exposition
    assert families(exposition) == families(counted_store.metrics_text())
    assert series(exposition) == series(counted_store.metrics_text())


def test_generate_latest_output_passes_promtool(prometheus, counted_store) -> None:
    from prometheus_client import CollectorRegistry, generate_latest

    registry = CollectorRegistry()
    prometheus.register(counted_store, registry)
    promtool_check(generate_latest(registry))


def test_openmetrics_exposition_reads_back(prometheus, counted_store) -> None:
    # prometheus_client serves OpenMetrics when the scraper asks for it, as Prometheus does.
    from prometheus_client import CollectorRegistry
    from prometheus_client.openmetrics.exposition import generate_latest
    from prometheus_client.openmetrics.parser import text_string_to_metric_families

    registry = CollectorRegistry()
    prometheus.register(counted_store, registry)
    text = generate_latest(registry).decode()
    assert 'feature_flags_decisions_total{flag="staff",outcome="on",reason="group"} 3.0' in text
    names = {family.name for family in text_string_to_metric_families(text)}
    assert {"feature_flags_decisions", "feature_flags_reloads"} <= names


def test_describe_names_every_family_without_a_native_call(prometheus, counted_store) -> None:
    from prometheus_client import CollectorRegistry

    class CountingStore:
        """Stands in for the store to count metrics_text calls."""

        calls = 0

        def metrics_text(self) -> str:
            CountingStore.calls += 1
            return counted_store.metrics_text()

    collector = prometheus.FlagCollector(counted_store)
    collector.flags = CountingStore()  # type: ignore[assignment]
    CollectorRegistry(auto_describe=True).register(collector)
    assert CountingStore.calls == 0
    described = {(family.name, family.type) for family in collector.describe()}
    collected = {(family.name, family.type) for family in collector.collect()}
    assert CountingStore.calls == 1
    assert collected == described


def test_a_second_store_in_one_registry_is_refused(prometheus, counted_store) -> None:
    from prometheus_client import CollectorRegistry

    registry = CollectorRegistry()
    prometheus.register(counted_store, registry)
    other = feature_flags.FlagStore.from_json(flag_file(FLAGS))
    with pytest.raises(ValueError, match="Duplicated timeseries"):
        prometheus.register(other, registry)
    other.close()


def test_register_defaults_to_the_global_registry(prometheus, counted_store) -> None:
    from prometheus_client import REGISTRY, generate_latest

    collector = prometheus.register(counted_store)
    try:
        assert 'feature_flags_reloads_total{result="success"} 1.0' in (
            generate_latest().decode().splitlines()
        )
    finally:
        REGISTRY.unregister(collector)
    assert b"feature_flags_" not in generate_latest()


def test_a_closed_store_contributes_nothing(prometheus, counted_store) -> None:
    from prometheus_client import CollectorRegistry, Counter, generate_latest

    registry = CollectorRegistry()
    prometheus.register(counted_store, registry)
    Counter("bot_updates", "Updates handled", registry=registry).inc()
    counted_store.close()
    exposition = generate_latest(registry).decode()
    assert "feature_flags_" not in exposition
    assert "bot_updates_total 1.0" in exposition


def test_the_collector_needs_a_store(prometheus) -> None:
    with pytest.raises(TypeError, match="FlagStore"):
        prometheus.FlagCollector("config/feature_flags.json")  # type: ignore[arg-type]


# ---- promtool ------------------------------------------------------------------------


def promtool_check(exposition: bytes) -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        if os.environ.get("CI"):
            pytest.fail("promtool is not installed, and CI is set")
        pytest.skip("promtool is not installed")
    result = subprocess.run(
        [promtool, "check", "metrics"], input=exposition, capture_output=True, timeout=60
    )
    # promtool exits 0 only with no parse error and no lint problem.
    assert result.returncode == 0, (result.stdout + result.stderr).decode()
