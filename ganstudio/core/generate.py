"""Generation from a trained GAN: images from seeds, grids, truncation, interpolation, GIFs.

Each image is defined by (model file, seed, truncation): its latent is drawn from a generator
seeded with ``seed`` alone, so an exported PNG's metadata reproduces it exactly.
"""
from __future__ import annotations

import io
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import nn

from .checkpoint import (build_module, find_checkpoint, latest_checkpoint, read_checkpoint, read_newest,
                         run_folder)
from .config import MAX_SEED
from .data import make_grid, to_uint8_images
from .errors import CheckpointError, ConfigError, ExportError
from .export import atomic_write_bytes, file_sha256, provenance, read_png_metadata, save_png, unique_path
from .models import build_gan, latent_shape

#: the most images one grid holds (a 64-px model's 1024 make a 2048 px square)
MAX_GRID_IMAGES = 1024


@dataclass
class LoadedGenerator:
    """A generator ready for inference, with the facts provenance needs."""
    model: nn.Module
    preset: str
    nz: int
    channels: int
    size: int
    step: int
    path: Path           # the checkpoint file
    sha256: str          # of that file
    device: torch.device

    @property
    def latent_shape(self) -> tuple[int, ...]:
        return latent_shape(self.preset, self.nz)


def load_generator(path: str | os.PathLike, device: torch.device | str = "cpu") -> LoadedGenerator:
    """Load the EMA generator (or G) from a run directory or a GAN checkpoint file, never unpickling."""
    if Path(path).is_dir() and latest_checkpoint(Path(path)) is not None:
        ckpt = read_newest(path)[0]   # a damaged newest checkpoint is passed over, as resume does
    else:
        ckpt = read_checkpoint(find_checkpoint(path))
    file = ckpt.path
    info = ckpt.meta.get("model_info", {})
    if info.get("kind") != "gan":
        raise CheckpointError(f"{file} holds a {ckpt.meta.get('task', 'unknown')!r} model, not a GAN generator.")
    name = "G_ema" if ckpt.group("model/G_ema") else "G"
    try:
        G = build_module(ckpt, name, lambda: build_gan(info["preset"], nz=info["nz"], width=info.get("width"),
                                                        channels=info["channels"])[0])
    except (ConfigError, KeyError, TypeError, ValueError) as e:
        raise CheckpointError(f"{file} describes a generator this version cannot build: {e}") from e
    device = torch.device(device)
    G = G.to(device).eval().requires_grad_(False)
    return LoadedGenerator(G, info["preset"], info["nz"], info["channels"], info["size"], ckpt.step,
                           file, file_sha256(file), device)


def check_seed(seed: int) -> int:
    if not 0 <= seed <= MAX_SEED:
        raise ConfigError(f"Seeds are whole numbers from 0 to {MAX_SEED:,}; got {seed}.")
    return int(seed)


def latent_for_seed(gen: LoadedGenerator, seed: int) -> torch.Tensor:
    """The latent vector of one seed (independent of batch composition)."""
    g = torch.Generator().manual_seed(check_seed(seed))
    return torch.randn(1, *gen.latent_shape, generator=g)


@torch.no_grad()
def generate_latents(gen: LoadedGenerator, latents: torch.Tensor, truncation: float = 1.0,
                     batch_size: int = 64) -> np.ndarray:
    """uint8 [N,H,W,C] images for latents; truncation < 1 scales latents toward the mean (less variety, more typical)."""
    if not 0 < truncation <= 2:
        raise ConfigError(f"truncation must be in (0, 2], got {truncation}.")
    out = []
    for i in range(0, len(latents), batch_size):
        z = latents[i:i + batch_size].to(gen.device) * truncation
        out.append(to_uint8_images(gen.model(z).float().clamp(-1, 1)))
    return np.concatenate(out) if out else np.zeros((0, gen.size, gen.size, gen.channels), np.uint8)


def generate_seeds(gen: LoadedGenerator, seeds: list[int], truncation: float = 1.0) -> np.ndarray:
    if not seeds:
        raise ConfigError("Ask for at least one image.")
    return generate_latents(gen, torch.cat([latent_for_seed(gen, s) for s in seeds]), truncation)


def interpolate(gen: LoadedGenerator, seed_a: int, seed_b: int, frames: int, truncation: float = 1.0,
                spherical: bool = True) -> np.ndarray:
    """``frames`` images walking from seed_a's latent to seed_b's (spherical interpolation by default,
    which keeps the latent's norm typical of the Gaussian instead of shrinking mid-way)."""
    if frames < 2:
        raise ConfigError(f"An interpolation needs at least 2 frames, got {frames}.")
    a, b = latent_for_seed(gen, seed_a).flatten(), latent_for_seed(gen, seed_b).flatten()
    t = torch.linspace(0, 1, frames)
    if spherical:
        omega = torch.arccos(torch.clamp(torch.dot(a / a.norm(), b / b.norm()), -1, 1))
        if omega.abs() < 1e-6:
            z = torch.stack([(1 - s) * a + s * b for s in t])
        else:
            so = torch.sin(omega)
            z = torch.stack([(torch.sin((1 - s) * omega) / so) * a + (torch.sin(s * omega) / so) * b for s in t])
    else:
        z = torch.stack([(1 - s) * a + s * b for s in t])
    return generate_latents(gen, z.view(frames, *gen.latent_shape), truncation)


def image_provenance(gen: LoadedGenerator, *, seed: int | None = None, truncation: float = 1.0,
                     **extra: object) -> dict[str, str]:
    # "run" names the training run the checkpoint belongs to (its folder's name, not its whole path,
    # which could say more about the user's disk than they mean to share), so that the model file is
    # found again among the runs: every run has a "step-00000060.safetensors"
    return provenance(model=gen.path.name, run=run_name(gen.path), model_sha256=gen.sha256, preset=gen.preset,
                      step=gen.step, seed=seed, truncation=truncation, **extra)


def run_name(checkpoint: Path) -> str | None:
    """The run folder's name of a checkpoint inside ``RUN/checkpoints/``, else None."""
    run = run_folder(checkpoint)
    return run.name if run is not None else None


def find_model_for(meta: dict[str, str], runs_dirs: list[Path]) -> Path | None:
    """The checkpoint file an exported PNG names (``run`` and ``model``) in one of ``runs_dirs``,
    when its content is the one the PNG was made with (same sha256); None when it is not there."""
    run, model, sha = meta.get("run"), meta.get("model"), meta.get("model_sha256")
    if not (run and model and sha) or "/" in run + model or "\\" in run + model:
        return None
    for root in runs_dirs:
        candidate = Path(root) / run / "checkpoints" / model
        try:
            if candidate.is_file() and file_sha256(candidate) == sha:
                return candidate
        except OSError:
            continue
    return None


def seed_image_name(seed: int, prefix: str = "seed") -> str:
    """The file name ``export_images`` gives a seed's image: ``seed-00042.png``."""
    return f"{prefix}-{seed:05d}.png"


def frame_name(index: int) -> str:
    """The file name ``export_frames`` gives an interpolation's frame: ``frame-0007.png``."""
    return f"frame-{index:04d}.png"


def grid_name(first_seed: int, count: int) -> str:
    """The file name of a grid of ``count`` seeds from ``first_seed``: ``grid-seed0-n16.png``."""
    return f"grid-seed{first_seed}-n{count}.png"


def interpolation_name(seed_a: int, seed_b: int) -> str:
    """The name of an interpolation's GIF (with ``.gif``) or of a folder of its frames (without)."""
    return f"interpolation-{seed_a}-{seed_b}"


def export_images(gen: LoadedGenerator, seeds: list[int], out_dir: str | os.PathLike, *, truncation: float = 1.0,
                  images: np.ndarray | None = None, overwrite: bool = False, prefix: str = "seed") -> list[Path]:
    """One PNG per seed (``seed-00042.png``) with provenance; existing names get a numbered suffix
    unless ``overwrite``."""
    images = generate_seeds(gen, seeds, truncation) if images is None else images
    out_dir = Path(out_dir)
    paths = []
    for seed, im in zip(seeds, images):
        target = out_dir / seed_image_name(seed, prefix)
        target = target if overwrite else unique_path(target)
        paths.append(save_png(im, target, image_provenance(gen, seed=seed, truncation=truncation), overwrite=overwrite))
    return paths


def export_grid(gen: LoadedGenerator, seeds: list[int], path: str | os.PathLike, *, truncation: float = 1.0,
                nrow: int | None = None, images: np.ndarray | None = None, overwrite: bool = False) -> Path:
    images = generate_seeds(gen, seeds, truncation) if images is None else images
    meta = image_provenance(gen, truncation=truncation, seeds=",".join(map(str, seeds)))
    return save_png(make_grid(images, nrow=nrow), path, meta, overwrite=overwrite)


def gif_frame_ms(fps: float) -> int:
    """How long each frame shows at ``fps``, as a GIF can store it: whole hundredths of a second, at
    least 2 (viewers play shorter delays at 10 fps), so 50 fps at most; 12 fps -> 80 ms (12.5 fps).
    The app's preview plays at the same rate, so it shows what the GIF will do."""
    if fps <= 0:
        raise ConfigError(f"The speed must be positive, got {fps} fps.")
    return 10 * max(2, round(100 / fps))


def export_gif(frames: np.ndarray, path: str | os.PathLike, *, fps: float = 12.0, loop: bool = True,
               bounce: bool = True, overwrite: bool = False) -> Path:
    """An animated GIF of uint8 frames; ``bounce`` plays forward then backward for a seamless loop."""
    seq = list(frames) + (list(frames[-2:0:-1]) if bounce and len(frames) > 2 else [])
    pil = [Image.fromarray(f[:, :, 0] if f.shape[2] == 1 else f) for f in seq]
    buf = io.BytesIO()
    pil[0].save(buf, format="GIF", save_all=True, append_images=pil[1:], duration=gif_frame_ms(fps),
                loop=0 if loop else 1, disposal=2)
    return atomic_write_bytes(Path(path), buf.getvalue(), overwrite=overwrite)


def export_frames(gen: LoadedGenerator, frames: np.ndarray, out_dir: str | os.PathLike, seed_a: int, seed_b: int,
                  truncation: float = 1.0, overwrite: bool = False) -> list[Path]:
    out_dir = Path(out_dir)
    paths = []
    for i, f in enumerate(frames):
        meta = image_provenance(gen, truncation=truncation, interpolation=f"{seed_a}->{seed_b}",
                                frame=f"{i}/{len(frames) - 1}")
        paths.append(save_png(f, out_dir / frame_name(i), meta, overwrite=overwrite))
    return paths


def reproduce_from_png(png_path: str | os.PathLike, model_path: str | os.PathLike | None = None,
                       device: str = "cpu") -> tuple[np.ndarray, dict[str, str], LoadedGenerator]:
    """Regenerate the image an exported PNG describes (its seed, truncation and model).

    ``model_path`` defaults to the loaded model the caller already has; the model's hash must match
    the PNG's, otherwise the image could not be the same.
    """
    meta = read_png_metadata(png_path)
    if "seed" not in meta or "model_sha256" not in meta:
        raise ExportError(f"{png_path} has no GAN Studio generation metadata (seed and model).")
    if model_path is None:
        raise ExportError(f"{png_path} was made with the model {meta.get('model')}; open that model first.")
    gen = load_generator(model_path, device)
    if gen.sha256 != meta["model_sha256"]:
        raise ExportError(f"{png_path} was made by a different model file ({meta.get('model')}, "
                          f"sha256 {meta['model_sha256'][:12]}...), not {gen.path.name}.")
    images = generate_seeds(gen, [int(meta["seed"])], float(meta.get("truncation", 1.0)))
    return images[0], meta, gen
