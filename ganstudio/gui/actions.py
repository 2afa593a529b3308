"""The one way panels make their actions (buttons show them; the main window puts them in menus)."""
from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QWidget


def panel_action(panel: QWidget, text: str, button_text: str, slot: Callable[[], object], tip: str,
                 keys: QKeySequence | str = "") -> QAction:
    """An action of ``panel``: ``text`` in menus, ``button_text`` on buttons, the shortcut named in
    its tooltip. Shortcuts work while the focus is inside the panel, so other panels may reuse them."""
    act = QAction(text, panel)
    act.setIconText(button_text)
    if keys:
        act.setShortcut(QKeySequence(keys))
        act.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        tip += " (" + act.shortcut().toString(QKeySequence.SequenceFormat.NativeText) + ")"
    act.setToolTip(tip)
    act.triggered.connect(lambda _checked=False: slot())
    panel.addAction(act)
    return act
