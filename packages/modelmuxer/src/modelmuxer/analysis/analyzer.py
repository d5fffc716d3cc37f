"""``analyze``: the features of a request, from cheap heuristics over a bounded sample of its text.

What is read: the last user message (the query; only its first ``_HEAD`` and last ``_TAIL``
characters when it is longer), the head of the system message (its code, maths and reasoning
cues count half, its explicit asks such as "translate into German" in full) and the tail of the
message before the query (its code, maths and reasoning cues count half, so "now make it faster"
after a code answer stays a code task). Nothing is downloaded and nothing is called.

Cost: a few C-level passes per text and no Python loop over characters or words. Each text is
lower-cased, encoded and split into words once; one set intersection finds every cue word and
stopword in it, and every other cue is a substring test gated by a one-character search (a
memchr). Non-ASCII text adds one translate to a short string of script classes, which serves the
CJK cues and the language guess. The vocabulary and byte tables are in ``_lexicon``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Final

from modelmuxer.analysis._lexicon import (
    ACCENTS,
    CJK_CUES,
    CLASSIFY,
    CODE,
    CODE_MARKS,
    COMPOSE,
    CREATIVE,
    DIGEST,
    ENGLISH,
    EXTRACT,
    FOREIGN,
    KEYS,
    LATEX,
    LATIN,
    LATIN1_LOWER,
    LIST_ITEM,
    MATH,
    MATH_CLASSES,
    MATH_SYMBOLS,
    NUMBER_OPERATOR,
    OPERATOR_NUMBER,
    QUESTION,
    QUESTION_STARTS,
    REASON,
    SCRIPT_NOISE,
    SCRIPTS,
    SIGNALS,
    SMALLTALK,
    SPLIT_TABLE,
    STOPWORDS,
    SUMMARIZE,
    TASK_CUES,
    TRANSLATE,
    UNICODE_PUNCT,
    WORD_CUES,
    WORD_KEYS,
    WRITING,
)
from modelmuxer.analysis.features import QueryFeatures, TaskType
from modelmuxer.analysis.tokens import estimate_request_tokens, estimate_tokens
from modelmuxer.types import Request

__all__ = ["analyze"]

_HEAD: Final = 3000  # characters of a long query read from its start (where the ask usually is)
_TAIL: Final = 2000  # ... and from its end (where the ask is when a document comes first)
_CONTEXT: Final = 600  # characters read from the system message and from the previous turn
_LONG_DOCUMENT: Final = 4000  # characters: a query this long carries a document
_ASK: Final = 500  # characters at each end of a document where its ask is looked for

# What ``_scan`` returns: the text's words, those of them in ``KEYS``, its UTF-8 encoding and
# its script classes (``b""`` for ASCII text).
_Scanned = tuple[list[bytes], frozenset[bytes], bytes, bytes]


def _lower(text: str) -> str:
    """``text.lower()``, with Latin-1 text (French, German, Spanish...) lowered by a byte table:
    ``str.lower`` applies the full Unicode case mapping to any non-ASCII text, five times the
    cost."""
    if text.isascii():
        return text.lower()
    # "ignore" rather than catching UnicodeEncodeError: raising costs more than the lowering.
    latin = text.encode("latin-1", "ignore")
    if len(latin) == len(text):
        return latin.translate(LATIN1_LOWER).decode("latin-1")
    return text.lower()  # other scripts, typographic quotes


def _scan(text: str, vector: list[float]) -> _Scanned:
    """Adds the points of the cues found in ``text`` to ``vector``.

    ``text`` is already lower-cased and bounded in size.
    """
    ascii_text = text.isascii()
    if ascii_text:
        data = text.encode()
        scripts = b""
    else:
        plain = text
        for mark in UNICODE_PUNCT:
            if mark in plain:
                plain = plain.replace(mark, " ")
        try:
            data = plain.encode()
        except UnicodeEncodeError:  # lone surrogates
            data = plain.encode("utf-8", "surrogatepass")
        scripts = data.translate(SCRIPTS, SCRIPT_NOISE)
    words = data.translate(SPLIT_TABLE).split()
    # The one pass over the words: cue words and stopwords alike. Everything after works on
    # this small set.
    hits = KEYS.intersection(words)
    for word in WORD_KEYS.intersection(hits):
        for phrase, signal, points in WORD_CUES[word]:
            if phrase in text:
                vector[signal] += points
    if words and words[0] in QUESTION_STARTS:
        vector[QUESTION] += 100
    _scan_marks(text, data, vector)
    if not ascii_text:
        _scan_unicode(text, data, scripts, vector)
    return words, hits, data, scripts


def _scan_marks(text: str, data: bytes, vector: list[float]) -> None:
    """Code, maths and structure cues carried by punctuation. Each is gated by a one-character
    test (a memchr), so prose, which has none of these marks, runs no count and no regex."""
    code = 45 if "`" in text and "```" in text else 0
    newline = "\n" in text
    braces = text.count("{") if "{" in text else 0
    if newline and ";" in text:
        braces += text.count(";\n")
    if braces:
        code += 6 * braces if braces < 5 else 30  # min(30, 6 * braces)
    marks = 0
    for first, pairs in CODE_MARKS:
        if first in text:
            for pair in pairs:
                if pair in text:
                    marks += 1
    if marks:
        code += 6 * marks if marks < 5 else 30
    if newline:
        if "\n    " in text or "\n\t" in text:
            code += 10
        # A list of constraints or sub-questions (not the lines of a code block).
        if code < 45 and text.count("\n") >= 3:
            items = len(LIST_ITEM.findall(text))
            if items >= 3:
                vector[REASON] += min(30, 5 * items)
    if code:
        vector[CODE] += code
    maths = 0
    if "=" in text or "+" in text or "^" in text or "*" in text:
        classes = data.translate(MATH_CLASSES)
        found = len(OPERATOR_NUMBER.findall(classes)) + len(NUMBER_OPERATOR.findall(classes))
        maths += min(45, 15 * found)
    if "\\" in text:
        maths += min(60, 20 * len(LATEX.findall(text)))
    if "$" in text and ("$$" in text or text.count("$") >= 2):
        maths += 5
    if "%" in text:
        maths += 10
    if maths:
        vector[MATH] += maths
    if "?" in text:
        vector[QUESTION] += 100
        questions = text.count("?")
        if questions >= 2:
            vector[REASON] += min(30, 12 * (questions - 1))


def _scan_unicode(text: str, data: bytes, scripts: bytes, vector: list[float]) -> None:
    """Cues only non-ASCII text carries: CJK words, maths symbols, other question marks."""
    # Byte tests take the byte's value: ``b"\x03" in scripts`` would first fail (and format a
    # TypeError) trying to read its operand as an integer, ten times the cost of the memchr.
    if 3 in scripts or 4 in scripts or 6 in scripts:  # U+3000-U+DFFF
        for first, cues in CJK_CUES:
            if first in text:
                for cue, signal, points in cues:
                    if cue in text:
                        vector[signal] += points
    # U+2200-U+22FF (mathematical operators) start with e2 88-8b in UTF-8.
    if (
        (0xE2 in data and (data.find(b"\xe2\x88") >= 0 or data.find(b"\xe2\x89") >= 0))
        or "×" in text
        or "÷" in text
        or "π" in text
    ):
        vector[MATH] += min(45, 15 * len(MATH_SYMBOLS.findall(text)))
    if "？" in text or "؟" in text:
        vector[QUESTION] += 100


def _script_language(data: bytes, scripts: bytes) -> str | None:
    """The language of a non-Latin script dominating the text, if one does.

    ``data`` is the text's UTF-8 encoding, ``scripts`` its script classes.
    """
    han = scripts.count(b"\x03")
    kana = 0
    if 6 in scripts:  # the U+3000 block, where kana are: U+3040-U+30FF, e3 81-83 in UTF-8
        kana = data.count(b"\xe3\x81") + data.count(b"\xe3\x82") + data.count(b"\xe3\x83")
    # One CJK character carries about as much as a Latin word of 4-5 letters, a Hangul syllable
    # a little less; Cyrillic and Arabic letters count like Latin ones.
    weighted = (
        scripts.count(b"\x01"),
        scripts.count(b"\x02"),
        4 * (han + kana),
        3 * scripts.count(b"\x04"),
    )
    best = max(range(4), key=weighted.__getitem__)
    if weighted[best] == 0 or weighted[best] < scripts.count(b"\x05"):
        return None
    if best == 2:
        return "ja" if kana * 10 >= han else "zh"
    return ("ru", "ar", "", "ko")[best]


def _language(text: str, scanned: _Scanned) -> str:
    """An ISO 639-1 guess: the script for non-Latin text, stopword votes for Latin text.

    ``text`` is the lower-cased sample and ``scanned`` what ``_scan`` returned for it.
    """
    words, hits, data, scripts = scanned
    ascii_text = len(data) == len(text)
    if not ascii_text and (1 in scripts or 2 in scripts or 3 in scripts or 4 in scripts):
        script = _script_language(data, scripts)
        if script is not None:
            return script
    if ascii_text and FOREIGN.isdisjoint(hits):
        # The common case, decided without counting votes.
        english = not ENGLISH.isdisjoint(hits)
        return "en" if english or any(word.isalpha() for word in words) else "und"
    votes = [len(stopwords.intersection(hits)) for stopwords in STOPWORDS]
    if not ascii_text:
        ranked = sorted(votes, reverse=True)
        if ranked[0] - ranked[1] <= 2:
            # A close call: letters only one of the languages uses decide it.
            for accent, lang in ACCENTS:
                if accent in text:
                    votes[lang] += 2
    best = max(range(len(LATIN)), key=votes.__getitem__)
    return LATIN[best] if votes[best] else "und"


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
    if signals[TRANSLATE] >= 100:
        return "translation"
    document = chars >= _LONG_DOCUMENT
    if signals[SUMMARIZE] >= 100 or (document and signals[DIGEST] >= 100):
        return "summarization"
    if signals[EXTRACT] >= 100 or (needs_json and chars >= 1000):
        return "extraction"
    if signals[CLASSIFY] >= 100:
        return "classification"
    if maths >= 45:
        return "math"
    composed = signals[COMPOSE] >= 100
    # "story" inside a document is not an ask, "write a story" is; "write an email" is unless
    # it is about code ("generate an email validation regex").
    if (composed or not document) and signals[CREATIVE] >= 100:
        return "creative"
    if composed and signals[WRITING] >= 100 and code < 20:
        return "creative"
    if signals[SMALLTALK] >= 100 and words <= 30:
        return "chat"
    if code >= 35:
        return "code"
    if reasoning >= 45:
        return "reasoning"
    if document and signals[QUESTION] < 100:
        return "summarization"  # a document with a short ask that is not a question
    if signals[QUESTION] >= 100 or needs_json:
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
    # Conditional expressions rather than min() and max(): the same values, at a third of the
    # cost of a builtin call on this hot path.
    if task == "code":
        topical = code
    elif task == "math":
        topical = maths
    elif task == "reasoning":
        topical = reasoning
    else:
        topical = 0.3 * (maths if maths > code else code)
    length = math.log2(1.0 + chars / 200) / 8
    turns = (depth - 1) / 9 if depth > 1 else 0.0
    value = (
        _TASK_BASE[task]
        + 0.35 * topical
        + 0.1 * reasoning
        + 0.1 * (length if length < 1.0 else 1.0)
        + 0.05 * (turns if turns < 1.0 else 1.0)
    )
    return value if value < 1.0 else 1.0


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
    if len(messages) == 1:  # the common case, without the loop
        content = messages[0].content
        if isinstance(content, str):
            return content, "", "", len(content), int(messages[0].role == "user"), False
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
    context = [0.0] * SIGNALS
    text = _lower(text)
    scanned = _scan(text, context)
    signals[CODE] += 0.5 * context[CODE]
    signals[MATH] += 0.5 * context[MATH]
    signals[REASON] += 0.5 * context[REASON]
    if sets_task and any(context[TRANSLATE : DIGEST + 1]):  # rarely: one C-level test
        for signal in TASK_CUES:
            signals[signal] += context[signal]
    return _language(text, scanned) if language == "und" else language


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


def analyze(request: Request) -> QueryFeatures:
    """The features of ``request``: deterministic, offline, bounded in cost.

    The query is the last user message (the last message when there is none). ``sampled`` is
    set when the prompt is longer than ``_HEAD + _TAIL`` characters, so that only part of it
    was read; ``prompt_tokens`` still covers all of it.
    """
    params = request.params
    query, system, previous, chars, depth, has_images = _texts(request)
    length = len(query)
    sample = query if length <= _HEAD + _TAIL else query[:_HEAD] + "\n" + query[-_TAIL:]
    sample = _lower(sample)
    signals = [0.0] * SIGNALS
    scanned = _scan(sample, signals)
    if length >= _LONG_DOCUMENT:
        # The document's own words ("story", "translated", a "?") are not the ask: explicit
        # task cues count only near its ends.
        ask = [0.0] * SIGNALS
        _scan(_ask(sample), ask)
        signals[TRANSLATE:] = ask[TRANSLATE:]
    language = _language(sample, scanned)
    if system:
        language = _add_context(signals, system, True, language)
    if previous:
        language = _add_context(signals, previous, False, language)
    code, maths, reasoning = signals[CODE], signals[MATH], signals[REASON]
    code = code if code < 100.0 else 100.0
    maths = maths if maths < 100.0 else 100.0
    reasoning = reasoning if reasoning < 100.0 else 100.0
    tools = params.tools
    needs_tools = bool(tools) and params.tool_choice != "none"
    needs_json = params.wants_json
    task = _task_type(
        signals, code, maths, reasoning, needs_tools, needs_json, len(scanned[0]), length
    )
    code /= 100
    maths /= 100
    reasoning /= 100
    # In field order, through ``_make``: keywords cost twice as much on this path.
    return QueryFeatures._make(
        (
            estimate_request_tokens(request),  # prompt_tokens
            _expected_output(task, query, params.max_tokens),  # expected_output_tokens
            task,  # task_type
            round(_complexity(task, code, maths, reasoning, length, depth), 4),  # complexity
            code,
            maths,
            reasoning,
            needs_tools,
            needs_json,
            has_images,
            language,
            depth,  # conversation_depth
            chars > _HEAD + _TAIL,  # sampled
        )
    )
