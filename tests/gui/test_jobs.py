"""Background jobs: outcomes arrive in the GUI thread, "ended" always follows, even when the system
refuses a thread, and a shut-down panel is idle at once."""
from __future__ import annotations

import threading

from PySide6.QtCore import QThread, Signal
from PySide6.QtWidgets import QProgressBar, QWidget

from ganstudio.gui import jobs
from ganstudio.gui.jobs import Job
from ganstudio.gui.panel_jobs import PanelJobs

WAIT_MS = 30_000


def test_result_and_ended_arrive_in_the_gui_thread(qtbot):
    seen = []
    job = Job(lambda ctx: threading.get_ident())
    job.succeeded.connect(lambda result: seen.append(("ok", result, QThread.currentThread())))
    job.ended.connect(lambda: seen.append(("ended", job.is_running())))
    with qtbot.waitSignal(job.ended, timeout=WAIT_MS):
        job.start()
    (ok, worker_thread, receiver_thread), ended = seen
    assert ok == "ok" and worker_thread != threading.get_ident()
    assert receiver_thread is QThread.currentThread() and ended == ("ended", False)


def test_a_thread_the_system_refuses_is_a_failure_followed_by_ended(qtbot, monkeypatch):
    monkeypatch.setattr(jobs._Worker, "start", lambda self: None)    # as if thread creation failed
    job = Job(lambda ctx: 1)
    failures = []
    job.failed.connect(lambda error, details: failures.append(str(error)))
    with qtbot.waitSignal(job.ended, timeout=WAIT_MS):
        job.start()
    assert len(failures) == 1 and "background thread" in failures[0]


class _Panel(PanelJobs, QWidget):
    status_changed = Signal(str)

    def __init__(self) -> None:
        super().__init__()
        self._init_jobs()
        self._progress = QProgressBar(self)
        self.results = []

    def _update_actions(self) -> None:
        pass


def test_shutdown_cancels_waits_and_leaves_the_panel_idle_at_once(qtbot):
    panel = _Panel()
    qtbot.addWidget(panel)

    def long_work(ctx):
        while not ctx.should_stop():
            QThread.msleep(5)
        return "stopped"

    panel._start_job("long", long_work, panel.results.append)
    panel._start_job("other", long_work, panel.results.append)
    assert panel.is_busy() and "long" in panel.busy_report()
    assert panel._stop_all_jobs(WAIT_MS)
    assert not panel.is_busy() and panel.busy_report() == "nothing"
    qtbot.wait(50)   # their queued outcomes arrive and are ignored: the kinds were given up
    assert panel.results == [] and not panel.is_busy()
