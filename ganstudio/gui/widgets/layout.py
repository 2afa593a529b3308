"""Small layout helpers shared by the panels."""
from __future__ import annotations

import math
from collections.abc import Callable

from PySide6.QtCore import QEvent, QSize, Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QGroupBox, QScrollArea, QSplitter, QVBoxLayout, QWidget

#: margins (left, top, right, bottom) and spacing inside the boxes of a compact side column
COMPACT_MARGINS = (6, 4, 6, 6)
COMPACT_SPACING = 4
#: a side column never claims more than this share of the screen's width for its content; beyond it
#: (a huge font on a small screen) the column scrolls sideways rather than squeezing the panel's view
MAX_COLUMN_SHARE = 0.45
#: the line height (pixels) of the 9 pt default font that fixed sizes were chosen with
REFERENCE_LINE = 14


def screen_pixels(widget: QWidget, side: int) -> int:
    """How many image pixels a picture ``side`` layout units wide needs to be sharp on ``widget``'s
    screen: ``side`` times its scaling (twice as many at 200 %), never fewer than ``side``."""
    return max(side, math.ceil(side * widget.devicePixelRatioF()))


class _FittingColumn(QWidget):
    """Holds a side column's content in its scroll area, so that the content fits the height it is
    given whenever it can.

    A QScrollArea gives content whose layout has a height-for-width (any word-wrapped label) at least
    its *preferred* height for the width. A list in the column (Upscale's images) then kept its
    preferred few rows and the column scrolled on a 1366x768 laptop, hiding the Batch section, though
    everything fitted with a shorter list. Reporting the *minimum* height for the width instead, the
    content fills the visible height (stretching the list) and scrolls only below its minimum.
    """

    def __init__(self, content: QWidget, layout_changed: Callable[[], None]) -> None:
        super().__init__()
        self._layout_changed = layout_changed
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(content)

    def heightForWidth(self, width: int) -> int:  # noqa: N802 (Qt override)
        return self.layout().totalMinimumHeightForWidth(width)

    def event(self, event: QEvent) -> bool:
        handled = super().event(event)
        if event.type() == QEvent.Type.LayoutRequest:   # the content's minimum may have changed
            self._layout_changed()
        return handled


class _SideColumn(QScrollArea):
    """The scroll area of a side column. Its minimum width is its content's (plus room for the
    vertical scroll bar), never less than ``min_width``: a fixed minimum in pixels cut rows of
    buttons and fields off at a larger font, behind a sideways scroll bar."""

    def __init__(self, content: QWidget, min_width: int) -> None:
        super().__init__()
        self._floor = min_width
        self._needed = min_width          # the width last reported (a change is announced)
        self.setWidget(_FittingColumn(content, self._on_content_layout_changed))
        self.setWidgetResizable(True)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAsNeeded)
        self.setFrameShape(QScrollArea.Shape.NoFrame)

    def _needed_width(self) -> int:
        content = self.widget().minimumSizeHint().width() + self.verticalScrollBar().sizeHint().width()
        screen = self.screen() or QGuiApplication.primaryScreen()
        if screen is not None:
            content = min(content, int(screen.availableGeometry().width() * MAX_COLUMN_SHARE))
        return max(self._floor, content + 2 * self.frameWidth())

    def _on_content_layout_changed(self) -> None:
        needed = self._needed_width()
        if needed != self._needed:
            self._needed = needed
            self.updateGeometry()     # the splitter around the column makes room

    def minimumSizeHint(self) -> QSize:  # noqa: N802 (Qt override)
        # measured each time (the content's layout caches it): content hidden or shown before the
        # column is first shown changes it without a layout request reaching the column
        self._needed = self._needed_width()
        return QSize(self._needed, super().minimumSizeHint().height())

    def sizeHint(self) -> QSize:  # noqa: N802 (Qt override)
        hint = super().sizeHint()
        return QSize(max(hint.width(), self.minimumSizeHint().width()), hint.height())


class AtLeastWide(QWidget):
    """A plain container at least ``min_width`` wide, and wider where its content needs it.

    ``setMinimumWidth`` would be a hard limit that also wins over the content's own minimum, so a
    splitter could squeeze a column's buttons below their text at a larger font."""

    def __init__(self, min_width: int, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._floor = min_width

    def minimumSizeHint(self) -> QSize:  # noqa: N802 (Qt override)
        hint = super().minimumSizeHint()
        return QSize(max(hint.width(), self._floor), hint.height())


def side_column(content: QWidget, min_width: int) -> QScrollArea:
    """``content`` in a frameless scroll area (a panel's options column): it fills the column's height
    where it can (its stretching parts, such as a list, take what is left), scrolls vertically where
    even its minimum does not fit, and is at least as wide as its content needs (``min_width`` at
    the least), so that a bigger font widens the column instead of cutting its rows off. Only where
    even that does not fit (a huge font on a small screen) does it scroll sideways."""
    return _SideColumn(content, min_width)


def text_sized(widget: QWidget, size: tuple[int, int], screen_share: float = 0.95) -> QSize:
    """A first size for a window, given in pixels for the usual 9 pt font (``REFERENCE_LINE``) and
    grown with the font's line height: a bigger font gets a bigger window showing the same text,
    but never more than ``screen_share`` of the screen's free area."""
    width, height = (scaled_to_text(widget, length) for length in size)
    screen = widget.screen() or QGuiApplication.primaryScreen()
    if screen is not None:
        free = screen.availableGeometry()
        width = min(width, int(free.width() * screen_share))
        height = min(height, int(free.height() * screen_share))
    return QSize(width, height)


def scaled_to_text(widget: QWidget, length: int) -> int:
    """``length`` pixels, chosen for the usual 9 pt font, grown (never shrunk) with ``widget``'s font."""
    return round(length * max(1.0, widget.fontMetrics().height() / REFERENCE_LINE))


def compact_boxes(content: QWidget) -> None:
    """Tighter margins and spacing inside every group box of ``content`` (a panel's side column) and
    between them: on a 1366x768 laptop the default ones cost a list or a section below them a few rows."""
    if content.layout() is not None:
        content.layout().setSpacing(COMPACT_SPACING)
    for box in content.findChildren(QGroupBox):
        layout = box.layout()
        if layout is not None:
            layout.setContentsMargins(*COMPACT_MARGINS)
            layout.setSpacing(COMPACT_SPACING)


def named_splitter(orientation: Qt.Orientation, name: str, widgets: list[QWidget],
                   stretch: list[int] | None = None) -> QSplitter:
    """A splitter with an object name (the main window remembers the state of named splitters)."""
    splitter = QSplitter(orientation)
    splitter.setObjectName(name)
    for index, widget in enumerate(widgets):
        splitter.addWidget(widget)
        if stretch is not None:
            splitter.setStretchFactor(index, stretch[index])
    return splitter
