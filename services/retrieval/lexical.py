"""The lexical signal: BM25 term weights as Qdrant sparse vectors (IDF applied by the index).

Uses qdrant-edge's BM25 tokenizer (English stemming and stop words), so the embedded engine
and a Qdrant server index exactly the same terms.
"""

from __future__ import annotations

from dataclasses import dataclass

from qdrant_edge import Bm25, Bm25Config


@dataclass(frozen=True)
class Sparse:
    """A sparse vector: term ids and their weights."""

    indices: list[int]
    values: list[float]

    def __bool__(self) -> bool:
        return bool(self.indices)


class Bm25Encoder:
    """Documents get saturated term frequencies, queries get 1.0 per distinct term."""

    def __init__(self, avg_len: float = 120.0) -> None:
        self._model = Bm25(Bm25Config(language="english", avg_len=avg_len))

    def document(self, text: str) -> Sparse:
        vector = self._model.embed_document(text)
        return Sparse(list(vector.indices), list(vector.values))

    def query(self, text: str) -> Sparse:
        vector = self._model.embed_query(text)
        return Sparse(list(vector.indices), list(vector.values))
