"""The training options of the Train panel: preset, preprocessing and an "Advanced" section.

Every control maps onto one field of ``TrainConfig`` or ``GanOptions`` (the same fields as the CLI
flags and a run's config.json). Tooltips are plain-words explanations written here for artists,
followed by the field name and its one-line definition from ``field_help``, so a tooltip also tells
which CLI flag does the same.
"""
from __future__ import annotations

import os
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (QCheckBox, QComboBox, QDoubleSpinBox, QFormLayout, QGroupBox, QHBoxLayout,
                               QLabel, QSpinBox, QVBoxLayout, QWidget)

from ganstudio.core.config import TrainConfig, field_help
from ganstudio.core.data import Preprocess
from ganstudio.core.device import default_threads
from ganstudio.core.gan import GanOptions
from ganstudio.core.models import PRESETS, get_preset

from .collapsible import CollapsibleSection

#: the GUI's sample interval: a new grid every 100 steps shows progress sooner than the core's 200
GUI_SAMPLE_EVERY = 100
_MAX_STEPS = 10_000_000
_MAX_MINUTES = 100_000.0
_MAX_BATCH = 4096
_MAX_SEED = 2**31 - 1


class TrainingForm(QWidget):
    """Options for a GAN run; ``build(folder)`` turns them into (TrainConfig, GanOptions)."""

    changed = Signal()                # any option changed
    preprocess_changed = Signal()     # an option that changes what the model sees changed

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._help = {**field_help(TrainConfig), **field_help(GanOptions)}
        self._preset_texts = {
            "seed-dcgan-16": self.tr("Tiny and fast: 16×16 colour images. Good for a first try; "
                                     "shapes and colours only."),
            "dcgan-32": self.tr("32×32 colour images. Learns simple icons and textures in minutes on a GPU, "
                                "an hour or so on a CPU."),
            "dcgan-64": self.tr("64×64 colour images: faces, emoji, icons. The classic DCGAN; slow-ish on a CPU."),
            "dcgan-128": self.tr("128×128 colour images. Much slower; best with a GPU and thousands of images."),
            "mlp-gan-28": self.tr("28×28 grey images with a simple fully connected network (MNIST-style digits)."),
        }
        self._widgets: dict[str, QWidget] = {}

        # -- model -------------------------------------------------------------------------------
        self.preset = QComboBox()
        for name, preset in PRESETS.items():
            self.preset.addItem(name, name)
            self.preset.setItemData(self.preset.count() - 1, self._preset_texts.get(name, preset.description),
                                    Qt.ItemDataRole.ToolTipRole)
        self.preset.setCurrentIndex(self.preset.findData(GanOptions.__dataclass_fields__["preset"].default))
        self.preset_description = QLabel()
        self.preset_description.setWordWrap(True)
        self._register("preset", self.preset, self.tr(
            "The network and the image size it makes. Bigger sizes need more images, more time and more memory."))
        model_box = QGroupBox(self.tr("Model"))
        model_form = QFormLayout(model_box)
        model_form.addRow(self.tr("Preset"), self.preset)
        model_form.addRow(self.preset_description)

        # -- preprocessing -------------------------------------------------------------------------
        self.size_label = QLabel()
        self.size_label.setToolTip(self.tr("The image size is set by the preset."))
        self.fit = self._combo("fit", [
            ("center-crop", self.tr("Crop the centre")),
            ("random-crop", self.tr("Random crops")),
            ("pad", self.tr("Fit inside (pad)")),
            ("stretch", self.tr("Stretch")),
        ], self.tr("How images that are not square become squares: crop their centre, crop a slightly different "
                   "square each time (more variety), shrink them to fit and fill the borders, or stretch them."))
        self.color = self._combo("color", [
            ("auto", self.tr("As the preset")),
            ("rgb", self.tr("Colour (RGB)")),
            ("grey", self.tr("Greyscale")),
        ], self.tr("Train on colour or grey images. 'As the preset' uses colour, except for the 28×28 grey preset."))
        self.background = self._combo("background", [
            ("white", self.tr("White")),
            ("black", self.tr("Black")),
        ], self.tr("What transparent pixels (and the borders added by 'Fit inside') become."))
        self.hflip = QCheckBox(self.tr("Mirror images at random"))
        self._register("hflip", self.hflip, self.tr(
            "Flip a random half of each batch left-right. Doubles a small dataset; avoid it for text or "
            "anything whose direction matters."))
        pre_box = QGroupBox(self.tr("Preprocessing"))
        pre_form = QFormLayout(pre_box)
        pre_form.addRow(self.tr("Size"), self.size_label)
        pre_form.addRow(self.tr("Fit"), self.fit)
        pre_form.addRow(self.tr("Colour"), self.color)
        pre_form.addRow(self.tr("Background"), self.background)
        pre_form.addRow(self.hflip)

        # -- advanced ------------------------------------------------------------------------------
        cfg = TrainConfig()
        self.loss = self._combo("loss", [
            ("bce", self.tr("Standard (BCE)")),
            ("lsgan", self.tr("Least squares (LSGAN)")),
            ("hinge", self.tr("Hinge")),
        ], self.tr("How the critic's mistakes are scored. Standard is the classic choice; least squares and hinge "
                   "can be steadier when training collapses."))
        self.lr_g = self._float_spin("lr_g", cfg.lr_g, 1e-6, 0.1, 5e-5, 6, self.tr(
            "How big a step the generator takes when it learns. Too high: training blows up or samples flicker; "
            "too low: nothing seems to happen."))
        self.lr_d = self._float_spin("lr_d", cfg.lr_d, 1e-6, 0.1, 5e-5, 6, self.tr(
            "How big a step the discriminator (the critic) takes. Lower it if the critic wins too easily."))
        self.beta1 = self._float_spin("beta1", cfg.beta1, 0.0, 0.999, 0.05, 3, self.tr(
            "How much each update keeps of the previous ones (momentum). GANs like a low value such as 0.5."))
        self.beta2 = self._float_spin("beta2", cfg.beta2, 0.0, 0.9999, 0.001, 4, self.tr(
            "How slowly the optimiser adapts its step sizes. The usual 0.999 is fine almost always."))
        self.batch_size = self._int_spin("batch_size", cfg.batch_size, 1, _MAX_BATCH, self.tr(
            "How many images the model looks at per step. Bigger is smoother but needs more memory; "
            "lower it if you run out of memory."))
        self.limit_kind = QComboBox()
        self.limit_kind.addItem(self.tr("steps"), "steps")
        self.limit_kind.addItem(self.tr("minutes"), "minutes")
        self.limit_kind.setToolTip(self.tr("Stop after a number of training steps, or after some minutes of "
                                           "training (pauses do not count)."))
        self.steps = self._int_spin("steps", cfg.steps or 2000, 1, _MAX_STEPS, self.tr(
            "How many training steps to run. Each step shows the model one batch. You can stop earlier; "
            "a checkpoint is saved either way."))
        self.steps.setSingleStep(500)
        self.minutes = self._float_spin("minutes", 30.0, 0.1, _MAX_MINUTES, 5.0, 1, self.tr(
            "How many minutes to train (pauses do not count)."))
        self.limit_kind.currentIndexChanged.connect(self._on_limit_kind_current_index_changed)
        limit_row = QHBoxLayout()
        limit_row.setContentsMargins(0, 0, 0, 0)
        limit_row.addWidget(self.steps, 1)
        limit_row.addWidget(self.minutes, 1)
        limit_row.addWidget(self.limit_kind)
        self.ema = QCheckBox(self.tr("Keep an average of the generator"))
        self._register("ema", self.ema, self.tr(
            "Previews and exports use a slowly moving average of the generator, which gives cleaner, steadier "
            "images than the latest weights."))
        self.ema.setChecked(cfg.ema)
        self.ema_decay = self._float_spin("ema_decay", cfg.ema_decay, 0.5, 0.99999, 0.0005, 5, self.tr(
            "How slowly the average follows the generator: 0.999 averages about the last 1000 steps."))
        self.ema.toggled.connect(self.ema_decay.setEnabled)
        self.precision = self._combo("precision", [
            ("auto", self.tr("Automatic")),
            ("fp32", self.tr("Full (fp32)")),
            ("bf16", self.tr("Half (bf16)")),
            ("fp16", self.tr("Half (fp16, GPU only)")),
        ], self.tr("Number precision. Automatic uses half precision where the hardware is fast at it (about twice "
                   "the speed) and full precision elsewhere. Choose full if training becomes unstable."))
        self.device = self._combo("device", self._device_choices(), self.tr(
            "Where to train. Automatic picks the graphics card (NVIDIA or Apple) if there is one, else the CPU."))
        self.threads = self._int_spin("threads", default_threads(leave_for_gui=True), 1, _cpu_count(), self.tr(
            "How many processor cores training may use on the CPU. The default leaves one core for this "
            "window on machines with four or more."))
        self.seed = self._int_spin("seed", cfg.seed, 0, _MAX_SEED, self.tr(
            "The starting point of every random choice. The same seed and options give the same run."))
        self.sample_every = self._int_spin("sample_every", GUI_SAMPLE_EVERY, 1, _MAX_STEPS, self.tr(
            "How often (in steps) to draw a new grid of samples and save it in the run folder."))
        self.checkpoint_every = self._int_spin("checkpoint_every", cfg.checkpoint_every, 1, _MAX_STEPS, self.tr(
            "How often (in steps) to save the model so a run can be resumed or used in Generate. Stopping "
            "always saves too."))
        advanced = QWidget()
        adv_form = QFormLayout(advanced)
        adv_form.setContentsMargins(8, 0, 0, 0)
        adv_form.addRow(self.tr("Loss"), self.loss)
        adv_form.addRow(self.tr("Learning rate G"), self.lr_g)
        adv_form.addRow(self.tr("Learning rate D"), self.lr_d)
        adv_form.addRow(self.tr("Adam beta1"), self.beta1)
        adv_form.addRow(self.tr("Adam beta2"), self.beta2)
        adv_form.addRow(self.tr("Batch size"), self.batch_size)
        adv_form.addRow(self.tr("Stop after"), limit_row)
        adv_form.addRow(self.ema)
        adv_form.addRow(self.tr("Average decay"), self.ema_decay)
        adv_form.addRow(self.tr("Precision"), self.precision)
        adv_form.addRow(self.tr("Device"), self.device)
        adv_form.addRow(self.tr("CPU threads"), self.threads)
        adv_form.addRow(self.tr("Seed"), self.seed)
        adv_form.addRow(self.tr("Samples every"), self.sample_every)
        adv_form.addRow(self.tr("Save every"), self.checkpoint_every)
        self.advanced = CollapsibleSection(self.tr("Advanced"), advanced)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(model_box)
        layout.addWidget(pre_box)
        layout.addWidget(self.advanced)

        self.preset.currentIndexChanged.connect(self._on_preset_current_index_changed)
        for name in ("preset", "fit", "color", "background", "hflip"):
            _changed_signal(self._widgets[name]).connect(self.preprocess_changed)
        for widget in self._widgets.values():
            _changed_signal(widget).connect(self.changed)
        self.limit_kind.currentIndexChanged.connect(self.changed)
        self._on_preset_current_index_changed()
        self._on_limit_kind_current_index_changed()

    # -- building controls ---------------------------------------------------------------------
    def _register(self, name: str, widget: QWidget, plain: str) -> None:
        self._widgets[name] = widget
        widget.setObjectName(name)
        technical = self._help.get(name)
        flag = "--" + name.replace("_", "-")
        widget.setToolTip(plain + (f"\n\n{flag}: {technical}" if technical else ""))

    def _combo(self, name: str, items: list[tuple[str, str]], plain: str) -> QComboBox:
        combo = QComboBox()
        for value, text in items:
            combo.addItem(text, value)
        self._register(name, combo, plain)
        return combo

    def _int_spin(self, name: str, value: int, low: int, high: int, plain: str) -> QSpinBox:
        spin = QSpinBox()
        spin.setRange(low, high)
        spin.setValue(value)
        spin.setGroupSeparatorShown(True)
        self._register(name, spin, plain)
        return spin

    def _float_spin(self, name: str, value: float, low: float, high: float, step: float, decimals: int,
                    plain: str) -> QDoubleSpinBox:
        spin = QDoubleSpinBox()
        spin.setDecimals(decimals)
        spin.setRange(low, high)
        spin.setSingleStep(step)
        spin.setValue(value)
        self._register(name, spin, plain)
        return spin

    def _device_choices(self) -> list[tuple[str, str]]:
        import torch

        choices = [("auto", self.tr("Automatic")), ("cpu", self.tr("CPU"))]
        if torch.cuda.is_available():
            choices.append(("cuda", self.tr("NVIDIA GPU (CUDA)")))
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            choices.append(("mps", self.tr("Apple GPU (MPS)")))
        return choices

    # -- reacting ------------------------------------------------------------------------------
    def _on_preset_current_index_changed(self, *_: object) -> None:
        name = self.preset.currentData()
        preset = get_preset(name)
        self.preset_description.setText(self._preset_texts.get(name, preset.description))
        self.size_label.setText(self.tr("{0}×{0} pixels").format(preset.size))

    def _on_limit_kind_current_index_changed(self, *_: object) -> None:
        by_steps = self.limit_kind.currentData() == "steps"
        self.steps.setVisible(by_steps)
        self.minutes.setVisible(not by_steps)

    # -- values --------------------------------------------------------------------------------
    def values(self) -> dict[str, Any]:
        """Every option as plain JSON values, keyed by config field name (plus ``limit``)."""
        out: dict[str, Any] = {"limit": self.limit_kind.currentData()}
        for name, widget in self._widgets.items():
            out[name] = _value(widget)
        return out

    def set_values(self, values: dict[str, Any]) -> None:
        """Apply remembered options; values that no longer fit a control are ignored."""
        if values.get("limit") in ("steps", "minutes"):
            self.limit_kind.setCurrentIndex(self.limit_kind.findData(values["limit"]))
        for name, value in values.items():
            widget = self._widgets.get(name)
            if widget is not None:
                _set_value(widget, value)

    def preprocess(self) -> Preprocess:
        """What the model will see with the current options (for the live preview)."""
        return self.gan_options(".").preprocess()

    def gan_options(self, data: str) -> GanOptions:
        return GanOptions(data=data, preset=self.preset.currentData(), loss=self.loss.currentData(),
                          color=self.color.currentData(), fit=self.fit.currentData(),
                          background=self.background.currentData(), hflip=self.hflip.isChecked())

    def train_config(self) -> TrainConfig:
        by_steps = self.limit_kind.currentData() == "steps"
        return TrainConfig(
            steps=self.steps.value() if by_steps else None,
            minutes=None if by_steps else self.minutes.value(),
            batch_size=self.batch_size.value(), lr_g=self.lr_g.value(), lr_d=self.lr_d.value(),
            beta1=self.beta1.value(), beta2=self.beta2.value(), ema=self.ema.isChecked(),
            ema_decay=self.ema_decay.value(), precision=self.precision.currentData(),
            device=self.device.currentData(), threads=self.threads.value(), seed=self.seed.value(),
            sample_every=self.sample_every.value(), checkpoint_every=self.checkpoint_every.value())

    def build(self, data: str) -> tuple[TrainConfig, GanOptions]:
        """(TrainConfig, GanOptions) for training on ``data``; raises ``ConfigError`` for bad values."""
        return self.train_config(), self.gan_options(data)

    def option_widgets(self) -> dict[str, QWidget]:
        """The control of each option, by config field name (for tooltips checks and tests)."""
        return dict(self._widgets)

    def set_preset(self, name: str) -> None:
        self.preset.setCurrentIndex(self.preset.findData(get_preset(name).name))


def _cpu_count() -> int:
    return max(1, os.cpu_count() or 1)


def _changed_signal(widget: QWidget):
    if isinstance(widget, QComboBox):
        return widget.currentIndexChanged
    if isinstance(widget, QCheckBox):
        return widget.toggled
    return widget.valueChanged


def _value(widget: QWidget) -> Any:
    if isinstance(widget, QComboBox):
        return widget.currentData()
    if isinstance(widget, QCheckBox):
        return widget.isChecked()
    return widget.value()


def _set_value(widget: QWidget, value: Any) -> None:
    if isinstance(widget, QComboBox):
        index = widget.findData(value)
        if index >= 0:
            widget.setCurrentIndex(index)
    elif isinstance(widget, QCheckBox):
        if isinstance(value, bool):
            widget.setChecked(value)
    elif isinstance(widget, QDoubleSpinBox):
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            widget.setValue(float(value))
    elif isinstance(widget, QSpinBox):
        if isinstance(value, int) and not isinstance(value, bool):
            widget.setValue(value)


