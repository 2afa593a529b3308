"""The Upscale task through the one trainer: trains, validates, previews, checkpoints, resumes."""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from ganstudio.core import events as ev
from ganstudio.core.checkpoint import read_checkpoint
from ganstudio.core.errors import ConfigError, DatasetError
from ganstudio.core.tasks import TaskContext, get_task
from ganstudio.core.trainer import resume_run, train
from ganstudio.core.upscale import UpscaleOptions, UpscaleTask, default_train_config, load_any_upscaler
from ganstudio.core.upscale.community import save_upscaler


@pytest.fixture(autouse=True)
def _restore_threads():
    """The trainer applies ``threads`` to torch globally; give other tests their setting back."""
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def make_folder(root: Path, n: int = 5, size: tuple[int, int] = (72, 88)) -> Path:
    rng = np.random.default_rng(0)
    root.mkdir(parents=True, exist_ok=True)
    h, w = size
    for i in range(n):
        y, x = np.mgrid[0:h, 0:w]
        base = 127 + 110 * np.sin(x / (3 + i) + y / (4 + i))
        img = base[..., None] * np.array([1.0, 0.8, 0.5]) + rng.normal(0, 8, (h, w, 3))
        Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).save(root / f"img{i}.png")
    return root


def tiny_options(data: Path, **kw) -> UpscaleOptions:
    base = dict(data=str(data), scale=2, patch_size=32, features=8, blocks=1, val_crop=32, val_crops=2)
    base.update(kw)
    return UpscaleOptions(**base)


def tiny_config(**kw):
    base = dict(steps=6, batch_size=3, eval_every=3, sample_every=3, checkpoint_every=3, log_every=1,
                precision="fp32", threads=1)   # tiny nets: one thread is faster on a busy machine
    base.update(kw)
    return default_train_config(**base)


def test_task_is_registered() -> None:
    assert get_task("upscale") is UpscaleTask and UpscaleTask.best_metric == "psnr"


def test_trains_validates_previews_and_exports(tmp_path: Path) -> None:
    data = make_folder(tmp_path / "hr")
    events: list = []
    fin = train(tiny_config(), tiny_options(data, gan=True, gan_start_step=3), tmp_path / "run",
                observers=[events.append])
    assert fin.reason == "completed", fin.message
    steps = [e for e in events if isinstance(e, ev.StepEnded)]
    assert all(np.isfinite(v) for e in steps for v in e.metrics.values())
    assert "loss_d" in steps[-1].metrics and "loss_l1" in steps[0].metrics   # the GAN stage began at step 3
    evals = [e for e in events if isinstance(e, ev.EvaluationDone)]
    assert evals and all(np.isfinite(e.metrics["psnr"]) and 0 < e.metrics["ssim"] <= 1 for e in evals)
    assert np.isfinite(evals[0].metrics["psnr_bicubic"])
    preview = [e for e in events if isinstance(e, ev.SamplesReady)][-1].image
    # 2 crops, each a row of bicubic | model | HR, 32px with 2px gaps
    assert preview.dtype == np.uint8 and preview.shape == (2 + 2 * 34, 2 + 3 * 34, 4)

    up = load_any_upscaler(tmp_path / "run")                 # the best checkpoint, EMA weights
    assert (up.arch, up.scale, up.name) == ("compact", 2, "run")
    ckpt = read_checkpoint(tmp_path / "run" / "checkpoints" / "best.safetensors")
    assert {"G", "G_ema", "D"} <= {k.split("/")[1] for k in ckpt.tensors if k.startswith("model/")}
    exported = save_upscaler(up.module, tmp_path / "mine.safetensors", {"steps": ckpt.step})
    assert load_any_upscaler(exported).info["steps"] == ckpt.step


def test_resume_reproduces_an_uninterrupted_run(tmp_path: Path) -> None:
    data = make_folder(tmp_path / "hr", n=3)
    opts = tiny_options(data, degradation="real", gan=True, gan_start_step=2)
    train(tiny_config(steps=4), opts, tmp_path / "straight")
    train(tiny_config(steps=2), opts, tmp_path / "split")
    resume_run(tmp_path / "split", steps=4)
    a = read_checkpoint(tmp_path / "straight" / "checkpoints" / "step-00000004.safetensors")
    b = read_checkpoint(tmp_path / "split" / "checkpoints" / "step-00000004.safetensors")
    for key, value in a.group("model").items():
        assert torch.equal(value, b.group("model")[key]), key


def test_rrdb_arch_trains(tmp_path: Path) -> None:
    data = make_folder(tmp_path / "hr", n=2)
    opts = tiny_options(data, arch="rrdb", scale=4, features=8, blocks=1, patch_size=32)
    fin = train(tiny_config(steps=2, eval_every=2), opts, tmp_path / "run")
    assert fin.reason == "completed"
    lines = (tmp_path / "run" / "eval.jsonl").read_text().splitlines()
    assert np.isfinite(json.loads(lines[-1])["psnr"])


def test_single_image_validates_on_itself_and_says_so(tmp_path: Path) -> None:
    data = make_folder(tmp_path / "hr", n=1)
    notes: list = []
    train(tiny_config(steps=1), tiny_options(data), tmp_path / "run",
          observers=[lambda e: notes.append(e.message) if isinstance(e, ev.HealthNote) else None])
    assert any("single image" in n for n in notes)


def test_options_and_data_are_checked(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="multiple of the scale"):
        tiny_options(tmp_path, scale=4, patch_size=50)
    with pytest.raises(ConfigError, match="Invalid architecture"):
        tiny_options(tmp_path, arch="swinir")
    with pytest.raises(ConfigError, match="degradation"):
        tiny_options(tmp_path, degradation="jpeg")
    small = make_folder(tmp_path / "small", n=2, size=(20, 20))
    with pytest.raises(DatasetError, match="at least 32x32"):
        train(tiny_config(steps=1), tiny_options(small), tmp_path / "run")


def test_detail_sampling_draws_patches_where_the_detail_is(tmp_path: Path) -> None:
    """Half flat grey, half fine stripes: "detail" draws most patches from the stripes (flat ones
    still appear), "uniform" about half; both only at positions where a whole patch fits."""
    root = tmp_path / "hr"
    root.mkdir()
    h, w = 64, 256
    img = np.full((h, w, 3), 128, np.uint8)
    img[:, w // 2:] = (np.indices((h, w // 2)).sum(0) % 4 < 2)[..., None] * 255   # right half: stripes
    for i in range(2):
        Image.fromarray(img).save(root / f"img{i}.png")
    shares = {}
    for sampling in ("detail", "uniform"):
        task = UpscaleTask(tiny_options(root, patch_sampling=sampling, val_images=1),
                           TaskContext(tiny_config(), torch.device("cpu"), None))
        patches = task._sample_batch(400)
        assert patches.shape == (400, 3, 32, 32)
        flat = (patches.amax(dim=(1, 2, 3)) - patches.amin(dim=(1, 2, 3))) < 0.01
        shares[sampling] = 1 - float(flat.float().mean())
    assert shares["detail"] > 0.85 and 0.3 < shares["uniform"] < 0.7
    with pytest.raises(ConfigError, match="patch_sampling"):
        tiny_options(tmp_path, patch_sampling="edges")


def test_a_run_saved_before_patch_sampling_existed_resumes_with_uniform_patches(tmp_path: Path) -> None:
    from ganstudio.core.config import from_dict

    saved = {k: v for k, v in dataclasses.asdict(tiny_options(tmp_path)).items() if k != "patch_sampling"}
    assert from_dict(UpscaleOptions, saved).patch_sampling == "uniform"
    assert from_dict(UpscaleOptions, {**saved, "patch_sampling": "detail"}).patch_sampling == "detail"
    assert UpscaleOptions(data=".").patch_sampling == "detail"       # new runs: the new default


def test_uniform_sampling_reaches_every_patch_position_evenly(tmp_path: Path) -> None:
    """With a side that is not a multiple of the sampling grid, every position, the last ones too,
    comes up about equally often (none is favoured by clamping)."""
    root = tmp_path / "hr"
    root.mkdir()
    rng = np.random.default_rng(1)
    for i in range(2):   # the first is trained on; positions 0..10 (11, not a multiple of 8)
        Image.fromarray(rng.integers(0, 256, (32, 42, 3), dtype=np.uint8)).save(root / f"img{i}.png")
    task = UpscaleTask(tiny_options(root, patch_sampling="uniform", augment=False, val_images=1),
                       TaskContext(tiny_config(), torch.device("cpu"), None))
    image = task.train_images[0].float().div(255)
    counts = np.zeros(11)
    for patch in task._sample_batch(2200):
        # the column where this patch starts, found by comparing with the image
        x = next(x for x in range(11) if torch.equal(image[:, :, x:x + 32], patch))
        counts[x] += 1
    assert counts.min() > 0.6 * counts.mean() and counts.max() < 1.4 * counts.mean()


def test_more_validation_images_than_can_be_kept_and_a_gan_stage_that_never_starts_are_said(tmp_path: Path) -> None:
    data = make_folder(tmp_path / "hr", n=4)
    notes: list = []
    train(tiny_config(steps=2), tiny_options(data, val_images=50, gan=True, gan_start_step=500), tmp_path / "run",
          observers=[lambda e: notes.append(e.message) if isinstance(e, ev.HealthNote) else None])
    assert any(n.startswith("50 validation images were asked for, but with 4 usable images 3 are held out and 1 "
                            "left for training") for n in notes), notes
    assert any("The GAN stage starts at step 500, after this run's 2 steps" in n for n in notes), notes
    wide = make_folder(tmp_path / "wide", n=2, size=(160, 40))      # 64x16 once shrunk to max_side 64
    with pytest.raises(DatasetError, match="a larger max_side"):
        train(tiny_config(steps=1), tiny_options(wide, max_side=64), tmp_path / "run2")
