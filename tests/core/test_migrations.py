"""The ledger's Alembic migrations, on SQLite and the real PostgreSQL: applied by the CLI,
idempotent, and matching the models exactly."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from _ledger_support import scratch_database
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy.engine import Connection

from modelmuxer.cli import main
from modelmuxer.ledger.engine import make_engine
from modelmuxer.ledger.migrate import current, downgrade, head, upgrade
from modelmuxer.ledger.models import Base


@pytest.fixture(params=["sqlite", "postgres"])
def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'ledger.db'}"
    else:
        yield from scratch_database(request.getfixturevalue("postgres_url"))


def _differences(url: str) -> list[Any]:
    def compare(conn: Connection) -> list[Any]:
        context = MigrationContext.configure(
            conn, opts={"version_table": "ledger_alembic_version", "compare_type": True}
        )
        diffs = compare_metadata(context, Base.metadata)
        return [d for d in diffs if "ledger_alembic_version" not in repr(d)]

    async def run() -> list[Any]:
        engine = make_engine(url)
        try:
            async with engine.connect() as conn:
                return await conn.run_sync(compare)
        finally:
            await engine.dispose()

    return asyncio.run(run())


def test_upgrade_reaches_head_and_matches_the_models(empty_url: str) -> None:
    assert current(empty_url) is None
    upgrade(empty_url)
    assert current(empty_url) == head()
    upgrade(empty_url)  # idempotent
    assert current(empty_url) == head()
    assert _differences(empty_url) == []


def test_the_cli_upgrades_and_reports_the_revision(
    empty_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["db", "current", "--url", empty_url]) == 0
    assert "not migrated" in capsys.readouterr().out
    assert main(["db", "upgrade", "--url", empty_url]) == 0
    assert f"at revision {head()}" in capsys.readouterr().out
    assert main(["db", "current", "--url", empty_url]) == 0
    assert "up to date" in capsys.readouterr().out


def test_downgrade_then_upgrade_round_trips(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'ledger.db'}"
    upgrade(url)
    downgrade(url, "base")
    assert current(url) is None
    upgrade(url)
    assert current(url) == head()


def test_an_unreachable_database_is_one_error_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    url = "postgresql+asyncpg://nobody:secret@127.0.0.1:1/none"
    assert main(["db", "upgrade", "--url", url]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: cannot migrate")
    assert "secret" not in err


def test_the_migrations_ship_inside_the_package() -> None:
    import modelmuxer.ledger.migrate as migrate

    scripts = Path(migrate.__file__).parent / "migrations"
    assert (scripts / "env.py").is_file()
    assert list((scripts / "versions").glob("0001_*.py"))


def test_db_current_on_a_missing_sqlite_file_creates_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "typo" / "ledger.db"
    assert main(["db", "current", "--url", f"sqlite+aiosqlite:///{path}"]) == 0
    assert "not migrated" in capsys.readouterr().out
    assert not path.parent.exists()
