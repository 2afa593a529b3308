"""The upscale commands of ``ganstudio-cli``: ``upscale``, ``info`` and the train-upscaler flags.

``ganstudio/cli.py`` adds these to its parser; errors are raised as GanStudioError and printed
there as one line. The batch helpers here (``add_batch_arguments``, ``BatchBar``, ``report_batch``)
serve ``translate`` too, so both batch commands take the same flags and report the same way.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

#: what the --help of a batch command (upscale, translate) says about its output
BATCH_EPILOG = ("Each file whose image had to be converted on reading (an animated GIF's first frame, CMYK, "
                "16 bits) gets one 'note:' line; files that failed are listed at the end, then the summary. "
                "Exit status: 0 all done, 1 some files failed, 2 nothing done (a mistake in the command or "
                "its inputs, or no images found), 130 stopped.")


def add_batch_arguments(parser: argparse.ArgumentParser) -> None:
    """The flags every folder batch (``upscale``, ``translate``) takes, worded alike."""
    from ...cli import DEVICE_HELP, add_existing_arguments, add_threads_argument

    parser.add_argument("--recursive", action="store_true", help="include sub-folders of folder inputs")
    add_existing_arguments(parser, default="skip",
                           skip_help="keep outputs that already exist (the default: running a batch again "
                                     "finishes it)",
                           overwrite_help="replace outputs that already exist")
    parser.add_argument("--device", default="auto", help=f"{DEVICE_HELP} (default: auto)")
    parser.add_argument("--precision", default="auto", help="auto | fp32 | bf16 | fp16 (default: auto)")
    add_threads_argument(parser)
    parser.add_argument("--quiet", action="store_true",
                        help="no progress bar and no per-file notes (failures and the summary are still "
                             "printed)")


def add_upscale_parsers(subparsers: Any) -> None:
    """Add ``upscale INPUT... --model M --out DIR`` and ``info MODEL`` to a subparsers object."""
    from .community import BUNDLED
    from .tiling import BASELINES

    names = ", ".join(list(BUNDLED) + list(BASELINES))
    p = subparsers.add_parser("upscale", help="upscale images or folders with a model",
                              description="Upscale images (PNG output, folder structure mirrored). "
                                          f"Models: {names}, a training run folder, or a model file "
                                          "(.pth, .pt, .ckpt, .safetensors).", epilog=BATCH_EPILOG)
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="image files and/or folders")
    p.add_argument("--model", default="bundled-x2", help="model name or path (default: bundled-x2)")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--tile", type=int, default=None,
                   help="tile side in input pixels (default: from free memory; 0: whole image at once)")
    p.add_argument("--overlap", type=int, default=None,
                   help="pixels shared by neighbouring tiles (default: exact)")
    p.add_argument("--scale", type=int, default=None,
                   help="scale for bicubic/lanczos (default 2); with another model it must be that model's scale")
    p.add_argument("--ensemble", action="store_true",
                   help="best quality: average 8 mirrored and rotated runs of the model (8x the time; "
                        "about +0.1 dB on the bundled models)")
    add_batch_arguments(p)
    p.set_defaults(func=cmd_upscale)

    i = subparsers.add_parser("info", help="show what a model is: an upscaler, a translator or a GAN (architecture, size, training)")
    i.add_argument("model", help="model name, run folder or file")
    i.set_defaults(func=cmd_info)


class BatchBar:
    """A tqdm bar over the files of a batch, fed by ``run_batch``'s progress callbacks."""

    def __init__(self, quiet: bool = False) -> None:
        self.quiet = quiet
        self.bar: Any = None

    def on_file(self, done: int, total: int, current: Any) -> None:
        from tqdm import tqdm

        if self.bar is None:
            self.bar = tqdm(total=total, unit="img", disable=self.quiet, dynamic_ncols=True, file=sys.stderr)
        self.bar.update(done - self.bar.n)
        if current is not None:
            self.bar.set_postfix_str(current.name, refresh=False)

    def on_tile(self, done: int, total: int) -> None:
        if self.bar is not None and total > 1:
            self.bar.set_postfix_str(f"tile {done}/{total}")

    def note(self, source: Path, notes: list[str]) -> None:
        """One line for a file whose image was converted on reading ("animated: the first of its 12
        frames is used"), printed above the bar."""
        from tqdm import tqdm

        if notes and not self.quiet:
            tqdm.write(f"note: {source}: {'; '.join(notes)}", file=sys.stderr)

    def __enter__(self) -> BatchBar:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.close()


def report_batch(result: Any, args: argparse.Namespace | None = None) -> int:
    """Print a batch's failures and summary; the exit status (0 all done, 1 some failed, 2 nothing to
    do, 130 cancelled)."""
    if result.total == 0 and not result.cancelled:
        where = " ".join(str(p) for p in args.inputs) if args is not None else "the inputs"
        hint = "" if args is None or args.recursive else " (images in sub-folders are read with --recursive)"
        print(f"error: no images found in {where}{hint}.", file=sys.stderr)
        return 2
    for path, reason in result.failed:
        print(f"failed: {path}: {reason}", file=sys.stderr)
    print(result.summary())
    if result.cancelled:
        return 130
    return 1 if result.failed else 0


def cmd_upscale(args: argparse.Namespace) -> int:
    from ...cli import _Interrupt, apply_threads
    from .batch import upscale_batch
    from .community import load_any_upscaler
    from .tiling import InferenceSettings

    apply_threads(args)
    up = load_any_upscaler(args.model, scale=args.scale)
    settings = InferenceSettings(tile=args.tile, overlap=args.overlap, device=args.device,
                                 precision=args.precision, ensemble=args.ensemble)
    if not args.quiet:
        print(f"Model: {up.name} ({up.describe()})", file=sys.stderr)
    with _Interrupt(_Interrupt.BATCH) as stop, BatchBar(args.quiet) as bar:
        result = upscale_batch(args.inputs, args.out, up, recursive=args.recursive, existing=args.existing,
                               settings=settings, progress=bar.on_file, tile_progress=bar.on_tile,
                               should_stop=stop, on_note=bar.note)
    return report_batch(result, args)


def cmd_info(args: argparse.Namespace) -> int:
    from ..errors import CheckpointError
    from .community import load_any_upscaler, summarize

    try:
        up = load_any_upscaler(args.model)
    except CheckpointError as not_upscaler:
        rows = _translator_rows(args.model) or _generator_rows(args.model)
        if rows is None:
            raise not_upscaler from None
        _print_rows(rows)
        return 0
    s = summarize(up)
    if up.resample:   # a baseline: named as picked ("lanczos-x4"), any image, no network
        rows = [("name", str(args.model)), ("architecture", f"{s.arch} resampling (no network)"),
                ("scale", f"x{s.scale}"), ("channels", "any (grey, RGB, with or without alpha)"),
                ("parameters", "0"), ("super-resolution", "no (resampling baseline, for comparison)"),
                ("file", "built in")]
    else:
        rows = [("name", s.name), ("architecture", s.arch), ("scale", f"x{s.scale}"),
                ("channels", "grey (1)" if s.channels == 1 else "RGB (3)"), ("parameters", f"{s.params:,}"),
                ("super-resolution", "yes" if s.is_sr else f"no ({up.purpose})"),
                ("file", s.source or "built in")]
    for key, label in (("degradation", "degradation"), ("trained_on", "trained on"), ("step", "steps"),
                       ("steps", "steps"), ("licence", "licence")):
        if key in up.info and up.info[key] is not None:
            rows.append((label, str(up.info[key])))
    validation = _run_validation(up.info)
    if validation:
        rows.append(("validation", validation))
    if up.measured_gain():
        rows.append(("measured", up.measured_gain()))
    _print_rows(rows)
    return 0


def _print_rows(rows: list[tuple[str, str]]) -> None:
    width = max(len(k) for k, _ in rows)
    for k, v in rows:
        print(f"{k:<{width}}  {v}")


def _loaded(model: str, load: Any) -> Any:
    """``load(model)``, or None when ``model`` is no file or folder of that kind (so that the
    upscaler's own error is the one ``info`` shows)."""
    from pathlib import Path

    from ..errors import GanStudioError

    if not Path(model).exists():
        return None
    try:
        return load(model)
    except GanStudioError:
        return None


def _generator_rows(model: str) -> list[tuple[str, str]] | None:
    """What ``info`` says about a GAN run or checkpoint; None when ``model`` is not one."""
    from ..generate import load_generator, run_name
    from ..translate.models import count_parameters

    gen = _loaded(model, load_generator)
    if gen is None:
        return None
    colour = "RGB" if gen.channels == 3 else "grey"
    return [("name", run_name(gen.path) or gen.path.stem), ("kind", "image generator (GAN)"),
            ("preset", gen.preset), ("images", f"{gen.size}x{gen.size} {colour}"), ("latent", f"{gen.nz} numbers"),
            ("parameters", f"{count_parameters(gen.model):,}"), ("steps", str(gen.step)), ("file", str(gen.path))]


def _translator_rows(model: str) -> list[tuple[str, str]] | None:
    """What ``info`` says about a translator (exported file, checkpoint or run folder); None when
    ``model`` is not one."""
    from ..translate.inference import load_translator
    from ..translate.models import count_parameters

    tr = _loaded(model, lambda m: load_translator(m, device="cpu", precision="fp32"))
    if tr is None:
        return None
    info = tr.info
    grey = {1: "grey", 3: "RGB"}
    channels, domains = info.get("channels", {}), info.get("domains", {})
    params = sum(count_parameters(G) for G in tr.generators.values())
    arch = ", ".join(sorted({str(g.get("arch", "?")) for g in info.get("generators", {}).values()}))
    rows = [("name", info.get("title") or tr.name),
            ("kind", "translator, " + ("paired (pix2pix)" if info.get("mode") == "paired" else "unpaired (CycleGAN)")),
            ("directions", ", ".join(tr.directions)),
            ("domains", f"A: {domains.get('A') or '?'} ({grey.get(channels.get('A'), '?')}), "
                        f"B: {domains.get('B') or '?'} ({grey.get(channels.get('B'), '?')})"),
            ("architecture", arch), ("parameters", f"{params:,}"),
            ("trained at", f"{info.get('load_size', '?')} px")]
    for key, label in (("step", "steps"), ("trained_on", "trained on"), ("licence", "licence")):
        if info.get(key) is not None:
            rows.append((label, str(info[key])))
    rows.append(("file", str(tr.source)))
    return rows


def _run_validation(info: dict[str, Any]) -> str | None:
    """A training run's held-out PSNR at the step of the loaded checkpoint (from the run's
    ``eval.jsonl``), e.g. "PSNR 30.66 dB (+0.56 dB over bicubic) at step 30"; None without one."""
    import json
    import math
    from pathlib import Path

    from ..trainer import EVAL_NAME

    run, step = info.get("run"), info.get("step")
    if not run or step is None:
        return None
    try:
        lines = (Path(run) / EVAL_NAME).read_text(encoding="utf-8").splitlines()
    except OSError:
        return None
    for line in reversed(lines):
        try:
            row = json.loads(line)
        except json.JSONDecodeError:   # a line cut short by a crash mid-write
            continue
        if not isinstance(row, dict):
            continue
        psnr = row.get("psnr")
        if row.get("step") != step or not isinstance(psnr, (int, float)) or not math.isfinite(psnr):
            continue
        text = f"PSNR {psnr:.2f} dB"
        bicubic = row.get("psnr_bicubic")
        if isinstance(bicubic, (int, float)) and math.isfinite(bicubic):
            text += f" ({psnr - bicubic:+.2f} dB over bicubic)"
        return f"{text} at step {step}"
    return None


def add_train_upscaler_arguments(parser: argparse.ArgumentParser) -> None:
    """``train-upscaler DIR`` plus one flag per UpscaleOptions field; SR-friendly training defaults."""
    from ...cli import add_dataclass_arguments
    from .task import UpscaleOptions

    parser.add_argument("dir", help="folder of high-resolution images")
    add_dataclass_arguments(parser, UpscaleOptions, skip=("data",), group_title="model and data")
    # The other training commands' colour flags: named here so that argparse does not read them as an
    # abbreviation of --channels-last (which left a stray "grey" to complain about)
    parser.add_argument("--color", "--channels", action=_NoColourSetting, help=argparse.SUPPRESS)


class _NoColourSetting(argparse.Action):
    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any,
                 option_string: str | None = None) -> None:
        parser.error(f"{option_string}: upscalers have no colour setting; they learn RGB, and grey images "
                     "are upscaled as grey by the same network")


def upscale_options_from_args(args: argparse.Namespace) -> Any:
    """UpscaleOptions from parsed ``train-upscaler`` flags.
    """
    from ...cli import dataclass_from_args
    from .task import UpscaleOptions

    return dataclass_from_args(UpscaleOptions, args, data=str(args.dir))
