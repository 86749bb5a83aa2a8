"""Training the matching model without labels (Splink: prior, u by random sampling, EM), guarded, seeded."""

from __future__ import annotations

import contextlib
import copy
import math
import time
from dataclasses import dataclass, field
from typing import Any

from splink import Linker
from splink.internals.database_api import DatabaseAPISubClass
from splink.internals.exceptions import EMTrainingException
from splink.internals.splink_dataframe import SplinkDataFrame

from threadline.resolve import spec

# u-values from this many random pairs; more costs time (about a minute at 1e7) without changing the result much.
U_PAIRS = 2e6
# EM on at most this many pairs per training block: the memory peak of a large run is set here.
EM_PAIRS = 1.5e6
# Below this, an m-value for the best level of a comparison is taken as collapsed (households, namesakes).
M_FLOOR = 0.05
# Share of true pairs the deterministic rules (same name and date of birth; same name and address) are taken to
# find. 0.35 (closer to what they find on sparse seizure records) gave lower F1 on a 2k-people seizure than 0.7.
DETERMINISTIC_RECALL = 0.7
# No level's m or u may be (near) zero: its weight would be unbounded.
M_MIN = 0.002
U_MIN = 1e-6


@dataclass
class Training:
    settings: dict[str, Any]
    seed: int
    prior: float
    seconds: float
    fixed_m: list[str] = field(default_factory=list)
    degenerate_blocks: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "seed": self.seed,
            "probability_two_random_records_match": self.prior,
            "u_pairs": U_PAIRS,
            "em_pairs": EM_PAIRS,
            "em_blocks": [b.get_blocking_rule("duckdb").blocking_rule_sql for b in spec.training_blocks()],
            "fixed_m": self.fixed_m,
            "degenerate_em_blocks": self.degenerate_blocks,
            "seconds": round(self.seconds, 2),
        }


def linker_for(frame: SplinkDataFrame, settings: Any) -> Linker:
    return Linker(frame, settings, log_level=None, validate_settings=False)


DEFAULT_PRIOR = 1e-4


def train(
    api: DatabaseAPISubClass,
    frame: SplinkDataFrame,
    *,
    seed: int = 42,
) -> Training:
    """Train on `frame` and return the model as a Splink settings dictionary (JSON-ready)."""
    started = time.perf_counter()
    linker = linker_for(frame, spec.settings())
    # Tiny data can make the rules find more pairs than the recall allows: the design's default prior stands.
    with contextlib.suppress(ValueError):
        linker.training.estimate_probability_two_random_records_match(
            spec.deterministic_rules(), recall=DETERMINISTIC_RECALL
        )
    linker.training.estimate_u_using_random_sampling(max_pairs=U_PAIRS, seed=seed, min_count_per_level=None)
    skipped_blocks: list[str] = []
    for block in spec.training_blocks():
        try:
            linker.training.estimate_parameters_using_expectation_maximisation(
                block, estimate_without_term_frequencies=True, max_pairs=EM_PAIRS
            )
        except (ValueError, EMTrainingException):
            # EM degenerated (an m-value underflowed to zero: Splink refuses it) or the block found no pairs at
            # all (a tiny seizure). The block's estimates are dropped; the other block and the priors in guard_m
            # stand in.
            skipped_blocks.append(block.get_blocking_rule("duckdb").blocking_rule_sql)
    settings = linker.misc.save_model_to_json()
    fixed = guard_m(settings)
    prior = float(settings["probability_two_random_records_match"])
    if not 0.0 < prior < 1.0:
        # A handful of records can make the estimate 0 or 1, which no match weight can be computed from.
        prior = DEFAULT_PRIOR
        settings["probability_two_random_records_match"] = prior
        fixed.append("probability_two_random_records_match")
    return Training(settings, seed, prior, time.perf_counter() - started, fixed, skipped_blocks)


def guard_m(settings: dict[str, Any]) -> list[str]:
    """Repair m- and u-values training left unusable. Returns the comparisons touched.

    EM cannot see a level no training pair reaches (no national ids in this seizure) and pushes the m of a level
    towards zero when no match in its blocks shows it (every true pair there shares a username, say): that level
    would then veto a match outright. The documented prior stands in for a comparison whose best level collapsed;
    every other m and u is kept off zero so no single disagreement can be infinitely strong."""
    fixed: list[str] = []
    for comparison in settings["comparisons"]:
        name = comparison["output_column_name"]
        levels = [lv for lv in comparison["comparison_levels"] if not lv.get("is_null_level")]
        prior = spec.PRIOR_M.get(name) or [1.0 / len(levels)] * len(levels)
        m = [lv.get("m_probability") for lv in levels]
        touched = False
        if not isinstance(m[0], float) or not math.isfinite(m[0]) or m[0] < M_FLOOR:
            m = list(prior)
            touched = True
        clean = []
        for value, default in zip(m, prior, strict=True):
            ok = isinstance(value, float) and math.isfinite(value)
            use = max(float(value) if ok else default, M_MIN)
            touched |= use != value
            clean.append(use)
        total = sum(clean)
        for level, value in zip(levels, clean, strict=True):
            level["m_probability"] = value / total
            u = level.get("u_probability")
            if not isinstance(u, float) or not math.isfinite(u) or u < U_MIN:
                level["u_probability"] = U_MIN
        if touched:
            fixed.append(name)
    return fixed


def model_settings(saved: dict[str, Any]) -> dict[str, Any]:
    """A stored model as settings for a new Linker (a copy: Splink may change what it is given)."""
    settings = copy.deepcopy(saved)
    settings.pop("linker_uid", None)
    return settings
