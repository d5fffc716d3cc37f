"""What the muxer knows about a candidate model."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    Secret,
    SecretStr,
    SerializationInfo,
    field_serializer,
    field_validator,
    model_validator,
)

from modelmuxer._secrets import MASK, SecretUrl, looks_secret, redact_url

__all__ = ["Capabilities", "Deployment", "LatencyProfile", "ModelCard"]

_FROZEN = ConfigDict(frozen=True, extra="forbid", defer_build=True)


class Capabilities(BaseModel):
    """What a model can do. Requests that need a capability only go to models that have it."""

    model_config = _FROZEN
    tools: bool = False
    vision: bool = False
    json_mode: bool = False
    streaming: bool = True


class LatencyProfile(BaseModel):
    """Expected latency: time to first token and decoding speed."""

    model_config = _FROZEN
    ttft_s: float = Field(default=0.5, ge=0.0, description="expected time to first token, s")
    tokens_per_s: float = Field(default=80.0, gt=0.0, description="expected decoding speed")

    def expected_s(self, output_tokens: int) -> float:
        return self.ttft_s + output_tokens / self.tokens_per_s


class Deployment(BaseModel):
    """How to reach a model: api base, the *name* of the env variable holding its key, extra params.

    The key itself is never stored on the card, so cards can be logged and serialised safely.
    Other credentials a backend takes in ``extra`` (``aws_secret_access_key``, an
    ``Authorization`` header...) are recognised by name, or passed as ``SecretStr``: the card
    keeps their values for the backend but shows them masked (repr, str, dumps), like the
    password of a URL in ``api_base``.
    """

    model_config = _FROZEN
    api_base: str | None = Field(default=None, description="the endpoint (else the provider's)")
    api_key_env: str | None = Field(
        default=None, description="the name of the env variable holding its key (never the key)"
    )
    api_version: str | None = Field(default=None, description="the API version (Azure)")
    extra: dict[str, Any] = Field(
        default_factory=dict, description="other parameters passed to the backend on each call"
    )
    #: names of ``extra`` entries (at any depth) given as ``SecretStr``
    _secret_names: frozenset[str] = PrivateAttr(default=frozenset())

    @model_validator(mode="after")
    def _reveal_secret_strs(self) -> Deployment:
        names: set[str] = set()
        revealed = _reveal(self.extra, names)
        if names:
            # Backends pass ``extra`` to the provider as it is: it holds the plain values, and
            # the names remember what to mask.
            object.__setattr__(self, "extra", revealed)
            self._secret_names = frozenset(names)
        return self

    def _is_secret(self, name: object) -> bool:
        return isinstance(name, str) and (name in self._secret_names or looks_secret(name))

    def _masked(self, value: Any, hide: Callable[[Any], Any]) -> Any:
        """``value`` (``extra`` or a part of it) with ``hide`` applied to the secret entries."""
        if isinstance(value, dict):
            return {
                k: hide(v) if self._is_secret(k) else self._masked(v, hide)
                for k, v in value.items()
            }
        if isinstance(value, list):
            return [self._masked(v, hide) for v in value]
        return value

    def secret_values(self) -> tuple[str, ...]:
        """The string values of the secret entries of ``extra`` (to scrub from error messages)."""
        found: list[str] = []

        def keep(value: Any) -> Any:
            if isinstance(value, str):
                found.append(value)
            return value

        self._masked(self.extra, keep)
        return tuple(found)

    @field_serializer("extra")
    def _serialize_extra(self, extra: dict[str, Any], info: SerializationInfo) -> dict[str, Any]:
        # As pydantic does for SecretStr: a SecretStr in python dumps (validating the dump gives
        # the same card back), the mask in JSON.
        hide: Callable[[Any], Any] = (lambda v: MASK) if info.mode == "json" else _as_secret
        masked: dict[str, Any] = self._masked(extra, hide)
        return masked

    @field_validator("api_base", mode="before")
    @classmethod
    def _reveal_api_base(cls, value: object) -> object:
        return value.get_secret_value() if isinstance(value, Secret) else value

    @field_serializer("api_base")
    def _serialize_api_base(
        self, api_base: str | None, info: SerializationInfo
    ) -> str | SecretUrl | None:
        # A URL with a password: masked in JSON, a SecretUrl in python dumps (as extra's
        # credentials are); any other URL as it is.
        if api_base is None or redact_url(api_base) == api_base:
            return api_base
        return redact_url(api_base) if info.mode == "json" else SecretUrl(api_base)

    def __repr_args__(self) -> Iterator[tuple[str | None, Any]]:
        for name, value in super().__repr_args__():
            if name == "extra":
                value = self._masked(value, _as_secret)
            elif name == "api_base" and value is not None:
                value = redact_url(value)
            yield name, value


def _as_secret(value: Any) -> SecretStr | Secret[Any]:
    return SecretStr(value) if isinstance(value, str) else Secret(value)


def _reveal(value: Any, names: set[str]) -> Any:
    """``value`` with every ``SecretStr`` / ``Secret`` replaced by its value; their keys go to
    ``names`` (unless the key already looks secret)."""
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if isinstance(item, SecretStr | Secret):
                if not (isinstance(key, str) and looks_secret(key)):
                    names.add(str(key))
                out[key] = item.get_secret_value()
            else:
                out[key] = _reveal(item, names)
        return out
    if isinstance(value, list):
        return [_reveal(v, names) for v in value]
    return value


class ModelCard(BaseModel):
    """A candidate model.

    Prices are USD per token. ``quality`` is a prior in [0, 1]: the chance of a good answer on a
    typical request, before query analysis adjusts it. ``backend`` names the backend plugin that
    calls the model (``None``: the first backend that claims the id, litellm otherwise).
    """

    model_config = _FROZEN
    id: str = Field(min_length=1)
    provider: str = Field(min_length=1)
    input_cost_per_token: float = Field(ge=0.0)
    output_cost_per_token: float = Field(ge=0.0)
    cached_input_cost_per_token: float | None = Field(default=None, ge=0.0)
    context_window: int = Field(gt=0)
    max_output_tokens: int = Field(gt=0)
    capabilities: Capabilities = Field(default_factory=Capabilities)
    quality: float = Field(default=0.7, ge=0.0, le=1.0)
    quality_by_task: dict[str, float] = Field(default_factory=dict)
    latency: LatencyProfile = Field(default_factory=LatencyProfile)
    deployment: Deployment = Field(default_factory=Deployment)
    backend: str | None = None

    @field_validator("quality_by_task")
    @classmethod
    def _qualities_in_range(cls, value: dict[str, float]) -> dict[str, float]:
        for task, q in value.items():
            if not 0.0 <= q <= 1.0:
                raise ValueError(f"quality_by_task[{task!r}] = {q} is outside [0, 1]")
        return value

    def cost_usd(self, prompt_tokens: int, completion_tokens: int, cached_tokens: int = 0) -> float:
        """The price of a call with these token counts."""
        cached_price = (
            self.cached_input_cost_per_token
            if self.cached_input_cost_per_token is not None
            else self.input_cost_per_token
        )
        uncached = max(prompt_tokens - cached_tokens, 0)
        return (
            uncached * self.input_cost_per_token
            + min(cached_tokens, prompt_tokens) * cached_price
            + completion_tokens * self.output_cost_per_token
        )
