"""``analyze``: the features of a request, from cheap heuristics over a bounded sample of its text.

What is read: the last user message (the query; only its first ``_HEAD`` and last ``_TAIL``
characters when it is longer), the head of the system message (its code, maths and reasoning
cues count half, its explicit asks such as "translate into German" in full) and the tail of the
message before the query (its code, maths and reasoning cues count half, so "now make it faster"
after a code answer stays a code task). Each text is lower-cased and split into words once;
every cue is then a set intersection, a dictionary lookup or a substring test gated by a
one-character search, so analysis costs a few tens of microseconds whatever the prompt size.
Nothing is downloaded and nothing is called.
"""

from __future__ import annotations

import math
import re
import string
from collections.abc import Iterable, Mapping
from typing import Final

from modelmuxer.analysis.features import QueryFeatures, TaskType
from modelmuxer.analysis.tokens import estimate_request_tokens, estimate_tokens
from modelmuxer.types import Request

__all__ = ["analyze"]

_HEAD: Final = 3000  # characters of a long query read from its start (where the ask usually is)
_TAIL: Final = 2000  # ... and from its end (where the ask is when a document comes first)
_CONTEXT: Final = 600  # characters read from the system message and from the previous turn
_LONG_DOCUMENT: Final = 4000  # characters: a query this long carries a document
_ASK: Final = 500  # characters at each end of a document where its ask is looked for

# Signals: indices into the vector ``_scan`` fills, in points. CODE, MATH and REASON accumulate
# scores (100 points = a score of 1.0); the others count cues (one explicit cue is 100).
_CODE, _MATH, _REASON = 0, 1, 2
_TRANSLATE, _SUMMARIZE, _EXTRACT, _CLASSIFY = 3, 4, 5, 6
_CREATIVE, _WRITING, _COMPOSE, _DIGEST = 7, 8, 9, 10
_SMALLTALK, _QUESTION = 11, 12
_SIGNALS: Final = 13
_TASK_CUES: Final = range(_TRANSLATE, _DIGEST + 1)

# A cue: (phrase, signal, points). The word alone is the cue when the phrase is "" (which every
# text contains); otherwise the phrase must be in the text too. Scores are kept in integer
# points (100 = 1.0) so that sums are exact and thresholds need no rounding.
_Cue = tuple[str, int, int]


def _cues(
    groups: Iterable[tuple[str, tuple[tuple[int, int], ...]]],
    phrases: Mapping[str, tuple[_Cue, ...]],
) -> Mapping[bytes, tuple[_Cue, ...]]:
    """Word -> the cues it triggers; a word in several groups feeds all of them."""
    table: dict[bytes, tuple[_Cue, ...]] = {}
    for words, signals in groups:
        for word in words.split():
            key = word.encode()
            table[key] = (*table.get(key, ()), *(("", s, v) for s, v in signals))
    for word, cues in phrases.items():
        key = word.encode()
        table[key] = (*table.get(key, ()), *cues)
    return table


# Phrases, looked up (a substring test) only when their rarest word is present.
_PHRASES: Final[Mapping[str, tuple[_Cue, ...]]] = {
    "step": (("step by step", _REASON, 45), ("step-by-step", _REASON, 45)),
    "explain": (("explain why", _REASON, 30), ("explain how", _REASON, 20)),
    "walk": (("walk me through", _REASON, 30),),
    "think": (("think through", _REASON, 30), ("think carefully", _REASON, 30)),
    "difference": (("difference between", _REASON, 20),),
    "happen": (("what would happen", _REASON, 30),),
    "trade": (("trade-off", _REASON, 15),),
    "pros": (("pros and cons", _REASON, 20),),
    "many": (("how many", _MATH, 25),),
    "much": (("how much", _MATH, 10),),
    "how": (("how are you", _SMALLTALK, 100),),
    "going": (("how's it going", _SMALLTALK, 100),),
    "say": (("how do you say", _TRANSLATE, 100),),
    "up": (("what's up", _SMALLTALK, 100),),
    "morning": (("good morning", _SMALLTALK, 100),),
    "meet": (("nice to meet you", _SMALLTALK, 100),),
    "find": (("find all", _EXTRACT, 100), ("find the value", _MATH, 30)),
    "list": (("list all", _EXTRACT, 100), ("list every", _EXTRACT, 100)),
    "pull": (("pull out", _EXTRACT, 100),),
    "entities": (("named entities", _EXTRACT, 100),),
    "category": (("which category", _CLASSIFY, 100), ("what category", _CLASSIFY, 100)),
    "positive": (("positive or negative", _CLASSIFY, 100),),
    "trace": (("stack trace", _CODE, 30),),
    "unit": (("unit test", _CODE, 20),),
    "root": (("square root", _MATH, 30),),
    "expected": (("expected value", _MATH, 30),),
    "points": (("key points", _DIGEST, 100), ("main points", _DIGEST, 100)),
    "ideas": (("main ideas", _DIGEST, 100),),
}

_WORDS: Final = _cues(
    [
        # Code: languages, tools and debugging words weigh more than keywords that are English.
        (
            "python javascript typescript java rust golang kotlin swift php ruby perl scala c++ "
            "c# html css sql mysql postgres postgresql sqlite regex regexp bash shell powershell "
            "dockerfile docker kubernetes k8s git github npm pip pytest django flask fastapi "
            "react vue angular node nodejs numpy pandas pytorch tensorflow debug debugging bug "
            "bugs compile compiler compiles traceback exception segfault refactor refactoring "
            "stacktrace typeerror valueerror nullpointerexception undefined api endpoint "
            "snippet codebase repo repository linter runtime subprocess async await #include "
            "código codice programmieren код функция",
            ((_CODE, 25),),
        ),
        (
            "code function functions method class variable loop array script implement "
            "implementation algorithm recursion recursive pointer struct tests unittest "
            "json yaml xml csv query database backend frontend server client library "
            "def elif lambda const var let void static println printf console namespace "
            "import return self null nullptr boolean int str dict tuple tuples div rebase merge "
            "commit branch hashmap dataframe",
            ((_CODE, 10),),
        ),
        # Maths.
        (
            "solve integral integrate derivative differentiate equation equations theorem lemma "
            "matrix matrices eigenvalue eigenvalues polynomial percent percentage "
            "modulo geometry triangle hypotenuse algebra calculus logarithm sqrt factorial "
            "combinatorics permutations arithmetic inequality irrational integer integers "
            "variance expectation quadratic vector vectors calculate compute ratio fraction "
            "fractions median divisible prime primes infinitely converge converges convergent "
            "denominator numerator trigonometry sine cosine limit sum squared cubed "
            "démontrer beweise demuestra dimostra докажи",
            ((_MATH, 25),),
        ),
        ("prove proof", ((_MATH, 30), (_REASON, 30))),
        ("probability probabilities", ((_MATH, 35),)),
        ("coin coins dice tosses toss flips heads tails odds", ((_MATH, 10),)),
        # Reasoning.
        (
            "why compare comparison contrast analyze analyse analysis evaluate assess justify "
            "derive implications tradeoff tradeoffs critique reasoning deduce infer hypothesis "
            "argue argument versus vs dilemma puzzle riddle paradox consequences optimal "
            "strategy architecture design plan pros cons",
            ((_REASON, 15),),
        ),
        (
            "must should ensure without constraint constraints requirement requirements exactly "
            "only each every",
            ((_REASON, 4),),
        ),
        # Explicit tasks.
        (
            "translate translation translated translating traduire traduis traduisez traduce "
            "traducir traduci traduca tradurre traduza traduzir übersetze übersetzen "
            "übersetzung переведи переведите перевод",
            ((_TRANSLATE, 100),),
        ),
        (
            "summarize summarise summary summarization summarisation summarizing tldr tl recap "
            "condense synopsis nutshell résume résumer résumez resumen resumir resuma riassumi "
            "riassunto zusammenfassung zusammenfassen кратко",
            ((_SUMMARIZE, 100),),
        ),
        ("extract extraction", ((_EXTRACT, 100),)),
        (
            "classify classification categorize categorise categorization sentiment spam label",
            ((_CLASSIFY, 100),),
        ),
        (
            "poem poems poetry haiku limerick lyrics song sonnet fable story stories fairytale "
            "joke jokes screenplay fiction rhyme rhyming verse ballad rap slogan tagline "
            "novel",
            ((_CREATIVE, 100),),
        ),
        ("email letter essay blog speech tweet caption bio toast", ((_WRITING, 100),)),
        ("write draft compose create generate", ((_COMPOSE, 100),)),
        ("gist takeaways highlights overview", ((_DIGEST, 100),)),
        (
            # Requests that are not phrased as questions still ask for an answer.
            "bitte vorrei voudrais möchte quiero gostaria пожалуйста объясните "
            "расскажите что как почему هل كيف لماذا ما",
            ((_QUESTION, 100),),
        ),
    ],
    _PHRASES,
)
_WORD_KEYS: Final = frozenset(_WORDS)

# Cues in scripts written without spaces, found by substring.
_CJK_CUES: Final = (
    ("翻译", _TRANSLATE, 100),
    ("翻譯", _TRANSLATE, 100),
    ("翻訳", _TRANSLATE, 100),
    ("번역", _TRANSLATE, 100),
    ("总结", _SUMMARIZE, 100),
    ("摘要", _SUMMARIZE, 100),
    ("要約", _SUMMARIZE, 100),
    ("요약", _SUMMARIZE, 100),
    ("代码", _CODE, 30),
    ("コード", _CODE, 30),
    ("코드", _CODE, 30),
    ("证明", _MATH, 30),
    ("証明", _MATH, 30),
    ("方程", _MATH, 30),
    ("为什么", _REASON, 15),
    ("なぜ", _REASON, 15),
    ("诗", _CREATIVE, 100),
    ("故事", _CREATIVE, 100),
    ("吗", _QUESTION, 100),
    ("什么", _QUESTION, 100),
    ("怎么", _QUESTION, 100),
    ("如何", _QUESTION, 100),
    ("请", _QUESTION, 100),
    ("教えて", _QUESTION, 100),
    ("ください", _QUESTION, 100),
    ("주세요", _QUESTION, 100),
    ("무엇", _QUESTION, 100),
    ("어떻게", _QUESTION, 100),
)


def _encoded(words: str) -> frozenset[bytes]:
    return frozenset(word.encode() for word in words.split())


# First words of questions and of instructions (which ask for an answer just the same).
_QUESTION_STARTS: Final = _encoded(
    "what who whom whose when where why how which is are was were do does did can could should "
    "would will shall may please explain define describe tell give name suggest recommend list "
    "show help make build create plan design outline rewrite rephrase paraphrase fix correct "
    "proofread edit improve shorten simplify convert calculate estimate find check review "
    "quel quelle comment pourquoi qui wer wie warum welche qué cómo cuál quién cosa come perché "
    "chi quale o que como porque qual quem"
)

# Word splitting on bytes (a C-level translate and split): ASCII punctuation becomes a space,
# except the characters that make code words ("c++", "c#", "snake_case").
_SEPARATORS: Final = "".join(c for c in string.punctuation if c not in "+#_")
_SPLIT_TABLE: Final = bytes.maketrans(_SEPARATORS.encode(), b" " * len(_SEPARATORS))
# Non-ASCII punctuation that would stick to words ("¿podrías", "i’m"); replaced when present,
# as ``str.translate`` with a mapping costs ~0.2 us per character.
_UNICODE_PUNCT: Final = ("’", "“", "”", "‘", "«", "»", "¿", "¡", "…")
# UTF-8 lead bytes of the scripts written without spaces (CJK, kana, Hangul: U+3000-U+DFFF).
_CJK_LEADS: Final = bytes(range(0xE3, 0xEE))


# Arithmetic is found on a class string (digits -> "0", letters -> "a", "+*^=" -> "+") by two
# regexes that start with a literal, which the engine finds with a fast scan.
def _math_classes() -> bytes:
    table = bytearray(b"." * 256)
    for byte in string.digits.encode():
        table[byte] = ord("0")
    for byte in string.ascii_lowercase.encode():
        table[byte] = ord("a")
    for char in " ()":
        table[ord(char)] = ord(char)
    table[ord("\t")] = ord(" ")
    for char in "+*^=":
        table[ord(char)] = ord("+")
    return bytes(table)


_MATH_CLASSES: Final = _math_classes()
# "3+4", "3 + 4", "x^2", "x = 5", "2x + 1", "(a+b)^2", "f(x) = 3", "2*(x": an operator next to a
# number. Dates and ranges ("2024-01-01", "24/7") are not arithmetic.
_OPERATOR_NUMBER: Final = re.compile(rb"\+ ?0")
_NUMBER_OPERATOR: Final = re.compile(rb"0 ?\+ ?[a(]")
_LATEX: Final = re.compile(
    r"\\(?:frac|int|iint|sum|prod|sqrt|lim|partial|infty|alpha|beta|gamma|delta|theta|lambda|"
    r"sigma|mu|pi|cdot|times|leq|geq|neq|mathbb|mathbf|binom|log|ln|sin|cos|tan|begin)\b"
)
_MATH_SYMBOLS: Final = re.compile(r"[∫∑∏√π≤≥≠∞±×÷∂∆∇∀∃∈∉⊂⊆∪∩≈≡]")
_LIST_ITEM: Final = re.compile(r"\n[ \t]*(?:\d{1,2}[.)]|[-*•])[ \t]")  # "\n" first: a fast scan
# Code punctuation, each looked for only when its first character is present (a memchr).
_CODE_MARKS: Final = (
    ("(", ("()",)),
    ("=", ("==", "=>", "!=")),
    (">", ("->",)),
    (":", ("::",)),
    ("/", ("//", "/*", "</", "/>")),
    ("&", ("&&",)),
    ("|", ("||",)),
)


def _scan(text: str, vector: list[float]) -> tuple[list[bytes], bytes]:
    """Adds the points of the cues found in ``text`` to ``vector``.

    ``text`` is already lower-cased and bounded in size. Returns its words and its UTF-8
    encoding.
    """
    ascii_text = text.isascii()
    plain = text
    if not ascii_text:
        for mark in _UNICODE_PUNCT:
            if mark in plain:
                plain = plain.replace(mark, " ")
    try:
        data = plain.encode()
    except UnicodeEncodeError:  # lone surrogates
        data = plain.encode("utf-8", "surrogatepass")
    words = data.translate(_SPLIT_TABLE).split()
    for word in _WORD_KEYS.intersection(words):
        for phrase, signal, points in _WORDS[word]:
            if phrase in text:
                vector[signal] += points
    if words and words[0] in _QUESTION_STARTS:
        vector[_QUESTION] += 100
    _scan_marks(text, data, vector)
    if not ascii_text:
        _scan_unicode(text, data, vector)
    return words, data


def _scan_marks(text: str, data: bytes, vector: list[float]) -> None:
    """Code, maths and structure cues carried by punctuation (each gated by a cheap test)."""
    code = 0
    if "`" in text and "```" in text:
        code += 45
    if "{" in text or ";" in text:
        code += min(30, 6 * (text.count("{") + text.count(";\n")))
    marks = 0
    for first, pairs in _CODE_MARKS:
        if first in text:
            for pair in pairs:
                if pair in text:
                    marks += 1
    code += min(30, 6 * marks)
    if "\n" in text:
        if "\n    " in text or "\n\t" in text:
            code += 10
        # A list of constraints or sub-questions (not the lines of a code block).
        if code < 45 and text.count("\n") >= 3:
            items = len(_LIST_ITEM.findall(text))
            if items >= 3:
                vector[_REASON] += min(30, 5 * items)
    vector[_CODE] += code
    maths = 0
    if "=" in text or "+" in text or "^" in text or "*" in text:
        classes = data.translate(_MATH_CLASSES)
        found = len(_OPERATOR_NUMBER.findall(classes)) + len(_NUMBER_OPERATOR.findall(classes))
        maths += min(45, 15 * found)
    if "\\" in text:
        maths += min(60, 20 * len(_LATEX.findall(text)))
    if "$" in text and ("$$" in text or text.count("$") >= 2):
        maths += 5
    if "%" in text:
        maths += 10
    vector[_MATH] += maths
    if "?" in text:
        vector[_QUESTION] += 100
        questions = text.count("?")
        if questions >= 2:
            vector[_REASON] += min(30, 12 * (questions - 1))


def _scan_unicode(text: str, data: bytes, vector: list[float]) -> None:
    """Cues only non-ASCII text carries: CJK words, maths symbols, other question marks."""
    if len(data.translate(None, _CJK_LEADS)) != len(data):
        for cue, signal, points in _CJK_CUES:
            if cue in text:
                vector[signal] += points
    # U+2200-U+22FF (mathematical operators) start with e2 88-8b in UTF-8.
    if b"\xe2\x88" in data or b"\xe2\x89" in data or "×" in text or "÷" in text or "π" in text:
        vector[_MATH] += min(45, 15 * len(_MATH_SYMBOLS.findall(text)))
    if "？" in text or "؟" in text:
        vector[_QUESTION] += 100


# Languages: stopwords for the Latin-script languages, scripts for the others.
_LATIN: Final = ("en", "fr", "de", "es", "it", "pt")
_STOPWORDS: Final = (
    "the and is are of to what how why you your this that with for it can please my be have has "
    "does which from would should not we they there their about if or at by when where who i "
    "was will in an on also",
    "le les des est et une du que qui pour pas je vous nous avec sur dans ce cette sont mais au "
    "aux ne quel quelle quels pourquoi être fait très où peux pouvez veux voudrais merci "
    "bonjour salut qu il elle ils leur ces mon ma mes votre vos notre ça la de en un se si on",
    "der die das und ist nicht ich sie ein eine einen einem zu mit den dem von auf für wie "
    "warum bitte sind auch kann können werden wird oder aber wenn mir mich dass noch nach bei "
    "über hallo danke gibt habe haben sich nur wir ihr ihre wer welche möchte gerne muss es du "
    "des was will in an also sei",
    "el los las y está una por para con del qué cómo cuál lo como pero más muy este esta son "
    "hay puedes podrías gracias hola al sus también eso ese yo tengo quiero dónde cuando "
    "necesito es la de en un que se si nos mi",
    "il gli della di che è per sono questo questa perché anche mi ti nel nella alla cosa ciao "
    "grazie vorrei puoi essere molto più delle dei degli sul dalla ho hai chi quale quali "
    "quando dove mio mia suo sua una con del lo le la un al i ne qui e o da sei se si",
    "os um uma não é e da dos das em para por você vocês isso está são mais muito também "
    "porque obrigado obrigada olá ao aos na nos pelo pela seu sua eu ele ela fazer tem onde "
    "como que de se o",
)


def _stopword_table() -> Mapping[bytes, tuple[int, ...]]:
    table: dict[bytes, tuple[int, ...]] = {}
    for lang, words in enumerate(_STOPWORDS):
        for word in words.split():
            key = word.encode()
            table[key] = (*table.get(key, ()), lang)
    return table


_STOP: Final = _stopword_table()
_ENGLISH: Final = frozenset(word for word, langs in _STOP.items() if 0 in langs)
_FOREIGN: Final = frozenset(word for word, langs in _STOP.items() if 0 not in langs)
_STOP_KEYS: Final = frozenset(_STOP)
# Letters that give a Latin-script language away (é, à, ç and ê are shared too widely).
_ACCENTS: Final = (
    ("ñ", 3),
    ("¿", 3),
    ("¡", 3),
    ("ß", 2),
    ("ä", 2),
    ("ö", 2),
    ("ü", 2),
    ("ã", 5),
    ("õ", 5),
    ("œ", 1),
    ("ù", 1),
    ("û", 1),
    ("ì", 4),
    ("ò", 4),
)


def _script_table() -> bytes:
    """Byte classes: UTF-8 leads of 1 Cyrillic, 2 Arabic, 3 Han, 4 Hangul; 5 ASCII letters."""
    table = bytearray(256)
    for lead, script in ((0xD0, 1), (0xD8, 2)):
        for byte in range(lead, lead + 4):
            table[byte] = script
    for byte in range(0xE4, 0xEA):
        table[byte] = 3
    for byte in range(0xEA, 0xEE):
        table[byte] = 4
    for byte in string.ascii_letters.encode():
        table[byte] = 5
    return bytes(table)


_SCRIPTS: Final = _script_table()
_NON_LATIN_LEADS: Final = bytes(byte for byte in range(0xC0, 0x100) if _SCRIPTS[byte])


def _script_language(data: bytes) -> str | None:
    """The language of a non-Latin script dominating the UTF-8 ``data``, if one does."""
    classes = data.translate(_SCRIPTS)
    kana = data.count(b"\xe3\x81") + data.count(b"\xe3\x82") + data.count(b"\xe3\x83")
    han = classes.count(b"\x03")
    # One CJK character carries about as much as a Latin word of 4-5 letters, a Hangul syllable
    # a little less; Cyrillic and Arabic letters count like Latin ones.
    weighted = (
        classes.count(b"\x01"),
        classes.count(b"\x02"),
        4 * (han + kana),
        3 * classes.count(b"\x04"),
    )
    best = max(range(4), key=weighted.__getitem__)
    if weighted[best] == 0 or weighted[best] < classes.count(b"\x05"):
        return None
    if best == 2:
        return "ja" if kana * 10 >= han else "zh"
    return ("ru", "ar", "", "ko")[best]


def _language(text: str, data: bytes, words: list[bytes]) -> str:
    """An ISO 639-1 guess: the script for non-Latin text, stopword votes for Latin text.

    ``text`` is the lower-cased sample, ``data`` its UTF-8 encoding, ``words`` its words.
    """
    ascii_text = len(data) == len(text)
    if not ascii_text and len(data.translate(None, _NON_LATIN_LEADS)) != len(data):
        script = _script_language(data)
        if script is not None:
            return script
    if ascii_text and _FOREIGN.isdisjoint(words):
        # The common case, decided without counting votes.
        english = not _ENGLISH.isdisjoint(words)
        return "en" if english or any(word.isalpha() for word in words) else "und"
    votes = [0, 0, 0, 0, 0, 0]
    for word in _STOP_KEYS.intersection(words):
        for lang in _STOP[word]:
            votes[lang] += 1
    ranked = sorted(votes, reverse=True)
    if not ascii_text and ranked[0] - ranked[1] <= 2:
        # A close call: letters only one of the languages uses decide it.
        for accent, lang in _ACCENTS:
            if accent in text:
                votes[lang] += 2
    best = max(range(len(_LATIN)), key=votes.__getitem__)
    return _LATIN[best] if votes[best] else "und"


def _task_type(
    signals: list[float],
    code: float,
    maths: float,
    reasoning: float,
    needs_tools: bool,
    needs_json: bool,
    words: int,
    chars: int,
) -> TaskType:
    """The task, by rules in priority order: explicit asks beat topical scores (all in points)."""
    if needs_tools:
        return "tool_use"
    if code >= 60:
        return "code"  # "translate this to Rust" and "summarize this function" are code tasks
    if signals[_TRANSLATE] >= 100:
        return "translation"
    document = chars >= _LONG_DOCUMENT
    if signals[_SUMMARIZE] >= 100 or (document and signals[_DIGEST] >= 100):
        return "summarization"
    if signals[_EXTRACT] >= 100 or (needs_json and chars >= 1000):
        return "extraction"
    if signals[_CLASSIFY] >= 100:
        return "classification"
    if maths >= 45:
        return "math"
    composed = signals[_COMPOSE] >= 100
    # "story" inside a document is not an ask, "write a story" is; "write an email" is unless
    # it is about code ("generate an email validation regex").
    if (composed or not document) and signals[_CREATIVE] >= 100:
        return "creative"
    if composed and signals[_WRITING] >= 100 and code < 20:
        return "creative"
    if signals[_SMALLTALK] >= 100 and words <= 30:
        return "chat"
    if code >= 35:
        return "code"
    if reasoning >= 45:
        return "reasoning"
    if document and signals[_QUESTION] < 100:
        return "summarization"  # a document with a short ask that is not a question
    if signals[_QUESTION] >= 100 or needs_json:
        return "qa"
    return "chat"


_TASK_BASE: Final[Mapping[str, float]] = {
    "chat": 0.05,
    "qa": 0.22,
    "classification": 0.2,
    "extraction": 0.28,
    "translation": 0.28,
    "tool_use": 0.3,
    "summarization": 0.33,
    "creative": 0.33,
    "code": 0.45,
    "math": 0.45,
    "reasoning": 0.5,
}


def _complexity(
    task: TaskType, code: float, maths: float, reasoning: float, chars: int, depth: int
) -> float:
    """``base(task) + 0.35 * topical + 0.1 * reasoning + 0.1 * length + 0.05 * turns``, in [0, 1].

    ``topical`` is the task's own score for code, maths and reasoning tasks and
    ``0.3 * max(code, maths)`` otherwise; ``length = min(1, log2(1 + chars / 200) / 8)`` over the
    query's characters (0.2 at 100 tokens, 1 from about 12k tokens);
    ``turns = min(1, (user messages - 1) / 9)``. Base: chat
    0.05, classification 0.2, qa 0.22, extraction and translation 0.28, tool use 0.3,
    summarization and creative 0.33, code and maths 0.45, reasoning 0.5. For a given task the
    result grows with every input.
    """
    if task == "code":
        topical = code
    elif task == "math":
        topical = maths
    elif task == "reasoning":
        topical = reasoning
    else:
        topical = 0.3 * max(code, maths)
    length = min(1.0, math.log2(1.0 + chars / 200) / 8)
    turns = min(1.0, (depth - 1) / 9) if depth > 1 else 0.0
    value = _TASK_BASE[task] + 0.35 * topical + 0.1 * reasoning + 0.1 * length + 0.05 * turns
    return min(1.0, value)


_OUTPUT_TOKENS: Final[Mapping[str, int]] = {
    "chat": 60,
    "qa": 150,
    "classification": 20,
    "extraction": 200,
    "tool_use": 60,
    "creative": 500,
    "code": 400,
    "math": 300,
    "reasoning": 400,
}


def _expected_output(task: TaskType, query: str, max_tokens: int | None) -> int:
    """A guess at the answer's length from the task (and the query for rewriting tasks)."""
    if task == "translation":
        expected = max(20, estimate_tokens(query))
    elif task == "summarization":
        expected = min(300, max(60, estimate_tokens(query) // 5))
    else:
        expected = _OUTPUT_TOKENS[task]
    return min(expected, max_tokens) if max_tokens else expected


def _texts(request: Request) -> tuple[str, str, str, int, int, bool]:
    """The query, the system head, the previous turn's tail, the prompt's length in characters,
    the number of user turns and whether any message holds an image."""
    messages = request.messages
    query_index = len(messages) - 1
    depth = 0
    chars = 0
    images = False
    for index, message in enumerate(messages):
        content = message.content
        if isinstance(content, str):
            chars += len(content)
        elif content:
            chars += len(message.text)
            images = images or message.has_images
        if message.role == "user":
            depth += 1
            query_index = index
    first = messages[0]
    system = first.text[:_CONTEXT] if first.role == "system" and query_index > 0 else ""
    previous = ""
    if query_index > 1 or (query_index == 1 and not system):
        previous = messages[query_index - 1].text[-_CONTEXT:]
    return messages[query_index].text, system, previous, chars, depth, images


def _add_context(signals: list[float], text: str, sets_task: bool, language: str) -> str:
    """Adds the cues of a context text to ``signals``; returns ``language``, or the context's
    language when ``language`` is undetermined.

    Topical scores (code, maths, reasoning) count half. Explicit task cues count in full when
    ``sets_task`` (a system prompt may say "translate into German"), not at all otherwise.
    """
    context = [0.0] * _SIGNALS
    text = text.lower()
    words, data = _scan(text, context)
    for signal in (_CODE, _MATH, _REASON):
        signals[signal] += 0.5 * context[signal]
    if sets_task:
        for signal in _TASK_CUES:
            signals[signal] += context[signal]
    return _language(text, data, words) if language == "und" else language


def _ask(document: str) -> str:
    """Where the ask of a long query is: its first and last paragraphs (at most ``_ASK`` chars)."""
    head = document[:_ASK]
    cut = head.find("\n\n")
    if cut > 0:
        head = head[:cut]
    tail = document[-_ASK:]
    cut = tail.rfind("\n\n")
    if cut >= 0:
        tail = tail[cut + 2 :]
    return head + "\n" + tail


def _sample(text: str) -> str:
    if len(text) <= _HEAD + _TAIL:
        return text
    return text[:_HEAD] + "\n" + text[-_TAIL:]


def analyze(request: Request) -> QueryFeatures:
    """The features of ``request``: deterministic, offline, bounded in cost.

    The query is the last user message (the last message when there is none). ``sampled`` is
    set when the prompt is longer than ``_HEAD + _TAIL`` characters, so that only part of it
    was read; ``prompt_tokens`` still covers all of it.
    """
    params = request.params
    query, system, previous, chars, depth, has_images = _texts(request)
    sample = _sample(query).lower()
    signals = [0.0] * _SIGNALS
    words, data = _scan(sample, signals)
    if len(query) >= _LONG_DOCUMENT:
        # The document's own words ("story", "translated", a "?") are not the ask: explicit
        # task cues count only near its ends.
        ask = [0.0] * _SIGNALS
        _scan(_ask(sample), ask)
        signals[_TRANSLATE:] = ask[_TRANSLATE:]
    language = _language(sample, data, words)
    if system:
        language = _add_context(signals, system, True, language)
    if previous:
        language = _add_context(signals, previous, False, language)
    code = min(100.0, signals[_CODE])
    maths = min(100.0, signals[_MATH])
    reasoning = min(100.0, signals[_REASON])
    needs_tools = bool(params.tools) and params.tool_choice != "none"
    needs_json = params.wants_json
    task = _task_type(
        signals, code, maths, reasoning, needs_tools, needs_json, len(words), len(query)
    )
    return QueryFeatures(
        prompt_tokens=estimate_request_tokens(request),
        expected_output_tokens=_expected_output(task, query, params.max_tokens),
        task_type=task,
        complexity=round(
            _complexity(task, code / 100, maths / 100, reasoning / 100, len(query), depth), 4
        ),
        code=code / 100,
        math=maths / 100,
        reasoning=reasoning / 100,
        needs_tools=needs_tools,
        needs_json=needs_json,
        has_images=has_images,
        language=language,
        conversation_depth=depth,
        sampled=chars > _HEAD + _TAIL,
    )
