"""Upscaling files and folders: one image, or a batch that mirrors folders into an output folder.

Used by the CLI and the GUI's Upscale panel (which runs it on a worker thread and cancels through
``should_stop``). A batch continues past files it cannot read or write and lists them at the end.
"""
from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from ..data import Cancelled
from ..errors import ConfigError, ExportError, GanStudioError
from .imageio import LoadedImage, read_image, save_upscaled
from .tiling import InferenceSettings, ProgressFn, Upscaler, upscale_array

#: file types a folder scan picks up (explicitly named files are tried whatever their type)
IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff", ".gif", ".tga", ".ppm",
                            ".pgm"})
#: the settings used when none are given: tiles from free memory, fastest precision and layout
DEFAULT_SETTINGS = InferenceSettings()
EXISTING_POLICIES = ("skip", "overwrite")

BatchProgressFn = Callable[[int, int, "Path | None"], None]


@dataclass(frozen=True)
class BatchItem:
    source: Path     # the input image
    target: Path     # where its upscaled PNG goes


@dataclass
class BatchResult:
    """What a batch did. ``failed`` holds (file, reason in plain words)."""
    written: list[Path] = field(default_factory=list)
    skipped_existing: list[Path] = field(default_factory=list)
    failed: list[tuple[Path, str]] = field(default_factory=list)
    cancelled: bool = False
    stopped: str | None = None   # why the batch ended early on its own (the output disk is full)

    @property
    def total(self) -> int:
        return len(self.written) + len(self.skipped_existing) + len(self.failed)

    def summary(self) -> str:
        text = (f"{len(self.written)} written, {len(self.skipped_existing)} skipped (already there), "
                f"{len(self.failed)} failed")
        if self.stopped:
            text += f" - stopped: {self.stopped}"
        return text + (" - cancelled" if self.cancelled else "")


def upscale_image(image: LoadedImage, upscaler: Upscaler, settings: InferenceSettings = DEFAULT_SETTINGS, *,
                  progress: ProgressFn | None = None,
                  should_stop: Callable[[], bool] | None = None) -> np.ndarray:
    """Upscale a loaded image (grey stays grey, alpha is upscaled too); uint8 result, same channels."""
    return upscale_array(upscaler, image.pixels, upscaler.scale, progress=progress, should_stop=should_stop,
                         **settings.kwargs())


def upscale_file(source: str | os.PathLike, target: str | os.PathLike, upscaler: Upscaler,
                 settings: InferenceSettings = DEFAULT_SETTINGS, *, overwrite: bool = False,
                 progress: ProgressFn | None = None, should_stop: Callable[[], bool] | None = None) -> Path:
    """Read, upscale and write one image as PNG (with its ICC profile, EXIF and provenance)."""
    image = read_image(source)
    pixels = upscale_image(image, upscaler, settings, progress=progress, should_stop=should_stop)
    return save_upscaled(pixels, target, upscaler=upscaler, settings=settings, source=image,
                         overwrite=overwrite)


def plan_batch(inputs: Sequence[str | os.PathLike], out_dir: str | os.PathLike, *,
               recursive: bool = True) -> tuple[list[BatchItem], list[tuple[Path, str]]]:
    """(items to upscale, inputs that do not exist) for files and folders.

    A file goes to ``out_dir/<stem>.png``; a folder's images go to ``out_dir`` with the folder's
    inner structure mirrored (``album/2019/a.jpg`` -> ``out/2019/a.png``). Hidden files and the
    output folder itself (when it lies inside an input folder) are skipped. When two inputs would
    write the same name (``a.jpg`` and ``a.png``), the later one becomes ``a-png.png``.
    """
    out_dir = Path(out_dir)
    out_resolved = out_dir.resolve()
    items: list[BatchItem] = []
    missing: list[tuple[Path, str]] = []
    taken: set[Path] = set()
    for raw in inputs:
        src = Path(raw)
        if src.is_file():
            pairs: Iterable[tuple[Path, Path]] = [(src, Path(src.name))]
        elif src.is_dir():
            pairs = ((p, p.relative_to(src)) for p in _scan(src, recursive, out_resolved))
        else:
            missing.append((src, "does not exist"))
            continue
        for path, rel in pairs:
            target = _free_target(out_dir / rel.parent, path, taken)
            taken.add(target)
            items.append(BatchItem(path, target))
    return items, missing


def _scan(folder: Path, recursive: bool, skip: Path) -> list[Path]:
    found = []
    for root, dirs, files in os.walk(folder):
        root_path = Path(root)
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and (root_path / d).resolve() != skip)
        if not recursive:
            dirs[:] = []
        found.extend(root_path / f for f in sorted(files)
                     if not f.startswith(".") and Path(f).suffix.lower() in IMAGE_SUFFIXES)
    return found


def _free_target(folder: Path, source: Path, taken: set[Path]) -> Path:
    target = folder / f"{source.stem}.png"
    if target not in taken:
        return target
    base = f"{source.stem}-{source.suffix.lstrip('.').lower() or 'file'}"
    target, n = folder / f"{base}.png", 1
    while target in taken:
        target, n = folder / f"{base}-{n}.png", n + 1
    return target


#: what ``run_batch`` calls per file: (item, overwrite, tile progress, should_stop) -> the written path
ProcessFn = Callable[[BatchItem, bool, "ProgressFn | None", "Callable[[], bool] | None"], Path]


def run_batch(inputs: Sequence[str | os.PathLike], out_dir: str | os.PathLike, process: ProcessFn, *,
              recursive: bool = True, existing: str = "skip", progress: BatchProgressFn | None = None,
              tile_progress: ProgressFn | None = None,
              should_stop: Callable[[], bool] | None = None) -> BatchResult:
    """The batch loop shared by every image-to-image tool (upscale, translate).

    Plans the files (``plan_batch``), skips or overwrites existing outputs, calls ``process`` per
    file, records failures with their reasons and goes on, and stops cleanly when ``should_stop``
    returns True between files or when ``process`` raises ``Cancelled`` mid-file.
    """
    if existing not in EXISTING_POLICIES:
        raise ConfigError(f"Invalid policy for existing files {existing!r}. "
                          "Only skip and overwrite are supported.")
    items, missing = plan_batch(inputs, out_dir, recursive=recursive)
    result = BatchResult(failed=list(missing))
    total, done = len(items), 0
    for item in items:
        if should_stop is not None and should_stop():
            result.cancelled = True
            break
        if progress is not None:
            progress(done, total, item.source)
        if item.target.exists() and _same_file(item.source, item.target):
            result.failed.append((item.source,
                                  "the output would replace this input; choose another output folder"))
            done += 1
            continue
        if item.target.exists() and existing == "skip":
            result.skipped_existing.append(item.target)
            done += 1
            continue
        try:
            result.written.append(process(item, existing == "overwrite", tile_progress, should_stop))
        except Cancelled:
            result.cancelled = True
            break
        except GanStudioError as e:
            result.failed.append((item.source, str(e)))
            if isinstance(e, ExportError) and e.disk_full:   # the next files would fail the same way
                left = total - done - 1
                result.stopped = (f"the output disk is full; {left} more file(s) not started. Free some space "
                                  "and run the batch again: finished files are skipped.")
                break
        except (torch.OutOfMemoryError, MemoryError):
            result.failed.append((item.source, "out of memory; choose a smaller tile size"))
        except Exception as e:  # noqa: BLE001 - one odd file must not end a long batch; its reason is listed
            result.failed.append((item.source, f"{type(e).__name__}: {e}"))
        done += 1
    if progress is not None:
        progress(done, total, None)
    return result


def _same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def upscale_batch(inputs: Sequence[str | os.PathLike], out_dir: str | os.PathLike, model: Upscaler, *,
                  recursive: bool = True, existing: str = "skip",
                  settings: InferenceSettings = DEFAULT_SETTINGS,
                  progress: BatchProgressFn | None = None, tile_progress: ProgressFn | None = None,
                  should_stop: Callable[[], bool] | None = None) -> BatchResult:
    """Upscale files and folders into ``out_dir`` (see ``plan_batch`` for the naming).

    Args:
        existing: "skip" leaves outputs that already exist alone; "overwrite" replaces them.
        progress: called with (files done, files total, file about to start; None at the end).
        tile_progress: called with (tiles done, tiles total) within the current file.
        should_stop: checked between files and between tiles; True ends the batch with
            ``cancelled`` set (the file in progress is not written).
    """
    def process(item: BatchItem, overwrite: bool, on_tile: ProgressFn | None,
                stop: Callable[[], bool] | None) -> Path:
        return upscale_file(item.source, item.target, model, settings, overwrite=overwrite, progress=on_tile,
                            should_stop=stop)

    return run_batch(inputs, out_dir, process, recursive=recursive, existing=existing, progress=progress,
                     tile_progress=tile_progress, should_stop=should_stop)
