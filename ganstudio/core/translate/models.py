"""Image-to-image networks: the pix2pix U-Net and PatchGAN, and the CycleGAN ResNet generator.

Every generator keeps the keyword arguments it was built with in ``self.spec`` so a checkpoint or
an exported translator can rebuild it by name (``build_generator(arch, **kwargs)``): no class
names as strings, no pickled modules.

Normalisation and full-resolution inference
-------------------------------------------
Large images are translated in overlapping tiles (``inference.translate_array``). A normalisation
layer that computes statistics from the image it sees (instance norm, group norm, batch norm in
training mode) would normalise every tile differently, and the tiles would show seams. So:

- The U-Net defaults to **batch norm, used in eval mode** at inference: it then normalises with
  running statistics learnt in training, a fixed per-channel affine map that does not depend on
  the tile. Tiled output differs from untiled output only where a tile lacks context (its borders,
  which the blend weights down). Training batches of 8 or more give stable running statistics.
- The ResNet generator keeps CycleGAN's **instance norm** (it matters for unpaired style transfer)
  but uses ``TileSafeInstanceNorm``: inference first runs the whole image (downscaled to the tile
  size if larger) and records every layer's statistics, then normalises all tiles with those same
  statistics. When the image fits in one proxy pass, the statistics are exactly the untiled ones.
"""
from __future__ import annotations

from typing import Any, Callable

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ConfigError

NORMS = ("batch", "instance", "none")
UPSAMPLES = ("transpose", "resize")
#: std of the normal init of conv weights (pix2pix / DCGAN)
INIT_STD = 0.02
#: LeakyReLU slope in encoders and discriminators
LEAK = 0.2


class TileSafeInstanceNorm(nn.InstanceNorm2d):
    """Instance norm whose statistics can be recorded on one input and reused for others.

    Its state dict is that of ``nn.InstanceNorm2d`` (no learnt parameters unless ``affine``), so
    weights load either way. ``record`` / ``freeze`` are switched by ``inference.shared_norm_stats``.
    """

    def __init__(self, num_features: int, affine: bool = False) -> None:
        super().__init__(num_features, affine=affine, track_running_stats=False)
        self.mode = "normal"   # "normal" | "record" | "frozen"
        self.stats: tuple[torch.Tensor, torch.Tensor] | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.mode == "normal":
            return super().forward(x)
        if self.mode == "record":
            xf = x.float()
            self.stats = (xf.mean(dim=(2, 3), keepdim=True), xf.var(dim=(2, 3), unbiased=False, keepdim=True))
        mean, var = self.stats
        y = (x.float() - mean) * torch.rsqrt(var + self.eps)
        if self.affine:
            y = y * self.weight.view(1, -1, 1, 1) + self.bias.view(1, -1, 1, 1)
        return y.to(x.dtype)


def norm_layer(kind: str, channels: int) -> nn.Module:
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    if kind == "instance":
        return TileSafeInstanceNorm(channels)
    if kind == "none":
        return nn.Identity()
    raise ConfigError(f"Invalid normalisation {kind!r}. Only {', '.join(NORMS)} are supported.")


def _check_choice(what: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ConfigError(f"Invalid {what} {value!r}. Only {', '.join(allowed)} are supported.")


def _init_weights(module: nn.Module) -> None:
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.normal_(m.weight, 0.0, INIT_STD)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.normal_(m.weight, 1.0, INIT_STD)
            nn.init.zeros_(m.bias)


class UNetGenerator(nn.Module):
    """pix2pix U-Net: ``depth`` stride-2 encoder levels, mirrored decoder, skip connections.

    Input sides must be multiples of ``2**depth`` (``required_multiple``); inference pads for you.
    Channels double per level from ``ngf`` up to ``ngf * max_mult``; capping the deep levels
    (max_mult 4 instead of pix2pix's 8) removes most parameters, which on small paired sets mostly
    serve to memorise the training pairs. ``dropout`` applies to the ``dropout_layers`` innermost
    decoder levels while training (pix2pix's noise source), never at inference.
    ``upsample="resize"`` (nearest x2 + 3x3 conv) avoids the checkerboard of transposed convs.
    """

    def __init__(self, in_ch: int = 3, out_ch: int = 3, ngf: int = 64, depth: int = 8, norm: str = "batch",
                 dropout: float = 0.5, dropout_layers: int = 3, max_mult: int = 8,
                 upsample: str = "transpose") -> None:
        super().__init__()
        _check_choice("normalisation", norm, NORMS)
        _check_choice("upsampling", upsample, UPSAMPLES)
        if not 2 <= depth <= 10:
            raise ConfigError(f"U-Net depth must be between 2 and 10, got {depth}.")
        if not 0 <= dropout < 1:
            raise ConfigError(f"dropout must be in [0, 1), got {dropout}.")
        if ngf < 1 or max_mult < 1 or in_ch < 1 or out_ch < 1:
            raise ConfigError("U-Net channel counts must be positive.")
        self.spec: dict[str, Any] = dict(in_ch=in_ch, out_ch=out_ch, ngf=ngf, depth=depth, norm=norm, dropout=dropout,
                                         dropout_layers=dropout_layers, max_mult=max_mult, upsample=upsample)
        self.depth = depth
        ch = [ngf * min(2 ** i, max_mult) for i in range(depth)]
        bias = norm != "batch"
        self.down = nn.ModuleList()
        for i in range(depth):
            cin = in_ch if i == 0 else ch[i - 1]
            layers: list[nn.Module] = [] if i == 0 else [nn.LeakyReLU(LEAK)]
            layers.append(nn.Conv2d(cin, ch[i], 4, 2, 1, bias=bias or i in (0, depth - 1)))
            # no norm on the first level (pix2pix) nor at the 1x1 innermost level of a training crop,
            # where instance norm would zero every feature
            if 0 < i < depth - 1:
                layers.append(norm_layer(norm, ch[i]))
            self.down.append(nn.Sequential(*layers))
        self.up = nn.ModuleList()
        for i in reversed(range(depth)):
            cin = ch[i] if i == depth - 1 else 2 * ch[i]
            cout = out_ch if i == 0 else ch[i - 1]
            layers = [nn.ReLU(), self._upsample(upsample, cin, cout, bias=bias or i == 0)]
            if i == 0:
                layers.append(nn.Tanh())
            else:
                layers.append(norm_layer(norm, cout))
                if dropout > 0 and (depth - 1 - i) < dropout_layers:
                    layers.append(nn.Dropout(dropout))
            self.up.append(nn.Sequential(*layers))
        _init_weights(self)

    @staticmethod
    def _upsample(kind: str, cin: int, cout: int, bias: bool) -> nn.Module:
        if kind == "transpose":
            return nn.ConvTranspose2d(cin, cout, 4, 2, 1, bias=bias)
        return nn.Sequential(nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(cin, cout, 3, 1, 1, bias=bias))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = []
        for block in self.down:
            x = block(x)
            skips.append(x)
        y = self.up[0](skips.pop())
        for block in self.up[1:]:
            y = block(torch.cat([skips.pop(), y], dim=1))
        return y


class ResnetBlock(nn.Module):
    def __init__(self, ch: int, norm: str, dropout: float) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.ReflectionPad2d(1), nn.Conv2d(ch, ch, 3, bias=norm != "batch"),
                                   norm_layer(norm, ch), nn.ReLU()]
        if dropout > 0:
            layers.append(nn.Dropout(dropout))
        layers += [nn.ReflectionPad2d(1), nn.Conv2d(ch, ch, 3, bias=norm != "batch"), norm_layer(norm, ch)]
        self.body = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class ResnetGenerator(nn.Module):
    """CycleGAN generator: 7x7 stem, two stride-2 downsamplings, ``n_blocks`` residual blocks
    (6 for ~128 px crops, 9 for 256 px), two transposed-conv upsamplings, 7x7 head, tanh.
    Reflection padding everywhere the image border matters; instance norm by default."""

    def __init__(self, in_ch: int = 3, out_ch: int = 3, ngf: int = 64, n_blocks: int = 9, norm: str = "instance",
                 dropout: float = 0.0, n_down: int = 2) -> None:
        super().__init__()
        _check_choice("normalisation", norm, NORMS)
        if n_blocks < 1 or not 1 <= n_down <= 4:
            raise ConfigError(f"ResNet generator needs n_blocks >= 1 and 1..4 downsamplings, got {n_blocks}, {n_down}.")
        self.spec = dict(in_ch=in_ch, out_ch=out_ch, ngf=ngf, n_blocks=n_blocks, norm=norm, dropout=dropout,
                         n_down=n_down)
        self.n_down = n_down
        bias = norm != "batch"
        layers: list[nn.Module] = [nn.ReflectionPad2d(3), nn.Conv2d(in_ch, ngf, 7, bias=bias), norm_layer(norm, ngf),
                                   nn.ReLU()]
        ch = ngf
        for _ in range(n_down):
            layers += [nn.Conv2d(ch, ch * 2, 3, 2, 1, bias=bias), norm_layer(norm, ch * 2), nn.ReLU()]
            ch *= 2
        layers += [ResnetBlock(ch, norm, dropout) for _ in range(n_blocks)]
        for _ in range(n_down):
            layers += [nn.ConvTranspose2d(ch, ch // 2, 3, 2, 1, output_padding=1, bias=bias),
                       norm_layer(norm, ch // 2), nn.ReLU()]
            ch //= 2
        layers += [nn.ReflectionPad2d(3), nn.Conv2d(ch, out_ch, 7), nn.Tanh()]
        self.net = nn.Sequential(*layers)
        _init_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class PatchDiscriminator(nn.Module):
    """PatchGAN: a grid of real/fake scores (logits), each judging one overlapping patch.

    ``n_layers=3`` sees 70x70 patches. For pix2pix ``in_ch`` is input + output channels (the
    discriminator judges the pair, so it checks the output fits its input).
    """

    def __init__(self, in_ch: int, ndf: int = 64, n_layers: int = 3, norm: str = "batch") -> None:
        super().__init__()
        _check_choice("normalisation", norm, NORMS)
        if n_layers < 1:
            raise ConfigError(f"The discriminator needs at least 1 layer, got {n_layers}.")
        self.spec = dict(in_ch=in_ch, ndf=ndf, n_layers=n_layers, norm=norm)
        bias = norm != "batch"
        layers: list[nn.Module] = [nn.Conv2d(in_ch, ndf, 4, 2, 1), nn.LeakyReLU(LEAK)]
        ch = ndf
        for n in range(1, n_layers + 1):
            cout = ndf * min(2 ** n, 8)
            stride = 2 if n < n_layers else 1
            layers += [nn.Conv2d(ch, cout, 4, stride, 1, bias=bias), norm_layer(norm, cout), nn.LeakyReLU(LEAK)]
            ch = cout
        layers.append(nn.Conv2d(ch, 1, 4, 1, 1))
        self.net = nn.Sequential(*layers)
        _init_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


#: generator architectures by stable name (stored in checkpoints and exported translators)
GENERATORS: dict[str, Callable[..., nn.Module]] = {"unet": UNetGenerator, "resnet": ResnetGenerator}
DISCRIMINATORS: dict[str, Callable[..., nn.Module]] = {"patch": PatchDiscriminator}


def build_generator(arch: str, **kwargs: Any) -> nn.Module:
    """A generator by registry name; unknown names or arguments raise ConfigError."""
    if arch not in GENERATORS:
        raise ConfigError(f"Invalid generator {arch!r}. Only {', '.join(GENERATORS)} are supported.")
    try:
        return GENERATORS[arch](**kwargs)
    except TypeError as e:
        raise ConfigError(f"Invalid options for the {arch} generator: {e}.") from e


def generator_spec(model: nn.Module) -> dict[str, Any]:
    """{"arch": name, "kwargs": {...}}: enough to rebuild ``model`` with ``build_generator``."""
    for name, cls in GENERATORS.items():
        if type(model) is cls:
            return {"arch": name, "kwargs": dict(model.spec)}
    raise ConfigError(f"{type(model).__name__} is not a registered generator.")


def required_multiple(model: nn.Module) -> int:
    """The number every input side must be a multiple of (2**depth for the U-Net, 4 for ResNet)."""
    if isinstance(model, UNetGenerator):
        return 2 ** model.depth
    if isinstance(model, ResnetGenerator):
        return 2 ** model.n_down
    return 1


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def minimum_side(model: nn.Module) -> int:
    """The smallest input side the network can take: its multiple, or twice that for the ResNet,
    whose instance norms at the lowest resolution need more than one pixel."""
    multiple = required_multiple(model)
    return 2 * multiple if isinstance(model, ResnetGenerator) else multiple


def pad_for(model: nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, tuple[int, int]]:
    """``pad_to_multiple`` with what ``model`` needs; returns the padded batch and the original (H, W)."""
    return pad_to_multiple(x, required_multiple(model), minimum_side(model))


def pad_to_multiple(x: torch.Tensor, multiple: int, min_side: int = 0) -> tuple[torch.Tensor, tuple[int, int]]:
    """Reflect-pad an NCHW batch on the right and bottom to multiples of ``multiple`` that are at
    least ``min_side``.

    Reflection needs a pad smaller than the side, so tiny images are reflected repeatedly (the
    image mirrored, then the mirror mirrored...). Returns the padded batch and the original (H, W).
    """
    h, w = x.shape[-2:]
    ph, pw = max(h, min_side) - h, max(w, min_side) - w
    ph, pw = ph + (-(h + ph)) % multiple, pw + (-(w + pw)) % multiple
    while ph or pw:
        ch, cw = min(ph, x.shape[-2] - 1), min(pw, x.shape[-1] - 1)
        if ch == 0 and cw == 0:  # a 1-pixel side cannot be reflected: repeat it
            x = F.pad(x, (0, pw, 0, ph), mode="replicate")
            break
        x = F.pad(x, (0, cw, 0, ch), mode="reflect")
        ph, pw = ph - ch, pw - cw
    return x, (h, w)
