"""The training options of the Train panel: the chosen task's own options, and an "Advanced"
section with that task's finer options above the ones every run shares (``TrainConfig``).

Every control maps onto one field of ``TrainConfig`` or of the task's options dataclass
(``GanOptions``, ``UpscaleOptions``, ``TranslateOptions``): the same fields as the CLI flags and a
run's config.json. When the task changes, the shared options take that task's defaults
(``default_train_config``); the panel then applies what the user chose for it last time.
"""
from __future__ import annotations

import os
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QComboBox, QGroupBox, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from ganstudio.core.config import MAX_SEED, TrainConfig
from ganstudio.core.data import DISK_CACHE_LIMIT, Preprocess
from ganstudio.core.device import default_threads
from ganstudio.core.gan import GanOptions
from ganstudio.core.models import PRESETS, get_preset
from ganstudio.core.tasks import default_train_config

from .collapsible import CollapsibleSection
from .task_options import OptionForm, align_labels, form_layout
from .task_translate import TranslateForm
from .task_upscale import UpscaleForm

#: the GUI's preview interval: a new image every 100 steps shows progress sooner than the core's 200+
GUI_SAMPLE_EVERY = 100
#: the app also refreshes the sample grid this often (seconds of training): someone is watching it
#: (dcgan-64 on one CPU core takes ~80 s for 100 steps); headless runs keep the core's steps-only default
GUI_SAMPLE_SECONDS = 15.0
#: options about the machine rather than the model: they stay as they are when the task changes
MACHINE_OPTIONS = ("precision", "device", "threads")
_MAX_STEPS = 10_000_000
_MAX_MINUTES = 100_000.0
_MAX_BATCH = 4096


class GanForm(OptionForm):
    """The GAN's own options: preset, preprocessing, and (in ``advanced``) the loss."""

    task = "gan"
    preprocess_changed = Signal()     # an option that changes what the model sees changed

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(GanOptions, parent=parent)
        self._preset_texts = {
            "seed-dcgan-16": self.tr("Tiny and fast: 16×16 colour images. Good for a first try; "
                                     "shapes and colours only."),
            "dcgan-32": self.tr("32×32 colour images. Learns simple icons and textures in minutes on a GPU, "
                                "an hour or so on a CPU."),
            "dcgan-64": self.tr("64×64 colour images: faces, emoji, icons. The classic DCGAN; slow-ish on a CPU."),
            "dcgan-128": self.tr("128×128 colour images. Much slower; best with a GPU and thousands of images."),
            "mlp-gan-28": self.tr("28×28 grey images with a simple fully connected network (MNIST-style digits)."),
        }
        # -- model ---------------------------------------------------------------------------------
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
        model_form = form_layout(model_box)
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
        self.hflip = self._check("hflip", self.tr("Mirror images at random"), False, self.tr(
            "Flip a random half of each batch left-right. Doubles a small dataset; avoid it for text or "
            "anything whose direction matters."))
        pre_box = QGroupBox(self.tr("Preprocessing"))
        pre_form = form_layout(pre_box)
        pre_form.addRow(self.tr("Size"), self.size_label)
        pre_form.addRow(self.tr("Fit"), self.fit)
        pre_form.addRow(self.tr("Colour"), self.color)
        pre_form.addRow(self.tr("Background"), self.background)
        pre_form.addRow(self.hflip)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(model_box)
        layout.addWidget(pre_box)

        # -- advanced ------------------------------------------------------------------------------
        self.loss = self._combo("loss", [
            ("bce", self.tr("Standard (BCE)")),
            ("lsgan", self.tr("Least squares (LSGAN)")),
            ("hinge", self.tr("Hinge")),
        ], self.tr("How the critic's mistakes are scored. Standard is the classic choice; least squares and hinge "
                   "can be steadier when training collapses."))
        self.cache = self._combo("cache", [
            ("memory", self.tr("In memory only")),
            ("disk", self.tr("Also on disk, for the next run")),
        ], self.tr("Images are decoded once per run and kept in memory. 'Also on disk' keeps the decoded images "
                   "in your cache folder too, so the next run on the same folder starts without decoding them "
                   "again (useful for big folders). The cache keeps to {0} GB, dropping what was used longest "
                   "ago.").format(DISK_CACHE_LIMIT // 1024 ** 3))
        self.advanced = QWidget()
        self.advanced_form = form_layout(self.advanced, 8)
        self.advanced_form.addRow(self.tr("Loss"), self.loss)
        self.advanced_form.addRow(self.tr("Image cache"), self.cache)

        self.preset.currentIndexChanged.connect(self._on_preset_current_index_changed)
        for name in ("preset", "fit", "color", "background", "hflip"):
            widget = self._widgets[name]
            (widget.toggled if name == "hflip" else widget.currentIndexChanged).connect(self.preprocess_changed)
        self._on_preset_current_index_changed()

    def _on_preset_current_index_changed(self, *_: object) -> None:
        name = self.preset.currentData()
        preset = get_preset(name)
        self.preset_description.setText(self._preset_texts.get(name, preset.description))
        self.size_label.setText(self.tr("{0}×{0} pixels").format(preset.size))

    def options(self, data: dict[str, Any]) -> GanOptions:
        return GanOptions(data=data["data"], preset=self.preset.currentData(), loss=self.loss.currentData(),
                          color=self.color.currentData(), fit=self.fit.currentData(),
                          background=self.background.currentData(), hflip=self.hflip.isChecked(),
                          cache=self.cache.currentData())

    def preprocess(self) -> Preprocess:
        """What the model will see with the current options (for the live preview)."""
        return self.options({"data": "."}).preprocess()

    def run_label(self, options: GanOptions) -> str:
        """The model part of a new run folder's name."""
        return options.preset


class TrainingForm(OptionForm):
    """Options for a run of the chosen task; ``build(data)`` turns them into (TrainConfig, options)."""

    preprocess_changed = Signal()     # (GAN) an option that changes what the model sees changed

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(TrainConfig, parent=parent)
        self._task = "gan"
        self.gan = GanForm()
        self.upscale = UpscaleForm()
        self.translate = TranslateForm()
        self._task_forms: dict[str, GanForm | UpscaleForm | TranslateForm] = {
            form.task: form for form in (self.gan, self.upscale, self.translate)}
        # the GAN's controls under their old names (the panel's preview and the tests use them)
        self.preset, self.fit, self.color = self.gan.preset, self.gan.fit, self.gan.color
        self.background, self.hflip, self.loss = self.gan.background, self.gan.hflip, self.gan.loss

        cfg = TrainConfig()
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
            "a checkpoint is saved either way."), step=500)
        self.minutes = self._float_spin("minutes", 30.0, 0.1, _MAX_MINUTES, 5.0, 1, self.tr(
            "How many minutes to train (pauses do not count)."))
        self.limit_kind.currentIndexChanged.connect(self._on_limit_kind_current_index_changed)
        self.limit_kind.currentIndexChanged.connect(self.changed)
        limit_row = QHBoxLayout()
        limit_row.setContentsMargins(0, 0, 0, 0)
        limit_row.addWidget(self.steps, 1)
        limit_row.addWidget(self.minutes, 1)
        limit_row.addWidget(self.limit_kind)
        self.ema = self._check("ema", self.tr("Keep an average of the generator"), cfg.ema, self.tr(
            "Previews and exports use a slowly moving average of the generator, which gives cleaner, steadier "
            "images than the latest weights."))
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
        self.seed = self._int_spin("seed", cfg.seed, 0, MAX_SEED, self.tr(
            "The starting point of every random choice. The same seed and options give the same run."))
        self.sample_every = self._int_spin("sample_every", GUI_SAMPLE_EVERY, 1, _MAX_STEPS, self.tr(
            "How often (in steps) to draw a preview and keep it in the run folder. The preview on screen "
            "also refreshes every {seconds:g} seconds.").format(seconds=GUI_SAMPLE_SECONDS))
        self.eval_every = self._int_spin("eval_every", cfg.eval_every, 1, _MAX_STEPS, self.tr(
            "How often (in steps) to measure the model on the held-out images. The best result so far is "
            "kept as its own checkpoint."))
        self.checkpoint_every = self._int_spin("checkpoint_every", cfg.checkpoint_every, 1, _MAX_STEPS, self.tr(
            "How often (in steps) to save the model so a run can be resumed or used elsewhere. Stopping "
            "always saves too."))
        shared = QWidget()
        self._shared_form = form_layout(shared, 8)
        adv_form = self._shared_form
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
        adv_form.addRow(self.tr("Previews every"), self.sample_every)
        adv_form.addRow(self.tr("Validate every"), self.eval_every)
        adv_form.addRow(self.tr("Save every"), self.checkpoint_every)
        advanced = QWidget()
        adv_layout = QVBoxLayout(advanced)
        adv_layout.setContentsMargins(0, 0, 0, 0)
        for form in self._task_forms.values():
            adv_layout.addWidget(form.advanced)
        adv_layout.addWidget(shared)
        align_labels([form.advanced_form for form in self._task_forms.values()] + [self._shared_form])
        self.advanced = CollapsibleSection(self.tr("Advanced"), advanced)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        for form in self._task_forms.values():
            layout.addWidget(form)
            form.changed.connect(self.changed)
        layout.addWidget(self.advanced)
        self.gan.preprocess_changed.connect(self.preprocess_changed)
        self._on_limit_kind_current_index_changed()
        self._show_task()

    def _device_choices(self) -> list[tuple[str, str]]:
        import torch

        choices = [("auto", self.tr("Automatic")), ("cpu", self.tr("CPU"))]
        if torch.cuda.is_available():
            choices.append(("cuda", self.tr("NVIDIA GPU (CUDA)")))
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            choices.append(("mps", self.tr("Apple GPU (MPS)")))
        return choices

    # -- the task ------------------------------------------------------------------------------
    def task(self) -> str:
        return self._task

    def task_form(self, task: str | None = None) -> GanForm | UpscaleForm | TranslateForm:
        return self._task_forms[task or self._task]

    def set_task(self, task: str) -> None:
        """Show ``task``'s options and give the shared ones that task's defaults (machine options stay)."""
        if task not in self._task_forms:
            raise ValueError(f"unknown task {task!r}")
        self._task = task
        self.apply_defaults(task)
        self._show_task()

    def apply_defaults(self, task: str) -> None:
        """The shared options' defaults for ``task`` (``default_train_config``), except the machine's."""
        cfg = default_train_config(task)
        self.lr_g.setValue(cfg.lr_g)
        self.lr_d.setValue(cfg.lr_d)
        self.beta1.setValue(cfg.beta1)
        self.beta2.setValue(cfg.beta2)
        self.batch_size.setValue(cfg.batch_size)
        self.limit_kind.setCurrentIndex(self.limit_kind.findData("steps" if cfg.steps is not None else "minutes"))
        self.steps.setValue(cfg.steps or 2000)
        if cfg.minutes:
            self.minutes.setValue(cfg.minutes)
        self.ema.setChecked(cfg.ema)
        self.ema_decay.setValue(cfg.ema_decay)
        self.seed.setValue(cfg.seed)
        self.sample_every.setValue(GUI_SAMPLE_EVERY)
        self.eval_every.setValue(cfg.eval_every)
        self.checkpoint_every.setValue(cfg.checkpoint_every)

    def _show_task(self) -> None:
        for task, form in self._task_forms.items():
            form.setVisible(task == self._task)
            form.advanced.setVisible(task == self._task)
        # a GAN has no validation (a translator only with enough pairs; the row stays for it)
        self._shared_form.setRowVisible(self.eval_every, self._task != "gan")

    def _on_limit_kind_current_index_changed(self, *_: object) -> None:
        by_steps = self.limit_kind.currentData() == "steps"
        self.steps.setVisible(by_steps)
        self.minutes.setVisible(not by_steps)

    # -- values --------------------------------------------------------------------------------
    def values(self) -> dict[str, Any]:
        """The current task's options and the shared ones, as plain JSON values keyed by field name
        (plus ``limit``)."""
        return {"limit": self.limit_kind.currentData(), **super().values(), **self.task_form().values()}

    def set_values(self, values: dict[str, Any]) -> None:
        """Apply remembered options of the current task; values that no longer fit are ignored."""
        if values.get("limit") in ("steps", "minutes"):
            self.limit_kind.setCurrentIndex(self.limit_kind.findData(values["limit"]))
        super().set_values(values)
        self.task_form().set_values(values)

    def option_widgets(self) -> dict[str, QWidget]:
        """The control of each option of the current task, by config field name."""
        return {**super().option_widgets(), **self.task_form().option_widgets()}

    def preprocess(self) -> Preprocess:
        """(GAN) What the model will see with the current options (for the live preview)."""
        return self.gan.preprocess()

    def train_config(self) -> TrainConfig:
        by_steps = self.limit_kind.currentData() == "steps"
        return TrainConfig(
            task=self._task,
            steps=self.steps.value() if by_steps else None,
            minutes=None if by_steps else self.minutes.value(),
            batch_size=self.batch_size.value(), lr_g=self.lr_g.value(), lr_d=self.lr_d.value(),
            beta1=self.beta1.value(), beta2=self.beta2.value(), ema=self.ema.isChecked(),
            ema_decay=self.ema_decay.value(), precision=self.precision.currentData(),
            device=self.device.currentData(), threads=self.threads.value(), seed=self.seed.value(),
            sample_every=self.sample_every.value(), sample_seconds=GUI_SAMPLE_SECONDS,
            eval_every=self.eval_every.value(), checkpoint_every=self.checkpoint_every.value())

    def build(self, data: str | dict[str, Any]) -> tuple[TrainConfig, Any]:
        """(TrainConfig, the task's options) for training on ``data``: a folder (GAN, Upscale) or the
        Translate data fields; raises ``ConfigError`` for bad values."""
        fields = {"data": data} if isinstance(data, str) else data
        return self.train_config(), self.task_form().options(fields)

    def run_label(self, options: Any) -> str:
        """The model part of a new run folder's name (the GAN's preset, "upscale-x2-compact"...)."""
        return self.task_form().run_label(options)

    def set_preset(self, name: str) -> None:
        self.preset.setCurrentIndex(self.preset.findData(get_preset(name).name))


def _cpu_count() -> int:
    return max(1, os.cpu_count() or 1)
