"""The ingest stage: every file of a seizure into records with provenance, checkpointed batch by batch.

Each batch of records, its identifiers, its quarantined rows and the file's checkpoint are committed in one
transaction, so a crash or `kill -9` leaves the database consistent and a rerun resumes exactly where the last
batch ended. Files already ingested (same path, same SHA-256) are recognised and add nothing."""

from __future__ import annotations

import gc
import itertools
import multiprocessing
import os
import queue
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, func, insert, select, text, update
from sqlalchemy.orm import Session

from threadline.core import audit
from threadline.core.db import Store, driver_insert, json_dumps
from threadline.core.errors import InputError
from threadline.ingest import normalise as norm
from threadline.ingest.items import ESCAPE, Header, Item
from threadline.ingest.mapping import ColumnPlan, Mapping, load_mapping, mapping_yaml, plan_columns
from threadline.ingest.mediahash import media_columns, media_row
from threadline.ingest.pieces import Piece, Uncut, can_cut, cut, lines
from threadline.ingest.readers.delimited import IrregularQuoting, read_delimited, read_rows
from threadline.ingest.readers.jsondata import read_json, read_json_lines
from threadline.ingest.readers.mail import mbox_messages, message_items, read_eml, read_mbox
from threadline.ingest.readers.vcard import read_vcards
from threadline.ingest.readers.workbook import read_workbook
from threadline.ingest.records import build_fields
from threadline.ingest.sniff import (
    Encoding,
    detect_encoding,
    fingerprint,
    guess_delimiter,
    is_media,
    sniff_format,
)
from threadline.ingest.sources import SeizedFile, is_zip, walk_seizure
from threadline.model import (
    CANONICAL_FIELDS,
    MediaItem,
    Operation,
    QuarantinedRow,
    Seizure,
    SourceFile,
    SourceRecord,
    utcnow,
)

BATCH = 10000
# Media hash-list rows are small and need no worker, but each of their three random-hash indexes dirties pages all
# over its B-tree, and SQLite writes every dirty page at each commit: committing them in blocks ten times larger
# took a million-row list from 58 to 34 s (peak 630 MB).
MEDIA_BLOCKS = 10
# Files at least this large are normalised in worker processes (one per core, four at most: beyond that the one
# writing process is the limit) while the main process reads and writes; below it, starting workers costs more
# than it saves.
PARALLEL_MIN_BYTES = 4 * 1024 * 1024
MAX_WORKERS = 4
PIECE_MAX = 8 << 20
DATE_SAMPLE = 2000
DATE_FIELDS = ("date_of_birth", "date")
SKIP_FORMATS = {
    "empty": "empty file",
    "media": "media file: hashed by `threadline media scan`, never read by ingest",
    "pdf": "PDF document: not a record format (kept as evidence, listed here)",
    "ole": "legacy Office binary (.xls/.doc): save it as .xlsx or CSV and ingest that copy",
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


# A table's recipe: canonical field -> columns, unmapped columns, record type, default country, date orders.
Plan = tuple[dict[str, list[str]], list[str], str, str | None, dict[str, str | None]]
# One record to build: a table row (plan number, verbatim row) or a structured record (-1, prepared values).
Job = tuple[int, dict[str, Any]]
# A record ready to write: type, key (the source's own id), verbatim row as JSON, fields as JSON, identifiers.
Prepared = tuple[str, Any, str, str, list[tuple[str, str]]]


def build_jobs(plans: dict[int, Plan], jobs: list[Job]) -> list[Prepared]:
    """Normalise a chunk of records and serialise them for the database. A plain function of its input, so it
    runs the same in a worker process, where the JSON is made too: the process writing has enough to do."""
    out: list[Prepared] = []
    single: dict[int, tuple[list[tuple[str, str]], list[tuple[str, list[str]]]]] = {}
    for plan_no, data in jobs:
        if plan_no < 0:
            values = dict(data["values"])
            record_type, default_country = data["record_type"], None
            orders: dict[str, str | None] = {}
            extra, passthrough, raw = data["extra"], data["passthrough"], data["raw"]
        else:
            columns, unmapped, record_type, default_country, orders = plans[plan_no]
            if plan_no not in single:
                single[plan_no] = (
                    [(f, cols[0]) for f, cols in columns.items() if len(cols) == 1],
                    [(f, cols) for f, cols in columns.items() if len(cols) != 1],
                )
            one_column, several = single[plan_no]
            values = {}
            for name, column in one_column:
                value = data.get(column, "")
                values[name] = value if value.__class__ is str else [value]
            for name, cols in several:
                values[name] = [data.get(c, "") for c in cols]
            extra = ({c: data[c] for c in unmapped if data.get(c, "").strip()} or None) if unmapped else None
            passthrough, raw = None, data
        built, identifiers = build_fields(values, default_country=default_country, date_orders=orders)
        if passthrough:
            built.update(passthrough)
        if extra:
            built["extra"] = extra
        if record_type == "message":
            addresses = [*built.get("sender", []), *built.get("recipients", []), *built.get("body_emails", [])]
            for address in addresses:
                email = norm.normalise_email(address)
                if email is not None and email.valid:
                    identifiers.append(("email", email.canonical))
            identifiers.extend(("phone", p) for p in built.get("body_phones", []))
        if len(identifiers) > 1:
            identifiers = list(dict.fromkeys(identifiers))
        found = [(kind, value[:320]) for kind, value in identifiers]
        out.append((record_type, built.get("record_id"), json_dumps(raw), json_dumps(built), found))
    return out


# What a worker makes of a piece: (seq, row, locator) and the built record of each row, (seq, row, locator,
# raw text, reason) of each quarantined row, and how many rows the piece holds. None: read it in order instead.
PieceResult = tuple[list[tuple[int, int, str]], list[Prepared], list[tuple[int, int, str, str | None, str]], int]


def build_piece(
    piece: Piece,
    encoding: str,
    delimiter: str,
    header: list[str] | None,
    plan_no: int,
    plans: dict[int, Plan],
) -> PieceResult | None:
    """Decode, parse and build a piece of a delimited file, as the serial reader would (row numbers from the
    piece's first line, row sequence numbers counted from 1 within it). The first piece holds the header
    (`header` None), the others are given it. None: read the file in order from this piece instead."""
    codec = encoding if piece.start == 0 or encoding.replace("_", "-").lower() != "utf-8-sig" else "utf-8"
    text = piece.data.decode(codec, errors=ESCAPE)
    if piece.data.endswith(b"\n") and not text.endswith("\n"):
        # An incomplete character just before the cut (EUC, GB18030) took the line ending into its error, where
        # the reader in order, seeing the bytes after it, keeps the line ending.
        return None
    places: list[tuple[int, int, str]] = []
    jobs: list[Job] = []
    quarantined: list[tuple[int, int, str, str | None, str]] = []
    count = 0
    found_header = header is not None
    try:
        for element in read_rows(lines(text), encoding, delimiter, header=header, line=piece.line, regular=True):
            if isinstance(element, Header):
                found_header = True
                continue
            count = element.seq
            if element.error is not None:
                quarantined.append((element.seq, element.row, element.locator, element.raw_text, element.error))
            else:
                places.append((element.seq, element.row, element.locator))
                jobs.append((plan_no, element.raw or {}))
    except IrregularQuoting:
        return None
    if not found_header:
        return None  # blank lines fill the first piece: the header is in a later one
    return places, build_jobs(plans, jobs), quarantined, count


def build_messages(messages: list[tuple[int, int, bytes]], base: int) -> PieceResult:
    """Parse and build mbox messages (line, message number, bytes) in a worker, as the serial reader and
    _FileIngest._accept would; sequence numbers counted after `base`."""
    places: list[tuple[int, int, str]] = []
    jobs: list[Job] = []
    quarantined: list[tuple[int, int, str, str | None, str]] = []
    for line, index, data in messages:
        item = message_items(index, line, index, data, _find_text)
        if item.error is not None:
            quarantined.append((index - base, item.row, item.locator, item.raw_text, item.error))
            continue
        for element in (item, *item.extra_records):
            places.append((index - base, element.row, element.locator))
            jobs.append(_structured_job(element))
    return places, build_jobs({}, jobs), quarantined, messages[-1][1] - base if messages else 0


def _structured_job(item: Item) -> Job:
    """The job of a record a structured reader (mail, vCard, JSON) gave canonical fields."""
    values: dict[str, Any] = dict(item.fields or {})
    extra = values.pop("extra", None)
    passthrough = {k: values.pop(k) for k in list(values) if k not in _CANONICAL_INPUT}
    return (
        -1,
        {
            "values": values,
            "record_type": item.record_type or "contact",
            "extra": extra,
            "passthrough": passthrough,
            "raw": item.raw or {},
        },
    )


class _Restart(Exception):
    """Read the file in order from `start` (a row boundary after `line` lines and `seq` rows)."""

    def __init__(self, start: int, line: int, seq: int) -> None:
        super().__init__(start, line, seq)
        self.start, self.line, self.seq = start, line, seq


class _Batch:
    """One checkpointed block: items read, waiting to be built and committed with the file's checkpoint."""

    def __init__(self) -> None:
        self.places: list[tuple[int, str]] = []  # (row, locator) of each job
        self.jobs: list[Job] = []
        self.plans: dict[int, Plan] = {}
        self.quarantined: list[dict[str, Any]] = []
        self.media: list[tuple[Any, ...]] = []
        self.results: list[Prepared] | None = None
        self.futures: list[Future[list[Prepared]]] = []
        self.units = 0
        self.last_seq = 0

    @property
    def weight(self) -> int:
        """Rows, media hash-list rows counting a tenth (they are small, and come in blocks ten times larger)."""
        return self.units - len(self.media) + len(self.media) // MEDIA_BLOCKS


class _Writer:
    """Commits blocks in file order on a thread of its own, while the reader goes on: SQLite and psycopg let go
    of the GIL while the database works. After a failed commit nothing more is committed, and the error is
    raised in the reading thread at its next hand-over (or at close)."""

    def __init__(self, commit: Callable[[list[_Batch]], None], depth: int, most: int) -> None:
        self.commit = commit
        self.most = most  # rows committed together at most (media rows count a tenth)
        self.blocks: queue.Queue[_Batch | None] = queue.Queue(maxsize=depth)
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._work, name="ingest-writer", daemon=True)
        self.thread.start()

    def _work(self) -> None:
        # Blocks already waiting are committed together: each commit writes every page it dirtied, and the
        # identifier and hash indexes are dirtied all over, so fewer commits write far less (memory stays bounded
        # by the queue's depth, and each commit holds `most` rows at most).
        closing = False
        while not closing and (block := self.blocks.get()) is not None:
            group = [block]
            units = block.weight
            while units < self.most:
                try:
                    waiting = self.blocks.get_nowait()
                except queue.Empty:
                    break
                if waiting is None:
                    closing = True
                    break
                group.append(waiting)
                units += waiting.weight
            if self.error is None:
                try:
                    self.commit(group)
                except BaseException as exc:  # handed to the reading thread, which raises it
                    self.error = exc

    def put(self, block: _Batch) -> None:
        while True:
            if self.error is not None:
                raise self.error
            try:
                self.blocks.put(block, timeout=0.2)
                return
            except queue.Full:
                continue

    def close(self) -> None:
        """Wait until every block handed over is committed; raise the first error."""
        self.blocks.put(None)
        self.thread.join()
        if self.error is not None:
            raise self.error


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
        pool: ProcessPoolExecutor | None = None,
        workers: int = 1,
        piece_size: int = 0,
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
        self.pool = pool
        self.workers = workers
        self.writer = _Writer(self._commit, depth=workers + 1, most=4 * batch_size) if pool is not None else None
        self.plan_no = 0
        # Cut into pieces that the workers read (0: read here, row by row).
        self.piece_size = piece_size if pool is not None and fmt == "delimited" and can_cut(encoding.name) else 0

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
        try:
            if self.piece_size:
                elements = self._read_pieces(self.items())
            elif self.fmt == "mbox" and self.pool is not None:
                elements = self._read_messages()
            else:
                elements = self.items()
            self._read(elements)
        finally:
            if self.writer is not None:
                self.writer.close()
        self._mark_done()

    def _read(self, elements: Iterator[Header | Item]) -> None:
        for element in elements:
            if isinstance(element, Header):
                self._flush_pending()
                self._start_table(element)
                continue
            if self.votes_open:
                # Everything waits in file order (quarantined rows too), so checkpoints never pass a row
                # that is not yet written.
                self.pending.append(element)
                if len(self.pending) >= DATE_SAMPLE:
                    self._flush_pending()
                continue
            self._accept(element)
        self._flush_pending()
        self._finish()

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
        self.plan_no += 1
        self.report.plans[key] = self.plan
        self.votes_open = any(f in self.plan.fields for f in DATE_FIELDS)
        self.date_orders = {}

    def _flush_pending(self) -> None:
        """Decide day/month order for the table's date columns from the rows seen, then write them."""
        if not self.votes_open:
            return
        self._decide_dates()
        pending, self.pending = self.pending, []
        for item in pending:
            self._accept(item)

    def _decide_dates(self) -> None:
        self.votes_open = False
        assert self.plan is not None
        for name in DATE_FIELDS:
            columns = self.plan.fields.get(name)
            if not columns:
                continue
            vote = norm.DateOrderVote()
            for item in self.pending:
                if item.error is not None or item.raw is None:
                    continue
                for column in columns:
                    if item.raw.get(column):
                        vote.observe(item.raw[column])
            order, ambiguous = vote.decide()
            # A column whose order is mixed (a customer list spanning countries) is read record by record,
            # by the record's country; see records.build_fields.
            self.date_orders[name] = None if ambiguous else order
            if ambiguous and self.pending:
                self.report.warnings.append(
                    f"{name}: day/month order is not the same throughout; each date that fits both is read by "
                    f"its record's country (month first for the US) or flagged {name}_ambiguous"
                )
        self.plan_no += 1  # the recipe now carries the decided date orders

    # -- reading in pieces --------------------------------------------------------------------------------
    def _read_pieces(self, elements: Iterator[Header | Item]) -> Iterator[Header | Item]:
        """Read a delimited file in pieces built by the workers, committed in order; what is left to read in
        order (nothing, when every piece could be read on its own) is returned.

        The header and the rows that decide date orders are read here first, then the file is cut from its
        start (the first piece holds them again)."""
        first = next(elements, None)
        if not isinstance(first, Header):
            return elements if first is None else itertools.chain((first,), elements)
        warned = len(self.report.warnings)
        self._start_table(first)
        if self.media is not None:
            return elements
        if self.votes_open:
            for element in elements:
                if isinstance(element, Header):
                    raise AssertionError("a delimited file has one header")
                self.pending.append(element)
                if len(self.pending) >= DATE_SAMPLE:
                    break
            self._decide_dates()
            self.pending = []
        close = getattr(elements, "close", None)
        if close is not None:
            close()
        header = first.columns
        window: deque[tuple[Piece, Future[PieceResult | None]]] = deque()
        try:
            self._cut(header, window)
            return iter(())
        except _Restart as restart:
            for _, future in window:
                future.cancel()
            for _, future in window:
                if not future.cancelled():
                    future.exception()  # wait: a piece still being built is not written
            if restart.start == 0:
                del self.report.warnings[warned:]  # the date vote is taken again
                return self.items()  # from the header again, as if never cut
            return read_delimited(
                self.file,
                self.encoding.name,
                self.delimiter or ",",
                start=restart.start,
                header=header,
                line=restart.line,
                seq=restart.seq,
            )
        finally:
            for _, future in window:
                future.cancel()  # after an error: pieces not yet started are not built

    def _cut(self, header: list[str], window: deque[tuple[Piece, Future[PieceResult | None]]]) -> None:
        """Cut the file, have the workers build the pieces (a few ahead, in `window`) and hand them over in
        order. Raises _Restart where the file must be read in order."""
        assert self.pool is not None
        plans = {self.plan_no: self._plan_recipe()}
        seq = 0
        with self.file.open() as handle:
            try:
                for piece in cut(handle, self.piece_size):
                    future = self.pool.submit(
                        build_piece,
                        piece,
                        self.encoding.name,
                        self.delimiter or ",",
                        None if piece.start == 0 else header,
                        self.plan_no,
                        plans,
                    )
                    window.append((piece, future))
                    if len(window) > self.workers:
                        seq = self._hand_over(*window.popleft(), seq)
            except Uncut as uncut:
                while window:
                    seq = self._hand_over(*window.popleft(), seq)
                raise _Restart(uncut.start, uncut.line, seq) from None
        while window:
            seq = self._hand_over(*window.popleft(), seq)

    def _hand_over(self, piece: Piece, future: Future[PieceResult | None], seq: int) -> int:
        """Give the writer a built piece whose rows follow `seq` rows; the rows counted after it."""
        result = future.result()
        if result is None:
            raise _Restart(piece.start, piece.line, seq)
        return self._give(result, seq)

    def _read_messages(self) -> Iterator[Header | Item]:
        """Read an mbox here, message by message (only where one ends is looked for), while the workers parse
        and build groups of them; committed in order. Nothing is left to read in order."""
        assert self.pool is not None
        window: deque[tuple[int, Future[PieceResult]]] = deque()
        group: list[tuple[int, int, bytes]] = []
        size = 0
        try:
            for index, (line, data) in enumerate(mbox_messages(self.file), start=1):
                if index <= self.checkpoint:
                    continue  # committed by an earlier, interrupted run
                group.append((line, index, data))
                size += len(data)
                if len(group) >= self.batch_size or size >= PIECE_MAX:
                    base = group[0][1] - 1
                    window.append((base, self.pool.submit(build_messages, group, base)))
                    group, size = [], 0
                    if len(window) > self.workers:
                        base, future = window.popleft()
                        self._give(future.result(), base)
            if group:
                base = group[0][1] - 1
                window.append((base, self.pool.submit(build_messages, group, base)))
            while window:
                base, future = window.popleft()
                self._give(future.result(), base)
        finally:
            for _, future in window:
                future.cancel()  # after an error: groups not yet started are not built
        return iter(())

    def _give(self, result: PieceResult, seq: int) -> int:
        """Give the writer what a worker built of the rows after the first `seq`; the rows counted after it."""
        places, prepared, quarantined, count = result
        if count == 0 or seq + count <= self.checkpoint:
            return seq + count  # committed by an earlier, interrupted run
        block = _Batch()
        if seq < self.checkpoint:
            kept = [i for i, (n, _, _) in enumerate(places) if seq + n > self.checkpoint]
            places = [places[i] for i in kept]
            prepared = [prepared[i] for i in kept]
            quarantined = [q for q in quarantined if seq + q[0] > self.checkpoint]
        block.places = [(row, locator) for _, row, locator in places]
        block.results = prepared
        block.quarantined = [
            {
                "source_file_id": self.source_id,
                "row": row,
                "locator": locator,
                "raw_text": raw_text,
                "reason": reason,
            }
            for _, row, locator, raw_text, reason in quarantined
        ]
        block.units = seq + count - max(seq, self.checkpoint)
        block.last_seq = seq + count
        assert self.writer is not None
        self.writer.put(block)
        return seq + count

    # -- building -----------------------------------------------------------------------------------------
    def _accept(self, item: Item) -> None:
        if item.seq <= self.checkpoint:
            return  # committed by an earlier, interrupted run
        block = self.batch
        block.units += 1
        block.last_seq = item.seq
        if item.error is not None:
            block.quarantined.append(self._quarantine(item, item.raw_text, item.error))
        elif self.media is not None:
            assert item.raw is not None
            values, problem = media_row(item.raw, self.media)
            if values is None:
                raw_text = " | ".join(f"{k}={v}" for k, v in item.raw.items())
                block.quarantined.append(self._quarantine(item, raw_text, problem or "unreadable row"))
            else:
                get = values.get
                block.media.append(
                    (self.seizure_id, self.source_id, item.row, *[get(field) for field in _MEDIA_FIELDS])
                )
        elif item.fields is None and not item.extra_records:  # a table row: the common case, kept short
            if self.plan_no not in block.plans:
                block.plans[self.plan_no] = self._plan_recipe()
            block.places.append((item.row, item.locator))
            block.jobs.append((self.plan_no, item.raw or {}))
        else:
            for element in (item, *item.extra_records):
                job = self._job(element)
                if job[0] >= 0 and job[0] not in block.plans:
                    block.plans[job[0]] = self._plan_recipe()
                block.places.append((element.row, element.locator))
                block.jobs.append(job)
        if block.units >= (self.batch_size * MEDIA_BLOCKS if self.media is not None else self.batch_size):
            self._dispatch(self.batch)
            self.batch = _Batch()

    def _quarantine(self, item: Item, raw_text: str | None, reason: str) -> dict[str, Any]:
        return {
            "source_file_id": self.source_id,
            "row": item.row,
            "locator": item.locator,
            "raw_text": raw_text,
            "reason": reason,
        }

    def _job(self, item: Item) -> Job:
        if item.fields is not None:
            return _structured_job(item)
        return (self.plan_no, item.raw or {})

    def _plan_recipe(self) -> Plan:
        assert self.plan is not None
        p = self.plan
        return (p.fields, p.unmapped, p.record_type, p.default_country, dict(self.date_orders))

    def _dispatch(self, block: _Batch) -> None:
        """Build the block's records, in worker processes when a pool is running, and commit blocks in order
        (on the writer thread then)."""
        if self.pool is None or self.writer is None:
            block.results = build_jobs(block.plans, block.jobs)
            self._commit([block])
            return
        jobs = block.jobs
        size = max(1, -(-len(jobs) // self.workers))
        block.futures = [
            self.pool.submit(build_jobs, block.plans, jobs[i : i + size]) for i in range(0, len(jobs), size)
        ]
        block.jobs = []  # sent; the worker's answer is all the commit needs
        self.writer.put(block)

    def _finish(self) -> None:
        self._dispatch(self.batch)
        self.batch = _Batch()

    def _mark_done(self) -> None:
        with self.store.session() as session:
            source = session.get_one(SourceFile, self.source_id)
            source.status = "done"
            source.finished_at = utcnow()
            types = set(self.report.by_type) | ({"media"} if self.report.media_items else set())
            source.record_type = ",".join(sorted(types))[:20] or None

    # -- writing ------------------------------------------------------------------------------------------
    def _commit(self, blocks: list[_Batch]) -> None:
        """Commit blocks (in file order) in one transaction with the file's counters and checkpoint."""
        done: list[tuple[_Batch, list[Prepared]]] = []
        for block in blocks:
            results = block.results
            if results is None:
                results = [prepared for future in block.futures for prepared in future.result()]
            done.append((block, results))
        records = sum(len(results) + len(block.media) for block, results in done)
        last_seq = max((block.last_seq for block in blocks if block.last_seq), default=0)
        with self.store.session() as session:
            connection = session.connection()
            if connection.dialect.name == "sqlite":
                # Bulk settings of this connection (they stay with it; both only trade memory or WAL size for
                # speed, neither weakens a commit): a 64 MiB page cache holds the indexes that grow with every
                # batch, and checkpoints every 40 MB of WAL instead of every 4 MB.
                connection.exec_driver_sql("PRAGMA cache_size = -65536")
                connection.exec_driver_sql("PRAGMA wal_autocheckpoint = 10000")
            # The file's counters and checkpoint first: on SQLite this write takes the database's write lock, so
            # the record ids chosen next cannot be taken by another writer before this transaction commits.
            connection.execute(
                update(SourceFile)
                .where(SourceFile.id == self.source_id)
                .values(
                    rows_read=SourceFile.rows_read + sum(block.units for block in blocks),
                    records=SourceFile.records + records,
                    rows_quarantined=SourceFile.rows_quarantined + sum(len(block.quarantined) for block in blocks),
                    checkpoint_row=last_seq if last_seq else SourceFile.checkpoint_row,
                )
            )
            for block, results in done:
                _write_records(connection, self.source_id, block.places, results)
                if block.quarantined:
                    session.execute(insert(QuarantinedRow), block.quarantined)
                if block.media:
                    _write_media(connection, block.media)
        for block, results in done:
            self.report.rows += block.units
            self.report.records += len(results) + len(block.media)
            self.report.quarantined += len(block.quarantined)
            self.report.by_type.update(record_type for record_type, *_ in results)
            self.report.media_items += len(block.media)
        if self.progress is not None:
            self.progress(self.file.path, self.report.rows)


_RECORD_COLUMNS = 'id, source_file_id, "row", locator, record_type, record_key, raw, fields, created_at'


def _record_ids(connection: Connection, count: int) -> list[int]:
    """Ids for `count` new records, so identifiers can name their record without asking for it back."""
    if connection.dialect.name == "postgresql":
        return list(
            connection.scalars(
                text("SELECT nextval(pg_get_serial_sequence('source_record', 'id')) FROM generate_series(1, :n)"),
                {"n": count},
            )
        )
    # SQLite gives a new row max(id) + 1; this transaction holds the write lock (see _commit), so these are free.
    first = (connection.scalar(text("SELECT max(id) FROM source_record")) or 0) + 1
    return list(range(first, first + count))


def _write_records(
    connection: Connection, source_id: int, places: list[tuple[int, str]], results: list[Prepared]
) -> None:
    """Insert records and their identifiers: COPY on PostgreSQL, the driver's executemany on SQLite.

    This is the hot path of a million-row ingest: SQLAlchemy's per-row parameter processing cost as much as
    the database itself, so values arrive prepared (JSON made by build_jobs, the timestamp once per batch)."""
    if not results:
        return
    ids = _record_ids(connection, len(results))
    # The stored form of "now" made once per batch, as the ORM would store it (text on SQLite).
    dialect = connection.dialect
    stamp_processor = SourceRecord.__table__.c.created_at.type.dialect_impl(dialect).bind_processor(dialect)
    stamp: Any = utcnow()
    if stamp_processor is not None:
        stamp = stamp_processor(stamp)
    records = [
        (record_id, source_id, row, locator, record_type, key, raw, fields, stamp)
        for record_id, (row, locator), (record_type, key, raw, fields, _) in zip(ids, places, results, strict=True)
    ]
    identifiers = [
        (record_id, kind, value) for record_id, (*_, found) in zip(ids, results, strict=True) for kind, value in found
    ]
    if connection.dialect.name == "postgresql":
        with connection.connection.driver_connection.cursor() as cursor:  # type: ignore[union-attr]
            with cursor.copy(f"COPY source_record ({_RECORD_COLUMNS}) FROM STDIN") as copy:
                for record in records:
                    copy.write_row(record)
            if identifiers:
                with cursor.copy("COPY identifier (record_id, kind, value) FROM STDIN") as copy:
                    for identifier in identifiers:
                        copy.write_row(identifier)
        return
    connection.exec_driver_sql(
        f"INSERT INTO source_record ({_RECORD_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", records
    )
    if identifiers:
        connection.exec_driver_sql("INSERT INTO identifier (record_id, kind, value) VALUES (?, ?, ?)", identifiers)


_MEDIA_FIELDS = ("path", "size", "md5", "sha1", "sha256", "pdq", "pdq_quality", "device", "custodian")
_MEDIA_COLUMNS = ("seizure_id", "source_file_id", "row", *_MEDIA_FIELDS, "created_at", "origin")


def _write_media(connection: Connection, rows: list[tuple[Any, ...]]) -> None:
    """Media hash-list rows (origin "list"): COPY on PostgreSQL, the driver's executemany on SQLite; a million
    through the ORM's bulk insert kept the reader waiting for most of a minute."""
    dialect = connection.dialect
    processor = MediaItem.__table__.c.created_at.type.dialect_impl(dialect).bind_processor(dialect)
    stamp: Any = utcnow()
    if processor is not None:
        stamp = processor(stamp)
    rows = [(*row, stamp, "list") for row in rows]
    if dialect.name == "postgresql":
        driver: Any = connection.connection.driver_connection
        statement = f"COPY media_item ({', '.join(_MEDIA_COLUMNS)}) FROM STDIN"
        with driver.cursor() as cursor, cursor.copy(statement) as copy:
            for row in rows:
                copy.write_row(row)
        return
    connection.exec_driver_sql(driver_insert(connection, "media_item", _MEDIA_COLUMNS), rows)


_CANONICAL_INPUT = frozenset(CANONICAL_FIELDS) - {"record_type"}


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
    parallel_min_bytes: int = PARALLEL_MIN_BYTES,
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
        report.files.append(_ingest_file(store, seizure.id, file, mapping, progress, batch_size, parallel_min_bytes))
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


def _start_worker(store: Store) -> None:
    """In a forked worker: drop the parent's pooled connections without closing them (they are the parent's),
    collect garbage rarely (see _fewer_collections), and leave when the ingest that started it is gone."""
    store.engine.dispose(close=False)
    gc.enable()  # the ingest forked it with the collector off (see _fewer_collections)
    gc.freeze()
    gc.set_threshold(_GC_YOUNG, *gc.get_threshold()[1:])
    threading.Thread(target=_leave_with_parent, args=(os.getppid(),), name="parent-watch", daemon=True).start()


def _leave_with_parent(parent: int) -> None:
    # A killed ingest (kill -9, out of memory) cannot stop its pool; forked workers would then wait for work
    # forever, each holding its memory. Orphans are re-parented, so a changed parent id means ours is gone.
    while os.getppid() == parent:
        time.sleep(1.0)
    os._exit(0)


# A million rows make tens of millions of short-lived objects. With the default threshold (700) the collector
# runs every few rows and keeps rescanning what is alive (caches, batches in flight): a fifth of the time.
_GC_YOUNG = 50_000


@contextmanager
def _fewer_collections(building: bool) -> Iterator[None]:
    """Collect garbage rarely while a file is read, then leave the collector as it was.

    Reading and writing make no reference cycles per row (reference counting frees everything), so when worker
    processes build the records the collector is off here until the file is done; the few cycles a batch
    leaves (a session's bookkeeping) wait for its next run. Where records are built (in this process when
    `building`, else in the workers, see _start_worker) parsers may make cycles, so it runs, rarely."""
    enabled, threshold = gc.isenabled(), gc.get_threshold()
    if building:
        gc.freeze()  # what exists already (modules, metadata, caches) is not rescanned
        gc.set_threshold(_GC_YOUNG, *threshold[1:])
    else:
        gc.disable()
    try:
        yield
    finally:
        if building:
            gc.set_threshold(*threshold)
            gc.unfreeze()
        elif enabled:
            gc.enable()


def _ingest_file(
    store: Store,
    seizure_id: int,
    file: SeizedFile,
    mapping: Mapping,
    progress: Progress | None,
    batch_size: int,
    parallel_min_bytes: int,
) -> FileReport:
    fp = fingerprint(file)
    rule = mapping.rule_for(file.path)
    # Workbooks, archives and media are binary containers: their text encoding is not a question.
    container = is_zip(fp.head) or is_media(fp.head) or fp.head.startswith(b"%PDF-")
    encoding = Encoding("utf-8") if container else detect_encoding(fp, rule.encoding if rule else None)
    fmt = sniff_format(file, fp, encoding)
    report = FileReport(file.path, "ingested", format=fmt, encoding=None if container else encoding.name)
    if encoding.mixed and fmt not in SKIP_FORMATS:
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
    workers = min(MAX_WORKERS, os.cpu_count() or 1)
    parallel = workers > 1 and fp.size >= parallel_min_bytes
    with _fewer_collections(building=not parallel):
        if parallel:
            norm.normalise_country("DE")  # builds the country index once, here, for every worker to inherit
            context = multiprocessing.get_context("fork")
            with ProcessPoolExecutor(workers, mp_context=context, initializer=_start_worker, initargs=(store,)) as pool:
                # Pieces of about a batch's rows, sized by the lines of the file's first 64 KiB.
                piece_size = max(256, min(PIECE_MAX, batch_size * len(fp.head) // max(1, fp.head.count(b"\n"))))
                _FileIngest(
                    store,
                    source,
                    file,
                    fmt,
                    encoding,
                    delimiter,
                    mapping,
                    report,
                    progress,
                    batch_size,
                    pool,
                    workers,
                    piece_size,
                ).run()
        else:
            _FileIngest(store, source, file, fmt, encoding, delimiter, mapping, report, progress, batch_size).run()
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
