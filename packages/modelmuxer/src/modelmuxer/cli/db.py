"""``modelmuxer db upgrade`` / ``modelmuxer db current``: the ledger's schema migrations."""

from __future__ import annotations

import argparse
from pathlib import Path

from modelmuxer.errors import ConfigError

__all__ = [
    "add_db",
    "add_url_options",
    "existing_ledger",
    "ledger_url",
    "missing_sqlite_file",
]


def ledger_url(url: str | None, config: str | None) -> str:
    """The ledger url a command uses: ``--url``, else the settings (``--config`` file and
    ``MODELMUXER_*`` environment, with ``tls.postgres`` written into the url), else the
    default SQLite file."""
    if url:
        return url
    from modelmuxer.config import load_settings
    from modelmuxer.transport import postgres_url_with_tls

    settings = load_settings(config)
    return postgres_url_with_tls(
        settings.ledger.resolved_url(), settings.tls.postgres, setting="ledger.url"
    )


def missing_sqlite_file(url: str) -> Path | None:
    """The file of a SQLite ``url`` when it does not exist, else ``None`` (also for other
    databases): the commands that only read check it first, because connecting would create
    an empty file, and its directories, at a mistyped path.

    :raises ConfigError: ``url`` is not a SQLAlchemy url (the message never echoes it: it may
        hold a password).
    """
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise ConfigError(f"ledger url: {exc}") from None
    database = parsed.database
    if parsed.get_backend_name() != "sqlite" or database in (None, "", ":memory:"):
        return None
    path = Path(str(database)).expanduser()
    return None if path.exists() else path


def existing_ledger(url: str) -> None:
    """Check that ``url`` holds a ledger, for the commands that read one (``report``,
    ``train --from-ledger``): connecting to a missing one would create an empty SQLite file
    (and its directories) or an outbox, then fail on a missing table.

    :raises ConfigError: ``url`` is not a url, names no SQLite file, cannot be read, or holds
        no migrated ledger (the message never echoes a password).
    """
    from modelmuxer.ledger.errors import safe_url
    from modelmuxer.ledger.migrate import current

    if (missing := missing_sqlite_file(url)) is not None:
        raise ConfigError(
            f"no ledger at {missing}: check the URL (a muxer with the ledger on writes one)"
        )
    try:
        revision = current(url)
    except Exception as exc:
        raise ConfigError(f"cannot read {safe_url(url)}: {type(exc).__name__}: {exc}") from exc
    if revision is None:
        raise ConfigError(f"{safe_url(url)} holds no ledger: run 'modelmuxer db upgrade' first")


def add_url_options(parser: argparse.ArgumentParser) -> None:
    """``--url`` and ``--config``, shared by the ledger commands."""
    parser.add_argument(
        "--url",
        metavar="URL",
        help="async SQLAlchemy url of the ledger (default: ledger.url of the settings, "
        "else the SQLite file in $MODELMUXER_HOME or ~/.local/share/modelmuxer)",
    )
    parser.add_argument("--config", metavar="FILE", help="a TOML or JSON settings file")


def run_upgrade(args: argparse.Namespace) -> int:
    from modelmuxer.ledger.errors import safe_url
    from modelmuxer.ledger.migrate import current, upgrade

    url = ledger_url(args.url, args.config)
    try:
        upgrade(url, args.revision)
        revision = current(url)
    except ConfigError:
        raise
    except Exception as exc:  # unreachable server, bad credentials: one line, no traceback
        raise ConfigError(f"cannot migrate {safe_url(url)}: {type(exc).__name__}: {exc}") from exc
    print(f"{safe_url(url)}: at revision {revision}")
    return 0


def run_current(args: argparse.Namespace) -> int:
    from modelmuxer.ledger.errors import safe_url
    from modelmuxer.ledger.migrate import current, head

    url = ledger_url(args.url, args.config)
    try:
        revision = None if missing_sqlite_file(url) else current(url)
    except ConfigError:
        raise
    except Exception as exc:
        raise ConfigError(f"cannot read {safe_url(url)}: {type(exc).__name__}: {exc}") from exc
    latest = head()
    if revision is None:
        state = "not migrated (run 'modelmuxer db upgrade')"
    elif revision == latest:
        state = "up to date"
    else:
        state = f"behind: the newest is {latest} (run 'modelmuxer db upgrade')"
    print(f"{safe_url(url)}: revision {revision or '-'}, {state}")
    return 0


def add_db(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``db upgrade`` and ``db current``."""
    db = sub.add_parser(
        "db",
        help="the ledger's database: apply or show the schema migrations",
        description="Apply the ledger's schema migrations (Alembic, shipped in the package) to "
        "SQLite or PostgreSQL, or show the revision a database is at.",
    )
    commands = db.add_subparsers(title="commands", dest="db_command", metavar="COMMAND")
    commands.required = True
    upgrade = commands.add_parser("upgrade", help="migrate the ledger to the newest schema")
    add_url_options(upgrade)
    upgrade.add_argument("--revision", default="head", help="target revision (default: head)")
    upgrade.set_defaults(handler=run_upgrade)
    current = commands.add_parser("current", help="show the ledger's schema revision")
    add_url_options(current)
    current.set_defaults(handler=run_current)
