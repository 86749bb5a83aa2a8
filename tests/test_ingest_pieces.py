"""Large delimited files are cut into pieces that worker processes read on their own: what they make must be
what one reader going through the file in order makes, stray quotes, quoted newlines and odd line endings
included."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from threadline.core.db import Store
from threadline.ingest import pipeline
from threadline.ingest.items import ESCAPE, Header, Item
from threadline.ingest.pieces import Piece, Uncut, can_cut, cut, lines, row_end
from threadline.ingest.readers.delimited import IrregularQuoting, read_rows
from threadline.model import QuarantinedRow, SourceFile, SourceRecord


def _serial(data: bytes) -> list[tuple[Any, ...]]:
    text = data.decode("utf-8", errors=ESCAPE)
    stream = io.StringIO(text, newline="")
    return [_key(e) for e in read_rows(iter(stream.readline, ""), "utf-8", ",")]


def _key(element: Header | Item) -> tuple[Any, ...]:
    if isinstance(element, Header):
        return ("header", tuple(element.columns))
    return (element.seq, element.row, element.locator, element.raw, element.raw_text, element.error)


def _in_pieces(data: bytes, size: int) -> tuple[list[tuple[Any, ...]], bool]:
    """What the pipeline does: pieces read on their own (the first finds the header, the others are given it),
    and from the first piece that is not regular (or where the file cannot be cut), one reader in order; from the
    header when the first piece holds only blank lines."""
    out: list[tuple[Any, ...]] = []
    header: list[str] | None = None
    seq = 0
    restart: tuple[int, int] | None = None
    try:
        for piece in cut(io.BytesIO(data), size):
            found: list[tuple[Any, ...]] = []
            try:
                for e in read_rows(
                    lines(piece.data.decode("utf-8", errors=ESCAPE)),
                    "utf-8",
                    ",",
                    header=header,
                    line=piece.line,
                    regular=True,
                ):
                    if isinstance(e, Header):
                        header = e.columns
                        found.append(_key(e))
                    else:
                        found.append((seq + e.seq, *_key(e)[1:]))
            except IrregularQuoting:
                restart = (piece.start, piece.line)
                break
            if header is None:  # blank lines fill the first piece
                restart = (0, 0)
                break
            out.extend(found)
            seq = max([seq] + [f[0] for f in found if f[0] != "header"])
    except Uncut as uncut:
        restart = (uncut.start, uncut.line)
    if restart is None:
        return out, False
    start, line = restart
    if start == 0:
        header = None  # from the header again, as the pipeline does
    text = data[start:].decode("utf-8", errors=ESCAPE)
    stream = io.StringIO(text, newline="")
    out.extend(_key(e) for e in read_rows(iter(stream.readline, ""), "utf-8", ",", header=header, line=line, seq=seq))
    return out, True


def test_a_piece_ends_after_an_even_number_of_quotes() -> None:
    data = b'id,note\n1,"two\nlines"\n2,plain\n3,"open\n'
    assert row_end(data, len(data)) == data.index(b"2,plain") + len(b"2,plain\n")
    assert row_end(data, data.index(b"lines")) == data.index(b"1,")  # not inside the quoted note
    assert row_end(b'"never closed\nat all\n', 100) is None


def test_lone_carriage_returns_are_not_cut() -> None:
    with pytest.raises(Uncut) as caught:
        list(cut(io.BytesIO(b"a,b\r1,2\r3,4\r"), 4))
    assert (caught.value.start, caught.value.line) == (0, 0)


def test_only_codecs_whose_line_endings_are_plain_bytes_are_cut() -> None:
    assert can_cut("utf-8") and can_cut("cp1252") and can_cut("shift_jis") and can_cut("koi8-r")
    assert not can_cut("utf-16") and not can_cut("utf-32-le") and not can_cut("iso2022_jp") and not can_cut("x")


def test_lines_are_what_a_text_stream_reads() -> None:
    text = "a,b\r\n1,\x0c2\n3,\u20284\nlast"
    assert lines(text) == list(iter(io.StringIO(text, newline="").readline, ""))


_FIELD = st.text(alphabet='ab ,"\n\r\u00e9', max_size=8)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    rows=st.lists(st.lists(_FIELD, min_size=1, max_size=4), min_size=1, max_size=25),
    ending=st.sampled_from(["\n", "\r\n"]),
    size=st.integers(1, 64),
    quoted=st.booleans(),
    blanks=st.lists(st.sampled_from(["", ",,,", " "]), max_size=6),
)
def test_pieces_read_what_one_reader_reads(
    rows: list[list[str]], ending: str, size: int, quoted: bool, blanks: list[str]
) -> None:
    """Rows written raw (stray quotes, bare newlines: broken files) or quoted as a CSV writer would."""
    out = []
    for row in rows:
        if quoted:
            out.append(",".join(f'"{f.replace(chr(34), chr(34) * 2)}"' if set(f) & set(',"\n\r') else f for f in row))
        else:
            out.append(",".join(row))
    data = "".join(b + ending for b in blanks) + "id,name,note,x" + ending + ending.join(out) + ending
    pieces, _ = _in_pieces(data.encode("utf-8"), size)
    assert pieces == _serial(data.encode("utf-8"))


def test_a_piece_ending_in_an_incomplete_character_is_read_in_order() -> None:
    """Decoded alone, an incomplete GB18030 or EUC-KR character just before the cut swallows the line ending
    that the reader in order keeps: such a piece is not built."""
    plans: dict[int, Any] = {1: ({"full_name": ["name"]}, ["x"], "customer", None, {})}
    for codec, data in (("gb18030", b"1,caf\xe91\n"), ("euc_kr", b"1,\xa4\xd4,a\n")):
        assert pipeline.build_piece(Piece(10, 1, data), codec, ",", ["id", "name", "x"], 1, plans) is None
    built = pipeline.build_piece(Piece(10, 1, b"1,caf\xe9\xa1,a\n"), "gb18030", ",", ["id", "name", "x"], 1, plans)
    assert built is not None and built[3] == 1


def test_a_first_piece_of_blank_lines_reads_the_whole_file_in_order() -> None:
    plans: dict[int, Any] = {1: ({"full_name": ["name"]}, [], "customer", None, {})}
    assert pipeline.build_piece(Piece(0, 0, b",,\n\n,,\n"), "utf-8", ",", None, 1, plans) is None
    assert pipeline.build_piece(Piece(0, 0, b",,\nid,name\n1,Ann\n"), "utf-8", ",", None, 1, plans) is not None


@settings(max_examples=200, deadline=None)
@given(data=st.binary(max_size=300), size=st.integers(1, 40))
def test_pieces_of_random_bytes_read_what_one_reader_reads(data: bytes, size: int) -> None:
    pieces, _ = _in_pieces(data, size)
    assert pieces == _serial(data)


def _written(store: Store, seizure_id: int) -> tuple[list[tuple[object, ...]], list[tuple[object, ...]]]:
    with store.session() as session:
        records = session.execute(
            select(SourceRecord.row, SourceRecord.locator, SourceRecord.raw, SourceRecord.fields)
            .join(SourceFile)
            .where(SourceFile.seizure_id == seizure_id)
            .order_by(SourceRecord.id)
        ).all()
        quarantined = session.execute(
            select(QuarantinedRow.row, QuarantinedRow.reason, QuarantinedRow.raw_text)
            .join(SourceFile)
            .where(SourceFile.seizure_id == seizure_id)
            .order_by(QuarantinedRow.id)
        ).all()
    return [tuple(r) for r in records], [tuple(r) for r in quarantined]


@pytest.mark.parametrize(
    "tail",
    [
        b"",
        b'41,Stray "Quote,s@example.com,1\n42,"Quoted\nNote",q@example.com,2\n',  # read in order from its piece
        b"43,Late,l@example.com,3\r",  # a lone carriage return: cannot be cut there
    ],
    ids=["regular", "stray-quote", "lone-cr"],
)
def test_a_file_read_in_pieces_is_written_as_when_read_in_order(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tail: bytes
) -> None:
    body = [b"id,name,email,n\n"]
    for i in range(1, 41):
        if i % 9 == 0:
            body.append(f'{i},"Multi\r\nLine {i}",m{i}@example.com,{i}\n'.encode())
        elif i % 7 == 0:
            body.append(f"{i},short\n".encode())
        else:
            body.append(f"{i},Person {i},p{i}@example.com,{i}\n".encode())
    data = b"".join(body) + tail + b"50,After,a@example.com,5\n"
    for name in ("serial", "pieces"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "people.csv").write_bytes(data)
    handed: list[int] = []
    original = pipeline._FileIngest._hand_over

    def counting(self: pipeline._FileIngest, piece: Any, future: Any, seq: int) -> int:
        handed.append(piece.start)
        return original(self, piece, future, seq)

    monkeypatch.setattr(pipeline._FileIngest, "_hand_over", counting)
    restarts: list[int] = []
    reader = pipeline.read_delimited

    def reading(*args: Any, **kwargs: Any) -> Any:
        if kwargs.get("start"):
            restarts.append(kwargs["start"])
        return reader(*args, **kwargs)

    monkeypatch.setattr(pipeline, "read_delimited", reading)
    serial = pipeline.ingest(store, tmp_path / "serial", operation="serial", parallel_min_bytes=1 << 40)
    pieces = pipeline.ingest(store, tmp_path / "pieces", operation="pieces", batch_size=4, parallel_min_bytes=0)
    assert [f.to_dict() | {"source_file_id": None} for f in serial.files] == [
        f.to_dict() | {"source_file_id": None} for f in pieces.files
    ]
    assert _written(store, serial.seizure_id) == _written(store, pieces.seizure_id)
    assert pieces.files[0].rows == 41 + (2 if b"Stray" in tail else 1 if tail else 0)
    assert len(handed) > 3 and handed[0] == 0  # cut into pieces, built by the workers
    # From the piece with the stray quote (or the lone carriage return) on, read in order.
    assert len(restarts) == (1 if tail else 0)
    assert all(data[start - 1 : start] == b"\n" and start <= data.index(tail or b"50,") for start in restarts)


def _mbox(messages: int) -> bytes:
    out = []
    for i in range(1, messages + 1):
        out.append(f"From sender{i}@example.com Mon Jan  3 10:00:00 2011\n")
        if i % 6 == 0:
            out.append("Subject: no sender, no recipient\n\nnothing\n\n")  # quarantined
            continue
        out.append(
            f"From: Person {i} <p{i}@example.com>\nTo: Shop <shop@example.invalid>\nCc: c{i}@example.org\n"
            f"Subject: Order {i}\nDate: Mon, 3 Jan 2011 10:00:00 +0000\nMessage-ID: <{i}@example.com>\n\n"
            f"Call me on +44 20 7946 {i:04d}.\n>From the start.\n\n"
        )
    return "".join(out).encode()


def test_mbox_messages_parsed_by_the_workers_are_written_as_when_read_in_order(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Worker processes parse groups of messages; a run that fails at its second commit resumes where it
    stopped, and ends with what one reader going through the file in order writes."""
    data = _mbox(40)
    for name in ("serial", "workers"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "mail.mbox").write_bytes(data)
    serial = pipeline.ingest(store, tmp_path / "serial", operation="serial", parallel_min_bytes=1 << 40)
    original = pipeline._FileIngest._commit
    calls = {"n": 0}

    def failing(self: pipeline._FileIngest, blocks: list[pipeline._Batch]) -> None:
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("simulated crash")
        original(self, blocks)

    monkeypatch.setattr(pipeline._FileIngest, "_commit", failing)
    with pytest.raises(RuntimeError, match="simulated crash"):
        pipeline.ingest(store, tmp_path / "workers", operation="workers", batch_size=4, parallel_min_bytes=0)
    with store.session() as session:
        source = session.scalars(select(SourceFile).where(SourceFile.path == "mail.mbox").order_by(SourceFile.id))
        interrupted = list(source)[-1]
        assert 4 <= interrupted.checkpoint_row < 40 and interrupted.rows_read == interrupted.checkpoint_row
    monkeypatch.setattr(pipeline._FileIngest, "_commit", original)
    resumed = pipeline.ingest(store, tmp_path / "workers", operation="workers", batch_size=4, parallel_min_bytes=0)
    (f,) = resumed.files
    assert f.status == "resumed"
    assert (f.rows, f.records, f.quarantined) == (serial.files[0].rows, serial.files[0].records, 6)
    assert _written(store, serial.seizure_id) == _written(store, resumed.seizure_id)


def test_a_stray_quote_in_the_first_piece_reads_the_whole_file_in_order(store: Store, tmp_path: Path) -> None:
    """The first piece holds the header: read in order from it again, the header is not a row and the date
    order warning is given once."""
    rows = ["name,country,date of birth", 'Ann "Nan Example,GB,03/04/1980']
    rows += [f"Us Person{i},US,{(i % 12) + 1:02d}/25/1980" for i in range(30)]
    rows += [f"De Person{i},DE,25/{(i % 12) + 1:02d}/1980" for i in range(30)]
    data = ("\n".join(rows) + "\n").encode()
    for name in ("serial", "pieces"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "people.csv").write_bytes(data)
    serial = pipeline.ingest(store, tmp_path / "serial", operation="serial", parallel_min_bytes=1 << 40)
    pieces = pipeline.ingest(store, tmp_path / "pieces", operation="pieces", batch_size=5, parallel_min_bytes=0)
    assert serial.files[0].warnings == pieces.files[0].warnings and len(pieces.files[0].warnings) == 1
    assert pieces.files[0].rows == 61
    assert _written(store, serial.seizure_id) == _written(store, pieces.seizure_id)


def test_blank_lines_before_the_header_longer_than_a_piece(store: Store, tmp_path: Path) -> None:
    """The header is not in the first piece: the file is read in order, and the header is not a row."""
    rows = b"".join(f"{i},P {i},p{i}@example.com,{i}\n".encode() for i in range(39))
    data = b",,,\n" * 80 + b"id,name,email,n\n" + rows
    for name in ("serial", "pieces"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "people.csv").write_bytes(data)
    serial = pipeline.ingest(store, tmp_path / "serial", operation="serial", parallel_min_bytes=1 << 40)
    pieces = pipeline.ingest(store, tmp_path / "pieces", operation="pieces", batch_size=4, parallel_min_bytes=0)
    assert (pieces.files[0].rows, pieces.files[0].records) == (39, 39)
    assert _written(store, serial.seizure_id) == _written(store, pieces.seizure_id)
