"""``modelmuxer audit verify``: walk the audit log's hash chain and name the first broken row."""

from __future__ import annotations

import argparse
import json
import os
import re
from dataclasses import asdict
from typing import TYPE_CHECKING

from modelmuxer.cli.db import missing_sqlite_file
from modelmuxer.errors import ConfigError

if TYPE_CHECKING:
    from modelmuxer.config import MuxerSettings

__all__ = ["EXIT_BROKEN", "add_audit", "parse_head"]

#: the exit code of a verification that found the chain broken (2: the command itself failed)
EXIT_BROKEN = 1
_HEAD = re.compile(r"^(\d+):([0-9a-f]{64})$")


def parse_head(text: str) -> tuple[int, str]:
    """``SEQ:HASH`` as printed by a verification, e.g. ``1200:9f86d0...``."""
    match = _HEAD.match(text.strip())
    if match is None:
        raise ConfigError(
            f"cannot read head {text!r}: use SEQ:HASH as a verification printed it "
            "(a row number, a colon, 64 hex digits)"
        )
    return int(match.group(1)), match.group(2)


def _settings(config: str | None) -> MuxerSettings:
    from modelmuxer.config import load_settings

    return load_settings(config)


def _key(args: argparse.Namespace) -> bytes | None:
    if args.hmac_key_env:
        secret = os.environ.get(args.hmac_key_env, "")
        if not secret:
            raise ConfigError(f"--hmac-key-env: ${args.hmac_key_env} is not set or empty")
        from modelmuxer.audit.settings import AuditSettings

        return AuditSettings(hmac_key_env=args.hmac_key_env).resolved_key()
    return _settings(args.config).audit.resolved_key()


def _url(args: argparse.Namespace) -> str:
    if args.url:
        return str(args.url)
    from modelmuxer.transport import postgres_url_with_tls

    settings = _settings(args.config)
    url = settings.audit.resolved_url(settings.ledger.resolved_url())
    return postgres_url_with_tls(url, settings.tls.postgres, setting="audit.url")


def run_verify(args: argparse.Namespace) -> int:
    from sqlalchemy.exc import SQLAlchemyError

    from modelmuxer.audit.verify import verify_chain
    from modelmuxer.ledger.errors import safe_url

    url = _url(args)
    if (missing := missing_sqlite_file(url)) is not None:
        raise ConfigError(
            f"no database at {missing}: check the path, or run 'modelmuxer db upgrade' to "
            "create the ledger and its audit log"
        )
    key = _key(args)
    head = parse_head(args.expect_head) if args.expect_head else None
    try:
        result = verify_chain(url, key=key, expect_head=head)
    except SQLAlchemyError as exc:
        hint = (
            " (no audit log there yet? run 'modelmuxer db upgrade')"
            if "audit_log" in str(exc)
            else ""
        )
        raise ConfigError(
            f"cannot read the audit log at {safe_url(url)}: {type(exc).__name__}{hint}"
        ) from exc
    except OSError as exc:
        raise ConfigError(f"cannot reach {safe_url(url)}: {exc}") from exc
    if args.json:
        data = asdict(result)
        data["url"] = safe_url(url)
        print(json.dumps(data, indent=2))
    else:
        print(f"{safe_url(url)}: {result}")
        if result.ok:
            print(
                f"record the head to detect truncation later: --expect-head "
                f"{result.head_seq}:{result.head_hash}"
            )
    return 0 if result.ok else EXIT_BROKEN


def add_audit(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``audit verify``."""
    audit = sub.add_parser(
        "audit",
        help="the audit log: verify its hash chain",
        description="The audit log keeps one hash-chained entry per request in the ledger's "
        "database. 'verify' walks the chain and names the first row altered, inserted, "
        "deleted or reordered; it exits 1 when the chain is broken.",
    )
    commands = audit.add_subparsers(title="commands", dest="audit_command", metavar="COMMAND")
    commands.required = True
    check = commands.add_parser("verify", help="check the chain; name the first broken row")
    check.add_argument(
        "--url",
        metavar="URL",
        help="async SQLAlchemy url of the database (default: audit.url of the settings, else "
        "the ledger's url, else the ledger's SQLite file)",
    )
    check.add_argument("--config", metavar="FILE", help="a TOML or JSON settings file")
    check.add_argument(
        "--hmac-key-env",
        metavar="NAME",
        help="environment variable holding the HMAC key the log was written with (default: "
        "the settings' audit.hmac_key / $MODELMUXER_AUDIT_HMAC_KEY)",
    )
    check.add_argument(
        "--expect-head",
        metavar="SEQ:HASH",
        help="a head printed by an earlier verification: rows removed from the end since "
        "then are reported too",
    )
    check.add_argument("--json", action="store_true", help="print the result as JSON")
    check.set_defaults(handler=run_verify)
