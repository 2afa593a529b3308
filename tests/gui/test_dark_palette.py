"""The app follows the system palette, light or dark, and its changes while running.

Each test applies a dark palette (as a dark desktop theme gives one: with its Disabled colours)
to the application, checks what a user would see (the chart's background and axis text, the log's
warning colour, the Pause icon's pixels...), and the ``app_palette`` fixture puts the application's
palette back afterwards. The light palette's look must not change at all: where a colour is
checked on the default palette, it is the one the app always had.
"""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import QSize
from PySide6.QtGui import QColor, QIcon, QImage, QPalette, QTextCharFormat
from PySide6.QtWidgets import QApplication, QStyle, QStyleFactory, QStyleOptionButton

from ganstudio.gui import theme
from ganstudio.gui.theme import (GRAPHIC_CONTRAST, TEXT_CONTRAST, PaletteIconStyle, contrast_ratio, is_dark,
                                 luminance, palette_icon, readable, status_colour)
from ganstudio.gui.widgets.dataset_view import DatasetView, image_thumbnails, thumbnail_sheet
from ganstudio.gui.widgets.fix_note import FixNote
from ganstudio.gui.widgets.image_view import ImageView
from ganstudio.gui.widgets.log_view import LogView
from ganstudio.gui.widgets.loss_chart import ChartLayout, Curve, LossChart, Pane

_DARK = {"Window": "#2b2b2b", "WindowText": "#e8e8e8", "Base": "#1e1e1e", "AlternateBase": "#2b2b2b",
         "Text": "#e8e8e8", "Button": "#353535", "ButtonText": "#e8e8e8", "Highlight": "#2a82da",
         "HighlightedText": "#ffffff", "ToolTipBase": "#353535", "ToolTipText": "#e8e8e8",
         "PlaceholderText": "#8a8a8a", "Link": "#6fb3ff", "Mid": "#454545", "Dark": "#202020",
         "Light": "#505050"}
_DARK_DISABLED = {"WindowText": "#7f7f7f", "Text": "#7f7f7f", "ButtonText": "#7f7f7f", "Base": "#262626",
                  "Button": "#303030"}


def dark_palette() -> QPalette:
    palette = QPalette()
    for role, colour in _DARK.items():
        palette.setColor(getattr(QPalette.ColorRole, role), QColor(colour))
    for role, colour in _DARK_DISABLED.items():
        palette.setColor(QPalette.ColorGroup.Disabled, getattr(QPalette.ColorRole, role), QColor(colour))
    return palette


@pytest.fixture
def app_palette(qapp):
    """Set the application's palette in a test (``set_palette(dark_palette())``); restored after it."""
    saved = QPalette(qapp.palette())

    def set_palette(palette: QPalette) -> None:
        qapp.setPalette(palette)
        # Qt hands a new application palette to the widgets from the event loop (a desktop's
        # light/dark switch arrives the same way)
        qapp.processEvents()

    yield set_palette
    set_palette(saved)


@pytest.fixture
def dark(app_palette):
    app_palette(dark_palette())
    return QApplication.palette()


def base(widget) -> QColor:
    return widget.palette().color(QPalette.ColorRole.Base)


def visible_pixels(image: QImage) -> np.ndarray:
    """RGB of an image's pixels that are at least half opaque, as floats 0..255."""
    image = image.convertToFormat(QImage.Format.Format_RGBA8888)
    rows = np.frombuffer(image.constBits(), np.uint8).reshape(image.height(), image.bytesPerLine())
    pixels = rows[:, :image.width() * 4].reshape(image.height(), image.width(), 4)
    return pixels[pixels[..., 3] >= 128][:, :3].astype(float)


def mean_colour(pixels: np.ndarray) -> QColor:
    return QColor(*(int(round(c)) for c in pixels.mean(axis=0)))


def fragment_colours(document) -> set[str]:
    """The foreground colours written into a text document (#rrggbb)."""
    found = set()
    block = document.begin()
    while block.isValid():
        it = block.begin()
        while not it.atEnd():
            fmt = it.fragment().charFormat()
            if fmt.hasProperty(QTextCharFormat.Property.ForegroundBrush):
                found.add(fmt.foreground().color().name())
            it += 1
        block = block.next()
    return found


# -- colour arithmetic ---------------------------------------------------------------------------
def test_contrast_and_readable_colours_follow_wcag():
    assert contrast_ratio(QColor("black"), QColor("white")) == pytest.approx(21.0)
    assert contrast_ratio(QColor("#777777"), QColor("#777777")) == pytest.approx(1.0)
    dark_bg, light_bg = QColor("#1e1e1e"), QColor("#ffffff")
    assert is_dark(dark_bg) and not is_dark(light_bg)
    lighter = readable(QColor("#b00020"), dark_bg)       # red made for white paper, on a dark one
    assert contrast_ratio(lighter, dark_bg) >= TEXT_CONTRAST and luminance(lighter) > luminance(QColor("#b00020"))
    assert readable(QColor("#b00020"), light_bg).name() == "#b00020"      # already readable: unchanged


def test_status_colours_keep_the_light_look_and_are_lighter_and_readable_on_dark():
    white, window = QColor("#ffffff"), QColor("#efefef")
    assert status_colour("warning", white).name() == "#9a6700"
    assert status_colour("error", white).name() == "#b00020"
    assert status_colour("muted", white).name() == "#707070"
    assert status_colour("note", window).name() == "#8a5a00"
    for background in ("#1e1e1e", "#2b2b2b", "#353535", "#000000", "#5a5a5a"):
        for kind in ("warning", "error", "muted", "note"):
            colour = status_colour(kind, QColor(background))
            assert contrast_ratio(colour, QColor(background)) >= TEXT_CONTRAST, (kind, background)


# -- the loss chart ------------------------------------------------------------------------------
def _axis_text_colour(chart: LossChart) -> QColor:
    plot = chart.graphics.ci.getItem(0, 0)
    return plot.getAxis("left").textPen().color()


def test_chart_on_the_light_palette_is_white_with_soft_black_axes(qtbot, qapp):
    if is_dark(QApplication.palette().color(QPalette.ColorRole.Base)):
        pytest.skip("the default palette here is dark")
    chart = LossChart()
    qtbot.addWidget(chart)
    assert chart.graphics.backgroundBrush().color() == base(chart)
    assert _axis_text_colour(chart).name() == "#303030"        # as it always was on white


def test_chart_on_a_dark_palette_has_the_palette_base_and_light_text(qtbot, dark):
    # the reference grey and the dark blue sink into a dark background unless lightened
    layout = ChartLayout((Pane("loss", "loss"),), curves={
        "loss_g": Curve("G", "loss", "#1f78b4"), "bicubic": Curve("bicubic", "loss", "#666666", dashed=True)},
        evaluation={"psnr": Curve("validation", "loss", "#666666")})
    chart = LossChart(layout=layout)
    qtbot.addWidget(chart)
    chart.resize(500, 300)
    chart.add_point(0, {"loss_d": 1.0, "loss_g": 2.0, "bicubic": 1.5})
    chart.add_point(10, {"loss_d": 1.2, "loss_g": 1.8, "bicubic": 1.4})
    chart.add_evaluation(10, {"psnr": 1.3})
    chart.redraw()
    background = chart.graphics.backgroundBrush().color()
    assert background == dark.color(QPalette.ColorRole.Base)
    text = _axis_text_colour(chart)
    assert luminance(text) > 0.5 and contrast_ratio(text, background) >= TEXT_CONTRAST
    plot = chart.graphics.ci.getItem(0, 0)
    assert plot.legend.opts["labelTextColor"] == text
    assert plot.legend.opts["brush"].color().rgb() == background.rgb()
    for series in chart._series.values():     # every curve stands out from the dark background
        assert contrast_ratio(series.curve.opts["pen"].color(), background) >= GRAPHIC_CONTRAST
        if series.evaluation:
            assert contrast_ratio(series.curve.opts["symbolBrush"].color(), background) >= GRAPHIC_CONTRAST
    # what is on screen: the plot area is dark
    chart.show()
    qtbot.waitExposed(chart)
    shot = chart.graphics.grab().toImage()
    centre = shot.pixelColor(shot.width() // 2, shot.height() // 3)
    assert luminance(centre) < 0.1 or contrast_ratio(centre, background) < 1.5


def test_chart_follows_a_palette_change_while_running(qtbot, app_palette):
    chart = LossChart()
    qtbot.addWidget(chart)
    chart.add_point(0, {"loss_d": 1.0})
    chart.redraw()
    app_palette(dark_palette())
    background = chart.graphics.backgroundBrush().color()
    assert background == QColor(_DARK["Base"])
    assert luminance(_axis_text_colour(chart)) > 0.5
    series = chart._series["loss_d"]
    assert contrast_ratio(series.curve.opts["pen"].color(), background) >= GRAPHIC_CONTRAST
    # the faint raw curve is a tint towards the dark background, not towards white
    assert luminance(series.raw_curve.opts["pen"].color()) < luminance(series.curve.opts["pen"].color())


# -- the log -------------------------------------------------------------------------------------
def test_log_warnings_and_errors_are_readable_on_a_dark_palette(qtbot, dark):
    log = LogView()
    qtbot.addWidget(log)
    log.add("warning", "The discriminator is winning.", 1200)
    log.add("error", "Training diverged.", 2990)
    background = base(log)
    colours = fragment_colours(log.document())
    for kind in ("warning", "error", "muted"):
        assert log.level_colour(kind).name() in colours
        assert contrast_ratio(log.level_colour(kind), background) >= TEXT_CONTRAST, kind
    for name in colours:
        assert contrast_ratio(QColor(name), background) >= TEXT_CONTRAST, name


def test_log_lines_already_written_are_recoloured_when_the_palette_changes(qtbot, app_palette):
    log = LogView()
    qtbot.addWidget(log)
    log.add("warning", "careful", 1)
    log.add("error", "broken", 2)
    before = fragment_colours(log.document())
    app_palette(dark_palette())
    after = fragment_colours(log.document())
    assert after != before
    background = QColor(_DARK["Base"])
    assert all(contrast_ratio(QColor(name), background) >= TEXT_CONTRAST for name in after)
    assert "careful" in log.toPlainText() and "broken" in log.toPlainText()


def test_log_colours_on_the_light_palette_are_the_original_ones(qtbot, qapp):
    if is_dark(QApplication.palette().color(QPalette.ColorRole.Base)):
        pytest.skip("the default palette here is dark")
    log = LogView()
    qtbot.addWidget(log)
    log.add("warning", "w", 1)
    log.add("error", "e", 2)
    assert {"#9a6700", "#b00020", "#707070"} <= fragment_colours(log.document())


# -- rich-text warnings in labels ----------------------------------------------------------------
def test_dataset_errors_and_fix_notes_follow_the_palette(qtbot, app_palette):
    view = DatasetView()
    qtbot.addWidget(view)
    view.show_error("The folder cannot be read.")
    note = FixNote()
    qtbot.addWidget(note)
    note.show_note("These sizes enlarge your images.", "Train at 64 px")
    light_window = view.palette().color(QPalette.ColorRole.Window)
    if not is_dark(light_window):
        assert "#b00020" in view.summary.text() and "#8a5a00" in note.text()
    app_palette(dark_palette())
    window = QColor(_DARK["Window"])
    error = status_colour("error", window).name()
    assert error in view.summary.text() and "#b00020" not in view.summary.text()
    assert status_colour("note", window).name() in note.text()
    assert contrast_ratio(QColor(error), window) >= TEXT_CONTRAST
    assert "The folder cannot be read." in view.summary_text()
    view.show_error("Another problem.")        # written while the palette is dark
    assert error in view.summary.text() and "#b00020" not in view.summary.text()


# -- icons ---------------------------------------------------------------------------------------
def test_palette_icon_is_the_style_icon_itself_on_the_light_palette(qtbot, qapp):
    if is_dark(QApplication.palette().color(QPalette.ColorRole.Button)):
        pytest.skip("the default palette here is dark")
    plain = qapp.style().standardIcon(QStyle.StandardPixmap.SP_MediaPause)
    themed = palette_icon(plain)
    for scale in (1.0, 1.5, 2.0):
        for mode in (QIcon.Mode.Normal, QIcon.Mode.Disabled):
            a = plain.pixmap(QSize(16, 16), scale, mode).toImage()
            b = themed.pixmap(QSize(16, 16), scale, mode).toImage()
            assert a == b and a.devicePixelRatio() == b.devicePixelRatio()
    assert palette_icon(themed).cacheKey() == themed.cacheKey()      # never wrapped twice


def test_palette_icons_are_light_on_a_dark_palette_and_follow_changes(qtbot, app_palette, qapp):
    pause = palette_icon(qapp.style().standardIcon(QStyle.StandardPixmap.SP_MediaPause))
    folder = palette_icon(qapp.style().standardIcon(QStyle.StandardPixmap.SP_DirOpenIcon))
    folder_before = folder.pixmap(QSize(16, 16)).toImage()
    app_palette(dark_palette())          # after the icons were made: they follow by themselves
    button = QColor(_DARK["Button"])
    ink = mean_colour(visible_pixels(pause.pixmap(QSize(16, 16)).toImage()))
    assert luminance(ink) > 0.6 and contrast_ratio(ink, button) >= GRAPHIC_CONTRAST
    disabled = mean_colour(visible_pixels(pause.pixmap(QSize(16, 16), QIcon.Mode.Disabled).toImage()))
    assert disabled.name() == _DARK_DISABLED["ButtonText"]
    assert folder.pixmap(QSize(16, 16)).toImage() == folder_before      # a colour icon is left alone


def test_train_panel_pause_and_stop_icons_are_light_on_dark_buttons(qtbot, make_panel, tiny_folder, dark):
    panel = make_panel(tiny_folder)
    button = dark.color(QPalette.ColorRole.Button)
    for action in (panel.start_action, panel.pause_action, panel.stop_action):
        for mode in (QIcon.Mode.Normal, QIcon.Mode.Disabled):
            pixels = visible_pixels(action.icon().pixmap(QSize(16, 16), mode).toImage())
            assert len(pixels) > 10
            ink = mean_colour(pixels)
            assert contrast_ratio(ink, button) >= GRAPHIC_CONTRAST, (action.text(), mode)
    # the thumbnails sit on the palette's Base, not on a white sheet
    thumbs = panel.dataset_view.thumbnails
    shot = thumbs.canvas.grab().toImage()
    corner = thumbs.canvas.target_rect().topLeft()       # the sheet's transparent margin
    assert shot.pixelColor(corner.x(), corner.y()) == dark.color(QPalette.ColorRole.Base)


def test_the_style_gives_qt_its_standard_icons_as_palette_icons(qtbot, dark):
    """Qt's own buttons (a dialog's Close, a message box's OK, a line edit's clear button) take their
    icons from the style: with ``PaletteIconStyle`` they are light on a dark palette too."""
    style = PaletteIconStyle("fusion")
    button = dark.color(QPalette.ColorRole.Button)
    for which in (QStyle.StandardPixmap.SP_DialogCloseButton, QStyle.StandardPixmap.SP_DialogOkButton,
                  QStyle.StandardPixmap.SP_LineEditClearButton, QStyle.StandardPixmap.SP_MediaStop):
        icon = style.standardIcon(which)
        ink = mean_colour(visible_pixels(icon.pixmap(QSize(16, 16)).toImage()))
        assert contrast_ratio(ink, button) >= GRAPHIC_CONTRAST, which


def test_the_checked_segment_of_a_choice_is_drawn_in_the_highlight(qtbot, app_palette):
    """"Side by side" | "Split": Fusion draws a checked button a shade darker, which a dark palette
    hides; a segment (``mark_segment``) takes the palette's Highlight when checked, the plain look not."""
    from PySide6.QtWidgets import QToolButton

    from ganstudio.gui.theme import mark_segment

    style = PaletteIconStyle("fusion")
    app_palette(dark_palette())
    highlight = QColor(_DARK["Highlight"])

    def body(checked: bool, segment: bool) -> QColor:
        button = QToolButton()
        qtbot.addWidget(button)
        button.setStyle(style)
        button.setText("Split")
        button.setCheckable(True)
        button.setChecked(checked)
        if segment:
            mark_segment(button)
        button.resize(80, 24)
        return button.grab().toImage().pixelColor(6, 12)      # left of the text, inside the frame

    def tint(colour: QColor) -> int:        # the blue Highlight shows as blue over red; grey buttons as 0
        return colour.blue() - colour.red()

    assert tint(highlight) > 150 and tint(body(True, True)) > 100          # the style shades it a little
    assert abs(tint(body(False, True))) < 20 and abs(tint(body(True, False))) < 20


@pytest.mark.parametrize("kind", ["checkbox", "radio"])
def test_check_boxes_and_radio_buttons_are_outlined_visibly_on_a_dark_palette(qtbot, app_palette, kind):
    """Fusion outlines them in a darker shade of the window colour, invisible on a dark window."""
    from PySide6.QtWidgets import QCheckBox, QRadioButton

    app_palette(dark_palette())
    window = QColor(_DARK["Window"])

    def frame_contrast(style) -> float:
        box = (QCheckBox if kind == "checkbox" else QRadioButton)("Best quality")
        qtbot.addWidget(box)
        box.setStyle(style)
        box.resize(160, 24)
        image = box.grab().toImage()
        option = QStyleOptionButton()
        option.initFrom(box)
        indicator = box.style().subElementRect(QStyle.SubElement.SE_CheckBoxIndicator if kind == "checkbox"
                                               else QStyle.SubElement.SE_RadioButtonIndicator, option, box)
        assert 8 <= indicator.width() <= 24 and indicator.right() < 30       # the box alone, not the text
        return max(contrast_ratio(image.pixelColor(x, y), window)
                   for x in range(indicator.left(), indicator.right() + 1)
                   for y in range(indicator.top(), indicator.bottom() + 1))

    assert frame_contrast(QStyleFactory.create("fusion")) < GRAPHIC_CONTRAST    # the problem, plain Fusion
    assert frame_contrast(PaletteIconStyle("fusion")) >= GRAPHIC_CONTRAST


def test_install_wraps_the_application_style_once(qapp):
    class FakeApp:
        def __init__(self):
            self.styles = [qapp.style()]

        def style(self):
            return self.styles[-1]

        def setStyle(self, style):  # noqa: N802 (Qt's name)
            self.styles.append(style)

    fake = FakeApp()
    theme.install(fake)
    assert isinstance(fake.style(), PaletteIconStyle)
    assert fake.style().baseStyle().name() == qapp.style().name()
    theme.install(fake)
    assert len(fake.styles) == 2

    class Native:
        def name(self):
            return "windows11"

    native = FakeApp()
    native.styles = [Native()]
    theme.install(native)
    assert len(native.styles) == 1      # a native style is left as it is


# -- images on the palette's paper ---------------------------------------------------------------
def shown(qtbot, view, side: int):
    """``view`` on screen, ``side`` pixels square, closed after the test."""
    qtbot.addWidget(view)
    view.resize(side, side)
    view.show()
    return view


def test_transparent_pixels_are_shown_on_the_palette_base(qtbot, app_palette):
    view = shown(qtbot, ImageView(), 40)
    rgba = np.zeros((8, 8, 4), np.uint8)
    rgba[2:6, 2:6] = (255, 0, 0, 255)
    view.set_image(rgba)

    def corner() -> QColor:
        shot = view.canvas.grab().toImage()
        drawn = view.canvas.target_rect()
        return shot.pixelColor(drawn.left(), drawn.top())

    assert corner() == view.palette().color(QPalette.ColorRole.Base)
    app_palette(dark_palette())
    assert corner() == QColor(_DARK["Base"])
    assert view.image_shape() == (8, 8, 4)


def test_training_previews_show_their_gaps_in_the_palettes_background(qtbot, app_palette):
    """A live sample grid's gaps are the panel's background, not white lines across a dark panel."""
    from ganstudio.core.data import preview_sheet
    from ganstudio.gui.widgets.sample_view import SampleView

    view = shown(qtbot, SampleView(), 300)
    red = np.zeros((10, 10, 3), np.uint8)
    red[..., 0] = 200
    app_palette(dark_palette())
    with qtbot.waitSignal(view.samples_shown, timeout=2000):
        view.show_samples(5, preview_sheet([[red, red], [red, red]]))
    shot = view.canvas.grab().toImage()
    drawn = view.canvas.target_rect()
    assert shot.pixelColor(drawn.left(), drawn.top()) == QColor(_DARK["Base"])          # a gap
    centre = shot.pixelColor(drawn.center().x() // 2 + drawn.left() // 2, drawn.center().y() // 2 + drawn.top() // 2)
    assert centre == QColor(200, 0, 0)                                                 # a sample


def test_thumbnails_on_white_are_exactly_the_old_white_thumbnails(tmp_path):
    """On a light palette the thumbnails look as before, when they were composited on white in the job."""
    from ganstudio.core.data import make_grid
    from ganstudio.gui.widgets.image_view import on_paper

    rng = np.random.default_rng(0)
    paths = []
    for i in range(6):
        pixels = rng.integers(0, 256, (30 + i, 24, 4), dtype=np.uint8)    # every level of transparency
        paths.append(tmp_path / f"t{i}.png")
        Image.fromarray(pixels, "RGBA").save(paths[-1])
    side = 20

    def old_tile(path):
        with Image.open(path) as im:
            im = im.convert("RGBA")
            im.thumbnail((side, side), Image.Resampling.LANCZOS)
            tile = Image.new("RGBA", (side, side), (255, 255, 255, 255))
            tile.alpha_composite(im, ((side - im.width) // 2, (side - im.height) // 2))
            return np.asarray(tile.convert("RGB"))

    old = make_grid(np.stack([old_tile(p) for p in paths]), nrow=3)
    new = on_paper(thumbnail_sheet(np.stack(image_thumbnails(paths, side)), nrow=3), QColor("white"))
    assert np.array_equal(old, new)


# -- the User Guide ------------------------------------------------------------------------------
def test_guide_tinted_boxes_are_dark_on_a_dark_palette(qtbot, app_palette, monkeypatch):
    from ganstudio.gui import help as help_module

    page = ('<html><head><style>.tip { background-color: #eef5ee; } .warn { background-color: #fbf1e3; }'
            '</style></head><body><p class="tip">A tip.</p><p class="warn">A warning.</p></body></html>')
    monkeypatch.setattr(help_module, "guide_html", lambda: page)
    dialog = help_module.GuideDialog()
    qtbot.addWidget(dialog)

    def backgrounds() -> list[QColor]:
        block = dialog.text.document().begin()
        found = []
        while block.isValid():
            if block.text().strip():
                found.append(block.blockFormat().background().color())
            block = block.next()
        return found

    if not is_dark(dialog.palette().color(QPalette.ColorRole.Base)):
        assert [c.name() for c in backgrounds()] == ["#eef5ee", "#fbf1e3"]
    app_palette(dark_palette())
    text = QColor(_DARK["Text"])
    for colour in backgrounds():
        assert is_dark(colour) and contrast_ratio(text, colour) >= TEXT_CONTRAST


def test_tab_icons_are_light_on_a_dark_palette(qtbot, make_window, tiny_folder, dark):
    window = make_window(tiny_folder)
    button = dark.color(QPalette.ColorRole.Button)
    train = window.tabs.tabIcon(window.tabs.indexOf(window.train_panel))
    ink = mean_colour(visible_pixels(train.pixmap(QSize(16, 16)).toImage()))
    assert contrast_ratio(ink, button) >= GRAPHIC_CONTRAST
