"""The Generate panel: open a trained GAN, make images from seeds, interpolate, export with provenance.

Every image is defined by (model file, seed, truncation), so an exported PNG carries what is needed
to make it again, and dropping it back onto the panel does exactly that. Model loading, generation,
interpolation and export run in background ``Job``s; the GUI thread only shows results. The core
generation module (and so torch) is imported by the first background job, not at start-up.
"""
from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from PySide6.QtCore import QCoreApplication, QSettings, QSignalBlocker, Qt, Signal, Slot
from PySide6.QtGui import QAction, QDragEnterEvent, QDragLeaveEvent, QDropEvent
from PySide6.QtWidgets import (QDoubleSpinBox, QFileDialog, QFormLayout, QGroupBox, QHBoxLayout,
                               QLabel, QProgressBar, QSizePolicy, QSlider,
                               QSpinBox, QSplitter, QToolButton, QVBoxLayout, QWidget)

from ..core.checkpoint import run_folder
from ..core.config import MAX_SEED
from ..core.errors import ExportError
from .actions import panel_action
from .jobs import Job, JobContext
from .panel_jobs import PanelJobs
from .settings import first_start_folder
from .formatting import format_seconds
from .widgets.gen_image_grid import GenImageGrid, GenTile
from .widgets.gen_interpolation import GenInterpolationBox
from .widgets.layout import AtLeastWide, side_column
from .widgets.task_options import restore_spin

if TYPE_CHECKING:
    from ..core.generate import LoadedGenerator

log = logging.getLogger(__name__)

#: QSettings group of this panel
SETTINGS_GROUP = "generate"
#: truncation range offered (the core accepts (0, 2]; above 1.5 images are mostly noise)
TRUNCATION_MIN, TRUNCATION_MAX = 0.1, 1.5
#: the truncation slider works in hundredths
TRUNCATION_SLIDER_SCALE = 100
#: most images one generation makes
MAX_IMAGES = 256
#: images per background batch: small enough that the first ones show at once
GENERATION_BATCH = 8
#: files that are opened as models when dropped or chosen
MODEL_SUFFIXES = (".safetensors",)

# job kinds: "model", "generate", "interpolate", "png" (at most one current job each), "export-N"


class GeneratePanel(PanelJobs, QWidget):
    """Open a run folder or checkpoint, generate images from seeds, interpolate, export PNG/GIF.

    Public API: ``open_model(path)``, ``open_png(path)``, ``open_path(path)`` (what a drop does),
    ``generate()``, ``new_random_seeds()``, ``make_interpolation()``, the ``export_*`` methods (each
    asks for a destination with a dialog when given none), ``is_busy()`` and ``shutdown()``, which
    the main window calls before closing.
    """

    PROGRESS_KINDS = None   # every job shows the progress bar

    status_changed = Signal(str)            # a one-line status for the status bar
    activity_changed = Signal(str)          # the same, under the name the main window listens to
    model_loaded = Signal(str)              # checkpoint file now loaded
    generation_finished = Signal(int)       # number of images now shown
    interpolation_finished = Signal(int)    # number of frames made
    exported = Signal(list)                 # paths (str) of the files written
    png_reproduced = Signal(str)            # the PNG whose image was made again
    error_shown = Signal(str)               # the sentence of an error dialog just shown

    def __init__(self, parent: QWidget | None = None, *, device: str = "cpu") -> None:
        super().__init__(parent)
        # The CPU by default: its results are bit-identical on every machine, so an exported PNG's
        # seed reproduces the same pixels anywhere (GPU kernels may differ in the last bit).
        self._device = device
        self._generator: LoadedGenerator | None = None
        self._init_jobs()
        self._pending_png: Path | None = None    # dropped while a model was loading
        #: where training runs are saved (the main window sets it): a dropped PNG's model is looked for there
        self.runs_folder: Callable[[], Path] | None = None
        self._reopen_checked = False   # the model of the last session is opened when the panel is first shown
        self._rng = random.Random()
        self._export_count = 0
        self.setAcceptDrops(True)
        self._build()
        self._restore_settings()
        self._connect()
        self._update_actions()
        app = QCoreApplication.instance()
        if app is not None:   # a last guard: no thread may outlive the application
            app.aboutToQuit.connect(self.shutdown)

    # ------------------------------------------------------------------ construction
    def _build(self) -> None:
        self._make_actions()
        self._open_run_button = self._button(self._open_run_action, "openRun")
        self._open_file_button = self._button(self._open_file_action, "openCheckpoint")
        self._open_png_button = self._button(self._open_png_action, "reproducePng")
        self._model_name = QLabel(self.tr("No model loaded"))
        self._model_name.setObjectName("modelName")
        self._model_name.setWordWrap(True)
        font = self._model_name.font()
        font.setBold(True)
        self._model_name.setFont(font)
        self._model_details = QLabel(self.tr("Open a run or a checkpoint, or drop one onto this panel."))
        self._model_details.setObjectName("modelDetails")
        self._model_details.setWordWrap(True)
        self._model_details.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        model_box = QGroupBox(self.tr("Model"))
        model_layout = QVBoxLayout(model_box)
        open_row = QHBoxLayout()
        open_row.addWidget(self._open_run_button)
        open_row.addWidget(self._open_file_button)
        model_layout.addLayout(open_row)
        model_layout.addWidget(self._model_name)
        model_layout.addWidget(self._model_details)
        model_layout.addWidget(self._open_png_button)

        self._seed_spin = QSpinBox()
        self._seed_spin.setObjectName("seed")
        self._seed_spin.setRange(0, MAX_SEED)
        self._seed_spin.setToolTip(self.tr("The first seed. Image i uses seed + i; the same seed always "
                                           "gives the same image from the same model."))
        self._count_spin = QSpinBox()
        self._count_spin.setObjectName("count")
        self._count_spin.setRange(1, MAX_IMAGES)
        self._count_spin.setValue(16)
        self._count_spin.setToolTip(self.tr("How many images to make."))
        self._columns_spin = QSpinBox()
        self._columns_spin.setObjectName("columns")
        self._columns_spin.setRange(1, 16)
        self._columns_spin.setValue(4)
        self._columns_spin.setToolTip(self.tr("Images per row in an exported grid, and on screen where the "
                                              "panel is wide enough."))
        self._truncation_slider = QSlider(Qt.Orientation.Horizontal)
        self._truncation_slider.setObjectName("truncationSlider")
        self._truncation_slider.setRange(int(TRUNCATION_MIN * TRUNCATION_SLIDER_SCALE),
                                         int(TRUNCATION_MAX * TRUNCATION_SLIDER_SCALE))
        self._truncation_spin = QDoubleSpinBox()
        self._truncation_spin.setObjectName("truncation")
        self._truncation_spin.setRange(TRUNCATION_MIN, TRUNCATION_MAX)
        self._truncation_spin.setSingleStep(0.05)
        self._truncation_spin.setDecimals(2)
        truncation_tip = self.tr("Below 1, images are more typical and cleaner but less varied; 1 is the "
                                 "model as trained; above 1, wilder.")
        self._truncation_slider.setToolTip(truncation_tip)
        self._truncation_spin.setToolTip(truncation_tip)
        self._set_truncation(1.0)
        truncation_row = QHBoxLayout()
        truncation_row.addWidget(self._truncation_slider, 1)
        truncation_row.addWidget(self._truncation_spin)
        self._generate_button = self._button(self._generate_action, "generate")
        self._random_button = self._button(self._random_action, "randomSeeds")
        images_box = QGroupBox(self.tr("Images"))
        images_form = QFormLayout(images_box)
        images_form.addRow(self.tr("First seed"), self._seed_spin)
        images_form.addRow(self.tr("How many"), self._count_spin)
        images_form.addRow(self.tr("Columns"), self._columns_spin)
        images_form.addRow(self.tr("Truncation"), truncation_row)
        buttons_row = QHBoxLayout()
        buttons_row.addWidget(self._generate_button)
        buttons_row.addWidget(self._random_button)
        images_form.addRow(buttons_row)

        self._export_selected_button = self._button(self._export_selected_action, "exportSelected")
        self._export_all_button = self._button(self._export_all_action, "exportAll")
        self._export_grid_button = self._button(self._export_grid_action, "exportGrid")
        export_box = QGroupBox(self.tr("Save as PNG"))
        export_layout = QHBoxLayout(export_box)
        for button in (self._export_selected_button, self._export_all_button, self._export_grid_button):
            export_layout.addWidget(button)

        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 4, 0)
        left_layout.addWidget(model_box)
        left_layout.addWidget(images_box)
        left_layout.addWidget(export_box)
        left_layout.addStretch(1)
        left_scroll = side_column(left, 300)

        self._grid = GenImageGrid()
        self._grid.setObjectName("images")
        self._grid.set_empty_text(self.tr("Open a run folder or a checkpoint to make images.\n\n"
                                          "You can also drop a run folder, a .safetensors checkpoint or an "
                                          "exported PNG here."))
        self._progress = QProgressBar()
        self._progress.setObjectName("progress")
        self._progress.setRange(0, 1000)
        self._progress.setTextVisible(True)
        self._progress.setVisible(False)
        self._selection_label = QLabel()
        self._selection_label.setObjectName("selectionSummary")
        middle = QWidget()
        middle_layout = QVBoxLayout(middle)
        middle_layout.setContentsMargins(4, 0, 4, 0)
        middle_layout.addWidget(self._grid, 1)
        status_row = QHBoxLayout()
        status_row.addWidget(self._selection_label, 1)
        status_row.addWidget(self._progress)
        middle_layout.addLayout(status_row)

        self._interpolation = GenInterpolationBox()
        right = AtLeastWide(280)
        right_layout = QVBoxLayout(right)
        right_layout.setContentsMargins(4, 0, 0, 0)
        right_layout.addWidget(self._interpolation)
        right_layout.addStretch(1)

        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.setObjectName("generateSplitter")   # the main window keeps the state of named splitters
        splitter.addWidget(left_scroll)
        splitter.addWidget(middle)
        splitter.addWidget(right)
        splitter.setStretchFactor(0, 0)
        splitter.setStretchFactor(1, 1)
        splitter.setStretchFactor(2, 0)
        splitter.setChildrenCollapsible(False)
        splitter.setSizes([320, 700, 300])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addWidget(splitter)

    def _make_actions(self) -> None:
        """The panel's actions: its buttons show them, and the main window puts them in a menu.
        Shortcuts work while the focus is inside this panel, so other panels may reuse the keys."""
        def action(*args: object) -> QAction:
            return panel_action(self, *args)

        self._open_run_action = action(
            self.tr("Open Run Folder…"), self.tr("Open run folder…"), self._on_open_run_action_triggered,
            self.tr("Open a training run's folder; its latest checkpoint is used."), "Ctrl+O")
        self._open_file_action = action(
            self.tr("Open Checkpoint…"), self.tr("Open checkpoint…"), self._on_open_file_action_triggered,
            self.tr("Open one checkpoint file (.safetensors)."), "Ctrl+Shift+O")
        self._open_png_action = action(
            self.tr("Reproduce a PNG…"), self.tr("Reproduce a PNG…"), self._on_open_png_action_triggered,
            self.tr("Make an exported PNG's image again from its seed and truncation (it must come from the "
                    "loaded model). You can also drop the PNG onto this panel."))
        self._generate_action = action(
            self.tr("Generate"), self.tr("Generate"), self.generate,
            self.tr("Make the images for the seeds set here."), "Ctrl+Return")
        self._random_action = action(
            self.tr("New Random Seeds"), self.tr("New random seeds"), self.new_random_seeds,
            self.tr("Pick a random first seed and make the images."), "Ctrl+R")
        self._export_selected_action = action(
            self.tr("Save Selected Images…"), self.tr("Selected…"), self.export_selected,
            self.tr("Save each selected image as a PNG that records its model, seed and truncation."),
            "Ctrl+S")
        self._export_all_action = action(
            self.tr("Save All Images…"), self.tr("All…"), self.export_all,
            self.tr("Save every image as its own PNG, with its seed."), "Ctrl+Shift+S")
        self._export_grid_action = action(
            self.tr("Save Grid…"), self.tr("Grid…"), self.export_grid,
            self.tr("Save all images as one PNG grid, with the columns shown."))
        self._interpolate_action = action(
            self.tr("Interpolate"), self.tr("Interpolate"), self.make_interpolation,
            self.tr("Make the frames from seed A to seed B."), "Ctrl+I")
        self._export_gif_action = action(
            self.tr("Save Interpolation as GIF…"), self.tr("Save GIF…"), self.export_gif,
            self.tr("Save the interpolation as an animated GIF."))
        self._cancel_action = action(
            self.tr("Stop"), self.tr("Stop"), self.cancel,
            self.tr("Stop making images or frames; those made so far stay."), "Esc")

    def _button(self, action: QAction, name: str) -> QToolButton:
        button = QToolButton()
        button.setDefaultAction(action)
        button.setObjectName(name)
        button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        button.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        return button

    def menu_actions(self) -> list[QAction | None]:
        """What the main window puts in this panel's menu (None: a separator)."""
        return [self._open_run_action, self._open_file_action, self._open_png_action, None,
                self._generate_action, self._random_action, self._cancel_action, None,
                self._export_selected_action, self._export_all_action, self._export_grid_action, None,
                self._interpolate_action, self._export_gif_action]

    def _connect(self) -> None:
        self._truncation_slider.valueChanged.connect(self._on_truncation_slider_value_changed)
        self._truncation_spin.valueChanged.connect(self._on_truncation_spin_value_changed)
        self._columns_spin.valueChanged.connect(self._on_columns_spin_value_changed)
        self._grid.itemSelectionChanged.connect(self._on_grid_selection_changed)
        self._interpolation.interpolate_requested.connect(self.make_interpolation)
        self._interpolation.save_gif_requested.connect(lambda: self.export_gif())
        self._interpolation.save_frames_requested.connect(lambda: self.export_frames())
        self._interpolation.settings_changed.connect(self._save_settings)
        for spin in (self._seed_spin, self._count_spin, self._columns_spin):
            spin.valueChanged.connect(self._save_settings)
        self._truncation_spin.valueChanged.connect(self._save_settings)

    # ------------------------------------------------------------------ settings
    def _settings(self) -> QSettings:
        settings = QSettings()
        settings.beginGroup(SETTINGS_GROUP)
        return settings

    def _restore_settings(self) -> None:
        s = self._settings()

        def number(key: str, default: float, cast: Callable[[Any], Any]) -> Any:
            try:
                return cast(s.value(key, default))
            except (TypeError, ValueError):
                return default

        restore_spin(self._seed_spin, number("seed", 0, int))
        restore_spin(self._count_spin, number("count", 16, int))
        restore_spin(self._columns_spin, number("columns", 4, int))
        self._grid.set_columns(self._columns_spin.value())
        self._set_truncation(number("truncation", 1.0, float))
        self._interpolation.set_frame_count(number("frames", 24, int))
        self._interpolation.set_fps(number("fps", 12, int))
        self._interpolation.set_bounce(str(s.value("bounce", "true")).lower() == "true")

    @Slot()
    def _save_settings(self) -> None:
        s = self._settings()
        s.setValue("seed", self._seed_spin.value())
        s.setValue("count", self._count_spin.value())
        s.setValue("columns", self._columns_spin.value())
        s.setValue("truncation", self._truncation_spin.value())
        s.setValue("frames", self._interpolation.frame_count())
        s.setValue("fps", self._interpolation.fps())
        s.setValue("bounce", "true" if self._interpolation.bounce() else "false")

    def _start_folder(self, key: str) -> str:
        """Where a file dialog starts: the remembered export folder, or the folder holding the model
        opened last (so that a sibling run is one click away), else the home folder."""
        value = str(self._settings().value(key, "") or "")
        path = Path(value) if value else None
        if path is None or not path.exists():
            return first_start_folder(self.runs_folder if key == "last_model" else None)
        if key == "last_model":
            path = path.parent
        return str(path)

    def _remember_folder(self, key: str, folder: Path) -> None:
        self._settings().setValue(key, str(folder))

    # ------------------------------------------------------------------ opening
    def open_path(self, path: Path) -> bool:
        """Open what a user dropped: a run folder or checkpoint (the model) or an exported PNG.
        Returns False (and says why in the status) for anything else."""
        path = Path(path)
        if path.is_dir() or path.suffix.lower() in MODEL_SUFFIXES:
            self.open_model(path)
        elif path.suffix.lower() == ".png":
            self.open_png(path)
        else:
            self._status(self.tr("{name} is neither a run folder, a .safetensors checkpoint nor a PNG.")
                         .format(name=path.name))
            return False
        return True

    def open_model(self, path: Path) -> None:
        """Load a run folder's latest checkpoint (or one checkpoint file) in the background; then
        show what it is and make images with the current settings."""
        path = Path(path)
        device = self._device
        self._status(self.tr("Opening {name}…").format(name=path.name))

        def work(ctx: JobContext) -> LoadedGenerator:
            from ..core.generate import load_generator
            ctx.progress("", -1)
            return load_generator(path, device)

        self._start_job("model", work, lambda generator: self._on_model_job_succeeded(generator, path),
                        failure=self.tr("Could not open the model {name}.").format(name=path.name))

    def _on_model_job_succeeded(self, generator: LoadedGenerator, opened: Path) -> None:
        self._generator = generator
        self._cancel_job("generate")
        self._cancel_job("interpolate")
        self._grid.clear_tiles()
        self._interpolation.clear_frames()
        run_name = (run_folder(generator.path) or generator.path.parent).name
        colour = self.tr("RGB") if generator.channels == 3 else self.tr("greyscale")
        self._model_name.setText(self.tr("{run} · {preset}").format(run=run_name, preset=generator.preset))
        self._model_details.setText(self.tr("{size}×{size} {colour} · step {step:,}\nfile: {file}").format(
            size=generator.size, colour=colour, step=generator.step, file=generator.path.name))
        self._model_details.setToolTip(self.tr("{path}\nsha256 {sha}").format(path=generator.path,
                                                                              sha=generator.sha256))
        self._settings().setValue("last_model", str(opened))
        self._status(self.tr("Loaded {preset} at step {step:,} from {file}.").format(
            preset=generator.preset, step=generator.step, file=generator.path.name))
        self.model_loaded.emit(str(generator.path))
        pending, self._pending_png = self._pending_png, None
        if pending is not None:
            self.open_png(pending)
        else:
            self.generate()

    def showEvent(self, event) -> None:  # noqa: N802 (Qt override)
        super().showEvent(event)
        if not self._reopen_checked:
            # the first time the user looks at the panel (not at start-up, which stays quick)
            self._reopen_checked = True
            last = self.remembered_model()
            if last is not None and self._generator is None and "model" not in self._jobs:
                self.open_model(last)

    def _model_search_folders(self) -> list[Path]:
        """Where a dropped PNG's model is looked for: the runs folder, and the one that holds the
        model opened last."""
        folders = [self.runs_folder()] if self.runs_folder is not None else []
        last = self.remembered_model()
        if last is not None:
            folders.append((run_folder(last) or last).parent)
        return list(dict.fromkeys(folders))

    def loaded_model(self) -> Path | None:
        """The checkpoint file in use, or None."""
        return self._generator.path if self._generator is not None else None

    def remembered_model(self) -> Path | None:
        """The run folder or checkpoint opened last time (if it still exists), to offer reopening it."""
        value = str(self._settings().value("last_model", "") or "")
        return Path(value) if value and Path(value).exists() else None

    # ------------------------------------------------------------------ generating
    def seeds(self) -> list[int]:
        """The seeds the controls describe: first seed, first seed + 1, ..."""
        first = self._seed_spin.value()
        return [(first + i) % (MAX_SEED + 1) for i in range(self._count_spin.value())]

    def truncation(self) -> float:
        return round(self._truncation_spin.value(), 2)

    def generate(self, seeds: list[int] | None = None) -> None:
        """Make the images for ``seeds`` (default: the controls' seeds); they appear as they are made."""
        generator = self._generator
        if generator is None:
            self._status(self.tr("Open a model first."))
            return
        seeds = list(seeds) if seeds is not None else self.seeds()
        truncation = self.truncation()
        self._grid.show_tiles(seeds, truncation)
        self._status(self.tr("Making {count} images…").format(count=len(seeds)))
        progress_text = self.tr("%v of %m images")

        def work(ctx: JobContext) -> float | None:
            from ..core.generate import generate_seeds
            started = time.monotonic()
            for start in range(0, len(seeds), GENERATION_BATCH):
                if ctx.should_stop():
                    return None
                batch = seeds[start:start + GENERATION_BATCH]
                ctx.emit((start, generate_seeds(generator, batch, truncation)))
                ctx.progress(progress_text, min(1.0, (start + GENERATION_BATCH) / len(seeds)))
            return time.monotonic() - started

        def shown(message: object) -> None:
            start, images = message
            self._grid.set_images(start, images)

        def done(elapsed: float | None) -> None:
            if elapsed is None:
                return
            self._status(self.tr("Made {count} images in {time} (truncation {truncation:.2f}).")
                         .format(count=len(seeds), time=format_seconds(elapsed), truncation=truncation))
            self.generation_finished.emit(len(seeds))

        self._start_job("generate", work, done, on_message=shown,
                        failure=self.tr("Could not make the images."))

    def cancel(self) -> None:
        """Stop making images or interpolation frames (Esc); what is made so far stays."""
        running = [kind for kind in ("generate", "interpolate") if kind in self._jobs]
        for kind in running:
            self._cancel_job(kind)
        if running:
            self._status(self.tr("Stopped; the images made so far stay."))
        self._update_actions()

    def new_random_seeds(self) -> None:
        """Pick a random first seed and generate."""
        if self._generator is None:
            self._status(self.tr("Open a model first."))
            return
        self._seed_spin.setValue(self._rng.randrange(0, MAX_SEED - MAX_IMAGES))
        self.generate()

    def images(self) -> list[tuple[int, float, np.ndarray | None]]:
        """(seed, truncation, uint8 image or None while being made) of every image shown."""
        return [(t.seed, t.truncation, t.image) for t in self._grid.tiles()]

    def selected_seeds(self) -> list[int]:
        return [t.seed for t in self._grid.selected_tiles()]

    # ------------------------------------------------------------------ reproducing a PNG
    def open_png(self, path: Path) -> None:
        """Read an exported PNG's metadata and make its image again with the loaded model (same seed
        and truncation); the controls are set to them. A PNG from another model gets a message
        naming the model it needs."""
        path = Path(path)
        if self._generator is None and "model" in self._jobs:
            self._pending_png = path  # reproduced once the model being opened is loaded
            return
        generator = self._generator
        error_text = {
            "no_meta": self.tr("{name} has no GAN Studio generation data (seed and model), so it cannot be "
                               "reproduced. Only PNGs exported by GAN Studio's Generate panel can."),
            "no_model": self.tr("{name} was made by the model {model}{run} (step {step}), which is not in the "
                                "runs folder. Open that model first, then drop the PNG again."),
            "other_model": self.tr("{name} was made by the model {model}{run} (step {step}, sha256 {sha}…), "
                                   "but the loaded model is {loaded}, and that model is not in the runs folder. "
                                   "Open it to reproduce the image."),
            "pruned": self.tr("{name} was made at step {step} of the run {run_name}, which is in the runs folder, "
                              "but that checkpoint is gone (a run keeps only its latest checkpoints), so the "
                              "image cannot be made again exactly. The run's later models make other images "
                              "from the same seed."),
        }
        runs_dirs = self._model_search_folders()
        of_run = self.tr(" of the run {run}")

        def work(ctx: JobContext) -> dict[str, Any]:
            from PIL import Image

            from ..core.export import read_png_metadata
            from ..core.generate import find_model_for, generate_seeds, interpolate
            meta = read_png_metadata(path)
            if "model_sha256" not in meta or not ({"seed", "seeds", "interpolation"} & set(meta)):
                raise ExportError(error_text["no_meta"].format(name=path.name))
            if generator is None or generator.sha256 != meta["model_sha256"]:
                found = find_model_for(meta, runs_dirs)
                if found is not None:   # open it, then make the image again (``_pending_png``)
                    return {"kind": "open", "model": found}
                if meta.get("run") and any((Path(d) / meta["run"]).is_dir() for d in runs_dirs):
                    raise ExportError(error_text["pruned"].format(name=path.name, step=meta.get("step", "?"),
                                                                  run_name=meta["run"]))
                run = of_run.format(run=meta["run"]) if meta.get("run") else ""
                facts = dict(name=path.name, model=meta.get("model", "?"), run=run, step=meta.get("step", "?"),
                             sha=meta["model_sha256"][:12])
                if generator is None:
                    raise ExportError(error_text["no_model"].format(**facts))
                raise ExportError(error_text["other_model"].format(loaded=generator.path.name, **facts))
            truncation = float(meta.get("truncation", 1.0))
            if "seed" in meta:
                # the loaded model, as it is in memory: its file may have been deleted or replaced since
                image = generate_seeds(generator, [int(meta["seed"])], truncation)[0]
                with Image.open(path) as im:
                    original = np.asarray(im)
                original = original.reshape(image.shape) if original.size == image.size else None
                identical = original is not None and np.array_equal(original, image)
                return {"kind": "seed", "seed": int(meta["seed"]), "truncation": truncation, "image": image,
                        "identical": identical}
            if "seeds" in meta:
                return {"kind": "grid", "seeds": [int(s) for s in meta["seeds"].split(",") if s.strip()],
                        "truncation": truncation}
            seed_a, seed_b = (int(s) for s in meta["interpolation"].split("->"))
            index, last = (int(s) for s in meta.get("frame", "0/1").split("/"))
            frames = interpolate(generator, seed_a, seed_b, last + 1, truncation)
            return {"kind": "frames", "a": seed_a, "b": seed_b, "frames": frames, "index": index,
                    "truncation": truncation}

        def done(result: dict[str, Any]) -> None:
            if result["kind"] == "open":
                self._status(self.tr("Opening {model}, which made {name}…").format(model=result["model"],
                                                                                   name=path.name))
                self._pending_png = path
                self.open_model(result["model"])
                return
            self._set_truncation(result["truncation"])
            if result["kind"] == "seed":
                self._seed_spin.setValue(result["seed"])
                self._grid.show_tiles([result["seed"]], result["truncation"])
                self._grid.set_images(0, result["image"][None])
                self._grid.item(0).setSelected(True)
                verdict = (self.tr("identical to the file") if result["identical"]
                           else self.tr("the file's pixels differ (edited after export?)"))
                self._status(self.tr("Made {name} again: seed {seed}, truncation {truncation:.2f}; "
                                     "{verdict}.").format(name=path.name, seed=result["seed"],
                                                          truncation=result["truncation"], verdict=verdict))
            elif result["kind"] == "grid":
                seeds = result["seeds"]
                self._seed_spin.setValue(seeds[0])
                self._count_spin.setValue(min(len(seeds), MAX_IMAGES))
                self._status(self.tr("Making the grid {name} again ({count} seeds).").format(
                    name=path.name, count=len(seeds)))
                self.generate(seeds[:MAX_IMAGES])
            else:
                self._interpolation.set_seeds(result["a"], result["b"])
                self._interpolation.set_frame_count(len(result["frames"]))
                self._interpolation.set_frames(result["frames"], result["a"], result["b"],
                                               result["truncation"], result["index"])
                self.interpolation_finished.emit(len(result["frames"]))
                self._status(self.tr("Made the interpolation of {name} again (frame {index} of {count}).").format(
                    name=path.name, index=result["index"] + 1, count=len(result["frames"])))
            self._update_actions()
            self.png_reproduced.emit(str(path))

        self._status(self.tr("Reading {name}…").format(name=path.name))
        self._start_job("png", work, done,
                        failure=self.tr("Could not reproduce {name}.").format(name=path.name))

    # ------------------------------------------------------------------ interpolation
    def make_interpolation(self) -> None:
        """Make the frames from seed A to seed B in the background, then show and enable playing."""
        generator = self._generator
        if generator is None:
            self._status(self.tr("Open a model first."))
            return
        seed_a, seed_b = self._interpolation.seeds()
        frames, truncation = self._interpolation.frame_count(), self.truncation()
        self._status(self.tr("Making {frames} frames from seed {a} to seed {b}…").format(
            frames=frames, a=seed_a, b=seed_b))

        def work(ctx: JobContext) -> np.ndarray:
            from ..core.generate import interpolate
            ctx.progress("", -1)
            return interpolate(generator, seed_a, seed_b, frames, truncation)

        def done(result: np.ndarray) -> None:
            self._interpolation.set_frames(result, seed_a, seed_b, truncation)
            self.interpolation_finished.emit(len(result))
            self._status(self.tr("Made {frames} frames from seed {a} to seed {b}.").format(
                frames=len(result), a=seed_a, b=seed_b))

        self._start_job("interpolate", work, done, failure=self.tr("Could not make the interpolation."))

    def frames(self) -> np.ndarray | None:
        """The interpolation frames, uint8 [N, H, W, C], or None."""
        return self._interpolation.frames()

    # ------------------------------------------------------------------ export
    def export_selected(self, out_dir: Path | None = None) -> None:
        """Save the selected images as PNGs with provenance into ``out_dir`` (asked when None)."""
        tiles = [t for t in self._grid.selected_tiles() if t.image is not None]
        if not tiles:
            self._status(self.tr("Select the images to save first (click, Ctrl-click or Shift-click)."))
            return
        self._export_tiles(tiles, out_dir)

    def export_all(self, out_dir: Path | None = None) -> None:
        """Save every image as its own PNG with provenance into ``out_dir`` (asked when None)."""
        tiles = [t for t in self._grid.tiles() if t.image is not None]
        if not tiles:
            self._status(self.tr("There are no images to save yet."))
            return
        self._export_tiles(tiles, out_dir)

    def _export_tiles(self, tiles: list[GenTile], out_dir: Path | None) -> None:
        generator = self._generator
        if generator is None:
            return
        out_dir = Path(out_dir) if out_dir is not None else self._ask_path(
            self.tr("Save images into folder"), "last_export_dir")
        if out_dir is None:
            return
        self._remember_folder("last_export_dir", out_dir)
        groups: dict[float, list[GenTile]] = {}
        for tile in tiles:   # one core call per truncation (a reproduced PNG may differ from the rest)
            groups.setdefault(tile.truncation, []).append(tile)

        def work(ctx: JobContext) -> list[str]:
            from ..core.generate import export_images
            paths: list[Path] = []
            for truncation, group in groups.items():
                # never overwrite: existing names get -1, -2... (export_images picks unique names)
                paths += export_images(generator, [t.seed for t in group], out_dir, truncation=truncation,
                                       images=np.stack([t.image for t in group]))
            return [str(p) for p in paths]

        self._start_export(work, out_dir)

    def export_grid(self, path: Path | None = None) -> None:
        """Save all images as one grid PNG (the columns shown) with provenance; asks for a file when
        ``path`` is None. An existing file is replaced only when the user confirmed it in the dialog."""
        generator = self._generator
        tiles = [t for t in self._grid.tiles() if t.image is not None]
        if generator is None or not tiles:
            self._status(self.tr("There are no images to save yet."))
            return
        seeds = [t.seed for t in tiles]
        overwrite, path = self._save_target(path, f"grid-{seeds[0]}-{seeds[-1]}.png",
                                            self.tr("Save grid"), self.tr("PNG images (*.png)"), ".png")
        if path is None:
            return
        images, truncation = np.stack([t.image for t in tiles]), tiles[0].truncation
        columns = self._grid.columns()

        def work(ctx: JobContext) -> list[str]:
            from ..core.generate import export_grid
            return [str(export_grid(generator, seeds, path, truncation=truncation, nrow=columns,
                                    images=images, overwrite=overwrite))]

        self._start_export(work, path.parent)

    def export_gif(self, path: Path | None = None) -> None:
        """Save the interpolation as an animated GIF (asks for a file when ``path`` is None)."""
        frames, made_from = self._interpolation.frames(), self._interpolation.made_from()
        if frames is None or made_from is None:
            self._status(self.tr("Make an interpolation first."))
            return
        from ..core.generate import interpolation_name

        seed_a, seed_b, _ = made_from
        overwrite, path = self._save_target(path, interpolation_name(seed_a, seed_b) + ".gif",
                                            self.tr("Save animated GIF"), self.tr("GIF animations (*.gif)"),
                                            ".gif")
        if path is None:
            return
        fps, bounce = self._interpolation.fps(), self._interpolation.bounce()

        def work(ctx: JobContext) -> list[str]:
            from ..core.generate import export_gif
            return [str(export_gif(frames, path, fps=fps, bounce=bounce, overwrite=overwrite))]

        self._start_export(work, path.parent)

    def export_frames(self, out_dir: Path | None = None) -> None:
        """Save every interpolation frame as a PNG with provenance, in a new subfolder of ``out_dir``
        (asked when None), so that earlier frames are never overwritten."""
        generator = self._generator
        frames, made_from = self._interpolation.frames(), self._interpolation.made_from()
        if generator is None or frames is None or made_from is None:
            self._status(self.tr("Make an interpolation first."))
            return
        out_dir = Path(out_dir) if out_dir is not None else self._ask_path(
            self.tr("Save frames into folder"), "last_export_dir")
        if out_dir is None:
            return
        self._remember_folder("last_export_dir", out_dir)
        seed_a, seed_b, truncation = made_from

        def work(ctx: JobContext) -> list[str]:
            from ..core.export import unique_path
            from ..core.generate import export_frames, interpolation_name
            folder = unique_path(out_dir / interpolation_name(seed_a, seed_b))
            return [str(p) for p in export_frames(generator, frames, folder, seed_a, seed_b, truncation)]

        self._start_export(work, out_dir)

    def _save_target(self, path: Path | None, suggested: str, title: str, name_filter: str,
                     suffix: str) -> tuple[bool, Path | None]:
        """(overwrite allowed, file) for a single-file export: the dialog asks before replacing a file;
        a path given by code never replaces one (it gets a free name instead)."""
        from ..core.export import unique_path  # no torch in core.export

        if path is not None:
            return False, unique_path(Path(path))
        folder = Path(self._start_folder("last_export_dir"))
        suggestion = str(unique_path(folder / suggested))
        chosen, _ = QFileDialog.getSaveFileName(self, title, suggestion, name_filter)
        if not chosen:
            return False, None
        target = Path(chosen)
        self._remember_folder("last_export_dir", target.parent)
        if target.suffix.lower() != suffix:
            # the dialog only confirmed the name as typed; the one with the suffix must not be replaced
            return False, unique_path(target.with_name(target.name + suffix))
        return True, target

    def _start_export(self, work: Callable[[JobContext], list[str]], folder: Path) -> None:
        def run(ctx: JobContext) -> list[str]:
            ctx.progress("", -1)   # a busy bar: writing files takes a moment but has no useful fraction
            return work(ctx)

        def done(paths: list[str]) -> None:
            if len(paths) == 1:
                self._status(self.tr("Saved {file}.").format(file=paths[0]))
            else:
                self._status(self.tr("Saved {count} files in {folder}.").format(
                    count=len(paths), folder=Path(paths[0]).parent if paths else folder))
            self.exported.emit(paths)

        self._status(self.tr("Saving…"))
        # exports do not replace each other (unlike generations): each is its own kind
        self._export_count += 1
        failure = self.tr("Could not save the files in {folder}.").format(folder=folder)
        self._start_job(f"export-{self._export_count}", run, done, failure=failure)

    # ------------------------------------------------------------------ jobs
    def shutdown(self, wait_ms: int = 30_000) -> bool:
        """Cancel all background work and wait for it (call before the window closes). True if every
        thread ended within ``wait_ms``."""
        self._interpolation.stop()
        return self._stop_all_jobs(wait_ms)

    def _start_job(self, *args: Any, **kwargs: Any) -> Job:
        # every job of this panel reports its progress on the panel's bar
        return super()._start_job(*args, on_progress=self._on_job_progressed, **kwargs)

    def _on_job_progressed(self, what: str, fraction: float) -> None:
        self._progress.setVisible(True)
        if fraction < 0:   # unknown length: a busy bar
            self._progress.setRange(0, 0)
            return
        count = len(self._grid.tiles())
        self._progress.setRange(0, max(1, count) if what else 1000)
        self._progress.setFormat(what or "%p%")
        self._progress.setValue(int(round(fraction * self._progress.maximum())))

    # ------------------------------------------------------------------ state and small slots
    def _status(self, text: str) -> None:
        super()._status(text)
        self.activity_changed.emit(text)

    def _set_truncation(self, value: float) -> None:
        value = min(TRUNCATION_MAX, max(TRUNCATION_MIN, value))
        self._truncation_spin.setValue(value)
        self._truncation_slider.setValue(int(round(value * TRUNCATION_SLIDER_SCALE)))

    @Slot(int)
    def _on_truncation_slider_value_changed(self, value: int) -> None:
        with QSignalBlocker(self._truncation_spin):
            self._truncation_spin.setValue(value / TRUNCATION_SLIDER_SCALE)
        self._save_settings()

    @Slot(float)
    def _on_truncation_spin_value_changed(self, value: float) -> None:
        with QSignalBlocker(self._truncation_slider):
            self._truncation_slider.setValue(int(round(value * TRUNCATION_SLIDER_SCALE)))

    @Slot(int)
    def _on_columns_spin_value_changed(self, columns: int) -> None:
        self._grid.set_columns(columns)

    @Slot()
    def _on_grid_selection_changed(self) -> None:
        selected = self._grid.selected_tiles()
        if len(selected) == 2:   # two images chosen: they are what one wants to interpolate between
            self._interpolation.set_seeds(selected[0].seed, selected[1].seed)
        self._update_actions()

    def _ask_path(self, title: str, start_key: str, file_filter: str | None = None) -> Path | None:
        """A folder (no ``file_filter``) or an existing file chosen in a dialog; None if cancelled."""
        start = self._start_folder(start_key)
        if file_filter is None:
            chosen = QFileDialog.getExistingDirectory(self, title, start)
        else:
            chosen, _ = QFileDialog.getOpenFileName(self, title, start, file_filter)
        return Path(chosen) if chosen else None

    @Slot()
    def _on_open_run_action_triggered(self) -> None:
        if (folder := self._ask_path(self.tr("Open a run folder"), "last_model")) is not None:
            self.open_model(folder)

    @Slot()
    def _on_open_file_action_triggered(self) -> None:
        file = self._ask_path(self.tr("Open a checkpoint"), "last_model",
                              self.tr("GAN Studio checkpoints (*.safetensors)"))
        if file is not None:
            self.open_model(file)

    @Slot()
    def _on_open_png_action_triggered(self) -> None:
        file = self._ask_path(self.tr("Reproduce an exported PNG"), "last_export_dir",
                              self.tr("PNG images (*.png)"))
        if file is not None:
            self.open_png(file)

    def _update_actions(self) -> None:
        has_model = self._generator is not None
        generating = "generate" in self._jobs
        complete = self._grid.is_complete() and not generating
        selected = self._grid.selected_tiles()
        for action in (self._generate_action, self._random_action, self._interpolate_action):
            action.setEnabled(has_model)
        self._interpolation.set_can_interpolate(has_model)
        self._export_all_action.setEnabled(complete)
        self._export_grid_action.setEnabled(complete)
        self._export_selected_action.setEnabled(bool(selected) and all(t.image is not None for t in selected))
        self._export_gif_action.setEnabled(self._interpolation.frames() is not None)
        self._cancel_action.setEnabled(generating or "interpolate" in self._jobs)
        count = len(self._grid.tiles())
        if count:
            self._selection_label.setText(self.tr("{selected} of {count} selected").format(
                selected=len(selected), count=count))
        else:
            self._selection_label.clear()

    # ------------------------------------------------------------------ drag and drop
    @staticmethod
    def _dropped_path(event: QDragEnterEvent | QDropEvent) -> Path | None:
        for url in event.mimeData().urls():
            if url.isLocalFile():
                path = Path(url.toLocalFile())
                if path.is_dir() or path.suffix.lower() in (*MODEL_SUFFIXES, ".png"):
                    return path
        return None

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802 (Qt override)
        path = self._dropped_path(event)
        if path is None:
            event.ignore()
            return
        event.acceptProposedAction()
        hint = (self.tr("Drop to make this image again") if path.suffix.lower() == ".png"
                else self.tr("Drop to open this model"))
        self._grid.set_drop_hint(hint)

    def dragLeaveEvent(self, event: QDragLeaveEvent) -> None:  # noqa: N802 (Qt override)
        self._grid.set_drop_hint("")
        event.accept()

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802 (Qt override)
        self._grid.set_drop_hint("")
        path = self._dropped_path(event)
        if path is None:
            event.ignore()
            return
        event.acceptProposedAction()
        self.open_path(path)
