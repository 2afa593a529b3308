"""Image similarity for validation, the benchmark and the optional SSIM loss term."""
from __future__ import annotations

import torch
import torch.nn.functional as F

#: Gaussian window of SSIM (Wang et al. 2004): 11 taps, sigma 1.5
SSIM_WINDOW = 11
SSIM_SIGMA = 1.5
#: stabilisers (K1, K2) of SSIM for a data range of 1
SSIM_K = (0.01, 0.03)


def _gaussian_window(channels: int, device: torch.device) -> torch.Tensor:
    x = torch.arange(SSIM_WINDOW, dtype=torch.float32, device=device) - (SSIM_WINDOW - 1) / 2
    g = torch.exp(-(x ** 2) / (2 * SSIM_SIGMA ** 2))
    g = g / g.sum()
    return (g[:, None] * g[None, :]).expand(channels, 1, SSIM_WINDOW, SSIM_WINDOW).contiguous()


def ssim_map(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Per-pixel SSIM of two NCHW batches in [0, 1] (Gaussian window, valid region only).

    Differentiable, so ``1 - ssim`` can be a loss. Images smaller than the window use a window
    cropped to them. Computed in fp32 whatever the inputs' dtype.
    """
    x, y = x.float(), y.float()
    c = x.shape[1]
    w = _gaussian_window(c, x.device)
    k = min(SSIM_WINDOW, x.shape[-1], x.shape[-2])
    if k < SSIM_WINDOW:
        off = (SSIM_WINDOW - k) // 2
        w = w[..., off:off + k, off:off + k]
        w = w / w.sum(dim=(-1, -2), keepdim=True)

    def blur(t: torch.Tensor) -> torch.Tensor:
        return F.conv2d(t, w, groups=c)

    mx, my = blur(x), blur(y)
    sxx = blur(x * x) - mx * mx
    syy = blur(y * y) - my * my
    sxy = blur(x * y) - mx * my
    c1, c2 = SSIM_K[0] ** 2, SSIM_K[1] ** 2
    return ((2 * mx * my + c1) * (2 * sxy + c2)) / ((mx * mx + my * my + c1) * (sxx + syy + c2))


def ssim(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Mean SSIM per image (N values) of NCHW batches in [0, 1]; colour channels are averaged."""
    return ssim_map(x, y).mean(dim=(1, 2, 3))


def l1(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Mean absolute error per image (N values) of NCHW batches in [0, 1]."""
    return (x.float() - y.float()).abs().mean(dim=(1, 2, 3))
