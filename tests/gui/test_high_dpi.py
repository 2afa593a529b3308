"""Pictures stay sharp on a high-density screen (Windows or Linux scaling at 125-200 %).

Qt fixes the scaling when the application starts, so the checks at 200 % run in a child process
with ``QT_SCALE_FACTOR=2`` (about a second; nothing there imports PyTorch). Each check draws fine
stripes, one image pixel wide, and reads the screen pixels back: drawn at the screen's own
resolution they keep full contrast; an image made for the layout's pixels and then enlarged by the
scaling shows grey, blurred stripes.
"""
from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parents[2]

_CHILD = r'''
import json
import numpy as np
from PySide6.QtCore import QPointF, QSize
from PySide6.QtWidgets import QApplication

app = QApplication([])
ratio = app.primaryScreen().devicePixelRatio()
out = {"ratio": ratio}

def stripes(height, width, channels=3):
    """Alternating black and white columns, one pixel wide."""
    row = np.where(np.arange(width) % 2 == 0, 0, 255).astype(np.uint8)
    return np.ascontiguousarray(np.broadcast_to(row[None, :, None], (height, width, channels)))

def grey_row(widget, y, x0, x1):
    """Grey levels of one row of screen pixels (device pixels) of ``widget``."""
    image = widget.grab().toImage()
    return [image.pixelColor(x, y).value() for x in range(x0, x1)]

def contrast(values):
    """The mean difference between neighbouring pixels: 255 for crisp one-pixel stripes."""
    return float(np.mean(np.abs(np.diff(np.asarray(values, dtype=float)))))

# a 16x16 sample in a 24x24 view: enlarged 3x in screen pixels (1.5x in layout units)
from ganstudio.gui.widgets.image_view import ImageView
checker = (np.indices((16, 16)).sum(axis=0) % 2 * 255).astype(np.uint8)[:, :, None].repeat(3, axis=2)
view = ImageView()
view.resize(24, 24)
view.show()
view.set_image(checker)
app.processEvents()
image = view.canvas.grab().toImage()
drawn = view.canvas.target_rect()
out["sample_size"] = [drawn.width(), drawn.height()]
out["sample_greys"] = sorted({image.pixelColor(x, y).value()
                              for x in range(round(drawn.left() * ratio), round((drawn.right() + 1) * ratio))
                              for y in range(round(drawn.top() * ratio), round((drawn.bottom() + 1) * ratio))})

# the image list: thumbnails made with the screen's pixels, drawn one to one
from ganstudio.gui.widgets.up_input_list import THUMB_SIDE, UpInputList
inputs = UpInputList()
inputs.resize(300, 200)
inputs.show()
out["thumbnail_pixels"] = inputs.thumbnail_pixels()
inputs.set_inputs([("/nowhere/stripes.png", "stripes.png")])
side = inputs.thumbnail_pixels()
opaque = np.full((side, side, 1), 255, np.uint8)
inputs.set_preview(0, np.concatenate([stripes(side, side), opaque], axis=2), (800, 800))
inputs.clearSelection()         # a selected row's icon is tinted
app.processEvents()
icon = inputs.visualItemRect(inputs.item(0))
middle = round((icon.top() + icon.height() / 2) * ratio)
left = round((icon.left() + 4) * ratio)
out["thumbnail_contrast"] = contrast(grey_row(inputs.viewport(), middle, left + 8, left + int(THUMB_SIDE * ratio) - 8))

# the before/after view, zoomed out: reduced at the screen's resolution
from ganstudio.gui.widgets.up_compare_view import UpCompareView
compare = UpCompareView()
compare.resize(200, 150)
compare.show()
picture = np.ascontiguousarray(np.repeat(stripes(100, 100), 2, axis=1))   # stripes two pixels wide
compare.set_images(picture, picture)
compare.set_zoom(0.5)           # reduced to half: one physical pixel per stripe, if reduced at the screen's resolution
app.processEvents()
centre_x, centre_y = compare.width() / 2, compare.height() / 2      # the image: 50x25 around the centre
out["reduced_contrast"] = contrast(grey_row(compare, round(centre_y * ratio), round((centre_x - 20) * ratio),
                                            round((centre_x - 5) * ratio)))
# 100 %: one output pixel per physical pixel, so one-pixel stripes keep their width on screen
picture = stripes(100, 200)
compare.set_images(picture, picture)
compare.zoom_to_actual_size()
app.processEvents()
# a row above the split line's round grip, left of the line
row = grey_row(compare, round((centre_y - 18) * ratio), round((centre_x - 40) * ratio), round((centre_x - 4) * ratio))
out["actual_size_contrast"] = contrast(row)
out["actual_size_runs"] = max(len(run) for run in "".join("b" if v < 128 else "w" for v in row).replace("bw", "b w").replace("wb", "w b").split())
out["actual_size_extent"] = [compare.map_to_image(compare.rect().center().toPointF() + QPointF(10, 0)).x()
                             - compare.map_to_image(compare.rect().center().toPointF()).x()]
compare.fit_to_window()
out["fit_zoom"] = [compare.zoom(), compare.width(), compare.height()]

# the splash shown while PyTorch loads
from ganstudio.gui.app import _splash
splash = _splash().pixmap()
out["splash"] = [splash.width(), splash.height(), splash.devicePixelRatio()]
print(json.dumps(out))
'''


def run_scaled(factor: float) -> dict:
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", QT_SCALE_FACTOR=str(factor),
               PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])))
    done = subprocess.run([sys.executable, "-c", _CHILD], env=env, cwd=REPO, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_pictures_are_drawn_with_the_screens_own_pixels_at_200_percent():
    out = run_scaled(2)
    assert out["ratio"] == 2
    assert out["sample_greys"] == [0, 255]            # a sample's pixels stay square, no blur
    assert out["thumbnail_pixels"] == 80
    assert out["thumbnail_contrast"] > 200
    # halved at the screen's resolution the two-pixel stripes stay stripes (Qt's smooth filter softens
    # them a little); halved in layout units and enlarged by the scaling they would all be grey (~0)
    assert out["reduced_contrast"] > 100
    assert out["actual_size_contrast"] > 200 and out["actual_size_runs"] == 1   # no stripe doubled in width
    assert out["actual_size_extent"] == [20.0]        # 10 layout units are 20 output pixels at 100 %
    # fitted, a small image is enlarged by a whole number of physical pixels (not layout units)
    zoom, width, height = out["fit_zoom"]
    assert zoom == math.floor(2 * min((width - 24) / 200, (height - 24) / 100))
    assert zoom == 2.0                                # 200x100 in the view's 240x180 minimum: 1.08 units, 2.16 pixels
    assert out["splash"] == [840, 360, 2]              # 420x180 on screen, with every screen pixel


def test_thumbnails_are_made_with_the_pixels_asked_for(tmp_path):
    from ganstudio.gui.image_panel import list_inputs
    from ganstudio.gui.jobs import JobContext

    Image.fromarray(np.zeros((300, 400, 3), np.uint8)).save(tmp_path / "wide.png")
    messages = []
    ctx = JobContext(progress=lambda *_: None, should_stop=lambda: False, emit=messages.append)
    assert list_inputs([tmp_path], ctx, thumbnail_side=80) == 1
    (_row, thumbnail, size, problem), = messages[-1][1]
    assert problem is None and size == (400, 300)
    assert thumbnail.shape[:2] == (60, 80)
