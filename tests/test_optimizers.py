"""Optimizers against textbook reference updates, and exact resumption from their state."""

from __future__ import annotations

import numpy as np
import pytest
from nnf.errors import ConfigError
from nnf.optimizers import SGD, Adam, AdamW, RMSprop, from_state_dict, get_optimizer

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


def reference_rmsprop(p0, grads, lr, rho=0.9, eps=1e-7, momentum=0.0, centered=False, wd=0.0):
    """Written from the formula (PyTorch's RMSprop with Keras's defaults), not from nnf's code."""
    p, v, a, b = p0.copy(), np.zeros_like(p0), np.zeros_like(p0), np.zeros_like(p0)
    for g in grads:
        g = g + wd * p
        v = rho * v + (1 - rho) * g**2
        a = rho * a + (1 - rho) * g
        denominator = np.sqrt(v - a**2 if centered else v) + eps
        b = momentum * b + g / denominator
        p = p - lr * b
    return p


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"momentum": 0.9},
        {"centered": True},
        {"momentum": 0.5, "centered": True, "weight_decay": 0.1, "rho": 0.8},
    ],
)
def test_rmsprop_matches_reference(options):
    got = run(RMSprop(learning_rate=0.01, **options), P0, GRADS)
    np.testing.assert_allclose(
        got,
        reference_rmsprop(
            P0, GRADS, 0.01, **{{"weight_decay": "wd"}.get(k, k): v for k, v in options.items()}
        ),
        rtol=1e-12,
    )


def test_adamw_is_adam_with_decoupled_decay_by_default():
    assert AdamW().weight_decay == 0.01 and Adam().weight_decay == 0.0
    got = run(AdamW(learning_rate=0.01), P0, GRADS)
    np.testing.assert_allclose(got, reference_adam(P0, GRADS, 0.01, wd=0.01), rtol=1e-10)
    # Decoupled: the decay does not pass through m and v, unlike L2 added to the gradient.
    l2 = [g + 0.01 * P0 for g in GRADS[:1]]
    assert not np.allclose(run(AdamW(0.01), P0, GRADS[:1]), run(Adam(0.01, 0.0), P0, l2))
    assert get_optimizer("adamw").name == "adamw" and type(get_optimizer("adamw")) is AdamW


def test_positional_arguments_are_learning_rate_then_weight_decay():
    for cls in (SGD, Adam, AdamW, RMSprop):
        opt = cls(0.5, 0.25)
        assert (opt.learning_rate, opt.weight_decay) == (0.5, 0.25)


def reference_clip(grads, clipnorm=None, clipvalue=None):
    """Per step: scale all gradients to a global norm <= clipnorm, then clip each value."""
    grads = [g.copy() for g in grads]
    if clipnorm is not None:
        norm = np.sqrt(sum(np.sum(g**2) for g in grads))
        if norm > clipnorm:
            grads = [g * clipnorm / norm for g in grads]
    if clipvalue is not None:
        grads = [np.clip(g, -clipvalue, clipvalue) for g in grads]
    return grads


@pytest.mark.parametrize(
    "clip", [{"clipnorm": 1.5}, {"clipvalue": 0.3}, {"clipnorm": 2.0, "clipvalue": 0.5}]
)
@pytest.mark.parametrize("make", [SGD, Adam, AdamW, RMSprop])
def test_clipping_equals_the_update_on_clipped_gradients(clip, make):
    # Two parameters: the norm is taken over both together.
    q0 = RNG.normal(size=5)
    steps = [(g, RNG.normal(size=5) * 3) for g in GRADS]
    clipped, plain = make(0.01, **clip), make(0.01)
    p1, q1, p2, q2 = P0.copy(), q0.copy(), P0.copy(), q0.copy()
    for g, h in steps:
        clipped.step([("a.w", p1, g.copy()), ("b.w", q1, h.copy())])
        cg, ch = reference_clip([g, h], **clip)
        plain.step([("a.w", p2, cg), ("b.w", q2, ch)])
    np.testing.assert_allclose(p1, p2, rtol=1e-12)
    np.testing.assert_allclose(q1, q2, rtol=1e-12)
    assert not np.allclose(p1, run(make(0.01), P0, GRADS))  # clipping changed something


def test_clipnorm_keeps_the_direction_and_small_gradients_alone():
    opt = SGD(1.0, clipnorm=1.0)
    p, g = np.zeros(2), np.array([3.0, 4.0])
    opt.step([("a.w", p, g)])
    np.testing.assert_allclose(p, [-0.6, -0.8], rtol=1e-15)
    p, g = np.zeros(2), np.array([0.3, 0.4])
    opt.step([("a.w", p, g)])
    np.testing.assert_array_equal(p, [-0.3, -0.4])


ALL = [
    lambda: Adam(0.01),
    lambda: SGD(0.1, momentum=0.9),
    lambda: AdamW(0.01, clipnorm=2.0),
    lambda: RMSprop(0.01, momentum=0.9, centered=True, clipvalue=0.5),
]


@pytest.mark.parametrize("make", ALL)
def test_state_dict_resumes_exactly(make):
    straight = run(make(), P0, GRADS)
    first = make()
    p = run(first, P0, GRADS[:3])
    resumed = from_state_dict(first.state_dict())
    for g in GRADS[3:]:
        resumed.step([("layer.w", p, g.copy())])
    np.testing.assert_array_equal(p, straight)


def test_float32_parameters_stay_float32():
    for opt in (
        Adam(),
        SGD(momentum=0.9),
        AdamW(clipnorm=0.1),
        RMSprop(momentum=0.9, centered=True),
    ):
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
        get_optimizer("adagrad")
    for bad in ({"clipnorm": 0}, {"clipvalue": -1.0}, {"clipnorm": float("nan")}):
        with pytest.raises(ConfigError, match="must be a number > 0"):
            get_optimizer("adam", **bad)
    with pytest.raises(ConfigError, match="rho"):
        RMSprop(rho=1.0)
    assert isinstance(get_optimizer("adam", learning_rate=0.1), Adam)


@pytest.mark.parametrize(
    ("opt", "rate"),
    [
        (SGD(0.1), 0.1),
        (SGD(0.1, momentum=0.9), None),
        (SGD(0.1, weight_decay=1e-4), None),
        (SGD(0.1, clipnorm=1.0), None),
        (SGD(0.1, clipvalue=1.0), None),
        (Adam(0.1), None),
    ],
)
def test_only_plain_sgd_offers_its_step_to_the_layers(opt, rate) -> None:
    assert opt.plain_rate() == rate


def _trained(optimizer, parallel: str = "single"):
    from nnf import Sequential
    from nnf.layers import Convolutional, Dense, Flatten, MaxPool2D, ReLU, Sigmoid, Softmax

    model = Sequential(
        [
            Convolutional(kernel_size=3, depth=4, bias="position"),
            ReLU(),
            MaxPool2D(2),  # runs fused with the convolution
            Flatten(),
            Dense(output_size=12),
            Sigmoid(),
            Dense(output_size=3),
            Softmax(),
        ],
        input_shape=(1, 8, 8),
    ).build(seed=3)
    model.cast("float64")
    rng = np.random.default_rng(4)
    x, y = rng.random((40, 1, 8, 8)), rng.integers(0, 3, 40)
    history = model.fit(
        x, y, epochs=3, batch_size=8, optimizer=optimizer, seed=5, verbose=0, parallel=parallel
    )
    return model, optimizer, history


def test_plain_sgd_taken_by_the_layers_during_backward_trains_as_the_optimizer_step() -> None:
    """The fused step (each layer's ``backward(g, lr)``) against ``SGD.step`` after backward:
    a clipnorm no gradient reaches turns the fusion off and changes nothing else."""

    def no_update(*_args) -> None:
        raise AssertionError("SGD.step ran: the layers did not take the step")

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(SGD, "_update", no_update)
        fused, opt, history = _trained(SGD(0.5))
    stepped, opt_ref, history_ref = _trained(SGD(0.5, clipnorm=1e9))
    assert opt.plain_rate() == 0.5 and opt_ref.plain_rate() is None
    assert opt.iterations == opt_ref.iterations == 15  # 3 epochs of 5 batches
    np.testing.assert_allclose(history["loss"], history_ref["loss"], rtol=1e-12)
    for (name, p, g), (_, q, _) in zip(fused.named_parameters(), stepped.named_parameters()):
        np.testing.assert_allclose(p, q, rtol=1e-10, atol=1e-13, err_msg=name)
        assert not g.any(), f"{name}: gradients left non-zero"
    assert history["loss"][-1] < history["loss"][0]  # it learned something


def test_a_backend_that_splits_batches_refuses_a_fused_step() -> None:
    from nnf import Sequential
    from nnf.layers import Dense
    from nnf.parallel.replicas import Replicas

    model = Sequential([Dense(output_size=3)], input_shape=(2,)).build(seed=0)
    runner = Replicas(model.layers, parts=2, least=1)
    runner.forward(np.ones((4, 2), np.float32), training=True)
    with pytest.raises(TypeError, match="this threads runtime cannot step the layers"):
        runner.backward_sgd(np.ones((4, 3), np.float32), 1, 0.1)
    runner.backward(np.ones((4, 3), np.float32), 1)  # the unfused call still works
    assert model.layers[0].grads["bias"].tolist() == [4.0, 4.0, 4.0]


def test_an_sgd_subclass_with_its_own_update_keeps_it() -> None:
    import attrs

    @attrs.define(eq=False)
    class FrozenBias(SGD):
        def _update(self, path: str, p: np.ndarray, g: np.ndarray) -> None:
            if not path.endswith("bias"):
                super()._update(path, p, g)

    assert FrozenBias(0.5).plain_rate() is None
    model, _, _ = _trained(FrozenBias(0.5))
    for name, p, _ in model.named_parameters():
        if name.endswith("bias") and "dense" in name.lower():
            assert not p.any(), f"{name} moved: the subclass's update did not run"


def test_a_layer_overriding_backward_trains_with_plain_sgd_through_the_optimizer() -> None:
    """A plugin written against ``backward(g)`` (off the documented contract, which is
    ``_backward``) gets the plain calls and the optimizer's step, as before the fused step."""
    import attrs
    from nnf import Layer, Sequential
    from nnf.layers import Dense
    from nnf.parallel.single import Runtime

    @attrs.define(eq=False)
    class Doubling(Layer):
        key = "test.Doubling.v1"
        keeps = ()

        def forward(self, x, training: bool = False) -> np.ndarray:
            self.input = x
            return x * 2.0

        def _backward(self, g: np.ndarray) -> np.ndarray:
            return g * 2.0

        def backward(self, output_gradient):  # type: ignore[override]
            return super().backward(output_gradient)

    model = Sequential([Dense(output_size=3), Doubling(), Dense(output_size=1)], input_shape=(4,))
    model.build(seed=0)
    assert not Runtime(model.layers).fuses_sgd
    before = [p.copy() for _, p, _ in model.named_parameters()]
    rng = np.random.default_rng(0)
    x, y = rng.random((16, 4)), rng.random((16, 1))
    model.fit(x, y, epochs=2, batch_size=8, optimizer=SGD(0.1), loss="mse", verbose=0, seed=0)
    after = list(model.named_parameters())
    assert all(not np.array_equal(b, p) for b, (_, p, _) in zip(before, after))
    assert all(not g.any() for _, _, g in after)
