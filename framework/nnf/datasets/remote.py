"""Where the full datasets come from: mirrors, file names and SHA-256 of their content.

A digest here is of the IDX *content*, after gunzip: mirrors re-compress the same data with
different gzip headers (the project's shared MNIST files hash differently from the mirrors'
.gz, yet decompress to the published bytes), so only the content hash is stable.

Provenance of the digests (decompressed IDX files):
- MNIST t10k-images, t10k-labels, train-labels: computed here from the project's shared
  copies of the official files; they equal the values published in public repositories.
- MNIST train-images (ba891046...): not available locally; found in several public
  repositories (loaders and data manifests) that pin it beside the mirrors' .gz digest
  440fcabf...; a public manifest for the ossci mirror lists .gz digests 440fcabf...,
  3552534a..., 8d422c7b..., f7ae60f9..., the published .gz set.
- Fashion-MNIST (all four): computed here from Debian's dataset-fashion-mnist package
  (whose .gz files are re-compressed, so their .gz hashes differ from upstream's 3aede38d...,
  a04f1713..., 346e55b9..., 67da17c7...); the same content digests are published in public
  repositories that derive them from upstream's archives with its documented MD5 checksums.
"""

from __future__ import annotations

import os
from collections.abc import Collection, Iterable
from pathlib import Path

import attrs

from ..errors import ConfigError
from .files import IDX_FILES

__all__ = ["MANUAL_HINT", "REMOTES", "Remote", "cache_dir", "fetch_to_cache"]

MANUAL_HINT = "put the files in $NNF_DATA_DIR or pass data_dir=DIR (CLI: --data DIR)"


def _strings(values: Iterable[str]) -> tuple[str, ...]:
    """A tuple of ``values`` (an attrs converter mypy can follow, unlike ``tuple``)."""
    return tuple(values)


@attrs.frozen
class Remote:
    """A downloadable IDX dataset: mirrors tried in order, and per-file content SHA-256.

    ``files`` maps each standard IDX stem (``train-images-idx3-ubyte``...) to the SHA-256 of
    its decompressed bytes; ``{mirror}{stem}.gz`` is fetched. ``system_dirs`` are folders a
    distribution package installs the files in, searched before the cache.
    """

    name: str
    mirrors: tuple[str, ...] = attrs.field(converter=_strings)
    files: dict[str, str]
    class_names: tuple[str, ...] = attrs.field(converter=_strings)
    system_dirs: tuple[str, ...] = attrs.field(default=(), converter=_strings)
    #: Subfolders of $NNF_DATA_DIR / data_dir that may hold the files (default: ``name``).
    subdirs: tuple[str, ...] = attrs.field(converter=_strings)
    max_bytes: int = 64 << 20  # per compressed file and per decompressed file

    @subdirs.default
    def _subdirs(self) -> tuple[str, ...]:
        return (self.name,)

    def __attrs_post_init__(self) -> None:
        if set(self.files) != set(IDX_FILES.values()):
            raise ConfigError(f"Remote.files must have exactly the keys {list(IDX_FILES.values())}")


REMOTES: dict[str, Remote] = {
    "mnist": Remote(
        name="mnist",
        mirrors=(
            "https://ossci-datasets.s3.amazonaws.com/mnist/",
            "https://storage.googleapis.com/cvdf-datasets/mnist/",
        ),
        files={
            "train-images-idx3-ubyte": (
                "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db"
            ),
            "train-labels-idx1-ubyte": (
                "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5"
            ),
            "t10k-images-idx3-ubyte": (
                "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7"
            ),
            "t10k-labels-idx1-ubyte": (
                "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2"
            ),
        },
        class_names=tuple(str(d) for d in range(10)),
        subdirs=("mnist", "MNIST/raw"),  # the latter is torchvision's layout
    ),
    "fashion-mnist": Remote(
        name="fashion-mnist",
        mirrors=("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",),
        files={
            "train-images-idx3-ubyte": (
                "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888"
            ),
            "train-labels-idx1-ubyte": (
                "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9"
            ),
            "t10k-images-idx3-ubyte": (
                "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b"
            ),
            "t10k-labels-idx1-ubyte": (
                "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34"
            ),
        },
        class_names=(
            "T-shirt/top",
            "Trouser",
            "Pullover",
            "Dress",
            "Coat",
            "Sandal",
            "Shirt",
            "Sneaker",
            "Bag",
            "Ankle boot",
        ),
        system_dirs=("/usr/share/datasets/fashion-mnist",),  # Debian: dataset-fashion-mnist
        subdirs=("fashion-mnist", "fashion_mnist", "FashionMNIST/raw"),
    ),
}


def cache_dir(name: str) -> Path:
    """``$NNF_CACHE_DIR/<name>``, else ``$XDG_CACHE_HOME/nnf/<name>`` or ``~/.cache/nnf/<name>``."""
    root = os.environ.get("NNF_CACHE_DIR")
    if root:
        return Path(root).expanduser() / name
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "nnf" / name


def fetch_to_cache(
    remote: Remote,
    folder: Path,
    skip: Collection[str] = (),
    *,
    progress: bool = True,
    timeout: float = 30.0,
) -> None:
    """Download each file of ``remote`` whose stem is not in ``skip`` into ``folder``."""
    from .download import download_file  # urllib is only imported when a download happens

    folder.mkdir(parents=True, exist_ok=True)
    for stem, digest in remote.files.items():
        if stem in skip:
            continue
        download_file(
            [f"{mirror}{stem}.gz" for mirror in remote.mirrors],
            folder / f"{stem}.gz",
            digest,
            sha256_of="content",
            timeout=timeout,
            max_bytes=remote.max_bytes,
            progress=progress,
            hint=MANUAL_HINT,
        )
