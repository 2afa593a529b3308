"""The Train panel's parts for training a translator (``TranslateOptions``): where the images come
from (paired folders matched by name, one folder of side-by-side pairs, or two unpaired
collections) with the pairing report, and the model's options.

``check_translate_data`` is plain Python (the panel runs it in a background job): it matches or
counts the images and makes a strip of thumbnails.
"""
from __future__ import annotations

import html
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (QComboBox, QFileDialog, QGroupBox, QHBoxLayout, QLabel, QLineEdit, QToolButton,
                               QTreeWidget, QTreeWidgetItem, QVBoxLayout, QWidget)

from ganstudio.core.data import ENLARGE_WARNING, enlargement, median_side
from ganstudio.core.translate.data import checked_images, fitting_crop, match_pairs, short_sides
from ganstudio.core.translate.task import TranslateOptions

from ..theme import status_span
from .collapsible import CollapsibleSection
from .dataset_view import image_thumbnails, thumbnail_sheet
from .fix_note import FixNote
from .image_view import ImageView
from .themed_label import ThemedLabel
from .task_options import OptionForm, form_layout

#: examples (pairs, or images per side) in the thumbnail strip
THUMBNAIL_PAIRS = 6
THUMBNAIL_SIDE = 40
#: unused files listed before the list scrolls
_UNUSED_ROWS_VISIBLE = 6
_MAX_CROP = 2048
_MAX_LOAD = 4096


# ----------------------------------------------------------------------------------------------
# checking the data (runs in a job; no widgets)

@dataclass(frozen=True)
class TranslateDataReport:
    """What the chosen folders hold for training a translator."""
    mode: str                      # "paired" | "unpaired"
    side_by_side: bool
    pairs: int                     # paired: matched pairs (or side-by-side images); unpaired: 0
    count_a: int                   # usable images in A (side-by-side: in the folder)
    count_b: int                   # usable images in B (side-by-side: the same)
    unused: list[tuple[str, str, str]] = field(default_factory=list)   # (side, file, why it is not used)
    thumbnails: np.ndarray | None = None
    min_side: int = 0              # the shortest side of the images used (side by side: of the halves)
    median_side: int = 0           # the median shorter side of the images used
    #: paired folders: (side, file, its partner on the other side, why the partner cannot be used) for
    #: files whose partner exists but is unreadable or ambiguous (the partner is in ``unused`` too)
    unusable_partner: list[tuple[str, str, str, str]] = field(default_factory=list)

    def usable(self) -> bool:
        return self.pairs > 0 if self.mode == "paired" else self.count_a > 0 and self.count_b > 0

    def unmatched(self, side: str) -> list[str]:
        """Files of ``side`` ("A" or "B") that have no partner of the same name on the other side."""
        return [name for s, name, why in self.unused if s == side and why == _NO_PARTNER]

    def with_unusable_partner(self, side: str) -> list[str]:
        """Files of ``side`` whose partner of the same name exists but cannot be read (or is ambiguous)."""
        return [name for s, name, _, _ in self.unusable_partner if s == side]


_NO_PARTNER = "no partner"
#: how ``match_pairs`` starts the reason of files skipped for sharing a name on one side
_AMBIGUOUS = "ambiguous: "


def check_translate_data(data: dict[str, Any], should_stop: Callable[[], bool] = lambda: False,
                         thumbnails: bool = True) -> TranslateDataReport:
    """Match (paired) or count (unpaired, side-by-side) the images of ``data`` (the keys of
    ``TranslateDataView.data()``); raises ``DatasetError`` when nothing usable is found."""
    a_dir, b_dir = Path(data["a_dir"]), Path(data.get("b_dir") or data["a_dir"])
    mode, side_by_side = data["mode"], bool(data.get("side_by_side"))

    def named(root: Path, path: Path) -> str:
        try:
            return path.relative_to(root).as_posix()
        except ValueError:
            return str(path)

    def skipped_rows(side: str, root: Path, skipped) -> list[tuple[str, str, str]]:
        return [(side, named(root, s.path), s.reason) for s in skipped]

    strip: list[np.ndarray] = []
    if mode == "paired" and not side_by_side:
        report = match_pairs(a_dir, b_dir, should_stop=should_stop)
        unused = ([("A", named(a_dir, p), _NO_PARTNER) for p in report.unmatched_a]
                  + [("B", named(b_dir, p), _NO_PARTNER) for p in report.unmatched_b]
                  + [("A" if _inside(s.path, a_dir) else "B", named(a_dir if _inside(s.path, a_dir) else b_dir, s.path),
                      s.reason) for s in report.skipped])
        unusable_partner = [(side, named(root, path), named(other_root, partners[0].path), partners[0].reason)
                            for side, root, other_root, found in (("A", a_dir, b_dir, report.unreadable_partner_a),
                                                                  ("B", b_dir, a_dir, report.unreadable_partner_b))
                            for path, partners in found]
        pairs = report.pairs[:THUMBNAIL_PAIRS]
        if thumbnails:
            strip = (image_thumbnails([a for a, _ in pairs], THUMBNAIL_SIDE, should_stop)
                     + image_thumbnails([b for _, b in pairs], THUMBNAIL_SIDE, should_stop))
        result = TranslateDataReport(
            mode, False, len(report.pairs),
            len(report.pairs) + len(report.unmatched_a) + len(report.unreadable_partner_a),
            len(report.pairs) + len(report.unmatched_b) + len(report.unreadable_partner_b), unused,
            **_side_stats(report.sizes[p] for pair in report.pairs for p in pair), unusable_partner=unusable_partner)
        columns = len(pairs)
    elif side_by_side:
        usable, skipped, sizes = checked_images(a_dir, "side-by-side", should_stop=should_stop)
        if thumbnails:
            strip = image_thumbnails(usable[:THUMBNAIL_PAIRS], THUMBNAIL_SIDE * 2, should_stop)
        result = TranslateDataReport(mode, True, len(usable), len(usable), len(usable),
                                     skipped_rows("A", a_dir, skipped), **_side_stats(sizes.values(), side_by_side=True))
        columns = THUMBNAIL_PAIRS // 2
    else:
        usable_a, skipped_a, sizes_a = checked_images(a_dir, "A", should_stop=should_stop)
        usable_b, skipped_b, sizes_b = checked_images(b_dir, "B", should_stop=should_stop)
        if thumbnails:
            strip = (image_thumbnails(usable_a[:THUMBNAIL_PAIRS], THUMBNAIL_SIDE, should_stop)
                     + image_thumbnails(usable_b[:THUMBNAIL_PAIRS], THUMBNAIL_SIDE, should_stop))
        result = TranslateDataReport(mode, False, 0, len(usable_a), len(usable_b),
                                     skipped_rows("A", a_dir, skipped_a) + skipped_rows("B", b_dir, skipped_b),
                                     **_side_stats([*sizes_a.values(), *sizes_b.values()]))
        columns = THUMBNAIL_PAIRS
    if strip and len({t.shape for t in strip}) == 1:
        grid = thumbnail_sheet(np.stack(strip), nrow=max(1, min(columns, len(strip))))
        result = replace(result, thumbnails=grid)
    return result


def _side_stats(sizes: Iterable[tuple[int, int]], side_by_side: bool = False) -> dict[str, int]:
    sides = short_sides(sizes, side_by_side)
    return {"min_side": min(sides, default=0), "median_side": median_side(sides)}


def _inside(path: Path, root: Path) -> bool:
    try:
        path.relative_to(root)
        return True
    except ValueError:
        return False


# ----------------------------------------------------------------------------------------------
# widgets

class FolderRow(QWidget):
    """A read-only folder path with a "Choose…" button; a folder dropped on it is taken too."""

    chosen = Signal(str)

    def __init__(self, dialog_title: str, placeholder: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setAcceptDrops(True)
        self._dialog_title = dialog_title
        self.edit = QLineEdit()
        self.edit.setReadOnly(True)
        self.edit.setPlaceholderText(placeholder)
        self.button = QToolButton()
        self.button.setText(self.tr("Choose…"))
        self.button.clicked.connect(self._on_button_clicked)
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.edit, 1)
        row.addWidget(self.button)

    def folder(self) -> str:
        return self.edit.text()

    def set_folder(self, folder: str) -> None:
        """Show ``folder`` (no ``chosen`` signal)."""
        self.edit.setText(folder)
        self.edit.setToolTip(folder)
        self.edit.setCursorPosition(len(folder))      # the end (the folder's own name) is what matters

    def choose(self, folder: str) -> None:
        """Take ``folder`` as if the user had chosen it."""
        self.set_folder(str(Path(folder).expanduser()))
        self.chosen.emit(self.folder())

    def _on_button_clicked(self) -> None:
        start = self.folder() or str(Path.home())
        folder = QFileDialog.getExistingDirectory(self, self._dialog_title, start)
        if folder:
            self.choose(folder)

    def dragEnterEvent(self, event) -> None:  # noqa: N802 (Qt override)
        if self.isEnabled() and _dropped_dir(event.mimeData()) is not None:
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:  # noqa: N802
        folder = _dropped_dir(event.mimeData())
        if folder is not None and self.isEnabled():
            event.acceptProposedAction()
            self.choose(folder)


def _dropped_dir(mime) -> str | None:
    for url in mime.urls() if mime.hasUrls() else []:
        if url.isLocalFile() and Path(url.toLocalFile()).is_dir():
            return url.toLocalFile()
    return None


class TranslateDataView(QWidget):
    """Where a translator's images come from, and what was found there (the panel runs the checks)."""

    changed = Signal()          # the mode, the source or a folder changed: the data must be checked again
    mode_changed = Signal(str)  # "paired" | "unpaired"

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.mode = QComboBox()
        self.mode.addItem(self.tr("Paired: each A image has its B version"), "paired")
        self.mode.addItem(self.tr("Unpaired: two collections"), "unpaired")
        self.mode.setToolTip(self.tr(
            "Paired (pix2pix): for every input image (A) you have the result you want (B), e.g. a line "
            "drawing and its coloured version. It learns the exact mapping.\n"
            "Unpaired (CycleGAN): two collections in different styles, with no matching images. It learns "
            "to carry one style over to the other while keeping the content."))
        self.source = QComboBox()
        self.source.addItem(self.tr("Two folders, matched by file name"), "folders")
        self.source.addItem(self.tr("One folder of side-by-side images"), "side_by_side")
        self.source.setToolTip(self.tr(
            "Two folders: A/cat.png pairs with B/cat.png (any image type; sub-folders too).\n"
            "Side by side: each image holds A and B next to each other, as in the pix2pix datasets."))
        self.a_row = FolderRow(self.tr("Choose the A Folder"), self.tr("No folder chosen"))
        self.b_row = FolderRow(self.tr("Choose the B Folder"), self.tr("No folder chosen"))
        self.sbs_row = FolderRow(self.tr("Choose the Folder of Side-by-Side Images"), self.tr("No folder chosen"))
        self.split = QComboBox()
        self.split.addItem(self.tr("A on the left, B on the right"), "A|B")
        self.split.addItem(self.tr("B on the left, A on the right"), "B|A")
        self.split.setToolTip(self.tr("Which half of each side-by-side image is the input (A)."))
        self._inputs = QWidget()
        self._form = form_layout(self._inputs)
        form = self._form
        form.addRow(self.tr("Kind"), self.mode)
        form.addRow(self.tr("Pairs from"), self.source)
        self._a_label = QLabel()
        self._b_label = QLabel()
        form.addRow(self._a_label, self.a_row)
        form.addRow(self._b_label, self.b_row)
        form.addRow(self.tr("Folder"), self.sbs_row)
        form.addRow(self.tr("Split"), self.split)

        self.summary = ThemedLabel()
        self.summary.setWordWrap(True)
        self.summary.setTextFormat(Qt.TextFormat.RichText)
        self.summary.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.size_note = FixNote()   # when the training sizes do not suit the images (the panel decides)
        self.unused_list = QTreeWidget()
        self.unused_list.setHeaderLabels([self.tr("Side"), self.tr("File"), self.tr("Why it is not used")])
        self.unused_list.setRootIsDecorated(False)
        self.unused_list.setAlternatingRowColors(True)
        self.unused_list.setUniformRowHeights(True)
        self.unused_section = CollapsibleSection(self.tr("Files not used"), self.unused_list, expanded=True)
        self.unused_section.hide()
        self.thumbnails = ImageView(self.tr("Choose the folders to see a few examples."), keep_aspect_height=True)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self._inputs)
        layout.addWidget(self.summary)
        layout.addWidget(self.size_note)
        layout.addWidget(self.unused_section)
        layout.addWidget(self.thumbnails)

        self.mode.currentIndexChanged.connect(self._on_mode_current_index_changed)
        self.source.currentIndexChanged.connect(self._on_source_current_index_changed)
        self.split.currentIndexChanged.connect(self.changed)
        for folder_row in (self.a_row, self.b_row, self.sbs_row):
            folder_row.chosen.connect(self.changed)
        self._show_rows()
        self.show_incomplete()

    # -- what the user chose -------------------------------------------------------------------
    def current_mode(self) -> str:
        return self.mode.currentData()

    def side_by_side(self) -> bool:
        return self.current_mode() == "paired" and self.source.currentData() == "side_by_side"

    def data(self) -> dict[str, Any]:
        """The data fields of ``TranslateOptions``."""
        if self.side_by_side():
            return {"mode": "paired", "a_dir": self.sbs_row.folder(), "b_dir": "", "side_by_side": True,
                    "split": self.split.currentData()}
        return {"mode": self.current_mode(), "a_dir": self.a_row.folder(), "b_dir": self.b_row.folder(),
                "side_by_side": False, "split": self.split.currentData()}

    def is_complete(self) -> bool:
        data = self.data()
        return bool(data["a_dir"]) and (data["side_by_side"] or bool(data["b_dir"]))

    def dataset_name(self) -> str:
        """A short name for run folders: "sketches-to-coloured" for two folders, with their parent's
        name in front when theirs are short and alike (``cats/A``, ``cats/B``: "cats-A-to-B"), so that
        runs on different data are told apart; side by side, the folder's name."""
        data = self.data()
        a, b = Path(data["a_dir"]), Path(data.get("b_dir") or "")
        if not b.name:
            return a.name or "pairs"
        name = f"{a.name}-to-{b.name}"
        if max(len(a.name), len(b.name)) <= 6 and a.parent == b.parent and a.parent.name:
            name = f"{a.parent.name}-{name}"
        return name

    def values(self) -> dict[str, Any]:
        """The choices as plain values (remembered in the preferences)."""
        return {"mode": self.current_mode(), "source": self.source.currentData(), "a_dir": self.a_row.folder(),
                "b_dir": self.b_row.folder(), "sbs_dir": self.sbs_row.folder(), "split": self.split.currentData()}

    def set_values(self, values: dict[str, Any]) -> None:
        """Restore remembered choices (no ``changed`` signal; the panel checks the data itself)."""
        self.blockSignals(True)
        try:
            for combo, key in ((self.mode, "mode"), (self.source, "source"), (self.split, "split")):
                index = combo.findData(values.get(key))
                if index >= 0:
                    combo.setCurrentIndex(index)
            for folder_row, key in ((self.a_row, "a_dir"), (self.b_row, "b_dir"), (self.sbs_row, "sbs_dir")):
                folder = values.get(key)
                if isinstance(folder, str):
                    folder_row.set_folder(folder)
        finally:
            self.blockSignals(False)
        self._show_rows()

    def set_inputs_enabled(self, enabled: bool) -> None:
        """Locked while training (the report stays readable)."""
        self._inputs.setEnabled(enabled)

    # -- what was found ------------------------------------------------------------------------
    def show_incomplete(self) -> None:
        self.size_note.show_note(None)
        if self.side_by_side():
            text = self.tr("Choose a folder of images that hold A and B side by side.")
        elif self.current_mode() == "paired":
            text = self.tr("Choose the A folder (inputs) and the B folder (the results you want). Files with "
                           "the same name are paired.")
        else:
            text = self.tr("Choose two folders of images in the two styles.")
        self.summary.setText(html.escape(text))
        self._fill_unused([])
        self.thumbnails.clear(self.tr("Choose the folders to see a few examples."))

    def show_checking(self) -> None:
        self.size_note.show_note(None)
        self.summary.setText(self.tr("Matching the images…") if self.current_mode() == "paired"
                             else self.tr("Counting the images…"))
        self._fill_unused([])
        self.thumbnails.clear(self.tr("Looking at the images…"))

    def show_error(self, message: str) -> None:
        self.size_note.show_note(None)
        self.summary.setText(status_span("error", f"&#9888; {html.escape(message)}"))
        self._fill_unused([])
        self.thumbnails.clear(self.tr("No usable images."))

    def show_report(self, report: TranslateDataReport) -> None:
        lines = []
        if report.side_by_side:
            lines.append(self.tr("Side-by-side pairs found: <b>{0}</b>").format(f"{report.pairs:,}"))
        elif report.mode == "paired":
            lines.append(self.tr("Pairs found: <b>{0}</b>").format(f"{report.pairs:,}"))
            kinds = ((report.unmatched, self.tr("In {0} without a partner in {1}: {2} ({3})")),
                     (report.with_unusable_partner, self.tr("In {0} whose partner in {1} cannot be used: {2} ({3})")))
            for names_of, text in kinds:
                for side in ("A", "B"):
                    names = names_of(side)
                    if names:
                        shown = ", ".join(html.escape(n) for n in names[:3]) + (", …" if len(names) > 3 else "")
                        lines.append(text.format(side, "B" if side == "A" else "A", f"{len(names):,}", shown))
        else:
            lines.append(self.tr("Images in A: <b>{0}</b> · in B: <b>{1}</b>").format(
                f"{report.count_a:,}", f"{report.count_b:,}"))
        skipped = sum(1 for _, _, why in report.unused if why != _NO_PARTNER)
        if skipped:
            lines.append(self.tr("Unreadable or unusable files skipped: {0}").format(f"{skipped:,}"))
        if report.mode == "paired" and 0 < report.pairs < 20:
            lines.append(self.tr("With fewer than 20 pairs all of them are used for training and there is no "
                                 "validation; more pairs give a better translator."))
        self.summary.setText("<br>".join(lines))
        self._fill_unused(report.unused + [(side, name, self._partner_reason(side, partner, reason))
                                           for side, name, partner, reason in report.unusable_partner])
        if report.thumbnails is not None:
            caption = {True: self.tr("A few pairs"), False: self.tr("A few pairs: A above, B below")}
            text = (caption[report.side_by_side] if report.mode == "paired"
                    else self.tr("A few images: A above, B below"))
            self.thumbnails.set_image(report.thumbnails, text)
        else:
            self.thumbnails.clear(self.tr("No thumbnails."))

    def summary_text(self) -> str:
        """The summary as plain text (what a user reads)."""
        from PySide6.QtGui import QTextDocument

        doc = QTextDocument()
        doc.setHtml(self.summary.text())
        return doc.toPlainText()

    def unused_rows(self) -> list[tuple[str, str, str]]:
        """(side, file, why) rows of the list of files not used."""
        items = (self.unused_list.topLevelItem(i) for i in range(self.unused_list.topLevelItemCount()))
        return [(item.text(0), item.text(1), item.text(2)) for item in items]

    # -- internals -----------------------------------------------------------------------------
    def _partner_reason(self, side: str, partner: str, reason: str) -> str:
        """Why a file is not used whose partner ``partner`` exists on the other side but was skipped."""
        other = "B" if side == "A" else "A"
        if reason.startswith(_AMBIGUOUS):
            return self.tr("its partner in {0} is ambiguous: {1}").format(other, reason[len(_AMBIGUOUS):])
        return self.tr("its partner {0}/{1} is unreadable: {2}").format(other, partner, reason)

    def _fill_unused(self, rows: list[tuple[str, str, str]]) -> None:
        self.unused_list.clear()
        if not rows:
            self.unused_section.hide()
            return
        why = {_NO_PARTNER: self.tr("no partner of that name")}
        items = []
        for side, name, reason in rows:
            item = QTreeWidgetItem([side, name, why.get(reason, reason)])
            item.setToolTip(1, name)
            item.setToolTip(2, why.get(reason, reason))
            items.append(item)
        self.unused_list.addTopLevelItems(items)
        self.unused_list.resizeColumnToContents(0)
        self.unused_list.resizeColumnToContents(1)
        # as tall as its rows (up to a few; then it scrolls)
        rows_shown = min(len(rows), _UNUSED_ROWS_VISIBLE)
        frame = 2 * self.unused_list.frameWidth() + 2
        self.unused_list.setFixedHeight(self.unused_list.header().sizeHint().height() + frame
                                        + self.unused_list.sizeHintForRow(0) * rows_shown)
        self.unused_section.set_title(self.tr("Files not used ({0})").format(f"{len(rows):,}"))
        self.unused_section.show()

    def _show_rows(self) -> None:
        paired = self.current_mode() == "paired"
        sbs = self.side_by_side()
        self._a_label.setText(self.tr("A: inputs") if paired else self.tr("A: style one"))
        self._b_label.setText(self.tr("B: targets") if paired else self.tr("B: style two"))
        form = self._form
        form.setRowVisible(self.source, paired)
        form.setRowVisible(self.a_row, not sbs)
        form.setRowVisible(self.b_row, not sbs)
        form.setRowVisible(self.sbs_row, sbs)
        form.setRowVisible(self.split, sbs)

    def _on_mode_current_index_changed(self, *_: object) -> None:
        self._show_rows()
        self.mode_changed.emit(self.current_mode())
        self.changed.emit()

    def _on_source_current_index_changed(self, *_: object) -> None:
        self._show_rows()
        self.changed.emit()


class TranslateForm(OptionForm):
    """Options of a translator run; ``options(data)`` builds the ``TranslateOptions``."""

    task = "translate"

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(TranslateOptions, parent=parent)
        d = TranslateOptions(a_dir="a", b_dir="b")
        self._mode = "paired"
        self.model_label = QLabel()
        self.model_label.setWordWrap(True)
        self.crop_size = self._int_spin("crop_size", d.crop_size, 16, _MAX_CROP, self.tr(
            "The side of the square pieces cut from the images for each step. Larger crops show more "
            "context and are slower; the trained model still works on images of any size."), step=16)
        self.crop_size.setSuffix(self.tr(" px"))
        self.load_size = self._int_spin("load_size", d.load_size, 0, _MAX_LOAD, self.tr(
            "Images are resized so that their shorter side is this many pixels when they are read; crops "
            "are cut from that. 'Native size' keeps them as they are."), step=2, special=self.tr("native size"))
        self.load_size.setSuffix(self.tr(" px"))
        self.channels = self._combo("channels", [
            ("auto", self.tr("Automatic")), ("rgb", self.tr("Colour (RGB)")), ("grey", self.tr("Greyscale"))],
            self.tr("Train in colour or grey. Automatic uses grey for a side whose images are all grey."))
        self.flip = self._check("flip", self.tr("Mirror at random"), d.flip, self.tr(
            "Mirror a random half of the crops left-right (A and B together). Turn it off for text, logos "
            "or anything whose direction matters."))
        self.l1_weight = self._float_spin("l1_weight", d.l1_weight, 0.0, 10_000.0, 10.0, 1, self.tr(
            "How much staying close to the target counts against fooling the critic. High (the usual 100) "
            "gives faithful results; lower gives bolder, less exact ones."))
        self.cycle_weight = self._float_spin("cycle_weight", d.cycle_weight, 0.0, 1000.0, 1.0, 1, self.tr(
            "How much an image must survive the round trip (A → B → A). Higher keeps more of the content; "
            "lower lets the style change more."))
        box = QGroupBox(self.tr("Translator"))
        self._basic_form = form_layout(box)
        self._basic_form.addRow(self.model_label)
        self._basic_form.addRow(self.tr("Crop size"), self.crop_size)
        self._basic_form.addRow(self.tr("Resize to"), self.load_size)
        self._basic_form.addRow(self.tr("Colour"), self.channels)
        self._basic_form.addRow(self.flip)
        self._basic_form.addRow(self.tr("L1 weight"), self.l1_weight)
        self._basic_form.addRow(self.tr("Cycle weight"), self.cycle_weight)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(box)

        # -- advanced ------------------------------------------------------------------------------
        self.loss = self._combo("loss", [("lsgan", self.tr("Least squares (LSGAN)")), ("bce", self.tr("Standard (BCE)")),
                                         ("hinge", self.tr("Hinge"))], self.tr(
            "How the critic's mistakes are scored. Least squares is the usual choice for translation."))
        self.ngf = self._int_spin("ngf", d.ngf, 4, 512, self.tr(
            "How wide the translator is (channels of its first layer). Wider learns more and is slower; "
            "32 is a good start on a CPU."), step=8)
        self.n_blocks = self._int_spin("n_blocks", d.n_blocks, 1, 32, self.tr(
            "Residual blocks of the CycleGAN translators: 6 suits crops of about 128 pixels, 9 of 256."))
        self.ssim_weight = self._float_spin("ssim_weight", d.ssim_weight, 0.0, 1000.0, 1.0, 1, self.tr(
            "How much matching the target's structure (edges, shapes) counts, besides the pixel difference."))
        self.identity_weight = self._float_spin("identity_weight", d.identity_weight, 0.0, 10.0, 0.1, 2, self.tr(
            "Asks each translator to leave images already in its target style unchanged, which keeps "
            "colours steady. Relative to the cycle weight; 0 turns it off."))
        self.pool_size = self._int_spin("pool_size", d.pool_size, 0, 1000, self.tr(
            "How many earlier translations the critics also see, so they do not chase only the newest ones."))
        self.shift = self._float_spin("shift", d.shift, 0.0, 0.5, 0.01, 3, self.tr(
            "Move the crops by up to this fraction of their size at random (A and B together): more variety "
            "from few images."))
        self.zoom = self._float_spin("zoom", d.zoom, 0.0, 0.5, 0.05, 2, self.tr(
            "Zoom half of the crops in or out by up to this fraction at random (A and B together)."))
        self.clean_finish = self._float_spin("clean_finish", d.clean_finish, 0.0, 1.0, 0.05, 2, self.tr(
            "Over this last share of the run, train on the images as they are, without the random shift and "
            "zoom, so the result fits images framed like yours. 0.2 lowered the error on unseen characters "
            "of the glyph benchmark by about 1.5%; 0.4 was too much."))
        self.lr_decay = self._float_spin("lr_decay", d.lr_decay, 0.0, 1.0, 0.05, 2, self.tr(
            "Over this last share of the run the learning rates fall to zero, which settles the result."))
        self.val_fraction = self._float_spin("val_fraction", d.val_fraction, 0.0, 0.5, 0.05, 2, self.tr(
            "The share of pairs kept out of training to measure the translator honestly (with 20 pairs "
            "or more)."))
        self.advanced = QWidget()
        self.advanced_form = form_layout(self.advanced, 8)
        adv = self.advanced_form
        adv.addRow(self.tr("GAN loss"), self.loss)
        adv.addRow(self.tr("Network width"), self.ngf)
        adv.addRow(self.tr("Residual blocks"), self.n_blocks)
        adv.addRow(self.tr("SSIM weight"), self.ssim_weight)
        adv.addRow(self.tr("Identity weight"), self.identity_weight)
        adv.addRow(self.tr("History of fakes"), self.pool_size)
        adv.addRow(self.tr("Random shift"), self.shift)
        adv.addRow(self.tr("Random zoom"), self.zoom)
        adv.addRow(self.tr("Clean finish"), self.clean_finish)
        adv.addRow(self.tr("Learning-rate decay"), self.lr_decay)
        adv.addRow(self.tr("Held out"), self.val_fraction)
        self.set_mode("paired")

    def set_mode(self, mode: str) -> None:
        """Show the options of pix2pix ("paired") or CycleGAN ("unpaired")."""
        self._mode = mode
        paired = mode == "paired"
        self.model_label.setText(
            self.tr("<b>pix2pix</b>: a U-Net translator learns A → B from the pairs while a critic judges "
                    "small patches of the result.") if paired else
            self.tr("<b>CycleGAN</b>: two translators (A → B and B → A) and two critics; translating there "
                    "and back must give the image again."))
        for form, widget, show in ((self._basic_form, self.l1_weight, paired),
                                   (self._basic_form, self.cycle_weight, not paired),
                                   (self.advanced_form, self.n_blocks, not paired),
                                   (self.advanced_form, self.ssim_weight, paired),
                                   (self.advanced_form, self.identity_weight, not paired),
                                   (self.advanced_form, self.pool_size, not paired),
                                   (self.advanced_form, self.val_fraction, paired)):
            form.setRowVisible(widget, show)

    def mode(self) -> str:
        return self._mode

    def size_advice(self, min_side: int, median_side: int) -> tuple[str, str, tuple[int, int]] | None:
        """(warning, fix, (load size, crop size) of the fix) when the sizes do not suit images whose
        shorter sides are at least ``min_side`` and half at most ``median_side`` pixels: native-size
        crops that do not fit the smallest, or a resize that enlarges most of them; else None."""
        load, crop = self.load_size.value(), self.crop_size.value()
        if load == 0 and 0 < min_side < crop:
            fit = fitting_crop(min_side)
            return (self.tr("Crops of {crop} px do not fit in the smallest images ({side} px on their shorter "
                            "side).").format(crop=crop, side=min_side),
                    self.tr("Crop {0} px").format(fit), (0, fit))
        factor = enlargement(load, median_side)
        if factor < ENLARGE_WARNING:
            return None
        fit = fitting_crop(median_side)
        return (self.tr("Half of your images are {side} px or smaller on their shorter side: resized to {load} px "
                        "they are enlarged {factor:.1f}×, which adds no detail and makes each step about {cost:.0f}× "
                        "slower.").format(side=median_side, load=load, factor=factor, cost=factor ** 2),
                self.tr("Train at {0} px").format(fit), (fit, fit))

    def set_sizes(self, load_size: int, crop_size: int) -> None:
        self.load_size.setValue(load_size)
        self.crop_size.setValue(crop_size)

    def options(self, data: dict[str, Any]) -> TranslateOptions:
        """``TranslateOptions`` for ``data`` (``TranslateDataView.data()``); raises ``ConfigError``."""
        paired = data["mode"] == "paired"
        # only the settings this kind of run reads (the form keeps the others for a switch of mode)
        own = (dict(l1_weight=self.l1_weight.value(), ssim_weight=self.ssim_weight.value(),
                    val_fraction=self.val_fraction.value()) if paired else
               dict(n_blocks=self.n_blocks.value(), cycle_weight=self.cycle_weight.value(),
                    identity_weight=self.identity_weight.value(), pool_size=self.pool_size.value()))
        return TranslateOptions(
            mode=data["mode"], a_dir=data["a_dir"], b_dir=data.get("b_dir", ""),
            side_by_side=bool(data.get("side_by_side")),
            split=data.get("split", "A|B") if data.get("side_by_side") else "A|B",
            load_size=self.load_size.value(), crop_size=self.crop_size.value(), channels=self.channels.currentData(),
            flip=self.flip.isChecked(), shift=self.shift.value(), zoom=self.zoom.value(), ngf=self.ngf.value(),
            loss=self.loss.currentData(), clean_finish=self.clean_finish.value(), lr_decay=self.lr_decay.value(),
            **own)

    def run_label(self, options: TranslateOptions) -> str:
        """The model part of a new run folder's name."""
        return "pix2pix" if options.mode == "paired" else "cyclegan"
