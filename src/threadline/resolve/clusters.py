"""From scored pairs to groups of records: Splink's connected components, then analysts' judgements enforced.

Edges carry (record a, record b, probability). Judgements work like a resolver graph: a "same" judgement is an
edge of probability 1; a "not same" judgement removes the pair and, if the two records still end up together
through other records, their group is rebuilt from its edges strongest first, never joining the two sides.

`cluster_in` works on tables in a DuckDB connection (what resolve runs, a million records without a Python
object per edge); `cluster` takes and returns Python values through the same code, for tests and small callers."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

import duckdb
import pyarrow as pa  # type: ignore[import-untyped]
from splink import DuckDBAPI
from splink.clustering import cluster_pairwise_predictions_at_threshold

Edge = tuple[int, int, float]


def _pair(a: int, b: int) -> tuple[int, int]:
    return (a, b) if a < b else (b, a)


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


def _apart_table(apart: set[tuple[int, int]]) -> pa.Table:
    pairs = sorted({_pair(a, b) for a, b in apart})
    return pa.table(
        {
            "record_a": pa.array([a for a, _ in pairs], pa.int64()),
            "record_b": pa.array([b for _, b in pairs], pa.int64()),
        }
    )


def cluster_in(
    con: duckdb.DuckDBPyConnection, nodes: str, edges: str, threshold: float, apart: set[tuple[int, int]]
) -> str:
    """Cluster the records in table `nodes` (record_id) over table `edges` (record_a, record_b, probability);
    creates and returns table `clusters` (record_id, cluster_key: the smallest record id of the group)."""
    con.register("apart_pairs", _apart_table(apart))
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE cluster_edges AS
        SELECT e.record_a AS unique_id_l, e.record_b AS unique_id_r, e.probability AS match_probability
        FROM {edges} e
        ANTI JOIN apart_pairs j
          ON j.record_a = least(e.record_a, e.record_b) AND j.record_b = greatest(e.record_a, e.record_b)
        WHERE e.probability >= {float(threshold)!r} AND e.record_a <> e.record_b
        """
    )
    con.execute(f"CREATE OR REPLACE TEMP TABLE cluster_nodes AS SELECT DISTINCT record_id AS unique_id FROM {nodes}")
    api = DuckDBAPI(connection=con)
    result = cluster_pairwise_predictions_at_threshold(
        api.register("cluster_nodes", table_name="cluster_nodes_in"),
        api.register("cluster_edges", table_name="cluster_edges_in"),
        api,
        node_id_column_name="unique_id",
        threshold_match_probability=threshold,
    )
    con.execute(
        f"""
        CREATE OR REPLACE TABLE clusters AS
        SELECT unique_id AS record_id, min(unique_id) OVER (PARTITION BY cluster_id) AS cluster_key
        FROM {result.physical_name}
        """
    )
    result.drop_table_from_database_and_remove_from_cache()
    _enforce_apart(con, apart)
    con.unregister("apart_pairs")
    return "clusters"


def _enforce_apart(con: duckdb.DuckDBPyConnection, apart: set[tuple[int, int]]) -> None:
    """Rebuild the groups that still hold both sides of a "not same" judgement."""
    if not apart:
        return
    broken = [
        key
        for (key,) in con.execute(
            """
            SELECT DISTINCT ca.cluster_key FROM apart_pairs j
            JOIN clusters ca ON ca.record_id = j.record_a
            JOIN clusters cb ON cb.record_id = j.record_b
            WHERE ca.cluster_key = cb.cluster_key
            """
        ).fetchall()
    ]
    if not broken:
        return
    con.register("broken_keys", pa.table({"cluster_key": pa.array(broken, pa.int64())}))
    members: dict[int, list[int]] = defaultdict(list)
    for record, key in con.execute(
        "SELECT record_id, cluster_key FROM clusters SEMI JOIN broken_keys USING (cluster_key)"
    ).fetchall():
        members[key].append(record)
    inside: dict[int, list[Edge]] = defaultdict(list)
    for key, a, b, p in con.execute(
        """
        SELECT ca.cluster_key, e.unique_id_l, e.unique_id_r, e.match_probability FROM cluster_edges e
        JOIN clusters ca ON ca.record_id = e.unique_id_l
        JOIN clusters cb ON cb.record_id = e.unique_id_r
        WHERE ca.cluster_key = cb.cluster_key AND ca.cluster_key IN (SELECT cluster_key FROM broken_keys)
        """
    ).fetchall():
        inside[key].append((a, b, p))
    con.unregister("broken_keys")
    rebuilt: dict[int, int] = {}
    for key, records in members.items():
        rebuilt.update(constrained(records, inside[key], apart))
    con.register(
        "rebuilt",
        pa.table(
            {
                "record_id": pa.array(list(rebuilt), pa.int64()),
                "cluster_key": pa.array(list(rebuilt.values()), pa.int64()),
            }
        ),
    )
    con.execute("UPDATE clusters SET cluster_key = r.cluster_key FROM rebuilt r WHERE clusters.record_id = r.record_id")
    con.unregister("rebuilt")


def edge_table(edges: Iterable[Edge]) -> pa.Table:
    listed = list(edges)
    return pa.table(
        {
            "record_a": pa.array([e[0] for e in listed], pa.int64()),
            "record_b": pa.array([e[1] for e in listed], pa.int64()),
            "probability": pa.array([e[2] for e in listed], pa.float64()),
        }
    )


def cluster(nodes: Iterable[int], edges: list[Edge], threshold: float, apart: set[tuple[int, int]]) -> dict[int, int]:
    """Connected components over edges at or above `threshold`, then groups that hold a pair judged "not same"
    rebuilt so the judgement holds. record -> cluster key (the smallest record id of its group)."""
    node_list = sorted(set(nodes))
    if not node_list:
        return {}
    con = duckdb.connect(":memory:")
    try:
        con.register("nodes_in", pa.table({"record_id": pa.array(node_list, pa.int64())}))
        con.register("edges_in", edge_table(edges))
        table = cluster_in(con, "nodes_in", "edges_in", threshold, apart)
        rows = con.execute(f"SELECT record_id, cluster_key FROM {table}").fetchall()
    finally:
        con.close()
    return {int(a): int(b) for a, b in rows}
