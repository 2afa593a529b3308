"""Cross-validate an upscaler recipe: every photo is held out once, so the gain over bicubic is
measured on all of them instead of on one fixed group of four.

    .venv/bin/python scripts/crossval_upscaler.py --steps 1300            # x2, 6 folds (~25 min on 2 cores)
    .venv/bin/python scripts/crossval_upscaler.py --steps 3 --folds 2     # checks the script

Why: with 23 photos, the gain of one model over bicubic ranges from under +1 dB to over +4 dB from
photo to photo, so the mean over the 4 photos the bundled models hold out (BytheWater, FallenLeaf,
LadyBird, Wood: ``metrics.split_holdout``) says as much about those 4 photos as about the model.
Fold ``f`` holds out the photos whose index in the sorted list is ``f`` modulo ``--folds``; with 6
folds, fold 2 is exactly the bundled models' held-out group. Each fold trains the same recipe for the
same number of steps (not minutes: the shared CPU's speed does not change the result) on the other
photos, and is measured with the protocol of ``metrics.evaluate_crops``, photo by photo.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from ganstudio.core.trainer import train  # noqa: E402
from ganstudio.core.upscale.community import load_run_upscaler  # noqa: E402
from ganstudio.core.upscale.metrics import evaluate_crops  # noqa: E402
from ganstudio.core.upscale.task import UpscaleOptions, default_train_config  # noqa: E402

sys.path.insert(0, str(REPO / "scripts"))
from train_bundled_upscalers import DEFAULT_DATA, MAX_SIDE, PRESCALE, link_training_folder  # noqa: E402

PHOTO_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, default=DEFAULT_DATA, help="the photos folder")
    p.add_argument("--scale", type=int, default=2, choices=[2, 4])
    p.add_argument("--folds", type=int, default=6)
    p.add_argument("--only", type=int, nargs="*", default=None, help="run these folds only")
    p.add_argument("--steps", type=int, default=1300, help="training steps per fold")
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="UpscaleOptions field (e.g. features=64); repeatable")
    p.add_argument("--config", action="append", default=[], metavar="KEY=VALUE",
                   help="TrainConfig field (e.g. lr_g=1e-3); repeatable")
    p.add_argument("--extra", type=Path, default=None,
                   help="a folder of further training photos, added to every fold and never held out")
    p.add_argument("--json", type=Path, default=None, help="also write the per-photo results here")
    args = p.parse_args(argv)

    photos = sorted((q for q in args.data.iterdir() if q.suffix.lower() in PHOTO_SUFFIXES), key=lambda q: q.name)
    if len(photos) < args.folds:
        raise SystemExit(f"{len(photos)} photos in {args.data}: fewer than {args.folds} folds")
    extra = sorted((q for q in args.extra.iterdir() if q.suffix.lower() in PHOTO_SUFFIXES),
                   key=lambda q: q.name) if args.extra else []
    if extra:
        print(f"{len(extra)} extra training photos from {args.extra}")
    recipe = {"arch": "compact", "patch_size": 64, "patch_sampling": "detail"}
    recipe.update({k: json.loads(v) if v[:1].isdigit() or v in ("true", "false") else v
                   for k, v in (s.split("=", 1) for s in args.set)})
    config_over = {"batch_size": 32, "lr_g": 1e-3}
    config_over.update({k: json.loads(v) for k, v in (s.split("=", 1) for s in args.config)})
    print(f"x{args.scale}, {args.folds} folds, {args.steps} steps each, options {recipe}, config {config_over}")

    rows: list[dict] = []
    folds = args.only if args.only is not None else range(args.folds)
    with tempfile.TemporaryDirectory() as tmp:
        for f in folds:
            held = [q for i, q in enumerate(photos) if i % args.folds == f]
            kept = [q for i, q in enumerate(photos) if i % args.folds != f]
            train_dir = link_training_folder(kept + extra, Path(tmp) / f"fold{f}" / "photos")
            run_dir = Path(tmp) / f"fold{f}" / "run"
            options = UpscaleOptions(**{"data": str(train_dir), "scale": args.scale, "prescale": PRESCALE,
                                        "max_side": MAX_SIDE, "val_images": 2, "val_crop": 128, "val_crops": 8,
                                        **recipe})
            every = max(1, args.steps // 2)
            config = default_train_config(steps=args.steps, minutes=None, seed=0, threads=args.threads,
                                          eval_every=every, sample_every=every, checkpoint_every=every,
                                          log_every=50, **config_over)
            start = time.perf_counter()
            fin = train(config, options, run_dir)
            if fin.reason != "completed":
                raise SystemExit(f"fold {f} ended with {fin.reason}: {fin.message}")
            model = load_run_upscaler(run_dir)
            for q in held:
                r = evaluate_crops(model, [q], args.scale)
                rows.append({"fold": f, "photo": q.stem, "crops": r.crops, "psnr": r.psnr,
                             "psnr_bicubic": r.psnr_bicubic, "gain": r.psnr_gain, "ssim": r.ssim,
                             "ssim_bicubic": r.ssim_bicubic})
                print(f"fold {f}  {q.stem:14s} bicubic {r.psnr_bicubic:6.2f} dB  model {r.psnr:6.2f} dB  "
                      f"gain {r.psnr_gain:+.2f}", flush=True)
            fold_rows = [r for r in rows if r["fold"] == f]
            print(f"fold {f}: mean gain {sum(r['gain'] for r in fold_rows) / len(fold_rows):+.2f} dB "
                  f"({time.perf_counter() - start:.0f} s)", flush=True)

    crops = sum(r["crops"] for r in rows)
    mean = lambda key: sum(r[key] * r["crops"] for r in rows) / crops  # noqa: E731 (crop-weighted, as evaluate_crops)
    gains = sorted(r["gain"] for r in rows)
    print(f"\nall {len(rows)} photos held out once ({crops} crops): model {mean('psnr'):.2f} dB, bicubic "
          f"{mean('psnr_bicubic'):.2f} dB, gain {mean('psnr') - mean('psnr_bicubic'):+.2f} dB; SSIM {mean('ssim'):.4f} vs "
          f"{mean('ssim_bicubic'):.4f}; per-photo gains from {gains[0]:+.2f} to {gains[-1]:+.2f}, "
          f"median {gains[len(gains) // 2]:+.2f}")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
