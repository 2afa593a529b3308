"""Applying a translation model to images of any size, and the translator file format.

A *translator* is one or two generators (``AtoB``, and ``BtoA`` for CycleGAN models) plus the
facts needed to rebuild them. It loads from a run folder (its best checkpoint, else the latest),
from one checkpoint file, or from an exported ``.safetensors`` file whose metadata says
``{"format": "ganstudio-translator", ...}``. Everything is read with safetensors: loading a model
never runs code from the file.

Full resolution: inputs are reflect-padded to the network's multiple and cropped back, so the
output always has the input's size. Large images are translated in overlapping tiles blended with
linear (feathered) weights across each overlap, so there are no seams.

How close tiled output is to untiled output: the networks normalise without tile statistics (see
``models``): batch norm uses its running statistics, and instance norm reuses statistics recorded
once on the whole image (downscaled to ``NORM_STATS_MAX_SIDE`` when larger). Tiles start on the
network's stride grid, so each tile is computed exactly as that region of the whole image would
be, except near its edges, where the network sees mirrored pixels instead of the real
neighbours; the overlap (at least a quarter of the tile) is cross-faded, so those edges count
little. ``tests/core/test_translate_inference.py`` holds tiled output within ``TILED_TOLERANCE``
(mean absolute difference in [0, 1]) of untiled output. Measured on untrained networks and 96 px
tiles: 0.0002 for the U-Net, 0.003-0.014 for the ResNet (random instance-norm networks amplify
context differences far more than trained ones).

"Best quality" (``ensemble=True``): the image is translated 9 times, its picture moved by -2, 0
and +2 pixels in each direction inside the same frame (edge pixels fill the uncovered strip),
each output is moved back, and the per-pixel median is kept. The shifts move the picture against
the network's stride grid, so the 9 outputs differ where the network is unsure, and the median
keeps what most of them agree on. On the glyph benchmark's held-out characters it lowers L1 by
1.8% (demo model: 0.0818 -> 0.0803) and raises SSIM 0.640 -> 0.645, at 9 times the time. Shifts
of 1 pixel gave 1.3%; a 5x5 grid of 1-pixel steps (25 runs) 1.9%.

A Translator is not for concurrent use from two threads (instance-norm statistics are switched
on the shared modules while a tiled image is processed).
"""
from __future__ import annotations

import json
import math
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from safetensors import safe_open
from torch import nn

from ... import __version__
from ..checkpoint import FORMAT as CHECKPOINT_FORMAT
from ..checkpoint import (META_KEY, build_module, find_checkpoint, read_checkpoint, run_folder,
                          write_checkpoint)
from ..data import Cancelled
from ..device import resolve_device, resolve_precision
from ..errors import CheckpointError, ConfigError, ExportError, already_exists
from ..export import file_sha256
from .data import over_white, rgb_to_tensor
from .models import TileSafeInstanceNorm, build_generator, generator_spec, pad_for, required_multiple

FORMAT = "ganstudio-translator"
FORMAT_VERSION = 1
DIRECTIONS = ("AtoB", "BtoA")
#: tile side used when a large image is translated and no tile size is given
DEFAULT_TILE = 512
#: images with more pixels than this are tiled automatically (``tile=None``)
AUTO_TILE_PIXELS = 1024 * 1024
#: instance-norm statistics for tiles come from the whole image, downscaled to at most this side
NORM_STATS_MAX_SIDE = 1024
#: mean absolute difference (in [0, 1]) allowed between tiled and untiled output (see the module doc)
TILED_TOLERANCE = 0.02

#: "Best quality": the offsets (dy, dx) in pixels at which the image is translated, and the border
#: of repeated edge pixels that makes room for them
ENSEMBLE_SHIFTS = tuple((dy, dx) for dy in (-2, 0, 2) for dx in (-2, 0, 2))
ENSEMBLE_PAD = 2
#: values per shifted output handled at once when their median is taken (bounds the temporaries)
MEDIAN_CHUNK_VALUES = 1 << 22

Progress = Callable[[int, int], None] | None


@dataclass
class Translator:
    """Generators by direction ("AtoB", "BtoA"), in eval mode on ``device``, and their facts."""
    generators: dict[str, nn.Module]
    info: dict[str, Any]
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    autocast_dtype: torch.dtype | None = None
    source: Path | None = None          # the file it was read from
    sha256: str | None = None           # of that file (provenance of exported images)

    @property
    def directions(self) -> list[str]:
        return [d for d in DIRECTIONS if d in self.generators]

    @property
    def name(self) -> str:
        if self.source is None:
            return "translator"
        run = run_folder(self.source)
        return run.name if run is not None else self.source.stem

    def generator(self, direction: str) -> nn.Module:
        if direction not in DIRECTIONS:
            raise ConfigError(f"Invalid direction {direction!r}. Only {', '.join(DIRECTIONS)} are supported.")
        if direction not in self.generators:
            raise ConfigError(f"This model translates only {' and '.join(self.directions)}: it was trained on "
                              "pairs (pix2pix). Translating back needs a model trained on unpaired folders.")
        return self.generators[direction]

    def in_channels(self, direction: str) -> int:
        return int(self.generator(direction).spec["in_ch"])

    def out_channels(self, direction: str) -> int:
        return int(self.generator(direction).spec["out_ch"])


def _prepare(G: nn.Module, device: torch.device) -> nn.Module:
    # channels_last: oneDNN's fast convolution layout on CPUs (and tensor cores on GPUs)
    return G.to(device, memory_format=torch.channels_last).eval().requires_grad_(False)


def translator_from_generators(generators: dict[str, nn.Module], info: dict[str, Any] | None = None, *,
                               device: str | torch.device = "cpu", precision: str = "fp32") -> Translator:
    """Wrap in-memory generators (e.g. a task's EMA networks) as a Translator (copies nothing)."""
    dev = resolve_device(device) if isinstance(device, str) else device
    info = dict(info or {})
    info.setdefault("generators", {d: generator_spec(G) for d, G in generators.items()})
    return Translator({d: _prepare(G, dev) for d, G in generators.items()}, info, dev,
                      resolve_precision(precision, dev))


def save_translator(translator: Translator, path: str | os.PathLike, *, overwrite: bool = False,
                    half: bool = False) -> Path:
    """Write the generators as one safetensors file (weights only) with JSON metadata, atomically.

    ``half`` stores float weights as fp16 (half the size, e.g. for bundled models); they are
    widened back to fp32 on loading.
    """
    path = Path(path)
    if path.suffix != ".safetensors":
        raise ExportError(f"Translator files end in .safetensors, got {path.name}.")
    if path.exists() and not overwrite:
        raise already_exists(path)
    tensors: dict[str, torch.Tensor] = {}
    generators: dict[str, Any] = {}
    for direction, G in translator.generators.items():
        generators[direction] = generator_spec(G)
        for key, value in G.state_dict().items():
            value = value.detach().to("cpu")
            tensors[f"model/{direction}/{key}"] = value.half() if half and value.is_floating_point() else value
    info = {k: v for k, v in translator.info.items() if k != "generators"}
    info["generators"] = generators
    doc = {"format": FORMAT, "version": FORMAT_VERSION, "app_version": __version__, "info": info}
    # channels_last weights are not contiguous, and safetensors wants contiguous, unshared tensors
    return write_checkpoint(path, {k: v.contiguous().clone() for k, v in tensors.items()}, doc)


def load_translator(path: str | os.PathLike, *, device: str | torch.device = "auto", precision: str = "auto",
                    prefer_best: bool = True) -> Translator:
    """A translator from an exported file, a checkpoint, or a run folder (best checkpoint first).

    Raises CheckpointError (naming the file) for anything else: a GAN or upscaler checkpoint, a
    pickle, a damaged file, weights that do not fit the stored architecture.
    """
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"{path} does not exist; choose a translation run folder or a model file.")
    file = find_checkpoint(path, prefer_best=prefer_best)
    ckpt = read_checkpoint(file, kind=FORMAT if _is_translator_file(file) else CHECKPOINT_FORMAT,
                           wanted="a translator")
    if ckpt.meta["format"] == FORMAT:
        info = ckpt.meta.get("info") or {}
        modules = {d: d for d in info.get("generators", {})}
    else:
        info = ckpt.meta.get("model_info") or {}
        if info.get("kind") != "translate":
            what = ckpt.meta.get("task") or info.get("kind") or "unknown"
            where = {"upscale": ": open it in the Upscale tab", "gan": ": open it in the Generate tab"}.get(what, "")
            raise CheckpointError(f"{file.name} is a {what!r} model, not a translator{where}.")
        modules = {d: spec["module"] for d, spec in info.get("generators", {}).items()}
    if not modules:
        raise CheckpointError(f"{file} describes no generator.")
    dev = resolve_device(device) if isinstance(device, str) else device
    generators = {}
    for direction, module in modules.items():
        spec = info["generators"][direction]
        try:
            G = build_module(ckpt, module, lambda: build_generator(spec["arch"], **spec["kwargs"]))
        except (ConfigError, KeyError, TypeError, ValueError) as e:
            raise CheckpointError(f"{file}: the {direction} generator cannot be rebuilt: {e}") from e
        generators[direction] = _prepare(G, dev)
    return Translator(generators, info, dev, resolve_precision(precision, dev), file, file_sha256(file))


def _is_translator_file(file: Path) -> bool:
    """Whether ``file``'s metadata names the translator format (anything unreadable: False, and
    ``read_checkpoint`` then says what is wrong with it)."""
    try:
        with safe_open(str(file), framework="pt", device="cpu") as f:
            return json.loads((f.metadata() or {}).get(META_KEY, "{}")).get("format") == FORMAT
    except Exception:  # noqa: BLE001 - safetensors and json raise many types for foreign files
        return False


def export_translator(source: str | os.PathLike, out: str | os.PathLike, *, overwrite: bool = False,
                      half: bool = False, info: dict[str, Any] | None = None) -> Path:
    """Export a run's (or checkpoint's) inference generators as a small translator file, with
    ``info`` (e.g. a model card's facts) added to its metadata."""
    model = load_translator(source, device="cpu", precision="fp32")
    model.info.update(info or {})
    return save_translator(model, out, overwrite=overwrite, half=half)


# -- arrays in, arrays out ---------------------------------------------------------------------

def _split_input(image: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """uint8 HxW / HxWxC (C = 1..4) -> (RGB HxWx3 over white, alpha or None)."""
    a = np.asarray(image)
    if a.dtype != np.uint8:
        raise ConfigError(f"Images are translated from uint8 arrays, got {a.dtype}.")
    if a.ndim == 2:
        a = a[:, :, None]
    if a.ndim != 3 or a.shape[2] not in (1, 2, 3, 4) or min(a.shape[:2]) < 1:
        raise ConfigError(f"Cannot translate an image array of shape {a.shape}.")
    return over_white(a), _alpha_of(a)


def _alpha_of(a: np.ndarray) -> np.ndarray | None:
    """The alpha channel of a uint8 HxWxC array, or None when it has none or is fully opaque."""
    return a[:, :, -1] if a.shape[2] in (2, 4) and a[:, :, -1].min() < 255 else None


def _axis_tiles(n: int, tile: int, overlap: int, multiple: int) -> list[tuple[int, int]]:
    """(start, end) of the tiles along one side. Starts are multiples of the network's multiple:
    its stride-2 layers then sample every tile on the same grid as the whole image (a tile
    shifted by an odd pixel would be computed differently). The last tile ends at the border
    and may be up to ``multiple - 1`` pixels longer than ``tile``."""
    if n <= tile:
        return [(0, n)]
    step = max(multiple, (tile - overlap) // multiple * multiple)
    last = (n - tile) // multiple * multiple
    spans = [(s, s + tile) for s in range(0, last, step)]
    return spans + [(last, n)]


def _ramp(length: int, overlap: int, ramp_in: bool, ramp_out: bool) -> torch.Tensor:
    """Blend weights along one tile side: rising over the overlap where a neighbour precedes,
    falling where one follows; always > 0, so every pixel has weight."""
    w = torch.ones(length)
    k = min(overlap, length)
    ramp = torch.arange(1, k + 1, dtype=torch.float32) / (k + 1)
    if ramp_in:
        w[:k] = torch.minimum(w[:k], ramp)
    if ramp_out:
        w[length - k:] = torch.minimum(w[length - k:], ramp.flip(0))
    return w


@contextmanager
def shared_norm_stats(G: nn.Module, x: torch.Tensor, max_side: int, run: Callable[[torch.Tensor], torch.Tensor]
                      ) -> Iterator[None]:
    """While active, every instance norm of ``G`` uses statistics recorded on the whole image ``x``
    (downscaled so its long side is at most ``max_side``), so tiles are normalised alike."""
    norms = [m for m in G.modules() if isinstance(m, TileSafeInstanceNorm)]
    if not norms:
        yield
        return
    h, w = x.shape[-2:]
    scale = min(1.0, max_side / max(h, w))
    proxy = x if scale == 1.0 else F.interpolate(x, size=(max(1, round(h * scale)), max(1, round(w * scale))),
                                                 mode="bilinear", antialias=True, align_corners=False)
    try:
        for m in norms:
            m.mode = "record"
        run(proxy)
        for m in norms:
            m.mode = "frozen"
        yield
    finally:
        for m in norms:
            m.mode, m.stats = "normal", None


def translate_array(model: Translator, image: np.ndarray, direction: str = "AtoB", *, tile: int | None = None,
                    overlap: int | None = None, ensemble: bool = False, progress: Progress = None,
                    should_stop: Callable[[], bool] | None = None) -> np.ndarray:
    """Translate a uint8 HxW / HxWxC image (any size) and return uint8 HxWxC of the same H and W.

    Args:
        model: from ``load_translator``.
        direction: "AtoB" or (CycleGAN models) "BtoA".
        tile: tile side in pixels (rounded up to a multiple of the network's multiple, and to at
            least twice it, so tiles can overlap on its grid); None: tile only images over
            ``AUTO_TILE_PIXELS`` (with ``DEFAULT_TILE``); 0: never tile.
        overlap: pixels shared by neighbouring tiles (default a quarter of the tile).
        ensemble: "Best quality", see the module's docstring (9 times the time).
        progress: ``(tiles done, tiles total)`` after each tile.
        should_stop: checked before each tile; True raises ``Cancelled``.

    The output has the generator's channels (1 grey, 3 RGB); an input with transparency gets
    its alpha channel back (as RGBA). Transparent pixels are translated as white, as in training.
    """
    if ensemble:
        return _ensemble(model, image, direction, tile, overlap, progress, should_stop)
    G = model.generator(direction)
    rgb, alpha = _split_input(image)
    x = rgb_to_tensor(rgb, model.in_channels(direction)).unsqueeze(0).float().div_(127.5).sub_(1.0)
    h, w = x.shape[-2:]
    multiple = required_multiple(G)
    if tile is None:
        tile = DEFAULT_TILE if h * w > AUTO_TILE_PIXELS else 0
    if tile < 0:
        raise ConfigError(f"The tile size must be 0 (no tiles) or positive, got {tile}.")

    def run(t: torch.Tensor) -> torch.Tensor:
        padded, (th, tw) = pad_for(G, t)
        padded = padded.to(model.device).contiguous(memory_format=torch.channels_last)
        with torch.no_grad(), _autocast(model):
            return G(padded).float()[..., :th, :tw].clamp_(-1, 1).cpu()

    if tile == 0 or (h <= tile and w <= tile):
        _check_stop(should_stop)
        out = run(x)
        if progress is not None:
            progress(1, 1)
    else:
        tile = max(2 * multiple, math.ceil(tile / multiple) * multiple)
        overlap = tile // 4 if overlap is None else overlap
        if not 0 <= overlap < tile:
            raise ConfigError(f"The tile overlap must be at least 0 and less than the tile ({tile}), got {overlap}.")
        out = _tiled(x, run, G, tile, overlap, progress, should_stop)
    result = out[0].add(1).mul(127.5).round().clamp(0, 255).to(torch.uint8).permute(1, 2, 0).numpy()
    if alpha is not None:
        if result.shape[2] == 1:
            result = np.repeat(result, 3, axis=2)
        result = np.concatenate([result, alpha[:, :, None]], axis=2)
    return np.ascontiguousarray(result)


def _ensemble(model: Translator, image: np.ndarray, direction: str, tile: int | None, overlap: int | None,
              progress: Progress, should_stop: Callable[[], bool] | None) -> np.ndarray:
    """The per-pixel median of the image translated at each of ``ENSEMBLE_SHIFTS``."""
    h, w = image.shape[:2]
    pad, n = ENSEMBLE_PAD, len(ENSEMBLE_SHIFTS)

    def bordered(a: np.ndarray) -> np.ndarray:
        return np.pad(a, ((pad, pad), (pad, pad)) + ((0, 0),) * (a.ndim - 2), mode="edge")

    # each run keeps the image's size (the network would see a different frame otherwise): the
    # picture moves by (dy, dx) inside it, and the edge pixels fill what it uncovers
    source = bordered(image)
    runs = []
    for i, (dy, dx) in enumerate(ENSEMBLE_SHIFTS):
        moved = source[pad - dy: pad - dy + h, pad - dx: pad - dx + w]
        sub = None if progress is None else (lambda done, total, i=i: progress(i * total + done, n * total))
        out = translate_array(model, np.ascontiguousarray(moved), direction, tile=tile, overlap=overlap,
                              progress=sub, should_stop=should_stop)
        runs.append(bordered(out)[pad + dy: pad + dy + h, pad + dx: pad + dx + w])
    result = np.empty_like(runs[0])
    rows = max(1, MEDIAN_CHUNK_VALUES // max(1, runs[0][0].size))
    for top in range(0, h, rows):
        stack = torch.from_numpy(np.stack([r[top:top + rows] for r in runs]))
        result[top:top + rows] = stack.median(dim=0).values.numpy()
    alpha = _alpha_of(image if image.ndim == 3 else image[:, :, None])
    if alpha is not None:   # the transparency is the input's own, not a median of moved copies
        result[:, :, -1] = alpha
    return result


def _tiled(x: torch.Tensor, run: Callable[[torch.Tensor], torch.Tensor], G: nn.Module, tile: int, overlap: int,
           progress: Progress, should_stop: Callable[[], bool] | None) -> torch.Tensor:
    h, w = x.shape[-2:]
    multiple = required_multiple(G)
    ys, xs = _axis_tiles(h, tile, overlap, multiple), _axis_tiles(w, tile, overlap, multiple)
    total = len(ys) * len(xs)
    acc: torch.Tensor | None = None
    weight = torch.zeros(1, 1, h, w)
    done = 0
    with shared_norm_stats(G, x, max(tile, NORM_STATS_MAX_SIDE), run):
        for top, bottom in ys:
            for left, right in xs:
                _check_stop(should_stop)
                th, tw = bottom - top, right - left
                y = run(x[..., top:bottom, left:right])
                if acc is None:
                    acc = torch.zeros(1, y.shape[1], h, w)
                wy = _ramp(th, overlap, top > 0, bottom < h)
                wx = _ramp(tw, overlap, left > 0, right < w)
                wt = (wy[:, None] * wx[None, :])[None, None]
                acc[..., top:top + th, left:left + tw] += y * wt
                weight[..., top:top + th, left:left + tw] += wt
                done += 1
                if progress is not None:
                    progress(done, total)
    assert acc is not None
    return acc / weight


def _autocast(model: Translator):
    if model.autocast_dtype is None:
        return torch.autocast(model.device.type, enabled=False)
    return torch.autocast(model.device.type, dtype=model.autocast_dtype)


def _check_stop(should_stop: Callable[[], bool] | None) -> None:
    if should_stop is not None and should_stop():
        raise Cancelled("Translation was cancelled.")
