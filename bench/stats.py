"""Percentiles, timing and the one results table every benchmark prints."""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Awaitable, Callable
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

    @property
    def ratio(self) -> float | None:
        return self.value / self.baseline if self.baseline else None


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


def print_table(rows: list[Row]) -> None:
    """Print rows grouped, with the ratio to the baseline where there is one."""
    print(f"\n{'group':<12} {'metric':<46} {'value':>10} {'baseline':>10} {'ratio':>7}  goal")
    print("-" * 105)
    for r in rows:
        base = f"{r.baseline:10.3f}" if r.baseline is not None else " " * 10
        ratio = f"{r.ratio:6.2f}x" if r.ratio is not None else " " * 7
        print(f"{r.group:<12} {r.metric:<46} {r.value:10.3f} {base} {ratio}  {r.unit} {r.goal}")


def save(rows: list[Row], extra: dict[str, Any] | None = None) -> None:
    """Write the run to `bench/results/latest.json`."""
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "rows": [asdict(r) | {"ratio": r.ratio} for r in rows],
        **(extra or {}),
    }
    RESULTS.write_text(json.dumps(payload, indent=2))
    print(f"\nresults written to {RESULTS}")


def median(samples: list[float]) -> float:
    return statistics.median(samples)
