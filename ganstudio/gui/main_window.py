"""The main window: a composer of panels (Train, Generate, Translate, Upscale), a menu and a status bar.

Panels are plain widgets added with ``add_panel``. A panel may offer any of these (all optional):

- ``menu_actions()`` -> list of QAction / QMenu / None (separator): shown in a menu named after it;
- ``activity_changed`` (or ``status_changed``) Signal(str): what it is doing, for the status bar
  ("" when idle); the current panel's line is shown, else another busy panel's (training goes on
  while the user generates);
- ``is_busy()`` -> bool: with it, the panel's line shows on other tabs only while it is busy (a
  line it keeps when idle, such as the model it has loaded, belongs to its own tab);
- ``busy_reason()`` -> str | None: work that closing would interrupt (the window asks first);
- ``begin_shutdown()`` + ``shutdown_ready`` Signal(): stop that work cleanly, then signal;
- ``shutdown()``: cancel remaining background jobs and wait for their threads (blocking, short).

Only training is worth a question before closing (``busy_reason``); an upscale or translate batch
running when the window closes is cancelled and joined by that panel's ``shutdown``.

The Generate and Translate panels are built separately and imported lazily: a build without one
simply has no such tab.

Window geometry and the state of every named QSplitter inside the panels are kept in QSettings;
preferences (recent folders, options) live in ``settings.Preferences``.
"""
from __future__ import annotations

import importlib
import logging
from pathlib import Path

from PySide6.QtCore import QByteArray, QSettings, Qt, QUrl, Slot
from PySide6.QtGui import QAction, QCloseEvent, QDesktopServices, QGuiApplication, QIcon, QKeySequence
from PySide6.QtWidgets import (QDialog, QDialogButtonBox, QLabel, QMainWindow, QMenu, QMessageBox, QSplitter,
                               QStyle, QTabWidget, QTextBrowser, QVBoxLayout, QWidget)

from ganstudio import __version__
from ganstudio.core.device import describe_device, resolve_device

from .errors import show_error, show_exception
from .help import GuideDialog, ShortcutsDialog
from .settings import Preferences
from .theme import palette_icon
from .train_panel import TrainPanel
from .upscale_panel import UpscalePanel
from .widgets.elided_label import ElidedLabel
from .widgets.layout import text_sized

log = logging.getLogger(__name__)

_GEOMETRY_KEY = "main_window/geometry"
_STATE_KEY = "main_window/state"
_SIZE_KEY = "main_window/size"   # the normal size saved with the geometry: a bigger one than the screen is not restored
_TAB_KEY = "main_window/current_panel"
_SPLITTER_KEY = "splitters/{0}"
_DEFAULT_SIZE = (1400, 900)
#: at most this share of a smaller screen's free area for the first window
_SCREEN_SHARE = 0.95
#: the About box's first size at a 9 pt font (larger with a larger font)
_ABOUT_SIZE = (620, 520)


class MainWindow(QMainWindow):
    def __init__(self, preferences: Preferences | None = None, parent: QWidget | None = None, *,
                 autostart_demo: bool = False) -> None:
        super().__init__(parent)
        self.setWindowTitle(self.tr("GAN Studio"))
        self.prefs = preferences if preferences is not None else Preferences.load()
        self._panels: list[QWidget] = []
        self._panel_menus: dict[QWidget, QMenu] = {}
        self._activities: dict[QWidget, str] = {}
        self._closing = False          # a close is waiting for training to stop
        self._close_confirmed = False
        self._quit_requested = False   # the system asked GAN Studio to quit (logout, kill): no question
        self._guide: GuideDialog | None = None

        self.tabs = QTabWidget()
        self.tabs.setDocumentMode(True)
        self.tabs.currentChanged.connect(self._on_tabs_current_changed)
        self.setCentralWidget(self.tabs)
        self._make_menus()
        self._make_status_bar()

        initial = None
        if autostart_demo:
            from ganstudio.core.resources import demo_dataset_dir

            initial = str(demo_dataset_dir())
        self.train_panel = TrainPanel(self.prefs, initial_folder=initial)
        self.add_panel(self.train_panel, self.tr("Train"),
                       self.style().standardIcon(QStyle.StandardPixmap.SP_MediaPlay))
        self.generate_panel = self._make_optional_panel("generate_panel", "GeneratePanel")
        if self.generate_panel is not None:
            self.generate_panel.runs_folder = self.prefs.resolved_runs_dir
            self.add_panel(self.generate_panel, self.tr("Generate"),
                           self.style().standardIcon(QStyle.StandardPixmap.SP_FileDialogContentsView))
        self.translate_panel = self._make_optional_panel("translate_panel", "TranslatePanel")
        if self.translate_panel is not None:
            self.add_panel(self.translate_panel, self.tr("Translate"),
                           self.style().standardIcon(QStyle.StandardPixmap.SP_BrowserReload))
        self.upscale_panel = UpscalePanel(self)
        self.add_panel(self.upscale_panel, self.tr("Upscale"),
                       self.style().standardIcon(QStyle.StandardPixmap.SP_ArrowUp))
        for panel in (self.translate_panel, self.upscale_panel):
            if panel is not None:
                panel.runs_folder = self.prefs.resolved_runs_dir
        self.train_panel.load_into_generate.connect(self._on_train_panel_load_into_generate)
        self.train_panel.use_in_upscale.connect(self._on_train_panel_use_in_upscale)
        self.train_panel.use_in_translate.connect(self._on_train_panel_use_in_translate)
        self._restore_layout()
        if autostart_demo:
            self.train_panel.autostart_when_ready()
        if self.prefs.problem:
            self.statusBar().showMessage(self.prefs.problem, 15_000)

    # -- panels --------------------------------------------------------------------------------
    def add_panel(self, widget: QWidget, title: str, icon: QIcon | None = None) -> int:
        """Add a panel as a tab (with its menu, status messages and shutdown hooks); returns its index."""
        # Qt's black standard icons, drawn light on a dark palette (colour icons stay as they are)
        index = self.tabs.addTab(widget, palette_icon(icon) if icon is not None else QIcon(), title)
        self._panels.append(widget)
        for name in ("activity_changed", "status_changed"):
            signal = getattr(widget, name, None)
            if signal is not None:
                signal.connect(lambda text, w=widget: self._on_panel_activity_changed(w, text))
        entries = widget.menu_actions() if hasattr(widget, "menu_actions") else []
        if entries:
            menu = QMenu(self._with_mnemonic(title), self)
            for entry in entries:
                if entry is None:
                    menu.addSeparator()
                elif isinstance(entry, QMenu):
                    menu.addMenu(entry)
                else:
                    menu.addAction(entry)
            self.menuBar().insertMenu(self._help_menu.menuAction(), menu)
            self._panel_menus[widget] = menu
        number = len(self._panels)
        if number <= 9:
            show = QAction(title, self)
            show.setShortcut(QKeySequence(f"Ctrl+{number}"))
            show.triggered.connect(lambda _checked=False, w=widget: self.show_panel(w))
            self._view_menu.addAction(show)
        self._on_tabs_current_changed(self.tabs.currentIndex())
        return index

    def _with_mnemonic(self, title: str) -> str:
        """``title`` with an Alt key: its first letter that no other menu of the bar uses yet."""
        taken = set()
        for action in self.menuBar().actions():
            text = action.text()
            at = text.find("&")
            if 0 <= at < len(text) - 1:
                taken.add(text[at + 1].lower())
        for i, ch in enumerate(title):
            if ch.isalpha() and ch.lower() not in taken:
                return f"{title[:i]}&{title[i:]}"
        return title

    def panels(self) -> list[QWidget]:
        return list(self._panels)

    def show_panel(self, widget: QWidget) -> None:
        self.tabs.setCurrentWidget(widget)

    def _make_optional_panel(self, module_name: str, class_name: str) -> QWidget | None:
        # Imported lazily: these panels are built separately and may not be in this build yet.
        full_name = f"ganstudio.gui.{module_name}"
        try:
            module = importlib.import_module(full_name)
        except ModuleNotFoundError as e:
            if e.name != full_name:
                raise
            log.info("no %s in this build", class_name)
            return None
        return getattr(module, class_name)(self)

    @Slot(Path)
    def _on_train_panel_load_into_generate(self, path: Path) -> None:
        self._open_in(self.generate_panel, "open_model", Path(path), self.tr("Generate"))

    @Slot(Path)
    def _on_train_panel_use_in_upscale(self, path: Path) -> None:
        self._open_in(self.upscale_panel, "choose_model", str(path), self.tr("Upscale"))

    @Slot(Path)
    def _on_train_panel_use_in_translate(self, path: Path) -> None:
        self._open_in(self.translate_panel, "open_model", Path(path), self.tr("Translate"))

    def _open_in(self, panel: QWidget | None, method: str, argument: object, title: str) -> None:
        """Show ``panel`` and hand it a trained model (a run folder)."""
        if panel is None:
            show_error(self, self.tr("This version of GAN Studio has no {0} panel.").format(title))
            return
        self.show_panel(panel)
        try:
            getattr(panel, method)(argument)
        except Exception as e:  # the panel's own errors must not take the window down
            show_exception(self, e)

    def _on_tabs_current_changed(self, index: int) -> None:
        current = self.tabs.widget(index)
        for widget, menu in self._panel_menus.items():
            menu.menuAction().setVisible(widget is current)
        if current is not None and not self.tabs.tabBar().hasFocus():
            # panel shortcuts are scoped to the panel that has the focus; but a user walking the tabs
            # with the arrow keys keeps the focus on the tab bar
            current.setFocus()
        self._show_activity()

    # -- menus and status bar ------------------------------------------------------------------
    def _make_menus(self) -> None:
        bar = self.menuBar()
        file_menu = bar.addMenu(self.tr("&File"))
        show_log = file_menu.addAction(self.tr("Show Log Folder"))
        show_log.triggered.connect(self._on_show_log_triggered)
        file_menu.addSeparator()
        quit_action = file_menu.addAction(self.tr("&Quit"))
        quit_action.setShortcut(QKeySequence.StandardKey.Quit)
        quit_action.setMenuRole(QAction.MenuRole.QuitRole)
        quit_action.triggered.connect(self.close)
        self._view_menu = bar.addMenu(self.tr("&View"))
        self._help_menu = bar.addMenu(self.tr("&Help"))
        self.guide_action = self._help_menu.addAction(self.tr("&User Guide"))
        self.guide_action.setShortcut(QKeySequence.StandardKey.HelpContents)    # F1 (Ctrl+? on a Mac)
        self.guide_action.triggered.connect(lambda _checked=False: self.show_guide())
        self.shortcuts_action = self._help_menu.addAction(self.tr("&Keyboard Shortcuts"))
        self.shortcuts_action.triggered.connect(lambda _checked=False: self.show_shortcuts())
        self._help_menu.addSeparator()
        about = self._help_menu.addAction(self.tr("&About GAN Studio"))
        about.setMenuRole(QAction.MenuRole.AboutRole)
        about.triggered.connect(self.show_about)

    def _make_status_bar(self) -> None:
        # the current panel's line, shortened with "…" (whole in its tooltip) where the device leaves
        # too little room (a training line at a 14 pt font); a plain label was cut off mid-word
        self._activity = ElidedLabel(Qt.TextElideMode.ElideMiddle)
        self._device = QLabel()
        self._device.setToolTip(self.tr("Where training runs: change it in the Train panel's Advanced section "
                                        "(Device). Generate always uses the CPU, so that a seed makes the same "
                                        "image on every machine."))
        self.statusBar().addWidget(self._activity, 1)
        self.statusBar().addPermanentWidget(self._device)
        try:
            self.show_device(describe_device(resolve_device("auto")))
        except Exception as e:  # a broken GPU driver must not stop the window from opening
            log.warning("device detection failed: %s", e)
            self.show_device(self.tr("unknown"))

    def show_device(self, description: str) -> None:
        self._device.setText(self.tr("Training on: {0}").format(description))

    def device_text(self) -> str:
        return self._device.text()

    def activity_text(self) -> str:
        return self._activity.full_text()

    def _on_panel_activity_changed(self, panel: QWidget, text: str) -> None:
        self._activities[panel] = text
        self._show_activity()

    def _show_activity(self) -> None:
        current = self.tabs.currentWidget()
        text = self._activities.get(current, "")
        if not text:
            text = next((t for p, t in self._activities.items() if t and p is not current and _is_busy(p)), "")
        self._activity.set_full_text(text)

    def _on_show_log_triggered(self) -> None:
        from .app import log_dir

        QDesktopServices.openUrl(QUrl.fromLocalFile(str(log_dir())))

    def show_guide(self, section: str | None = None) -> GuideDialog:
        """Show the User Guide (one window, kept beside the main one), at ``section`` (an anchor) if given."""
        if self._guide is None:
            self._guide = GuideDialog(self)
        if section:
            self._guide.show_section(section)
        self._guide.show()
        self._guide.raise_()
        self._guide.activateWindow()
        return self._guide

    def show_shortcuts(self) -> ShortcutsDialog:
        """List the keyboard shortcuts, read from the window's actions as they are now."""
        dialog = ShortcutsDialog(self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.open()
        return dialog

    def show_about(self) -> QDialog:
        dialog = AboutDialog(self)
        dialog.open()
        return dialog

    # -- layout persistence --------------------------------------------------------------------
    def _splitters(self) -> list[QSplitter]:
        return [s for s in self.findChildren(QSplitter) if s.objectName()]

    def _fit_default_size(self) -> None:
        """The first window: the default size, or most of a smaller screen (a 1366x768 laptop)."""
        screen = self.screen() or QGuiApplication.primaryScreen()
        if screen is None:
            self.resize(*_DEFAULT_SIZE)
            return
        free = screen.availableGeometry()
        width = min(_DEFAULT_SIZE[0], int(free.width() * _SCREEN_SHARE))
        height = min(_DEFAULT_SIZE[1], int(free.height() * _SCREEN_SHARE))
        self.resize(width, height)
        frame = self.frameGeometry()
        frame.moveCenter(free.center())
        self.move(frame.topLeft())

    def _restore_layout(self) -> None:
        settings = QSettings()
        geometry = settings.value(_GEOMETRY_KEY)
        size = settings.value(_SIZE_KEY)
        screen = self.screen() or QGuiApplication.primaryScreen()
        free = screen.availableGeometry() if screen is not None else None
        fits = True
        try:
            width, height = (int(v) for v in size) if size else (0, 0)
            fits = free is None or (width <= free.width() and height <= free.height())
        except (TypeError, ValueError):
            pass
        if isinstance(geometry, QByteArray) and not geometry.isEmpty() and fits:
            self.restoreGeometry(geometry)
        else:   # first start, or a window saved on a bigger screen than this one
            self._fit_default_size()
        state = settings.value(_STATE_KEY)
        if isinstance(state, QByteArray):
            self.restoreState(state)
        for splitter in self._splitters():
            saved = settings.value(_SPLITTER_KEY.format(splitter.objectName()))
            if isinstance(saved, QByteArray):
                splitter.restoreState(saved)
        tab = settings.value(_TAB_KEY)
        if isinstance(tab, str):
            for i in range(self.tabs.count()):
                if self.tabs.tabText(i) == tab:
                    self.tabs.setCurrentIndex(i)

    def save_layout(self) -> None:
        settings = QSettings()
        settings.setValue(_GEOMETRY_KEY, self.saveGeometry())
        normal = self.normalGeometry()
        settings.setValue(_SIZE_KEY, [normal.width(), normal.height()])
        settings.setValue(_STATE_KEY, self.saveState())
        for splitter in self._splitters():
            settings.setValue(_SPLITTER_KEY.format(splitter.objectName()), splitter.saveState())
        settings.setValue(_TAB_KEY, self.tabs.tabText(self.tabs.currentIndex()))
        settings.sync()

    # -- closing -------------------------------------------------------------------------------
    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 (Qt override)
        if self._closing:
            # Already stopping; the window closes by itself when the checkpoint is written.
            self.statusBar().showMessage(self.tr("Still saving a checkpoint; the window closes when it is done."))
            event.ignore()
            return
        busy = [(p, p.busy_reason()) for p in self._panels if hasattr(p, "busy_reason") and p.busy_reason()]
        if busy and not self._close_confirmed:
            if not self._quit_requested and not self.ask_to_quit(" ".join(reason for _, reason in busy)):
                event.ignore()
                return
            self._close_confirmed = True
            self._closing = True
            waiting = {p for p, _ in busy}
            for panel in waiting:
                panel.shutdown_ready.connect(lambda p=panel: self._on_panel_shutdown_ready(p, waiting))
                panel.begin_shutdown()
            self.statusBar().showMessage(self.tr("Stopping training and saving a checkpoint…"))
            self.setEnabled(False)
            event.ignore()
            return
        self.save_layout()
        for panel in self._panels:
            if hasattr(panel, "shutdown"):
                panel.shutdown()
        event.accept()

    def ask_to_quit(self, reasons: str) -> bool:
        """Whether to stop what runs (``reasons``, e.g. "A model is training.") and quit; the buttons
        say what they do."""
        box = QMessageBox(QMessageBox.Icon.Question, self.tr("Quit GAN Studio?"),
                          self.tr("{0} Stop it, save a checkpoint and quit? You can resume the run later from "
                                  "the list of earlier runs.").format(reasons), parent=self)
        quit_button = box.addButton(self.tr("Stop and Quit"), QMessageBox.ButtonRole.AcceptRole)
        keep = box.addButton(self.tr("Keep Working"), QMessageBox.ButtonRole.RejectRole)
        box.setDefaultButton(keep)
        box.exec()
        return box.clickedButton() is quit_button

    def request_quit(self) -> None:
        """Quit as the user's Quit does, but without asking: training stops and saves a checkpoint
        first. For the system's requests to end (SIGTERM at logout or from ``kill``, Ctrl-C in the
        terminal that started the app)."""
        self._quit_requested = True
        self.close()

    def _on_panel_shutdown_ready(self, panel: QWidget, waiting: set[QWidget]) -> None:
        waiting.discard(panel)
        if not waiting and self._closing:
            self._closing = False
            self.close()


def _is_busy(panel: QWidget) -> bool:
    """Whether a panel's status line is worth showing while another panel is on screen: panels with
    ``is_busy()`` keep a status line when idle too ("Upscaler: …"), shown only on their own tab."""
    busy = getattr(panel, "is_busy", None)
    return bool(busy()) if callable(busy) else True


class AboutDialog(QDialog):
    """Version, licence and the third-party notices, including the demo images' licence."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(self.tr("About GAN Studio"))
        self.resize(text_sized(self, _ABOUT_SIZE))
        text = QTextBrowser()
        text.setOpenExternalLinks(True)
        text.setHtml(self._html())
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(text)
        layout.addWidget(buttons)
        self.text = text

    def _html(self) -> str:
        import html

        from PySide6 import __version__ as pyside_version

        parts = [
            f"<h2>GAN Studio {html.escape(__version__)}</h2>",
            "<p>" + self.tr("Train GANs on your own image folders, offline, and export the images you like.") + "</p>",
            "<p>" + self.tr("GAN Studio is free software under the MIT licence.") + "</p>",
            "<h3>" + self.tr("Built with") + "</h3><ul>",
            "<li>" + self.tr("Qt for Python (PySide6 {0}), LGPL v3").format(html.escape(pyside_version)) + "</li>",
            "<li>" + self.tr("PyTorch, BSD licence") + "</li>",
            "<li>" + self.tr("pyqtgraph, MIT licence") + "</li>",
            "<li>" + self.tr("Pillow (HPND licence), NumPy (BSD), safetensors (Apache 2.0), platformdirs (MIT)")
            + "</li></ul>",
            "<h3>" + self.tr("Demo images") + "</h3>",
        ]
        notice = _demo_licence_text()
        if notice:
            parts.append(f"<pre style='white-space: pre-wrap;'>{html.escape(notice)}</pre>")
        else:
            parts.append("<p>" + self.tr("The demo images are not installed.") + "</p>")
        return "".join(parts)


def _demo_licence_text() -> str | None:
    try:
        from ganstudio.core.resources import resource

        return resource("demo", "LICENSE.md").read_text(encoding="utf-8")
    except Exception:  # a missing or unreadable notice only leaves the section short
        return None
