"""A simulated operation, hour by hour: `uv run python benchmarks/operation_sim.py [--leads 10000] [--countries 50]
[--days 90] [--db URL] [--json]`.

An originator sends leads to the national agencies of 50 countries over the first three days. Each agency below
them (two regions per country, a local unit under one of them) may receive hops. 10% of agencies never answer;
the others acknowledge after random delays (some late), forward some leads a hop or two down, act, report
outcomes and close. The originator recalls 2% of its leads at random times. Every simulated hour: the agencies'
actions due, then `track.sweep` (what the server runs periodically). Everything goes through the real lifecycle
and sweep code on a real database (SQLite in a temporary folder unless --db).

Then an independent check replays every lead's events: for each running clock, each escalation level must be on
record at the first sweep after it fell due (or, for a clock that restarted after a hop, at the first sweep after
it restarted), exactly once; no lead may be open in a state that needs a clock without one; every recall must
reach every hop below. Goals: 100% of silent leads escalated on schedule, 0 leads lost, every recall reaching
every hop.

Baseline, measured in the same run: `plan_escalations_naive` (every lead, one by one, its level read from its own
events: the obvious way to write a sweep) against the batched `plan_escalations` (one indexed query over overdue
clocks), at checkpoints on the same data; their plans must agree. Prints the ratio.
"""

from __future__ import annotations

import argparse
import heapq
import json
import math
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from threadline.core.db import Store, open_store
from threadline.core.errors import ConflictError
from threadline.core.settings import Settings
from threadline.directory import seed_national_agencies
from threadline.model import TERMINAL_STATUSES, Agency, Lead, LeadEvent, Operation, User
from threadline.refer.clocks import default_clocks
from threadline.refer.events import append_event
from threadline.track import lifecycle
from threadline.track.sweep import CLOCK_RESETS, level_due, plan_escalations, plan_escalations_naive, sweep

T0 = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)
H = timedelta(hours=1)
TIER_WEIGHTS = {"very_high": 0.10, "high": 0.25, "medium": 0.40, "low": 0.25}
OUTCOME_WEIGHTS = {
    "arrested": 0.30,
    "charged": 0.10,
    "no_offence": 0.20,
    "insufficient_evidence": 0.20,
    "unable_to_locate": 0.15,
    "transferred": 0.05,
}
FORWARD = {0: 0.30, 1: 0.25}  # chance that the holder at hop N forwards the lead one hop further down
RECALL_SHARE = 0.02
SILENT_SHARE = 0.10


@dataclass
class World:
    operation_id: int
    coordinator_id: int
    countries: list[str]
    national: dict[str, int]
    below: dict[int, list[int]]
    silent: set[int]


@dataclass
class Stats:
    per_day: dict[int, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    sweep_ms: list[float] = field(default_factory=list)
    naive_s: float = 0.0
    batched_s: float = 0.0
    checkpoints: int = 0
    refused: Counter[str] = field(default_factory=Counter)
    recalls: list[str] = field(default_factory=list)


def build_world(session: Any, rng: random.Random, countries: int) -> World:
    seed_national_agencies(session, actor="sim")
    nationals = {a.country: a for a in session.scalars(select(Agency).where(Agency.kind == "national"))}
    coordinator = nationals["NL"]
    chosen = sorted(rng.sample(sorted(set(nationals) - {"NL"}), countries))
    below: dict[int, list[int]] = defaultdict(list)
    every: list[Agency] = []
    for code in chosen:
        national = nationals[code]
        every.append(national)
        regions = [
            Agency(
                code=f"{code}-SIM-R{i}",
                name=f"{code} simulated region {i}",
                kind="regional",
                country=code,
                parent=national,
            )
            for i in (1, 2)
        ]
        local = Agency(
            code=f"{code}-SIM-L1", name=f"{code} simulated local unit", kind="local", country=code, parent=regions[0]
        )
        session.add_all([*regions, local])
        every += [*regions, local]
    session.flush()
    for agency in every:
        if agency.parent_id is not None:
            below[agency.parent_id].append(agency.id)
        session.add(
            User(username=f"sup.{agency.code.lower()}", agency_id=agency.id, roles=["supervisor"], password_hash="-")
        )
    session.add(User(username="coordinator", agency_id=coordinator.id, roles=["coordinator"], password_hash="-"))
    operation = Operation(name="Operation Simulated", originating_agency_id=coordinator.id)
    session.add(operation)
    session.flush()
    silent = {a.id for a in rng.sample(every, round(SILENT_SHARE * len(every)))}
    return World(operation.id, coordinator.id, chosen, {c: nationals[c].id for c in chosen}, dict(below), silent)


def pick(rng: random.Random, weights: dict[str, float]) -> str:
    return rng.choices(list(weights), weights=list(weights.values()))[0]


def hours_from(rng: random.Random, median_hours: float, sigma: float = 0.9) -> int:
    """A response delay in whole hours, log-normal around `median_hours` (a long tail of late answers)."""
    return max(1, round(math.exp(rng.gauss(math.log(median_hours), sigma))))


class Simulation:
    def __init__(self, store: Store, args: argparse.Namespace) -> None:
        self.store = store
        self.args = args
        self.rng = random.Random(args.seed)
        self.queue: list[tuple[datetime, int, str, int]] = []
        self.seq = 0
        self.stats = Stats()
        self.clocks = default_clocks()
        self.created = 0
        self.world: World

    def schedule(self, at: datetime, kind: str, lead_id: int) -> None:
        self.seq += 1
        heapq.heappush(self.queue, (at, self.seq, kind, lead_id))

    def answer(self, lead: Lead, now: datetime) -> None:
        """What the agency holding a freshly sent lead will do (nothing, if it is one that never answers)."""
        if lead.agency_id in self.world.silent:
            return
        ack_hours = self.clocks[lead.tier].acknowledge.total_seconds() / 3600
        self.schedule(now + hours_from(self.rng, 0.5 * ack_hours) * H, "ack", lead.id)

    def send_leads(self, session: Any, now: datetime, count: int) -> None:
        for _ in range(count):
            country = self.rng.choice(self.world.countries)
            lead = Lead(
                uid=str(uuid.uuid4()),
                direction="outgoing",
                operation_id=self.world.operation_id,
                agency_id=self.world.national[country],
                originating_agency_id=self.world.coordinator_id,
                hop=0,
                country=country,
                tier=pick(self.rng, TIER_WEIGHTS),
                score=round(self.rng.random(), 3),
                status="created",
                escalation_level=0,
                arrests=0,
                charges=0,
                children_safeguarded=0,
                created_at=now,
                updated_at=now,
            )
            session.add(lead)
            append_event(session, lead, "created", actor="sim:refer", agency_id=self.world.coordinator_id, at=now)
            append_event(session, lead, "sent", actor="sim:refer", agency_id=self.world.coordinator_id, at=now)
            session.flush()
            self.created += 1
            self.stats.per_day[(now - T0).days]["sent"] += 1
            self.answer(lead, now)
            if self.rng.random() < RECALL_SHARE:
                self.schedule(now + self.rng.randint(1, 30 * 24) * H, "recall", lead.id)

    def act(self, session: Any, now: datetime, kind: str, lead_id: int) -> None:
        lead = session.get(Lead, lead_id)
        day = self.stats.per_day[(now - T0).days]
        who = f"sim:{kind}"
        rng = self.rng
        try:
            if kind == "ack":
                lifecycle.acknowledge(session, lead, actor=who, at=now)
                day["acknowledged"] += 1
                below = self.world.below.get(lead.agency_id, [])
                if below and rng.random() < FORWARD.get(lead.hop, 0.0):
                    self.schedule(now + rng.randint(1, 48) * H, "assign", lead.id)
                else:
                    act_hours = self.clocks[lead.tier].act.total_seconds() / 3600
                    self.schedule(now + hours_from(rng, 0.4 * act_hours, 0.7) * H, "action", lead.id)
            elif kind == "assign":
                target = session.get(Agency, rng.choice(self.world.below[lead.agency_id]))
                child = lifecycle.assign(session, lead, target, actor=who, at=now)
                session.flush()
                day["hops"] += 1
                self.answer(child, now)
                self.schedule(now + rng.randint(1, 72) * H, "close", lead.id)
            elif kind == "action":
                lifecycle.record_action(session, lead, "search executed", actor=who, at=now)
                self.schedule(now + rng.randint(24, 14 * 24) * H, "outcome", lead.id)
            elif kind == "outcome":
                outcome = pick(rng, OUTCOME_WEIGHTS)
                arrests = 1 if outcome in ("arrested", "charged") else 0
                lifecycle.record_outcome(
                    session,
                    lead,
                    outcome,
                    arrests=arrests,
                    charges=rng.randint(0, 3) * arrests,
                    children_safeguarded=rng.choice([0, 0, 0, 1, 2]) * arrests,
                    actor=who,
                    at=now,
                )
                day["outcomes"] += 1
                self.schedule(now + rng.randint(24, 5 * 24) * H, "close", lead.id)
            elif kind == "close":
                lifecycle.close(session, lead, actor=who, at=now)
                day["closed"] += 1
            elif kind == "recall":
                lifecycle.recall(session, lead, actor="sim:coordinator", at=now)
                day["recalls"] += 1
                self.stats.recalls.append(lead.uid)
        except ConflictError:
            self.stats.refused[kind] += 1  # the lead moved on first (a recall, usually): the state machine refused

    def run(self) -> None:
        args = self.args
        with self.store.session() as session:
            self.world = build_world(session, self.rng, args.countries)
        steps = args.days * 24
        send_hours = 72
        per_hour = [args.leads // send_hours + (1 if h < args.leads % send_hours else 0) for h in range(send_hours)]
        for step in range(steps):
            now = T0 + step * H
            with self.store.session() as session:
                if step < send_hours:
                    self.send_leads(session, now, per_hour[step])
                while self.queue and self.queue[0][0] <= now:
                    _, _, kind, lead_id = heapq.heappop(self.queue)
                    self.act(session, now, kind, lead_id)
                session.flush()
                if args.baseline_every and step % args.baseline_every == args.baseline_every - 1:
                    self.checkpoint(session, now)
                report = sweep(session, now=now, actor="sim:sweep")
            self.stats.sweep_ms.append(report.seconds * 1000)
            day = self.stats.per_day[(now - T0).days]
            for level, count in report.escalations.items():
                day[f"esc{level}"] += count
            day["overdue_open"] = report.overdue_open

    def checkpoint(self, session: Any, now: datetime) -> None:
        started = time.perf_counter()
        batched = sorted((lead.id, level) for lead, level in plan_escalations(session, now))
        middle = time.perf_counter()
        naive = sorted((p.lead_id, p.level) for p in plan_escalations_naive(session, now))
        self.stats.batched_s += middle - started
        self.stats.naive_s += time.perf_counter() - middle
        self.stats.checkpoints += 1
        if batched != naive:
            raise SystemExit(f"batched and naive sweeps disagree at {now}: {len(batched)} vs {len(naive)} escalations")


@dataclass
class Check:
    clocks_due: int = 0
    levels_due: int = 0
    on_schedule: int = 0
    after_restart: int = 0
    missing: int = 0
    duplicates: int = 0
    silent_leads: int = 0
    silent_past_due: int = 0
    silent_escalated: int = 0
    silent_levels_due: int = 0
    silent_levels_on_schedule: int = 0
    lost: int = 0
    twice_without_escalation: int = 0
    recalls: int = 0
    recall_hops: int = 0
    recall_hops_reached: int = 0


def first_sweep_at_level(due: datetime, length: timedelta, level: int, after: datetime, steps: int) -> datetime | None:
    """The first simulated hour >= `after` at which the sweep sees `level` due."""
    start = max(0, math.ceil((after - T0) / H))
    target = due + {1: timedelta(0), 2: length / 2, 3: length}[level]
    start = max(start, math.floor((target - T0) / H))
    for step in range(start, steps):
        t = T0 + step * H
        if level_due(due, length, t) >= level:
            return t
    return None


def verify(session: Any, world: World, steps: int, recalls: list[str]) -> Check:
    check = Check()
    end_of_run = T0 + steps * H
    leads = {lead.id: lead for lead in session.scalars(select(Lead))}
    events: dict[int, list[LeadEvent]] = defaultdict(list)
    for event in session.scalars(select(LeadEvent).order_by(LeadEvent.id)):
        events[event.lead_id].append(event)
    children: dict[int, list[int]] = defaultdict(list)
    for lead in leads.values():
        if lead.parent_id is not None:
            children[lead.parent_id].append(lead.id)
    for lead_id, lead in leads.items():
        silent = lead.agency_id in world.silent
        check.silent_leads += silent
        history = events[lead_id]
        changes = [e for e in history if e.to_status is not None]
        escalations = [e for e in history if e.kind == "escalated"]
        past_due = False
        seen = Counter((e.details["level"], e.at) for e in escalations)
        check.duplicates += sum(n - 1 for n in seen.values())
        recorded: set[int] = set()
        for index, change in enumerate(changes):
            if change.to_status in CLOCK_RESETS:
                recorded = set()
            due = {
                "sent": lead.ack_due_at,
                "acknowledged": lead.action_due_at,
                "investigating": lead.action_due_at,
            }.get(change.to_status)
            start = change.at
            following = changes[index + 1] if index + 1 < len(changes) else None
            end = following.at if following is not None else end_of_run
            # Within an hour the agencies act before the sweep runs, so event ids order a segment's escalations.
            segment_escalations = [
                e for e in escalations if e.id > change.id and (following is None or e.id < following.id)
            ]
            if due is None or lead.sent_at is None:
                recorded |= {int(e.details["level"]) for e in segment_escalations}
                continue
            length = due - lead.sent_at
            if end > due:
                check.clocks_due += 1
                past_due = True
            if end > lead.sent_at + 2 * length and not (recorded or segment_escalations):
                check.twice_without_escalation += 1
            for level in (1, 2, 3):
                if level in recorded:
                    continue
                expected = first_sweep_at_level(due, length, level, start, steps)
                if expected is None or expected >= end:
                    continue
                check.levels_due += 1
                check.silent_levels_due += silent
                hit = [e for e in segment_escalations if e.details["level"] == level and e.at == expected]
                if not hit:
                    check.missing += 1
                    continue
                scheduled = first_sweep_at_level(due, length, level, T0, steps)
                if expected == scheduled:
                    check.on_schedule += 1
                    check.silent_levels_on_schedule += silent
                else:
                    check.after_restart += 1
                    check.silent_levels_on_schedule += silent
                recorded.add(level)
        if silent and past_due:
            check.silent_past_due += 1
            check.silent_escalated += bool(escalations)
        if lead.status in ("sent", "acknowledged", "investigating") and lead.due_at is None:
            check.lost += 1  # open in a state that needs a running clock, and none runs
    for uid in recalls:
        root = next(lead for lead in leads.values() if lead.uid == uid)
        check.recalls += 1
        stack = list(children[root.id])
        while stack:
            node = leads[stack.pop()]
            stack.extend(children[node.id])
            check.recall_hops += 1
            reached = node.status == "recalled" or (
                node.status in TERMINAL_STATUSES and any(e.details.get("recall_of") == uid for e in events[node.id])
            )
            check.recall_hops_reached += reached
    check.lost += check.missing
    return check


def timeline(stats: Stats, days: int, every: int) -> list[str]:
    lines = [
        f"{'day':>4} {'sent':>6} {'ack':>6} {'hops':>5} {'esc L1':>6} {'esc L2':>6} {'esc L3':>6} "
        f"{'outcomes':>8} {'closed':>6} {'recalls':>7} {'overdue':>7}"
    ]
    total: Counter[str] = Counter()
    for start in range(0, days, every):
        window: Counter[str] = Counter()
        for day in range(start, min(days, start + every)):
            window.update({k: v for k, v in stats.per_day[day].items() if k != "overdue_open"})
        total.update(window)
        overdue = stats.per_day[min(days, start + every) - 1].get("overdue_open", 0)
        lines.append(
            f"{start:>4} {window['sent']:>6} {window['acknowledged']:>6} {window['hops']:>5} {window['esc1']:>6} "
            f"{window['esc2']:>6} {window['esc3']:>6} {window['outcomes']:>8} {window['closed']:>6} "
            f"{window['recalls']:>7} {overdue:>7}"
        )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--leads", type=int, default=10_000)
    parser.add_argument("--countries", type=int, default=50)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--db", help="database URL [default: SQLite in a temporary folder]")
    parser.add_argument("--baseline-every", type=int, default=240, help="hours between naive/batched checkpoints")
    parser.add_argument("--timeline-days", type=int, default=5, help="days per timeline row")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as folder:
        url = args.db or f"sqlite:///{Path(folder) / 'sim.db'}"
        store = open_store(Settings(home=Path(folder) / "home", database_url=url))
        started = time.perf_counter()
        sim = Simulation(store, args)
        sim.run()
        wall = time.perf_counter() - started
        with store.session() as session:
            check = verify(session, sim.world, args.days * 24, sim.stats.recalls)
            leads = session.scalar(select(func.count()).select_from(Lead)) or 0
            hops = session.scalar(select(func.count()).select_from(Lead).where(Lead.hop > 0)) or 0
            n_events = session.scalar(select(func.count()).select_from(LeadEvent)) or 0
            statuses = dict(session.execute(select(Lead.status, func.count()).group_by(Lead.status)).all())
        store.dispose()

    stats = sim.stats
    sweeps = sorted(stats.sweep_ms)
    ratio = stats.naive_s / stats.batched_s if stats.batched_s else float("nan")
    silent_pct = 100.0 * check.silent_levels_on_schedule / check.silent_levels_due if check.silent_levels_due else 100.0
    all_pct = 100.0 * (check.on_schedule + check.after_restart) / check.levels_due if check.levels_due else 100.0
    reach_pct = 100.0 * check.recall_hops_reached / check.recall_hops if check.recall_hops else 100.0
    figures = {
        "leads_sent": sim.created,
        "leads_with_hops": leads,
        "hops": hops,
        "events": n_events,
        "statuses": statuses,
        "countries": args.countries,
        "simulated_days": args.days,
        "silent_agencies": len(sim.world.silent),
        "silent_leads": check.silent_leads,
        "silent_leads_past_their_clock": check.silent_past_due,
        "of_which_escalated": check.silent_escalated,
        "silent_escalation_levels_due": check.silent_levels_due,
        "silent_levels_on_schedule_pct": round(silent_pct, 2),
        "clocks_run_out": check.clocks_due,
        "escalation_levels_due": check.levels_due,
        "levels_at_first_sweep_after_due": check.on_schedule,
        "levels_at_first_sweep_after_clock_restart": check.after_restart,
        "levels_on_schedule_pct": round(all_pct, 2),
        "missing_escalations": check.missing,
        "duplicate_escalations": check.duplicates,
        "passed_twice_clock_without_escalation": check.twice_without_escalation,
        "leads_lost": check.lost,
        "recalls": check.recalls,
        "recall_hops": check.recall_hops,
        "recall_hops_reached_pct": round(reach_pct, 2),
        "actions_refused_by_state_machine": dict(stats.refused),
        "sweep_ms_mean": round(statistics.fmean(sweeps), 2),
        "sweep_ms_p95": round(sweeps[int(0.95 * (len(sweeps) - 1))], 2),
        "sweep_ms_max": round(sweeps[-1], 2),
        "baseline": "plan_escalations_naive (per lead, level from its events)",
        "baseline_checkpoints": stats.checkpoints,
        "naive_plan_s": round(stats.naive_s, 3),
        "batched_plan_s": round(stats.batched_s, 3),
        "batched_vs_naive_speedup": round(ratio, 1),
        "wall_s": round(wall, 1),
        "database": "sqlite" if args.db is None else args.db.split(":")[0],
    }
    if args.json:
        print(json.dumps(figures, indent=2))
    else:
        print(
            f"Simulated operation: {sim.created:,} leads to {args.countries} countries, {args.days} days, hourly sweeps"
        )
        print("\n".join(timeline(stats, args.days, args.timeline_days)))
        print()
        for key, value in figures.items():
            print(f"{key:45} {value}")
        print(
            f"\nbatched sweep plan vs naive per-lead plan: {ratio:.1f}x faster "
            f"({stats.batched_s:.3f} s vs {stats.naive_s:.3f} s over {stats.checkpoints} checkpoints)"
        )
    ok = check.lost == 0 and check.missing == 0 and check.duplicates == 0 and reach_pct == 100.0 and silent_pct == 100.0
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
