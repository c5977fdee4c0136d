"""`cancellation.py`: store writes finished after the client went away."""

from __future__ import annotations

import asyncio

import anyio

from services.chat.cancellation import finish_shielded


async def test_shielded_save_survives_the_disconnect_scope() -> None:
    saved: list[str] = []

    async def save(label: str) -> None:
        await asyncio.sleep(0.05)  # real I/O takes time
        saved.append(label)

    async def handler(shielded: bool) -> None:
        with anyio.CancelScope() as scope:
            scope.cancel()  # the client went away
            try:
                await anyio.sleep(1)
            except asyncio.CancelledError:
                label = "shielded" if shielded else "plain"
                if shielded:
                    await finish_shielded(save(label), 2)
                else:
                    await save(label)
                raise

    await handler(shielded=False)
    await handler(shielded=True)
    assert saved == ["shielded"]


async def test_shielded_save_gives_up_after_its_limit() -> None:
    async def never() -> None:
        await asyncio.sleep(10)

    started = asyncio.get_running_loop().time()
    assert await finish_shielded(never(), 0.05) is False
    assert asyncio.get_running_loop().time() - started < 1
