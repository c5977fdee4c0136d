"""Documentation builds as ingested: how much of what is stored is the site's furniture, and
whether FAQ questions find their answers as well in the HTML build as in the plain source.

    python -m bench.site_eval [--skip-quality]

Boilerplate: each build of `tests.support.site_builds` (Django's Sphinx build, MkDocs' own
site, Git's AsciiDoc pages) is read as ingestion reads it (`site_structure.site_files` and
`parse_document`), and, for comparison, as the HTML parser read every page before it knew
site layouts (the whole `<body>`, `nav`/`script`/`style` dropped). A stored block (a
paragraph of a passage, or a heading of its path) is boilerplate when it is the site's
furniture by a definition that does not depend on the extractor: the same block on at
least a third of the build's pages (at least 3), a permalink sign, or the part of the
page titles that every title ends with (the site's name). The share is of stored
characters: passage texts plus the heading path stored with each chunk.

Quality: the FAQ questions `bench.corpora` reads from Celery's Sphinx FAQ (the questions
are its headings), searched through the HTTP API against (a) the HTML page as built and
(b) its reStructuredText source (`_sources/faq.rst.txt`, its section titles as Markdown
headings); a hit is relevant when its section's heading is the question. Django's FAQ
build is scored the same way (its sources are not packaged, so HTML only).
"""

from __future__ import annotations

import argparse
import os
import re
import tempfile
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path

import httpx

from bench.corpora import SOURCES
from bench.retrieval_eval import TOP, score
from services.retrieval.app import create_app
from services.retrieval.chunking import chunk_document
from services.retrieval.documents import (
    ParsedDocument,
    Section,
    _html_sections,
    parse_ingested,
)
from services.retrieval.embeddings import Embedder, LocalEmbedder
from services.retrieval.ingest import book_files
from services.retrieval.settings import RetrievalSettings
from services.retrieval.site_structure import SiteOptions, site_files
from shared.contracts.retrieval import MAX_DOCUMENTS_PER_REQUEST
from tests.support.servers import serve
from tests.support.site_builds import (
    DJANGO,
    MissingPackage,
    SiteBuild,
    django_build,
    git_build,
    mkdocs_build,
)

CELERY = Path("/usr/share/doc/python-celery-doc/html")
_SIGN = re.compile(r"[¶\uf0c1]")
_CHROME = re.compile(
    r"^\s*(last update[ds]?\b|edit (this|on)\b|(quick search|previous topic|next topic|"
    r"table of contents|this page|navigation)\s*:?\s*$)",
    re.IGNORECASE,
)
"""Furniture that differs from page to page (a date after it, say), so is not repeated."""


def _legacy_sections(path: str, content: str) -> tuple[str, list[Section]]:
    """A page as the HTML parser read it before site layouts: the whole body."""
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(content, "html.parser")
    for junk in soup(["script", "style", "nav", "noscript", "template"]):
        junk.decompose()
    title_tag = soup.find("title")
    title = title_tag.get_text(" ", strip=True) if title_tag else path
    return title, _html_sections(soup.body or soup, title, site_anchors=False)


def _norm(text: str) -> str:
    return " ".join(text.split()).lower()


def _common_suffix(titles: Sequence[str]) -> str:
    if len(titles) < 2:
        return ""
    reversed_titles = [t[::-1] for t in titles]
    first = reversed_titles[0]
    size = 0
    while size < len(first) and all(
        len(t) > size and t[size] == first[size] for t in reversed_titles
    ):
        size += 1
    return first[:size][::-1] if size >= 5 else ""


def boilerplate_share(pages: list[tuple[str, list[tuple[tuple[str, ...], str]]]]) -> float:
    """Share of stored characters that is furniture; `pages` are `(title, chunks)` with
    chunks as `(heading path, text)`."""
    seen: Counter[str] = Counter()
    for _, chunks in pages:
        blocks = {_norm(b) for _, text in chunks for b in text.split("\n\n") if b.strip()}
        seen.update(blocks)
    found: list[str] = []
    repeated = {b for b, n in seen.items() if n >= max(3, len(pages) / 3)}
    suffix = _common_suffix([title for title, _ in pages])
    total = furniture = 0
    for _, chunks in pages:
        for path, text in chunks:
            heading = " > ".join(path)
            total += len(heading) + len(text)
            if any(_CHROME.match(h) for h in path):  # a sidebar's or footer's own section
                furniture += len(heading) + len(text)
                continue
            furniture += len(_SIGN.findall(heading)) + (
                heading.count(suffix) * len(suffix) if suffix else 0
            )
            for block in text.split("\n\n"):
                if _norm(block) in repeated or _SIGN.search(block) or _CHROME.match(block):
                    furniture += len(block)
                    found.append(block)
    if found and os.environ.get("SITE_EVAL_SHOW"):
        print("    furniture:", sorted(set(found))[:20])
    return furniture / total if total else 0.0


def _chunks(doc: ParsedDocument) -> list[tuple[tuple[str, ...], str]]:
    return [(c.heading_path, c.text) for c in chunk_document(doc)]


def measure_boilerplate(build: SiteBuild) -> tuple[float, float, int]:
    """(share before, share now, pages) of one build."""
    files = book_files(build.root)
    before = []
    for path, content in files:
        if not path.endswith(".html"):
            continue
        title, sections = _legacy_sections(path, content)
        doc = ParsedDocument(
            path, path, title, None, None, None, "", [s for s in sections if s.text]
        )
        before.append((title, _chunks(doc)))
    now = []
    options = SiteOptions(url=build.site_url, sitemap=build.sitemap)
    for page in site_files(build.root, files, options):
        doc = parse_ingested(page)
        now.append((doc.title, _chunks(doc)))
    return boilerplate_share(before), boilerplate_share(now), len(now)


def rst_to_markdown(text: str) -> str:
    """reStructuredText section titles as Markdown headings (levels in order of first
    use, as docutils assigns them); label and `contents` directives dropped."""
    lines = text.splitlines()
    out: list[str] = []
    levels: list[str] = []
    i = 0
    underline = re.compile(r"^([=\-~^\"'`#*+])\1{2,}\s*$")
    while i < len(lines):
        line = lines[i]
        if underline.match(line) and i + 2 < len(lines) and underline.match(lines[i + 2]):
            mark, title = "o" + line[0], lines[i + 1].strip()
            i += 3
        elif (
            line.strip()
            and i + 1 < len(lines)
            and underline.match(lines[i + 1])
            and len(lines[i + 1].rstrip()) >= len(line.rstrip())
        ):
            mark, title = lines[i + 1][0], line.strip()
            i += 2
        else:
            if not re.match(r"^\.\. (_[^:]+:|contents::)", line) and not (
                line.startswith("    :local:")
            ):
                out.append(line)
            i += 1
            continue
        if mark not in levels:
            levels.append(mark)
        title = re.sub(r":[a-z:]+:`([^`]*)`", r"\1", title).replace("``", "`")  # roles
        out.append("#" * min(6, levels.index(mark) + 1) + " " + title)
    return "\n".join(out) + "\n"


def _question_key(question: str) -> str:
    return re.sub(r"[^a-z0-9]+", " ", question.lower().replace("`", "")).strip()


def quality(
    embedder: Embedder, corpus: str, documents: list[tuple[str, str]], questions: list[str]
) -> float:
    """Mean nDCG@10 of `questions` over `documents` through the HTTP API; a hit is relevant
    when the last heading of its path is the question."""
    with tempfile.TemporaryDirectory() as data:
        settings = RetrievalSettings(
            data_dir=Path(data), log_level="warning", log_json=False, redis_url=None
        )
        with (
            serve(create_app(settings, embedder=embedder)) as url,
            httpx.Client(base_url=url, timeout=600) as client,
        ):
            for start in range(0, len(documents), MAX_DOCUMENTS_PER_REQUEST):
                part = documents[start : start + MAX_DOCUMENTS_PER_REQUEST]
                body = {"corpus": corpus, "documents": [{"path": p, "content": c} for p, c in part]}
                client.post("/v1/documents", json=body).raise_for_status()
            total = 0.0
            for question in questions:
                request = {"queries": [question], "corpus": corpus, "top_k": TOP}
                response = client.post("/v1/search", json=request)
                response.raise_for_status()
                keys = [
                    ("", _question_key((h["source"]["heading_path"] or [""])[-1]))
                    for h in response.json()["results"]
                ]
                total += score(keys, [("", _question_key(question))])["ndcg@10"]
    return total / len(questions) if questions else 0.0


def faq_questions(name: str, files: Callable[[], list[Path]]) -> list[str]:
    source = SOURCES[name]
    questions: list[str] = []
    for path in files():
        for entry in source.parse(path.read_text("utf-8")):
            if entry.question not in questions:
                questions.append(entry.question)
    return questions


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.site_eval", description=__doc__)
    parser.add_argument("--skip-quality", action="store_true", help="boilerplate share only")
    args = parser.parse_args(argv)
    print("boilerplate share of stored characters (before site layouts -> now)")
    with tempfile.TemporaryDirectory() as tmp:
        for builder in (django_build, mkdocs_build, git_build):
            try:
                build = builder(Path(tmp) / builder.__name__)
            except MissingPackage as exc:
                print(f"  skipped: {exc}")
                continue
            before, now, pages = measure_boilerplate(build)
            print(f"  {build.name:<8} {pages:>3} pages  {before:6.1%} -> {now:6.1%}")
    if args.skip_quality:
        return 0
    embedder = LocalEmbedder()
    print(f"FAQ questions, nDCG@{TOP} (a hit is the section headed by the question)")
    if (CELERY / "faq.html").is_file() and (CELERY / "_sources/faq.rst.txt").is_file():
        questions = faq_questions("celery-faq", lambda: [CELERY / "faq.html"])
        html = [("faq.html", (CELERY / "faq.html").read_text("utf-8"))]
        plain = [("faq.md", rst_to_markdown((CELERY / "_sources/faq.rst.txt").read_text("utf-8")))]
        h = quality(embedder, "celery-html", html, questions)
        p = quality(embedder, "celery-plain", plain, questions)
        print(f"  celery   {len(questions)} questions  HTML build {h:.3f}  rst source {p:.3f}")
        print(f"           difference {h - p:+.3f}")
    else:
        print("  skipped celery: apt-get install python-celery-doc")
    if (DJANGO / "faq").is_dir():
        files = sorted(p for p in (DJANGO / "faq").glob("*.html"))
        questions = faq_questions("django-faq", lambda: [p for p in files if p.stem != "index"])
        html = [(f"faq/{p.name}", p.read_text("utf-8")) for p in files]
        h = quality(embedder, "django-html", html, questions)
        print(f"  django   {len(questions)} questions  HTML build {h:.3f}  (no packaged source)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
