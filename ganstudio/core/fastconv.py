"""Faster weight gradients for strided convolutions on the CPU.

oneDNN's backward-weights kernel is slow for strided convolutions on small feature maps, which is
where a DCGAN's deeper layers work. There the gradient is cheaper as one matrix product: gather every
kh x kw input window of the larger map (one row per position of the smaller map, from a channels-last
view) and multiply by the smaller map's gradient. Measured on this project's 2-core CPU in bf16
(``weight_grad_gemm`` against ``aten.convolution_backward`` for the weight alone): the primer's
discriminator layer (64 -> 128 channels, 8x8 -> 4x4, batch 128) 2.9 against 4.2 ms; ``dcgan-64``'s
(256 -> 512, 8x8 -> 4x4, batch 64) 13 against 20 ms; the primer's generator layer (transposed,
128 -> 64, 4x4 -> 8x8) 1.4 against 2.2 ms. Whole training steps: ``seed-dcgan-16`` 5-11% faster,
``dcgan-64`` 6% (interleaved A/B, see docs/benchmarks.md). On maps larger than 8x8 the stock kernel
wins, so ``use_gemm_weight_grad`` decides per layer from the shape alone: never from timings, so
deterministic runs stay deterministic. Gradients equal the stock ones up to float rounding.

Not used for the translate task: its batches of 8 through some forty layers made the extra Python
per layer cost more than the products saved (a 6% slower step).

``accelerate(module)`` switches the eligible ``nn.Conv2d`` / ``nn.ConvTranspose2d`` layers of a
network to the subclasses below in place. They hold the same parameters under the same names, so
checkpoints do not change; forward passes and input gradients are the stock ones.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

# the rule: the matrix-product form wins when the smaller feature map has at most this many pixels
MAX_SMALL_MAP_PIXELS = 64


def use_gemm_weight_grad(small_map_pixels: int) -> bool:
    """Whether the matrix-product form of the weight gradient is the faster one (CPU)."""
    return small_map_pixels <= MAX_SMALL_MAP_PIXELS


def weight_grad_gemm(big: torch.Tensor, small: torch.Tensor, kernel: tuple[int, int],
                     stride: tuple[int, int], padding: tuple[int, int]) -> torch.Tensor:
    """The weight gradient of a strided convolution between a ``big`` and a ``small`` feature map, as
    one matrix product: W[s, b, i, j] = sum over n, y, x of small[n, s, y, x] * big_pad[n, b, stride*y + i,
    stride*x + j].

    For ``conv2d(x, W)`` pass (x, output gradient): W is [out, in, kh, kw]. For
    ``conv_transpose2d(x, W)`` pass (output gradient, x): W is [in, out, kh, kw]. The result comes
    back channels-last, the layout of the networks' weights, with no copy.
    """
    n, c, h, w = big.shape
    (kh, kw), (sh, sw), (ph, pw) = kernel, stride, padding
    ho, wo = small.shape[-2:]
    hp, wp = h + 2 * ph, w + 2 * pw
    padded = big.new_zeros(n, hp, wp, c)
    padded[:, ph:ph + h, pw:pw + w] = big.permute(0, 2, 3, 1)
    # every output position's kh x kw x c input window, one row each (rows past the last full stride
    # are never read, as in the convolution itself)
    windows = padded.as_strided((n, ho, wo, kh, kw, c), (hp * wp * c, sh * wp * c, sw * c, wp * c, c, 1))
    rows = windows.reshape(n * ho * wo, kh * kw * c)
    per_position = small.permute(0, 2, 3, 1).reshape(n * ho * wo, -1)   # a view when channels-last
    return (per_position.t() @ rows).view(-1, kh, kw, c).permute(0, 3, 1, 2)


class _StridedConv(torch.autograd.Function):
    """conv2d / conv_transpose2d without groups or dilation; backward picks the faster form."""

    @staticmethod
    def forward(ctx, x, weight, bias, stride, padding, transposed):
        ctx.save_for_backward(x, weight)
        ctx.conf = (stride, padding, transposed)
        if transposed:
            return F.conv_transpose2d(x, weight, bias, stride, padding)
        return F.conv2d(x, weight, bias, stride, padding)

    @staticmethod
    def backward(ctx, grad):
        x, weight = ctx.saved_tensors
        stride, padding, transposed = ctx.conf
        needs_x, needs_w = ctx.needs_input_grad[:2]
        small, big = (x, grad) if transposed else (grad, x)
        gemm = needs_w and use_gemm_weight_grad(small.shape[-2] * small.shape[-1])
        grad_x = grad_w = grad_b = None
        if needs_x or (needs_w and not gemm):
            # the stock kernel, asked only for what it does well here
            grad_x, grad_w, _ = torch.ops.aten.convolution_backward(
                grad, x, weight, None, list(stride), list(padding), [1, 1], transposed, [0, 0], 1,
                [needs_x, needs_w and not gemm, False])
        if gemm:
            grad_w = weight_grad_gemm(big, small, tuple(weight.shape[-2:]), stride, padding)
        if ctx.needs_input_grad[2]:
            grad_b = grad.sum((0, 2, 3))
        return grad_x, grad_w, grad_b, None, None, None


def _apply(layer: nn.Conv2d | nn.ConvTranspose2d, x: torch.Tensor, transposed: bool) -> torch.Tensor:
    w, b = layer.weight, layer.bias
    dev = x.device.type
    if torch.is_autocast_enabled(dev):
        # what autocast would do for a convolution: every operand in the lower precision
        dtype = torch.get_autocast_dtype(dev)
        x, w = x.to(dtype), w.to(dtype)
        b = None if b is None else b.to(dtype)
    with torch.autocast(dev, enabled=False):
        return _StridedConv.apply(x, w, b, layer.stride, layer.padding, transposed)


def _fast_path(layer: nn.Conv2d | nn.ConvTranspose2d, x: torch.Tensor) -> bool:
    return x.device.type == "cpu" and x.dim() == 4 and torch.is_grad_enabled() and layer.weight.requires_grad


class FastConv2d(nn.Conv2d):
    """``nn.Conv2d`` whose weight gradient takes the faster form (see the module docstring)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not _fast_path(self, x):
            return super().forward(x)
        return _apply(self, x, transposed=False)


class FastConvTranspose2d(nn.ConvTranspose2d):
    """``nn.ConvTranspose2d`` whose weight gradient takes the faster form (see the module docstring)."""

    def forward(self, x: torch.Tensor, output_size: list[int] | None = None) -> torch.Tensor:
        if output_size is not None or not _fast_path(self, x):
            return super().forward(x, output_size)
        return _apply(self, x, transposed=True)


def _eligible(m: nn.Module) -> bool:
    if type(m) not in (nn.Conv2d, nn.ConvTranspose2d):
        return False  # subclasses (e.g. models.LatentProjection) have their own forward
    return (m.groups == 1 and m.dilation == (1, 1) and m.padding_mode == "zeros"
            and isinstance(m.padding, tuple) and max(m.stride) > 1
            and (isinstance(m, nn.Conv2d) or m.output_padding == (0, 0)))


def accelerate(module: nn.Module) -> int:
    """Switch ``module``'s eligible strided convolutions (no groups or dilation) to the faster
    subclasses, in place. Returns how many layers were switched."""
    count = 0
    for m in module.modules():
        if _eligible(m):
            m.__class__ = FastConv2d if type(m) is nn.Conv2d else FastConvTranspose2d
            count += 1
    return count
