"""The Translate task: pix2pix (paired folders) and CycleGAN (unpaired folders) for the one trainer.

``TranslateTask(options, ctx)`` returns a ``Pix2PixTask`` or a ``CycleGanTask`` according to
``options.mode``; both are registered under the single task name "translate", share the data
handling, EMA and preview code, and plug into ``ganstudio.core.trainer.train`` like every task.

Checkpointed networks (``modules()``):
  paired:   G, D (+ G_ema)
  unpaired: G_AB, G_BA, D_A, D_B (+ G_AB_ema, G_BA_ema)
The CycleGAN history pools go into checkpoints as ``extra/pool_A`` and ``extra/pool_B`` and the
pool's random stream is checkpointed, so a resumed run continues exactly.
"""
from __future__ import annotations

import copy
import time
from collections.abc import Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from .. import losses
from ..data import ENLARGE_WARNING, EpochSampler, enlargement, preview_sheet, to_uint8_images
from ..errors import ConfigError, DatasetError
from ..tasks import TaskContext, TrainingTask, register_task, wrap_for_ranks
from . import metrics
from .data import (CHANNEL_MODES, SPLITS, Augment, PairedFolders, PairedImages, SideBySideFolder, UnpairedFolders,
                   augment, center_crops, check_crop, fitting_crop, random_crops, to_model_range)
from .models import NORMS, UPSAMPLES, PatchDiscriminator, build_generator, generator_spec, pad_for, required_multiple

MODES = ("paired", "unpaired")
GENERATOR_ARCHS = ("auto", "unet", "resnet")
#: format name in model_info / exported translators
MODEL_KIND = "translate"
#: below this many pairs no validation set is held out (every pair is needed for training)
MIN_PAIRS_FOR_VALIDATION = 20
#: fixed training crops used to recompute the EMA generator's BatchNorm statistics
BN_RECALIBRATION_EXAMPLES = 64
#: pixels per forward pass in validation and statistics passes (128 glyphs of 64 px, 2 photos of 512 px)
EVAL_PIXELS = 128 * 64 * 64
#: validation L1 above this multiple of the training L1 is reported as memorising
OVERFIT_RATIO = 2.0
#: steps with D's loss below the threshold before the "D is winning" note
D_WINNING_STEPS = 300
#: seed offsets of the task's random streams (relative to the run's seed)
SEED_AUGMENT, SEED_POOL = 2, 3


#: TrainConfig values that suit translation better than the GAN-oriented defaults: batches of 16 keep
#: batch-norm statistics steady and CPU throughput high; G learns faster at 5e-4 with L1 guiding it
TRANSLATE_TRAIN_DEFAULTS: dict[str, Any] = dict(batch_size=16, lr_g=5e-4, lr_d=2e-4)

#: side-by-side halves narrower than this (width / height) are strips of ordinary pictures
SIDE_BY_SIDE_STRIP = 0.7


@dataclass(frozen=True)
class TranslateOptions:
    mode: str = "paired"               # "paired" (pix2pix: A/x <-> B/x) | "unpaired" (CycleGAN: two collections)
    a_dir: str = ""                    # folder of A images (paired side-by-side: the folder of combined images)
    b_dir: str = ""                    # folder of B images (unused with side_by_side)
    side_by_side: bool = False         # paired: a_dir holds single images with A and B side by side
    split: str = "A|B"                 # side-by-side order: "A|B" (A on the left) | "B|A"
    load_size: int = 286               # images are resized so their short side is this (0: keep native size)
    crop_size: int = 256               # side of the square random training crops (a multiple of the net's)
    channels: str = "auto"             # "auto" (grey if every image of a side is grey) | "rgb" | "grey"
    flip: bool = True                  # random horizontal flips (same for A and B); off for text or logos
    shift: float = 0.0625              # random whole-pixel shifts up to this fraction of the crop (same for A, B)
    zoom: float = 0.1                  # random zoom in/out up to this fraction, on half the crops (same for A, B)
    generator: str = "auto"            # "unet" | "resnet" | "auto" (unet for paired, resnet for unpaired)
    ngf: int = 64                      # generator's base channel count
    depth: int = 0                     # U-Net levels (0: as many as the crop allows, at most 8)
    max_mult: int = 4                  # U-Net channels stop growing at this many times the width (pix2pix: 8)
    upsample: str = "transpose"        # U-Net decoder: "transpose" (pix2pix) | "resize" (nearest + conv)
    n_blocks: int = 9                  # ResNet generator's residual blocks (6 for ~128 px crops, 9 for 256 px)
    norm: str = "auto"                 # "auto" (batch for U-Net, instance for ResNet) | "batch" | "instance" | "none"
    dropout: float = 0.5               # U-Net: dropout in the innermost decoder levels while training
    ndf: int = 0                       # discriminator's base channels (0: 32 paired, where L1 teaches most; 64 unpaired)
    d_layers: int = 0                  # PatchGAN depth: 3 sees 70x70 patches, 2 34x34 (0: 3 for crops >= 128, else 2)
    loss: str = "lsgan"                # adversarial loss: "lsgan" | "bce" | "hinge"
    l1_weight: float = 100.0           # paired: weight of the L1 distance to the target
    ssim_weight: float = 10.0          # paired: weight of (1 - SSIM) to the target (rewards crisp structure)
    cycle_weight: float = 10.0         # unpaired: weight of the cycle-consistency L1 (A->B->A, B->A->B)
    identity_weight: float = 0.5       # unpaired: identity L1 weight, relative to cycle_weight
    pool_size: int = 50                # unpaired: history of generated images shown to the discriminators
    weight_decay: float = 0.0          # decoupled weight decay of the generator (AdamW); 0: plain Adam
    lr_decay: float = 0.25             # final share of the run (steps or minutes) over which learning rates fall to 0
    clean_finish: float = 0.0          # final share of the run trained without shifts and zoom (flips stay)
    val_fraction: float = 0.1          # paired: share of pairs held out for validation (every k-th by name)
    val_max: int = 200                 # paired: at most this many validation pairs
    preview_count: int = 6             # examples in the preview grid

    def unused_settings(self) -> list[str]:
        """Options changed from their defaults that this kind of run never reads, with what they are
        for ("l1_weight (paired training)"): a command line may set them without effect."""
        paired, unet = self.mode == "paired", self.resolved_generator == "unet"
        scope = {"split": ("side-by-side pairs", paired and self.side_by_side),
                 "l1_weight": ("paired training", paired), "ssim_weight": ("paired training", paired),
                 "val_fraction": ("paired training", paired), "val_max": ("paired training", paired),
                 "cycle_weight": ("unpaired training", not paired),
                 "identity_weight": ("unpaired training", not paired), "pool_size": ("unpaired training", not paired),
                 "depth": ("the U-Net generator", unet), "max_mult": ("the U-Net generator", unet),
                 "upsample": ("the U-Net generator", unet), "dropout": ("the U-Net generator", unet),
                 "n_blocks": ("the ResNet generator", not unet)}
        defaults = {f.name: f.default for f in fields(self)}
        return [f"{name} ({what})" for name, (what, used) in scope.items()
                if not used and getattr(self, name) != defaults[name]]

    def __post_init__(self) -> None:
        def choice(what: str, value: str, allowed: Sequence[str]) -> None:
            if value not in allowed:
                raise ConfigError(f"Invalid {what} {value!r}. Only {', '.join(allowed)} are supported.")

        choice("mode", self.mode, MODES)
        choice("split", self.split, SPLITS)
        choice("channels", self.channels, CHANNEL_MODES)
        choice("generator", self.generator, GENERATOR_ARCHS)
        choice("upsampling", self.upsample, UPSAMPLES)
        choice("normalisation", self.norm, ("auto",) + NORMS)
        losses.check_loss(self.loss)
        if not self.a_dir or (not self.b_dir and not (self.side_by_side and self.mode == "paired")):
            raise ConfigError("Give the A and B folders (or, for paired data, one side-by-side folder).")
        if self.side_by_side and self.mode != "paired":
            raise ConfigError("Side-by-side images hold pairs; use them with the paired mode.")
        if self.crop_size < 16 or (self.load_size and self.load_size < self.crop_size):
            raise ConfigError(f"The crop size must be at least 16 and at most the load size, got crop "
                              f"{self.crop_size} and load {self.load_size}.")
        if self.resolved_generator == "unet" and self.crop_size % 2 ** self.resolved_depth:
            raise ConfigError(f"The crop size {self.crop_size} must be a multiple of {2 ** self.resolved_depth} for "
                              f"a U-Net of depth {self.resolved_depth}.")
        if self.resolved_generator == "resnet" and self.crop_size % 4:
            raise ConfigError(f"The crop size {self.crop_size} must be a multiple of 4 for the ResNet generator.")
        if self.crop_size < 3 * 2 ** self.resolved_d_layers:
            raise ConfigError(f"A discriminator with d_layers {self.resolved_d_layers} needs crops of at least "
                              f"{3 * 2 ** self.resolved_d_layers} px; lower d_layers or raise the crop size "
                              f"({self.crop_size}).")
        for name in ("shift", "zoom", "dropout", "val_fraction"):
            if not 0 <= getattr(self, name) < 1:
                raise ConfigError(f"{name} must be in [0, 1), got {getattr(self, name)}.")
        if not 0 <= self.lr_decay <= 1:
            raise ConfigError(f"lr_decay must be in [0, 1], got {self.lr_decay}.")
        if not 0 <= self.clean_finish <= 1:
            raise ConfigError(f"clean_finish must be in [0, 1], got {self.clean_finish}.")
        for name in ("l1_weight", "ssim_weight", "cycle_weight", "identity_weight", "weight_decay"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name} must not be negative, got {getattr(self, name)}.")
        for name in ("ngf", "n_blocks", "max_mult", "preview_count"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be at least 1, got {getattr(self, name)}.")
        for name in ("pool_size", "val_max", "depth", "ndf", "d_layers"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name} must not be negative, got {getattr(self, name)}.")

    @property
    def resolved_generator(self) -> str:
        if self.generator != "auto":
            return self.generator
        return "unet" if self.mode == "paired" else "resnet"

    @property
    def resolved_depth(self) -> int:
        """U-Net depth: the option, or the most levels (<= 8) that halve the crop evenly."""
        if self.depth:
            return self.depth
        depth = 0
        while depth < 8 and self.crop_size % 2 ** (depth + 1) == 0 and self.crop_size >> (depth + 1) >= 1:
            depth += 1
        return max(2, depth)

    @property
    def resolved_ndf(self) -> int:
        return self.ndf or (32 if self.mode == "paired" else 64)

    @property
    def resolved_d_layers(self) -> int:
        return self.d_layers or (3 if self.crop_size >= 128 else 2)

    @property
    def resolved_norm(self) -> str:
        if self.norm != "auto":
            return self.norm
        return "batch" if self.resolved_generator == "unet" else "instance"

    def generator_kwargs(self, in_ch: int, out_ch: int) -> dict[str, Any]:
        if self.resolved_generator == "unet":
            return dict(in_ch=in_ch, out_ch=out_ch, ngf=self.ngf, depth=self.resolved_depth, norm=self.resolved_norm,
                        dropout=self.dropout, max_mult=self.max_mult, upsample=self.upsample)
        return dict(in_ch=in_ch, out_ch=out_ch, ngf=self.ngf, n_blocks=self.n_blocks, norm=self.resolved_norm)


class ImagePool:
    """CycleGAN's history of generated images: the discriminator sees a mix of the newest fakes and
    older ones (half the time, once the pool is full), which keeps G and D from oscillating.

    Randomness comes from the given generator, and ``state()``/``load()`` round-trip the contents,
    so a resumed run makes the same choices.
    """

    def __init__(self, size: int, rng: torch.Generator) -> None:
        self.size, self.rng = size, rng
        self.images: list[torch.Tensor] = []

    def query(self, batch: torch.Tensor) -> torch.Tensor:
        if self.size == 0:
            return batch
        out = []
        for image in batch.detach():
            image = image.unsqueeze(0)
            if len(self.images) < self.size:
                self.images.append(image.clone())
                out.append(image)
            elif float(torch.rand((), generator=self.rng)) < 0.5:
                k = int(torch.randint(self.size, (), generator=self.rng))
                out.append(self.images[k].clone())
                self.images[k] = image.clone()
            else:
                out.append(image)
        return torch.cat(out)

    def state(self, like: torch.Tensor) -> torch.Tensor:
        """All pooled images as one CPU tensor [n, C, H, W] (n may be 0)."""
        if not self.images:
            return torch.zeros(0, *like.shape[1:])
        return torch.cat(self.images).float().cpu().contiguous()

    def load(self, tensor: torch.Tensor, device: torch.device, memory_format: torch.memory_format) -> None:
        self.images = [t.unsqueeze(0).to(device).contiguous(memory_format=memory_format) for t in tensor]


@register_task
class TranslateTask(TrainingTask):
    """Image-to-image translation; ``TranslateTask(options, ctx)`` builds the mode's subclass."""

    name = "translate"
    Options = TranslateOptions
    best_metric = "ssim"   # validation SSIM (higher is better); unpaired runs have no validation
    default_config = TRANSLATE_TRAIN_DEFAULTS
    supports_distributed = True
    rank_streams = ("augment",)   # each rank crops and augments its own share

    def __new__(cls, options: TranslateOptions, ctx: TaskContext):
        if cls is TranslateTask:
            cls = Pix2PixTask if options.mode == "paired" else CycleGanTask
        return super().__new__(cls)

    def __init__(self, options: TranslateOptions, ctx: TaskContext) -> None:
        super().__init__(options, ctx)
        cfg = ctx.config
        self.aug = Augment(options.crop_size, options.flip, options.shift, options.zoom)
        self.augment_rng = torch.Generator().manual_seed(cfg.seed + SEED_AUGMENT)
        self.memory_format = torch.channels_last if cfg.channels_last else torch.contiguous_format
        self.fused = ctx.device.type in ("cuda", "cpu")
        self._d_low_since: int | None = None
        self._last_eval: dict[str, float] | None = None
        self.startup_notes: list[tuple[str, str]] = []
        unused = options.unused_settings()
        if unused:
            self.startup_notes.append(("warning", "These settings do nothing in this run and are ignored: "
                                                  + "; ".join(unused) + "."))
        self._lr_factor = 1.0       # what NaN recovery has cut the learning rates to
        self._busy_seconds = 0.0    # time spent in this session's training steps

    # -- the step, with the learning-rate schedule -----------------------------------------------
    def train_step(self, step: int) -> dict[str, torch.Tensor]:
        start = time.perf_counter()
        self._schedule_learning_rates(step)
        self._schedule_augmentation(step)
        metrics_ = self._train_step(step)
        self._busy_seconds += time.perf_counter() - start
        return metrics_

    def _schedule_augmentation(self, step: int) -> None:
        o = self.options
        if o.clean_finish > 0 and self.aug.shift + self.aug.zoom > 0 and self.run_fraction(step) >= 1 - o.clean_finish:
            # the last share of the run sees the images as they are, framed like the ones it will translate
            self.aug = Augment(o.crop_size, o.flip, 0.0, 0.0)

    def _train_step(self, step: int) -> dict[str, torch.Tensor]:
        """One optimisation step of the mode (pix2pix or CycleGAN)."""
        raise NotImplementedError

    def run_fraction(self, step: int) -> float:
        """How far the run is (0..1): by steps, or by this session's training time, whichever is further.

        Time-limited runs therefore do not resume bit-exactly (their schedule follows the clock);
        step-limited runs do.
        """
        cfg = self.ctx.config
        parts = [step / cfg.steps] if cfg.steps else []
        if cfg.minutes:
            parts.append(self._busy_seconds / (cfg.minutes * 60))
        return min(1.0, max(parts, default=0.0))

    def _schedule_learning_rates(self, step: int) -> None:
        # pix2pix/CycleGAN's recipe: constant, then linear decay to zero over the last lr_decay share
        decay = self.options.lr_decay
        left = 1.0 - self.run_fraction(step)
        scale = 1.0 if decay <= 0 or left >= decay else left / decay
        cfg = self.ctx.config
        for name, opt in self.optimizers().items():
            base = cfg.lr_d if name == "D" else cfg.lr_g
            for group in opt.param_groups:
                group["lr"] = base * self._lr_factor * scale

    def scale_learning_rates(self, factor: float) -> None:
        self._lr_factor *= factor
        super().scale_learning_rates(factor)

    # -- shared helpers ------------------------------------------------------------------------
    def _note_enlargement(self, native_side: int) -> None:
        """A startup warning when load_size enlarges most images (their median shorter side
        ``native_side``): slower steps, no detail."""
        factor = enlargement(self.options.load_size, native_side)
        if factor >= ENLARGE_WARNING:
            fit = fitting_crop(native_side)
            self.startup_notes.append(("warning", (
                f"Half of the images are {native_side} px or smaller on their shorter side: resized to "
                f"{self.options.load_size} px they are enlarged {factor:.1f}x, which adds no detail and makes each "
                f"step about {factor ** 2:.0f}x slower. A resize (load_size) and crop size of {fit} px suits them.")))

    def _to_device(self, module: nn.Module) -> nn.Module:
        return module.to(self.ctx.device, memory_format=self.memory_format)

    def _generator(self, in_ch: int, out_ch: int) -> nn.Module:
        return self._to_device(build_generator(self.options.resolved_generator,
                                               **self.options.generator_kwargs(in_ch, out_ch)))

    def _discriminator(self, in_ch: int) -> nn.Module:
        o = self.options
        return self._to_device(PatchDiscriminator(in_ch, o.resolved_ndf, o.resolved_d_layers, norm="batch"
                                                  if o.resolved_generator == "unet" else "instance"))

    @staticmethod
    def _ema_copy(G: nn.Module) -> nn.Module:
        return copy.deepcopy(G).eval().requires_grad_(False)

    def _optimizer_G(self, params) -> torch.optim.Optimizer:
        cfg = self.ctx.config
        if self.options.weight_decay > 0:
            return torch.optim.AdamW(params, lr=cfg.lr_g, betas=(cfg.beta1, cfg.beta2),
                                     weight_decay=self.options.weight_decay, fused=self.fused)
        return torch.optim.Adam(params, lr=cfg.lr_g, betas=(cfg.beta1, cfg.beta2), fused=self.fused)

    def _optimizer_D(self, params) -> torch.optim.Optimizer:
        cfg = self.ctx.config
        return torch.optim.Adam(params, lr=cfg.lr_d, betas=(cfg.beta1, cfg.beta2), fused=self.fused)

    def _batch(self, sides: Sequence[Sequence[torch.Tensor]], indices) -> torch.Tensor:
        """Random crops (same place on every side), channels stacked, augmented, in [-1, 1]."""
        crops = random_crops(sides, indices, self.options.crop_size, self.augment_rng)
        x = to_model_range(torch.cat(crops, dim=1), self.ctx.device, self.memory_format == torch.channels_last)
        return augment(x, self.aug, self.augment_rng)

    @torch.no_grad()
    def _update_ema(self, pairs: Sequence[tuple[nn.Module, nn.Module]], step: int) -> None:
        # Warm-up: early on the average follows G closely, so short runs do not preview the random
        # initial network. BatchNorm buffers are copied (recalibrated before use, see below).
        decay = min(self.ctx.config.ema_decay, (1 + step) / (10 + step))
        for ema, G in pairs:
            torch._foreach_lerp_(list(ema.parameters()), list(G.parameters()), 1.0 - decay)
            for b_ema, b in zip(ema.buffers(), G.buffers()):
                b_ema.copy_(b)

    @torch.no_grad()
    def _recalibrate(self, G: nn.Module, inputs: torch.Tensor) -> None:
        """Recompute BatchNorm statistics for ``G``'s own (EMA) weights on fixed training crops.

        Dropout is off meanwhile, as it will be at inference, so the statistics fit that network.
        Uses no random stream, so resumed runs stay exact.
        """
        bns = [m for m in G.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
        if not bns:
            return
        momenta = [m.momentum for m in bns]
        for m in bns:
            m.reset_running_stats()
            m.momentum = None  # cumulative average over the passes
            m.train()
        with self.ctx.autocast():
            for chunk in inputs.split(_chunk(inputs)):
                G(chunk.to(self.ctx.device).contiguous(memory_format=self.memory_format))
        for m, momentum in zip(bns, momenta):
            m.momentum = momentum
        G.eval()

    @torch.no_grad()
    def _run(self, G: nn.Module, x: torch.Tensor) -> torch.Tensor:
        """``G`` on a float batch in [-1, 1] of any size (padded to the multiple), float32 out."""
        padded, (h, w) = pad_for(G, x)
        outs = []
        with self.ctx.autocast():
            for chunk in padded.split(_chunk(padded)):
                outs.append(G(chunk.to(self.ctx.device).contiguous(memory_format=self.memory_format)).float())
        return torch.cat(outs)[..., :h, :w].clamp(-1, 1)

    def _d_winning(self, step: int, metrics: dict[str, float], key: str) -> list[tuple[str, str]]:
        low = {"bce": 0.05, "lsgan": 0.01, "hinge": 0.05}[self.options.loss]
        if metrics.get(key, 1.0) < low:
            self._d_low_since = step if self._d_low_since is None else self._d_low_since
            if step - self._d_low_since >= D_WINNING_STEPS and self._once("d-winning"):
                return [("warning", "The discriminator is winning: it tells real from translated images almost "
                                    f"perfectly for {step - self._d_low_since} steps, so it teaches the generator "
                                    "little. Try a lower D learning rate or a smaller discriminator (d_layers 2).")]
        else:
            self._d_low_since = None
        return []

    def start_notes(self) -> list[tuple[str, str]]:
        return [n for n in self.startup_notes if self._once("startup:" + n[1])]

    def health(self, step: int, metrics: dict[str, float]) -> list[tuple[str, str]]:
        return self.start_notes() + self._mode_health(step, metrics)   # any not said at the start

    def _mode_health(self, step: int, metrics: dict[str, float]) -> list[tuple[str, str]]:
        return []

    def _generator_info(self, G: nn.Module, module: str) -> dict[str, Any]:
        return {"module": module, **generator_spec(G), "multiple": required_multiple(G)}

    def _base_info(self, a_channels: int, b_channels: int) -> dict[str, Any]:
        o = self.options
        return {"kind": MODEL_KIND, "mode": o.mode, "channels": {"A": a_channels, "B": b_channels},
                "domains": {"A": Path(o.a_dir).name, "B": Path(o.b_dir).name if o.b_dir else ""},
                "load_size": o.load_size, "crop_size": o.crop_size}


def _chunk(batch: torch.Tensor) -> int:
    """Images per forward pass for a batch of this size (bounded memory for large images)."""
    return max(1, EVAL_PIXELS // (batch.shape[-2] * batch.shape[-1]))


def _rows_grid(columns: Sequence[np.ndarray]) -> np.ndarray:
    """uint8 columns [N, H, W, C] side by side: one row per example (input | output | target...),
    as a ``preview_sheet``."""
    return preview_sheet([[col[i] for col in columns] for i in range(len(columns[0]))])


def _spread(n: int, k: int) -> list[int]:
    """``k`` indices spread evenly over ``range(n)`` (all of them if k >= n)."""
    if k >= n:
        return list(range(n))
    return [round(i * (n - 1) / max(1, k - 1)) for i in range(k)]


def validation_split(n: int, fraction: float, maximum: int) -> tuple[list[int], list[int]]:
    """(train, validation) indices: every k-th item (k = round(1/fraction)), at most ``maximum``.

    Deterministic by position in the name-sorted list, so a run, its resume and the benchmark
    hold out the same pairs, and the held-out names spread over the whole alphabet.
    """
    if fraction <= 0 or maximum <= 0 or n < MIN_PAIRS_FOR_VALIDATION:
        return list(range(n)), []
    stride = max(2, round(1 / fraction))
    val = [i for i in range(n) if i % stride == stride - 1][:maximum]
    chosen = set(val)
    return [i for i in range(n) if i not in chosen], val


class Pix2PixTask(TranslateTask):
    """pix2pix: G(A) -> B with a conditional PatchGAN (it sees A beside the real or generated B)."""

    def __init__(self, options: TranslateOptions, ctx: TaskContext) -> None:
        super().__init__(options, ctx)
        cfg, dev = ctx.config, ctx.device
        if options.side_by_side:
            data: PairedImages = SideBySideFolder(options.a_dir, split=options.split, load_size=options.load_size,
                                                  channels=options.channels, progress=ctx.progress,
                                                  should_stop=ctx.should_stop)
        else:
            data = PairedFolders(options.a_dir, options.b_dir, load_size=options.load_size,
                                 channels=options.channels, progress=ctx.progress, should_stop=ctx.should_stop)
        train_idx, val_idx = validation_split(len(data), options.val_fraction, options.val_max)
        self.data, self.train, self.val = data, data.subset(train_idx), data.subset(val_idx)
        check_crop(self.train.a, options.crop_size, "training")
        self.dataset_size = len(self.train)
        self.dataset_unit = "pairs"
        self.skipped = list(data.skipped)
        self._report_pairing(data)
        if options.side_by_side:
            self._note_square_side_by_side(data)
        self._note_enlargement(data.native_side)
        # under torchrun every rank draws the same global batch and keeps its slice (distributed.py)
        self.sampler = EpochSampler(len(self.train), cfg.batch_size * ctx.dist.world, cfg.seed)

        torch.manual_seed(cfg.seed)
        ca, cb = data.a_channels, data.b_channels
        self.G = self._generator(ca, cb)
        self.D = self._discriminator(ca + cb)
        self.G_step, self.D_step = wrap_for_ranks(ctx, self.G), wrap_for_ranks(ctx, self.D)
        self.G_ema = self._ema_copy(self.G) if cfg.ema else None
        self.opt_G = self._optimizer_G(self.G.parameters())
        self.opt_D = self._optimizer_D(self.D.parameters())
        self.scaler = torch.amp.GradScaler(dev.type, enabled=ctx.autocast_dtype == torch.float16)

        # held-out examples first (they show generalisation), topped up with training ones
        k = options.preview_count
        shown = [(self.val, i) for i in _spread(len(self.val), k)]
        shown += [(self.train, i) for i in _spread(len(self.train), k - len(shown))] if len(shown) < k else []
        size = min(options.crop_size, min(min(part.a[i].shape[-2:]) for part, i in shown))
        self.preview_a = center_crops([part.a[i] for part, i in shown], size)
        self.preview_b = center_crops([part.b[i] for part, i in shown], size)
        calib = _spread(len(self.train), BN_RECALIBRATION_EXAMPLES)
        self.calibration_a = center_crops([self.train.a[i] for i in calib], options.crop_size)

    def _report_pairing(self, data: PairedImages) -> None:
        report = data.report
        if report is None:
            return
        for side, missing in (("A", report.unmatched_a), ("B", report.unmatched_b)):
            if missing:
                names = ", ".join(p.name for p in missing[:3]) + (", ..." if len(missing) > 3 else "")
                self.startup_notes.append(("info", f"{len(missing)} file(s) in {side} have no partner of the same "
                                                   f"name in the other folder and are not used ({names})."))
        for side, other, found in (("A", "B", report.unreadable_partner_a), ("B", "A", report.unreadable_partner_b)):
            if found:
                path, partners = found[0]
                self.startup_notes.append(("warning", f"{len(found)} file(s) in {side} are not used because their partner "
                                                      f"in {other} cannot be used (e.g. {path.name}, whose partner {partners[0].path.name} "
                                                      f"was skipped: {partners[0].reason})."))
        reshaped = report.reshaped_pairs()
        if reshaped:
            sizes = report.sizes
            examples = ", ".join(f"{pa.name}: {sizes[pa][0]}x{sizes[pa][1]} in A, {sizes[pb][0]}x{sizes[pb][1]} in B"
                                 for pa, pb in reshaped[:2]) + ("; ..." if len(reshaped) > 2 else "")
            self.startup_notes.append(("warning", f"{len(reshaped)} pair(s) have a different shape in A and B ({examples}). "
                                                  "B is stretched to A's shape, which distorts what the model learns: "
                                                  "crop or pad those pairs to the same shape."))
        if len(self.train) < 50:
            self.startup_notes.append(("info", f"Only {len(self.train)} training pairs: the model will learn them by "
                                               "heart. Hundreds of pairs (or flips and shifts) generalise better."))

    def _note_square_side_by_side(self, data: PairedImages) -> None:
        # each half of a real side-by-side pair has its picture's shape; halves of ordinary pictures
        # are strips about half as wide as they are tall
        aspects = sorted(t.shape[2] / t.shape[1] for t in data.a)
        if aspects and aspects[len(aspects) // 2] < SIDE_BY_SIDE_STRIP:
            self.startup_notes.append(("warning", "These look like ordinary pictures, not pairs side by side: cut in "
                                                  "half, each half is a narrow strip. Side-by-side images hold A and B "
                                                  "next to each other, twice as wide as one picture; for two folders "
                                                  "of matching pictures, choose paired folders instead."))

    # -- contract ------------------------------------------------------------------------------
    def modules(self) -> dict[str, nn.Module]:
        mods = {"G": self.G, "D": self.D}
        if self.G_ema is not None:
            mods["G_ema"] = self.G_ema
        return mods

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"G": self.opt_G, "D": self.opt_D}

    def rng_streams(self) -> dict[str, torch.Generator]:
        return {"augment": self.augment_rng}

    def extra_state(self) -> dict[str, Any]:
        return {"sampler": self.sampler.state(), "scaler": self.scaler.state_dict() if self.scaler.is_enabled() else {}}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        self.sampler.load_state(state["sampler"])
        if state.get("scaler") and self.scaler.is_enabled():
            self.scaler.load_state_dict(state["scaler"])

    def _train_step(self, step: int) -> dict[str, torch.Tensor]:
        ctx, o = self.ctx, self.options
        ab = self._batch([self.train.a, self.train.b], ctx.dist.shard(self.sampler.next_indices()))
        ca = self.data.a_channels
        real_a, real_b = ab[:, :ca], ab[:, ca:]
        scaler = self.scaler

        with ctx.autocast():
            fake_b = self.G_step(real_a)
            d_real = self.D_step(torch.cat([real_a, real_b], 1))
            d_fake = self.D_step(torch.cat([real_a, fake_b.detach()], 1))
        loss_d = losses.d_loss(o.loss, d_real, d_fake)
        self.opt_D.zero_grad(set_to_none=True)
        scaler.scale(loss_d).backward()
        scaler.step(self.opt_D)

        self.D.requires_grad_(False)   # the plain D: none of its gradients to average across ranks
        with ctx.autocast():
            d_fake_g = self.D(torch.cat([real_a, fake_b], 1))
        loss_gan = losses.g_loss(o.loss, d_fake_g)
        fake01, real01 = (fake_b.float() + 1) / 2, (real_b.float() + 1) / 2
        loss_l1 = (fake01 - real01).abs().mean()
        loss_g = loss_gan + o.l1_weight * 2 * loss_l1   # x2: pix2pix's L1 is measured in [-1, 1]
        loss_ssim = torch.zeros((), device=loss_l1.device)
        if o.ssim_weight > 0:
            loss_ssim = 1 - metrics.ssim(fake01, real01).mean()
            loss_g = loss_g + o.ssim_weight * loss_ssim
        self.opt_G.zero_grad(set_to_none=True)
        scaler.scale(loss_g).backward()
        scaler.step(self.opt_G)
        scaler.update()
        self.D.requires_grad_(True)
        if self.G_ema is not None:
            self._update_ema([(self.G_ema, self.G)], step)
        return {"loss_d": loss_d.detach(), "loss_g": loss_g.detach(), "gan_g": loss_gan.detach(),
                "l1": loss_l1.detach(), "ssim_loss": loss_ssim.detach(),
                "d_real": losses.d_probability(o.loss, d_real.detach()),
                "d_fake": losses.d_probability(o.loss, d_fake.detach())}

    def prepare_for_export(self) -> None:
        # the checkpoint then holds an EMA generator with fitting BatchNorm statistics
        self.inference_generator()
        self.G.train()

    def inference_generator(self) -> nn.Module:
        """The generator used for previews, validation and export: EMA G with refreshed statistics, or G."""
        if self.G_ema is None:
            return self.G.eval()
        self._recalibrate(self.G_ema, self._model_input(self.calibration_a))
        return self.G_ema

    def _model_input(self, images: torch.Tensor) -> torch.Tensor:
        return images.float().div(127.5).sub(1.0)

    @torch.no_grad()
    def preview(self) -> np.ndarray:
        G = self.inference_generator()
        out = self._run(G, self._model_input(self.preview_a))
        self.G.train()
        a = self.preview_a.permute(0, 2, 3, 1).numpy()
        b = self.preview_b.permute(0, 2, 3, 1).numpy()
        return _rows_grid([a, to_uint8_images(out), b])

    @torch.no_grad()
    def evaluate(self) -> dict[str, float] | None:
        """L1 (mean absolute error in [0, 1]) and SSIM on the held-out pairs at the load size."""
        if not len(self.val):
            return None
        G = self.inference_generator()
        l1s, ssims = [], []
        for group in _same_size_groups(self.val.a):
            a = torch.stack([self.val.a[i] for i in group])
            b = torch.stack([self.val.b[i] for i in group]).float() / 255
            out = (self._run(G, self._model_input(a)).cpu() + 1) / 2
            l1s.append(metrics.l1(out, b))
            ssims.append(metrics.ssim(out, b))
        self.G.train()
        result = {"l1": float(torch.cat(l1s).mean()), "ssim": float(torch.cat(ssims).mean())}
        self._last_eval = result
        return result

    def _mode_health(self, step: int, metrics_: dict[str, float]) -> list[tuple[str, str]]:
        notes = self._d_winning(step, metrics_, "loss_d")
        train_l1 = metrics_.get("l1")
        if self._last_eval and train_l1 and self._last_eval["l1"] > OVERFIT_RATIO * train_l1 \
                and self._once("memorising"):
            notes.append(("warning", f"The model is memorising the training pairs: its error on held-out pairs "
                                     f"({self._last_eval['l1']:.3f}) is over {OVERFIT_RATIO:g}x its training error "
                                     f"({train_l1:.3f}). More pairs, flips/shifts/zoom, or a smaller network help; "
                                     "the best checkpoint (by validation SSIM) is kept."))
        return notes

    def model_info(self) -> dict[str, Any]:
        G = self.G_ema if self.G_ema is not None else self.G
        info = self._base_info(self.data.a_channels, self.data.b_channels)
        info["generators"] = {"AtoB": self._generator_info(G, "G_ema" if self.G_ema is not None else "G")}
        return info


def _same_size_groups(images: Sequence[torch.Tensor]) -> list[list[int]]:
    groups: dict[tuple[int, ...], list[int]] = {}
    for i, t in enumerate(images):
        groups.setdefault(tuple(t.shape), []).append(i)
    return list(groups.values())


class CycleGanTask(TranslateTask):
    """CycleGAN: G_AB and G_BA with a discriminator per domain, cycle and identity losses, and
    history pools of generated images."""

    best_metric = None
    rank_streams = ("augment", "pool")

    def __init__(self, options: TranslateOptions, ctx: TaskContext) -> None:
        super().__init__(options, ctx)
        cfg, dev = ctx.config, ctx.device
        self.data = UnpairedFolders(options.a_dir, options.b_dir, load_size=options.load_size,
                                    channels=options.channels, progress=ctx.progress, should_stop=ctx.should_stop)
        check_crop(self.data.a, options.crop_size, "A")
        check_crop(self.data.b, options.crop_size, "B")
        self.dataset_size = len(self.data.a) + len(self.data.b)
        self.skipped = list(self.data.skipped)
        self._note_enlargement(self.data.native_side)
        # under torchrun every rank draws the same global batches and keeps its slices; each rank
        # keeps its own history pools (of its own fakes; ``rank_streams``)
        self.sampler_a = EpochSampler(len(self.data.a), cfg.batch_size * ctx.dist.world, cfg.seed)
        self.sampler_b = EpochSampler(len(self.data.b), cfg.batch_size * ctx.dist.world, cfg.seed + 1)
        self.pool_rng = torch.Generator().manual_seed(cfg.seed + SEED_POOL)
        self.pool_a = ImagePool(options.pool_size, self.pool_rng)
        self.pool_b = ImagePool(options.pool_size, self.pool_rng)

        torch.manual_seed(cfg.seed)
        ca, cb = self.data.a_channels, self.data.b_channels
        self.G_AB, self.G_BA = self._generator(ca, cb), self._generator(cb, ca)
        self.D_A, self.D_B = self._discriminator(ca), self._discriminator(cb)
        self.G_AB_step, self.G_BA_step = wrap_for_ranks(ctx, self.G_AB), wrap_for_ranks(ctx, self.G_BA)
        self.D_A_step, self.D_B_step = wrap_for_ranks(ctx, self.D_A), wrap_for_ranks(ctx, self.D_B)
        self.G_AB_ema = self._ema_copy(self.G_AB) if cfg.ema else None
        self.G_BA_ema = self._ema_copy(self.G_BA) if cfg.ema else None
        self.opt_G = self._optimizer_G(list(self.G_AB.parameters()) + list(self.G_BA.parameters()))
        self.opt_D = self._optimizer_D(list(self.D_A.parameters()) + list(self.D_B.parameters()))
        self.scaler = torch.amp.GradScaler(dev.type, enabled=ctx.autocast_dtype == torch.float16)
        self.identity = options.identity_weight > 0 and ca == cb
        if options.identity_weight > 0 and ca != cb:
            self.startup_notes.append(("info", "The identity loss is off: A images are "
                                               f"{'grey' if ca == 1 else 'colour'} and B images are not."))

        k = options.preview_count
        pa = _spread(len(self.data.a), (k + 1) // 2)
        pb = _spread(len(self.data.b), k // 2 or 1)
        size = min(options.crop_size, min(min(self.data.a[i].shape[-2:]) for i in pa),
                   min(min(self.data.b[i].shape[-2:]) for i in pb))
        self.preview_a = center_crops([self.data.a[i] for i in pa], size)
        self.preview_b = center_crops([self.data.b[i] for i in pb], size)

    # -- contract ------------------------------------------------------------------------------
    def modules(self) -> dict[str, nn.Module]:
        mods = {"G_AB": self.G_AB, "G_BA": self.G_BA, "D_A": self.D_A, "D_B": self.D_B}
        if self.G_AB_ema is not None:
            mods.update(G_AB_ema=self.G_AB_ema, G_BA_ema=self.G_BA_ema)
        return mods

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"G": self.opt_G, "D": self.opt_D}

    def rng_streams(self) -> dict[str, torch.Generator]:
        return {"augment": self.augment_rng, "pool": self.pool_rng}

    def extra_state(self) -> dict[str, Any]:
        return {"sampler_a": self.sampler_a.state(), "sampler_b": self.sampler_b.state(),
                "scaler": self.scaler.state_dict() if self.scaler.is_enabled() else {}}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        self.sampler_a.load_state(state["sampler_a"])
        self.sampler_b.load_state(state["sampler_b"])
        if state.get("scaler") and self.scaler.is_enabled():
            self.scaler.load_state_dict(state["scaler"])

    def extra_tensors(self) -> dict[str, torch.Tensor]:
        s = self.options.crop_size
        return {"pool_A": self.pool_a.state(torch.zeros(1, self.data.a_channels, s, s)),
                "pool_B": self.pool_b.state(torch.zeros(1, self.data.b_channels, s, s))}

    def load_extra_tensors(self, tensors: dict[str, torch.Tensor]) -> None:
        for key, pool in (("pool_A", self.pool_a), ("pool_B", self.pool_b)):
            if key not in tensors:
                raise DatasetError(f"The checkpoint lacks the CycleGAN image pool {key!r}; it cannot be resumed "
                                   "exactly.")
            pool.load(tensors[key], self.ctx.device, self.memory_format)

    def _train_step(self, step: int) -> dict[str, torch.Tensor]:
        ctx, o = self.ctx, self.options
        shard = ctx.dist.shard
        real_a = self._batch([self.data.a], shard(self.sampler_a.next_indices()))
        real_b = self._batch([self.data.b], shard(self.sampler_b.next_indices()))
        scaler = self.scaler
        # the generators' step runs their DistributedDataParallel wrappers (several calls each, one
        # backward: DDP averages the summed gradients); the frozen critics run as plain modules
        G_AB, G_BA, D_A, D_B = self.G_AB_step, self.G_BA_step, self.D_A, self.D_B

        D_A.requires_grad_(False)
        D_B.requires_grad_(False)
        with ctx.autocast():
            fake_b = G_AB(real_a)
            fake_a = G_BA(real_b)
            rec_a = G_BA(fake_b)
            rec_b = G_AB(fake_a)
            gan_ab = losses.g_loss(o.loss, D_B(fake_b))
            gan_ba = losses.g_loss(o.loss, D_A(fake_a))
            idt = torch.zeros((), device=real_a.device)
            if self.identity:
                idt = ((G_AB(real_b).float() - real_b).abs().mean() + (G_BA(real_a).float() - real_a).abs().mean())
        cycle = (rec_a.float() - real_a).abs().mean() + (rec_b.float() - real_b).abs().mean()
        loss_g = gan_ab + gan_ba + o.cycle_weight * cycle + o.cycle_weight * o.identity_weight * idt
        self.opt_G.zero_grad(set_to_none=True)
        scaler.scale(loss_g).backward()
        scaler.step(self.opt_G)
        D_A.requires_grad_(True)
        D_B.requires_grad_(True)

        with ctx.autocast():
            old_b = self.pool_b.query(fake_b.detach()).contiguous(memory_format=self.memory_format)
            old_a = self.pool_a.query(fake_a.detach()).contiguous(memory_format=self.memory_format)
            d_real_b, d_fake_b = self.D_B_step(real_b), self.D_B_step(old_b)
            d_real_a, d_fake_a = self.D_A_step(real_a), self.D_A_step(old_a)
        loss_d_b = losses.d_loss(o.loss, d_real_b, d_fake_b)
        loss_d_a = losses.d_loss(o.loss, d_real_a, d_fake_a)
        self.opt_D.zero_grad(set_to_none=True)
        scaler.scale(loss_d_a + loss_d_b).backward()
        scaler.step(self.opt_D)
        scaler.update()
        if self.G_AB_ema is not None:
            self._update_ema([(self.G_AB_ema, self.G_AB), (self.G_BA_ema, self.G_BA)], step)
        return {"loss_d": (loss_d_a + loss_d_b).detach() / 2, "loss_g": loss_g.detach(),
                "gan_ab": gan_ab.detach(), "gan_ba": gan_ba.detach(), "cycle": cycle.detach(),
                "identity": idt.detach(), "d_real": losses.d_probability(o.loss, d_real_b.detach()),
                "d_fake": losses.d_probability(o.loss, d_fake_b.detach())}

    def _inference_pair(self) -> tuple[nn.Module, nn.Module]:
        if self.G_AB_ema is not None:
            return self.G_AB_ema, self.G_BA_ema
        return self.G_AB, self.G_BA

    @torch.no_grad()
    def preview(self) -> np.ndarray:
        """Rows of A -> G_AB(A) -> G_BA(G_AB(A)), then B -> G_BA(B) -> G_AB(G_BA(B))."""
        G_AB, G_BA = self._inference_pair()
        G_AB.eval()
        G_BA.eval()
        rows = []
        for images, there, back in ((self.preview_a, G_AB, G_BA), (self.preview_b, G_BA, G_AB)):
            x = images.float().div(127.5).sub(1.0)
            y = self._run(there, x)
            z = self._run(back, y)
            rows.append([images.permute(0, 2, 3, 1).numpy(), to_uint8_images(y), to_uint8_images(z)])
        self.G_AB.train()
        self.G_BA.train()
        channels = max(c.shape[-1] for row in rows for c in row)
        cols = [np.concatenate([_channels(row[j], channels) for row in rows]) for j in range(3)]
        return _rows_grid(cols)

    def _mode_health(self, step: int, metrics_: dict[str, float]) -> list[tuple[str, str]]:
        return self._d_winning(step, metrics_, "loss_d")

    def model_info(self) -> dict[str, Any]:
        ema = self.G_AB_ema is not None
        G_AB, G_BA = self._inference_pair()
        info = self._base_info(self.data.a_channels, self.data.b_channels)
        info["generators"] = {"AtoB": self._generator_info(G_AB, "G_AB_ema" if ema else "G_AB"),
                              "BtoA": self._generator_info(G_BA, "G_BA_ema" if ema else "G_BA")}
        return info


def _channels(images: np.ndarray, channels: int) -> np.ndarray:
    return images if images.shape[-1] == channels else np.repeat(images, channels, axis=-1)
