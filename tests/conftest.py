"""Shared fixtures: throwaway plugin distributions pip-installed into a temporary folder."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

PLUGINS = Path(__file__).parent / "plugins"


def pip_install_target(sources: list[Path], target: Path) -> None:
    """`pip install --target` real distributions (metadata, entry points) without network."""
    cmd = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-index"]
    cmd += ["--no-build-isolation", "--target", str(target), *map(str, sources)]
    env = {**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    subprocess.run(cmd, check=True, env=env, capture_output=True, text=True)


@pytest.fixture(scope="session")
def plugin_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder holding every throwaway plugin of tests/plugins/, installed by pip."""
    target = tmp_path_factory.mktemp("plugin-site")
    pip_install_target(sorted(p for p in PLUGINS.iterdir() if p.is_dir()), target)
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
