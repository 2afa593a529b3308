"""The Train panel's options for training an upscaler (``UpscaleOptions``).

The main choices (scale, architecture, patch size, how low-resolution inputs are made, the GAN
stage) sit in the "Upscaler" box; the rest go in the Advanced section (``advanced``).
"""
from __future__ import annotations

from typing import Any

from PySide6.QtWidgets import QGroupBox, QVBoxLayout, QWidget

from ganstudio.core.upscale.task import UpscaleOptions

from .task_options import OptionForm, form_layout

_MAX_PATCH = 512
_PATCH_STEP = 16            # a multiple of every scale (2, 4)
_MIN_PATCH_PER_SCALE = 8    # the core needs patches of at least 8 low-resolution pixels
_MAX_STEPS = 10_000_000
_MAX_SIDE = 16_384


class UpscaleForm(OptionForm):
    """Options of an upscaler run; ``options({"data": folder})`` builds the ``UpscaleOptions``."""

    task = "upscale"

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(UpscaleOptions, parent=parent)
        d = UpscaleOptions(data=".")
        self.scale = self._combo("scale", [(2, self.tr("2× (twice as wide and tall)")),
                                           (4, self.tr("4× (four times as wide and tall)"))], self.tr(
            "How much the upscaler enlarges. A 2× model is easier to train and gives cleaner results; "
            "4× needs more steps."))
        self.arch = self._combo("arch", [("compact", self.tr("Compact: fast")),
                                         ("rrdb", self.tr("RRDB: finer detail, much slower"))], self.tr(
            "The network. Compact trains and runs quickly on a CPU; RRDB (ESRGAN-style residual dense "
            "blocks) can restore more detail but is many times slower."))
        self.patch_size = self._int_spin("patch_size", d.patch_size, _MIN_PATCH_PER_SCALE * 2, _MAX_PATCH, self.tr(
            "The side of the high-resolution squares cut from your images for each step. Larger patches "
            "show the network more context but make each step slower."), step=_PATCH_STEP)
        self.patch_size.setSuffix(self.tr(" px"))
        self.degradation = self._combo("degradation", [
            ("bicubic", self.tr("Clean: plain downscaling")),
            ("real", self.tr("Real photos: blur, noise, JPEG")),
        ], self.tr("How the small training inputs are made from your images. Clean suits digital art and "
                   "sharp sources; Real photos also adds blur, noise and JPEG artefacts, so the upscaler "
                   "learns to clean them up."))
        self.gan = self._check("gan", self.tr("GAN stage: sharper textures"), d.gan, self.tr(
            "Add a discriminator (a critic) that pushes the upscaler towards crisp, realistic textures. "
            "Sharper, but it can invent detail; the pixel-accurate result is without it."))
        box = QGroupBox(self.tr("Upscaler"))
        form = form_layout(box)
        form.addRow(self.tr("Scale"), self.scale)
        form.addRow(self.tr("Network"), self.arch)
        form.addRow(self.tr("Patch size"), self.patch_size)
        form.addRow(self.tr("Inputs"), self.degradation)
        form.addRow(self.gan)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(box)

        # -- advanced ------------------------------------------------------------------------------
        self.features = self._int_spin("features", 0, 0, 256, self.tr(
            "How wide the network is (channels per layer). Wider learns more and runs slower."),
            special=self.tr("default"))
        self.blocks = self._int_spin("blocks", 0, 0, 64, self.tr(
            "How deep the network is (residual blocks). Deeper learns more and runs slower."),
            special=self.tr("default"))
        self.act = self._combo("act", [
            ("lrelu", self.tr("LeakyReLU: faster")),
            ("prelu", self.tr("PReLU: a learned slope per channel")),
        ], self.tr("The compact network's activation. With LeakyReLU the app computes it inside the "
                   "convolution before it, so the upscaler trains and upscales about 1.3× faster on a "
                   "CPU; GAN Studio's bundled models use it and lost nothing by it. PReLU learns the "
                   "shape of each channel's activation, as Real-ESRGAN's compact network does."))
        self.gan_weight = self._float_spin("gan_weight", d.gan_weight, 0.0, 1.0, 0.005, 4, self.tr(
            "How strongly the GAN stage pulls towards sharp textures, relative to the pixel loss (1). "
            "Too high and the upscaler invents patterns."))
        self.gan_start_step = self._int_spin("gan_start_step", d.gan_start_step, 0, _MAX_STEPS, self.tr(
            "Train with the pixel loss alone for this many steps before the GAN stage begins, so the "
            "critic starts from a decent upscaler."), step=500)
        self.val_images = self._int_spin("val_images", d.val_images, 0, 1000, self.tr(
            "How many of your images are kept out of training to measure the upscaler honestly. "
            "Automatic keeps a tenth (1 to 8)."), special=self.tr("automatic"))
        self.val_crop = self._int_spin("val_crop", d.val_crop, 32, 1024, self.tr(
            "The side of each validation crop, in high-resolution pixels."), step=_PATCH_STEP)
        self.val_crop.setSuffix(self.tr(" px"))
        self.max_side = self._int_spin("max_side", d.max_side, 64, _MAX_SIDE, self.tr(
            "Images larger than this (longer side, in pixels) are reduced to it when they are read, which "
            "saves memory and cleans camera noise. Raise it for artwork with very fine detail."), step=128)
        self.max_side.setSuffix(self.tr(" px"))
        self.augment = self._check("augment", self.tr("Rotate and mirror patches"), d.augment, self.tr(
            "Show each patch turned and mirrored at random, which multiplies a small collection. Turn it "
            "off for images whose direction matters (text, lit scenes)."))
        self.patch_sampling = self._combo("patch_sampling", [
            ("detail", self.tr("Mostly where the detail is")),
            ("uniform", self.tr("Anywhere, evenly")),
        ], self.tr("Where training patches are cut. Most of a photo is sky, skin or blur, which any "
                   "upscaler gets right; drawing patches more often from edges and texture teaches the "
                   "part that matters (flat areas are still shown now and then)."))
        self.advanced = QWidget()
        self.advanced_form = adv = form_layout(self.advanced, 8)
        adv.addRow(self.tr("Network width"), self.features)
        adv.addRow(self.tr("Network depth"), self.blocks)
        adv.addRow(self.tr("Activation"), self.act)
        adv.addRow(self.tr("GAN weight"), self.gan_weight)
        adv.addRow(self.tr("GAN starts at step"), self.gan_start_step)
        adv.addRow(self.tr("Validation images"), self.val_images)
        adv.addRow(self.tr("Validation crop"), self.val_crop)
        adv.addRow(self.tr("Largest side"), self.max_side)
        adv.addRow(self.tr("Patches from"), self.patch_sampling)
        adv.addRow(self.augment)

        self.scale.currentIndexChanged.connect(self._on_scale_current_index_changed)
        self.gan.toggled.connect(self._on_gan_toggled)
        self.arch.currentIndexChanged.connect(self._on_arch_current_index_changed)
        self._on_arch_current_index_changed()
        self._on_scale_current_index_changed()
        self._on_gan_toggled(self.gan.isChecked())

    def _on_scale_current_index_changed(self, *_: object) -> None:
        self.patch_size.setMinimum(_MIN_PATCH_PER_SCALE * int(self.scale.currentData()))

    def _on_arch_current_index_changed(self, *_: object) -> None:
        self.act.setEnabled(self.arch.currentData() == "compact")   # RRDB has its own activations

    def _on_gan_toggled(self, on: bool) -> None:
        self.gan_weight.setEnabled(on)
        self.gan_start_step.setEnabled(on)

    def options(self, data: dict[str, Any]) -> UpscaleOptions:
        """``UpscaleOptions`` for ``data`` ({"data": folder}); raises ``ConfigError`` for bad values."""
        return UpscaleOptions(
            data=data["data"], scale=int(self.scale.currentData()), arch=self.arch.currentData(),
            features=self.features.value() or None, blocks=self.blocks.value() or None,
            act=self.act.currentData() if self.arch.currentData() == "compact" else None,
            patch_size=self.patch_size.value(), degradation=self.degradation.currentData(),
            gan=self.gan.isChecked(), gan_weight=self.gan_weight.value(), gan_start_step=self.gan_start_step.value(),
            val_images=self.val_images.value(), val_crop=self.val_crop.value(), max_side=self.max_side.value(),
            augment=self.augment.isChecked(), patch_sampling=self.patch_sampling.currentData())

    def run_label(self, options: UpscaleOptions) -> str:
        """The model part of a new run folder's name."""
        return f"upscale-x{options.scale}-{options.arch}"
