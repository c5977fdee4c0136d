"""What the store's lifespan hands its handlers (`request.state["repository"]`)."""

from __future__ import annotations

from typing import TypedDict

from services.store.database import Database
from services.store.repository import ChatKitRepository


class StoreState(TypedDict):
    """The open database pool and the repository over it."""

    db: Database
    repository: ChatKitRepository
