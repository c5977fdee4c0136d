"""Contract of the retrieval service: search the book (and ingest into it)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from shared.contracts.common import Id, PageContext

MAX_QUERIES = 10
"""Most query phrasings one search may carry."""
MAX_TOP_K = 50
"""Most results one search may return."""

SearchScope = Literal["current_page", "current_chapter", "full_book"]
"""`current_page`/`current_chapter`: strict filter; `full_book`: all, boosted near the reader."""

Query = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)]


class _Contract(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SearchRequest(_Contract):
    """One search: several phrasings of the same need, fused into one ranking."""

    queries: list[Query] = Field(min_length=1, max_length=MAX_QUERIES)
    """Phrasings of the question (1-10); embedded in one batch and fused."""
    scope: SearchScope = "full_book"
    """Where to search."""
    page_context: PageContext = Field(default_factory=PageContext)
    """Where the reader is: the filter for narrow scopes, the boost for `full_book`."""
    top_k: int = Field(default=5, ge=1, le=MAX_TOP_K)
    """How many results to return."""
    corpus: Id = "default"
    """Which book (tenant) to search."""


class Source(_Contract):
    """Where a passage comes from, precise enough for the frontend to link to it."""

    document_id: str
    """Id of the ingested document."""
    title: str
    """Title of the document (page)."""
    chapter: int | None = None
    """Chapter number."""
    lesson: str | None = None
    """Lesson slug."""
    page: str | None = None
    """Page id/path in the book."""
    heading_path: list[str] = Field(default_factory=list)
    """Headings from the page title down to the passage's section."""
    url: str
    """Link (path plus anchor) to the passage in the web book."""


class SearchHit(_Contract):
    """One passage, ranked."""

    chunk_id: str
    """Stable id of the chunk."""
    text: str
    """The passage text."""
    score: float
    """Final score after fusion and boosting (higher is better)."""
    boost: float = 1.0
    """Multiplier applied for being near the reader (1.0 = none)."""
    source: Source
    """Where the passage comes from."""


class SearchResponse(_Contract):
    """Results of one search, best first."""

    results: list[SearchHit]
    """Ranked, deduplicated passages."""
    scope: SearchScope
    """The scope that was applied."""


# -- ingestion -----------------------------------------------------------------

MAX_DOCUMENTS_PER_REQUEST = 100
"""Most documents one ingestion request may carry."""
DOCUMENT_SUFFIXES = (".md", ".markdown", ".html", ".htm")
"""File types the ingester understands (by the document path's suffix)."""

DocumentPath = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=1024)
]


PublishedUrl = Annotated[
    str, StringConstraints(max_length=2048, pattern=r"^(https?://[^\s]+|/[^\s]*)$")
]
"""An absolute http(s) URL, or a path on the reader's own site."""


class IngestDocument(_Contract):
    """One file to ingest, identified by its path inside the book."""

    path: DocumentPath
    """Relative path in the book, e.g. `01-intro/02-setup.md`; its suffix picks the parser."""
    content: str = Field(max_length=4_000_000)
    """The file's text (Markdown with optional YAML front matter, or HTML)."""
    url: PublishedUrl | None = None
    """Where the page is published (`https://docs.example.com/faq/install.html`): hits link
    there, `<url>#<anchor>`, instead of the reader's `/book/...`. The page's own front
    matter `url` or `<meta name="url">` wins."""
    chapter: int | None = Field(default=None, ge=0, le=100_000)
    """The page's chapter where its path does not say (a site folder without a number);
    the page's own front matter `chapter` or `<meta name="chapter">` wins."""


class IngestRequest(_Contract):
    """Documents to add or replace in one corpus."""

    documents: list[IngestDocument] = Field(min_length=1, max_length=MAX_DOCUMENTS_PER_REQUEST)
    """Files to ingest; each replaces any earlier version with the same path."""
    corpus: Id = "default"
    """Which book (tenant) the documents belong to."""


DocumentStatus = Literal["created", "updated", "unchanged"]
"""What ingestion did to one document."""


class DocumentResult(_Contract):
    """Outcome of ingesting one document."""

    document_id: str
    """Id the document is stored (and deleted) under: its path without the suffix."""
    status: DocumentStatus
    """`created`, `updated` (old chunks replaced) or `unchanged` (nothing written)."""
    chunks: int
    """Chunks the document has now."""
    written: int
    """Chunks embedded and written by this call."""
    deleted: int
    """Stale chunks removed by this call."""


class IngestResponse(_Contract):
    """Outcome of one ingestion request."""

    corpus: str
    """The corpus written to."""
    documents: list[DocumentResult]
    """One result per document, in request order."""


class DeleteResponse(_Contract):
    """Outcome of deleting one document."""

    corpus: str
    """The corpus the document was in."""
    document_id: str
    """The deleted document."""
    deleted: int
    """Chunks removed."""


class CorpusQuery(_Contract):
    """Query parameters naming a corpus."""

    corpus: Id = "default"
    """Which book (tenant)."""


class DocumentQuery(_Contract):
    """Query parameters naming one document of a corpus."""

    corpus: Id = "default"
    """Which book (tenant)."""
    document_id: Annotated[str, StringConstraints(min_length=1, max_length=1024)]
    """Id of the document (its path in the book without the suffix)."""


class DocumentSummary(_Contract):
    """One stored document."""

    document_id: str
    """Id of the document."""
    chunks: int
    """How many chunks it has."""


class DocumentList(_Contract):
    """The documents stored in one corpus."""

    corpus: str
    """The corpus listed."""
    documents: list[DocumentSummary]
    """Stored documents, by id."""
