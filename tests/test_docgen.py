"""``nnf.layer_options`` and ``nnf.docgen`` on a plugin-style layer: types as a file stores
them, defaults, required options, choices, and the marker blocks a page regenerates."""

from __future__ import annotations

from pathlib import Path

import attrs
import nnf
import pytest
from nnf.docgen import main, options_table, regenerate, summary_table
from nnf.layer_options import file_type, layer_options
from nnf.registry import REGISTRY


def _one_of(*options):
    def check(instance, attribute, value):
        if value not in options:
            raise ValueError(f"{attribute.name} must be one of {options}")

    check.options = options
    return check


@attrs.define(eq=False)
class Gate(nnf.Layer):
    """A plugin layer documented the way docs/plugins.md describes."""

    key = "docgen.Gate.v1"

    units: int = attrs.field(metadata={"doc": "outputs | per sample"})
    mode: str = attrs.field(
        default="sum", validator=_one_of("sum", "max"), metadata={"doc": "how gates combine"}
    )
    scale: float | None = attrs.field(default=None, metadata={"doc": "null: 1 / units"})
    sizes: list[int] = attrs.field(factory=lambda: [1, 2])
    _private: int = attrs.field(default=0, init=False)


@pytest.fixture
def gate():
    REGISTRY.register(Gate, override=True)
    try:
        yield Gate
    finally:
        REGISTRY.unregister(Gate.key)


def test_options_read_from_attrs_fields():
    units, mode, scale, sizes = layer_options(Gate)
    assert (units.name, units.type, units.required) == ("units", "int", True)
    assert (mode.default, mode.choices, mode.doc) == ("sum", ("sum", "max"), "how gates combine")
    assert (scale.type, scale.default, scale.required) == ("number or null", None, False)
    assert (sizes.type, sizes.default, sizes.doc) == ("array of ints", [1, 2], "")
    assert [o.name for o in layer_options(Gate)] == list(Gate.config_fields())


@pytest.mark.parametrize(
    ("annotation", "expected"),
    [
        ("int", "int"),
        ("int | None", "int or null"),
        ("Shape | None", "array of ints or null"),
        ("None", "null"),
        ("Acme", "Acme"),
        (float, "number"),
    ],
)
def test_file_types(annotation, expected: str):
    assert file_type(annotation) == expected


def test_a_table_escapes_pipes_and_marks_required_options():
    text = options_table(Gate)
    assert "| `units` | int | required | outputs \\| per sample |" in text
    assert '| `mode` | string: `"sum"`, `"max"` | `"sum"` | how gates combine |' in text
    assert "| `scale` | number or null | `null` | null: 1 / units |" in text


def test_regenerate_fills_every_block_and_leaves_the_rest(gate):
    page = (
        "# Gate\n\nintro\n\n<!-- generated: options docgen.Gate.v1 -->\nstale\n"
        "<!-- end generated -->\n\ntext after\n"
    )
    new = regenerate(page)
    assert new.startswith("# Gate\n\nintro\n\n<!-- generated: options docgen.Gate.v1 -->\n|")
    assert new.endswith("<!-- end generated -->\n\ntext after\n")
    assert "stale" not in new and regenerate(new) == new


def test_summary_links_each_key_to_its_section():
    text = summary_table("nnf_layers", "layers.md")
    assert (
        "| [`nnf.MaxPool2D.v1`](layers.md#maxpool2d) | `pool_size` (2), `stride` (null) |" in text
    )
    assert "[`nnf.Softmax.v1`](layers.md#softmax) | none |" in text


def test_the_command_writes_then_checks(gate, tmp_path: Path, capsys):
    page = tmp_path / "gate.md"
    page.write_text("<!-- generated: options docgen.Gate.v1 -->\n<!-- end generated -->\n")
    assert main(["--check", str(page)]) == 1
    assert "out of date" in capsys.readouterr().err
    assert main([str(page)]) == 0
    assert "| `units` |" in page.read_text()
    assert main(["--check", str(page)]) == 0
