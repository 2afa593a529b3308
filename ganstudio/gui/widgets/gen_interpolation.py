"""The Generate panel's interpolation box: two seeds, a frame count, a preview with a frame slider and
a play/pause button. It only shows frames; the panel makes and saves them in the background."""
from __future__ import annotations

import numpy as np
from PySide6.QtCore import QSignalBlocker, Qt, QTimer, Signal, Slot
from PySide6.QtWidgets import (QCheckBox, QFormLayout, QGroupBox, QHBoxLayout, QLabel, QPushButton, QSlider,
                               QSpinBox, QVBoxLayout, QWidget)

from ganstudio.core.config import MAX_SEED
from ganstudio.core.generate import gif_frame_ms

from .gen_image_grid import GenPixelView
from .task_options import restore_spin

#: most interpolation frames
MAX_FRAMES = 240


class GenInterpolationBox(QGroupBox):
    """Seeds A and B, frames, speed, back-and-forth; the frames once made, with a slider and Play."""

    interpolate_requested = Signal()
    save_gif_requested = Signal()
    save_frames_requested = Signal()
    settings_changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(self.tr("Interpolation"), parent)
        self._frames: np.ndarray | None = None
        self._made_from: tuple[int, int, float] | None = None   # (seed a, seed b, truncation)
        self._step = 1
        self._timer = QTimer(self)
        self._timer.timeout.connect(self._on_timer_timeout)

        self._seed_a = self._spin("seedA", 0, MAX_SEED, 0)
        self._seed_b = self._spin("seedB", 0, MAX_SEED, 1)
        self._frame_count = self._spin("frames", 2, MAX_FRAMES, 24,
                                       self.tr("Images from seed A to seed B, both included."))
        self._fps = self._spin("fps", 1, 50, 12, self.tr("Playback speed, here and in the GIF (a GIF shows "
                                                          "each frame for whole hundredths of a second, so "
                                                          "the speed is rounded to what it can play)."))
        self._fps.setSuffix(self.tr(" fps"))
        self._bounce = QCheckBox(self.tr("Back and forth"))
        self._bounce.setObjectName("bounce")
        self._bounce.setChecked(True)
        self._bounce.setToolTip(self.tr("Play from A to B and back, for a seamless loop (here and in the "
                                        "GIF)."))
        self._interpolate_button = QPushButton(self.tr("Interpolate"))
        self._interpolate_button.setObjectName("interpolate")
        self._interpolate_button.setToolTip(self.tr("Make the frames from seed A to seed B at the truncation "
                                                    "set under Images."))
        self._preview = GenPixelView()
        self._preview.setObjectName("interpolationPreview")
        self._preview.set_empty_text(self.tr("Select two images (Ctrl-click) or type two seeds, then press "
                                             "Interpolate."))
        self._slider = QSlider(Qt.Orientation.Horizontal)
        self._slider.setObjectName("frameSlider")
        self._slider.setRange(0, 0)
        self._slider.setToolTip(self.tr("The frame shown"))
        self._play_button = QPushButton(self.tr("Play"))
        self._play_button.setObjectName("play")
        self._play_button.setCheckable(True)
        self._frame_label = QLabel()
        self._frame_label.setMinimumWidth(self._frame_label.fontMetrics().horizontalAdvance("000 / 000"))
        self._frame_label.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        self._save_gif_button = QPushButton(self.tr("Save GIF…"))
        self._save_gif_button.setObjectName("exportGif")
        self._save_gif_button.setToolTip(self.tr("Save the frames as an animated GIF."))
        self._save_frames_button = QPushButton(self.tr("Save frames…"))
        self._save_frames_button.setObjectName("exportFrames")
        self._save_frames_button.setToolTip(self.tr("Save every frame as a PNG (with its provenance) in a "
                                                    "new folder."))

        form = QFormLayout()
        form.addRow(self.tr("Seed A"), self._seed_a)
        form.addRow(self.tr("Seed B"), self._seed_b)
        form.addRow(self.tr("Frames"), self._frame_count)
        form.addRow(self.tr("Speed"), self._fps)
        form.addRow(self._bounce)
        play_row = QHBoxLayout()
        play_row.addWidget(self._play_button)
        play_row.addWidget(self._slider, 1)
        play_row.addWidget(self._frame_label)
        save_row = QHBoxLayout()
        save_row.addWidget(self._save_gif_button)
        save_row.addWidget(self._save_frames_button)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self._interpolate_button)
        layout.addWidget(self._preview)
        layout.addLayout(play_row)
        layout.addLayout(save_row)

        self._interpolate_button.clicked.connect(self.interpolate_requested)
        self._save_gif_button.clicked.connect(self.save_gif_requested)
        self._save_frames_button.clicked.connect(self.save_frames_requested)
        self._slider.valueChanged.connect(self._on_slider_value_changed)
        self._play_button.toggled.connect(self._on_play_button_toggled)
        self._fps.valueChanged.connect(self._on_fps_value_changed)
        for spin in (self._frame_count, self._fps):
            spin.valueChanged.connect(self.settings_changed)
        self._bounce.toggled.connect(self.settings_changed)
        self._update_enabled(can_interpolate=False)

    def _spin(self, name: str, low: int, high: int, value: int, tip: str = "") -> QSpinBox:
        spin = QSpinBox()
        spin.setObjectName(name)
        spin.setRange(low, high)
        spin.setValue(value)
        spin.setToolTip(tip)
        return spin

    # ----- what to make
    def seeds(self) -> tuple[int, int]:
        return self._seed_a.value(), self._seed_b.value()

    def set_seeds(self, seed_a: int, seed_b: int) -> None:
        self._seed_a.setValue(seed_a)
        self._seed_b.setValue(seed_b)

    def frame_count(self) -> int:
        return self._frame_count.value()

    def set_frame_count(self, frames: int) -> None:
        restore_spin(self._frame_count, frames)

    def fps(self) -> int:
        return self._fps.value()

    def set_fps(self, fps: int) -> None:
        restore_spin(self._fps, fps)

    def bounce(self) -> bool:
        return self._bounce.isChecked()

    def set_bounce(self, bounce: bool) -> None:
        self._bounce.setChecked(bounce)

    def set_can_interpolate(self, can: bool) -> None:
        self._update_enabled(can)

    # ----- what was made
    def set_frames(self, frames: np.ndarray, seed_a: int, seed_b: int, truncation: float,
                   index: int = 0) -> None:
        """Show uint8 frames [N, H, W, C] made from seed_a to seed_b, at frame ``index``."""
        self._frames = frames
        self._made_from = (seed_a, seed_b, truncation)
        self._step = 1
        with QSignalBlocker(self._slider):
            self._slider.setRange(0, len(frames) - 1)
            self._slider.setValue(index)
        self._show(self._slider.value())
        self._update_enabled(self._interpolate_button.isEnabled())

    def clear_frames(self) -> None:
        self._play_button.setChecked(False)
        self._frames = None
        self._made_from = None
        self._slider.setRange(0, 0)
        self._preview.set_image(None)
        self._frame_label.clear()
        self._update_enabled(self._interpolate_button.isEnabled())

    def frames(self) -> np.ndarray | None:
        return self._frames

    def made_from(self) -> tuple[int, int, float] | None:
        """(seed a, seed b, truncation) of the frames shown, or None."""
        return self._made_from

    def stop(self) -> None:
        self._play_button.setChecked(False)

    # ----- slots
    def _show(self, index: int) -> None:
        if self._frames is None:
            return
        self._preview.set_image(self._frames[index])
        self._frame_label.setText(f"{index + 1} / {len(self._frames)}")

    @Slot(int)
    def _on_slider_value_changed(self, index: int) -> None:
        self._show(index)

    @Slot(bool)
    def _on_play_button_toggled(self, playing: bool) -> None:
        if playing and self._frames is not None:
            self._timer.start(gif_frame_ms(self._fps.value()))
            self._play_button.setText(self.tr("Pause"))
        else:
            self._timer.stop()
            self._play_button.setText(self.tr("Play"))

    @Slot(int)
    def _on_fps_value_changed(self, fps: int) -> None:
        if self._timer.isActive():
            self._timer.setInterval(gif_frame_ms(fps))

    @Slot()
    def _on_timer_timeout(self) -> None:
        if self._frames is None:
            self.stop()
            return
        last = len(self._frames) - 1
        current = self._slider.value()
        if not self._bounce.isChecked():
            self._slider.setValue(0 if current >= last else current + 1)
            return
        if not 0 <= current + self._step <= last:   # turn round at either end
            self._step = -self._step
        self._slider.setValue(max(0, min(last, current + self._step)))

    def _update_enabled(self, can_interpolate: bool) -> None:
        self._interpolate_button.setEnabled(can_interpolate)
        has_frames = self._frames is not None
        for widget in (self._play_button, self._slider, self._save_gif_button, self._save_frames_button):
            widget.setEnabled(has_frames)
