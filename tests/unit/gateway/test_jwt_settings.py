"""GATEWAY_JWT_ALGORITHMS is of one family, the one the key calls for, and PyJWT knows it."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from services.gateway.settings import GatewaySettings

JWT = {"auth": "jwt", "jwt_audience": "book-assistant", "jwt_issuer": "https://id.example"}
SECRET = {**JWT, "jwt_secret": "x" * 32}
JWKS = {**JWT, "jwt_jwks_url": "https://id.example/jwks.json"}


def settings(**values: Any) -> GatewaySettings:
    return GatewaySettings(_env_file=None, **values)


@pytest.mark.parametrize(
    ("values", "algorithms"),
    [
        (SECRET, ["HS256"]),
        (SECRET, ["HS256", "HS384", "HS512"]),
        (JWKS, ["RS256"]),
        (JWKS, ["RS256", "RS512", "PS256", "ES256", "ES384", "EdDSA"]),
    ],
)
def test_one_family_loads(values: dict[str, Any], algorithms: list[str]) -> None:
    assert settings(**values, jwt_algorithms=algorithms).jwt_algorithms == algorithms


@pytest.mark.parametrize(
    ("values", "algorithms", "message"),
    [
        (SECRET, ["HS256", "RS256"], "HMAC algorithms only"),
        (SECRET, ["ES256"], "HMAC algorithms only"),
        (SECRET, ["RS256"], "HMAC algorithms only"),  # the default with a secret
        (JWKS, ["RS256", "HS256"], "asymmetric"),
        (JWKS, ["HS512"], "asymmetric"),
        (JWKS, ["RS256", "XS256"], "PyJWT implements.*'XS256'"),
        (JWKS, ["rs256"], "PyJWT implements"),  # PyJWT's names are case-sensitive
        (JWKS, [], "one or more"),
        (JWKS, ["RS256", "none"], "'none'"),
        ({**SECRET, **JWKS}, ["RS256"], "not both"),
    ],
)
def test_mixed_unknown_or_empty_is_refused(
    values: dict[str, Any], algorithms: list[str], message: str
) -> None:
    with pytest.raises(ValidationError, match=r"GATEWAY_JWT_ALGORITHMS|GATEWAY_JWT_SECRET") as e:
        settings(**values, jwt_algorithms=algorithms)
    assert e.match(message)


def test_the_environment_is_read_the_same_way(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {
        "GATEWAY_AUTH": "jwt",
        "GATEWAY_JWT_JWKS_URL": "https://id.example/jwks.json",
        "GATEWAY_JWT_AUDIENCE": "book-assistant",
        "GATEWAY_JWT_ISSUER": "https://id.example",
        "GATEWAY_JWT_ALGORITHMS": "RS256,HS256",
    }.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError, match="GATEWAY_JWT_ALGORITHMS"):
        GatewaySettings(_env_file=None)
    monkeypatch.setenv("GATEWAY_JWT_ALGORITHMS", "RS256,ES256")
    assert GatewaySettings(_env_file=None).jwt_algorithms == ["RS256", "ES256"]


def test_dev_auth_does_not_check_jwt_settings() -> None:
    assert settings(jwt_secret="x" * 32, jwt_algorithms=["RS256"]).auth == "dev"
