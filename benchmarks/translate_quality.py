"""Translate quality: pix2pix on pairs_cjk_64 (Noto Sans -> AR PL UKai hanzi), trained for a fixed time.

Trains through the one trainer (the same task code as the app) for ``--minutes`` on this machine,
then loads the run's final checkpoint with ``load_translator`` and measures, on the held-out 10%
(every 10th pair in name order: the task's own validation split):

- L1: mean absolute error in [0, 1] against the Kai targets, and SSIM (Gaussian 11x11, sigma 1.5),
- beside the identity baseline (output = input: L1 ~0.23, SSIM ~0.18) and the ratio of the L1s,
- the same L1 on as many training pairs (memorising shows as train L1 << test L1),
- inference speed in output megapixels per second on a 512x512 image.

Target (issue 5): L1 <= 0.35x the identity baseline and SSIM >= 0.62 after 10 minutes on the 2-core
CPU. ``--check`` exits with status 1 when it is missed.

    python benchmarks/translate_quality.py                  # the 10-minute run
    python benchmarks/translate_quality.py --minutes 0.3    # a smoke run (far from the target)
    python benchmarks/translate_quality.py --set zoom=0.1 --set ngf=48   # try other options
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ganstudio.core.config import TrainConfig  # noqa: E402
from ganstudio.core.trainer import train  # noqa: E402
from ganstudio.core.translate import metrics  # noqa: E402
from ganstudio.core.translate.data import PairedFolders  # noqa: E402
from ganstudio.core.translate.inference import load_translator, translate_array  # noqa: E402
from ganstudio.core.translate.task import TranslateOptions, validation_split  # noqa: E402

DEFAULT_DATA = Path.home() / ".cache" / "ganstudio-data" / "pairs_cjk_64"
TARGET_RATIO = 0.35        # test L1 / identity L1
TARGET_SSIM = 0.62
SPEED_SIDE = 512           # inference speed is measured on SPEED_SIDE x SPEED_SIDE images
SPEED_REPEATS = 3

#: the benchmark's data-specific choices; everything else is TranslateOptions' defaults
BENCH_OPTIONS = dict(mode="paired", load_size=64, crop_size=64,
                     flip=False,          # glyphs are not mirror-symmetric: mirrored Kai is not Kai
                     val_fraction=0.1, val_max=1_000_000)


def _parse_value(text: str):
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def _overrides(pairs: list[str]) -> dict:
    out = {}
    for item in pairs:
        key, sep, value = item.partition("=")
        if not sep:
            raise SystemExit(f"--set/--config take key=value, got {item!r}")
        out[key] = _parse_value(value)
    return out


def _as_batch(images: list[torch.Tensor]) -> torch.Tensor:
    return torch.stack(images).float() / 255


def _translate_all(model, images: list[torch.Tensor]) -> torch.Tensor:
    outs = [translate_array(model, t.permute(1, 2, 0).numpy()) for t in images]
    return torch.stack([torch.from_numpy(o).permute(2, 0, 1) for o in outs]).float() / 255


def _scores(out: torch.Tensor, target: torch.Tensor) -> tuple[float, float]:
    return float(metrics.l1(out, target).mean()), float(metrics.ssim(out, target).mean())


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", type=Path, default=DEFAULT_DATA, help="folder holding A_sans/ and B_kai/")
    p.add_argument("--minutes", type=float, default=10.0, help="training time (default 10)")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--threads", type=int, default=2, help="CPU threads (default 2)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--run", type=Path, help="run folder to keep (default: a temporary folder)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="a TranslateOptions field")
    p.add_argument("--config", action="append", default=[], metavar="KEY=VALUE", help="a TrainConfig field")
    p.add_argument("--check", action="store_true", help="exit 1 if the target is missed")
    args = p.parse_args(argv)

    a_dir, b_dir = args.data / "A_sans", args.data / "B_kai"
    if not a_dir.is_dir() or not b_dir.is_dir():
        print(f"{args.data} lacks A_sans/ and B_kai/ (build it with ../shared/datasets/build.sh)", file=sys.stderr)
        return 2
    torch.set_num_threads(args.threads)
    options = TranslateOptions(a_dir=str(a_dir), b_dir=str(b_dir), **{**BENCH_OPTIONS, **_overrides(args.set)})
    big = 10 ** 9   # no previews, validations or checkpoints inside the timed run (one at the end)
    config = TrainConfig(**{**dict(task="translate", steps=None, minutes=args.minutes, batch_size=args.batch_size,
                                   threads=args.threads, seed=args.seed, log_every=50, sample_every=big,
                                   eval_every=big, checkpoint_every=big), **_overrides(args.config)})

    with tempfile.TemporaryDirectory(prefix="translate-bench-") as tmp:
        run_dir = args.run or Path(tmp) / "run"
        t0 = time.perf_counter()
        finished = train(config, options, run_dir)
        wall = time.perf_counter() - t0
        if finished.reason not in ("completed", "time-limit"):
            print(f"training ended: {finished.reason} {finished.message}", file=sys.stderr)
            return 2
        records = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
        speed = np.mean([r["img_per_s"] for r in records[len(records) // 4:]]) if records else float("nan")
        model = load_translator(run_dir, prefer_best=False)

        data = PairedFolders(a_dir, b_dir, load_size=options.load_size, channels=options.channels)
        train_idx, val_idx = validation_split(len(data), options.val_fraction, options.val_max)
        val_a, val_b = [data.a[i] for i in val_idx], [data.b[i] for i in val_idx]
        seen = train_idx[:: max(1, len(train_idx) // len(val_idx))][:len(val_idx)]
        test_l1, test_ssim = _scores(_translate_all(model, val_a), _as_batch(val_b))
        base_l1, base_ssim = _scores(_as_batch(val_a), _as_batch(val_b))
        train_l1, _ = _scores(_translate_all(model, [data.a[i] for i in seen]), _as_batch([data.b[i] for i in seen]))

        mosaic = torch.cat([torch.cat(val_a[r * 8:(r + 1) * 8], dim=2) for r in range(8)], dim=1)
        image = torch.nn.functional.interpolate(mosaic[None].float(), size=(SPEED_SIDE, SPEED_SIDE))[0]
        image = image.round().to(torch.uint8).permute(1, 2, 0).numpy()
        translate_array(model, image)  # warm-up (kernel selection)
        t = time.perf_counter()
        for _ in range(SPEED_REPEATS):
            translate_array(model, image)
        mps = SPEED_REPEATS * SPEED_SIDE ** 2 / 1e6 / (time.perf_counter() - t)

    ratio = test_l1 / base_l1
    epochs = finished.step * args.batch_size / len(train_idx)
    print(f"\npix2pix on {args.data.name}: {len(train_idx)} training / {len(val_idx)} held-out pairs, "
          f"{args.minutes:g} min on {args.threads} threads ({wall:.0f} s wall with loading)")
    print(f"steps {finished.step}, {epochs:.1f} epochs, {speed:.0f} img/s; "
          f"options: {json.dumps({k: v for k, v in dataclasses.asdict(options).items() if k not in ('a_dir', 'b_dir')})}")
    print(f"\n{'':24}{'L1':>8}{'SSIM':>8}")
    print(f"{'identity baseline':24}{base_l1:8.4f}{base_ssim:8.4f}")
    print(f"{'pix2pix, held-out':24}{test_l1:8.4f}{test_ssim:8.4f}")
    print(f"{'pix2pix, training pairs':24}{train_l1:8.4f}")
    print(f"\nL1 ratio to baseline {ratio:.3f} (target <= {TARGET_RATIO}), SSIM {test_ssim:.3f} "
          f"(target >= {TARGET_SSIM}), test/train L1 {test_l1 / max(train_l1, 1e-9):.2f}")
    print(f"inference at {SPEED_SIDE}x{SPEED_SIDE}: {mps:.2f} MP/s ({model.device.type}, "
          f"{'fp32' if model.autocast_dtype is None else str(model.autocast_dtype).replace('torch.', '')})")
    met = ratio <= TARGET_RATIO and test_ssim >= TARGET_SSIM
    print("target met" if met else "target missed")
    return 1 if args.check and not met else 0


if __name__ == "__main__":
    sys.exit(main())
