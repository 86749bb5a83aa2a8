"""Ingest end to end on a seizure built by hand in every format, on both databases."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest
from sqlalchemy import func, select

from seizure_builder import build_seizure
from threadline.core import audit
from threadline.core.db import Store
from threadline.core.errors import InputError
from threadline.ingest.pipeline import IngestReport, ingest
from threadline.model import Identifier, MediaItem, QuarantinedRow, Seizure, SourceFile, SourceRecord


def _by_path(report: IngestReport) -> dict[str, object]:
    return {f.path: f for f in report.files}


def _run(store: Store, folder: Path, **kwargs: object) -> IngestReport:
    return ingest(store, folder, actor="test", **kwargs)  # type: ignore[arg-type]


@pytest.fixture
def seizure(tmp_path: Path) -> Path:
    return build_seizure(tmp_path / "seizure")


def test_every_format_is_read_with_provenance(store: Store, seizure: Path) -> None:
    report = _run(store, seizure)
    files = {f.path: f for f in report.files}
    assert files["customers.csv"].format == "delimited" and files["customers.csv"].delimiter == ","
    assert (files["customers.csv"].records, files["customers.csv"].quarantined) == (4, 1)
    assert files["kunden_de.csv"].delimiter == ";" and files["kunden_de.csv"].records == 2
    assert files["kunden_de.csv"].encoding in ("cp1252", "cp1250", "latin_1", "iso8859-15", "iso8859_15")
    assert files["клиенты.tsv"].delimiter == "\t" and files["клиенты.tsv"].encoding in ("koi8-r", "koi8_r")
    assert files["contacts.vcf"].format == "vcard"
    assert (files["contacts.vcf"].records, files["contacts.vcf"].quarantined) == (2, 1)
    assert files["mail.mbox"].format == "mbox" and files["mail.mbox"].rows == 2
    assert files["mail.mbox"].by_type == {"message": 2, "contact": 5}
    assert files["payment.eml"].format == "eml" and files["payment.eml"].by_type["message"] == 1
    assert (files["payments.jsonl"].records, files["payments.jsonl"].quarantined) == (2, 1)
    assert (files["accounts.json"].records, files["accounts.json"].quarantined) == (2, 1)
    assert files["orders.xlsx"].format == "xlsx" and files["orders.xlsx"].records == 3
    assert files["backup.zip!backup/old_customers.csv"].records == 1
    assert (files["media_hashes.csv"].media_items, files["media_hashes.csv"].quarantined) == (2, 1)
    for f in report.files:
        assert f.status == "ingested", f
    with store.session() as session:
        for source in session.scalars(select(SourceFile)):
            quarantined = session.scalar(
                select(func.count()).select_from(QuarantinedRow).where(QuarantinedRow.source_file_id == source.id)
            )
            locators = session.scalars(
                select(SourceRecord.locator).where(SourceRecord.source_file_id == source.id)
            ).all()
            # Participants of a message ("message 3 recipient 1") are extra records of the same unit.
            units = sum(1 for locator in locators if len(locator.split()) <= 2)
            media = (
                session.scalar(select(func.count()).select_from(MediaItem).where(MediaItem.source_file_id == source.id))
                or 0
            )
            assert source.rows_read == units + media + quarantined, source.path
            assert len(source.sha256) == 64 and source.status == "done"
        assert audit.verify(session).ok


def test_fields_are_normalised_beside_verbatim_values(store: Store, seizure: Path) -> None:
    _run(store, seizure)
    with store.session() as session:
        anna = session.scalars(select(SourceRecord).where(SourceRecord.record_key == "C1")).one()
        assert anna.raw["email"] == "Anna.Example+shop@googlemail.com"  # verbatim kept
        assert anna.fields["email_canonical"] == ["annaexample@gmail.com"]
        assert anna.fields["phone"] == ["+442079460018"]
        assert anna.fields["country"] == "GB"
        assert anna.fields["date_of_birth"] == "1981-03-14"
        assert anna.source_file.path == "customers.csv" and anna.row == 2
        bob = session.scalars(select(SourceRecord).where(SourceRecord.record_key == "C2")).one()
        assert bob.raw["street"] == "2 Low Rd\nFlat 3" and bob.row == 3
        assert bob.fields["phone"] == ["+442079460019"]  # national number read with the record's country
        juergen = session.scalars(select(SourceRecord).where(SourceRecord.record_key == "K1")).one()
        assert juergen.fields["given_name"] == "Jürgen" and juergen.fields["country"] == "DE"
        assert juergen.fields["phone"] == ["+49301234567"] and juergen.fields["date_of_birth"] == "1975-03-03"
        yuri = session.scalars(select(SourceRecord).join(SourceFile).where(SourceFile.path == "клиенты.tsv")).one()
        assert yuri.fields["family_name"] == "Иванов" and yuri.fields["family_name_key"] == "ivanov"
        emails = set(session.scalars(select(Identifier.value).where(Identifier.kind == "email")))
        assert {"annaexample@gmail.com", "help@example.invalid", "zed@example.com"} <= emails
        private = session.scalars(select(SourceRecord).where(SourceRecord.record_key == "P2")).one()
        assert "private" in private.fields["ip_flags"]["192.168.1.20"]
        assert private.fields["amount"] == "1234.50" and private.fields["currency"] == "USD"


def test_messages_keep_hashes_not_bodies(store: Store, seizure: Path) -> None:
    _run(store, seizure)
    with store.session() as session:
        message = session.scalars(
            select(SourceRecord).where(SourceRecord.record_type == "message", SourceRecord.locator == "message 1")
        ).first()
        assert message is not None
        assert len(message.fields["body_sha256"]) == 64 and message.fields["body_length"] > 0
        assert "Questions" not in str(message.fields) and "Questions" not in str(message.raw)
        assert message.fields["body_phones"] == ["+442079460000"]
        assert message.fields["sender"] == ["shop@example.invalid"]
        contact = session.scalars(select(SourceRecord).where(SourceRecord.locator == "message 1 cc 1")).one()
        assert contact.fields["full_name"] == "Bob Sample" and contact.record_type == "contact"
        dana = session.scalars(select(SourceRecord).where(SourceRecord.locator == "message 1 sender 1")).all()
        assert "Dána Démo" in [d.fields.get("full_name") for d in dana]  # RFC 2047 display name decoded
        payment = session.scalars(select(SourceRecord).where(SourceRecord.record_key == "P1")).one()
        assert payment.fields["full_name"] == "Anna Example"  # payer_name is the payer, a person
        assert payment.fields["email"] == ["anna.example@gmail.com"]


def test_rerun_adds_nothing_and_says_so(store: Store, seizure: Path) -> None:
    first = _run(store, seizure)
    with store.session() as session:
        before = session.scalar(select(func.count()).select_from(SourceRecord))
    second = _run(store, seizure)
    assert {f.status for f in second.files if f.status != "skipped"} == {"unchanged"}
    assert second.totals["records"] == first.totals["records"]
    with store.session() as session:
        assert session.scalar(select(func.count()).select_from(SourceRecord)) == before
        assert session.scalar(select(func.count()).select_from(Seizure)) == 1


def test_changed_file_is_a_new_version_and_copies_are_duplicates(store: Store, seizure: Path) -> None:
    _run(store, seizure)
    (seizure / "kunden_de.csv").write_bytes(
        ("Kundennr;Vorname;Nachname;E-Mail\nK3;Hans;Neu;hans@example.de\n").encode("cp1252")
    )
    (seizure / "copy_of_customers.csv").write_bytes((seizure / "customers.csv").read_bytes())
    report = _run(store, seizure)
    files = {f.path: f for f in report.files}
    assert files["kunden_de.csv"].status == "new-version" and files["kunden_de.csv"].records == 1
    assert files["copy_of_customers.csv"].status == "duplicate"
    with store.session() as session:
        versions = session.scalars(select(SourceFile.version).where(SourceFile.path == "kunden_de.csv")).all()
        assert sorted(versions) == [1, 2]


def test_saved_mapping_round_trips(store: Store, seizure: Path, tmp_path: Path) -> None:
    first = _run(store, seizure)
    assert first.mapping_file is not None
    saved = Path(first.mapping_file).read_text(encoding="utf-8")
    assert "customers.csv" in saved and "given_name: first_name" in saved
    other = build_seizure(tmp_path / "again")
    second = _run(store, other, mapping_path=Path(first.mapping_file), operation="second")
    assert second.totals["records"] == first.totals["records"]
    assert second.totals["quarantined"] == first.totals["quarantined"]


def test_explicit_mapping_controls_types_and_columns(store: Store, tmp_path: Path) -> None:
    folder = tmp_path / "s"
    folder.mkdir()
    (folder / "export1.txt").write_text("Ref|Who|Mail1|Mail2\n7|Eve Example|eve@example.com|EVE@example.org\n", "utf-8")
    mapping = tmp_path / "mapping.yaml"
    mapping.write_text(
        'files:\n  "export*.txt":\n    record_type: account\n    delimiter: "|"\n    columns:\n'
        "      record_id: Ref\n      full_name: Who\n      email: [Mail1, Mail2]\n",
        encoding="utf-8",
    )
    report = _run(store, folder, mapping_path=mapping)
    assert report.files[0].by_type == {"account": 1}
    with store.session() as session:
        record = session.scalars(select(SourceRecord)).one()
        assert record.record_key == "7"
        assert record.fields["email"] == ["eve@example.com", "eve@example.org"]
        assert record.fields["given_name"] == "Eve" and record.fields["family_name"] == "Example"


# -- bad input ----------------------------------------------------------------------------------------------


def _single(store: Store, tmp_path: Path, name: str, content: bytes) -> object:
    folder = tmp_path / "bad"
    folder.mkdir(exist_ok=True)
    (folder / name).write_bytes(content)
    report = _run(store, folder)
    return {f.path: f for f in report.files}


def test_empty_header_only_and_binary_files(store: Store, tmp_path: Path) -> None:
    files = _single(store, tmp_path, "empty.csv", b"")
    assert files["empty.csv"].status == "skipped" and files["empty.csv"].reason == "empty file"  # type: ignore[index]
    files = _single(store, tmp_path, "header.csv", b"name,email\n")
    header = files["header.csv"]  # type: ignore[index]
    assert header.status == "ingested" and header.records == 0 and "header only" in header.warnings[0]
    files = _single(store, tmp_path, "photo.csv", bytes(range(256)) * 40)
    assert files["photo.csv"].status == "skipped" and "binary" in files["photo.csv"].reason  # type: ignore[index]


def test_truncated_zip_bomb_and_escaping_entries_are_refused(store: Store, tmp_path: Path) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("ok.csv", "name,email\nA B,a@example.com\n")
        archive.writestr("../evil.csv", "name\nx\n")
        archive.writestr("/abs.csv", "name\nx\n")
        archive.writestr("bomb.csv", "0" * (12 * 1024 * 1024))
    data = buffer.getvalue()
    folder = tmp_path / "z"
    folder.mkdir()
    (folder / "a.zip").write_bytes(data)
    (folder / "truncated.zip").write_bytes(data[: len(data) // 2])
    files = {f.path: f for f in _run(store, folder).files}
    assert files["a.zip!ok.csv"].records == 1
    assert "escapes the archive" in (files["a.zip!../evil.csv"].reason or "")
    assert "escapes the archive" in (files["a.zip!/abs.csv"].reason or "")
    assert "zip bomb" in (files["a.zip!bomb.csv"].reason or "")
    assert files["truncated.zip"].status == "skipped" and "unreadable archive" in (files["truncated.zip"].reason or "")
    assert not (tmp_path / "evil.csv").exists()


def test_huge_single_line_is_quarantined_not_fatal(store: Store, tmp_path: Path) -> None:
    content = b"name,note\nA B," + b"x" * (10 * 1024 * 1024) + b"\nC D,short\n"
    files = _single(store, tmp_path, "long.csv", content)
    report = files["long.csv"]  # type: ignore[index]
    assert (report.records, report.quarantined) == (1, 1)
    with store.session() as session:
        reason = session.scalars(select(QuarantinedRow.reason)).one()
        assert "longer than" in reason


def test_mixed_encodings_quarantine_the_odd_rows(store: Store, tmp_path: Path) -> None:
    good = "".join(f"Zoë Ålander{i},zoe{i}@example.com\n" for i in range(40)).encode("utf-8")
    content = b"name,email\n" + good + "Andr\u00e9 Cp,andre@example.com\n".encode("cp1252")
    files = _single(store, tmp_path, "mixed.csv", content)
    report = files["mixed.csv"]  # type: ignore[index]
    assert report.encoding == "utf-8" and (report.records, report.quarantined) == (40, 1)
    with store.session() as session:
        row = session.scalars(select(QuarantinedRow)).one()
        assert row.row == 42 and "not valid utf-8" in row.reason and "\\xe9" in (row.raw_text or "")


def test_utf16_and_shift_jis(store: Store, tmp_path: Path) -> None:
    files = _single(store, tmp_path, "u16.csv", "name\temail\nÉmile Zola\temile@example.fr\n".encode("utf-16"))
    assert files["u16.csv"].records == 1  # type: ignore[index]
    text = "氏名,メール\n" + "".join(f"山田 太郎{i},taro{i}@example.jp\n" for i in range(30))
    files = _single(store, tmp_path, "sjis.csv", text.encode("shift_jis"))
    report = files["sjis.csv"]  # type: ignore[index]
    assert report.records == 30 and report.quarantined == 0
    assert report.encoding in ("shift_jis", "cp932")


def test_mapping_naming_a_missing_column(store: Store, seizure: Path, tmp_path: Path) -> None:
    mapping = tmp_path / "m.yaml"
    mapping.write_text('files:\n  "customers.csv":\n    columns:\n      email: Mail\n', encoding="utf-8")
    with pytest.raises(InputError) as caught:
        _run(store, seizure, mapping_path=mapping)
    assert caught.value.line == 4 and "'Mail'" in str(caught.value) and str(mapping) in str(caught.value)


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("files:\n  a.csv:\n    columns: [oops\n", 4, "not valid YAML"),
        ("files:\n  a.csv:\n    record_type: wizard\n", 3, "unknown record_type"),
        ("files:\n  a.csv:\n    columns:\n      shoe_size: S\n", 4, "unknown field"),
        ("nothing: here\n", 1, "must start with 'files:'"),
    ],
)
def test_bad_mapping_files(store: Store, seizure: Path, tmp_path: Path, text: str, line: int, message: str) -> None:
    mapping = tmp_path / "m.yaml"
    mapping.write_text(text, encoding="utf-8")
    with pytest.raises(InputError) as caught:
        _run(store, seizure, mapping_path=mapping)
    assert caught.value.line == line and message in str(caught.value)


def test_missing_folder_is_a_clear_error(store: Store, tmp_path: Path) -> None:
    with pytest.raises(InputError, match="folder not found"):
        _run(store, tmp_path / "nope")


def test_synthetic_seizure_matches_its_ground_truth(store: Store, tmp_path: Path) -> None:
    import csv
    from collections import Counter

    from threadline.synth import generate

    out = tmp_path / "synth"
    generate(out, people=150, seed=11, countries=20, media=12)
    report = _run(store, out / "seizure")
    files = {f.path: f for f in report.files}
    with (out / "truth" / "records.csv").open(encoding="utf-8") as handle:
        truth = list(csv.DictReader(handle))
    rows = Counter(t["file"] for t in truth)
    broken = Counter(t["file"] for t in truth if t["malformed"] == "1" and t["damage"] == "column_count")
    for name, count in rows.items():
        f = files[name]
        assert f.status == "ingested", name
        assert f.rows == count, name  # every unit in the truth was read: a record or a quarantined row
        if f.format == "delimited":  # a row with the wrong number of fields never becomes a record
            assert f.quarantined >= broken[name], name
        assert f.quarantined <= sum(1 for t in truth if t["file"] == name and t["malformed"] == "1"), name
    media = [f for f in report.files if f.path.startswith("media/")]
    assert media and all(f.status == "skipped" and f.format == "media" for f in media)


@pytest.mark.parametrize("parallel_min_bytes", [1 << 40, 0], ids=["serial", "parallel"])
def test_interrupted_ingest_resumes_without_losing_rows(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, parallel_min_bytes: int
) -> None:
    """Quarantined rows among the rows held back for the date vote must not move the checkpoint past them;
    with worker processes and the writer thread, a failed commit stops every later one."""
    from threadline.ingest import pipeline

    folder = tmp_path / "s"
    folder.mkdir()
    lines = ["id,name,email,date of birth"]
    for i in range(1, 61):
        lines.append(f"{i},broken" if i % 3 == 0 else f"{i},Person {i},p{i}@example.com,{(i % 28) + 1:02d}.03.1980")
    (folder / "people.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")

    original = pipeline._FileIngest._commit
    calls = {"n": 0, "units": 0}

    def failing_commit(self: object, blocks: list[pipeline._Batch]) -> None:
        # The writer thread commits the blocks waiting for it together: count commits, and the rows they held.
        calls["n"] += 1
        if calls["n"] == 3:
            raise RuntimeError("simulated crash")
        original(self, blocks)  # type: ignore[arg-type]
        calls["units"] += sum(block.units for block in blocks)

    monkeypatch.setattr(pipeline._FileIngest, "_commit", failing_commit)
    with pytest.raises(RuntimeError, match="simulated crash"):
        _run(store, folder, batch_size=7, parallel_min_bytes=parallel_min_bytes)
    with store.session() as session:
        (source,) = session.scalars(select(SourceFile))
        # At least two blocks of 7, and nothing after the failed commit.
        assert 14 <= calls["units"] < 60
        assert (source.rows_read, source.checkpoint_row) == (calls["units"], calls["units"])
    monkeypatch.setattr(pipeline._FileIngest, "_commit", original)
    report = _run(store, folder, batch_size=7, parallel_min_bytes=parallel_min_bytes)
    (f,) = report.files
    assert f.status == "resumed" and (f.records, f.quarantined) == (40, 20)
    with store.session() as session:
        keys = sorted(int(k) for k in session.scalars(select(SourceRecord.record_key)))
        assert keys == [i for i in range(1, 61) if i % 3]


def test_one_column_tables_and_legacy_office_files(store: Store, tmp_path: Path) -> None:
    files = _single(store, tmp_path, "emails.csv", b"email\nann@example.com\nbo@example.com\n")
    assert files["emails.csv"].records == 2  # type: ignore[index]
    files = _single(store, tmp_path, "old.xls", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(600))
    old = files["old.xls"]  # type: ignore[index]
    assert old.status == "skipped" and "save it as .xlsx" in (old.reason or "")


def test_mixed_date_orders_are_read_by_each_records_country(store: Store, tmp_path: Path) -> None:
    rows = ["name,country,date of birth"]
    rows += [f"Us Person{i},US,{m:02d}/{d:02d}/1980" for i, (m, d) in enumerate([(3, 25), (4, 28), (5, 6)])]
    rows += [f"De Person{i},DE,{d:02d}/{m:02d}/1980" for i, (d, m) in enumerate([(25, 3), (28, 4), (6, 5)])]
    rows += ["Nobody Known,,06/05/1980"]
    folder = tmp_path / "s"
    folder.mkdir()
    (folder / "people.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    report = _run(store, folder)
    assert "not the same throughout" in report.files[0].warnings[0]
    with store.session() as session:
        by_name = {r.fields["full_name"]: r.fields for r in session.scalars(select(SourceRecord))}
    assert by_name["Us Person2"]["date_of_birth"] == "1980-05-06"  # 05/06 in the US: 6 May
    assert by_name["De Person2"]["date_of_birth"] == "1980-05-06"  # 06/05 in Germany: 6 May
    assert by_name["Us Person0"]["date_of_birth"] == "1980-03-25"
    assert "date_of_birth_ambiguous" in by_name["Nobody Known"]["flags"]
    assert "flags" not in by_name["De Person2"]


def test_parallel_ingest_writes_what_the_serial_one_writes(store: Store, seizure: Path) -> None:
    """Worker processes build the records of large files; every file made so must equal the one-process run."""
    serial = _run(store, seizure, operation="serial", batch_size=3, parallel_min_bytes=1 << 40)
    parallel = _run(store, seizure, operation="parallel", batch_size=3, parallel_min_bytes=0)
    assert [f.to_dict() | {"source_file_id": None} for f in serial.files] == [
        f.to_dict() | {"source_file_id": None} for f in parallel.files
    ]

    def written(seizure_id: int) -> tuple[list[tuple[object, ...]], list[tuple[object, ...]], list[tuple[object, ...]]]:
        with store.session() as session:
            records = session.execute(
                select(
                    SourceFile.path,
                    SourceRecord.locator,
                    SourceRecord.row,
                    SourceRecord.record_type,
                    SourceRecord.record_key,
                    SourceRecord.raw,
                    SourceRecord.fields,
                )
                .join(SourceFile)
                .where(SourceFile.seizure_id == seizure_id)
                .order_by(SourceFile.path, SourceRecord.id)
            ).all()
            identifiers = session.execute(
                select(SourceFile.path, SourceRecord.locator, Identifier.kind, Identifier.value)
                .join(SourceRecord, Identifier.record_id == SourceRecord.id)
                .join(SourceFile)
                .where(SourceFile.seizure_id == seizure_id)
                .order_by(SourceFile.path, SourceRecord.id, Identifier.id)
            ).all()
            quarantined = session.execute(
                select(SourceFile.path, QuarantinedRow.locator, QuarantinedRow.reason, QuarantinedRow.raw_text)
                .join(SourceFile)
                .where(SourceFile.seizure_id == seizure_id)
                .order_by(SourceFile.path, QuarantinedRow.id)
            ).all()
        return [tuple(r) for r in records], [tuple(r) for r in identifiers], [tuple(r) for r in quarantined]

    ours, theirs = written(serial.seizure_id), written(parallel.seizure_id)
    assert len(ours[0]) > 20 and ours[1] and ours[2]
    assert ours == theirs
