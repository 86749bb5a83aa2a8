"""PDQ perceptual hashes as 64 hex digits, the form hash lists and ThreatExchange use."""

from __future__ import annotations

import io

import numpy as np
import pdqhash
from PIL import Image


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


def pdq_of_bytes(data: bytes) -> tuple[str, int]:
    with Image.open(io.BytesIO(data)) as img:
        return pdq_of_image(img)


def hamming(a: str, b: str) -> int:
    return (int(a, 16) ^ int(b, 16)).bit_count()
