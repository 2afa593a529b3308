"""Uneven data, the primer's third reason GAN training fails: sub-folders of very different sizes,
and copies of one picture, are reported before training starts."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from ganstudio.core.data import Preprocess, load_dataset, scan_folder


def _pictures(folder: Path, count: int, seed: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for i in range(count):
        Image.fromarray(rng.integers(0, 256, (12, 12, 3), np.uint8)).save(folder / f"{i:03d}.png")


PRE = Preprocess(size=8)


def test_uneven_sub_folders_are_named_with_their_counts(tmp_path: Path) -> None:
    _pictures(tmp_path / "cats", 30, 1)
    _pictures(tmp_path / "dogs", 2, 2)
    for report in (scan_folder(tmp_path), load_dataset(tmp_path, PRE).report):
        [note] = report.notes
        assert "cats/ 30, dogs/ 2" in note and "cats/ holds 94%" in note
        assert "Note: The images are unevenly spread" in report.summary()


def test_even_or_flat_folders_get_no_note(tmp_path: Path) -> None:
    _pictures(tmp_path / "even" / "a", 10, 1)
    _pictures(tmp_path / "even" / "b", 6, 2)
    _pictures(tmp_path / "flat", 5, 3)
    assert scan_folder(tmp_path / "even").notes == []
    assert load_dataset(tmp_path / "flat", PRE).report.notes == []


def test_copies_of_a_picture_are_named(tmp_path: Path) -> None:
    _pictures(tmp_path, 4, 1)
    with Image.open(tmp_path / "001.png") as im:
        im.convert("RGB").save(tmp_path / "001 copy.bmp")   # the same picture in another format
    [note] = load_dataset(tmp_path, PRE).report.notes
    assert note.startswith("1 image is a copy of another picture in the folder (001.png = 001 copy.bmp)")
    assert scan_folder(tmp_path).notes == [note]   # the full check (dataset check) finds the same copy


def test_training_says_the_notes_as_it_starts(tmp_path: Path) -> None:
    from ganstudio.core import events as ev
    from ganstudio.core.config import TrainConfig
    from ganstudio.core.gan import GanOptions
    from ganstudio.core.trainer import train

    _pictures(tmp_path / "data" / "many", 20, 1)
    _pictures(tmp_path / "data" / "few", 1, 2)
    notes: list[str] = []
    train(TrainConfig(steps=1, batch_size=4, threads=1, ema=False), GanOptions(str(tmp_path / "data"), "dcgan-32"),
          tmp_path / "run", observers=[lambda e: notes.append(e.message) if isinstance(e, ev.HealthNote) else None])
    assert any(n.startswith("The images are unevenly spread over the sub-folders (many/ 20, few/ 1)") for n in notes)


def test_palette_pictures_in_other_colours_are_not_copies(tmp_path: Path) -> None:
    # recoloured sprites: the same palette indices, other palettes (or transparency) make other pictures
    indices = np.random.default_rng(3).integers(0, 4, (12, 12), np.uint8)
    for name, first in (("red", [255, 0, 0]), ("blue", [0, 0, 255])):
        sprite = Image.fromarray(indices, "P")
        sprite.putpalette(first + [0, 0, 0, 255, 255, 255, 9, 9, 9])
        sprite.save(tmp_path / f"{name}.png")
        sprite.save(tmp_path / f"{name} see-through.png", transparency=0)
    Image.open(tmp_path / "red.png").save(tmp_path / "red again.png")   # a real copy
    _pictures(tmp_path, 3, 4)
    [note] = scan_folder(tmp_path).notes
    assert note.startswith("1 image is a copy of another picture in the folder (red.png = red again.png)")
