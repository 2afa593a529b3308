"""The compact net with LeakyReLU ("lrelu"): CPU inference runs each convolution together with its
activation or residual sum in one oneDNN call (``CompactSR.inference_phases``). The result must be
the plain network's, and training must never take that path."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from ganstudio.core.errors import ConfigError
from ganstudio.core.upscale import community, models
from ganstudio.core.upscale.models import CompactSR, build_sr_model
from ganstudio.core.upscale.task import UpscaleOptions
from ganstudio.core.upscale.tiling import upscale_array

from .test_upscale_tiling import textured

needs_onednn = pytest.mark.skipif(models._POINTWISE is None, reason="this PyTorch has no fused oneDNN convolution")


def lively_lrelu(scale: int) -> CompactSR:
    torch.manual_seed(3)
    net = CompactSR(scale=scale, features=16, blocks=2, act="lrelu")
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, torch.nn.Conv2d):          # undo the near-identity start: every layer matters
                m.weight.normal_(0, 0.08)
                m.bias.normal_(0, 0.05)
    return net.eval()


@needs_onednn
@pytest.mark.parametrize("scale", [2, 4])
@pytest.mark.parametrize("layout", [torch.contiguous_format, torch.channels_last], ids=["nchw", "nhwc"])
def test_fused_inference_is_the_plain_network_in_fp32(scale: int, layout) -> None:
    net = lively_lrelu(scale)
    x = torch.rand(2, 3, 23, 31).contiguous(memory_format=layout)
    with torch.inference_mode():
        plain, fused = net.phases(x), net.inference_phases(x)
    assert fused.shape == plain.shape == (2, 3 * scale * scale, 23, 31) and fused.dtype == torch.float32
    assert (fused - plain).abs().max() < 1e-5
    assert (plain - net._with_skip(x, torch.zeros_like(plain))).abs().mean() > 0.05   # the residual is not tiny


@needs_onednn
def test_fused_bf16_is_as_accurate_as_the_plain_bf16_pass() -> None:
    net = lively_lrelu(2)
    x = torch.rand(1, 3, 40, 40).contiguous(memory_format=torch.channels_last)
    with torch.inference_mode():
        truth = net.phases(x)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            plain, fused = net.phases(x), net.inference_phases(x)
    plain_err, fused_err = (plain - truth).abs().mean(), (fused - truth).abs().mean()
    assert 0 < fused_err < 1.5 * plain_err      # bf16 rounding, and no more of it than the plain pass


@needs_onednn
def test_the_tiler_takes_the_fused_path_and_the_plain_forward_does_not(monkeypatch) -> None:
    calls = []
    real = models._POINTWISE

    class Counting:
        def __call__(self, *args):
            calls.append("conv")
            return real(*args)

        def binary(self, *args):
            calls.append("conv+add")
            return real.binary(*args)

    monkeypatch.setattr(models, "_POINTWISE", Counting())
    net = lively_lrelu(2)
    with torch.inference_mode():
        net(torch.rand(1, 3, 16, 16))                 # the plain network, as the benchmark's reference runs it
    assert calls == []
    up = community._ours(net, "lrelu", None, {})
    img = textured(64, 48)
    whole = upscale_array(up, img, tile=0, device="cpu", precision="fp32")
    assert calls.count("conv") == 4 and calls.count("conv+add") == 2      # head, 2 x (conv1, conv2+sum), tail
    tiled = upscale_array(up, img, tile=2 * up.context + 20, device="cpu", precision="fp32")
    assert np.abs(whole.astype(int) - tiled.astype(int)).max() <= 1
    ensemble = upscale_array(up, img, tile=0, device="cpu", precision="fp32", ensemble=True)
    assert ensemble.shape == whole.shape and len(calls) > 12           # "Best quality" is fused too


def test_training_and_missing_onednn_use_the_plain_network(monkeypatch) -> None:
    net = lively_lrelu(2).train()
    x = torch.rand(1, 3, 12, 12)
    y = net.inference_phases(x)                           # parameters want gradients: the plain path
    assert y.grad_fn is not None and torch.equal(y, net.phases(x))
    monkeypatch.setattr(models, "_POINTWISE", None)       # a PyTorch without oneDNN's fused convolution
    with torch.inference_mode():
        assert torch.equal(net.inference_phases(x), net.phases(x))


def test_activation_is_part_of_the_description_and_checked() -> None:
    assert CompactSR(act="lrelu").config() == {"features": 48, "blocks": 4, "act": "lrelu"}
    assert CompactSR().config() == {"features": 48, "blocks": 4}   # files from before the choice load as PReLU
    assert isinstance(build_sr_model("compact", 2, features=8, blocks=1, act="lrelu").head_act, torch.nn.LeakyReLU)
    with pytest.raises(ConfigError, match="Invalid activation 'gelu'"):
        build_sr_model("compact", 2, act="gelu")
    with pytest.raises(ConfigError, match="choice of the compact network"):
        UpscaleOptions(data=".", arch="rrdb", act="lrelu")
    assert UpscaleOptions(data=".").model_kwargs() == {"act": "lrelu"}           # new runs: LeakyReLU
    assert UpscaleOptions(data=".", act="prelu").model_kwargs() == {"act": "prelu"}
    assert UpscaleOptions(data=".", arch="rrdb").model_kwargs() == {}


def test_a_run_saved_before_the_choice_resumes_with_prelu() -> None:
    from ganstudio.core.config import from_dict

    old = from_dict(UpscaleOptions, {"data": ".", "scale": 2, "arch": "compact"})   # no "act" in its config
    assert old.act == "prelu"
    assert isinstance(build_sr_model("compact", 2, **old.model_kwargs()).head_act, torch.nn.PReLU)
    assert from_dict(UpscaleOptions, {"data": ".", "arch": "rrdb"}).model_kwargs() == {}
