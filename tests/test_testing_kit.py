"""nnf.testing.check_layer: every built-in layer passes it, and it catches broken layers."""

from __future__ import annotations

from typing import Any

import attrs
import nnf
import numpy as np
import pytest
from builtin_layer_cases import CASES, case_id
from nnf.registry import REGISTRY, Registry
from nnf.testing import CHECKS, LayerCheckError, LayerReport, check_layer


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_every_builtin_layer_passes_the_kit(case):
    key, config, shape = case
    report = check_layer(nnf.get_layer(key), config, shape)
    assert report.passed == list(CHECKS)
    gradient_errors = [v for k, v in report.figures.items() if k.startswith("gradient.")]
    assert gradient_errors and max(gradient_errors) < 1e-6


def test_the_cases_cover_every_builtin_layer():
    builtin = {e.key for e in Registry().entries() if e.builtin}
    assert builtin == {key for key, _, _ in CASES}


# ------------------------------------------------------------------ layers for the kit
@attrs.define(eq=False)
class Gain(nnf.Layer):
    """A correct layer with a parameter: y = gain * x (per feature)."""

    key = "kittest.Gain.v1"
    keeps = ()

    def _build(self, input_shape, rng, dtype):
        self.params["gain"] = (1 + rng.standard_normal(input_shape)).astype(dtype)
        return input_shape

    def forward(self, x, training=False):
        self.input = np.asarray(x, dtype=self.dtype)
        return self.input * self.params["gain"]

    def _backward(self, output_gradient):
        self.grads["gain"] += np.sum(output_gradient * self.input, axis=0)
        return output_gradient * self.params["gain"]


@attrs.define(eq=False)
class WrongInputGradient(nnf.Layer):
    key = "kittest.WrongInputGradient.v1"
    keeps = ()

    def forward(self, x, training=False):
        self.output = np.tanh(x)
        return self.output

    def _backward(self, output_gradient):
        return output_gradient * (1 - self.output)  # should be 1 - y**2


@attrs.define(eq=False)
class WrongParamGradient(Gain):
    key = "kittest.WrongParamGradient.v1"

    def _backward(self, output_gradient):
        self.grads["gain"] += np.sum(output_gradient, axis=0)  # forgot the input
        return output_gradient * self.params["gain"]


@attrs.define(eq=False)
class Overwrites(Gain):
    key = "kittest.Overwrites.v1"

    def _backward(self, output_gradient):
        self.grads["gain"][...] = np.sum(output_gradient * self.input, axis=0)  # = not +=
        return output_gradient * self.params["gain"]


@attrs.define(eq=False)
class DropsOption(nnf.Layer):
    key = "kittest.DropsOption.v1"
    keeps = ()
    factor: float = 2.0

    def get_config(self) -> dict[str, Any]:
        return {}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def forward(self, x, training=False):
        return x * self.factor

    def _backward(self, output_gradient):
        return output_gradient * self.factor


@attrs.define(eq=False)
class TupleConfig(nnf.Layer):
    key = "kittest.TupleConfig.v1"
    keeps = ()
    axes: Any = (1,)

    def get_config(self) -> dict[str, Any]:
        return {"axes": tuple(self.axes)}  # JSON turns it into a list

    def forward(self, x, training=False):
        return x

    def _backward(self, output_gradient):
        return output_gradient


@attrs.define(eq=False)
class BatchDependent(nnf.Layer):
    key = "kittest.BatchDependent.v1"
    keeps = ()

    def forward(self, x, training=False):
        return x - x.mean(axis=0)  # batch statistics even in inference

    def _backward(self, output_gradient):
        return output_gradient - output_gradient.mean(axis=0)


@attrs.define(eq=False)
class Upcasts(nnf.Layer):
    key = "kittest.Upcasts.v1"
    keeps = ()

    def forward(self, x, training=False):
        return x * np.array(2.0)[None]  # a float64 array turns float32 into float64

    def _backward(self, output_gradient):
        return output_gradient * np.array(2.0)[None]


@attrs.define(eq=False)
class GlobalRandom(nnf.Layer):
    key = "kittest.GlobalRandom.v1"
    keeps = ("mask",)

    def forward(self, x, training=False):
        self.mask = (np.random.rand(*x.shape) > 0.5) if training else np.ones(x.shape, bool)
        return x * self.mask

    def _backward(self, output_gradient):
        return output_gradient * self.mask


@attrs.define(eq=False)
class InferenceCounts(nnf.Layer):
    key = "kittest.InferenceCounts.v1"
    keeps = ()

    def _build(self, input_shape, rng, dtype):
        self.state["calls"] = np.zeros(1, dtype=dtype)
        return input_shape

    def forward(self, x, training=False):
        self.state["calls"] += 1  # inference must change nothing
        return x

    def _backward(self, output_gradient):
        return output_gradient


@attrs.define(eq=False)
class BadSGD(Gain):
    key = "kittest.BadSGD.v1"

    def _backward_sgd(self, output_gradient, learning_rate):
        return super()._backward_sgd(output_gradient, 2 * learning_rate)


@attrs.define(eq=False)
class WrongShape(nnf.Layer):
    key = "kittest.WrongShape.v1"
    keeps = ()

    def _build(self, input_shape, rng, dtype):
        return (input_shape[0] + 1,)

    def forward(self, x, training=False):
        return x


@attrs.define(eq=False)
class Unsaved(nnf.Layer):
    """Keeps a random projection outside params: it is lost when the model is saved."""

    key = "kittest.Unsaved.v1"
    keeps = ()

    def _build(self, input_shape, rng, dtype):
        self.projection = rng.standard_normal(input_shape).astype(dtype)
        return input_shape

    def forward(self, x, training=False):
        return x * self.projection

    def _backward(self, output_gradient):
        return output_gradient * self.projection


@attrs.define(eq=False)
class Reserved(nnf.Layer):
    key = "nnf.Reserved.v1"

    def forward(self, x, training=False):
        return x

    def _backward(self, output_gradient):
        return output_gradient


@attrs.define(eq=False)
class Malformed(Reserved):
    key = "Malformed"


def failures(cls, shape=(4,), config=None, **options) -> dict[str, str]:
    with pytest.raises(LayerCheckError) as info:
        check_layer(cls, config or {}, shape, **options)
    message = str(info.value)
    assert message.startswith(f"check_layer: {cls.key}")
    for name, text in info.value.report.failed.items():
        assert f"[{name}] {text}" in message
    return info.value.report.failed


# ------------------------------------------------------------------------- passing
def test_a_correct_script_layer_passes_and_is_registered_only_during_the_check():
    assert REGISTRY.entry(Gain.key) is None
    report = check_layer(Gain, {}, (3, 2))
    assert isinstance(report, LayerReport)
    assert report.passed == list(CHECKS)
    assert report.figures["gradient.training.gain"] < 1e-6
    assert any("not registered" in note for note in report.notes)
    assert REGISTRY.entry(Gain.key) is None


def test_the_kit_leaves_numpys_global_random_stream_alone():
    np.random.seed(7)
    expected = np.random.rand(3)
    np.random.seed(7)
    check_layer(Gain, {}, (3,))
    assert np.array_equal(np.random.rand(3), expected)


def test_skip_and_custom_inputs():
    report = check_layer(Gain, {}, (2,), skip=["save_load"], inputs=np.ones((2, 2)) * 0.5)
    assert report.skipped == ["save_load"]
    with pytest.raises(ValueError, match="unknown check"):
        check_layer(Gain, {}, (2,), skip=["speed"])


# ------------------------------------------------------------------------- catching
def test_catches_a_wrong_input_gradient():
    failed = failures(WrongInputGradient)
    assert set(failed) == {"gradient"}
    assert "input (training mode): relative error" in failed["gradient"]


def test_catches_a_wrong_parameter_gradient():
    failed = failures(WrongParamGradient)
    assert "parameter 'gain'" in failed["gradient"]


def test_catches_gradients_that_are_overwritten_instead_of_accumulated():
    failed = failures(Overwrites)
    assert set(failed) == {"gradient"}
    assert "+=" in failed["gradient"]


def test_catches_a_config_that_does_not_round_trip():
    failed = failures(DropsOption, config={"factor": 3.0})
    assert "drops the option(s) ['factor']" in failed["config"]
    failed = failures(TupleConfig)
    assert "changes through JSON" in failed["config"]


def test_catches_a_batch_dependent_forward():
    failed = failures(BatchDependent)
    assert "batch" in failed and "one by one" in failed["batch"]


def test_catches_float32_upcasting():
    failed = failures(Upcasts)
    assert set(failed) == {"dtype"}
    assert "float64" in failed["dtype"]


def test_catches_randomness_from_numpys_global_generator():
    failed = failures(GlobalRandom)
    assert "self.rng" in failed["modes"]


def test_catches_inference_that_changes_state():
    failed = failures(InferenceCounts)
    assert "inference must change nothing" in failed["modes"]


def test_catches_a_wrong_fused_sgd_step():
    failed = failures(BadSGD)
    assert set(failed) == {"sgd"}
    assert "params['gain']" in failed["sgd"]


def test_a_shape_error_is_reported_once_and_the_dependent_checks_are_skipped():
    with pytest.raises(LayerCheckError) as info:
        check_layer(WrongShape, {}, (4,))
    report = info.value.report
    assert set(report.failed) == {"shapes"}
    assert "build() said samples are shaped (5,)" in report.failed["shapes"]
    assert {"gradient", "save_load"} <= set(report.skipped)


def test_catches_a_layer_that_keeps_weights_outside_params():
    failed = failures(Unsaved)
    assert "predictions differ after save and load" in failed["save_load"]


def test_naming_rules():
    assert "reserved 'nnf' namespace" in failures(Reserved)["naming"]
    assert "malformed" in failures(Malformed)["naming"]


def test_catches_a_key_registered_by_another_class():
    @attrs.define(eq=False)
    class First(Gain):
        key = "kittest.Twin.v1"

    @attrs.define(eq=False)
    class Second(Gain):
        key = "kittest.Twin.v1"

    nnf.register_layer(First)
    try:
        assert check_layer(First, {}, (2,)).passed == list(CHECKS)
        assert "already registered" in failures(Second, shape=(2,))["naming"]
    finally:
        REGISTRY.unregister("kittest.Twin.v1")


def test_the_plugin_guides_example_passes_the_kit():
    """docs/plugins.md's layer and entry point, taken from the page itself."""
    import re
    import tomllib
    from pathlib import Path

    page = (Path(__file__).parents[1] / "docs" / "plugins.md").read_text()
    blocks = re.findall(r"```(\w+)\n(.*?)```", page, flags=re.S)
    layer_code = next(code for lang, code in blocks if lang == "python" and "class Affine" in code)
    pyproject = next(code for lang, code in blocks if lang == "toml" and "[project]" in code)
    entry_points = tomllib.loads(pyproject)["project"]["entry-points"]["nnf.layers"]
    assert entry_points == {"acme.Affine.v1": "acme_layers.affine:Affine"}
    namespace: dict[str, Any] = {"__name__": "acme_layers.affine"}
    exec(compile(layer_code, "docs/plugins.md", "exec"), namespace)
    report = check_layer(namespace["Affine"], {"init_scale": 0.5}, (3, 4))
    assert report.passed == list(CHECKS)


# ------------------------------------------------------------- splitting over threads
@attrs.define(eq=False)
class ClaimsIndependenceButScalesByBatch(Gain):
    """Claims samples_independent, yet divides by the batch's largest value."""

    key = "kittest.ClaimsIndependenceButScalesByBatch.v1"
    keeps = ("scale",)
    samples_independent = True

    def forward(self, x, training=False):
        self.input = np.asarray(x, dtype=self.dtype)
        self.scale = float(np.max(np.abs(self.input)))
        return self.input * self.params["gain"] / self.scale

    def _backward(self, output_gradient):
        self.grads["gain"] += np.sum(output_gradient * self.input, axis=0) / self.scale
        return output_gradient * self.params["gain"] / self.scale  # ignores d(scale)/dx


@attrs.define(eq=False)
class CountsInTraining(Gain):
    """Claims samples_independent but counts its training batches in ``state``."""

    key = "kittest.CountsInTraining.v1"
    samples_independent = True

    def _build(self, input_shape, rng, dtype):
        self.state["seen"] = np.zeros((), dtype=dtype)
        return super()._build(input_shape, rng, dtype)

    def forward(self, x, training=False):
        if training:
            self.state["seen"] += len(x)
        return super().forward(x, training)


@attrs.define(eq=False)
class CopiesItsParams(Gain):
    key = "kittest.CopiesItsParams.v1"
    samples_independent = True

    def replica(self):
        twin = super().replica()
        twin.params = {k: v.copy() for k, v in self.params.items()}
        return twin


@attrs.define(eq=False)
class IndependentGain(Gain):
    key = "kittest.IndependentGain.v1"
    samples_independent = True


def test_a_correct_samples_independent_layer_passes_the_replica_check():
    report = check_layer(IndependentGain, {}, (3,))
    assert "replica" in report.passed
    assert not any("samples_independent" in note for note in report.notes)
    report = check_layer(Gain, {}, (3,))  # flag off: nothing to check, said in a note
    assert any("samples_independent is off" in note for note in report.notes)


def test_catches_a_false_claim_of_independent_samples():
    failed = failures(ClaimsIndependenceButScalesByBatch)
    assert "set samples_independent = False" in failed["replica"]


def test_catches_an_independent_layer_that_writes_state_in_training():
    failed = failures(CountsInTraining)
    assert "training forward changed state" in failed["replica"]


def test_catches_a_replica_that_does_not_share_params():
    assert "share the layer's params" in failures(CopiesItsParams)["replica"]


@attrs.define(eq=False)
class CentresInTraining(IndependentGain):
    """Subtracts the batch mean in training only (deterministic, no state): not independent."""

    key = "kittest.CentresInTraining.v1"

    def forward(self, x, training=False):
        y = super().forward(x, training)
        self.centred = training
        return y - y.mean(axis=0) if training else y

    def _backward(self, output_gradient):
        g = output_gradient - output_gradient.mean(axis=0) if self.centred else output_gradient
        return super()._backward(g)


@attrs.define(eq=False)
class CachesItsWeights(IndependentGain):
    """Keeps a reference to its parameter array from build time (stale once params change)."""

    key = "kittest.CachesItsWeights.v1"

    def _build(self, input_shape, rng, dtype):
        shape = super()._build(input_shape, rng, dtype)
        self.cached = self.params["gain"]
        return shape

    def forward(self, x, training=False):
        self.input = np.asarray(x, dtype=self.dtype)
        return self.input * self.cached


def test_catches_batch_interaction_in_training_mode_only():
    failed = failures(CentresInTraining)
    assert "(training mode)" in failed["replica"]


def test_catches_a_replica_computing_with_cached_weights():
    assert "read weights from self.params[k]" in failures(CachesItsWeights)["replica"]


# ------------------------------------------------------------------------ max_order
@attrs.define(eq=False)
class Square(nnf.Layer):
    """Element-wise x**2: not monotone, so it must not claim to commute with max."""

    key = "kittest.Square.v1"
    keeps = ()
    commutes_with_max = True

    def forward(self, x, training=False):
        self.input = np.asarray(x, dtype=self.dtype)
        return self.input**2

    def _backward(self, output_gradient):
        return 2 * self.input * output_gradient


@attrs.define(eq=False)
class ShiftedRelu(nnf.Layer):
    """max(x, 0) + 1 with a gradient of 1 everywhere: f' is not 0 where f is flat."""

    key = "kittest.ShiftedRelu.v1"
    keeps = ()
    commutes_with_max = True

    def forward(self, x, training=False):
        self.input = np.asarray(x, dtype=self.dtype)
        return np.maximum(self.input, 0) + 1

    def _backward(self, output_gradient):
        return np.array(output_gradient, dtype=self.dtype)


@attrs.define(eq=False)
class PairMeans(nnf.Layer):
    """Means of adjacent pairs: not maxima, so it must not claim ``takes_maxima``."""

    key = "kittest.PairMeans.v1"
    keeps = ()
    takes_maxima = True

    def _build(self, input_shape, rng, dtype):
        return (*input_shape[:-1], input_shape[-1] // 2)

    def forward(self, x, training=False):
        x = np.asarray(x, dtype=self.dtype)
        return (x[..., 0::2] + x[..., 1::2]) / 2

    def _backward(self, output_gradient):
        return np.repeat(np.asarray(output_gradient, dtype=self.dtype) / 2, 2, axis=-1)


@attrs.define(eq=False)
class ShapeBound(Gain):
    """Per-feature gain (needs its build shape) claiming to be element-wise."""

    key = "kittest.ShapeBound.v1"
    commutes_with_max = True


def test_relu_and_max_pooling_pass_the_max_order_check_and_others_skip_it():
    for key, shape in (("nnf.ReLU.v1", (3, 4)), ("nnf.MaxPool2D.v1", (2, 4, 4))):
        report = check_layer(nnf.get_layer(key), {}, shape)
        assert "max_order" in report.passed
    assert not nnf.get_layer("nnf.Sigmoid.v1").commutes_with_max  # not claimed: not moved


def test_catches_a_non_monotone_layer_claiming_to_commute_with_max():
    assert "differs when ReLU-like" in failures(Square)["max_order"]


def test_catches_a_gradient_that_is_not_zero_where_the_function_is_flat():
    assert "input gradient differs" in failures(ShiftedRelu)["max_order"]


def test_catches_a_layer_taking_means_that_claims_to_take_maxima():
    assert "set takes_maxima = False" in failures(PairMeans)["max_order"]


def test_catches_a_commuting_layer_that_needs_its_build_shape():
    assert "take any shape" in failures(ShapeBound)["max_order"]


@attrs.define(eq=False)
class KeepsABuffer(Gain):
    """Writes a work buffer on the layer: threads sharing it would trample each other."""

    key = "kittest.KeepsABuffer.v1"

    def forward(self, x, training=False):
        self.input = np.asarray(x, dtype=self.dtype)
        self._buffer = self.input * self.params["gain"]
        return self._buffer.copy()


def test_catches_per_call_state_written_on_the_layer() -> None:
    failed = failures(KeepsABuffer)
    assert set(failed) == {"reentrant"}
    assert "_buffer" in failed["reentrant"] and "nnf.workspace" in failed["reentrant"]


@attrs.define(eq=False)
class ContractOne(nnf.Layer):
    key = "kittest.ContractOne.v1"

    def forward(self, x, training=False):
        self.input = x
        return x * 2.0

    def _backward(self, output_gradient):
        return output_gradient * 2.0


def test_a_contract_1_layer_is_told_to_declare_keeps() -> None:
    failed = failures(ContractOne)
    assert set(failed) == {"reentrant"}
    assert "does not declare keeps" in failed["reentrant"]
