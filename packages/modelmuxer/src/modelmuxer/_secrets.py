"""Keeping secrets out of logs, records, errors and reprs.

- :class:`SecretUrl`: a connection URL (Redis, PostgreSQL) that shows itself with its password
  masked; :meth:`~pydantic.Secret.get_secret_value` gives the real URL to the code that connects.
- :func:`redact_url`: a URL with the password and secret-looking query parameters masked.
- :func:`scrub_secrets`: text (a provider's error message) with known secrets, their encoded
  forms, the values of secret-looking environment variables and anything shaped like a key
  replaced.
- :func:`looks_secret`: whether a parameter, header or variable name holds a secret
  (``aws_secret_access_key``, ``Authorization``, ``OPENAI_API_KEY``...).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Mapping
from typing import Annotated, Final
from urllib.parse import quote, quote_plus, unquote_plus, urlsplit

from pydantic import Secret, StringConstraints

__all__ = [
    "MASK",
    "REDACTED",
    "SecretUrl",
    "env_secrets",
    "error_text",
    "looks_secret",
    "redact_url",
    "scrub_secrets",
]

#: What a masked value shows (the same as pydantic's ``SecretStr``).
MASK: Final = "**********"
#: What :func:`scrub_secrets` puts where a secret was.
REDACTED: Final = "[REDACTED]"

#: Names of parameters, headers, query parameters and environment variables that hold secrets.
#: ``max_tokens`` or ``TOKENIZERS_PARALLELISM`` do not match: a name part must be exactly one of
#: these words.
_SECRET_NAME: Final = re.compile(
    r"(?i)(?:^|[_\-.])(?:api[_\-]?key|apikey|secret|password|passwd|passphrase|credentials?|"
    r"private[_\-]?key|(?:access|session|auth|ad|bearer|refresh|id|security)[_\-]?token|token|"
    r"authorization|cookie|signature|sig)(?:$|[_\-.])|^key$"
)
#: Environment values shorter than this are not taken for secrets: too many false hits.
_MIN_SECRET_LEN: Final = 8

_LABEL: Final = (
    r"api[_\-]?key|apikey|access[_\-]?token|auth[_\-]?token|secret|password|passwd|token|key|"
    r"signature|sig|credentials?"
)
_PATTERNS: Final = (
    re.compile(r"\bsk-[A-Za-z0-9_\-]{6,}"),  # OpenAI, Anthropic (sk-ant-...), many proxies
    re.compile(r"\bAKIA[0-9A-Z]{16}\b"),  # AWS access key ids
    re.compile(r"\bAIza[0-9A-Za-z_\-]{20,}"),  # Google API keys
    re.compile(r"\b(?:ghp|gho|ghu|ghs|ghr|github_pat|hf|gsk|xai|xox[abpors])[_\-][A-Za-z0-9_]{8,}"),
    re.compile(r"(?i)\b(?:bearer|basic)\s+[A-Za-z0-9._~+/=\-]{8,}"),
    # the password of ``scheme://user:password@host``
    re.compile(r"(?i)(\b[a-z][a-z0-9+.\-]*://[^\s:/@?#]*:)[^\s@/?#]+(?=@)"),
    # ``api_key=...``, ``"password": "..."``, ``'x-api-key': '...'``: the label stays
    re.compile(rf"(?i)((?:{_LABEL})[\"']?\s*[:=]\s*[\"']?)[^\s\"'&,;]{{6,}}"),
)
#: Long opaque tokens (base64, hex): hidden when they hold both letters and digits, as random
#: keys do. Checked in code, not with look-aheads, so scrubbing stays linear in the text.
_OPAQUE: Final = re.compile(r"[\w\-+=]{32,}")
_DIGIT: Final = re.compile(r"\d")
_LETTER: Final = re.compile(r"[A-Za-z]")


def looks_secret(name: str) -> bool:
    """Whether a parameter, header or variable called ``name`` holds a secret."""
    return bool(_SECRET_NAME.search(name))


def redact_url(url: str) -> str:
    """``url`` with its password and the values of secret-looking query parameters masked.

    ``redis://:hunter2@cache:6379/0?password=x`` -> ``redis://:***@cache:6379/0?password=***``;
    the rest of the URL is kept as written. A string that does not parse as a URL is returned
    with anything after ``//...:`` and before ``@`` masked.
    """
    try:
        parts = urlsplit(url)
    except ValueError:  # e.g. a malformed IPv6 host: mask by shape instead
        return re.sub(r"(//[^/@]*?:)[^/@]*@", r"\1***@", url)
    shown = url
    userinfo, at, host = parts.netloc.rpartition("@")
    if at and ":" in userinfo:
        masked = userinfo.partition(":")[0] + ":***"
        shown = shown.replace(f"//{parts.netloc}", f"//{masked}@{host}", 1)
    if parts.query:
        pairs = parts.query.split("&")
        masked_pairs = [
            f"{name}=***" if eq and looks_secret(unquote_plus(name)) else pair
            for pair in pairs
            for name, eq, _ in (pair.partition("="),)
        ]
        if masked_pairs != pairs:
            shown = shown.replace(f"?{parts.query}", "?" + "&".join(masked_pairs), 1)
    return shown


class SecretUrl(Secret[Annotated[str, StringConstraints(min_length=1)]]):
    """A connection URL that may hold a password: shown (repr, str, JSON dumps, errors) with the
    password masked. ``get_secret_value()`` returns the URL itself."""

    def _display(self) -> str:
        return redact_url(self.get_secret_value())


def env_secrets(environ: Mapping[str, str] | None = None) -> tuple[str, ...]:
    """Values of the environment variables whose names look secret (``OPENAI_API_KEY``,
    ``AWS_SECRET_ACCESS_KEY``, ``HF_TOKEN``...): litellm and provider SDKs read keys from
    there, so a key may reach an error message without ModelMuxer ever handling it."""
    env = os.environ if environ is None else environ
    return tuple(
        value
        for name, value in env.items()
        if len(value) >= _MIN_SECRET_LEN and looks_secret(name) and not os.path.isabs(value)
    )


def _variants(secrets: Iterable[str]) -> list[str]:
    """Each secret as it may appear in text: raw, URL-encoded, JSON- and repr-escaped."""
    found: set[str] = set()
    for secret in secrets:
        if not secret:
            continue
        found.update(
            (
                secret,
                quote(secret, safe=""),
                quote_plus(secret),
                json.dumps(secret)[1:-1],
                repr(secret)[1:-1],
            )
        )
    return sorted(found, key=len, reverse=True)  # an encoded form may contain the raw one


def _labelled(match: re.Match[str]) -> str:
    # The patterns with a group keep it (the label, or the URL up to the password).
    return match.group(1) + REDACTED if match.re.groups else REDACTED


def _opaque(match: re.Match[str]) -> str:
    token = match.group(0)
    return REDACTED if _DIGIT.search(token) and _LETTER.search(token) else token


def scrub_secrets(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` without ``secrets`` (in any of their encoded forms), without the values of
    secret-looking environment variables, and without anything shaped like an API key, a
    bearer token, a URL password or a ``key=value`` credential."""
    for secret in _variants((*secrets, *env_secrets())):
        text = text.replace(secret, REDACTED)
    for pattern in _PATTERNS:
        text = pattern.sub(_labelled, text)
    return _OPAQUE.sub(_opaque, text)


def error_text(exc: BaseException, secrets: Iterable[str] = ()) -> str:
    """``"<ExceptionClass>: <message>"`` of ``exc``, scrubbed: what an error message or a record
    may say about a third-party exception. Raise the error built from it ``from None``: a chained
    original would print its unscrubbed message in every traceback."""
    return scrub_secrets(f"{type(exc).__name__}: {exc}", secrets)
