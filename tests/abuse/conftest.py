"""The abuse suite: the real services as processes, tried as a hostile client would.

Each test asserts the clear 4xx with the JSON envelope, how long the refusal took (a
request that should be refused must not run for seconds), and that nothing already
stored changed. The platform fixtures are the fault suite's (`start_stack`).
"""

from __future__ import annotations

from tests.fault.conftest import StackFactory, book_index, start_stack

__all__ = ["StackFactory", "book_index", "start_stack"]
