"""litellm's maintained price map, read from the file litellm ships, without importing litellm.

Importing litellm takes seconds; its bundled ``model_prices_and_context_window_backup.json`` is
plain JSON, so the catalog reads it directly. The map is read at most once per process (it is
immutable data) and only when a muxer is built, never at ``import modelmuxer``.
"""

from __future__ import annotations

import functools
import importlib.util
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from modelmuxer.errors import ConfigError

__all__ = ["PRICE_MAP_FILE", "load_price_map", "lookup_model"]

PRICE_MAP_FILE = "model_prices_and_context_window_backup.json"


def _price_map_path() -> Path:
    spec = importlib.util.find_spec("litellm")
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError(
            "litellm is not installed, so no price map is available; install modelmuxer's "
            "dependencies or give every model explicit prices"
        )
    return Path(next(iter(spec.submodule_search_locations))) / PRICE_MAP_FILE


@functools.cache
def load_price_map() -> Mapping[str, Mapping[str, Any]]:
    """The whole price map: model key -> entry (prices per token, limits, capabilities)."""
    path = _price_map_path()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read litellm's price map at {path}: {exc}") from exc
    data.pop("sample_spec", None)
    return data  # type: ignore[no-any-return]


def lookup_model(model_id: str) -> tuple[str, Mapping[str, Any]] | None:
    """Find ``model_id`` in the price map: as given, then without its ``provider/`` prefix.

    Returns ``(key, entry)`` or ``None``. A bare key only matches when its entry's provider agrees
    with the prefix (``openai/gpt-4o`` matches ``gpt-4o``, whose provider is ``openai``).
    """
    prices = load_price_map()
    entry = prices.get(model_id)
    if entry is not None:
        return model_id, entry
    provider, sep, bare = model_id.partition("/")
    if not sep:
        return None
    entry = prices.get(bare)
    if entry is not None and entry.get("litellm_provider") in (provider, None):
        return bare, entry
    return None
