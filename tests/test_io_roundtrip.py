"""The .nnf file round trip: bit-exact weights and predictions, optimizer and training state,
exact resumption of training, determinism, load_weights and .npz export."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import nnf
import nnf.io
import numpy as np
import pytest
from nnf.errors import ConfigError, ModelFormatError, NotBuiltError
from nnf.io import spec
from nnf_io_helpers import (
    Affine,
    all_arrays,
    assert_bit_equal,
    data,
    registered,
    small_model,
    trained_model,
)


@pytest.fixture(autouse=True)
def _test_layers():
    with registered():
        yield


# --------------------------------------------------------------------------- round trips
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_round_trip_is_bit_exact(tmp_path: Path, dtype: str):
    model = trained_model(dtype)
    path = tmp_path / "m.nnf"
    model.save(path, metadata={"author": "me", "note": "ünïcode"})
    again = nnf.load(path)
    assert_bit_equal(all_arrays(model), all_arrays(again))
    x, _ = data(11, seed=5)
    assert again.predict(x).tobytes() == model.predict(x).tobytes()
    assert again.dtype == np.dtype(dtype)
    assert [layer.name for layer in again] == [layer.name for layer in model]
    assert again.get_config() == model.get_config()
    assert again.seed == model.seed
    assert nnf.inspect(path)["metadata"] == {"author": "me", "note": "ünïcode"}


def test_optimizer_loss_and_progress_are_restored():
    model = trained_model("float64", epochs=3)
    again = nnf.loads(model.to_bytes())
    assert type(again.optimizer) is type(model.optimizer)
    assert again.optimizer.get_config() == model.optimizer.get_config()
    assert again.optimizer.iterations == model.optimizer.iterations > 0
    for slot, table in model.optimizer.slots.items():
        assert_bit_equal(table, again.optimizer.slots[slot])
    assert again.loss.name == model.loss.name
    untimed = [
        {k: v for k, v in logs.items() if k != "seconds"}
        for logs in model.training_state["history"]
    ]
    assert again.training_state == {**model.training_state, "history": untimed}
    assert again.training_state["epoch"] == 3


def test_saving_again_gives_the_same_bytes():
    model = trained_model()
    data_ = model.to_bytes()
    assert model.to_bytes() == data_
    assert nnf.loads(data_).to_bytes() == data_  # load then save changes nothing


def test_include_optimizer_false_leaves_it_out():
    model = trained_model()
    again = nnf.loads(model.to_bytes(include_optimizer=False))
    assert again.optimizer is None
    assert again.training_state["epoch"] == model.training_state["epoch"]


def test_untrained_model_round_trips_without_training_block():
    model = small_model()
    again = nnf.loads(model.to_bytes())
    assert again.optimizer is None and again.loss is None and again.training_state == {}
    assert_bit_equal(all_arrays(model), all_arrays(again))


def test_loading_leaves_numpy_global_random_stream_alone():
    data_ = nnf.Sequential([Affine(units=2)], input_shape=(3,)).build(seed=1).to_bytes()
    np.random.seed(123)
    expected = np.random.rand(3)
    np.random.seed(123)
    nnf.loads(data_)
    assert np.array_equal(np.random.rand(3), expected)


# ------------------------------------------------------------------------ exact resumption
@pytest.mark.parametrize(
    ("optimizer", "dtype"),
    [
        ("adam", "float32"),
        ("sgd", "float64"),
        ("sgd", "float32"),
        ("adam", "float64"),
        ("adamw", "float32"),
        ("rmsprop", "float32"),
        ("rmsprop", "float64"),
    ],
)
def test_resumed_training_equals_uninterrupted(tmp_path: Path, optimizer: str, dtype: str):
    x, y = data(37)  # 37 samples: the last batch is partial

    def make_optimizer():
        if optimizer == "sgd":
            return nnf.optimizers.SGD(learning_rate=0.05, momentum=0.9)
        if optimizer == "adamw":  # clipping options are saved and restored too
            return nnf.optimizers.AdamW(learning_rate=0.01, clipnorm=0.5)
        if optimizer == "rmsprop":
            return nnf.optimizers.RMSprop(0.01, momentum=0.5, centered=True, clipvalue=0.05)
        return nnf.optimizers.Adam(learning_rate=0.01)

    straight = small_model(dtype, seed=3)
    straight.fit(x, y, epochs=5, batch_size=8, optimizer=make_optimizer(), seed=11, verbose=0)

    first = small_model(dtype, seed=3)
    first.fit(x, y, epochs=2, batch_size=8, optimizer=make_optimizer(), seed=11, verbose=0)
    first.save(tmp_path / "half.nnf")
    resumed = nnf.load(tmp_path / "half.nnf")
    resumed.fit(x, y, epochs=3, batch_size=8, verbose=0)

    assert resumed.training_state["epoch"] == straight.training_state["epoch"] == 5
    assert type(resumed.optimizer) is type(straight.optimizer)
    assert resumed.optimizer.get_config() == straight.optimizer.get_config()
    assert_bit_equal(all_arrays(straight), all_arrays(resumed))
    for slot, table in straight.optimizer.slots.items():
        assert_bit_equal(table, resumed.optimizer.slots[slot])


# ---------------------------------------------------------------------------- determinism
def test_same_model_built_twice_gives_identical_bytes():
    assert small_model(seed=2).to_bytes() == small_model(seed=2).to_bytes()


def test_two_trainings_with_the_same_seed_save_identical_files(tmp_path: Path):
    a, b = trained_model(), trained_model()
    # The epochs took different wall-clock times; that stays in memory, not in the file.
    assert all("seconds" in logs for logs in a.training_state["history"])
    b.training_state["history"][0]["seconds"] += 1.0
    a.save(tmp_path / "a.nnf")
    b.save(tmp_path / "b.nnf")
    assert (tmp_path / "a.nnf").read_bytes() == (tmp_path / "b.nnf").read_bytes()
    history = nnf.load(tmp_path / "a.nnf").training_state["history"]
    assert history and all("seconds" not in logs and "loss" in logs for logs in history)
    # Saving leaves the trained model's own record alone.
    assert all("seconds" in logs for logs in a.training_state["history"])


def test_bytes_do_not_depend_on_the_process(tmp_path: Path):
    script = (
        "import sys; sys.path.insert(0, sys.argv[1]); import nnf_io_helpers as h\n"
        "with h.registered():\n"
        "    sys.stdout.buffer.write(h.small_model('float64', seed=4).to_bytes())\n"
    )
    outputs = []
    for hash_seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": hash_seed}
        run = subprocess.run(
            [sys.executable, "-c", script, str(Path(__file__).parent)],
            capture_output=True,
            env=env,
            check=True,
        )
        outputs.append(run.stdout)
    assert outputs[0] == outputs[1] == small_model("float64", seed=4).to_bytes()


# ------------------------------------------------------------------------- built-in layers
def builtin_models(dtype: str):
    from nnf.layers import (
        Convolutional,
        Dense,
        Dropout,
        Flatten,
        LeakyReLU,
        MaxPool2D,
        ReLU,
        Reshape,
        Sigmoid,
        Softmax,
        Tanh,
    )

    conv = nnf.Sequential(
        [
            Convolutional(kernel_size=3, depth=3),
            ReLU(),
            MaxPool2D(),
            Convolutional(kernel_size=2, depth=2, bias="channel", padding="same"),
            LeakyReLU(alpha=0.2),
            Flatten(),
            Dropout(rate=0.3),
            Dense(output_size=4),
            Softmax(),
        ],
        input_shape=(1, 8, 8),
        dtype=dtype,
    )
    dense = nnf.Sequential(
        [
            Reshape(input_shape=(2, 3), output_shape=(6,)),
            Dense(output_size=5, init="normal"),
            Sigmoid(),
            Dense(output_size=2, init="he"),
            Tanh(),
        ],
        input_shape=(2, 3),
        dtype=dtype,
    )
    from nnf.layers import AvgPool2D, BatchNorm, GlobalAveragePooling2D, Residual

    block = [Convolutional(kernel_size=3, depth=4, padding="same"), BatchNorm(), ReLU()]
    resnet = nnf.Sequential(
        [
            Convolutional(kernel_size=3, depth=2, padding="same", bias="channel"),
            BatchNorm(momentum=0.8),
            Residual(block),  # projection: 2 -> 4 channels
            AvgPool2D(pool_size=3, stride=2, padding="same"),
            Residual([Convolutional(kernel_size=3, depth=4, padding="same"), Dropout(0.2)]),
            GlobalAveragePooling2D(),
            Dense(output_size=4),
            Softmax(),
        ],
        input_shape=(1, 8, 8),
        dtype=dtype,
    )
    return {
        "conv": (conv, (20, 1, 8, 8), 4),
        "dense": (dense, (20, 2, 3), 2),
        "resnet": (resnet, (20, 1, 8, 8), 4),
    }


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_every_builtin_layer_round_trips_bit_exact(dtype: str):
    keys = set()
    for model, x_shape, classes in builtin_models(dtype).values():
        rng = np.random.default_rng(0)
        x = rng.standard_normal(x_shape)
        y = rng.integers(0, classes, size=x_shape[0])
        loss = "categorical_crossentropy" if classes == 4 else "mse"
        target = y if classes == 4 else np.eye(classes)[y]
        model.fit(x, target, epochs=2, batch_size=8, loss=loss, seed=2, verbose=0)
        again = nnf.loads(model.to_bytes())
        assert_bit_equal(all_arrays(model), all_arrays(again))
        assert again.predict(x).tobytes() == model.predict(x).tobytes()
        keys |= {type(layer).key for layer in model}
    builtin = {e.key for e in nnf.list_layers() if e.builtin}
    assert keys == builtin, f"layers not covered: {sorted(builtin - keys)}"


# ----------------------------------------------------------------------------- load_weights
def test_load_weights_from_nnf_and_npz(tmp_path: Path):
    source = trained_model()
    source.save(tmp_path / "w.nnf")
    nnf.io.export_npz(source, tmp_path / "w.npz")
    for name in ("w.nnf", "w.npz"):
        target = small_model(seed=99)
        report = target.load_weights(tmp_path / name)
        assert report.ok and len(report.loaded) == len(all_arrays(source))
        assert_bit_equal(all_arrays(source), all_arrays(target))


def test_strict_load_weights_lists_every_mismatch_and_changes_nothing(tmp_path: Path):
    small_model(units=6).save(tmp_path / "six.nnf")
    target = small_model(units=7, seed=5)
    before = {k: v.copy() for k, v in all_arrays(target).items()}
    with pytest.raises(ModelFormatError) as info:
        target.load_weights(tmp_path / "six.nnf")
    message = str(info.value)
    assert "\n" not in message
    assert "affine_0.weights: shape (5, 6) in the file, (5, 7) expected" in message
    assert "affine_0.bias" in message and "affine_3.weights" in message
    assert_bit_equal(before, all_arrays(target))


def test_non_strict_load_weights_reports_and_loads_the_rest(tmp_path: Path):
    source = small_model(units=6)
    source.save(tmp_path / "six.nnf")
    target = nnf.Sequential([Affine(units=6), Affine(units=3)], input_shape=(5,)).build(seed=1)
    target.layers[1].name = "other"
    report = target.load_weights(tmp_path / "six.nnf", strict=False)
    assert sorted(report.loaded) == ["affine_0.bias", "affine_0.weights"]
    assert report.missing == ["other.bias", "other.weights"]
    assert "affine_3.weights" in report.unexpected and "noise_1.calls" in report.unexpected
    assert not report.ok and report.mismatched == []
    assert np.array_equal(target.layers[0].params["weights"], source.layers[0].params["weights"])


def test_load_weights_dtype_mismatch_is_reported(tmp_path: Path):
    small_model("float64").save(tmp_path / "f64.nnf")
    with pytest.raises(ModelFormatError, match="dtype float64 in the file, float32 expected"):
        small_model("float32").load_weights(tmp_path / "f64.nnf")


def test_npz_with_object_arrays_is_refused(tmp_path: Path):
    np.savez(tmp_path / "evil.npz", **{"affine_0.weights": np.array([{}], dtype=object)})
    with pytest.raises(ModelFormatError, match="not allowed"):
        small_model().load_weights(tmp_path / "evil.npz")


def test_npz_header_mismatch_reads_no_data(tmp_path: Path):
    # A member whose header disagrees with the model is reported, never decompressed.
    np.savez_compressed(tmp_path / "big.npz", **{"affine_0.weights": np.zeros((2000, 2000))})
    report = small_model().load_weights(tmp_path / "big.npz", strict=False)
    assert any("shape (2000, 2000)" in m for m in report.mismatched)
    assert "affine_0.weights" not in report.missing


# ------------------------------------------------------------------------------ save errors
def test_unsavable_models_raise_config_errors_before_writing(tmp_path: Path):
    path = tmp_path / "x.nnf"
    with pytest.raises(NotBuiltError):
        nnf.Sequential([Affine(units=2)], input_shape=(3,)).save(path)
    model = small_model()
    model.layers[0].name = "a.b"
    with pytest.raises(ConfigError, match="cannot be saved"):
        model.save(path)
    with pytest.raises(ConfigError, match="metadata"):
        small_model().save(path, metadata={"n": 1})
    assert not path.exists() and list(tmp_path.iterdir()) == []


def test_unregistered_layer_cannot_be_saved():
    from nnf.registry import REGISTRY

    model = small_model()
    REGISTRY.unregister(Affine.key)
    with pytest.raises(ConfigError, match="not registered"):
        model.to_bytes()


# ------------------------------------------------------------------------------- versions
def _repack(doc: dict) -> bytes:
    from nnf.io.encode import pack_chunks

    return b"".join(pack_chunks({k: v for k, v in doc.items() if k != "sha256"}))


def _doc(data_: bytes) -> dict:
    import msgpack

    return msgpack.unpackb(data_, raw=False)


def test_newer_format_version_asks_for_an_upgrade():
    doc = _doc(small_model().to_bytes())
    doc["format_version"] = spec.FORMAT_VERSION + 1
    doc["writer"]["nnf"] = "7.2.0"
    with pytest.raises(ModelFormatError, match=r"upgrade nnf to >= 7\.2\.0"):
        nnf.loads(_repack(doc))


def test_older_format_versions_migrate_through_the_chain(monkeypatch: pytest.MonkeyPatch):
    # Synthetic history: version 0 named the tensors map "weights"; version 1 had no
    # metadata; pretend this nnf writes version 2. Two registered steps upgrade a v0 file.
    model = small_model()
    doc = _doc(model.to_bytes())
    doc["format_version"] = 0
    doc["weights"] = doc.pop("tensors")
    del doc["metadata"]
    old = _repack(doc)
    with pytest.raises(ModelFormatError, match="version 0 is no longer supported"):
        nnf.loads(old)

    steps = []
    monkeypatch.setattr(spec, "MIGRATIONS", {})
    monkeypatch.setattr(spec, "FORMAT_VERSION", 2)

    @spec.register_migration(0)
    def rename(d):
        steps.append("rename")
        d["tensors"] = d.pop("weights")
        return d

    @spec.register_migration(1)
    def add_metadata(d):
        steps.append("metadata")
        d["metadata"] = {}
        return d

    again = nnf.loads(old)
    assert steps == ["rename", "metadata"]
    assert nnf.inspect(old)["format_version"] == 0  # inspect reports the version as written
    assert_bit_equal(all_arrays(model), all_arrays(again))


def test_a_failing_migration_is_a_format_error(monkeypatch: pytest.MonkeyPatch):
    doc = _doc(small_model().to_bytes())
    doc["format_version"] = 0
    monkeypatch.setattr(spec, "MIGRATIONS", {0: lambda d: d["no such key"]})
    with pytest.raises(ModelFormatError, match="cannot upgrade the file from format version 0"):
        nnf.loads(_repack(doc))


def test_a_subclass_that_inherits_its_parents_key_is_refused_at_save():
    import attrs
    from nnf.errors import ConfigError
    from nnf.layers import Dense

    @attrs.define(eq=False)
    class ScaledDense(Dense):
        def forward(self, x, training=False):
            return super().forward(x, training) * 10

    model = nnf.Sequential([ScaledDense(output_size=2)], input_shape=(3,)).build(seed=0)
    with pytest.raises(ConfigError, match="give ScaledDense its own key"):
        model.to_bytes()


def test_custom_loss_is_not_saved_and_custom_optimizer_is_refused():
    from nnf.errors import ConfigError
    from nnf.losses import MeanSquaredError
    from nnf.optimizers import SGD

    class Huber(MeanSquaredError):
        name = "huber"

    class MySGD(SGD):
        name = "mysgd"

    model = nnf.Sequential([nnf.layers.Dense(output_size=1)], input_shape=(2,))
    x, y = np.ones((4, 2)), np.ones((4, 1))
    model.fit(x, y, epochs=1, loss=Huber(), optimizer="sgd", verbose=0)
    again = nnf.loads(model.to_bytes())
    assert again.loss is None and again.training_state["epoch"] == 1
    model.fit(x, y, epochs=1, optimizer=MySGD(), verbose=0)
    with pytest.raises(ConfigError, match="include_optimizer=False"):
        model.to_bytes()
    assert nnf.loads(model.to_bytes(include_optimizer=False)).optimizer is None


def test_empty_tensor_with_a_huge_dimension_is_a_format_error():
    from nnf.io.tensors import decode_tensor

    with pytest.raises(ModelFormatError, match=r"below 2\*\*31"):
        decode_tensor({"dtype": "float32", "shape": [0, 2**63], "data": b""}, "dense_0.bias")
