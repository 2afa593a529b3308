"""GAN Studio's networks write each tile's output into the uint8 image themselves
(``_SRBase.write_uint8``): the bicubic skip, the sum, the rounding and the clamp run a few rows at a
time, with the sub-pixel phases in (row phase, column phase, colour) order. The pixels must be the
ones the float path gives, rounded."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from ganstudio.core.upscale import community, models
from ganstudio.core.upscale.models import build_sr_model, phase_order
from ganstudio.core.upscale.tiling import upscale_array

from .test_upscale_fused import lively_lrelu
from .test_upscale_tiling import textured


def lively(arch: str, scale: int, channels: int = 3, **kwargs) -> models._SRBase:
    if arch == "compact-lrelu":
        return lively_lrelu(scale) if channels == 3 else _randomised(build_sr_model(
            "compact", scale, channels, features=16, blocks=2, act="lrelu"))
    small = dict(features=16, blocks=2) if arch == "compact" else dict(features=8, growth=8, blocks=1)
    return _randomised(build_sr_model(arch, scale, channels, **small, **kwargs))


def _randomised(net: models._SRBase) -> models._SRBase:
    torch.manual_seed(5)
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, torch.nn.Conv2d):            # every layer matters, outputs overshoot [0, 1]
                m.weight.normal_(0, 0.1)
                if m.bias is not None:
                    m.bias.normal_(0, 0.05)
    return net.eval()


def rounded(phases: torch.Tensor, scale: int) -> np.ndarray:
    """The float path's pixels: pixel-shuffle, x255, +0.5, clamp, truncate."""
    y = F.pixel_shuffle(phases, scale)[0].permute(1, 2, 0)
    return (y * 255 + 0.5).clamp(0, 255).to(torch.uint8).numpy()


def test_phase_order_puts_one_output_row_of_a_pixel_together() -> None:
    order = phase_order(3, 2)        # (colour, row phase, column phase) -> (row phase, column phase, colour)
    assert order.tolist() == [0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11]
    assert sorted(phase_order(1, 4).tolist()) == list(range(16))


@pytest.mark.parametrize("arch", ["compact-lrelu", "compact", "rrdb"])
@pytest.mark.parametrize("scale", [2, 4])
@pytest.mark.parametrize("layout", [torch.contiguous_format, torch.channels_last], ids=["nchw", "nhwc"])
def test_written_pixels_are_the_rounded_float_output(arch: str, scale: int, layout) -> None:
    net = lively(arch, scale)
    x = torch.rand(1, 3, 30, 26).contiguous(memory_format=layout)
    top, left, rows, cols = 3, 5, 21, 17
    canvas = np.full((40 * scale, 30 * scale, 3), 7, np.uint8)      # the view sits inside a bigger image
    out = torch.from_numpy(canvas)[2 * scale: (2 + rows) * scale, 4 * scale: (4 + cols) * scale]
    with torch.inference_mode():
        expected = rounded(net.inference_phases(x)[:, :, top: top + rows, left: left + cols], scale)
        net.write_uint8(x, out, top, left)
    written = canvas[2 * scale: (2 + rows) * scale, 4 * scale: (4 + cols) * scale]
    diff = np.abs(written.astype(int) - expected.astype(int))
    assert diff.max() <= 1 and (diff > 0).mean() < 1e-3            # a level only where rounding lands on a half
    assert (expected == 0).any() and (expected == 255).any()       # the clamp was exercised on both sides
    outside = canvas.copy()
    outside[2 * scale: (2 + rows) * scale, 4 * scale: (4 + cols) * scale] = 7
    assert (outside == 7).all()                                    # nothing written outside the view


def test_rows_are_finished_in_chunks_with_the_same_pixels(monkeypatch) -> None:
    net = lively("compact-lrelu", 4)
    x = torch.rand(1, 3, 37, 29).contiguous(memory_format=torch.channels_last)
    whole = torch.empty(37 * 4, 29 * 4, 3, dtype=torch.uint8)
    chunked = torch.empty_like(whole)
    with torch.inference_mode():
        net.write_uint8(x, whole, 0, 0)
        monkeypatch.setattr(models, "UINT8_CHUNK_BYTES", 29 * 48 * 4 * 3)   # 3 input rows at a time
        net.write_uint8(x, chunked, 0, 0)
    assert (whole.int() - chunked.int()).abs().max() <= 1
    assert (whole != chunked).float().mean() < 1e-3


def test_grey_networks_write_grey_pixels() -> None:
    net = lively("compact", 2, channels=1)
    x = torch.rand(1, 1, 20, 20)
    out = torch.empty(40, 40, 1, dtype=torch.uint8)
    with torch.inference_mode():
        net.write_uint8(x, out, 0, 0)
        expected = rounded(net.inference_phases(x), 2)
    assert np.abs(out.numpy().astype(int) - expected.astype(int)).max() <= 1


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_the_tiler_writes_through_our_networks_and_matches_the_float_path(precision: str, monkeypatch) -> None:
    net = lively("compact-lrelu", 2)
    up = community._ours(net, "n", None, {})
    calls = []
    real = up.write_uint8
    up = dataclasses.replace(up, write_uint8=lambda *a: (calls.append(1), real(*a))[1])
    float_path = dataclasses.replace(up, write_uint8=None)
    img = textured(70, 53)
    tile = 2 * up.context + 24
    totals = []
    direct = upscale_array(up, img, tile=tile, device="cpu", precision=precision,
                           progress=lambda done, total: totals.append(total))
    assert len(calls) == totals[-1] >= 4                            # every tile, through the network
    by_floats = upscale_array(float_path, img, tile=tile, device="cpu", precision=precision)
    diff = np.abs(direct.astype(int) - by_floats.astype(int))
    assert diff.max() <= 1 and (diff > 0).mean() < 1e-3
    whole = upscale_array(up, img, tile=0, device="cpu", precision=precision)
    assert np.abs(whole.astype(int) - direct.astype(int)).max() <= 1
    calls.clear()
    upscale_array(up, img, tile=0, device="cpu", precision=precision, ensemble=True)
    upscale_array(up, img[:, :, :1], tile=0, device="cpu", precision=precision)     # grey image, RGB network
    assert calls == []                    # "Best quality" and grey images average floats first
