"""A labelled corpus for measuring PII detection, generated from a seed (nothing downloaded).

:func:`generate_corpus` writes short texts holding values of every built-in kind in varied
formats and sentences (sometimes two kinds in one text), and texts holding only near-misses
(card numbers with a bad checksum, order numbers, version strings, dates, ISBNs, invalid SSNs
and IBANs, MAC addresses, placeholder credentials...). Each text carries the exact spans of
its values. :func:`~modelmuxer.privacy.evaluation.evaluate` scores a scanner on it.

The corpus is synthetic and written by the people who wrote the detectors: it checks that
each format they claim is found and each trap they know of is avoided, and guards against
regressions. Figures on real traffic will be lower; measure on your own data too.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from modelmuxer.privacy import _values as values
from modelmuxer.privacy.spans import PiiSpan

__all__ = ["CORPUS_KINDS", "LabelledText", "generate_corpus"]


@dataclass(frozen=True, slots=True)
class LabelledText:
    """A text and the exact spans of the values in it (none for a near-miss)."""

    text: str
    spans: tuple[PiiSpan, ...]
    source: str  # the kind it was written for, or "near-miss: <what>"


_CARRIERS: Final[dict[str, tuple[str, ...]]] = {
    "email": ("Please reply to {}.", "My email is {} if you need it.", "Contact: {}",
              "cc {} on the thread", "Send the invoice to <{}>.", "{} wrote the report.",
              "Forward it to {}, thanks!"),
    "phone": ("Call me on {} tomorrow.", "My number is {}.", "Phone: {}", "Tel. {}",
              "You can reach the front desk at {} or by email.", "Text {} when you land.",
              "Emergency contact ({}) is my sister."),
    "credit_card": ("My card number is {}.", "Charge it to {}, exp 12/27.", "Card: {}",
                    "Use the card {} for the booking.", "Payment with {} failed twice."),
    "iban": ("Please transfer to {}.", "IBAN: {}", "My account is {} at the local bank.",
             "Wire the deposit to IBAN {} by Friday."),
    "us_ssn": ("My SSN is {}.", "SSN: {}", "Social security number {} was on the form.",
               "The applicant ({}) passed the check."),
    "ip_address": ("The server at {} is down.", "Blocked IP {} after many failed logins.",
                   "Ping {} and tell me the latency.", "Requests came from {} all night."),
    "api_key": ("My OpenAI key is {}.", "export API_KEY={}", "Here is the token: {}",
                "Authorization: Bearer {}", "Why does {} return 401?"),
    "jwt": ("The token {} expired.", "Authorization: Bearer {}", "Cookie: session={}",
            "Decode this JWT for me: {}"),
    "private_key": ("Here is my key:\n{}\nplease keep it safe.", 'config = {{"key": "{}"}}',
                    "Why does ssh reject\n{}\n?"),
}  # fmt: skip
_SECRET_CARRIERS: Final = (
    "DB_PASSWORD={}", '"client_secret": "{}"', "password: {}", "export GITHUB_TOKEN={}",
    "Authorization: Bearer {}", "postgres://app:{}@db.internal:5432/prod", "SECRET_KEY = '{}'",
    "aws_secret_access_key = {}", "apiKey: \"{}\"",
)  # fmt: skip
_FILLER: Final = (
    "", "", "Hi team,", "Quick question.", "Thanks in advance.", "See the logs below.",
    "This is urgent.", "Can you summarise the ticket?", "Regards, Sam", "FYI:",
)  # fmt: skip

#: every kind the corpus holds
CORPUS_KINDS: Final = (*_CARRIERS, "secret")


def _secret(rng: random.Random) -> tuple[str, str]:
    carrier = rng.choice(_SECRET_CARRIERS)
    value = values.secret_value(rng)
    if "://" in carrier or "Bearer" in carrier:
        value = values._chars(rng, rng.randint(16, 32))  # no '/', '@' or '=' inside
    return carrier, value


def _value(rng: random.Random, kind: str) -> tuple[str, str]:
    """(carrier sentence, value) for ``kind``."""
    if kind == "secret":
        return _secret(rng)
    carrier = rng.choice(_CARRIERS[kind])
    if kind == "us_ssn" and rng.random() < 0.1:
        return "SSN: {}", "".join(values._ssn_parts(rng))  # nine digits after "SSN"
    if kind == "phone" and rng.random() < 0.05:
        a, b, c = values._nanp(rng)
        return "Call {} after five.", a + b + c  # bare digits after "call"
    if kind == "private_key" and "{{" in carrier:
        return carrier, values.private_key(rng).replace("\n", "\\n")
    value = values.VALUES[kind](rng)
    if kind == "ip_address" and rng.random() < 0.25:
        if ":" in value:
            return "Listen on [{}]:443 instead.", value
        return rng.choice(["Connect to {}:8443 over TLS.", "Allow {}/24 in the firewall."]), value
    return carrier, value


def _snippet(rng: random.Random, kinds: list[str], source: str) -> LabelledText:
    text = rng.choice(_FILLER)
    spans: list[PiiSpan] = []
    for kind in kinds:
        carrier, value = _value(rng, kind)
        head, _, tail = carrier.partition("{}")
        head = head.replace("{{", "{").replace("}}", "}")
        tail = tail.replace("{{", "{").replace("}}", "}")
        text = f"{text} {head}" if text else head
        spans.append(PiiSpan(len(text), len(text) + len(value), kind))
        text += value + tail
    filler = rng.choice(_FILLER)
    return LabelledText(f"{text} {filler}" if filler else text, tuple(spans), source)


def generate_corpus(
    seed: int = 20240601, *, per_kind: int = 400, near_misses: int = 2400
) -> list[LabelledText]:
    """``per_kind`` texts written for each kind of :data:`CORPUS_KINDS` (three in ten also
    hold a value of another kind) and ``near_misses`` texts with none, shuffled."""
    rng = random.Random(seed)
    corpus: list[LabelledText] = []
    for kind in CORPUS_KINDS:
        for _ in range(per_kind):
            kinds = [kind]
            if rng.random() < 0.3:
                kinds.append(rng.choice([k for k in CORPUS_KINDS if k != kind]))
                rng.shuffle(kinds)
            corpus.append(_snippet(rng, kinds, kind))
    traps: list[tuple[str, Callable[[random.Random], str]]] = list(values.NEAR_MISSES.items())
    for i in range(near_misses):
        name, make = traps[i % len(traps)]
        corpus.append(LabelledText(make(rng), (), f"near-miss: {name}"))
    rng.shuffle(corpus)
    return corpus
