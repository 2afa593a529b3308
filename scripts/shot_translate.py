"""Show the Translate panel as a user sees it, for docs/screenshots/translate.png.

    .venv/bin/python scripts/shot_translate.py --prepare      # once: stage inputs (and a stand-in model)
    ../shared/tools/screenshot.sh docs/screenshots/translate.png --wait 20 -- \\
        .venv/bin/python scripts/shot_translate.py

The model is the bundled demo (resources/translate-demo/model.safetensors) when it is installed.
Without it, a stand-in is trained for a minute on one thread on a few hundred pairs of
../shared/datasets `pairs_cjk_64` (kept in a temporary folder, so later shots reuse it). The input
is a 2 x 4 grid of hanzi in Noto Sans, characters the model never saw in training (the demo's
A_sans, or the names that the task's validation split holds out), beside a few single glyphs;
the grid is translated at its full size and shown side by side with its input.
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = Path.home() / ".cache" / "ganstudio-data" / "pairs_cjk_64"
STAGE = Path(tempfile.gettempdir()) / "ganstudio-shot" / "translate"
#: the grid of characters translated in the shot (rows, columns) and the single glyphs listed beside it
GRID, SINGLES = (2, 4), 5
#: pairs the stand-in model trains on, and for how long (minutes, one thread)
STAND_IN_PAIRS, STAND_IN_MINUTES = 600, 1.0
#: the task's validation split holds out every 10th name (the last of each 10)
HELD_OUT_STRIDE = 10


def demo_folder() -> Path | None:
    from ganstudio.core.resources import resources_dir

    folder = resources_dir() / "translate-demo"
    return folder if (folder / "model.safetensors").is_file() else None


def unseen_glyphs(data: Path) -> list[Path]:
    """Noto Sans glyphs the model did not train on: the demo's examples, else held-out names."""
    demo = demo_folder()
    if demo is not None and (demo / "A_sans").is_dir():
        return sorted((demo / "A_sans").glob("*.png"))
    names = sorted((data / "A_sans").glob("*.png"))
    return [p for i, p in enumerate(names) if i % HELD_OUT_STRIDE == HELD_OUT_STRIDE - 1]


def stage_inputs(data: Path) -> Path:
    """inputs/hanzi-grid.png (the grid) and inputs/single/*.png; returns the grid's path."""
    import numpy as np
    from PIL import Image

    glyphs = unseen_glyphs(data)
    count = GRID[0] * GRID[1]
    step = max(1, len(glyphs) // (count + SINGLES))
    chosen = glyphs[::step][:count + SINGLES]
    inputs = STAGE / "inputs"
    shutil.rmtree(inputs, ignore_errors=True)
    (inputs / "single").mkdir(parents=True)
    tiles = [np.asarray(Image.open(p).convert("L")) for p in chosen[:count]]
    rows = [np.concatenate(tiles[r * GRID[1]:(r + 1) * GRID[1]], axis=1) for r in range(GRID[0])]
    grid = inputs / "hanzi-grid.png"
    Image.fromarray(np.concatenate(rows, axis=0), "L").save(grid)
    for p in chosen[count:]:
        shutil.copy2(p, inputs / "single" / p.name)
    return grid


def stand_in_model(data: Path) -> Path:
    """A run folder of a minute's training on training-split pairs (reused when it exists)."""
    run = STAGE / "stand-in-run"
    if (run / "checkpoints").is_dir() and any((run / "checkpoints").glob("*.safetensors")):
        return run
    import torch

    sys.path.insert(0, str(REPO))
    from benchmarks.translate_quality import glyph_config, glyph_options
    from ganstudio.core.trainer import train

    names = sorted((data / "A_sans").glob("*.png"))
    train_names = [p.name for i, p in enumerate(names) if i % HELD_OUT_STRIDE != HELD_OUT_STRIDE - 1]
    pairs = STAGE / "pairs"
    shutil.rmtree(pairs, ignore_errors=True)
    for side in ("A_sans", "B_kai"):
        (pairs / side).mkdir(parents=True)
        for name in train_names[::max(1, len(train_names) // STAND_IN_PAIRS)][:STAND_IN_PAIRS]:
            os.symlink(data / side / name, pairs / side / name)
    shutil.rmtree(run, ignore_errors=True)
    torch.set_num_threads(1)
    print(f"training a stand-in model for {STAND_IN_MINUTES:g} min -> {run}", file=sys.stderr)
    finished = train(glyph_config(STAND_IN_MINUTES, 1), glyph_options(pairs), run)
    print(f"stand-in model: {finished.reason} at step {finished.step}", file=sys.stderr)
    return run


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA,
                        help="folder of the `pairs_cjk_64` dataset")
    parser.add_argument("--prepare", action="store_true", help="stage the inputs and the model, then quit")
    parser.add_argument("--best-quality", action="store_true", help="tick \"Best quality\" before translating")
    args = parser.parse_args()
    sys.path.insert(0, str(REPO))
    demo = demo_folder()
    model = demo / "model.safetensors" if demo is not None else stand_in_model(args.data)
    grid = stage_inputs(args.data)
    if args.prepare:
        print(f"model: {model}\ninput: {grid}")
        return 0

    settings = STAGE / "settings"                 # a fresh, private settings folder for every shot
    shutil.rmtree(settings, ignore_errors=True)
    os.environ["GANSTUDIO_SETTINGS_DIR"] = str(settings)
    import torch
    from PySide6.QtWidgets import QApplication, QMainWindow

    from ganstudio.gui.app import configure_application
    from ganstudio.gui.translate_panel import TranslatePanel

    torch.set_num_threads(1)     # the machine is shared; the panel works the same on one thread
    app = QApplication(sys.argv)
    configure_application(app)
    window = QMainWindow()
    window.setWindowTitle("GAN Studio")
    panel = TranslatePanel()
    window.setCentralWidget(panel)
    panel.status_changed.connect(window.statusBar().showMessage)
    window.resize(1300, 850)
    window.show()

    def select_the_grid(count: int) -> None:
        panel.select_input(grid)

    def translate_when_shown(path: str) -> None:
        if Path(path) == grid and panel.output_pixels() is None:
            panel.translate()

    panel.inputs_opened.connect(select_the_grid)
    panel.input_shown.connect(translate_when_shown)
    panel.set_view_mode("side")
    if args.best_quality:
        from PySide6.QtWidgets import QCheckBox

        panel.findChild(QCheckBox, "ensemble").setChecked(True)
    panel.open_model(model)
    panel.open_paths([grid.parent])
    code = app.exec()
    panel.shutdown()
    return code


if __name__ == "__main__":
    sys.exit(main())
