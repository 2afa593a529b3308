"""The translate commands of ``ganstudio-cli``: ``translate``, ``export-translator`` and the
``train-translate`` flags.

``ganstudio/cli.py`` adds these to its parser (and the shared ``--out``/training flags of
``train-translate``); errors are raised as GanStudioError and printed there as one line.
"""
from __future__ import annotations

import argparse
import sys
from typing import Any

from ..errors import ConfigError

#: TranslateOptions fields set by the data flags (--paired / --unpaired / --side-by-side), not by their own flag
DATA_FIELDS = ("mode", "a_dir", "b_dir", "side_by_side")


def add_translate_parsers(subparsers: Any) -> None:
    """Add ``translate INPUT... --model M --out DIR`` and ``export-translator`` to a subparsers object."""
    from ...cli import add_existing_arguments
    from ..upscale.cli_commands import BATCH_EPILOG, add_batch_arguments
    from .inference import DIRECTIONS

    p = subparsers.add_parser("translate", help="translate images or folders with a pix2pix/CycleGAN model",
                              description="Translate images at full resolution (PNG output, same size as the "
                                          "input, folder structure mirrored).", epilog=BATCH_EPILOG)
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="image files and/or folders")
    p.add_argument("--model", required=True, help="translation run folder, checkpoint or exported .safetensors")
    p.add_argument("--direction", choices=DIRECTIONS, default="AtoB",
                   help="AtoB (default) or BtoA (CycleGAN models only)")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--tile", type=int, default=None,
                   help="tile side in pixels (default: tiles of 512 for images over 1 megapixel; 0: never tile)")
    p.add_argument("--ensemble", action="store_true",
                   help="best quality: translate 9 shifted copies and keep the per-pixel median "
                        "(9x the time; 1.8%% lower L1 on the glyph benchmark)")
    add_batch_arguments(p)
    p.set_defaults(func=cmd_translate)

    e = subparsers.add_parser("export-translator", help="save a translation run's model as one small file")
    e.add_argument("run", help="translation run folder or checkpoint")
    e.add_argument("out", nargs="?", default=None, help="file to write (.safetensors); or give it with --out")
    e.add_argument("--out", dest="out_option", default=None, metavar="OUT", help="the same, as the other commands "
                   "take it")
    add_existing_arguments(e, default="refuse",
                           overwrite_help="replace that file if it exists (default: stop with an error)")
    e.set_defaults(func=cmd_export_translator)


def cmd_translate(args: argparse.Namespace) -> int:
    from ...cli import _Interrupt, apply_threads
    from ..upscale.cli_commands import BatchBar, report_batch
    from .batch import translate_batch
    from .inference import load_translator

    apply_threads(args)
    model = load_translator(args.model, device=args.device, precision=args.precision)
    model.generator(args.direction)
    if not args.quiet:
        print(f"Model: {model.name} ({', '.join(model.directions)}) on {model.device}", file=sys.stderr)
    with _Interrupt(_Interrupt.BATCH) as stop, BatchBar(args.quiet) as bar:
        result = translate_batch(args.inputs, args.out, model, args.direction, recursive=args.recursive,
                                 existing=args.existing, tile=args.tile, ensemble=args.ensemble,
                                 progress=bar.on_file, tile_progress=bar.on_tile, should_stop=stop,
                                 on_note=bar.note)
    return report_batch(result, args)


def cmd_export_translator(args: argparse.Namespace) -> int:
    from pathlib import Path

    from ..checkpoint import find_checkpoint
    from .inference import export_translator

    source = find_checkpoint(args.run, prefer_best=True) if Path(args.run).is_dir() else Path(args.run)
    out = args.out or args.out_option
    if out is None:
        raise ConfigError("Say where to write the model: export-translator RUN FILE (or --out FILE).")
    path = export_translator(source, out, overwrite=args.existing == "overwrite")
    # a run folder gives its best checkpoint (best validation), which may be older than its latest
    print(f"{path} ({path.stat().st_size / 1e6:.1f} MB, from {source.name})")
    return 0


def add_train_translate_arguments(parser: argparse.ArgumentParser) -> None:
    """``train-translate --paired A B | --unpaired A B | --side-by-side DIR`` plus one flag per
    TranslateOptions field (the shared ``--out`` and training flags are added by ``cli.py``)."""
    from ...cli import add_dataclass_arguments
    from .task import TranslateOptions

    data = parser.add_mutually_exclusive_group(required=True)
    data.add_argument("--paired", nargs=2, metavar=("A_DIR", "B_DIR"),
                      help="two folders of pairs matched by file name (A/cat.png <-> B/cat.png): pix2pix")
    data.add_argument("--unpaired", nargs=2, metavar=("A_DIR", "B_DIR"),
                      help="two unrelated collections (any sizes and counts): CycleGAN")
    data.add_argument("--side-by-side", metavar="DIR",
                      help="one folder of images holding A and B side by side (see --split): pix2pix")
    add_dataclass_arguments(parser, TranslateOptions, skip=DATA_FIELDS, group_title="model and data")


def translate_options_from_args(args: argparse.Namespace) -> Any:
    """TranslateOptions from parsed ``train-translate`` flags."""
    from ...cli import dataclass_from_args
    from .task import TranslateOptions

    if args.paired:
        fixed = dict(mode="paired", a_dir=args.paired[0], b_dir=args.paired[1], side_by_side=False)
    elif args.unpaired:
        fixed = dict(mode="unpaired", a_dir=args.unpaired[0], b_dir=args.unpaired[1], side_by_side=False)
    elif args.side_by_side:
        fixed = dict(mode="paired", a_dir=args.side_by_side, b_dir="", side_by_side=True)
    else:  # argparse's required group makes this unreachable from the command line
        raise ConfigError("Give --paired A_DIR B_DIR, --unpaired A_DIR B_DIR or --side-by-side DIR.")
    return dataclass_from_args(TranslateOptions, args, **fixed)
