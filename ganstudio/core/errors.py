"""The error family. Every message says what was wrong and what is allowed."""
from __future__ import annotations

import errno


class GanStudioError(Exception):
    """Base class for errors caused by the user's input or environment (shown as one clear line)."""


class DatasetError(GanStudioError):
    """A dataset folder or file could not be used."""


class CheckpointError(GanStudioError):
    """A checkpoint or model file is missing, corrupt, foreign or unsafe."""


class ConfigError(GanStudioError):
    """An option has a value that is not allowed."""


class TrainingDiverged(GanStudioError):
    """Losses became NaN or infinite and could not be recovered."""


class ExportError(GanStudioError):
    """An image could not be written (exists, disk full, no permission)."""

    def __init__(self, message: str, *, disk_full: bool = False, exists: bool = False,
                 path: object = None) -> None:
        super().__init__(message)
        self.disk_full = disk_full   # every later write to that disk fails too: a batch stops
        self.exists = exists         # the file is there and was not to be replaced (the CLI names --overwrite)
        self.path = path             # that file, for ``already_exists``


def already_exists(path: object) -> ExportError:
    """The error for a file that is there and was not to be replaced."""
    return ExportError(f"{path} already exists; choose another name or allow overwriting.", exists=True, path=path)


def is_disk_full(e: BaseException) -> bool:
    """True for a write that failed because the disk is full (an OSError, or a library's own error
    that only says so in words, like safetensors' SafetensorError)."""
    return getattr(e, "errno", None) == errno.ENOSPC or "No space left on device" in str(e)


#: the operating system's reasons for a failed write, in words a user can act on
WRITE_FAILURES = {
    errno.EROFS: "the drive is read-only; choose a folder on another drive",
    errno.EACCES: "you do not have permission to write there; choose another folder",
    errno.EPERM: "you do not have permission to write there; choose another folder",
    errno.ENOTDIR: "part of that path is a file, not a folder",
    errno.EEXIST: "a file of that name is in the way, where a folder is needed",
    errno.EISDIR: "a folder of that name is in the way, where a file is needed",
    errno.ENAMETOOLONG: "the name is too long for this drive",
    getattr(errno, "EDQUOT", -1): "your disk quota is used up; free some space",   # not on every OS
}


def write_failure_reason(e: BaseException) -> str:
    """Why a file could not be written, in words a user acts on (a full disk says so)."""
    if is_disk_full(e):
        return "the disk is full; free some space"
    reason = WRITE_FAILURES.get(getattr(e, "errno", None))
    if reason:
        return reason
    return getattr(e, "strerror", None) or str(e)
