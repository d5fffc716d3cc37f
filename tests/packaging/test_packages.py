"""Every package builds, passes ``twine check``, and works installed from its wheel alone.

The packages are built with ``uv build`` (an sdist, then the wheel from that sdist, so a file
missing from the sdist fails here), checked with ``twine check --strict``, and installed into a
fresh virtual environment (Python 3.11) from the built wheels only: the workspace's sources are
never on the path. Third-party dependencies come from the package index, pinned to the versions
of ``uv.lock`` (set ``MODELMUXER_PACKAGING_RESOLUTION=latest`` to resolve the newest versions the
packages' ranges allow). There each package's README quickstart runs, offline, and prints what
the README shows. The metadata of the siblings agrees: one version, adapters requiring a core
range that holds it, shared third-party ranges identical, extras named for what they bring.

Run it with ``tox -e packaging``. It needs ``uv`` and the package index (or a warm uv cache).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tarfile
import tomllib
import zipfile
from pathlib import Path

import pytest
from _codeblocks import ROOT, normalise, offline_env, run_steps, steps
from packaging.requirements import Requirement
from packaging.version import Version

PACKAGES_DIR = ROOT / "packages"
#: distribution name -> the import package it ships
IMPORTS = {
    "modelmuxer": "modelmuxer",
    "langchain-modelmuxer": "langchain_modelmuxer",
    "llama-index-llms-modelmuxer": "llama_index.llms.modelmuxer",
    "modelmuxer-litellm": "modelmuxer_litellm",
}
CORE = "modelmuxer"
#: the core's extras, each named for what it brings
EXTRAS = {
    "redis": {"redis"},
    "postgres": {"asyncpg"},
    "metrics": {"prometheus-client"},
    "tracing": {"opentelemetry-api", "opentelemetry-sdk"},
    "jwt": {"pyjwt"},
    "encryption": {"cryptography"},
    "plot": {"matplotlib"},
    "testing": {"pytest", "hypothesis"},
    "train": {"scikit-learn"},
}
#: what importing each extra's dependencies looks like
EXTRA_IMPORTS = (
    "redis",
    "asyncpg",
    "prometheus_client",
    "opentelemetry.sdk.trace",
    "jwt",
    "cryptography.fernet",
    "matplotlib",
    "pytest",
    "hypothesis",
    "sklearn.linear_model",
)
PYTHON = os.environ.get("MODELMUXER_PACKAGING_PYTHON", "3.11")


def _projects() -> dict[str, dict[str, object]]:
    found = {}
    for pyproject in sorted(PACKAGES_DIR.glob("*/pyproject.toml")):
        project = tomllib.loads(pyproject.read_text())["project"]
        project["_dir"] = pyproject.parent
        found[project["name"]] = project
    return found


PROJECTS = _projects()


def _requirements(project: dict[str, object]) -> list[Requirement]:
    return [Requirement(r) for r in project.get("dependencies", [])]  # type: ignore[attr-defined]


def _uv() -> str:
    found = shutil.which("uv")
    if found:
        return found
    from uv import find_uv_bin  # the uv package tox-uv brings

    return find_uv_bin()


def _run(*args: str | Path, cwd: Path | None = None, env: dict[str, str] | None = None) -> str:
    result = subprocess.run(
        [str(a) for a in args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    command = " ".join(map(str, args))
    assert result.returncode == 0, (
        f"{command} failed:\n{result.stdout[-2000:]}{result.stderr[-4000:]}"
    )
    return result.stdout


# --- metadata, read from the pyproject files --------------------------------------------------


def test_every_package_is_known() -> None:
    assert set(PROJECTS) == set(IMPORTS)


def test_siblings_share_one_version_and_the_core_range_holds_it() -> None:
    versions = {name: Version(str(p["version"])) for name, p in PROJECTS.items()}
    core = versions[CORE]
    assert len(set(versions.values())) == 1, versions
    next_minor = Version(f"{core.major}.{core.minor + 1}.0")
    for name, project in PROJECTS.items():
        if name == CORE:
            continue
        [req] = [r for r in _requirements(project) if r.name == CORE]
        assert core in req.specifier, f"{name} requires {req}, which excludes the core's {core}"
        assert next_minor not in req.specifier, (
            f"{name}: {req} needs an upper bound below {next_minor}"
        )
        assert not req.extras, f"{name} should not pull the core's extras: {req}"


def test_shared_third_party_ranges_are_identical() -> None:
    ranges: dict[str, dict[str, str]] = {}
    for name, project in PROJECTS.items():
        for req in _requirements(project):
            if req.name not in PROJECTS:
                ranges.setdefault(req.name, {})[name] = str(req.specifier)
    for dependency, by_package in ranges.items():
        assert len(set(by_package.values())) == 1, f"{dependency}: {by_package}"


def test_core_version_attribute_matches_the_metadata() -> None:
    init = (PACKAGES_DIR / "modelmuxer" / "src" / "modelmuxer" / "__init__.py").read_text()
    assert f'__version__ = "{PROJECTS[CORE]["version"]}"' in init


def test_extras_are_named_for_what_they_bring() -> None:
    extras = PROJECTS[CORE].get("optional-dependencies", {})
    assert isinstance(extras, dict)
    brought = {extra: {Requirement(r).name for r in reqs} for extra, reqs in extras.items()}
    assert brought == EXTRAS
    for name, project in PROJECTS.items():
        if name != CORE:
            assert not project.get("optional-dependencies"), f"{name} has extras: document them"


@pytest.mark.parametrize("name", sorted(PROJECTS))
def test_metadata_is_complete(name: str) -> None:
    project = PROJECTS[name]
    folder = project["_dir"]
    assert isinstance(folder, Path)
    assert project["readme"] == "README.md"
    assert project["license"] == "Apache-2.0"
    assert project["license-files"] == ["LICENSE"]
    assert (folder / "LICENSE").is_file()
    assert project["requires-python"] == ">=3.11"
    classifiers = project["classifiers"]
    assert isinstance(classifiers, list)
    assert "Typing :: Typed" in classifiers
    assert "Programming Language :: Python :: 3.11" in classifiers
    assert classifiers == PROJECTS[CORE]["classifiers"], "siblings share their classifiers"
    quickstart = steps((folder / "README.md").read_text())
    assert quickstart, f"{name}'s README needs a python quickstart"
    assert all(step.expected is not None for step in quickstart), "show the quickstart's output"


# --- built: sdists and wheels -----------------------------------------------------------------


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    _run(_uv(), "build", "--all-packages", "--out-dir", out, "--no-progress", cwd=ROOT)
    return out


def _artifacts(dist: Path, name: str) -> tuple[Path, Path]:
    stem = name.replace("-", "_")
    [sdist] = dist.glob(f"{stem}-*.tar.gz")
    [wheel] = dist.glob(f"{stem}-*-py3-none-any.whl")
    return sdist, wheel


@pytest.mark.slow
def test_each_package_builds_an_sdist_and_a_wheel(dist: Path) -> None:
    for name, project in PROJECTS.items():
        sdist, wheel = _artifacts(dist, name)
        assert wheel.name.endswith(f"-{project['version']}-py3-none-any.whl")
        with tarfile.open(sdist) as archive:
            files = {Path(member).name for member in archive.getnames()}
        assert {"README.md", "LICENSE", "pyproject.toml", "PKG-INFO"} <= files, sdist.name


@pytest.mark.slow
def test_twine_check_passes(dist: Path) -> None:
    built = sorted([*dist.glob("*.whl"), *dist.glob("*.tar.gz")])
    output = _run(sys.executable, "-m", "twine", "check", "--strict", *built)
    assert output.count("PASSED") == 2 * len(PROJECTS), output


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(PROJECTS))
def test_wheel_ships_typed_code_license_and_data(dist: Path, name: str) -> None:
    _, wheel = _artifacts(dist, name)
    package = IMPORTS[name].replace(".", "/")
    with zipfile.ZipFile(wheel) as archive:
        files = set(archive.namelist())
        metadata = archive.read(next(f for f in files if f.endswith(".dist-info/METADATA")))
    assert f"{package}/__init__.py" in files
    assert f"{package}/py.typed" in files
    assert any(f.endswith(".dist-info/licenses/LICENSE") for f in files)
    assert b"Description-Content-Type: text/markdown" in metadata
    if name == CORE:
        assert "modelmuxer/learning/default_router.npz" in files  # the shipped router
        assert "modelmuxer/ledger/migrations/script.py.mako" in files  # alembic needs it
        assert any(f.startswith("modelmuxer/ledger/migrations/versions/0001") for f in files)
        assert any(f.endswith(".dist-info/entry_points.txt") for f in files)
    assert not any(f.startswith(("tests/", "docs/", "examples/")) for f in files)


# --- installed: a fresh virtual environment, the wheels only ----------------------------------


def _constraints(tmp: Path) -> list[str]:
    """``-c FILE`` pinning third-party packages to uv.lock, unless the latest are asked for."""
    if os.environ.get("MODELMUXER_PACKAGING_RESOLUTION", "locked") == "latest":
        return []
    path = tmp / "constraints.txt"
    _run(
        _uv(),
        "export",
        "--frozen",
        "--no-emit-workspace",
        "--no-hashes",
        "--all-extras",
        "--format",
        "requirements-txt",
        "--output-file",
        path,
        "--quiet",
        cwd=ROOT,
    )
    return ["--constraint", str(path)]


def _venv(tmp: Path, requirements: list[str]) -> Path:
    venv = tmp / "venv"
    _run(_uv(), "venv", "--quiet", "--no-python-downloads", "--python", PYTHON, venv, cwd=tmp)
    python = venv / "bin" / "python"
    # outside the workspace (cwd), by file: nothing can come from the workspace's sources
    _run(
        _uv(),
        "pip",
        "install",
        "--quiet",
        "--python",
        python,
        *_constraints(tmp),
        *requirements,
        cwd=tmp,
    )
    return python


@pytest.fixture(scope="module")
def venv(dist: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("installed")
    wheels = [str(_artifacts(dist, name)[1]) for name in PROJECTS]
    return _venv(tmp, wheels)


@pytest.mark.slow
def test_packages_import_from_the_environment_not_the_workspace(venv: Path) -> None:
    code = (
        "import importlib, json, sys\n"
        f"names = {sorted(IMPORTS.values())!r}\n"
        "print(json.dumps({n: importlib.import_module(n).__file__ for n in names}))\n"
    )
    files = json.loads(_run(venv, "-I", "-c", code, cwd=venv.parent.parent))
    prefix = str(venv.parent.parent)
    for module, file in files.items():
        assert file.startswith(prefix), f"{module} imported from {file}, not the wheel"
        assert str(PACKAGES_DIR) not in file


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(PROJECTS))
def test_readme_quickstart_runs_from_the_wheels(venv: Path, name: str, tmp_path: Path) -> None:
    folder = PROJECTS[name]["_dir"]
    assert isinstance(folder, Path)
    quickstart = steps((folder / "README.md").read_text())
    outputs = run_steps(quickstart, tmp_path, python=str(venv))
    for step, printed in zip(quickstart, outputs, strict=True):
        assert step.expected is not None
        assert normalise(printed) == normalise(step.expected), f"{name}'s quickstart:\n{printed}"


@pytest.mark.slow
def test_command_line_and_migrations_work_from_the_wheel(venv: Path, tmp_path: Path) -> None:
    cli = venv.parent / "modelmuxer"
    env = offline_env(tmp_path)
    route = _run(
        cli,
        "route",
        "hi",
        "--models",
        "offline/openai/gpt-4o-mini",
        "--json",
        cwd=tmp_path,
        env=env,
    )
    assert json.loads(route)["models"] == ["offline/openai/gpt-4o-mini"]
    url = f"sqlite+aiosqlite:///{tmp_path / 'ledger.db'}"
    _run(cli, "db", "upgrade", "--url", url, cwd=tmp_path, env=env)
    assert "up to date" in _run(cli, "db", "current", "--url", url, cwd=tmp_path, env=env)


@pytest.mark.slow
def test_core_installs_with_every_extra(dist: Path, tmp_path: Path) -> None:
    _, wheel = _artifacts(dist, CORE)
    python = _venv(tmp_path, [f"{CORE}[{','.join(sorted(EXTRAS))}] @ {wheel.as_uri()}"])
    code = "import importlib\nfor name in {!r}:\n    importlib.import_module(name)\nprint('ok')"
    assert _run(python, "-I", "-c", code.format(EXTRA_IMPORTS), cwd=tmp_path).strip() == "ok"
