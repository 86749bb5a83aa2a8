"""The PDQ multi-index returns exactly what brute force returns; the exact-hash index agrees with a Python set."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from threadline.core.pdq import pdq_matrix
from threadline.media.exact import ExactIndex, naive_match
from threadline.media.pdqindex import (
    FaissMultiHash,
    MultiIndex,
    Results,
    brute_force,
    layout_memory,
    make_layout,
    plan_layout,
)

REFERENCE = Path(__file__).resolve().parents[2] / "shared" / "testdata" / "pdq-reference"


def _as_sets(results: Results, n: int) -> list[set[tuple[int, int]]]:
    return [set(results.of(q)) for q in range(n)]


def _hashes(path: Path) -> np.ndarray:
    lines = path.read_text(encoding="utf-8").split()
    return pdq_matrix([ln.split(",")[0].strip().lower() for ln in lines if ln.strip()])


def _near(rng: np.random.Generator, source: np.ndarray, distance: int) -> np.ndarray:
    bits = np.unpackbits(source)
    bits[rng.choice(256, distance, replace=False)] ^= 1
    return np.packbits(bits)


@pytest.mark.skipif(not REFERENCE.is_dir(), reason="../shared/testdata/pdq-reference is absent")
def test_needles_in_the_haystack_match_brute_force_exactly() -> None:
    haystack, needles = _hashes(REFERENCE / "haystack.txt"), _hashes(REFERENCE / "needles.txt")
    truth = _as_sets(brute_force(haystack, needles, 31), len(needles))
    assert sum(map(len, truth)) > 0
    assert _as_sets(MultiIndex.build(haystack).search(needles), len(needles)) == truth
    assert _as_sets(MultiIndex.build(haystack).search(needles, batch=True), len(needles)) == truth
    assert _as_sets(FaissMultiHash(haystack).search(needles, 31), len(needles)) == truth
    for d in (0, 10, 20):
        assert _as_sets(MultiIndex.build(haystack).search(needles, d), len(needles)) == _as_sets(
            brute_force(haystack, needles, d), len(needles)
        )


@pytest.mark.parametrize("m", [12, 16, 23, 32])
def test_every_layout_finds_planted_matches_at_every_distance(m: int) -> None:
    rng = np.random.default_rng(m)
    known = rng.integers(0, 256, (3000, 32), dtype=np.uint8)
    queries = np.array([_near(rng, known[rng.integers(3000)], d) for d in range(0, 40)] + [known[0]] * 3)
    index = MultiIndex.build(known, 31, make_layout(m, 31))
    assert _as_sets(index.search(queries), len(queries)) == _as_sets(brute_force(known, queries, 31), len(queries))
    found = index.search(queries)
    assert all(len(found.of(q)) >= 1 for q in range(32))  # distances 0..31 planted
    assert all(dist <= 31 for dist in found.distances)


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(1, 400),
    radius=st.integers(0, 40),
    duplicates=st.integers(0, 40),
)
def test_index_equals_brute_force_on_random_sets(seed: int, n: int, radius: int, duplicates: int) -> None:
    rng = np.random.default_rng(seed)
    known = rng.integers(0, 256, (n, 32), dtype=np.uint8)
    # Many copies of one hash: more matches for one query than the per-query buffer holds at first.
    known = np.concatenate([known, np.repeat(known[:1], duplicates, axis=0)])
    queries = np.array([_near(rng, known[rng.integers(len(known))], int(rng.integers(0, 45))) for _ in range(30)])
    index = MultiIndex.build(known, radius)
    assert _as_sets(index.search(queries), 30) == _as_sets(brute_force(known, queries, radius), 30)


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(1, 400),
    radius=st.integers(0, 63),
    duplicates=st.integers(0, 40),
)
def test_batch_join_equals_brute_force_on_random_sets(seed: int, n: int, radius: int, duplicates: int) -> None:
    rng = np.random.default_rng(seed)
    known = rng.integers(0, 256, (n, 32), dtype=np.uint8)
    known = np.concatenate([known, np.repeat(known[:1], duplicates, axis=0)])
    queries = np.array([_near(rng, known[rng.integers(len(known))], int(rng.integers(0, 70))) for _ in range(30)])
    queries = np.concatenate([queries, known[:1], known[:1]])  # the same query twice
    index = MultiIndex.build(known, radius)
    truth = _as_sets(brute_force(known, queries, radius), len(queries))
    assert _as_sets(index.search(queries, batch=True), len(queries)) == truth


def test_batch_join_keeps_every_match_when_one_bucket_overflows_its_room() -> None:
    # 2,000 copies of one hash and 60 queries equal to it: 120,000 matches meet in one bucket of every chunk, far more
    # than a block's first allowance; the block runs again with room for all, and queries beyond the per-query
    # buffer are answered again in full.
    rng = np.random.default_rng(11)
    known = np.concatenate(
        [
            rng.integers(0, 256, (3000, 32), dtype=np.uint8),
            np.repeat(rng.integers(0, 256, (1, 32), np.uint8), 2000, axis=0),
        ]
    )
    queries = np.concatenate([np.repeat(known[-1:], 60, axis=0), known[:50]])
    index = MultiIndex.build(known)
    got = index.search(queries, batch=True)
    assert all(len(got.of(q)) == 2000 for q in range(60))
    assert _as_sets(got, len(queries)) == _as_sets(brute_force(known, queries, 31), len(queries))


def test_batch_join_agrees_with_probing_and_is_chosen_by_size() -> None:
    rng = np.random.default_rng(5)
    known = rng.integers(0, 256, (20_000, 32), dtype=np.uint8)
    queries = np.concatenate(
        [
            np.array([_near(rng, known[i], int(i % 32)) for i in range(0, 20_000, 4)]),
            rng.integers(0, 256, (20_000, 32), np.uint8),
        ]
    )
    index = MultiIndex.build(known)
    batch, probe = index.search(queries, batch=True), index.search(queries, batch=False)
    assert np.array_equal(batch.lims, probe.lims) and np.array_equal(batch.ids, probe.ids)
    assert np.array_equal(batch.distances, probe.distances)
    assert all(len(batch.of(q)) >= 1 for q in range(5000))
    assert np.array_equal(index.search(queries).ids, batch.ids)  # 25,000 queries: the size picks the batch join


def test_layouts_are_exact_by_pigeonhole_and_fit_memory() -> None:
    for n in (1_000, 1_000_000, 10_000_000):
        for r in (0, 8, 31, 40):
            chunks = plan_layout(n, r)
            assert sum(c.bits for c in chunks) == 256
            assert sum(c.radius + 1 for c in chunks) >= r + 1
    assert layout_memory(10_000_000, plan_layout(10_000_000, 31)) <= 2 * 1024**3


def test_an_index_cannot_be_asked_beyond_its_radius_or_built_too_coarse() -> None:
    known = np.zeros((4, 32), dtype=np.uint8)
    with pytest.raises(ValueError):
        MultiIndex.build(known, 10).search(known, 11)
    with pytest.raises(ValueError):
        MultiIndex.build(known, 31, make_layout(16, 20))
    with pytest.raises(ValueError):
        MultiIndex.build(known, 31, make_layout(8, 31))  # 32-bit chunks: a 16 GB offsets table


def test_saved_index_loads_and_answers_the_same(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    known = rng.integers(0, 256, (500, 32), dtype=np.uint8)
    queries = np.array([_near(rng, known[i], 12) for i in range(20)])
    index = MultiIndex.build(known)
    index.save(tmp_path / "idx", {"fingerprint": "x"}, {"known_ids": np.arange(500)})
    loaded = MultiIndex.load(tmp_path / "idx")
    assert MultiIndex.manifest(tmp_path / "idx")["fingerprint"] == "x"  # type: ignore[index]
    assert list(MultiIndex.load_extra(tmp_path / "idx", "known_ids")) == list(range(500))
    assert _as_sets(loaded.search(queries), 20) == _as_sets(index.search(queries), 20)


def test_empty_index_and_empty_queries() -> None:
    empty = MultiIndex.build(np.zeros((0, 32), dtype=np.uint8))
    assert empty.search(np.zeros((2, 32), dtype=np.uint8)).of(1) == []
    assert len(MultiIndex.build(np.ones((3, 32), dtype=np.uint8)).search(np.zeros((0, 32), np.uint8)).ids) == 0


def test_exact_index_agrees_with_a_python_set() -> None:
    rng = np.random.default_rng(9)
    known = rng.integers(0, 256, (5000, 32), dtype=np.uint8)
    known[101, :8] = known[100, :8]  # two known hashes sharing a prefix: both must still be found
    # Same first 8 bytes, different rest: a prefix hit that verification must reject.
    twin = known[7].copy()
    twin[20] ^= 0xFF
    picked = np.concatenate([rng.integers(0, 5000, 298), [100, 101]])
    queries = np.concatenate([known[picked], rng.integers(0, 256, (300, 32), np.uint8), [twin]])
    got = ExactIndex(known).match(queries)
    want = naive_match(known, queries)
    assert (got >= 0).sum() == 300
    assert got[-1] == -1
    assert list(got[298:300]) == [100, 101]
    assert all(np.array_equal(known[g], known[w]) for g, w in zip(got, want, strict=True) if g >= 0)
    assert ((got >= 0) == (want >= 0)).all()
