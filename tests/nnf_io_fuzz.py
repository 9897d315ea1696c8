"""A deterministic mutation fuzzer for .nnf files (used by tests/test_io_fuzz.py).

Each case mutates one of a few valid files, at the byte level (bit flips, truncations,
inserted/deleted/duplicated bytes, msgpack headers declaring huge lengths, deep nesting),
inside the decoded map (swapped types, huge shapes and sizes, removed/added keys, edited
values), or at the edges of docs/format.md's rules (names and keys with controls, non-ASCII
letters and digits, trailing newlines, 128/129 code points; configs nested 32/33 deep), with
and without a recomputed checksum. Every outcome must be a model or a ``ModelFormatError``,
and a file that loads must keep the written rules (checked here independently of nnf's
code). Run it alone with

    python tests/nnf_io_fuzz.py --cases 100000 --seed 0
"""

from __future__ import annotations

import argparse
import hashlib
import math
import random
import resource
import string
import sys
import time
import traceback
import unicodedata
from collections import Counter
from pathlib import Path
from typing import Any

import msgpack

sys.path.insert(0, str(Path(__file__).parent))

import nnf
import nnf_io_helpers as helpers
from nnf.errors import ModelFormatError
from nnf.io.encode import pack_chunks

HUGE_HEADERS = [
    b"\xdb\xff\xff\xff\xff",  # str 32
    b"\xc6\xff\xff\xff\xff",  # bin 32
    b"\xdd\xff\xff\xff\xff",  # array 32
    b"\xdf\xff\xff\xff\xff",  # map 32
    b"\xc5\xff\xff",  # bin 16
    b"\xdc\xff\xff",  # array 16
    b"\xde\xff\xff",  # map 16
    b"\xc9\xff\xff\xff\xff\x01",  # ext 32
    b"\xd6\xff\x00\x00\x00\x01",  # timestamp 32
    b"\xc7\x0c\xff" + b"\x00" * 12,  # timestamp 96
    b"\xd4\x05\x00",  # fixext 1
    b"\xc1",  # never used
]


#: Characters at the edges of the name and key rules (docs/format.md, section 4).
EDGE_CHARACTERS = [
    "\n",
    "\x00",
    "\x1f",
    "\x7f",
    "\x80",
    "\x85",
    "\x9f",
    "\xa0",
    "é",
    "٣",
    "😀",
    "\u2028",
    ".",
]
KEY_CHARACTERS = set(string.ascii_letters + string.digits + "_")


def name_breaks_rules(name: Any) -> bool:
    """1-128 code points, no '.', no character of Unicode category Cc."""
    return (
        not isinstance(name, str)
        or not 1 <= len(name) <= 128
        or "." in name
        or any(unicodedata.category(c) == "Cc" for c in name)
    )


def key_breaks_rules(key: Any) -> bool:
    """namespace.Name.vN in ASCII letters, digits and '_', at most 200 characters."""
    if not isinstance(key, str) or len(key) > 200:
        return True
    *parts, version = key.split(".")
    identifiers_ok = len(parts) >= 2 and all(
        p and set(p) <= KEY_CHARACTERS and not p[0].isdigit() for p in parts
    )
    digits = version[1:]
    version_ok = (
        version[:1] == "v"
        and digits != ""
        and set(digits) <= set(string.digits)
        and digits[0] != "0"
    )
    return not (identifiers_ok and version_ok)


def broken_rule(data: bytes) -> str | None:
    """The first written rule a file breaks (names, keys, config depth), or None."""
    doc = msgpack.unpackb(data)
    for layer in doc["model"]["layers"]:
        for name in [layer["name"], *layer["params"], *layer["state"]]:
            if name_breaks_rules(name):
                return f"name {name!r}"
        if key_breaks_rules(layer["key"]):
            return f"key {layer['key']!r}"
        if depth(layer["config"]) > 32:
            return "config deeper than 32"
    return None


def depth(value: Any) -> int:
    """Containers nested in ``value``, itself included (a scalar is 0)."""
    if isinstance(value, dict):
        return 1 + max(map(depth, value.values()), default=0)
    if isinstance(value, list):
        return 1 + max(map(depth, value), default=0)
    return 0


def seed_files() -> list[bytes]:
    """Valid files the mutations start from; call inside ``helpers.registered()``."""
    from nnf.layers import Convolutional, Dense, Flatten, MaxPool2D, ReLU, Softmax

    trained = helpers.trained_model("float32", epochs=1).to_bytes(metadata={"who": "fuzz"})
    sgd = helpers.trained_model("float64", epochs=1, optimizer="sgd").to_bytes()
    conv = nnf.Sequential(
        [
            Convolutional(kernel_size=2, depth=2),
            ReLU(),
            MaxPool2D(),
            Flatten(),
            Dense(output_size=3),
            Softmax(),
        ],
        input_shape=(1, 5, 5),
    ).build(seed=1)
    eager = nnf.Sequential([Dense(3, 4), ReLU(), Dense(output_size=2)]).build(seed=2)
    return [trained, sgd, conv.to_bytes(), eager.to_bytes()]


def fix_checksum(data: bytes) -> bytes:
    if len(data) > 41 and data[-41:-32] == b"\xa6sha256\xc4\x20":
        return data[:-32] + hashlib.sha256(data[:-32]).digest()
    return data


class Mutator:
    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    # ------------------------------------------------------------------ byte level
    def bytes_level(self, data: bytes) -> tuple[str, bytes]:
        r, buf = self.rng, bytearray(data)
        kind = r.choice(["flip", "truncate", "insert", "delete", "huge", "dup", "deep", "zero"])
        n = len(buf)
        if kind == "flip":
            for _ in range(r.randint(1, 8)):
                i = r.randrange(n)
                buf[i] ^= 1 << r.randrange(8)
        elif kind == "truncate":
            del buf[r.randrange(n) :]
        elif kind == "insert":
            i = r.randrange(n + 1)
            buf[i:i] = bytes(r.randrange(256) for _ in range(r.randint(1, 16)))
        elif kind == "delete":
            i = r.randrange(n)
            del buf[i : i + r.randint(1, 16)]
        elif kind == "huge":
            i = r.randrange(n)
            header = r.choice(HUGE_HEADERS)
            buf[i : i + (len(header) if r.random() < 0.5 else 0)] = header
        elif kind == "dup":
            i, j = r.randrange(n), r.randrange(n)
            buf[j:j] = buf[i : i + r.randint(1, 64)]
        elif kind == "deep":
            i = r.randrange(n)
            buf[i:i] = b"\x91" * r.choice([40, 600, 1100, 5000]) + b"\xc0"
        else:
            i = r.randrange(n)
            buf[i : i + r.randint(1, 8)] = b"\x00" * r.randint(1, 8)
        out = bytes(buf)
        if r.random() < 0.6:  # let the damage reach the msgpack decoder
            return f"bytes-{kind}+fix", fix_checksum(out)
        return f"bytes-{kind}", out

    # ------------------------------------------------------------------ structure
    def value(self, old: Any) -> Any:
        r = self.rng
        if isinstance(old, bool):
            pool = [not old, 1, None]
        elif isinstance(old, int):
            pool = [old + 1, old - 1, -old, old * 1000, 2**31, 2**63 - 1, -(2**63), 2**64 - 1, 0]
        elif isinstance(old, float):
            pool = [
                math.nan,
                math.inf,
                -old,
                old * 1e30,
                0.0,
                int(old) if math.isfinite(old) else 7,
            ]
        elif isinstance(old, str):
            pool = [old + "x", old[:-1], "", "a.b", "\x00", "x" * 300, old.upper(), "float64"]
        elif isinstance(old, bytes):
            pool = [old[:-1], old + b"\x00", old[::-1], bytes(len(old)), b"", old * 2]
        elif isinstance(old, list):
            pool = [old[:-1], old + old[-1:], old[::-1], [], [2**40] * 3, [1] * 9, [-1]]
        elif isinstance(old, dict):
            pool = [{}, {**old, "extra": 1}, dict(list(old.items())[:-1]), [old]]
        else:
            pool = []
        common = [
            None,
            True,
            0,
            -1,
            2**63 - 1,
            0.5,
            math.nan,
            "",
            "nnf.Dense.v1",
            b"\x01\x02",
            [],
            {},
            [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]],
            {"dtype": "float32", "shape": [2**62, 2**62], "data": b""},
            {"dtype": "object", "shape": [1], "data": b"\x00" * 8},
            msgpack.ExtType(r.randrange(128), b"xyz"),
            msgpack.Timestamp(1, 0),
            list(range(r.randint(0, 50))),
        ]
        return r.choice(pool + common if pool and r.random() < 0.7 else common)

    def nodes(self, doc: Any) -> list[tuple[Any, Any]]:
        """Every (container, key) slot in the document."""
        out, stack = [], [doc]
        while stack:
            item = stack.pop()
            entries = item.items() if isinstance(item, dict) else enumerate(item)
            for k, v in list(entries):
                out.append((item, k))
                if isinstance(v, (dict, list)):
                    stack.append(v)
        return out

    def structure(self, data: bytes) -> tuple[str, bytes]:
        r = self.rng
        doc = msgpack.unpackb(data)
        doc.pop("sha256")
        for _ in range(r.choice([1, 1, 1, 2, 3])):
            container, key = r.choice(self.nodes(doc))
            op = r.random()
            if op < 0.7:
                container[key] = self.value(container[key])
            elif op < 0.85:
                del container[key]
            elif isinstance(container, dict):
                container[r.choice(["extra", "name", "shape", "params", "x" * 40])] = self.value(1)
            else:
                container.append(self.value(container[key]))
        try:
            out = b"".join(pack_chunks(doc))
        except (TypeError, ValueError, OverflowError):
            return "struct-unpackable", data  # the mutation itself cannot be packed
        if r.random() < 0.15:  # a stale checksum: refused as corruption
            return "struct-stale", out[:-32] + data[-32:]
        return "struct", out

    # ----------------------------------------------------------------- rule edges
    def edge_string(self, old: str) -> str:
        r = self.rng
        c = r.choice(EDGE_CHARACTERS)
        return r.choice(
            [
                old + c,
                c + old,
                old[:1] + c + old[1:],
                (old * 128)[:128],
                (old * 129)[:129],
                c * 128,
                c * 129,
            ]
        )

    def rules(self, data: bytes) -> tuple[str, bytes]:
        """A name, array name or key at the edge of its rule, renamed consistently (tensor
        paths, writer.plugins), or a config nested 32 or 33 levels deep."""
        r = self.rng
        doc = msgpack.unpackb(data)
        doc.pop("sha256")
        layer = r.choice(doc["model"]["layers"])
        target = r.choice(["name", "key", "array", "depth"])
        if target == "name" or (target == "array" and not layer["params"]):
            old, new = layer["name"], self.edge_string(layer["name"])
            layer["name"] = new
            doc["tensors"] = {
                (new + p[len(old) :] if p.startswith(old + ".") else p): t
                for p, t in doc["tensors"].items()
            }
            doc.pop("optimizer", None)
        elif target == "key":
            old, new = layer["key"], self.edge_string(layer["key"])
            for other in doc["model"]["layers"]:
                if other["key"] == old:
                    other["key"] = new
            doc["writer"]["plugins"][new] = doc["writer"]["plugins"].pop(old)
        elif target == "array":
            old = r.choice(layer["params"])
            new = self.edge_string(old)
            layer["params"] = [new if p == old else p for p in layer["params"]]
            path = f"{layer['name']}.{old}"
            doc["tensors"][f"{layer['name']}.{new}"] = doc["tensors"].pop(path)
            doc.pop("optimizer", None)
        else:
            nested: list = []
            for _ in range(r.choice([30, 31, 32])):  # with the config map: 32, 33 or 34 deep
                nested = [nested]
            layer["config"]["deep"] = nested
        return f"rules-{target}", b"".join(pack_chunks(doc))

    def case(self, seeds: list[bytes]) -> tuple[str, bytes]:
        data = self.rng.choice(seeds)
        pick = self.rng.random()
        if pick < 0.15:
            return self.rules(data)
        if pick < 0.6:
            return self.structure(data)
        return self.bytes_level(data)


def check_loaded(model: Any) -> None:
    """A file that loads must give a usable, savable model."""
    assert isinstance(model, nnf.Sequential) and model.built
    nnf.loads(model.to_bytes())


def run(cases: int, seed: int = 0, log_every: int = 0) -> dict[str, Any]:
    """Run ``cases`` mutations; return counts, failures (with their case numbers) and time."""
    outcomes: Counter[str] = Counter()
    failures: list[str] = []
    slowest = (0.0, -1, "")
    start = time.perf_counter()
    with helpers.registered():
        seeds = seed_files()
        for i in range(cases):
            mutator = Mutator(random.Random(f"{seed}-{i}"))
            kind, data = mutator.case(seeds)
            t0 = time.perf_counter()
            try:
                model = nnf.loads(data)
                check_loaded(model)
                outcome = "loaded"
                broken = broken_rule(data)
                if broken is not None:
                    outcome = "FAILED"
                    failures.append(f"case {i} ({kind}): loaded although its {broken} is invalid")
            except ModelFormatError:
                outcome = "refused"
            except BaseException as exc:  # anything else is a bug: keep the case number
                if isinstance(exc, KeyboardInterrupt):
                    raise
                outcome = "FAILED"
                tb = traceback.format_exc(limit=-3).strip().splitlines()
                failures.append(f"case {i} ({kind}): {type(exc).__name__}: {exc} | {tb[-3:]}")
            spent = time.perf_counter() - t0
            if spent > slowest[0]:
                slowest = (spent, i, kind)
            outcomes[f"{kind}:{outcome}"] += 1
            outcomes[outcome] += 1
            if log_every and (i + 1) % log_every == 0:
                counts = {k: outcomes[k] for k in ("loaded", "refused", "FAILED")}
                print(f"{i + 1} cases, {counts}", flush=True)
    return {
        "cases": cases,
        "seconds": time.perf_counter() - start,
        "outcomes": dict(outcomes),
        "failures": failures,
        "slowest_case": {"seconds": slowest[0], "case": slowest[1], "kind": slowest[2]},
        "max_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    result = run(args.cases, args.seed, log_every=10_000)
    for failure in result["failures"][:20]:
        print("FAIL", failure)
    print({k: v for k, v in result.items() if k != "failures"})
    print(f"{len(result['failures'])} failures")
    sys.exit(1 if result["failures"] else 0)


if __name__ == "__main__":
    main()
