"""The benchmark jobs: what each side (nnf, the tutorial's code, torch) runs, and how much.

A job runs inside a worker process, one per (job, side). ``setup`` loads the data once;
for each repetition ``prepare`` builds a fresh model (untimed) and ``work`` is timed.
Sides: ``nnf``, ``nnf1`` (nnf with one BLAS thread), ``tutorial``, ``torch1``, ``torch2``
(torch with 1 or 2 intra-op threads).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import data
import numpy as np

SEED = 1234
TORCH_SIDES = ("torch1", "torch2")
ONNX_SIDE = "onnxrt"  # ONNX Runtime (CPU, default threads) running nnf's own export


# ----------------------------------------------------------------------- FLOP counts
def conv_macs(c_in: int, c_out: int, k: int, h_out: int, w_out: int) -> int:
    return c_in * c_out * k * k * h_out * w_out


TUTORIAL_CNN_MACS = conv_macs(1, 5, 3, 26, 26) + 5 * 26 * 26 * 100 + 100 * 2
LENET_MACS = (
    conv_macs(1, 6, 5, 28, 28) + conv_macs(6, 16, 5, 10, 10) + 400 * 120 + 120 * 84 + 84 * 10
)
# Convention: forward = 2 FLOPs per multiply-add; training = 3x forward (forward, input
# gradient, weight gradient). Activations, pooling and the loss are not counted.
# examples/specs/resnet_cifar.toml: stem, stage 1 (two 16->16), stage 2 (16->32 stride 2,
# 32->32, 1x1 projection), dense 32->10.
RESNET_MACS = (
    conv_macs(3, 16, 3, 32, 32)
    + 2 * conv_macs(16, 16, 3, 32, 32)
    + conv_macs(16, 32, 3, 16, 16)
    + conv_macs(32, 32, 3, 16, 16)
    + conv_macs(16, 32, 1, 16, 16)
    + 32 * 10
)
RESNET_TRAIN_FLOPS = 3 * 2 * RESNET_MACS
TUTORIAL_TRAIN_FLOPS = 3 * 2 * TUTORIAL_CNN_MACS
LENET_TRAIN_FLOPS = 3 * 2 * LENET_MACS
LENET_INFER_FLOPS = 2 * LENET_MACS
CIFAR_MACS = (
    conv_macs(3, 32, 3, 32, 32)
    + conv_macs(32, 64, 3, 16, 16)
    + conv_macs(64, 64, 3, 8, 8)
    + 1024 * 256
    + 256 * 10
)
CIFAR_TRAIN_FLOPS = 3 * 2 * CIFAR_MACS


def cifar_style_macs(width: int, size: int) -> int:
    """Multiply-adds of one image through the growth job's net: the CIFAR-sized net with
    ``width``/2 ``width``/2 ``width`` channels on 3x``size``x``size`` (width 32, size 32: it)."""
    s1, s2, s3 = size, size // 2, size // 4
    flat = 2 * width * (size // 8) ** 2
    return (
        conv_macs(3, width, 3, s1, s1)
        + conv_macs(width, 2 * width, 3, s2, s2)
        + conv_macs(2 * width, 2 * width, 3, s3, s3)
        + flat * 256
        + 256 * 10
    )


GROWTH_WIDTHS = (16, 32, 64, 128)
GROWTH_SIZES = (28, 32, 64)
# FLOPs each growth run trains on (images = budget / FLOPs per image, at least a few batches)
GROWTH_BUDGET = {"full": 40e9, "quick": 12e9}
GROWTH_LEAST = {"full": 128, "quick": 64}
CIFAR_INFER_FLOPS = 2 * CIFAR_MACS


@dataclass
class Job:
    """A benchmark job: its sides, sizes (full and --quick), and its three phases."""

    name: str
    title: str
    unit: str  # what one item is: "samples", "images"
    sides: tuple[str, ...]
    flops_per_item: int
    sizes: dict[str, Any]  # size parameters for a full run
    quick_sizes: dict[str, Any]
    setup: Callable[[str], Any]
    prepare: Callable[[str, Any, dict[str, Any]], Any]
    work: Callable[[str, Any, dict[str, Any]], dict[str, Any]]
    variants: list[dict[str, Any]] = field(default_factory=lambda: [{}])
    quick_variants: list[dict[str, Any]] | None = None
    kind: str = "throughput"  # "throughput" jobs are compared; "scaling" jobs are tabulated
    optional: bool = False  # left out unless named (long jobs)
    # Peak memory from one more, untimed run per side and variant, the only one that samples
    # child processes (nnf's training workers): sampling them during timed runs cost nnf's
    # LeNet-5 training ~10% (0.84-0.98x in an in-process A/B). False: the timed runs sample
    # (the memory job (f), whose figure is its memory).
    memory_run: bool = True

    def params(self, quick: bool) -> dict[str, Any]:
        return dict(self.quick_sizes if quick else self.sizes)

    def variant_list(self, quick: bool) -> list[dict[str, Any]]:
        return self.quick_variants if quick and self.quick_variants is not None else self.variants


def _torch() -> Any:
    import torch_reference

    return torch_reference


def _side_setup(side: str) -> None:
    """Import what the side needs before any timing (torch threads are set here)."""
    if side in TORCH_SIDES:
        _torch().set_threads(int(side[-1]))
    elif side.startswith("nnf") or side == ONNX_SIDE:
        import nnf_side  # noqa: F401

        if side == ONNX_SIDE:
            import onnxruntime  # noqa: F401
    elif side == "tutorial":
        import tutorial_reference  # noqa: F401


def _warm(params: dict[str, Any], n: int, key: str = "epochs") -> dict[str, Any]:
    """Shrink a job for its warm-up run: ``n`` items, one epoch/pass."""
    return {**params, key: 1, "limit": n}


# ----------------------------------------------------------- (a) tutorial, per sample
def _a_setup(side: str) -> Any:
    _side_setup(side)
    return data.tutorial_zeros_ones(100, seed=SEED)


def _a_prepare(side: str, d: Any, p: dict[str, Any]) -> Any:
    x, y = d
    n = p.get("limit", len(x))
    x, y = x[:n], y[:n]
    if side.startswith("nnf"):
        import nnf_side

        return nnf_side.tutorial_network(SEED), x, y
    if side == "tutorial":
        import tutorial_reference as ref

        np.random.seed(SEED)
        return ref.tutorial_cnn(), x, y
    return None, x, y


def _a_work(side: str, st: Any, p: dict[str, Any]) -> dict[str, Any]:
    net, x, y = st
    epochs, lr = p["epochs"], p["lr"]
    if side.startswith("nnf"):
        import nnf_side

        loss = nnf_side.train_per_sample(net, x, y, epochs, lr)
    elif side == "tutorial":
        import tutorial_reference as ref

        errors = ref.train(
            net, ref.binary_cross_entropy, ref.binary_cross_entropy_prime, x, y, epochs, lr, False
        )
        loss = errors[-1]
    else:
        loss = _torch().train_per_sample(x, y, epochs, lr, SEED)
    return {"items": epochs * len(x), "loss": float(loss)}


# ----------------------------------------------------------- (b) tutorial, batches of 32
def _b_prepare(side: str, d: Any, p: dict[str, Any]) -> Any:
    x, y = d
    n = p.get("limit", len(x))
    x, y = x[:n], y[:n].reshape(n, 2)
    if side.startswith("nnf"):
        import nnf_side

        return nnf_side.tutorial_model(SEED), x, y
    return None, x, y


def _b_work(side: str, st: Any, p: dict[str, Any]) -> dict[str, Any]:
    model, x, y = st
    e, bs, lr = p["epochs"], p["batch_size"], p["lr"]
    if side.startswith("nnf"):
        import nnf_side

        loss = nnf_side.fit(model, x, y, e, bs, lr, "binary_crossentropy", SEED)
    else:
        loss = _torch().train_tutorial_batched(x, y, e, bs, lr, SEED)
    return {"items": e * len(x), "loss": float(loss)}


# ---------------------------------------------------------------- (c) LeNet training
def _lenet_setup(side: str) -> Any:
    _side_setup(side)
    return data.mnist_5k()


def _c_prepare(side: str, d: Any, p: dict[str, Any]) -> Any:
    x, y = d
    n = min(p.get("limit", p["images"]), len(x))
    x, y = x[:n], y[:n]
    if side.startswith("nnf"):
        import nnf_side

        return nnf_side.lenet5(SEED), x, y
    return None, x, y


def _c_work(side: str, st: Any, p: dict[str, Any]) -> dict[str, Any]:
    model, x, y = st
    e, lr = p["epochs"], p["lr"]
    bs = p.get("batch_size", 64)
    if side.startswith("nnf"):
        import nnf_side

        loss = nnf_side.fit(model, x, y, e, bs, lr, "categorical_crossentropy", SEED)
    else:
        _, loss = _torch().train_lenet(x, y, e, bs, lr, SEED)
    return {"items": e * len(x), "loss": float(loss)}


# --------------------------------------------------------------- (d) LeNet inference
def _d_setup(side: str) -> Any:
    _side_setup(side)
    return data.mnist_test()


def _d_prepare(side: str, d: Any, p: dict[str, Any]) -> Any:
    x, _ = d
    n = p.get("limit", p.get("images", len(x)))
    x = data.tiled(x, n) if n != len(x) else x
    if side.startswith("nnf"):
        import nnf_side

        return nnf_side.lenet5(SEED), x
    if side == ONNX_SIDE:
        import nnf_side

        return nnf_side.onnx_session(nnf_side.lenet5(SEED)), x
    return _torch().new_lenet(SEED), x


def _d_work(side: str, st: Any, p: dict[str, Any]) -> dict[str, Any]:
    model, x = st
    bs = p.get("batch_size", 256)
    passes = p.get("epochs", 1)
    for _ in range(passes):
        if side.startswith("nnf"):
            import nnf_side

            out = nnf_side.predict(model, x, bs)
        elif side == ONNX_SIDE:
            import nnf_side

            out = nnf_side.onnx_predict(model, x, bs)
        else:
            out = _torch().predict(model, x, bs)
    return {"items": passes * len(x), "checksum": float(out[:, 0].sum())}


# ------------------------------------------------ (g) CIFAR-sized training, inference
def _g_setup(side: str) -> Any:
    _side_setup(side)
    return data.cifar_sized(4096, seed=SEED)


def _g_prepare(side: str, d: Any, p: dict[str, Any]) -> Any:
    x, y = d
    n = min(p.get("limit", p["images"]), len(x))
    x, y = x[:n], y[:n]
    if side.startswith("nnf"):
        import nnf_side

        return nnf_side.cifar_sized(SEED), x, y
    return None, x, y


def _g_work(side: str, st: Any, p: dict[str, Any]) -> dict[str, Any]:
    model, x, y = st
    e, lr, bs = p["epochs"], p["lr"], p["batch_size"]
    if side.startswith("nnf"):
        import nnf_side

        loss = nnf_side.fit(model, x, y, e, bs, lr, "categorical_crossentropy", SEED, momentum=0.9)
    else:
        _, loss = _torch().train_cifar_sized(x, y, e, bs, lr, SEED)
    return {"items": e * len(x), "loss": float(loss)}


def _h_prepare(side: str, d: Any, p: dict[str, Any]) -> Any:
    x, _ = d
    x = x[: p.get("limit", p["images"])]
    if side.startswith("nnf"):
        import nnf_side

        return nnf_side.cifar_sized(SEED), x
    if side == ONNX_SIDE:
        import nnf_side

        return nnf_side.onnx_session(nnf_side.cifar_sized(SEED)), x
    return _torch().new_cifar_sized(SEED), x


# ----------------------------------------------------- (f) Fashion-MNIST, full training
def _f_setup(side: str) -> Any:
    _side_setup(side)
    return data.fashion_mnist("train"), data.fashion_mnist("t10k")


def _f_prepare(side: str, d: Any, p: dict[str, Any]) -> Any:
    (x, y), test = d
    n = p.get("limit", len(x))
    model = None
    if side.startswith("nnf"):
        import nnf_side

        model = nnf_side.lenet5(SEED)
    return model, x[:n], y[:n], test


def _f_work(side: str, st: Any, p: dict[str, Any]) -> dict[str, Any]:
    model, x, y, (xt, yt) = st
    e, lr, bs = p["epochs"], p["lr"], p["batch_size"]
    if side.startswith("nnf"):
        import nnf_side

        loss = nnf_side.fit(model, x, y, e, bs, lr, "categorical_crossentropy", SEED)
        acc = nnf_side.accuracy(model, xt, yt)
    else:
        model, loss = _torch().train_lenet(x, y, e, bs, lr, SEED)
        acc = _torch().accuracy(model, xt, yt)
    return {"items": e * len(x), "loss": float(loss), "test_accuracy": acc}


# ------------------------------------------------- (r) ResNet-style CIFAR network, training
def _r_setup(side: str) -> Any:
    _side_setup(side)
    return data.cifar_shaped(2048, seed=SEED)


def _r_prepare(side: str, d: Any, p: dict[str, Any]) -> Any:
    x, y = d
    n = min(p.get("limit", p["images"]), len(x))
    if side.startswith("nnf"):
        import nnf_side

        return nnf_side.resnet(SEED), x[:n], y[:n]
    return None, x[:n], y[:n]


def _r_work(side: str, st: Any, p: dict[str, Any]) -> dict[str, Any]:
    model, x, y = st
    e, lr, bs = p["epochs"], p["lr"], p["batch_size"]
    if side.startswith("nnf"):
        import nnf_side

        loss = nnf_side.fit_resnet(model, x, y, e, bs, lr, SEED)
    else:
        loss = _torch().train_resnet(x, y, e, bs, lr, SEED)
    return {"items": e * len(x), "loss": float(loss)}


# ------------------------------------------ (w) growth: the CIFAR-style net, wider and larger
def growth_images(width: int, size: int, quick: bool) -> int:
    """Images a growth run trains on: a fixed FLOP budget, at least a few batches."""
    key = "quick" if quick else "full"
    per_image = 3 * 2 * cifar_style_macs(width, size)
    return max(GROWTH_LEAST[key], int(GROWTH_BUDGET[key] // per_image) // 64 * 64)


def _w_setup(side: str) -> Any:
    _side_setup(side)
    return None  # each variant draws its own images (their size varies)


def _w_prepare(side: str, d: Any, p: dict[str, Any]) -> Any:
    width, size = p["width"], p["size"]
    n = p.get("limit") or growth_images(width, size, p["quick"])
    x, y = data.cifar_sized(n, seed=SEED, size=size)
    if side.startswith("nnf"):
        import nnf_side

        return nnf_side.cifar_sized(SEED, width=width, size=size), x, y
    return None, x, y


def _w_work(side: str, st: Any, p: dict[str, Any]) -> dict[str, Any]:
    model, x, y = st
    lr, bs = p["lr"], p["batch_size"]
    if side.startswith("nnf"):
        import nnf_side

        loss = nnf_side.fit(model, x, y, 1, bs, lr, "categorical_crossentropy", SEED, momentum=0.9)
    else:
        _, loss = _torch().train_cifar_sized(x, y, 1, bs, lr, SEED, width=p["width"])
    flops = 3 * 2 * cifar_style_macs(p["width"], p["size"])
    return {"items": len(x), "loss": float(loss), "flops_per_item": flops}


_BOTH = ("nnf", "torch1", "torch2")
_INFER = (*_BOTH, ONNX_SIDE)

JOBS: dict[str, Job] = {
    job.name: job
    for job in [
        Job(
            "tutorial_sgd",
            "(a) tutorial CNN, per-sample SGD, 200 images",
            "samples",
            ("nnf", "tutorial", "torch1", "torch2"),
            TUTORIAL_TRAIN_FLOPS,
            {"epochs": 20, "lr": 0.1},
            {"epochs": 2, "lr": 0.1},
            _a_setup,
            _a_prepare,
            _a_work,
        ),
        Job(
            "tutorial_batch32",
            "(b) tutorial CNN, mini-batch 32, 200 images",
            "samples",
            _BOTH,
            TUTORIAL_TRAIN_FLOPS,
            {"epochs": 40, "batch_size": 32, "lr": 0.5},
            {"epochs": 10, "batch_size": 32, "lr": 0.5},
            _a_setup,
            _b_prepare,
            _b_work,
        ),
        Job(
            "lenet_train",
            "(c) LeNet-5 training, float32, batch 64",
            "images",
            _BOTH,
            LENET_TRAIN_FLOPS,
            {"images": 5000, "epochs": 2, "lr": 0.05, "batch_size": 64},
            {"images": 2000, "epochs": 1, "lr": 0.05, "batch_size": 64},
            _lenet_setup,
            _c_prepare,
            _c_work,
        ),
        Job(
            "lenet_infer",
            "(d) LeNet-5 inference, batch 256",
            "images",
            _INFER,
            LENET_INFER_FLOPS,
            {"epochs": 3, "batch_size": 256},
            {"epochs": 1, "batch_size": 256},
            _d_setup,
            _d_prepare,
            _d_work,
        ),
        Job(
            "resnet_train",
            "(r) ResNet-style CIFAR network (2 residual stages, BatchNorm), batch 64",
            "images",
            ("nnf", "nnf1", "torch1", "torch2"),
            RESNET_TRAIN_FLOPS,
            {"images": 1024, "epochs": 1, "lr": 0.001, "batch_size": 64},
            {"images": 256, "epochs": 1, "lr": 0.001, "batch_size": 64},
            _r_setup,
            _r_prepare,
            _r_work,
        ),
        Job(
            "scale_batch",
            "(e) LeNet-5 training vs batch size",
            "images",
            ("nnf", "torch2"),
            LENET_TRAIN_FLOPS,
            {"images": 4096, "epochs": 1, "lr": 0.05},
            {"images": 1024, "epochs": 1, "lr": 0.05},
            _lenet_setup,
            _c_prepare,
            _c_work,
            variants=[{"batch_size": b} for b in (16, 32, 64, 128, 256)],
            kind="scaling",
        ),
        Job(
            "scale_predict",
            "(e) LeNet-5 predict vs dataset size, batch 256",
            "images",
            ("nnf", "torch2"),
            LENET_INFER_FLOPS,
            {"epochs": 1, "batch_size": 256},
            {"epochs": 1, "batch_size": 256},
            _d_setup,
            _d_prepare,
            _d_work,
            variants=[{"images": n} for n in (1000, 10000, 60000)],
            kind="scaling",
        ),
        Job(
            "cifar_train",
            "(g) CIFAR-sized training, float32, batch 64, SGD momentum 0.9",
            "images",
            _BOTH,
            CIFAR_TRAIN_FLOPS,
            {"images": 4096, "epochs": 1, "lr": 0.01, "batch_size": 64},
            {"images": 1024, "epochs": 1, "lr": 0.01, "batch_size": 64},
            _g_setup,
            _g_prepare,
            _g_work,
        ),
        Job(
            "cifar_infer",
            "(h) CIFAR-sized inference, batch 256",
            "images",
            _INFER,
            CIFAR_INFER_FLOPS,
            {"images": 4096, "epochs": 1, "batch_size": 256},
            {"images": 1024, "epochs": 1, "batch_size": 256},
            _g_setup,
            _h_prepare,
            _d_work,
        ),
        Job(
            "growth",
            "(w) growth: CIFAR-style net training by channel width and input size, batch 64",
            "images",
            _BOTH,
            CIFAR_TRAIN_FLOPS,  # per variant: the run's own flops_per_item
            {"lr": 0.01, "batch_size": 64, "quick": False},
            {"lr": 0.01, "batch_size": 64, "quick": True},
            _w_setup,
            _w_prepare,
            _w_work,
            variants=[{"width": w, "size": s} for s in GROWTH_SIZES for w in GROWTH_WIDTHS],
            kind="scaling",
            optional=True,  # ~5 min (--quick: ~2): run with --jobs w
            memory_run=False,  # short fits: parts run on threads, no worker process to sample
        ),
        Job(
            "fashion",
            "(f) Fashion-MNIST, LeNet-5, 60,000 images, batch 64, + test accuracy",
            "images",
            ("nnf", "torch2"),
            LENET_TRAIN_FLOPS,
            {"epochs": 1, "lr": 0.05, "batch_size": 64},
            {"epochs": 1, "lr": 0.05, "batch_size": 64, "limit": 10000},
            _f_setup,
            _f_prepare,
            _f_work,
            optional=True,
            memory_run=False,
        ),
    ]
}


def warmup_params(job: Job, params: dict[str, Any]) -> dict[str, Any]:
    """A short run of the same code path (first-call costs are not part of the figures)."""
    return _warm(params, 64 if job.name != "tutorial_sgd" else 16)
