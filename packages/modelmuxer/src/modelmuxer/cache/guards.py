"""Guards against the classic false hits of a semantic cache.

Two prompts may share an answer only when their *signatures* are equal: the numbers (in order),
the arithmetic and comparison operators, the negations, the names (capitalised words that are
not common words, quoted strings) and the units they mention. "What is 2+2?" and "What is 2+3?"
differ in a number, "Is X safe?" and "Is X not safe?" in a negation, "5 km" and "5 miles" in a
unit, "Paris" and "Rome" in a name; similarity never overrides a signature mismatch.

Limits: an antonym without a negation word ("safe" / "dangerous"), a lower-case name, or a
number written as a word are not seen here; the similarity threshold is the only guard then.
"""

from __future__ import annotations

import json
import re

__all__ = ["prompt_signature"]

_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
_OPERATOR = re.compile(r"(?<=[\d\s)])([-+*/^%=<>×÷]|<=|>=|!=)(?=[\s\d(])")
_QUOTED = re.compile(r"\"([^\"]{1,80})\"|'([^']{1,80})'|“([^”]{1,80})”")
_TOKEN = re.compile(r"[A-Za-zÀ-ÖØ-öø-ÿ][\w'’-]*|[$€£¥%°]")


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


_NEGATIONS = _words(
    "not no never none nobody nothing nowhere neither nor cannot without isn't aren't wasn't "
    "weren't don't doesn't didn't won't wouldn't can't couldn't shouldn't mustn't hasn't "
    "haven't hadn't isnt arent dont doesnt didnt wont cant couldnt shouldnt nicht kein keine "
    "pas jamais ne nunca"
)
#: Units counted wherever they appear (not ordinary English words).
_UNITS = _words(
    "mm cm km inch inches ft feet yd yard yards mile miles nm mg kg lb lbs pound pounds oz "
    "ounce ounces ml liter liters litre litres gallon gallons pint pints meter meters metre "
    "metres kilometer kilometers kilometre kilometres gram grams kilogram kilograms "
    "millisecond milliseconds second seconds minute minutes hour hours day days week weeks "
    "month months year years celsius fahrenheit kelvin mph kph kmh kb mb gb tb byte bytes "
    "bit bits hz khz mhz ghz kw mw kwh mah kj cal kcal kpa psi atm usd eur gbp jpy chf cny "
    "dollar dollars euro euros cent cents percent $ € £ ¥ % °"
)
#: Short or ambiguous units ("a", "in", "m", "min"): counted only right after a number.
_ATTACHED_UNITS = _UNITS | _words("m g s t h l c f k v w a j pa in min ms sec hr bar cup cups")
_NUMBER_UNIT = re.compile(r"\d(?:[.,]?\d)*\s?([A-Za-z]+|[°%])")
#: Capitalised words that start sentences and say nothing about names.
_COMMON = _words(
    "a an the i i'm i've i'd i'll is are was were be am do does did can could would should "
    "will shall may might must have has had what which who whom whose when where why how "
    "please tell give write explain describe list show find make create define compare "
    "convert calculate compute summarize summarise translate name help let lets let's "
    "suggest recommend provide generate draft rewrite fix implement solve check "
    "in on at for to from of by with about and or but if then so this that these those "
    "it its my your our their his her we you they he she there here yes ok okay hi hello "
    "hey dear thanks thank"
)


def _negations(words: list[str]) -> int:
    return sum(1 for w in words if w in _NEGATIONS or w.endswith("n't"))


def prompt_signature(text: str) -> str:
    """The signature of ``text`` (a short string): two prompts may share an answer only when
    their signatures are equal."""
    tokens = _TOKEN.findall(text)
    words = [t.lower().replace("’", "'") for t in tokens]
    capitalised = [w for t, w in zip(tokens, words, strict=True) if t[0].isupper()]
    quoted = [next(g for g in m.groups() if g).strip().lower() for m in _QUOTED.finditer(text)]
    # in order of appearance: "Alice asked Bob" is not "Bob asked Alice"
    names = list(dict.fromkeys([w for w in capitalised if w not in _COMMON] + quoted))
    attached = [u.lower() for u in _NUMBER_UNIT.findall(text) if u.lower() in _ATTACHED_UNITS]
    numbers = [n.replace(",", "") for n in _NUMBER.findall(text)]
    return json.dumps(
        [
            numbers,
            _OPERATOR.findall(text),
            _negations(words),
            names,
            [w for w in words if w in _UNITS],  # in order: "5 km to miles" is not "5 miles to km"
            attached,
        ],
        ensure_ascii=False,
        separators=(",", ":"),
    )
