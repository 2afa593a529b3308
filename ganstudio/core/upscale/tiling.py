"""Tiled inference with no seams and bounded memory, for any upscaler.

How tiles are made exact: every tile's input window carries ``margin`` extra input pixels of real
image on each inner side. For a network whose receptive radius (``Upscaler.context``) is at most
``margin``, the output away from that margin does not depend on where the tile was cut, so it
equals the whole-image output. Output pixels inside the margin are discarded (weight 0). For
GAN Studio's own networks, whose radius is known (``Upscaler.exact``), that is all: each tile's
trusted part is written straight into the output. For community models, whose radius is a guess
(transformers and deep ESRGANs reach further), neighbouring tiles are also cross-faded with
raised-cosine ramps over ``feather`` further pixels, which hides whatever differs; where both tiles
are exact, blending changes nothing. Either way tiled output equals whole-image output up to float
rounding for networks within the margin.

Self-ensemble (``ensemble=True``, the app's "Best quality"): each tile is also run mirrored and
rotated (the 8 symmetries of the square), each result is turned back and the 8 are averaged. It
costs 8 times the time; measured on the held-out photos it adds about 0.1 dB (x2 +2.24 -> +2.31 dB
over bicubic, x4 +1.59 -> +1.68). A receptive radius is the same in every direction, so tiles stay
exact under the symmetries.

Memory: the output is a uint8 array filled tile by tile. GAN Studio's own networks write each
tile's trusted part into it themselves, a few rows at a time (``Upscaler.write_uint8``), so no
float32 copy of a tile's output exists. With cross-fading, only the current row of tiles is held as
float32 (one band of ``tile * scale`` output rows); finished rows are rounded to uint8 at once.
"""
from __future__ import annotations

import contextlib
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch import nn

from ..data import Cancelled
from ..device import resolve_device, resolve_precision
from ..errors import ConfigError

#: resampling baselines offered beside the networks (PIL filters)
BASELINES = {"bicubic": Image.Resampling.BICUBIC, "lanczos": Image.Resampling.LANCZOS}
#: receptive radius assumed for networks that do not declare one (community files)
DEFAULT_CONTEXT = 16
#: working bytes per input pixel assumed for networks that do not declare it (transformers are heavy)
DEFAULT_BYTES_PER_PIXEL = 16 * 1024
#: output pixels (in input units) of cross-fade between tiles beyond the exact margins
DEFAULT_FEATHER = 8
#: share of the free memory that tiled inference plans to use
MEMORY_SHARE = 0.25
#: never plan to use more than this for one tile's activations plus the float band
MAX_BUDGET_BYTES = 1 << 30
#: largest automatic tile side in input pixels (CPU kernels gain nothing from bigger tiles)
MAX_AUTO_TILE = {"cpu": 512, "cuda": 1024, "mps": 768}
#: smallest stride between tiles in input pixels (tiles are at least overlap + this)
MIN_STRIDE = 16
#: free memory assumed where the system does not say (no /proc/meminfo)
FALLBACK_FREE_BYTES = 2 << 30


class UpscaleCancelled(Cancelled):
    """should_stop() returned True during an upscale (not a failure: the user asked)."""


ProgressFn = Callable[[int, int], None]


@dataclass
class Upscaler:
    """A ready-to-run upscaler: a network (ours or a community file) or a resampling baseline.

    ``forward`` takes an NCHW float tensor in [0, 1] with ``in_channels`` channels and returns
    one with ``scale`` times the height and width (values may overshoot; they are clamped).
    """
    name: str                                 # what the user picked: "bundled-x2", a file name, "bicubic"
    arch: str                                 # architecture shown to the user ("RealESRGAN Compact")
    scale: int                                # output side / input side
    module: nn.Module | None = None           # the network (None for resampling baselines)
    forward: Callable[[torch.Tensor], torch.Tensor] | None = None  # how to call it (default: module)
    #: GAN Studio's own networks: the output before its final pixel-shuffle, (N, C*s*s, h, w); the
    #: tiler reads the pixels straight from it and skips the shuffle's copy
    phases: Callable[[torch.Tensor], torch.Tensor] | None = None
    #: GAN Studio's own networks: ``write_uint8(tile, out, top, left)`` writes a tile's trusted
    #: output, rounded to 8 bits, straight into the image (``models._SRBase.write_uint8``)
    write_uint8: Callable[[torch.Tensor, torch.Tensor, int, int], None] | None = None
    #: the largest automatic tile side on the CPU where this network runs fastest (None: the default)
    cpu_tile: int | None = None
    in_channels: int = 3                      # 3 (RGB) or 1 (grey) input channels
    context: int = DEFAULT_CONTEXT            # receptive radius in input pixels (exact tiling margin)
    #: ``context`` is the network's true receptive radius (GAN Studio's own networks), so tiles cut
    #: with that margin are exact and need no cross-fade; False for a guessed radius (community files)
    exact: bool = False
    bytes_per_pixel: int = DEFAULT_BYTES_PER_PIXEL  # inference working memory per input pixel
    supports_bf16: bool = True                # bf16 autocast keeps its quality
    supports_fp16: bool = True                # fp16 autocast keeps its quality
    purpose: str = "SR"                       # "SR" | "FaceSR" | "Restoration" (scale 1 models)
    source: Path | None = None                # the file it came from (None: built in)
    resample: str | None = None               # "bicubic" | "lanczos" for the baselines
    info: dict[str, Any] = field(default_factory=dict)  # extra facts (tags, training metadata)

    @property
    def is_sr(self) -> bool:
        """True for super-resolution models (scale > 1)."""
        return self.purpose in ("SR", "FaceSR") and self.scale > 1

    @property
    def params(self) -> int:
        return sum(p.numel() for p in self.module.parameters()) if self.module is not None else 0

    def describe(self) -> str:
        """One line for the model picker and ``ganstudio-cli info``."""
        if self.resample:
            return f"{self.resample} x{self.scale} (resampling baseline, no network)"
        grey = ", grey" if self.in_channels == 1 else ""
        kind = "" if self.is_sr else f", {self.purpose.lower()} model, not super-resolution"
        return f"{self.arch} x{self.scale}, {_human_count(self.params)} parameters{grey}{kind}"

    def measured_gain(self) -> str | None:
        """What the file records about its quality ("+2.24 dB over bicubic on 16 held-out crops"),
        or None. GAN Studio's bundled models carry their held-out evaluation (``eval_*``)."""
        psnr, bicubic = self.info.get("eval_psnr"), self.info.get("eval_psnr_bicubic")
        if not all(isinstance(v, (int, float)) and math.isfinite(v) for v in (psnr, bicubic)):
            return None
        crops = self.info.get("eval_crops")
        where = f"on {crops} held-out crops" if isinstance(crops, int) and crops > 0 else "on held-out images"
        return f"{psnr - bicubic:+.2f} dB over bicubic {where}"

    def call(self, x: torch.Tensor) -> torch.Tensor:
        fn = self.forward or self.module
        if fn is None:
            raise ConfigError(f"{self.name} is a resampling baseline; it has no network to call.")
        return fn(x)


@dataclass(frozen=True)
class InferenceSettings:
    """How to run an upscaler (the GUI's and CLI's inference options map onto these fields)."""
    tile: int | None = None         # tile side in input pixels (None: from free memory; 0: whole image)
    overlap: int | None = None      # input pixels shared by neighbouring tiles (None: exact + cross-fade)
    device: str = "auto"            # "auto" | "cpu" | "cuda" | "mps"
    precision: str = "auto"         # "auto" (bf16 where native) | "fp32" | "bf16" | "fp16"
    channels_last: bool = True      # NHWC layout: several times faster convolutions on CPUs and GPUs
    ensemble: bool = False          # average the 8 mirrored/rotated runs of each tile (8x the time)

    def kwargs(self) -> dict[str, Any]:
        """Keyword arguments for ``upscale_array``."""
        return {"tile": self.tile, "overlap": self.overlap, "device": self.device,
                "precision": self.precision, "channels_last": self.channels_last, "ensemble": self.ensemble}


def baseline(method: str, scale: int) -> Upscaler:
    """The "bicubic" or "lanczos" resampling baseline at ``scale``, through the same API."""
    if method not in BASELINES:
        raise ConfigError(f"Invalid resampling {method!r}. Only {', '.join(BASELINES)} are supported.")
    if scale < 1:
        raise ConfigError(f"Invalid scale {scale}; it must be at least 1.")
    return Upscaler(name=method, arch=method, scale=scale, resample=method, context=0, bytes_per_pixel=0)


def wrap_callable(fn: Callable[[torch.Tensor], torch.Tensor], scale: int, *, context: int = DEFAULT_CONTEXT,
                  in_channels: int = 3) -> Upscaler:
    """An Upscaler around any tensor function (a bare nn.Module, a test double)."""
    module = fn if isinstance(fn, nn.Module) else None
    return Upscaler(name=type(fn).__name__, arch=type(fn).__name__, scale=scale, module=module, forward=fn,
                    in_channels=in_channels, context=getattr(fn, "context", context),
                    bytes_per_pixel=getattr(fn, "bytes_per_pixel", DEFAULT_BYTES_PER_PIXEL))


# -- memory -----------------------------------------------------------------------------------
def available_memory(device: torch.device) -> int:
    """Free bytes where the tiles will run: the GPU's free memory, else the system's MemAvailable."""
    if device.type == "cuda":
        free, _total = torch.cuda.mem_get_info(device)
        return int(free)
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return FALLBACK_FREE_BYTES


def auto_tile_size(upscaler: Upscaler, device: torch.device, image_width: int, channels: int = 3,
                   overlap: int | None = None) -> int:
    """The tile side (input pixels) that fits the free memory, never below ``overlap + 64``.

    Two things share the budget: the network's activations for one tile (``bytes_per_pixel`` per
    input pixel) and the float32 band of one tile row of output (tile x scale rows, full width).
    """
    overlap = default_overlap(upscaler) if overlap is None else overlap
    budget = min(available_memory(device) * MEMORY_SHARE, MAX_BUDGET_BYTES)
    per_pass = 3 if upscaler.in_channels == 1 and channels == 3 else 1   # grey models run R, G, B as a batch
    side = math.isqrt(int(budget / 2 / max(1, upscaler.bytes_per_pixel * per_pass)))
    band_row_bytes = upscaler.scale * upscaler.scale * image_width * channels * 4
    side = min(side, int(budget / 2 / max(1, band_row_bytes)))
    side = min(side, MAX_AUTO_TILE.get(device.type, 512))
    if device.type == "cpu" and upscaler.cpu_tile:
        side = min(side, upscaler.cpu_tile)
    side = max(side, overlap + 64)
    return side - side % 8


def default_overlap(upscaler: Upscaler) -> int:
    """Input pixels shared by neighbouring tiles: both exact margins, plus a cross-fade unless the
    margins are known to be exact (then the cross-fade would blend equal values: computed for nothing)."""
    return 2 * upscaler.context + (0 if upscaler.exact else DEFAULT_FEATHER)


@dataclass(frozen=True)
class _Span:
    """One tile along one axis, in input pixels: the window fed to the network and its trusted part."""
    start: int
    stop: int
    valid_start: int
    valid_stop: int


def _plan_axis(length: int, tile: int, overlap: int, margin: int) -> list[_Span]:
    if length <= tile:
        return [_Span(0, length, 0, length)]
    n = math.ceil((length - overlap) / (tile - overlap))
    # the smallest tiles that still cover the axis with n of them: less overlap computed twice
    # (1024 px in tiles of at most 512: 3 x 362, not 3 x 512)
    tile = min(tile, math.ceil((length + (n - 1) * overlap) / n))
    starts = [round(i * (length - tile) / (n - 1)) for i in range(n)]
    spans = []
    for i, a in enumerate(starts):
        b = a + tile
        spans.append(_Span(a, b, a if i == 0 else a + margin, b if i == n - 1 else b - margin))
    return spans


def _axis_weights(spans: list[_Span], length: int, scale: int, feather: int) -> list[np.ndarray]:
    """Per span, float32 weights over its valid output range; over all spans they sum to 1."""
    out_len = length * scale
    x = np.arange(out_len, dtype=np.float64) + 0.5
    ramp = feather * scale
    raw = []
    for i, s in enumerate(spans):
        v0, v1 = s.valid_start * scale, s.valid_stop * scale
        w = ((x >= v0) & (x < v1)).astype(np.float64)
        if ramp > 0 and i > 0:
            t = np.clip((x - v0) / ramp, 0, 1)
            w *= 0.5 - 0.5 * np.cos(np.pi * t)
        if ramp > 0 and i < len(spans) - 1:
            t = np.clip((v1 - x) / ramp, 0, 1)
            w *= 0.5 - 0.5 * np.cos(np.pi * t)
        raw.append(w)
    total = np.sum(raw, axis=0)
    if np.any(total <= 0):  # cannot happen when overlap >= 2 * margin; guards a planning bug
        raise RuntimeError("tile plan leaves output pixels uncovered")
    return [(w / total)[s.valid_start * scale: s.valid_stop * scale].astype(np.float32)
            for w, s in zip(raw, spans)]


# -- running ----------------------------------------------------------------------------------
def prepare(upscaler: Upscaler, device: torch.device, channels_last: bool) -> None:
    """Move the network to ``device`` in eval mode and the chosen memory layout (in place)."""
    if upscaler.module is None:
        return
    upscaler.module.eval().requires_grad_(False)
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    upscaler.module.to(device=device, memory_format=fmt)


def _autocast_dtype(upscaler: Upscaler, precision: str, device: torch.device) -> torch.dtype | None:
    dtype = resolve_precision(precision, device)
    if dtype == torch.bfloat16 and not upscaler.supports_bf16:
        return None
    if dtype == torch.float16 and not upscaler.supports_fp16:
        return None
    return dtype


def upscale_array(model: Upscaler | Callable[[torch.Tensor], torch.Tensor], image: np.ndarray,
                  scale: int | None = None, *, tile: int | None = None, overlap: int | None = None,
                  device: str | torch.device = "auto", precision: str = "auto", channels_last: bool = True,
                  ensemble: bool = False, progress: ProgressFn | None = None,
                  should_stop: Callable[[], bool] | None = None) -> np.ndarray:
    """Upscale a uint8 HxW or HxWxC image (C = 1 grey, 2 grey+alpha, 3 RGB, 4 RGBA) tile by tile.

    Args:
        model: an ``Upscaler`` (see community.load_any_upscaler) or a tensor function with ``scale``.
        tile: tile side in input pixels; None picks it from free memory, 0 runs the whole image at once.
        overlap: input pixels shared by neighbouring tiles (None: the network's exact margins plus a
            cross-fade, see ``default_overlap``).
        device, precision: as in device.resolve_device / resolve_precision ("auto": bf16 on CPUs
            with native bf16, where the network allows it).
        channels_last: NHWC layout (several times faster on CPU oneDNN and on GPUs).
        ensemble: self-ensemble, see the module's docstring (a little sharper, 8 times slower).
        progress: called with (tiles done, tiles total).
        should_stop: checked before every tile; True raises ``UpscaleCancelled``.

    Returns a uint8 array of the same channel layout with ``scale`` times the height and width.
    The alpha channel is upscaled by the same network as grey (its edges then stay aligned with
    the sharpened colour edges; a bicubic alpha leaves a soft halo around crisp colour). A fully
    opaque alpha is not run through the network.
    """
    up = model if isinstance(model, Upscaler) else wrap_callable(model, _required_scale(scale))
    if scale is not None and scale != up.scale:
        raise ConfigError(f"{up.name} upscales x{up.scale}, not x{scale}.")
    image = _as_hwc(image)
    if up.resample:
        return resample_array(image, up.scale, up.resample)
    dev = resolve_device(device) if isinstance(device, str) else device
    colour_channels = 1 if image.shape[2] in (1, 2) else 3
    colour = image[:, :, :colour_channels]
    alpha = image[:, :, colour_channels:] if image.shape[2] in (2, 4) else None
    alpha_needs_model = alpha is not None and bool((alpha != 255).any())

    overlap = default_overlap(up) if overlap is None else int(overlap)
    if overlap < 0:
        raise ConfigError(f"overlap must be 0 or more, got {overlap}.")
    if tile is None:
        tile = auto_tile_size(up, dev, image.shape[1], colour_channels, overlap)
    elif tile < 0:
        raise ConfigError(f"tile must be 0 (no tiling) or a positive size, got {tile}.")
    runner = _TileRunner(up, dev, _autocast_dtype(up, precision, dev), channels_last, tile, overlap, ensemble)
    passes = [colour] + ([alpha] if alpha_needs_model else [])
    total = sum(runner.count_tiles(p) for p in passes)
    done = [0]

    def tick() -> None:
        if should_stop is not None and should_stop():
            raise UpscaleCancelled("Upscaling was cancelled.")
        if progress is not None and done[0]:
            progress(done[0], total)
        done[0] += 1

    prepare(up, dev, channels_last)
    with torch.inference_mode():
        out_colour = runner.run(colour, tick)
        if alpha is None:
            result = out_colour
        else:
            out_alpha = runner.run(alpha, tick) if alpha_needs_model else np.full(
                (out_colour.shape[0], out_colour.shape[1], 1), 255, np.uint8)
            result = np.concatenate([out_colour, out_alpha], axis=2)
    if progress is not None:
        progress(total, total)
    return result


class _TileRunner:
    def __init__(self, up: Upscaler, device: torch.device, dtype: torch.dtype | None, channels_last: bool,
                 tile: int, overlap: int, ensemble: bool = False) -> None:
        self.up, self.device, self.dtype, self.channels_last = up, device, dtype, channels_last
        self.ensemble = ensemble
        self.overlap = overlap
        if overlap >= 2 * up.context:
            self.margin, self.feather = up.context, overlap - 2 * up.context
        else:  # a smaller overlap than the exact margins: trade exactness for a wider cross-fade
            self.margin = overlap // 4
            self.feather = overlap - 2 * self.margin
        self.tile = tile if tile == 0 else max(tile, overlap + MIN_STRIDE)

    def _spans(self, length: int) -> list[_Span]:
        if self.tile == 0:
            return [_Span(0, length, 0, length)]
        return _plan_axis(length, self.tile, self.overlap, self.margin)

    def count_tiles(self, image: np.ndarray) -> int:
        return len(self._spans(image.shape[0])) * len(self._spans(image.shape[1]))

    def _forward(self, x: torch.Tensor, channels: int) -> torch.Tensor:
        up = self.up
        if channels == up.in_channels:
            y = self._image(x)
        elif channels == 1 and up.in_channels == 3:  # grey image, RGB network: replicate, then average
            y = self._image(x.expand(-1, 3, -1, -1)).clamp_(0, 1).mean(1, keepdim=True)
        elif channels == 3 and up.in_channels == 1:  # RGB image, grey network: channels as a batch
            y = self._image(x.permute(1, 0, 2, 3)).permute(1, 0, 2, 3)
        else:
            raise ConfigError(f"{up.name} takes {up.in_channels}-channel images; this image has {channels}.")
        return y

    def _image(self, x: torch.Tensor) -> torch.Tensor:
        if not self.ensemble:
            return self._call(x, self.up.call, self.up.scale)
        total: torch.Tensor | None = None
        for turns, mirror in SYMMETRIES:
            y = _unturn(self._call(_turn(x, turns, mirror), self.up.call, self.up.scale), turns, mirror)
            total = y if total is None else total.add_(y)   # the first run is unturned: its own tensor
        assert total is not None
        return total.div_(len(SYMMETRIES))

    def _layout(self, x: torch.Tensor) -> torch.Tensor:
        return x.contiguous(memory_format=torch.channels_last) if self.channels_last else x

    def _precision(self) -> contextlib.AbstractContextManager:
        return (torch.autocast(self.device.type, dtype=self.dtype) if self.dtype is not None
                else contextlib.nullcontext())

    def _call(self, x: torch.Tensor, fn: Callable[[torch.Tensor], torch.Tensor], factor: int) -> torch.Tensor:
        """``fn(x)`` in the runner's layout and precision, as float32; its sides must be ``factor``
        times the input's (the scale for an image, 1 for sub-pixel phases)."""
        x = self._layout(x)
        with self._precision():
            y = fn(x)
        if tuple(y.shape[-2:]) != (x.shape[-2] * factor, x.shape[-1] * factor):
            raise ConfigError(f"{self.up.name} returned {tuple(y.shape[-2:])} pixels for a "
                              f"{tuple(x.shape[-2:])} input; expected x{self.up.scale}. Its scale may be "
                              "detected wrongly.")
        return y.float()

    def _tile_output(self, x: torch.Tensor, c: int, oy: int, ox: int, rows: int, cols: int) -> torch.Tensor:
        """The tile's output pixels [oy, oy + rows) x [ox, ox + cols) on the sub-pixel grid of
        ``_on_grid`` (a view where possible). Not clamped: the caller clamps the blend, which is the
        same where tiles agree."""
        s = self.up.scale
        if self.up.phases is not None and c == self.up.in_channels and not self.ensemble:
            z = self._call(x, self.up.phases, 1)[0]                    # (c*s*s, h, w)
            z = z[:, oy // s: (oy + rows) // s, ox // s: (ox + cols) // s]
            return z.unflatten(0, (c, s, s)).permute(3, 1, 4, 2, 0).cpu()
        y = self._forward(x, c)[0, :, oy: oy + rows, ox: ox + cols].permute(1, 2, 0)
        return _on_grid(y, s).cpu()

    def _patch(self, image: np.ndarray, ry: _Span, rx: _Span) -> torch.Tensor:
        # a copy: the source may be a read-only PIL buffer, which torch warns about
        patch = torch.from_numpy(np.array(image[ry.start:ry.stop, rx.start:rx.stop]))
        return patch.to(self.device).permute(2, 0, 1)[None].float().div_(255)

    def run(self, image: np.ndarray, tick: Callable[[], None]) -> np.ndarray:
        if self.feather == 0:
            return self._run_unblended(image, tick)
        # Blending and rounding run in torch (multi-threaded, in place, in two reused band buffers),
        # not numpy: for a small network they took a fifth of a 1024px x4 upscale.
        h, w, c = image.shape
        s = self.up.scale
        rows, cols = self._spans(h), self._spans(w)
        wy_all = [torch.from_numpy(a) for a in _axis_weights(rows, h, s, self.feather)]
        wx_all = [torch.from_numpy(a) for a in _axis_weights(cols, w, s, self.feather)]
        out = np.empty((h * s, w * s, c), np.uint8)
        out_t = torch.from_numpy(out)
        band_rows = max(wy.shape[0] for wy in wy_all)
        buffers: list[torch.Tensor | None] = [None, None]
        carry: torch.Tensor | None = None     # finished tile rows' output that the next band overlaps
        for j, (ry, wy) in enumerate(zip(rows, wy_all)):
            y0, y1 = ry.valid_start * s, ry.valid_stop * s
            if buffers[j % 2] is None:
                buffers[j % 2] = torch.empty((band_rows, w * s, c), dtype=torch.float32)
            band = buffers[j % 2][: y1 - y0].zero_()
            if carry is not None:
                band[: carry.shape[0]] += carry
            for rx, wx in zip(cols, wx_all):
                tick()
                x = self._patch(image, ry, rx)
                oy, ox = (ry.valid_start - ry.start) * s, (rx.valid_start - rx.start) * s
                y = self._tile_output(x, c, oy, ox, y1 - y0, wx.shape[0])
                weight = (wy[:, None] * wx[None, :])[:, :, None]
                target = band[:, rx.valid_start * s: rx.valid_stop * s]
                _on_grid(target, s).addcmul_(y, _on_grid(weight, s))
            next_y0 = rows[j + 1].valid_start * s if j + 1 < len(rows) else y1
            done = next_y0 - y0
            # round to 8 bits: +0.5 then the float-to-uint8 copy truncates
            out_t[y0:next_y0].copy_(band[:done].mul_(255).add_(0.5).clamp_(0, 255))
            carry = band[done:] if j + 1 < len(rows) else None
        return out

    def _run_unblended(self, image: np.ndarray, tick: Callable[[], None]) -> np.ndarray:
        """Tiles with no cross-fade: each tile's trusted part goes straight into the uint8 output
        (where two trusted parts overlap, the later one is kept). The blended path's band buffers,
        weights and extra passes over the float output cost ~10% of a small network's upscale."""
        h, w, c = image.shape
        s = self.up.scale
        out = np.empty((h * s, w * s, c), np.uint8)
        out_t = torch.from_numpy(out)
        direct = self.up.write_uint8 is not None and c == self.up.in_channels and not self.ensemble \
            and self.device.type == "cpu"
        for ry in self._spans(h):
            for rx in self._spans(w):
                tick()
                x = self._patch(image, ry, rx)
                y0, y1, x0, x1 = ry.valid_start * s, ry.valid_stop * s, rx.valid_start * s, rx.valid_stop * s
                if direct:   # our networks round their own output into the image (~1.2x faster)
                    with self._precision():
                        self.up.write_uint8(self._layout(x), out_t[y0:y1, x0:x1],
                                            ry.valid_start - ry.start, rx.valid_start - rx.start)
                    continue
                y = self._tile_output(x, c, y0 - ry.start * s, x0 - rx.start * s, y1 - y0, x1 - x0)
                # round to 8 bits as the blended path does: +0.5, then the float-to-uint8 copy truncates
                _on_grid(out_t[y0:y1, x0:x1], s).copy_(y.mul(255).add_(0.5).clamp_(0, 255))
        return out


#: the 8 symmetries of the square, as (quarter turns, mirrored first)
SYMMETRIES = tuple((turns, mirror) for mirror in (False, True) for turns in range(4))


def _turn(x: torch.Tensor, turns: int, mirror: bool) -> torch.Tensor:
    """An NCHW batch mirrored left-right (if ``mirror``), then turned ``turns`` quarter turns."""
    if mirror:
        x = x.flip(-1)
    return torch.rot90(x, turns, (-2, -1)) if turns else x


def _unturn(y: torch.Tensor, turns: int, mirror: bool) -> torch.Tensor:
    """The inverse of ``_turn``: a result brought back to the input's orientation."""
    if turns:
        y = torch.rot90(y, -turns, (-2, -1))
    return y.flip(-1) if mirror else y


def _on_grid(t: torch.Tensor, s: int) -> torch.Tensor:
    """An (H, W, C) tensor viewed as (H/s, s, W/s, s, C): output row ``a * s + i`` is ``[a, i]``,
    the layout in which a network's sub-pixel phases are read without a pixel-shuffle."""
    return t.unflatten(1, (t.shape[1] // s, s)).unflatten(0, (t.shape[0] // s, s))


def resample_array(image: np.ndarray, scale: int, method: str) -> np.ndarray:
    """Resize a uint8 HxWxC image by ``scale`` with PIL's bicubic or Lanczos filter."""
    image = _as_hwc(image)
    h, w, c = image.shape
    mode = {1: "L", 2: "LA", 3: "RGB", 4: "RGBA"}[c]
    im = Image.fromarray(image[:, :, 0] if c == 1 else image, mode)
    out = np.asarray(im.resize((w * scale, h * scale), BASELINES[method]))
    return out[:, :, None] if out.ndim == 2 else out


def _as_hwc(image: np.ndarray) -> np.ndarray:
    if image.dtype != np.uint8:
        raise ConfigError(f"Upscaling takes 8-bit images (uint8 arrays), got {image.dtype}.")
    if image.ndim == 2:
        image = image[:, :, None]
    if image.ndim != 3 or image.shape[2] not in (1, 2, 3, 4) or min(image.shape[:2]) < 1:
        raise ConfigError(f"Cannot upscale an image array of shape {image.shape}; expected HxW or HxWx1..4.")
    return image


def _required_scale(scale: int | None) -> int:
    if scale is None:
        raise ConfigError("Give the scale when upscaling with a bare network function.")
    return scale


def _human_count(n: int) -> str:
    if n >= 1_000_000:
        return f"{n / 1e6:.1f}M"
    if n >= 1_000:
        return f"{n / 1e3:.0f}k"
    return str(n)

