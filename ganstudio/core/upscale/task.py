"""The Upscale task: train a super-resolution network on a folder of high-resolution images.

Plugs into the one trainer (``ganstudio.core.trainer.train``) like the GAN task. Every step takes
random HR patches from images held in memory, makes their LR inputs on the fly (degrade.py) and
minimises L1; an optional GAN stage adds a PatchGAN discriminator and a hinge adversarial loss
after ``gan_start_step``. Validation measures PSNR/SSIM on fixed crops of held-out images against
bicubic, and the trainer keeps the best checkpoint by PSNR.

Memory: training images are decoded once and kept as uint8 (about 3 MB per 1024x1024 image).
Images whose longer side exceeds ``max_side`` are downscaled to it with Lanczos first, which also
cleans camera noise; raise it for a large artwork collection with fine detail.
"""
from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

from ..config import TrainConfig
from ..data import DEFAULT_MAX_PIXELS, SkippedFile, check_usable, preview_sheet, scan_folder
from ..errors import ConfigError, DatasetError
from ..tasks import TaskContext, TrainingTask, register_task, wrap_for_ranks
from .community import UPSCALER_FORMAT
from .degrade import DEGRADATIONS, downscale_uint8, make_lr
from .imageio import read_image
from .metrics import PSNR_CAP, gradient_energy, psnr, split_holdout, ssim, textured_crops
from .models import SCALES, SR_ARCHS, SRDiscriminator, build_sr_model, check_activation
from .tiling import resample_array

#: offset of the seed for the fixed "real"-mode degradation of the validation crops
VAL_SEED_OFFSET = 9_191
#: crops shown in the before/after preview
PREVIEW_CROPS = 4
#: evaluations without a new best PSNR (by more than PLATEAU_MIN_GAIN_DB) before saying it converged
PLATEAU_EVALS = 4
PLATEAU_MIN_GAIN_DB = 0.01
#: steps with the discriminator clearly winning before the health note
D_WINNING_STEPS = 300
#: smallest validation crop (SSIM's 11-pixel window must fit after shaving the borders)
MIN_VAL_CROP = 32
#: automatic validation hold-out: this share of the images, between 1 and AUTO_VAL_MAX
AUTO_VAL_SHARE = 0.1
AUTO_VAL_MAX = 8
#: white gap between preview tiles
PREVIEW_GAP = 2
PATCH_SAMPLINGS = ("detail", "uniform")
#: "detail" sampling: patch positions on a grid of this step (HR pixels), then jittered within it
DETAIL_GRID = 8
#: "detail" sampling: every position keeps at least this share of the mean patch detail as its
#: weight, so flat areas (skies, bokeh) are still seen and the net does not learn to sharpen them
DETAIL_FLOOR = 0.1


@dataclass(frozen=True)
class UpscaleOptions:
    data: str                          # folder of high-resolution images (searched recursively)
    scale: int = 2                     # upscaling factor: 2 | 4
    arch: str = "compact"              # "compact" (fast, Real-ESRGAN-compact style) | "rrdb" (slim ESRGAN)
    features: int | None = None        # network width (None: the default, 48 compact / 32 rrdb)
    blocks: int | None = None          # residual blocks (None: the default, 4 compact / 3 rrdb)
    act: str | None = None             # compact net's activation: "lrelu" (LeakyReLU, computed inside the
                                       # convolutions on CPUs) | "prelu" (learned slopes) (None: lrelu)
    patch_size: int = 96               # side of the HR training patches in pixels (a multiple of scale)
    degradation: str = "bicubic"       # how LR inputs are made: "bicubic" | "real" (adds blur, noise, JPEG)
    gan: bool = False                  # add a discriminator and adversarial loss to L1 (sharper textures)
    gan_weight: float = 0.01           # weight of the adversarial loss relative to L1 (=1)
    gan_start_step: int = 0            # pure-L1 steps before the GAN stage begins
    d_features: int = 32               # discriminator width
    val_images: int = 0                # images held out for validation (0: a tenth of them, 1 to 8)
    val_crop: int = 128                # side of each validation crop in HR pixels
    val_crops: int = 8                 # validation crops, the most textured of the held-out images
    max_side: int = 1024               # longer side limit of training images in memory (Lanczos downscale)
    prescale: float = 1.0              # downscale every image by this factor first (2: soft camera photos)
    augment: bool = True               # random flips and 90-degree rotations of the patches
    patch_sampling: str = "detail"     # "detail": patches drawn more often where the image has detail
                                       # (edges, texture), where upscaling matters; "uniform": anywhere
    max_pixels: int = DEFAULT_MAX_PIXELS  # larger images are skipped (possible decompression bombs)

    #: what runs saved before a field existed did (config.from_dict): they resume as they began
    SAVED_WITHOUT: ClassVar[dict[str, Any]] = {"patch_sampling": "uniform", "act": "prelu"}

    def __post_init__(self) -> None:
        if self.scale not in SCALES:
            raise ConfigError(f"Invalid scale {self.scale}. "
                              f"Only {', '.join(map(str, SCALES))} are supported.")
        if self.arch not in SR_ARCHS:
            raise ConfigError(f"Invalid architecture {self.arch!r}. "
                              f"Only {', '.join(SR_ARCHS)} are supported.")
        if self.degradation not in DEGRADATIONS:
            raise ConfigError(f"Invalid degradation {self.degradation!r}. "
                              f"Only {', '.join(DEGRADATIONS)} are supported.")
        if self.patch_size < 8 * self.scale or self.patch_size % self.scale:
            raise ConfigError(f"patch_size must be a multiple of the scale ({self.scale}) and at least "
                              f"{8 * self.scale}, got {self.patch_size}.")
        if self.gan_weight < 0 or self.gan_start_step < 0:
            raise ConfigError("gan_weight and gan_start_step must be 0 or more.")
        if self.val_images < 0 or self.val_crops < 1 or self.val_crop < MIN_VAL_CROP:
            raise ConfigError("val_images must be 0 or more, val_crops at least 1 and val_crop at least "
                              f"{MIN_VAL_CROP}.")
        if self.max_side < self.patch_size:
            raise ConfigError(f"max_side ({self.max_side}) must be at least patch_size ({self.patch_size}).")
        if self.act is not None:
            check_activation(self.act)
        # "prelu" is what every run did before the choice existed, so older rrdb runs say it too
        if self.act == "lrelu" and self.arch != "compact":
            raise ConfigError(f"The activation is a choice of the compact network; {self.arch} has its own.")
        if self.patch_sampling not in PATCH_SAMPLINGS:
            raise ConfigError(f"Invalid patch_sampling {self.patch_sampling!r}. "
                              f"Only {', '.join(PATCH_SAMPLINGS)} are supported.")
        if not 1.0 <= self.prescale <= 8.0:
            raise ConfigError(f"prescale must be between 1 and 8, got {self.prescale}.")

    def model_kwargs(self) -> dict[str, int]:
        kw = {}
        if self.features is not None:
            kw["features"] = self.features
        if self.blocks is not None:
            kw["blocks"] = self.blocks
        if self.arch == "compact":
            kw["act"] = self.act or "lrelu"
        return kw


#: TrainConfig values that suit SR training (Adam beta1 0.9, batch 16, evaluation every 250)
SR_TRAIN_DEFAULTS: dict[str, Any] = dict(steps=5000, batch_size=16, lr_g=5e-4, lr_d=1e-4, beta1=0.9, beta2=0.99,
                                         ema=True, ema_decay=0.999, sample_every=250, eval_every=250,
                                         checkpoint_every=500)


def default_train_config(**overrides: Any) -> TrainConfig:
    """TrainConfig defaults that suit SR training, with ``overrides``."""
    return TrainConfig(**{"task": "upscale", **SR_TRAIN_DEFAULTS, **overrides})


def load_hr_image(path: Any, max_side: int, prescale: float = 1.0) -> np.ndarray:
    """An image as uint8 RGB HxWx3 for training: transparency over white, downscaled to fit ``max_side``."""
    img = read_image(path)
    px = img.pixels
    if img.has_alpha:  # composite over white: SR of the colour under transparent pixels is meaningless
        a = px[:, :, -1:].astype(np.float32) / 255
        px = (px[:, :, :-1].astype(np.float32) * a + 255 * (1 - a)).round().astype(np.uint8)
    if px.shape[2] == 1:
        px = np.repeat(px, 3, axis=2)
    h, w = px.shape[:2]
    factor = max(prescale, max(h, w) / max_side)
    if factor > 1.0:
        size = (max(1, round(w / factor)), max(1, round(h / factor)))
        px = np.asarray(Image.fromarray(px).resize(size, Image.Resampling.LANCZOS))
    return np.array(px, copy=True)  # writable and contiguous (torch refuses read-only PIL buffers)


@register_task
class UpscaleTask(TrainingTask):
    """L1 (optionally + GAN) training of a compact or RRDB upscaler on random patches."""

    name = "upscale"
    Options = UpscaleOptions
    best_metric = "psnr"
    default_config = SR_TRAIN_DEFAULTS
    supports_distributed = True
    rank_streams = ("data",)     # each rank draws its own random patches (validation is the same everywhere)

    def __init__(self, options: UpscaleOptions, ctx: TaskContext) -> None:
        super().__init__(options, ctx)
        cfg, dev = ctx.config, ctx.device
        self.data_rng = torch.Generator().manual_seed(cfg.seed + 1)
        self._load_data(options, ctx)

        torch.manual_seed(cfg.seed)  # weight init
        self.memory_format = torch.channels_last if cfg.channels_last else torch.contiguous_format
        self.G = build_sr_model(options.arch, options.scale, 3, **options.model_kwargs()).to(
            dev, memory_format=self.memory_format)
        self.G_ema = copy.deepcopy(self.G).eval().requires_grad_(False) if cfg.ema else None
        fused = dev.type in ("cuda", "cpu")
        betas = (cfg.beta1, cfg.beta2)
        self.opt_G = torch.optim.Adam(self.G.parameters(), lr=cfg.lr_g, betas=betas, fused=fused)
        self.D: nn.Module | None = None
        self.opt_D: torch.optim.Optimizer | None = None
        if options.gan:
            self.D = SRDiscriminator(3, options.d_features).to(dev, memory_format=self.memory_format)
            self.opt_D = torch.optim.Adam(self.D.parameters(), lr=cfg.lr_d, betas=betas, fused=fused)
        self.scaler = torch.amp.GradScaler(dev.type, enabled=ctx.autocast_dtype == torch.float16)
        # the networks the steps run: DistributedDataParallel wrappers under torchrun (distributed.py).
        # No buffer broadcast: G's only buffer is the constant bicubic kernel (a lone channels_last
        # buffer that DDP's broadcast cannot write back), and D's spectral-norm vectors evolve alike
        # on every rank (the power iteration sees only the shared weights).
        self.G_step = wrap_for_ranks(ctx, self.G, broadcast_buffers=False)
        self.D_step = wrap_for_ranks(ctx, self.D, broadcast_buffers=False)
        self.eval_history: list[float] = []
        self._d_winning_since: int | None = None

    # -- data -----------------------------------------------------------------------------------
    def _load_data(self, options: UpscaleOptions, ctx: TaskContext) -> None:
        scan_progress = None
        if ctx.progress is not None:
            scan_progress = lambda d, t: ctx.progress("Checking images", d / max(1, t))  # noqa: E731
        # headers only: load_hr_image below decodes each file once and skips the ones that fail
        report = scan_folder(options.data, max_pixels=options.max_pixels, progress=scan_progress,
                             should_stop=ctx.should_stop, decode=False)
        if report.kind != "images":
            raise DatasetError(f"{options.data} holds {report.kind} data; an upscaler trains on ordinary "
                               "image files.")
        check_usable(report)
        skipped = list(report.skipped)
        images: dict[str, np.ndarray] = {}
        for i, path in enumerate(report.usable):
            if ctx.should_stop is not None and ctx.should_stop():
                from ..data import Cancelled

                raise Cancelled("Dataset loading was cancelled.")
            try:
                px = load_hr_image(path, options.max_side, options.prescale)
            except DatasetError as e:
                skipped.append(SkippedFile(path, str(e)))
                continue
            if min(px.shape[:2]) < options.patch_size:
                skipped.append(SkippedFile(path, f"smaller than the {options.patch_size}px training patch"))
                continue
            images[str(path)] = px
            if ctx.progress is not None:
                ctx.progress("Loading images", (i + 1) / len(report.usable))
        if not images:
            p = options.patch_size
            raise DatasetError(f"No image in {options.data} is at least {p}x{p} pixels once shrunk to the "
                               f"longer side limit (max_side, now {options.max_side} px): use smaller patches, "
                               "a larger max_side, or larger images.")
        n_val = options.val_images or min(AUTO_VAL_MAX, max(1, round(len(images) * AUTO_VAL_SHARE)))
        train_paths, val_paths = split_holdout(list(images), n_val)
        self.validates_on_training = not val_paths
        self.held_out = len(val_paths)
        if not val_paths:  # a single image: validate on it (the health notes say so)
            val_paths = train_paths
        self.train_images = [torch.from_numpy(images[str(p)]).permute(2, 0, 1).contiguous()
                             for p in train_paths]
        self.val_hr = self._validation_crops([images[str(p)] for p in val_paths], options)
        self.val_lr = self._validation_inputs(self.val_hr, options, ctx.config.seed)
        self.val_bicubic = [resample_array(lr, options.scale, "bicubic") for lr in self.val_lr]
        s = options.scale
        self.psnr_bicubic, self.ssim_bicubic = _scores(self.val_bicubic, self.val_hr, s)
        self.position_weights = [_position_weights(images[str(p)], options) for p in train_paths]
        # an image is picked in proportion to its total weight: with "uniform" sampling, its number of
        # patch positions (big images give more); with "detail", also how much detail it holds
        self.image_weights = torch.stack([w.sum() for w in self.position_weights]).double()
        self.dataset_size = len(self.train_images)
        self.skipped = list(skipped)

    @staticmethod
    def _validation_crops(images: list[np.ndarray], options: UpscaleOptions) -> list[np.ndarray]:
        per_image = math.ceil(options.val_crops / len(images))
        crops: list[np.ndarray] = []
        for im in images:
            side = min(options.val_crop, *im.shape[:2])
            side -= side % options.scale
            if side < MIN_VAL_CROP:
                continue
            crops.extend(np.ascontiguousarray(im[y:y + side, x:x + side])
                         for y, x in textured_crops(im, side, per_image))
        if not crops:
            raise DatasetError(f"The validation images are smaller than {MIN_VAL_CROP}x{MIN_VAL_CROP} "
                               "pixels.")
        # round-robin over images so that a cap keeps crops from every held-out image
        order = sorted(range(len(crops)), key=lambda i: (i % per_image, i))
        return [crops[i] for i in order[: options.val_crops]]

    @staticmethod
    def _validation_inputs(crops: list[np.ndarray], options: UpscaleOptions, seed: int) -> list[np.ndarray]:
        if options.degradation == "bicubic":
            return [downscale_uint8(c, options.scale) for c in crops]
        # a private generator: the same degraded inputs at every evaluation
        g = torch.Generator().manual_seed(seed + VAL_SEED_OFFSET)
        out = []
        for c in crops:
            hr = torch.from_numpy(c).permute(2, 0, 1)[None].float() / 255
            lr = make_lr(hr, options.scale, "real", g)
            out.append((lr[0].permute(1, 2, 0) * 255).round().to(torch.uint8).numpy())
        return out

    def _sample_batch(self, batch: int) -> torch.Tensor:
        p, g = self.options.patch_size, self.data_rng
        picks = torch.multinomial(self.image_weights, batch, replacement=True, generator=g)
        patches = []
        for idx in picks.tolist():
            img = self.train_images[idx]
            weights = self.position_weights[idx]
            # a grid cell by weight, then any position of that cell where a whole patch fits
            cell = int(torch.multinomial(weights.view(-1), 1, generator=g))
            gy, gx = divmod(cell, weights.shape[1])
            y0, x0 = gy * DETAIL_GRID, gx * DETAIL_GRID
            y = y0 + int(torch.randint(0, min(DETAIL_GRID, img.shape[1] - p + 1 - y0), (), generator=g))
            x = x0 + int(torch.randint(0, min(DETAIL_GRID, img.shape[2] - p + 1 - x0), (), generator=g))
            patch = img[:, y:y + p, x:x + p]
            if self.options.augment:
                k = int(torch.randint(0, 4, (), generator=g))
                flip = bool(torch.randint(0, 2, (), generator=g))
                patch = torch.rot90(patch, k, (1, 2))
                patch = patch.flip(2) if flip else patch
            patches.append(patch)
        return torch.stack(patches).float().div_(255)

    # -- the TrainingTask contract --------------------------------------------------------------
    def modules(self) -> dict[str, nn.Module]:
        mods: dict[str, nn.Module] = {"G": self.G}
        if self.G_ema is not None:
            mods["G_ema"] = self.G_ema
        if self.D is not None:
            mods["D"] = self.D
        return mods

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        opts = {"G": self.opt_G}
        if self.opt_D is not None:
            opts["D"] = self.opt_D
        return opts

    def rng_streams(self) -> dict[str, torch.Generator]:
        return {"data": self.data_rng}

    def extra_state(self) -> dict[str, Any]:
        return {"eval_history": list(self.eval_history),
                "scaler": self.scaler.state_dict() if self.scaler.is_enabled() else {}}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        self.eval_history = [float(v) for v in state.get("eval_history", [])]
        if state.get("scaler") and self.scaler.is_enabled():
            self.scaler.load_state_dict(state["scaler"])

    def model_info(self) -> dict[str, Any]:
        o = self.options
        return {"format": UPSCALER_FORMAT, "kind": "upscale", "arch": o.arch, "scale": o.scale, "channels": 3,
                "kwargs": self.G.config(), "ema": self.G_ema is not None, "degradation": o.degradation,
                "gan": o.gan, "patch_size": o.patch_size}

    def train_step(self, step: int) -> dict[str, torch.Tensor]:
        ctx, opts = self.ctx, self.options
        dev = ctx.device
        hr_cpu = self._sample_batch(ctx.config.batch_size)
        lr_cpu = make_lr(hr_cpu, opts.scale, opts.degradation, self.data_rng)
        hr = hr_cpu.to(dev, non_blocking=True).contiguous(memory_format=self.memory_format)
        lr = lr_cpu.to(dev, non_blocking=True).contiguous(memory_format=self.memory_format)
        gan_on = self.D is not None and step >= opts.gan_start_step

        with ctx.autocast():
            sr = self.G_step(lr)
        loss_l1 = F.l1_loss(sr.float(), hr)
        loss_g = loss_l1
        out: dict[str, torch.Tensor] = {"loss_l1": loss_l1.detach()}
        if gan_on:
            self.D.requires_grad_(False)  # G's step: skip D's weight gradients
            with ctx.autocast():
                logits_g = self.D(sr)
            loss_adv = -logits_g.float().mean()   # hinge generator loss
            loss_g = loss_l1 + opts.gan_weight * loss_adv
            out["loss_adv"] = loss_adv.detach()
        self.opt_G.zero_grad(set_to_none=True)
        self.scaler.scale(loss_g).backward()
        self.scaler.step(self.opt_G)

        if gan_on:
            self.D.requires_grad_(True)
            with ctx.autocast():
                d_real = self.D_step(hr).float()
                d_fake = self.D_step(sr.detach()).float()
            loss_d = F.relu(1 - d_real).mean() + F.relu(1 + d_fake).mean()
            self.opt_D.zero_grad(set_to_none=True)
            self.scaler.scale(loss_d).backward()
            self.scaler.step(self.opt_D)
            out.update(loss_d=loss_d.detach(), d_real=d_real.detach().mean(), d_fake=d_fake.detach().mean())
        self.scaler.update()
        if self.G_ema is not None:
            self._update_ema(step)
        return out

    @torch.no_grad()
    def _update_ema(self, step: int) -> None:
        # Warm-up: the average follows G closely at first, so early validations are meaningful.
        decay = min(self.ctx.config.ema_decay, (1 + step) / (10 + step))
        torch._foreach_lerp_(list(self.G_ema.parameters()), list(self.G.parameters()), 1.0 - decay)
        for b_ema, b in zip(self.G_ema.buffers(), self.G.buffers()):
            b_ema.copy_(b)

    def inference_network(self) -> nn.Module:
        """The network that validation, previews and export use: the EMA copy if kept, else G."""
        return self.G_ema if self.G_ema is not None else self.G

    @torch.no_grad()
    def _upscale_val(self, lr: np.ndarray) -> np.ndarray:
        net = self.inference_network()
        x = torch.from_numpy(lr).permute(2, 0, 1)[None].float().div(255).to(self.ctx.device)
        x = x.contiguous(memory_format=self.memory_format)
        was_training = net.training
        net.eval()
        with self.ctx.autocast():
            y = net(x)
        net.train(was_training)
        return (y.float().clamp(0, 1)[0].permute(1, 2, 0) * 255).round().to(torch.uint8).cpu().numpy()

    def evaluate(self) -> dict[str, float]:
        outs = [self._upscale_val(lr) for lr in self.val_lr]
        value, structure = _scores(outs, self.val_hr, self.options.scale)
        self.eval_history.append(value)
        return {"psnr": value, "ssim": structure, "psnr_bicubic": self.psnr_bicubic,
                "ssim_bicubic": self.ssim_bicubic, "psnr_gain": value - self.psnr_bicubic}

    def preview(self) -> np.ndarray:
        """Rows of bicubic | model | original for the first validation crops."""
        rows = []
        for lr, bic, hr in list(zip(self.val_lr, self.val_bicubic, self.val_hr))[:PREVIEW_CROPS]:
            rows.append([bic, self._upscale_val(lr), hr])
        return preview_sheet(rows, PREVIEW_GAP)

    def health(self, step: int, metrics: dict[str, float]) -> list[tuple[str, str]]:
        notes: list[tuple[str, str]] = []
        if self.options.val_images > self.held_out > 0 and self._once("val-images"):   # fewer than asked
            held = self.held_out
            notes.append(("warning", f"{self.options.val_images} validation images were asked for, but with "
                                     f"{held + self.dataset_size} usable images {held} are held out and "
                                     f"{self.dataset_size} left for training. Fewer validation images leave "
                                     "more to learn from."))
        elif self.dataset_size < 5 and self._once("few-images"):
            notes.append(("info", f"Only {self.dataset_size} training image(s): the upscaler may learn their "
                                  "textures by heart. A few dozen varied high-resolution images work much "
                                  "better."))
        cfg = self.ctx.config
        if (self.D is not None and cfg.steps is not None and self.options.gan_start_step >= cfg.steps
                and self._once("gan-never")):
            notes.append(("warning", f"The GAN stage starts at step {self.options.gan_start_step:,}, after this "
                                     f"run's {cfg.steps:,} steps: it trains with the pixel loss alone. Resume it "
                                     "with more steps, or start the GAN stage earlier."))
        if self.validates_on_training and self._once("val-on-train"):
            notes.append(("info", "With a single image there is nothing to hold out, so validation uses "
                                  "crops of the training image and its PSNR is optimistic."))
        hist = self.eval_history
        if len(hist) >= 3 and hist[-1] <= self.psnr_bicubic and self._once("below-bicubic"):
            notes.append(("warning", f"After {len(hist)} validations the model ({hist[-1]:.2f} dB) is not "
                                     f"yet better than bicubic ({self.psnr_bicubic:.2f} dB). Give it more "
                                     "steps; if it stays there, lower the learning rate or use the compact "
                                     "architecture."))
        recent, earlier = hist[-PLATEAU_EVALS:], hist[:-PLATEAU_EVALS]
        plateau = bool(earlier) and max(recent) <= max(earlier) + PLATEAU_MIN_GAIN_DB
        if plateau and self._once("plateau"):
            notes.append(("info", f"Validation PSNR has not improved over the last {PLATEAU_EVALS} "
                                  f"validations (best {max(hist):.2f} dB): training has probably converged; "
                                  "the best checkpoint is kept, so you can stop."))
        if "loss_d" in metrics:
            # hinge loss: D is past both margins on average and its loss is near 0
            winning = (metrics["loss_d"] < 0.1 and metrics.get("d_real", 0) > 1
                       and metrics.get("d_fake", 0) < -1)
            if not winning:
                self._d_winning_since = None
            else:
                self._d_winning_since = step if self._d_winning_since is None else self._d_winning_since
                if step - self._d_winning_since >= D_WINNING_STEPS and self._once("d-winning"):
                    notes.append(("warning", "The discriminator is winning: it separates real and upscaled "
                                             "patches perfectly, so its advice to the generator is mostly "
                                             "noise. Lower the D learning rate or the GAN weight."))
        return notes


def _position_weights(image: np.ndarray, options: UpscaleOptions) -> torch.Tensor:
    """Sampling weight of each patch position on a DETAIL_GRID grid of ``image`` (float64, [rows, cols]):
    uniform, or the patch's gradient energy with a floor of DETAIL_FLOOR times the mean."""
    p, h, w = options.patch_size, image.shape[0], image.shape[1]
    rows, cols = (h - p) // DETAIL_GRID + 1, (w - p) // DETAIL_GRID + 1
    # positions per cell: DETAIL_GRID^2, fewer in the last row and column
    ys = np.minimum(DETAIL_GRID, h - p + 1 - DETAIL_GRID * np.arange(rows))
    xs = np.minimum(DETAIL_GRID, w - p + 1 - DETAIL_GRID * np.arange(cols))
    positions = np.outer(ys, xs).astype(np.float64)
    if options.patch_sampling == "uniform":
        return torch.from_numpy(positions)
    # the detail of the patch at each cell's corner stands for the cell's positions
    integral = np.pad(gradient_energy(image).astype(np.float64), ((1, 0), (1, 0))).cumsum(0).cumsum(1)
    y0 = np.arange(rows)[:, None] * DETAIL_GRID
    x0 = np.arange(cols)[None, :] * DETAIL_GRID
    energy = integral[y0 + p, x0 + p] - integral[y0, x0 + p] - integral[y0 + p, x0] + integral[y0, x0]
    energy = np.maximum(energy, 0)
    return torch.from_numpy((energy + DETAIL_FLOOR * max(float(energy.mean()), 1e-6)) * positions)


def _scores(outputs: list[np.ndarray], targets: list[np.ndarray], shave: int) -> tuple[float, float]:
    """Mean PSNR (capped, so identical crops do not make it infinite) and mean SSIM."""
    if not outputs:
        return float("nan"), float("nan")
    p = [min(psnr(o, t, shave), PSNR_CAP) for o, t in zip(outputs, targets)]
    return float(np.mean(p)), float(np.mean([ssim(o, t, shave) for o, t in zip(outputs, targets)]))
