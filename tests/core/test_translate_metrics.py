"""SSIM and L1 of the translate task: the loss term and the validation figures."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ganstudio.core.translate import metrics
from ganstudio.core.upscale.metrics import ssim as protocol_ssim


def reference_ssim_map(x: torch.Tensor, y: torch.Tensor, k: int = 11) -> torch.Tensor:
    """SSIM written out plainly: a 2-D Gaussian window (sigma 1.5), five 11x11 convolutions, float64."""
    x, y = x.double(), y.double()
    t = torch.arange(11, dtype=torch.float64) - 5
    g = torch.exp(-(t ** 2) / (2 * 1.5 ** 2))
    w2 = g[:, None] * g[None, :]
    off = (11 - k) // 2
    w2 = w2[off:off + k, off:off + k]
    w2 = (w2 / w2.sum()).expand(x.shape[1], 1, k, k)

    def blur(a: torch.Tensor) -> torch.Tensor:
        return F.conv2d(a, w2, groups=x.shape[1])

    mx, my = blur(x), blur(y)
    vx, vy, cxy = blur(x * x) - mx ** 2, blur(y * y) - my ** 2, blur(x * y) - mx * my
    c1, c2 = 0.01 ** 2, 0.03 ** 2
    return ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx ** 2 + my ** 2 + c1) * (vx + vy + c2))


def test_ssim_matches_the_plain_definition_grey_colour_and_small() -> None:
    torch.manual_seed(0)
    for shape in [(4, 1, 40, 36), (2, 3, 24, 24), (2, 1, 7, 9)]:
        x = torch.rand(shape)
        y = (x + 0.2 * torch.randn(shape)).clamp(0, 1)
        got = metrics.ssim_map(x.contiguous(memory_format=torch.channels_last), y)
        k = min(11, *shape[-2:])
        want = reference_ssim_map(x, y, k)
        assert got.shape == want.shape
        assert torch.allclose(got.double(), want, atol=1e-5)
    # and the upscaler's protocol SSIM (numpy, its own code) agrees on one image
    x = torch.rand(1, 3, 32, 32)
    y = (x * 0.8 + 0.1).clamp(0, 1)
    a = x[0].permute(1, 2, 0).numpy()
    b = y[0].permute(1, 2, 0).numpy()
    assert abs(float(metrics.ssim(x, y)[0]) - protocol_ssim(a, b)) < 1e-5


def test_ssim_is_one_for_equal_images_and_differentiable() -> None:
    x = torch.rand(3, 1, 20, 20)
    assert torch.allclose(metrics.ssim(x, x), torch.ones(3), atol=1e-6)
    fake = torch.rand(3, 1, 20, 20, requires_grad=True)
    loss = 1 - metrics.ssim(fake, x).mean()
    loss.backward()
    assert fake.grad is not None and torch.isfinite(fake.grad).all() and fake.grad.abs().sum() > 0
    # bf16 inputs are measured in fp32
    assert metrics.ssim(x.bfloat16(), x.bfloat16()).dtype == torch.float32
