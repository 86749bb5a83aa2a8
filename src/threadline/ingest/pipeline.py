"""The ingest stage: every file of a seizure into records with provenance, checkpointed batch by batch.

Each batch of records, its identifiers, its quarantined rows and the file's checkpoint are committed in one
transaction, so a crash or `kill -9` leaves the database consistent and a rerun resumes exactly where the last
batch ended. Files already ingested (same path, same SHA-256) are recognised and add nothing."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from threadline.core import audit
from threadline.core.db import Store
from threadline.core.errors import InputError
from threadline.ingest import normalise as norm
from threadline.ingest.items import Header, Item
from threadline.ingest.mapping import ColumnPlan, Mapping, load_mapping, mapping_yaml, plan_columns
from threadline.ingest.mediahash import media_columns, media_row
from threadline.ingest.readers.delimited import read_delimited
from threadline.ingest.readers.jsondata import read_json, read_json_lines
from threadline.ingest.readers.mail import read_eml, read_mbox
from threadline.ingest.readers.vcard import read_vcards
from threadline.ingest.readers.workbook import read_workbook
from threadline.ingest.records import build_fields
from threadline.ingest.sniff import Encoding, detect_encoding, fingerprint, guess_delimiter, sniff_format
from threadline.ingest.sources import SeizedFile, is_zip, walk_seizure
from threadline.model import Identifier, MediaItem, Operation, QuarantinedRow, Seizure, SourceFile, SourceRecord, utcnow

BATCH = 5000
DATE_SAMPLE = 2000
DATE_FIELDS = ("date_of_birth", "date")
SKIP_FORMATS = {
    "empty": "empty file",
    "binary": "binary data, not a format Threadline reads (media belong in `threadline media scan`)",
    "text": "text without a recognisable structure (no delimiter, not JSON, mail or vCard)",
    "zip": "archive could not be opened",
}
Progress = Callable[[str, int], None]


@dataclass
class FileReport:
    path: str
    status: str  # ingested | resumed | unchanged | duplicate | skipped | new-version
    format: str | None = None
    encoding: str | None = None
    delimiter: str | None = None
    rows: int = 0
    records: int = 0
    quarantined: int = 0
    media_items: int = 0
    by_type: Counter[str] = field(default_factory=Counter)
    plans: dict[str, ColumnPlan] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    reason: str | None = None
    source_file_id: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "status": self.status,
            "format": self.format,
            "encoding": self.encoding,
            "delimiter": self.delimiter,
            "rows": self.rows,
            "records": self.records,
            "quarantined": self.quarantined,
            "media_items": self.media_items,
            "records_by_type": dict(self.by_type),
            "warnings": self.warnings,
            "reason": self.reason,
            "source_file_id": self.source_file_id,
        }


@dataclass
class IngestReport:
    operation: str
    seizure_id: int
    directory: str
    files: list[FileReport] = field(default_factory=list)
    mapping_file: str | None = None
    seconds: float = 0.0

    def count(self, status: str) -> int:
        return sum(1 for f in self.files if f.status == status)

    @property
    def totals(self) -> dict[str, Any]:
        by_type: Counter[str] = Counter()
        for f in self.files:
            by_type.update(f.by_type)
        return {
            "files": len(self.files),
            "ingested": sum(1 for f in self.files if f.status in ("ingested", "resumed", "new-version")),
            "unchanged": self.count("unchanged"),
            "duplicates": self.count("duplicate"),
            "skipped": self.count("skipped"),
            "rows": sum(f.rows for f in self.files),
            "records": sum(f.records for f in self.files),
            "quarantined": sum(f.quarantined for f in self.files),
            "media_items": sum(f.media_items for f in self.files),
            "records_by_type": dict(sorted(by_type.items())),
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "operation": self.operation,
            "seizure_id": self.seizure_id,
            "directory": self.directory,
            "mapping_file": self.mapping_file,
            "seconds": round(self.seconds, 2),
            "totals": self.totals,
            "files": [f.to_dict() for f in self.files],
        }


def _find_text(text: str) -> tuple[list[str], list[str]]:
    return norm.find_emails(text), norm.find_phones(text, None)


class _Batch:
    """Rows waiting to be committed together with the file's checkpoint."""

    def __init__(self) -> None:
        self.records: list[dict[str, Any]] = []
        self.identifiers: list[list[tuple[str, str]]] = []
        self.quarantined: list[dict[str, Any]] = []
        self.media: list[dict[str, Any]] = []
        self.units = 0
        self.last_seq = 0

    def __len__(self) -> int:
        return self.units


class _FileIngest:
    """Reads one file and writes it in checkpointed batches."""

    def __init__(
        self,
        store: Store,
        source: SourceFile,
        file: SeizedFile,
        fmt: str,
        encoding: Encoding,
        delimiter: str | None,
        mapping: Mapping,
        report: FileReport,
        progress: Progress | None,
        batch_size: int,
    ) -> None:
        self.store = store
        self.source_id = source.id
        self.seizure_id = source.seizure_id
        self.file = file
        self.fmt = fmt
        self.encoding = encoding
        self.delimiter = delimiter
        self.mapping = mapping
        self.report = report
        self.progress = progress
        self.batch_size = batch_size
        self.checkpoint = source.checkpoint_row
        self.report.rows = source.rows_read
        self.report.records = source.records
        self.report.quarantined = source.rows_quarantined
        self.plan: ColumnPlan | None = None
        self.media: dict[str, str] | None = None
        self.table: str | None = None
        self.date_orders: dict[str, str | None] = {}
        self.pending: list[Item] = []
        self.votes_open = False
        self.batch = _Batch()

    # -- reading ------------------------------------------------------------------------------------------
    def items(self) -> Iterator[Header | Item]:
        name = self.encoding.name
        if self.fmt == "delimited":
            return read_delimited(self.file, name, self.delimiter or ",")
        if self.fmt == "xlsx":
            return read_workbook(self.file)
        if self.fmt == "json":
            return read_json(self.file, name)
        if self.fmt == "jsonl":
            return read_json_lines(self.file, name)
        if self.fmt == "mbox":
            return read_mbox(self.file, _find_text)
        if self.fmt == "eml":
            return read_eml(self.file, _find_text)
        if self.fmt == "vcard":
            return read_vcards(self.file, name)
        raise AssertionError(self.fmt)

    def run(self) -> None:
        for element in self.items():
            if isinstance(element, Header):
                self._flush_pending()
                self._start_table(element)
                continue
            if self.votes_open and element.error is None and element.raw is not None:
                self.pending.append(element)
                if len(self.pending) >= DATE_SAMPLE:
                    self._flush_pending()
                continue
            self._accept(element)
        self._flush_pending()
        self._commit(final=True)

    def _start_table(self, header: Header) -> None:
        key = f"{self.file.path}#{header.table}" if header.table else self.file.path
        self.table = header.table
        self.media = media_columns(header.columns)
        if self.media is not None:
            self.plan = None
            self.report.plans[key] = ColumnPlan(
                "media", {f: [c] for f, c in self.media.items()}, [], source="media list"
            )
            self.votes_open = False
            return
        self.plan = plan_columns(self.mapping, self.file.path, header.table, header.columns)
        self.report.plans[key] = self.plan
        self.votes_open = any(f in self.plan.fields for f in DATE_FIELDS)
        self.date_orders = {}

    def _flush_pending(self) -> None:
        """Decide day/month order for the table's date columns from the rows seen, then write them."""
        if not self.votes_open:
            return
        self.votes_open = False
        assert self.plan is not None
        for name in DATE_FIELDS:
            columns = self.plan.fields.get(name)
            if not columns:
                continue
            vote = norm.DateOrderVote()
            for item in self.pending:
                assert item.raw is not None
                for column in columns:
                    if item.raw.get(column):
                        vote.observe(item.raw[column])
            order, ambiguous = vote.decide()
            self.date_orders[name] = order
            if ambiguous and self.pending:
                self.report.warnings.append(
                    f"{name}: day/month order could not be decided from the data"
                    f"{'' if order is None else f'; read as {order}'} (records flagged {name}_ambiguous)"
                )
        pending, self.pending = self.pending, []
        for item in pending:
            self._accept(item)

    # -- building -----------------------------------------------------------------------------------------
    def _accept(self, item: Item) -> None:
        if item.seq <= self.checkpoint:
            return  # committed by an earlier, interrupted run
        batch = self.batch
        if batch.units >= self.batch_size:
            self._commit()
        batch = self.batch
        batch.units += 1
        batch.last_seq = item.seq
        if item.error is not None:
            batch.quarantined.append(
                {
                    "source_file_id": self.source_id,
                    "row": item.row,
                    "locator": item.locator,
                    "raw_text": item.raw_text,
                    "reason": item.error,
                }
            )
            return
        if self.media is not None:
            assert item.raw is not None
            values, problem = media_row(item.raw, self.media)
            if values is None:
                batch.quarantined.append(
                    {
                        "source_file_id": self.source_id,
                        "row": item.row,
                        "locator": item.locator,
                        "raw_text": " | ".join(f"{k}={v}" for k, v in item.raw.items()),
                        "reason": problem,
                    }
                )
                return
            batch.media.append(
                {"seizure_id": self.seizure_id, "source_file_id": self.source_id, "row": item.row, **values}
            )
            return
        for element in (item, *item.extra_records):
            self._add_record(element)

    def _add_record(self, item: Item) -> None:
        raw = item.raw or {}
        if item.fields is not None:
            values: dict[str, Any] = dict(item.fields)
            record_type = item.record_type or "contact"
            default_country = None
            extra = values.pop("extra", None)
            passthrough = {k: values.pop(k) for k in list(values) if k not in _CANONICAL_INPUT}
        else:
            assert self.plan is not None
            plan = self.plan
            values = {f: [raw.get(c, "") for c in cols] for f, cols in plan.fields.items()}
            record_type = plan.record_type
            default_country = plan.default_country
            extra = {c: raw[c] for c in plan.unmapped if raw.get(c, "").strip()} or None
            passthrough = {}
        built, identifiers = build_fields(values, default_country=default_country, date_orders=self.date_orders)
        built.update(passthrough)
        if extra:
            built["extra"] = extra
        if record_type == "message":
            for address in (
                list(built.get("sender", [])) + list(built.get("recipients", [])) + list(built.get("body_emails", []))
            ):
                email = norm.normalise_email(address)
                if email is not None and email.valid:
                    identifiers.append(("email", email.canonical))
            identifiers.extend(("phone", p) for p in built.get("body_phones", []))
        self.batch.records.append(
            {
                "source_file_id": self.source_id,
                "row": item.row,
                "locator": item.locator,
                "record_type": record_type,
                "record_key": built.get("record_id"),
                "raw": raw,
                "fields": built,
            }
        )
        self.batch.identifiers.append(list(dict.fromkeys(identifiers)))

    # -- writing ------------------------------------------------------------------------------------------
    def _commit(self, *, final: bool = False) -> None:
        batch, self.batch = self.batch, _Batch()
        with self.store.session() as session:
            if batch.records:
                ids = session.scalars(
                    insert(SourceRecord).returning(SourceRecord.id, sort_by_parameter_order=True), batch.records
                ).all()
                rows = [
                    {"record_id": record_id, "kind": kind, "value": value[:320]}
                    for record_id, found in zip(ids, batch.identifiers, strict=True)
                    for kind, value in found
                ]
                if rows:
                    session.execute(insert(Identifier), rows)
            if batch.quarantined:
                session.execute(insert(QuarantinedRow), batch.quarantined)
            if batch.media:
                session.execute(insert(MediaItem), batch.media)
            source = session.get_one(SourceFile, self.source_id)
            source.rows_read += batch.units
            source.records += len(batch.records) + len(batch.media)
            source.rows_quarantined += len(batch.quarantined)
            if batch.last_seq:
                source.checkpoint_row = batch.last_seq
            if final:
                source.status = "done"
                source.finished_at = utcnow()
                source.record_type = self._record_types(batch)
            self.report.rows = source.rows_read
            self.report.records = source.records
            self.report.quarantined = source.rows_quarantined
        for record in batch.records:
            self.report.by_type[record["record_type"]] += 1
        self.report.media_items += len(batch.media)
        if self.progress is not None:
            self.progress(self.file.path, self.report.rows)

    def _record_types(self, batch: _Batch) -> str | None:
        types = set(self.report.by_type) | {r["record_type"] for r in batch.records}
        if self.report.media_items or batch.media:
            types.add("media")
        return ",".join(sorted(types))[:20] or None


_CANONICAL_INPUT = {
    "record_id",
    "full_name",
    "given_name",
    "family_name",
    "aliases",
    "date_of_birth",
    "email",
    "phone",
    "street",
    "city",
    "region",
    "postal_code",
    "country",
    "ip",
    "username",
    "national_id",
    "occupation",
    "organisation",
    "date",
    "amount",
    "currency",
    "counterparty",
}


def _operation_and_seizure(session: Session, operation: str, directory: Path) -> tuple[Operation, Seizure]:
    op = session.scalars(select(Operation).where(Operation.name == operation)).first()
    if op is None:
        op = Operation(name=operation)
        session.add(op)
        session.flush()
    source_path = str(directory.resolve())
    seizure = session.scalars(
        select(Seizure).where(Seizure.operation_id == op.id, Seizure.source_path == source_path)
    ).first()
    if seizure is None:
        seizure = Seizure(operation_id=op.id, label=directory.resolve().name, source_path=source_path)
        session.add(seizure)
        session.flush()
    return op, seizure


def ingest(
    store: Store,
    directory: Path,
    *,
    mapping_path: Path | None = None,
    operation: str = "default",
    actor: str = "system",
    progress: Progress | None = None,
    batch_size: int = BATCH,
    exclude: tuple[str, ...] = (),
) -> IngestReport:
    """Ingest every file under `directory` into the seizure of that folder in `operation`."""
    started = time.monotonic()
    mapping = load_mapping(mapping_path) if mapping_path else Mapping()
    walk = walk_seizure(directory, exclude=exclude)
    with store.session() as session:
        op, seizure = _operation_and_seizure(session, operation, directory)
        report = IngestReport(operation=op.name, seizure_id=seizure.id, directory=seizure.source_path)
        audit.record(
            session,
            actor=actor,
            action="ingest.start",
            object_type="seizure",
            object_id=seizure.id,
            details={"directory": seizure.source_path, "files": len(walk.files)},
        )
    for skipped in walk.skipped:
        report.files.append(FileReport(skipped.path, "skipped", reason=skipped.reason))
    for file in walk.files:
        report.files.append(_ingest_file(store, seizure.id, file, mapping, progress, batch_size))
    saved: dict[str, Any] = {}
    for file_report in report.files:
        for key, plan in file_report.plans.items():
            if plan.record_type != "media":
                saved[key] = plan.to_rule(file_report.encoding, file_report.delimiter)
    with store.session() as session:
        seizure_row = session.get_one(Seizure, seizure.id)
        merged = dict((seizure_row.mapping or {}).get("files", {}))
        merged.update(saved)
        seizure_row.mapping = {"files": merged}
        seizure_row.status = "ingested"
        report.seconds = time.monotonic() - started
        audit.record(
            session,
            actor=actor,
            action="ingest.finish",
            object_type="seizure",
            object_id=seizure.id,
            details=report.totals,
        )
    if merged:
        folder = store.settings.resolved_home / "seizures" / str(seizure.id)
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / "mapping.yaml"
        target.write_text(mapping_yaml(merged), encoding="utf-8")
        report.mapping_file = str(target)
    return report


def _ingest_file(
    store: Store, seizure_id: int, file: SeizedFile, mapping: Mapping, progress: Progress | None, batch_size: int
) -> FileReport:
    fp = fingerprint(file)
    rule = mapping.rule_for(file.path)
    # Workbooks and archives are binary containers: their text encoding is not a question.
    encoding = Encoding("utf-8") if is_zip(fp.head) else detect_encoding(fp, rule.encoding if rule else None)
    fmt = sniff_format(file, fp, encoding)
    report = FileReport(file.path, "ingested", format=fmt, encoding=None if is_zip(fp.head) else encoding.name)
    if encoding.mixed:
        report.warnings.append(f"some lines are not valid {encoding.name}: those rows are quarantined")
    delimiter = None
    if fmt == "delimited":
        head = fp.head.decode(encoding.name, errors="replace").lstrip("\ufeff")
        delimiter = (rule.delimiter if rule else None) or guess_delimiter(head) or ","
        report.delimiter = delimiter
    with store.session() as session:
        versions = list(
            session.scalars(select(SourceFile).where(SourceFile.seizure_id == seizure_id, SourceFile.path == file.path))
        )
        same = next((v for v in versions if v.sha256 == fp.sha256), None)
        if same is not None and same.status in ("done", "duplicate", "skipped"):
            report.status = "unchanged"
            report.reason = "already ingested (same SHA-256); nothing added"
            report.rows, report.records, report.quarantined = same.rows_read, same.records, same.rows_quarantined
            report.source_file_id = same.id
            return report
        if same is None:
            twin = session.scalars(
                select(SourceFile).where(
                    SourceFile.seizure_id == seizure_id, SourceFile.sha256 == fp.sha256, SourceFile.status == "done"
                )
            ).first()
            version = max((v.version for v in versions), default=0) + 1
            source = SourceFile(
                seizure_id=seizure_id,
                path=file.path,
                version=version,
                sha256=fp.sha256,
                size=fp.size,
                format=fmt,
                encoding=encoding.name if fmt not in ("xlsx", "empty", "binary", "zip") else None,
                delimiter=delimiter,
                status="ingesting",
            )
            session.add(source)
            if twin is not None:
                source.status = "duplicate"
                source.duplicate_of_id = twin.id
                source.status_reason = f"same bytes as {twin.path}"
                source.finished_at = utcnow()
            elif fmt in SKIP_FORMATS:
                source.status = "skipped"
                source.status_reason = SKIP_FORMATS[fmt]
                source.finished_at = utcnow()
            session.flush()
            report.source_file_id = source.id
            if source.status in ("duplicate", "skipped"):
                report.status = source.status
                report.reason = source.status_reason
                return report
            if version > 1:
                report.status = "new-version"
                report.warnings.append(f"the bytes changed since version {version - 1}: ingested as version {version}")
        else:
            source = same
            report.status = "resumed"
            report.source_file_id = source.id
            report.warnings.append(f"resumed after row {source.checkpoint_row} of an interrupted run")
    worker = _FileIngest(store, source, file, fmt, encoding, delimiter, mapping, report, progress, batch_size)
    worker.run()
    if report.rows == 0 and not report.quarantined:
        report.warnings.append("no rows: the file holds a header only" if report.plans else "no records found")
    return report


def quarantine_count(session: Session, seizure_id: int) -> int:
    return (
        session.scalar(
            select(func.count()).select_from(QuarantinedRow).join(SourceFile).where(SourceFile.seizure_id == seizure_id)
        )
        or 0
    )


def require_directory(path: Path) -> Path:
    if not path.is_dir():
        raise InputError("not a folder: give the folder holding the seized files", file=path)
    return path
