"""Short recordings made in the test: a tone as WAV (stdlib `wave`) or encoded by PyAV in
the containers browsers record (WebM and Ogg with Opus, MP4 with AAC)."""

from __future__ import annotations

import io
import math
import struct
import wave

import av

RATE = 48_000
FRAME = 960
"""Samples per encoded frame: 20 ms, Opus's usual."""


def tone(seconds: float, rate: int = RATE) -> bytes:
    """A 440 Hz tone, 16-bit mono PCM."""
    count = int(seconds * rate)
    return b"".join(
        struct.pack("<h", int(8000 * math.sin(2 * math.pi * 440 * i / rate))) for i in range(count)
    )


def wav(seconds: float, rate: int = 16_000) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(tone(seconds, rate))
    return buffer.getvalue()


def encoded(container: str, codec: str, seconds: float) -> bytes:
    """`seconds` of tone in `container` (`webm`, `ogg`, `mp4`) encoded with `codec`."""
    pcm = tone(seconds)
    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format=container) as out:
        stream = out.add_stream(codec, rate=RATE, layout="mono")
        assert isinstance(stream, av.AudioStream)
        for start in range(0, len(pcm) // 2, FRAME):
            chunk = pcm[start * 2 : (start + FRAME) * 2]
            frame = av.AudioFrame(format="s16", layout="mono", samples=len(chunk) // 2)
            frame.planes[0].update(chunk)
            frame.sample_rate = RATE
            frame.pts = start
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return buffer.getvalue()
