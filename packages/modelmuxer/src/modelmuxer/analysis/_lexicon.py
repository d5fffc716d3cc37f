"""The analyzer's vocabulary: cue words and phrases, stopwords, byte tables and patterns.

Everything here is a constant built once at import: frozensets, tuples, byte tables, compiled
patterns, and dicts typed as read-only ``Mapping`` that nothing writes to. ``analyzer`` holds
the logic that uses them.

Signals are indices into the vector the analyzer fills, in points. ``CODE``, ``MATH`` and
``REASON`` accumulate scores (100 points = a score of 1.0); the others count cues (one explicit
cue is 100). Points are integers so that sums are exact and thresholds need no rounding.
"""

from __future__ import annotations

import re
import string
from collections.abc import Iterable, Mapping
from typing import Final

__all__ = [
    "ACCENTS",
    "CJK_CUES",
    "CLASSIFY",
    "CODE",
    "CODE_MARKS",
    "COMPOSE",
    "CREATIVE",
    "DIGEST",
    "ENGLISH",
    "EXTRACT",
    "FOREIGN",
    "KEYS",
    "LATEX",
    "LATIN",
    "LATIN1_LOWER",
    "LIST_ITEM",
    "MATH",
    "MATH_CLASSES",
    "MATH_SYMBOLS",
    "NUMBER_OPERATOR",
    "OPERATOR_NUMBER",
    "QUESTION",
    "QUESTION_STARTS",
    "REASON",
    "SCRIPTS",
    "SCRIPT_NOISE",
    "SIGNALS",
    "SMALLTALK",
    "SPLIT_TABLE",
    "STOPWORDS",
    "SUMMARIZE",
    "TASK_CUES",
    "TRANSLATE",
    "UNICODE_PUNCT",
    "WORD_CUES",
    "WORD_KEYS",
    "WRITING",
    "Cue",
]

CODE, MATH, REASON = 0, 1, 2
TRANSLATE, SUMMARIZE, EXTRACT, CLASSIFY = 3, 4, 5, 6
CREATIVE, WRITING, COMPOSE, DIGEST = 7, 8, 9, 10
SMALLTALK, QUESTION = 11, 12
SIGNALS: Final = 13
TASK_CUES: Final = range(TRANSLATE, DIGEST + 1)

#: A cue: (phrase, signal, points). The word alone is the cue when the phrase is "" (which every
#: text contains); otherwise the phrase must be in the text too.
Cue = tuple[str, int, int]


def _cues(
    groups: Iterable[tuple[str, tuple[tuple[int, int], ...]]],
    phrases: Mapping[str, tuple[Cue, ...]],
) -> Mapping[bytes, tuple[Cue, ...]]:
    """Word -> the cues it triggers; a word in several groups feeds all of them."""
    table: dict[bytes, tuple[Cue, ...]] = {}
    for words, signals in groups:
        for word in words.split():
            key = word.encode()
            table[key] = (*table.get(key, ()), *(("", s, v) for s, v in signals))
    for word, cues in phrases.items():
        key = word.encode()
        table[key] = (*table.get(key, ()), *cues)
    return table


# Phrases, looked up (a substring test) only when their rarest word is present.
_PHRASES: Final[Mapping[str, tuple[Cue, ...]]] = {
    "step": (("step by step", REASON, 45), ("step-by-step", REASON, 45)),
    "explain": (("explain why", REASON, 30), ("explain how", REASON, 20)),
    "walk": (("walk me through", REASON, 30),),
    "think": (("think through", REASON, 30), ("think carefully", REASON, 30)),
    "difference": (("difference between", REASON, 20),),
    "happen": (("what would happen", REASON, 30),),
    "trade": (("trade-off", REASON, 15),),
    "pros": (("pros and cons", REASON, 20),),
    "many": (("how many", MATH, 25),),
    "much": (("how much", MATH, 10),),
    "how": (("how are you", SMALLTALK, 100),),
    "going": (("how's it going", SMALLTALK, 100),),
    "say": (("how do you say", TRANSLATE, 100),),
    "up": (("what's up", SMALLTALK, 100),),
    "morning": (("good morning", SMALLTALK, 100),),
    "meet": (("nice to meet you", SMALLTALK, 100),),
    "find": (("find all", EXTRACT, 100), ("find the value", MATH, 30)),
    "list": (("list all", EXTRACT, 100), ("list every", EXTRACT, 100)),
    "pull": (("pull out", EXTRACT, 100),),
    "entities": (("named entities", EXTRACT, 100),),
    "category": (("which category", CLASSIFY, 100), ("what category", CLASSIFY, 100)),
    "positive": (("positive or negative", CLASSIFY, 100),),
    "trace": (("stack trace", CODE, 30),),
    "unit": (("unit test", CODE, 20),),
    "root": (("square root", MATH, 30),),
    "expected": (("expected value", MATH, 30),),
    "points": (("key points", DIGEST, 100), ("main points", DIGEST, 100)),
    "ideas": (("main ideas", DIGEST, 100),),
}

#: Lower-cased word (UTF-8) -> the cues it triggers.
WORD_CUES: Final = _cues(
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
            ((CODE, 25),),
        ),
        (
            "code function functions method class variable loop array script implement "
            "implementation algorithm recursion recursive pointer struct tests unittest "
            "json yaml xml csv query database backend frontend server client library "
            "def elif lambda const var let void static println printf console namespace "
            "import return self null nullptr boolean int str dict tuple tuples div rebase merge "
            "commit branch hashmap dataframe",
            ((CODE, 10),),
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
            ((MATH, 25),),
        ),
        ("prove proof", ((MATH, 30), (REASON, 30))),
        ("probability probabilities", ((MATH, 35),)),
        ("coin coins dice tosses toss flips heads tails odds", ((MATH, 10),)),
        # Reasoning.
        (
            "why compare comparison contrast analyze analyse analysis evaluate assess justify "
            "derive implications tradeoff tradeoffs critique reasoning deduce infer hypothesis "
            "argue argument versus vs dilemma puzzle riddle paradox consequences optimal "
            "strategy architecture design plan pros cons",
            ((REASON, 15),),
        ),
        (
            "must should ensure without constraint constraints requirement requirements exactly "
            "only each every",
            ((REASON, 4),),
        ),
        # Explicit tasks.
        (
            "translate translation translated translating traduire traduis traduisez traduce "
            "traducir traduci traduca tradurre traduza traduzir übersetze übersetzen "
            "übersetzung переведи переведите перевод",
            ((TRANSLATE, 100),),
        ),
        (
            "summarize summarise summary summarization summarisation summarizing tldr tl recap "
            "condense synopsis nutshell résume résumer résumez resumen resumir resuma riassumi "
            "riassunto zusammenfassung zusammenfassen кратко",
            ((SUMMARIZE, 100),),
        ),
        ("extract extraction", ((EXTRACT, 100),)),
        (
            "classify classification categorize categorise categorization sentiment spam label",
            ((CLASSIFY, 100),),
        ),
        (
            "poem poems poetry haiku limerick lyrics song sonnet fable story stories fairytale "
            "joke jokes screenplay fiction rhyme rhyming verse ballad rap slogan tagline "
            "novel",
            ((CREATIVE, 100),),
        ),
        ("email letter essay blog speech tweet caption bio toast", ((WRITING, 100),)),
        ("write draft compose create generate", ((COMPOSE, 100),)),
        ("gist takeaways highlights overview", ((DIGEST, 100),)),
        (
            # Requests that are not phrased as questions still ask for an answer.
            "bitte vorrei voudrais möchte quiero gostaria пожалуйста объясните "
            "расскажите что как почему هل كيف لماذا ما",
            ((QUESTION, 100),),
        ),
    ],
    _PHRASES,
)
WORD_KEYS: Final = frozenset(WORD_CUES)


def _cjk_cues(cues: Iterable[Cue]) -> tuple[tuple[str, tuple[Cue, ...]], ...]:
    """The cues grouped by their first character, so that a one-character search (the cheapest
    substring test) rules out a whole group at once."""
    groups: dict[str, tuple[Cue, ...]] = {}
    for cue in cues:
        groups[cue[0][0]] = (*groups.get(cue[0][0], ()), cue)
    return tuple(groups.items())


#: Cues in scripts written without spaces, found by substring: (first character, its cues).
CJK_CUES: Final = _cjk_cues(
    (
        ("翻译", TRANSLATE, 100),
        ("翻譯", TRANSLATE, 100),
        ("翻訳", TRANSLATE, 100),
        ("번역", TRANSLATE, 100),
        ("总结", SUMMARIZE, 100),
        ("摘要", SUMMARIZE, 100),
        ("要約", SUMMARIZE, 100),
        ("요약", SUMMARIZE, 100),
        ("代码", CODE, 30),
        ("コード", CODE, 30),
        ("코드", CODE, 30),
        ("证明", MATH, 30),
        ("証明", MATH, 30),
        ("方程", MATH, 30),
        ("为什么", REASON, 15),
        ("なぜ", REASON, 15),
        ("诗", CREATIVE, 100),
        ("故事", CREATIVE, 100),
        ("吗", QUESTION, 100),
        ("什么", QUESTION, 100),
        ("怎么", QUESTION, 100),
        ("如何", QUESTION, 100),
        ("请", QUESTION, 100),
        ("教えて", QUESTION, 100),
        ("ください", QUESTION, 100),
        ("주세요", QUESTION, 100),
        ("무엇", QUESTION, 100),
        ("어떻게", QUESTION, 100),
    )
)


def _encoded(words: str) -> frozenset[bytes]:
    return frozenset(word.encode() for word in words.split())


#: First words of questions and of instructions (which ask for an answer just the same).
QUESTION_STARTS: Final = _encoded(
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
SPLIT_TABLE: Final = bytes.maketrans(_SEPARATORS.encode(), b" " * len(_SEPARATORS))
#: ``str.lower`` for Latin-1 text as a byte table: every character up to U+00FF lower-cases to
#: one character up to U+00FF, and none of them has a context-dependent mapping.
LATIN1_LOWER: Final = bytes(ord(chr(byte).lower()) for byte in range(256))
#: Non-ASCII punctuation that would stick to words ("¿podrías", "i’m"); replaced when present,
#: as ``str.translate`` with a mapping costs ~0.2 us per character.
UNICODE_PUNCT: Final = ("’", "“", "”", "‘", "«", "»", "¿", "¡", "…")


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


MATH_CLASSES: Final = _math_classes()
#: "3+4", "3 + 4", "x^2", "x = 5", "2x + 1", "(a+b)^2", "f(x) = 3", "2*(x": an operator next to
#: a number. Dates and ranges ("2024-01-01", "24/7") are not arithmetic.
OPERATOR_NUMBER: Final = re.compile(rb"\+ ?0")
NUMBER_OPERATOR: Final = re.compile(rb"0 ?\+ ?[a(]")
LATEX: Final = re.compile(
    r"\\(?:frac|int|iint|sum|prod|sqrt|lim|partial|infty|alpha|beta|gamma|delta|theta|lambda|"
    r"sigma|mu|pi|cdot|times|leq|geq|neq|mathbb|mathbf|binom|log|ln|sin|cos|tan|begin)\b"
)
MATH_SYMBOLS: Final = re.compile(r"[∫∑∏√π≤≥≠∞±×÷∂∆∇∀∃∈∉⊂⊆∪∩≈≡]")
LIST_ITEM: Final = re.compile(r"\n[ \t]*(?:\d{1,2}[.)]|[-*•])[ \t]")  # "\n" first: a fast scan
#: Code punctuation, each looked for only when its first character is present (a memchr).
CODE_MARKS: Final = (
    ("(", ("()",)),
    ("=", ("==", "=>", "!=")),
    (">", ("->",)),
    (":", ("::",)),
    ("/", ("//", "/*", "</", "/>")),
    ("&", ("&&",)),
    ("|", ("||",)),
)

# Languages: stopwords for the Latin-script languages, scripts for the others.
LATIN: Final = ("en", "fr", "de", "es", "it", "pt")
_STOPWORD_LISTS: Final = (
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


#: Each language's stopwords, in ``LATIN`` order: a language's votes are one intersection.
STOPWORDS: Final = tuple(_encoded(words) for words in _STOPWORD_LISTS)
_STOP_KEYS: Final = frozenset().union(*STOPWORDS)
ENGLISH: Final = STOPWORDS[0]
FOREIGN: Final = _STOP_KEYS - ENGLISH
#: Every word the analyzer looks up: one set intersection with a text's words finds them all.
KEYS: Final = WORD_KEYS | _STOP_KEYS
#: Letters that give a Latin-script language away (é, à, ç and ê are shared too widely).
ACCENTS: Final = (
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
    """Byte classes: UTF-8 leads of 1 Cyrillic (U+0400-U+04FF), 2 Arabic (U+0600-U+06FF),
    3 Han (U+4000-U+9FFF), 4 Hangul and beyond (U+A000-U+DFFF), 6 the U+3000 block (CJK
    punctuation, kana); 5 ASCII letters; 0 anything else."""
    table = bytearray(256)
    for lead, script in ((0xD0, 1), (0xD8, 2)):
        for byte in range(lead, lead + 4):
            table[byte] = script
    for byte in range(0xE4, 0xEA):
        table[byte] = 3
    for byte in range(0xEA, 0xEE):
        table[byte] = 4
    table[0xE3] = 6
    for byte in string.ascii_letters.encode():
        table[byte] = 5
    return bytes(table)


#: ``data.translate(SCRIPTS, SCRIPT_NOISE)`` keeps one class byte per ASCII letter and per
#: lead byte of the scripts above: a short string on which every count is cheap.
SCRIPTS: Final = _script_table()
SCRIPT_NOISE: Final = bytes(byte for byte in range(256) if not SCRIPTS[byte])
