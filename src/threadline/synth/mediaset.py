"""Which images the seizure holds, where they lie, and the forensic hash list over them.

Plans the stock (known-exact, known-near, novel) and the customers' uploads, generates them (media.py), keeps
novel images well away from every known original in PDQ space, writes the files, media_hashes.csv, the known set
and truth/media.csv.
"""

from __future__ import annotations

import csv
import random
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from threadline.synth.known import KnownEntry, decoys, write_known
from threadline.synth.media import NEAR_THRESHOLD, MediaBlob, MediaJob, MediaResult, make, make_all
from threadline.synth.pdq import hamming
from threadline.synth.people import Person
from threadline.synth.truth import RecordLog

STOCK_DEVICE = "NAS01:/volume1/stock"
UPLOAD_DEVICE = "WEB01:/var/www/shop/uploads"


@dataclass(frozen=True, slots=True)
class MediaCounts:
    files: int
    known_exact: int
    known_near: int
    novel: int
    uploads: int
    producers: int
    known_hashes: int


def default_media_count(people: int) -> int:
    return min(2000, max(40, people // 20))


def _pdq_matrix(hexes: list[str]) -> np.ndarray:
    if not hexes:
        return np.zeros((0, 32), dtype=np.uint8)
    return np.frombuffer(bytes.fromhex("".join(hexes)), dtype=np.uint8).reshape(-1, 32)


_POPCOUNT = np.array([bin(i).count("1") for i in range(256)], dtype=np.uint8)


def min_distance(query: str, known: np.ndarray) -> int:
    if len(known) == 0:
        return 256
    q = np.frombuffer(bytes.fromhex(query), dtype=np.uint8)
    return int(_POPCOUNT[np.bitwise_xor(known, q)].sum(axis=1, dtype=np.int32).min())


def build_media(
    seizure: Path,
    known_dir: Path,
    people: list[Person],
    total: int,
    seed: int,
    log: RecordLog,
    workers: int = 2,
    progress: Callable[[str, int, int], None] | None = None,
) -> tuple[MediaCounts, list[tuple[str, str, str, str, str, str]]]:
    """Generate and write all media; return the counts and the truth/media.csv rows."""
    rng = random.Random(f"{seed}:media")
    n_uploads = max(1, round(total * 0.12)) if people and total > 1 else 0
    n_producers = min(n_uploads, max(1, round(len(people) * 0.02))) if n_uploads else 0
    producers = rng.sample(people, n_producers) if n_producers else []
    uploads_of = [1] * n_producers
    for _ in range(n_uploads - n_producers):
        uploads_of[rng.randrange(n_producers)] += 1
    stock = total - n_uploads
    n_exact, n_near = round(stock * 0.2), round(stock * 0.25)
    n_novel = stock - n_exact - n_near
    n_unseen = max(2, (n_exact + n_near) // 2)  # known originals that are not in this seizure

    jobs: list[tuple[MediaJob, bool]] = []
    for i in range(n_exact + n_near + n_unseen):
        jobs.append((MediaJob(f"{seed}:orig:{i}", "original"), n_exact <= i < n_exact + n_near))
    for i in range(n_novel):
        jobs.append((MediaJob(f"{seed}:novel:{i}", "novel"), False))
    for i in range(n_uploads):
        jobs.append((MediaJob(f"{seed}:upload:{i}", "upload"), False))
    results = make_all(jobs, workers, progress)
    originals = results[: n_exact + n_near + n_unseen]
    fresh = results[n_exact + n_near + n_unseen :]

    # Novel images must not be near any known original, or ground truth would lie.
    known_pdq = _pdq_matrix([r.blob.pdq for r in originals])
    for k, r in enumerate(fresh):
        attempt = 0
        while min_distance(r.blob.pdq, known_pdq) <= NEAR_THRESHOLD + 8:
            attempt += 1
            r = make(MediaJob(f"{r.job.key}:retry{attempt}", r.job.kind), False)
        fresh[k] = r

    # Known set: originals + decoys, shuffled together, ids random.
    krng = random.Random(f"{seed}:known")
    raw_decoys = decoys(10 * len(originals) + 200, krng)
    ids = krng.sample(range(100_000, 10_000_000), len(originals) + len(raw_decoys))
    entries: list[KnownEntry] = []
    for r, mid in zip(originals, ids, strict=False):
        entries.append(
            KnownEntry(
                mid,
                r.blob.md5,
                r.blob.sha1,
                len(r.blob.data),
                r.blob.pdq,
                r.blob.quality,
                f"{r.blob.md5[:12]}.{r.blob.ext}",
                decoy=False,
            )
        )
    for (md5, sha1, size, pdq, quality), mid in zip(raw_decoys, ids[len(originals) :], strict=True):
        entries.append(KnownEntry(mid, md5, sha1, size, pdq, quality, f"{md5[:12]}.jpg", decoy=True))
    media_id = {e.md5: e.media_id for e in entries if not e.decoy}
    krng.shuffle(entries)
    write_known(known_dir, entries, krng)

    # Stock: exact and near copies plus novel, shuffled into neutral file names.
    stock_items: list[tuple[MediaBlob, str, str, str, str]] = []  # blob, status, known id, edit, distance
    for r in originals[:n_exact]:
        stock_items.append((r.blob, "known-exact", str(media_id[r.blob.md5]), "", "0"))
    for r in originals[n_exact : n_exact + n_near]:
        if r.near is None:
            stock_items.append((r.blob, "known-exact", str(media_id[r.blob.md5]), "", "0"))
        else:
            stock_items.append(
                (r.near, "known-near", str(media_id[r.blob.md5]), r.edit, str(hamming(r.near.pdq, r.blob.pdq)))
            )
    for r in fresh[:n_novel]:
        stock_items.append((r.blob, "novel", "", "", ""))
    rng.shuffle(stock_items)
    names = rng.sample(range(1000, 100000), len(stock_items))

    files: list[tuple[str, MediaBlob, str, str]] = []  # path, blob, device, custodian username
    truth_rows: list[tuple[str, str, str, str, str, str]] = []
    media_root = seizure / "media"
    (media_root / "stock").mkdir(parents=True, exist_ok=True)
    for (blob, status, kid, label, dist), n in zip(stock_items, names, strict=True):
        rel = f"media/stock/IMG_{n:05d}.{blob.ext}"
        files.append((rel, blob, STOCK_DEVICE, ""))
        truth_rows.append((rel, status, kid, label, "", dist))
    k = n_novel
    for person, count in zip(producers, uploads_of, strict=True):
        person.producer = True
        folder = media_root / "uploads" / person.username
        folder.mkdir(parents=True, exist_ok=True)
        for j in range(count):
            blob = fresh[k].blob
            k += 1
            rel = f"media/uploads/{person.username}/upload_{j + 1:03d}.{blob.ext}"
            files.append((rel, blob, UPLOAD_DEVICE, person.username))
            truth_rows.append((rel, "novel", "", "", person.person_id, ""))
    files.sort(key=lambda f: f[0])
    truth_rows.sort()
    owner = {p.username: p.person_id for p in producers}
    with (seizure / "media_hashes.csv").open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh, lineterminator="\r\n")
        w.writerow(("path", "size", "md5", "sha1", "sha256", "pdq", "device", "custodian"))
        for row_no, (rel, blob, device, custodian) in enumerate(files, start=1):
            (seizure / rel).write_bytes(blob.data)
            w.writerow((rel, len(blob.data), blob.md5, blob.sha1, blob.sha256, blob.pdq, device, custodian))
            log.add("media_hashes.csv", row_no, rel, owner.get(custodian, ""))
    counts = MediaCounts(
        files=len(files),
        known_exact=sum(1 for t in truth_rows if t[1] == "known-exact"),
        known_near=sum(1 for t in truth_rows if t[1] == "known-near"),
        novel=sum(1 for t in truth_rows if t[1] == "novel"),
        uploads=n_uploads,
        producers=n_producers,
        known_hashes=len(entries),
    )
    return counts, truth_rows


__all__ = ["MediaCounts", "MediaResult", "build_media", "default_media_count"]
