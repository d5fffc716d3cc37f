"""``modelmuxer keys generate`` / ``modelmuxer keys ids``: encryption keys for data at rest."""

from __future__ import annotations

import argparse

from modelmuxer.errors import ConfigError

__all__ = ["add_keys"]


def run_generate(args: argparse.Namespace) -> int:
    """Print ``args.count`` new keys, one a line."""
    from modelmuxer.crypto import generate_key

    for _ in range(args.count):
        print(generate_key())
    return 0


def run_ids(args: argparse.Namespace) -> int:
    """Print the id of each configured key (the encrypting one first), never a key."""
    from modelmuxer.config import load_settings
    from modelmuxer.crypto import Encryptor

    settings = load_settings(args.config).encryption
    keys, source = settings.resolved_keys()
    if not keys:  # Encryptor's own message assumes encryption is on: here it may be off
        raise ConfigError(
            f"no encryption key is configured ({source} is empty); generate one with "
            "'modelmuxer keys generate'"
        )
    encryptor = Encryptor(keys, source=source)  # ConfigError when a key is invalid
    state = "on" if settings.enabled else "off (encryption.enabled is false)"
    print(f"keys from {source}; encryption {state}")
    for i, kid in enumerate(encryptor.key_ids):
        print(f"{kid}  {'encrypts and decrypts' if i == 0 else 'decrypts only'}")
    return 0


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not 1 <= value <= 100:
        raise argparse.ArgumentTypeError(f"expected 1 to 100, got {value}")
    return value


def add_keys(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``keys generate`` and ``keys ids``."""
    keys = sub.add_parser(
        "keys",
        help="encryption keys for data at rest: generate one, show the configured ones' ids",
        description="Keys for encryption.keys (cached answers in Redis, the ledger outbox, "
        "stored prompts). List them newest first: the first encrypts, all decrypt.",
    )
    commands = keys.add_subparsers(title="commands", dest="keys_command", metavar="COMMAND")
    commands.required = True
    generate = commands.add_parser("generate", help="print a new random key")
    generate.add_argument(
        "--count", type=_count, default=1, metavar="N", help="how many keys (default: 1)"
    )
    generate.set_defaults(handler=run_generate)
    ids = commands.add_parser(
        "ids",
        help="print the ids of the configured keys (as errors and logs name them)",
        description="Print the id of each key in encryption.keys (or its environment "
        "variable), the encrypting one first. The keys themselves are never printed.",
    )
    ids.add_argument("--config", metavar="FILE", help="a TOML or JSON settings file")
    ids.set_defaults(handler=run_ids)
