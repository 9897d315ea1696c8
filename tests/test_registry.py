"""The entry-point registry: discovery, broken-plugin isolation, collisions, script registration."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import attrs
import nnf
import pytest
from nnf.errors import PluginLoadError, RegistrationError, UnknownLayerError
from nnf.registry import BLOCKED, BROKEN, CONFLICT, OK, REGISTRY, Registry

BUILTINS = {
    "nnf.Convolutional.v1",
    "nnf.Dense.v1",
    "nnf.Dropout.v1",
    "nnf.Flatten.v1",
    "nnf.LeakyReLU.v1",
    "nnf.MaxPool2D.v1",
    "nnf.ReLU.v1",
    "nnf.Reshape.v1",
    "nnf.Sigmoid.v1",
    "nnf.Softmax.v1",
    "nnf.Tanh.v1",
}


def test_builtins_come_from_entry_points_of_the_nnf_distribution():
    entries = {e.key: e for e in Registry().entries()}
    assert BUILTINS <= set(entries)
    for key in BUILTINS:
        assert entries[key].dist == "nnf-framework"
        assert entries[key].value.startswith("nnf_layers.")


def test_discovery_imports_no_plugin_until_a_key_is_used():
    code = (
        "import sys, nnf.registry as r; r.REGISTRY.entries(); "
        "print(any(m.startswith('nnf_layers') for m in sys.modules)); "
        "r.REGISTRY.get('Tanh'); print('nnf_layers.activations' in sys.modules, "
        "'nnf_layers.convolutional' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "True", "False"]


def test_short_names_resolve_to_the_newest_version(with_plugins):
    assert REGISTRY.resolve_key("Dense") == "nnf.Dense.v1"
    assert REGISTRY.resolve_key("nnf.Dense") == "nnf.Dense.v1"
    assert REGISTRY.resolve_key("Scale") == "acme.Scale.v2"
    assert REGISTRY.resolve_key("acme.Scale.v1") == "acme.Scale.v1"


def test_third_party_layer_imports_through_nnf_layers(with_plugins):
    from nnf.layers import Scale

    assert Scale.key == "acme.Scale.v2"
    assert nnf.layers.get("acme.Scale.v1").key == "acme.Scale.v1"
    entry = REGISTRY.entry("acme.Scale.v1")
    assert (entry.dist, entry.dist_version, entry.status) == ("nnf-test-good", "0.3.0", OK)


def test_third_party_layer_in_a_fresh_process(plugin_site: Path):
    env = {**os.environ, "PYTHONPATH": str(plugin_site)}
    code = (
        "import nnf, numpy as np; Scale = nnf.layers.get('acme.Scale.v1'); "
        "print(Scale().forward(np.ones(2))[0])"
    )
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "2.0"


def test_broken_plugin_fails_alone_with_its_cause(with_plugins):
    with pytest.raises(PluginLoadError) as info:
        REGISTRY.get("broken.Boom.v1")
    message = str(info.value)
    assert "nnf-test-broken 1.0.0" in message
    assert "broken on purpose" in message
    assert REGISTRY.entry("broken.Boom.v1").status == BROKEN
    # everything else keeps working
    assert REGISTRY.get("Dense").key == "nnf.Dense.v1"
    assert REGISTRY.get("acme.Scale.v1").key == "acme.Scale.v1"
    with pytest.raises(ImportError, match="broken on purpose"):
        from nnf.layers import Boom  # noqa: F401


def test_check_lists_every_status_without_raising(with_plugins):
    entries = REGISTRY.check()
    status = {(e.key, e.dist): e.status for e in entries}
    assert status[("broken.Boom.v1", "nnf-test-broken")] == BROKEN
    assert status[("misc.NotALayer.v1", "nnf-test-misc")] == BROKEN
    assert status[("misc.Wrong.v1", "nnf-test-misc")] == BROKEN
    twin = REGISTRY.entry("twin.Twin.v1")
    assert twin.status == CONFLICT
    assert {twin.dist, *(d for d, _ in twin.others)} == {"nnf-test-twin-a", "nnf-test-twin-b"}
    assert all(status[(k, "nnf-framework")] == OK for k in BUILTINS)
    causes = {e.key: e.cause for e in entries if e.dist == "nnf-test-misc"}
    assert "not a subclass of nnf.Layer" in causes["misc.NotALayer.v1"]
    assert "misc.Other.v1" in causes["misc.Wrong.v1"]


def test_collision_between_two_distributions_names_both(with_plugins):
    with pytest.raises(PluginLoadError) as info:
        REGISTRY.get("twin.Twin.v1")
    assert "nnf-test-twin-a" in str(info.value)
    assert "nnf-test-twin-b" in str(info.value)


def test_third_party_cannot_take_nnf_keys(with_plugins):
    rejected = [
        e for e in REGISTRY.entries() if e.dist == "nnf-test-misc" and e.key == "nnf.Dense.v1"
    ]
    assert rejected and rejected[0].status == BROKEN and "reserved" in rejected[0].cause
    dense = REGISTRY.get("nnf.Dense.v1")
    assert dense.__module__ == "nnf_layers.dense"
    bad = [e for e in REGISTRY.entries() if e.key == "bad-key"]
    assert bad and "namespace.Name.vN" in bad[0].cause


def test_block_list_and_autoload_switch(plugin_site: Path):
    env = {**os.environ, "PYTHONPATH": str(plugin_site)}
    code = (
        "from nnf.registry import REGISTRY as R\n"
        "print(R.entry('acme.Scale.v1').status if R.entry('acme.Scale.v1') else 'absent', "
        "R.entry('nnf.Dense.v1').status)"
    )

    def run(**extra: str) -> list[str]:
        out = subprocess.run(
            [sys.executable, "-c", code], env={**env, **extra}, capture_output=True, text=True
        )
        assert out.returncode == 0, out.stderr
        return out.stdout.split()

    assert run() == ["unloaded", "unloaded"]
    assert run(NNF_BLOCK_PLUGINS="nnf-test-good") == [BLOCKED, "unloaded"]
    assert run(NNF_BLOCK_PLUGINS="acme.Scale.v1") == [BLOCKED, "unloaded"]
    # built-ins are part of nnf itself, so they stay when third-party autoload is off
    assert run(NNF_DISABLE_PLUGIN_AUTOLOAD="1") == ["absent", "unloaded"]


def test_blocked_key_raises_a_clear_error(with_plugins):
    registry = Registry()
    registry.block("nnf-test-good")
    with pytest.raises(PluginLoadError, match="blocked"):
        registry.get("acme.Scale.v1")
    assert registry.get("Dense").key == "nnf.Dense.v1"


def test_unknown_name_suggests_close_matches():
    with pytest.raises(UnknownLayerError) as info:
        REGISTRY.get("Dence")
    assert "Dense" in str(info.value)
    with pytest.raises(AttributeError, match="no layer named 'Nothing'"):
        nnf.layers.Nothing  # noqa: B018


@attrs.define(eq=False)
class Doubler(nnf.Layer):
    key = "script.Doubler.v1"

    def forward(self, x, training=False):
        return 2 * x

    def _backward(self, output_gradient):
        return 2 * output_gradient


def test_register_layer_from_a_script():
    nnf.register_layer(Doubler)
    try:
        from nnf.layers import Doubler as Found

        assert Found is Doubler
        assert REGISTRY.entry("script.Doubler.v1").dist == "<script>"
        with pytest.raises(RegistrationError, match="already registered"):

            @attrs.define(eq=False)
            class Other(nnf.Layer):
                key = "script.Doubler.v1"

            nnf.register_layer(Other)
        nnf.register_layer(Other, override=True)
        assert REGISTRY.get("script.Doubler.v1") is Other
    finally:
        REGISTRY.unregister("script.Doubler.v1")


def test_register_layer_rejects_bad_classes():
    class NotLayer:
        key = "x.Y.v1"

    with pytest.raises(RegistrationError, match="not a subclass"):
        nnf.register_layer(NotLayer)

    @attrs.define(eq=False)
    class NoKey(nnf.Layer):
        pass

    with pytest.raises(RegistrationError, match=r"namespace\.Name\.vN"):
        nnf.register_layer(NoKey)
    with pytest.raises(RegistrationError, match="already registered"):

        @attrs.define(eq=False)
        class MyDense(nnf.Layer):
            key = "nnf.Dense.v1"

        nnf.register_layer(MyDense)


def test_reload_keeps_script_registrations_and_bad_names_are_clear():
    nnf.register_layer(Doubler)
    try:
        REGISTRY.reload()
        assert REGISTRY.get("script.Doubler.v1") is Doubler
    finally:
        REGISTRY.unregister("script.Doubler.v1")
    with pytest.raises(UnknownLayerError, match="non-empty string"):
        nnf.layers.get(["Dense"])


def test_blocking_one_of_two_claimants_leaves_the_other(with_plugins):
    # Regression: the key stayed a conflict whichever distribution NNF_BLOCK_PLUGINS named.
    registry = Registry()
    registry.block("nnf-test-twin-a")
    entry = registry.entry("twin.Twin.v1")
    assert entry is not None and entry.status != CONFLICT and entry.dist == "nnf-test-twin-b"
    assert registry.get("twin.Twin.v1").__module__ == "nnf_test_twin_b"


def test_block_env_variable_resolves_a_conflict(plugin_site: Path):
    code = "from nnf.registry import REGISTRY as R\nprint(R.get('twin.Twin.v1').__module__)"
    env = {**os.environ, "PYTHONPATH": str(plugin_site), "NNF_BLOCK_PLUGINS": "nnf-test-twin-b"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["nnf_test_twin_a"]
