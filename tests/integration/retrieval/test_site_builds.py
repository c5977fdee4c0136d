"""Published documentation builds, as a team would bring them: Django's Sphinx build, MkDocs'
own MkDocs site (through its `sitemap.xml`) and Git's AsciiDoc pages, copied from Debian's
packages at test time, sent by the ingest command to a real retrieval service over HTTP.

What a reader of the site would recognise: no chrome in passages or headings, titles without
the site's name, citations that land on a real page and fragment of the published build,
chapters in the site's navigation order, the FAQ's index page never a result."""

from __future__ import annotations

import contextlib
import io
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from bs4 import BeautifulSoup

from services.retrieval.app import create_app
from services.retrieval.chunking import chunk_document
from services.retrieval.cli import main as ingest_main
from services.retrieval.documents import parse_ingested
from services.retrieval.embeddings import LocalEmbedder
from services.retrieval.ingest import book_files
from services.retrieval.settings import RetrievalSettings
from services.retrieval.site_structure import SiteOptions, site_files
from shared.contracts.pages import PageToc
from shared.contracts.retrieval import SearchResponse
from tests.support.servers import serve
from tests.support.site_builds import (
    MissingPackage,
    SiteBuild,
    django_build,
    git_build,
    mkdocs_build,
)

TOKEN = "site-builds-token"
BUILDERS: dict[str, Callable[[Path], SiteBuild]] = {
    "django": django_build,
    "mkdocs": mkdocs_build,
    "git": git_build,
}
CHROME = (
    "¶",
    "Last update",
    "Edit this page",
    "Edit on GitHub",
    "Django 3.2.25 documentation",
    " - MkDocs",
    "Quick search",
    "Previous topic",
    "Next topic",
    "Table of contents | Index | Modules",
    "« previous",
    "[source]",
)
"""Furniture of these three builds (the Sphinx sign and sidebar, Django's header and
footer navigation, MkDocs' edit link, AsciiDoc's footer, the title suffixes)."""
QUESTIONS: dict[str, list[tuple[str, str]]] = {
    "django": [
        ("What Python version can I use with Django?", "faq/install"),
        ("Which sites use Django?", "faq/general"),
        ("How do I get the admin to display my model's string representation?", "faq/admin"),
        ("Can I use Django with a pre-existing database?", "faq/models"),
        (
            "How do I run raw SQL queries in a transaction autocommit mode?",
            "topics/db/transactions",
        ),
        ("What is a custom manager?", "topics/db/managers"),
    ],
    "mkdocs": [
        ("deploy the documentation to GitHub Pages", "user-guide/deploying-your-docs"),
        ("install mkdocs with pip", "user-guide/installation"),
        ("use the readthedocs theme", "user-guide/choosing-your-theme"),
        ("translate a theme into another language", "dev-guide/translations"),
    ],
    "git": [
        ("add file contents to the index", "git-add"),
        ("find the commit that introduced a bug by binary search", "git-bisect"),
        ("save local changes away and get a clean working directory", "git-stash"),
        ("files git should not track", "gitignore"),
        ("revert a merge that turned out to be faulty", "howto/revert-a-faulty-merge"),
    ],
}
CHAPTERS = {
    # the order of the home page's links: Django's "First steps" go to intro/ before faq/
    "django": {"intro": 1, "faq": 2, "topics": 3},
    # MkDocs' navigation bar: User Guide, Developer Guide, About
    "mkdocs": {"user-guide": 1, "dev-guide": 2, "about": 3},
    "git": {"howto": 1},
}


def _ingest(build: SiteBuild, service_url: str) -> str:
    args = [str(build.root), "--corpus", build.name, "--service-url", service_url, "--quiet"]
    args += ["--site-url", build.site_url]
    if build.sitemap is not None:
        args += ["--sitemap", str(build.sitemap)]
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = ingest_main(args)
    assert code == 0, out.getvalue()
    return out.getvalue()


@pytest.fixture(scope="module")
def service(
    tmp_path_factory: pytest.TempPathFactory, local_embedder: LocalEmbedder
) -> Iterator[tuple[str, httpx.Client]]:
    settings = RetrievalSettings(
        data_dir=tmp_path_factory.mktemp("site-index"),
        log_level="warning",
        log_json=False,
        redis_url=None,
        internal_token=TOKEN,
    )
    with (
        pytest.MonkeyPatch.context() as env,
        serve(create_app(settings, embedder=local_embedder)) as url,
        httpx.Client(base_url=url, timeout=60, headers={"x-service-token": TOKEN}) as client,
    ):
        env.setenv("RETRIEVAL_INTERNAL_TOKEN", TOKEN)  # what the ingest command signs with
        yield url, client


@pytest.fixture(scope="module", params=sorted(BUILDERS))
def build(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    service: tuple[str, httpx.Client],
) -> SiteBuild:
    """One build, copied from its package and ingested once."""
    try:
        site = BUILDERS[request.param](tmp_path_factory.mktemp(request.param))
    except MissingPackage as exc:
        pytest.skip(str(exc))
    summary = _ingest(site, service[0])
    assert " 0 chunks written" not in summary, summary
    return site


def _search(client: httpx.Client, corpus: str, query: str, **extra: object) -> SearchResponse:
    body = {"queries": [query], "corpus": corpus, "top_k": 10, **extra}
    response = client.post("/v1/search", json=body)
    assert response.status_code == 200, response.text
    return SearchResponse.model_validate_json(response.content)


def _no_chrome(text: str, where: str) -> None:
    flat = " ".join(text.split())
    for chrome in CHROME:
        assert chrome not in flat, f"{chrome!r} in {where}: {flat[:200]!r}"


def test_no_passage_title_or_heading_carries_the_sites_chrome(
    build: SiteBuild, service: tuple[str, httpx.Client]
) -> None:
    options = SiteOptions(url=build.site_url, sitemap=build.sitemap)
    chunks = 0
    for page in site_files(build.root, book_files(build.root), options):
        doc = parse_ingested(page)
        _no_chrome(doc.title, f"the title of {page.path}")
        for chunk in chunk_document(doc):
            chunks += 1
            _no_chrome(" > ".join(chunk.heading_path) + "\n" + chunk.text, page.path)
    assert chunks > 20
    for question, _ in QUESTIONS[build.name]:
        for hit in _search(service[1], build.name, question).results:
            where = f"hit {hit.source.url}"
            _no_chrome(" > ".join([hit.source.title, *hit.source.heading_path]), where)
            _no_chrome(hit.text, where)


def test_every_hit_links_to_a_page_and_fragment_of_the_build(
    build: SiteBuild, service: tuple[str, httpx.Client]
) -> None:
    ids: dict[Path, set[str]] = {}
    for question, _ in QUESTIONS[build.name]:
        for hit in _search(service[1], build.name, question).results:
            url = hit.source.url
            assert url.startswith(build.site_url), url
            rel, _, fragment = url[len(build.site_url) :].partition("#")
            file = build.root / rel
            assert file.is_file(), url
            if file not in ids:
                soup = BeautifulSoup(file.read_text("utf-8", errors="replace"), "html.parser")
                ids[file] = {str(t["id"]) for t in soup.find_all(id=True)} | {
                    str(t["name"]) for t in soup.find_all("a", attrs={"name": True})
                }
            assert not fragment or fragment in ids[file], f"#{fragment} not in {rel}"


def test_the_page_a_question_is_about_is_found(
    build: SiteBuild, service: tuple[str, httpx.Client]
) -> None:
    for question, page in QUESTIONS[build.name]:
        found = [
            hit.source.document_id for hit in _search(service[1], build.name, question).results
        ]
        assert page in found, (question, found)


def test_chapters_follow_the_sites_navigation(
    build: SiteBuild, service: tuple[str, httpx.Client]
) -> None:
    response = service[1].get(f"/v1/corpora/{build.name}/toc")
    assert response.status_code == 200, response.text
    toc = PageToc.model_validate_json(response.content)
    lessons = [lesson for chapter in toc.chapters for lesson in chapter.lessons]
    assert lessons
    for lesson in lessons:
        folder = lesson.page.split("/", 1)[0] if "/" in lesson.page else None
        assert lesson.chapter == (CHAPTERS[build.name][folder] if folder else None), lesson
    # Within a chapter no two pages share a lesson (the reader's lesson boosts one page).
    seen = [(lesson.chapter, lesson.lesson) for lesson in lessons if lesson.chapter]
    assert len(seen) == len(set(seen)), [k for k in seen if seen.count(k) > 1][:5]
    # A folder with an index page is titled as that page is, as the site titles it.
    titles = {lesson.page: lesson.title for lesson in lessons}
    for chapter in toc.chapters:
        index = f"{chapter.slug}/index"
        if chapter.slug and index in titles:
            assert chapter.title == titles[index], chapter.slug


def test_the_current_chapter_scopes_and_boosts(
    build: SiteBuild, service: tuple[str, httpx.Client]
) -> None:
    question, page = next((q, p) for q, p in QUESTIONS[build.name] if "/" in p)
    chapter = CHAPTERS[build.name][page.split("/", 1)[0]]
    context = {"current_chapter": chapter}
    scoped = _search(
        service[1], build.name, question, scope="current_chapter", page_context=context
    )
    assert scoped.results
    assert {hit.source.chapter for hit in scoped.results} == {chapter}
    boosted = _search(service[1], build.name, question, page_context=context).results
    assert any(hit.boost > 1.0 for hit in boosted if hit.source.chapter == chapter)
    assert all(hit.boost == 1.0 for hit in boosted if hit.source.chapter != chapter)


def test_the_faq_index_and_the_index_of_terms_are_pages_but_never_hits(
    build: SiteBuild, service: tuple[str, httpx.Client]
) -> None:
    if build.name != "django":
        pytest.skip("the FAQ is Django's")
    client = service[1]
    page = client.get("/v1/corpora/django/pages/faq/index")
    assert page.status_code == 200, page.text
    assert "install.html" in page.json()["html"]
    # Sphinx's generated index of terms (52% link text: names and descriptions around its
    # links) is a page too, and has no passage.
    assert client.get("/v1/corpora/django/pages/genindex").status_code == 200
    listed = client.get("/v1/documents", params={"corpus": "django"}).json()["documents"]
    chunks = {d["document_id"]: d["chunks"] for d in listed}
    assert chunks.get("genindex", 0) == 0 and chunks.get("faq/index", 0) == 0
    assert chunks["faq/install"] > 0
    for question, _ in QUESTIONS["django"]:
        found = [hit.source.document_id for hit in _search(client, "django", question).results]
        assert "faq/index" not in found, (question, found)
        assert "genindex" not in found, (question, found)


def test_reingesting_an_unchanged_build_writes_nothing(
    build: SiteBuild, service: tuple[str, httpx.Client]
) -> None:
    summary = _ingest(build, service[0])
    assert " 0 created, 0 updated," in summary and " 0 chunks written" in summary, summary
