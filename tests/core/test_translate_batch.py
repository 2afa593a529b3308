"""Batch translation and the translate CLI commands."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from ganstudio.cli import build_parser, main
from ganstudio.core.errors import ConfigError
from ganstudio.core.export import read_png_metadata
from ganstudio.core.translate.batch import translate_batch
from ganstudio.core.translate.cli_commands import translate_options_from_args
from ganstudio.core.translate.inference import load_translator, save_translator, translator_from_generators
from ganstudio.core.translate.models import UNetGenerator
from tests.core.test_translate_data import make_pairs, one_thread  # noqa: F401 (autouse fixture)


@pytest.fixture(scope="module")
def model_file(tmp_path_factory):
    torch.manual_seed(0)
    model = translator_from_generators({"AtoB": UNetGenerator(3, 3, ngf=4, depth=3)},
                                       {"domains": {"A": "photo", "B": "ink"}})
    return save_translator(model, tmp_path_factory.mktemp("model") / "tiny.safetensors")


def _inputs(root):
    (root / "sub").mkdir(parents=True)
    Image.new("RGB", (33, 21), (200, 30, 30)).save(root / "a.png")
    Image.new("RGBA", (17, 40), (0, 90, 200, 128)).save(root / "sub" / "b.png")
    Image.new("L", (12, 12), 70).save(root / "sub" / "c.jpg")
    (root / "sub" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    (root / "notes.txt").write_text("not an image")
    return root


def test_batch_mirrors_folders_and_lists_bad_files(tmp_path, model_file):
    src, out = _inputs(tmp_path / "in"), tmp_path / "out"
    model = load_translator(model_file, device="cpu", precision="fp32")
    seen = []
    result = translate_batch([src], out, model, recursive=True, progress=lambda d, n, p: seen.append((d, n)))
    assert sorted(p.relative_to(out).as_posix() for p in result.written) == ["a.png", "sub/b.png", "sub/c.png"]
    assert [p.name for p, _ in result.failed] == ["broken.png"] and result.failed[0][1]
    assert seen[-1] == (4, 4) and not result.cancelled
    with Image.open(out / "a.png") as im:
        assert im.size == (33, 21) and im.mode == "RGB"
    with Image.open(out / "sub" / "b.png") as im:
        assert im.size == (17, 40) and im.mode == "RGBA"       # alpha kept
        assert np.asarray(im)[:, :, 3].max() == 128
    meta = read_png_metadata(out / "a.png")
    assert meta["direction"] == "AtoB" and meta["model_sha256"] == model.sha256
    assert meta["domains"] == "photo -> ink" and meta["source"] == "a.png" and meta["app"].startswith("GAN Studio")

    again = translate_batch([src], out, model, recursive=True)
    assert len(again.skipped_existing) == 3 and not again.written
    replaced = translate_batch([src / "a.png"], out, model, existing="overwrite")
    assert [p.name for p in replaced.written] == ["a.png"]
    flat = translate_batch([src], tmp_path / "flat", model)   # not recursive: only the top level
    assert [p.name for p in flat.written] == ["a.png"]
    stopped = translate_batch([src], tmp_path / "stopped", model, recursive=True, should_stop=lambda: True)
    assert stopped.cancelled and not stopped.written


def test_cli_translate(tmp_path, model_file, capsys):
    src = _inputs(tmp_path / "in")
    code = main(["translate", str(src / "a.png"), str(src / "sub"), "--model", str(model_file),
                 "--out", str(tmp_path / "out"), "--quiet", "--tile", "16", "--precision", "fp32"])
    assert code == 1                               # one input failed (broken.png), the rest written
    assert (tmp_path / "out" / "a.png").is_file() and (tmp_path / "out" / "b.png").is_file()
    assert "broken.png" in capsys.readouterr().err
    assert main(["translate", str(src / "a.png"), "--model", str(model_file), "--out", str(tmp_path / "o2"),
                 "--direction", "BtoA", "--quiet"]) == 2    # a pix2pix model has no B -> A
    assert "ensemble" not in read_png_metadata(tmp_path / "out" / "a.png")
    assert main(["translate", str(src / "a.png"), "--model", str(model_file), "--out", str(tmp_path / "best"),
                 "--ensemble", "--quiet", "--precision", "fp32"]) == 0
    assert read_png_metadata(tmp_path / "best" / "a.png")["ensemble"].startswith("9 ")


def test_cli_train_translate_options(tmp_path, capsys):
    a, b = make_pairs(tmp_path / "data", n=4, size=(16, 16))
    args = build_parser().parse_args(["train-translate", "--unpaired", str(a), str(b), "--out", str(tmp_path / "r"),
                                      "--crop-size", "16", "--load-size", "16", "--no-flip", "--steps", "2",
                                      "--d-layers", "3"])
    with pytest.raises(ConfigError, match="d_layers 3 needs crops of at least 24"):
        translate_options_from_args(args)
    args.d_layers = None    # automatic: 2 layers for small crops
    opts = translate_options_from_args(args)
    assert (opts.mode, opts.a_dir, opts.crop_size, opts.flip) == ("unpaired", str(a), 16, False)
    sbs = build_parser().parse_args(["train-translate", "--side-by-side", str(a), "--split", "B|A", "--out", "x",
                                     "--crop-size", "32"])
    assert translate_options_from_args(sbs).side_by_side and translate_options_from_args(sbs).split == "B|A"
    code = main(["train-translate", "--paired", str(a), str(b), "--out", str(tmp_path / "run"), "--quiet",
                 "--crop-size", "16", "--load-size", "16", "--ngf", "4", "--ndf", "4", "--steps", "2",
                 "--batch-size", "2", "--threads", "1"])
    assert code == 0
    capsys.readouterr()
    assert main(["export-translator", str(tmp_path / "run"), "--out", str(tmp_path / "m2.safetensors")]) == 0
    assert main(["export-translator", str(tmp_path / "run"), str(tmp_path / "m.safetensors")]) == 0
    assert load_translator(tmp_path / "m.safetensors", device="cpu").directions == ["AtoB"]
    assert "MB, from step-00000002.safetensors)" in capsys.readouterr().out     # which checkpoint it took


def test_batch_checks_tile_and_output_folder_once_before_reading(tmp_path, model_file, monkeypatch, capsys):
    from ganstudio.core.errors import ExportError
    from ganstudio.core.translate import batch as translate_batch_module

    src = _inputs(tmp_path / "in")
    model = load_translator(model_file, device="cpu", precision="fp32")
    reads = []
    real_read = translate_batch_module.read_image
    monkeypatch.setattr(translate_batch_module, "read_image", lambda p: reads.append(p) or real_read(p))
    with pytest.raises(ConfigError, match="tile"):
        translate_batch([src], tmp_path / "out", model, recursive=True, tile=-5)
    afile = tmp_path / "afile"
    afile.write_text("mine")
    with pytest.raises(ExportError, match="afile is a file, not a folder"):
        translate_batch([src], afile, model, recursive=True)
    assert not reads and afile.read_text() == "mine"
    code = main(["translate", str(src), "--model", str(model_file), "--out", str(tmp_path / "o"), "--tile", "-5",
                 "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "tile" in err


def test_translating_into_the_input_folder_never_replaces_an_input(tmp_path, model_file):
    same = tmp_path / "same"
    same.mkdir()
    Image.new("RGB", (16, 16), (200, 30, 30)).save(same / "plain.jpg")
    Image.new("RGB", (16, 16), (30, 200, 30)).save(same / "plain.png")
    before = (same / "plain.png").read_bytes()
    model = load_translator(model_file, device="cpu", precision="fp32")
    result = translate_batch([same], same, model, existing="overwrite")
    assert (same / "plain.png").read_bytes() == before
    assert result.written == [same / "plain-jpg.png"]
    assert [p.name for p, _ in result.failed] == ["plain.png"]


def test_the_other_direction_into_the_same_folder_is_not_skipped_as_done(tmp_path):
    """A->B then B->A into one folder: the B->A run must not count the A->B results as its own."""
    from ganstudio.core.translate.models import ResnetGenerator

    torch.manual_seed(0)
    cycle = translator_from_generators({d: ResnetGenerator(3, 3, ngf=4, n_blocks=1) for d in ("AtoB", "BtoA")})
    src = tmp_path / "in"
    _inputs(src)
    first = translate_batch([src / "a.png"], tmp_path / "out", cycle, "AtoB")
    assert len(first.written) == 1
    second = translate_batch([src / "a.png"], tmp_path / "out", cycle, "BtoA")
    assert not second.skipped_existing and len(second.failed) == 1
    assert "made with direction AtoB, not BtoA" in second.failed[0][1]
    again = translate_batch([src / "a.png"], tmp_path / "out", cycle, "AtoB")   # the same direction: done
    assert len(again.skipped_existing) == 1 and not again.failed
