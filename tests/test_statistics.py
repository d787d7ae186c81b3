"""Tests of the training statistics and the PSI arithmetic in wdbc.statistics."""

import math

import numpy as np
import pytest

from wdbc import schema, statistics


def _features(rows: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.gamma(2.0, 3.0, size=(rows, schema.NUM_FEATURES))


def test_training_statistics_layout():
    features = _features(200)
    probabilities = np.random.default_rng(1).uniform(size=200)

    stats = statistics.training_statistics(features, probabilities)

    assert stats["rows"] == 200
    assert list(stats["features"]) == list(schema.FEATURE_NAMES)
    first = stats["features"][schema.FEATURE_NAMES[0]]
    assert first["min"] == features[:, 0].min()
    assert first["max"] == features[:, 0].max()
    assert first["mean"] == pytest.approx(features[:, 0].mean())
    assert first["std"] == pytest.approx(features[:, 0].std())
    assert len(first["decile_edges"]) == 9
    assert first["decile_edges"] == sorted(first["decile_edges"])
    assert len(first["bin_shares"]) == statistics.NUM_BINS
    assert sum(first["bin_shares"]) == pytest.approx(1.0)
    histogram = stats["probability"]["histogram"]
    assert len(histogram["edges"]) == statistics.PROBABILITY_HISTOGRAM_BINS + 1
    assert sum(histogram["shares"]) == pytest.approx(1.0)


def test_training_statistics_counts_ties():
    # Half the rows are 0, so the first five decile edges are all 0 and the
    # bins between them are empty. The stored shares must record that.
    column = np.concatenate([np.zeros(50), np.arange(1.0, 51.0)])
    features = np.tile(column[:, None], (1, schema.NUM_FEATURES))

    stats = statistics.training_statistics(features, np.full(100, 0.5))

    shares = stats["features"][schema.FEATURE_NAMES[0]]["bin_shares"]
    assert shares[:4] == [0.0, 0.0, 0.0, 0.0]
    assert shares[4] == pytest.approx(0.5)
    assert sum(shares) == pytest.approx(1.0)


@pytest.mark.parametrize(
    "features, probabilities, message",
    [
        (np.zeros((5, 29)), np.zeros(5), "shape"),
        (np.zeros((0, 30)), np.zeros(0), "at least one row"),
        (np.zeros((5, 30)), np.zeros(4), "one value per row"),
        (np.full((5, 30), np.nan), np.zeros(5), "finite"),
    ],
)
def test_training_statistics_rejects_bad_input(features, probabilities, message):
    with pytest.raises(ValueError, match=message):
        statistics.training_statistics(features, probabilities)


def test_bin_indices_edges_belong_to_upper_bin():
    edges = np.arange(1.0, 10.0)

    bins = statistics.bin_indices(edges, np.array([-5.0, 0.999, 1.0, 5.5, 9.0, 1e9]))

    assert bins.tolist() == [0, 0, 1, 5, 9, 9]


def test_bin_counts_matrix_matches_columns():
    features = _features(300, seed=3)
    edges = np.quantile(features, statistics.DECILE_LEVELS, axis=0).T

    counts = statistics.bin_counts(edges, features)

    assert counts.shape == (schema.NUM_FEATURES, statistics.NUM_BINS)
    for column in range(schema.NUM_FEATURES):
        expected = statistics.bin_counts(edges[column], features[:, column])
        assert counts[column].tolist() == expected.tolist()


@pytest.mark.parametrize("seed", [0, 1])
def test_bin_counts_match_bin_indices(seed):
    rng = np.random.default_rng(seed)
    values = np.round(rng.normal(size=(500, 4)), 1)
    values[:20, 0] = np.nan
    values[20:30, 1] = np.inf
    values[30:40, 1] = -np.inf
    edges = np.sort(np.round(rng.normal(size=(4, 9)), 1), axis=1)
    # Ties: edges that coincide, and values equal to an edge.
    edges[2, :4] = 0.0
    values[40:140, 2] = 0.0
    values[140:150, 3] = edges[3, 4]

    counts = statistics.bin_counts(edges, values)

    bins = statistics.bin_indices(edges, values)
    for column in range(values.shape[1]):
        expected = np.bincount(bins[:, column], minlength=statistics.NUM_BINS)
        assert counts[column].tolist() == expected.tolist(), column
    vector = statistics.bin_counts(edges[1], values[:, 1])
    expected = np.bincount(bins[:, 1], minlength=statistics.NUM_BINS)
    assert vector.tolist() == expected.tolist()


def test_probability_histogram_includes_one():
    counts = statistics.probability_histogram(np.array([0.0, 0.049, 0.05, 1.0]))

    assert counts[0] == 2
    assert counts[1] == 1
    assert counts[-1] == 1
    assert counts.sum() == 4


def test_psi_identical_distributions_is_zero():
    shares = np.full(10, 0.1)

    psi = statistics.population_stability_index(shares, np.full(10, 37))

    assert psi == pytest.approx(0.0, abs=1e-12)


def test_psi_hand_computed_case():
    # Two bins: training 50/50, scored 80/20.
    # PSI = (0.8 - 0.5) ln(0.8 / 0.5) + (0.2 - 0.5) ln(0.2 / 0.5)
    expected = 0.3 * math.log(1.6) + (-0.3) * math.log(0.4)

    psi = statistics.population_stability_index([0.5, 0.5], [80, 20])

    assert psi == pytest.approx(expected)
    assert psi == pytest.approx(0.415888, abs=1e-6)


def test_psi_empty_bin_uses_epsilon():
    epsilon = statistics.PSI_EPSILON
    expected = (epsilon - 0.5) * math.log(epsilon / 0.5) + 0.5 * math.log(1.0 / 0.5)

    psi = statistics.population_stability_index([0.5, 0.5], [0, 10])

    assert math.isfinite(psi)
    assert psi == pytest.approx(expected)


def test_psi_bin_empty_on_both_sides_adds_nothing():
    with_empty = statistics.population_stability_index([0.5, 0.0, 0.5], [30, 0, 70])
    without = statistics.population_stability_index([0.5, 0.5], [30, 70])

    assert with_empty == pytest.approx(without)


def test_psi_without_rows_is_none():
    assert statistics.population_stability_index(np.full(10, 0.1), np.zeros(10)) is None


@pytest.mark.parametrize(
    "psi, level",
    [
        (0.0, "stable"),
        (0.0999, "stable"),
        (0.1, "moderate"),
        (0.25, "moderate"),
        (0.2501, "major"),
        (3.0, "major"),
        (None, None),
    ],
)
def test_drift_level_thresholds(psi, level):
    assert statistics.drift_level(psi) == level


def test_probability_histogram_skips_nan():
    counts = statistics.probability_histogram(np.array([np.nan, 0.2, np.nan, 0.9]))

    assert counts.sum() == 2
    assert counts[4] == 1
    assert counts[18] == 1
