"""The GAN task: an unconditional generator trained on one image folder."""
from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from . import fastconv, losses
from .data import (ENLARGE_WARNING, KIND_NAMES, EpochSampler, Preprocess, ScanReport, enlargement, in_rows, load_dataset,
                   preview_sheet, to_uint8_images)
from .errors import ConfigError
from .models import build_gan, get_preset, latent_shape, preset_fitting
from .tasks import TaskContext, TrainingTask, register_task, wrap_for_ranks

#: seed of the preview latents when the run's seed is s: fixed per run so previews compare over time
PREVIEW_SEED_OFFSET = 7_777

#: number of preview images (an 8x8 grid)
PREVIEW_COUNT = 64
#: images per row of that grid
PREVIEW_COLUMNS = 8
#: batches of random latents used to recompute the EMA generator's BatchNorm statistics
BN_RECALIBRATION_BATCHES = 4
#: steps with D's loss below the threshold before the "D is winning" note
D_WINNING_STEPS = 300
#: a GAN loss above this has diverged (BCE, LSGAN and hinge losses of a working run stay far below)
EXPLODED_LOSS = 1e3


@dataclass(frozen=True)
class GanOptions:
    data: str                          # image folder, MNIST idx folder or CIFAR-10 binary folder
    preset: str = "dcgan-64"           # network: seed-dcgan-16 (the primer's) | dcgan-32 | dcgan-64 | dcgan-128 |
                                       # mlp-gan-28 (28x28 grey, MNIST-like)
    loss: str = "bce"                  # "bce" (non-saturating, with logits) | "lsgan" (MSE) | "hinge"
    nz: int = 100                      # latent size (the primer's 100)
    width: int | None = None           # base channel count (None: the preset's default, 64 for DCGAN)
    color: str = "auto"                # "auto" (the preset's) | "rgb" | "grey"
    fit: str = "center-crop"           # how non-square images become squares: center-crop | random-crop | pad | stretch
    background: str = "white"          # what transparent pixels (and pad borders) become: "white" | "black"
    hflip: bool = False                # random horizontal flips (doubles small datasets)
    cache: str = "memory"              # "memory" | "disk" (also keep decoded images on disk for the next run)
    max_pixels: int = 89_478_485       # images larger than this are skipped as possible decompression bombs

    def __post_init__(self) -> None:
        get_preset(self.preset)
        losses.check_loss(self.loss)
        if self.color not in ("auto", "rgb", "grey"):
            raise ConfigError(f"Invalid colour mode {self.color!r}. Only auto, rgb and grey are supported.")
        if self.cache not in ("memory", "disk"):
            raise ConfigError(f"Invalid cache {self.cache!r}. Only memory and disk are supported.")
        if self.nz < 1:
            raise ConfigError(f"nz must be at least 1, got {self.nz}.")

    @property
    def channels(self) -> int:
        if self.color == "auto":
            return get_preset(self.preset).channels
        return 3 if self.color == "rgb" else 1

    def preprocess(self) -> Preprocess:
        return Preprocess(size=get_preset(self.preset).size, fit=self.fit,
                          color="rgb" if self.channels == 3 else "grey",
                          background=self.background, hflip=self.hflip)


@register_task
class GanTask(TrainingTask):
    """Alternating D and G updates with the chosen loss, an EMA copy of G and fixed preview latents."""

    name = "gan"
    Options = GanOptions
    supports_distributed = True
    rank_streams = ("data",)     # augmentation; the batch's indices and latents are global

    def __init__(self, options: GanOptions, ctx: TaskContext) -> None:
        super().__init__(options, ctx)
        cfg, dev = ctx.config, ctx.device
        self.dataset = load_dataset(options.data, options.preprocess(), cache=options.cache,
                                    max_pixels=options.max_pixels, progress=ctx.progress,
                                    should_stop=ctx.should_stop)
        self.dataset_size = len(self.dataset)
        self.skipped = list(self.dataset.report.skipped)
        self.dataset.to_device(dev)
        # under torchrun every rank draws the same global batch (and latents) and keeps its slice
        self.sampler = EpochSampler(len(self.dataset), cfg.batch_size * ctx.dist.world, cfg.seed)
        self.data_rng = torch.Generator().manual_seed(cfg.seed + 1)
        self.latent_rng = torch.Generator().manual_seed(cfg.seed + 2)
        self.latent_shape = latent_shape(options.preset, options.nz)

        torch.manual_seed(cfg.seed)  # weight init
        G, D = build_gan(options.preset, nz=options.nz, width=options.width, channels=options.channels)
        self.conv = get_preset(options.preset).arch != "mlp"
        self.memory_format = torch.channels_last if (cfg.channels_last and self.conv) else torch.contiguous_format
        self.G = G.to(dev, memory_format=self.memory_format)
        self.D = D.to(dev, memory_format=self.memory_format)
        if dev.type == "cpu":
            fastconv.accelerate(self.G)
            fastconv.accelerate(self.D)
        self.d_batches_together = not any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in self.D.modules())
        self.G_ema = copy.deepcopy(self.G).eval().requires_grad_(False) if cfg.ema else None
        fused = dev.type in ("cuda", "cpu")
        betas = (cfg.beta1, cfg.beta2)
        self.opt_G = torch.optim.Adam(self.G.parameters(), lr=cfg.lr_g, betas=betas, fused=fused)
        self.opt_D = torch.optim.Adam(self.D.parameters(), lr=cfg.lr_d, betas=betas, fused=fused)
        self.scaler = torch.amp.GradScaler(dev.type, enabled=ctx.autocast_dtype == torch.float16)
        # the networks the steps run: DistributedDataParallel wrappers that average the gradients
        # across ranks under torchrun (G and D themselves stay the plain modules that are saved)
        self.G_step, self.D_step = wrap_for_ranks(ctx, self.G), wrap_for_ranks(ctx, self.D)
        g = torch.Generator().manual_seed(cfg.seed + PREVIEW_SEED_OFFSET)
        self.preview_latents = torch.randn(PREVIEW_COUNT, *self.latent_shape, generator=g)
        self._d_low_since: int | None = None

    # -- the TrainingTask contract -------------------------------------------------------------
    def modules(self) -> dict[str, nn.Module]:
        mods = {"G": self.G, "D": self.D}
        if self.G_ema is not None:
            mods["G_ema"] = self.G_ema
        return mods

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"G": self.opt_G, "D": self.opt_D}

    def rng_streams(self) -> dict[str, torch.Generator]:
        return {"data": self.data_rng, "latent": self.latent_rng}

    def extra_state(self) -> dict[str, Any]:
        return {"sampler": self.sampler.state(), "scaler": self.scaler.state_dict() if self.scaler.is_enabled() else {}}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        self.sampler.load_state(state["sampler"])
        if state.get("scaler") and self.scaler.is_enabled():
            self.scaler.load_state_dict(state["scaler"])

    def extra_tensors(self) -> dict[str, torch.Tensor]:
        # the fixed preview latents travel with the run, so previews stay comparable across resumes
        return {"preview_latents": self.preview_latents}

    def load_extra_tensors(self, tensors: dict[str, torch.Tensor]) -> None:
        if "preview_latents" in tensors and tensors["preview_latents"].shape == self.preview_latents.shape:
            self.preview_latents = tensors["preview_latents"].clone()

    def model_info(self) -> dict[str, Any]:
        p = get_preset(self.options.preset)
        return {"kind": "gan", "preset": p.name, "nz": self.options.nz, "width": self.options.width,
                "channels": self.options.channels, "size": p.size, "ema": self.G_ema is not None}

    def train_step(self, step: int) -> dict[str, torch.Tensor]:
        ctx, opts = self.ctx, self.options
        dev, B = ctx.device, ctx.config.batch_size
        shard, world = ctx.dist.shard, ctx.dist.world
        real = self.dataset.batch(shard(self.sampler.next_indices()), self.data_rng, dev,
                                  channels_last=self.memory_format == torch.channels_last)
        z = shard(torch.randn(B * world, *self.latent_shape, generator=self.latent_rng))
        z = z.to(dev, non_blocking=True)
        scaler = self.scaler
        G, D = self.G_step, self.D_step

        # Discriminator: real up, fake down. G's output is computed once and reused for G's step.
        with ctx.autocast():
            fake = G(z)
            if self.d_batches_together:
                # One D pass over real+fake: bigger GEMMs, half the kernel launches. Only exact for a
                # D without BatchNorm (where batch composition cannot change the scores).
                both = D(torch.cat([real, fake.detach()]))
                d_real, d_fake = both[:B], both[B:]
            else:
                d_real = D(real)
                d_fake = D(fake.detach())
        loss_d = losses.d_loss(opts.loss, d_real, d_fake)
        self.opt_D.zero_grad(set_to_none=True)
        scaler.scale(loss_d).backward()
        scaler.step(self.opt_D)

        # Generator: D's weights are frozen so backward skips their (unused) weight gradients; the
        # plain D runs here (no gradient of D's to average across ranks)
        self.D.requires_grad_(False)
        with ctx.autocast():
            d_fake_for_g = self.D(fake)
        loss_g = losses.g_loss(opts.loss, d_fake_for_g)
        self.opt_G.zero_grad(set_to_none=True)
        scaler.scale(loss_g).backward()
        scaler.step(self.opt_G)
        scaler.update()
        self.D.requires_grad_(True)

        if self.G_ema is not None:
            self._update_ema(step)
        return {
            "loss_d": loss_d.detach(),
            "loss_g": loss_g.detach(),
            "d_real": losses.d_probability(opts.loss, d_real.detach()),
            "d_fake": losses.d_probability(opts.loss, d_fake.detach()),
        }

    @torch.no_grad()
    def _update_ema(self, step: int) -> None:
        # Warm-up: early on the average follows G closely (decay (1+s)/(10+s)), so previews are not
        # stuck showing the random initial network for the first ~1000 steps.
        decay = min(self.ctx.config.ema_decay, (1 + step) / (10 + step))
        ema_p = list(self.G_ema.parameters())
        torch._foreach_lerp_(ema_p, list(self.G.parameters()), 1.0 - decay)
        for b_ema, b in zip(self.G_ema.buffers(), self.G.buffers()):
            b_ema.copy_(b)

    @torch.no_grad()
    def inference_generator(self) -> nn.Module:
        """The network used for previews and export: EMA G (BatchNorm statistics recomputed) or G."""
        if self.G_ema is None:
            self.G.eval()
            return self.G
        with self.ctx.autocast():   # in the training precision: half the time of fp32 (0.17 s vs 0.36
            #                         s for dcgan-64 on a CPU), and the statistics fit what previews run in
            recalibrate_batchnorm(self.G_ema, self.latent_shape, self.ctx.device, seed=self.ctx.config.seed)
        return self.G_ema

    def prepare_for_export(self) -> None:
        # the checkpoint then holds an EMA generator with fitting BatchNorm statistics
        self.inference_generator()
        self.G.train()

    @torch.no_grad()
    def preview(self) -> np.ndarray:
        G = self.inference_generator()
        with self.ctx.autocast():
            out = G(self.preview_latents.to(self.ctx.device)).float().clamp(-1, 1)
        self.G.train()
        images = to_uint8_images(out)
        self._last_preview_spread = float(out.std(dim=0).mean())
        return preview_sheet(in_rows(images, PREVIEW_COLUMNS))

    def _enlargement_note(self) -> list[tuple[str, str]]:
        found = preset_enlargement(self.dataset.report, self.options.preset)
        if found is None:
            return []
        side, factor, smaller = found
        p = get_preset(self.options.preset)
        kind = self.dataset.report.kind
        whose = (f"Half of the images are {side} px or smaller on their shorter side" if kind == "images"
                 else f"The images of this {KIND_NAMES[kind]} set are {side} px")
        return [("info", f"{whose}: {p.name} enlarges them "
                         f"{factor:.1f}x to {p.size} px, which adds no detail and makes training slower."
                         + (f" The {smaller} preset fits them." if smaller else ""))]

    def start_notes(self) -> list[tuple[str, str]]:
        # what loading found worth telling: uneven sub-folders, copies of one picture, a disk cache
        # that could not be used
        return [("info", note) for note in self.dataset.report.notes]

    def health(self, step: int, metrics: dict[str, float]) -> list[tuple[str, str]]:
        notes: list[tuple[str, str]] = []
        low = {"bce": 0.05, "lsgan": 0.01, "hinge": 0.05}[self.options.loss]
        if metrics.get("loss_d", 1.0) < low and metrics.get("d_real", 0) > 0.95 and metrics.get("d_fake", 1) < 0.05:
            self._d_low_since = self._d_low_since if self._d_low_since is not None else step
            if step - self._d_low_since >= D_WINNING_STEPS and self._once("d-winning"):
                notes.append(("warning",
                              "The discriminator is winning: it tells real from generated images almost perfectly "
                              f"for {step - self._d_low_since} steps, so the generator gets little to learn from. "
                              "Try a lower D learning rate (e.g. half of G's), more images, or turn on flips."))
        else:
            self._d_low_since = None
        worst = max((abs(v) for k, v in metrics.items() if k.startswith("loss")), default=0.0)
        if worst > EXPLODED_LOSS and self._once("exploded"):
            notes.append(("warning",
                          f"The losses are enormous ({worst:.3g}): training has diverged even though no NaN "
                          "appeared, and what it learns from here is noise. Stop, lower the learning rates "
                          f"(now G {self.ctx.config.lr_g:g}, D {self.ctx.config.lr_d:g}; the primer's 2e-4 "
                          "suits most data) and start again."))
        spread = getattr(self, "_last_preview_spread", None)
        if spread is not None and spread < 0.02 and step > 500 and self._once("collapse"):
            notes.append(("warning",
                          "The samples all look alike (mode collapse): the generator found one image that fools "
                          "the discriminator. Try a lower learning rate, the hinge or lsgan loss, or more varied data."))
        if self._once("enlarged"):
            notes.extend(self._enlargement_note())
        batch = self.ctx.config.batch_size * self.ctx.dist.world
        if batch > self.dataset_size and self._once("batch-over-data"):
            notes.append(("warning",
                          f"The batch ({batch} images) is larger than the dataset ({self.dataset_size} images), so "
                          "every batch repeats images and each step learns little more than a smaller one. A batch "
                          f"of at most {max(1, self.dataset_size // 4)} suits this folder."))
        if self.dataset_size < 100 and self._once("small-data"):
            notes.append(("info",
                          f"Only {self.dataset_size} images: a GAN needs hundreds to learn variety and may simply "
                          "memorise these. Add images" + ("." if self.options.hflip else
                                                          " or turn on horizontal flips.")))
        return notes


def preset_enlargement(report: ScanReport, preset_name: str) -> tuple[int, float, str | None] | None:
    """When ``preset_name`` enlarges most of a folder's images: (their median shorter side, the
    enlargement, the largest smaller preset that fits them or None); None when it does not."""
    side, preset = report.median_short_side(), get_preset(preset_name)   # MNIST/CIFAR-10: their records' side
    factor = enlargement(preset.size, side)
    if factor < ENLARGE_WARNING:
        return None
    return side, factor, preset_fitting(side, preset.name)


@torch.no_grad()
def recalibrate_batchnorm(G: nn.Module, shape: tuple[int, ...], device: torch.device, seed: int,
                          batches: int = BN_RECALIBRATION_BATCHES, batch_size: int = 64) -> None:
    """Recompute BatchNorm running statistics for ``G``'s own weights, then leave it in eval mode.

    The EMA generator's weights are an average, so the statistics G collected with its own weights
    do not fit them; evaluating with mismatched statistics gives washed-out images. A cumulative
    average over a few batches of fresh latents (from a private generator, so training randomness
    is untouched) fixes that and makes single-image generation independent of the batch.
    """
    bns = [m for m in G.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not bns:
        G.eval()
        return
    saved = [m.momentum for m in bns]
    for m in bns:
        m.reset_running_stats()
        m.momentum = None  # cumulative moving average
    G.train()
    g = torch.Generator().manual_seed(seed + 99_991)
    for _ in range(batches):
        G(torch.randn(batch_size, *shape, generator=g).to(device))
    for m, mom in zip(bns, saved):
        m.momentum = mom
    G.eval()
