"""Where the app's bundled files live (resources/ beside the package, or inside a frozen bundle)."""
from __future__ import annotations

import os
import sys
from pathlib import Path

from .errors import GanStudioError


def resources_dir() -> Path:
    """The resources folder: $GANSTUDIO_RESOURCES, the PyInstaller bundle's, or the source tree's."""
    env = os.environ.get("GANSTUDIO_RESOURCES")
    if env:
        return Path(env)
    frozen = getattr(sys, "_MEIPASS", None)
    if frozen:
        return Path(frozen) / "resources"
    return Path(__file__).resolve().parents[2] / "resources"


def resource(*parts: str) -> Path:
    path = resources_dir().joinpath(*parts)
    if not path.exists():
        raise GanStudioError(f"A bundled file is missing: {path}. Reinstall GAN Studio.")
    return path


def demo_dataset_dir() -> Path:
    """The small bundled demo image folder (emoji; see resources/demo/LICENSE.md)."""
    return resource("demo", "emoji")
