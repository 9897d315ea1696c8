"""docs/format.md is enough to read a file: its reference reader, run in a process that never
imports nnf, decodes files written by nnf to the same arrays."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import nnf
import numpy as np
import pytest
from nnf.layers import Dense, Tanh

DOC = Path(__file__).resolve().parents[1] / "docs" / "format.md"


def reader_source() -> str:
    text = DOC.read_text(encoding="utf-8")
    section = text.split("## 11. A reference reader", 1)[1]
    blocks = re.findall(r"```python\n(.*?)```", section, flags=re.S)
    assert blocks, "docs/format.md lost its reference reader"
    return blocks[0]


RUNNER = """
import json, sys
{reader}
out = {{}}
for path in sys.argv[1:]:
    data = open(path, "rb").read()
    try:
        got = read_nnf(data)
    except ValueError as exc:
        out[path] = {{"error": str(exc)}}
        continue
    out[path] = {{
        "model": got["model"],
        "metadata": got["metadata"],
        "training": got["training"],
        "tensors": {{k: [v.dtype.str, list(v.shape), v.tobytes().hex()]
                    for k, v in got["tensors"].items()}},
        "slots": {{s: {{k: v.tobytes().hex() for k, v in t.items()}}
                  for s, t in (got["optimizer"] or {{"slots": {{}}}})["slots"].items()}},
    }}
out["nnf_imported"] = sorted(m for m in sys.modules if m == "nnf" or m.startswith("nnf"))
print(json.dumps(out))
"""


def run_reader(*paths: Path) -> dict:
    source = RUNNER.format(reader=reader_source())
    assert "import nnf" not in source and "from nnf" not in source
    done = subprocess.run(
        [sys.executable, "-c", source, *map(str, paths)],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(done.stdout)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_reference_reader_decodes_nnf_files(tmp_path: Path, dtype: str):
    model = nnf.Sequential(
        [Dense(output_size=4), Tanh(), Dense(output_size=2)], input_shape=(3,), dtype=dtype
    )
    x = np.random.default_rng(0).standard_normal((16, 3))
    model.fit(x, x[:, :2], epochs=2, batch_size=4, optimizer="adam", seed=1, verbose=0)
    path = tmp_path / "m.nnf"
    model.save(path, metadata={"k": "v"})
    damaged = tmp_path / "damaged.nnf"
    raw = bytearray(path.read_bytes())
    raw[100] ^= 0x01
    damaged.write_bytes(bytes(raw))

    out = run_reader(path, damaged)
    assert out["nnf_imported"] == []
    assert "sha256" in out[str(damaged)]["error"]
    got = out[str(path)]
    config = model.get_config()
    assert got["model"]["class"] == "Sequential" and got["model"]["seed"] == model.seed
    for key in ("name", "input_shape", "dtype"):
        assert got["model"][key] == config[key]
    for saved, live in zip(got["model"]["layers"], config["layers"], strict=True):
        assert {k: saved[k] for k in ("name", "key", "version", "config")} == live
    assert got["metadata"] == {"k": "v"}
    assert got["training"]["epoch"] == 2
    for layer in model.layers:
        for name, array in layer.params.items():
            dt, shape, hexdata = got["tensors"][f"{layer.name}.{name}"]
            assert np.dtype(dt) == array.dtype and tuple(shape) == array.shape
            assert bytes.fromhex(hexdata) == array.tobytes()
    for slot, table in model.optimizer.slots.items():
        for p, array in table.items():
            assert bytes.fromhex(got["slots"][slot][p]) == array.tobytes()

    # The page's description of Dense is enough to run the model.
    tensors = {
        k: np.frombuffer(bytes.fromhex(h), dtype=d).reshape(s)
        for k, (d, s, h) in got["tensors"].items()
    }
    h = np.tanh(x @ tensors["dense_0.weights"].T + tensors["dense_0.bias"])
    y = h @ tensors["dense_2.weights"].T + tensors["dense_2.bias"]
    np.testing.assert_allclose(y, model.predict(x), rtol=1e-5, atol=1e-6)


def test_documented_first_bytes_and_trailer():
    model = nnf.Sequential([Dense(output_size=2)], input_shape=(3,)).build(seed=0)
    data = model.to_bytes()
    assert data[:8] == bytes.fromhex("87a6666f726d6174")  # map(7), "format"
    assert data[-41:-32] == bytes.fromhex("a6736861323536c420")
    text = DOC.read_text(encoding="utf-8")
    assert "a6 73 68 61 32 35 36" in text and "c4 20" in text
