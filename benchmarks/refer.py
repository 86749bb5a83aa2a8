"""Refer benchmark: leads and signed, encrypted packages for many subjects across many agencies.

`uv run python benchmarks/refer.py [--subjects 10000] [--agencies 50] [--records 8] [--db postgresql://…]
[--workers N] [--skip-open]`

Builds, in a fresh SQLite store (or a fresh database on the PostgreSQL server --db names, dropped afterwards),
--subjects invented people spread over --agencies countries, each with --records records from three seized files
(a customer record with e-mail and phone, then payments and messages with e-mail, IP address and amount), one
identifier or two and one jurisdiction claim per record, a jurisdiction decision, a risk assessment with two
factors, a few media verdict counts. The Project Spade synthetic seizure has 7.6 records, 11 identifiers and 10.5
claims per subject, hence the default of 8 (--records 1 is the earlier, thinner benchmark). A signing key for the
originator (CA) and an age key for every destination agency.
Then measures, in the same run:

- leads: `refer(..., packages=False)` (one lead and one "created" event per subject);
- baseline: for every agency, the same leads read back with the same subject snapshots and written as one plain
  leads.json (unsigned, unencrypted, no CSV, HTML or CASE) — the least any export of these leads must do;
- packages: `refer(...)` writing every package (leads.json, leads.csv, an HTML page per lead, case.jsonld,
  manifest, Ed25519 signature, zip, age encryption, "sent" events, audit);
- open: a receiving installation verifying and importing every package.

It prints seconds and leads/s for each, and packages / baseline as the cost of signing, encrypting and the
human-readable and CASE views; for packages also the CPU seconds per 1,000 leads by phase: prepare (read the
leads and subjects), seal (render, CASE, zip, sign, encrypt: in worker processes when there are any, counted from
their rusage) and finish (write the file, the leads' "sent" state and events). Timings on a shared two-core
machine are noisy: compare CPU seconds, and note the load average printed beside them.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import resource
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from faker import Faker
from pyrage import x25519
from sqlalchemy import create_engine, insert, make_url, select, text

from threadline.core.db import Store, open_store
from threadline.core.settings import Settings, normalise_database_url
from threadline.directory import seed_national_agencies
from threadline.model import (
    Agency,
    Identifier,
    JurisdictionClaim,
    Lead,
    MediaItem,
    MediaVerdict,
    Operation,
    RiskAssessment,
    RuleSet,
    Seizure,
    SourceFile,
    SourceRecord,
    Subject,
    SubjectJurisdiction,
    SubjectMember,
)
from threadline.refer import ReferSettings, open_package, refer
from threadline.refer import pipeline as refer_pipeline
from threadline.refer.keys import export_keys, generate_keys, import_keys
from threadline.refer.package import SCHEMA_VERSION, agency_ref, dump_json
from threadline.refer.snapshot import build_snapshots

OPERATION = "Operation Benchmark"
TIERS = ("very_high", "high", "medium", "low")


def build(
    store: Store, subjects: int, agencies: int, home: Path, seed: int = 7, per_subject: int = 8
) -> dict[str, Path]:
    """The seizure rows and keys; returns each destination agency's age identity file."""
    rng = random.Random(seed)
    fake = Faker()
    Faker.seed(seed)
    identities: dict[str, Path] = {}
    with store.session() as session:
        seed_national_agencies(session, actor="bench")
        ca = session.scalars(select(Agency).where(Agency.code == "CA")).one()
        generate_keys(store.settings, session, ca, actor="bench")
        countries = [
            a
            for a in session.scalars(select(Agency).where(Agency.kind == "national").order_by(Agency.code))
            if a.code != "CA"
        ][:agencies]
        for agency in countries:
            identity = x25519.Identity.generate()
            path = home / f"{agency.code}.age.txt"
            path.write_text(f"{identity}\n")
            path.chmod(0o600)
            identities[agency.code] = path
            public = home / f"{agency.code}.pub"
            public.write_text(f"agency: {agency.code}\nage: {identity.to_public()}\n")
            import_keys(session, agency, public, actor="bench")
        operation = Operation(name=OPERATION, originating_agency_id=ca.id)
        session.add(operation)
        session.flush()
        seizure = Seizure(operation_id=operation.id, label="bench", source_path="/bench")
        session.add(seizure)
        session.flush()
        sources = {
            kind: SourceFile(
                seizure_id=seizure.id,
                path=path,
                sha256=hashlib.sha256(path.encode()).hexdigest(),
                size=subjects * per_subject * 120,
                format=path.rsplit(".", 1)[-1],
                record_type=kind,
                status="done",
            )
            for kind, path in (
                ("customer", "customers.csv"),
                ("payment", "exports/payments.jsonl"),
                ("message", "mail/inbox.mbox"),
            )
        }
        rules = RuleSet(kind="rank", version=1, content={}, source_text="", sha256="0" * 64, actor="bench")
        session.add_all([*sources.values(), rules])
        session.flush()
        records, identifiers, people, members, claims, decisions, risks, media, verdicts = ([] for _ in range(9))
        media_id = record_id = 0
        for i in range(1, subjects + 1):
            agency = countries[i % len(countries)]
            given, family = fake.first_name(), fake.last_name()
            email = f"{given}.{family}.{i}@example.invalid".lower()
            phone = f"+1555{i:07d}"
            customer = {
                "record_id": f"C{i:06d}",
                "given_name": given,
                "family_name": family,
                "full_name": f"{given} {family}",
                "email": email,
                "phone": phone,
                "street": fake.street_address(),
                "city": fake.city(),
                "postal_code": fake.postcode(),
                "country": agency.country,
                "occupation": rng.choice(["teacher", "nurse", "driver", "clerk"]),
            }
            first_record = record_id + 1
            for n in range(per_subject):
                record_id += 1
                if n == 0:
                    kind, fields = "customer", customer
                    found = [("email", email), ("phone", phone)]
                    claim = ("address_country", agency.country)
                else:
                    kind = "payment" if n % 2 else "message"
                    ip = f"10.{i % 250}.{n}.{rng.randrange(1, 250)}"
                    fields = {
                        "record_id": f"{kind[0].upper()}{record_id:08d}",
                        "full_name": f"{given} {family}",
                        "email": email if rng.random() < 0.7 else f"{given}{i}@mail.example".lower(),
                        "ip": ip,
                        "date": f"2013-{rng.randrange(1, 13):02d}-{rng.randrange(1, 29):02d}",
                        "amount": f"{rng.uniform(5, 500):.2f}" if kind == "payment" else None,
                        "currency": "USD" if kind == "payment" else None,
                        "country": agency.country if rng.random() < 0.8 else None,
                    }
                    fields = {k: v for k, v in fields.items() if v is not None}
                    found = [("email", fields["email"])] + ([("ip", ip)] if rng.random() < 0.5 else [])
                    claim = ("ip_geo", ip) if rng.random() < 0.5 else ("phone_prefix", phone[:5])
                records.append(
                    {
                        "id": record_id,
                        "source_file_id": sources[kind].id,
                        "row": record_id + 1,
                        "locator": str(record_id + 1),
                        "record_type": kind,
                        "record_key": fields["record_id"],
                        "raw": fields,
                        "fields": fields,
                    }
                )
                identifiers += [{"record_id": record_id, "kind": k, "value": v} for k, v in found]
                members.append({"record_id": record_id, "subject_id": i})
                claims.append(
                    {
                        "subject_id": i,
                        "record_id": record_id,
                        "source": claim[0],
                        "value": claim[1],
                        "country": agency.country,
                        "weight": 1.0 if n == 0 else 0.5,
                        "ambiguous": False,
                    }
                )
            people.append(
                {
                    "id": i,
                    "status": "active",
                    "member_count": per_subject,
                    "given_name": given,
                    "family_name": family,
                    "full_name": f"{given} {family}",
                    "country": agency.country,
                    "attributes": {"occupation": customer["occupation"], "city": customer["city"]},
                    "identifiers": {"email": [email], "phone": [phone]},
                }
            )
            decisions.append(
                {
                    "subject_id": i,
                    "status": "placed",
                    "country": agency.country,
                    "confidence": 0.9,
                    "agency_id": agency.id,
                    "disagreements": [],
                    "claims": per_subject,
                }
            )
            tier = TIERS[rng.randrange(4)]
            risks.append(
                {
                    "subject_id": i,
                    "rule_set_id": rules.id,
                    "tier": tier,
                    "score": round(rng.uniform(5, 95), 1),
                    "factors": [
                        {
                            "factor": "occupation_access",
                            "label": "Access to children",
                            "points": 30,
                            "evidence": [{"record_id": first_record, "text": customer["occupation"]}],
                        },
                        {
                            "factor": "orders",
                            "label": "Repeat orders",
                            "points": 10,
                            "evidence": [
                                {"record_id": r, "text": "order"} for r in range(first_record + 1, record_id + 1)
                            ][:3],
                        },
                    ],
                    "summary": "benchmark",
                }
            )
            for _ in range(rng.randrange(3)):
                media_id += 1
                media.append({"id": media_id, "seizure_id": seizure.id, "path": f"m/{media_id}", "owner_subject_id": i})
                verdicts.append(
                    {"media_item_id": media_id, "verdict": rng.choice(["known-exact", "novel"]), "max_distance": 31,
                     "min_quality": 50}
                )  # fmt: skip
        for model, rows in (
            (SourceRecord, records),
            (Identifier, identifiers),
            (Subject, people),
            (SubjectMember, members),
            (JurisdictionClaim, claims),
            (SubjectJurisdiction, decisions),
            (RiskAssessment, risks),
            (MediaItem, media),
            (MediaVerdict, verdicts),
        ):
            for start in range(0, len(rows), 5000):
                session.execute(insert(model), rows[start : start + 5000])
    return identities


def baseline(store: Store, out: Path) -> tuple[float, int]:
    """The same leads with the same snapshots, as one plain leads.json per agency."""
    started = time.perf_counter()
    count = 0
    out.mkdir(parents=True, exist_ok=True)
    with store.session() as session:
        agencies = list(
            session.scalars(
                select(Agency).where(Agency.id.in_(select(Lead.agency_id).distinct())).order_by(Agency.code)
            )
        )
        for agency in agencies:
            leads = list(session.scalars(select(Lead).where(Lead.agency_id == agency.id).order_by(Lead.id)))
            snapshots = build_snapshots(session, [lead.subject_id for lead in leads if lead.subject_id])
            document = {
                "schema_version": SCHEMA_VERSION,
                "recipient": agency_ref(agency),
                "leads": [
                    {
                        "uid": lead.uid,
                        "tier": lead.tier,
                        "score": lead.score,
                        "handling_code": lead.handling_code,
                        "ack_due_at": lead.ack_due_at.isoformat() if lead.ack_due_at else None,
                        "action_due_at": lead.action_due_at.isoformat() if lead.action_due_at else None,
                        "subject": snapshots[lead.subject_id] if lead.subject_id else None,
                    }
                    for lead in leads
                ],
            }
            (out / f"{agency.code}.leads.json").write_bytes(dump_json(document))
            count += len(leads)
    return time.perf_counter() - started, count


def rate(count: int, seconds: float) -> str:
    return f"{count / seconds:,.0f} leads/s"


def fresh_database(server: str | None, home: Path) -> tuple[str, Callable[[], None] | None]:
    """A SQLite file under `home`, or a new database on the PostgreSQL `server` (and how to drop it)."""
    if server is None:
        return f"sqlite:///{home / 'threadline.db'}", None
    admin_url = normalise_database_url(server)
    name = f"tl_refer_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))

    def drop() -> None:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return make_url(admin_url).set(database=name).render_as_string(hide_password=False), drop


def cpu_seconds() -> float:
    """CPU seconds of this process and of its children that have ended (the sealing workers, once refer returns)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


class Phases:
    """CPU seconds spent in refer's package phases, by wrapping the pipeline's prepare and finish steps (in this
    process); sealing is the rest of the packages' CPU time (this process's or the workers')."""

    def __init__(self) -> None:
        self.seconds = {"prepare": 0.0, "finish": 0.0}
        self.wall = {"prepare": 0.0, "finish": 0.0}
        for name, phase in (("_prepare_one", "prepare"), ("_finish_one", "finish")):
            setattr(refer_pipeline, name, self._wrap(getattr(refer_pipeline, name), phase))

    def _wrap(self, function: Callable[..., Any], phase: str) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            started, wall = time.process_time(), time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                self.seconds[phase] += time.process_time() - started
                self.wall[phase] += time.perf_counter() - wall

        return timed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--subjects", type=int, default=10_000)
    parser.add_argument("--agencies", type=int, default=50)
    parser.add_argument("--records", type=int, default=8, help="records per subject (default 8; 1: one customer row)")
    parser.add_argument("--db", help="a PostgreSQL server URL: run there, in a fresh database (default SQLite)")
    parser.add_argument("--workers", type=int, default=None, help="sealing processes (default: refer's choice)")
    parser.add_argument("--skip-open", action="store_true", help="leave out the receiving side")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="threadline-refer-bench-") as tmp:
        root = Path(tmp)
        url, drop = fresh_database(args.db, root)
        try:
            return run(root, url, args)
        finally:
            if drop is not None:
                drop()


def run(root: Path, url: str, args: argparse.Namespace) -> int:
    (root / "origin").mkdir()
    origin = open_store(Settings(home=root / "origin", database_url=url))
    started = time.perf_counter()
    identities = build(origin, args.subjects, args.agencies, root, per_subject=args.records)
    built = time.perf_counter() - started
    print(
        f"built {args.subjects:,} subjects ({args.records} records each) across {len(identities)} agencies on "
        f"{origin.engine.dialect.name} in {built:.1f} s"
    )

    leads = refer(origin, ReferSettings(packages=False, actor="bench"))
    print(f"leads:     {leads.leads_new:,} leads in {leads.seconds:.2f} s = {rate(leads.leads_new, leads.seconds)}")

    base_s, base_n = baseline(origin, root / "baseline")
    print(f"baseline:  plain leads.json for {base_n:,} leads in {base_s:.2f} s = {base_n / base_s:,.0f} leads/s")

    phases = Phases()
    cpu = cpu_seconds()
    packaged = refer(origin, ReferSettings(actor="bench", out=root / "outbox", workers=args.workers))
    cpu = cpu_seconds() - cpu
    load = os.getloadavg()[0]
    size = sum(p.size for p in packaged.packages)
    sent = packaged.leads_sent
    print(
        f"packages:  {len(packaged.packages)} packages, {sent:,} leads, {size / 1e6:.1f} MB in "
        f"{packaged.seconds:.2f} s = {sent / packaged.seconds:,.0f} leads/s (load average {load:.2f})"
    )
    per_k = 1000 / max(sent, 1)
    seal = cpu - phases.seconds["prepare"] - phases.seconds["finish"]
    prepare, finish = phases.seconds["prepare"] * per_k, phases.seconds["finish"] * per_k
    print(
        f"cpu:       {cpu:.2f} s = {cpu * per_k:.3f} s per 1,000 leads: prepare {prepare:.3f}, "
        f"seal {seal * per_k:.3f}, finish {finish:.3f}"
    )
    print(
        f"wall:      prepare {phases.wall['prepare']:.2f} s, finish {phases.wall['finish']:.2f} s in this process "
        "(sealing overlaps them in the workers)"
    )
    print(f"ratio:     packages / baseline = {packaged.seconds / base_s:.2f}x the time of plain leads.json")
    if args.skip_open:
        origin.dispose()
        return 0

    receiver = open_store(Settings(home=root / "receiver"))
    with origin.session() as session, receiver.session() as rsession:
        seed_national_agencies(rsession, actor="bench")
        (root / "ca.pub").write_text(
            export_keys(session, session.scalars(select(Agency).where(Agency.code == "CA")).one())
        )
        import_keys(
            rsession,
            rsession.scalars(select(Agency).where(Agency.code == "CA")).one(),
            root / "ca.pub",
            actor="bench",
        )
    started = time.perf_counter()
    opened = 0
    for package in packaged.packages:
        opened += open_package(receiver, package.path, identity=identities[package.agency], actor="bench").leads_new
    open_s = time.perf_counter() - started
    print(f"open:      {opened:,} leads verified and imported in {open_s:.2f} s = {opened / open_s:,.0f} leads/s")
    origin.dispose()
    receiver.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
