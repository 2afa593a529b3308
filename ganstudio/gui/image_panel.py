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
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QSettings, Qt
from PySide6.QtGui import QAction
from PySide6.QtWidgets import (QComboBox, QFileDialog, QFormLayout, QGroupBox, QLabel, QListWidget, QSizePolicy,
                               QToolButton, QVBoxLayout)

from ..core.export import unique_path
from .jobs import JobContext
from .panel_jobs import PanelJobs

#: model files and run folders remembered in the picker
MAX_RECENT_MODELS = 8


class ImagePanel(PanelJobs):
    """Mixin for the image-to-image panels (Upscale, Translate)."""

    SETTINGS_GROUP = ""    # the QSettings group of the panel's preferences
    RUN_KIND = ""          # the job kind of the panel's main action ("upscale", "translate")

    def _init_jobs(self) -> None:
        super()._init_jobs()
        self._pending_run = False    # the main action was asked for while the model was loading

    # ------------------------------------------------------------------ settings
    def _settings(self) -> QSettings:
        settings = QSettings()
        settings.beginGroup(self.SETTINGS_GROUP)
        return settings

    def _start_folder(self, key: str) -> str:
        value = str(self._settings().value(key, "") or "")
        return value if value and Path(value).is_dir() else str(Path.home())

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
        """The Batch box: what to do with existing files, the batch button, ``summary`` and the list
        of files that failed (``problems_tip`` says what it lists)."""
        self._existing_combo = QComboBox()
        self._existing_combo.setObjectName("existing")
        self._existing_combo.addItem(self.tr("Skip them"), "skip")
        self._existing_combo.addItem(self.tr("Replace them"), "overwrite")
        self._existing_combo.setToolTip(self.tr("What to do with output files that already exist."))
        self._batch_summary = QLabel(summary)
        self._batch_summary.setObjectName("batchSummary")
        self._batch_summary.setWordWrap(True)
        self._batch_problems = QListWidget()
        self._batch_problems.setObjectName("batchProblems")
        self._batch_problems.setMaximumHeight(110)
        self._batch_problems.setWordWrap(True)
        self._batch_problems.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self._batch_problems.setToolTip(problems_tip)
        self._batch_problems.setVisible(False)
        box = QGroupBox(self.tr("Batch"))
        layout = QVBoxLayout(box)
        form = QFormLayout()
        form.setContentsMargins(0, 0, 0, 0)
        form.addRow(self.tr("Existing files"), self._existing_combo)
        layout.addLayout(form)
        layout.addWidget(self._button(self._batch_action, "batch"))
        layout.addWidget(self._batch_summary)
        layout.addWidget(self._batch_problems)
        return box

    def _status(self, text: str) -> None:
        self.status_changed.emit(text)

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
        folder = Path(self._start_folder("last_export_dir")) if self._settings().value("last_export_dir") \
            else source.parent
        chosen, _ = QFileDialog.getSaveFileName(self, title, str(unique_path(folder / name)),
                                                self.tr("PNG images (*.png)"))
        if not chosen:
            return None
        target = Path(chosen)
        self._remember_folder("last_export_dir", target.parent)
        if target.suffix.lower() != ".png":
            # the dialog confirmed the name as typed; the name with .png must not be replaced unasked
            return unique_path(target.with_name(target.name + ".png")), False
        return target, True

    def _on_export_action_triggered(self) -> None:
        self.export_png()

    def _on_batch_action_triggered(self) -> None:
        self.run_batch()
