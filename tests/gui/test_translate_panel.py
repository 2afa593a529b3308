"""The Translate panel, driven as a user drives it: open a model and images, translate at full size,
compare side by side and split, export with provenance, batch a folder, cancel, bad model files,
the bundled demo; and the side-by-side view's shared zoom and pan."""
from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QWheelEvent
from PySide6.QtWidgets import QAbstractButton, QApplication, QLabel, QListWidget, QProgressBar, QRadioButton

from ganstudio.core.export import file_sha256, read_png_metadata
from ganstudio.core.translate.inference import save_translator, translator_from_generators
from ganstudio.core.translate.models import ResnetGenerator, UNetGenerator
from ganstudio.gui import translate_panel
from ganstudio.gui.translate_panel import TranslatePanel
from ganstudio.gui.widgets.tr_side_by_side import TrSideBySideView
# the Upscale panel's tests drive a panel the same way: clicks by button name, drops, opening images
from tests.gui.conftest import drop
from tests.gui.test_upscale_panel import click, open_and_show

#: generous: the machine is shared, and the first job may still be importing torch
WAIT_MS = 30_000


def tiny_model(path: Path, *, cycle: bool = False) -> Path:
    """A random-init pix2pix (U-Net) or CycleGAN (two ResNets) translator file, a few k parameters."""
    import torch

    torch.manual_seed(0)
    info = {"kind": "translate", "mode": "unpaired" if cycle else "paired", "crop_size": 32,
            "domains": {"A": "sans", "B": "kai"}, "channels": {"A": 3, "B": 3}}
    if cycle:
        generators = {d: ResnetGenerator(3, 3, ngf=4, n_blocks=1) for d in ("AtoB", "BtoA")}
    else:
        generators = {"AtoB": UNetGenerator(3, 3, ngf=4, depth=3)}
    path.parent.mkdir(parents=True, exist_ok=True)
    return save_translator(translator_from_generators(generators, info), path)


def png(path: Path, size=(37, 53), seed: int = 0) -> Path:
    """A random RGB image of ``size`` (width, height)."""
    rng = np.random.default_rng(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8), "RGB").save(path)
    return path


@pytest.fixture
def no_demo(tmp_path, monkeypatch):
    """Resources without the demo translator (a test may put one there)."""
    resources = tmp_path / "resources"
    resources.mkdir()
    monkeypatch.setenv("GANSTUDIO_RESOURCES", str(resources))
    return resources


@pytest.fixture
def make_panel(qtbot, isolated_settings, error_boxes, no_demo):
    """Shown panels with their own settings; their background threads are stopped and joined after."""
    made = []

    def make() -> TranslatePanel:
        panel = TranslatePanel(device="cpu")
        qtbot.addWidget(panel)
        panel.resize(1100, 700)
        panel.show()
        made.append(panel)
        return panel

    yield make
    for panel in made:
        assert panel.shutdown(WAIT_MS), f"a background thread did not stop: {panel.busy_report()}"
        assert not panel.is_busy(), f"still busy after shutdown: {panel.busy_report()}"


def open_model(qtbot, panel, path: Path) -> None:
    with qtbot.waitSignal(panel.model_loaded, timeout=WAIT_MS):
        panel.open_model(path)


def test_translate_an_odd_sized_image_compare_and_export_with_provenance(qtbot, make_panel, tmp_path):
    model_file = tiny_model(tmp_path / "models" / "glyphs.safetensors")
    panel = make_panel()
    with qtbot.waitSignal(panel.model_loaded, timeout=WAIT_MS):
        assert drop(panel, model_file)
    assert "pix2pix" in panel.model_details()
    forward = panel.findChild(QRadioButton, "directionAtoB").text()
    assert "sans" in forward and "kai" in forward           # the domains, named where the direction is chosen
    assert not panel.findChild(QRadioButton, "directionBtoA").isEnabled()     # pix2pix goes one way

    source = png(tmp_path / "in" / "odd.png", size=(37, 53))
    open_and_show(qtbot, panel, [source])
    panel.activateWindow()
    panel.setFocus()
    with qtbot.waitSignal(panel.translation_finished, timeout=WAIT_MS):
        qtbot.keyClick(panel, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)   # Ctrl+Return
    result = panel.output_pixels()
    assert result.shape == (53, 37, 3) and result.dtype == np.uint8
    # side by side: input and output, each the image's full size, at the same zoom
    inputs, outputs = panel.side_by_side_view().panes()
    assert panel.side_by_side_view().isVisible()
    assert inputs.image_size() == outputs.image_size() and inputs.image_size().width() == 37
    assert inputs.zoom() == outputs.zoom()
    click(qtbot, panel, "splitMode")
    split = panel.compare_view()
    assert split.isVisible() and split.has_before() and split.has_after()
    assert (split.image_size().width(), split.image_size().height()) == (37, 53)

    target = tmp_path / "out" / "odd-kai.png"
    with qtbot.waitSignal(panel.exported, timeout=WAIT_MS) as saved:
        panel.export_png(target)
    assert saved.args == [str(target)]
    with Image.open(target) as im:
        assert im.size == (37, 53)
        np.testing.assert_array_equal(np.asarray(im.convert("RGB")), result)
    meta = read_png_metadata(target)
    assert meta["model_sha256"] == file_sha256(model_file) and meta["model"] == "glyphs"
    assert meta["direction"] == "AtoB" and meta["source"] == "odd.png" and meta["kind"] == "translate"
    with qtbot.waitSignal(panel.exported, timeout=WAIT_MS) as again:      # never replaces a file unasked
        panel.export_png(target)
    assert again.args == [str(target.with_name("odd-kai-1.png"))]


def test_best_quality_translates_nine_times_and_says_so(qtbot, make_panel, tmp_path):
    from PySide6.QtWidgets import QCheckBox

    model_file = tiny_model(tmp_path / "models" / "glyphs.safetensors")
    panel = make_panel()
    open_model(qtbot, panel, model_file)
    source = png(tmp_path / "in" / "g.png", size=(30, 26))
    open_and_show(qtbot, panel, [source])
    with qtbot.waitSignal(panel.translation_finished, timeout=WAIT_MS):
        click(qtbot, panel, "translate")
    plain = panel.output_pixels().copy()
    best = panel.findChild(QCheckBox, "ensemble")
    assert "9" in best.text() and not best.isChecked()
    qtbot.mouseClick(best, Qt.MouseButton.LeftButton)
    assert panel.output_pixels() is None          # the result shown was made the other way
    with qtbot.waitSignal(panel.translation_finished, timeout=WAIT_MS):
        click(qtbot, panel, "translate")
    assert panel.output_pixels().shape == plain.shape and not np.array_equal(panel.output_pixels(), plain)
    assert "best quality" in panel.side_by_side_view().panes()[1].labels()[0]
    target = tmp_path / "best.png"
    with qtbot.waitSignal(panel.exported, timeout=WAIT_MS):
        panel.export_png(target)
    assert read_png_metadata(target)["ensemble"].startswith("9 ")
    again = make_panel()                          # remembered for the next session
    assert again.findChild(QCheckBox, "ensemble").isChecked()


def test_cyclegan_translates_back_and_the_next_session_reopens_it(qtbot, make_panel, tmp_path):
    model_file = tiny_model(tmp_path / "cycle.safetensors", cycle=True)
    panel = make_panel()
    source = png(tmp_path / "in" / "wide.png", size=(64, 40))
    open_and_show(qtbot, panel, [source])
    with qtbot.waitSignals([panel.model_loaded, panel.translation_finished], timeout=WAIT_MS, order="strict"):
        panel.open_model(model_file)
        panel.translate()         # while the model loads: done as soon as it is ready
    assert "CycleGAN" in panel.findChild(QLabel, "modelDetails").text()
    back = panel.findChild(QRadioButton, "directionBtoA")
    assert back.isEnabled()
    qtbot.mouseClick(back, Qt.MouseButton.LeftButton)
    assert panel.direction() == "BtoA" and panel.output_pixels() is None     # the A->B result is not shown
    with qtbot.waitSignal(panel.translation_finished, timeout=WAIT_MS):
        click(qtbot, panel, "translate")
    assert panel.output_pixels().shape == (40, 64, 3)
    with qtbot.waitSignal(panel.exported, timeout=WAIT_MS) as saved:
        panel.export_png(tmp_path / "back.png")
    assert read_png_metadata(saved.args[0])["direction"] == "BtoA"

    again = make_panel()      # remembers the model and the direction
    qtbot.waitUntil(lambda: again.model() is not None, timeout=WAIT_MS)
    assert again.model().path == model_file and again.direction() == "BtoA"


def test_batch_mirrors_folders_and_lists_a_broken_file(qtbot, make_panel, tmp_path, error_boxes):
    album = tmp_path / "album"
    png(album / "a.png", size=(40, 24))
    png(album / "sub" / "b.png", size=(19, 33), seed=1)
    (album / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n this is not really a PNG")
    panel = make_panel()
    open_model(qtbot, panel, tiny_model(tmp_path / "m.safetensors"))
    with qtbot.waitSignal(panel.inputs_opened, timeout=WAIT_MS) as opened:
        assert drop(panel, album)
    assert opened.args == [3]

    out = tmp_path / "out"
    with qtbot.waitSignal(panel.batch_finished, timeout=WAIT_MS) as finished:
        panel.run_batch(out, existing="skip")
    result = finished.args[0]
    assert sorted(p.relative_to(out).as_posix() for p in result.written) == ["a.png", "sub/b.png"]
    with Image.open(out / "sub" / "b.png") as im:
        assert im.size == (19, 33)
    assert read_png_metadata(out / "a.png")["direction"] == "AtoB"
    assert [p.name for p, _ in result.failed] == ["broken.png"] and not result.cancelled
    problems = panel.findChild(QListWidget, "batchProblems")
    assert problems.isVisible() and problems.count() == 1 and "broken.png" in problems.item(0).text()
    assert any("could not be translated" in text and "broken.png" in more for text, more in error_boxes)

    with qtbot.waitSignal(panel.batch_finished, timeout=WAIT_MS) as again:
        panel.run_batch(out, existing="skip")
    assert len(again.args[0].skipped_existing) == 2 and not again.args[0].written


def test_cancel_stops_a_tiled_translation(qtbot, make_panel, tmp_path, monkeypatch):
    panel = make_panel()
    open_model(qtbot, panel, tiny_model(tmp_path / "m.safetensors"))
    open_and_show(qtbot, panel, [png(tmp_path / "big.png", size=(128, 96))])
    panel.set_tile(32)      # 16 tiles at least

    # the translation waits after its first tile until the test has pressed Cancel
    gate, original = threading.Event(), translate_panel.translate_array

    def gated(*args, progress=None, **kwargs):
        def on_tile(done, total):
            progress(done, total)
            gate.wait(WAIT_MS / 1000)
        return original(*args, progress=on_tile, **kwargs)

    monkeypatch.setattr(translate_panel, "translate_array", gated)
    statuses = []
    panel.status_changed.connect(statuses.append)
    try:
        panel.translate()
        bar = panel.findChild(QProgressBar, "progress")
        qtbot.waitUntil(lambda: "Tile 1 of" in bar.format(), timeout=WAIT_MS)
        click(qtbot, panel, "cancel")
    finally:
        gate.set()
    qtbot.waitUntil(lambda: not panel.is_busy(), timeout=WAIT_MS)
    assert panel.output_pixels() is None and "Translation was cancelled." in statuses
    assert not panel.findChild(QAbstractButton, "cancel").isEnabled()

    gate.set()      # uninterrupted, the tiles add up to the whole image
    with qtbot.waitSignal(panel.translation_finished, timeout=WAIT_MS):
        panel.translate()
    assert panel.output_pixels().shape == (96, 128, 3)


def test_corrupt_model_file_gets_a_clear_message_and_the_model_stays(qtbot, make_panel, tmp_path,
                                                                     error_boxes):
    good = tiny_model(tmp_path / "good.safetensors")
    panel = make_panel()
    open_model(qtbot, panel, good)
    bad = tmp_path / "cut-off.safetensors"          # a download cut off halfway
    bad.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with qtbot.waitSignal(panel.error_shown, timeout=WAIT_MS):
        panel.open_model(bad)
    text, _ = error_boxes[-1]
    assert "cut-off.safetensors" in text and "Could not open the model" in text
    assert panel.model().path == good and bad not in panel.recent_models()


def test_demo_model_opens_on_first_start_with_its_example_images(qtbot, make_panel, no_demo, tmp_path):
    demo = no_demo / "translate-demo"
    tiny_model(demo / "model.safetensors")
    for i in range(2):
        png(demo / "A_sans" / f"{i}.png", size=(32, 32), seed=i)
    panel = make_panel()
    qtbot.waitUntil(lambda: panel.model() is not None, timeout=WAIT_MS)
    assert panel.model().path == demo / "model.safetensors"
    with qtbot.waitSignal(panel.inputs_opened, timeout=WAIT_MS) as opened:
        click(qtbot, panel, "openExamples")
    assert opened.args == [2]


def test_side_by_side_panes_zoom_and_pan_together(qtbot):
    view = TrSideBySideView()
    qtbot.addWidget(view)
    view.resize(600, 300)
    view.show()
    rng = np.random.default_rng(0)
    source = rng.integers(0, 256, (120, 100, 3), dtype=np.uint8)
    view.set_images(source, 255 - source)
    inputs, outputs = view.panes()
    assert not view.is_vertical() and inputs.is_fitted() and outputs.is_fitted()

    anchor = QPointF(40, 60)
    for _ in range(4):
        wheel = QWheelEvent(anchor, QPointF(inputs.mapToGlobal(anchor.toPoint())), QPoint(0, 0),
                            QPoint(0, 120), Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier,
                            Qt.ScrollPhase.NoScrollPhase, False)
        QApplication.sendEvent(inputs, wheel)
    qtbot.waitUntil(lambda: outputs.zoom() == inputs.zoom())
    assert not outputs.is_fitted() and outputs.centre() == inputs.centre()
    view.fit_to_window()
    assert inputs.is_fitted() and outputs.is_fitted()

    wide = rng.integers(0, 256, (20, 300, 3), dtype=np.uint8)    # a line of text: one above the other
    view.set_images(wide, wide)
    assert view.is_vertical()


def test_the_open_model_is_saved_as_one_small_file(qtbot, make_panel, tmp_path, monkeypatch):
    import numpy as np
    from PySide6.QtWidgets import QFileDialog

    from ganstudio.core.translate.inference import load_translator, translate_array

    panel = make_panel()
    model = tiny_model(tmp_path / "models" / "mine.safetensors")
    open_model(qtbot, panel, model)
    chosen = tmp_path / "shared" / "for-ann"                       # typed without the suffix
    chosen.parent.mkdir()
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(chosen), ""))
    with qtbot.waitSignal(panel.model_saved, timeout=WAIT_MS) as saved:
        panel.save_model_file()
    written = Path(saved.args[0])
    assert written == chosen.with_name("for-ann.safetensors") and "Saved the model" in panel._status_text
    image = np.random.default_rng(0).integers(0, 256, (20, 24, 3), dtype=np.uint8)
    assert np.array_equal(translate_array(load_translator(written, device="cpu", precision="fp32"), image),
                          translate_array(load_translator(model, device="cpu", precision="fp32"), image))


def test_parameter_counts_keep_their_unit_on_the_same_line():
    from ganstudio.gui.translate_panel import _count

    assert _count(2_600_000) == "2.6\u00a0M" and _count(850_000) == "850\u00a0k"   # no-break spaces


def test_view_buttons_show_which_view_is_on_as_segments(make_panel):
    from PySide6.QtWidgets import QToolButton

    from ganstudio.gui.theme import SEGMENT_PROPERTY

    panel = make_panel()
    buttons = [panel.findChild(QToolButton, name) for name in ("sideBySideMode", "splitMode")]
    assert all(b.property(SEGMENT_PROPERTY) is True for b in buttons)   # checked: the Highlight colours
    assert buttons[0].isChecked() and not buttons[1].isChecked()
