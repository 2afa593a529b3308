"""A one-line label that shortens its text with "…" to the width it is given, whole in its tooltip."""
from __future__ import annotations

from PySide6.QtCore import QSize, Qt
from PySide6.QtWidgets import QLabel, QWidget

#: the narrowest an elided label may become (a few letters and the "…")
MIN_WIDTH = 40


class ElidedLabel(QLabel):
    """Shows ``full_text()`` shortened (``mode``: where the "…" goes) to fit its width, instead of
    being cut off at the edge (a status line next to the device at a 14 pt font lost its end)."""

    def __init__(self, mode: Qt.TextElideMode = Qt.TextElideMode.ElideMiddle, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._full = ""
        self._mode = mode
        self.setMinimumWidth(MIN_WIDTH)

    def set_full_text(self, text: str) -> None:
        self._full = text
        self.setToolTip(text)
        self._fit()
        self.updateGeometry()

    def full_text(self) -> str:
        return self._full

    def resizeEvent(self, event) -> None:  # noqa: N802 (Qt override)
        super().resizeEvent(event)
        self._fit()

    def _fit(self) -> None:
        self.setText(self.fontMetrics().elidedText(self._full, self._mode, max(0, self.width())))

    def minimumSizeHint(self) -> QSize:  # noqa: N802 (Qt override): any width; the text shortens instead
        hint = super().minimumSizeHint()
        hint.setWidth(MIN_WIDTH)
        return hint

    def sizeHint(self) -> QSize:  # noqa: N802 (Qt override)
        hint = super().sizeHint()
        hint.setWidth(self.fontMetrics().horizontalAdvance(self._full) + 4)
        return hint
