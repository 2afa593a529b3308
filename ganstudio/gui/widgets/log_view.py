"""The training log pane: what happened, in plain words, with warnings and errors marked.

Warnings, errors and the time stamps are coloured for the pane's background (``theme.status_colour``:
lighter variants on a dark palette); when the palette changes, the lines already written are
recoloured in place.
"""
from __future__ import annotations

import html
import time

from PySide6.QtCore import QEvent
from PySide6.QtGui import QColor, QPalette, QTextCharFormat, QTextCursor
from PySide6.QtWidgets import QPlainTextEdit, QWidget

from ..theme import status_colour

#: lines kept; older ones scroll away (a week-long run must not grow the pane without bound)
MAX_LINES = 5000
#: each level's colour (a ``theme.status_colour`` kind; None: the pane's own text colour) and mark
_LEVEL_STYLE = {
    "info": (None, ""),
    "warning": ("warning", "&#9888; "),
    "error": ("error", "&#10006; "),
}
#: the colour of the time stamp and step in front of each line
_STAMP = "muted"


class LogView(QPlainTextEdit):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setReadOnly(True)
        self.setMaximumBlockCount(MAX_LINES)
        self.setPlaceholderText(self.tr("Notes about the run appear here: when it starts, saves, and any "
                                        "advice if training goes wrong."))
        self._counts = {"info": 0, "warning": 0, "error": 0}
        self._colours = self._current_colours()

    def add(self, level: str, message: str, step: int | None = None) -> None:
        kind, mark = _LEVEL_STYLE.get(level, _LEVEL_STYLE["info"])
        where = self.tr("step {0}").format(f"{step:,}") if step is not None else ""
        stamp = time.strftime("%H:%M:%S")
        muted = self._colours[_STAMP].name()
        prefix = f'<span style="color:{muted};">{stamp}{" · " + where if where else ""}</span> '
        body = mark + html.escape(message)
        if kind:
            body = f'<span style="color:{self._colours[kind].name()};">{body}</span>'
        self.appendHtml(prefix + body)
        self._counts[level if level in self._counts else "info"] += 1

    def count(self, level: str) -> int:
        """How many lines of ``level`` were added (info, warning, error)."""
        return self._counts.get(level, 0)

    def level_colour(self, kind: str) -> QColor:
        """The colour lines of ``kind`` ("warning", "error", "muted" for time stamps) are written in now."""
        return QColor(self._colours[kind])

    # -- the palette ---------------------------------------------------------------------------
    def _current_colours(self) -> dict[str, QColor]:
        base = self.palette().color(QPalette.ColorRole.Base)
        return {kind: status_colour(kind, base) for kind in ("warning", "error", _STAMP)}

    def changeEvent(self, event: QEvent) -> None:  # noqa: N802 (Qt override)
        super().changeEvent(event)
        if event.type() == QEvent.Type.PaletteChange:
            old, self._colours = self._colours, self._current_colours()
            if old != self._colours:
                self._recolour({old[k].rgb(): self._colours[k] for k in old})

    def _recolour(self, new_for_old: dict[int, QColor]) -> None:
        """Give each run of text written in an old colour the new colour of the same kind."""
        doc = self.document()
        runs = []             # (start, end, colour), found first: recolouring merges and splits fragments
        block = doc.begin()
        while block.isValid():
            it = block.begin()
            while not it.atEnd():
                fragment = it.fragment()
                fmt = fragment.charFormat()
                if fragment.isValid() and fmt.hasProperty(QTextCharFormat.Property.ForegroundBrush):
                    colour = new_for_old.get(fmt.foreground().color().rgb())
                    if colour is not None:
                        runs.append((fragment.position(), fragment.position() + fragment.length(), colour))
                it += 1
            block = block.next()
        cursor = QTextCursor(doc)
        cursor.beginEditBlock()
        for start, end, colour in runs:
            cursor.setPosition(start)
            cursor.setPosition(end, QTextCursor.MoveMode.KeepAnchor)
            change = QTextCharFormat()
            change.setForeground(colour)
            cursor.mergeCharFormat(change)
        cursor.endEditBlock()
