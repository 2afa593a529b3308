"""Small layout helpers shared by the panels."""
from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QScrollArea, QSplitter, QWidget


def side_column(content: QWidget, min_width: int) -> QScrollArea:
    """``content`` in a frameless scroll area (a panel's options column): it scrolls vertically, and
    sideways only where its content cannot be narrower (a big font), instead of cutting it off."""
    scroll = QScrollArea()
    scroll.setWidget(content)
    scroll.setWidgetResizable(True)
    scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAsNeeded)
    scroll.setFrameShape(QScrollArea.Shape.NoFrame)
    scroll.setMinimumWidth(min_width)
    return scroll


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
