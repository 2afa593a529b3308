import pytest
import torch
from torch import nn

from ganstudio.core import losses
from ganstudio.core.errors import ConfigError
from ganstudio.core.models import PRESETS, SeedDiscriminator, SeedGenerator, build_gan, get_preset, latent_shape


def test_seed_networks_are_exactly_the_primers():
    G, D = build_gan("seed-dcgan-16")
    assert isinstance(G, SeedGenerator) and isinstance(D, SeedDiscriminator)
    shapes = [tuple(m.weight.shape) for m in G.modules() if hasattr(m, "weight")]
    assert shapes == [(100, 128, 4, 4), (128, 64, 4, 4), (64, 3, 4, 4)]
    shapes = [tuple(m.weight.shape) for m in D.modules() if hasattr(m, "weight")]
    assert shapes == [(64, 3, 4, 4), (128, 64, 4, 4), (1, 128, 4, 4)]
    assert all(getattr(m, "bias", None) is None for m in list(G.modules()) + list(D.modules()))
    out = G(torch.randn(2, 100, 1, 1))
    assert out.shape == (2, 3, 16, 16)
    assert D(out).shape == (2, 1)


@pytest.mark.parametrize("name", list(PRESETS))
def test_every_preset_maps_latents_to_images_and_scores(name):
    p = get_preset(name)
    G, D = build_gan(name, width=8 if p.arch == "dcgan" else None)
    z = torch.randn(3, *latent_shape(name))
    x = G(z)
    assert x.shape == (3, p.channels, p.size, p.size)
    assert D(x).shape == (3, 1)


def test_unknown_preset_lists_the_allowed_ones():
    with pytest.raises(ConfigError, match="dcgan-64"):
        get_preset("stylegan9")


@pytest.mark.parametrize("name", losses.LOSSES)
def test_losses_prefer_the_right_answer(name):
    high, low = torch.full((8, 1), 4.0), torch.full((8, 1), -4.0)
    # D is better when it scores real high and fake low
    assert losses.d_loss(name, high, low) < losses.d_loss(name, low, high)
    # G is better when D scores its fakes high
    assert losses.g_loss(name, high) < losses.g_loss(name, low)
    assert torch.isfinite(losses.d_loss(name, torch.randn(4, 1) * 100, torch.randn(4, 1) * 100))


def test_bce_with_logits_handles_the_seed_ds_unbounded_scores():
    # The primer's BCELoss on raw scores breaks (values outside [0, 1]); with logits it is finite.
    scores = torch.tensor([[-30.0], [25.0]])
    assert torch.isfinite(losses.d_loss("bce", scores, scores))
    with pytest.raises(RuntimeError):
        torch.nn.BCELoss()(scores, torch.ones_like(scores))


@pytest.mark.parametrize("bias", [False, True])
@pytest.mark.parametrize("channels_last", [False, True])
def test_matrix_product_layers_equal_the_convolutions_they_replace(bias, channels_last):
    """LatentProjection and WholeMapScore give the plain layers' outputs and gradients, on the
    shapes they speed up and (by falling back) on any other."""
    from ganstudio.core.models import LatentProjection, WholeMapScore

    torch.manual_seed(0)
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    cases = [(LatentProjection(10, 6, 4, 1, 0, bias=bias), nn.ConvTranspose2d(10, 6, 4, 1, 0, bias=bias), (3, 10, 1, 1)),
             (LatentProjection(10, 6, 4, 1, 0, bias=bias), nn.ConvTranspose2d(10, 6, 4, 1, 0, bias=bias), (3, 10, 2, 2)),
             (WholeMapScore(8, 2, 4, 1, 0, bias=bias), nn.Conv2d(8, 2, 4, 1, 0, bias=bias), (3, 8, 4, 4)),
             (WholeMapScore(8, 2, 4, 1, 0, bias=bias), nn.Conv2d(8, 2, 4, 1, 0, bias=bias), (3, 8, 6, 5))]
    for fast, plain, shape in cases:
        plain.load_state_dict(fast.state_dict())
        x = torch.randn(shape).contiguous(memory_format=fmt)
        xa, xb = x.clone().requires_grad_(), x.clone().requires_grad_()
        ya, yb = fast(xa), plain(xb)
        torch.testing.assert_close(ya, yb, rtol=1e-5, atol=1e-5)
        weights = torch.randn_like(yb)
        (ya * weights).sum().backward()
        (yb * weights).sum().backward()
        torch.testing.assert_close(xa.grad, xb.grad, rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(fast.weight.grad, plain.weight.grad, rtol=1e-5, atol=1e-5)


def test_the_preset_that_fits_small_images_is_the_largest_that_does_not_enlarge_them():
    from ganstudio.core.models import preset_fitting

    assert preset_fitting(40, "dcgan-64") == "dcgan-32"
    assert preset_fitting(20, "dcgan-128") == "seed-dcgan-16"     # the colour presets only
    assert preset_fitting(10, "dcgan-64") is None                 # none is that small
    assert preset_fitting(64, "dcgan-64") is None                 # dcgan-64 fits 64 px images
    assert preset_fitting(20, "mlp-gan-28") is None               # the only grey preset
