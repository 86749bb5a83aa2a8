"""Web load: N leads on PostgreSQL, concurrent signed-in users browsing inboxes and lead pages over loopback.

    uv run python benchmarks/web_load.py --db postgresql://postgres@127.0.0.1:5432/test --leads 1000000

Builds a fresh database (dropped afterwards): the agency directory, one operation, N leads spread over the countries
(a few countries hold most, as in real seizures) with two events each, and a pool of invented subjects with a record
and two identifiers each, all written with COPY. Starts the server the way an installation does
(`threadline serve --workers W`, in its own processes), signs in --users users (investigators and supervisors in the
busiest countries, and coordinators at the originating agency) and lets each browse for --seconds: an inbox page
(random tier, clock or page), then a lead from it (which reads the person's snapshot and writes an audit event),
reading each page for a random time averaging --think seconds (uniform on 0-2x; with think time each user also
starts at a random point of a first read, so the users are not synchronised). One phase per --think value
(default: back-to-back requests, then 1.5 s, a person reading). Prints p50/p95/p99 and throughput per page and
overall, and whether the goal (p95 < 150 ms) is met in each phase.

Baselines measured in the same run, each with back-to-back requests (where differences show): a trivial route
(/healthz) under the same concurrency, which is the server's floor; the same pages without the inbox indexes of
migration 0006 (dropped, then restored); and, when W > 1, the same pages served by one worker.

The load generator (httpx, 50 asyncio clients) runs on the same machine and takes its share of the CPU: the
figures are for server, database and clients together on one host.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import signal
import subprocess
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
    "ix_lead_agency_tier_score": "CREATE INDEX ix_lead_agency_tier_score ON lead (agency_id, tier, score)",
    "ix_lead_originating_tier_score": (
        "CREATE INDEX ix_lead_originating_tier_score ON lead (originating_agency_id, tier, score)"
    ),
    "ix_lead_originating_due": "CREATE INDEX ix_lead_originating_due ON lead (originating_agency_id, due_at)",
    "ix_lead_agency_updated": "CREATE INDEX ix_lead_agency_updated ON lead (agency_id, updated_at)",
    "ix_lead_originating_updated": (
        "CREATE INDEX ix_lead_originating_updated ON lead (originating_agency_id, updated_at)"
    ),
}
GOAL_P95_MS = 150.0
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
            # After a bulk load, as a DBA would: otherwise autovacuum works through 3M fresh rows during the phases.
            cur.execute("VACUUM ANALYZE")
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


class Server:
    """`threadline serve --workers N` in its own process group, as an installation runs it."""

    def __init__(self, url: str, workers: int, log: Path) -> None:
        self.port = 8765 + random.Random().randint(0, 2000)
        self.base = f"http://127.0.0.1:{self.port}"
        env = {
            **os.environ,
            "THREADLINE_WEB_SESSION_IDLE_MINUTES": "600",
            "THREADLINE_HOME": "/tmp/threadline-web-bench",
        }
        cmd = [sys.executable, "-m", "threadline", "serve", "--db", url, "--port", str(self.port)]
        cmd += ["--workers", str(workers)]
        self.log = log.open("wb")
        self.process = subprocess.Popen(cmd, env=env, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.time() + 120
        while time.time() < deadline:
            if self.process.poll() is not None:
                sys.exit(f"error: the server stopped at start; see {log}")
            try:
                if httpx.get(f"{self.base}/healthz", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.3)
        self.stop()
        sys.exit(f"error: the server did not answer within 120 s; see {log}")

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGINT)  # as Ctrl-C: uvicorn stops its workers
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(10)
        self.log.close()


async def _browse(
    base: str,
    token: str,
    box: str,
    until: float,
    out: dict[str, list[float]],
    rng: random.Random,
    think: float = 0.0,
) -> None:
    cookies = {"threadline_session": token}
    async with httpx.AsyncClient(base_url=base, cookies=cookies, timeout=60) as client:
        if think:
            # People reading pages do not all click at the same instant: each starts somewhere in a first read.
            await asyncio.sleep(rng.uniform(0, 2 * think))
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
            ids = [part.split('"')[0] for part in response.text.split('href="/leads/')[1:]]
            if not ids or time.perf_counter() >= until:
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
                _browse(base, token, box, until, out, random.Random(seed + i), think)
                for i, (token, box) in enumerate(sessions)
            )
        )
    return out


async def warm_up(base: str, sessions: list[tuple[str, str]], workers: int) -> None:
    """Each user's first look at their inbox, on a few fresh connections so that every worker has seen it (its
    agency subtree and inbox counts are then cached there, as they are a minute after a real start)."""

    async def first_look(token: str, box: str) -> None:
        for _ in range(max(2, 2 * workers)):
            async with httpx.AsyncClient(base_url=base, cookies={"threadline_session": token}, timeout=120) as c:
                await c.get("/inbox", params={"box": box})

    await asyncio.gather(*(first_look(token, box) for token, box in sessions))
    await run_phase(base, sessions, 5, seed=12345)


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
        f"  {name:<34} {row['n']:>7} req  {row['rps']:>7.1f}/s  p50 {row['p50']:7.1f} ms  "
        f"p95 {row['p95']:7.1f} ms  p99 {row['p99']:7.1f} ms",
        flush=True,
    )
    return row


def cpu_seconds() -> float:
    times = os.times()
    return times.user + times.system


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
    parser.add_argument("--seconds", type=float, default=30.0, help="length of each measured phase")
    parser.add_argument("--baseline-seconds", type=float, default=15.0)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--workers", type=int, default=max(1, os.cpu_count() or 1), help="server worker processes (default: cores)"
    )
    parser.add_argument(
        "--think",
        default="0,1.5",
        help="comma-separated mean seconds a user reads between pages, one phase each (0: back-to-back requests)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    args = parser.parse_args()
    if not args.db:
        sys.exit("error: give --db postgresql://… (or set THREADLINE_TEST_DATABASE_URL)")
    try:
        thinks = [float(t) for t in args.think.split(",") if t.strip()]
    except ValueError:
        sys.exit(f"error: --think {args.think!r}: give seconds separated by commas, e.g. 0,1.5")
    if not thinks or any(t < 0 for t in thinks):
        sys.exit("error: --think: give one or more non-negative numbers of seconds")
    admin_url = normalise_database_url(args.db)
    name = f"threadline_webbench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    raw = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    log = Path("/tmp/threadline-web-bench-server.log")
    server: Server | None = None
    try:
        print(f"building {args.leads:,} leads, {args.subjects:,} subjects on PostgreSQL …", flush=True)
        world = build(url, args.leads, args.subjects, args.seed)
        top = world["busiest"][:3]
        print(
            f"  loaded in {world['load_s']:.0f} s; busiest countries "
            + ", ".join(f"{c} {world['by_country'][c]:,}" for c in top)
        )
        sessions = make_users(url, world["agencies"], world["busiest"], args.users)
        server = Server(url, args.workers, log)
        asyncio.run(warm_up(server.base, sessions, args.workers))
        print(
            f"{args.leads:,} leads, {args.users} signed-in users, {args.workers} worker(s) (`threadline serve "
            f"--workers {args.workers}`), {os.cpu_count()} CPU cores shared with PostgreSQL and the load generator; "
            f"each round an inbox page then a lead page; {args.seconds:.0f} s per phase:"
        )
        phases: dict[float, dict[str, dict[str, float]]] = {}
        for think in thinks:
            label = "back-to-back" if think == 0 else f"think {think:g} s"
            cpu0 = cpu_seconds()
            run = asyncio.run(run_phase(server.base, sessions, args.seconds, think=think, seed=int(think * 100) + 1))
            client_cpu = (cpu_seconds() - cpu0) / args.seconds
            phases[think] = {
                "inbox": report(f"inbox ({label})", run["inbox"], args.seconds),
                "lead": report(f"lead page ({label})", run["lead"], args.seconds),
                "all": report(f"all pages ({label})", run["inbox"] + run["lead"], args.seconds),
            }
            print(f"    errors: {len(run['errors'])}; load generator used {client_cpu:.0%} of a core")
        print("baselines (back-to-back requests):")
        trivial = asyncio.run(run_phase(server.base, sessions, args.baseline_seconds, trivial=True))
        r_floor = report("/healthz (the server's floor)", trivial["healthz"], args.baseline_seconds)
        with psycopg.connect(raw, autocommit=True) as conn:
            for index in INDEXES:
                conn.execute(f"DROP INDEX {index}")
        cold = asyncio.run(run_phase(server.base, sessions, args.baseline_seconds, seed=99))
        r_cold = report("pages without the inbox indexes", cold["inbox"] + cold["lead"], args.baseline_seconds)
        with psycopg.connect(raw, autocommit=True) as conn:
            for statement in INDEXES.values():
                conn.execute(statement)
            conn.execute("ANALYZE lead")
        r_one: dict[str, float] | None = None
        if args.workers > 1:
            server.stop()
            server = Server(url, 1, log)
            asyncio.run(warm_up(server.base, sessions, 1))
            one = asyncio.run(run_phase(server.base, sessions, args.baseline_seconds, seed=98))
            r_one = report("pages on one worker", one["inbox"] + one["lead"], args.baseline_seconds)
        print()
        for think, rows in phases.items():
            label = "back-to-back requests" if think == 0 else f"think time {think:g} s"
            verdict = "MET" if rows["all"]["p95"] < GOAL_P95_MS else "NOT met"
            print(
                f"goal p95 < {GOAL_P95_MS:.0f} ms with {label}: {verdict} (p95 {rows['all']['p95']:.1f} ms; inbox "
                f"{rows['inbox']['p95']:.1f}, lead {rows['lead']['p95']:.1f}; {rows['all']['rps']:.1f} pages/s)"
            )
        busy = phases.get(0.0)
        if busy is not None:
            b = busy["all"]
            print(f"ratio p95 without the inbox indexes / with them: {r_cold['p95'] / b['p95']:.2f}x")
            print(f"ratio p95 pages / trivial route under the same load: {b['p95'] / r_floor['p95']:.2f}x")
            if r_one is not None:
                print(
                    f"ratio {args.workers} workers / one worker: throughput {b['rps'] / r_one['rps']:.2f}x, "
                    f"p95 {b['p95'] / r_one['p95']:.2f}x"
                )
    finally:
        if server is not None:
            server.stop()
        if not args.keep:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        else:
            print(f"kept database {name}")
        admin.dispose()


if __name__ == "__main__":
    main()
