"""The Train panel driven as a user drives it: choose a folder, read the summary, start, pause,
resume, stop; the chart, the samples, the earlier runs and the remembered preferences."""
from __future__ import annotations

import json
import math
import time

import numpy as np
import pytest
from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDropEvent

from ganstudio.core import events as ev
from ganstudio.core.checkpoint import latest_checkpoint, list_step_checkpoints
from ganstudio.core.config import TrainConfig
from ganstudio.core.gan import GanOptions
from ganstudio.core.resources import demo_dataset_dir
from ganstudio.core.trainer import train
from ganstudio.gui.settings import Preferences
from ganstudio.gui.widgets.loss_chart import LossChart, ema_debiased

from .conftest import WAIT_MS, fast_options


def click(qtbot, button):
    assert button.isEnabled(), f"{button.text()} is disabled"
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)


def test_choosing_a_folder_shows_counts_skipped_files_thumbnails_and_preview(qtbot, make_panel, tiny_folder):
    (tiny_folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n this is not really a png")
    (tiny_folder / "notes.txt").write_text("not an image")
    panel = make_panel(tiny_folder)
    text = panel.dataset_view.summary_text()
    assert "Images found in tiny: 12" in text
    assert "Sizes: " in text and " to " in text and "pixels" in text
    assert "Skipped files: 1" in text and "Other files ignored (not images): 1" in text
    rows = panel.dataset_view.skipped_rows()
    assert len(rows) == 1 and rows[0][0] == "broken.png" and rows[0][1]
    assert panel.dataset_view.thumbnails.has_image()
    qtbot.waitUntil(panel.dataset_view.preview.has_image, timeout=WAIT_MS)
    assert panel.start_button.isEnabled()


@pytest.mark.parametrize("ratio,side", [(1.0, 48), (2.0, 96)])
def test_thumbnails_are_made_with_the_screens_pixels(monkeypatch, make_panel, tiny_folder, ratio, side):
    from ganstudio.gui.train_panel import TrainPanel

    monkeypatch.setattr(TrainPanel, "devicePixelRatioF", lambda self: ratio)   # a 200 % display
    panel = make_panel(tiny_folder)
    assert panel.dataset_view.thumbnails.image_shape()[1] == 6 * (side + 2) + 2   # 6 columns, 2-pixel gaps


def test_preview_follows_the_preset_and_colour_options(qtbot, make_panel, tiny_folder):
    panel = make_panel(tiny_folder)
    qtbot.waitUntil(panel.dataset_view.preview.has_image, timeout=WAIT_MS)
    with qtbot.waitSignal(panel.preview_updated, timeout=WAIT_MS):
        panel.form.set_preset("seed-dcgan-16")
        panel.form.color.setCurrentIndex(panel.form.color.findData("grey"))   # one debounced preview
    height, width, channels = panel.dataset_view.preview.image_shape()
    assert channels == 1
    assert width == 8 * (16 + 2) + 2     # 8 columns of 16-pixel images, 2-pixel padding
    assert "16×16 pixels" in panel.dataset_view.preview.caption.text()


def test_a_folder_without_images_shows_an_error_not_a_crash(qtbot, make_panel, tmp_path, error_boxes):
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "readme.txt").write_text("no pictures here")
    panel = make_panel(empty)
    assert "No usable images" in panel.dataset_view.summary_text()
    assert not panel.start_button.isEnabled()
    assert not panel.dataset_view.preview.has_image()


def test_dropping_a_folder_scans_it(qtbot, make_panel, tiny_folder, tmp_path):
    panel = make_panel(tiny_folder)
    other = tmp_path / "other"
    from tests.conftest import make_images

    make_images(other, n=5)
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(other))])
    drop = QDropEvent(QPointF(50, 50), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                      Qt.KeyboardModifier.NoModifier)
    with qtbot.waitSignal(panel.dataset_scanned, timeout=WAIT_MS) as blocker:
        panel.dropEvent(drop)
    assert blocker.args == [5]
    assert panel.folder() == str(other)
    assert "Images found in other: 5" in panel.dataset_view.summary_text()


def test_start_pause_resume_stop_leaves_a_checkpoint_and_updates_chart_and_samples(qtbot, make_panel, tiny_folder,
                                                                                      prefs):
    panel = make_panel(tiny_folder)
    fast_options(panel)
    with qtbot.waitSignal(panel.step_ended, timeout=WAIT_MS):
        click(qtbot, panel.start_button)
    assert panel.is_training() and not panel.start_button.isEnabled()
    assert panel.run_dir().parent == prefs.resolved_runs_dir()
    assert panel.run_dir().name.startswith("tiny-seed-dcgan-16-")
    qtbot.waitUntil(lambda: panel.loss_chart.point_count() >= 2, timeout=WAIT_MS)
    qtbot.waitUntil(lambda: panel.sample_view.shown_step() is not None, timeout=WAIT_MS)
    assert panel.sample_view.caption.text() == f"Samples at step {panel.sample_view.shown_step()}"
    assert panel.sample_view.image_shape()[0] > 16

    with qtbot.waitSignal(panel.state_changed, check_params_cb=lambda s: s == "paused", timeout=WAIT_MS):
        click(qtbot, panel.pause_button)
    assert panel.pause_button.text() == "Resume"
    paused_at = panel.loss_chart.point_count()
    with qtbot.assertNotEmitted(panel.step_ended, wait=600):
        pass
    assert panel.loss_chart.point_count() == paused_at

    with qtbot.waitSignal(panel.step_ended, timeout=WAIT_MS):
        click(qtbot, panel.pause_button)
    shown = panel.sample_view.shown_step()
    qtbot.waitUntil(lambda: panel.sample_view.shown_step() != shown, timeout=WAIT_MS)

    with qtbot.waitSignal(panel.training_finished, timeout=WAIT_MS) as blocker:
        click(qtbot, panel.stop_button)
    finished = blocker.args[0]
    assert isinstance(finished, ev.Finished) and finished.reason == "stopped"
    assert finished.checkpoint is not None and finished.checkpoint.is_file()
    assert latest_checkpoint(panel.run_dir()) == finished.checkpoint
    qtbot.waitUntil(lambda: panel.state() == "idle", timeout=WAIT_MS)
    assert not panel.is_training() and panel.start_button.isEnabled()
    assert "Stopped." in panel.log_view.toPlainText()
    assert "Paused." in panel.log_view.toPlainText()
    # the earlier-runs list now shows the run, selected
    qtbot.waitUntil(lambda: panel.runs_list.selected_run() is not None, timeout=WAIT_MS)
    assert panel.runs_list.selected_run().path == panel.run_dir()


def test_a_step_limited_run_completes_and_says_so(qtbot, make_panel, tiny_folder):
    panel = make_panel(tiny_folder)
    fast_options(panel, steps=20, sample_every=10)
    with qtbot.waitSignal(panel.training_finished, timeout=WAIT_MS) as blocker:
        click(qtbot, panel.start_button)
    assert blocker.args[0].reason == "completed" and blocker.args[0].step == 20
    assert "20 / 20" in panel.progress.format() or "Finished" in panel.progress.format()
    assert panel.loss_chart.point_count() == 2       # logged every 10 steps
    assert "Finished: all steps done." in panel.log_view.toPlainText()


def test_earlier_runs_can_be_resumed_and_loaded_into_generate(qtbot, make_panel, tiny_folder, prefs):
    run = prefs.resolved_runs_dir() / "tiny-seed-dcgan-16-earlier"
    train(TrainConfig(steps=10, batch_size=4, threads=1, precision="fp32", log_every=5, sample_every=5),
          GanOptions(str(tiny_folder), "seed-dcgan-16"), run)
    panel = make_panel(tiny_folder)
    qtbot.waitUntil(lambda: len(panel.runs_list.runs()) == 1, timeout=WAIT_MS)
    info = panel.runs_list.runs()[0]
    assert (info.name, info.preset, info.step, info.total_steps) == (run.name, "seed-dcgan-16", 10, 10)
    assert not panel.runs_list.generate_button.isEnabled()          # nothing selected yet
    assert panel.runs_list.select_run(run)

    with qtbot.waitSignal(panel.load_into_generate, timeout=WAIT_MS) as blocker:
        click(qtbot, panel.runs_list.generate_button)
    assert blocker.args == [run]

    panel.form.steps.setValue(10)        # the finished run continues for 10 more steps
    with qtbot.waitSignal(panel.training_finished, timeout=WAIT_MS) as blocker:
        click(qtbot, panel.runs_list.resume_button)
    finished = blocker.args[0]
    assert finished.reason == "completed" and finished.step == 20
    assert [s for s, _ in list_step_checkpoints(run / "checkpoints")][-1] == 20
    # the chart shows the earlier history too: steps 5, 10 from before, 15, 20 now
    assert panel.loss_chart.point_count() == 4
    # the run came from the command line (no clock-driven preview); the app's resume turns it on
    from ganstudio.core.trainer import load_run_config
    from ganstudio.gui.widgets.training_form import GUI_SAMPLE_SECONDS

    assert load_run_config(run)[0].sample_seconds == GUI_SAMPLE_SECONDS


def test_resuming_a_run_whose_images_moved_asks_where_they_are(qtbot, make_panel, tiny_folder, prefs, tmp_path,
                                                                 monkeypatch):
    from PySide6.QtWidgets import QFileDialog, QMessageBox

    from ganstudio.core.trainer import load_run_config

    data = tmp_path / "art"
    tiny_folder.rename(data)
    run = prefs.resolved_runs_dir() / "art-seed-dcgan-16-earlier"
    train(TrainConfig(steps=4, batch_size=4, threads=1, precision="fp32", log_every=2, sample_every=2),
          GanOptions(str(data), "seed-dcgan-16"), run)
    moved = data.rename(tmp_path / "art-archive")
    panel = make_panel(moved)
    questions = []
    monkeypatch.setattr(QMessageBox, "question",
                        lambda *a, **k: questions.append(a[2]) or QMessageBox.StandardButton.Cancel)
    panel.resume_run(run)
    assert len(questions) == 1 and str(data) in questions[0] and not panel.is_training()   # gave up: nothing runs

    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.Yes)
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *a, **k: str(moved))
    panel.form.steps.setValue(2)
    with qtbot.waitSignal(panel.training_finished, timeout=WAIT_MS) as blocker:
        panel.resume_run(run)
    assert blocker.args[0].reason == "completed" and blocker.args[0].step == 6
    assert load_run_config(run)[1].data == str(moved)
    assert str(moved) in panel.log_view.toPlainText()


def test_first_start_selects_the_demo_images(qtbot, make_panel):
    panel = make_panel()
    assert panel.folder() == str(demo_dataset_dir())
    assert panel.form.train_config().sample_seconds == 15     # someone watches: the grid refreshes by the clock too
    assert "Images found in emoji: 787" in panel.dataset_view.summary_text()


def test_recent_folders_and_last_options_persist(qtbot, make_panel, tiny_folder, tmp_path, prefs):
    panel = make_panel(tiny_folder)
    fast_options(panel, steps=2)
    panel.form.hflip.setChecked(True)
    with qtbot.waitSignal(panel.training_finished, timeout=WAIT_MS):
        click(qtbot, panel.start_button)
    reloaded = Preferences.load()
    assert reloaded.recent_folders[0] == str(tiny_folder)
    assert reloaded.last_options["preset"] == "seed-dcgan-16" and reloaded.last_options["hflip"] is True
    assert reloaded.runs_dir == str(tmp_path / "runs")
    again = make_panel()          # a new session opens the last folder with the last options
    assert again.folder() == str(tiny_folder)
    assert again.form.preset.currentData() == "seed-dcgan-16" and again.form.hflip.isChecked()
    again.recent_menu.aboutToShow.emit()
    assert str(tiny_folder) in [a.text() for a in again.recent_menu.actions()]


def test_every_option_has_a_plain_words_tooltip(qtbot, make_panel, tiny_folder):
    panel = make_panel(tiny_folder)
    widgets = panel.form.option_widgets()
    for name in ("preset", "fit", "color", "background", "hflip", "loss", "cache", "lr_g", "lr_d", "beta1", "beta2",
                 "batch_size", "steps", "minutes", "ema", "ema_decay", "precision", "device", "threads", "seed"):
        tip = widgets[name].toolTip()
        assert len(tip) > 30, name
    assert "--lr-d" in widgets["lr_d"].toolTip()
    from ganstudio.core.device import default_threads

    assert widgets["threads"].value() == default_threads(leave_for_gui=True)
    assert "Ctrl+Return" in panel.start_button.toolTip()


def test_disk_cache_choice_reaches_the_options_and_is_restored(qtbot, make_panel, tiny_folder):
    panel = make_panel(tiny_folder)
    cache = panel.form.option_widgets()["cache"]
    assert panel.form.gan.options({"data": str(tiny_folder)}).cache == "memory"   # the default
    cache.setCurrentIndex(cache.findData("disk"))
    assert panel.form.gan.options({"data": str(tiny_folder)}).cache == "disk"
    remembered = panel.form.gan.values()
    assert remembered["cache"] == "disk"
    again = make_panel(tiny_folder)
    again.form.gan.set_values(remembered)
    assert again.form.gan.options({"data": str(tiny_folder)}).cache == "disk"


def test_damaged_preferences_fall_back_to_defaults(isolated_settings):
    isolated_settings.mkdir(parents=True)
    path = isolated_settings / "settings.json"
    path.write_text("{ this is not json", encoding="utf-8")
    prefs = Preferences.load()
    assert prefs.recent_folders == [] and prefs.last_options == {} and prefs.problem
    assert (isolated_settings / "settings.json.damaged").is_file()
    prefs.add_recent_folder("/somewhere")
    assert json.loads(path.read_text(encoding="utf-8"))["recent_folders"] == ["/somewhere"]
    path.write_text(json.dumps({"version": 1, "recent_folders": "oops", "last_options": {"seed": 3, "x": [1]},
                                "future_key": 1}), encoding="utf-8")
    prefs = Preferences.load()
    assert prefs.recent_folders == [] and prefs.last_options == {"seed": 3} and prefs.problem is None
    prefs.save()
    assert json.loads(path.read_text(encoding="utf-8"))["future_key"] == 1


def test_smoothing_matches_the_running_average():
    rng = np.random.default_rng(0)
    values = rng.normal(size=1000)
    for weight in (0.0, 0.3, 0.9, 0.99):
        expected, last = [], 0.0
        for i, x in enumerate(values, start=1):
            last = last * weight + (1 - weight) * x
            expected.append(last / (1 - weight ** i) if weight else x)
        whole, _, _ = ema_debiased(values, weight)
        first, state_last, count = ema_debiased(values[:337], weight)
        rest, _, _ = ema_debiased(values[337:], weight, state_last, count)
        assert np.allclose(whole, expected) and np.allclose(np.concatenate([first, rest]), expected)


def test_loss_chart_stays_quick_with_200k_points(qtbot):
    chart = LossChart()
    qtbot.addWidget(chart)
    chart.resize(600, 400)
    chart.show()
    steps = list(range(1, 200_001))
    metrics = [{"loss_d": math.sin(i / 1000), "loss_g": 1.0, "d_real": 0.6, "d_fake": 0.4} for i in steps]
    chart.add_points(steps, metrics)
    start = time.perf_counter()
    chart.redraw()
    chart.grab()       # paint once with peak downsampling and clip-to-view
    elapsed = time.perf_counter() - start
    assert chart.point_count() == 200_000
    assert elapsed < 5.0     # generous on a shared CPU; benchmarks/ui_responsiveness.py reports the figure
    chart.set_smoothing(0.0)
    chart.redraw()
    assert chart.last_values()["loss_d"] == pytest.approx(math.sin(200))


def test_a_preset_that_enlarges_most_images_gets_a_note_and_a_smaller_preset(qtbot, make_panel, tmp_path):
    from tests.conftest import make_images

    folder = tmp_path / "icons"
    make_images(folder, n=9, size=(40, 36))              # shorter sides 36-41 px
    make_images(folder / "big", n=2, size=(300, 300))    # a few large files do not change the verdict
    panel = make_panel(folder)
    preset, note = panel.form.gan.preset, panel.dataset_view.size_note
    preset.setCurrentIndex(preset.findData("dcgan-64"))
    side = panel.dataset_view.report().median_short_side()
    assert 36 <= side <= 41
    assert note.isVisibleTo(panel)
    assert f"Half of your images are {side} px or smaller" in note.text() and "to 64 px" in note.text()
    assert "Use&nbsp;dcgan-32" in note.text()
    note.linkActivated.emit("fix")                        # as a click on the link
    assert preset.currentData() == "dcgan-32" and not note.isVisibleTo(panel)
    preset.setCurrentIndex(preset.findData("dcgan-128"))  # enlarges them again: the note returns
    assert note.isVisibleTo(panel) and "to 128 px" in note.text()


def test_a_packed_set_gets_the_enlargement_note_in_its_own_words(qtbot, make_panel, tmp_path):
    from tests.core.test_data import write_cifar

    folder = tmp_path / "cifar"
    write_cifar(folder / "data_batch_1.bin", np.zeros((8, 3, 32, 32), np.uint8))
    panel = make_panel(folder)
    preset, note = panel.form.gan.preset, panel.dataset_view.size_note
    preset.setCurrentIndex(preset.findData("dcgan-64"))
    assert note.isVisibleTo(panel)
    assert "The images of this CIFAR-10 set are 32 px" in note.text() and "2.0×" in note.text()
    note.linkActivated.emit("fix")
    assert preset.currentData() == "dcgan-32" and not note.isVisibleTo(panel)


def test_the_paused_bar_names_the_step_training_paused_at(make_panel, tiny_folder):
    # metrics arrive every log_every steps; a pause lands between them, and the bar, the status line
    # and the log must name the same step
    panel = make_panel(tiny_folder)
    panel._last_step = 60
    panel._on_train_job_message(ev.Paused(65))
    assert panel.progress.format() == "Paused at step 65"
    assert "step 65" in panel.log_view.toPlainText()
