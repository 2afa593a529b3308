"""Earlier training runs found in the runs folder: resume one, open its folder, or use its model
where it belongs (a GAN in Generate, an upscaler in Upscale, a translator in Translate).

Reading the runs folder happens in a background job (it may sit on a slow or network drive);
``scan_runs`` is plain Python so it can run there and in tests.
"""
from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QEvent, Qt, QUrl, Signal
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import (QHBoxLayout, QHeaderView, QLabel, QPushButton, QTreeWidget, QTreeWidgetItem,
                               QVBoxLayout, QWidget)

from ganstudio.core.checkpoint import list_step_checkpoints
from ganstudio.core.trainer import CONFIG_NAME

from ..jobs import Job, run_job
from .elided_label import ElidedLabel
from .task_views import task_short_name

log = logging.getLogger(__name__)

#: runs the list always has room for, however small the window (the Train panel gives it more where
#: there is more)
MIN_VISIBLE_RUNS = 3
#: the Run column keeps room for about this many characters of a run's name (its dataset and the
#: end of its time stamp around the "…"); with less room the list scrolls sideways instead
RUN_NAME_MIN_CHARS = 18


_PATH_ROLE = Qt.ItemDataRole.UserRole
_STEPS_ROLE = Qt.ItemDataRole.UserRole + 1


class _RunsTree(QTreeWidget):
    """The runs' table. The Run column takes the width the others leave, as a stretched column
    would, but never less than ``RUN_NAME_MIN_CHARS`` characters: with a larger font the other
    columns (sized to their contents) left a stretched one nothing but "…"."""

    def __init__(self) -> None:
        super().__init__()
        self._fitting = False
        header = self.header()
        header.setStretchLastSection(False)
        header.sectionResized.connect(self._on_header_section_resized)
        self.viewport().installEventFilter(self)

    def name_column_floor(self) -> int:
        return RUN_NAME_MIN_CHARS * self.fontMetrics().averageCharWidth()

    def fit_name_column(self) -> None:
        if self._fitting or self.columnCount() < 2:
            return
        self._fitting = True
        try:
            header = self.header()
            others = sum(header.sectionSize(c) for c in range(1, self.columnCount()) if not header.isSectionHidden(c))
            header.resizeSection(0, max(self.name_column_floor(), self.viewport().width() - others))
        finally:
            self._fitting = False

    def _on_header_section_resized(self, index: int, _old: int, _new: int) -> None:
        if index != 0:       # a column sized to its contents changed (new runs, "training…")
            self.fit_name_column()

    def eventFilter(self, watched, event) -> bool:  # noqa: N802 (Qt override)
        if watched is self.viewport() and event.type() == QEvent.Type.Resize:
            self.fit_name_column()
        return super().eventFilter(watched, event)


@dataclass(frozen=True)
class RunInfo:
    """What the list shows about one run folder."""
    path: Path
    name: str
    task: str                 # "gan" | "upscale" | "translate"
    preset: str               # a GAN's preset ("" for other tasks)
    model: str                # what the list shows: the preset, "×2 compact", "pix2pix"...
    step: int                 # step of the newest checkpoint (0: none yet)
    total_steps: int | None   # the run's step limit (None: limited by time)
    modified: float           # when the run last wrote a checkpoint or its config (epoch seconds)

    @property
    def has_checkpoint(self) -> bool:
        return self.step > 0


def scan_runs(folder: Path, should_stop: Callable[[], bool] = lambda: False) -> list[RunInfo]:
    """Every run folder directly inside ``folder`` (those with a config.json), newest first."""
    runs: list[RunInfo] = []
    try:
        entries = sorted(p for p in folder.iterdir() if p.is_dir())
    except OSError:
        return []
    for path in entries:
        if should_stop():
            break
        config = path / CONFIG_NAME
        try:
            doc = json.loads(config.read_text(encoding="utf-8"))
            modified = config.stat().st_mtime
        except (OSError, ValueError):
            continue        # not a run, or a damaged one: not listed
        if not isinstance(doc, dict):
            continue
        cfg = doc.get("config") if isinstance(doc.get("config"), dict) else {}
        opts = doc.get("options") if isinstance(doc.get("options"), dict) else {}
        checkpoints = list_step_checkpoints(path / "checkpoints")
        step = checkpoints[-1][0] if checkpoints else 0
        if checkpoints:
            try:
                modified = max(modified, checkpoints[-1][1].stat().st_mtime)
            except OSError:
                pass
        total = cfg.get("steps")
        task = str(cfg.get("task", "gan"))
        runs.append(RunInfo(path, path.name, task, str(opts.get("preset", "")), _model_text(task, opts), step,
                            total if isinstance(total, int) else None, modified))
    runs.sort(key=lambda r: r.modified, reverse=True)
    return runs


def _model_text(task: str, options: dict) -> str:
    if task == "upscale":
        return f"×{options.get('scale', '?')} {options.get('arch', '')}".strip()
    if task == "translate":
        return "pix2pix" if options.get("mode", "paired") == "paired" else "CycleGAN"
    return str(options.get("preset", ""))


class RunsList(QWidget):
    """The list of earlier runs and its actions; the Train panel decides what Resume means."""

    resume_requested = Signal(Path)
    load_into_generate = Signal(Path)    # a GAN run's "Load into Generate"
    use_in_upscale = Signal(Path)        # an upscaler run's "Use in Upscale"
    use_in_translate = Signal(Path)      # a translator run's "Use in Translate"
    change_folder_requested = Signal()
    refreshed = Signal(int)           # the list was re-read; how many runs it shows

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._folder: Path | None = None
        self._job: Job | None = None
        self._again = False
        self._runs: list[RunInfo] = []
        self._select_after: Path | None = None
        self._active: Path | None = None      # the run training now, marked in the list

        title = QLabel(self.tr("<b>Earlier runs</b>"))
        # shortens in the middle to fit (``/home/ann/…/ganstudio/runs``), whole in its tooltip
        self.folder_label = ElidedLabel(Qt.TextElideMode.ElideMiddle)
        self.folder_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        change = QPushButton(self.tr("Runs folder…"))
        change.setToolTip(self.tr("Choose the folder where new runs are saved and earlier runs are looked for."))
        change.clicked.connect(self.change_folder_requested)
        self.refresh_button = QPushButton(self.tr("Refresh"))
        self.refresh_button.clicked.connect(self.refresh)
        header = QHBoxLayout()
        header.addWidget(title)
        header.addWidget(self.folder_label, 1)
        header.addWidget(change)
        header.addWidget(self.refresh_button)

        self.tree = _RunsTree()
        self.tree.setHeaderLabels([self.tr("Run"), self.tr("Task"), self.tr("Model"), self.tr("Steps"),
                                   self.tr("Date")])
        self.tree.setRootIsDecorated(False)
        self.tree.setUniformRowHeights(True)
        self.tree.setAlternatingRowColors(True)
        # run names end in their date and time: shorten in the middle so that the end stays readable
        self.tree.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        self.tree.header().setSectionResizeMode(0, QHeaderView.ResizeMode.Fixed)    # fitted by the tree
        for column in (1, 2, 3, 4):
            self.tree.header().setSectionResizeMode(column, QHeaderView.ResizeMode.ResizeToContents)
        self.tree.itemSelectionChanged.connect(self._on_tree_item_selection_changed)
        self.tree.itemDoubleClicked.connect(self._on_tree_item_double_clicked)
        self.tree.setToolTip(self.tr("Double-click a run to use its model: a GAN in Generate, an upscaler in "
                                     "Upscale, a translator in Translate."))
        row = self.tree.fontMetrics().height() + 4    # a text row; the style adds about this much
        self.tree.setMinimumHeight(self.tree.header().sizeHint().height() + MIN_VISIBLE_RUNS * row
                                   + 2 * self.tree.frameWidth())

        self.resume_button = QPushButton(self.tr("Resume"))
        self.resume_button.setToolTip(self.tr("Continue training this run from its last checkpoint."))
        self.resume_button.clicked.connect(lambda: self._emit_for_selection(self.resume_requested))
        self.open_button = QPushButton(self.tr("Open folder"))
        self.open_button.setToolTip(self.tr("Show the run's folder (samples, checkpoints, log) in the file manager."))
        self.open_button.clicked.connect(self._on_open_button_clicked)
        self.generate_button = QPushButton(self.tr("Load into Generate"))
        self.generate_button.setToolTip(self.tr("Make images with this run's generator in the Generate panel."))
        self.generate_button.clicked.connect(lambda: self._emit_for_selection(self.load_into_generate))
        self.upscale_button = QPushButton(self.tr("Use in Upscale"))
        self.upscale_button.setToolTip(self.tr("Upscale images with this run's upscaler in the Upscale panel."))
        self.upscale_button.clicked.connect(lambda: self._emit_for_selection(self.use_in_upscale))
        self.translate_button = QPushButton(self.tr("Use in Translate"))
        self.translate_button.setToolTip(self.tr("Translate images with this run's model in the Translate panel."))
        self.translate_button.clicked.connect(lambda: self._emit_for_selection(self.use_in_translate))
        # the button of the selected run's task is shown (Generate's while nothing is selected)
        self._use_buttons = {"gan": self.generate_button, "upscale": self.upscale_button,
                             "translate": self.translate_button}
        self._use_signals = {"gan": self.load_into_generate, "upscale": self.use_in_upscale,
                             "translate": self.use_in_translate}
        buttons = QHBoxLayout()
        buttons.addWidget(self.resume_button)
        buttons.addWidget(self.open_button)
        for button in self._use_buttons.values():
            buttons.addWidget(button)
        buttons.addStretch(1)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(header)
        layout.addWidget(self.tree, 1)
        layout.addLayout(buttons)
        self._can_resume = True
        self._update_buttons()

    # -- public --------------------------------------------------------------------------------
    def set_folder(self, folder: Path) -> None:
        self._folder = folder
        self.folder_label.set_full_text(str(folder))
        self.refresh()

    def folder(self) -> Path | None:
        return self._folder

    def refresh(self, select: Path | None = None) -> None:
        """Re-read the runs folder in the background (a second call while reading reads again after);
        ``select``: the run to select once the list is read."""
        if select is not None:
            self._select_after = select
        if self._folder is None:
            return
        if self._job is not None:
            self._again = True
            return
        folder = self._folder
        self._job = run_job(self, lambda ctx: scan_runs(folder, ctx.should_stop),
                            on_success=self._on_scan_job_succeeded)
        self._job.ended.connect(self._on_scan_job_ended)

    def runs(self) -> list[RunInfo]:
        return list(self._runs)

    def select_run(self, path: Path) -> bool:
        for i in range(self.tree.topLevelItemCount()):
            item = self.tree.topLevelItem(i)
            if Path(item.data(0, _PATH_ROLE)) == path:
                self.tree.setCurrentItem(item)
                return True
        return False

    def selected_run(self) -> RunInfo | None:
        item = self.tree.currentItem()
        if item is None or not item.isSelected():
            return None
        path = Path(item.data(0, _PATH_ROLE))
        return next((r for r in self._runs if r.path == path), None)

    def set_active_run(self, path: Path | None) -> None:
        """Mark the run that is training now (its step count is moving), or none."""
        self._active = path
        for i in range(self.tree.topLevelItemCount()):
            item = self.tree.topLevelItem(i)
            self._mark(item, Path(item.data(0, _PATH_ROLE)) == path)

    def _mark(self, item: QTreeWidgetItem, active: bool) -> None:
        font = item.font(0)
        font.setBold(active)
        for column in range(self.tree.columnCount()):
            item.setFont(column, font)
        item.setToolTip(0, item.data(0, _PATH_ROLE) + ("\n" + self.tr("Training now") if active else ""))
        # Its checkpoint count lags behind; the progress bar above has the live step.
        item.setText(3, self.tr("training…") if active else item.data(0, _STEPS_ROLE))

    def set_resume_allowed(self, allowed: bool) -> None:
        """Resume is off while another run trains."""
        self._can_resume = allowed
        self._update_buttons()

    def shutdown(self) -> None:
        if self._job is not None:
            self._job.cancel()
            self._job.wait()

    # -- slots ---------------------------------------------------------------------------------
    def _on_scan_job_succeeded(self, runs: list[RunInfo]) -> None:
        selected = self.selected_run()
        wanted = self._select_after or (selected.path if selected is not None else None)
        self._select_after = None
        self._runs = runs
        self.tree.clear()
        items = []
        for run in runs:
            steps = f"{run.step:,}" if run.total_steps is None else f"{run.step:,} / {run.total_steps:,}"
            date = time.strftime("%Y-%m-%d %H:%M", time.localtime(run.modified))
            item = QTreeWidgetItem([run.name, task_short_name(run.task), run.model, steps, date])
            item.setData(0, _PATH_ROLE, str(run.path))
            item.setData(0, _STEPS_ROLE, steps)
            item.setTextAlignment(3, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            self._mark(item, run.path == self._active)
            items.append(item)
        self.tree.addTopLevelItems(items)
        if wanted is not None:
            self.select_run(wanted)
        self._update_buttons()
        self.refreshed.emit(len(runs))

    def _on_scan_job_ended(self) -> None:
        self._job = None
        if self._again:
            self._again = False
            self.refresh()

    def _on_tree_item_selection_changed(self) -> None:
        self._update_buttons()

    def _on_tree_item_double_clicked(self, item: QTreeWidgetItem, column: int) -> None:
        run = self.selected_run()
        if run is not None and run.has_checkpoint and run.task in self._use_signals:
            self._use_signals[run.task].emit(run.path)

    def _on_open_button_clicked(self) -> None:
        run = self.selected_run()
        if run is not None:
            QDesktopServices.openUrl(QUrl.fromLocalFile(str(run.path)))

    def _emit_for_selection(self, signal) -> None:
        run = self.selected_run()
        if run is not None:
            signal.emit(run.path)

    def _update_buttons(self) -> None:
        run = self.selected_run()
        usable = run is not None and run.has_checkpoint
        self.resume_button.setEnabled(usable and self._can_resume)
        self.open_button.setEnabled(run is not None)
        shown = run.task if run is not None and run.task in self._use_buttons else "gan"
        for task, button in self._use_buttons.items():
            button.setVisible(task == shown)
            button.setEnabled(usable and task == shown)
