"""Fixtures for the GUI tests: isolated settings, tiny image folders, and panels whose threads are
always stopped and joined (a test that leaves a QThread running kills the whole pytest process)."""
from __future__ import annotations

import sys
import types
from pathlib import Path

import pytest
from PySide6.QtCore import QCoreApplication, QSettings, Signal
from PySide6.QtWidgets import QMessageBox, QWidget

from tests.conftest import make_images

#: generous: the machine is shared, and the first training run imports torch and builds models
WAIT_MS = 60_000

_OFFSCREEN_NOISE = r"This plugin does not support (propagateSizeHints|raise)"


def pytest_collection_modifyitems(config, items):
    # The offscreen platform cannot resize windows to their size hints and logs a warning whenever
    # a layout's minimum size changes, nor raise a window (the User Guide raises itself when asked
    # for again); on a real screen nothing is logged.
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.qt_log_ignore(_OFFSCREEN_NOISE))


@pytest.fixture
def isolated_settings(qapp, tmp_path, monkeypatch):
    """Preferences and QSettings in tmp_path, and the app's names restored afterwards."""
    monkeypatch.setenv("GANSTUDIO_SETTINGS_DIR", str(tmp_path / "settings"))
    monkeypatch.setenv("GANSTUDIO_LOG_DIR", str(tmp_path / "logs"))
    old = QCoreApplication.organizationName(), QCoreApplication.applicationName()
    QCoreApplication.setOrganizationName("GanStudioTests")
    QCoreApplication.setApplicationName("train-panel")
    QSettings.setDefaultFormat(QSettings.Format.IniFormat)
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(tmp_path / "qsettings"))
    yield tmp_path / "settings"
    QCoreApplication.setOrganizationName(old[0])
    QCoreApplication.setApplicationName(old[1])


@pytest.fixture
def prefs(isolated_settings, tmp_path):
    """Fresh preferences whose runs go to tmp_path/runs."""
    from ganstudio.gui.settings import Preferences

    p = Preferences.load()
    p.set_runs_dir(tmp_path / "runs")
    return p


@pytest.fixture
def tiny_folder(tmp_path):
    """12 small PNGs of random blobs (sizes around 20x18)."""
    folder = tmp_path / "tiny"
    make_images(folder, n=12)
    return folder


@pytest.fixture
def error_boxes(monkeypatch):
    """Error dialogs opened with QMessageBox.open: their (text, details); none is really shown."""
    shown: list[tuple[str, str]] = []
    monkeypatch.setattr(QMessageBox, "open", lambda box: shown.append((box.text(), box.detailedText())))
    return shown


def stop_and_join(panel) -> None:
    """Stop every background job of a panel and wait for its threads."""
    panel.shutdown()
    assert not panel.is_training()


@pytest.fixture
def make_panel(qtbot, prefs, error_boxes):
    """Build Train panels (shown, 1400x900); every one is shut down and joined after the test."""
    from ganstudio.gui.train_panel import TrainPanel

    made = []

    def make(folder: Path | None = None, wait_scan: bool = True) -> TrainPanel:
        if folder is not None:
            prefs.add_recent_folder(folder)
        panel = TrainPanel(prefs)
        qtbot.addWidget(panel)
        made.append(panel)
        panel.resize(1400, 900)
        panel.show()
        if wait_scan:
            qtbot.waitUntil(lambda: panel.dataset_view.report() is not None or
                            "No usable" in panel.dataset_view.summary_text(), timeout=WAIT_MS)
        return panel

    yield make
    for panel in made:
        stop_and_join(panel)


def fast_options(panel, *, steps: int = 100_000, sample_every: int = 5, checkpoint_every: int = 100_000) -> None:
    """Tiny, quick training options, set through the form as a user would."""
    form = panel.form
    form.set_preset("seed-dcgan-16")
    form.batch_size.setValue(4)
    form.threads.setValue(1)
    form.precision.setCurrentIndex(form.precision.findData("fp32"))
    form.steps.setValue(steps)
    form.sample_every.setValue(sample_every)
    form.checkpoint_every.setValue(checkpoint_every)


class StubGeneratePanel(QWidget):
    """Stands in for the Generate panel (built separately): records the models it is asked to open."""

    status_changed = Signal(str)

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.opened: list[Path] = []

    def open_model(self, path: Path) -> None:
        self.opened.append(Path(path))

    def shutdown(self) -> None:
        pass


@pytest.fixture
def stub_generate_panel(monkeypatch):
    module = types.ModuleType("ganstudio.gui.generate_panel")
    module.GeneratePanel = StubGeneratePanel
    monkeypatch.setitem(sys.modules, "ganstudio.gui.generate_panel", module)
    return StubGeneratePanel


@pytest.fixture
def make_window(qtbot, prefs, error_boxes, stub_generate_panel):
    """Build main windows; each is closed or shut down (threads joined) after the test."""
    from ganstudio.gui.main_window import MainWindow

    made = []

    def make(folder: Path | None = None):
        if folder is not None:
            prefs.add_recent_folder(folder)
        window = MainWindow(prefs)
        qtbot.addWidget(window)
        made.append(window)
        window.show()
        panel = window.train_panel
        qtbot.waitUntil(lambda: panel.dataset_view.report() is not None, timeout=WAIT_MS)
        return window

    yield make
    for window in made:
        for panel in window.panels():
            if hasattr(panel, "shutdown"):
                panel.shutdown()
        assert not window.train_panel.is_training()


#: an image panel's size inside a 1366x768 laptop screen's window
LAPTOP_PANEL = (1366, 630)


@pytest.fixture
def laptop_panel(qtbot, isolated_settings, error_boxes):
    """Build a panel at the laptop size; its background threads are joined after the test."""
    made = []

    def make(cls):
        panel = cls(device="cpu")
        qtbot.addWidget(panel)
        panel.resize(*LAPTOP_PANEL)
        panel.show()
        made.append(panel)
        return panel

    yield make
    for panel in made:
        assert panel.shutdown(WAIT_MS)


def drop(widget, path) -> bool:
    """Drag ``path`` over the widget and drop it, as a file manager would; True if the drop was taken.
    (QDragEnterEvent takes a QPoint and QDropEvent a QPointF, as in C++; PySide6 6.12 also took a
    QPointF for the first, 6.11 does not.)"""
    from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
    from PySide6.QtGui import QDragEnterEvent, QDropEvent
    from PySide6.QtWidgets import QApplication

    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(path))])
    centre = widget.rect().center()
    buttons = (Qt.DropAction.CopyAction, mime, Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier)
    enter = QDragEnterEvent(centre, *buttons)
    QApplication.sendEvent(widget, enter)
    if not enter.isAccepted():
        return False
    event = QDropEvent(QPointF(centre), *buttons)
    QApplication.sendEvent(widget, event)
    return event.isAccepted()
