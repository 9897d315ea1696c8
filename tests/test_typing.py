"""The public API as a type checker sees it: layer names are the real classes (a misspelt
argument is flagged), ``nnf.load`` gives a ``Sequential``. .ci/run also runs mypy over the
whole of framework/ and plugins/."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

USER_CODE = """\
import nnf
from nnf.layers import Convolutional, Dense

reveal_type(Dense)
reveal_type(nnf.load("model.nnf"))
Dense(outptu_size=3)
Convolutional(kernel_size=3, depth=4)
"""


@pytest.mark.slow  # mypy reads NumPy's stubs: about 20 s
def test_a_type_checker_sees_the_real_layer_classes(tmp_path: Path):
    pytest.importorskip("mypy", reason="mypy comes with the test extra")
    script = tmp_path / "user.py"
    script.write_text(USER_CODE)
    # The checkout's sources, as an installed copy would provide them (an editable install's
    # import hook is invisible to static checkers).
    env = {
        **os.environ,
        "MYPYPATH": os.pathsep.join(map(str, [ROOT / "framework", ROOT / "plugins"])),
    }
    cmd = [sys.executable, "-m", "mypy", "--follow-imports=silent", "--no-error-summary"]
    cmd += ["--cache-dir", str(tmp_path / "cache"), str(script)]
    out = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    lines = out.stdout.splitlines()
    assert any("Revealed type" in ln and "nnf_layers.dense.Dense" in ln for ln in lines), out.stdout
    assert any("Revealed type" in ln and "nnf.model.Sequential" in ln for ln in lines), out.stdout
    errors = [ln for ln in lines if ": error:" in ln]
    assert len(errors) == 1, out.stdout
    assert "user.py:6:" in errors[0] and '"outptu_size"' in errors[0]
