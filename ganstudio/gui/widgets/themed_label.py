"""A rich-text label whose warning and error colours follow the palette (``theme.status_span``)."""
from __future__ import annotations

from PySide6.QtCore import QEvent
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import QLabel, QWidget

from ..theme import themed_html


class ThemedLabel(QLabel):
    """A QLabel for text made with ``theme.status_span``: each status colour is shown as the one for
    the label's background (the designed colour on a light window, a lighter one on a dark window),
    and again after a palette change."""

    def __init__(self, text: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._source = ""
        self.setText(text)

    def setText(self, text: str) -> None:  # noqa: N802 (Qt override)
        self._source = text
        super().setText(themed_html(text, self.palette().color(QPalette.ColorRole.Window)))

    def clear(self) -> None:
        self._source = ""
        super().clear()

    def changeEvent(self, event: QEvent) -> None:  # noqa: N802 (Qt override)
        super().changeEvent(event)
        if event.type() == QEvent.Type.PaletteChange and self._source:
            super().setText(themed_html(self._source, self.palette().color(QPalette.ColorRole.Window)))
