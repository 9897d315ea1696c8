"""Files that need plugins: a missing plugin names its distribution, nnf.inspect reads any
file without importing a plugin, and layers migrate arrays saved by older layer versions."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import attrs
import msgpack
import nnf
import numpy as np
import pytest
from nnf.errors import ModelFormatError
from nnf.registry import REGISTRY
from nnf_io_helpers import Affine, all_arrays, assert_bit_equal, registered

SCRIPT_CHECK = """
import json, sys
import nnf
report = nnf.inspect(sys.argv[1])
try:
    nnf.load(sys.argv[1])
    error = None
except nnf.errors.ModelFormatError as exc:
    error = str(exc)
plugin_modules = sorted(m for m in sys.modules if m.startswith(("nnf_layers", "nnf_test_")))
print(json.dumps({"report": report, "error": error, "plugins_after_load": plugin_modules}))
"""

INSPECT_ONLY = """
import json, sys
import nnf
report = nnf.inspect(sys.argv[1])
plugin_modules = sorted(m for m in sys.modules if m.startswith(("nnf_layers", "nnf_test_")))
print(json.dumps({"layers": [l["key"] for l in report["layers"]], "plugins": plugin_modules}))
"""


def _run(code: str, path: Path, **env: str) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", code, str(path)],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def _plugin_model(dtype: str = "float32") -> nnf.Sequential:
    scale = nnf.layers.get("acme.Scale.v2")
    model = nnf.Sequential([scale(), Affine(units=2)], input_shape=(3,), dtype=dtype)
    model.build(seed=0)
    model.layers[0].params["gain"][...] = [1.5, -2.0, 0.25]
    return model


def test_missing_installed_plugin_names_distribution_and_version(with_plugins, tmp_path):
    with registered(Affine):
        model = _plugin_model()
        data = model.to_bytes()
        again = nnf.loads(data)  # while installed: loads exactly
        assert_bit_equal(all_arrays(model), all_arrays(again))
        REGISTRY.unregister("acme.Scale.v2")  # as if `pip uninstall nnf-test-good`
        with pytest.raises(ModelFormatError) as info:
            nnf.loads(data)
        assert str(info.value) == (
            "layer 'acme.Scale.v2' needs the plugin distribution nnf-test-good 0.3.0, which is "
            "not installed: pip install 'nnf-test-good>=0.3.0'"
        )
        report = nnf.inspect(data)
        plugins = {p["key"]: p for p in report["required_plugins"]}
        assert plugins["acme.Scale.v2"] == {
            "key": "acme.Scale.v2",
            "dist": "nnf-test-good",
            "version": "0.3.0",
            "installed": False,
        }
        assert report["layers"][0]["params"] == {"gain": {"shape": [3], "dtype": "float32"}}


def test_fresh_process_without_the_plugin(plugin_site: Path, tmp_path: Path):
    path = tmp_path / "needs_plugin.nnf"
    sys.path.insert(0, str(plugin_site))
    REGISTRY.reload()
    try:
        with registered(Affine):
            _plugin_model().save(path)
    finally:
        sys.path.remove(str(plugin_site))
        REGISTRY.reload()
    out = _run(SCRIPT_CHECK, path)  # no plugin site on the path: not installed
    assert "nnf-test-good 0.3.0" in out["error"]
    assert "pip install 'nnf-test-good>=0.3.0'" in out["error"]
    assert out["report"]["num_params"] == 3 + 3 * 2 + 2
    assert [p["installed"] for p in out["report"]["required_plugins"]] == [False, False]
    assert out["plugins_after_load"] == []

    with_site = _run(INSPECT_ONLY, path, PYTHONPATH=str(plugin_site))
    assert with_site["layers"] == ["acme.Scale.v2", "test.Affine.v1"]
    assert with_site["plugins"] == []  # installed, yet inspect imported nothing


def test_inspect_imports_no_builtin_layer_module(tmp_path: Path):
    from nnf.layers import Convolutional, Dense, Flatten, ReLU

    path = tmp_path / "conv.nnf"
    model = nnf.Sequential(
        [Convolutional(kernel_size=3, depth=2), ReLU(), Flatten(), Dense(output_size=3)],
        input_shape=(1, 6, 6),
    )
    model.build(seed=0).save(path)
    out = _run(INSPECT_ONLY, path)
    assert out["layers"] == [
        "nnf.Convolutional.v1",
        "nnf.ReLU.v1",
        "nnf.Flatten.v1",
        "nnf.Dense.v1",
    ]
    assert out["plugins"] == []


def test_script_layer_missing_says_to_register_it():
    with registered():
        from nnf_io_helpers import small_model

        data = small_model().to_bytes()
    with pytest.raises(ModelFormatError, match=r"nnf\.register_layer"):
        nnf.loads(data)


# --------------------------------------------------------------------------- layer versions
@attrs.define(eq=False)
class GainV2(nnf.Layer):
    """Version 2 stores ``gain``; version 1 stored its logarithm as ``log_gain``."""

    key = "test.Gain.v1"
    version = 2

    def _build(self, input_shape, rng, dtype):
        self.params = {"gain": np.ones(input_shape, dtype=dtype)}
        return input_shape

    def forward(self, x, training=False):
        return x * self.params["gain"]

    @classmethod
    def migrate_state(cls, arrays, from_version):
        if from_version == 1:
            return {"gain": np.exp(arrays.pop("log_gain"))}
        return super().migrate_state(arrays, from_version)


def _as_layer_version(data: bytes, version: int, rename: dict[str, str]) -> bytes:
    from nnf.io.encode import pack_chunks

    doc = msgpack.unpackb(data)
    doc.pop("sha256")
    layer = doc["model"]["layers"][0]
    layer["version"] = version
    layer["params"] = [rename.get(n, n) for n in layer["params"]]
    doc["tensors"] = {
        f"{layer['name']}.{rename.get(p.split('.', 1)[1], p.split('.', 1)[1])}": t
        for p, t in doc["tensors"].items()
    }
    return b"".join(pack_chunks(doc))


def test_layer_migrates_arrays_saved_by_an_older_version():
    with registered(GainV2):
        model = nnf.Sequential([GainV2()], input_shape=(2,), dtype="float64").build(seed=0)
        model.layers[0].params["gain"][...] = [0.0, 1.0]  # stands for log_gain in v1
        old = _as_layer_version(model.to_bytes(), 1, {"gain": "log_gain"})
        again = nnf.loads(old)
        assert again.layers[0].params["gain"].tolist() == [1.0, float(np.exp(1.0))]


def test_file_from_a_newer_layer_version_asks_for_the_plugin_upgrade(with_plugins):
    scale = nnf.layers.get("acme.Scale.v2")
    model = nnf.Sequential([scale()], input_shape=(2,)).build(seed=0)
    newer = _as_layer_version(model.to_bytes(), 3, {})
    with pytest.raises(ModelFormatError) as info:
        nnf.loads(newer)
    message = str(info.value)
    assert "version 2 cannot read arrays saved by layer version 3" in message
    assert "pip install 'nnf-test-good>=0.3.0'" in message
