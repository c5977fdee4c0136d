"""`make bench`: run every benchmark, print one table, save `bench/results/latest.json`.

    python -m bench [--quick] [NAME ...]

Every row is measured in this run. The table shows each row's ratio to its baseline
and its change since the last run (`latest.json` before it is replaced; it is kept as
`previous.json`). `--quick` (or `BENCH_QUICK=1`) shrinks every benchmark for a smoke
run; its results go to `bench/results/quick/` so they never replace a full run's. NAMEs
pick the benchmarks whose module name contains one of them.
"""

from __future__ import annotations

import argparse
import importlib
import os
import signal
import sys
import time
from pathlib import Path

from bench.config import QUICK_ENV, quick
from bench.stats import RESULTS, Row, load_values, print_table, save

# Each module exposes `bench_rows()` or `main()` returning `list[Row]`; the headline first.
BENCHMARKS = [
    "bench.platform_bench",
    "bench.store_bench",
    "bench.retrieval_bench",
    "bench.retrieval_eval",
    "bench.gateway_bench",
    "bench.chat_bench",
    "bench.resume_bench",
    "bench.client_bench",
]


def results_path() -> Path:
    """Where this run's results go: quick runs apart from full ones."""
    return RESULTS.parent / "quick" / RESULTS.name if quick() else RESULTS


def run(selected: list[str]) -> int:
    path = results_path()
    measured_at, previous = load_values(path)
    started = time.perf_counter()
    rows: list[Row] = []
    failures = []
    for name in BENCHMARKS:
        if selected and not any(s in name for s in selected):
            continue
        print(f"running {name} ...", flush=True)
        module_started = time.perf_counter()
        try:
            module = importlib.import_module(name)
            collect = getattr(module, "bench_rows", None) or module.main
            rows += collect()
        except Exception as exc:  # one broken benchmark must not hide the others
            failures.append(f"{name}: {exc!r}")
        print(f"  {name} took {time.perf_counter() - module_started:.0f}s", flush=True)
        settle()
    wall_s = time.perf_counter() - started
    print_table(rows, previous if measured_at else None)
    if measured_at:
        print(f"\nvs last: change of each value since the run of {measured_at} ({path.name})")
    print(f"wall time {wall_s:.0f}s" + (" (quick)" if quick() else ""))
    save(rows, {"failures": failures, "quick": quick(), "wall_s": wall_s}, path)
    for failure in failures:
        print(f"FAILED {failure}", file=sys.stderr)
    return 1 if failures else 0


def _busy_jiffies() -> tuple[int, int]:
    """(busy, total) CPU time of the whole machine so far, from /proc/stat."""
    with open("/proc/stat") as stat:
        fields = [int(v) for v in stat.readline().split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return sum(fields) - idle, sum(fields)


def settle(quiet: float = 0.25, limit_s: float = 30.0) -> None:
    """Wait until the machine is quiet (below `quiet` of its CPU over half a second), so
    what one benchmark left behind (processes exiting, a database flushing) does not
    land in the next one's numbers."""
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        busy, total = _busy_jiffies()
        time.sleep(0.5)
        busy2, total2 = _busy_jiffies()
        if total2 > total and (busy2 - busy) / (total2 - total) < quiet:
            return


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="smoke run: every benchmark shrunk")
    parser.add_argument("names", nargs="*", help="only benchmarks whose module contains these")
    args = parser.parse_args(argv)
    if args.quick:
        os.environ[QUICK_ENV] = "1"
    # SIGTERM unwinds like Ctrl-C, so every process a benchmark started is stopped.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    return run(args.names)


if __name__ == "__main__":
    sys.exit(main())
