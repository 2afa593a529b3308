"""The Help menu: the User Guide (F1) with its contents and search, every label it names checked
against the live window, and the keyboard shortcuts list read from the window's own actions."""
from __future__ import annotations

import html
import re

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence, QTextDocument
from PySide6.QtWidgets import (QAbstractButton, QAbstractSpinBox, QComboBox, QGroupBox, QLabel, QMenu,
                               QTreeWidget)

from ganstudio.gui.help import GUIDE_FILE, GuideDialog, ShortcutsDialog, collect_shortcuts
from ganstudio.gui.widgets.task_views import TASKS, chart_layout, preview_texts

from .conftest import WAIT_MS

#: sections an artist looks for; each is an entry of the guide's contents
EXPECTED_SECTIONS = ("start", "tabs", "folders", "how-many", "mixed-broken", "train-gan", "train-upscaler",
                     "train-translator", "reading-chart", "healthy", "problems", "fixing", "fix-lr", "fix-data",
                     "runs", "generate", "upscale", "best-quality", "translate", "export", "keys")


def help_menu(window) -> QMenu:
    return next(a.menu() for a in window.menuBar().actions() if a.text() == "&Help")


def plain(text: str) -> str:
    """What a label reads as: rich text as plain text, no Alt-key marker, single spaces."""
    if "<" in text:
        doc = QTextDocument()
        doc.setHtml(text)
        text = doc.toPlainText()
    return " ".join(text.replace("&&", "\0").replace("&", "").replace("\0", "&").split())


def guide_labels() -> list[str]:
    """The labels the guide names (its <b> texts, outside comments), as written."""
    source = re.sub(r"<!--.*?-->", "", GUIDE_FILE.read_text(encoding="utf-8"), flags=re.DOTALL)
    return sorted({" ".join(html.unescape(t).split()) for t in re.findall(r"<b>(.*?)</b>", source, re.DOTALL)})


def window_texts(window) -> set[str]:
    """Every label a user can read in the window: buttons, labels, boxes, choices, list headers, menu
    entries (and their paths), chart curves and preview captions of every kind of training."""
    texts: set[str] = set()
    for widget in window.findChildren(QAbstractButton):
        texts.add(widget.text())
    for widget in window.findChildren(QLabel):
        texts.add(widget.text())
    for widget in window.findChildren(QGroupBox):
        texts.add(widget.title())
    for widget in window.findChildren(QComboBox):
        texts.update(widget.itemText(i) for i in range(widget.count()))
    for widget in window.findChildren(QTreeWidget):
        header = widget.headerItem()
        texts.update(header.text(i) for i in range(header.columnCount()))
    for widget in window.findChildren(QAbstractSpinBox):
        texts.add(widget.specialValueText())
    for action in window.findChildren(QAction):
        texts.update((action.text(), action.iconText()))
    texts.update(window.tabs.tabText(i) for i in range(window.tabs.count()))

    def walk(menu: QMenu, path: str) -> None:
        for action in menu.actions():
            texts.add(f"{path} › {plain(action.text())}")
            if action.menu() is not None:
                walk(action.menu(), f"{path} › {plain(action.text())}")

    for top in window.menuBar().actions():
        if top.menu() is not None:
            walk(top.menu(), plain(top.text()))
    for task in TASKS:
        for mode in ("paired", "unpaired"):
            layout = chart_layout(task, mode)
            texts.update(pane.label for pane in layout.panes)
            texts.update(curve.label for curve in [*layout.curves.values(), *layout.evaluation.values()])
            caption = preview_texts(task, mode).caption
            texts.update((caption, *caption.split(": ")))
    return {plain(t) for t in texts if t}


def names(label: str, text: str) -> bool:
    """Whether ``text`` shown in the app is ``label`` as the guide names it: the same, or ``label``
    followed by more ("Best quality" for "Best quality (8× slower)", "Skipped files" for "Skipped files (3)")."""
    return text == label or (text.startswith(label) and not text[len(label)].isalnum())


@pytest.fixture
def full_window(qtbot, prefs, error_boxes, tiny_folder):
    """The real main window with every panel (no stand-ins), joined after the test."""
    from ganstudio.gui.main_window import MainWindow

    prefs.add_recent_folder(tiny_folder)
    window = MainWindow(prefs)
    qtbot.addWidget(window)
    window.show()
    qtbot.waitUntil(lambda: window.train_panel.dataset_view.report() is not None, timeout=WAIT_MS)
    yield window
    for panel in window.panels():
        if hasattr(panel, "shutdown"):
            panel.shutdown()


def test_help_menu_offers_the_guide_on_f1_and_the_shortcuts(qtbot, make_window, tiny_folder):
    window = make_window(tiny_folder)
    entries = [a.text() for a in help_menu(window).actions()]
    assert entries == ["&User Guide", "&Keyboard Shortcuts", "", "&About GAN Studio"]
    assert window.guide_action.shortcut() == QKeySequence(QKeySequence.StandardKey.HelpContents)
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow, timeout=WAIT_MS)
    qtbot.keyClick(window.tabs, Qt.Key.Key_F1)
    guide = window.findChild(GuideDialog)
    assert guide is not None and guide.isVisible() and not guide.isModal()   # it can stay open beside the window
    assert window.show_guide() is guide                                       # one guide window, raised again
    guide.close()


def test_the_guide_has_contents_sections_and_search(qtbot, make_window, tiny_folder):
    window = make_window(tiny_folder)
    guide = window.show_guide()
    anchors = [anchor for anchor, _ in guide.sections()]
    assert set(EXPECTED_SECTIONS) <= set(anchors), set(EXPECTED_SECTIONS) - set(anchors)
    assert dict(guide.sections())["fixing"] == "When training goes wrong: what to change"

    bar = guide.text.verticalScrollBar()
    assert bar.value() == 0
    row = anchors.index("export")
    guide.contents.itemClicked.emit(guide.contents.item(row))       # as a click on the entry does
    qtbot.waitUntil(lambda: bar.value() > 0, timeout=WAIT_MS)
    at_export = bar.value()
    window.show_guide("tabs")                                        # near the top again
    qtbot.waitUntil(lambda: bar.value() < at_export, timeout=WAIT_MS)
    assert guide.contents.currentRow() == anchors.index("tabs")

    guide.find_edit.setText("mode collapse")
    assert guide.find_next()
    assert guide.text.textCursor().selectedText().lower() == "mode collapse"
    guide.find_edit.setText("no such words anywhere")
    assert not guide.find_next() and guide.find_status.text() == "Not found"

    text = guide.text.toPlainText()
    for topic in ("mode collapse", "NaN", "learning rate", "Unbalanced data", "Best quality", "Paired",
                  "Unpaired", "Resume", "partner exists but cannot be read"):
        assert topic.lower() in text.lower(), topic
    guide.close()


def test_every_label_the_guide_names_is_in_the_app(qtbot, full_window):
    window = full_window
    data = window.train_panel.translate_data
    texts = window_texts(window)
    data.mode.setCurrentIndex(data.mode.findData("unpaired"))      # "A: style one" and its kind
    texts |= window_texts(window)
    labels = guide_labels()
    assert len(labels) > 100
    missing = [label for label in labels if not any(names(label, text) for text in texts)]
    assert not missing, f"the guide names labels the app does not show: {missing}"


def test_the_keys_the_guide_mentions_are_real_shortcuts(qtbot, full_window):
    keys = {entry.keys for entry in collect_shortcuts(full_window)}
    source = GUIDE_FILE.read_text(encoding="utf-8")
    mentioned = set(re.findall(r"\((Ctrl\+[^)\s]+|Esc|F1)\)", source)) | {"F1", "Ctrl+1", "Ctrl+4"}
    assert len(mentioned) >= 8
    assert mentioned <= keys, mentioned - keys


def test_the_shortcuts_list_is_read_from_the_live_actions(qtbot, make_window, tiny_folder):
    window = make_window(tiny_folder)
    train_menu = next(a.menu() for a in window.menuBar().actions() if a.text().replace("&", "") == "Train")
    separators = sum(a.isSeparator() for a in train_menu.actions())
    dialog = window.show_shortcuts()
    qtbot.addWidget(dialog)
    assert isinstance(dialog, ShortcutsDialog) and dialog.isVisible()
    rows = dialog.rows()
    assert ("Everywhere", "F1", "Help › User Guide") in rows
    assert ("Everywhere", "Ctrl+2", "View › Generate") in rows
    assert ("In the Train tab", "Ctrl+Return", "Train › Start Training") in rows
    assert ("In the Train tab", "Ctrl+.", "Train › Stop and Save") in rows
    assert ("In the Upscale tab", "Ctrl+Return", "Upscale › Upscale") in rows
    assert ("In the Upscale tab", "Ctrl+0", "Upscale › Fit") in rows
    groups = [group for group, _, _ in rows]
    assert groups[0] == "Everywhere" and groups.index("In the Train tab") < groups.index("In the Upscale tab")
    assert len({(group, keys) for group, keys, _ in rows}) == len(rows)   # a key once per place
    dialog.close()

    # a new action shows up the next time the list is opened; a hidden one does not
    panel = window.upscale_panel
    extra = QAction("Sharpen Everything", panel)
    extra.setShortcut(QKeySequence("Ctrl+K"))
    panel.addAction(extra)
    hidden = QAction("Secret", window)
    hidden.setShortcut(QKeySequence("Ctrl+J"))
    hidden.setVisible(False)
    window.addAction(hidden)
    again = window.show_shortcuts()
    qtbot.addWidget(again)
    assert ("In the Upscale tab", "Ctrl+K", "Sharpen Everything") in again.rows()
    assert not any(keys == "Ctrl+J" for _, keys, _ in again.rows())
    again.close()
    # reading the menus left them whole
    assert sum(a.isSeparator() for a in train_menu.actions()) == separators
