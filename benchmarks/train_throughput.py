"""Training throughput: GAN Studio's trainer against a plain PyTorch script, interleaved.

The reference is what a typical user script does: torchvision ImageFolder + DataLoader (decoding
every image every epoch), fp32, default memory layout, the same network, loss, optimiser and batch
size. Both train on the same synthetic folder, alternating in rounds so that machine noise hits
both alike; the figure is steady-state images per second (warm-up excluded) and their ratio.

A third side, "known", is the combination the issue measured before the project existed (the same
plain script with the images decoded once into memory, channels_last and bf16 autocast where the CPU
has it): the issue's 3.64x for the seed model was that combination on this machine then, so its
ratio today shows how much of a shortfall is the machine's and how far GAN Studio goes past it.

GAN Studio's side runs in a process of its own, one per round, as it does in the app and the CLI: the
trainer asks the C library to keep freed memory for reuse (``device.keep_freed_memory``), a
process-wide setting that must not reach the plain script, which keeps the defaults a user's script
has.

    python benchmarks/train_throughput.py                # both presets, ~3 minutes
    python benchmarks/train_throughput.py --preset dcgan-64 --seconds 20 --rounds 2
"""
from __future__ import annotations

import argparse
import statistics
import subprocess
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


def reference_loop(folder: Path, preset: str, batch: int, seconds: float, threads: int, known: bool = False) -> float:
    """A plain DCGAN training script; returns steady-state img/s. ``known``: the same script with the
    issue's known combination (images decoded once into memory, channels_last, bf16 autocast)."""
    import torchvision.transforms as T
    from torch.utils.data import DataLoader, TensorDataset
    from torchvision.datasets import ImageFolder

    torch.set_num_threads(threads)
    size = get_preset(preset).size
    tf = T.Compose([T.Resize(size), T.CenterCrop(size), T.ToTensor(), T.Normalize([0.5] * 3, [0.5] * 3)])
    dataset = ImageFolder(str(folder), transform=tf)
    layout = torch.contiguous_format
    if known:
        images = torch.stack([image for image, _ in dataset])
        dataset = TensorDataset(images, torch.zeros(len(images), dtype=torch.long))
        layout = torch.channels_last
    loader = DataLoader(dataset, batch_size=batch, shuffle=True, drop_last=True, num_workers=0)
    bf16 = known and torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported()
    torch.manual_seed(0)
    G, D = build_gan(preset)
    G, D = G.to(memory_format=layout), D.to(memory_format=layout)
    opt_g = torch.optim.Adam(G.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(D.parameters(), lr=2e-4, betas=(0.5, 0.999))
    crit = torch.nn.BCEWithLogitsLoss()
    zshape = latent_shape(preset)
    t0 = time.perf_counter()
    counted, t_start = 0, None
    while True:
        for real, _ in loader:
            b = real.size(0)
            real = real.contiguous(memory_format=layout)
            z = torch.randn(b, *zshape)
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                fake = G(z)
                d_real, d_fake = D(real), D(fake.detach())
            loss_d = crit(d_real.float(), torch.ones(b, 1)) + crit(d_fake.float(), torch.zeros(b, 1))
            opt_d.zero_grad()
            loss_d.backward()
            opt_d.step()
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                d_fake = D(fake)
            loss_g = crit(d_fake.float(), torch.ones(b, 1))
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
    """``trainer_here`` in a child process (see the module docstring); returns its img/s."""
    args = [sys.executable, str(Path(__file__).resolve()), "--child", preset, str(batch), str(seconds), str(threads),
            precision, str(folder), str(run_root)]
    proc = subprocess.run(args, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"GAN Studio's side failed:\n{proc.stderr[-2000:]}")
    return float(proc.stdout.strip().splitlines()[-1])


def trainer_here(folder: Path, preset: str, batch: int, seconds: float, threads: int, precision: str,
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
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--child"]:
        preset, batch, seconds, threads, precision, folder, run_root = argv[1:8]
        print(trainer_here(Path(folder), preset, int(batch), float(seconds), int(threads), precision, Path(run_root)))
        return 0
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--preset", action="append", help="preset(s) to measure (default: dcgan-64 and seed-dcgan-16)")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--images", type=int, default=512)
    ap.add_argument("--seconds", type=float, default=15.0, help="measured seconds per side per round")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--threads", type=int, default=torch.get_num_threads())
    ap.add_argument("--precision", default="auto")
    ap.add_argument("--no-known", dest="known", action="store_false",
                    help="leave out the third side (the issue's known combination)")
    ap.add_argument("--check", action="store_true", help="exit 1 if a target is missed")
    args = ap.parse_args(argv)
    presets = args.preset or ["dcgan-64", "seed-dcgan-16"]
    tmp = Path(tempfile.mkdtemp(prefix="ganstudio-bench-"))
    folder = make_folder(tmp / "data", args.images)
    print(f"{args.images} synthetic JPEGs, batch {args.batch}, {args.threads} threads, {args.rounds} interleaved rounds "
          f"x {args.seconds:.0f} s per side", flush=True)
    rows, ok = [], True
    for preset in presets:
        ref, known, ours = [], [], []
        for r in range(args.rounds):
            ref.append(reference_loop(folder, preset, args.batch, args.seconds, args.threads))
            if args.known:
                known.append(reference_loop(folder, preset, args.batch, args.seconds, args.threads, known=True))
            ours.append(ganstudio_trainer(folder, preset, args.batch, args.seconds, args.threads, args.precision, tmp))
            extra = f", known {known[-1]:7.0f} img/s" if known else ""
            print(f"  {preset} round {r + 1}: plain {ref[-1]:7.0f} img/s{extra}, GAN Studio {ours[-1]:7.0f} img/s",
                  flush=True)
        ratio = statistics.median(o / p for o, p in zip(ours, ref))
        known_ratio = statistics.median(k / p for k, p in zip(known, ref)) if known else None
        target = TARGETS.get(preset)
        passed = target is None or ratio >= target
        ok &= passed
        rows.append((preset, statistics.median(ref), statistics.median(ours), ratio, known_ratio, target, passed))
    print(f"\n{'preset':<15}{'plain img/s':>12}{'ours img/s':>12}{'ratio':>8}{'known':>8}{'target':>8}")
    for preset, r, o, ratio, known_ratio, target, passed in rows:
        known_col = "" if known_ratio is None else f"{known_ratio:.2f}x"
        print(f"{preset:<15}{r:>12.0f}{o:>12.0f}{ratio:>7.2f}x{known_col:>8}{'' if target is None else f'>={target}':>8}"
              f"  {'ok' if passed else 'MISSED'}")
    if args.known:
        print("known: the same plain script with images in memory, channels_last and bf16 (the issue's known "
              "combination), as a ratio to the plain script")
    return 0 if ok or not args.check else 1


if __name__ == "__main__":
    sys.exit(main())
