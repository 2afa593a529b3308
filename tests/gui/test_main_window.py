"""The main window: its panels, status bar, menus, remembered layout, closing during training or a
batch, handing trained models to the Upscale and Translate panels, and the app's exception hooks
and logging."""
from __future__ import annotations

import logging
import sys
import threading
import types
from pathlib import Path

import pytest
import torch
from PySide6.QtCore import QSettings, Qt, Signal
from PySide6.QtWidgets import QWidget

from ganstudio.core.checkpoint import list_step_checkpoints
from ganstudio.core.device import describe_device
from ganstudio.gui.main_window import MainWindow

from .conftest import WAIT_MS, fast_options
from .test_train_tasks import smooth_images, tiny_upscale_run


class StubTranslatePanel(QWidget):
    """Stands in for the Translate panel (built separately): records what it is asked to do."""

    status_changed = Signal(str)

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.opened: list[Path] = []
        self.shutdowns: list[int] = []
        self.busy = False

    def open_model(self, path) -> None:
        self.opened.append(Path(path))

    def menu_actions(self) -> list:
        return []

    def is_busy(self) -> bool:
        return self.busy

    def shutdown(self, wait_ms: int = 5000) -> bool:
        self.shutdowns.append(wait_ms)
        self.busy = False
        return True


@pytest.fixture(autouse=True)
def stub_translate_panel(monkeypatch):
    module = types.ModuleType("ganstudio.gui.translate_panel")
    module.TranslatePanel = StubTranslatePanel
    monkeypatch.setitem(sys.modules, "ganstudio.gui.translate_panel", module)
    return StubTranslatePanel


def menu_titles(window) -> list[str]:
    return [a.text().replace("&", "") for a in window.menuBar().actions() if a.isVisible()]


def training_window(qtbot, make_window, tiny_folder):
    """A main window whose Train panel has started a quick run (its first step is done)."""
    window = make_window(tiny_folder)
    panel = window.train_panel
    fast_options(panel)
    with qtbot.waitSignal(panel.step_ended, timeout=WAIT_MS):
        panel.start_action.trigger()
    return window, panel


def test_window_has_four_panels_menus_and_the_device(qtbot, make_window, tiny_folder):
    window = make_window(tiny_folder)
    assert [window.tabs.tabText(i) for i in range(window.tabs.count())] == ["Train", "Generate", "Translate",
                                                                            "Upscale"]
    view = next(a.menu() for a in window.menuBar().actions() if a.text() == "&View")
    assert [(a.text(), a.shortcut().toString()) for a in view.actions()] == [
        ("Train", "Ctrl+1"), ("Generate", "Ctrl+2"), ("Translate", "Ctrl+3"), ("Upscale", "Ctrl+4")]
    assert window.device_text().startswith("Training on: CPU") or "GPU" in window.device_text()
    assert "(1 threads)" not in window.device_text()
    assert menu_titles(window) == ["File", "View", "Train", "Help"]
    train_menu = next(a.menu() for a in window.menuBar().actions() if a.text().replace("&", "") == "Train")
    shortcuts = {a.text(): a.shortcut().toString() for a in train_menu.actions() if a.text()}
    assert shortcuts["Start Training"] == "Ctrl+Return"
    assert shortcuts["Stop and Save"] == "Ctrl+."
    assert shortcuts["Open Dataset Folder…"] == "Ctrl+O"
    window.show_panel(window.generate_panel)                 # the Train menu belongs to the Train panel
    assert "Train" not in menu_titles(window)
    window.show_panel(window.upscale_panel)
    assert menu_titles(window) == ["File", "View", "Upscale", "Help"]


def test_without_a_translate_panel_the_window_has_no_such_tab(qtbot, make_window, tiny_folder, monkeypatch):
    monkeypatch.setitem(sys.modules, "ganstudio.gui.translate_panel", None)    # not in this build
    window = make_window(tiny_folder)
    assert [window.tabs.tabText(i) for i in range(window.tabs.count())] == ["Train", "Generate", "Upscale"]
    assert window.translate_panel is None


def test_cpu_device_names_one_thread_in_the_singular():
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        assert describe_device(torch.device("cpu")) == "CPU (1 thread)"
        torch.set_num_threads(2)
        assert describe_device(torch.device("cpu")) == "CPU (2 threads)"
    finally:
        torch.set_num_threads(before)


def test_runs_hand_their_models_to_the_upscale_and_translate_panels(qtbot, make_window, tiny_folder, prefs, tmp_path):
    sr = tmp_path / "sr"
    smooth_images(sr)
    run = tiny_upscale_run(prefs.resolved_runs_dir() / "sr-upscale-x2", sr, steps=2)
    window = make_window(tiny_folder)
    runs = window.train_panel.runs_list
    qtbot.waitUntil(lambda: len(runs.runs()) == 1, timeout=WAIT_MS)
    assert runs.select_run(run)
    upscale = window.upscale_panel
    qtbot.waitUntil(lambda: not upscale.is_busy(), timeout=WAIT_MS)      # its first model has loaded
    with qtbot.waitSignal(upscale.model_loaded, timeout=WAIT_MS):
        qtbot.mouseClick(runs.upscale_button, Qt.MouseButton.LeftButton)
    assert window.tabs.currentWidget() is upscale
    assert upscale.model_key() == str(run) and upscale.upscaler() is not None

    translator_run = tmp_path / "runs" / "a-translator"
    window.train_panel.use_in_translate.emit(translator_run)
    assert window.translate_panel.opened == [translator_run]
    assert window.tabs.currentWidget() is window.translate_panel


def test_closing_during_a_batch_cancels_it_without_asking(qtbot, make_window, tiny_folder, monkeypatch):
    asked = []
    monkeypatch.setattr(MainWindow, "ask_to_quit", lambda self, reasons: asked.append(reasons) or False)
    window = make_window(tiny_folder)
    window.translate_panel.busy = True          # a batch is translating
    window.close()
    assert not asked and not window.isVisible()
    assert window.translate_panel.shutdowns and not window.translate_panel.is_busy()
    assert not window.upscale_panel.is_busy()


def test_an_idle_panels_status_line_stays_on_its_own_tab(qtbot, make_window, tiny_folder):
    window = make_window(tiny_folder)
    window.show_panel(window.translate_panel)
    window.translate_panel.status_changed.emit("Model: demo translator.")
    assert window.activity_text() == "Model: demo translator."
    window.show_panel(window.train_panel)
    window.translate_panel.status_changed.emit("Model: demo translator.")
    assert window.activity_text() == ""
    window.translate_panel.busy = True
    window.translate_panel.status_changed.emit("Translating 3 of 10…")
    assert window.activity_text() == "Translating 3 of 10…"


def test_status_bar_says_what_is_running(qtbot, make_window, tiny_folder):
    window, panel = training_window(qtbot, make_window, tiny_folder)
    qtbot.waitUntil(lambda: "Training tiny-seed-dcgan-16-" in window.activity_text(), timeout=WAIT_MS)
    assert "img/s" in window.activity_text()
    window.show_panel(window.generate_panel)                 # training still shows while generating
    assert "Training" in window.activity_text()
    with qtbot.waitSignal(panel.training_finished, timeout=WAIT_MS):
        panel.stop_action.trigger()
    qtbot.waitUntil(lambda: window.activity_text() == "", timeout=WAIT_MS)


def test_load_into_generate_opens_the_run_in_the_generate_panel(qtbot, make_window, tiny_folder, tmp_path):
    window = make_window(tiny_folder)
    run = tmp_path / "runs" / "some-run"
    window.train_panel.load_into_generate.emit(run)
    assert window.generate_panel.opened == [run]
    assert window.tabs.currentWidget() is window.generate_panel


def test_closing_during_training_asks_then_stops_with_a_checkpoint(qtbot, make_window, tiny_folder, monkeypatch):
    asked = []

    def answer_yes(self, reasons):
        asked.append(reasons)
        return True

    monkeypatch.setattr(MainWindow, "ask_to_quit", answer_yes)
    window, panel = training_window(qtbot, make_window, tiny_folder)
    run_dir = panel.run_dir()
    window.close()
    assert asked and "training" in asked[0]
    qtbot.waitUntil(lambda: not window.isVisible(), timeout=WAIT_MS)
    assert not panel.is_training()
    assert list_step_checkpoints(run_dir / "checkpoints")     # the stop saved one
    assert not [t for t in threading.enumerate() if t.name.startswith("ganstudio-read")]


def test_closing_during_training_can_be_refused(qtbot, make_window, tiny_folder, monkeypatch):
    monkeypatch.setattr(MainWindow, "ask_to_quit", lambda self, reasons: False)
    window, panel = training_window(qtbot, make_window, tiny_folder)
    window.close()
    assert window.isVisible() and panel.is_training()
    with qtbot.waitSignal(panel.step_ended, timeout=WAIT_MS):   # still training
        pass
    with qtbot.waitSignal(panel.training_finished, timeout=WAIT_MS):
        panel.stop_action.trigger()


def test_an_idle_panels_last_status_stays_on_its_own_tab(qtbot, make_window, tiny_folder):
    window = make_window(tiny_folder)
    upscale = window.upscale_panel
    window.show_panel(window.train_panel)
    qtbot.waitUntil(lambda: not upscale.is_busy(), timeout=WAIT_MS)      # its bundled model has loaded
    # its "Upscaler: …" line came while it was still busy; idle now, it belongs on its own tab only
    qtbot.waitUntil(lambda: "Upscaler" not in window.activity_text(), timeout=WAIT_MS)
    window.show_panel(upscale)
    assert window.activity_text().startswith("Upscaler:")


def test_first_window_fits_a_screen_smaller_than_its_default_size(qtbot, make_window, tiny_folder):
    from ganstudio.gui.main_window import _DEFAULT_SIZE

    window = make_window(tiny_folder)              # nothing remembered yet
    free = window.screen().availableGeometry()     # offscreen: 800x600, smaller than the default
    assert free.width() < _DEFAULT_SIZE[0] and free.height() < _DEFAULT_SIZE[1]
    assert window.width() <= free.width() and window.height() <= free.height()
    assert window.width() >= free.width() * 0.9    # but it uses the screen
    assert free.contains(window.frameGeometry().center())


def test_window_size_and_splitters_are_remembered(qtbot, make_window, tiny_folder):
    window = make_window(tiny_folder)
    window.resize(795, 530)     # the offscreen screen is 800x600; restoring clamps to it
    saved = window.size()
    panel = window.train_panel
    panel.main_splitter.setSizes([500, 600])
    before = panel.main_splitter.sizes()
    window.close()
    assert not window.isVisible()
    assert QSettings().value("splitters/train_main_splitter") is not None
    again = make_window()
    assert again.size() == saved and saved.height() == 530
    assert again.train_panel.main_splitter.sizes() == before


def test_about_names_the_licences_including_the_demo_images(qtbot, make_window, tiny_folder):
    window = make_window(tiny_folder)
    dialog = window.show_about()
    qtbot.addWidget(dialog)
    text = dialog.text.toPlainText()
    assert "MIT" in text and "PySide6" in text and "Fluent Emoji" in text
    dialog.close()


def test_uncaught_exceptions_are_logged_and_shown(qtbot, qapp, isolated_settings, error_boxes, monkeypatch, caplog):
    from ganstudio.gui.app import install_exception_hooks

    monkeypatch.setattr(sys, "excepthook", sys.excepthook)
    monkeypatch.setattr(threading, "excepthook", threading.excepthook)
    reporter = install_exception_hooks(qapp)
    with caplog.at_level(logging.CRITICAL):
        try:
            raise ValueError("boom in a slot")
        except ValueError:
            with qtbot.waitSignal(reporter.reported, timeout=WAIT_MS):
                sys.excepthook(*sys.exc_info())
        worker = threading.Thread(target=lambda: 1 / 0)
        with qtbot.waitSignal(reporter.reported, timeout=WAIT_MS):
            worker.start()
            worker.join()
    qtbot.waitUntil(lambda: len(error_boxes) == 2, timeout=WAIT_MS)
    assert "ValueError: boom in a slot" in error_boxes[0][0]
    assert "Traceback" in error_boxes[0][1]
    assert "ZeroDivisionError" in error_boxes[1][0]
    assert "uncaught exception" in caplog.text
    reporter.deleteLater()


def test_logging_goes_to_a_file_in_the_log_folder(isolated_settings, tmp_path):
    from ganstudio.gui import errors
    from ganstudio.gui.app import setup_logging

    root = logging.getLogger()
    before = list(root.handlers)
    try:
        path = setup_logging()
        logging.getLogger("ganstudio.test").warning("hello log file")
        for handler in root.handlers:
            handler.flush()
        assert path == tmp_path / "logs" / "ganstudio.log"
        assert "hello log file" in path.read_text(encoding="utf-8")
    finally:
        for handler in root.handlers[:]:
            if handler not in before:
                root.removeHandler(handler)
                handler.close()
        errors.set_log_file(None)


def test_settings_dir_variable_also_holds_the_window_layout(qapp, isolated_settings):
    from ganstudio.gui.app import configure_application

    configure_application(qapp)
    assert QSettings().fileName().startswith(str(isolated_settings))
    assert qapp.applicationName() == "GAN Studio" and not qapp.windowIcon().isNull()


def test_sigterm_stops_training_with_a_checkpoint_and_quits_without_asking(qtbot, qapp, make_window, tiny_folder,
                                                                           monkeypatch):
    """What logout, shutdown or ``kill`` send: the app saves and quits as its own Quit does, asking nothing."""
    import os
    import signal

    from ganstudio.gui.app import install_quit_signals

    asked = []
    monkeypatch.setattr(MainWindow, "ask_to_quit", lambda self, reasons: asked.append(reasons) or False)
    window, panel = training_window(qtbot, make_window, tiny_folder)
    run_dir = panel.run_dir()
    saved = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT)}
    wake = install_quit_signals(qapp, [window])
    try:
        os.kill(os.getpid(), signal.SIGTERM)
        qtbot.waitUntil(lambda: not window.isVisible(), timeout=WAIT_MS)
    finally:
        wake.stop()
        for s, handler in saved.items():
            signal.signal(s, handler)
    assert not asked and not panel.is_training()
    assert list_step_checkpoints(run_dir / "checkpoints")


def test_a_window_saved_on_a_bigger_screen_fits_this_one(qtbot, make_window, tiny_folder):
    window = make_window(tiny_folder)
    window.close()
    QSettings().setValue("main_window/size", [1850, 1000])     # as if saved on a 1920x1080 screen
    again = make_window()
    free = again.screen().availableGeometry()                  # offscreen: 800x600
    assert again.width() >= free.width() * 0.9 and again.width() <= free.width()
    assert free.contains(again.frameGeometry().center())


def test_panel_menus_have_alt_keys_and_the_tab_bar_keeps_the_keyboard(qtbot, make_window, tiny_folder):
    window = make_window(tiny_folder)
    titles = [a.text() for a in window.menuBar().actions() if a.text()]
    keys = [t[t.index("&") + 1].lower() for t in titles if "&" in t]
    assert len(keys) == len(titles) and len(set(keys)) == len(keys), titles     # one distinct key each
    bar = window.tabs.tabBar()
    bar.setFocus()
    qtbot.waitUntil(bar.hasFocus, timeout=WAIT_MS)
    qtbot.keyClick(bar, Qt.Key.Key_Right)
    qtbot.keyClick(bar, Qt.Key.Key_Right)
    assert window.tabs.currentIndex() == 2 and bar.hasFocus()


def test_model_dialogs_start_in_the_runs_folder_when_nothing_is_remembered(qtbot, make_window, tiny_folder, prefs):
    window = make_window(tiny_folder)
    runs = prefs.resolved_runs_dir()
    runs.mkdir(parents=True, exist_ok=True)
    assert window.upscale_panel._start_folder("last_model_dir") == str(runs)
    assert window.translate_panel.runs_folder() == runs             # a stub here; the real panel as Upscale
    assert window.generate_panel.runs_folder() == runs            # a stub too (its own tests check the rest)


def test_numbers_too_big_for_the_boxes_in_saved_settings_do_not_stop_the_window(qtbot, make_window, tiny_folder,
                                                                               prefs):
    """A settings file edited by hand or by another version: the window opens, values are clamped."""
    prefs.set_last_options({"steps": 3_000_000_000, "batch_size": 2**40, "seed": -(2**40)})
    QSettings().setValue("upscale/tile", 99_999_999_999)
    window = make_window(tiny_folder)
    form = window.train_panel.form
    assert form.steps.value() == form.steps.maximum() and form.seed.value() == form.seed.minimum()
    from ganstudio.gui.upscale_panel import TILE_MAX
    assert window.upscale_panel.inference_settings().tile == TILE_MAX


def test_the_quit_question_names_its_choices(qtbot, make_window, tiny_folder, monkeypatch):
    from PySide6.QtWidgets import QMessageBox

    seen = []

    def answer(box):
        seen.append(sorted(b.text() for b in box.buttons()))
        box.setDefaultButton(box.buttons()[0])
        return 0

    monkeypatch.setattr(QMessageBox, "exec", answer)
    window = make_window(tiny_folder)
    assert window.ask_to_quit("A model is training.") is False      # nothing clicked: keep working
    assert seen == [["Keep Working", "Stop and Quit"]]
