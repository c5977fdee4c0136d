"""Pages of documentation builds: content without chrome, titles without the site's name,
anchors as the site has them, link-list pages kept out of the passages."""

# ruff: noqa: E501 (the pages below are written as their generators write them)

from __future__ import annotations

import pytest
from bs4 import BeautifulSoup

from services.retrieval import site_html
from services.retrieval.documents import ParsedDocument, parse_document
from services.retrieval.site_html import Selectors, site_title

SPHINX = """<!DOCTYPE html><html><head><meta charset="utf-8">
<title>FAQ: Installation &#8212; Demo 1.0 documentation</title>
<script id="documentation_options" src="_static/documentation_options.js"></script></head>
<body><div class="related" role="navigation"><ul><li><a href="index.html">previous</a></li></ul></div>
<div class="document"><div class="body" role="main">
<section id="faq-installation"><h1>FAQ: Installation<a class="headerlink" href="#faq-installation">¶</a></h1>
<section id="s-how-do-i-get-started"><span id="s-label"></span><span id="how-do-i-get-started"></span><span id="label"></span><h2>How do I get started?<a class="headerlink" href="#how-do-i-get-started">¶</a></h2>
<p>Download the code and run the tutorial.</p></section>
<div class="section" id="s-prereq"><span id="prerequisites"></span><h2>Prerequisites</h2>
<p>Python is required.</p>
<dl class="py function"><dt id="demo.run">run()<a class="reference internal" href="_modules/demo.html#run"><span class="viewcode-link"><span class="pre">[source]</span></span></a><a class="headerlink" href="#demo.run">¶</a></dt>
<dd><p>Runs the demo.</p></dd></dl></div>
</section></div></div>
<div class="sphinxsidebar" role="navigation"><h3>Table of Contents</h3><ul><li><a href="#">FAQ</a></li></ul>
<div id="searchbox" role="search"><form><input name="q"></form></div>
<h3>Last update:</h3><p>Nov 11, 2026</p></div>
<div class="footer">&copy; Copyright. Created using Sphinx.</div></body></html>"""

MATERIAL = """<!doctype html><html><head><meta name="generator" content="mkdocs-1.4, mkdocs-material-8.2">
<title>Reference - demo-site</title></head><body>
<header class="md-header"><div class="md-header__topic"><span>demo-site</span></div>
<form class="md-search__form"><input placeholder="Search"></form></header>
<nav class="md-nav md-nav--primary"><a href="index.html">Home</a></nav>
<div class="md-content"><article class="md-content__inner md-typeset">
<a href="https://example.org/edit/docs/reference.md" title="Edit this page" class="md-content__button md-icon">edit</a>
<h1 id="reference">Reference<a class="headerlink" href="#reference" title="Permanent link">¶</a></h1>
<p>What the plugin reads.</p>
<h2 id="syntax">Syntax<a class="headerlink" href="#syntax" title="Permanent link">¶</a></h2>
<p>A list of links.</p><pre><code><span>nav</span>:
  <span>- a.md</span></code></pre>
<aside class="md-source-file">Last update: 2023-01-08</aside>
</article></div>
<footer class="md-footer"><nav class="md-footer__inner"><a rel="prev" href="index.html">Previous Home</a></nav></footer>
</body></html>"""

DOCUSAURUS = """<!doctype html><html><head><meta name="generator" content="Docusaurus v3.1.0">
<title>Install | Demo Docs</title></head><body><div id="__docusaurus">
<nav class="navbar"><b class="navbar__title">Demo Docs</b></nav>
<main><article><nav class="theme-doc-breadcrumbs"><ul><li>Home</li><li>Guides</li></ul></nav>
<div class="theme-doc-markdown markdown"><header><h1>Install</h1></header>
<p>Run the installer.</p>
<h2 class="anchor" id="windows">Windows<a href="#windows" class="hash-link" title="Direct link">&#8203;</a></h2>
<p>Use the MSI package.</p></div>
<footer class="theme-doc-footer"><a class="theme-edit-this-page" href="https://x">Edit this page</a>
<span class="theme-last-updated">Last updated on Jan 1, 2024</span></footer>
<nav class="pagination-nav"><a href="intro">Previous Intro</a></nav></article></main>
<footer class="footer">Copyright 2024</footer></div></body></html>"""

ASCIIDOC = """<?xml version="1.0" encoding="UTF-8"?><html><head>
<meta name="generator" content="AsciiDoc 10.2.0" /><title>git-demo(1)</title></head>
<body class="manpage"><div id="header"><h1>git-demo(1) Manual Page</h1><h2>NAME</h2>
<div class="sectionbody"><p>git-demo - Show a demo</p></div></div>
<div id="content"><div class="sect1"><h2 id="_description">DESCRIPTION</h2>
<div class="sectionbody"><div class="paragraph"><p>Shows how the demo works.</p></div></div></div></div>
<div id="footnotes"><hr /></div><div id="footer"><div id="footer-text">Last updated
 2024-05-31 00:35:55 UTC</div></div></body></html>"""

INDEX = """<!DOCTYPE html><html><head><title>Demo FAQ &#8212; Demo 1.0 documentation</title></head>
<body><div class="body" role="main"><section id="demo-faq">
<h1>Demo FAQ<a class="headerlink" href="#demo-faq">¶</a></h1>
<div class="toctree-wrapper compound"><ul>
<li class="toctree-l1"><a class="reference internal" href="general.html">FAQ: General</a></li>
<li class="toctree-l1"><a class="reference internal" href="install.html">FAQ: Installation</a></li>
<li class="toctree-l1"><a class="reference internal" href="usage.html">FAQ: Using the demo</a></li>
</ul></div></section></div></body></html>"""

CHROME = (
    "¶",
    "Last update",
    "Edit this page",
    "documentation",
    "Previous",
    "Copyright",
    "[source]",
)


def _all_text(doc: ParsedDocument) -> str:
    return "\n".join(" > ".join(s.heading_path) + "\n" + s.text for s in doc.sections)


@pytest.mark.parametrize(
    ("page", "title", "expected"),
    [
        (
            SPHINX,
            "FAQ: Installation",
            [
                (("FAQ: Installation", "How do I get started?"), "how-do-i-get-started"),
                (("FAQ: Installation", "Prerequisites"), "prerequisites"),
            ],
        ),
        (
            MATERIAL,
            "Reference",
            [(("Reference",), None), (("Reference", "Syntax"), "syntax")],
        ),
        (
            DOCUSAURUS,
            "Install",
            [(("Install",), None), (("Install", "Windows"), "windows")],
        ),
        (
            ASCIIDOC,
            "git-demo(1)",
            [
                (("git-demo(1) Manual Page", "NAME"), None),  # no id on the site: the page
                (("git-demo(1) Manual Page", "DESCRIPTION"), "_description"),
            ],
        ),
    ],
    ids=["sphinx", "mkdocs-material", "docusaurus", "asciidoc"],
)
def test_site_pages_keep_content_only(
    page: str, title: str, expected: list[tuple[tuple[str, ...], str | None]]
) -> None:
    doc = parse_document("guide/page.html", page)
    assert doc.title == title
    assert [(s.heading_path, s.anchor) for s in doc.sections] == expected
    text = _all_text(doc)
    for chrome in CHROME:
        assert chrome not in text
    for chrome in ("¶", "Last update", "Edit this page", "searchbox", "Table of Contents"):
        assert chrome not in doc.html
    for _, anchor in expected:
        if anchor:
            assert f'id="{anchor}"' in doc.html


def test_highlighted_code_keeps_its_lines() -> None:
    doc = parse_document("reference.html", MATERIAL)
    assert "nav:\n  - a.md" in doc.sections[-1].text


def test_a_page_of_links_is_stored_but_not_indexed() -> None:
    doc = parse_document("faq/index.html", INDEX)
    assert doc.title == "Demo FAQ"
    assert doc.sections == []
    assert "install.html" in doc.html  # the reader still gets the page


HUB = """<!DOCTYPE html><html><head><title>Demo documentation</title>
<script id="documentation_options" src="_static/documentation_options.js"></script></head>
<body><div class="document"><div class="body" role="main">
<section id="demo"><h1>Demo documentation</h1>
<section id="first-steps"><h2>First steps</h2>
<ul><li><strong>Tutorial:</strong> <a href="intro/1.html">Part 1: Requests and responses</a> | <a href="intro/2.html">Part 2: Models and the admin site</a> | <a href="intro/3.html">Part 3: Views and templates</a></li>
<li><a href="intro/overview.html">Overview</a> | <a href="intro/install.html">Installation</a></li></ul></section>
<section id="organized"><h2>How the documentation is organized</h2>
<p>The demo has a lot of <a href="contents.html">documentation</a>; tutorials take you by the hand through a series of steps to build an application.</p></section>
</section></div></div></body></html>"""


def test_a_hubs_lists_of_links_are_left_out_and_its_prose_kept() -> None:
    """A home page of prose and link lists (40-50% link text, as Django's): its link lists
    are navigation, its prose a passage; its page keeps both."""
    doc = parse_document("index.html", HUB)
    text = " ".join(section.text for section in doc.sections)
    assert "tutorials take you by the hand" in text  # prose with a link in it stays
    assert "Part 1" not in text and "Installation" not in text
    assert "Part 1: Requests and responses" in doc.html
    faq = parse_document("faq/install.html", SPHINX)  # not a hub: every block stays
    assert "Download the code" in " ".join(section.text for section in faq.sections)


def test_plain_book_html_is_read_whole_as_before() -> None:
    html = "<html><head><title>Page</title></head><body><h1>Top</h1><p>Intro.</p></body></html>"
    doc = parse_document("x/page.html", html)
    assert doc.title == "Page"
    assert [s.text for s in doc.sections] == ["Intro."]


def test_page_with_chrome_but_no_known_layout_falls_back_to_readability() -> None:
    body = " ".join(["Herons stand still in shallow water, waiting for fish to pass."] * 12)
    html = (
        "<html><head><title>Herons | Bird Notes</title></head><body>"
        "<div class='sidebar'><a href='/'>Home</a> <a href='/a'>Archive</a></div>"
        f"<div class='post'><h1>Herons</h1><p>{body}</p><p>{body}</p></div>"
        "<div class='footer'>Last update: today. Copyright Bird Notes</div></body></html>"
    )
    doc = parse_document("birds/herons.html", html)
    text = _all_text(doc)
    assert "Herons stand still" in text
    assert "Archive" not in text and "Last update" not in text


@pytest.mark.parametrize(
    ("raw", "heading", "names", "expected"),
    [
        ("FAQ: Installation — Django 3.2.25 documentation", "", [], "FAQ: Installation"),
        ("Reference - mkdocs-literate-nav", "", ["mkdocs-literate-nav"], "Reference"),
        ("Install | Demo Docs", "Install", [], "Install"),
        ("Demo Docs | Install", "", ["Demo Docs"], "Install"),
        ("Git - the simple guide", "", [], "Git - the simple guide"),
        ("git-add(1)", "git-add(1) Manual Page", [], "git-add(1)"),
    ],
)
def test_site_title(raw: str, heading: str, names: list[str], expected: str) -> None:
    assert site_title(raw, heading, names) == expected


@pytest.mark.parametrize(
    "page", [SPHINX, MATERIAL, DOCUSAURUS], ids=["sphinx", "material", "docusaurus"]
)
def test_selectors_find_what_soupsieve_finds(page: str) -> None:
    # `Selectors` tries a selector only on tags with the id, class, attribute or name
    # soupsieve's compiled form says it needs: this fails if that form changes.
    soup = BeautifulSoup(page, "html.parser")
    found = 0
    for selectors in (
        site_html._CHROME_SELECTORS,
        site_html._SITE_NAME_SELECTORS,
        tuple(selector for _, selector in site_html._MAIN_SELECTORS),
    ):
        both = Selectors(*selectors)
        assert both.select(soup) == soup.select(", ".join(selectors))
        assert both.first_of_each(soup) == [soup.select_one(s) for s in selectors]
        found += len(both.select(soup))
    assert found > 3
