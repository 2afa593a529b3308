"""Translation data: paired folders, side-by-side pairs, unpaired folders, and their augmentation.

Images are decoded **once, into memory**, at the load size: each image is resized (bicubic, with
antialiasing) so that its short side equals ``load_size`` and its aspect ratio is kept
(``load_size=0`` keeps the native size). Transparent pixels are composited onto white. Each side
is stored grey (1 channel) when every image on that side is grey and ``channels="auto"``, RGB
otherwise. In a pair, B is resized to A's exact size if the two differ.

Training batches are random ``crop_size`` squares. For pairs, the crop, the flip and the jitter
(an integer-pixel shift and a small zoom) are drawn once per pair from a seeded
``torch.Generator`` and applied to A and B alike, so the pair stays aligned.
"""
from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from ..data import Cancelled, SkippedFile, median_side, scan_folder
from ..errors import ConfigError, DatasetError
from ..upscale.imageio import read_image

CHANNEL_MODES = ("auto", "rgb", "grey")
#: share of training crops that are zoomed: resampling blurs a little, so the rest stay pixel-exact
ZOOM_SHARE = 0.5
SPLITS = ("A|B", "B|A")

Progress = Callable[[str, float], None] | None
ShouldStop = Callable[[], bool] | None


def over_white(pixels: np.ndarray) -> np.ndarray:
    """uint8 HxWxC (C = 1 grey, 2 grey+alpha, 3 RGB, 4 RGBA) -> HxWx3 RGB, transparency over white."""
    c = pixels.shape[2]
    if c in (2, 4):
        alpha = pixels[:, :, -1:].astype(np.float32) / 255
        pixels = np.rint(pixels[:, :, :-1] * alpha + 255 * (1 - alpha)).astype(np.uint8)
    if pixels.shape[2] == 1:
        pixels = np.repeat(pixels, 3, axis=2)
    return np.ascontiguousarray(pixels)


def read_rgb(path: str | os.PathLike, load_size: int = 0) -> np.ndarray:
    """Decode an image as uint8 HxWx3 RGB, transparency over white, resized so that its short side
    is ``load_size`` (0: native size). Decoding is ``upscale.imageio.read_image``'s (EXIF rotation,
    16-bit, CMYK, palettes), the same as for translating, so training sees what inference sees.
    Raises DatasetError naming the file if it cannot be read.
    """
    return _resize_short(over_white(read_image(path).pixels), load_size)


def _is_grey(rgb: np.ndarray) -> bool:
    return bool((rgb[..., 0] == rgb[..., 1]).all() and (rgb[..., 1] == rgb[..., 2]).all())


def rgb_to_tensor(rgb: np.ndarray, channels: int) -> torch.Tensor:
    """uint8 HxWx3 RGB -> uint8 CxHxW tensor with 1 (luma) or 3 channels."""
    t = torch.from_numpy(np.array(rgb, copy=True)).permute(2, 0, 1)
    if channels == 1:
        # ITU-R 601 luma, as PIL's "L" conversion
        t = (t[0:1].float() * 0.299 + t[1:2].float() * 0.587 + t[2:3].float() * 0.114).round().to(torch.uint8)
    return t.contiguous()


def _resolve_channels(mode: str, all_grey: bool) -> int:
    if mode not in CHANNEL_MODES:
        raise ConfigError(f"Invalid channels {mode!r}. Only {', '.join(CHANNEL_MODES)} are supported.")
    if mode == "auto":
        return 1 if all_grey else 3
    return 1 if mode == "grey" else 3


def _progress(progress: Progress, should_stop: ShouldStop, what: str, done: int, total: int) -> None:
    if should_stop is not None and should_stop():
        raise Cancelled("Loading the images was cancelled.")
    if progress is not None and (done % 64 == 0 or done == total):
        progress(what, done / max(1, total))


def check_two_folders(a_dir: Path, b_dir: Path) -> None:
    """Refuse A and B when they are one folder (or one inside the other): the model would learn to
    copy its input, or pairs would be a file with itself."""
    try:
        a, b = a_dir.resolve(), b_dir.resolve()
    except OSError:
        return   # an unreadable path: the scan says what is wrong with it
    if a == b:
        raise DatasetError(f"A and B are the same folder ({a_dir}): choose the folder of input images as A "
                           "and the folder of the images they should become as B.")
    if a.is_relative_to(b) or b.is_relative_to(a):
        inner, outer = (a_dir, b_dir) if a.is_relative_to(b) else (b_dir, a_dir)
        raise DatasetError(f"{inner} is inside {outer}, so its images would count on both sides: choose "
                           "two separate folders for A and B.")


def checked_images(root: str | os.PathLike, label: str, progress: Progress = None,
                   should_stop: ShouldStop = None) -> tuple[list[Path], list[SkippedFile], dict[Path, tuple[int, int]]]:
    """Image files below ``root`` that pass the header checks, the skipped ones with reasons, and
    the (width, height) of each usable one as displayed (``data.scan_folder`` without decoding: the
    loaders decode each file once and skip failures)."""
    report = scan_folder(root, should_stop=should_stop, decode=False,
                         progress=None if progress is None else
                         lambda done, total: progress(f"Checking the {label} images", done / max(1, total)))
    return report.usable, list(report.skipped), dict(zip(report.usable, report.sizes))


def short_sides(sizes: Iterable[tuple[int, int]], side_by_side: bool = False) -> list[int]:
    """The shorter side of each of ``sizes`` ((width, height); side by side: of each half)."""
    return [min(w // 2, h) if side_by_side else min(w, h) for w, h in sizes]


def fitting_crop(min_side: int) -> int:
    """The largest training crop (a multiple of 16, the default U-Net's step) that fits in images
    whose shorter side is ``min_side`` pixels, so that nothing has to be enlarged; at least 16."""
    return max(16, min_side // 16 * 16)


@dataclass
class PairingReport:
    """How two folders were matched by file name."""
    pairs: list[tuple[Path, Path]]
    unmatched_a: list[Path]
    unmatched_b: list[Path]
    skipped: list[SkippedFile] = field(default_factory=list)
    sizes: dict[Path, tuple[int, int]] = field(default_factory=dict)   # (width, height) of each file
    #: usable files of A whose partner in B exists but is skipped (unreadable, ambiguous), with that
    #: partner's entry in ``skipped`` (several when the partner's name is ambiguous); not in ``unmatched_a``
    unreadable_partner_a: list[tuple[Path, list[SkippedFile]]] = field(default_factory=list)
    unreadable_partner_b: list[tuple[Path, list[SkippedFile]]] = field(default_factory=list)   # as for A

    def summary(self) -> str:
        parts = [f"{len(self.pairs)} pairs"]
        if self.unmatched_a:
            parts.append(f"{len(self.unmatched_a)} in A without a partner (e.g. {self.unmatched_a[0].name})")
        if self.unmatched_b:
            parts.append(f"{len(self.unmatched_b)} in B without a partner (e.g. {self.unmatched_b[0].name})")
        for side, other, found in (("A", "B", self.unreadable_partner_a), ("B", "A", self.unreadable_partner_b)):
            if found:
                path, partners = found[0]
                parts.append(f"{len(found)} in {side} whose partner in {other} cannot be used (e.g. {path.name}; "
                             f"{partners[0].path.name}: {partners[0].reason})")
        if self.skipped:
            parts.append(f"{len(self.skipped)} skipped")
        return "; ".join(parts)

    def reshaped_pairs(self, tolerance: float = 0.02) -> list[tuple[Path, Path]]:
        """Pairs whose A and B differ in shape (aspect ratio) by more than ``tolerance``: B is resized
        to A's size, which distorts it."""
        out = []
        for pa, pb in self.pairs:
            (wa, ha), (wb, hb) = self.sizes.get(pa, (1, 1)), self.sizes.get(pb, (1, 1))
            if abs(math.log((wa / ha) / (wb / hb))) > tolerance:
                out.append((pa, pb))
        return out


def match_pairs(a_dir: str | os.PathLike, b_dir: str | os.PathLike, *, progress: Progress = None,
                should_stop: ShouldStop = None) -> PairingReport:
    """Pair A/x.ext with B/x.ext2 by relative path without the suffix (sub-folders included).

    Both folders are checked with ``data.scan_folder``: unreadable files are skipped with its
    reasons. Two files with the same name but different suffixes on one side (cat.png, cat.jpg)
    are ambiguous: both are skipped. Raises DatasetError when no pair matches.
    """
    a_dir, b_dir = Path(a_dir), Path(b_dir)
    check_two_folders(a_dir, b_dir)
    skipped: list[SkippedFile] = []
    sizes: dict[Path, tuple[int, int]] = {}

    def key_of(root: Path, path: Path) -> str | None:
        if path.is_dir():   # an unreadable sub-folder is nobody's partner
            return None
        try:
            return path.relative_to(root).with_suffix("").as_posix()
        except ValueError:
            return None

    def keyed(root: Path, label: str) -> tuple[dict[str, Path], dict[str, list[SkippedFile]]]:
        """The usable files of one side by key, and the skipped ones by key (a partner that exists but
        cannot be used must not read as a missing one)."""
        usable, unusable, found = checked_images(root, label, progress, should_stop)
        sizes.update(found)
        dropped: dict[str, list[SkippedFile]] = {}

        def skip(entry: SkippedFile) -> None:
            skipped.append(entry)
            key = key_of(root, entry.path)
            if key is not None:
                dropped.setdefault(key, []).append(entry)

        for entry in unusable:
            skip(entry)
        by_key: dict[str, list[Path]] = {}
        for p in usable:
            by_key.setdefault(p.relative_to(root).with_suffix("").as_posix(), []).append(p)
        out = {}
        for key, paths in by_key.items():
            if len(paths) > 1:
                names = ", ".join(p.name for p in paths)
                for p in paths:
                    skip(SkippedFile(p, f"ambiguous: several files named {key!r} ({names})"))
            else:
                out[key] = paths[0]
        return out, dropped

    (a, dropped_a), (b, dropped_b) = keyed(a_dir, "A"), keyed(b_dir, "B")
    common = sorted(set(a) & set(b))
    only_a, only_b = sorted(set(a) - set(b)), sorted(set(b) - set(a))
    report = PairingReport(pairs=[(a[k], b[k]) for k in common],
                           unmatched_a=[a[k] for k in only_a if k not in dropped_b],
                           unmatched_b=[b[k] for k in only_b if k not in dropped_a], skipped=skipped, sizes=sizes,
                           unreadable_partner_a=[(a[k], dropped_b[k]) for k in only_a if k in dropped_b],
                           unreadable_partner_b=[(b[k], dropped_a[k]) for k in only_b if k in dropped_a])
    if not report.pairs:
        example = f"{a_dir.name}/cat.png <-> {b_dir.name}/cat.png"
        raise DatasetError(f"No matching pairs: A ({a_dir}) has {len(a)} image files, B ({b_dir}) has {len(b)}; "
                           f"names must match, e.g. {example}.")
    return report


class PairedImages:
    """Aligned (A, B) images in memory: ``a[i]`` and ``b[i]`` are uint8 CxHxW tensors of one size."""

    def __init__(self, a: list[torch.Tensor], b: list[torch.Tensor], names: list[str],
                 skipped: list[SkippedFile], report: PairingReport | None = None, native_side: int = 0) -> None:
        self.a, self.b, self.names, self.skipped, self.report = a, b, names, skipped, report
        #: the median shorter side of the files before resizing (0: unknown)
        self.native_side = native_side
        self.a_channels = a[0].shape[0] if a else 1
        self.b_channels = b[0].shape[0] if b else 1

    def __len__(self) -> int:
        return len(self.a)

    def subset(self, indices: Sequence[int]) -> PairedImages:
        return PairedImages([self.a[i] for i in indices], [self.b[i] for i in indices],
                            [self.names[i] for i in indices], self.skipped, self.report, self.native_side)



def _pair_tensors(a_rgb: list[np.ndarray], b_rgb: list[np.ndarray], channels: str,
                  skipped: list[SkippedFile]) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    if not a_rgb:
        reasons = "; ".join(f"{s.path.name}: {s.reason}" for s in skipped[:3])
        raise DatasetError(f"None of the {len(skipped)} pairs could be read ({reasons}).")
    ca = _resolve_channels(channels, all(_is_grey(x) for x in a_rgb))
    cb = _resolve_channels(channels, all(_is_grey(x) for x in b_rgb))
    return [rgb_to_tensor(x, ca) for x in a_rgb], [rgb_to_tensor(x, cb) for x in b_rgb]


class PairedFolders(PairedImages):
    """Two folders matched by file name (``match_pairs``), every pair decoded into memory.

    Pairs where either file cannot be read are skipped with the reason; ``report`` keeps the
    unmatched names of both sides.
    """

    def __init__(self, a_dir: str | os.PathLike, b_dir: str | os.PathLike, *, load_size: int = 286,
                 channels: str = "auto", progress: Progress = None, should_stop: ShouldStop = None) -> None:
        super().__init__(*_load_pairs(a_dir, b_dir, load_size, channels, progress, should_stop))


def _load_pairs(a_dir, b_dir, load_size, channels, progress, should_stop):
    report = match_pairs(a_dir, b_dir, progress=progress, should_stop=should_stop)
    skipped = list(report.skipped)
    a_rgb, b_rgb, names, used = [], [], [], []
    for i, (pa, pb) in enumerate(report.pairs):
        _progress(progress, should_stop, "Loading image pairs", i, len(report.pairs))
        try:
            a = read_rgb(pa, load_size)
        except Exception as e:  # PIL raises many types for damaged files
            skipped.append(SkippedFile(pa, f"unreadable: {e}"))
            continue
        try:
            b = read_rgb(pb, 0)
        except Exception as e:
            skipped.append(SkippedFile(pb, f"unreadable: {e}"))
            continue
        if b.shape[:2] != a.shape[:2]:
            b = np.asarray(Image.fromarray(b).resize((a.shape[1], a.shape[0]), Image.BICUBIC))
        a_rgb.append(a)
        b_rgb.append(b)
        names.append(Path(pa).relative_to(a_dir).with_suffix("").as_posix())
        used.extend((pa, pb))
    _progress(progress, should_stop, "Loading image pairs", len(report.pairs), len(report.pairs))
    native = median_side(short_sides(report.sizes[p] for p in used))
    return (*_pair_tensors(a_rgb, b_rgb, channels, skipped), names, skipped, report, native)


def split_side_by_side(rgb: np.ndarray, split: str = "A|B") -> tuple[np.ndarray, np.ndarray]:
    """The two halves of a side-by-side image, in (A, B) order. An odd middle column is dropped."""
    if split not in SPLITS:
        raise ConfigError(f"Invalid split {split!r}. Only {', '.join(SPLITS)} are supported.")
    w = rgb.shape[1]
    if w < 2:
        raise DatasetError("A side-by-side image must be at least 2 pixels wide.")
    half = w // 2
    left, right = rgb[:, :half], rgb[:, w - half:]
    return (left, right) if split == "A|B" else (right, left)


class SideBySideFolder(PairedImages):
    """Pairs from single images holding A and B side by side (``split`` names the left one first).

    Each half is resized so its short side is ``load_size``.
    """

    def __init__(self, folder: str | os.PathLike, *, split: str = "A|B", load_size: int = 286,
                 channels: str = "auto", progress: Progress = None, should_stop: ShouldStop = None) -> None:
        super().__init__(*_load_side_by_side(folder, split, load_size, channels, progress, should_stop))


def _load_side_by_side(folder, split, load_size, channels, progress, should_stop):
    if split not in SPLITS:
        raise ConfigError(f"Invalid split {split!r}. Only {', '.join(SPLITS)} are supported.")
    folder = Path(folder)
    paths, skipped, sizes = checked_images(folder, "side-by-side", progress, should_stop)
    if not paths:
        raise DatasetError(f"No usable images in {folder}; side-by-side pairs are single images holding A and B.")
    a_rgb, b_rgb, names, used = [], [], [], []
    for i, p in enumerate(paths):
        _progress(progress, should_stop, "Loading side-by-side pairs", i, len(paths))
        try:
            full = read_rgb(p, 0)
            if full.shape[1] < 2:
                raise ValueError("narrower than 2 pixels")
            a, b = split_side_by_side(full, split)
            a, b = (_resize_short(x, load_size) for x in (a, b))
        except Exception as e:
            skipped.append(SkippedFile(p, f"unreadable: {e}"))
            continue
        a_rgb.append(a)
        b_rgb.append(b)
        names.append(p.relative_to(folder).with_suffix("").as_posix())
        used.append(sizes[p])
    native = median_side(short_sides(used, side_by_side=True))
    return (*_pair_tensors(a_rgb, b_rgb, channels, skipped), names, skipped, None, native)


def _resize_short(rgb: np.ndarray, load_size: int) -> np.ndarray:
    if load_size <= 0:
        return rgb
    h, w = rgb.shape[:2]
    scale = load_size / min(h, w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    if size == (w, h):
        return rgb
    return np.asarray(Image.fromarray(rgb).resize(size, Image.BICUBIC))


class UnpairedImages:
    """Two independent collections (any sizes, any counts), each uint8 CxHxW tensors."""

    def __init__(self, a: list[torch.Tensor], b: list[torch.Tensor], names_a: list[str], names_b: list[str],
                 skipped: list[SkippedFile], native_side: int = 0) -> None:
        self.a, self.b, self.names_a, self.names_b, self.skipped = a, b, names_a, names_b, skipped
        self.native_side = native_side   # as PairedImages
        self.a_channels = a[0].shape[0]
        self.b_channels = b[0].shape[0]


class UnpairedFolders(UnpairedImages):
    """Two unrelated folders decoded into memory (each image resized to the load size)."""

    def __init__(self, a_dir: str | os.PathLike, b_dir: str | os.PathLike, *, load_size: int = 286,
                 channels: str = "auto", progress: Progress = None, should_stop: ShouldStop = None) -> None:
        super().__init__(*_load_unpaired(a_dir, b_dir, load_size, channels, progress, should_stop))


def _load_unpaired(a_dir, b_dir, load_size, channels, progress, should_stop):
    check_two_folders(Path(a_dir), Path(b_dir))
    sides = []
    skipped: list[SkippedFile] = []
    used: list[tuple[int, int]] = []
    for label, root in (("A", Path(a_dir)), ("B", Path(b_dir))):
        paths, unusable, sizes = checked_images(root, label, progress, should_stop)
        skipped.extend(unusable)
        rgbs, names = [], []
        for i, p in enumerate(paths):
            _progress(progress, should_stop, f"Loading {label} images", i, len(paths))
            try:
                rgbs.append(read_rgb(p, load_size))
                names.append(p.relative_to(root).as_posix())
                used.append(sizes[p])
            except Exception as e:
                skipped.append(SkippedFile(p, f"unreadable: {e}"))
        if not rgbs:
            reasons = "; ".join(f"{s.path.name}: {s.reason}" for s in unusable[:3])
            raise DatasetError(f"Folder {label} ({root}) has no usable images"
                               + (f" ({len(unusable)} unusable: {reasons})." if unusable else "."))
        c = _resolve_channels(channels, all(_is_grey(x) for x in rgbs))
        sides.append(([rgb_to_tensor(x, c) for x in rgbs], names))
    (a, na), (b, nb) = sides
    return a, b, na, nb, skipped, median_side(short_sides(used))


def check_crop(images: Sequence[torch.Tensor], crop_size: int, label: str) -> None:
    """Every image must be at least ``crop_size`` on both sides."""
    small = min(min(t.shape[-2:]) for t in images)
    if small < crop_size:
        raise DatasetError(f"The crop size {crop_size} is larger than the smallest {label} image side ({small} px "
                           "after loading); lower the crop size or raise the load size.")


@dataclass(frozen=True)
class Augment:
    """Random changes applied to training crops (identically to both images of a pair)."""
    crop_size: int
    flip: bool = True          # horizontal flips, half the time
    shift: float = 0.0         # max shift as a fraction of the crop (whole pixels; edges reflected)
    zoom: float = 0.0          # max relative zoom in or out (0.1: 0.9x..1.1x), bilinear, on ZOOM_SHARE of them


def random_crops(sides: Sequence[Sequence[torch.Tensor]], indices: Sequence[int], size: int,
                 rng: torch.Generator) -> list[torch.Tensor]:
    """uint8 NxCxSxS crops at random positions, one batch per side; for pairs (sides = [A, B]) each
    example is cut at the same place on both sides."""
    out: list[list[torch.Tensor]] = [[] for _ in sides]
    for i in indices:
        i = int(i)
        h, w = sides[0][i].shape[-2:]
        top = int(torch.randint(h - size + 1, (1,), generator=rng))
        left = int(torch.randint(w - size + 1, (1,), generator=rng))
        for crops, images in zip(out, sides):
            crops.append(images[i][:, top:top + size, left:left + size])
    return [torch.stack(c) for c in out]


def center_crops(images: Sequence[torch.Tensor], size: int) -> torch.Tensor:
    out = []
    for img in images:
        h, w = img.shape[-2:]
        top, left = (h - size) // 2, (w - size) // 2
        out.append(img[:, top:top + size, left:left + size])
    return torch.stack(out)


def to_model_range(batch: torch.Tensor, device: torch.device, channels_last: bool) -> torch.Tensor:
    """uint8 NCHW in [0, 255] -> float in [-1, 1] on ``device`` (NHWC memory if asked)."""
    x = batch.to(device, non_blocking=True).float().div_(127.5).sub_(1.0)
    return x.contiguous(memory_format=torch.channels_last) if channels_last else x


def augment(batch: torch.Tensor, aug: Augment, rng: torch.Generator) -> torch.Tensor:
    """Flip and jitter a float NCHW batch; one draw per example, so stacked A|B channels stay aligned."""
    n = batch.shape[0]
    if aug.flip:
        flip = torch.rand(n, generator=rng) < 0.5
        if flip.any():
            batch = torch.where(flip.view(n, 1, 1, 1).to(batch.device), batch.flip(-1), batch)
    if aug.shift <= 0 and aug.zoom <= 0:
        return batch
    size = batch.shape[-1]
    max_px = int(math.floor(aug.shift * size))
    shifts = torch.randint(-max_px, max_px + 1, (n, 2), generator=rng).float() * (2.0 / size)
    zoomed = torch.rand(n, generator=rng) < ZOOM_SHARE
    scale = 1.0 + (torch.rand(n, generator=rng) * 2 - 1) * aug.zoom * zoomed
    theta = torch.zeros(n, 2, 3)
    theta[:, 0, 0] = scale
    theta[:, 1, 1] = scale
    theta[:, :, 2] = shifts
    theta = theta.to(batch.device, batch.dtype)
    grid = F.affine_grid(theta, list(batch.shape), align_corners=False)
    # whole-pixel shifts at scale 1 sample exact pixel centres: no blur for unzoomed examples
    return F.grid_sample(batch, grid, mode="bilinear", padding_mode="reflection", align_corners=False)
