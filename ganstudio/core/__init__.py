"""The Qt-free engine: data, models, losses, training, inference and export.

Nothing under this package may import PySide6, shiboken6 or pyqtgraph (tests/core/test_no_qt.py
enforces it), so the CLI, a headless server and torchrun can use every capability.
"""
