"""Passages as the model sees them, and citations as ChatKit annotations.

`search_book` numbers every passage it returns (`[1]`, `[2]`, ... unique within a
reply); the model cites with those markers; when an assistant message is done, each
marker that names a known passage becomes an annotation whose source links to it.
This works the same for every provider, including ones without native citations.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Mapping

from chatkit.types import (
    Annotation,
    AssistantMessageContentPartAnnotationAdded,
    AssistantMessageItem,
    ThreadItemDoneEvent,
    ThreadItemUpdatedEvent,
    ThreadStreamEvent,
    URLSource,
)

from shared.contracts.retrieval import SearchHit

_MARKER = re.compile(r"\[(\d{1,3}(?:\s*,\s*\d{1,3})*)\]")


def section_of(hit: SearchHit) -> str:
    """The passage's place in the book, e.g. `Setup / Installing`."""
    return " / ".join(hit.source.heading_path) or hit.source.title


def passages_payload(numbered: Mapping[int, SearchHit], scope: str) -> str:
    """The tool result the model reads: numbered passages with where they come from."""
    return json.dumps(
        {
            "scope": scope,
            "passages": [
                {
                    "n": n,
                    "chunk_id": hit.chunk_id,
                    "title": hit.source.title,
                    "section": section_of(hit),
                    "chapter": hit.source.chapter,
                    "url": hit.source.url,
                    "text": hit.text,
                }
                for n, hit in numbered.items()
            ],
        },
        ensure_ascii=False,
    )


def source_for(hit: SearchHit) -> URLSource:
    """A ChatKit source the frontend can link: the passage's URL in the web book."""
    return URLSource(
        url=hit.source.url,
        title=hit.source.title,
        description=section_of(hit),
        group=f"Chapter {hit.source.chapter}" if hit.source.chapter is not None else None,
    )


def annotations_for(text: str, passages: Mapping[int, SearchHit]) -> list[Annotation]:
    """One annotation per cited passage per marker, positioned at the marker's end."""
    annotations = []
    for match in _MARKER.finditer(text):
        for number in (int(n) for n in match.group(1).split(",")):
            hit = passages.get(number)
            if hit is not None:
                annotations.append(Annotation(source=source_for(hit), index=match.end()))
    return annotations


async def annotate(
    events: AsyncIterator[ThreadStreamEvent], passages: Mapping[int, SearchHit]
) -> AsyncIterator[ThreadStreamEvent]:
    """Pass `events` through, adding citation annotations to finished assistant messages."""
    async for event in events:
        if isinstance(event, ThreadItemDoneEvent) and isinstance(event.item, AssistantMessageItem):
            for index, content in enumerate(event.item.content):
                found = annotations_for(content.text, passages)
                start = len(content.annotations)
                for offset, annotation in enumerate(found):
                    yield ThreadItemUpdatedEvent(
                        item_id=event.item.id,
                        update=AssistantMessageContentPartAnnotationAdded(
                            content_index=index,
                            annotation_index=start + offset,
                            annotation=annotation,
                        ),
                    )
                content.annotations.extend(found)
        yield event
