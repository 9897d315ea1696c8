"""``nnf export``: write a model file (or a spec's freshly built model) as ONNX, .npz or JSON.

Register it in the CLI group with ``cli.add_command(export_command)``.
"""

from __future__ import annotations

from pathlib import Path

import click

from ..cli.options import force_option, json_option, quiet_option
from .formats import FORMATS

SUFFIXES = {".onnx": "onnx", ".npz": "npz", ".json": "json"}


def _format_for(output: Path, fmt: str | None) -> str:
    if fmt is not None:
        return fmt
    try:
        return SUFFIXES[output.suffix.lower()]
    except KeyError:
        raise click.UsageError(
            f"cannot tell the format from {output.name!r}: pass --format "
            f"{'|'.join(FORMATS)} or name the output *.onnx, *.npz or *.json"
        ) from None


@click.command("export", short_help="Write a model as ONNX, a plain .npz of weights, or JSON.")
@click.argument("model", type=click.Path(dir_okay=False))
@click.option(
    "--format",
    "fmt",
    type=click.Choice(list(FORMATS)),
    default=None,
    help="onnx (opset 17, float32; needs the onnx extra), npz (arrays keyed layer_name.param) or "
    "json (the architecture). Default: from the output's suffix.",
)
@click.option(
    "-o", "--output", type=click.Path(dir_okay=False), required=True, help="File to write."
)
@click.option(
    "--seed", type=int, default=None, help="Seed of the weights when MODEL is a spec file."
)
@force_option
@quiet_option
@json_option
def export_command(
    model: str,
    fmt: str | None,
    output: str,
    seed: int | None,
    force: bool,
    quiet: bool,
    as_json: bool,
) -> None:
    """Export MODEL (a .nnf file, or a .toml/.json spec built untrained) to OUTPUT.

    \b
    Examples:
      nnf export runs/lenet5/last.nnf -o lenet5.onnx
      nnf export digits.nnf --format npz -o digits-weights.npz
      nnf export digits.nnf --format json -o digits-architecture.json
    """
    from ..cli.models import model_or_spec
    from ..cli.output import Console, check_writable
    from .formats import export

    console = Console(quiet=quiet, json_mode=as_json)
    out = Path(output)
    fmt = _format_for(out, fmt)
    check_writable([out], force)
    net, _ = model_or_spec(model, seed=seed)
    out.parent.mkdir(parents=True, exist_ok=True)
    export(net, out, format=fmt)
    size = out.stat().st_size
    if as_json:
        console.emit_json({"model": model, "output": str(out), "format": fmt, "bytes": size})
    else:
        console.result(f"wrote {out} ({fmt}, {size:,} bytes)")
