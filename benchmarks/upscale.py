"""Upscale benchmark (issue 4), in one command:

    .venv/bin/python benchmarks/upscale.py            # full: 1024x1024 x4 speed, 4096x4096 x2 memory, quality
    .venv/bin/python benchmarks/upscale.py --quick    # small sizes, a smoke check of the script

1. Speed: the compact x4 model (bundled weights if present, else a random init of the same shape)
   on a 1024x1024 image through ``upscale_array`` (auto tiles, channels_last, bf16 autocast where the
   CPU has it), against a plain reference measured in the same run: the same network on the whole
   image, default memory layout, fp32. The two alternate over 5 rounds; output megapixels per second
   (best round of each) and the median of the rounds' ratios (target >= 4x).
2. Memory: peak RSS of a child process that upscales a 4096x4096 image x2 (target <= 2 GB), next
   to the peak after import and model load alone.
3. Quality: PSNR/SSIM of the bundled models against bicubic on the held-out photos, with the
   protocol and split of scripts/train_bundled_upscalers.py (targets: x2 +2.5 dB, x4 +1.2 dB),
   plain and with the self-ensemble ("best quality", 8 runs per tile; tiling.py).
"""
from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from ganstudio.core.device import describe_device, resolve_device, resolve_precision  # noqa: E402
from ganstudio.core.upscale.community import bundled_path, load_any_upscaler  # noqa: E402
from ganstudio.core.upscale.metrics import BUNDLED_HOLDOUT, evaluate_crops, split_holdout  # noqa: E402
from ganstudio.core.upscale.models import build_sr_model  # noqa: E402
from ganstudio.core.upscale.tiling import Upscaler, upscale_array, wrap_callable  # noqa: E402

PHOTOS = Path("/root/.cache/ganstudio-data/photos")
TARGET_SPEEDUP = 4.0
TARGET_RSS_GB = 2.0
TARGET_GAIN = {2: 2.5, 4: 1.2}


def model(scale: int) -> tuple[Upscaler, str]:
    """The bundled compact model at ``scale``, or the same shape randomly initialised."""
    name = f"bundled-x{scale}"
    if bundled_path(name).is_file():
        return load_any_upscaler(name), name
    torch.manual_seed(0)
    return wrap_callable(build_sr_model("compact", scale), scale), "random-init compact (no bundled weights yet)"


def test_image(side: int, seed: int = 0) -> np.ndarray:
    """A photo-like synthetic image: smooth shapes plus fine texture (content does not change the speed).

    Built from one 512px block repeated, so making a 4096px image does not itself need the
    hundreds of MB of float temporaries that would distort the memory measurement.
    """
    block = min(side, 512)
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:block, 0:block].astype(np.float32)
    base = 128 + 80 * np.sin(x / 37) * np.cos(y / 23)
    tile = np.clip(base[..., None] + rng.normal(0, 12, (block, block, 3)), 0, 255).astype(np.uint8)
    reps = -(-side // block)
    return np.ascontiguousarray(np.tile(tile, (reps, reps, 1))[:side, :side])


def elapsed(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def bench_speed(side: int, rounds: int) -> dict:
    """The two sides alternate, one run each per round, so that both meet the same machine: on this
    shared CPU the same upscale takes anywhere from 0.9 to 1.8 s from one minute to the next. The
    verdict is the median of the rounds' ratios; the best time of each side is printed beside it."""
    up, label = model(4)
    img = test_image(side)
    net = up.module
    out_mp = (side * 4) ** 2 / 1e6

    def reference() -> None:
        net.to(memory_format=torch.contiguous_format)
        x = torch.from_numpy(img).permute(2, 0, 1)[None].float() / 255
        with torch.inference_mode():
            y = net(x).clamp(0, 1)
        (y[0].permute(1, 2, 0) * 255).round().to(torch.uint8).numpy()

    def ours() -> None:
        upscale_array(up, img, device="cpu")   # defaults: auto tile, channels_last, precision auto

    reference(), ours()   # warm-up: oneDNN builds its kernels for each new shape and layout
    pairs = [(elapsed(reference), elapsed(ours)) for _ in range(rounds)]
    ratios = sorted(r / o for r, o in pairs)
    t_ref, t_ours = min(r for r, _ in pairs), min(o for _, o in pairs)
    dtype = resolve_precision("auto", torch.device("cpu"))
    return {"model": label, "side": side, "ref_mps": out_mp / t_ref, "ours_mps": out_mp / t_ours,
            "ratio": statistics.median(ratios), "ratios": ratios,
            "precision": "bf16" if dtype == torch.bfloat16 else "fp32"}


def peak_rss_mb() -> float:
    """This process's peak resident memory in MB.

    Linux's VmHWM belongs to the process's own memory map. ``getrusage``'s ru_maxrss does not
    start from zero in a child: exec carries over the high-water mark of the forked copy of the
    parent, so after this script's 1024 px speed test it read the parent's ~1.5 GB.
    """
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except (OSError, ValueError, IndexError):
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child_rss(side: int) -> None:
    """Run in a subprocess: upscale a side x side image x2 and print peak RSS figures as JSON."""
    up, label = model(2)
    img = test_image(side)
    before = peak_rss_mb()
    out = upscale_array(up, img, device="cpu")
    after = peak_rss_mb()
    print(json.dumps({"model": label, "side": side, "out_shape": list(out.shape),
                      "rss_loaded_mb": before, "rss_peak_mb": after}))


def bench_memory(side: int) -> dict:
    proc = subprocess.run([sys.executable, __file__, "--child-rss", str(side)], capture_output=True, text=True,
                          check=False)
    if proc.returncode != 0:
        return {"error": proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else f"exit {proc.returncode}"}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def bench_quality(quick: bool) -> list[dict]:
    photos = sorted(PHOTOS.glob("*.png"))
    if len(photos) <= BUNDLED_HOLDOUT:
        return [{"scale": s, "error": f"no photos in {PHOTOS}"} for s in (2, 4)]
    _, held = split_holdout(photos, BUNDLED_HOLDOUT)
    rows = []
    for scale in (2, 4):
        name = f"bundled-x{scale}"
        if not bundled_path(name).is_file():
            rows.append({"scale": scale, "error": "not trained yet"})
            continue
        up = load_any_upscaler(name)
        for ensemble in (False, True):
            r = evaluate_crops(up, held[:1] if quick else held, scale, per_image=1 if quick else 4, ensemble=ensemble)
            rows.append({"scale": scale, "ensemble": ensemble, **r.as_dict(), "gain": r.psnr_gain})
    return rows


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="small sizes (a smoke check, not the real figures)")
    p.add_argument("--child-rss", type=int, default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child_rss:
        child_rss(args.child_rss)
        return 0
    speed_side, rss_side, rounds = (256, 1024, 1) if args.quick else (1024, 4096, 5)
    print(f"Device: {describe_device(resolve_device('cpu'))}; torch {torch.__version__}"
          + (" (QUICK: small sizes, figures not comparable to the targets)" if args.quick else ""))

    s = bench_speed(speed_side, rounds)
    m = bench_memory(rss_side)
    q = bench_quality(args.quick)

    print()
    print(f"{'measure':<46} {'value':>14} {'target':>12}  ok")
    print("-" * 80)
    ok = s["ratio"] >= TARGET_SPEEDUP
    print(f"{'x4 ' + str(s['side']) + 'px, plain reference (whole, NCHW, fp32)':<46} {s['ref_mps']:>10.2f} MP/s {'':>12}"
          "  (best round)")
    print(f"{'x4 ' + str(s['side']) + 'px, upscale_array (' + s['precision'] + ', NHWC, tiled)':<46} "
          f"{s['ours_mps']:>10.2f} MP/s {'':>12}  (best round)")
    spread = ", ".join(f"{r:.2f}" for r in s["ratios"])
    print(f"{'speed-up, median of ' + str(len(s['ratios'])) + ' interleaved rounds':<46} {s['ratio']:>13.2f}x "
          f"{'>= 4x':>12}  {'yes' if ok else 'NO'} (rounds: {spread})")
    if "error" in m:
        print(f"{'peak RSS x2 ' + str(rss_side) + 'px':<46} {'failed':>14}   {m['error']}")
    else:
        gb = m["rss_peak_mb"] / 1024
        print(f"{'RSS after import + model load':<46} {m['rss_loaded_mb']:>11.0f} MB")
        print(f"{'peak RSS, ' + str(rss_side) + 'x' + str(rss_side) + ' x2':<46} {gb:>11.2f} GB {'<= 2 GB':>12}  "
              f"{'yes' if gb <= TARGET_RSS_GB else 'NO'}")
    for row in q:
        label = f"bundled-x{row['scale']}{' best quality' if row.get('ensemble') else ''} PSNR/SSIM vs bicubic"
        if "error" in row:
            print(f"{label:<46} {row['error']:>14}")
            continue
        good = row["gain"] >= TARGET_GAIN[row["scale"]]
        print(f"{label:<46} {row['psnr']:>6.2f}/{row['psnr_bicubic']:.2f} dB {'+' + str(TARGET_GAIN[row['scale']]) + ' dB':>12}  "
              f"{'yes' if good else 'NO'} (gain {row['gain']:+.2f}; SSIM {row['ssim']:.4f}/{row['ssim_bicubic']:.4f}; "
              f"{row['crops']} crops)")
    print(f"\nspeed model: {s['model']}; memory model: {m.get('model', '?')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
