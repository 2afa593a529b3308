"""Low-resolution inputs made on the fly from high-resolution patches.

"bicubic" is the standard SR benchmark degradation, and the same function makes the LR crops of
the evaluation protocol (metrics.evaluate_crops), so training and measuring agree. "real" adds, per
sample, an optional Gaussian blur before the downscale, then noise and JPEG artefacts, for photos
that come from phones and the web. Every random choice comes from the ``torch.Generator`` passed
in, so a checkpointed generator state reproduces the exact same inputs on resume.

Low-resolution images are always rounded to 8-bit levels: real inputs are 8-bit files, and a
network trained on unrounded inputs sees slightly different statistics at inference.
"""
from __future__ import annotations

import io
import math

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from ..errors import ConfigError

DEGRADATIONS = ("bicubic", "real")

# "real" mode: probability and range of each step (ranges in the units named)
BLUR_PROBABILITY = 0.5
BLUR_SIGMA = (0.2, 1.5)             # Gaussian sigma in HR pixels, before the downscale
NOISE_PROBABILITY = 0.5
NOISE_SIGMA = (1.0, 10.0)           # Gaussian noise sigma in 8-bit levels
GREY_NOISE_PROBABILITY = 0.3        # share of noisy samples with the same noise in all channels
JPEG_PROBABILITY = 0.5
JPEG_QUALITY = (35, 95)             # inclusive range of JPEG qualities


def quantize(x: torch.Tensor) -> torch.Tensor:
    """Round [0, 1] values to the nearest of the 256 8-bit levels (and clamp)."""
    return (x.clamp(0, 1) * 255).round_() / 255


def downscale(hr: torch.Tensor, scale: int) -> torch.Tensor:
    """Antialiased bicubic downscale of an NCHW float batch by ``scale`` (sides cropped to multiples)."""
    h, w = hr.shape[-2] // scale, hr.shape[-1] // scale
    hr = hr[..., : h * scale, : w * scale]
    with torch.autocast(hr.device.type, enabled=False):
        return F.interpolate(hr.float(), size=(h, w), mode="bicubic", antialias=True, align_corners=False)


def downscale_uint8(image: np.ndarray, scale: int) -> np.ndarray:
    """The bicubic LR of a uint8 HxWxC image, as uint8: the evaluation protocol's LR."""
    t = torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1)[None].float() / 255
    lr = quantize(downscale(t, scale))
    return (lr[0].permute(1, 2, 0) * 255).round().to(torch.uint8).numpy()


def make_lr(hr: torch.Tensor, scale: int, mode: str = "bicubic",
            generator: torch.Generator | None = None) -> torch.Tensor:
    """LR batch for an HR batch (NCHW float in [0, 1], on the CPU) with the chosen degradation."""
    if mode not in DEGRADATIONS:
        raise ConfigError(f"Invalid degradation {mode!r}. Only {', '.join(DEGRADATIONS)} are supported.")
    if mode == "bicubic":
        return quantize(downscale(hr, scale))
    if generator is None:
        raise ConfigError("The 'real' degradation needs a seeded random generator.")
    return torch.cat([_real_one(hr[i:i + 1], scale, generator) for i in range(hr.shape[0])])


def _uniform(g: torch.Generator, lo: float, hi: float) -> float:
    return lo + (hi - lo) * float(torch.rand((), generator=g))


def _chance(g: torch.Generator, p: float) -> bool:
    return float(torch.rand((), generator=g)) < p


def _real_one(hr: torch.Tensor, scale: int, g: torch.Generator) -> torch.Tensor:
    # Draw every choice first, in a fixed order, so the stream advances identically per sample.
    blur = _chance(g, BLUR_PROBABILITY)
    sigma = _uniform(g, *BLUR_SIGMA)
    noisy = _chance(g, NOISE_PROBABILITY)
    noise_sigma = _uniform(g, *NOISE_SIGMA) / 255
    grey_noise = _chance(g, GREY_NOISE_PROBABILITY)
    jpeg = _chance(g, JPEG_PROBABILITY)
    quality = int(torch.randint(JPEG_QUALITY[0], JPEG_QUALITY[1] + 1, (), generator=g))

    x = gaussian_blur(hr, sigma) if blur else hr
    x = downscale(x, scale)
    channels = 1 if grey_noise else x.shape[1]
    noise = torch.randn((1, channels, *x.shape[-2:]), generator=g)
    if noisy:
        x = x + noise * noise_sigma
    x = quantize(x)
    if jpeg and x.shape[1] in (1, 3):
        x = jpeg_roundtrip(x, quality)
    return x


def gaussian_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur of an NCHW batch with reflected borders."""
    # reflect padding needs the radius to stay below the image side
    radius = max(1, min(math.ceil(3 * sigma), x.shape[-1] - 1, x.shape[-2] - 1))
    t = torch.arange(-radius, radius + 1, dtype=torch.float32)
    k = torch.exp(-(t ** 2) / (2 * sigma * sigma))
    k = k / k.sum()
    c = x.shape[1]
    x = F.pad(x, (radius, radius, radius, radius), mode="reflect")
    x = F.conv2d(x, k.view(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)
    return F.conv2d(x, k.view(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c)


def jpeg_roundtrip(x: torch.Tensor, quality: int) -> torch.Tensor:
    """Encode and decode one 1xCxHxW image as JPEG at ``quality`` (PIL, on the CPU)."""
    a = (x[0].permute(1, 2, 0) * 255).round().clamp(0, 255).to(torch.uint8).numpy()
    im = Image.fromarray(a[:, :, 0] if a.shape[2] == 1 else a, "L" if a.shape[2] == 1 else "RGB")
    buf = io.BytesIO()
    im.save(buf, format="JPEG", quality=quality)
    buf.seek(0)
    out = np.asarray(Image.open(buf).convert(im.mode), dtype=np.uint8)
    if out.ndim == 2:
        out = out[:, :, None]
    return torch.from_numpy(out.copy()).permute(2, 0, 1)[None].float() / 255
