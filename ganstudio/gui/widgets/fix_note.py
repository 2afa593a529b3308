"""A one-line warning with a one-click fix, used under dataset summaries (e.g. "these sizes enlarge
your images: Train at 64 px")."""
from __future__ import annotations

import html

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QWidget

from ..theme import status_span
from .themed_label import ThemedLabel


class FixNote(ThemedLabel):
    """Hidden until ``show_note``; clicking its link emits ``fix_requested``."""

    fix_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent=parent)
        self.setWordWrap(True)
        self.setTextFormat(Qt.TextFormat.RichText)
        self.linkActivated.connect(lambda _link: self.fix_requested.emit())
        self.hide()

    def show_note(self, text: str | None, fix: str | None = None) -> None:
        """Show ``text`` (plain) with ``fix`` as its link, or hide the note when ``text`` is empty."""
        if not text:
            self.clear()
            self.hide()
            return
        link = ""
        if fix:   # kept on one line: a link broken over two lines reads as two things
            link = ' <a href="fix">{0}</a>'.format(html.escape(fix).replace(" ", "&nbsp;"))
        self.setText(status_span("note", f"&#9888; {html.escape(text)}") + link)
        self.show()
