"""A verified identity from a JWT: :func:`identity_from_jwt`.

For hosts that authenticate callers with bearer tokens: verify the token, then pass the
identity on (``muxer.acomplete(..., identity=identity_from_jwt(token, ...))``), so policies,
budgets and the audit log see who asks. Requires the ``jwt`` extra (``pyjwt[crypto]``),
imported at the first call.

What it refuses, by construction: ``alg: none``; algorithms the caller did not list; a list
that mixes HMAC (``HS*``) with asymmetric algorithms, and an asymmetric public key used as an
HMAC secret (the HS/RS confusion attack); HMAC secrets shorter than the hash (RFC 7518 §3.2);
tokens without ``exp`` (unless ``required`` says otherwise), expired or not yet valid; a token
carrying an ``aud`` when no audience is expected.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from modelmuxer.errors import ConfigError, InvalidToken
from modelmuxer.types import Identity

if TYPE_CHECKING:
    from types import ModuleType

__all__ = ["ASYMMETRIC_ALGORITHMS", "DEFAULT_CLAIMS", "HMAC_ALGORITHMS", "identity_from_jwt"]

HMAC_ALGORITHMS = frozenset({"HS256", "HS384", "HS512"})
ASYMMETRIC_ALGORITHMS = frozenset(
    {
        "RS256", "RS384", "RS512", "PS256", "PS384", "PS512",
        "ES256", "ES256K", "ES384", "ES512", "EdDSA",
    }
)  # fmt: skip
_HMAC_MIN_BYTES = {"HS256": 32, "HS384": 48, "HS512": 64}
#: Identity field -> claim (a dotted path reaches into nested claims, e.g. ``realm.role``).
DEFAULT_CLAIMS: Mapping[str, str] = {
    "user": "sub",
    "org": "org",
    "project": "project",
    "role": "role",
}


class SigningKeySource(Protocol):
    """Finds the key of a token, e.g. :class:`jwt.PyJWKClient` (which fetches a JWKS url)."""

    def get_signing_key_from_jwt(self, token: str) -> Any: ...


def _jwt() -> ModuleType:
    try:
        import jwt
    except ImportError as exc:  # the extra is not installed
        raise ConfigError(
            "identity_from_jwt needs PyJWT: install 'modelmuxer[jwt]' (pyjwt[crypto])"
        ) from exc
    return jwt


def _family(algorithms: Sequence[str]) -> frozenset[str]:
    """The one algorithm family ``algorithms`` belong to; :class:`ConfigError` otherwise."""
    if isinstance(algorithms, str) or not algorithms:
        raise ConfigError("identity_from_jwt: list the accepted algorithms, e.g. ['RS256']")
    chosen = set(algorithms)
    if any(a.lower() == "none" for a in chosen):
        raise ConfigError("identity_from_jwt: 'none' is never accepted: tokens must be signed")
    unknown = chosen - HMAC_ALGORITHMS - ASYMMETRIC_ALGORITHMS
    if unknown:
        raise ConfigError(f"identity_from_jwt: unknown algorithm(s) {', '.join(sorted(unknown))}")
    if chosen <= HMAC_ALGORITHMS:
        return HMAC_ALGORITHMS
    if chosen <= ASYMMETRIC_ALGORITHMS:
        return ASYMMETRIC_ALGORITHMS
    raise ConfigError(
        "identity_from_jwt: do not mix HMAC (HS*) and public-key algorithms: a public key "
        "would then verify tokens signed with it as an HMAC secret (HS/RS confusion)"
    )


def _looks_asymmetric(secret: str | bytes) -> bool:
    text = secret.decode("latin-1") if isinstance(secret, bytes) else secret
    text = text.lstrip()
    return text.startswith(("-----BEGIN", "ssh-", "ecdsa-sha2-")) or text.startswith('{"kty"')


def _check_key(family: frozenset[str], key: Any, algorithm: str) -> None:
    """The key must be of the family's kind (a secret for HS*, a public key otherwise)."""
    raw = key
    if family is HMAC_ALGORITHMS:
        if not isinstance(raw, str | bytes) or _looks_asymmetric(raw):
            raise ConfigError(
                "identity_from_jwt: HS* algorithms take a shared secret, not a public key "
                "(that is how HS/RS confusion forges tokens)"
            )
        size = len(raw.encode() if isinstance(raw, str) else raw)
        if size < _HMAC_MIN_BYTES[algorithm]:
            raise ConfigError(
                f"identity_from_jwt: an {algorithm} secret needs at least "
                f"{_HMAC_MIN_BYTES[algorithm]} bytes (RFC 7518 §3.2); this one has {size}"
            )
    elif isinstance(raw, str | bytes) and not _looks_asymmetric(raw):
        raise ConfigError(
            "identity_from_jwt: public-key algorithms take a public key (PEM, JWK or a "
            "cryptography key), not a shared secret"
        )


def _from_jwks(
    jwt: ModuleType,
    jwks: Mapping[str, Any] | SigningKeySource,
    token: str,
    header: Mapping[str, Any],
    algorithm: str,
) -> Any:
    """The verifying key of ``token`` from a JWKS document or a key source."""
    if not isinstance(jwks, Mapping):
        try:
            return jwks.get_signing_key_from_jwt(token).key
        except jwt.PyJWTError as exc:
            raise InvalidToken("key", f"no key of the key set verifies it ({exc})") from None
    listed = jwks.get("keys")
    if not isinstance(listed, list) or not all(isinstance(k, Mapping) for k in listed):
        raise ConfigError("identity_from_jwt: a JWKS is an object with a 'keys' list")
    kid = header.get("kid")
    if kid is not None:
        listed = [k for k in listed if k.get("kid") == kid]
    elif len(listed) != 1:
        raise InvalidToken("key", "the token names no key id ('kid') and the JWKS has several")
    # a key that states its algorithm verifies only that one
    listed = [k for k in listed if k.get("alg") in (None, algorithm)]
    if not listed:
        raise InvalidToken("key", f"the JWKS has no key {kid!r} for {algorithm}")
    try:
        return jwt.PyJWK(dict(listed[0]), algorithm).key
    except jwt.PyJWTError as exc:
        raise ConfigError(f"identity_from_jwt: the JWKS key is not usable: {exc}") from None


def _claim(payload: Mapping[str, Any], path: str) -> str | None:
    value: Any = payload
    for part in path.split("."):
        if not isinstance(value, Mapping):
            return None
        value = value.get(part)
    if isinstance(value, list | tuple):  # e.g. a roles list: the first one
        value = next((v for v in value if isinstance(v, str | int) and str(v).strip()), None)
    if isinstance(value, bool) or not isinstance(value, str | int):
        return None
    text = str(value).strip()
    return text or None


def identity_from_jwt(
    token: str | bytes,
    *,
    algorithms: Sequence[str],
    key: Any = None,
    jwks: Mapping[str, Any] | SigningKeySource | None = None,
    audience: str | Sequence[str] | None = None,
    issuer: str | None = None,
    claims: Mapping[str, str] | None = None,
    leeway_s: float = 0.0,
    required: Sequence[str] = ("exp",),
) -> Identity:
    """Verify ``token`` and read the :class:`~modelmuxer.types.Identity` from its claims.

    :param algorithms: the accepted algorithms, all HMAC (``HS256``...) or all public-key
        (``RS256``, ``ES256``, ``EdDSA``...); never ``none``.
    :param key: the HMAC secret, or the public key (PEM, a ``cryptography`` key, a
        :class:`jwt.PyJWK`). Exactly one of ``key`` and ``jwks``.
    :param jwks: a JWKS document (``{"keys": [...]}``; the token's ``kid`` picks the key) or an
        object like :class:`jwt.PyJWKClient` that finds it.
    :param audience: the expected ``aud``; ``None``: a token that has one is refused.
    :param issuer: the expected ``iss``.
    :param claims: identity field -> claim path; default :data:`DEFAULT_CLAIMS` (``user`` from
        ``sub``). A list claim gives its first item; absent claims leave the field unset.
    :param leeway_s: clock skew tolerated on ``exp`` / ``nbf`` / ``iat``.
    :param required: claims the token must carry.
    :raises InvalidToken: the token is malformed, signed with another algorithm or key,
        expired, for another audience or issuer, or misses a required claim (``reason`` says
        which).
    :raises ConfigError: the algorithms or key cannot be used safely, or PyJWT is missing.
    """
    family = _family(algorithms)
    if (key is None) == (jwks is None):
        raise ConfigError("identity_from_jwt: give exactly one of key= and jwks=")
    mapping = dict(DEFAULT_CLAIMS if claims is None else claims)
    unknown = set(mapping) - set(Identity.model_fields)
    if unknown:
        raise ConfigError(f"identity_from_jwt: claims maps unknown fields {sorted(unknown)}")
    jwt = _jwt()
    if isinstance(key, jwt.PyJWK):
        key = key.key
    if key is not None:  # a bad set-up fails before any token is read
        _check_key(family, key, min(algorithms))
    text = token.decode("ascii", "replace") if isinstance(token, bytes) else token
    try:
        header = jwt.get_unverified_header(text)
    except jwt.PyJWTError:
        raise InvalidToken("malformed", "not a compact JWT (header.payload.signature)") from None
    alg = header.get("alg")
    if not isinstance(alg, str) or alg not in algorithms:
        raise InvalidToken(
            "algorithm",
            f"signed with {str(alg)[:20]!r}; accepted: {', '.join(sorted(algorithms))}",
        )
    if key is None and jwks is not None:
        key = _from_jwks(jwt, jwks, text, header, alg)
    _check_key(family, key, alg)
    payload = _decode(jwt, text, key, algorithms, audience, issuer, leeway_s, required)
    return Identity(**{field: _claim(payload, path) for field, path in mapping.items()})


def _decode(
    jwt: ModuleType,
    token: str,
    key: Any,
    algorithms: Sequence[str],
    audience: str | Sequence[str] | None,
    issuer: str | None,
    leeway_s: float,
    required: Sequence[str],
) -> dict[str, Any]:
    reasons: tuple[tuple[type[Exception], str, str], ...] = (
        (jwt.ExpiredSignatureError, "expired", "the token has expired"),
        (jwt.ImmatureSignatureError, "not_yet_valid", "the token is not valid yet"),
        (jwt.InvalidAudienceError, "audience", "the token is for another audience"),
        (jwt.InvalidIssuerError, "issuer", "the token comes from another issuer"),
        (jwt.MissingRequiredClaimError, "claims", "a required claim is missing"),
        (jwt.InvalidAlgorithmError, "algorithm", "the algorithm is not accepted"),
        (jwt.InvalidSignatureError, "signature", "the signature does not verify"),
        (jwt.InvalidKeyError, "key", "the key cannot verify this token"),
    )
    try:
        payload: dict[str, Any] = jwt.decode(
            token,
            key,
            algorithms=list(algorithms),
            audience=audience,
            issuer=issuer,
            leeway=leeway_s,
            options={"require": list(required)},
        )
    except jwt.PyJWTError as exc:
        for kind, reason, detail in reasons:
            if isinstance(exc, kind):
                extra = f" ({exc})" if reason == "claims" else ""
                raise InvalidToken(reason, detail + extra) from None
        raise InvalidToken("malformed", f"the token cannot be decoded ({exc})") from None
    return payload
