"""Property-based tests of the readers: random bytes never crash them, random tables lose no row."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from threadline.core.errors import ThreadlineError
from threadline.ingest.items import Header, Item
from threadline.ingest.readers.delimited import read_delimited
from threadline.ingest.readers.jsondata import read_json, read_json_lines
from threadline.ingest.readers.mail import read_eml, read_mbox
from threadline.ingest.readers.vcard import read_vcards
from threadline.ingest.readers.workbook import read_workbook
from threadline.ingest.sniff import detect_encoding, fingerprint, guess_delimiter, sniff_format
from threadline.ingest.sources import SeizedFile, walk_seizure

FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def _file(tmp_path: Path, name: str, data: bytes) -> SeizedFile:
    path = tmp_path / name
    path.write_bytes(data)
    return SeizedFile(name, path, len(data))


def _finder(text: str) -> tuple[list[str], list[str]]:
    return [], []


@FAST
@given(data=st.binary(max_size=3000))
def test_random_bytes_never_escape_as_exceptions(tmp_path: Path, data: bytes) -> None:
    file = _file(tmp_path, "random.bin", data)
    fp = fingerprint(file)
    encoding = detect_encoding(fp)
    sniff_format(file, fp, encoding)
    readers = [
        lambda: read_delimited(file, encoding.name, guess_delimiter(data.decode("latin-1")) or ","),
        lambda: read_json(file, "utf-8"),
        lambda: read_json_lines(file, encoding.name),
        lambda: read_mbox(file, _finder),
        lambda: read_eml(file, _finder),
        lambda: read_vcards(file, encoding.name),
        lambda: read_workbook(file),
    ]
    for reader in readers:
        try:
            for element in reader():
                assert isinstance(element, Header | Item)
        except ThreadlineError:
            pass


cell = st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00\r"), max_size=12)


@FAST
@given(
    rows=st.lists(st.lists(cell, min_size=3, max_size=3), min_size=1, max_size=25),
    delimiter=st.sampled_from([",", ";", "\t", "|"]),
    encoding=st.sampled_from(["utf-8", "utf-16", "utf-8-sig"]),
)
def test_random_tables_lose_no_row(tmp_path: Path, rows: list[list[str]], delimiter: str, encoding: str) -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter, lineterminator="\n")
    writer.writerow(["alpha", "beta", "gamma"])
    writer.writerows(rows)
    file = _file(tmp_path, "table.csv", buffer.getvalue().encode(encoding))
    fp = fingerprint(file)
    detected = detect_encoding(fp)
    items = [e for e in read_delimited(file, detected.name, delimiter) if isinstance(e, Item)]
    expected = [r for r in rows if any(c.strip() for c in r)]
    assert len(items) == len(expected)
    for item, row in zip(items, expected, strict=True):
        assert item.error is None
        assert item.raw == {"alpha": row[0], "beta": row[1], "gamma": row[2]}


@FAST
@given(lines=st.lists(st.one_of(st.just('{"a": 1}'), st.just("not json"), st.just("[1]"), st.just("")), max_size=20))
def test_json_lines_account_for_every_line(tmp_path: Path, lines: list[str]) -> None:
    file = _file(tmp_path, "x.jsonl", "\n".join(lines).encode())
    items = [e for e in read_json_lines(file, "utf-8") if isinstance(e, Item)]
    assert len(items) == sum(1 for line in lines if line.strip())
    assert sum(1 for i in items if i.error is None) == lines.count('{"a": 1}')


def test_walk_refuses_symlinks_and_lists_hidden_files(tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_text("x\n1\n")
    (tmp_path / ".hidden.csv").write_text("x\n1\n")
    (tmp_path / "link.csv").symlink_to(tmp_path / "a.csv")
    walk = walk_seizure(tmp_path)
    assert [f.path for f in walk.files] == ["a.csv"]
    reasons = {s.path: s.reason for s in walk.skipped}
    assert "symbolic link" in reasons["link.csv"] and "hidden" in reasons[".hidden.csv"]
