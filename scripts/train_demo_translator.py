"""Train the demo translator (Noto Sans -> Kai hanzi), ship a small demo set beside it, write its card.

    .venv/bin/python scripts/train_demo_translator.py             # the real thing: 10 min on 2 cores
    .venv/bin/python scripts/train_demo_translator.py --smoke     # seconds, into a temporary folder

Data: ``pairs_cjk_64`` built by ../shared/datasets/build.sh (3755 GB2312 level-1 hanzi rendered at
64x64 in Noto Sans CJK SC and AR PL UKai). The recipe, the split (every 10th name held out) and
the measurements are the benchmark's (benchmarks/translate_quality.py), so the card's figures
are comparable with it. Training goes through the one trainer and leaves an ordinary run folder.

Writes to resources/translate-demo/:
  A_sans/, B_kai/     held-out pairs only (characters the model never saw), for trying the panel
  model.safetensors   the EMA generator as a translator file (fp16 weights, ~5 MB)
  MODEL_CARD.md       what it is, how it was trained, how well it does, its limits
  LICENSE.md          the fonts' credits and licences
"""
from __future__ import annotations

import argparse
import platform
import shutil
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import torch  # noqa: E402

from benchmarks.translate_quality import (DEFAULT_DATA, SPEED_SIDE, HeldOut, glyph_config,  # noqa: E402
                                          glyph_options, inference_speed)
from ganstudio import __version__  # noqa: E402
from ganstudio.core.trainer import train  # noqa: E402
from ganstudio.core.translate.inference import export_translator, load_translator  # noqa: E402
from ganstudio.core.translate.models import count_parameters  # noqa: E402

DEFAULT_OUT = REPO / "resources" / "translate-demo"
#: held-out pairs copied into the demo set (about 1 KB each)
DEMO_PAIRS = 120
CREDITS = """Glyph images rendered from two fonts packaged by Debian:

- A (input): **Noto Sans CJK SC**, Copyright Google LLC / Adobe, SIL Open Font License 1.1
  (Debian package `fonts-noto-cjk`).
- B (target): **AR PL UKai**, Copyright Arphic Technology Co., Ltd., Arphic Public License
  (Debian package `fonts-arphic-ukai`).

The images are renderings of single characters (GB2312 level 1, 64x64 px, black on white), not
the fonts themselves; this small subset is shipped to demonstrate the Translate panel.
"""


def copy_demo_pairs(held: HeldOut, data_dir: Path, out: Path, count: int) -> int:
    """Copy ``count`` held-out pairs, spread over the names, into out/A_sans and out/B_kai."""
    step = max(1, len(held.test) // count)
    chosen = held.test[::step][:count]
    for side in ("A_sans", "B_kai"):
        shutil.rmtree(out / side, ignore_errors=True)
        (out / side).mkdir(parents=True)
        for i in chosen:
            name = held.data.names[i]
            shutil.copy2(next((data_dir / side).glob(f"{name}.*")), out / side)
    return len(chosen)


def write_card(out: Path, *, minutes: float, threads: int, steps: int, held: HeldOut, params: int,
               scores: dict[str, float], mps: float, best_mps: float, options: dict, config: dict,
               demo_pairs: int) -> None:
    ratio = scores["test_l1"] / scores["base_l1"]
    card = f"""# Demo translator: Noto Sans -> Kai hanzi (pix2pix)

A pix2pix model that redraws a hanzi set in Noto Sans CJK SC (a plain sans-serif) in the style of
AR PL UKai (a brush-like Kai script). It is GAN Studio's demo for the Translate panel: open
`model.safetensors`, then any image from `A_sans/` (characters it never saw in training) and
compare with `B_kai/`.

## Training

- Data: `pairs_cjk_64`, {len(held.train)} training pairs; every 10th character by name
  ({len(held.test)}) held out and never seen. The {demo_pairs} demo pairs here are held-out ones.
- Recipe: the benchmark's (`benchmarks/translate_quality.py`): U-Net generator
  ({params / 1e6:.1f} M parameters), PatchGAN discriminator, LSGAN + L1 x{options['l1_weight']:g}
  + SSIM x{options['ssim_weight']:g}, shifts and zoom applied alike to both images (not in the last
  {options['clean_finish']:.0%} of the run), dropout {options['dropout']:g}, EMA of the generator (exported).
- {minutes:g} minutes on {threads} CPU thread(s) ({platform.processor() or platform.machine()}), {steps} steps,
  GAN Studio {__version__}, torch {torch.__version__}.
- Options: `{options}`
- Training config: `{config}`

## How well it does (held-out characters)

| | L1 (0-1) | SSIM |
|---|---|---|
| identity (output = input) | {scores['base_l1']:.4f} | {scores['base_ssim']:.4f} |
| this model | {scores['test_l1']:.4f} | {scores['test_ssim']:.4f} |
| this model, "Best quality" (median of 9 shifted runs) | {scores['best_l1']:.4f} | {scores['best_ssim']:.4f} |
| this model, training characters | {scores['train_l1']:.4f} | |

L1 is {ratio:.3f}x the identity baseline's in one pass, {scores['best_l1'] / scores['base_l1']:.3f}x with
"Best quality". Inference: {mps:.2f} output megapixels per second at {SPEED_SIDE}x{SPEED_SIDE} on this CPU
({best_mps:.2f} with "Best quality").

## Limits

- It knows one font pair at 64 px per character: other fonts, sizes or drawings come out as
  Kai-flavoured guesses. Characters it never saw are redrawn from the components it has seen,
  so rare components blur.
- Grey input and output; colour inputs are converted to grey.

## Credits

{CREDITS}"""
    (out / "MODEL_CARD.md").write_text(card, encoding="utf-8")
    (out / "LICENSE.md").write_text("# Demo glyph pairs: credits and licences\n\n" + CREDITS, encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", type=Path, default=DEFAULT_DATA)
    p.add_argument("--out", type=Path, default=None, help=f"output folder (default {DEFAULT_OUT}; --smoke: temporary)")
    p.add_argument("--minutes", type=float, default=10.0)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--demo-pairs", type=int, default=DEMO_PAIRS)
    p.add_argument("--runs", type=Path, default=None, help="keep the run folder here (default: temporary)")
    p.add_argument("--smoke", action="store_true", help="a few seconds of training and 8 demo pairs")
    p.add_argument("--from-run", type=Path, default=None,
                   help="export an existing run of the same recipe (e.g. the benchmark's --run) instead of training")
    args = p.parse_args(argv)
    if args.smoke:
        args.minutes, args.demo_pairs = min(args.minutes, 0.05), min(args.demo_pairs, 8)

    torch.set_num_threads(args.threads)
    options = glyph_options(args.data)
    config = glyph_config(args.minutes, args.threads)
    with tempfile.TemporaryDirectory(prefix="translate-demo-") as tmp:
        out = args.out or (Path(tmp) / "translate-demo" if args.smoke else DEFAULT_OUT)
        if args.from_run:
            import json

            from ganstudio.core.trainer import load_run_config

            run_dir = args.from_run
            config, options = load_run_config(run_dir)
            last = json.loads((run_dir / "metrics.jsonl").read_text().splitlines()[-1])
            args.minutes, args.threads = round(last["time"] / 60, 1), config.threads
            finished = type("Done", (), {"step": int(last["step"])})()
        else:
            run_dir = (args.runs or Path(tmp)) / f"demo-translator-{time.strftime('%Y%m%d-%H%M%S')}"
            print(f"training {args.minutes:g} min -> {run_dir}", file=sys.stderr)
            finished = train(config, options, run_dir)
            if finished.reason not in ("completed", "time-limit"):
                print(f"training ended: {finished.reason} {finished.message}", file=sys.stderr)
                return 1
        held = HeldOut.load(args.data, options)
        out.mkdir(parents=True, exist_ok=True)
        model_path = export_translator(run_dir, out / "model.safetensors", overwrite=True, half=True,
                                       info={"title": "Demo: Noto Sans -> Kai hanzi",
                                             "trained_on": f"pairs_cjk_64 ({len(held.train)} pairs)",
                                             "licence": "glyphs: Noto Sans CJK SC (OFL 1.1), AR PL UKai (Arphic)"})
        model = load_translator(model_path)
        test_l1, test_ssim = held.scores(model, held.test)
        best_l1, best_ssim = held.scores(model, held.test, ensemble=True)
        base_l1, base_ssim = held.identity_scores()
        train_l1, _ = held.scores(model, held.train_sample())
        scores = dict(test_l1=test_l1, test_ssim=test_ssim, base_l1=base_l1, base_ssim=base_ssim, train_l1=train_l1,
                      best_l1=best_l1, best_ssim=best_ssim)
        demo_pairs = copy_demo_pairs(held, args.data, out, args.demo_pairs)
        shown = {k: v for k, v in asdict(options).items() if k not in ("a_dir", "b_dir")}
        write_card(out, minutes=args.minutes, threads=args.threads, steps=finished.step, held=held,
                   params=count_parameters(model.generator("AtoB")), scores=scores, mps=inference_speed(model, held),
                   best_mps=inference_speed(model, held, ensemble=True),
                   options=shown, config={k: v for k, v in asdict(config).items() if k != "task"},
                   demo_pairs=demo_pairs)
        print((out / "MODEL_CARD.md").read_text(encoding="utf-8") if args.smoke else f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
