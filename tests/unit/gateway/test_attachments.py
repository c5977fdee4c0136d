"""An upload's bytes must match the MIME type it claims."""

from __future__ import annotations

from services.gateway.attachments import looks_like


def test_magic_numbers() -> None:
    assert looks_like("image/png", b"\x89PNG\r\n\x1a\n...")
    assert not looks_like("image/png", b"<svg>")
    assert looks_like("image/webp", b"RIFF\x00\x00\x00\x00WEBPVP8 ")
    assert looks_like("text/plain", "héllo".encode())
    assert not looks_like("text/plain", b"\xff\xfe\x00")
