"""PSNR and SSIM the standard way, and the project's evaluation protocol for upscalers.

Protocol (issue 4, so numbers compare with published ones): HR = each held-out photo downscaled x2
with Lanczos (removes sensor noise and demosaicing blur); the most textured 256x256 crops of it
(non-overlapping, by gradient energy); LR = antialiased bicubic downscale of each crop by the scale
(the training degradation, see degrade.downscale_uint8); PSNR and SSIM on RGB in [0, 1] with
``scale`` pixels shaved from each border; the bicubic baseline is PIL's bicubic upscale of the same LR.
"""
from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageOps

from .degrade import downscale_uint8
from .tiling import Upscaler, resample_array, upscale_array

#: SSIM constants (Wang et al. 2004): Gaussian window 11, sigma 1.5, K1 0.01, K2 0.03, range 1
SSIM_WINDOW = 11
SSIM_SIGMA = 1.5
SSIM_K1, SSIM_K2 = 0.01, 0.03
#: PSNR reported for identical crops when averaging (a single comparison returns inf)
PSNR_CAP = 100.0
#: the protocol's crop side and crops taken per held-out photo
PROTOCOL_CROP = 256
PROTOCOL_CROPS_PER_IMAGE = 4
#: the protocol's HR: photos are first downscaled by this factor with Lanczos
PROTOCOL_HR_DOWNSCALE = 2
#: held-out photos of the bundled models' 23-photo set (see split_holdout)
BUNDLED_HOLDOUT = 4


def _as_float(x: np.ndarray | torch.Tensor) -> np.ndarray:
    """A float64 HxWxC array in [0, 1] from uint8 or float (numpy HxW[xC], or torch [N]CHW)."""
    if isinstance(x, torch.Tensor):
        t = x.detach().float().cpu()
        if t.ndim == 4:
            if t.shape[0] != 1:
                raise ValueError("compare one image at a time")
            t = t[0]
        x = t.permute(1, 2, 0).numpy() if t.ndim == 3 else t.numpy()
    a = np.asarray(x)
    a = a.astype(np.float64) / 255 if a.dtype == np.uint8 else a.astype(np.float64)
    return a[:, :, None] if a.ndim == 2 else a


def _pair(a: Any, b: Any, shave: int) -> tuple[np.ndarray, np.ndarray]:
    a, b = _as_float(a), _as_float(b)
    if a.shape != b.shape:
        raise ValueError(f"images differ in shape: {a.shape} vs {b.shape}")
    if shave:
        a, b = a[shave:-shave, shave:-shave], b[shave:-shave, shave:-shave]
    return a, b


def psnr(a: Any, b: Any, shave: int = 0) -> float:
    """Peak signal-to-noise ratio in dB over all channels (images in [0, 1] or uint8); inf if equal."""
    a, b = _pair(a, b, shave)
    mse = float(np.mean((a - b) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(1.0 / mse)


def _gaussian_window() -> torch.Tensor:
    t = torch.arange(SSIM_WINDOW, dtype=torch.float64) - SSIM_WINDOW // 2
    g = torch.exp(-(t ** 2) / (2 * SSIM_SIGMA ** 2))
    return g / g.sum()


def ssim(a: Any, b: Any, shave: int = 0) -> float:
    """Mean structural similarity: Gaussian window 11 (sigma 1.5), valid region, mean over channels."""
    a, b = _pair(a, b, shave)
    if min(a.shape[:2]) < SSIM_WINDOW:
        raise ValueError(f"SSIM needs images of at least {SSIM_WINDOW}x{SSIM_WINDOW} pixels")
    x = torch.from_numpy(np.ascontiguousarray(a.transpose(2, 0, 1)))[:, None]  # channels as a batch
    y = torch.from_numpy(np.ascontiguousarray(b.transpose(2, 0, 1)))[:, None]
    g = _gaussian_window()

    def blur(t: torch.Tensor) -> torch.Tensor:
        return F.conv2d(F.conv2d(t, g.view(1, 1, 1, -1)), g.view(1, 1, -1, 1))

    c1, c2 = SSIM_K1 ** 2, SSIM_K2 ** 2
    mx, my = blur(x), blur(y)
    vx = blur(x * x) - mx * mx
    vy = blur(y * y) - my * my
    cxy = blur(x * y) - mx * my
    s = ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2))
    return float(s.mean(dim=(1, 2, 3)).mean())


# -- the protocol -------------------------------------------------------------------------------
def split_holdout(paths: Sequence[str | os.PathLike], count: int) -> tuple[list[Path], list[Path]]:
    """(training, held-out) files: ``count`` evenly spaced picks from the list sorted by file name.

    Deterministic and spread over the whole set (the photos come from two packages whose names
    cluster), so the same photos are held out by the training script, the benchmark and the card.
    """
    ordered = sorted((Path(p) for p in paths), key=lambda p: (p.name, str(p)))
    n = len(ordered)
    count = max(0, min(count, n - 1)) if n > 1 else 0
    held_idx = {int((i + 0.5) * n / count) for i in range(count)} if count else set()
    train = [p for i, p in enumerate(ordered) if i not in held_idx]
    held = [p for i, p in enumerate(ordered) if i in held_idx]
    return train, held


def protocol_hr(path: str | os.PathLike, downscale: int = PROTOCOL_HR_DOWNSCALE) -> np.ndarray:
    """A photo as the protocol's HR image: orientation applied, RGB, downscaled with Lanczos."""
    with Image.open(path) as im:
        im = ImageOps.exif_transpose(im).convert("RGB")
        if downscale > 1:
            im = im.resize((im.width // downscale, im.height // downscale), Image.Resampling.LANCZOS)
        return np.asarray(im, dtype=np.uint8)


def gradient_energy(image: np.ndarray) -> np.ndarray:
    """Per-pixel |dx| + |dy| of the grey image (float32), a cheap measure of texture."""
    grey = image.astype(np.float32).mean(axis=2) if image.ndim == 3 else image.astype(np.float32)
    e = np.zeros_like(grey)
    e[:, :-1] += np.abs(np.diff(grey, axis=1))
    e[:-1, :] += np.abs(np.diff(grey, axis=0))
    return e


def textured_crops(image: np.ndarray, size: int, count: int) -> list[tuple[int, int]]:
    """Top-left corners of up to ``count`` non-overlapping size x size crops with the most texture.

    Candidates lie on a half-crop grid (plus the right and bottom edges); the best are taken
    greedily, skipping any that overlaps one already taken. Ties go to the earlier position.
    """
    h, w = image.shape[:2]
    if h < size or w < size or count < 1:
        return []
    e = gradient_energy(image)
    integral = np.pad(e, ((1, 0), (1, 0))).cumsum(0).cumsum(1)
    step = max(1, size // 2)
    ys = sorted(set(range(0, h - size + 1, step)) | {h - size})
    xs = sorted(set(range(0, w - size + 1, step)) | {w - size})
    cands = []
    for y in ys:
        for x in xs:
            y1, x1 = y + size, x + size
            total = integral[y1, x1] - integral[y, x1] - integral[y1, x] + integral[y, x]
            cands.append((-float(total), y, x))
    cands.sort()
    chosen: list[tuple[int, int]] = []
    for _, y, x in cands:
        if all(abs(y - cy) >= size or abs(x - cx) >= size for cy, cx in chosen):
            chosen.append((y, x))
            if len(chosen) == count:
                break
    return chosen


def protocol_crops(images: Sequence[np.ndarray], scale: int, size: int = PROTOCOL_CROP,
                   per_image: int = PROTOCOL_CROPS_PER_IMAGE) -> list[np.ndarray]:
    """The most textured crops of each HR image, sides trimmed to a multiple of ``scale``."""
    size -= size % scale
    crops = []
    for im in images:
        for y, x in textured_crops(im, size, per_image):
            crops.append(np.ascontiguousarray(im[y:y + size, x:x + size]))
    return crops


@dataclass(frozen=True)
class EvalResult:
    """Mean metrics over the evaluation crops, for the model and for bicubic upscaling."""
    psnr: float
    ssim: float
    psnr_bicubic: float
    ssim_bicubic: float
    crops: int

    @property
    def psnr_gain(self) -> float:
        return self.psnr - self.psnr_bicubic

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


def evaluate_crops(model: Upscaler | Callable[[torch.Tensor], torch.Tensor],
                   photos: Sequence[str | os.PathLike | np.ndarray],
                   scale: int, *, crop: int = PROTOCOL_CROP, per_image: int = PROTOCOL_CROPS_PER_IMAGE,
                   hr_downscale: int = PROTOCOL_HR_DOWNSCALE, device: str | torch.device = "cpu",
                   precision: str = "fp32", ensemble: bool = False) -> EvalResult:
    """Measure an upscaler with the protocol above on held-out ``photos`` (files, or HR arrays as is).

    Paths are turned into HR by ``protocol_hr`` (Lanczos /``hr_downscale``); arrays are used as
    the HR images directly. fp32 by default so the figures do not depend on the CPU's bf16 support.
    ``ensemble`` measures the self-ensemble of tiling.py (the app's "Best quality").
    """
    hr_images = [protocol_hr(p, hr_downscale) if not isinstance(p, np.ndarray) else p for p in photos]
    crops = protocol_crops(hr_images, scale, crop, per_image)
    if not crops:
        raise ValueError(f"no {crop}x{crop} crop fits in the evaluation images")
    scores = []
    for hr in crops:
        lr = downscale_uint8(hr, scale)
        sr = upscale_array(model, lr, scale, tile=0, device=device, precision=precision, ensemble=ensemble)
        bic = resample_array(lr, scale, "bicubic")
        scores.append((min(psnr(sr, hr, scale), PSNR_CAP), ssim(sr, hr, scale),
                       min(psnr(bic, hr, scale), PSNR_CAP), ssim(bic, hr, scale)))
    m = np.mean(np.array(scores), axis=0)
    return EvalResult(float(m[0]), float(m[1]), float(m[2]), float(m[3]), len(crops))
