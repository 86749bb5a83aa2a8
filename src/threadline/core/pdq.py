"""PDQ perceptual hashes as 64 hex digits (the form hash lists and ThreatExchange use), shared by every stage
that hashes images and by the synthetic generator, so both produce byte-identical hashes.

Raw pixels are hashed WITHOUT applying EXIF orientation: Meta's reference hasher does not apply it, and the
reference vectors (and every hash list made with it) expect that.
"""

from __future__ import annotations

import io
import re

import numpy as np
import pdqhash
from PIL import Image

PDQ_BITS = 256
PDQ_BYTES = 32
PDQ_HEX = re.compile(r"^[0-9a-f]{64}$")


def bits_to_hex(bits: np.ndarray) -> str:
    """The 256 bits read in order as one big-endian number (matches Meta's reference hasher's output)."""
    return bytes(np.packbits(np.asarray(bits, dtype=np.uint8))).hex()


def bits_to_hex_naive(bits: np.ndarray) -> str:
    """The obviously-correct twin of ``bits_to_hex``, kept for tests."""
    return f"{int(''.join(str(int(b)) for b in bits), 2):064x}"


def pdq_of_image(img: Image.Image) -> tuple[str, int]:
    """(hex, quality) of the raw pixels; EXIF orientation deliberately not applied, as the reference does not."""
    bits, quality = pdqhash.compute(np.asarray(img.convert("RGB")))
    return bits_to_hex(bits), int(quality)


def pdq_of_bytes(data: bytes, draft: int | None = None) -> tuple[str, int]:
    """PDQ of an encoded image. ``draft`` asks JPEG decoding for a reduced size whose shorter side is still at
    least that many pixels (DCT scaling: 1/2, 1/4 or 1/8), several times faster on camera-sized photos."""
    with Image.open(io.BytesIO(data)) as img:
        if draft is not None and img.format == "JPEG":
            img.draft("RGB", (draft, draft))
        return pdq_of_image(img)


def hamming(a: str, b: str) -> int:
    return (int(a, 16) ^ int(b, 16)).bit_count()


def is_pdq_hex(value: str) -> bool:
    return PDQ_HEX.match(value) is not None


def pdq_matrix(hexes: list[str]) -> np.ndarray:
    """Hex strings as an (n, 32) uint8 matrix, one row per hash."""
    if not hexes:
        return np.zeros((0, PDQ_BYTES), dtype=np.uint8)
    return np.frombuffer(bytes.fromhex("".join(hexes)), dtype=np.uint8).reshape(-1, PDQ_BYTES).copy()


def matrix_hex(matrix: np.ndarray, row: int) -> str:
    return bytes(matrix[row]).hex()
