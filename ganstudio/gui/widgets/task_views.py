"""What the Train panel shows for each kind of model: its name, its chart, its preview's captions,
and how its validation results read in the log.

The three tasks are the core's (``ganstudio.core.tasks``): "gan", "upscale", "translate". Kept
here, as data, so the panel's code is the same for all of them.
"""
from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import QCoreApplication

from .loss_chart import ChartLayout, Curve, Pane

#: the tasks in the order the task choice lists them
TASKS = ("gan", "upscale", "translate")


def _tr(text: str) -> str:
    return QCoreApplication.translate("TaskViews", text)


def task_name(task: str) -> str:
    """The task choice's entry for ``task``."""
    return {"gan": _tr("Generate images (GAN)"),
            "upscale": _tr("Upscale (super-resolution)"),
            "translate": _tr("Translate (image to image)")}.get(task, task)


def task_short_name(task: str) -> str:
    """One word for lists ("GAN", "Upscale", "Translate")."""
    return {"gan": _tr("GAN"), "upscale": _tr("Upscale"), "translate": _tr("Translate")}.get(task, task)


def task_description(task: str) -> str:
    return {
        "gan": _tr("Learn to make new images in the style of a folder of examples. Use the result in "
                   "the Generate tab."),
        "upscale": _tr("Teach an upscaler your own high-resolution images: it learns to restore detail "
                       "from smaller copies made while training. Use the result in the Upscale tab."),
        "translate": _tr("Learn to turn one kind of image into another (sketch → colour, day → night) "
                         "from matching pairs or from two collections. Use the result in the Translate tab."),
    }.get(task, "")


@dataclass(frozen=True)
class PreviewTexts:
    """The live preview's box title, its text before the first image, and its caption."""
    title: str
    placeholder: str
    caption: str            # with {0}: the step


def preview_texts(task: str, mode: str = "paired") -> PreviewTexts:
    if task == "upscale":
        return PreviewTexts(
            _tr("Before / after"),
            _tr("Held-out crops appear here while the upscaler trains: bicubic enlargement, the "
                "model's output and the original, side by side."),
            _tr("Before / after at step {0}: bicubic | model | original"))
    if task == "translate" and mode == "unpaired":
        return PreviewTexts(
            _tr("Translations"),
            _tr("Fixed examples appear here while the model trains: each image, its translation, and "
                "the translation turned back."),
            _tr("Step {0}: A → B → back to A (upper rows), B → A → back to B (lower rows)"))
    if task == "translate":
        return PreviewTexts(
            _tr("Translations"),
            _tr("Fixed examples appear here while the model trains: the input, the model's output and "
                "the target, side by side."),
            _tr("Input → output → target at step {0}"))
    return PreviewTexts(
        _tr("Samples"),
        _tr("Samples appear here while the model trains: the same random inputs each time, so you can "
            "watch them sharpen."),
        _tr("Samples at step {0}"))


def chart_title(task: str, mode: str = "paired") -> str:
    validates = task == "upscale" or (task == "translate" and mode == "paired")
    return _tr("Losses and validation") if validates else _tr("Losses")


def chart_layout(task: str, mode: str = "paired") -> ChartLayout:
    """The panes and curves of ``task``'s chart (``mode``: the Translate task's paired/unpaired)."""
    if task == "upscale":
        return ChartLayout(
            panes=(Pane("loss", _tr("L1 loss")), Pane("gan", _tr("GAN stage"), stretch=2),
                   Pane("eval", _tr("PSNR (dB)"), padding=0.6, legend="top-left", legend_columns=2)),
            curves={"loss_l1": Curve(_tr("L1: pixel error"), "loss", "#1f78b4"),
                    "loss_adv": Curve(_tr("G adversarial"), "gan", "#1f78b4"),
                    "loss_d": Curve(_tr("D loss"), "gan", "#d95f02"),
                    "d_real": Curve(_tr("D score: originals"), "gan", "#1b9e77", shown=False),
                    "d_fake": Curve(_tr("D score: upscaled"), "gan", "#e7298a", shown=False)},
            evaluation={"psnr": Curve(_tr("validation: model"), "eval", "#1b9e77"),
                        "psnr_bicubic": Curve(_tr("bicubic"), "eval", "#666666", dashed=True)},
            help=_tr("L1: the average difference between the upscaled training patches and the originals "
                     "(lower is better). It falls fast at first, then slowly.\n"
                     "PSNR: how close the upscaler's output on held-out images is to the originals, in "
                     "decibels (higher is better). The dashed line is plain bicubic enlargement, which the "
                     "model should beat; the best checkpoint is kept.\n"
                     "GAN stage (when on): the critic's loss and the adversarial push towards sharper "
                     "textures.\nClick a name in a legend to hide or show its curve."))
    if task == "translate" and mode == "unpaired":
        return ChartLayout(
            # six names: two columns keep the legend off the curves' right half
            panes=(Pane("loss", _tr("adversarial loss"), legend_columns=2), Pane("cycle", _tr("cycle and identity"))),
            curves={"loss_d": Curve(_tr("D loss"), "loss", "#d95f02"),
                    "gan_ab": Curve(_tr("G A→B"), "loss", "#1f78b4"),
                    "gan_ba": Curve(_tr("G B→A"), "loss", "#7570b3"),
                    "loss_g": Curve(_tr("G total (weighted)"), "loss", "#666666", shown=False),
                    "d_real": Curve(_tr("D(real B)"), "loss", "#1b9e77", shown=False),
                    "d_fake": Curve(_tr("D(translated)"), "loss", "#e7298a", shown=False),
                    "cycle": Curve(_tr("cycle: A→B→A and B→A→B"), "cycle", "#1b9e77"),
                    "identity": Curve(_tr("identity"), "cycle", "#e6ab02")},
            help=_tr("Adversarial losses: how badly the critics (D) and the two translators (G) are doing; "
                     "in a healthy run they wobble around each other.\n"
                     "Cycle: how far an image is from itself after translating there and back (lower is "
                     "better); it keeps the content while the style changes.\n"
                     "Identity: how much a translator changes images that are already in its target style.\n"
                     "Click a name in a legend to hide or show its curve."))
    if task == "translate":
        return ChartLayout(
            panes=(Pane("loss", _tr("adversarial loss"), stretch=2), Pane("target", _tr("error vs target")),
                   Pane("eval", _tr("validation"), (0.0, 1.0), stretch=2, legend_columns=2)),
            curves={"loss_d": Curve(_tr("D loss"), "loss", "#d95f02"),
                    "gan_g": Curve(_tr("G adversarial"), "loss", "#1f78b4"),
                    "loss_g": Curve(_tr("G total (weighted)"), "loss", "#666666", shown=False),
                    "d_real": Curve(_tr("D(real pair)"), "loss", "#1b9e77", shown=False),
                    "d_fake": Curve(_tr("D(translated pair)"), "loss", "#e7298a", shown=False),
                    "l1": Curve(_tr("L1: pixel error"), "target", "#1f78b4"),
                    "ssim_loss": Curve(_tr("1 − SSIM: structure"), "target", "#7570b3")},
            evaluation={"ssim": Curve(_tr("SSIM (higher is better)"), "eval", "#1b9e77"),
                        "l1": Curve(_tr("L1 (lower is better)"), "eval", "#d95f02")},
            help=_tr("Adversarial losses: how badly the critic (D) and the translator (G) are doing; in a "
                     "healthy run they wobble around each other.\n"
                     "Error vs target: how far the translations of the training crops are from their "
                     "targets, pixel by pixel (L1) and in structure (1 − SSIM). Lower is better.\n"
                     "Validation: the same on held-out pairs (only with 20 pairs or more). SSIM near 1 "
                     "means close to the target; the best checkpoint is kept.\n"
                     "Click a name in a legend to hide or show its curve."))
    return ChartLayout(
        panes=(Pane("loss", _tr("loss")), Pane("prob", _tr("mean D output"), (0.0, 1.0), stretch=2,
                                                legend="middle")),
        curves={"loss_d": Curve(_tr("D loss"), "loss", "#d95f02"),
                "loss_g": Curve(_tr("G loss"), "loss", "#1f78b4"),
                "d_real": Curve(_tr("D(x): real images"), "prob", "#1b9e77"),
                "d_fake": Curve(_tr("D(G(z)): generated"), "prob", "#e7298a")},
        help=_tr("D loss and G loss: how badly the discriminator (the critic) and the generator (the artist) "
                 "are doing; in a healthy run they wobble around each other instead of one falling to zero.\n"
                 "D(x): how real the critic thinks the real images are (1 = sure).\n"
                 "D(G(z)): how real it thinks the generated images are. Near 0 for a long time means the "
                 "critic is winning and the generator learns little."))


def describe_evaluation(task: str, metrics: dict[str, float]) -> str:
    """A validation result in words, for the log."""
    if task == "upscale" and "psnr" in metrics and "psnr_bicubic" in metrics:
        text = _tr("Validation: PSNR {0:.2f} dB ({1:+.2f} dB over bicubic)").format(
            metrics["psnr"], metrics["psnr"] - metrics["psnr_bicubic"])
        if "ssim" in metrics:
            text += ", " + _tr("SSIM {0:.3f}").format(metrics["ssim"])
        return text + "."
    if task == "translate" and "ssim" in metrics and "l1" in metrics:
        return _tr("Validation: SSIM {0:.3f}, L1 {1:.4f}.").format(metrics["ssim"], metrics["l1"])
    shown = ", ".join(f"{k} {v:.4g}" for k, v in metrics.items())
    return _tr("Evaluation: {0}.").format(shown)
