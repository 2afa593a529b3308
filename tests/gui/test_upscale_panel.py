"""The Upscale panel, driven as a user drives it: open, upscale, compare, export, batch, cancel, bad
model files; and its before/after view: split line, zoom, pan."""
from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import QEvent, QPoint, QPointF, Qt
from PySide6.QtGui import QMouseEvent, QWheelEvent
from PySide6.QtWidgets import (QAbstractButton, QApplication, QFileDialog, QLabel, QListWidget,
                               QProgressBar)

from ganstudio.core.export import read_png_metadata
from ganstudio.gui.upscale_panel import UpscalePanel
from ganstudio.gui.widgets.up_compare_view import UpCompareView
from ganstudio.gui.widgets.up_input_list import UpInputList
from tests.gui.conftest import drop

#: generous: the machine is shared, and the first job may still be importing modules
WAIT_MS = 30_000


@pytest.fixture
def panel(qtbot, isolated_settings, error_boxes):
    """A shown panel with its own settings; its background threads are stopped and joined after."""
    widget = UpscalePanel(device="cpu")
    qtbot.addWidget(widget)
    widget.resize(1100, 700)
    widget.show()
    qtbot.waitUntil(lambda: widget.upscaler() is not None, timeout=WAIT_MS)
    yield widget
    assert widget.shutdown(WAIT_MS), f"a background thread did not stop: {widget.busy_report()}"
    assert not widget.is_busy(), f"still busy after shutdown: {widget.busy_report()}"


def rgba_png(path: Path, size=(24, 20), seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, 256, (size[1], size[0], 4), dtype=np.uint8)
    pixels[:, : size[0] // 2, 3] = 0      # the left half fully transparent
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels, "RGBA").save(path)
    return path


def click(qtbot, panel, name: str) -> None:
    button = panel.findChild(QAbstractButton, name)
    assert button is not None, f"no button {name!r}"
    assert button.isEnabled(), f"{name} is disabled"
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)


def choose(qtbot, panel, key: str) -> None:
    if panel.upscaler() is not None and panel.model_key() == key and "Loading" not in details(panel):
        return
    with qtbot.waitSignal(panel.model_loaded, timeout=WAIT_MS):
        panel.choose_model(key)


def details(panel) -> str:
    return panel.findChild(QLabel, "modelDetails").text()


def open_and_show(qtbot, panel, paths) -> None:
    with qtbot.waitSignals([panel.inputs_opened, panel.input_shown], timeout=WAIT_MS, order="strict"):
        panel.open_paths(paths)


def test_open_upscale_compare_and_export_keeps_alpha(qtbot, panel, tmp_path, monkeypatch):
    source = rgba_png(tmp_path / "in" / "sprite.png")
    open_and_show(qtbot, panel, [source])
    assert panel.inputs() == [source]
    choose(qtbot, panel, "bicubic-x2")
    view = panel.compare_view()
    assert view.has_before() and not view.has_after()

    panel.activateWindow()
    panel.setFocus()
    with qtbot.waitSignal(panel.upscale_finished, timeout=WAIT_MS):
        qtbot.keyClick(panel, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)   # Ctrl+Return
    assert view.has_before() and view.has_after()
    assert (view.image_size().width(), view.image_size().height()) == (48, 40)
    result = panel.preview_pixels()
    assert result.shape == (40, 48, 4)
    assert (result[:, :20, 3] == 0).all()       # the transparent half stays transparent

    target = tmp_path / "out" / "sprite-x2.png"
    with qtbot.waitSignal(panel.exported, timeout=WAIT_MS) as saved:
        panel.export_png(target)
    assert saved.args == [str(target)]
    with Image.open(target) as im:
        assert im.mode == "RGBA" and im.size == (48, 40)
        np.testing.assert_array_equal(np.asarray(im), result)
    meta = read_png_metadata(target)
    assert meta["model"] == "bicubic" and meta["scale"] == "2" and meta["source"] == "sprite.png"
    assert meta["kind"] == "upscale" and "app" in meta

    # a path given by code never replaces a file; the dialog's choice (which confirms) may
    with qtbot.waitSignal(panel.exported, timeout=WAIT_MS) as again:
        panel.export_png(target)
    assert again.args == [str(target.with_name("sprite-x2-1.png"))]
    chosen = tmp_path / "out" / "chosen.png"
    chosen.write_bytes(b"old")
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(chosen), "PNG images (*.png)"))
    with qtbot.waitSignal(panel.exported, timeout=WAIT_MS):
        click(qtbot, panel, "export")
    with Image.open(chosen) as im:
        assert im.size == (48, 40)


def test_batch_mirrors_folders_and_lists_a_broken_file(qtbot, panel, tmp_path, error_boxes):
    album = tmp_path / "album"
    rgba_png(album / "a.png")
    rgba_png(album / "sub" / "b.png", size=(16, 12), seed=1)
    (album / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n this is not really a PNG")
    choose(qtbot, panel, "bicubic-x2")
    with qtbot.waitSignal(panel.inputs_opened, timeout=WAIT_MS) as opened:
        assert drop(panel, album)
    assert opened.args == [3]
    listed = panel.findChild(UpInputList, "inputs")
    broken_row = panel.inputs().index(album / "broken.png")
    qtbot.waitUntil(lambda: listed.problem(broken_row) is not None, timeout=WAIT_MS)

    out = tmp_path / "out"
    with qtbot.waitSignal(panel.batch_finished, timeout=WAIT_MS) as finished:
        panel.run_batch(out, existing="skip")
    result = finished.args[0]
    assert sorted(p.relative_to(out).as_posix() for p in result.written) == ["a.png", "sub/b.png"]
    with Image.open(out / "sub" / "b.png") as im:
        assert im.size == (32, 24)
    assert [p.name for p, _ in result.failed] == ["broken.png"] and not result.cancelled
    problems = panel.findChild(QListWidget, "batchProblems")
    assert problems.isVisible() and problems.count() == 1 and "broken.png" in problems.item(0).text()
    assert any("could not be upscaled" in text and "broken.png" in more for text, more in error_boxes)

    with qtbot.waitSignal(panel.batch_finished, timeout=WAIT_MS) as again:
        panel.run_batch(out, existing="skip")
    assert len(again.args[0].skipped_existing) == 2 and not again.args[0].written


def test_a_batch_lists_the_files_it_converted_on_reading(qtbot, panel, tmp_path):
    folder = tmp_path / "gifs"
    folder.mkdir()
    frames = [Image.new("RGB", (8, 6), (80 * i, 0, 0)) for i in range(3)]
    frames[0].save(folder / "moving.gif", save_all=True, append_images=frames[1:])
    rgba_png(folder / "still.png", seed=2)
    choose(qtbot, panel, "bicubic-x2")
    open_and_show(qtbot, panel, [folder])
    with qtbot.waitSignal(panel.batch_finished, timeout=WAIT_MS) as finished:
        panel.run_batch(tmp_path / "out")
    assert len(finished.args[0].written) == 2 and not finished.args[0].failed
    problems = panel.findChild(QListWidget, "batchProblems")
    assert problems.isVisible() and problems.count() == 1
    assert problems.item(0).text() == "moving.gif: animated: the first of its 3 frames is used"
    summary = panel.findChild(QLabel, "batchSummary")
    assert "2 written" in summary.text() and "1 was converted on reading" in summary.text()


def test_cancel_stops_a_batch_midway(qtbot, panel, tmp_path, monkeypatch):
    from ganstudio.core.upscale import batch

    folder = tmp_path / "many"
    for i in range(5):
        rgba_png(folder / f"{i}.png", seed=i)
    choose(qtbot, panel, "bicubic-x2")
    open_and_show(qtbot, panel, [folder])

    # The second file waits until the test has pressed Cancel: the cancel lands at a known point.
    gate, calls, original = threading.Event(), [], batch.upscale_file

    def gated(*args, **kwargs):
        calls.append(args[0])
        if len(calls) == 2:
            gate.wait(WAIT_MS / 1000)
        return original(*args, **kwargs)

    monkeypatch.setattr(batch, "upscale_file", gated)
    progressed = []
    panel.batch_progressed.connect(lambda done, total: progressed.append((done, total)))
    out = tmp_path / "out"
    with qtbot.waitSignal(panel.batch_progressed, timeout=WAIT_MS,
                          check_params_cb=lambda done, total: done == 1):
        panel.run_batch(out)
    try:
        bar = panel.findChild(QProgressBar, "progress")
        assert bar.isVisible() and "2 of 5 · 1.png" in bar.format()     # which file, and the ETA after it
        click(qtbot, panel, "cancel")
    finally:
        gate.set()
    with qtbot.waitSignal(panel.batch_finished, timeout=WAIT_MS) as finished:
        pass
    result = finished.args[0]
    # the file in progress when Cancel was pressed (a resampling baseline has no tiles to stop
    # between) is finished; no further file is started
    assert result.cancelled and len(result.written) == 2 and len(calls) == 2
    assert sorted(p.name for p in out.iterdir()) == ["0.png", "1.png"]
    assert progressed[0] == (0, 5)
    assert not panel.findChild(QAbstractButton, "cancel").isEnabled()


def test_corrupt_model_file_gets_a_clear_message_and_tiny_model_is_described(qtbot, panel, tmp_path,
                                                                            error_boxes):
    import torch

    from ganstudio.core.upscale.community import save_upscaler
    from ganstudio.core.upscale.models import build_sr_model

    choose(qtbot, panel, "lanczos-x4")
    whole = tmp_path / "whole.pth"
    torch.save(build_sr_model("compact", 4, features=8, blocks=1).state_dict(), whole)
    bad = tmp_path / "4x-Broken.pth"        # a download cut off halfway
    bad.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    with qtbot.waitSignal(panel.error_shown, timeout=WAIT_MS):
        panel.choose_model(bad)
    text, _ = error_boxes[-1]
    assert "4x-Broken.pth" in text and "not a readable model file" in text
    assert panel.model_key() == "lanczos-x4" and panel.upscaler().name == "lanczos"
    assert str(bad) not in panel.model_keys()

    tiny = save_upscaler(build_sr_model("compact", 2, features=8, blocks=1), tmp_path / "mine.safetensors",
                         {"eval_psnr": 31.0, "eval_psnr_bicubic": 30.0, "eval_crops": 8})
    choose(qtbot, panel, str(tiny))
    assert "compact x2" in details(panel) and "parameters" in details(panel)
    assert "+1.00 dB over bicubic on 8 held-out crops" in details(panel)     # what the file measured
    assert str(tiny) in panel.model_keys()

    # the next session offers the same model first, and remembers the file among the recent ones
    again = UpscalePanel(device="cpu")
    qtbot.addWidget(again)
    try:
        assert again.model_key() == str(tiny) and str(bad) not in again.model_keys()
        qtbot.waitUntil(lambda: again.upscaler() is not None, timeout=WAIT_MS)
        assert again.upscaler().arch == "compact"
    finally:
        assert again.shutdown(WAIT_MS)


def test_best_quality_runs_the_ensemble_and_says_so(qtbot, panel, tmp_path):
    from PySide6.QtWidgets import QCheckBox

    from ganstudio.core.upscale.community import save_upscaler
    from ganstudio.core.upscale.models import build_sr_model

    model = save_upscaler(build_sr_model("compact", 2, features=8, blocks=1), tmp_path / "mine.safetensors")
    choose(qtbot, panel, str(model))
    source = tmp_path / "in" / "photo.png"
    source.parent.mkdir()
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (14, 18, 3), np.uint8)).save(source)
    open_and_show(qtbot, panel, [source])
    with qtbot.waitSignal(panel.upscale_finished, timeout=WAIT_MS):
        click(qtbot, panel, "upscale")
    plain = panel.preview_pixels().copy()

    best = panel.findChild(QCheckBox, "ensemble")
    assert not best.isChecked() and "8" in best.text()
    qtbot.mouseClick(best, Qt.MouseButton.LeftButton)
    assert best.isChecked()
    # the result on screen was made without it: it is no longer offered as the current one
    assert panel.preview_pixels() is None and not panel.findChild(QAbstractButton, "export").isEnabled()
    with qtbot.waitSignal(panel.upscale_finished, timeout=WAIT_MS):
        click(qtbot, panel, "upscale")
    assert panel.inference_settings().ensemble
    assert not np.array_equal(panel.preview_pixels(), plain)
    assert "best quality" in panel.compare_view().labels()[1]
    target = tmp_path / "out.png"
    with qtbot.waitSignal(panel.exported, timeout=WAIT_MS):
        panel.export_png(target)
    assert read_png_metadata(target)["ensemble"].startswith("8 ")

    # remembered for the next session; plain resampling ignores it
    again = UpscalePanel(device="cpu")
    qtbot.addWidget(again)
    try:
        assert again.findChild(QCheckBox, "ensemble").isChecked()
    finally:
        assert again.shutdown(WAIT_MS)
    choose(qtbot, panel, "bicubic-x2")
    assert not panel.inference_settings().ensemble


def press(widget, kind, pos, buttons=Qt.MouseButton.LeftButton) -> None:
    button = Qt.MouseButton.NoButton if kind == QEvent.Type.MouseMove else Qt.MouseButton.LeftButton
    event = QMouseEvent(kind, QPointF(*pos), QPointF(widget.mapToGlobal(QPoint(*pos))), button, buttons,
                        Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(widget, event)


def test_compare_view_split_drag_zoom_and_pan(qtbot):
    view = UpCompareView()
    qtbot.addWidget(view)
    view.resize(300, 200)
    view.show()
    rng = np.random.default_rng(0)
    before = rng.integers(0, 256, (150, 200, 3), dtype=np.uint8)
    after = rng.integers(0, 256, (300, 400, 3), dtype=np.uint8)
    view.set_images(before, after)
    assert view.is_fitted() and view.zoom() < 1 and view.smooth_transform()

    x = view.split_x()
    press(view, QEvent.Type.MouseButtonPress, (x, 100))
    press(view, QEvent.Type.MouseMove, (60, 100))
    press(view, QEvent.Type.MouseButtonRelease, (60, 100), Qt.MouseButton.NoButton)
    assert view.split() == pytest.approx(60 / 300)

    anchor = QPointF(200, 80)
    fixed = view.map_to_image(anchor)
    for _ in range(8):
        wheel = QWheelEvent(anchor, QPointF(view.mapToGlobal(anchor.toPoint())), QPoint(0, 0),
                            QPoint(0, 120), Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier,
                            Qt.ScrollPhase.NoScrollPhase, False)
        QApplication.sendEvent(view, wheel)
    assert view.zoom() > 2 and not view.smooth_transform()      # nearest neighbour: pixels can be judged
    moved = view.map_to_image(anchor)
    assert (moved.x(), moved.y()) == pytest.approx((fixed.x(), fixed.y()), abs=0.01)

    centre = view.centre()
    press(view, QEvent.Type.MouseButtonPress, (200, 150))
    press(view, QEvent.Type.MouseMove, (230, 140))
    press(view, QEvent.Type.MouseButtonRelease, (230, 140), Qt.MouseButton.NoButton)
    assert view.centre() != centre and view.split() == pytest.approx(60 / 300)   # panned, line unmoved

    qtbot.mouseClick(view.findChild(QAbstractButton, "actualSize"), Qt.MouseButton.LeftButton)
    assert view.zoom() == 1.0 and not view.smooth_transform()
    qtbot.mouseClick(view.findChild(QAbstractButton, "fit"), Qt.MouseButton.LeftButton)
    assert view.is_fitted() and view.zoom() == pytest.approx(min(276 / 400, 176 / 300))
    assert not view.grab().isNull()


def test_upscale_asked_for_while_the_model_loads_runs_once_it_is_ready(qtbot, panel, tmp_path):
    image = rgba_png(tmp_path / "a.png")
    open_and_show(qtbot, panel, [image])
    with qtbot.waitSignal(panel.upscale_finished, timeout=WAIT_MS):
        panel.choose_model("lanczos-x4")   # starts loading in the background...
        panel.upscale()                     # ...and the user presses Upscale at once
    assert panel.model_key() == "lanczos-x4"
    assert panel.preview_pixels().shape[:2] == (80, 96)


def test_upscale_is_off_for_an_image_that_cannot_be_read_and_while_one_runs(qtbot, panel, tmp_path):
    from PySide6.QtWidgets import QAbstractButton

    good = rgba_png(tmp_path / "good.png")
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n not really a PNG")
    choose(qtbot, panel, "bicubic-x2")
    button = panel.findChild(QAbstractButton, "upscale")
    with qtbot.waitSignal(panel.inputs_opened, timeout=WAIT_MS):
        panel.open_paths([broken, good])
    listed = panel.findChild(UpInputList, "inputs")
    listed.setCurrentRow(panel.inputs().index(broken))
    qtbot.waitUntil(lambda: not button.isEnabled(), timeout=WAIT_MS)     # nothing to upscale
    with qtbot.waitSignal(panel.input_shown, timeout=WAIT_MS):
        listed.setCurrentRow(panel.inputs().index(good))
    assert button.isEnabled()
    with qtbot.waitSignal(panel.upscale_finished, timeout=WAIT_MS):
        click(qtbot, panel, "upscale")
        assert not button.isEnabled()                                   # no second run of the same
    qtbot.waitUntil(button.isEnabled, timeout=WAIT_MS)
