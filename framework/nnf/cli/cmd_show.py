"""``nnf show``: one picture to a file, drawn by the same code as ``nnf report``."""

from __future__ import annotations

from pathlib import Path

import click

from .options import force_option

OUTPUT_HELP = "Image file to write: .png, .svg, .pdf, ... (default: {} in this folder)."


@click.group(short_help="Draw filters, feature maps or training curves to an image file.")
def show() -> None:
    """Quick pictures from a terminal, drawn like the report's (needs matplotlib:
    pip install 'nnf-framework[plot]').

    \b
    Examples:
      nnf show filters runs/lenet5 -o filters.png
      nnf show maps runs/lenet5/last.nnf digit.png --invert -o maps.png
      nnf show curves runs/lenet5 -o curves.png
    """


def _target(output: str | None, default: str, force: bool) -> Path:
    from ..visual.canvas import figure_format
    from .output import check_writable

    path = Path(output or default)
    figure_format(path)  # a ConfigError (exit 2) on a suffix matplotlib cannot write
    check_writable([path], force)
    return path


@show.command(short_help="The first convolution's filters.")
@click.argument("run", metavar="RUN|MODEL", type=click.Path())
@click.option(
    "-o", "--output", type=click.Path(dir_okay=False), help=OUTPUT_HELP.format("filters.png")
)
@force_option
def filters(run: str, output: str | None, force: bool) -> None:
    """Draw the kernels of MODEL's first convolution (RUN: a run folder's last.nnf)."""
    from ..visual.figures import draw_filters
    from .show_support import model_of, require_matplotlib

    require_matplotlib("nnf show")
    target = _target(output, "filters.png", force)
    model, _ = model_of(run)
    click.echo(f"filters written to {draw_filters(model, target)}")


@show.command(short_help="One sample's feature maps through each convolution and pooling.")
@click.argument("run", metavar="RUN|MODEL", type=click.Path())
@click.argument("image", type=click.Path(dir_okay=False))
@click.option(
    "-o", "--output", type=click.Path(dir_okay=False), help=OUTPUT_HELP.format("maps.png")
)
@click.option(
    "--index",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="Which sample of a .npy stack.",
)
@click.option(
    "--invert",
    is_flag=True,
    help="Invert the pixels: dark ink on white becomes MNIST's white on black.",
)
@force_option
def maps(run: str, image: str, output: str | None, index: int, invert: bool, force: bool) -> None:
    """Draw the feature maps of IMAGE (an image file, or a .npy sample or stack of samples)
    through MODEL's convolutions and poolings."""
    from ..visual.figures import draw_feature_maps
    from .show_support import model_of, read_sample, require_matplotlib

    require_matplotlib("nnf show")
    target = _target(output, "maps.png", force)
    model, _ = model_of(run)
    sample = read_sample(image, model, index=index, invert=invert)
    click.echo(f"feature maps written to {draw_feature_maps(model, sample, target)}")


@show.command(short_help="Training curves of a run.")
@click.argument("run", metavar="RUN|MODEL|METRICS", type=click.Path())
@click.option(
    "-o", "--output", type=click.Path(dir_okay=False), help=OUTPUT_HELP.format("curves.png")
)
@force_option
def curves(run: str, output: str | None, force: bool) -> None:
    """Draw loss, accuracy (and learning rate, when logged) per epoch, from a run folder's
    metrics.jsonl, a metrics file, or a model file's saved history."""
    from ..visual.figures import draw_curves
    from ..visual.runs import read_history
    from .errors import CommandError
    from .show_support import require_matplotlib

    require_matplotlib("nnf show")
    if not Path(run).exists():
        raise CommandError(f"{run!r} does not exist: give a run folder, metrics.jsonl or .nnf file")
    target = _target(output, "curves.png", force)
    rows = read_history(run)
    if not rows:
        raise CommandError(f"{run} has no per-epoch metrics: train with nnf train first")
    click.echo(f"curves written to {draw_curves(rows, target)}")
