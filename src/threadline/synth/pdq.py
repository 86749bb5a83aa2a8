"""PDQ perceptual hashes: the one implementation lives in `threadline.core.pdq`, shared with the media stage."""

from __future__ import annotations

from threadline.core.pdq import bits_to_hex, bits_to_hex_naive, hamming, pdq_of_bytes, pdq_of_image

__all__ = ["bits_to_hex", "bits_to_hex_naive", "hamming", "pdq_of_bytes", "pdq_of_image"]
