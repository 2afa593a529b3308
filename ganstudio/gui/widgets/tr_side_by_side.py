"""Input and output next to each other, always at the same zoom and showing the same region.

Two ``UpCompareView`` panes, each showing one image: zooming or panning either one (wheel, drag,
double-click, its Fit and 100 % buttons) moves the other with it, so a detail can be compared at
any zoom. The panes sit left and right, or one above the other for wide images, whichever shows
the images larger in the space there is.
"""
from __future__ import annotations

import numpy as np
from PySide6.QtCore import QEvent, QObject, QSize, QTimer
from PySide6.QtWidgets import QBoxLayout, QSizePolicy, QWidget

from .up_compare_view import UpCompareView

#: screen pixels between the two panes
GAP = 4
#: events on a pane after which the other pane follows it
_FOLLOWED = (QEvent.Type.Wheel, QEvent.Type.MouseMove, QEvent.Type.MouseButtonDblClick,
             QEvent.Type.MouseButtonRelease)


class TrSideBySideView(QWidget):
    """``set_images(input, output)`` shows the two uint8 HxWxC arrays of the same size; zoom and
    pan are shared. ``panes()`` gives the two views (input first)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._panes = (UpCompareView(), UpCompareView())
        self._panes[0].setObjectName("inputPane")
        self._panes[1].setObjectName("outputPane")
        self._layout = QBoxLayout(QBoxLayout.Direction.LeftToRight, self)
        self._layout.setContentsMargins(0, 0, 0, 0)
        self._layout.setSpacing(GAP)
        self._follow = QTimer(self)        # a pane's state is read after it has handled its event
        self._follow.setSingleShot(True)
        self._follow.setInterval(0)
        self._follow.timeout.connect(self._on_follow_timeout)
        self._leader: UpCompareView | None = None
        for pane in self._panes:
            self._layout.addWidget(pane, 1)
            pane.installEventFilter(self)
            for act in pane.zoom_actions():
                act.triggered.connect(lambda _checked=False, p=pane: self._match(p))
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)

    def panes(self) -> tuple[UpCompareView, UpCompareView]:
        return self._panes

    def set_images(self, source: np.ndarray | None, output: np.ndarray | None) -> None:
        """Show the input (left or top) and the output (right or bottom; None leaves that pane empty)."""
        self._panes[0].set_images(source)
        self._panes[1].set_images(output)
        self._arrange()
        if source is not None and output is not None:
            self._match(self._panes[0])

    def set_labels(self, source: str, output: str) -> None:
        self._panes[0].set_labels(source, "")
        self._panes[1].set_labels(output, "")

    def set_empty_texts(self, source: str, output: str) -> None:
        """What each pane says while it has no image."""
        self._panes[0].set_empty_text(source)
        self._panes[1].set_empty_text(output)

    def set_drop_hint(self, text: str) -> None:
        for pane in self._panes:
            pane.set_drop_hint(text)

    def is_vertical(self) -> bool:
        """True when the panes are stacked (input above output)."""
        return self._layout.direction() == QBoxLayout.Direction.TopToBottom

    # ------------------------------------------------------------------ shared zoom
    def zoom(self) -> float:
        return self._panes[0].zoom()

    def fit_to_window(self) -> None:
        self._panes[0].fit_to_window()
        self._match(self._panes[0])

    def zoom_to_actual_size(self) -> None:
        self._panes[0].zoom_to_actual_size()
        self._match(self._panes[0])

    def set_zoom(self, zoom: float) -> None:
        self._panes[0].set_zoom(zoom)
        self._match(self._panes[0])

    def _match(self, leader: UpCompareView) -> None:
        """Give the other pane ``leader``'s zoom and centre."""
        other = self._panes[1] if leader is self._panes[0] else self._panes[0]
        if other.image_size().isEmpty() or other.image_size() != leader.image_size():
            return
        if leader.is_fitted():
            other.fit_to_window()
        else:
            other.set_zoom(leader.zoom())
            other.centre_on(leader.centre())

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if watched in self._panes and event.type() in _FOLLOWED:
            if event.type() != QEvent.Type.MouseMove or event.buttons():   # a drag, not a hover
                self._leader = watched
                self._follow.start()
        return False

    def _on_follow_timeout(self) -> None:
        if self._leader is not None:
            self._match(self._leader)

    # ------------------------------------------------------------------ layout
    def _arrange(self) -> None:
        """Left and right, or above and below: whichever lets the image fit larger."""
        size = self._panes[0].image_size()
        if size.isEmpty():
            return
        w, h = max(1, self.width() - GAP), max(1, self.height() - GAP)
        side_by_side = min(w / 2 / size.width(), h / size.height())
        stacked = min(w / size.width(), h / 2 / size.height())
        direction = (QBoxLayout.Direction.TopToBottom if stacked > side_by_side
                     else QBoxLayout.Direction.LeftToRight)
        if direction != self._layout.direction():
            self._layout.setDirection(direction)

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self._arrange()

    def sizeHint(self) -> QSize:
        return QSize(640, 480)
