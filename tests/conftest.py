"""Session-wide real infrastructure: one PostgreSQL database and one store service per run."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.support.guard import no_real_model_api
from tests.support.postgres import admin_url, fresh_database
from tests.support.servers import serve

__all__ = ["no_real_model_api"]  # autouse: no test reaches a real model API

os.environ.setdefault("HF_HUB_OFFLINE", "1")


@pytest.fixture(scope="session")
def pg_admin_url() -> Iterator[str]:
    """A PostgreSQL server this run may create databases on."""
    with admin_url() as url:
        yield url


@pytest.fixture(scope="session")
def database_url(pg_admin_url: str) -> Iterator[str]:
    """A database of this run's own, migrated by the first store that opens it."""
    with fresh_database(pg_admin_url) as url:
        yield url


@pytest.fixture(scope="session")
def store_url(database_url: str) -> Iterator[str]:
    """Base URL of a real store service (uvicorn, real port) on this run's database."""
    from services.store.app import create_app
    from services.store.settings import StoreSettings

    settings = StoreSettings(database_url=database_url, log_level="warning", pool_max_size=10)
    with serve(create_app(settings)) as url:
        yield url
