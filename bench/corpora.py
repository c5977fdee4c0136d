"""Third-party eval sets built from installed Debian documentation packages.

    python -m bench.corpora [--out .data/eval] [NAME ...]

Each FAQ entry becomes one question (its heading, as written by the package's authors)
and one passage: the entry's body WITHOUT its heading, so the question is never in the
document it should find. A passage is written as a small HTML page whose title is the
FAQ and its category ("Django FAQ: Databases and models"), the context a real page
would give; sub-headings inside a body are kept as bold paragraphs, so each passage is
one section. Questions are split into dev/test halves by a hash of their id.

Output per corpus (gitignored, never committed: the text is the packages'):
`<out>/<name>/documents/pNNN.html`, `<out>/<name>/questions.jsonl` and `manifest.json`.

    apt-get install python-django-doc python-celery-doc git-doc python3.11-doc \
        python-sqlalchemy-doc debian-faq
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import re
import shutil
import subprocess
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from html import escape
from pathlib import Path
from typing import Any

from bs4 import BeautifulSoup, Tag

from services.retrieval.documents import parse_document

REPO = Path(__file__).resolve().parents[1]
DEFAULT_OUT = REPO / ".data" / "eval"
_HEADINGS = ["h1", "h2", "h3", "h4", "h5", "h6"]


@dataclass(frozen=True)
class Entry:
    """One FAQ entry as found in the package's HTML."""

    slug: str
    """Stable id of the entry within its corpus (the section id, or the question's slug)."""
    category: str
    question: str
    body: Tag
    """The entry's body, its heading removed."""


@dataclass(frozen=True)
class Source:
    """Where one corpus comes from and how its HTML is read."""

    name: str
    package: str
    title: str
    files: Callable[[], list[Path]]
    parse: Callable[[str], list[Entry]]


def clean_text(node: Tag | str) -> str:
    """Visible text of a heading or term, Sphinx's pilcrow links dropped, spaces collapsed."""
    text = node if isinstance(node, str) else node.get_text("")
    return " ".join(text.replace("\u00b6", " ").split())


def slugify(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def split_key(corpus: str, entry_id: str) -> str:
    return hashlib.sha256(f"{corpus}/{entry_id}".encode()).hexdigest()


def assign_splits(corpus: str, entry_ids: Iterable[str]) -> dict[str, str]:
    """`{id: "dev" | "test"}`: ids ordered by a hash of `corpus/id`, the first half
    (rounded up) dev. Stable across runs and machines, and an added or removed entry
    moves at most one other across the cut."""
    ordered = sorted(set(entry_ids), key=lambda entry_id: split_key(corpus, entry_id))
    cut = (len(ordered) + 1) // 2
    return {entry_id: "dev" if i < cut else "test" for i, entry_id in enumerate(ordered)}


def _section_heading(section: Tag) -> Tag | None:
    """The heading that opens a Sphinx section (`<div class="section">` or `<section>`)."""
    for child in section.children:
        if isinstance(child, Tag) and child.name != "span":  # anchor spans come first
            return child if child.name in _HEADINGS else None
    return None


def _is_section(tag: Tag) -> bool:
    return tag.name == "section" or (tag.name == "div" and "section" in (tag.get("class") or []))


def parse_sphinx_faq(html: str, levels: tuple[int, ...]) -> list[Entry]:
    """Entries of a Sphinx page: each section headed at one of `levels` (2: `<h2>`) that
    holds no deeper section at one of `levels` is a question; deeper sections at other
    levels stay in its body. The category is the heading of the enclosing section."""
    soup = BeautifulSoup(html, "html.parser")
    for link in soup.select("a.headerlink"):
        link.decompose()
    names = {f"h{level}" for level in levels}

    def is_question(section: Tag) -> bool:
        heading = _section_heading(section)
        if heading is None or heading.name not in names:
            return False
        inner = (_section_heading(s) for s in section.find_all(_is_section))
        return not any(h is not None and h.name in names for h in inner)

    entries = []
    for section in [s for s in soup.find_all(_is_section) if is_question(s)]:
        heading = _section_heading(section)
        assert heading is not None
        parent = section.find_parent(_is_section)
        parent_heading = _section_heading(parent) if parent is not None else None
        question = clean_text(heading)
        heading.decompose()
        entries.append(
            Entry(
                slug=str(section.get("id") or slugify(question)).removeprefix("s-"),
                category=clean_text(parent_heading) if parent_heading is not None else "",
                question=question,
                body=section,
            )
        )
    return entries


def parse_asciidoc_faq(html: str) -> list[Entry]:
    """Entries of an AsciiDoc manual page (gitfaq): each top-level `<dt>` a question, its
    `<dd>` the body, the enclosing `<h2>` the category."""
    soup = BeautifulSoup(html, "html.parser")
    entries = []
    for term in soup.find_all("dt"):
        if term.find_parent("dd") is not None:
            continue  # a list inside an answer
        body = term.find_next_sibling(["dd", "dt"])
        if not isinstance(body, Tag) or body.name != "dd":
            continue
        sect = term.find_parent("div", class_="sect1")
        heading = sect.find("h2") if sect is not None else None
        question = clean_text(term)
        entries.append(
            Entry(
                slug=slugify(question),
                category=clean_text(heading) if isinstance(heading, Tag) else "",
                question=question,
                body=body,
            )
        )
    return entries


def parse_docbook_faq(html: str) -> list[Entry]:
    """Entries of a DocBook chapter page (the Debian FAQ): each `<h2>` section a question,
    its number ("7.1. ") dropped; deeper sections stay in its body. The category is the
    chapter's `<h1>` without "Chapter N. "."""
    soup = BeautifulSoup(html, "html.parser")
    chapter = soup.find("h1")
    category = re.sub(r"^Chapter \d+\.\s*", "", clean_text(chapter)) if chapter else ""
    entries = []
    for section in soup.find_all("div", class_="section"):
        titlepage = section.find("div", class_="titlepage", recursive=False)
        heading = titlepage.find("h2") if isinstance(titlepage, Tag) else None
        if not isinstance(titlepage, Tag) or not isinstance(heading, Tag):
            continue
        anchor = heading.find("a", id=True)
        question = re.sub(r"^(\d+\.)+\s*", "", clean_text(heading))
        slug = str(anchor["id"]) if isinstance(anchor, Tag) else slugify(question)
        titlepage.decompose()
        entries.append(
            Entry(
                slug=slug,
                category=category,
                question=question,
                body=section,
            )
        )
    return entries


def passage_html(title: str, body: Tag) -> str:
    """A standalone page for one passage: `title`, then the body with its sub-headings
    turned into bold paragraphs (one section per passage)."""
    for heading in body.find_all(_HEADINGS):
        heading.name = "p"
        heading.attrs = {}
        text = clean_text(heading)
        heading.clear()
        strong = BeautifulSoup("<strong></strong>", "html.parser").strong
        assert strong is not None
        strong.string = text
        heading.append(strong)
    inner = "".join(str(child) for child in body.children)
    return (
        f"<!doctype html>\n<html><head><title>{escape(title)}</title></head>\n"
        f"<body>\n{inner}\n</body></html>\n"
    )


def passage_text(path: str, html: str) -> str:
    """The passage's text as the retrieval service reads it (without title or headings)."""
    doc = parse_document(path, html)
    return "\n\n".join(section.text for section in doc.sections)


def _read(path: Path) -> str:
    if path.suffix == ".gz":
        return gzip.decompress(path.read_bytes()).decode("utf-8")
    return path.read_text(encoding="utf-8")


def _existing(*candidates: str) -> list[Path]:
    """The first candidate path that exists (plain or gzipped), as a one-item list."""
    for candidate in candidates:
        for path in (Path(candidate), Path(candidate + ".gz")):
            if path.is_file():
                return [path]
    return []


def _django_files() -> list[Path]:
    root = Path("/usr/share/doc/python-django-doc/html/faq")
    if not root.is_dir():
        return []
    return sorted(
        p for p in root.iterdir() if p.name.split(".")[0] != "index" and ".html" in p.name
    )


def _pages(directory: str, suffix: str = ".html", skip: tuple[str, ...] = ("index",)) -> list[Path]:
    """The pages of a documentation folder, sorted, those named in `skip` left out."""
    root = Path(directory)
    if not root.is_dir():
        return []
    return sorted(
        p for p in root.iterdir() if p.name.endswith(suffix) and p.name.split(".")[0] not in skip
    )


SOURCES: dict[str, Source] = {
    source.name: source
    for source in (
        Source(
            "django-faq",
            "python-django-doc",
            "Django FAQ",
            _django_files,
            lambda html: parse_sphinx_faq(html, levels=(2, 3)),
        ),
        Source(
            "celery-faq",
            "python-celery-doc",
            "Celery FAQ",
            lambda: _existing("/usr/share/doc/python-celery-doc/html/faq.html"),
            lambda html: parse_sphinx_faq(html, levels=(3,)),
        ),
        Source(
            "gitfaq",
            "git-doc",
            "Git FAQ",
            lambda: _existing("/usr/share/doc/git-doc/gitfaq.html"),
            parse_asciidoc_faq,
        ),
        Source(
            "python-faq",
            "python3.11-doc",
            "Python FAQ",
            lambda: _pages("/usr/share/doc/python3.11/html/faq"),
            # Question pages head their questions <h2> (design) or <h3> under <h2>
            # categories (programming).
            lambda html: parse_sphinx_faq(html, levels=(2, 3)),
        ),
        Source(
            "sqlalchemy-faq",
            "python-sqlalchemy-doc",
            "SQLAlchemy FAQ",
            lambda: _pages("/usr/share/doc/python-sqlalchemy-doc/html/faq"),
            # <h3> sections are the steps of one answer ("Step one - ...").
            lambda html: parse_sphinx_faq(html, levels=(2,)),
        ),
        Source(
            "debian-faq",
            "debian-faq",
            "Debian FAQ",
            # Chapter 15 (next release) and 16 (about the FAQ) hold no questions.
            lambda: _pages(
                "/usr/share/doc/debian/FAQ", ".en.html", ("index", "nextrelease", "faqinfo")
            ),
            parse_docbook_faq,
        ),
    )
}


def package_version(package: str) -> str | None:
    """The installed Debian version of `package`, or None."""
    if shutil.which("dpkg-query") is None:
        return None
    result = subprocess.run(
        ["dpkg-query", "-W", "-f", "${Version}", package],
        capture_output=True,
        text=True,
        check=False,
    )
    return result.stdout.strip() or None if result.returncode == 0 else None


def build_rows(
    corpus: str, title: str, pages: Iterable[tuple[str, str]], parse: Callable[[str], list[Entry]]
) -> tuple[list[tuple[str, str]], list[dict[str, Any]]]:
    """`(documents, questions)` of a corpus from `(page name, html)` pairs.

    Documents are `(relative path, html)`; each question names its one relevant document.
    Entries with an empty body, and repeated questions after the first, are left out.
    """
    documents: list[tuple[str, str]] = []
    questions: list[dict[str, Any]] = []
    seen: set[str] = set()
    for page, html in pages:
        for entry in parse(html):
            entry_id = f"{Path(page).name.split('.')[0]}/{entry.slug}"
            if entry.question.lower() in seen or entry_id in {q["id"] for q in questions}:
                continue
            path = f"p{len(documents) + 1:03d}.html"
            content = passage_html(
                f"{title}: {entry.category}" if entry.category else title, entry.body
            )
            text = passage_text(path, content)
            if not text.strip():
                continue
            seen.add(entry.question.lower())
            documents.append((path, content))
            questions.append(
                {
                    "id": entry_id,
                    "question": entry.question,
                    "document_id": path.removesuffix(".html"),
                    "split": "",
                    "category": entry.category,
                    "passage": text,
                }
            )
    splits = assign_splits(corpus, (q["id"] for q in questions))
    for row in questions:
        row["split"] = splits[row["id"]]
    return documents, questions


def build(name: str, out: Path = DEFAULT_OUT) -> Path:
    """Write corpus `name` under `out/name`; raise `MissingPackage` when it is not installed."""
    source = SOURCES[name]
    files = source.files()
    if not files:
        raise MissingPackage(
            f"{name}: package {source.package} is not installed (apt-get install {source.package})"
        )
    pages = [(path.name, _read(path)) for path in files]
    documents, questions = build_rows(name, source.title, pages, source.parse)
    target = out / name
    if target.exists():
        shutil.rmtree(target)
    (target / "documents").mkdir(parents=True)
    for path, content in documents:
        (target / "documents" / path).write_text(content, encoding="utf-8")
    with (target / "questions.jsonl").open("w", encoding="utf-8") as handle:
        for row in questions:
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")
    manifest = {
        "corpus": name,
        "package": source.package,
        "version": package_version(source.package),
        "files": [str(path) for path in files],
        "questions": len(questions),
        "dev": sum(1 for q in questions if q["split"] == "dev"),
        "test": sum(1 for q in questions if q["split"] == "test"),
    }
    (target / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return target


class MissingPackage(Exception):
    """The Debian package a corpus is built from is not installed."""


def load(directory: Path) -> tuple[list[tuple[str, str]], list[dict[str, Any]]]:
    """`(documents, questions)` of a corpus built by `build`."""
    documents = [
        (path.name, path.read_text(encoding="utf-8"))
        for path in sorted((directory / "documents").iterdir())
    ]
    questions = [
        json.loads(line)
        for line in (directory / "questions.jsonl").read_text(encoding="utf-8").splitlines()
        if line.strip()
    ]
    return documents, questions


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.corpora", description=__doc__)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument(
        "names", nargs="*", help=f"corpora to build (default: {', '.join(SOURCES)})"
    )
    args = parser.parse_args(argv)
    unknown = sorted(set(args.names) - set(SOURCES))
    if unknown:
        parser.error(f"unknown corpus {', '.join(unknown)}; known: {', '.join(SOURCES)}")
    for name in args.names or list(SOURCES):
        try:
            target = build(name, args.out)
        except MissingPackage as exc:
            print(f"skipped {exc}")
            continue
        manifest = json.loads((target / "manifest.json").read_text())
        print(
            f"{name}: {manifest['questions']} questions "
            f"({manifest['dev']} dev / {manifest['test']} test) from "
            f"{manifest['package']} {manifest['version'] or ''} -> {target}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
