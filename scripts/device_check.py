"""Every check and measurement that needs a GPU, in one command that prints one table.

GAN Studio is built on a 2-core CPU; its CUDA and Apple MPS paths share the CPU's code but had
never been run there. A session that is lent a GPU gets a few minutes of it, so this script does
all of it in one go and keeps going past a failed check (each row says PASS, FAIL with the reason,
or a figure):

    .venv/bin/python scripts/device_check.py pack .devdata     # here, once: ~32 MiB of photos to carry
    python3 scripts/device_check.py run --sr-data .devdata      # there (CUDA); --quick: a smoke run
    .venv/bin/python scripts/device_check.py run --device cpu --quick   # the same checks on the CPU

What ``run`` checks, on ``--device`` (auto: CUDA, then MPS, then the CPU):

- gan: the dcgan-32 preset trains on the bundled emoji with finite losses, in the device's
  automatic precision and (CUDA) in fp16 with loss scaling; a run resumes where it stopped;
  training speed in images per second.
- pix2pix and cyclegan: both translate modes train on the bundled glyph pairs with finite losses;
  the trained pix2pix translator gives the same picture on the device as on the CPU (fp32), whole
  and in tiles.
- upscaler: an x2 upscaler trains on a few made-up pictures with finite losses and validates.
- upscale: the bundled x2 and x4 models give the CPU's fp32 output on the device within a few
  8-bit levels, and the same tiled as whole within one level; output megapixels per second on a
  1024x1024 image (x4); peak device memory of a 4096x4096 image upscaled x2.
- sr-x2 (with ``--sr-data``, made by ``pack``): larger x2 networks trained for ``--sr-minutes``
  each on the 40 training photos, in batches of 64 patches of 96 px (the CPU recipe: 32 of 64),
  measured like the bundled models (gain over bicubic on the held-out crops: issue 4's x2 target
  is +2.5 dB, which the CPU could not reach; see resources/models/UPSCALERS.md).

On this project's lent machine (an H200 with PyTorch in its own Python, no network), after
``pack``: the device tool's ``run`` with ``carry`` [".devdata"], ``timeout_s`` 580 and

    PYTHONUNBUFFERED=1 python3 scripts/device_check.py run --sr-data .devdata --sr-minutes 2 \
        --keep /tmp/dc 2>&1 | tee $OUT/log.txt; cp /tmp/dc/sr-x2-*.safetensors $OUT/

(about 8 minutes: three larger x2 networks of 2 minutes each, the rest in about one). The core
needs nothing there that the machine lacks; the app's Qt is not used.

``pack`` writes the training photos exactly as the bundled upscalers' recipe sees them (downscaled
x2 with Lanczos, longer side at most 1280 px, lossless WebP) and the held-out protocol crops
(lossless PNG), so the device machine, which has no network and no ../shared, needs nothing else.
They are for measurement only and are never committed (their licences: UPSCALERS.md).
"""
from __future__ import annotations

import argparse
import math
import shutil
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "scripts"))

import numpy as np  # noqa: E402
import torch  # noqa: E402

EMOJI = REPO / "resources" / "demo" / "emoji"
GLYPHS = REPO / "resources" / "translate-demo"
#: larger x2 networks to try with --sr-data: (label, UpscaleOptions fields, TrainConfig fields)
SR_CANDIDATES = (
    ("compact 64x8", {"arch": "compact", "features": 64, "blocks": 8, "act": "lrelu"}, {}),
    ("compact 64x16", {"arch": "compact", "features": 64, "blocks": 16, "act": "lrelu"}, {}),
    ("rrdb 64x6", {"arch": "rrdb", "features": 64, "blocks": 6}, {"lr_g": 5e-4}),
)


@dataclass
class Row:
    check: str
    result: str          # PASS | FAIL | a figure
    detail: str = ""


class Checks:
    """Runs checks, each isolated: an exception becomes a FAIL row and the next check runs."""

    def __init__(self, device: torch.device, quick: bool, work: Path) -> None:
        self.device, self.quick, self.work = device, quick, work
        self.rows: list[Row] = []

    def run(self, name: str, fn: Callable[[], list[Row] | None]) -> None:
        start = time.perf_counter()
        print(f"-- {name}", flush=True)
        try:
            rows = fn() or []
        except Exception as e:  # a failed check must not stop the others: the table says what failed
            traceback.print_exc()
            rows = [Row(name, "FAIL", f"{type(e).__name__}: {str(e)[:160]}")]
        took = time.perf_counter() - start
        for r in rows:
            print(f"   {r.check}: {r.result} {r.detail}", flush=True)
        if rows:
            rows[-1].detail = (rows[-1].detail + f" [{took:.0f} s]").strip()
        self.rows.extend(rows)

    def table(self) -> str:
        width = max(len(r.check) for r in self.rows)
        res = max(6, *(len(r.result) for r in self.rows))
        lines = [f"{'check':{width}}  {'result':{res}}  detail", f"{'-' * width}  {'-' * res}  ------"]
        lines += [f"{r.check:{width}}  {r.result:{res}}  {r.detail}" for r in self.rows]
        return "\n".join(lines)

    @property
    def failed(self) -> bool:
        return any(r.result == "FAIL" for r in self.rows)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()


def _finite_run(fin: Any, label: str, steps: int) -> Row:
    bad = {k: v for k, v in fin.metrics.items() if isinstance(v, float) and not math.isfinite(v)}
    ok = fin.reason == "completed" and fin.step == steps and not bad
    detail = f"{fin.step} steps, {fin.reason}" + (f", non-finite {bad}" if bad else "") + \
        (f": {fin.message[:120]}" if fin.message and not ok else "")
    return Row(label, "PASS" if ok else "FAIL", detail)


def _speed(run_dir: Path) -> str:
    import json

    from ganstudio.core.trainer import METRICS_NAME
    records = [json.loads(line) for line in (run_dir / METRICS_NAME).read_text().splitlines()]
    speeds = [r["img_per_s"] for r in records[len(records) // 2:] if "img_per_s" in r]
    return f"{np.median(speeds):.0f} img/s" if speeds else "no speed recorded"


def check_gan(c: Checks) -> list[Row]:
    from ganstudio.core.config import TrainConfig
    from ganstudio.core.gan import GanOptions
    from ganstudio.core.trainer import resume_run, train

    steps = 20 if c.quick else 400
    rows = []
    options = GanOptions(str(EMOJI), "dcgan-32")
    base = dict(steps=steps, batch_size=64, device=c.device.type, sample_every=steps, checkpoint_every=steps,
                log_every=10)
    run_dir = c.work / "gan"
    fin = train(TrainConfig(**base), options, run_dir)
    rows.append(_finite_run(fin, "gan: dcgan-32 trains (auto precision)", steps))
    rows.append(Row("gan: dcgan-32 speed, batch 64", _speed(run_dir)))
    fin = resume_run(run_dir, steps=steps + 10)
    rows.append(_finite_run(fin, "gan: the run resumes", steps + 10))
    if c.device.type == "cuda":
        fin = train(TrainConfig(**base, precision="fp16"), options, c.work / "gan-fp16")
        rows.append(_finite_run(fin, "gan: fp16 with loss scaling", steps))
    return rows


def _glyph_options(**kw: Any) -> Any:
    from ganstudio.core.translate.task import TranslateOptions
    return TranslateOptions(a_dir=str(GLYPHS / "A_sans"), b_dir=str(GLYPHS / "B_kai"), load_size=64, crop_size=64,
                            flip=False, ngf=32, ndf=16, **kw)


def check_translate(c: Checks) -> list[Row]:
    from ganstudio.core.config import TrainConfig
    from ganstudio.core.translate.inference import load_translator, translate_array
    from ganstudio.core.trainer import train

    steps = 20 if c.quick else 300
    cfg = dict(task="translate", steps=steps, batch_size=8, device=c.device.type, sample_every=steps,
               checkpoint_every=steps, eval_every=steps, log_every=10)
    rows = []
    run_dir = c.work / "pix2pix"
    fin = train(TrainConfig(**cfg), _glyph_options(), run_dir)
    rows.append(_finite_run(fin, "pix2pix: trains", steps))
    rows.append(Row("pix2pix: speed, batch 8", _speed(run_dir)))
    fin = train(TrainConfig(**{**cfg, "steps": 10, "checkpoint_every": 10, "sample_every": 10}),
                _glyph_options(mode="unpaired", n_blocks=6), c.work / "cyclegan")
    rows.append(_finite_run(fin, "cyclegan: trains", 10))

    image = _test_picture(384, 320, grey=True)
    on_device = load_translator(run_dir, device=c.device, precision="fp32")
    on_cpu = load_translator(run_dir, device="cpu", precision="fp32")
    whole = translate_array(on_device, image, tile=0)
    levels = _max_level_diff(whole, translate_array(on_cpu, image, tile=0))
    rows.append(Row("pix2pix: device = CPU (fp32)", "PASS" if levels <= 2 else "FAIL", f"max {levels} levels"))
    levels = _max_level_diff(translate_array(on_device, image, tile=128), translate_array(on_cpu, image, tile=128))
    rows.append(Row("pix2pix: device = CPU, tiled (fp32)", "PASS" if levels <= 2 else "FAIL", f"max {levels} levels"))
    return rows


def _test_picture(h: int, w: int, grey: bool = False, seed: int = 0) -> np.ndarray:
    """Smooth shapes and fine noise: detail for a network to work on, reproducible."""
    g = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    img = np.stack([128 + 60 * np.sin(x / (7 + 5 * k) + k) * np.cos(y / (11 + 3 * k)) for k in range(3)], -1)
    img += g.normal(0, 12, img.shape)
    img = np.clip(img, 0, 255).astype(np.uint8)
    return img[..., :1].repeat(3, -1) if grey else img


def _max_level_diff(a: np.ndarray, b: np.ndarray) -> int:
    if a.shape != b.shape:
        raise AssertionError(f"shapes differ: {a.shape} and {b.shape}")
    return int(np.abs(a.astype(np.int16) - b.astype(np.int16)).max())


def check_upscaler_training(c: Checks) -> list[Row]:
    from PIL import Image

    from ganstudio.core.trainer import train
    from ganstudio.core.upscale.task import UpscaleOptions, default_train_config

    folder = c.work / "sr-pictures"
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(6):
        Image.fromarray(_test_picture(160, 200, seed=i)).save(folder / f"p{i}.png")
    steps = 20 if c.quick else 200
    fin = train(default_train_config(steps=steps, batch_size=16, device=c.device.type, eval_every=steps,
                                     sample_every=steps, checkpoint_every=steps, log_every=10),
                UpscaleOptions(str(folder), scale=2, patch_size=64, val_images=1), c.work / "upscaler")
    return [_finite_run(fin, "upscaler: x2 trains and validates", steps)]


def check_upscale(c: Checks) -> list[Row]:
    from ganstudio.core.upscale.community import load_any_upscaler
    from ganstudio.core.upscale.tiling import upscale_array

    rows = []
    picture = _test_picture(256, 320)
    models = {name: load_any_upscaler(name) for name in ("bundled-x2", "bundled-x4")}
    for name, model in models.items():
        reference = upscale_array(model, picture, tile=0, device="cpu", precision="fp32")
        fp32 = upscale_array(model, picture, tile=0, device=c.device, precision="fp32")
        auto = upscale_array(model, picture, tile=0, device=c.device, precision="auto")
        tiled = upscale_array(model, picture, tile=96, device=c.device, precision="fp32")
        d32, dauto, dtile = (_max_level_diff(reference, fp32), _max_level_diff(reference, auto),
                             _max_level_diff(fp32, tiled))
        rows.append(Row(f"upscale {name}: device fp32 = CPU fp32", "PASS" if d32 <= 1 else "FAIL",
                        f"max {d32} levels"))
        rows.append(Row(f"upscale {name}: device auto precision", "PASS" if dauto <= 6 else "FAIL",
                        f"max {dauto} levels from CPU fp32"))
        rows.append(Row(f"upscale {name}: tiled = whole", "PASS" if dtile <= 1 else "FAIL", f"max {dtile} levels"))

    model = models["bundled-x4"]
    side = 256 if c.quick else 1024
    image = _test_picture(side, side)
    upscale_array(model, image, device=c.device)       # warm-up: kernels chosen, memory pooled
    times = []
    for _ in range(3):
        _sync(c.device)
        t0 = time.perf_counter()
        upscale_array(model, image, device=c.device)
        _sync(c.device)
        times.append(time.perf_counter() - t0)
    mp = (side * 4) ** 2 / 1e6
    rows.append(Row(f"upscale x4 {side}px speed", f"{mp / np.median(times):.1f}",
                    f"output MP/s (median of 3: {np.median(times):.3f} s)"))

    big = 512 if c.quick else 4096
    if c.device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(c.device)
    t0 = time.perf_counter()
    out = upscale_array(models["bundled-x2"], _test_picture(big, big), device=c.device)
    took = time.perf_counter() - t0
    peak = (f"peak device memory {torch.cuda.max_memory_allocated(c.device) / 2 ** 30:.2f} GiB"
            if c.device.type == "cuda" else "peak device memory not measured off CUDA")
    rows.append(Row(f"upscale x2 {big}px", "PASS" if out.shape == (2 * big, 2 * big, 3) else "FAIL",
                    f"{took:.1f} s, {peak}"))
    return rows


def check_sr_quality(c: Checks, data: Path, minutes: float, batch: int, patch: int) -> list[Row]:
    from PIL import Image

    from ganstudio.core.device import describe_device
    from ganstudio.core.trainer import train
    from ganstudio.core.upscale.community import load_any_upscaler, load_run_upscaler, save_upscaler
    from ganstudio.core.upscale.metrics import evaluate_crops
    from ganstudio.core.upscale.task import UpscaleOptions, default_train_config
    from train_bundled_upscalers import RECIPE_CONFIG, RECIPES

    crops = [np.asarray(Image.open(p).convert("RGB")) for p in sorted((data / "heldout").glob("*.png"))]
    if not crops:
        raise FileNotFoundError(f"no held-out crops in {data / 'heldout'}: make the folder with `pack`")
    # crops given as arrays are the HR images themselves: one 256 px crop each, as the protocol picked them
    rows = []
    shipped = evaluate_crops(load_any_upscaler("bundled-x2"), crops, 2, device=c.device)
    rows.append(Row("sr-x2: shipped 48x4 (CPU-trained)", f"{shipped.psnr_gain:+.2f}",
                    f"dB over bicubic on {shipped.crops} crops, SSIM {shipped.ssim:.4f}"))
    # the CPU recipe's patch sampling; a GPU is only busy with larger batches and patches than the CPU's
    recipe = {k: v for k, v in RECIPES[2].items() if k not in ("arch", "features", "blocks", "act", "patch_size")}
    for label, arch, cfg in SR_CANDIDATES:
        run_dir = c.work / f"sr-{label.replace(' ', '-')}"
        options = UpscaleOptions(str(data / "train"), scale=2, prescale=1.0, max_side=4096, val_images=2,
                                 val_crop=128, val_crops=8, patch_size=patch, **recipe, **arch)
        config = default_train_config(minutes=minutes, steps=None, device=c.device.type,
                                      eval_every=100 if c.quick else 1000, sample_every=10 ** 6,
                                      checkpoint_every=100 if c.quick else 1000, log_every=50,
                                      **{**RECIPE_CONFIG[2], "batch_size": batch, **cfg})
        fin = train(config, options, run_dir)
        if fin.reason not in ("completed", "time-limit"):
            rows.append(Row(f"sr-x2: {label}", "FAIL", f"{fin.reason}: {fin.message[:120]}"))
            continue
        model = load_run_upscaler(run_dir)
        res = evaluate_crops(model, crops, 2, device=c.device)
        rows.append(Row(f"sr-x2: {label}, {minutes:g} min", f"{res.psnr_gain:+.2f}",
                        f"dB over bicubic, SSIM {res.ssim:.4f}, {fin.step} steps of {batch}x{patch} px, "
                        f"{_speed(run_dir)}; "
                        f"target +2.5"))
        # the network at its best validation, as a model file the app opens (a few MB: it comes back)
        save_upscaler(model.module, c.work / f"sr-x2-{label.replace(' ', '-')}.safetensors",
                      {"title": f"x2 {label}, {fin.step} steps on {describe_device(c.device)}"})
    return rows


def pack(out: Path) -> int:
    """The upscaler photos as the recipe sees them, small enough to travel to a device machine."""
    from PIL import Image

    from ganstudio.core.upscale.metrics import (BUNDLED_HOLDOUT, PROTOCOL_CROP, PROTOCOL_CROPS_PER_IMAGE,
                                                protocol_crops, protocol_hr, split_holdout)
    from ganstudio.core.upscale.task import load_hr_image
    from crossval_upscaler import PHOTO_SUFFIXES
    from train_bundled_upscalers import DEFAULT_DATA, DEFAULT_EXTRA, MAX_SIDE, PRESCALE, extra_photos

    photos = sorted(p for p in DEFAULT_DATA.iterdir() if p.suffix.lower() in PHOTO_SUFFIXES)
    train_photos, held = split_holdout(photos, BUNDLED_HOLDOUT)
    extra = extra_photos(DEFAULT_EXTRA)
    (out / "train").mkdir(parents=True, exist_ok=True)
    (out / "heldout").mkdir(parents=True, exist_ok=True)
    for p in train_photos + extra:
        Image.fromarray(load_hr_image(p, MAX_SIDE, PRESCALE)).save(out / "train" / f"{p.stem}.webp", lossless=True)
    crops = protocol_crops([protocol_hr(p) for p in held], 2, PROTOCOL_CROP, PROTOCOL_CROPS_PER_IMAGE)
    for i, hr in enumerate(crops):
        Image.fromarray(hr).save(out / "heldout" / f"crop{i:02d}.png")
    size = sum(f.stat().st_size for f in out.rglob("*") if f.is_file())
    print(f"{len(train_photos)} + {len(extra)} training photos and {len(crops)} held-out "
          f"crops in {out} ({size / 2 ** 20:.1f} MiB)")
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    pk = sub.add_parser("pack", help="write the upscaler photos for a device machine into DIR")
    pk.add_argument("out", type=Path)
    r = sub.add_parser("run", help="run every check on the device and print the table")
    r.add_argument("--device", default="auto", help="auto | cuda | cuda:N | mps | cpu")
    r.add_argument("--quick", action="store_true", help="few steps and small images: a smoke run")
    r.add_argument("--sr-data", type=Path, help="the folder `pack` made: also train larger x2 upscalers")
    r.add_argument("--sr-minutes", type=float, default=2.0, help="training minutes per larger x2 upscaler")
    r.add_argument("--sr-batch", type=int, default=64, help="batch of the larger x2 upscalers (the CPU recipe: 32)")
    r.add_argument("--sr-patch", type=int, default=96, help="HR patch side of the larger x2 upscalers (CPU: 64)")
    r.add_argument("--keep", type=Path, help="keep the runs and trained models here (default: a temporary folder)")
    r.add_argument("--only", nargs="*", help="run only these checks: gan translate upscaler upscale sr")
    args = p.parse_args(argv)
    if args.command == "pack":
        return pack(args.out)

    from ganstudio.core.device import describe_device, resolve_device, resolve_precision

    device = resolve_device(args.device)
    work = args.keep or Path(tempfile.mkdtemp(prefix="ganstudio-device-"))
    work.mkdir(parents=True, exist_ok=True)
    c = Checks(device, args.quick, work)
    precision = resolve_precision("auto", device)
    print(f"torch {torch.__version__}, {describe_device(device)}, automatic precision "
          f"{str(precision).replace('torch.', '') if precision else 'fp32'}", flush=True)
    wanted = set(args.only or ("gan", "translate", "upscaler", "upscale", "sr"))
    try:
        if "gan" in wanted:
            c.run("gan", lambda: check_gan(c))
        if "translate" in wanted:
            c.run("translate", lambda: check_translate(c))
        if "upscaler" in wanted:
            c.run("upscaler", lambda: check_upscaler_training(c))
        if "upscale" in wanted:
            c.run("upscale", lambda: check_upscale(c))
        if "sr" in wanted and args.sr_data:
            c.run("sr-x2", lambda: check_sr_quality(c, args.sr_data, args.sr_minutes, args.sr_batch,
                                                        args.sr_patch))
    finally:
        print("\n" + c.table() if c.rows else "no check ran")
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)
    return 1 if c.failed else 0


if __name__ == "__main__":
    sys.exit(main())
