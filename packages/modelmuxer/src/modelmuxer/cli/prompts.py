"""The demo's candidate models and its mixed set of realistic prompts.

Everything is built by functions, fresh on each call, so no mutable data lives at module level.
The long documents are generated deterministically (a fixed seed on a private ``Random``), so
every run routes and prices exactly the same requests.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

from modelmuxer.cli._material import (
    BUGGY_PYTHON,
    RUST_DEADLOCK,
    TRACEBACK,
    demo_tools,
    json_schema_format,
    meeting_transcript,
    quarterly_report,
    short_article,
)

__all__ = ["DEMO_MODELS", "DemoPrompt", "demo_prompts"]

#: The demo's candidates: offline stand-ins for real models, priced as the real ones.
DEMO_MODELS: tuple[str, ...] = (
    "offline/openai/gpt-4o-mini",
    "offline/mistral/mistral-small-latest",
    "offline/anthropic/claude-haiku-4-5",
    "offline/openai/gpt-4o",
    "offline/anthropic/claude-sonnet-4-5",
)


@dataclass(frozen=True, slots=True)
class DemoPrompt:
    """One demo request: a category, the messages, generation parameters.

    ``scripted_refusal`` marks the prompts the demo's cheapest models are scripted to refuse,
    so the cascade's escalation shows on an honest, visible example.
    """

    category: str
    messages: str | list[dict[str, Any]]
    params: dict[str, Any] = field(default_factory=dict)
    scripted_refusal: bool = False

    @property
    def preview(self) -> str:
        """The text of the last user message (what the row shows)."""
        if isinstance(self.messages, str):
            return self.messages
        users = [m for m in self.messages if m.get("role") == "user"]
        return str(users[-1]["content"]) if users else ""


def _basic_prompts() -> list[DemoPrompt]:
    p = DemoPrompt
    return [
        p("chit-chat", "Hi! How's your day going?"),
        p("chit-chat", "Thanks, that was really helpful. Have a great weekend!"),
        p("chit-chat", "Tell me a fun fact about octopuses."),
        p("chit-chat", "What's a good name for a golden retriever puppy?"),
        p("factual", "What is the capital of Australia?"),
        p("factual", "When did the Berlin Wall fall, and why did it matter for Europe?"),
        p("factual", "Explain the difference between TCP and UDP, with an example use of each."),
        p("factual", "How does photosynthesis turn light into chemical energy?"),
        p("factual", "Who wrote 'One Hundred Years of Solitude', and when was it published?"),
        p(
            "code",
            "Write a Python function that merges overlapping intervals, with type hints, "
            "a docstring and pytest unit tests covering edge cases.",
        ),
        p(
            "code",
            "Implement an LRU cache in TypeScript with O(1) get and put, generic over keys and "
            "values, and explain the data structures you chose.",
        ),
        p(
            "code",
            "Write a SQL query that returns the top 3 customers by revenue in each region for "
            "2024, from orders(customer_id, region, amount, created_at). Use window functions.",
        ),
        p(
            "debugging",
            f"My script crashes. Why, and how do I fix it properly?\n\n```python\n"
            f"{BUGGY_PYTHON}\n```\n\n```\n{TRACEBACK}\n```",
        ),
        p(
            "debugging",
            "This async Rust code hangs forever. Explain the deadlock step by step and fix "
            f"it.\n\n```rust\n{RUST_DEADLOCK}\n```",
        ),
        p(
            "maths",
            "A train leaves Lyon at 14:00 at 80 km/h; another leaves Paris, 460 km away, at "
            "15:00 at 120 km/h towards Lyon. When and where do they meet? Show your working.",
        ),
        p(
            "maths",
            "A jacket costs 120 euros. It is discounted by 25%, then 8% sales tax is added. "
            "What is the final price, and is it the same if the tax is applied first?",
        ),
        p("maths", "Prove that there are infinitely many prime numbers."),
        p(
            "maths",
            "Prove that the square root of 2 is irrational, then generalise the proof to the "
            "square root of any prime p.",
        ),
        p(
            "maths",
            "Solve the recurrence T(n) = 2T(n/2) + n log n and prove the asymptotic bound by "
            "induction, stating every step of the derivation.",
        ),
    ]


def _document_prompts(rng: random.Random) -> list[DemoPrompt]:
    p = DemoPrompt
    return [
        p(
            "summarise",
            "Summarise this meeting transcript in five bullet points, with owners and "
            "deadlines for every action item.\n\n" + meeting_transcript(rng, turns=180),
        ),
        p(
            "summarise",
            "Write an executive summary (max 200 words) of this quarterly report, then list "
            "the three biggest risks.\n\n" + quarterly_report(rng, paragraphs=22),
        ),
        p("summarise", "TL;DR of this article in two sentences:\n\n" + short_article(rng)),
    ]


def _structured_prompts() -> list[DemoPrompt]:
    p = DemoPrompt
    tools = demo_tools()
    contact = json_schema_format(
        "contact",
        {
            "name": {"type": "string"},
            "email": {"type": "string", "format": "email"},
            "company": {"type": "string"},
            "order_number": {"type": "string"},
        },
        ["name", "email", "company", "order_number"],
    )
    reviews = json_schema_format(
        "reviews",
        {
            "reviews": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "product": {"type": "string"},
                        "sentiment": {
                            "type": "string",
                            "enum": ["positive", "neutral", "negative"],
                        },
                    },
                    "required": ["product", "sentiment"],
                },
            }
        },
        ["reviews"],
    )
    return [
        p(
            "json",
            "Extract the sender's name, email, company and order number as JSON:\n\n"
            "Hello, this is Maria Keller from Nordwind Logistics (maria.keller@nordwind.example). "
            "Our order NW-48213 arrived damaged; please send a replacement by Friday.",
            {"response_format": contact},
            scripted_refusal=True,
        ),
        p(
            "json",
            "Return a JSON object listing every date and the event on it: the kickoff is on "
            "3 March, the design review on 17 March and the launch on 2 May.",
            {"response_format": {"type": "json_object"}},
        ),
        p(
            "json",
            "Classify the sentiment of each review as JSON: 'The headphones sound great.' / "
            "'The charger stopped working after a week.' / 'The case is fine, nothing special.'",
            {"response_format": reviews},
            scripted_refusal=True,
        ),
        p(
            "tools",
            "What's the weather in Lisbon tomorrow? Should I pack an umbrella?",
            {"tools": tools},
        ),
        p(
            "tools",
            "Find me the cheapest flight from BER to MAD on 2025-03-14, returning 2025-03-18.",
            {"tools": tools, "tool_choice": "required"},
        ),
        p(
            "tools",
            "I'm flying SFO to Tokyo on Friday: search flights under 900 euros and check the "
            "Tokyo weather for the week.",
            {"tools": tools},
        ),
    ]


def _language_prompts() -> list[DemoPrompt]:
    p = DemoPrompt
    return [
        p(
            "translation",
            "Translate to French: 'The meeting has moved to Thursday at 10am; please bring the "
            "quarterly figures and the updated roadmap.'",
        ),
        p(
            "translation",
            "Translate into English, keeping the formal tone: 'Sehr geehrte Damen und Herren, "
            "hiermit bestätigen wir den Eingang Ihrer Bestellung vom 12. Mai.'",
        ),
        p(
            "translation",
            "Translate to Spanish: 'Where is the nearest pharmacy that is open late?'",
        ),
        p("creative", "Write a haiku about debugging at 3am."),
        p(
            "creative",
            "Write a 500-word short story about a lighthouse keeper who finds a message in a "
            "bottle sent from the future. Give it a twist ending.",
        ),
        p(
            "creative",
            "Draft a warm but professional LinkedIn post announcing our new open-source "
            "routing library, in under 150 words.",
        ),
    ]


def _conversation_prompts() -> list[DemoPrompt]:
    p = DemoPrompt
    trip = [
        {"role": "system", "content": "You are a friendly, concise travel assistant."},
        {"role": "user", "content": "I have four days in Portugal in October. Lisbon or Porto?"},
        {
            "role": "assistant",
            "content": "Both are lovely in October. Lisbon has more to see; Porto is smaller and "
            "great for food and wine. You could also split the trip: two days each.",
        },
        {"role": "user", "content": "Let's split it. How do I get from Lisbon to Porto?"},
    ]
    code = [
        {"role": "user", "content": "How do I read a CSV file with pandas?"},
        {
            "role": "assistant",
            "content": "Use pandas.read_csv('file.csv'); it returns a DataFrame.",
        },
        {"role": "user", "content": "It has 40 million rows and runs out of memory."},
        {
            "role": "assistant",
            "content": "Read it in chunks with chunksize=, or select columns with usecols=.",
        },
        {
            "role": "user",
            "content": "I need a group-by sum over all rows. Write the chunked version and "
            "explain how to combine the partial results correctly.",
        },
    ]
    return [p("multi-turn", trip), p("multi-turn", code)]


def demo_prompts() -> list[DemoPrompt]:
    """The demo's prompts, in a fixed order (the same list on every call)."""
    rng = random.Random(20240611)  # a private, seeded generator: the documents never change
    return [
        *_basic_prompts(),
        *_document_prompts(rng),
        *_structured_prompts(),
        *_language_prompts(),
        *_conversation_prompts(),
    ]
