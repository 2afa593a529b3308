"""The Generate panel, driven as a user drives it: open, generate, select, export, drop back, interpolate."""
from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import QCoreApplication, QSettings, Qt
from PySide6.QtWidgets import (QAbstractButton, QDoubleSpinBox, QFileDialog, QLabel,
                               QMessageBox, QSlider, QSpinBox)

from ganstudio.core.export import read_png_metadata, save_png
from ganstudio.gui.generate_panel import GeneratePanel
from ganstudio.gui.widgets.gen_image_grid import GenImageGrid, GenPixelView
from tests.gui.conftest import drop

#: generous: the machine is shared, and the first model load imports torch in the worker
WAIT_MS = 30_000

# The offscreen platform cannot resize windows to their layout's size hints and says so whenever a
# label's new text changes the panel's minimum size; on a real screen nothing is logged.
pytestmark = pytest.mark.qt_log_ignore(r"This plugin does not support propagateSizeHints")


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    from ganstudio.core.config import TrainConfig
    from ganstudio.core.gan import GanOptions
    from ganstudio.core.trainer import train
    from tests.conftest import make_images

    root = tmp_path_factory.mktemp("generate_panel")
    make_images(root / "images", n=8)
    train(TrainConfig(steps=3, batch_size=4, precision="fp32", threads=1, log_every=1, sample_every=10,
                      checkpoint_every=10), GanOptions(str(root / "images"), "seed-dcgan-16"), root / "run")
    return root / "run"


@pytest.fixture
def dialogs(monkeypatch):
    """Error dialogs opened by the panel: (text, details); none is really shown."""
    shown: list[tuple[str, str]] = []
    monkeypatch.setattr(QMessageBox, "open", lambda box: shown.append((box.text(), box.detailedText())))
    return shown


@pytest.fixture
def panel(qtbot, tmp_path, monkeypatch, dialogs):
    """A shown panel with its own settings; its background threads are stopped and joined after."""
    monkeypatch.setenv("GANSTUDIO_SETTINGS_DIR", str(tmp_path / "settings"))
    old_names = QCoreApplication.organizationName(), QCoreApplication.applicationName()
    QCoreApplication.setOrganizationName("GanStudioTests")
    QCoreApplication.setApplicationName("generate-panel")
    QSettings.setDefaultFormat(QSettings.Format.IniFormat)
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(tmp_path / "qsettings"))
    widget = GeneratePanel()
    qtbot.addWidget(widget)
    widget.resize(1200, 800)
    widget.show()
    qtbot.waitExposed(widget)
    yield widget
    assert widget.shutdown(WAIT_MS), f"a background thread did not stop: {widget.busy_report()}"
    assert not widget.is_busy(), f"still busy after shutdown: {widget.busy_report()}"
    QSettings.setDefaultFormat(QSettings.Format.NativeFormat)
    QCoreApplication.setOrganizationName(old_names[0])
    QCoreApplication.setApplicationName(old_names[1])


def child(panel, kind, name):
    widget = panel.findChild(kind, name)
    assert widget is not None, f"no {kind.__name__} named {name!r}"
    return widget


def grid(panel) -> GenImageGrid:
    return child(panel, GenImageGrid, "images")


def click(qtbot, panel, name):
    button = child(panel, QAbstractButton, name)
    assert button.isEnabled(), f"{name} is disabled"
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)


def click_tile(qtbot, panel, row, modifier=Qt.KeyboardModifier.NoModifier):
    view = grid(panel)
    qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, modifier,
                     view.visualItemRect(view.item(row)).center())


def open_and_wait(qtbot, panel, run):
    """Open ``run`` and wait for the images it makes at once."""
    with qtbot.waitSignals([panel.model_loaded, panel.generation_finished], timeout=WAIT_MS, order="strict"):
        panel.open_model(run)


def generate(qtbot, panel, first_seed, count, truncation=1.0):
    child(panel, QSpinBox, "seed").setValue(first_seed)
    child(panel, QSpinBox, "count").setValue(count)
    child(panel, QDoubleSpinBox, "truncation").setValue(truncation)
    with qtbot.waitSignal(panel.generation_finished, timeout=WAIT_MS) as blocker:
        click(qtbot, panel, "generate")
    assert blocker.args == [count]


def sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def test_dropping_a_run_folder_shows_the_model_and_makes_images(qtbot, panel, trained_run, dialogs):
    assert grid(panel).count() == 0
    with qtbot.waitSignals([panel.model_loaded, panel.generation_finished], timeout=WAIT_MS, order="strict"):
        assert drop(panel, trained_run)
    shown = " ".join(label.text() for label in panel.findChildren(QLabel))
    assert "seed-dcgan-16" in shown and "step 3" in shown and "step-00000003.safetensors" in shown
    count = child(panel, QSpinBox, "count").value()
    assert grid(panel).count() == count
    assert [seed for seed, _, image in panel.images() if image is not None] == panel.seeds()
    assert QSettings().value("generate/last_model") == str(trained_run)
    assert not dialogs


def test_generate_select_and_export_with_provenance(qtbot, panel, trained_run, tmp_path, monkeypatch):
    open_and_wait(qtbot, panel, trained_run)
    generate(qtbot, panel, first_seed=100, count=5, truncation=0.7)
    view = grid(panel)
    assert [view.item(i).text() for i in range(view.count())] == [f"seed {s}" for s in range(100, 105)]
    images = {seed: image for seed, _, image in panel.images()}
    assert all(im.shape == (16, 16, 3) and im.dtype == np.uint8 for im in images.values())
    # 16x16 images are shown enlarged, not at their own tiny size
    assert view.visualItemRect(view.item(0)).width() >= 4 * 16

    click_tile(qtbot, panel, 2)
    assert panel.selected_seeds() == [102]
    click_tile(qtbot, panel, 4, Qt.KeyboardModifier.ControlModifier)
    assert panel.selected_seeds() == [102, 104]
    assert child(panel, QSpinBox, "seedA").value() == 102 and child(panel, QSpinBox, "seedB").value() == 104

    out = tmp_path / "exports"
    out.mkdir()
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *a, **k: str(out))
    with qtbot.waitSignal(panel.exported, timeout=WAIT_MS) as blocker:
        click(qtbot, panel, "exportSelected")
    selected = [Path(p) for p in blocker.args[0]]
    assert [p.name for p in selected] == ["seed-00102.png", "seed-00104.png"]
    model_sha = sha256(panel.loaded_model())
    for path, seed in zip(selected, (102, 104), strict=True):
        meta = read_png_metadata(path)
        assert meta["seed"] == str(seed) and meta["truncation"] == "0.7" and meta["model_sha256"] == model_sha
        np.testing.assert_array_equal(np.asarray(Image.open(path)), images[seed])
    assert QSettings().value("generate/last_export_dir") == str(out)

    with qtbot.waitSignal(panel.exported, timeout=WAIT_MS) as blocker:   # again: new names, nothing replaced
        click(qtbot, panel, "exportSelected")
    assert [Path(p).name for p in blocker.args[0]] == ["seed-00102-1.png", "seed-00104-1.png"]

    with qtbot.waitSignal(panel.exported, timeout=WAIT_MS) as blocker:
        click(qtbot, panel, "exportAll")
    assert len(blocker.args[0]) == 5 and len(list(out.glob("*.png"))) == 9

    child(panel, QSpinBox, "columns").setValue(3)
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(out / "my grid.png"), ""))
    with qtbot.waitSignal(panel.exported, timeout=WAIT_MS) as blocker:
        click(qtbot, panel, "exportGrid")
    [grid_path] = [Path(p) for p in blocker.args[0]]
    meta = read_png_metadata(grid_path)
    assert meta["seeds"] == "100,101,102,103,104" and meta["model_sha256"] == model_sha
    # 3 columns and 2 rows of 16-pixel images with 2-pixel gaps
    assert Image.open(grid_path).size == (3 * 18 + 2, 2 * 18 + 2)


def test_dropping_an_exported_png_reproduces_it(qtbot, panel, trained_run, tmp_path):
    open_and_wait(qtbot, panel, trained_run)
    generate(qtbot, panel, first_seed=7, count=2, truncation=0.6)
    click_tile(qtbot, panel, 0)
    with qtbot.waitSignal(panel.exported, timeout=WAIT_MS) as blocker:
        panel.export_selected(tmp_path)
    [png] = [Path(p) for p in blocker.args[0]]

    generate(qtbot, panel, first_seed=500, count=3, truncation=1.2)
    with qtbot.waitSignal(panel.png_reproduced, timeout=WAIT_MS):
        assert drop(panel, png)
    [(seed, truncation, image)] = panel.images()
    assert (seed, truncation) == (7, 0.6)
    np.testing.assert_array_equal(image, np.asarray(Image.open(png)))
    assert child(panel, QSpinBox, "seed").value() == 7
    assert child(panel, QDoubleSpinBox, "truncation").value() == pytest.approx(0.6)
    assert panel.selected_seeds() == [7]


def test_png_from_another_model_says_which_model_it_needs(qtbot, panel, trained_run, tmp_path, dialogs):
    foreign = save_png(np.zeros((16, 16, 3), np.uint8), tmp_path / "foreign.png",
                       {"seed": "3", "truncation": "1.0", "model": "cats-step-9000.safetensors",
                        "step": "9000", "model_sha256": "ab" * 32})
    with qtbot.waitSignal(panel.error_shown, timeout=WAIT_MS):
        panel.open_png(foreign)      # no model open yet
    assert "cats-step-9000.safetensors" in dialogs[-1][0] and "Open that model first" in dialogs[-1][0]

    open_and_wait(qtbot, panel, trained_run)
    with qtbot.waitSignal(panel.error_shown, timeout=WAIT_MS):
        assert drop(panel, foreign)
    text, _ = dialogs[-1]
    assert "Could not reproduce foreign.png." in text
    assert "cats-step-9000.safetensors" in text and "step-00000003.safetensors" in text

    plain = tmp_path / "plain.png"
    Image.new("RGB", (8, 8)).save(plain)
    with qtbot.waitSignal(panel.error_shown, timeout=WAIT_MS):
        panel.open_png(plain)
    assert "no GAN Studio generation data" in dialogs[-1][0]


def test_interpolation_plays_and_exports_gif_and_frames(qtbot, panel, trained_run, tmp_path, monkeypatch):
    open_and_wait(qtbot, panel, trained_run)
    child(panel, QSpinBox, "seedA").setValue(1)
    child(panel, QSpinBox, "seedB").setValue(2)
    child(panel, QSpinBox, "frames").setValue(6)
    with qtbot.waitSignal(panel.interpolation_finished, timeout=WAIT_MS) as blocker:
        click(qtbot, panel, "interpolate")
    assert blocker.args == [6]
    frames = panel.frames()
    assert frames.shape == (6, 16, 16, 3) and not np.array_equal(frames[0], frames[-1])

    slider = child(panel, QSlider, "frameSlider")
    preview = child(panel, GenPixelView, "interpolationPreview")
    slider.setValue(3)
    shown = preview.image().convertToFormat(preview.image().Format.Format_RGB888)
    assert np.array_equal(np.frombuffer(shown.constBits(), np.uint8).reshape(16, 16, 3), frames[3])

    child(panel, QSpinBox, "fps").setValue(60)
    assert child(panel, QSpinBox, "fps").value() == 50       # the fastest a GIF plays
    click(qtbot, panel, "play")
    qtbot.waitUntil(lambda: slider.value() != 3, timeout=WAIT_MS)
    click(qtbot, panel, "play")   # pause
    paused_at = slider.value()
    qtbot.wait(100)
    assert slider.value() == paused_at

    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(tmp_path / "walk"), ""))
    with qtbot.waitSignal(panel.exported, timeout=WAIT_MS) as blocker:
        click(qtbot, panel, "exportGif")
    [gif] = [Path(p) for p in blocker.args[0]]
    assert gif.name == "walk.gif"
    with Image.open(gif) as im:
        assert im.n_frames == 6 + 4   # there and back again, without repeating the ends
        assert im.info["duration"] == 20   # 50 fps: 2 hundredths a frame, as the preview played

    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *a, **k: str(tmp_path))
    with qtbot.waitSignal(panel.exported, timeout=WAIT_MS) as blocker:
        click(qtbot, panel, "exportFrames")
    paths = [Path(p) for p in blocker.args[0]]
    assert len(paths) == 6 and paths[0].parent.name == "interpolation-1-2"
    assert read_png_metadata(paths[2])["interpolation"] == "1->2"


def test_a_corrupt_model_shows_an_error_and_nothing_breaks(qtbot, panel, trained_run, tmp_path, dialogs):
    bad = tmp_path / "broken.safetensors"
    bad.write_bytes(b"\x00\x01 this is not a checkpoint" * 10)
    with qtbot.waitSignal(panel.error_shown, timeout=WAIT_MS):
        assert drop(panel, bad)
    [(text, _)] = dialogs
    assert text.startswith("Could not open the model broken.safetensors.")
    assert "not a readable checkpoint" in text
    assert panel.loaded_model() is None and not child(panel, QAbstractButton, "generate").isEnabled()

    notes = tmp_path / "notes.txt"
    notes.write_text("hello")
    assert not drop(panel, notes)      # refused while dragging: neither a model nor a PNG
    open_and_wait(qtbot, panel, trained_run)   # the panel still works
    assert len(dialogs) == 1


def export_from_a_run_copy(qtbot, panel, trained_run, tmp_path, seed: int) -> tuple[Path, Path, Path]:
    """(runs folder, run "my-cats" copied into it, the PNG of ``seed`` exported from that run)."""
    import shutil

    runs = tmp_path / "runs"
    run = runs / "my-cats"
    shutil.copytree(trained_run, run)
    open_and_wait(qtbot, panel, run)
    generate(qtbot, panel, first_seed=seed, count=1)
    click_tile(qtbot, panel, 0)
    with qtbot.waitSignal(panel.exported, timeout=WAIT_MS) as blocker:
        panel.export_selected(tmp_path / "out")
    [png] = [Path(p) for p in blocker.args[0]]
    return runs, run, png


def test_a_dropped_png_finds_its_run_and_survives_a_deleted_checkpoint(qtbot, panel, trained_run, tmp_path):
    """Every run has a "step-00000003.safetensors": the PNG names its run too, so the model is found in
    the runs folder; and the model in memory reproduces its images even once its file is gone."""
    import shutil

    runs, run, png = export_from_a_run_copy(qtbot, panel, trained_run, tmp_path, seed=11)
    assert Image.open(png).text["ganstudio:run"] == "my-cats"

    fresh = GeneratePanel()                       # the next session: no model open
    qtbot.addWidget(fresh)
    fresh.runs_folder = lambda: runs
    with qtbot.waitSignals([fresh.model_loaded, fresh.png_reproduced], timeout=WAIT_MS, order="strict"):
        fresh.open_png(png)
    assert fresh.loaded_model().parent.parent == run
    np.testing.assert_array_equal(fresh.images()[0][2], np.asarray(Image.open(png)))
    fresh.shutdown(WAIT_MS)

    shutil.rmtree(run / "checkpoints")             # kept checkpoints are pruned while training goes on
    with qtbot.waitSignal(panel.png_reproduced, timeout=WAIT_MS):
        panel.open_png(png)
    np.testing.assert_array_equal(panel.images()[0][2], np.asarray(Image.open(png)))


def test_the_model_of_the_last_session_opens_when_the_panel_is_first_shown(qtbot, panel, trained_run):
    open_and_wait(qtbot, panel, trained_run)
    later = GeneratePanel()                        # same settings: the next session
    qtbot.addWidget(later)
    assert later.loaded_model() is None
    with qtbot.waitSignal(later.model_loaded, timeout=WAIT_MS):
        later.show()
    assert later.loaded_model() == panel.loaded_model()
    later.shutdown(WAIT_MS)


def test_with_no_model_remembered_the_open_dialogs_start_in_the_runs_folder(panel, tmp_path):
    runs = tmp_path / "my-runs"
    runs.mkdir()
    panel.runs_folder = lambda: runs
    assert panel._start_folder("last_model") == str(runs)


def test_escape_stops_making_images_and_keeps_those_made(qtbot, panel, trained_run, monkeypatch):
    import ganstudio.gui.generate_panel as gp

    open_and_wait(qtbot, panel, trained_run)
    monkeypatch.setattr(gp, "GENERATION_BATCH", 1)
    child(panel, QSpinBox, "count").setValue(200)
    stopped = []
    with qtbot.waitSignal(panel.status_changed, check_params_cb=lambda t: t.startswith("Made 1") or stopped,
                          timeout=WAIT_MS, raising=False):
        panel.generate()
        qtbot.waitUntil(lambda: panel._grid.tiles()[0].image is not None, timeout=WAIT_MS)
        qtbot.keyClick(panel, Qt.Key.Key_Escape)
        stopped.append(True)
    assert panel._status_text == "Stopped; the images made so far stay."
    made = [t for t in panel._grid.tiles() if t.image is not None]
    assert 1 <= len(made) < 200


def test_a_png_whose_checkpoint_was_pruned_says_so(qtbot, panel, trained_run, tmp_path, dialogs):
    runs, run, png = export_from_a_run_copy(qtbot, panel, trained_run, tmp_path, seed=3)
    for ckpt in (run / "checkpoints").glob("*.safetensors"):
        ckpt.unlink()
    fresh = GeneratePanel()
    qtbot.addWidget(fresh)
    fresh.runs_folder = lambda: runs
    with qtbot.waitSignal(fresh.error_shown, timeout=WAIT_MS):
        fresh.open_png(png)
    assert "the run my-cats, which is in the runs folder, but that checkpoint is gone" in dialogs[-1][0]
    fresh.shutdown(WAIT_MS)
