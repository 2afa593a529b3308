"""Widgets of the Generate panel that show generated images enlarged, pixel for pixel.

GAN images are small (16 to 128 pixels), so they are drawn at a whole-number scale with
nearest-neighbour sampling: every pixel stays a crisp square instead of a blur. Only images larger
than their box are scaled down, smoothly.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PySide6.QtCore import QModelIndex, QPersistentModelIndex, QRect, QSize, Qt
from PySide6.QtGui import QColor, QFont, QImage, QPainter, QPalette, QPen
from PySide6.QtWidgets import (QAbstractItemView, QListView, QListWidget, QListWidgetItem, QSizePolicy,
                               QStyle, QStyledItemDelegate, QStyleOptionViewItem, QWidget)

#: pixels between a cell's edge and its image box
TILE_PADDING = 6
#: width of the frame drawn around a selected tile
SELECTION_FRAME = 3
#: narrowest cell, whatever the column count (keeps the seed caption readable)
MIN_CELL_WIDTH = 48


def array_to_qimage(image: np.ndarray) -> QImage:
    """A QImage holding its own copy of a uint8 [H, W, C] array (C = 1 or 3)."""
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] not in (1, 3):
        raise ValueError(f"Expected a uint8 image [H, W, 1 or 3], got {image.dtype} {list(image.shape)}.")
    data = np.ascontiguousarray(image)
    height, width, channels = data.shape
    fmt = QImage.Format.Format_Grayscale8 if channels == 1 else QImage.Format.Format_RGB888
    # .copy() detaches the QImage from the numpy buffer, which Python may free at any time
    return QImage(data.data, width, height, width * channels, fmt).copy()


def pixel_rect(image_size: QSize, box: QRect) -> QRect:
    """Where to draw an image inside ``box``: centred, at the largest whole-number scale that fits
    (or scaled down to fit when the image is larger than the box)."""
    w, h = image_size.width(), image_size.height()
    if w <= 0 or h <= 0 or box.width() <= 0 or box.height() <= 0:
        return QRect()
    scale = min(box.width() / w, box.height() / h)
    if scale >= 1:
        scale = int(scale)
    dw, dh = max(1, int(w * scale)), max(1, int(h * scale))
    return QRect(box.x() + (box.width() - dw) // 2, box.y() + (box.height() - dh) // 2, dw, dh)


def draw_pixels(painter: QPainter, box: QRect, image: QImage) -> QRect:
    """Draw ``image`` enlarged into ``box`` (see ``pixel_rect``); returns the rectangle used."""
    target = pixel_rect(image.size(), box)
    painter.save()
    enlarged = target.width() >= image.width()
    painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, not enlarged)
    painter.drawImage(target, image)
    painter.restore()
    return target


def outline_image(painter: QPainter, rect: QRect, palette: QPalette) -> None:
    """A hairline around an image, so that white-background images stand out from the white view."""
    painter.save()
    edge = QColor(palette.color(QPalette.ColorRole.Mid))
    edge.setAlpha(120)
    painter.setPen(QPen(edge, 1))
    painter.setBrush(Qt.BrushStyle.NoBrush)
    painter.drawRect(rect.adjusted(-1, -1, 0, 0))
    painter.restore()


@dataclass
class GenTile:
    """One generated image: what made it, and its pixels once they have arrived."""
    seed: int
    truncation: float
    image: np.ndarray | None = None     # uint8 [H, W, C]; None while it is being made
    qimage: QImage | None = None


class GenPixelView(QWidget):
    """One image shown as large as the widget allows, pixel-exact; a hint text when empty."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._image: QImage | None = None
        self._empty_text = ""
        self.setMinimumSize(128, 128)
        policy = QSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        policy.setHeightForWidth(True)   # a square: the images are square
        self.setSizePolicy(policy)

    def hasHeightForWidth(self) -> bool:  # noqa: N802 (Qt override)
        return True

    def heightForWidth(self, width: int) -> int:  # noqa: N802 (Qt override)
        return width

    def sizeHint(self) -> QSize:  # noqa: N802 (Qt override)
        return QSize(256, 256)

    def set_image(self, image: np.ndarray | None) -> None:
        self._image = None if image is None else array_to_qimage(image)
        self.update()

    def set_empty_text(self, text: str) -> None:
        self._empty_text = text
        self.update()

    def image(self) -> QImage | None:
        return self._image

    def paintEvent(self, event) -> None:  # noqa: N802 (Qt override)
        painter = QPainter(self)
        box = self.rect().adjusted(2, 2, -2, -2)
        painter.fillRect(self.rect(), self.palette().color(QPalette.ColorRole.Base))
        if self._image is not None:
            outline_image(painter, draw_pixels(painter, box, self._image), self.palette())
        else:
            painter.setPen(self.palette().color(QPalette.ColorRole.PlaceholderText))
            painter.drawText(box, Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap, self._empty_text)
        painter.end()


class _TileDelegate(QStyledItemDelegate):
    """Paints a tile: the image in a square box, the seed under it, a clear frame when selected."""

    def __init__(self, grid: GenImageGrid) -> None:
        super().__init__(grid)
        self._grid = grid

    def sizeHint(self, option: QStyleOptionViewItem,  # noqa: N802 (Qt override)
                 index: QModelIndex | QPersistentModelIndex) -> QSize:
        return self._grid.gridSize()

    def paint(self, painter: QPainter, option: QStyleOptionViewItem,
              index: QModelIndex | QPersistentModelIndex) -> None:
        tile = self._grid.tile(index.row())
        if tile is None:
            return
        palette = option.palette
        cell = option.rect.adjusted(2, 2, -2, -2)
        selected = bool(option.state & QStyle.StateFlag.State_Selected)
        hovered = bool(option.state & QStyle.StateFlag.State_MouseOver)
        highlight = palette.color(QPalette.ColorRole.Highlight)
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        if selected:
            fill = QColor(highlight)
            fill.setAlpha(55)
            painter.setPen(QPen(highlight, SELECTION_FRAME))
            painter.setBrush(fill)
            inset = SELECTION_FRAME // 2 + 1
            painter.drawRoundedRect(cell.adjusted(inset, inset, -inset, -inset), 6, 6)
        elif hovered:
            edge = QColor(highlight)
            edge.setAlpha(110)
            painter.setPen(QPen(edge, 1))
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.drawRoundedRect(cell.adjusted(1, 1, -1, -1), 6, 6)
        if option.state & QStyle.StateFlag.State_HasFocus and self._grid.hasFocus():
            # the keyboard's place (Ctrl+arrows move it, Ctrl+Space selects): a dotted frame
            painter.setPen(QPen(palette.color(QPalette.ColorRole.Text), 1, Qt.PenStyle.DotLine))
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.drawRoundedRect(cell.adjusted(1, 1, -1, -1), 6, 6)
        painter.restore()

        caption_height = option.fontMetrics.height() + 4
        side = min(cell.width(), cell.height() - caption_height) - 2 * TILE_PADDING
        box = QRect(cell.x() + (cell.width() - side) // 2, cell.y() + TILE_PADDING, side, side)
        if tile.qimage is not None:
            outline_image(painter, draw_pixels(painter, box, tile.qimage), palette)
        else:
            painter.save()
            pen = QPen(palette.color(QPalette.ColorRole.Mid), 1, Qt.PenStyle.DashLine)
            painter.setPen(pen)
            painter.drawRect(box.adjusted(0, 0, -1, -1))
            painter.setPen(palette.color(QPalette.ColorRole.PlaceholderText))
            painter.drawText(box, Qt.AlignmentFlag.AlignCenter, "…")
            painter.restore()

        caption = QRect(cell.x(), box.bottom() + 3, cell.width(), caption_height)
        painter.save()
        font = QFont(option.font)
        font.setBold(selected)
        painter.setFont(font)
        painter.setPen(palette.color(QPalette.ColorRole.Text))
        painter.drawText(caption, Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop,
                         index.data(Qt.ItemDataRole.DisplayRole))
        painter.restore()


class GenImageGrid(QListWidget):
    """Generated images in a fixed number of columns, enlarged to fill the width, each with its
    seed under it. Click selects; Ctrl/Shift-click selects several (``selected_tiles``)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._tiles: list[GenTile] = []
        self._columns = 4
        self._empty_text = ""
        self._drop_hint = ""
        self.setViewMode(QListView.ViewMode.IconMode)
        self.setMovement(QListView.Movement.Static)      # IconMode would let users drag tiles around
        self.setResizeMode(QListView.ResizeMode.Adjust)
        self.setFlow(QListView.Flow.LeftToRight)
        self.setWrapping(True)
        self.setUniformItemSizes(True)
        self.setSpacing(0)
        self.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.setDragDropMode(QAbstractItemView.DragDropMode.NoDragDrop)
        self.setAcceptDrops(False)            # drops go to the panel, which opens what was dropped
        self.viewport().setAcceptDrops(False)
        self.setMouseTracking(True)           # hover frame
        self.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.setItemDelegate(_TileDelegate(self))
        self.setMinimumWidth(3 * MIN_CELL_WIDTH)
        self._relayout()

    # ----- content
    def show_tiles(self, seeds: list[int], truncation: float) -> None:
        """Replace the grid with empty tiles for ``seeds`` (filled by ``set_images``)."""
        self.clear()
        self._tiles = [GenTile(seed, truncation) for seed in seeds]
        for tile in self._tiles:
            item = QListWidgetItem(self.tr("seed {seed}").format(seed=tile.seed))
            item.setToolTip(self.tr("Seed {seed}, truncation {truncation:.2f}. Click to select; Ctrl- or "
                                    "Shift-click to select several.")
                            .format(seed=tile.seed, truncation=truncation))
            self.addItem(item)
        self.viewport().update()

    def set_images(self, start: int, images: np.ndarray) -> None:
        """Fill the tiles ``start``, ``start + 1``... with uint8 images [N, H, W, C]."""
        for offset, image in enumerate(images):
            row = start + offset
            if not 0 <= row < len(self._tiles):
                continue
            tile = self._tiles[row]
            tile.image = image
            tile.qimage = array_to_qimage(image)
            self.update(self.indexFromItem(self.item(row)))

    def clear_tiles(self) -> None:
        self.clear()
        self._tiles = []

    def tile(self, row: int) -> GenTile | None:
        return self._tiles[row] if 0 <= row < len(self._tiles) else None

    def tiles(self) -> list[GenTile]:
        return list(self._tiles)

    def selected_tiles(self) -> list[GenTile]:
        """The selected tiles, in grid order."""
        rows = sorted(self.row(item) for item in self.selectedItems())
        return [self._tiles[r] for r in rows if 0 <= r < len(self._tiles)]

    def is_complete(self) -> bool:
        """True when there are tiles and every one has its image."""
        return bool(self._tiles) and all(t.image is not None for t in self._tiles)

    # ----- layout
    def columns(self) -> int:
        return self._columns

    def set_columns(self, columns: int) -> None:
        self._columns = max(1, int(columns))
        self._relayout()

    def set_empty_text(self, text: str) -> None:
        self._empty_text = text
        self.viewport().update()

    def set_drop_hint(self, text: str) -> None:
        """Show ``text`` over the grid while something is dragged over the panel ('' hides it)."""
        self._drop_hint = text
        self.viewport().update()

    def resizeEvent(self, event) -> None:  # noqa: N802 (Qt override)
        super().resizeEvent(event)
        self._relayout()

    def _relayout(self) -> None:
        # Reserve the scroll bar's width whether or not it shows: otherwise its appearance would
        # shrink the cells, which could hide it again, and the layout would flicker.
        scroll_bar = self.style().pixelMetric(QStyle.PixelMetric.PM_ScrollBarExtent)
        available = self.contentsRect().width() - scroll_bar - 2
        cell_width = max(MIN_CELL_WIDTH, available // self._columns)
        caption = self.fontMetrics().height() + 4
        cell = QSize(cell_width, cell_width + caption)
        if cell != self.gridSize():
            self.setGridSize(cell)

    def paintEvent(self, event) -> None:  # noqa: N802 (Qt override)
        super().paintEvent(event)
        text = self._drop_hint or (self._empty_text if not self._tiles else "")
        if not text:
            return
        painter = QPainter(self.viewport())
        rect = self.viewport().rect()
        if self._drop_hint:
            veil = QColor(self.palette().color(QPalette.ColorRole.Highlight))
            veil.setAlpha(40)
            painter.fillRect(rect, veil)
            painter.setPen(QPen(self.palette().color(QPalette.ColorRole.Highlight), 3, Qt.PenStyle.DashLine))
            painter.drawRect(rect.adjusted(2, 2, -3, -3))
            painter.setPen(self.palette().color(QPalette.ColorRole.Text))
        else:
            painter.setPen(self.palette().color(QPalette.ColorRole.PlaceholderText))
        font = QFont(self.font())
        font.setPointSizeF(font.pointSizeF() * 1.2)
        painter.setFont(font)
        painter.drawText(rect.adjusted(24, 24, -24, -24),
                         Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap, text)
        painter.end()
