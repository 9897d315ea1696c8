"""Shared fixtures: throwaway plugin distributions installed into a temporary folder, and a
test session that ignores the developer's NNF_* settings."""

from __future__ import annotations

import importlib
import os
import re
import shutil
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

PLUGINS = Path(__file__).parent / "plugins"

# Hermetic: the suite must pass whatever the shell holds (NNF_DISABLE_PLUGIN_AUTOLOAD,
# NNF_PARALLEL, NNF_NUM_THREADS, ...). They are dropped here, before any test module imports
# nnf, so the registry's first scan and every subprocess a test starts see none of them;
# a test that needs one sets it itself (monkeypatch.setenv or the subprocess's env).
for _name in [name for name in os.environ if name.startswith("NNF_")]:
    del os.environ[_name]


def install_dist_info(source: Path, target: Path) -> None:
    """Install the project in ``source`` into ``target`` the way pip lays out a wheel: its
    modules plus a ``.dist-info`` folder (METADATA, entry_points.txt, RECORD) written from its
    pyproject.toml. No build backend runs, so this works offline on any interpreter (a stock
    3.12+ venv has no setuptools, 3.11's is too old for PEP 639); what importlib.metadata
    and nnf's registry read is exactly what pip would have written."""
    project = tomllib.loads((source / "pyproject.toml").read_text())
    meta, tool = project["project"], project.get("tool", {}).get("setuptools", {})
    files: list[str] = []
    for module in tool.get("py-modules", []):
        shutil.copy2(source / f"{module}.py", target / f"{module}.py")
        files.append(f"{module}.py")
    for where in tool.get("packages", {}).get("find", {}).get("where", []):
        for package in sorted((source / where).glob("*/__init__.py")):
            name = package.parent.name
            ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
            shutil.copytree(package.parent, target / name, ignore=ignore)
            files += [str(f.relative_to(target)) for f in (target / name).rglob("*.py")]
    dist = re.sub(r"[-_.]+", "_", meta["name"]).lower()
    info = target / f"{dist}-{meta['version']}.dist-info"
    info.mkdir()
    lines = ["Metadata-Version: 2.1", f"Name: {meta['name']}", f"Version: {meta['version']}"]
    lines += [f"Requires-Dist: {req}" for req in meta.get("dependencies", [])]
    (info / "METADATA").write_text("\n".join(lines) + "\n")
    groups = meta.get("entry-points", {})
    (info / "entry_points.txt").write_text(
        "".join(
            f"[{group}]\n" + "".join(f"{k} = {v}\n" for k, v in eps.items()) + "\n"
            for group, eps in groups.items()
        )
    )
    (info / "INSTALLER").write_text("nnf-tests\n")
    listed = [*files, *(f"{info.name}/{n}" for n in ("METADATA", "entry_points.txt", "INSTALLER"))]
    (info / "RECORD").write_text("".join(f"{f},,\n" for f in [*listed, f"{info.name}/RECORD"]))


def install_target(sources: list[Path], target: Path) -> None:
    """Install each project folder in ``sources`` into ``target`` (see install_dist_info)."""
    target.mkdir(parents=True, exist_ok=True)
    for source in sources:
        install_dist_info(source, target)


@pytest.fixture(scope="session")
def plugin_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder holding every throwaway plugin of tests/plugins/, installed."""
    target = tmp_path_factory.mktemp("plugin-site")
    install_target(sorted(p for p in PLUGINS.iterdir() if p.is_dir()), target)
    return target


@pytest.fixture
def with_plugins(plugin_site: Path) -> Iterator[Path]:
    """Put the throwaway plugins on sys.path and rescan the global registry; undo afterwards."""
    from nnf.registry import REGISTRY

    sys.path.insert(0, str(plugin_site))
    importlib.invalidate_caches()
    REGISTRY.reload()
    try:
        yield plugin_site
    finally:
        sys.path.remove(str(plugin_site))
        for name in [m for m in sys.modules if m.startswith("nnf_test_")]:
            del sys.modules[name]
        importlib.invalidate_caches()
        REGISTRY.reload()
