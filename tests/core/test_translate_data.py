"""Translate data: pairing by name, side-by-side splitting, unpaired folders, aligned augmentation."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from ganstudio.core.errors import ConfigError, DatasetError
from ganstudio.core.translate.data import (Augment, PairedFolders, SideBySideFolder, UnpairedFolders, augment,
                                           match_pairs, random_crops, split_side_by_side)


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny nets gain nothing from a second thread, and on a shared 2-core machine a 2-thread
    torch job slows several-fold when another process is busy. Restores the setting afterwards
    (the trainer applies ``threads`` to torch globally)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def make_pairs(root: Path, n: int = 8, size: tuple[int, int] = (20, 24), grey_a: bool = False) -> tuple[Path, Path]:
    """``n`` random A images and their B partners (B = inverted A; with ``grey_a`` A is grey and B
    tinted), same names, in root/A and root/B."""
    rng = np.random.default_rng(0)
    a_dir, b_dir = root / "A", root / "B"
    a_dir.mkdir(parents=True, exist_ok=True)
    b_dir.mkdir(parents=True, exist_ok=True)
    h, w = size
    for i in range(n):
        a = (rng.random((h, w, 3)) * 255).astype(np.uint8)
        b = 255 - a
        if grey_a:
            a[:] = a[:, :, :1]
            b = 255 - a
            b[:, :, 2] = 0
        Image.fromarray(a).save(a_dir / f"im{i:02d}.png")
        Image.fromarray(b).save(b_dir / f"im{i:02d}.png")
    return a_dir, b_dir


def test_pairs_match_by_name_and_report_both_sides(tmp_path):
    a_dir, b_dir = make_pairs(tmp_path, n=3)
    Image.new("RGB", (20, 24), "red").save(a_dir / "only_a.png")
    Image.new("RGB", (20, 24), "red").save(b_dir / "only_b.jpg")
    (b_dir / "im01.png").rename(b_dir / "im01.jpg")   # other suffix still matches
    (a_dir / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    (b_dir / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")

    report = match_pairs(a_dir, b_dir)
    assert [(a.name, b.name) for a, b in report.pairs] == [("im00.png", "im00.png"), ("im01.png", "im01.jpg"),
                                                           ("im02.png", "im02.png")]
    assert [p.name for p in report.unmatched_a] == ["only_a.png"]
    assert [p.name for p in report.unmatched_b] == ["only_b.jpg"]
    assert {s.path.name for s in report.skipped} == {"broken.png"} and all(s.reason for s in report.skipped)
    assert "without a partner" in report.summary()

    data = PairedFolders(a_dir, b_dir, load_size=0)
    assert len(data) == 3 and data.names == ["im00", "im01", "im02"]
    assert data.a_channels == data.b_channels == 3
    # B really is A's partner: inverted (JPEG only approximately)
    assert torch.equal(data.b[0], 255 - data.a[0])


def test_a_partner_that_exists_but_is_unreadable_is_not_reported_as_missing(tmp_path):
    a_dir, b_dir = make_pairs(tmp_path, n=2)
    Image.new("RGB", (20, 24), "red").save(a_dir / "cat.png")
    (b_dir / "cat.jpg").write_bytes(b"\x89PNG\r\n\x1a\n not really")      # the partner, broken
    Image.new("RGB", (20, 24), "red").save(b_dir / "dog.png")
    (a_dir / "dog.png").write_bytes(b"")                                  # A's side broken this time
    Image.new("RGB", (20, 24), "red").save(a_dir / "lonely.png")

    report = match_pairs(a_dir, b_dir)
    assert len(report.pairs) == 2
    assert [p.name for p in report.unmatched_a] == ["lonely.png"] and report.unmatched_b == []
    [(path, partners)] = report.unreadable_partner_a
    assert path.name == "cat.png" and [s.path.name for s in partners] == ["cat.jpg"]
    skipped = {s.path.name: s.reason for s in report.skipped}
    assert partners[0].reason == skipped["cat.jpg"] and partners[0].reason
    [(path, partners)] = report.unreadable_partner_b
    assert path.name == "dog.png" and partners[0].path == a_dir / "dog.png" and partners[0].reason == skipped["dog.png"]
    summary = report.summary()
    assert "1 in A without a partner (e.g. lonely.png)" in summary
    assert f"1 in A whose partner in B cannot be used (e.g. cat.png; cat.jpg: {skipped['cat.jpg']})" in summary


def test_ambiguous_names_are_skipped(tmp_path):
    a_dir, b_dir = make_pairs(tmp_path, n=2)
    Image.open(a_dir / "im00.png").save(a_dir / "im00.bmp")
    report = match_pairs(a_dir, b_dir)
    assert [a.name for a, _ in report.pairs] == ["im01.png"]
    assert {s.path.name for s in report.skipped} == {"im00.png", "im00.bmp"}
    assert "ambiguous" in report.skipped[0].reason


def test_no_matching_pairs_says_what_was_found(tmp_path):
    a_dir, b_dir = tmp_path / "A", tmp_path / "B"
    make_pairs(tmp_path / "x", n=2)
    a_dir.mkdir()
    b_dir.mkdir()
    for i in range(3):
        Image.new("L", (8, 8)).save(a_dir / f"cat{i}.png")
    for i in range(4):
        Image.new("L", (8, 8)).save(b_dir / f"dog{i}.png")
    with pytest.raises(DatasetError, match=r"No matching pairs: A .* has 3 image files, B .* has 4; names must match"):
        PairedFolders(a_dir, b_dir)


def test_load_size_keeps_aspect_and_b_follows_a(tmp_path):
    a_dir, b_dir = make_pairs(tmp_path, n=2, size=(30, 60))
    Image.new("RGB", (120, 60), "white").save(b_dir / "im01.png")   # B twice as large: resized to A's size
    data = PairedFolders(a_dir, b_dir, load_size=15)
    assert tuple(data.a[0].shape) == (3, 15, 30)
    assert tuple(data.b[1].shape) == tuple(data.a[1].shape)


def test_grey_side_is_detected(tmp_path):
    a_dir, b_dir = make_pairs(tmp_path, n=2, grey_a=True)
    data = PairedFolders(a_dir, b_dir, load_size=0)
    assert (data.a_channels, data.b_channels) == (1, 3)
    forced = PairedFolders(a_dir, b_dir, load_size=0, channels="rgb")
    assert (forced.a_channels, forced.b_channels) == (3, 3)
    with pytest.raises(ConfigError, match="channels"):
        PairedFolders(a_dir, b_dir, channels="cmyk")


def test_side_by_side_split(tmp_path):
    folder = tmp_path / "sbs"
    folder.mkdir()
    img = np.zeros((10, 21, 3), np.uint8)
    img[:, :10] = (255, 0, 0)
    img[:, 10] = (0, 255, 0)      # odd middle column: dropped
    img[:, 11:] = (0, 0, 255)
    Image.fromarray(img).save(folder / "p.png")

    left, right = split_side_by_side(img)
    assert left.shape == right.shape == (10, 10, 3)
    assert (left == (255, 0, 0)).all() and (right == (0, 0, 255)).all()
    data = SideBySideFolder(folder, load_size=0)
    assert data.a[0][:, 0, 0].tolist() == [255, 0, 0] and data.b[0][:, 0, 0].tolist() == [0, 0, 255]
    swapped = SideBySideFolder(folder, split="B|A", load_size=0)
    assert swapped.a[0][:, 0, 0].tolist() == [0, 0, 255]
    with pytest.raises(ConfigError, match="split"):
        SideBySideFolder(folder, split="left")


def test_unpaired_folders_any_sizes_and_counts(tmp_path):
    a_dir, b_dir = tmp_path / "A", tmp_path / "B"
    a_dir.mkdir()
    b_dir.mkdir()
    for i, size in enumerate([(20, 30), (40, 25), (33, 33)]):
        Image.new("RGB", size, (i * 40, 10, 200)).save(a_dir / f"a{i}.png")
    Image.new("L", (50, 20), 90).save(b_dir / "b.png")
    (b_dir / "bad.jpg").write_bytes(b"nope")
    data = UnpairedFolders(a_dir, b_dir, load_size=20)
    assert len(data.a) == 3 and len(data.b) == 1
    assert [min(t.shape[-2:]) for t in data.a] == [20, 20, 20]
    assert data.b_channels == 1 and [s.path.name for s in data.skipped] == ["bad.jpg"]


def test_crops_and_augmentation_keep_pairs_aligned():
    rng = torch.Generator().manual_seed(0)
    a = [torch.randint(0, 256, (1, 30, 40), dtype=torch.uint8) for _ in range(4)]
    b = [t.clone() for t in a]
    ca, cb = random_crops([a, b], [0, 1, 2, 3, 1], 16, rng)
    assert ca.shape == (5, 1, 16, 16) and torch.equal(ca, cb)
    x = torch.cat([ca, cb], dim=1).float() / 127.5 - 1
    y = augment(x, Augment(16, flip=True, shift=0.25, zoom=0.2), rng)
    assert y.shape == x.shape and torch.allclose(y[:, 0], y[:, 1])
    assert not torch.allclose(y, x)
    # whole-pixel shifts without zoom are exact: values stay on the uint8 grid
    z = augment(x, Augment(16, flip=False, shift=0.25), rng)
    assert torch.allclose((z + 1) * 127.5, ((z + 1) * 127.5).round(), atol=1e-3)


def test_sizes_give_the_short_sides_and_a_crop_that_fits(tmp_path):
    from ganstudio.core.data import median_side
    from ganstudio.core.translate.data import fitting_crop, short_sides

    a_dir, b_dir = tmp_path / "A", tmp_path / "B"
    a_dir.mkdir()
    b_dir.mkdir()
    for name, a_size, b_size in (("x", (70, 50), (70, 60)), ("y", (90, 90), (80, 100))):
        Image.new("RGB", a_size).save(a_dir / f"{name}.png")
        Image.new("RGB", b_size).save(b_dir / f"{name}.png")
    report = match_pairs(a_dir, b_dir)
    assert report.sizes[a_dir / "x.png"] == (70, 50)
    sides = short_sides(report.sizes[p] for pair in report.pairs for p in pair)
    assert sorted(sides) == [50, 60, 80, 90] and median_side(sides) == 60 and median_side([]) == 0
    assert short_sides([(200, 64), (100, 64)], side_by_side=True) == [64, 50]
    assert (fitting_crop(50), fitting_crop(64), fitting_crop(10)) == (48, 64, 16)


def test_one_folder_as_both_sides_is_refused(tmp_path):
    a, b = make_pairs(tmp_path)
    with pytest.raises(DatasetError, match="same folder"):
        match_pairs(a, a)
    inner = a / "more"
    inner.mkdir()
    with pytest.raises(DatasetError, match="is inside"):
        match_pairs(a, inner)
