"""The core must run without a display: nothing under ganstudio.core (or the CLI) may import Qt."""
import re
import subprocess
import sys
from pathlib import Path

import ganstudio

FORBIDDEN = ("PySide6", "shiboken6", "pyqtgraph", "PyQt5", "PyQt6")


def test_core_and_cli_modules_import_no_qt():
    root = Path(ganstudio.__file__).parent
    modules = ["ganstudio.cli"] + sorted(
        "ganstudio." + ".".join(p.relative_to(root).with_suffix("").parts)
        for p in (root / "core").rglob("*.py")
    )
    modules = [m.removesuffix(".__init__") for m in modules]
    code = (
        "import sys, importlib\n"
        f"for m in {modules!r}: importlib.import_module(m)\n"
        f"bad = [m for m in sys.modules if m.split('.')[0] in {FORBIDDEN!r}]\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"Qt imported by the core: {out.stdout}"
    assert len(modules) > 10


def test_source_has_no_qt_imports():
    root = Path(ganstudio.__file__).parent / "core"
    offenders = [str(p) for p in root.rglob("*.py")
                 if re.search(rf"^\s*(import|from) ({'|'.join(FORBIDDEN)})\b", p.read_text(), re.M)]
    assert offenders == []
