"""Built-in detectors of credentials: vendor API keys, JWTs, PEM private keys, and secrets
assigned to a name that says so (``password=...``, ``"client_secret": "..."``).

Kinds: ``api_key`` (OpenAI, Anthropic, AWS access key ids, GitHub, GitLab, Slack, Google,
Stripe and Hugging Face formats), ``jwt``, ``private_key`` and ``secret`` (the assignments,
``Authorization: Bearer`` / ``Basic`` values and passwords in URLs). The first three are
structured; ``secret`` is a heuristic (a name, a value that is not a placeholder or a word).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Iterator
from typing import Final

from modelmuxer.privacy.spans import PiiDetector, PiiSpan, RegexDetector
from modelmuxer.privacy.validators import shannon_entropy

__all__ = ["CREDENTIAL_DETECTORS"]

# -- vendor API keys ----------------------------------------------------------------------------

_API_KEY: Final = re.compile(
    r"(?<![\w-])(?:"
    r"sk-ant-(?:api|admin|sid)\d{2}-[A-Za-z0-9_-]{80,120}"  # Anthropic
    r"|sk-(?:proj|svcacct|admin)-[A-Za-z0-9_-]{40,200}"  # OpenAI project / service keys
    r"|sk-[A-Za-z0-9]{32,64}"  # OpenAI legacy and sk- style keys
    r"|(?:AKIA|ASIA|ABIA|ACCA|AIDA|AROA|AIPA|ANPA|ANVA|APKA)[A-Z0-9]{16}"  # AWS key ids
    r"|gh[pousr]_[A-Za-z0-9]{36,255}|github_pat_[A-Za-z0-9_]{60,255}"  # GitHub
    r"|glpat-[A-Za-z0-9_-]{20,}"  # GitLab
    r"|xox[abposr]-[A-Za-z0-9-]{10,120}"  # Slack
    r"|AIza[0-9A-Za-z_-]{35}"  # Google
    r"|(?:sk|rk)_(?:live|test)_[0-9A-Za-z]{24,99}"  # Stripe secret and restricted keys
    r"|hf_[A-Za-z0-9]{34,40}"  # Hugging Face
    r")(?![\w-])"
)
_DIGIT: Final = re.compile(r"\d")
_GENERIC_SK: Final = re.compile(r"sk-[A-Za-z0-9]+")
_LETTER: Final = re.compile(r"[A-Za-z]")


#: what every key above starts with: texts with none of them are skipped at once
_API_KEY_PREFIXES: Final = (
    "sk-", "sk_", "rk_", "AKIA", "ASIA", "ABIA", "ACCA", "AIDA", "AROA", "AIPA", "ANPA", "ANVA",
    "APKA", "ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_", "glpat-", "xox", "AIza", "hf_",
)  # fmt: skip


def _api_keys(text: str) -> Iterator[PiiSpan]:
    if not any(prefix in text for prefix in _API_KEY_PREFIXES):
        return
    for m in _API_KEY.finditer(text):
        body = m.group()
        # a random key mixes letters and digits; "sk-this-is-not-a-key-..." does not
        if not (_DIGIT.search(body) and _LETTER.search(body)):
            continue
        if _GENERIC_SK.fullmatch(body) and shannon_entropy(body) < 3.0:
            continue  # the generic sk- form is the one words can take
        yield PiiSpan(m.start(), m.end(), "api_key", 1.0)


# -- JSON web tokens ----------------------------------------------------------------------------

_JWT: Final = re.compile(
    r"(?<![\w-])eyJ[A-Za-z0-9_-]{6,}\.eyJ[A-Za-z0-9_-]{6,}\.[A-Za-z0-9_-]*(?![\w-])"
)


def _b64_json(segment: str) -> object:
    padded = segment + "=" * (-len(segment) % 4)
    try:
        return json.loads(base64.urlsafe_b64decode(padded))
    except (binascii.Error, ValueError):
        return None


def _jwts(text: str) -> Iterator[PiiSpan]:
    for m in _JWT.finditer(text):
        header = _b64_json(m.group().split(".", 1)[0])
        if isinstance(header, dict) and ("alg" in header or "typ" in header):
            yield PiiSpan(m.start(), m.end(), "jwt", 1.0)


# -- PEM private keys ---------------------------------------------------------------------------

_PEM: Final = re.compile(
    r"-----BEGIN ((?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?)-----"
    r"(?:[\s\S]{0,16384}?-----END \1-----"  # the whole block
    r"|(?:[A-Za-z0-9+/=:,\\-]|\s)*)"  # or what there is of it (a truncated paste)
)


def _private_keys(text: str) -> Iterator[PiiSpan]:
    for m in _PEM.finditer(text):
        end = m.end()
        while end > m.start() and text[end - 1].isspace():
            end -= 1
        yield PiiSpan(m.start(), end, "private_key", 1.0)


# -- secrets by name ----------------------------------------------------------------------------

#: an assignment operator (``=``, ``:``, ``:=``, ``=>``), then the value it assigns
_OPERATOR: Final = re.compile(r":=|=>|[:=]")
_VALUE: Final = re.compile(r"""[ \t]*(?P<q>["'`]?)(?P<value>[^\s"'`,;]{6,256})(?P=q)""")
_NAME_CHARS: Final = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-")
#: a credential after its scheme word (tried where the lower-cased text has the word)
_BEARER: Final = re.compile(
    r"(?i:bearer|basic|token)[ \t]+(?P<value>[A-Za-z0-9._~+/-]{15,}[A-Za-z0-9_~+/-]=*)"
    r"(?![\w~+/-]|\.\w)"
)
_SCHEMES: Final = ("bearer", "basic", "token")
_URL_PASSWORD: Final = re.compile(r"\b[a-z][a-z0-9+.-]*://[^\s:/@]+:(?P<value>[^\s/@]{3,})@")
_CAMEL: Final = re.compile(r"[A-Z]?[a-z0-9]+|[A-Z]+(?![a-z])")
_PASSWORD_WORDS: Final = frozenset({"password", "passwd", "pwd", "passphrase", "pass", "pw"})
_SECRET_WORDS: Final = frozenset(
    {"secret", "token", "apikey", "credential", "credentials", "pat", "auth", "sig", "signature"}
)
_KEY_QUALIFIERS: Final = frozenset(
    {"api", "access", "secret", "private", "signing", "encryption", "client", "auth", "master"}
)
_NOT_VALUES: Final = re.compile(
    r"(?i)^(?:\*+|x+|\.+|-+|_+|<[^>]*>|\$.*|%.*|\{\{.*|null|none|nil|true|false|undefined"
    r"|changeme|password|secret|token|string|str|text|required|optional|hidden|masked"
    r"|redacted|your[_-].*|my[_-].*|example.*|placeholder.*|dummy.*|test|\[[A-Za-z]+_\d+\])$"
)
_CODE: Final = re.compile(r"[()\[\]{}<>]|^(?:https?:|os\.|env\.|process\.|self\.|this\.)")


def _name_kind(name: str) -> str | None:
    """``password`` or ``secret`` when the last word of ``name`` says the value is one."""
    words = [w.lower() for part in re.split(r"[_.-]+", name) for w in _CAMEL.findall(part)]
    if not words:
        return None
    last = words[-1]
    if last in _PASSWORD_WORDS:
        return "password"
    if last in _SECRET_WORDS:
        return "secret"
    if last == "key" and len(words) > 1 and words[-2] in _KEY_QUALIFIERS:
        return "secret"
    return None


#: a name can only say "secret" if it holds one of these (a cheap first test)
_HINTS: Final = ("pass", "pw", "secret", "token", "key", "cred", "auth", "sig", "pat")


def _name_before(text: str, at: int) -> str:
    """The name an operator at ``at`` assigns to: ``DB_PASSWORD`` in ``DB_PASSWORD =``,
    ``client_secret`` in ``"client_secret":`` (a walk back over at most 64 characters)."""
    window = text[max(0, at - 66) : at].lower()
    if not any(hint in window for hint in _HINTS):
        return ""
    i = at
    while i > 0 and text[i - 1] in " \t":
        i -= 1
    if i > 0 and text[i - 1] in "\"'":
        i -= 1
    end, floor = i, max(0, i - 64)
    while i > floor and text[i - 1] in _NAME_CHARS:
        i -= 1
    while i < end and not (text[i].isalpha() or text[i] == "_"):
        i += 1
    return text[i:end]


def _secret_assigned(name: str, value: str) -> bool:
    kind = _name_kind(name)
    if kind is None or _NOT_VALUES.match(value) or _CODE.search(value):
        return False
    if value.isdigit() and len(value) < 12:
        return False  # a count or a length: max_tokens=1024, password_min_length=12
    return kind == "password" or _not_a_word(value)


def _not_a_word(value: str) -> bool:
    """Digits, mixed case or symbols, and some variety: not ``enabled`` or ``aaaaaaaa``."""
    has_digit = _DIGIT.search(value) is not None
    mixed = value != value.lower() and value != value.upper()
    symbol = not value.isalnum()
    return len(value) >= 8 and (has_digit or mixed or symbol) and shannon_entropy(value) >= 2.5


def _secrets(text: str) -> Iterator[PiiSpan]:
    # found from the operators, which are few, rather than by trying a name at every word
    for op in _OPERATOR.finditer(text):
        name = _name_before(text, op.start())
        if not name:
            continue
        m = _VALUE.match(text, op.end())
        if m is not None and _secret_assigned(name, m.group("value")):
            yield PiiSpan(m.start("value"), m.end("value"), "secret", 0.7)
    found = [m for m in _schemes(text)]
    if "://" in text:
        found.extend(_URL_PASSWORD.finditer(text))
    for m in found:
        if not _NOT_VALUES.match(m.group("value")):
            yield PiiSpan(m.start("value"), m.end("value"), "secret", 0.7)


def _schemes(text: str) -> Iterator[re.Match[str]]:
    """``Bearer <token>``, ``Basic <credentials>``, ``token <token>``: tried at each word."""
    lower = text.lower()
    for word in _SCHEMES:
        at = 0
        while (i := lower.find(word, at)) >= 0:
            at = i + len(word)
            if i == 0 or not (lower[i - 1].isalnum() or lower[i - 1] == "_"):
                m = _BEARER.match(text, i)
                if m is not None:
                    yield m


#: The credential detectors (registered with the other built-ins).
CREDENTIAL_DETECTORS: Final[tuple[PiiDetector, ...]] = (
    RegexDetector("api_key", {"api_key"}, _api_keys),
    RegexDetector("jwt", {"jwt"}, _jwts, needs="eyJ"),
    RegexDetector("private_key", {"private_key"}, _private_keys, needs="-----BEGIN"),
    RegexDetector("secret", {"secret"}, _secrets),
)
