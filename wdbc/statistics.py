"""Training-data statistics stored in an export, and the drift measures on them.

``training_statistics`` runs once at export time on the training rows. Training
and scoring both count rows per bin from ``count_compared``, which gives the
counts of ``bin_indices``, and the pipeline compares the bin shares with
``population_stability_index``. Training and scoring therefore put a value on
a decile edge into the same bin.

Bins: the nine inner decile edges e1 <= ... <= e9 of a training column cut
the line into ten bins, (-inf, e1), [e1, e2), ..., [e9, +inf). The outer bins
are open, so every finite value falls into one. When a column has ties, edges
can coincide and the bin between them is empty. The stored training shares
are therefore counted, not assumed to be 0.1.
"""

import math

import numpy as np

from wdbc import schema

# Key of the training statistics in the export's metadata JSON.
METADATA_KEY = "training_statistics"

# Quantile levels of the nine inner decile edges.
DECILE_LEVELS = tuple(round(0.1 * k, 1) for k in range(1, 10))
NUM_BINS = len(DECILE_LEVELS) + 1

# A bin share below this is raised to it before the PSI's logarithm, so an
# empty bin adds a large but finite term. A bin empty on both sides adds 0.
PSI_EPSILON = 1e-4

# Upper PSI bounds of the drift levels: below 0.1 is "stable", from 0.1 up to
# and including 0.25 "moderate", above 0.25 "major".
STABLE_BELOW = 0.1
MODERATE_UP_TO = 0.25
LEVELS = ("stable", "moderate", "major")

# Equal-width bins on [0, 1] for plotting predicted probabilities.
PROBABILITY_HISTOGRAM_BINS = 20

# Rows per comparison in ``count_compared``: the boolean mask of 30 columns and
# 10 thresholds is then 2.5 MB, whatever the batch size.
_COMPARE_ROWS = 8192


def bin_indices(edges: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Return the decile bin (0 to 9) of each value.

    ``edges`` is [9] for a vector of values, or [columns, 9] for values of
    shape [rows, columns], one row of edges per column.
    """
    edges = np.asarray(edges, dtype=np.float64)
    values = np.asarray(values, dtype=np.float64)
    if edges.ndim == 1:
        return np.searchsorted(edges, values, side="right")
    bins = np.empty(values.shape, dtype=np.int64)
    for column in range(values.shape[1]):
        bins[:, column] = np.searchsorted(edges[column], values[:, column], "right")
    return bins


def bin_counts(edges: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Count values per decile bin: [10] for a vector, [columns, 10] for a matrix.

    The counts equal those of ``bin_indices``, but no value is binned on its
    own: the count of bin k is the number of values below edge k minus the
    number below edge k - 1, and NaN, below no edge, lands in the last bin.
    """
    edges = np.asarray(edges, dtype=np.float64)
    values = np.asarray(values, dtype=np.float64)
    if edges.ndim == 1:
        below = count_compared(np.less, edges[np.newaxis], values[np.newaxis])[0]
        return bins_from_below(below, len(values))
    below = count_compared(np.less, edges, values.T)
    return bins_from_below(below, len(values))


def bins_from_below(below: np.ndarray, rows: int) -> np.ndarray:
    """Turn counts of values below each of the 9 edges into 10 bin counts.

    ``below`` is [9] or [columns, 9], as ``count_compared`` with ``np.less``
    returns it for the edges, and ``rows`` the number of values per column.
    """
    return np.diff(below, axis=-1, prepend=0, append=rows)


def count_compared(
    compare: np.ufunc, thresholds: np.ndarray, columns: np.ndarray
) -> np.ndarray:
    """Count, per column, the values ``v`` with ``compare(v, t)`` true.

    ``columns`` is [columns, rows] and ``thresholds`` [columns, k], one row of
    thresholds per column; returns [columns, k]. With ``np.less`` or
    ``np.greater`` a NaN is counted for no threshold. The comparisons run
    ``_COMPARE_ROWS`` rows at a time, and each boolean mask is counted by
    ``np.packbits`` and ``np.bitwise_count``, which is faster than ``sum``.
    """
    # Comparisons along strided rows are several times slower.
    columns = np.ascontiguousarray(columns)
    counts = np.zeros(thresholds.shape, dtype=np.int64)
    for start in range(0, columns.shape[1], _COMPARE_ROWS):
        chunk = columns[:, start : start + _COMPARE_ROWS]
        mask = compare(chunk[:, np.newaxis, :], thresholds[:, :, np.newaxis])
        bits = np.packbits(mask, axis=2)
        counts += np.bitwise_count(bits).sum(axis=2, dtype=np.int64)
    return counts


def probability_histogram_edges() -> np.ndarray:
    """Return the 21 edges of the equal-width probability histogram on [0, 1]."""
    edges = np.linspace(0.0, 1.0, PROBABILITY_HISTOGRAM_BINS + 1)
    return np.round(edges, 12)


def probability_histogram(probabilities: np.ndarray) -> np.ndarray:
    """Count probabilities per equal-width bin, with 1.0 in the last bin.

    NaN values are left out of the counts.
    """
    values = np.asarray(probabilities, dtype=np.float64)
    values = np.clip(values[~np.isnan(values)], 0.0, 1.0)
    bins = np.minimum(
        (values * PROBABILITY_HISTOGRAM_BINS).astype(np.int64),
        PROBABILITY_HISTOGRAM_BINS - 1,
    )
    return np.bincount(bins, minlength=PROBABILITY_HISTOGRAM_BINS)


def _shares(counts: np.ndarray) -> list[float]:
    total = counts.sum()
    return (counts / total).astype(float).tolist()


def _column_statistics(values: np.ndarray) -> dict:
    edges = np.quantile(values, DECILE_LEVELS)
    return {
        "min": float(values.min()),
        "max": float(values.max()),
        "mean": float(values.mean()),
        "std": float(values.std()),
        "decile_edges": edges.astype(float).tolist(),
        "bin_shares": _shares(bin_counts(edges, values)),
    }


def training_statistics(features: np.ndarray, probabilities: np.ndarray) -> dict:
    """Describe the training rows for drift checks at scoring time.

    ``features`` is [rows, 30] in ``schema.FEATURE_NAMES`` order and
    ``probabilities`` contains the export's P(malignant) for the same rows. Pass
    the features as parsed from the file (float64), not the float32 copy fed
    to the model, so the stored minimum and maximum equal the file's values.
    The standard deviation is the population one (ddof=0).

    Returns a JSON-ready dict: ``rows``, ``features`` (per feature name:
    ``min``, ``max``, ``mean``, ``std``, ``decile_edges`` [9], ``bin_shares``
    [10]) and ``probability`` (``mean``, ``decile_edges``, ``bin_shares`` and
    the shares of an equal-width ``histogram`` on [0, 1]).

    Raises:
      ValueError: the shapes are wrong, there are no rows, or a value is not
        finite.
    """
    features = np.asarray(features, dtype=np.float64)
    probabilities = np.asarray(probabilities, dtype=np.float64).reshape(-1)
    if features.ndim != 2 or features.shape[1] != schema.NUM_FEATURES:
        raise ValueError(
            f"features must have shape [rows, {schema.NUM_FEATURES}], "
            f"got {features.shape}"
        )
    rows = features.shape[0]
    if rows == 0:
        raise ValueError("training statistics need at least one row, got 0")
    if probabilities.shape != (rows,):
        raise ValueError(
            f"probabilities must have one value per row ({rows}), "
            f"got shape {probabilities.shape}"
        )
    if not (np.isfinite(features).all() and np.isfinite(probabilities).all()):
        raise ValueError("features and probabilities must all be finite")

    per_feature = {
        name: _column_statistics(features[:, column])
        for column, name in enumerate(schema.FEATURE_NAMES)
    }
    probability = _column_statistics(probabilities)
    return {
        "rows": rows,
        "features": per_feature,
        "probability": {
            "mean": probability["mean"],
            "decile_edges": probability["decile_edges"],
            "bin_shares": probability["bin_shares"],
            "histogram": {
                "edges": probability_histogram_edges().tolist(),
                "shares": _shares(probability_histogram(probabilities)),
            },
        },
    }


def population_stability_index(
    expected_shares, actual_counts, epsilon: float = PSI_EPSILON
) -> float | None:
    """Return sum((a - e) * ln(a / e)) over the bins, or None without rows.

    ``expected_shares`` are the training shares per bin and ``actual_counts``
    the scored rows per bin. Shares below ``epsilon`` are raised to it, so
    the result stays finite when a bin is empty on one side.
    """
    counts = np.asarray(actual_counts, dtype=np.float64)
    total = counts.sum()
    if total <= 0:
        return None
    actual = np.maximum(counts / total, epsilon)
    expected = np.maximum(np.asarray(expected_shares, dtype=np.float64), epsilon)
    return float(np.sum((actual - expected) * np.log(actual / expected)))


def drift_level(psi: float | None) -> str | None:
    """Map a PSI to "stable", "moderate" or "major", and None to None."""
    if psi is None or math.isnan(psi):
        return None
    if psi < STABLE_BELOW:
        return LEVELS[0]
    if psi <= MODERATE_UP_TO:
        return LEVELS[1]
    return LEVELS[2]
