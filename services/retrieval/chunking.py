"""Split parsed pages into chunks: one per heading section, long sections split with overlap."""

from __future__ import annotations

import hashlib
import itertools
import re
import uuid
from dataclasses import dataclass
from typing import Any

from services.retrieval.documents import ParsedDocument

_FENCE = re.compile(r"^\s*(```|~~~)")
_SENTENCE_END = re.compile(r"(?<=[.!?:;])\s+")
POINT_NAMESPACE = uuid.UUID("6c1f7a3e-9a55-4f43-9b8e-3c0f2f8f5a10")


@dataclass(frozen=True)
class Chunk:
    """One retrievable passage of a document."""

    document_id: str
    index: int
    heading_path: tuple[str, ...]
    anchor: str | None
    text: str

    def embedding_text(self) -> str:
        """What gets embedded and scored lexically: the headings give the passage its topic."""
        return " > ".join(self.heading_path) + "\n\n" + self.text


def chunk_document(doc: ParsedDocument, max_chars: int = 1000, overlap: int = 150) -> list[Chunk]:
    """Chunks of `doc` in reading order: sections kept whole up to `max_chars`."""
    chunks: list[Chunk] = []
    for section in doc.sections:
        for piece in split_text(section.text, max_chars, overlap):
            chunks.append(
                Chunk(doc.document_id, len(chunks), section.heading_path, section.anchor, piece)
            )
    return chunks


def split_text(text: str, max_chars: int, overlap: int = 0) -> list[str]:
    """Pack blocks (paragraphs, whole code fences) into pieces of at most `max_chars`.

    A piece after the first starts with up to `overlap` characters from the end of the
    previous one, cut at a word boundary. Blocks longer than the cap are split on
    sentences, then on words.
    """
    text = text.strip()
    if not text:
        return []
    if len(text) <= max_chars:
        return [text]
    overlap = min(overlap, max_chars // 3)
    # Later pieces leave room for the overlap tail and its blank-line separator.
    budget = max_chars - overlap - 2 if overlap else max_chars
    units: list[str] = []
    for block in _blocks(text):
        if len(block) <= budget:
            units.append(block)
        else:
            units.extend(_split_long(block, budget))
    pieces: list[str] = []
    current: list[str] = []
    size = 0
    for unit in units:
        added = len(unit) + (2 if current else 0)
        if current and size + added > (budget if pieces else max_chars):
            pieces.append("\n\n".join(current))
            current, size = [], 0
            added = len(unit)
        current.append(unit)
        size += added
    if current:
        pieces.append("\n\n".join(current))
    if overlap <= 0:
        return pieces
    return [pieces[0]] + [
        _tail(prev, overlap) + piece for prev, piece in itertools.pairwise(pieces)
    ]


def _blocks(text: str) -> list[str]:
    """Paragraphs separated by blank lines, keeping fenced code blocks in one piece."""
    blocks: list[str] = []
    current: list[str] = []
    in_fence = False
    for line in text.splitlines():
        if _FENCE.match(line):
            in_fence = not in_fence
        if not line.strip() and not in_fence:
            if current:
                blocks.append("\n".join(current))
                current = []
            continue
        current.append(line)
    if current:
        blocks.append("\n".join(current))
    return blocks


def _split_long(block: str, limit: int) -> list[str]:
    parts = _SENTENCE_END.split(block) if "\n" not in block.strip() else block.splitlines()
    out: list[str] = []
    current = ""
    for part in parts:
        while len(part) > limit:
            cut = part.rfind(" ", 0, limit)
            cut = cut if cut > limit // 2 else limit
            head, part = part[:cut], part[cut:].lstrip()
            if current:
                out.append(current)
                current = ""
            out.append(head)
        joined = f"{current} {part}" if current else part
        if len(joined) > limit:
            out.append(current)
            current = part
        else:
            current = joined
    if current:
        out.append(current)
    return [piece for piece in out if piece.strip()]


def _tail(text: str, overlap: int) -> str:
    tail = text[-overlap:]
    space = tail.find(" ")
    if 0 <= space < len(tail) - 1:
        tail = tail[space + 1 :]
    return tail.strip() + "\n\n"


def text_hash(text: str) -> str:
    """Stable hash of a passage (also the dedup key of identical passages)."""
    return hashlib.sha256(" ".join(text.split()).lower().encode()).hexdigest()[:32]


def chunk_payload(corpus: str, doc: ParsedDocument, chunk: Chunk, url_base: str) -> dict[str, Any]:
    """The stored payload of a chunk: what filters, boosts and the returned source need."""
    page_url = doc.url or f"{url_base.rstrip('/')}/{doc.document_id}"
    return {
        "corpus": corpus,
        "document_id": doc.document_id,
        "page": doc.document_id,
        "chapter": doc.chapter,
        "lesson": doc.lesson,
        "title": doc.title,
        "path": doc.path,
        "heading_path": list(chunk.heading_path),
        "url": f"{page_url}#{chunk.anchor}" if chunk.anchor else page_url,
        "chunk_index": chunk.index,
        "text": chunk.text,
        "text_hash": text_hash(chunk.text),
    }


def point_id(corpus: str, payload: dict[str, Any], model_id: str) -> str:
    """Deterministic id of a chunk: equal ids mean equal payload and embedding model.

    Re-ingesting an unchanged file therefore finds every id already stored and writes nothing.
    """
    fields = [corpus, model_id] + [
        repr(payload[key])
        for key in (
            "document_id",
            "chapter",
            "lesson",
            "title",
            "heading_path",
            "url",
            "chunk_index",
            "text",
        )
    ]
    return str(uuid.uuid5(POINT_NAMESPACE, "\x1f".join(fields)))
