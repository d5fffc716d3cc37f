"""Plain-text tables and the small formatting helpers the command line shares.

ASCII only, so the output survives any terminal, pipe or log file.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["render_table", "short_model", "truncate", "usd"]

_ELLIPSIS = "..."


def truncate(text: str, width: int) -> str:
    """``text`` on one line, cut to at most ``width`` characters (ending in "..." when cut)."""
    flat = " ".join(text.split())
    if len(flat) <= width:
        return flat
    if width <= len(_ELLIPSIS):
        return flat[:width]
    return flat[: width - len(_ELLIPSIS)].rstrip() + _ELLIPSIS


def usd(amount: float) -> str:
    """A cost in dollars with six decimals: ``$0.000123``."""
    return f"${amount:.6f}"


def short_model(model_id: str) -> str:
    """The name without provider / backend prefixes: ``offline/openai/gpt-4o`` -> ``gpt-4o``."""
    return model_id.rsplit("/", 1)[-1]


def render_table(
    headers: Sequence[str],
    rows: Sequence[Sequence[str]],
    *,
    right: Sequence[int] = (),
) -> str:
    """The rows under their headers, columns padded to fit, columns in ``right`` right-aligned.

    Every row must have as many cells as there are headers.
    """
    for row in rows:
        if len(row) != len(headers):
            raise ValueError(f"row {list(row)!r} has {len(row)} cells, expected {len(headers)}")
    widths = [len(h) for h in headers]
    for row in rows:
        widths = [max(w, len(cell)) for w, cell in zip(widths, row, strict=True)]
    right_set = frozenset(right)

    def line(cells: Sequence[str]) -> str:
        padded = (
            cell.rjust(w) if i in right_set else cell.ljust(w)
            for i, (cell, w) in enumerate(zip(cells, widths, strict=True))
        )
        return "  ".join(padded).rstrip()

    out = [line(headers), "  ".join("-" * w for w in widths)]
    out.extend(line(row) for row in rows)
    return "\n".join(out)
