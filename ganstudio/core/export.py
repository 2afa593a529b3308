"""PNG export with provenance, written atomically, never overwriting unless asked."""
from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path
from typing import Mapping

import numpy as np
from PIL import Image, PngImagePlugin

from .. import __version__
from .errors import ExportError, is_disk_full

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
        raise ExportError(f"{path} already exists; choose another name or allow overwriting.")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = make_temp_beside(path)
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        if not overwrite and path.exists():  # appeared meanwhile (another export)
            raise ExportError(f"{path} already exists; choose another name or allow overwriting.")
        os.replace(tmp, path)
    except OSError as e:
        _remove_quietly(tmp)
        raise ExportError(f"Could not write {path}: {e.strerror or e}.", disk_full=is_disk_full(e)) from e
    except BaseException:
        _remove_quietly(tmp)
        raise
    return path


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
    im.save(buf, format="PNG", **kwargs)
    return buf.getvalue()


def save_png(image: np.ndarray | Image.Image, path: str | os.PathLike, metadata: Mapping[str, str] | None = None,
             *, overwrite: bool = False, icc_profile: bytes | None = None, exif: bytes | None = None) -> Path:
    """Encode and write a PNG atomically. Raises ExportError if it exists (unless ``overwrite``) or on I/O errors."""
    path = Path(path)
    if path.exists() and not overwrite:
        raise ExportError(f"{path} already exists; choose another name or allow overwriting.")
    return atomic_write_bytes(path, encode_png(image, metadata, icc_profile=icc_profile, exif=exif),
                              overwrite=overwrite)


def read_png_metadata(path: str | os.PathLike) -> dict[str, str]:
    """The ``ganstudio:`` text chunks of a PNG, without the prefix ({} if none)."""
    with Image.open(path) as im:
        text = getattr(im, "text", None) or {}
        return {k[len(META_PREFIX):]: v for k, v in text.items() if k.startswith(META_PREFIX)}


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
