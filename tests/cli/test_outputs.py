"""Files that are already there (the same flags and defaults in every command that writes), and the
per-file notes and failures of batches."""
from __future__ import annotations

import re

import numpy as np
import pytest
import torch
from PIL import Image

from ganstudio.cli import main
from tests.conftest import make_images


@pytest.fixture(scope="module")
def gan_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("gan")
    make_images(root / "images", n=8)
    assert main(["train", str(root / "images"), "--preset", "seed-dcgan-16", "--steps", "1", "--batch-size", "4",
                 "--out", str(root / "run"), "--quiet", "--threads", "1"]) == 0
    return root / "run"


@pytest.fixture(scope="module")
def translator(tmp_path_factory):
    from ganstudio.core.translate.inference import save_translator, translator_from_generators
    from ganstudio.core.translate.models import UNetGenerator

    torch.manual_seed(0)
    model = translator_from_generators({"AtoB": UNetGenerator(3, 3, ngf=4, depth=3)}, {})
    return save_translator(model, tmp_path_factory.mktemp("model") / "tiny.safetensors")


def test_generate_refuses_existing_images_before_writing_any_unless_told(tmp_path, gan_run, capsys):
    out = tmp_path / "o"
    assert main(["generate", str(gan_run), "--n", "2", "--seed", "5", "--out", str(out)]) == 0
    (out / "seed-00005.png").write_bytes(b"mine")
    capsys.readouterr()
    assert main(["generate", str(gan_run), "--n", "3", "--seed", "5", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err == (f"error: {out / 'seed-00005.png'} and 1 more of the 3 files already exist; --overwrite "
                   "replaces them, --skip-existing keeps them and writes the rest.\n")
    assert sorted(p.name for p in out.iterdir()) == ["seed-00005.png", "seed-00006.png"]    # nothing new

    assert main(["generate", str(gan_run), "--n", "3", "--seed", "5", "--out", str(out), "--skip-existing"]) == 0
    assert capsys.readouterr().out == f"wrote 1 image to {out}; kept 2 that were already there\n"
    assert (out / "seed-00005.png").read_bytes() == b"mine" and (out / "seed-00007.png").is_file()
    assert not list(out.glob("*-1.png"))                                 # no renamed copies

    assert main(["generate", str(gan_run), "--n", "3", "--seed", "5", "--out", str(out), "--overwrite"]) == 0
    with Image.open(out / "seed-00005.png") as im:
        assert im.size == (16, 16)
    assert len(list(out.iterdir())) == 3


def test_generate_checks_a_grid_and_an_interpolation_before_any_work(tmp_path, gan_run, capsys):
    out = tmp_path / "o"
    out.mkdir()
    frames = out / "interpolation-1-2"
    frames.mkdir()
    (frames / "frame-0002.png").write_bytes(b"mine")
    argv = ["generate", str(gan_run), "--interpolate", "1", "2", "--frames", "4", "--out", str(out)]
    assert main(argv) == 2
    assert capsys.readouterr().err == (f"error: {frames / 'frame-0002.png'} already exists; --overwrite replaces it, "
                                       "or choose another --out.\n")
    assert [p.name for p in frames.iterdir()] == ["frame-0002.png"]     # no frame 0 or 1 written before it
    assert [p.name for p in out.iterdir()] == ["interpolation-1-2"]
    assert main([*argv, "--skip-existing"]) == 2
    assert "--skip-existing keeps the images of single seeds" in capsys.readouterr().err
    assert main([*argv, "--overwrite"]) == 0
    assert (out / "interpolation-1-2.gif").is_file()
    (out / "grid-seed0-n4.png").write_bytes(b"mine")
    assert main(["generate", str(gan_run), "--grid", "--n", "4", "--out", str(out)]) == 2
    assert capsys.readouterr().err.rstrip().endswith("already exists; choose another name, or --overwrite replaces it.")


def test_writing_commands_say_in_their_help_what_happens_to_existing_files(capsys):
    expected = {"generate": ["--skip-existing", "--overwrite", "default: stop with an error before writing anything"],
                "upscale": ["--skip-existing", "--overwrite", "the default: running a batch again finishes it"],
                "translate": ["--skip-existing", "--overwrite", "the default: running a batch again finishes it"],
                "export-translator": ["--overwrite", "default: stop with an error"]}
    for command, words in expected.items():
        with pytest.raises(SystemExit):
            main([command, "--help"])
        text = " ".join(capsys.readouterr().out.split())
        for word in words:
            assert word in text, (command, word)


def _odd_pictures(folder):
    """A plain picture, three whose reading converts them (animated GIF, CMYK JPEG, 16-bit PNG), and
    a broken file."""
    folder.mkdir(parents=True)
    Image.new("RGB", (6, 5), (10, 200, 30)).save(folder / "plain.png")
    frames = [Image.new("RGB", (6, 5), (80 * i, 0, 0)) for i in range(3)]
    frames[0].save(folder / "moving.gif", save_all=True, append_images=frames[1:])
    Image.new("CMYK", (6, 5), (0, 100, 200, 0)).save(folder / "print.jpg")
    Image.fromarray(np.full((5, 6), 40000, np.uint16)).save(folder / "deep.png")
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    return folder


@pytest.mark.parametrize("command", ["upscale", "translate"])
def test_batches_print_one_note_per_converted_file_and_list_failures_at_the_end(tmp_path, capsys, command,
                                                                               translator):
    src = _odd_pictures(tmp_path / "in")
    model = ["--model", "bicubic"] if command == "upscale" else ["--model", str(translator), "--precision", "fp32"]
    argv = [command, str(src), *model, "--out", str(tmp_path / "out"), "--threads", "1"]
    assert main(argv) == 1                                               # broken.png failed
    err = capsys.readouterr().err
    lines = [line.strip() for line in re.split(r"[\r\n]", err)]    # the bar redraws itself with \r
    notes = [line for line in lines if line.startswith("note: ")]
    assert sorted(notes) == sorted([f"note: {src / 'moving.gif'}: animated: the first of its 3 frames is used",
                                    f"note: {src / 'print.jpg'}: CMYK converted to RGB",
                                    f"note: {src / 'deep.png'}: 16-bit image reduced to 8 bits"]), err
    failed = [line for line in lines if line.startswith("failed: ")]
    assert len(failed) == 1 and failed[0].startswith(f"failed: {src / 'broken.png'}: ")
    assert err.rstrip().endswith(failed[0])                              # listed after the bar, at the end

    # a rerun skips the four written files (the default), says so, and reads nothing again: no notes
    assert main(argv) == 1
    captured = capsys.readouterr()
    assert "0 written, 4 skipped (already there), 1 failed" in captured.out and "note: " not in captured.err
    assert main([*argv, "--skip-existing", "--quiet"]) == 1
    assert "4 skipped" in capsys.readouterr().out
    assert main([*argv, "--overwrite", "--quiet"]) == 1                  # quiet: no bar, no notes
    captured = capsys.readouterr()
    assert "4 written" in captured.out and "note: " not in captured.err and "failed: " in captured.err


def test_export_translator_refuses_an_existing_file_and_names_overwrite(tmp_path, translator, capsys):
    target = tmp_path / "m.safetensors"
    target.write_bytes(b"mine")
    assert main(["export-translator", str(translator), str(target)]) == 2
    assert capsys.readouterr().err.rstrip().endswith("already exists; choose another name, or --overwrite replaces it.")
    assert target.read_bytes() == b"mine"
    assert main(["export-translator", str(translator), "--out", str(target), "--overwrite"]) == 0
    assert target.stat().st_size > 100
