"""Spend reports: by model / user / org / project / day, savings, budgets; the CLI's formats."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, get_args

import pytest
from _ledger_support import make_record, scratch_database, sqlite_settings

from modelmuxer.cli import main
from modelmuxer.cli.report import parse_budget, parse_moment
from modelmuxer.config import load_settings
from modelmuxer.errors import ConfigError
from modelmuxer.ledger import CostLedger
from modelmuxer.ledger.reports import (
    BudgetLimit,
    GroupBy,
    limits_from_settings,
    spend_report,
)
from modelmuxer.ledger.rows import exact_cost
from modelmuxer.testing import make_card
from modelmuxer.types import CallRecord, Identity, Usage

CHEAP = make_card("offline/test/cheap", input_price_per_mtok=0.15, output_price_per_mtok=0.6)
CHEAP = CHEAP.model_copy(update={"quality": 0.6})
STRONG = make_card("offline/test/strong", input_price_per_mtok=2.5, output_price_per_mtok=10.0)
STRONG = STRONG.model_copy(update={"quality": 0.95})
DAY1 = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)
DAY2 = DAY1 + timedelta(days=1)


def _records() -> list[CallRecord]:
    def rec(
        rid: str, attempt: int, card: Any, user: str, org: str, when: datetime, **kw: Any
    ) -> CallRecord:
        usage = kw.pop("usage", Usage(prompt_tokens=1000 + attempt, completion_tokens=300))
        return make_record(
            rid,
            attempt,
            model=card.id,
            usage=usage,
            cost_usd=card.cost_usd(usage.prompt_tokens, usage.completion_tokens),
            identity=Identity(user=user, org=org, project=f"{org}-p"),
            started_at=when,
            **kw,
        )

    return [
        rec("r1", 0, CHEAP, "ann", "acme", DAY1, named_model=STRONG.id),
        rec("r2", 0, CHEAP, "ann", "acme", DAY1, outcome="escalated"),
        rec("r2", 1, STRONG, "ann", "acme", DAY1),
        rec("r3", 0, STRONG, "bob", "globex", DAY2, named_model=CHEAP.id),
        rec("r4", 0, CHEAP, "bob", "globex", DAY2, cache="exact", saved_usd=0.002),
    ]


@pytest.fixture(params=["sqlite", "postgres"])
def ledger_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'ledger.db'}"
        yield _filled(url, tmp_path)
    else:
        for url in scratch_database(request.getfixturevalue("postgres_url")):
            yield _filled(url, tmp_path)


def _filled(url: str, tmp_path: Path) -> str:
    records = _records()
    # the cache hit costs nothing: what the cache engineer's records say
    records[-1] = records[-1].model_copy(update={"cost_usd": 0.0})
    with CostLedger(sqlite_settings(tmp_path, url=url), catalog=[CHEAP, STRONG]) as ledger:
        for record in records:
            ledger.modelmuxer_record(record)
    return url


def _cost(record: CallRecord) -> Decimal:
    if record.cache != "off":
        return Decimal(0)
    return exact_cost(CHEAP if record.model == CHEAP.id else STRONG, record.usage)


def test_spend_by_each_group_adds_up(ledger_url: str) -> None:
    records = _records()
    total = sum((_cost(r) for r in records), Decimal(0))
    for by in get_args(GroupBy):
        report = spend_report(ledger_url, by=by)
        assert sum((line.cost_usd for line in report.lines), Decimal(0)) == total
        assert sum(line.calls for line in report.lines) == len(records)
    by_user = {line.key: line for line in spend_report(ledger_url, by="user").lines}
    assert by_user["ann"].requests == 2
    assert by_user["ann"].calls == 3
    assert by_user["ann"].cost_usd == sum(_cost(r) for r in records if r.identity.user == "ann")
    by_day = {line.key: line.calls for line in spend_report(ledger_url, by="day").lines}
    assert by_day == {"2026-03-01": 3, "2026-03-02": 2}
    by_model = spend_report(ledger_url, by="model").lines
    assert [line.cost_usd for line in by_model] == sorted(
        (line.cost_usd for line in by_model), reverse=True
    )


def test_a_time_range_and_filters_narrow_the_report(ledger_url: str) -> None:
    day2 = spend_report(ledger_url, since=DAY2 - timedelta(hours=1))
    assert sum(line.calls for line in day2.lines) == 2
    day1 = spend_report(ledger_url, until=DAY2 - timedelta(hours=1))
    assert sum(line.calls for line in day1.lines) == 3
    acme = spend_report(ledger_url, by="project", where={"org": "acme"})
    assert [line.key for line in acme.lines] == ["acme-p"]
    with pytest.raises(ConfigError, match="filter"):
        spend_report(ledger_url, where={"prompt": "x"})


def test_savings_against_the_strongest_and_the_named_model(ledger_url: str) -> None:
    records = _records()
    savings = spend_report(ledger_url).savings
    assert savings.strongest_models == [STRONG.id]
    answered = [r for r in records if r.outcome != "escalated"]
    if_strongest = sum((exact_cost(STRONG, r.usage) for r in answered), Decimal(0))
    actual = sum((_cost(r) for r in records), Decimal(0))
    assert savings.if_strongest_usd == if_strongest
    assert savings.actual_usd == actual
    assert savings.vs_strongest_usd == if_strongest - actual
    named = [r for r in records if r.named_model]
    if_named = sum(
        (exact_cost(STRONG if r.named_model == STRONG.id else CHEAP, r.usage) for r in named),
        Decimal(0),
    )
    assert savings.named_calls == len(named)
    assert savings.vs_named_usd == if_named - sum((_cost(r) for r in named), Decimal(0))
    assert savings.cache_hits == 1
    assert savings.cache_saved_usd == Decimal("0.002")


def test_spend_against_budgets(ledger_url: str) -> None:
    limits = [
        BudgetLimit("org", "acme", Decimal("0.01")),
        BudgetLimit("global", None, Decimal("1")),
    ]
    acme, everyone = spend_report(ledger_url, budgets=limits).budgets
    records = _records()
    assert acme.spent_usd == sum(_cost(r) for r in records if r.identity.org == "acme")
    assert acme.remaining_usd == Decimal("0.01") - acme.spent_usd
    assert everyone.spent_usd == sum(_cost(r) for r in records)
    assert spend_report(ledger_url).budgets == []


def test_budgets_count_their_own_period_and_each_subject(ledger_url: str) -> None:
    day2 = DAY2.replace(hour=0, minute=0)
    each_org_on_day2 = BudgetLimit(
        "org", "*", Decimal(1), "2026-03-02", since=day2, until=day2 + timedelta(days=1)
    )
    # the report's own range (day 1 only) does not narrow a budget's period
    lines = spend_report(ledger_url, until=DAY1 + timedelta(hours=1), budgets=[each_org_on_day2])
    records = [r for r in _records() if r.started_at >= day2]
    assert [(b.limit.name, b.spent_usd) for b in lines.budgets] == [
        ("globex", sum(_cost(r) for r in records if r.identity.org == "globex"))
    ]


def test_the_cli_prints_table_csv_and_json(
    ledger_url: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    assert main(["report", "--url", ledger_url, "--by", "user", "--budget", "user:ann=1"]) == 0
    table = capsys.readouterr().out
    assert "ann" in table
    assert "vs always the strongest model" in table
    assert "user:ann" in table
    assert main(["report", "--url", ledger_url, "--format", "csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    report = spend_report(ledger_url)
    assert [Decimal(r["cost_usd"]) for r in rows] == [line.cost_usd for line in report.lines]
    assert main(["report", "--url", ledger_url, "--format", "json", "--since", "2026-03-02"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert sum(line["calls"] for line in data["lines"]) == 2
    assert (
        Decimal(data["savings"]["vs_strongest_usd"])
        == spend_report(
            ledger_url, since=DAY2 - timedelta(hours=9, minutes=30)
        ).savings.vs_strongest_usd
    )
    plot = tmp_path / "spend.png"
    assert main(["report", "--url", ledger_url, "--plot", str(plot)]) == 0
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_cli_says_when_there_is_no_ledger(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["report", "--url", f"sqlite+aiosqlite:///{tmp_path / 'none.db'}"]) == 2
    assert "no ledger at" in capsys.readouterr().err
    assert not (tmp_path / "none.db").exists()


def test_parsing_times_and_budgets() -> None:
    now = datetime(2026, 3, 10, tzinfo=UTC)
    assert parse_moment("7d", now=now) == now - timedelta(days=7)
    assert parse_moment("12h", now=now) == now - timedelta(hours=12)
    assert parse_moment("2026-03-01") == datetime(2026, 3, 1, tzinfo=UTC)
    with pytest.raises(ConfigError, match="7d"):
        parse_moment("yesterday")
    assert parse_budget("org:acme=50") == BudgetLimit("org", "acme", Decimal(50))
    assert parse_budget("global=1.5") == BudgetLimit("global", None, Decimal("1.5"))
    for bad in ("org=5", "team:x=5", "user:ann=-1", "user:ann=lots"):
        with pytest.raises(ConfigError, match="budget"):
            parse_budget(bad)


def test_budget_limits_come_from_the_budget_settings() -> None:
    settings = load_settings(
        budgets={
            "budgets": [
                {"scope": "org", "subject": "acme", "period": "day", "limit_usd": 5},
                {"scope": "user", "subject": "*", "period": "month", "limit_usd": "0.5"},
                {"scope": "global", "period": "total", "limit_usd": 100},
            ]
        }
    )
    now = datetime(2026, 11, 26, 15, tzinfo=UTC)
    assert limits_from_settings(settings, now) == [
        BudgetLimit(
            "org",
            "acme",
            Decimal(5),
            "2026-11-26",
            datetime(2026, 11, 26, tzinfo=UTC),
            datetime(2026, 11, 27, tzinfo=UTC),
        ),
        BudgetLimit(
            "user",
            "*",
            Decimal("0.5"),
            "2026-11",
            datetime(2026, 11, 1, tzinfo=UTC),
            datetime(2026, 12, 1, tzinfo=UTC),
        ),
        BudgetLimit("global", None, Decimal(100), "total"),
    ]
    assert limits_from_settings(load_settings()) == []


def test_the_cli_groups_match_the_api() -> None:
    from modelmuxer.cli.report import _GROUPS

    assert set(_GROUPS) == set(get_args(GroupBy))


def test_an_unparsable_url_is_one_error_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", "--url", "not a url"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ledger url:")
    assert err.count("\n") == 1


@pytest.mark.parametrize("text", ["99999999999d", "1000000d", "999999999999h"])
def test_a_relative_time_too_far_back_is_a_config_error(text: str) -> None:
    with pytest.raises(ConfigError, match="too far back"):
        parse_moment(text)


@pytest.mark.parametrize(
    "text", ["global=NaN", "global=sNaN", "org:acme=Infinity", "user:ann=-inf"]
)
def test_a_budget_must_be_a_finite_amount(text: str) -> None:
    with pytest.raises(ConfigError, match="cannot read budget"):
        parse_budget(text)


def _strict_json(text: str) -> Any:
    def refuse(constant: str) -> Any:
        raise ValueError(f"not JSON: {constant}")

    return json.loads(text, parse_constant=refuse)


def test_json_is_strict_when_a_zero_budget_is_overspent(
    ledger_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["report", "--url", ledger_url, "--budget", "global=0", "--format", "json"]
    assert main(argv) == 0
    budget = _strict_json(capsys.readouterr().out)["budgets"][0]
    assert Decimal(budget["spent_usd"]) > 0
    assert budget["used"] is None  # infinite: JSON has no such number


def test_a_reversed_time_range_is_an_error(
    ledger_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["report", "--url", ledger_url, "--since", "2026-04-01", "--until", "2026-03-01"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --since")
    assert "before --until" in err
