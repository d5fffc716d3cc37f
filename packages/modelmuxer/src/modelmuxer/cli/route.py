"""``modelmuxer route`` and ``modelmuxer models``: inspect routing without calling any model."""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from modelmuxer.cli.prompts import DEMO_MODELS
from modelmuxer.cli.table import render_table, truncate, usd
from modelmuxer.errors import ConfigError
from modelmuxer.muxer import Muxer
from modelmuxer.types import Decision, ModelCard

__all__ = ["build_muxer", "run_models", "run_route"]


def build_muxer(models: Sequence[str] | None = None, config: str | None = None) -> Muxer:
    """The muxer the inspection commands use.

    ``config``: a TOML / JSON settings file (:meth:`Muxer.from_config`). ``models``: these ids
    (litellm ids work: prices come from the price map and nothing is called). Neither: the
    demo's offline catalog, with entry-point plugins off so the result never depends on what
    else is installed.
    """
    if config is not None:
        return Muxer.from_config(config)
    if models:
        return Muxer(list(models))
    return Muxer(list(DEMO_MODELS), load_entrypoints=False)


def _read_tools(path: str) -> list[Any]:
    """Tools from a JSON file holding a ``tools`` list, or an object with a ``tools`` key."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read tools file {path}: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise ConfigError(f"tools file {path} is not valid JSON: {exc}") from None
    if isinstance(data, dict) and "tools" in data:
        data = data["tools"]
    if not isinstance(data, list):
        raise ConfigError(f"tools file {path} must hold a list of tools (OpenAI 'tools' shape)")
    return data


def _num(value: float | None, fmt: str) -> str:
    return "-" if value is None else format(value, fmt)


def decision_table(decision: Decision) -> str:
    """Every candidate with its estimates; ``pick`` is the order in which chosen models run."""
    order = {model: index for index, model in enumerate(decision.models, start=1)}
    rows = [
        [
            str(order.get(c.model, "")),
            c.model,
            "-" if c.excluded else f"{c.quality:.2f}",
            "-" if c.excluded else usd(c.cost_usd),
            "-" if c.excluded else f"{c.latency_s:.2f}s",
            _num(c.score, ".3f"),
            truncate(c.excluded or "", 70),
        ]
        for c in decision.candidates
    ]
    headers = ["pick", "model", "est. quality", "est. cost", "est. latency", "score", "excluded"]
    return render_table(headers, rows, right=(2, 3, 4, 5))


def _describe(decision: Decision) -> str:
    lines = [f"strategy: {decision.strategy}"]
    if len(decision.models) > 1:
        threshold = (
            "" if decision.threshold is None else f" (judge threshold {decision.threshold:.2f})"
        )
        lines.append(f"chain:    {' -> '.join(decision.models)}{threshold}")
    else:
        lines.append(f"chosen:   {decision.model}")
    lines.append(f"reason:   {decision.reason}")
    f = decision.features
    if f:
        complexity = f.get("complexity")
        shown = f"{complexity:.2f}" if isinstance(complexity, int | float) else "?"
        lines.append(
            f"query:    task {f.get('task_type')}, complexity {shown}, "
            f"~{f.get('prompt_tokens')} prompt tokens, "
            f"~{f.get('expected_output_tokens')} output tokens expected"
        )
    return "\n".join(lines) + "\n\n" + decision_table(decision)


def run_route(args: argparse.Namespace) -> int:
    """Print the decision for ``args.prompt`` (text or ``--json``); no model is called."""
    muxer = build_muxer(args.models, args.config)
    params: dict[str, Any] = {}
    if args.max_tokens is not None:
        params["max_tokens"] = args.max_tokens
    if args.tools_json is not None:
        params["tools"] = _read_tools(args.tools_json)
    decision = muxer.route(args.prompt, strategy=args.strategy, **params)
    if args.json:
        print(json.dumps(decision.model_dump(mode="json"), indent=2))
    else:
        print(_describe(decision))
    return 0


def _card_row(card: ModelCard) -> list[str]:
    caps = card.capabilities
    flags = [
        name
        for name, on in (("tools", caps.tools), ("json", caps.json_mode), ("vision", caps.vision))
        if on
    ]
    return [
        card.id,
        card.provider,
        f"{card.input_cost_per_token * 1e6:.2f}",
        f"{card.output_cost_per_token * 1e6:.2f}",
        f"{card.context_window:,}",
        ",".join(flags) or "-",
        f"{card.quality:.2f}",
    ]


def run_models(args: argparse.Namespace) -> int:
    """List the candidate cards (text table or ``--json``)."""
    muxer = build_muxer(args.models, args.config)
    cards = muxer.catalog.cards()
    if args.json:
        print(json.dumps([card.model_dump(mode="json") for card in cards], indent=2))
        return 0
    headers = ["model", "provider", "$/Mtok in", "$/Mtok out", "context", "capabilities", "quality"]
    print(render_table(headers, [_card_row(c) for c in cards], right=(2, 3, 4, 6)))
    print("\nquality: the prior in [0, 1] the strategies start from (before query analysis).")
    return 0
