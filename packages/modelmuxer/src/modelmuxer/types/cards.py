"""What the muxer knows about a candidate model."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

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
    ttft_s: float = Field(default=0.5, ge=0.0)
    tokens_per_s: float = Field(default=80.0, gt=0.0)

    def expected_s(self, output_tokens: int) -> float:
        return self.ttft_s + output_tokens / self.tokens_per_s


class Deployment(BaseModel):
    """How to reach a model: api base, the *name* of the env variable holding its key, extra params.

    The key itself is never stored on the card, so cards can be logged and serialised safely.
    """

    model_config = _FROZEN
    api_base: str | None = None
    api_key_env: str | None = None
    api_version: str | None = None
    extra: dict[str, Any] = Field(default_factory=dict)


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
