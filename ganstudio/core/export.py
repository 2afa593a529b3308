"""PNG export with provenance, written atomically, never overwriting unless asked.

Every operating-system error met while writing comes out as an ``ExportError`` in plain words
("Cannot write to /x: the folder is read-only."), naming the file or folder the user chose and
never the temp file beside it.
"""
from __future__ import annotations

import errno
import hashlib
import os
import tempfile
from pathlib import Path
from typing import Mapping

import numpy as np
from PIL import Image, PngImagePlugin

from .. import __version__
from .errors import WRITE_FAILURES, ExportError, already_exists, is_disk_full, write_failure_reason

#: text-chunk keys written by GAN Studio (all prefixed, so other tools' keys never collide)
META_PREFIX = "ganstudio:"


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


def provenance(**fields: object) -> dict[str, str]:
    """Standard provenance text chunks: the app version plus the given fields (None values dropped)."""
    meta = {"app": f"GAN Studio {__version__}"}
    meta.update({k: str(v) for k, v in fields.items() if v is not None})
    return meta


def encode_png(image: np.ndarray | Image.Image, metadata: Mapping[str, str] | None = None, *,
               icc_profile: bytes | None = None, exif: bytes | None = None, compress_level: int = 6) -> bytes:
    """PNG bytes of a uint8 HxW, HxWx1/3/4 array (or a PIL image), with ``ganstudio:`` text chunks."""
    im = image if isinstance(image, Image.Image) else _array_to_pil(image)
    info = PngImagePlugin.PngInfo()
    for key, value in (metadata or {}).items():
        info.add_itxt(META_PREFIX + key, str(value))
    import io

    buf = io.BytesIO()
    kwargs: dict = {"pnginfo": info, "compress_level": compress_level}
    if icc_profile:
        kwargs["icc_profile"] = icc_profile
    if exif:
        kwargs["exif"] = exif
    try:
        im.save(buf, format="PNG", **kwargs)
    except OSError as e:   # PIL's "cannot write mode CMYK as PNG"
        raise ExportError(f"Cannot save a {im.mode} image as PNG; only grey, RGB and RGBA images are "
                          "exported.") from e
    return buf.getvalue()


def save_png(image: np.ndarray | Image.Image, path: str | os.PathLike, metadata: Mapping[str, str] | None = None,
             *, overwrite: bool = False, icc_profile: bytes | None = None, exif: bytes | None = None) -> Path:
    """Encode and write a PNG atomically. Raises ExportError if it exists (unless ``overwrite``) or on I/O errors."""
    path = Path(path)
    if path.exists() and not overwrite:
        raise already_exists(path)
    return atomic_write_bytes(path, encode_png(image, metadata, icc_profile=icc_profile, exif=exif),
                              overwrite=overwrite)


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
