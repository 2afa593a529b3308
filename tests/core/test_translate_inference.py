"""Translate networks and inference: any size in, same size out; tiles blend to the untiled result;
translator files round-trip exactly and are read without unpickling."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from ganstudio.core.data import Cancelled
from ganstudio.core.errors import CheckpointError, ConfigError
from ganstudio.core.translate.inference import (TILED_TOLERANCE, load_translator, save_translator,
                                                translate_array, translator_from_generators)
from ganstudio.core.translate.models import (PatchDiscriminator, ResnetGenerator, UNetGenerator, build_generator,
                                             generator_spec, pad_for, pad_to_multiple, required_multiple)
from tests.core.test_translate_data import one_thread  # noqa: F401 (autouse fixture)


def _smooth_image(h: int, w: int, channels: int = 3, seed: int = 0) -> np.ndarray:
    """A picture-like test image (smooth shapes, not white noise)."""
    small = (np.random.default_rng(seed).random((max(2, h // 8), max(2, w // 8), channels)) * 255).astype(np.uint8)
    im = Image.fromarray(small[:, :, 0] if channels == 1 else small).resize((w, h), Image.BICUBIC)
    a = np.asarray(im)
    return a[:, :, None] if a.ndim == 2 else a


def _bn_with_statistics(G: torch.nn.Module) -> torch.nn.Module:
    """Give batch norms real running statistics (a fresh net's are the identity)."""
    G.train()
    with torch.no_grad():
        for _ in range(3):
            G(torch.rand(4, G.spec["in_ch"], 64, 64) * 2 - 1)
    return G.eval()


@pytest.fixture(scope="module")
def unet_translator():
    torch.manual_seed(0)
    return translator_from_generators({"AtoB": _bn_with_statistics(UNetGenerator(3, 1, ngf=8, depth=4))})


@pytest.fixture(scope="module")
def cycle_translator():
    torch.manual_seed(1)
    return translator_from_generators({"AtoB": ResnetGenerator(1, 3, ngf=8, n_blocks=2),
                                       "BtoA": ResnetGenerator(3, 1, ngf=8, n_blocks=2)},
                                      {"domains": {"A": "sketch", "B": "colour"}})


def test_generators_handle_grey_and_rgb_and_report_their_multiple():
    for in_ch, out_ch in ((1, 1), (1, 3), (3, 3)):
        G = UNetGenerator(in_ch, out_ch, ngf=4, depth=5)
        assert G(torch.zeros(2, in_ch, 64, 32)).shape == (2, out_ch, 64, 32)
        assert required_multiple(G) == 32
        R = ResnetGenerator(in_ch, out_ch, ngf=4, n_blocks=6)
        assert R(torch.zeros(1, in_ch, 20, 24)).shape == (1, out_ch, 20, 24)
        assert required_multiple(R) == 4
    D = PatchDiscriminator(4, ndf=4, n_layers=3)
    assert D(torch.zeros(1, 4, 64, 64)).shape == (1, 1, 6, 6)   # 70x70 patches
    spec = generator_spec(UNetGenerator(1, 3, ngf=4, depth=3, max_mult=2))
    rebuilt = build_generator(spec["arch"], **spec["kwargs"])
    assert isinstance(rebuilt, UNetGenerator) and rebuilt.spec["max_mult"] == 2
    with pytest.raises(ConfigError, match="Only unet, resnet"):
        build_generator("vgg")
    with pytest.raises(ConfigError, match="normalisation"):
        UNetGenerator(norm="layer")


def test_pad_to_multiple_reflects_even_tiny_images():
    x = torch.arange(6.0).view(1, 1, 2, 3)
    padded, size = pad_to_multiple(x, 8)
    assert size == (2, 3) and padded.shape == (1, 1, 8, 8)
    assert torch.equal(padded[..., :2, :3], x)
    assert pad_to_multiple(x, 8, min_side=16)[0].shape == (1, 1, 16, 16)
    assert pad_for(UNetGenerator(ngf=2, depth=6), torch.zeros(1, 3, 64, 64))[0].shape == (1, 3, 64, 64)
    assert pad_for(ResnetGenerator(ngf=2, n_blocks=1), torch.zeros(1, 3, 1, 5))[0].shape == (1, 3, 8, 8)


@pytest.mark.parametrize("shape", [(37, 53, 3), (1, 1, 3), (5, 300), (64, 64, 1), (30, 17, 4)])
def test_any_size_round_trips_to_the_same_size(unet_translator, shape):
    image = _smooth_image(shape[0], shape[1], shape[2] if len(shape) == 3 else 1)
    if len(shape) == 2:
        image = image[:, :, 0]
    for ensemble in (False, True):
        out = translate_array(unet_translator, image, ensemble=ensemble)
        assert out.shape[:2] == shape[:2] and out.dtype == np.uint8
        if len(shape) == 3 and shape[2] == 4:          # alpha comes back
            assert out.shape[2] == 4 and np.array_equal(out[:, :, 3], image[:, :, 3])
        else:
            assert out.shape[2] == 1                     # the generator's own channels (grey here)


@pytest.mark.parametrize("which", ["unet", "resnet"])
def test_tiled_matches_untiled_within_tolerance(unet_translator, cycle_translator, which):
    model, image = (unet_translator, _smooth_image(150, 203)) if which == "unet" else \
        (cycle_translator, _smooth_image(150, 203, 1))
    whole = translate_array(model, image, tile=0).astype(np.float64)
    seen = []
    tiled = translate_array(model, image, tile=96, overlap=48, progress=lambda d, n: seen.append((d, n)))
    assert tiled.shape == whole.shape
    assert seen[-1][0] == seen[-1][1] > 1
    assert np.abs(tiled - whole).mean() / 255 < TILED_TOLERANCE
    if which == "unet":   # batch norm in eval mode: no tile statistics at all, nearly exact
        assert np.abs(tiled - whole).mean() / 255 < 0.002


def test_best_quality_keeps_the_picture_in_place(monkeypatch, unet_translator):
    # with a translation that changes nothing, the 9 moved-and-moved-back runs agree away from the
    # borders: a shift undone the wrong way, or by the wrong amount, would move the picture
    from ganstudio.core.translate import inference

    original = inference.translate_array
    monkeypatch.setattr(inference, "translate_array", lambda model, img, *a, **k: img.copy())
    image = (np.random.default_rng(3).random((23, 31, 3)) * 255).astype(np.uint8)
    out = original(unet_translator, image, ensemble=True)
    assert out.shape == image.shape
    assert np.array_equal(out[2:-2, 2:-2], image[2:-2, 2:-2])


def test_best_quality_is_the_median_of_nine_shifted_runs(unet_translator):
    image = _smooth_image(40, 44, 4).copy()          # with transparency
    image[:, :10, 3] = 0
    seen = []
    best = translate_array(unet_translator, image, ensemble=True, progress=lambda d, n: seen.append((d, n)))
    assert best.shape == (40, 44, 4) and np.array_equal(best[:, :, 3], image[:, :, 3])
    assert seen[-1] == (9, 9) and [d for d, _ in seen] == list(range(1, 10))

    def moved(a: np.ndarray, dy: int, dx: int) -> np.ndarray:   # a[y - dy, x - dx], edges repeated
        h, w = a.shape[:2]
        ys = np.clip(np.arange(h) - dy, 0, h - 1)
        xs = np.clip(np.arange(w) - dx, 0, w - 1)
        return a[ys][:, xs]

    runs = [moved(translate_array(unet_translator, moved(image, dy, dx)), -dy, -dx)
            for dy in (-2, 0, 2) for dx in (-2, 0, 2)]
    median = np.median(np.stack(runs), axis=0).astype(np.uint8)
    assert np.array_equal(best[:, :, :3], median[:, :, :3])      # and the alpha is the input's own
    plain = translate_array(unet_translator, image)
    assert not np.array_equal(best[:, :, 0], plain[:, :, 0])
    with pytest.raises(Cancelled):
        translate_array(unet_translator, image, ensemble=True, should_stop=lambda: True)


def test_cyclegan_directions_and_cancel(cycle_translator, unet_translator):
    grey = _smooth_image(24, 24, 1)
    colour = translate_array(cycle_translator, grey, "AtoB")
    assert colour.shape == (24, 24, 3)
    assert translate_array(cycle_translator, colour, "BtoA").shape == (24, 24, 1)
    with pytest.raises(ConfigError, match="only AtoB"):
        translate_array(unet_translator, colour, "BtoA")
    with pytest.raises(ConfigError, match="Invalid direction"):
        translate_array(unet_translator, colour, "sideways")
    with pytest.raises(Cancelled):
        translate_array(unet_translator, _smooth_image(100, 100), tile=32, should_stop=lambda: True)


def test_save_and_load_give_identical_outputs(tmp_path, cycle_translator):
    path = save_translator(cycle_translator, tmp_path / "model.safetensors")
    loaded = load_translator(path, device="cpu", precision="fp32")
    assert loaded.directions == ["AtoB", "BtoA"] and loaded.info["domains"]["B"] == "colour"
    assert loaded.sha256 and loaded.source == path
    image = _smooth_image(40, 52, 1)
    assert np.array_equal(translate_array(loaded, image), translate_array(cycle_translator, image))
    with pytest.raises(Exception, match="exists"):
        save_translator(cycle_translator, path)


def test_foreign_and_pickled_files_are_refused(tmp_path):
    pickled = tmp_path / "evil.safetensors"
    torch.save({"x": torch.zeros(1)}, pickled)
    with pytest.raises(CheckpointError, match="never loaded"):
        load_translator(pickled)
    from safetensors.torch import save_file
    save_file({"w": torch.zeros(2)}, tmp_path / "other.safetensors")
    with pytest.raises(CheckpointError, match="not a GAN Studio"):
        load_translator(tmp_path / "other.safetensors")
    with pytest.raises(CheckpointError, match="does not exist"):
        load_translator(tmp_path / "missing")


def test_a_crafted_description_is_refused_before_any_network_is_built(tmp_path, unet_translator):
    """A file whose metadata describes a huge network (here ~64,000x the weights it holds) is refused
    with a plain error, not built: building it first would try to allocate far more than any RAM."""
    import json

    from safetensors import safe_open
    from safetensors.torch import save_file

    from ganstudio.core.checkpoint import META_KEY

    path = save_translator(unet_translator, tmp_path / "model.safetensors")
    with safe_open(str(path), framework="pt") as f:
        meta, tensors = f.metadata(), {k: f.get_tensor(k) for k in f.keys()}
    doc = json.loads(meta[META_KEY])
    doc["info"]["generators"]["AtoB"]["kwargs"]["ngf"] = 2048
    save_file(tensors, tmp_path / "huge.safetensors", metadata={**meta, META_KEY: json.dumps(doc)})
    with pytest.raises(CheckpointError, match="has shape|does not match"):
        load_translator(tmp_path / "huge.safetensors")


def test_an_upscaler_opened_as_a_translator_says_where_it_belongs():
    from ganstudio.core.resources import resource

    with pytest.raises(CheckpointError, match="is an upscaler, not a translator: open it in the Upscale tab"):
        load_translator(resource("models", "upscale-x2.safetensors"))
