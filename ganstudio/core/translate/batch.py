"""Translating files and folders: one image, or a batch that mirrors folders into an output folder.

Used by the CLI and the GUI's Translate panel (on a worker thread; ``should_stop`` cancels). The
batch loop (planning, output names, skip/overwrite, failures, cancel), the reading of images and
the result type are the Upscale package's (``upscale.batch.run_batch``, ``upscale.imageio.read_image``,
``BatchResult``), so both tools name, mirror and report files the same way.

Outputs are PNGs at the input's size with provenance text chunks (model name and SHA-256,
direction, source file, app version) and the source's metadata: EXIF, text chunks and comments,
XMP and resolution (``upscale.imageio`` reads them). The source's ICC profile and PNG colour
encoding (gAMA, cHRM, sRGB) are not copied: the model produces colours in the space of its
training images, not of the input.
"""
from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from ..errors import ConfigError
from ..export import provenance, save_png
from ..upscale.batch import BatchItem, BatchResult, NoteFn, run_batch
from ..upscale.imageio import LoadedImage, read_image
from .inference import ENSEMBLE_SHIFTS, Progress, Translator, translate_array

BatchProgress = Callable[[int, int, "Path | None"], None] | None

__all__ = ["BatchResult", "save_translated", "translate_batch", "translate_file", "translation_provenance"]


def translation_provenance(model: Translator, direction: str, source: Path | None = None,
                           tile: int | None = None, ensemble: bool = False) -> dict[str, str]:
    """The PNG text chunks that say how a translated image was made."""
    return provenance(kind="translate", model=model.name, model_sha256=model.sha256, direction=direction,
                      domains=_domains(model, direction), tile="auto" if tile is None else tile,
                      source=source.name if source else None,
                      ensemble=f"{len(ENSEMBLE_SHIFTS)} (shifted, median)" if ensemble else None)


def _domains(model: Translator, direction: str) -> str | None:
    names = model.info.get("domains") or {}
    a, b = names.get("A"), names.get("B")
    if not a or not b:
        return None
    return f"{a} -> {b}" if direction == "AtoB" else f"{b} -> {a}"


def translate_file(source: str | os.PathLike, target: str | os.PathLike, model: Translator, direction: str = "AtoB",
                   *, tile: int | None = None, ensemble: bool = False, overwrite: bool = False,
                   progress: Progress = None, should_stop: Callable[[], bool] | None = None,
                   notes: list[str] | None = None) -> Path:
    """Read, translate and write one image as PNG (same size as the input). ``notes``: a list that
    receives what reading the image changed (``LoadedImage.notes``)."""
    image = read_image(source)
    if notes is not None:
        notes.extend(image.notes)
    out = translate_array(model, image.pixels, direction, tile=tile, ensemble=ensemble, progress=progress,
                          should_stop=should_stop)
    return save_translated(out, target, model, direction, source=image, tile=tile, ensemble=ensemble,
                           overwrite=overwrite)


def save_translated(pixels: np.ndarray, target: str | os.PathLike, model: Translator, direction: str, *,
                    source: LoadedImage, tile: int | None = None, ensemble: bool = False,
                    overwrite: bool = False) -> Path:
    """Write a translated image as PNG with provenance and ``source``'s metadata, less its colour
    profile and encoding (see the module's docstring). Never overwrites unless ``overwrite``."""
    meta = translation_provenance(model, direction, source.path, tile, ensemble)
    carried = source.metadata_for(pixels).without_colour()
    return save_png(pixels, target, meta, overwrite=overwrite, carried=carried)


def translate_batch(inputs: Sequence[str | os.PathLike], out_dir: str | os.PathLike, model: Translator,
                    direction: str = "AtoB", *, recursive: bool = False, existing: str = "skip",
                    tile: int | None = None, ensemble: bool = False, progress: BatchProgress = None,
                    tile_progress: Progress = None,
                    should_stop: Callable[[], bool] | None = None, on_note: NoteFn | None = None) -> BatchResult:
    """Translate files and folders into ``out_dir``, continuing past files that fail.

    A file goes to ``out_dir/<stem>.png``; a folder's images keep their sub-folders
    (``plan_batch`` and ``upscale.batch``'s docstring give the names; an input is never an
    output). A wrong direction or tile raises ConfigError, and an output folder that cannot be
    written ExportError, before any file is read. ``existing``: "skip" keeps outputs already
    there, "overwrite" replaces them. ``progress(done, total, file about to start or None at the end)``; ``tile_progress``
    within a file; ``should_stop`` between files and tiles ends the batch with ``cancelled`` set
    (the file in progress is not written); ``on_note(file, notes)`` for each written file that was
    converted on reading (also in ``result.notes``).
    """
    model.generator(direction)   # a wrong direction or tile is one error, not one per file
    if tile is not None and tile < 0:
        raise ConfigError(f"The tile size must be 0 (no tiles) or positive, got {tile}.")

    def process(item: BatchItem, overwrite: bool, on_tile: Progress, stop: Callable[[], bool] | None) -> Path:
        return translate_file(item.source, item.target, model, direction, tile=tile, ensemble=ensemble,
                              overwrite=overwrite, progress=on_tile, should_stop=stop, notes=item.notes)

    return run_batch(inputs, out_dir, process, recursive=recursive, existing=existing, progress=progress,
                     tile_progress=tile_progress, should_stop=should_stop, made_with={"direction": direction},
                     on_note=on_note)
