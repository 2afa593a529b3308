"""Super-resolution networks: a fast compact net, a slim residual-dense net, and a small discriminator.

Both generators work in low resolution and end in a pixel-shuffle, and both add their output to a
bicubic upscale of the input (a global skip): at initialisation they already equal bicubic, and
they only have to learn the missing detail. ENV.md measured that a 13-layer plain conv stack did
not learn at all here; residual blocks whose last layer starts near zero fix that, so every block
below is ``x + small(f(x))`` at step 0.

Each generator also says how far its output depends on its input (``context``, in input pixels):
tiled inference pads every tile with that much real image, which makes tiled output equal
whole-image output (see tiling.py).
"""
from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ConfigError

#: upscaling factors the bundled networks are built for
SCALES = (2, 4)
#: factor applied to the initial weights of each residual block's last layer (near-identity start)
BLOCK_END_INIT_SCALE = 0.1
#: ESRGAN's residual scaling inside its dense blocks
DENSE_RESIDUAL_SCALE = 0.2
#: radius in input pixels of the bicubic kernel used by the global skip (4 taps: -1..+2)
BICUBIC_RADIUS = 2
#: the compact net's activations: "prelu" (a learned slope per channel, Real-ESRGAN's choice) or
#: "lrelu" (LeakyReLU of slope ``LEAKY_SLOPE``), which CPU inference computes inside the convolution
#: before it instead of in a pass of its own (``CompactSR.inference_phases``)
COMPACT_ACTS = ("prelu", "lrelu")
LEAKY_SLOPE = 0.1


#: ``write_uint8`` finishes this many bytes of float32 output at a time (a few rows: the skip, sum,
#: rounding and clamp then run in the CPU's cache instead of a pass over memory each)
UINT8_CHUNK_BYTES = 4 << 20


#: PyTorch's bicubic constant (upsample_bicubic2d uses A = -0.75)
BICUBIC_A = -0.75


def _cubic_weights(t: float) -> list[float]:
    """The four bicubic tap weights for a fractional offset t in [0, 1) (taps at -1, 0, 1, 2)."""
    a = BICUBIC_A

    def near(x: float) -> float:   # |x| <= 1
        return ((a + 2) * x - (a + 3)) * x * x + 1

    def far(x: float) -> float:    # 1 < |x| < 2
        return ((a * x - 5 * a) * x + 8 * a) * x - 4 * a

    return [far(t + 1), near(t), near(1 - t), far(2 - t)]


def bicubic_phase_kernel(scale: int, channels: int) -> torch.Tensor:
    """Bicubic upscaling as a grouped 5x5 convolution in low resolution, one output per sub-pixel phase.

    Convolving the replicate-padded input with this kernel and pixel-shuffling gives exactly
    ``F.interpolate(mode="bicubic", align_corners=False)``, which clamps indices at the border.
    Working in low resolution lets the skip join the network's output before the pixel-shuffle,
    and a grouped conv is several times cheaper than upsample_bicubic2d in channels_last layout.
    """
    taps = torch.zeros(scale, 5, dtype=torch.float64)   # per phase: weights of offsets -2..+2
    for phase in range(scale):
        u = (phase + 0.5) / scale - 0.5                  # source position relative to the LR pixel
        base = math.floor(u)
        for i, w in enumerate(_cubic_weights(u - base)):
            taps[phase, base - 1 + i + 2] = w
    k = taps[:, None, :, None] * taps[None, :, None, :]  # [py, px, 5, 5]
    k = k.reshape(scale * scale, 1, 5, 5).float()
    return k.repeat(channels, 1, 1, 1)                   # groups = channels, scale^2 phases each


def phase_order(channels: int, scale: int) -> torch.Tensor:
    """Indices that reorder sub-pixel phase channels from pixel-shuffle's (colour, row phase, column
    phase) to (row phase, column phase, colour): then the ``scale * channels`` values of one input
    pixel's output row are next to each other, as they are in an HxWxC image."""
    return torch.arange(channels * scale * scale).view(channels, scale, scale).permute(1, 2, 0).reshape(-1)


def _skip_to_levels(kernel: torch.Tensor, channels: int, scale: int,
                    order: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The grouped bicubic phase kernel (``bicubic_phase_kernel``) as an ungrouped one with its
    outputs in ``order``, giving 8-bit levels plus 0.5 (so that truncating to uint8 rounds)."""
    per_colour = scale * scale
    dense = kernel.new_zeros(channels * per_colour, channels, *kernel.shape[-2:])
    dense[torch.arange(len(order), device=kernel.device), order // per_colour] = kernel[order, 0]
    return dense * 255, kernel.new_full((channels * per_colour,), 0.5)


def _padded_input(x: torch.Tensor) -> torch.Tensor:
    """``x`` in float32, its borders repeated by the bicubic skip's radius, in ``x``'s memory layout
    (padding returns NCHW; the skip's convolution is 10x faster in NHWC)."""
    padded = F.pad(x.float(), (BICUBIC_RADIUS,) * 4, mode="replicate")
    if x.is_contiguous(memory_format=torch.channels_last):
        padded = padded.contiguous(memory_format=torch.channels_last)
    return padded


def _conv3(cin: int, cout: int) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, 3, padding=1)


@torch.no_grad()
def _shrink(conv: nn.Conv2d, factor: float) -> None:
    conv.weight.mul_(factor)
    if conv.bias is not None:
        conv.bias.zero_()


def check_activation(act: str) -> None:
    """Raise ConfigError unless ``act`` is one of ``COMPACT_ACTS``."""
    if act not in COMPACT_ACTS:
        raise ConfigError(f"Invalid activation {act!r}. Only {', '.join(COMPACT_ACTS)} are supported.")


def _activation(act: str, features: int) -> nn.Module:
    return nn.PReLU(features) if act == "prelu" else nn.LeakyReLU(LEAKY_SLOPE, inplace=True)


class _ResidualBlock(nn.Module):
    """conv - activation - conv, added to the input; the second conv starts small."""

    def __init__(self, features: int, act: str = "prelu") -> None:
        super().__init__()
        self.conv1 = _conv3(features, features)
        self.act = _activation(act, features)
        self.conv2 = _conv3(features, features)
        _shrink(self.conv2, BLOCK_END_INIT_SCALE)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # in place into the new conv output (conv backward does not need it): one full-size
        # feature map less to allocate per block
        return self.conv2(self.act(self.conv1(x))).add_(x)


class _SRBase(nn.Module):
    """What every GAN Studio SR generator shares: scale, channels, rebuild kwargs, context, memory."""

    arch: str = ""
    scale: int
    channels: int
    #: the largest automatic tile side (input pixels) on the CPU, where smaller tiles run faster
    #: than the memory allows (None: no such limit)
    cpu_tile: int | None = None

    def _init_skip(self) -> None:
        # not persistent: it is a constant of (scale, channels), not a learned weight
        self.register_buffer("skip_kernel", bicubic_phase_kernel(self.scale, self.channels), persistent=False)

    def config(self) -> dict[str, Any]:
        """The keyword arguments that rebuild this network (besides scale and channels)."""
        raise NotImplementedError

    @property
    def context(self) -> int:
        """Input pixels on each side that one output pixel depends on (its receptive radius)."""
        raise NotImplementedError

    @property
    def bytes_per_pixel(self) -> int:
        """Rough float32 working memory per input pixel during inference (for choosing tile sizes)."""
        raise NotImplementedError

    def residual(self, x: torch.Tensor) -> torch.Tensor:
        """The learned detail in low resolution: ``channels * scale**2`` sub-pixel phases."""
        raise NotImplementedError

    def phases(self, x: torch.Tensor) -> torch.Tensor:
        """Bicubic(x) + the learned residual, before the pixel-shuffle (N, C*s*s, h, w), float32.

        Summed in float32 even under autocast (a bf16 skip would lose about 1/500 of accuracy).
        Tiled inference reads these phases straight into its output (tiling.py), which saves the
        pixel-shuffle's copy of the largest tensor of the pass.
        """
        return self._with_skip(x, self.residual(x))

    def _with_skip(self, x: torch.Tensor, residual: torch.Tensor) -> torch.Tensor:
        with torch.autocast(x.device.type, enabled=False):
            skip = F.conv2d(_padded_input(x), self.skip_kernel, groups=self.channels)
            return skip.add_(residual)   # in place, bf16 residual promoted on the fly

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.pixel_shuffle(self.phases(x), self.scale)

    def inference_residual(self, x: torch.Tensor, order: torch.Tensor | None = None) -> torch.Tensor:
        """``residual`` for inference (no gradients), computed the fastest way this network and
        device allow, its channels taken in ``order`` (indices; None: as ``residual`` gives them)."""
        r = self.residual(x)
        if order is None:
            return r
        r = r.index_select(1, order.to(r.device))
        return r.contiguous(memory_format=torch.channels_last) if x.is_contiguous(
            memory_format=torch.channels_last) else r

    def inference_phases(self, x: torch.Tensor) -> torch.Tensor:
        """``phases`` for inference (no gradients): the same values, computed the fastest way this
        network and device allow. ``forward`` stays the plain network."""
        return self._with_skip(x, self.inference_residual(x))

    def inference_forward(self, x: torch.Tensor) -> torch.Tensor:
        """``forward`` for inference, through ``inference_phases``."""
        return F.pixel_shuffle(self.inference_phases(x), self.scale)

    def write_uint8(self, x: torch.Tensor, out: torch.Tensor, top: int, left: int) -> None:
        """Upscale the tile ``x`` (1, C, H, W) in [0, 1], on the CPU, and write the output of its
        input pixels [top, top + rows) x [left, left + cols), rounded to 8 bits, into ``out``: a
        uint8 (rows * scale, cols * scale, C) tensor of any strides (a view into the image).

        The same values as ``inference_phases`` pixel-shuffled, scaled to 0..255, rounded and
        clamped (within one level where float rounding lands on a half), without a pass over the
        float32 output for each of those steps: the skip, the residual sum, the +0.5 and the clamp
        are done a few output rows at a time, while they sit in the CPU's cache, and the phases come
        in (row phase, column phase, colour) order, so that each input pixel's output row is one
        run of ``scale * C`` values. On a 1024 px x4 upscale the steps after the network took a
        third of each tile's time before (``docs/benchmarks.md``).
        """
        s, c = self.scale, self.channels
        rows, cols = out.shape[0] // s, out.shape[1] // s
        order = phase_order(c, s).to(x.device)
        residual = self.inference_residual(x, order)
        with torch.autocast(x.device.type, enabled=False):
            padded = _padded_input(x)
            kernel, bias = _skip_to_levels(self.skip_kernel, c, s, order)
            grid = out.view(rows, s, cols, s * c)
            step = max(1, UINT8_CHUNK_BYTES // (cols * c * s * s * 4))
            edge = 2 * BICUBIC_RADIUS
            for r0 in range(0, rows, step):
                r1 = min(rows, r0 + step)
                z = F.conv2d(padded[:, :, top + r0: top + r1 + edge, left: left + cols + edge], kernel, bias)
                z.add_(residual[:, :, top + r0: top + r1, left: left + cols], alpha=255).clamp_(0, 255)
                # (c*s*s, r, cols) in (row phase, column phase, colour) order -> (r, s, cols, s * c)
                grid[r0:r1].copy_(z[0].permute(1, 2, 0).unflatten(2, (s, s * c)).permute(0, 2, 1, 3))


def compact_bytes_per_pixel(features: int, channels: int, scale: int) -> int:
    """Rough float32 inference memory per input pixel of a compact (plain conv stack + pixel-shuffle)
    network: ~4 feature maps alive at once, plus the upscaled output and skip."""
    return 4 * (4 * features + 3 * channels * scale * scale)


class CompactSR(_SRBase):
    """Real-ESRGAN-compact-like: 3x3 convs + PReLU in low resolution, pixel-shuffle, bicubic skip.

    ``blocks`` residual blocks of two convs each; with the defaults (48 features, 4 blocks) it has
    ~180k parameters and runs several output megapixels per second on two CPU cores in bf16.
    ``act`` is the activation (``COMPACT_ACTS``): with "lrelu", CPU inference runs each convolution
    with its activation, or with the block's residual sum, in one oneDNN call (``inference_phases``).
    """

    arch = "compact"
    # A 1024 px x4 or x2 upscale with the bundled models (write_uint8) ran ~1.2x faster in tiles of
    # ~270 px than of ~356 px, and 540 px tiles 1.5x slower: the feature maps of a smaller tile stay
    # in the CPU's caches (docs/benchmarks.md). The rrdb network's wider margins make small tiles
    # slower for it.
    cpu_tile = 288

    def __init__(self, scale: int = 2, channels: int = 3, features: int = 48, blocks: int = 4,
                 act: str = "prelu") -> None:
        super().__init__()
        _check(scale, channels, features, blocks)
        check_activation(act)
        self.scale, self.channels, self.features, self.blocks, self.act = scale, channels, features, blocks, act
        self.head = _conv3(channels, features)
        self.head_act = _activation(act, features)
        self.body = nn.Sequential(*[_ResidualBlock(features, act) for _ in range(blocks)])
        self.tail = _conv3(features, channels * scale * scale)
        _shrink(self.tail, BLOCK_END_INIT_SCALE)
        self._init_skip()

    def residual(self, x: torch.Tensor) -> torch.Tensor:
        f = self.head_act(self.head(x))
        return self.tail(self.body(f))

    def config(self) -> dict[str, Any]:
        # files written before the choice existed have no "act" and load as PReLU, which they are
        return {"features": self.features, "blocks": self.blocks,
                **({"act": self.act} if self.act != "prelu" else {})}

    @property
    def context(self) -> int:
        return max(BICUBIC_RADIUS, 2 + 2 * self.blocks) + 1

    def inference_residual(self, x: torch.Tensor, order: torch.Tensor | None = None) -> torch.Tensor:
        if not _fusable(self, x):
            return super().inference_residual(x, order)
        # oneDNN runs each convolution with what follows it: the LeakyReLU, or the block's residual
        # sum. A 1024 px x4 upscale took ~1.3x less time than with a separate pass for each (bf16).
        # The tail's output channels come in ``order`` by taking its weights in that order.
        dtype = torch.bfloat16 if torch.is_autocast_enabled("cpu") and \
            torch.get_autocast_dtype("cpu") == torch.bfloat16 else x.dtype
        with torch.autocast("cpu", enabled=False):
            h = x.to(dtype)
            f = _fused_conv(h, self.head, dtype, "leaky_relu")
            for block in self.body:
                h = _fused_conv(f, block.conv1, dtype, "leaky_relu")
                f = _fused_conv(h, block.conv2, dtype, "add", residual=f)
            return _fused_conv(f, self.tail, dtype, "none", order=order)

    @property
    def bytes_per_pixel(self) -> int:
        return compact_bytes_per_pixel(self.features, self.channels, self.scale)


class _DenseBlock(nn.Module):
    """RDN/ESRGAN residual dense block: each 3x3 conv sees all earlier features; 1x1 fusion."""

    def __init__(self, features: int, growth: int, layers: int) -> None:
        super().__init__()
        self.convs = nn.ModuleList(_conv3(features + i * growth, growth) for i in range(layers))
        self.fuse = nn.Conv2d(features + layers * growth, features, 1)
        self.act = nn.LeakyReLU(0.2, inplace=True)
        _shrink(self.fuse, BLOCK_END_INIT_SCALE)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feats = [x]
        for conv in self.convs:
            feats.append(self.act(conv(torch.cat(feats, 1))))
        return x + DENSE_RESIDUAL_SCALE * self.fuse(torch.cat(feats, 1))


class _RRDB(nn.Module):
    """Residual-in-residual: three dense blocks with an outer scaled residual (ESRGAN)."""

    def __init__(self, features: int, growth: int, layers: int) -> None:
        super().__init__()
        self.blocks = nn.Sequential(*[_DenseBlock(features, growth, layers) for _ in range(3)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + DENSE_RESIDUAL_SCALE * self.blocks(x)


class RDNSR(_SRBase):
    """A slim ESRGAN (RRDB) generator that trains on a CPU.

    Differences from ESRGAN, for speed: 32 features instead of 64, 3 RRDB instead of 23, four
    dense 3x3 layers with a 1x1 fusion instead of five 3x3 layers, and the upscaling done by a
    pixel-shuffle in low resolution plus a bicubic skip instead of nearest + convs in high
    resolution. ~330k parameters at the defaults.
    """

    arch = "rrdb"

    def __init__(self, scale: int = 2, channels: int = 3, features: int = 32, blocks: int = 3,
                 growth: int = 16, layers: int = 4) -> None:
        super().__init__()
        _check(scale, channels, features, blocks)
        if growth < 1 or layers < 1:
            raise ConfigError(f"growth and layers must be at least 1, got {growth} and {layers}.")
        self.scale, self.channels = scale, channels
        self.features, self.blocks, self.growth, self.layers = features, blocks, growth, layers
        self.head = _conv3(channels, features)
        self.body = nn.Sequential(*[_RRDB(features, growth, layers) for _ in range(blocks)])
        self.trunk = _conv3(features, features)
        _shrink(self.trunk, BLOCK_END_INIT_SCALE)
        self.up = _conv3(features, features)
        self.act = nn.LeakyReLU(0.2, inplace=True)
        self.tail = _conv3(features, channels * scale * scale)
        _shrink(self.tail, BLOCK_END_INIT_SCALE)
        self._init_skip()

    def residual(self, x: torch.Tensor) -> torch.Tensor:
        f = self.head(x)
        f = f + self.trunk(self.body(f))
        return self.tail(self.act(self.up(f)))

    def config(self) -> dict[str, Any]:
        return {"features": self.features, "blocks": self.blocks, "growth": self.growth,
                "layers": self.layers}

    @property
    def context(self) -> int:
        # head + (3 dense blocks x layers 3x3 convs) per RRDB + trunk + up + tail; the 1x1s add nothing
        return max(BICUBIC_RADIUS, 1 + 3 * self.layers * self.blocks + 3) + 1

    @property
    def bytes_per_pixel(self) -> int:
        widest = self.features + self.layers * self.growth
        return 4 * (3 * widest + 2 * self.features + 3 * self.channels * self.scale * self.scale)


class SRDiscriminator(nn.Module):
    """A small PatchGAN for the optional GAN stage: one logit per ~16x16 high-resolution patch.

    Spectral normalisation keeps it from overpowering the L1-trained generator (no BatchNorm, so
    real and fake batches never mix statistics).
    """

    def __init__(self, channels: int = 3, features: int = 32) -> None:
        super().__init__()
        sn = nn.utils.parametrizations.spectral_norm
        f = features
        self.net = nn.Sequential(
            sn(nn.Conv2d(channels, f, 3, 1, 1)), nn.LeakyReLU(0.2, inplace=True),
            sn(nn.Conv2d(f, f * 2, 4, 2, 1)), nn.LeakyReLU(0.2, inplace=True),
            sn(nn.Conv2d(f * 2, f * 4, 4, 2, 1)), nn.LeakyReLU(0.2, inplace=True),
            sn(nn.Conv2d(f * 4, f * 4, 3, 1, 1)), nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(f * 4, 1, 3, 1, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # images in [0, 1] are centred so the first layer sees zero-mean input
        return self.net(x * 2 - 1)


SR_ARCHS: dict[str, type[_SRBase]] = {"compact": CompactSR, "rrdb": RDNSR}


def build_sr_model(arch: str, scale: int, channels: int = 3, **kwargs: Any) -> _SRBase:
    """Build a GAN Studio SR generator by architecture name ("compact" | "rrdb")."""
    cls = SR_ARCHS.get(arch)
    if cls is None:
        raise ConfigError(f"Invalid upscaler architecture {arch!r}. "
                          f"Only {', '.join(SR_ARCHS)} are supported.")
    try:
        return cls(scale=scale, channels=channels, **kwargs)
    except TypeError as e:  # an unknown keyword from a damaged or foreign description
        raise ConfigError(f"Invalid options for the {arch!r} upscaler: {e}.") from e



def _pointwise_conv() -> Any:
    """PyTorch's oneDNN convolution with a fused activation or sum (what torch.compile uses on
    CPUs), or None where this build has none."""
    try:
        return torch.ops.mkldnn._convolution_pointwise if torch.backends.mkldnn.is_available() else None
    except (AttributeError, RuntimeError):
        return None


_POINTWISE = _pointwise_conv()


def _fusable(net: CompactSR, x: torch.Tensor) -> bool:
    return (net.act == "lrelu" and _POINTWISE is not None and x.device.type == "cpu" and x.dim() == 4
            and not (torch.is_grad_enabled() and (x.requires_grad or any(p.requires_grad for p in net.parameters())))
            and x.dtype in (torch.float32, torch.bfloat16))


def _fused_conv(x: torch.Tensor, conv: nn.Conv2d, dtype: torch.dtype, post: str,
                residual: torch.Tensor | None = None, order: torch.Tensor | None = None) -> torch.Tensor:
    """``conv(x)`` followed by ``post`` ("leaky_relu", "add" of ``residual``, or "none") in one
    oneDNN call, in ``dtype``, keeping ``x``'s memory layout; its output channels in ``order``
    (indices; None: the conv's own order)."""
    weight, bias = conv.weight, conv.bias
    if order is not None:
        weight, bias = weight[order], (bias[order] if bias is not None else None)
    weight = weight.to(dtype)
    if x.is_contiguous(memory_format=torch.channels_last):
        weight = weight.contiguous(memory_format=torch.channels_last)
    bias = bias.to(dtype) if bias is not None else None
    geometry = (list(conv.padding), list(conv.stride), list(conv.dilation), conv.groups)
    if post == "add":
        return _POINTWISE.binary(x, residual, weight, bias, *geometry, "add", None, None, [], None)
    if post == "leaky_relu":
        return _POINTWISE(x, weight, bias, *geometry, "leaky_relu", [LEAKY_SLOPE], "")
    return _POINTWISE(x, weight, bias, *geometry, "none", [], "")


def _check(scale: int, channels: int, features: int, blocks: int) -> None:
    if scale not in SCALES:
        raise ConfigError(f"Invalid scale {scale}. Only {', '.join(f'x{s}' for s in SCALES)} are supported.")
    if channels not in (1, 3):
        raise ConfigError(f"Invalid channel count {channels}. Only 1 (grey) and 3 (RGB) are supported.")
    if features < 4 or blocks < 1:
        raise ConfigError(f"features must be at least 4 and blocks at least 1, got {features} and {blocks}.")
