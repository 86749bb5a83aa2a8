"""Behaviour of the synthetic seizure generator: reproducible, fully accounted for, parseable, messy on purpose."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import mailbox
import unicodedata
from collections import defaultdict
from pathlib import Path

import numpy as np
import openpyxl
import pytest
import vobject
from PIL import Image

from threadline.synth import SynthReport, generate
from threadline.synth.customers import MAIN, REGIONAL
from threadline.synth.pdq import bits_to_hex, bits_to_hex_naive, hamming, pdq_of_bytes, pdq_of_image

PEOPLE, MEDIA = 300, 40
# The shared test data lies beside the repository (in CI too: a copy of shared/ next to the clone).
PDQ_REFERENCE = Path(__file__).resolve().parents[2] / "shared" / "testdata" / "pdq-reference"


def _digest_tree(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, SynthReport]:
    out = tmp_path_factory.mktemp("synth") / "a"
    return out, generate(out, PEOPLE, seed=11, media=MEDIA)


@pytest.fixture(scope="module")
def truth_records(run: tuple[Path, SynthReport]) -> dict[str, list[dict[str, str]]]:
    out, _ = run
    by_file: dict[str, list[dict[str, str]]] = defaultdict(list)
    with (out / "truth" / "records.csv").open(encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh):
            by_file[row["file"]].append(row)
    return by_file


def test_same_seed_gives_identical_bytes_and_another_seed_does_not(
    run: tuple[Path, SynthReport], tmp_path: Path
) -> None:
    out, _ = run
    again = tmp_path / "b"
    generate(again, PEOPLE, seed=11, media=MEDIA)
    assert _digest_tree(out) == _digest_tree(again)
    other = tmp_path / "c"
    generate(other, PEOPLE, seed=12, media=MEDIA)
    a, c = _digest_tree(out), _digest_tree(other)
    assert a["seizure/customers.csv"] != c["seizure/customers.csv"]
    assert a["seizure/orders.xlsx"] != c["seizure/orders.xlsx"]


def test_refuses_a_non_empty_output_folder(tmp_path: Path) -> None:
    (tmp_path / "x.txt").write_text("keep me")
    with pytest.raises(FileExistsError, match="not empty"):
        generate(tmp_path, 10, media=0)


def test_report_counts_match_truth(
    run: tuple[Path, SynthReport], truth_records: dict[str, list[dict[str, str]]]
) -> None:
    out, report = run
    assert report.people == PEOPLE
    assert report.records == {f: len(rows) for f, rows in truth_records.items()}
    assert report.malformed_rows == sum(r["malformed"] == "1" for rows in truth_records.values() for r in rows)
    assert report.media_files == MEDIA
    assert json.loads(json.dumps(report.to_dict()))["out"] == str(out)


def _locators(rows: list[dict[str, str]]) -> list[str]:
    return [r["locator"] for r in rows]


@pytest.mark.parametrize("spec", [MAIN, *REGIONAL], ids=lambda s: s.name)
def test_customer_files_parse_and_every_row_is_in_truth_once(
    run: tuple[Path, SynthReport], truth_records: dict[str, list[dict[str, str]]], spec: object
) -> None:
    from threadline.synth.customers import CustomerFile

    assert isinstance(spec, CustomerFile)
    out, _ = run
    with (out / "seizure" / spec.name).open(encoding=spec.encoding, newline="") as fh:
        rows = list(csv.reader(fh, delimiter=spec.delimiter))
    header, data = rows[0], rows[1:]
    assert len(header) == len(spec.headers)
    truth = truth_records[spec.name]
    assert _locators(truth) == [str(i) for i in range(1, len(data) + 1)]
    for row, t in zip(data, truth, strict=True):
        assert row[0] == t["source_record_id"]
        if len(row) != len(header):
            assert t["malformed"] == "1", (spec.name, t)
        if t["malformed"] == "0":
            assert t["person_id"]
    assert sum(t["malformed"] == "1" for t in truth) >= 2


def test_orders_workbook_rows_are_in_truth_once(
    run: tuple[Path, SynthReport], truth_records: dict[str, list[dict[str, str]]]
) -> None:
    out, _ = run
    wb = openpyxl.load_workbook(out / "seizure" / "orders.xlsx", read_only=True)
    assert wb.sheetnames == ["Orders", "Refunds"]
    seen = []
    for sheet in wb.sheetnames:
        for r, row in enumerate(wb[sheet].iter_rows(values_only=True), start=1):
            if r > 1:
                seen.append((f"{sheet}!{r}", row[0]))
    assert [(t["locator"], t["source_record_id"]) for t in truth_records["orders.xlsx"]] == seen
    assert wb.properties.modified.year == 2014  # fixed, not the wall clock


def test_mbox_vcf_jsonl_parse_and_match_truth(
    run: tuple[Path, SynthReport], truth_records: dict[str, list[dict[str, str]]]
) -> None:
    out, _ = run
    box = mailbox.mbox(out / "seizure" / "mail.mbox", create=False)
    ids = [m["Message-ID"] for m in box]
    assert ids == [t["source_record_id"] for t in truth_records["mail.mbox"]]
    assert _locators(truth_records["mail.mbox"]) == [str(i) for i in range(1, len(ids) + 1)]
    assert all(m["From"] and m["To"] and m["Date"] for m in box)

    text = (out / "seizure" / "contacts.vcf").read_text(encoding="utf-8")
    cards = list(vobject.readComponents(text))
    assert [c.uid.value for c in cards] == [t["source_record_id"] for t in truth_records["contacts.vcf"]]
    assert {c.version.value for c in cards} == {"3.0", "4.0"}

    lines = (out / "seizure" / "payments.jsonl").read_text(encoding="utf-8").splitlines()
    truth = truth_records["payments.jsonl"]
    assert len(lines) == len(truth)
    for line, t in zip(lines, truth, strict=True):
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            assert t["malformed"] == "1"
            continue
        assert t["malformed"] == "0" and record["payment_id"] == t["source_record_id"]
        assert record["method"] in ("card", "bank transfer", "crypto", "money transfer")


def test_every_person_in_records_exists_and_truth_files_cover_every_seizure_file(
    run: tuple[Path, SynthReport], truth_records: dict[str, list[dict[str, str]]]
) -> None:
    out, _ = run
    with (out / "truth" / "people.csv").open(encoding="utf-8") as fh:
        people = {r["person_id"]: r for r in csv.DictReader(fh)}
    assert len(people) == PEOPLE
    referenced = {r["person_id"] for rows in truth_records.values() for r in rows if r["person_id"]}
    assert referenced <= set(people)
    assert len(referenced) == PEOPLE  # everyone appears in at least one file
    files = {p.name for p in (out / "seizure").iterdir() if p.is_file()}
    assert files == set(truth_records)
    producers = {pid for pid, r in people.items() if r["producer"] == "1"}
    assert producers and producers <= {r["person_id"] for r in truth_records["media_hashes.csv"] if r["person_id"]}


def _scripts(text: str) -> set[str]:
    return {unicodedata.name(c, "?").split()[0] for c in text if c.isalpha()}


def test_at_least_fifty_countries_and_many_scripts(run: tuple[Path, SynthReport]) -> None:
    out, report = run
    with (out / "truth" / "people.csv").open(encoding="utf-8") as fh:
        people = list(csv.DictReader(fh))
    assert report.countries >= 50
    assert len({p["country"] for p in people}) >= 50
    scripts = set().union(*(_scripts(p["given_name"] + p["family_name"]) for p in people))
    assert {"LATIN", "CYRILLIC", "GREEK", "CJK", "HANGUL", "HEBREW"} <= scripts
    with_region = [p for p in people if p["region"]]
    assert all(p["region"].startswith(p["country"] + "-") for p in with_region)
    assert sum(p["access_to_children"] == "1" for p in people) >= 5


def test_the_same_person_is_written_differently_across_files(
    run: tuple[Path, SynthReport], truth_records: dict[str, list[dict[str, str]]]
) -> None:
    out, _ = run
    names: dict[str, set[str]] = defaultdict(set)
    emails: dict[str, set[str]] = defaultdict(set)
    for spec in (MAIN, *REGIONAL):
        with (out / "seizure" / spec.name).open(encoding=spec.encoding, newline="") as fh:
            rows = list(csv.DictReader(fh, delimiter=spec.delimiter))
        header = dict(spec.headers)
        for row, t in zip(rows, truth_records[spec.name], strict=True):
            if t["person_id"] and "first_name" in header:
                names[t["person_id"]].add(f"{row[header['first_name']]} {row[header['last_name']]}")
                emails[t["person_id"]].add(row[header["email"]] or "")
    assert sum(len(v) > 1 for v in names.values()) >= 10
    assert sum(len(v) > 1 for v in emails.values()) >= 5


def test_no_two_people_share_a_mailbox() -> None:
    """Distinct people never get addresses that reach one mailbox (Gmail ignores dots in the local part)."""
    import datetime as dt
    import random

    from threadline.synth.people import _Identities
    from threadline.synth.pools import Name

    identities = _Identities(random.Random(3))
    given, family = Name("Jeremy", "Jeremy"), Name("Smith", "Smith")
    boxes: set[str] = set()
    for _ in range(400):
        local, _, domain = identities.email(given, family, dt.date(1980, 1, 1), ["gmail.com"]).partition("@")
        box = (local.replace(".", "") if domain == "gmail.com" else local) + "@" + domain
        assert box not in boxes
        boxes.add(box)


def test_media_statuses_agree_with_the_known_set(run: tuple[Path, SynthReport]) -> None:
    out, _ = run
    vics = json.loads((out / "known" / "vics.json").read_text(encoding="utf-8"))
    assert vics["odata.metadata"].endswith("$metadata#Media")
    pdq_lines = (out / "known" / "pdq.txt").read_text(encoding="ascii").splitlines()
    assert len(pdq_lines) == len(vics["value"])
    known_pdq = {v["MediaID"]: line.split(",")[0] for v, line in zip(vics["value"], pdq_lines, strict=True)}
    known_md5 = {v["MD5"].lower(): v["MediaID"] for v in vics["value"]}
    with (out / "seizure" / "media_hashes.csv").open(encoding="utf-8") as fh:
        listed = {r["path"]: r for r in csv.DictReader(fh)}
    with (out / "truth" / "media.csv").open(encoding="utf-8") as fh:
        media = list(csv.DictReader(fh))
    assert {m["status"] for m in media} == {"known-exact", "known-near", "novel"}
    assert len(vics["value"]) > 10 * sum(m["status"] != "novel" for m in media)  # matches are a small fraction
    for m in media:
        data = (out / "seizure" / m["path"]).read_bytes()
        md5 = hashlib.md5(data).hexdigest()
        pdq, _ = pdq_of_bytes(data)
        assert listed[m["path"]]["md5"] == md5 and listed[m["path"]]["pdq"] == pdq
        assert listed[m["path"]]["size"] == str(len(data))
        with Image.open(io.BytesIO(data)) as img:
            assert max(img.size) <= 320
        if m["status"] == "known-exact":
            assert known_md5[md5] == int(m["known_media_id"])
        elif m["status"] == "known-near":
            assert md5 not in known_md5
            assert hamming(pdq, known_pdq[int(m["known_media_id"])]) <= 31
        else:
            assert md5 not in known_md5
            assert min(hamming(pdq, k) for k in known_pdq.values()) > 31
        if m["uploader_person_id"]:
            assert m["status"] == "novel" and m["path"].startswith("media/uploads/")
            assert listed[m["path"]]["custodian"] == m["path"].split("/")[2]


def _reference_rows() -> list[tuple[str, str]]:
    with (PDQ_REFERENCE / "expected-pdq.csv").open(encoding="utf-8") as fh:
        return [(r["pdq_hex"], r["path"]) for r in csv.DictReader(fh)]


@pytest.mark.skipif(not PDQ_REFERENCE.exists(), reason="PDQ reference vectors not available")
@pytest.mark.parametrize(
    "name", ["images/dih/bridge-1-original.jpg", "images/pen-and-coaster.png", "images/labelme-subset/q0122.jpg"]
)
def test_pdq_matches_the_reference_hasher(name: str) -> None:
    expected = dict((p, h) for h, p in _reference_rows())[name]
    with Image.open(PDQ_REFERENCE / name) as img:
        ours, quality = pdq_of_image(img)
    assert quality >= 80
    assert hamming(ours, expected) <= 10


def test_fast_and_naive_bit_packing_agree() -> None:
    rng = np.random.default_rng(3)
    for _ in range(50):
        bits = rng.integers(0, 2, 256)
        assert bits_to_hex(bits) == bits_to_hex_naive(bits)


def test_parallel_media_generation_gives_the_same_bytes_as_sequential() -> None:
    from threadline.synth.media import MediaJob, make_all

    jobs = [(MediaJob(f"t:{i}", "novel"), i % 3 == 0) for i in range(64)]
    sequential = make_all(jobs, workers=1)
    parallel = make_all(jobs, workers=2)
    assert [(r.blob.sha256, r.near.sha256 if r.near else "") for r in sequential] == [
        (r.blob.sha256, r.near.sha256 if r.near else "") for r in parallel
    ]
