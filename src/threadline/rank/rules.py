"""Rank rules: a versioned YAML file an agency can read, change and load, validated before anything changes.

`parse_rules` turns the text into `Rules` or raises an InputError naming the file, the line and the reason. Stored
rules are `RuleSet` rows of kind "rank": one active version per scope ("global", or an operation's name), a new
version for every accepted file with different bytes, and a refused file never touches the active one."""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from threadline.core import audit
from threadline.core.errors import InputError, NotFoundError
from threadline.model import CANONICAL_FIELDS, IDENTIFIER_KINDS, TIERS, Operation, RuleSet
from threadline.rank.keywords import Keyword, KeywordError, KeywordSet, compile_keyword

KIND = "rank"
GLOBAL = "global"
RULES_FORMAT = 1
FACTORS = ("access_to_children", "production", "volume", "severity", "recency", "earlier_operations")
MAX_POINTS = 1000.0
DEFAULT_NAME = "rules.yaml (shipped default)"

Path_ = tuple[str | int, ...]


def default_rules_text() -> str:
    return (resources.files("threadline.rank") / "data" / "rules.yaml").read_text(encoding="utf-8")


# ---------------------------------------------------------------------------------------------------------------
# Reading YAML with line numbers


class _Lines:
    """The line of every value (and of every mapping key) in a YAML document, by path."""

    def __init__(self, root: yaml.Node | None, source: str) -> None:
        self.source = source
        self.value: dict[Path_, int] = {}
        self.key: dict[Path_, int] = {}
        if root is not None:
            self._walk(root, ())

    def _walk(self, node: yaml.Node, path: Path_) -> None:
        self.value[path] = node.start_mark.line + 1
        if isinstance(node, yaml.MappingNode):
            seen: dict[Any, int] = {}
            for key_node, value_node in node.value:
                key = key_node.value if isinstance(key_node, yaml.ScalarNode) else str(key_node.value)
                line = key_node.start_mark.line + 1
                if key in seen:
                    raise InputError(
                        f"{key!r} is given twice (first on line {seen[key]}); keep one", file=self.source, line=line
                    )
                seen[key] = line
                self.key[(*path, key)] = line
                self._walk(value_node, (*path, key))
        elif isinstance(node, yaml.SequenceNode):
            for index, item in enumerate(node.value):
                self._walk(item, (*path, index))

    def line(self, path: Path_) -> int | None:
        while path:
            if path in self.key:
                return self.key[path]
            if path in self.value:
                return self.value[path]
            path = path[:-1]
        return self.value.get(())

    def at(self, path: Path_) -> int | None:
        """The line of the value itself (a list item, a scalar), else of its key."""
        return self.value.get(path) or self.line(path)


class _Check:
    """Validation helpers that raise one InputError naming the file and the line."""

    def __init__(self, lines: _Lines) -> None:
        self.lines = lines

    def fail(self, path: Path_, message: str, *, value_line: bool = False) -> InputError:
        name = ".".join(str(p) for p in path)
        line = self.lines.at(path) if value_line else self.lines.line(path)
        return InputError(f"{name}: {message}" if name else message, file=self.lines.source, line=line)

    def mapping(
        self, value: Any, path: Path_, allowed: tuple[str, ...], required: tuple[str, ...] = ()
    ) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.fail(path, f"must be a mapping of {', '.join(allowed)}")
        for key in value:
            if key not in allowed:
                raise self.fail((*path, str(key)), f"unknown key {key!r}; known: {', '.join(allowed)}")
        for key in required:
            if key not in value:
                raise self.fail(path, f"{key!r} is missing")
        return value

    def points(self, value: Any, path: Path_) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise self.fail(path, f"weight {value!r} is not a number; give points between 0 and {MAX_POINTS:g}")
        if not 0 <= value <= MAX_POINTS:
            raise self.fail(path, f"weight {value:g} is outside 0-{MAX_POINTS:g}")
        return float(value)

    def number(self, value: Any, path: Path_, *, minimum: float = 0.0, strict: bool = False) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise self.fail(path, f"{value!r} is not a number")
        if value < minimum or (strict and value == minimum):
            raise self.fail(path, f"{value:g} must be {'above' if strict else 'at least'} {minimum:g}")
        return float(value)

    def text(self, value: Any, path: Path_) -> str:
        if not isinstance(value, str) or not value.strip():
            raise self.fail(path, "must be non-empty text")
        return value.strip()

    def texts(self, value: Any, path: Path_, *, allowed: tuple[str, ...] | None = None) -> tuple[str, ...]:
        if not isinstance(value, list):
            raise self.fail(path, "must be a list, e.g. [a, b]")
        out = []
        for i, item in enumerate(value):
            if not isinstance(item, str) or not item.strip():
                raise self.fail((*path, i), f"{item!r} is not text", value_line=True)
            text = item.strip()
            if allowed is not None and text not in allowed:
                raise self.fail((*path, i), f"{text!r} is not one of {', '.join(allowed)}", value_line=True)
            out.append(text)
        return tuple(out)

    def floor(self, value: Any, path: Path_) -> str | None:
        if value is None:
            return None
        if value not in TIERS:
            raise self.fail(path, f"floor {value!r} is not a tier; use one of {', '.join(TIERS)}")
        return str(value)

    def keywords(self, value: Any, path: Path_) -> KeywordSet:
        if value is None:
            return KeywordSet(())
        if not isinstance(value, list):
            raise self.fail(path, "a keyword list must be a list, e.g. [teacher, lehrer*]")
        compiled: list[Keyword] = []
        for i, item in enumerate(value):
            try:
                compiled.append(compile_keyword(item))
            except KeywordError as exc:
                raise self.fail((*path, i), f"bad keyword: {exc}", value_line=True) from None
        return KeywordSet(compiled)

    def steps(self, value: Any, path: Path_, key: str = "at_least", *, rising: bool = True) -> tuple[Step, ...]:
        if not isinstance(value, list):
            raise self.fail(path, f"must be a list of {{{key}: N, points: P}}")
        out: list[Step] = []
        for i, item in enumerate(value):
            where = (*path, i)
            self.mapping(item, where, (key, "points"), (key, "points"))
            threshold = self.number(item[key], (*where, key), strict=key == "days")
            points = self.points(item["points"], (*where, "points"))
            if out and threshold <= out[-1].threshold:
                raise self.fail(where, f"{key} {threshold:g} must be above the step before ({out[-1].threshold:g})")
            if out and rising and points < out[-1].points:
                raise self.fail(where, f"points {points:g} fall below the step before ({out[-1].points:g})")
            if out and not rising and points > out[-1].points:
                raise self.fail(where, f"points {points:g} rise above the step before ({out[-1].points:g})")
            out.append(Step(threshold, points))
        return tuple(out)


# ---------------------------------------------------------------------------------------------------------------
# The parsed rules


@dataclass(frozen=True)
class Step:
    threshold: float
    points: float


def step_points(steps: tuple[Step, ...], value: float) -> float:
    """Points of the highest step whose threshold `value` reaches (at_least steps)."""
    points = 0.0
    for step in steps:
        if value >= step.threshold:
            points = step.points
    return points


def within_points(steps: tuple[Step, ...], days: float) -> float:
    """Points of the first step whose day limit `days` falls within (within_days steps)."""
    for step in steps:
        if days <= step.threshold:
            return step.points
    return 0.0


@dataclass(frozen=True)
class Group:
    name: str
    label: str
    keywords: KeywordSet
    employers: KeywordSet
    unless: KeywordSet


@dataclass(frozen=True)
class AccessRules:
    label: str
    points: float
    floor: str | None
    role_fields: tuple[str, ...]
    employer_fields: tuple[str, ...]
    extra_fields: tuple[str, ...]
    groups: tuple[Group, ...]


@dataclass(frozen=True)
class Part:
    points: float
    each_more: float

    def score(self, count: int) -> float:
        return 0.0 if count <= 0 else self.points + self.each_more * (count - 1)


@dataclass(frozen=True)
class ProductionRules:
    label: str
    floor: str | None
    max: float
    novel: Part
    unconfirmed: Part
    sent_media: Part
    upload_folders: tuple[str, ...]
    attachment_types: tuple[str, ...]


@dataclass(frozen=True)
class VolumeRules:
    label: str
    floor: str | None
    max: float
    orders: tuple[Step, ...]
    spend: tuple[Step, ...]
    years_active: tuple[Step, ...]
    series: tuple[Step, ...]
    currency: str
    exchange_rates: dict[str, float]


@dataclass(frozen=True)
class SeverityRules:
    label: str
    floor: str | None
    max: float
    categories: dict[str, float]
    known_items: tuple[Step, ...]


@dataclass(frozen=True)
class RecencyRules:
    label: str
    floor: str | None
    within_days: tuple[Step, ...]


@dataclass(frozen=True)
class EarlierRules:
    label: str
    floor: str | None
    points: float
    max: float
    identifiers: tuple[str, ...]
    max_shared: int


@dataclass(frozen=True)
class Rules:
    name: str
    sha256: str
    content: dict[str, Any]
    tiers: dict[str, float]
    access: AccessRules
    production: ProductionRules
    volume: VolumeRules
    severity: SeverityRules
    recency: RecencyRules
    earlier: EarlierRules
    labels: dict[str, str] = field(default_factory=dict)

    def tier_for(self, score: float) -> str:
        for tier in ("very_high", "high", "medium"):
            if score >= self.tiers[tier]:
                return tier
        return "low"


def _access(c: _Check, v: Any, p: Path_) -> AccessRules:
    keys = ("label", "points", "floor", "role_fields", "employer_fields", "extra_fields", "groups")
    c.mapping(v, p, keys, ("points", "role_fields", "groups"))
    fields = tuple(f for f in CANONICAL_FIELDS if f != "record_type")
    groups_value = v["groups"]
    c.mapping(
        groups_value, (*p, "groups"), tuple(str(k) for k in (groups_value if isinstance(groups_value, dict) else {}))
    )
    if not groups_value:
        raise c.fail((*p, "groups"), "needs at least one group of keywords")
    groups = []
    for name, g in groups_value.items():
        gp = (*p, "groups", str(name))
        c.mapping(g, gp, ("label", "keywords", "employers", "unless"))
        keywords = c.keywords(g.get("keywords"), (*gp, "keywords"))
        employers = c.keywords(g.get("employers"), (*gp, "employers"))
        if not keywords and not employers:
            raise c.fail(gp, "has neither keywords nor employers, so it matches nothing")
        groups.append(
            Group(
                str(name),
                c.text(g.get("label", str(name)), (*gp, "label")),
                keywords,
                employers,
                c.keywords(g.get("unless"), (*gp, "unless")),
            )
        )
    return AccessRules(
        label=c.text(v.get("label", "Access to children"), (*p, "label")),
        points=c.points(v["points"], (*p, "points")),
        floor=c.floor(v.get("floor"), (*p, "floor")),
        role_fields=c.texts(v["role_fields"], (*p, "role_fields"), allowed=fields),
        employer_fields=c.texts(v.get("employer_fields", []), (*p, "employer_fields"), allowed=fields),
        extra_fields=tuple(_key(x) for x in c.texts(v.get("extra_fields", []), (*p, "extra_fields"))),
        groups=tuple(groups),
    )


@lru_cache(maxsize=65536)
def _key(text: str) -> str:
    """A column name as compared with extra fields: case and punctuation ignored (cached: a seizure has few
    column names and rank asks for each on every record)."""
    return "".join(ch for ch in text.casefold() if ch.isalnum())


def _part(c: _Check, v: Any, p: Path_) -> Part:
    c.mapping(v, p, ("points", "each_more"), ("points",))
    return Part(c.points(v["points"], (*p, "points")), c.points(v.get("each_more", 0), (*p, "each_more")))


def _production(c: _Check, v: Any, p: Path_) -> ProductionRules:
    keys = ("label", "floor", "max", "novel", "unconfirmed", "sent_media", "upload_folders", "attachment_types")
    c.mapping(v, p, keys, ("max", "novel", "unconfirmed", "sent_media"))
    types = c.texts(v.get("attachment_types", []), (*p, "attachment_types"))
    for i, t in enumerate(types):
        major, _, minor = t.partition("/")
        if not major or not minor or " " in t:
            raise c.fail((*p, "attachment_types", i), f"{t!r} is not a media type like image/* or video/mp4")
    return ProductionRules(
        label=c.text(v.get("label", "Production"), (*p, "label")),
        floor=c.floor(v.get("floor"), (*p, "floor")),
        max=c.points(v["max"], (*p, "max")),
        novel=_part(c, v["novel"], (*p, "novel")),
        unconfirmed=_part(c, v["unconfirmed"], (*p, "unconfirmed")),
        sent_media=_part(c, v["sent_media"], (*p, "sent_media")),
        upload_folders=tuple(t.casefold() for t in c.texts(v.get("upload_folders", []), (*p, "upload_folders"))),
        attachment_types=tuple(t.casefold() for t in types),
    )


def _currency(c: _Check, value: Any, path: Path_) -> str:
    if not isinstance(value, str) or len(value) != 3 or not value.isalpha():
        raise c.fail(path, f"{value!r} is not a three-letter currency code like EUR")
    return value.upper()


def _volume(c: _Check, v: Any, p: Path_) -> VolumeRules:
    keys = ("label", "floor", "max", "orders", "spend", "years_active", "series", "currency", "exchange_rates")
    c.mapping(v, p, keys, ("max", "orders", "spend", "years_active", "series", "currency"))
    rates_value = v.get("exchange_rates") or {}
    if not isinstance(rates_value, dict):
        raise c.fail((*p, "exchange_rates"), "must be a mapping like {USD: 0.92}")
    currency = _currency(c, v["currency"], (*p, "currency"))
    rates = {currency: 1.0}
    for code, rate in rates_value.items():
        where = (*p, "exchange_rates", str(code))
        rates[_currency(c, code, where)] = c.number(rate, where, strict=True)
    return VolumeRules(
        label=c.text(v.get("label", "Volume and persistence"), (*p, "label")),
        floor=c.floor(v.get("floor"), (*p, "floor")),
        max=c.points(v["max"], (*p, "max")),
        orders=c.steps(v["orders"], (*p, "orders")),
        spend=c.steps(v["spend"], (*p, "spend")),
        years_active=c.steps(v["years_active"], (*p, "years_active")),
        series=c.steps(v["series"], (*p, "series")),
        currency=currency,
        exchange_rates=rates,
    )


def _severity(c: _Check, v: Any, p: Path_) -> SeverityRules:
    c.mapping(v, p, ("label", "floor", "max", "categories", "known_items"), ("max", "categories", "known_items"))
    if not isinstance(v["categories"], dict):
        raise c.fail((*p, "categories"), 'must be a mapping of category label to points, e.g. {"1": 25, a: 30}')
    categories = {
        str(k).strip().casefold(): c.points(points, (*p, "categories", str(k))) for k, points in v["categories"].items()
    }
    return SeverityRules(
        label=c.text(v.get("label", "Severity of known material"), (*p, "label")),
        floor=c.floor(v.get("floor"), (*p, "floor")),
        max=c.points(v["max"], (*p, "max")),
        categories=categories,
        known_items=c.steps(v["known_items"], (*p, "known_items")),
    )


def _recency(c: _Check, v: Any, p: Path_) -> RecencyRules:
    c.mapping(v, p, ("label", "floor", "within_days"), ("within_days",))
    return RecencyRules(
        label=c.text(v.get("label", "Recent activity"), (*p, "label")),
        floor=c.floor(v.get("floor"), (*p, "floor")),
        within_days=c.steps(v["within_days"], (*p, "within_days"), "days", rising=False),
    )


def _earlier(c: _Check, v: Any, p: Path_) -> EarlierRules:
    keys = ("label", "floor", "points", "max", "identifiers", "max_shared")
    c.mapping(v, p, keys, ("points", "max", "identifiers"))
    shared = v.get("max_shared", 3)
    if isinstance(shared, bool) or not isinstance(shared, int) or shared < 1:
        raise c.fail((*p, "max_shared"), f"{shared!r} must be a whole number of subjects, at least 1")
    return EarlierRules(
        label=c.text(v.get("label", "Seen in other operations"), (*p, "label")),
        floor=c.floor(v.get("floor"), (*p, "floor")),
        points=c.points(v["points"], (*p, "points")),
        max=c.points(v["max"], (*p, "max")),
        identifiers=c.texts(v["identifiers"], (*p, "identifiers"), allowed=IDENTIFIER_KINDS),
        max_shared=shared,
    )


_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when present: one parse, lines kept


def parse_rules(text: str, source: str = "rules.yaml") -> Rules:
    """Validate and compile a rules file; InputError (file, line, reason) on the first problem."""
    try:
        loader = _Loader(text)
        try:
            root = loader.get_single_node()
            lines = _Lines(root, source)
            data = loader.construct_document(root) if root is not None else None
        finally:
            loader.dispose()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        raise InputError(f"not valid YAML: {exc.problem or exc.context}", file=source, line=line) from None
    except yaml.YAMLError as exc:
        raise InputError(f"not valid YAML: {exc}", file=source) from None
    c = _Check(lines)
    if data is None:
        raise InputError("the rules file is empty; start from `threadline rules export`", file=source)
    c.mapping(
        data, (), ("rules_format", "name", "description", "tiers", "factors"), ("rules_format", "tiers", "factors")
    )
    if data["rules_format"] != RULES_FORMAT:
        raise c.fail(("rules_format",), f"format {data['rules_format']!r} is not supported; this version reads 1")
    c.mapping(data["tiers"], ("tiers",), ("very_high", "high", "medium"), ("very_high", "high", "medium"))
    tiers = {t: c.points(data["tiers"][t], ("tiers", t)) for t in ("very_high", "high", "medium")}
    if not tiers["very_high"] > tiers["high"] > tiers["medium"] > 0:
        raise c.fail(("tiers",), "thresholds must fall strictly: very_high > high > medium > 0")
    factors = data["factors"]
    if not isinstance(factors, dict):
        raise c.fail(("factors",), f"must be a mapping of factors: {', '.join(FACTORS)}")
    for name in factors:
        if name not in FACTORS:
            raise c.fail(("factors", str(name)), f"unknown factor {name!r}; known factors: {', '.join(FACTORS)}")
    for name in FACTORS:
        if name not in factors:
            raise c.fail(("factors",), f"factor {name!r} is missing; give it (points 0 turns a factor off)")
    rules = Rules(
        name=str(data.get("name") or source),
        sha256=hashlib.sha256(text.encode("utf-8")).hexdigest(),
        content=data,
        tiers=tiers,
        access=_access(c, factors["access_to_children"], ("factors", "access_to_children")),
        production=_production(c, factors["production"], ("factors", "production")),
        volume=_volume(c, factors["volume"], ("factors", "volume")),
        severity=_severity(c, factors["severity"], ("factors", "severity")),
        recency=_recency(c, factors["recency"], ("factors", "recency")),
        earlier=_earlier(c, factors["earlier_operations"], ("factors", "earlier_operations")),
    )
    rules.labels.update(
        {
            "access_to_children": rules.access.label,
            "production": rules.production.label,
            "volume": rules.volume.label,
            "severity": rules.severity.label,
            "recency": rules.recency.label,
            "earlier_operations": rules.earlier.label,
        }
    )
    return rules


@lru_cache(maxsize=16)
def _compiled(text: str, source: str) -> Rules:
    return parse_rules(text, source)


def compiled(rule_set: RuleSet) -> Rules:
    """The stored rules, compiled (cached by their text)."""
    return _compiled(rule_set.source_text, rule_set.source_path or f"rules v{rule_set.version}")


# ---------------------------------------------------------------------------------------------------------------
# Stored versions


@dataclass
class LoadResult:
    rule_set: RuleSet
    created: bool  # False: the same bytes were already in force

    def to_dict(self) -> dict[str, Any]:
        r = self.rule_set
        return {
            "kind": r.kind,
            "scope": r.scope,
            "version": r.version,
            "sha256": r.sha256,
            "source_path": r.source_path,
            "created": self.created,
        }


def scope_for(session: Session, operation: str | None) -> str:
    if operation is None:
        return GLOBAL
    if session.scalar(select(Operation.id).where(Operation.name == operation)) is None:
        raise NotFoundError(f"no operation {operation!r}: operations are named by `threadline ingest --operation`")
    return operation


def active_rule_set(session: Session, scope: str = GLOBAL) -> RuleSet | None:
    return session.scalars(
        select(RuleSet)
        .where(RuleSet.kind == KIND, RuleSet.scope == scope, RuleSet.active.is_(True))
        .order_by(RuleSet.version.desc())
        .limit(1)
    ).first()


def _store(session: Session, text: str, source_path: str | None, scope: str, actor: str) -> LoadResult:
    rules = parse_rules(text, source_path or DEFAULT_NAME)
    current = active_rule_set(session, scope)
    if current is not None and current.sha256 == rules.sha256:
        return LoadResult(current, created=False)
    version = (
        session.scalar(select(func.max(RuleSet.version)).where(RuleSet.kind == KIND, RuleSet.scope == scope)) or 0
    ) + 1
    session.execute(
        update(RuleSet)
        .where(RuleSet.kind == KIND, RuleSet.scope == scope, RuleSet.active.is_(True))
        .values(active=False)
    )
    rule_set = RuleSet(
        kind=KIND,
        scope=scope,
        version=version,
        active=True,
        content=rules.content,
        source_text=text,
        source_path=source_path,
        sha256=rules.sha256,
        actor=actor,
    )
    session.add(rule_set)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="rules.load",
        object_type="rule_set",
        object_id=rule_set.id,
        details={"kind": KIND, "scope": scope, "version": version, "sha256": rules.sha256, "path": source_path},
    )
    return LoadResult(rule_set, created=True)


def read_rules_file(path: Path) -> str:
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read the rules file: {exc.strerror or exc}", file=path) from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise InputError("is not UTF-8 text; save the rules file as UTF-8", file=path, line=line) from None


def load_rules(session: Session, path: Path, *, operation: str | None = None, actor: str) -> LoadResult:
    """Validate `path` and make it the active rank rules (of the operation, or global). A refused file raises
    InputError and leaves the rules in force as they were; the same bytes again add no version."""
    text = read_rules_file(path)
    scope = scope_for(session, operation)
    return _store(session, text, str(path), scope, actor)


def rules_in_force(session: Session, operation: str | None = None, *, actor: str = "system") -> RuleSet:
    """The operation's active rules, else the global ones; the shipped default becomes global version 1 the first
    time rules are needed and none were loaded."""
    if operation is not None:
        own = active_rule_set(session, scope_for(session, operation))
        if own is not None:
            return own
    current = active_rule_set(session, GLOBAL)
    if current is not None:
        return current
    return _store(session, default_rules_text(), None, GLOBAL, actor).rule_set


def shown_rules(session: Session, operation: str | None = None) -> tuple[RuleSet | None, str]:
    """The rules that `rank` would use now and their text, without storing anything (None: the shipped default)."""
    if operation is not None:
        own = active_rule_set(session, scope_for(session, operation))
        if own is not None:
            return own, own.source_text
    current = active_rule_set(session, GLOBAL)
    if current is not None:
        return current, current.source_text
    return None, default_rules_text()


def history(session: Session, operation: str | None = None) -> list[RuleSet]:
    scope = scope_for(session, operation)
    return list(
        session.scalars(
            select(RuleSet).where(RuleSet.kind == KIND, RuleSet.scope == scope).order_by(RuleSet.version)
        ).all()
    )
