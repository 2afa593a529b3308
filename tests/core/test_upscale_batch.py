"""The batch loop shared by Upscale and Translate: output names, inputs that are never replaced,
output folders that cannot be written, and settings checked once before any file is read."""
from __future__ import annotations

import errno
import tempfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ganstudio.core.errors import ConfigError, ExportError
from ganstudio.core.export import atomic_write_bytes, read_png_metadata, save_png
from ganstudio.core.upscale import batch as batch_module
from ganstudio.core.upscale.batch import plan_batch, run_batch, upscale_batch
from ganstudio.core.upscale.tiling import InferenceSettings, baseline

FAST = InferenceSettings(tile=0, device="cpu", precision="fp32")


def _image(path: Path, seed: int, size: tuple[int, int] = (6, 5)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.random.default_rng(seed).integers(0, 256, (size[1], size[0], 3), np.uint8)
    Image.fromarray(pixels).save(path)
    return path


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}


# -- names ------------------------------------------------------------------------------------------
def test_a_png_keeps_its_name_and_same_named_files_add_their_type(tmp_path: Path) -> None:
    src = tmp_path / "in"
    for name in ("plain.jpg", "plain.png", "photo.jpg", "twin.jpg", "twin.jpeg"):
        _image(src / name, len(name))
    items, _ = plan_batch([src], tmp_path / "out")
    names = {i.source.name: i.target.name for i in items}
    assert names == {"plain.jpg": "plain-jpg.png", "plain.png": "plain.png", "photo.jpg": "photo.png",
                     "twin.jpg": "twin-jpg.png", "twin.jpeg": "twin-jpeg.png"}


def test_names_do_not_depend_on_what_else_is_in_the_batch(tmp_path: Path) -> None:
    src, out = tmp_path / "in", tmp_path / "out"
    _image(src / "plain.jpg", 1)
    _image(src / "plain.png", 2)
    whole = {i.source.name: i.target for i in plan_batch([src], out)[0]}
    for name in ("plain.jpg", "plain.png"):
        alone = plan_batch([src / name], out)[0]
        assert [i.target for i in alone] == [whole[name]]
    reversed_order = plan_batch([src / "plain.png", src / "plain.jpg"], out)[0]
    assert {i.source.name: i.target for i in reversed_order} == whole


def test_a_single_run_after_a_folder_run_skips_only_its_own_output(tmp_path: Path) -> None:
    src, out = tmp_path / "in", tmp_path / "out"
    _image(src / "plain.jpg", 1)
    _image(src / "plain.png", 2)
    up = baseline("bicubic", 2)
    assert len(upscale_batch([src], out, up, settings=FAST).written) == 2
    again = upscale_batch([src / "plain.png"], out, up, settings=FAST)
    assert again.skipped_existing == [out / "plain.png"] and not again.failed
    assert read_png_metadata(out / "plain.png")["source"] == "plain.png"
    assert read_png_metadata(out / "plain-jpg.png")["source"] == "plain.jpg"


def test_skip_does_not_count_another_files_output_as_done(tmp_path: Path) -> None:
    # out/a.png was made from a.jpg (an older run, before a.png was added to the folder)
    src, out = tmp_path / "in", tmp_path / "out"
    _image(src / "a.jpg", 1)
    up = baseline("bicubic", 2)
    upscale_batch([src], out, up, settings=FAST)
    made_from_jpg = (out / "a.png").read_bytes()
    _image(src / "a.png", 2)
    result = upscale_batch([src / "a.png"], out, up, settings=FAST)
    assert not result.skipped_existing and not result.written
    [(path, reason)] = result.failed
    assert path == src / "a.png" and "a.jpg" in reason and "overwrit" in reason
    assert (out / "a.png").read_bytes() == made_from_jpg          # skip still never replaces anything


# -- inputs are never outputs ------------------------------------------------------------------------
@pytest.mark.parametrize("existing", ["skip", "overwrite"])
def test_output_folder_that_is_the_input_folder_never_replaces_an_input(tmp_path: Path, existing: str) -> None:
    same = tmp_path / "same"
    _image(same / "plain.jpg", 1)
    _image(same / "plain.png", 2, size=(7, 3))
    before = _snapshot(same)
    result = upscale_batch([same], same, baseline("bicubic", 2), settings=FAST, existing=existing)
    after = _snapshot(same)
    assert {k: after[k] for k in before} == before                 # every original untouched
    assert result.written == [same / "plain-jpg.png"]
    with Image.open(same / "plain-jpg.png") as im:
        assert im.size == (12, 10)                                  # upscaled once, from plain.jpg
    assert [p.name for p, _ in result.failed] == ["plain.png"]
    assert "replace this input" in result.failed[0][1]


def test_a_target_that_is_another_input_is_refused_before_anything_is_written(tmp_path: Path) -> None:
    root = tmp_path / "root"
    _image(root / "a.png", 1, size=(4, 4))
    _image(root / "sub" / "a.png", 2, size=(5, 5))   # its output would be root/a.png: an input
    before = (root / "a.png").read_bytes()
    calls: list[Path] = []

    def process(item, overwrite, on_tile, stop):
        calls.append(item.source)
        return save_png(np.zeros((2, 2, 3), np.uint8), item.target, overwrite=overwrite)

    result = run_batch([root / "sub" / "a.png", root / "a.png"], root, process, existing="overwrite")
    assert (root / "a.png").read_bytes() == before
    [(path, reason)] = result.failed
    assert path == root / "sub" / "a.png" and "would replace" in reason and "input" in reason
    # root/a.png's own name was taken by sub/a.png's planned output, so it gets the typed name
    assert calls == [root / "a.png"] and result.written == [root / "a-png.png"]


# -- output folders that cannot be written ---------------------------------------------------------
def _read_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """Root ignores permissions, so a read-only file system is simulated where files are created."""
    def refuse(*args, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system", "/x/.plain.png.c9ump17w.tmp")

    monkeypatch.setattr(tempfile, "mkstemp", refuse)


def test_a_read_only_output_folder_stops_the_batch_before_any_image_is_read(tmp_path: Path, monkeypatch) -> None:
    src, out = tmp_path / "in", tmp_path / "out"
    _image(src / "a.png", 1)
    _image(src / "b.png", 2)
    out.mkdir()
    _read_only(monkeypatch)
    calls: list[Path] = []
    with pytest.raises(ExportError) as caught:
        run_batch([src], out, lambda item, *rest: calls.append(item.source))
    assert not calls
    message = str(caught.value)
    assert message == f"Cannot write to {out}: the drive is read-only; choose a folder on another drive."
    assert ".tmp" not in message


def test_an_output_path_that_is_a_file_is_named_plainly(tmp_path: Path) -> None:
    src = tmp_path / "in"
    _image(src / "a.png", 1)
    afile = tmp_path / "afile"
    afile.write_text("keep me")
    with pytest.raises(ExportError, match=r"afile is a file, not a folder"):
        upscale_batch([src], afile, baseline("bicubic", 2), settings=FAST)
    with pytest.raises(ExportError, match=r"afile is a file, not a folder"):
        upscale_batch([src], afile / "deeper", baseline("bicubic", 2), settings=FAST)
    assert afile.read_text() == "keep me"


@pytest.mark.parametrize("code,words", [(errno.EROFS, "the drive is read-only"),
                                        (errno.EACCES, "you do not have permission to write there"),
                                        (errno.ENOSPC, "the disk is full")])
def test_export_turns_every_os_error_into_a_plain_export_error(tmp_path: Path, monkeypatch, code: int,
                                                               words: str) -> None:
    def refuse(*args, **kwargs):
        raise OSError(code, "raw", str(tmp_path / ".a.png.abc123.tmp"))

    monkeypatch.setattr(tempfile, "mkstemp", refuse)
    with pytest.raises(ExportError) as caught:
        atomic_write_bytes(tmp_path / "a.png", b"data")
    assert words in str(caught.value) and ".tmp" not in str(caught.value)
    assert caught.value.disk_full == (code == errno.ENOSPC)
    monkeypatch.undo()
    blocker = tmp_path / "blocker"
    blocker.write_text("x")
    with pytest.raises(ExportError, match="blocker is a file, not a folder"):
        atomic_write_bytes(blocker / "sub" / "a.png", b"data")


# -- settings checked once -----------------------------------------------------------------------------
@pytest.mark.parametrize("settings,words", [
    (InferenceSettings(tile=-5, device="cpu"), "tile"),
    (InferenceSettings(overlap=-1, device="cpu"), "overlap"),
    (InferenceSettings(device="tpu"), "Invalid device"),
    (InferenceSettings(device="cpu", precision="foo"), "Invalid precision"),
])
def test_invalid_settings_fail_once_before_any_file_is_read(tmp_path: Path, monkeypatch, settings, words) -> None:
    src = tmp_path / "in"
    for i in range(3):
        _image(src / f"{i}.png", i)
    reads: list[object] = []
    monkeypatch.setattr(batch_module, "read_image", lambda p: reads.append(p))
    net = baseline("bicubic", 2)
    with pytest.raises(ConfigError, match=words):
        upscale_batch([src], tmp_path / "out", net, settings=settings)
    assert not reads and not (tmp_path / "out").exists()


def test_cuda_without_a_gpu_fails_once(tmp_path: Path, monkeypatch) -> None:
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    _image(tmp_path / "in" / "a.png", 1)
    with pytest.raises(ConfigError, match="no CUDA GPU"):
        upscale_batch([tmp_path / "in"], tmp_path / "out", baseline("bicubic", 2),
                      settings=InferenceSettings(device="cuda"))


def test_rerunning_a_batch_into_the_folder_it_reads_skips_its_earlier_results(tmp_path: Path) -> None:
    """Its outputs sit among its inputs: a rerun must not upscale them again or pile up copies."""
    folder = tmp_path / "in"
    _image(folder / "a.jpg", 1)
    _image(folder / "b.png", 2)
    _image(folder / "c.jpg", 3)
    up = baseline("bicubic", 2)
    first = upscale_batch([folder], folder, up, settings=FAST)
    assert sorted(p.name for p in first.written) == ["a.png", "c.png"]
    assert [p.name for p, _ in first.failed] == ["b.png"]          # its own output would replace it
    for _ in range(2):
        again = upscale_batch([folder], folder, up, settings=FAST)
        assert not again.written and sorted(p.name for p in again.skipped_existing) == ["a.png", "c.png"]
        assert [p.name for p, _ in again.failed] == ["b.png"]
    assert sorted(p.name for p in folder.iterdir()) == ["a.jpg", "a.png", "b.png", "c.jpg", "c.png"]


def test_batch_reports_what_reading_each_written_file_changed(tmp_path: Path) -> None:
    src = tmp_path / "in"
    src.mkdir()
    frames = [Image.new("RGB", (6, 5), (80 * i, 0, 0)) for i in range(3)]
    frames[0].save(src / "moving.gif", save_all=True, append_images=frames[1:])
    _image(src / "plain.png", 1)
    told: list[tuple[Path, list[str]]] = []
    result = upscale_batch([src], tmp_path / "out", baseline("bicubic", 2), settings=FAST,
                           on_note=lambda path, notes: told.append((path, notes)))
    assert len(result.written) == 2
    assert result.notes == [(src / "moving.gif", "animated: the first of its 3 frames is used")]
    assert told == [(src / "moving.gif", ["animated: the first of its 3 frames is used"])]
    # a rerun skips both files without reading them, so nothing is noted
    assert upscale_batch([src], tmp_path / "out", baseline("bicubic", 2), settings=FAST).notes == []
