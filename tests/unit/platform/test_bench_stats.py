"""`bench/stats.py` arithmetic: percentiles, ratios, changes since the last run, the table."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.stats import (
    Row,
    change_pct,
    format_table,
    latency_rows,
    load_values,
    percentile,
    row_key,
    save,
)


def test_percentile_is_nearest_rank_on_unsorted_samples() -> None:
    samples = [float(n) for n in range(100, 0, -1)]  # 100 .. 1
    assert percentile(samples, 50) == 50
    assert percentile(samples, 99) == 99
    assert percentile(samples, 100) == 100
    assert percentile(samples, 0) == 1
    assert percentile([7.0], 99) == 7
    assert percentile([1.0, 2.0, 3.0, 4.0], 50) == 2


def test_ratio_is_value_over_baseline_and_none_without_one() -> None:
    assert Row("g", "m", 3.0, "ms", 1.5).ratio == 2.0
    assert Row("g", "m", 3.0, "ms").ratio is None
    assert Row("g", "m", 3.0, "ms", 0.0).ratio is None


def test_latency_rows_give_p50_and_p99_against_the_baseline() -> None:
    samples = [float(n) for n in range(1, 101)]
    base = [n / 2 for n in samples]
    p50, p99 = latency_rows("e2e", "ttft", samples, base, "goal")
    assert (p50.metric, p50.value, p50.baseline, p50.ratio, p50.goal) == (
        "ttft p50",
        50,
        25,
        2.0,
        "goal",
    )
    assert (p99.metric, p99.value, p99.baseline, p99.goal) == ("ttft p99", 99, 49.5, "")
    assert latency_rows("e2e", "ttft", samples, None)[0].baseline is None


def test_change_since_the_last_run_in_percent() -> None:
    assert change_pct(110.0, 100.0) == pytest.approx(10.0)
    assert change_pct(90.0, 100.0) == pytest.approx(-10.0)
    assert change_pct(-5.0, -10.0) == pytest.approx(50.0)
    assert change_pct(1.0, None) is None
    assert change_pct(1.0, 0.0) is None


def test_table_shows_ratio_change_unit_and_goal() -> None:
    rows = [
        Row("e2e", "first text delta p50", 30.0, "ms", 15.0, "<= 2x"),
        Row("memory", "chat RSS idle", 150.0, "MiB"),
        Row("retrieval", "LRU hit vs provider", 0.02, "ms", 80.0),
    ]
    previous = {row_key("e2e", "first text delta p50"): 25.0}
    lines = format_table(rows, previous).splitlines()
    assert "vs last" in lines[0] and "ratio" in lines[0]
    first, second, third = lines[2:]
    assert first.split()[-6:] == ["15.000", "2.00x", "+20.0%", "ms", "<=", "2x"]
    assert second.split()[-3:] == ["150.000", "new", "MiB"]
    assert "0.00025x" in third
    assert "vs last" not in format_table(rows).splitlines()[0]


def test_ratio_goals_are_checked_and_summed_up() -> None:
    rows = [
        Row("gateway", "RSS per stream", 36.0, "KB", 25.0, max_ratio=1.5),
        Row("gateway", "events/s", 70.0, "1/s", 100.0, min_ratio=0.8),
        Row("store", "p50", 1.0, "ms"),
    ]
    assert [r.met for r in rows] == [True, False, None]
    table = format_table(rows)
    assert "ratio <= 1.5x met" in table and "ratio >= 0.8x MISSED" in table
    assert "ratio goals: 1 of 2 met" in table
    assert "missed: gateway / events/s (0.70x)" in table


def test_save_keeps_the_previous_run_and_records_each_rows_last_value(tmp_path: Path) -> None:
    latest = tmp_path / "latest.json"
    assert load_values(latest) == (None, {})
    save([Row("g", "m", 2.0, "ms", 1.0)], {"quick": False}, latest)
    save([Row("g", "m", 3.0, "ms", 1.0, max_ratio=2.0)], None, latest)
    first = json.loads((tmp_path / "previous.json").read_text())
    second = json.loads(latest.read_text())
    assert first["rows"][0]["value"] == 2.0 and first["quick"] is False
    assert second["rows"][0] == {
        "group": "g",
        "metric": "m",
        "value": 3.0,
        "unit": "ms",
        "baseline": 1.0,
        "goal": "",
        "max_ratio": 2.0,
        "min_ratio": None,
        "ratio": 3.0,
        "met": False,
        "previous": 2.0,
    }
    measured_at, values = load_values(latest)
    assert measured_at and values == {row_key("g", "m"): 3.0}
