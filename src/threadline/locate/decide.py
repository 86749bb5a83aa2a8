"""From a subject's claims to one decision: a country (and region), a confidence, or "unplaced" with the reason.

Scoring, in points (the claims' weights):

- Claims of one kind for one country add up with halving returns (strongest + ½ next + ¼ next …), so twenty
  orders shipped to one address count for at most twice one order, and one kind of evidence cannot drown the rest.
- Kinds add up per country: E(country).
- Confidence in a country = exp(E) / (Σ exp(E) over the claimed countries + exp(PRIOR_POINTS)). The prior is the
  chance that the person is somewhere the evidence does not show; it keeps a lone weak claim (an e-mail domain)
  from looking certain, and splits confidence when strong claims disagree.
- Below `min_confidence`, or on a tie, the subject is unplaced: the coordinator decides, nothing is guessed.
- The region: among the chosen country's claims that name one, each supports its subdivision and every
  subdivision above it; the most specific subdivision with at least REGION_SHARE of that support and
  REGION_MIN_POINTS of evidence is chosen; otherwise the country alone."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from threadline.locate.places import ancestors

PRIOR_POINTS = 1.5
DECAY = 0.5
REGION_SHARE = 0.75
REGION_MIN_POINTS = 1.0
DEFAULT_MIN_CONFIDENCE = 0.6
# Confidence at which a placement counts as "high" (reports, the benchmark's zero-wrong goal).
HIGH_CONFIDENCE = 0.9


class ClaimLike(Protocol):
    @property
    def source(self) -> str: ...
    @property
    def country(self) -> str: ...
    @property
    def region(self) -> str | None: ...
    @property
    def weight(self) -> float: ...


@dataclass
class Decision:
    status: str  # placed | unplaced
    country: str | None
    region: str | None
    confidence: float
    reason: str | None
    disagreements: list[dict[str, Any]] = field(default_factory=list)
    claims: int = 0

    @property
    def high(self) -> bool:
        return self.status == "placed" and self.confidence >= HIGH_CONFIDENCE


def _points(weights: Iterable[float]) -> float:
    return sum(w * DECAY**i for i, w in enumerate(sorted(weights, reverse=True)))


def country_points(claims: Sequence[ClaimLike]) -> dict[str, float]:
    by_kind: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for claim in claims:
        if claim.weight > 0:
            by_kind[claim.country][claim.source].append(claim.weight)
    return {c: sum(_points(ws) for ws in kinds.values()) for c, kinds in by_kind.items()}


def confidences(points: dict[str, float]) -> dict[str, float]:
    if not points:
        return {}
    top = max(max(points.values()), PRIOR_POINTS)
    scale = {c: math.exp(p - top) for c, p in points.items()}
    total = sum(scale.values()) + math.exp(PRIOR_POINTS - top)
    return {c: s / total for c, s in scale.items()}


def _summary(country: str, claims: Sequence[ClaimLike], points: float, confidence: float) -> dict[str, Any]:
    kinds = sorted({c.source for c in claims if c.country == country})
    return {"country": country, "confidence": round(confidence, 4), "points": round(points, 4), "sources": kinds}


def decide(claims: Sequence[ClaimLike], min_confidence: float = DEFAULT_MIN_CONFIDENCE) -> Decision:
    if not claims:
        return Decision("unplaced", None, None, 0.0, "no locating evidence in the subject's records", [], 0)
    points = country_points(claims)
    conf = confidences(points)
    ranked = sorted(conf, key=lambda c: (-conf[c], c))
    best = ranked[0]
    summaries = [_summary(c, claims, points[c], conf[c]) for c in ranked]
    tied = len(ranked) > 1 and math.isclose(conf[ranked[0]], conf[ranked[1]], rel_tol=1e-9)
    if tied or conf[best] < min_confidence:
        shown = ", ".join(f"{s['country']} {s['confidence']:.2f} ({'+'.join(s['sources'])})" for s in summaries[:4])
        why = "evidence tied" if tied else f"confidence below {min_confidence:g}"
        return Decision("unplaced", None, None, round(conf[best], 4), f"{why}: {shown}", summaries, len(claims))
    return Decision(
        "placed",
        best,
        decide_region(best, claims),
        round(conf[best], 4),
        None,
        summaries[1:],
        len(claims),
    )


def decide_region(country: str, claims: Sequence[ClaimLike]) -> str | None:
    by_region: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    total_by_kind: dict[str, list[float]] = defaultdict(list)
    for claim in claims:
        if claim.country != country or not claim.region or claim.weight <= 0:
            continue
        total_by_kind[claim.source].append(claim.weight)
        for area in ancestors(claim.region) or [claim.region]:
            by_region[area][claim.source].append(claim.weight)
    total = sum(_points(ws) for ws in total_by_kind.values())
    if total < REGION_MIN_POINTS:
        return None
    chosen: tuple[int, str] | None = None
    for area, kinds in by_region.items():
        support = sum(_points(ws) for ws in kinds.values())
        if support >= REGION_MIN_POINTS and support / total >= REGION_SHARE:
            depth = len(ancestors(area))
            if chosen is None or depth > chosen[0] or (depth == chosen[0] and area < chosen[1]):
                chosen = (depth, area)
    return chosen[1] if chosen else None
