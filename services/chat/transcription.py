"""Dictation: `input.transcribe` audio checked, then sent to a speech model.

The audio is bounded twice before any model sees it: its size (`AudioTooLarge`, also
checked on the base64 text before the SDK decodes it, see `routes.py`) and its duration
(`AudioTooLong`), read by demuxing it with PyAV (FFmpeg's demuxers and decoders, shipped
in its wheel). Browsers record WebM/Opus (Chromium, Firefox) or MP4/AAC (Safari), and
Chromium's WebM carries no duration in its header, so the duration is the end of the last
packet, not a header field. Only the demuxer the MIME type names is used, and the first
packets are decoded, so audio that FFmpeg cannot read is `UndecodableAudio` (400).

The model is any OpenAI-compatible `/audio/transcriptions` endpoint, called with the
`openai` SDK (its retries and timeout); its failures are the usual `shared.http`
upstream errors (502, 503, 504).
"""

from __future__ import annotations

import asyncio
import io
import logging
from dataclasses import dataclass
from fractions import Fraction

import av
import openai
from chatkit.types import AudioInput, TranscriptionResult
from openai import AsyncOpenAI

from services.chat.errors import ChatError
from services.chat.settings import ChatSettings
from shared.http import UpstreamFailed, UpstreamRefused, UpstreamTimeout, UpstreamUnavailable

logger = logging.getLogger(__name__)

SERVICE = "transcription"
"""The upstream's name in error messages (`The transcription service failed to answer.`)."""


@dataclass(frozen=True)
class Container:
    """How audio of one MIME type is read: FFmpeg's demuxer, and the file name the
    speech model is sent (OpenAI's API tells formats by extension)."""

    demuxer: str
    filename: str


CONTAINERS = {
    "audio/webm": Container("webm", "audio.webm"),
    "audio/ogg": Container("ogg", "audio.ogg"),
    "audio/mp4": Container("mp4", "audio.mp4"),
    "audio/m4a": Container("mp4", "audio.m4a"),
    "audio/x-m4a": Container("mp4", "audio.m4a"),
    "audio/wav": Container("wav", "audio.wav"),
    "audio/x-wav": Container("wav", "audio.wav"),
    "audio/wave": Container("wav", "audio.wav"),
    "audio/mpeg": Container("mp3", "audio.mp3"),
    "audio/mp3": Container("mp3", "audio.mp3"),
}
"""The audio types accepted: what browsers record, and the usual files."""
CHECKED_PACKETS = 3
"""Packets decoded to tell audio FFmpeg can read from bytes that merely look like it."""


class AudioTooLarge(ChatError):
    """More audio bytes than `CHAT_MAX_AUDIO_BYTES` (413)."""

    code = "audio_too_large"


class AudioTooLong(ChatError):
    """Audio longer than `CHAT_MAX_AUDIO_SECONDS` (413)."""

    code = "audio_too_long"


class UndecodableAudio(ChatError):
    """Audio of a type not accepted, or that cannot be read as the type it claims (400)."""

    code = "undecodable_audio"


def check_size(size: int, limit: int) -> None:
    """`AudioTooLarge` above `limit` bytes."""
    if size > limit:
        raise AudioTooLarge(f"Dictated audio is limited to {limit} bytes; this is {size}.")


def container_of(mime_type: str) -> Container:
    """How audio of `mime_type` is read (`UndecodableAudio` for a type not accepted)."""
    base = mime_type.split(";", 1)[0].strip().lower()
    container = CONTAINERS.get(base)
    if container is None:
        raise UndecodableAudio(
            f"Audio of type {base[:64] or '(none)'!r} is not accepted.",
            details=[{"accepted": sorted(CONTAINERS)}],
        )
    return container


def duration_s(data: bytes, container: Container, limit_s: float) -> float:
    """The duration of `data` in seconds, read by demuxing every packet (decoding only the
    first few); stops reading, with `AudioTooLong`, once it passes `limit_s`."""
    try:
        with av.open(io.BytesIO(data), mode="r", format=container.demuxer) as media:
            if not media.streams.audio:
                raise UndecodableAudio("The audio has no audio track.")
            stream = media.streams.audio[0]
            end = Fraction(0)
            decoded = 0
            for packet in media.demux(stream):
                if packet.pts is None or packet.time_base is None:
                    continue  # the flushing packet at the end
                end = max(end, (packet.pts + (packet.duration or 0)) * packet.time_base)
                if end > limit_s:
                    raise AudioTooLong(f"Dictated audio is limited to {limit_s:g} seconds.")
                if decoded < CHECKED_PACKETS:
                    packet.decode()
                    decoded += 1
            if decoded == 0:
                raise UndecodableAudio("The audio holds no sound.")
            return float(end)
    except (av.FFmpegError, UnicodeDecodeError, EOFError) as exc:
        logger.info("undecodable %s audio: %r", container.demuxer, exc)
        raise UndecodableAudio(f"The audio cannot be read as {container.demuxer}.") from None


@dataclass(frozen=True)
class AudioLimits:
    max_bytes: int
    max_seconds: float


class Transcriber:
    """Speech to text for `input.transcribe`, with one client of the speech model."""

    def __init__(self, client: AsyncOpenAI, model: str, limits: AudioLimits) -> None:
        self.client = client
        self.model = model
        self.limits = limits

    @classmethod
    def from_settings(cls, settings: ChatSettings) -> Transcriber | None:
        """The transcriber the settings configure (None: dictation is off)."""
        if settings.transcription_model is None:
            return None
        client = AsyncOpenAI(
            base_url=settings.transcription_base_url,
            api_key=settings.transcription_key,
            timeout=settings.transcription_timeout_s,
            max_retries=settings.transcription_retries,
        )
        limits = AudioLimits(settings.max_audio_bytes, settings.max_audio_seconds)
        return cls(client, settings.transcription_model, limits)

    async def close(self) -> None:
        await self.client.close()

    async def transcribe(self, audio: AudioInput) -> TranscriptionResult:
        check_size(len(audio.data), self.limits.max_bytes)
        container = container_of(audio.mime_type)
        # FFmpeg releases the GIL: a long recording does not hold up other requests.
        await asyncio.to_thread(duration_s, audio.data, container, self.limits.max_seconds)
        try:
            answer = await self.client.audio.transcriptions.create(
                model=self.model,
                file=(container.filename, audio.data, audio.media_type),
                response_format="json",
            )
        except openai.APITimeoutError as exc:
            raise UpstreamTimeout(SERVICE, repr(exc)) from exc
        except openai.APIConnectionError as exc:
            raise UpstreamUnavailable(SERVICE, repr(exc)) from exc
        except openai.APIStatusError as exc:
            if exc.status_code >= 500:
                raise UpstreamFailed(SERVICE, f"answered {exc.status_code}: {exc}") from exc
            raise UpstreamRefused(SERVICE, exc.status_code, str(exc)) from exc
        return TranscriptionResult(text=answer.text.strip())
