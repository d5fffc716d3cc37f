"""Checks that tell a real identifier from a string that only looks like one.

Pure functions over digits and characters: the Luhn checksum of card numbers, the ISO 7064
mod-97 checksum of IBANs with the registry's length per country, the SSA's rules for US social
security numbers, IPv4 / IPv6 syntax, and the Shannon entropy used to tell secrets from words.
"""

from __future__ import annotations

import ipaddress
import math
from collections import Counter
from typing import Final

__all__ = [
    "IBAN_LENGTHS",
    "card_brand",
    "iban_valid",
    "ipv4_valid",
    "ipv6_valid",
    "luhn_valid",
    "shannon_entropy",
    "ssn_valid",
]

#: IBAN length per country code (SWIFT IBAN registry).
IBAN_LENGTHS: Final[dict[str, int]] = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22,
    "BR": 29, "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DK": 18, "DO": 28,
    "EE": 20, "EG": 29, "ES": 24, "FI": 18, "FO": 18, "FR": 27, "GB": 22, "GE": 22, "GI": 23,
    "GL": 18, "GR": 27, "GT": 28, "HR": 21, "HU": 28, "IE": 22, "IL": 23, "IQ": 23, "IS": 26,
    "IT": 27, "JO": 30, "KW": 30, "KZ": 20, "LB": 28, "LC": 32, "LI": 21, "LT": 20, "LU": 20,
    "LV": 21, "MC": 27, "MD": 24, "ME": 22, "MK": 19, "MR": 27, "MT": 31, "MU": 30, "NL": 18,
    "NO": 15, "PK": 24, "PL": 28, "PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22, "SA": 24,
    "SC": 31, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "ST": 25, "SV": 28, "TL": 23, "TN": 24,
    "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20,
}  # fmt: skip


def luhn_valid(digits: str) -> bool:
    """Whether the digit string passes the Luhn checksum (every payment card number does)."""
    if not digits.isdigit():
        return False
    total = 0
    for i, char in enumerate(reversed(digits)):
        d = ord(char) - 48
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


#: (brand, prefixes, allowed lengths): issuer identification numbers of the major networks.
_BRANDS: Final[tuple[tuple[str, tuple[str, ...], frozenset[int]], ...]] = (
    ("amex", ("34", "37"), frozenset({15})),
    ("visa", ("4",), frozenset({13, 16, 19})),
    ("mastercard", tuple(str(p) for p in (*range(51, 56), *range(2221, 2721))), frozenset({16})),
    ("discover", ("6011", "65", *(str(p) for p in range(644, 650))), frozenset({16, 17, 18, 19})),
    ("jcb", tuple(str(p) for p in range(3528, 3590)), frozenset({16, 17, 18, 19})),
    ("diners", ("30", "36", "38", "39"), frozenset(range(14, 20))),
    ("unionpay", ("62", "81"), frozenset(range(16, 20))),
    ("maestro", ("50", "56", "57", "58", "63", "67", "68", "69"), frozenset(range(12, 20))),
)  # fmt: skip


def card_brand(digits: str) -> str | None:
    """The network of a card number (prefix and length), or ``None`` when none issues it.

    The Luhn checksum is not checked here (see :func:`luhn_valid`).
    """
    length = len(digits)
    for brand, prefixes, lengths in _BRANDS:
        if length in lengths and digits.startswith(prefixes):
            return brand
    return None


def iban_valid(iban: str) -> bool:
    """Whether ``iban`` (no spaces, any case) has its country's length and a mod-97 remainder
    of 1 (ISO 13616)."""
    iban = iban.upper()
    if len(iban) < 5 or not iban.isascii() or not iban.isalnum():
        return False
    if IBAN_LENGTHS.get(iban[:2]) != len(iban) or not iban[2:4].isdigit():
        return False
    rearranged = iban[4:] + iban[:4]
    remainder = 0
    for char in rearranged:
        value = int(char, 36)  # '0'-'9' -> 0-9, 'A'-'Z' -> 10-35
        remainder = (remainder * (100 if value > 9 else 10) + value) % 97
    return remainder == 1


def ssn_valid(area: str, group: str, serial: str) -> bool:
    """Whether the three parts form an SSN the SSA can issue: area not 000, 666 or 9xx, group
    not 00, serial not 0000."""
    if not (area.isdigit() and group.isdigit() and serial.isdigit()):
        return False
    if len(area) != 3 or len(group) != 2 or len(serial) != 4:
        return False
    return area not in ("000", "666") and area[0] != "9" and group != "00" and serial != "0000"


def ipv4_valid(text: str) -> bool:
    """Whether ``text`` is a dotted-quad IPv4 address in canonical form (no leading zeros)."""
    parts = text.split(".")
    if len(parts) != 4:
        return False
    for part in parts:
        if not part.isdigit() or not part.isascii() or len(part) > 3:
            return False
        if (len(part) > 1 and part[0] == "0") or int(part) > 255:
            return False
    return True


def ipv6_valid(text: str) -> bool:
    """Whether ``text`` is an IPv6 address (any RFC 4291 form, with an optional ``%zone``)."""
    address, _, zone = text.partition("%")
    if "%" in text and not zone:
        return False
    try:
        ipaddress.IPv6Address(address)
    except ValueError:
        return False
    return True


def shannon_entropy(text: str) -> float:
    """Bits per character of ``text`` (0 for the empty string)."""
    if not text:
        return 0.0
    n = len(text)
    return -sum(c / n * math.log2(c / n) for c in Counter(text).values())
