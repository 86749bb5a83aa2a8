"""Hashing one seized file: MD5, SHA-1 and SHA-256 in a single read, then PDQ for any image Pillow decodes.

Never raises on bad input: whatever goes wrong (unreadable, vanished, a corrupt or truncated image, a
decompression bomb) comes back as a reason, so a scan of a million files is never stopped by one of them.
The bytes read are hashed and dropped; nothing is kept or shown.
"""

from __future__ import annotations

import errno
import hashlib
import io
import os
import warnings
from dataclasses import dataclass
from typing import Any

from PIL import Image, UnidentifiedImageError

from threadline.core.pdq import pdq_of_image

# Decoding a JPEG at 1/2, 1/4 or 1/8 scale (DCT scaling) while the shorter side stays >= this many pixels keeps
# the hash within a few bits of a full decode (measured: benchmarks/media.py) at a fraction of the cost.
DEFAULT_DRAFT = 512
# Images up to this size are kept in memory after the hashing read so Pillow need not read them again.
IMAGE_BUFFER_MAX = 256 * 1024 * 1024
READ_CHUNK = 1024 * 1024

_IMAGE_MAGIC = (
    b"\xff\xd8\xff",  # JPEG
    b"\x89PNG\r\n\x1a\n",
    b"GIF87a",
    b"GIF89a",
    b"BM",
    b"II*\x00",  # TIFF
    b"MM\x00*",
    b"\x00\x00\x01\x00",  # ICO
)
_VIDEO_MAGIC = (
    b"\x1a\x45\xdf\xa3",  # Matroska / WebM
    b"FLV",
    b"\x00\x00\x01\xba",  # MPEG program stream
    b"\x00\x00\x01\xb3",
    b"\x30\x26\xb2\x75\x8e\x66\xcf\x11",  # ASF / WMV
)
_STILL_FTYP = (b"heic", b"heix", b"mif1", b"msf1", b"avif", b"heim", b"heis")

NOT_IMAGE = "not an image: cryptographic hashes only, not perceptually hashed"
VIDEO = "video: cryptographic hashes only, not perceptually hashed (PDQ is for still images)"


def media_kind(head: bytes) -> str:
    """image, video or other, from the first bytes (names and extensions of seized files cannot be trusted)."""
    if head.startswith(_IMAGE_MAGIC) or (head.startswith(b"RIFF") and head[8:12] == b"WEBP"):
        return "image"
    if head[4:8] == b"ftyp":
        return "image" if head[8:12] in _STILL_FTYP else "video"
    if head.startswith(_VIDEO_MAGIC) or (head.startswith(b"RIFF") and head[8:12] == b"AVI "):
        return "video"
    if len(head) > 188 and head[0] == 0x47 and head[188] == 0x47:  # MPEG transport stream
        return "video"
    return "other"


@dataclass(slots=True)
class FileHashes:
    """What hashing one file found. `error` set: nothing could be read; `pdq_skipped` set: no perceptual hash."""

    path: str
    size: int | None = None
    mtime_ns: int | None = None
    kind: str = "none"
    md5: str | None = None
    sha1: str | None = None
    sha256: str | None = None
    pdq: str | None = None
    pdq_quality: int | None = None
    error: str | None = None
    pdq_skipped: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__slots__}


def _os_reason(exc: OSError) -> str:
    if isinstance(exc, FileNotFoundError):
        return "vanished during the scan (the file no longer exists)"
    if exc.errno == errno.ELOOP:
        return "symbolic link loop"
    if isinstance(exc, PermissionError):
        return "cannot be read: permission denied"
    if isinstance(exc, IsADirectoryError):
        return "is a folder, not a file"
    return f"cannot be read: {exc.strerror or exc}"


def _open(path: str) -> io.BufferedReader:
    # O_NOFOLLOW: a path that became a symbolic link since the walk is not followed out of the evidence.
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    return os.fdopen(fd, "rb")


def _pdq(data: bytes, draft: int | None) -> tuple[str | None, int | None, str | None]:
    """(pdq, quality, reason it has none) of an encoded image held in memory."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as img:
                if draft is not None and img.format == "JPEG":
                    img.draft("RGB", (draft, draft))
                img.load()
                pdq, quality = pdq_of_image(img)
        return pdq, quality, None
    except Image.DecompressionBombError as exc:
        return None, None, f"decompression bomb refused (Pillow's pixel limit): {exc}; not perceptually hashed"
    except UnidentifiedImageError:
        return None, None, "image format not recognised by Pillow (corrupt or unsupported): not perceptually hashed"
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        message = str(exc) or type(exc).__name__
        if "truncated" in message.lower():
            return None, None, f"truncated image ({message}): not perceptually hashed"
        return None, None, f"corrupt image ({message}): not perceptually hashed"
    except MemoryError:
        return None, None, "image too large to decode in memory: not perceptually hashed"


def hash_file(path: str, draft: int | None = DEFAULT_DRAFT, only_media: bool = False) -> FileHashes:
    """Hash the file at `path` (an absolute path on disk); `draft=None` decodes JPEGs at full size.
    With `only_media`, a file that is neither image nor video comes back as kind "skipped", unread past its head."""
    result = FileHashes(path=path)
    try:
        st = os.lstat(path)
        result.mtime_ns = st.st_mtime_ns
        with _open(path) as fh:
            md5, sha1, sha256 = hashlib.md5(), hashlib.sha1(), hashlib.sha256()
            head = fh.read(READ_CHUNK)
            result.kind = media_kind(head)
            if only_media and result.kind == "other":
                result.kind = "skipped"
                return result
            keep = result.kind == "image"
            parts = [head] if keep else []
            size = len(head)
            chunk = head
            while chunk:
                md5.update(chunk)
                sha1.update(chunk)
                sha256.update(chunk)
                chunk = fh.read(READ_CHUNK)
                size += len(chunk)
                if keep and chunk:
                    if size > IMAGE_BUFFER_MAX:
                        keep = False
                        parts = []
                    else:
                        parts.append(chunk)
    except OSError as exc:
        result.error = _os_reason(exc)
        result.kind = "none"
        return result
    result.size = size
    result.md5, result.sha1, result.sha256 = md5.hexdigest(), sha1.hexdigest(), sha256.hexdigest()
    if size == 0:
        result.kind = "other"
        result.pdq_skipped = "empty file (zero bytes): not perceptually hashed"
    elif result.kind == "video":
        result.pdq_skipped = VIDEO
    elif result.kind == "other":
        result.pdq_skipped = NOT_IMAGE
    elif not keep:
        result.pdq_skipped = f"image over {IMAGE_BUFFER_MAX // (1024 * 1024)} MB: not perceptually hashed"
    else:
        result.pdq, result.pdq_quality, result.pdq_skipped = _pdq(b"".join(parts), draft)
    return result
