"""MkDocs hooks: pages generated from the code at build time (``hooks:`` in ``mkdocs.yml``).

``settings-reference.md`` is rendered by ``docs/gen_settings.py`` from ``MuxerSettings``, so the
site always documents the settings of the code it was built from.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

from mkdocs.structure.files import File, Files

_HERE = Path(__file__).parent


def _render_settings() -> str:
    spec = importlib.util.spec_from_file_location("gen_settings", _HERE / "gen_settings.py")
    if spec is None or spec.loader is None:  # pragma: no cover - the file is beside this one
        raise RuntimeError("docs/gen_settings.py is missing")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    page: str = module.render()
    return page


def on_files(files: Files, config: Any) -> Files:
    """Add the generated settings reference to the site's files."""
    files.append(File.generated(config, "settings-reference.md", content=_render_settings()))
    return files
