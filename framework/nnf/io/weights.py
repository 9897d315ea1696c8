"""Parameters only: ``load_weights`` from a ``.nnf`` or ``.npz`` file, and ``export_npz``.

Arrays are matched by path, ``layer_name.param`` (state arrays too). Strict loading changes
nothing unless every array matches; ``strict=False`` copies what matches and reports the rest.
"""

from __future__ import annotations

import io
import os
import zipfile
from typing import TYPE_CHECKING, Any, Literal

import attrs
import numpy as np

from ..errors import ModelFormatError
from .decode import decode
from .durable import atomic_write, read_limited
from .rebuild import compare
from .spec import DTYPES, MAX_CONTAINER_LEN, size_limit

if TYPE_CHECKING:
    from ..model import Sequential

ZIP_MAGIC = b"PK\x03\x04"
MAX_NPY_HEADER = 10_000


@attrs.define
class WeightsReport:
    """What ``load_weights`` did: paths loaded, and every path it could not load."""

    loaded: list[str] = attrs.Factory(list)
    missing: list[str] = attrs.Factory(list)  # in the model, not in the file
    unexpected: list[str] = attrs.Factory(list)  # in the file, not in the model
    mismatched: list[str] = attrs.Factory(list)  # "path: why"

    @property
    def ok(self) -> bool:
        return not (self.missing or self.unexpected or self.mismatched)

    def problems(self) -> list[str]:
        return (
            [f"{p}: missing from the file" for p in self.missing]
            + [f"{p}: in the file but not in the model" for p in self.unexpected]
            + list(self.mismatched)
        )

    def __str__(self) -> str:
        return f"loaded {len(self.loaded)} arrays" + "".join(f"; {p}" for p in self.problems())


def model_arrays(model: Sequential) -> dict[str, np.ndarray]:
    """Every parameter and state array of ``model`` by path ``layer.name``."""
    return {
        f"{layer.name}.{k}": v
        for layer in model.layers
        for table in (layer.params, layer.state)
        for k, v in table.items()
    }


def load_weights(
    model: Sequential,
    path: str | os.PathLike[str],
    strict: bool = True,
    max_bytes: int | None = None,
) -> WeightsReport:
    """Copy arrays from a ``.nnf`` or ``.npz`` file into ``model`` (built if needed).

    ``strict=True`` raises ``ModelFormatError`` listing every missing, unexpected and
    mismatched ``layer.param`` and leaves the model unchanged; ``strict=False`` copies every
    matching array and returns the report of the others. Either way returns the report.
    """
    if not model.built:
        model.build(seed=model.seed)
    live = model_arrays(model)
    data = read_limited(path, size_limit(max_bytes))
    report = WeightsReport()
    if data[:4] == ZIP_MAGIC:
        saved = _read_npz(data, live, report)
    else:
        saved = decode(data, max_bytes).tensors
    for p in sorted(set(saved) - set(live)):
        report.unexpected.append(p)
    matched = []
    for p in sorted(live):
        if p not in saved:
            if not any(m.startswith(f"{p}:") for m in report.mismatched):
                report.missing.append(p)
            continue
        problem = compare(p, saved[p].shape, saved[p].dtype, live[p])
        if problem:
            report.mismatched.append(problem)
        else:
            matched.append(p)
    if strict and not report.ok:
        problems = report.problems()
        raise ModelFormatError(
            f"{os.fspath(path)!r} does not match the model ({len(problems)} problems; "
            f"pass strict=False to load the rest): " + "; ".join(problems)
        )
    for p in matched:
        live[p][...] = saved[p]
        report.loaded.append(p)
    return report


def _read_npz(data: bytes, live: dict[str, np.ndarray], report: WeightsReport) -> dict:
    """Arrays of an .npz whose header matches ``live``; others are only reported.

    Headers are read first: an array is decompressed only once its dtype and shape match
    the model's, so a hostile archive cannot make us allocate more than the model's size.
    """
    out: dict[str, np.ndarray] = {}
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            members = archive.infolist()
            if len(members) > MAX_CONTAINER_LEN:
                raise ModelFormatError(f"the .npz archive has {len(members):,} members")
            for info in members:
                if not info.filename.endswith(".npy"):
                    report.mismatched.append(f"{info.filename}: not a .npy member")
                    continue
                path = info.filename[:-4]
                with archive.open(info) as member:
                    array = _read_member(member, path, live.get(path), report)
                if array is not None:
                    out[path] = array
                elif path not in live:
                    report.unexpected.append(path)
    except ModelFormatError:
        raise
    except Exception as exc:  # zipfile/zlib raise many types for damaged archives
        raise ModelFormatError(
            f"the .npz archive is damaged: {type(exc).__name__}: {str(exc)[:200]}"
        ) from None
    report.unexpected.sort()
    return out


def _read_member(
    member: Any, path: str, like: np.ndarray | None, report: WeightsReport
) -> np.ndarray | None:
    version = np.lib.format.read_magic(member)
    if version == (1, 0):
        shape, fortran, dtype = np.lib.format.read_array_header_1_0(member, MAX_NPY_HEADER)
    elif version == (2, 0):
        shape, fortran, dtype = np.lib.format.read_array_header_2_0(member, MAX_NPY_HEADER)
    else:
        raise ModelFormatError(f"{path}: .npy format version {version} is not supported")
    if dtype.name not in DTYPES or dtype.kind not in "fiub" or dtype.fields is not None:
        raise ModelFormatError(f"{path}: dtype {dtype} is not allowed (no objects, no pickle)")
    if like is None:
        return None
    problem = compare(path, shape, dtype, like)
    if problem:
        report.mismatched.append(problem)
        return None
    nbytes = like.size * dtype.itemsize
    raw = member.read(nbytes)
    if len(raw) != nbytes:
        raise ModelFormatError(f"{path}: the .npz member is truncated")
    order: Literal["F", "C"] = "F" if fortran else "C"
    return np.frombuffer(raw, dtype=dtype).reshape(shape, order=order)


def export_npz(model: Sequential, path: str | os.PathLike[str]) -> None:
    """Write every parameter and state array to an ``.npz`` keyed ``layer.param``, atomically."""
    if not model.built:
        from ..errors import NotBuiltError

        raise NotBuiltError("the model has no parameters yet: build or train it first")
    buffer = io.BytesIO()
    arrays: dict[str, Any] = model_arrays(model)
    np.savez(buffer, **arrays)
    atomic_write(path, [buffer.getvalue()])
