"""How a book page is written: front matter, the `NN-` prefix of its path, heading anchors.

Retrieval renders pages for the reader and chunks them with these same rules, so a
citation `/book/<page>#<anchor>` lands on the heading it names and the chapter and lesson
the web client sends as page context are the ones retrieval filters and boosts on.

A page id is its path under the book, '/'-separated, without its suffix
(`01-getting-started/02-running-locally`). A folder or file name that starts with a number
followed by `-` or `_` (or is only a number) is numbered: the nearest numbered folder gives
the chapter. The lesson is the page's path below its chapter's folder (the nearest numbered
one, else the top-level one), without numbers: `03-setup/02-keys` is `keys`,
`ref/models/fields` is `models/fields`, so lessons do not repeat within a chapter; an
`index` page is its folder's lesson (`topics/db/index` is `db`, `faq/index` is `faq`).
Front matter overrides both.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import yaml
from markdown_it import MarkdownIt
from markdown_it.token import Token

_FRONT_MATTER = re.compile(r"\A---[ \t]*\r?\n(.*?\r?\n)?---[ \t]*(?:\r?\n|\Z)", re.DOTALL)
_NUMBERED = re.compile(r"(\d+)(?:[-_](.*))?", re.DOTALL)


class FrontMatterError(ValueError):
    """Front matter that is not a YAML mapping, or a `chapter` that is not an integer."""

    def __init__(self, template: str) -> None:
        super().__init__(template.replace("{source}", "the page"))
        self.template = template

    def about(self, source: str) -> str:
        """The message naming `source` (a file name, say) as the page at fault."""
        return self.template.replace("{source}", source)


def split_front_matter(text: str) -> tuple[dict[str, Any], str]:
    """The YAML mapping between `---` lines at the top of `text` (empty if there is none)
    and the body after it."""
    block, body = _split(text)
    return _mapping(block), body


def _split(text: str) -> tuple[str | None, str]:
    text = text.lstrip("\ufeff")
    match = _FRONT_MATTER.match(text)
    if not match:
        return None, text
    return match.group(1) or "", text[match.end() :]


def _mapping(block: str | None) -> dict[str, Any]:
    if block is None:
        return {}
    try:
        meta = yaml.safe_load(block) or {}
    except yaml.YAMLError as exc:
        raise FrontMatterError(f"Front matter of {{source}} is not valid YAML: {exc}") from None
    if not isinstance(meta, dict):
        raise FrontMatterError("Front matter of {source} must be a mapping.")
    return meta


def numbered(name: str) -> tuple[int | None, str]:
    """`03-setup` -> (3, "setup"); `03` -> (3, ""); `setup` -> (None, "setup")."""
    match = _NUMBERED.fullmatch(name)
    if not match:
        return None, name
    return int(match.group(1)), match.group(2) or ""


def title_from_slug(slug: str) -> str:
    """A readable title for a name without one: `running-locally` -> `Running locally`."""
    return slug.replace("-", " ").replace("_", " ").strip().capitalize()


@dataclass(frozen=True)
class PageInfo:
    """What a page says about itself."""

    title: str
    chapter: int | None
    """Compared with `page_context.current_chapter` (filter and boost)."""
    lesson: str
    """Compared with `page_context.current_lesson` (boost)."""


INDEX_PAGE = "index"
"""The page a site serves for its folder (`faq/` is `faq/index.html`)."""


def page_info(page: str, meta: Mapping[str, Any], first_heading: str | None) -> PageInfo:
    """Title, chapter and lesson of `page`: from `meta` (front matter, or HTML `<meta>`),
    else from its path and `first_heading` (its first `#` heading)."""
    folders, stem = page.split("/")[:-1], page.split("/")[-1]
    at = max((i for i, f in enumerate(folders) if numbered(f)[0] is not None), default=None)
    stem_slug = _name(stem)
    return PageInfo(
        title=_text(meta.get("title")) or first_heading or title_from_slug(stem_slug),
        chapter=_chapter(meta.get("chapter"), numbered(folders[at])[0] if at is not None else None),
        lesson=_text(meta.get("lesson")) or _lesson(folders, at, stem_slug),
    )


def _name(part: str) -> str:
    return numbered(part)[1] or part


def _lesson(folders: list[str], chapter_at: int | None, stem: str) -> str:
    top = 0 if chapter_at is None else chapter_at  # the chapter's folder
    below = [_name(f) for f in folders[top + 1 :]]
    if stem != INDEX_PAGE:
        return "/".join([*below, stem])
    if below:
        return "/".join(below)
    return _name(folders[top]) if folders else stem


def _text(value: Any) -> str | None:
    return str(value).strip() or None if value is not None else None


def _chapter(value: Any, default: int | None) -> int | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return default
    if isinstance(value, bool):
        raise FrontMatterError("'chapter' in {source} must be an integer.")
    try:
        return int(str(value).strip())
    except ValueError:
        raise FrontMatterError(
            f"'chapter' in {{source}} must be an integer, not {value!r}."
        ) from None


def slugify(text: str) -> str:
    """GitHub-style heading anchor: lowercase, punctuation dropped, spaces to hyphens."""
    text = unicodedata.normalize("NFKC", text).strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


class Anchors:
    """Unique anchors within one page, numbered on repeats as GitHub does (`x`, `x-1`)."""

    def __init__(self) -> None:
        self._counts: dict[str, int] = {}

    def __call__(self, text: str) -> str:
        base = slugify(text) or "section"
        anchor = base
        while anchor in self._counts:
            self._counts[base] += 1
            anchor = f"{base}-{self._counts[base]}"
        self._counts[anchor] = 0
        return anchor


def markdown() -> MarkdownIt:
    """The Markdown of book pages: CommonMark with tables; raw HTML stays text."""
    return MarkdownIt("commonmark", {"html": False}).enable("table")


@dataclass(frozen=True)
class Heading:
    """One top-level heading of a page (not one inside a list or a quote)."""

    level: int
    text: str
    """Its plain text (inline code and emphasis without their markup)."""
    anchor: str
    """Its fragment id, unique in the page."""
    line: int
    """Its first source line (0-based)."""
    end_line: int
    """The source line after it."""


def headings(tokens: list[Token]) -> list[Heading]:
    """The headings of a page parsed by `markdown()`, in order; each heading's token gets
    its anchor as `id`, so rendering the tokens gives the ids citations link to."""
    anchors = Anchors()
    found = []
    for i, token in enumerate(tokens):
        if token.type != "heading_open" or token.level != 0 or not token.map:
            continue
        inline = tokens[i + 1]
        text = "".join(
            child.content for child in (inline.children or []) if child.type != "softbreak"
        ).strip()
        anchor = anchors(text)
        token.attrSet("id", anchor)
        found.append(Heading(int(token.tag[1]), text, anchor, token.map[0], token.map[1]))
    return found


@dataclass(frozen=True)
class MarkdownPage:
    """A Markdown page read with these rules."""

    meta: dict[str, Any]
    """Its front matter."""
    body: str
    """The text after the front matter (what `tokens` and heading lines refer to)."""
    tokens: list[Token]
    """The body parsed by `markdown()`, headings carrying their `id`: ready to render."""
    headings: list[Heading]
    info: PageInfo


def read_markdown(
    page: str,
    text: str,
    md: MarkdownIt,
    *,
    strict: bool = True,
    defaults: Mapping[str, Any] | None = None,
) -> MarkdownPage:
    """Read the page `page` (its id) from `text` with `md` (a `markdown()`). Raises
    FrontMatterError for bad front matter, unless not `strict`: then it is ignored.
    `defaults`: front matter values the page's own override."""
    block, body = _split(text)
    tokens = md.parse(body)
    found = headings(tokens)
    first_h1 = next((h.text for h in found if h.level == 1), None)
    try:
        meta = {**(defaults or {}), **_mapping(block)}
        info = page_info(page, meta, first_h1)
    except FrontMatterError:
        if strict:
            raise
        meta = dict(defaults or {})
        info = page_info(page, meta, first_h1)
    return MarkdownPage(meta, body, tokens, found, info)
