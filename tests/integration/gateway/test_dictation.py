"""Dictation through the gateway, on real ports: gateway -> chat service -> the fake
OpenAI server's `/v1/audio/transcriptions`, requests and answers in the SDK's own types.

The gateway tells the web client whether dictation is on (`GET /api/features`, from
`CHAT_TRANSCRIPTION_MODEL`, which chat and gateway both read) and caps the audio at the
edge, before the chat service sees it.
"""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager

import httpx
import pytest
from chatkit.types import InputTranscribeParams, InputTranscribeReq, TranscriptionResult

from services.gateway.app import create_app
from tests.integration.chat.conftest import chat_service
from tests.integration.gateway.conftest import gateway_settings
from tests.support.audio import encoded, wav
from tests.support.fake_openai import FakeOpenAI
from tests.support.servers import serve

UNUSED_RETRIEVAL = "http://127.0.0.1:9"
"""Dictation never reads the book: no retrieval service behind these services."""
EDGE_MAX_BYTES = 50_000
"""The gateway's audio cap, below the chat service's (its default), to tell them apart."""
CHAT_MAX_SECONDS = 3.0


@pytest.fixture
def fake() -> Iterator[tuple[FakeOpenAI, str]]:
    model = FakeOpenAI()
    with serve(model.app) as url:
        yield model, f"{url}/v1"


@asynccontextmanager
async def browser_of(gateway_url: str) -> AsyncIterator[httpx.AsyncClient]:
    """A client with the dev user cookie, as the web client has it."""
    async with httpx.AsyncClient(base_url=gateway_url, timeout=30) as client:
        assert (await client.get("/")).status_code == 200
        yield client


@asynccontextmanager
async def platform(store_url: str, speech_url: str | None) -> AsyncIterator[httpx.AsyncClient]:
    """Chat (with the speech model at `speech_url`, if any) and a gateway in front of it,
    both configured from the same `CHAT_TRANSCRIPTION_MODEL` as a deployment would be."""
    model = "whisper-test" if speech_url else None
    chat_dictation = (
        {
            "transcription_model": model,
            "transcription_base_url": speech_url,
            "transcription_retries": 0,
            "max_audio_seconds": CHAT_MAX_SECONDS,
        }
        if speech_url
        else {}
    )
    with chat_service(store_url, UNUSED_RETRIEVAL, **chat_dictation) as (chat_url, _):
        settings = gateway_settings(
            chat_url,
            store_url,
            retrieval_url=UNUSED_RETRIEVAL,
            max_audio_bytes=EDGE_MAX_BYTES,
            CHAT_TRANSCRIPTION_MODEL=model,
        )
        with serve(create_app(settings)) as gateway_url:
            async with browser_of(gateway_url) as client:
                yield client


def transcribe(audio: bytes, mime_type: str) -> str:
    request = InputTranscribeReq(
        params=InputTranscribeParams(
            audio_base64=base64.b64encode(audio).decode(), mime_type=mime_type
        )
    )
    return request.model_dump_json()


async def post(client: httpx.AsyncClient, body: str) -> httpx.Response:
    return await client.post("/chatkit", content=body, headers={"content-type": "application/json"})


async def test_dictated_text_comes_back_through_the_gateway(
    store_url: str, fake: tuple[FakeOpenAI, str]
) -> None:
    model, speech_url = fake
    model.add_transcript("What is page context?")
    async with platform(store_url, speech_url) as client:
        features = await client.get("/api/features")
        assert features.status_code == 200
        offered = features.json()
        assert (offered["dictation"], offered["max_audio_bytes"]) == (True, EDGE_MAX_BYTES)
        assert offered["attachments"]["max_per_message"] >= 1

        audio = encoded("webm", "libopus", 1.5)
        response = await post(client, transcribe(audio, "audio/webm;codecs=opus"))
        assert response.status_code == 200, response.text
        result = TranscriptionResult.model_validate_json(response.content)
        assert result.text == "What is page context?"
        assert [upload.data for upload in model.uploads] == [audio]

        threads = await client.post("/chatkit", json={"type": "threads.list", "params": {}})
        assert threads.status_code == 200 and threads.json()["data"] == []


async def test_without_a_speech_model_there_is_no_dictation(store_url: str) -> None:
    async with platform(store_url, None) as client:
        features = await client.get("/api/features")
        assert features.json()["dictation"] is False
        response = await post(client, transcribe(wav(1.0), "audio/wav"))
        assert response.status_code == 400, response.text
        assert response.json()["error"]["code"] == "not_supported"
        assert "Dictation is not configured" in response.json()["error"]["message"]


async def test_audio_over_the_edge_cap_is_a_413_at_the_gateway(
    store_url: str, fake: tuple[FakeOpenAI, str]
) -> None:
    model, speech_url = fake
    async with platform(store_url, speech_url) as client:
        audio = wav(2.0)  # 64 KB of PCM: over the gateway's cap, within the chat service's
        assert len(audio) > EDGE_MAX_BYTES
        response = await post(client, transcribe(audio, "audio/wav"))
        assert response.status_code == 413, response.text
        assert "Dictated audio is limited to 50000 bytes" in response.json()["error"]["message"]
        assert model.uploads == []


async def test_the_chat_services_refusals_reach_the_client(
    store_url: str, fake: tuple[FakeOpenAI, str]
) -> None:
    model, speech_url = fake
    async with platform(store_url, speech_url) as client:
        too_long = await post(client, transcribe(encoded("ogg", "libopus", 4.0), "audio/ogg"))
        assert too_long.status_code == 413, too_long.text
        assert too_long.json()["error"]["code"] == "audio_too_long"
        garbage = await post(client, transcribe(b"not audio" * 100, "audio/webm"))
        assert garbage.status_code == 400, garbage.text
        assert garbage.json()["error"]["code"] == "undecodable_audio"
        assert model.uploads == []

        model.add_transcript(500)
        failed = await post(client, transcribe(wav(0.5), "audio/wav"))
        assert failed.status_code == 502, failed.text
        assert failed.json()["error"]["code"] == "bad_gateway"
        assert len(model.uploads) == 1
