"""Upscaler networks and tiled inference: seamless (tiled == whole image), all channel layouts."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from ganstudio.core.errors import ConfigError
from ganstudio.core.upscale import community, tiling
from ganstudio.core.upscale.models import SR_ARCHS, SRDiscriminator, build_sr_model
from ganstudio.core.upscale.tiling import UpscaleCancelled, baseline, upscale_array, wrap_callable

# small networks so that a test runs in a fraction of a second; context comes from the config
SMALL = {"compact": {"features": 16, "blocks": 2},
         "rrdb": {"features": 12, "blocks": 1, "growth": 8, "layers": 2}}


def textured(h: int, w: int, c: int = 3, seed: int = 0) -> np.ndarray:
    """Smooth gradients plus fine noise: something for a network to react to everywhere."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w]
    base = 128 + 90 * np.sin(x / 7.0 + y / 11.0)
    img = base[..., None] + rng.normal(0, 25, (h, w, c))
    return np.clip(img, 0, 255).astype(np.uint8)


def lively(arch: str, scale: int = 2) -> torch.nn.Module:
    """A randomly initialised network whose residual is not tiny (the tail's start-small init undone)."""
    torch.manual_seed(1)
    net = build_sr_model(arch, scale, **SMALL[arch])
    with torch.no_grad():
        net.tail.weight.mul_(10)
    return net.eval()


@pytest.mark.parametrize("arch", sorted(SR_ARCHS))
@pytest.mark.parametrize("scale", [2, 4])
def test_networks_start_near_bicubic(arch: str, scale: int) -> None:
    net = build_sr_model(arch, scale, **SMALL[arch])
    x = torch.rand(2, 3, 12, 10)
    y = net(x)
    assert y.shape == (2, 3, 12 * scale, 10 * scale)
    bicubic = F.interpolate(x, scale_factor=scale, mode="bicubic", align_corners=False)
    # residual blocks and the tail start small: the untrained network is bicubic plus a little
    assert (y - bicubic).abs().mean() < 0.05
    assert net.context >= 2 and net.bytes_per_pixel > 0
    rebuilt = build_sr_model(arch, scale, **net.config())
    assert sum(p.numel() for p in rebuilt.parameters()) == sum(p.numel() for p in net.parameters())


def test_discriminator_gives_patch_logits() -> None:
    d = SRDiscriminator(3, 8)
    assert d(torch.rand(2, 3, 32, 32)).shape == (2, 1, 8, 8)


def test_bad_architecture_and_scale_are_refused() -> None:
    with pytest.raises(ConfigError, match="Only compact, rrdb"):
        build_sr_model("unet", 2)
    with pytest.raises(ConfigError, match="Invalid scale 3"):
        build_sr_model("compact", 3)
    with pytest.raises(ConfigError, match="Invalid options"):
        build_sr_model("compact", 2, depth=3)


@pytest.mark.parametrize("arch", sorted(SR_ARCHS))
@pytest.mark.parametrize("exact", [False, True], ids=["cross-faded", "exact-margins"])
def test_tiled_output_equals_whole_image(arch: str, exact: bool) -> None:
    net = lively(arch)
    up = wrap_callable(net, 2)
    if exact:   # as GAN Studio's own networks load: a known receptive radius, pixels read from the phases
        up = dataclasses.replace(up, exact=True, phases=net.phases)
        assert tiling.default_overlap(up) == 2 * up.context   # no cross-fade to compute
    else:
        assert tiling.default_overlap(up) > 2 * up.context
    img = textured(70, 90)
    whole = upscale_array(up, img, tile=0, device="cpu", precision="fp32")
    counts: list[int] = []
    tiled = upscale_array(up, img, tile=2 * up.context + 26, device="cpu", precision="fp32",
                          progress=lambda d, t: counts.append(t))
    assert counts[-1] >= 4  # really tiled, in both directions
    diff = np.abs(whole.astype(int) - tiled.astype(int))
    assert diff.max() <= 1          # within 1/255 (a rounding flip at most)
    assert diff.mean() < 0.01
    # and the network did change the picture (so the comparison means something)
    x = torch.from_numpy(img).permute(2, 0, 1)[None].float() / 255
    bic = F.interpolate(x, scale_factor=2, mode="bicubic")
    assert np.abs(whole / 255.0 - bic[0].permute(1, 2, 0).clamp(0, 1).numpy()).mean() > 0.01


@pytest.mark.parametrize("arch", sorted(SR_ARCHS))
@pytest.mark.parametrize("scale", [2, 4])
def test_reading_phases_equals_the_pixel_shuffled_output(arch: str, scale: int) -> None:
    # our own networks hand the tiler their pre-shuffle phases; the pixels must land where the
    # network's own pixel-shuffle puts them, in every tile and at odd sizes
    net = lively(arch, scale)
    plain = wrap_callable(net, scale)
    assert plain.phases is None
    direct = dataclasses.replace(plain, phases=net.phases)
    img = textured(37, 53)
    tile = 2 * net.context + 20
    for kw in ({"tile": 0}, {"tile": tile}):
        expected = upscale_array(plain, img, device="cpu", precision="fp32", **kw)
        got = upscale_array(direct, img, device="cpu", precision="fp32", **kw)
        assert got.shape == expected.shape == (37 * scale, 53 * scale, 3)
        assert np.array_equal(got, expected)
    # the loaded-file path uses them
    assert community._ours(net, "n", None, {}).phases is not None


def test_self_ensemble_averages_the_eight_symmetries() -> None:
    net = lively("compact")
    up = wrap_callable(net, 2, context=net.context)
    img = textured(37, 53)                     # not square: a wrong turn back would not fit
    x = torch.from_numpy(img).permute(2, 0, 1)[None].float() / 255
    outs = []
    with torch.no_grad():
        for mirror in (False, True):
            for k in range(4):
                t = torch.rot90(x.flip(3) if mirror else x, k, (2, 3))
                y = torch.rot90(net(t), -k, (2, 3))
                outs.append(y.flip(3) if mirror else y)
    expected = (torch.stack(outs).mean(0)[0].permute(1, 2, 0).clamp(0, 1) * 255).round().numpy()
    plain = upscale_array(up, img, tile=0, device="cpu", precision="fp32")
    whole = upscale_array(up, img, tile=0, device="cpu", precision="fp32", ensemble=True)
    assert np.abs(whole.astype(int) - expected).max() <= 1
    assert np.abs(whole.astype(int) - plain.astype(int)).mean() > 0.5   # it did change the result
    # the receptive radius is the same in every direction: tiles stay exact under the symmetries
    tiled = upscale_array(up, img, tile=2 * net.context + 20, device="cpu", precision="fp32", ensemble=True)
    assert np.abs(whole.astype(int) - tiled.astype(int)).max() <= 1
    # and with our networks' phases path, which the ensemble bypasses, the result is the same
    direct = community._ours(net, "n", None, {})
    assert np.array_equal(upscale_array(direct, img, tile=0, device="cpu", precision="fp32", ensemble=True), whole)


def test_self_ensemble_leaves_a_symmetric_upscaler_unchanged() -> None:
    def nearest(x: torch.Tensor) -> torch.Tensor:    # commutes with mirrors and turns
        return F.interpolate(x, scale_factor=2, mode="nearest")

    img = textured(20, 30, 4)
    img[..., 3] = np.linspace(0, 255, 30, dtype=np.uint8)[None, :]
    plain = upscale_array(nearest, img, 2, tile=0, device="cpu")
    assert np.array_equal(upscale_array(nearest, img, 2, tile=0, device="cpu", ensemble=True), plain)


def test_overlap_below_exact_margin_still_blends_smoothly() -> None:
    net = lively("compact")
    up = wrap_callable(net, 2)
    img = textured(64, 64)
    whole = upscale_array(up, img, tile=0, device="cpu", precision="fp32")
    tiled = upscale_array(up, img, tile=40, overlap=8, device="cpu", precision="fp32")
    assert tiled.shape == whole.shape
    assert np.abs(whole.astype(int) - tiled.astype(int)).mean() < 2  # close, not exact


@pytest.mark.parametrize("name", ["bundled-x2", "bundled-x4"])
def test_bundled_models_tile_exactly(name: str) -> None:
    if not community.bundled_path(name).is_file():
        pytest.skip(f"{name} is not trained yet (scripts/train_bundled_upscalers.py)")
    up = community.load_any_upscaler(name)
    img = textured(96, 120)
    whole = upscale_array(up, img, tile=0, device="cpu", precision="fp32")
    tiled = upscale_array(up, img, tile=2 * up.context + 40, device="cpu", precision="fp32")
    assert np.abs(whole.astype(int) - tiled.astype(int)).max() <= 1


def test_grey_and_alpha_layouts() -> None:
    torch.manual_seed(0)
    up = wrap_callable(build_sr_model("compact", 2, **SMALL["compact"]), 2)  # untrained: near bicubic
    kw = {"tile": 0, "device": "cpu", "precision": "fp32"}
    grey = textured(20, 24, 1)
    out = upscale_array(up, grey[:, :, 0], **kw)
    assert out.shape == (40, 48, 1)
    # a grey image runs as replicated RGB and comes back as the channel mean
    rgb = upscale_array(up, np.repeat(grey, 3, axis=2), **kw)
    assert np.abs(rgb.astype(int).mean(axis=2) - out[:, :, 0]).max() <= 1

    rgba = np.concatenate([textured(20, 24), np.zeros((20, 24, 1), np.uint8)], axis=2)
    rgba[:, 12:, 3] = 255                                     # left half transparent, right half opaque
    out = upscale_array(up, rgba, **kw)
    assert out.shape == (40, 48, 4)
    assert out[:, :20, 3].max() <= 10 and out[:, 28:, 3].min() >= 245   # alpha upscaled with its edge
    opaque = rgba.copy()
    opaque[:, :, 3] = 255
    assert (upscale_array(up, opaque, **kw)[:, :, 3] == 255).all()

    la = np.concatenate([grey, np.full((20, 24, 1), 128, np.uint8)], axis=2)
    out = upscale_array(up, la, **kw)
    assert out.shape == (40, 48, 2) and abs(int(out[:, :, 1].mean()) - 128) <= 2
    # "Best quality" keeps every layout: grey, grey + alpha, RGBA
    for image in (grey[:, :, 0], la, rgba):
        best = upscale_array(up, image, ensemble=True, **kw)
        assert best.shape == upscale_array(up, image, **kw).shape
    assert upscale_array(up, rgba, ensemble=True, **kw)[:, :20, 3].max() <= 10


def test_grey_network_on_colour_image_runs_per_channel() -> None:
    def grey_nearest(x: torch.Tensor) -> torch.Tensor:
        assert x.shape[1] == 1
        return F.interpolate(x, scale_factor=2, mode="nearest")

    up = wrap_callable(grey_nearest, 2, context=0, in_channels=1)
    img = textured(9, 11)
    out = upscale_array(up, img, tile=0, device="cpu", precision="fp32")
    assert np.array_equal(out, img.repeat(2, axis=0).repeat(2, axis=1))


@pytest.mark.parametrize("method", ["bicubic", "lanczos"])
def test_resampling_baselines_match_pil(method: str) -> None:
    img = textured(13, 17)
    out = upscale_array(baseline(method, 3), img)
    filt = Image.Resampling.BICUBIC if method == "bicubic" else Image.Resampling.LANCZOS
    assert np.array_equal(out, np.asarray(Image.fromarray(img).resize((51, 39), filt)))


def test_progress_and_cancellation() -> None:
    up = wrap_callable(lively("compact"), 2)
    img = textured(64, 64)
    seen: list[tuple[int, int]] = []
    upscale_array(up, img, tile=40, device="cpu", precision="fp32", progress=lambda d, t: seen.append((d, t)))
    total = seen[-1][1]
    assert seen[-1] == (total, total) and [d for d, _ in seen] == sorted(d for d, _ in seen)
    calls = []

    def stop_after_two() -> bool:
        calls.append(1)
        return len(calls) > 2

    with pytest.raises(UpscaleCancelled):
        upscale_array(up, img, tile=40, device="cpu", precision="fp32", should_stop=stop_after_two)


def test_bf16_stays_close_to_fp32() -> None:
    up = wrap_callable(lively("compact"), 2)
    img = textured(24, 24)
    a = upscale_array(up, img, tile=0, device="cpu", precision="fp32")
    b = upscale_array(up, img, tile=0, device="cpu", precision="bf16", channels_last=True)
    assert np.abs(a.astype(int) - b.astype(int)).mean() < 2


def test_auto_tile_size_follows_free_memory(monkeypatch: pytest.MonkeyPatch) -> None:
    up = wrap_callable(build_sr_model("compact", 4), 4)
    cpu = torch.device("cpu")
    big = tiling.auto_tile_size(up, cpu, 1000)
    assert big % 8 == 0 and big <= tiling.MAX_AUTO_TILE["cpu"]
    monkeypatch.setattr(tiling, "available_memory", lambda device: 64 << 20)
    small = tiling.auto_tile_size(up, cpu, 1000)
    assert small < big and small >= tiling.default_overlap(up) + 64 - 8


def test_compact_networks_take_cache_sized_tiles_on_the_cpu_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tiling, "available_memory", lambda device: 8 << 30)
    compact = community._ours(build_sr_model("compact", 4), "c", None, {})
    rrdb = community._ours(build_sr_model("rrdb", 4), "r", None, {})
    cpu, gpu = torch.device("cpu"), torch.device("cuda")
    assert tiling.auto_tile_size(compact, cpu, 1024) == compact.cpu_tile == 288
    assert tiling.auto_tile_size(compact, gpu, 1024) > 288          # a GPU has no such cache trade-off
    assert tiling.auto_tile_size(rrdb, cpu, 1024) == tiling.MAX_AUTO_TILE["cpu"]   # its wide margins: big tiles


def test_bad_input_arrays_are_refused() -> None:
    up = wrap_callable(lively("compact"), 2)
    with pytest.raises(ConfigError, match="uint8"):
        upscale_array(up, np.zeros((8, 8, 3), np.float32))
    with pytest.raises(ConfigError, match="shape"):
        upscale_array(up, np.zeros((8, 8, 5), np.uint8))
    with pytest.raises(ConfigError, match="x2, not x4"):
        upscale_array(up, np.zeros((8, 8, 3), np.uint8), 4)
