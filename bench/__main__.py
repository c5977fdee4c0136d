"""`make bench`: run every benchmark, print one table, save `bench/results/latest.json`."""

from __future__ import annotations

import importlib
import sys

from bench.stats import Row, print_table, save

# Each module exposes `bench_rows()` or `main()` returning `list[Row]`.
BENCHMARKS = [
    "bench.store_bench",
    "bench.retrieval_bench",
    "bench.retrieval_eval",
    "bench.gateway_bench",
    "bench.chat_bench",
]


def run(selected: list[str]) -> int:
    rows: list[Row] = []
    failures = []
    for name in BENCHMARKS:
        if selected and not any(s in name for s in selected):
            continue
        print(f"running {name} ...", flush=True)
        try:
            module = importlib.import_module(name)
            rows += getattr(module, "bench_rows", module.main)()
        except Exception as exc:  # one broken benchmark must not hide the others
            failures.append(f"{name}: {exc!r}")
    print_table(rows)
    save(rows, {"failures": failures})
    for failure in failures:
        print(f"FAILED {failure}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(run(sys.argv[1:]))
