"""Referral packages between two installations: the originator (CA) writes them, the receiver (DE) verifies
and opens them. Round trip, contents, schema, tampering, wrong keys, unexpected signers, missing keys,
idempotency and the CLI (SQLite and PostgreSQL)."""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import json
import shutil
import subprocess
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from jsonschema import Draft202012Validator  # type: ignore[import-untyped]
from pyrage import x25519
from sqlalchemy import func, select
from typer.testing import CliRunner

from refer_builder import T0, Person, agency, build_operation, second_store
from threadline.cli.app import app
from threadline.core.db import Store
from threadline.directory import seed_national_agencies
from threadline.model import AuditEvent, Lead, LeadEvent, ReferralPackage
from threadline.refer import PackageRefused, ReferSettings, open_package, refer, verify_package
from threadline.refer.keys import (
    encrypt_bytes,
    export_keys,
    generate_keys,
    import_keys,
    load_identity,
    load_signing_private,
    sign_bytes,
)
from threadline.refer.package import CSV_COLUMNS, schema_errors

REPO = Path(__file__).resolve().parent.parent
PEOPLE = [
    Person(
        "Ada",
        "Brandt",
        "DE",
        tier="very_high",
        score=91,
        emails=["ada@example.invalid"],
        phones=["+4915112345678"],
        media={"known-exact": 2, "novel": 1},
    ),
    Person("Bert", "Kohl", "DE", tier="medium", score=40, emails=["bert@example.invalid"]),
    Person("Chloé", "Martin", "FR", tier="low", score=12),
]


@dataclass
class Pair:
    """Two installations that exchanged public keys: CA originates, DE receives. FR has no key at CA."""

    origin: Store
    receiver: Store
    de_identity: Path
    ca_signing: Path
    tmp: Path


def _keys(store: Store, code: str) -> dict[str, str]:
    with store.session() as session:
        seed_national_agencies(session)
        return generate_keys(store.settings, session, agency(session, code), actor="test").to_dict()


def _exchange(source: Store, code: str, target: Store, tmp: Path) -> None:
    path = tmp / f"{code}-{id(source)}.pub"
    with source.session() as session:
        path.write_text(export_keys(session, agency(session, code)))
    with target.session() as session:
        seed_national_agencies(session)
        import_keys(session, agency(session, code), path, actor="test")


@pytest.fixture
def pair(store: Store, db_url: str, tmp_path: Path) -> Iterator[Pair]:
    with second_store(db_url, tmp_path / "receiver-home") as receiver:
        ca = _keys(store, "CA")
        de = _keys(receiver, "DE")
        _exchange(store, "CA", receiver, tmp_path)
        _exchange(receiver, "DE", store, tmp_path)
        with store.session() as session:
            build_operation(session, PEOPLE)
        yield Pair(store, receiver, Path(de["age_identity_file"]), Path(ca["signing_key_file"]), tmp_path)


def _refer(pair: Pair) -> Path:
    report = refer(pair.origin, ReferSettings(actor="analyst", now=T0, out=pair.tmp / "outbox"))
    assert [p.agency for p in report.packages] == ["DE"]
    return report.packages[0].path


def _unpack(path: Path, identity: Path) -> dict[str, bytes]:
    from pyrage import decrypt

    archive = zipfile.ZipFile(io.BytesIO(decrypt(path.read_bytes(), load_identity(identity))))
    return {name: archive.read(name) for name in archive.namelist()}


def _repack(pair: Pair, files: dict[str, bytes], out: Path, *, resign_with: Path | None = None) -> Path:
    """A package rebuilt from `files` (changed by the test), re-encrypted to DE; re-signed when asked."""
    if resign_with is not None:
        signature = json.loads(files["manifest.sig"])
        signature["signature"] = base64.b64encode(
            sign_bytes(load_signing_private(resign_with), files["manifest.json"])
        ).decode()
        files["manifest.sig"] = json.dumps(signature).encode()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    recipient = str(load_identity(pair.de_identity)[0].to_public())
    out.write_bytes(encrypt_bytes(buffer.getvalue(), [recipient]))
    return out


def _incoming(store: Store) -> int:
    with store.session() as session:
        return int(session.scalar(select(func.count()).select_from(Lead).where(Lead.direction == "incoming")) or 0)


def test_refer_writes_an_encrypted_signed_package_and_lists_the_agency_without_a_key(pair: Pair) -> None:
    report = refer(pair.origin, ReferSettings(actor="analyst", now=T0, out=pair.tmp / "outbox"))
    assert report.leads_new == 3 and report.leads_sent == 2
    assert report.agencies_without_keys == {"FR": 1}
    package = report.packages[0]
    assert package.path.name.startswith("DE-") and package.path.name.endswith(".tlref.age")
    data = package.path.read_bytes()
    assert data.startswith(b"age-encryption.org/v1")
    assert b"Brandt" not in data and b"ada@example" not in data  # never plaintext
    assert hashlib.sha256(data).hexdigest() == package.sha256
    with pair.origin.session() as session:
        de, fr = agency(session, "DE"), agency(session, "FR")
        sent = list(session.scalars(select(Lead).where(Lead.agency_id == de.id)))
        assert {lead.status for lead in sent} == {"sent"}
        assert all(lead.due_at == lead.ack_due_at and lead.sent_at == T0 for lead in sent)
        kinds = [e.kind for e in session.scalars(select(LeadEvent).where(LeadEvent.lead_id == sent[0].id))]
        assert kinds == ["created", "sent"]
        waiting = session.scalars(select(Lead).where(Lead.agency_id == fr.id)).one()
        assert (waiting.status, waiting.package_id) == ("created", None)
        row = session.scalars(select(ReferralPackage)).one()
        assert (row.direction, row.lead_count, row.sha256, row.recipients) == (
            "outgoing",
            2,
            package.sha256,
            list(package.recipients),
        )
        assert "package.write" in set(session.scalars(select(AuditEvent.action)))
    # A rerun after FR's keys arrive packages FR only; nothing is referred twice.
    fr_identity = x25519.Identity.generate()
    (pair.tmp / "fr.pub").write_text(f"agency: FR\nage: {fr_identity.to_public()}\n")
    with pair.origin.session() as session:
        import_keys(session, agency(session, "FR"), pair.tmp / "fr.pub", actor="test")
    again = refer(pair.origin, ReferSettings(actor="analyst", out=pair.tmp / "outbox"))
    assert (again.leads_new, again.leads_existing, again.agencies_without_keys) == (0, 3, {})
    assert [(p.agency, p.leads) for p in again.packages] == [("FR", 1)]
    assert refer(pair.origin, ReferSettings(actor="analyst", out=pair.tmp / "outbox")).packages == []


def test_packages_sealed_in_worker_processes_are_the_same_packages(pair: Pair) -> None:
    """With worker processes (as a big operation gets them), every agency still gets one package that opens,
    and the leads and events are exactly those of the one-process path."""
    fr_identity = x25519.Identity.generate()
    (pair.tmp / "fr.pub").write_text(f"agency: FR\nage: {fr_identity.to_public()}\n")
    with pair.origin.session() as session:
        import_keys(session, agency(session, "FR"), pair.tmp / "fr.pub", actor="test")
    report = refer(pair.origin, ReferSettings(actor="analyst", now=T0, out=pair.tmp / "outbox", workers=2))
    assert sorted((p.agency, p.leads) for p in report.packages) == [("DE", 2), ("FR", 1)]
    assert report.leads_sent == 3 and report.agencies_without_keys == {}
    with pair.origin.session() as session:
        leads = list(session.scalars(select(Lead)))
        assert {lead.status for lead in leads} == {"sent"} and all(lead.package_id for lead in leads)
        assert all(lead.subject_snapshot and lead.subject_snapshot["subject"]["full_name"] for lead in leads)
        kinds = sorted(e.kind for e in session.scalars(select(LeadEvent)))
        assert kinds == ["created"] * 3 + ["sent"] * 3
    de = next(p for p in report.packages if p.agency == "DE")
    files = _unpack(de.path, pair.de_identity)
    assert {lead["subject"]["family_name"] for lead in json.loads(files["leads.json"])["leads"]} == {"Brandt", "Kohl"}
    opened = open_package(pair.receiver, de.path, identity=pair.de_identity, actor="receiver")
    assert opened.leads_new == 2


def test_a_worker_that_dies_stops_refer_with_a_clear_error_and_sends_nothing_twice(
    pair: Pair, monkeypatch: pytest.MonkeyPatch
) -> None:
    import refer_builder
    from threadline.core.errors import ConflictError
    from threadline.refer import pipeline as refer_pipeline

    monkeypatch.setattr(refer_pipeline, "seal_package", refer_builder.crash_seal)
    with pytest.raises(ConflictError, match="worker process sealing packages stopped"):
        refer(pair.origin, ReferSettings(actor="analyst", now=T0, out=pair.tmp / "outbox", workers=1))
    with pair.origin.session() as session:
        assert {lead.status for lead in session.scalars(select(Lead))} == {"created"}
    monkeypatch.undo()
    again = refer(pair.origin, ReferSettings(actor="analyst", now=T0, out=pair.tmp / "outbox", workers=1))
    assert [(p.agency, p.leads) for p in again.packages] == [("DE", 2)]


def test_the_package_holds_documented_files_that_match_the_signed_manifest(pair: Pair) -> None:
    files = _unpack(_refer(pair), pair.de_identity)
    assert set(files) == {
        "manifest.json",
        "manifest.sig",
        "README.txt",
        "leads.json",
        "leads.csv",
        "case.jsonld",
        "index.html",
        "schema/leads.schema.json",
        *(f"leads/{uid}.html" for uid in [lead["uid"] for lead in json.loads(files["leads.json"])["leads"]]),
    }
    manifest = json.loads(files["manifest.json"])
    for entry in manifest["files"]:
        assert hashlib.sha256(files[entry["path"]]).hexdigest() == entry["sha256"]
        assert len(files[entry["path"]]) == entry["size"]
    assert (manifest["sender"]["code"], manifest["recipient"]["code"], manifest["lead_count"]) == ("CA", "DE", 2)
    signature = base64.b64decode(json.loads(files["manifest.sig"])["signature"])
    load_signing_private(pair.ca_signing).public_key().verify(signature, files["manifest.json"])

    document = json.loads(files["leads.json"])
    schema = json.loads((REPO / "schemas" / "leads.schema.json").read_text(encoding="utf-8"))
    Draft202012Validator.check_schema(schema)
    assert list(Draft202012Validator(schema).iter_errors(document)) == []
    assert files["schema/leads.schema.json"] == (REPO / "schemas" / "leads.schema.json").read_bytes()
    ada = next(lead for lead in document["leads"] if lead["subject"]["family_name"] == "Brandt")
    assert (ada["tier"], ada["handling_code"], ada["status"], ada["hop"]) == ("very_high", "H0", "sent", 0)
    assert ada["ack_due_at"] == "2026-03-03T09:00:00Z" and ada["action_due_at"] == "2026-03-09T09:00:00Z"
    email = next(i for i in ada["subject"]["identifiers"] if i["kind"] == "email")
    assert email["value"] == "ada@example.invalid"
    assert (email["sources"][0]["file"], email["sources"][0]["row"]) == ("customers.csv", 2)
    assert ada["subject"]["media"] == {"items": 3, "verdicts": {"known-exact": 2, "novel": 1}}
    assert ada["subject"]["jurisdiction"]["claims"][0]["file"] == "customers.csv"
    assert ada["subject"]["risk"]["factors"][0]["evidence"][0]["row"] == 2
    assert [e["kind"] for e in ada["events"]] == ["created", "sent"]
    assert b"media/" not in files["leads.json"]  # counts only, never a media path

    rows = list(csv.DictReader(io.StringIO(files["leads.csv"].decode())))
    assert tuple(rows[0]) == CSV_COLUMNS and {r["agency"] for r in rows} == {"DE"}

    page = files[f"leads/{ada['uid']}.html"].decode()
    for expected in ("Ada Brandt", "ada@example.invalid", "customers.csv, row 2", "Handling code H0", "Works with"):
        assert expected in page
    assert "2 known-exact" in page and "<img" not in page and "media/" not in page


def test_leads_json_schema_refuses_what_breaks_it(pair: Pair) -> None:
    files = _unpack(_refer(pair), pair.de_identity)
    validator = Draft202012Validator(json.loads(files["schema/leads.schema.json"]))
    document = json.loads(files["leads.json"])
    assert schema_errors(document) == []
    document["leads"][0]["tier"] = "urgent"
    del document["leads"][1]["subject"]["identifiers"]
    document["surprise"] = True
    reference = sorted("/".join(map(str, e.absolute_path)) for e in validator.iter_errors(document))
    assert reference == ["", "leads/0/tier", "leads/1/subject"]
    # The fast validator used when opening packages finds the same faults as the reference jsonschema.
    assert sorted(line.split(": ")[0].replace("(top)", "") for line in schema_errors(document)) == reference


def test_the_packaged_schema_and_the_repository_copy_are_the_same() -> None:
    packaged = REPO / "src" / "threadline" / "refer" / "data" / "leads.schema.json"
    assert packaged.read_bytes() == (REPO / "schemas" / "leads.schema.json").read_bytes()


def test_case_jsonld_is_valid_case_uco(pair: Pair) -> None:
    case_validate = pytest.importorskip("case_utils.case_validate")
    files = _unpack(_refer(pair), pair.de_identity)
    graph = pair.tmp / "case.jsonld"
    graph.write_bytes(files["case.jsonld"])
    result = case_validate.validate(str(graph), case_version="case-1.5.0", allow_warnings=False)
    assert result.conforms, result.text
    assert not result.undefined_concepts
    nodes = json.loads(files["case.jsonld"])["@graph"]
    types = {node["@type"] for node in nodes}
    assert {"identity:Person", "observable:EmailAddress", "observable:File", "investigation:ProvenanceRecord"} <= types
    assert sum(1 for node in nodes if node["@type"] == "identity:Person") == 2


def test_the_receiver_opens_the_package_once_and_idempotently(pair: Pair) -> None:
    path = _refer(pair)
    check = verify_package(pair.receiver, path, identity=pair.de_identity, actor="investigator")
    assert (check.sender["code"], check.recipient["code"], check.lead_count) == ("CA", "DE", 2)
    assert _incoming(pair.receiver) == 0  # verify imports nothing
    report = open_package(pair.receiver, path, identity=pair.de_identity, actor="investigator")
    assert (report.leads_new, report.leads_existing, report.already_opened) == (2, 0, False)
    with pair.origin.session() as session:
        sent = {lead.uid: lead for lead in session.scalars(select(Lead).where(Lead.status == "sent"))}
        sent_events = {e.uid for e in session.scalars(select(LeadEvent))}
    with pair.receiver.session() as session:
        incoming = list(session.scalars(select(Lead).where(Lead.direction == "incoming")))
        assert {lead.uid for lead in incoming} == set(sent)
        for lead in incoming:
            origin = sent[lead.uid]
            assert (lead.status, lead.tier, lead.score, lead.subject_id) == ("sent", origin.tier, origin.score, None)
            assert lead.agency_id == agency(session, "DE").id
            assert lead.originating_agency_id == agency(session, "CA").id
            assert lead.ack_due_at == origin.ack_due_at and lead.due_at == origin.ack_due_at
            assert lead.subject_snapshot is not None
            assert lead.subject_snapshot["subject"]["full_name"] in ("Ada Brandt", "Bert Kohl")
            events = list(session.scalars(select(LeadEvent).where(LeadEvent.lead_id == lead.id)))
            assert [(e.kind, e.origin) for e in events] == [
                ("created", "imported"),
                ("sent", "imported"),
                ("received", "local"),
            ]
            assert {e.uid for e in events[:2]} <= sent_events
        package = session.scalars(select(ReferralPackage)).one()
        assert (package.direction, package.lead_count) == ("incoming", 2)
    again = open_package(pair.receiver, path, identity=pair.de_identity, actor="investigator")
    assert (again.leads_new, again.leads_existing, again.already_opened) == (0, 2, True)
    assert _incoming(pair.receiver) == 2
    with pair.receiver.session() as session:
        actions = list(session.scalars(select(AuditEvent.action).order_by(AuditEvent.seq)))
    assert actions.count("package.open") == 2 and actions.count("package.verify") == 1


def test_the_originator_cannot_open_its_own_package(pair: Pair) -> None:
    path = _refer(pair)
    _exchange(pair.receiver, "DE", pair.origin, pair.tmp)  # already known: nothing changes
    with pair.origin.session() as session:
        generate_keys(pair.origin.settings, session, agency(session, "GB"), actor="test")
    with pytest.raises(PackageRefused, match=r"no signing key of sender CA|this installation wrote this package"):
        open_package(pair.origin, path, identity=pair.de_identity)


def _refused(
    pair: Pair,
    path: Path,
    match: str,
    *,
    identity: Path | None = None,
    as_agency: str | None = None,
    expect_sender: str | None = None,
) -> None:
    with pytest.raises(PackageRefused, match=match) as caught:
        open_package(
            pair.receiver,
            path,
            identity=identity or pair.de_identity,
            as_agency=as_agency,
            expect_sender=expect_sender,
        )
    assert "nothing was imported" in caught.value.message
    assert _incoming(pair.receiver) == 0
    with pair.receiver.session() as session:
        refused = session.scalars(select(AuditEvent).where(AuditEvent.action == "package.open.refused")).all()
        assert refused and match.split("|")[0].split("(")[0][:20] in refused[-1].details["reason"]


def test_a_damaged_encrypted_file_is_refused(pair: Pair) -> None:
    path = _refer(pair)
    data = bytearray(path.read_bytes())
    data[-100] ^= 0x01
    damaged = pair.tmp / "damaged.tlref.age"
    damaged.write_bytes(bytes(data))
    _refused(pair, damaged, "damaged or was altered")


def test_a_changed_file_inside_is_refused(pair: Pair) -> None:
    files = _unpack(_refer(pair), pair.de_identity)
    files["leads.json"] = files["leads.json"].replace(b"Brandt", b"Brand ")
    _refused(pair, _repack(pair, files, pair.tmp / "changed.tlref.age"), "leads.json was changed after signing")


def test_a_changed_manifest_is_refused_by_its_signature(pair: Pair) -> None:
    files = _unpack(_refer(pair), pair.de_identity)
    files["leads.json"] = files["leads.json"].replace(b"Brandt", b"Brand ")
    manifest = json.loads(files["manifest.json"])
    for entry in manifest["files"]:
        if entry["path"] == "leads.json":
            entry["sha256"] = hashlib.sha256(files["leads.json"]).hexdigest()
    files["manifest.json"] = json.dumps(manifest).encode()
    _refused(pair, _repack(pair, files, pair.tmp / "forged.tlref.age"), "signature does not verify")


def test_a_signed_package_whose_leads_break_the_schema_is_refused(pair: Pair) -> None:
    files = _unpack(_refer(pair), pair.de_identity)
    document = json.loads(files["leads.json"])
    document["leads"][0]["tier"] = "urgent"
    files["leads.json"] = json.dumps(document).encode()
    manifest = json.loads(files["manifest.json"])
    for entry in manifest["files"]:
        if entry["path"] == "leads.json":
            entry.update(sha256=hashlib.sha256(files["leads.json"]).hexdigest(), size=len(files["leads.json"]))
    files["manifest.json"] = json.dumps(manifest).encode()
    signed = _repack(pair, files, pair.tmp / "schema.tlref.age", resign_with=pair.ca_signing)
    _refused(pair, signed, "leads.json does not match its schema: leads/0/tier")


def test_an_extra_or_missing_file_is_refused(pair: Pair) -> None:
    files = _unpack(_refer(pair), pair.de_identity)
    extra = dict(files, **{"notes.txt": b"added later"})
    _refused(pair, _repack(pair, extra, pair.tmp / "extra.tlref.age"), "files the manifest does not list")
    missing = {k: v for k, v in files.items() if k != "leads.csv"}
    _refused(pair, _repack(pair, missing, pair.tmp / "missing.tlref.age"), "are missing")


def test_the_wrong_key_is_refused(pair: Pair) -> None:
    path = _refer(pair)
    stranger = pair.tmp / "stranger.txt"
    stranger.write_text(f"{x25519.Identity.generate()}\n")
    _refused(pair, path, "not encrypted to the identity given", identity=stranger)


def test_a_signature_from_another_agency_is_refused(pair: Pair) -> None:
    files = _unpack(_refer(pair), pair.de_identity)
    gb = _keys(pair.origin, "GB")
    _exchange(pair.origin, "GB", pair.receiver, pair.tmp)
    forged = _repack(pair, files, pair.tmp / "gb.tlref.age", resign_with=Path(gb["signing_key_file"]))
    _refused(pair, forged, "names CA as sender but is signed with the key of agency GB")
    # A key nobody imported: just does not verify.
    rogue = pair.tmp / "rogue.pem"
    from cryptography.hazmat.primitives import serialization

    rogue.write_bytes(
        Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    rogue.chmod(0o600)
    files = _unpack(_refer_again(pair), pair.de_identity)
    _refused(pair, _repack(pair, files, pair.tmp / "rogue.tlref.age", resign_with=rogue), "signature does not verify")


def _refer_again(pair: Pair) -> Path:
    with pair.origin.session() as session:
        build_operation(session, [Person("Hans", "Ernst", "DE", tier="high")], file_name="later.csv")
    report = refer(pair.origin, ReferSettings(actor="analyst", out=pair.tmp / "outbox"))
    return next(p.path for p in report.packages if p.agency == "DE")


def test_an_unexpected_sender_or_recipient_is_refused(pair: Pair) -> None:
    path = _refer(pair)
    _refused(pair, path, "comes from CA, not from the expected agency GB", expect_sender="GB")
    _refused(pair, path, "addressed to DE, not to FR", as_agency="FR")
    assert open_package(pair.receiver, path, identity=pair.de_identity, expect_sender="CA", as_agency="DE").leads_new


def test_a_sender_whose_key_was_never_imported_is_refused(store: Store, db_url: str, tmp_path: Path) -> None:
    with second_store(db_url, tmp_path / "receiver") as receiver:
        _keys(store, "CA")
        de = _keys(receiver, "DE")
        _exchange(receiver, "DE", store, tmp_path)
        with store.session() as session:
            build_operation(session, PEOPLE[:1])
        path = refer(store, ReferSettings(actor="a", out=tmp_path / "out")).packages[0].path
        with pytest.raises(PackageRefused, match="keys import --agency CA"):
            open_package(receiver, path, identity=Path(de["age_identity_file"]))
        with receiver.session() as session:
            assert session.scalar(select(func.count()).select_from(Lead)) == 0


def test_not_a_package_is_refused(pair: Pair) -> None:
    with pytest.raises(PackageRefused, match="cannot read the package"):
        open_package(pair.receiver, pair.tmp / "nowhere.tlref.age", identity=pair.de_identity)
    with pytest.raises(PackageRefused, match="not a file"):
        open_package(pair.receiver, pair.tmp, identity=pair.de_identity)
    plain = pair.tmp / "plain.zip"
    plain.write_bytes(b"PK\x03\x04 not encrypted")
    _refused(pair, plain, "not an age-encrypted file")
    recipient = str(load_identity(pair.de_identity)[0].to_public())
    other = pair.tmp / "other.tlref.age"
    other.write_bytes(encrypt_bytes(b"just some text", [recipient]))
    _refused(pair, other, "not a Threadline package")


@pytest.mark.skipif(shutil.which("age") is None, reason="the age tool is not installed (apt-get install age)")
def test_the_age_tool_opens_a_package_by_hand(pair: Pair) -> None:
    path = _refer(pair)
    result = subprocess.run(
        ["age", "--decrypt", "-i", str(pair.de_identity), str(path)], capture_output=True, check=True, timeout=60
    )
    archive = zipfile.ZipFile(io.BytesIO(result.stdout))
    assert "manifest.json" in archive.namelist() and "leads.json" in archive.namelist()


def test_cli_refer_then_package_verify_and_open(pair: Pair) -> None:
    runner = CliRunner()
    origin = ["--db", pair.origin.settings.url, "--home", str(pair.origin.settings.home)]
    result = runner.invoke(app, ["refer", "--out", str(pair.tmp / "cli-out"), "--handling", "H1", *origin])
    assert result.exit_code == 1  # FR has no key: named, with what to do, after DE's package was written
    assert "FR (1 lead)" in result.stderr and "threadline keys import --agency FR" in result.stderr
    assert "nothing was sent unencrypted" in result.stderr
    assert "DE: 2 leads" in result.stdout
    path = next((pair.tmp / "cli-out").glob("DE-*.tlref.age"))
    receiver = ["--db", pair.receiver.settings.url, "--home", str(pair.receiver.settings.home)]
    result = runner.invoke(app, ["package", "verify", str(path), "--identity", str(pair.de_identity), *receiver])
    assert result.exit_code == 0, result.stderr
    assert "OK" in result.stdout and "2 leads from CA to DE" in result.stdout
    # Without --identity the age keys this installation holds are used.
    result = runner.invoke(app, ["package", "open", str(path), "--json", *receiver])
    assert result.exit_code == 0, result.stderr
    opened = json.loads(result.stdout)
    assert (opened["leads_new"], opened["sender"], opened["recipient"]) == (2, "CA", "DE")
    result = runner.invoke(app, ["package", "open", str(path), *receiver])
    assert result.exit_code == 0 and "already opened" in result.stdout
    wrong = ["package", "open", str(path), "--as-agency", "FR", "-i", str(pair.de_identity), *receiver]
    result = runner.invoke(app, wrong)
    assert result.exit_code == 1 and "addressed to DE, not to FR" in result.stderr
    with pair.receiver.session() as session:
        assert {lead.handling_code for lead in session.scalars(select(Lead))} == {"H1"}
