"""Auth (JWT with a shared secret and with JWKS), CORS, and rate limits in Redis or in-process."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from pydantic import ValidationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from services.gateway.app import create_app
from tests.integration.gateway.conftest import COOKIE_SECRET, REDIS_URL, gateway_settings
from tests.integration.gateway.test_chat_endpoints import ask, assert_error
from tests.integration.gateway.upstream import Control
from tests.support.redis_server import RedisServer, reachable
from tests.support.servers import serve
from tests.unit.gateway.test_auth import SignedAgo

SECRET = "x" * 32
JWT_SETTINGS = {
    "auth": "jwt",
    "jwt_secret": SECRET,
    "jwt_algorithms": ["HS256"],
    "jwt_audience": "book-assistant",
    "jwt_issuer": "https://id.example",
}


def token(key: Any = SECRET, alg: str = "HS256", **claims: Any) -> str:
    payload = {
        "sub": "user-42",
        "aud": "book-assistant",
        "iss": "https://id.example",
        "exp": int(time.time()) + 300,
        **claims,
    }
    headers = {"kid": "k1"} if alg == "RS256" else None
    return jwt.encode({k: v for k, v in payload.items() if v is not None}, key, alg, headers)


async def test_jwt_shared_secret(make_gateway: Any, control: Control) -> None:
    with make_gateway(**JWT_SETTINGS) as url:
        async with httpx.AsyncClient(base_url=url) as c:
            ask = {"query": "q"}
            missing = await c.post("/assistant/chatkit", json=ask)
            assert_error(missing, 401, "unauthorized")
            assert missing.headers["www-authenticate"] == "Bearer"
            assert "set-cookie" not in missing.headers
            for bad in (
                token(exp=int(time.time()) - 120),
                token(aud="another-app"),
                token(iss="https://evil.example"),
                token(key="y" * 32),
                token(sub=None),
                token(sub="user-42\r\nx-user-id: admin"),  # would forge an internal header
                token(sub="читатель"),  # HTTP headers carry no such subject intact
                jwt.encode({"sub": "user-42"}, None, "none"),  # type: ignore[arg-type]
                "not.a.jwt",
            ):
                response = await c.post(
                    "/assistant/chatkit", json=ask, headers={"authorization": f"Bearer {bad}"}
                )
                assert_error(response, 401, "unauthorized")
            assert control.requests == []
            async with c.stream(
                "POST",
                "/assistant/chatkit",
                json=ask,
                headers={"authorization": f"Bearer {token()}"},
            ) as ok:
                assert ok.status_code == 200
                await ok.aread()
    assert control.requests[0]["_user"] == "user-42"


@pytest.fixture(scope="module")
def jwks() -> Iterator[tuple[Any, str]]:
    """An RSA key and a JWKS endpoint publishing its public half."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    public.update({"kid": "k1", "use": "sig", "alg": "RS256"})

    async def keys(request: Request) -> JSONResponse:
        return JSONResponse({"keys": [public]})

    with serve(Starlette(routes=[Route("/jwks.json", keys)])) as url:
        yield key, f"{url}/jwks.json"


async def test_jwt_with_jwks(make_gateway: Any, control: Control, jwks: tuple[Any, str]) -> None:
    key, url_of_keys = jwks
    settings = {**JWT_SETTINGS, "jwt_secret": None, "jwt_jwks_url": url_of_keys}
    settings["jwt_algorithms"] = ["RS256"]
    with make_gateway(**settings) as url:
        async with httpx.AsyncClient(base_url=url) as c:
            good = {"authorization": f"Bearer {token(key, 'RS256', sub='rsa-user')}"}
            response = await c.post(
                "/chatkit", json={"type": "threads.list", "params": {}}, headers=good
            )
            assert response.status_code == 200, response.text
            # An HMAC token "signed" with the public key must not pass (algorithm confusion).
            forged = jwt.encode(
                {"sub": "x", "aud": "book-assistant", "iss": "https://id.example", "exp": 2**31},
                "some-secret",
                "HS256",
                {"kid": "k1"},
            )
            refused = await c.post(
                "/chatkit",
                json={"type": "threads.list", "params": {}},
                headers={"authorization": f"Bearer {forged}"},
            )
            assert_error(refused, 401)


def keyed_token(key: Any, alg: str, kid: str = "k1", **claims: Any) -> str:
    """A token whose `kid` names a key of a JWKS."""
    payload = {
        "sub": "user-42",
        "aud": "book-assistant",
        "iss": "https://id.example",
        "exp": int(time.time()) + 300,
        **claims,
    }
    return jwt.encode(payload, key, alg, {"kid": kid})


def hmac_token(secret: bytes, alg: str = "HS256", kid: str = "k1", **header: Any) -> str:
    """An HMAC token made by hand: any bytes may be its secret, a PEM public key included
    (PyJWT refuses to sign so; an attacker does not ask it)."""

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    claims = {"sub": "x", "aud": "book-assistant", "iss": "https://id.example", "exp": 2**31}
    signing_input = ".".join(
        b64(json.dumps(part).encode())
        for part in ({"alg": alg, "typ": "JWT", "kid": kid, **header}, claims)
    )
    digest = {"HS256": hashlib.sha256, "HS384": hashlib.sha384, "HS512": hashlib.sha512}[alg]
    mac = hmac.new(secret, signing_input.encode(), digest).digest()
    return f"{signing_input}.{b64(mac)}"


@pytest.fixture
def make_unchecked_gateway(
    upstream_url: str, store_url: str
) -> Callable[..., AbstractContextManager[str]]:
    """A gateway whose JWT algorithms are set past the settings check (which refuses mixed
    families): the verifier must hold on its own. `make(algorithms, **valid_settings)`."""

    def make(algorithms: list[str], **overrides: Any) -> AbstractContextManager[str]:
        settings = gateway_settings(upstream_url, store_url, **overrides)
        return serve(create_app(settings.model_copy(update={"jwt_algorithms": algorithms})))

    return make


async def _refused(url: str, tokens: list[str]) -> list[dict[str, Any]]:
    """Each token gets a 401 with the error envelope (never a 500); their errors."""
    errors = []
    async with httpx.AsyncClient(base_url=url) as c:
        for bad in tokens:
            response = await c.post(
                "/chatkit",
                json={"type": "threads.list", "params": {}},
                headers={"authorization": f"Bearer {bad}"},
            )
            errors.append(assert_error(response, 401, "unauthorized"))
            assert response.headers["www-authenticate"] == "Bearer"
    return errors


async def _accepted(url: str, good: str) -> None:
    async with httpx.AsyncClient(base_url=url) as c:
        response = await c.post(
            "/chatkit",
            json={"type": "threads.list", "params": {}},
            headers={"authorization": f"Bearer {good}"},
        )
        assert response.status_code == 200, response.text


async def test_jwks_gateway_refuses_hmac_tokens_key_confusion_included(
    make_gateway: Any, make_unchecked_gateway: Any, control: Control, jwks: tuple[Any, str]
) -> None:
    """An HMAC token "signed" with the JWKS's public key as the secret (the classic key
    confusion), or with anything else, is a 401: with RS256 configured, and also when HMAC
    algorithms got into the list past the settings check (that was a 500: PyJWT fed the RSA
    key object to HMAC)."""
    key, url_of_keys = jwks
    pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    forged = [
        hmac_token(pem),
        hmac_token(pem, "HS512"),
        hmac_token(b"some-secret"),
        hmac_token(pem, kid="unknown"),
    ]
    settings = {**JWT_SETTINGS, "jwt_secret": None, "jwt_jwks_url": url_of_keys}
    settings["jwt_algorithms"] = ["RS256"]
    for gateway in (
        make_gateway(**settings),
        make_unchecked_gateway(["RS256", "HS256", "HS512"], **settings),
    ):
        with gateway as url:
            await _refused(url, forged)
            await _accepted(url, token(key, "RS256"))
    assert all(request["_user"] == "user-42" for request in control.requests)


async def test_secret_gateway_refuses_asymmetric_tokens(
    make_gateway: Any, make_unchecked_gateway: Any, control: Control, jwks: tuple[Any, str]
) -> None:
    """RS256, PS256 and ES256 tokens against a shared secret are a 401, also when those
    algorithms got into the list past the settings check (that was a 500: PyJWT tried to read
    the secret as a PEM key); such settings do not load at all."""
    key, _ = jwks
    ec_key = ec.generate_private_key(ec.SECP256R1())
    others = [
        token(key, "RS256"),
        keyed_token(key, "PS256"),
        keyed_token(ec_key, "ES256"),
        keyed_token(ec_key, "ES256", kid="k" * 5000),
    ]
    for gateway in (
        make_gateway(**JWT_SETTINGS),
        make_unchecked_gateway(["HS256", "RS256", "PS256", "ES256"], **JWT_SETTINGS),
    ):
        with gateway as url:
            await _refused(url, others)
            await _accepted(url, token())
    with pytest.raises(ValidationError, match="GATEWAY_JWT_ALGORITHMS"):
        make_gateway(**{**JWT_SETTINGS, "jwt_algorithms": ["HS256", "RS256"]})


@pytest.fixture(scope="module")
def jwks_of_many() -> Iterator[tuple[dict[str, Any], str]]:
    """A JWKS whose keys say which algorithm they are for: k1 RSA for RS256, k2 RSA for
    RS384, k3 an HMAC secret for HS256, k4 P-256 without `alg` (so ES256), and k5 an entry
    for `"alg": "none"`, which PyJWT cannot load at all."""
    keys: dict[str, Any] = {
        "k1": rsa.generate_private_key(public_exponent=65537, key_size=2048),
        "k2": rsa.generate_private_key(public_exponent=65537, key_size=2048),
        "k3": SECRET,
        "k4": ec.generate_private_key(ec.SECP256R1()),
    }
    published = [
        {**jwt.algorithms.RSAAlgorithm.to_jwk(keys["k1"].public_key(), as_dict=True)},
        {**jwt.algorithms.RSAAlgorithm.to_jwk(keys["k2"].public_key(), as_dict=True)},
        {**jwt.algorithms.HMACAlgorithm.to_jwk(SECRET, as_dict=True)},
        {**jwt.algorithms.ECAlgorithm.to_jwk(keys["k4"].public_key(), as_dict=True)},
    ]
    for kid, alg, jwk in zip(keys, ("RS256", "RS384", "HS256", None), published, strict=True):
        jwk.update({"kid": kid, "use": "sig"})
        if alg:
            jwk["alg"] = alg
    published.append({"kty": "oct", "alg": "none", "k": "", "kid": "k5", "use": "sig"})

    async def serve_keys(request: Request) -> JSONResponse:
        return JSONResponse({"keys": published})

    with serve(Starlette(routes=[Route("/jwks.json", serve_keys)])) as url:
        yield keys, f"{url}/jwks.json"


async def test_the_jwk_decides_the_algorithm(
    make_gateway: Any, jwks_of_many: tuple[dict[str, Any], str]
) -> None:
    """A token is verified with its key's algorithm, and only if that one is configured: an
    RS256 token on the RS384 key, or a PS256 token on the RS256 key, is a 401 although RS256
    and PS256 are both accepted (before, each passed)."""
    keys, url_of_keys = jwks_of_many
    settings = {**JWT_SETTINGS, "jwt_secret": None, "jwt_jwks_url": url_of_keys}
    settings["jwt_algorithms"] = ["RS256", "PS256", "ES256"]
    with make_gateway(**settings) as url:
        await _accepted(url, keyed_token(keys["k1"], "RS256", "k1"))
        await _accepted(url, keyed_token(keys["k4"], "ES256", "k4"))
        not_accepted, *_ = await _refused(
            url,
            [
                keyed_token(keys["k2"], "RS256", "k2"),  # k2 is for RS384, not configured
                keyed_token(keys["k2"], "RS384", "k2"),
                keyed_token(keys["k1"], "PS256", "k1"),  # k1 is for RS256
                keyed_token(SECRET, "HS256", "k3"),  # an HMAC key in the JWKS
            ],
        )
        assert "algorithm (RS384) is not accepted" in not_accepted["message"]


async def test_a_jwks_key_pyjwt_cannot_load_is_ignored(
    make_gateway: Any, jwks_of_many: tuple[dict[str, Any], str]
) -> None:
    """k5 (`"alg": "none"`) made PyJWT raise NotImplementedError for the whole key set: every
    token was a 500. It is left out; the other keys serve and a token naming k5 is a 401."""
    keys, url_of_keys = jwks_of_many
    settings = {**JWT_SETTINGS, "jwt_secret": None, "jwt_jwks_url": url_of_keys}
    settings["jwt_algorithms"] = ["RS256"]
    with make_gateway(**settings) as url:
        await _accepted(url, keyed_token(keys["k1"], "RS256", "k1"))
        (error,) = await _refused(url, [keyed_token(keys["k1"], "RS256", "k5")])
        assert "signing key is unknown" in error["message"]


async def test_jwt_errors_do_not_echo_the_token(make_gateway: Any) -> None:
    """PyJWT's message may quote the token (an unknown `crit` extension here): the 401 quotes
    a bounded part of it."""
    huge = "X" * 6000
    bad = jwt.encode({"sub": "x"}, SECRET, "HS256", {"crit": [huge], huge: 1})
    with make_gateway(**JWT_SETTINGS) as url:
        (error,) = await _refused(url, [bad])
    assert len(error["message"]) < 300


async def test_dev_cookie_expires_on_the_server(gateway_url: str, control: Control) -> None:
    """A cookie older than GATEWAY_COOKIE_MAX_AGE_S (a year here) is a new user, whatever
    the browser kept; a younger one, or one signed under another secret, behaves as it should."""
    year = 365 * 86400
    cases = [
        (SignedAgo(COOKIE_SECRET.encode(), year - 3600), True),
        (SignedAgo(COOKIE_SECRET.encode(), year + 3600), False),
        (SignedAgo(b"another-secret", 0), False),
    ]
    for signer, kept in cases:
        control.reset()
        async with httpx.AsyncClient(base_url=gateway_url) as c:
            c.cookies.set("chatkit_uid", signer.cookie_value("anon_reader"))
            headers, _ = await ask(c, {"query": "who am I?"})
        assert (control.requests[0]["_user"] == "anon_reader") is kept
        assert ("set-cookie" not in headers) is kept


async def test_cors_explicit_origins(make_gateway: Any) -> None:
    with make_gateway(cors_origins=["https://book.example"]) as url:
        async with httpx.AsyncClient(base_url=url) as c:
            preflight = {
                "access-control-request-method": "POST",
                "access-control-request-headers": "content-type",
            }
            allowed = await c.options(
                "/chatkit", headers={"origin": "https://book.example", **preflight}
            )
            assert allowed.status_code == 200
            assert allowed.headers["access-control-allow-origin"] == "https://book.example"
            assert allowed.headers["access-control-allow-credentials"] == "true"
            other = await c.options(
                "/chatkit", headers={"origin": "https://evil.example", **preflight}
            )
            assert other.headers.get("access-control-allow-origin") is None
            # Even a refusal carries CORS headers, so the page can read the error.
            refused = await c.post(
                "/chatkit", content=b"{", headers={"origin": "https://book.example"}
            )
            assert refused.status_code == 400
            assert refused.headers["access-control-allow-origin"] == "https://book.example"


def test_wildcard_origin_is_refused_at_startup() -> None:
    from services.gateway.settings import GatewaySettings

    with pytest.raises(ValueError, match="explicitly"):
        GatewaySettings(_env_file=None, cors_origins=["*"])


async def _burst(url: str, n: int, *, cookie_jar: httpx.Cookies | None = None) -> list[int]:
    async with httpx.AsyncClient(base_url=url, cookies=cookie_jar) as c:
        statuses = []
        for _ in range(n):
            response = await c.post("/chatkit", json={"type": "threads.list", "params": {}})
            statuses.append(response.status_code)
            if response.status_code == 429:
                assert int(response.headers["retry-after"]) >= 1
                assert response.json()["error"]["code"] == "rate_limited"
        return statuses


async def test_rate_limit_per_user_in_process(make_gateway: Any) -> None:
    with make_gateway(user_burst=5, user_rate_per_s=0.5) as url:
        statuses = await _burst(url, 8)
    assert statuses[:5] == [200] * 5
    assert statuses[5:] == [429] * 3


async def test_rate_limit_per_ip_in_process(make_gateway: Any) -> None:
    with make_gateway(ip_burst=4, ip_rate_per_s=0.5) as url:
        # Each new client is a new anonymous user; the IP limit still applies.
        statuses = [(await _burst(url, 1))[0] for _ in range(6)]
    assert statuses == [200] * 4 + [429] * 2


async def test_rate_limits_are_shared_through_redis(make_gateway: Any) -> None:
    if not reachable(REDIS_URL):
        pytest.skip(f"no Redis at {REDIS_URL}")
    shared = {
        "redis_url": REDIS_URL,
        "redis_prefix": f"gwtest:{uuid.uuid4().hex}:",
        "ip_burst": 6,
        "ip_rate_per_s": 0.1,
    }
    with make_gateway(**shared) as first, make_gateway(**shared) as second:
        a = await _burst(first, 4)
        b = await _burst(second, 4)
    assert a == [200] * 4
    assert b == [200, 200, 429, 429]


async def test_redis_down_falls_back_to_in_process(
    make_gateway: Any, control: Control, tmp_path: Path
) -> None:
    redis = RedisServer(tmp_path)
    redis.start()
    try:
        settings = {
            "redis_url": redis.url,
            "user_burst": 6,
            "user_rate_per_s": 0.1,
            "redis_retry_s": 0.5,
        }
        with make_gateway(**settings) as gw:
            async with httpx.AsyncClient(base_url=gw) as c:
                await c.get("/")
                listing = {"type": "threads.list", "params": {}}
                assert (await c.post("/chatkit", json=listing)).status_code == 200
                redis.stop()
                # Redis is gone: no 500s, and the limit still holds (now in-process).
                statuses = [(await c.post("/chatkit", json=listing)).status_code for _ in range(8)]
                assert 500 not in statuses
                assert statuses[:6] == [200] * 6 and 429 in statuses
                async with c.stream("POST", "/assistant/chatkit", json={"query": "q"}) as s:
                    assert s.status_code in (200, 429)
                    await s.aread()
    finally:
        redis.stop()
