"""GAN architectures, by explicit name.

``PRESETS`` maps a preset name to its architecture, image size and channels; ``build_gan`` makes the
(generator, discriminator) pair. All discriminators return raw scores (logits); the losses in
``losses.py`` apply the sigmoid where the maths needs one.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from .errors import ConfigError


@dataclass(frozen=True)
class Preset:
    name: str          # registry key, e.g. "dcgan-64"
    arch: str          # "seed-dcgan" | "dcgan" | "mlp"
    size: int          # square image side in pixels
    channels: int      # 3 (RGB) or 1 (grey) by default
    description: str   # one line for menus and --help


PRESETS: dict[str, Preset] = {p.name: p for p in (
    Preset("seed-dcgan-16", "seed-dcgan", 16, 3, "The primer's DCGAN, exactly: 16x16 RGB, tiny and fast"),
    Preset("dcgan-32", "dcgan", 32, 3, "DCGAN at 32x32 (CIFAR-10 sized)"),
    Preset("dcgan-64", "dcgan", 64, 3, "DCGAN at 64x64 (CelebA-style faces, emoji, icons)"),
    Preset("dcgan-128", "dcgan", 128, 3, "DCGAN at 128x128 (slow on a CPU)"),
    Preset("mlp-gan-28", "mlp", 28, 1, "Fully connected GAN for 28x28 grey images (MNIST-style)"),
)}

#: names accepted on the command line besides the registry keys
PRESET_ALIASES = {"dcgan": "dcgan-64", "mlp-gan": "mlp-gan-28", "seed": "seed-dcgan-16"}


def get_preset(name: str) -> Preset:
    """The preset called ``name`` (aliases such as ``dcgan`` -> ``dcgan-64`` accepted)."""
    key = PRESET_ALIASES.get(name, name)
    if key not in PRESETS:
        raise ConfigError(f"Invalid preset {name!r}. Only {', '.join(PRESETS)} are supported.")
    return PRESETS[key]


def preset_fitting(side: int, current: str) -> str | None:
    """For images of ``side`` pixels that ``current`` would enlarge: the largest smaller preset of its
    colour kind that does not; None if ``current`` fits them or no preset does."""
    now = get_preset(current)
    if now.size <= side:
        return None   # ``current`` does not enlarge them
    fits = [p for p in PRESETS.values() if p.channels == now.channels and p.size <= side and p.size < now.size]
    return max(fits, key=lambda p: p.size).name if fits else None


# ---------------------------------------------------------------------------------------------
# Two layers every DCGAN has, computed faster where their input makes them a plain matrix product


class LatentProjection(nn.ConvTranspose2d):
    """``nn.ConvTranspose2d`` (same parameters, same results) that turns a 1x1 input, the latent
    vector, into a k x k map with one matrix product: with no padding each output pixel is the
    kernel's tap at that position times the input. A transposed convolution costs several times as
    much on a CPU for this shape (1.8 ms against 0.5 ms for the primer's first layer at batch 64)."""

    def forward(self, x: torch.Tensor, output_size: list[int] | None = None) -> torch.Tensor:
        if (x.dim() != 4 or x.shape[-2:] != (1, 1) or output_size is not None or self.groups != 1
                or self.padding != (0, 0) or self.output_padding != (0, 0) or self.dilation != (1, 1)):
            return super().forward(x, output_size)
        kh, kw = self.kernel_size
        # weight [in, out, kh, kw] -> [in, kh*kw*out]: the product comes out channels-last, as the
        # next convolution wants it
        w = self.weight.permute(0, 2, 3, 1).reshape(self.in_channels, kh * kw * self.out_channels)
        y = (x.flatten(1) @ w).view(x.shape[0], kh, kw, self.out_channels)
        if self.bias is not None:
            y = y + self.bias
        return y.permute(0, 3, 1, 2)


class WholeMapScore(nn.Conv2d):
    """``nn.Conv2d`` (same parameters, same results) that, when its kernel covers the whole
    unpadded input (a discriminator's last layer: 4x4 in, 1x1 out), is one matrix product."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if (x.dim() != 4 or tuple(x.shape[-2:]) != self.kernel_size or self.padding != (0, 0)
                or self.groups != 1 or self.dilation != (1, 1)):
            return super().forward(x)
        # both sides flattened in (height, width, channel) order: a view of a channels-last input
        feats = x.permute(0, 2, 3, 1).reshape(x.shape[0], -1)
        w = self.weight.permute(0, 2, 3, 1).reshape(self.out_channels, -1)
        y = feats @ w.t()
        if self.bias is not None:
            y = y + self.bias
        return y.view(x.shape[0], self.out_channels, 1, 1)


# ---------------------------------------------------------------------------------------------
# The primer's networks


class SeedGenerator(nn.Module):
    """The primer's generator, layer for layer: 100 -> 128x4x4 -> 64x8x8 -> 3x16x16, ReLU, no bias.

    Like the primer it has no output activation; previews clamp its output to [-1, 1].
    """

    def __init__(self, nz: int = 100, channels: int = 3) -> None:
        super().__init__()
        self.layer1 = LatentProjection(nz, 128, 4, 1, 0, bias=False)
        self.layer2 = nn.ConvTranspose2d(128, 64, 4, 2, 1, bias=False)
        self.layer3 = nn.ConvTranspose2d(64, channels, 4, 2, 1, bias=False)
        self.relu = nn.ReLU(True)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        x = self.relu(self.layer1(z))
        x = self.relu(self.layer2(x))
        return self.layer3(x)


class SeedDiscriminator(nn.Module):
    """The primer's discriminator, layer for layer: 3x16x16 -> 64x8x8 -> 128x4x4 -> 1x1x1.

    Its last layer is a bare convolution: the output is an unbounded score (a logit), not a
    probability. The primer feeds it to ``nn.BCELoss``, which expects probabilities in [0, 1]: with
    negative scores the loss is NaN or the log of a negative number, and training breaks. GAN Studio
    therefore trains it with BCE-with-logits (``nn.BCEWithLogitsLoss``), which applies the sigmoid
    inside the loss in a numerically stable way: the same maths the primer intended.
    """

    def __init__(self, channels: int = 3) -> None:
        super().__init__()
        self.layer1 = nn.Conv2d(channels, 64, 4, 2, 1, bias=False)
        self.layer2 = nn.Conv2d(64, 128, 4, 2, 1, bias=False)
        self.layer3 = WholeMapScore(128, 1, 4, 1, 0, bias=False)
        self.relu = nn.ReLU(True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(self.layer1(x))
        x = self.relu(self.layer2(x))
        return self.layer3(x).flatten(1)


# ---------------------------------------------------------------------------------------------
# DCGAN (Radford et al.) at 32, 64 and 128 pixels


class DCGANGenerator(nn.Module):
    """nz x1x1 -> width*k x4x4 -> ... -> channels x size x size, BatchNorm + ReLU, tanh output."""

    def __init__(self, size: int, nz: int = 100, width: int = 64, channels: int = 3) -> None:
        super().__init__()
        ups = _num_upsamplings(size)
        mult = 2 ** (ups - 1)
        layers: list[nn.Module] = [
            LatentProjection(nz, width * mult, 4, 1, 0, bias=False),
            nn.BatchNorm2d(width * mult),
            nn.ReLU(True),
        ]
        for _ in range(ups - 1):
            layers += [
                nn.ConvTranspose2d(width * mult, width * mult // 2, 4, 2, 1, bias=False),
                nn.BatchNorm2d(width * mult // 2),
                nn.ReLU(True),
            ]
            mult //= 2
        layers += [nn.ConvTranspose2d(width, channels, 4, 2, 1, bias=False), nn.Tanh()]
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z)


class DCGANDiscriminator(nn.Module):
    """channels x size x size -> 1 score: strided convs, BatchNorm (not on the first), LeakyReLU(0.2)."""

    def __init__(self, size: int, width: int = 64, channels: int = 3) -> None:
        super().__init__()
        downs = _num_upsamplings(size)
        layers: list[nn.Module] = [nn.Conv2d(channels, width, 4, 2, 1, bias=False), nn.LeakyReLU(0.2, True)]
        mult = 1
        for _ in range(downs - 1):
            layers += [
                nn.Conv2d(width * mult, width * mult * 2, 4, 2, 1, bias=False),
                nn.BatchNorm2d(width * mult * 2),
                nn.LeakyReLU(0.2, True),
            ]
            mult *= 2
        layers += [WholeMapScore(width * mult, 1, 4, 1, 0, bias=False)]
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).flatten(1)


def _num_upsamplings(size: int) -> int:
    if size not in (32, 64, 128):
        raise ConfigError(f"Invalid DCGAN size {size}. Only 32, 64 and 128 are supported.")
    return {32: 3, 64: 4, 128: 5}[size]


# ---------------------------------------------------------------------------------------------
# Fully connected GAN for 28x28 grey images


class MLPGenerator(nn.Module):
    def __init__(self, size: int = 28, nz: int = 100, width: int = 256, channels: int = 1) -> None:
        super().__init__()
        self.shape = (channels, size, size)
        out = channels * size * size
        self.net = nn.Sequential(
            nn.Linear(nz, width), nn.LeakyReLU(0.2, True),
            nn.Linear(width, width * 2), nn.LeakyReLU(0.2, True),
            nn.Linear(width * 2, width * 4), nn.LeakyReLU(0.2, True),
            nn.Linear(width * 4, out), nn.Tanh(),
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z.flatten(1)).view(-1, *self.shape)


class MLPDiscriminator(nn.Module):
    def __init__(self, size: int = 28, width: int = 256, channels: int = 1) -> None:
        super().__init__()
        inp = channels * size * size
        self.net = nn.Sequential(
            nn.Linear(inp, width * 4), nn.LeakyReLU(0.2, True),
            nn.Linear(width * 4, width * 2), nn.LeakyReLU(0.2, True),
            nn.Linear(width * 2, width), nn.LeakyReLU(0.2, True),
            nn.Linear(width, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x.flatten(1))


def build_gan(preset: str, *, nz: int = 100, width: int | None = None,
              channels: int | None = None) -> tuple[nn.Module, nn.Module]:
    """(generator, discriminator) for a preset; ``width`` None keeps the preset's default."""
    p = get_preset(preset)
    c = channels or p.channels
    if p.arch == "seed-dcgan":
        if nz != 100 or width not in (None, 64):
            raise ConfigError("seed-dcgan-16 is the primer's exact network: nz is 100 and width cannot change.")
        G, D = SeedGenerator(nz, c), SeedDiscriminator(c)
    elif p.arch == "dcgan":
        w = width or 64
        G, D = DCGANGenerator(p.size, nz, w, c), DCGANDiscriminator(p.size, w, c)
    else:
        w = width or 256
        G, D = MLPGenerator(p.size, nz, w, c), MLPDiscriminator(p.size, w, c)
    if p.arch == "dcgan":
        G.apply(_dcgan_init)
        D.apply(_dcgan_init)
    return G, D


def _dcgan_init(m: nn.Module) -> None:
    # The DCGAN paper's initialisation: N(0, 0.02) convolutions, N(1, 0.02) BatchNorm scales.
    if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
        nn.init.normal_(m.weight, 0.0, 0.02)
    elif isinstance(m, nn.BatchNorm2d):
        nn.init.normal_(m.weight, 1.0, 0.02)
        nn.init.zeros_(m.bias)


def latent_shape(preset: str, nz: int = 100) -> tuple[int, ...]:
    """Shape of one latent vector for a preset's generator (without the batch dimension)."""
    return (nz,) if get_preset(preset).arch == "mlp" else (nz, 1, 1)
