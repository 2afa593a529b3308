"""Training under torchrun: two CPU processes (Gloo) share each batch; rank 0 writes the run."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from ganstudio.core.distributed import SINGLE, DistInfo, from_env
from ganstudio.core.errors import ConfigError
from ganstudio.core.trainer import load_run_config
from tests.conftest import make_images

REPO = Path(__file__).resolve().parents[2]


def torchrun(*args: str, timeout: int = 240) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "QT_QPA_PLATFORM": "offscreen"}
    for var in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(var, None)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
           "-m", "ganstudio.cli", *args]
    return subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout, check=False)


def test_shards_and_environment(monkeypatch):
    batch = torch.arange(8)
    assert DistInfo(0, 2, 0).shard(batch).tolist() == [0, 1, 2, 3]
    assert DistInfo(1, 2, 1).shard(batch).tolist() == [4, 5, 6, 7]
    assert SINGLE.shard(batch).tolist() == list(range(8))
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    assert from_env() is SINGLE
    monkeypatch.setenv("WORLD_SIZE", "4")
    monkeypatch.setenv("RANK", "3")
    monkeypatch.setenv("LOCAL_RANK", "1")
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "2")
    assert from_env() == DistInfo(3, 4, 1, 2) and not from_env().main
    monkeypatch.setenv("RANK", "4")
    with pytest.raises(ConfigError, match="rank 4 of 4"):
        from_env()


def test_two_processes_train_one_run_that_resumes_anywhere(tmp_path):
    data = tmp_path / "images"
    make_images(data, n=32)
    run = tmp_path / "run"
    done = torchrun("train", str(data), "--preset", "seed-dcgan-16", "--steps", "8", "--batch-size", "4",
                    "--threads", "1", "--log-every", "2", "--precision", "fp32", "--out", str(run))
    assert done.returncode == 0, done.stderr[-3000:]
    # one run folder, written once (by rank 0): one metrics line per logged step, one checkpoint
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == [2, 4, 6, 8]
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["step-00000008.safetensors"]
    assert "2 processes (torchrun)" in done.stdout + done.stderr
    assert (run / "log.txt").read_text().count("share this machine's CPU cores") == 1   # said once, by rank 0
    # the trainer compares the ranks' weights at the end and fails if they differ: it passed
    # a single process continues the same run, and torchrun can continue it again
    from ganstudio.cli import main

    assert main(["resume", str(run), "--steps", "10", "--quiet"]) == 0
    again = torchrun("resume", str(run), "--steps", "12", "--quiet")
    assert again.returncode == 0, again.stderr[-3000:]
    assert (run / "checkpoints" / "step-00000012.safetensors").is_file()
    assert load_run_config(run)[0].batch_size == 4      # per process: each step trains on 2 x 4 images


def test_two_processes_train_an_upscaler_with_its_gan_stage_and_validation(tmp_path):
    from tests.core.test_upscale_task import make_folder

    data = make_folder(tmp_path / "hr")
    run = tmp_path / "run"
    done = torchrun("train-upscaler", str(data), "--scale", "2", "--patch-size", "32", "--features", "8",
                    "--blocks", "1", "--val-crop", "32", "--val-crops", "2", "--gan", "--gan-start-step", "2",
                    "--steps", "6", "--batch-size", "3", "--eval-every", "3", "--log-every", "2",
                    "--threads", "1", "--precision", "fp32", "--out", str(run))
    assert done.returncode == 0, done.stderr[-3000:]
    # every rank validates (the same weights give the same verdict) and rank 0 alone writes it down
    assert [json.loads(line)["step"] for line in (run / "eval.jsonl").read_text().splitlines()] == [3, 6]
    assert (run / "checkpoints" / "best.safetensors").is_file()
    assert "loss_d" in json.loads((run / "metrics.jsonl").read_text().splitlines()[-1])   # the GAN stage ran


def test_two_processes_train_pix2pix_and_cyclegan(tmp_path):
    from tests.core.test_translate_data import make_pairs

    a, b = make_pairs(tmp_path / "pairs", n=30, size=(32, 32))   # 3 held out for validation
    run = tmp_path / "run"
    done = torchrun("train-translate", "--paired", str(a), str(b), "--crop-size", "32", "--load-size", "32",
                    "--ngf", "4", "--ndf", "4", "--steps", "4", "--batch-size", "2", "--eval-every", "2",
                    "--log-every", "2", "--threads", "1", "--precision", "fp32", "--out", str(run))
    assert done.returncode == 0, done.stderr[-3000:]
    assert [json.loads(line)["step"] for line in (run / "eval.jsonl").read_text().splitlines()] == [2, 4]
    assert [json.loads(line)["step"] for line in (run / "metrics.jsonl").read_text().splitlines()] == [2, 4]

    cycle = tmp_path / "cycle"
    done = torchrun("train-translate", "--unpaired", str(a), str(b), "--crop-size", "32", "--load-size", "32",
                    "--ngf", "4", "--ndf", "4", "--n-blocks", "1", "--steps", "4", "--batch-size", "2",
                    "--log-every", "2", "--threads", "1", "--precision", "fp32", "--out", str(cycle))
    assert done.returncode == 0, done.stderr[-3000:]
    assert (cycle / "checkpoints" / "step-00000004.safetensors").is_file()
    from ganstudio.cli import main

    assert main(["resume", str(cycle), "--steps", "6", "--quiet"]) == 0    # one process continues it


def test_a_task_that_cannot_share_its_steps_says_so(tmp_path, monkeypatch):
    from ganstudio.core.config import TrainConfig
    from ganstudio.core.gan import GanOptions, GanTask
    from ganstudio.core.trainer import train

    make_images(tmp_path / "images", n=8)
    monkeypatch.setattr(GanTask, "supports_distributed", False)
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "0")
    with pytest.raises(ConfigError, match="trains in one process"):   # before joining any process group
        train(TrainConfig(steps=1, batch_size=2, threads=1), GanOptions(str(tmp_path / "images"), "seed-dcgan-16"),
              tmp_path / "run")


def test_rank_streams_are_reseeded_on_other_ranks_only():
    from ganstudio.core.distributed import seed_rank_streams

    def streams():
        return {"augment": torch.Generator().manual_seed(5), "indices": torch.Generator().manual_seed(6)}

    first = streams()
    seed_rank_streams(DistInfo(0, 2, 0, 2), first, ("augment",), seed=0, step=10)
    assert torch.equal(first["augment"].get_state(), torch.Generator().manual_seed(5).get_state())  # rank 0 as one process
    second = streams()
    seed_rank_streams(DistInfo(1, 2, 1, 2), second, ("augment",), seed=0, step=10)
    assert not torch.equal(second["augment"].get_state(), first["augment"].get_state())           # its own share
    assert torch.equal(second["indices"].get_state(), first["indices"].get_state())                # global: alike


def test_other_ranks_draw_their_own_dropout_masks():
    from ganstudio.core.distributed import seed_rank_streams

    def masks(rank: int) -> torch.Tensor:
        torch.manual_seed(3)                        # the trainer seeds every rank alike first
        seed_rank_streams(DistInfo(rank, 2, rank, 2), {}, (), seed=0, step=10)
        return torch.nn.functional.dropout(torch.ones(64), 0.5)

    before = torch.get_rng_state()
    try:
        torch.manual_seed(3)
        single = torch.nn.functional.dropout(torch.ones(64), 0.5)
        assert torch.equal(masks(0), single)        # rank 0 draws what one process draws
        assert not torch.equal(masks(1), single)    # rank 1 its own masks
        assert torch.equal(masks(1), masks(1))      # reproducibly
    finally:
        torch.set_rng_state(before)


def test_a_rank_leaves_with_its_code_and_its_output_flushed():
    # a torchrun rank ends through os._exit (no interpreter clean-up); what it printed must still arrive
    code = ("import os; os.environ['WORLD_SIZE'] = '2'\n"
            "from ganstudio.cli import leave\n"
            "print('finished', end='', flush=False)\n"
            "leave(3)\n"
            "print('never')\n")
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert (done.returncode, done.stdout) == (3, "finished")
    alone = subprocess.run([sys.executable, "-c", code.replace("'2'", "'1'")], cwd=REPO, capture_output=True,
                           text=True, timeout=60)
    assert (alone.returncode, alone.stdout) == (3, "finished")      # a single process exits normally
