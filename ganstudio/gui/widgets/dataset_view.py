"""What a dataset folder holds: a summary, the skipped files with reasons, thumbnails, and a preview
of exactly what the model will see after preprocessing."""
from __future__ import annotations

import html
import os
from collections.abc import Callable, Sequence

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QProgressBar, QTreeWidget, QTreeWidgetItem, QVBoxLayout, QWidget

from ganstudio.core.data import KIND_NAMES, Cancelled, ScanReport, make_grid

from ..theme import status_span
from .collapsible import CollapsibleSection
from .fix_note import FixNote
from .image_view import ImageView
from .themed_label import ThemedLabel

#: rows of the skipped-file list shown before it scrolls
_SKIPPED_ROWS_VISIBLE = 6


class DatasetView(QWidget):
    """The dataset part of the Train panel (display only; the panel runs the scans)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.summary = ThemedLabel(self.tr("Choose a folder of images to train on."))
        self.summary.setWordWrap(True)
        self.summary.setTextFormat(Qt.TextFormat.RichText)
        self.summary.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setTextVisible(True)
        self.progress.hide()

        self.skipped_list = QTreeWidget()
        self.skipped_list.setHeaderLabels([self.tr("File"), self.tr("Why it was skipped")])
        self.skipped_list.setRootIsDecorated(False)
        self.skipped_list.setAlternatingRowColors(True)
        self.skipped_list.setUniformRowHeights(True)
        row = self.skipped_list.fontMetrics().height() + 6
        self.skipped_list.setMaximumHeight(row * (_SKIPPED_ROWS_VISIBLE + 1) + 8)
        self.skipped_section = CollapsibleSection(self.tr("Skipped files"), self.skipped_list)
        self.skipped_section.hide()

        self.thumbnails = ImageView(self.tr("No images yet."), keep_aspect_height=True)
        self.thumbnails.setToolTip(self.tr("A few of the images in the folder, as they are."))
        self.preview = ImageView(self.tr("The preview appears after the scan."), keep_aspect_height=True)
        self.preview.setToolTip(self.tr(
            "Exactly what the model will see: the images after resizing, fitting, colour conversion and "
            "transparency handling. Random crops and flips vary per step; the centre is shown."))
        thumbs_title = QLabel(self.tr("<b>A few of your images</b>"))
        preview_title = QLabel(self.tr("<b>What the model sees</b>"))
        preview_title.setToolTip(self.preview.toolTip())
        self._preview_title = preview_title

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.size_note = FixNote()   # when the model would enlarge most images (the panel decides)
        layout.addWidget(self.summary)
        layout.addWidget(self.size_note)
        layout.addWidget(self.progress)
        layout.addWidget(self.skipped_section)
        layout.addWidget(thumbs_title)
        layout.addWidget(self.thumbnails)
        layout.addWidget(preview_title)
        layout.addWidget(self.preview)
        self._report: ScanReport | None = None

    def set_preview_visible(self, visible: bool) -> None:
        """Show or hide "What the model sees" (an upscaler sees random patches; there is nothing to preview)."""
        self._preview_title.setVisible(visible)
        self.preview.setVisible(visible)

    # -- states --------------------------------------------------------------------------------
    def show_scanning(self, folder: str) -> None:
        self._report = None
        self.size_note.show_note(None)
        self.summary.setText(self.tr("Scanning <b>{0}</b>…").format(html.escape(folder)))
        self.progress.setValue(0)
        self.progress.setFormat(self.tr("Scanning… %p%"))
        self.progress.show()
        self.skipped_section.hide()
        self.thumbnails.clear(self.tr("Looking at the images…"))
        self.preview.clear(self.tr("The preview appears after the scan."))

    def show_prompt(self, message: str) -> None:
        """No folder yet: say what to choose (not an error)."""
        self._report = None
        self.size_note.show_note(None)
        self.progress.hide()
        self.skipped_section.hide()
        self.summary.setText(html.escape(message))
        self.thumbnails.clear(self.tr("No images yet."))
        self.preview.clear(self.tr("The preview appears after the scan."))

    def set_progress(self, fraction: float) -> None:
        self.progress.setValue(round(1000 * min(max(fraction, 0.0), 1.0)))

    def show_error(self, message: str) -> None:
        self._report = None
        self.size_note.show_note(None)
        self.progress.hide()
        self.skipped_section.hide()
        self.summary.setText(status_span("error", f"&#9888; {html.escape(message)}"))
        self.thumbnails.clear(self.tr("No usable images."))
        self.preview.clear("")

    def show_report(self, report: ScanReport, thumbnails: np.ndarray | None) -> None:
        self._report = report
        self.progress.hide()
        self.summary.setText(self._summary_html(report))
        self._fill_skipped(report)
        if thumbnails is not None:
            self.thumbnails.set_image(thumbnails)
        else:
            self.thumbnails.clear(self.tr("No thumbnails for this kind of dataset."))
        self.preview.clear(self.tr("Preparing the preview…"))

    def show_preview(self, grid: np.ndarray | None, caption: str) -> None:
        if grid is None:
            self.preview.clear(caption)
        else:
            self.preview.set_image(grid, caption)

    def report(self) -> ScanReport | None:
        return self._report

    def summary_text(self) -> str:
        """The summary as plain text (what a user reads)."""
        from PySide6.QtGui import QTextDocument

        doc = QTextDocument()
        doc.setHtml(self.summary.text())
        return doc.toPlainText()

    # -- content -------------------------------------------------------------------------------
    def _summary_html(self, report: ScanReport) -> str:
        count = report.image_count()
        name = html.escape(report.root.name or str(report.root))
        lines = []
        if count:
            lines.append(self.tr("Images found in <b>{0}</b>: <b>{1}</b>").format(name, f"{count:,}"))
        else:
            lines.append(status_span("error", "&#9888; " + self.tr("No usable images in <b>{0}</b>.").format(name)))
        if report.kind != "images":
            lines.append(self.tr("Read as a {0} dataset.").format(KIND_NAMES[report.kind]))
        size_range = report.size_range()
        if size_range is not None and report.kind == "images":
            (w0, h0), (w1, h1) = size_range
            if (w0, h0) == (w1, h1):
                lines.append(self.tr("Sizes: all {0}×{1} pixels").format(w0, h0))
            else:
                lines.append(self.tr("Sizes: {0}×{1} to {2}×{3} pixels").format(w0, h0, w1, h1))
        if report.skipped:
            lines.append(self.tr("Skipped files: {0} (the list below says why)").format(f"{len(report.skipped):,}"))
        if report.mislabelled:
            lines.append(self.tr("Files whose extension does not match their content (used anyway): {0}").format(
                f"{len(report.mislabelled):,}"))
        if report.other_files:
            lines.append(self.tr("Other files ignored (not images): {0}").format(f"{report.other_files:,}"))
        lines.extend(html.escape(note) for note in report.notes)
        return "<br>".join(lines)

    def _fill_skipped(self, report: ScanReport) -> None:
        self.skipped_list.clear()
        if not report.skipped:
            self.skipped_section.hide()
            return
        items = []
        for skipped in report.skipped:
            try:
                shown = skipped.path.relative_to(report.root).as_posix()
            except ValueError:
                shown = str(skipped.path)
            item = QTreeWidgetItem([shown, skipped.reason])
            item.setToolTip(0, str(skipped.path))
            item.setToolTip(1, skipped.reason)
            items.append(item)
        self.skipped_list.addTopLevelItems(items)
        self.skipped_list.resizeColumnToContents(0)
        self.skipped_section.set_title(self.tr("Skipped files ({0})").format(f"{len(report.skipped):,}"))
        self.skipped_section.show()

    def skipped_rows(self) -> list[tuple[str, str]]:
        """(file, reason) rows of the skipped-file list."""
        return [(self.skipped_list.topLevelItem(i).text(0), self.skipped_list.topLevelItem(i).text(1))
                for i in range(self.skipped_list.topLevelItemCount())]


def image_thumbnails(paths: Sequence[str | os.PathLike[str]], side: int,
                     should_stop: Callable[[], bool] = lambda: False) -> list[np.ndarray]:
    """Each image fitted into a transparent ``side`` square (uint8 HxWx4, RGBA); unreadable files
    are left out. An ``ImageView`` shows them on the palette's Base colour, white on a light palette.

    Plain Python (it runs in background jobs). Raises ``Cancelled`` when ``should_stop()`` turns True.
    """
    from PIL import Image, ImageOps

    tiles = []
    for path in paths:
        if should_stop():
            raise Cancelled("Thumbnails were cancelled.")
        try:
            with Image.open(path) as im:
                im.draft("RGB", (side * 2, side * 2))
                im = ImageOps.exif_transpose(im).convert("RGBA")
                im.thumbnail((side, side), Image.Resampling.LANCZOS)
                tile = Image.new("RGBA", (side, side), (0, 0, 0, 0))
                tile.alpha_composite(im, ((side - im.width) // 2, (side - im.height) // 2))
                tiles.append(np.asarray(tile))
        except (OSError, ValueError, Image.DecompressionBombError):
            continue     # the scan accepted it; a thumbnail is not worth an error
    return tiles


def thumbnail_sheet(tiles: np.ndarray, nrow: int) -> np.ndarray:
    """RGBA tiles [N, H, W, 4] in one RGBA grid, ``nrow`` per row, with transparent gaps between them
    (``make_grid``'s layout), to be shown on the palette's Base colour by an ``ImageView``."""
    colour = make_grid(np.ascontiguousarray(tiles[..., :3]), nrow=nrow, pad_value=0)
    alpha = make_grid(np.ascontiguousarray(tiles[..., 3:]), nrow=nrow, pad_value=0)
    return np.concatenate([colour, alpha], axis=2)
