"""``ganstudio-cli upscale``, ``info`` and ``train-upscaler`` flags."""
from __future__ import annotations

from pathlib import Path

import numpy as np
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
