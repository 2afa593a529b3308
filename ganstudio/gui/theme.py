"""Colours and icons that follow the system palette, light or dark, and its changes while the app runs.

Nothing here chooses a theme: the palette is the desktop's (or whatever the app was started with).
Widgets that draw their own colours take them from here and redo them on ``QEvent.PaletteChange``,
which Qt sends to every widget when the application palette changes, a desktop switching between
light and dark included (Qt 6.5+ turns ``QStyleHints.colorSchemeChanged`` into a new palette).

- ``status_colour``: warning, error, note and muted-text colours, the app's designed ones on a light
  background and lighter variants on a dark one, always at least ``TEXT_CONTRAST`` (WCAG 2)
  against the background they are drawn on. ``status_span`` writes rich text with them, which a
  ``widgets.themed_label.ThemedLabel`` shows in the colours for its background (``themed_html``).
- ``palette_icon``: a monochrome icon (the style's play, pause, stop, close...), which Qt ships
  drawn in black, redrawn in the palette's button-text colour wherever black would not stand out
  against the buttons; colour icons and icons that already stand out are left as they are.
- ``PaletteIconStyle`` (``install``): the app's style with every standard icon a ``palette_icon``,
  so that Qt's own buttons (a dialog's Close, a message box's OK, a line edit's clear button)
  follow too.

On a light palette every colour and icon is exactly what it was before this module existed
(screenshots of every tab and dialog compared pixel for pixel).
"""
from __future__ import annotations

import re
from collections.abc import Callable

from PySide6.QtCore import QSize
from PySide6.QtGui import QColor, QGuiApplication, QIcon, QIconEngine, QImage, QPainter, QPalette, QPixmap
from PySide6.QtWidgets import QProxyStyle, QStyle, QWidget

#: WCAG 2 AA contrast for body text (and what the warning and error colours keep at the least)
TEXT_CONTRAST = 4.5
#: WCAG 2 contrast for graphics (icons, chart lines) against what is around them
GRAPHIC_CONTRAST = 3.0
#: below this relative luminance a background counts as dark: the point where white text and black
#: text have the same contrast against it
_DARK_LUMINANCE = 0.179
#: text colours in rich text, (on a light background, on a dark one). The light ones are the app's
#: original colours; the dark ones are lighter versions of the same hues.
_STATUS = {
    "warning": ("#9a6700", "#e3b341"),     # amber: log warnings
    "note": ("#8a5a00", "#e3b341"),        # a darker amber: a one-line note with a fix under a summary
    "error": ("#b00020", "#ff7b72"),       # red: log errors, a folder that cannot be used
    "muted": ("#707070", "#a0a0a0"),       # grey: the log's time stamps
}
#: steps of lightening or darkening tried by ``readable`` before it gives white or black
_ADJUST_STEPS = 20
#: an icon is monochrome when this share of its visible pixels is grey (channels within _GREY_SPREAD)
_MONOCHROME_SHARE = 0.95
_GREY_SPREAD = 48
_VISIBLE_ALPHA = 64
#: a status colour as ``status_span`` writes it (its light-background value)
_STATUS_COLOUR = re.compile("color:(" + "|".join(sorted({light for light, _ in _STATUS.values()})) + ");")
#: the status kind of each light-background colour (``themed_html``)
_KIND_OF_LIGHT = {light: kind for kind, (light, _dark) in _STATUS.items()}


def luminance(colour: QColor) -> float:
    """WCAG 2 relative luminance of an opaque colour (0 black .. 1 white)."""
    def linear(channel: float) -> float:
        return channel / 12.92 if channel <= 0.03928 else ((channel + 0.055) / 1.055) ** 2.4

    return 0.2126 * linear(colour.redF()) + 0.7152 * linear(colour.greenF()) + 0.0722 * linear(colour.blueF())


def contrast_ratio(a: QColor, b: QColor) -> float:
    """WCAG 2 contrast ratio of two colours, 1 (same) .. 21 (black on white)."""
    high, low = sorted((luminance(a), luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def is_dark(colour: QColor) -> bool:
    """Whether ``colour`` is a dark background (light text reads better on it than dark text)."""
    return luminance(colour) < _DARK_LUMINANCE


def mix(a: QColor, b: QColor, share_of_b: float) -> QColor:
    """``a`` moved ``share_of_b`` (0..1) of the way towards ``b``, channel by channel (opaque)."""
    return QColor(*(round(x + (y - x) * share_of_b) for x, y in
                    zip((a.red(), a.green(), a.blue()), (b.red(), b.green(), b.blue()))))


def readable(colour: QColor, background: QColor, minimum: float = TEXT_CONTRAST) -> QColor:
    """``colour`` if it has ``minimum`` contrast against ``background``; else the same colour made
    lighter (on a dark background) or darker (on a light one), just enough."""
    colour = QColor(colour)
    if contrast_ratio(colour, background) >= minimum:
        return colour
    target = QColor(255, 255, 255) if is_dark(background) else QColor(0, 0, 0)
    return _first_mix(colour, target, lambda c: contrast_ratio(c, background) >= minimum)


def _first_mix(colour: QColor, target: QColor, good: Callable[[QColor], bool]) -> QColor:
    """The least step (of ``_ADJUST_STEPS``) of ``colour`` towards ``target`` that is ``good``; else ``target``."""
    for step in range(1, _ADJUST_STEPS + 1):
        candidate = mix(colour, target, step / _ADJUST_STEPS)
        if good(candidate):
            return candidate
    return target


def status_colour(kind: str, background: QColor) -> QColor:
    """The colour of ``kind`` ("warning", "note", "error", "muted") text on ``background``."""
    light, dark = _STATUS[kind]
    return readable(QColor(dark if is_dark(background) else light), background, TEXT_CONTRAST)


def status_hex(kind: str, background: QColor) -> str:
    """``status_colour`` as "#rrggbb", for a rich text's ``style="color:…"``."""
    return status_colour(kind, background).name()


def status_span(kind: str, inner_html: str) -> str:
    """``inner_html`` in ``kind``'s colour, written with its light-background colour; a
    ``widgets.themed_label.ThemedLabel`` shows it in the colour for its own background
    (``themed_html``)."""
    return f'<span style="color:{_STATUS[kind][0]};">{inner_html}</span>'


def themed_html(text: str, background: QColor) -> str:
    """``text`` (made with ``status_span``) with each status colour the one for ``background``."""
    return _STATUS_COLOUR.sub(lambda m: f"color:{status_hex(_KIND_OF_LIGHT[m.group(1)], background)};", text)


# -- icons -------------------------------------------------------------------------------------------
_themed_icons: set[int] = set()    # cache keys of icons made by palette_icon (never wrapped twice)


def palette_icon(icon: QIcon) -> QIcon:
    """``icon`` drawn in the application palette's button-text colour when it is a monochrome icon
    that would not stand out against the palette's buttons (Qt's black media and dialog icons on a
    dark palette); otherwise, and on a light palette, exactly as it is. Follows palette changes by
    itself: the colour is chosen each time the icon is drawn."""
    if icon.isNull() or icon.cacheKey() in _themed_icons:
        return icon
    themed = QIcon(_PaletteIconEngine(QIcon(icon)))
    _themed_icons.add(themed.cacheKey())
    return themed


class _PaletteIconEngine(QIconEngine):
    """Draws a base icon, recoloured to the palette's button text when it is dark on dark (see
    ``palette_icon``). The decision and the recoloured pixmaps are cached per size and colour."""

    def __init__(self, base: QIcon) -> None:
        super().__init__()
        self._base = base
        self._monochrome: dict[tuple[int, int, float], tuple[bool, QColor]] = {}
        self._pixmaps: dict[tuple, QPixmap] = {}

    # what Qt asks an engine for
    def scaledPixmap(self, size: QSize, mode: QIcon.Mode, state: QIcon.State,  # noqa: N802 (Qt override)
                     scale: float) -> QPixmap:
        colour = self._recolour_to(size, scale, mode, state)
        if colour is None:
            return self._base.pixmap(size, scale, mode, state)
        key = (size.width(), size.height(), scale, mode, state, colour.rgba())
        pixmap = self._pixmaps.get(key)
        if pixmap is None:
            base = self._base.pixmap(size, scale, mode, state)
            if base.isNull():
                return base
            # the shape (alpha) of the normal pixmap, filled with the colour: Qt's disabled version of
            # a black icon is a dark grey, which vanishes on a dark button just as black does
            shape = self._base.pixmap(size, scale, QIcon.Mode.Normal, state)
            pixmap = QPixmap(shape)
            painter = QPainter(pixmap)
            painter.setCompositionMode(QPainter.CompositionMode.CompositionMode_SourceIn)
            painter.fillRect(pixmap.rect(), colour)
            painter.end()
            pixmap.setDevicePixelRatio(shape.devicePixelRatio())
            self._pixmaps[key] = pixmap
        return pixmap

    def pixmap(self, size: QSize, mode: QIcon.Mode, state: QIcon.State) -> QPixmap:
        return self.scaledPixmap(size, mode, state, 1.0)

    def paint(self, painter: QPainter, rect, mode: QIcon.Mode, state: QIcon.State) -> None:
        scale = painter.device().devicePixelRatioF() if painter.device() is not None else 1.0
        pixmap = self.scaledPixmap(rect.size(), mode, state, scale)
        painter.drawPixmap(rect, pixmap)

    def actualSize(self, size: QSize, mode: QIcon.Mode, state: QIcon.State) -> QSize:  # noqa: N802
        return self._base.actualSize(size, mode, state)

    def availableSizes(self, mode: QIcon.Mode = QIcon.Mode.Normal,  # noqa: N802
                       state: QIcon.State = QIcon.State.Off) -> list[QSize]:
        return self._base.availableSizes(mode, state)

    def iconName(self) -> str:  # noqa: N802
        return self._base.name()

    def isNull(self) -> bool:  # noqa: N802
        return self._base.isNull()

    def key(self) -> str:
        return "ganstudio-palette"

    def clone(self) -> QIconEngine:
        return _PaletteIconEngine(self._base)

    # the decision
    def _recolour_to(self, size: QSize, scale: float, mode: QIcon.Mode, state: QIcon.State) -> QColor | None:
        """The colour to draw the icon in, or None to draw it as it is."""
        palette = QGuiApplication.palette()
        button = palette.color(QPalette.ColorGroup.Active, QPalette.ColorRole.Button)
        key = (size.width(), size.height(), scale)
        if key not in self._monochrome:
            normal = self._base.pixmap(size, scale, QIcon.Mode.Normal, state)
            self._monochrome[key] = _monochrome_colour(normal)
        monochrome, ink = self._monochrome[key]
        if not monochrome or contrast_ratio(ink, button) >= GRAPHIC_CONTRAST:
            return None
        if mode == QIcon.Mode.Disabled:
            return palette.color(QPalette.ColorGroup.Disabled, QPalette.ColorRole.ButtonText)
        if mode == QIcon.Mode.Selected:
            return palette.color(QPalette.ColorGroup.Active, QPalette.ColorRole.HighlightedText)
        return palette.color(QPalette.ColorGroup.Active, QPalette.ColorRole.ButtonText)


def _monochrome_colour(pixmap: QPixmap) -> tuple[bool, QColor]:
    """(whether the pixmap's visible pixels are all one grey, their average colour)."""
    import numpy as np

    if pixmap.isNull():
        return False, QColor()
    image = pixmap.toImage().convertToFormat(QImage.Format.Format_RGBA8888)
    pixels = np.frombuffer(image.constBits(), np.uint8).reshape(image.height(), image.bytesPerLine())
    pixels = pixels[:, :image.width() * 4].reshape(image.height(), image.width(), 4)
    visible = pixels[pixels[..., 3] >= _VISIBLE_ALPHA][:, :3].astype(np.int16)
    if len(visible) == 0:
        return False, QColor()
    grey = (visible.max(axis=1) - visible.min(axis=1)) <= _GREY_SPREAD
    mean = visible.mean(axis=0)
    return bool(grey.mean() >= _MONOCHROME_SHARE), QColor(*(int(round(c)) for c in mean))


#: contrast asked of the outline colour itself (the frame Fusion draws with it blends into the box)
_INDICATOR_CONTRAST = 4.5
#: indicators that Fusion outlines in a darker shade of the window colour
_FRAMED_INDICATORS = (QStyle.PrimitiveElement.PE_IndicatorCheckBox, QStyle.PrimitiveElement.PE_IndicatorRadioButton)


def _indicator_window(window: QColor) -> QColor:
    """A lighter window colour whose Fusion outline (the colour darkened by 140%) stands out from
    ``window`` by ``_INDICATOR_CONTRAST``: the drawn frame, antialiased and partly translucent,
    then keeps at least ``GRAPHIC_CONTRAST``."""
    return _first_mix(window, QColor("white"),
                      lambda c: contrast_ratio(c.darker(140), window) >= _INDICATOR_CONTRAST)


def _recoloured(option, colours: dict[QPalette.ColorRole, QColor]):
    """A copy of the style ``option`` whose palette has ``colours`` in their roles."""
    option = type(option)(option)
    palette = QPalette(option.palette)
    for role, colour in colours.items():
        palette.setColor(role, colour)
    option.palette = palette
    return option


#: a checkable QToolButton with this property set to True is one segment of a choice ("Side by
#: side" | "Split"): when checked, ``PaletteIconStyle`` fills it with the palette's Highlight
SEGMENT_PROPERTY = "ganstudioSegment"


def mark_segment(button: QWidget) -> None:
    """Show ``button``'s checked state in the palette's Highlight colour (see ``SEGMENT_PROPERTY``):
    the styles' own checked look is a slightly darker button, which on a dark palette is not seen."""
    button.setProperty(SEGMENT_PROPERTY, True)


class PaletteIconStyle(QProxyStyle):
    """The application's own style, with every standard icon a ``palette_icon``: Qt's buttons and
    dialogs then follow a dark palette too (their icons are drawn in black otherwise). Checked
    segment buttons (``mark_segment``) are drawn in the palette's Highlight colours."""

    def standardIcon(self, standard_icon: QStyle.StandardPixmap, option=None,  # noqa: N802 (Qt override)
                     widget: QWidget | None = None) -> QIcon:
        return palette_icon(super().standardIcon(standard_icon, option, widget))

    def drawPrimitive(self, element: QStyle.PrimitiveElement, option, painter: QPainter,  # noqa: N802
                      widget: QWidget | None = None) -> None:
        window = option.palette.color(QPalette.ColorRole.Window)
        if element in _FRAMED_INDICATORS and is_dark(window):
            # Fusion outlines check boxes and radio buttons in the window colour darkened, which on a
            # dark window is darker still: the box vanishes. Its outline is drawn from a window colour
            # that gives a frame of at least GRAPHIC_CONTRAST against the real one.
            option = _recoloured(option, {QPalette.ColorRole.Window: _indicator_window(window)})
        super().drawPrimitive(element, option, painter, widget)

    def drawComplexControl(self, control: QStyle.ComplexControl, option, painter: QPainter,  # noqa: N802
                           widget: QWidget | None = None) -> None:
        if (control == QStyle.ComplexControl.CC_ToolButton and widget is not None
                and widget.property(SEGMENT_PROPERTY) and option.state & QStyle.StateFlag.State_On):
            palette = option.palette
            option = _recoloured(option, {
                QPalette.ColorRole.Button: palette.color(QPalette.ColorRole.Highlight),
                QPalette.ColorRole.ButtonText: palette.color(QPalette.ColorRole.HighlightedText)})
        super().drawComplexControl(control, option, painter, widget)


#: native styles left unwrapped: their dialog buttons have no icons, they follow the system's dark
#: mode themselves, and they look at their widgets' own style in places a proxy would hide
_NATIVE_STYLES = {"windows11", "windowsvista", "macos"}


def install(app) -> None:
    """Give ``app`` the ``PaletteIconStyle`` around the style it has (the desktop's, or -style's),
    unless that is a native Windows or macOS style (``_NATIVE_STYLES``)."""
    style = app.style()
    if style is None or isinstance(style, PaletteIconStyle) or style.name().lower() in _NATIVE_STYLES:
        return
    name = style.name()
    app.setStyle(PaletteIconStyle(name) if name else PaletteIconStyle())


__all__ = ["GRAPHIC_CONTRAST", "SEGMENT_PROPERTY", "TEXT_CONTRAST", "PaletteIconStyle", "contrast_ratio", "install",
           "is_dark", "luminance", "mark_segment", "mix", "palette_icon", "readable", "status_colour", "status_hex",
           "status_span", "themed_html"]
