"""identity_from_jwt: verified claims become the Identity; unsafe tokens and set-ups are refused."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from modelmuxer import ConfigError, Identity, InvalidToken
from modelmuxer.policies import identity_from_jwt

SECRET = "s" * 32
ISSUER = "https://idp.example"


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def public_pem(rsa_key: rsa.RSAPrivateKey) -> bytes:
    return rsa_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _claims(**extra: Any) -> dict[str, Any]:
    claims: dict[str, Any] = {
        "sub": "alice",
        "org": "acme",
        "role": "admin",
        "iss": ISSUER,
        "exp": int(time.time()) + 300,
    }
    claims.update(extra)
    return {k: v for k, v in claims.items() if v is not None}


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def test_an_hs256_token_gives_its_identity() -> None:
    token = jwt.encode(_claims(project="search"), SECRET, algorithm="HS256")
    identity = identity_from_jwt(token, key=SECRET, algorithms=["HS256"], issuer=ISSUER)
    assert identity == Identity(user="alice", org="acme", project="search", role="admin")


def test_an_rs256_token_verifies_with_the_public_key(
    rsa_key: rsa.RSAPrivateKey, public_pem: bytes
) -> None:
    token = jwt.encode(_claims(), rsa_key, algorithm="RS256")
    assert identity_from_jwt(token, key=public_pem, algorithms=["RS256"]).user == "alice"
    assert identity_from_jwt(token, key=rsa_key.public_key(), algorithms=["RS256"]).org == "acme"


def test_a_jwks_picks_the_key_by_kid(rsa_key: rsa.RSAPrivateKey) -> None:
    other = ec.generate_private_key(ec.SECP256R1())
    jwks = {
        "keys": [
            {**json.loads(jwt.algorithms.ECAlgorithm.to_jwk(other.public_key())), "kid": "ec"},
            {
                **json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(rsa_key.public_key())),
                "kid": "rsa",
                "alg": "RS256",
            },
        ]
    }
    algorithms = ["RS256", "ES256"]
    rs = jwt.encode(_claims(), rsa_key, algorithm="RS256", headers={"kid": "rsa"})
    es = jwt.encode(_claims(sub="bob"), other, algorithm="ES256", headers={"kid": "ec"})
    assert identity_from_jwt(rs, jwks=jwks, algorithms=algorithms).user == "alice"
    assert identity_from_jwt(es, jwks=jwks, algorithms=algorithms).user == "bob"
    unknown = jwt.encode(_claims(), rsa_key, algorithm="RS256", headers={"kid": "gone"})
    with pytest.raises(InvalidToken) as caught:
        identity_from_jwt(unknown, jwks=jwks, algorithms=algorithms)
    assert caught.value.reason == "key"
    # the rsa key states RS256: a PS256 token under its kid finds no key
    ps = jwt.encode(_claims(), rsa_key, algorithm="PS256", headers={"kid": "rsa"})
    with pytest.raises(InvalidToken, match="no key 'rsa' for PS256"):
        identity_from_jwt(ps, jwks=jwks, algorithms=["RS256", "PS256"])


def test_a_key_source_object_is_asked_for_the_key(rsa_key: rsa.RSAPrivateKey) -> None:
    class Source:
        def __init__(self) -> None:
            self.asked: list[str] = []

        def get_signing_key_from_jwt(self, token: str) -> jwt.PyJWK:
            self.asked.append(token)
            return jwt.PyJWK(json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(rsa_key.public_key())))

    token = jwt.encode(_claims(), rsa_key, algorithm="RS256")
    source = Source()
    assert identity_from_jwt(token, jwks=source, algorithms=["RS256"]).role == "admin"
    assert source.asked == [token]


def test_the_claim_mapping_reads_nested_and_list_claims() -> None:
    token = jwt.encode(
        _claims(realm={"roles": ["", "auditor", "viewer"]}, tenant=42, role=None),
        SECRET,
        algorithm="HS256",
    )
    identity = identity_from_jwt(
        token,
        key=SECRET,
        algorithms=["HS256"],
        claims={"user": "sub", "org": "tenant", "role": "realm.roles"},
    )
    assert identity == Identity(user="alice", org="42", role="auditor")
    with pytest.raises(ConfigError, match="unknown fields"):
        identity_from_jwt(token, key=SECRET, algorithms=["HS256"], claims={"team": "sub"})


@pytest.mark.parametrize(
    ("claims", "options", "reason"),
    [
        (_claims(exp=int(time.time()) - 60), {}, "expired"),
        (_claims(nbf=int(time.time()) + 600), {}, "not_yet_valid"),
        (_claims(aud="other-api"), {"audience": "my-api"}, "audience"),
        (_claims(aud="my-api"), {}, "audience"),  # a token for an audience nobody expects
        (_claims(iss="https://evil.example"), {"issuer": ISSUER}, "issuer"),
        (_claims(exp=None), {}, "claims"),
    ],
    ids=["expired", "not-yet-valid", "audience", "unexpected-audience", "issuer", "no-exp"],
)
def test_a_refused_token_is_a_typed_error(
    claims: dict[str, Any], options: dict[str, Any], reason: str
) -> None:
    token = jwt.encode(claims, SECRET, algorithm="HS256")
    with pytest.raises(InvalidToken) as caught:
        identity_from_jwt(token, key=SECRET, algorithms=["HS256"], **options)
    assert caught.value.reason == reason
    assert token not in str(caught.value)


def test_leeway_and_required_claims_are_the_callers_choice() -> None:
    late = jwt.encode(_claims(exp=int(time.time()) - 5), SECRET, algorithm="HS256")
    assert identity_from_jwt(late, key=SECRET, algorithms=["HS256"], leeway_s=60).user == "alice"
    no_exp = jwt.encode(_claims(exp=None), SECRET, algorithm="HS256")
    assert identity_from_jwt(no_exp, key=SECRET, algorithms=["HS256"], required=()).org == "acme"


def test_a_wrong_signature_is_refused() -> None:
    token = jwt.encode(_claims(), "t" * 32, algorithm="HS256")
    with pytest.raises(InvalidToken) as caught:
        identity_from_jwt(token, key=SECRET, algorithms=["HS256"])
    assert caught.value.reason == "signature"
    header, _payload, signature = token.split(".")
    forged = ".".join([header, _b64(json.dumps(_claims(sub="root")).encode()), signature])
    with pytest.raises(InvalidToken, match="signature"):
        identity_from_jwt(forged, key="t" * 32, algorithms=["HS256"])


def test_malformed_tokens_are_refused() -> None:
    for token in ("", "abc", "a.b.c", b"\xff.\xfe.\xfd"):
        with pytest.raises(InvalidToken) as caught:
            identity_from_jwt(token, key=SECRET, algorithms=["HS256"])
        assert caught.value.reason == "malformed"


def test_alg_none_is_refused() -> None:
    header = _b64(json.dumps({"alg": "none", "typ": "JWT"}).encode())
    token = f"{header}.{_b64(json.dumps(_claims()).encode())}."
    with pytest.raises(InvalidToken) as caught:
        identity_from_jwt(token, key=SECRET, algorithms=["HS256"])
    assert caught.value.reason == "algorithm"
    assert "'none'" in str(caught.value)
    for algorithms in (["none"], ["HS256", "None"]):
        with pytest.raises(ConfigError, match="'none' is never accepted"):
            identity_from_jwt(token, key=SECRET, algorithms=algorithms)


def test_hs_rs_confusion_is_refused(rsa_key: rsa.RSAPrivateKey, public_pem: bytes) -> None:
    # the attack: sign with HS256, using the server's *public* key as the HMAC secret
    header = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    body = _b64(json.dumps(_claims(sub="root")).encode())
    mac = hmac.new(public_pem, f"{header}.{body}".encode(), hashlib.sha256).digest()
    forged = f"{header}.{body}.{_b64(mac)}"
    with pytest.raises(InvalidToken) as caught:
        identity_from_jwt(forged, key=public_pem, algorithms=["RS256"])
    assert caught.value.reason == "algorithm"
    # the set-ups that would let it through are configuration errors
    with pytest.raises(ConfigError, match="do not mix"):
        identity_from_jwt(forged, key=public_pem, algorithms=["RS256", "HS256"])
    with pytest.raises(ConfigError, match="shared secret, not a public key"):
        identity_from_jwt(forged, key=public_pem, algorithms=["HS256"])
    with pytest.raises(ConfigError, match="shared secret, not a public key"):
        identity_from_jwt(forged, key=public_pem.decode(), algorithms=["HS256"])


def test_unsafe_set_ups_are_configuration_errors(public_pem: bytes) -> None:
    token = jwt.encode(_claims(), SECRET, algorithm="HS256")
    with pytest.raises(ConfigError, match="list the accepted algorithms"):
        identity_from_jwt(token, key=SECRET, algorithms=[])
    with pytest.raises(ConfigError, match="list the accepted algorithms"):
        identity_from_jwt(token, key=SECRET, algorithms="HS256")
    with pytest.raises(ConfigError, match="unknown algorithm"):
        identity_from_jwt(token, key=SECRET, algorithms=["HS1"])
    with pytest.raises(ConfigError, match="at least 32 bytes"):
        identity_from_jwt(token, key="short", algorithms=["HS256"])
    with pytest.raises(ConfigError, match="exactly one of key= and jwks="):
        identity_from_jwt(token, algorithms=["HS256"])
    with pytest.raises(ConfigError, match="not a shared secret"):
        identity_from_jwt(token, key=SECRET, algorithms=["RS256"])
    with pytest.raises(InvalidToken, match="signed with 'HS256'"):
        identity_from_jwt(token, key=public_pem, algorithms=["RS256"])
