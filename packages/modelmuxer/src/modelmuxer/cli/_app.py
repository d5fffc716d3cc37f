"""The argument parser and the entry point of the ``modelmuxer`` command."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence

from modelmuxer import __version__
from modelmuxer.cli.audit import add_audit
from modelmuxer.cli.db import add_db
from modelmuxer.cli.demo import DEFAULT_STRATEGIES, run_demo_command
from modelmuxer.cli.eval import add_eval
from modelmuxer.cli.health import add_health
from modelmuxer.cli.keys import add_keys
from modelmuxer.cli.report import add_report
from modelmuxer.cli.route import run_models, run_route
from modelmuxer.cli.train import add_train
from modelmuxer.errors import ModelMuxerError

__all__ = ["build_parser", "main"]

Handler = Callable[[argparse.Namespace], int]

_DESCRIPTION = "Route each LLM request to the model that should answer it."
_EPILOG = "Run 'modelmuxer demo' to see the strategies at work, offline, with no API keys."


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def _add_candidates(parser: argparse.ArgumentParser) -> None:
    group = parser.add_mutually_exclusive_group()
    group.add_argument(
        "--models",
        nargs="+",
        metavar="ID",
        help="candidate model ids (litellm ids work; nothing is called). "
        "Default: the demo's offline catalog",
    )
    group.add_argument(
        "--config", metavar="FILE", help="a TOML or JSON settings file (models, strategy, knobs)"
    )


def _add_demo(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    demo = sub.add_parser(
        "demo",
        help="route and answer a mixed prompt set offline under each strategy",
        description="Answer ~36 realistic prompts with offline stand-ins of real models under "
        "each strategy, and compare the cost with always using the strongest model. "
        "No network, no API keys; costs use the real models' prices.",
    )
    demo.add_argument(
        "--strategy",
        default="all",
        metavar="NAME",
        help=f"one strategy, or 'all' (default: {', '.join(DEFAULT_STRATEGIES)})",
    )
    demo.add_argument("--json", action="store_true", help="print machine-readable results")
    demo.add_argument("--limit", type=_positive_int, metavar="N", help="only the first N prompts")
    demo.add_argument(
        "--ledger",
        metavar="URL",
        help="record the demo's calls in this ledger (async SQLAlchemy URL; default: a SQLite "
        "file in a new temporary directory)",
    )
    demo.set_defaults(handler=run_demo_command)


def _add_route(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    route = sub.add_parser(
        "route",
        help="show the routing decision for a prompt, without calling any model",
        description="Print the decision for PROMPT: the chosen model(s), the reason, and every "
        "candidate's estimated quality, cost and latency. No model is called.",
    )
    route.add_argument("prompt", metavar="PROMPT", help="the user message to route")
    route.add_argument("--strategy", metavar="NAME", help="strategy to use (default: hybrid)")
    _add_candidates(route)
    route.add_argument("--max-tokens", type=_positive_int, metavar="N", help="output budget")
    route.add_argument(
        "--tools-json",
        metavar="FILE",
        help="a JSON file with the tools offered (OpenAI 'tools' list, or {\"tools\": [...]})",
    )
    route.add_argument("--json", action="store_true", help="print the decision as JSON")
    route.set_defaults(handler=run_route)


def _add_models(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    models = sub.add_parser(
        "models",
        help="list the candidate models: prices, context window, capabilities, quality prior",
        description="List the candidate model cards, as the catalog builds them from litellm's "
        "price map and any overrides.",
    )
    _add_candidates(models)
    models.add_argument("--json", action="store_true", help="print the cards as JSON")
    models.set_defaults(handler=run_models)


def build_parser() -> argparse.ArgumentParser:
    """The ``modelmuxer`` parser with its subcommands."""
    parser = argparse.ArgumentParser(prog="modelmuxer", description=_DESCRIPTION, epilog=_EPILOG)
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(title="commands", dest="command", metavar="COMMAND")
    sub.required = True
    _add_demo(sub)
    _add_route(sub)
    _add_models(sub)
    add_report(sub)
    add_db(sub)
    add_audit(sub)
    add_health(sub)
    add_train(sub)
    add_eval(sub)
    add_keys(sub)
    return parser


def _one_line(exc: BaseException) -> str:
    """The error's message on one line (multi-line messages list items: join them with ';')."""
    lines = [line.strip().removeprefix("- ") for line in str(exc).splitlines() if line.strip()]
    if not lines:
        return type(exc).__name__
    return lines[0] + (" " + "; ".join(lines[1:]) if len(lines) > 1 else "")


def _exit_code(code: object) -> int:
    if code is None:
        return 0
    return code if isinstance(code, int) else 2


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line with ``argv`` (default: ``sys.argv[1:]``); return the exit code."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version and usage errors: report, don't exit
        return _exit_code(exc.code)
    handler: Handler = args.handler
    try:
        return handler(args)
    except ModelMuxerError as exc:
        print(f"error: {_one_line(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader went away (e.g. `modelmuxer demo | head`): silence the final flush too.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1
