"""Whole-platform fixtures for the fault tests: the book indexed once, a stack per module.

Indexing the demo book costs ~25 s of CPU; it is done once and kept in pytest's cache
directory under a key of everything that shapes the index (the book, the retrieval
code, the index engine's version), and each stack starts from a copy of it.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import shutil
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.support.stack import BOOK, REPO, Stack, build_book_index, platform

StackFactory = Callable[..., AbstractContextManager[Stack]]


def _index_key() -> str:
    digest = hashlib.sha256()
    sources = sorted(BOOK.rglob("*")) + sorted((REPO / "services" / "retrieval").rglob("*.py"))
    for path in sources:
        if path.is_file():
            digest.update(str(path.relative_to(REPO)).encode())
            digest.update(path.read_bytes())
    for package in ("qdrant-edge-py", "onnxruntime"):
        digest.update(importlib.metadata.version(package).encode())
    return digest.hexdigest()[:16]


@pytest.fixture(scope="session")
def book_index(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A retrieval data directory holding the demo book's index (built on a cache miss)."""
    cache = getattr(request.config, "cache", None)  # None under `-p no:cacheprovider`
    cache_dir = cache.mkdir("fault-book-index") if cache else tmp_path_factory.mktemp("index")
    path = cache_dir / _index_key()
    if not (path / ".complete").exists():
        shutil.rmtree(path, ignore_errors=True)
        build_book_index(path)
        (path / ".complete").touch()
        for stale in cache_dir.iterdir():
            if stale != path:
                shutil.rmtree(stale, ignore_errors=True)
    return path


@pytest.fixture(scope="module")
def start_stack(
    tmp_path_factory: pytest.TempPathFactory, database_url: str, book_index: Path
) -> StackFactory:
    """`start_stack(**platform_kwargs)`: the whole platform on this run's database."""

    @contextmanager
    def start(**kwargs: Any) -> Iterator[Stack]:
        tmp = tmp_path_factory.mktemp("platform")
        kwargs.setdefault("database_url", database_url)
        with platform(tmp, index_from=book_index, **kwargs) as stack:
            yield stack

    return start
