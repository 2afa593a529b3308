"""``ganstudio-cli``: the engine from a terminal, for batch work and servers.

User mistakes (a wrong flag included) print one clear line on stderr and exit with status 2;
Ctrl-C stops training cleanly after writing a checkpoint (press it twice to abort at once).

A setting that several commands share has one flag name in all of them (``FLAG_ALIASES``), and
every command that writes files treats existing ones the same way (``add_existing_arguments``).
"""
from __future__ import annotations

import argparse
import dataclasses
import difflib
import os
import signal
import sys
import types
import typing
from pathlib import Path
from typing import Any, NoReturn, Sequence

from . import __version__

EXIT_USER_ERROR = 2
EXIT_INTERRUPTED = 130
#: images generated and written at a time by ``generate`` (memory stays flat for any count)
GENERATE_CHUNK = 256
DEFAULT_GENERATE_N = 16
#: One flag per setting, whichever command it is given to: (options dataclass, field) -> (the flag
#: --help shows, the other names it is still accepted under). The others are the names these
#: commands used before (hidden from the usage line, listed in the help as "also: ..."), so
#: existing scripts keep working; a name that belongs to another command is answered with
#: "did you mean ...?" (``_Parser``) rather than accepted where its meaning would be stretched
#: (train-translate's flips leave its shifts and zoom on, so it takes no --augment).
FLAG_ALIASES: dict[tuple[str, str], tuple[str, ...]] = {
    ("GanOptions", "hflip"): ("--flip", "--hflip"),
    ("GanOptions", "color"): ("--color", "--channels"),   # --channels: train-translate's name, taken before
    ("UpscaleOptions", "augment"): ("--flip", "--augment"),
    ("UpscaleOptions", "features"): ("--width", "--features"),
    ("UpscaleOptions", "d_features"): ("--d-width", "--d-features"),
    ("TranslateOptions", "channels"): ("--color", "--channels"),
    ("TranslateOptions", "ngf"): ("--width", "--ngf"),
    ("TranslateOptions", "ndf"): ("--d-width", "--ndf"),
    ("TranslateOptions", "n_blocks"): ("--blocks", "--n-blocks"),
}
DEVICE_HELP = "auto | cpu | cuda | cuda:N | mps"
THREADS_HELP = "CPU threads (0: all free cores) (default: 0)"


class _Parser(argparse.ArgumentParser):
    """argparse with its mistakes said in one line, like every other user error (the usage is one
    --help away), and a guess for a mistyped flag or another command's name for a setting."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USER_ERROR, f"error: {message} (see {self.prog} --help)\n")

    def parse_args(self, args: Sequence[str] | None = None,   # type: ignore[override]
                   namespace: argparse.Namespace | None = None) -> argparse.Namespace:
        parsed, extras = self.parse_known_args(args, namespace)
        if extras:
            parser = _chosen_parser(self, parsed)   # the command's own: its prog and its flags
            guesses = [g for g in (_guess_flag(parser, e) for e in extras) if g]
            hint = f"; did you mean {', '.join(guesses)}?" if guesses else ""
            parser.error(f"unrecognized arguments: {' '.join(extras)}{hint}")
        return parsed


def _chosen_parser(parser: argparse.ArgumentParser, args: argparse.Namespace) -> argparse.ArgumentParser:
    """The (sub-)parser of the command that ``args`` were parsed for."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            chosen = action.choices.get(getattr(args, action.dest, None) or "")
            if chosen is not None:
                return _chosen_parser(chosen, args)
    return parser


def _guess_flag(parser: argparse.ArgumentParser, given: str) -> str | None:
    """The flag of ``parser`` that ``given`` probably meant: this command's name for a setting that
    another command calls ``given`` (--ngf to train-upscaler: --width), or the closest spelling."""
    if not given.startswith("--"):
        return None
    flag = given.split("=", 1)[0]
    negated = flag.startswith("--no-")
    plain = "--" + flag[5:] if negated else flag
    shown = [s for a in parser._actions if a.help != argparse.SUPPRESS for s in a.option_strings]
    settings = [names for names in FLAG_ALIASES.values() if plain in names]
    for names in settings:
        if names[0] in shown:
            return "--no-" + names[0][2:] if negated else names[0]
    if settings:   # a setting this command does not have (--channels is no --channels-last)
        return None
    close = difflib.get_close_matches(flag, shown, n=1, cutoff=0.75)
    return close[0] if close else None


# ----------------------------------------------------------------------------------------------
# flags generated from the config dataclasses, so the CLI, the GUI and config.json share fields

def _field_type(cls: type, name: str) -> type:
    """The base type of a dataclass field annotated like ``int | None``."""
    ann = typing.get_type_hints(cls)[name]
    if isinstance(ann, types.UnionType):
        return next(a for a in ann.__args__ if a is not type(None))
    return ann


def add_dataclass_arguments(parser: argparse.ArgumentParser, cls: type, *, skip: Sequence[str] = (),
                            group_title: str | None = None, defaults: dict[str, Any] | None = None) -> None:
    """Add ``--field-name`` options for each field of ``cls`` (defaults left unset: None means 'keep').
    ``defaults`` are the values a command really starts from where they differ from the dataclass's
    (a task's own training defaults): the help shows those."""
    from .core.config import field_help

    helps = field_help(cls)
    group = parser.add_argument_group(group_title) if group_title else parser
    for f in dataclasses.fields(cls):
        if f.name in skip:
            continue
        typ = _field_type(cls, f.name)
        flag, others = flag_names(cls.__name__, f.name)
        default = f.default if f.default is not dataclasses.MISSING else None
        default = (defaults or {}).get(f.name, default)
        also = f"; also: {', '.join(others)}" if others else ""
        text = f"{helps.get(f.name, '')} (default: {default}{also})"
        if typ is bool:
            kinds: dict[str, Any] = dict(action=argparse.BooleanOptionalAction)
        else:
            kinds = dict(type=typ, metavar=flag[2:].replace("-", "_").upper())
        group.add_argument(flag, dest=f.name, default=None, help=text, **kinds)
        for other in others:   # still accepted, not shown twice
            group.add_argument(other, dest=f.name, default=None, help=argparse.SUPPRESS, **kinds)


def flag_names(cls_name: str, field: str) -> tuple[str, list[str]]:
    """(the flag of a dataclass field, the other names it is accepted under): ``FLAG_ALIASES``'s,
    or the field's own name; the field's own name always works."""
    own = "--" + field.replace("_", "-")
    flag, *others = FLAG_ALIASES.get((cls_name, field), (own,))
    if own != flag and own not in others:
        others.append(own)
    return flag, others


def dataclass_from_args(cls: type, args: argparse.Namespace, **fixed: Any):
    """Build ``cls`` from parsed flags (unset flags keep the dataclass defaults) plus ``fixed`` values."""
    values = {f.name: getattr(args, f.name) for f in dataclasses.fields(cls)
              if getattr(args, f.name, None) is not None}
    values.update(fixed)
    return cls(**values)


# ----------------------------------------------------------------------------------------------
# flags that several commands share

def add_existing_arguments(parser: argparse.ArgumentParser, *, default: str, skip_help: str | None = None,
                           overwrite_help: str = "replace output files that already exist") -> None:
    """``--overwrite`` (and ``--skip-existing`` where ``skip_help`` says what it keeps), the same
    flags in every command that writes files; ``args.existing`` is then "overwrite", "skip" or
    ``default`` ("refuse": stop before writing anything, naming the flags; "skip")."""
    group = parser.add_mutually_exclusive_group()
    if skip_help is not None:
        group.add_argument("--skip-existing", dest="existing", action="store_const", const="skip",
                           help=skip_help)
    group.add_argument("--overwrite", dest="existing", action="store_const", const="overwrite",
                       help=overwrite_help)
    parser.set_defaults(existing=default)


def add_threads_argument(parser: argparse.ArgumentParser) -> None:
    """``--threads``, as the training commands take it."""
    parser.add_argument("--threads", type=int, default=0, help=THREADS_HELP)


def apply_threads(args: argparse.Namespace) -> None:
    from .core.device import set_threads

    set_threads(args.threads)


def outputs_to_write(targets: Sequence[Path], existing: str, *, skip_flag: bool = True) -> list[bool]:
    """Which of ``targets`` to write under an existing-file policy: all with "overwrite", the
    missing ones with "skip". With "refuse", raises ExportError (before anything is made) when any
    exists, naming the flags that would let the command go on."""
    from .core.errors import ExportError, already_exists

    there = [t.exists() for t in targets]
    if existing == "refuse" and any(there):
        first, count = targets[there.index(True)], sum(there)
        if len(targets) == 1:
            raise already_exists(first)   # main() names --overwrite, as for any single file
        which = f"{first} already exists" if count == 1 else \
            f"{first} and {count - 1} more of the {len(targets)} files already exist"
        them = "it" if count == 1 else "them"
        keep = (f", --skip-existing keeps {them} and writes the rest" if skip_flag
                else ", or choose another --out")
        raise ExportError(f"{which}; --overwrite replaces {them}{keep}.")
    return [existing == "overwrite" or not t for t in there]


# ----------------------------------------------------------------------------------------------
# progress display

class _Progress:
    """A tqdm bar driven by trainer events."""

    def __init__(self, quiet: bool = False) -> None:
        self.quiet = quiet
        self.bar = None

    def __call__(self, event: Any) -> None:
        from tqdm import tqdm

        from .core import events as ev

        if isinstance(event, ev.Started):
            if not self.quiet:
                n, unit = event.dataset_size, event.dataset_unit
                print(f"Training {event.task} on {n} {unit[:-1] if n == 1 else unit} ({event.device}) -> {event.run_dir}",
                      file=sys.stderr)
            self.bar = tqdm(total=event.total_steps, initial=event.start_step, unit="step", disable=self.quiet,
                            dynamic_ncols=True, file=sys.stderr)
        elif isinstance(event, ev.StepEnded) and self.bar is not None:
            shown = {k: f"{v:.3f}" for k, v in event.metrics.items() if k.startswith("loss")}
            shown["img/s"] = f"{event.images_per_second:.0f}"
            self.bar.set_postfix(shown, refresh=False)   # before update(), which redraws the bar
            self.bar.update(event.step - self.bar.n)
        elif isinstance(event, ev.HealthNote):
            (self.bar.write if self.bar is not None else print)(f"[{event.level}] {event.message}")
        elif isinstance(event, ev.EvaluationDone) and self.bar is not None:
            self.bar.write(f"step {event.step}: " + ", ".join(f"{k} {v:.4g}" for k, v in event.metrics.items())
                           + (" (best)" if event.best else ""))
        elif isinstance(event, ev.Finished):
            if self.bar is not None:
                self.bar.close()
            if not self.quiet:
                print(f"{event.reason}: step {event.step}; checkpoint {event.checkpoint}", file=sys.stderr)


class _Interrupt:
    """The first Ctrl-C or SIGTERM (``kill``, ``timeout``, a logout or shutdown) asks the work to stop
    cleanly: training saves a checkpoint, a batch finishes its current image. A second one aborts."""

    TRAINING = "Stopping after this step and saving a checkpoint"
    BATCH = "Stopping after the current image; finished files are kept"

    def __init__(self, what: str = TRAINING) -> None:
        self.requested = False
        self.what = what

    def __enter__(self) -> "_Interrupt":
        self._old = {s: signal.signal(s, self._handle) for s in (signal.SIGINT, signal.SIGTERM)}
        return self

    def __exit__(self, *exc: Any) -> None:
        for s, old in self._old.items():
            signal.signal(s, old)

    def _handle(self, signum: int, frame: Any) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        again = "Ctrl-C" if signum == signal.SIGINT else "the signal"
        print(f"\n{self.what} (send {again} again to abort)...", file=sys.stderr)

    def __call__(self) -> bool:
        return self.requested


def _run_training(config: Any, options: Any, out: Path, *, resume: bool = False, quiet: bool = False) -> int:
    from .core.trainer import train

    with _Interrupt() as stop:
        fin = train(config, options, out, observers=[_Progress(quiet)], should_stop=stop, resume=resume)
    return _finish_code(fin)


def _finish_code(fin: Any) -> int:
    if fin.reason in ("diverged", "error"):
        print(f"error: {fin.message}", file=sys.stderr)
        return 1
    return EXIT_INTERRUPTED if fin.reason == "stopped" else 0


# ----------------------------------------------------------------------------------------------
# commands

def cmd_dataset_check(args: argparse.Namespace) -> int:
    from .core.data import check_usable, scan_folder
    from .core.errors import DatasetError

    report = scan_folder(args.dir, max_pixels=args.max_pixels) if args.max_pixels else scan_folder(args.dir)
    print(report.summary())
    try:
        check_usable(report)
    except DatasetError as e:
        print(f"\n{e}")
        return 1
    return 0


def _train_config(args: argparse.Namespace, task: str) -> Any:
    """TrainConfig from the task's defaults plus the flags given (``--minutes`` alone drops the step limit)."""
    from .core.config import TrainConfig
    from .core.tasks import default_train_config

    given = {f.name: getattr(args, f.name) for f in dataclasses.fields(TrainConfig)
             if f.name != "task" and getattr(args, f.name, None) is not None}
    if args.minutes is not None and args.steps is None:
        given["steps"] = None
    return default_train_config(task, **given)


def cmd_train(args: argparse.Namespace) -> int:
    from .core.gan import GanOptions

    options = dataclass_from_args(GanOptions, args, data=str(args.dir))
    return _run_training(_train_config(args, "gan"), options, Path(args.out), quiet=args.quiet)


def cmd_resume(args: argparse.Namespace) -> int:
    from .core.errors import ConfigError
    from .core.trainer import data_folders, load_run_config, missing_data_folders, resume_run

    data = None
    options = load_run_config(args.run)[1]
    missing = missing_data_folders(options)
    if missing and not args.data:
        raise ConfigError(f"The images of this run were in {', '.join(missing.values())}, which is not there any "
                          "more (moved, renamed, or on a drive that is not connected). Give their new place with "
                          "--data.")
    if args.data:
        fields = list(data_folders(options))
        if len(args.data) != len(fields):
            raise ConfigError(f"This run trains on {len(fields)} image folder(s) ({', '.join(fields)}); "
                              f"give {len(fields)} with --data, in that order.")
        data = dict(zip(fields, args.data))
    with _Interrupt() as stop:
        fin = resume_run(args.run, steps=args.steps, minutes=args.minutes, data=data, threads=args.threads,
                         device=args.device, observers=[_Progress(args.quiet)], should_stop=stop)
    return _finish_code(fin)


def cmd_generate(args: argparse.Namespace) -> int:
    from .core import generate as gen_mod
    from .core.device import resolve_device
    from .core.errors import ConfigError

    if args.interpolate and (args.grid or args.n != DEFAULT_GENERATE_N or args.seed != 0):
        raise ConfigError("--interpolate A B makes --frames images from seed A to seed B; it takes no --n, "
                          "--seed or --grid.")
    if args.existing == "skip" and (args.grid or args.interpolate):
        raise ConfigError("--skip-existing keeps the images of single seeds that are already there; a grid or "
                          "an interpolation is one result: --overwrite replaces it, or choose another --out.")
    if args.n < 1:
        raise ConfigError(f"--n is the number of images: at least 1, got {args.n}.")
    if args.grid and args.n > gen_mod.MAX_GRID_IMAGES:
        raise ConfigError(f"A grid holds at most {gen_mod.MAX_GRID_IMAGES} images, got --n {args.n}; "
                          "leave out --grid to write them one file each.")
    gen_mod.check_seed(args.seed)
    gen_mod.check_seed(args.seed + args.n - 1)
    out = Path(args.out)
    overwrite, kept = args.existing == "overwrite", 0
    # the names that generate.export_frames, export_gif and export_images write, checked before any work
    seeds = list(range(args.seed, args.seed + args.n))
    grid = out / gen_mod.grid_name(args.seed, args.n)
    if args.interpolate:
        a, b = args.interpolate
        # frames in their own folder beside the GIF (as the app does): two interpolations never mix
        frames_dir = out / gen_mod.interpolation_name(a, b)
        gif = frames_dir.with_suffix(".gif")
        outputs_to_write([*(frames_dir / gen_mod.frame_name(i) for i in range(args.frames)), gif], args.existing,
                         skip_flag=False)
    elif args.grid:
        outputs_to_write([grid], args.existing)
    else:
        write = outputs_to_write([out / gen_mod.seed_image_name(s) for s in seeds], args.existing)
        kept, seeds = len(seeds) - sum(write), [s for s, w in zip(seeds, write) if w]
    apply_threads(args)
    gen = gen_mod.load_generator(args.run, resolve_device(args.device))
    if args.interpolate:
        frames = gen_mod.interpolate(gen, a, b, args.frames, args.truncation)
        written = gen_mod.export_frames(gen, frames, frames_dir, a, b, args.truncation, overwrite=overwrite)
        gif = gen_mod.export_gif(frames, gif, overwrite=overwrite)
        print(f"wrote {len(written)} frames to {frames_dir} and {gif}")
        return 0
    if args.grid:
        path = gen_mod.export_grid(gen, seeds, grid, truncation=args.truncation, overwrite=overwrite)
        print(f"wrote {path}")
        return 0
    written, renamed = 0, []
    with _Interrupt(_Interrupt.BATCH) as stop:
        for start in range(0, len(seeds), GENERATE_CHUNK):   # memory stays flat for any --n
            if stop():
                print(f"stopped: wrote {written} of {len(seeds)} images to {out}", file=sys.stderr)
                return EXIT_INTERRUPTED
            chunk = seeds[start:start + GENERATE_CHUNK]
            paths = gen_mod.export_images(gen, chunk, out, truncation=args.truncation, overwrite=overwrite)
            written += len(paths)
            renamed += [p.name for s, p in zip(chunk, paths) if p.name != gen_mod.seed_image_name(s)]
    print(f"wrote {written} image{'' if written == 1 else 's'} to {out}"
          + (f"; kept {kept} that were already there" if kept else ""))
    if renamed:   # a file of that name appeared while this command ran: it was kept
        shown = ", ".join(renamed[:3]) + (", ..." if len(renamed) > 3 else "")
        print(f"{len(renamed)} of those names were taken meanwhile, so they were written as {shown}",
              file=sys.stderr)
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from .core.config import TrainConfig
    from .core.gan import GanOptions
    from .core.resources import demo_dataset_dir

    out = Path(args.out) if args.out else _fresh_dir(Path("runs") / "demo")
    config = TrainConfig(steps=None, minutes=args.minutes, batch_size=64, sample_every=100, checkpoint_every=500)
    options = GanOptions(data=str(demo_dataset_dir()), preset="seed-dcgan-16", hflip=True)
    code = _run_training(config, options, out, quiet=args.quiet)
    grid = out / "samples" / "latest.png"
    if grid.exists():
        print(f"Sample grid: {grid}")
    return code


def _fresh_dir(base: Path) -> Path:
    if not base.exists():
        return base
    i = 1
    while Path(f"{base}-{i}").exists():
        i += 1
    return Path(f"{base}-{i}")


def build_parser() -> argparse.ArgumentParser:
    from .core.config import TrainConfig
    from .core.data import DEFAULT_MAX_PIXELS
    from .core.gan import GanOptions
    from .core.models import PRESETS

    p = _Parser(prog="ganstudio-cli", description="GAN Studio's engine from the command line.",
                epilog="Existing files are never replaced without --overwrite: generate and export-translator "
                       "stop before writing anything, upscale and translate skip them (--skip-existing, "
                       "their default). Exit status: 0 done, 1 a run or some files failed, 2 a mistake in "
                       "the command or its inputs, 130 stopped.")
    p.add_argument("--version", action="version", version=f"GAN Studio {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    ds = sub.add_parser("dataset", help="inspect an image folder")
    ds_sub = ds.add_subparsers(dest="dataset_command", required=True, metavar="SUBCOMMAND")
    chk = ds_sub.add_parser("check", help="report usable images, sizes and problem files")
    chk.add_argument("dir", help="image folder")
    chk.add_argument("--max-pixels", type=int, default=None,
                     help=f"skip images above this many pixels, as train does (default: {DEFAULT_MAX_PIXELS})")
    chk.set_defaults(func=cmd_dataset_check)

    tr = sub.add_parser("train", help="train a GAN on an image folder",
                        description="Presets: " + "; ".join(f"{k}: {v.description}" for k, v in PRESETS.items()))
    tr.add_argument("dir", help="image folder (or an MNIST idx / CIFAR-10 binary folder)")
    tr.add_argument("--out", required=True, help="run folder to create")
    tr.add_argument("--quiet", action="store_true", help="no progress bar")
    add_dataclass_arguments(tr, GanOptions, skip=("data",), group_title="model and data")
    add_dataclass_arguments(tr, TrainConfig, skip=("task",), group_title="training")
    tr.set_defaults(func=cmd_train)

    rs = sub.add_parser("resume", help="continue a run from its latest checkpoint")
    rs.add_argument("run", help="the run folder")
    rs.add_argument("--steps", type=int, default=None, help="new total step limit")
    rs.add_argument("--minutes", type=float, default=None, help="new time limit for this session")
    rs.add_argument("--data", nargs="+", metavar="DIR", default=None,
                    help="where the run's images are now, if their folder moved (a translation run on two "
                         "folders: A_DIR B_DIR); saved in the run for later resumes")
    rs.add_argument("--threads", type=int, default=None,
                    help="CPU threads for this session (0: all free cores) (default: as the run was started)")
    rs.add_argument("--device", default=None,
                    help=f"{DEVICE_HELP} for this session, e.g. for a run moved to another machine "
                         "(default: as the run was started)")
    rs.add_argument("--quiet", action="store_true", help="no progress bar")
    rs.set_defaults(func=cmd_resume)

    ge = sub.add_parser("generate", help="make images from a trained run or checkpoint",
                        description="Write one PNG per seed (seed-00042.png), one grid (--grid) or an "
                                    "interpolation (--interpolate A B: its frames in a folder interpolation-A-B "
                                    "and interpolation-A-B.gif beside it), with provenance. When "
                                    "any of those files exists, nothing is written unless --overwrite "
                                    "replaces them or --skip-existing keeps them (one PNG per seed only).")
    ge.add_argument("run", help="run folder or checkpoint file")
    ge.add_argument("--out", required=True, help="folder for the PNGs (made if missing)")
    ge.add_argument("--n", type=int, default=DEFAULT_GENERATE_N, help="number of images (default: 16)")
    ge.add_argument("--seed", type=int, default=0, help="first seed: images use seed, seed+1, ... (default: 0)")
    ge.add_argument("--truncation", type=float, default=1.0,
                    help="latent scale: <1 more typical, less varied (default: 1.0)")
    ge.add_argument("--grid", action="store_true", help="write one grid image instead of one file per seed")
    ge.add_argument("--interpolate", type=int, nargs=2, metavar=("A", "B"), help="interpolate seed A -> B")
    ge.add_argument("--frames", type=int, default=16, help="frames of an interpolation (default: 16)")
    ge.add_argument("--device", default="auto", help=f"{DEVICE_HELP} (default: auto)")
    add_threads_argument(ge)
    add_existing_arguments(ge, default="refuse",
                           skip_help="keep the seeds' images that already exist and write the others",
                           overwrite_help="replace files that already exist (default: stop with an error "
                                          "before writing anything)")
    ge.set_defaults(func=cmd_generate)

    dm = sub.add_parser("demo", help="train the primer's model on the bundled demo set for a minute")
    dm.add_argument("--minutes", type=float, default=1.0, help="training time (default: 1.0)")
    dm.add_argument("--out", default=None,
                    help="run folder to create (default: runs/demo, or runs/demo-N when that is taken)")
    dm.add_argument("--quiet", action="store_true", help="no progress bar")
    dm.set_defaults(func=cmd_demo)

    _add_optional_commands(sub)
    return p


def _add_optional_commands(sub: Any) -> None:
    """Commands of the Upscale and Translate packages, where they are installed."""
    try:
        from .core.upscale import cli_commands as up
    except ImportError:
        up = None
    if up is not None:
        up.add_upscale_parsers(sub)
        tu = sub.add_parser("train-upscaler", help="train a super-resolution model on high-resolution images")
        up.add_train_upscaler_arguments(tu)
        _add_run_arguments(tu, "upscale")
        tu.set_defaults(func=lambda a: _train_task(a, "upscale", up.upscale_options_from_args(a)))
    try:
        from .core.translate import cli_commands as tr
    except ImportError:
        tr = None
    if tr is not None:
        tr.add_translate_parsers(sub)
        tt = sub.add_parser("train-translate", help="train an image-to-image model (pix2pix or CycleGAN)")
        tr.add_train_translate_arguments(tt)
        _add_run_arguments(tt, "translate")
        tt.set_defaults(func=lambda a: _train_task(a, "translate", tr.translate_options_from_args(a)))


def _add_run_arguments(parser: argparse.ArgumentParser, task: str) -> None:
    from .core.config import TrainConfig
    from .core.tasks import get_task

    if not any(a.dest == "out" for a in parser._actions):
        parser.add_argument("--out", required=True, help="run folder to create")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    taken = {a.dest for a in parser._actions}
    add_dataclass_arguments(parser, TrainConfig, skip=("task", *taken), group_title="training",
                            defaults=get_task(task).default_config)


def _train_task(args: argparse.Namespace, task: str, options: Any) -> int:
    return _run_training(_train_config(args, task), options, Path(args.out), quiet=args.quiet)


def main(argv: Sequence[str] | None = None) -> int:
    from .core.errors import GanStudioError

    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except GanStudioError as e:
        if getattr(e, "exists", False) and getattr(e, "path", None) is not None:
            # the command line's way of allowing it, instead of the app's words
            print(f"error: {e.path} already exists; choose another name, or --overwrite replaces it.", file=sys.stderr)
        else:
            print(f"error: {e}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print("aborted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except OSError as e:  # disk full, permissions: a user's environment, not a bug
        print(f"error: {e.strerror or e}: {e.filename or ''}".rstrip(": "), file=sys.stderr)
        return EXIT_USER_ERROR


def leave(code: int) -> None:
    """End the process with ``code``. A rank of a torchrun job (``torchrun ... -m ganstudio.cli``, or
    the ``ganstudio-cli`` script) skips the interpreter's final clean-up: its work is saved and its
    process group closed, and Gloo's threads, torn down during that clean-up, aborted a finished rank
    now and then
    ("terminate called without an active exception", SIGABRT; once in the test suite's runs),
    which made torchrun report a completed run as failed."""
    if int(os.environ.get("WORLD_SIZE", "1") or 1) > 1:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)


def run() -> None:
    """The ``ganstudio-cli`` command and ``python -m ganstudio.cli``: ``main`` ended by ``leave``."""
    leave(main())


if __name__ == "__main__":
    run()
