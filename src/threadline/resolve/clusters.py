"""From scored pairs to groups of records: Splink's connected components, then analysts' judgements enforced.

`Edge` lists carry (record a, record b, probability). Judgements work like a resolver graph: a "same" judgement is
an edge of probability 1; a "not same" judgement removes the pair and, if the two records still end up together
through other records, their group is rebuilt from its edges strongest first, never joining the two sides."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

import pyarrow as pa  # type: ignore[import-untyped]
from splink.clustering import cluster_pairwise_predictions_at_threshold

from threadline.resolve.engine import duckdb_api

Edge = tuple[int, int, float]


def _pair(a: int, b: int) -> tuple[int, int]:
    return (a, b) if a < b else (b, a)


def connected(nodes: Iterable[int], edges: list[Edge], threshold: float) -> dict[int, int]:
    """record -> cluster key (the smallest record id in the cluster), with Splink's connected components."""
    node_list = sorted(set(nodes))
    if not node_list:
        return {}
    api = duckdb_api()
    try:
        node_frame = api.register(pa.table({"unique_id": pa.array(node_list, pa.int64())}), table_name="nodes")
        kept = [e for e in edges if e[2] >= threshold]
        edge_table = pa.table(
            {
                "unique_id_l": pa.array([e[0] for e in kept], pa.int64()),
                "unique_id_r": pa.array([e[1] for e in kept], pa.int64()),
                "match_probability": pa.array([e[2] for e in kept], pa.float64()),
            }
        )
        edge_frame = api.register(edge_table, table_name="edges")
        result = cluster_pairwise_predictions_at_threshold(
            node_frame, edge_frame, api, node_id_column_name="unique_id", threshold_match_probability=threshold
        )
        rows = api.duckdb_con.sql(
            f"SELECT unique_id, min(unique_id) OVER (PARTITION BY cluster_id) FROM {result.physical_name}"
        ).fetchall()
    finally:
        api.duckdb_con.close()
    return {int(a): int(b) for a, b in rows}


def constrained(members: list[int], edges: list[Edge], apart: set[tuple[int, int]]) -> dict[int, int]:
    """Rebuild one group from its edges, strongest first, never joining records an analyst said differ."""
    parent = {m: m for m in members}
    banned: dict[int, set[int]] = defaultdict(set)  # root -> roots it may not join
    for a, b in apart:
        if a in parent and b in parent:
            banned[a].add(b)
            banned[b].add(a)

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, b, _ in sorted(edges, key=lambda e: (-e[2], e[0], e[1])):
        ra, rb = find(a), find(b)
        if ra == rb or rb in banned[ra]:
            continue
        keep, gone = (ra, rb) if ra < rb else (rb, ra)
        parent[gone] = keep
        merged = banned.pop(gone, set()) | banned.get(keep, set())
        banned[keep] = merged
        for other in merged:
            banned[other].discard(gone)
            banned[other].add(keep)
    roots = {m: find(m) for m in members}
    smallest: dict[int, int] = {}
    for m, root in roots.items():
        smallest[root] = min(smallest.get(root, m), m)
    return {m: smallest[roots[m]] for m in members}


def cluster(nodes: Iterable[int], edges: list[Edge], threshold: float, apart: set[tuple[int, int]]) -> dict[int, int]:
    """Connected components over edges at or above `threshold`, then groups that hold a pair judged "not same"
    rebuilt so the judgement holds."""
    apart = {_pair(a, b) for a, b in apart}
    usable = [e for e in edges if _pair(e[0], e[1]) not in apart]
    clusters = connected(nodes, usable, threshold)
    broken = {clusters[a] for a, b in apart if a in clusters and b in clusters and clusters[a] == clusters[b]}
    if not broken:
        return clusters
    groups: dict[int, list[int]] = defaultdict(list)
    for record, key in clusters.items():
        if key in broken:
            groups[key].append(record)
    inside: dict[int, list[Edge]] = defaultdict(list)
    for e in usable:
        if e[2] >= threshold and clusters.get(e[0]) in broken and clusters.get(e[0]) == clusters.get(e[1]):
            inside[clusters[e[0]]].append(e)
    for key, members in groups.items():
        clusters.update(constrained(members, inside[key], apart))
    return clusters
