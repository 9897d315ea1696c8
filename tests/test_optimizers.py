"""Optimizers against textbook reference updates, and exact resumption from their state."""

from __future__ import annotations

import numpy as np
import pytest
from nnf.errors import ConfigError
from nnf.optimizers import SGD, Adam, from_state_dict, get_optimizer

RNG = np.random.default_rng(1)


def run(opt, p0, grads):
    p = p0.copy()
    for g in grads:
        opt.step([("layer.w", p, g.copy())])
    return p


def reference_sgd(p0, grads, lr, momentum=0.0, nesterov=False, wd=0.0):
    p, v = p0.copy(), np.zeros_like(p0)
    for g in grads:
        g = g + wd * p
        if momentum:
            v = momentum * v + g
            g = g + momentum * v if nesterov else v
        p = p - lr * g
    return p


def reference_adam(p0, grads, lr, b1=0.9, b2=0.999, eps=1e-8, wd=0.0):
    p, m, v = p0.copy(), np.zeros_like(p0), np.zeros_like(p0)
    for t, g in enumerate(grads, start=1):
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        p = p * (1 - lr * wd)
        p = p - lr * (m / (1 - b1**t)) / (np.sqrt(v / (1 - b2**t)) + eps)
    return p


P0 = RNG.normal(size=(3, 4))
GRADS = [RNG.normal(size=(3, 4)) for _ in range(7)]


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"momentum": 0.9},
        {"momentum": 0.9, "nesterov": True},
        {"momentum": 0.5, "weight_decay": 0.1},
    ],
)
def test_sgd_matches_reference(options):
    got = run(SGD(learning_rate=0.05, **options), P0, GRADS)
    ref = reference_sgd(
        P0,
        GRADS,
        0.05,
        options.get("momentum", 0.0),
        options.get("nesterov", False),
        options.get("weight_decay", 0.0),
    )
    np.testing.assert_allclose(got, ref, rtol=1e-12)


@pytest.mark.parametrize("wd", [0.0, 0.01])
def test_adam_matches_reference(wd):
    got = run(Adam(learning_rate=0.01, weight_decay=wd), P0, GRADS)
    np.testing.assert_allclose(got, reference_adam(P0, GRADS, 0.01, wd=wd), rtol=1e-10)


@pytest.mark.parametrize("make", [lambda: Adam(0.01), lambda: SGD(0.1, momentum=0.9)])
def test_state_dict_resumes_exactly(make):
    straight = run(make(), P0, GRADS)
    first = make()
    p = run(first, P0, GRADS[:3])
    resumed = from_state_dict(first.state_dict())
    for g in GRADS[3:]:
        resumed.step([("layer.w", p, g.copy())])
    np.testing.assert_array_equal(p, straight)


def test_float32_parameters_stay_float32():
    for opt in (Adam(), SGD(momentum=0.9)):
        p = np.ones(5, dtype=np.float32)
        opt.step([("a.w", p, np.ones(5, dtype=np.float32))])
        assert p.dtype == np.float32
        assert all(s.dtype == np.float32 for t in opt.slots.values() for s in t.values())


def test_bad_options_are_config_errors():
    with pytest.raises(ConfigError, match="nesterov"):
        SGD(nesterov=True)
    with pytest.raises(ConfigError, match="learning_rate"):
        Adam(learning_rate=-1)
    with pytest.raises(ConfigError, match="valid options"):
        get_optimizer("sgd", betas=1)
    with pytest.raises(ConfigError, match="unknown optimizer"):
        get_optimizer("rmsprop")
    assert isinstance(get_optimizer("adam", learning_rate=0.1), Adam)
