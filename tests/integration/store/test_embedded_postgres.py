"""The embedded PostgreSQL: its data outlives a run, and a killed run does not keep it up."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path
from typing import Any

import asyncpg
import psutil
import pytest

from services.store.database import start_embedded_postgres

# What `make run` does with the embedded server, in a process the test can kill.
HOLDER = """
import sys
from pathlib import Path
from services.store.database import start_embedded_postgres
url, handle = start_embedded_postgres(Path(sys.argv[1]))
print(url, flush=True)
sys.stdin.read()
"""


async def _query(url: str, sql: str) -> Any:
    conn = await asyncpg.connect(url)
    try:
        return await conn.fetchval(sql)
    finally:
        await conn.close()


def test_a_killed_holder_keeps_the_data_and_lets_the_next_one_stop_the_server(
    tmp_path: Path,
) -> None:
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(tmp_path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        url = holder.stdout.readline().strip()
        asyncio.run(_query(url, "CREATE TABLE kept AS SELECT 42 AS v"))
    finally:
        holder.kill()
        holder.wait()

    url, handle = start_embedded_postgres(tmp_path)
    postmaster = psutil.Process(handle.get_pid())
    try:
        assert asyncio.run(_query(url, "SELECT v FROM kept")) == 42
    finally:
        handle.cleanup()
    try:
        # the killed holder no longer counts: the last live one stopped the server
        assert not (tmp_path / "postgres" / "postmaster.pid").exists()
        postmaster.wait(timeout=10)
    finally:
        if postmaster.is_running():
            postmaster.kill()  # not left behind when the test fails


def test_data_of_another_postgresql_major_is_refused_with_what_to_do(tmp_path: Path) -> None:
    (tmp_path / "postgres").mkdir()
    (tmp_path / "postgres" / "PG_VERSION").write_text("16\n")
    with pytest.raises(RuntimeError, match=r"PostgreSQL 16 data.*Move that directory aside"):
        start_embedded_postgres(tmp_path)
