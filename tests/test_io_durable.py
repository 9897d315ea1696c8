"""Saving is atomic: a process killed at any moment of a save leaves a loadable file, and a
failed save leaves the old file and no temporary file behind."""

from __future__ import annotations

import os
import random
import signal
import stat
import time
from pathlib import Path

import nnf
import numpy as np
import pytest
from nnf.io import durable
from nnf_io_helpers import Affine, registered, small_model

KILLS = 40


@pytest.fixture(autouse=True)
def _test_layers():
    with registered():
        yield


def big_model() -> nnf.Sequential:
    """About 8 MB of float64 weights, so a save takes long enough to be interrupted."""
    return nnf.Sequential([Affine(units=1000)], input_shape=(1000,), dtype="float64").build(seed=0)


def fill(model: nnf.Sequential, value: float) -> None:
    for layer in model.layers:
        for array in layer.params.values():
            array.fill(value)


def temp_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.name.endswith(durable.TEMP_SUFFIX))


def saver(model: nnf.Sequential, target: Path) -> None:
    """Child process: save versions 1, 2, 3, ... over ``target`` until killed."""
    try:
        version = 1
        while True:
            fill(model, float(version))
            model.save(target)
            version += 1
    finally:
        os._exit(1)


def test_sigkill_during_save_always_leaves_a_loadable_file(tmp_path: Path):
    target = tmp_path / "model.nnf"
    model = big_model()
    fill(model, 0.0)  # version 0 is a constant too: a kill before any new save loads it
    model.save(target)
    rng = random.Random(1234)
    seen, torn_saves = set(), 0
    deadline = time.monotonic() + 60
    for _ in range(KILLS):
        assert time.monotonic() < deadline, "the kill test ran out of time"
        pid = os.fork()
        if pid == 0:
            saver(model, target)
        time.sleep(rng.uniform(0.0, 0.3))
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)

        loaded = nnf.load(target)  # never raises: the old file or a complete new one
        values = np.unique(loaded.layers[0].params["weights"])
        assert values.size == 1, "a mix of two saves"
        assert np.all(loaded.layers[0].params["bias"] == values[0])
        seen.add(float(values[0]))
        leftovers = temp_files(tmp_path)
        torn_saves += bool(leftovers)
        for p in leftovers:  # what SIGKILL leaves behind; never the target itself
            p.unlink()
    assert torn_saves > 0, "no kill landed in the middle of a save"
    assert len(seen) > 1, "no save ever completed"


def test_failed_save_keeps_the_old_file_and_removes_its_temp_file(tmp_path: Path, monkeypatch):
    target = tmp_path / "model.nnf"
    small_model(seed=1).save(target)
    before = target.read_bytes()

    def broken_fsync(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(durable.os, "fsync", broken_fsync)
    with pytest.raises(OSError, match="No space left"):
        small_model(seed=2).save(target)
    monkeypatch.undo()
    assert target.read_bytes() == before
    assert temp_files(tmp_path) == []


def test_interrupt_while_writing_removes_the_temp_file(tmp_path: Path):
    target = tmp_path / "model.nnf"
    target.write_bytes(b"old")

    def chunks():
        yield b"x" * 1000
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        durable.atomic_write(target, chunks())
    assert target.read_bytes() == b"old"
    assert temp_files(tmp_path) == []


def test_file_modes(tmp_path: Path):
    target = tmp_path / "model.nnf"
    old_mask = os.umask(0o027)
    try:
        small_model().save(target)
    finally:
        os.umask(old_mask)
    assert stat.S_IMODE(target.stat().st_mode) == 0o640
    target.chmod(0o604)
    small_model().save(target)
    assert stat.S_IMODE(target.stat().st_mode) == 0o604  # an existing file keeps its mode


def test_save_into_a_missing_folder_fails_cleanly(tmp_path: Path):
    from nnf.errors import ConfigError

    with pytest.raises(ConfigError, match="does not exist"):
        small_model().save(tmp_path / "no" / "such" / "model.nnf")
    assert list(tmp_path.iterdir()) == []
    assert Affine  # the layer module stays importable for the forked savers


def test_saving_to_a_folder_names_the_target(tmp_path):
    import nnf
    from nnf.errors import ConfigError

    model = nnf.Sequential([nnf.layers.Dense(output_size=1)], input_shape=(2,)).build(seed=0)
    with pytest.raises(ConfigError, match="it is a folder"):
        model.save(tmp_path)
    assert list(tmp_path.iterdir()) == []
