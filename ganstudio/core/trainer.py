"""The one training entry point for every task (GAN, Upscale, Translate).

``train`` builds the task, writes the run directory itself and loops: one ``task.train_step`` per
step, ``should_stop`` and the pause flag checked every step, metrics averaged and written every
``log_every`` steps (the only CPU-GPU sync point), previews, validations and checkpoints at their
intervals, NaN recovery, and typed events to observers. GUI and CLI runs produce identical run
directories::

    RUN/
      config.json          TrainConfig + task options (what ``resume`` rebuilds the run from)
      metrics.jsonl        one JSON record per logged step (continues across resumes)
      samples/step-N.png   preview grids of the fixed latents / examples
      samples/latest.png
      checkpoints/step-N.safetensors, best.safetensors
      log.txt              health notes and messages, as shown to the user
"""
from __future__ import annotations

import json
import math
import os
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch

from . import distributed
from .checkpoint import (BEST_NAME, Checkpoint, capture_rng, latest_checkpoint, list_step_checkpoints,
                         load_module_state, load_optimizer_state, pack_state, prune_checkpoints, read_checkpoint,
                         read_newest, restore_rng, step_checkpoint_path, write_checkpoint)
from .config import TrainConfig, from_dict, to_dict
from .device import (default_threads, describe_device, keep_freed_memory, resolve_device, resolve_precision,
                     set_threads)
from .errors import (CheckpointError, ConfigError, GanStudioError, TrainingDiverged, is_disk_full,
                     write_failure_reason)
from .events import (CheckpointSaved, EvaluationDone, Event, Finished, HealthNote, Observer, Paused, Resumed,
                     SamplesReady, Started, StepEnded)
from .data import sheet_on_white
from .export import save_png
from .tasks import TaskContext, TrainingTask, get_task

CONFIG_NAME = "config.json"
LOG_NAME = "log.txt"
#: checkpoints in a row refused by a full disk before training stops (each further step would be lost)
DISK_FULL_STOP = 2
#: skipped files named in the training log's note (all of them go in log.txt)
SKIPPED_IN_NOTE = 5
METRICS_NAME = "metrics.jsonl"
EVAL_NAME = "eval.jsonl"
#: clock-driven preview refreshes wait at least this many times their own cost (at most ~2% of the time)
PREVIEW_COST_FACTOR = 50
#: how many times NaN recovery may reload and lower the learning rate before giving up
MAX_NAN_RECOVERIES = 3
#: factor applied to every learning rate after a NaN recovery
NAN_LR_FACTOR = 0.5


class PauseControl:
    """A thread-safe pause flag the trainer checks every step (the GUI's Pause/Resume buttons)."""

    def __init__(self) -> None:
        self._running = threading.Event()
        self._running.set()

    def pause(self) -> None:
        self._running.clear()

    def resume(self) -> None:
        self._running.set()

    @property
    def paused(self) -> bool:
        return not self._running.is_set()

    def wait(self, timeout: float) -> bool:
        """Block until resumed or ``timeout`` seconds pass; True if running."""
        return self._running.wait(timeout)


def save_run_config(run_dir: Path, config: TrainConfig, options: Any) -> None:
    doc = {"app": "ganstudio", "config": to_dict(config), "options": to_dict(options)}
    tmp = run_dir / (CONFIG_NAME + ".tmp")
    try:
        tmp.write_text(json.dumps(doc, indent=2), encoding="utf-8")
        os.replace(tmp, run_dir / CONFIG_NAME)
    except OSError:
        tmp.unlink(missing_ok=True)   # a full disk leaves no half-written file behind
        raise


def load_run_config(run_dir: str | os.PathLike) -> tuple[TrainConfig, Any]:
    """(TrainConfig, task options) from a run directory's config.json."""
    path = Path(run_dir) / CONFIG_NAME
    if not path.is_file():
        raise ConfigError(f"{run_dir} is not a GAN Studio run folder (it has no {CONFIG_NAME}).")
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
        config = from_dict(TrainConfig, doc["config"])
        options = from_dict(get_task(config.task).Options, doc["options"])
    except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError) as e:
        raise ConfigError(f"{path} is damaged: {e}") from e
    except OSError as e:
        raise ConfigError(f"{path} cannot be read: {e.strerror or e}.") from e
    return config, options


def config_from_checkpoint(meta: dict[str, Any]) -> tuple[TrainConfig, Any]:
    """(TrainConfig, task options) stored inside a checkpoint's metadata."""
    try:
        config = from_dict(TrainConfig, meta["config"])
        return config, from_dict(get_task(config.task).Options, meta["options"])
    except (KeyError, TypeError) as e:
        raise CheckpointError(f"The checkpoint's configuration is incomplete: {e}") from e


def train(config: TrainConfig, options: Any, run_dir: str | os.PathLike, *,
          observers: Iterable[Observer] = (), should_stop: Callable[[], bool] | None = None,
          pause: PauseControl | None = None, resume: bool = False,
          progress: Callable[[str, float], None] | None = None) -> Finished:
    """Train ``config.task`` with ``options`` into ``run_dir`` and return the final event.

    Args:
        config: shared run options (steps/minutes, optimiser, precision, device, intervals...).
        options: the task's options dataclass (e.g. ``GanOptions``).
        run_dir: the run directory; created if missing. A folder holding another run is refused
            unless ``resume`` is set.
        observers: callables receiving typed events (they must be quick; the GUI's re-emit signals).
        should_stop: checked before every step; True ends the run cleanly with a checkpoint.
        pause: pause flag checked before every step.
        resume: continue from the run directory's latest checkpoint.
        progress: (what, fraction) callback while data is loading.

    User errors (bad data, bad options, unreadable checkpoints) raise ``GanStudioError``; errors
    during the loop (divergence, out of memory, full disk) end the run with a ``Finished`` event
    whose reason is ``"diverged"`` or ``"error"`` after saving what can be saved.
    """
    run = _Run(config, options, Path(run_dir), list(observers), should_stop or (lambda: False),
               pause or PauseControl(), resume, progress)
    return run.execute()


#: task option fields that name a run's image folders
DATA_FIELDS = ("data", "a_dir", "b_dir")


def data_folders(options: Any) -> dict[str, str]:
    """The image folders a run trains on, by option field (``data``, or ``a_dir``/``b_dir``)."""
    return {f: getattr(options, f) for f in DATA_FIELDS if getattr(options, f, "")}


def with_absolute_folders(options: Any, folders: dict[str, str]) -> Any:
    """``options`` with ``folders`` (option field -> folder) set as absolute paths (``~`` expanded)."""
    return replace(options, **{f: os.path.abspath(os.path.expanduser(p)) for f, p in folders.items()})


def missing_data_folders(options: Any) -> dict[str, str]:
    """The run's image folders that are not there any more (moved, renamed, a drive not connected)."""
    return {f: p for f, p in data_folders(options).items() if not Path(p).exists()}


def relocate_data(run_dir: str | os.PathLike, folders: dict[str, str]) -> Any:
    """Point a run at the new place of its image folders (``{"data": "/new/place"}``) and save that
    in its config.json, so later resumes find them too. Returns the updated task options."""
    config, options = load_run_config(run_dir)
    known = data_folders(options)
    unknown = sorted(set(folders) - set(known))
    if unknown:
        raise ConfigError(f"This run has no image folder called {', '.join(unknown)}; "
                          f"its folders are: {', '.join(known) or 'none'}.")
    for field, folder in folders.items():
        if not Path(folder).is_dir():
            raise ConfigError(f"{folder} is not a folder.")
    options = with_absolute_folders(options, folders)
    save_run_config(Path(run_dir), config, options)
    return options


def resume_run(run_dir: str | os.PathLike, *, steps: int | None = None, minutes: float | None = None,
               threads: int | None = None, device: str | None = None, data: dict[str, str] | None = None,
               sample_seconds: float | None = None, **kwargs: Any) -> Finished:
    """Continue a run from its latest checkpoint.

    ``steps``/``minutes`` replace its limits (``minutes`` counts this session's training time);
    ``threads``/``device`` let it continue on other hardware; ``data`` gives the new place of image
    folders that moved (see ``relocate_data``); ``sample_seconds`` turns on (or changes) the
    clock-driven preview, which the app wants for a run started from the command line.
    Everything else stays as configured.
    """
    if data:
        relocate_data(run_dir, data)
    config, options = load_run_config(run_dir)
    if steps is not None or minutes is not None:
        config = replace(config, steps=steps, minutes=minutes)
    if threads is not None:
        config = replace(config, threads=threads)
    if device is not None:
        config = replace(config, device=device)
    if sample_seconds is not None:
        config = replace(config, sample_seconds=sample_seconds)
    return train(config, options, run_dir, resume=True, **kwargs)


class _Run:
    def __init__(self, config: TrainConfig, options: Any, run_dir: Path, observers: list[Observer],
                 should_stop: Callable[[], bool], pause: PauseControl, resume: bool,
                 progress: Callable[[str, float], None] | None) -> None:
        if not resume:
            # saved as absolute paths, so that resuming from another working folder finds the images
            options = with_absolute_folders(options, data_folders(options))
        self.config, self.options, self.run_dir = config, options, run_dir
        self.created: list[Path] = []     # what _prepare_dir made: removed again if the run cannot start
        self.time_offset = 0.0            # training seconds of the sessions before a resume (metrics.jsonl)
        self.disk_full_saves = 0          # checkpoints in a row that a full disk refused
        self.observers, self.should_stop, self.pause = observers, should_stop, pause
        self.resume, self.progress = resume, progress
        self.ckpt_dir = run_dir / "checkpoints"
        self.samples_dir = run_dir / "samples"
        self.step = 0
        self.dist = distributed.SINGLE
        self.last_saved_step = -1
        self.best_value: float | None = None
        self.last_metrics: dict[str, float] = {}

    # -- helpers -------------------------------------------------------------------------------
    def emit(self, event: Event) -> None:
        for obs in self.observers:
            obs(event)

    def note(self, level: str, message: str) -> None:
        if not self.dist.main:
            return
        try:
            with open(self.run_dir / LOG_NAME, "a", encoding="utf-8") as f:
                f.write(f"{time.strftime('%Y-%m-%d %H:%M:%S')} step {self.step} {level}: {message}\n")
        except OSError:
            pass
        self.emit(HealthNote(self.step, level, message))

    def _prepare_dir(self) -> None:
        cfg_path = self.run_dir / CONFIG_NAME
        if self.resume:
            if not cfg_path.is_file():
                raise ConfigError(f"{self.run_dir} has no run to resume (no {CONFIG_NAME}).")
        else:
            if cfg_path.exists() and latest_checkpoint(self.run_dir) is not None:
                raise ConfigError(f"{self.run_dir} already holds a run. Resume it, or choose a new folder.")
            if cfg_path.exists():
                # an attempt that ended (killed, out of memory) before its first checkpoint: nothing to
                # resume, so the folder starts again; its curves would only mislead
                for stale in (METRICS_NAME, EVAL_NAME):
                    (self.run_dir / stale).unlink(missing_ok=True)
                for stale in self.samples_dir.glob("*.png"):   # its previews, which would look newer
                    stale.unlink(missing_ok=True)
            if self.run_dir.exists() and not self.run_dir.is_dir():
                raise ConfigError(f"{self.run_dir} is a file, not a folder: choose a folder for the run.")
            try:
                if not self.run_dir.exists():
                    self.run_dir.mkdir(parents=True)
                    self.created.append(self.run_dir)
            except OSError as e:
                raise ConfigError(f"Cannot create the run folder {self.run_dir}: {write_failure_reason(e)}.") from e
        try:
            for d in (self.ckpt_dir, self.samples_dir):
                if not d.exists():
                    d.mkdir()
                    self.created.append(d)
            for name in (CONFIG_NAME, LOG_NAME):
                if not self.resume and not (self.run_dir / name).exists():
                    self.created.append(self.run_dir / name)
            save_run_config(self.run_dir, self.config, self.options)
        except OSError as e:
            raise ConfigError(f"Cannot write the run folder {self.run_dir}: {write_failure_reason(e)}.") from e

    def _discard_unstarted(self) -> None:
        """Remove what ``_prepare_dir`` made for a new run that could not start (its images were not
        usable, an option was wrong), so that the same folder can simply be used again."""
        for path in reversed(self.created):
            try:
                if path.is_dir():
                    path.rmdir()          # only when empty: nothing of the user's is ever removed
                else:
                    path.unlink(missing_ok=True)
            except OSError:
                pass
        self.created = []

    def _note_skipped(self) -> None:
        """Say which files were skipped and why: the first few in the note (log panel, CLI), all of
        them in log.txt."""
        skipped = self.task.skipped
        roots = [Path(d) for d in data_folders(self.options).values()]

        def shown(s: Any) -> str:
            for root in roots:
                if s.path.is_relative_to(root):
                    return f"{s.path.relative_to(root)} ({s.reason})"
            return f"{s.path} ({s.reason})"

        n, first = len(skipped), skipped[:SKIPPED_IN_NOTE]
        text = (f"{n} unusable {'file was' if n == 1 else 'files were'} skipped: "
                + "; ".join(shown(s) for s in first))
        if n > len(first):
            text += f"; and {n - len(first)} more, all listed in {LOG_NAME} in the run folder"
            try:
                with open(self.run_dir / LOG_NAME, "a", encoding="utf-8") as f:
                    f.writelines(f"    skipped: {shown(s)}\n" for s in skipped)
            except OSError:
                pass
        self.note("info", text + ".")

    # -- checkpoints ---------------------------------------------------------------------------
    def _state(self) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
        task = self.task
        task.prepare_for_export()
        meta = {"task": self.config.task, "config": to_dict(self.config), "options": to_dict(self.options),
                "model_info": task.model_info(), "extra_state": task.extra_state(),
                "metrics": self.last_metrics, "best_value": self.best_value}
        return pack_state(step=self.step, meta=meta, modules=task.modules(), optimizers=task.optimizers(),
                          rng=capture_rng(task.rng_streams()), extra_tensors=task.extra_tensors())

    def save_checkpoint(self, best: bool = False, final: bool = False) -> Path | None:
        """Write a checkpoint (rank 0 only under torchrun; the other ranks wait until it is on disk)."""
        if not self.dist.main:
            distributed.barrier(self.dist)
            self.last_saved_step = self.step
            return None
        try:
            return self._save_checkpoint(best, final)
        finally:
            distributed.barrier(self.dist)

    def _save_checkpoint(self, best: bool, final: bool) -> Path | None:
        target = step_checkpoint_path(self.ckpt_dir, self.step)
        try:
            tensors, doc = self._state()
            try:
                path = write_checkpoint(target, tensors, doc)
            except CheckpointError as e:
                # a full disk with room for the kept checkpoints but not one more: the oldest of them
                # makes room (one or more newer ones stay), then the write is tried once again
                older = list_step_checkpoints(self.ckpt_dir)
                if not (is_disk_full(e.__cause__ or e) and len(older) >= 2):
                    raise
                older[0][1].unlink(missing_ok=True)
                path = write_checkpoint(target, tensors, doc)
            if best:
                write_checkpoint(self.ckpt_dir / BEST_NAME, tensors, doc)
        except CheckpointError as e:
            full = is_disk_full(e.__cause__ or e)
            self.disk_full_saves = self.disk_full_saves + 1 if full else 0
            if final or (full and self.disk_full_saves >= DISK_FULL_STOP):
                self.note("error", str(e))
            else:
                self.note("error", f"{e} Training goes on; the next checkpoint is tried in "
                                   f"{self.config.checkpoint_every} steps, and on stopping.")
            return None
        self.disk_full_saves = 0
        self.last_saved_step = self.step
        prune_checkpoints(self.ckpt_dir, self.config.keep_checkpoints)
        self.emit(CheckpointSaved(self.step, path))
        return path

    def load_checkpoint(self, path: Path) -> None:
        self._apply_checkpoint(read_checkpoint(path))

    def _apply_checkpoint(self, ckpt: Checkpoint) -> None:
        task = self.task
        if ckpt.meta.get("task") != self.config.task:
            raise CheckpointError(f"{ckpt.path} is a {ckpt.meta.get('task')!r} checkpoint, not {self.config.task!r}.")
        for name, module in task.modules().items():
            load_module_state(ckpt, name, module)
        for name, opt in task.optimizers().items():
            load_optimizer_state(ckpt, name, opt)
        restore_rng(ckpt, task.rng_streams())   # rank 0's streams: the other ranks take their own again
        distributed.seed_rank_streams(self.dist, task.rng_streams(), task.rank_streams, self.config.seed, ckpt.step)
        task.load_extra_state(ckpt.meta.get("extra_state", {}))
        task.load_extra_tensors(ckpt.group("extra"))
        self.best_value = ckpt.meta.get("best_value")
        self.step = ckpt.step
        self.last_saved_step = self.step

    def _load_newest_readable(self) -> None:
        """Resume from the newest checkpoint that reads (``read_newest``), naming any newer one that
        is damaged."""
        if latest_checkpoint(self.run_dir) is None:
            raise CheckpointError(f"{self.run_dir} has no checkpoint to resume from: it ended before its first "
                                  "save. Start it again into the same folder (train with the same --out).")
        ckpt, damaged = read_newest(self.run_dir)
        self._apply_checkpoint(ckpt)
        if damaged:
            self.note("warning", f"Resumed from {ckpt.path.name}: the newer checkpoint could not be read: "
                                 + "; ".join(damaged))

    def _tidy_after_interruption(self) -> None:
        """A resumed run continues from its checkpoint: records logged after it by the interrupted
        process would appear twice, and a checkpoint it was writing when killed left a temp file."""
        last = self._trim_records(self.run_dir / METRICS_NAME)
        self.time_offset = float(last.get("time", 0.0)) if last else 0.0   # the new session's times go on from it
        self._trim_records(self.run_dir / EVAL_NAME)
        for stale in self.ckpt_dir.glob(".*.tmp"):
            try:
                stale.unlink()
            except OSError:
                pass

    def _trim_records(self, path: Path) -> dict[str, Any] | None:
        """Keep the records of ``path`` up to the checkpoint's step, once each; returns the last kept."""
        if not path.exists():
            return None
        keep, seen, last = [], set(), None
        # a damaged line (a kill mid-write, stray bytes) is dropped; "replace" keeps the others readable
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            try:
                record = json.loads(line)
                step = record.get("step", 0)
                if step <= self.step and step not in seen:
                    keep.append(line)
                    seen.add(step)
                    last = record
            except (json.JSONDecodeError, AttributeError, TypeError, ValueError):
                continue  # a line cut by a kill
        tmp = path.with_suffix(".tmp")
        try:
            tmp.write_text("".join(k + "\n" for k in keep), encoding="utf-8")
            os.replace(tmp, path)
        except OSError as e:
            tmp.unlink(missing_ok=True)
            raise ConfigError(f"Cannot update {path}: {write_failure_reason(e)}.") from e
        return last

    # -- the loop ------------------------------------------------------------------------------
    def execute(self) -> Finished:
        self.dist = distributed.from_env()
        if self.dist.active and not get_task(self.config.task).supports_distributed:
            raise ConfigError(f"A {self.config.task} run trains in one process: start it without torchrun.")
        device = distributed.device_for(self.dist, resolve_device(self.config.device))
        joined = distributed.setup(self.dist, device)
        try:
            finished = self._execute(device)
        except BaseException:
            distributed.teardown(joined, together=False)   # the other ranks may be mid-step: no barrier
            raise
        distributed.teardown(joined)
        return finished

    def _execute(self, device: torch.device) -> Finished:
        cfg = self.config
        main = self.dist.main
        self.ctx_device = device
        if not main:
            self.observers = []          # rank 0 reports for the whole job
        if device.type == "cpu":
            # processes that share this machine's cores share the default thread count too
            set_threads(cfg.threads or max(1, default_threads() // self.dist.local_world))
            keep_freed_memory()          # no page faults on the same megabytes every step
        if cfg.deterministic:
            torch.use_deterministic_algorithms(True, warn_only=True)
        torch.manual_seed(cfg.seed)
        dtype = resolve_precision(cfg.precision, device)
        if main:
            self._prepare_dir()
        distributed.barrier(self.dist)   # the other ranks read the run folder only once it is there
        ctx = TaskContext(cfg, device, dtype, self.progress, self.should_stop, self.dist)
        try:
            self.task: TrainingTask = get_task(cfg.task)(self.options, ctx)
        except BaseException:
            if main:
                self._discard_unstarted()
            raise
        distributed.seed_rank_streams(self.dist, self.task.rng_streams(), self.task.rank_streams, cfg.seed, 0)
        if self.resume:
            self._load_newest_readable()
            if cfg.steps is not None and self.step >= cfg.steps:
                raise ConfigError(f"This run is already at step {self.step:,} and its step limit is {cfg.steps:,}: "
                                  "give a higher step limit, or a time limit, to train it further.")
            if main:
                self._tidy_after_interruption()
        where = describe_device(device) + ("" if dtype is None else f", {_dtype_name(dtype)}")
        if self.dist.active:
            where += f", {self.dist.world} processes (torchrun)"
        self.emit(Started(self.run_dir, cfg.task, where, cfg.steps, self.step, self.task.dataset_size,
                          self.task.skipped_files, self.task.dataset_unit))
        if self.dist.active and device.type == "cpu" and self.dist.local_world > 1:
            self.note("info", f"{self.dist.local_world} training processes share this machine's CPU cores: one "
                              "process with all the cores is faster (0.75-0.87x measured with 2 processes on 2 "
                              "cores). torchrun pays off with one GPU per process, or several machines.")
        if self.task.skipped and main:
            self._note_skipped()
        for level, message in self.task.start_notes():
            self.note(level, message)
        try:
            reason, message = self._loop()
        except (RuntimeError, MemoryError) as e:   # torch.OutOfMemoryError is a RuntimeError
            if not _is_out_of_memory(e):
                raise
            reason, message = "error", _out_of_memory(e)
            self.note("error", message)
        except TrainingDiverged as e:
            reason, message = "diverged", str(e)
            self.note("error", message)
        ckpt = None
        distributed.check_in_sync(self.dist, self.task.modules(), device)
        if self.step > self.last_saved_step and reason != "diverged" and not self._weights_finite():
            kept = f"step {self.last_saved_step}" if self.last_saved_step > 0 else "none yet"
            reason, message = "diverged", (f"The network's weights became NaN/infinite after the last checkpoint, so "
                                           f"they were not saved (the last good checkpoint: {kept}). Lower the "
                                           "learning rate, or use fp32 precision, and resume.")
            self.note("error", message)
        if self.step > self.last_saved_step and reason != "diverged":
            ckpt = self.save_checkpoint(final=True)
            if ckpt is None and reason != "error" and main:   # the work since the last save is not on disk
                kept = f"step {self.last_saved_step}" if self.last_saved_step > 0 else "none"
                reason, message = "error", (f"Training reached step {self.step}, but its checkpoint could not be "
                                            f"saved (see the log). The latest saved checkpoint: {kept}.")
        if ckpt is None:
            ckpt = latest_checkpoint(self.run_dir)
        if main and reason in ("completed", "time-limit", "stopped") and self.step % cfg.sample_every:
            self._write_preview()
        fin = Finished(self.step, reason, self.run_dir, ckpt, message, dict(self.last_metrics))
        self.emit(fin)
        return fin

    def _loop(self) -> tuple[str, str]:
        cfg, task = self.config, self.task
        pending: list[dict[str, torch.Tensor]] = []
        recoveries = 0
        active_s = 0.0             # training time, pauses excluded
        window_start = time.perf_counter()
        window_steps = 0
        rate_steps_per_s: float | None = None
        fallback = _snapshot(task) if self.step == 0 else None   # NaN recovery target before a checkpoint exists
        # On a slow model (dcgan-64 on a CPU: ~1 step/s) the step-based previews come minutes apart;
        # the clock makes the live preview move at least every sample_seconds of training.
        last_preview = time.perf_counter()
        preview_interval = cfg.sample_seconds or 0.0
        main = self.dist.main
        metrics_file = open(self.run_dir / METRICS_NAME, "a", encoding="utf-8") if main else None
        metrics_ok = True
        try:
            while True:
                reason = self._limit_reached(active_s)
                if reason:
                    return reason, ""
                if self.pause.paused:
                    active_s += time.perf_counter() - window_start
                    self.emit(Paused(self.step))
                    while not self.pause.wait(0.1):
                        if self.should_stop():
                            return "stopped", ""
                    self.emit(Resumed(self.step))
                    window_start, window_steps = time.perf_counter(), 0
                    last_preview = window_start
                    pending.clear()

                pending.append(task.train_step(self.step))
                self.step += 1
                window_steps += 1

                if self.step % cfg.log_every == 0 or self.step == cfg.steps:
                    # The one sync point: average the window's losses on the device, then copy.
                    keys = list(pending[0])
                    values = torch.stack([torch.stack([p[k].float() for k in keys]) for p in pending]).mean(0)
                    metrics = dict(zip(keys, values.tolist()))
                    pending.clear()
                    now = time.perf_counter()
                    elapsed = now - window_start
                    active_s += elapsed
                    window_start = now
                    speed = window_steps / elapsed if elapsed > 0 else 0.0
                    window_steps = 0
                    rate_steps_per_s = speed if rate_steps_per_s is None else 0.7 * rate_steps_per_s + 0.3 * speed
                    finite = all(math.isfinite(v) for v in metrics.values())
                    if distributed.agree(self.dist, not finite, self.ctx_device):   # every rank goes back together
                        finite = False
                    if not finite:
                        recoveries = self._go_back(recoveries, fallback)
                        continue
                    self.last_metrics = metrics
                    record = {"step": self.step, "time": round(self.time_offset + active_s, 3), **{k: round(v, 6) for k, v in metrics.items()},
                              "img_per_s": round(speed * task.images_per_step, 2)}
                    if metrics_file is not None:
                        metrics_ok = self._append_metrics(metrics_file, record, metrics_ok)
                    eta = None
                    if cfg.steps is not None and rate_steps_per_s:
                        eta = (cfg.steps - self.step) / rate_steps_per_s
                    if cfg.minutes is not None:
                        left = max(0.0, cfg.minutes * 60 - active_s)
                        eta = left if eta is None else min(eta, left)
                    self.emit(StepEnded(self.step, metrics, speed * task.images_per_step, active_s, eta))
                    for level, message in task.health(self.step, metrics):
                        self.note(level, message)

                # rank 0 draws the previews
                if main and self.step % cfg.sample_every == 0:
                    self._write_preview()
                    last_preview = time.perf_counter()
                elif (main and cfg.sample_seconds is not None
                      and time.perf_counter() - last_preview >= preview_interval):
                    started = time.perf_counter()
                    self._write_preview(keep=False)
                    last_preview = time.perf_counter()
                    # a big model's preview may take ~1 s: keep these refreshes under ~2% of training
                    preview_interval = max(cfg.sample_seconds, PREVIEW_COST_FACTOR * (last_preview - started))
                if task.best_metric and self.step % cfg.eval_every == 0:
                    self._evaluate()
                last_step = cfg.steps is not None and self.step >= cfg.steps
                if self.step % cfg.checkpoint_every == 0 and not last_step:   # the end saves it (final)
                    if not self._weights_finite():   # between metric records: never save them
                        recoveries = self._go_back(recoveries, fallback)
                        continue
                    self.save_checkpoint()
                    if self.disk_full_saves >= DISK_FULL_STOP:   # every step from here would be lost
                        message = (f"The disk is full: {self.disk_full_saves} checkpoints in a row could not be "
                                   f"saved, so training stopped at step {self.step} instead of going on without "
                                   f"saving. The last checkpoint (step {self.last_saved_step}) is kept: free some "
                                   "space and resume.")
                        self.note("error", message)
                        return "error", message
        finally:
            try:
                if metrics_file is not None:
                    metrics_file.close()   # flushes: fails again on a full disk, which was already said
            except OSError:
                pass

    def _go_back(self, recoveries: int, fallback: dict[str, Any] | None) -> int:
        """NaN/infinite losses or weights: back to the last checkpoint with lower learning rates, or
        TrainingDiverged after too many tries. Returns the new count of tries."""
        recoveries += 1
        if self.config.nan_policy == "stop" or recoveries > MAX_NAN_RECOVERIES:
            raise TrainingDiverged(
                f"The losses became NaN/infinite at step {self.step} and did not recover "
                f"after {recoveries - 1} retries with lower learning rates. Lower the learning "
                "rate, use fp32 precision, or check the data. The last good checkpoint is kept.")
        self._recover(fallback)
        return recoveries

    def _weights_finite(self) -> bool:
        """Whether every weight is a number: a checkpoint of NaN weights would poison the run for good
        (recovery goes back to it). Agreed across ranks under torchrun."""
        checks = [torch.isfinite(t).all() for module in self.task.modules().values()
                  for t in module.state_dict().values() if t.is_floating_point()]
        finite = bool(torch.stack(checks).all()) if checks else True   # one device sync, not one per tensor
        return not distributed.agree(self.dist, not finite, self.ctx_device)

    def _limit_reached(self, active_s: float) -> str:
        """"completed", "time-limit", "stopped", or "" to go on.

        Under torchrun the step limit is the same everywhere; the clock and the stop request are
        rank 0's and are agreed only at the steps where metrics sync anyway (every ``log_every``),
        never with a sync of their own on every step (which would stall GPUs).
        """
        cfg = self.config
        if cfg.steps is not None and self.step >= cfg.steps:
            return "completed"
        if self.dist.active and self.step % cfg.log_every:
            return ""
        reason = ""
        if cfg.minutes is not None and active_s >= cfg.minutes * 60:
            reason = "time-limit"
        elif self.should_stop():
            reason = "stopped"
        if not self.dist.active:
            return reason
        codes = ("", "time-limit", "stopped")
        return codes[distributed.agree_code(self.dist, codes.index(reason) if self.dist.main else 0, self.ctx_device)]

    def _append_metrics(self, file, record: dict[str, Any], ok: bool) -> bool:
        """Append one record to metrics.jsonl. A failed write (a full disk) is said once in the log and
        training goes on: the live chart comes from events, and checkpoints say what they can."""
        try:
            file.write(json.dumps(record) + "\n")
            file.flush()
        except OSError as e:
            if ok:
                self.note("error", f"Could not write {METRICS_NAME}: {write_failure_reason(e)}. "
                                   "The loss history on disk has a gap from this step.")
            return False
        return True

    def _recover(self, fallback: dict[str, Any] | None) -> None:
        ck = latest_checkpoint(self.run_dir)
        if ck is not None:
            self.load_checkpoint(ck)
            where = f"the checkpoint of step {self.step}"
        elif fallback is not None:
            _restore_snapshot(self.task, fallback)
            self.step = 0
            where = "the start"
        else:
            raise TrainingDiverged("The losses became NaN and there is no checkpoint to go back to.")
        self.task.scale_learning_rates(NAN_LR_FACTOR)
        self.note("warning", f"The losses became NaN (not a number): training had diverged, usually because the "
                             f"learning rate is too high for this data. Went back to {where} and halved the "
                             "learning rates.")

    def _write_preview(self, keep: bool = True) -> None:
        """Draw the preview grid into samples/latest.png and, when ``keep``, samples/step-N.png too
        (the clock-driven refreshes between step-based previews are not kept)."""
        image = self.task.preview()
        flat = sheet_on_white(image)
        latest = self.samples_dir / "latest.png"
        path = self.samples_dir / f"step-{self.step:08d}.png" if keep else latest
        try:
            if keep:
                save_png(flat, path, {"step": str(self.step), "run": str(self.run_dir)}, overwrite=True)
            save_png(flat, latest, {"step": str(self.step)}, overwrite=True)
        except GanStudioError as e:
            self.note("error", str(e))
            path = None
        self.emit(SamplesReady(self.step, image, path))

    def _evaluate(self) -> None:
        metrics = self.task.evaluate()
        if not metrics:
            return
        key = self.task.best_metric
        value = metrics.get(key) if key else None
        best = value is not None and math.isfinite(value) and (self.best_value is None or value > self.best_value)
        if best:
            self.best_value = value
        try:
            if self.dist.main:   # every rank evaluates (the same weights, the same verdict); rank 0 writes
                with open(self.run_dir / EVAL_NAME, "a", encoding="utf-8") as f:
                    f.write(json.dumps({"step": self.step, **metrics}) + "\n")
        except OSError:
            pass
        self.emit(EvaluationDone(self.step, metrics, best))
        if best:
            self.save_checkpoint(best=True)


def _is_out_of_memory(e: BaseException) -> bool:
    """A GPU's OutOfMemoryError, Python's MemoryError, or PyTorch's CPU allocator, which says it ran
    out in words only."""
    if isinstance(e, (torch.OutOfMemoryError, MemoryError)):
        return True
    text = str(e)
    return "can't allocate memory" in text or "DefaultCPUAllocator" in text


def _out_of_memory(e: BaseException) -> str:
    where = "" if isinstance(e, torch.OutOfMemoryError) else " (the computer's memory)"
    return (f"Out of memory{where}. Lower the batch size or choose a smaller preset"
            + (", or train on the CPU" if isinstance(e, torch.OutOfMemoryError) else "")
            + ". The last checkpoint is kept.")


def _dtype_name(dtype: torch.dtype) -> str:
    return {torch.bfloat16: "bf16", torch.float16: "fp16"}.get(dtype, str(dtype))


def _snapshot(task: TrainingTask) -> dict[str, Any]:
    return {
        "modules": {k: {n: t.detach().clone() for n, t in m.state_dict().items()} for k, m in task.modules().items()},
        "optimizers": {k: _clone_optimizer_state(o.state_dict()) for k, o in task.optimizers().items()},
    }


def _clone_optimizer_state(sd: dict[str, Any]) -> dict[str, Any]:
    return {"state": {i: {k: (v.clone() if torch.is_tensor(v) else v) for k, v in s.items()} for i, s in sd["state"].items()},
            "param_groups": [dict(g) for g in sd["param_groups"]]}


def _restore_snapshot(task: TrainingTask, snap: dict[str, Any]) -> None:
    for k, m in task.modules().items():
        m.load_state_dict(snap["modules"][k])
    for k, o in task.optimizers().items():
        o.load_state_dict(snap["optimizers"][k])
