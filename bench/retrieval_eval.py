"""Retrieval quality on the demo book: recall@5, recall@10, nDCG@10 and MRR, through the HTTP API.

    python -m bench.retrieval_eval [--book docs/book] [--split all|dev|test] [--modes hybrid,dense]

Ingests the book into a fresh embedded index (via `POST /v1/documents`), then sends every
question of `bench/data/retrieval_eval.jsonl` to `POST /v1/search` with its page context,
once per ranking mode, side by side. A hit is relevant when its document and section
heading match a labelled (document, heading) pair; each pair counts once.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from bench.stats import Row
from services.retrieval.app import create_app
from services.retrieval.documents import document_id_for
from services.retrieval.embeddings import Embedder, LocalEmbedder, build_embedder
from services.retrieval.ingest import book_files
from services.retrieval.settings import RetrievalSettings
from tests.support.servers import serve

REPO = Path(__file__).resolve().parents[1]
EVAL_FILE = REPO / "bench" / "data" / "retrieval_eval.jsonl"
MODES: dict[str, dict[str, Any]] = {
    "hybrid": {"hybrid": True},
    "dense": {"hybrid": False},
    "hybrid-noboost": {"hybrid": True, "chapter_boost": 1.0, "lesson_boost": 1.0},
}


def load_questions(path: Path, split: str) -> list[dict[str, Any]]:
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return [r for r in rows if split == "all" or r["split"] == split]


def relevant_keys(row: dict[str, Any], book: Path) -> list[tuple[str, str]]:
    keys = []
    for rel in row["relevant"]:
        path = (REPO / rel["document"]).resolve().relative_to(book.resolve())
        keys.append((document_id_for(path.as_posix()), rel["heading"]))
    return keys


def score(hits: list[dict[str, Any]], relevant: list[tuple[str, str]]) -> dict[str, float]:
    """Binary-relevance metrics for one question; each relevant section counts once."""
    found: set[tuple[str, str]] = set()
    gains: list[int] = []
    for hit in hits[:10]:
        source = hit["source"]
        key = (source["document_id"], (source["heading_path"] or [source["title"]])[-1])
        if key in relevant and key not in found:
            found.add(key)
            gains.append(1)
        else:
            gains.append(0)
    dcg = sum(g / math.log2(i + 2) for i, g in enumerate(gains))
    ideal = sum(1 / math.log2(i + 2) for i in range(min(len(relevant), 10)))
    first = next((i for i, g in enumerate(gains) if g), None)

    def recall(k: int) -> float:
        return sum(gains[:k]) / len(relevant)

    return {
        "recall@5": recall(5),
        "recall@10": recall(10),
        "ndcg@10": dcg / ideal if ideal else 0.0,
        "mrr": 1 / (first + 1) if first is not None else 0.0,
    }


def run_mode(
    mode: str,
    settings: RetrievalSettings,
    embedder: Embedder,
    files: list[tuple[str, str]],
    questions: list[dict[str, Any]],
    book: Path,
) -> dict[str, dict[str, float]]:
    """Per-split mean metrics for one ranking configuration."""
    per_split: dict[str, list[dict[str, float]]] = {}
    with (
        serve(create_app(settings, embedder=embedder)) as url,
        httpx.Client(base_url=url, timeout=600) as client,
    ):
        body = {"corpus": "eval", "documents": [{"path": p, "content": c} for p, c in files]}
        started = time.perf_counter()
        response = client.post("/v1/documents", json=body)
        response.raise_for_status()
        written = sum(d["written"] for d in response.json()["documents"])
        if written:
            print(f"  ingested {written} chunks in {time.perf_counter() - started:.1f}s")
        for row in questions:
            request = {
                "queries": [row["question"]],
                "corpus": "eval",
                "top_k": 10,
                "page_context": row.get("page_context") or {},
            }
            result = client.post("/v1/search", json=request)
            result.raise_for_status()
            metrics = score(result.json()["results"], relevant_keys(row, book))
            for split in (row["split"], "all"):
                per_split.setdefault(split, []).append(metrics)
    return {
        split: {name: sum(m[name] for m in rows) / len(rows) for name in rows[0]}
        | {"questions": float(len(rows))}
        for split, rows in per_split.items()
    }


def evaluate(
    book: Path,
    eval_file: Path,
    split: str,
    modes: list[str],
    rrf_k: int | None = None,
    redis_url: str | None = None,
    embedder: Embedder | None = None,
) -> dict[str, Any]:
    """`{mode: {split: {metric: value}}}` for the questions of `split`, per ranking mode.

    `redis_url`: the shared embedding cache (same vectors, keyed by model and text),
    which spares re-embedding the book on every run.
    """
    questions = load_questions(eval_file, split)
    files = book_files(book)
    if embedder is None:  # the default stack; environment overrides apply
        embedder = build_embedder(RetrievalSettings())
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="retrieval-eval-") as data_dir:
        for mode in modes:
            overrides = dict(MODES[mode])
            if rrf_k:
                overrides["rrf_k"] = rrf_k
            settings = RetrievalSettings(
                data_dir=Path(data_dir),
                log_level="warning",
                log_json=False,
                redis_url=redis_url,
                **overrides,
            )
            print(f"  mode {mode}: {len(questions)} questions over {len(files)} pages")
            results[mode] = run_mode(mode, settings, embedder, files, questions, book)
    return results


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Print the metrics table; return `{mode: {split: {metric: value}}}`."""
    parser = argparse.ArgumentParser(prog="python -m bench.retrieval_eval")
    parser.add_argument("--book", type=Path, default=REPO / "docs" / "book")
    parser.add_argument("--eval", type=Path, default=EVAL_FILE)
    parser.add_argument("--split", choices=["all", "dev", "test"], default="all")
    parser.add_argument("--modes", default="hybrid,dense,hybrid-noboost")
    parser.add_argument("--rrf-k", type=int, default=None)
    args = parser.parse_args(argv)
    results = evaluate(args.book, args.eval, args.split, args.modes.split(","), args.rrf_k)

    splits = [s for s in ("dev", "test", "all") if any(s in r for r in results.values())]
    header = f"{'mode':<16}{'split':<7}{'n':>4}{'R@5':>8}{'R@10':>8}{'nDCG@10':>9}{'MRR':>8}"
    print("\n" + header + "\n" + "-" * len(header))
    for mode, per_split in results.items():
        for split in splits:
            m = per_split.get(split)
            if m:
                print(
                    f"{mode:<16}{split:<7}{int(m['questions']):>4}{m['recall@5']:>8.3f}"
                    f"{m['recall@10']:>8.3f}{m['ndcg@10']:>9.3f}{m['mrr']:>8.3f}"
                )
    return results


def bench_rows() -> list[Row]:
    """`make bench` rows: hybrid's quality on every split, dense-only as the baseline."""
    book, redis_url = REPO / "docs" / "book", os.environ.get("REDIS_URL") or None
    results = evaluate(book, EVAL_FILE, "all", ["hybrid", "dense"], redis_url=redis_url)
    rows = []
    for split in ("dev", "test", "all"):
        for metric in ("recall@5", "recall@10", "ndcg@10", "mrr"):
            rows.append(
                Row(
                    "retrieval-q",
                    f"{metric} {split}, hybrid vs dense",
                    results["hybrid"][split][metric],
                    "",
                    results["dense"][split][metric],
                    ">= 0.80" if metric == "ndcg@10" else "",
                )
            )
    # The int8 default against the full-precision model it was quantized from.
    full = evaluate(
        book,
        EVAL_FILE,
        "all",
        ["hybrid"],
        redis_url=redis_url,
        embedder=LocalEmbedder(precision="fp32"),
    )
    for split in ("dev", "test", "all"):
        rows.append(
            Row(
                "retrieval-q",
                f"ndcg@10 {split}, hybrid: int8 model vs fp32",
                results["hybrid"][split]["ndcg@10"],
                "",
                full["hybrid"][split]["ndcg@10"],
            )
        )
    return rows


if __name__ == "__main__":
    main()
