"""Before / after view of an upscaled image: one canvas split by a line that the user drags.

Both halves show the same region of the image in output pixels, so zoom and pan are shared by
construction: left of the line the input (enlarged to the output size), right of it the result.
From 100 % up, pixels are drawn with nearest-neighbour sampling, so they can be judged one by one
(the input then shows its real pixels as blocks, which is what an upscaler starts from); below
100 % both sides are reduced smoothly. The mouse wheel zooms around the cursor, dragging pans,
double-click switches between fit-to-window and 100 %.

The zoom is in screen pixels as the display counts them: at 100 % one output pixel is one physical
pixel also on a high-density screen (at 200 % display scaling it is half a layout unit), so pixels
are judged at their true size, as in photo editors' "actual pixels".
"""
from __future__ import annotations

import math

import numpy as np
from PySide6.QtCore import QEvent, QPointF, QRectF, QSize, Qt, Signal
from PySide6.QtGui import (QAction, QBrush, QColor, QFont, QImage, QKeySequence, QMouseEvent, QPainter,
                           QPainterPath, QPalette, QPen, QPixmap, QWheelEvent)
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QSizePolicy, QToolButton, QWidget

from .image_view import to_qimage

#: zoom limits (1.0: one output pixel per physical screen pixel); fitting a huge image may go below the minimum
MIN_ZOOM, MAX_ZOOM = 0.05, 32.0
#: one wheel notch (or one zoom-in step) multiplies the zoom by this
ZOOM_STEP = 1.25
#: a press this close to the split line (screen pixels) moves the line rather than the image
SPLIT_GRAB = 8
#: side of a checkerboard square behind transparent pixels
CHECKER = 8
#: empty screen pixels kept around an image fitted to the window
FIT_MARGIN = 12
#: the view's background: a neutral grey that biases neither dark nor light images
BACKGROUND = QColor(56, 56, 56)
#: radius of the round grip in the middle of the split line
GRIP_RADIUS = 13


def display_image(pixels: np.ndarray) -> QImage:
    """A QImage for fast painting of a uint8 HxWxC array (C = 1 grey, 2 grey+alpha, 3, 4).

    Grey and RGB images share the array's memory instead of copying it (an upscaled photo can be
    hundreds of megabytes); the caller keeps the array alive as long as the image. Images with
    alpha are converted to premultiplied ARGB, which Qt paints several times faster.
    """
    if pixels.ndim == 3 and pixels.shape[2] in (2, 4):
        if pixels.shape[2] == 2:   # grey + alpha: Qt has no such format
            grey, alpha = pixels[:, :, :1], pixels[:, :, 1:]
            pixels = np.concatenate([grey, grey, grey, alpha], axis=2)
        return to_qimage(pixels).convertToFormat(QImage.Format.Format_ARGB32_Premultiplied)
    if pixels.ndim == 3 and pixels.shape[2] not in (1, 3) or pixels.dtype != np.uint8:
        raise ValueError(f"Expected a uint8 image [H, W, 1..4], got {pixels.dtype} {list(pixels.shape)}.")
    if not pixels.flags.c_contiguous:
        raise ValueError("Expected a C-contiguous image array (it is shown without a copy).")
    height, width = pixels.shape[:2]
    rgb = pixels.ndim == 3 and pixels.shape[2] == 3
    fmt = QImage.Format.Format_RGB888 if rgb else QImage.Format.Format_Grayscale8
    return QImage(pixels.data, width, height, pixels.strides[0], fmt)


class UpCompareView(QWidget):
    """The split before/after canvas with a small floating zoom bar (Fit, 100 %, the zoom level).

    ``set_images(before, after, scale)`` takes uint8 arrays; without ``after`` the input alone is
    shown, enlarged by ``scale`` so that the view does not jump when the result arrives.
    """

    split_changed = Signal(float)       # the line's position, 0 (left edge) .. 1 (right edge)
    zoom_changed = Signal(float)        # 1.0 = 100 %

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._arrays: list[np.ndarray | None] = [None, None]   # the pixels of the two images
        self._before: QImage | None = None
        self._after: QImage | None = None
        self._size = QSize()                 # the image in output pixels (what both sides fill)
        self._zoom = 1.0
        self._fitted = True                  # follow the window size until the user zooms or pans
        self._centre = QPointF()             # the image point (output pixels) at the widget's centre
        self._split = 0.5
        self._drag: str | None = None        # "split" | "pan" while a mouse button is held
        self._last_pos = QPointF()
        self._reduced: dict[str, QImage] = {}   # smooth reductions at the current zoom (below 100 %)
        self._labels = ("", "")
        self._empty_text = ""
        self._drop_hint = ""
        self.setMouseTracking(True)
        self.setMinimumSize(240, 180)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setFocusPolicy(Qt.FocusPolicy.ClickFocus)
        self._make_actions()
        self._make_zoom_bar()

    # ------------------------------------------------------------------ construction
    def _make_actions(self) -> None:
        def action(text: str, tip: str, keys: QKeySequence | str, slot) -> QAction:
            act = QAction(text, self)
            act.setShortcut(QKeySequence(keys))
            act.setToolTip(f"{tip} ({act.shortcut().toString(QKeySequence.SequenceFormat.NativeText)})")
            act.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
            act.triggered.connect(lambda _checked=False: slot())
            return act

        self.fit_action = action(self.tr("Fit"), self.tr("Show the whole image"), "Ctrl+0",
                                 self.fit_to_window)
        self.actual_size_action = action(self.tr("100%"), self.tr("One image pixel per screen pixel"),
                                         "Ctrl+Alt+0", self.zoom_to_actual_size)
        self.zoom_in_action = action(self.tr("Zoom In"), self.tr("Zoom in"), QKeySequence.StandardKey.ZoomIn,
                                     lambda: self.set_zoom(self._zoom * ZOOM_STEP))
        self.zoom_out_action = action(self.tr("Zoom Out"), self.tr("Zoom out"),
                                      QKeySequence.StandardKey.ZoomOut,
                                      lambda: self.set_zoom(self._zoom / ZOOM_STEP))

    def _make_zoom_bar(self) -> None:
        self._bar = QFrame(self)
        self._bar.setObjectName("zoomBar")
        self._bar.setAutoFillBackground(True)
        self._bar.setFrameShape(QFrame.Shape.StyledPanel)
        layout = QHBoxLayout(self._bar)
        layout.setContentsMargins(4, 2, 8, 2)
        layout.setSpacing(4)
        for act, name in ((self.fit_action, "fit"), (self.actual_size_action, "actualSize")):
            button = QToolButton(self._bar)
            button.setDefaultAction(act)
            button.setObjectName(name)
            layout.addWidget(button)
        line = QFrame(self._bar)
        line.setFrameShape(QFrame.Shape.VLine)
        line.setFrameShadow(QFrame.Shadow.Sunken)
        layout.addWidget(line)
        self._zoom_label = QLabel(self._bar)
        self._zoom_label.setObjectName("zoomLevel")
        self._zoom_label.setToolTip(self.tr("Zoom, in pixels of the result: at 100% each pixel of the "
                                            "output is one physical pixel of the screen, also with display "
                                            "scaling (a smaller input is enlarged to the output's size to "
                                            "compare them). Wheel: zoom around the pointer; drag: move the "
                                            "image; double-click: fit or 100%."))
        widest = self.tr("Zoom {percent}").format(percent="3200%")
        self._zoom_label.setMinimumWidth(self._zoom_label.fontMetrics().horizontalAdvance(widest) + 4)
        layout.addWidget(self._zoom_label)
        self._bar.hide()

    def zoom_actions(self) -> list[QAction]:
        """Fit, 100 %, zoom in and out (for a menu; add them to a widget to make their keys work)."""
        return [self.fit_action, self.actual_size_action, self.zoom_in_action, self.zoom_out_action]

    # ------------------------------------------------------------------ content
    def set_images(self, before: np.ndarray | None, after: np.ndarray | None = None, scale: int = 1) -> None:
        """Show the input ``before`` and the result ``after`` (uint8 HxWxC arrays; either may be None).

        Without ``after`` the input fills ``scale`` times its size. Zoom and pan are kept when the
        image's output size stays the same; otherwise the view fits the new image.
        """
        arrays = [np.ascontiguousarray(a) if a is not None else None for a in (before, after)]
        self._arrays = arrays            # the QImages below may use these arrays' memory
        self._before = display_image(arrays[0]) if arrays[0] is not None else None
        self._after = display_image(arrays[1]) if arrays[1] is not None else None
        if self._after is not None:
            size = self._after.size()
        elif self._before is not None:
            size = self._before.size() * max(1, int(scale))
        else:
            size = QSize()
        if size != self._size:
            self._size = size
            self._centre = QPointF(size.width() / 2, size.height() / 2)
            self._fitted = True
        self._reduced.clear()
        if self._fitted:
            self._apply_fit()
        self._bar.setVisible(not self._size.isEmpty())
        self._update_zoom_label()
        self.update()

    def clear(self) -> None:
        self.set_images(None, None)

    def has_before(self) -> bool:
        return self._before is not None

    def has_after(self) -> bool:
        return self._after is not None

    def image_size(self) -> QSize:
        """The compared image's size in output pixels (empty when nothing is shown)."""
        return QSize(self._size)

    def set_labels(self, before: str, after: str) -> None:
        """Captions drawn at the top of each side."""
        self._labels = (before, after)
        self.update()

    def labels(self) -> tuple[str, str]:
        return self._labels

    def set_empty_text(self, text: str) -> None:
        self._empty_text = text
        self.update()

    def set_drop_hint(self, text: str) -> None:
        """Show ``text`` over the view while files are dragged over it ('' hides it)."""
        self._drop_hint = text
        self.update()

    # ------------------------------------------------------------------ split
    def split(self) -> float:
        """Where the line is, as a fraction of the view's width."""
        return self._split

    def set_split(self, fraction: float) -> None:
        fraction = min(1.0, max(0.0, float(fraction)))
        if fraction != self._split:
            self._split = fraction
            self.split_changed.emit(fraction)
            self.update()

    def split_x(self) -> int:
        """The line's x position in the view, in pixels."""
        return round(self._split * self.width())

    # ------------------------------------------------------------------ zoom and pan
    def zoom(self) -> float:
        return self._zoom

    def is_fitted(self) -> bool:
        """True while the view follows the window size (fit-to-window)."""
        return self._fitted

    def smooth_transform(self) -> bool:
        """True when the images are drawn reduced and smoothed; False from 100 % up (nearest neighbour)."""
        return self._zoom < 1.0

    def fit_zoom(self) -> float:
        """The zoom at which the whole image fits the view: reduced if it is larger, else enlarged by a
        whole factor (so that each pixel becomes an even square)."""
        if self._size.isEmpty():
            return 1.0
        fits = min((self.width() - 2 * FIT_MARGIN) / self._size.width(),
                   (self.height() - 2 * FIT_MARGIN) / self._size.height())
        fits = max(fits * self.devicePixelRatioF(), 1e-3)    # in physical pixels, as the zoom is
        return fits if fits < 1 else float(math.floor(fits))

    def fit_to_window(self) -> None:
        self._fitted = True
        self._apply_fit()
        self.update()

    def zoom_to_actual_size(self) -> None:
        self.set_zoom(1.0)

    def set_zoom(self, zoom: float, anchor: QPointF | None = None) -> None:
        """Zoom to ``zoom`` keeping the image point under ``anchor`` (view coordinates; default: the
        centre) where it is."""
        if self._size.isEmpty():
            return
        zoom = min(MAX_ZOOM, max(min(MIN_ZOOM, self.fit_zoom()), float(zoom)))
        anchor = anchor if anchor is not None else QPointF(self.width() / 2, self.height() / 2)
        fixed = self.map_to_image(anchor)
        self._fitted = False
        self._set_zoom_value(zoom)
        # the image point under the anchor stays under it
        view_centre = QPointF(self.width() / 2, self.height() / 2)
        self._centre = fixed - (anchor - view_centre) / self._scale()
        self._clamp_centre()
        self.update()

    def centre(self) -> QPointF:
        """The image point (output pixels) at the centre of the view."""
        return QPointF(self._centre)

    def centre_on(self, point: QPointF) -> None:
        self._fitted = False
        self._centre = QPointF(point)
        self._clamp_centre()
        self.update()

    def map_to_image(self, pos: QPointF) -> QPointF:
        """A view position in image (output pixel) coordinates."""
        return (pos - self._origin()) / self._scale()

    def _scale(self) -> float:
        """Layout units per output pixel: the zoom is in physical pixels, a layout unit is
        ``devicePixelRatio`` of them."""
        return self._zoom / self.devicePixelRatioF()

    def _origin(self) -> QPointF:
        """Where the image's top-left corner is in the view."""
        return QPointF(self.width() / 2, self.height() / 2) - self._centre * self._scale()

    def _apply_fit(self) -> None:
        self._centre = QPointF(self._size.width() / 2, self._size.height() / 2)
        self._set_zoom_value(self.fit_zoom())

    def _set_zoom_value(self, zoom: float) -> None:
        if zoom != self._zoom:
            self._zoom = zoom
            self._reduced.clear()
            self._update_zoom_label()
            self.zoom_changed.emit(zoom)

    def _clamp_centre(self) -> None:
        self._centre = QPointF(min(max(self._centre.x(), 0.0), float(self._size.width())),
                               min(max(self._centre.y(), 0.0), float(self._size.height())))

    def _update_zoom_label(self) -> None:
        percent = self._zoom * 100
        shown = f"{percent:.0f}%" if percent >= 10 else f"{percent:.1f}%"
        self._zoom_label.setText(self.tr("Zoom {percent}").format(percent=shown))
        self._place_bar()

    # ------------------------------------------------------------------ painting
    def paintEvent(self, event) -> None:
        painter = QPainter(self)
        painter.fillRect(self.rect(), BACKGROUND)
        if self._before is None and self._after is None:
            self._draw_text(painter, self._empty_text, QColor(200, 200, 200))
        else:
            width, height = float(self.width()), float(self.height())
            line = float(self.split_x())
            whole = QRectF(0, 0, width, height)
            if self._after is None:
                self._draw_side(painter, "before", self._before, whole)
            else:
                left, right = QRectF(0, 0, line, height), QRectF(line, 0, width - line, height)
                if self._before is not None:
                    self._draw_side(painter, "before", self._before, left)
                self._draw_side(painter, "after", self._after, right)
                self._draw_labels(painter, left, right)
                self._draw_split_line(painter, line)
            if self._after is None and self._labels[0]:
                self._draw_badge(painter, self._labels[0], whole, Qt.AlignmentFlag.AlignLeft)
        if self._drop_hint:
            veil = QColor(self.palette().color(QPalette.ColorRole.Highlight))
            veil.setAlpha(70)
            painter.fillRect(self.rect(), veil)
            painter.setPen(QPen(self.palette().color(QPalette.ColorRole.Highlight), 3, Qt.PenStyle.DashLine))
            painter.drawRect(self.rect().adjusted(2, 2, -3, -3))
            self._draw_text(painter, self._drop_hint, QColor(255, 255, 255))
        painter.end()

    def _draw_text(self, painter: QPainter, text: str, colour: QColor) -> None:
        font = QFont(self.font())
        font.setPointSizeF(font.pointSizeF() * 1.15)
        painter.setFont(font)
        painter.setPen(colour)
        painter.drawText(self.rect().adjusted(32, 32, -32, -32),
                         Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap, text)

    def _draw_side(self, painter: QPainter, which: str, image: QImage, clip: QRectF) -> None:
        origin = self._origin()
        target = QRectF(origin.x(), origin.y(),
                        self._size.width() * self._scale(), self._size.height() * self._scale())
        visible = clip.intersected(target)
        if visible.isEmpty():
            return
        painter.save()
        painter.setClipRect(visible)
        if image.hasAlphaChannel():
            painter.fillRect(visible, _checkerboard())
        if self._zoom < 1.0:
            # reduced once per zoom level: a smooth, area-averaged reduction, not a sparse sampling;
            # made at the screen's own resolution (at 200 % scaling, twice the pixels), not enlarged
            # again by the scaling, which blurred every fitted photo on a high-density screen
            ratio = self.devicePixelRatioF()
            reduced = self._reduced.get(which)
            size = QSize(max(1, round(self._size.width() * self._zoom)),      # physical pixels
                         max(1, round(self._size.height() * self._zoom)))
            if reduced is None or reduced.size() != size:
                reduced = image.scaled(size, Qt.AspectRatioMode.IgnoreAspectRatio,
                                       Qt.TransformationMode.SmoothTransformation)
                self._reduced[which] = reduced
            reduced.setDevicePixelRatio(ratio)
            painter.drawImage(QPointF(round(origin.x() * ratio) / ratio, round(origin.y() * ratio) / ratio), reduced)
        else:
            # only the visible source pixels, each drawn as a nearest-neighbour square
            per_output = image.width() / self._size.width()     # 1 for the result, 1/scale for the input
            step = self._scale() / per_output                    # layout units per source pixel
            x0 = max(0, math.floor((visible.left() - origin.x()) / step))
            y0 = max(0, math.floor((visible.top() - origin.y()) / step))
            x1 = min(image.width(), math.ceil((visible.right() - origin.x()) / step))
            y1 = min(image.height(), math.ceil((visible.bottom() - origin.y()) / step))
            if x1 > x0 and y1 > y0:
                painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, False)
                painter.drawImage(QRectF(origin.x() + x0 * step, origin.y() + y0 * step,
                                         (x1 - x0) * step, (y1 - y0) * step),
                                  image, QRectF(x0, y0, x1 - x0, y1 - y0))
        painter.restore()

    def _draw_labels(self, painter: QPainter, left: QRectF, right: QRectF) -> None:
        before, after = self._labels
        if before:
            self._draw_badge(painter, before, left, Qt.AlignmentFlag.AlignLeft)
        if after:
            self._draw_badge(painter, after, right, Qt.AlignmentFlag.AlignRight)

    def _draw_badge(self, painter: QPainter, text: str, side: QRectF, align: Qt.AlignmentFlag) -> None:
        """A caption in a dark rounded box at the top corner of one side (clipped to that side)."""
        metrics = self.fontMetrics()
        pad = 6
        w, h = metrics.horizontalAdvance(text) + 2 * pad, metrics.height() + pad
        x = side.left() + 8 if align == Qt.AlignmentFlag.AlignLeft else side.right() - 8 - w
        box = QRectF(x, 8, w, h)
        painter.save()
        painter.setClipRect(side)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(QColor(0, 0, 0, 160))
        painter.drawRoundedRect(box, 4, 4)
        painter.setFont(self.font())
        painter.setPen(QColor(255, 255, 255))
        painter.drawText(box, Qt.AlignmentFlag.AlignCenter, text)
        painter.restore()

    def _draw_split_line(self, painter: QPainter, x: float) -> None:
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        painter.setPen(QPen(QColor(0, 0, 0, 120), 4))
        painter.drawLine(QPointF(x, 0), QPointF(x, self.height()))
        painter.setPen(QPen(QColor(255, 255, 255), 2))
        painter.drawLine(QPointF(x, 0), QPointF(x, self.height()))
        centre = QPointF(x, self.height() / 2)
        painter.setBrush(QColor(255, 255, 255))
        painter.setPen(QPen(QColor(0, 0, 0, 140), 1))
        painter.drawEllipse(centre, GRIP_RADIUS, GRIP_RADIUS)
        arrows = QPainterPath()
        for direction in (-1, 1):   # two small triangles pointing left and right
            tip = centre + QPointF(direction * 9, 0)
            arrows.moveTo(tip)
            arrows.lineTo(centre + QPointF(direction * 3, -5))
            arrows.lineTo(centre + QPointF(direction * 3, 5))
            arrows.closeSubpath()
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(QColor(60, 60, 60))
        painter.drawPath(arrows)
        painter.restore()

    # ------------------------------------------------------------------ mouse
    def _near_split(self, pos: QPointF) -> bool:
        return self._after is not None and abs(pos.x() - self.split_x()) <= SPLIT_GRAB

    def mousePressEvent(self, event: QMouseEvent) -> None:
        if event.button() != Qt.MouseButton.LeftButton or self._size.isEmpty():
            super().mousePressEvent(event)
            return
        self._drag = "split" if self._near_split(event.position()) else "pan"
        self._last_pos = event.position()
        self.setCursor(Qt.CursorShape.SplitHCursor if self._drag == "split"
                       else Qt.CursorShape.ClosedHandCursor)
        event.accept()

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        pos = event.position()
        if self._drag == "split":
            self.set_split(pos.x() / max(1, self.width()))
        elif self._drag == "pan":
            self._fitted = False
            self._centre -= (pos - self._last_pos) / self._scale()
            self._clamp_centre()
            self.update()
        elif not self._size.isEmpty():
            self.setCursor(Qt.CursorShape.SplitHCursor if self._near_split(pos)
                           else Qt.CursorShape.OpenHandCursor)
        self._last_pos = pos
        event.accept()

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        if event.button() == Qt.MouseButton.LeftButton and self._drag is not None:
            self._drag = None
            self.setCursor(Qt.CursorShape.SplitHCursor if self._near_split(event.position())
                           else Qt.CursorShape.OpenHandCursor)
            event.accept()
            return
        super().mouseReleaseEvent(event)

    def mouseDoubleClickEvent(self, event: QMouseEvent) -> None:
        if (event.button() != Qt.MouseButton.LeftButton or self._size.isEmpty()
                or self._near_split(event.position())):
            return
        if self._fitted and self.fit_zoom() < 1.0:
            self.set_zoom(1.0, event.position())
        else:
            self.fit_to_window()

    def wheelEvent(self, event: QWheelEvent) -> None:
        notches = event.angleDelta().y() / 120
        if self._size.isEmpty() or notches == 0:
            event.ignore()
            return
        old = self._zoom
        new = old * ZOOM_STEP ** notches
        if (old < 1.0 < new) or (old > 1.0 > new):
            new = 1.0   # stop at 100 % on the way through: the level where pixels are judged
        self.set_zoom(new, event.position())
        event.accept()

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        if self._fitted:
            self._apply_fit()
        self._place_bar()

    def event(self, event: QEvent) -> bool:
        if event.type() == QEvent.Type.DevicePixelRatioChange:   # moved to a screen of another density
            self._reduced.clear()
            if self._fitted:
                self._apply_fit()
            self.update()
        return super().event(event)

    def _place_bar(self) -> None:
        self._bar.adjustSize()
        self._bar.move(8, self.height() - self._bar.height() - 8)

    def sizeHint(self) -> QSize:
        return QSize(640, 480)


_checker_brush: QBrush | None = None


def _checkerboard() -> QBrush:
    """The light grey checkerboard shown behind transparent pixels (made once)."""
    global _checker_brush
    if _checker_brush is None:
        tile = QPixmap(2 * CHECKER, 2 * CHECKER)
        tile.fill(QColor(204, 204, 204))
        painter = QPainter(tile)
        painter.fillRect(0, 0, CHECKER, CHECKER, QColor(153, 153, 153))
        painter.fillRect(CHECKER, CHECKER, CHECKER, CHECKER, QColor(153, 153, 153))
        painter.end()
        _checker_brush = QBrush(tile)
    return _checker_brush
