"""Small layout helpers shared by the panels."""
from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QGroupBox, QScrollArea, QSplitter, QVBoxLayout, QWidget

#: margins (left, top, right, bottom) and spacing inside the boxes of a compact side column
COMPACT_MARGINS = (6, 4, 6, 6)
COMPACT_SPACING = 4


class _FittingColumn(QWidget):
    """Holds a side column's content in its scroll area, so that the content fits the height it is
    given whenever it can.

    A QScrollArea gives content whose layout has a height-for-width (any word-wrapped label) at least
    its *preferred* height for the width. A list in the column (Upscale's images) then kept its
    preferred few rows and the column scrolled on a 1366x768 laptop, hiding the Batch section, though
    everything fitted with a shorter list. Reporting the *minimum* height for the width instead, the
    content fills the visible height (stretching the list) and scrolls only below its minimum.
    """

    def __init__(self, content: QWidget) -> None:
        super().__init__()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(content)

    def heightForWidth(self, width: int) -> int:  # noqa: N802 (Qt override)
        return self.layout().totalMinimumHeightForWidth(width)


def side_column(content: QWidget, min_width: int) -> QScrollArea:
    """``content`` in a frameless scroll area (a panel's options column): it fills the column's height
    where it can (its stretching parts, such as a list, take what is left), scrolls vertically where
    even its minimum does not fit, and sideways only where its content cannot be narrower (a big
    font), instead of cutting it off."""
    scroll = QScrollArea()
    scroll.setWidget(_FittingColumn(content))
    scroll.setWidgetResizable(True)
    scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAsNeeded)
    scroll.setFrameShape(QScrollArea.Shape.NoFrame)
    scroll.setMinimumWidth(min_width)
    return scroll


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
