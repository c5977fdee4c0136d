"""`models/extractive.py`: the offline model's answers, sentences picked from the passages."""

from __future__ import annotations

from services.chat.models.extractive import (
    NOT_COVERED,
    Passage,
    best_sentences,
    compose_answer,
    covers,
    sentences,
)


def test_sentences_drop_markdown_and_split() -> None:
    text = "# Setup\n\nInstall it first. Then\nrun it!\n- A bullet\n  point.\n1. Numbered.\n"
    assert sentences(text) == ["Install it first.", "Then run it!", "A bullet point.", "Numbered."]


def test_extractive_answer_picks_matching_sentences_with_citations() -> None:
    passages = [
        Passage(1, "The index is rebuilt nightly. Backups run on Sundays."),
        Passage(2, "To rebuild the index by hand, run make index. It takes a minute."),
    ]
    picked = best_sentences("How do I rebuild the index?", passages)
    assert [s.passage for s in picked][:2] == [1, 2]
    answer = compose_answer("How do I rebuild the index?", passages)
    assert "run make index. [2]" in answer and "Backups" not in answer


def test_extractive_answer_says_when_nothing_matches() -> None:
    answer = compose_answer("What about penguins?", [Passage(1, "The index is rebuilt nightly.")])
    assert "couldn't find anything in the book" in answer


# -- prose: tables, code, lists ------------------------------------------------------

TABLE_PASSAGE = """Each service listens on its own port:

| Service | Port |
| --- | --- |
| gateway | 8100 |
| chat | 8101 |

The gateway is the only public service."""


def test_a_table_is_quoted_whole_with_its_lead() -> None:
    answer = compose_answer("Which port does each service use?", [Passage(1, TABLE_PASSAGE)])
    assert (
        "Each service listens on its own port [1]:\n\n| Service | Port |\n| --- | --- |" in answer
    )
    assert "| chat | 8101 |" in answer  # the whole table, not some of its rows


def test_a_table_whose_header_does_not_match_is_not_quoted() -> None:
    answer = compose_answer("Is the gateway public?", [Passage(1, TABLE_PASSAGE)])
    assert "|" not in answer
    assert "The gateway is the only public service. [1]" in answer


def test_a_table_fragment_is_never_quoted() -> None:
    # The head of a passage cut by chunking overlap: rows without their header rule.
    text = "| chat | 8101 |\n| store | 8103 |\n\nThe store port is 8103 for every deployment."
    answer = compose_answer("What is the store port?", [Passage(1, text)])
    assert "|" not in answer and "8103 for every deployment. [1]" in answer


def test_a_code_block_is_quoted_whole_or_not_at_all() -> None:
    text = "Start the services with make:\n\n```bash\nmake run\nmake bench\n```\n\nIt runs honcho."
    whole = compose_answer("How do I start the services with make?", [Passage(2, text)])
    assert "Start the services with make [2]:\n\n```bash\nmake run\nmake bench\n```" in whole
    cut = "Start the services with make:\n\n```bash\nmake run\nmake bench"  # never closed
    answer = compose_answer("How do I start the services with make?", [Passage(2, cut)])
    assert "```" not in answer and "make bench" not in answer
    tail = "make bench\n```\n\nThe services start with make in a few seconds."  # opened before
    answer = compose_answer("How do I start the services with make?", [Passage(3, tail)])
    assert "```" not in answer and answer.endswith("in a few seconds. [3]")


def test_answers_have_no_heading_or_bare_list_markers() -> None:
    text = "## Prerequisites\n\n- \n- **Python 3.11** is required to run it.\n* \n1.\n---\n"
    answer = compose_answer("What is required to run it?", [Passage(1, text)])
    assert answer == "From the book:\n\n**Python 3.11** is required to run it. [1]"


def test_a_list_reads_as_one_sentence_with_its_lead() -> None:
    text = "You need:\n\n- Python 3.11;\n- a shell;\n- make.\n"
    assert sentences(text) == ["You need: Python 3.11; a shell; make."]
    long_items = "The assistant is told to:\n\n- " + "\n- ".join(
        f"cite passage {n} {'exactly ' * 20}" for n in range(3)
    )
    parts = sentences(long_items)
    assert len(parts) == 4 and all(
        p.startswith("The assistant is told to: cite") for p in parts[1:]
    )


def test_a_clipped_sentence_leaves_no_marker_open() -> None:
    text = "Run `make " + "x" * 500 + " all` to build everything."
    (picked,) = best_sentences("How do I build everything?", [Passage(1, text)])
    assert picked.text.endswith("…") and picked.text.count("`") % 2 == 0


def test_links_keep_their_text_and_repeated_sentences_are_quoted_once() -> None:
    text = "See [the setup guide](../setup.md) to install the tools."
    answer = compose_answer("How do I install the tools?", [Passage(1, text), Passage(2, text)])
    assert answer == "From the book:\n\nSee the setup guide to install the tools. [1]"


# -- out of scope --------------------------------------------------------------------

BOOK = [
    Passage(1, "A magic link expires after ten minutes.", "Accounts", "Accounts / Signing in"),
    Passage(2, "The platform has no passwords at all.", "Accounts", "Accounts / Passwords"),
    Passage(3, "Narrow a search with the scope menu.", "Search scopes", "Search scopes"),
]


def test_covers_needs_half_the_words_or_two_in_one_passage() -> None:
    assert covers("How long does a magic link stay valid?", BOOK)  # magic+link in passage 1
    assert covers("Are there passwords?", BOOK)  # its one word, found
    assert covers("What are search scopes?", BOOK)  # in the section title too
    assert covers("What is the scoping menu?", BOOK)  # "scoping" shares six letters
    assert not covers("What is the capital of Australia?", BOOK)
    assert not covers("Which link did the 1998 World Cup final use?", BOOK)  # 1 of 5 words
    assert not covers("What does this mean?", BOOK)  # nothing to judge by
    assert covers("What does this mean?", BOOK, hint="the scope menu")


def test_out_of_scope_questions_get_the_fixed_wording() -> None:
    for question in ("How do I bake sourdough bread?", "Who won the 1998 World Cup?"):
        assert compose_answer(question, BOOK) == NOT_COVERED
    assert compose_answer("How long is a magic link valid?", BOOK) != NOT_COVERED
