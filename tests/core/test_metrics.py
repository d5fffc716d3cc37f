"""Router metrics against hand-computed cases: hull, AIQ, PGR, APGR, CPT."""

from __future__ import annotations

import pytest

from modelmuxer.learning.metrics import aiq, apgr, cpt, hull_value, pgr, upper_hull


def test_hull_drops_dominated_and_concave_points() -> None:
    # (2, 0.5) is dearer than (1, 0.6) and worse: dominated. (3, 0.7) lies below the chord
    # from (1, 0.6) to (4, 0.9) (which passes 0.8 at cost 3): not on the hull.
    hull = upper_hull([1, 2, 3, 4], [0.6, 0.5, 0.7, 0.9])
    assert hull == [(1, 0.6), (4, 0.9)]


def test_hull_keeps_a_concave_kink_and_the_best_of_equal_costs() -> None:
    hull = upper_hull([0, 1, 1, 2], [0.0, 0.5, 0.8, 1.0])
    assert hull == [(0, 0.0), (1, 0.8), (2, 1.0)]


def test_hull_value_interpolates_and_is_flat_beyond_the_ends() -> None:
    hull = [(1.0, 0.6), (3.0, 1.0)]
    assert hull_value(hull, 2.0) == pytest.approx(0.8)
    assert hull_value(hull, 0.0) == 0.6
    assert hull_value(hull, 9.0) == 1.0


def test_aiq_is_the_mean_quality_under_the_hull() -> None:
    # Hull (0, 0.5) -> (1, 0.9) -> (2, 1.0): areas 0.7 + 0.95 over a width of 2.
    assert aiq([0, 1, 2], [0.5, 0.9, 1.0]) == pytest.approx(0.825)


def test_aiq_over_a_wider_range_extends_the_hull_flat() -> None:
    # Hull (1, 0.5) -> (2, 0.7); range 0..4: 0.5 * 1 + 0.6 * 1 + 0.7 * 2 = 2.5 over 4.
    assert aiq([1, 2], [0.5, 0.7], cost_range=(0.0, 4.0)) == pytest.approx(0.625)


def test_aiq_of_a_router_above_the_chord_beats_the_zero_router() -> None:
    zero = aiq([1, 3], [0.6, 0.9], cost_range=(1, 3))
    router = aiq([1, 2, 3], [0.6, 0.88, 0.9], cost_range=(1, 3))
    assert zero == pytest.approx(0.75)
    # (1, .6) -> (2, .88) -> (3, .9): areas 0.74 + 0.89 over a width of 2.
    assert router == pytest.approx(0.815)


def test_pgr() -> None:
    assert pgr(0.7, weak=0.6, strong=0.8) == pytest.approx(0.5)
    with pytest.raises(ValueError, match="undefined"):
        pgr(0.7, 0.5, 0.5)


def test_apgr_of_random_routing_is_one_half() -> None:
    # Sending a share s to the strong model at random recovers s of the gap: area 1/2.
    assert apgr([0.5], [0.7], weak=0.6, strong=0.8) == pytest.approx(0.5)


def test_apgr_hand_computed() -> None:
    # PGR curve (0, 0) -> (0.2, 0.5) -> (0.5, 0.9) -> (1, 1):
    # 0.05 + 0.21 + 0.475 = 0.735.
    shares = [0.2, 0.5]
    qualities = [0.6 + 0.5 * 0.2, 0.6 + 0.9 * 0.2]
    assert apgr(shares, qualities, weak=0.6, strong=0.8) == pytest.approx(0.735)


def test_cpt_interpolates_along_the_pgr_curve() -> None:
    shares = [0.2, 0.5]
    qualities = [0.6 + 0.5 * 0.2, 0.6 + 0.9 * 0.2]
    assert cpt(shares, qualities, 0.6, 0.8, 0.5) == pytest.approx(0.2)
    # 0.8 lies between PGR 0.5 (share 0.2) and 0.9 (share 0.5): 0.2 + 0.3 * 0.75.
    assert cpt(shares, qualities, 0.6, 0.8, 0.8) == pytest.approx(0.425)
    # Random routing needs half the calls for half the gap.
    assert cpt([], [], 0.6, 0.8, 0.5) == pytest.approx(0.5)


def test_invalid_inputs_are_rejected() -> None:
    with pytest.raises(ValueError, match="at least one point"):
        upper_hull([], [])
    with pytest.raises(ValueError, match="same length"):
        upper_hull([1.0], [0.5, 0.6])
    with pytest.raises(ValueError, match="reversed"):
        aiq([1, 2], [0.5, 0.6], cost_range=(2.0, 1.0))
