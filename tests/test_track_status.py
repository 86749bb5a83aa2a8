"""Status files between two installations: the receiver (FR, SQLite) reports to the originator (CA, on each
database); recalls travel back; replays change nothing; tampered and foreign files are refused whole."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from threadline.core.audit import canonical_json
from threadline.core.db import Store, open_store
from threadline.core.settings import Settings
from threadline.model import Agency, AuditEvent, Lead, LeadEvent, Operation, StatusExchange
from threadline.refer.keys import export_keys, generate_keys, import_keys, sign_bytes, signing_key
from threadline.track import lifecycle
from threadline.track.status import StatusRefused, import_status, import_status_file, write_status_file
from track_builder import OPERATION, T0, World, agency, build_world, make_lead, receive_copy

H = timedelta(hours=1)


def _keys(store: Store, code: str, folder: Path) -> Path:
    with store.session() as session:
        generate_keys(store.settings, session, agency(session, code), actor="test")
        text = export_keys(session, agency(session, code))
    path = folder / f"{code}.pub"
    path.write_text(text)
    return path


def _trust(store: Store, code: str, path: Path) -> None:
    with store.session() as session:
        import_keys(session, agency(session, code), path, actor="test")


@pytest.fixture
def pair(store: Store, tmp_path: Path) -> Iterator[tuple[Store, Store]]:
    """(originator CA on the parametrised database, receiver FR on SQLite), each trusting the other's key."""
    receiver = open_store(Settings(home=tmp_path / "fr-home", database_url=f"sqlite:///{tmp_path / 'fr.db'}"))
    with store.session() as session:
        build_world(session, regions=False)
    with receiver.session() as session:
        build_world(session)
    _trust(receiver, "CA", _keys(store, "CA", tmp_path))
    _trust(store, "FR", _keys(receiver, "FR", tmp_path))
    yield store, receiver
    receiver.dispose()


def _world(session: Session) -> World:
    operation = session.scalars(select(Operation.id).where(Operation.name == OPERATION)).one()
    return World(operation_id=operation, coordinator_id=agency(session, "CA").id)


def send(origin: Store, receiver: Store, count: int) -> list[str]:
    """Leads from CA to FR, present at both ends as a package would leave them."""
    with origin.session() as session:
        leads = [make_lead(session, _world(session), at=T0) for _ in range(count)]
        for sent in leads:
            _ = list(sent.events)
    with receiver.session() as session:
        for sent in leads:
            receive_copy(session, _world(session), sent)
    return [sent.uid for sent in leads]


def lead(session: Session, uid: str) -> Lead:
    return session.scalars(select(Lead).where(Lead.uid == uid)).one()


def status_file(receiver: Store, path: Path, *, full: bool = False, frm: str = "FR", to: str = "CA") -> Path:
    with receiver.session() as session:
        write_status_file(
            session, receiver.settings, agency=agency(session, frm), to=agency(session, to), out=path, actor="t",
            full=full,
        )  # fmt: skip
    return path


def counts(store: Store) -> tuple[int, int, int]:
    with store.session() as session:
        return (
            session.scalar(select(func.count()).select_from(LeadEvent)) or 0,
            session.scalar(select(func.count()).select_from(Lead)) or 0,
            session.scalar(select(func.count()).select_from(Agency)) or 0,
        )


def test_the_originator_sees_acknowledgements_hops_and_outcomes(pair: tuple[Store, Store], tmp_path: Path) -> None:
    origin, receiver = pair
    first, second, silent = send(origin, receiver, 3)
    with receiver.session() as session:
        lifecycle.acknowledge(session, lead(session, first), actor="marc", at=T0 + 2 * H)
        root = lead(session, second)
        lifecycle.acknowledge(session, root, actor="marc", at=T0 + 3 * H)
        hop = lifecycle.assign(session, root, agency(session, "FR-PARIS"), actor="marc", at=T0 + 3 * H)
        lifecycle.acknowledge(session, hop, actor="paris", at=T0 + 5 * H)
        lifecycle.record_action(session, hop, "search executed", actor="paris", at=T0 + 30 * H)
        lifecycle.record_outcome(session, hop, "arrested", arrests=1, charges=3, children_safeguarded=2,
                                 actor="paris", at=T0 + 31 * H)  # fmt: skip
        lifecycle.close(session, hop, actor="paris", at=T0 + 40 * H)
        lifecycle.add_note(session, root, "internal remark", actor="marc")  # notes stay home
        hop_uid = hop.uid
    path = status_file(receiver, tmp_path / "fr-1.json")
    document = json.loads(path.read_text())
    assert document["signature"]["algorithm"] == "ed25519"
    assert [a["code"] for a in document["status"]["agencies"]] == ["FR-IDF", "FR-PARIS"]
    assert [e["kind"] for e in document["status"]["events"]] == [
        "acknowledged", "acknowledged", "assigned", "created", "sent", "acknowledged", "action_taken", "outcome",
        "closed",
    ]  # fmt: skip
    report = import_status(origin, path, actor="chris")
    assert (report.events, report.applied, report.duplicates, report.not_applied) == (9, 9, 0, [])
    assert report.hop_leads_created == 1 and report.agencies_created == ["FR-IDF", "FR-PARIS"]
    with origin.session() as session:
        assert lead(session, first).status == "acknowledged" and lead(session, silent).status == "sent"
        root = lead(session, second)
        hop = lead(session, hop_uid)
        assert root.status == "assigned" and hop.parent_id == root.id and hop.hop == 1
        assert hop.direction == "outgoing" and hop.originating_agency_id == agency(session, "CA").id
        paris = agency(session, "FR-PARIS")
        assert hop.agency_id == paris.id and paris.parent is not None and paris.parent.code == "FR-IDF"
        assert agency(session, "FR-IDF").parent_id == agency(session, "FR").id
        assert (hop.status, hop.arrests, hop.charges, hop.children_safeguarded) == ("closed", 1, 3, 2)
        assert {e.origin for e in hop.events} == {"imported"} and len(hop.events) == 6
        assert lifecycle.rollup(session, root).arrests == 1
        exchange = session.scalars(select(StatusExchange)).one()
        assert (exchange.direction, exchange.events_total, exchange.events_applied) == ("incoming", 9, 9)
    with receiver.session() as session:
        hop_events = {e.uid for e in lead(session, hop_uid).events}
    with origin.session() as session:
        assert {e.uid for e in lead(session, hop_uid).events} == hop_events  # the same events, by uid


def test_a_replayed_or_overlapping_file_changes_nothing(pair: tuple[Store, Store], tmp_path: Path) -> None:
    origin, receiver = pair
    (uid,) = send(origin, receiver, 1)
    with receiver.session() as session:
        lifecycle.acknowledge(session, lead(session, uid), actor="marc", at=T0 + H)
    path = status_file(receiver, tmp_path / "fr-1.json")
    assert import_status(origin, path, actor="chris").applied == 1
    before = counts(origin)
    again = import_status(origin, path, actor="chris")
    assert again.replay and again.applied == 0 and counts(origin) == before
    # The next file holds only what is new; a full file overlaps and applies only the new part.
    with receiver.session() as session:
        lifecycle.start_investigation(session, lead(session, uid), actor="marc", at=T0 + 2 * H)
    second = status_file(receiver, tmp_path / "fr-2.json")
    assert [e["kind"] for e in json.loads(second.read_text())["status"]["events"]] == ["investigating"]
    full = status_file(receiver, tmp_path / "fr-all.json", full=True)
    report = import_status(origin, full, actor="chris")
    assert (report.events, report.applied, report.duplicates) == (2, 1, 1)
    assert import_status(origin, second, actor="chris").applied == 0
    with origin.session() as session:
        assert lead(session, uid).status == "investigating"
    empty = status_file(receiver, tmp_path / "fr-3.json")
    assert json.loads(empty.read_text())["status"]["events"] == []


def test_a_tampered_file_is_refused_with_nothing_applied(pair: tuple[Store, Store], tmp_path: Path) -> None:
    origin, receiver = pair
    (uid,) = send(origin, receiver, 1)
    with receiver.session() as session:
        item = lead(session, uid)
        lifecycle.acknowledge(session, item, actor="marc", at=T0 + H)
        lifecycle.record_outcome(session, item, "arrested", arrests=1, actor="marc", at=T0 + 2 * H)
    path = status_file(receiver, tmp_path / "fr.json")
    document = json.loads(path.read_text())
    document["status"]["events"][1]["details"]["arrests"] = 40
    tampered = tmp_path / "tampered.json"
    tampered.write_text(json.dumps(document))
    before = counts(origin)
    with pytest.raises(StatusRefused, match="does not verify with FR's key: the file was changed after signing"):
        import_status(origin, tampered, actor="chris")
    assert counts(origin) == before
    with origin.session() as session:
        refusal = session.scalars(select(AuditEvent).order_by(AuditEvent.seq.desc())).first()
        assert refusal is not None and refusal.action == "status.import.refused"
        assert session.scalars(select(StatusExchange)).first() is None
    garbage = tmp_path / "garbage.json"
    garbage.write_text('{"status": ')
    with pytest.raises(StatusRefused, match="not JSON"):
        import_status(origin, garbage, actor="chris")
    assert import_status(origin, path, actor="chris").applied == 2  # the genuine file still applies


def _resign(document: dict, store: Store, code: str) -> dict:  # type: ignore[type-arg]
    with store.session() as session:
        private, key = signing_key(store.settings, session, agency(session, code))
    signature = sign_bytes(private, canonical_json(document["status"]).encode("utf-8"))
    document["signature"] = {"algorithm": "ed25519", "key": key.fingerprint,
                             "value": base64.b64encode(signature).decode()}  # fmt: skip
    return document


def test_a_foreign_file_is_refused(pair: tuple[Store, Store], tmp_path: Path) -> None:
    origin, receiver = pair
    (uid,) = send(origin, receiver, 1)
    with receiver.session() as session:
        lifecycle.acknowledge(session, lead(session, uid), actor="marc", at=T0 + H)
    _trust(origin, "DE", _keys(receiver, "DE", tmp_path))  # the receiver's installation also signs for DE
    genuine = json.loads(status_file(receiver, tmp_path / "fr.json").read_text())
    before = counts(origin)
    # FR's content signed with DE's key: the signature names the wrong agency.
    wrong_key = tmp_path / "wrong-key.json"
    wrong_key.write_text(json.dumps(_resign(json.loads(json.dumps(genuine)), receiver, "DE")))
    with pytest.raises(StatusRefused, match="signed by agency DE, not by FR"):
        import_status(origin, wrong_key, actor="chris")
    # DE reporting, properly signed, on a lead that was sent to FR.
    as_de = json.loads(json.dumps(genuine))
    as_de["status"]["sender"] = {"code": "DE", "name": "x", "country": "DE"}
    path = tmp_path / "de.json"
    path.write_text(json.dumps(_resign(as_de, receiver, "DE")))
    with pytest.raises(StatusRefused, match=f"lead {uid} is not shared between DE and CA"):
        import_status(origin, path, actor="chris")
    # FR claiming a hop under an agency that is not below it.
    with receiver.session() as session:
        item = lead(session, uid)
        lifecycle.assign(session, item, agency(session, "FR-IDF"), actor="marc", at=T0 + 2 * H)
    sneaky = json.loads(status_file(receiver, tmp_path / "fr-2.json").read_text())
    sneaky["status"]["leads"][0]["agency"] = "DE-BY"
    sneaky["status"]["agencies"].append(
        {"code": "DE-BY", "name": "Bavaria", "kind": "regional", "country": "DE", "region": None, "parent": "DE"}
    )
    path = tmp_path / "sneaky.json"
    path.write_text(json.dumps(_resign(sneaky, receiver, "FR")))
    with pytest.raises(StatusRefused, match="agency DE-BY in the file is not a FR agency"):
        import_status(origin, path, actor="chris")
    # An event on a lead the originator never heard of.
    unknown = json.loads(json.dumps(genuine))
    unknown["status"]["events"][0]["lead"] = "00000000-0000-0000-0000-000000000000"
    path = tmp_path / "unknown.json"
    path.write_text(json.dumps(_resign(unknown, receiver, "FR")))
    with pytest.raises(StatusRefused, match="is unknown here; ask FR for a full status file"):
        import_status(origin, path, actor="chris")
    assert counts(origin) == before
    with origin.session() as session:
        assert lead(session, uid).status == "sent"
        with pytest.raises(StatusRefused, match="this installation wrote this status file"):
            own = tmp_path / "own.json"
            write_status_file(session, origin.settings, agency=agency(session, "CA"), to=agency(session, "FR"),
                              out=own, actor="t")  # fmt: skip
            session.flush()
            import_status_file(session, own, actor="t")


def test_a_recall_reaches_every_hop_at_both_installations(pair: tuple[Store, Store], tmp_path: Path) -> None:
    origin, receiver = pair
    (uid,) = send(origin, receiver, 1)
    with receiver.session() as session:
        root = lead(session, uid)
        lifecycle.acknowledge(session, root, actor="marc", at=T0 + H)
        idf = lifecycle.assign(session, root, agency(session, "FR-IDF"), actor="marc", at=T0 + H)
        idf_uid = idf.uid
    import_status(origin, status_file(receiver, tmp_path / "fr-1.json"), actor="chris")
    with receiver.session() as session:  # a hop the originator has not heard of yet
        idf = lead(session, idf_uid)
        lifecycle.acknowledge(session, idf, actor="lea", at=T0 + 2 * H)
        paris_uid = lifecycle.assign(session, idf, agency(session, "FR-PARIS"), actor="lea", at=T0 + 2 * H).uid
    with origin.session() as session:
        events = lifecycle.recall(session, lead(session, uid), actor="chris", notes="duplicate", at=T0 + 3 * H)
        assert [e.lead.uid for e in events] == [uid, idf_uid]
    back = tmp_path / "ca-1.json"
    status_file(origin, back, frm="CA", to="FR")
    assert [e["kind"] for e in json.loads(back.read_text())["status"]["events"]] == ["recalled", "recalled"]
    report = import_status(receiver, back, actor="marc")
    assert (report.applied, report.recall_reached) == (2, 1)
    with receiver.session() as session:
        assert [lead(session, u).status for u in (uid, idf_uid, paris_uid)] == ["recalled"] * 3
        paris_recall = lead(session, paris_uid).events[-1]
        assert paris_recall.details == {"recall_of": uid, "via": "status file"}
        assert paris_recall.origin == "local"
    # The receiver's cascade travels back: the originator learns of the Paris hop, already recalled. What the
    # region did before the recall arrived no longer fits the recalled lead there and is kept, not applied.
    report = import_status(origin, status_file(receiver, tmp_path / "fr-2.json"), actor="chris")
    assert [r["lead"] for r in report.not_applied] == [idf_uid, idf_uid] and report.hop_leads_created == 1
    with origin.session() as session:
        assert lead(session, paris_uid).status == "recalled"
        kept = [e.details["kind"] for e in lead(session, idf_uid).events if e.kind == "imported"]
        assert kept == ["acknowledged", "assigned"]


def test_an_event_that_no_longer_fits_is_kept_not_applied(pair: tuple[Store, Store], tmp_path: Path) -> None:
    origin, receiver = pair
    (uid,) = send(origin, receiver, 1)
    with origin.session() as session:
        lifecycle.recall(session, lead(session, uid), actor="chris", at=T0 + H)
    with receiver.session() as session:
        lifecycle.acknowledge(session, lead(session, uid), actor="marc", at=T0 + 2 * H)
    report = import_status(origin, status_file(receiver, tmp_path / "fr.json"), actor="chris")
    assert report.applied == 0 and len(report.not_applied) == 1
    assert "is recalled; it cannot become acknowledged" in report.not_applied[0]["reason"]
    with origin.session() as session:
        kept = lead(session, uid).events[-1]
        assert (kept.kind, kept.origin, kept.details["kind"]) == ("imported", "imported", "acknowledged")
        assert lead(session, uid).status == "recalled"
