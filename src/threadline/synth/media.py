"""Benign media for the seizure: abstract generated patterns, never photographs, never people.

The distributor's stock mixes three kinds, and triage must tell them apart:
- known-exact: byte-identical to an original in the known set (MD5 match);
- known-near: an edited copy (resized, recompressed, cropped 2-5 %, brightness shifted) of a known original, so
  only PDQ (Hamming distance <= 31) finds it;
- novel: in no known set.
Customer uploads are always novel: new material sent by a customer is the production signal the rank stage weighs.
Each image is a pure function of (seed, index), so generation can run in parallel and stay byte-identical.
"""

from __future__ import annotations

import hashlib
import io
import random
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw, ImageEnhance

from threadline.synth.pdq import hamming, pdq_of_bytes

NEAR_THRESHOLD = 31


@dataclass(frozen=True, slots=True)
class MediaBlob:
    data: bytes
    ext: str
    md5: str
    sha1: str
    sha256: str
    pdq: str
    quality: int


def _blob(data: bytes, ext: str) -> MediaBlob:
    pdq, quality = pdq_of_bytes(data)
    return MediaBlob(
        data,
        ext,
        hashlib.md5(data).hexdigest(),
        hashlib.sha1(data).hexdigest(),
        hashlib.sha256(data).hexdigest(),
        pdq,
        quality,
    )


def pattern(seed: str) -> Image.Image:
    """An abstract picture: a two-colour gradient, a few flat shapes, a little grain."""
    rng = random.Random(seed)
    w, h = rng.randrange(128, 321), rng.randrange(128, 321)
    c0 = np.array([rng.randrange(256) for _ in range(3)], dtype=np.float32)
    c1 = np.array([rng.randrange(256) for _ in range(3)], dtype=np.float32)
    angle = rng.uniform(0, np.pi)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    t = (np.cos(angle) * xx / w + np.sin(angle) * yy / h) / (abs(np.cos(angle)) + abs(np.sin(angle)))
    t = np.clip(t, 0.0, 1.0)[..., None]
    arr = c0 * (1 - t) + c1 * t
    img = Image.fromarray(arr.astype(np.uint8), "RGB")
    draw = ImageDraw.Draw(img)
    for _ in range(rng.randrange(3, 9)):
        x0, y0 = rng.randrange(w), rng.randrange(h)
        x1, y1 = x0 + rng.randrange(w // 8, w // 2 + 1), y0 + rng.randrange(h // 8, h // 2 + 1)
        fill = tuple(rng.randrange(256) for _ in range(3))
        shape = rng.randrange(3)
        if shape == 0:
            draw.ellipse((x0, y0, x1, y1), fill=fill)
        elif shape == 1:
            draw.rectangle((x0, y0, x1, y1), fill=fill)
        else:
            pts = [(rng.randrange(w), rng.randrange(h)) for _ in range(3)]
            draw.polygon(pts, fill=fill)
    grain = np.random.default_rng(rng.getrandbits(32)).normal(0, 6, (h, w, 3))
    out = np.clip(np.asarray(img, dtype=np.float32) + grain, 0, 255).astype(np.uint8)
    return Image.fromarray(out, "RGB")


def encode(img: Image.Image, rng: random.Random) -> tuple[bytes, str]:
    buf = io.BytesIO()
    if rng.random() < 0.2:
        img.save(buf, format="PNG", optimize=False)
        return buf.getvalue(), "png"
    img.save(buf, format="JPEG", quality=rng.randrange(80, 96))
    return buf.getvalue(), "jpg"


def edit(original: bytes, rng: random.Random, strength: float) -> tuple[bytes, str]:
    """A near-duplicate of ``original``: one or two of resize, recompress, crop, brightness; ``strength`` <= 1."""
    with Image.open(io.BytesIO(original)) as src:
        img = src.convert("RGB")
    kinds = rng.sample(("resize", "recompress", "crop", "brightness"), rng.choice((1, 2)))
    done: list[str] = []
    quality = 90
    for kind in kinds:
        if kind == "resize":
            f = 1 - strength * rng.uniform(0.1, 0.4)
            img = img.resize((max(32, int(img.width * f)), max(32, int(img.height * f))), Image.Resampling.BILINEAR)
            done.append(f"resize {f:.2f}")
        elif kind == "recompress":
            quality = int(90 - strength * rng.uniform(20, 50))
            done.append(f"jpeg q{quality}")
        elif kind == "crop":
            frac = strength * rng.uniform(0.02, 0.05)
            dx, dy = int(img.width * frac), int(img.height * frac)
            img = img.crop((dx, dy, img.width - dx, img.height - dy))
            done.append(f"crop {frac * 100:.1f}%")
        else:
            f = 1 + strength * rng.choice((-1, 1)) * rng.uniform(0.03, 0.1)
            img = ImageEnhance.Brightness(img).enhance(f)
            done.append(f"brightness {f:.2f}")
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=quality)
    return buf.getvalue(), "+".join(done)


@dataclass(frozen=True, slots=True)
class MediaJob:
    key: str  # the per-image seed
    kind: str  # original | novel | upload


@dataclass(frozen=True, slots=True)
class MediaResult:
    job: MediaJob
    blob: MediaBlob
    near: MediaBlob | None = None  # the edited copy, for originals that appear edited in the seizure
    edit: str = ""


def make(job: MediaJob, with_edit: bool) -> MediaResult:
    rng = random.Random(job.key + ":enc")
    data, ext = encode(pattern(job.key), rng)
    blob = _blob(data, ext)
    if not with_edit:
        return MediaResult(job, blob)
    for attempt, strength in enumerate((1.0, 0.6, 0.3, 0.1)):
        erng = random.Random(f"{job.key}:edit:{attempt}")
        edited, label = edit(data, erng, strength)
        near = _blob(edited, "jpg")
        if near.md5 != blob.md5 and hamming(near.pdq, blob.pdq) <= NEAR_THRESHOLD:
            return MediaResult(job, blob, near, label)
    return MediaResult(job, blob)  # no usable edit: the caller treats it as exact


def _make_star(args: tuple[MediaJob, bool]) -> MediaResult:
    return make(*args)


def make_all(
    jobs: Sequence[tuple[MediaJob, bool]],
    workers: int,
    progress: Callable[[str, int, int], None] | None = None,
) -> list[MediaResult]:
    """Run ``make`` over ``jobs`` in order; ``workers`` > 1 uses processes (results identical either way)."""
    if workers <= 1 or len(jobs) < 64:
        out = []
        for i, job in enumerate(jobs):
            out.append(_make_star(job))
            if progress is not None and i % 200 == 0:
                progress("media", i, len(jobs))
        return out
    with ProcessPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(_make_star, jobs, chunksize=32))
