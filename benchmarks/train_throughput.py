"""Training throughput: GAN Studio's trainer against a plain PyTorch script, interleaved.

The reference is what a typical user script does: torchvision ImageFolder + DataLoader (decoding
every image every epoch), fp32, default memory layout, the same network, loss, optimiser and batch
size. Both train on the same synthetic folder, alternating in rounds so that machine noise hits
both alike; the figure is steady-state images per second (warm-up excluded) and their ratio.

    python benchmarks/train_throughput.py                # both presets, ~3 minutes
    python benchmarks/train_throughput.py --preset dcgan-64 --seconds 20 --rounds 2
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from ganstudio.core import events as ev
from ganstudio.core.config import TrainConfig
from ganstudio.core.gan import GanOptions
from ganstudio.core.models import build_gan, get_preset, latent_shape
from ganstudio.core.trainer import train

TARGETS = {"dcgan-64": 2.0, "seed-dcgan-16": 3.5}
WARMUP_S = 3.0


def make_folder(root: Path, n: int, seed: int = 0) -> Path:
    """n photos-like images of mixed sizes (96-160 px) under root/class0 (ImageFolder wants a class)."""
    d = root / "class0"
    d.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    for i in range(n):
        w, h = (int(x) for x in rng.integers(96, 160, size=2))
        yy, xx = np.mgrid[0:h, 0:w]
        base = rng.uniform(0, 255, size=3)
        arr = base + 60 * np.sin(xx[..., None] / rng.uniform(3, 20) + yy[..., None] / rng.uniform(3, 20) + rng.uniform(0, 6, 3))
        arr = np.clip(arr + rng.normal(0, 10, arr.shape), 0, 255).astype(np.uint8)
        Image.fromarray(arr).save(d / f"{i:04d}.jpg", quality=92)
    return root


def reference_loop(folder: Path, preset: str, batch: int, seconds: float, threads: int) -> float:
    """A plain DCGAN training script; returns steady-state img/s."""
    import torchvision.transforms as T
    from torch.utils.data import DataLoader
    from torchvision.datasets import ImageFolder

    torch.set_num_threads(threads)
    size = get_preset(preset).size
    tf = T.Compose([T.Resize(size), T.CenterCrop(size), T.ToTensor(), T.Normalize([0.5] * 3, [0.5] * 3)])
    loader = DataLoader(ImageFolder(str(folder), transform=tf), batch_size=batch, shuffle=True, drop_last=True,
                        num_workers=0)
    torch.manual_seed(0)
    G, D = build_gan(preset)
    opt_g = torch.optim.Adam(G.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(D.parameters(), lr=2e-4, betas=(0.5, 0.999))
    crit = torch.nn.BCEWithLogitsLoss()
    zshape = latent_shape(preset)
    t0 = time.perf_counter()
    counted, t_start = 0, None
    while True:
        for real, _ in loader:
            b = real.size(0)
            z = torch.randn(b, *zshape)
            fake = G(z)
            loss_d = crit(D(real), torch.ones(b, 1)) + crit(D(fake.detach()), torch.zeros(b, 1))
            opt_d.zero_grad()
            loss_d.backward()
            opt_d.step()
            loss_g = crit(D(fake), torch.ones(b, 1))
            opt_g.zero_grad()
            loss_g.backward()
            opt_g.step()
            now = time.perf_counter()
            if t_start is None and now - t0 >= WARMUP_S:
                t_start = now
            elif t_start is not None:
                counted += b
                if now - t_start >= seconds:
                    return counted / (now - t_start)


def ganstudio_trainer(folder: Path, preset: str, batch: int, seconds: float, threads: int, precision: str,
                      run_root: Path) -> float:
    """The trainer with its defaults (EMA, previews, checkpoints on); returns steady-state img/s."""
    samples: list[tuple[float, int]] = []

    def observer(e):
        if isinstance(e, ev.StepEnded):
            samples.append((e.elapsed_s, e.step))

    run = Path(tempfile.mkdtemp(dir=run_root))
    cfg = TrainConfig(steps=None, minutes=(seconds + WARMUP_S) / 60, batch_size=batch, threads=threads,
                      precision=precision, checkpoint_every=10_000)
    train(cfg, GanOptions(str(folder), preset), run / "run", observers=[observer])
    start = next((s for s in samples if s[0] >= WARMUP_S), samples[0])
    end = samples[-1]
    return (end[1] - start[1]) * batch / (end[0] - start[0])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--preset", action="append", help="preset(s) to measure (default: dcgan-64 and seed-dcgan-16)")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--images", type=int, default=512)
    ap.add_argument("--seconds", type=float, default=15.0, help="measured seconds per side per round")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--threads", type=int, default=torch.get_num_threads())
    ap.add_argument("--precision", default="auto")
    ap.add_argument("--check", action="store_true", help="exit 1 if a target is missed")
    args = ap.parse_args(argv)
    presets = args.preset or ["dcgan-64", "seed-dcgan-16"]
    tmp = Path(tempfile.mkdtemp(prefix="ganstudio-bench-"))
    folder = make_folder(tmp / "data", args.images)
    print(f"{args.images} synthetic JPEGs, batch {args.batch}, {args.threads} threads, {args.rounds} interleaved rounds "
          f"x {args.seconds:.0f} s per side", flush=True)
    rows, ok = [], True
    for preset in presets:
        ref, ours = [], []
        for r in range(args.rounds):
            ref.append(reference_loop(folder, preset, args.batch, args.seconds, args.threads))
            ours.append(ganstudio_trainer(folder, preset, args.batch, args.seconds, args.threads, args.precision, tmp))
            print(f"  {preset} round {r + 1}: plain {ref[-1]:7.0f} img/s, GAN Studio {ours[-1]:7.0f} img/s", flush=True)
        ratio = statistics.median(o / p for o, p in zip(ours, ref))
        target = TARGETS.get(preset)
        passed = target is None or ratio >= target
        ok &= passed
        rows.append((preset, statistics.median(ref), statistics.median(ours), ratio, target, passed))
    print(f"\n{'preset':<15}{'plain img/s':>12}{'ours img/s':>12}{'ratio':>8}{'target':>8}")
    for preset, r, o, ratio, target, passed in rows:
        print(f"{preset:<15}{r:>12.0f}{o:>12.0f}{ratio:>7.2f}x{'' if target is None else f'>={target}':>8}"
              f"  {'ok' if passed else 'MISSED'}")
    return 0 if ok or not args.check else 1


if __name__ == "__main__":
    sys.exit(main())
