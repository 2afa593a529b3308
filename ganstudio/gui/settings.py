"""User preferences: a small versioned JSON file under platformdirs (window layout lives in QSettings).

The file holds what a user chose (recent dataset folders, the last training options, the runs
folder), not how the window looked. It is read once at start and written atomically after each
change. A damaged or foreign file never stops the app: it is set aside as ``*.damaged`` and the
defaults are used, with a note the GUI can show.

``GANSTUDIO_SETTINGS_DIR`` overrides the folder (tests and portable installs).
"""
from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QCoreApplication

log = logging.getLogger(__name__)

APP_DIR_NAME = "ganstudio"
SETTINGS_FILE = "settings.json"
SETTINGS_ENV = "GANSTUDIO_SETTINGS_DIR"
#: bump when the meaning of a key changes, and teach ``_migrate`` the old form
SETTINGS_VERSION = 1
#: how many dataset folders the "Recent folders" menu remembers
MAX_RECENT_FOLDERS = 10
#: option values larger than this are not preferences but data that slipped in; they are dropped
_MAX_OPTION_TEXT = 4096


def user_dir(kind: str, env: str | None = None) -> Path:
    """The app's per-user folder of ``kind`` ("config", "data", "log"): ``$env`` if set, else platformdirs'."""
    if env and os.environ.get(env):
        return Path(os.environ[env])
    import platformdirs

    finder = {"config": platformdirs.user_config_dir, "data": platformdirs.user_data_dir,
              "log": platformdirs.user_log_dir}[kind]
    return Path(finder(APP_DIR_NAME, appauthor=False))


def settings_dir() -> Path:
    """The preferences folder: $GANSTUDIO_SETTINGS_DIR or the platform's user config folder."""
    return user_dir("config", SETTINGS_ENV)


def default_runs_dir() -> Path:
    """Where new training runs go unless the user chose another folder."""
    return user_dir("data") / "runs"


class Preferences:
    """Recent folders, last options and the runs folder, backed by one JSON file."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path if path is not None else settings_dir() / SETTINGS_FILE
        self.recent_folders: list[str] = []
        self.last_options: dict[str, Any] = {}
        self.runs_dir: str | None = None
        self.problem: str | None = None      # set when the file was damaged; the GUI shows it once
        self._unknown: dict[str, Any] = {}   # keys written by a newer version, kept on save

    # -- reading -------------------------------------------------------------------------------
    @classmethod
    def load(cls, path: Path | None = None) -> Preferences:
        """Read the preferences file; a missing one gives defaults, a damaged one is set aside."""
        prefs = cls(path)
        try:
            text = prefs.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return prefs
        except OSError as e:
            prefs.problem = _tr("Your preferences could not be read ({0}); the defaults are used.").format(
                e.strerror or e)
            log.warning("cannot read %s: %s", prefs.path, e)
            return prefs
        try:
            doc = json.loads(text)
            if not isinstance(doc, dict):
                raise ValueError("the top level is not an object")
            prefs._apply(_migrate(doc))
        except (ValueError, TypeError) as e:
            prefs._set_aside(str(e))
        return prefs

    def _apply(self, doc: dict[str, Any]) -> None:
        known = {"version", "recent_folders", "last_options", "runs_dir"}
        self._unknown = {k: v for k, v in doc.items() if k not in known}
        folders = doc.get("recent_folders", [])
        if isinstance(folders, list):
            self.recent_folders = [f for f in folders if isinstance(f, str) and f][:MAX_RECENT_FOLDERS]
        options = doc.get("last_options", {})
        if isinstance(options, dict):
            self.last_options = {k: v for k, v in options.items() if isinstance(k, str) and _plain_value(v)}
        runs = doc.get("runs_dir")
        self.runs_dir = runs if isinstance(runs, str) and runs else None

    def _set_aside(self, why: str) -> None:
        aside = self.path.with_name(self.path.name + ".damaged")
        try:
            os.replace(self.path, aside)
            kept = " " + _tr("A copy was kept as {0}.").format(aside)
        except OSError:
            kept = ""
        self.problem = _tr("Your preferences file was damaged ({0}); the defaults are used.").format(why) + kept
        log.warning("damaged preferences %s: %s", self.path, why)

    # -- changing ------------------------------------------------------------------------------
    def add_recent_folder(self, folder: str | os.PathLike[str]) -> None:
        """Put ``folder`` first in the recent list (once) and save."""
        text = str(Path(folder))
        self.recent_folders = [text] + [f for f in self.recent_folders if f != text]
        del self.recent_folders[MAX_RECENT_FOLDERS:]
        self.save()

    def set_last_options(self, options: dict[str, Any]) -> None:
        self.last_options = {k: v for k, v in options.items() if _plain_value(v)}
        self.save()

    def set_runs_dir(self, folder: str | os.PathLike[str] | None) -> None:
        self.runs_dir = str(folder) if folder else None
        self.save()

    def resolved_runs_dir(self) -> Path:
        return Path(self.runs_dir) if self.runs_dir else default_runs_dir()

    # -- writing -------------------------------------------------------------------------------
    def save(self) -> bool:
        """Write the file atomically; False (logged) if the disk refused, since preferences are not worth a crash."""
        doc = {**self._unknown, "version": SETTINGS_VERSION, "recent_folders": self.recent_folders,
               "last_options": self.last_options, "runs_dir": self.runs_dir}
        tmp = self.path.with_name(self.path.name + ".tmp")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp.write_text(json.dumps(doc, indent=2, ensure_ascii=False), encoding="utf-8")
            os.replace(tmp, self.path)
        except OSError as e:
            log.warning("cannot save preferences to %s: %s", self.path, e)
            return False
        return True


def _tr(text: str) -> str:
    return QCoreApplication.translate("Preferences", text)


def _migrate(doc: dict[str, Any]) -> dict[str, Any]:
    """Bring an older file to the current layout. Version 0 (no version key) had the same keys."""
    version = doc.get("version", 0)
    if isinstance(version, bool) or not isinstance(version, int) or version < 0:
        raise ValueError(f"invalid version {version!r}")
    return doc


def _plain_value(value: Any) -> bool:
    """Only small JSON scalars are remembered as options."""
    if value is None or isinstance(value, (bool, int, float)):
        return True
    return isinstance(value, str) and len(value) <= _MAX_OPTION_TEXT


def first_start_folder(runs_folder: Callable[[], Path] | None) -> str:
    """Where a dialog with nothing remembered starts: for models, the runs folder (hidden deep in the
    user's data folder, so hard to find by hand) when it exists; else the home folder."""
    folder = runs_folder() if runs_folder is not None else None
    return str(folder if folder is not None and folder.is_dir() else Path.home())
