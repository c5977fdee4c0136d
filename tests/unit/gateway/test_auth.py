"""The dev cookie: signed, tamper-evident, and expired by the server itself."""

from __future__ import annotations

from services.gateway.auth import CookieSigner


def test_cookie_signer() -> None:
    signer = CookieSigner(b"k", max_age_s=60)
    value = signer.cookie_value("anon_1")
    assert value.startswith("anon_1.")
    assert signer.user_id(value) == "anon_1"
    # A character inside the signature: the last one also carries unused padding bits, and
    # some replacements of it decode to the same bytes.
    middle = len(value) - 10
    tampered = value[:middle] + ("A" if value[middle] != "A" else "B") + value[middle + 1 :]
    assert signer.user_id(tampered) is None
    assert signer.user_id("anon_2." + value.partition(".")[2]) is None
    assert CookieSigner(b"other", max_age_s=60).user_id(value) is None
    assert signer.user_id(None) is None and signer.user_id("garbage") is None
    assert signer.user_id("anon_1." + "A" * 600) is None


class SignedAgo(CookieSigner):
    """A signer whose clock runs `seconds` behind: its values are that old when made."""

    def __init__(self, secret: bytes, seconds: int) -> None:
        super().__init__(secret, max_age_s=60)
        self.seconds = seconds

    def get_timestamp(self) -> int:
        return super().get_timestamp() - self.seconds


def test_cookie_expires_on_the_server() -> None:
    signer = CookieSigner(b"k", max_age_s=60)
    assert signer.user_id(SignedAgo(b"k", 59).cookie_value("anon_1")) == "anon_1"
    assert signer.user_id(SignedAgo(b"k", 61).cookie_value("anon_1")) is None
    # A timestamp in the future (a forged one, or another clock) is refused too.
    assert signer.user_id(SignedAgo(b"k", -5).cookie_value("anon_1")) is None
