"""The MPI backend (``nnf.parallel.mpi``): short trainings launched with ``mpiexec -n 2`` and
``-n 3`` (more ranks than this machine's cores: MPICH oversubscribes without a flag) in
subprocesses with timeouts. Skipped, with the reason, without ``pip install
'nnf-framework[mpi]'`` (the ``test`` extra installs it)."""

from __future__ import annotations

import itertools
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import nnf
import numpy as np
import pytest
from nnf.parallel.mpi import launched_rank, launched_size, shard_bounds
from toy_images import make_images

HERE = Path(__file__).parent
WORKER = HERE / "mpi" / "train_worker.py"
BIN = Path(sys.executable).parent
MPIEXEC = shutil.which("mpiexec", path=str(BIN)) or shutil.which("mpiexec")


def _has_mpi4py() -> bool:
    import importlib.util

    return importlib.util.find_spec("mpi4py") is not None


needs_mpi = pytest.mark.skipif(
    MPIEXEC is None or not _has_mpi4py(),
    reason="needs mpi4py and mpiexec: pip install 'nnf-framework[mpi]'",
)

SPEC = """
name = "tiny"
input_shape = [1, 8, 8]
layers = [
  { type = "Convolutional", kernel_size = 3, depth = 2, bias = "channel" },
  { type = "ReLU" },
  { type = "Flatten" },
  { type = "Dense", output_size = 3 },
  { type = "Softmax" },
]

[training]
epochs = 2
batch_size = 8
learning_rate = 0.01
validation_split = 0.25
seed = 3
"""


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("NNF_PARALLEL", "PMI_SIZE")}
    env.update(OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1", **extra)
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    return env


def mpirun(n: int, *args: str, timeout: float = 120, cwd: Path | None = None, **env: str):
    assert MPIEXEC is not None
    return subprocess.run(
        [MPIEXEC, "-n", str(n), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=_env(**env),
        cwd=cwd,
    )


def train(out: Path, n: int, *args: str, **env: str) -> list[dict[str, np.ndarray]]:
    """Train the worker's CNN on ``n`` ranks (0: one process, ``single``); each rank's final
    weights and epoch logs."""
    out.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, str(WORKER), str(out)]
    if n == 0:
        result = subprocess.run(
            [*cmd, "single", *args], capture_output=True, text=True, timeout=120, env=_env(**env)
        )
        n = 1
    else:
        result = mpirun(n, *cmd, "mpi", *args, **env)
    assert result.returncode == 0, result.stderr
    return [dict(np.load(out / f"rank{r}.npz")) for r in range(n)]


# ------------------------------------------------------------------ without MPI running


@pytest.mark.parametrize("n", [1, 2, 3, 7, 31, 32, 33])
@pytest.mark.parametrize("ranks", [1, 2, 3, 8])
def test_shards_are_disjoint_cover_the_batch_and_differ_by_at_most_one(n, ranks):
    bounds = [shard_bounds(n, r, ranks) for r in range(ranks)]
    assert bounds[0][0] == 0 and bounds[-1][1] == n
    assert all(a[1] == b[0] for a, b in itertools.pairwise(bounds))
    sizes = [b - a for a, b in bounds]
    assert max(sizes) - min(sizes) <= 1 and min(sizes) >= 0


def test_the_launcher_environment_gives_size_and_rank(monkeypatch):
    for name in ("PMI_SIZE", "PMI_RANK", "OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_RANK"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("PMIX_SIZE", raising=False)
    monkeypatch.delenv("PMIX_RANK", raising=False)
    assert (launched_size(), launched_rank()) == (1, 0)
    monkeypatch.setenv("OMPI_COMM_WORLD_SIZE", "4")
    monkeypatch.setenv("OMPI_COMM_WORLD_RANK", "3")
    assert (launched_size(), launched_rank()) == (4, 3)


def test_the_nnf_command_gives_each_rank_its_share_of_the_cpus(monkeypatch):
    from nnf.parallel import launcher

    env = {"PMI_SIZE": "6", "MPI_LOCALNRANKS": "3"}  # 3 of 6 ranks on this 8-CPU machine
    monkeypatch.setattr(os, "environ", env)  # share_threads changes the environment
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(8)), raising=False)
    launcher.share_threads()
    assert env["NNF_NUM_THREADS"] == "2"
    env["NNF_NUM_THREADS"] = "5"  # the user's choice stays
    launcher.share_threads()
    assert env["NNF_NUM_THREADS"] == "5"
    del env["NNF_NUM_THREADS"]
    env["MPI_LOCALNRANKS"] = "1"  # alone on its machine: nnf's default
    launcher.share_threads()
    assert "NNF_NUM_THREADS" not in env


@needs_mpi
def test_mpiexec_tells_each_rank_how_many_ranks_share_its_machine(tmp_path):
    # one file per rank: the launcher may interleave the ranks' stdout mid-line ("33")
    code = (
        "import os, sys; from nnf.parallel import launcher\n"
        "path = os.path.join(sys.argv[1], str(launcher.launched_rank()))\n"
        "open(path, 'w').write(str(launcher.launched_local_size()))\n"
    )
    result = mpirun(3, sys.executable, "-c", code, str(tmp_path), timeout=60)
    assert result.returncode == 0, result.stderr
    assert {p.name: p.read_text() for p in tmp_path.iterdir()} == {"0": "3", "1": "3", "2": "3"}


def test_help_is_fast_and_imports_no_mpi():
    code = (
        "import sys, time\n"
        "t = time.perf_counter()\n"
        "from nnf.cli import main\n"
        "try:\n"
        "    main(['--help'])\n"
        "except SystemExit:\n"
        "    pass\n"
        "t = time.perf_counter() - t\n"
        "bad = [m for m in sys.modules if m.startswith('mpi4py')]\n"
        "print(t, bad, file=sys.stderr)\n"
        "sys.exit(1 if bad else 0)\n"
    )
    times = []
    for _ in range(3):  # the best of three: the machine may be busy
        result = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, timeout=60
        )
        assert result.returncode == 0, result.stderr  # no mpi4py module imported
        times.append(float(result.stderr.split()[0]))
    assert min(times) < 0.3, f"nnf --help took {min(times):.2f}s"


def test_without_mpi4py_the_mpi_option_names_the_install_command(tmp_path):
    code = (
        "import sys\n"
        "sys.modules['mpi4py'] = None  # as if the mpi extra were not installed\n"
        "import numpy as np, nnf\n"
        "from nnf.layers import Dense, Softmax\n"
        "m = nnf.Sequential([Dense(output_size=2), Softmax()], input_shape=(3,))\n"
        "try:\n"
        "    m.fit(np.zeros((4, 3)), [0, 1, 0, 1], verbose=0, parallel='mpi')\n"
        "except nnf.errors.ConfigError as e:\n"
        "    print(e)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60
    )
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 1 and "pip install 'nnf-framework[mpi]'" in lines[0], result


def test_nnf_train_without_mpi4py_under_a_launcher_is_a_one_line_error(tmp_path):
    (tmp_path / "tiny.toml").write_text(SPEC)
    _tiny_data(tmp_path)
    code = (
        "import sys\n"
        "sys.modules['mpi4py'] = None\n"
        "from nnf.cli import main\n"
        "main(['train', 'tiny.toml', '--data', 'tiny.npz', '-o', 'run', '-q'])\n"
    )
    env = _env(PMI_SIZE="2", PMI_RANK="0")
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        cwd=tmp_path,
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "rank 0 of 2" in lines[0] and "nnf-framework[mpi]" in lines[0]


class FakeJob:
    """Two ranks seen from rank 0 (``nnf.parallel.mpi_job.Job``'s collectives), for the
    checks that need no MPI: the other rank's gradients equal this one's, and its weight
    checksum is ``other_crc(own)``."""

    rank, ranks = 0, 2

    def __init__(self, other_crc=lambda crc: crc) -> None:
        self.other_crc = other_crc

    def allreduce(self, send, recv) -> None:
        recv[...] = send + send

    def bcast(self, buffer, root: int = 0) -> None:
        pass

    def allgather(self, value):
        return [value, self.other_crc(value)]


def _small_model() -> nnf.Sequential:
    from nnf.layers import Dense, Softmax

    return nnf.Sequential([Dense(output_size=3), Softmax()], input_shape=(4,)).build(seed=1)


def test_one_fused_sum_gives_every_gradient_and_the_loss():
    from nnf.parallel.mpi import MPIRuntime

    model = _small_model()
    runner = MPIRuntime(model.layers, FakeJob())
    for layer in model.layers:
        for grad in layer.grads.values():
            grad[...] = np.arange(grad.size).reshape(grad.shape)
    assert runner.sum_gradients(1.5) == 3.0
    for layer in model.layers:
        for grad in layer.grads.values():
            np.testing.assert_array_equal(grad, 2 * np.arange(grad.size).reshape(grad.shape))


def test_weights_that_differ_between_ranks_stop_training_with_the_ranks_named():
    from nnf.errors import TrainingError
    from nnf.parallel.mpi import MPIRuntime

    model = _small_model()
    MPIRuntime(model.layers, FakeJob()).end_epoch(0)  # equal: nothing happens
    runner = MPIRuntime(model.layers, FakeJob(lambda crc: crc + 1))
    with pytest.raises(TrainingError, match=r"ranks \[1\] differ from rank 0's after epoch 3"):
        runner.end_epoch(2)


# ---------------------------------------------------------------- library: fit(parallel="mpi")


@needs_mpi
@pytest.mark.parametrize("n", [2, 3])
def test_ranks_end_equal_and_agree_with_one_process(tmp_path, n):
    single = train(tmp_path / "single", 0, "--val")[0]
    ranks = train(tmp_path / "mpi", n, "--val")
    for key in single:
        for r in range(1, n):
            np.testing.assert_array_equal(ranks[r][key], ranks[0][key], err_msg=key)
        np.testing.assert_allclose(ranks[0][key], single[key], rtol=1e-5, atol=1e-12)
    assert abs(float(ranks[0]["val"]) - float(single["val"])) < 1e-9


@needs_mpi
def test_each_rank_splits_its_shard_over_its_threads_and_still_agrees(tmp_path):
    # NNF_NUM_THREADS=2: two threads per rank. 160 training samples in batches of 64, 64, 32
    # on 2 ranks: shards of 32, 32, 16; those of 32 split in two parts of 16 (the smallest
    # part nnf.parallel.host allows this model).
    args = ("--batch", "64", "--val", "--samples", "200")
    single = train(tmp_path / "single", 0, *args)[0]
    ranks = train(tmp_path / "mpi", 2, *args, NNF_NUM_THREADS="2")
    for got in ranks:
        assert got["split_steps"] == 2
    for key in single:
        if key in ("split_steps",):
            continue
        np.testing.assert_array_equal(ranks[1][key], ranks[0][key], err_msg=key)
        np.testing.assert_allclose(ranks[0][key], single[key], rtol=1e-5, atol=1e-12)
    # Without NNF_NUM_THREADS, 2 ranks on this 2-CPU machine have no threads to spare.
    if (os.cpu_count() or 1) <= 2:
        plain = train(tmp_path / "plain", 2, *args)
        assert [int(r["split_steps"]) for r in plain] == [0, 0]


@needs_mpi
def test_a_last_batch_smaller_than_the_ranks_leaves_a_rank_empty(tmp_path):
    # 97 samples in batches of 32: the last batch has one sample, ranks 1 and 2 none.
    single = train(tmp_path / "single", 0, "--samples", "97")[0]
    ranks = train(tmp_path / "mpi", 3, "--samples", "97")
    for key in single:
        np.testing.assert_array_equal(ranks[2][key], ranks[0][key])
        np.testing.assert_allclose(ranks[0][key], single[key], rtol=1e-5, atol=1e-12)


@needs_mpi
def test_batchnorm_statistics_are_per_rank_and_its_running_averages_averaged(tmp_path):
    single = train(tmp_path / "single", 0, "--batchnorm", "--val")[0]
    ranks = train(tmp_path / "mpi", 2, "--batchnorm", "--val")
    assert "1.running_mean" in ranks[0]
    for key in ranks[0]:
        np.testing.assert_array_equal(ranks[1][key], ranks[0][key], err_msg=key)
    # Per-rank batch statistics: not the one-process model (unlike every other test here).
    assert not np.allclose(ranks[0]["0.kernels"], single["0.kernels"], rtol=1e-5, atol=1e-12)


@needs_mpi
def test_two_runs_on_three_ranks_are_bit_identical(tmp_path):
    a = train(tmp_path / "a", 3)[0]
    b = train(tmp_path / "b", 3)[0]
    for key in a:
        np.testing.assert_array_equal(a[key], b[key])


@needs_mpi
def test_a_rank_raising_ends_the_job_under_python_m_mpi4py(tmp_path):
    started = time.monotonic()
    args = ("-m", "mpi4py", str(WORKER), str(tmp_path), "mpi", "--batch", "16", "--fail-rank", "1")
    result = mpirun(2, sys.executable, *args, timeout=60)
    assert time.monotonic() - started < 10
    assert result.returncode != 0
    assert "deliberate failure on rank 1" in result.stderr


@needs_mpi
def test_a_rank_killed_mid_epoch_ends_the_job(tmp_path):
    started = time.monotonic()
    args = (str(WORKER), str(tmp_path), "mpi", "--batch", "16", "--kill-rank", "1")
    result = mpirun(3, sys.executable, *args, timeout=60)
    assert time.monotonic() - started < 10
    assert result.returncode != 0
    assert "signal 9" in result.stdout + result.stderr  # the launcher names the cause


SCORER = HERE / "mpi" / "score_worker.py"


def score(out: Path, n: int, *args: str) -> list[dict[str, np.ndarray]]:
    """``predict`` and ``evaluate`` of the score worker's CNN on ``n`` ranks (0: one
    process); each rank's results."""
    out.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, str(SCORER), str(out)]
    if n == 0:
        result = subprocess.run(
            [*cmd, "single", *args], capture_output=True, text=True, timeout=120, env=_env()
        )
        n = 1
    else:
        result = mpirun(n, *cmd, "mpi", *args)
    assert result.returncode == 0, result.stderr
    return [dict(np.load(out / f"rank{r}.npz")) for r in range(n)]


@needs_mpi
@pytest.mark.parametrize(("n", "samples"), [(2, 7), (3, 7), (3, 2)])
def test_predict_and_evaluate_shard_and_give_every_rank_the_one_process_result(
    tmp_path, n, samples
):
    # 7 samples: shards of 4+3 and 3+2+2; 2 samples on 3 ranks: rank 2's shard is empty.
    single = score(tmp_path / "single", 0, str(samples))[0]
    ranks = score(tmp_path / "mpi", n, str(samples))
    for r, got in enumerate(ranks):
        lo, hi = shard_bounds(samples, r, n)
        assert got["computed"] == 2 * (hi - lo)  # predict, then evaluate: its shard each time
        assert got["pred"].shape == single["pred"].shape == (samples, 3)
        np.testing.assert_allclose(got["pred"], single["pred"], rtol=1e-12, atol=1e-15)
        for key in ("loss", "accuracy"):
            assert got[key] == ranks[0][key], key  # the same metrics on every rank
            assert abs(got[key] - single[key]) < 1e-12, key
    assert single["computed"] == 2 * samples


@needs_mpi
def test_predict_with_an_unbuilt_model_gives_every_rank_rank_0s_weights(tmp_path):
    ranks = score(tmp_path, 3, "5", "--unbuilt")
    for got in ranks[1:]:
        np.testing.assert_array_equal(got["kernels"], ranks[0]["kernels"])
        np.testing.assert_array_equal(got["pred"], ranks[0]["pred"])


def _failed_job(tmp_path: Path, n: int, worker: Path, *args: str):
    """Run ``worker`` on ``n`` ranks as a plain script (no ``python -m mpi4py``): the
    completed process and its wall time."""
    started = time.monotonic()
    result = mpirun(n, sys.executable, str(worker), str(tmp_path), *args, timeout=60)
    return result, time.monotonic() - started


def _notices(tmp_path: Path, n: int, failing: int) -> list[list[str]]:
    """What the ranks other than ``failing`` caught: [rank attribute, message] each."""
    return [
        (tmp_path / f"failed{r}.txt").read_text().splitlines() for r in range(n) if r != failing
    ]


@needs_mpi
@pytest.mark.parametrize("n", [2, 3])
def test_a_callback_raising_on_one_rank_of_a_plain_script_ends_every_rank(tmp_path, n):
    result, seconds = _failed_job(tmp_path, n, WORKER, "mpi", "--batch", "16", "--fail-rank", "1")
    assert seconds < 10
    assert result.returncode != 0
    want = f"rank 1 of {n} failed: RuntimeError: deliberate failure on rank 1"
    assert _notices(tmp_path, n, 1) == [["1", want]] * (n - 1)
    assert f"RankFailedError: {want}" in result.stderr
    assert "RuntimeError: deliberate failure on rank 1" in result.stderr  # rank 1's own


@needs_mpi
def test_bad_data_on_one_rank_of_a_plain_script_ends_every_rank(tmp_path):
    # Rank 1 fails before training starts (its samples do not fit the model).
    result, seconds = _failed_job(tmp_path, 3, WORKER, "mpi", "--bad-data-rank", "1")
    assert seconds < 10
    assert result.returncode != 0
    for rank, message in _notices(tmp_path, 3, 1):
        assert rank == "1" and message.startswith(
            "rank 1 of 3 failed: the model takes samples shaped"
        )


@needs_mpi
def test_bad_data_on_one_rank_of_a_sharded_predict_ends_every_rank(tmp_path):
    result, seconds = _failed_job(tmp_path, 3, SCORER, "mpi", "9", "--bad-rank", "2")
    assert seconds < 10
    assert result.returncode != 0
    for rank, message in _notices(tmp_path, 3, 2):
        assert rank == "2" and message.startswith(
            "rank 2 of 3 failed: the model takes samples shaped"
        )


# ----------------------------------------------------------------------- nnf train under mpiexec


def _tiny_data(where: Path) -> None:
    x, y = make_images(96, np.random.default_rng(0))
    np.savez(where / "tiny.npz", x_train=x[:72], y_train=y[:72], x_test=x[72:], y_test=y[72:])


@pytest.fixture
def work(tmp_path: Path) -> Path:
    (tmp_path / "tiny.toml").write_text(SPEC)
    _tiny_data(tmp_path)
    return tmp_path


NNF = [sys.executable, "-c", "from nnf.cli import main; main()"]


@needs_mpi
def test_nnf_train_on_two_ranks_writes_from_rank_0_alone(work):
    # Each rank in its own working folder: only rank 0's gets the run's files.
    (work / "r0").mkdir()
    (work / "r1").mkdir()
    args = ["train", str(work / "tiny.toml"), "--data", str(work / "tiny.npz"), "-o", "run"]
    assert MPIEXEC is not None
    result = subprocess.run(
        [
            MPIEXEC,
            "-n",
            "1",
            "-wdir",
            str(work / "r0"),
            *NNF,
            *args,
            ":",
            "-n",
            "1",
            "-wdir",
            str(work / "r1"),
            *NNF,
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env=_env(),
    )
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in (work / "r0" / "run").iterdir()) == [
        "best.nnf",
        "config.json",
        "last.nnf",
        "metrics.jsonl",
    ]
    assert list((work / "r1").iterdir()) == []
    assert result.stdout.splitlines().count("model written to run/last.nnf") == 1
    out = result.stdout + result.stderr
    assert out.count("training tiny") == 1 and out.count("epoch 2/2") == 1  # rank 0 reports


@needs_mpi
def test_nnf_train_resumes_under_mpi_to_the_uninterrupted_run(work):
    base = ["train", "tiny.toml", "--data", "tiny.npz", "-q"]
    assert mpirun(2, *NNF, *base, "-o", "full", "--epochs", "2", cwd=work).returncode == 0
    assert mpirun(2, *NNF, *base, "-o", "half", "--epochs", "1", cwd=work).returncode == 0
    shutil.copytree(work / "half", work / "half3")
    result = mpirun(2, *NNF, "train", "--resume", "half", "--epochs", "1", "-q", cwd=work)
    assert result.returncode == 0, result.stderr
    full, half = nnf.load(work / "full" / "last.nnf"), nnf.load(work / "half" / "last.nnf")
    assert half.training_state["epoch"] == 2
    for a, b in zip(full.layers, half.layers, strict=True):
        for k in a.params:
            np.testing.assert_array_equal(a.params[k], b.params[k])
    # On another number of ranks: the same global batches, so only the sum order differs.
    result = mpirun(3, *NNF, "train", "--resume", "half3", "--epochs", "1", "-q", cwd=work)
    assert result.returncode == 0, result.stderr
    half3 = nnf.load(work / "half3" / "last.nnf")
    for a, b in zip(full.layers, half3.layers, strict=True):
        for k in a.params:
            np.testing.assert_allclose(a.params[k], b.params[k], rtol=1e-5, atol=1e-7)


@needs_mpi
@pytest.mark.parametrize("failing", [0, 1, 2])
def test_a_rank_failing_before_training_ends_the_job_with_one_line_naming_it(work, failing):
    # The failing rank cannot read its data: it tells the others, waiting for the job to
    # begin (or still loading theirs), on COMM_WORLD; no MPI_Abort.
    good = ["train", "tiny.toml", "--data", "tiny.npz", "-o", "run", "-q"]
    bad = ["train", "tiny.toml", "--data", "missing.npz", "-o", "run", "-q"]
    ranks = [[*NNF, *(bad if r == failing else good)] for r in range(3)]
    assert MPIEXEC is not None
    started = time.monotonic()
    result = subprocess.run(
        [MPIEXEC, "-n", "1", *ranks[0], ":", "-n", "1", *ranks[1], ":", "-n", "1", *ranks[2]],
        capture_output=True,
        text=True,
        timeout=60,
        env=_env(),
        cwd=work,
    )
    assert time.monotonic() - started < 10
    assert result.returncode == 1  # as in one process: an unknown dataset
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"nnf: rank {failing} of 3: error:"), lines
    assert "missing.npz" in lines[0]


FAILING_NNF = [
    sys.executable,
    "-c",
    "import nnf.errors, nnf.training\n"
    "def fail(*args, **kwargs):\n"
    "    raise nnf.errors.ConfigError('deliberate failure in training')\n"
    "nnf.training._running_metric = fail  # in the first step of the first epoch\n"
    "from nnf.cli import main; main()",
]


@needs_mpi
@pytest.mark.parametrize("n", [2, 3])
def test_a_rank_failing_during_nnf_train_ends_the_job_with_its_exit_code_and_one_line(work, n):
    args = ["train", "tiny.toml", "--data", "tiny.npz", "-o", "run", "-q"]
    others = [":", "-n", str(n - 2), *NNF, *args] if n > 2 else []
    assert MPIEXEC is not None
    started = time.monotonic()
    result = subprocess.run(
        [MPIEXEC, "-n", "1", *NNF, *args, ":", "-n", "1", *FAILING_NNF, *args, *others],
        capture_output=True,
        text=True,
        timeout=60,
        env=_env(),
        cwd=work,
    )
    assert time.monotonic() - started < 10
    # Exit 2, as a usage error in one process: the other ranks exit as the failing one does
    # (mpiexec ORs the ranks' codes), with no MPI_Abort banner.
    assert result.returncode == 2, result.stderr
    assert result.stderr.splitlines() == [
        f"nnf: rank 1 of {n}: error: deliberate failure in training"
    ]


def _long_training(work: Path, ranks: int) -> subprocess.Popen[str]:
    """``mpiexec -n ranks nnf train`` of many epochs in ``work``, returned once its second
    epoch has been logged (mid-training: a checkpoint exists)."""
    assert MPIEXEC is not None
    args = ["train", "tiny.toml", "--data", "tiny.npz", "-o", "run", "-q", "--epochs", "100000"]
    proc = subprocess.Popen(
        [MPIEXEC, "-n", str(ranks), *NNF, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(),
        cwd=work,
    )
    rows = work / "run" / "metrics.jsonl"
    deadline = time.monotonic() + 60
    while not (rows.exists() and rows.read_text().count("\n") >= 2):
        if time.monotonic() > deadline or proc.poll() is not None:
            proc.kill()
            raise AssertionError(f"no second epoch logged: {proc.communicate()[1]}")
        time.sleep(0.05)
    return proc


@needs_mpi
def test_ctrl_c_to_mpiexec_ends_every_rank_with_130_and_keeps_the_checkpoint(work):
    proc = _long_training(work, 2)
    try:
        proc.send_signal(signal.SIGINT)
        started = time.monotonic()
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert time.monotonic() - started < 10
    assert proc.returncode == 130, err
    assert nnf.load(work / "run" / "last.nnf").training_state["epoch"] >= 2


@needs_mpi
def test_sigterm_to_mpiexec_stops_every_rank_with_143_and_one_line(work):
    # What a scheduler's time limit or `kill PID_OF_MPIEXEC` does: mpiexec forwards SIGTERM
    # to every rank; nnf stops as on Ctrl-C, instead of dying under the launcher's banner.
    proc = _long_training(work, 3)
    try:
        proc.send_signal(signal.SIGTERM)
        started = time.monotonic()
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert time.monotonic() - started < 10
    assert proc.returncode == 143, err
    lines = err.splitlines()
    assert len(lines) == 1 and "BAD TERMINATION" not in out + err, err
    assert lines[0].startswith("nnf: rank 0 of 3: terminated (SIGTERM); the model after epoch ")
    assert lines[0].endswith("(continue with: nnf train --resume run)")
    assert nnf.load(work / "run" / "last.nnf").training_state["epoch"] >= 2


def _rank_pid(work: Path, rank: int) -> int | None:
    """The process id of MPI rank ``rank`` running in folder ``work`` (Linux /proc)."""
    for proc in Path("/proc").iterdir():
        try:
            if not proc.name.isdigit() or proc.joinpath("cwd").resolve() != work.resolve():
                continue
            environ = proc.joinpath("environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if f"PMI_RANK={rank}".encode() in environ and b"PMI_SIZE=3" in environ:
            return int(proc.name)
    return None


@needs_mpi
@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="finds ranks in /proc")
def test_a_rank_of_nnf_train_killed_ends_the_job_within_10_s_and_keeps_the_checkpoint(work):
    # MPICH's launcher SIGKILLs the other ranks at once (they cannot say anything) and prints
    # its banner: exit code 9, "Killed (signal 9)".
    proc = _long_training(work, 3)
    try:
        pid = _rank_pid(work, 1)
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        started = time.monotonic()
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert time.monotonic() - started < 10
    assert proc.returncode == 9, err  # MPICH: the signal that ended a rank
    assert "Killed (signal 9)" in out + err
    assert nnf.load(work / "run" / "last.nnf").training_state["epoch"] >= 2  # written whole


def _scored_model(work: Path) -> Path:
    """A built (untrained) CNN for the toy images, saved as ``model.nnf``."""
    from nnf.layers import Convolutional, Dense, Flatten, ReLU, Softmax

    layers = [Convolutional(kernel_size=3, depth=2), ReLU(), Flatten(), Dense(output_size=3)]
    model = nnf.Sequential([*layers, Softmax()], input_shape=(1, 8, 8)).build(seed=4)
    model.save(work / "model.nnf")
    return work / "model.nnf"


@needs_mpi
@pytest.mark.parametrize("n", [2, 3])
def test_nnf_evaluate_and_predict_under_mpiexec_print_the_one_process_result_once(work, n):
    import json

    _scored_model(work)
    x, _ = make_images(5, np.random.default_rng(1))  # 5 samples: shards of 3+2 or 2+2+1
    np.save(work / "five.npy", x)
    commands = [
        ["evaluate", "model.nnf", "--data", "tiny.npz", "--json", "--batch-size", "5"],
        ["predict", "model.nnf", "five.npy", "--json", "--top", "2"],
    ]
    for args in commands:
        one = subprocess.run(
            [*NNF, *args], capture_output=True, text=True, timeout=60, env=_env(), cwd=work
        )
        assert one.returncode == 0, one.stderr
        result = mpirun(n, *NNF, *args, cwd=work)
        assert result.returncode == 0, result.stderr
        expected, got = json.loads(one.stdout), json.loads(result.stdout)  # one document
        _assert_close(got, expected)
        assert result.stderr == ""  # and nothing else from any rank


def _assert_close(got, expected, where="") -> None:
    """Equal JSON documents; numbers to float32 rounding (a float32 model: a sample's
    output may differ in its last bits with the samples batched beside it)."""
    if isinstance(expected, dict):
        assert got.keys() == expected.keys(), where
        for key in expected:
            _assert_close(got[key], expected[key], f"{where}.{key}")
    elif isinstance(expected, list):
        assert len(got) == len(expected), where
        for i, (a, b) in enumerate(zip(got, expected, strict=True)):
            _assert_close(a, b, f"{where}[{i}]")
    elif isinstance(expected, float):
        assert got == pytest.approx(expected, rel=1e-5, abs=1e-7), where
    else:
        assert got == expected, where


def test_nnf_evaluate_and_predict_in_one_process_import_no_mpi(work):
    _scored_model(work)
    np.save(work / "two.npy", make_images(2, np.random.default_rng(1))[0])
    code = (
        "import sys\n"
        "from nnf.cli import main\n"
        "for args in (['evaluate', 'model.nnf', '--data', 'tiny.npz', '-q'],\n"
        "             ['predict', 'model.nnf', 'two.npy', '-q']):\n"
        "    try:\n"
        "        main(args)\n"
        "    except SystemExit as exit:\n"
        "        assert not exit.code, exit.code\n"
        "print([m for m in sys.modules if m.startswith('mpi4py')])\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=work
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == "[]"


@needs_mpi
def test_a_hostfile_on_localhost_runs_the_documented_command(work):
    # docs/parallel.md's hostfile example, with this machine as the only host (MPICH's Hydra
    # format): the same run as plain mpiexec -n 2, bit for bit.
    (work / "hosts.txt").write_text("localhost:2\n")
    args = ["train", "tiny.toml", "--data", "tiny.npz", "-q"]
    result = mpirun(2, *NNF, *args, "-o", "plain", cwd=work)
    assert result.returncode == 0, result.stderr
    assert MPIEXEC is not None
    result = subprocess.run(
        [MPIEXEC, "-f", "hosts.txt", "-n", "2", *NNF, *args, "-o", "hosts"],
        capture_output=True,
        text=True,
        timeout=120,
        env=_env(),
        cwd=work,
    )
    assert result.returncode == 0, result.stderr
    plain, hosts = nnf.load(work / "plain" / "last.nnf"), nnf.load(work / "hosts" / "last.nnf")
    for a, b in zip(plain.layers, hosts.layers, strict=True):
        for k in a.params:
            np.testing.assert_array_equal(a.params[k], b.params[k])
