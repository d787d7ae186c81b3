"""Tests of the drift combiner and the drift record, without a model."""

import json
import logging

import apache_beam as beam
import numpy as np
import pytest
from apache_beam.testing import test_pipeline
from apache_beam.testing.util import assert_that

from pipeline import drift, transforms
from wdbc import schema, statistics

_ROWS = 400


def _training(seed: int = 0):
    rng = np.random.default_rng(seed)
    features = rng.normal(10.0, 2.0, size=(_ROWS, schema.NUM_FEATURES))
    probabilities = rng.uniform(size=_ROWS)
    return features, probabilities


def _scored_batch(features, probabilities) -> drift.ScoredBatch:
    predicted = (probabilities >= 0.5).astype(np.int64)
    return drift.ScoredBatch(features, probabilities, predicted)


def _profile(combine: drift.ProfileScoresFn, batches) -> drift.ScoreProfile:
    accumulator = combine.create_accumulator()
    for batch in batches:
        accumulator = combine.add_input(accumulator, batch)
    return accumulator


def _assert_profiles_equal(actual: drift.ScoreProfile, expected: drift.ScoreProfile):
    assert actual.rows == expected.rows
    np.testing.assert_array_equal(actual.feature_bins, expected.feature_bins)
    np.testing.assert_allclose(actual.feature_sums, expected.feature_sums)
    np.testing.assert_array_equal(actual.below_min, expected.below_min)
    np.testing.assert_array_equal(actual.above_max, expected.above_max)
    np.testing.assert_array_equal(actual.probability_bins, expected.probability_bins)
    np.testing.assert_array_equal(
        actual.probability_histogram, expected.probability_histogram
    )
    assert actual.probability_sum == pytest.approx(expected.probability_sum)
    assert actual.predicted_malignant == expected.predicted_malignant


def test_merged_partials_equal_one_shot():
    features, probabilities = _training()
    training = statistics.training_statistics(features, probabilities)
    combine = drift.ProfileScoresFn(training)
    scored, scored_p = _training(seed=5)
    whole = _scored_batch(scored, scored_p)
    parts = [
        _scored_batch(scored[rows], scored_p[rows])
        for rows in np.array_split(np.arange(_ROWS), 7)
    ]

    one_shot = _profile(combine, [whole])
    partials = [_profile(combine, parts[:3]), _profile(combine, parts[3:])]
    merged = combine.merge_accumulators(partials)

    _assert_profiles_equal(merged, one_shot)
    np.testing.assert_array_equal(
        one_shot.feature_bins[0],
        statistics.bin_counts(
            training["features"][schema.FEATURE_NAMES[0]]["decile_edges"], scored[:, 0]
        ),
    )
    assert one_shot.feature_bins.sum(axis=1).tolist() == [_ROWS] * schema.NUM_FEATURES


def test_out_of_range_counts():
    features, probabilities = _training()
    training = statistics.training_statistics(features, probabilities)
    combine = drift.ProfileScoresFn(training)
    scored = features[:10].copy()
    scored[0, 3] = features[:, 3].min() - 1.0
    scored[1, 3] = features[:, 3].max() + 1.0
    scored[2, 3] = features[:, 3].max()

    profile = _profile(combine, [_scored_batch(scored, probabilities[:10])])
    record = drift.drift_summary(profile, training)["features"][schema.FEATURE_NAMES[3]]

    assert record["below_min"] == 1
    assert record["above_max"] == 1
    assert record["out_of_range"] == 2
    assert record["out_of_range_share"] == pytest.approx(0.2)
    assert profile.below_min.sum() == 1
    assert profile.above_max.sum() == 1


def test_range_counts_match_comparisons():
    features, probabilities = _training()
    training = statistics.training_statistics(features, probabilities)
    combine = drift.ProfileScoresFn(training)
    minimum = features.min(axis=0)
    maximum = features.max(axis=0)
    scored = features[:50].copy()
    scored[0, 0] = np.nan
    scored[1, 0] = np.inf
    scored[2, 0] = -np.inf
    scored[3:6, 1] = minimum[1]
    scored[6:9, 1] = maximum[1]

    profile = _profile(combine, [_scored_batch(scored, probabilities[:50])])

    np.testing.assert_array_equal(profile.below_min, (scored < minimum).sum(axis=0))
    np.testing.assert_array_equal(profile.above_max, (scored > maximum).sum(axis=0))
    assert profile.below_min[0] == 1
    assert profile.above_max[0] == 1


def test_training_rows_have_no_drift():
    features, probabilities = _training()
    training = statistics.training_statistics(features, probabilities)
    combine = drift.ProfileScoresFn(training)

    profile = _profile(combine, [_scored_batch(features, probabilities)])
    record = drift.drift_summary(profile, training, max_psi=0.1)

    for name, feature in record["features"].items():
        assert feature["psi"] == pytest.approx(0.0, abs=1e-9), name
        assert feature["level"] == "stable", name
        assert feature["out_of_range"] == 0, name
        assert feature["mean_shift_std"] == pytest.approx(0.0, abs=1e-9), name
    assert record["probability"]["psi"] == pytest.approx(0.0, abs=1e-9)
    assert record["major_features"] == []
    assert record["gate"]["passed"] is True


def test_shifted_feature_fails_gate():
    features, probabilities = _training()
    training = statistics.training_statistics(features, probabilities)
    combine = drift.ProfileScoresFn(training)
    shifted = features.copy()
    shifted[:, 7] += 2.0  # one training standard deviation

    profile = _profile(combine, [_scored_batch(shifted, probabilities)])
    record = drift.drift_summary(profile, training, max_psi=0.25)

    name = schema.FEATURE_NAMES[7]
    assert record["features"][name]["level"] == "major"
    assert record["features"][name]["mean_shift_std"] == pytest.approx(1.0, rel=0.05)
    assert record["major_features"] == [name]
    assert record["gate"] == {
        "max_psi": 0.25,
        "passed": False,
        "failed_features": [name],
    }


def test_no_rows_fails_gate():
    features, probabilities = _training()
    training = statistics.training_statistics(features, probabilities)
    combine = drift.ProfileScoresFn(training)

    record = drift.drift_summary(combine.create_accumulator(), training, max_psi=0.1)

    assert record["rows"] == 0
    assert record["features"][schema.FEATURE_NAMES[0]]["psi"] is None
    assert record["probability"]["psi"] is None
    assert record["gate"]["passed"] is False
    assert record["gate"]["failed_features"] == []
    ungated = drift.drift_summary(combine.create_accumulator(), training)
    assert ungated["gate"]["passed"] is True


def _matches_rows(expected_rows: int, expected_bins: list):
    def check(outputs):
        assert len(outputs) == 1
        (record,) = outputs
        assert record["rows"] == expected_rows
        first = record["features"][schema.FEATURE_NAMES[0]]
        assert first["bin_counts"] == expected_bins

    return check


def test_summarize_drift_in_pipeline():
    features, probabilities = _training()
    training = statistics.training_statistics(features, probabilities)
    scored, scored_p = _training(seed=9)
    batches = [
        _scored_batch(scored[rows], scored_p[rows])
        for rows in np.array_split(np.arange(_ROWS), 5)
    ]
    edges = training["features"][schema.FEATURE_NAMES[0]]["decile_edges"]
    expected_bins = statistics.bin_counts(edges, scored[:, 0]).tolist()

    with test_pipeline.TestPipeline(runner="FnApiRunner") as pipeline:
        records = (
            pipeline
            | beam.Create(batches, reshuffle=False)
            | drift.SummarizeDrift(training, max_psi=None)
        )
        assert_that(records, _matches_rows(_ROWS, expected_bins))


def _reject_constant(name):
    raise ValueError(f"summary.json contains {name}, which is not JSON")


def test_summary_json_is_strict():
    features, probabilities = _training()
    training = statistics.training_statistics(features, probabilities)
    combine = drift.ProfileScoresFn(training)
    profile = _profile(combine, [_scored_batch(features[:5], probabilities[:5])])
    # Feature sums overflow to infinity when values near the float64 maximum
    # are added.
    profile.feature_sums[0] = np.inf
    profile.feature_sums[1] = np.nan
    summary = {"drift": drift.drift_summary(profile, training), "ratio": -np.inf}

    text = transforms.summary_json(summary)

    parsed = json.loads(text, parse_constant=_reject_constant)
    first, second = schema.FEATURE_NAMES[:2]
    assert parsed["drift"]["features"][first]["mean"] is None
    assert parsed["drift"]["features"][first]["mean_shift_std"] is None
    assert parsed["drift"]["features"][second]["mean"] is None
    assert parsed["ratio"] is None
    assert parsed["drift"]["rows"] == 5


def test_small_sample_is_not_judged(caplog):
    features, probabilities = _training()
    training = statistics.training_statistics(features, probabilities)
    combine = drift.ProfileScoresFn(training)
    profile = _profile(combine, [_scored_batch(features[:7], probabilities[:7])])

    record = drift.drift_summary(profile, training, max_psi=0.25, min_rows=1000)
    with caplog.at_level(logging.WARNING, logger="pipeline.drift"):
        drift.log_drift(record)

    # Unchanged training rows: the PSI is high only because 7 rows fill 10 bins.
    assert max(f["psi"] for f in record["features"].values()) > 0.25
    for name, feature in record["features"].items():
        assert feature["level"] == drift.INSUFFICIENT_ROWS, name
    assert record["probability"]["level"] == drift.INSUFFICIENT_ROWS
    assert record["enough_rows"] is False
    assert record["min_rows"] == 1000
    assert record["major_features"] == []
    assert record["gate"]["passed"] is True
    assert record["gate"]["failed_features"] == []
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "7 rows" in warnings[0]
    assert "--min_drift_rows 1000" in warnings[0]


def test_sample_at_minimum_is_judged():
    features, probabilities = _training()
    training = statistics.training_statistics(features, probabilities)
    combine = drift.ProfileScoresFn(training)
    shifted = features.copy()
    shifted[:, 7] += 2.0

    profile = _profile(combine, [_scored_batch(shifted, probabilities)])
    record = drift.drift_summary(profile, training, max_psi=0.25, min_rows=_ROWS)

    name = schema.FEATURE_NAMES[7]
    assert record["enough_rows"] is True
    assert record["features"][name]["level"] == "major"
    assert record["gate"]["failed_features"] == [name]


def test_psi_sampling_bias_formula():
    # 9 degrees of freedom over 1000 scored and 427 training rows.
    assert drift.psi_sampling_bias(1000, 427) == pytest.approx(9 * (1e-3 + 1 / 427))
    assert drift.psi_sampling_bias(7, 427) > 1.0
