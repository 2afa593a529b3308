"""Does the fast precision hurt training? Same run, same seed, fp32 against bf16 autocast.

Trains one preset on the bundled demo set twice with identical settings but precision, then
compares: the loss curves (mean of each quarter of the run), the final sample grids (written side
by side to docs/benchmarks/precision-fp32-vs-bf16.png), and the sliced Wasserstein distance of
generated patches to real ones (lower is better; see ganstudio/core/quality.py), plus the speed.

    python benchmarks/precision_quality.py --preset dcgan-32 --steps 600
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from ganstudio.core.config import TrainConfig
from ganstudio.core.data import Preprocess, load_dataset, make_grid
from ganstudio.core.export import save_png
from ganstudio.core.gan import GanOptions
from ganstudio.core.generate import generate_seeds, load_generator
from ganstudio.core.models import get_preset
from ganstudio.core.quality import sliced_wasserstein
from ganstudio.core.resources import demo_dataset_dir
from ganstudio.core.trainer import train


def run(precision: str, preset: str, steps: int, threads: int, root: Path) -> dict:
    cfg = TrainConfig(steps=steps, batch_size=64, precision=precision, threads=threads, seed=1,
                      sample_every=steps, checkpoint_every=steps)
    t0 = time.perf_counter()
    fin = train(cfg, GanOptions(str(demo_dataset_dir()), preset, hflip=True), root / precision)
    secs = time.perf_counter() - t0
    records = [json.loads(x) for x in (root / precision / "metrics.jsonl").read_text().splitlines()]
    quarters = np.array_split(np.array([[r["loss_d"], r["loss_g"]] for r in records]), 4)
    gen = load_generator(fin.checkpoint)
    samples = generate_seeds(gen, list(range(256)))
    return {"seconds": secs, "quarters": [q.mean(0).tolist() for q in quarters], "samples": samples}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--preset", default="dcgan-32")
    ap.add_argument("--steps", type=int, default=600)
    ap.add_argument("--threads", type=int, default=torch.get_num_threads())
    ap.add_argument("--out", default="docs/benchmarks/precision-fp32-vs-bf16.png")
    args = ap.parse_args(argv)
    root = Path(tempfile.mkdtemp(prefix="ganstudio-precision-"))
    size = get_preset(args.preset).size
    real = load_dataset(demo_dataset_dir(), Preprocess(size=size)).preview_images(256)
    results = {p: run(p, args.preset, args.steps, args.threads, root) for p in ("fp32", "bf16")}
    print(f"{args.preset}, {args.steps} steps, batch 64, seed 1, demo set")
    print(f"{'':6}{'seconds':>9}  {'loss D / G by quarter of the run':<44}{'SWD':>8}")
    for p, r in results.items():
        q = "  ".join(f"{d:.2f}/{g:.2f}" for d, g in r["quarters"])
        print(f"{p:6}{r['seconds']:>9.1f}  {q:<44}{sliced_wasserstein(real, r['samples']):>8.1f}")
    print(f"{'real':6}{'':>9}  {'(real vs other real images: the floor)':<44}"
          f"{sliced_wasserstein(real[:128], real[128:]):>8.1f}")
    print(f"speed-up bf16 vs fp32: {results['fp32']['seconds'] / results['bf16']['seconds']:.2f}x")
    grids = [make_grid(results[p]["samples"][:64], nrow=8) for p in ("fp32", "bf16")]
    gap = np.full((grids[0].shape[0], 12, grids[0].shape[2]), 255, np.uint8)
    out = Path(args.out)
    save_png(np.concatenate([grids[0], gap, grids[1]], axis=1), out, {"left": "fp32", "right": "bf16"}, overwrite=True)
    print(f"sample grids (left fp32, right bf16): {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
