"""The benchmark jobs in PyTorch on the CPU: the reference nnf is measured against.

Imported only when torch is installed (it is never a dependency of nnf). Every function takes
NumPy arrays, converts each batch with ``torch.from_numpy`` (no copy) as a user would, and
returns what the nnf side returns, so that the two are timed around the same work.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn


def set_threads(n: int) -> None:
    torch.set_num_threads(n)


def init_like_nnf(model: nn.Module, inits: tuple[str, ...]) -> nn.Module:
    """Draw ``model``'s convolution and dense weights as nnf draws them (``inits``: "glorot"
    or "he" for each such layer in order; normal, nnf.layer.init_array's scales) and zero
    their biases. torch's default (uniform, +-1/sqrt(fan_in)) is ~2.4x smaller than He's:
    with it the LeNet-5 job's plain SGD (lr 0.05, 158 steps) never left the plateau (last loss
    2.293 against nnf's 0.40), so the two sides did not train the same network."""
    layers = [m for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    if len(layers) != len(inits):
        raise ValueError(f"{len(inits)} inits for {len(layers)} layers")
    for layer, init in zip(layers, inits):
        weight = layer.weight
        fan_in = weight[0].numel()
        fan_out = weight.shape[0] * (weight[0, 0].numel() if weight.dim() > 2 else 1)
        std = math.sqrt(2.0 / fan_in) if init == "he" else math.sqrt(2.0 / (fan_in + fan_out))
        with torch.no_grad():
            nn.init.normal_(weight, 0.0, std)
            if layer.bias is not None:
                nn.init.zeros_(layer.bias)
    return model


class PositionBias(nn.Module):
    """The tutorial's convolution bias: one value per output position, shaped (C, H, W)."""

    def __init__(self, shape: tuple[int, ...]) -> None:
        super().__init__()
        self.bias = nn.Parameter(torch.randn(*shape))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.bias


def tutorial_cnn() -> nn.Module:
    """conv 5@3x3 (bias per position) -> sigmoid -> dense 100 -> sigmoid -> dense 2 -> sigmoid."""
    return nn.Sequential(
        nn.Conv2d(1, 5, 3, bias=False),
        PositionBias((5, 26, 26)),
        nn.Sigmoid(),
        nn.Flatten(),
        nn.Linear(5 * 26 * 26, 100),
        nn.Sigmoid(),
        nn.Linear(100, 2),
        nn.Sigmoid(),
    )


def lenet5() -> nn.Module:
    """LeNet-5 on 28x28: conv 6@5x5 pad 2, relu, pool, conv 16@5x5, relu, pool, 120-84-10;
    weights drawn as nnf_side.lenet5 draws them."""
    model = nn.Sequential(
        nn.Conv2d(1, 6, 5, padding=2),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(6, 16, 5),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(400, 120),
        nn.ReLU(),
        nn.Linear(120, 84),
        nn.ReLU(),
        nn.Linear(84, 10),
    )
    return init_like_nnf(model, ("glorot", "glorot", "he", "he", "glorot"))


class Residual(nn.Module):
    """y = f(x) + x, or + a 1x1 convolution of x (stride 2, with bias) when shapes differ."""

    def __init__(self, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        self.f = nn.Sequential(
            nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1),
            nn.BatchNorm2d(c_out),
            nn.ReLU(),
            nn.Conv2d(c_out, c_out, 3, padding=1),
            nn.BatchNorm2d(c_out),
        )
        same = c_in == c_out and stride == 1
        self.projection = None if same else nn.Conv2d(c_in, c_out, 1, stride=stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.f(x) + (x if self.projection is None else self.projection(x))


def resnet_cifar() -> nn.Module:
    """examples/specs/resnet_cifar.toml in torch: stem, two residual stages, global average."""
    return nn.Sequential(
        nn.Conv2d(3, 16, 3, padding=1),
        nn.BatchNorm2d(16),
        nn.ReLU(),
        Residual(16, 16, 1),
        nn.ReLU(),
        Residual(16, 32, 2),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(32, 10),
    )


def train_resnet(
    x: np.ndarray, y: np.ndarray, epochs: int, batch_size: int, lr: float, seed: int
) -> float:
    """The ResNet with cross-entropy on logits, AdamW (weight decay 5e-4) and gradients
    clipped to global norm 5, as the spec trains it; returns the last epoch's mean loss."""
    torch.manual_seed(seed)
    model = resnet_cifar()
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=5e-4)
    loss_fn = nn.CrossEntropyLoss()
    rng = np.random.default_rng(seed)
    total = 0.0
    for _ in range(epochs):
        order = rng.permutation(len(x))
        total = 0.0
        for b in range(0, len(x), batch_size):
            idx = order[b : b + batch_size]
            xb, yb = torch.from_numpy(x[idx]), torch.from_numpy(y[idx])
            loss = loss_fn(model(xb), yb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 5.0)
            opt.step()
            total += loss.item() * len(idx)
        total /= len(x)
    return total


def cifar_sized(width: int = 32, size: int = 32) -> nn.Module:
    """3x32x32: three 3x3 same convolutions 32/64/64 (bias), ReLU, 2x2 max pools, 256, 10;
    weights drawn as nnf_side.cifar_sized draws them (``width``, ``size``: as there)."""
    layers: list[nn.Module] = []
    c_in = 3
    for depth in (width, 2 * width, 2 * width):
        layers += [nn.Conv2d(c_in, depth, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2)]
        c_in = depth
    flat = c_in * (size // 8) ** 2
    layers += [nn.Flatten(), nn.Linear(flat, 256), nn.ReLU(), nn.Linear(256, 10)]
    return init_like_nnf(nn.Sequential(*layers), ("he", "he", "he", "he", "glorot"))


def train_per_sample(x: np.ndarray, y: np.ndarray, epochs: int, lr: float, seed: int) -> float:
    """The tutorial's loop in torch: one sample per SGD step, mean BCE. Returns the last loss."""
    torch.manual_seed(seed)
    model = tutorial_cnn()
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    loss_fn = nn.BCELoss()
    xt = torch.from_numpy(x)  # (N, 1, 28, 28)
    yt = torch.from_numpy(y.reshape(len(y), -1))  # (N, 2)
    error = 0.0
    for _ in range(epochs):
        error = 0.0
        for i in range(len(xt)):
            out = model(xt[i : i + 1])
            loss = loss_fn(out, yt[i : i + 1])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            error += loss.item()
        error /= len(xt)
    return error


def _fit(
    model: nn.Module,
    loss_fn: nn.Module,
    x: np.ndarray,
    y: np.ndarray,
    epochs: int,
    batch_size: int,
    lr: float,
    seed: int,
    momentum: float = 0.0,
) -> float:
    """Mini-batch SGD over shuffled batches gathered with NumPy (as nnf's fit does)."""
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum)
    rng = np.random.default_rng(seed)
    total = 0.0
    for _ in range(epochs):
        order = rng.permutation(len(x))
        total = 0.0
        for b in range(0, len(x), batch_size):
            idx = order[b : b + batch_size]
            xb, yb = torch.from_numpy(x[idx]), torch.from_numpy(y[idx])
            loss = loss_fn(model(xb), yb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += loss.item() * len(idx)
        total /= len(x)
    return total


def train_tutorial_batched(
    x: np.ndarray, y: np.ndarray, epochs: int, batch_size: int, lr: float, seed: int
) -> float:
    """The tutorial CNN with mini-batches and mean BCE; returns the last epoch's mean loss."""
    torch.manual_seed(seed)
    return _fit(
        tutorial_cnn(), nn.BCELoss(), x, y.reshape(len(y), -1), epochs, batch_size, lr, seed
    )


def train_lenet(
    x: np.ndarray, y: np.ndarray, epochs: int, batch_size: int, lr: float, seed: int
) -> tuple[nn.Module, float]:
    """LeNet-5 with softmax cross-entropy (fused, on logits) and SGD; returns (model, loss)."""
    torch.manual_seed(seed)
    model = lenet5()
    loss = _fit(model, nn.CrossEntropyLoss(), x, y, epochs, batch_size, lr, seed)
    return model, loss


def train_cifar_sized(
    x: np.ndarray,
    y: np.ndarray,
    epochs: int,
    batch_size: int,
    lr: float,
    seed: int,
    width: int = 32,
) -> tuple[nn.Module, float]:
    """The CIFAR-sized net, softmax cross-entropy, SGD with momentum 0.9; (model, loss)."""
    torch.manual_seed(seed)
    model = cifar_sized(width, x.shape[-1])
    loss = _fit(model, nn.CrossEntropyLoss(), x, y, epochs, batch_size, lr, seed, momentum=0.9)
    return model, loss


def new_cifar_sized(seed: int) -> nn.Module:
    torch.manual_seed(seed)
    return cifar_sized().eval()


def new_lenet(seed: int) -> nn.Module:
    torch.manual_seed(seed)
    return lenet5().eval()


def predict(model: nn.Module, x: np.ndarray, batch_size: int) -> np.ndarray:
    """Class probabilities for ``x``, ``batch_size`` images at a time, into one output array."""
    out = np.empty((len(x), 10), dtype=np.float32)
    with torch.inference_mode():
        for b in range(0, len(x), batch_size):
            logits = model(torch.from_numpy(x[b : b + batch_size]))
            out[b : b + len(logits)] = torch.softmax(logits, dim=1).numpy()
    return out


def accuracy(model: nn.Module, x: np.ndarray, y: np.ndarray) -> float:
    return float((predict(model.eval(), x, 256).argmax(axis=1) == y).mean())


def describe() -> str:
    """torch version and the CPU features/threads it runs with."""
    return (
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, "
        f"CPU capability {torch.backends.cpu.get_cpu_capability()}, "
        f"mkldnn {torch.backends.mkldnn.is_available()}"
    )
