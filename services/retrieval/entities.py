"""What a reader can @-mention: the chapters and pages of a corpus, matched by title.

A query matches an entry when every word of it starts a word of the entry's title (or
of its folder or page name), case and accents aside; entries whose title starts with the
query come first, then chapters before pages, then book order.
"""

from __future__ import annotations

import re
import unicodedata

from shared.contracts.pages import BookEntity, PageToc

_WORD = re.compile(r"\w+")


def words(text: str) -> list[str]:
    """Lower-cased words without accents."""
    folded = unicodedata.normalize("NFKD", text.casefold())
    return _WORD.findall("".join(c for c in folded if not unicodedata.combining(c)))


def entries(toc: PageToc) -> list[tuple[BookEntity, list[str]]]:
    """Every chapter and page of `toc` in book order, with the words it is found by."""
    out: list[tuple[BookEntity, list[str]]] = []
    for chapter in toc.chapters:
        if chapter.slug:
            entity = BookEntity(
                id=f"chapter:{chapter.slug}",
                title=chapter.title,
                group="Chapters",
                chapter=chapter.chapter,
                page=None,
                folder=chapter.slug,
            )
            out.append((entity, words(f"{chapter.title} {chapter.slug}")))
        for lesson in chapter.lessons:
            entity = BookEntity(
                id=f"page:{lesson.page}",
                title=lesson.title,
                group="Pages",
                chapter=lesson.chapter,
                page=lesson.page,
                folder=chapter.slug,
            )
            out.append((entity, words(f"{lesson.title} {lesson.lesson}")))
    return out


def search_entities(toc: PageToc, query: str, limit: int) -> list[BookEntity]:
    """The best `limit` entries of `toc` for `query` (see the module docstring)."""
    wanted = words(query)
    ranked: list[tuple[tuple[int, int, int], BookEntity]] = []
    for order, (entity, found_by) in enumerate(entries(toc)):
        if not all(any(w.startswith(q) for w in found_by) for q in wanted):
            continue
        title = words(entity.title)
        leading = not wanted or (bool(title) and title[0].startswith(wanted[0]))
        ranked.append(((0 if leading else 1, int(entity.group != "Chapters"), order), entity))
    ranked.sort(key=lambda pair: pair[0])
    return [entity for _, entity in ranked[:limit]]


def find_entity(toc: PageToc, entity_id: str) -> BookEntity | None:
    """The entry with this id, or None."""
    return next((entity for entity, _ in entries(toc) if entity.id == entity_id), None)
