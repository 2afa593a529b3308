"""The live loss chart: D and G losses above, the discriminator's mean outputs below.

Points arrive with every ``StepEnded`` event and go into growing numpy buffers; the curves are
redrawn by a timer at most ``REDRAWS_PER_SECOND`` times a second (never once per event), with
pyqtgraph's peak downsampling and clip-to-view, so a run of 100k+ logged steps still pans and
zooms smoothly. Smoothing is TensorBoard's debiased exponential moving average, computed
incrementally for new points and vectorised when the slider moves.
"""
from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QHBoxLayout, QLabel, QSlider, QToolButton, QVBoxLayout, QWidget

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
_FOREGROUND = "#303030"
_BACKGROUND = "w"


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


class _Series:
    """One metric: raw buffer, smoothed buffer and its EMA state, and the two curves drawn."""

    def __init__(self, plot: pg.PlotItem, name: str, color: str) -> None:
        self.raw = GrowingBuffer()
        self.smooth = GrowingBuffer()
        self.ema_last, self.ema_count = 0.0, 0
        # The raw curve in a pale, opaque tint of the colour: alpha-blended lines cost several times
        # more to paint in software, and the background is always white.
        strong = pg.mkColor(color)
        mix = _RAW_ALPHA / 255
        faint = pg.mkColor(*(round(mix * c + (1 - mix) * 255) for c in strong.getRgb()[:3]))
        self.raw_curve = plot.plot(pen=pg.mkPen(faint, width=1))
        self.smooth_curve = plot.plot(pen=pg.mkPen(color, width=1), name=name)

    def clear(self) -> None:
        self.raw.clear()
        self.smooth.clear()
        self.ema_last, self.ema_count = 0.0, 0

    def catch_up(self, weight: float) -> None:
        """Smooth the values that arrived since the last redraw."""
        done = len(self.smooth)
        fresh = self.raw.view()[done:]
        smoothed, self.ema_last, self.ema_count = ema_debiased(fresh, weight, self.ema_last, self.ema_count)
        self.smooth.extend(smoothed)


class LossChart(QWidget):
    """D and G losses plus mean D(x) and D(G(z)) over steps, with a smoothing slider."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._steps = GrowingBuffer()
        self._weight = DEFAULT_SMOOTHING
        self._dirty = False

        self.graphics = pg.GraphicsLayoutWidget()
        self.graphics.setBackground(_BACKGROUND)
        self.graphics.setMinimumHeight(160)
        self._loss_plot = self.graphics.addPlot(row=0, col=0)
        self._prob_plot = self.graphics.addPlot(row=1, col=0)
        self.graphics.ci.layout.setRowStretchFactor(0, 3)
        self.graphics.ci.layout.setRowStretchFactor(1, 2)
        self._prob_plot.setXLink(self._loss_plot)
        for plot, label in ((self._loss_plot, self.tr("loss")), (self._prob_plot, self.tr("mean D output"))):
            plot.setDownsampling(mode="peak", auto=True)
            plot.setClipToView(True)
            # No grid: its alpha-blended lines doubled the paint time (software rendering), and each
            # paint holds up the event loop.
            plot.setLabel("left", label)
            for side in ("left", "bottom"):
                axis = plot.getAxis(side)
                axis.setPen(_FOREGROUND)
                axis.setTextPen(_FOREGROUND)
                axis.enableAutoSIPrefix(False)   # "step (x0.001)" helps nobody
            plot.addLegend(offset=(-10, 10), labelTextColor=_FOREGROUND, brush=pg.mkBrush(255, 255, 255, 200))
        # D(x) sits near the top and D(G(z)) near the bottom; the middle right is usually free.
        self._prob_plot.legend.anchor(itemPos=(1, 0.5), parentPos=(1, 0.5), offset=(-10, 0))
        self._prob_plot.setLabel("bottom", self.tr("step"))
        self._loss_plot.hideAxis("bottom")      # the linked plot below shows the steps (one axis less to paint)
        self._prob_plot.setYRange(0.0, 1.0, padding=0.05)
        self._prob_plot.enableAutoRange(axis="y", enable=False)

        self._series = {
            "loss_d": _Series(self._loss_plot, self.tr("D loss"), "#d95f02"),
            "loss_g": _Series(self._loss_plot, self.tr("G loss"), "#1f78b4"),
            "d_real": _Series(self._prob_plot, self.tr("D(x): real images"), "#1b9e77"),
            "d_fake": _Series(self._prob_plot, self.tr("D(G(z)): generated"), "#e7298a"),
        }

        self.smoothing_slider = QSlider(Qt.Orientation.Horizontal)
        self.smoothing_slider.setRange(0, SMOOTHING_STEPS)
        self.smoothing_slider.setValue(round(DEFAULT_SMOOTHING / MAX_SMOOTHING * SMOOTHING_STEPS))
        self.smoothing_slider.setToolTip(self.tr(
            "Smoothing averages each point with the ones before it, so the trend shows through the noise. "
            "0 shows the raw values."))
        self.smoothing_slider.valueChanged.connect(self._on_smoothing_slider_value_changed)
        self._smoothing_label = QLabel()
        self._smoothing_label.setMinimumWidth(32)
        fit = QToolButton()
        fit.setText(self.tr("Fit"))
        fit.setToolTip(self.tr("Show the whole run again after zooming or panning "
                               "(drag to pan, scroll to zoom, right-click for more)."))
        fit.clicked.connect(self.fit_view)
        help_label = QLabel(self.tr("What do these mean?"))
        help_label.setToolTip(self.tr(
            "D loss and G loss: how badly the discriminator (the critic) and the generator (the artist) "
            "are doing; in a healthy run they wobble around each other instead of one falling to zero.\n"
            "D(x): how real the critic thinks the real images are (1 = sure).\n"
            "D(G(z)): how real it thinks the generated images are. Near 0 for a long time means the "
            "critic is winning and the generator learns little."))
        help_label.setStyleSheet("color: palette(link); text-decoration: underline;")

        controls = QHBoxLayout()
        controls.setContentsMargins(4, 0, 4, 0)
        controls.addWidget(QLabel(self.tr("Smoothing")))
        controls.addWidget(self.smoothing_slider, 1)
        controls.addWidget(self._smoothing_label)
        controls.addWidget(fit)
        controls.addStretch(0)
        controls.addWidget(help_label)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addWidget(self.graphics, 1)
        layout.addLayout(controls)
        self._show_smoothing()

        self._redraw_timer = QTimer(self)
        self._redraw_timer.setSingleShot(True)
        self._redraw_timer.setInterval(1000 // REDRAWS_PER_SECOND)
        self._redraw_timer.timeout.connect(self.redraw)

    # -- data ----------------------------------------------------------------------------------
    def add_point(self, step: int, metrics: dict[str, float]) -> None:
        """Append one logged step; the curves update at the next redraw tick."""
        self.add_points([step], [metrics])

    def add_points(self, steps: list[int], metrics: list[dict[str, float]]) -> None:
        """Append many logged steps at once (a resumed run's history)."""
        if not steps:
            return
        self._steps.extend(np.asarray(steps, dtype=np.float64))
        for key, series in self._series.items():
            series.raw.extend(np.asarray([m.get(key, math.nan) for m in metrics], dtype=np.float64))
        self._dirty = True
        if not self._redraw_timer.isActive():
            self._redraw_timer.start()

    def clear(self) -> None:
        self._steps.clear()
        for series in self._series.values():
            series.clear()
        self._dirty = True
        self.redraw()
        self.fit_view()

    def point_count(self) -> int:
        """How many logged steps the chart holds."""
        return len(self._steps)

    def last_values(self) -> dict[str, float]:
        """The newest raw value of each metric (empty before the first point)."""
        if not len(self._steps):
            return {}
        return {key: float(s.raw.view()[-1]) for key, s in self._series.items()}

    # -- drawing -------------------------------------------------------------------------------
    def redraw(self) -> None:
        """Push the buffers to the curves (called by the throttle timer; public for benchmarks)."""
        if not self._dirty:
            return
        self._dirty = False
        x = self._steps.view()
        show_raw = self._weight > 0
        for series in self._series.values():
            series.catch_up(self._weight)
            series.smooth_curve.setData(x, series.smooth.view())
            if show_raw:
                series.raw_curve.setData(x, series.raw.view())
            else:
                series.raw_curve.setData([], [])

    def fit_view(self) -> None:
        self._loss_plot.enableAutoRange(axis="x", enable=True)
        self._loss_plot.enableAutoRange(axis="y", enable=True)
        self._prob_plot.setYRange(0.0, 1.0, padding=0.05)

    def smoothing(self) -> float:
        return self._weight

    def set_smoothing(self, weight: float) -> None:
        self.smoothing_slider.setValue(round(min(max(weight, 0.0), MAX_SMOOTHING) / MAX_SMOOTHING * SMOOTHING_STEPS))

    def _on_smoothing_slider_value_changed(self, value: int) -> None:
        self._weight = value / SMOOTHING_STEPS * MAX_SMOOTHING
        self._show_smoothing()
        for series in self._series.values():   # recomputed in full (vectorised) at the next redraw
            series.smooth.clear()
            series.ema_last, series.ema_count = 0.0, 0
        self._dirty = True
        if not self._redraw_timer.isActive():
            self._redraw_timer.start()

    def _show_smoothing(self) -> None:
        self._smoothing_label.setText(f"{self._weight:.2f}")
