"""The live training chart: one curve per metric, keyed by the metric's name, in stacked panes.

A ``ChartLayout`` says which pane each known metric goes in and how it is drawn (the GAN's losses
above its discriminator outputs; an upscaler's L1 above its validation PSNR...); a training metric
the layout does not name still gets a curve, in the first pane, so whatever a task logs is seen.
Validation results (``add_evaluation``) are sparse points drawn as dots, unsmoothed.

Points go into growing numpy buffers; the curves are redrawn by a timer at most
``REDRAWS_PER_SECOND`` times a second (never once per event), with pyqtgraph's peak downsampling
and clip-to-view, so a run of 100k+ logged steps still pans and zooms smoothly. Smoothing is
TensorBoard's debiased exponential moving average, computed incrementally for new points and
vectorised when the slider moves. Clicking a name in a legend hides or shows its curve.

The chart takes its colours from the palette, and again whenever the palette changes (a desktop
switched to dark while the app runs): the background is the palette's Base, axes, ticks and legend
text a shade of its Text. The curves keep their colours on a light background; on a dark one a
colour that would not stand out (``GRAPHIC_CONTRAST``) is lightened.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QEvent, QSize, Qt, QTimer
from PySide6.QtGui import QColor, QFont, QFontMetrics, QFontMetricsF, QPalette
from PySide6.QtWidgets import QHBoxLayout, QLabel, QSlider, QToolButton, QVBoxLayout, QWidget

from ..theme import GRAPHIC_CONTRAST, is_dark, mix, readable

#: a new point arrives every log_every steps; redrawing more often than this only costs the GUI
#: thread time (a full chart paint is ~8 ms of software rendering)
REDRAWS_PER_SECOND = 2
#: slider positions 0..SMOOTHING_STEPS map to EMA weights 0..MAX_SMOOTHING
SMOOTHING_STEPS = 100
MAX_SMOOTHING = 0.99
DEFAULT_SMOOTHING = 0.6
_INITIAL_CAPACITY = 1024
# The vectorised EMA works on chunks short enough that w**-chunk stays far from overflow.
_EMA_CHUNK = 256
_EMA_MIN_POWER = 1e-30
_RAW_ALPHA = 60          # strength (0-255) of the unsmoothed curves' tint behind the smoothed ones
#: axes, ticks and legend text: the palette's Text this share of the way towards its Base (a soft
#: black, #303030, on the usual white)
_FOREGROUND_SHARE = 48 / 255
_LEGEND_ALPHA = 200     # opacity (0-255) of the legend's background over the curves
#: "What do these mean?" looks like a link (its tooltip is the help); Qt reads palette(link) once,
#: when the sheet is set, so the sheet is set again after a palette change
_HELP_LINK_STYLE = "color: palette(link); text-decoration: underline;"
#: colours given to curves whose layout names none, in order (colour-blind-safe Dark2 first)
PALETTE = ("#1f78b4", "#d95f02", "#1b9e77", "#e7298a", "#7570b3", "#66a61e", "#e6ab02", "#a6761d", "#666666")
_EVAL_SYMBOL_SIZE = 5
#: the smoothing slider is never narrower than this many average characters of the font
SLIDER_MIN_CHARS = 8
#: below this many characters of room for the slider, "What do these mean?" moves to a line of its own
SLIDER_ROOM_CHARS = 12
_VALUE_AIR = 5         # pixels after the smoothing value ("0.60"), before the Fit button
_UNLIMITED = 1e9       # a row's maximum height when it may grow
#: prefix of validation metrics' internal names (a validation "l1" is not the training "l1")
_EVAL = "eval:"


class GrowingBuffer:
    """A float64 array that doubles its capacity as values are appended (amortised O(1))."""

    def __init__(self, capacity: int = _INITIAL_CAPACITY) -> None:
        self._data = np.empty(capacity, dtype=np.float64)
        self._size = 0

    def __len__(self) -> int:
        return self._size

    def extend(self, values: np.ndarray) -> None:
        needed = self._size + len(values)
        if needed > len(self._data):
            grown = np.empty(max(needed, 2 * len(self._data)), dtype=np.float64)
            grown[:self._size] = self._data[:self._size]
            self._data = grown
        self._data[self._size:needed] = values
        self._size = needed

    def view(self) -> np.ndarray:
        return self._data[:self._size]

    def clear(self) -> None:
        self._size = 0


def ema_debiased(values: np.ndarray, weight: float, last: float = 0.0, count: int = 0) -> tuple[np.ndarray, float, int]:
    """TensorBoard's smoothing of ``values``, continuing from a previous (last, count) state.

    ``last`` is the biased running average and ``count`` how many values it has seen; the result is
    divided by ``1 - weight**n`` so the first points are not pulled towards zero. Returns the
    smoothed values and the new (last, count).
    """
    n = len(values)
    if n == 0:
        return values.astype(np.float64), last, count
    if weight <= 0.0:
        return values.astype(np.float64), float(values[-1]), count + n
    chunk = max(1, min(_EMA_CHUNK, int(math.log(_EMA_MIN_POWER) / math.log(weight))))
    j = np.arange(chunk, dtype=np.float64)
    decay = weight ** (j + 1)          # weight of the state before the chunk, at position j
    grow = weight ** -j                # x_i * w**-i, summed, then times w**j = sum w**(j-i) x_i
    shrink = weight ** j
    biased = np.empty(n, dtype=np.float64)
    for start in range(0, n, chunk):
        x = values[start:start + chunk].astype(np.float64)
        k = len(x)
        acc = np.cumsum(x * grow[:k]) * shrink[:k]
        block = decay[:k] * last + (1.0 - weight) * acc
        biased[start:start + k] = block
        last = float(block[-1])
    seen = count + np.arange(1, n + 1, dtype=np.float64)
    return biased / (1.0 - weight ** seen), last, count + n


@dataclass(frozen=True)
class Pane:
    """One plot of the chart; panes stack top to bottom in layout order and share the step axis."""
    key: str
    label: str                                   # the y axis title
    y_range: tuple[float, float] | None = None   # a fixed range (e.g. probabilities); None: automatic
    stretch: int = 3                             # its share of the height among the panes shown
    legend: str = "top"                          # where its legend sits: "top" or "middle" at the right,
                                                 # "top-left" (over curves that rise to the right)
    padding: float = 0.02                        # automatic range: this share of the data's span added above
                                                 # and below (room for the legend over rising curves)
    legend_columns: int = 1                      # 2: names side by side, one line high (for short panes)


@dataclass(frozen=True)
class Curve:
    """How one metric is drawn."""
    label: str                  # the legend's name for it
    pane: str                   # the key of its pane
    color: str | None = None    # None: the next free colour of PALETTE
    dashed: bool = False        # a reference line (e.g. bicubic's PSNR)
    shown: bool = True          # False: listed in the legend with a crossed eye; a click shows it


@dataclass(frozen=True)
class ChartLayout:
    """Panes and curves for one kind of run. The first pane is always shown, the others once one of
    their curves has a point."""
    panes: tuple[Pane, ...]
    curves: dict[str, Curve] = field(default_factory=dict)       # training metric -> its curve
    evaluation: dict[str, Curve] = field(default_factory=dict)   # validation metric -> its curve (others unshown)
    help: str = ""                                               # what the curves mean, in plain words


def generic_layout() -> ChartLayout:
    """Every metric in one automatic pane (until a panel sets a task's layout)."""
    return ChartLayout((Pane("loss", "loss"),))


class ValueAxis(pg.AxisItem):
    """A pane's value axis whose labelled ticks are at least a line of text apart.

    pyqtgraph picks at least two or three labelled intervals whatever the pane's height, so a short
    pane (the D outputs under the losses) at a larger font drew "1.0" over "0.8". Where its labels
    would touch, the labelled spacing grows to the next round step (1, 2 or 5 times a power of
    ten) and the old spacing keeps its ticks, unlabelled.
    """

    def tickSpacing(self, minVal: float, maxVal: float, size: float):  # noqa: N802, N803 (pyqtgraph override)
        levels = super().tickSpacing(minVal, maxVal, size)
        span = abs(maxVal - minVal)
        if not levels or size <= 0 or span == 0:
            return levels
        line = QFontMetrics(self.style["tickFont"] or self.font()).height()
        units_per_pixel = span / size
        major = levels[0][0]
        if major / units_per_pixel >= line:
            return levels
        spacing = _round_step_at_least(line * units_per_pixel)
        return [(spacing, 0), (major, 0)]


def _round_step_at_least(value: float) -> float:
    """The smallest of 1, 2 and 5 times a power of ten that is at least ``value`` (> 0)."""
    power = 10.0 ** math.floor(math.log10(value))
    for factor in (1, 2, 5, 10):
        if factor * power >= value * (1 - 1e-9):
            return factor * power
    return 10 * power


class _Series:
    """One metric: its steps, raw values, smoothed values and EMA state, and the curves drawn.

    Training series draw a faint raw curve behind a smoothed one; validation series are sparse
    and drawn as unsmoothed dots joined by a line.
    """

    def __init__(self, plot: pg.PlotItem, curve: Curve, color: str, evaluation: bool,
                 background: QColor) -> None:
        self.evaluation = evaluation
        self.color = color
        self.steps = GrowingBuffer()
        self.raw = GrowingBuffer()
        self.smooth = GrowingBuffer()
        self.ema_last, self.ema_count = 0.0, 0
        self._style = Qt.PenStyle.DashLine if curve.dashed else Qt.PenStyle.SolidLine
        if evaluation:
            self.raw_curve = None
            self.curve = plot.plot(name=curve.label, symbol="o", symbolSize=_EVAL_SYMBOL_SIZE, symbolPen=None)
        else:
            self.raw_curve = plot.plot()
            self.curve = plot.plot(name=curve.label)
        self.set_background(background)
        if not evaluation:
            # the legend toggles the named curve; its raw shadow follows
            self.curve.visibleChanged.connect(lambda: self.raw_curve.setVisible(self.curve.isVisible()))
        if not curve.shown:
            self.curve.setVisible(False)
            if self.raw_curve is not None:
                self.raw_curve.setVisible(False)

    def set_background(self, background: QColor) -> None:
        """Colour the curves for the chart's ``background``."""
        strong = curve_colour(self.color, background)
        pen = pg.mkPen(strong, width=1, style=self._style)
        self.curve.setPen(pen)
        if self.evaluation:
            self.curve.setSymbolBrush(strong)
            return
        # The raw curve in a pale, opaque tint of the colour: alpha-blended lines cost several
        # times more to paint in software.
        faint = mix(background, strong, _RAW_ALPHA / 255)
        self.raw_curve.setPen(pg.mkPen(faint, width=1, style=self._style))

    def __len__(self) -> int:
        return len(self.steps)

    def append(self, steps: np.ndarray, values: np.ndarray) -> None:
        self.steps.extend(steps)
        self.raw.extend(values)

    def clear(self) -> None:
        self.steps.clear()
        self.raw.clear()
        self.reset_smoothing()

    def reset_smoothing(self) -> None:
        self.smooth.clear()
        self.ema_last, self.ema_count = 0.0, 0

    def draw(self, weight: float) -> None:
        x = self.steps.view()
        if self.evaluation:
            self.curve.setData(x, self.raw.view())
            return
        fresh = self.raw.view()[len(self.smooth):]   # smooth only what arrived since the last redraw
        smoothed, self.ema_last, self.ema_count = ema_debiased(fresh, weight, self.ema_last, self.ema_count)
        self.smooth.extend(smoothed)
        self.curve.setData(x, self.smooth.view())
        if weight > 0:
            self.raw_curve.setData(x, self.raw.view())
        else:
            self.raw_curve.setData([], [])


class LossChart(QWidget):
    """Training metrics (smoothed, with a slider) and validation results over steps, in panes."""

    def __init__(self, parent: QWidget | None = None, layout: ChartLayout | None = None) -> None:
        super().__init__(parent)
        self._weight = DEFAULT_SMOOTHING
        self._dirty = False
        self._training_points = 0
        self._layout = generic_layout()
        self._pool: list[pg.PlotItem] = []
        self._plots: dict[str, pg.PlotItem] = {}
        self._series: dict[str, _Series] = {}

        self.graphics = pg.GraphicsLayoutWidget()
        self.graphics.setBackground(self.background_colour())
        self.graphics.setMinimumHeight(160)

        self.smoothing_slider = QSlider(Qt.Orientation.Horizontal)
        self.smoothing_slider.setRange(0, SMOOTHING_STEPS)
        self.smoothing_slider.setValue(round(DEFAULT_SMOOTHING / MAX_SMOOTHING * SMOOTHING_STEPS))
        self.smoothing_slider.setToolTip(self.tr(
            "Smoothing averages each point with the ones before it, so the trend shows through the noise. "
            "0 shows the raw values. Validation points are never smoothed."))
        self.smoothing_slider.valueChanged.connect(self._on_smoothing_slider_value_changed)
        # sizes from the font, so that a bigger font keeps the slider usable and the value steady
        metrics = self.fontMetrics()
        self.smoothing_slider.setMinimumWidth(SLIDER_MIN_CHARS * metrics.averageCharWidth())
        self._smoothing_label = QLabel()
        self._smoothing_label.setMinimumWidth(metrics.horizontalAdvance("0.00") + _VALUE_AIR)
        fit = QToolButton()
        fit.setText(self.tr("Fit"))
        fit.setToolTip(self.tr("Show the whole run again after zooming or panning "
                               "(drag to pan, scroll to zoom, right-click for more)."))
        fit.clicked.connect(self.fit_view)
        self.help_label = QLabel(self.tr("What do these mean?"))
        self.help_label.setStyleSheet(_HELP_LINK_STYLE)

        # The smoothing row; where it is too narrow for the slider (a big font, a narrow chart),
        # "What do these mean?" goes to a line of its own below it (``_place_help``).
        self._smoothing_row = [QLabel(self.tr("Smoothing")), self.smoothing_slider, self._smoothing_label, fit]
        controls = QHBoxLayout()
        controls.setContentsMargins(4, 0, 4, 0)
        for widget in self._smoothing_row:
            controls.addWidget(widget, 1 if widget is self.smoothing_slider else 0)
        controls.addStretch(0)
        controls.addWidget(self.help_label)
        self._controls = controls
        self._help_line = QHBoxLayout()      # empty (no height) unless the help link is moved there
        self._help_line.setContentsMargins(4, 0, 4, 0)
        box = QVBoxLayout(self)
        box.setContentsMargins(0, 0, 0, 0)
        box.setSpacing(2)
        box.addWidget(self.graphics, 1)
        box.addLayout(controls)
        box.addLayout(self._help_line)
        self._show_smoothing()

        self._redraw_timer = QTimer(self)
        self._redraw_timer.setSingleShot(True)
        self._redraw_timer.setInterval(1000 // REDRAWS_PER_SECOND)
        self._redraw_timer.timeout.connect(self.redraw)
        self.set_layout(layout or generic_layout())

    # -- the smoothing row -----------------------------------------------------------------------
    def _row_width(self, widgets: list[QWidget],
                   width: Callable[[QWidget], int] = lambda w: w.sizeHint().width()) -> int:
        """Width of ``widgets`` side by side in the smoothing row (margins included), each ``width(w)``
        wide (by default its preferred width)."""
        margins = self._controls.contentsMargins()
        spacing = max(0, self._controls.spacing())
        return sum(width(w) for w in widgets) + spacing * (len(widgets) - 1) + margins.left() + margins.right()

    def _place_help(self) -> None:
        """The help link at the end of the smoothing row where the slider keeps its room, else on
        the line below (the slider row had squeezed the slider to nothing at a 14 pt font)."""
        room = SLIDER_ROOM_CHARS * self.fontMetrics().averageCharWidth()
        others = [w for w in self._smoothing_row if w is not self.smoothing_slider]
        needed = self._row_width([*others, self.help_label]) + room
        below = not self.help_label.isHidden() and self.width() < needed
        if below == self.help_on_own_line():
            return
        if below:
            self._controls.removeWidget(self.help_label)
            self._help_line.addStretch(1)
            self._help_line.addWidget(self.help_label)
        else:
            while self._help_line.count():
                self._help_line.takeAt(0)
            self._controls.addWidget(self.help_label)

    def help_on_own_line(self) -> bool:
        """Whether "What do these mean?" is shown below the smoothing row (too little room beside it)."""
        return self._help_line.indexOf(self.help_label) >= 0

    def resizeEvent(self, event) -> None:  # noqa: N802 (Qt override)
        super().resizeEvent(event)
        self._place_help()

    def minimumSizeHint(self) -> QSize:  # noqa: N802 (Qt override)
        # as narrow as the smoothing row without the help link (which then moves below it): the
        # layout alone would keep the chart wide enough for the whole row, so it could never move
        hint = super().minimumSizeHint()
        row = self._row_width(self._smoothing_row, lambda w: max(w.minimumWidth(), w.minimumSizeHint().width()))
        help_width = self._row_width([self.help_label], lambda w: w.minimumSizeHint().width())
        return QSize(max(self.graphics.minimumSizeHint().width(), row, help_width), hint.height())

    # -- layout --------------------------------------------------------------------------------
    def set_layout(self, layout: ChartLayout) -> None:
        """Use ``layout``'s panes and curves; the chart is emptied."""
        self._redraw_timer.stop()
        self._layout = layout
        self._plots = {}
        self._series = {}
        self._training_points = 0
        self._dirty = False
        # Plot items are kept and reused (deleting them upsets pyqtgraph's legend anchors); the
        # ones a layout does not need are hidden, and hidden items take no space in the layout.
        while len(self._pool) < len(layout.panes):
            self._pool.append(self._new_plot(len(self._pool)))
        for row, plot in enumerate(self._pool):
            plot.clear()                     # its curves and their legend entries
            # The first pane always shows (empty axes before the first point); the others wait for
            # a point. (With every item hidden, the layout would also clamp its own width to nothing.)
            plot.setVisible(row == 0)
            if row >= len(layout.panes):
                continue
            pane = layout.panes[row]
            plot.setLabel("left", pane.label)
            plot.getViewBox().setDefaultPadding(pane.padding)
            plot.legend.setColumnCount(pane.legend_columns)
            if pane.y_range is not None:
                plot.setYRange(*pane.y_range, padding=0.05)
                plot.enableAutoRange(axis="y", enable=False)
            else:
                plot.enableAutoRange(axis="y", enable=True)
            if pane.legend == "middle":   # e.g. D(x) near the top, D(G(z)) near the bottom: the middle is free
                plot.legend.anchor(itemPos=(1, 0.5), parentPos=(1, 0.5), offset=(-10, 0))
            elif pane.legend == "top-left":   # a validation score climbs to the right: its start is low
                plot.legend.anchor(itemPos=(0, 0), parentPos=(0, 0), offset=(10, 10))
            else:
                plot.legend.anchor(itemPos=(1, 0), parentPos=(1, 0), offset=(-10, 10))
            self._plots[pane.key] = plot
        self.help_label.setToolTip(layout.help)
        self.help_label.setVisible(bool(layout.help))
        self._place_help()
        self._arrange_axes()

    def _new_plot(self, row: int) -> pg.PlotItem:
        plot = self.graphics.addPlot(row=row, col=0, axisItems={"left": ValueAxis("left")})
        plot.setDownsampling(mode="peak", auto=True)
        plot.setClipToView(True)
        # No grid: its alpha-blended lines doubled the paint time (software rendering), and each
        # paint holds up the event loop.
        for side in ("left", "bottom"):
            plot.getAxis(side).enableAutoSIPrefix(False)   # "step (x0.001)" helps nobody
        # the legend's names at the size of the window's text (pyqtgraph's own is a fixed 9 pt)
        plot.addLegend(offset=(-10, 10), labelTextSize=_css_font_size(self.font()))
        self._colour_plot(plot)
        if self._pool:
            plot.setXLink(self._pool[0])
        plot.getViewBox().sigResized.connect(lambda _box, p=plot: self._fit_title(p))
        return plot

    def layout_spec(self) -> ChartLayout:
        return self._layout

    # -- colours -------------------------------------------------------------------------------
    def background_colour(self) -> QColor:
        """The plots' background: the palette's Base (white on the usual light palette)."""
        return self.palette().color(QPalette.ColorRole.Base)

    def foreground_colour(self) -> QColor:
        """Axes, tick labels, titles and legend names: the palette's Text, softened a little."""
        palette = self.palette()
        text, base = palette.color(QPalette.ColorRole.Text), palette.color(QPalette.ColorRole.Base)
        return mix(text, base, _FOREGROUND_SHARE)

    def _colour_plot(self, plot: pg.PlotItem) -> None:
        foreground = self.foreground_colour()
        for side in ("left", "bottom"):
            axis = plot.getAxis(side)
            axis.setPen(foreground)
            axis.setTextPen(foreground)       # the axis title too
        background = self.background_colour()
        plot.legend.setBrush(pg.mkBrush(background.red(), background.green(), background.blue(), _LEGEND_ALPHA))
        plot.legend.setLabelTextColor(foreground)
        for _sample, label in plot.legend.items:   # names already there are redrawn in the new colour
            label.setText(label.text)

    def _apply_palette(self) -> None:
        """Redo every colour from the palette (it changed: the desktop went dark, or light)."""
        background = self.background_colour()
        self.graphics.setBackground(background)
        self.help_label.setStyleSheet("")
        self.help_label.setStyleSheet(_HELP_LINK_STYLE)
        for plot in self._pool:
            self._colour_plot(plot)
        for series in self._series.values():
            series.set_background(background)

    def changeEvent(self, event: QEvent) -> None:  # noqa: N802 (Qt override)
        super().changeEvent(event)
        if event.type() == QEvent.Type.PaletteChange:
            self._apply_palette()

    def shown_panes(self) -> list[str]:
        """The y axis titles of the panes on screen, top to bottom."""
        return [pane.label for pane in self._layout.panes if self._plots[pane.key].isVisible()]

    def _arrange_axes(self) -> None:
        # only the lowest pane shown draws the step axis (one axis less to paint per pane)
        shown = [self._plots[p.key] for p in self._layout.panes if self._plots[p.key].isVisible()]
        grid = self.graphics.ci.layout
        for row, plot in enumerate(self._pool):
            last = bool(shown) and plot is shown[-1]
            plot.showAxis("bottom", last)
            if last:
                plot.setLabel("bottom", self.tr("step"))
            # a hidden pane's row would still claim its stretch share and its preferred height
            pane = self._layout.panes[row] if row < len(self._layout.panes) else None
            shown_here = pane is not None and plot.isVisible()
            grid.setRowStretchFactor(row, pane.stretch if shown_here else 0)
            grid.setRowMaximumHeight(row, _UNLIMITED if shown_here else 0)
        # the grid layout skips hidden items but does not notice one being shown again
        grid.invalidate()
        for plot in shown:
            self._fit_title(plot)

    def _fit_title(self, plot: pg.PlotItem) -> None:
        """A pane's title on two lines where one would run far beyond the pane: the title runs up
        the value axis, and at a 14 pt font "mean D output" under the losses reached into the
        pane above and over its title. A little beyond (a line of text each way) is left as it is."""
        pane = next((p for p in self._layout.panes if self._plots.get(p.key) is plot), None)
        room = plot.getViewBox().height()
        if pane is None or room <= 0 or not plot.isVisible():
            return
        axis = plot.getAxis("left")
        metrics = QFontMetricsF(axis.label.font())
        too_long = metrics.horizontalAdvance(pane.label) > room + 2 * metrics.height()
        text = _two_lines(pane.label) if too_long else pane.label
        if axis.labelText != text:
            plot.setLabel("left", text)

    def _series_for(self, name: str, evaluation: bool) -> _Series | None:
        key = _EVAL + name if evaluation else name
        series = self._series.get(key)
        if series is not None:
            return series
        specs = self._layout.evaluation if evaluation else self._layout.curves
        curve = specs.get(name)
        if curve is None:
            if evaluation:
                return None           # validation details the layout does not ask for are not drawn
            curve = Curve(name, self._layout.panes[0].key)
        plot = self._plots.get(curve.pane) or self._plots[self._layout.panes[0].key]
        used = {s.color for s in self._series.values()}
        color = curve.color or next((c for c in PALETTE if c not in used), PALETTE[len(self._series) % len(PALETTE)])
        series = _Series(plot, curve, color, evaluation, self.background_colour())
        self._series[key] = series
        if not plot.isVisible():
            plot.show()
            self._arrange_axes()
        return series

    # -- data ----------------------------------------------------------------------------------
    def add_point(self, step: int, metrics: dict[str, float]) -> None:
        """Append one logged step; the curves update at the next redraw tick."""
        self.add_points([step], [metrics])

    def add_points(self, steps: list[int], metrics: list[dict[str, float]]) -> None:
        """Append many logged steps at once (a resumed run's history)."""
        self._append(steps, metrics, evaluation=False)
        self._training_points += len(steps)

    def add_evaluation(self, step: int, metrics: dict[str, float]) -> None:
        """Append one validation result (only the metrics the layout names are drawn)."""
        self.add_evaluations([step], [metrics])

    def add_evaluations(self, steps: list[int], metrics: list[dict[str, float]]) -> None:
        self._append(steps, metrics, evaluation=True)

    def _append(self, steps: list[int], metrics: list[dict[str, float]], evaluation: bool) -> None:
        if not steps:
            return
        x = np.asarray(steps, dtype=np.float64)
        for name in _keys_in_order(metrics):
            series = self._series_for(name, evaluation)
            if series is None:
                continue
            values = np.asarray([m.get(name, math.nan) for m in metrics], dtype=np.float64)
            present = ~np.isnan(values)
            if present.all():
                series.append(x, values)
            elif present.any():
                series.append(x[present], values[present])
        self._dirty = True
        if not self._redraw_timer.isActive():
            self._redraw_timer.start()

    def clear(self) -> None:
        """Empty the chart, keeping its layout."""
        self.set_layout(self._layout)
        self.fit_view()

    def point_count(self) -> int:
        """How many logged training steps the chart holds."""
        return self._training_points

    def evaluation_count(self, name: str) -> int:
        """How many validation results of ``name`` the chart holds."""
        series = self._series.get(_EVAL + name)
        return len(series) if series is not None else 0

    def series_names(self) -> list[str]:
        """The training metrics that have a curve, in order of arrival."""
        return [k for k in self._series if not k.startswith(_EVAL)]

    def last_values(self) -> dict[str, float]:
        """The newest raw value of each training metric (empty before the first point)."""
        return {k: float(s.raw.view()[-1]) for k, s in self._series.items() if not s.evaluation and len(s)}

    def last_evaluation(self) -> dict[str, float]:
        """The newest value of each validation metric drawn."""
        return {k[len(_EVAL):]: float(s.raw.view()[-1]) for k, s in self._series.items() if s.evaluation and len(s)}

    # -- drawing -------------------------------------------------------------------------------
    def redraw(self) -> None:
        """Push the buffers to the curves (called by the throttle timer; public for benchmarks)."""
        if not self._dirty:
            return
        self._dirty = False
        for series in self._series.values():
            series.draw(self._weight)

    def fit_view(self) -> None:
        for pane in self._layout.panes:
            plot = self._plots[pane.key]
            plot.enableAutoRange(axis="x", enable=True)
            if pane.y_range is None:
                plot.enableAutoRange(axis="y", enable=True)
            else:
                plot.setYRange(*pane.y_range, padding=0.05)

    def smoothing(self) -> float:
        return self._weight

    def set_smoothing(self, weight: float) -> None:
        self.smoothing_slider.setValue(round(min(max(weight, 0.0), MAX_SMOOTHING) / MAX_SMOOTHING * SMOOTHING_STEPS))

    def _on_smoothing_slider_value_changed(self, value: int) -> None:
        self._weight = value / SMOOTHING_STEPS * MAX_SMOOTHING
        self._show_smoothing()
        for series in self._series.values():   # recomputed in full (vectorised) at the next redraw
            series.reset_smoothing()
        self._dirty = True
        if not self._redraw_timer.isActive():
            self._redraw_timer.start()

    def _show_smoothing(self) -> None:
        self._smoothing_label.setText(f"{self._weight:.2f}")


def curve_colour(color: str | QColor, background: QColor) -> QColor:
    """A curve's colour on ``background``: as designed on a light one; on a dark one, lightened just
    enough to stand out (the dark blues and greys of the palette sink into a dark background)."""
    colour = QColor(color)
    return readable(colour, background, GRAPHIC_CONTRAST) if is_dark(background) else colour


def _two_lines(text: str) -> str:
    """``text`` broken at the space nearest its middle (HTML, for a pyqtgraph label)."""
    spaces = [i for i, ch in enumerate(text) if ch == " "]
    if not spaces:
        return text
    cut = min(spaces, key=lambda i: abs(i - len(text) / 2))
    return f"{text[:cut]}<br>{text[cut + 1:]}"


def _css_font_size(font: QFont) -> str:
    """``font``'s size as CSS ("9pt", or "12px" for a font sized in pixels)."""
    if font.pointSizeF() > 0:
        return f"{font.pointSizeF():g}pt"
    return f"{font.pixelSize()}px"


def _keys_in_order(metrics: Iterable[dict[str, float]]) -> list[str]:
    """Every key of the dicts, in order of first appearance."""
    seen: dict[str, None] = {}
    for m in metrics:
        for key in m:
            seen.setdefault(key)
    return list(seen)
