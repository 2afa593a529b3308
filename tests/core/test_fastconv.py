"""The faster strided-convolution gradients give the stock gradients, and swap in without a trace."""
from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from ganstudio.core import fastconv
from ganstudio.core.models import build_gan


@pytest.fixture
def gemm_calls(monkeypatch):
    calls = []
    real = fastconv.weight_grad_gemm

    def counting(*args, **kwargs):
        calls.append(args[1].shape)
        return real(*args, **kwargs)

    monkeypatch.setattr(fastconv, "weight_grad_gemm", counting)
    return calls


def _grads(layer: nn.Module, x: torch.Tensor, autocast: bool = False):
    layer.zero_grad(set_to_none=True)
    x = x.detach().clone().requires_grad_()
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
        y = layer(x)
    # a loss that weighs every output differently, so a transposed or shifted gradient shows
    weights = torch.linspace(-1, 2, y.numel(), dtype=torch.float64).view(y.shape)
    (y.double() * weights).sum().backward()
    bias = None if layer.bias is None else layer.bias.grad
    return y, x.grad, layer.weight.grad, bias


# (class, in, out, kernel, stride, padding, input height, input width)
CASES = [
    (nn.Conv2d, 64, 128, 4, 2, 1, 8, 8),          # the primer's discriminator layer
    (nn.Conv2d, 32, 48, 4, 2, 1, 7, 9),           # odd sizes: the last row and column are never read
    (nn.Conv2d, 16, 24, 5, 3, 2, 11, 10),         # other kernel, stride and padding
    (nn.Conv2d, 3, 16, 3, 2, 1, 9, 9),
    (nn.ConvTranspose2d, 128, 64, 4, 2, 1, 4, 4),  # the primer's generator layer
    (nn.ConvTranspose2d, 24, 12, 4, 2, 1, 3, 5),
    (nn.ConvTranspose2d, 8, 6, 5, 3, 1, 4, 3),
]


@pytest.mark.parametrize("bias", [False, True])
@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c[0].__name__}-{c[1]}-{c[2]}-k{c[3]}s{c[4]}p{c[5]}-{c[6]}x{c[7]}")
def test_gradients_equal_the_stock_layer_in_float64(case, bias, gemm_calls):
    cls, cin, cout, k, s, p, h, w = case
    torch.manual_seed(0)
    stock = cls(cin, cout, k, s, p, bias=bias).double()
    fast = copy.deepcopy(stock)
    assert fastconv.accelerate(fast) == 1
    x = torch.randn(5, cin, h, w, dtype=torch.float64)
    for fmt in (torch.contiguous_format, torch.channels_last):
        x = x.contiguous(memory_format=fmt)
        got, want = _grads(fast, x), _grads(stock, x)
        for g, r in zip(got, want):
            if r is not None:
                assert g.shape == r.shape
                torch.testing.assert_close(g, r, rtol=1e-10, atol=1e-10)
    assert len(gemm_calls) == 2   # every map here is small: the matrix product did the work, twice


def test_large_maps_keep_the_stock_weight_gradient(gemm_calls):
    torch.manual_seed(0)
    stock = nn.Conv2d(8, 8, 4, 2, 1, bias=False).double()
    fast = copy.deepcopy(stock)
    fastconv.accelerate(fast)
    x = torch.randn(2, 8, 32, 32, dtype=torch.float64)   # a 16x16 output: past the rule's limit
    torch.testing.assert_close(_grads(fast, x)[2], _grads(stock, x)[2])
    assert gemm_calls == []
    assert fastconv.use_gemm_weight_grad(8 * 8) and not fastconv.use_gemm_weight_grad(16 * 16)


def test_bf16_autocast_matches_the_stock_layer_within_bf16_rounding():
    torch.manual_seed(0)
    for cls, args, hw in ((nn.Conv2d, (64, 128, 4, 2, 1), 8), (nn.ConvTranspose2d, (128, 64, 4, 2, 1), 4)):
        stock = cls(*args, bias=True).to(memory_format=torch.channels_last)
        fast = copy.deepcopy(stock)
        fastconv.accelerate(fast)
        x = torch.randn(16, args[0], hw, hw).contiguous(memory_format=torch.channels_last)
        got, want = _grads(fast, x, autocast=True), _grads(stock, x, autocast=True)
        assert got[0].dtype == want[0].dtype == torch.bfloat16
        for g, r in zip(got, want):
            assert g.dtype == r.dtype
            assert (g.float() - r.float()).abs().max() <= 2e-2 * r.float().abs().max()


def test_accelerate_switches_only_eligible_layers_and_keeps_the_checkpoint_keys():
    G, D = build_gan("seed-dcgan-16")
    keys_before = {m: list(net.state_dict()) for m, net in (("G", G), ("D", D))}
    # G: the two strided transposed layers (the first layer is the latent projection, a subclass
    # with its own forward); D: the two strided layers (the last is the whole-map score)
    assert fastconv.accelerate(G) == 2
    assert fastconv.accelerate(D) == 2
    assert fastconv.accelerate(D) == 0            # already switched
    assert {m: list(net.state_dict()) for m, net in (("G", G), ("D", D))} == keys_before
    assert type(D.layer1) is fastconv.FastConv2d and type(D.layer3) is not fastconv.FastConv2d
    odd = nn.Sequential(nn.Conv2d(4, 4, 3, 1, 1), nn.Conv2d(4, 4, 3, 2, 1, groups=2),
                        nn.Conv2d(4, 4, 3, 2, 2, dilation=2), nn.Conv2d(4, 4, 3, 2, 1, padding_mode="reflect"),
                        nn.ConvTranspose2d(4, 4, 3, 2, 1, output_padding=1))
    assert fastconv.accelerate(odd) == 0          # stride 1, groups, dilation, padding mode, output padding


def test_no_grad_and_frozen_weights_take_the_stock_path(gemm_calls):
    layer = nn.Conv2d(16, 16, 4, 2, 1)
    fastconv.accelerate(layer)
    x = torch.randn(2, 16, 8, 8, requires_grad=True)
    with torch.no_grad():
        assert layer(x).grad_fn is None
    layer.requires_grad_(False)           # the generator's step through a frozen discriminator
    layer(x).sum().backward()
    assert x.grad is not None and gemm_calls == []
