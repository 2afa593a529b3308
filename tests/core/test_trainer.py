"""The trainer end to end on tiny folders: real steps on the CPU, real files on disk."""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors import SafetensorError

from ganstudio.core import events as ev
from ganstudio.core.checkpoint import latest_checkpoint, list_step_checkpoints, read_checkpoint
from ganstudio.core.config import TrainConfig
from ganstudio.core.errors import CheckpointError, ConfigError, DatasetError
from ganstudio.core.gan import GanOptions
from ganstudio.core.trainer import PauseControl, resume_run, train


def small_config(**kw) -> TrainConfig:
    base = dict(steps=6, batch_size=4, log_every=2, sample_every=3, checkpoint_every=3, precision="fp32",
                threads=1, deterministic=True, seed=3)
    base.update(kw)
    return TrainConfig(**base)


def collect():
    events = []
    return events, events.append


@pytest.mark.parametrize("preset,loss", [("seed-dcgan-16", "bce"), ("dcgan-32", "lsgan"), ("dcgan-64", "hinge"),
                                         ("mlp-gan-28", "bce"), ("dcgan-128", "bce")])
def test_each_model_and_loss_trains_with_finite_losses(tmp_path, image_folder, preset, loss):
    events, obs = collect()
    width = 8 if preset.startswith("dcgan") else None
    fin = train(small_config(steps=4, checkpoint_every=100), GanOptions(str(image_folder), preset, loss=loss, width=width),
                tmp_path / "run", observers=[obs])
    assert fin.reason == "completed" and fin.step == 4
    steps = [e for e in events if isinstance(e, ev.StepEnded)]
    assert steps and all(math.isfinite(v) for e in steps for v in e.metrics.values())
    assert {"loss_d", "loss_g", "d_real", "d_fake"} <= set(steps[-1].metrics)
    assert fin.checkpoint is not None and fin.checkpoint.exists()


def test_cpu_training_keeps_freed_memory_for_the_next_step(tmp_path, image_folder, monkeypatch):
    from ganstudio.core import trainer as trainer_module

    calls = []
    monkeypatch.setattr(trainer_module, "keep_freed_memory", lambda: calls.append(1) or True)
    fin = train(small_config(steps=2), GanOptions(str(image_folder), "seed-dcgan-16"), tmp_path / "run")
    assert fin.reason == "completed" and calls == [1]


def test_run_directory_layout_and_events(tmp_path, image_folder):
    events, obs = collect()
    run = tmp_path / "run"
    fin = train(small_config(), GanOptions(str(image_folder), "seed-dcgan-16"), run, observers=[obs])
    assert (run / "config.json").is_file()
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == [2, 4, 6]
    assert (run / "samples" / "step-00000003.png").is_file() and (run / "samples" / "latest.png").is_file()
    assert [s for s, _ in list_step_checkpoints(run / "checkpoints")] == [3, 6]
    kinds = [type(e) for e in events]
    assert kinds[0] is ev.Started and kinds[-1] is ev.Finished
    samples = [e for e in events if isinstance(e, ev.SamplesReady)]
    assert samples[0].image.dtype.name == "uint8" and samples[0].image.shape[2] == 4   # gaps transparent
    from PIL import Image
    with Image.open(run / "samples" / "latest.png") as saved:       # on file: white gaps
        assert saved.mode == "RGB" and saved.getpixel((0, 0)) == (255, 255, 255)
        assert np.array_equal(np.asarray(saved), samples[-1].image[..., :3])
    assert fin.checkpoint == latest_checkpoint(run)


def test_the_clock_refreshes_the_live_preview_between_kept_ones_without_changing_training(tmp_path, image_folder,
                                                                                           monkeypatch):
    from ganstudio.core import trainer as trainer_module

    monkeypatch.setattr(trainer_module, "PREVIEW_COST_FACTOR", 0)   # no throttling: see the next test

    def run(name, seconds):
        events, obs = collect()
        fin = train(small_config(sample_seconds=seconds), GanOptions(str(image_folder), "dcgan-32", width=8),
                    tmp_path / name, observers=[obs])
        return fin, [e for e in events if isinstance(e, ev.SamplesReady)]

    fin_clock, clock = run("clock", 1e-9)    # every step is "late": a refresh after each one
    fin_steps, steps = run("steps", None)
    assert [e.step for e in steps] == [3, 6]
    assert [e.step for e in clock] == [1, 2, 3, 4, 5, 6]
    samples = tmp_path / "clock" / "samples"
    assert sorted(p.name for p in samples.glob("*.png")) == ["latest.png", "step-00000003.png", "step-00000006.png"]
    assert clock[1].path == samples / "latest.png" and clock[2].path == samples / "step-00000003.png"
    from PIL import Image
    with Image.open(samples / "latest.png") as im:
        assert im.text["ganstudio:step"] == "6"
    # previews run the EMA generator only: the trained weights are the same either way
    a, b = read_checkpoint(fin_clock.checkpoint), read_checkpoint(fin_steps.checkpoint)
    assert a.tensors.keys() == b.tensors.keys()
    assert all(torch.equal(a.tensors[k], b.tensors[k]) for k in a.tensors)


def test_clock_refreshes_wait_for_many_times_their_own_cost(tmp_path, image_folder, monkeypatch):
    from ganstudio.core import trainer as trainer_module

    monkeypatch.setattr(trainer_module, "PREVIEW_COST_FACTOR", 1e6)  # any preview "costs" a very long wait
    events, obs = collect()
    train(small_config(sample_seconds=1e-9), GanOptions(str(image_folder), "dcgan-32", width=8), tmp_path / "run",
          observers=[obs])
    # the first refresh is due at once; after it the next clock refresh waits, so only the kept ones follow
    assert [e.step for e in events if isinstance(e, ev.SamplesReady)] == [1, 3, 6]


def test_sample_seconds_must_be_positive():
    with pytest.raises(ConfigError, match="sample_seconds"):
        small_config(sample_seconds=0)


def test_keep_last_k_checkpoints(tmp_path, image_folder):
    run = tmp_path / "run"
    train(small_config(steps=8, checkpoint_every=1, keep_checkpoints=2), GanOptions(str(image_folder), "seed-dcgan-16"), run)
    assert [s for s, _ in list_step_checkpoints(run / "checkpoints")] == [7, 8]


def test_refuses_to_overwrite_an_existing_run(tmp_path, image_folder):
    run = tmp_path / "run"
    train(small_config(steps=2), GanOptions(str(image_folder), "seed-dcgan-16"), run)
    with pytest.raises(ConfigError, match="already holds a run"):
        train(small_config(steps=2), GanOptions(str(image_folder), "seed-dcgan-16"), run)


def test_resume_equals_an_uninterrupted_run(tmp_path, image_folder):
    opts = GanOptions(str(image_folder), "dcgan-32", width=8, hflip=True, fit="random-crop")
    train(small_config(steps=8, checkpoint_every=4), opts, tmp_path / "full")
    # interrupted at step 4 (stop requested), then resumed to 8
    flag = {"stop": False}

    def observer(e):
        if isinstance(e, ev.StepEnded) and e.step == 4:
            flag["stop"] = True

    fin = train(small_config(steps=8, checkpoint_every=4), opts, tmp_path / "split", observers=[observer],
                should_stop=lambda: flag["stop"])
    assert fin.reason == "stopped" and fin.step == 4
    fin2 = resume_run(tmp_path / "split")
    assert fin2.reason == "completed" and fin2.step == 8
    a = read_checkpoint(latest_checkpoint(tmp_path / "full"))
    b = read_checkpoint(latest_checkpoint(tmp_path / "split"))
    for key in a.tensors:
        if key.startswith(("model/", "optim/")):
            assert torch.equal(a.tensors[key], b.tensors[key]), key
    full = [json.loads(x) for x in (tmp_path / "full" / "metrics.jsonl").read_text().splitlines()]
    split = [json.loads(x) for x in (tmp_path / "split" / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in split] == [r["step"] for r in full]
    assert [r["loss_d"] for r in split] == [r["loss_d"] for r in full]


def test_stop_leaves_a_checkpoint(tmp_path, image_folder):
    flag = {"stop": False}

    def observer(e):
        if isinstance(e, ev.StepEnded) and e.step == 2:
            flag["stop"] = True

    fin = train(small_config(steps=100, checkpoint_every=1000), GanOptions(str(image_folder), "seed-dcgan-16"),
                tmp_path / "run", observers=[observer], should_stop=lambda: flag["stop"])
    assert fin.reason == "stopped" and fin.step == 2
    assert read_checkpoint(fin.checkpoint).step == 2


def test_pause_blocks_until_resumed(tmp_path, image_folder):
    import threading

    pause = PauseControl()
    events, obs = collect()
    seen_pause = threading.Event()

    def observer(e):
        obs(e)
        if isinstance(e, ev.StepEnded) and e.step == 2:
            pause.pause()
        if isinstance(e, ev.Paused):
            seen_pause.set()

    t = threading.Thread(target=train, args=(small_config(steps=4), GanOptions(str(image_folder), "seed-dcgan-16"),
                                             tmp_path / "run"), kwargs={"observers": [observer], "pause": pause})
    t.start()
    assert seen_pause.wait(30)
    steps_before = max(e.step for e in events if isinstance(e, ev.StepEnded))
    assert steps_before == 2
    pause.resume()
    t.join(60)
    assert not t.is_alive()
    assert isinstance(events[-1], ev.Finished) and events[-1].step == 4
    assert any(isinstance(e, ev.Resumed) for e in events)


def test_nan_losses_recover_then_give_up(tmp_path, image_folder, monkeypatch):
    from ganstudio.core import gan

    real_step = gan.GanTask.train_step

    def poisoned(self, step):
        out = real_step(self, step)
        if step >= 3:
            out["loss_d"] = torch.tensor(float("nan"))
        return out

    monkeypatch.setattr(gan.GanTask, "train_step", poisoned)
    events, obs = collect()
    fin = train(small_config(steps=20, checkpoint_every=2), GanOptions(str(image_folder), "seed-dcgan-16"),
                tmp_path / "run", observers=[obs])
    assert fin.reason == "diverged"
    notes = [e.message for e in events if isinstance(e, ev.HealthNote)]
    assert sum("halved the learning rates" in n for n in notes) == 3
    assert latest_checkpoint(tmp_path / "run") is not None  # the last good checkpoint is kept


def test_corrupt_checkpoint_is_refused_with_its_name(tmp_path, image_folder):
    run = tmp_path / "run"
    fin = train(small_config(steps=2), GanOptions(str(image_folder), "seed-dcgan-16"), run)
    data = fin.checkpoint.read_bytes()
    fin.checkpoint.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match=fin.checkpoint.name):
        read_checkpoint(fin.checkpoint)
    with pytest.raises(CheckpointError):
        resume_run(run)


class _Payload:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        import os
        return (os.system, (f"touch {self.marker}",))


@pytest.mark.parametrize("suffix", [".safetensors", ".pt"])
def test_pickle_renamed_as_checkpoint_is_refused_and_not_executed(tmp_path, suffix):
    import pickle

    from ganstudio.core.generate import load_generator

    marker = tmp_path / "pwned"
    evil = tmp_path / f"model{suffix}"
    evil.write_bytes(pickle.dumps(_Payload(marker)))
    with pytest.raises(CheckpointError):
        read_checkpoint(evil)
    with pytest.raises(CheckpointError):
        load_generator(evil)
    assert not marker.exists()


def test_foreign_safetensors_is_refused(tmp_path):
    from safetensors.torch import save_file

    p = tmp_path / "other.safetensors"
    save_file({"w": torch.zeros(2)}, str(p))
    with pytest.raises(CheckpointError, match="not a GAN Studio checkpoint"):
        read_checkpoint(p)


def test_config_validation_messages():
    with pytest.raises(ConfigError, match="step limit or a time limit"):
        TrainConfig(steps=None, minutes=None)
    with pytest.raises(ConfigError, match="Only"):
        GanOptions("x", "dcgan-64", loss="wasserstein")


def test_time_limit_stops_the_run(tmp_path, image_folder):
    fin = train(small_config(steps=None, minutes=0.02), GanOptions(str(image_folder), "seed-dcgan-16"), tmp_path / "run")
    assert fin.reason == "time-limit" and fin.step > 0 and fin.checkpoint is not None


@pytest.mark.parametrize("error", [
    OSError(28, "No space left on device"),
    # what safetensors really raises: its own error type, not an OSError
    SafetensorError("Error while serializing: I/O error: No space left on device (os error 28)"),
])
def test_full_disk_during_checkpoint_is_reported_and_training_goes_on(tmp_path, image_folder, monkeypatch, error):
    from ganstudio.core import checkpoint as ck

    def full(*a, **k):
        raise error

    monkeypatch.setattr(ck, "save_file", full)
    events, obs = collect()
    fin = train(small_config(steps=4, checkpoint_every=2), GanOptions(str(image_folder), "seed-dcgan-16"),
                tmp_path / "run", observers=[obs])
    assert fin.step == 4          # the failed save at step 2 did not stop training
    notes = [e.message for e in events if isinstance(e, ev.HealthNote) and e.level == "error"]
    assert len(notes) == 2 and all("the disk is full" in n for n in notes)
    assert "Training goes on" in notes[0] and "Training goes on" not in notes[1]
    # the run's end is not reported as a success: its last steps are not on disk
    assert fin.reason == "error" and "could not be saved" in fin.message and fin.checkpoint is None
    assert not list((tmp_path / "run" / "checkpoints").glob("*.tmp"))


def test_full_disk_for_the_metrics_file_is_said_once_and_training_goes_on(tmp_path, image_folder, monkeypatch):
    import builtins
    import errno

    from ganstudio.core import trainer as trainer_module

    class FullFile:
        def __init__(self, f):
            self.f = f

        def write(self, text):
            raise OSError(errno.ENOSPC, "No space left on device")

        def __getattr__(self, name):
            return getattr(self.f, name)

    def open_full(path, *a, **k):
        f = builtins.open(path, *a, **k)
        return FullFile(f) if str(path).endswith(trainer_module.METRICS_NAME) else f

    monkeypatch.setattr(trainer_module, "open", open_full, raising=False)
    events, obs = collect()
    fin = train(small_config(steps=6), GanOptions(str(image_folder), "seed-dcgan-16"), tmp_path / "run",
                observers=[obs])
    assert fin.reason == "completed" and fin.step == 6 and fin.checkpoint is not None
    notes = [e.message for e in events if isinstance(e, ev.HealthNote) and "metrics.jsonl" in e.message]
    assert len(notes) == 1 and "the disk is full" in notes[0]
    assert len([e for e in events if isinstance(e, ev.StepEnded)]) == 3   # the live chart still gets every record


def test_a_run_whose_images_moved_resumes_from_their_new_place(tmp_path, image_folder):
    import shutil

    from ganstudio.core.trainer import load_run_config, missing_data_folders, relocate_data

    data = tmp_path / "pictures"
    shutil.copytree(image_folder, data)
    run = tmp_path / "run"
    train(small_config(steps=2), GanOptions(str(data), "seed-dcgan-16"), run)
    moved = data.rename(tmp_path / "pictures-2026")
    assert missing_data_folders(load_run_config(run)[1]) == {"data": str(data)}
    with pytest.raises(DatasetError, match="does not exist"):
        resume_run(run, steps=4)
    with pytest.raises(ConfigError, match="no image folder called a_dir"):
        relocate_data(run, {"a_dir": str(moved)})
    with pytest.raises(ConfigError, match="is not a folder"):
        relocate_data(run, {"data": str(tmp_path / "nowhere")})

    fin = resume_run(run, steps=4, data={"data": str(moved)})
    assert fin.reason == "completed" and fin.step == 4
    assert load_run_config(run)[1].data == str(moved)            # saved: the next resume finds them too
    assert resume_run(run, steps=5).step == 5


def test_two_runs_with_one_seed_are_identical_through_the_faster_cpu_gradients(tmp_path, image_folder, monkeypatch):
    from ganstudio.core import fastconv
    calls = []
    real = fastconv.weight_grad_gemm
    monkeypatch.setattr(fastconv, "weight_grad_gemm", lambda *a, **k: calls.append(1) or real(*a, **k))
    opts = GanOptions(str(image_folder), "seed-dcgan-16")
    for name in ("a", "b"):
        train(small_config(steps=5, checkpoint_every=5), opts, tmp_path / name)
    assert calls   # the GAN task switched its strided layers to the matrix-product weight gradient
    a = read_checkpoint(latest_checkpoint(tmp_path / "a"))
    b = read_checkpoint(latest_checkpoint(tmp_path / "b"))
    assert a.tensors.keys() == b.tensors.keys()
    for key in a.tensors:
        assert torch.equal(a.tensors[key], b.tensors[key]), key


def test_a_preset_that_enlarges_the_images_says_which_preset_fits_them(tmp_path, image_folder):
    events, obs = collect()        # image_folder: 24 images of about 20x18 px
    train(small_config(steps=2), GanOptions(str(image_folder), "dcgan-32"), tmp_path / "run", observers=[obs])
    notes = [e.message for e in events if isinstance(e, ev.HealthNote) and "enlarges" in e.message]
    assert len(notes) == 1
    assert "dcgan-32 enlarges them" in notes[0] and "to 32 px" in notes[0]
    assert notes[0].endswith("The seed-dcgan-16 preset fits them.")
    events, obs = collect()
    train(small_config(steps=2), GanOptions(str(image_folder), "seed-dcgan-16"), tmp_path / "run16", observers=[obs])
    assert not any(isinstance(e, ev.HealthNote) and "enlarges" in e.message for e in events)


def test_the_enlargement_note_names_a_packed_set(tmp_path):
    from tests.core.test_data import write_cifar

    write_cifar(tmp_path / "cifar" / "data_batch_1.bin", np.zeros((8, 3, 32, 32), np.uint8))
    events, obs = collect()
    train(small_config(steps=1), GanOptions(str(tmp_path / "cifar"), "dcgan-64"), tmp_path / "run", observers=[obs])
    notes = [e.message for e in events if isinstance(e, ev.HealthNote) and "enlarges" in e.message]
    assert len(notes) == 1 and notes[0].startswith("The images of this CIFAR-10 set are 32 px: dcgan-64 enlarges")


def test_a_run_that_cannot_start_leaves_nothing_behind(tmp_path, image_folder):
    """Bad images or options leave no half-made run: the same folder is simply used again."""
    empty = tmp_path / "empty"
    empty.mkdir()
    run = tmp_path / "runs" / "first"
    with pytest.raises(DatasetError, match="No usable images"):
        train(small_config(steps=2), GanOptions(str(empty), "seed-dcgan-16"), run)
    assert not run.exists()
    with pytest.raises(DatasetError):
        train(small_config(steps=2), GanOptions(str(tmp_path / "missing"), "seed-dcgan-16"), run)
    assert not run.exists()
    # a folder the user made (with something of theirs in it) is kept as it was
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep me")
    with pytest.raises(DatasetError):
        train(small_config(steps=2), GanOptions(str(empty), "seed-dcgan-16"), mine)
    assert sorted(p.name for p in mine.iterdir()) == ["notes.txt"]
    # the same run folder, now with images
    assert train(small_config(steps=2), GanOptions(str(image_folder), "seed-dcgan-16"), run).reason == "completed"


def test_a_relative_image_folder_is_saved_absolute_so_resume_works_from_anywhere(tmp_path, image_folder,
                                                                                monkeypatch):
    from ganstudio.core.trainer import load_run_config

    monkeypatch.chdir(image_folder.parent)
    train(small_config(steps=2), GanOptions(image_folder.name, "seed-dcgan-16"), tmp_path / "run")
    assert load_run_config(tmp_path / "run")[1].data == str(image_folder)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    assert resume_run(tmp_path / "run", steps=4).step == 4


def test_resuming_a_run_that_is_past_its_step_limit_says_so(tmp_path, image_folder):
    run = tmp_path / "run"
    train(small_config(steps=4), GanOptions(str(image_folder), "seed-dcgan-16"), run)
    with pytest.raises(ConfigError, match="already at step 4 and its step limit is 2"):
        resume_run(run, steps=2)
    with pytest.raises(ConfigError, match="already at step 4"):
        resume_run(run)                              # its own limit, reached


def test_the_metrics_clock_continues_across_a_resume(tmp_path, image_folder):
    run = tmp_path / "run"
    train(small_config(steps=4), GanOptions(str(image_folder), "seed-dcgan-16"), run)
    resume_run(run, steps=8)
    times = [json.loads(x)["time"] for x in (run / "metrics.jsonl").read_text().splitlines()]
    assert len(times) == 4 and times == sorted(times) and times[2] > times[1]


def test_skipped_files_are_named_with_their_reasons(tmp_path, image_folder):
    for i in range(7):
        (image_folder / f"broken{i}.png").write_bytes(b"not an image")
    events, obs = collect()
    run = tmp_path / "run"
    train(small_config(steps=2), GanOptions(str(image_folder), "seed-dcgan-16"), run, observers=[obs])
    note = next(e.message for e in events if isinstance(e, ev.HealthNote) and "skipped" in e.message)
    assert note.startswith("7 unusable files were skipped: broken0.png (")
    assert "broken4.png" in note and "broken5.png" not in note and "2 more, all listed in log.txt" in note
    log = (run / "log.txt").read_text()
    assert all(f"skipped: broken{i}.png" in log for i in range(7))


def test_a_batch_larger_than_the_dataset_is_pointed_out(tmp_path, image_folder):
    events, obs = collect()
    train(small_config(steps=2, batch_size=32), GanOptions(str(image_folder), "seed-dcgan-16"), tmp_path / "run",
          observers=[obs])
    assert any(isinstance(e, ev.HealthNote) and "larger than the dataset (24 images)" in e.message for e in events)


def test_thread_count_and_seed_are_checked():
    with pytest.raises(ConfigError, match="threads must be 0"):
        TrainConfig(steps=1, threads=-1)
    with pytest.raises(ConfigError, match="seed must be a whole number"):
        TrainConfig(steps=1, seed=-3)


def test_resume_tidies_what_a_killed_process_left(tmp_path, image_folder):
    """A kill during a checkpoint write leaves a temp file, and records logged after the last
    checkpoint would appear twice once the run goes on from it."""
    run = tmp_path / "run"
    train(small_config(steps=4, checkpoint_every=2), GanOptions(str(image_folder), "seed-dcgan-16"), run)
    stale = run / "checkpoints" / ".step-00000006.safetensors.x1y2z3.tmp"
    stale.write_bytes(b"half a checkpoint")
    with open(run / "metrics.jsonl", "a") as f:
        f.write('{"step": 6, "time": 9.0, "loss_d": 1.0}\n{"step": 8, "ti')     # the last line cut by the kill
    (run / "eval.jsonl").write_text('{"step": 4, "x": 1}\n{"step": 4, "x": 1}\n{"step": 6, "x": 2}\n')
    resume_run(run, steps=6)
    assert not stale.exists()
    assert [json.loads(x)["step"] for x in (run / "metrics.jsonl").read_text().splitlines()] == [2, 4, 6]
    assert [json.loads(x)["step"] for x in (run / "eval.jsonl").read_text().splitlines()] == [4]


def test_weights_that_turn_nan_between_metric_records_are_never_checkpointed(tmp_path, image_folder, monkeypatch):
    """Losses are checked every log_every steps, checkpoints may fall between: a NaN weight there
    must send training back, not into a checkpoint that every later recovery would reload."""
    from ganstudio.core.gan import GanTask

    original, hit = GanTask.train_step, []

    def poisoned(self, step):
        out = original(self, step)
        if step == 12 and not hit:                  # once, after the step-10 record
            hit.append(step)
            with torch.no_grad():
                next(self.D.parameters()).fill_(float("nan"))
        return out

    monkeypatch.setattr(GanTask, "train_step", poisoned)
    events, obs = collect()
    run = tmp_path / "run"
    fin = train(small_config(steps=20, log_every=10, checkpoint_every=5, sample_every=100),
                GanOptions(str(image_folder), "seed-dcgan-16"), run, observers=[obs])
    assert hit and fin.reason == "completed"
    assert any(isinstance(e, ev.HealthNote) and "Went back to the checkpoint of step 10" in e.message for e in events)
    for step, path in list_step_checkpoints(run / "checkpoints"):
        assert all(torch.isfinite(t).all() for t in read_checkpoint(path).tensors.values()
                   if t.is_floating_point()), step


def test_a_stop_right_after_weights_turned_nan_keeps_the_last_good_checkpoint(tmp_path, image_folder, monkeypatch):
    from ganstudio.core.gan import GanTask

    original, poisoned_at = GanTask.train_step, []

    def poisoned(self, step):
        out = original(self, step)
        if step == 6:                               # the 7th step, after the step-5 checkpoint
            poisoned_at.append(step)
            with torch.no_grad():
                next(self.G.parameters()).fill_(float("inf"))
        return out

    monkeypatch.setattr(GanTask, "train_step", poisoned)
    run = tmp_path / "run"
    fin = train(small_config(steps=100, log_every=10, checkpoint_every=5), GanOptions(str(image_folder), "seed-dcgan-16"),
                run, should_stop=lambda: bool(poisoned_at))
    assert fin.reason == "diverged" and "last good checkpoint: step 5" in fin.message
    assert [s for s, _ in list_step_checkpoints(run / "checkpoints")] == [5]


def test_the_computers_memory_running_out_is_a_message_not_a_traceback(tmp_path, image_folder, monkeypatch):
    from ganstudio.core.gan import GanTask

    def out_of_memory(self, step):
        raise RuntimeError("[enforce fail at alloc_cpu.cpp:127] . DefaultCPUAllocator: can't allocate memory: "
                           "you tried to allocate 3072000000 bytes.")

    monkeypatch.setattr(GanTask, "train_step", out_of_memory)
    fin = train(small_config(steps=5), GanOptions(str(image_folder), "seed-dcgan-16"), tmp_path / "run")
    assert fin.reason == "error" and fin.message.startswith("Out of memory (the computer's memory). Lower the batch")


def test_a_run_that_ended_before_its_first_checkpoint_starts_again_in_its_folder(tmp_path, image_folder):
    run = tmp_path / "run"
    options = GanOptions(str(image_folder), "seed-dcgan-16")
    train(small_config(steps=2), options, run)
    for _, path in list_step_checkpoints(run / "checkpoints"):     # as if killed before the first save
        path.unlink()
    (run / "samples" / "step-00000900.png").write_bytes(b"a preview of the attempt")
    with pytest.raises(CheckpointError, match="ended before its first save. Start it again"):
        resume_run(run)
    assert train(small_config(steps=2), options, run).reason == "completed"
    assert [json.loads(x)["step"] for x in (run / "metrics.jsonl").read_text().splitlines()] == [2]
    assert not (run / "samples" / "step-00000900.png").exists()


def test_damaged_bytes_in_run_files_are_a_message_or_skipped(tmp_path, image_folder):
    from ganstudio.core.trainer import load_run_config

    run = tmp_path / "run"
    train(small_config(steps=4, checkpoint_every=2), GanOptions(str(image_folder), "seed-dcgan-16"), run)
    with open(run / "metrics.jsonl", "ab") as f:
        f.write(b"\xff\xfe garbage\n")
    assert resume_run(run, steps=6).step == 6                   # the damaged line is dropped
    (run / "config.json").write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(ConfigError, match="config.json is damaged"):
        load_run_config(run)


def test_a_damaged_newest_checkpoint_is_named_and_the_one_before_it_resumes(tmp_path, image_folder):
    run = tmp_path / "run"
    train(small_config(steps=4, checkpoint_every=2), GanOptions(str(image_folder), "seed-dcgan-16"), run)
    newest = run / "checkpoints" / "step-00000004.safetensors"
    newest.write_bytes(newest.read_bytes()[:3000])                 # a copy cut short
    events, obs = collect()
    fin = resume_run(run, steps=6, observers=[obs])
    assert fin.reason == "completed" and fin.step == 6
    assert any(isinstance(e, ev.HealthNote) and e.message.startswith("Resumed from step-00000002.safetensors: the "
               "newer checkpoint could not be read: step-00000004.safetensors") for e in events)


def test_losses_that_explode_without_nan_are_pointed_out(tmp_path, image_folder):
    events, obs = collect()
    train(small_config(steps=10, lr_g=0.99, lr_d=0.99, log_every=2), GanOptions(str(image_folder), "seed-dcgan-16"),
          tmp_path / "run", observers=[obs])
    notes = [e.message for e in events if isinstance(e, ev.HealthNote) and "losses are enormous" in e.message]
    assert len(notes) == 1 and "now G 0.99, D 0.99" in notes[0]


def test_a_full_disk_makes_room_from_the_oldest_kept_checkpoint_then_stops_training(tmp_path, image_folder,
                                                                                   monkeypatch):
    import errno

    from ganstudio.core import checkpoint as ck

    real_save, room = ck.save_file, {"files": 2}

    def disk(tensors, path, metadata=None):   # room for two checkpoints, as the files on disk say
        if len(ck.list_step_checkpoints(Path(path).parent)) >= room["files"]:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_save(tensors, path, metadata=metadata)

    monkeypatch.setattr(ck, "save_file", disk)
    run = tmp_path / "run"
    options = GanOptions(str(image_folder), "seed-dcgan-16")
    fin = train(small_config(steps=8, checkpoint_every=2, keep_checkpoints=2), options, run)
    assert fin.reason == "completed"                             # the oldest made room each time
    assert [s for s, _ in list_step_checkpoints(run / "checkpoints")] == [6, 8]

    room["files"] = 0                                            # now nothing fits
    events, obs = collect()
    fin = resume_run(run, steps=100, observers=[obs])
    assert fin.reason == "error" and fin.step == 12 and "training stopped at step 12" in fin.message
    assert [s for s, _ in list_step_checkpoints(run / "checkpoints")] == [8]    # one good checkpoint stays
