"""``nnf init``: write a commented spec to start from."""

from __future__ import annotations

from pathlib import Path

import click

from .options import force_option

TEMPLATES = ("mlp", "lenet5", "regression")


@click.command(short_help="Write a commented spec to start from (mlp, lenet5, regression).")
@click.argument("path", metavar="SPEC.toml", type=click.Path(dir_okay=False), default="model.toml")
@click.option(
    "--template",
    type=click.Choice(TEMPLATES),
    default="mlp",
    show_default=True,
    help="Which network to start from.",
)
@force_option
def init(path: str, template: str, force: bool) -> None:
    """Write a commented spec (default model.toml) that `nnf train` runs as it is.

    \b
    Examples:
      nnf init                          # model.toml: an MLP on the bundled MNIST subset
      nnf init cnn.toml --template lenet5
      nnf train cnn.toml
    """
    from importlib import resources

    from .output import check_writable, write_text_atomic

    target = Path(path)
    check_writable([target], force)
    text = resources.files("nnf").joinpath("templates", f"{template}.toml").read_text("utf-8")
    write_text_atomic(target, text)
    click.echo(f"wrote {target} (template {template}); train it with: nnf train {target}")
