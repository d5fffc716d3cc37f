"""The learned router: outcome tables, features, the joint predictor, the judge, the file format,
and how a trained router plugs into a muxer. Synthetic data only (see test_learning_data.py for
the shared data)."""

from __future__ import annotations

import csv
import json
import os
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
from _support import OFFLINE_MODELS, MakeMuxer

from modelmuxer.analysis import analyze
from modelmuxer.errors import ConfigError, PluginError
from modelmuxer.learning.artifact import load_router, save_router
from modelmuxer.learning.outcomes import concat_tables, prompt_text, read_outcomes
from modelmuxer.learning.predictor import LinearQualityModel, QualityPredictor
from modelmuxer.learning.text import DENSE_NAMES, TextFeaturizer
from modelmuxer.learning.trainer import TrainingOptions, train_router
from modelmuxer.learning.training import analyze_prompts
from modelmuxer.learning.utility import UtilityCascadeStrategy, UtilityStrategy
from modelmuxer.strategies.base import Candidate, RoutingTask, StrategySettings
from modelmuxer.strategies.estimates import (
    PriorQualityEstimator,
    estimate_candidates,
    is_prompt_aware,
)
from modelmuxer.types import ModelCard, Request

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

MODELS = ("tiny-model", "mid-model", "big-model")
COSTS = {"tiny-model": 0.0001, "mid-model": 0.001, "big-model": 0.01}
EASY = "What is the capital city of country number {k}? Reply with one word."
HARD = "Prove theorem {k}: the integral of the derivative equals the difference, step by step."


def _outcome(model: str, hard: bool, k: int) -> float:
    if not hard:
        return 1.0
    return {"tiny-model": 0.0, "mid-model": float(k % 2), "big-model": 1.0}[model]


def _answer(score: float, k: int) -> str:
    return f"The answer is {k}." if score else "I am not sure, maybe something else."


def write_routerbench(path: Path, n: int = 40) -> Path:
    """A RouterBench-format CSV: easy prompts everyone answers, hard ones only big-model does."""
    header = ["", "sample_id", "prompt", "eval_name", *MODELS]
    header += [f"{m}|model_response" for m in MODELS] + [f"{m}|total_cost" for m in MODELS]
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow([*header, "oracle_model_to_route_to"])
        for k in range(n):
            hard = k % 2 == 1
            text = (HARD if hard else EASY).format(k=k)
            scores = [_outcome(m, hard, k // 2) for m in MODELS]
            writer.writerow(
                [
                    k,
                    f"synthetic.{k}",
                    repr([text]),
                    "hard" if hard else "easy",
                    *scores,
                    *(_answer(s, k) for s in scores),
                    *(COSTS[m] for m in MODELS),
                    "tiny-model",
                ]
            )
        writer.writerow(
            [n, "synthetic.empty", repr(["x"]), "easy", "", 1, 1, "", "", "", 0, 0, 0, ""]
        )
    return path


def write_two_model(path: Path, n: int = 40) -> Path:
    """A RouteLLM-format CSV: prompt, then a boolean correctness column per model."""
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["prompt", "weak-model", "strong-model"])
        for k in range(n):
            hard = k % 2 == 1
            writer.writerow([(HARD if hard else EASY).format(k=k), str(not hard), "True"])
    return path


@pytest.fixture(scope="module")
def table_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_routerbench(tmp_path_factory.mktemp("data") / "synthetic.csv")


@pytest.fixture(scope="module")
def router_file(table_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    table = read_outcomes(table_path)
    router = train_router(table, analyze_prompts(table.prompts), TrainingOptions(c=10.0))
    return save_router(router, tmp_path_factory.mktemp("router") / "router.npz")


def _request(text: str) -> Request:
    return Request.model_validate({"messages": [{"role": "user", "content": text}]})


def _card(model_id: str, quality: float = 0.7) -> ModelCard:
    return ModelCard(
        id=model_id,
        provider="test",
        input_cost_per_token=1e-6,
        output_cost_per_token=1e-6,
        context_window=8000,
        max_output_tokens=1000,
        quality=quality,
    )


# -- outcome tables ---------------------------------------------------------------------------


def test_routerbench_csv_is_read_with_costs_answers_and_empty_scores_dropped(
    table_path: Path,
) -> None:
    table = read_outcomes(table_path)
    assert table.kind == "routerbench"
    assert table.models == MODELS
    assert len(table) == 40  # the row with an empty score is dropped
    assert table.prompts[0] == EASY.format(k=0)  # the stringified list is unwrapped
    assert table.raw_prompts[0] == repr([EASY.format(k=0)])
    assert table.scores[1].tolist() == [0.0, 0.0, 1.0]
    assert table.scores[3].tolist() == [0.0, 1.0, 1.0]
    assert table.costs[0].tolist() == [COSTS[m] for m in MODELS]
    assert table.answers[1][0] == _answer(0.0, 1)
    assert table.sample_ids[3] == "synthetic.3"


def test_two_model_csv_needs_prices_and_gets_costs_from_them(tmp_path: Path) -> None:
    path = write_two_model(tmp_path / "two.csv")
    with pytest.raises(ConfigError, match="--price"):
        read_outcomes(path)
    table = read_outcomes(path, {"weak-model": 0.2, "strong-model": 20.0})
    assert table.kind == "two-model"
    assert table.models == ("weak-model", "strong-model")
    assert table.scores[1].tolist() == [0.0, 1.0]
    assert table.costs[0, 1] == pytest.approx(100 * table.costs[0, 0])
    assert table.sample_ids[2] == "two/2"


def test_tables_concatenate_over_the_union_of_their_models(
    table_path: Path, tmp_path: Path
) -> None:
    two = read_outcomes(write_two_model(tmp_path / "two.csv"), {"weak-model": 1, "strong-model": 2})
    both = concat_tables([read_outcomes(table_path), two])
    assert both.models == (*MODELS, "weak-model", "strong-model")
    assert both.kind == "mixed"
    assert np.isnan(both.scores[0, 3])
    assert np.isnan(both.scores[-1, 0])
    with pytest.raises(ConfigError):
        concat_tables([])


def _write_rows(path: Path, rows: list[list[object]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows(rows)
    return path


RB_HEADER = ["sample_id", "prompt", "eval_name", "a", "a|total_cost", "b", "b|total_cost"]


@pytest.mark.parametrize(
    ("cells", "message"),
    [
        (["yes", "0.001"], r"data row 2, column 'a': 'yes' is not a score"),
        (["7", "0.001"], r"data row 2, column 'a': score 7.0 is outside \[0, 1\]"),
        (["1", "$0.001"], r"data row 2, column 'a\|total_cost': '\$0.001' is not a cost"),
        (["1", "n/a"], r"'n/a' is not a cost"),
        (["1", ""], r"'' is not a cost"),
        (["1", "-0.5"], r"cost -0.5 is negative"),
    ],
)
def test_routerbench_cells_that_are_not_scores_or_costs_are_named(
    tmp_path: Path, cells: list[str], message: str
) -> None:
    rows: list[list[object]] = [RB_HEADER, ["s0", "p0", "e", 1, 0.001, 0, 0.01]]
    rows.append(["s1", "p1", "e", *cells, 1, 0.01])
    path = _write_rows(tmp_path / "bad.csv", rows)
    with pytest.raises(ConfigError, match=message):
        read_outcomes(path)


def test_nan_scores_drop_the_row_like_empty_ones(tmp_path: Path) -> None:
    rows: list[list[object]] = [RB_HEADER, ["s0", "p0", "e", 1, 0.001, 0, 0.01]]
    rows += [["s1", "p1", "e", "NaN", "", 1, 0.01], ["s2", "p2", "e", 0.5, 0.002, 1, 0.01]]
    rows.append(["s3", "p3", "e", ""])  # a short row: its missing cells are empty
    table = read_outcomes(_write_rows(tmp_path / "nan.csv", rows))
    assert table.sample_ids == ("s0", "s2")
    assert table.scores.tolist() == [[1.0, 0.0], [0.5, 1.0]]
    assert table.costs.tolist() == [[0.001, 0.01], [0.002, 0.01]]


def test_two_model_columns_that_are_not_scores_are_named(tmp_path: Path) -> None:
    rows: list[list[object]] = [["", "prompt", "weak", "strong", "subject"]]
    rows += [[k, f"q{k}", k % 2, 1, "maths"] for k in range(3)]
    path = _write_rows(tmp_path / "extra.csv", rows)
    with pytest.raises(ConfigError, match=r"column 'subject': 'maths' is not a score.*remove"):
        read_outcomes(path, {"weak": 1.0, "strong": 2.0, "subject": 1.0})


def test_two_model_label_columns_are_not_models(tmp_path: Path) -> None:
    rows: list[list[object]] = [["Unnamed: 0", "sample_id", "prompt", "eval_name", "w", "s"]]
    rows += [[k, f"id{k}", f"q{k}", "maths", k % 2, 1] for k in range(3)]
    table = read_outcomes(_write_rows(tmp_path / "labels.csv", rows), {"w": 1.0, "s": 2.0})
    assert table.models == ("w", "s")
    assert table.sample_ids == ("id0", "id1", "id2")


@pytest.mark.parametrize(
    "rows",
    [
        [],
        [RB_HEADER],
        [RB_HEADER, ["s0", "p0", "e", "", 0.001, 1, 0.01]],
        [["prompt", "w", "s"]],
    ],
)
def test_a_file_without_usable_rows_is_a_clear_error(tmp_path: Path, rows: list[list[str]]) -> None:
    path = _write_rows(tmp_path / "empty.csv", rows)
    with pytest.raises(ConfigError, match=r"empty\.csv.*(no rows|is empty)"):
        read_outcomes(path, {"w": 1.0, "s": 2.0})


def test_prompt_text_leaves_plain_text_alone() -> None:
    assert prompt_text("[not a list") == "[not a list"
    assert prompt_text("['a', 'b']") == "a\nb"


# -- features and predictor -------------------------------------------------------------------


def test_featurizer_is_deterministic_and_normalised() -> None:
    texts = ["alpha beta gamma", "alpha beta", "alpha gamma", "beta gamma"]
    featurizer = TextFeaturizer.fit(texts, min_df=2)
    assert featurizer.vocabulary == ("alpha", "beta", "gamma")
    features = analyze(_request("alpha beta beta"))
    idx, vals = featurizer.sparse("alpha beta beta", features)
    idx2, vals2 = featurizer.sparse("alpha beta beta", features)
    assert idx.tolist() == idx2.tolist()
    assert vals.tolist() == vals2.tolist()
    offset = len(DENSE_NAMES)
    assert np.linalg.norm(vals[offset:]) == pytest.approx(1.0)
    assert featurizer.width == offset + 3


def test_trained_predictor_separates_easy_from_hard_prompts(router_file: Path) -> None:
    predictor = load_router(router_file).predictor
    models = [(m, 0.7) for m in MODELS]
    easy = EASY.format(k=101)
    hard = HARD.format(k=101)
    p_easy = predictor.predict(easy, analyze(_request(easy)), models)
    p_hard = predictor.predict(hard, analyze(_request(hard)), models)
    assert p_easy[0] > 0.7 > p_hard[0]  # tiny-model: fine on easy, fails hard
    assert p_hard[2] > p_hard[1] > p_hard[0]  # big > mid > tiny on hard prompts


def test_unseen_models_are_scored_through_their_tier(router_file: Path) -> None:
    predictor = load_router(router_file).predictor
    hard = HARD.format(k=7)
    probs = predictor.quality_batch(
        analyze(_request(hard)),
        _request(hard),
        [_card("vendor/unknown-strong", 0.95), _card("vendor/unknown-weak", 0.5)],
    )
    assert probs[0] > probs[1]
    assert predictor.row_for("provider/big-model") == 2  # matched by the last path segment
    assert predictor.row_for("vendor/unknown-strong") is None


def test_router_file_round_trips_and_rejects_other_files(router_file: Path, tmp_path: Path) -> None:
    router = load_router(router_file)
    again = load_router(save_router(router, tmp_path / "copy.npz"))
    text = HARD.format(k=3)
    feats = analyze(_request(text))
    models = [(m, 0.7) for m in MODELS]
    assert again.predictor.predict(text, feats, models).tolist() == pytest.approx(
        router.predictor.predict(text, feats, models).tolist()
    )
    assert again.cost_per_call["big-model"] == pytest.approx(COSTS["big-model"], rel=1e-3)
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"not a router")
    with pytest.raises(ConfigError, match="not a modelmuxer router file") as info:
        load_router(junk)
    assert "allow_pickle" not in str(info.value)  # numpy's advice to load it unsafely
    with pytest.raises(ConfigError, match="cannot read router file"):
        load_router(tmp_path / "missing.npz")


def _rewrite(source: Path, target: Path, change: str) -> Path:
    """A copy of a router file with one part broken as ``change`` says."""
    with np.load(source) as archive:
        arrays = {key: archive[key] for key in archive.files}
    meta = json.loads(arrays["meta"].tobytes())
    if change == "no known":
        del arrays["known"]
    elif change == "meta a list":
        meta = [meta]
    elif change == "no vocabulary":
        del meta["vocabulary"]
    elif change == "narrow known":
        arrays["known"] = arrays["known"][:, :5]
    elif change == "text weights":
        arrays["shared"] = np.array(["x"] * len(arrays["shared"]))
    elif change == "too few tiers":
        meta["tiers"] = meta["tiers"][:1]
    elif change == "short judge":
        arrays["judge_dense"] = arrays["judge_dense"][:2]
    arrays["meta"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    np.savez(target, **arrays)
    return target


@pytest.mark.parametrize(
    "change",
    [
        "no known",
        "meta a list",
        "no vocabulary",
        "narrow known",
        "text weights",
        "too few tiers",
        "short judge",
    ],
)
def test_a_damaged_router_file_is_refused_when_loaded(
    router_file: Path, tmp_path: Path, change: str
) -> None:
    damaged = _rewrite(router_file, tmp_path / "damaged.npz", change)
    with pytest.raises(ConfigError, match=r"not a valid modelmuxer router file.*retrain"):
        load_router(damaged)


@pytest.mark.parametrize("cut", [0, 100, -30])
def test_an_empty_or_truncated_router_file_is_refused(
    router_file: Path, tmp_path: Path, cut: int
) -> None:
    data = router_file.read_bytes()
    broken = tmp_path / "broken.npz"
    broken.write_bytes(data[:cut])
    with pytest.raises(ConfigError, match="not a modelmuxer router file") as info:
        load_router(broken)
    assert "allow_pickle" not in str(info.value)  # numpy's advice to load it unsafely


def test_a_catalog_id_matches_its_own_training_model_before_one_of_the_same_name() -> None:
    featurizer = TextFeaturizer([], [])
    width = featurizer.width
    known = np.zeros((3, width))
    known[:, 0] = [2.0, -2.0, 0.5]  # the bias column: a different P(good) per model
    model = LinearQualityModel(
        models=("openai/gpt-4o", "azure/gpt-4o", "mistral/small"),
        known=known,
        shared=np.zeros(width),
        tier_weights=np.zeros(width),
        tier_center=0.0,
        tiers=(0.0, 0.0, 0.0),
    )
    predictor = QualityPredictor(featurizer, model)
    assert predictor.row_for("openai/gpt-4o") == 0
    assert predictor.row_for("azure/gpt-4o") == 1
    assert predictor.row_for("gpt-4o") is None  # two training models: ambiguous, by its tier
    assert predictor.row_for("other/small") == 2  # one training model of that name


def test_the_shipped_default_router_loads_and_scores_any_catalog() -> None:
    router = load_router("default")
    assert router.provenance.get("licence") == "Apache-2.0"
    text = "Prove that the square root of 2 is irrational."
    probs = router.predictor.quality_batch(
        analyze(_request(text)), _request(text), [_card("a/strong", 0.95), _card("b/weak", 0.55)]
    )
    assert 0.0 < probs[1] < probs[0] < 1.0


# -- the judge --------------------------------------------------------------------------------


def test_learned_judge_prefers_good_answers_and_keeps_structural_failures(
    router_file: Path,
) -> None:
    judge = load_router(router_file).judge
    assert judge is not None
    text = HARD.format(k=9)
    feats = analyze(_request(text))
    good = judge.score(text, feats, "The answer is 9.", structural=1.0, prior_quality=0.7)
    bad = judge.score(
        text, feats, "I am not sure, maybe something else.", structural=1.0, prior_quality=0.7
    )
    assert good > bad
    assert judge.score(text, feats, "", structural=0.0, prior_quality=0.7) == 0.0


# -- the pipeline -----------------------------------------------------------------------------


class _WrongBatch(PriorQualityEstimator):
    def quality_batch(
        self, features: object, request: Request, cards: list[ModelCard]
    ) -> list[float]:
        return [0.5]


def test_a_batch_estimator_must_score_every_candidate() -> None:
    request = _request("hello")
    with pytest.raises(PluginError, match="quality_batch returned 1"):
        estimate_candidates(analyze(request), request, [_card("a"), _card("b")], _WrongBatch())


def test_muxer_with_a_router_file_uses_its_estimates(
    router_file: Path, make_muxer: MakeMuxer
) -> None:
    from modelmuxer.config import MuxerSettings

    models = ["offline/openai/gpt-4o-mini", "offline/openai/gpt-4o"]
    plain = make_muxer(models, settings=MuxerSettings(models=models))
    learned = make_muxer(models, settings=MuxerSettings(models=models, router=str(router_file)))
    text = HARD.format(k=5)
    prior = {c.model: c.quality for c in plain.route(text).candidates}
    estimated = {c.model: c.quality for c in learned.route(text).candidates}
    assert prior != estimated
    assert estimated["offline/openai/gpt-4o"] > estimated["offline/openai/gpt-4o-mini"]


def test_the_learned_predictor_declares_itself_prompt_aware(router_file: Path) -> None:
    assert is_prompt_aware(load_router(router_file).predictor)
    assert not is_prompt_aware(PriorQualityEstimator())
    assert not is_prompt_aware(object())  # the attribute is optional


def test_hybrid_drops_its_complexity_discount_with_a_router_file(
    router_file: Path, make_muxer: MakeMuxer
) -> None:
    from modelmuxer.config import MuxerSettings

    models = ["offline/openai/gpt-4o-mini", "offline/openai/gpt-4o"]
    plain = make_muxer(models, settings=MuxerSettings(models=models), strategy="hybrid")
    learned = make_muxer(
        models, settings=MuxerSettings(models=models, router=str(router_file)), strategy="hybrid"
    )
    text = HARD.format(k=5)
    assert "complexity" in plain.route(text).reason
    assert "learned estimates" in learned.route(text).reason


def test_muxer_with_a_router_file_judges_answers_with_the_learned_judge(
    router_file: Path, make_muxer: MakeMuxer
) -> None:
    from modelmuxer.backends.base import ModelCall, ModelResponse
    from modelmuxer.config import MuxerSettings
    from modelmuxer.context import RequestContext
    from modelmuxer.types import Usage

    settings = MuxerSettings(models=list(OFFLINE_MODELS), router=str(router_file))
    muxer = make_muxer(list(OFFLINE_MODELS), settings=settings, strategy="cascade")
    request = _request(HARD.format(k=11))
    ctx = RequestContext(
        request=request,
        strategy="cascade",
        stream=False,
        started_at=datetime.now(UTC),
        started_perf=0.0,
        features=analyze(request),
    )
    card = muxer.catalog.get(OFFLINE_MODELS[0])
    call = ModelCall(card, request, muxer.backends.for_card(card), 10.0)

    def judge(text: str, finish: str = "stop") -> float:
        response = ModelResponse(text=text, finish_reason=finish, usage=Usage())  # type: ignore[arg-type]
        score = muxer.plugins.hook.modelmuxer_judge(ctx=ctx, call=call, response=response)
        assert isinstance(score, float)
        return score

    assert judge("The answer is 11.") > judge("I am not sure, maybe something else.")
    assert judge("The answer is 11.", "length") == 0.3  # structurally truncated
    assert judge("") == 0.0


def test_unknown_router_file_is_a_config_error(tmp_path: Path, make_muxer: MakeMuxer) -> None:
    from modelmuxer.config import MuxerSettings

    with pytest.raises(ConfigError, match="cannot read router file"):
        make_muxer(settings=MuxerSettings(router=str(tmp_path / "nope.npz")))


@pytest.mark.parametrize("score", [0.0, 1.0])
def test_training_on_outcomes_that_are_all_the_same_is_a_clear_error(
    tmp_path: Path, score: float
) -> None:
    rows: list[list[object]] = [RB_HEADER]
    rows += [[f"s{k}", f"prompt {k}", "e", score, 0.001, score, 0.01] for k in range(8)]
    table = read_outcomes(_write_rows(tmp_path / "same.csv", rows))
    with pytest.raises(ConfigError, match="good and bad outcomes"):
        train_router(table, analyze_prompts(table.prompts))


def test_a_judge_is_not_trained_when_every_answer_scores_the_same(tmp_path: Path) -> None:
    header = [*RB_HEADER, "a|model_response"]
    rows: list[list[object]] = [header]
    rows += [[f"s{k}", f"prompt {k}", "e", 1, 0.001, k % 2, 0.01, f"ans {k}"] for k in range(30)]
    table = read_outcomes(_write_rows(tmp_path / "answers.csv", rows))
    router = train_router(table, analyze_prompts(table.prompts))
    assert router.judge is None


# -- the utility strategies -------------------------------------------------------------------


def _task(
    estimates: dict[str, tuple[float, float]], cost_weight: float, **routing: float
) -> RoutingTask:
    request = Request.model_validate(
        {"messages": [{"role": "user", "content": "hi"}], "routing": routing}
    )
    candidates = tuple(Candidate(_card(m), q, c, c, 1.0) for m, (q, c) in estimates.items())
    settings = StrategySettings(cost_weight=cost_weight, latency_weight=0.0)
    return RoutingTask(request, analyze(request), candidates, settings=settings)


ESTIMATES = {"cheap": (0.6, 0.001), "mid": (0.75, 0.004), "dear": (0.9, 0.01)}


def test_utility_trades_quality_for_cost_linearly() -> None:
    strategy = UtilityStrategy()
    assert strategy.select(_task(ESTIMATES, 0.0)).models == ["dear"]
    assert strategy.select(_task(ESTIMATES, 1.0)).models == ["cheap"]
    # k = 1: utilities 0.6 - 0.1, 0.75 - 0.4, 0.9 - 1.0
    decision = strategy.select(_task(ESTIMATES, 0.5))
    assert decision.models == ["cheap"]
    scores = {c.model: c.score for c in decision.candidates}
    assert scores["mid"] == pytest.approx(0.35)
    # k = 0.25: 0.575, 0.65, 0.65 -> a tie goes to the cheaper
    assert strategy.select(_task(ESTIMATES, 0.2)).models == ["mid"]


def test_utility_cascade_threshold_is_the_utility_of_escalating() -> None:
    decision = UtilityCascadeStrategy().select(_task(ESTIMATES, 0.2))
    # k = 0.25: the best utility is mid (0.65, cheaper than dear's 0.65); dear is next
    assert decision.models == ["mid", "dear"]
    assert decision.threshold == pytest.approx(0.9 - 0.25)


def test_utility_cascade_calls_one_model_when_nothing_dearer_is_worth_it() -> None:
    assert UtilityCascadeStrategy().select(_task(ESTIMATES, 0.0)).models == ["dear"]
    decision = UtilityCascadeStrategy().select(_task(ESTIMATES, 0.2, max_cost_usd=0.012))
    assert decision.models == ["mid"]  # mid + dear worst cases exceed the ceiling


def test_utility_sweep_follows_the_rows_switching_points() -> None:
    from modelmuxer.learning.evaluation import RowEstimates, _switch_points, knob_values

    quality = np.array([0.6, 0.75, 0.9])
    cost = np.array([0.1, 0.4, 1.0])
    # dear -> mid at (0.9 - 0.75) / 0.6 = 0.25, mid -> cheap at 0.15 / 0.3 = 0.5
    assert _switch_points(quality, cost) == pytest.approx([0.25, 0.5])
    estimates = RowEstimates(quality=quality[None, :], cost=cost[None, :], judge=None)
    knobs = knob_values("utility", 3, estimates)
    k = 0.375  # the median switching point
    assert knobs == pytest.approx([1.0, k / (1 + k), 0.0])
    assert knob_values("hybrid", 3) == [1.0, 0.5, 0.0]


def test_mt_bench_judgments_become_graded_outcomes(tmp_path: Path) -> None:
    import json

    from modelmuxer.learning.mt_bench import read_mt_bench

    (tmp_path / "question.jsonl").write_text(
        json.dumps({"question_id": 1, "category": "writing", "turns": ["Write.", "Shorter."]})
        + "\n"
    )
    grades = [("strong-model", 1, 10), ("weak-model", 1, 1), ("strong-model", 2, 7)]
    (tmp_path / "judgements.jsonl").write_text(
        "".join(
            json.dumps({"question_id": 1, "model": m, "turn": t, "score": g}) + "\n"
            for m, t, g in grades
        )
    )
    path = tmp_path / "judgements.jsonl"
    with pytest.raises(ConfigError, match="--price"):
        read_mt_bench(path, {})
    table = read_mt_bench(path, {"strong-model": 10.0, "weak-model": 0.1})
    assert table.models == ("strong-model", "weak-model")
    assert table.prompts == ("Write.", "Shorter.")
    assert table.scores[0].tolist() == [1.0, 0.0]
    assert table.scores[1, 0] == pytest.approx(6 / 9)
    assert np.isnan(table.scores[1, 1])
