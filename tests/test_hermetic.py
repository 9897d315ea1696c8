"""The suite passes whatever the developer's shell holds: NNF_* settings that switch plugins
and parallelism off, one CPU, another working directory. Re-runs the tests most exposed to
them (registry, plugins in model files, threads and worker processes, the command end to end)
in a subprocess under all three at once."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
SUBSET = ["test_registry.py", "test_io_plugins.py", "test_threads.py", "test_cli_e2e.py"]
HOSTILE = {"NNF_DISABLE_PLUGIN_AUTOLOAD": "1", "NNF_PARALLEL": "threads", "NNF_NUM_THREADS": "1"}
ONE_CPU = (
    "import os, sys, pytest\n"
    "os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # as under `taskset -c 0`\n"
    "sys.exit(pytest.main(sys.argv[1:]))\n"
)


@pytest.mark.slow  # a second run of four test files: about 30 s
@pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="needs os.sched_setaffinity")
def test_the_exposed_tests_pass_with_nnf_settings_on_one_cpu_elsewhere(tmp_path: Path):
    args = ["-q", "-p", "no:cacheprovider", *(str(TESTS / name) for name in SUBSET)]
    out = subprocess.run(
        [sys.executable, "-c", ONE_CPU, *args],
        cwd=tmp_path,  # not the checkout: paths in tests must not depend on it
        env={**os.environ, **HOSTILE},
        capture_output=True,
        text=True,
        timeout=900,
    )
    summary = out.stdout.strip().splitlines()[-1] if out.stdout.strip() else ""
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-2000:]
    assert " passed" in summary and "failed" not in summary and "error" not in summary, summary
