"""No lost weights: built layers are adopted, fit never re-draws, trained models save."""

from __future__ import annotations

import nnf
import numpy as np
from nnf.layers import Dense, Tanh
from nnf.losses import mse, mse_prime

X = np.reshape([[0, 0], [0, 1], [1, 0], [1, 1]], (4, 2, 1))
Y = np.reshape([[0], [1], [1], [0]], (4, 1, 1))


def tutorial_xor() -> list:
    np.random.seed(0)
    network = [Dense(2, 3), Tanh(), Dense(3, 1), Tanh()]
    nnf.train(network, mse, mse_prime, X, Y, epochs=1000, learning_rate=0.1, verbose=False)
    return network


def test_tutorial_xor_wrapped_in_sequential_predicts_the_same_and_round_trips(tmp_path) -> None:
    network = tutorial_xor()
    expected = np.stack([nnf.predict(network, x) for x in X])
    assert np.abs(expected.ravel() - Y.ravel()).max() < 0.2  # it learned XOR
    weights = [p.copy() for layer in network for p in layer.params.values()]
    # the layers were built for rows (2,): the model takes the tutorial's column data and
    # answers in rows; given input_shape=(2, 1) it answers in the tutorial's columns. A batch
    # of 4 runs other BLAS calls than 4 single samples: equal to float32 rounding.
    rows = nnf.Sequential(network)
    np.testing.assert_allclose(rows.predict(X), expected.reshape(4, 1), rtol=1e-6, atol=1e-7)
    model = nnf.Sequential(network, input_shape=(2, 1))
    predicted = model.predict(X)
    np.testing.assert_allclose(predicted, expected, rtol=1e-6, atol=1e-7)
    for layer, p in zip([lay for lay in network if lay.params], weights[::2]):
        np.testing.assert_array_equal(layer.params["weights"], p)
    model.save(tmp_path / "xor.nnf")
    loaded = nnf.load(tmp_path / "xor.nnf")
    for a, b in zip(model.named_parameters(), loaded.named_parameters()):
        assert a[0] == b[0]
        np.testing.assert_array_equal(a[1], b[1])
        assert a[1].dtype == b[1].dtype
    np.testing.assert_array_equal(loaded.predict(X), predicted)


def test_a_sequential_trained_through_nnf_train_saves(tmp_path) -> None:
    np.random.seed(1)
    model = nnf.Sequential([Dense(2, 3), Tanh(), Dense(3, 1), Tanh()])
    nnf.train(model, mse, mse_prime, X, Y, epochs=200, learning_rate=0.1, verbose=False)
    expected = np.stack([nnf.predict(model, x) for x in X])
    model.save(tmp_path / "trained.nnf")
    np.testing.assert_array_equal(nnf.load(tmp_path / "trained.nnf").predict(X), expected)


def test_hand_set_weights_survive_fit_with_learning_rate_zero() -> None:
    model = nnf.Sequential([Dense(output_size=3), Tanh(), Dense(output_size=1)], input_shape=(2,))
    model.build()  # no seed: a random one is chosen and kept
    assert model.seed is not None
    for i, (_, p, _) in enumerate(model.named_parameters()):
        p[...] = np.arange(p.size, dtype=p.dtype).reshape(p.shape) * 0.01 + i
    before = [p.copy() for _, p, _ in model.named_parameters()]
    x, y = np.random.default_rng(0).random((16, 2)), np.zeros((16, 1))
    model.fit(x, y, epochs=2, optimizer="sgd", learning_rate=0, seed=5, verbose=0)
    for (_, p, _), q in zip(model.named_parameters(), before):
        np.testing.assert_array_equal(p, q)


def test_predict_then_fit_keeps_the_weights_predict_drew() -> None:
    model = nnf.Sequential([Dense(output_size=2)], input_shape=(3,))
    model.predict(np.ones((1, 3)))
    before = model.layers[0].params["weights"].copy()
    model.fit(np.ones((4, 3)), np.zeros((4, 2)), epochs=0, seed=3, verbose=0)
    np.testing.assert_array_equal(model.layers[0].params["weights"], before)


def test_adopted_layer_whose_weights_do_not_fit_is_refused() -> None:
    import pytest
    from nnf.errors import ShapeError

    with pytest.raises(ShapeError, match="holds weights for inputs shaped"):
        nnf.Sequential([layer := Dense(2, 3)], input_shape=(4,)).build()
    assert layer.params["weights"].shape == (3, 2)  # the layer is left as it was
    assert layer.in_shape == (2,)


def test_float64_layers_make_a_float64_model() -> None:
    layer = Dense(2, 3)
    layer.cast("float64")
    model = nnf.Sequential([layer])
    assert model.dtype == np.float64
