"""The panels and dialogs with a larger system font (12-14 pt, for comfort) on a 1366x768 laptop:
rows of controls still fit, labels keep their text, the chart's axes stay readable.

Qt's own default here is 9 pt; every test sets a bigger application font before it builds the
widgets and puts the old one back afterwards.
"""
from __future__ import annotations

import math

import pytest
from PySide6.QtCore import QRect
from PySide6.QtGui import QFont, QFontMetrics
from PySide6.QtWidgets import (QAbstractButton, QApplication, QListWidget, QMainWindow, QScrollArea, QTabWidget,
                               QWidget)

from .conftest import WAIT_MS
from .conftest import LAPTOP_PANEL
from .test_small_screen import fake_runs

#: the font size of these tests: the top of the range artists use for comfort
BIG_POINTS = 14


@pytest.fixture
def font_size(qapp):
    """Sets the application's font size (points) for the widgets the test builds next."""
    old = QFont(qapp.font())

    def set_size(points: float) -> QFont:
        font = QFont(old)
        font.setPointSizeF(points)
        qapp.setFont(font)
        return font

    yield set_size
    qapp.setFont(old)


@pytest.fixture
def whole_columns(monkeypatch):
    """Side columns as wide as their content needs: the offscreen screen is only 800 pixels wide,
    where the column's cap (a share of the screen) would be narrower than on a laptop."""
    from ganstudio.gui.widgets import layout

    monkeypatch.setattr(layout, "MAX_COLUMN_SHARE", 1.0)


def text_fits(button: QAbstractButton) -> bool:
    return button.fontMetrics().horizontalAdvance(button.text().replace("&", "")) <= button.width()


def column_problems(panel: QWidget) -> list[str]:
    """What is cut off in a panel's side column: a sideways scroll bar, buttons narrower than their text."""
    column = panel.findChild(QScrollArea)
    problems = []
    if column.horizontalScrollBar().maximum() > 0:
        problems.append(f"scrolls sideways by {column.horizontalScrollBar().maximum()} px")
    for button in column.widget().findChildren(QAbstractButton):
        if button.isVisible() and button.text() and not text_fits(button):
            problems.append(f"{button.text()!r} cut to {button.width()} px")
    return problems


@pytest.fixture
def big_panel(laptop_panel, font_size, whole_columns):
    """Build an image panel at a 14 pt font and the laptop size; its threads are joined afterwards."""
    font_size(BIG_POINTS)
    return laptop_panel


@pytest.mark.parametrize("module, name", [("generate_panel", "GeneratePanel"), ("upscale_panel", "UpscalePanel"),
                                          ("translate_panel", "TranslatePanel")])
def test_a_side_column_widens_with_the_font_instead_of_cutting_its_buttons(qtbot, big_panel, module, name):
    import importlib

    panel = big_panel(getattr(importlib.import_module(f"ganstudio.gui.{module}"), name))
    qtbot.waitUntil(lambda: not column_problems(panel), timeout=5_000)


def test_the_train_column_fits_each_task_at_a_large_font(qtbot, make_panel, font_size, whole_columns, tiny_folder):
    font_size(BIG_POINTS)
    panel = make_panel(tiny_folder)
    panel.resize(*LAPTOP_PANEL)
    for task in ("gan", "upscale", "translate"):
        panel.set_task(task)
        qtbot.waitUntil(lambda: not column_problems(panel), timeout=5_000)
    left, right = panel.main_splitter.sizes()
    assert right > left                        # the chart and the samples keep the larger part


def test_the_generate_columns_keep_their_default_widths_at_the_default_font(qtbot, isolated_settings):
    from PySide6.QtWidgets import QSplitter

    from ganstudio.gui.generate_panel import GeneratePanel

    panel = GeneratePanel(device="cpu")
    qtbot.addWidget(panel)
    panel.resize(1300, 630)
    panel.show()
    splitter = panel.findChild(QSplitter, "generateSplitter")
    qtbot.waitUntil(lambda: splitter.sizes()[1] > 0)
    left, _middle, right = splitter.sizes()
    assert left == 320 and right == 300       # what _build asks for: the font needs no more
    assert not column_problems(panel)
    assert panel.shutdown(WAIT_MS)


def gan_chart(qtbot, size: tuple[int, int]):
    """A GAN's chart with a few points in both panes, at ``size``."""
    from ganstudio.gui.widgets.loss_chart import LossChart
    from ganstudio.gui.widgets.task_views import chart_layout

    chart = LossChart(layout=chart_layout("gan"))
    qtbot.addWidget(chart)
    chart.resize(*size)
    chart.show()
    for step in range(50):
        chart.add_point(step, {"loss_d": 1 + 0.2 * math.sin(step / 5), "loss_g": 0.7, "d_real": 0.8, "d_fake": 0.5})
    chart.redraw()
    qtbot.waitUntil(lambda: len(chart.shown_panes()) == 2)
    return chart


def smoothing_row(chart) -> list[QWidget]:
    slider = chart.smoothing_slider
    row = [w for w in chart.findChildren(QWidget) if w.isVisible() and w.parentWidget() is chart
           and abs(w.geometry().center().y() - slider.geometry().center().y()) < slider.height()]
    return sorted(row, key=lambda w: w.x())


def test_the_smoothing_row_keeps_its_slider_usable_at_a_large_font(qtbot, font_size):
    from ganstudio.gui.widgets.loss_chart import SLIDER_MIN_CHARS

    font_size(BIG_POINTS)
    chart = gan_chart(qtbot, (450, 330))     # the chart's share of a 1366x768 window at 14 pt
    slider = chart.smoothing_slider
    qtbot.waitUntil(lambda: slider.width() >= SLIDER_MIN_CHARS * slider.fontMetrics().averageCharWidth())
    row = smoothing_row(chart)
    assert slider in row
    for left, right in zip(row, row[1:]):            # side by side, none over another
        assert left.geometry().right() < right.geometry().left(), (left, right)
    help_label = chart.help_label
    assert chart.help_on_own_line()
    assert chart.rect().contains(help_label.geometry())
    assert help_label.fontMetrics().horizontalAdvance(help_label.text()) <= help_label.width()


def test_at_the_default_font_the_help_link_stays_in_the_smoothing_row(qtbot):
    chart = gan_chart(qtbot, (440, 340))     # its size on a 1366x768 laptop
    qtbot.waitUntil(lambda: chart.help_label.isVisible())
    assert not chart.help_on_own_line()
    assert chart.help_label in smoothing_row(chart)


def test_a_narrow_chart_can_still_shrink_below_the_whole_smoothing_row(qtbot, font_size):
    font_size(BIG_POINTS)
    chart = gan_chart(qtbot, (450, 330))
    one_row = sum(w.sizeHint().width() for w in smoothing_row(chart)) + chart.help_label.sizeHint().width()
    assert chart.minimumSizeHint().width() < one_row    # a splitter may make it narrower: the link moves down


def test_tick_labels_of_a_short_pane_are_a_line_apart_at_a_large_font(qapp, font_size):
    import pyqtgraph as pg

    from ganstudio.gui.widgets.loss_chart import ValueAxis

    font = font_size(BIG_POINTS)
    axis = ValueAxis("left")
    line = QFontMetrics(font).height()
    low, high, pixels = -0.05, 1.05, 60       # D outputs (0..1) in a pane 60 pixels tall
    major = axis.tickSpacing(low, high, pixels)[0][0]
    assert major * pixels / (high - low) >= line
    # a tall pane keeps pyqtgraph's own choice
    assert axis.tickSpacing(low, high, 400) == pg.AxisItem("left").tickSpacing(low, high, 400)


def test_a_long_pane_title_goes_on_two_lines_where_its_pane_is_short(qtbot, font_size):
    font_size(BIG_POINTS)
    chart = gan_chart(qtbot, (450, 330))
    lower = chart.graphics.ci.getItem(1, 0)
    qtbot.waitUntil(lambda: "<br>" in lower.getAxis("left").labelText)
    assert lower.getAxis("left").labelText.replace("<br>", " ") == chart.shown_panes()[1]
    # the legend's names at the window's text size, not pyqtgraph's fixed 9 pt
    assert lower.legend.opts["labelTextSize"] == f"{BIG_POINTS}pt"


def test_pane_titles_stay_on_one_line_at_the_default_font(qtbot):
    chart = gan_chart(qtbot, (440, 340))
    for row in (0, 1):
        assert "<br>" not in chart.graphics.ci.getItem(row, 0).getAxis("left").labelText


@pytest.fixture
def runs_list(qtbot, prefs):
    from ganstudio.gui.widgets.runs_list import RunsList

    made = []

    def make(width: int):
        runs = RunsList()
        qtbot.addWidget(runs)
        made.append(runs)
        runs.resize(width, 240)
        runs.show()
        fake_runs(prefs.resolved_runs_dir(), 3)
        with qtbot.waitSignal(runs.refreshed, timeout=WAIT_MS):
            runs.set_folder(prefs.resolved_runs_dir())
        return runs

    yield make
    for runs in made:
        runs.shutdown()


def test_run_names_keep_a_readable_width_at_a_large_font(qtbot, font_size, runs_list):
    from ganstudio.gui.widgets.runs_list import RUN_NAME_MIN_CHARS

    font_size(BIG_POINTS)
    runs = runs_list(495)       # the earlier runs' share of a 1366x768 window
    tree = runs.tree
    qtbot.waitUntil(lambda: tree.header().sectionSize(0) >= RUN_NAME_MIN_CHARS * tree.fontMetrics().averageCharWidth())
    name_width = tree.header().sectionSize(0)
    shown = tree.fontMetrics().elidedText(tree.topLevelItem(0).text(0), tree.textElideMode(), name_width - 8)
    assert len(shown.replace("…", "")) >= 12          # more than "…": the dataset and the time stamp's end
    qtbot.waitUntil(lambda: tree.horizontalScrollBar().maximum() > 0)     # the date is a sideways scroll away


def test_run_names_fill_the_width_the_other_columns_leave_at_the_default_font(qtbot, runs_list):
    runs = runs_list(495)
    tree = runs.tree
    header = tree.header()
    qtbot.waitUntil(lambda: sum(header.sectionSize(c) for c in range(5)) == tree.viewport().width())
    qtbot.waitUntil(lambda: tree.horizontalScrollBar().maximum() == 0)
    runs.resize(700, 240)           # wider: the names get the room
    qtbot.waitUntil(lambda: sum(header.sectionSize(c) for c in range(5)) == tree.viewport().width())


def test_image_list_rows_grow_with_the_font(qtbot, font_size, tmp_path):
    from ganstudio.gui.widgets.up_input_list import THUMB_SIDE, UpInputList

    font_size(16)
    view = UpInputList()
    qtbot.addWidget(view)
    view.resize(300, 400)
    view.show()
    view.set_inputs([(tmp_path / "a-rather-long-file-name.png", "a-rather-long-file-name.png")])
    view.set_preview(0, None, (4000, 3000))
    row = view.visualItemRect(view.item(0))
    assert row.height() >= 2 * view.fontMetrics().lineSpacing() + 4     # the name and the size, whole
    assert row.height() >= THUMB_SIDE


def test_the_list_of_failed_files_shows_several_lines_at_a_large_font(qtbot, big_panel):
    from ganstudio.gui.upscale_panel import UpscalePanel

    panel = big_panel(UpscalePanel)
    problems = panel.findChild(QListWidget, "batchProblems")
    assert problems.maximumHeight() >= 7 * problems.fontMetrics().lineSpacing()      # as many lines as at 9 pt


class BareWindow(QMainWindow):
    """A window with no panels, as the shortcuts list reads one."""

    def __init__(self) -> None:
        super().__init__()
        self.tabs = QTabWidget()
        self.setCentralWidget(self.tabs)

    def panels(self) -> list[QWidget]:
        return []


def fits_screen(dialog) -> bool:
    free = dialog.screen().availableGeometry()
    return dialog.width() <= free.width() and dialog.height() <= free.height()


def test_the_user_guide_grows_with_the_font_and_its_contents_show_whole_titles(qtbot, font_size):
    from ganstudio.gui.help import GuideDialog

    font_size(BIG_POINTS)
    guide = GuideDialog()
    qtbot.addWidget(guide)
    guide.show()
    assert fits_screen(guide)      # the offscreen screen is 800x800: smaller than the guide would like
    contents = guide.contents
    qtbot.waitUntil(lambda: contents.isVisible())
    assert contents.horizontalScrollBar().maximum() == 0, "a title of the contents is cut off"


def test_the_shortcuts_list_and_about_box_fit_the_screen_at_a_large_font(qtbot, font_size):
    from ganstudio.gui.help import ShortcutsDialog
    from ganstudio.gui.main_window import AboutDialog

    font_size(BIG_POINTS)
    window = BareWindow()
    qtbot.addWidget(window)
    for dialog in (ShortcutsDialog(window), AboutDialog(window)):
        qtbot.addWidget(dialog)
        assert fits_screen(dialog)
        assert dialog.width() > 560        # larger than at 9 pt: the same text, in bigger letters


def test_dialogs_keep_their_sizes_at_the_default_font(qtbot, monkeypatch):
    from PySide6.QtCore import QSize

    from ganstudio.gui.help import GuideDialog, ShortcutsDialog
    from ganstudio.gui.main_window import AboutDialog

    if QApplication.font().pointSizeF() != 9 or QFontMetrics(QApplication.font()).height() != 14:
        pytest.skip("the sizes are stated for the 9 pt default font of this machine")
    monkeypatch.setattr("PySide6.QtGui.QScreen.availableGeometry", lambda screen: QRect(0, 0, 1366, 738))
    window = BareWindow()
    qtbot.addWidget(window)
    sizes = {}
    for dialog in (GuideDialog(window), ShortcutsDialog(window), AboutDialog(window)):
        qtbot.addWidget(dialog)
        sizes[type(dialog).__name__] = dialog.size()
    assert sizes == {"GuideDialog": QSize(980, 660), "ShortcutsDialog": QSize(560, 560), "AboutDialog": QSize(620, 520)}


def test_a_long_status_line_is_shortened_not_cut_off_at_a_large_font(qtbot, font_size, make_window, tiny_folder):
    from PySide6.QtWidgets import QLabel

    font_size(BIG_POINTS)
    window = make_window(tiny_folder)
    line = ("Training tiny-seed-dcgan-16-20261129-042449: Step 1,880 / 100,000 · 1,398 img/s · "
            "about 20 min left")
    window.train_panel.activity_changed.emit(line)
    assert window.activity_text() == line
    shown = next(label for label in window.statusBar().findChildren(QLabel) if label.toolTip() == line)
    qtbot.waitUntil(lambda: shown.fontMetrics().horizontalAdvance(shown.text()) <= shown.width())
    assert "…" in shown.text() and shown.text().endswith("left")      # the time left stays readable
    window.train_panel.activity_changed.emit("")
