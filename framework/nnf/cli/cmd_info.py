"""``nnf summary``, ``nnf inspect`` and ``nnf layers``: describe models, files and plugins."""

from __future__ import annotations

from typing import Any

import click

from .options import json_option


@click.command(short_help="Print the layer table of a model file or a spec.")
@click.argument("source", metavar="MODEL|SPEC", type=click.Path(dir_okay=False))
@json_option
def summary(source: str, as_json: bool) -> None:
    """Print the layer table of a model file or a spec (built with seed 0).

    \b
    Example:
      nnf summary examples/specs/lenet5.toml
      nnf summary runs/lenet5/last.nnf --json
    """
    from .models import model_or_spec
    from .output import Console

    console = Console(json_mode=as_json)
    model, _ = model_or_spec(source, seed=0)
    if not as_json:
        model.summary(print_fn=console.result)
        return
    config = model.get_config()
    for record, layer in zip(config["layers"], model.layers, strict=True):
        record["output_shape"] = list(layer.out_shape or ())
        record["params"] = layer.num_params
    config["output_shape"] = list(model.output_shape or ())
    config["params"] = model.num_params
    console.emit_json(config)


@click.command("inspect", short_help="Describe a model file without importing plugins.")
@click.argument("model_path", metavar="MODEL", type=click.Path(dir_okay=False))
@json_option
def inspect_cmd(model_path: str, as_json: bool) -> None:
    """Describe a model file without importing any layer plugin (safe on untrusted files).

    Shows the format version, the writer, the layers with their keys and configs, the
    tensors, the optimizer and the training state, and the plugins the file needs.

    \b
    Example:
      nnf inspect runs/lenet5/last.nnf
    """
    from .. import io
    from .output import Console, require_file

    console = Console(json_mode=as_json)
    info = io.inspect(require_file(model_path, "model file"))
    data = info if isinstance(info, dict) else _as_dict(info)
    if as_json:
        console.emit_json(data)
    else:
        console.result(_describe(model_path, data))


def _as_dict(info: Any) -> dict[str, Any]:
    import attrs

    if attrs.has(type(info)):
        return attrs.asdict(info)
    return dict(vars(info))


def _kv(mapping: dict[str, Any] | None) -> str:
    return " ".join(f"{k}={v}" for k, v in (mapping or {}).items() if v is not None)


def _nested_by_key(config: dict[str, Any]) -> dict[str, Any]:
    """Inner layers (a Residual's ``layers``) shown by name and key, not their whole configs."""
    out = {}
    for k, v in config.items():
        if isinstance(v, list) and v and all(isinstance(i, dict) and "key" in i for i in v):
            v = "[" + ", ".join(f"{i.get('name')}:{i.get('key')}" for i in v) + "]"
        out[k] = v
    return out


def _shape(shape: Any) -> str:
    return "(" + ", ".join(map(str, shape or ())) + ")"


def _describe(path: str, d: dict[str, Any]) -> str:
    """Readable lines for an ``nnf.io.inspect`` report."""
    from .output import table

    model = d.get("model") or {}
    lines = [
        f"{path}: {d.get('format')} version {d.get('format_version')}, "
        f"{d.get('size', 0):,} bytes, sha256 {str(d.get('sha256', ''))[:16]}..., "
        f"written by nnf {(d.get('writer') or {}).get('nnf')}",
        f"model {model.get('name')!r} ({model.get('class')}): "
        f"input {_shape(model.get('input_shape'))}  {model.get('dtype')}  "
        f"seed {model.get('seed')}  {d.get('num_params', 0):,} parameters",
        "",
    ]
    rows = [("layer", "key", "arrays", "config")]
    for layer in d.get("layers") or []:
        arrays = {**(layer.get("params") or {}), **(layer.get("state") or {})}
        shown = " ".join(f"{k}{_shape(v.get('shape'))}" for k, v in arrays.items()) or "-"
        config = _nested_by_key(layer.get("config") or {})
        rows.append((layer.get("name"), layer.get("key"), shown, _kv(config) or "-"))
    lines += [table(rows), ""]
    plugins = d.get("required_plugins") or []
    missing = [p["key"] for p in plugins if not p.get("installed")]
    dists = sorted({f"{p.get('dist')} {p.get('version') or ''}".strip() for p in plugins})
    lines.append(f"plugins needed: {', '.join(dists) or '-'}")
    if missing:
        lines.append(
            f"NOT INSTALLED: {', '.join(missing)} (pip install the plugin to load this file)"
        )
    opt = d.get("optimizer")
    if opt:
        lines.append(
            f"optimizer: {opt.get('name')} ({_kv(opt.get('config'))}), "
            f"{opt.get('iterations', 0):,} steps"
        )
    else:
        lines.append("optimizer: none saved")
    training = d.get("training")
    if training:
        lines.append(
            f"training: {training.get('epoch')} epochs done, seed {training.get('seed')}, "
            f"loss {training.get('loss')}, {training.get('epochs_recorded')} epochs of history"
        )
    metadata = d.get("metadata") or {}
    if metadata:
        lines.append(f"metadata: {', '.join(sorted(metadata))}")
    return "\n".join(lines)


@click.command(short_help="List registered layers, their status and their options.")
@click.option(
    "--check",
    is_flag=True,
    help="Import every plugin to confirm it works (exit 1 if one is broken).",
)
@click.option(
    "--config",
    "show_config",
    is_flag=True,
    help="Also list each layer's config options: type, default and meaning (imports every plugin).",
)
@json_option
def layers(check: bool, show_config: bool, as_json: bool) -> None:
    """List every registered layer key with its package, version and status.

    Status: ok, unloaded (not imported yet; use --check), broken (with the cause),
    conflict (two packages claim the key) or blocked (NNF_BLOCK_PLUGINS). With --config,
    each layer's options follow (in --json, as "options": name, type, default, required,
    choices, doc), as docs/layers.md lists them for the built-in layers.

    \b
    Example:
      nnf layers --check
      nnf layers --config
    """
    from ..registry import BLOCKED, OK, REGISTRY, UNLOADED
    from .errors import FAILURE
    from .output import Console, table

    console = Console(json_mode=as_json)
    entries = REGISTRY.check() if check or show_config else REGISTRY.entries()
    if as_json:
        records = [e.as_dict() for e in entries]
        if show_config:
            for record, entry in zip(records, entries, strict=True):
                record["options"] = _options(entry)
        console.emit_json(records)
    else:
        rows: list[tuple[str, ...]] = [("key", "package", "version", "status")]
        for e in entries:
            status = e.status if not e.cause else f"{e.status}: {e.cause}"
            rows.append((e.key, e.dist, e.dist_version or "-", status))
        console.result(table(rows) if entries else "no layers are registered")
        if show_config:
            for e in entries:
                console.result(_options_text(e))
    bad = [e for e in entries if e.status not in (OK, UNLOADED, BLOCKED)]
    if check and bad:
        click.get_current_context().exit(FAILURE)


def _options(entry: Any) -> list[dict[str, Any]] | None:
    """The entry's options as dicts, or None when its class did not load."""
    from ..layer_options import layer_options

    if entry.cls is None:
        return None
    return [o.as_dict() for o in layer_options(entry.cls)]


def _options_text(entry: Any) -> str:
    """A key and its options, one line each: ``name  type  default  meaning``."""
    import json

    from .output import table

    options = _options(entry)
    if options is None:
        return f"\n{entry.key}: options unknown ({entry.status})"
    if not options:
        return f"\n{entry.key}: no options"
    rows: list[tuple[str, ...]] = []
    for o in options:
        kind = o["type"]
        if o["choices"] is not None:
            kind += ": " + ", ".join(json.dumps(c) for c in o["choices"])
        default = "required" if o["required"] else json.dumps(o["default"])
        rows.append((f"  {o['name']}", kind, default, o["doc"]))
    return f"\n{entry.key}\n" + table([("  option", "type", "default", "meaning"), *rows])
