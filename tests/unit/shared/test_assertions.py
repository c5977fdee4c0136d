"""User assertions: only the gateway's key makes them, for one user, for a while."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time

import jwt
import pytest
from cryptography.hazmat.primitives import serialization

from shared.assertions import (
    ALGORITHM,
    AUDIENCE,
    ISSUER,
    AssertionSigner,
    AssertionVerifier,
    new_key_pair,
)
from shared.settings import ServiceSettings

PRIVATE, PUBLIC = new_key_pair()


def claims(**changes: object) -> dict[str, object]:
    now = int(time.time())
    return {"sub": "u1", "iss": ISSUER, "aud": AUDIENCE, "iat": now, "exp": now + 60} | changes


def signed(payload: dict[str, object]) -> str:
    private = serialization.load_pem_private_key(PRIVATE.encode(), password=None)
    return jwt.encode(payload, private, algorithm=ALGORITHM)  # type: ignore[arg-type]


def hs256_with_public_key() -> str:
    """The key-confusion forgery: HMAC keyed with the (public) verification key."""

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    header = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    body = b64(json.dumps(claims()).encode())
    mac = hmac.new(PUBLIC.encode(), f"{header}.{body}".encode(), hashlib.sha256).digest()
    return f"{header}.{body}.{b64(mac)}"


def test_the_gateways_assertion_names_its_user() -> None:
    signer, verifier = AssertionSigner(PRIVATE, ttl_s=60), AssertionVerifier(PUBLIC)
    token = signer.assertion("u1")
    assert verifier.user_id(token) == "u1"
    assert verifier.user_id(token) == "u1"  # remembered
    assert signer.assertion("u1") == token  # reused while young
    assert verifier.user_id(signer.assertion("u2")) == "u2"


@pytest.mark.parametrize(
    "token",
    [
        None,
        "",
        "not.a.jwt",
        "x" * 5000,
        signed(claims(exp=int(time.time()) - 3600)),
        signed(claims(aud="someone-else")),
        signed(claims(iss="someone-else")),
        signed({k: v for k, v in claims().items() if k != "exp"}),
        signed(claims(sub="")),
        hs256_with_public_key(),
        AssertionSigner(new_key_pair()[0], ttl_s=60).assertion("u1"),  # another key
    ],
    ids=[
        "missing",
        "empty",
        "garbage",
        "huge",
        "expired",
        "audience",
        "issuer",
        "no-exp",
        "no-subject",
        "hs256-with-public-key",
        "another-key",
    ],
)
def test_anything_else_vouches_for_nobody(token: str | None) -> None:
    assert AssertionVerifier(PUBLIC, leeway_s=0).user_id(token) is None


def test_a_key_that_is_not_ed25519_is_refused_at_start() -> None:
    with pytest.raises(ValueError, match="Ed25519"):
        ServiceSettings(_env_file=None, user_assertion_public_key=PRIVATE)
    with pytest.raises(ValueError, match="Ed25519"):
        ServiceSettings(_env_file=None, user_assertion_public_key="not a key")
