"""Dictation in the web client, in headless Chromium with its fake microphone (a beeping
test signal): the gateway in front of a real chat service whose speech model is the fake
OpenAI server, and a gateway without one, where the microphone button is not shown."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator, Iterator
from typing import Any

import av
import pytest

from services.gateway.app import create_app
from tests.e2e.conftest import ARTIFACTS, launched_chromium, open_client
from tests.integration.chat.conftest import chat_service
from tests.integration.gateway.book_service import serve_book
from tests.integration.gateway.conftest import gateway_settings
from tests.integration.gateway.upstream import Control
from tests.support.fake_openai import FakeOpenAI
from tests.support.host_site import HostSite
from tests.support.servers import free_port, serve

pytestmark = pytest.mark.e2e

FAKE_MICROPHONE = ["--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream"]
UNUSED_RETRIEVAL = "http://127.0.0.1:9"
"""The chat service never searches here: no retrieval service behind it."""
DICTATED = "Which chapter explains page context?"


@pytest.fixture(scope="module")
def speech_server() -> Iterator[tuple[FakeOpenAI, str]]:
    fake = FakeOpenAI()
    with serve(fake.app) as url:
        yield fake, f"{url}/v1"


@pytest.fixture
def speech(speech_server: tuple[FakeOpenAI, str]) -> FakeOpenAI:
    fake, _ = speech_server
    fake.transcripts.clear()
    fake.uploads.clear()
    return fake


HOST_PORT = free_port()
HOST_ORIGIN = f"http://127.0.0.1:{HOST_PORT}"
"""Another site, embedding the assistant from the dictation gateway."""
EMBED_OPTIONS = """document.querySelector("book-assistant").options = {
  api: { url: "%s/chatkit" }, composer: { dictation: { enabled: true } },
};"""


@pytest.fixture(scope="module")
def dictation_url(
    store_url: str,
    speech_server: tuple[FakeOpenAI, str],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[str]:
    """A gateway with dictation, on a chat service transcribing with the fake; the site at
    HOST_ORIGIN may embed it."""
    with (
        serve_book(tmp_path_factory.mktemp("dictation-book")) as book,
        chat_service(
            store_url,
            UNUSED_RETRIEVAL,
            transcription_model="whisper-test",
            transcription_base_url=speech_server[1],
            transcription_retries=0,
        ) as (chat_url, _),
    ):
        settings = gateway_settings(
            chat_url,
            store_url,
            retrieval_url=book,
            heartbeat_s=15.0,
            cors_origins=[HOST_ORIGIN],
            CHAT_TRANSCRIPTION_MODEL="whisper-test",
        )
        with serve(create_app(settings)) as url:
            yield url


@pytest.fixture(scope="module")
async def microphone_browser() -> AsyncIterator[Any]:
    """Chromium with a fake microphone that needs no permission prompt."""
    async with launched_chromium(*FAKE_MICROPHONE) as browser:
        yield browser


def seconds_of_webm(data: bytes) -> float:
    with av.open(io.BytesIO(data), mode="r", format="webm") as media:
        stream = media.streams.audio[0]
        ends = [
            (p.pts + (p.duration or 0)) * p.time_base
            for p in media.demux(stream)
            if p.pts is not None and p.time_base is not None
        ]
    return float(max(ends))


async def test_dictated_text_lands_in_the_composer(
    microphone_browser: Any, dictation_url: str, speech: FakeOpenAI
) -> None:
    speech.add_transcript(DICTATED)
    async with open_client(microphone_browser, dictation_url) as page:
        await page.fill("#question", "About page two:")
        mic = page.locator("#dictate")
        assert await mic.get_attribute("aria-label") == "Dictate a question"
        await mic.focus()
        await page.keyboard.press("Enter")  # the keyboard starts it ...
        await page.wait_for_selector("#dictate[aria-pressed='true'][aria-label='Stop dictation']")
        # ... and, once a second of sound is in, stops it again
        await page.wait_for_selector("#dictation-status >> text=Listening 0:01")
        await page.keyboard.press("Space")
        await page.wait_for_function(
            """(text) => panel().querySelector('#question').value.includes(text)""",
            arg=DICTATED,
        )
        assert await page.input_value("#question") == f"About page two: {DICTATED}"
        assert await mic.get_attribute("aria-pressed") == "false"
        assert await page.locator("#messages .msg").count() == 0  # put in, not sent
        assert await page.evaluate("() => panel().activeElement.id") == "question"
        ARTIFACTS.mkdir(exist_ok=True)
        await page.locator("#chat").screenshot(path=str(ARTIFACTS / "web-client-dictation.png"))

    [upload] = speech.uploads
    assert upload.model == "whisper-test"
    assert upload.content_type == "audio/webm"
    assert seconds_of_webm(upload.data) >= 1.0


async def test_a_failed_transcription_is_shown(
    microphone_browser: Any, dictation_url: str, speech: FakeOpenAI
) -> None:
    speech.add_transcript(500)
    async with open_client(microphone_browser, dictation_url) as page:
        await page.click("#dictate")
        await page.wait_for_selector("#dictation-status >> text=Listening 0:01")
        await page.click("#dictate")
        error = page.locator("#dictation-status.error")
        await error.wait_for()
        assert "The assistant is unavailable" in await error.inner_text()
        assert await page.input_value("#question") == ""


async def test_no_microphone_without_dictation(page: Any, e2e_control: Control) -> None:
    # `page` is ready only once the gateway's features are known
    assert await page.locator("#send").is_visible()
    assert await page.locator("#dictate").count() == 0


async def test_the_embed_dictates_when_the_page_asks_for_it(
    microphone_browser: Any,
    dictation_url: str,
    speech: FakeOpenAI,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """The embedded panel on another site: the microphone when `composer.dictation` is
    enabled (and the gateway transcribes), and the text from the gateway it talks to."""
    root = tmp_path_factory.mktemp("host-site")
    (root / "index.html").write_text(
        "<html><head><title>Host</title></head><body><p>A page.</p></body></html>", "utf-8"
    )
    site = HostSite(root, dictation_url)
    speech.add_transcript(DICTATED)
    panel = "book-assistant"
    with serve(site.app(), port=HOST_PORT) as host:
        context = await microphone_browser.new_context(base_url=host)
        try:
            page = await context.new_page()
            await page.goto("/")  # not asked for: no microphone
            await page.wait_for_selector(f"{panel}[ready]", state="attached")
            assert await page.locator(f"{panel} #dictate").count() == 0
            site.options_js = EMBED_OPTIONS % dictation_url
            await page.goto("/")
            await page.wait_for_selector(f"{panel}[ready]", state="attached")
            await page.click(f"{panel} .launcher")
            await page.click(f"{panel} #dictate")
            await page.wait_for_selector(f"{panel} #dictation-status >> text=Listening 0:01")
            await page.click(f"{panel} #dictate")
            await page.wait_for_function(
                """(text) => document.querySelector('book-assistant').shadowRoot
                     .querySelector('#question').value.includes(text)""",
                arg=DICTATED,
            )
        finally:
            await context.close()
    [upload] = speech.uploads
    assert upload.model == "whisper-test"
