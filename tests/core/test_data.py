"""Tests of ganstudio.core.data: scanning, decoding, preprocessing, caching, sampling, previews.

Every image is a tiny synthetic file written to tmp_path, so the whole file runs in seconds.
"""
from __future__ import annotations

import gzip
import io
import os
import struct
import time
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageFile, PngImagePlugin

from ganstudio.core.data import (
    REASON_TEXT_TOO_LARGE,
    Cancelled,
    EpochSampler,
    ImageDataset,
    Preprocess,
    ScanReport,
    check_usable,
    load_dataset,
    load_images,
    make_grid,
    preview_sheet,
    scan_folder,
    sheet_on_white,
    to_uint8_images,
)
from ganstudio.core.errors import CheckpointError, ConfigError, DatasetError

RED, GREEN, BLUE = (255, 0, 0), (0, 255, 0), (0, 0, 255)
# chmod 000 does not stop root (nor Windows) from reading a file.
RUNNING_AS_ROOT = not hasattr(os, "geteuid") or os.geteuid() == 0


# ----------------------------------------------------------------------------- helpers


def solid(path: Path, colour=RED, size=(12, 10), fmt: str | None = None, mode: str = "RGB") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new(mode, size, colour).save(path, fmt)
    return path


def noise_bytes(fmt: str, size=(24, 24)) -> bytes:
    # Noise does not compress, so cutting the file in half really cuts into the pixel data.
    pixels = np.random.default_rng(0).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, fmt)
    return buffer.getvalue()


def png_header_only(width: int, height: int) -> bytes:
    """A PNG whose header claims width x height but holds no pixels: a decompression bomb's shape."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IEND", b"")


def write_idx(path: Path, images: np.ndarray, magic: int = 0x00000803, compress: bool = False) -> Path:
    count, rows, cols = images.shape
    payload = struct.pack(">4I", magic, count, rows, cols) + images.astype(np.uint8).tobytes()
    path.write_bytes(gzip.compress(payload) if compress else payload)
    return path


def write_cifar(path: Path, images_chw: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    labels = np.arange(len(images_chw), dtype=np.uint8)[:, None]
    records = np.concatenate([labels, images_chw.reshape(len(images_chw), -1)], axis=1)
    path.write_bytes(records.astype(np.uint8).tobytes())
    return path


def reasons(report: ScanReport) -> dict[str, str]:
    return {s.path.name: s.reason for s in report.skipped}


def pixel(dataset: ImageDataset, index: int, y: int, x: int) -> tuple[int, ...]:
    return tuple(int(v) for v in dataset.images[index, :, y, x])


# ----------------------------------------------------------------------------- options


def test_preprocess_rejects_bad_values_and_names_the_allowed_ones():
    with pytest.raises(ConfigError, match="from 4 to 2048"):
        Preprocess(size=3)
    with pytest.raises(ConfigError, match="from 4 to 2048"):
        Preprocess(size=True)
    with pytest.raises(ConfigError, match="center-crop, random-crop, pad, stretch"):
        Preprocess(fit="zoom")
    with pytest.raises(ConfigError, match="rgb, grey"):
        Preprocess(color="cmyk")
    with pytest.raises(ConfigError, match="white, black"):
        Preprocess(background="grey")
    assert Preprocess(color="grey").channels == 1 and Preprocess().channels == 3
    assert Preprocess(size=64, fit="random-crop").cache_side == 72
    assert Preprocess(size=4, fit="random-crop").cache_side > 4
    assert Preprocess(size=64, fit="pad").cache_side == 64


def test_invalid_cache_mode_is_a_config_error(tmp_path):
    solid(tmp_path / "a.png")
    with pytest.raises(ConfigError, match="memory, disk"):
        load_dataset(tmp_path, Preprocess(size=8), cache="ram")


# ----------------------------------------------------------------------------- scanning


@pytest.fixture
def messy_folder(tmp_path: Path) -> Path:
    solid(tmp_path / "good.png")
    solid(tmp_path / "sub" / "deeper" / "nested.jpg", GREEN)
    solid(tmp_path / "Upper.PNG", BLUE)
    (tmp_path / "trunc.png").write_bytes(noise_bytes("PNG")[:-400])
    (tmp_path / "trunc.jpg").write_bytes(noise_bytes("JPEG")[:-300])
    (tmp_path / "empty.png").write_bytes(b"")
    (tmp_path / "text.png").write_text("this is not a picture\n")
    (tmp_path / "really_jpeg.png").write_bytes(noise_bytes("JPEG"))
    (tmp_path / "notes.txt").write_text("notes")
    solid(tmp_path / ".hidden.png")
    solid(tmp_path / ".thumbnails" / "thumb.png")
    return tmp_path


def test_scan_finds_images_recursively_and_explains_each_bad_file(messy_folder):
    report = scan_folder(messy_folder)
    assert report.kind == "images"
    assert [p.relative_to(messy_folder).as_posix() for p in report.usable] == [
        "good.png", "really_jpeg.png", "sub/deeper/nested.jpg", "Upper.PNG",
    ]
    assert reasons(report) == {
        "empty.png": "empty file (0 bytes)",
        "text.png": "not an image (unrecognised format)",
        "trunc.jpg": "truncated or corrupt image data",
        "trunc.png": "truncated or corrupt image data",
    }
    assert report.mislabelled == [(messy_folder / "really_jpeg.png", "JPEG")]
    assert report.files_seen == 8 and report.other_files == 1 and report.other_by_extension == {".txt": 1}
    assert report.sizes[0] == (12, 10)
    assert report.size_range() == ((12, 10), (24, 24))
    every_path = report.usable + [s.path for s in report.skipped]
    assert not any(part.startswith(".") for p in every_path for part in p.relative_to(messy_folder).parts)


def test_load_skips_bad_files_without_raising_and_uses_mislabelled_ones(messy_folder):
    dataset = load_dataset(messy_folder, Preprocess(size=8))
    assert len(dataset) == 4
    assert dataset.images.shape == (4, 3, 8, 8) and dataset.images.dtype == torch.uint8
    assert dataset.images.is_contiguous()
    assert pixel(dataset, 0, 4, 4) == RED and pixel(dataset, 3, 4, 4) == BLUE
    assert len(dataset.report.skipped) == 4
    assert dataset.report.mislabelled[0][1] == "JPEG"


def test_summary_names_files_and_reasons_and_caps_long_lists(tmp_path):
    solid(tmp_path / "fine.png")
    for i in range(25):
        (tmp_path / f"blank{i:02d}.png").write_bytes(b"")
    (tmp_path / "broken.png").write_bytes(noise_bytes("PNG")[:-400])
    (tmp_path / "a.txt").write_text("x")
    text = scan_folder(tmp_path).summary()
    assert "Usable: 1 of 27 image files" in text
    assert "empty file (0 bytes) (25):" in text and "blank00.png" in text and "blank19.png" in text
    assert "blank20.png" not in text and "... and 5 more" in text
    assert "truncated or corrupt image data (1):" in text and "broken.png" in text
    assert "1 .txt" in text and "Sizes: all 12x10 pixels" in text


def test_unreadable_file_is_reported_as_permission_denied(tmp_path, monkeypatch):
    solid(tmp_path / "ok.png")
    locked = solid(tmp_path / "locked.png")
    real_open = Image.open

    # Tests run as root, where chmod 000 does not stop reading: refuse the one file instead.
    def refusing_open(fp, *args, **kwargs):
        if Path(fp) == locked:
            raise PermissionError(13, "Permission denied", str(fp))
        return real_open(fp, *args, **kwargs)

    monkeypatch.setattr(Image, "open", refusing_open)
    report = scan_folder(tmp_path)
    assert reasons(report) == {"locked.png": "cannot be read: permission denied"}
    assert len(load_dataset(tmp_path, Preprocess(size=8)).report.skipped) == 1


@pytest.mark.skipif(RUNNING_AS_ROOT, reason="root reads files despite chmod 000")
def test_chmod_000_file_is_reported_as_permission_denied(tmp_path):
    solid(tmp_path / "ok.png")
    locked = solid(tmp_path / "locked.png")
    locked.chmod(0)
    try:
        assert reasons(scan_folder(tmp_path)) == {"locked.png": "cannot be read: permission denied"}
    finally:
        locked.chmod(0o644)


def test_image_over_max_pixels_is_skipped_before_its_pixels_are_read(tmp_path, monkeypatch):
    solid(tmp_path / "big.png", size=(100, 80))

    def no_decoding(self):
        raise AssertionError("the pixels of an oversized image were decoded")

    monkeypatch.setattr(ImageFile.ImageFile, "load", no_decoding)
    report = scan_folder(tmp_path, max_pixels=5000)
    assert reasons(report) == {"big.png": "too large: 100x80 pixels exceeds the limit of 0.005 megapixels"}
    images, report = load_images(tmp_path, Preprocess(size=8), max_pixels=5000)
    assert len(images) == 0 and len(report.skipped) == 1


def test_decompression_bomb_headers_are_refused_cheaply(tmp_path):
    (tmp_path / "bomb.png").write_bytes(png_header_only(20000, 20000))   # beyond Pillow's hard limit
    (tmp_path / "huge.png").write_bytes(png_header_only(12000, 8000))    # beyond ours, under Pillow's
    solid(tmp_path / "fine.png")
    with pytest.warns(Image.DecompressionBombWarning):
        report = scan_folder(tmp_path)
    found = reasons(report)
    assert found["bomb.png"] == "too large: exceeds the limit of 89 megapixels"
    assert found["huge.png"] == "too large: 12000x8000 pixels exceeds the limit of 89 megapixels"
    assert [p.name for p in report.usable] == ["fine.png"]


def test_a_png_whose_text_unpacks_too_large_is_skipped_not_a_crash(tmp_path):
    # Pillow refuses a text chunk that unpacks to over 1 MB, while opening the file (a chunk before the
    # pixels) or in load() (one after them): the file is skipped with that reason, never a traceback
    # that ends the whole scan
    info = PngImagePlugin.PngInfo()
    info.add_text("Comment", "A" * 2_000_000, zip=True)            # 2 MB of text in a 2 kB zTXt chunk
    Image.new("RGB", (4, 4)).save(tmp_path / "before.png", pnginfo=info)
    body = b"Comment\0\0" + zlib.compress(b"A" * 2_000_000)
    ztxt = struct.pack(">I", len(body)) + b"zTXt" + body + struct.pack(">I", zlib.crc32(b"zTXt" + body))
    plain = solid(tmp_path / "fine.png").read_bytes()
    (tmp_path / "after.png").write_bytes(plain[:-12] + ztxt + plain[-12:])   # just before IEND
    assert reasons(scan_folder(tmp_path)) == {"after.png": REASON_TEXT_TOO_LARGE,
                                              "before.png": REASON_TEXT_TOO_LARGE}
    assert reasons(scan_folder(tmp_path, decode=False)) == {"before.png": REASON_TEXT_TOO_LARGE}
    assert [p.name for p in load_dataset(tmp_path, Preprocess(size=8)).report.usable] == ["fine.png"]


def test_missing_folder_file_and_empty_folder_raise_clear_errors(tmp_path):
    with pytest.raises(DatasetError, match="does not exist"):
        load_dataset(tmp_path / "nope", Preprocess())
    file = solid(tmp_path / "one.png")
    with pytest.raises(DatasetError, match="is a file, not a folder"):
        load_dataset(file, Preprocess())
    empty = tmp_path / "empty"
    empty.mkdir()
    report = scan_folder(empty)  # the report itself is returned, for "dataset check"
    assert report.usable == [] and report.files_seen == 0
    with pytest.raises(DatasetError, match="folder is empty"):
        load_dataset(empty, Preprocess())


def test_no_usable_images_error_says_what_was_found(tmp_path):
    (tmp_path / "a.txt").write_text("x")
    (tmp_path / "b.txt").write_text("x")
    (tmp_path / "broken.png").write_bytes(noise_bytes("PNG")[:-400])
    with pytest.raises(DatasetError) as caught:
        load_dataset(tmp_path, Preprocess())
    message = str(caught.value)
    assert "No usable images" in message and "found 3 files" in message
    assert "2 .txt" in message and "truncated or corrupt image data (broken.png)" in message
    assert "PNG, JPEG, WebP, BMP, TIFF and GIF" in message
    with pytest.raises(DatasetError, match="found 3 files"):
        check_usable(scan_folder(tmp_path))


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="no symlinks here")
def test_symlink_loops_end(tmp_path):
    solid(tmp_path / "a" / "x.png")
    try:
        os.symlink(tmp_path, tmp_path / "a" / "loop", target_is_directory=True)
    except OSError:
        pytest.skip("cannot create symlinks here")
    assert [p.name for p in scan_folder(tmp_path).usable] == ["x.png"]


# ----------------------------------------------------------------------------- decoding


def test_exif_orientation_is_applied(tmp_path):
    pixels = np.zeros((10, 20, 3), dtype=np.uint8)
    pixels[:, :10] = RED     # left half red, right half blue as stored
    pixels[:, 10:] = BLUE
    exif = Image.Exif()
    exif[0x0112] = 6         # "rotate 90 degrees clockwise to display"
    Image.fromarray(pixels).save(tmp_path / "phone.jpg", quality=95, exif=exif.tobytes())
    assert scan_folder(tmp_path).sizes == [(10, 20)]
    dataset = load_dataset(tmp_path, Preprocess(size=8, fit="stretch"))
    top, bottom = pixel(dataset, 0, 1, 4), pixel(dataset, 0, 6, 4)
    # Clockwise rotation puts the stored left (red) at the top.
    assert top[0] > 200 and top[2] < 60
    assert bottom[2] > 200 and bottom[0] < 60


@pytest.mark.parametrize("background, expected", [("white", 255), ("black", 0)])
def test_transparent_pixels_are_composited_over_the_background(tmp_path, background, expected):
    rgba = np.zeros((8, 8, 4), dtype=np.uint8)
    rgba[:, 4:] = (0, 255, 0, 255)   # right half opaque green, left half fully transparent red
    rgba[:, :4] = (255, 0, 0, 0)
    Image.fromarray(rgba, "RGBA").save(tmp_path / "sprite.png")
    dataset = load_dataset(tmp_path, Preprocess(size=8, background=background))
    assert pixel(dataset, 0, 4, 0) == (expected,) * 3
    assert pixel(dataset, 0, 4, 7) == GREEN


def test_grey_mode_gives_one_luma_channel(tmp_path):
    solid(tmp_path / "red.png", RED)
    dataset = load_dataset(tmp_path, Preprocess(size=8, color="grey"))
    assert dataset.images.shape == (1, 1, 8, 8)
    assert int(dataset.images[0, 0, 4, 4]) == 76   # ITU-R 601 luma of pure red
    assert dataset.preview_images(1).shape == (1, 8, 8, 1)


def three_band_image(path: Path) -> Path:
    """40x20: blue left quarter, red middle, green right quarter."""
    pixels = np.zeros((20, 40, 3), dtype=np.uint8)
    pixels[:, :10], pixels[:, 10:30], pixels[:, 30:] = BLUE, RED, GREEN
    Image.fromarray(pixels).save(path)
    return path


FIT_SIDES = [("center-crop", 16), ("random-crop", 18), ("pad", 16), ("stretch", 16)]


@pytest.mark.parametrize("fit, side", FIT_SIDES)
def test_each_fit_mode_gives_its_square(tmp_path, fit, side):
    three_band_image(tmp_path / "wide.png")
    dataset = load_dataset(tmp_path, Preprocess(size=16, fit=fit, background="black"))
    assert dataset.images.shape == (1, 3, side, side)
    batch = dataset.batch(torch.tensor([0]), torch.Generator().manual_seed(0))
    assert batch.shape == (1, 3, 16, 16)
    colours = {pixel(dataset, 0, side // 2, x) for x in (0, side // 2, side - 1)}
    if fit in ("center-crop", "random-crop"):
        assert colours == {RED}               # the centred square is all red
    else:
        assert colours == {BLUE, RED, GREEN}  # the whole width survives
    if fit == "pad":
        assert pixel(dataset, 0, 0, 8) == (0, 0, 0) and pixel(dataset, 0, 15, 8) == (0, 0, 0)  # letterbox
        assert pixel(dataset, 0, 4, 8) == RED and pixel(dataset, 0, 11, 8) == RED              # 16x8 inside
    if fit == "stretch":
        assert pixel(dataset, 0, 0, 8) == RED


def test_16_bit_grey_png_is_scaled_not_clipped(tmp_path):
    values = np.full((8, 8), 65535, dtype=np.uint16)
    values[:, :4] = 16384
    Image.fromarray(values).save(tmp_path / "deep.png")
    assert Image.open(tmp_path / "deep.png").mode.startswith("I")
    dataset = load_dataset(tmp_path, Preprocess(size=8, color="grey"))
    assert int(dataset.images[0, 0, 4, 1]) == 64 and int(dataset.images[0, 0, 4, 6]) == 255


def test_cmyk_jpeg_becomes_rgb(tmp_path):
    Image.new("CMYK", (16, 16), (0, 255, 255, 0)).save(tmp_path / "print.jpg", quality=95)
    red, green, blue = pixel(load_dataset(tmp_path, Preprocess(size=8)), 0, 4, 4)
    assert red > 200 and green < 60 and blue < 60


def test_gif_uses_its_first_frame_and_palette_transparency(tmp_path):
    frames = [Image.new("RGB", (8, 8), RED), Image.new("RGB", (8, 8), BLUE)]
    frames[0].save(tmp_path / "anim.gif", save_all=True, append_images=frames[1:], duration=100)
    palette = Image.new("P", (8, 8), 1)
    palette.putpalette([0, 255, 0] + [255, 0, 0] * 255)
    palette.save(tmp_path / "see_through.gif", transparency=1)
    dataset = load_dataset(tmp_path, Preprocess(size=8, background="black"))
    assert pixel(dataset, 0, 4, 4) == RED
    assert pixel(dataset, 1, 4, 4) == (0, 0, 0)


def test_embedded_srgb_profile_keeps_colours(tmp_path):
    from PIL import ImageCms

    profile = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    Image.new("RGB", (8, 8), (200, 100, 50)).save(tmp_path / "tagged.png", icc_profile=profile)
    red, green, blue = pixel(load_dataset(tmp_path, Preprocess(size=8)), 0, 4, 4)
    assert abs(red - 200) <= 2 and abs(green - 100) <= 2 and abs(blue - 50) <= 2


# ----------------------------------------------------------------------------- MNIST and CIFAR-10


def test_mnist_idx_files_plain_and_gzip(tmp_path):
    digits = np.arange(3 * 8 * 8, dtype=np.uint8).reshape(3, 8, 8)
    plain = tmp_path / "plain"
    plain.mkdir()
    write_idx(plain / "train-images-idx3-ubyte", digits)
    (plain / "train-labels-idx1-ubyte").write_bytes(b"\x00\x00\x08\x01" + struct.pack(">I", 3) + bytes(3))
    report = scan_folder(plain)
    assert report.kind == "mnist" and report.files_seen == 3 and report.sizes == [(8, 8)]
    assert report.other_files == 1
    grey = load_dataset(plain, Preprocess(size=8, color="grey"))
    assert torch.equal(grey.images[:, 0], torch.from_numpy(digits))
    zipped = tmp_path / "zipped"
    zipped.mkdir()
    write_idx(zipped / "t10k-images.idx3-ubyte.gz", digits, compress=True)
    rgb = load_dataset(zipped, Preprocess(size=16))
    assert rgb.report.kind == "mnist" and rgb.images.shape == (3, 3, 16, 16)
    assert torch.equal(rgb.images[:, 0], rgb.images[:, 2])


def test_torchvision_layout_reads_each_mnist_file_once(tmp_path):
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    digits = np.zeros((2, 8, 8), dtype=np.uint8)
    write_idx(raw / "train-images-idx3-ubyte", digits)
    write_idx(raw / "train-images-idx3-ubyte.gz", digits, compress=True)
    assert len(load_dataset(tmp_path, Preprocess(size=8)).images) == 2


def test_malformed_idx_files_are_reported(tmp_path):
    write_idx(tmp_path / "train-images-idx3-ubyte", np.zeros((2, 8, 8)), magic=0x00000801)
    assert "magic number 0x00000801" in scan_folder(tmp_path).skipped[0].reason
    write_idx(tmp_path / "train-images-idx3-ubyte", np.zeros((2, 8, 8)))
    short = (tmp_path / "train-images-idx3-ubyte").read_bytes()[:-5]
    (tmp_path / "train-images-idx3-ubyte").write_bytes(short)
    assert "header says 2 images of 8x8" in scan_folder(tmp_path).skipped[0].reason
    with pytest.raises(DatasetError, match="No usable MNIST"):
        load_dataset(tmp_path, Preprocess(size=8))


def test_cifar10_binary_batches(tmp_path):
    rng = np.random.default_rng(1)
    first = rng.integers(0, 256, (2, 3, 32, 32), dtype=np.uint8)
    second = rng.integers(0, 256, (1, 3, 32, 32), dtype=np.uint8)
    folder = tmp_path / "cifar-10-batches-bin"
    write_cifar(folder / "data_batch_1.bin", first)
    write_cifar(folder / "test_batch.bin", second)
    (folder / "batches.meta.txt").write_text("airplane\n")
    report = scan_folder(tmp_path)
    assert report.kind == "cifar10" and report.files_seen == 3 and len(report.usable) == 2
    dataset = load_dataset(tmp_path, Preprocess(size=32))
    assert torch.equal(dataset.images, torch.from_numpy(np.concatenate([first, second])))
    grey = load_dataset(tmp_path, Preprocess(size=16, color="grey"))
    assert grey.images.shape == (3, 1, 16, 16)
    (folder / "data_batch_2.bin").write_bytes(bytes(100))
    assert "not a whole number of CIFAR-10 records" in reasons(scan_folder(tmp_path))["data_batch_2.bin"]


# ----------------------------------------------------------------------------- disk cache


def test_disk_cache_is_used_instead_of_decoding_again(tmp_path, monkeypatch):
    images, cache_dir = tmp_path / "images", tmp_path / "cache"
    source = solid(images / "a.bmp", RED, size=(16, 16))
    solid(images / "b.bmp", GREEN, size=(16, 16))
    settings = Preprocess(size=8)
    first = load_dataset(images, settings, cache="disk", cache_dir=cache_dir)
    assert len(list(cache_dir.glob("*.npz"))) == 2
    # Same byte size and modification time, different pixels: only a cache hit still gives red.
    stamp = source.stat()
    solid(source, BLUE, size=(16, 16))
    os.utime(source, ns=(stamp.st_atime_ns, stamp.st_mtime_ns))
    opened = []
    real_open = Image.open
    monkeypatch.setattr(Image, "open", lambda *a, **k: opened.append(a) or real_open(*a, **k))
    second = load_dataset(images, settings, cache="disk", cache_dir=cache_dir)
    assert opened == []
    assert torch.equal(first.images, second.images) and pixel(second, 0, 4, 4) == RED
    assert second.report.sizes == [(16, 16), (16, 16)]
    # A changed file (new mtime) or other settings are decoded afresh.
    os.utime(source, ns=(stamp.st_atime_ns, stamp.st_mtime_ns + 10**9))
    assert pixel(load_dataset(images, settings, cache="disk", cache_dir=cache_dir), 0, 4, 4) == BLUE
    grey = load_dataset(images, Preprocess(size=8, color="grey"), cache="disk", cache_dir=cache_dir)
    assert grey.images.shape == (2, 1, 8, 8)


def test_disk_cache_write_failure_falls_back_to_memory(tmp_path):
    solid(tmp_path / "images" / "a.png")
    not_a_folder = tmp_path / "cache_is_a_file"
    not_a_folder.write_text("x")
    dataset = load_dataset(tmp_path / "images", Preprocess(size=8), cache="disk", cache_dir=not_a_folder)
    assert len(dataset) == 1
    assert any("disk cache" in note for note in dataset.report.notes)
    assert "Note: the disk cache" in dataset.report.summary()


def test_corrupt_cache_file_is_decoded_again(tmp_path):
    solid(tmp_path / "images" / "a.png", GREEN)
    cache_dir = tmp_path / "cache"
    load_dataset(tmp_path / "images", Preprocess(size=8), cache="disk", cache_dir=cache_dir)
    (cached,) = cache_dir.glob("*.npz")
    cached.write_bytes(b"garbage")
    assert pixel(load_dataset(tmp_path / "images", Preprocess(size=8), cache="disk", cache_dir=cache_dir),
                 0, 4, 4) == GREEN


def test_disk_cache_is_trimmed_least_recently_used_first_and_spares_this_load(tmp_path):
    images, cache_dir = tmp_path / "images", tmp_path / "cache"
    for name, colour in (("a", RED), ("b", GREEN), ("c", BLUE)):
        solid(images / name / "x.png", colour)
    settings = Preprocess(size=8)
    for name in ("a", "b", "c"):
        load_dataset(images / name, settings, cache="disk", cache_dir=cache_dir)
    files = sorted(cache_dir.glob("*.npz"))
    assert len(files) == 3
    one = files[0].stat().st_size
    # Age the files: a used three hours ago, b two hours ago, c one hour ago.
    now = time.time()
    by_colour = {}
    for f in files:
        with np.load(f) as stored:
            by_colour[tuple(int(v) for v in stored["pixels"][:, 0, 0])] = f
    for colour, hours in ((RED, 3), (GREEN, 2), (BLUE, 1)):
        os.utime(by_colour[colour], (now - hours * 3600, now - hours * 3600))
    stale = cache_dir / "left-by-a-killed-process.tmp"
    stale.write_bytes(b"x" * 10)
    os.utime(stale, (now - 2 * 3600, now - 2 * 3600))
    fresh = cache_dir / "being-written.tmp"
    fresh.write_bytes(b"x" * 10)
    # Reading a again (a cache hit) marks it used, so a limit of two files removes b, now the least
    # recently used, and keeps c; the stale temp file goes, the fresh one stays.
    load_dataset(images / "a", settings, cache="disk", cache_dir=cache_dir, cache_limit=2 * one)
    assert sorted(cache_dir.iterdir()) == sorted([by_colour[RED], by_colour[BLUE], fresh])
    # A limit below what this load uses keeps this load's file and removes everything older.
    load_dataset(images / "a", settings, cache="disk", cache_dir=cache_dir, cache_limit=0)
    assert sorted(cache_dir.iterdir()) == sorted([by_colour[RED], fresh])


# ----------------------------------------------------------------------------- progress and cancel


def test_progress_reaches_one_and_should_stop_cancels(tmp_path):
    for i in range(10):
        solid(tmp_path / f"{i}.png")
    seen = []
    load_dataset(tmp_path, Preprocess(size=8), progress=lambda what, f: seen.append((what, f)))
    assert seen[-1] == ("Reading images", 1.0) and all(w == "Reading images" for w, _ in seen)
    calls = []

    def stop_on_third():
        calls.append(1)
        return len(calls) >= 3

    with pytest.raises(Cancelled, match="cancelled"):
        load_dataset(tmp_path, Preprocess(size=8), should_stop=stop_on_third)
    with pytest.raises(Cancelled):
        scan_folder(tmp_path, should_stop=lambda: True)


def test_load_images_from_a_scan_report(messy_folder):
    report = scan_folder(messy_folder)
    images, fresh = load_images(report, Preprocess(size=8, color="grey"))
    assert images.shape == (4, 1, 8, 8)
    assert len(fresh.skipped) == 4 and fresh.files_seen == 8


# ----------------------------------------------------------------------------- sampling and batches


def test_epoch_sampler_covers_each_epoch_and_resumes_exactly():
    sampler = EpochSampler(n=7, batch_size=3, seed=5)
    drawn = torch.cat([sampler.next_indices() for _ in range(7)])   # exactly 3 epochs
    assert sampler.epoch == 3 and sampler.state()["position"] == 0
    for epoch in range(3):
        expected = torch.randperm(7, generator=torch.Generator().manual_seed(5 * 1000003 + epoch))
        assert torch.equal(drawn[epoch * 7:(epoch + 1) * 7], expected)
    sampler.next_indices()
    saved = sampler.state()
    upcoming = [sampler.next_indices() for _ in range(4)]
    resumed = EpochSampler(n=7, batch_size=3, seed=5)
    resumed.load_state(saved)
    assert all(torch.equal(a, resumed.next_indices()) for a in upcoming)
    with pytest.raises(CheckpointError, match="position"):
        resumed.load_state({"epoch": 0, "position": -1})


def test_epoch_sampler_wraps_when_batch_is_larger_than_dataset():
    sampler = EpochSampler(n=2, batch_size=5, seed=0)
    batch = sampler.next_indices()
    assert batch.shape == (5,)
    assert sorted(batch[:2].tolist()) == [0, 1] and sorted(batch[2:4].tolist()) == [0, 1]
    assert sampler.epoch == 2


def arange_dataset(fit: str = "random-crop", hflip: bool = True, count: int = 6) -> ImageDataset:
    settings = Preprocess(size=8, fit=fit, hflip=hflip)
    side = settings.cache_side
    # Every pixel of every image distinct (mod 256), so crops and flips are identifiable.
    values = torch.arange(count * 3 * side * side) % 251
    images = values.reshape(count, 3, side, side).to(torch.uint8)
    report = ScanReport(Path("."), "images", count, [], [], [], [], 0)
    return ImageDataset(images, settings, report)


def test_batch_crops_and_flips_come_from_the_generator():
    dataset = arange_dataset()
    indices = torch.tensor([0, 1, 2, 3, 4, 5, 0, 1])
    generator = torch.Generator().manual_seed(123)
    state = generator.get_state()
    batch = dataset.batch(indices, generator)
    generator.set_state(state)
    assert torch.equal(batch, dataset.batch(indices, generator))
    assert not torch.equal(batch, dataset.batch(indices, torch.Generator().manual_seed(124)))
    assert batch.dtype == torch.float32 and batch.shape == (8, 3, 8, 8)
    assert batch.min() >= -1 and batch.max() <= 1
    as_uint8 = torch.round((batch + 1) * 127.5).to(torch.uint8)
    offsets, flips = set(), set()
    spare = dataset.images.shape[-1] - 8
    for sample, index in zip(as_uint8, indices.tolist()):
        source = dataset.images[index]
        matches = []
        for top in range(spare + 1):
            for left in range(spare + 1):
                window = source[:, top:top + 8, left:left + 8]
                for flip in (False, True):
                    if torch.equal(sample, window.flip(-1) if flip else window):
                        matches.append((top, left, flip))
        assert len(matches) == 1, "each sample must be exactly one window of its source image"
        offsets.add(matches[0][:2])
        flips.add(matches[0][2])
    assert len(offsets) > 1 and flips == {False, True}


def test_batch_without_augmentation_is_the_image_and_channels_last_works():
    dataset = arange_dataset(fit="center-crop", hflip=False)
    generator = torch.Generator().manual_seed(0)
    before = generator.get_state()
    batch = dataset.batch(torch.tensor([2, 0]), generator, channels_last=True)
    assert torch.equal(generator.get_state(), before)  # nothing random was drawn
    assert batch.is_contiguous(memory_format=torch.channels_last)
    expected = dataset.images[[2, 0]].float() / 127.5 - 1
    assert torch.equal(batch, expected)


def test_flips_without_crops_come_from_the_generator():
    dataset = arange_dataset(fit="center-crop", hflip=True)
    indices = torch.tensor([0, 1, 2, 3, 4, 5, 0, 1])
    generator = torch.Generator().manual_seed(5)
    state = generator.get_state()
    batch = dataset.batch(indices, generator, channels_last=True)
    generator.set_state(state)
    assert torch.equal(batch, dataset.batch(indices, generator))
    assert batch.is_contiguous(memory_format=torch.channels_last)
    as_uint8 = torch.round((batch + 1) * 127.5).to(torch.uint8)
    flipped = [torch.equal(s, dataset.images[i].flip(-1)) for s, i in zip(as_uint8, indices.tolist())]
    plain = [torch.equal(s, dataset.images[i]) for s, i in zip(as_uint8, indices.tolist())]
    assert all(f or p for f, p in zip(flipped, plain)) and any(flipped) and any(plain)


def test_preview_is_the_unflipped_centre_window():
    dataset = arange_dataset()
    preview = dataset.preview_images(10)
    assert preview.shape == (6, 8, 8, 3) and preview.dtype == np.uint8
    start = (dataset.images.shape[-1] - 8) // 2
    window = dataset.images[1, :, start:start + 8, start:start + 8]
    assert np.array_equal(preview[1], window.permute(1, 2, 0).numpy())


# ----------------------------------------------------------------------------- previews


def test_to_uint8_images_rounds_and_clamps():
    t = torch.tensor([-1.0, 0.0, 1.0, 3.0, -7.0, float("nan")]).reshape(1, 1, 2, 3)
    out = to_uint8_images(t.expand(2, 3, 2, 3))
    assert out.shape == (2, 2, 3, 3) and out.dtype == np.uint8
    assert out[0, :, :, 0].ravel().tolist() == [0, 128, 255, 255, 0, 0]


def test_make_grid_places_images_with_padding():
    images = np.stack([np.full((4, 5, 3), i * 40, dtype=np.uint8) for i in range(5)])
    grid = make_grid(images, padding=1, pad_value=255)
    assert grid.shape == (2 * 5 + 1, 3 * 6 + 1, 3)     # ceil(sqrt(5)) = 3 per row, 2 rows
    assert (grid[1:5, 7:12] == 40).all() and (grid[6:10, 1:6] == 120).all()
    assert (grid[0] == 255).all() and (grid[6:10, 13:18] == 255).all()   # the empty sixth cell
    grey = make_grid(images[:, :, :, :1], nrow=5, padding=0)
    assert grey.shape == (4, 25, 1)
    with pytest.raises(ValueError):
        make_grid(images.astype(np.float32))


def test_preview_sheet_has_transparent_gaps_and_white_ones_on_file():
    colour = np.full((4, 5, 3), 40, np.uint8)
    small_grey = np.full((3, 2, 1), 90, np.uint8)
    sheet = preview_sheet([[colour, small_grey], [colour]], padding=1)
    assert sheet.shape == (2 * 5 + 1, 2 * 6 + 1, 4)               # cells of the largest image, 4 x 5
    assert (sheet[1:5, 1:6] == [40, 40, 40, 255]).all()
    assert (sheet[1:4, 7:9] == [90, 90, 90, 255]).all()            # grey repeated into R, G, B, top left
    assert (sheet[4, 7:12, 3] == 0).all() and (sheet[1:4, 9:12, 3] == 0).all()   # the rest of its cell
    assert (sheet[0, :, 3] == 0).all() and (sheet[:, 6, 3] == 0).all() and (sheet[6:10, 7:12, 3] == 0).all()
    flat = sheet_on_white(sheet)
    assert flat.shape == (11, 13, 3) and (flat[sheet[..., 3] == 0] == 255).all()
    assert (flat[1:5, 1:6] == 40).all()
    with pytest.raises(ValueError):
        preview_sheet([[colour.astype(np.float32)]])


def test_header_only_scan_skips_what_headers_show_and_leaves_decoding_to_the_loader(tmp_path):
    from PIL import Image as _Image

    import numpy as _np

    good = tmp_path / "good.png"
    _Image.fromarray(_np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=_np.uint8)).save(good)
    data = good.read_bytes()
    (tmp_path / "truncated.png").write_bytes(data[: len(data) // 2])
    (tmp_path / "text.png").write_text("not an image")
    full = scan_folder(tmp_path)
    quick = scan_folder(tmp_path, decode=False)
    assert {p.name for p in full.usable} == {"good.png"}
    assert {p.name for p in quick.usable} == {"good.png", "truncated.png"}
    assert {s.path.name for s in quick.skipped} == {"text.png"}


def test_median_short_side_and_enlargement(tmp_path):
    from ganstudio.core.data import enlargement
    from tests.conftest import make_images

    make_images(tmp_path / "f", n=3, size=(30, 20))           # shorter sides 20-25
    Image.new("RGB", (500, 400)).save(tmp_path / "f" / "big.png")
    report = scan_folder(tmp_path / "f")
    assert report.median_short_side() == sorted(min(s) for s in report.sizes)[1] <= 25
    assert enlargement(64, 16) == 4.0 and enlargement(16, 64) == 1.0 and enlargement(0, 16) == 1.0
    assert enlargement(64, 0) == 1.0


def test_packed_sets_get_the_enlargement_note_too(tmp_path):
    # MNIST's 28 px and CIFAR-10's 32 px records are enlarged 2.3x and 2x by a 64 px model
    from ganstudio.core.gan import preset_enlargement

    (tmp_path / "mnist").mkdir()
    write_idx(tmp_path / "mnist" / "train-images-idx3-ubyte", np.zeros((5, 28, 28), np.uint8))
    write_cifar(tmp_path / "cifar" / "data_batch_1.bin", np.zeros((4, 3, 32, 32), np.uint8))
    mnist, cifar = scan_folder(tmp_path / "mnist"), scan_folder(tmp_path / "cifar")
    assert (mnist.kind, mnist.median_short_side(), cifar.kind, cifar.median_short_side()) == ("mnist", 28, "cifar10", 32)
    side, factor, smaller = preset_enlargement(mnist, "dcgan-64")
    assert (side, round(factor, 2), smaller) == (28, 2.29, "seed-dcgan-16")
    assert preset_enlargement(cifar, "dcgan-64")[1:] == (2.0, "dcgan-32")
    assert preset_enlargement(cifar, "dcgan-32") is None
