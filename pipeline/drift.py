"""Drift of the scored rows against the training statistics of the export.

The scoring step emits, next to each scored table, the batch's features and
predictions. ``ProfileScoresFn`` folds those into fixed-size histograms: per
feature 10 decile-bin counts, the sum and the counts below the training
minimum and above the training maximum. The accumulator's size grows with
features times bins, not with rows, and Beam lifts ``add_input`` into the
scoring stage, so only the small accumulators cross the shuffle.
``drift_summary`` turns the merged histograms into the ``drift`` record of
``summary.json``.
"""

import dataclasses
import json
import logging

import apache_beam as beam
import numpy as np
from apache_beam.io.filesystems import FileSystems

from pipeline import transforms
from wdbc import schema, statistics

_LOGGER = logging.getLogger(__name__)

PROFILE_TAG = "profile"

# Level of every feature and of the probability in a run with fewer scored
# rows than ``--min_drift_rows``: the PSI is reported but not judged.
INSUFFICIENT_ROWS = "insufficient_rows"


def psi_sampling_bias(rows: int, training_rows: int) -> float:
    """Estimate the PSI of two samples drawn from one distribution.

    The PSI is close to a chi-square statistic, so its mean over 10 bins is
    about (10 - 1) * (1 / rows + 1 / training_rows). A run with few rows
    therefore reads as drift although nothing changed.
    """
    return (statistics.NUM_BINS - 1) * (1 / rows + 1 / training_rows)


class DriftGateError(RuntimeError):
    """A failed ``--max_psi`` gate in a run whose outputs are written.

    The gate fails when a feature's PSI is above ``--max_psi``, or when no row
    was scored, so that no PSI could be checked.
    """

    def __init__(self, failed_features: list[str], max_psi: float):
        self.failed_features = list(failed_features)
        self.max_psi = max_psi
        if failed_features:
            problem = f"PSI above --max_psi {max_psi} for {', '.join(failed_features)}"
        else:
            problem = f"no row was scored, so --max_psi {max_psi} cannot be checked"
        super().__init__(
            f"{problem}; the outputs and summary.json are written but _SUCCESS is not."
        )


@dataclasses.dataclass
class ScoredBatch:
    """The features of one scored batch with the model's outputs for them."""

    features: np.ndarray  # float64 [n, 30]
    probability: np.ndarray  # float64 [n]
    predicted: np.ndarray  # int64 [n], 1 malignant


@dataclasses.dataclass
class ScoreProfile:
    """Histograms of the scored rows, merged across batches by addition."""

    rows: int
    feature_bins: np.ndarray  # int64 [30, 10]
    feature_sums: np.ndarray  # float64 [30]
    below_min: np.ndarray  # int64 [30]
    above_max: np.ndarray  # int64 [30]
    probability_bins: np.ndarray  # int64 [10]
    probability_histogram: np.ndarray  # int64 [20], equal-width on [0, 1]
    probability_sum: float
    predicted_malignant: int

    @classmethod
    def empty(cls) -> "ScoreProfile":
        features = schema.NUM_FEATURES
        return cls(
            rows=0,
            feature_bins=np.zeros((features, statistics.NUM_BINS), np.int64),
            feature_sums=np.zeros(features, np.float64),
            below_min=np.zeros(features, np.int64),
            above_max=np.zeros(features, np.int64),
            probability_bins=np.zeros(statistics.NUM_BINS, np.int64),
            probability_histogram=np.zeros(
                statistics.PROBABILITY_HISTOGRAM_BINS, np.int64
            ),
            probability_sum=0.0,
            predicted_malignant=0,
        )

    def add(self, other: "ScoreProfile") -> None:
        """Add ``other``'s counts and sums to this profile in place."""
        self.rows += other.rows
        self.feature_bins += other.feature_bins
        self.feature_sums += other.feature_sums
        self.below_min += other.below_min
        self.above_max += other.above_max
        self.probability_bins += other.probability_bins
        self.probability_histogram += other.probability_histogram
        self.probability_sum += other.probability_sum
        self.predicted_malignant += other.predicted_malignant


class ProfileScoresFn(beam.CombineFn):
    """Combine ``ScoredBatch`` elements into one ``ScoreProfile``."""

    def __init__(self, training: dict):
        per_feature = [training["features"][name] for name in schema.FEATURE_NAMES]
        self._edges = np.array([f["decile_edges"] for f in per_feature], np.float64)
        self._minimum = np.array([f["min"] for f in per_feature], np.float64)
        self._maximum = np.array([f["max"] for f in per_feature], np.float64)
        # The 9 decile edges, then the minimum: one comparison pass counts both
        # the bins and the values below the training range.
        self._below_thresholds = np.column_stack([self._edges, self._minimum])
        self._probability_edges = np.array(
            training["probability"]["decile_edges"], np.float64
        )

    def create_accumulator(self) -> ScoreProfile:
        return ScoreProfile.empty()

    def add_input(self, accumulator: ScoreProfile, batch: ScoredBatch):
        features = batch.features
        rows = len(features)
        accumulator.rows += rows
        # Free when the reader built the features column-major, as it does
        # unless a column needed the per-column conversion.
        columns = np.ascontiguousarray(features.T)
        below = statistics.count_compared(np.less, self._below_thresholds, columns)
        accumulator.feature_bins += statistics.bins_from_below(below[:, :-1], rows)
        accumulator.below_min += below[:, -1]
        accumulator.above_max += statistics.count_compared(
            np.greater, self._maximum[:, np.newaxis], columns
        )[:, 0]
        accumulator.feature_sums += features.sum(axis=0)
        accumulator.probability_bins += statistics.bin_counts(
            self._probability_edges, batch.probability
        )
        accumulator.probability_histogram += statistics.probability_histogram(
            batch.probability
        )
        accumulator.probability_sum += float(batch.probability.sum())
        accumulator.predicted_malignant += int((batch.predicted == 1).sum())
        return accumulator

    def merge_accumulators(self, accumulators) -> ScoreProfile:
        merged = ScoreProfile.empty()
        for accumulator in accumulators:
            merged.add(accumulator)
        return merged

    def extract_output(self, accumulator: ScoreProfile) -> ScoreProfile:
        return accumulator


def _round(value: float | None, digits: int = 6) -> float | None:
    return None if value is None else round(float(value), digits)


def _feature_drift(profile: ScoreProfile, column: int, training: dict) -> dict:
    rows = profile.rows
    outside = int(profile.below_min[column] + profile.above_max[column])
    psi = statistics.population_stability_index(
        training["bin_shares"], profile.feature_bins[column]
    )
    mean = profile.feature_sums[column] / rows if rows else None
    mean_shift = None
    if mean is not None and training["std"] > 0:
        mean_shift = (mean - training["mean"]) / training["std"]
    return {
        "psi": _round(psi),
        "level": statistics.drift_level(psi),
        "mean": _round(mean),
        "mean_shift_std": _round(mean_shift),
        "below_min": int(profile.below_min[column]),
        "above_max": int(profile.above_max[column]),
        "out_of_range": outside,
        "out_of_range_share": _round(outside / rows) if rows else None,
        "bin_counts": profile.feature_bins[column].tolist(),
    }


def drift_summary(
    profile: ScoreProfile,
    training: dict,
    max_psi: float | None = None,
    min_rows: int = 0,
) -> dict:
    """Build the ``drift`` record of ``summary.json`` from a merged profile.

    With ``max_psi`` set, ``gate.passed`` is false when any feature's PSI is
    above it, or when no row was scored; the PSI of the predicted probability
    is reported but not gated. With no scored rows every PSI is None. With
    fewer than ``min_rows`` scored rows every PSI is reported, but each level
    is ``INSUFFICIENT_ROWS``, no feature counts as major and no PSI fails the
    gate.
    """
    rows = profile.rows
    enough_rows = rows > 0 and rows >= min_rows
    features = {}
    for column, name in enumerate(schema.FEATURE_NAMES):
        features[name] = _feature_drift(profile, column, training["features"][name])
    probability_psi = statistics.population_stability_index(
        training["probability"]["bin_shares"], profile.probability_bins
    )
    probability_level = statistics.drift_level(probability_psi)
    if rows and not enough_rows:
        for record in features.values():
            record["level"] = INSUFFICIENT_ROWS
        probability_level = INSUFFICIENT_ROWS
    failed = []
    if max_psi is not None and enough_rows:
        failed = [
            name
            for name, record in features.items()
            if record["psi"] is not None and record["psi"] > max_psi
        ]
    training_rows = int(training["rows"])
    return {
        "rows": rows,
        "training_rows": training_rows,
        "min_rows": min_rows,
        "enough_rows": enough_rows,
        "expected_psi_bias": (
            _round(psi_sampling_bias(rows, training_rows)) if rows else None
        ),
        "bins": statistics.NUM_BINS,
        "psi_epsilon": statistics.PSI_EPSILON,
        "levels": {
            "stable_below": statistics.STABLE_BELOW,
            "moderate_up_to": statistics.MODERATE_UP_TO,
        },
        "major_features": [
            name for name, record in features.items() if record["level"] == "major"
        ],
        "gate": {
            "max_psi": max_psi,
            "passed": not failed and (max_psi is None or rows > 0),
            "failed_features": failed,
        },
        "features": features,
        "probability": {
            "psi": _round(probability_psi),
            "level": probability_level,
            "mean": _round(profile.probability_sum / rows) if rows else None,
            "training_mean": _round(training["probability"]["mean"]),
            "bin_counts": profile.probability_bins.tolist(),
            "histogram_counts": profile.probability_histogram.tolist(),
        },
        "predicted_malignant": profile.predicted_malignant,
        "predicted_malignant_share": (
            _round(profile.predicted_malignant / rows) if rows else None
        ),
    }


def log_drift(drift: dict) -> None:
    """Log one warning per feature with major drift, and the gate's failure.

    A run with too few rows to judge drift gets one warning instead.
    """
    if drift["rows"] and not drift["enough_rows"]:
        _LOGGER.warning(
            "Drift not judged: %d rows were scored, fewer than --min_drift_rows "
            "%d. On unchanged data the PSI of a sample this small is about %.2f, "
            "so no level is assigned and --max_psi does not fail the run.",
            drift["rows"],
            drift["min_rows"],
            drift["expected_psi_bias"],
        )
    for name in drift["major_features"]:
        record = drift["features"][name]
        shift = record["mean_shift_std"]
        # The shift is undefined when the feature was constant in training.
        shift_text = "undefined" if shift is None else f"{shift:.2f}"
        _LOGGER.warning(
            "Major drift in %s: PSI %.4f (above %.2f), mean shift %s training "
            "std, %d of %d rows outside the training range",
            name,
            record["psi"],
            statistics.MODERATE_UP_TO,
            shift_text,
            record["out_of_range"],
            drift["rows"],
        )
    gate = drift["gate"]
    if not gate["passed"]:
        _LOGGER.error(
            "Drift gate failed: %s",
            DriftGateError(gate["failed_features"], gate["max_psi"]),
        )


class ScoreAndProfileFn(transforms.ScoreBatchesFn):
    """Score batches as ``ScoreBatchesFn`` does, and also emit ``ScoredBatch``es.

    The ``ScoredBatch`` goes to the ``PROFILE_TAG`` output; every output of
    ``ScoreBatchesFn`` passes through unchanged.
    """

    def scored_outputs(self, batch, probability, predicted):
        yield beam.pvalue.TaggedOutput(
            PROFILE_TAG,
            ScoredBatch(batch.features, probability.astype(np.float64), predicted),
        )


class SummarizeDrift(beam.PTransform):
    """Combine ``ScoredBatch``es into the single ``drift`` record of the run."""

    def __init__(self, training: dict, max_psi: float | None, min_rows: int = 0):
        super().__init__()
        self._training = training
        self._max_psi = max_psi
        self._min_rows = min_rows

    def expand(self, scored_batches):
        training = self._training
        max_psi = self._max_psi
        min_rows = self._min_rows

        def summarize(profile: ScoreProfile) -> dict:
            drift = drift_summary(profile, training, max_psi, min_rows)
            log_drift(drift)
            return drift

        return (
            scored_batches
            | "CombineProfiles" >> beam.CombineGlobally(ProfileScoresFn(training))
            | "BuildDrift" >> beam.Map(summarize)
        )


def check_gate(output_dir: str, max_psi: float | None) -> None:
    """Raise ``DriftGateError`` when the run's summary records a failed gate.

    Reads ``summary.json`` from ``output_dir``, so call it only after the
    pipeline has finished. Without ``max_psi`` there is no gate to check.
    """
    if max_psi is None:
        return
    path = FileSystems.join(output_dir, transforms.SUMMARY_NAME)
    with FileSystems.open(path) as f:
        summary = json.loads(f.read().decode("utf-8"))
    gate = summary["drift"]["gate"]
    if not gate["passed"]:
        raise DriftGateError(gate["failed_features"], max_psi)
