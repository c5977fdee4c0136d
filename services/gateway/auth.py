"""Who a request belongs to: a signed anonymous cookie (dev) or a verified bearer JWT.

The user id never comes from the client as such: in dev mode it is minted by the
gateway and signed; in JWT mode it is the `sub` of a token the gateway verified.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import secrets
from collections.abc import Awaitable, Callable
from typing import Any

import jwt
from itsdangerous import BadSignature, TimestampSigner
from jwt.algorithms import HMACAlgorithm, get_default_algorithms
from jwt.jwk_set_cache import JWKSetCache
from starlette.datastructures import MutableHeaders
from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.gateway.errors import NotAuthenticated
from services.gateway.ratelimit import Decision, client_address, retry_after
from services.gateway.settings import GatewaySettings
from shared.contracts.common import MAX_ID_LENGTH
from shared.errors import error_response
from shared.middleware import PUBLIC_PATHS

logger = logging.getLogger(__name__)


class CookieSigner(TimestampSigner):
    """Signs the anonymous user id into the dev cookie (`user_id.timestamp.signature`,
    HMAC-SHA256) and refuses a value older than `max_age_s` on the server too."""

    def __init__(self, secret: bytes, max_age_s: int) -> None:
        super().__init__(secret, salt="chatkit.dev-user-cookie", digest_method=hashlib.sha256)
        self.max_age_s = max_age_s

    def cookie_value(self, user_id: str) -> str:
        """The cookie value for `user_id`, signed now."""
        return self.sign(user_id).decode()

    def user_id(self, value: str | None) -> str | None:
        """The user id in a cookie value; None if it is missing, tampered with, signed with
        another key, or older than `max_age_s`."""
        if not value or len(value) > 2 * MAX_ID_LENGTH:
            return None
        try:
            return self.unsign(value, max_age=self.max_age_s).decode()
        except BadSignature:  # SignatureExpired included
            return None


def new_anonymous_id() -> str:
    """A fresh anonymous user id."""
    return f"anon_{secrets.token_hex(12)}"


def _asset(path: str) -> bool:
    """The web client's files and the embed script: they need no user, and another site's
    page fetches them without the cookie (module scripts), so they must not mint one each."""
    return path.startswith(("/static/", "/v/")) or path == "/embed.js"


class DevCookieMiddleware:
    """Dev mode: every browser gets a signed anonymous user id in a cookie.

    A request without a valid cookie is given a new id at once (in `scope["state"]`)
    and the response sets the cookie, so the page and its first API calls agree.
    """

    def __init__(
        self,
        app: ASGIApp,
        settings: GatewaySettings,
        signer: CookieSigner,
        mint: Callable[[str], Awaitable[Decision]],
    ) -> None:
        self.app = app
        self.signer = signer
        self.mint = mint
        self.name, secure = settings.dev_cookie
        same_site = settings.cookie_samesite.capitalize()
        attributes = f"Path=/; Max-Age={settings.cookie_max_age_s}; HttpOnly; SameSite={same_site}"
        self.attributes = attributes + ("; Secure" if secure else "")
        if same_site == "None":
            # Browsers that block third-party cookies (Chromium does by default) still keep
            # a partitioned one (CHIPS): one per embedding site, which is the reader there.
            self.attributes += "; Partitioned"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in PUBLIC_PATHS or _asset(scope["path"]):
            await self.app(scope, receive, send)
            return
        user_id = self.signer.user_id(HTTPConnection(scope).cookies.get(self.name))
        if user_id is not None:
            scope.setdefault("state", {})["user_id"] = user_id
            await self.app(scope, receive, send)
            return
        # A new identity resets every per-user limit: how many one address gets is limited.
        decision = await self.mint(client_address(scope))
        if not decision.allowed:
            refused = error_response(
                429,
                "Too many new visitors from this address; keep your cookie, or wait.",
                headers={"retry-after": str(retry_after(decision))},
            )
            await refused(scope, receive, send)
            return
        user_id = new_anonymous_id()
        scope.setdefault("state", {})["user_id"] = user_id
        cookie = f"{self.name}={self.signer.cookie_value(user_id)}; {self.attributes}"

        async def send_with_cookie(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message).append("set-cookie", cookie)
            await send(message)

        await self.app(scope, receive, send_with_cookie)


def _brief(exc: Exception, limit: int = 120) -> str:
    """PyJWT's message, cut short: it may quote the token (a `kid`, a `crit` value), which
    whoever sends it writes."""
    message = str(exc)
    return message if len(message) <= limit else f"{message[:limit]}..."


def _loadable(data: Any) -> Any:
    """A JWKS payload without the keys PyJWT cannot load: an entry such as `"alg": "none"`
    raises NotImplementedError (not a PyJWKError, which PyJWKSet skips), so one odd key in
    a provider's set would fail every token."""
    keys = data.get("keys") if isinstance(data, dict) else None
    if not isinstance(keys, list):
        return data
    usable = []
    for entry in keys:
        try:
            jwt.PyJWK(entry)
        except NotImplementedError:
            kid = entry.get("kid") if isinstance(entry, dict) else None
            logger.warning("JWKS key %r has an algorithm PyJWT cannot load; ignored", kid)
            continue
        except jwt.PyJWTError:
            pass  # PyJWKSet skips it itself
        usable.append(entry)
    return {**data, "keys": usable}


class _LoadableKeysCache(JWKSetCache):
    def put(self, jwk_set: Any) -> None:
        super().put(_loadable(jwk_set))


class _JwksClient(jwt.PyJWKClient):
    """PyJWKClient reading only the keys PyJWT can load (`_loadable`), fetched and cached."""

    def __init__(self, uri: str, **kwargs: Any) -> None:
        super().__init__(uri, **kwargs)
        if self.jwk_set_cache is not None:  # fetch_data caches what it receives
            self.jwk_set_cache = _LoadableKeysCache(self.jwk_set_cache.lifespan)

    def fetch_data(self) -> Any:
        return _loadable(super().fetch_data())


class JwtVerifier:
    """Verifies bearer tokens: fixed algorithms, signature, `exp`, `aud`, `iss`, `sub`.

    One family only, whatever the token's `alg` says: with a shared secret the HMAC
    algorithms configured; with a JWKS the signing key's own algorithm (its `alg`, or the one
    its type implies), and only if it is configured and asymmetric, so a public key never
    serves as an HMAC secret. (The settings refuse a mixed list at start; this holds without.)
    Any PyJWT error is a 401.
    """

    def __init__(self, settings: GatewaySettings) -> None:
        self.audience = settings.jwt_audience
        self.issuer = settings.jwt_issuer
        self.leeway = settings.jwt_leeway_s
        self.secret = settings.jwt_secret.get_secret_value() if settings.jwt_secret else None
        self.jwks = (
            _JwksClient(settings.jwt_jwks_url, cache_keys=True, lifespan=300, timeout=5)
            if settings.jwt_jwks_url
            else None
        )
        known = get_default_algorithms()
        self.algorithms = [
            name
            for name in settings.jwt_algorithms
            if name in known
            and name != "none"
            and isinstance(known[name], HMACAlgorithm) == (self.jwks is None)
        ]

    async def _key(self, token: str) -> tuple[Any, list[str]]:
        """The key to check `token` with, and the algorithms it may be checked under."""
        if self.jwks is None:
            return self.secret, self.algorithms
        # PyJWKClient fetches with urllib (blocking); keep it off the event loop.
        signing_key = await asyncio.to_thread(self.jwks.get_signing_key_from_jwt, token)
        if signing_key.algorithm_name not in self.algorithms:
            raise NotAuthenticated(
                f"The signing key's algorithm ({signing_key.algorithm_name}) is not accepted."
            )
        # The PyJWK itself: PyJWT then also verifies with the key's algorithm only.
        return signing_key, [signing_key.algorithm_name]

    async def user_id(self, token: str) -> str:
        """The subject of a valid token; 401 otherwise."""
        try:
            key, algorithms = await self._key(token)
            claims = jwt.decode(
                token,
                key,
                algorithms=algorithms,
                audience=self.audience,
                issuer=self.issuer,
                leeway=self.leeway,
                options={"require": ["exp", "sub", "aud", "iss"]},
            )
        except jwt.PyJWKClientError as exc:
            logger.warning("JWKS lookup failed: %s", _brief(exc))
            raise NotAuthenticated("The bearer token's signing key is unknown.") from None
        except jwt.ExpiredSignatureError:
            raise NotAuthenticated("The bearer token has expired.") from None
        except jwt.InvalidTokenError as exc:
            raise NotAuthenticated(f"The bearer token is invalid: {_brief(exc)}.") from None
        except jwt.PyJWTError as exc:  # a key that cannot serve (InvalidKeyError, PyJWKError...)
            logger.warning("JWT key refused: %s", _brief(exc))
            raise NotAuthenticated("The bearer token cannot be verified.") from None
        subject = claims.get("sub")
        # The subject travels to the other services in a header: printable ASCII only.
        if (
            not isinstance(subject, str)
            or not subject
            or len(subject) > MAX_ID_LENGTH
            or not (subject.isascii() and subject.isprintable())
        ):
            raise NotAuthenticated("The bearer token has no usable subject (printable ASCII).")
        return subject


class Authenticator:
    """Resolves the user of an API request in the configured mode."""

    def __init__(self, settings: GatewaySettings) -> None:
        self.mode = settings.auth
        self.jwt = JwtVerifier(settings) if settings.auth == "jwt" else None

    async def user_id(self, conn: HTTPConnection) -> str:
        """The authenticated user id; 401 when there is none."""
        if self.jwt is None:
            user_id = conn.scope.get("state", {}).get("user_id")
            if not user_id:
                raise NotAuthenticated("No user cookie; load the page first.")
            return str(user_id)
        scheme, _, token = conn.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise NotAuthenticated("A bearer token is required (Authorization: Bearer ...).")
        return await self.jwt.user_id(token.strip())


def cookie_signer(settings: GatewaySettings) -> CookieSigner:
    """The signer for dev cookies; warns when the secret is per-process."""
    max_age_s = settings.cookie_max_age_s
    if settings.cookie_secret is not None:
        return CookieSigner(settings.cookie_secret.get_secret_value().encode(), max_age_s)
    if settings.auth == "dev":
        logger.warning(
            "GATEWAY_COOKIE_SECRET is not set: dev user cookies are signed with a random "
            "per-process secret and will not survive a restart or work across replicas."
        )
    return CookieSigner(secrets.token_bytes(32), max_age_s)
