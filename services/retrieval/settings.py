"""Settings of the retrieval service (environment prefix `RETRIEVAL_`)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import SettingsConfigDict

from services.retrieval.local_model import DOCUMENT_TOKENS, Precision
from shared.settings import ServiceSettings

EmbeddingProvider = Literal["local", "openai"]
Fusion = Literal["rrf", "score"]
"""How rankings are fused: reciprocal ranks, or scores calibrated per ranking."""
DEFAULT_MODEL_DIR = Path(".data/models")


class RetrievalSettings(ServiceSettings):
    """Index, embeddings, cache, ranking and ingestion of the retrieval service."""

    model_config = SettingsConfigDict(env_prefix="RETRIEVAL_")

    port: int = Field(default=8102, ge=1, le=65535)
    """TCP port of the retrieval service."""
    max_body_bytes: int = Field(default=8 * 1_048_576, ge=1024)
    """Largest request body accepted, in bytes (ingestion carries whole files)."""

    # -- index ------------------------------------------------------------------
    qdrant_url: str | None = Field(
        default=None, validation_alias=AliasChoices("RETRIEVAL_QDRANT_URL", "QDRANT_URL")
    )
    """Qdrant server URL. Unset: the embedded qdrant-edge engine under `data_dir`."""
    qdrant_api_key: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("RETRIEVAL_QDRANT_API_KEY", "QDRANT_API_KEY")
    )
    """API key of the Qdrant server, if it needs one."""
    collection: str = Field(default="book_chunks", pattern=r"^[A-Za-z0-9_-]{1,64}$")
    """Qdrant collection holding the chunks of every corpus."""
    data_dir: Path = Field(
        default=Path(".data/retrieval"),
        validation_alias=AliasChoices("RETRIEVAL_DATA_DIR"),
    )
    """Where the embedded index keeps its files."""
    index_threads: int = Field(default=4, ge=1, le=64)
    """Threads running index calls off the event loop."""

    # -- embeddings ---------------------------------------------------------------
    embedding_provider: EmbeddingProvider = "local"
    """`local` (all-MiniLM-L6-v2 bundled, offline) or `openai` (any compatible endpoint)."""
    embedding_model: str = "all-MiniLM-L6-v2"
    """Model name sent to the OpenAI-compatible endpoint (ignored by `local`)."""
    embedding_dimensions: int = Field(default=384, ge=8, le=8192)
    """Vector size; must match the model (384 for the local model)."""
    embedding_batch_size: int = Field(default=64, ge=1, le=2048)
    """Texts per provider call when ingesting."""
    embedding_threads: int = Field(default=1, ge=1, le=64)
    """CPU threads of the local model for queries. One: measured here, using every core
    made a single query embed 4-40x slower whenever the other services were busy."""
    embedding_document_threads: int = Field(default=0, ge=0, le=64)
    """CPU threads of the local model for ingestion (0: every core)."""
    local_model_precision: Precision = "fp32"
    """Weights of the local model: `fp32` or `int8` (about 1.5x the ingest rate, vectors at
    0.99 cosine). fp32 is the default because it ranks the same on every x86-64 CPU (int8
    kernels differ with AVX2 / AVX-512 VNNI) and ranked as well or better on the eval's dev
    splits. Changing it re-embeds everything on the next ingestion."""
    local_model_document_tokens: int = Field(default=DOCUMENT_TOKENS, ge=16, le=512)
    """Word pieces of each passage the local model embeds (at most the model's 256; queries
    always get 256). Changing it re-embeds everything on the next ingestion."""
    model_dir: Path = DEFAULT_MODEL_DIR
    """Where the local model's ONNX file is built on first use (bake it into images)."""
    openai_base_url: str = Field(
        default="https://api.openai.com/v1",
        validation_alias=AliasChoices("RETRIEVAL_OPENAI_BASE_URL", "OPENAI_BASE_URL"),
    )
    """Base URL of the OpenAI-compatible embeddings API."""
    openai_api_key: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("RETRIEVAL_OPENAI_API_KEY", "OPENAI_API_KEY")
    )
    """API key for the embeddings endpoint."""
    openai_timeout_s: float = Field(default=30.0, gt=0)
    """Timeout of one embeddings call."""

    # -- cache ------------------------------------------------------------------
    redis_url: str | None = Field(
        default=None, validation_alias=AliasChoices("RETRIEVAL_REDIS_URL", "REDIS_URL")
    )
    """Redis for the shared embedding cache. Unset: the in-process cache only."""
    cache_prefix: str = "chatkit:emb:"
    """Prefix of every embedding cache key in Redis."""
    cache_ttl_s: int = Field(default=30 * 24 * 3600, ge=1)
    """Lifetime of a cached embedding in Redis."""
    cache_timeout_s: float = Field(default=0.05, gt=0)
    """Redis socket timeout; a slower answer counts as a miss."""
    cache_retry_after_s: float = Field(default=5.0, ge=0)
    """After a Redis failure, skip Redis for this long before trying again."""
    lru_size: int = Field(default=20_000, ge=0)
    """Embeddings kept in the in-process LRU in front of Redis (0 disables it)."""

    # -- ranking ----------------------------------------------------------------
    hybrid: bool = True
    """Fuse a BM25 lexical ranking with the dense one (False: dense only)."""
    fusion: Fusion = "score"
    """How the rankings are fused: `rrf` (reciprocal ranks, constant `rrf_k`) or `score`
    (each ranking's scores min-max scaled to [0, 1], then summed with the weights)."""
    rrf_k: int = Field(default=20, ge=1)
    """Reciprocal rank fusion constant (`rrf` only): score = sum(weight / (k + rank))."""
    lexical_weight: float = Field(default=0.4, ge=0)
    """Weight of each lexical ranking in the fusion (dense rankings weigh 1). `score`
    fusion with 0.4 was chosen on the dev splits of the demo book and six third-party FAQ
    sets together (bench/retrieval_eval.py): mean nDCG@10 0.848 against 0.786 for RRF with
    1.5 (the earlier default, tuned on the book alone); with `rrf` use about 1.5."""
    chapter_boost: float = Field(default=1.2, ge=1)
    """Score multiplier for results in the reader's chapter (`full_book` scope)."""
    lesson_boost: float = Field(default=1.1, ge=1)
    """Extra multiplier for results in the reader's lesson (`full_book` scope)."""
    prefetch: int = Field(default=50, ge=1, le=1000)
    """Candidates fetched per ranking before fusion and boosting (at least 4 x top_k)."""

    # -- ingestion --------------------------------------------------------------
    chunk_max_chars: int = Field(default=4000, ge=200)
    """Largest chunk, in characters; longer sections are split. 4000 keeps most sections
    whole: on the dev splits of the book and six FAQ sets it beat 1000 (mean nDCG@10
    +0.02, the book unchanged), though the local model embeds only a chunk's first 256
    tokens."""
    chunk_overlap_chars: int = Field(default=150, ge=0)
    """Text repeated from the end of one split chunk at the start of the next."""
    url_base: str = "/book"
    """Prefix of the links given to the frontend: `{url_base}/{document_id}#{anchor}`."""
    ingest_on_start: Path | None = None
    """Directory ingested at start-up (in the background) when its corpus is empty."""
    ingest_corpus: str = "default"
    """Corpus `ingest_on_start` fills."""
