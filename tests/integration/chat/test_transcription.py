"""Dictation (`input.transcribe`) over real HTTP: the chat service in front of the fake
OpenAI server's `/v1/audio/transcriptions`, with the real store behind it.

Audio is made in the test (`tests.support.audio`). Each refusal is checked to reach no
speech model, and no request to store anything.
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from chatkit.types import TranscriptionResult

from services.chat.transcription import CONTAINERS
from tests.integration.chat.conftest import ChatClient, Reply, chat_service
from tests.support.audio import encoded, wav
from tests.support.fake_openai import FakeOpenAI
from tests.support.servers import serve

UNUSED_RETRIEVAL = "http://127.0.0.1:9"
"""Dictation never searches: no retrieval service behind these chat services."""
MAX_SECONDS = 5.0
MAX_BYTES = 200_000


@pytest.fixture(scope="module")
def speech() -> Iterator[tuple[FakeOpenAI, str]]:
    fake = FakeOpenAI()
    with serve(fake.app) as url:
        yield fake, f"{url}/v1"


@pytest.fixture
def fake(speech: tuple[FakeOpenAI, str]) -> FakeOpenAI:
    model, _ = speech
    model.transcripts.clear()
    model.uploads.clear()
    return model


@pytest.fixture(scope="module")
def dictation_url(store_url: str, speech: tuple[FakeOpenAI, str]) -> Iterator[str]:
    """A chat service with a speech model: the fake, reached through the `openai` SDK."""
    _, base_url = speech
    with chat_service(
        store_url,
        UNUSED_RETRIEVAL,
        transcription_model="whisper-test",
        transcription_base_url=base_url,
        transcription_api_key="sk-fake",
        transcription_retries=0,
        max_audio_bytes=MAX_BYTES,
        max_audio_seconds=MAX_SECONDS,
    ) as (url, _):
        yield url


def transcribe(audio: bytes | str, mime_type: str) -> dict[str, Any]:
    encoded = audio if isinstance(audio, str) else base64.b64encode(audio).decode()
    return {"type": "input.transcribe", "params": {"audio_base64": encoded, "mime_type": mime_type}}


def new_user() -> str:
    return f"dictator_{uuid.uuid4().hex[:10]}"


async def nothing_stored(chat: ChatClient) -> None:
    listed = await chat.post({"type": "threads.list", "params": {"limit": 5}})
    assert listed.status == 200, listed.body
    assert listed.body["data"] == []


def error_code(reply: Reply) -> str:
    return str(reply.body["error"]["code"])


@pytest.mark.parametrize(
    ("container", "codec", "mime_type"),
    [
        ("webm", "libopus", "audio/webm;codecs=opus"),
        ("ogg", "libopus", "audio/ogg;codecs=opus"),
        ("mp4", "aac", "audio/mp4"),
    ],
)
async def test_recorded_audio_is_transcribed(
    dictation_url: str, fake: FakeOpenAI, connect: Any, container: str, codec: str, mime_type: str
) -> None:
    fake.add_transcript("  How long is a magic link valid?\n")
    audio = encoded(container, codec, 2.0)
    chat = connect(dictation_url, new_user())
    reply = await chat.post(transcribe(audio, mime_type))
    assert reply.status == 200, reply.body
    assert TranscriptionResult.model_validate(reply.body).text == "How long is a magic link valid?"
    [upload] = fake.uploads
    assert upload.model == "whisper-test" and upload.data == audio
    assert upload.content_type == mime_type.split(";")[0]
    assert upload.filename == CONTAINERS[mime_type.split(";")[0]].filename
    await nothing_stored(chat)


async def test_without_a_speech_model_dictation_is_a_400(store_url: str, connect: Any) -> None:
    with chat_service(store_url, UNUSED_RETRIEVAL) as (url, _):
        chat = connect(url, new_user())
        reply = await chat.post(transcribe(wav(1.0), "audio/wav"))
    assert reply.status == 400, reply.body
    assert error_code(reply) == "not_supported"
    assert "Dictation is not configured" in reply.body["error"]["message"]


async def test_audio_over_the_size_limit_is_a_413_before_it_is_decoded(
    dictation_url: str, fake: FakeOpenAI, connect: Any
) -> None:
    chat = connect(dictation_url, new_user())
    # Not base64 at all: refused on its length alone, before anything decodes it.
    too_large = "A" * (MAX_BYTES // 3 * 4 + 8)
    reply = await chat.post(transcribe(too_large, "audio/wav"))
    assert reply.status == 413, reply.body
    assert error_code(reply) == "audio_too_large"
    just_fits = await chat.post(transcribe(b"\0" * MAX_BYTES, "audio/wav"))
    assert just_fits.status == 400, just_fits.body  # within the size, but not WAV
    assert fake.uploads == []
    await nothing_stored(chat)


@pytest.mark.parametrize(
    "audio",
    [lambda: wav(MAX_SECONDS + 0.5), lambda: encoded("webm", "libopus", MAX_SECONDS + 0.5)],
    ids=["wav", "webm"],
)
async def test_audio_over_the_duration_limit_is_a_413(
    dictation_url: str, fake: FakeOpenAI, connect: Any, audio: Any
) -> None:
    data = audio()
    assert len(data) < MAX_BYTES  # refused for its length in time, not in bytes
    mime_type = "audio/wav" if data.startswith(b"RIFF") else "audio/webm"
    chat = connect(dictation_url, new_user())
    reply = await chat.post(transcribe(data, mime_type))
    assert reply.status == 413, reply.body
    assert error_code(reply) == "audio_too_long"
    assert fake.uploads == []


@pytest.mark.parametrize(
    ("audio", "mime_type"),
    [
        (b"definitely not audio" * 50, "audio/webm"),
        (wav(1.0), "audio/ogg"),  # real audio, but not of the type it claims
        (wav(1.0)[:44], "audio/wav"),  # a header and no sound
        (wav(1.0), "video/x-msvideo"),  # a type not accepted
        (b"", "audio/webm"),
    ],
    ids=["garbage", "wrong-type", "truncated", "unaccepted-type", "empty"],
)
async def test_undecodable_audio_is_a_400(
    dictation_url: str, fake: FakeOpenAI, connect: Any, audio: bytes, mime_type: str
) -> None:
    chat = connect(dictation_url, new_user())
    reply = await chat.post(transcribe(audio, mime_type))
    assert reply.status == 400, reply.body
    assert error_code(reply) == "undecodable_audio"
    assert fake.uploads == []
    await nothing_stored(chat)


@pytest.mark.parametrize(("status", "answer"), [(500, 502), (400, 502)])
async def test_a_failing_speech_model_is_a_502(
    dictation_url: str, fake: FakeOpenAI, connect: Any, status: int, answer: int
) -> None:
    fake.add_transcript(status)
    chat = connect(dictation_url, new_user())
    reply = await chat.post(transcribe(wav(1.0), "audio/wav"))
    assert reply.status == answer, reply.body
    assert reply.body["error"]["message"].startswith("The transcription service")
    assert len(fake.uploads) == 1  # transcription_retries=0
    await nothing_stored(chat)


async def test_an_unreachable_speech_model_is_a_503(store_url: str, connect: Any) -> None:
    with chat_service(
        store_url,
        UNUSED_RETRIEVAL,
        transcription_model="whisper-test",
        transcription_base_url="http://127.0.0.1:9/v1",
        transcription_retries=0,
    ) as (url, _):
        chat = connect(url, new_user())
        reply = await chat.post(transcribe(wav(1.0), "audio/wav"))
    assert reply.status == 503, reply.body
    assert reply.body["error"]["message"] == (
        "The transcription service is unavailable; retry shortly."
    )
