"""``ganstudio-cli upscale``, ``info`` and ``train-upscaler`` flags."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ganstudio.cli import build_parser, main
from ganstudio.core.export import read_png_metadata
from ganstudio.core.upscale.cli_commands import upscale_options_from_args
from ganstudio.core.upscale.community import save_upscaler
from ganstudio.core.upscale.models import build_sr_model


def test_upscale_command_writes_pngs_and_reports_failures(tmp_path: Path, capsys) -> None:
    src = tmp_path / "in" / "sub"
    src.mkdir(parents=True)
    Image.fromarray(np.zeros((5, 6, 3), np.uint8)).save(src / "a.jpg")
    (tmp_path / "in" / "bad.png").write_bytes(b"nope")
    code = main(["upscale", str(tmp_path / "in"), "--model", "lanczos", "--scale", "4", "--out",
                 str(tmp_path / "out"), "--recursive", "--quiet"])
    assert code == 1                          # one file failed, the rest was written
    with Image.open(tmp_path / "out" / "sub" / "a.png") as im:
        assert im.size == (24, 20)
    out = capsys.readouterr()
    assert "1 written" in out.out and "bad.png" in out.err
    single = ["upscale", str(src / "a.jpg"), "--model", "bicubic", "--out", str(tmp_path / "o2"), "--quiet"]
    assert main(single) == 0
    assert "ensemble" not in read_png_metadata(tmp_path / "o2" / "a.png")


def test_upscale_ensemble_flag_is_used_and_recorded(tmp_path: Path) -> None:
    model = save_upscaler(build_sr_model("compact", 2, features=8, blocks=1), tmp_path / "m.safetensors", {})
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (12, 10, 3), np.uint8)).save(tmp_path / "a.png")
    base = ["upscale", str(tmp_path / "a.png"), "--model", str(model), "--precision", "fp32", "--quiet"]
    assert main([*base, "--out", str(tmp_path / "plain")]) == 0
    assert main([*base, "--out", str(tmp_path / "best"), "--ensemble"]) == 0
    meta = read_png_metadata(tmp_path / "best" / "a.png")
    assert meta["ensemble"].startswith("8 ") and "ensemble" not in read_png_metadata(tmp_path / "plain" / "a.png")
    with Image.open(tmp_path / "plain" / "a.png") as p, Image.open(tmp_path / "best" / "a.png") as b:
        assert p.size == b.size == (20, 24)
        assert not np.array_equal(np.asarray(p), np.asarray(b))


def test_info_and_unknown_model(tmp_path: Path, capsys) -> None:
    path = save_upscaler(build_sr_model("compact", 4, features=8, blocks=1), tmp_path / "m.safetensors",
                         {"trained_on": "test pictures"})
    assert main(["info", str(path)]) == 0
    out = capsys.readouterr().out
    assert "compact" in out and "x4" in out and "test pictures" in out and "measured" not in out
    # a file that records its held-out evaluation (as the bundled models do) says so
    scored = save_upscaler(build_sr_model("compact", 2, features=8, blocks=1), tmp_path / "s.safetensors",
                           {"eval_psnr": 30.5, "eval_psnr_bicubic": 29.25, "eval_crops": 12})
    assert main(["info", str(scored)]) == 0
    assert "+1.25 dB over bicubic on 12 held-out crops" in capsys.readouterr().out
    assert main(["info", str(tmp_path / "missing.pth")]) == 2
    assert "missing.pth" in capsys.readouterr().err


def test_train_upscaler_flags(tmp_path: Path) -> None:
    args = build_parser().parse_args(["train-upscaler", str(tmp_path), "--scale", "4", "--arch", "rrdb",
                                      "--gan", "--out", str(tmp_path / "run"), "--lr-g", "0.001"])
    opts = upscale_options_from_args(args)
    assert (opts.scale, opts.arch, opts.gan, opts.data) == (4, "rrdb", True, str(tmp_path))
    from ganstudio.cli import _train_config

    cfg = _train_config(args, "upscale")
    assert cfg.batch_size == 16 and cfg.beta1 == 0.9 and cfg.lr_g == 0.001   # SR defaults, user's lr kept


def _pictures(folder: Path, count: int = 3) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        Image.fromarray(np.full((4, 5, 3), 40 * i, np.uint8)).save(folder / f"p{i}.png")
    return folder


@pytest.mark.parametrize("flags,words", [(["--tile", "-5"], "tile"), (["--precision", "foo"], "Invalid precision"),
                                         (["--device", "tpu"], "Invalid device"), (["--overlap", "-2"], "overlap")])
def test_invalid_settings_are_one_error_before_any_work(tmp_path: Path, capsys, flags: list[str],
                                                        words: str) -> None:
    src = _pictures(tmp_path / "in")
    code = main(["upscale", str(src), "--model", "bicubic", "--out", str(tmp_path / "out"), "--quiet", *flags])
    err = capsys.readouterr().err
    assert code == 2 and words in err
    assert err.count("\n") == 1 and "failed:" not in err            # one line, not one per file
    assert not (tmp_path / "out").exists()


def test_an_unwritable_output_folder_is_one_plain_error(tmp_path: Path, capsys, monkeypatch) -> None:
    import errno
    import tempfile

    src = _pictures(tmp_path / "in")
    afile = tmp_path / "afile"
    afile.write_text("mine")
    assert main(["upscale", str(src), "--model", "bicubic", "--out", str(afile), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.strip() == f"error: {afile} is a file, not a folder; choose another folder."
    assert afile.read_text() == "mine"

    def refuse(*args, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system", str(tmp_path / "ro" / ".p0.png.c9ump17w.tmp"))

    monkeypatch.setattr(tempfile, "mkstemp", refuse)
    assert main(["upscale", str(src), "--model", "bicubic", "--out", str(tmp_path / "ro"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.strip() == f"error: Cannot write to {tmp_path / 'ro'}: the drive is read-only; choose a folder on another drive."


@pytest.mark.parametrize("model,scale,words", [
    ("bundled-x2", "4", "bundled-x2 upscales x2 only; drop --scale or choose bundled-x4"),
    ("bundled-x4", "2", "bundled-x4 upscales x4 only; drop --scale or choose bundled-x2"),
    ("lanczos-x4", "2", "lanczos-x4 upscales x4 only; drop --scale or choose lanczos-x2"),
    ("lanczos", "0", "Invalid scale 0"),
    ("bicubic", "-3", "Invalid scale -3"),
])
def test_scale_that_contradicts_the_model_is_an_error(tmp_path: Path, capsys, model: str, scale: str,
                                                      words: str) -> None:
    src = _pictures(tmp_path / "in", 1)
    code = main(["upscale", str(src), "--model", model, "--scale", scale, "--out", str(tmp_path / "o"), "--quiet"])
    assert code == 2 and words in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_scale_that_agrees_with_the_model_or_sets_a_baseline(tmp_path: Path) -> None:
    src = _pictures(tmp_path / "in", 1)
    assert main(["upscale", str(src), "--model", "lanczos-x3", "--scale", "3", "--out", str(tmp_path / "a"),
                 "--quiet"]) == 0
    assert main(["upscale", str(src), "--model", "lanczos", "--scale", "3", "--out", str(tmp_path / "b"),
                 "--quiet"]) == 0
    for out in ("a", "b"):
        with Image.open(tmp_path / out / "p0.png") as im:
            assert im.size == (15, 12)
    model = save_upscaler(build_sr_model("compact", 2, features=8, blocks=1), tmp_path / "m.safetensors", {})
    assert main(["upscale", str(src), "--model", str(model), "--scale", "2", "--out", str(tmp_path / "c"),
                 "--quiet", "--precision", "fp32"]) == 0
    assert main(["upscale", str(src), "--model", str(model), "--scale", "4", "--out", str(tmp_path / "d"),
                 "--quiet"]) == 2


@pytest.mark.parametrize("content", [np.random.default_rng(0).bytes(5000),
                                     b"this is a text file, not a model\n" * 3, b""])
def test_corrupt_model_files_are_called_corrupt_not_unsafe(tmp_path: Path, capsys, content: bytes) -> None:
    path = tmp_path / "junk.pth"
    path.write_bytes(content)
    assert main(["info", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err == ("error: junk.pth is not a readable model file (corrupt, truncated or an unknown format).")


def test_a_pickle_with_code_is_still_refused_for_safety(tmp_path: Path, capsys) -> None:
    import os
    import pickle

    marker = tmp_path / "pwned"

    class Payload:
        def __reduce__(self):
            return os.system, (f"touch '{marker}'",)

    for protocol in (0, 2, 4):
        path = tmp_path / f"evil{protocol}.pth"
        path.write_bytes(pickle.dumps({"w": Payload()}, protocol=protocol))
        assert main(["info", str(path)]) == 2
        assert "refused for safety" in capsys.readouterr().err
    assert not marker.exists()


def test_info_names_baselines_as_picked_and_says_what_they_are(capsys) -> None:
    assert main(["info", "lanczos-x4"]) == 0
    rows = dict(line.split(None, 1) for line in capsys.readouterr().out.strip().splitlines()
                if not line.startswith("super-resolution"))
    assert rows["name"] == "lanczos-x4" and rows["scale"] == "x4"
    assert rows["channels"] != "RGB (3)" and "any" in rows["channels"]
    assert main(["info", "bicubic"]) == 0
    out = capsys.readouterr().out
    sr = next(line for line in out.splitlines() if line.startswith("super-resolution"))
    assert "no" in sr and "resampling" in sr


def test_info_of_a_run_shows_its_steps_and_validation_psnr(tmp_path: Path, capsys, monkeypatch) -> None:
    from ganstudio.core.upscale import community
    from ganstudio.core.upscale.tiling import Upscaler

    run = tmp_path / "run"
    run.mkdir()
    (run / "eval.jsonl").write_text('{"step": 15, "psnr": 30.57, "psnr_bicubic": 30.1}\n'
                                    '{"step": 30, "psnr": 30.66, "psnr_bicubic": 30.1}\n')
    # what community.load_run_upscaler gives for a run (training it here would take minutes)
    up = Upscaler(name="run", arch="compact", scale=2, info={"step": 30, "run": str(run), "degradation": "bicubic"})
    monkeypatch.setattr(community, "load_any_upscaler", lambda name, **kw: up)
    assert main(["info", str(run)]) == 0
    out = capsys.readouterr().out
    assert "steps" in out and " 30" in out
    assert "validation" in out and "30.66 dB" in out and "+0.56 dB over bicubic" in out


def test_info_describes_a_translator_too(capsys):
    from ganstudio.core.resources import resource

    assert main(["info", str(resource("translate-demo", "model.safetensors"))]) == 0
    out = capsys.readouterr().out
    assert "translator, paired (pix2pix)" in out and "AtoB" in out and "unet" in out


def test_a_batch_with_nothing_to_do_is_an_error_that_mentions_subfolders(tmp_path, capsys):
    empty = tmp_path / "art"
    (empty / "sub").mkdir(parents=True)
    Image.new("RGB", (8, 8)).save(empty / "sub" / "a.png")
    assert main(["upscale", str(empty), "--model", "bicubic", "--out", str(tmp_path / "o"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "no images found in" in err and "--recursive" in err
    assert main(["upscale", str(empty), "--recursive", "--model", "bicubic", "--out", str(tmp_path / "o"),
                 "--quiet"]) == 0


def test_info_describes_a_gan_run(tmp_path, capsys):
    from ganstudio.core.config import TrainConfig
    from ganstudio.core.gan import GanOptions
    from ganstudio.core.trainer import train
    from tests.conftest import make_images

    make_images(tmp_path / "imgs", n=8)
    train(TrainConfig(steps=2, batch_size=4, threads=1, precision="fp32"), GanOptions(str(tmp_path / "imgs"),
          "seed-dcgan-16"), tmp_path / "cats")
    assert main(["info", str(tmp_path / "cats")]) == 0
    out = capsys.readouterr().out
    assert "image generator (GAN)" in out and "seed-dcgan-16" in out and "16x16 RGB" in out and "cats" in out
