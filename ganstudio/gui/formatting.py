"""Durations written the same way in every panel: '0.04 s', '1.3 s', '12 min', '3 h 05 min'."""
from __future__ import annotations

from PySide6.QtCore import QCoreApplication


def format_seconds(seconds: float) -> str:
    """A short duration: '0.04 s', '1.3 s', '2 min' (longer ones as the Train panel writes them)."""
    if seconds < 1:
        return QCoreApplication.translate("TrainPanel", "{0:.2f} s").format(seconds)
    if seconds < 60:
        return QCoreApplication.translate("TrainPanel", "{0:.1f} s").format(seconds)
    return format_duration(seconds)


def format_duration(seconds: float) -> str:
    """'45 s', '12 min', '3 h 05 min' (rounded; for ETAs)."""
    def tr(text: str) -> str:
        return QCoreApplication.translate("TrainPanel", text)

    seconds = max(0, int(round(seconds)))
    if seconds < 90:
        return tr("{0} s").format(seconds)
    minutes = round(seconds / 60)
    if minutes < 90:
        return tr("{0} min").format(minutes)
    return tr("{0} h {1:02d} min").format(minutes // 60, minutes % 60)
