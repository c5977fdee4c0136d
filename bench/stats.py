"""Percentiles, timing and the one results table every benchmark prints."""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).parent / "results" / "latest.json"


def percentile(samples: list[float], pct: float) -> float:
    """Nearest-rank percentile of `samples`."""
    ordered = sorted(samples)
    index = min(len(ordered) - 1, max(0, round(pct / 100 * len(ordered)) - 1))
    return ordered[index]


async def time_calls(call: Callable[[], Awaitable[Any]], n: int, warmup: int = 20) -> list[float]:
    """Latencies in milliseconds of `n` sequential awaits of `call()`."""
    for _ in range(warmup):
        await call()
    samples = []
    for _ in range(n):
        started = time.perf_counter()
        await call()
        samples.append((time.perf_counter() - started) * 1000)
    return samples


@dataclass
class Row:
    """One measured line of the results table."""

    group: str
    metric: str
    value: float
    unit: str
    baseline: float | None = None
    """The same metric on the baseline path, measured in the same run."""
    goal: str = ""
    """A goal in words, where it is not a ratio."""
    max_ratio: float | None = None
    """The goal as a ratio to the baseline: at most this..."""
    min_ratio: float | None = None
    """...or at least this."""

    @property
    def ratio(self) -> float | None:
        return self.value / self.baseline if self.baseline else None

    @property
    def met(self) -> bool | None:
        """Whether the ratio goal is met (None: no ratio goal)."""
        ratio = self.ratio
        if ratio is None or (self.max_ratio is None and self.min_ratio is None):
            return None
        if self.max_ratio is not None and ratio > self.max_ratio:
            return False
        return not (self.min_ratio is not None and ratio < self.min_ratio)

    @property
    def goal_text(self) -> str:
        if self.max_ratio is not None:
            target = f"ratio <= {self.max_ratio:g}x"
        elif self.min_ratio is not None:
            target = f"ratio >= {self.min_ratio:g}x"
        else:
            return self.goal
        return f"{target} {'met' if self.met else 'MISSED'}"


def latency_rows(
    group: str, name: str, samples: list[float], base: list[float] | None, goal: str = ""
) -> list[Row]:
    """p50 and p99 rows for `samples`, against `base` when given."""
    return [
        Row(
            group,
            f"{name} p{p}",
            percentile(samples, p),
            "ms",
            percentile(base, p) if base else None,
            goal if p == 50 else "",
        )
        for p in (50, 99)
    ]


def row_key(group: str, metric: str) -> str:
    """How a row is matched across runs."""
    return f"{group} / {metric}"


def change_pct(value: float, before: float | None) -> float | None:
    """Relative change from `before` to `value`, in percent (None without a usable `before`)."""
    return (value - before) / abs(before) * 100 if before else None


def _number(value: float) -> str:
    return f"{value:10.3f}" if abs(value) < 1e5 else f"{value:10.0f}"


def _ratio(ratio: float) -> str:
    return f"{ratio:.2f}x" if ratio >= 0.1 else f"{ratio:.2g}x"


def format_table(rows: list[Row], previous: Mapping[str, float] | None = None) -> str:
    """The table: each row with its ratio to the baseline and, given `previous` values
    (by `row_key`), its change since that run."""
    width = max([46, *(len(r.metric) for r in rows)])
    last = "   vs last" if previous is not None else ""
    lines = [
        f"{'group':<12} {'metric':<{width}} {'value':>10} {'baseline':>10} {'ratio':>8}{last}"
        "  unit / goal",
        "-" * (width + 60 + len(last)),
    ]
    for r in rows:
        base = _number(r.baseline) if r.baseline is not None else " " * 10
        ratio = _ratio(r.ratio) if r.ratio is not None else ""
        line = f"{r.group:<12} {r.metric:<{width}} {_number(r.value)} {base} {ratio:>8}"
        if previous is not None:
            before = previous.get(row_key(r.group, r.metric))
            change = change_pct(r.value, before)
            line += (
                f"{'new' if before is None else '':>10}" if change is None else f"{change:+9.1f}%"
            )
        lines.append(f"{line}  {r.unit} {r.goal_text}".rstrip())
    goals = [r for r in rows if r.met is not None]
    if goals:
        missed = [r for r in goals if not r.met]
        lines.append(
            f"\nratio goals: {len(goals) - len(missed)} of {len(goals)} met"
            + "".join(
                f"\n  missed: {r.group} / {r.metric} ({_ratio(r.ratio or 0)})" for r in missed
            )
        )
    return "\n".join(lines)


def print_table(rows: list[Row], previous: Mapping[str, float] | None = None) -> None:
    """Print rows grouped, with the ratio to the baseline (and the change since `previous`)."""
    print("\n" + format_table(rows, previous))


def load_values(path: Path = RESULTS) -> tuple[str | None, dict[str, float]]:
    """When a saved run was measured and its values by `row_key` (nothing if no file)."""
    if not path.exists():
        return None, {}
    payload = json.loads(path.read_text())
    values = {row_key(r["group"], r["metric"]): float(r["value"]) for r in payload["rows"]}
    return payload.get("measured_at"), values


def save(rows: list[Row], extra: dict[str, Any] | None = None, path: Path = RESULTS) -> None:
    """Write the run to `path` (`bench/results/latest.json`); the file there before is kept
    as `previous.json` beside it, and each row records its value in that run."""
    path.parent.mkdir(parents=True, exist_ok=True)
    _, before = load_values(path)
    if path.exists():
        path.replace(path.with_name("previous.json"))
    payload = {
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "rows": [
            asdict(r)
            | {"ratio": r.ratio, "met": r.met, "previous": before.get(row_key(r.group, r.metric))}
            for r in rows
        ],
        **(extra or {}),
    }
    path.write_text(json.dumps(payload, indent=2))
    print(f"\nresults written to {path}")


def median(samples: list[float]) -> float:
    return statistics.median(samples)
