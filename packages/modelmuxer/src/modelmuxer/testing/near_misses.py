"""Prompt pairs a semantic cache must never let share an answer.

Each pair differs in one thing that changes the answer: a number, an operator, a negation, a
name, a word order, a unit or a language. Embedders and similarity thresholds are judged by the
false hits they allow on these (``docs/caching.md``); the cache's tests and benchmark use them.
"""

from __future__ import annotations

__all__ = ["NEAR_MISS_PAIRS"]

NEAR_MISS_PAIRS: tuple[tuple[str, str], ...] = (
    ("What is 2+2?", "What is 2+3?"),
    ("What is 2+2?", "What is 2*2?"),
    ("What is 12 divided by 4?", "What is 12 divided by 3?"),
    ("Is aspirin safe for children?", "Is aspirin not safe for children?"),
    ("Is it safe to eat raw eggs?", "Isn't it safe to eat raw eggs?"),
    ("Should I never restart the server?", "Should I restart the server?"),
    ("Tell me about the history of Paris.", "Tell me about the history of Rome."),
    ("What did Alice say to Bob?", "What did Bob say to Alice?"),
    ("Summarize the report by 'Acme Corp'.", "Summarize the report by 'Globex Corp'."),
    ("Convert 5 km to miles.", "Convert 5 miles to km."),
    ("How long is 10 minutes in seconds?", "How long is 10 hours in seconds?"),
    ("What was the population in 1990?", "What was the population in 1999?"),
    ("Give me 3 ideas for a party.", "Give me 5 ideas for a party."),
    ("What is 100 USD in EUR?", "What is 100 GBP in EUR?"),
    ("Write a poem about a cat without rhymes.", "Write a poem about a cat with rhymes."),
    ("Is Python faster than Java?", "Is Java faster than Python?"),
    (
        "What is the boiling point of water in Celsius?",
        "What is the boiling point of water in Fahrenheit?",
    ),
    ("How do I sort a list in Python?", "How do I sort a list in Rust?"),
    ("Can I take ibuprofen with alcohol?", "Can I not take ibuprofen with alcohol?"),
    ("What is 15% of 200?", "What is 25% of 200?"),
)
