"""The router file: a trained quality predictor (and optional answer judge) in one ``.npz``.

Format ``modelmuxer-router`` version 1: a NumPy ``.npz`` archive, read with
``allow_pickle=False`` (so loading a file from elsewhere cannot run code), holding

- ``meta``: UTF-8 JSON (as a uint8 array) with ``format``, ``version``, ``models`` (the training
  data's model names), ``tiers``, ``tier_center``, ``vocabulary`` and ``idf`` of the prompt
  featurizer, ``cost_per_token`` / ``cost_per_call`` per model (fitted from the data's costs,
  used by ``modelmuxer eval``), ``provenance`` (data files, licence, date, rows) and, when a
  judge was trained, ``judge_vocabulary`` / ``judge_idf`` of its answer featurizer;
- arrays ``known`` (models x width), ``shared`` and ``tier_weights`` (width), and for a judge
  ``judge_prompt``, ``judge_answer``, ``judge_dense``.
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from modelmuxer.errors import ConfigError
from modelmuxer.learning.judge import ANSWER_DENSE, AnswerJudge
from modelmuxer.learning.predictor import LinearQualityModel, QualityPredictor
from modelmuxer.learning.text import TextFeaturizer

__all__ = ["DEFAULT_ROUTER", "FORMAT", "VERSION", "LearnedRouter", "load_router", "save_router"]

FORMAT = "modelmuxer-router"
VERSION = 1
#: The router shipped inside the package (trained on RouteLLM's Apache-2.0 data only).
DEFAULT_ROUTER = "default_router.npz"


@dataclass
class LearnedRouter:
    """A loaded router file: the predictor, the judge when trained, and what it was made from."""

    predictor: QualityPredictor
    judge: AnswerJudge | None = None
    cost_per_token: dict[str, float] = field(default_factory=dict)
    cost_per_call: dict[str, float] = field(default_factory=dict)
    provenance: dict[str, Any] = field(default_factory=dict)

    @property
    def models(self) -> tuple[str, ...]:
        """The training data's model names."""
        return self.predictor.model.models


def save_router(router: LearnedRouter, path: str | Path) -> Path:
    """Write ``router`` to ``path`` (a ``.npz`` file) and return the path."""
    model = router.predictor.model
    featurizer = router.predictor.featurizer
    meta: dict[str, Any] = {
        "format": FORMAT,
        "version": VERSION,
        "models": list(model.models),
        "tiers": list(model.tiers),
        "tier_center": model.tier_center,
        "vocabulary": list(featurizer.vocabulary),
        "idf": featurizer.idf,
        "cost_per_token": router.cost_per_token,
        "cost_per_call": router.cost_per_call,
        "provenance": router.provenance,
    }
    arrays: dict[str, Any] = {
        "known": model.known,
        "shared": model.shared,
        "tier_weights": model.tier_weights,
    }
    judge = router.judge
    if judge is not None:
        meta["judge_vocabulary"] = list(judge.answer_featurizer.vocabulary)
        meta["judge_idf"] = judge.answer_featurizer.idf
        arrays |= {
            "judge_prompt": judge.prompt_weights,
            "judge_answer": judge.answer_weights,
            "judge_dense": judge.dense_weights,
        }
    blob = np.frombuffer(json.dumps(meta).encode("utf-8"), dtype=np.uint8)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    np.savez_compressed(buffer, meta=blob, **arrays)
    path.write_bytes(buffer.getvalue())
    return path


def _read(source: str | Path) -> tuple[dict[str, Any], Mapping[str, np.ndarray[Any, Any]]]:
    if str(source) == "default":
        data = resources.files("modelmuxer.learning").joinpath(DEFAULT_ROUTER).read_bytes()
        name = f"the shipped default router ({DEFAULT_ROUTER})"
    else:
        try:
            data = Path(source).read_bytes()
        except OSError as exc:
            raise ConfigError(f"cannot read router file {source}: {exc}") from exc
        name = str(source)
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as archive:
            arrays = {key: archive[key] for key in archive.files}
        meta = json.loads(arrays.pop("meta").tobytes().decode("utf-8"))
    except (ValueError, KeyError, OSError, EOFError, zipfile.BadZipFile) as exc:
        # numpy's own message for a non-archive suggests loading it with pickle: not shown
        why = "not a NumPy .npz archive" if "pickle" in str(exc) else str(exc) or type(exc).__name__
        raise ConfigError(
            f"{name} is not a modelmuxer router file ({why}): give a file written by "
            "'modelmuxer train', or 'default'"
        ) from None
    if not isinstance(meta, dict):
        raise ConfigError(
            f"{name} is not a valid modelmuxer router file (its meta is not a JSON object): "
            "retrain it with 'modelmuxer train'"
        )
    if meta.get("format") != FORMAT or meta.get("version") != VERSION:
        raise ConfigError(
            f"{name}: format {meta.get('format')!r} version {meta.get('version')!r}; this "
            f"modelmuxer reads {FORMAT!r} version {VERSION}: retrain with 'modelmuxer train'"
        )
    return meta, arrays


class _Damaged(Exception):
    """A part of a router file is missing or does not fit the rest (the message says which)."""


def _weights(arrays: Mapping[str, np.ndarray[Any, Any]], key: str, shape: tuple[int, ...]) -> Any:
    """The float array ``key`` of ``shape``; :raises _Damaged: otherwise."""
    if key not in arrays:
        raise _Damaged(f"no {key!r} array")
    array = arrays[key]
    if not np.issubdtype(array.dtype, np.floating) or array.shape != shape:
        raise _Damaged(f"{key!r} is {array.dtype} {array.shape}, expected float {shape}")
    return array


def _featurizer(meta: Mapping[str, Any], vocabulary: str, idf: str) -> TextFeaturizer:
    """The featurizer stored under ``vocabulary`` / ``idf``; :raises _Damaged: when absent or
    malformed."""
    words, weights = meta.get(vocabulary), meta.get(idf)
    if not isinstance(words, list) or not all(isinstance(w, str) for w in words):
        raise _Damaged(f"no {vocabulary!r} list of words")
    try:
        return TextFeaturizer(words, weights)  # type: ignore[arg-type]
    except (TypeError, ValueError) as exc:
        raise _Damaged(f"{idf!r} does not fit {vocabulary!r}: {exc}") from None


def _quality_model(
    meta: Mapping[str, Any], arrays: Mapping[str, np.ndarray[Any, Any]], width: int
) -> LinearQualityModel:
    """The predictor's weights, their shapes checked against the models and the featurizer."""
    models, tiers = meta.get("models"), meta.get("tiers")
    if not isinstance(models, list) or not all(isinstance(m, str) for m in models):
        raise _Damaged("no 'models' list of names")
    if not isinstance(tiers, list) or len(tiers) != len(models):
        raise _Damaged(f"{len(models)} models but tiers {tiers!r}")
    try:
        center = float(meta["tier_center"])
        tier_values = tuple(float(t) for t in tiers)
    except (KeyError, TypeError, ValueError):
        raise _Damaged("no numeric 'tier_center' and 'tiers'") from None
    return LinearQualityModel(
        models=tuple(models),
        known=_weights(arrays, "known", (len(models), width)),
        shared=_weights(arrays, "shared", (width,)),
        tier_weights=_weights(arrays, "tier_weights", (width,)),
        tier_center=center,
        tiers=tier_values,
    )


def _judge(
    meta: Mapping[str, Any], arrays: Mapping[str, np.ndarray[Any, Any]], prompt: TextFeaturizer
) -> AnswerJudge | None:
    """The answer judge when the file has one, its shapes checked."""
    if not any(key.startswith("judge_") for key in arrays):
        return None
    answers = _featurizer(meta, "judge_vocabulary", "judge_idf")
    return AnswerJudge(
        prompt_featurizer=prompt,
        answer_featurizer=answers,
        prompt_weights=_weights(arrays, "judge_prompt", (prompt.width,)),
        answer_weights=_weights(arrays, "judge_answer", (answers.width,)),
        dense_weights=_weights(arrays, "judge_dense", (len(ANSWER_DENSE),)),
    )


def load_router(source: str | Path, aliases: Mapping[str, str] | None = None) -> LearnedRouter:
    """Load a router file (``"default"``: the one shipped in the package).

    ``aliases`` maps catalog ids onto the file's model names where they differ.

    :raises ConfigError: the file is missing, unreadable, damaged (a part missing, or weights
        whose shapes do not fit its models and vocabulary) or of another format / version.
    """
    meta, arrays = _read(source)
    try:
        featurizer = _featurizer(meta, "vocabulary", "idf")
        model = _quality_model(meta, arrays, featurizer.width)
        judge = _judge(meta, arrays, featurizer)
    except _Damaged as exc:
        name = "the shipped default router" if str(source) == "default" else str(source)
        raise ConfigError(
            f"{name} is not a valid modelmuxer router file ({exc}): retrain it with "
            "'modelmuxer train'"
        ) from None
    return LearnedRouter(
        predictor=QualityPredictor(featurizer, model, dict(aliases or {})),
        judge=judge,
        cost_per_token=dict(meta.get("cost_per_token", {})),
        cost_per_call=dict(meta.get("cost_per_call", {})),
        provenance=dict(meta.get("provenance", {})),
    )
