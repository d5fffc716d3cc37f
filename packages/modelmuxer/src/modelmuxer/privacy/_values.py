"""Random but valid values of each PII kind, and near-misses of them, for the labelled corpus.

Everything is drawn from a :class:`random.Random` passed in, so a seed gives the same corpus
in every process. Values follow the real formats (valid Luhn digits and issuer prefixes,
IBAN check digits computed per country, SSA rules...); near-misses break exactly one rule.
"""

from __future__ import annotations

import base64
import json
import random
import string
from collections.abc import Callable
from typing import Final

from modelmuxer.privacy.validators import IBAN_LENGTHS, card_brand, luhn_valid

__all__ = ["NEAR_MISSES", "VALUES"]

_ALNUM: Final = string.ascii_letters + string.digits
_NAMES: Final = (
    "alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy", "mallory",
    "oscar", "peggy", "trent", "victor", "walter", "yuki", "zoe", "amelie", "jurgen", "sofia",
    "mateo", "priya", "wei", "olga", "kwame", "fatima", "liam", "noor", "hiro",
)  # fmt: skip
_DOMAINS: Final = (
    "example.com", "example.org", "mail.example.net", "corp.acme.io", "uni-heidelberg.de",
    "gmail.com", "outlook.com", "yahoo.co.uk", "company.fr", "startup.ai", "bank.ch",
    "sub.domain.example.museum", "proton.me", "hospital.health", "city.gov",
)  # fmt: skip


def _digits(rng: random.Random, n: int) -> str:
    return "".join(rng.choice(string.digits) for _ in range(n))


def _chars(rng: random.Random, n: int, alphabet: str = _ALNUM) -> str:
    return "".join(rng.choice(alphabet) for _ in range(n))


# -- email -------------------------------------------------------------------------------------


def email(rng: random.Random) -> str:
    first, last = rng.choice(_NAMES), rng.choice(_NAMES)
    local = rng.choice(
        [first, f"{first}.{last}", f"{first}_{last}{rng.randint(1, 99)}", f"{first}+news",
         f"{first[0]}{last}", f"{first}-{last}", f"{first}.{last}.{rng.randint(1970, 2005)}"]
    )  # fmt: skip
    if rng.random() < 0.15:
        local = local.capitalize()
    if rng.random() < 0.05:
        return f"{local}@{rng.choice(['müller.de', 'example.рф', 'bücher.example'])}"
    domain = rng.choice(_DOMAINS)
    return f"{local}@{domain.upper() if rng.random() < 0.05 else domain}"


# -- phone -------------------------------------------------------------------------------------


def _nanp(rng: random.Random) -> tuple[str, str, str]:
    return (f"{rng.randint(2, 9)}{_digits(rng, 2)}", f"{rng.randint(2, 9)}{_digits(rng, 2)}",
            _digits(rng, 4))  # fmt: skip


def phone(rng: random.Random) -> str:
    a, b, c = _nanp(rng)
    formats: list[Callable[[], str]] = [
        lambda: f"({a}) {b}-{c}",
        lambda: f"{a}-{b}-{c}",
        lambda: f"{a}.{b}.{c}",
        lambda: f"+1 {a} {b} {c}",
        lambda: f"+1-{a}-{b}-{c}",
        lambda: f"1-{a}-{b}-{c}",
        lambda: f"+1{a}{b}{c}",
        lambda: f"+1 ({a}) {b}-{c}",
        lambda: f"+1.{a}.{b}.{c}",
        lambda: f"({a}){b}-{c}",
        lambda: f"{a} {b} {c}",
        lambda: f"+44 20 {_digits(rng, 4)} {_digits(rng, 4)}",
        lambda: f"020 {_digits(rng, 4)} {_digits(rng, 4)}",
        lambda: f"07{_digits(rng, 3)} {_digits(rng, 6)}",
        lambda: f"+44 7{_digits(rng, 3)} {_digits(rng, 6)}",
        lambda: f"+33 {rng.randint(1, 9)} " + " ".join(_digits(rng, 2) for _ in range(4)),
        lambda: f"0{rng.randint(1, 9)} " + " ".join(_digits(rng, 2) for _ in range(4)),
        lambda: f"0{rng.randint(6, 7)}." + ".".join(_digits(rng, 2) for _ in range(4)),
        lambda: f"+49 30 {_digits(rng, 8)}",
        lambda: f"030 {_digits(rng, 8)}",
        lambda: f"+49 15{rng.randint(1, 9)} {_digits(rng, 8)}",
        lambda: f"+81 3-{_digits(rng, 4)}-{_digits(rng, 4)}",
        lambda: f"+61 2 {_digits(rng, 4)} {_digits(rng, 4)}",
        lambda: f"+91 9{_digits(rng, 4)} {_digits(rng, 5)}",
        lambda: f"+55 11 9{_digits(rng, 4)}-{_digits(rng, 4)}",
        lambda: f"0049 30 {_digits(rng, 7)}",
        lambda: f"+34 6{_digits(rng, 2)} {_digits(rng, 3)} {_digits(rng, 3)}",
    ]
    return rng.choice(formats)()


# -- payment cards -----------------------------------------------------------------------------

_CARD_PREFIXES: Final = (
    ("4", 16), ("4", 16), ("4", 13), ("4", 19), ("51", 16), ("55", 16), ("2221", 16),
    ("2720", 16), ("34", 15), ("37", 15), ("6011", 16), ("65", 16), ("3530", 16), ("36", 14),
    ("62", 16), ("6759", 19),
)  # fmt: skip


def _luhn_complete(body: str) -> str:
    for check in string.digits:
        if luhn_valid(body + check):
            return body + check
    raise AssertionError("unreachable: one check digit always fits")


def card_digits(rng: random.Random) -> str:
    prefix, length = rng.choice(_CARD_PREFIXES)
    return _luhn_complete(prefix + _digits(rng, length - len(prefix) - 1))


def _card_format(rng: random.Random, digits: str) -> str:
    style = rng.random()
    if len(digits) == 15 and style < 0.6:
        return f"{digits[:4]} {digits[4:10]} {digits[10:]}"
    if style < 0.35:
        return digits
    sep = " " if style < 0.75 else "-"
    return sep.join(digits[i : i + 4] for i in range(0, len(digits), 4))


def credit_card(rng: random.Random) -> str:
    return _card_format(rng, card_digits(rng))


def bad_card(rng: random.Random) -> str:
    """A card-shaped number whose last digit breaks the Luhn checksum."""
    digits = card_digits(rng)
    wrong = str((int(digits[-1]) + rng.randint(1, 9)) % 10)
    return _card_format(rng, digits[:-1] + wrong)


# -- IBAN --------------------------------------------------------------------------------------

_IBAN_COUNTRIES: Final = (
    "DE",
    "GB",
    "FR",
    "ES",
    "IT",
    "NL",
    "BE",
    "CH",
    "AT",
    "PL",
    "SE",
    "NO",
    "DK",
    "FI",
    "IE",
    "PT",
    "LU",
    "GR",
    "CZ",
    "RO",
    "HU",
    "SA",
    "TR",
    "BR",
)


def _iban_check(country: str, bban: str) -> str:
    number = int("".join(str(int(c, 36)) for c in bban + country + "00"))
    return f"{98 - number % 97:02d}"


def _bban(rng: random.Random, country: str) -> str:
    length = IBAN_LENGTHS[country] - 4
    if country in ("GB", "NL", "IE"):  # a bank code in letters
        return _chars(rng, 4, string.ascii_uppercase) + _digits(rng, length - 4)
    if country in ("IT",):
        return rng.choice(string.ascii_uppercase) + _digits(rng, length - 1)
    return _digits(rng, length)


def _iban_format(rng: random.Random, iban: str) -> str:
    return iban if rng.random() < 0.4 else " ".join(iban[i : i + 4] for i in range(0, len(iban), 4))


def iban(rng: random.Random) -> str:
    country = rng.choice(_IBAN_COUNTRIES)
    bban = _bban(rng, country)
    return _iban_format(rng, country + _iban_check(country, bban) + bban)


def bad_iban(rng: random.Random) -> str:
    """An IBAN-shaped string with wrong check digits."""
    country = rng.choice(_IBAN_COUNTRIES)
    bban = _bban(rng, country)
    good = _iban_check(country, bban)
    wrong = good
    while wrong == good:
        wrong = f"{rng.randint(2, 98):02d}"
    return _iban_format(rng, country + wrong + bban)


# -- US SSN ------------------------------------------------------------------------------------


def _ssn_parts(rng: random.Random) -> tuple[str, str, str]:
    area = rng.choice([a for a in (rng.randint(1, 899) for _ in range(3)) if a != 666] or [123])
    return f"{area:03d}", f"{rng.randint(1, 99):02d}", f"{rng.randint(1, 9999):04d}"


def us_ssn(rng: random.Random) -> str:
    a, g, s = _ssn_parts(rng)
    return f"{a} {g} {s}" if rng.random() < 0.1 else f"{a}-{g}-{s}"


def bad_ssn(rng: random.Random) -> str:
    a, g, s = _ssn_parts(rng)
    broken = rng.choice(["000", "666", f"9{_digits(rng, 2)}", "group", "serial"])
    if broken == "group":
        return f"{a}-00-{s}"
    if broken == "serial":
        return f"{a}-{g}-0000"
    return f"{broken}-{g}-{s}"


# -- IP addresses ------------------------------------------------------------------------------


def ip_address(rng: random.Random) -> str:
    roll = rng.random()
    if roll < 0.6:
        first = rng.choice([10, 172, 192, rng.randint(1, 223)])
        return ".".join(str(p) for p in (first, *(rng.randint(0, 255) for _ in range(3))))
    groups = [f"{rng.randint(0, 0xFFFF):x}" for _ in range(8)]
    if roll < 0.75:
        return ":".join(groups)
    if roll < 0.9:
        return f"{groups[0]}:{groups[1]}::{groups[6]}:{groups[7]}"
    return rng.choice(["::1", f"fe80::{groups[7]}", f"2001:db8::{groups[6]}:{groups[7]}",
                       f"::ffff:192.0.2.{rng.randint(1, 254)}"])  # fmt: skip


# -- credentials -------------------------------------------------------------------------------


def api_key(rng: random.Random) -> str:
    makers: list[Callable[[], str]] = [
        lambda: "sk-proj-" + _chars(rng, 48, _ALNUM + "-_") + _chars(rng, 8),
        lambda: "sk-" + _chars(rng, 48),
        lambda: "sk-ant-api03-" + _chars(rng, 93, _ALNUM + "-_") + "AA",
        lambda: "AKIA" + _chars(rng, 16, string.ascii_uppercase + string.digits),
        lambda: "ghp_" + _chars(rng, 36),
        lambda: "github_pat_" + _chars(rng, 22) + "_" + _chars(rng, 59),
        lambda: f"xoxb-{_digits(rng, 12)}-{_digits(rng, 13)}-{_chars(rng, 24)}",
        lambda: "AIza" + _chars(rng, 35, _ALNUM + "-_"),
        lambda: "sk_live_" + _chars(rng, 24),
        lambda: "hf_" + _chars(rng, 34),
        lambda: "glpat-" + _chars(rng, 20),
    ]
    key = rng.choice(makers)()
    while not any(c.isdigit() for c in key):  # what a real key almost always has
        key = key[:-1] + rng.choice(string.digits)
    return key


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def jwt(rng: random.Random) -> str:
    header = {"alg": rng.choice(["HS256", "RS256", "ES256"]), "typ": "JWT"}
    payload = {
        "sub": _digits(rng, 8),
        "name": rng.choice(_NAMES),
        "iat": rng.randint(1_600_000_000, 1_800_000_000),
    }
    return ".".join([_b64(json.dumps(header).encode()), _b64(json.dumps(payload).encode()),
                     _chars(rng, 43, _ALNUM + "-_")])  # fmt: skip


def private_key(rng: random.Random) -> str:
    label = rng.choice(["PRIVATE KEY", "RSA PRIVATE KEY", "EC PRIVATE KEY", "OPENSSH PRIVATE KEY",
                        "ENCRYPTED PRIVATE KEY"])  # fmt: skip
    body = [_chars(rng, 64, _ALNUM + "+/") for _ in range(rng.randint(3, 8))]
    body.append(_chars(rng, rng.randint(4, 60), _ALNUM + "+/") + "==")
    newline = "\\n" if rng.random() < 0.2 else "\n"  # pasted from a JSON string, escaped
    return newline.join([f"-----BEGIN {label}-----", *body, f"-----END {label}-----"])


def secret_value(rng: random.Random) -> str:
    """A password or a random secret, in one of a few shapes."""
    shape = rng.randrange(4)
    if shape == 0:
        return _chars(rng, rng.randint(16, 40))
    if shape == 1:
        return f"{rng.choice(['Summer', 'Winter', 'Monkey', 'Dragon'])}{rng.randint(1990, 2030)}!"
    if shape == 2:
        return _chars(rng, 8) + "#" + _chars(rng, 5)
    return base64.b64encode(rng.randbytes(30)).decode()


#: kind -> a generator of one valid value
VALUES: Final[dict[str, Callable[[random.Random], str]]] = {
    "email": email,
    "phone": phone,
    "credit_card": credit_card,
    "iban": iban,
    "us_ssn": us_ssn,
    "ip_address": ip_address,
    "api_key": api_key,
    "jwt": jwt,
    "private_key": private_key,
}


_HEXDIGITS: Final = "0123456789abcdef"


def _dotted(rng: random.Random, parts: int, top: int) -> str:
    return ".".join(str(rng.randint(0, top)) for _ in range(parts))


def _order_number(rng: random.Random) -> str:
    digits = _digits(rng, rng.choice([6, 8, 10, 12, 16]))
    if luhn_valid(digits) and card_brand(digits):  # indistinguishable from a card: alter it
        digits = digits[:-1] + str((int(digits[-1]) + 1) % 10)
    return digits


def _pem_public(rng: random.Random) -> str:
    label = rng.choice(["PUBLIC KEY", "CERTIFICATE", "RSA PUBLIC KEY"])
    body = "\n".join(_chars(rng, 64, _ALNUM + "+/") for _ in range(3))
    return f"-----BEGIN {label}-----\n{body}\n-----END {label}-----"


#: near-miss name -> a text that holds no PII but looks like some
NEAR_MISSES: Final[dict[str, Callable[[random.Random], str]]] = {
    "card with a bad checksum": lambda r: f"The test number {bad_card(r)} was declined.",
    "order number": lambda r: f"Your order #{_order_number(r)} ships on Monday.",
    "invoice reference": lambda r: f"Invoice INV-{r.randint(2015, 2025)}-{_digits(r, 6)} is due.",
    "tracking number": lambda r: (
        f"Tracking: 1Z{_chars(r, 6, string.ascii_uppercase)}{_digits(r, 10)}"
    ),
    "version string": lambda r: rng_choice(
        r,
        [
            f"Upgrade to version {_dotted(r, 4, 12)}.",
            f"Running v{_dotted(r, 4, 99)} now.",
            f"Windows 10.0.{r.randint(10000, 22631)}.{r.randint(1, 3000)} is installed.",
            f"Python {r.randint(2, 3)}.{r.randint(6, 13)}.{r.randint(0, 12)} fixed it.",
            f"firmware {_dotted(r, 4, 9)} is out",
        ],
    ),
    "dotted numbers": lambda r: rng_choice(
        r,
        [
            f"Section {_dotted(r, 5, 9)} applies.",
            f"The value {r.randint(256, 999)}.{_dotted(r, 3, 255)} overflowed.",
            f"OID 1.3.6.1.4.1.{r.randint(1000, 60000)} is ours.",
            f"Pi is about 3.{_digits(r, 8)}.",
        ],
    ),
    "date or time": lambda r: rng_choice(
        r,
        [
            f"Meeting on {r.randint(2000, 2030)}-{r.randint(1, 12):02d}-{r.randint(1, 28):02d}.",
            f"Due {r.randint(1, 28):02d}/{r.randint(1, 12):02d}/{r.randint(2000, 2030)} at noon.",
            f"Born {r.randint(1, 28):02d}.{r.randint(1, 12):02d}.{r.randint(1950, 2010)} in Lyon.",
            f"Logged at {r.randint(2000, 2030)}-{r.randint(1, 12):02d}-{r.randint(1, 28):02d}"
            f"T{r.randint(0, 23):02d}:{r.randint(0, 59):02d}:00Z",
            f"From {r.randint(1950, 2000)}-{r.randint(2001, 2030)} she lived there.",
            f"It started at {r.randint(0, 23):02d}:{r.randint(0, 59):02d}:{r.randint(10, 59)}.",
            f"On {r.randint(1, 12):02d}.{r.randint(1, 28):02d}.{r.randint(2000, 2030)} "
            f"{r.randint(10, 23)}:{r.randint(10, 59)} the server restarted.",
        ],
    ),
    "numbers and codes": lambda r: rng_choice(
        r,
        [
            f"ISBN 978-{r.randint(0, 9)}-{_digits(r, 2)}-{_digits(r, 6)}-{r.randint(0, 9)}",
            f"The total is ${r.randint(1, 999)},{_digits(r, 3)},{_digits(r, 3)}.{_digits(r, 2)}.",
            f"Population: {r.randint(1, 999)} {_digits(r, 3)} {_digits(r, 3)} people.",
            f"Coordinates {r.randint(-89, 89)}.{_digits(r, 4)}, "
            f"{r.randint(-179, 179)}.{_digits(r, 4)}",
            f"ZIP {_digits(r, 5)}-{_digits(r, 4)}",
            f"Room {r.randint(100, 999)}, extension {r.randint(1000, 9999)}.",
            f"Part no. {_digits(r, 3)}-{_digits(r, 3)}-{_digits(r, 3)}",
            f"Score {r.randint(1, 99)}-{r.randint(1, 99)} after extra time.",
            "UUID " + "-".join(_chars(r, n, _HEXDIGITS) for n in (8, 4, 4, 4, 12)),
            f"commit {_chars(r, 40, _HEXDIGITS)}",
        ],
    ),
    "invalid SSN": lambda r: f"The form listed {bad_ssn(r)}, which the SSA never issues.",
    "IBAN with bad check digits": lambda r: f"Account {bad_iban(r)} was rejected.",
    "colon-separated": lambda r: rng_choice(
        r,
        [
            f"MAC {':'.join(_chars(r, 2, _HEXDIGITS.upper()) for _ in range(6))} joined.",
            "Use std::vector<int> or std::map here.",
            f"Ratio {r.randint(1, 9)}:{r.randint(1, 9)}:{r.randint(1, 9)} works best.",
            "Call Foo::bar::baz() from the handler.",
        ],
    ),
    "not an email": lambda r: rng_choice(
        r,
        [
            f"Follow @{rng_choice(r, list(_NAMES))} on the site.",
            f"Write to {rng_choice(r, list(_NAMES))} at example dot com.",
            f"Ship icon@{r.randint(2, 3)}x.png with the app.",
            f"ssh {rng_choice(r, list(_NAMES))}@localhost works.",
            "Decorators like @property and @staticmethod help.",
        ],
    ),
    "not a phone": lambda r: rng_choice(
        r,
        [
            f"Call me at {r.randint(1, 11)} pm.",
            f"Pages {r.randint(100, 500)}-{r.randint(501, 900)} cover it.",
            "Give it a +1 if you agree.",
            f"The range is {r.randint(100, 999)}-{r.randint(100, 999)}.",
            f"Batch {_digits(r, 3)}-{_digits(r, 2)} passed QA.",
        ],
    ),
    "not a key": lambda r: rng_choice(
        r,
        [
            "Install scikit-learn (sk-learn) first.",
            "The sk-this-is-not-a-real-key-example string is a placeholder.",
            "Set api_key=<your-api-key> in the file.",
            "password: ********",
            "token = os.environ['API_TOKEN']",
            f"max_tokens={r.randint(64, 4096)}",
            f"password_min_length: {r.randint(8, 16)}",
            "sort_key=created_at",
            "secret_santa: true",
            "api_key: ${OPENAI_API_KEY}",
            "The task-force-alpha-bravo-charlie met today.",
            "client_secret: YOUR_CLIENT_SECRET",
            "public_key=ssh-ed25519",
            f"AKIA{_digits(r, 4)} is too short to be a key.",
        ],
    ),
    "public PEM block": _pem_public,
}


def rng_choice(rng: random.Random, options: list[str]) -> str:
    """``rng.choice`` for the near-miss lambdas (they build every option, then pick one)."""
    return rng.choice(options)
