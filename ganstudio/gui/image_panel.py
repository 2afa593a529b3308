"""What the Upscale and Translate panels share: each turns a list of input images into output
images with one model, shows one result, exports it as a PNG and batches a folder.

``ImagePanel`` extends the job bookkeeping of ``PanelJobs`` with the settings, the small widgets
and the actions whose logic is the same in both panels. A panel sets ``SETTINGS_GROUP`` and
``RUN_KIND`` (the job kind of its main action) and provides ``_inputs`` (an input list),
``_tile_spin``, ``_existing_combo``, ``_batch_result``, ``run_batch()``, ``export_png()`` and a
``status_changed`` signal.
"""
from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image
from PySide6.QtCore import QSettings, Qt
from PySide6.QtGui import QAction
from PySide6.QtWidgets import (QCheckBox, QComboBox, QFileDialog, QFormLayout, QGroupBox, QLabel, QListWidget,
                               QListWidgetItem, QMessageBox, QSizePolicy, QToolButton, QVBoxLayout)

from ..core.export import unique_path
from ..core.upscale.batch import plan_batch
from ..core.upscale.imageio import image_from_pil
from .jobs import JobContext
from .panel_jobs import PanelJobs
from .settings import first_start_folder
from .formatting import format_duration
from .widgets.layout import scaled_to_text
from .widgets.up_input_list import THUMB_SIDE

log = logging.getLogger(__name__)

#: files beyond this many get a name and size in the list but no thumbnail (keeps huge folders quick)
MAX_THUMBNAILS = 500
#: thumbnails sent to the GUI together (fewer, larger messages)
PREVIEWS_PER_MESSAGE = 16
#: ``plan_batch`` wants an output folder; listing the inputs does not write anywhere
_NO_OUTPUT = Path(os.devnull)
_CHANNEL_MODES = {1: "L", 2: "LA", 3: "RGB", 4: "RGBA"}
#: model files and run folders remembered in the picker
MAX_RECENT_MODELS = 8
#: failures named in the end-of-batch dialog itself (all of them are in its details and in the panel)
MAX_LISTED_FAILURES = 8
#: seconds of a batch before an ETA is shown (the first file includes loading the network)
ETA_AFTER_S = 2.0
#: the most height of the list of a batch's failed files at a 9 pt font (seven lines; more with a
#: bigger font) before it scrolls
PROBLEMS_MAX_HEIGHT = 110


@dataclass(frozen=True)
class BatchTexts:
    """What a panel's batch is called in its messages (already translated)."""
    working: str       # status line per file, with {name}, {done}, {total}, {eta}
    one_failed: str    # dialog heading for one failed file
    many_failed: str   # dialog heading for several, with {count}
    title: str         # the dialog's title
    verb: str          # for the log: "upscale", "translate"
    done: str          # for the log: "upscaled", "translated"


def list_inputs(sources: list[Path], ctx: JobContext, thumbnail_side: int = THUMB_SIDE) -> int:
    """The background half of opening images: sends ("list", [(file, shown name)], [missing
    sources]) at once, then ("previews", [(row, thumbnail, size, problem)]) in groups; returns the
    number of files. Thumbnails fit ``thumbnail_side`` pixels (more than ``THUMB_SIDE`` on a
    high-density screen: ``UpInputList.thumbnail_pixels``)."""
    items, missing = plan_batch(sources, _NO_OUTPUT, recursive=True)
    entries = [(item.source, _shown_name(item.source, sources)) for item in items]
    ctx.emit(("list", entries, [str(p) for p, _ in missing]))
    previews = []
    for row, (path, _name) in enumerate(entries):
        if ctx.should_stop():
            break
        previews.append((row, *_preview(path, thumbnail=row < MAX_THUMBNAILS, side=thumbnail_side)))
        if len(previews) >= PREVIEWS_PER_MESSAGE:
            ctx.emit(("previews", previews))
            previews = []
    if previews:
        ctx.emit(("previews", previews))
    return len(entries)


def _shown_name(path: Path, sources: list[Path]) -> str:
    """A listed file's name: relative to the opened folder that holds it, else its own name."""
    for source in sources:
        if source.is_dir():
            try:
                return path.relative_to(source).as_posix()
            except ValueError:
                continue
    return path.name


def _preview(path: Path, thumbnail: bool, side: int = THUMB_SIDE
             ) -> tuple[np.ndarray | None, tuple[int, int] | None, str | None]:
    """(RGBA thumbnail of at most ``side`` pixels or None, (width, height) as shown, problem) of an
    image file, quickly: JPEGs are decoded at a reduced size, others fully (through the same
    conversions as an upscale)."""
    try:
        with Image.open(path) as im:
            width, height = im.size
            if not thumbnail:
                return None, (width, height), None
            im.draft("RGB", (2 * side, 2 * side))
            pixels = image_from_pil(im).pixels
            if (pixels.shape[1] > pixels.shape[0]) != (width > height) and width != height:
                width, height = height, width   # EXIF orientation turned it
            small = Image.fromarray(pixels[:, :, 0] if pixels.shape[2] == 1 else pixels,
                                    _CHANNEL_MODES[pixels.shape[2]])
            small = small.convert("RGBA")
            small.thumbnail((side, side))
            return np.asarray(small).copy(), (width, height), None
    except Exception as e:  # noqa: BLE001 - any reason a file cannot be shown is reported, never raised
        text = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        return None, None, text


def _failure_line(path: Path, reason: str) -> str:
    """A failed file and why, naming the file once (the core's reasons usually name it already)."""
    return reason if path.name in reason else f"{path.name}: {reason}"


class ImagePanel(PanelJobs):
    """Mixin for the image-to-image panels (Upscale, Translate)."""

    SETTINGS_GROUP = ""    # the QSettings group of the panel's preferences
    RUN_KIND = ""          # the job kind of the panel's main action ("upscale", "translate")
    #: where training runs are saved (the main window sets it): model dialogs start there at first
    runs_folder: Callable[[], Path] | None = None

    def _init_jobs(self) -> None:
        super()._init_jobs()
        self._pending_run = False    # the main action was asked for while the model was loading
        self._batch_started = 0.0
        self._batch_file = ("", 0, 0)          # (name, done, total) of the batch's current file
        self._batch_result = None              # the last batch's BatchResult

    def _batch_texts(self) -> BatchTexts:
        """The wording of this panel's batch (each panel defines it: "upscaled", "translated"...)."""
        raise NotImplementedError(f"{type(self).__name__} must say how its batch is worded")

    # ------------------------------------------------------------------ settings
    def _settings(self) -> QSettings:
        settings = QSettings()
        settings.beginGroup(self.SETTINGS_GROUP)
        return settings

    def _start_folder(self, key: str) -> str:
        value = str(self._settings().value(key, "") or "")
        if value and Path(value).is_dir():
            return value
        return first_start_folder(self.runs_folder if key == "last_model_dir" else None)

    def _remember_folder(self, key: str, folder: Path) -> None:
        self._settings().setValue(key, str(folder))

    def recent_models(self) -> list[Path]:
        """Model files and run folders used before (newest first) that still exist."""
        try:
            raw = json.loads(str(self._settings().value("recent_models", "[]") or "[]"))
        except ValueError:
            raw = []
        paths = [Path(p) for p in raw if isinstance(p, str) and p] if isinstance(raw, list) else []
        return [p for p in paths if p.exists()][:MAX_RECENT_MODELS]

    # ------------------------------------------------------------------ small widgets and state
    def _button(self, action: QAction, name: str, *, expanding: bool = True) -> QToolButton:
        button = QToolButton()
        button.setDefaultAction(action)
        button.setObjectName(name)
        button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        if expanding:
            button.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        return button

    def _build_batch_box(self, summary: str, problems_tip: str) -> QGroupBox:
        """The Batch box: what to do with existing files, the batch button, and below it the last
        batch's outcome and the list of files that failed (``problems_tip`` says what it lists).
        ``summary`` (what a batch does) is the box's tooltip: a line that would only repeat it until
        a batch has run would cost the image list a row on a small screen."""
        self._existing_combo = QComboBox()
        self._existing_combo.setObjectName("existing")
        self._existing_combo.addItem(self.tr("Skip them"), "skip")
        self._existing_combo.addItem(self.tr("Replace them"), "overwrite")
        self._existing_combo.setToolTip(self.tr("What to do with output files that already exist."))
        self._batch_summary = QLabel()
        self._batch_summary.setObjectName("batchSummary")
        self._batch_summary.setWordWrap(True)
        self._batch_summary.setVisible(False)     # until a batch starts (``_show_batch_summary``)
        self._batch_problems = QListWidget()
        self._batch_problems.setObjectName("batchProblems")
        self._batch_problems.setMaximumHeight(scaled_to_text(self._batch_problems, PROBLEMS_MAX_HEIGHT))
        self._batch_problems.setWordWrap(True)
        self._batch_problems.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self._batch_problems.setToolTip(problems_tip)
        self._batch_problems.setVisible(False)
        box = QGroupBox(self.tr("Batch"))
        box.setToolTip(summary)
        layout = QVBoxLayout(box)
        form = QFormLayout()
        form.setContentsMargins(0, 0, 0, 0)
        form.addRow(self.tr("Existing files"), self._existing_combo)
        layout.addLayout(form)
        layout.addWidget(self._button(self._batch_action, "batch"))
        layout.addWidget(self._batch_summary)
        layout.addWidget(self._batch_problems)
        return box

    def _show_batch_summary(self, text: str) -> None:
        """What the batch is doing, or how the last one went, under the batch button."""
        self._batch_summary.setText(text)
        self._batch_summary.setVisible(True)

    def batch_summary(self) -> str:
        """The line under the batch button ("" before the first batch)."""
        return self._batch_summary.text() if not self._batch_summary.isHidden() else ""

    def _show_progress(self, text: str, fraction: float) -> None:
        self._progress.setVisible(True)
        if fraction < 0:   # not known yet: a busy bar
            self._progress.setRange(0, 0)
            return
        self._progress.setRange(0, 1000)
        self._progress.setFormat(text)
        self._progress.setValue(round(fraction * 1000))

    def inputs(self) -> list[Path]:
        """The image files listed, in order."""
        return self._inputs.paths()

    def current_input(self) -> Path | None:
        return self._inputs.current_path()

    def select_input(self, path: str | Path) -> None:
        """Make a listed image the current one."""
        paths = self._inputs.paths()
        if Path(path) in paths:
            self._inputs.setCurrentRow(paths.index(Path(path)))

    def tile(self) -> int | None:
        """The tile size chosen (input pixels), or None for automatic."""
        return self._tile_spin.value() or None

    def set_tile(self, tile: int | None) -> None:
        self._tile_spin.setValue(int(tile or 0))

    def _make_best_quality_check(self, runs: int, tooltip: str) -> QCheckBox:
        """The "Best quality" box (``_ensemble_check``): the model runs ``runs`` times per image."""
        self._ensemble_check = QCheckBox(self.tr("Best quality ({runs}× slower)").format(runs=runs))
        self._ensemble_check.setObjectName("ensemble")
        self._ensemble_check.setToolTip(tooltip)
        return self._ensemble_check

    def best_quality(self) -> bool:
        """Whether "Best quality" (the model's self-ensemble) is chosen."""
        return self._ensemble_check.isChecked()

    def _restore_best_quality(self, s: QSettings) -> None:
        self._ensemble_check.setChecked(str(s.value("ensemble", "false")).lower() == "true")

    def _save_best_quality(self, s: QSettings) -> None:
        s.setValue("ensemble", "true" if self.best_quality() else "false")

    def _on_ensemble_check_toggled(self, _checked: bool) -> None:
        self._save_settings()
        self._show_current()   # a result made with the other setting is no longer the one shown

    def existing_policy(self) -> str:
        """"skip" or "overwrite": what a batch does with outputs that already exist."""
        return str(self._existing_combo.currentData())

    def last_batch_result(self):
        return self._batch_result

    def cancel(self) -> None:
        """Stop the main action or the batch that is running (a batch keeps the files already written)."""
        self._pending_run = False
        for kind in (self.RUN_KIND, "batch"):
            job = self._jobs.get(kind)
            if job is not None:
                job.cancel()
                self._status(self.tr("Cancelling…"))

    # ------------------------------------------------------------------ export
    def _export_png(self, result: object | None, path: str | Path | None, nothing_yet: str,
                    ask: Callable[[], tuple[Path, bool] | None], write: Callable[[Path, bool], Path]) -> None:
        """Export ``result`` in the background with ``write(target, may_replace)`` (``exported``):
        to ``path`` (never replacing a file: a free name is used instead), or where ``ask()`` says."""
        if result is None:
            self._status(nothing_yet)
            return
        if path is not None:
            target, overwrite = unique_path(Path(path)), False
        else:
            chosen = ask()
            if chosen is None:
                return
            target, overwrite = chosen

        def work(ctx: JobContext) -> str:
            return str(write(target, overwrite))

        def done(written: str) -> None:
            self._status(self.tr("Saved {file}.").format(file=written))
            self.exported.emit(written)

        self._status(self.tr("Saving {name}…").format(name=target.name))
        self._start_job(f"export:{target}", work, done,
                        failure=self.tr("Could not save {name}.").format(name=target.name))

    def _ask_png_target(self, title: str, source: Path, name: str) -> tuple[Path, bool] | None:
        """(file, may replace) from a save dialog, which itself asks before replacing a file. It
        starts in the last export folder (else the source's) with a free file called ``name``."""
        return self._ask_save_target(title, source, name, ".png", self.tr("PNG images (*.png)"))

    def _ask_save_target(self, title: str, source: Path, name: str, suffix: str,
                         file_filter: str) -> tuple[Path, bool] | None:
        """``_ask_png_target`` for files ending in ``suffix``."""
        folder = Path(self._start_folder("last_export_dir")) if self._settings().value("last_export_dir") \
            else source.parent
        chosen, _ = QFileDialog.getSaveFileName(self, title, str(unique_path(folder / name)), file_filter)
        if not chosen:
            return None
        target = Path(chosen)
        self._remember_folder("last_export_dir", target.parent)
        if target.suffix.lower() != suffix:
            # the dialog confirmed the name as typed; the name with the suffix must not be replaced unasked
            return unique_path(target.with_name(target.name + suffix)), False
        return target, True

    def _on_export_action_triggered(self) -> None:
        self.export_png()

    def _on_batch_action_triggered(self) -> None:
        self.run_batch()

    # ------------------------------------------------------------------ batch progress and outcome
    def _on_batch_message(self, message: Any) -> None:
        """("file", done, total, name) as each file starts, ("tile", fraction) within a file."""
        if message[0] == "file":
            _, done, total, name = message
            self._batch_file = (name, done, total)
            self.batch_progressed.emit(done, total)
            within = 0.0
        else:
            within = message[1]
        name, done, total = self._batch_file
        if total <= 0:
            return
        fraction = min(1.0, (done + within) / total)
        elapsed = time.monotonic() - self._batch_started
        if fraction > 0 and elapsed >= ETA_AFTER_S:
            left = format_duration(elapsed * (1 - fraction) / fraction)
            eta = self.tr("about {time} left").format(time=left)
        else:
            eta = self.tr("estimating time…")
        text = self.tr("{done} of {total} · {name} · {eta}").format(done=min(done + 1, total), total=total,
                                                                    name=name, eta=eta)
        self._show_progress(text, fraction)
        if message[0] == "file" and name:
            self._status(self._batch_texts().working.format(name=name, done=done + 1, total=total, eta=eta))

    def _on_batch_done(self, result: Any, out_dir: Path) -> None:
        texts = self._batch_texts()
        self._batch_result = result
        log.info("batch %s into %s: %s", texts.verb, out_dir, result.summary())
        for path, reason in result.failed:   # the log file keeps them after the dialog is closed
            log.warning("not %s: %s: %s", texts.done, path, reason)
        for path, note in result.notes:
            log.info("%s: %s", path, note)
        text = self.tr("{written} written, {skipped} skipped (already there), {failed} failed.").format(
            written=len(result.written), skipped=len(result.skipped_existing), failed=len(result.failed))
        converted = len({path for path, _ in result.notes})
        if converted:
            text += " " + (self.tr("1 was converted on reading (listed below).") if converted == 1 else
                           self.tr("{count} were converted on reading (listed below).").format(count=converted))
        if result.cancelled:
            text = self.tr("Cancelled.") + " " + text
        if result.stopped:
            text += " " + self.tr("Stopped: {reason}").format(reason=result.stopped)
        self._show_batch_summary(text + "\n" + self.tr("Folder: {folder}").format(folder=out_dir))
        self._status(self.tr("Batch into {folder}: {summary}").format(folder=out_dir, summary=text))
        for path, reason in result.failed:
            item = QListWidgetItem(_failure_line(path, reason))
            item.setToolTip(f"{path}\n{reason}")
            self._batch_problems.addItem(item)
        notes: dict[Path, list[str]] = {}
        for path, note in result.notes:
            notes.setdefault(path, []).append(note)
        for path, said in notes.items():   # written, but not quite as they were: worth knowing
            item = QListWidgetItem(self.tr("{name}: {notes}").format(name=path.name, notes="; ".join(said)))
            item.setToolTip(f"{path}\n" + "\n".join(said))
            self._batch_problems.addItem(item)
        self._batch_problems.setVisible(bool(result.failed or notes))
        if result.failed:
            failed = (texts.one_failed if len(result.failed) == 1
                      else texts.many_failed.format(count=len(result.failed)))
            reasons = "\n".join(_failure_line(p, r) for p, r in result.failed[:MAX_LISTED_FAILURES])
            if len(result.failed) > MAX_LISTED_FAILURES:
                reasons += "\n…"
            box = QMessageBox(QMessageBox.Icon.Warning, texts.title, f"{failed}\n{reasons}\n\n{text}",
                              QMessageBox.StandardButton.Ok, self)
            box.setDetailedText("\n".join(f"{path}: {reason}" for path, reason in result.failed))
            box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
            box.setWindowModality(Qt.WindowModality.WindowModal)
            box.open()
        self.batch_finished.emit(result)
