"""`media scan`: every file hashed once into MediaItem, bad input recorded with its reason, reruns resume."""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from sqlalchemy import select

from threadline.core.db import Store
from threadline.core.errors import InputError
from threadline.media import hashing, scan
from threadline.media.scan import walk
from threadline.model import AuditEvent, MediaItem, Seizure


def _jpeg(seed: int, size: tuple[int, int] = (160, 120)) -> bytes:
    rng = np.random.default_rng(seed)
    img = Image.fromarray(rng.integers(0, 256, (6, 8, 3), dtype=np.uint8)).resize(size, Image.Resampling.BICUBIC)
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=90)
    return buf.getvalue()


def _items(store: Store) -> dict[str, MediaItem]:
    with store.session() as session:
        return {m.path: m for m in session.scalars(select(MediaItem).where(MediaItem.origin == "scan"))}


@pytest.fixture
def evidence(tmp_path: Path) -> Path:
    root = tmp_path / "seizure"
    media = root / "media"
    (media / "sub").mkdir(parents=True)
    for i in range(3):
        (media / f"img{i}.jpg").write_bytes(_jpeg(i))
    (media / "sub" / "clip.mp4").write_bytes(b"\x00\x00\x00\x18ftypisom" + b"\x01" * 5000)
    (media / "sub" / "empty.jpg").write_bytes(b"")
    (media / "sub" / "cut.jpg").write_bytes(_jpeg(9)[:700])
    (media / "loop-a").symlink_to(media / "loop-b")
    (media / "loop-b").symlink_to(media / "loop-a")
    (media / "link.jpg").symlink_to(media / "img0.jpg")
    return root


def test_scan_hashes_every_file_and_records_every_problem(store: Store, evidence: Path) -> None:
    report = scan(store, evidence / "media", owner="alice", device="PHONE-1", workers=1)
    assert report.files_seen == 9
    assert report.hashed == 6 and report.perceptual == 3 and report.failed == 3
    items = _items(store)
    assert set(items) == {
        "img0.jpg",
        "img1.jpg",
        "img2.jpg",
        "sub/clip.mp4",
        "sub/empty.jpg",
        "sub/cut.jpg",
        "loop-a",
        "loop-b",
        "link.jpg",
    }
    img = items["img0.jpg"]
    assert img.kind == "image" and img.pdq and img.pdq_quality is not None and img.sha256 and img.md5 and img.sha1
    assert (img.custodian, img.device) == ("alice", "PHONE-1")
    assert "video" in (items["sub/clip.mp4"].pdq_skipped or "")
    assert "empty" in (items["sub/empty.jpg"].pdq_skipped or "")
    assert "truncated" in (items["sub/cut.jpg"].pdq_skipped or "")
    assert items["sub/cut.jpg"].sha256 is not None
    assert "loop" in (items["loop-a"].error or "")
    assert "not followed" in (items["link.jpg"].error or "")
    with store.session() as session:
        seizure = session.scalars(select(Seizure)).one()
        assert seizure.source_path == str((evidence / "media").resolve())
        actions = session.scalars(select(AuditEvent.action).order_by(AuditEvent.seq)).all()
    assert actions == ["media.scan.start", "media.scan.finish"]


def test_a_rescan_skips_what_is_unchanged_and_rehashes_what_changed(store: Store, evidence: Path) -> None:
    scan(store, evidence / "media", workers=1)
    before = _items(store)
    (evidence / "media" / "img1.jpg").write_bytes(_jpeg(42))
    report = scan(store, evidence / "media", workers=1)
    assert report.hashed == 1 and report.skipped_unchanged == 8
    after = _items(store)
    assert len(after) == len(before)
    assert after["img1.jpg"].id == before["img1.jpg"].id
    assert after["img1.jpg"].sha256 != before["img1.jpg"].sha256


def test_scanning_inside_an_ingested_seizure_uses_its_paths_and_the_lists_owner(store: Store, evidence: Path) -> None:
    with store.session() as session:
        from threadline.model import Operation

        op = Operation(name="Op")
        session.add(op)
        session.flush()
        seizure = Seizure(operation_id=op.id, label="s", source_path=str(evidence.resolve()))
        session.add(seizure)
        session.flush()
        session.add(
            MediaItem(
                seizure_id=seizure.id,
                path="media/img2.jpg",
                md5="0" * 32,
                custodian="bob",
                device="NAS",
                origin="list",
            )
        )
    report = scan(store, evidence / "media", workers=1)
    assert report.seizure_id == seizure.id
    assert report.list_mismatches == ["media/img2.jpg"]  # the list's MD5 is not the file's
    item = _items(store)["media/img2.jpg"]
    assert (item.custodian, item.device) == ("bob", "NAS")


def test_files_vanishing_or_unreadable_mid_scan_are_recorded_and_the_scan_goes_on(
    store: Store, evidence: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_hash, real_open = hashing.hash_file, hashing._open

    def vanishing(path: str, draft: int | None = None) -> hashing.FileHashes:
        if path.endswith("img1.jpg"):
            os.remove(path)
        return real_hash(path, draft)

    def unreadable(path: str) -> io.BufferedReader:
        if path.endswith("img2.jpg"):
            raise PermissionError(13, "Permission denied")
        return real_open(path)

    monkeypatch.setattr(hashing, "hash_file", vanishing)
    monkeypatch.setattr(hashing, "_open", unreadable)
    report = scan(store, evidence / "media", workers=1)
    items = _items(store)
    assert "vanished" in (items["img1.jpg"].error or "")
    assert "permission denied" in (items["img2.jpg"].error or "")
    assert items["img0.jpg"].pdq is not None
    assert report.failed == 5


def test_parallel_workers_give_the_same_hashes(store: Store, tmp_path: Path) -> None:
    folder = tmp_path / "many"
    folder.mkdir()
    for i in range(12):
        (folder / f"f{i:02}.jpg").write_bytes(_jpeg(i))
    report = scan(store, folder, workers=2)
    assert report.hashed == 12
    for path, item in _items(store).items():
        alone = hashing.hash_file(str(folder / path))
        assert (item.sha256, item.pdq) == (alone.sha256, alone.pdq)


def test_scanning_a_missing_folder_is_a_user_error(store: Store, tmp_path: Path) -> None:
    with pytest.raises(InputError, match="is not a folder"):
        scan(store, tmp_path / "nowhere")


def test_walk_is_stable_and_never_follows_links(tmp_path: Path) -> None:
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "x").write_bytes(b"1")
    (tmp_path / "a").write_bytes(b"2")
    (tmp_path / "c").symlink_to(tmp_path / "b")
    found = list(walk(tmp_path, tmp_path))
    assert [f.rel for f in found] == ["a", "c", "b/x"]
    assert found[1].problem is not None and "not followed" in found[1].problem
