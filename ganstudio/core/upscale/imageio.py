"""Reading any image for upscaling, and writing the result as a PNG that keeps its metadata.

Every input becomes 8-bit grey, grey+alpha, RGB or RGBA: EXIF orientation applied; 16-bit PNGs
scaled to 8 bits with rounding (Pillow truncates 16-bit colour PNGs, so those are decoded by
torchvision); CMYK converted to RGB through its ICC profile when it has one; palettes to RGB(A);
1-bit to grey. The output keeps the source's metadata (``SourceMetadata``): the ICC profile
(unless it described a colour space the pixels were converted from) and a PNG's gAMA, cHRM and
sRGB chunks, the EXIF data and XMP (minus
the orientation, which the pixels now carry), the text chunks of a PNG or the comment of a JPEG or
GIF (as a "Comment" chunk), and the resolution, scaled and turned with the pixels so the printed
size stays the same. Beside them go provenance text chunks (model, scale, tile settings, app
version), which replace any ``ganstudio:`` chunks the source had.
"""
from __future__ import annotations

import io
import math
import os
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageCms

from ..data import unreadable_reason
from ..errors import DatasetError
from ..export import (EXIF_X_RESOLUTION, EXIF_Y_RESOLUTION, PNG_UNIT, XMP_KEY, SourceMetadata, TextChunk,
                      file_sha256, provenance, save_png)
from .tiling import InferenceSettings, Upscaler

#: EXIF tag of the orientation (applied to the pixels, then removed)
EXIF_ORIENTATION = 0x0112
_TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180, 4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE, 6: Image.Transpose.ROTATE_270, 7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
#: the orientations that turn the image a quarter: its resolution across becomes the one down
_SWAPS_AXES = (5, 6, 7, 8)
#: TIFF tags that describe how a TIFF file stores its pixels (strips, tiles, samples, its own copies of
#: the XMP and ICC profile): Pillow lists them in a TIFF's EXIF, but they do not describe the PNG
_TIFF_LAYOUT_TAGS = (0x0100, 0x0101, 0x0102, 0x0103, 0x0106, 0x0111, 0x0115, 0x0116, 0x0117, 0x011C,
                     0x013D, 0x0140, 0x0142, 0x0143, 0x0144, 0x0145, 0x0152, 0x0153, 0x02BC, 0x8773)
#: PNG raw modes that Pillow reads as 8 bits by dropping the low byte
_PNG16_RAWMODES = ("RGB;16B", "RGBA;16B", "LA;16B")
_CHANNEL_MODES = {1: "L", 2: "LA", 3: "RGB", 4: "RGBA"}
#: resolutions outside these pixels per inch are taken as unset (0 from a BMP, nonsense values)
MIN_DPI, MAX_DPI = 1.0, 100_000.0
#: the most text and XMP (UTF-8 bytes, all chunks together) carried from one source: real files hold
#: a few kilobytes, and a crafted one could otherwise hold a copy of tens of megabytes per image
MAX_CARRIED_TEXT = 1_000_000
#: ImageMagick's hex copies of a PNG's EXIF, ICC profile and XMP, written as text chunks: the real
#: chunks are written instead (a stale copy would still hold the orientation the pixels now carry);
#: an XMP that a PNG holds only as such a copy is decoded from it (``_imagemagick_xmp``)
_RAW_PROFILE_COPIES = ("raw profile type exif", "raw profile type app1", "raw profile type icc",
                       "raw profile type icm", "raw profile type xmp")
#: XMP's copy of the EXIF orientation, as an attribute or an element (patterns of Pillow's exif_transpose)
_XMP_ORIENTATION = re.compile(r'\s*tiff:Orientation="[0-9]"|<tiff:Orientation>[0-9]</tiff:Orientation>')


@dataclass
class LoadedImage:
    """An image ready for upscaling, plus what the output should carry over."""
    pixels: np.ndarray                   # uint8 HxWxC: C = 1 grey, 2 grey+alpha, 3 RGB, 4 RGBA
    path: Path | None = None             # the file it was read from
    metadata: SourceMetadata = field(default_factory=SourceMetadata)  # to carry into outputs
    source_mode: str = ""                # the file's own PIL mode, e.g. "I;16", "CMYK", "P"
    notes: list[str] = field(default_factory=list)  # conversions made, in plain words

    @property
    def icc_profile(self) -> bytes | None:
        """Colour profile to embed in the output (None: sRGB assumed)."""
        return self.metadata.icc_profile

    @property
    def exif(self) -> bytes | None:
        """EXIF to embed, orientation removed."""
        return self.metadata.exif

    def metadata_for(self, output: np.ndarray) -> SourceMetadata:
        """The metadata to write with ``output``, an image made from these pixels: the
        resolution scales with the size (``SourceMetadata.resampled``), so the printed size stays."""
        h, w = self.pixels.shape[:2]
        return self.metadata.resampled(output.shape[1] / w, output.shape[0] / h, (output.shape[1], output.shape[0]))

    @property
    def has_alpha(self) -> bool:
        return self.pixels.shape[2] in (2, 4)

    @property
    def is_grey(self) -> bool:
        return self.pixels.shape[2] in (1, 2)


def read_image(path: str | os.PathLike) -> LoadedImage:
    """Read an image file for upscaling. Raises DatasetError naming the file if it cannot be used."""
    path = Path(path)
    try:
        with Image.open(path) as im:
            wide = _is_png16(im)  # known from the header only: load() forgets the raw mode
            im.load()
            return _from_pil(im, path if wide else None)
    except Image.DecompressionBombError as e:
        raise DatasetError(_too_large(path, e)) from e
    except (OSError, SyntaxError, ValueError) as e:  # truncated or damaged files fail while decoding
        raise DatasetError(f"{path.name} could not be used: {unreadable_reason(path, e)}.") from e


def _too_large(path: Path, e: Exception) -> str:
    """Pillow refuses images over twice its MAX_IMAGE_PIXELS (a file that small on disk but that big
    in memory may be built to exhaust it): said with the numbers, not as an unreadable file."""
    numbers = [int(n) for n in re.findall(r"\d+", str(e))]
    size = f" ({numbers[0] / 1e6:,.1f} megapixels)" if numbers else ""
    limit = 2 * (Image.MAX_IMAGE_PIXELS or 0)
    return (f"{path.name} is too large to open{size}: GAN Studio opens images of up to {limit / 1e6:,.1f} "
            "megapixels, because larger files can be made to exhaust memory. Reduce or split it first.")


def image_from_pil(im: Image.Image) -> LoadedImage:
    """The same conversions as ``read_image`` for an image already in memory (drag and drop, paste)."""
    return _from_pil(im, None)


def _is_png16(im: Image.Image) -> bool:
    tile = getattr(im, "tile", None)
    return im.format == "PNG" and bool(tile) and tile[0].args in _PNG16_RAWMODES


def _from_pil(im: Image.Image, png16_path: Path | None) -> LoadedImage:
    """``png16_path``: the file to decode again at full depth (a 16-bit colour PNG), else None."""
    notes: list[str] = []
    frames = getattr(im, "n_frames", 1)
    if frames > 1:
        notes.append(f"animated: the first of its {frames} frames is used")
    icc = im.info.get("icc_profile") or None
    try:
        exif = im.getexif()
        orientation = int(exif.get(EXIF_ORIENTATION, 1))
    except Exception:  # noqa: BLE001 - Pillow's EXIF parser raises many types on damaged tags
        exif, orientation = Image.Exif(), 1
        notes.append("damaged EXIF data was dropped")
    source_mode = im.mode

    pixels = _png16_pixels(png16_path, notes) if png16_path is not None else None
    if pixels is not None:
        pil = _to_pil(pixels)
    else:
        pil, icc = _normalise_mode(im, icc, notes)
    if orientation in _TRANSPOSE:
        pil = pil.transpose(_TRANSPOSE[orientation])
        notes.append("EXIF orientation applied")
    for tag in (EXIF_ORIENTATION, *_TIFF_LAYOUT_TAGS):
        if tag in exif:
            del exif[tag]
    dpi = _dpi(im.info.get("dpi"))
    if orientation in _SWAPS_AXES:
        dpi = dpi[::-1] if dpi else None
        if EXIF_X_RESOLUTION in exif and EXIF_Y_RESOLUTION in exif:
            exif[EXIF_X_RESOLUTION], exif[EXIF_Y_RESOLUTION] = exif[EXIF_Y_RESOLUTION], exif[EXIF_X_RESOLUTION]
    try:
        exif_bytes = exif.tobytes() if len(exif) else None
    except Exception:  # noqa: BLE001 - tags Pillow can read but not write back
        exif_bytes = None
        notes.append("EXIF data could not be carried over")
    arr = np.asarray(pil, dtype=np.uint8)
    arr = arr[:, :, None] if arr.ndim == 2 else arr
    path = Path(im.filename) if getattr(im, "filename", None) else png16_path
    text, xmp = _carried_text(im, notes)
    metadata = SourceMetadata(icc_profile=icc, exif=exif_bytes, text=text, xmp=xmp, dpi=dpi, **_colour_encoding(im))
    return LoadedImage(np.ascontiguousarray(arr), path, metadata, source_mode, notes)


def _colour_encoding(im: Image.Image) -> dict[str, Any]:
    """A PNG's gAMA, cHRM and sRGB chunks as ``SourceMetadata`` fields, each left out when out of range.

    They say how the stored values map to light, which upscaling (and the conversion of 16-bit
    values to 8) does not change, so a viewer that honours them shows the output as it showed the
    source. Other formats keep such facts in their ICC profile, which is carried on its own.
    """
    if im.format != "PNG":
        return {}
    fields: dict[str, Any] = {}
    gamma = im.info.get("gamma")
    if isinstance(gamma, (int, float)) and 0 < gamma * PNG_UNIT < 2**31:
        fields["gamma"] = float(gamma)
    chroma = im.info.get("chromaticity")
    if (isinstance(chroma, tuple) and len(chroma) == 8
            and all(isinstance(v, (int, float)) and 0 <= v * PNG_UNIT < 2**31 for v in chroma)):
        fields["chromaticity"] = tuple(float(v) for v in chroma)
    intent = im.info.get("srgb")
    if isinstance(intent, int) and 0 <= intent <= 3:
        fields["srgb_intent"] = intent
    return fields


def _carried_text(im: Image.Image, notes: list[str]) -> tuple[tuple[TextChunk, ...], str | None]:
    """(text chunks, XMP packet) of ``im`` to carry over, at most ``MAX_CARRIED_TEXT`` bytes together:
    an entry that would pass it is left out, with a note. The XMP goes first (one structured record,
    at most 64 kB in a JPEG), then the text in the file's order."""
    budget = MAX_CARRIED_TEXT
    xmp = _xmp(im.info.get("xmp") or _imagemagick_xmp(im), notes)
    if xmp is not None:
        size = len(xmp.encode("utf-8"))
        if size > budget:
            notes.append(_not_carried("XMP data", size))
            xmp = None
        else:
            budget -= size
    chunks: list[TextChunk] = []
    left_out: list[tuple[str, int]] = []
    for chunk in _text_entries(im):
        size = len(chunk.value.encode("utf-8"))
        if size > budget:
            left_out.append((chunk.key, size))
            continue
        budget -= size
        chunks.append(chunk)
    if left_out:   # one note for all of them: a crafted file may hold hundreds
        keys = ", ".join(repr(key) for key, _ in left_out[:3]) + (", ..." if len(left_out) > 3 else "")
        what = f"the {keys} text" if len(left_out) == 1 else f"{len(left_out)} text entries ({keys})"
        notes.append(_not_carried(what, sum(size for _, size in left_out)))
    return tuple(chunks), xmp


def _text_entries(im: Image.Image) -> list[TextChunk]:
    """A PNG's text chunks (tEXt, zTXt, iTXt; its XMP and ImageMagick's profile copies aside), or
    the comment of another format (JPEG, GIF...) as a "Comment" entry."""
    if im.format != "PNG":
        comment = _decode_comment(im.info.get("comment"))
        return [TextChunk("Comment", comment)] if comment.strip() else []
    entries = []
    for key, value in (getattr(im, "text", None) or {}).items():
        if key == XMP_KEY or key.lower() in _RAW_PROFILE_COPIES:
            continue
        entries.append(TextChunk(key, str(value), getattr(value, "lang", None) or "",
                                 getattr(value, "tkey", None) or ""))
    return entries


def _imagemagick_xmp(im: Image.Image) -> bytes | None:
    """The XMP of a PNG written by ImageMagick 6, which holds it only as a "Raw profile type xmp" text
    chunk: a line naming the type, one with the length, then the bytes in hex (None if absent or not
    in that form)."""
    if im.format != "PNG":
        return None
    text = getattr(im, "text", None) or {}
    raw = next((str(value) for key, value in text.items() if key.lower() == "raw profile type xmp"), "")
    lines = raw.strip().split("\n", 2)   # the type, the length, then the hex digits
    if len(lines) < 3:
        return None
    try:
        return bytes.fromhex("".join(lines[2].split())) or None
    except ValueError:
        return None


def _decode_comment(raw: object) -> str:
    """A comment as text: UTF-8 where it is valid, else Latin-1 (a JPEG comment names no encoding)."""
    if isinstance(raw, bytes):
        try:
            raw = raw.decode("utf-8")
        except UnicodeDecodeError:
            raw = raw.decode("latin-1")
    return raw.rstrip("\0") if isinstance(raw, str) else ""


def _xmp(raw: object, notes: list[str]) -> str | None:
    """The XMP packet as text (a PNG holds it as text, JPEG, WebP and TIFF as UTF-8 bytes), without
    its orientation (the pixels carry it, as for the EXIF)."""
    if isinstance(raw, bytes):
        try:
            raw = raw.rstrip(b"\0").decode("utf-8")
        except UnicodeDecodeError:
            notes.append("XMP data that was not UTF-8 text was dropped")
            return None
    if not isinstance(raw, str) or not raw.strip():
        return None
    return _XMP_ORIENTATION.sub("", raw)


def _not_carried(what: str, size: int) -> str:
    amount = f"{size / 1e6:.1f} MB" if size >= 100_000 else f"{max(1, round(size / 1e3))} kB"
    return (f"{what} ({amount}) {'were' if what[0].isdigit() else 'was'} not carried over: outputs carry at most "
            f"{MAX_CARRIED_TEXT / 1e6:g} MB of text")


def _dpi(raw: object) -> tuple[float, float] | None:
    """Pixels per inch across and down, if the source states plausible ones (None otherwise)."""
    try:
        x, y = (float(v) for v in raw)  # type: ignore[union-attr]
    except (TypeError, ValueError):
        return None
    plausible = all(math.isfinite(v) and MIN_DPI <= v <= MAX_DPI for v in (x, y))
    return (x, y) if plausible else None


def _png16_pixels(path: Path, notes: list[str]) -> np.ndarray | None:
    """A 16-bit colour PNG decoded at full depth and rounded to 8 bits (None: use Pillow's 8 bits).

    torchvision's PNG decoder is deprecated (torchcodec replaces it); where it is gone, Pillow's
    high-byte truncation (at most one level darker) is the fallback.
    """
    try:
        import torch
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            from torchvision.io import ImageReadMode, decode_png

            data = torch.frombuffer(bytearray(path.read_bytes()), dtype=torch.uint8)
            wide = decode_png(data, mode=ImageReadMode.UNCHANGED)
    except (ImportError, AttributeError, RuntimeError):
        notes.append("16-bit image reduced to 8 bits by truncation")
        return None
    notes.append("16-bit image reduced to 8 bits")
    return _scale16(wide.permute(1, 2, 0).numpy())


def _scale16(a: np.ndarray) -> np.ndarray:
    """Round 16-bit values to the nearest 8-bit level (65535 -> 255, 257 * k -> k)."""
    return ((a.astype(np.uint32) * 255 + 32767) // 65535).astype(np.uint8)


def _normalise_mode(im: Image.Image, icc: bytes | None, notes: list[str]) -> tuple[Image.Image, bytes | None]:
    mode = im.mode
    if mode in ("L", "LA", "RGB", "RGBA"):
        return im, icc
    if mode == "1":
        return im.convert("L"), icc
    if mode in ("La", "RGBa"):  # premultiplied alpha
        return im.convert({"La": "LA", "RGBa": "RGBA"}[mode]), icc
    if mode in ("P", "PA"):
        alpha = mode == "PA" or "transparency" in im.info
        return im.convert("RGBA" if alpha else "RGB"), icc
    if mode.startswith("I;16") or mode in ("I", "F"):
        a = np.asarray(im)
        if mode == "F":
            scale = 255 if a.size and a.max() <= 1.0 else 1   # [0, 1] floats, or already 0..255
            a = np.clip(a.astype(np.float64) * scale, 0, 255).round().astype(np.uint8)
        else:
            a = _scale16(np.clip(a.astype(np.int64), 0, 65535))
        notes.append("floating-point image reduced to 8 bits" if mode == "F"
                     else "16-bit image reduced to 8 bits")
        return Image.fromarray(a, "L"), icc
    if mode == "CMYK":
        notes.append("CMYK converted to RGB")
        return _cmyk_to_rgb(im, icc, notes), None  # a CMYK profile does not describe RGB pixels
    notes.append(f"{mode} converted to RGB")
    return im.convert("RGB"), None


def _cmyk_to_rgb(im: Image.Image, icc: bytes | None, notes: list[str]) -> Image.Image:
    if icc:
        try:
            src = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            return ImageCms.profileToProfile(im, src, ImageCms.createProfile("sRGB"), outputMode="RGB")
        except (ImageCms.PyCMSError, OSError, ValueError):
            notes.append("its colour profile could not be used; converted without it")
    return im.convert("RGB")


# -- writing ------------------------------------------------------------------------------------
def model_sha256(up: Upscaler) -> str | None:
    """SHA-256 of the model file (cached on the upscaler; None for built-in baselines)."""
    if up.source is None:
        return None
    if "sha256" not in up.info:
        up.info["sha256"] = file_sha256(up.source)
    return up.info["sha256"]


def upscale_provenance(up: Upscaler, settings: InferenceSettings,
                       source: Path | None = None) -> dict[str, str]:
    """The PNG text chunks that say how an upscaled image was made."""
    return provenance(kind="upscale", model=up.name, model_arch=up.arch, model_sha256=model_sha256(up),
                      scale=up.scale, tile=settings.tile if settings.tile is not None else "auto",
                      overlap=settings.overlap if settings.overlap is not None else "auto",
                      precision=settings.precision, source=source.name if source else None,
                      ensemble="8 (mirrored and rotated, averaged)" if settings.ensemble else None)


def save_upscaled(pixels: np.ndarray, path: str | os.PathLike, *, upscaler: Upscaler,
                  settings: InferenceSettings, source: LoadedImage | None = None,
                  overwrite: bool = False) -> Path:
    """Write an upscaled image as PNG with provenance and the source's metadata (ICC profile, EXIF,
    text, XMP; its resolution scaled with the pixels, see ``SourceMetadata.resampled``).

    Never overwrites unless ``overwrite`` (ExportError names the file otherwise).
    """
    pixels = pixels if pixels.ndim == 3 else pixels[:, :, None]
    meta = upscale_provenance(upscaler, settings, source.path if source else None)
    return save_png(_to_pil(pixels), path, meta, overwrite=overwrite,
                    carried=source.metadata_for(pixels) if source else None)


def _to_pil(pixels: np.ndarray) -> Image.Image:
    """A PIL image of a uint8 HxWxC array, C = 1 (L), 2 (LA), 3 (RGB) or 4 (RGBA)."""
    c = pixels.shape[2]
    return Image.fromarray(pixels[:, :, 0] if c == 1 else pixels, _CHANNEL_MODES[c])
