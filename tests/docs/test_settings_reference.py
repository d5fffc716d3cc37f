"""The settings reference (generated from the code at each site build) describes every setting."""

from __future__ import annotations

import importlib.util

from _codeblocks import ROOT


def _render() -> str:
    spec = importlib.util.spec_from_file_location("gen_settings", ROOT / "docs" / "gen_settings.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    text = module.render()
    assert isinstance(text, str)
    return text


def test_every_setting_has_a_meaning() -> None:
    rows = [line for line in _render().splitlines() if line.startswith("| `")]
    assert len(rows) > 100  # the whole of MuxerSettings, nested sections and list items too
    blank = [row.split("`")[1] for row in rows if not row.rstrip("|").rsplit("|", 1)[1].strip()]
    assert blank == [], f"settings with no description: {blank}"
