"""Waiting on observable state instead of sleeping: a condition polled until it holds, and
a service's count of finished requests (`http_requests_total` on its `/metrics`)."""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar, overload

import httpx
from prometheus_client.parser import text_string_to_metric_families

T = TypeVar("T")

POLL_S = 0.02


@overload
async def until(
    condition: Callable[[], Awaitable[T]], *, within: float = ..., what: str = ...
) -> T: ...
@overload
async def until(condition: Callable[[], T], *, within: float = ..., what: str = ...) -> T: ...
async def until(
    condition: Callable[[], Any], *, within: float = 60.0, what: str = "condition"
) -> Any:
    """Poll `condition` (plain or async) until it returns something truthy, and return that.

    `within` only bounds a failure (a condition that never holds); one that holds returns as
    soon as it is seen, so a generous bound costs nothing on a fast machine.
    """
    deadline = time.monotonic() + within
    while True:
        value = condition()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not reached within {within:g}s")
        await asyncio.sleep(POLL_S)


async def finished_requests(base_url: str, method: str, route: str) -> float:
    """How many `method route` requests (any status) the service at `base_url` has finished.

    The request middleware counts a request once the app has returned, so for a stream
    that is after everything the handler did, its work after a disconnect included.
    """
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as http:
        response = await http.get("/metrics")
    response.raise_for_status()
    return sum(
        sample.value
        for family in text_string_to_metric_families(response.text)
        if family.name == "http_requests"
        for sample in family.samples
        if sample.name == "http_requests_total"
        and sample.labels.get("method") == method
        and sample.labels.get("route") == route
    )


async def until_finished(
    base_url: str, method: str, route: str, count: float, *, within: float = 60.0
) -> None:
    """Wait until the service at `base_url` has finished `count` `method route` requests."""

    async def reached() -> bool:
        return await finished_requests(base_url, method, route) >= count

    await until(reached, within=within, what=f"{count:g} finished {method} {route}")
