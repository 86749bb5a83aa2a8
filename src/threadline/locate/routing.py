"""Routing rules: which agency below a country's national agency a lead is sent on to, per operation.

A rules file (YAML) lists routes; the first route whose country matches, and whose region (if it names one)
contains the subject's region, names the agency where the lead ends. The hops are that agency's chain in the
directory: national agency first, then each agency below it down to the named one. Without a matching route the
lead stays with the national agency.

```yaml
routes:
  - country: DE
    region: DE-BY            # optional ISO 3166-2; matches the region and every subdivision inside it
    agency: DE-KP-MUC        # agency code (or exact name); must sit below DE's national agency
  - country: FR
    agency: FR-OFMIN
```

Rules are stored as a `RuleSet` (kind "routing", scope = the operation's name, or "global" for every operation
without rules of its own), versioned; a file that fails any check is refused with the line and the reason, and
the rules in force stay in force."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from threadline.core import audit
from threadline.core.errors import InputError, NotFoundError, ThreadlineError
from threadline.core.geo import require_country, require_region
from threadline.directory import find_agency, national_agency, seed_national_agencies
from threadline.locate.places import within
from threadline.model import Agency, RuleSet

GLOBAL_SCOPE = "global"
_ROUTE_KEYS = ("country", "region", "agency", "note")


@dataclass
class RoutingLoad:
    scope: str
    version: int
    routes: int
    unchanged: bool

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def parse_routes(session: Session, text: str, *, file: str) -> list[dict[str, Any]]:
    """Check every route of a rules file against the directory; the first problem is raised with its line."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or "not valid YAML"
        raise InputError(f"{problem}: fix the YAML", file=file, line=mark.line + 1 if mark else None) from None
    if root is None:
        raise InputError("the file is empty: expected `routes:` with a list of routes", file=file, line=1)
    if not isinstance(root, yaml.MappingNode):
        raise InputError("expected a mapping with `routes:`", file=file, line=root.start_mark.line + 1)
    routes_node: yaml.Node | None = None
    for key, value in root.value:
        if key.value != "routes":
            raise InputError(
                f"unknown key {key.value!r}: a routing file has only `routes:`", file=file, line=key.start_mark.line + 1
            )
        routes_node = value
    if routes_node is None or not isinstance(routes_node, yaml.SequenceNode):
        line = routes_node.start_mark.line + 1 if routes_node is not None else 1
        raise InputError("`routes:` must be a list of routes (- country: ..., agency: ...)", file=file, line=line)
    out: list[dict[str, Any]] = []
    seen: dict[tuple[str, str | None], int] = {}
    for node in routes_node.value:
        line = node.start_mark.line + 1
        if not isinstance(node, yaml.MappingNode):
            raise InputError("each route must be a mapping of country, region, agency", file=file, line=line)
        values: dict[str, str] = {}
        for key, value in node.value:
            name = str(key.value)
            if name not in _ROUTE_KEYS:
                raise InputError(
                    f"unknown key {name!r}: use {', '.join(_ROUTE_KEYS)}", file=file, line=key.start_mark.line + 1
                )
            if not isinstance(value, yaml.ScalarNode) or not str(value.value).strip():
                raise InputError(f"{name} must be a single value", file=file, line=value.start_mark.line + 1)
            values[name] = str(value.value).strip()
        for required in ("country", "agency"):
            if required not in values:
                raise InputError(f"a route needs {required!r}", file=file, line=line)
        country = require_country(values["country"], file=file, line=line)
        region = require_region(values["region"], country, file=file, line=line) if "region" in values else None
        try:
            agency = find_agency(session, values["agency"])
        except ThreadlineError as exc:
            raise InputError(exc.message, file=file, line=line) from None
        chain = _chain(session, agency)
        if agency.country != country:
            raise InputError(f"agency {agency.code} is in {agency.country}, not {country}", file=file, line=line)
        if agency.kind == "national":
            raise InputError(
                f"agency {agency.code} is the national agency, where every lead starts: name one below it",
                file=file,
                line=line,
            )
        if chain[0].kind != "national" or chain[0].country != country:
            raise InputError(
                f"agency {agency.code} does not sit below {country}'s national agency in the directory: "
                "import it with a parent (`threadline agencies import`)",
                file=file,
                line=line,
            )
        if (country, region) in seen:
            raise InputError(
                f"the route on line {seen[(country, region)]} already matches {region or country}: "
                "this one would never apply",
                file=file,
                line=line,
            )
        seen[(country, region)] = line
        out.append(
            {
                "line": line,
                "country": country,
                "region": region,
                "agency": agency.code,
                **({"note": values["note"]} if "note" in values else {}),
            }
        )
    return out


def load_routing(session: Session, path: Path, *, operation: str | None = None, actor: str) -> RoutingLoad:
    """Store a rules file as the next version for the operation (or globally). Refused files change nothing."""
    scope = operation or GLOBAL_SCOPE
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read the routing file: {exc.strerror}", file=path) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise InputError("not UTF-8 text: save the routing file as UTF-8", file=path) from None
    seed_national_agencies(session, actor=actor)
    routes = parse_routes(session, text, file=str(path))
    sha = hashlib.sha256(raw).hexdigest()
    active = _active(session, scope)
    if active is not None and active.sha256 == sha:
        return RoutingLoad(scope=scope, version=active.version, routes=len(routes), unchanged=True)
    version = (
        session.scalar(select(func.max(RuleSet.version)).where(RuleSet.kind == "routing", RuleSet.scope == scope)) or 0
    ) + 1
    session.execute(
        update(RuleSet)
        .where(RuleSet.kind == "routing", RuleSet.scope == scope, RuleSet.active.is_(True))
        .values(active=False)
    )
    rules = RuleSet(
        kind="routing",
        scope=scope,
        version=version,
        active=True,
        content={"routes": routes},
        source_text=text,
        source_path=str(path),
        sha256=sha,
        actor=actor,
    )
    session.add(rules)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="routing.load",
        object_type="rule_set",
        object_id=rules.id,
        details={"scope": scope, "version": version, "routes": len(routes), "sha256": sha},
    )
    return RoutingLoad(scope=scope, version=version, routes=len(routes), unchanged=False)


def _active(session: Session, scope: str) -> RuleSet | None:
    return session.scalars(
        select(RuleSet)
        .where(RuleSet.kind == "routing", RuleSet.scope == scope, RuleSet.active.is_(True))
        .order_by(RuleSet.version.desc())
    ).first()


def active_routing(session: Session, operation: str | None) -> RuleSet | None:
    """The rules in force for an operation: its own, else the global ones, else none."""
    if operation:
        own = _active(session, operation)
        if own is not None:
            return own
    return _active(session, GLOBAL_SCOPE)


def _chain(session: Session, agency: Agency) -> list[Agency]:
    """The agency and every agency above it, top first."""
    chain = [agency]
    seen = {agency.id}
    while chain[0].parent_id is not None:
        parent = session.get(Agency, chain[0].parent_id)
        if parent is None or parent.id in seen:
            break
        seen.add(parent.id)
        chain.insert(0, parent)
    return chain


def route(session: Session, operation_name: str | None, country: str, region: str | None = None) -> list[Agency]:
    """The hops of a lead for a subject placed in `country` (and `region`): the national agency first, then each
    agency below it down to the one the first matching route names."""
    national = national_agency(session, country)
    rules = active_routing(session, operation_name)
    for rule in rules.content.get("routes", []) if rules is not None else []:
        if rule["country"] != country:
            continue
        if rule.get("region") and not within(region, rule["region"]):
            continue
        agency = session.scalars(select(Agency).where(Agency.code == rule["agency"])).first()
        if agency is None:
            raise NotFoundError(
                f"routing rules v{rules.version if rules else '?'} ({rules.scope if rules else ''}) name agency "
                f"{rule['agency']}, which is no longer in the directory: load corrected rules"
            )
        chain = _chain(session, agency)
        if chain[0].id != national.id:
            chain = [national, *[a for a in chain if a.kind != "national"]]
        return chain
    return [national]
