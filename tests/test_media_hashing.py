"""Hashing one file: PDQ against Meta's reference vectors, reduced-size decoding, and bad input as reasons."""

from __future__ import annotations

import csv
import io
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageOps

from threadline.core.pdq import bits_to_hex, bits_to_hex_naive, hamming, pdq_of_bytes, pdq_of_image
from threadline.media.hashing import hash_file, media_kind
from threadline.synth.media import pattern

REFERENCE = Path(__file__).resolve().parents[2] / "shared" / "testdata" / "pdq-reference"
needs_reference = pytest.mark.skipif(not REFERENCE.is_dir(), reason="../shared/testdata/pdq-reference is absent")


def _reference_rows() -> list[dict[str, str]]:
    with (REFERENCE / "expected-pdq.csv").open(encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def _noise_jpeg(size: tuple[int, int] = (320, 240), seed: int = 1) -> bytes:
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (12, 16, 3), dtype=np.uint8)
    img = Image.fromarray(small).resize(size, Image.Resampling.BICUBIC)
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=90)
    return buf.getvalue()


@needs_reference
def test_pdq_is_within_10_bits_of_the_reference_hasher() -> None:
    # With the default reduced-size JPEG decoding, which is what scans use.
    checked = 0
    for row in _reference_rows():
        result = hash_file(str(REFERENCE / row["path"]))
        assert result.error is None and result.pdq is not None, row["path"]
        if result.pdq_quality is not None and result.pdq_quality >= 80:
            assert hamming(result.pdq, row["pdq_hex"]) <= 10, row["path"]
            checked += 1
    assert checked >= 15


@needs_reference
def test_very_low_quality_photos_are_reported_as_such_not_failed() -> None:
    for name in ("q0003.jpg", "q0004.jpg"):
        result = hash_file(str(REFERENCE / "images" / "labelme-subset" / name))
        assert result.error is None and result.pdq is not None
        assert result.pdq_quality is not None and result.pdq_quality < 50


@needs_reference
def test_exif_orientation_is_not_applied() -> None:
    # Hashing raw pixels matches the reference; applying the orientation tag would turn the picture (and the hash).
    for row in _reference_rows():
        if "exif-rotn" not in row["path"] or row["path"].endswith("-1.jpg"):
            continue
        ours = hash_file(str(REFERENCE / row["path"])).pdq
        assert ours is not None and hamming(ours, row["pdq_hex"]) <= 10
        with Image.open(REFERENCE / row["path"]) as img:
            img.draft("RGB", (512, 512))
            turned, _ = pdq_of_image(ImageOps.exif_transpose(img))
        assert hamming(turned, row["pdq_hex"]) > 31


def test_hex_forms_agree() -> None:
    rng = np.random.default_rng(5)
    for _ in range(50):
        bits = rng.integers(0, 2, 256)
        assert bits_to_hex(bits) == bits_to_hex_naive(bits)


def test_one_read_gives_all_three_digests(tmp_path: Path) -> None:
    import hashlib

    data = _noise_jpeg()
    path = tmp_path / "a.jpg"
    path.write_bytes(data)
    result = hash_file(str(path))
    assert result.kind == "image" and result.size == len(data)
    assert result.md5 == hashlib.md5(data).hexdigest()
    assert result.sha1 == hashlib.sha1(data).hexdigest()
    assert result.sha256 == hashlib.sha256(data).hexdigest()
    assert result.pdq == pdq_of_bytes(data)[0]


def test_reduced_size_decoding_stays_close_to_the_full_decode() -> None:
    for seed in range(2):
        img = pattern(f"draft-{seed}").resize((2400, 1800), Image.Resampling.BICUBIC)
        grain = np.random.default_rng(seed).normal(0, 4, (1800, 2400, 3))
        buf = io.BytesIO()
        Image.fromarray(np.clip(np.asarray(img) + grain, 0, 255).astype(np.uint8)).save(buf, "JPEG", quality=90)
        full, _ = pdq_of_bytes(buf.getvalue())
        fast, _ = pdq_of_bytes(buf.getvalue(), draft=512)
        assert hamming(full, fast) <= 10


def _png_header_only(width: int, height: int) -> bytes:
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


@pytest.mark.parametrize(
    ("content", "kind", "reason"),
    [
        (b"", "other", "empty file"),
        (_noise_jpeg()[:1500], "image", "truncated"),
        (b"\xff\xd8\xff\xe0" + b"\x13" * 3000, "image", "not perceptually hashed"),
        (_png_header_only(40_000, 40_000), "image", "decompression bomb"),
        (b"\x00\x00\x00\x18ftypmp42" + b"\0" * 100, "video", "video"),
        (b"just some text\n" * 10, "other", "not an image"),
    ],
)
def test_bad_or_non_image_content_keeps_its_digests_and_gives_a_reason(
    tmp_path: Path, content: bytes, kind: str, reason: str
) -> None:
    path = tmp_path / "f.bin"
    path.write_bytes(content)
    result = hash_file(str(path))
    assert result.error is None
    assert result.sha256 is not None and result.size == len(content)
    assert result.kind == kind
    assert result.pdq is None
    assert result.pdq_skipped is not None and reason in result.pdq_skipped


def test_missing_and_looping_paths_are_reasons_not_exceptions(tmp_path: Path) -> None:
    assert "vanished" in (hash_file(str(tmp_path / "gone.jpg")).error or "")
    (tmp_path / "a").symlink_to(tmp_path / "b")
    (tmp_path / "b").symlink_to(tmp_path / "a")
    assert "loop" in (hash_file(str(tmp_path / "a")).error or "")


def test_media_kind_reads_magic_not_names() -> None:
    assert media_kind(b"\x89PNG\r\n\x1a\n....") == "image"
    assert media_kind(b"RIFF\0\0\0\0WEBPVP8 ") == "image"
    assert media_kind(b"\x00\x00\x00\x18ftypheic") == "image"
    assert media_kind(b"\x1a\x45\xdf\xa3....") == "video"
    assert media_kind(b"%PDF-1.7") == "other"
