"""The abuse suite: the real services as processes, tried as a hostile client would.

Each test asserts the clear 4xx with the JSON envelope, how long the refusal took (a
request that should be refused must not run for seconds), and that nothing already
stored changed. The platform fixtures are the fault suite's (`start_stack`).
"""

from __future__ import annotations

from typing import Any

from tests.abuse.refusals import REFUSALS
from tests.fault.conftest import StackFactory, book_index, start_stack

__all__ = ["StackFactory", "book_index", "start_stack"]


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """How long the refusals took, per test: what the issue's closing note reports."""
    if not REFUSALS:
        return
    by_test: dict[str, list[tuple[int, float]]] = {}
    for test, status, took in REFUSALS:
        by_test.setdefault(test, []).append((status, took))
    terminalreporter.section("abuse: refusals (status, count, slowest)")
    for test, seen in by_test.items():
        statuses = ",".join(sorted({str(s) for s, _ in seen}))
        slowest = max(t for _, t in seen) * 1000
        terminalreporter.write_line(f"{test:<70} {statuses:<8} {len(seen):>3}  {slowest:7.1f} ms")
