"""Retrieval quality on several corpora, through the HTTP API, against a plain baseline.

    python -m bench.corpora                  # once: build the third-party sets (.data/eval)
    python -m bench.retrieval_eval [--corpora book,django-faq,...] [--configs default,dense,...]
                                   [--precisions int8,fp32] [--splits dev,test]

Corpora: the demo book (`docs/book`, the team's 62 questions in
`bench/data/retrieval_eval.jsonl`) and the FAQ sets `bench.corpora` builds from Debian
documentation packages (questions are the FAQ's own headings; each passage is ingested
without its heading). A corpus whose package or built set is missing is skipped with the
reason printed.

Each configuration is a set of `RetrievalSettings` overrides: the corpus is ingested into
a fresh embedded index with `POST /v1/documents` and every question sent to
`POST /v1/search` (top 10; the book's questions with their page context). Every
configuration runs with the int8 model (the default) and with fp32. The baseline is
the thirty-line script: the same model in fp32 over whole passages (whole sections for
the book, no title or heading), brute-force cosine with numpy.

Metrics per question (binary relevance, each relevant passage counted once): nDCG@10,
recall@10, MRR. A hit is relevant when its (document, section heading) is labelled
(book) or its document is the question's passage (FAQ sets). Candidates are compared on
the dev splits of all corpora together; the test splits are reported, never tuned on.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from bench.corpora import DEFAULT_OUT, SOURCES
from bench.corpora import load as load_built
from bench.stats import Row
from services.retrieval.app import create_app
from services.retrieval.documents import document_id_for, parse_document
from services.retrieval.embeddings import Embedder, LocalEmbedder, Purpose, Vectors
from services.retrieval.ingest import book_files
from services.retrieval.local_model import Precision, max_tokens
from services.retrieval.settings import RetrievalSettings
from shared.contracts.retrieval import MAX_DOCUMENTS_PER_REQUEST
from tests.support.servers import serve

REPO = Path(__file__).resolve().parents[1]
EVAL_FILE = REPO / "bench" / "data" / "retrieval_eval.jsonl"
BOOK = REPO / "docs" / "book"
TOP = 10
Key = tuple[str, str]
"""What a hit is judged by: (document id, section heading); heading "" on the FAQ sets."""

PREVIOUS: dict[str, Any] = {
    "hybrid": True,
    "fusion": "rrf",
    "rrf_k": 20,
    "lexical_weight": 1.5,
    "chunk_max_chars": 1000,
    "local_model_document_tokens": 256,
}
"""The ranking defaults before score fusion was measured: every named candidate below is
these with a few changed, so a name keeps its meaning whatever the defaults become."""
_CANDIDATES: dict[str, dict[str, Any]] = {
    "rrf-lex1.5": {},
    "dense": {"hybrid": False},
    "lex1.0": {"lexical_weight": 1.0},
    "lex0.5": {"lexical_weight": 0.5},
    "k60-lex0.5": {"rrf_k": 60, "lexical_weight": 0.5},
    "noboost": {"chapter_boost": 1.0, "lesson_boost": 1.0},
    "whole": {"chunk_max_chars": 4000},
    "score0.4-t256": {
        "fusion": "score",
        "lexical_weight": 0.4,
        "chunk_max_chars": 4000,
        "local_model_document_tokens": 256,
    },
    "lex1.0-whole": {"lexical_weight": 1.0, "chunk_max_chars": 4000},
    "lex0.5-whole": {"lexical_weight": 0.5, "chunk_max_chars": 4000},
    "dense-whole": {"hybrid": False, "chunk_max_chars": 4000},
    "score0.3": {"fusion": "score", "lexical_weight": 0.3},
    "score0.5": {"fusion": "score", "lexical_weight": 0.5},
    "score0.7": {"fusion": "score", "lexical_weight": 0.7},
    "score1.0": {"fusion": "score", "lexical_weight": 1.0},
    "score0.3-whole": {"fusion": "score", "lexical_weight": 0.3, "chunk_max_chars": 4000},
    "score0.2-whole": {"fusion": "score", "lexical_weight": 0.2, "chunk_max_chars": 4000},
    "score0.4-whole": {"fusion": "score", "lexical_weight": 0.4, "chunk_max_chars": 4000},
    "score0.5-whole": {"fusion": "score", "lexical_weight": 0.5, "chunk_max_chars": 4000},
}
CONFIGS: dict[str, dict[str, Any]] = {"default": {}} | {
    name: PREVIOUS | overrides for name, overrides in _CANDIDATES.items()
}
"""Candidate configurations: `RetrievalSettings` overrides; `default` is today's."""
PREVIOUS_DEFAULT = "whole"
"""The default until score fusion won on the dev splits (RRF k=20, lexical weight 1.5,
4000-char chunks, int8): the reference for "the book no worse than before"."""
PRECISIONS: tuple[Precision, ...] = ("int8", "fp32")
BASELINE = "baseline"
BASELINE_PATH = "baseline+path"
"""The baseline with each passage's heading path embedded before it (still unsplit)."""
METRICS = ("ndcg@10", "recall@10", "mrr")


@dataclass
class Corpus:
    """One eval set: what is ingested, what is asked, what the baseline ranks."""

    name: str
    documents: list[tuple[str, str]]
    """`(path, content)` sent to `POST /v1/documents`."""
    questions: list[dict[str, Any]]
    """`{id, question, split, relevant: [Key], page_context}`."""
    passages: list[tuple[Key, str, str]]
    """The baseline's units: `(key, whole passage, its heading path " > "-joined)`."""
    key: Callable[[dict[str, Any]], Key]
    """A search hit's `source` to its `Key`."""
    third_party: bool = True


def _section_key(source: dict[str, Any]) -> Key:
    return (source["document_id"], (source["heading_path"] or [source["title"]])[-1])


def _document_key(source: dict[str, Any]) -> Key:
    return (source["document_id"], "")


def book_corpus(book: Path = BOOK, eval_file: Path = EVAL_FILE) -> Corpus:
    """The demo book with the team's questions; baseline units are its sections."""
    files = book_files(book)
    passages: list[tuple[Key, str, str]] = []
    for path, content in files:
        doc = parse_document(path, content)
        for section in doc.sections:
            key = (doc.document_id, section.heading_path[-1])
            passages.append((key, section.text, " > ".join(section.heading_path)))
    questions = []
    for line in eval_file.read_text().splitlines():
        if not line.strip():
            continue
        row = json.loads(line)
        relevant = []
        for rel in row["relevant"]:
            path = (REPO / rel["document"]).resolve().relative_to(book.resolve())
            relevant.append((document_id_for(path.as_posix()), rel["heading"]))
        questions.append(
            {
                "id": row["id"],
                "question": row["question"],
                "split": row["split"],
                "relevant": relevant,
                "page_context": row.get("page_context") or {},
            }
        )
    return Corpus("book", files, questions, passages, _section_key, third_party=False)


def faq_corpus(name: str, root: Path = DEFAULT_OUT) -> Corpus:
    """A set built by `python -m bench.corpora`; raises `FileNotFoundError` if not built."""
    directory = root / name
    if not (directory / "questions.jsonl").is_file():
        raise FileNotFoundError(f"{directory} not built (python -m bench.corpora {name})")
    documents, rows = load_built(directory)
    questions = [
        {
            "id": row["id"],
            "question": row["question"],
            "split": row["split"],
            "relevant": [(row["document_id"], "")],
            "page_context": {},
        }
        for row in rows
    ]
    titles = {}
    for path, content in documents:
        doc = parse_document(path, content)
        titles[doc.document_id] = " > ".join(doc.sections[0].heading_path)
    passages = [
        ((row["document_id"], ""), row["passage"], titles[row["document_id"]]) for row in rows
    ]
    return Corpus(name, documents, questions, passages, _document_key)


def load_corpora(names: Sequence[str], root: Path = DEFAULT_OUT) -> list[Corpus]:
    """The corpora of `names` that can be had; prints why each other one is skipped."""
    corpora = []
    for name in names:
        if name == "book":
            corpora.append(book_corpus())
            continue
        source = SOURCES[name]
        if not source.files():
            print(
                f"  skipped {name}: package {source.package} is not installed "
                f"(apt-get install {source.package})"
            )
            continue
        try:
            corpora.append(faq_corpus(name, root))
        except FileNotFoundError as exc:
            print(f"  skipped {name}: {exc}")
    return corpora


class MemoEmbedder:
    """Remembers every vector of one run, so configurations share the embedding work.

    The local model gives a text the same vector whatever the purpose."""

    def __init__(self, inner: Embedder) -> None:
        self.inner = inner
        self.model_id = inner.model_id
        self.dimension = inner.dimension
        self._vectors: dict[str, np.ndarray[Any, Any]] = {}

    async def embed(self, texts: list[str], purpose: Purpose = "query") -> Vectors:
        missing = list(dict.fromkeys(t for t in texts if t not in self._vectors))
        if missing:
            for text, vector in zip(missing, await self.inner.embed(missing, purpose), strict=True):
                self._vectors[text] = vector
        return np.stack([self._vectors[t] for t in texts]).astype(np.float32)

    async def close(self) -> None:
        await self.inner.close()


def score(found_keys: Sequence[Key], relevant: Sequence[Key]) -> dict[str, float]:
    """Binary-relevance metrics of one ranked list of keys; each relevant key counts once."""
    wanted = set(relevant)
    found: set[Key] = set()
    gains: list[int] = []
    for key in found_keys[:TOP]:
        if key in wanted and key not in found:
            found.add(key)
            gains.append(1)
        else:
            gains.append(0)
    dcg = sum(g / math.log2(i + 2) for i, g in enumerate(gains))
    ideal = sum(1 / math.log2(i + 2) for i in range(min(len(wanted), TOP)))
    first = next((i for i, g in enumerate(gains) if g), None)
    return {
        "ndcg@10": dcg / ideal if ideal else 0.0,
        "recall@10": sum(gains) / len(wanted) if wanted else 0.0,
        "mrr": 1 / (first + 1) if first is not None else 0.0,
    }


def mean_by_split(
    questions: Sequence[dict[str, Any]], metrics: Sequence[dict[str, float]]
) -> dict[str, dict[str, float]]:
    """`{split: {metric: mean, "n": count}}` for the dev, test and all questions."""
    groups: dict[str, list[dict[str, float]]] = {}
    for row, m in zip(questions, metrics, strict=True):
        for split in (row["split"], "all"):
            groups.setdefault(split, []).append(m)
    return {
        split: {name: sum(m[name] for m in rows) / len(rows) for name in METRICS}
        | {"n": float(len(rows))}
        for split, rows in groups.items()
    }


PER_QUESTION = "per-question"
"""Key beside the splits: `{question id: nDCG@10}`, for paired comparisons."""


def per_question(
    questions: Sequence[dict[str, Any]], metrics: Sequence[dict[str, float]]
) -> dict[str, dict[str, float]]:
    return {
        PER_QUESTION: {row["id"]: m["ndcg@10"] for row, m in zip(questions, metrics, strict=True)}
    }


def index_name(corpus: str, precision: str, settings: RetrievalSettings) -> str:
    """One index corpus per (eval corpus, model, chunking): ingested once, searched often."""
    return (
        f"{corpus}-{precision}-c{settings.chunk_max_chars}o{settings.chunk_overlap_chars}"
        f"t{settings.local_model_document_tokens}"
    )


def ingest(client: httpx.Client, corpus: Corpus, index: str) -> int:
    """Send every document of `corpus` to `POST /v1/documents`; the chunks written."""
    written = 0
    for start in range(0, len(corpus.documents), MAX_DOCUMENTS_PER_REQUEST):
        part = corpus.documents[start : start + MAX_DOCUMENTS_PER_REQUEST]
        body = {"corpus": index, "documents": [{"path": p, "content": c} for p, c in part]}
        response = client.post("/v1/documents", json=body)
        response.raise_for_status()
        written += sum(d["written"] for d in response.json()["documents"])
    return written


def ingest_rates(
    corpora: Sequence[Corpus], precisions: Sequence[Precision], rounds: int = 2
) -> dict[str, float]:
    """Chunks/s of ingesting every third-party corpus through the HTTP API with the default
    settings, each precision's model fresh (no vector cached anywhere), precisions
    interleaved round by round so machine noise hits them alike; the median round."""
    third_party = [c for c in corpora if c.third_party]
    models = {p: LocalEmbedder(precision=p) for p in precisions}
    rates: dict[str, list[float]] = {p: [] for p in precisions}
    with tempfile.TemporaryDirectory(prefix="retrieval-eval-rate-") as data_dir:
        for round_ in range(rounds):
            for precision in precisions if round_ % 2 == 0 else list(reversed(precisions)):
                settings = RetrievalSettings(
                    data_dir=Path(data_dir) / f"{precision}-{round_}",
                    log_level="warning",
                    log_json=False,
                    redis_url=None,
                    local_model_precision=precision,
                )
                with (
                    serve(create_app(settings, embedder=models[precision])) as url,
                    httpx.Client(base_url=url, timeout=600) as client,
                ):
                    started, written = time.perf_counter(), 0
                    for corpus in third_party:
                        written += ingest(client, corpus, f"rate-{corpus.name}")
                    rates[precision].append(written / (time.perf_counter() - started))
    return {p: float(np.median(values)) for p, values in rates.items() if values}


def run_config(
    corpus: Corpus,
    settings: RetrievalSettings,
    embedder: Embedder,
    index: str,
    ingested: set[str],
) -> dict[str, dict[str, float]]:
    """Per-split means of one configuration over one corpus, through the HTTP API."""
    metrics = []
    with (
        serve(create_app(settings, embedder=embedder)) as url,
        httpx.Client(base_url=url, timeout=600) as client,
    ):
        if index not in ingested:
            started = time.perf_counter()
            written = ingest(client, corpus, index)
            ingested.add(index)
            print(f"    {index}: {written} chunks in {time.perf_counter() - started:.1f}s")
        for row in corpus.questions:
            request = {
                "queries": [row["question"]],
                "corpus": index,
                "top_k": TOP,
                "page_context": row["page_context"],
            }
            result = client.post("/v1/search", json=request)
            result.raise_for_status()
            keys = [corpus.key(hit["source"]) for hit in result.json()["results"]]
            metrics.append(score(keys, row["relevant"]))
    return mean_by_split(corpus.questions, metrics) | per_question(corpus.questions, metrics)


def run_baseline(
    corpus: Corpus, embedder: Embedder, with_path: bool = False
) -> dict[str, dict[str, float]]:
    """The plain script: embed whole passages, rank by cosine with numpy. `with_path`:
    embed each passage as the service does, its heading path first."""
    texts = [f"{path}\n\n{text}" if with_path else text for _, text, path in corpus.passages]

    async def vectors() -> tuple[Vectors, Vectors]:
        docs = await embedder.embed(texts, "document")
        queries = await embedder.embed([q["question"] for q in corpus.questions], "query")
        return docs, queries

    docs, queries = asyncio.run(vectors())
    similarity = queries @ docs.T
    metrics = []
    for row, scores in zip(corpus.questions, similarity, strict=True):
        order = np.argsort(-scores, kind="stable")
        keys: list[Key] = []
        for i in order:  # distinct keys, best passage first (a key may have several)
            key = corpus.passages[int(i)][0]
            if key not in keys:
                keys.append(key)
            if len(keys) == TOP:
                break
        metrics.append(score(keys, row["relevant"]))
    return mean_by_split(corpus.questions, metrics) | per_question(corpus.questions, metrics)


Results = dict[str, dict[str, dict[str, dict[str, dict[str, float]]]]]
"""`{corpus: {config: {precision: {split: {metric: value}}}}}`."""


def evaluate(
    corpora: list[Corpus], configs: Sequence[str], precisions: Sequence[Precision]
) -> Results:
    """Every configuration at every precision over every corpus, plus the baseline."""
    wanted: set[Precision] = {*precisions, "fp32"}
    # The baseline reads whole passages as the model does by default (256 word pieces).
    plain = {
        p: MemoEmbedder(LocalEmbedder(precision=p, document_tokens=max_tokens())) for p in wanted
    }
    embedders: dict[tuple[Precision, int], MemoEmbedder] = {}

    def embedder(precision: Precision, tokens: int) -> MemoEmbedder:
        if (precision, tokens) not in embedders:
            model = LocalEmbedder(precision=precision, document_tokens=tokens)
            embedders[precision, tokens] = MemoEmbedder(model)
        return embedders[precision, tokens]

    results: Results = {}
    ingested: set[str] = set()
    with tempfile.TemporaryDirectory(prefix="retrieval-eval-") as data_dir:
        for corpus in corpora:
            print(
                f"  {corpus.name}: {len(corpus.questions)} questions, "
                f"{len(corpus.documents)} documents"
            )
            per_config = results.setdefault(corpus.name, {})
            per_config[BASELINE] = {p: run_baseline(corpus, plain[p]) for p in precisions}
            per_config[BASELINE_PATH] = {
                p: run_baseline(corpus, plain[p], with_path=True) for p in precisions
            }
            for precision in precisions:
                for config in configs:
                    settings = RetrievalSettings(
                        data_dir=Path(data_dir),
                        log_level="warning",
                        log_json=False,
                        redis_url=None,
                        local_model_precision=precision,
                        **CONFIGS[config],
                    )
                    index = index_name(corpus.name, precision, settings)
                    model = embedder(precision, settings.local_model_document_tokens)
                    per_config.setdefault(config, {})[precision] = run_config(
                        corpus, settings, model, index, ingested
                    )
    return results


def reference(results: Results, corpus: str, split: str) -> dict[str, float] | None:
    """The baseline: fp32 brute-force cosine (int8 when fp32 was not run)."""
    base = results[corpus][BASELINE]
    chosen = base.get("fp32") or base.get("int8")
    return chosen.get(split) if chosen else None


def print_table(results: Results, splits: Sequence[str]) -> None:
    header = (
        f"{'corpus':<12}{'split':<6}{'config':<14}{'model':<6}{'n':>4}"
        f"{'nDCG@10':>9}{'R@10':>7}{'MRR':>7}{'dnDCG':>8}{'ratio':>7}"
    )
    print("\n" + header + "\n" + "-" * len(header))
    for corpus, per_config in results.items():
        for split in splits:
            base = reference(results, corpus, split)
            for config, per_precision in per_config.items():
                for precision, per_split in per_precision.items():
                    m = per_split.get(split)
                    if not m or not base:
                        continue
                    delta = m["ndcg@10"] - base["ndcg@10"]
                    ratio = m["ndcg@10"] / base["ndcg@10"] if base["ndcg@10"] else math.nan
                    print(
                        f"{corpus:<12}{split:<6}{config:<14}{precision:<6}{int(m['n']):>4}"
                        f"{m['ndcg@10']:>9.3f}{m['recall@10']:>7.3f}{m['mrr']:>7.3f}"
                        f"{delta:>+8.3f}{ratio:>7.3f}"
                    )
            print()


def pooled(results: Results, config: str, precision: str, split: str) -> float | None:
    """Mean nDCG@10 over corpora of one split, each corpus weighing the same."""
    rows = [results[c].get(config, {}).get(precision, {}).get(split) for c in results]
    if not rows or any(r is None for r in rows):
        return None
    return sum(r["ndcg@10"] for r in rows if r) / len(rows)


def paired_delta(
    results: Results,
    config: str,
    against: str,
    precision: str,
    split: str,
    splits: dict[str, dict[str, str]],
) -> tuple[float, float] | None:
    """`(delta, standard error)` of the pooled mean nDCG@10 of `config` minus `against`:
    per corpus the mean of the per-question differences on `split`, corpora weighing the
    same; the error from each corpus's variance of differences over its question count."""
    deltas, variances = [], []
    for corpus, per_config in results.items():
        mine = per_config.get(config, {}).get(precision, {}).get(PER_QUESTION)
        theirs = per_config.get(against, {}).get(precision, {}).get(PER_QUESTION)
        if mine is None or theirs is None:
            return None
        diffs = [mine[q] - theirs[q] for q in mine if splits[corpus].get(q) == split]
        if len(diffs) < 2:
            return None
        mean = sum(diffs) / len(diffs)
        deltas.append(mean)
        variances.append(sum((d - mean) ** 2 for d in diffs) / (len(diffs) - 1) / len(diffs))
    count = len(deltas)
    return sum(deltas) / count, math.sqrt(sum(variances)) / count


def summary(results: Results, third_party: set[str], splits: dict[str, dict[str, str]]) -> None:
    """Per-corpus nDCG@10 side by side, the pooled means (all corpora, each weighing the
    same) with paired differences to the previous default, then the goal on the test
    splits."""
    corpora = list(results)
    configs = list(results[corpora[0]])
    precisions = list(results[corpora[0]][configs[0]])
    today = next((c for c in (PREVIOUS_DEFAULT, "rrf-lex1.5") if c in configs), "default")
    short = {c: c.removesuffix("-faq")[:8] for c in corpora}
    for split in ("dev", "test"):
        print(
            f"\nnDCG@10, {split} splits (n: "
            + ", ".join(
                f"{short[c]} {int(results[c][configs[0]][precisions[0]][split]['n'])}"
                for c in corpora
                if split in results[c][configs[0]][precisions[0]]
            )
            + f"); mean: over corpora; d: mean minus {today} (paired, +- 1 s.e.)"
        )
        header = f"{'config':<15}{'model':<6}" + "".join(f"{short[c]:>9}" for c in corpora)
        print(header + f"{'mean':>8}{'d':>9}{'s.e.':>7}")
        for config in configs:
            for precision in precisions:
                cells = []
                for c in corpora:
                    m = results[c][config][precision].get(split)
                    cells.append(f"{m['ndcg@10']:>9.3f}" if m else f"{'':>9}")
                mean = pooled(results, config, precision, split)
                paired = paired_delta(results, config, today, precision, split, splits)
                tail = f"{mean:>8.3f}" if mean is not None else f"{'':>8}"
                if paired is not None and config != today:
                    tail += f"{paired[0]:>+9.3f}{paired[1]:>7.3f}"
                print(f"{config:<15}{precision:<6}" + "".join(cells) + tail)
    print(
        "\nGoal on the test splits: nDCG@10 >= baseline + 0.03 and recall@10 >= 0.95 on every"
        f" third-party corpus, book nDCG@10 >= {today} (int8):"
    )
    book_today = results.get("book", {}).get(today, {}).get("int8", {}).get("test")
    for config in configs:
        if config in (BASELINE, BASELINE_PATH):
            continue
        for precision in precisions:
            misses = []
            for c in corpora:
                m = results[c][config][precision].get("test")
                base = reference(results, c, "test")
                if m is None or base is None:
                    continue
                if c in third_party:
                    if m["ndcg@10"] < base["ndcg@10"] + 0.03:
                        misses.append(f"{c} nDCG {m['ndcg@10']:.3f} < {base['ndcg@10'] + 0.03:.3f}")
                    if m["recall@10"] < 0.95:
                        misses.append(f"{c} R@10 {m['recall@10']:.3f}")
                elif book_today and m["ndcg@10"] < book_today["ndcg@10"]:
                    misses.append(f"book nDCG {m['ndcg@10']:.3f} < {book_today['ndcg@10']:.3f}")
            verdict = "MEETS the goal" if not misses else "misses: " + "; ".join(misses)
            print(f"  {config:<15}{precision:<6}{verdict}")


def main(argv: list[str] | None = None) -> Results:
    """Print the tables; return `{corpus: {config: {precision: {split: {metric: value}}}}}`."""
    parser = argparse.ArgumentParser(prog="python -m bench.retrieval_eval")
    parser.add_argument("--corpora", default=",".join(["book", *SOURCES]))
    parser.add_argument("--configs", default=",".join(CONFIGS))
    parser.add_argument("--precisions", default=",".join(PRECISIONS))
    parser.add_argument("--splits", default="dev,test")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="where bench.corpora wrote")
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    parser.add_argument(
        "--no-ingest-rate", dest="ingest_rate", action="store_false", help="skip the rate"
    )
    args = parser.parse_args(argv)
    configs = args.configs.split(",")
    unknown = [c for c in configs if c not in CONFIGS]
    if unknown:
        parser.error(f"unknown config {unknown}; known: {', '.join(CONFIGS)}")
    for config in configs:  # settings ignore unknown names: a typo would measure the default
        typos = set(CONFIGS[config]) - set(RetrievalSettings.model_fields)
        if typos:
            parser.error(f"config {config}: no such setting {sorted(typos)}")
    precisions: list[Precision] = []
    for p in args.precisions.split(","):
        if p not in PRECISIONS:
            parser.error(f"unknown precision {p!r}")
        precisions.append(p)
    corpora = load_corpora(args.corpora.split(","), args.out)
    if not corpora:
        parser.error("no corpus to evaluate")
    results = evaluate(corpora, configs, precisions)
    print_table(results, args.splits.split(","))
    if args.ingest_rate:
        rates = ingest_rates(corpora, precisions)
        print(
            "\nIngest of the third-party corpora through POST /v1/documents, default settings, "
            "median of 2 rounds: "
            + ", ".join(f"{p} {rate:.0f} chunks/s" for p, rate in rates.items())
        )
    summary(
        results,
        {c.name for c in corpora if c.third_party},
        {c.name: {q["id"]: q["split"] for q in c.questions} for c in corpora},
    )
    if args.json:
        args.json.write_text(json.dumps(results, indent=1) + "\n")
    return results


def bench_rows() -> list[Row]:
    """`make bench` rows: the default against the plain baseline and against the previous
    default (RRF, lexical weight 1.5) on every corpus, and the ingest rate."""
    corpora = load_corpora(["book", *SOURCES])
    results = evaluate(corpora, ["default", "whole"], list(PRECISIONS))
    rows = []
    for corpus in corpora:
        for split in ("dev", "test"):
            base = reference(results, corpus.name, split)
            for precision in PRECISIONS:
                value = results[corpus.name]["default"][precision][split]["ndcg@10"]
                rows.append(
                    Row(
                        "retrieval-q",
                        f"ndcg@10 {corpus.name} {split}, default {precision} vs fp32 cosine",
                        value,
                        "",
                        base["ndcg@10"] if base else None,
                    )
                )
        rows.append(
            Row(
                "retrieval-q",
                f"ndcg@10 {corpus.name} test, default vs RRF lexical 1.5 (fp32)",
                results[corpus.name]["default"]["fp32"]["test"]["ndcg@10"],
                "",
                results[corpus.name]["whole"]["fp32"]["test"]["ndcg@10"],
            )
        )
    rates = ingest_rates(corpora, ["fp32", "int8"])
    rows.append(
        Row(
            "retrieval-q",
            "ingest of the third-party corpora over HTTP, fp32 (baseline: int8)",
            rates["fp32"],
            "chunks/s",
            rates["int8"],
            ">=100",
        )
    )
    return rows


if __name__ == "__main__":
    main()
