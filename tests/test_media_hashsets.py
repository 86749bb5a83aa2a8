"""Known-hash sets: VICS 1.2/1.3/2.0, CSV and PDQ lists; bad hashes quarantined; versions; removal; allow sets."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select, text

from threadline.core.db import Store
from threadline.core.errors import InputError, NotFoundError
from threadline.media import hashsets, import_hashes, list_sets, remove_set
from threadline.media.hashsets import (
    Entry,
    PdqBlock,
    _pdq_lines,
    clean_hash,
    parse_pdq_list,
    pdq_blocks,
    quarantined,
    sniff_format,
)
from threadline.model import AuditEvent, HashSet, KnownHash

MD5 = "0123456789abcdef0123456789abcdef"
SHA1 = "0123456789abcdef0123456789abcdef01234567"
PDQ = "f8f8f0cce0f4e84d0e370a22028f67f0b36e2ed596623e1d33e6339c4e9c9b22"


def _vics(version: str, entries: list[dict[str, object]]) -> str:
    key = "@odata.context" if version == "2.0" else "odata.metadata"
    meta = f"http://github.com/VICSDATAMODEL/ProjectVic/DataModels/{version}.xml/CUSTOM/$metadata#Media"
    return json.dumps({key: meta, "value": entries}, indent=1)


@pytest.mark.parametrize("version", ["1.2", "1.3", "2.0"])
def test_vics_entries_become_known_hashes_with_their_labels(store: Store, tmp_path: Path, version: str) -> None:
    path = tmp_path / "vics.json"
    path.write_text(
        _vics(
            version,
            [
                {
                    "MediaID": 17,
                    "MD5": MD5.upper(),
                    "SHA1": SHA1.upper(),
                    "Category": 1,
                    "Series": "Series-0042",
                    "VictimIdentified": True,
                    "OffenderIdentified": False,
                    "PhotoDNA": "QUJD" * 36,
                    "MediaFiles": [
                        {"FileName": "a.jpg", "MD5": MD5, "SHA1": SHA1},
                        {"FileName": "b.png", "MD5": "f" * 32},
                    ],
                },
                {"MediaID": 18, "MD5": "not-a-hash", "Category": 2},
                {"MediaID": 19, "Category": 0},
            ],
        ),
        encoding="utf-8",
    )
    report = import_hashes(store, path, name="vic")
    assert (report.format, report.vics_version) == ("vics", version)
    assert (report.entries, report.hashes, report.quarantined) == (1, 2, 2)
    with store.session() as session:
        rows = list(session.scalars(select(KnownHash).order_by(KnownHash.id)))
        assert [r.md5 for r in rows] == [MD5, "f" * 32]
        first = rows[0]
        assert (first.media_id, first.category, first.series) == ("17", "1", "Series-0042")
        assert first.victim_identified is True and first.offender_identified is False
        assert first.photodna == "QUJD" * 36
        assert first.details is not None and first.details["file_names"] == ["a.jpg", "b.png"]
        lines = [(q["line"], q["reason"]) for q in quarantined(session, "vic")]
    assert lines[0][0] == 2 and "md5" in lines[0][1]
    assert lines[1][0] == 3 and "no MD5" in lines[1][1]


def test_csv_with_hash_columns_and_a_bad_row_quarantined_by_line(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "known.csv"
    path.write_text(
        "MD5;SHA-256;PDQ;Quality;Category\n"
        f"{MD5};{'a' * 64};{PDQ};90;CAT1\n"
        f"{MD5[:-1]}x;;;;\n"
        f";;{PDQ};101;\n"
        ";;;;\n"
        f"{'b' * 32};;;;\n",
        encoding="utf-8",
    )
    report = import_hashes(store, path, category="default-cat")
    assert (report.name, report.format, report.hashes, report.quarantined) == ("known", "csv", 2, 2)
    assert [(r.line, r.reason.split()[0]) for r in report.rejected] == [(3, "md5"), (4, "PDQ")]
    with store.session() as session:
        cats = session.scalars(select(KnownHash.category).order_by(KnownHash.id)).all()
        assert cats == ["CAT1", "default-cat"]


def test_a_csv_without_any_hash_column_is_a_one_line_error_naming_the_file(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "names.csv"
    path.write_text("name,size\nx,1\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"names\.csv:1: no hash column"):
        import_hashes(store, path, fmt="csv")


def test_truncated_vics_imports_nothing(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "cut.json"
    path.write_text(_vics("1.3", [{"MD5": MD5}, {"MD5": "f" * 32}])[:-40], encoding="utf-8")
    with pytest.raises(InputError, match="not valid VICS JSON"):
        import_hashes(store, path)
    with store.session() as session:
        assert session.scalar(select(func.count()).select_from(KnownHash)) == 0
        assert session.scalar(select(func.count()).select_from(HashSet)) == 0


def test_pdq_list_reimport_is_idempotent_and_a_changed_file_is_a_new_version(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "pdq.txt"
    path.write_text(f"{PDQ},95\n# comment\n\n{'0' * 64}\nzz{PDQ[2:]}\n{PDQ},500\n", encoding="utf-8")
    first = import_hashes(store, path, name="tx")
    assert (first.format, first.version, first.hashes, first.quarantined) == ("pdq-list", 1, 2, 2)
    assert [r.line for r in first.rejected] == [5, 6]
    again = import_hashes(store, path, name="tx")
    assert again.unchanged and again.version == 1
    path.write_text(f"{PDQ},95\n", encoding="utf-8")
    second = import_hashes(store, path, name="tx")
    assert (second.version, second.superseded_version, second.hashes) == (2, 1, 1)
    with store.session() as session:
        assert session.scalar(select(func.count()).select_from(KnownHash)) == 1
        sets = list_sets(session, include_retired=True)
        assert [(s["version"], s["status"]) for s in sets] == [(1, "superseded"), (2, "active")]
        assert [s["version"] for s in list_sets(session)] == [2]
        actions = session.scalars(select(AuditEvent.action).where(AuditEvent.action.like("hashes.%"))).all()
    assert actions == ["hashes.import", "hashes.import"]


def test_remove_drops_the_hashes_keeps_the_record_and_audits(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "benign.txt"
    path.write_text(f"{PDQ}\n", encoding="utf-8")
    assert import_hashes(store, path, allow=True).allow
    report = remove_set(store, "benign")
    assert report.hashes == 1
    with store.session() as session:
        assert session.scalar(select(func.count()).select_from(KnownHash)) == 0
        assert list_sets(session) == []
        assert list_sets(session, include_retired=True)[0]["status"] == "removed"
        assert session.scalars(select(AuditEvent.action).order_by(AuditEvent.seq.desc())).first() == "hashes.remove"
    with pytest.raises(NotFoundError):
        remove_set(store, "benign")
    # After removal the same file imports again, as a new version.
    assert import_hashes(store, path, allow=True).version == 2


def test_formats_are_sniffed(tmp_path: Path) -> None:
    (tmp_path / "a.json").write_text("{}", encoding="utf-8")
    (tmp_path / "b.txt").write_text(f"{PDQ},80\n", encoding="utf-8")
    (tmp_path / "c.txt").write_text("md5\n" + MD5 + "\n", encoding="utf-8")
    assert [sniff_format(tmp_path / n) for n in ("a.json", "b.txt", "c.txt")] == ["vics", "pdq-list", "csv"]


@given(st.text(max_size=80))
def test_clean_hash_never_accepts_anything_but_hex_of_the_right_length(text: str) -> None:
    for kind, length in (("md5", 32), ("sha1", 40), ("sha256", 64), ("pdq", 64)):
        value, problem = clean_hash(kind, text)
        if value is not None:
            assert len(value) == length and set(value) <= set("0123456789abcdef") and problem is None


@given(st.lists(st.text(alphabet="0123456789abcdefxyz,# \n", max_size=80), max_size=20))
def test_pdq_list_parser_never_raises_and_every_line_is_accounted_for(lines: list[str]) -> None:
    text = "\n".join(lines)
    out = list(parse_pdq_list(io.StringIO(text)))
    content = [i for i, ln in enumerate(text.split("\n"), 1) if ln.strip() and not ln.strip().startswith("#")]
    assert [o.line for o in out] == content


# ---- the block reader of PDQ lists (ten million lines without a Python object per line) ---------------------

_GOOD = st.builds(
    lambda digits, quality: digits + ("" if quality is None else f",{quality}"),
    st.text(alphabet="0123456789abcdef", min_size=64, max_size=64),
    st.one_of(st.none(), st.integers(0, 100).map(str), st.sampled_from(["007", "000", "100", "099"])),
)
_ODD = st.one_of(
    st.text(alphabet="0123456789abcdefABCDEFxX,# \t\r", max_size=80),
    _GOOD.map(str.upper),
    _GOOD.map(lambda line: "0x" + line),
    _GOOD.map(lambda line: f" {line} "),
    _GOOD.map(lambda line: line.split(",")[0] + ",101"),
    _GOOD.map(lambda line: line.split(",")[0] + ",0100"),
    _GOOD.map(lambda line: line + ",5"),
    _GOOD.map(lambda line: line[:63]),
    st.just("# a comment"),
    st.just(""),
)


def _as_file(text: str) -> io.TextIOWrapper:
    """The text as `import_hashes` opens a file: its own line reader, \\n, \\r\\n or \\r ending a line."""
    return io.TextIOWrapper(io.BytesIO(text.encode("utf-8")), encoding="utf-8-sig", errors="replace", newline="")


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.one_of(_GOOD, _GOOD, _GOOD, _ODD), max_size=40),
    st.lists(st.sampled_from(["\n", "\r\n", "\r"]), min_size=1, max_size=3),
    st.booleans(),
    st.integers(1, 2000),
    st.integers(1, 8),
)
def test_the_block_reader_reads_exactly_what_the_line_by_line_reader_reads(
    lines: list[str], endings: list[str], final_newline: bool, block_chars: int, sub_block: int
) -> None:
    text = "".join(line + endings[i % len(endings)] for i, line in enumerate(lines))
    if not final_newline and text:
        text = text[: -len(endings[(len(lines) - 1) % len(endings)])]
    slow = list(_pdq_lines(_as_file(text)))
    blocks = list(pdq_blocks(_as_file(text), block_chars=block_chars, sub_block=sub_block))
    expanded = [entry for b in blocks for entry in (b.entries() if isinstance(b, PdqBlock) else [b])]
    assert expanded == slow
    assert list(parse_pdq_list(_as_file(text))) == slow


def test_a_clean_list_is_read_in_blocks_and_a_bad_line_costs_only_its_piece() -> None:
    good = [f"{i:064x},{i % 101}" for i in range(1000)]
    text = "\n".join([*good[:500], "not a hash", *good[500:]]) + "\n"
    items = list(pdq_blocks(_as_file(text), block_chars=1 << 20, sub_block=100))
    assert [type(i).__name__ for i in items].count("Rejected") == 1
    assert sum(len(i.hashes) for i in items if isinstance(i, PdqBlock)) == 901
    assert sum(isinstance(i, Entry) for i in items) == 99  # the rest of the bad line's piece, one by one
    assert all(isinstance(i, PdqBlock) for i in pdq_blocks(_as_file("\n".join(good)), block_chars=4096))


def test_a_pdq_list_read_in_blocks_stores_every_line_as_the_line_reader_would(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(hashsets, "BLOCK_CHARS", 700)  # about ten lines a block
    monkeypatch.setattr(hashsets, "SUB_BLOCK", 3)
    good = [f"{i * 7919:064x}" + ("" if i % 50 == 0 else f",{i % 101:03d}") for i in range(400)]
    lines = [*good[:100], "# header", "", f"{PDQ.upper()},90", "zz", f"{PDQ},101", *good[100:]]
    path = tmp_path / "tx.pdq"
    path.write_bytes("\r\n".join(lines).encode("utf-8"))
    report = import_hashes(store, path, name="tx", category="tab\there \\ back")
    expected = [e for e in _pdq_lines(_as_file("\n".join(lines))) if isinstance(e, Entry)]
    assert (report.hashes, report.entries, report.quarantined) == (len(expected), len(expected), 2)
    with store.session() as session:
        stored = session.execute(
            select(KnownHash.line, KnownHash.pdq, KnownHash.pdq_quality, KnownHash.category, KnownHash.md5).order_by(
                KnownHash.id
            )
        ).all()
        assert [tuple(r) for r in stored] == [
            (e.line, e.pdq, e.pdq_quality, "tab\there \\ back", None) for e in expected
        ]
        assert [(q["line"], q["reason"][:6]) for q in quarantined(session, "tx")] == [(104, "pdq 'z"), (105, "PDQ qu")]


def test_a_crash_in_the_middle_of_a_pdq_list_leaves_the_previous_version_as_it_was(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "tx.pdq"
    path.write_text(f"{PDQ},95\n", encoding="utf-8")
    import_hashes(store, path, name="tx")
    path.write_text("".join(f"{i:064x},50\n" for i in range(3000)), encoding="utf-8")
    monkeypatch.setattr(hashsets, "BLOCK_CHARS", 10_000)
    written = 0
    real = hashsets._Writer.pdq_block

    def crash_on_the_third(self: object, *args: object) -> None:
        nonlocal written
        written += 1
        if written == 3:
            raise OSError("disk gone")
        real(self, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(hashsets._Writer, "pdq_block", crash_on_the_third)
    with pytest.raises(OSError, match="disk gone"):
        import_hashes(store, path, name="tx")
    with store.session() as session:
        assert session.execute(select(KnownHash.line, KnownHash.pdq)).all() == [(1, PDQ)]
        assert [(s["version"], s["status"]) for s in list_sets(session, include_retired=True)] == [(1, "active")]


def test_exact_matching_uses_the_partial_hash_indexes(store: Store) -> None:
    with store.session() as session:
        for kind in ("md5", "sha1", "sha256"):
            sql = (
                f"SELECT k.id FROM media_item m JOIN known_hash k ON k.{kind} = m.{kind} "
                f"WHERE m.{kind} IS NOT NULL AND m.seizure_id = 1"
            )
            if session.get_bind().dialect.name == "sqlite":
                plan = " ".join(str(r[-1]) for r in session.execute(text(f"EXPLAIN QUERY PLAN {sql}")))
            else:
                session.execute(text("SET LOCAL enable_seqscan = off"))
                plan = " ".join(str(r[0]) for r in session.execute(text(f"EXPLAIN {sql}")))
            assert f"ix_known_hash_{kind}" in plan, plan
