"""The Translate task through the one trainer: pix2pix and CycleGAN train, preview, validate,
checkpoint and resume exactly; the run folder opens as a translator."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from ganstudio.core import events as ev
from ganstudio.core.checkpoint import latest_checkpoint, read_checkpoint
from ganstudio.core.config import TrainConfig
from ganstudio.core.errors import ConfigError
from ganstudio.core.tasks import TaskContext, get_task
from ganstudio.core.trainer import resume_run, train
from ganstudio.core.translate import CycleGanTask, Pix2PixTask, TranslateOptions
from ganstudio.core.translate.inference import load_translator, translate_array
from ganstudio.core.translate.task import validation_split
from tests.core.test_translate_data import make_pairs, one_thread  # noqa: F401 (autouse fixture)

TINY = dict(load_size=16, crop_size=16, ngf=4, ndf=4, n_blocks=1, d_layers=2, preview_count=3)


def _config(steps: int, **kw) -> TrainConfig:
    base = dict(task="translate", steps=steps, batch_size=2, log_every=2, sample_every=2, eval_every=2,
                checkpoint_every=2, precision="fp32", threads=1)
    return TrainConfig(**{**base, **kw})


@pytest.fixture
def pairs(tmp_path):
    return make_pairs(tmp_path / "data", n=24, size=(16, 20))


def test_task_registry_and_options_validation(pairs):
    assert get_task("translate").Options is TranslateOptions
    a, b = map(str, pairs)
    with pytest.raises(ConfigError, match="mode"):
        TranslateOptions(mode="both", a_dir=a, b_dir=b)
    with pytest.raises(ConfigError, match="multiple of 32"):
        TranslateOptions(a_dir=a, b_dir=b, load_size=40, crop_size=40, depth=5)
    with pytest.raises(ConfigError, match="A and B folders"):
        TranslateOptions(a_dir=a)
    assert TranslateOptions(a_dir=a, b_dir=b, crop_size=64, load_size=64).resolved_depth == 6
    assert TranslateOptions(a_dir=a, mode="unpaired", b_dir=b).resolved_norm == "instance"


def test_validation_split_is_every_tenth_by_name():
    train_idx, val = validation_split(100, 0.1, 1000)
    assert val == list(range(9, 100, 10)) and len(train_idx) == 90
    assert validation_split(100, 0.1, 3)[1] == [9, 19, 29]
    assert validation_split(10, 0.1, 1000) == (list(range(10)), [])   # too few pairs to spare any


def test_pix2pix_trains_validates_and_exports(tmp_path, pairs):
    opts = TranslateOptions(a_dir=str(pairs[0]), b_dir=str(pairs[1]), **TINY)
    events = []
    fin = train(_config(4), opts, tmp_path / "run", observers=[events.append])
    assert fin.reason == "completed" and fin.step == 4
    steps = [e for e in events if isinstance(e, ev.StepEnded)]
    assert steps and all(math.isfinite(v) for e in steps for v in e.metrics.values())
    assert {"loss_d", "loss_g", "l1", "d_real", "d_fake"} <= set(steps[-1].metrics)
    evals = [e for e in events if isinstance(e, ev.EvaluationDone)]
    assert evals and 0 <= evals[-1].metrics["l1"] <= 1 and -1 <= evals[-1].metrics["ssim"] <= 1
    preview = [e for e in events if isinstance(e, ev.SamplesReady)][-1].image
    # three rows (examples) of input | output | target, 16 px each with 2 px gaps, transparent in the app
    assert preview.dtype == np.uint8 and preview.shape == (3 * 18 + 2, 3 * 18 + 2, 4)
    assert (preview[:2, :, 3] == 0).all() and (preview[2:18, 2:18, 3] == 255).all()
    started = next(e for e in events if isinstance(e, ev.Started))
    assert started.dataset_size == 22   # 24 pairs, 2 held out (every 10th)

    ckpt = read_checkpoint(latest_checkpoint(tmp_path / "run"))
    assert {k.split("/")[1] for k in ckpt.tensors if k.startswith("model/")} == {"G", "D", "G_ema"}
    model = load_translator(tmp_path / "run", device="cpu", precision="fp32")
    assert model.directions == ["AtoB"] and model.info["generators"]["AtoB"]["module"] == "G_ema"
    out = translate_array(model, np.zeros((21, 35, 3), np.uint8))
    assert out.shape == (21, 35, 3)


def test_cyclegan_trains_with_grey_to_colour_and_keeps_its_pool(tmp_path):
    a, b = make_pairs(tmp_path / "data", n=6, size=(18, 22), grey_a=True)
    opts = TranslateOptions(mode="unpaired", a_dir=str(a), b_dir=str(b), pool_size=5, **TINY)
    notes = []
    fin = train(_config(4), opts, tmp_path / "run", observers=[notes.append])
    assert fin.reason == "completed" and all(math.isfinite(v) for v in fin.metrics.values())
    assert any(isinstance(e, ev.HealthNote) and "identity loss is off" in e.message for e in notes)
    ckpt = read_checkpoint(latest_checkpoint(tmp_path / "run"))
    assert ckpt.group("extra")["pool_A"].shape == (5, 1, 16, 16)
    assert ckpt.group("extra")["pool_B"].shape == (5, 3, 16, 16)
    model = load_translator(tmp_path / "run", device="cpu", precision="fp32")
    assert model.directions == ["AtoB", "BtoA"]
    assert translate_array(model, np.zeros((9, 13), np.uint8), "AtoB").shape == (9, 13, 3)


def test_pool_round_trips_through_extra_state(pairs):
    opts = TranslateOptions(mode="unpaired", a_dir=str(pairs[0]), b_dir=str(pairs[1]), pool_size=3, **TINY)
    ctx = TaskContext(_config(3), torch.device("cpu"), None)
    task = CycleGanTask(opts, ctx)
    empty = task.extra_tensors()
    assert empty["pool_A"].shape == (0, 3, 16, 16)
    for step in range(3):
        task.train_step(step)
    saved, state = task.extra_tensors(), json.loads(json.dumps(task.extra_state()))
    other = get_task("translate")(opts, ctx)
    assert isinstance(other, CycleGanTask)
    other.load_extra_tensors(saved)
    other.load_extra_state(state)
    assert all(torch.equal(saved[k], other.extra_tensors()[k]) for k in saved)
    assert other.sampler_a.state() == task.sampler_a.state()


@pytest.mark.parametrize("mode", ["paired", "unpaired"])
def test_resume_reproduces_the_uninterrupted_run(tmp_path, pairs, mode):
    opts = TranslateOptions(mode=mode, a_dir=str(pairs[0]), b_dir=str(pairs[1]), pool_size=3, zoom=0.1, **TINY)
    train(_config(4), opts, tmp_path / "straight")
    train(_config(2), opts, tmp_path / "resumed")
    resume_run(tmp_path / "resumed", steps=4)
    one = read_checkpoint(latest_checkpoint(tmp_path / "straight"))
    two = read_checkpoint(latest_checkpoint(tmp_path / "resumed"))
    assert one.step == two.step == 4
    for key, value in one.tensors.items():
        if key.startswith(("model/", "extra/")):
            assert torch.equal(value, two.tensors[key]), key


def test_side_by_side_pairs_train(tmp_path):
    from PIL import Image

    folder = tmp_path / "sbs"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(4):
        a = (rng.random((16, 16, 3)) * 255).astype(np.uint8)
        Image.fromarray(np.concatenate([a, 255 - a], axis=1)).save(folder / f"{i}.png")
    opts = TranslateOptions(a_dir=str(folder), side_by_side=True, **TINY)
    task = get_task("translate")(opts, TaskContext(_config(1), torch.device("cpu"), None))
    assert isinstance(task, Pix2PixTask) and task.dataset_size == 4
    assert torch.equal(task.train.b[0], 255 - task.train.a[0])
    assert all(torch.isfinite(v) for v in task.train_step(0).values())


def test_learning_rates_decay_over_the_last_half_and_keep_nan_cuts(pairs):
    opts = TranslateOptions(a_dir=str(pairs[0]), b_dir=str(pairs[1]), lr_decay=0.5, **TINY)
    task = get_task("translate")(opts, TaskContext(_config(10, lr_g=4e-4, lr_d=2e-4), torch.device("cpu"), None))

    def lrs() -> tuple[float, float]:
        return task.opt_G.param_groups[0]["lr"], task.opt_D.param_groups[0]["lr"]

    task.train_step(0)
    assert lrs() == pytest.approx((4e-4, 2e-4))
    task.train_step(8)                         # 2 of the last 5 steps left
    assert lrs() == pytest.approx((4e-4 * 0.4, 2e-4 * 0.4))
    task.scale_learning_rates(0.5)             # NaN recovery's cut survives the schedule
    task.train_step(5)
    assert lrs() == pytest.approx((2e-4, 1e-4))


def test_a_clean_finish_turns_shifts_and_zoom_off_for_the_last_share_of_the_run(pairs):
    with pytest.raises(ConfigError, match="clean_finish"):
        TranslateOptions(a_dir=str(pairs[0]), b_dir=str(pairs[1]), clean_finish=1.5, **TINY)
    opts = TranslateOptions(a_dir=str(pairs[0]), b_dir=str(pairs[1]), shift=0.25, zoom=0.2, flip=True,
                            clean_finish=0.3, **TINY)
    task = get_task("translate")(opts, TaskContext(_config(10), torch.device("cpu"), None))
    task.train_step(0)
    assert (task.aug.shift, task.aug.zoom) == (0.25, 0.2)
    task.train_step(6)                      # 40% of the run left
    assert (task.aug.shift, task.aug.zoom) == (0.25, 0.2)
    task.train_step(7)                      # the last 30%: the pairs as they are (flips stay)
    assert (task.aug.shift, task.aug.zoom, task.aug.flip) == (0.0, 0.0, True)
    resumed = get_task("translate")(opts, TaskContext(_config(10), torch.device("cpu"), None))
    resumed.train_step(9)                   # a run resumed inside the clean share is clean too
    assert (resumed.aug.shift, resumed.aug.zoom) == (0.0, 0.0)


def _enlargement_notes(task) -> list[str]:
    return [text for level, text in task.startup_notes if level == "warning" and "enlarged" in text]


def test_a_load_size_that_enlarges_most_images_is_reported_with_the_size_that_suits_them(tmp_path, pairs):
    from PIL import Image

    ctx = TaskContext(_config(2), torch.device("cpu"), None)
    small = dict(TINY, load_size=32, crop_size=16)          # 16x20 images enlarged 2x
    task = Pix2PixTask(TranslateOptions(a_dir=str(pairs[0]), b_dir=str(pairs[1]), **small), ctx)
    assert task.data.native_side == 16
    assert _enlargement_notes(task) == [
        "Half of the images are 16 px or smaller on their shorter side: resized to 32 px they are enlarged 2.0x, "
        "which adds no detail and makes each step about 4x slower. A resize (load_size) and crop size of 16 px "
        "suits them."]
    assert _enlargement_notes(Pix2PixTask(TranslateOptions(a_dir=str(pairs[0]), b_dir=str(pairs[1]), **TINY),
                                          ctx)) == []      # 16 px: as they are
    sbs = tmp_path / "sbs"
    sbs.mkdir()
    for i, height in enumerate((20, 20, 200)):                 # halves of 24x20 (twice) and 240x200
        Image.new("RGB", (48 if height == 20 else 480, height), (i * 40, 0, 0)).save(sbs / f"p{i}.png")
    task = Pix2PixTask(TranslateOptions(a_dir=str(sbs), side_by_side=True, **small), ctx)
    assert task.data.native_side == 20 and "enlarged 1.6x" in _enlargement_notes(task)[0]
    task = CycleGanTask(TranslateOptions(mode="unpaired", a_dir=str(pairs[0]), b_dir=str(sbs), **small), ctx)
    assert task.data.native_side == 16 and len(_enlargement_notes(task)) == 1


def test_pairs_of_different_shapes_and_square_side_by_side_images_are_pointed_out(tmp_path, pairs):
    from PIL import Image

    ctx = TaskContext(_config(2), torch.device("cpu"), None)
    a_dir, b_dir = pairs
    wide = sorted(b_dir.iterdir())[0]
    Image.new("RGB", (40, 20)).save(wide)                      # 20x16 in A, 40x20 in B
    task = Pix2PixTask(TranslateOptions(a_dir=str(a_dir), b_dir=str(b_dir), **TINY), ctx)
    shaped = [t for level, t in task.startup_notes if "different shape" in t]
    assert len(shaped) == 1 and shaped[0].startswith(f"1 pair(s) have a different shape in A and B ({wide.stem}")
    assert "20x16 in A, 40x20 in B" in shaped[0]

    def strip_notes(folder):
        task = Pix2PixTask(TranslateOptions(a_dir=str(folder), side_by_side=True, **TINY), ctx)
        return [t for level, t in task.startup_notes if "ordinary pictures" in t]

    square = tmp_path / "square"
    square.mkdir()
    for i in range(4):
        Image.new("RGB", (20, 20), (i * 40, 0, 0)).save(square / f"{i}.png")
    assert len(strip_notes(square)) == 1
    real = tmp_path / "real"
    real.mkdir()
    for i in range(4):
        Image.new("RGB", (40, 20), (i * 40, 0, 0)).save(real / f"{i}.png")
    assert strip_notes(real) == []


def test_pairs_whose_partner_is_broken_are_named_when_training_starts(pairs):
    a_dir, b_dir = pairs
    broken = sorted(b_dir.iterdir())[0]
    broken.write_bytes(b"\x89PNG\r\n\x1a\n not really")
    task = Pix2PixTask(TranslateOptions(a_dir=str(a_dir), b_dir=str(b_dir), **TINY),
                       TaskContext(_config(2), torch.device("cpu"), None))
    said = [t for level, t in task.startup_notes if level == "warning" and "partner" in t]
    assert len(said) == 1 and said[0].startswith("1 file(s) in A are not used because their partner in B cannot be "
                                                 f"used (e.g. {broken.stem}")
    assert f"whose partner {broken.name} was skipped: " in said[0]


def test_settings_that_a_run_never_reads_are_named(pairs):
    a, b = map(str, pairs)
    cycle = TranslateOptions(mode="unpaired", a_dir=a, b_dir=b, l1_weight=5, split="B|A", depth=3, **TINY)
    assert cycle.unused_settings() == ["split (side-by-side pairs)", "l1_weight (paired training)",
                                       "depth (the U-Net generator)"]
    task = CycleGanTask(cycle, TaskContext(_config(1), torch.device("cpu"), None))
    assert any(level == "warning" and "ignored: split (side-by-side pairs)" in text
               for level, text in task.startup_notes)
    assert TranslateOptions(a_dir=a, b_dir=b, **{**TINY, "n_blocks": 9}).unused_settings() == []


def test_notes_about_the_data_are_said_as_training_starts(tmp_path, pairs):
    a, b = map(str, pairs)
    events = []
    train(_config(4, log_every=2), TranslateOptions(a_dir=a, b_dir=b, **{**TINY, "n_blocks": 2}), tmp_path / "run",
          observers=[events.append])
    kinds = [(type(e).__name__, getattr(e, "message", "")) for e in events]
    note = next(i for i, (k, m) in enumerate(kinds) if "ignored: n_blocks" in m)
    first_step = next(i for i, (k, _) in enumerate(kinds) if k == "StepEnded")
    assert note < first_step and events[note].step == 0
