"""Sequential: building, shapes, prediction, summary, and the mini-batch training loop."""

from __future__ import annotations

import nnf
import numpy as np
import pytest
from model_gradcheck import central_difference
from nnf.errors import ConfigError, NotBuiltError, ShapeError, TrainingError
from nnf.layers import Dense, Softmax, Tanh


def mlp(dtype="float32", **kwargs):
    return nnf.Sequential(
        [Dense(output_size=8), Tanh(), Dense(output_size=3), Softmax()],
        input_shape=(4,),
        dtype=dtype,
        **kwargs,
    )


def blobs(n=240, seed=0):
    """Three separable clusters in 4-D, labels as class indices."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 3, size=n)
    centers = np.array([[2, 0, 0, 1], [-2, 1, 0, 0], [0, -2, 2, 0]], dtype=float)
    return (centers[labels] + 0.5 * rng.normal(size=(n, 4))).astype(np.float32), labels


def weights(model):
    return [p.copy() for _, p, _ in model.named_parameters()]


def test_build_infers_shapes_and_names():
    model = mlp().build(seed=0)
    assert [layer.out_shape for layer in model] == [(8,), (8,), (3,), (3,)]
    assert [layer.name for layer in model] == ["dense_0", "tanh_1", "dense_2", "softmax_3"]
    assert model.num_params == 4 * 8 + 8 + 8 * 3 + 3
    assert {p.dtype for _, p, _ in model.named_parameters()} == {np.dtype("float32")}


def test_same_seed_same_weights_other_seed_other_weights():
    a, b, c = mlp().build(seed=3), mlp().build(seed=3), mlp().build(seed=4)
    for x, y in zip(weights(a), weights(b)):
        np.testing.assert_array_equal(x, y)
    assert not np.array_equal(weights(a)[0], weights(c)[0])


def test_float64_on_request():
    model = mlp("float64").build(seed=0)
    assert {p.dtype for _, p, _ in model.named_parameters()} == {np.dtype("float64")}
    assert model.predict(np.zeros((2, 4))).dtype == np.float64


def test_predict_in_chunks_equals_one_forward():
    model = mlp().build(seed=1)
    x, _ = blobs(100)
    np.testing.assert_array_equal(model.predict(x, batch_size=7), model.forward(x))


def test_wrong_input_shape_names_expected_and_received():
    model = mlp().build(seed=1)
    with pytest.raises(ShapeError, match=r"\(4,\).*\(5, 3\)"):
        model.predict(np.zeros((5, 3)))


def test_model_without_input_shape_cannot_build():
    with pytest.raises(NotBuiltError, match="input_shape"):
        nnf.Sequential([Dense(output_size=3)]).build()
    with pytest.raises(ConfigError, match="no layers"):
        nnf.Sequential().build(input_shape=(3,))
    with pytest.raises(ConfigError, match=r"nnf\.Layer"):
        nnf.Sequential([object()])


def test_shape_error_names_the_breaking_layer():
    model = nnf.Sequential([Dense(output_size=3), Dense(5, 2)], input_shape=(4,))
    with pytest.raises(ShapeError, match="layer 1 dense_1"):
        model.build(seed=0)


def test_summary_table():
    text = mlp().build(seed=0).summary(print_fn=None)
    for expected in ["dense_0", "nnf.Dense.v1", "(None, 8)", "(None, 3)", "Total params: 67"]:
        assert expected in text


def test_fit_learns_and_reports_every_epoch():
    x, y = blobs()
    model = mlp()
    history = model.fit(
        x,
        y,
        epochs=15,
        batch_size=16,
        loss="categorical_crossentropy",
        optimizer="adam",
        learning_rate=0.01,
        validation_split=0.25,
        seed=0,
        verbose=0,
    )
    assert len(history) == 15
    assert history["loss"][-1] < history["loss"][0]
    assert history["val_accuracy"][-1] > 0.95
    assert set(history.epochs[0]) >= {"loss", "accuracy", "val_loss", "val_accuracy", "seconds"}
    assert model.evaluate(x, y)["accuracy"] > 0.95


def test_training_is_bit_reproducible_and_resumes_exactly():
    x, y = blobs()
    opts = dict(batch_size=32, loss="cce", optimizer="sgd", learning_rate=0.1, seed=5, verbose=0)
    a, b = mlp(), mlp()
    a.fit(x, y, epochs=4, **opts)
    b.fit(x, y, epochs=4, **opts)
    for p, q in zip(weights(a), weights(b)):
        np.testing.assert_array_equal(p, q)
    c = mlp()
    c.fit(x, y, epochs=2, **opts)
    c.fit(x, y, epochs=2, verbose=0)  # continues: same seed, loss and optimizer
    assert c.training_state["epoch"] == 4
    for p, q in zip(weights(a), weights(c)):
        np.testing.assert_array_equal(p, q)


def test_fused_softmax_gradient_equals_the_chain_rule():
    """The shortcut (p - y)/N into the Softmax input must equal Softmax.backward(dCE/dp)."""
    model = mlp("float64").build(seed=2)
    x, y = blobs(10)
    p = model.forward(x, training=True)
    loss = nnf.losses.get_loss("categorical_crossentropy")
    chain = model.layers[-1].backward(loss.gradient(y, p))
    fused = nnf.losses.SoftmaxCrossEntropy.gradient_from_probs(y, p)
    np.testing.assert_allclose(fused, chain, rtol=1e-9, atol=1e-12)


def test_whole_model_gradient_matches_central_differences():
    model = mlp("float64").build(seed=7)
    x, y = blobs(6)
    loss = nnf.losses.get_loss("categorical_crossentropy")
    model.zero_grad()
    model.backward(loss.gradient(y, model.forward(x)))
    for path, p, g in model.named_parameters():
        numeric = np.zeros_like(p)
        for i in np.ndindex(p.shape):
            numeric[i] = central_difference(model, loss, x, y, p, i)
        err = np.max(np.abs(g - numeric) / np.maximum(1e-8, np.abs(g) + np.abs(numeric)))
        assert err < 1e-6, path


def test_nan_loss_stops_and_keeps_the_last_good_weights():
    x, y = blobs(64)
    model = mlp()
    model.fit(x, y, epochs=1, loss="cce", optimizer="sgd", learning_rate=0.1, seed=0, verbose=0)
    good = weights(model)
    bad_x = x.copy()
    bad_x[40] = np.nan
    with pytest.raises(TrainingError, match="loss became nan"):
        model.fit(bad_x, y, epochs=1, shuffle=False, verbose=0)
    for p, q in zip(good, weights(model)):
        np.testing.assert_array_equal(p, q)


def test_fit_rejects_mismatched_data():
    model = mlp()
    with pytest.raises(ShapeError, match="x has 3 samples but y has 2"):
        model.fit(np.zeros((3, 4)), np.zeros(2, dtype=int), verbose=0)
    with pytest.raises(ConfigError, match="validation_split"):
        model.fit(np.zeros((3, 4)), np.zeros(3, dtype=int), validation_split=1.5, verbose=0)


def test_callbacks_can_stop_training():
    class StopAfterTwo:
        def on_epoch_end(self, epoch, logs, model):
            return epoch >= 1

    x, y = blobs(32)
    history = mlp().fit(x, y, epochs=10, loss="cce", callbacks=[StopAfterTwo()], verbose=0)
    assert len(history) == 2


def test_backward_parameters_gives_the_same_parameter_gradients_without_dx():
    model = mlp("float64").build(seed=3)
    x, y = blobs(8)
    loss = nnf.losses.get_loss("categorical_crossentropy")
    first = model.layers[0]
    model.zero_grad()
    assert model.backward(loss.gradient(y, model.forward(x))) is not None
    full = {k: g.copy() for k, g in first.grads.items()}
    model.zero_grad()
    model.backward_parameters(loss.gradient(y, model.forward(x)))
    for k, g in first.grads.items():  # the parameter gradients do not change
        np.testing.assert_array_equal(g, full[k])


def test_convolution_first_layer_skips_its_input_gradient_with_the_same_kernel_gradient():
    from nnf.layers import Convolutional, Flatten

    conv = Convolutional(kernel_size=3, depth=2, stride=2, padding="same")
    model = nnf.Sequential(
        [conv, Flatten(), Dense(output_size=2)], input_shape=(2, 7, 6), dtype="float64"
    ).build(seed=0)
    x = np.random.default_rng(0).normal(size=(4, 2, 7, 6))
    g = np.random.default_rng(1).normal(size=(4, 2))
    model.forward(x)
    model.zero_grad()
    assert model.backward(g).shape == x.shape
    full = {k: v.copy() for k, v in conv.grads.items()}
    model.zero_grad()
    model.forward(x)
    model.backward_parameters(g)
    for k, v in conv.grads.items():
        np.testing.assert_array_equal(v, full[k])


@pytest.mark.parametrize("shape", ["784", [28.9], [0, 3], [True], None.__class__])
def test_bad_input_shapes_are_refused(shape):
    with pytest.raises(ShapeError, match="positive integers"):
        nnf.Sequential([Dense(output_size=2)], input_shape=shape)


def test_summary_before_fit_does_not_change_the_seeded_result():
    x, y = blobs(64)
    opts = dict(epochs=2, loss="cce", optimizer="sgd", learning_rate=0.1, seed=11, verbose=0)
    plain, summarised = mlp(), mlp()
    summarised.summary(print_fn=None)  # builds with a seed nobody chose
    plain.fit(x, y, **opts)
    summarised.fit(x, y, **opts)
    for p, q in zip(weights(plain), weights(summarised)):
        np.testing.assert_array_equal(p, q)
    chosen = mlp().build(seed=1)
    before = weights(chosen)
    chosen.fit(x, y, epochs=0, seed=2, verbose=0)  # an explicit build() seed is kept
    for p, q in zip(before, weights(chosen)):
        np.testing.assert_array_equal(p, q)
