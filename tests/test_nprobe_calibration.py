"""IVF ``nprobe`` is calibrated per index at build time, kept across save/load, and capped."""

from __future__ import annotations

import logging

import faiss
import numpy as np
import pytest

from indexer.vectors.faiss_index import (
    RECALL_TARGET,
    IndexLayout,
    VectorIndex,
    default_nprobe,
)

DIM = 64
NLIST = 64
COUNT = 8000


def clustered(count: int, spread: float, seed: int) -> np.ndarray:
    """Unit vectors around 40 centres; ``spread`` sets how far neighbours spill across lists."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((40, DIM)).astype(np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    vectors = centres[rng.integers(0, 40, count)]
    vectors += 4 * spread / np.sqrt(DIM) * rng.standard_normal((count, DIM)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors


def held_out_recall(index: VectorIndex, stored: np.ndarray, queries: np.ndarray) -> float:
    """Recall@10 of ``index`` against brute force, for queries that are not in it."""
    truth = np.argsort(-(queries @ stored.T), axis=1)[:, :10]
    _, found = index.search(queries, 10)
    return float(np.mean([len(set(f) & set(t)) / 10 for f, t in zip(found, truth, strict=True)]))


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray]:
    vectors = clustered(COUNT + 300, spread=0.3, seed=1)
    return vectors[:COUNT], vectors[COUNT:]


@pytest.fixture(scope="module")
def built(data: tuple[np.ndarray, np.ndarray]) -> VectorIndex:
    return VectorIndex.build(np.arange(COUNT), data[0], IndexLayout(nlist=NLIST), DIM)


def test_layout_keeps_the_old_rule_as_the_uncalibrated_nprobe() -> None:
    assert IndexLayout().nprobe == 0 and IndexLayout().is_exact
    assert IndexLayout(nlist=4096).nprobe == default_nprobe(4096) == 128
    assert IndexLayout(nlist=4096, nprobe=32).nprobe == 32
    assert IndexLayout(nlist=16, nprobe=64).nprobe == 16
    assert IndexLayout(nlist=4096, nprobe=32).name == "IVF4096,SQ8"


def test_calibration_picks_the_smallest_nprobe_that_reaches_the_target(
    built: VectorIndex, data: tuple[np.ndarray, np.ndarray]
) -> None:
    calibration = built.calibration
    assert calibration is not None and not calibration.capped
    nprobe = calibration.nprobe
    assert built.layout.nprobe == nprobe == faiss.extract_index_ivf(built._index).nprobe
    assert 1 < nprobe < NLIST
    assert calibration.recall >= RECALL_TARGET
    assert calibration.max_nprobe == NLIST  # 8000 64-d codes are far inside the scan budget
    # Smallest on the ladder: every smaller step fell short.
    assert [p for p, _ in calibration.tried][-1] == nprobe
    assert all(recall < RECALL_TARGET for _, recall in calibration.tried[:-1])
    # Queries the calibration never saw get about the same recall, and half the probes less.
    stored, queries = data
    assert held_out_recall(built, stored, queries) >= RECALL_TARGET - 0.02
    faiss.extract_index_ivf(built._index).nprobe = nprobe // 2
    try:
        assert held_out_recall(built, stored, queries) < RECALL_TARGET
    finally:
        faiss.extract_index_ivf(built._index).nprobe = nprobe


def test_calibrated_nprobe_survives_save_and_load(
    built: VectorIndex, data: tuple[np.ndarray, np.ndarray]
) -> None:
    nprobe = built.layout.nprobe
    assert nprobe != default_nprobe(NLIST)  # else the test could not tell them apart
    loaded = VectorIndex.from_bytes(built.to_bytes())
    assert loaded.layout == IndexLayout(nlist=NLIST, nprobe=nprobe)
    assert faiss.extract_index_ivf(loaded._index).nprobe == nprobe
    queries = data[1][:50]
    assert np.array_equal(loaded.search(queries, 10)[1], built.search(queries, 10)[1])


def test_the_latency_cap_wins_over_the_recall_target_with_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    vectors = clustered(COUNT, spread=0.5, seed=2)
    with caplog.at_level(logging.INFO, logger="indexer.vectors.faiss_index"):
        index = VectorIndex.build(
            np.arange(COUNT), vectors, IndexLayout(nlist=NLIST), DIM, max_nprobe=6
        )
    calibration = index.calibration
    assert calibration is not None and calibration.capped
    assert [p for p, _ in calibration.tried] == [1, 2, 4, 6]
    assert index.layout.nprobe == 6 == faiss.extract_index_ivf(index._index).nprobe
    assert calibration.recall < RECALL_TARGET
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "nprobe 6" in warnings[0].getMessage()
    # Without the cap the same data does reach the target, further up the ladder.
    uncapped = VectorIndex.build(np.arange(COUNT), vectors, IndexLayout(nlist=NLIST), DIM)
    assert uncapped.calibration is not None and not uncapped.calibration.capped
    assert uncapped.layout.nprobe > 6


def test_the_scan_budget_sets_the_cap_from_the_lists_queries_visit(
    monkeypatch: pytest.MonkeyPatch, data: tuple[np.ndarray, np.ndarray]
) -> None:
    average_list_bytes = COUNT / NLIST * DIM
    monkeypatch.setattr("indexer.vectors.faiss_index.SCAN_BUDGET_BYTES", 2.5 * average_list_bytes)
    index = VectorIndex.build(np.arange(COUNT), data[0], IndexLayout(nlist=NLIST), DIM)
    calibration = index.calibration
    assert calibration is not None and calibration.capped
    assert 1 <= calibration.max_nprobe <= 3 and index.layout.nprobe == calibration.max_nprobe
    assert calibration.scanned_bytes <= 2.5 * average_list_bytes
