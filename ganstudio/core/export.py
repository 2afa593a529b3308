"""PNG export with provenance, written atomically, never overwriting unless asked.

A PNG made from another image (upscaled, translated) can carry that image's metadata
(``SourceMetadata``: ICC profile, EXIF, text chunks and comments, XMP, resolution); our own
``ganstudio:`` text chunks are always written fresh, never copied from the source.

Every operating-system error met while writing comes out as an ``ExportError`` in plain words
("Cannot write to /x: the folder is read-only."), naming the file or folder the user chose and
never the temp file beside it.
"""
from __future__ import annotations

import errno
import hashlib
import io
import math
import os
import struct
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Mapping

import numpy as np
from PIL import Image, PngImagePlugin

from .. import __version__
from .errors import WRITE_FAILURES, ExportError, already_exists, is_disk_full, write_failure_reason

#: text-chunk keys written by GAN Studio (all prefixed, so other tools' keys never collide)
META_PREFIX = "ganstudio:"
#: the iTXt keyword under which PNG files hold an XMP packet (XMP specification, part 3)
XMP_KEY = "XML:com.adobe.xmp"
#: gAMA and cHRM store their values as integers in units of 1/100000
PNG_UNIT = 100_000
#: zlib level of the PNGs written. For a 5120x3200 upscaled photo, level 6 (zlib's and Pillow's
#: default) took 9.6-10.0 s and 12.9 MB, level 4 3.6 s and 13.2 MB (+3%), level 3 2.9-3.3 s and 14.3 MB:
#: at 6 saving took twice as long as the upscale itself
PNG_COMPRESS_LEVEL = 4
#: carried text chunks longer than this many characters are written compressed (zTXt or zipped iTXt)
COMPRESS_TEXT_OVER = 1024
#: PNG keywords are 1 to 79 Latin-1 characters
_MAX_KEYWORD = 79
#: EXIF tags of the pixels per unit across and down (IFD0)
EXIF_X_RESOLUTION, EXIF_Y_RESOLUTION = 0x011A, 0x011B
#: the Exif sub-IFD, and its tags of the image's width and height in pixels
EXIF_IFD, EXIF_PIXEL_X, EXIF_PIXEL_Y = 0x8769, 0xA002, 0xA003


def _read_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


#: permissions of files we create: what a plain open() would give (mkstemp alone makes them 0600)
FILE_MODE = 0o666 & ~_read_umask()


def make_temp_beside(path: Path) -> str:
    """A new empty temp file in ``path``'s folder (same file system, so ``os.replace`` is atomic),
    with the user's normal file permissions."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        os.chmod(tmp, FILE_MODE)
    except OSError:
        pass
    return tmp


def file_sha256(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    """Hex SHA-256 of a file (identifies the exact model that made an image)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def atomic_write_bytes(path: Path, data: bytes, *, overwrite: bool = False) -> Path:
    """Write ``data`` to a temp file beside ``path`` and move it into place.

    A crash or a full disk leaves either the old file or nothing, never a half-written one.
    """
    path = Path(path)
    if path.exists() and not overwrite:
        raise already_exists(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = make_temp_beside(path)
    except OSError as e:
        raise write_error(path, e) from e
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        if not overwrite and path.exists():  # appeared meanwhile (another export)
            raise already_exists(path)
        os.replace(tmp, path)
    except OSError as e:
        _remove_quietly(tmp)
        raise write_error(path, e) from e
    except BaseException:
        _remove_quietly(tmp)
        raise
    return path


def check_output_folder(folder: str | os.PathLike) -> Path:
    """Create ``folder`` if needed and make sure a file can be created in it (one probe file,
    removed at once). A batch calls this before its first image, so a folder it cannot write
    is one clear ExportError instead of one failure per file."""
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        _remove_quietly(make_temp_beside(folder / "probe"))
    except OSError as e:
        raise write_error(folder, e, folder=folder) from e
    return folder


def write_error(path: Path, e: OSError, *, folder: Path | None = None) -> ExportError:
    """The ExportError for an OSError met while writing ``path`` (into ``folder``, by default its
    parent), in words a user acts on. Only ``strerror`` is used, never ``str(e)``: that holds the
    name of the temp file the write went to."""
    folder = path.parent if folder is None else folder
    code = getattr(e, "errno", None)
    if is_disk_full(e):
        return ExportError(f"Cannot write {path}: the disk is full (No space left on device); free some "
                           "space.", disk_full=True)
    if code in (errno.EEXIST, errno.ENOTDIR):
        blocker = _file_in_the_way(folder)
        if blocker is not None:
            return ExportError(f"{blocker} is a file, not a folder; choose another folder.")
    if code == errno.EISDIR:
        return ExportError(f"{path} is a folder; choose another name.")
    if code in WRITE_FAILURES:
        return ExportError(f"Cannot write to {folder}: {write_failure_reason(e)}.")
    return ExportError(f"Cannot write {path}: {e.strerror or type(e).__name__}.")


def _file_in_the_way(folder: Path) -> Path | None:
    """The nearest of ``folder`` and its parents that exists and is not a folder, if any."""
    for candidate in (folder, *folder.parents):
        if candidate.exists():
            return None if candidate.is_dir() else candidate
    return None


def _remove_quietly(p: str) -> None:
    try:
        os.unlink(p)
    except OSError:
        pass


@dataclass(frozen=True)
class TextChunk:
    """One text entry of a source image (a PNG text chunk, or a JPEG/GIF comment) to carry over."""
    key: str                  # PNG keyword, e.g. "Author", "Description", "Comment" (1-79 Latin-1 characters)
    value: str                # any Unicode text (written as iTXt when it is not Latin-1)
    language: str = ""        # iTXt language tag, e.g. "zh-CN" ("" if none)
    translated_key: str = ""  # iTXt keyword in that language ("" if none)


@dataclass(frozen=True)
class SourceMetadata:
    """What a source image says about itself, carried into a PNG made from its pixels."""
    icc_profile: bytes | None = None         # colour profile (None: sRGB assumed)
    exif: bytes | None = None                # EXIF, orientation removed (the pixels carry it)
    text: tuple[TextChunk, ...] = ()         # text chunks and comments, in the source's order
    xmp: str | None = None                   # XMP packet (orientation removed)
    dpi: tuple[float, float] | None = None   # pixels per inch across and down (None: the source said none)
    # how a PNG says its pixels are encoded, where it has no colour profile or beside one
    gamma: float | None = None               # gAMA: the encoding gamma (1/2.2 = 0.45455 for most images)
    chromaticity: tuple[float, ...] | None = None   # cHRM: white point, red, green, blue as (x, y) pairs
    srgb_intent: int | None = None           # sRGB: the pixels are sRGB, with this rendering intent (0-3)

    def without_colour(self) -> SourceMetadata:
        """This metadata for pixels made anew by a network (a translation): the source's colour
        profile and encoding no longer describe them, everything else still applies."""
        return replace(self, icc_profile=None, gamma=None, chromaticity=None, srgb_intent=None)

    def resampled(self, x_factor: float, y_factor: float, size: tuple[int, int] | None = None) -> SourceMetadata:
        """This metadata for the image resampled by ``x_factor`` across and ``y_factor`` down, to
        ``size`` (width, height) if given.

        The printed (document) size is kept, as photo editors do when they resample with "keep
        document size": the pixels per inch (dpi and the EXIF resolution) grow by the same factors,
        so a photo that printed 10 x 15 cm at 72 dpi prints 10 x 15 cm at 144 dpi after a x2
        upscale, with twice the detail. The EXIF's own record of the width and height in pixels
        becomes ``size``. Factors of 1 (a translation) keep the resolution.
        """
        if x_factor == 1 and y_factor == 1 and size is None:
            return self
        dpi = (self.dpi[0] * x_factor, self.dpi[1] * y_factor) if self.dpi else None
        exif = _resampled_exif(self.exif, x_factor, y_factor, size) if self.exif else None
        return replace(self, dpi=dpi, exif=exif)


def _resampled_exif(exif: bytes, x_factor: float, y_factor: float, size: tuple[int, int] | None = None) -> bytes:
    """``exif`` with its X/Y resolution multiplied by the factors and its pixel width and height set
    to ``size`` (each unchanged where it has none)."""
    tags = Image.Exif()
    try:
        tags.load(exif)
        changed = False
        for tag, factor in ((EXIF_X_RESOLUTION, x_factor), (EXIF_Y_RESOLUTION, y_factor)):
            value = float(tags[tag]) if tag in tags and factor != 1 else math.nan   # nan: absent, or a 0 denominator
            if math.isfinite(value) and value > 0:
                tags[tag] = value * factor
                changed = True
        if size is not None and EXIF_IFD in tags:
            sub = tags.get_ifd(EXIF_IFD)
            for tag, value in ((EXIF_PIXEL_X, size[0]), (EXIF_PIXEL_Y, size[1])):
                if tag in sub and sub[tag] != value:
                    sub[tag] = value
                    changed = True
        return tags.tobytes() if changed else exif
    except Exception:  # noqa: BLE001 - Pillow's EXIF parser raises many types on damaged tags
        return exif


def provenance(**fields: object) -> dict[str, str]:
    """Standard provenance text chunks: the app version plus the given fields (None values dropped)."""
    meta = {"app": f"GAN Studio {__version__}"}
    meta.update({k: str(v) for k, v in fields.items() if v is not None})
    return meta


def encode_png(image: np.ndarray | Image.Image, metadata: Mapping[str, str] | None = None, *,
               carried: SourceMetadata | None = None, compress_level: int = PNG_COMPRESS_LEVEL) -> bytes:
    """PNG bytes of a uint8 HxW, HxWx1/3/4 array (or a PIL image), with ``ganstudio:`` text chunks
    and, when given, the ``carried`` metadata of the image it was made from."""
    im = image if isinstance(image, Image.Image) else _array_to_pil(image)
    info = PngImagePlugin.PngInfo()
    for key, value in (metadata or {}).items():
        info.add_itxt(META_PREFIX + key, str(value))
    kwargs: dict = {"pnginfo": info, "compress_level": compress_level}
    if carried is not None:
        _add_carried(info, carried)
        if carried.icc_profile:
            kwargs["icc_profile"] = carried.icc_profile
        if carried.exif:
            kwargs["exif"] = carried.exif
        if carried.dpi:
            kwargs["dpi"] = carried.dpi
    buf = io.BytesIO()
    try:
        im.save(buf, format="PNG", **kwargs)
    except OSError as e:   # PIL's "cannot write mode CMYK as PNG"
        raise ExportError(f"Cannot save a {im.mode} image as PNG; only grey, RGB and RGBA images are "
                          "exported.") from e
    return buf.getvalue()


def _add_carried(info: PngImagePlugin.PngInfo, carried: SourceMetadata) -> None:
    """The source's text chunks and XMP. Its ``ganstudio:`` chunks are not copied: they described
    how the source was made, and this image's own provenance replaces them."""
    for chunk in carried.text:
        if not _writable_keyword(chunk.key) or chunk.key.lower().startswith(META_PREFIX):
            continue
        compress = len(chunk.value) > COMPRESS_TEXT_OVER
        if chunk.language or chunk.translated_key or not _is_latin1(chunk.value):
            info.add_itxt(chunk.key, chunk.value, chunk.language, chunk.translated_key, zip=compress)
        else:
            info.add_text(chunk.key, chunk.value, zip=compress)
    if carried.xmp:
        info.add_itxt(XMP_KEY, carried.xmp)   # uncompressed: the XMP specification asks so, for tools that scan files
    # Pillow writes these three before the image data, as PNG requires, and drops sRGB beside a profile
    if carried.gamma is not None:
        info.add(b"gAMA", struct.pack(">I", round(carried.gamma * PNG_UNIT)))
    if carried.chromaticity is not None:
        info.add(b"cHRM", struct.pack(">8I", *(round(v * PNG_UNIT) for v in carried.chromaticity)))
    if carried.srgb_intent is not None:
        info.add(b"sRGB", bytes([carried.srgb_intent]))


def _writable_keyword(key: str) -> bool:
    return 0 < len(key) <= _MAX_KEYWORD and "\0" not in key and _is_latin1(key) and key != XMP_KEY


def _is_latin1(text: str) -> bool:
    try:
        text.encode("latin-1")
    except UnicodeEncodeError:
        return False
    return True


def save_png(image: np.ndarray | Image.Image, path: str | os.PathLike, metadata: Mapping[str, str] | None = None,
             *, overwrite: bool = False, carried: SourceMetadata | None = None) -> Path:
    """Encode and write a PNG atomically (``encode_png``). Raises ExportError if it exists (unless
    ``overwrite``) or on I/O errors."""
    path = Path(path)
    if path.exists() and not overwrite:
        raise already_exists(path)
    return atomic_write_bytes(path, encode_png(image, metadata, carried=carried), overwrite=overwrite)


def read_png_metadata(path: str | os.PathLike) -> dict[str, str]:
    """The ``ganstudio:`` text chunks of a PNG, without the prefix ({} if none). Only the header is
    read, no pixel: ``encode_png`` writes its chunks before the image data (``Image.text`` would
    decode the whole image to look for chunks after it)."""
    try:
        with Image.open(path) as im:
            info = dict(im.info)
    except OSError as e:   # missing, unreadable, or not an image (PIL's UnidentifiedImageError)
        reason = getattr(e, "strerror", None) or "not a readable image"
        raise ExportError(f"Cannot read {path}: {reason}.") from e
    return {k[len(META_PREFIX):]: str(v) for k, v in info.items()
            if isinstance(k, str) and k.startswith(META_PREFIX)}


def unique_path(path: str | os.PathLike) -> Path:
    """``path`` if free, else ``name-1.png``, ``name-2.png``... (for "never overwrite" exports)."""
    path = Path(path)
    if not path.exists():
        return path
    for i in range(1, 100_000):
        cand = path.with_name(f"{path.stem}-{i}{path.suffix}")
        if not cand.exists():
            return cand
    raise ExportError(f"Too many files named like {path}.")


def _array_to_pil(a: np.ndarray) -> Image.Image:
    if a.dtype != np.uint8:
        raise ExportError(f"Images are exported from uint8 arrays, got {a.dtype}.")
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[:, :, 0]
    if a.ndim == 2:
        return Image.fromarray(a, "L")
    if a.ndim == 3 and a.shape[2] == 3:
        return Image.fromarray(a, "RGB")
    if a.ndim == 3 and a.shape[2] == 4:
        return Image.fromarray(a, "RGBA")
    raise ExportError(f"Cannot export an image array of shape {a.shape}.")
