"""Error dialogs: one clear sentence, the technical details on demand.

``show_error`` opens a window-modal message box without blocking the caller (``open()``, not
``exec()``), so a slot that reports an error returns at once and tests can find and close the box.
``show_exception`` turns an exception into such a box: a ``GanStudioError`` is the user's to fix
and its message is shown as it is; anything else is a bug, shown with its traceback and the path
of the log file.
"""
from __future__ import annotations

import logging
import traceback

from PySide6.QtCore import QCoreApplication, Qt
from PySide6.QtWidgets import QMessageBox, QWidget

from ganstudio.core.errors import GanStudioError

log = logging.getLogger(__name__)

#: object name of every error box (tests and the excepthook find open boxes by it)
ERROR_BOX_NAME = "ganstudio-error"
#: more boxes than this at once means an error repeats in a loop; further ones are only logged
MAX_OPEN_BOXES = 3

_log_file: str | None = None


def set_log_file(path: str | None) -> None:
    """Tell error boxes where the log file is (set once by the app when logging starts)."""
    global _log_file
    _log_file = path


def _tr(text: str) -> str:
    return QCoreApplication.translate("errors", text)


def open_error_boxes() -> list[QMessageBox]:
    """The error boxes currently shown (for the excepthook's flood guard and for tests)."""
    from PySide6.QtWidgets import QApplication

    return [w for w in QApplication.topLevelWidgets()
            if isinstance(w, QMessageBox) and w.objectName() == ERROR_BOX_NAME and w.isVisible()]


def show_error(parent: QWidget | None, message: str, details: str | None = None,
               title: str | None = None) -> QMessageBox | None:
    """Show ``message`` (one or two plain sentences) with optional ``details`` behind a button.

    Returns the box, or None if too many are open already (the message is logged either way).
    """
    log.error("%s%s", message, f"\n{details}" if details else "")
    if len(open_error_boxes()) >= MAX_OPEN_BOXES:
        return None
    box = QMessageBox(QMessageBox.Icon.Critical, title or _tr("GAN Studio"), message,
                      QMessageBox.StandardButton.Ok, parent)
    box.setObjectName(ERROR_BOX_NAME)
    box.setTextFormat(Qt.TextFormat.PlainText)
    if details:
        box.setDetailedText(details)   # QMessageBox's own "Show Details..." expander
    box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    box.setWindowModality(Qt.WindowModality.WindowModal if parent is not None else Qt.WindowModality.ApplicationModal)
    box.open()
    return box


def describe_exception(exc: BaseException, tb: str | None = None) -> tuple[str, str | None]:
    """(sentence, details) for an exception: the user's error as is, a bug with its traceback."""
    if isinstance(exc, GanStudioError):
        return str(exc), None
    if isinstance(exc, MemoryError):
        return _tr("The computer ran out of memory. Close other programs, or choose a smaller model or "
                   "batch size."), tb
    if tb is None:
        tb = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    sentence = _tr("Something went wrong inside GAN Studio ({0}: {1}). Your files are safe.").format(
        type(exc).__name__, exc)
    if _log_file:
        sentence += " " + _tr("The details were written to {0}.").format(_log_file)
    return sentence, tb


def show_exception(parent: QWidget | None, exc: BaseException, tb: str | None = None,
                   title: str | None = None) -> QMessageBox | None:
    """Show an exception caught around an action or reported by a background job."""
    sentence, details = describe_exception(exc, tb)
    return show_error(parent, sentence, details, title)
