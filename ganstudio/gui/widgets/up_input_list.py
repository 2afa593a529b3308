"""The Upscale panel's list of opened images: a thumbnail, the name and the size of each.

Files are listed at once by name; thumbnails and sizes arrive later from a background job
(``set_preview``). A file that cannot be read stays in the list with a warning sign and the
reason, because a batch will report it too.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QIcon, QPixmap
from PySide6.QtWidgets import QAbstractItemView, QListWidget, QListWidgetItem, QStyle, QWidget

from .image_view import to_qimage
from .layout import screen_pixels

#: thumbnail side in pixels (small enough for a few rows on a 1366x768 laptop); on a high-density
#: screen (125-200 % scaling) thumbnails are made with that many more pixels (``thumbnail_pixels``)
THUMB_SIDE = 40
#: rows always shown: with less room the side column scrolls instead of squeezing the list further
MIN_VISIBLE_ROWS = 3
#: air above and below the taller of a row's thumbnail and its two lines of text (name, size)
ROW_AIR = 6
_PATH_ROLE = Qt.ItemDataRole.UserRole


class UpInputList(QListWidget):
    """Opened images, one row each; ``current_path_changed`` says which one is selected."""

    current_path_changed = Signal(object)     # Path, or None when the list is emptied

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setIconSize(QSize(THUMB_SIDE, THUMB_SIDE))
        self.setUniformItemSizes(True)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        self.setAcceptDrops(False)          # drops go to the panel, which opens what was dropped
        self.viewport().setAcceptDrops(False)
        blank = QPixmap(THUMB_SIDE, THUMB_SIDE)
        blank.fill(Qt.GlobalColor.transparent)
        self._blank = QIcon(blank)
        self._broken = self.style().standardIcon(QStyle.StandardPixmap.SP_MessageBoxWarning)
        self.currentRowChanged.connect(self._on_current_row_changed)
        self.setMinimumHeight(MIN_VISIBLE_ROWS * self.row_height() + 2 * self.frameWidth())

    def row_height(self) -> int:
        """A row's height: its thumbnail or its two lines of text (at a large font), and some air."""
        return max(THUMB_SIDE, 2 * self.fontMetrics().lineSpacing()) + ROW_AIR

    def thumbnail_pixels(self) -> int:
        """The side, in image pixels, of sharp thumbnails on this list's screen: ``THUMB_SIDE``
        times its scaling (a 40-pixel thumbnail blown up to 80 screen pixels looked blurred at 200 %)."""
        return screen_pixels(self, THUMB_SIDE)

    def set_inputs(self, entries: list[tuple[Path, str]]) -> None:
        """Replace the list with (file, name shown) entries; the first one becomes current."""
        self.blockSignals(True)
        self.clear()
        for path, name in entries:
            item = QListWidgetItem(self._blank, name)
            item.setData(_PATH_ROLE, str(path))
            item.setToolTip(str(path))
            item.setSizeHint(QSize(0, self.row_height()))
            self.addItem(item)
        self.blockSignals(False)
        if entries:
            self.setCurrentRow(0)
        else:
            self.current_path_changed.emit(None)

    def set_preview(self, row: int, thumbnail: np.ndarray | None, size: tuple[int, int] | None,
                    problem: str | None = None) -> None:
        """Show a row's thumbnail (uint8 HxWx1/3/4) and pixel size, or why the file cannot be read."""
        item = self.item(row)
        if item is None:
            return
        name = item.text().split("\n")[0]
        if problem:
            item.setIcon(self._broken)
            item.setText(name + "\n" + self.tr("cannot be read"))
            item.setToolTip(f"{item.data(_PATH_ROLE)}\n{problem}")
            return
        if thumbnail is not None:
            # a thumbnail made for a high-density screen is drawn at THUMB_SIDE, one image pixel per
            # screen pixel (QIcon picks the pixmap with the pixels the screen needs)
            pixmap = QPixmap.fromImage(to_qimage(thumbnail))
            pixmap.setDevicePixelRatio(max(1.0, max(thumbnail.shape[:2]) / THUMB_SIDE))
            item.setIcon(QIcon(pixmap))
        if size is not None:
            item.setText(name + "\n" + self.tr("{width} × {height}").format(width=size[0], height=size[1]))

    def paths(self) -> list[Path]:
        return [Path(self.item(row).data(_PATH_ROLE)) for row in range(self.count())]

    def current_path(self) -> Path | None:
        item = self.currentItem()
        return Path(item.data(_PATH_ROLE)) if item is not None else None

    def problem(self, row: int) -> str | None:
        """Why a row's file cannot be read (None if it can, or is not known yet)."""
        item = self.item(row)
        if item is None or "\n" not in item.toolTip():
            return None
        return item.toolTip().split("\n", 1)[1]

    def _on_current_row_changed(self, row: int) -> None:
        self.current_path_changed.emit(Path(self.item(row).data(_PATH_ROLE)) if row >= 0 else None)
