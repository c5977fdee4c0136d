"""`python -m services.retrieval.ingest PATH --corpus NAME`, the documented command, as a real
process (`ingest.py` run as a module hands its arguments to `services.retrieval.cli.main`)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from services.retrieval.index.edge import EdgeIndex
from tests.integration.retrieval.conftest import write_book

REPO = Path(__file__).resolve().parents[3]


def run_cli(*args: str, data_dir: Path) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "RETRIEVAL_DATA_DIR": str(data_dir),
        "RETRIEVAL_REDIS_URL": "",
        "REDIS_URL": "",
        "HF_HUB_OFFLINE": "1",
    }
    return subprocess.run(
        [sys.executable, "-m", "services.retrieval.ingest", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


async def test_cli_ingests_a_book_idempotently_and_prunes(tmp_path: Path) -> None:
    book = write_book(tmp_path / "book")
    (book / "README.md").write_text("# Not a page\n")
    data = tmp_path / "index"
    first = run_cli(str(book), "--corpus", "cli", data_dir=data)
    assert first.returncode == 0, first.stderr
    assert "5 files: 5 created, 0 updated, 0 unchanged" in first.stdout
    assert "chunks" in first.stderr  # the tqdm progress bar
    second = run_cli(str(book), "--corpus", "cli", "--quiet", data_dir=data)
    assert "0 created, 0 updated, 5 unchanged; 0 chunks written" in second.stdout

    (book / "03-ops" / "01-monitoring.md").unlink()
    pruned = run_cli(str(book), "--corpus", "cli", "--prune", "--quiet", data_dir=data)
    assert pruned.returncode == 0, pruned.stderr
    index = EdgeIndex(data / "edge" / "book_chunks", 384)
    await index.open()
    try:
        documents = await index.documents("cli")
    finally:
        await index.close()
    assert sorted(documents) == [
        "01-basics/01-installing",
        "01-basics/02-configuration",
        "02-search/01-scopes",
        "02-search/02-caching",
    ]


def test_cli_rejects_a_missing_path(tmp_path: Path) -> None:
    result = run_cli(str(tmp_path / "nope"), data_dir=tmp_path / "index")
    assert result.returncode == 2
    assert "does not exist" in result.stderr
