"""Background work for the GUI: the thin bridge between Qt-free core functions and signals.

``Job`` runs one callable in a ``QThread``. The callable gets a ``JobContext`` with
``progress(what, fraction)`` and ``should_stop()`` (wired to ``requestInterruption``). Results and
progress are handed to a controller object that lives in the GUI thread and re-emits them, so
every public signal of a ``Job`` is emitted in the GUI thread (pytest-qt can wait on them, and
slots may touch widgets). Only plain data crosses threads.
"""
from __future__ import annotations

import logging
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QObject, QThread, QTimer, Signal, Slot

from ganstudio.core.data import Cancelled

log = logging.getLogger(__name__)


@dataclass
class JobContext:
    """What a background function may use to report and to be cancelled."""
    progress: Callable[[str, float], None]
    should_stop: Callable[[], bool]
    emit: Callable[[object], None]      # send any plain-data message to the GUI (``Job.message``)


class _Worker(QThread):
    # signals emitted from the worker thread; only the Job (GUI thread) listens to them
    w_progress = Signal(str, float)
    w_message = Signal(object)
    w_done = Signal(object)
    w_failed = Signal(object, str)

    def __init__(self, fn: Callable[[JobContext], Any]) -> None:
        super().__init__()
        self._fn = fn

    def run(self) -> None:
        ctx = JobContext(progress=lambda what, f: self.w_progress.emit(what, float(f)),
                         should_stop=self.isInterruptionRequested,
                         emit=self.w_message.emit)
        try:
            result = self._fn(ctx)
        except BaseException as e:  # reported to the GUI, which decides how to show it
            self.w_failed.emit(e, traceback.format_exc())
        else:
            self.w_done.emit(result)


class Job(QObject):
    """One background call. Create it in the GUI thread, connect its signals, then ``start()``."""

    progressed = Signal(str, float)   # (what, fraction 0..1)
    message = Signal(object)          # anything the function sent with ctx.emit (e.g. trainer events)
    succeeded = Signal(object)        # the function's return value
    failed = Signal(object, str)      # (exception, formatted traceback)
    ended = Signal()                  # after succeeded or failed, once the thread has finished

    def __init__(self, fn: Callable[[JobContext], Any], parent: QObject | None = None, *, kind: str = "") -> None:
        super().__init__(parent)
        self.kind = kind                  # what the job is for, in diagnostics
        self._worker = _Worker(fn)
        self._worker.w_progress.connect(self._on_worker_progress)
        self._worker.w_message.connect(self._on_worker_message)
        self._worker.w_done.connect(self._on_worker_done)
        self._worker.w_failed.connect(self._on_worker_failed)
        self._worker.finished.connect(self._on_worker_finished)
        self._outcome: tuple[str, tuple] | None = None

    def start(self) -> None:
        self._worker.start()
        if not (self._worker.isRunning() or self._worker.isFinished()):
            # the system refused a new thread (Qt only logs it): report it as this job's failure, from
            # the event loop like any other outcome, so "ended" still follows
            self._outcome = ("err", (RuntimeError("Could not start a background thread (the system is out of "
                                                  "threads or memory)."), ""))
            QTimer.singleShot(0, self._on_worker_finished)

    def cancel(self) -> None:
        """Ask the function to stop (its ``should_stop()`` turns True)."""
        self._worker.requestInterruption()

    def is_running(self) -> bool:
        return self._worker.isRunning()

    def is_finished(self) -> bool:
        return self._worker.isFinished()

    def wait(self, ms: int = 30_000) -> bool:
        """Block until the thread ends (for shutdown and tests)."""
        return self._worker.wait(ms)

    @Slot(str, float)
    def _on_worker_progress(self, what: str, fraction: float) -> None:
        self.progressed.emit(what, fraction)

    @Slot(object)
    def _on_worker_message(self, msg: object) -> None:
        self.message.emit(msg)

    @Slot(object)
    def _on_worker_done(self, result: object) -> None:
        self._outcome = ("ok", (result,))

    @Slot(object, str)
    def _on_worker_failed(self, exc: object, tb: str) -> None:
        self._outcome = ("err", (exc, tb))

    @Slot()
    def _on_worker_finished(self) -> None:
        # QThread.finished is emitted by the thread just *before* it ends, so isRunning() can still
        # be true here; wait the last microseconds so that "ended" really means ended and a
        # listener may drop or delete the Job without "QThread: Destroyed while thread is still running".
        self._worker.wait()
        kind, args = self._outcome or ("err", (RuntimeError("The background task ended unexpectedly."), ""))
        if kind == "ok":
            self.succeeded.emit(*args)
        else:
            if isinstance(args[0], Cancelled):   # asked for: not a failure worth a traceback in the log
                log.info("background job cancelled: %s", args[0])
            else:
                log.error("background job failed: %s\n%s", args[0], args[1])
            self.failed.emit(*args)
        self.ended.emit()


def run_job(parent: QObject, fn: Callable[[JobContext], Any], *, on_success: Callable[[Any], None] | None = None,
            on_failure: Callable[[object, str], None] | None = None,
            on_progress: Callable[[str, float], None] | None = None) -> Job:
    """Start ``fn`` in the background with the given GUI-thread callbacks; returns the Job."""
    job = Job(fn, parent)
    if on_success:
        job.succeeded.connect(on_success)
    if on_failure:
        job.failed.connect(on_failure)
    if on_progress:
        job.progressed.connect(on_progress)
    job.start()
    return job
