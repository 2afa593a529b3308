"""Background-job bookkeeping shared by the Upscale and Translate panels.

A panel runs at most one job of each kind ("model", "upscale", "batch"...). Starting a kind again
cancels the earlier one and ignores whatever it still sends; every job whose thread may still run
is tracked until it has ended, so ``shutdown`` can cancel and join them all.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from .errors import describe_exception, show_error
from .jobs import Job, JobContext


class PanelJobs:
    """Mixin for a QWidget panel. The panel provides ``_update_actions()``, a ``status_changed``
    signal (str), an ``error_shown`` signal and a ``_progress`` bar, and lists in ``PROGRESS_KINDS``
    the job kinds that show the progress bar (it is hidden when none of them runs)."""

    PROGRESS_KINDS: tuple[str, ...] | None = ()   # None: every kind shows the progress bar

    def _init_jobs(self) -> None:
        self._jobs: dict[str, Job] = {}        # the current job of each kind
        self._running: set[Job] = set()        # every job whose thread may still run
        self._status_text = ""                 # the last status line (said again when the panel goes idle)

    def _status(self, text: str) -> None:
        """A one-line status for the window's status bar."""
        self._status_text = text
        self.status_changed.emit(text)

    def is_busy(self) -> bool:
        """True while any background work of this panel is running."""
        return bool(self._running)

    def _stop_all_jobs(self, wait_ms: int) -> bool:
        """Cancel all background work and wait for its threads, within one shared deadline; True if
        every thread ended in time."""
        jobs = list(self._running)
        for job in jobs:
            job.cancel()
        deadline = time.monotonic() + wait_ms / 1000
        # every job gets its wait (no short-circuit)
        waited = [job.wait(max(0, int((deadline - time.monotonic()) * 1000))) for job in jobs]
        self._jobs.clear()
        # a job whose thread has ended is no longer running, even before its queued "ended" arrives
        # (that arrives later and finds nothing left to do)
        self._running.difference_update(job for job, ended in zip(jobs, waited) if ended)
        return all(waited)

    def busy_report(self) -> str:
        """What is still running, for a diagnostic: kind, thread running, thread finished."""
        return ", ".join(f"{job.kind} (running={job.is_running()}, finished={job.is_finished()})"
                         for job in self._running) or "nothing"

    def _start_job(self, kind: str, work: Callable[[JobContext], Any], on_success: Callable[[Any], None], *,
                   failure: str = "", on_failure: Callable[[object, str], None] | None = None,
                   on_message: Callable[[Any], None] | None = None,
                   on_progress: Callable[[str, float], None] | None = None) -> Job:
        """Run ``work`` as the current job of ``kind``; an earlier one of that kind is cancelled and
        whatever it still sends is ignored. When its result arrives the kind counts as free again
        (its thread ends a moment later), so a handler may start the work the job was blocking."""
        self._cancel_job(kind)
        job = Job(work, self, kind=kind)
        self._jobs[kind] = job
        self._running.add(job)

        def current() -> bool:
            return self._jobs.get(kind) is job

        def succeeded(result: object) -> None:
            if current():
                del self._jobs[kind]
                on_success(result)
                self._update_actions()

        def failed(error: object, details: str) -> None:
            if current():
                del self._jobs[kind]
                self._update_actions()
                if on_failure is not None:
                    on_failure(error, details)
                else:
                    self._report_failure(failure, error, details)

        job.succeeded.connect(succeeded)
        job.failed.connect(failed)
        if on_message is not None:
            job.message.connect(lambda message: on_message(message) if current() else None)
        if on_progress is not None:
            job.progressed.connect(lambda what, fraction: on_progress(what, fraction) if current() else None)
        job.ended.connect(lambda: self._on_job_ended(kind, job))
        job.start()
        self._update_actions()
        return job

    def _cancel_job(self, kind: str) -> None:
        job = self._jobs.pop(kind, None)
        if job is not None:
            job.cancel()

    def _on_job_ended(self, kind: str, job: Job) -> None:
        if self._jobs.get(kind) is job:
            del self._jobs[kind]
        self._running.discard(job)
        job.deleteLater()
        kinds = self._jobs if self.PROGRESS_KINDS is None else self.PROGRESS_KINDS
        if not any(k in self._jobs for k in kinds):
            self._progress.setVisible(False)
        self._update_actions()
        if not self._running:
            # said again now that the panel is idle: a line sent while it was still busy (its result
            # arrives before its thread ends) may be showing on another panel's tab
            self.status_changed.emit(self._status_text)

    def _report_failure(self, summary: str, error: object, details: str) -> None:
        if isinstance(error, BaseException):
            reason, more = describe_exception(error, details or None)
        else:
            reason, more = str(error), details or None
        self._status(summary)
        self.error_shown.emit(summary)
        show_error(self, f"{summary}\n\n{reason}", more)
