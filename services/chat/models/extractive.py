"""The offline model's answer: the book's own best sentences for the question, cited.

No language model is involved: sentences of the retrieved passages are scored by
how many of the question's content words they contain (weighted by rarity across
the passages), and the best few are returned in reading order with their passage's
citation marker.

Answers read as prose (`units`): Markdown headings, horizontal rules and list or quote
markers are dropped, links keep their text, and a sentence cut at the length cap never
leaves a `**` or backtick open. Tables and fenced code blocks are never split into
sentences: one that is complete (a table with its header rule, a fence opened and
closed inside the passage) and short enough may be quoted whole as one unit, with the
sentence introducing it, when that sentence or the table's header row holds a word of
the question; a fragment (the head or tail of a block cut by chunking) is not quoted
at all. A list introduced by a sentence ending with a colon reads as one sentence.

Out of scope (`covers`): the passages answer the question when at least half of its
content words occur in them (text, title or section; a word also counts when a passage
word shares its first six letters), or when one passage holds two of them. Otherwise
the answer is `NOT_COVERED`: search always returns its nearest passages, even for a
question the book says nothing about.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Collection
from dataclasses import dataclass

MAX_SENTENCES = 3
MAX_SENTENCE_CHARS = 400
MAX_BLOCK_CHARS = 900
"""Longest table or code block quoted whole (longer ones are not quoted)."""
MAX_BLOCK_LINES = 14
BLOCK_BODY_WEIGHT = 0.3
"""Weight of a question word found only in a block's body (not its lead or header row)."""
MIN_COVERAGE = 0.5
"""Share of the question's content words the passages must hold (see `covers`)."""
MIN_COOCCURRING = 2
"""...or how many of them one passage must hold together."""
PREFIX_MATCH = 6
NOT_COVERED = (
    "The book doesn't cover this: I couldn't find anything in the book about it, so I "
    "can't answer it from the book. Try rephrasing, or ask about a topic the book covers."
)
"""The fixed answer when the passages found do not answer the question."""

_WORD = re.compile(r"[a-z0-9][a-z0-9'_-]*")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(\[*`])")
_HEADING = re.compile(r"^\s{0,3}#{1,6}(\s|$)")
_RULE = re.compile(r"^\s{0,3}(?:[-*_=]\s*){3,}$")
_ITEM = re.compile(r"^\s*(?:[-*+]\s+|\d+[.)]\s+|>\s?)")
_BARE_ITEM = re.compile(r"^\s*(?:[-*+]|\d+[.)]|>)\s*$")
_FENCE = re.compile(r"^\s{0,3}(```+|~~~+)\s*([^`\s]*)")
_TABLE_ROW = re.compile(r"^\s*\|.*\|\s*$|^[^|]+\|[^|]+")
_TABLE_RULE = re.compile(r"^\s*\|?\s*:?-{3,}:?\s*(?:\|\s*:?-{3,}:?\s*)*\|?\s*$")
_LINK = re.compile(r"!?\[([^\]]*)\]\([^)]*\)")
_CITE = re.compile(r"\s*\[\d{1,3}(?:\s*,\s*\d{1,3})*\]")
_STOPWORD_TEXT = """
a about above after again all also am an and any are as at be because been before being below
between both but by can could did do does doing down during each few for from further had has
have having he her here hers him his how i if in into is it its itself just me more most my no
nor not now of off on once only or other our out over own same she should so some such than that
the their them then there these they this those through to too under until up very was we were
what when where which while who whom why will with would you your yours explain tell describe
show please book chapter page section lesson say says said mean means give know want find
highlight whats what's how's thing things
simply simpler simple elaborate clarify rephrase else detail details briefly shorter summarize
summarise
"""
STOPWORDS = frozenset(_STOPWORD_TEXT.split())


@dataclass(frozen=True)
class Passage:
    """A retrieved passage as the search tool reported it."""

    n: int
    text: str
    title: str = ""
    section: str = ""


@dataclass(frozen=True)
class Sentence:
    passage: int
    position: int
    text: str
    score: float
    block: bool = False
    """A whole table or code block (with the sentence introducing it, if any)."""


@dataclass(frozen=True)
class Unit:
    """One quotable piece of a passage: a prose sentence, or a whole table or code block."""

    kind: str  # "prose", "table" or "code"
    text: str
    lead: str = ""
    """For a block: the sentence before it that introduces it (ends with a colon)."""


def terms(text: str) -> list[str]:
    """Content words of `text`, lower-cased, with a light plural/verb-ending stem."""
    out = []
    for word in _WORD.findall(text.lower()):
        if word in STOPWORDS or len(word) < 3:
            continue
        for suffix in ("ies", "es", "s", "ing", "ed"):
            if word.endswith(suffix) and len(word) - len(suffix) >= 4:
                word = word[: -len(suffix)] + ("y" if suffix == "ies" else "")
                break
        if word not in STOPWORDS:
            out.append(word)
    return out


def units(text: str) -> list[Unit]:
    """`text` as quotable units, in reading order (see the module docstring)."""
    out: list[Unit] = []
    prose: list[list[str]] = [[]]
    items: set[int] = set()  # which blocks of `prose` are list items
    listed: list[str] = []
    lead: list[int] = []  # index in `out` of a sentence ending with ":" before a list

    def close_list() -> None:
        # "You need: a; b; c." reads as one sentence; long or many-sentence items stand alone.
        if lead and listed:
            merged = out[lead[0]].text + " " + "; ".join(i.rstrip(" ;,.") for i in listed) + "."
            single = all(len(_SENTENCE_END.split(i)) == 1 for i in listed)
            if single and len(merged) <= MAX_SENTENCE_CHARS:
                out[lead[0]] = Unit("prose", merged)
            else:
                for item in listed:
                    # A lower-case item continues the lead: quoted alone, it needs it.
                    alone = f"{out[lead[0]].text} {item.rstrip(' ;,.')}."
                    if item[0].islower() and len(alone) <= MAX_SENTENCE_CHARS:
                        out.append(Unit("prose", alone))
                    else:
                        out.extend(Unit("prose", s) for s in _split_sentences(item))
        lead.clear()
        listed.clear()

    def flush() -> None:
        for index, block in enumerate(prose):
            joined = prose_text(" ".join(block))
            if not joined:
                continue
            if index in items and lead:
                listed.append(joined)
                continue
            close_list()
            out.extend(Unit("prose", s) for s in _split_sentences(joined))
            if index not in items and out and out[-1].text.endswith(":"):
                lead.append(len(out) - 1)
        close_list()
        prose.clear()
        prose.append([])
        items.clear()

    def add_block(kind: str, lines: list[str]) -> None:
        flush()
        lead = ""
        if out and out[-1].kind == "prose" and out[-1].text.endswith(":"):
            lead = out.pop().text
        out.append(Unit(kind, "\n".join(lines).strip("\n"), lead))

    lines = text.split("\n")
    fences = [i for i, line in enumerate(lines) if _FENCE.match(line)]
    i = 0
    if len(fences) % 2 and not _FENCE.match(lines[fences[0]]).group(2):  # type: ignore[union-attr]
        # An odd bare first fence closes a block that began before the passage: the
        # lines above it are the tail of that block, not prose.
        add_block("fragment", lines[: fences[0] + 1])
        i = fences[0] + 1
    while i < len(lines):
        line = lines[i]
        fence = _FENCE.match(line)
        if fence:
            end = next(
                (
                    j
                    for j in range(i + 1, len(lines))
                    if lines[j].strip().startswith(fence.group(1))
                ),
                None,
            )
            if end is None:  # opened, never closed here: the head of a cut block
                add_block("fragment", lines[i:])
                break
            add_block("code", lines[i : end + 1])
            i = end + 1
            continue
        if _TABLE_ROW.match(line) and "|" in line:
            end = i
            while end + 1 < len(lines) and "|" in lines[end + 1] and lines[end + 1].strip():
                end += 1
            rows = lines[i : end + 1]
            whole = len(rows) >= 2 and bool(_TABLE_RULE.match(rows[1]))
            if whole or any(_TABLE_RULE.match(r) for r in rows) or line.strip().startswith("|"):
                add_block("table" if whole else "fragment", rows)
                i = end + 1
                continue
        i += 1
        if not line.strip() or _HEADING.match(line) or _RULE.match(line) or _BARE_ITEM.match(line):
            prose.append([])
            continue
        if _ITEM.match(line):
            prose.append([])
            items.add(len(prose) - 1)
            line = _ITEM.sub("", line)
        prose[-1].append(line.strip())
    flush()
    return out


def _split_sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE_END.split(text) if s.strip()]


def prose_text(text: str) -> str:
    """One paragraph as prose: whitespace collapsed, links reduced to their text."""
    return " ".join(_LINK.sub(r"\1", text).split())


def sentences(text: str) -> list[str]:
    """The prose sentences of `text` (paragraphs and list items are blocks; headings,
    tables and code blocks left out)."""
    return [u.text for u in units(text) if u.kind == "prose"]


def _found(term: str, present: Collection[str]) -> bool:
    if term in present:
        return True
    if len(term) < PREFIX_MATCH:
        return False
    head = term[:PREFIX_MATCH]
    return any(word.startswith(head) for word in present)


def covers(question: str, passages: list[Passage], *, hint: str | None = None) -> bool:
    """Whether `passages` can answer `question` (the rule is in the module docstring).

    A question with no content word of its own (e.g. "what does this mean?") is judged
    on `hint`, the passage the reader selected."""
    wanted = set(terms(question)) or set(terms(hint or ""))
    if not wanted or not passages:
        return False
    per_passage = [set(terms(f"{p.title} {p.section} {p.text}")) for p in passages]
    everywhere = set().union(*per_passage)
    found = {t for t in wanted if _found(t, everywhere)}
    if len(found) >= MIN_COVERAGE * len(wanted):
        return True
    return any(sum(_found(t, words) for t in wanted) >= MIN_COOCCURRING for words in per_passage)


def best_sentences(
    question: str,
    passages: list[Passage],
    *,
    hint: str | None = None,
    limit: int = MAX_SENTENCES,
    avoid: str = "",
) -> list[Sentence]:
    """The `limit` sentences that best match `question` (and, weighted less, `hint`),
    at most one of them a whole table or code block; sentences already in `avoid` (an
    earlier answer) only when nothing else matches."""
    wanted: dict[str, float] = dict.fromkeys(terms(question), 1.0)
    for t in terms(hint or ""):
        wanted[t] = max(wanted.get(t, 0.0), 0.5)
    if not wanted:
        return []
    said = _normal(avoid)
    split = [
        (p, [u for u in units(p.text) if u.kind in ("prose", "table", "code")]) for p in passages
    ]
    # Rarer words across the retrieved passages say more about relevance.
    bags = {id(u): set(terms(f"{u.lead} {u.text}")) for _, us in split for u in us}
    heads = {id(u): set(terms(_head(u))) for _, us in split for u in us}
    doc_freq = Counter(t for bag in bags.values() for t in bag)
    total = len(bags) or 1
    scored: list[Sentence] = []
    for rank, (passage, passage_units) in enumerate(split):
        for position, unit in enumerate(passage_units):
            block = unit.kind != "prose"
            if block and (
                len(unit.text) > MAX_BLOCK_CHARS or unit.text.count("\n") >= MAX_BLOCK_LINES
            ):
                continue
            present, head = bags[id(unit)], heads[id(unit)]
            if block and not head.intersection(wanted):
                continue  # a block is quoted for what it is about, not for a word inside
            score = sum(
                weight
                * (1 + math.log(total / doc_freq[t]))
                * (1.0 if t in head else BLOCK_BODY_WEIGHT)
                for t, weight in wanted.items()
                if t in present
            )
            if score <= 0 or (not block and unit.text.endswith(":")):
                continue  # a sentence introducing what follows says nothing alone
            # A gentle preference for higher-ranked passages and their earlier sentences.
            score *= 1 / (1 + 0.05 * rank + 0.01 * position)
            text = _render_block(unit, passage.n) if block else _clip(unit.text)
            scored.append(Sentence(passage.n, position, text, score, block))
    fresh = [s for s in scored if not said or _normal(s.text) not in said]
    ranked = sorted(fresh or scored, key=lambda s: -s.score)
    top: list[Sentence] = []
    for s in ranked:
        if (s.block and any(t.block for t in top)) or any(
            _normal(t.text) == _normal(s.text) for t in top
        ):
            continue  # one block per answer; a sentence twice (overlapping passages) once
        top.append(s)
        if len(top) == limit:
            break
    return sorted(top, key=lambda s: (s.passage, s.position))


def compose_answer(
    question: str, passages: list[Passage], *, hint: str | None = None, avoid: str = ""
) -> str:
    """The full offline answer for `question` from `passages` (`avoid`: see
    `best_sentences`)."""
    if not covers(question, passages, hint=hint):
        return nothing_relevant()
    picked = best_sentences(question, passages, hint=hint, avoid=avoid)
    if not picked:
        return nothing_relevant()
    lines = [s.text if s.block else f"{s.text} [{s.passage}]" for s in picked]
    return "From the book:\n\n" + "\n\n".join(lines)


def nothing_relevant() -> str:
    return NOT_COVERED


def search_failed() -> str:
    return (
        "I couldn't search the book just now (the search service did not answer), so I can't "
        "give you an answer grounded in the book. Please try again in a moment."
    )


def _head(unit: Unit) -> str:
    """What a unit is about: a sentence's text; a block's lead, and a table's header row."""
    if unit.kind == "prose":
        return unit.text
    header = unit.text.split("\n", 1)[0] if unit.kind == "table" else ""
    return f"{unit.lead} {header}"


def _render_block(unit: Unit, n: int) -> str:
    if unit.lead:
        lead = f"{unit.lead[:-1].rstrip()} [{n}]:"
    else:
        lead = f"The book gives this {'table' if unit.kind == 'table' else 'example'} [{n}]:"
    return f"{lead}\n\n{unit.text}"


def _normal(text: str) -> str:
    return " ".join(_CITE.sub("", text).split()).lower()


def _clip(text: str) -> str:
    if len(text) > MAX_SENTENCE_CHARS:
        text = text[:MAX_SENTENCE_CHARS].rsplit(" ", 1)[0].rstrip(",;:") + "…"
    # A cut (or a stray marker) must not leave emphasis or inline code open.
    for marker in ("**", "`"):
        if text.count(marker) % 2:
            at = text.rfind(marker)
            text = text[:at] + text[at + len(marker) :]
    return text
