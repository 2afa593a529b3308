"""The panels on a 1366x768 laptop: every control of the side columns reachable without scrolling
where it fits, the image lists and the list of earlier runs several rows tall."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from PySide6.QtWidgets import QAbstractButton, QLabel, QListWidget, QScrollArea, QWidget

from ganstudio.core.resources import resources_dir

from .conftest import LAPTOP_PANEL, WAIT_MS

#: a panel's share of a maximised window on a 1366x768 screen: less a task bar, the title bar, the
#: menu bar, the tabs and the status bar (the window's own first size there is 1297x729)


def images(folder: Path, n: int, size=(64, 48)) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for i in range(n):
        Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8), "RGB").save(folder / f"im{i:02d}.png")
    return folder


def side_column(panel: QWidget) -> QScrollArea:
    return panel.findChild(QScrollArea)


def fully_visible(widget: QWidget) -> bool:
    """Shown and not clipped by the scrolling column around it."""
    return widget.isVisible() and widget.visibleRegion().boundingRect() == widget.rect()


def rows_shown(view: QListWidget) -> int:
    return view.viewport().height() // view.visualItemRect(view.item(0)).height()


def test_upscale_column_fits_a_laptop_with_a_tall_image_list(qtbot, laptop_panel, tmp_path):
    from ganstudio.gui.upscale_panel import UpscalePanel

    panel = laptop_panel(UpscalePanel)
    qtbot.waitUntil(lambda: panel.upscaler() is not None, timeout=WAIT_MS)
    with qtbot.waitSignal(panel.inputs_opened, timeout=WAIT_MS):
        panel.open_paths([images(tmp_path / "in", 12)])
    column = side_column(panel)
    batch = panel.findChild(QAbstractButton, "batch")
    qtbot.waitUntil(lambda: fully_visible(batch), timeout=WAIT_MS)
    assert column.verticalScrollBar().maximum() == 0        # nothing below the fold
    assert rows_shown(panel.findChild(QListWidget, "inputs")) >= 5
    # what a batch does is said by its tooltip until one has run; then the outcome shows there
    assert panel.batch_summary() == "" and "mirrored" in batch.toolTip()
    with qtbot.waitSignal(panel.model_loaded, timeout=WAIT_MS):
        panel.choose_model("bicubic-x2")         # quick
    with qtbot.waitSignal(panel.batch_finished, timeout=WAIT_MS):
        panel.run_batch(tmp_path / "out")
    assert "12 written" in panel.batch_summary()
    assert panel.findChild(QLabel, "batchSummary").isVisible()


def test_translate_column_with_the_demo_model_fits_a_laptop(qtbot, laptop_panel):
    from ganstudio.gui.translate_panel import TranslatePanel

    demo = resources_dir() / "translate-demo"
    if not (demo / "model.safetensors").is_file():
        pytest.skip("the demo translator is not installed")
    panel = laptop_panel(TranslatePanel)
    qtbot.waitUntil(lambda: panel.model() is not None, timeout=WAIT_MS)      # the demo, opened at start
    assert "pix2pix" in panel.model_details() and "Model card" in panel.model_details()
    with qtbot.waitSignal(panel.inputs_opened, timeout=WAIT_MS):
        panel.open_paths([demo / "A_sans"])
    batch = panel.findChild(QAbstractButton, "batch")
    qtbot.waitUntil(lambda: fully_visible(batch), timeout=WAIT_MS)
    assert side_column(panel).verticalScrollBar().maximum() == 0
    assert rows_shown(panel.findChild(QListWidget, "inputs")) >= 3


def test_a_too_short_column_scrolls_instead_of_squeezing_the_list(qtbot, laptop_panel, tmp_path):
    from ganstudio.gui.upscale_panel import UpscalePanel

    panel = laptop_panel(UpscalePanel)
    with qtbot.waitSignal(panel.inputs_opened, timeout=WAIT_MS):
        panel.open_paths([images(tmp_path / "in", 12)])
    panel.resize(LAPTOP_PANEL[0], 420)
    column = side_column(panel)
    qtbot.waitUntil(lambda: column.verticalScrollBar().maximum() > 0, timeout=WAIT_MS)
    assert rows_shown(panel.findChild(QListWidget, "inputs")) >= 3
    column.ensureWidgetVisible(panel.findChild(QAbstractButton, "batch"))
    qtbot.waitUntil(lambda: fully_visible(panel.findChild(QAbstractButton, "batch")), timeout=WAIT_MS)


def fake_runs(folder: Path, n: int) -> None:
    """``n`` run folders as the runs list reads them (a config and a checkpoint name)."""
    for i in range(n):
        run = folder / f"run{i}-dcgan-32-2026010{i}-101010"
        (run / "checkpoints").mkdir(parents=True)
        (run / "config.json").write_text(json.dumps({"config": {"task": "gan", "steps": 100},
                                                     "options": {"preset": "dcgan-32"}}))
        (run / "checkpoints" / "step-00000100.safetensors").write_bytes(b"")


def test_train_panel_shows_five_earlier_runs_on_a_laptop(qtbot, make_panel, prefs, tiny_folder):
    fake_runs(prefs.resolved_runs_dir(), 7)
    panel = make_panel(tiny_folder)
    panel.resize(*LAPTOP_PANEL)
    tree = panel.runs_list.tree
    qtbot.waitUntil(lambda: tree.topLevelItemCount() == 7, timeout=WAIT_MS)
    qtbot.waitUntil(lambda: tree.viewport().height() < 500, timeout=WAIT_MS)    # laid out at the new size
    fifth = tree.visualItemRect(tree.topLevelItem(4))
    assert fifth.height() > 0 and fifth.bottom() <= tree.viewport().height()
    log_width, runs_width = panel.bottom_splitter.sizes()
    assert runs_width > log_width          # the runs' long names get the wider half
