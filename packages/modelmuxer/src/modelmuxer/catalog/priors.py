"""Default quality and latency priors for well-known model families.

These are *priors*, not measurements: a coarse ordering per model and family, used until a
learned quality predictor is loaded or the user sets ``quality`` on the model. Unknown models
get a prior from their price (dearer models are usually stronger), clamped to a modest range.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

__all__ = ["Prior", "prior_for"]


@dataclass(frozen=True, slots=True)
class Prior:
    """A model's prior quality, time to first token (s) and decoding speed (tokens/s)."""

    quality: float
    ttft_s: float
    tokens_per_s: float
    source: str


# First match wins: specific models before families, families before size hints. Qualities are
# coarse orderings from public leaderboards, not measurements of ours; ttft / tokens per second
# are typical public figures. Set ``quality`` / ``latency`` on a model to replace them.
_TABLE: tuple[tuple[str, float, float, float], ...] = (
    # OpenAI
    (r"^gpt-5(\.\d+)?-nano", 0.75, 0.35, 160.0),
    (r"^gpt-5(\.\d+)?-mini", 0.86, 0.45, 120.0),
    (r"^gpt-5", 0.94, 1.20, 60.0),
    (r"^gpt-4\.1-nano", 0.70, 0.30, 160.0),
    (r"^gpt-4\.1-mini", 0.81, 0.40, 120.0),
    (r"^gpt-4\.1", 0.88, 0.60, 80.0),
    (r"^gpt-4o-mini", 0.76, 0.40, 110.0),
    (r"^gpt-4o", 0.86, 0.55, 90.0),
    (r"^gpt-4", 0.84, 0.80, 40.0),
    (r"^gpt-3\.5", 0.66, 0.35, 100.0),
    (r"^o\d(-mini)?", 0.92, 3.00, 80.0),
    # Anthropic
    (r"opus", 0.95, 1.50, 45.0),
    (r"claude-3-5-sonnet|claude-3-7-sonnet", 0.89, 0.80, 70.0),
    (r"sonnet|fable|mythos", 0.92, 0.90, 70.0),
    (r"haiku-[45]", 0.82, 0.45, 120.0),
    (r"claude-3-5-haiku", 0.77, 0.45, 110.0),
    (r"haiku", 0.68, 0.40, 130.0),
    (r"claude-v2|claude-2", 0.72, 1.00, 40.0),
    (r"claude-instant", 0.64, 0.50, 90.0),
    (r"claude-v1|claude-1", 0.70, 1.00, 40.0),
    # Mistral
    (r"mistral-large|magistral-medium", 0.85, 0.70, 60.0),
    (r"mistral-medium|magistral-small", 0.81, 0.60, 80.0),
    (r"devstral|codestral", 0.78, 0.40, 110.0),
    (r"mistral-small", 0.74, 0.35, 120.0),
    (r"mixtral-8x22b", 0.72, 0.50, 80.0),
    (r"mixtral", 0.66, 0.40, 90.0),
    (r"ministral-(3-)?14b|open-mistral-nemo", 0.68, 0.30, 130.0),
    (r"ministral-(3-)?8b", 0.66, 0.30, 150.0),
    (r"ministral-(3-)?3b|mistral-tiny|mistral-7b", 0.58, 0.25, 170.0),
    # Others
    (r"gemini-.*pro", 0.90, 0.90, 70.0),
    (r"gemini-.*flash-lite", 0.72, 0.30, 180.0),
    (r"gemini-.*flash", 0.80, 0.35, 150.0),
    (r"deepseek", 0.87, 1.00, 50.0),
    (r"llama-?3.*405b", 0.86, 0.80, 40.0),
    (r"llama-?3.*70b", 0.80, 0.50, 70.0),
    (r"llama-2-70b|yi-34b", 0.62, 0.60, 50.0),
    (r"code-?llama", 0.56, 0.50, 60.0),
    (r"wizardlm|llama-2-13b|llama-?3.*8b", 0.58, 0.30, 100.0),
    # Families by size hint, when nothing above matched
    (r"(nano|tiny|\b[13]b\b)", 0.58, 0.30, 150.0),
    (r"(mini|small|flash|lite|\b[78]b\b)", 0.72, 0.40, 120.0),
    (r"(large|pro\b|70b|72b)", 0.84, 0.70, 60.0),
)
_FAMILIES: tuple[tuple[re.Pattern[str], float, float, float], ...] = tuple(
    (re.compile(pattern), quality, ttft, tps) for pattern, quality, ttft, tps in _TABLE
)


def _price_prior(input_cost: float, output_cost: float) -> float:
    """Quality from price: $0.10 blended per million tokens -> 0.60, each 10x -> +0.10."""
    blended_per_mtok = (input_cost + 3.0 * output_cost) / 4.0 * 1e6
    if blended_per_mtok <= 0.0:
        return 0.65
    return min(max(0.60 + 0.10 * math.log10(blended_per_mtok / 0.10), 0.50), 0.90)


def prior_for(model_id: str, input_cost: float, output_cost: float) -> Prior:
    """The prior for ``model_id``: its family's tier, else one derived from its price."""
    name = model_id.rsplit("/", 1)[-1].lower()
    for pattern, quality, ttft, tps in _FAMILIES:
        if pattern.search(name):
            return Prior(quality, ttft, tps, f"table ({pattern.pattern})")
    return Prior(_price_prior(input_cost, output_cost), 0.6, 80.0, "price-derived")
