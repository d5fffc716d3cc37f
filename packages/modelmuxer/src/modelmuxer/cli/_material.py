"""Material the demo prompts embed: long documents, code snippets, tools and JSON schemas.

The documents are generated deterministically: sentences are assembled from templates and slot
values drawn from the caller's seeded ``random.Random``, so the same seed always gives the same
text and no data file is needed.
"""

from __future__ import annotations

import random
from typing import Any

__all__ = [
    "BUGGY_PYTHON",
    "RUST_DEADLOCK",
    "TRACEBACK",
    "demo_tools",
    "json_schema_format",
    "meeting_transcript",
    "quarterly_report",
    "short_article",
]

_PEOPLE = ("Priya", "Jonas", "Amelie", "Marcus", "Sofia", "Kenji", "Laura", "Tomás")
_TOPICS = (
    "the checkout redesign",
    "the data migration",
    "the Q3 hiring plan",
    "on-call load",
    "the pricing experiment",
    "the mobile release",
    "the vendor contract",
    "customer churn in the EU",
    "the analytics dashboard",
    "the security audit",
)
_DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "the end of the month")
_NUMBERS = ("two", "three", "five", "eight", "twelve", "fifteen", "twenty")
_TURNS = (
    "I looked at {topic} again and I think we are about {n} days behind where we wanted to be.",
    "Can we agree that {person} owns {topic} and reports back by {day}?",
    "The main blocker on {topic} is still the dependency on the platform team.",
    "I talked to two customers last week and both mentioned {topic} unprompted.",
    "If we cut scope on {topic} we can probably still ship by {day}.",
    "I'd rather not promise a date for {topic} until we have the load test results.",
    "We spent {n} hours last sprint on {topic}, which is more than we budgeted.",
    "My concern with {topic} is that nobody has checked the legal side yet.",
    "Let's park {topic} for now and come back to it on {day}.",
    "Action item: {person} to write up the options for {topic} before {day}.",
    "The numbers on {topic} look better than last month, roughly {n} percent up.",
    "I disagree slightly: {topic} is risky, but delaying it costs us more.",
    "Quick update on {topic}: the first draft is done and in review.",
    "Do we have budget for {n} more contractors to help with {topic}?",
    "I'll sync with {person} after this call about {topic}.",
)
_REPORT = (
    "Revenue from {segment} grew {pct}% quarter over quarter, driven by {driver}.",
    "Operating costs in {segment} rose {pct}%, mostly because of {driver}.",
    "Customer retention in {segment} held at {ret}%, in line with the annual target.",
    "We expect {driver} to remain the main headwind for {segment} next quarter.",
    "Gross margin for {segment} improved by {pts} points after {driver}.",
    "The board approved additional investment in {segment} to accelerate {driver}.",
    "Headcount in {segment} was flat, although attrition rose to {pct}%.",
    "Management considers {driver} a material risk to the {segment} forecast.",
    "Excluding one-off items, {segment} earnings were {pct}% above plan.",
)
_SEGMENTS = ("enterprise software", "consumer subscriptions", "payments", "cloud hosting")
_DRIVERS = (
    "higher energy prices",
    "the new partner programme",
    "currency effects",
    "strong demand in Southeast Asia",
    "the migration to usage-based pricing",
    "supply-chain delays",
    "the renegotiated data-centre leases",
)


def meeting_transcript(rng: random.Random, turns: int) -> str:
    """A product meeting transcript of ``turns`` speaker turns (about 20 words each)."""
    lines = ["Weekly product sync - transcript (auto-generated)", ""]
    for minute in range(turns):
        template = rng.choice(_TURNS)
        text = template.format(
            topic=rng.choice(_TOPICS),
            person=rng.choice(_PEOPLE),
            day=rng.choice(_DAYS),
            n=rng.choice(_NUMBERS),
        )
        if rng.random() < 0.4:  # most real turns run on for a second sentence
            text += " " + rng.choice(_TURNS).format(
                topic=rng.choice(_TOPICS),
                person=rng.choice(_PEOPLE),
                day=rng.choice(_DAYS),
                n=rng.choice(_NUMBERS),
            )
        lines.append(f"[{minute // 3:02d}:{(minute % 3) * 20:02d}] {rng.choice(_PEOPLE)}: {text}")
    return "\n".join(lines)


def _report_sentence(rng: random.Random) -> str:
    return rng.choice(_REPORT).format(
        segment=rng.choice(_SEGMENTS),
        driver=rng.choice(_DRIVERS),
        pct=rng.randint(2, 31),
        ret=rng.randint(84, 97),
        pts=rng.randint(1, 6),
    )


def quarterly_report(rng: random.Random, paragraphs: int) -> str:
    """A quarterly business report of ``paragraphs`` paragraphs (five to eight sentences each)."""
    parts = ["Quarterly report - Q2", ""]
    for index in range(paragraphs):
        heading = f"{index + 1}. {rng.choice(_SEGMENTS).capitalize()}"
        body = " ".join(_report_sentence(rng) for _ in range(rng.randint(5, 8)))
        parts.extend([heading, body, ""])
    return "\n".join(parts).rstrip()


def short_article(rng: random.Random) -> str:
    """A short news-style article (a few hundred words)."""
    opening = (
        "City officials announced on Tuesday that the new tram line will open two months "
        "later than planned, citing delays in the delivery of signalling equipment."
    )
    body = " ".join(_report_sentence(rng) for _ in range(12))
    closing = (
        "Commuter groups welcomed the transparency but asked for a firm date, while the "
        "operator said the remaining tests would be completed by the autumn."
    )
    return f"{opening}\n\n{body}\n\n{closing}"


def demo_tools() -> list[dict[str, Any]]:
    """Two tools in the OpenAI ``tools`` shape: ``get_weather`` and ``search_flights``."""
    return [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "description": "Current weather and forecast for a city.",
                "parameters": {
                    "type": "object",
                    "properties": {
                        "city": {"type": "string", "description": "City name, e.g. Lisbon"},
                        "days": {"type": "integer", "minimum": 1, "maximum": 7},
                        "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
                    },
                    "required": ["city"],
                },
            },
        },
        {
            "type": "function",
            "function": {
                "name": "search_flights",
                "description": "Search flights between two airports on a date.",
                "parameters": {
                    "type": "object",
                    "properties": {
                        "origin": {"type": "string", "description": "IATA code, e.g. BER"},
                        "destination": {"type": "string", "description": "IATA code, e.g. MAD"},
                        "date": {"type": "string", "format": "date"},
                        "return_date": {"type": "string", "format": "date"},
                        "max_price_eur": {"type": "number", "minimum": 0},
                    },
                    "required": ["origin", "destination", "date"],
                },
            },
        },
    ]


def json_schema_format(
    name: str, properties: dict[str, Any], required: list[str]
) -> dict[str, Any]:
    """A ``response_format`` asking for a JSON object with these properties."""
    return {
        "type": "json_schema",
        "json_schema": {
            "name": name,
            "schema": {"type": "object", "properties": properties, "required": required},
        },
    }


BUGGY_PYTHON = """def average(values):
    total = 0
    for v in values:
        total += v
    return total / len(values)

print(average([]))"""

TRACEBACK = """Traceback (most recent call last):
  File "stats.py", line 7, in <module>
    print(average([]))
  File "stats.py", line 5, in average
    return total / len(values)
ZeroDivisionError: division by zero"""

RUST_DEADLOCK = """let data = Arc::new(Mutex::new(Vec::new()));
let guard = data.lock().await;
tokio::spawn({ let data = data.clone(); async move { data.lock().await.push(1); } })
    .await.unwrap();
println!("{:?}", *guard);"""
