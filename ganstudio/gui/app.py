"""``ganstudio``: start the desktop app.

Start-up order matters: logging first (a gui-script has no console on Windows, so the log file is
where problems go), then the QApplication with its names, icon and translations, then the
exception hooks, then a splash while the main window (and with it PyTorch, ~2-6 s) is imported.

Hidden command-line options (for screenshots and demos): ``--demo-autostart`` selects the demo
images and starts training as soon as they are scanned.
"""
from __future__ import annotations

import argparse
import gc
import logging
import logging.handlers
import os
import signal
import sys
import threading
import traceback
from pathlib import Path
from types import TracebackType

from PySide6.QtCore import (QCoreApplication, QLibraryInfo, QLocale, QObject, QPointF, QRectF, QSettings, Qt,
                            QTimer, QTranslator, Signal)
from PySide6.QtGui import QBrush, QColor, QFont, QGuiApplication, QIcon, QLinearGradient, QPainter, QPen, QPixmap
from PySide6.QtWidgets import QApplication, QSplashScreen

from ganstudio import __version__

log = logging.getLogger(__name__)

APP_NAME = "GAN Studio"
ORG_NAME = "GAN Studio"
ORG_DOMAIN = "ganstudio.app"
LOG_FILE_NAME = "ganstudio.log"
LOG_ENV = "GANSTUDIO_LOG_DIR"
_LOG_BYTES = 1_000_000
_LOG_BACKUPS = 3
#: how often (seconds) Python lets another thread take the GIL. The default 5 ms lets the training
#: thread hold the GUI thread off for up to 5 ms at a time, several times per event; 1 ms keeps
#: the event loop prompt (benchmarks/ui_responsiveness.py measures both).
GUI_SWITCH_INTERVAL_S = 0.001
#: time for the splash to be painted before the main window's import blocks the event loop
_SPLASH_PAINT_MS = 50
#: how often Python gets a chance to run a signal handler while the event loop waits (ms)
_SIGNAL_WAKE_MS = 250
#: the splash screen's size and its icon's side, in layout pixels
_SPLASH_SIZE = (420, 180)
_SPLASH_ICON = 96


def tune_runtime_for_gui() -> None:
    """Keep the event loop prompt while a training thread runs Python in the same process.

    Call once the main window exists (torch, Qt and pyqtgraph imported). Two measured causes of
    late GUI events (benchmarks/ui_responsiveness.py): the GIL switch interval (see
    ``GUI_SWITCH_INTERVAL_S``), and full garbage collections, which scan every tracked object
    (~400k after start-up) in whichever thread triggers them and hold the GIL for 150-250 ms.
    Freezing the start-up objects takes them out of every later collection.
    """
    sys.setswitchinterval(GUI_SWITCH_INTERVAL_S)
    gc.collect()
    gc.freeze()


def freeze_long_lived_objects() -> None:
    """Exempt every object alive now from the cyclic garbage collector's scans (not from freeing).

    The Train panel calls this once a run has taken its first steps: by then the run has imported
    what it needs (the optimiser alone pulls in ~100k objects from torch._dynamo), and without this
    the next full collection, in the training thread, would hold the GIL for ~100 ms.
    """
    gc.freeze()


def release_frozen_objects() -> None:
    """Undo ``freeze_long_lived_objects`` when a run ends, so that cycles left by the finished run
    (its model, its dataset) can be collected again."""
    gc.unfreeze()


def log_dir() -> Path:
    """Where the log file lives: $GANSTUDIO_LOG_DIR or the platform's user log folder."""
    from .settings import user_dir

    return user_dir("log", LOG_ENV)


def setup_logging() -> Path | None:
    """Log to a rotating file (and to stderr when there is one); returns the file, or None."""
    from . import errors

    root = logging.getLogger()
    root.setLevel(logging.INFO)
    fmt = logging.Formatter("%(asctime)s %(levelname)s %(name)s [%(threadName)s]: %(message)s")
    path: Path | None = log_dir() / LOG_FILE_NAME
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handler = logging.handlers.RotatingFileHandler(path, maxBytes=_LOG_BYTES, backupCount=_LOG_BACKUPS,
                                                       encoding="utf-8")
        handler.setFormatter(fmt)
        root.addHandler(handler)
    except OSError as e:
        path = None
        print(f"GAN Studio: cannot write the log file: {e}", file=sys.stderr)
    if sys.stderr is not None:
        console = logging.StreamHandler()
        console.setLevel(logging.WARNING)
        console.setFormatter(fmt)
        root.addHandler(console)
    errors.set_log_file(str(path) if path else None)
    log.info("GAN Studio %s starting (Python %s)", __version__, sys.version.split()[0])
    return path


def configure_application(app: QCoreApplication) -> None:
    """Names (QSettings keys follow them), the window icon, and where QSettings is kept.

    With ``GANSTUDIO_SETTINGS_DIR`` set, the window layout (QSettings) goes there too, as an ini
    file beside the preferences: a test, a screenshot or a portable install leaves the user's own
    layout alone (a window saved on an 800x600 offscreen screen would otherwise come back small).
    """
    app.setApplicationName(APP_NAME)
    app.setOrganizationName(ORG_NAME)
    app.setOrganizationDomain(ORG_DOMAIN)
    app.setApplicationVersion(__version__)
    if isinstance(app, QApplication):
        app.setWindowIcon(app_icon())
        app.setDesktopFileName("ganstudio")
    from .settings import SETTINGS_ENV, settings_dir

    if os.environ.get(SETTINGS_ENV):
        QSettings.setDefaultFormat(QSettings.Format.IniFormat)
        QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(settings_dir()))


def app_icon() -> QIcon:
    """The app icon, drawn: two overlapping circles (a generator and its critic) on a rounded square."""
    icon = QIcon()
    for size in (16, 24, 32, 48, 64, 128, 256):
        icon.addPixmap(_icon_pixmap(size))
    return icon


def _icon_pixmap(size: int) -> QPixmap:
    pixmap = QPixmap(size, size)
    pixmap.fill(Qt.GlobalColor.transparent)
    p = QPainter(pixmap)
    p.setRenderHint(QPainter.RenderHint.Antialiasing)
    gradient = QLinearGradient(QPointF(0, 0), QPointF(size, size))
    gradient.setColorAt(0, QColor("#3b2c85"))
    gradient.setColorAt(1, QColor("#1f78b4"))
    p.setBrush(QBrush(gradient))
    p.setPen(Qt.PenStyle.NoPen)
    p.drawRoundedRect(QRectF(0, 0, size, size), size * 0.2, size * 0.2)
    r = size * 0.24
    p.setPen(QPen(QColor("white"), max(1.0, size / 24)))
    p.setBrush(QColor(255, 160, 60, 210))
    p.drawEllipse(QPointF(size * 0.40, size * 0.5), r, r)
    p.setBrush(QColor(120, 220, 200, 170))
    p.drawEllipse(QPointF(size * 0.60, size * 0.5), r, r)
    p.end()
    return pixmap


def install_translations(app: QCoreApplication, locale: QLocale | None = None) -> list[QTranslator]:
    """Load Qt's own and GAN Studio's translations for ``locale`` (default: the system's), if present.

    GAN Studio's are ``resources/translations/ganstudio_<locale>.qm``; a missing file means English.
    """
    locale = locale or QLocale.system()
    loaded = []
    qt_translator = QTranslator(app)
    if qt_translator.load(locale, "qtbase", "_", QLibraryInfo.path(QLibraryInfo.LibraryPath.TranslationsPath)):
        app.installTranslator(qt_translator)
        loaded.append(qt_translator)
    try:
        from ganstudio.core.resources import resources_dir

        folder = resources_dir() / "translations"
    except Exception:  # no resources folder: English only
        return loaded
    ours = QTranslator(app)
    if folder.is_dir() and ours.load(locale, "ganstudio", "_", str(folder)):
        app.installTranslator(ours)
        loaded.append(ours)
        log.info("translation loaded: %s", ours.filePath())
    return loaded


class _CrashReporter(QObject):
    """Shows unexpected exceptions from any thread in the GUI thread (dialogs need the GUI thread)."""

    reported = Signal(object, str)     # (exception, traceback text); queued when emitted elsewhere

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.reported.connect(self._on_reported, Qt.ConnectionType.QueuedConnection)

    def _on_reported(self, exc: BaseException, tb: str) -> None:
        from .errors import show_exception

        parent = QApplication.activeWindow()
        show_exception(parent, exc, tb)


def install_exception_hooks(app: QCoreApplication) -> _CrashReporter:
    """Log every uncaught exception (GUI thread and other threads) and show it in a dialog."""
    reporter = _CrashReporter(app)

    def excepthook(exc_type: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
        if issubclass(exc_type, KeyboardInterrupt):
            sys.__excepthook__(exc_type, exc, tb)
            return
        text = "".join(traceback.format_exception(exc_type, exc, tb))
        log.critical("uncaught exception\n%s", text)
        reporter.reported.emit(exc, text)

    def thread_excepthook(args: threading.ExceptHookArgs) -> None:
        if args.exc_type is SystemExit or args.exc_value is None:
            return
        excepthook(args.exc_type, args.exc_value, args.exc_traceback)

    sys.excepthook = excepthook
    threading.excepthook = thread_excepthook
    return reporter


def install_quit_signals(app: QCoreApplication, windows: list) -> QTimer:
    """SIGTERM (logout, shutdown, ``kill``), SIGHUP and Ctrl-C in the terminal: stop what is running, save
    a checkpoint and quit, as the window's own Quit does, without asking. Python runs signal handlers
    only between bytecodes, so a light timer wakes it while Qt's event loop waits."""
    def handle(signum: int, frame: object) -> None:
        log.info("signal %s: quitting", signum)
        QTimer.singleShot(0, lambda: [w.request_quit() for w in windows] if windows else app.quit())

    for name in ("SIGTERM", "SIGHUP", "SIGINT"):
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), handle)
    wake = QTimer(app)
    wake.timeout.connect(lambda: None)
    wake.start(_SIGNAL_WAKE_MS)
    return wake


def _splash() -> QSplashScreen:
    # drawn with the screen's own pixels (twice as many at 200 % scaling), or it shows blurred
    screen = QGuiApplication.primaryScreen()
    ratio = screen.devicePixelRatio() if screen is not None else 1.0
    pixmap = QPixmap(round(_SPLASH_SIZE[0] * ratio), round(_SPLASH_SIZE[1] * ratio))
    pixmap.setDevicePixelRatio(ratio)
    pixmap.fill(QColor("#26215c"))
    p = QPainter(pixmap)
    icon = _icon_pixmap(round(_SPLASH_ICON * ratio))
    icon.setDevicePixelRatio(ratio)
    p.drawPixmap(24, 42, icon)
    p.setPen(QColor("white"))
    font = QFont()
    font.setPointSize(20)
    font.setBold(True)
    p.setFont(font)
    p.drawText(QRectF(140, 50, 270, 40), APP_NAME)
    p.end()
    splash = QSplashScreen(pixmap)
    splash.showMessage(QCoreApplication.translate("app", "Loading PyTorch…"),
                       Qt.AlignmentFlag.AlignBottom | Qt.AlignmentFlag.AlignRight, QColor("white"))
    return splash


def parse_args(argv: list[str]) -> tuple[argparse.Namespace, list[str]]:
    parser = argparse.ArgumentParser(prog="ganstudio", description="GAN Studio desktop app.")
    parser.add_argument("--version", action="version", version=f"GAN Studio {__version__}")
    parser.add_argument("--demo-autostart", action="store_true", help=argparse.SUPPRESS)
    return parser.parse_known_args(argv)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args, qt_args = parse_args(argv)
    setup_logging()
    QApplication.setHighDpiScaleFactorRoundingPolicy(Qt.HighDpiScaleFactorRoundingPolicy.PassThrough)
    app = QApplication([sys.argv[0], *qt_args])
    from . import theme

    theme.install(app)     # Qt's own black icons (dialog buttons...) drawn light on a dark palette
    configure_application(app)
    install_translations(app)
    reporter = install_exception_hooks(app)
    windows: list = []
    wake = install_quit_signals(app, windows)
    splash = _splash()
    splash.show()

    def open_main_window() -> None:
        # Imported here, from the running event loop, so the splash is on screen while PyTorch loads.
        from .main_window import MainWindow

        window = MainWindow(autostart_demo=args.demo_autostart)
        window.show()
        splash.finish(window)
        windows.append(window)
        tune_runtime_for_gui()

    QTimer.singleShot(_SPLASH_PAINT_MS, open_main_window)
    code = app.exec()
    del reporter, wake
    logging.getLogger(__name__).info("GAN Studio closed (%s)", code)
    return code


if __name__ == "__main__":
    sys.exit(main())
