"""The Translate panel: open a translation model and images, translate at full resolution, compare,
export, batch.

A model is a pix2pix or CycleGAN run folder or a translator file (``core.translate.inference``).
Everything slow runs in a background ``Job``: loading the model, listing folders and making
thumbnails, reading the selected image, translating it (in tiles for large images), writing the
PNG, and batches. The GUI thread only shows results. A Translator is not safe to use from two
threads at once, so every job that runs it holds the panel's model lock; a cancelled job releases
it at its next tile. A batch goes through the core's ``translate_batch``, so it mirrors folders,
skips or replaces existing files and reports bad files exactly as ``ganstudio-cli translate`` does.

The panel's structure, keys and wording follow the Upscale panel, whose widgets it reuses.
"""
from __future__ import annotations

import html
import json
import logging
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import QCoreApplication, QSignalBlocker, Qt, QUrl, Signal, Slot
from PySide6.QtGui import (QAction, QActionGroup, QDesktopServices, QDragEnterEvent, QDragLeaveEvent,
                           QDropEvent, QKeySequence, QTextDocument)
from PySide6.QtWidgets import (QButtonGroup, QComboBox, QFileDialog, QFormLayout, QGroupBox, QHBoxLayout,
                               QLabel, QProgressBar, QRadioButton,
                               QSizePolicy, QSpinBox, QStackedWidget, QVBoxLayout, QWidget)
from safetensors import safe_open

from ..core.checkpoint import META_KEY
from ..core.data import Cancelled
from ..core.errors import GanStudioError
from ..core.resources import resources_dir
from ..core.translate.batch import BatchResult, save_translated, translate_batch
from ..core.translate.inference import (ENSEMBLE_SHIFTS, Translator, export_translator, load_translator,
                                        translate_array)
from ..core.translate.models import count_parameters
from ..core.upscale.batch import IMAGE_SUFFIXES
from ..core.upscale.imageio import LoadedImage, read_image
from . import theme
from .actions import panel_action
from .jobs import JobContext
from .image_panel import MAX_RECENT_MODELS, BatchTexts, ImagePanel, list_inputs
from .formatting import format_seconds
from .widgets.layout import compact_boxes, named_splitter, side_column
from .widgets.task_options import restore_spin
from .widgets.tr_side_by_side import TrSideBySideView
from .widgets.up_compare_view import UpCompareView
from .widgets.up_input_list import UpInputList

log = logging.getLogger(__name__)

#: tile sizes offered (pixels); 0 means "automatic" (only images over a megapixel are tiled)
TILE_MAX, TILE_STEP = 4096, 64
#: the bundled demo: a model file, example inputs (A) and their targets (B)
DEMO_FOLDER, DEMO_MODEL, DEMO_INPUTS = "translate-demo", "model.safetensors", "A_sans"
#: translator files (a run folder is recognised by its checkpoints/ folder)
MODEL_SUFFIXES = frozenset({".safetensors"})
VIEW_MODES = ("side", "split")


@dataclass(frozen=True)
class LoadedModel:
    """A translator as opened: from where, and what the file says about it."""
    path: Path                   # the file or run folder the user opened
    translator: Translator
    step: int | None             # the training step it was saved at, when the file says
    parameters: int              # of the A->B generator


@dataclass(frozen=True)
class Translation:
    """The result shown: which image, with which model and direction, and the pixels."""
    path: Path
    model: LoadedModel
    direction: str
    image: LoadedImage
    tile: int | None
    pixels: np.ndarray
    seconds: float
    ensemble: bool = False


def demo_dir() -> Path | None:
    """The bundled demo folder, if this installation has its model."""
    folder = resources_dir() / DEMO_FOLDER
    return folder if (folder / DEMO_MODEL).is_file() else None


def is_run_folder(path: Path) -> bool:
    return path.is_dir() and (path / "checkpoints").is_dir()


class TranslatePanel(ImagePanel, QWidget):
    """Translate images with a pix2pix or CycleGAN model at their full resolution.

    Public API: ``open_model(path)`` (a run folder or model file), ``open_paths(paths)`` (images
    and folders, as the dialogs and a drop do), ``inputs()``, ``select_input(path)``,
    ``set_direction("AtoB"|"BtoA")``, ``set_tile(n)``, ``translate()``, ``cancel()``,
    ``export_png(path)``, ``run_batch(out_dir, existing)``, ``set_view_mode("side"|"split")``,
    ``output_pixels()``, ``is_busy()``, ``shutdown()`` and ``menu_actions()``.
    """

    SETTINGS_GROUP = "translate"      # QSettings group of the preferences
    RUN_KIND = "translate"

    PROGRESS_KINDS = ("translate", "batch")

    status_changed = Signal(str)          # a one-line status for the status bar
    model_loaded = Signal(str)            # what the model is, in one line
    inputs_opened = Signal(int)           # number of images now listed
    input_shown = Signal(str)             # the image now shown as input
    translation_finished = Signal(str)    # the image whose result is now shown
    exported = Signal(str)                # the PNG written
    model_saved = Signal(str)             # the small translator file written
    batch_progressed = Signal(int, int)   # (files done, files total)
    batch_finished = Signal(object)       # the core's BatchResult
    error_shown = Signal(str)             # the sentence of an error dialog just shown

    def __init__(self, parent: QWidget | None = None, *, device: str = "auto") -> None:
        super().__init__(parent)
        self._device = device
        self._init_jobs()
        self._model_lock = threading.Lock()    # held by every job that runs the translator
        self._model: LoadedModel | None = None
        self._sources: list[Path] = []         # files and folders as opened (a batch mirrors these)
        self._loaded: LoadedImage | None = None
        self._result: Translation | None = None
        self._demo = demo_dir()
        self.setAcceptDrops(True)
        self._build()
        self._restore_settings()
        self._connect()
        self._show_model(None)
        self._update_actions()
        app = QCoreApplication.instance()
        if app is not None:   # a last guard: no thread may outlive the application
            app.aboutToQuit.connect(self.shutdown)
        first = self._first_model()
        if first is not None:
            self.open_model(first)

    # ------------------------------------------------------------------ construction
    def _build(self) -> None:
        self._make_actions()
        model_box = self._build_model_box()
        inputs_box = self._build_inputs_box()
        batch_box = self._build_batch_box(
            self.tr("Translates every open image into a folder you choose, as PNG at full size. Subfolders "
                    "are mirrored."),
            self.tr("The files that could not be translated, and why; then those that were converted on "
                    "reading (an animated GIF's first frame, CMYK, 16 bits)."))
        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 4, 0)
        left_layout.addWidget(model_box)
        left_layout.addWidget(inputs_box, 1)
        left_layout.addWidget(batch_box)
        compact_boxes(left)

        self._compare = UpCompareView()
        self._compare.setObjectName("compare")
        self._side = TrSideBySideView()
        self._side.setObjectName("sideBySide")
        self._views = QStackedWidget()
        self._views.addWidget(self._side)
        self._views.addWidget(self._compare)
        self._progress = QProgressBar()
        self._progress.setObjectName("progress")
        self._progress.setRange(0, 1000)
        self._progress.setTextVisible(True)
        self._progress.setVisible(False)
        self._info = QLabel()
        self._info.setObjectName("resultInfo")
        self._info.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        action_row = QHBoxLayout()
        translate_button = self._button(self._translate_action, "translate", expanding=False)
        font = translate_button.font()
        font.setBold(True)   # the panel's main action
        translate_button.setFont(font)
        action_row.addWidget(translate_button)
        action_row.addWidget(self._button(self._cancel_action, "cancel", expanding=False))
        action_row.addWidget(self._info, 1)
        action_row.addWidget(self._progress, 1)
        view_label = QLabel(self.tr("View:"))
        view_label.setToolTip(self.tr("How input and output are compared."))
        action_row.addWidget(view_label)
        for act, name in ((self._side_action, "sideBySideMode"), (self._split_action, "splitMode")):
            segment = self._button(act, name, expanding=False)
            theme.mark_segment(segment)      # which view is on shows on a dark palette too
            action_row.addWidget(segment)
        action_row.addSpacing(8)
        action_row.addWidget(self._button(self._export_action, "export", expanding=False))
        right = QWidget()
        right_layout = QVBoxLayout(right)
        right_layout.setContentsMargins(4, 0, 0, 0)
        right_layout.addWidget(self._views, 1)
        right_layout.addLayout(action_row)

        splitter = named_splitter(Qt.Orientation.Horizontal, "translateSplitter",
                                  [side_column(left, 300), right], [0, 1])
        splitter.setChildrenCollapsible(False)
        splitter.setSizes([330, 970])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addWidget(splitter)

    def _build_model_box(self) -> QGroupBox:
        self._model_combo = QComboBox()
        self._model_combo.setObjectName("model")
        self._model_combo.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self._model_combo.setMinimumContentsLength(16)
        self._model_combo.setPlaceholderText(self.tr("No model open"))
        self._model_combo.setToolTip(self.tr("The translation model: the demo, and models you opened before "
                                             "(training runs and model files)."))
        # the description ends with a link to the model card when there is one (on its own line it
        # would cost the image list a row on a laptop screen)
        self._model_details = QLabel()
        self._model_details.setObjectName("modelDetails")
        self._model_details.setWordWrap(True)
        self._model_details.setTextFormat(Qt.TextFormat.RichText)
        self._model_details.setTextInteractionFlags(Qt.TextInteractionFlag.TextBrowserInteraction)
        self._model_details.setOpenExternalLinks(False)
        self._model_details.linkActivated.connect(self._on_model_card_link_activated)

        self._direction_group = QButtonGroup(self)
        self._direction_buttons: dict[str, QRadioButton] = {}
        direction_row = QVBoxLayout()
        direction_row.setSpacing(2)
        for direction in ("AtoB", "BtoA"):
            button = QRadioButton()
            button.setObjectName(f"direction{direction}")
            self._direction_group.addButton(button)
            self._direction_buttons[direction] = button
            direction_row.addWidget(button)
        self._direction_buttons["AtoB"].setChecked(True)

        self._tile_spin = QSpinBox()
        self._tile_spin.setObjectName("tile")
        self._tile_spin.setRange(0, TILE_MAX)
        self._tile_spin.setSingleStep(TILE_STEP)
        self._tile_spin.setSpecialValueText(self.tr("Auto"))
        self._tile_spin.setSuffix(self.tr(" px"))
        self._tile_spin.setToolTip(self.tr("Images are always translated at their full size. Large ones are "
                                           "done in tiles that overlap and blend, so no seams show. Auto "
                                           "tiles images over one megapixel; choose a smaller size if the "
                                           "computer runs out of memory."))

        box = QGroupBox(self.tr("Model"))
        layout = QVBoxLayout(box)
        layout.addWidget(self._model_combo)
        row = QHBoxLayout()
        row.addWidget(self._button(self._open_model_action, "openModelFile"))
        row.addWidget(self._button(self._open_run_action, "openRunFolder"))
        layout.addLayout(row)
        layout.addWidget(self._model_details)
        form = QFormLayout()
        form.setContentsMargins(0, 4, 0, 0)
        form.addRow(self.tr("Direction"), direction_row)
        form.addRow(self.tr("Tile size"), self._tile_spin)
        layout.addLayout(form)
        layout.addWidget(self._make_best_quality_check(len(ENSEMBLE_SHIFTS), self.tr(
            "Translates each image 9 times, moved by a couple of pixels each way, and keeps for every "
            "pixel the value most of the runs agree on: cleaner strokes and fewer stray marks (1.8% "
            "lower error on the demo's unseen characters) for 9 times the time.")))
        return box

    def _build_inputs_box(self) -> QGroupBox:
        self._inputs = UpInputList()
        self._inputs.setObjectName("inputs")
        self._inputs_summary = QLabel(self.tr("No images open."))
        self._inputs_summary.setObjectName("inputsSummary")
        self._inputs_summary.setWordWrap(True)
        box = QGroupBox(self.tr("Images"))
        layout = QVBoxLayout(box)
        row = QHBoxLayout()
        row.addWidget(self._button(self._open_images_action, "openImages"))
        row.addWidget(self._button(self._open_folder_action, "openFolder"))
        layout.addLayout(row)
        examples = self._button(self._open_examples_action, "openExamples")
        examples.setVisible(self._demo is not None)
        layout.addWidget(examples)
        layout.addWidget(self._inputs, 1)
        layout.addWidget(self._inputs_summary)
        return box

    def _make_actions(self) -> None:
        """The panel's actions: its buttons show them and the main window puts them in a menu. Their
        keys (the Upscale panel's) work while the focus is inside this panel."""
        def action(*args: object) -> QAction:
            return panel_action(self, *args)

        self._open_images_action = action(
            self.tr("Open Images…"), self.tr("Open images…"), self._on_open_images_action_triggered,
            self.tr("Open one or more images. You can also drop images or folders onto this panel."),
            "Ctrl+O")
        self._open_folder_action = action(
            self.tr("Open Folder…"), self.tr("Open folder…"), self._on_open_folder_action_triggered,
            self.tr("Open every image in a folder and its subfolders."), "Ctrl+Shift+O")
        self._open_examples_action = action(
            self.tr("Open Example Images"), self.tr("Example images"),
            self._on_open_examples_action_triggered,
            self.tr("Open the demo's example inputs: characters in a plain sans-serif that the demo model "
                    "never saw in training."))
        self._open_model_action = action(
            self.tr("Open Model File…"), self.tr("Model file…"), self._on_open_model_action_triggered,
            self.tr("Use a translator file (.safetensors) exported by GAN Studio, or one checkpoint of a "
                    "training run. Files are read as weights only; no code in them is run."))
        self._open_run_action = action(
            self.tr("Open Run Folder…"), self.tr("Run folder…"), self._on_open_run_action_triggered,
            self.tr("Use the best checkpoint of a translation model you trained (its run folder)."))
        self._open_demo_action = action(
            self.tr("Open Demo Model"), self.tr("Demo model"), self._on_open_demo_action_triggered,
            self.tr("The bundled demo: redraws hanzi from a plain sans-serif in a brush-like Kai style."))
        self._translate_action = action(
            self.tr("Translate"), self.tr("Translate"), self.translate,
            self.tr("Translate the selected image at its full size and show it beside the input."),
            "Ctrl+Return")
        self._cancel_action = action(
            self.tr("Cancel"), self.tr("Cancel"), self.cancel,
            self.tr("Stop translating (a batch keeps the files already written)."), "Esc")
        self._export_action = action(
            self.tr("Export PNG…"), self.tr("Export PNG…"), self._on_export_action_triggered,
            self.tr("Save the translated image as a PNG with a note of the model and direction that "
                    "made it."),
            "Ctrl+S")
        self._save_model_action = action(
            self.tr("Save Model File…"), self.tr("Save model file…"), self._on_save_model_action_triggered,
            self.tr("Save the model as one small file (its generators only, without the training state) to "
                    "share it or open it later with Model file…."))
        self._batch_action = action(
            self.tr("Translate All into Folder…"), self.tr("Translate all into folder…"),
            self._on_batch_action_triggered,
            self.tr("Translate every open image into an output folder you choose, as PNG at full size; "
                    "subfolders are mirrored."))
        self._side_action = action(
            self.tr("Side by Side"), self.tr("Side by side"), lambda: self.set_view_mode("side"),
            self.tr("Input and output next to each other, zoomed and moved together."))
        self._split_action = action(
            self.tr("Split Compare"), self.tr("Split"), lambda: self.set_view_mode("split"),
            self.tr("Input and output in one view; drag the line to compare them."))
        modes = QActionGroup(self)
        for act in (self._side_action, self._split_action):
            act.setCheckable(True)
            modes.addAction(act)
        self._side_action.setChecked(True)
        # zoom keys act on whichever view is shown (the views' own Fit and 100 % buttons act on themselves)
        self._fit_action = action(self.tr("Fit"), self.tr("Fit"), lambda: self._zoom("fit"),
                                  self.tr("Show the whole image"), "Ctrl+0")
        self._actual_size_action = action(self.tr("100%"), self.tr("100%"), lambda: self._zoom("actual"),
                                          self.tr("One image pixel per screen pixel"), "Ctrl+Alt+0")
        self._zoom_in_action = action(self.tr("Zoom In"), self.tr("Zoom in"), lambda: self._zoom("in"),
                                      self.tr("Zoom in"), QKeySequence.StandardKey.ZoomIn)
        self._zoom_out_action = action(self.tr("Zoom Out"), self.tr("Zoom out"), lambda: self._zoom("out"),
                                       self.tr("Zoom out"), QKeySequence.StandardKey.ZoomOut)
        self._open_demo_action.setVisible(self._demo is not None)
        self._open_examples_action.setVisible(self._demo is not None)

    def menu_actions(self) -> list[QAction | None]:
        """What the main window puts in this panel's menu (None: a separator)."""
        demo = [self._open_demo_action, self._open_examples_action] if self._demo is not None else []
        return [self._open_images_action, self._open_folder_action, None,
                self._open_model_action, self._open_run_action, *demo, self._save_model_action, None,
                self._translate_action, self._cancel_action, self._export_action, self._batch_action, None,
                self._side_action, self._split_action, None,
                self._fit_action, self._actual_size_action, self._zoom_in_action, self._zoom_out_action]

    def _connect(self) -> None:
        self._inputs.current_path_changed.connect(self._on_inputs_current_path_changed)
        self._model_combo.activated.connect(self._on_model_combo_activated)
        self._direction_group.buttonToggled.connect(self._on_direction_group_button_toggled)
        self._tile_spin.valueChanged.connect(self._save_settings)
        self._existing_combo.currentIndexChanged.connect(self._save_settings)
        self._ensemble_check.toggled.connect(self._on_ensemble_check_toggled)

    # ------------------------------------------------------------------ settings
    def _restore_settings(self) -> None:
        s = self._settings()
        try:
            tile = int(s.value("tile", 0))
        except (TypeError, ValueError):
            tile = 0
        restore_spin(self._tile_spin, tile)
        self._restore_best_quality(s)
        existing = self._existing_combo.findData(str(s.value("existing", "skip")))
        self._existing_combo.setCurrentIndex(max(0, existing))
        mode = str(s.value("view", "side"))
        self.set_view_mode(mode if mode in VIEW_MODES else "side")
        self._fill_model_combo(None)

    @Slot()
    def _save_settings(self) -> None:
        s = self._settings()
        s.setValue("tile", self._tile_spin.value())
        s.setValue("existing", self._existing_combo.currentData())
        s.setValue("view", self.view_mode())
        self._save_best_quality(s)

    def _first_model(self) -> Path | None:
        """The model used last, else the demo (the first start of the panel)."""
        remembered = str(self._settings().value("model", "") or "")
        if remembered and Path(remembered).exists():
            return Path(remembered)
        return self._demo / DEMO_MODEL if self._demo is not None else None

    def _remember_model(self, path: Path) -> None:
        s = self._settings()
        s.setValue("model", str(path))
        recent = [str(p) for p in self.recent_models() if p != path]
        s.setValue("recent_models", json.dumps([str(path), *recent][:MAX_RECENT_MODELS]))

    def _forget_model(self, path: Path) -> None:
        s = self._settings()
        s.setValue("recent_models", json.dumps([str(p) for p in self.recent_models() if p != path]))
        if str(s.value("model", "")) == str(path):
            s.remove("model")

    # ------------------------------------------------------------------ the model
    def _model_name(self, path: Path) -> str:
        if self._demo is not None and path == self._demo / DEMO_MODEL:
            return self.tr("Demo: Noto Sans → Kai (bundled)")
        if path.is_dir():
            return self.tr("{name} (training run)").format(name=path.name)
        if path.parent.name == "checkpoints":
            return self.tr("{run}: {file}").format(run=path.parent.parent.name, file=path.name)
        return path.name

    def _fill_model_combo(self, select: Path | None) -> None:
        """The demo (if installed) and the recent models, ``select`` chosen (none: no choice shown)."""
        keys = [p for p in self.recent_models() if self._demo is None or p != self._demo / DEMO_MODEL]
        if self._demo is not None:
            keys.insert(0, self._demo / DEMO_MODEL)
        if select is not None and select not in keys:
            keys.insert(0, select)
        with QSignalBlocker(self._model_combo):
            self._model_combo.clear()
            for path in keys:
                self._model_combo.addItem(self._model_name(path), str(path))
                self._model_combo.setItemData(self._model_combo.count() - 1, str(path),
                                              Qt.ItemDataRole.ToolTipRole)
            self._model_combo.setCurrentIndex(self._model_combo.findData(str(select)) if select else -1)

    def model(self) -> LoadedModel | None:
        """The model in use (None until one has loaded)."""
        return self._model

    def open_model(self, path: str | os.PathLike[str]) -> None:
        """Load a translation model from a run folder or a file in the background (``model_loaded``);
        a model that cannot be used is reported and the previous one stays."""
        path = Path(path)
        self._fill_model_combo(path)
        self._status(self.tr("Loading {name}…").format(name=self._model_name(path)))
        self._set_model_details(self.tr("Loading…"))
        device = self._device

        def work(ctx: JobContext) -> LoadedModel:
            translator = load_translator(path, device=device)
            return LoadedModel(path, translator, _saved_step(translator),
                               count_parameters(translator.generator("AtoB")))

        def failed(error: object, details: str) -> None:
            self._pending_run = False
            self._forget_model(path)
            summary = self.tr("Could not open the model {name}.").format(name=self._model_name(path))
            self._report_failure(summary, error, details)
            self._fill_model_combo(self._model.path if self._model is not None else None)
            self._show_model(self._model)

        self._start_job("model", work, self._on_model_loaded, on_failure=failed)

    def _on_model_loaded(self, model: LoadedModel) -> None:
        self._cancel_job("translate")    # a result of the previous model is no longer wanted
        self._model = model
        self._remember_model(model.path)
        self._fill_model_combo(model.path)
        self._show_model(model)
        self._show_current()
        summary = self._model_summary(model)
        self._status(self.tr("Model: {summary}.").format(summary=summary))
        self.model_loaded.emit(summary)
        if self._pending_run:
            self._pending_run = False
            self.translate()

    def _model_summary(self, model: LoadedModel) -> str:
        """One line: kind and domains, e.g. 'pix2pix, A_sans → B_kai'."""
        kind = self.tr("CycleGAN") if "BtoA" in model.translator.directions else self.tr("pix2pix")
        a, b = _domain_names(model.translator)
        return self.tr("{kind}, {a} → {b}").format(kind=kind, a=a, b=b)

    def _show_model(self, model: LoadedModel | None) -> None:
        """The model's description, its card, and the directions it offers."""
        if model is None:
            self._set_model_details(self.tr("Open a translation model: a model file, or the folder of a "
                                            "pix2pix or CycleGAN run you trained."))
            a, b = "A", "B"
        else:
            card = (model.path.parent if model.path.is_file() else model.path) / "MODEL_CARD.md"
            self._set_model_details(self._describe(model), str(model.translator.source or model.path),
                                    card if card.is_file() else None)
            a, b = _domain_names(model.translator)
        directions = model.translator.directions if model is not None else ["AtoB"]
        for direction, text in (("AtoB", self.tr("A → B: {a} → {b}")), ("BtoA", self.tr("B → A: {b} → {a}"))):
            button = self._direction_buttons[direction]
            button.setText(text.format(a=a, b=b))
            button.setEnabled(direction in directions)
            button.setToolTip("" if direction in directions else
                              self.tr("Only CycleGAN models (trained on two unpaired folders) translate "
                                      "back."))
        if self.direction() not in directions:
            self._direction_buttons["AtoB"].setChecked(True)
        elif model is not None and "BtoA" in directions:
            remembered = str(self._settings().value("direction", "AtoB"))
            if remembered in directions:
                self._direction_buttons[remembered].setChecked(True)

    def _set_model_details(self, text: str, tooltip: str = "", card: Path | None = None) -> None:
        """Show ``text`` (plain, lines) under the model's name, with a link to its ``card`` if given."""
        shown = html.escape(text).replace("\n", "<br>")
        if card is not None:
            link = html.escape(QUrl.fromLocalFile(str(card)).toString(), quote=True)
            shown += f' · <a href="{link}">{html.escape(self.tr("Model card"))}</a>'
        self._model_details.setText(shown)
        self._model_details.setToolTip(tooltip)

    def model_details(self) -> str:
        """The model's description as the user reads it (plain text)."""
        doc = QTextDocument()
        doc.setHtml(self._model_details.text())
        return doc.toPlainText()

    def _describe(self, model: LoadedModel) -> str:
        t, info = model.translator, model.translator.info
        lines = [str(info["title"])] if info.get("title") else []
        spec = (info.get("generators") or {}).get("AtoB") or {}
        kwargs = spec.get("kwargs") or {}
        arch = (self.tr("ResNet, {blocks} blocks").format(blocks=kwargs.get("n_blocks", "?"))
                if spec.get("arch") == "resnet" else self.tr("U-Net"))
        params = _count(model.parameters)
        if "BtoA" in t.directions:
            lines.append(self.tr("CycleGAN (trained on unpaired folders): two {arch} generators of {params} "
                                 "parameters").format(arch=arch, params=params))
        else:
            lines.append(self.tr("pix2pix (trained on pairs): a {arch} generator of {params} "
                                 "parameters").format(arch=arch, params=params))
        # the domains' names are on the Direction buttons below
        colours = {1: self.tr("grey"), 3: self.tr("colour")}
        channels = (self.tr("{a} → {b}").format(a=colours.get(t.in_channels("AtoB"), "?"),
                                                 b=colours.get(t.out_channels("AtoB"), "?")))
        facts = [self.tr("Channels: {channels}").format(channels=channels)]
        if info.get("crop_size"):
            facts.append(self.tr("trained on {size}\u00a0px crops").format(size=info["crop_size"]))
        if model.step is not None:
            facts.append(self.tr("step {step:,}").format(step=model.step))
        lines.append(", ".join(facts))
        return "\n".join(lines)

    @Slot(int)
    def _on_model_combo_activated(self, index: int) -> None:
        key = self._model_combo.itemData(index)
        if key and (self._model is None or Path(key) != self._model.path):
            self.open_model(key)

    @Slot(str)
    def _on_model_card_link_activated(self, link: str) -> None:
        QDesktopServices.openUrl(QUrl(link))

    @Slot()
    def _on_open_model_action_triggered(self) -> None:
        chosen = self._ask(self.tr("Open a translation model file"), "last_model_dir",
                           (self.tr("Model files"), MODEL_SUFFIXES))
        if chosen:
            self.open_model(chosen[0])

    @Slot()
    def _on_open_run_action_triggered(self) -> None:
        chosen = self._ask(self.tr("Open a translation model's training run folder"), "last_model_dir")
        if chosen:
            self.open_model(chosen[0])

    @Slot()
    def _on_open_demo_action_triggered(self) -> None:
        if self._demo is not None:
            self.open_model(self._demo / DEMO_MODEL)

    def _ask(self, title: str, key: str, files: tuple[str, frozenset[str]] | None = None, *,
             several: bool = False) -> list[Path]:
        """A folder, or with ``files`` = (what they are, suffixes) one file or ``several``, chosen in a
        dialog that starts where the last one under ``key`` was; [] if cancelled."""
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
            self._remember_folder(key, paths[0].parent if paths[0].is_file() else paths[0])
        return paths

    # ------------------------------------------------------------------ direction and view
    def direction(self) -> str:
        """"AtoB" or "BtoA"."""
        return "BtoA" if self._direction_buttons["BtoA"].isChecked() else "AtoB"

    def set_direction(self, direction: str) -> None:
        button = self._direction_buttons.get(direction)
        if button is None or not button.isEnabled():
            self._status(self.tr("This model cannot translate in that direction."))
            return
        button.setChecked(True)

    @Slot(object, bool)
    def _on_direction_group_button_toggled(self, button: QRadioButton, checked: bool) -> None:
        if checked:
            if self._model is not None and "BtoA" in self._model.translator.directions:
                self._settings().setValue("direction", self.direction())
            self._show_current()

    def view_mode(self) -> str:
        """"side" (input and output next to each other) or "split" (one view, a dividing line)."""
        return "split" if self._split_action.isChecked() else "side"

    def set_view_mode(self, mode: str) -> None:
        if mode not in VIEW_MODES:
            raise ValueError(f"Invalid view mode {mode!r}. Only {', '.join(VIEW_MODES)} are supported.")
        (self._split_action if mode == "split" else self._side_action).setChecked(True)
        self._views.setCurrentWidget(self._compare if mode == "split" else self._side)
        self._save_settings()

    def compare_view(self) -> UpCompareView:
        """The split view (input left of the line, output right of it)."""
        return self._compare

    def side_by_side_view(self) -> TrSideBySideView:
        return self._side

    def _zoom(self, how: str) -> None:
        view: UpCompareView | TrSideBySideView = self._compare if self.view_mode() == "split" else self._side
        if how == "fit":
            view.fit_to_window()
        elif how == "actual":
            view.zoom_to_actual_size()
        else:
            view.set_zoom(view.zoom() * (1.25 if how == "in" else 0.8))

    # ------------------------------------------------------------------ opening images
    def open_paths(self, paths: list[str | os.PathLike[str]]) -> None:
        """Open image files and folders (folders with their subfolders), replacing what was open.
        The list fills in the background (``inputs_opened``), then thumbnails arrive."""
        sources = [Path(p) for p in paths]
        if not sources:
            return
        self._sources = sources
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
        if not entries:
            text = self.tr("No images found.")
        else:
            text = (self.tr("1 image") if len(entries) == 1
                    else self.tr("{count} images").format(count=len(entries)))
            if folders:
                text += " " + (self.tr("from 1 folder, subfolders included") if folders == 1 else
                               self.tr("from {count} folders, subfolders included").format(count=folders))
        if missing:
            names = ", ".join(Path(m).name for m in missing)
            text += " " + self.tr("Not found: {names}.").format(names=names)
        self._inputs_summary.setText(text)
        self._inputs.set_inputs(entries)
        self._status(text)
        self._update_actions()
        self.inputs_opened.emit(len(entries))

    @Slot(object)
    def _on_inputs_current_path_changed(self, path: Path | None) -> None:
        self._cancel_job("translate")
        self._loaded = None
        if path is None:
            self._cancel_job("read")
            self._show_current()
            return
        self._update_actions()    # the previous image stays in view until this one has been read

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
            self._show_current(problem=image)
            self._status(image)
            return
        self._loaded = image
        self._show_current()
        h, w = image.pixels.shape[:2]
        notes = "; ".join(image.notes)
        self._status(self.tr("{name}: {width} × {height}").format(name=path.name, width=w, height=h)
                     + (f" ({notes})" if notes else ""))
        self.input_shown.emit(str(path))

    @Slot()
    def _on_open_images_action_triggered(self) -> None:
        self.open_paths(self._ask(self.tr("Open images to translate"), "last_input_dir",
                                  (self.tr("Images"), IMAGE_SUFFIXES), several=True))

    @Slot()
    def _on_open_folder_action_triggered(self) -> None:
        self.open_paths(self._ask(self.tr("Open a folder of images to translate"), "last_input_dir"))

    @Slot()
    def _on_open_examples_action_triggered(self) -> None:
        if self._demo is not None:
            self.open_paths([self._demo / DEMO_INPUTS])

    # ------------------------------------------------------------------ showing
    def _shown_result(self) -> Translation | None:
        """The result that belongs to the selected image, the model and the direction, if any."""
        r = self._result
        if r is None or r.path != self.current_input() or r.model is not self._model \
                or r.direction != self.direction() or r.ensemble != self.best_quality():
            return None
        return r

    def output_pixels(self) -> np.ndarray | None:
        """The translated pixels shown (uint8 HxWxC), or None."""
        result = self._shown_result()
        return result.pixels if result is not None else None

    def _show_current(self, problem: str | None = None) -> None:
        """Show the selected image, with its translation when there is one, in both views."""
        image, result = self._loaded, self._shown_result()
        if self._model is None:
            hint = self.tr("Open a translation model first: a model file or a training run folder "
                           "(Model file…, Run folder…), or drop it here.")
        else:
            hint = self.tr("Open images or a folder (Ctrl+O, Ctrl+Shift+O), or drop them here.\n\n"
                           "Then press Translate (Ctrl+Return) to see the result at full size.")
        if problem is not None:
            hint = problem
        self._compare.set_empty_text(hint)
        waiting = self.tr("Press Translate (Ctrl+Return)") if self._model is not None else ""
        self._side.set_empty_texts(hint, waiting if image is not None else "")
        if image is None:
            self._compare.clear()
            self._side.set_images(None, None)
            self._info.clear()
            self._update_actions()
            return
        h, w = image.pixels.shape[:2]
        a, b = _domain_names(self._model.translator) if self._model is not None else ("A", "B")
        source, target = (a, b) if self.direction() == "AtoB" else (b, a)
        if result is None:
            self._compare.set_images(image.pixels, None)
            self._compare.set_labels(self.tr("Input ({domain}), {w} × {h}: press Translate to "
                                             "compare").format(domain=source, w=w, h=h), "")
            self._side.set_images(image.pixels, None)
            self._side.set_labels(self.tr("Input ({domain}), {w} × {h}").format(domain=source, w=w, h=h), "")
            self._info.setText(self.tr("{w} × {h}").format(w=w, h=h))
        else:
            self._compare.set_images(image.pixels, result.pixels)
            output = self.tr("Output ({domain})").format(domain=target) + (
                self.tr(", best quality") if result.ensemble else "")
            self._compare.set_labels(self.tr("Input ({domain})").format(domain=source), output)
            self._side.set_images(image.pixels, result.pixels)
            self._side.set_labels(self.tr("Input ({domain})").format(domain=source), output)
            self._info.setText(self.tr("{w} × {h}, translated in {time}").format(
                w=w, h=h, time=format_seconds(result.seconds)))
        self._update_actions()

    # ------------------------------------------------------------------ translating one image
    def translate(self) -> None:
        """Translate the selected image at full size in the background; the result is shown beside
        the input (``translation_finished``). Waits for a model that is still loading."""
        path = self.current_input()
        if path is None:
            self._status(self.tr("Open an image first."))
            return
        if "batch" in self._jobs:
            self._status(self.tr("A batch is running; wait for it or cancel it first."))
            return
        if "model" in self._jobs:
            self._pending_run = True
            self._status(self.tr("The model is still loading; the image is translated as soon as it is "
                                 "ready."))
            return
        if self._model is None:
            self._status(self.tr("Open a translation model first."))
            return
        model, direction, tile, lock = self._model, self.direction(), self.tile(), self._model_lock
        ensemble = self.best_quality()
        loaded = self._loaded if self._loaded is not None and self._loaded.path == path else None
        self._status(self.tr("Translating {name}…").format(name=path.name))
        self._show_progress(self.tr("Starting…"), -1)

        def work(ctx: JobContext) -> Translation | None:
            image = loaded if loaded is not None else read_image(path)
            with lock:
                started = time.monotonic()
                try:
                    pixels = translate_array(model.translator, image.pixels, direction, tile=tile,
                                             ensemble=ensemble,
                                             progress=lambda done, total: ctx.emit((done, total)),
                                             should_stop=ctx.should_stop)
                except Cancelled:
                    return None
            return Translation(path, model, direction, image, tile, pixels, time.monotonic() - started, ensemble)

        def tile_done(message: Any) -> None:
            done, total = message
            self._show_progress(self.tr("Tile {done} of {total}").format(done=done, total=total),
                                done / total)

        self._start_job("translate", work, self._on_translated, on_message=tile_done,
                        failure=self.tr("Could not translate {name}.").format(name=path.name))

    def _on_translated(self, result: Translation | None) -> None:
        if result is None:
            self._status(self.tr("Translation was cancelled."))
            return
        self._result = result
        if self._loaded is None or self._loaded.path != result.path:
            self._loaded = result.image
        self._show_current()
        h, w = result.pixels.shape[:2]
        self._status(self.tr("Translated {name} ({w} × {h}) in {time}.").format(
            name=result.path.name, w=w, h=h, time=format_seconds(result.seconds)))
        self.translation_finished.emit(str(result.path))

    # ------------------------------------------------------------------ export
    def export_png(self, path: str | os.PathLike[str] | None = None) -> None:
        """Save the result shown as a PNG with provenance (``exported``). Without ``path`` a dialog
        asks, and confirms before replacing a file; a ``path`` given by code never replaces one (a
        free name such as ``name-1.png`` is used instead)."""
        result = self._shown_result()

        def write(target: Path, overwrite: bool) -> Path:
            return save_translated(result.pixels, target, result.model.translator, result.direction,
                                   source=result.image, tile=result.tile, ensemble=result.ensemble,
                                   overwrite=overwrite)

        self._export_png(result, path, self.tr("Translate an image first."),
                         lambda: self._ask_export_target(result), write)

    def _ask_export_target(self, result: Translation) -> tuple[Path, bool] | None:
        model = result.model.translator.name.replace(" ", "-")
        return self._ask_png_target(self.tr("Export the translated image"), result.path,
                                    f"{result.path.stem}-{model}-{result.direction}.png")

    # ------------------------------------------------------------------ model file
    def save_model_file(self, path: str | os.PathLike[str] | None = None) -> None:
        """Save the open model as a small translator file (``model_saved``); asked with a dialog
        when ``path`` is None. A file is only replaced when the dialog confirmed it."""
        model = self._model
        if model is None or model.translator.source is None:
            self._status(self.tr("Open a model first."))
            return
        overwrite = False
        if path is None:
            asked = self._ask_save_target(self.tr("Save the model file"), model.path,
                                          f"{model.translator.name}.safetensors", ".safetensors",
                                          self.tr("GAN Studio translators (*.safetensors)"))
            if asked is None:
                return
            path, overwrite = asked
        target, source = Path(path), model.translator.source

        def work(ctx: JobContext) -> Path:
            # read again from its file on the CPU: the copy in use may sit on a GPU in half precision
            return export_translator(source, target, overwrite=overwrite)

        def done(written: Path) -> None:
            self._status(self.tr("Saved the model as {file} ({size:.1f} MB).").format(
                file=written, size=written.stat().st_size / 1e6))
            self.model_saved.emit(str(written))

        self._status(self.tr("Saving the model as {name}…").format(name=target.name))
        self._start_job("save-model", work, done,
                        failure=self.tr("Could not save the model as {name}.").format(name=target.name))

    def _on_save_model_action_triggered(self) -> None:
        self.save_model_file()

    # ------------------------------------------------------------------ batch
    def run_batch(self, out_dir: str | os.PathLike[str] | None = None, existing: str | None = None) -> None:
        """Translate every open image into ``out_dir`` (asked when None), mirroring opened folders.
        Bad files are skipped and listed at the end (``batch_finished``)."""
        if not self._inputs.count():
            self._status(self.tr("Open images or a folder first."))
            return
        if self._model is None or "model" in self._jobs:
            self._status(self.tr("Open a model first, or wait until it has loaded."))
            return
        if existing is not None:
            self._existing_combo.setCurrentIndex(max(0, self._existing_combo.findData(existing)))
        if out_dir is None:
            title = self.tr("Choose the folder for the translated images")
            chosen = QFileDialog.getExistingDirectory(self, title, self._start_folder("last_output_dir"))
            if not chosen:
                return
            out_dir = chosen
        out_dir = Path(out_dir)
        self._remember_folder("last_output_dir", out_dir)
        sources, model, direction = list(self._sources), self._model.translator, self.direction()
        policy, tile, lock = self.existing_policy(), self.tile(), self._model_lock
        ensemble = self.best_quality()
        self._cancel_job("translate")
        self._batch_problems.clear()
        self._batch_problems.setVisible(False)
        self._show_batch_summary(self.tr("Translating into {folder}…").format(folder=out_dir))
        self._batch_started, self._batch_file = time.monotonic(), ("", 0, 0)
        self._show_progress(self.tr("Starting…"), -1)

        def work(ctx: JobContext) -> BatchResult:
            def on_file(done: int, total: int, path: Path | None) -> None:
                ctx.emit(("file", done, total, path.name if path is not None else ""))

            def on_tile(done: int, total: int) -> None:
                ctx.emit(("tile", done / max(1, total)))

            with lock:
                return translate_batch(sources, out_dir, model, direction, recursive=True, existing=policy,
                                       tile=tile, ensemble=ensemble, progress=on_file, tile_progress=on_tile,
                                       should_stop=ctx.should_stop)

        self._status(self.tr("Translating {count} images into {folder}…").format(count=self._inputs.count(),
                                                                                 folder=out_dir))
        self._start_job("batch", work, lambda result: self._on_batch_done(result, out_dir),
                        on_message=self._on_batch_message,
                        failure=self.tr("The batch stopped with an error."))

    def _batch_texts(self) -> BatchTexts:
        return BatchTexts(self.tr("Translating {name} ({done} of {total}, {eta})."),
                          self.tr("1 image could not be translated:"),
                          self.tr("{count} images could not be translated:"),
                          self.tr("Batch translate"), "translate", "translated")

    # ------------------------------------------------------------------ jobs
    def shutdown(self, wait_ms: int = 5000) -> bool:
        """Cancel all background work and wait for its threads (the main window calls this before
        closing). True if every thread ended within ``wait_ms``."""
        self._pending_run = False
        return self._stop_all_jobs(wait_ms)

    def _update_actions(self) -> None:
        batch = "batch" in self._jobs
        self._translate_action.setEnabled(self.current_input() is not None and not batch
                                          and (self._model is not None or "model" in self._jobs))
        self._cancel_action.setEnabled("translate" in self._jobs or batch)
        self._export_action.setEnabled(self._shown_result() is not None)
        self._batch_action.setEnabled(self._inputs.count() > 0 and self._model is not None and not batch)
        self._save_model_action.setEnabled(self._model is not None and "save-model" not in self._jobs)

    # ------------------------------------------------------------------ drag and drop
    @staticmethod
    def _dropped(event: QDragEnterEvent | QDropEvent) -> tuple[Path | None, list[Path]]:
        """(a model dropped alone, or None; the images and folders dropped)."""
        paths = [Path(url.toLocalFile()) for url in event.mimeData().urls() if url.isLocalFile()]
        if len(paths) == 1 and (is_run_folder(paths[0]) or
                                (paths[0].is_file() and paths[0].suffix.lower() in MODEL_SUFFIXES)):
            return paths[0], []
        return None, [p for p in paths if p.is_dir() or p.suffix.lower() in IMAGE_SUFFIXES]

    def _set_drop_hint(self, text: str) -> None:
        self._compare.set_drop_hint(text)
        self._side.set_drop_hint(text)

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        model, images = self._dropped(event)
        if model is None and not images:
            event.ignore()
            return
        event.acceptProposedAction()
        self._set_drop_hint(self.tr("Drop to use this model") if model is not None
                            else self.tr("Drop to open these images"))

    def dragLeaveEvent(self, event: QDragLeaveEvent) -> None:
        self._set_drop_hint("")
        event.accept()

    def dropEvent(self, event: QDropEvent) -> None:
        self._set_drop_hint("")
        model, images = self._dropped(event)
        if model is None and not images:
            event.ignore()
            return
        event.acceptProposedAction()
        if model is not None:
            self.open_model(model)
        else:
            self.open_paths(images)


# ----------------------------------------------------------------------------------------------
# helpers (plain functions; the first runs in a Job)

def _saved_step(translator: Translator) -> int | None:
    """The training step a translator was saved at: a checkpoint's own step, or a ``step`` an
    exported file's info carries (None when neither says)."""
    step = translator.info.get("step")
    if step is None and translator.source is not None:
        try:
            with safe_open(str(translator.source), framework="pt", device="cpu") as f:
                step = json.loads((f.metadata() or {}).get(META_KEY, "{}")).get("step")
        except Exception:  # noqa: BLE001 - it loaded a moment ago; a step is only a detail to show
            step = None
    return int(step) if isinstance(step, (int, float)) else None


def _domain_names(translator: Translator) -> tuple[str, str]:
    """The names of domains A and B (their training folders), or "A" and "B"."""
    names = translator.info.get("domains") or {}
    return str(names.get("A") or "A"), str(names.get("B") or "B")


def _count(n: int) -> str:
    """'850 k', '7.8 M' parameters (a no-break space: the number never wraps away from its unit)."""
    if n >= 1_000_000:
        return QCoreApplication.translate("TranslatePanel", "{0:.1f}\u00a0M").format(n / 1e6)
    return QCoreApplication.translate("TranslatePanel", "{0:.0f}\u00a0k").format(n / 1e3)
