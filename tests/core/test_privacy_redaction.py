"""One request's redaction: a placeholder per distinct value, restored exactly; placeholders
already in the text never collide; the mapping never leaves memory; malformed detector output
and settings are typed errors."""

from __future__ import annotations

import copy
import json
import pickle
from collections.abc import Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from modelmuxer import ConfigError, PluginError, SensitiveDataError
from modelmuxer.config import load_settings
from modelmuxer.privacy import (
    PiiScanner,
    PiiSpan,
    PlaceholderFormat,
    PresidioDetector,
    PrivacySettings,
    Redactor,
)
from modelmuxer.privacy.detectors import BUILTIN_DETECTORS

SCANNER = PiiScanner(BUILTIN_DETECTORS)
DEFAULT = PlaceholderFormat("[{KIND}_{n}]")
FORMATS = [DEFAULT, PlaceholderFormat("<{kind}:{n}>"), PlaceholderFormat("(pii-{n}-{kind})")]


def _redact(text: str, fmt: PlaceholderFormat = DEFAULT) -> tuple[str, Redactor]:
    redactor = Redactor(fmt, fmt.lookalikes(text))
    return redactor.redact(text, SCANNER.scan(text)), redactor


def test_one_placeholder_per_distinct_value() -> None:
    text = "a@x.com wrote to b@y.org, then a@x.com again; call +44 20 7946 0958."
    redacted, redactor = _redact(text)
    assert redacted == "[EMAIL_1] wrote to [EMAIL_2], then [EMAIL_1] again; call [PHONE_1]."
    assert redactor.counts == {"email": 2, "phone": 1}
    assert redactor.restore(redacted) == text
    assert (
        redactor.restore("reply to [EMAIL_2] or [PHONE_1]")
        == "reply to b@y.org or +44 20 7946 0958"
    )
    assert redactor.restore("unknown [EMAIL_3] stays") == "unknown [EMAIL_3] stays"


def test_placeholders_already_in_the_text_are_never_handed_out() -> None:
    text = "The template says [EMAIL_1] and [EMAIL_2]; mine is me@x.com."
    redacted, redactor = _redact(text)
    assert redacted == "The template says [EMAIL_1] and [EMAIL_2]; mine is [EMAIL_3]."
    # the model echoes the user's literal placeholders: they stay as they were
    assert redactor.restore("[EMAIL_1], [EMAIL_2], [EMAIL_3]") == "[EMAIL_1], [EMAIL_2], me@x.com"
    assert redactor.restore(redacted) == text


def test_restore_json_escapes_values() -> None:
    key = "-----BEGIN PRIVATE KEY-----\nMIIEvQ\n-----END PRIVATE KEY-----"
    redactor = Redactor(DEFAULT)
    placeholder = redactor.placeholder(key, "private_key")
    arguments = json.dumps({"key": placeholder, "note": "ok"})
    assert json.loads(redactor.restore_json(arguments)) == {"key": key, "note": "ok"}
    assert redactor.restore(placeholder) == key


def test_the_mapping_never_leaves_memory() -> None:
    _, redactor = _redact("me@secret.example.com and 4111 1111 1111 1111")
    for shown in (repr(redactor), str(redactor), f"{redactor}"):
        assert "secret.example" not in shown
        assert "4111" not in shown
        assert "2 values" in shown
    for attempt in (
        lambda: pickle.dumps(redactor),
        lambda: copy.copy(redactor),
        lambda: copy.deepcopy(redactor),
        redactor.__getstate__,
    ):
        with pytest.raises(SensitiveDataError):
            attempt()
    with pytest.raises(TypeError):
        json.dumps(redactor)
    assert not hasattr(redactor, "__dict__")


# -- properties ----------------------------------------------------------------------------------

_PII = st.sampled_from(
    ["a@b.co", "x.y+z@mail.example.org", "4111 1111 1111 1111", "+44 20 7946 0958",
     "(415) 555-2671", "GB82 WEST 1234 5698 7654 32", "123-45-6789", "10.0.0.1", "2001:db8::1",
     "AKIAIOSFODNN7EXAMPLE", "password=hunter22", "[EMAIL_1]", "[PHONE_2]", "<email:1>",
     "(pii-1-email)", "[", "]", "_", "1"]
)  # fmt: skip
_TEXTS = st.one_of(
    st.text(),
    st.lists(st.one_of(_PII, st.text(max_size=6), st.sampled_from([" ", ", ", "\n"]))).map("".join),
)


@settings(max_examples=400, deadline=None)
@given(text=_TEXTS, fmt=st.sampled_from(FORMATS))
def test_restore_undoes_redact_for_any_text(text: str, fmt: PlaceholderFormat) -> None:
    redacted, redactor = _redact(text, fmt)
    assert redactor.restore(redacted) == text
    spans = SCANNER.scan(text)
    # every value is gone from the redacted text, unless the text also holds it elsewhere
    # undetected (e.g. inside a longer token)
    for span in spans:
        value = text[span.start : span.end]
        outside = text[: span.start] + "\x00" + text[span.end :]
        if value not in outside.replace("\x00", " "):
            assert value not in redacted
    # the placeholders handed out never collide with what the text held
    handed = {redactor.placeholder(text[s.start : s.end], s.kind) for s in spans}
    assert not handed & fmt.lookalikes(text)
    assert len(handed) == len({text[s.start : s.end] for s in spans})


@settings(max_examples=200, deadline=None)
@given(text=_TEXTS, answer=st.lists(st.one_of(_PII, st.text(max_size=5))).map("".join))
def test_restore_only_touches_this_requests_placeholders(text: str, answer: str) -> None:
    _, redactor = _redact(text)
    restored = redactor.restore(answer)
    # anything in the answer that is not a handed-out placeholder survives as it was
    assert DEFAULT.sub(lambda p: p, restored) == restored
    if not redactor:
        assert restored == answer


# -- placeholder formats and settings ------------------------------------------------------------


@pytest.mark.parametrize(
    "template",
    [
        "{KIND}_{n}]",
        "[{KIND}_{n}",
        "[{KIND}{n}]",
        "[{n}]",
        "[{KIND}_{n}_{x}]",
        "[{KIND} {n}]",
        '["{KIND}_{n}"]',
        "[[{KIND}_{n}]",
        "[{KIND}_{n}]]",
        "[{KIND}_{n}9]",
        "[{KIND:>4}_{n}]",
        "[" + "x" * 40 + "{KIND}_{n}]",
        "[{KIND}_{n}}",
        "«{KIND}_{n}»",
    ],
)
def test_bad_placeholder_formats_are_config_errors(template: str) -> None:
    with pytest.raises(ConfigError, match=r"privacy\.placeholder"):
        load_settings(privacy={"redact": True, "placeholder": template})


def test_settings_defaults_and_kind_names() -> None:
    defaults = PrivacySettings()
    assert (defaults.redact, defaults.active, defaults.mode) == (False, False, "restore")
    assert defaults.placeholder == "[{KIND}_{n}]"
    with pytest.raises(ConfigError, match=r"privacy\.kinds"):
        load_settings(privacy={"redact": True, "kinds": ["Email"]})
    with pytest.raises(ConfigError, match=r"privacy\.mode"):
        load_settings(privacy={"redact": True, "mode": "block"})


def test_unknown_kinds_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="no registered detector reports person"):
        PiiScanner(BUILTIN_DETECTORS, kinds=["email", "person"])
    only = PiiScanner(BUILTIN_DETECTORS, kinds=["email"])
    assert [s.kind for s in only.scan("a@b.co 4111 1111 1111 1111")] == ["email"]
    assert {d.name for d in only.detectors} == {"email"}


# -- detectors that break the contract -----------------------------------------------------------


class _Returns:
    name = "bad"
    kinds = frozenset({"thing"})

    def __init__(self, spans: object) -> None:
        self.spans = spans

    def detect(self, text: str) -> object:
        return self.spans


class _Raises:
    name = "boom"
    kinds = frozenset({"thing"})

    def detect(self, text: str) -> Sequence[PiiSpan]:
        raise RuntimeError(f"cannot parse {text}")


_SPAN_PARTS = st.one_of(
    st.integers(-3, 12), st.floats(allow_nan=True), st.text(max_size=3), st.booleans(),
    st.none(), st.just("thing"),
)  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.lists(st.tuples(*[_SPAN_PARTS] * 3)), st.lists(st.tuples(*[_SPAN_PARTS] * 4)),
                 st.lists(_SPAN_PARTS), _SPAN_PARTS))  # fmt: skip
def test_malformed_spans_are_plugin_errors_or_valid(spans: object) -> None:
    text = "some text!"
    scanner = PiiScanner([_Returns(spans)])
    try:
        found = scanner.scan(text)
    except PluginError as exc:
        message = str(exc)
        found = []
    else:
        message = "PII detector 'bad'"
    assert "'bad'" in message
    assert text not in message
    for span in found:  # accepted: then it is a real span of the text
        assert 0 <= span.start < span.end <= len(text)
        assert span.kind == "thing"


def test_a_raising_detector_is_a_plugin_error_without_the_text() -> None:
    with pytest.raises(PluginError, match="'boom' raised RuntimeError") as caught:
        PiiScanner([_Raises()]).scan("alice's secret diary")
    assert "diary" not in str(caught.value)
    assert caught.value.__cause__ is None
    assert caught.value.__suppress_context__


@pytest.mark.parametrize(
    ("detector", "match"),
    [
        (object(), "is not a PII detector"),
        (type("D", (), {"name": "", "kinds": {"x"}, "detect": lambda s, t: []})(), "name"),
        (type("D", (), {"name": "d", "kinds": "email", "detect": lambda s, t: []})(), "kinds"),
        (type("D", (), {"name": "d", "kinds": {"Bad Kind"}, "detect": lambda s, t: []})(), "kind"),
    ],
)
def test_malformed_detectors_are_plugin_errors(detector: object, match: str) -> None:
    with pytest.raises(PluginError, match=match):
        PiiScanner([detector])  # type: ignore[list-item]


def test_two_detectors_with_one_name_are_an_error() -> None:
    with pytest.raises(PluginError, match="two plugins register a PII detector named 'email'"):
        PiiScanner([*BUILTIN_DETECTORS, BUILTIN_DETECTORS[0]])


def test_overlapping_spans_are_merged_under_the_best_kind() -> None:
    class Wide:
        name = "wide"
        kinds = frozenset({"address"})

        def detect(self, text: str) -> list[tuple[int, int, str, float]]:
            return [(0, 20, "address", 0.6)]

    scanner = PiiScanner([*BUILTIN_DETECTORS, Wide()])
    text = "me@x.com lives at 10 Main St"
    (span,) = scanner.scan(text)
    assert (span.start, span.end, span.kind) == (0, 20, "email")  # the union, the best kind
    assert PiiScanner([Wide()], min_score=0.7).scan(text) == []


# -- Presidio ------------------------------------------------------------------------------------


class FakeRecognizerResult:
    """What presidio_analyzer.RecognizerResult carries."""

    def __init__(self, entity_type: str, start: int, end: int, score: float) -> None:
        self.entity_type, self.start, self.end, self.score = entity_type, start, end, score


class FakeAnalyzerEngine:
    """presidio_analyzer.AnalyzerEngine's interface: analyze(text, language, entities)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, list[str] | None]] = []

    def analyze(
        self, text: str, language: str, entities: list[str] | None = None, **kwargs: object
    ) -> list[FakeRecognizerResult]:
        self.calls.append((language, entities))
        results = []
        for name in ("Ada Lovelace", "Alan Turing"):
            at = text.find(name)
            if at >= 0:
                results.append(FakeRecognizerResult("PERSON", at, at + len(name), 0.85))
        at = text.find("London")
        if at >= 0:
            results.append(FakeRecognizerResult("LOCATION", at, at + 6, 0.4))  # low score
        return results


def test_a_presidio_analyzer_plugs_in() -> None:
    engine = FakeAnalyzerEngine()
    detector = PresidioDetector(engine, entities={"PERSON": "person", "LOCATION": "location"})
    assert detector.kinds == {"person", "location"}
    scanner = PiiScanner([*BUILTIN_DETECTORS, detector])
    text = "Ada Lovelace (ada@example.com) met Alan Turing in London."
    redactor = Redactor(DEFAULT)
    redacted = redactor.redact(text, scanner.scan(text))
    assert redacted == "[PERSON_1] ([EMAIL_1]) met [PERSON_2] in London."
    assert engine.calls == [("en", ["PERSON", "LOCATION"])]
    assert redactor.restore(redacted) == text
    with pytest.raises(ValueError, match="lower-case"):
        PresidioDetector(engine, entities={"PERSON": "Person"})
