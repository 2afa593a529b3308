"""A source image's metadata (text, comments, XMP, resolution) carried into upscaled and translated PNGs."""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, PngImagePlugin

from ganstudio.core.errors import DatasetError
from ganstudio.core.export import XMP_KEY, SourceMetadata, TextChunk, encode_png, read_png_metadata
from ganstudio.core.translate.batch import translate_file
from ganstudio.core.translate.inference import translator_from_generators
from ganstudio.core.translate.models import UNetGenerator
from ganstudio.core.upscale.batch import upscale_batch, upscale_file
from ganstudio.core.upscale.imageio import MAX_CARRIED_TEXT, read_image
from ganstudio.core.upscale.tiling import InferenceSettings, baseline

FAST = InferenceSettings(tile=0, device="cpu", precision="fp32")
XMP = ('<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
       '<rdf:Description xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:tiff="http://ns.adobe.com/tiff/1.0/">'
       '<dc:creator>Ada</dc:creator></rdf:Description></rdf:RDF></x:xmpmeta>')
#: the same packet saying "rotate 90 degrees clockwise to display"
XMP_ROTATED = XMP.replace('tiff/1.0/">', 'tiff/1.0/" tiff:Orientation="6">')
CJK = "山水画，夜の港"
X_RESOLUTION = 0x011A


def noise(h: int, w: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def text_chunks(path: Path) -> dict[str, str]:
    with Image.open(path) as im:
        im.load()
        return dict(im.text)


@pytest.fixture(scope="module")
def x2():
    return baseline("bicubic", 2)


def test_png_text_xmp_and_dpi_survive_an_upscale(tmp_path: Path, x2) -> None:
    info = PngImagePlugin.PngInfo()
    info.add_text("Author", "Ada Lovelace")
    info.add_itxt("Description", CJK, lang="zh", tkey="描述")
    info.add_text("Copyright", "CC BY 4.0", zip=True)              # zTXt
    info.add_text("ganstudio:model", "fake")                       # a source's own provenance
    info.add_text("Raw profile type exif", "\nexif\n 4\n00000000")  # ImageMagick's stale EXIF copy
    info.add_itxt(XMP_KEY, XMP)
    exif = Image.Exif()
    exif[X_RESOLUTION] = 72.0
    Image.fromarray(noise(6, 5)).save(tmp_path / "in.png", pnginfo=info, dpi=(72, 72), exif=exif.tobytes())

    out = upscale_file(tmp_path / "in.png", tmp_path / "out.png", x2, FAST)
    text = text_chunks(out)
    assert text["Author"] == "Ada Lovelace" and text["Description"] == CJK and text["Copyright"] == "CC BY 4.0"
    assert (text["Description"].lang, text["Description"].tkey) == ("zh", "描述")
    assert "Raw profile type exif" not in text
    with Image.open(out) as im:
        assert im.size == (10, 12)
        assert im.info["dpi"] == pytest.approx((144, 144), abs=0.05)   # same printed size
        assert float(im.getexif()[X_RESOLUTION]) == pytest.approx(144)
        assert im.info["xmp"] == XMP.encode()          # the standard iTXt chunk, as Pillow reads it
    meta = read_png_metadata(out)
    assert meta["model"] == "bicubic" and meta["scale"] == "2" and meta["source"] == "in.png"
    assert meta["app"].startswith("GAN Studio")


def test_jpeg_comment_xmp_and_density_survive_a_batch(tmp_path: Path, x2) -> None:
    (tmp_path / "in").mkdir()
    Image.fromarray(noise(8, 8)).save(tmp_path / "in" / "photo.jpg", dpi=(300, 300), quality=95,
                                      comment="Café at dusk ✓".encode(), xmp=XMP.encode())
    Image.fromarray(noise(8, 8, 1)).save(tmp_path / "in" / "plain.png")       # no resolution stated
    result = upscale_batch([tmp_path / "in"], tmp_path / "out", x2, settings=FAST)
    assert len(result.written) == 2 and not result.failed
    out = tmp_path / "out" / "photo.png"
    assert text_chunks(out)["Comment"] == "Café at dusk ✓" and text_chunks(out)[XMP_KEY] == XMP
    with Image.open(out) as im:
        assert im.info["dpi"] == pytest.approx((600, 600), abs=0.05)
    with Image.open(tmp_path / "out" / "plain.png") as im:
        assert "dpi" not in im.info and "xmp" not in im.info


@pytest.mark.parametrize("with_exif", [True, False])
def test_applied_orientation_is_removed_from_the_xmp_too(tmp_path: Path, with_exif: bool) -> None:
    exif = Image.Exif()
    if with_exif:
        exif[0x0112] = 6
    Image.fromarray(noise(4, 7)).save(tmp_path / "rot.jpg", exif=exif.tobytes(), xmp=XMP_ROTATED.encode())
    img = read_image(tmp_path / "rot.jpg")
    assert img.pixels.shape[:2] == (7, 4)      # Pillow reads the XMP's orientation where the EXIF has none
    assert img.metadata.xmp == XMP              # the pixels are stored upright now


def test_translation_keeps_dpi_text_and_xmp_but_not_the_colour_profile(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = translator_from_generators({"AtoB": UNetGenerator(3, 3, ngf=4, depth=3)})
    info = PngImagePlugin.PngInfo()
    info.add_itxt("Title", CJK)
    info.add_itxt(XMP_KEY, XMP)
    Image.fromarray(noise(16, 16)).save(tmp_path / "in.png", pnginfo=info, dpi=(300, 300),
                                        icc_profile=b"not really a profile")
    out = translate_file(tmp_path / "in.png", tmp_path / "out.png", model)
    with Image.open(out) as im:
        assert im.size == (16, 16)
        assert im.info["dpi"] == pytest.approx((300, 300), abs=0.05)
        assert "icc_profile" not in im.info
    assert text_chunks(out)["Title"] == CJK and text_chunks(out)[XMP_KEY] == XMP
    assert read_png_metadata(out)["direction"] == "AtoB"


def test_huge_text_chunk_is_dropped_with_a_note(tmp_path: Path, x2) -> None:
    info = PngImagePlugin.PngInfo()
    info.add_text("Author", "Ada")
    info.add_text("Comment", "A" * (MAX_CARRIED_TEXT + 1))
    info.add_text("Title", "kept")
    Image.fromarray(noise(4, 4)).save(tmp_path / "in.png", pnginfo=info)
    img = read_image(tmp_path / "in.png")
    assert [c.key for c in img.metadata.text] == ["Author", "Title"]
    assert any("'Comment'" in note and "not carried" in note for note in img.notes)
    out = upscale_file(tmp_path / "in.png", tmp_path / "out.png", x2, FAST)
    text = text_chunks(out)
    assert "Comment" not in text and text["Author"] == "Ada" and text["Title"] == "kept"
    assert out.stat().st_size < MAX_CARRIED_TEXT / 10


def test_many_oversized_text_entries_get_one_note(tmp_path: Path) -> None:
    info = PngImagePlugin.PngInfo()
    info.add_text("Big", "B" * (MAX_CARRIED_TEXT - 10))
    for i in range(5):
        info.add_text(f"More{i}", "m" * 100)
    Image.fromarray(noise(4, 4)).save(tmp_path / "in.png", pnginfo=info)
    img = read_image(tmp_path / "in.png")
    assert [c.key for c in img.metadata.text] == ["Big"]
    [note] = [n for n in img.notes if "not carried" in n]
    assert note.startswith("5 text entries ('More0', 'More1', 'More2', ...) (1 kB) were not carried over")


def test_encode_png_writes_only_valid_foreign_text(tmp_path: Path) -> None:
    carried = SourceMetadata(text=(TextChunk("Comment", "é" * 2000), TextChunk("Note", "猫"),
                                   TextChunk("GanStudio:step", "9"), TextChunk("k" * 80, "too long a keyword"),
                                   TextChunk("猫", "not a Latin-1 keyword")), dpi=(96.0, 96.0))
    path = tmp_path / "out.png"
    path.write_bytes(encode_png(np.zeros((2, 2, 3), np.uint8), {"step": "1"}, carried=carried))
    assert text_chunks(path) == {"ganstudio:step": "1", "Comment": "é" * 2000, "Note": "猫"}
    assert path.stat().st_size < 1000             # the long comment was compressed
    assert read_png_metadata(path) == {"step": "1"}


def test_an_xmp_held_only_as_imagemagicks_hex_copy_is_carried(tmp_path: Path, x2) -> None:
    # ImageMagick 6 writes a PNG's XMP only as a "Raw profile type xmp" text chunk, in hex
    digits = XMP.encode().hex()
    raw = f"\nxmp\n{len(XMP.encode()):8d}\n" + "\n".join(digits[i:i + 72] for i in range(0, len(digits), 72))
    info = PngImagePlugin.PngInfo()
    info.add_text("Raw profile type xmp", raw, zip=True)
    Image.fromarray(noise(4, 4)).save(tmp_path / "magick.png", pnginfo=info)
    assert read_image(tmp_path / "magick.png").metadata.xmp == XMP
    text = text_chunks(upscale_file(tmp_path / "magick.png", tmp_path / "out.png", x2, FAST))
    assert text[XMP_KEY] == XMP and "Raw profile type xmp" not in text


def test_a_source_whose_text_unpacks_too_large_is_named_as_such(tmp_path: Path) -> None:
    info = PngImagePlugin.PngInfo()
    info.add_text("Comment", "A" * 2_000_000, zip=True)     # over Pillow's 1 MB limit once unpacked
    Image.fromarray(noise(4, 4)).save(tmp_path / "bomb.png", pnginfo=info)
    with pytest.raises(DatasetError, match="bomb.png could not be used: its text metadata is too large"):
        read_image(tmp_path / "bomb.png")


def test_a_quarter_turn_turns_a_non_square_resolution_too(tmp_path: Path, x2) -> None:
    # stored 6 px across at 300 dpi and 4 down at 150 dpi; shown turned, so across is what was down
    exif = Image.Exif()
    exif[0x0112], exif[X_RESOLUTION], exif[X_RESOLUTION + 1] = 6, 300.0, 150.0
    Image.fromarray(noise(4, 6)).save(tmp_path / "scan.jpg", exif=exif.tobytes(), dpi=(300, 150))
    out = upscale_file(tmp_path / "scan.jpg", tmp_path / "out.png", x2, FAST)
    with Image.open(out) as im:
        assert im.size == (8, 12)
        assert im.info["dpi"] == pytest.approx((300, 600), abs=0.05)   # the same printed size, upright
        assert (float(im.getexif()[X_RESOLUTION]), float(im.getexif()[X_RESOLUTION + 1])) == (300, 600)


def test_the_exif_describes_the_new_image_not_the_old_file(tmp_path: Path, x2) -> None:
    # a photo whose EXIF records its pixel size (and, turned a quarter, is stored on its side)
    exif = Image.Exif()
    exif[0x0112] = 6                                   # orientation: turn 90 degrees
    exif[0x013B] = "An Artist"                         # Artist (kept)
    exif.get_ifd(0x8769)[0xA002] = 12                  # PixelXDimension of the stored picture
    exif.get_ifd(0x8769)[0xA003] = 8
    Image.fromarray(noise(8, 12)).save(tmp_path / "photo.jpg", exif=exif.tobytes())
    out = upscale_file(tmp_path / "photo.jpg", tmp_path / "photo.png", x2, FAST)
    with Image.open(out) as im:
        assert im.size == (16, 24)
        written = im.getexif()
    assert written[0x013B] == "An Artist" and 0x0112 not in written
    assert (written.get_ifd(0x8769)[0xA002], written.get_ifd(0x8769)[0xA003]) == (16, 24)

    # a TIFF: its layout tags (strips, samples, its copies of the XMP and profile) are not the PNG's
    Image.fromarray(noise(8, 12)).save(tmp_path / "scan.tif", dpi=(300, 300), description="A scan")
    out = upscale_file(tmp_path / "scan.tif", tmp_path / "scan.png", x2, FAST)
    with Image.open(out) as im:
        written = im.getexif()
        assert im.info["dpi"] == pytest.approx((600, 600), rel=1e-4)   # PNG stores dots per metre
    assert written[0x010E] == "A scan"                 # ImageDescription (kept)
    assert not {0x0100, 0x0101, 0x0111, 0x0115, 0x0116, 0x0117} & set(written)
    assert float(written[0x011A]) == pytest.approx(600)


def _png_with_colour_chunks(path: Path, *, srgb: bool, icc: bytes | None = None) -> None:
    import struct
    info = PngImagePlugin.PngInfo()
    info.add(b"gAMA", struct.pack(">I", 45455))
    info.add(b"cHRM", struct.pack(">8I", 31270, 32900, 64000, 33000, 30000, 60000, 15000, 6000))
    if srgb:
        info.add(b"sRGB", bytes([1]))
    Image.fromarray(noise(6, 5)).save(path, pnginfo=info, **({"icc_profile": icc} if icc else {}))


def test_png_gamma_chromaticity_and_srgb_survive_an_upscale(tmp_path: Path, x2) -> None:
    _png_with_colour_chunks(tmp_path / "in.png", srgb=True)
    out = upscale_file(tmp_path / "in.png", tmp_path / "out.png", x2, FAST)
    with Image.open(out) as im:
        assert im.size == (10, 12)
        assert im.info["gamma"] == pytest.approx(0.45455)
        assert im.info["chromaticity"] == pytest.approx((0.3127, 0.329, 0.64, 0.33, 0.3, 0.6, 0.15, 0.06))
        assert im.info["srgb"] == 1
    plain = upscale_file(tmp_path / "out.png", tmp_path / "again.png", x2, FAST)   # and on through a second tool
    with Image.open(plain) as im:
        assert im.info["srgb"] == 1 and im.info["gamma"] == pytest.approx(0.45455)


def test_colour_chunks_beside_a_profile_and_through_a_translation(tmp_path: Path, x2) -> None:
    from PIL import ImageCms
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    _png_with_colour_chunks(tmp_path / "in.png", srgb=False, icc=icc)
    out = upscale_file(tmp_path / "in.png", tmp_path / "up.png", x2, FAST)
    with Image.open(out) as im:
        assert im.info["icc_profile"] == icc and im.info["gamma"] == pytest.approx(0.45455)
        assert "srgb" not in im.info                  # PNG allows no sRGB chunk beside a profile
    torch.manual_seed(0)
    model = translator_from_generators({"AtoB": UNetGenerator(3, 3, ngf=4, depth=3)})
    _png_with_colour_chunks(tmp_path / "srgb.png", srgb=True)
    translated = translate_file(tmp_path / "srgb.png", tmp_path / "tr.png", model)
    with Image.open(translated) as im:                # the network's pixels are not the source's encoding
        assert not {"gamma", "chromaticity", "srgb", "icc_profile"} & set(im.info)


def test_out_of_range_colour_chunks_are_not_carried(tmp_path: Path) -> None:
    import struct
    info = PngImagePlugin.PngInfo()
    info.add(b"gAMA", struct.pack(">I", 0))          # a zero gamma means nothing
    info.add(b"sRGB", bytes([7]))                     # intents are 0 to 3
    Image.fromarray(noise(4, 4)).save(tmp_path / "in.png", pnginfo=info)
    meta = read_image(tmp_path / "in.png").metadata
    assert (meta.gamma, meta.chromaticity, meta.srgb_intent) == (None, None, None)
    assert SourceMetadata(gamma=0.5, srgb_intent=0).without_colour() == SourceMetadata()


def test_pngs_are_written_at_the_faster_compression_level() -> None:
    from ganstudio.core import export

    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:256, 0:256]
    image = np.clip(128 + 60 * np.sin(x / 9) * np.cos(y / 13) + rng.normal(0, 6, (256, 256)), 0, 255)
    image = np.repeat(image[..., None], 3, axis=2).astype(np.uint8)
    default = export.encode_png(image, {"step": "1"})
    assert default == export.encode_png(image, {"step": "1"}, compress_level=export.PNG_COMPRESS_LEVEL)
    assert default != export.encode_png(image, {"step": "1"}, compress_level=6)      # not zlib's default
    with Image.open(io.BytesIO(default)) as im:
        assert np.array_equal(np.asarray(im), image)                                  # lossless all the same
