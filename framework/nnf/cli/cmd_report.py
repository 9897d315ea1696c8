"""``nnf report``: an HTML page about a trained model (``nnf.report`` on a dataset)."""

from __future__ import annotations

import time
from pathlib import Path

import click

from .options import data_options, force_option, quiet_option, split_option

HELP = """Write an HTML report on a trained model: summary, training curves, metrics,
confusion matrix, the most confident mistakes, filters and feature maps.

RUN is a run folder written by nnf train (its last.nnf, or best.nnf with --best, and
its metrics.jsonl) or a .nnf file. The page is one file with its images inside: it opens
offline and prints well. Needs matplotlib (pip install 'nnf-framework[plot]').

\b
Examples:
  nnf report runs/lenet5 -o report.html
  nnf report runs/lenet5/best.nnf --data fashion-mnist --sample 7 -o fashion.html
"""


@click.command(help=HELP, short_help="An HTML report: curves, metrics, mistakes, filters, maps.")
@click.argument("run", metavar="RUN|MODEL", type=click.Path())
@data_options("Default: the data the model was trained on, else mnist-small.")
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False),
    default=None,
    help="The HTML file. Default: report.html in the run folder (MODEL.report.html for a file).",
)
@click.option("--best", is_flag=True, help="Report on the run's best.nnf instead of last.nnf.")
@split_option
@click.option(
    "--sample",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="The sample whose feature maps are drawn.",
)
@click.option(
    "--max-samples",
    type=click.IntRange(min=1),
    default=10_000,
    show_default=True,
    help="Score at most this many samples (the first ones).",
)
@force_option
@quiet_option
def report(
    run: str,
    data: str | None,
    data_dir: str | None,
    no_download: bool,
    label_column: str | None,
    resize: bool,
    output: str | None,
    best: bool,
    split: str,
    sample: int,
    max_samples: int,
    force: bool,
    quiet: bool,
) -> None:
    from .. import io
    from ..losses import default_loss
    from ..visual import runs
    from ..visual.report import report as make_report
    from . import data as fitdata
    from .errors import CommandError
    from .output import Console, check_writable
    from .show_support import require_matplotlib

    console = Console(quiet=quiet)
    require_matplotlib("nnf report")
    if not Path(run).exists():
        raise CommandError(f"{run!r} does not exist: give a run folder (runs/NAME) or a .nnf file")
    model_path = runs.run_model_path(run, "best" if best else "last")
    target = Path(output) if output else _default_output(Path(run), model_path)
    check_writable([target], force)
    model = io.load(model_path)
    history = runs.read_history(runs.metrics_path(model_path)) or runs.history_of(model)

    dataset, source, x_raw, y_raw = fitdata.scored_split(
        model,
        data,
        split,
        data_dir=data_dir,
        download=not no_download,
        progress=not quiet,
        label=label_column,
        resize=resize,
    )
    x_raw, y_raw = x_raw[:max_samples], y_raw[:max_samples]
    if sample >= len(x_raw):
        raise CommandError(f"--sample {sample}: the {split} split has {len(x_raw)} samples")
    loss = fitdata.loss_name(model.loss or default_loss(model))
    what = f"{source!r}"
    x = fitdata.fit_inputs(x_raw, model, what)
    y = fitdata.fit_targets(y_raw, model, loss, dataset, what).y
    started = time.perf_counter()
    make_report(
        model,
        x,
        y,
        history=history,
        path=target,
        class_names=list(dataset.class_names),
        sample=sample,
        data_name=f"{dataset.name} ({split})",
        max_samples=max_samples,
    )
    seconds = time.perf_counter() - started
    size = target.stat().st_size
    console.note(f"scored {len(x):,} {split} samples of {dataset.name} in {seconds:.1f}s")
    console.result(f"report written to {target} ({size / 1024:,.0f} KiB)")


def _default_output(run: Path, model_path: Path) -> Path:
    if run.is_dir():
        return run / "report.html"
    return model_path.with_name(model_path.name.removesuffix(".nnf") + ".report.html")
