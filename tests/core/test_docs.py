"""The docs that are generated from code are current, and the docs name only what exists."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _load_generator(name: str = "gen_hooks") -> object:
    spec = importlib.util.spec_from_file_location(name, ROOT / "docs" / f"{name}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_hooks_reference_is_generated_from_the_hookspecs() -> None:
    generator = _load_generator()
    page = (ROOT / "docs" / "hooks.md").read_text()
    assert page == generator.render(), "docs/hooks.md is stale: run python docs/gen_hooks.py"  # type: ignore[attr-defined]


def test_every_hook_is_documented() -> None:
    from modelmuxer import hookspecs

    page = (ROOT / "docs" / "hooks.md").read_text()
    hooks = [name for name in dir(hookspecs) if name.startswith("modelmuxer_")]
    assert len(hooks) >= 10
    for name in hooks:
        assert f"## `{name}`" in page


def test_configuration_page_lists_every_setting() -> None:
    from modelmuxer.config import MuxerSettings

    page = (ROOT / "docs" / "configuration.md").read_text()
    for name in MuxerSettings.model_fields:
        assert f"`{name}`" in page, name
        assert f"MODELMUXER_{name.upper()}" in page, name


#: pages the site generates at build time (docs/mkdocs_hooks.py), so no file holds them
GENERATED_PAGES = {ROOT / "docs" / "settings-reference.md"}


def test_docs_links_point_to_files_that_exist() -> None:
    for page in [*(ROOT / "docs").rglob("*.md"), ROOT / "README.md"]:
        for target in re.findall(r"\]\(([^)#]+\.md)\)", page.read_text()):
            path = (page.parent / target).resolve()
            assert path.exists() or path in GENERATED_PAGES, (
                f"{page.name} links to missing {target}"
            )


def test_the_settings_reference_gives_every_setting_a_meaning() -> None:
    """docs/gen_settings.py renders the reference at each site build, from the pydantic fields'
    descriptions: a field without one would be a blank row."""
    page = _load_generator("gen_settings").render()  # type: ignore[attr-defined]
    rows = [line for line in page.splitlines() if line.startswith("| `")]
    assert len(rows) > 100  # the whole of MuxerSettings, nested sections and list items too
    blank = [row.split("`")[1] for row in rows if not row.rstrip("|").rsplit("|", 1)[1].strip()]
    assert blank == [], f"settings with no description: {blank}"
