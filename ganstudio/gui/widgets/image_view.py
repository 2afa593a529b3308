"""A uint8 numpy image (a grid of samples, thumbnails, previews) drawn to fit, with a caption.

Small images are enlarged by a whole factor (2x, 3x...) with nearest-neighbour sampling, so a 16x16
sample shows crisp square pixels instead of blur; an image that fits but cannot be doubled is
enlarged smoothly to fill the space, and one larger than the widget is reduced smoothly.

An image with an alpha channel (thumbnails of the user's files) is shown on the palette's Base
colour, like a page: white on a light palette, dark on a dark one, and again when the palette changes.
"""
from __future__ import annotations

import math

import numpy as np
from PySide6.QtCore import QEvent, QPoint, QPointF, QRect, QRectF, QSize, Qt
from PySide6.QtGui import QColor, QImage, QPainter, QPalette
from PySide6.QtWidgets import QLabel, QSizePolicy, QVBoxLayout, QWidget


def to_qimage(array: np.ndarray) -> QImage:
    """uint8 HxWxC (C = 1, 3 or 4) or HxW -> a QImage that owns its pixels."""
    if array.dtype != np.uint8:
        raise ValueError(f"Expected a uint8 image, got {array.dtype}.")
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    formats = {2: QImage.Format.Format_Grayscale8, 3: QImage.Format.Format_RGB888, 4: QImage.Format.Format_RGBA8888}
    channels = 2 if array.ndim == 2 else array.shape[2]
    if channels not in formats:
        raise ValueError(f"Expected 1, 3 or 4 channels, got shape {array.shape}.")
    array = np.ascontiguousarray(array)
    height, width = array.shape[:2]
    # QImage borrows the buffer; copy() detaches it so the numpy array may be freed.
    return QImage(array.data, width, height, array.strides[0], formats[channels]).copy()


def on_paper(rgba: np.ndarray, paper: QColor) -> np.ndarray:
    """uint8 HxWx4 composited over an opaque ``paper`` colour: uint8 HxWx3 (Pillow's arithmetic,
    so that on white it is exactly the old thumbnails, which Pillow composited on white)."""
    from PIL import Image

    page = Image.new("RGBA", (rgba.shape[1], rgba.shape[0]), (paper.red(), paper.green(), paper.blue(), 255))
    page.alpha_composite(Image.fromarray(np.ascontiguousarray(rgba), "RGBA"))
    return np.asarray(page.convert("RGB"))


def _fit_scale(scale: float) -> float:
    """The drawing scale for an image that would just fit at ``scale``: a whole factor from 2x up."""
    return math.floor(scale) if scale >= 2 else scale


class _Canvas(QWidget):
    def __init__(self, placeholder: str, keep_aspect_height: bool, top_aligned: bool,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._top_aligned = top_aligned
        self._image: QImage | None = None
        self._scaled: QImage | None = None      # the image at its drawn size, made once per size
        self._placeholder = placeholder
        self._keep_aspect_height = keep_aspect_height
        policy = QSizePolicy(QSizePolicy.Policy.Expanding,
                             QSizePolicy.Policy.Preferred if keep_aspect_height else QSizePolicy.Policy.Expanding)
        policy.setHeightForWidth(keep_aspect_height)
        self.setSizePolicy(policy)

    def set_image(self, image: QImage | None) -> None:
        self._image = image
        self._scaled = None
        self.updateGeometry()
        self.update()

    def set_placeholder(self, text: str) -> None:
        self._placeholder = text
        self.update()

    def hasHeightForWidth(self) -> bool:  # noqa: N802 (Qt override)
        return self._keep_aspect_height

    def heightForWidth(self, width: int) -> int:  # noqa: N802
        if self._image is None or self._image.width() == 0:
            return 48
        return max(24, int(self._image.height() * _fit_scale(width / self._image.width())))

    def sizeHint(self) -> QSize:  # noqa: N802
        if self._image is None:
            return QSize(160, 96)
        return self._image.size()

    def minimumSizeHint(self) -> QSize:  # noqa: N802
        return QSize(48, 24)

    def _placement(self) -> tuple[QPoint, QSize, float]:
        """Where and how big the image is drawn, in the screen's own pixels: (top-left corner, size,
        pixels per layout unit). Working in screen pixels, a 16x16 sample enlarged by a whole factor
        stays crisp at 150 % scaling (a whole factor of layout units is not one of screen pixels),
        and a reduction is made once, at the screen's resolution, instead of being enlarged again
        by the scaling."""
        ratio = self.devicePixelRatioF()
        width, height = round(self.width() * ratio), round(self.height() * ratio)
        iw, ih = self._image.width(), self._image.height()
        scale = _fit_scale(min(width / iw, height / ih))
        w, h = max(1, int(iw * scale)), max(1, int(ih * scale))
        top = 0 if self._top_aligned else (height - h) // 2
        return QPoint((width - w) // 2, top), QSize(w, h), ratio

    def target_rect(self) -> QRect:
        """Where the image is drawn (layout units): centred, a whole-number enlargement or a smooth reduction."""
        if self._image is None:
            return QRect()
        corner, size, ratio = self._placement()
        return QRectF(corner.x() / ratio, corner.y() / ratio, size.width() / ratio, size.height() / ratio).toRect()

    def paintEvent(self, event) -> None:  # noqa: N802
        painter = QPainter(self)
        if self._image is None:
            painter.setPen(self.palette().color(QPalette.ColorRole.PlaceholderText))
            painter.drawText(self.rect().adjusted(6, 6, -6, -6),
                             Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap, self._placeholder)
            return
        corner, size, ratio = self._placement()
        if self._scaled is None or self._scaled.size() != size:
            # Scaled once per image and size: a repaint (another widget, a tooltip) only copies pixels.
            whole = size.width() % self._image.width() == 0 and size.height() % self._image.height() == 0
            mode = (Qt.TransformationMode.FastTransformation if whole     # fast = nearest neighbour
                    else Qt.TransformationMode.SmoothTransformation)
            self._scaled = self._image.scaled(size, Qt.AspectRatioMode.IgnoreAspectRatio, mode)
        self._scaled.setDevicePixelRatio(ratio)
        painter.drawImage(QPointF(corner.x() / ratio, corner.y() / ratio), self._scaled)


class ImageView(QWidget):
    """An image with a caption line, or a placeholder sentence when there is none.

    ``caption_above``: the caption is a heading over the image, which then sits at the top of the
    space (for a large area such as the live samples); otherwise the caption follows the image.
    """

    def __init__(self, placeholder: str = "", *, keep_aspect_height: bool = False, caption_above: bool = False,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.canvas = _Canvas(placeholder, keep_aspect_height, caption_above, self)
        self.caption = QLabel(self)
        self.caption.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.caption.setWordWrap(True)
        self.caption.hide()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        if caption_above:
            layout.addWidget(self.caption)
        layout.addWidget(self.canvas, 1)
        if not caption_above:
            layout.addWidget(self.caption)
        self._array_shape: tuple[int, ...] | None = None
        self._with_alpha: np.ndarray | None = None     # an RGBA image, put on the paper again after a palette change

    def set_image(self, array: np.ndarray | None, caption: str = "") -> None:
        """Show a uint8 HxW or HxWxC image (C = 1, 3, or 4: RGBA, shown on the palette's Base)."""
        self._array_shape = None if array is None else tuple(array.shape)
        self._with_alpha = array if array is not None and array.ndim == 3 and array.shape[2] == 4 else None
        if self._with_alpha is not None:
            array = on_paper(self._with_alpha, self.paper_colour())
        self.canvas.set_image(None if array is None else to_qimage(array))
        self.set_caption(caption)

    def paper_colour(self) -> QColor:
        """What transparent pixels are shown on: the palette's Base (white on a light palette)."""
        return self.palette().color(QPalette.ColorRole.Base)

    def changeEvent(self, event: QEvent) -> None:  # noqa: N802 (Qt override)
        super().changeEvent(event)
        if event.type() == QEvent.Type.PaletteChange and self._with_alpha is not None:
            self.canvas.set_image(to_qimage(on_paper(self._with_alpha, self.paper_colour())))

    def set_caption(self, caption: str) -> None:
        self.caption.setText(caption)
        self.caption.setVisible(bool(caption))

    def clear(self, placeholder: str | None = None) -> None:
        if placeholder is not None:
            self.canvas.set_placeholder(placeholder)
        self.set_image(None)

    def has_image(self) -> bool:
        return self._array_shape is not None

    def image_shape(self) -> tuple[int, ...] | None:
        """Shape of the array shown (H, W, C), or None."""
        return self._array_shape
