"""Upscaling files and folders: one image, or a batch that mirrors folders into an output folder.

Used by the CLI and the GUI's Upscale panel (which runs it on a worker thread and cancels through
``should_stop``). A batch continues past files it cannot read or write and lists them at the end.

Output names (``plan_batch``; Translate uses the same rules). They depend only on the input's own
name and folder, never on what else is in the batch or in which order, so a later run of one file
finds the output that an earlier folder run made for it:

- ``a.jpg`` becomes ``a.png`` in the output folder (a folder's sub-folders are mirrored).
- When the input's folder also holds other images called ``a`` (``a.jpg`` beside ``a.png``), a PNG
  keeps ``a.png`` and the others add their type: ``a-jpg.png``, ``a-jpeg.png``.
- Only when two inputs still meet on one name (``x/a.jpg`` and ``y/a.jpg`` into one folder) does
  the later one add its type, then a number: ``a-jpg.png``, ``a-jpg-1.png``.

A batch that writes into the folder it reads leaves out the PNGs it made there before (their
``ganstudio:source`` names another file of that folder): a rerun skips or replaces them instead of
upscaling them again or piling up copies.

Before any image is read, the batch checks its settings and that the output folder can be
written (one error, not one per file), and it refuses every file whose output would be one of the
batch's inputs: an input is never replaced, whatever happens to existing outputs, and every file
the batch reads was there before it started. "skip" leaves an existing output alone, unless its
``ganstudio:source`` says it was made from another file; that file is listed as failed instead of
being counted as done.
"""
from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from ..data import Cancelled
from ..device import resolve_device, resolve_precision
from ..errors import ConfigError, ExportError, GanStudioError
from ..export import check_output_folder, read_png_metadata
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
    #: what reading the image changed (an animated GIF's first frame, CMYK, 16 bits): ``process``
    #: adds them, ``run_batch`` reports them once the file is written
    notes: list[str] = field(default_factory=list, compare=False)


@dataclass
class BatchResult:
    """What a batch did. ``failed`` holds (file, reason in plain words); ``notes`` (file, what reading
    it changed) for files that were written."""
    written: list[Path] = field(default_factory=list)
    skipped_existing: list[Path] = field(default_factory=list)
    failed: list[tuple[Path, str]] = field(default_factory=list)
    notes: list[tuple[Path, str]] = field(default_factory=list)
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
                 progress: ProgressFn | None = None, should_stop: Callable[[], bool] | None = None,
                 notes: list[str] | None = None) -> Path:
    """Read, upscale and write one image as PNG (with its metadata and provenance: ``save_upscaled``).
    ``notes``: a list that receives what reading the image changed (``LoadedImage.notes``)."""
    image = read_image(source)
    if notes is not None:
        notes.extend(image.notes)
    pixels = upscale_image(image, upscaler, settings, progress=progress, should_stop=should_stop)
    return save_upscaled(pixels, target, upscaler=upscaler, settings=settings, source=image,
                         overwrite=overwrite)


def plan_batch(inputs: Sequence[str | os.PathLike], out_dir: str | os.PathLike, *,
               recursive: bool = True) -> tuple[list[BatchItem], list[tuple[Path, str]]]:
    """(items to upscale, inputs that do not exist) for files and folders.

    A file goes to ``out_dir/<name>``; a folder's images go to ``out_dir`` with the folder's
    inner structure mirrored (``album/2019/a.jpg`` -> ``out/2019/a.png``); ``output_name`` and
    the module's docstring give the names. Hidden files and the output folder itself (when it lies
    inside an input folder) are skipped; a file given twice (itself and inside a given folder) is
    planned once.
    """
    out_dir = Path(out_dir)
    out_resolved = out_dir.resolve()
    items: list[BatchItem] = []
    missing: list[tuple[Path, str]] = []
    taken: set[str] = set()
    seen: set[str] = set()
    stems: dict[Path, dict[str, int]] = {}
    results_here: dict[Path, set[str]] = {}    # per folder that is also its own output folder
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
            identity = os.path.normcase(os.path.realpath(path))
            if identity in seen:
                continue
            seen.add(identity)
            if path.parent not in stems:
                same = (out_dir / rel.parent).resolve() == path.parent.resolve()
                # writing into the folder it reads: results of an earlier run are outputs, not inputs
                results_here[path.parent] = _results_of_siblings(path.parent) if same else set()
                stems[path.parent] = _image_stems(path.parent, results_here[path.parent])
            if path.name in results_here[path.parent]:
                continue
            target = _free_target(out_dir / rel.parent, path, output_name(path, stems[path.parent]), taken)
            taken.add(os.path.normcase(str(target)))
            items.append(BatchItem(path, target))
    return items, missing


def output_name(source: Path, folder_stems: dict[str, int] | None = None) -> str:
    """The output file name of ``source``: ``a.png``, or ``a-jpg.png`` when ``source`` is not a
    PNG and its folder holds other images named ``a`` (``folder_stems``: image stems -> count in
    that folder; read from the disk when not given)."""
    stems = _image_stems(source.parent) if folder_stems is None else folder_stems
    ext = source.suffix.lower()
    namesakes = stems.get(source.stem, 0) - (1 if ext in IMAGE_SUFFIXES else 0)
    if ext == ".png" or namesakes <= 0:
        return f"{source.stem}.png"
    return f"{source.stem}-{ext.lstrip('.') or 'file'}.png"


def _image_stems(folder: Path, leave_out: set[str] | frozenset[str] = frozenset()) -> dict[str, int]:
    """How many image files (by type) of ``folder`` share each stem (``leave_out``: names not counted)."""
    counts: dict[str, int] = {}
    try:
        with os.scandir(folder) as entries:
            for entry in entries:
                stem, ext = os.path.splitext(entry.name)
                if ext.lower() in IMAGE_SUFFIXES and entry.is_file() and entry.name not in leave_out:
                    counts[stem] = counts.get(stem, 0) + 1
    except OSError:   # an unreadable folder: its files fail with their own reasons when read
        pass
    return counts


def _results_of_siblings(folder: Path) -> set[str]:
    """The PNGs of ``folder`` that GAN Studio made from another file of that folder (their
    ``ganstudio:source`` names it): when a batch writes into the folder it reads, they are earlier
    results, so a rerun skips or replaces them instead of upscaling them again."""
    found = set()
    try:
        names = {e.name for e in os.scandir(folder) if e.is_file()}
    except OSError:
        return found
    for name in names:
        if name.lower().endswith(".png"):
            source = _png_metadata(folder / name).get("source")
            if source is not None and source != name and source in names:
                found.add(name)
    return found


def _png_metadata(path: Path) -> dict[str, str]:
    """``read_png_metadata``, or {} for a file that is not a readable PNG (any file may sit there)."""
    try:
        return read_png_metadata(path)
    except Exception:  # noqa: BLE001 - a damaged file raises many types; one that says nothing is no output
        return {}


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


def _free_target(folder: Path, source: Path, name: str, taken: set[str]) -> Path:
    """``folder/name``, unless an earlier input of the batch has that name: then the name with
    the source's type added (``a-jpg.png``), then numbered (``a-jpg-1.png``)."""
    target = folder / name
    if os.path.normcase(str(target)) not in taken:
        return target
    base = f"{source.stem}-{source.suffix.lstrip('.').lower() or 'file'}"
    target, n = folder / f"{base}.png", 1
    while os.path.normcase(str(target)) in taken:
        target, n = folder / f"{base}-{n}.png", n + 1
    return target


#: what ``run_batch`` calls per file: (item, overwrite, tile progress, should_stop) -> the written path
ProcessFn = Callable[[BatchItem, bool, "ProgressFn | None", "Callable[[], bool] | None"], Path]
#: told (file, what reading it changed) for each written file whose image was converted on reading
NoteFn = Callable[[Path, list[str]], None]


def run_batch(inputs: Sequence[str | os.PathLike], out_dir: str | os.PathLike, process: ProcessFn, *,
              recursive: bool = True, existing: str = "skip", progress: BatchProgressFn | None = None,
              tile_progress: ProgressFn | None = None,
              should_stop: Callable[[], bool] | None = None, made_with: dict[str, str] | None = None,
              on_note: NoteFn | None = None) -> BatchResult:
    """The batch loop shared by every image-to-image tool (upscale, translate).

    ``made_with``: text chunks an existing output must also carry for "skip" to count it as done (a
    translation's direction: an A->B result is no B->A result of the same file).

    Plans the files (``plan_batch``), checks once that the output folder can be written (raises
    ExportError, before any file is read), refuses files whose output would be an input, skips or
    overwrites existing outputs, calls ``process`` per file, records failures with their reasons
    and goes on, and stops cleanly when ``should_stop`` returns True between files or when
    ``process`` raises ``Cancelled`` mid-file. What ``process`` adds to ``item.notes`` goes into
    ``result.notes`` and to ``on_note(file, notes)`` once the file is written.
    """
    if existing not in EXISTING_POLICIES:
        raise ConfigError(f"Invalid policy for existing files {existing!r}. "
                          "Only skip and overwrite are supported.")
    items, missing = plan_batch(inputs, out_dir, recursive=recursive)
    if items:
        check_output_folder(out_dir)   # one clear error before any image, not one per file
    result = BatchResult(failed=list(missing))
    items = _refuse_inputs_as_targets(items, result.failed)
    total, done = len(items), 0
    for item in items:
        if should_stop is not None and should_stop():
            result.cancelled = True
            break
        if progress is not None:
            progress(done, total, item.source)
        if item.target.exists() and existing == "skip":
            conflict = _not_this_output(item, made_with or {})
            if conflict is None:
                result.skipped_existing.append(item.target)
            else:
                result.failed.append((item.source, f"{item.target} already holds {conflict}; allow "
                                      "overwriting or choose another output folder"))
            done += 1
            continue
        try:
            result.written.append(process(item, existing == "overwrite", tile_progress, should_stop))
            if item.notes:
                result.notes.extend((item.source, note) for note in item.notes)
                if on_note is not None:
                    on_note(item.source, list(item.notes))
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


def _refuse_inputs_as_targets(items: list[BatchItem], failed: list[tuple[Path, str]]) -> list[BatchItem]:
    """The items whose output is none of the batch's inputs; the others go to ``failed``.

    Files are compared by identity (device and inode), so another spelling, a link or a
    case-insensitive disk cannot hide that an output would be an input."""
    inputs = {key for key in (_file_identity(i.source) for i in items) if key is not None}
    keep = []
    for item in items:
        target = _file_identity(item.target)
        if target is None or target not in inputs:
            keep.append(item)
        elif target == _file_identity(item.source):
            failed.append((item.source, "the output would replace this input; choose another output folder"))
        else:
            failed.append((item.source, f"its output {item.target} would replace another input of this "
                                        "batch; choose another output folder"))
    return keep


def _file_identity(path: Path) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino


def _not_this_output(item: BatchItem, made_with: dict[str, str]) -> str | None:
    """Why an existing output is not this item's result, from its text chunks: made from another
    file (``ganstudio:source``), or with another of ``made_with``'s facts (a direction); None when it
    is, or when the file does not say (not ours, or not a PNG)."""
    meta = _png_metadata(item.target)
    source = meta.get("source")
    if source is not None and source != item.source.name:
        return f"the output of {source}, not of this file"
    for key, wanted in made_with.items():
        found = meta.get(key)
        if found is not None and found != wanted:
            return f"a result made with {key} {found}, not {wanted}"
    return None


def check_settings(settings: InferenceSettings) -> None:
    """Raise ConfigError for settings that no image can run with (a batch checks them once,
    before reading any file): a negative tile or overlap, an unknown or missing device, an
    unknown precision or one the device cannot run."""
    if settings.tile is not None and settings.tile < 0:
        raise ConfigError(f"tile must be 0 (no tiling) or a positive size, got {settings.tile}.")
    if settings.overlap is not None and settings.overlap < 0:
        raise ConfigError(f"overlap must be 0 or more, got {settings.overlap}.")
    resolve_precision(settings.precision, resolve_device(settings.device))


def upscale_batch(inputs: Sequence[str | os.PathLike], out_dir: str | os.PathLike, model: Upscaler, *,
                  recursive: bool = True, existing: str = "skip",
                  settings: InferenceSettings = DEFAULT_SETTINGS,
                  progress: BatchProgressFn | None = None, tile_progress: ProgressFn | None = None,
                  should_stop: Callable[[], bool] | None = None, on_note: NoteFn | None = None) -> BatchResult:
    """Upscale files and folders into ``out_dir`` (see ``plan_batch`` for the naming).

    Raises ConfigError for invalid ``settings`` and ExportError for an output folder that cannot
    be written, both before any file is read.

    Args:
        existing: "skip" leaves outputs that already exist alone; "overwrite" replaces them.
        progress: called with (files done, files total, file about to start; None at the end).
        tile_progress: called with (tiles done, tiles total) within the current file.
        should_stop: checked between files and between tiles; True ends the batch with
            ``cancelled`` set (the file in progress is not written).
        on_note: told (file, notes) for each written file that was converted on reading.
    """
    check_settings(settings)

    def process(item: BatchItem, overwrite: bool, on_tile: ProgressFn | None,
                stop: Callable[[], bool] | None) -> Path:
        return upscale_file(item.source, item.target, model, settings, overwrite=overwrite, progress=on_tile,
                            should_stop=stop, notes=item.notes)

    return run_batch(inputs, out_dir, process, recursive=recursive, existing=existing, progress=progress,
                     tile_progress=tile_progress, should_stop=should_stop, on_note=on_note)
