"""@-mentions of the book: a tag in a reader's message names a chapter or page of the
corpus (`page:<document_id>` or `chapter:<folder>`, as the retrieval service's entity
search gives them). Each is resolved through the retrieval service, by its id only (the
tag's text and data come from the client and are not trusted), into its title and best
passages for the model; `search_book` searches the mentioned pages and chapters first.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from chatkit.types import UserMessageInput, UserMessageItem, UserMessageTagContent

from services.chat.errors import NotSupported, UnknownMention
from shared.contracts.common import PageContext
from shared.contracts.pages import BookEntity
from shared.contracts.retrieval import SearchHit, SearchRequest, SearchResponse, SearchScope

MAX_MENTIONS = 5
"""Tags of one message that are resolved (the gateway refuses messages with more)."""
PASSAGES_PER_MENTION = 3
PASSAGE_CHARS = 800
"""Each passage given with a mention is cut to this many characters."""


@runtime_checkable
class EntityBackend(Protocol):
    """Looks mentions up and searches them (`RetrievalClient` provides it)."""

    async def entity(self, corpus: str, entity_id: str) -> BookEntity | None: ...

    async def search(self, request: SearchRequest) -> SearchResponse: ...


def scope_of(entity: BookEntity) -> tuple[SearchScope, PageContext]:
    """The search scope (and reader position for it) that stays inside `entity`."""
    if entity.page is not None:
        return "current_page", PageContext(current_page=entity.page)
    if entity.chapter is not None:
        return "current_chapter", PageContext(current_chapter=entity.chapter)
    return "full_book", PageContext()  # a folder without a chapter number


@dataclass(frozen=True)
class Mention:
    """A resolved tag: what it names and the passages that best represent it."""

    tag_id: str
    entity: BookEntity
    passages: list[SearchHit]

    def scope(self) -> tuple[SearchScope, PageContext]:
        """The search scope (and reader position for it) that stays inside this entity."""
        return scope_of(self.entity)

    def describe(self) -> str:
        """What the model reads in place of the tag."""
        kind = "page" if self.entity.page is not None else "chapter"
        where = f" (chapter {self.entity.chapter})" if self.entity.chapter is not None else ""
        lines = [
            f'@{self.entity.title}: the reader mentions the {kind} "{self.entity.title}"'
            f"{where} of the book."
        ]
        if self.passages:
            lines.append("Passages from it:")
            lines += [f"- {' '.join(hit.text.split())[:PASSAGE_CHARS]}" for hit in self.passages]
        return "\n".join(lines)


def tags_of(message: UserMessageInput | UserMessageItem | None) -> list[UserMessageTagContent]:
    """The tags of `message`, each id once, in order."""
    if message is None:
        return []
    seen: set[str] = set()
    tags = []
    for part in message.content:
        if isinstance(part, UserMessageTagContent) and part.id not in seen:
            seen.add(part.id)
            tags.append(part)
    return tags


async def resolve(
    backend: object, corpus: str, message: UserMessageInput | UserMessageItem | None
) -> dict[str, Mention]:
    """The chapters and pages `message` mentions, by tag id. Raises `UnknownMention` for a
    tag that names nothing in `corpus` or for more than MAX_MENTIONS tags, `NotSupported`
    when `backend` cannot look tags up, and `shared.http.UpstreamError` when the retrieval
    service fails: all before an answer starts, so the message is refused, not stored."""
    tags = tags_of(message)
    if not tags:
        return {}
    if len(tags) > MAX_MENTIONS:
        raise UnknownMention(f"A message may mention at most {MAX_MENTIONS} chapters or pages.")
    if not isinstance(backend, EntityBackend):
        raise NotSupported("This chat service cannot resolve @-mentions.")
    found: dict[str, Mention] = {}
    for tag in tags:
        entity = await backend.entity(corpus, tag.id)
        if entity is None:
            raise UnknownMention(
                f"@{tag.text[:80]} ({tag.id[:120]!r}) is not a chapter or page of this book."
            )
        scope, page = scope_of(entity)
        request = SearchRequest(
            queries=[entity.title],
            scope=scope,
            page_context=page,
            top_k=PASSAGES_PER_MENTION,
            corpus=corpus,
        )
        found[tag.id] = Mention(tag.id, entity, (await backend.search(request)).results)
    return found
