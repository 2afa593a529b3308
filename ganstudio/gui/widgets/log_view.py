"""The training log pane: what happened, in plain words, with warnings and errors marked."""
from __future__ import annotations

import html
import time

from PySide6.QtWidgets import QPlainTextEdit, QWidget

#: lines kept; older ones scroll away (a week-long run must not grow the pane without bound)
MAX_LINES = 5000
_LEVEL_STYLE = {
    "info": ("", ""),
    "warning": ("#9a6700", "&#9888; "),
    "error": ("#b00020", "&#10006; "),
}


class LogView(QPlainTextEdit):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setReadOnly(True)
        self.setMaximumBlockCount(MAX_LINES)
        self.setPlaceholderText(self.tr("Notes about the run appear here: when it starts, saves, and any "
                                        "advice if training goes wrong."))
        self._counts = {"info": 0, "warning": 0, "error": 0}

    def add(self, level: str, message: str, step: int | None = None) -> None:
        colour, mark = _LEVEL_STYLE.get(level, _LEVEL_STYLE["info"])
        where = self.tr("step {0}").format(f"{step:,}") if step is not None else ""
        stamp = time.strftime("%H:%M:%S")
        prefix = f'<span style="color:#707070;">{stamp}{" · " + where if where else ""}</span> '
        body = mark + html.escape(message)
        if colour:
            body = f'<span style="color:{colour};">{body}</span>'
        self.appendHtml(prefix + body)
        self._counts[level if level in self._counts else "info"] += 1

    def count(self, level: str) -> int:
        """How many lines of ``level`` were added (info, warning, error)."""
        return self._counts.get(level, 0)
