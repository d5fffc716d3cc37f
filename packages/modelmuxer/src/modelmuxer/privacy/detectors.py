"""The built-in PII detectors: patterns, and a validator for each that rejects look-alikes.

Kinds: ``email``, ``phone``, ``credit_card`` (Luhn and a known issuer prefix), ``iban``
(country length and mod-97), ``us_ssn`` (the SSA's area / group / serial rules), ``ip_address``
(IPv4 and IPv6, not version strings), and, in :mod:`modelmuxer.privacy.credentials`,
``api_key``, ``jwt``, ``private_key`` and ``secret``. Each detector is registered through
``modelmuxer_register_pii_detectors`` exactly as a third-party one would be.

Names, postal addresses and free-text identifiers are not detected here: plug a model-based
recognizer (Presidio through :class:`~modelmuxer.privacy.PresidioDetector`) in for those.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Final

from modelmuxer.hookspecs import hookimpl
from modelmuxer.privacy import validators as v
from modelmuxer.privacy._regex import matches
from modelmuxer.privacy.credentials import CREDENTIAL_DETECTORS
from modelmuxer.privacy.spans import PiiDetector, PiiSpan, RegexDetector

__all__ = ["BUILTIN_DETECTORS", "BUILTIN_KINDS", "modelmuxer_register_pii_detectors"]


# -- email --------------------------------------------------------------------------------------

_EMAIL: Final = re.compile(
    r"(?<![\w.%+'-])"
    r"[\w%+'-]+(?:\.[\w%+'-]+)*"  # local part: no leading, trailing or doubled dot
    r"@(?:[^\W_](?:[\w-]{0,61}[^\W_])?\.)+"  # domain labels
    r"(?:[^\W\d_]{2,63}|xn--[a-z0-9-]{1,59})"  # the top-level domain
    r"(?![\w-])"
)
#: what precedes the password of a URL (``postgres://user:password@host``): not an email
_URL_USERINFO: Final = re.compile(r"://[^\s/@:]*:$")
#: image assets named for screen densities: icon@2x.png
_DENSITY_ASSET: Final = re.compile(r"\d(?:\.\d)?x\.(?:png|jpe?g|gif|svg|webp|heic)", re.IGNORECASE)
#: the local part before an "@", where an address can start
_LOCAL_CHARS: Final = re.compile(r"[\w%+'.-]{1,64}$")


def _email_matches(text: str) -> Iterator[re.Match[str]]:
    """``_EMAIL`` tried only at the start of the word before each ``@``."""
    at = 0
    while (i := text.find("@", at)) >= 0:
        local = _LOCAL_CHARS.search(text, max(0, i - 64), i)
        start = i if local is None else local.start()
        while start < i and text[start] == ".":
            start += 1
        m = _EMAIL.match(text, start)
        if m is not None:
            yield m
            at = max(m.end(), i + 1)
        else:
            at = i + 1


def _emails(text: str) -> Iterator[PiiSpan]:
    for m in _email_matches(text):
        local, _, domain = m.group().partition("@")
        if len(local) > 64 or m.end() - m.start() > 254 or _DENSITY_ASSET.fullmatch(domain):
            continue
        if _URL_USERINFO.search(text, max(0, m.start() - 200), m.start()):
            continue  # a URL's password: the secret detector reports it
        yield PiiSpan(m.start(), m.end(), "email", 0.95)


# -- phone numbers ------------------------------------------------------------------------------

#: Written with a country code: +44 20 7946 0958, +1 (415) 555-2671, 0049 30 1234567.
_INTERNATIONAL: Final = re.compile(r"(?<![\w+])(?:\+|00)[1-9][\d ().-]{5,22}\d(?!\w)")
#: digit groups with one separator (or none) between them; possessive: no backtracking
_INTERNATIONAL_SHAPE: Final = re.compile(r"(?:\+|00)\d++(?:[ .-]?+(?:\(\d{1,4}\)|\d++))*+")
#: North American numbers: (415) 555-2671, 415-555-2671, 1-800-555-0199, 415.555.2671.
_NANP: Final = re.compile(
    r"(?<![\w+.-])(?:1([ .-]))?"
    r"(?:\([2-9]\d\d\)[ ]?|[2-9]\d\d([ .-]))"
    r"[2-9]\d\d([ .-])\d{4}"
    r"(?![\w-]|\.\d)"
)
#: National numbers with a trunk 0: 020 7946 0958, 01 23 45 67 89, 030-1234567, (020) 7946 0958.
_NATIONAL: Final = re.compile(
    r"(?<![\w+.-])(?:\(0[1-9]\d{0,3}\)[ ]?|0[1-9]\d{0,3}([ .-]))\d{2,8}"
    r"(?:([ .-])\d{2,4}){0,3}(?![\w-]|\.\d|[:/]\d)"
)
#: not phone numbers: a US ZIP+4 code (94103-1234), an SSN-shaped number, a row of 4-digit
#: groups (a card or an account number, maybe mistyped: "0498 8021 0286 30")
_NOT_PHONE: Final = re.compile(r"\d{5}-\d{4}|\d{3}-\d{2}-\d{4}|\d{4}(?:[ .-]\d{4}){2,}")
_ROW_OF_FOURS: Final = re.compile(r"\d{4}(?:[ .-]\d{4}){2,}")
#: A bare run of digits is a phone number only right after a word that says so.
_BARE_DIGITS: Final = re.compile(r"(?<![\w.+-])\d{10,13}(?![\w.-])")
_PHONE_WORD: Final = re.compile(
    r"(?i)\b(?:phone|tel|telephone|mobile|cell|fax|whatsapp|sms|call|text|ring|dial)\b"
    r"[^\d\n]{0,20}$"
)
_DIGITS: Final = re.compile(r"\d")
#: where a phone number can start: "(", "+" or a run of digits (the patterns below never
#: start inside a run of digits: their first digit may not follow a word character)
_PHONE_START: Final = re.compile(r"[(+]|\d+")
#: where the other numbers can start: a run of digits
_NUMBER_START: Final = re.compile(r"\d+")


def _digit_count(s: str) -> int:
    return len(_DIGITS.findall(s))


#: where a group of digits ends inside a candidate (a number may be followed by another)
_GROUP_END: Final = re.compile(r"\d(?!\d)")


def _international_end(candidate: str) -> int | None:
    """The length of the longest phone number that ``candidate`` starts with (it may run on
    into the numbers after it: "+44 20 7946 0958 123-45-6789"), or ``None``."""
    ends = [m.end() for m in _GROUP_END.finditer(candidate)]
    for end in reversed(ends):
        s = candidate[:end]
        if s.endswith("(0") or not _INTERNATIONAL_SHAPE.fullmatch(s):
            continue
        digits = _digit_count(s.replace("(0)", "", 1)) - (2 if s.startswith("00") else 0)
        # all digits ("00" and no separator): more likely a zero-padded number than a phone
        if 8 <= digits <= 15 and not s.isdigit() and not _ROW_OF_FOURS.fullmatch(s):
            return end
    return None


#: what may follow a national number
_NATIONAL_AFTER: Final = re.compile(r"(?![\w-]|\.\d|[:/]\d)")


def _national_end(text: str, start: int, longest: int) -> int | None:
    """Where the national number at ``start`` ends: the longest match (up to ``longest``) with
    9 to 12 digits that is not a date, a ZIP+4 or an SSN ("020 7946 0958 020 7946 0958" holds
    two numbers, not one of 22 digits)."""
    ends = [start + m.end() for m in _GROUP_END.finditer(text[start:longest])]
    for end in reversed(ends):
        s = text[start:end]
        if not 9 <= _digit_count(s) <= 12 or _is_date_like(s) or _NOT_PHONE.fullmatch(s):
            continue
        if _NATIONAL_AFTER.match(text, end) and _NATIONAL.fullmatch(text, start, end):
            return end
    return None


def _nanp_digits_valid(digits: str) -> bool:
    if len(digits) == 11 and digits[0] == "1":
        digits = digits[1:]
    return len(digits) == 10 and digits[0] in "23456789" and digits[3] in "23456789"


def _phones(text: str) -> Iterator[PiiSpan]:
    # one walk over the places a number starts, each tried against every format
    at = 0
    while (hit := _PHONE_START.search(text, at)) is not None:
        span = _phone_at(text, hit.start())
        if span is None:
            at = hit.end()
        else:
            yield span
            at = span.end


def _phone_at(text: str, start: int) -> PiiSpan | None:
    m = _INTERNATIONAL.match(text, start)
    if m is not None:
        end = _international_end(m.group())
        if end is not None:
            return PiiSpan(start, start + end, "phone", 0.9)
    m = _NANP.match(text, start)
    if m is not None:
        area, line = m.group(2), m.group(3)
        if area is None or area == line or (area == " " and line == "-"):
            return PiiSpan(m.start(), m.end(), "phone", 0.85)
    m = _NATIONAL.match(text, start)
    if m is not None:
        end = _national_end(text, start, m.end())
        if end is not None:
            return PiiSpan(start, end, "phone", 0.7)
    m = _BARE_DIGITS.match(text, start)
    if m is not None and _PHONE_WORD.search(text, max(0, start - 40), start):
        run = m.group()
        if _nanp_digits_valid(run) or (run[0] == "0" and 10 <= len(run) <= 11):
            return PiiSpan(m.start(), m.end(), "phone", 0.75)
    return None


_DATE_LIKE: Final = re.compile(r"\d{1,2}([./-])\d{1,2}\1\d{2,4}")


def _is_date_like(s: str) -> bool:
    return _DATE_LIKE.fullmatch(s) is not None


# -- payment cards ------------------------------------------------------------------------------

#: A run of digits with single spaces or dashes between them (split into groups below).
_DIGIT_RUN: Final = re.compile(r"(?<![\w.,+-])\d(?:[ -]?\d){11,}(?![\w]|[.,]\d)")
_GROUP: Final = re.compile(r"\d+")


def _card_groups_ok(groups: list[str]) -> bool:
    sizes = [len(g) for g in groups]
    if len(sizes) == 1:
        return True
    if sizes in ([4, 6, 5], [4, 6, 4]):  # American Express, Diners
        return True
    return all(s == 4 for s in sizes[:-1]) and 1 <= sizes[-1] <= 4


def _card_ok(chunk: str) -> bool:
    seps = set(re.sub(r"\d", "", chunk))
    if len(seps) > 1:
        return False
    digits = chunk.replace(" ", "").replace("-", "")
    if not 12 <= len(digits) <= 19 or not _card_groups_ok(_GROUP.findall(chunk)):
        return False
    return v.luhn_valid(digits) and v.card_brand(digits) is not None


#: an IBAN's country code and check digits: the digits after them are its account number
_IBAN_HEAD: Final = re.compile(r"[A-Za-z]{2}\d{2} $")


def _cards(text: str) -> Iterator[PiiSpan]:
    for m in matches(_DIGIT_RUN, _NUMBER_START, text):
        if _IBAN_HEAD.search(text, max(0, m.start() - 5), m.start()):
            continue
        run = m.group()
        if _card_ok(run):
            yield PiiSpan(m.start(), m.end(), "credit_card", 1.0)
            continue
        for start, end in _cards_within(run):
            yield PiiSpan(m.start() + start, m.start() + end, "credit_card", 1.0)


def _cards_within(run: str) -> Iterator[tuple[int, int]]:
    """The card numbers among other numbers (``4111 1111 1111 1111 123``, ``7 4111 ...``):
    from each group on, the longest stretch of whole groups that is one, grouped as cards are
    (4-4-4-4...). Ungrouped runs are taken whole or not at all: one stretch in ten of a long
    row of digits passes the Luhn check by chance."""
    groups = list(_GROUP.finditer(run))
    if len(groups) < 2:
        return
    i = 0
    while i < len(groups):
        ends: list[tuple[int, int]] = []  # (index of the last group, its end)
        digits = 0
        for j in range(i, len(groups)):
            digits += len(groups[j].group())
            if digits > 19:
                break
            if digits >= 12:
                ends.append((j, groups[j].end()))
        start = groups[i].start()
        found = next(((j, end) for j, end in reversed(ends) if _card_ok(run[start:end])), None)
        if found is None:
            i += 1
        else:
            yield start, found[1]
            i = found[0] + 1


# -- IBAN ---------------------------------------------------------------------------------------

_IBAN_START: Final = re.compile(r"(?<![A-Za-z0-9])([A-Za-z]{2})(\d{2})(?=[ ]?[A-Za-z0-9])")


def _iban_starts(text: str) -> Iterator[re.Match[str]]:
    """``_IBAN_START`` tried two letters before each run of digits (letters are everywhere,
    runs of digits are not)."""
    at = 0
    while (hit := _NUMBER_START.search(text, at)) is not None:
        start, at = hit.start(), hit.end()
        if start >= 2 and hit.end() - start >= 2:
            m = _IBAN_START.match(text, start - 2)
            if m is not None:
                yield m


def _ibans(text: str) -> Iterator[PiiSpan]:
    for m in _iban_starts(text):
        length = v.IBAN_LENGTHS.get(m.group(1).upper())
        if length is None:
            continue
        chars, i, n = [m.group(1), m.group(2)], m.end(), len(text)
        count = 4
        while count < length and i < n:
            c = text[i]
            if c.isascii() and c.isalnum():
                chars.append(c)
                count += 1
                i += 1
            elif c == " " and i + 1 < n and text[i + 1].isascii() and text[i + 1].isalnum():
                i += 1
            else:
                break
        if count != length or (i < n and text[i].isascii() and text[i].isalnum()):
            continue
        if v.iban_valid("".join(chars)):
            yield PiiSpan(m.start(), i, "iban", 1.0)


# -- US social security numbers ----------------------------------------------------------------

_SSN: Final = re.compile(r"(?<![\w.-])(\d{3})([- ])(\d{2})\2(\d{4})(?![\w-]|\.\d)")
_NINE_DIGITS: Final = re.compile(r"(?<![\w.-])\d{9}(?![\w-]|\.\d)")
_SSN_WORD: Final = re.compile(
    r"(?i)\b(?:ssn|ss#|social security(?: number| no\.?| #)?)[^\d\n]{0,12}$"
)


def _ssns(text: str) -> Iterator[PiiSpan]:
    at = 0
    while (hit := _NUMBER_START.search(text, at)) is not None:
        start, at = hit.start(), hit.end()
        m = _SSN.match(text, start)
        if m is not None and v.ssn_valid(m.group(1), m.group(3), m.group(4)):
            yield PiiSpan(start, m.end(), "us_ssn", 0.9)
            at = m.end()
            continue
        m = _NINE_DIGITS.match(text, start)
        if m is None:
            continue
        d = m.group()
        if v.ssn_valid(d[:3], d[3:5], d[5:]) and _SSN_WORD.search(text, max(0, start - 32), start):
            yield PiiSpan(start, m.end(), "us_ssn", 0.85)


# -- IP addresses -------------------------------------------------------------------------------

_IPV4: Final = re.compile(r"(?<![\w.])(?:\d{1,3}\.){3}\d{1,3}(?![\w]|\.\d)")
#: the word before a dotted number that makes it a version, not an address
_VERSION_WORD: Final = re.compile(
    r"(?i)(?:\bv|\bversion|\bver\.?|\brelease|\bbuild|\bfirmware|\bupdate|\bpatch|\bkernel"
    r"|\bpython|\bnode|\bjava|\bchrome|\bios|\bandroid|\bwindows|\bmacos)\s*$"
)
_IPV6: Final = re.compile(
    r"(?<![\w:.])(?:[0-9A-Fa-f]{0,4}:){2,7}(?:(?:\d{1,3}\.){3}\d{1,3}|[0-9A-Fa-f]{1,4})?"
    r"(?:%[\w.]+)?(?![\w:])"
)
_HEX: Final = re.compile(r"[0-9A-Fa-f]")


def _ips(text: str) -> Iterator[PiiSpan]:
    if "." in text:
        for m in matches(_IPV4, _NUMBER_START, text):
            if v.ipv4_valid(m.group()) and not _version_before(text, m.start()):
                yield PiiSpan(m.start(), m.end(), "ip_address", 0.9)
    if ":" in text:
        for m in _ipv6_matches(text):
            s = m.group()
            if _HEX.search(s) and v.ipv6_valid(s):
                yield PiiSpan(m.start(), m.end(), "ip_address", 0.9)


_HEX_TAIL: Final = re.compile(r"[0-9A-Fa-f]{1,4}$")


def _ipv6_matches(text: str) -> Iterator[re.Match[str]]:
    """``_IPV6`` tried only where a group can start before each ``:``."""
    at = 0
    while (i := text.find(":", at)) >= 0:
        group = _HEX_TAIL.search(text, max(at, i - 4), i)
        start = i if group is None else group.start()
        m = _IPV6.match(text, start)
        if m is not None and m.end() > start:
            yield m
            at = m.end()
        else:
            at = i + 1


def _version_before(text: str, start: int) -> bool:
    return _VERSION_WORD.search(text, max(0, start - 16), start) is not None


#: The built-in detectors (credentials: see :mod:`modelmuxer.privacy.credentials`).
BUILTIN_DETECTORS: Final[tuple[PiiDetector, ...]] = (
    RegexDetector("email", {"email"}, _emails, needs="@"),
    RegexDetector("phone", {"phone"}, _phones),
    RegexDetector("credit_card", {"credit_card"}, _cards),
    RegexDetector("iban", {"iban"}, _ibans),
    RegexDetector("us_ssn", {"us_ssn"}, _ssns),
    RegexDetector("ip_address", {"ip_address"}, _ips),
    *CREDENTIAL_DETECTORS,
)
#: Every kind the built-in detectors report.
BUILTIN_KINDS: Final[frozenset[str]] = frozenset(k for d in BUILTIN_DETECTORS for k in d.kinds)


@hookimpl
def modelmuxer_register_pii_detectors(register: Callable[[PiiDetector], None]) -> None:
    """The built-in detectors."""
    for detector in BUILTIN_DETECTORS:
        register(detector)
