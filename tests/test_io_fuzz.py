"""Fuzzing the loader: every mutated file loads correctly or raises ModelFormatError, and
memory stays bounded. ``NNF_FUZZ_CASES=100000`` runs a long campaign (default 2,000)."""

from __future__ import annotations

import os
import random
import resource
import tracemalloc

import nnf
from nnf.errors import ModelFormatError
from nnf_io_fuzz import Mutator, run, seed_files
from nnf_io_helpers import registered

CASES = int(os.environ.get("NNF_FUZZ_CASES", "2000"))


def test_every_mutation_loads_or_raises_model_format_error():
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    result = run(CASES, seed=0)
    grown_mib = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert result["failures"] == [], "\n".join(result["failures"][:10])
    outcomes = result["outcomes"]
    assert outcomes["loaded"] + outcomes["refused"] == CASES
    assert outcomes["loaded"] > 0 and outcomes["refused"] > 0
    # Both halves of the mutator reached the loader with a valid checksum.
    assert outcomes.get("struct:refused", 0) > 0 and outcomes.get("bytes-huge+fix:refused", 0) > 0
    # The rule edges (docs/format.md, section 4) were both accepted and refused.
    for target in ("name", "key", "array"):
        assert outcomes.get(f"rules-{target}:refused", 0) > 0, target
    assert outcomes.get("rules-name:loaded", 0) + outcomes.get("rules-array:loaded", 0) > 0
    assert grown_mib < 200, f"peak memory grew by {grown_mib:.0f} MiB during the fuzz run"


def test_peak_allocation_per_case_is_bounded():
    with registered():
        seeds = seed_files()
        largest = max(len(s) for s in seeds)
        worst = 0
        tracemalloc.start()
        try:
            for i in range(300):
                _, data = Mutator(random.Random(f"mem-{i}")).case(seeds)
                tracemalloc.reset_peak()
                base = tracemalloc.get_traced_memory()[0]
                try:
                    nnf.loads(data)
                except ModelFormatError:
                    pass
                worst = max(worst, tracemalloc.get_traced_memory()[1] - base)
        finally:
            tracemalloc.stop()
    # Files are a few KiB; whatever they declare, a load allocates at most a few MiB.
    assert worst < 8 * 1024 * 1024, f"one case allocated {worst:,} bytes (files <= {largest:,})"
