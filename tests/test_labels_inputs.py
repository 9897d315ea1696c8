"""One rule for fit, evaluate, predict and the CLI: default loss, label forms, input layout."""

from __future__ import annotations

import attrs
import nnf
import numpy as np
import pytest
from nnf.errors import DataError, ShapeError
from nnf.inputs import prepare_inputs
from nnf.labels import CLASSIFICATION, REGRESSION, encode_targets
from nnf.layers import Convolutional, Dense, Flatten, ReLU, Sigmoid, Softmax
from nnf.losses import default_loss


def blobs(n: int = 64, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, size=n)
    x = rng.normal(size=(n, 4)).astype(np.float32) + np.eye(3, 4, dtype=np.float32)[y] * 2
    return x, y


def classifier(last: nnf.Layer | None = None, outputs: int = 3) -> nnf.Sequential:
    layers = [Dense(output_size=8), ReLU(), Dense(output_size=outputs)]
    return nnf.Sequential([*layers, *([last] if last else [])], input_shape=(4,)).build(seed=0)


def weights(model: nnf.Sequential) -> list[np.ndarray]:
    return [p.copy() for _, p, _ in model.named_parameters()]


# ---------------------------------------------------------------------- default loss
def test_default_loss_follows_the_last_layer() -> None:
    assert default_loss(classifier(Softmax())) == "categorical_crossentropy"
    assert default_loss(classifier(Sigmoid(), outputs=1)) == "binary_crossentropy"
    assert default_loss(classifier(Sigmoid(), outputs=3)) == "mse"  # several outputs
    assert default_loss(classifier()) == "mse"


def test_a_third_party_layer_declares_its_default_loss() -> None:
    @attrs.define(eq=False)
    class MySoftmax(Softmax):
        key = "acme.MySoftmax.v1"

    @attrs.define(eq=False)
    class Plain(ReLU):
        key = "acme.Plain.v1"
        default_loss = "categorical_crossentropy"

    assert default_loss(classifier(MySoftmax())) == "categorical_crossentropy"
    assert default_loss(classifier(Plain())) == "categorical_crossentropy"


def test_fit_on_a_softmax_classifier_with_integer_labels_uses_cross_entropy() -> None:
    x, y = blobs()
    model = classifier(Softmax())
    model.fit(x, y, epochs=1, verbose=0, seed=0)  # was mse and a ShapeError
    assert model.loss is not None and model.loss.name == "categorical_crossentropy"


# ---------------------------------------------------------------------- label forms
def test_every_label_form_trains_the_same_weights() -> None:
    x, y = blobs()
    names = np.array(["bird", "cat", "dog"])
    forms = {
        "integers": y,
        "integral floats": y.astype(np.float64),
        "column": y[:, None],
        "one-hot": np.eye(3)[y],
        "strings": names[y],
    }
    trained = {}
    for form, labels in forms.items():
        model = nnf.Sequential(
            [Dense(output_size=8), ReLU(), Dense(output_size=3), Softmax()], input_shape=(4,)
        )
        model.fit(x, labels, epochs=2, verbose=0, seed=0, validation_split=0.25)
        trained[form] = weights(model)
    for form, got in trained.items():
        for a, b in zip(got, trained["integers"]):
            np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7, err_msg=form)


def test_string_labels_keep_their_names_in_the_model_file(tmp_path) -> None:
    x, y = blobs()
    names = np.array(["bird", "cat", "dog"])
    model = classifier(Softmax())
    model.fit(x, names[y], epochs=3, verbose=0, seed=0)
    assert model.class_names == ("bird", "cat", "dog")
    model.save(tmp_path / "m.nnf")
    loaded = nnf.load(tmp_path / "m.nnf")
    assert loaded.class_names == ("bird", "cat", "dog")
    predicted = loaded.predict_classes(x)
    assert set(predicted) <= set(names) and predicted.dtype.kind == "U"
    np.testing.assert_array_equal(predicted, names[loaded.predict(x).argmax(axis=1)])
    # evaluate takes the names too, and agrees with integer labels
    assert loaded.evaluate(x, names[y]) == loaded.evaluate(x, y)
    with pytest.raises(DataError, match="fish"):
        loaded.evaluate(x[:2], np.array(["cat", "fish"]))


def test_bad_labels_say_what_fits() -> None:
    model = classifier(Softmax())
    with pytest.raises(ShapeError, match="whole numbers"):
        encode_targets(np.array([0.5, 1.0]), model, "categorical_crossentropy")
    with pytest.raises(ShapeError, match="5 classes"):
        encode_targets(np.array([0, 4]), model, "categorical_crossentropy")
    with pytest.raises(ShapeError, match=r"\(N, 3\)"):
        encode_targets(np.zeros((2, 4)), model, "mse")


def test_regression_targets_have_no_accuracy() -> None:
    rng = np.random.default_rng(0)
    x = rng.uniform(-3, 3, size=(200, 1)).astype(np.float32)
    y = np.sin(x[:, 0])
    model = nnf.Sequential([Dense(output_size=16), nnf.layers.Tanh(), Dense(output_size=1)])
    history = model.fit(
        x, y, epochs=40, learning_rate=0.02, verbose=0, seed=0, validation_split=0.2
    )
    assert model.loss is not None and model.loss.name == "mse"
    assert "accuracy" not in history.epochs[-1] and "val_accuracy" not in history.epochs[-1]
    assert {"mae", "val_mae", "val_rmse", "val_r2"} <= set(history.epochs[-1])
    scores = model.evaluate(x, y)
    assert set(scores) == {"loss", "mae", "rmse", "r2"}
    assert scores["r2"] > 0.9
    assert encode_targets(y, model, "mse").task == REGRESSION
    assert encode_targets((y > 0).astype(int), model, "binary_crossentropy").task == CLASSIFICATION


# ---------------------------------------------------------------------- inputs
def test_uint8_is_scaled_the_same_in_fit_and_predict() -> None:
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, size=(8, 4), dtype=np.uint8)
    model = classifier(Softmax())
    np.testing.assert_array_equal(model.predict(pixels), model.predict(pixels / np.float32(255)))
    a, b = classifier(Softmax()), classifier(Softmax())
    y = np.arange(8) % 3
    a.fit(pixels, y, epochs=2, verbose=0, seed=0)
    b.fit((pixels.astype(np.float32) / np.float32(255)), y, epochs=2, verbose=0, seed=0)
    for p, q in zip(weights(a), weights(b)):
        np.testing.assert_array_equal(p, q)


def cnn(channels: int) -> nnf.Sequential:
    layers = [
        Convolutional(kernel_size=3, depth=2, bias="channel"),
        Flatten(),
        Dense(output_size=2),
    ]
    return nnf.Sequential(layers, input_shape=(channels, 6, 5)).build(seed=0)


@pytest.mark.parametrize("channels", [1, 3])
def test_channels_last_images_are_transposed(channels: int) -> None:
    rng = np.random.default_rng(0)
    chw = rng.normal(size=(4, channels, 6, 5)).astype(np.float32)
    model = cnn(channels)
    expected = model.predict(chw)
    np.testing.assert_array_equal(model.predict(chw.transpose(0, 2, 3, 1)), expected)
    if channels == 1:
        np.testing.assert_array_equal(model.predict(chw[:, 0]), expected)  # no channel axis
        np.testing.assert_array_equal(model.predict(chw.reshape(4, 30)), expected)  # flat rows


def test_channels_last_with_the_wrong_channel_count_is_refused() -> None:
    model = cnn(3)
    with pytest.raises(ShapeError) as info:
        model.predict(np.zeros((4, 6, 5, 4), np.float32))
    assert "channels-last" in str(info.value) and "4 channels" in str(info.value)


def test_same_size_in_another_order_is_refused_not_reshaped() -> None:
    model = cnn(3)
    with pytest.raises(ShapeError) as info:
        model.predict(np.zeros((4, 90), np.float32))  # could be CHW or HWC: nnf won't guess
    assert "transpose" in str(info.value) and "(3, 6, 5)" in str(info.value)


def test_one_sample_is_accepted_and_a_mismatch_shows_the_difference() -> None:
    model = cnn(1)
    rng = np.random.default_rng(0)
    sample = rng.normal(size=(1, 6, 5)).astype(np.float32)
    np.testing.assert_array_equal(model.predict(sample), model.predict(sample[None]))
    np.testing.assert_array_equal(model.predict(sample[0]), model.predict(sample[None]))
    with pytest.raises(ShapeError) as info:
        model.predict(np.zeros((2, 7, 5), np.float32))
    message = str(info.value)
    assert "(1, 6, 5)" in message and "2 samples shaped (7, 5)" in message


def test_text_is_not_an_input() -> None:
    with pytest.raises(DataError, match="not numbers"):
        prepare_inputs(np.array([["a", "b"]]), cnn(1))


def test_evaluate_before_training_uses_the_default_loss() -> None:
    x, y = blobs()
    scores = classifier(Softmax()).evaluate(x, y)  # was: "evaluate needs a loss"
    assert set(scores) == {"loss", "accuracy"}
    expected = nnf.losses.get_loss("categorical_crossentropy")(y, classifier(Softmax()).predict(x))
    assert scores["loss"] == pytest.approx(expected)


def test_integer_targets_of_one_output_are_a_regression_unless_zero_one() -> None:
    model = nnf.Sequential([Dense(output_size=1)], input_shape=(4,)).build(seed=0)
    prices = np.array([250_000, 310_000, 199_000])
    assert encode_targets(prices, model, "mse").task == REGRESSION
    assert encode_targets(np.array([0, 1, 1]), model, "mse").task == CLASSIFICATION
    with pytest.raises(ShapeError, match="labels 0 and 1"):
        encode_targets(prices, model, "binary_crossentropy")


def test_many_classes_for_a_single_output_are_refused() -> None:
    model = nnf.Sequential([Dense(output_size=1)], input_shape=(4,)).build(seed=0)
    names = [str(i) for i in range(10)]
    with pytest.raises(ShapeError, match="10 classes but the model has a single output"):
        encode_targets(np.arange(10), model, "mse", class_names=names)


def test_sequential_fit_shows_the_same_parameters_as_training_fit() -> None:
    import inspect

    from nnf.training import fit

    method = list(inspect.signature(nnf.Sequential.fit).parameters.values())[1:]
    function = list(inspect.signature(fit).parameters.values())[1:]
    assert [(p.name, p.default) for p in method] == [(p.name, p.default) for p in function]
    assert "callbacks" in [p.name for p in method] and "options" not in str(method)


def test_one_image_fits_a_flat_model() -> None:
    model = nnf.Sequential([Dense(output_size=2)], input_shape=(30,)).build(seed=0)
    image = np.arange(30, dtype=np.float32).reshape(6, 5)
    np.testing.assert_array_equal(model.predict(image), model.predict(image.reshape(1, 30)))
