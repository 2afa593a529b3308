"""The Help menu's windows: the User Guide (an offline HTML page with a table of contents and a
search box) and the list of keyboard shortcuts.

The guide's text lives in one file beside this module, ``guide.html``, written for artists rather
than programmers; the window only shows it. The shortcuts are read from the main window's actions
(and any QShortcut) when the list is opened, so the list cannot drift from the keys that work.

The guide's text and links take the palette's colours; its few tinted boxes (CSS backgrounds made
for a white page) get dark tints of the same hues on a dark palette, and again if the palette
changes while the guide is open.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QEvent, Qt
from PySide6.QtGui import QAction, QColor, QKeySequence, QPalette, QShortcut, QTextDocument
from PySide6.QtWidgets import (QDialog, QDialogButtonBox, QHBoxLayout, QHeaderView, QLabel, QLineEdit, QListWidget,
                               QListWidgetItem, QMenu, QSplitter, QTextBrowser, QTreeWidget, QTreeWidgetItem,
                               QVBoxLayout, QWidget)

from .theme import is_dark, mix
from .widgets.layout import scaled_to_text, text_sized

log = logging.getLogger(__name__)

GUIDE_FILE = Path(__file__).with_name("guide.html")
#: heading levels listed in the guide's table of contents (h2 sections, h3 sub-sections)
_TOC_LEVELS = (2, 3)
_ANCHOR_ROLE = Qt.ItemDataRole.UserRole
_MAX_MENU_DEPTH = 4
#: the guide's first size at a 9 pt font (larger with a larger font): readable lines, and it fits a
#: 1366x768 laptop screen
_GUIDE_SIZE = (980, 660)
_TOC_MAX_WIDTH = 340       # at 9 pt, like the sizes here
_TOC_PADDING = 24          # room for a vertical scroll bar's share and some air
_SHORTCUTS_SIZE = (560, 560)
#: the guide's tinted backgrounds as guide.html writes them (for a white page), and the hue each
#: takes on a dark page: the page's Base mixed with ``_DARK_TINT_SHARE`` of it
_GUIDE_TINTS = {"#eef5ee": "#3f9142", "#fbf1e3": "#c98a1e"}
_DARK_TINT_SHARE = 0.22


def guide_html() -> str:
    """The guide's HTML; a short apology (never an exception) when the file is missing."""
    try:
        return GUIDE_FILE.read_text(encoding="utf-8")
    except OSError as e:
        log.warning("cannot read the user guide %s: %s", GUIDE_FILE, e)
        return ("<h2>User Guide</h2><p>The guide is not installed with this copy of GAN Studio "
                f"({GUIDE_FILE.name} is missing). The README in the source folder describes the app.</p>")


def themed_guide_html(text: str, palette: QPalette) -> str:
    """The guide's HTML for ``palette``: as written on a light page; on a dark one its tinted
    backgrounds (``_GUIDE_TINTS``) darkened, so that the palette's light text stays readable on them."""
    base = palette.color(QPalette.ColorRole.Base)
    if not is_dark(base):
        return text
    for light, hue in _GUIDE_TINTS.items():
        text = text.replace(light, mix(base, QColor(hue), _DARK_TINT_SHARE).name())
    return text


def plain_text(text: str) -> str:
    """A menu text without its Alt-key marker ("&Quit" -> "Quit", "Save && Quit" -> "Save & Quit")."""
    return text.replace("&&", "\0").replace("&", "").replace("\0", "&")


class GuideDialog(QDialog):
    """The User Guide: contents on the left, the text on the right, a search box above.

    Not modal, so the guide can stay open beside the window while the user follows it.
    ``show_section(anchor)`` scrolls to a section by its anchor name (``id`` in the HTML).
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(self.tr("GAN Studio User Guide"))
        self.setSizeGripEnabled(True)
        self.resize(text_sized(self, _GUIDE_SIZE))
        self.text = QTextBrowser()
        self.text.setOpenLinks(True)            # links inside the guide (#anchors) are followed here,
        self.text.setOpenExternalLinks(True)    # any other (none today) in the user's browser
        self._html = guide_html()
        self.text.setHtml(themed_guide_html(self._html, self.palette()))
        self.contents = QListWidget()
        self.contents.setObjectName("guideContents")
        self.contents.itemActivated.connect(self._on_contents_item_activated)
        self.contents.itemClicked.connect(self._on_contents_item_activated)
        self._fill_contents()
        self.find_edit = QLineEdit()
        self.find_edit.setObjectName("guideFind")
        self.find_edit.setPlaceholderText(self.tr("Find in the guide (Enter: next)"))
        self.find_edit.setClearButtonEnabled(True)
        self.find_edit.returnPressed.connect(self.find_next)
        self.find_status = QLabel()
        find_row = QHBoxLayout()
        find_row.addWidget(self.find_edit, 1)
        find_row.addWidget(self.find_status)

        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(self.contents)
        splitter.addWidget(self.text)
        splitter.setStretchFactor(0, 0)
        splitter.setStretchFactor(1, 1)
        # the contents as wide as their longest title, within reason; the text takes the rest
        toc_width = min(self.contents.sizeHintForColumn(0) + 2 * self.contents.frameWidth() + _TOC_PADDING,
                        scaled_to_text(self, _TOC_MAX_WIDTH))
        splitter.setSizes([toc_width, self.width() - toc_width])
        splitter.setChildrenCollapsible(False)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(find_row)
        layout.addWidget(splitter, 1)
        layout.addWidget(buttons)

    def changeEvent(self, event: QEvent) -> None:  # noqa: N802 (Qt override)
        super().changeEvent(event)
        if event.type() == QEvent.Type.PaletteChange:
            # the tinted boxes again, for the new palette, where the reader was
            bar = self.text.verticalScrollBar()
            where = bar.value()
            self.text.setHtml(themed_guide_html(self._html, self.palette()))
            bar.setValue(where)

    def sections(self) -> list[tuple[str, str]]:
        """(anchor, title) of each entry of the table of contents, in order."""
        items = (self.contents.item(i) for i in range(self.contents.count()))
        return [(item.data(_ANCHOR_ROLE), item.text().strip()) for item in items]

    def show_section(self, anchor: str) -> None:
        self.text.scrollToAnchor(anchor)
        for i in range(self.contents.count()):
            if self.contents.item(i).data(_ANCHOR_ROLE) == anchor:
                self.contents.setCurrentRow(i)

    def find_next(self) -> bool:
        """Select the next match of the search box's text (from the top again after the last one)."""
        needle = self.find_edit.text().strip()
        if not needle:
            self.find_status.clear()
            return False
        found = self.text.find(needle)
        if not found:   # past the last match: start from the top
            cursor = self.text.textCursor()
            cursor.movePosition(cursor.MoveOperation.Start)
            self.text.setTextCursor(cursor)
            found = self.text.find(needle)
        self.find_status.setText("" if found else self.tr("Not found"))
        return found

    def _fill_contents(self) -> None:
        """One entry per h2/h3 heading that carries an anchor (``<h2 id="train">``)."""
        doc: QTextDocument = self.text.document()
        block = doc.begin()
        while block.isValid():
            level = block.blockFormat().headingLevel()
            if level in _TOC_LEVELS:
                anchor = next((name for fragment in _fragments(block)
                               for name in fragment.charFormat().anchorNames()), None)
                if anchor:
                    indent = "    " * (level - _TOC_LEVELS[0])
                    item = QListWidgetItem(indent + block.text().strip())
                    item.setToolTip(block.text().strip())
                    item.setData(_ANCHOR_ROLE, anchor)
                    if level == _TOC_LEVELS[0]:
                        font = item.font()
                        font.setBold(True)
                        item.setFont(font)
                    self.contents.addItem(item)
            block = block.next()

    def _on_contents_item_activated(self, item: QListWidgetItem) -> None:
        self.text.scrollToAnchor(item.data(_ANCHOR_ROLE))


def _fragments(block):
    it = block.begin()
    while not it.atEnd():
        fragment = it.fragment()
        if fragment.isValid():
            yield fragment
        it += 1


@dataclass(frozen=True)
class ShortcutEntry:
    """One key of the main window: where it works, the keys as the platform writes them, and what it does."""
    where: str      # "Everywhere", or the tab whose actions it belongs to ("Train", "Upscale"...)
    keys: str       # e.g. "Ctrl+Return" (native text: "⌘↩" on a Mac)
    command: str    # the menu path where there is one ("Train › Start Training"), else the action's name


EVERYWHERE = "Everywhere"


def collect_shortcuts(window) -> list[ShortcutEntry]:
    """Every keyboard shortcut of ``window`` (a ``MainWindow``) and its panels, from their live
    QActions and QShortcuts: the window's own first, then each tab's in tab order. Hidden actions
    are left out; one key listed once per place (a panel's zoom keys also belong to its views)."""
    panels = window.panels()
    tab_titles = {id(p): plain_text(window.tabs.tabText(window.tabs.indexOf(p))) for p in panels}
    found: dict[tuple[str, str], tuple[int, ShortcutEntry]] = {}
    order = [EVERYWHERE, *tab_titles.values()]

    def owner(obj) -> str:
        parent = obj.parent()
        while parent is not None:
            if id(parent) in tab_titles:
                return tab_titles[id(parent)]
            parent = parent.parent()
        return EVERYWHERE

    def add(where: str, sequences: list[QKeySequence], command: str, in_menu: bool) -> None:
        keys = ", ".join(s.toString(QKeySequence.SequenceFormat.NativeText) for s in sequences if not s.isEmpty())
        if not keys or not command:
            return
        key = (where, keys)
        # several actions with one key in one place (a panel's zoom and its views' own): keep the menu's
        if key not in found or (in_menu and not found[key][0]):
            found[key] = (int(in_menu), ShortcutEntry(where, keys, command))

    actions = window.findChildren(QAction)   # held here, so that ids stay unique while paths are read
    paths = _menu_paths(window)
    for action in actions:
        if not action.shortcuts() or not action.isVisible():
            continue
        path = paths.get(id(action), "")
        add(owner(action), action.shortcuts(), path or plain_text(action.text()), bool(path))
    for shortcut in window.findChildren(QShortcut):
        if shortcut.isEnabled():
            add(owner(shortcut), shortcut.keys(), shortcut.whatsThis() or shortcut.objectName(), False)
    entries = [entry for _, entry in found.values()]
    return sorted(entries, key=lambda e: order.index(e.where) if e.where in order else len(order))


def _menu_paths(window) -> dict[int, str]:
    """{id of each action in the menu bar's menus (sub-menus included): "View › Train"}.

    Read from the menu bar down rather than with ``QAction.associatedObjects()``, whose wrappers of
    Qt-made objects are unreliable in PySide (a menu bar's hidden extension menu shows up there).
    """
    paths: dict[int, str] = {}

    def walk(menu: QMenu, prefix: str, depth: int) -> None:
        if depth > _MAX_MENU_DEPTH:
            return
        for action in menu.actions():
            if action.isSeparator():
                continue
            path = f"{prefix} › {plain_text(action.text())}"
            paths.setdefault(id(action), path)
            if action.menu() is not None:
                walk(action.menu(), path, depth + 1)

    for top in window.menuBar().actions():
        if top.menu() is not None:
            walk(top.menu(), plain_text(top.text()), 1)
    return paths


class ShortcutsDialog(QDialog):
    """The keys of the window and of each tab, read from the live actions (``collect_shortcuts``)."""

    def __init__(self, window, parent: QWidget | None = None) -> None:
        super().__init__(parent if parent is not None else window)
        self.setWindowTitle(self.tr("Keyboard Shortcuts"))
        self.setSizeGripEnabled(True)
        self.resize(text_sized(self, _SHORTCUTS_SIZE))
        note = QLabel(self.tr("Keys under a tab's name work while that tab is shown; the others work everywhere "
                              "in the window. Most commands are also in the menus."))
        note.setWordWrap(True)
        self.tree = QTreeWidget()
        self.tree.setObjectName("shortcuts")
        self.tree.setHeaderLabels([self.tr("Keys"), self.tr("Command")])
        self.tree.setRootIsDecorated(False)
        self.tree.setAlternatingRowColors(True)
        self.tree.header().setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        self.entries = collect_shortcuts(window)
        group: QTreeWidgetItem | None = None
        for entry in self.entries:
            if group is None or group.data(0, _ANCHOR_ROLE) != entry.where:
                title = self.tr("Everywhere") if entry.where == EVERYWHERE else \
                    self.tr("In the {0} tab").format(entry.where)
                group = QTreeWidgetItem([title])
                group.setData(0, _ANCHOR_ROLE, entry.where)
                font = group.font(0)
                font.setBold(True)
                group.setFont(0, font)
                group.setFlags(Qt.ItemFlag.ItemIsEnabled)
                self.tree.addTopLevelItem(group)
                group.setFirstColumnSpanned(True)     # (only once it is in the tree)
            group.addChild(QTreeWidgetItem([entry.keys, entry.command]))
        self.tree.expandAll()
        self.tree.setItemsExpandable(False)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(note)
        layout.addWidget(self.tree, 1)
        layout.addWidget(buttons)

    def rows(self) -> list[tuple[str, str, str]]:
        """(group title, keys, command) of every row shown."""
        out = []
        for i in range(self.tree.topLevelItemCount()):
            group = self.tree.topLevelItem(i)
            for j in range(group.childCount()):
                child = group.child(j)
                out.append((group.text(0), child.text(0), child.text(1)))
        return out
