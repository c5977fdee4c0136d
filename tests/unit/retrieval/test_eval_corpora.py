"""The eval corpus builder (bench.corpora): FAQ headings become questions, bodies passages.

On tiny HTML written here; the real packages are checked when installed.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.corpora import (
    SOURCES,
    assign_splits,
    build,
    build_rows,
    load,
    parse_asciidoc_faq,
    parse_docbook_faq,
    parse_sphinx_faq,
)
from bench.retrieval_eval import CONFIGS, score
from services.retrieval.documents import parse_document
from services.retrieval.settings import RetrievalSettings

SPHINX = """<html><head><title>FAQ: Tiny</title></head><body>
<div class="section" id="s-faq-tiny"><span id="faq-tiny"></span>
<h1>FAQ: Tiny<a class="headerlink" href="#faq-tiny">¶</a></h1>
<div class="section" id="s-how-do-i-frobnicate">
<span id="how-do-i-frobnicate"></span>
<h2>How do I <code>frobnicate</code>?<a class="headerlink" href="#x">¶</a></h2>
<p>Call the frobnicator twice.</p>
<pre>frob --twice</pre>
</div>
<div class="section" id="s-troubles"><h2>Troubles</h2>
<div class="section" id="s-it-hangs"><h3>It hangs</h3><p>Restart the widget.</p></div>
<div class="section" id="s-empty"><h3>Empty answer</h3></div>
</div>
</div>
<div class="sphinxsidebar"><h3>Quick search</h3></div>
</body></html>"""

CELERY_LIKE = """<html><body><section id="faq"><h1>FAQ</h1>
<section id="tasks"><h2>Tasks</h2>
<section id="can-i-cancel"><h3>Can I cancel a task?</h3><p>Yes, revoke it.</p>
<section id="detail"><h4>detail</h4><p>Revoking needs a broker.</p></section>
</section></section></section></body></html>"""

ASCIIDOC = """<html><body>
<div class="sect1"><h2 id="_configuration">Configuration</h2><div class="sectionbody">
<div class="dlist"><dl>
<dt class="hdlist1">What should I put in <code>user.name</code>?</dt>
<dd><p>Your personal name.</p>
<div class="dlist"><dl><dt>nested term</dt><dd><p>nested answer</p></dd></dl></div>
</dd>
<dt class="hdlist1">How do I set an editor?</dt>
<dd><p>Set <code>core.editor</code>.</p></dd>
</dl></div></div></div></body></html>"""


def test_sphinx_headings_become_questions_and_bodies_lose_them() -> None:
    entries = parse_sphinx_faq(SPHINX, levels=(2, 3))
    assert [e.question for e in entries] == ["How do I frobnicate?", "It hangs", "Empty answer"]
    assert entries[0].slug == "how-do-i-frobnicate"
    assert entries[0].category == "FAQ: Tiny"
    assert entries[1].category == "Troubles"  # a section of questions is no question itself
    body = entries[0].body.get_text(" ", strip=True)
    assert "frobnicate?" not in body and "Call the frobnicator twice." in body


def test_deeper_headings_stay_in_the_body_as_text() -> None:
    (entry,) = parse_sphinx_faq(CELERY_LIKE, levels=(3,))
    documents, questions = build_rows(
        "c", "Celery FAQ", [("faq.html", CELERY_LIKE)], lambda h: parse_sphinx_faq(h, levels=(3,))
    )
    (path, html), (row,) = documents[0], questions
    assert entry.question == row["question"] == "Can I cancel a task?"
    doc = parse_document(path, html)
    assert doc.title == "Celery FAQ: Tasks"
    assert len(doc.sections) == 1  # one passage, one section
    assert "Revoking needs a broker." in row["passage"] and "detail" in row["passage"]
    assert "Can I cancel" not in html


DOCBOOK = """<html><body><div class="navheader"><h2>not a section</h2></div>
<div class="chapter"><div class="titlepage"><div><div><h1 class="title">
<a id="pkg"></a>Chapter 7. Basics of packages</h1></div></div></div>
<div class="toc"><dl><dt><a href="#what">7.1. What is a package?</a></dt></dl></div>
<div class="section"><div class="titlepage"><div><div><h2 class="title">
<a id="what"></a>7.1. What is a package?</h2></div></div></div><p>An archive.</p>
<div class="section"><div class="titlepage"><div><div><h3 class="title">
<a id="what-deb"></a>7.1.1. And a .deb?</h3></div></div></div><p>The binary kind.</p></div>
</div>
<div class="section"><div class="titlepage"><div><div><h2 class="title">
7.2. How do I list them?</h2></div></div></div><p>Run dpkg -l.</p></div>
</div></body></html>"""


def test_docbook_sections_become_questions_without_their_numbers() -> None:
    entries = parse_docbook_faq(DOCBOOK)
    assert [e.question for e in entries] == ["What is a package?", "How do I list them?"]
    assert [e.slug for e in entries] == ["what", "how-do-i-list-them"]
    assert {e.category for e in entries} == {"Basics of packages"}
    body = entries[0].body.get_text(" ", strip=True)
    assert "What is a package" not in body
    assert "An archive." in body and "And a .deb?" in body  # a deeper section stays in


def test_asciidoc_terms_become_questions_nested_lists_do_not() -> None:
    entries = parse_asciidoc_faq(ASCIIDOC)
    assert [e.question for e in entries] == [
        "What should I put in user.name?",
        "How do I set an editor?",
    ]
    assert {e.category for e in entries} == {"Configuration"}
    assert "nested answer" in entries[0].body.get_text()


def test_rows_name_their_passage_skip_empty_bodies_and_leave_the_question_out() -> None:
    documents, questions = build_rows(
        "tiny", "Tiny FAQ", [("tiny.html", SPHINX)], lambda h: parse_sphinx_faq(h, levels=(2, 3))
    )
    assert [q["question"] for q in questions] == ["How do I frobnicate?", "It hangs"]
    paths = [p for p, _ in documents]
    assert [q["document_id"] + ".html" for q in questions] == paths
    for (path, html), row in zip(documents, questions, strict=True):
        assert row["question"] not in html
        assert row["passage"] and row["question"] not in row["passage"]
        assert parse_document(path, html).title.startswith("Tiny FAQ: ")
    assert questions[0]["id"] == "tiny/how-do-i-frobnicate"
    assert {q["split"] for q in questions} <= {"dev", "test"}


def test_split_is_deterministic_halves_by_hash() -> None:
    ids = [f"page/q{i}" for i in range(41)]
    splits = assign_splits("corpus", ids)
    assert splits == assign_splits("corpus", list(reversed(ids)))
    assert sum(s == "dev" for s in splits.values()) == 21
    assert splits != assign_splits("other", ids)  # the corpus is part of the hash
    # One more entry moves at most one other across the cut.
    grown = assign_splits("corpus", [*ids, "page/new"])
    assert sum(grown[i] != splits[i] for i in ids) <= 1


def test_score_counts_the_one_passage_once() -> None:
    hit, miss = ("p1", ""), ("p2", "")
    assert score([hit, hit], [hit]) == {"ndcg@10": 1.0, "recall@10": 1.0, "mrr": 1.0}
    second = score([miss, hit], [hit])
    assert second["mrr"] == 0.5 and second["recall@10"] == 1.0
    assert score([miss], [hit])["recall@10"] == 0.0


@pytest.mark.parametrize(
    ("name", "minimum"),
    [
        ("django-faq", 30),
        ("celery-faq", 30),
        ("gitfaq", 15),
        ("python-faq", 150),
        ("sqlalchemy-faq", 30),
        ("debian-faq", 80),
    ],
)
def test_installed_package_builds_a_non_trivial_corpus(
    name: str, minimum: int, tmp_path: Path
) -> None:
    source = SOURCES[name]
    if not source.files():
        pytest.skip(f"{source.package} is not installed (apt-get install {source.package})")
    target = build(name, tmp_path)
    documents, questions = load(target)
    assert len(questions) >= minimum
    assert len(documents) == len(questions)
    assert {q["split"] for q in questions} == {"dev", "test"}
    assert len({q["question"] for q in questions}) == len(questions)
    contents = dict(documents)
    for row in questions:
        assert row["question"] not in contents[row["document_id"] + ".html"]
    manifest = json.loads((target / "manifest.json").read_text())
    assert manifest["package"] == source.package and manifest["questions"] == len(questions)


def test_every_eval_configuration_names_real_settings() -> None:
    # RetrievalSettings ignores unknown names, so a typo would silently measure the default.
    for overrides in CONFIGS.values():
        assert set(overrides) <= set(RetrievalSettings.model_fields)
