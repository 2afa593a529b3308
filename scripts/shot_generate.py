"""Show the Generate panel as a user sees it, for docs/screenshots/generate.png.

    .venv/bin/python scripts/shot_generate.py --train-only      # once: the demo model, ~1.5 min of CPU
    ../shared/tools/screenshot.sh docs/screenshots/generate.png --size 1300x850 --wait 12 -- \
        .venv/bin/python scripts/shot_generate.py [--model RUN_OR_CHECKPOINT]

Without --model it uses a small dcgan-32 trained on the bundled emoji in a temporary folder
(trained first if missing). The panel opens the model, makes 16 images, selects
two and interpolates between them, and waits to be photographed.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_RUN = Path(tempfile.gettempdir()) / "ganstudio-shot" / "dcgan-32-emoji"
#: training time of the demo model: long enough for recognisable colours and shapes
TRAIN_MINUTES = 1.5
#: which tiles get selected (and interpolated between) in the picture
SELECTED_TILES = (2, 9)


def train_demo_model(run_dir: Path) -> None:
    from ganstudio.core.config import TrainConfig
    from ganstudio.core.gan import GanOptions
    from ganstudio.core.trainer import train

    print(f"training a demo model into {run_dir} ({TRAIN_MINUTES} min)…", flush=True)
    train(TrainConfig(steps=None, minutes=TRAIN_MINUTES, batch_size=64, threads=1, sample_every=500),
          GanOptions(str(REPO / "resources" / "demo" / "emoji"), "dcgan-32"), run_dir)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=None, help="run folder or checkpoint to open")
    parser.add_argument("--train-only", action="store_true", help="train the demo model if missing, then exit")
    args = parser.parse_args()
    model = args.model
    if model is None:
        model = DEFAULT_RUN
        if not (model / "checkpoints").is_dir():
            train_demo_model(model)
    if args.train_only:
        return 0

    sys.path.insert(0, str(REPO))
    from PySide6.QtWidgets import QApplication, QDoubleSpinBox, QMainWindow, QSlider, QSpinBox

    from ganstudio.gui.generate_panel import GeneratePanel
    from ganstudio.gui.widgets.gen_image_grid import GenImageGrid

    app = QApplication(sys.argv)
    app.setOrganizationName("GanStudioScreenshots")   # keeps the user's own settings untouched
    app.setApplicationName("ganstudio")
    window = QMainWindow()
    window.setWindowTitle("GAN Studio")
    panel = GeneratePanel()
    window.setCentralWidget(panel)
    panel.status_changed.connect(window.statusBar().showMessage)
    window.resize(1300, 850)
    window.show()

    def select_and_interpolate(count: int) -> None:
        panel.generation_finished.disconnect(select_and_interpolate)
        grid = panel.findChild(GenImageGrid, "images")
        for row in SELECTED_TILES:
            grid.item(row).setSelected(True)
        panel.make_interpolation()

    def show_middle_frame(frames: int) -> None:
        panel.findChild(QSlider, "frameSlider").setValue(frames // 2)

    panel.generation_finished.connect(select_and_interpolate)
    panel.interpolation_finished.connect(show_middle_frame)
    panel.findChild(QSpinBox, "count").setValue(16)
    panel.findChild(QSpinBox, "seed").setValue(0)
    panel.findChild(QDoubleSpinBox, "truncation").setValue(1.0)   # the model as trained (vivid colours)
    panel.open_model(model)
    code = app.exec()
    panel.shutdown()
    return code


if __name__ == "__main__":
    sys.exit(main())
