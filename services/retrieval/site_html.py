"""The main content of a page of a published documentation build, without the site's chrome.

Site generators wrap every page in the same furniture: a header with the site's name, a
sidebar or navigation, breadcrumbs, previous/next links, a search box, an "edit this page"
link, a footer with the build date, and a permalink sign (`¶`, `#`) after each heading. A
reader of the site skips it; a passage or heading path that carries it is noise for every
search. `extract` finds the content element each generator puts the page in (Sphinx,
MkDocs and MkDocs Material, Docusaurus, AsciiDoc), else the page's `<main>`, else, for a
page with chrome but no known layout, the block readability (Arc90's algorithm, through
`readability-lxml`) scores as the article; it removes what is left of the chrome inside.
A page without chrome (a book page, a fragment) is not a site page: `extract` returns
None and the caller reads it whole, as before.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

import soupsieve
from bs4 import BeautifulSoup, NavigableString, Tag
from soupsieve.css_types import Selector

HEADINGS = ("h1", "h2", "h3", "h4", "h5", "h6")


class Selectors:
    """CSS selectors answered from one walk of the tree, trying each selector only on
    the tags that could match it. soupsieve alone tries every selector of a list on every
    tag (and walks the whole tree for each `select_one` that finds nothing), which made
    finding a page's chrome cost four times as much as parsing it."""

    def __init__(self, *selectors: str) -> None:
        self._each = [soupsieve.compile(selector) for selector in selectors]
        self._any = soupsieve.compile(", ".join(selectors))
        self._names: set[str] = set()
        self._ids: set[str] = set()
        self._classes: set[str] = set()
        self._attributes: set[str] = set()
        self._everything = False
        for selector in self._any.selectors:  # what the tag a selector names must have
            if not isinstance(selector, Selector):
                self._everything = True
            elif selector.ids:
                self._ids.add(selector.ids[0])
            elif selector.classes:
                self._classes.add(selector.classes[0])
            elif selector.attributes:
                self._attributes.add(selector.attributes[0].attribute)
            elif selector.tag is not None and selector.tag.name != "*":
                self._names.add(selector.tag.name)
            else:
                self._everything = True

    def _candidates(self, root: Tag) -> Iterator[Tag]:
        for tag in root.descendants:
            if not isinstance(tag, Tag):
                continue
            if (
                self._everything
                or tag.name in self._names
                or (self._ids and tag.get("id") in self._ids)
                or (self._classes and not self._classes.isdisjoint(tag.get_attribute_list("class")))
                or (self._attributes and not self._attributes.isdisjoint(tag.attrs))
            ):
                yield tag

    def select(self, root: Tag) -> list[Tag]:
        """What `root.select(", ".join(selectors))` finds, in document order."""
        return [tag for tag in self._candidates(root) if self._any.match(tag)]

    def first_of_each(self, root: Tag) -> list[Tag | None]:
        """For each selector, what `root.select_one(selector)` would find."""
        found: list[Tag | None] = [None] * len(self._each)
        missing = len(found)
        for tag in self._candidates(root):
            for i, pattern in enumerate(self._each):
                if found[i] is None and pattern.match(tag):
                    found[i] = tag
                    missing -= 1
            if not missing:
                break
        return found


PERMALINK_SIGNS = "¶#§🔗\u200b"
"""What generators put in a heading's permalink (and nothing else does alone)."""
SPHINX_INDEX = "table.indextable, div.genindex-jumpbox, #genindex"
"""What Sphinx's generated index pages (terms, modules) are made of."""
LINK_PAGE_SHARE = 0.6
"""A page whose text is more than this share link text is a list of links (an index, a
table of contents): stored for the reader, not indexed as passages."""
LINK_HUB_SHARE = 0.3
"""A page with more link text than this is a hub (a home or section index page with some
prose, Django's home page at 44%): its blocks that are mostly links are its navigation."""
LINK_BLOCK_SHARE = 0.6
"""A block (paragraph, list item, cell) of a hub with this share of link text or more is
navigation, not passage text. Measured on Django's 692 and Celery's 350 pages: 18 hubs,
index pages, a contributors list and "See ..." cross-references lose such blocks; release
notes full of issue links lose none."""

_MAIN_SELECTORS: tuple[tuple[str, str], ...] = (
    ("docusaurus", ".theme-doc-markdown"),
    ("mkdocs-material", "article.md-content__inner"),
    ("mkdocs-material", ".md-content"),
    ("sphinx", "div.body[role=main]"),
    ("sphinx", "div[role=main] div.body"),
    ("sphinx", "div.body"),
    ("sphinx", ".rst-content [role=main]"),
    ("html", "[role=main]"),
    ("html", "main article"),
    ("html", "main"),
)
"""Where each generator puts the page's own content, most specific first."""
_MAIN = Selectors(*(selector for _, selector in _MAIN_SELECTORS))

_CHROME_SELECTORS = (
    "script, style, noscript, template, form, input, button, select, textarea, svg",
    "nav, header, footer, aside, [role=navigation], [role=search], [role=banner]",
    "[role=contentinfo], [role=complementary]",
    "a.headerlink, a.hash-link, a.anchorlink, a.md-content__button, .md-source-file",
    ".sphinxsidebar, .related, .breadcrumbs, .breadcrumb, .wy-breadcrumbs, .rst-footer-buttons",
    ".pagination-nav, .theme-doc-breadcrumbs, .theme-doc-footer, .theme-edit-this-page",
    ".theme-doc-toc-mobile, .theme-doc-version-badge, .md-footer, .md-sidebar, .md-header",
    "#searchbox, .searchbox, #footer, #footnotes:not(:has(div)), #toc, #toctitle, div.toc",
    ".headerlink, .edit-this-page, .edit-page, .page-nav, .prev-next, .nav-links",
    ".viewcode-link, .viewcode-back",  # Sphinx's "[source]" links beside a signature
)
"""Chrome that may sit inside a content element too (Material's edit button and "last
update" line are in its article; Docusaurus' footer is in its)."""
_CHROME = Selectors(*_CHROME_SELECTORS)

_CHROME_TEXT = re.compile(
    r"^\s*(edit (this|on|the) (page|github|gitlab)|edit on \w+|view (page )?source|"
    r"show source|last update[ds]?:?|previous|next|« previous|next »)\b",
    re.IGNORECASE,
)
_SEPARATORS = (" \u2014 ", " \u2013 ", " | ", " - ", " · ", " :: ", " » ")
_SITE_NAME_SELECTORS = (
    "meta[property='og:site_name']",
    ".md-header__topic:first-child",
    ".navbar__title",
    ".navbar-brand",
    "#hd h1",
    ".wy-side-nav-search > a",
    "div.related li.nav-item-0",
)
_SITE_NAMES = Selectors(*_SITE_NAME_SELECTORS)


@dataclass
class SitePage:
    """The content of one page of a documentation build."""

    generator: str
    """Which layout was recognised: `sphinx`, `mkdocs`, `mkdocs-material`, `docusaurus`,
    `asciidoc`, `docbook`, `html` (a `<main>`) or `readability` (the fallback)."""
    title: str
    """The page's own title: `<title>` without the site's name, else its first heading."""
    main: Tag
    """The content element, chrome removed; headings still as the page has them."""
    link_share: float
    """Share of its text that is link text."""
    generated_index: bool = False
    """Sphinx's generated index of terms or modules (`genindex`, `py-modindex`)."""

    @property
    def is_link_list(self) -> bool:
        """A page that is mostly links (an index, a table of contents)."""
        return self.generated_index or self.link_share > LINK_PAGE_SHARE

    @property
    def is_hub(self) -> bool:
        """A page of prose and lists of links (see `LINK_HUB_SHARE`)."""
        return self.link_share > LINK_HUB_SHARE


def is_link_block(block: Tag) -> bool:
    """Whether `block` is mostly link text (see `LINK_BLOCK_SHARE`)."""
    total = len(block.get_text(" ", strip=True))
    linked = sum(len(a.get_text(" ", strip=True)) for a in block.find_all("a"))
    return total > 0 and linked / total >= LINK_BLOCK_SHARE


_GENERATOR_MARKS = (
    ("docusaurus", ".theme-doc-markdown, #__docusaurus"),
    ("mkdocs-material", ".md-content"),
    ("mkdocs", "#mkdocs_search_modal, .bs-sidebar, .wy-nav-content .headerlink"),
    ("sphinx", "a.headerlink, .sphinxsidebar, #documentation_options"),
    ("asciidoc-header", "body > #header"),
    ("asciidoc-content", "body > #content"),
)
_GENERATOR_SELECTORS = Selectors(*(selector for _, selector in _GENERATOR_MARKS))


def generator_of(soup: BeautifulSoup) -> str | None:
    """The generator a page names or its markup shows, or None."""
    meta = soup.find("meta", attrs={"name": "generator"})
    named = str(meta.get("content") or "").lower() if isinstance(meta, Tag) else ""
    for key, name in (
        ("docusaurus", "docusaurus"),
        ("mkdocs-material", "mkdocs-material"),
        ("mkdocs", "mkdocs"),
        ("sphinx", "sphinx"),
        ("asciidoc", "asciidoc"),
        ("docbook", "docbook"),
    ):
        if name in named:
            return key
    found = _GENERATOR_SELECTORS.first_of_each(soup)
    marks = {key: tag for (key, _), tag in zip(_GENERATOR_MARKS, found, strict=True)}
    for key in ("docusaurus", "mkdocs-material", "mkdocs", "sphinx"):
        if marks[key] is not None:
            return key
    if marks["asciidoc-header"] is not None and marks["asciidoc-content"] is not None:
        return "asciidoc"
    return None


_CHROME_MARKERS = (
    "nav, header, footer, aside, [role=navigation], [role=banner], [role=contentinfo], "
    "[role=search], .sidebar, #sidebar, .breadcrumb, .breadcrumbs, #footer, .footer"
)


def extract(soup: BeautifulSoup, html: str) -> SitePage | None:
    """The page's content, or None for a page without site chrome (read it whole).

    `soup` is `html` parsed; it is changed in place (chrome removed from `main`).
    """
    raw_title = _text(soup.find("title"))
    generator = generator_of(soup)
    # Its index of terms reads as prose to a link count (names and descriptions around the
    # links: 52-58% links in Django's and Python's), but is no passage for a question.
    generated_index = generator == "sphinx" and soup.select_one(SPHINX_INDEX) is not None
    site_names = _site_names(soup)
    main = _main(soup, generator)
    if main is None:
        if generator is None and soup.select_one(_CHROME_MARKERS) is None:
            return None
        main = _readability(html)
        generator = "readability"
    elif generator is None:
        generator = "html"
    _strip_chrome(main)
    first_h1 = main.find("h1")
    heading = heading_text(first_h1) if isinstance(first_h1, Tag) else ""
    title = site_title(raw_title, heading, site_names) or heading
    return SitePage(generator, title, main, link_share(main), generated_index)


def _main(soup: BeautifulSoup, generator: str | None) -> Tag | None:
    if generator == "asciidoc":
        body = soup.body or soup
        box = soup.new_tag("div")
        for part in ("header", "content"):
            found = body.find(id=part)
            if isinstance(found, Tag):
                box.append(found.extract())
        return box
    if generator == "docbook":
        return soup.body
    for found in _MAIN.first_of_each(soup):
        if found is not None and found.get_text(strip=True):
            return found
    if generator == "sphinx":
        # Some themes (Django's) have no content element: the page is its top section.
        h1 = soup.select_one("section h1, div.section h1")
        if h1 is not None:
            outer = [p for p in h1.parents if _is_section(p)]
            if outer and isinstance(outer[-1].parent, Tag):
                return outer[-1].parent
    return None


def _is_section(tag: Tag) -> bool:
    classes = tag.get_attribute_list("class")
    return tag.name == "section" or (tag.name == "div" and "section" in classes)


def _readability(html: str) -> Tag:
    from readability import Document  # lxml-based; imported only for pages that need it

    summary = Document(html).summary(html_partial=True)
    soup = BeautifulSoup(summary, "html.parser")
    box = soup.find("div") or soup
    return box if isinstance(box, Tag) else soup.new_tag("div")


def _strip_chrome(main: Tag) -> None:
    for heading in main.find_all(HEADINGS):
        if not isinstance(heading, Tag):
            continue
        for link in heading.find_all("a"):
            if isinstance(link, Tag) and _is_permalink(link):
                if not heading.get("id") and len(str(link["href"])) > 1:
                    heading["id"] = str(link["href"])[1:]  # the site's own link to it
                link.decompose()
        for string in list(heading.find_all(string=True)):
            stripped = string.rstrip(PERMALINK_SIGNS + " ")
            if stripped != string and isinstance(string, NavigableString):
                string.replace_with(stripped)
    for junk in _CHROME.select(main):
        if junk.name in ("header", "footer") and junk.find(HEADINGS) is not None:
            junk.unwrap()  # Docusaurus' article <header> holds the page's <h1>
        elif not junk.decomposed:
            junk.decompose()
    for link in main.find_all("a"):
        if isinstance(link, Tag) and _CHROME_TEXT.match(link.get_text(" ", strip=True)):
            link.decompose()


def _is_permalink(link: Tag) -> bool:
    href = str(link.get("href") or "")
    if not href:
        return False
    text = link.get_text(strip=True)
    return href.startswith("#") and (not text or all(c in PERMALINK_SIGNS for c in text))


def heading_text(heading: Tag) -> str:
    """A heading's text without a permalink sign."""
    return " ".join(heading.get_text(" ", strip=True).rstrip(PERMALINK_SIGNS + " ").split())


def anchor_of(heading: Tag) -> str | None:
    """The fragment the site itself links a heading with: its id, its permalink's target,
    or the id of the section it opens (Sphinx puts the id there), else None."""
    if heading.get("id"):
        return str(heading["id"])
    for link in heading.find_all("a"):
        if isinstance(link, Tag) and _is_permalink(link):
            return str(link["href"])[1:] or None
        if isinstance(link, Tag) and link.get("name") and not link.get_text(strip=True):
            return str(link["name"])  # DocBook's `<a name="...">` target
    previous = heading.find_previous_sibling()
    if (
        isinstance(previous, Tag)
        and previous.name in ("span", "a")
        and previous.get("id")
        and not previous.get_text(strip=True)
    ):
        return str(previous["id"])  # Sphinx's `<span id="label">` target before it
    parent = heading.parent
    if isinstance(parent, Tag) and parent.get("id") and _opens(parent, heading):
        return str(parent["id"])
    return None


def _opens(container: Tag, heading: Tag) -> bool:
    first = container.find(HEADINGS)
    return first is heading


def site_title(raw: str, heading: str, site_names: list[str]) -> str:
    """`raw` (a `<title>`) without the site's name: `FAQ: Installation — Django 3.2.25
    documentation` -> `FAQ: Installation`. The suffix goes when the page's heading is the
    part before a separator, when what follows is the site's name, or when it is Sphinx's
    `<project> documentation`."""
    raw = " ".join(raw.split())
    if not raw:
        return ""
    for sep in _SEPARATORS:
        head, found, tail = raw.rpartition(sep)
        if not found or not head:
            continue
        tail_l = tail.strip().lower()
        if (
            (heading and head.strip().lower() == heading.lower())
            or any(tail_l == name.lower() for name in site_names)
            or tail_l.endswith(" documentation")
            or tail_l.endswith(" docs")
        ):
            return head.strip()
    for sep in _SEPARATORS:  # "Site | Page" (the name first)
        head, found, tail = raw.partition(sep)
        if found and any(head.strip().lower() == name.lower() for name in site_names):
            return tail.strip()
    return raw


def _site_names(soup: BeautifulSoup) -> list[str]:
    names = []
    for found in _SITE_NAMES.first_of_each(soup):
        if found is None:
            continue
        text = str(found.get("content") or "") if found.name == "meta" else _text(found)
        if text:
            names.append(text)
    return names


def link_share(main: Tag) -> float:
    """Share of the text of `main`, headings aside, that is inside links."""
    total = 0
    linked = 0
    # One walk, each tag's (in a heading, in a link) from its parent's, rather than a
    # climb to the root per string.
    stack: list[tuple[Tag, bool, bool]] = [(main, main.name in HEADINGS, main.name == "a")]
    while stack:
        tag, in_heading, in_link = stack.pop()
        for child in tag.children:
            if isinstance(child, Tag):
                stack.append(
                    (child, in_heading or child.name in HEADINGS, in_link or child.name == "a")
                )
            elif type(child) is NavigableString and not in_heading:
                size = len(child.strip())
                total += size
                if in_link:
                    linked += size
    return linked / total if total else 0.0


def _text(tag: object) -> str:
    return tag.get_text(" ", strip=True) if isinstance(tag, Tag) else ""
