"""Web load: N leads on PostgreSQL, concurrent signed-in users browsing inboxes and lead pages over loopback.

    uv run python benchmarks/web_load.py --db postgresql://postgres@127.0.0.1:5432/test --leads 1000000

Builds a fresh database (dropped afterwards): the agency directory, one operation, N leads spread over the countries
(a few countries hold most, as in real seizures) with two events each, and a pool of invented subjects with a record
and two identifiers each, all written with COPY. Starts `threadline.web` under uvicorn in its own process, signs in
--users users (investigators and supervisors in the busiest countries, and coordinators at the originating agency)
and lets each browse for --seconds: an inbox page (random tier, clock or page), then a lead from it (which reads
the person's snapshot and writes an audit event). Prints p50/p95/p99 per page and overall.

Baselines measured in the same run: the same load without the inbox indexes of migration 0006 (dropped, then
restored), and a trivial route (/healthz) under the same concurrency, which is the server's floor.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import random
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg
from sqlalchemy import create_engine, make_url, select, text

from threadline.core.db import open_store
from threadline.core.settings import Settings, normalise_database_url
from threadline.directory import seed_national_agencies
from threadline.directory.users import hash_password
from threadline.model import Agency, Operation, Seizure, SourceFile, User
from threadline.web import WebSettings, auth

INDEXES = {
    "ix_lead_agency_score": "CREATE INDEX ix_lead_agency_score ON lead (agency_id, score)",
    "ix_lead_agency_due": "CREATE INDEX ix_lead_agency_due ON lead (agency_id, due_at)",
    "ix_lead_originating_score": "CREATE INDEX ix_lead_originating_score ON lead (originating_agency_id, score)",
}
TIERS = (("very_high", 85.0), ("high", 65.0), ("medium", 40.0), ("low", 10.0))


def _copy(conn: psycopg.Connection[Any], table: str, columns: tuple[str, ...], rows: Any) -> int:
    count = 0
    with conn.cursor() as cur, cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)
            count += 1
    return count


def build(url: str, leads: int, subjects: int, seed: int) -> dict[str, Any]:
    rng = random.Random(seed)
    settings = Settings(home=Path("/tmp/threadline-web-bench"), database_url=url)
    store = open_store(settings)
    with store.session() as session:
        seed_national_agencies(session, actor="bench")
        agencies = {a.country: a.id for a in session.scalars(select(Agency).where(Agency.kind == "national"))}
        origin = agencies["CA"]
        operation = Operation(name="Bench", originating_agency_id=origin)
        session.add(operation)
        session.flush()
        seizure = Seizure(operation_id=operation.id, label="bench", source_path="/bench")
        session.add(seizure)
        session.flush()
        source = SourceFile(seizure_id=seizure.id, path="customers.csv", sha256="0" * 64, size=1, status="done")
        session.add(source)
        session.flush()
        operation_id, source_id = operation.id, source.id
    countries = sorted(c for c in agencies if c != "CA")
    rng.shuffle(countries)
    # Zipf-like: the first countries hold most leads.
    weights = [1 / (rank + 1) ** 1.1 for rank in range(len(countries))]
    now = datetime.now(UTC)
    raw = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    started = time.perf_counter()
    with psycopg.connect(raw) as conn:
        with conn.cursor() as cur:
            cur.execute("SELECT coalesce(max(id), 0) FROM subject")
            first_subject = int(cur.fetchone()[0]) + 1  # type: ignore[index]
        _copy(
            conn,
            "subject",
            (
                "id",
                "status",
                "insufficient",
                "member_count",
                "given_name",
                "family_name",
                "full_name",
                "country",
                "attributes",
                "identifiers",
                "created_at",
                "updated_at",
            ),
            (
                (
                    first_subject + i,
                    "active",
                    False,
                    1,
                    f"Given{i}",
                    f"Family{i}",
                    f"Given{i} Family{i}",
                    "FR",
                    '{"occupation": "invented"}',
                    f'{{"email": ["p{i}@example.invalid"]}}',
                    now,
                    now,
                )
                for i in range(subjects)
            ),
        )
        _copy(
            conn,
            "source_record",
            ("id", "source_file_id", "row", "locator", "record_type", "raw", "fields", "created_at"),
            (
                (
                    first_subject + i,
                    source_id,
                    i + 2,
                    str(i + 2),
                    "customer",
                    "{}",
                    f'{{"full_name": "Given{i} Family{i}", "email": "p{i}@example.invalid"}}',
                    now,
                )
                for i in range(subjects)
            ),
        )
        _copy(
            conn,
            "subject_member",
            ("record_id", "subject_id"),
            ((first_subject + i, first_subject + i) for i in range(subjects)),
        )
        _copy(
            conn,
            "identifier",
            ("record_id", "kind", "value"),
            (
                row
                for i in range(subjects)
                for row in (
                    (first_subject + i, "email", f"p{i}@example.invalid"),
                    (first_subject + i, "phone", f"+3361{i:07d}"),
                )
            ),
        )
        picks = rng.choices(countries, weights=weights, k=leads)
        statuses = ("sent",) * 6 + ("acknowledged",) * 2 + ("investigating", "closed")
        lead_rows = []
        for i in range(leads):
            tier, base = TIERS[min(3, int(rng.random() ** 0.7 * 4))]
            status = statuses[i % len(statuses)]
            created = now - timedelta(days=rng.random() * 60)
            due = None if status == "closed" else created + timedelta(days=rng.choice((1, 3, 7, 14)))
            lead_rows.append(
                (
                    str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                    "outgoing",
                    operation_id,
                    first_subject + i % subjects,
                    agencies[picks[i]],
                    origin,
                    0,
                    picks[i],
                    tier,
                    round(base + rng.random() * 10, 2),
                    "H0",
                    status,
                    due,
                    due,
                    due,
                    0,
                    0,
                    0,
                    0,
                    created,
                    created,
                    created if status == "closed" else None,
                    created,
                )
            )
        _copy(
            conn,
            "lead",
            (
                "uid",
                "direction",
                "operation_id",
                "subject_id",
                "agency_id",
                "originating_agency_id",
                "hop",
                "country",
                "tier",
                "score",
                "handling_code",
                "status",
                "ack_due_at",
                "action_due_at",
                "due_at",
                "escalation_level",
                "arrests",
                "charges",
                "children_safeguarded",
                "created_at",
                "sent_at",
                "closed_at",
                "updated_at",
            ),
            lead_rows,
        )
        with conn.cursor() as cur:
            cur.execute("SELECT min(id) FROM lead")
            first_lead = int(cur.fetchone()[0])  # type: ignore[index]
        _copy(
            conn,
            "lead_event",
            (
                "uid",
                "lead_id",
                "kind",
                "from_status",
                "to_status",
                "actor",
                "agency_id",
                "at",
                "details",
                "origin",
                "recorded_at",
            ),
            (
                row
                for i, lead in enumerate(lead_rows)
                for row in (
                    (
                        str(uuid.uuid4()),
                        first_lead + i,
                        "created",
                        None,
                        "created",
                        "bench",
                        origin,
                        lead[19],
                        "{}",
                        "local",
                        lead[19],
                    ),
                    (
                        str(uuid.uuid4()),
                        first_lead + i,
                        "sent",
                        "created",
                        "sent",
                        "bench",
                        origin,
                        lead[19],
                        "{}",
                        "local",
                        lead[19],
                    ),
                )
            ),
        )
        conn.commit()
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute("ANALYZE")
    load_s = time.perf_counter() - started
    by_country: dict[str, int] = {}
    for c in picks:
        by_country[c] = by_country.get(c, 0) + 1
    busiest = sorted(by_country, key=lambda c: -by_country[c])
    store.dispose()
    return {"agencies": agencies, "busiest": busiest, "by_country": by_country, "load_s": load_s}


def make_users(url: str, agencies: dict[str, int], busiest: list[str], count: int) -> list[tuple[str, str]]:
    """Signed-in users: sessions made directly (the sign-in itself is argon2's cost, not the pages')."""
    settings = Settings(home=Path("/tmp/threadline-web-bench"), database_url=url)
    store = open_store(settings)
    sessions = []
    digest = hash_password("bench password 1")
    with store.session() as session:
        for i in range(count):
            if i % 10 == 9:
                name, agency, roles = f"coord{i}", agencies["CA"], ["coordinator"]
            else:
                country = busiest[i % min(len(busiest), 40)]
                name, agency, roles = f"inv{i}", agencies[country], ["investigator", "supervisor"]
            user = User(username=name, agency_id=agency, roles=roles, password_hash=digest, disabled=False)
            session.add(user)
            session.flush()
            token, _ = auth.new_session(session, user, WebSettings(session_idle_minutes=600))
            sessions.append((token, "sent" if roles == ["coordinator"] else "received"))
    store.dispose()
    return sessions


def _serve(url: str, port: int) -> None:
    import uvicorn

    from threadline.web import create_app

    settings = Settings(home=Path("/tmp/threadline-web-bench"), database_url=url)
    app = create_app(settings, WebSettings(session_idle_minutes=600))
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


async def _browse(
    base: str,
    token: str,
    box: str,
    until: float,
    out: dict[str, list[float]],
    rng: random.Random,
    lead_pages: bool,
    think: float = 0.0,
) -> None:
    cookies = {"threadline_session": token}
    async with httpx.AsyncClient(base_url=base, cookies=cookies, timeout=60) as client:
        while time.perf_counter() < until:
            params: dict[str, Any] = {"box": box}
            choice = rng.random()
            if choice < 0.3:
                params["tier"] = rng.choice(("very_high", "high", "medium", "low"))
            elif choice < 0.5:
                params["clock"] = rng.choice(("overdue", "due_soon", "running"))
            elif choice < 0.7:
                params["page"] = rng.randint(2, 5)
            t0 = time.perf_counter()
            response = await client.get("/inbox", params=params)
            out["inbox"].append(time.perf_counter() - t0)
            if response.status_code != 200:
                out["errors"].append(float(response.status_code))
                continue
            if think:
                await asyncio.sleep(rng.uniform(0, 2 * think))
            if not lead_pages:
                continue
            ids = [part.split('"')[0] for part in response.text.split('href="/leads/')[1:]]
            if not ids:
                continue
            t0 = time.perf_counter()
            page = await client.get(f"/leads/{rng.choice(ids)}")
            out["lead"].append(time.perf_counter() - t0)
            if page.status_code != 200:
                out["errors"].append(float(page.status_code))
            if think:
                await asyncio.sleep(rng.uniform(0, 2 * think))


async def _trivial(base: str, until: float, out: dict[str, list[float]]) -> None:
    async with httpx.AsyncClient(base_url=base, timeout=60) as client:
        while time.perf_counter() < until:
            t0 = time.perf_counter()
            await client.get("/healthz")
            out["healthz"].append(time.perf_counter() - t0)


async def run_phase(
    base: str,
    sessions: list[tuple[str, str]],
    seconds: float,
    *,
    trivial: bool = False,
    seed: int = 1,
    think: float = 0.0,
) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {"inbox": [], "lead": [], "healthz": [], "errors": []}
    until = time.perf_counter() + seconds
    if trivial:
        await asyncio.gather(*(_trivial(base, until, out) for _ in sessions))
    else:
        await asyncio.gather(
            *(
                _browse(base, token, box, until, out, random.Random(seed + i), True, think)
                for i, (token, box) in enumerate(sessions)
            )
        )
    return out


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def report(name: str, values: list[float], seconds: float) -> dict[str, float]:
    row = {
        "n": len(values),
        "rps": len(values) / seconds,
        "p50": pct(values, 0.5),
        "p95": pct(values, 0.95),
        "p99": pct(values, 0.99),
    }
    print(
        f"  {name:<28} {row['n']:>7} req  {row['rps']:>7.1f}/s  p50 {row['p50']:7.1f} ms  "
        f"p95 {row['p95']:7.1f} ms  p99 {row['p99']:7.1f} ms"
    )
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--db",
        default=os.environ.get("THREADLINE_TEST_DATABASE_URL"),
        help="PostgreSQL server URL (a fresh database is made on it and dropped)",
    )
    parser.add_argument("--leads", type=int, default=100_000)
    parser.add_argument("--subjects", type=int, default=20_000)
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--baseline-seconds", type=float, default=15.0)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--think", type=float, default=0.0, help="mean seconds a user reads between pages (0: back-to-back requests)"
    )
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    args = parser.parse_args()
    if not args.db:
        sys.exit("error: give --db postgresql://… (or set THREADLINE_TEST_DATABASE_URL)")
    admin_url = normalise_database_url(args.db)
    name = f"threadline_webbench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    server: multiprocessing.Process | None = None
    try:
        print(f"building {args.leads:,} leads, {args.subjects:,} subjects on PostgreSQL …", flush=True)
        world = build(url, args.leads, args.subjects, args.seed)
        top = world["busiest"][:3]
        print(
            f"  loaded in {world['load_s']:.0f} s; busiest countries "
            + ", ".join(f"{c} {world['by_country'][c]:,}" for c in top)
        )
        sessions = make_users(url, world["agencies"], world["busiest"], args.users)
        port = 8765 + random.Random().randint(0, 200)
        server = multiprocessing.get_context("spawn").Process(target=_serve, args=(url, port), daemon=True)
        server.start()
        base = f"http://127.0.0.1:{port}"
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.3)
        asyncio.run(run_phase(base, sessions[:5], 3))  # warm up
        print(f"{args.users} signed-in users, {args.seconds:.0f} s, inbox then a lead page each round:")
        main_run = asyncio.run(run_phase(base, sessions, args.seconds, think=args.think))
        r_inbox = report("inbox (indexed)", main_run["inbox"], args.seconds)
        r_lead = report("lead page (indexed)", main_run["lead"], args.seconds)
        r_all = report("all pages (indexed)", main_run["inbox"] + main_run["lead"], args.seconds)
        print(f"  errors: {len(main_run['errors'])}")
        trivial = asyncio.run(run_phase(base, sessions, args.baseline_seconds, trivial=True))
        r_floor = report("baseline: /healthz", trivial["healthz"], args.baseline_seconds)
        raw = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
        with psycopg.connect(raw, autocommit=True) as conn:
            for index in INDEXES:
                conn.execute(f"DROP INDEX {index}")  # type: ignore[arg-type]
        cold = asyncio.run(run_phase(base, sessions, args.baseline_seconds, seed=99, think=args.think))
        r_cold = report("baseline: no 0006 indexes", cold["inbox"] + cold["lead"], args.baseline_seconds)
        with psycopg.connect(raw, autocommit=True) as conn:
            for statement in INDEXES.values():
                conn.execute(statement)  # type: ignore[arg-type]
        print()
        print(
            f"goal p95 < 150 ms: {'met' if r_all['p95'] < 150 else 'NOT met'} (p95 {r_all['p95']:.1f} ms; inbox "
            f"{r_inbox['p95']:.1f}, lead {r_lead['p95']:.1f})"
        )
        print(f"ratio p95 without the inbox indexes / with them: {r_cold['p95'] / r_all['p95']:.2f}x")
        print(f"ratio p95 pages / trivial route under the same load: {r_all['p95'] / r_floor['p95']:.2f}x")
    finally:
        if server is not None:
            server.terminate()
            server.join(10)
        if not args.keep:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


if __name__ == "__main__":
    main()
