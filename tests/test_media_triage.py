"""`triage`: verdicts against known sets, the rules between them, the kept index, and the synthetic ground truth."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import select

from threadline.core.db import Store
from threadline.core.errors import InputError
from threadline.ingest.pipeline import ingest
from threadline.media import import_hashes, media_rows, remove_set, scan, triage
from threadline.model import AuditEvent, MediaItem, MediaVerdict, Operation, Seizure
from threadline.synth import generate

rng = np.random.default_rng(0)
KNOWN = [bytes(rng.integers(0, 256, 32, dtype=np.uint8)).hex() for _ in range(4)]
BENIGN = bytes(rng.integers(0, 256, 32, dtype=np.uint8)).hex()


def _flip(hex_hash: str, bits: int) -> str:
    return f"{int(hex_hash, 16) ^ ((1 << bits) - 1):064x}"


def _items(store: Store, rows: list[dict[str, object]]) -> None:
    with store.session() as session:
        op = Operation(name="T")
        session.add(op)
        session.flush()
        seizure = Seizure(operation_id=op.id, label="s", source_path="/evidence")
        session.add(seizure)
        session.flush()
        for row in rows:
            session.add(MediaItem(seizure_id=seizure.id, origin="list", **row))


def _verdicts(store: Store) -> dict[str, MediaVerdict]:
    with store.session() as session:
        return {
            item.path: verdict
            for item, verdict in session.execute(
                select(MediaItem, MediaVerdict).join(MediaVerdict, MediaVerdict.media_item_id == MediaItem.id)
            )
        }


@pytest.fixture
def known_sets(tmp_path: Path) -> tuple[Path, Path, Path]:
    vics = tmp_path / "vics.csv"
    vics.write_text(
        f"md5,pdq,category,series,victim_identified\n{'1' * 32},{KNOWN[0]},1,S-1,yes\n{'2' * 32},{KNOWN[1]},2,,no\n",
        encoding="utf-8",
    )
    pdq = tmp_path / "pdq.txt"
    pdq.write_text(f"{KNOWN[2]},90\n{KNOWN[3]},90\n", encoding="utf-8")
    allow = tmp_path / "allow.csv"
    allow.write_text(f"md5,pdq\n{'a' * 32},{BENIGN}\n{'b' * 32},{_flip(KNOWN[3], 4)}\n", encoding="utf-8")
    return vics, pdq, allow


def test_every_verdict_and_the_rules_between_them(store: Store, known_sets: tuple[Path, Path, Path]) -> None:
    vics, pdq, allow = known_sets
    import_hashes(store, vics, name="vics")
    import_hashes(store, pdq, name="pdq")
    import_hashes(store, allow, name="benign", allow=True)
    _items(
        store,
        [
            {"path": "exact.jpg", "md5": "1" * 32, "pdq": _flip(KNOWN[1], 3), "pdq_quality": 90, "custodian": "u1"},
            {"path": "near.jpg", "md5": "c" * 32, "pdq": _flip(KNOWN[2], 20), "pdq_quality": 90, "custodian": "u1"},
            {"path": "far.jpg", "md5": "d" * 32, "pdq": _flip(KNOWN[2], 40), "pdq_quality": 90, "custodian": "u2"},
            {"path": "weak.jpg", "md5": "e" * 32, "pdq": _flip(BENIGN, 128), "pdq_quality": 20},
            {"path": "weak-near.jpg", "pdq": _flip(KNOWN[0], 6), "pdq_quality": 20},
            {"path": "clip.mp4", "md5": "f" * 32, "pdq_skipped": "video: not perceptually hashed"},
            {"path": "allowed.jpg", "md5": "a" * 32, "pdq": KNOWN[2], "pdq_quality": 90},
            {"path": "allow-near.jpg", "pdq": _flip(KNOWN[3], 5), "pdq_quality": 90},
            {"path": "listed.jpg", "pdq": _flip(KNOWN[2], 31)},
        ],
    )
    report = triage(store)
    v = _verdicts(store)
    assert (v["exact.jpg"].verdict, v["exact.jpg"].matched_by, v["exact.jpg"].hashset) == ("known-exact", "md5", "vics")
    assert (v["exact.jpg"].category, v["exact.jpg"].series, v["exact.jpg"].victim_identified) == ("1", "S-1", True)
    assert (v["near.jpg"].verdict, v["near.jpg"].distance, v["near.jpg"].matched_pdq) == ("known-near", 20, KNOWN[2])
    assert v["far.jpg"].verdict == "novel"
    assert v["weak.jpg"].verdict == "low-quality"
    assert v["weak-near.jpg"].verdict == "known-near" and "weak hash" in (v["weak-near.jpg"].reason or "")
    assert v["clip.mp4"].verdict == "unhashable" and "video" in (v["clip.mp4"].reason or "")
    assert (v["allowed.jpg"].verdict, v["allowed.jpg"].hashset) == ("allow-listed", "benign")
    # 1 bit from the allow entry, 5 from the known one: the benign file is the closer explanation.
    assert (v["allow-near.jpg"].verdict, v["allow-near.jpg"].distance) == ("allow-listed", 1)
    assert (v["listed.jpg"].verdict, v["listed.jpg"].distance) == ("known-near", 31)
    assert report.verdicts == {
        "known-exact": 1,
        "known-near": 3,
        "novel": 1,
        "low-quality": 1,
        "unhashable": 1,
        "allow-listed": 2,
    }
    assert report.by_owner["u1"] == {"known-exact": 1, "known-near": 1}
    assert report.by_owner["u2"] == {"novel": 1}

    # Thresholds are settings: at distance 19 the 20-bit and 31-bit copies are novel; quality 10 lifts "weak".
    triage(store, max_distance=19, min_quality=10)
    v = _verdicts(store)
    assert v["near.jpg"].verdict == "novel" and v["listed.jpg"].verdict == "novel"
    assert v["weak.jpg"].verdict == "novel"
    assert (v["near.jpg"].max_distance, v["near.jpg"].min_quality) == (19, 10)
    with store.session() as session:
        assert len(session.scalars(select(MediaVerdict)).all()) == 9  # replaced, not added
        assert session.scalars(select(AuditEvent.action).order_by(AuditEvent.seq.desc())).first() == "media.triage"

    # Removing a set retires its matches on the next run; the verdicts of this run keep the set's name.
    remove_set(store, "pdq")
    triage(store)
    v = _verdicts(store)
    assert v["near.jpg"].verdict == "novel"
    assert v["allow-near.jpg"].verdict == "allow-listed"
    with store.session() as session:
        rows = list(media_rows(session))
    assert list(rows[0]) == [
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
    ]


def test_engines_agree_and_the_index_is_kept_until_sets_change(store: Store, tmp_path: Path) -> None:
    local = np.random.default_rng(1)
    known = [bytes(local.integers(0, 256, 32, dtype=np.uint8)).hex() for _ in range(300)]
    (tmp_path / "k.txt").write_text("".join(f"{h}\n" for h in known), encoding="utf-8")
    import_hashes(store, tmp_path / "k.txt")
    _items(
        store,
        [{"path": f"{i}.jpg", "pdq": _flip(known[i], i % 40), "pdq_quality": 90} for i in range(60)],
    )
    first = triage(store)
    assert first.index_rebuilt and first.known_pdq == 300
    baseline = {p: (v.verdict, v.distance) for p, v in _verdicts(store).items()}
    assert triage(store).index_rebuilt is False
    for engine in ("faiss", "brute"):
        triage(store, engine=engine)
        assert {p: (v.verdict, v.distance) for p, v in _verdicts(store).items()} == baseline
    assert sum(1 for v, _ in baseline.values() if v == "known-near") == sum(1 for i in range(60) if i % 40 <= 31)
    (tmp_path / "more.txt").write_text(f"{known[0]}\n", encoding="utf-8")
    import_hashes(store, tmp_path / "more.txt")
    assert triage(store).index_rebuilt
    with pytest.raises(InputError):
        triage(store, engine="faiss", max_distance=40)


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("synth") / "out"
    generate(out, 60, seed=5, media=40)
    return out


def test_scan_import_and_triage_reproduce_the_synthetic_ground_truth(store: Store, synthetic: Path) -> None:
    ingest(store, synthetic / "seizure", operation="Synth")
    scanned = scan(store, synthetic / "seizure" / "media", workers=2)
    assert scanned.failed == 0 and scanned.list_mismatches == []
    import_hashes(store, synthetic / "known" / "vics.json")
    import_hashes(store, synthetic / "known" / "pdq.txt")
    report = triage(store)
    with (synthetic / "truth" / "media.csv").open(encoding="utf-8") as fh:
        truth = {row["path"]: row for row in csv.DictReader(fh)}
    with store.session() as session:
        rows = list(media_rows(session))
        origins = {(i.path, i.origin) for i in session.scalars(select(MediaItem))}
    assert len(rows) == 2 * len(truth) and len(origins) == 2 * len(truth)  # the hash list's rows and the files
    for row in rows:
        status = truth[row["path"]]["status"]
        if status == "novel" and row["quality"] is not None and row["quality"] < 50:
            assert row["verdict"] == "low-quality", row
        else:
            assert row["verdict"] == status, row
        if status == "known-near":
            assert row["distance"] == int(truth[row["path"]]["pdq_distance"]) <= 31
    owners = {truth[p]["uploader_person_id"] for p in truth if truth[p]["uploader_person_id"]}
    assert len(report.by_owner) >= len(owners)
