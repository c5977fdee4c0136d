"""Schemathesis over every service's live `/openapi.json`: valid and invalid requests
alike never get a 5xx, and every error is the platform's JSON envelope.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.core.result import Ok

from tests.fault.conftest import StackFactory
from tests.fault.gateway_user import GatewayUser
from tests.support.stack import Stack

pytestmark = pytest.mark.fault

CASES_PER_SERVICE = 60  # per generation mode, shared by the service's operations
MIN_CASES = 10  # per operation and generation mode
FUZZ_USER = "fuzz-user"


@pytest.fixture(scope="module")
def stack(start_stack: StackFactory) -> Iterator[Stack]:
    """Offline model at full speed; rate limits out of the way of the fuzzer."""
    extra = {
        "gateway": {
            "GATEWAY_IP_RATE_PER_S": "10000",
            "GATEWAY_IP_BURST": "10000",
            "GATEWAY_USER_RATE_PER_S": "10000",
            "GATEWAY_USER_BURST": "10000",
            "GATEWAY_ANON_MINT_BURST": "10000",
        }
    }
    with start_stack(token_delay_ms=0, extra_env=extra) as stack:
        yield stack


def envelope_problem(status: int, content_type: str, content: bytes) -> str | None:
    """What is wrong with a response, if anything: a 5xx, or an error outside the envelope."""
    if status >= 500:
        return f"server error {status}: {content[:200]!r}"
    if status < 400:
        return None
    if not content_type.startswith("application/json"):
        return f"{status} error with content-type {content_type!r}"
    try:
        body = json.loads(content)
    except ValueError:
        return f"{status} error body is not JSON: {content[:200]!r}"
    error = body.get("error") if isinstance(body, dict) else None
    if not (
        isinstance(error, dict)
        and isinstance(error.get("code"), str)
        and isinstance(error.get("message"), str)
    ):
        return f"{status} error body is not the envelope: {content[:200]!r}"
    return None


def _fuzz(
    operation: Any,
    mode: GenerationMode,
    base_url: str,
    headers: dict[str, str],
    statuses: Counter[str],
    examples: int,
) -> list[str]:
    """Problems found in `examples` generated cases of one operation."""
    problems: list[str] = []

    @settings(
        max_examples=examples,
        deadline=None,
        derandomize=True,  # the same cases on every run: a CI failure reproduces
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=mode))
    def run(case: Any) -> None:
        response = case.call(base_url=base_url, headers=headers, timeout=60)
        statuses[str(response.status_code)] += 1
        content_type = response.headers.get("content-type", [""])
        if isinstance(content_type, list):
            content_type = content_type[0] if content_type else ""
        problem = envelope_problem(response.status_code, content_type, response.content)
        if problem:
            request = response.request
            problems.append(f"{request.method} {request.url} ({mode}): {problem}")

    try:
        run()
    except Unsatisfiable:
        assert mode == GenerationMode.NEGATIVE, f"no valid request for {operation.label}"
        # nothing in this operation can be made invalid (no parameters, no body)
    return problems


@pytest.mark.parametrize("name", ["store", "retrieval", "chat", "gateway"])
def test_no_5xx_and_every_error_is_an_envelope(stack: Stack, name: str) -> None:
    base_url = stack.url(name)
    document = httpx.get(f"{base_url}/openapi.json", timeout=10).json()
    schema = schemathesis.openapi.from_dict(document)
    headers = {} if name == "gateway" else stack.acting_for(FUZZ_USER)
    problems: list[str] = []
    statuses: Counter[str] = Counter()
    results = list(schema.get_all_operations())
    examples = max(MIN_CASES, CASES_PER_SERVICE // max(1, len(results)))
    for result in results:
        assert isinstance(result, Ok), f"invalid operation in the document: {result.err()}"
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            problems += _fuzz(result.ok(), mode, base_url, headers, statuses, examples)
    print(f"\n{name}: responses by status {dict(sorted(statuses.items()))}")
    assert not problems, "\n".join(sorted(set(problems))[:30])
    assert any(status.startswith("2") for status in statuses), "no request got through"


@pytest.mark.parametrize(
    ("status", "content_type", "content", "ok"),
    [
        (200, "text/event-stream", b"data: {}\n\n", True),
        (404, "application/json", b'{"error": {"code": "not_found", "message": "No."}}', True),
        (500, "application/json", b'{"error": {"code": "internal_error", "message": "x"}}', False),
        (501, "application/json", b'{"error": {"code": "not_implemented", "message": "x"}}', False),
        (404, "text/plain", b"Not Found", False),
        (422, "application/json", b'{"detail": "bad"}', False),
    ],
)
def test_the_envelope_check_itself(
    status: int, content_type: str, content: bytes, ok: bool
) -> None:
    assert (envelope_problem(status, content_type, content) is None) is ok


@pytest.mark.parametrize("name", ["chat", "gateway"])
@pytest.mark.parametrize("audio", ["A", "é"], ids=["bad-padding", "non-ascii"])
def test_malformed_transcription_audio_is_a_400(stack: Stack, name: str, audio: str) -> None:
    """Found by the fuzzer: undecodable `audio_base64` was a 500 (a 502 at the edge)."""
    body = {"type": "input.transcribe", "params": {"audio_base64": audio, "mime_type": "audio/ogg"}}
    headers = {} if name == "gateway" else stack.acting_for(FUZZ_USER)
    response = httpx.post(f"{stack.url(name)}/chatkit", json=body, headers=headers, timeout=30)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] == "bad_request"


# Found by the fuzzer: PostgreSQL cannot store NUL in text or JSONB, and it reached it
# (500 from the store, an empty thread left behind). Now refused where it enters.


def test_an_id_with_a_nul_is_refused_by_the_store(stack: Stack) -> None:
    headers = stack.acting_for(FUZZ_USER)
    response = httpx.get(f"{stack.url('store')}/v1/threads/thr_a%00b", headers=headers)
    assert response.status_code in (404, 422), response.text


async def test_a_thread_id_with_a_nul_is_refused_at_the_gateway(stack: Stack) -> None:
    async with GatewayUser(stack.gateway) as user:
        answer = await user.native(
            {"type": "threads.get_by_id", "params": {"thread_id": "thr_a\u0000b"}}
        )
    assert answer.status == 400, answer.body  # refused before anything is looked up


async def test_a_question_with_a_nul_is_answered_or_refused(stack: Stack) -> None:
    async with GatewayUser(stack.gateway) as user:
        answer = await user.ask("How do I bring my own book?\u0000")
    if answer.status == 200:
        assert not answer.errors, answer.errors
        assert answer.assistant_text().strip()
    else:
        assert 400 <= answer.status < 500, answer.body
