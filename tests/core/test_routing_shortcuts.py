"""The routing path's shortcuts give what the plain computations they stand in for give.

Routing keeps per-card profiles, skips the context-window loop when every window fits, ranks
``hybrid``'s candidates without rounding every score when the best ones are far apart, and
takes each cost's log directly when none is below the floor. Each is checked here against the
plain computation, on inputs built to reach both sides of the shortcut.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from modelmuxer import Muxer
from modelmuxer.analysis import analyze
from modelmuxer.context import RequestContext
from modelmuxer.strategies.base import Candidate
from modelmuxer.strategies.estimates import (
    CardProfiles,
    PriorQualityEstimator,
    card_profile,
    estimate_candidates,
)
from modelmuxer.strategies.hybrid import _TIE, _top_two, hybrid_scores
from modelmuxer.testing import make_card

_CARDS = [
    make_card(
        f"acme/m{i}",
        input_price_per_mtok=0.1 * (i + 1) ** 2,
        output_price_per_mtok=0.4 * (i + 1) ** 2,
        quality=0.5 + 0.04 * i,
        context_window=4_000 if i == 2 else 128_000,
        max_output_tokens=512 if i == 3 else 4096,
    )
    for i in range(8)
]


def _candidates(qualities: list[float], costs: list[float], repeat: bool) -> list[Candidate]:
    cards = [_CARDS[i % (2 if repeat else len(_CARDS))] for i in range(len(qualities))]
    return [
        Candidate(card, q, c, 2 * c, 0.5 + i)
        for i, (card, q, c) in enumerate(zip(cards, qualities, costs, strict=True))
    ]


def _ranked_first_two(candidates: list[Candidate], values: list[float]) -> tuple[int, int | None]:
    """The plain ranking: every score rounded, sorted with cost and id."""
    keys = [
        (-round(v / _TIE), c.cost_usd, c.model) for c, v in zip(candidates, values, strict=True)
    ]
    order = sorted(range(len(keys)), key=keys.__getitem__)
    return order[0], order[1] if len(order) > 1 else None


def _outcome(fn: Callable[..., object], *args: object) -> object:
    try:
        return fn(*args)
    except (ValueError, OverflowError, TypeError) as exc:
        return (type(exc), str(exc))


# Scores close together (within a few _TIE), far apart, equal, or not finite.
_SCORE = st.one_of(
    st.integers(0, 40).map(lambda k: 0.5 + k * 3e-10),
    st.floats(-2.0, 1.0, allow_nan=False),
    st.sampled_from([0.25, 0.5, math.nan, math.inf, -math.inf, 1e300]),
)


@settings(max_examples=400, deadline=None)
@given(st.lists(_SCORE, min_size=1, max_size=12), st.booleans(), st.data())
def test_hybrid_top_two_is_the_first_two_of_the_full_ranking(
    values: list[float], repeat: bool, data: st.DataObject
) -> None:
    costs = data.draw(
        st.lists(st.sampled_from([1e-4, 2e-4, 3e-4]), min_size=len(values), max_size=len(values))
    )
    candidates = _candidates([0.5] * len(values), costs, repeat)
    assert repr(_outcome(_top_two, candidates, values)) == repr(
        _outcome(_ranked_first_two, candidates, values)
    )


def _plain_hybrid_scores(
    candidates: list[Candidate], cost_weight: float, latency_weight: float
) -> dict[str, float]:
    """The documented utility, computed the plain way (every cost floored before its log)."""
    costs = [c.cost_usd for c in candidates]
    positive = [x for x in costs if x > 0.0]
    floor = min(positive) / 10.0 if positive else 1.0
    logs = [math.log(max(x, floor)) if not math.isnan(x) else math.nan for x in costs]
    log_min = min(logs)
    log_span = max(logs) - log_min
    latencies = [c.latency_s for c in candidates]
    lat_min = min(latencies)
    lat_span = max(latencies) - lat_min
    scores: dict[str, float] = {}
    for c, log_cost in zip(candidates, logs, strict=True):
        c_norm = (log_cost - log_min) / log_span if log_span > 0.0 else 0.0
        l_norm = (c.latency_s - lat_min) / lat_span if lat_span > 0.0 else 0.0
        scores[c.model] = c.quality - cost_weight * c_norm - latency_weight * l_norm
    return scores


_COST = st.one_of(
    st.floats(1e-9, 1.0), st.sampled_from([0.0, 1e-6, 1e-3, math.inf, math.nan, -1e-4])
)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.tuples(st.floats(0.0, 1.0), _COST), min_size=1, max_size=10),
    st.booleans(),
    st.sampled_from([0.0, 0.35, 1.0]),
)
def test_hybrid_scores_take_free_and_odd_costs_as_the_plain_formula_does(
    rows: list[tuple[float, float]], repeat: bool, cost_weight: float
) -> None:
    candidates = _candidates([q for q, _ in rows], [c for _, c in rows], repeat)
    assert repr(_outcome(hybrid_scores, candidates, cost_weight, 0.05)) == repr(
        _outcome(_plain_hybrid_scores, candidates, cost_weight, 0.05)
    )


def test_card_profiles_are_kept_for_the_same_cards_and_rebuilt_for_others() -> None:
    profiles = CardProfiles()
    cards = tuple(_CARDS[:3])
    first = profiles.of(cards)
    assert first.profiles == tuple(card_profile(card) for card in cards)
    assert first.smallest_window == 4_000
    assert first.ids == {"acme/m0", "acme/m1", "acme/m2"}
    assert profiles.of(tuple(cards)) is first  # the same card objects: nothing rebuilt
    copies = tuple(card.model_copy() for card in cards)  # equal, but other objects
    rebuilt = profiles.of(copies)
    assert rebuilt is not first
    assert [p[0] for p in rebuilt.profiles] == list(copies)
    assert profiles.of(cards[:2]).ids == {"acme/m0", "acme/m1"}
    assert profiles.of(()).smallest_window == 0


def _words(n: int) -> str:
    return " ".join(["word"] * n)


def test_router_candidates_are_estimate_candidates_of_the_eligible_cards() -> None:
    muxer = Muxer(_CARDS, load_entrypoints=False)
    # A short prompt fits every window (the shortcut); a long one does not fit acme/m2's 4k
    # window (the loop); max_tokens takes the other path of the hard constraints.
    for prompt, params in [
        (_words(20), {}),
        (_words(4_000), {}),
        (_words(20), {"max_tokens": 700}),
    ]:
        request = muxer.request(prompt, **params)
        ctx = RequestContext(request, "hybrid", False, datetime.now(UTC), 0.0)
        task = muxer._router.task(ctx)
        features = analyze(request)
        eligible = [card for card in _CARDS if card.id not in task.excluded]
        assert [c.model for c in task.candidates] == [card.id for card in eligible]
        expected = estimate_candidates(features, request, eligible, PriorQualityEstimator())
        assert list(task.candidates) == list(expected)
        assert all(a.card is b.card for a, b in zip(task.candidates, expected, strict=True))
        if prompt == _words(4_000):
            assert "acme/m2" in task.excluded
