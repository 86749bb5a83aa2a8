"""`triage`: a verdict for every seized media item, against every active known-hash set.

Order of evidence, strongest first:
1. an exact match (MD5, SHA-1 or SHA-256) to an allow set: allow-listed (the file is byte-identical to a known
   benign one; it overrides any match);
2. an exact match to a known-material set: known-exact (set, category, series, victim identified);
3. no perceptual hash: unhashable (with the reason: a video, a corrupt image, an unreadable file...);
4. a PDQ within the distance threshold of an allow-set hash at least as close as any known-material hash:
   allow-listed; of a known-material hash: known-near (distance and the matched hash). Weak hashes (quality below
   the threshold) are matched too, with a note: a match within the threshold is still a lead for review;
5. no match and PDQ quality below the threshold: low-quality (too weak a hash to call the file novel);
6. otherwise novel. Novel material owned by a customer is the strongest sign of abuse happening now.
Hash-list rows without a quality score count as good enough (their quality is unknown, not low).
"""

from __future__ import annotations

import hashlib
import itertools
import json
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from sqlalchemy import delete, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from threadline.core import audit
from threadline.core.bulk import bound, driver_rows, insert_tuples
from threadline.core.db import Store, redact
from threadline.core.errors import InputError
from threadline.core.pdq import pdq_matrix
from threadline.model import VERDICTS, HashSet, KnownHash, MediaItem, MediaVerdict, utcnow

if TYPE_CHECKING:  # the index pulls in numba; commands that do not match should not wait for it
    from threadline.media.pdqindex import FaissMultiHash, MultiIndex, Results

DEFAULT_DISTANCE = 31
DEFAULT_QUALITY = 50
ENGINES = ("multi", "faiss", "brute")


@dataclass
class TriageReport:
    items: int = 0
    max_distance: int = DEFAULT_DISTANCE
    min_quality: int = DEFAULT_QUALITY
    engine: str = "multi"
    known_pdq: int = 0
    index_rebuilt: bool = False
    seconds: float = 0.0
    verdicts: dict[str, int] = field(default_factory=dict)
    by_seizure: dict[int, dict[str, int]] = field(default_factory=dict)
    by_owner: dict[str, dict[str, int]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "items": self.items,
            "max_distance": self.max_distance,
            "min_quality": self.min_quality,
            "engine": self.engine,
            "known_pdq_hashes": self.known_pdq,
            "index_rebuilt": self.index_rebuilt,
            "seconds": round(self.seconds, 3),
            "verdicts": {v: self.verdicts.get(v, 0) for v in VERDICTS},
            "by_seizure": {str(k): v for k, v in sorted(self.by_seizure.items())},
            "by_owner": dict(sorted(self.by_owner.items())),
        }


@dataclass(frozen=True, slots=True)
class Match:
    known_hash_id: int
    hash_set_id: int
    hashset: str
    allow: bool
    category: str | None
    series: str | None
    victim_identified: bool | None
    pdq: str | None
    matched_by: str
    distance: int


# ---- the PDQ index over every active set, kept under THREADLINE_HOME ----------------------------------------


@dataclass
class KnownIndex:
    searcher: MultiIndex | FaissMultiHash | None
    matrix: np.ndarray | None  # kept only for the brute-force engine
    known_ids: np.ndarray
    rebuilt: bool

    def search(self, queries: np.ndarray, max_distance: int) -> Results:
        from threadline.media.pdqindex import brute_force

        if self.matrix is not None:
            return brute_force(self.matrix, queries, max_distance)
        assert self.searcher is not None
        return self.searcher.search(queries, max_distance)


def index_folder(store: Store) -> Path:
    return store.settings.resolved_home / "media" / "pdq-index"


def _fingerprint(session: Session, store: Store, max_distance: int) -> str:
    sets = session.execute(
        select(HashSet.id, HashSet.version, HashSet.hashes, HashSet.is_allow)
        .where(HashSet.status == "active")
        .order_by(HashSet.id)
    ).all()
    content = {"db": redact(store.settings.url), "distance": max_distance, "sets": [list(s) for s in sets]}
    return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()


def _known_pdq(session: Session) -> tuple[np.ndarray, np.ndarray]:
    """Every active set's PDQ hashes as a matrix, with their KnownHash ids, read as the driver's tuples (ten
    million ORM rows took 36 s)."""
    query = (
        select(KnownHash.id, KnownHash.pdq)
        .join(HashSet, KnownHash.hash_set_id == HashSet.id)
        .where(HashSet.status == "active", KnownHash.pdq.is_not(None))
        .order_by(KnownHash.id)
    )
    ids: list[np.ndarray] = []
    parts: list[np.ndarray] = []
    rows = driver_rows(session, query, batch=500_000)
    while block := list(itertools.islice(rows, 500_000)):
        ids.append(np.fromiter((r[0] for r in block), dtype=np.int64, count=len(block)))
        parts.append(pdq_matrix([r[1] for r in block]))
    if not parts:
        return pdq_matrix([]), np.zeros(0, dtype=np.int64)
    return np.concatenate(parts), np.concatenate(ids)


def known_index(session: Session, store: Store, max_distance: int, engine: str) -> KnownIndex:
    """The index of every active set's PDQ hashes: loaded from THREADLINE_HOME, or rebuilt when sets changed."""
    from threadline.media.pdqindex import FaissMultiHash, MultiIndex

    if engine == "multi":
        folder = index_folder(store)
        fingerprint = _fingerprint(session, store, max_distance)
        manifest = MultiIndex.manifest(folder)
        if manifest is not None and manifest.get("fingerprint") == fingerprint:
            return KnownIndex(MultiIndex.load(folder), None, MultiIndex.load_extra(folder, "known_ids"), False)
        matrix, ids = _known_pdq(session)
        index = MultiIndex.build(matrix, max_distance)
        index.save(folder, {"fingerprint": fingerprint}, {"known_ids": ids})
        return KnownIndex(index, None, ids, True)
    matrix, ids = _known_pdq(session)
    if engine == "faiss":
        return KnownIndex(FaissMultiHash(matrix), None, ids, True)
    return KnownIndex(None, matrix, ids, True)


# ---- matching -----------------------------------------------------------------------------------------------


def _in_chunks(values: list[int], size: int = 900) -> Iterator[list[int]]:
    for i in range(0, len(values), size):
        yield values[i : i + size]


def _exact(session: Session, scope: list[ColumnElement[bool]]) -> dict[int, list[Match]]:
    found: dict[int, list[Match]] = defaultdict(list)
    for kind in ("md5", "sha1", "sha256"):
        item_col = getattr(MediaItem, kind)
        known_col = getattr(KnownHash, kind)
        query = (
            select(
                MediaItem.id,
                KnownHash.id,
                HashSet.id,
                HashSet.name,
                HashSet.is_allow,
                KnownHash.category,
                KnownHash.series,
                KnownHash.victim_identified,
                KnownHash.pdq,
            )
            .join(KnownHash, known_col == item_col)
            .join(HashSet, KnownHash.hash_set_id == HashSet.id)
            .where(HashSet.status == "active", item_col.is_not(None), *scope)
        )
        for item_id, kid, sid, name, allow, category, series, victim, pdq in session.execute(query):
            found[item_id].append(Match(kid, sid, name, allow, category, series, victim, pdq, kind, 0))
    return found


def _details(session: Session, known_ids: list[int]) -> dict[int, tuple[Any, ...]]:
    out: dict[int, tuple[Any, ...]] = {}
    for part in _in_chunks(sorted(set(known_ids))):
        query = (
            select(
                KnownHash.id,
                HashSet.id,
                HashSet.name,
                HashSet.is_allow,
                KnownHash.category,
                KnownHash.series,
                KnownHash.victim_identified,
                KnownHash.pdq,
            )
            .join(HashSet, KnownHash.hash_set_id == HashSet.id)
            .where(KnownHash.id.in_(part))
        )
        for row in session.execute(query):
            out[row[0]] = tuple(row[1:])
    return out


def _best(matches: list[Match], allow: bool) -> Match | None:
    chosen = [m for m in matches if m.allow == allow]
    return min(chosen, key=lambda m: (m.distance, m.known_hash_id)) if chosen else None


def _verdict(
    item: Any, exact: list[Match], near: list[Match], max_distance: int, min_quality: int
) -> tuple[str, Match | None, str | None]:
    allow_exact, known_exact = _best(exact, True), _best(exact, False)
    if allow_exact is not None:
        reason = "also matches known material exactly: sets disagree" if known_exact else None
        return "allow-listed", allow_exact, reason
    if known_exact is not None:
        return "known-exact", known_exact, None
    if item.pdq is None:
        reason = item.error or item.pdq_skipped or "no PDQ hash in the hash list"
        return "unhashable", None, reason
    low = item.pdq_quality is not None and item.pdq_quality < min_quality
    weak = f"PDQ quality {item.pdq_quality} < {min_quality}: a weak hash, review the match" if low else None
    allow_near, known_near = _best(near, True), _best(near, False)
    if allow_near is not None and (known_near is None or allow_near.distance <= known_near.distance):
        return "allow-listed", allow_near, weak
    if known_near is not None:
        return "known-near", known_near, weak
    if low:
        return "low-quality", None, f"PDQ quality {item.pdq_quality} < {min_quality}: too weak to call it novel"
    if item.pdq_quality is None:
        return "novel", None, f"no match within distance {max_distance} (quality unknown: from a hash list)"
    return "novel", None, None


def triage(
    store: Store,
    *,
    max_distance: int = DEFAULT_DISTANCE,
    min_quality: int = DEFAULT_QUALITY,
    seizure_id: int | None = None,
    engine: str = "multi",
    actor: str = "system",
) -> TriageReport:
    """Decide and store a `MediaVerdict` for every media item (of one seizure, if given)."""
    if engine not in ENGINES:
        raise InputError(f"unknown engine {engine!r}: use one of {', '.join(ENGINES)}")
    if not 0 <= max_distance <= 64:
        raise InputError(f"distance threshold {max_distance} is outside 0-64 (PDQ's usual threshold is 31)")
    if not 0 <= min_quality <= 100:
        raise InputError(f"quality threshold {min_quality} is outside 0-100")
    if engine == "faiss" and max_distance > 31:
        raise InputError("the FAISS engine is exact only up to distance 31: use --engine multi")
    started = time.monotonic()
    report = TriageReport(max_distance=max_distance, min_quality=min_quality, engine=engine)
    scope: list[ColumnElement[bool]] = [] if seizure_id is None else [MediaItem.seizure_id == seizure_id]
    with store.session() as session:
        items = session.execute(
            select(
                MediaItem.id,
                MediaItem.seizure_id,
                MediaItem.custodian,
                MediaItem.owner_subject_id,
                MediaItem.pdq,
                MediaItem.pdq_quality,
                MediaItem.error,
                MediaItem.pdq_skipped,
            )
            .where(*scope)
            .order_by(MediaItem.id)
        ).all()
        report.items = len(items)
        exact = _exact(session, scope)
        wanted = sorted({it.pdq for it in items if it.pdq and not exact.get(it.id)})
        near_by_pdq: dict[str, list[Match]] = {}
        if wanted:
            index = known_index(session, store, max_distance, engine)
            report.known_pdq, report.index_rebuilt = len(index.known_ids), index.rebuilt
            results = index.search(pdq_matrix(wanted), max_distance)
            matched = np.flatnonzero(np.diff(results.lims) > 0)
            hits = {wanted[q]: results.of(int(q)) for q in matched}
            details = _details(session, [int(index.known_ids[row]) for m in hits.values() for row, _ in m])
            for pdq, matches in hits.items():
                near_by_pdq[pdq] = []
                for row, distance in matches:
                    kid = int(index.known_ids[row])
                    sid, name, allow, category, series, victim, known_pdq = details[kid]
                    near_by_pdq[pdq].append(
                        Match(kid, sid, name, allow, category, series, victim, known_pdq, "pdq", distance)
                    )
        now = utcnow()
        rows: list[dict[str, Any]] = []
        by_seizure: dict[int, Counter[str]] = defaultdict(Counter)
        by_owner: dict[str, Counter[str]] = defaultdict(Counter)
        for it in items:
            verdict, match, reason = _verdict(
                it, exact.get(it.id, []), near_by_pdq.get(it.pdq or "", []), max_distance, min_quality
            )
            rows.append(
                {
                    "media_item_id": it.id,
                    "verdict": verdict,
                    "matched_by": match.matched_by if match else None,
                    "distance": match.distance if match else None,
                    "known_hash_id": match.known_hash_id if match else None,
                    "hash_set_id": match.hash_set_id if match else None,
                    "hashset": match.hashset if match else None,
                    "category": match.category if match else None,
                    "series": match.series if match else None,
                    "victim_identified": match.victim_identified if match else None,
                    "matched_pdq": match.pdq if match and match.matched_by == "pdq" else None,
                    "reason": reason,
                    "max_distance": max_distance,
                    "min_quality": min_quality,
                    "decided_at": now,
                }
            )
            report.verdicts[verdict] = report.verdicts.get(verdict, 0) + 1
            by_seizure[it.seizure_id or 0][verdict] += 1
            owner = f"subject {it.owner_subject_id}" if it.owner_subject_id else (it.custodian or "(no owner)")
            by_owner[owner][verdict] += 1
        session.execute(delete(MediaVerdict).where(MediaVerdict.media_item_id.in_(select(MediaItem.id).where(*scope))))
        _write_verdicts(session, rows)
        report.by_seizure = {k: dict(v) for k, v in by_seizure.items()}
        report.by_owner = {k: dict(v) for k, v in by_owner.items()}
        report.seconds = time.monotonic() - started
        audit.record(
            session,
            actor=actor,
            action="media.triage",
            object_type="seizure" if seizure_id else None,
            object_id=seizure_id,
            details={k: v for k, v in report.to_dict().items() if k not in ("by_owner",)},
        )
    return report


def _write_verdicts(session: Session, rows: list[dict[str, Any]]) -> None:
    """Verdicts as tuples to the driver's executemany: a million through the ORM's bulk insert took 24 s."""
    if not rows:
        return
    columns = tuple(rows[0])
    at = columns.index("decided_at")
    stamp = bound(session, MediaVerdict.__table__.c.decided_at, rows[0]["decided_at"])
    for start in range(0, len(rows), 50_000):
        batch = [tuple(row.values()) for row in rows[start : start + 50_000]]
        insert_tuples(session, MediaVerdict.__tablename__, columns, [(*r[:at], stamp, *r[at + 1 :]) for r in batch])


# ---- export -------------------------------------------------------------------------------------------------

EXPORT_COLUMNS = (
    "path",
    "size",
    "md5",
    "sha1",
    "sha256",
    "pdq",
    "quality",
    "verdict",
    "distance",
    "hashset",
    "category",
    "owner_subject_id",
)


def media_rows(session: Session) -> Iterator[dict[str, Any]]:
    """One row per media item with its latest verdict: the `export media` contract."""
    query = (
        select(MediaItem, MediaVerdict)
        .outerjoin(MediaVerdict, MediaVerdict.media_item_id == MediaItem.id)
        .order_by(MediaItem.seizure_id, MediaItem.path, MediaItem.id)
        .execution_options(yield_per=5000)
    )
    for item, verdict in session.execute(query):
        yield {
            "path": item.path,
            "size": item.size,
            "md5": item.md5,
            "sha1": item.sha1,
            "sha256": item.sha256,
            "pdq": item.pdq,
            "quality": item.pdq_quality,
            "verdict": verdict.verdict if verdict else None,
            "distance": verdict.distance if verdict else None,
            "hashset": verdict.hashset if verdict else None,
            "category": verdict.category if verdict else None,
            "owner_subject_id": item.owner_subject_id,
        }
