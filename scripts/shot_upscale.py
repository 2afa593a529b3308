"""Show the Upscale panel as a user sees it, for docs/screenshots/upscale.png.

    ../shared/tools/screenshot.sh docs/screenshots/upscale.png --size 1300x850 --wait 15 -- \
        .venv/bin/python scripts/shot_upscale.py [--photos DIR]

A few photos (openly licensed, from ../shared/datasets `photos`) are reduced to about 400 pixels
in a temporary folder, so that upscaling them is quick. The panel opens that folder, upscales the
ladybird x2 with the bundled model if it is installed (else Lanczos), zooms to 300 % on the
ladybird and leaves the split line in the middle.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_PHOTOS = Path.home() / ".cache" / "ganstudio-data" / "photos"
STAGE = Path(tempfile.gettempdir()) / "ganstudio-shot" / "upscale-photos"
#: photos shown in the list (the first is upscaled) and the width they are reduced to
PHOTOS = ("LadyBird", "ColorfulCups", "FreshFlower", "TwoWings")
SHOT_WIDTH = 400
#: the ladybird, as a fraction of the photo's width and height: where the view zooms in
DETAIL = (0.70, 0.51)
ZOOM = 3.0


def stage_photos(source: Path) -> list[Path]:
    from PIL import Image

    STAGE.mkdir(parents=True, exist_ok=True)
    staged = []
    for name in PHOTOS:
        target = STAGE / f"{name.lower()}.png"
        if not target.exists():
            with Image.open(source / f"{name}.png") as im:
                im = im.convert("RGB")
                height = round(im.height * SHOT_WIDTH / im.width)
                im.resize((SHOT_WIDTH, height), Image.Resampling.LANCZOS).save(target)
        staged.append(target)
    return staged


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=Path, default=DEFAULT_PHOTOS, help="folder of the `photos` dataset")
    parser.add_argument("--best-quality", action="store_true", help="tick \"Best quality\" before upscaling")
    args = parser.parse_args()
    photos = stage_photos(args.photos)

    sys.path.insert(0, str(REPO))
    from PySide6.QtCore import QPointF
    from PySide6.QtWidgets import QApplication, QMainWindow

    from ganstudio.core.upscale import available_bundled
    from ganstudio.gui.upscale_panel import UpscalePanel

    app = QApplication(sys.argv)
    app.setOrganizationName("GanStudioScreenshots")   # keeps the user's own settings untouched
    app.setApplicationName("ganstudio")
    window = QMainWindow()
    window.setWindowTitle("GAN Studio")
    panel = UpscalePanel()
    window.setCentralWidget(panel)
    panel.status_changed.connect(window.statusBar().showMessage)
    window.resize(1300, 850)
    window.show()

    shown = photos[0]

    def select_the_ladybird(count: int) -> None:
        panel.select_input(shown)

    def upscale_when_shown(path: str) -> None:
        if Path(path) == shown and panel.preview_pixels() is None:
            panel.upscale()

    def zoom_on_detail(path: str) -> None:
        view = panel.compare_view()
        size = view.image_size()
        view.set_zoom(ZOOM)
        view.centre_on(QPointF(size.width() * DETAIL[0], size.height() * DETAIL[1]))
        view.set_split(0.5)

    panel.inputs_opened.connect(select_the_ladybird)
    panel.input_shown.connect(upscale_when_shown)
    from PySide6.QtWidgets import QCheckBox

    # the screenshot settings persist between shots: the box shows what this shot asks for
    panel.findChild(QCheckBox, "ensemble").setChecked(args.best_quality)
    panel.upscale_finished.connect(zoom_on_detail)
    panel.choose_model("bundled-x2" if "bundled-x2" in available_bundled() else "lanczos-x2")
    panel.open_paths([STAGE])
    code = app.exec()
    panel.shutdown()
    return code


if __name__ == "__main__":
    sys.exit(main())
