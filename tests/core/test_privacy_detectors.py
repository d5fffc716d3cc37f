"""The built-in PII detectors: each format they claim, the look-alikes they must not take, and
no crash (only spans inside the text) whatever the input."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from modelmuxer.privacy import PiiScanner
from modelmuxer.privacy.detectors import BUILTIN_DETECTORS, BUILTIN_KINDS
from modelmuxer.privacy.validators import (
    card_brand,
    iban_valid,
    ipv4_valid,
    ipv6_valid,
    luhn_valid,
    shannon_entropy,
    ssn_valid,
)

SCANNER = PiiScanner(BUILTIN_DETECTORS)


def _found(text: str) -> list[tuple[str, str]]:
    return [(s.kind, text[s.start : s.end]) for s in SCANNER.scan(text)]


# -- validators ----------------------------------------------------------------------------------


def test_luhn_and_brands() -> None:
    assert luhn_valid("4111111111111111")
    assert luhn_valid("378282246310005")
    assert not luhn_valid("4111111111111112")
    assert not luhn_valid("41111111x1111111")
    assert card_brand("4111111111111111") == "visa"
    assert card_brand("378282246310005") == "amex"
    assert card_brand("5555555555554444") == "mastercard"
    assert card_brand("2223003122003222") == "mastercard"
    assert card_brand("6011111111111117") == "discover"
    assert card_brand("1234567812345670") is None  # Luhn-valid, no network issues it
    assert card_brand("411111111111111") is None  # a Visa prefix with an Amex length


def test_iban_check_digits_and_lengths() -> None:
    assert iban_valid("GB82WEST12345698765432")
    assert iban_valid("de89370400440532013000")  # any case
    assert iban_valid("NO9386011117947")
    assert not iban_valid("GB83WEST12345698765432")  # check digits
    assert not iban_valid("GB82WEST1234569876543")  # length for GB
    assert not iban_valid("XX82WEST12345698765432")  # no such country
    assert not iban_valid("GB82 WEST 1234")


def test_ssn_rules() -> None:
    assert ssn_valid("123", "45", "6789")
    for area, group, serial in [("000", "12", "3456"), ("666", "12", "3456"),
                                ("912", "12", "3456"), ("123", "00", "4567"),
                                ("123", "45", "0000"), ("12", "345", "6789")]:  # fmt: skip
        assert not ssn_valid(area, group, serial)


def test_ip_syntax() -> None:
    assert ipv4_valid("192.168.0.1")
    assert not ipv4_valid("256.1.1.1")
    assert not ipv4_valid("01.2.3.4")
    assert not ipv4_valid("1.2.3")
    assert ipv6_valid("2001:db8::1")
    assert ipv6_valid("fe80::1%eth0")
    assert not ipv6_valid("fe80::1%")
    assert not ipv6_valid("12:30:45")
    assert shannon_entropy("") == 0.0
    assert shannon_entropy("aaaa") == 0.0
    assert shannon_entropy("abcd") == pytest.approx(2.0)


# -- what is found -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "kind", "value"),
    [
        (
            "Write to alice.smith+news@mail.example.co.uk today.",
            "email",
            "alice.smith+news@mail.example.co.uk",
        ),
        ("jürgen@müller.de schrieb", "email", "jürgen@müller.de"),
        ("Call (415) 555-2671 now", "phone", "(415) 555-2671"),
        ("Call 415.555.2671 now", "phone", "415.555.2671"),
        ("Ring +44 20 7946 0958.", "phone", "+44 20 7946 0958"),
        ("Ring +44 (0)20 7946 0958.", "phone", "+44 (0)20 7946 0958"),
        ("Appelle 01 23 45 67 89 demain", "phone", "01 23 45 67 89"),
        ("Mobil +4915112345678", "phone", "+4915112345678"),
        ("phone: 4155552671", "phone", "4155552671"),
        ("Card 4111 1111 1111 1111, exp 12/27", "credit_card", "4111 1111 1111 1111"),
        ("Amex 3782 822463 10005.", "credit_card", "3782 822463 10005"),
        ("card=5555-5555-5555-4444;", "credit_card", "5555-5555-5555-4444"),
        ("IBAN GB82 WEST 1234 5698 7654 32 please", "iban", "GB82 WEST 1234 5698 7654 32"),
        ("to DE89370400440532013000.", "iban", "DE89370400440532013000"),
        ("SSN 123-45-6789.", "us_ssn", "123-45-6789"),
        ("my SSN is 123456789", "us_ssn", "123456789"),
        ("Host 10.0.0.1:8080 is down", "ip_address", "10.0.0.1"),
        ("Allow 192.168.1.0/24", "ip_address", "192.168.1.0"),
        ("Listen on [2001:db8::8a2e:370:7334]:443", "ip_address", "2001:db8::8a2e:370:7334"),
        ("loopback ::1 only", "ip_address", "::1"),
        ("key sk-proj-" + "Ab1" * 20 + " leaked", "api_key", "sk-proj-" + "Ab1" * 20),
        ("AWS AKIAIOSFODNN7EXAMPLE key", "api_key", "AKIAIOSFODNN7EXAMPLE"),
        ("token ghp_" + "a1B2c3" * 6 + ".", "api_key", "ghp_" + "a1B2c3" * 6),
        (
            "slack xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx",
            "api_key",
            "xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx",
        ),
        ("DB_PASSWORD=hunter22!", "secret", "hunter22!"),
        ('{"client_secret": "q8Zr2LmX0pWvT7nB"}', "secret", "q8Zr2LmX0pWvT7nB"),
        ("postgres://app:s3cretPw@db:5432/x", "secret", "s3cretPw"),
        ("Authorization: Bearer abcDEF123456ghiJKL789", "secret", "abcDEF123456ghiJKL789"),
    ],
)
def test_each_format_is_found(text: str, kind: str, value: str) -> None:
    assert (kind, value) in _found(text)


def test_jwt_and_private_key_are_found_whole() -> None:
    jwt = (
        "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0."
        "dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U"
    )
    assert _found(f"Bearer {jwt} expired") == [("jwt", jwt)]
    pem = "-----BEGIN RSA PRIVATE KEY-----\nMIIEow\nAAAA==\n-----END RSA PRIVATE KEY-----"
    assert _found(f"key:\n{pem}\nthanks") == [("private_key", pem)]
    escaped = pem.replace("\n", "\\n")  # pasted from a JSON string
    assert _found(f'{{"k": "{escaped}"}}') == [("private_key", escaped)]
    truncated = "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC"
    assert _found(truncated) == [("private_key", truncated)]


@pytest.mark.parametrize(
    "text",
    [
        "Card 4111 1111 1111 1112 was declined.",  # Luhn
        "Order #1234567890 ships Monday.",
        "Upgrade to version 1.2.3.4 today.",
        "Running v10.0.19041.1 now.",
        "Section 1.2.3.4.5 applies.",
        "Meeting on 2024-03-15 at 10:30:00.",
        "Born 15.03.1985 in Lyon.",
        "ISBN 978-3-16-148410-0",
        "ZIP 94103-1234",
        "The form listed 000-12-3456 and 666-12-3456.",
        "Account GB83 WEST 1234 5698 7654 32 was rejected.",
        "MAC 00:1A:2B:3C:4D:5E joined.",
        "Use std::vector here.",
        "Ship icon@2x.png with the app.",
        "Install sk-learn first; sk-this-is-not-a-real-key-example.",
        "api_key=<your-api-key> and password: ******** and max_tokens=1024",
        "token = os.environ['API_TOKEN']; secret_santa: true; sort_key=created_at",
        "-----BEGIN PUBLIC KEY-----\nMIIBIjAN\n-----END PUBLIC KEY-----",
        "commit 3f2a1b9c8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a",
        "What is the capital of France?",
    ],
)
def test_look_alikes_are_not_taken(text: str) -> None:
    assert _found(text) == []


def test_the_builtin_kinds() -> None:
    assert {
        "email", "phone", "credit_card", "iban", "us_ssn", "ip_address", "api_key", "jwt",
        "private_key", "secret",
    } == BUILTIN_KINDS  # fmt: skip


# -- any input -----------------------------------------------------------------------------------

_PIECES = st.sampled_from(
    ["4111 1111 1111 1111", "a@b.co", "+44 20 7946 0958", "::", "::1", "1.2.3.4", "-----BEGIN ",
     "PRIVATE KEY-----", "eyJ", "sk-", "password=", ":", "=", "(", ")", "+", "0", "00", "123-45-",
     "GB82", " ", "\n", "@", ".", "-", "x", "9", "SSN ", "Bearer ", "://u:"]
)  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(), st.lists(st.one_of(_PIECES, st.text(max_size=4))).map("".join)))
def test_any_text_gives_ordered_spans_inside_it(text: str) -> None:
    spans = SCANNER.scan(text)
    previous_end = 0
    for span in spans:
        assert previous_end <= span.start < span.end <= len(text)
        assert span.kind in BUILTIN_KINDS
        assert 0.5 <= span.score <= 1.0
        previous_end = span.end
    for detector in BUILTIN_DETECTORS:  # each one alone, too
        for start, end, kind, _ in detector.detect(text):
            assert 0 <= start < end <= len(text)
            assert kind in detector.kinds


def test_long_adversarial_inputs_finish() -> None:
    # shapes that make backtracking patterns explode; they must come back (quickly)
    for text in [
        "1 " * 20_000,
        "+1" + " 1" * 5_000 + ")",
        "a" * 50_000 + "@",
        "a." * 20_000 + "@b",
        ":" * 30_000,
        "1:" * 20_000,
        "password=" * 5_000,
        "-----BEGIN PRIVATE KEY-----" + "A" * 100_000,
        "(" * 10_000 + "0" * 10_000,
    ]:
        assert isinstance(SCANNER.scan(text), list)
