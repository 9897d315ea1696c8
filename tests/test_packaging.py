"""The distribution as users meet it: a name of our own on the package index, install hints
that name it, and a plugin built from docs/plugins.md that installs beside this checkout's
nnf without pulling any other ``nnf``."""

from __future__ import annotations

import importlib.metadata
import json
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DIST = "nnf-framework"
# The name `nnf` on the package index is another project (NNF logical sentences).
FOREIGN = re.compile(r"""(pip install ['"]?nnf[\[>=<'" ]|"nnf[>=<]|'nnf[>=<])""")


def test_the_distribution_has_a_name_of_its_own():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["name"] == DIST
    assert "nnf" in project["scripts"]  # the command keeps its name
    example = tomllib.loads((ROOT / "examples" / "plugin" / "pyproject.toml").read_text())
    assert f"{DIST}>=0.1" in example["project"]["dependencies"]
    # 77 is the first setuptools that accepts PEP 639's `license = "MIT"`.
    assert example["project"]["license"] == "MIT"
    assert example["build-system"]["requires"] == ["setuptools>=77"]


def test_every_install_hint_names_our_distribution():
    texts = [
        *ROOT.joinpath("framework").rglob("*.py"),
        *ROOT.joinpath("plugins").rglob("*.py"),
        *ROOT.joinpath("docs").glob("*.md"),
        ROOT / "README.md",
        ROOT / "examples" / "plugin" / "README.md",
    ]
    wrong = [
        f"{path.relative_to(ROOT)}:{n}: {line.strip()}"
        for path in texts
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if FOREIGN.search(line)
    ]
    assert not wrong, "install hints naming PyPI's other `nnf`:\n" + "\n".join(wrong)


def test_the_install_hints_themselves():
    from nnf.cli.plot import INSTALL_HINT as PLOT
    from nnf.export.onnx import INSTALL_HINT as ONNX

    assert ONNX == f"pip install '{DIST}[onnx]'"
    assert PLOT == f"pip install '{DIST}[plot]'"


@pytest.mark.parametrize("recorded", ["nnf", DIST])  # before and after the rename
def test_a_missing_built_in_layer_asks_for_our_distribution(recorded: str):
    import msgpack
    import nnf
    from nnf.errors import ModelFormatError
    from nnf.io.encode import pack_chunks
    from nnf.layers import Dense

    model = nnf.Sequential([Dense(output_size=2)], input_shape=(3,)).build(seed=0)
    doc = msgpack.unpackb(model.to_bytes(), raw=False)
    doc.pop("sha256")
    # As written by a newer nnf with a layer this one lacks.
    doc["model"]["layers"][0]["key"] = "nnf.Future.v1"
    doc["writer"]["plugins"] = {"nnf.Future.v1": {"dist": recorded, "version": "9.0.0"}}
    with pytest.raises(ModelFormatError, match=rf"pip install '{DIST}>=9\.0\.0'"):
        nnf.loads(b"".join(pack_chunks(doc)))


def guide_package(folder: Path) -> Path:
    """docs/plugins.md's package (pyproject.toml and layer), written out as the guide says."""
    page = (ROOT / "docs" / "plugins.md").read_text()
    blocks = re.findall(r"```(\w+)\n(.*?)```", page, flags=re.S)
    pyproject = next(code for lang, code in blocks if lang == "toml" and "[project]" in code)
    layer = next(code for lang, code in blocks if lang == "python" and "class Affine" in code)
    package = folder / "nnf-acme"
    (package / "src" / "acme_layers").mkdir(parents=True)
    (package / "pyproject.toml").write_text(pyproject)
    (package / "src" / "acme_layers" / "__init__.py").write_text("")
    (package / "src" / "acme_layers" / "affine.py").write_text(layer)
    return package


def pip(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    cmd = [sys.executable, "-m", "pip", *args]
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


@pytest.mark.slow  # builds a wheel in an isolated environment: about 10 s
def test_a_plugin_from_the_guide_installs_beside_this_nnf(tmp_path: Path):
    try:
        ours = importlib.metadata.distribution(DIST)
    except importlib.metadata.PackageNotFoundError:
        pytest.skip(f"{DIST} is not installed here (the README's `pip install -e .` installs it)")
    package = guide_package(tmp_path)
    wheels = tmp_path / "wheels"
    # Built the way pip builds for a user: in isolation, with the setuptools it declares.
    built = pip("wheel", "--no-deps", "--quiet", "-w", str(wheels), str(package), cwd=tmp_path)
    if built.returncode and "satisfies the requirement setuptools" in built.stderr:
        pytest.skip("needs the package index (or a wheel cache) for the build's setuptools")
    assert built.returncode == 0, built.stderr
    (wheel,) = wheels.glob("nnf_acme-0.1.0-*.whl")

    # Resolving against this environment offline: nnf-framework is already here, so the only
    # thing to install is the plugin (PyPI's `nnf` would be a second, unrelated package).
    report = tmp_path / "report.json"
    args = ["install", "--dry-run", "--no-index", "--quiet", "--report", str(report), str(wheel)]
    resolved = pip(*args, cwd=tmp_path)
    assert resolved.returncode == 0, resolved.stderr
    install = json.loads(report.read_text())["install"]
    assert [item["metadata"]["name"] for item in install] == ["nnf-acme"]
    assert f"{DIST}>=0.1" in install[0]["metadata"]["requires_dist"]
    assert ours.version == "0.1.0"

    site = tmp_path / "site"
    args = ["install", "--no-deps", "--no-index", "--quiet", "--target", str(site), str(wheel)]
    installed = pip(*args, cwd=tmp_path)
    assert installed.returncode == 0, installed.stderr
    env = {**os.environ, "PYTHONPATH": str(site)}
    code = "from nnf.cli import main; main()"
    out = subprocess.run(
        [sys.executable, "-c", code, "layers", "--check"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    rows = {line.split()[0]: line.split()[1:] for line in out.stdout.splitlines() if line.strip()}
    assert rows["acme.Affine.v1"] == ["nnf-acme", "0.1.0", "ok"]
    assert rows["nnf.Dense.v1"][0] == DIST
