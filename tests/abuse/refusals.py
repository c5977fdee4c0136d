"""What every abuse test checks of a refusal: the status, the JSON envelope, and that it
came quickly."""

from __future__ import annotations

import os
import time
from collections.abc import Awaitable
from typing import Any, TypeVar

T = TypeVar("T")

QUICK_S = 5.0
"""A refusal comes well within this. The requests these tests send ran for 24 s before
they were refused; a refusal itself takes milliseconds, and the margin is for a shared,
slow machine, so no test depends on its speed."""


REFUSALS: list[tuple[str, int, float]] = []
"""(test, status, seconds) of every refusal checked in this run (the suite's summary)."""


async def timed(call: Awaitable[T]) -> tuple[T, float]:
    """`call`'s result and the seconds it took."""
    started = time.monotonic()
    result = await call
    return result, time.monotonic() - started


def assert_refused(status: int, body: Any, expected: int, code: str, took: float) -> str:
    """A refusal with status `expected` and error `code` in the envelope, within `QUICK_S`;
    its message."""
    assert status == expected, body
    test = os.environ.get("PYTEST_CURRENT_TEST", "?").split(" ")[0].split("::", 1)[-1]
    REFUSALS.append((test, status, took))
    error = body["error"]
    assert error["code"] == code and error["message"] and error["request_id"]
    assert took < QUICK_S, f"the refusal took {took:.2f}s"
    return str(error["message"])
