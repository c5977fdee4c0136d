"""Signed user assertions: the gateway says who a call acts for, chat and store check it.

The service token says a call comes from one of the platform's services; it does not say
for whom. With an assertion key pair configured, the gateway signs each user id it
authenticated into a short-lived JWT (EdDSA, `X-User-Assertion`), chat passes it on to the
store, and both refuse (401) a call whose `X-User-ID` it does not vouch for. Only the
gateway holds the private key, so a leaked service token, or a compromised chat pod,
cannot act as any user it was not handed.
"""

from __future__ import annotations

import time

import jwt
from cachetools import TTLCache
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from shared.contracts.common import USER_ASSERTION_HEADER, USER_ID_HEADER

ALGORITHM = "EdDSA"
AUDIENCE = "chatkit-services"
ISSUER = "chatkit-gateway"
MAX_ASSERTION_CHARS = 1024
"""Longest assertion read (one of ours is about 300 characters)."""

__all__ = ["AssertionSigner", "AssertionVerifier", "new_key_pair", "user_headers"]


class AssertionSigner:
    """Signs user ids (the gateway); a user's assertion is reused for half its lifetime."""

    def __init__(self, private_key_pem: str, ttl_s: int) -> None:
        try:
            key = serialization.load_pem_private_key(private_key_pem.encode(), password=None)
        except (ValueError, TypeError, UnsupportedAlgorithm):
            key = None
        if not isinstance(key, Ed25519PrivateKey):
            raise ValueError("The user assertion key must be an Ed25519 private key (PEM).")
        self.key = key
        self.ttl_s = ttl_s
        self.issued: TTLCache[str, str] = TTLCache(maxsize=100_000, ttl=ttl_s / 2)

    def assertion(self, user_id: str) -> str:
        """A JWT saying the gateway authenticated `user_id`, valid for `ttl_s`."""
        token = self.issued.get(user_id)
        if token is None:
            now = int(time.time())
            claims = {
                "sub": user_id,
                "iss": ISSUER,
                "aud": AUDIENCE,
                "iat": now,
                "exp": now + self.ttl_s,
            }
            token = jwt.encode(claims, self.key, algorithm=ALGORITHM)
            self.issued[user_id] = token
        return token


def user_headers(user_id: str, signer: AssertionSigner | None) -> dict[str, str]:
    """The headers of an internal call acting for `user_id`: its id, and the gateway's
    assertion of it when the gateway signs them."""
    headers = {USER_ID_HEADER: user_id}
    if signer is not None:
        headers[USER_ASSERTION_HEADER] = signer.assertion(user_id)
    return headers


class AssertionVerifier:
    """Checks assertions (chat, store); a verified one is remembered until it expires."""

    def __init__(self, public_key_pem: str, leeway_s: int = 30) -> None:
        try:
            key = serialization.load_pem_public_key(public_key_pem.encode())
        except (ValueError, TypeError, UnsupportedAlgorithm):
            key = None
        if not isinstance(key, Ed25519PublicKey):
            raise ValueError("The user assertion key must be an Ed25519 public key (PEM).")
        self.key = key
        self.leeway_s = leeway_s
        self.verified: TTLCache[str, tuple[str, float]] = TTLCache(maxsize=100_000, ttl=60)

    def user_id(self, token: str | None) -> str | None:
        """The user `token` vouches for; None when it is missing, forged or expired."""
        if not token or len(token) > MAX_ASSERTION_CHARS:
            return None
        known = self.verified.get(token)
        if known is not None and known[1] + self.leeway_s > time.time():
            return known[0]
        try:
            claims = jwt.decode(
                token,
                self.key,
                algorithms=[ALGORITHM],
                audience=AUDIENCE,
                issuer=ISSUER,
                leeway=self.leeway_s,
                options={"require": ["sub", "exp", "iat", "aud", "iss"]},
            )
        except jwt.PyJWTError:
            return None
        subject = claims["sub"]
        if not isinstance(subject, str) or not subject:
            return None
        self.verified[token] = (subject, float(claims["exp"]))
        return subject


def new_key_pair() -> tuple[str, str]:
    """A fresh (private, public) Ed25519 key pair in PEM, for a local run or a test."""
    key = Ed25519PrivateKey.generate()
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return private, public


def main() -> None:
    """`python -m shared.assertions DIR`: a new key pair as DIR/user-assertion.{key,pub}."""
    import sys
    from pathlib import Path

    if len(sys.argv) != 2:
        sys.exit("usage: python -m shared.assertions DIR")
    folder = Path(sys.argv[1])
    folder.mkdir(parents=True, exist_ok=True)
    private, public = new_key_pair()
    (folder / "user-assertion.key").touch(mode=0o600)
    (folder / "user-assertion.key").write_text(private)
    (folder / "user-assertion.pub").write_text(public)
    print(
        f"kubectl create secret generic chatkit-user-assertion"
        f" --from-file=USER_ASSERTION_PUBLIC_KEY={folder}/user-assertion.pub\n"
        f"# and USER_ASSERTION_PRIVATE_KEY={folder}/user-assertion.key in gateway-secrets"
    )


if __name__ == "__main__":
    main()
