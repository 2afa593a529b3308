"""The live preview of a training run (a GAN's sample grid, an upscaler's before/after crops, a
translator's examples) and the step it shows.

The trainer sends a new image at every sample interval; with a tiny model that can be many per
second. The newest grid is kept and drawn at most ``MAX_UPDATES_PER_SECOND`` times a second, so a
fast run cannot flood the event loop with image conversions and repaints.
"""
from __future__ import annotations

import numpy as np
from PySide6.QtCore import QTimer, Signal
from PySide6.QtWidgets import QWidget

from .image_view import ImageView

MAX_UPDATES_PER_SECOND = 2


class SampleView(ImageView):
    """Shows ``show_samples(step, grid)``; ``samples_shown(step)`` is emitted once it is on screen."""

    samples_shown = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(self.tr("Samples appear here while the model trains: the same random inputs "
                                 "each time, so you can watch them sharpen."), caption_above=True, parent=parent)
        self._caption = self.tr("Samples at step {0}")
        self._pending: tuple[int, np.ndarray] | None = None
        self._shown_step: int | None = None
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(1000 // MAX_UPDATES_PER_SECOND)
        self._timer.timeout.connect(self._on_timer_timeout)

    def show_samples(self, step: int, grid: np.ndarray) -> None:
        first = self._pending is None and not self._timer.isActive()
        self._pending = (step, grid)
        if first:
            self._draw_pending()          # the first grid after a pause shows at once
            self._timer.start()
        elif not self._timer.isActive():
            self._timer.start()

    def set_texts(self, placeholder: str, caption: str) -> None:
        """What shows before the first image, and the caption (``{0}``: the step); the view is emptied."""
        self._caption = caption
        self.reset(placeholder)

    def reset(self, placeholder: str | None = None) -> None:
        self._pending = None
        self._timer.stop()
        self._shown_step = None
        self.clear(placeholder)

    def shown_step(self) -> int | None:
        """The training step of the grid on screen, or None."""
        return self._shown_step

    def _on_timer_timeout(self) -> None:
        if self._pending is not None:
            self._draw_pending()
            self._timer.start()

    def _draw_pending(self) -> None:
        step, grid = self._pending
        self._pending = None
        self.set_image(grid, self._caption.format(f"{step:,}"))
        self._shown_step = step
        self.samples_shown.emit(step)
