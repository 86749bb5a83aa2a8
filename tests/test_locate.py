"""The locate stage on a real store (SQLite and PostgreSQL): decisions, the unplaced queue, placement by hand,
reruns, failures half-way, IP evidence, operations, routing rules and the command line."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from mmdb_writer import MMDBWriter
from netaddr import IPSet
from sqlalchemy import func, select
from typer.testing import CliRunner

from threadline.cli.app import app
from threadline.core.db import Store
from threadline.core.errors import ConflictError, InputError, NotFoundError
from threadline.directory import import_agencies, national_agency, seed_national_agencies
from threadline.locate import (
    LocateSettings,
    clear_jurisdiction,
    jurisdiction_view,
    load_routing,
    locate,
    route,
    set_jurisdiction,
    unplaced_queue,
)
from threadline.locate import pipeline as locate_pipeline
from threadline.model import (
    AuditEvent,
    JurisdictionClaim,
    Operation,
    RuleSet,
    Seizure,
    SourceFile,
    SourceRecord,
    StageRun,
    Subject,
    SubjectJurisdiction,
    SubjectMember,
)

Record = tuple[str, dict[str, Any], dict[str, Any]]  # record type, canonical fields, verbatim row


def build(
    store: Store, subjects: dict[str, list[Record]], *, operation: str = "op", file: str = "seized.csv"
) -> dict[str, int]:
    """One seizure file; each named subject gets its records. Returns {name: subject id}."""
    with store.session() as session:
        seed_national_agencies(session, actor="test")
        op = session.scalars(select(Operation).where(Operation.name == operation)).first()
        if op is None:
            op = Operation(name=operation)
            session.add(op)
            session.flush()
        seizure = Seizure(operation_id=op.id, label=file, source_path=f"/evidence/{operation}/{file}")
        session.add(seizure)
        session.flush()
        source = SourceFile(
            seizure_id=seizure.id, path=file, sha256=hashlib.sha256(file.encode()).hexdigest(), size=1, status="done"
        )
        session.add(source)
        session.flush()
        row = 1
        ids: dict[str, int] = {}
        for name, records in subjects.items():
            subject = Subject(status="active", member_count=len(records), full_name=name, attributes={}, identifiers={})
            session.add(subject)
            session.flush()
            ids[name] = subject.id
            for record_type, fields, raw in records:
                row += 1
                record = SourceRecord(
                    source_file_id=source.id,
                    row=row,
                    locator=str(row),
                    record_type=record_type,
                    record_key=fields.get("record_id"),
                    raw=raw,
                    fields=fields,
                )
                session.add(record)
                session.flush()
                session.add(SubjectMember(record_id=record.id, subject_id=subject.id, match_probability=None))
    return ids


ANNA: list[Record] = [
    (
        "customer",
        {"country": "DE", "country_raw": "Deutschland", "region": "Bayern", "phone": ["+4915125389830"]},
        {"Land": "Deutschland", "Telefon": "+49 151 25389830"},
    ),
    ("order", {"country": "DE", "postal_code": "80331", "city": "München"}, {"ship_country": "DE"}),
]
BOB: list[Record] = [("contact", {"full_name": "Bob", "email": ["bob@gmail.com"]}, {"address": "bob@gmail.com"})]
CARL: list[Record] = [
    ("customer", {"country": "DE"}, {"country": "DE"}),
    ("order", {"country": "FR"}, {"ship_country": "FR"}),
]
DORA: list[Record] = [("customer", {"country": "NL", "phone": ["+31616846340"]}, {"tel": "0031 6 16846340"})]


def _decisions(store: Store) -> dict[int, tuple[Any, ...]]:
    with store.session() as session:
        return {
            d.subject_id: (d.status, d.country, d.region, d.confidence, d.agency_id, d.reason, d.decided_by, d.run_id)
            for d in session.scalars(select(SubjectJurisdiction))
        }


def _claims(store: Store) -> list[tuple[Any, ...]]:
    with store.session() as session:
        return sorted(
            (c.subject_id, c.record_id, c.source, c.value, c.country, c.region, c.weight, c.ambiguous)
            for c in session.scalars(select(JurisdictionClaim))
        )


def test_locate_places_subjects_from_their_evidence_and_queues_the_rest(store: Store) -> None:
    ids = build(store, {"Anna": ANNA, "Bob": BOB, "Carl": CARL, "Dora": DORA})
    report = locate(store, LocateSettings(), actor="test")
    assert report.mode == "full" and report.subjects == 4 and report.records == 6
    assert (report.placed, report.unplaced, report.unplaced_no_evidence) == (2, 2, 1)
    assert report.claims_by_source["address_country"] == 3 and report.claims_by_source["shipping"] == 2
    with store.session() as session:
        anna = session.get(SubjectJurisdiction, ids["Anna"])
        assert anna is not None and (anna.status, anna.country, anna.region) == ("placed", "DE", "DE-BY")
        assert anna.confidence >= 0.9 and anna.agency_id == national_agency(session, "DE").id
        bob = session.get(SubjectJurisdiction, ids["Bob"])
        assert bob is not None and bob.status == "unplaced" and bob.country is None and bob.agency_id is None
        assert "no locating evidence" in str(bob.reason)
        carl = session.get(SubjectJurisdiction, ids["Carl"])
        assert carl is not None and carl.status == "unplaced" and "tied" in str(carl.reason)
        assert {d["country"] for d in carl.disagreements} == {"DE", "FR"}
        dora = session.get(SubjectJurisdiction, ids["Dora"])
        assert dora is not None and dora.country == "NL" and dora.disagreements == []
        view = jurisdiction_view(session, ids["Anna"])
        assert view["decision"]["agency"]["code"] == "DE" and view["decision"]["region_name"] == "Bayern"
        assert all(c["record"]["file"] == "seized.csv" and c["record"]["row"] for c in view["claims"])
        assert {c["source"] for c in view["claims"]} == {
            "address_country",
            "region",
            "phone",
            "shipping",
            "postal_code",
            "city",
        }
        run = session.get(StageRun, report.run_id)
        assert run is not None and run.stage == "locate" and run.status == "done" and run.report["placed"] == 2
        assert session.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "locate.run"))
        queue = unplaced_queue(session, actor="test")
        assert [q["subject_id"] for q in queue] == [ids["Carl"], ids["Bob"]]  # most evidence first


def test_an_empty_store_locates_nothing_and_says_so(store: Store) -> None:
    report = locate(store, actor="test")
    assert (report.subjects, report.placed, report.unplaced, report.claims) == (0, 0, 0, 0)
    assert locate(store, actor="test").mode == "unchanged"


def test_rerunning_on_unchanged_data_yields_the_same_decisions(store: Store) -> None:
    build(store, {"Anna": ANNA, "Bob": BOB, "Carl": CARL})
    first = locate(store, LocateSettings(), actor="test")
    decisions, claims = _decisions(store), _claims(store)
    again = locate(store, LocateSettings(), actor="test")
    assert again.mode == "unchanged" and (again.placed, again.unplaced, again.claims) == (1, 2, first.claims)
    forced = locate(store, LocateSettings(full=True), actor="test")
    assert forced.mode == "full" and forced.decisions_changed == 0
    assert _decisions(store) == decisions and _claims(store) == claims
    with store.session() as session:
        assert session.scalar(select(func.count()).select_from(StageRun).where(StageRun.status == "done")) == 3
    stricter = locate(store, LocateSettings(min_confidence=1.0), actor="test")
    assert stricter.mode == "full" and stricter.placed == 0 and stricter.decisions_changed == 1


def test_new_records_change_the_inputs_and_the_decision(store: Store) -> None:
    ids = build(store, {"Bob": BOB})
    assert locate(store, actor="test").unplaced == 1
    with store.session() as session:
        record = session.get(SourceRecord, session.scalars(select(SubjectMember.record_id)).one())
        assert record is not None
        extra = SourceRecord(
            source_file_id=record.source_file_id,
            row=99,
            locator="99",
            record_type="payment",
            raw={},
            fields={"country": "AT"},
        )
        session.add(extra)
        session.flush()
        session.add(SubjectMember(record_id=extra.id, subject_id=ids["Bob"], match_probability=0.95))
    report = locate(store, actor="test")
    assert report.mode == "full" and report.decisions_changed == 1
    with store.session() as session:
        claim = session.scalars(select(JurisdictionClaim).where(JurisdictionClaim.source == "payment")).one()
        assert claim.weight == pytest.approx(2.0 * 0.95)  # weighed by the record's match probability


def test_a_refund_is_located_by_the_order_it_names(store: Store) -> None:
    order: Record = ("order", {"record_id": "O-1", "country": "CH", "postal_code": "1589"}, {"ship_country": "CH"})
    refund: Record = ("order", {"record_id": "O-1", "full_name": "Ann Schenk"}, {"refund_id": "R-1"})
    ids = build(store, {"Ann": [order], "Ann again": [refund]})
    locate(store, actor="test")
    with store.session() as session:
        claims = session.scalars(
            select(JurisdictionClaim).where(JurisdictionClaim.subject_id == ids["Ann again"])
        ).all()
        assert {(c.source, c.country) for c in claims} >= {("shipping", "CH")}
        assert all("same key O-1" in (c.note or "") for c in claims)
        order_record = session.scalars(
            select(SubjectMember.record_id).where(SubjectMember.subject_id == ids["Ann"])
        ).one()
        assert {c.record_id for c in claims} == {order_record}  # provenance: the order's own row
        decision = session.get(SubjectJurisdiction, ids["Ann again"])
        assert decision is not None and decision.country == "CH"


def test_manual_placement_is_kept_by_later_runs_and_can_be_cleared(store: Store) -> None:
    ids = build(store, {"Bob": BOB, "Anna": ANNA})
    locate(store, actor="test")
    with store.session() as session:
        set_jurisdiction(session, ids["Bob"], "France", region="FR-IDF", reason="ISP subpoena answer", actor="cli:erin")
    report = locate(store, LocateSettings(full=True), actor="test")
    assert report.manual == 1 and report.unplaced == 0
    with store.session() as session:
        bob = session.get(SubjectJurisdiction, ids["Bob"])
        assert bob is not None and (bob.status, bob.country, bob.region, bob.decided_by) == (
            "placed",
            "FR",
            "FR-IDF",
            "cli:erin",
        )
        assert bob.agency_id == national_agency(session, "FR").id and bob.reason == "ISP subpoena answer"
        assert unplaced_queue(session) == []
        manual = session.scalars(select(JurisdictionClaim).where(JurisdictionClaim.source == "manual")).one()
        assert manual.record_id is None and manual.country == "FR"
        actions = set(session.scalars(select(AuditEvent.action)))
        assert "jurisdiction.set" in actions
    with store.session() as session:
        cleared = clear_jurisdiction(session, ids["Bob"], actor="cli:erin")
        assert cleared.status == "unplaced" and cleared.decided_by is None
        assert (
            session.scalar(
                select(func.count()).select_from(JurisdictionClaim).where(JurisdictionClaim.source == "manual")
            )
            == 0
        )
    with store.session() as session, pytest.raises(ConflictError, match="not placed by hand"):
        clear_jurisdiction(session, ids["Anna"], actor="cli:erin")


def test_a_placement_by_hand_keeps_the_evidence_that_disagrees(store: Store) -> None:
    ids = build(store, {"Carl": CARL})
    locate(store, actor="test")
    with store.session() as session:
        decision = set_jurisdiction(session, ids["Carl"], "DE", reason="seen at the address", actor="t")
        assert [(d["country"], d["sources"]) for d in decision.disagreements] == [("FR", ["shipping"])]
        assert decision.claims == 2


def test_placement_by_hand_refuses_bad_input(store: Store) -> None:
    ids = build(store, {"Bob": BOB})
    with store.session() as session:
        with pytest.raises(InputError, match="reason"):
            set_jurisdiction(session, ids["Bob"], "FR", reason="  ", actor="t")
        with pytest.raises(InputError, match="unknown country"):
            set_jurisdiction(session, ids["Bob"], "Freedonia", reason="x", actor="t")
        with pytest.raises(InputError, match=r"not in FR|unknown region"):
            set_jurisdiction(session, ids["Bob"], "FR", region="DE-BY", reason="x", actor="t")
        with pytest.raises(NotFoundError):
            set_jurisdiction(session, 999999, "FR", reason="x", actor="t")
        subject = session.get(Subject, ids["Bob"])
        assert subject is not None
        subject.status = "retired"
        session.flush()
        with pytest.raises(ConflictError, match="retired"):
            set_jurisdiction(session, ids["Bob"], "FR", reason="x", actor="t")


def test_a_run_that_fails_half_way_leaves_the_previous_decisions(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    build(store, {"Anna": ANNA, "Bob": BOB, "Carl": CARL})
    locate(store, actor="test")
    decisions, claims = _decisions(store), _claims(store)
    calls = {"n": 0}
    real = locate_pipeline.decide

    def failing(*args: Any, **kwargs: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("power cut")
        return real(*args, **kwargs)

    monkeypatch.setattr(locate_pipeline, "decide", failing)
    with pytest.raises(RuntimeError, match="power cut"):
        locate(store, LocateSettings(full=True), actor="test")
    assert _decisions(store) == decisions and _claims(store) == claims
    with store.session() as session:
        failed = session.scalars(select(StageRun).order_by(StageRun.id.desc())).first()
        assert failed is not None and failed.status == "failed" and "power cut" in str(failed.error)
    monkeypatch.setattr(locate_pipeline, "decide", real)
    # The failed run changed nothing, so the last good run still describes the store.
    assert locate(store, actor="test").mode == "unchanged" and _decisions(store) == decisions


def test_retired_subjects_lose_their_automatic_decisions(store: Store) -> None:
    ids = build(store, {"Anna": ANNA, "Dora": DORA})
    locate(store, actor="test")
    with store.session() as session:
        subject = session.get(Subject, ids["Dora"])
        assert subject is not None
        subject.status = "retired"
        subject.updated_run_id = None
    report = locate(store, LocateSettings(full=True), actor="test")
    assert report.subjects == 1
    with store.session() as session:
        assert session.get(SubjectJurisdiction, ids["Dora"]) is None
        assert not session.scalars(select(JurisdictionClaim).where(JurisdictionClaim.subject_id == ids["Dora"])).all()


def test_an_operation_scope_touches_only_that_operations_subjects(store: Store) -> None:
    first = build(store, {"Anna": ANNA}, operation="spade")
    second = build(store, {"Dora": DORA}, operation="other", file="other.csv")
    report = locate(store, LocateSettings(operation="other"), actor="test")
    assert report.subjects == 1 and report.operation == "other"
    decisions = _decisions(store)
    assert second["Dora"] in decisions and first["Anna"] not in decisions
    with pytest.raises(NotFoundError, match="no operation named"):
        locate(store, LocateSettings(operation="nope"), actor="test")


def _mmdb(path: Path) -> Path:
    writer = MMDBWriter(ip_version=6, ipv4_compatible=True, database_type="GeoIP2-City", languages=["en"])
    writer.insert_network(IPSet(["81.2.69.0/24"]), {"country": {"iso_code": "AT"}, "subdivisions": [{"iso_code": "9"}]})
    writer.to_db_file(str(path))
    return path


def test_ip_addresses_locate_through_the_configured_database(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = build(store, {"Eve": [("customer", {"ip": ["81.2.69.10", "10.1.2.3"]}, {"ip": "81.2.69.10"})]})
    without = locate(store, actor="test")
    assert without.ips_without_database == 2 and without.unplaced == 1
    monkeypatch.setenv("THREADLINE_MMDB", str(_mmdb(tmp_path / "city.mmdb")))
    report = locate(store, actor="test")
    assert report.mode == "full" and report.claims_by_source == {"ip": 1} and report.ip_lookups == 1
    with store.session() as session:
        claim = session.scalars(select(JurisdictionClaim).where(JurisdictionClaim.subject_id == ids["Eve"])).one()
        assert (claim.country, claim.region, claim.value) == ("AT", "AT-9", "81.2.69.10")


# ------------------------------------------------------------------------------------------------ routing


AGENCIES = """agencies:
  - name: Bayerisches Landeskriminalamt
    code: DE-LKA-BY
    country: DE
    region: DE-BY
    kind: regional
  - name: Kriminalpolizei München
    code: DE-KP-MUC
    country: DE
    region: DE-BY
    parent: DE-LKA-BY
    kind: local
  - name: Landeskriminalamt Berlin
    code: DE-LKA-BE
    country: DE
    region: DE-BE
    kind: regional
  - name: Police judiciaire Paris
    code: FR-PJ-PARIS
    country: FR
    kind: local
"""


@pytest.fixture
def directory(store: Store, tmp_path: Path) -> Path:
    path = tmp_path / "agencies.yaml"
    path.write_text(AGENCIES, encoding="utf-8")
    with store.session() as session:
        seed_national_agencies(session, actor="test")
        import_agencies(session, path, actor="test")
    return tmp_path


def _rules(tmp_path: Path, text: str, name: str = "routes.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_routing_sends_a_lead_on_hop_by_hop_below_the_national_agency(store: Store, directory: Path) -> None:
    rules = _rules(
        directory,
        "routes:\n  - country: DE\n    region: DE-BY\n    agency: DE-KP-MUC\n"
        "  - country: DE\n    agency: DE-LKA-BE\n    note: everything else in Germany\n",
    )
    with store.session() as session:
        loaded = load_routing(session, rules, operation="spade", actor="test")
        assert (loaded.scope, loaded.version, loaded.routes, loaded.unchanged) == ("spade", 1, 2, False)
        assert [a.code for a in route(session, "spade", "DE", "DE-BY")] == ["DE", "DE-LKA-BY", "DE-KP-MUC"]
        assert [a.code for a in route(session, "spade", "DE", "DE-HH")] == ["DE", "DE-LKA-BE"]
        assert [a.code for a in route(session, "spade", "DE", None)] == ["DE", "DE-LKA-BE"]
        assert [a.code for a in route(session, "spade", "FR", "FR-IDF")] == ["FR"]
        assert [a.code for a in route(session, "other", "DE", "DE-BY")] == ["DE"]  # rules are per operation
        again = load_routing(session, rules, operation="spade", actor="test")
        assert again.unchanged and again.version == 1


def test_global_rules_apply_to_operations_without_their_own(store: Store, directory: Path) -> None:
    with store.session() as session:
        load_routing(session, _rules(directory, "routes:\n  - country: FR\n    agency: FR-PJ-PARIS\n"), actor="t")
        assert [a.code for a in route(session, "any", "FR", None)] == ["FR", "FR-PJ-PARIS"]
        load_routing(session, _rules(directory, "routes: []\n", "own.yaml"), operation="own", actor="t")
        assert [a.code for a in route(session, "own", "FR", None)] == ["FR"]


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("routes:\n  - country: DE\n    agency: DE-KP-MUC\n    colour: blue\n", 4, "unknown key 'colour'"),
        ("routes:\n  - country: DE\n    agency: NOPE\n", 2, "unknown agency"),
        ("routes:\n  - country: FR\n    agency: DE-KP-MUC\n", 2, "is in DE, not FR"),
        ("routes:\n  - country: DE\n    agency: DE\n", 2, "national agency"),
        ("routes:\n  - country: DE\n    region: FR-IDF\n    agency: DE-KP-MUC\n", 2, "FR-IDF"),
        ("routes:\n  - country: Atlantis\n    agency: DE-KP-MUC\n", 2, "unknown country"),
        ("routes:\n  - agency: DE-KP-MUC\n", 2, "needs 'country'"),
        (
            "routes:\n  - country: DE\n    agency: DE-KP-MUC\n  - country: DE\n    agency: DE-LKA-BE\n",
            4,
            "line 2 already matches DE",
        ),
        ("routes:\n  - country: DE\n    agency: [a, b]\n", 3, "single value"),
        ("routes: {country: DE}\n", 1, "must be a list"),
        ("rules:\n  - country: DE\n", 1, "unknown key 'rules'"),
        ("routes:\n  - country: DE\n   agency: x\n", 3, "YAML"),
        ("", 1, "empty"),
    ],
)
def test_a_bad_routing_file_is_refused_with_its_line_and_the_rules_in_force_stay(
    store: Store, directory: Path, text: str, line: int, message: str
) -> None:
    good = _rules(directory, "routes:\n  - country: DE\n    agency: DE-LKA-BY\n", "good.yaml")
    bad = _rules(directory, text, "bad.yaml")
    with store.session() as session:
        load_routing(session, good, operation="spade", actor="t")
    with store.session() as session, pytest.raises(InputError) as caught:
        load_routing(session, bad, operation="spade", actor="t")
    assert caught.value.line == line and message in caught.value.message and caught.value.file == str(bad)
    with store.session() as session:
        active = session.scalars(select(RuleSet).where(RuleSet.kind == "routing", RuleSet.active.is_(True))).all()
        assert [(r.version, r.source_path) for r in active] == [(1, str(good))]
        assert [a.code for a in route(session, "spade", "DE", None)] == ["DE", "DE-LKA-BY"]


def test_a_changed_routing_file_is_a_new_version(store: Store, directory: Path) -> None:
    with store.session() as session:
        load_routing(session, _rules(directory, "routes:\n  - country: DE\n    agency: DE-LKA-BY\n"), actor="t")
        second = load_routing(
            session, _rules(directory, "routes:\n  - country: DE\n    agency: DE-LKA-BE\n"), actor="t"
        )
        assert second.version == 2
        versions = session.execute(select(RuleSet.version, RuleSet.active).where(RuleSet.kind == "routing")).all()
        assert sorted(versions) == [(1, False), (2, True)]


# ------------------------------------------------------------------------------------------------ command line

runner = CliRunner()


def _cli(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_the_command_line_locates_lists_places_shows_and_routes(store: Store, settings: Any, directory: Path) -> None:
    ids = build(store, {"Anna": ANNA, "Bob": BOB})
    db = ["--db", settings.url, "--home", str(settings.home)]
    code, out, err = _cli("locate", "--json", *db)
    assert code == 0, err
    assert json.loads(out)["placed"] == 1
    code, out, _ = _cli("locate", *db)
    assert code == 0 and "nothing changed" in out and "1 unplaced" in out
    code, out, _ = _cli("unplaced", "--json", *db)
    assert code == 0 and [s["subject_id"] for s in json.loads(out)["subjects"]] == [ids["Bob"]]
    code, out, _ = _cli("unplaced", *db)
    assert code == 0 and "Bob" in out
    code, out, err = _cli("jurisdiction", "set", str(ids["Bob"]), "AT", "--region", "AT-9", "--reason", "MLAT", *db)
    assert code == 0 and "placed in AT (AT-9) by hand" in out, err
    code, out, _ = _cli("jurisdiction", "set", str(ids["Bob"]), "AT", *db)
    assert code == 2  # --reason is required
    code, out, err = _cli("jurisdiction", "set", str(ids["Bob"]), "Narnia", "--reason", "x", *db)
    assert code == 1 and "unknown country 'Narnia'" in err
    code, out, _ = _cli("jurisdiction", "show", str(ids["Bob"]), "--json", *db)
    assert code == 0 and json.loads(out)["decision"]["decided_by"].startswith("cli:")
    code, out, _ = _cli("subjects", "show", str(ids["Anna"]), *db)
    assert code == 0 and "Jurisdiction" in out and "DE (Germany), DE-BY (Bayern)" in out
    code, out, _ = _cli("subjects", "show", str(ids["Anna"]), "--json", *db)
    assert code == 0 and json.loads(out)["jurisdiction"]["decision"]["country"] == "DE"
    code, out, _ = _cli("jurisdiction", "clear", str(ids["Bob"]), *db)
    assert code == 0 and "unplaced" in out

    rules = _rules(directory, "routes:\n  - country: DE\n    region: DE-BY\n    agency: DE-KP-MUC\n")
    code, out, err = _cli("routing", "load", str(rules), "--operation", "op", *db)
    assert code == 0 and "version 1" in out, err
    code, out, _ = _cli("routing", "show", "--operation", "op", "--country", "DE", "--region", "DE-BY", "--json", *db)
    assert code == 0 and [h["code"] for h in json.loads(out)["hops"]] == ["DE", "DE-LKA-BY", "DE-KP-MUC"]
    code, out, _ = _cli("routing", "show", "--operation", "op", *db)
    assert code == 0 and "DE-KP-MUC" in out
    bad = _rules(directory, "routes:\n  - country: DE\n    agency: NOPE\n", "bad.yaml")
    code, out, err = _cli("routing", "load", str(bad), "--operation", "op", *db)
    assert code == 1 and f"{bad}:2:" in err and "unknown agency" in err
    code, out, err = _cli("locate", "--mmdb", str(directory / "missing.mmdb"), *db)
    assert code == 1 and "missing.mmdb" in err
