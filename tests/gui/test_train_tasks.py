"""The Train panel's task choice, driven as a user drives it: switching between Generate, Upscale and
Translate changes the data section, the options and their defaults; an upscaler trains with its
loss and validation PSNR charted and a before/after preview; a paired translator reports its
pairing, trains with its losses charted and shows input -> output -> target."""
from __future__ import annotations

import json

from pathlib import Path

import numpy as np
from PIL import Image
from PySide6.QtCore import Qt

from ganstudio.core import events as ev
from ganstudio.core.config import TrainConfig
from ganstudio.core.gan import GanOptions
from ganstudio.core.tasks import default_train_config
from ganstudio.core.trainer import train
from ganstudio.core.upscale.task import UpscaleOptions
from ganstudio.gui.settings import Preferences

from .conftest import WAIT_MS


def smooth_images(folder: Path, n: int = 6, size: int = 48, names: list[str] | None = None, seed: int = 0,
                  grey: bool = False) -> list[Path]:
    """``n`` random but smooth PNGs (enlarged noise), so an upscaler has something to learn."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    paths = []
    for i, name in enumerate(names or [f"img{i:02d}" for i in range(n)]):
        small = rng.integers(0, 256, (6, 6, 3), dtype=np.uint8)
        image = Image.fromarray(small, "RGB").resize((size, size), Image.Resampling.BICUBIC)
        path = folder / f"{name}.png"
        (image.convert("L") if grey else image).save(path)
        paths.append(path)
    return paths


def tiny_upscale_run(run_dir: Path, data: Path, steps: int = 4) -> Path:
    """A finished upscaler run made by the core, as the CLI would make it."""
    config = default_train_config("upscale", steps=steps, batch_size=2, threads=1, precision="fp32", log_every=2,
                                  sample_every=2, eval_every=2, checkpoint_every=2)
    train(config, UpscaleOptions(str(data), scale=2, patch_size=16, features=8, blocks=1, val_crop=32, val_crops=2),
          run_dir)
    return run_dir


def click(qtbot, button) -> None:
    assert button.isEnabled(), f"{button.text()} is disabled"
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)


def choose_task(panel, task: str) -> None:
    """As a user: pick the task in the combo box at the top."""
    panel.task_combo.setCurrentIndex(panel.task_combo.findData(task))
    assert panel.task() == task


def quick_run_options(panel, *, sample_every: int = 2, eval_every: int = 2) -> None:
    form = panel.form
    form.batch_size.setValue(2)
    form.threads.setValue(1)
    form.precision.setCurrentIndex(form.precision.findData("fp32"))
    form.steps.setValue(100_000)
    form.sample_every.setValue(sample_every)
    form.eval_every.setValue(eval_every)
    form.checkpoint_every.setValue(100_000)


def stop(qtbot, panel) -> ev.Finished:
    with qtbot.waitSignal(panel.training_finished, timeout=WAIT_MS) as blocker:
        click(qtbot, panel.stop_button)
    finished = blocker.args[0]
    assert isinstance(finished, ev.Finished) and finished.reason == "stopped"
    assert finished.checkpoint is not None and finished.checkpoint.is_file()
    qtbot.waitUntil(lambda: panel.state() == "idle", timeout=WAIT_MS)
    return finished


def test_switching_task_changes_the_visible_options_and_their_defaults(qtbot, make_panel, tiny_folder, prefs):
    panel = make_panel(tiny_folder)
    form = panel.form
    form.advanced.set_expanded(True)

    def shown(widget) -> bool:
        return widget.isVisibleTo(panel)

    assert panel.task() == "gan" and panel.task_combo.currentText() == "Generate images (GAN)"
    assert shown(form.preset) and shown(form.loss) and shown(panel.folder_section)
    assert not shown(form.upscale.scale) and not shown(panel.translate_data) and not shown(form.eval_every)
    assert panel.chart_box.title() == "Losses" and panel.samples_box.title() == "Samples"
    form.batch_size.setValue(7)          # the GAN's own choice, to come back later
    form.threads.setValue(1)             # a machine setting: it follows every task

    choose_task(panel, "upscale")
    assert shown(form.upscale.scale) and shown(form.upscale.patch_size) and shown(form.upscale.gan)
    assert shown(form.upscale.gan_weight) and shown(form.eval_every)
    assert not shown(form.preset) and not shown(form.loss) and not shown(panel.translate_data)
    assert shown(panel.folder_section) and not shown(panel.dataset_view.preview)   # no "what the model sees"
    defaults = default_train_config("upscale")
    assert form.batch_size.value() == defaults.batch_size and form.lr_g.value() == defaults.lr_g
    assert form.threads.value() == 1
    assert "Choose a folder of high-resolution images" in panel.dataset_view.summary_text()
    assert not panel.start_button.isEnabled()
    assert panel.chart_box.title() == "Losses and validation" and panel.samples_box.title() == "Before / after"

    choose_task(panel, "translate")
    data = panel.translate_data
    assert shown(data) and not shown(panel.folder_section) and not shown(form.upscale.scale)
    assert shown(form.translate.crop_size) and shown(form.translate.l1_weight) and not shown(form.translate.cycle_weight)
    assert shown(data.b_row) and not shown(data.split)
    assert form.batch_size.value() == default_train_config("translate").batch_size
    assert "pix2pix" in form.translate.model_label.text()
    data.source.setCurrentIndex(data.source.findData("side_by_side"))      # one folder of side-by-side images
    assert shown(data.sbs_row) and shown(data.split) and not shown(data.b_row)
    data.mode.setCurrentIndex(data.mode.findData("unpaired"))
    assert shown(form.translate.cycle_weight) and shown(form.translate.pool_size)
    assert not shown(form.translate.l1_weight) and not shown(data.source) and shown(data.b_row)
    assert "CycleGAN" in form.translate.model_label.text() and panel.chart_box.title() == "Losses"
    assert "--cycle-weight" in form.translate.cycle_weight.toolTip()

    choose_task(panel, "gan")
    assert form.batch_size.value() == 7 and shown(form.preset) and panel.folder() == str(tiny_folder)
    saved = Preferences.load().last_options
    assert saved["task"] == "gan" and saved["batch_size"] == 7
    assert saved["upscale.batch_size"] == defaults.batch_size and saved["translate.data.mode"] == "unpaired"


def test_task_and_its_folders_are_remembered(qtbot, make_panel, tiny_folder, tmp_path):
    sr = tmp_path / "photos"
    smooth_images(sr)
    panel = make_panel(tiny_folder)
    choose_task(panel, "upscale")
    with qtbot.waitSignal(panel.dataset_scanned, timeout=WAIT_MS) as blocker:
        panel.choose_folder(sr)
    assert blocker.args == [6]
    assert "Images found in photos: 6" in panel.dataset_view.summary_text() and panel.start_button.isEnabled()
    panel.form.upscale.scale.setCurrentIndex(panel.form.upscale.scale.findData(4))
    panel.shutdown()                             # the window closes

    again = make_panel(wait_scan=False)         # a new session comes back to the upscaler and its folder
    assert again.task() == "upscale" and again.form.upscale.scale.currentData() == 4
    qtbot.waitUntil(lambda: again.dataset_view.report() is not None, timeout=WAIT_MS)
    assert again.folder() == str(sr)
    choose_task(again, "gan")                   # and the GAN still has its own folder
    qtbot.waitUntil(lambda: again.dataset_view.report() is not None, timeout=WAIT_MS)
    assert again.folder() == str(tiny_folder)


def test_upscaler_trains_with_loss_and_psnr_charted_and_a_before_after_preview(qtbot, make_panel, tiny_folder,
                                                                                 tmp_path):
    sr = tmp_path / "sr"
    smooth_images(sr)
    panel = make_panel(tiny_folder)
    choose_task(panel, "upscale")
    with qtbot.waitSignal(panel.dataset_scanned, timeout=WAIT_MS):
        panel.choose_folder(sr)
    up = panel.form.upscale
    up.scale.setCurrentIndex(up.scale.findData(2))
    up.arch.setCurrentIndex(up.arch.findData("rrdb"))
    assert not up.act.isEnabled()                                  # RRDB has its own activations
    up.arch.setCurrentIndex(up.arch.findData("compact"))
    assert up.act.isEnabled() and up.act.currentData() == "lrelu"  # the default
    up.act.setCurrentIndex(up.act.findData("prelu"))
    up.patch_size.setValue(16)
    up.val_crop.setValue(32)
    assert up.patch_sampling.currentData() == "detail"             # the default
    up.patch_sampling.setCurrentIndex(up.patch_sampling.findData("uniform"))
    quick_run_options(panel)

    click(qtbot, panel.start_button)
    chart = panel.loss_chart
    qtbot.waitUntil(lambda: chart.point_count() >= 1 and chart.evaluation_count("psnr") >= 1
                    and panel.sample_view.shown_step() is not None, timeout=WAIT_MS)
    assert panel.run_dir().name.startswith("sr-upscale-x2-compact-")
    assert "loss_l1" in chart.series_names() and np.isfinite(chart.last_values()["loss_l1"])
    assert {"psnr", "psnr_bicubic"} <= set(chart.last_evaluation())
    assert chart.shown_panes() == ["L1 loss", "PSNR (dB)"]         # no GAN stage: its pane stays hidden
    caption = panel.sample_view.caption.text()
    assert caption.startswith("Before / after at step ") and caption.endswith("bicubic | model | original")
    height, width, _ = panel.sample_view.image_shape()
    assert width > height > 0                                      # rows of bicubic | model | original
    assert "Validation: PSNR" in panel.log_view.toPlainText()

    stop(qtbot, panel)
    qtbot.waitUntil(lambda: panel.runs_list.selected_run() is not None, timeout=WAIT_MS)
    run = panel.runs_list.selected_run()
    assert run.task == "upscale" and run.model == "×2 compact"
    saved = json.loads((run.path / "config.json").read_text())["options"]
    assert saved["patch_sampling"] == "uniform" and saved["act"] == "prelu"
    assert panel.runs_list.upscale_button.isVisibleTo(panel) and panel.runs_list.upscale_button.isEnabled()
    assert not panel.runs_list.generate_button.isVisibleTo(panel)
    with qtbot.waitSignal(panel.use_in_upscale, timeout=WAIT_MS) as blocker:
        click(qtbot, panel.runs_list.upscale_button)
    assert blocker.args == [panel.run_dir()]


def test_paired_translator_reports_pairing_trains_and_previews_triplets(qtbot, make_panel, tiny_folder, tmp_path):
    names = [f"glyph{i}" for i in range(6)]
    smooth_images(tmp_path / "A", names=names + ["only_in_a1", "only_in_a2"], size=32, grey=True)
    smooth_images(tmp_path / "B", names=names + ["only_in_b"], size=32, seed=1)
    panel = make_panel(tiny_folder)
    choose_task(panel, "translate")
    data = panel.translate_data
    data.a_row.choose(str(tmp_path / "A"))
    assert "Choose the A folder" in data.summary_text() and not panel.start_button.isEnabled()
    with qtbot.waitSignal(panel.dataset_scanned, timeout=WAIT_MS) as blocker:
        data.b_row.choose(str(tmp_path / "B"))
    assert blocker.args == [6]
    text = data.summary_text()
    assert "Pairs found: 6" in text
    assert "In A without a partner in B: 2 (only_in_a1.png, only_in_a2.png)" in text
    assert "In B without a partner in A: 1 (only_in_b.png)" in text
    unused = data.unused_rows()
    assert ("A", "only_in_a1.png") in [(side, name) for side, name, _ in unused]
    assert ("B", "only_in_b.png", "no partner of that name") in unused
    assert data.thumbnails.has_image() and panel.start_button.isEnabled()

    tr = panel.form.translate
    tr.load_size.setValue(32)
    tr.crop_size.setValue(32)
    tr.ngf.setValue(8)
    tr.clean_finish.setValue(0.2)
    assert tr.options(data.data()).clean_finish == 0.2
    quick_run_options(panel)
    click(qtbot, panel.start_button)
    chart = panel.loss_chart
    qtbot.waitUntil(lambda: chart.point_count() >= 1 and panel.sample_view.shown_step() is not None,
                    timeout=WAIT_MS)
    assert panel.run_dir().name.startswith(f"{tmp_path.name}-A-to-B-pix2pix-")   # A and B: their parent names it
    assert {"loss_d", "gan_g", "l1", "ssim_loss"} <= set(chart.series_names())
    assert all(np.isfinite(v) for v in chart.last_values().values())
    assert chart.shown_panes() == ["adversarial loss", "error vs target"]   # 6 pairs: no validation
    assert panel.sample_view.caption.text().startswith("Input → output → target at step ")
    assert "Training on 6 image pairs" in panel.log_view.toPlainText()
    assert not data.b_row.isEnabled() and not panel.task_combo.isEnabled()   # locked while training
    stop(qtbot, panel)
    qtbot.waitUntil(lambda: panel.runs_list.selected_run() is not None, timeout=WAIT_MS)
    assert panel.runs_list.translate_button.isVisibleTo(panel)


def test_a_broken_partner_is_reported_as_unreadable_with_the_reason(qtbot, make_panel, tiny_folder, tmp_path):
    names = [f"glyph{i}" for i in range(3)]
    smooth_images(tmp_path / "A", names=names + ["cat", "only_in_a"], size=32)
    smooth_images(tmp_path / "B", names=names, size=32, seed=1)
    (tmp_path / "B" / "cat.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")   # the partner exists, broken
    panel = make_panel(tiny_folder)
    choose_task(panel, "translate")
    data = panel.translate_data
    data.a_row.choose(str(tmp_path / "A"))
    with qtbot.waitSignal(panel.dataset_scanned, timeout=WAIT_MS):
        data.b_row.choose(str(tmp_path / "B"))
    text = data.summary_text()
    assert "Pairs found: 3" in text
    assert "In A without a partner in B: 1 (only_in_a.png)" in text       # cat.png is not "without a partner"
    assert "In A whose partner in B cannot be used: 1 (cat.png)" in text
    assert "Unreadable or unusable files skipped: 1" in text              # B/cat.png itself
    rows = {(side, name): why for side, name, why in data.unused_rows()}
    assert rows[("A", "only_in_a.png")] == "no partner of that name"
    reason = rows[("B", "cat.png")]                                       # the loader's own words
    assert reason and reason != "no partner of that name"
    assert rows[("A", "cat.png")] == f"its partner B/cat.png is unreadable: {reason}"


def test_unpaired_folders_are_counted(qtbot, make_panel, tiny_folder, tmp_path):
    smooth_images(tmp_path / "day", n=3, size=24)
    smooth_images(tmp_path / "night", n=5, size=24, seed=2)
    panel = make_panel(tiny_folder)
    choose_task(panel, "translate")
    data = panel.translate_data
    data.mode.setCurrentIndex(data.mode.findData("unpaired"))
    data.a_row.choose(str(tmp_path / "day"))
    with qtbot.waitSignal(panel.dataset_scanned, timeout=WAIT_MS) as blocker:
        data.b_row.choose(str(tmp_path / "night"))
    assert blocker.args == [8]
    assert "Images in A: 3 · in B: 5" in data.summary_text() and panel.start_button.isEnabled()


def test_small_images_get_a_size_note_with_a_one_click_fit(qtbot, make_panel, tiny_folder, tmp_path):
    names = [f"g{i}" for i in range(4)]
    smooth_images(tmp_path / "A", names=names, size=40, grey=True)
    smooth_images(tmp_path / "B", names=names, size=48, seed=1)
    smooth_images(tmp_path / "A", names=["big"], size=400)       # one large pair does not change the verdict
    smooth_images(tmp_path / "B", names=["big"], size=400)
    panel = make_panel(tiny_folder)
    choose_task(panel, "translate")
    data, tr = panel.translate_data, panel.form.translate
    tr.load_size.setValue(286)                 # the defaults: most images would be enlarged 6x
    tr.crop_size.setValue(256)
    data.a_row.choose(str(tmp_path / "A"))
    with qtbot.waitSignal(panel.dataset_scanned, timeout=WAIT_MS):
        data.b_row.choose(str(tmp_path / "B"))
    report = panel.translate_report()
    assert (report.min_side, report.median_side) == (40, 48)     # A and B sides together
    note = data.size_note
    assert note.isVisibleTo(panel)
    assert "Half of your images are 48 px" in note.text() and "enlarged 6.0×" in note.text()
    assert "Train&nbsp;at&nbsp;48&nbsp;px" in note.text()
    note.linkActivated.emit("fix")             # as a click on the link
    assert (tr.load_size.value(), tr.crop_size.value()) == (48, 48)
    assert not note.isVisibleTo(panel)
    assert tr.options(data.data()).crop_size == 48
    tr.load_size.setValue(0)                   # native size, but crops larger than the smallest images
    tr.crop_size.setValue(64)
    assert note.isVisibleTo(panel) and "do not fit in the smallest images (40 px" in note.text()
    note.linkActivated.emit("fix")             # crops that fit; native size kept
    assert (tr.load_size.value(), tr.crop_size.value()) == (0, 32) and not note.isVisibleTo(panel)


def test_resuming_an_upscaler_run_switches_task_and_charts_its_history(qtbot, make_panel, tiny_folder, prefs,
                                                                       tmp_path):
    sr = tmp_path / "sr"
    smooth_images(sr)
    run = tiny_upscale_run(prefs.resolved_runs_dir() / "sr-upscale-earlier", sr)
    panel = make_panel(tiny_folder)
    qtbot.waitUntil(lambda: len(panel.runs_list.runs()) == 1, timeout=WAIT_MS)
    assert panel.runs_list.select_run(run)
    panel.form.steps.setValue(2)          # the finished run continues for 2 more steps
    with qtbot.waitSignal(panel.training_finished, timeout=WAIT_MS) as blocker:
        click(qtbot, panel.runs_list.resume_button)
    assert blocker.args[0].reason == "completed" and blocker.args[0].step == 6
    assert panel.task() == "upscale"
    chart = panel.loss_chart
    qtbot.waitUntil(lambda: chart.evaluation_count("psnr") == 3, timeout=WAIT_MS)   # steps 2, 4 before; 6 now
    assert chart.point_count() == 3 and "time" not in chart.series_names()


def test_runs_list_names_each_runs_task_and_model(qtbot, make_panel, tiny_folder, prefs, tmp_path):
    sr = tmp_path / "sr"
    smooth_images(sr)
    tiny_upscale_run(prefs.resolved_runs_dir() / "an-upscaler", sr, steps=2)
    gan = prefs.resolved_runs_dir() / "a-gan"
    train(TrainConfig(steps=2, batch_size=4, threads=1, precision="fp32", log_every=1, sample_every=2),
          GanOptions(str(tiny_folder), "seed-dcgan-16"), gan)
    panel = make_panel(tiny_folder)
    qtbot.waitUntil(lambda: len(panel.runs_list.runs()) == 2, timeout=WAIT_MS)
    tree = panel.runs_list.tree
    rows = {tree.topLevelItem(i).text(0): (tree.topLevelItem(i).text(1), tree.topLevelItem(i).text(2))
            for i in range(tree.topLevelItemCount())}
    assert rows == {"an-upscaler": ("Upscale", "×2 compact"), "a-gan": ("GAN", "seed-dcgan-16")}
    panel.runs_list.select_run(gan)
    assert panel.runs_list.generate_button.isVisibleTo(panel) and not panel.runs_list.upscale_button.isVisibleTo(panel)
