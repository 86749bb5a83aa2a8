"""Response clocks: how long a receiving agency has to acknowledge a lead and to act on it, by tier.

Defaults are data (`data/sla.yaml`); an agency's own policy (`Agency.sla_policy`, same shape, only what differs)
overrides them. Clocks run from the moment a lead is sent. A policy may also be written in hours per tier,
``{"acknowledge_hours": {"very_high": 12}, "act_hours": {"low": 2000}}``; both forms mean the same."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from importlib import resources
from typing import Any

import yaml

from threadline.core.errors import InputError
from threadline.model import TIERS, Agency

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([mhdw])\s*$", re.IGNORECASE)
_UNITS = {"m": timedelta(minutes=1), "h": timedelta(hours=1), "d": timedelta(days=1), "w": timedelta(weeks=1)}
CLOCKS = ("acknowledge", "act")


@dataclass(frozen=True)
class Clock:
    acknowledge: timedelta
    act: timedelta

    def due(self, start: datetime) -> tuple[datetime, datetime]:
        """(acknowledge by, act by) for a lead sent at `start`."""
        return start + self.acknowledge, start + self.act


def parse_duration(value: Any) -> timedelta:
    """ "24h", "7d", "2w", "90m"; a bare number is hours."""
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a duration")
    if isinstance(value, int | float):
        if value <= 0:
            raise ValueError(f"{value!r} is not a positive duration")
        return timedelta(hours=float(value))
    match = _DURATION.match(str(value))
    if not match or float(match.group(1)) <= 0:
        raise ValueError(f"{value!r} is not a duration like 24h, 7d or 2w")
    return float(match.group(1)) * _UNITS[match.group(2).lower()]


def _hours_form(policy: dict[str, Any]) -> dict[str, Any]:
    """The equivalent `tiers` form of ``{"acknowledge_hours": {tier: h}, "act_hours": {tier: h}}``."""
    tiers: dict[str, dict[str, Any]] = {}
    for key, name in (("acknowledge_hours", "acknowledge"), ("act_hours", "act")):
        table = policy.get(key) or {}
        if not isinstance(table, dict):
            return {"tiers": None}
        for tier, hours in table.items():
            tiers.setdefault(tier, {})[name] = hours if isinstance(hours, int | float) else str(hours)
    return {"tiers": tiers}


def _apply(base: dict[str, Clock], policy: Any, where: str) -> dict[str, Clock]:
    if isinstance(policy, dict) and "tiers" not in policy and ("acknowledge_hours" in policy or "act_hours" in policy):
        policy = _hours_form(policy)
    if not isinstance(policy, dict) or not isinstance(policy.get("tiers", {}), dict):
        raise InputError(f"{where}: expected {{'tiers': {{TIER: {{acknowledge: 24h, act: 7d}}}}}}")
    clocks = dict(base)
    for tier, stated in policy.get("tiers", {}).items():
        if tier not in TIERS:
            raise InputError(f"{where}: unknown tier {tier!r}; expected one of {', '.join(TIERS)}")
        if not isinstance(stated, dict) or set(stated) - set(CLOCKS):
            raise InputError(f"{where}: tier {tier} takes only acknowledge and act durations")
        values: dict[str, timedelta] = {}
        for name in CLOCKS:
            if name in stated:
                try:
                    values[name] = parse_duration(stated[name])
                except ValueError as exc:
                    raise InputError(f"{where}: tiers.{tier}.{name}: {exc}") from None
        current = clocks.get(tier)
        ack = values.get("acknowledge", current.acknowledge if current else None)
        act = values.get("act", current.act if current else None)
        if ack is None or act is None:
            raise InputError(f"{where}: tier {tier} needs both acknowledge and act")
        if act < ack:
            raise InputError(f"{where}: tier {tier}: act ({act}) is shorter than acknowledge ({ack})")
        clocks[tier] = Clock(ack, act)
    return clocks


@cache
def default_clocks() -> dict[str, Clock]:
    """The clocks of `data/sla.yaml`, checked: every tier present."""
    text = (resources.files("threadline.refer") / "data" / "sla.yaml").read_text(encoding="utf-8")
    clocks = _apply({}, yaml.safe_load(text), "refer/data/sla.yaml")
    missing = [t for t in TIERS if t not in clocks]
    if missing:
        raise InputError(f"refer/data/sla.yaml: no clocks for {', '.join(missing)}")
    return clocks


def agency_clocks(agency: Agency) -> dict[str, Clock]:
    """The defaults overridden by the agency's stated policy."""
    if not agency.sla_policy:
        return default_clocks()
    return _apply(default_clocks(), agency.sla_policy, f"agency {agency.code} sla_policy")
