"""The Upscale panel: open images or folders, pick an upscaler, compare before and after, export, batch.

Everything slow runs in a background ``Job``: listing folders and making thumbnails, reading the
selected image, loading a model, upscaling it, writing the PNG, and batches. The GUI thread only
shows results. A batch goes through the core's ``upscale_batch``, so it mirrors folders, skips or
replaces existing files and reports bad files exactly as ``ganstudio-cli upscale`` does.
"""
from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import QCoreApplication, QSignalBlocker, Qt, Signal, Slot
from PySide6.QtGui import QAction, QDragEnterEvent, QDragLeaveEvent, QDropEvent
from PySide6.QtWidgets import (QComboBox, QFileDialog, QFormLayout, QGroupBox, QHBoxLayout, QLabel,
                               QProgressBar,
                               QSizePolicy, QSpinBox, QSplitter, QVBoxLayout, QWidget)

from ..core.data import Cancelled
from ..core.errors import GanStudioError
from ..core.upscale import (BatchResult, InferenceSettings, LoadedImage, Upscaler, available_bundled,
                            load_any_upscaler, read_image, save_upscaled, upscale_batch,
                            upscale_image)
from ..core.upscale.batch import IMAGE_SUFFIXES
from ..core.upscale.community import COMMUNITY_SUFFIXES
from ..core.upscale.tiling import SYMMETRIES
from .actions import panel_action
from .jobs import JobContext
from .image_panel import MAX_RECENT_MODELS, BatchTexts, ImagePanel, list_inputs
from .formatting import format_seconds
from .widgets.layout import compact_boxes, side_column
from .widgets.task_options import restore_spin
from .widgets.up_compare_view import UpCompareView
from .widgets.up_input_list import UpInputList

log = logging.getLogger(__name__)

#: tile sizes offered (input pixels); 0 means "chosen from free memory"
TILE_MAX, TILE_STEP = 4096, 64
#: resampling baselines offered, always present
BASELINE_KEYS = ("bicubic-x2", "bicubic-x4", "lanczos-x2", "lanczos-x4")
#: the model chosen when no bundled model is installed (the sharper of the two baselines)
FALLBACK_MODEL = "lanczos-x2"


@dataclass(frozen=True)
class UpscaledPreview:
    """The result shown in the compare view: what was upscaled, with what, and the pixels."""
    path: Path
    model_key: str
    image: LoadedImage
    upscaler: Upscaler
    settings: InferenceSettings
    pixels: np.ndarray
    seconds: float


class UpscalePanel(ImagePanel, QWidget):
    """Upscale images with a bundled model, the user's own, a community file or a baseline.

    Public API: ``open_paths(paths)`` (what the open dialogs and a drop do), ``inputs()``,
    ``select_input(path)``, ``choose_model(key)`` (a name such as "bicubic-x2" or a model
    file / run folder), ``set_tile(n)``, ``upscale()``, ``cancel()``, ``export_png(path)``,
    ``run_batch(out_dir, existing)``, ``last_batch_result()``, ``compare_view()``, ``is_busy()``
    and ``shutdown()`` (cancels and joins every background thread; the main window calls it).
    """

    SETTINGS_GROUP = "upscale"      # QSettings group of the preferences
    RUN_KIND = "upscale"

    PROGRESS_KINDS = ("upscale", "batch")

    status_changed = Signal(str)          # a one-line status for the status bar
    inputs_opened = Signal(int)           # number of images now listed
    input_shown = Signal(str)             # the image now shown as "before"
    model_loaded = Signal(str)            # what the chosen model is, in one line
    upscale_finished = Signal(str)        # the image whose result is now shown
    exported = Signal(str)                # the PNG written
    batch_progressed = Signal(int, int)   # (files done, files total)
    batch_finished = Signal(object)       # the core's BatchResult
    error_shown = Signal(str)             # the sentence of an error dialog just shown

    def __init__(self, parent: QWidget | None = None, *, device: str = "auto") -> None:
        super().__init__(parent)
        self._device = device
        self._init_jobs()
        self._sources: list[Path] = []         # files and folders as opened (a batch mirrors these)
        self._loaded: LoadedImage | None = None   # the selected image, read
        self._unreadable: Path | None = None      # the selected image, when it cannot be read
        self._upscaler: Upscaler | None = None
        self._model_key = ""                   # the key of ``_upscaler``
        self._preview: UpscaledPreview | None = None
        self.setAcceptDrops(True)
        self._build()
        self._restore_settings()
        self._connect()
        self._update_actions()
        app = QCoreApplication.instance()
        if app is not None:   # a last guard: no thread may outlive the application
            app.aboutToQuit.connect(self.shutdown)
        self._load_model(self._model_combo.currentData())

    # ------------------------------------------------------------------ construction
    def _build(self) -> None:
        self._make_actions()
        self._inputs = UpInputList()
        self._inputs.setObjectName("inputs")
        self._inputs_summary = QLabel(self.tr("No images open."))
        self._inputs_summary.setObjectName("inputsSummary")
        self._inputs_summary.setWordWrap(True)
        inputs_box = QGroupBox(self.tr("Images"))
        inputs_layout = QVBoxLayout(inputs_box)
        open_row = QHBoxLayout()
        open_row.addWidget(self._button(self._open_images_action, "openImages"))
        open_row.addWidget(self._button(self._open_folder_action, "openFolder"))
        inputs_layout.addLayout(open_row)
        inputs_layout.addWidget(self._inputs, 1)
        inputs_layout.addWidget(self._inputs_summary)

        self._model_combo = QComboBox()
        self._model_combo.setObjectName("model")
        self._model_combo.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self._model_combo.setMinimumContentsLength(16)
        self._model_combo.setToolTip(self.tr("The upscaler: GAN Studio's bundled models, your own trained "
                                             "upscalers and imported model files, or plain resampling "
                                             "(bicubic, Lanczos) to compare against."))
        self._model_details = QLabel()
        self._model_details.setObjectName("modelDetails")
        self._model_details.setWordWrap(True)
        self._model_details.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self._tile_spin = QSpinBox()
        self._tile_spin.setObjectName("tile")
        self._tile_spin.setRange(0, TILE_MAX)
        self._tile_spin.setSingleStep(TILE_STEP)
        self._tile_spin.setSpecialValueText(self.tr("Auto"))
        self._tile_spin.setSuffix(self.tr(" px"))
        self._tile_spin.setToolTip(self.tr("Images are upscaled in tiles that overlap, so no seams show. "
                                           "Auto picks the size from the free memory; choose a smaller size "
                                           "if the computer runs out of memory."))
        self._make_best_quality_check(len(SYMMETRIES), self.tr(
            "Runs the model 8 times on each image, mirrored and rotated, and averages the results: "
            "slightly cleaner detail (about +0.1 dB on the bundled models) for 8 times the time. "
            "Plain resampling does not change with it."))
        model_box = QGroupBox(self.tr("Upscaler"))
        model_layout = QVBoxLayout(model_box)
        model_layout.addWidget(self._model_combo)
        model_row = QHBoxLayout()
        model_row.addWidget(self._button(self._open_model_action, "openModelFile"))
        model_row.addWidget(self._button(self._open_run_action, "openRunFolder"))
        model_layout.addLayout(model_row)
        model_layout.addWidget(self._model_details)
        tile_form = QFormLayout()
        tile_form.setContentsMargins(0, 0, 0, 0)
        tile_form.addRow(self.tr("Tile size"), self._tile_spin)
        model_layout.addLayout(tile_form)
        model_layout.addWidget(self._ensemble_check)

        batch_box = self._build_batch_box(
            self.tr("Upscales every open image into a folder you choose, as PNG. Subfolders are mirrored."),
            self.tr("The files that could not be upscaled, and why; then those that were converted on "
                    "reading (an animated GIF's first frame, CMYK, 16 bits)."))

        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 4, 0)
        left_layout.addWidget(inputs_box, 1)
        left_layout.addWidget(model_box)
        left_layout.addWidget(batch_box)
        compact_boxes(left)
        left_scroll = side_column(left, 300)

        self._compare = UpCompareView()
        self._compare.setObjectName("compare")
        self._compare.set_empty_text(self._empty_text())
        for act in self._compare.zoom_actions():   # their keys work anywhere in the panel
            act.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
            self.addAction(act)
        self._progress = QProgressBar()
        self._progress.setObjectName("progress")
        self._progress.setRange(0, 1000)
        self._progress.setTextVisible(True)
        self._progress.setVisible(False)
        self._info = QLabel()
        self._info.setObjectName("resultInfo")
        self._info.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        action_row = QHBoxLayout()
        upscale_button = self._button(self._upscale_action, "upscale", expanding=False)
        font = upscale_button.font()
        font.setBold(True)   # the panel's main action
        upscale_button.setFont(font)
        action_row.addWidget(upscale_button)
        action_row.addWidget(self._button(self._cancel_action, "cancel", expanding=False))
        action_row.addWidget(self._info, 1)
        action_row.addWidget(self._progress, 1)
        action_row.addWidget(self._button(self._export_action, "export", expanding=False))
        right = QWidget()
        right_layout = QVBoxLayout(right)
        right_layout.setContentsMargins(4, 0, 0, 0)
        right_layout.addWidget(self._compare, 1)
        right_layout.addLayout(action_row)

        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.setObjectName("upscaleSplitter")   # the main window keeps the state of named splitters
        splitter.addWidget(left_scroll)
        splitter.addWidget(right)
        splitter.setStretchFactor(0, 0)
        splitter.setStretchFactor(1, 1)
        splitter.setChildrenCollapsible(False)
        splitter.setSizes([330, 970])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addWidget(splitter)

    def _make_actions(self) -> None:
        """The panel's actions: its buttons show them and the main window puts them in a menu. Their
        keys work while the focus is inside this panel, so other panels may use the same keys."""
        def action(*args: object) -> QAction:
            return panel_action(self, *args)

        self._open_images_action = action(
            self.tr("Open Images…"), self.tr("Open images…"), self._on_open_images_action_triggered,
            self.tr("Open one or more images. You can also drop images or folders onto this panel."),
            "Ctrl+O")
        self._open_folder_action = action(
            self.tr("Open Folder…"), self.tr("Open folder…"), self._on_open_folder_action_triggered,
            self.tr("Open every image in a folder and its subfolders."), "Ctrl+Shift+O")
        self._open_model_action = action(
            self.tr("Open Model File…"), self.tr("Model file…"), self._on_open_model_action_triggered,
            self.tr("Use an upscaler file: one exported by GAN Studio, or a community model (.pth, .pt, "
                    ".ckpt, .safetensors: ESRGAN, Real-ESRGAN, SwinIR, HAT, SPAN…). Files are read as "
                    "weights only; no code in them is run."))
        self._open_run_action = action(
            self.tr("Open Run Folder…"), self.tr("Run folder…"), self._on_open_run_action_triggered,
            self.tr("Use the best checkpoint of an upscaler you trained (its run folder)."))
        self._upscale_action = action(
            self.tr("Upscale"), self.tr("Upscale"), self.upscale,
            self.tr("Upscale the selected image and compare it with the input."), "Ctrl+Return")
        self._cancel_action = action(
            self.tr("Cancel"), self.tr("Cancel"), self.cancel,
            self.tr("Stop upscaling (a batch keeps the files already written)."), "Esc")
        self._export_action = action(
            self.tr("Export PNG…"), self.tr("Export PNG…"), self._on_export_action_triggered,
            self.tr("Save the upscaled image as a PNG with its colour profile and a note of how it was "
                    "made."), "Ctrl+S")
        self._batch_action = action(
            self.tr("Upscale All into Folder…"), self.tr("Upscale all into folder…"),
            self._on_batch_action_triggered,
            self.tr("Upscale every open image into an output folder you choose, as PNG; subfolders are "
                    "mirrored."))

    def menu_actions(self) -> list[QAction | None]:
        """What the main window puts in this panel's menu (None: a separator)."""
        return [self._open_images_action, self._open_folder_action, None,
                self._open_model_action, self._open_run_action, None,
                self._upscale_action, self._cancel_action, self._export_action, self._batch_action, None,
                *self._compare.zoom_actions()]

    def _connect(self) -> None:
        self._inputs.current_path_changed.connect(self._on_inputs_current_path_changed)
        self._model_combo.currentIndexChanged.connect(self._on_model_combo_current_index_changed)
        self._tile_spin.valueChanged.connect(self._save_settings)
        self._ensemble_check.toggled.connect(self._on_ensemble_check_toggled)
        self._existing_combo.currentIndexChanged.connect(self._save_settings)

    def _empty_text(self) -> str:
        return self.tr("Open images or a folder (Ctrl+O, Ctrl+Shift+O), or drop them here.\n\n"
                       "Then press Upscale (Ctrl+Return) and drag the line to compare before and after.")

    # ------------------------------------------------------------------ settings
    def _restore_settings(self) -> None:
        s = self._settings()
        try:
            tile = int(s.value("tile", 0))
        except (TypeError, ValueError):
            tile = 0
        restore_spin(self._tile_spin, tile)
        self._restore_best_quality(s)
        index = self._existing_combo.findData(str(s.value("existing", "skip")))
        self._existing_combo.setCurrentIndex(max(0, index))
        self._fill_model_combo(str(s.value("model", "") or ""))

    @Slot()
    def _save_settings(self) -> None:
        s = self._settings()
        s.setValue("tile", self._tile_spin.value())
        self._save_best_quality(s)
        s.setValue("existing", self._existing_combo.currentData())

    def _remember_model(self, key: str) -> None:
        s = self._settings()
        s.setValue("model", key)
        if key in BASELINE_KEYS or key.startswith("bundled-"):
            return
        recent = [str(p) for p in self.recent_models() if str(p) != key]
        s.setValue("recent_models", json.dumps([key, *recent][:MAX_RECENT_MODELS]))

    def _forget_model(self, key: str) -> None:
        recent = [str(p) for p in self.recent_models() if str(p) != key]
        self._settings().setValue("recent_models", json.dumps(recent))

    # ------------------------------------------------------------------ the model picker
    def _model_name(self, key: str) -> str:
        names = {"bundled-x2": self.tr("GAN Studio x2 (bundled)"),
                 "bundled-x4": self.tr("GAN Studio x4 (bundled)"),
                 "bicubic-x2": self.tr("Bicubic x2 (baseline)"),
                 "bicubic-x4": self.tr("Bicubic x4 (baseline)"),
                 "lanczos-x2": self.tr("Lanczos x2 (baseline)"),
                 "lanczos-x4": self.tr("Lanczos x4 (baseline)")}
        if key in names:
            return names[key]
        path = Path(key)
        return self.tr("{name} (training run)").format(name=path.name) if path.is_dir() else path.name

    def _fill_model_combo(self, select: str) -> None:
        """Bundled models (those installed), recent files and runs, then the baselines; ``select`` is
        chosen if it is among them (a file or run folder that exists is added), else the default."""
        bundled = available_bundled()
        recent = [str(p) for p in self.recent_models()]
        if select and select not in bundled and select not in BASELINE_KEYS and select not in recent \
                and Path(select).exists():
            recent.insert(0, select)
        with QSignalBlocker(self._model_combo):
            self._model_combo.clear()
            for key in [*bundled, *recent]:
                self._model_combo.addItem(self._model_name(key), key)
                self._model_combo.setItemData(self._model_combo.count() - 1, key, Qt.ItemDataRole.ToolTipRole)
            if self._model_combo.count():
                self._model_combo.insertSeparator(self._model_combo.count())
            for key in BASELINE_KEYS:
                self._model_combo.addItem(self._model_name(key), key)
            index = self._model_combo.findData(select) if select else -1
            if index < 0:   # the best model installed, else a baseline
                index = self._model_combo.findData(bundled[0] if bundled else FALLBACK_MODEL)
            self._model_combo.setCurrentIndex(index)

    def model_key(self) -> str:
        """The model chosen in the picker (a name such as "bicubic-x2", or a file or folder path)."""
        return str(self._model_combo.currentData() or "")

    def model_keys(self) -> list[str]:
        """Every model the picker offers, in order."""
        return [k for k in (self._model_combo.itemData(i) for i in range(self._model_combo.count())) if k]

    def upscaler(self) -> Upscaler | None:
        """The loaded upscaler (None until the first model has loaded)."""
        return self._upscaler

    def choose_model(self, key: str | os.PathLike[str]) -> None:
        """Pick a model by name ("bundled-x2", "lanczos-x4"...) or by file or run folder, and load it."""
        key = str(key)
        if self._model_combo.findData(key) < 0:
            self._fill_model_combo(key)
        index = self._model_combo.findData(key)
        if index < 0:
            self._status(self.tr("{name} is not a model that can be chosen here.").format(name=key))
            return
        if index == self._model_combo.currentIndex():
            if key != self._model_key:
                self._load_model(key)
        else:
            self._model_combo.setCurrentIndex(index)   # loads it (currentIndexChanged)

    @Slot(int)
    def _on_model_combo_current_index_changed(self, index: int) -> None:
        key = self._model_combo.itemData(index)
        if key:
            self._load_model(str(key))

    def _load_model(self, key: str) -> None:
        self._status(self.tr("Loading {name}…").format(name=self._model_name(key)))
        self._model_details.setText(self.tr("Loading…"))

        def work(ctx: JobContext) -> Upscaler:
            return load_any_upscaler(key)

        def failed(error: object, details: str) -> None:
            self._pending_run = False
            summary = self.tr("Could not use the model {name}.").format(name=self._model_name(key))
            self._report_failure(summary, error, details)
            if key not in BASELINE_KEYS and not key.startswith("bundled-"):
                self._forget_model(key)
            # back to the model that was in use (or the default when none has loaded yet)
            self._fill_model_combo(self._model_key)
            if self._upscaler is not None:
                self._show_model_details(self._upscaler)
            elif key != FALLBACK_MODEL:   # nothing loaded yet: a baseline always works
                self.choose_model(FALLBACK_MODEL)

        self._start_job("model", work, lambda up: self._on_model_loaded(key, up), on_failure=failed)

    def _on_model_loaded(self, key: str, upscaler: Upscaler) -> None:
        self._upscaler, self._model_key = upscaler, key
        self._remember_model(key)
        self._show_model_details(upscaler)
        self._show_current()
        self._status(self.tr("Upscaler: {name}.").format(name=upscaler.describe()))
        self.model_loaded.emit(upscaler.describe())
        if self._pending_run:
            self._pending_run = False
            self.upscale()

    def _show_model_details(self, upscaler: Upscaler) -> None:
        text = upscaler.describe()
        if upscaler.measured_gain():
            text += "\n" + self.tr("Measured: {gain}").format(gain=upscaler.measured_gain())
        if not upscaler.is_sr:
            text += "\n" + self.tr("This model does not enlarge images; results may not be useful.")
        self._model_details.setText(text)
        self._model_details.setToolTip(str(upscaler.source) if upscaler.source else "")
        index = self._model_combo.findData(self._model_key)
        if index >= 0:   # the picker's tooltip says what the file turned out to be
            tip = f"{upscaler.source}\n{text}" if upscaler.source else text
            self._model_combo.setItemData(index, tip, Qt.ItemDataRole.ToolTipRole)

    @Slot()
    def _on_open_model_action_triggered(self) -> None:
        chosen = self._ask(self.tr("Open an upscaler model file"), "last_model_dir",
                           (self.tr("Model files"), COMMUNITY_SUFFIXES))
        if chosen:
            self.choose_model(chosen[0])

    @Slot()
    def _on_open_run_action_triggered(self) -> None:
        chosen = self._ask(self.tr("Open an upscaler's training run folder"), "last_model_dir")
        if chosen:
            self.choose_model(chosen[0])

    def _ask(self, title: str, key: str, files: tuple[str, Iterable[str]] | None = None, *,
             several: bool = False) -> list[Path]:
        """A folder, or with ``files`` = (what they are, suffixes) one file or ``several``, chosen in a
        dialog that starts where the last one under ``key`` was; [] if cancelled. The parent of the
        choice is remembered, so that its siblings are one click away next time."""
        start = self._start_folder(key)
        if files is None:
            chosen = [QFileDialog.getExistingDirectory(self, title, start)]
        else:
            patterns = " ".join(f"*{suffix}" for suffix in sorted(files[1]))
            name_filter = f"{files[0]} ({patterns});;" + self.tr("All files (*)")
            chosen = (QFileDialog.getOpenFileNames(self, title, start, name_filter)[0] if several
                      else [QFileDialog.getOpenFileName(self, title, start, name_filter)[0]])
        paths = [Path(c) for c in chosen if c]
        if paths:
            self._remember_folder(key, paths[0].parent)
        return paths

    # ------------------------------------------------------------------ opening images
    def open_paths(self, paths: list[str | os.PathLike[str]]) -> None:
        """Open image files and folders (folders with their subfolders), replacing what was open.
        The list fills in the background (``inputs_opened``), then thumbnails arrive."""
        sources = [Path(p) for p in paths]
        if not sources:
            return
        self._sources = sources
        self._preview = None
        self._status(self.tr("Looking for images…"))

        side = self._inputs.thumbnail_pixels()
        self._start_job("scan", lambda ctx: list_inputs(sources, ctx, side), lambda _count: None,
                        on_message=self._on_scan_message)

    def _on_scan_message(self, message: Any) -> None:
        if message[0] == "previews":
            for row, thumbnail, size, problem in message[1]:
                self._inputs.set_preview(row, thumbnail, size, problem)
            return
        _, entries, missing = message
        folders = sum(1 for s in self._sources if s.is_dir())
        if entries:
            text = (self.tr("1 image") if len(entries) == 1
                    else self.tr("{count} images").format(count=len(entries)))
            if folders:
                text += " " + (self.tr("from 1 folder, subfolders included") if folders == 1 else
                               self.tr("from {count} folders, subfolders included").format(count=folders))
        else:
            text = self.tr("No images found.")
        if missing:
            names = ", ".join(Path(m).name for m in missing)
            text += " " + self.tr("Not found: {names}.").format(names=names)
        self._inputs_summary.setText(text)
        self._inputs.set_inputs(entries)
        if not entries:
            self._compare.clear()
        self._status(text)
        self._update_actions()
        self.inputs_opened.emit(len(entries))

    @Slot(object)
    def _on_inputs_current_path_changed(self, path: Path | None) -> None:
        self._cancel_job("upscale")
        self._loaded = None
        self._unreadable = None
        self._update_actions()
        if path is None:
            self._cancel_job("read")
            self._compare.clear()
            self._info.clear()
            return

        def work(ctx: JobContext) -> LoadedImage | str:
            try:
                return read_image(path)
            except GanStudioError as e:   # a file that cannot be read is shown as such, not as a failure
                return str(e)

        self._start_job("read", work, lambda image: self._on_image_read(path, image),
                        failure=self.tr("Could not show {name}.").format(name=path.name))

    def _on_image_read(self, path: Path, image: LoadedImage | str) -> None:
        if path != self.current_input():
            return
        if isinstance(image, str):
            self._compare.clear()
            self._compare.set_empty_text(image)
            self._status(image)
            self._unreadable = path       # nothing to upscale: the button says so by being off
            self._update_actions()
            return
        self._loaded = image
        self._show_current()
        h, w = image.pixels.shape[:2]
        notes = "; ".join(image.notes)
        self._status(self.tr("{name}: {width} × {height}").format(name=path.name, width=w, height=h)
                     + (f" ({notes})" if notes else ""))
        self.input_shown.emit(str(path))

    def _shown_preview(self) -> UpscaledPreview | None:
        """The result that belongs to the selected image and the chosen model, if there is one."""
        p = self._preview
        if p is None or p.path != self.current_input() or p.model_key != self._model_key:
            return None
        if p.settings.ensemble != self.inference_settings().ensemble:
            return None
        return p

    def _show_current(self) -> None:
        """Show the selected image, with its result beside it when there is one."""
        image = self._loaded
        if image is None:
            return
        preview = self._shown_preview()
        h, w = image.pixels.shape[:2]
        scale = self._upscaler.scale if self._upscaler is not None else 1
        self._compare.set_empty_text(self._empty_text())
        if preview is None:
            self._compare.set_images(image.pixels, None, scale)
            self._compare.set_labels(self.tr("Before: input, {w} × {h} (press Upscale to compare)").format(
                w=w, h=h), "")
            self._info.setText(self.tr("{w} × {h}").format(w=w, h=h))
        else:
            oh, ow = preview.pixels.shape[:2]
            self._compare.set_images(image.pixels, preview.pixels)
            self._compare.set_labels(self.tr("Before: input, {w} × {h}").format(w=w, h=h),
                                     self.tr("After: {model}, {w} × {h}").format(
                                         model=self._model_name(preview.model_key), w=ow, h=oh)
                                     + (self.tr(", best quality") if preview.settings.ensemble else ""))
            self._info.setText(self.tr("{w} × {h} → {ow} × {oh} in {time}").format(
                w=w, h=h, ow=ow, oh=oh, time=format_seconds(preview.seconds)))
        self._update_actions()

    def compare_view(self) -> UpCompareView:
        return self._compare

    def preview_pixels(self) -> np.ndarray | None:
        """The upscaled pixels shown (uint8 HxWxC), or None."""
        preview = self._shown_preview()
        return preview.pixels if preview is not None else None

    @Slot()
    def _on_open_images_action_triggered(self) -> None:
        self.open_paths(self._ask(self.tr("Open images to upscale"), "last_input_dir",
                                  (self.tr("Images"), IMAGE_SUFFIXES), several=True))

    @Slot()
    def _on_open_folder_action_triggered(self) -> None:
        self.open_paths(self._ask(self.tr("Open a folder of images to upscale"), "last_input_dir"))

    # ------------------------------------------------------------------ upscaling one image
    def inference_settings(self) -> InferenceSettings:
        ensemble = self.best_quality() and self._model_key not in BASELINE_KEYS
        return InferenceSettings(tile=self.tile(), device=self._device, ensemble=ensemble)


    def upscale(self) -> None:
        """Upscale the selected image with the chosen model in the background; the result appears in
        the compare view (``upscale_finished``). Waits for a model that is still loading."""
        path = self.current_input()
        if path is None:
            self._status(self.tr("Open an image first."))
            return
        if "batch" in self._jobs:
            self._status(self.tr("A batch is running; wait for it or cancel it first."))
            return
        if "model" in self._jobs or self._upscaler is None:
            self._pending_run = True
            self._status(self.tr("The model is still loading; the image is upscaled as soon as it is ready."))
            return
        upscaler, key, settings = self._upscaler, self._model_key, self.inference_settings()
        loaded = self._loaded if self._loaded is not None and self._loaded.path == path else None
        self._status(self.tr("Upscaling {name} with {model}…").format(name=path.name, model=self._model_name(key)))
        self._show_progress(self.tr("Starting…"), -1)

        def work(ctx: JobContext) -> UpscaledPreview | None:
            image = loaded if loaded is not None else read_image(path)
            started = time.monotonic()
            try:
                pixels = upscale_image(image, upscaler, settings, should_stop=ctx.should_stop,
                                       progress=lambda done, total: ctx.emit((done, total)))
            except Cancelled:
                return None
            return UpscaledPreview(path, key, image, upscaler, settings, pixels, time.monotonic() - started)

        def tile_done(message: Any) -> None:
            done, total = message
            self._show_progress(self.tr("Tile {done} of {total}").format(done=done, total=total),
                                done / total)

        self._start_job("upscale", work, self._on_upscaled, on_message=tile_done)

    def _on_upscaled(self, preview: UpscaledPreview | None) -> None:
        if preview is None:
            self._status(self.tr("Upscaling was cancelled."))
            return
        self._preview = preview
        if self._loaded is None or self._loaded.path != preview.path:
            self._loaded = preview.image
        self._show_current()
        h, w = preview.pixels.shape[:2]
        self._status(self.tr("Upscaled {name} with {model} to {w} × {h} in {time}.").format(
            name=preview.path.name, model=self._model_name(preview.model_key), w=w, h=h,
            time=format_seconds(preview.seconds)))
        self.upscale_finished.emit(str(preview.path))

    # ------------------------------------------------------------------ export
    def export_png(self, path: str | os.PathLike[str] | None = None) -> None:
        """Save the result shown as a PNG with provenance (``exported``). Without ``path`` a dialog
        asks, and confirms before replacing a file; a ``path`` given by code never replaces one (a
        free name such as ``name-1.png`` is used instead)."""
        preview = self._shown_preview()

        def write(target: Path, overwrite: bool) -> Path:
            return save_upscaled(preview.pixels, target, upscaler=preview.upscaler, settings=preview.settings,
                                 source=preview.image, overwrite=overwrite)

        self._export_png(preview, path, self.tr("Upscale an image first."),
                         lambda: self._ask_export_target(preview), write)

    def _ask_export_target(self, preview: UpscaledPreview) -> tuple[Path, bool] | None:
        model = preview.upscaler.name.replace(" ", "-")
        scale = preview.upscaler.scale
        suffix = "" if model.endswith(f"x{scale}") else f"-x{scale}"
        return self._ask_png_target(self.tr("Export the upscaled image"), preview.path,
                                    f"{preview.path.stem}-{model}{suffix}.png")

    # ------------------------------------------------------------------ batch
    def run_batch(self, out_dir: str | os.PathLike[str] | None = None, existing: str | None = None) -> None:
        """Upscale every open image into ``out_dir`` (asked when None), mirroring opened folders. Bad
        files are skipped and listed at the end (``batch_finished``)."""
        sources, upscaler = list(self._sources), self._upscaler
        if not self._inputs.count():
            self._status(self.tr("Open images or a folder first."))
            return
        if upscaler is None or "model" in self._jobs:
            self._status(self.tr("The model is still loading; start the batch when it is ready."))
            return
        if existing is not None:
            self._existing_combo.setCurrentIndex(max(0, self._existing_combo.findData(existing)))
        if out_dir is None:
            title = self.tr("Choose the folder for the upscaled images")
            chosen = QFileDialog.getExistingDirectory(self, title, self._start_folder("last_output_dir"))
            if not chosen:
                return
            out_dir = chosen
        out_dir = Path(out_dir)
        self._remember_folder("last_output_dir", out_dir)
        policy, settings = self.existing_policy(), self.inference_settings()
        self._cancel_job("upscale")
        self._batch_problems.clear()
        self._batch_problems.setVisible(False)
        self._show_batch_summary(self.tr("Upscaling into {folder}…").format(folder=out_dir))
        self._batch_started, self._batch_file = time.monotonic(), ("", 0, 0)
        self._show_progress(self.tr("Starting…"), -1)

        def work(ctx: JobContext) -> BatchResult:
            def on_file(done: int, total: int, path: Path | None) -> None:
                ctx.emit(("file", done, total, path.name if path is not None else ""))

            def on_tile(done: int, total: int) -> None:
                ctx.emit(("tile", done / max(1, total)))

            return upscale_batch(sources, out_dir, upscaler, recursive=True, existing=policy,
                                 settings=settings, progress=on_file, tile_progress=on_tile,
                                 should_stop=ctx.should_stop)

        self._status(self.tr("Upscaling {count} images into {folder}…").format(count=self._inputs.count(),
                                                                               folder=out_dir))
        self._start_job("batch", work, lambda result: self._on_batch_done(result, out_dir),
                        on_message=self._on_batch_message,
                        failure=self.tr("The batch stopped with an error."))

    def _batch_texts(self) -> BatchTexts:
        return BatchTexts(self.tr("Upscaling {name} ({done} of {total}, {eta})."),
                          self.tr("1 image could not be upscaled:"),
                          self.tr("{count} images could not be upscaled:"),
                          self.tr("Batch upscale"), "upscale", "upscaled")

    # ------------------------------------------------------------------ jobs
    def shutdown(self, wait_ms: int = 30_000) -> bool:
        """Cancel all background work and wait for its threads (the main window calls this before
        closing). True if every thread ended within ``wait_ms``."""
        return self._stop_all_jobs(wait_ms)

    def _update_actions(self) -> None:
        batch = "batch" in self._jobs
        has_inputs = self._inputs.count() > 0
        current = self.current_input()
        self._upscale_action.setEnabled(current is not None and current != self._unreadable and not batch
                                        and "upscale" not in self._jobs)
        self._cancel_action.setEnabled("upscale" in self._jobs or batch)
        self._export_action.setEnabled(self._shown_preview() is not None)
        self._batch_action.setEnabled(has_inputs and not batch)

    # ------------------------------------------------------------------ drag and drop
    @staticmethod
    def _dropped_paths(event: QDragEnterEvent | QDropEvent) -> list[Path]:
        paths = [Path(url.toLocalFile()) for url in event.mimeData().urls() if url.isLocalFile()]
        return [p for p in paths
                if p.is_dir() or p.suffix.lower() in IMAGE_SUFFIXES or p.suffix.lower() in COMMUNITY_SUFFIXES]

    @staticmethod
    def _is_model(paths: list[Path]) -> bool:
        return len(paths) == 1 and paths[0].is_file() and paths[0].suffix.lower() in COMMUNITY_SUFFIXES

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        paths = self._dropped_paths(event)
        if not paths:
            event.ignore()
            return
        event.acceptProposedAction()
        self._compare.set_drop_hint(self.tr("Drop to use this model") if self._is_model(paths)
                                    else self.tr("Drop to open these images"))

    def dragLeaveEvent(self, event: QDragLeaveEvent) -> None:
        self._compare.set_drop_hint("")
        event.accept()

    def dropEvent(self, event: QDropEvent) -> None:
        self._compare.set_drop_hint("")
        paths = self._dropped_paths(event)
        if not paths:
            event.ignore()
            return
        event.acceptProposedAction()
        if self._is_model(paths):
            self.choose_model(paths[0])
        else:
            self.open_paths([p for p in paths if p.suffix.lower() not in COMMUNITY_SUFFIXES])


# ----------------------------------------------------------------------------------------------
# background work (plain functions: they run in Jobs and never touch widgets)
