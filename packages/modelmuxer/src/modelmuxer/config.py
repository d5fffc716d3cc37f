"""The one configuration object: :class:`MuxerSettings`, from code, ``MODELMUXER_*`` env or a file.

Importing this module imports pydantic-settings (~0.1 s), so ``import modelmuxer`` does not:
it is loaded when a muxer is built without explicit settings or from the environment / a file.
"""

from __future__ import annotations

import json
import logging
import os
import tomllib
from pathlib import Path
from typing import Any

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict, SettingsError

from modelmuxer._environment import PROJECT_VARIABLES, unknown_variables
from modelmuxer.alerts import AlertSettings
from modelmuxer.audit.settings import AuditSettings
from modelmuxer.budgets.settings import BudgetSettings
from modelmuxer.cache.settings import CacheSettings
from modelmuxer.catalog import ModelSpec
from modelmuxer.crypto import EncryptionSettings
from modelmuxer.errors import ConfigError
from modelmuxer.health.settings import HealthSettings
from modelmuxer.ledger.settings import LedgerSettings
from modelmuxer.limits.settings import LimitSettings
from modelmuxer.policies.settings import PolicySettings
from modelmuxer.privacy.settings import PrivacySettings
from modelmuxer.reliability.settings import ReliabilitySettings
from modelmuxer.strategies.base import StrategySettings
from modelmuxer.telemetry.settings import TelemetrySettings
from modelmuxer.transport import TLSSettings

__all__ = ["PROJECT_VARIABLES", "MuxerSettings", "load_settings"]

_log = logging.getLogger("modelmuxer.config")


class MuxerSettings(BaseSettings):
    """Everything a :class:`~modelmuxer.Muxer` is configured with.

    Every field can be set from the environment as ``MODELMUXER_<FIELD>`` (lists and objects as
    JSON, e.g. ``MODELMUXER_MODELS='["openai/gpt-4o-mini", "openai/gpt-4o"]'``), or from a TOML /
    JSON file with :func:`load_settings`.
    """

    model_config = SettingsConfigDict(
        env_prefix="MODELMUXER_", extra="forbid", frozen=True, validate_default=True
    )

    models: list[ModelSpec] = Field(
        default_factory=list,
        description="candidate models: litellm-style ids, or objects with overrides",
    )
    strategy: str = Field(default="hybrid", min_length=1, description="the default strategy")
    quality_target: float = Field(
        default=0.8, ge=0.0, le=1.0, description="cost_optimized: the quality to reach"
    )
    cost_weight: float = Field(
        default=0.35, ge=0.0, le=1.0, description="hybrid: 0 = best quality, 1 = cheapest"
    )
    latency_weight: float = Field(
        default=0.05, ge=0.0, le=1.0, description="hybrid: latency penalty"
    )
    cascade_threshold: float = Field(
        default=0.5, ge=0.0, le=1.0, description="cascade: judge score an answer needs"
    )
    cascade_max_models: int = Field(default=3, ge=1, le=10, description="cascade: longest chain")
    timeout_s: float = Field(default=60.0, gt=0.0, description="per model call")
    load_entrypoints: bool = Field(
        default=True, description="load plugins of the 'modelmuxer' entry-point group"
    )
    plugins: list[str] = Field(
        default_factory=list,
        description="extra plugins to register, as 'package.module' or 'package.module:attr'",
    )
    router: str | None = Field(
        default=None,
        description="a trained router file ('modelmuxer train') or 'default' for the shipped "
        "one: its quality predictor and answer judge replace the priors",
    )
    ledger: LedgerSettings = Field(
        default_factory=LedgerSettings,
        description="the cost ledger (off unless ledger.enabled; default: a SQLite file)",
    )
    cache: CacheSettings = Field(
        default_factory=CacheSettings,
        description="response and routing-decision caches (off unless cache.enabled)",
    )
    budgets: BudgetSettings = Field(
        default_factory=BudgetSettings,
        description="USD budgets (on when any is configured; counters in memory, Redis or PG)",
    )
    tls: TLSSettings = Field(
        default_factory=TLSSettings,
        description="TLS of every Redis and PostgreSQL connection (cache, budgets, limits, "
        "ledger, audit): CA, client certificates, sslmode, and 'required' to refuse plain text",
    )
    encryption: EncryptionSettings = Field(
        default_factory=EncryptionSettings,
        description="encryption at rest of cached answers in Redis, the ledger outbox and "
        "stored prompts, with key rotation (off unless encryption.enabled)",
    )
    privacy: PrivacySettings = Field(
        default_factory=PrivacySettings,
        description="PII redaction: placeholders before anything leaves the process, values "
        "restored in the answer (off unless privacy.redact)",
    )
    policies: PolicySettings = Field(
        default_factory=PolicySettings,
        description="access policies: which identities may use which models, providers and "
        "tiers, at what cost, and where PII may go (off until a rule is set)",
    )
    audit: AuditSettings = Field(
        default_factory=AuditSettings,
        description="the hash-chained audit log, one entry per request (off unless "
        "audit.enabled; kept in the ledger's database)",
    )
    reliability: ReliabilitySettings = Field(
        default_factory=ReliabilitySettings,
        description="retries, fallback to the next-best model and per-model circuit breakers",
    )
    limits: LimitSettings = Field(
        default_factory=LimitSettings,
        description="rate limits on requests and tokens (on when any is configured; counters "
        "in memory or Redis)",
    )
    telemetry: TelemetrySettings = Field(
        default_factory=TelemetrySettings,
        description="Prometheus metrics, OpenTelemetry spans, structured logs (each off "
        "unless set)",
    )
    health: HealthSettings = Field(
        default_factory=HealthSettings,
        description="what muxer.health() probes, how long it waits, what it calls degraded",
    )
    alerts: AlertSettings = Field(
        default_factory=AlertSettings,
        description="budget threshold and spend spike events (on when budgets are configured)",
    )

    @field_validator("models", mode="before")
    @classmethod
    def _ids_as_specs(cls, value: object) -> object:
        """Plain ids are shorthand for ``{"id": ...}``."""
        if isinstance(value, list):
            return [{"id": item} if isinstance(item, str) else item for item in value]
        return value

    def strategy_settings(self) -> StrategySettings:
        """The knobs strategies read."""
        return StrategySettings(
            quality_target=self.quality_target,
            cost_weight=self.cost_weight,
            latency_weight=self.latency_weight,
            cascade_threshold=self.cascade_threshold,
            cascade_max_models=self.cascade_max_models,
        )


def _read_file(path: Path) -> dict[str, Any]:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc}") from exc
    if path.suffix not in (".toml", ".json"):
        raise ConfigError(f"config file {path}: use a .toml or .json file")
    try:
        if path.suffix == ".toml":
            data: Any = tomllib.loads(raw.decode("utf-8"))
        else:
            data = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ConfigError(f"config file {path} is not valid {path.suffix[1:]}: {exc}") from exc
    if isinstance(data, dict) and isinstance(data.get("modelmuxer"), dict):
        data = data["modelmuxer"]  # allow a [modelmuxer] table in a shared file
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path} must hold a table / object of settings")
    return data


def load_settings(path: str | Path | None = None, **overrides: Any) -> MuxerSettings:
    """Settings from the environment, then ``path`` (TOML or JSON), then ``overrides``.

    Later sources win. Invalid values raise :class:`~modelmuxer.errors.ConfigError` naming the
    setting. A ``MODELMUXER_*`` variable that sets nothing (``MODELMUXER_BUDGET`` for
    ``MODELMUXER_BUDGETS``) is logged as a warning on ``modelmuxer.config``, with the setting
    it was probably meant for; the project's own variables are :data:`PROJECT_VARIABLES`.
    """
    values: dict[str, Any] = _read_file(Path(path)) if path is not None else {}
    values.update(overrides)
    try:
        settings = MuxerSettings(**values)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'settings'}: {err['msg']}"
            for err in exc.errors()
        )
        raise ConfigError(f"invalid settings: {problems}") from exc
    except SettingsError as exc:  # e.g. an env variable that is not valid JSON
        raise ConfigError(f"invalid settings: {exc}") from exc
    for message in unknown_variables(settings, os.environ):
        _log.warning(message)
    return settings
