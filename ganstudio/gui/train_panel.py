"""The Train panel: choose what to train (a GAN, an upscaler or a translator), its data and
options, then train it and watch it learn.

The task choice at the top changes the dataset section (one folder of images; one folder of
high-resolution images; paired or unpaired A/B folders with a pairing report), the model options,
the Advanced defaults (``default_train_config``), the chart's curves and the live preview's
captions. Everything else (Start/Pause/Stop, progress, log, earlier runs) is the same for all
tasks, because the core's one trainer drives all of them with the same events.

Everything slow runs in a ``Job`` (folder scans, pairing, the preprocessing preview, reading the
runs folder, training itself); the panel only displays the typed events the core sends. Redraws are
throttled by the widgets (chart and preview at most twice a second), so a fast run cannot flood the
event loop. Training writes its own run directory (<runs>/<dataset>-<model>-<timestamp>), the
same as a CLI run.

Preferences: the task and each task's options are remembered in ``last_options`` (the GAN's under
their plain field names, the others as "upscale.<field>", "translate.<field>"), with the Upscale
folder as "upscale.folder" and the Translate data choices as "translate.data.<key>"; the GAN's
folder is the first of the recent folders, as before.
"""
from __future__ import annotations

import dataclasses
import json
import logging
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import QSignalBlocker, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (QComboBox, QFileDialog, QGroupBox, QHBoxLayout, QLabel, QLineEdit, QMenu, QMessageBox,
                               QProgressBar, QPushButton, QSizePolicy, QStyle, QToolButton, QVBoxLayout, QWidget)

from ganstudio.core import events as ev
from ganstudio.core.checkpoint import list_step_checkpoints
from ganstudio.core.data import (KIND_NAMES, Cancelled, ImageDataset, Preprocess, ScanReport, check_usable, load_images,
                                 make_grid, read_cifar10_batch, read_idx_images, scan_folder)
from ganstudio.core.errors import DatasetError, GanStudioError
from ganstudio.core.gan import preset_enlargement
from ganstudio.core.models import get_preset
from ganstudio.core.resources import demo_dataset_dir
from ganstudio.core.trainer import (EVAL_NAME, METRICS_NAME, PauseControl, load_run_config, missing_data_folders,
                                    relocate_data, resume_run, train)

from .app import freeze_long_lived_objects, release_frozen_objects
from .errors import show_error, show_exception
from .formatting import format_duration
from .jobs import Job, JobContext
from .settings import Preferences
from .theme import palette_icon
from .widgets.dataset_view import DatasetView, image_thumbnails, thumbnail_sheet
from .widgets.layout import named_splitter, screen_pixels, side_column
from .widgets.log_view import LogView
from .widgets.loss_chart import LossChart
from .widgets.runs_list import RunsList
from .widgets.sample_view import SampleView
from .widgets.task_translate import TranslateDataReport, TranslateDataView, check_translate_data
from .widgets.task_views import (TASKS, chart_layout, chart_title, describe_evaluation, preview_texts,
                                 task_description, task_name)
from .widgets.training_form import GUI_SAMPLE_SECONDS, MACHINE_OPTIONS, TrainingForm

log = logging.getLogger(__name__)

#: option changes within this many ms make one preview, not one each
PREVIEW_DEBOUNCE_MS = 250
#: images in the "what the model sees" preview and per row
PREVIEW_IMAGES = 16
PREVIEW_COLUMNS = 8
#: thumbnails of the original images, their side in pixels and per row
THUMBNAIL_COUNT = 12
THUMBNAIL_SIDE = 48
THUMBNAIL_COLUMNS = 6
#: the share of the right column's height first given to the progress, chart and samples (the log
#: and the earlier runs get the rest; the user's own split is remembered)
CHART_SHARE = 0.65
#: the share of the width below the chart first given to the log (the earlier runs get the rest)
LOG_SHARE = 0.42
_SHARE_UNIT = 1000
#: how long closing the app waits for a training thread to save its checkpoint and end
SHUTDOWN_WAIT_MS = 120_000
#: tasks whose data is one folder of images (the Translate task has its own data section)
FOLDER_TASKS = ("gan", "upscale")
#: what metrics.jsonl records hold beside the task's metrics (not drawn as curves)
_RECORD_EXTRAS = ("step", "time", "img_per_s")

IDLE, LOADING, TRAINING, PAUSING, PAUSED, STOPPING = "idle", "loading", "training", "pausing", "paused", "stopping"


@dataclass(frozen=True)
class _History:
    """A resumed run's earlier metrics and validations, sent by the resume job before training continues."""
    steps: list[int]
    metrics: list[dict[str, float]]
    eval_steps: list[int]
    eval_metrics: list[dict[str, float]]


class TrainPanel(QWidget):
    """Task, dataset, options, Start/Pause/Stop, live chart and preview, log, and earlier runs."""

    load_into_generate = Signal(Path)   # "Load into Generate" on an earlier GAN run
    use_in_upscale = Signal(Path)       # "Use in Upscale" on an earlier upscaler run
    use_in_translate = Signal(Path)     # "Use in Translate" on an earlier translator run
    task_changed = Signal(str)          # the task choice changed: "gan" | "upscale" | "translate"
    activity_changed = Signal(str)      # one line for the status bar ("" when idle)
    state_changed = Signal(str)         # idle | loading | training | pausing | paused | stopping
    dataset_scanned = Signal(int)       # a scan ended; usable images (Translate: pairs, or A + B images; 0: unusable)
    preview_updated = Signal()          # the "what the model sees" preview was redrawn
    step_ended = Signal(int)            # a StepEnded event was shown (its step)
    evaluation_done = Signal(int)       # a validation result was shown (its step)
    training_finished = Signal(object)  # the run's Finished event, or None when it failed to start
    shutdown_ready = Signal()           # after begin_shutdown(): the training thread has ended

    def __init__(self, preferences: Preferences, parent: QWidget | None = None, *,
                 initial_folder: str | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("train_panel")
        self.setAcceptDrops(True)
        self.prefs = preferences
        self._state = IDLE
        self._task = "gan"
        self._folder: str | None = None
        self._report: ScanReport | None = None
        # the folder of each folder task, and its last scan (switching back shows it without a rescan)
        self._folders: dict[str, str] = {}
        self._scans: dict[str, tuple[str, ScanReport, np.ndarray | None]] = {}
        self._translate_report: TranslateDataReport | None = None
        self._task_values: dict[str, dict[str, Any]] = {}   # each task's options, as last shown
        self._jobs: set[Job] = set()          # every job still running, cancelled ones included
        self._scan_job: Job | None = None     # the check of the current task's data (a folder scan, A/B matching)
        self._preview_job: Job | None = None
        self._preview_again = False
        self._train_job: Job | None = None
        self._pause: PauseControl | None = None
        self._run_dir: Path | None = None
        self._run_name = ""
        self._total_steps: int | None = None
        self._limit_seconds: float | None = None
        self._last_step = 0
        self._run_task = "gan"                # the task of the run training (or last trained)
        self._run_mode = ""                   # and its Translate mode
        self._best_step = -1                  # the step of the latest best validation (its checkpoint follows)
        self._objects_frozen = False
        self._autostart = False
        self._shutting_down = False

        self._make_actions()
        self._build()

        self._preview_timer = QTimer(self)
        self._preview_timer.setSingleShot(True)
        self._preview_timer.setInterval(PREVIEW_DEBOUNCE_MS)
        self._preview_timer.timeout.connect(self._start_preview)
        self.form.preprocess_changed.connect(self._preview_timer.start)
        self.form.preprocess_changed.connect(self._update_gan_size_note)
        self.dataset_view.size_note.fix_requested.connect(self._on_gan_fit_preset_requested)

        task, self._task_values, upscale_folder, translate_data = read_task_preferences(self.prefs.last_options)
        if initial_folder:
            task = "gan"           # a folder given at start (the demo) is a GAN's dataset
        gan_folder = initial_folder or self._initial_folder()
        if gan_folder:
            self._folders["gan"] = str(Path(gan_folder).expanduser())
        if upscale_folder and Path(upscale_folder).is_dir():
            self._folders["upscale"] = upscale_folder
        self.translate_data.set_values(translate_data)
        self.form.translate.set_mode(self.translate_data.current_mode())
        self.runs_list.set_folder(self.prefs.resolved_runs_dir())
        self._set_state(IDLE)
        self._switch_task(task if task in TASKS else "gan", remember=False)

    # ------------------------------------------------------------------------------------------
    # building
    def _make_actions(self) -> None:
        style = self.style()

        def action(text: str, shortcut: QKeySequence | str | None, icon: QStyle.StandardPixmap | None,
                   slot) -> QAction:
            act = QAction(text, self)
            if shortcut:
                act.setShortcut(QKeySequence(shortcut))
                # Scoped to the panel: another panel may use the same keys for its own actions.
                act.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
            if icon is not None:
                act.setIcon(palette_icon(style.standardIcon(icon)))   # light on a dark palette
            act.triggered.connect(slot)
            self.addAction(act)
            return act

        self.open_folder_action = action(self.tr("Open Dataset Folder…"), QKeySequence.StandardKey.Open,
                                         QStyle.StandardPixmap.SP_DirOpenIcon, self._on_open_folder_action_triggered)
        self.demo_action = action(self.tr("Use the Demo Images"), None, None, self._on_demo_action_triggered)
        self.start_action = action(self.tr("Start Training"), "Ctrl+Return", QStyle.StandardPixmap.SP_MediaPlay,
                                   self.start_training)
        self.pause_action = action(self.tr("Pause"), "Ctrl+P", QStyle.StandardPixmap.SP_MediaPause,
                                   self.toggle_pause)
        self._pause_icon, self._resume_icon = self.pause_action.icon(), self.start_action.icon()
        self.stop_action = action(self.tr("Stop and Save"), "Ctrl+.", QStyle.StandardPixmap.SP_MediaStop,
                                  self.stop_training)
        self.recent_menu = QMenu(self.tr("Recent Folders"), self)
        self.recent_menu.aboutToShow.connect(self._fill_recent_menu)
        for act, tip in ((self.open_folder_action, self.tr("Choose the folder of images to train on")),
                         (self.start_action, self.tr("Start training a new model on this dataset")),
                         (self.pause_action, self.tr("Pause training; resume it later from the same step")),
                         (self.stop_action, self.tr("Stop training and save a checkpoint"))):
            act.setToolTip(_with_shortcut(tip, act))

    def menu_actions(self) -> list[QAction | QMenu | None]:
        """What the main window puts in this panel's menu (None: a separator)."""
        return [self.open_folder_action, self.recent_menu, self.demo_action, None,
                self.start_action, self.pause_action, self.stop_action]

    def _build(self) -> None:
        # -- left: task, dataset and options, scrolling ---------------------------------------------
        self.task_combo = QComboBox()
        for task in TASKS:
            self.task_combo.addItem(task_name(task), task)
            self.task_combo.setItemData(self.task_combo.count() - 1, task_description(task),
                                        Qt.ItemDataRole.ToolTipRole)
        self.task_combo.setToolTip(self.tr("What to train. Each kind of model has its own data and options."))
        self.task_combo.currentIndexChanged.connect(self._on_task_combo_current_index_changed)
        self.task_description = QLabel()
        self.task_description.setWordWrap(True)
        task_box = QGroupBox(self.tr("What to train"))
        task_layout = QVBoxLayout(task_box)
        task_layout.addWidget(self.task_combo)
        task_layout.addWidget(self.task_description)

        self.folder_edit = QLineEdit()
        self.folder_edit.setReadOnly(True)
        self.folder_edit.setPlaceholderText(self.tr("No folder chosen"))
        choose = QToolButton()
        choose.setText(self.tr("Choose…"))     # not setDefaultAction: that would show the menu's longer text
        choose.setIcon(self.open_folder_action.icon())
        choose.setToolTip(self.open_folder_action.toolTip())
        choose.clicked.connect(self.open_folder_action.trigger)
        choose.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        choose.setMenu(self.recent_menu)
        choose.setPopupMode(QToolButton.ToolButtonPopupMode.MenuButtonPopup)
        self.choose_button = choose
        folder_row = QHBoxLayout()
        folder_row.addWidget(self.folder_edit, 1)
        folder_row.addWidget(choose)
        drop_hint = QLabel(self.tr("Or drop a folder anywhere on this panel."))
        drop_hint.setEnabled(False)
        self.folder_hint = QLabel()
        self.folder_hint.setWordWrap(True)
        self.dataset_view = DatasetView()
        # one folder of images (GAN, Upscale)
        self.folder_section = QWidget()
        folder_layout = QVBoxLayout(self.folder_section)
        folder_layout.setContentsMargins(0, 0, 0, 0)
        folder_layout.addWidget(self.folder_hint)
        folder_layout.addLayout(folder_row)
        folder_layout.addWidget(drop_hint)
        folder_layout.addWidget(self.dataset_view)
        # A and B images (Translate)
        self.translate_data = TranslateDataView()
        self.translate_data.changed.connect(self._on_translate_data_changed)
        self.translate_data.mode_changed.connect(self._on_translate_data_mode_changed)
        self.translate_data.size_note.fix_requested.connect(self._on_translate_fit_size_requested)
        # shown by the task switch when Translate is chosen; hidden from the start, so that the side
        # column is never measured with both data sections in it (the window kept that width)
        self.translate_data.hide()
        self.dataset_box = QGroupBox(self.tr("Dataset"))
        dataset_layout = QVBoxLayout(self.dataset_box)
        dataset_layout.addWidget(self.folder_section)
        dataset_layout.addWidget(self.translate_data)

        self.form = TrainingForm()
        self.form.translate.changed.connect(self._update_translate_size_note)
        settings = QWidget()
        settings_layout = QVBoxLayout(settings)
        settings_layout.setContentsMargins(0, 0, 4, 0)
        settings_layout.addWidget(task_box)
        settings_layout.addWidget(self.dataset_box)
        settings_layout.addWidget(self.form)
        settings_layout.addStretch(1)
        scroll = side_column(settings, 340)

        self.start_button = _ActionButton(self.start_action, self.tr("Start"))
        self.pause_button = _ActionButton(self.pause_action)
        self.stop_button = _ActionButton(self.stop_action, self.tr("Stop"))
        buttons = QHBoxLayout()
        buttons.addWidget(self.start_button, 2)
        buttons.addWidget(self.pause_button, 1)
        buttons.addWidget(self.stop_button, 1)
        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        left_layout.addWidget(scroll, 1)
        left_layout.addLayout(buttons)

        # -- right: progress, chart and samples, log and runs --------------------------------------
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setValue(0)
        self.progress.setTextVisible(True)
        self.progress.setFormat(self.tr("Not training"))
        self.progress.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.loss_chart = LossChart()
        self.sample_view = SampleView()
        self.samples_box = QGroupBox(self.tr("Samples"))
        QVBoxLayout(self.samples_box).addWidget(self.sample_view)
        self.chart_box = QGroupBox(self.tr("Losses"))
        QVBoxLayout(self.chart_box).addWidget(self.loss_chart)
        self.charts_splitter = named_splitter(Qt.Orientation.Horizontal, "train_charts_splitter",
                                              [self.chart_box, self.samples_box], [1, 1])
        self.charts_splitter.setSizes([520, 460])
        top = QWidget()
        top_layout = QVBoxLayout(top)
        top_layout.setContentsMargins(0, 0, 0, 0)
        top_layout.addWidget(self.progress)
        top_layout.addWidget(self.charts_splitter, 1)

        self.log_view = LogView()
        log_box = QGroupBox(self.tr("Log"))
        QVBoxLayout(log_box).addWidget(self.log_view)
        self.runs_list = RunsList()
        self.runs_list.resume_requested.connect(self.resume_run)
        self.runs_list.load_into_generate.connect(self.load_into_generate)
        self.runs_list.use_in_upscale.connect(self.use_in_upscale)
        self.runs_list.use_in_translate.connect(self.use_in_translate)
        self.runs_list.change_folder_requested.connect(self._on_runs_list_change_folder_requested)
        runs_box = QGroupBox()
        QVBoxLayout(runs_box).addWidget(self.runs_list)
        self.bottom_splitter = named_splitter(Qt.Orientation.Horizontal, "train_bottom_splitter", [log_box, runs_box])
        # the runs' long names (dataset-model-date-time) need the wider half; the log wraps its lines
        log_width = round(LOG_SHARE * _SHARE_UNIT)
        self.bottom_splitter.setSizes([log_width, _SHARE_UNIT - log_width])
        self.right_splitter = named_splitter(Qt.Orientation.Vertical, "train_right_splitter",
                                             [top, self.bottom_splitter], [3, 1])
        # a proportion, kept as the window is resized: from the size hints alone the log and the earlier
        # runs got only their minimum below a 900-px window (three runs on a 1366x768 laptop)
        chart = round(CHART_SHARE * _SHARE_UNIT)
        self.right_splitter.setSizes([chart, _SHARE_UNIT - chart])
        self.main_splitter = named_splitter(Qt.Orientation.Horizontal, "train_main_splitter",
                                            [left, self.right_splitter], [0, 1])
        self.main_splitter.setSizes([400, 1000])
        self.main_splitter.setChildrenCollapsible(False)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addWidget(self.main_splitter)
        # Locked while training (the run uses the options it started with); the dataset report stays
        # readable.
        self._settings_widgets = [self.task_combo, self.folder_edit, choose, self.form]

    # ------------------------------------------------------------------------------------------
    # public
    def state(self) -> str:
        return self._state

    def task(self) -> str:
        """The task chosen: "gan" | "upscale" | "translate"."""
        return self._task

    def set_task(self, task: str) -> None:
        """Choose what to train (as the task choice at the top does); ignored while training."""
        if task not in TASKS:
            raise ValueError(f"Invalid task {task!r}. Only {', '.join(TASKS)} are supported.")
        if task != self._task and self._train_job is None:
            self._switch_task(task)

    def folder(self) -> str | None:
        """The dataset folder of the current task (GAN, Upscale); None for Translate or when none is chosen."""
        return self._folder

    def run_dir(self) -> Path | None:
        """The folder of the current (or last) run."""
        return self._run_dir

    def is_training(self) -> bool:
        return self._train_job is not None

    def busy_reason(self) -> str | None:
        """Why closing now would lose work (the main window asks first), or None."""
        return self.tr("A model is training.") if self._train_job is not None else None

    def begin_shutdown(self) -> None:
        """Stop training cleanly (a checkpoint is saved); ``shutdown_ready`` follows when it has ended."""
        self._shutting_down = True
        if self._train_job is None:
            self.shutdown_ready.emit()
        else:
            self.stop_training()

    def shutdown(self) -> None:
        """Cancel all background work and wait for every thread (the window is closing)."""
        if self._train_job is None:
            self._save_task_preferences()        # what the user chose since the last start or task switch
        self._preview_timer.stop()
        self._autostart = False
        for job in self._jobs:
            job.cancel()
        ended = all([job.wait(SHUTDOWN_WAIT_MS if job is self._train_job else 30_000) for job in list(self._jobs)])
        self.runs_list.shutdown()
        if not ended:
            log.error("a background job did not end in time; keeping it referenced")
            return
        # The jobs' "ended" slots will not run any more (the window is going); say so now.
        self._jobs.clear()
        self._scan_job = self._preview_job = self._train_job = None
        self._pause = None
        self._state = IDLE
        if self._objects_frozen:
            release_frozen_objects()
            self._objects_frozen = False

    def autostart_when_ready(self) -> None:
        """Start training as soon as the current task's data has been checked (for demos)."""
        self._autostart = True
        self._maybe_autostart()

    def _maybe_autostart(self) -> None:
        if self._autostart and self._can_start():
            self._autostart = False
            self.start_training()

    # ------------------------------------------------------------------------------------------
    # the task
    def _on_task_combo_current_index_changed(self, index: int) -> None:
        task = self.task_combo.itemData(index)
        if task and task != self._task:
            self._switch_task(task)

    def _switch_task(self, task: str, remember: bool = True) -> None:
        """Show ``task``'s data, options, chart and preview; the options it had last time come back."""
        if remember:
            self._task_values[self._task] = self.form.values()
        machine = {k: v for k, v in self.form.values().items() if k in MACHINE_OPTIONS}
        self._task = task
        with QSignalBlocker(self.task_combo):
            self.task_combo.setCurrentIndex(self.task_combo.findData(task))
        self.task_description.setText(task_description(task))
        self.form.set_task(task)
        values = dict(self._task_values.get(task, {}))
        if remember:
            values.update(machine)      # the machine's settings carry over from the task shown before
        self.form.set_values(values)
        self.folder_section.setVisible(task in FOLDER_TASKS)
        self.translate_data.setVisible(task == "translate")
        self.dataset_view.set_preview_visible(task == "gan")
        hints = {"gan": self.tr("A folder of images like the ones the model should make."),
                 "upscale": self.tr("A folder of high-resolution images: photos or artwork at full size. "
                                    "Smaller copies are made from them while training, and the upscaler "
                                    "learns to restore the originals.")}
        self.folder_hint.setText(hints.get(task, ""))
        self.dataset_box.setTitle(self.tr("High-resolution images") if task == "upscale"
                                  else self.tr("Images A → B") if task == "translate" else self.tr("Dataset"))
        if self._train_job is None:
            self._show_run_views(task, self._translate_mode())
        # the data of the task shown: a folder (rescanned only if it changed) or the A/B folders
        self._preview_timer.stop()
        if self._preview_job is not None:
            self._preview_job.cancel()
        if self._scan_job is not None:
            self._scan_job.cancel()       # its result is ignored when it ends
            self._scan_job = None
        self._folder, self._report = None, None
        self._set_activity("")
        if task in FOLDER_TASKS:
            self._show_task_folder(task)
        else:
            self._check_translate_data()
        if remember:
            self._save_task_preferences()
        self._update_actions()
        self.task_changed.emit(task)

    def _show_task_folder(self, task: str) -> None:
        folder = self._folders.get(task)
        cached = self._scans.get(task)
        if folder and cached is not None and cached[0] == folder and Path(folder).is_dir():
            self._show_folder_text(folder)
            self._folder = folder
            self._accept_scan(folder, cached[1], cached[2])
        elif folder:
            self.choose_folder(folder)
        else:
            self._show_folder_text("")
            self.dataset_view.show_prompt(self.tr("Choose a folder of high-resolution images to start.")
                                          if task == "upscale" else self.tr("Choose a folder of images to start."))
            self._set_activity("")

    def _translate_mode(self) -> str:
        return self.translate_data.current_mode()

    def _show_run_views(self, task: str, mode: str) -> None:
        """The chart's curves, the preview's texts and the boxes' titles for a run of ``task``."""
        texts = preview_texts(task, mode)
        self.samples_box.setTitle(texts.title)
        self.sample_view.set_texts(texts.placeholder, texts.caption)
        self.chart_box.setTitle(chart_title(task, mode))
        self.loss_chart.set_layout(chart_layout(task, mode))

    def _save_task_preferences(self) -> None:
        self._task_values[self._task] = self.form.values()
        self.prefs.set_last_options(task_preferences(self._task, self._task_values, self._folders.get("upscale"),
                                                     self.translate_data.values()))

    # ------------------------------------------------------------------------------------------
    # dataset
    def _initial_folder(self) -> str | None:
        for folder in self.prefs.recent_folders:
            if Path(folder).is_dir():
                return folder
        try:
            return str(demo_dataset_dir())
        except GanStudioError:
            return None

    def choose_folder(self, folder: str | Path) -> None:
        """Use ``folder`` as the current task's dataset (GAN, Upscale): scan it in the background and
        show what it holds."""
        if self._train_job is not None or self._task not in FOLDER_TASKS:
            return
        folder = str(Path(folder).expanduser())
        task = self._task
        self._folder = folder
        self._folders[task] = folder
        self._scans.pop(task, None)
        self._report = None
        self._show_folder_text(folder)
        if self._scan_job is not None:
            self._scan_job.cancel()          # its result is ignored when it ends
        if self._preview_job is not None:
            self._preview_job.cancel()
        self._preview_timer.stop()
        self.dataset_view.show_scanning(folder)
        self._update_actions()
        self._set_activity(self.tr("Scanning {0}…").format(Path(folder).name))

        # made with the screen's pixels (96 at 200 % display scaling), so they stay sharp there
        side = screen_pixels(self, THUMBNAIL_SIDE)

        def scan(ctx: JobContext) -> tuple[ScanReport, np.ndarray | None]:
            report = scan_folder(folder, progress=lambda done, total: ctx.progress("scan", done / max(total, 1)),
                                 should_stop=ctx.should_stop)
            return report, thumbnail_grid(report, ctx.should_stop, side=side)

        job = self._new_job(scan)
        job.progressed.connect(lambda _what, fraction: self._on_scan_job_progressed(job, fraction))
        job.succeeded.connect(lambda result: self._on_scan_job_succeeded(job, task, folder, result))
        job.failed.connect(lambda exc, tb: self._on_scan_job_failed(job, exc, tb))
        job.ended.connect(lambda: self._on_scan_job_ended(job))
        self._scan_job = job
        job.start()

    def _on_scan_job_progressed(self, job: Job, fraction: float) -> None:
        if job is self._scan_job:
            self.dataset_view.set_progress(fraction)

    def _show_folder_text(self, folder: str) -> None:
        self.folder_edit.setText(folder)
        self.folder_edit.setToolTip(folder)
        self.folder_edit.setCursorPosition(len(folder))    # the end (the folder's own name) is what matters

    def _on_scan_job_succeeded(self, job: Job, task: str, folder: str,
                               result: tuple[ScanReport, np.ndarray | None]) -> None:
        if job is not self._scan_job or task != self._task:
            return
        report, thumbnails = result
        if self._accept_scan(folder, *result):
            self._scans[task] = (folder, report, thumbnails)
            if task == "gan":
                self.prefs.add_recent_folder(folder)
            else:
                self._save_task_preferences()

    def _accept_scan(self, folder: str, report: ScanReport, thumbnails: np.ndarray | None) -> bool:
        """Show a scan of the current task's folder; True if the task can train on it."""
        self.dataset_view.show_report(report, thumbnails)
        try:
            if self._task == "upscale" and report.kind != "images":
                raise DatasetError(self.tr("{0} holds a packed dataset; an upscaler trains on ordinary image "
                                           "files.").format(Path(folder).name))
            check_usable(report)
        except DatasetError as e:
            self.dataset_view.show_error(str(e))
            self.dataset_scanned.emit(0)
            return False
        self._report = report
        if self._task == "gan":
            self._start_preview()
            self._update_gan_size_note()
        self.dataset_scanned.emit(report.image_count())
        self._update_actions()
        return True

    def _update_gan_size_note(self) -> None:
        """Warn (with a one-click fix) when the preset would enlarge most of the folder's images."""
        text, fix = None, None
        found = self._gan_enlargement()
        if found is not None:
            side, factor, smaller = found
            preset = get_preset(self.form.gan.preset.currentData())
            if self._report.kind == "images":
                whose = self.tr("Half of your images are {0} px or smaller on their shorter side").format(side)
            else:
                whose = self.tr("The images of this {kind} set are {side} px").format(
                    kind=KIND_NAMES[self._report.kind], side=side)
            text = self.tr("{whose}: {preset} enlarges them {factor:.1f}× to {size} px, which adds no detail "
                           "and makes training slower."
                           ).format(whose=whose, preset=preset.name, factor=factor, size=preset.size)
            fix = self.tr("Use {0}").format(smaller) if smaller else None
        self.dataset_view.size_note.show_note(text, fix)

    def _gan_enlargement(self) -> tuple[int, float, str | None] | None:
        if self._task != "gan" or self._report is None:
            return None
        return preset_enlargement(self._report, self.form.gan.preset.currentData())

    def _on_gan_fit_preset_requested(self) -> None:
        found = self._gan_enlargement()
        if found is None or found[2] is None or self._train_job is not None:
            return
        combo = self.form.gan.preset
        combo.setCurrentIndex(combo.findData(found[2]))   # its change updates the note and the preview

    def _on_scan_job_failed(self, job: Job, exc: object, tb: str) -> None:
        if job is not self._scan_job or isinstance(exc, Cancelled):
            return
        view = self.translate_data if self._task == "translate" else self.dataset_view
        if isinstance(exc, GanStudioError):
            view.show_error(str(exc))
        else:
            view.show_error(self.tr("The folders could not be read.") if self._task == "translate"
                            else self.tr("The folder could not be read."))
            show_exception(self, exc, tb)
        self.dataset_scanned.emit(0)

    def _on_scan_job_ended(self, job: Job) -> None:
        if job is self._scan_job:
            self._scan_job = None
            self._set_activity("")
            self._update_actions()
            self._maybe_autostart()
        job.deleteLater()

    def _on_open_folder_action_triggered(self) -> None:
        if self._task == "translate":
            self.translate_data.a_row.button.click()
            return
        start = self._folder or str(Path.home())
        title = (self.tr("Choose a Folder of High-Resolution Images") if self._task == "upscale"
                 else self.tr("Choose a Folder of Images"))
        folder = QFileDialog.getExistingDirectory(self, title, start)
        if folder:
            self.choose_folder(folder)

    def _on_demo_action_triggered(self) -> None:
        try:
            if self._task != "gan":
                self._switch_task("gan")
            self.choose_folder(demo_dataset_dir())
        except GanStudioError as e:
            show_exception(self, e)

    # -- Translate: A and B folders --------------------------------------------------------------
    def translate_report(self) -> TranslateDataReport | None:
        """What the chosen A/B folders hold (None until checked, or when unusable)."""
        return self._translate_report

    def _on_translate_data_changed(self) -> None:
        if self._task == "translate" and self._train_job is None:
            self._check_translate_data()
            self._save_task_preferences()

    def _on_translate_data_mode_changed(self, mode: str) -> None:
        self.form.translate.set_mode(mode)
        if self._train_job is None:
            self._show_run_views("translate", mode)

    def _update_translate_size_note(self) -> None:
        """Warn (with a one-click fix) when the resize and crop sizes do not suit the images found."""
        advice = self._translate_size_advice()
        self.translate_data.size_note.show_note(*(advice[:2] if advice else (None,)))

    def _translate_size_advice(self) -> tuple[str, str, tuple[int, int]] | None:
        report = self._translate_report
        return self.form.translate.size_advice(report.min_side, report.median_side) if report else None

    def _on_translate_fit_size_requested(self) -> None:
        advice = self._translate_size_advice()
        if advice is not None and self._train_job is None:
            self.form.translate.set_sizes(*advice[2])   # its changed signal updates the note

    def _check_translate_data(self) -> None:
        """Match (paired) or count (unpaired) the A/B images in the background; the report follows."""
        self._translate_report = None
        if self._scan_job is not None:
            self._scan_job.cancel()      # its result is ignored when it ends
            self._scan_job = None
        view = self.translate_data
        if not view.is_complete():
            view.show_incomplete()
            self._update_actions()
            return
        data = view.data()
        view.show_checking()
        self._set_activity(self.tr("Checking the images of {0}…").format(view.dataset_name()))
        job = self._new_job(lambda ctx: check_translate_data(data, ctx.should_stop))
        job.succeeded.connect(lambda report: self._on_translate_job_succeeded(job, report))
        job.failed.connect(lambda exc, tb: self._on_scan_job_failed(job, exc, tb))
        job.ended.connect(lambda: self._on_scan_job_ended(job))
        self._scan_job = job
        self._update_actions()
        job.start()

    def _on_translate_job_succeeded(self, job: Job, report: TranslateDataReport) -> None:
        if job is not self._scan_job or self._task != "translate":
            return
        self.translate_data.show_report(report)
        if report.usable():
            self._translate_report = report
        self._update_translate_size_note()
        self.dataset_scanned.emit(report.pairs if report.mode == "paired" else report.count_a + report.count_b)

    def _fill_recent_menu(self) -> None:
        self.recent_menu.clear()
        folders = [f for f in self.prefs.recent_folders if Path(f).is_dir()]
        if self._task == "upscale" and self._folders.get("upscale") in folders:
            folders.remove(self._folders["upscale"])
        if self._task == "upscale" and self._folders.get("upscale"):
            folders.insert(0, self._folders["upscale"])
        for folder in folders:
            act = self.recent_menu.addAction(folder)
            act.triggered.connect(lambda _checked=False, f=folder: self.choose_folder(f))
        if not folders:
            none = self.recent_menu.addAction(self.tr("No recent folders"))
            none.setEnabled(False)
        self.recent_menu.addSeparator()
        self.recent_menu.addAction(self.demo_action)

    # drag and drop: a folder (or a file, meaning its folder) dropped anywhere on the panel
    # (Translate: its folder rows take drops themselves)
    def dragEnterEvent(self, event) -> None:  # noqa: N802 (Qt override)
        if self._train_job is None and self._task in FOLDER_TASKS and _dropped_folder(event.mimeData()) is not None:
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:  # noqa: N802
        folder = _dropped_folder(event.mimeData())
        if folder is not None and self._train_job is None and self._task in FOLDER_TASKS:
            event.acceptProposedAction()
            self.choose_folder(folder)

    # ------------------------------------------------------------------------------------------
    # preview of what the model sees
    def _start_preview(self) -> None:
        report = self._report
        if report is None or self._task != "gan":
            return
        if self._preview_job is not None:
            self._preview_again = True
            self._preview_job.cancel()
            return
        try:
            preprocess = self.form.preprocess()
        except GanStudioError as e:
            self.dataset_view.show_preview(None, str(e))
            return
        caption = self._preview_caption(preprocess)

        def preview(ctx: JobContext) -> np.ndarray | None:
            return preview_grid(report, preprocess, ctx.should_stop)

        job = self._new_job(preview)
        job.succeeded.connect(lambda grid: self._on_preview_job_succeeded(job, report, grid, caption))
        job.failed.connect(lambda exc, tb: self._on_preview_job_failed(job, exc, tb))
        job.ended.connect(lambda: self._on_preview_job_ended(job))
        self._preview_job = job
        job.start()

    def _preview_caption(self, p: Preprocess) -> str:
        fits = {"center-crop": self.tr("centre crop"), "random-crop": self.tr("random crops (centre shown)"),
                "pad": self.tr("fitted inside"), "stretch": self.tr("stretched")}
        colour = self.tr("colour") if p.color == "rgb" else self.tr("grey")
        return self.tr("{0}×{0} pixels, {1}, {2}").format(p.size, fits.get(p.fit, p.fit), colour)

    def _on_preview_job_succeeded(self, job: Job, report: ScanReport, grid: np.ndarray | None, caption: str) -> None:
        if self._preview_again or report is not self._report or self._task != "gan":
            return
        self.dataset_view.show_preview(grid, caption if grid is not None else self.tr("No image could be prepared."))
        self.preview_updated.emit()

    def _on_preview_job_failed(self, job: Job, exc: object, tb: str) -> None:
        if self._preview_again or isinstance(exc, Cancelled):
            return
        message = str(exc) if isinstance(exc, GanStudioError) else self.tr("The preview could not be made.")
        self.dataset_view.show_preview(None, message)
        if not isinstance(exc, GanStudioError):
            log.error("preview failed: %s\n%s", exc, tb)

    def _on_preview_job_ended(self, job: Job) -> None:
        if job is self._preview_job:
            self._preview_job = None
            if self._preview_again:
                self._preview_again = False
                self._start_preview()
        job.deleteLater()

    # ------------------------------------------------------------------------------------------
    # training
    def start_training(self) -> None:
        """Start a new run of the current task on its checked data with the current options."""
        if not self._can_start():
            return
        task = self._task
        if task == "translate":
            data, dataset = self.translate_data.data(), self.translate_data.dataset_name()
            report = self._translate_report
            count = report.pairs if report.mode == "paired" else report.count_a + report.count_b
            reading = (self.tr("Preparing: reading {0} image pairs…") if report.mode == "paired"
                       else self.tr("Preparing: reading {0} images…")).format(f"{count:,}")
        else:
            data, dataset = {"data": self._folder}, Path(self._folder).name
            reading = self.tr("Preparing: reading {0} images…").format(f"{self._report.image_count():,}")
        try:
            config, options = self.form.build(data)
        except GanStudioError as e:
            show_exception(self, e)
            return
        run_dir = self._new_run_dir(dataset, self.form.run_label(options))
        self._save_task_preferences()
        limit_s = config.minutes * 60 if config.steps is None and config.minutes else None
        pause = PauseControl()
        self._show_run_views(task, getattr(options, "mode", "paired"))
        self.log_view.add("info", reading)

        def work(ctx: JobContext) -> ev.Finished:
            return train(config, options, run_dir, observers=[ctx.emit], should_stop=ctx.should_stop, pause=pause,
                         progress=ctx.progress)

        self._launch(work, pause, run_dir, limit_s, task, getattr(options, "mode", ""))

    def resume_run(self, run_dir: Path) -> None:
        """Continue an earlier run from its latest checkpoint (extending it if it had finished)."""
        if self._train_job is not None:
            return
        run_dir = Path(run_dir)
        try:
            config, options = load_run_config(run_dir)
        except GanStudioError as e:
            show_exception(self, e)
            return
        checkpoints = list_step_checkpoints(run_dir / "checkpoints")
        if not checkpoints:
            show_error(self, self.tr("{0} has no checkpoint to resume from yet.").format(run_dir.name))
            return
        if missing_data_folders(options):
            options = self._locate_moved_data(run_dir, options)
            if options is None:
                return
        done = checkpoints[-1][0]
        steps = None
        if config.steps is not None and done >= config.steps:
            steps = done + self.form.steps.value()     # a finished run continues for "Stop after" more steps
        pause = PauseControl()
        if config.task in TASKS and config.task != self._task:
            self._switch_task(config.task)      # the panel shows the kind of model that trains
        self._show_run_views(config.task, getattr(options, "mode", "paired"))
        limit_s = config.minutes * 60 if steps is None and config.steps is None and config.minutes else None
        if steps or config.steps:
            self.log_view.add("info", self.tr("Resuming {0} from step {1} until step {2}…").format(
                run_dir.name, f"{done:,}", f"{steps or config.steps:,}"))
        else:
            self.log_view.add("info", self.tr("Resuming {0} from step {1}…").format(run_dir.name, f"{done:,}"))

        def work(ctx: JobContext) -> ev.Finished:
            ctx.emit(read_history(run_dir, done))
            # a run started from the command line has no clock-driven preview: the app wants one
            return resume_run(run_dir, steps=steps, sample_seconds=GUI_SAMPLE_SECONDS, observers=[ctx.emit],
                              should_stop=ctx.should_stop, pause=pause, progress=ctx.progress)

        self._launch(work, pause, run_dir, limit_s, config.task, getattr(options, "mode", ""))

    def _locate_moved_data(self, run_dir: Path, options: Any) -> Any | None:
        """Ask where a run's image folders went (moved, renamed, a drive not connected) and save the
        answer in the run. Returns the updated options, or None if the user gave up."""
        found: dict[str, str] = {}
        for field, old in missing_data_folders(options).items():
            answer = QMessageBox.question(
                self, self.tr("Where Are the Images?"),
                self.tr("{run} trained on the images in\n{old}\nwhich is not there any more (moved, renamed, or on "
                        "a drive that is not connected).\n\nChoose the folder where they are now?").format(
                    run=run_dir.name, old=old),
                QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel)
            if answer != QMessageBox.StandardButton.Yes:
                return None
            start = next((str(p) for p in Path(old).parents if p.is_dir()), str(Path.home()))
            folder = QFileDialog.getExistingDirectory(self, self.tr("Where Are the Images Now?"), start)
            if not folder:
                return None
            found[field] = folder
        try:
            options = relocate_data(run_dir, found)
        except GanStudioError as e:
            show_exception(self, e)
            return None
        self.log_view.add("info", self.tr("The run now reads its images from {0}.").format(", ".join(found.values())))
        return options

    def toggle_pause(self) -> None:
        if self._pause is None:
            return
        if self._state in (TRAINING,):
            self._pause.pause()
            self._set_state(PAUSING)     # the trainer pauses at the end of the current step
        elif self._state in (PAUSED, PAUSING):
            self._pause.resume()
            self._set_state(TRAINING)

    def stop_training(self) -> None:
        """Ask the run to stop; it saves a checkpoint and ends (``training_finished`` follows)."""
        if self._train_job is None:
            return
        self._train_job.cancel()
        self._set_state(STOPPING)
        self.log_view.add("info", self.tr("Stopping after the current step and saving a checkpoint…"))

    def _can_start(self) -> bool:
        if self._train_job is not None:
            return False
        if self._scan_job is not None:
            return False
        if self._task == "translate":
            return self._translate_report is not None
        return self._report is not None and self._report.image_count() > 0

    def _new_run_dir(self, dataset: str, model: str) -> Path:
        root = self.prefs.resolved_runs_dir()
        safe = re.sub(r"[^\w.-]+", "_", dataset).strip("._") or "dataset"
        base = f"{safe}-{model}-{time.strftime('%Y%m%d-%H%M%S')}"
        path, n = root / base, 2
        while path.exists():
            path, n = root / f"{base}-{n}", n + 1
        return path

    def _new_job(self, fn) -> Job:
        job = Job(fn, self)
        self._jobs.add(job)
        job.ended.connect(lambda: self._jobs.discard(job))
        return job

    def _launch(self, work, pause: PauseControl, run_dir: Path, limit_seconds: float | None, task: str,
                mode: str) -> None:
        self._run_task, self._run_mode = task, mode
        self._pause = pause
        self._run_dir = run_dir
        self._run_name = run_dir.name
        self._total_steps = None
        self._limit_seconds = limit_seconds
        self._last_step = 0
        job = self._new_job(work)
        job.message.connect(self._on_train_job_message)
        job.progressed.connect(self._on_train_job_progressed)
        job.succeeded.connect(self._on_train_job_succeeded)
        job.failed.connect(self._on_train_job_failed)
        job.ended.connect(self._on_train_job_ended)
        self._train_job = job
        self.progress.setValue(0)
        self.progress.setFormat(self.tr("Reading images…"))
        self._set_state(LOADING)
        job.start()

    def _on_train_job_progressed(self, _what: str, fraction: float) -> None:
        if self._state == LOADING:
            self.progress.setValue(round(1000 * fraction))
            self.progress.setFormat(self.tr("Reading images… %p%"))

    def _on_train_job_message(self, event: Any) -> None:
        if isinstance(event, ev.StepEnded):
            self._on_step_ended(event)
        elif isinstance(event, ev.SamplesReady):
            self.sample_view.show_samples(event.step, event.image)
        elif isinstance(event, ev.HealthNote):
            self.log_view.add(event.level, event.message, event.step)
        elif isinstance(event, ev.Started):
            self._on_started(event)
        elif isinstance(event, ev.Paused):
            self._last_step = event.step        # the step it paused at, not the last one logged
            self._set_state(PAUSED)
            self.log_view.add("info", self.tr("Paused."), event.step)
        elif isinstance(event, ev.Resumed):
            if self._state != STOPPING:
                self._set_state(TRAINING)
            self.log_view.add("info", self.tr("Resumed."), event.step)
        elif isinstance(event, ev.CheckpointSaved):
            if event.step != self._best_step:     # a best validation already said it was saved
                self.log_view.add("info", self.tr("Checkpoint saved."), event.step)
            self.runs_list.refresh(select=self._run_dir)
        elif isinstance(event, ev.EvaluationDone):
            self.loss_chart.add_evaluation(event.step, event.metrics)
            text = describe_evaluation(self._run_task, event.metrics)
            if event.best:
                text += " " + self.tr("The best so far; saved.")
                self._best_step = event.step
            self.log_view.add("info", text, event.step)
            self.evaluation_done.emit(event.step)
        elif isinstance(event, ev.Finished):
            self._on_finished(event)
        elif isinstance(event, _History):
            self.loss_chart.add_points(event.steps, event.metrics)
            self.loss_chart.add_evaluations(event.eval_steps, event.eval_metrics)

    def _on_started(self, event: ev.Started) -> None:
        self._total_steps = event.total_steps
        self._last_step = event.start_step
        if self._state == LOADING:
            self._set_state(TRAINING)
        self.runs_list.set_active_run(self._run_dir)
        self.runs_list.refresh(select=self._run_dir)     # the new run is listed while it trains
        what = (self.tr("Training on {0} image pairs with {1}. Run folder: {2}")
                if event.task == "translate" and self._run_mode == "paired"
                else self.tr("Training on {0} images with {1}. Run folder: {2}"))
        self.log_view.add("info", what.format(f"{event.dataset_size:,}", event.device, event.run_dir),
                          event.start_step)
        self.progress.setFormat(self.tr("Step {0} · starting…").format(f"{event.start_step:,}"))
        window = self.window()
        if hasattr(window, "show_device"):
            window.show_device(event.device)

    def _on_step_ended(self, event: ev.StepEnded) -> None:
        if not self._objects_frozen:
            freeze_long_lived_objects()      # keeps full GC pauses out of the running event loop
            self._objects_frozen = True
        self._last_step = event.step
        self.loss_chart.add_point(event.step, event.metrics)
        if self._total_steps:
            fraction = event.step / self._total_steps
            where = self.tr("Step {0} / {1}").format(f"{event.step:,}", f"{self._total_steps:,}")
        else:
            fraction = event.elapsed_s / self._limit_seconds if self._limit_seconds else 0.0
            where = self.tr("Step {0}").format(f"{event.step:,}")
        parts = [where, self.tr("{0} img/s").format(f"{event.images_per_second:,.0f}")]
        if event.eta_s is not None:
            parts.append(self.tr("about {0} left").format(format_duration(event.eta_s)))
        text = " · ".join(parts)
        self.progress.setValue(round(1000 * min(max(fraction, 0.0), 1.0)))
        if self._state != PAUSED:
            self.progress.setFormat(text)
        self._set_activity(self.tr("Training {0}: {1}").format(self._run_name, text))
        self.step_ended.emit(event.step)

    def _on_finished(self, event: ev.Finished) -> None:
        reasons = {
            "completed": self.tr("Finished: all steps done."),
            "time-limit": self.tr("Finished: the time limit was reached."),
            "stopped": self.tr("Stopped."),
            "diverged": self.tr("Training diverged and was stopped."),
            "error": self.tr("Training ended with an error."),
        }
        text = reasons.get(event.reason, event.reason)
        if event.checkpoint is not None:
            text += " " + self.tr("Checkpoint: {0}").format(event.checkpoint)
        level = "error" if event.reason in ("diverged", "error") else "info"
        self.log_view.add(level, text, event.step)
        self.progress.setFormat(self.tr("{0} at step {1}").format(reasons.get(event.reason, event.reason).rstrip("."),
                                                                   f"{event.step:,}"))

    def _on_train_job_succeeded(self, finished: ev.Finished) -> None:
        if finished.reason in ("diverged", "error") and finished.message:
            show_error(self, finished.message)
        self.training_finished.emit(finished)

    def _on_train_job_failed(self, exc: object, tb: str) -> None:
        if isinstance(exc, Cancelled):
            self.log_view.add("info", self.tr("Stopped before training began."))
            self.progress.setFormat(self.tr("Not training"))
        else:
            message = str(exc) if isinstance(exc, GanStudioError) else self.tr("Training failed to start.")
            self.log_view.add("error", message)
            self.progress.setFormat(self.tr("Not training"))
            show_exception(self, exc, tb)
        self.training_finished.emit(None)

    def _on_train_job_ended(self) -> None:
        job, self._train_job = self._train_job, None
        self._pause = None
        if self._objects_frozen:
            release_frozen_objects()
            self._objects_frozen = False
        self._set_state(IDLE)
        self._set_activity("")
        self.runs_list.set_active_run(None)
        self.runs_list.refresh(select=self._run_dir)
        if job is not None:
            job.deleteLater()
        if self._shutting_down:
            self.shutdown_ready.emit()

    def _on_runs_list_change_folder_requested(self) -> None:
        start = str(self.prefs.resolved_runs_dir())
        folder = QFileDialog.getExistingDirectory(self, self.tr("Choose the Runs Folder"), start)
        if folder:
            self.prefs.set_runs_dir(folder)
            self.runs_list.set_folder(Path(folder))

    # ------------------------------------------------------------------------------------------
    # state
    def _set_state(self, state: str) -> None:
        self._state = state
        self._update_actions()
        self.state_changed.emit(state)

    def _update_actions(self) -> None:
        running = self._train_job is not None
        state = self._state
        self.start_action.setEnabled(self._can_start())
        ready = self._report is not None if self._task in FOLDER_TASKS else self._translate_report is not None
        self.start_action.setToolTip(_with_shortcut(
            self.tr("Start training a new model on this dataset") if ready or running
            else self.tr("Choose a folder with usable images first") if self._task in FOLDER_TASKS
            else self.tr("Choose A and B folders with usable images first"), self.start_action))
        self.pause_action.setEnabled(state in (TRAINING, PAUSING, PAUSED))
        self.pause_action.setText(self.tr("Resume") if state in (PAUSED, PAUSING) else self.tr("Pause"))
        self.pause_action.setIcon(self._resume_icon if state in (PAUSED, PAUSING) else self._pause_icon)
        self.stop_action.setEnabled(running and state != STOPPING)
        self.open_folder_action.setEnabled(not running)
        self.demo_action.setEnabled(not running)
        self.recent_menu.setEnabled(not running and self._task in FOLDER_TASKS)
        for widget in self._settings_widgets:
            widget.setEnabled(not running)
        self.translate_data.set_inputs_enabled(not running)
        self.runs_list.set_resume_allowed(not running)
        if state == PAUSED:
            self.progress.setFormat(self.tr("Paused at step {0}").format(f"{self._last_step:,}"))
            self._set_activity(self.tr("Paused {0} at step {1}").format(self._run_name, f"{self._last_step:,}"))
        elif state == PAUSING:
            self.progress.setFormat(self.tr("Pausing after this step…"))
        elif state == STOPPING:
            self.progress.setFormat(self.tr("Stopping: saving a checkpoint…"))
            self._set_activity(self.tr("Stopping {0}: saving a checkpoint…").format(self._run_name))
        elif state == LOADING:
            self._set_activity(self.tr("Preparing {0}: reading images…").format(self._run_name))

    def _set_activity(self, text: str) -> None:
        self.activity_changed.emit(text)


class _ActionButton(QPushButton):
    """A push button that mirrors a QAction (enabled, text, icon, tooltip) and triggers it."""

    def __init__(self, action: QAction, text: str | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._action = action
        self._fixed_text = text
        self.clicked.connect(action.trigger)
        action.changed.connect(self._sync)
        self._sync()

    def _sync(self) -> None:
        self.setText(self._fixed_text or self._action.text())
        self.setIcon(self._action.icon())
        self.setEnabled(self._action.isEnabled())
        self.setToolTip(self._action.toolTip())


def _with_shortcut(text: str, action: QAction) -> str:
    keys = action.shortcut().toString(QKeySequence.SequenceFormat.NativeText)
    return f"{text} ({keys})" if keys else text


def _dropped_folder(mime) -> str | None:
    if not mime.hasUrls():
        return None
    for url in mime.urls():
        if url.isLocalFile():
            path = Path(url.toLocalFile())
            if path.is_dir():
                return str(path)
            if path.is_file():
                return str(path.parent)
    return None


# ----------------------------------------------------------------------------------------------
# background work (plain functions: they run in Jobs and never touch widgets)

def read_task_preferences(options: dict[str, Any]) -> tuple[str, dict[str, dict[str, Any]], str | None,
                                                          dict[str, Any]]:
    """(task, each task's options, the Upscale folder, the Translate data choices) from ``last_options``."""
    values: dict[str, dict[str, Any]] = {task: {} for task in TASKS}
    translate_data: dict[str, Any] = {}
    for key, value in options.items():
        prefix, dot, name = key.partition(".")
        if not dot:
            if key != "task":
                values["gan"][key] = value
        elif prefix == "translate" and name.startswith("data."):
            translate_data[name[len("data."):]] = value
        elif prefix in values and name != "folder":
            values[prefix][name] = value
    task = options.get("task")
    folder = options.get("upscale.folder")
    return (task if task in TASKS else "gan"), values, (folder if isinstance(folder, str) and folder else None), \
        translate_data


def task_preferences(task: str, values: dict[str, dict[str, Any]], upscale_folder: str | None,
                     translate_data: dict[str, Any]) -> dict[str, Any]:
    """The inverse of ``read_task_preferences``: one flat dict of plain values for ``last_options``."""
    flat: dict[str, Any] = dict(values.get("gan", {}))
    for other in TASKS:
        if other != "gan":
            flat.update({f"{other}.{k}": v for k, v in values.get(other, {}).items()})
    flat.update({f"translate.data.{k}": v for k, v in translate_data.items()})
    if upscale_folder:
        flat["upscale.folder"] = upscale_folder
    flat["task"] = task
    return flat


def thumbnail_grid(report: ScanReport, should_stop=lambda: False, count: int = THUMBNAIL_COUNT,
                   side: int = THUMBNAIL_SIDE) -> np.ndarray | None:
    """A grid of ``count`` images spread over the folder, each fitted into a ``side`` square: RGBA for
    image files (shown on the palette's Base colour, ``thumbnail_sheet``), RGB for MNIST and CIFAR."""
    if report.image_count() == 0:
        return None
    if report.kind != "images":
        reader = read_idx_images if report.kind == "mnist" else read_cifar10_batch
        try:
            array = reader(report.usable[0])[:count]
        except DatasetError:
            return None
        images = array[..., None] if array.ndim == 3 else array.transpose(0, 2, 3, 1)
        return make_grid(np.ascontiguousarray(images), nrow=THUMBNAIL_COLUMNS)
    usable = report.usable
    # ``shown`` images spread evenly over the folder (every one when it holds fewer than ``count``)
    shown = min(count, len(usable))
    picks = sorted({round(i * (len(usable) - 1) / max(shown - 1, 1)) for i in range(shown)})
    tiles = image_thumbnails([usable[i] for i in picks], side, should_stop)
    if not tiles:
        return None
    return thumbnail_sheet(np.stack(tiles), nrow=THUMBNAIL_COLUMNS)


def preview_grid(report: ScanReport, preprocess: Preprocess, should_stop=lambda: False,
                 count: int = PREVIEW_IMAGES) -> np.ndarray | None:
    """The first ``count`` images exactly as the model will see them, as one grid."""
    files = count if report.kind == "images" else 1
    subset = dataclasses.replace(report, usable=report.usable[:files], sizes=report.sizes[:files], skipped=[],
                                 mislabelled=[], notes=[])
    images, loaded = load_images(subset, preprocess, should_stop=should_stop)
    if images.shape[0] == 0:
        return None
    seen = ImageDataset(images, preprocess, loaded).preview_images(count)
    return make_grid(seen, nrow=min(PREVIEW_COLUMNS, len(seen)))


def read_history(run_dir: Path, up_to_step: int) -> _History:
    """A run's logged metrics and validations up to ``up_to_step`` (what the resumed run keeps), for the chart."""
    steps, metrics = _read_records(run_dir / METRICS_NAME, up_to_step)
    eval_steps, eval_metrics = _read_records(run_dir / EVAL_NAME, up_to_step)
    return _History(steps, metrics, eval_steps, eval_metrics)


def _read_records(path: Path, up_to_step: int) -> tuple[list[int], list[dict[str, float]]]:
    steps: list[int] = []
    records: list[dict[str, float]] = []
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()   # damaged lines are skipped
    except OSError:
        lines = []
    for line in lines:
        try:
            record = json.loads(line)
        except ValueError:
            continue
        step = record.get("step") if isinstance(record, dict) else None
        if isinstance(step, int) and step <= up_to_step:
            steps.append(step)
            records.append({k: v for k, v in record.items() if k not in _RECORD_EXTRAS and isinstance(v, (int, float))})
    return steps, records
