"""``nnf build``: validate a spec, build the model, print its summary and save it."""

from __future__ import annotations

from pathlib import Path

import click

from .options import force_option, json_option, quiet_option


@click.command(short_help="Check a spec, build the model and save it untrained.")
@click.argument("spec", type=click.Path(dir_okay=False))
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False),
    default=None,
    help="Model file to write (default: SPEC's name with .nnf, in the current folder).",
)
@click.option(
    "--seed",
    type=click.IntRange(min=0),
    default=None,
    help="Seed of the initial weights (default: random).",
)
@force_option
@quiet_option
@json_option
def build(
    spec: str, output: str | None, seed: int | None, force: bool, quiet: bool, as_json: bool
) -> None:
    """Check SPEC (.toml or .json), build the model and save it untrained.

    \b
    Example:
      nnf build examples/specs/lenet5.toml -o lenet5.nnf --seed 0
    """
    from .. import io
    from .models import load_spec
    from .output import Console, check_writable

    console = Console(quiet=quiet, json_mode=as_json)
    model_spec = load_spec(spec)
    out = Path(output) if output else Path(Path(spec).stem + ".nnf")
    check_writable([out], force)
    model = model_spec.build(seed=seed)
    if not quiet:
        model.summary(print_fn=console.result)
    out.parent.mkdir(parents=True, exist_ok=True)
    io.save(model, out)
    if as_json:
        console.emit_json(
            {
                "model": str(out),
                "seed": model.seed,
                "params": model.num_params,
                "config": model.get_config(),
            }
        )
    else:
        console.result(f"wrote {out} ({model.num_params:,} parameters, seed {model.seed})")
