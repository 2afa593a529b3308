"""Reading every kind of image for upscaling, writing PNGs that keep their metadata, and batches."""
from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageCms

from ganstudio.core.errors import DatasetError
from ganstudio.core.export import read_png_metadata
from ganstudio.core.upscale.batch import plan_batch, upscale_batch, upscale_file
from ganstudio.core.upscale.imageio import read_image
from ganstudio.core.upscale.models import build_sr_model
from ganstudio.core.upscale.tiling import InferenceSettings, baseline, wrap_callable

FAST = InferenceSettings(tile=0, device="cpu", precision="fp32")


def noise(h: int, w: int, c: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, c), dtype=np.uint8)


def png16(a: np.ndarray) -> bytes:
    """A 16-bit colour PNG written by hand (Pillow cannot write them)."""
    h, w, c = a.shape
    colour_type = {2: 4, 3: 2, 4: 6}[c]
    raw = b"".join(b"\x00" + a[y].astype(">u2").tobytes() for y in range(h))

    def chunk(tag: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(tag + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", crc)

    ihdr = struct.pack(">IIBBBBB", w, h, 16, colour_type, 0, 0, 0)
    signature = b"\x89PNG\r\n\x1a\n"
    return signature + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


@pytest.fixture(scope="module")
def tiny_model():
    torch.manual_seed(0)
    return wrap_callable(build_sr_model("compact", 2, features=8, blocks=1), 2)


def test_modes_become_8bit_layouts(tmp_path: Path) -> None:
    rgba = noise(6, 5, 4)
    Image.fromarray(rgba, "RGBA").save(tmp_path / "rgba.png")
    Image.fromarray(noise(6, 5, 2), "LA").save(tmp_path / "la.png")
    Image.fromarray(noise(6, 5, 1)[:, :, 0], "L").save(tmp_path / "l.png")
    Image.fromarray(noise(6, 5, 1)[:, :, 0] > 128).save(tmp_path / "bits.png")
    Image.fromarray(noise(6, 5, 3), "RGB").convert("CMYK").save(tmp_path / "cmyk.jpg")
    pal = Image.fromarray(noise(6, 5, 3), "RGB").convert("P", palette=Image.Palette.ADAPTIVE, colors=8)
    pal.save(tmp_path / "pal.png")
    pal.save(tmp_path / "pal-t.png", transparency=0)
    shapes = {name: read_image(tmp_path / name).pixels.shape[2] for name in
              ("rgba.png", "la.png", "l.png", "bits.png", "cmyk.jpg", "pal.png", "pal-t.png")}
    assert shapes == {"rgba.png": 4, "la.png": 2, "l.png": 1, "bits.png": 1, "cmyk.jpg": 3, "pal.png": 3,
                      "pal-t.png": 4}
    assert np.array_equal(read_image(tmp_path / "rgba.png").pixels, rgba)
    cmyk = read_image(tmp_path / "cmyk.jpg")
    assert cmyk.source_mode == "CMYK" and "CMYK converted to RGB" in cmyk.notes


def test_16bit_png_is_rounded_not_truncated(tmp_path: Path) -> None:
    grey = np.array([[0, 257 * 100, 65535, 257 * 100 + 128]], np.uint16)
    Image.fromarray(grey).save(tmp_path / "g16.png")
    assert read_image(tmp_path / "g16.png").pixels[0, :, 0].tolist() == [0, 100, 255, 100]
    # 200.4 levels: Pillow alone would keep the high byte, 201
    colour = np.full((2, 3, 3), 257 * 200 + 100, np.uint16)
    colour[0, 0] = (65535, 0, 257 * 7)
    (tmp_path / "c16.png").write_bytes(png16(colour))
    img = read_image(tmp_path / "c16.png")
    assert img.pixels.shape == (2, 3, 3) and img.pixels[0, 0].tolist() == [255, 0, 7]
    assert img.pixels[1, 1, 0] == 200 and "16-bit image reduced to 8 bits" in img.notes
    with_alpha = np.concatenate([colour, np.full((2, 3, 1), 65535, np.uint16)], 2)
    (tmp_path / "c16a.png").write_bytes(png16(with_alpha))
    assert read_image(tmp_path / "c16a.png").pixels.shape == (2, 3, 4)


def test_exif_orientation_is_applied_and_dropped(tmp_path: Path) -> None:
    a = noise(4, 7, 3)
    exif = Image.Exif()
    exif[0x0112] = 6       # "rotate 90 clockwise to display"
    exif[0x010F] = "TestCam"
    Image.fromarray(a).save(tmp_path / "rot.jpg", exif=exif.tobytes(), quality=100)
    img = read_image(tmp_path / "rot.jpg")
    assert img.pixels.shape[:2] == (7, 4)
    kept = Image.Exif()
    kept.load(img.exif)
    assert 0x0112 not in kept and kept[0x010F] == "TestCam"


def test_icc_profile_exif_and_provenance_reach_the_output(tmp_path: Path, tiny_model) -> None:
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    exif = Image.Exif()
    exif[0x010F] = "TestCam"
    Image.fromarray(noise(10, 12, 3)).save(tmp_path / "in.png", icc_profile=icc, exif=exif.tobytes())
    out = upscale_file(tmp_path / "in.png", tmp_path / "out" / "in.png", tiny_model, FAST)
    with Image.open(out) as im:
        assert im.size == (24, 20) and im.mode == "RGB"
        assert im.info.get("icc_profile") == icc
        assert im.getexif()[0x010F] == "TestCam"
    meta = read_png_metadata(out)
    assert meta["scale"] == "2" and meta["tile"] == "0" and meta["source"] == "in.png"
    assert meta["model"] and meta["app"].startswith("GAN Studio")


@pytest.mark.parametrize("mode,channels", [("L", 1), ("LA", 2), ("RGBA", 4)])
def test_grey_stays_grey_and_alpha_is_upscaled(tmp_path: Path, tiny_model, mode: str, channels: int) -> None:
    a = noise(8, 10, channels)
    if channels in (2, 4):
        a[:, :5, -1] = 0
        a[:, 5:, -1] = 255
    Image.fromarray(a[:, :, 0] if channels == 1 else a, mode).save(tmp_path / "in.png")
    out = upscale_file(tmp_path / "in.png", tmp_path / "out.png", tiny_model, FAST)
    with Image.open(out) as im:
        assert im.mode == mode and im.size == (20, 16)
        if channels in (2, 4):
            alpha = np.asarray(im)[:, :, -1]
            assert alpha[:, :8].max() < 30 and alpha[:, 12:].min() > 225


def test_unreadable_image_names_the_file(tmp_path: Path) -> None:
    (tmp_path / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    with pytest.raises(DatasetError, match="bad.png"):
        read_image(tmp_path / "bad.png")


def _album(root: Path) -> None:
    (root / "2019" / "trip").mkdir(parents=True)
    Image.fromarray(noise(6, 6, 3, 1)).save(root / "a.jpg")
    Image.fromarray(noise(6, 6, 3, 2)).save(root / "a.png")              # same stem as a.jpg
    Image.fromarray(noise(5, 7, 3, 3)).save(root / "2019" / "b.webp")
    Image.fromarray(noise(7, 5, 1, 4)[:, :, 0]).save(root / "2019" / "trip" / "c.bmp")
    (root / "2019" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    (root / "notes.txt").write_text("not an image")
    (root / ".hidden.png").write_bytes(b"")


def test_batch_mirrors_folders_survives_bad_files_and_skips_existing(tmp_path: Path) -> None:
    src, out = tmp_path / "album", tmp_path / "out"
    _album(src)
    up = baseline("bicubic", 2)
    events: list[tuple[int, int, Path | None]] = []
    result = upscale_batch([src], out, up, settings=FAST, progress=lambda d, t, p: events.append((d, t, p)))
    rel = sorted(p.relative_to(out).as_posix() for p in result.written)
    assert rel == ["2019/b.png", "2019/trip/c.png", "a-jpg.png", "a.png"]   # a.png keeps its name
    assert [p.name for p, _ in result.failed] == ["broken.png"] and "broken.png" in result.failed[0][1]
    assert events[-1] == (5, 5, None)
    with Image.open(out / "2019" / "trip" / "c.png") as im:
        assert im.mode == "L" and im.size == (10, 14)

    again = upscale_batch([src], out, up, settings=FAST)
    assert len(again.skipped_existing) == 4 and not again.written
    flat = upscale_batch([src], out, up, settings=FAST, recursive=False, existing="overwrite")
    assert len(flat.written) == 2 and not flat.skipped_existing


def test_batch_skips_its_own_output_folder_and_missing_inputs(tmp_path: Path) -> None:
    src = tmp_path / "pics"
    _album(src)
    out = src / "upscaled"
    items, missing = plan_batch([src, tmp_path / "gone.png", src / "a.jpg"], out)
    assert [p.name for p, _ in missing] == ["gone.png"]
    upscale_batch([src], out, baseline("lanczos", 2), settings=FAST)
    items, _ = plan_batch([src], out)
    assert not any("upscaled" in i.source.parts for i in items)


def test_batch_never_replaces_its_inputs(tmp_path: Path) -> None:
    Image.fromarray(noise(6, 6, 3)).save(tmp_path / "a.png")
    before = (tmp_path / "a.png").read_bytes()
    result = upscale_batch([tmp_path], tmp_path, baseline("bicubic", 2), settings=FAST, existing="overwrite")
    assert not result.written and "replace this input" in result.failed[0][1]
    assert (tmp_path / "a.png").read_bytes() == before


def test_batch_can_be_cancelled(tmp_path: Path) -> None:
    src = tmp_path / "album"
    _album(src)
    checks = []

    def stop() -> bool:
        checks.append(1)
        return len(checks) > 2

    result = upscale_batch([src], tmp_path / "out", baseline("bicubic", 2), settings=FAST, should_stop=stop)
    assert result.cancelled and len(result.written) + len(result.failed) < 5
    assert "cancelled" in result.summary()


def test_a_full_disk_stops_the_batch_with_its_reason_and_leaves_no_partial_files(tmp_path: Path, monkeypatch) -> None:
    import errno

    from ganstudio.core import export

    src, out = tmp_path / "album", tmp_path / "out"
    _album(src)

    def full(fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(export.os, "fsync", full)
    result = upscale_batch([src], out, baseline("bicubic", 2), settings=FAST)
    full_disk = [(p, r) for p, r in result.failed if "No space left" in r]
    assert len(full_disk) == 1 and not result.written          # one write failed, then the batch stopped
    assert result.stopped and "disk is full" in result.stopped and "not started" in result.stopped
    assert result.total < 5 and "stopped" in result.summary()
    assert not [p for p in out.rglob("*") if p.is_file()]       # no temp or half-written PNG left behind


def test_single_image_in_memory_formats(tmp_path: Path) -> None:
    from ganstudio.core.upscale.imageio import image_from_pil

    buf = io.BytesIO()
    Image.fromarray(noise(4, 4, 3)).convert("YCbCr").save(buf, "JPEG")
    img = image_from_pil(Image.open(io.BytesIO(buf.getvalue())))
    assert img.pixels.shape == (4, 4, 3)


def test_an_image_too_large_to_open_says_its_size_not_that_it_is_unreadable(tmp_path: Path, monkeypatch) -> None:
    from ganstudio.core.errors import DatasetError

    Image.new("RGB", (300, 200)).save(tmp_path / "wide.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 20_000)        # 60,000 pixels > twice the limit
    with pytest.raises(DatasetError, match=r"wide.png is too large to open \(0.1 megapixels\): .* up to 0.0 megapixels"):
        read_image(tmp_path / "wide.png")


def test_an_animated_gif_says_that_its_first_frame_is_used(tmp_path: Path) -> None:
    frames = [Image.new("RGB", (8, 6), (i * 60, 0, 0)) for i in range(3)]
    frames[0].save(tmp_path / "anim.gif", save_all=True, append_images=frames[1:])
    img = read_image(tmp_path / "anim.gif")
    assert "animated: the first of its 3 frames is used" in img.notes and img.pixels[0, 0, 0] == 0


def test_broken_files_are_described_as_the_dataset_report_describes_them(tmp_path: Path) -> None:
    from ganstudio.core.errors import DatasetError

    whole = tmp_path / "whole.png"
    Image.fromarray(noise(40, 40, 3)).save(whole)
    (tmp_path / "cut.png").write_bytes(whole.read_bytes()[:200])
    (tmp_path / "notes.png").write_text("just text")
    with pytest.raises(DatasetError, match=r"^cut.png could not be used: truncated or corrupt image data\.$"):
        read_image(tmp_path / "cut.png")
    with pytest.raises(DatasetError, match=r"^notes.png could not be used: not an image"):
        read_image(tmp_path / "notes.png")
